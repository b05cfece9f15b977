/* clearcube: the Cloudless product for one tile and day (issue 6).
 *
 * Two stages, like the datacube systems of the field (FORCE's level-2 ARD
 * then higher level):
 *   1. per-sensor tile cubes ("sensor cubes"): every input product, read by
 *      its reader (io/landsat/landsat.h, io/s3/olci.h, io/s1/s1.h, Sentinel-2 L2A cubes
 *      with a cloud mask) and resampled onto the Sentinel-2 tile grid, is a
 *      date of <tile>_<sensor>.nc in a cube folder, written by
 *      cc_cube_write_sensor (io/cube.h; docs/formats/cube.md, "Sensor cubes");
 *   2. the fusion of one day: the +-N-day window of every sensor cube is read
 *      block by block into a cc_series (pipeline/cloudless/series.h), the fusion model
 *      (pipeline/cloudless/cloudless.h) predicts the 10 bands of the day, and the
 *      evidence of every pixel (days since the last clear Sentinel-2
 *      observation, which sensors contributed) is written beside them.
 *
 * Sensor cube names: <tile>_s2.nc, <tile>_landsat.nc, <tile>_olci.nc,
 * <tile>_s1.nc. Optical cubes hold the 10 Cloudless bands (DN = 10000 rho +
 * 1000, fill 0) and a "cloud_mask" layer (the classes of pipeline/atmos/cloudmask.h:
 * 0 nodata, 1 clear, 2 cloud, 3 shadow, 4 snow, 5 water; clear and water
 * pixels are observations, the others not); the S1 cube
 * holds VV and VH (DN = 100 (dB + 50) + 1, fill 0).
 */
#ifndef CC_PIPELINE_CLOUDLESS_CLOUDLESS_PRODUCT_H
#define CC_PIPELINE_CLOUDLESS_CLOUDLESS_PRODUCT_H

#include <stdint.h>

#include "core/error.h"
#include "io/cube.h" /* the sensor cubes and their encodings */
#include "kernels/nn.h"
#include "pipeline/cloudless/series.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Reads the pixels [x0, x0+w) x [y0, y0+h) of the tile's sensor cubes (those
 * in `sensors`, a 1 << cc_sensor mask; 0 = all) for the days [day0,
 * day0+ndays) into a new series s (free with cc_series_free). width/height
 * (may be NULL) receive the tile grid's size. Errors as cc_cloudless_run, and
 * CC_ERR_ARG for a window outside the grid. */
cc_status cc_cloudless_load(const char *dir, const char *tile, unsigned sensors, long day0, int ndays, int x0, int y0,
                            int w, int h, cc_series *s, int *width, int *height);

/* How the day is made. KALMAN (the default): the reanalysis of the per-pixel
 * Kalman filter (kalman.h; the Rauch-Tung-Striebel smoother over the clear
 * Sentinel-2 and Landsat observations of the day +- margin days), written
 * by cc_cl_reanalysis_run (state.h): the 10 bands, their sd_* and
 * days_since_s2, exactly the layers of `clearcube cloudless-daily`. FUSION:
 * the fusion network of cloudless.h over its +-45-day window (10 bands,
 * days_since_s2, sensors). AUTO: KALMAN, or, when model_path is set, the
 * method of that file (a Kalman parameter file or a fusion model). */
typedef enum { CC_CL_METHOD_AUTO = 0, CC_CL_METHOD_KALMAN, CC_CL_METHOD_FUSION } cc_cl_method;

typedef struct {
    const char *cube_dir;    /* folder with the sensor cubes                        */
    const char *tile;        /* tile id: the cubes are <tile>_<sensor>.nc           */
    long day;                /* target day, days since 1970-01-01                   */
    cc_cl_method method;     /* CC_CL_METHOD_AUTO (0): see cc_cl_method              */
    const char *model_path;  /* fusion model, or Kalman parameters (kalman_model.h);
                                KALMAN with NULL: the built-in defaults (logged)      */
    int margin;              /* KALMAN: days of observations each side of the day
                                (0: CC_CL_KALMAN_MARGIN)                              */
    const char *out_path;    /* output cube: created, or the day appended/replaced  */
    unsigned sensors;        /* bitmask (1 << cc_sensor) of the sensors to use; 0 = all */
    int block;               /* FUSION: side of the square windows processed at once
                                (0: the largest of 512, 256, ... within a 256 MiB
                                series); KALMAN: rows per block (0: a 256 MiB series) */
    const char *quicklook;   /* PNG of B04/B03/B02, or NULL                          */
    const cc_nn_backend *backend; /* the network's backend (kernels/device/device.h); NULL: CPU */
} cc_cloudless_args;

#define CC_CL_KALMAN_MARGIN 45 /* the Kalman product's default margin (days)       */

typedef struct {
    int width, height;
    cc_cl_method method;          /* the method that ran (KALMAN or FUSION)           */
    int ndates[CC_SENSOR_COUNT];  /* dates of each sensor inside the window          */
    int written;                  /* 0: the output already held the day (KALMAN)     */
    double filled_fraction;       /* pixels with a value                              */
    double seconds_read, seconds_model, seconds_write;
} cc_cloudless_stats;

/* Makes the product of one tile and day by a->method. Fails with
 * CC_ERR_MISSING when the folder holds no sensor cube of the tile,
 * CC_ERR_FORMAT when cubes of one tile disagree on the grid, CC_ERR_NODATA
 * when no sensor (KALMAN: no Sentinel-2 or Landsat) has a date in the
 * window. FUSION appends or replaces the day in out_path; KALMAN appends it
 * in place (cc_cube_append_open), does nothing when out_path already holds
 * the day (stats->written 0) and fails with CC_ERR_ARG when it holds a later
 * day. On failure nothing is written (the output cube keeps its state). */
cc_status cc_cloudless_run(const cc_cloudless_args *a, cc_cloudless_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
