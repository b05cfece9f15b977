/* clearcube: a multi-sensor daily time series for a block of pixels (Cloudless, issue 6).
 *
 * Every sensor is put on the same daily grid (index d = day - day0) and the
 * same pixels (the Sentinel-2 tile grid, or any block of it), in the
 * Cloudless band space B02 B03 B04 B05 B06 B07 B08 B8A B11 B12 (reflectance,
 * float). NaN means "not observed": no acquisition that day, a cloudy or
 * shadowed pixel, nodata, or a band the sensor does not have (Landsat has no
 * red edge and no B08; OLCI has no SWIR). Missing data is normal input, never
 * an error.
 *
 * Layout: value of band b at day d, pixel p of sensor array X with nb bands is
 * X[((size_t)d*npix + p)*nb + b].
 */
#ifndef CC_PIPELINE_CLOUDLESS_SERIES_H
#define CC_PIPELINE_CLOUDLESS_SERIES_H

#include <stddef.h>
#include <stdint.h>

#include "core/bands.h"
#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int ndays;       /* length of the daily grid                              */
    long day0;       /* days since 1970-01-01 of index 0                      */
    size_t npix;     /* pixels per day                                        */
    float *s2;       /* [ndays][npix][CC_CL_NBANDS] clear S2 L2A reflectance   */
    float *landsat;  /* [ndays][npix][CC_CL_NBANDS] HLS-adjusted to S2 bands   */
    float *olci;     /* [ndays][npix][CC_CL_NBANDS] OLCI mapped to S2 bands    */
    float *s1;       /* [ndays][npix][CC_CL_NS1] sigma0 VV, VH in dB           */
} cc_series;

/* Allocates every array (overflow-checked) filled with NaN. On failure s is
 * left zeroed. Free with cc_series_free. */
cc_status cc_series_alloc(cc_series *s, int ndays, long day0, size_t npix);
void cc_series_free(cc_series *s);

#ifdef __cplusplus
}
#endif
#endif
