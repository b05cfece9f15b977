/* clearcube: the reference processor's per-pixel SMAC as inline functions
 * shared by the CPU (pipeline/atmos/context.c, reference_stream.c) and the
 * CUDA kernel (kernels/cuda/smac_cuda.cu, cc_cuda_smac_px_*), so that both
 * paths run the same operations (docs/reference-processor.md, "Context").
 *
 * A pixel's atmosphere is 7 floats (pipeline/atmos/context.h, cc_atmos_pixel:
 * mu_s, mu_v, cos_raa, aot550, wv, pressure_hpa, ozone), quantised to keys
 * of 1e-4 of "feature + 1"; the "dry" SMAC terms (everything but water
 * vapour) depend on 6 of the keys, the water vapour transmittance on the 7th.
 * Band k of a pixel is L2A band k (12 L2A bands, cc_l2a_bands order). Double
 * precision. Internal. */
#ifndef CC_KERNELS_SMAC_SMAC_PIXEL_H
#define CC_KERNELS_SMAC_SMAC_PIXEL_H

#include <math.h>
#include <stdint.h>

#include "core/reflectance.h"
#include "kernels/smac/smac-impl.h"

#define CC_SMAC_PX_NB 12   /* L2A bands                                     */
#define CC_SMAC_PX_NF 7    /* atmosphere features of a pixel                */
#define CC_SMAC_PX_Q 1e4   /* features are quantised to 1/CC_SMAC_PX_Q      */

/* The "dry" terms of one pixel and the two-way air mass. */
typedef struct {
    double m;
    double tg[CC_SMAC_PX_NB], tt[CC_SMAC_PX_NB], s[CC_SMAC_PX_NB], ratm[CC_SMAC_PX_NB];
} cc_smac_px_dry;

/* The output bands of a scene: output band j is L2A band l2a[j], decoded
 * with add_offset[j] / quant, encoded with dn_offset. */
typedef struct {
    int nb;
    int l2a[CC_SMAC_PX_NB];
    double add_offset[CC_SMAC_PX_NB];
    double quant, dn_offset;
} cc_smac_px_bands;

CC_SMAC_HD static inline double cc_smac_px_dequant(long k) { return (double)k / CC_SMAC_PX_Q - 1.0; }

/* The features "value + 1" of a pixel's 7 floats (cc_reference_pixel_features). */
CC_SMAC_HD static inline void cc_smac_px_features(const float px[CC_SMAC_PX_NF], double f[CC_SMAC_PX_NF])
{
    f[0] = px[0] + 1.0;
    f[1] = px[1] + 1.0;
    f[2] = px[2] + 1.0;
    f[3] = px[3] + 1.0;
    f[4] = px[4] * 0.5 + 1.0;
    f[5] = px[5] / 1013.25 + 1.0;
    f[6] = px[6] + 1.0;
}

CC_SMAC_HD static inline void cc_smac_px_keys(const float px[CC_SMAC_PX_NF], long k[CC_SMAC_PX_NF])
{
    double f[CC_SMAC_PX_NF];
    cc_smac_px_features(px, f);
    for (int i = 0; i < CC_SMAC_PX_NF; i++)
        k[i] = lround(f[i] * CC_SMAC_PX_Q);
}

/* The dry terms of the keys k; coefs[b] NULL: band b has no coefficients. */
CC_SMAC_HD static inline void cc_smac_px_dry_compute(const cc_smac_coefs *const coefs[CC_SMAC_PX_NB],
                                                     const long k[CC_SMAC_PX_NF], cc_smac_px_dry *d)
{
    const double mu_s = cc_smac_px_dequant(k[0]), mu_v = cc_smac_px_dequant(k[1]), craa = cc_smac_px_dequant(k[2]);
    cc_smac_atmos a;
    a.tetas = acos(fmin(1.0, fmax(-1.0, mu_s))) / CC_SMAC_DEG;
    a.phis = acos(fmin(1.0, fmax(-1.0, craa))) / CC_SMAC_DEG;
    a.tetav = acos(fmin(1.0, fmax(-1.0, mu_v))) / CC_SMAC_DEG;
    a.phiv = 0.0;
    a.pressure_hpa = cc_smac_px_dequant(k[5]) * 1013.25;
    a.aot550 = cc_smac_px_dequant(k[3]);
    a.uo3 = cc_smac_px_dequant(k[6]);
    a.uh2o = 0.0;
    d->m = 1.0 / cos(a.tetas * CC_SMAC_DEG) + 1.0 / cos(a.tetav * CC_SMAC_DEG);
    for (int b = 0; b < CC_SMAC_PX_NB; b++) {
        if (!coefs[b])
            continue;
        cc_smac_terms t;
        cc_smac_terms_eval(coefs[b], &a, &t);
        d->tg[b] = t.tg;
        d->tt[b] = t.t_down * t.t_up;
        d->s[b] = t.s;
        d->ratm[b] = t.ratm;
    }
}

/* Surface reflectance of the 12 bands from the dry terms and the water
 * vapour key kwv; NaN where toa is NaN or the band has no coefficients. */
CC_SMAC_HD static inline void cc_smac_px_invert(const cc_smac_coefs *const coefs[CC_SMAC_PX_NB],
                                                const cc_smac_px_dry *d, long kwv,
                                                const double toa[CC_SMAC_PX_NB], double boa[CC_SMAC_PX_NB])
{
    const double um = 2.0 * cc_smac_px_dequant(kwv) * d->m;
    for (int b = 0; b < CC_SMAC_PX_NB; b++) {
        const cc_smac_coefs *co = coefs[b];
        if (!co || isnan(toa[b])) {
            boa[b] = NAN;
            continue;
        }
        /* exp(0 * x) == 1 exactly: bands without H2O absorption (B01) skip it */
        const double tg = co->ah2o != 0.0 ? d->tg[b] * exp(co->ah2o * pow(um, co->nh2o)) : d->tg[b];
        const double r = toa[b] - d->ratm[b] * tg;
        boa[b] = r / (tg * d->tt[b] + r * d->s[b]);
    }
}

/* TOA reflectance of a pixel's output bands dn[0..nb) into toa (12 L2A
 * bands, NaN where absent or nodata); 1 when any band has data. */
CC_SMAC_HD static inline int cc_smac_px_toa(const cc_smac_px_bands *b, const uint16_t *dn, double toa[CC_SMAC_PX_NB])
{
    for (int k = 0; k < CC_SMAC_PX_NB; k++)
        toa[k] = NAN;
    int any = 0;
    for (int j = 0; j < b->nb; j++)
        if (dn[j]) {
            toa[b->l2a[j]] = cc_refl_decode(dn[j], b->add_offset[j], b->quant);
            any = 1;
        }
    return any;
}

/* The output of a pixel with data: nb L2A DN, then AOT and WVP (1e-3, 0
 * when no band is valid) into o[0..nb+2); 1 when a band is valid. */
CC_SMAC_HD static inline int cc_smac_px_encode(const cc_smac_px_bands *b, const float px[CC_SMAC_PX_NF],
                                               const double boa[CC_SMAC_PX_NB], uint16_t *o)
{
    int valid = 0;
    for (int j = 0; j < b->nb; j++) {
        o[j] = cc_refl_encode(boa[b->l2a[j]], b->dn_offset, CC_REFL_QUANT);
        valid |= o[j] != 0;
    }
    o[b->nb] = valid ? (uint16_t)lround(fmax(1.0, px[3] * 1000.0)) : 0;
    o[b->nb + 1] = valid ? (uint16_t)lround(fmin(65534.0, fmax(1.0, px[4] * 1000.0))) : 0;
    return valid;
}

#endif
