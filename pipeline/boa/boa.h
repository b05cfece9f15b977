/* clearcube: Rapid BoA, the L1C -> L2A emulator (issue 4). See docs/boa-model.md.
 *
 * The model is a per-pixel network (1x1 convolutions) with 19 input channels
 * (18 in models made before the O3 channel; channels are matched by name):
 *   0..11  TOA reflectance of the 12 L2A bands, in cc_l2a_bands order
 *          (B01 B02 B03 B04 B05 B06 B07 B08 B8A B09 B11 B12), on the output grid;
 *   12..18 the reference processor's per-pixel context (pipeline/atmos/context.h,
 *          cc_reference_context_fill: the exact values the reference corrects
 *          with, quantised to 1e-4), each as "feature + 1" (so every channel is
 *          > 0 and DN 0 keeps meaning nodata):
 *            MU_S    cos(sun zenith)
 *            MU_V    cos(view zenith) (the view grid of B8A, else B08, B04, ...)
 *            COS_RAA cos(sun azimuth - view azimuth)
 *            AOT550  the scene AOT (DDV retrieval of the reference processor)
 *            WV_HALF the water vapour (B9/B8A retrieval on the 60 m context
 *                    grid, sampled bilinearly), g cm-2, halved
 *            P_REL   the pressure / 1013.25 hPa (per pixel with a DEM)
 *            O3      the ozone, cm-atm
 * and 12 outputs, the correction BOA - TOA of each band (times the output
 * scale), added to the band's TOA reflectance by the output node (residual).
 * The dataset (docs/formats/dataset.md) stores the same context per patch.
 *
 * At inference the context channels are encoded as uint16 "DN" in the model's
 * input convention, DN = round((feature + 1) * quantification) - dn_offset,
 * so that the fused decode gives back feature + 1 exactly (to 1e-4).
 */
#ifndef CC_PIPELINE_BOA_BOA_H
#define CC_PIPELINE_BOA_BOA_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "io/s2/scene.h"
#include "kernels/nn.h"
#include "pipeline/atmos/reference.h"
#include "pipeline/boa/quality.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The shipped model, relative to the data folder (core/datapath.h finds it). */
#define CC_BOA_SHIPPED_MODEL "models/boa-s2.h5"
#define CC_BOA_NBANDS 12
#define CC_BOA_NCTX 7
#define CC_BOA_NIN_V1 18 /* models before the O3 channel (18 inputs) still load */
#define CC_BOA_NIN (CC_BOA_NBANDS + CC_BOA_NCTX)
#define CC_BOA_MAX_HIDDEN 8

/* Channel names as stored in model files ("B01".."B12", "MU_S", "MU_V",
 * "COS_RAA", "AOT550", "WV_HALF", "P_REL"). */
extern const char *const cc_boa_channel_names[CC_BOA_NIN];

typedef struct {
    double mu_s, mu_v, cos_raa, aot550, wv, p_rel; /* wv in g cm-2 (not halved) */
    double o3;                                     /* ozone, cm-atm                */
} cc_boa_context;

/* The 7 context channel values ("feature + 1") of ctx, in channel order. */
void cc_boa_context_features(const cc_boa_context *ctx, float out[CC_BOA_NCTX]);

typedef struct {
    int nhidden;
    int hidden[CC_BOA_MAX_HIDDEN];   /* widths of the hidden 1x1 layers          */
    cc_act act;                      /* activation of the hidden layers          */
    float out_scale;                 /* output = net * out_scale + TOA           */
    float mean[CC_BOA_NIN], std[CC_BOA_NIN]; /* input normalisation             */
} cc_boa_arch;

/* Builds the (finalized) model with zero weights; input dn_offset -1000,
 * quantification 10000, out_dn_offset 1000 (set per product at inference).
 * Train it with kernels/train/train.h (cc_train_init_params first). */
cc_status cc_boa_model_build(const cc_boa_arch *a, cc_nn_model *m);
/* Checks that a model read from a file is a BoA model (channel names, one
 * output per band, residuals), with a message naming `path`. */
cc_status cc_boa_model_check(const cc_nn_model *m, const char *path);

typedef struct {
    cc_reference_options atmos; /* AOT / WV / elevation / DEM / ozone overrides, and
                                   atmos.resolution = the output grid (0: finest band) */
    double context_resolution;  /* grid of the atmosphere retrieval; 0: the output
                                   grid when it has <= 16 Mpx, else 60 m          */
    const cc_nn_backend *backend; /* NULL: CPU                                      */
    int core;                   /* inference window core size (0: from memory budget) */
    int deflate_level;          /* zlib level of the cube's layers (0: 1, the fastest:
                                   the single writer thread is the pipeline's
                                   slowest stage on a full tile at level 4)       */
    int b8a_from_b08;           /* a product without B8A (e.g. sen2r's 10 m stacks):
                                   feed B08 as the B8A input (NIR plateau; stated in
                                   the cube's parameters); 0: B8A is required      */
    const cc_boa_domain *domain; /* the model's training domain (cc_boa_domain_read);
                                   NULL: the box of the model's normalisation    */
    cc_boa_fallback fallback;   /* CC_BOA_FALLBACK_REFERENCE: out-of-domain pixels are
                                   recomputed by the physical processor          */
} cc_boa_options;
void cc_boa_options_init(cc_boa_options *o);
/* The bands a SAFE scene may leave undecoded for cc_boa_run
 * (cc_scene_options.defer_bands): all but those of the context retrieval
 * (B04, B08, B8A, B09, B12); they are then decoded window by window in the
 * inference's reader thread, overlapping the network. 0 when the output grid
 * is not the scene's finest grid (o->atmos.resolution set). */
uint32_t cc_boa_defer_bands(const cc_boa_options *o);

typedef struct {
    cc_reference_atmos atmos;   /* the scene context used                         */
    int width, height;
    double gt[6];
    int nbands;                 /* output bands (12)                              */
    double dn_offset;           /* output L2A DN offset                           */
    double context_s, infer_s, wall_s; /* atmosphere retrieval; inference incl. the
                                         reader (resampling) and cube writing   */
    double read_s, compute_s, write_s;  /* inside the inference pipeline           */
    size_t n_valid;
    cc_boa_quality_counts quality; /* the quality layer's pixels by flag          */
    char parameters[768];
} cc_boa_stats;

/* Runs the emulator on an opened L1C scene with model m and writes the cube
 * (12 BOA bands, L2A DN convention) to out_nc atomically (streamed window by
 * window); quicklook (may be NULL) gets a true-colour PNG. On failure nothing
 * is left at out_nc. */
cc_status cc_boa_run(const cc_scene *s, const cc_nn_model *m, const cc_boa_options *o,
                     const char *input_name, const char *out_nc, const char *quicklook,
                     cc_boa_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
