/* `clearcube dataset`, kind simulated: SIMULATED L1C drawn from the spectral
 * library over the whole domain a tile can meet, with the reference
 * processor's per-pixel inversion as the target (docs/boa-model.md
 * "Training data", docs/formats/dataset.md).
 *
 * A patch is one simulated scene: a geometry, aerosol and ozone for the whole
 * patch, smooth fields of elevation (pressure) and water vapour varying per
 * pixel, and per pixel a library spectrum drawn by class weight. The SMAC
 * forward model gives the TOA reflectance (quantised to L1C DN, as a product
 * is); the reference processor's own water-vapour retrieval (B09/B8A,
 * cc_atmos_retrieve_wv) runs on that TOA on a 60 m grid, as for a product
 * (coarse_wv); the target is the SMAC inversion
 * of the quantised TOA with exactly that context: the same per-pixel water
 * vapour and pressure, the patch's aerosol, ozone and geometry, all of which
 * the emulator receives as inputs. So the network learns the processor, not
 * the mismatch between the true and the retrieved atmosphere. */
#define _GNU_SOURCE /* M_PI */
#include "pipeline/boa/dataset-impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/reflectance.h"
#include "kernels/smac/smac.h"
#include "pipeline/atmos/atmos.h"
#include "pipeline/atmos/context.h"

#define P CC_DATASET_PATCH
#define NB CC_L2A_NBANDS
#define PP ((size_t)P * P)
#define NCX CC_DATASET_NCTX
_Static_assert(CC_DATASET_NCTX == CC_ATMOS_NFEATURES, "context_px holds the reference's context features");

static uint64_t smix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static double u01(uint64_t *s)
{
    *s = smix(*s);
    return (double)(*s >> 11) * (1.0 / 9007199254740992.0);
}
static double uni(uint64_t *s, double lo, double hi)
{
    return lo + (hi - lo) * u01(s);
}
static double logu(uint64_t *s, double lo, double hi)
{
    return exp(uni(s, log(lo), log(hi)));
}

enum { D_FULL, D_LOW_SUN, D_HIGH_AEROSOL, D_DRY, D_HUMID, D_MOUNTAINS, D_SNOW, D_WATER, D_CLOUD };

typedef struct {
    double sz, sa, vz, va, aot, o3, wv0, elev0;
    double fx[2], fy[2], ph[4]; /* the smooth fields' frequencies and phases */
    double w[CC_LIB_NCLASS];    /* class weights (cumulative) */
} sim_scene;

/* The documented ranges of the domain (config key `domain`), per patch. */
static void draw_scene(uint64_t *s, int domain, sim_scene *sc)
{
    sc->sz = uni(s, 15.0, 75.0);
    sc->vz = uni(s, 0.0, 12.0);
    sc->sa = uni(s, 90.0, 270.0);
    sc->va = sc->sa - uni(s, 0.0, 360.0); /* every relative azimuth */
    sc->aot = logu(s, 0.01, 1.0);
    sc->o3 = uni(s, 0.25, 0.45);
    sc->wv0 = logu(s, 0.2, 5.0);
    sc->elev0 = u01(s) < 0.4 ? uni(s, 0.0, 300.0) : uni(s, 0.0, 4000.0);
    for (int i = 0; i < 2; i++) {
        sc->fx[i] = uni(s, 0.2, 2.0);
        sc->fy[i] = uni(s, 0.2, 2.0);
    }
    for (int i = 0; i < 4; i++)
        sc->ph[i] = uni(s, 0.0, 2.0 * M_PI);
    static const double wfull[CC_LIB_NCLASS] = {0.45, 0.12, 0.10, 0.13, 0.08, 0.12};
    double w[CC_LIB_NCLASS];
    memcpy(w, wfull, sizeof w);
    switch (domain) {
    case D_LOW_SUN: sc->sz = uni(s, 68.0, 75.0); break;
    case D_HIGH_AEROSOL: sc->aot = uni(s, 0.6, 1.0); break;
    case D_DRY: sc->wv0 = uni(s, 0.2, 0.4); break;
    case D_HUMID: sc->wv0 = uni(s, 4.0, 5.0); break;
    case D_MOUNTAINS: sc->elev0 = uni(s, 2800.0, 4000.0); break;
    case D_SNOW: case D_WATER: case D_CLOUD: {
        int only = domain == D_SNOW ? CC_LIB_SNOW : domain == D_WATER ? CC_LIB_WATER : CC_LIB_CLOUD;
        for (int c = 0; c < CC_LIB_NCLASS; c++)
            w[c] = c == only ? 1.0 : 0.0;
        break;
    }
    default: break;
    }
    double acc = 0;
    for (int c = 0; c < CC_LIB_NCLASS; c++)
        sc->w[c] = (acc += w[c]);
}

/* Smooth per-pixel fields: elevation (m) and water vapour (g cm-2). The
 * elevation varies by up to +-600 m over the patch, the water vapour by a
 * factor exp(+-0.3) and falls with the local elevation (scale height 2 km). */
static void fields(const sim_scene *sc, int r, int c, double *elev, double *wv)
{
    double x = (c + 0.5) / P, y = (r + 0.5) / P;
    double f1 = sin(2 * M_PI * sc->fx[0] * x + sc->ph[0]) * cos(2 * M_PI * sc->fy[0] * y + sc->ph[1]);
    double f2 = sin(2 * M_PI * sc->fx[1] * x + sc->ph[2]) * cos(2 * M_PI * sc->fy[1] * y + sc->ph[3]);
    double e = fmin(fmax(sc->elev0 + 600.0 * f1, 0.0), 4000.0);
    *elev = e;
    *wv = fmin(fmax(sc->wv0 * exp(0.3 * f2 - (e - sc->elev0) / 2000.0), 0.2), 5.0);
}

typedef struct {
    size_t *idx[CC_LIB_NCLASS]; /* library spectra per class (excluded sources left out) */
    size_t n[CC_LIB_NCLASS];
} class_index;

static int excluded(const cc_dataset_config *c, const char *list, int src)
{
    if (!list)
        return 0;
    const char *name = c->src[src].scene;
    size_t ln = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == ln && !strncmp(p, name, l))
            return 1;
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

static cc_status index_build(const ds_library *lib, const cc_dataset_config *c, const ds_source *src,
                             class_index *ci)
{
    memset(ci, 0, sizeof *ci);
    for (int k = 0; k < CC_LIB_NCLASS; k++)
        if (!(ci->idx[k] = cc_malloc3(lib->n ? lib->n : 1, sizeof(size_t), 1)))
            return CC_ERR_NOMEM;
    for (size_t i = 0; i < lib->n; i++)
        if (!excluded(c, src->exclude, lib->source[i]))
            ci->idx[lib->cls[i]][ci->n[lib->cls[i]]++] = i;
    return CC_OK;
}

static void index_free(class_index *ci)
{
    for (int k = 0; k < CC_LIB_NCLASS; k++)
        free(ci->idx[k]);
}

/* A class by the cumulative weights, skipping classes the library lacks. */
static int draw_class(uint64_t *s, const sim_scene *sc, const class_index *ci)
{
    for (int tries = 0; tries < 64; tries++) {
        double u = u01(s) * sc->w[CC_LIB_NCLASS - 1];
        int k = 0;
        while (k < CC_LIB_NCLASS - 1 && u >= sc->w[k])
            k++;
        if (ci->n[k])
            return k;
    }
    for (int k = 0; k < CC_LIB_NCLASS; k++)
        if (ci->n[k])
            return k;
    return -1;
}

typedef struct {
    uint16_t *l1c, *l2a, *cpx;
    float *toa[NB];    /* decoded quantised TOA, NaN invalid */
    float *wv_ret, *elev, *p_hpa;
} sim_buf;

static void buf_free(sim_buf *b)
{
    free(b->l1c);
    free(b->l2a);
    free(b->cpx);
    for (int k = 0; k < NB; k++)
        free(b->toa[k]);
    free(b->wv_ret);
    free(b->elev);
    free(b->p_hpa);
}

static cc_status buf_alloc(sim_buf *b)
{
    memset(b, 0, sizeof *b);
    b->l1c = malloc(PP * NB * sizeof(uint16_t));
    b->l2a = malloc(PP * NB * sizeof(uint16_t));
    b->cpx = malloc(PP * NCX * sizeof(uint16_t));
    b->wv_ret = malloc(PP * sizeof(float));
    b->elev = malloc(PP * sizeof(float));
    b->p_hpa = malloc(PP * sizeof(float));
    int bad = !b->l1c || !b->l2a || !b->cpx || !b->wv_ret || !b->elev || !b->p_hpa;
    for (int k = 0; k < NB; k++)
        bad |= !(b->toa[k] = malloc(PP * sizeof(float)));
    return bad ? CC_ERR_NOMEM : CC_OK;
}

/* Forward model of every pixel of the patch into b->l1c / b->toa. */
static void forward(const ds_library *lib, cc_spacecraft scft, const sim_scene *sc, const uint32_t *pick,
                    sim_buf *b)
{
#pragma omp parallel for schedule(static)
    for (int r = 0; r < P; r++)
        for (int c = 0; c < P; c++) {
            size_t i = (size_t)r * P + c;
            double elev, wv;
            fields(sc, r, c, &elev, &wv);
            b->elev[i] = (float)elev;
            b->p_hpa[i] = (float)cc_smac_pressure_from_elevation(elev);
            cc_smac_atmos a = {.tetas = sc->sz, .phis = sc->sa, .tetav = sc->vz, .phiv = sc->va,
                               .pressure_hpa = b->p_hpa[i], .aot550 = sc->aot, .uo3 = sc->o3, .uh2o = wv};
            const uint16_t *s = lib->spec + (size_t)pick[i] * NB;
            int ok = 1;
            uint16_t dn[NB];
            for (int k = 0; k < NB; k++) {
                cc_smac_terms t;
                cc_smac_terms_compute(cc_smac_coefs_get(scft, cc_l2a_bands[k]), &a, &t);
                double toa = cc_smac_forward(&t, cc_refl_decode(s[k], -CC_DATASET_DN_OFFSET, CC_REFL_QUANT));
                double q = toa * CC_REFL_QUANT + CC_DATASET_DN_OFFSET;
                ok &= isfinite(toa) && q >= 1.0 && q < 65535.0; /* saturated or negative: invalid */
                dn[k] = ok ? cc_refl_encode(toa, CC_DATASET_DN_OFFSET, CC_REFL_QUANT) : 0;
            }
            for (int k = 0; k < NB; k++) {
                b->l1c[i * NB + k] = ok ? dn[k] : 0;
                b->toa[k][i] = ok ? (float)cc_refl_decode(dn[k], -CC_DATASET_DN_OFFSET, CC_REFL_QUANT) : NAN;
            }
        }
}

/* The reference's water vapour as the emulator receives it: retrieved
 * (B09/B8A, cc_atmos_retrieve_wv) on a coarse grid of CC_SIM_WV_F x CC_SIM_WV_F
 * pixels (60 m at 10 m) from the box-averaged TOA, then sampled bilinearly at
 * the pixel centres, as pipeline/atmos/context.c does for a product. So the
 * water vapour of a pixel is not its own B09/B8A ratio (which would let the
 * network read B09's surface off B8A instead of learning the inversion) but
 * the smooth field a real scene gives. Fills b->wv_ret; returns the median. */
#define CC_SIM_WV_F 6
#define CC_SIM_WV_N ((P + CC_SIM_WV_F - 1) / CC_SIM_WV_F)
static double coarse_wv(cc_spacecraft scft, const sim_scene *sc, sim_buf *b, double p_hpa)
{
    enum { NC = CC_SIM_WV_N * CC_SIM_WV_N };
    float ct[NB][NC], cw[NC];
    for (int k = 0; k < NB; k++)
        for (int q = 0; q < NC; q++) {
            int cy = q / CC_SIM_WV_N, cx = q % CC_SIM_WV_N, n = 0;
            double sum = 0;
            for (int r = cy * CC_SIM_WV_F; r < (cy + 1) * CC_SIM_WV_F && r < P; r++)
                for (int c = cx * CC_SIM_WV_F; c < (cx + 1) * CC_SIM_WV_F && c < P; c++) {
                    float v = b->toa[k][(size_t)r * P + c];
                    if (!isnan(v))
                        sum += v, n++;
                }
            ct[k][q] = n ? (float)(sum / n) : NAN;
        }
    cc_atmos_input in;
    memset(&in, 0, sizeof in);
    in.sc = scft;
    in.n = NC;
    for (int k = 0; k < NB; k++)
        in.toa[cc_l2a_bands[k]] = ct[k];
    in.tetas = sc->sz;
    in.phis = sc->sa;
    in.tetav = sc->vz;
    in.phiv = sc->va;
    in.pressure_hpa = p_hpa;
    in.uo3 = sc->o3;
    double wv_scene = NAN;
    if (cc_atmos_retrieve_wv(&in, cw, &wv_scene, NULL) != CC_OK) {
        cc_error_clear();
        wv_scene = CC_ATMOS_DEFAULT_WV; /* as the reference: the default when nothing is retrievable */
        for (int q = 0; q < NC; q++)
            cw[q] = (float)wv_scene;
    }
    for (int q = 0; q < NC; q++)
        if (isnan(cw[q]))
            cw[q] = (float)wv_scene;
    /* bilinear between coarse pixel centres, clamped at the edges */
    for (int r = 0; r < P; r++)
        for (int c = 0; c < P; c++) {
            double u = (c + 0.5) / CC_SIM_WV_F - 0.5, v = (r + 0.5) / CC_SIM_WV_F - 0.5;
            u = fmin(fmax(u, 0.0), CC_SIM_WV_N - 1.0);
            v = fmin(fmax(v, 0.0), CC_SIM_WV_N - 1.0);
            int u0 = (int)u, v0 = (int)v, u1 = u0 + 1 < CC_SIM_WV_N ? u0 + 1 : u0, v1 = v0 + 1 < CC_SIM_WV_N ? v0 + 1 : v0;
            double fu = u - u0, fv = v - v0;
            double w = (1 - fv) * ((1 - fu) * cw[v0 * CC_SIM_WV_N + u0] + fu * cw[v0 * CC_SIM_WV_N + u1]) +
                       fv * ((1 - fu) * cw[v1 * CC_SIM_WV_N + u0] + fu * cw[v1 * CC_SIM_WV_N + u1]);
            b->wv_ret[(size_t)r * P + c] = (float)w;
        }
    return wv_scene;
}

/* The context of a pixel from its stored features (round(10000 * feature),
 * each "value + 1", cc_reference_pixel_features): the values the emulator
 * and the reference's inversion see. */
static void px_of_features(const uint16_t k[NCX], cc_atmos_pixel *px)
{
    double v[NCX];
    for (int q = 0; q < NCX; q++)
        v[q] = k[q] / 10000.0 - 1.0;
    px->mu_s = (float)v[0];
    px->mu_v = (float)v[1];
    px->cos_raa = (float)v[2];
    px->aot550 = (float)v[3];
    px->wv = (float)(2.0 * v[4]);
    px->pressure_hpa = (float)(v[5] * 1013.25);
    px->ozone = (float)v[6];
}

/* The reference's context and inversion (cc_reference_smac_pixel_sc, the
 * reference's own per-pixel code path); fills l2a, cpx, ctx. Returns valid pixels. */
static size_t target(cc_spacecraft scft, const sim_scene *sc, sim_buf *b, float ctx[NCX])
{
    const double d2r = M_PI / 180.0;
    double psum = 0;
    size_t np = 0;
    for (size_t i = 0; i < PP; i++)
        if (!isnan(b->toa[0][i]))
            psum += b->p_hpa[i], np++;
    if (np == 0)
        return 0;
    double wv_scene = coarse_wv(scft, sc, b, psum / (double)np);
    const double mu_s = cos(sc->sz * d2r), mu_v = cos(sc->vz * d2r), cos_raa = cos((sc->sa - sc->va) * d2r);
    size_t nv = 0;
#pragma omp parallel for schedule(static) reduction(+ : nv)
    for (int r = 0; r < P; r++)
        for (int c = 0; c < P; c++) {
            size_t i = (size_t)r * P + c;
            uint16_t *o = b->l2a + i * NB, *cx = b->cpx + i * NCX;
            double wv = isnan(b->wv_ret[i]) ? wv_scene : b->wv_ret[i];
            if (isnan(b->toa[0][i])) {
                memset(o, 0, NB * sizeof *o);
                memset(cx, 0, NCX * sizeof *cx);
                continue;
            }
            /* the pixel's context as the emulator receives it (quantised to
             * its input resolution, as cc_reference_context_fill does), and
             * the reference's own per-pixel inversion with exactly that */
            cc_atmos_pixel raw = {.mu_s = (float)mu_s, .mu_v = (float)mu_v, .cos_raa = (float)cos_raa,
                                  .aot550 = (float)sc->aot, .wv = (float)wv, .pressure_hpa = b->p_hpa[i],
                                  .ozone = (float)sc->o3};
            double f[CC_ATMOS_NFEATURES];
            cc_reference_pixel_features(&raw, f);
            for (int q = 0; q < NCX; q++)
                cx[q] = (uint16_t)lround(f[q] * 10000.0);
            cc_atmos_pixel px;
            px_of_features(cx, &px);
            double toa[NB], rs[NB];
            for (int k = 0; k < NB; k++)
                toa[k] = cc_refl_decode(b->l1c[i * NB + k], -CC_DATASET_DN_OFFSET, CC_REFL_QUANT);
            cc_reference_smac_pixel_sc(scft, &px, toa, rs);
            int ok = 1;
            for (int k = 0; k < NB; k++) {
                ok &= isfinite(rs[k]);
                o[k] = isfinite(rs[k]) ? cc_refl_encode(rs[k], CC_DATASET_DN_OFFSET, CC_REFL_QUANT) : 0;
            }
            if (!ok) { /* invalid in every dataset: 0 */
                memset(o, 0, NB * sizeof *o);
                memset(cx, 0, NCX * sizeof *cx);
                memset(b->l1c + i * NB, 0, NB * sizeof(uint16_t));
                continue;
            }
            nv++;
        }
    ctx[0] = (float)cos(sc->sz * d2r);
    ctx[1] = (float)cos(sc->vz * d2r);
    ctx[2] = (float)cos((sc->sa - sc->va) * d2r);
    ctx[3] = (float)sc->aot;
    ctx[4] = (float)wv_scene;
    ctx[5] = (float)(psum / (double)np / 1013.25);
    ctx[6] = (float)sc->o3;
    return nv;
}

cc_status cc_dataset_simulate(const ds_library *lib, const cc_dataset_config *c, int i, uint64_t seed,
                              ds_emit_fn emit, void *emit_ctx)
{
    const ds_source *src = &c->src[i];
    if (lib->n == 0)
        return cc_error_set(CC_ERR_MISSING, "%s: sources[%d] (%s): kind simulated needs a spectral library (sources "
                                            "of kind library)", c->file, i, src->scene);
    cc_spacecraft scft = src->spacecraft ? cc_spacecraft_parse(src->spacecraft) : CC_SC_S2A;
    if (!cc_smac_coefs_get(scft, CC_B02))
        return cc_error_set(CC_ERR_ARG, "%s: sources[%d].spacecraft: '%s' is not one of S2A|S2B|S2C", c->file, i,
                            src->spacecraft);
    class_index ci;
    sim_buf b;
    uint32_t *pick = malloc(PP * sizeof *pick);
    cc_status st = index_build(lib, c, src, &ci);
    if (st == CC_OK)
        st = buf_alloc(&b);
    else
        memset(&b, 0, sizeof b);
    if (st == CC_OK && !pick)
        st = CC_ERR_NOMEM;
    size_t kept = 0, nvalid = 0;
    for (int p = 0; p < src->patches && st == CC_OK; p++) {
        uint64_t s = smix(seed ^ smix((uint64_t)p + 1));
        sim_scene sc;
        draw_scene(&s, src->domain, &sc);
        int bad = 0;
        for (size_t q = 0; q < PP && !bad; q++) {
            int k = draw_class(&s, &sc, &ci);
            if (k < 0)
                bad = 1;
            else
                pick[q] = (uint32_t)ci.idx[k][(size_t)(u01(&s) * (double)ci.n[k]) % ci.n[k]];
        }
        if (bad) {
            st = cc_error_set(CC_ERR_MISSING, "%s: sources[%d] (%s): the library has no spectrum left to draw",
                              c->file, i, src->scene);
            break;
        }
        forward(lib, scft, &sc, pick, &b);
        float ctx[NCX];
        size_t nv = target(scft, &sc, &b, ctx);
        if (nv < PP / 2)
            continue; /* mostly saturated (bright cloud at high sun): no patch */
        if ((st = emit(emit_ctx, b.l1c, b.l2a, b.cpx, ctx)) != CC_OK)
            break;
        kept++;
        nvalid += nv;
    }
    if (st == CC_OK)
        cc_info("%s: sources[%d] (%s, simulated, domain %d, %s): %zu SIMULATED patches, %zu valid pixels",
                c->file, i, src->scene, src->domain, src->split ? "val" : "train", kept, nvalid);
    buf_free(&b);
    index_free(&ci);
    free(pick);
    return st;
}
