/* clearcube: the pictures of the Cloudless accuracy report (`clearcube
 * cloudless-plot`, docs/accuracy.md), drawn from a folder of sensor cubes. */
#ifndef CC_PIPELINE_CLOUDLESS_CLOUDLESS_PLOT_H
#define CC_PIPELINE_CLOUDLESS_CLOUDLESS_PLOT_H

#include "core/error.h"
#include "pipeline/cloudless/cloudless.h"

#ifdef __cplusplus
extern "C" {
#endif

/* PNG of the time series of pixel (px, py), Cloudless band `band`, over days
 * [from, from + ndays) of tile's cubes in dir: clear S2, Landsat and OLCI
 * observations, the model, linear interpolation and Whittaker, each day
 * predicted WITHOUT that day's S2 observation (leave-one-out), and the truth of
 * a SIMULATED series (truth: a truth cube, or NULL). */
cc_status cc_cl_plot_pixel(const char *dir, const char *tile, long from, int ndays, int px, int py, int band,
                           const char *truth, const cc_cl_model *m, const char *png);

/* PNG of ndays consecutive days side by side: the Sentinel-2 input (white:
 * cloud, grey: no acquisition) over the cloud-free output (B04/B03/B02). Tiles
 * above 4096 x 4096 pixels are refused. */
cc_status cc_cl_plot_strip(const char *dir, const char *tile, long from, int ndays, const cc_cl_model *m,
                           const char *png);

/* PNG of one day in three panels: the Sentinel-2 input of the day as
 * acquired (tile's S2 sensor cube in dir, clouds included; pixels its
 * cloud_mask rejects outlined in red), the product of the day (a Cloudless
 * cube with B04/B03/B02, e.g. `clearcube cloudless`; both in reflectance
 * 0..0.25) and its uncertainty sd_B04 (0..0.05, black to white, with a scale
 * bar). title: the line above the panels (e.g. "REAL: ..."). CC_ERR_MISSING
 * when the S2 cube or the product lacks the day or a layer; tiles above
 * 4096 x 4096 pixels are refused. */
cc_status cc_cl_plot_day(const char *dir, const char *tile, long day, const char *product, const char *title,
                         const char *png);

#ifdef __cplusplus
}
#endif
#endif
