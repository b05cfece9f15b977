/* clearcube: Sentinel-1 backscatter reader (issue 6).
 *
 * Reads sigma0 backscatter in dB (VV, VH) resampled onto a Sentinel-2 tile
 * grid (cc_grid). Two input layouts:
 *
 *  (a) analysis-ready patch folders like BigEarthNet-S1: <dir>/<id>_VV.tif,
 *      <id>_VH.tif (float32 sigma0 in dB, north-up, georeferenced) and
 *      <id>_labels_metadata.json ("acquisition_time", "scene_source");
 *  (b) GRD SAFE folders (the SAFE root or its measurement/ folder):
 *      measurement/<stem>.tiff with "-vv"/"-vh" in <stem> (uint16 amplitude
 *      DN, georeferenced by GCPs), annotation/calibration/calibration-<stem>.xml
 *      (sigmaNought LUT, required) and annotation/calibration/noise-<stem>.xml
 *      (thermal noise range LUT, optional). sigma0 = (DN^2 - noise) / A^2 with
 *      A and noise interpolated bilinearly over (line, pixel); DN 0 is nodata.
 *      The noise azimuth vectors of IPF >= 2.9 are not applied.
 *
 * Resampling: GDAL's warper (GCP thin-plate-spline transformer for GRD),
 * "average" when the output is as coarse as or coarser than the source,
 * "bilinear" when it is finer. Resampling is done on LINEAR power
 * (10^(dB/10)), never on dB, and converted back to dB afterwards; when the
 * source is already on the output grid the dB values are copied unchanged.
 * NaN = not observed (nodata, outside the swath/patch, polarisation absent).
 * With thermal-noise subtraction linear sigma0 is floored at 1e-5 (-50 dB).
 */
#ifndef CC_IO_S1_S1_H
#define CC_IO_S1_S1_H

#include "core/error.h"
#include "io/grid/grid.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { CC_S1_ARD = 1, CC_S1_GRD = 2 } cc_s1_layout;

typedef struct {
    cc_s1_layout layout;  /* which input layout was read                             */
    long day;             /* acquisition (start) date, days since 1970-01-01 (UTC)    */
    double time;          /* acquisition (start) time, seconds since 1970-01-01T00Z   */
    char platform[8];     /* "S1A", "S1B", "S1C"; "" when the input does not say      */
    char id[128];         /* patch id (a) or measurement file stem of VV/VH (b)       */
    int has_vv, has_vh;   /* 1 if that polarisation is present in the input           */
    int noise_removed;    /* (b): 1 if a noise LUT was subtracted (every present pol) */
} cc_s1_info;

/* Reads VV and VH sigma0 in dB onto grid g. vv_db and vh_db receive
 * g->width * g->height floats each (caller-allocated, caller frees); either may
 * be NULL when not wanted. A polarisation absent from the input gives NaN
 * everywhere and has_vv/has_vh = 0; both absent is CC_ERR_MISSING. info may be
 * NULL. On failure the status says why (one line naming the file) and the
 * output buffers are all NaN. */
cc_status cc_s1_read(const char *path, const cc_grid *g, float *vv_db, float *vh_db,
                     cc_s1_info *info);

#ifdef __cplusplus
}
#endif
#endif
