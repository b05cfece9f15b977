/* clearcube: true-colour PNG quicklooks with a percentile stretch.
 *
 * The stretch: the p_lo-th and p_hi-th percentiles (default 2 and 98 %) of the
 * valid DN (DN 0 is nodata) map to 0 and 255, with a gamma of 2 (the square
 * root of the stretched value) so that dark land stays readable beside bright
 * clouds. CC_QL_COMMON takes the percentiles over the three bands together
 * (colours stay true: a grey surface stays grey); CC_QL_PER_BAND takes them
 * band by band (more contrast, colours balanced, e.g. through haze). Nodata
 * pixels are transparent (an RGBA PNG when there are any, else RGB; written by
 * cairo: pipeline/report/plot.h). `clearcube quicklook` makes one from a cube. */
#ifndef CC_PIPELINE_REPORT_QUICKLOOK_H
#define CC_PIPELINE_REPORT_QUICKLOOK_H

#include <stdint.h>

#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { CC_QL_COMMON = 0, CC_QL_PER_BAND } cc_quicklook_stretch;

typedef struct {
    double p_lo, p_hi;          /* percentiles in %, 0 <= p_lo < p_hi <= 100 (default 2, 98) */
    cc_quicklook_stretch mode;  /* default CC_QL_COMMON */
    int max_dim;                /* images larger on a side are block-averaged down; <= 0: none */
} cc_quicklook_options;

void cc_quicklook_options_init(cc_quicklook_options *o);

/* The stretch of three DN layers of n pixels (0 = nodata): lo[c], hi[c] (DN)
 * for c = red, green, blue; hi > lo. */
void cc_quicklook_stretch_range(size_t n, const uint16_t *const ch[3], const cc_quicklook_options *o, double lo[3],
                                double hi[3]);

/* Writes an RGBA PNG from three DN layers of width x height with the stretch
 * of o (NULL: the defaults). Written to a temporary name and renamed, so a
 * failure leaves no file. */
cc_status cc_quicklook_write_opts(const char *path, int width, int height, const uint16_t *red,
                                  const uint16_t *green, const uint16_t *blue, const cc_quicklook_options *o);
/* The same with the default stretch (2-98 %, common) and max_dim. */
cc_status cc_quicklook_write(const char *path, int width, int height, const uint16_t *red,
                             const uint16_t *green, const uint16_t *blue, int max_dim);

/* A quicklook of a clearcube cube (docs/formats/cube.md): bands (default
 * "B04,B03,B02") of the date with index date_index (0: the first), through
 * GDAL's NetCDF driver. CC_ERR_MISSING naming the cube when a band or the
 * date is absent. */
cc_status cc_quicklook_cube(const char *cube, const char *bands, int date_index, const char *png,
                            const cc_quicklook_options *o);

#ifdef __cplusplus
}
#endif
#endif
