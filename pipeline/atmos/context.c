/* The per-pixel atmosphere of the reference processor on a coarse grid, its
 * bilinear, quantised sampling at output pixels, and the per-pixel SMAC
 * inversion (pipeline/atmos/context.h). */
#include "pipeline/atmos/context.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/reflectance.h"
#include "kernels/smac/smac-pixel.h"
#include "kernels/smac/smac.h"
#include "pipeline/atmos/atmos.h"

#define CTX_DEFAULT_RES 60.0
#define CTX_Q CC_SMAC_PX_Q /* features are quantised to 1/CTX_Q */
#define CTX_DEG (3.14159265358979323846 / 180.0)

struct cc_reference_context {
    cc_spacecraft sc;
    const cc_smac_coefs *coefs[CC_L2A_NBANDS]; /* NULL: no coefficients    */
    cc_grid out, cg;                 /* output grid, coarse grid            */
    float *mu_s, *mu_v, *cos_raa;    /* coarse geometry (cg), owned         */
    float *wv;                       /* coarse water vapour, owned          */
    float *pres;                     /* coarse pressure (hPa) or NULL       */
    double pres_const, aot, ozone;
    cc_reference_atmos atmos;
};

/* ---- quantisation: every value is "feature + 1" to 1/CTX_Q ---- */

static long ctx_key(double feature) { return lround((feature + 1.0) * CTX_Q); }
static double ctx_dequant(long k) { return (double)k / CTX_Q - 1.0; }
static float ctx_q(double feature) { return (float)ctx_dequant(ctx_key(feature)); }

_Static_assert(sizeof(cc_atmos_pixel) == CC_SMAC_PX_NF * sizeof(float) &&
                   offsetof(cc_atmos_pixel, ozone) == 6 * sizeof(float),
               "cc_atmos_pixel is the 7 floats of kernels/smac/smac-pixel.h");

void cc_reference_pixel_features(const cc_atmos_pixel *px, double out[CC_ATMOS_NFEATURES])
{
    cc_smac_px_features((const float *)px, out);
}

/* The integer keys of the 7 features of px. */
static void ctx_keys(const cc_atmos_pixel *px, long k[CC_ATMOS_NFEATURES])
{
    cc_smac_px_keys((const float *)px, k);
}

/* ---- options ---- */

static cc_status ctx_check_options(const cc_scene *s, const cc_reference_options *o)
{
    if (!isnan(o->aot550) && (o->aot550 < 0 || o->aot550 > 3))
        return cc_error_set(CC_ERR_ARG, "--aot %g: outside [0, 3]", o->aot550);
    if (!isnan(o->water_vapour) && (o->water_vapour < 0 || o->water_vapour > 8))
        return cc_error_set(CC_ERR_ARG, "--water-vapour %g: outside [0, 8] g cm-2", o->water_vapour);
    if (!isnan(o->elevation_m) && (o->elevation_m < -500 || o->elevation_m > 9000))
        return cc_error_set(CC_ERR_ARG, "--elevation %g: outside [-500, 9000] m", o->elevation_m);
    if (!isnan(o->elevation_m) && o->dem_path)
        return cc_error_set(CC_ERR_ARG, "--elevation and --dem are mutually exclusive");
    if (o->ozone <= 0 || o->ozone > 1)
        return cc_error_set(CC_ERR_ARG, "--ozone %g: outside (0, 1] cm-atm", o->ozone);
    if (o->context_resolution < 0)
        return cc_error_set(CC_ERR_ARG, "context resolution %g m: negative", o->context_resolution);
    if (s->level != CC_LEVEL_L1C)
        return cc_error_set(CC_ERR_ARG, "%s: input is already Level-2A; the reference processor needs L1C",
                            s->product_id);
    if (!cc_smac_coefs_get(s->spacecraft, CC_B02))
        return cc_error_set(CC_ERR_UNSUPPORTED, "%s: no SMAC coefficients for spacecraft %s", s->product_id,
                            cc_spacecraft_name(s->spacecraft));
    if (!(s->quantification > 0))
        return cc_error_set(CC_ERR_FORMAT, "%s: quantification value missing", s->product_id);
    return CC_OK;
}

/* ---- coarse TOA of the bands the retrievals use ---- */

/* Integer factor f when the band's pixels tile the coarse grid's pixels
 * exactly (f x f band pixels per coarse pixel, same upper-left corner). */
static int ctx_box_factor(const cc_raster_u16 *r, const cc_grid *cg)
{
    double f = cg->gt[1] / r->gt[1];
    int fi = (int)lround(f);
    if (fi < 1 || fabs(f - fi) > 1e-9 || fabs(cg->gt[5] / r->gt[5] - fi) > 1e-9)
        return 0;
    if (fabs(r->gt[0] - cg->gt[0]) > 1e-6 * r->gt[1] || fabs(r->gt[3] - cg->gt[3]) > 1e-6 * r->gt[1])
        return 0;
    return fi;
}

/* Band b as TOA reflectance on the coarse grid (NaN = nodata): the mean of
 * the valid DN of the f x f band pixels in each coarse pixel, else GDAL's
 * average warp. */
static cc_status ctx_coarse_band(const cc_scene *s, int b, const cc_grid *cg, float *out)
{
    const cc_raster_u16 *r = &s->band[b];
    int f = ctx_box_factor(r, cg);
    size_t n = cc_grid_npix(cg);
    if (f == 0) {
        cc_status st = cc_grid_resample_band(r, s->wkt, cg, out);
        if (st != CC_OK)
            return st;
    } else {
#pragma omp parallel for schedule(static)
        for (int j = 0; j < cg->height; j++) {
            for (int i = 0; i < cg->width; i++) {
                uint64_t sum = 0;
                uint32_t cnt = 0;
                for (int y = j * f; y < (j + 1) * f && y < r->height; y++) {
                    const uint16_t *row = r->dn + (size_t)y * r->width;
                    for (int x = i * f; x < (i + 1) * f && x < r->width; x++)
                        if (row[x]) {
                            sum += row[x];
                            cnt++;
                        }
                }
                out[(size_t)j * cg->width + i] = cnt ? (float)((double)sum / cnt) : 0.0f;
            }
        }
    }
    cc_refl_decode_band(out, n, s->radio_offset[b], s->quantification);
    return CC_OK;
}

/* ---- geometry ---- */

/* The view-angle grids used for every band: B8A, else B08, B04, else the
 * first band that has them (NULL: none; the scene means are used). */
static void ctx_view_grids(const cc_scene *s, const cc_angle_grid **vz, const cc_angle_grid **va)
{
    static const int pref[] = {CC_B8A, CC_B08, CC_B04};
    *vz = *va = NULL;
    for (size_t i = 0; i < sizeof pref / sizeof *pref; i++)
        if (s->view_zenith[pref[i]].v && s->view_azimuth[pref[i]].v) {
            *vz = &s->view_zenith[pref[i]];
            *va = &s->view_azimuth[pref[i]];
            return;
        }
    for (int b = 0; b < CC_NBANDS; b++)
        if (s->band[b].present && s->view_zenith[b].v && s->view_azimuth[b].v) {
            *vz = &s->view_zenith[b];
            *va = &s->view_azimuth[b];
            return;
        }
}

/* Scene means (the retrievals' geometry) and per-coarse-pixel cosines. */
static cc_status ctx_geometry(const cc_scene *s, cc_reference_context *c)
{
    cc_reference_atmos *a = &c->atmos;
    a->mean_sun_zenith = cc_angle_grid_mean(&s->sun_zenith);
    a->mean_sun_azimuth = cc_angle_grid_mean(&s->sun_azimuth);
    double mvz = 0, mva = 0;
    int nvb = 0;
    for (int b = 0; b < CC_NBANDS; b++)
        if (s->band[b].present && b != CC_B10 && s->view_zenith[b].v) {
            mvz += cc_angle_grid_mean(&s->view_zenith[b]);
            mva += cc_angle_grid_mean(&s->view_azimuth[b]);
            nvb++;
        }
    if (nvb == 0 || isnan(a->mean_sun_zenith) || isnan(a->mean_sun_azimuth) || isnan(mvz))
        return cc_error_set(CC_ERR_MISSING, "%s: sun or viewing angles are missing", s->product_id);
    a->mean_view_zenith = mvz / nvb;
    a->mean_view_azimuth = mva / nvb;
    if (a->mean_sun_zenith >= 85.0)
        return cc_error_set(CC_ERR_ARG, "%s: sun zenith %.1f deg is too low a sun for SMAC", s->product_id,
                            a->mean_sun_zenith);
    const cc_angle_grid *vzg, *vag;
    ctx_view_grids(s, &vzg, &vag);
    const cc_grid *g = &c->cg;
    size_t n = cc_grid_npix(g);
    if (!(c->mu_s = cc_malloc3(n, sizeof(float), 1)) || !(c->mu_v = cc_malloc3(n, sizeof(float), 1)) ||
        !(c->cos_raa = cc_malloc3(n, sizeof(float), 1)))
        return CC_ERR_NOMEM;
#pragma omp parallel for schedule(static)
    for (int row = 0; row < g->height; row++)
        for (int col = 0; col < g->width; col++) {
            double x, y;
            cc_grid_xy(g, col, row, &x, &y);
            double sz = cc_angle_grid_sample(&s->sun_zenith, x, y);
            double sa = cc_angle_grid_sample_azimuth(&s->sun_azimuth, x, y);
            double vz = vzg ? cc_angle_grid_sample(vzg, x, y) : NAN;
            double va = vag ? cc_angle_grid_sample_azimuth(vag, x, y) : NAN;
            if (isnan(sz))
                sz = a->mean_sun_zenith;
            if (isnan(sa))
                sa = a->mean_sun_azimuth;
            if (isnan(vz))
                vz = a->mean_view_zenith;
            if (isnan(va))
                va = a->mean_view_azimuth;
            size_t i = (size_t)row * g->width + col;
            c->mu_s[i] = (float)cos(sz * CTX_DEG);
            c->mu_v[i] = (float)cos(vz * CTX_DEG);
            c->cos_raa[i] = (float)cos((sa - va) * CTX_DEG);
        }
    return CC_OK;
}

/* ---- pressure ---- */

static cc_status ctx_pressure(const cc_reference_options *o, cc_reference_context *c)
{
    cc_reference_atmos *a = &c->atmos;
    a->pressure_source = "sea level";
    a->pressure_hpa = 1013.25;
    if (!isnan(o->elevation_m)) {
        a->pressure_hpa = cc_smac_pressure_from_elevation(o->elevation_m);
        a->pressure_source = "elevation";
    } else if (o->dem_path) {
        size_t n = cc_grid_npix(&c->cg);
        float *p = c->pres = cc_malloc3(n, sizeof(float), 1);
        if (!p)
            return CC_ERR_NOMEM;
        cc_status st = cc_grid_read_raster(o->dem_path, &c->cg, p);
        if (st != CC_OK)
            return st;
        double sum = 0;
        size_t cnt = 0;
        for (size_t i = 0; i < n; i++) {
            if (isnan(p[i]) || p[i] < -500 || p[i] > 9000) {
                p[i] = NAN;
                continue;
            }
            p[i] = (float)cc_smac_pressure_from_elevation(p[i]);
            sum += p[i];
            cnt++;
        }
        if (cnt == 0)
            return cc_error_set(CC_ERR_NODATA, "%s: DEM has no valid elevation over the scene", o->dem_path);
        a->pressure_hpa = sum / cnt;
        for (size_t i = 0; i < n; i++)
            if (isnan(p[i]))
                p[i] = (float)a->pressure_hpa;
        a->pressure_source = "DEM";
    }
    c->pres_const = a->pressure_hpa;
    return CC_OK;
}

/* ---- water vapour and aerosol on the coarse TOA ---- */

static cc_status ctx_water_vapour(const cc_scene *s, const cc_reference_options *o, const cc_atmos_input *ain,
                                  cc_reference_context *c)
{
    cc_reference_atmos *a = &c->atmos;
    size_t n = ain->n;
    float *wv = c->wv = cc_malloc3(n, sizeof(float), 1);
    if (!wv)
        return CC_ERR_NOMEM;
    if (!isnan(o->water_vapour)) {
        a->water_vapour = o->water_vapour;
        a->wv_source = "option";
    } else {
        size_t nv = 0;
        cc_status st = cc_atmos_retrieve_wv(ain, wv, &a->water_vapour, &nv);
        if (st == CC_ERR_NOMEM)
            return st;
        if (st == CC_OK && nv > 0) {
            a->wv_source = ain->toa[CC_B8A] ? "B9/B8A" : "B9/B8";
            return CC_OK;
        }
        cc_warn("%s: water vapour not retrievable (%s); using %.1f g cm-2", s->product_id,
                st == CC_OK ? "no valid pixel" : cc_error_message(), CC_ATMOS_DEFAULT_WV);
        a->water_vapour = CC_ATMOS_DEFAULT_WV;
        a->wv_source = "default";
    }
    for (size_t i = 0; i < n; i++)
        wv[i] = (float)a->water_vapour;
    return CC_OK;
}

static cc_status ctx_aerosol(const cc_reference_options *o, const cc_atmos_input *ain, cc_reference_context *c)
{
    cc_reference_atmos *a = &c->atmos;
    if (!isnan(o->aot550)) {
        a->aot550 = o->aot550;
        a->aot_source = "option";
        return CC_OK;
    }
    cc_aot_result ar;
    memset(&ar, 0, sizeof ar);
    cc_status st = cc_atmos_retrieve_aot(ain, a->water_vapour, &ar);
    if (st != CC_OK)
        return st;
    a->aot550 = ar.aot550;
    a->n_ddv = ar.n_ddv;
    a->aot_source = ar.fallback ? "default (too little DDV)" : "DDV";
    return CC_OK;
}

/* The retrievals on the coarse grid: TOA of B04, B08, B8A, B09, B12. */
static cc_status ctx_retrievals(const cc_scene *s, const cc_reference_options *o, cc_reference_context *c)
{
    static const int need[] = {CC_B04, CC_B08, CC_B8A, CC_B09, CC_B12};
    float *toa[CC_NBANDS] = {0};
    size_t n = cc_grid_npix(&c->cg);
    cc_status st = CC_OK;
    for (size_t i = 0; i < sizeof need / sizeof *need && st == CC_OK; i++) {
        int b = need[i];
        if (!s->band[b].present)
            continue;
        if (!(toa[b] = cc_malloc3(n, sizeof(float), 1)))
            st = CC_ERR_NOMEM;
        else
            st = ctx_coarse_band(s, b, &c->cg, toa[b]);
    }
    if (st == CC_OK) {
        cc_atmos_input ain;
        memset(&ain, 0, sizeof ain);
        ain.sc = s->spacecraft;
        ain.n = n;
        for (int b = 0; b < CC_NBANDS; b++)
            ain.toa[b] = toa[b];
        ain.tetas = c->atmos.mean_sun_zenith;
        ain.phis = c->atmos.mean_sun_azimuth;
        ain.tetav = c->atmos.mean_view_zenith;
        ain.phiv = c->atmos.mean_view_azimuth;
        ain.pressure_hpa = c->atmos.pressure_hpa;
        ain.uo3 = o->ozone;
        if ((st = ctx_water_vapour(s, o, &ain, c)) == CC_OK)
            st = ctx_aerosol(o, &ain, c);
    }
    for (int b = 0; b < CC_NBANDS; b++)
        free(toa[b]);
    return st;
}

cc_status cc_reference_context_build(const cc_scene *s, const cc_reference_options *o, const cc_grid *out,
                                     cc_reference_context **ctx)
{
    *ctx = NULL;
    cc_status st = ctx_check_options(s, o);
    if (st != CC_OK)
        return st;
    cc_reference_context *c = calloc(1, sizeof *c);
    if (!c)
        return CC_ERR_NOMEM;
    c->sc = s->spacecraft;
    for (int k = 0; k < CC_L2A_NBANDS; k++)
        c->coefs[k] = cc_smac_coefs_get(s->spacecraft, cc_l2a_bands[k]);
    c->out = *out;
    double rout = out->gt[1];
    double cres = o->context_resolution > 0 ? o->context_resolution : fmax(CTX_DEFAULT_RES, rout);
    c->cg.gt[0] = out->gt[0];
    c->cg.gt[3] = out->gt[3];
    c->cg.gt[1] = cres;
    c->cg.gt[5] = -cres;
    c->cg.width = (int)ceil(out->width * rout / cres - 1e-9);
    c->cg.height = (int)ceil(out->height * -out->gt[5] / cres - 1e-9);
    c->cg.wkt = out->wkt;
    c->ozone = o->ozone;
    c->atmos.ozone = o->ozone;
    c->atmos.grid_resolution = cres;
    if ((st = ctx_geometry(s, c)) != CC_OK || (st = ctx_pressure(o, c)) != CC_OK ||
        (st = ctx_retrievals(s, o, c)) != CC_OK) {
        cc_reference_context_free(c);
        return st;
    }
    c->aot = c->atmos.aot550;
    cc_info("atmosphere (%g m grid): AOT550 %.3f (%s), water vapour %.2f g cm-2 (%s), pressure %.1f hPa (%s), "
            "ozone %.3f",
            cres, c->atmos.aot550, c->atmos.aot_source, c->atmos.water_vapour, c->atmos.wv_source,
            c->atmos.pressure_hpa, c->atmos.pressure_source, c->atmos.ozone);
    *ctx = c;
    return CC_OK;
}

void cc_reference_context_free(cc_reference_context *c)
{
    if (!c)
        return;
    free(c->mu_s);
    free(c->mu_v);
    free(c->cos_raa);
    free(c->wv);
    free(c->pres);
    free(c);
}

const cc_reference_atmos *cc_reference_context_atmos(const cc_reference_context *c) { return &c->atmos; }

/* ---- sampling ---- */

/* Bilinear taps of output index i along one axis: coarse pixel-centre
 * coordinate u = (i + 0.5) * ratio - 0.5, clamped to [0, n - 1]. */
static void ctx_tap(int i, double ratio, int n, int *k0, int *k1, double *t)
{
    double u = (i + 0.5) * ratio - 0.5;
    if (u <= 0.0) {
        *k0 = *k1 = 0;
        *t = 0.0;
        return;
    }
    if (u >= n - 1) {
        *k0 = *k1 = n - 1;
        *t = 0.0;
        return;
    }
    *k0 = (int)u;
    *k1 = *k0 + 1;
    *t = u - *k0;
}

static double ctx_bilin(const float *f, int w, int x0, int x1, double tx, int y0, int y1, double ty)
{
    const double a = f[(size_t)y0 * w + x0], b = f[(size_t)y0 * w + x1];
    const double c = f[(size_t)y1 * w + x0], d = f[(size_t)y1 * w + x1];
    return (1.0 - ty) * ((1.0 - tx) * a + tx * b) + ty * ((1.0 - tx) * c + tx * d);
}

void cc_reference_context_fill(const cc_reference_context *c, int x0, int y0, int w, int h, cc_atmos_pixel *out)
{
    const double rx = c->out.gt[1] / c->cg.gt[1], ry = c->out.gt[5] / c->cg.gt[5];
    const int cw = c->cg.width, ch = c->cg.height;
    const float aot = ctx_q(c->aot), oz = ctx_q(c->ozone);
    const float pc = (float)(ctx_q(c->pres_const / 1013.25) * 1013.25);
    for (int r = 0; r < h; r++) {
        int j0, j1;
        double ty;
        ctx_tap(y0 + r, ry, ch, &j0, &j1, &ty);
        for (int i = 0; i < w; i++) {
            int i0, i1;
            double tx;
            ctx_tap(x0 + i, rx, cw, &i0, &i1, &tx);
            cc_atmos_pixel *p = &out[(size_t)r * w + i];
            p->mu_s = ctx_q(ctx_bilin(c->mu_s, cw, i0, i1, tx, j0, j1, ty));
            p->mu_v = ctx_q(ctx_bilin(c->mu_v, cw, i0, i1, tx, j0, j1, ty));
            p->cos_raa = ctx_q(ctx_bilin(c->cos_raa, cw, i0, i1, tx, j0, j1, ty));
            p->aot550 = aot;
            p->wv = (float)(2.0 * ctx_q(0.5 * ctx_bilin(c->wv, cw, i0, i1, tx, j0, j1, ty)));
            p->pressure_hpa =
                c->pres ? (float)(ctx_q(ctx_bilin(c->pres, cw, i0, i1, tx, j0, j1, ty) / 1013.25) * 1013.25) : pc;
            p->ozone = oz;
        }
    }
}

/* ---- SMAC per pixel ---- */

typedef cc_smac_px_dry ctx_dry;

void cc_reference_smac_pixel_sc(cc_spacecraft sc, const cc_atmos_pixel *px, const double toa[CC_L2A_NBANDS],
                                double boa[CC_L2A_NBANDS])
{
    const cc_smac_coefs *coefs[CC_L2A_NBANDS];
    for (int b = 0; b < CC_L2A_NBANDS; b++)
        coefs[b] = cc_smac_coefs_get(sc, cc_l2a_bands[b]);
    long k[CC_ATMOS_NFEATURES];
    ctx_keys(px, k);
    ctx_dry d;
    cc_smac_px_dry_compute(coefs, k, &d);
    cc_smac_px_invert(coefs, &d, k[4], toa, boa);
}

const cc_smac_coefs *const *cc_reference_context_coefs(const cc_reference_context *c) { return c->coefs; }

void cc_reference_smac_pixel(const cc_reference_context *c, const cc_atmos_pixel *px,
                             const double toa[CC_L2A_NBANDS], double boa[CC_L2A_NBANDS])
{
    cc_reference_smac_pixel_sc(c->sc, px, toa, boa);
}

/* Open-addressing table of dry terms keyed by the 6 dry feature keys;
 * emptied when 3/4 full (the values never depend on what is cached). */
#define CACHE_BITS 14
#define CACHE_N (1u << CACHE_BITS)
typedef struct {
    long key[6];
    int used;
    ctx_dry d;
} cache_entry;

struct cc_reference_smac_cache {
    size_t count;
    cache_entry e[CACHE_N];
};

cc_reference_smac_cache *cc_reference_smac_cache_new(void) { return calloc(1, sizeof(cc_reference_smac_cache)); }
void cc_reference_smac_cache_free(cc_reference_smac_cache *k) { free(k); }

void cc_reference_smac_pixel_cached(const cc_reference_context *c, cc_reference_smac_cache *kc,
                                    const cc_atmos_pixel *px, const double toa[CC_L2A_NBANDS],
                                    double boa[CC_L2A_NBANDS])
{
    long k[CC_ATMOS_NFEATURES];
    ctx_keys(px, k);
    const long dk[6] = {k[0], k[1], k[2], k[3], k[5], k[6]};
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < 6; i++)
        h = (h ^ (uint64_t)dk[i]) * 1099511628211ull;
    size_t slot = (size_t)(h >> (64 - CACHE_BITS));
    for (;;) {
        cache_entry *e = &kc->e[slot];
        if (!e->used) {
            if (kc->count >= CACHE_N / 4 * 3) {
                memset(kc->e, 0, sizeof kc->e);
                kc->count = 0;
                slot = (size_t)(h >> (64 - CACHE_BITS));
                continue;
            }
            memcpy(e->key, dk, sizeof dk);
            cc_smac_px_dry_compute(c->coefs, k, &e->d);
            e->used = 1;
            kc->count++;
            break;
        }
        if (memcmp(e->key, dk, sizeof dk) == 0)
            break;
        slot = (slot + 1) & (CACHE_N - 1);
    }
    cc_smac_px_invert(c->coefs, &kc->e[slot].d, k[4], toa, boa);
}
