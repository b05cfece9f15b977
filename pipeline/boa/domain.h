/* clearcube: the training domain of a Rapid BoA model, and the distance of a
 * pixel's model inputs to it (issue 13; docs/boa-model.md, "Out-of-domain
 * layer"; stored as the /domain group of the model file, docs/formats/model.md).
 *
 * Everything is measured in the model's NORMALISED input space,
 * x_c = (v_c - mean_c) / std_c, with v_c the value the network decodes from
 * channel c (TOA reflectance for the 12 bands, "feature + 1" for the context
 * channels; boa.h) and mean/std the model's own normalisation. A pixel is IN
 * the domain when both hold:
 *
 *   box:   lower_c <= x_c <= upper_c for every channel c, where
 *          lower_c = q_c(1e-4) - m_c, upper_c = q_c(1 - 1e-4) + m_c,
 *          q_c the quantiles of x_c over the training pixels and the margin
 *          m_c = 0.1 (q_c(1 - 1e-4) - q_c(1e-4)) + 0.05;
 *   combination: the Mahalanobis distance
 *          d(x) = sqrt((x - mu)^T (S + 0.01 I)^-1 (x - mu))
 *          (mu, S: mean and covariance of x over the training pixels; the
 *          ridge 0.01 keeps nearly collinear bands from making d explode on
 *          noise) is <= threshold = 1.1 * the 1 - 1e-4 quantile of d over the
 *          training pixels.
 *
 * The box catches a channel beyond anything seen (a TOA far above the
 * brightest training pixel, a sun lower than any training scene); the
 * ellipsoid catches combinations never seen although each channel is in range
 * (a spectrum whose bands contradict the band-to-band correlation of every
 * training surface, a geometry/atmosphere pairing outside the training
 * design). By construction about 2e-4 of the training pixels fall outside.
 *
 * A model file without /domain (models trained before issue 13) gets a box
 * derived from its normalisation: |x_c| <= 6 for every channel, no
 * combination test (cc_boa_domain_read says so in the log). */
#ifndef CC_PIPELINE_BOA_DOMAIN_H
#define CC_PIPELINE_BOA_DOMAIN_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "kernels/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CC_BOA_DOMAIN_MAXCH 32          /* input channels a domain can describe       */
#define CC_BOA_DOMAIN_VERSION 1         /* /domain format_version                     */
#define CC_BOA_DOMAIN_QUANTILE 1e-4     /* box: the 0.01 % and 99.99 % quantiles      */
#define CC_BOA_DOMAIN_MARGIN_REL 0.1    /* box margin: 10 % of the quantile range ... */
#define CC_BOA_DOMAIN_MARGIN_ABS 0.05   /* ... + 0.05 (normalised units)              */
#define CC_BOA_DOMAIN_RIDGE 0.01        /* added to the covariance diagonal           */
#define CC_BOA_DOMAIN_DIST_FACTOR 1.1   /* threshold = 1.1 x the 99.99 % quantile of d */
#define CC_BOA_DOMAIN_DERIVED_K 6.0     /* old model files: |x_c| <= 6                */
#define CC_BOA_DOMAIN_FIT_MAX ((size_t)1 << 20) /* training pixels used by the fit   */

/* Why a pixel is outside (cc_boa_domain_flag_dn). */
enum { CC_BOA_DOM_IN = 0, CC_BOA_DOM_BOX = 1, CC_BOA_DOM_DIST = 2 };

typedef struct {
    int nch;                              /* = the model's input channels          */
    char channels[CC_BOA_DOMAIN_MAXCH][8];/* their names, as in the model          */
    float lower[CC_BOA_DOMAIN_MAXCH], upper[CC_BOA_DOMAIN_MAXCH]; /* normalised    */
    int has_dist;                         /* 0: box only (derived)                 */
    float center[CC_BOA_DOMAIN_MAXCH];    /* mu                                    */
    float cov[CC_BOA_DOMAIN_MAXCH * CC_BOA_DOMAIN_MAXCH]; /* S, row-major, no ridge */
    double ridge, threshold;              /* d <= threshold is in                  */
    int derived;                          /* 1: from the normalisation (old file)  */
    double npix;                          /* training pixels the fit used          */
    /* derived at fit / read time (cc_boa_domain_prepare), not stored: */
    float winv[CC_BOA_DOMAIN_MAXCH * CC_BOA_DOMAIN_MAXCH]; /* L^-1, (S + ridge I) = L L^T */
    /* decoding of uint16 DN into x (cc_boa_domain_bind): x_c = DN * a_c + b_c */
    float a[CC_BOA_DOMAIN_MAXCH], b[CC_BOA_DOMAIN_MAXCH];
} cc_boa_domain;

/* Fits the domain of model m from n training pixels: pixel(ctx, i, v) fills
 * v[0 .. nch-1] with the un-normalised inputs of pixel i (as above); at most
 * CC_BOA_DOMAIN_FIT_MAX pixels, evenly strided, are used (deterministic). */
cc_status cc_boa_domain_fit(const cc_nn_model *m, void (*pixel)(void *ctx, size_t i, float *v), void *ctx,
                            size_t n, cc_boa_domain *d);
/* The box of a model without stored domain: |x_c| <= CC_BOA_DOMAIN_DERIVED_K. */
void cc_boa_domain_from_normalisation(const cc_nn_model *m, cc_boa_domain *d);

/* Writes model m with its domain as the /domain group (io/model_extra.h). */
cc_status cc_boa_domain_write_model(const char *path, const cc_nn_model *m, const char *provenance,
                                    const cc_boa_domain *d);
/* Reads the domain of the model file `path` (m: the model read from it).
 * Without /domain: the derived box, with an info line in the log. A /domain
 * that is damaged or does not fit m (channels, counts, lower > upper, a
 * covariance that is not symmetric positive definite, a threshold <= 0) is
 * CC_ERR_FORMAT with one line naming the file and the attribute. */
cc_status cc_boa_domain_read(const char *path, const cc_nn_model *m, cc_boa_domain *d);

/* Cholesky factor of S + ridge I into winv; CC_ERR_FORMAT if not positive
 * definite. Called by fit and read. */
cc_status cc_boa_domain_prepare(cc_boa_domain *d, const char *path);
/* Sets the DN decoding of the inputs: in = the model's input description in
 * the product's conventions (dn_offset, quantification, mean, std). */
void cc_boa_domain_bind(cc_boa_domain *d, const cc_nn_input_desc *in);

/* Flags npx pixels: pixel i has d->nch uint16 channels at px + i*stride
 * (channels-last, the model's input DN); out[i] = CC_BOA_DOM_IN, _BOX or
 * _DIST. dist (may be NULL) receives d(x) (NaN without a combination test). */
void cc_boa_domain_flag_dn(const cc_boa_domain *d, const uint16_t *px, size_t stride, size_t npx, uint8_t *out,
                           float *dist);
/* The same for one pixel in normalised space x[nch]. */
int cc_boa_domain_flag(const cc_boa_domain *d, const float *x, float *dist);

/* One line for logs and cube attributes, e.g. "training domain (box at the
 * 0.01/99.99 % quantiles + margin; Mahalanobis d <= 7.31), 1048576 pixels". */
void cc_boa_domain_describe(const cc_boa_domain *d, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
