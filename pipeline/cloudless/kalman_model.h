/* clearcube: the Kalman filter's parameters as a model file (issue 14).
 *
 * The project's HDF5 model file (io/model_file.h, docs/formats/model.md) holds
 * them as tensors by name: an input node of the 10 Cloudless bands, then one
 * per-channel affine node per parameter array of cc_kf_params, named
 * "kalman.<name>" (kalman.h: r_s2, r_landsat, q_level, q_slope, phi, m0, p0,
 * p0_slope, sd_scale), whose "scale" tensor is the array (shift 0), then the
 * output node. The graph is never run; the file's content hash covers the
 * parameters. The provenance's first line is "clearcube-kalman 1", followed
 * by the recipe's note. */
#ifndef CC_PIPELINE_CLOUDLESS_KALMAN_MODEL_H
#define CC_PIPELINE_CLOUDLESS_KALMAN_MODEL_H

#include "core/error.h"
#include "pipeline/cloudless/kalman.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CC_KF_MODEL_HEADER "clearcube-kalman 1"
#define CC_KF_SHIPPED_MODEL "models/cloudless-kalman.h5"

/* Writes p (checked) to path atomically with the note after the header line. */
cc_status cc_kf_model_save(const char *path, const cc_kf_params *p, const char *note);
/* Reads path into p; CC_ERR_FORMAT "not a Kalman parameter file" for another
 * model file, CC_ERR_ARG for parameters out of range, the errors of
 * cc_model_file_read otherwise. note (may be NULL): malloc'd provenance text
 * after the header (free it). */
cc_status cc_kf_model_load(const char *path, cc_kf_params *p, char **note);

/* *yes = 1 when path is a Kalman parameter file (its provenance starts with
 * the header), 0 for another model file; the errors of cc_model_file_read
 * (a missing or unreadable file, not a model file). */
cc_status cc_kf_model_is_params(const char *path, int *yes);

#ifdef __cplusplus
}
#endif
#endif
