/* clearcube: water vapour (B9/B8A) and DDV aerosol retrieval for the SMAC
 * reference processor. See atmos.h for the methods. */
#include "pipeline/atmos/atmos.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "kernels/smac/smac.h"

/* ------------------------------------------------------------------------ */
/* helpers                                                                   */

static double atmos_uo3(double uo3)
{
    return (isfinite(uo3) && uo3 >= 0.0) ? uo3 : CC_ATMOS_DEFAULT_UO3;
}

static int atmos_geometry_ok(double tetas, double tetav, double pressure_hpa)
{
    return isfinite(tetas) && isfinite(tetav) && isfinite(pressure_hpa) && tetas >= 0.0 &&
           tetas < 89.0 && tetav >= 0.0 && tetav < 89.0 && pressure_hpa > 0.0;
}

/* k-th smallest of v[0..n) (v is reordered). Hoare quickselect; deterministic. */
static double atmos_select(double *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        double pivot = v[lo + (hi - lo) / 2];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i <= j) {
                double tmp = v[i];
                v[i] = v[j];
                v[j] = tmp;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return v[k];
    }
    return v[k];
}

/* Median of v[0..n), n > 0 (v is reordered): mean of the two middle values
 * when n is even. */
static double atmos_median(double *v, size_t n)
{
    double hi = atmos_select(v, n, n / 2);
    if (n % 2)
        return hi;
    /* after selecting n/2, v[0..n/2) holds the smaller half */
    double lo = v[0];
    for (size_t i = 1; i < n / 2; i++)
        if (v[i] > lo)
            lo = v[i];
    return 0.5 * (lo + hi);
}

/* ------------------------------------------------------------------------ */
/* water vapour                                                              */

/* SMAC terms of the continuum band (ref) and B9 with H2O left out of tg, so
 * that the H2O transmittance can be applied for any trial u cheaply. */
typedef struct {
    cc_smac_terms ref, b9;   /* tg excludes H2O                                  */
    double a_ref, n_ref;     /* H2O coefficients of the continuum band           */
    double a9, n9;           /* H2O coefficients of B9                           */
    double m;                /* two-way air mass                                 */
} atmos_wv_model;

static int atmos_wv_model_init(atmos_wv_model *w, cc_spacecraft sc, int ref_band, double tetas,
                               double tetav, double pressure_hpa, double uo3)
{
    const cc_smac_coefs *cr = cc_smac_coefs_get(sc, ref_band);
    const cc_smac_coefs *c9 = cc_smac_coefs_get(sc, CC_B09);
    if (!cr || !c9 || !atmos_geometry_ok(tetas, tetav, pressure_hpa))
        return 0;
    cc_smac_atmos a = {.tetas = tetas, .phis = 0.0, .tetav = tetav, .phiv = 180.0,
                       .pressure_hpa = pressure_hpa, .aot550 = CC_ATMOS_WV_AOT,
                       .uo3 = atmos_uo3(uo3), .uh2o = 0.0};
    cc_smac_terms_compute(cr, &a, &w->ref);
    cc_smac_terms_compute(c9, &a, &w->b9);
    w->a_ref = cr->ah2o;
    w->n_ref = cr->nh2o;
    w->a9 = c9->ah2o;
    w->n9 = c9->nh2o;
    w->m = 1.0 / cos(tetas * 3.14159265358979323846 / 180.0) +
           1.0 / cos(tetav * 3.14159265358979323846 / 180.0);
    return 1;
}

/* Predicted B9 TOA minus observed, at x = ln u; NaN if the continuum band
 * inverts to a non-positive surface reflectance. */
static double atmos_wv_residual(const atmos_wv_model *w, double x, double rho9, double rhoref)
{
    const double um = exp(x) * w->m;
    cc_smac_terms tr = w->ref, t9 = w->b9;
    tr.tg *= exp(w->a_ref * pow(um, w->n_ref));
    t9.tg *= exp(w->a9 * pow(um, w->n9));
    const double rs = cc_smac_inverse(&tr, rhoref);
    if (!(rs > 0.0))
        return NAN;
    return cc_smac_forward(&t9, rs) - rho9;
}

static double atmos_wv_solve(const atmos_wv_model *w, double rho9, double rhoref)
{
    if (!isfinite(rho9) || !isfinite(rhoref) || rho9 <= 0.0 || rhoref < CC_ATMOS_WV_MIN_REF)
        return NAN;
    double xa = log(CC_ATMOS_WV_MIN), xb = log(CC_ATMOS_WV_MAX);
    double fa = atmos_wv_residual(w, xa, rho9, rhoref);
    double fb = atmos_wv_residual(w, xb, rho9, rhoref);
    if (isnan(fa) || isnan(fb))
        return NAN;
    /* residual decreases with u: B9 brighter than the driest case -> clamp */
    if (fa <= 0.0)
        return CC_ATMOS_WV_MIN;
    if (fb >= 0.0)
        return CC_ATMOS_WV_MAX;
    int side = 0;
    for (int it = 0; it < 100 && xb - xa > 1e-10; it++) {
        double xc = (xa * fb - xb * fa) / (fb - fa);
        double fc = atmos_wv_residual(w, xc, rho9, rhoref);
        if (isnan(fc))
            return NAN;
        if (fc == 0.0)
            return exp(xc);
        if (fc > 0.0) {
            xa = xc;
            fa = fc;
            if (side == 1)
                fb *= 0.5; /* Illinois modification */
            side = 1;
        } else {
            xb = xc;
            fb = fc;
            if (side == -1)
                fa *= 0.5;
            side = -1;
        }
    }
    return exp(0.5 * (xa + xb));
}

double cc_atmos_wv_pixel(cc_spacecraft sc, double rho9, double rho8a, double tetas, double tetav,
                         double pressure_hpa)
{
    atmos_wv_model w;
    if (!atmos_wv_model_init(&w, sc, CC_B8A, tetas, tetav, pressure_hpa, CC_ATMOS_DEFAULT_UO3))
        return NAN;
    return atmos_wv_solve(&w, rho9, rho8a);
}

/* 1 if scl is given and pixel i's class is in the bit mask of classes. */
static int atmos_scl_in(const uint8_t *scl, size_t i, uint32_t classes)
{
    return scl && scl[i] < 32 && ((classes >> scl[i]) & 1u);
}

#define SCL_BIT(c) (1u << (c))
/* WV: nodata, defective, water */
static const uint32_t scl_wv_invalid = SCL_BIT(0) | SCL_BIT(1) | SCL_BIT(6);
/* AOT: not counted as valid area: nodata, defective */
static const uint32_t scl_aot_invalid = SCL_BIT(0) | SCL_BIT(1);
/* never DDV: dark, cloud shadow, water, cloud medium/high, cirrus, snow */
static const uint32_t scl_not_ddv = SCL_BIT(2) | SCL_BIT(3) | SCL_BIT(6) | SCL_BIT(8) |
                                    SCL_BIT(9) | SCL_BIT(10) | SCL_BIT(11);

cc_status cc_atmos_retrieve_wv(const cc_atmos_input *in, float *wv, double *scene_wv,
                               size_t *n_valid)
{
    cc_status st = CC_OK;
    double *vals = NULL; /* valid retrievals for the median; freed at out */
    size_t nv = 0;

    if (scene_wv)
        *scene_wv = NAN;
    if (n_valid)
        *n_valid = 0;
    if (!in || !wv)
        return cc_error_set(CC_ERR_ARG, "atmos: water vapour retrieval called without input");
    if (!cc_smac_coefs_get(in->sc, CC_B09))
        return cc_error_set(CC_ERR_UNSUPPORTED, "atmos: no SMAC coefficients for spacecraft %s",
                            cc_spacecraft_name(in->sc));
    if (!in->toa[CC_B09])
        return cc_error_set(CC_ERR_MISSING,
                            "atmos: B09 is absent, water vapour cannot be retrieved (use the "
                            "default %.1f g cm-2)",
                            CC_ATMOS_DEFAULT_WV);
    int ref = CC_B8A;
    if (!in->toa[CC_B8A]) {
        if (!in->toa[CC_B08])
            return cc_error_set(CC_ERR_MISSING,
                                "atmos: B8A and B08 are absent, water vapour cannot be retrieved");
        ref = CC_B08;
        cc_warn("atmos: B8A absent, water vapour from B09/B08 (B08 is wider and absorbs more; "
                "less accurate)");
    }
    atmos_wv_model w;
    if (!atmos_wv_model_init(&w, in->sc, ref, in->tetas, in->tetav, in->pressure_hpa, in->uo3))
        return cc_error_set(CC_ERR_ARG,
                            "atmos: bad geometry or pressure (sun %g, view %g deg, %g hPa)",
                            in->tetas, in->tetav, in->pressure_hpa);

    const float *r9 = in->toa[CC_B09], *rr = in->toa[ref];
    const long long n = (long long)in->n;
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (long long i = 0; i < n; i++) {
        double u = NAN;
        if (!atmos_scl_in(in->scl, (size_t)i, scl_wv_invalid))
            u = atmos_wv_solve(&w, r9[i], rr[i]);
        wv[i] = (float)u;
    }

    vals = cc_malloc3(in->n ? in->n : 1, sizeof *vals, 1);
    if (!vals) {
        st = CC_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < in->n; i++)
        if (!isnan(wv[i]))
            vals[nv++] = wv[i];
    if (n_valid)
        *n_valid = nv;
    if (nv == 0) {
        st = cc_error_set(CC_ERR_NODATA,
                          "atmos: no pixel allows a water vapour retrieval (use the default "
                          "%.1f g cm-2)",
                          CC_ATMOS_DEFAULT_WV);
        goto out;
    }
    const double med = atmos_median(vals, nv);
    for (size_t i = 0; i < in->n; i++)
        if (isnan(wv[i]))
            wv[i] = (float)med;
    if (scene_wv)
        *scene_wv = med;
    cc_debug("atmos: water vapour median %.3f g cm-2 from %zu of %zu pixels (%s)", med, nv,
             in->n, ref == CC_B8A ? "B09/B8A" : "B09/B08");
out:
    free(vals);
    return st;
}

/* ------------------------------------------------------------------------ */
/* aerosol (dark dense vegetation)                                          */

#define AOT_GRID_N 501          /* tau grid 0, 0.002, ..., 1                        */
#define AOT_GRID_STEP 0.002
#define AOT_START 0.2
#define AOT_CUTOFF 0.01
#define AOT_MAX_ITER 10
#define AOT_MIN_DDV 100         /* pixels needed at the last threshold            */

/* tau of one pixel: first crossing of forward_B04(rs; tau) = toa on the grid,
 * refined linearly; 0 / 1 when censored. */
static double aot_pixel(const cc_smac_terms *grid, double rs, double toa)
{
    double fprev = cc_smac_forward(&grid[0], rs) - toa;
    if (fprev >= 0.0)
        return 0.0;
    for (int j = 1; j < AOT_GRID_N; j++) {
        double f = cc_smac_forward(&grid[j], rs) - toa;
        if (f >= 0.0)
            return AOT_GRID_STEP * ((j - 1) + fprev / (fprev - f));
        fprev = f;
    }
    return 1.0;
}

cc_status cc_atmos_retrieve_aot(const cc_atmos_input *in, double uh2o, cc_aot_result *out)
{
    cc_status st = CC_OK;
    uint8_t *cand = NULL;      /* n: 1 = DDV candidate; freed at out          */
    double *rs12 = NULL;       /* n: surface B12 of candidates; freed at out  */
    size_t *idx = NULL;        /* DDV pixel indices; freed at out             */
    double *taus = NULL;       /* per-DDV-pixel tau; freed at out             */
    cc_smac_terms *grid = NULL;/* B04 terms on the tau grid; freed at out     */

    if (!in || !out)
        return cc_error_set(CC_ERR_ARG, "atmos: AOT retrieval called without input");
    out->aot550 = CC_ATMOS_DEFAULT_AOT;
    out->n_ddv = 0;
    out->b12_max = 0.0;
    out->fallback = 1;
    const cc_smac_coefs *c4 = cc_smac_coefs_get(in->sc, CC_B04);
    const cc_smac_coefs *c12 = cc_smac_coefs_get(in->sc, CC_B12);
    if (!c4 || !c12)
        return cc_error_set(CC_ERR_UNSUPPORTED, "atmos: no SMAC coefficients for spacecraft %s",
                            cc_spacecraft_name(in->sc));
    const float *red = in->toa[CC_B04], *swir = in->toa[CC_B12];
    const float *nir = in->toa[CC_B08] ? in->toa[CC_B08] : in->toa[CC_B8A];
    if (!red || !swir || !nir)
        return cc_error_set(CC_ERR_MISSING, "atmos: AOT retrieval needs B04, B12 and B08 (or "
                                            "B8A); one is absent");
    if (!atmos_geometry_ok(in->tetas, in->tetav, in->pressure_hpa) || !isfinite(uh2o) ||
        uh2o < 0.0)
        return cc_error_set(CC_ERR_ARG,
                            "atmos: bad geometry, pressure or water vapour (sun %g, view %g "
                            "deg, %g hPa, %g g cm-2)",
                            in->tetas, in->tetav, in->pressure_hpa, uh2o);

    cand = cc_malloc3(in->n ? in->n : 1, 1, 1);
    rs12 = cc_malloc3(in->n ? in->n : 1, sizeof *rs12, 1);
    idx = cc_malloc3(in->n ? in->n : 1, sizeof *idx, 1);
    taus = cc_malloc3(in->n ? in->n : 1, sizeof *taus, 1);
    grid = cc_malloc3(AOT_GRID_N, sizeof *grid, 1);
    if (!cand || !rs12 || !idx || !taus || !grid) {
        st = CC_ERR_NOMEM;
        goto out;
    }

    /* valid pixels and DDV candidates (water and excluded classes removed) */
    size_t n_valid = 0, n_cand = 0;
    for (size_t i = 0; i < in->n; i++) {
        const double r = red[i], s = swir[i], q = nir[i];
        cand[i] = 0;
        if (!(r > 0.0) || !(s > 0.0) || !(q > 0.0) || !isfinite(r) || !isfinite(s) ||
            !isfinite(q) || atmos_scl_in(in->scl, i, scl_aot_invalid))
            continue;
        n_valid++;
        const double ndvi = (q - r) / (q + r);
        if (ndvi < 0.1 || q < 0.11 || atmos_scl_in(in->scl, i, scl_not_ddv))
            continue;
        cand[i] = 1;
        n_cand++;
    }

    cc_smac_atmos a = {.tetas = in->tetas, .phis = in->phis, .tetav = in->tetav,
                       .phiv = in->phiv, .pressure_hpa = in->pressure_hpa, .aot550 = 0.0,
                       .uo3 = atmos_uo3(in->uo3), .uh2o = uh2o};
    if (!isfinite(a.phis) || !isfinite(a.phiv))
        a.phis = a.phiv = 0.0; /* azimuths unknown: backscatter-free default */
    for (int j = 0; j < AOT_GRID_N; j++) {
        a.aot550 = AOT_GRID_STEP * j;
        cc_smac_terms_compute(c4, &a, &grid[j]);
    }

    const double thresholds[3] = {0.05, 0.10, 0.12};
    double tau = AOT_START, tau_new = NAN;
    size_t n_ddv = 0;
    double b12_max = 0.0;
    int ok = 0;
    for (int it = 0; it < AOT_MAX_ITER; it++) {
        cc_smac_terms t12;
        a.aot550 = tau;
        cc_smac_terms_compute(c12, &a, &t12);
        size_t count[3] = {0, 0, 0};
        for (size_t i = 0; i < in->n; i++) {
            if (!cand[i])
                continue;
            rs12[i] = cc_smac_inverse(&t12, swir[i]);
            for (int k = 0; k < 3; k++)
                if (rs12[i] >= 0.01 && rs12[i] <= thresholds[k])
                    count[k]++;
        }
        int k = 0;
        while (k < 2 && (double)count[k] < 0.02 * (double)n_valid)
            k++;
        b12_max = thresholds[k];
        n_ddv = count[k];
        if (n_ddv == 0 || ((double)n_ddv < 0.02 * (double)n_valid && n_ddv < AOT_MIN_DDV)) {
            ok = 0;
            break;
        }
        size_t m = 0;
        for (size_t i = 0; i < in->n; i++)
            if (cand[i] && rs12[i] >= 0.01 && rs12[i] <= b12_max)
                idx[m++] = i;
        const long long mm = (long long)m;
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
        for (long long p = 0; p < mm; p++) {
            const size_t i = idx[p];
            taus[p] = aot_pixel(grid, 0.5 * rs12[i], red[i]);
        }
        tau_new = atmos_median(taus, m);
        ok = tau_new < 1.0;
        if (!ok)
            break;
        const double change = fabs(tau_new - tau);
        tau = tau_new;
        if (change < AOT_CUTOFF)
            break;
    }

    out->n_ddv = n_ddv;
    out->b12_max = b12_max;
    if (ok) {
        out->aot550 = tau;
        out->fallback = 0;
        cc_debug("atmos: DDV AOT550 %.4f from %zu pixels (B12 <= %.2f, %zu candidates, %zu "
                 "valid)",
                 tau, n_ddv, b12_max, n_cand, n_valid);
    } else {
        cc_warn("atmos: DDV AOT retrieval failed (%zu DDV pixels of %zu valid%s); using the "
                "default AOT550 %.2f",
                n_ddv, n_valid, n_ddv ? ", no solution in [0, 1]" : "", CC_ATMOS_DEFAULT_AOT);
    }
out:
    free(cand);
    free(rs12);
    free(idx);
    free(taus);
    free(grid);
    return st;
}
