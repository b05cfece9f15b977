/* clearcube: the Cloudless fusion model (issue 6). See docs/cloudless-model.md.
 *
 * For a target day t of a multi-sensor daily series (pipeline/cloudless/series.h), the
 * model looks at the window of +-N days (N = half_window, 45 in the shipped
 * model) around t. Per pixel it computes, for each of the T = 2R+1 days
 * t-R..t+R (R = the network's temporal radius), CC_CL_NFEAT features from the
 * WHOLE window (long-range context):
 *   LIN_Bxx  (10) prior: per-band linear interpolation of the clear S2 series
 *                 (of Landsat where a band has no S2 sample in the window,
 *                 else of OLCI); reflectance, the output's residual base
 *   WHD_Bxx  (10) Whittaker smoother of the S2 series (d = 2) minus the prior
 *   LSD_Bxx  (10) Landsat (HLS-adjusted) linearly interpolated minus the
 *                 prior (0 for bands Landsat lacks)
 *   LS_DIST       days to the nearest Landsat observation / N (capped at 2)
 *   OLD_Bxx  (10) OLCI (mapped) linearly interpolated minus the prior
 *   OL_DIST       days to the nearest OLCI observation / N
 *   S1_VV, S1_VH  Sentinel-1 sigma0 (dB) linearly interpolated, (dB+30)/10
 *   S1_DIST       days to the nearest S1 observation / N
 *   S2_PREV, S2_NEXT  days since the previous / until the next clear S2
 *                 observation / N (capped at 2)
 *   S2_FLAG       1 if S2 was observed that day
 *   DOY_SIN, DOY_COS  day of year
 * Every feature but LIN is stored as "feature + 1" (so that DN 0 keeps
 * meaning nodata in the runtime's uint16 input: DN = 10000 rho + 1000);
 * a missing sensor or band is normal input (difference 0, distance 2).
 *
 * The network (kernels/nn.h) is per pixel and temporal: a 1x1 layer, one
 * CC_OP_CONV1D_TIME layer of kernel 2R+1 along the days, optional 1x1 layers,
 * and a 1x1 correction head; the output node adds the prior (residual on the
 * LIN channels) so a zero correction gives back linear interpolation.
 */
#ifndef CC_PIPELINE_CLOUDLESS_CLOUDLESS_H
#define CC_PIPELINE_CLOUDLESS_CLOUDLESS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "kernels/nn.h"
#include "pipeline/cloudless/series.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CC_CL_HALF_WINDOW 45 /* N of the shipped model and of cc_cl_evidence    */
#define CC_CL_NFEAT 50
#define CC_CL_MAX_HIDDEN 4

/* Feature channel indices (first of each group). */
enum {
    CC_CLF_LIN = 0, CC_CLF_WHD = 10, CC_CLF_LSD = 20, CC_CLF_LS_DIST = 30, CC_CLF_OLD = 31,
    CC_CLF_OL_DIST = 41, CC_CLF_S1_VV = 42, CC_CLF_S1_VH = 43, CC_CLF_S1_DIST = 44,
    CC_CLF_S2_PREV = 45, CC_CLF_S2_NEXT = 46, CC_CLF_S2_FLAG = 47, CC_CLF_DOY_SIN = 48,
    CC_CLF_DOY_COS = 49
};
/* Channel names as stored in model files ("LIN_B02", ..., "DOY_COS"). */
extern const char *const cc_cl_feature_names[CC_CL_NFEAT];

typedef struct cc_cl_model cc_cl_model;

/* Architecture of a new model. */
typedef struct {
    int half_window;             /* N (days)                                    */
    int kt;                      /* temporal kernel (odd, 1..15): T = kt days   */
    int width_in;                /* 1x1 layer before the temporal conv          */
    int width_t;                 /* temporal conv output width                  */
    int nhidden;                 /* further 1x1 layers (0..CC_CL_MAX_HIDDEN)    */
    int hidden[CC_CL_MAX_HIDDEN];
    cc_act act;
    float out_scale;             /* correction = out_scale x network output     */
    double whittaker_lambda;     /* smoother of the WHD features (daily grid)   */
    float mean[CC_CL_NFEAT], std[CC_CL_NFEAT]; /* input normalisation          */
} cc_cl_arch;
/* Defaults: N 45, kt 3, widths 24/24, no further layer, ReLU, out_scale 0.1,
 * lambda 100, mean 0 / std 1 (LIN: 0.2 / 0.15). */
void cc_cl_arch_init(cc_cl_arch *a);

/* A new model with zero weights (prediction = the prior). Free with
 * cc_cl_model_free. */
cc_status cc_cl_model_build(const cc_cl_arch *a, cc_cl_model **out);
cc_status cc_cl_model_load(const char *path, cc_cl_model **out);
/* The shipped model, relative to the data folder (core/datapath.h finds it). */
#define CC_CL_SHIPPED_MODEL "models/cloudless.h5"
void cc_cl_model_free(cc_cl_model *m);
/* Writes the model file (io/model_file.h); `note` (may be NULL) is appended
 * to the provenance after the Cloudless header line. */
cc_status cc_cl_model_save(const cc_cl_model *m, const char *path);
cc_status cc_cl_model_save_note(const cc_cl_model *m, const char *path, const char *note);

int cc_cl_model_half_window(const cc_cl_model *m); /* N */
int cc_cl_model_kt(const cc_cl_model *m);          /* T = days per network run */
double cc_cl_model_lambda(const cc_cl_model *m);
/* The network (owned by the model; trainable in place with kernels/train/train.h). */
cc_nn_model *cc_cl_model_net(cc_cl_model *m);
const cc_nn_model *cc_cl_model_net_const(const cc_cl_model *m);
/* The provenance text after the header (NULL if none). */
const char *cc_cl_model_note(const cc_cl_model *m);

/* Features of pixel p for the kt days t-R..t+R (R = kt/2) of the window of
 * +-N days around t: out[kt][CC_CL_NFEAT], as decoded by the runtime (the
 * "+1" encodings, quantised to 1e-4 like the uint16 input). `hide` >= 0
 * hides the S2 observation of day index `hide` (training: the target).
 * prior_ok (may be NULL) gets, per band, 1 if the prior is defined (some
 * optical sensor observed the band in the window), else 0 (the LIN feature
 * is then a placeholder 0.1 and the prediction NaN). CC_ERR_NOMEM. */
cc_status cc_cl_features(const cc_series *s, size_t p, int t, int half_window, int kt, double lambda, int hide,
                         float *out, uint8_t prior_ok[CC_CL_NBANDS]);

/* prediction at day index t of s for every pixel: out [npix][CC_CL_NBANDS]
 * reflectance, NaN only where nothing at all was ever observed in the window
 * (per band: no optical sensor observed it). Where S2 is clear at t the
 * observation itself is returned. Deterministic, parallel over pixels
 * (OpenMP), bit-identical for any number of threads. */
cc_status cc_cl_predict(const cc_cl_model *m, const cc_series *s, int t, float *out);
/* The same with the network on `backend` (kernels/device/device.h; NULL: the CPU).
 * The features and the merge stay on the CPU. */
cc_status cc_cl_predict_on(const cc_cl_model *m, const cc_nn_backend *backend, const cc_series *s, int t, float *out);

/* cc_cl_predict as a gap-filling predictor (pipeline/cloudless/gapfill_eval.h's
 * cc_gapfill_predictor): ctx is the (const) cc_cl_model. */
cc_status cc_cl_predictor(void *ctx, const cc_series *s, int t, float *out);

/* evidence: days since the last clear S2 observation at or before t (-1 if
 * none in the window of +-CC_CL_HALF_WINDOW days), and a bitmask (1 <<
 * cc_sensor) of sensors that contributed an observation within the window.
 * Both arrays have s->npix elements. */
void cc_cl_evidence(const cc_series *s, int t, int16_t *days_since_s2, uint8_t *sensors);

/* Checks that a network read from a file is a Cloudless model (channel names,
 * 10 outputs with residuals on LIN), message naming `path`. */
cc_status cc_cl_model_check(const cc_nn_model *m, const char *path);

#ifdef __cplusplus
}
#endif
#endif
