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

#ifdef __cplusplus
}
#endif
#endif
