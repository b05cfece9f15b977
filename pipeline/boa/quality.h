/* clearcube: the per-pixel quality layer of a Rapid BoA cube and the
 * `--fallback reference` recomputation (issue 13; docs/boa-model.md,
 * docs/formats/cube.md "Rapid BoA quality layer").
 *
 * The layer "quality" is the L2A quality layer of pipeline/atmos/l2a_quality.h
 * (uint8, CF flag_masks, one bit a property; issue 16 replaced the values
 * 0..4 of issue 13): besides the cloud mask's bits,
 *   1    nodata: an input channel is DN 0 (the bands are nodata too)
 *   2    saturated: an input band is saturated (DN 65535, the L1C "SATURATED"
 *        value); the network's value is kept (the physics cannot do better)
 *   64   out_of_domain: outside the model's training domain (domain.h); the
 *        value is the network's
 *   64+128 out_of_domain recomputed_by_reference: outside it, and the 12 bands
 *        are the physical processor's: cc_reference_smac_pixel (pipeline/atmos/
 *        context.h, the reference's own per-pixel code) with exactly the context
 *        the network got (sun and view zenith, relative azimuth, AOT550, water
 *        vapour, pressure and, in models with an O3 input, ozone, decoded from
 *        the network's input channels; else the scene ozone)
 *   0    (no domain bit) in domain.
 * Precedence of these: nodata, saturated, out of domain, in domain; the cloud
 * bits (cloud, cloud_shadow, snow, water) are added to every valid pixel.
 *
 * Use from the streaming run (pipeline/boa/boa.c): the reader thread calls
 * cc_boa_quality_read on each input window (flags, and the reference values of
 * the flagged pixels with fallback); the writer thread calls
 * cc_boa_quality_write on each output core, which takes the flags of the
 * window that contained it, patches the recomputed pixels and appends the
 * quality channel. Windows are matched by position, so any window size and
 * halo work, and only the windows in flight are held in memory. */
#ifndef CC_PIPELINE_BOA_QUALITY_H
#define CC_PIPELINE_BOA_QUALITY_H

#include <stddef.h>
#include <stdint.h>

#include "core/bands.h"
#include "core/error.h"
#include "io/cube.h"
#include "pipeline/atmos/context.h"
#include "pipeline/atmos/l2a_quality.h"
#include "pipeline/boa/domain.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The domain part of a pixel's quality value (the cloud bits aside). */
enum {
    CC_BOA_Q_NODATA = CC_Q_NODATA,
    CC_BOA_Q_IN = 0,
    CC_BOA_Q_OUT = CC_Q_OUT_OF_DOMAIN,
    CC_BOA_Q_OUT_REFERENCE = CC_Q_OUT_OF_DOMAIN | CC_Q_RECOMPUTED,
    CC_BOA_Q_SATURATED = CC_Q_SATURATED
};
#define CC_BOA_Q_LAYER CC_Q_LAYER

typedef enum { CC_BOA_FALLBACK_NONE = 0, CC_BOA_FALLBACK_REFERENCE = 1 } cc_boa_fallback;

typedef struct {
    size_t nodata, in, out, saturated; /* pixels by flag; out counts 2 and 3     */
    size_t out_box, out_dist;          /* out by reason: a channel beyond the box,
                                          a combination beyond the distance      */
    size_t fallback;                   /* out recomputed by the reference (3)    */
} cc_boa_quality_counts;

typedef struct {
    const cc_boa_domain *domain;  /* bound (cc_boa_domain_bind) to the input's DN
                                     conventions; copied                         */
    int nbands;                   /* input channels 0..nbands-1 are the TOA bands
                                     (12, cc_l2a_bands order), also the outputs  */
    double in_dn_offset, in_quant;/* input decoding: rho = (DN + off) / quant    */
    double out_dn_offset;         /* output L2A DN = 10000 rho + out_dn_offset   */
    cc_boa_fallback fallback;
    const cc_reference_context *ctx; /* the scene's context (its SMAC coefficients,
                                     its ozone); borrowed; required for fallback */
} cc_boa_quality_args;

typedef struct cc_boa_quality cc_boa_quality;

/* With fallback, the domain's channels must include MU_S, MU_V, COS_RAA,
 * AOT550, WV_HALF and P_REL, and a->ctx must be given (CC_ERR_ARG otherwise).
 * Free with cc_boa_quality_free. */
cc_status cc_boa_quality_open(const cc_boa_quality_args *a, cc_boa_quality **out);
void cc_boa_quality_free(cc_boa_quality *q);
/* The cloud mask whose bits the writer adds to every valid pixel (borrowed;
 * NULL: none); its summary becomes the cube's quality_cloud_mask attribute. */
void cc_boa_quality_set_cloudbits(cc_boa_quality *q, const cc_l2a_cloudbits *cb);

/* Reader side: the input window [x0, x0+w) x [y0, y0+h), channels-last with
 * the domain's nch channels. */
cc_status cc_boa_quality_read(cc_boa_quality *q, int x0, int y0, int w, int h, const uint16_t *in);
/* Writer side: net = the network's nbands outputs of the core [x0, x0+w) x
 * [y0, y0+h) (channels-last); *out points to nbands + 1 channels per pixel
 * (owned by q, valid until the next call): the bands (recomputed where
 * flagged 3) and the quality value. */
cc_status cc_boa_quality_write(cc_boa_quality *q, int x0, int y0, int w, int h, const uint16_t *net,
                               const uint16_t **out);

/* cc_boa_quality_open for a Rapid BoA run: the domain d (NULL: the box of m's
 * normalisation) bound to mm, the model in the product's DN conventions (its
 * input dn_offset / quantification, its output node's out_dn_offset). */
cc_status cc_boa_quality_start(const cc_boa_domain *d, const cc_nn_model *mm, cc_boa_fallback fallback,
                               const cc_reference_context *ctx, cc_boa_quality **out);
/* Before the cube is committed: its global attributes quality_domain (how the
 * domain is defined), quality_fallback, quality_cloud_mask and quality_counts
 * (pixels by flag,
 * "in_domain=N out_of_domain=N ... nodata=N"); the counts into *c. */
cc_status cc_boa_quality_finish(cc_boa_quality *q, cc_cube_stream *cube, cc_boa_quality_counts *c);

void cc_boa_quality_get_counts(const cc_boa_quality *q, cc_boa_quality_counts *c);
/* "quality: N in domain, N out of domain (N box, N distance), N recomputed by
 * the reference, N saturated, N nodata" */
void cc_boa_quality_summary(const cc_boa_quality_counts *c, char *buf, size_t cap);

/* The layer's description for the cube (data NULL: streamed). */
void cc_boa_quality_layer(cc_cube_layer *layer);


#ifdef __cplusplus
}
#endif
#endif
