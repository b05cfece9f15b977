/* clearcube: the per-pixel state-space filter of Cloudless (see kalman.h). */
#include "pipeline/cloudless/kalman.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

const char *const cc_kf_param_names[CC_KF_NPARAMS] = {"r_s2", "r_landsat", "q_level", "q_slope", "phi",
                                                      "m0",   "p0",        "p0_slope", "sd_scale", "gate"};

float *cc_kf_param_array(cc_kf_params *p, int i)
{
    float *a[CC_KF_NPARAMS] = {p->r_s2, p->r_landsat, p->q_level,  p->q_slope,  p->phi,
                               p->m0,   p->p0,        p->p0_slope, p->sd_scale, p->gate};
    return (i >= 0 && i < CC_KF_NPARAMS) ? a[i] : NULL;
}

void cc_kf_params_default(cc_kf_params *p)
{
    for (int b = 0; b < CC_CL_NBANDS; b++) {
        p->r_s2[b] = 1e-4f;
        p->r_landsat[b] = 4e-4f;
        p->q_level[b] = 1e-4f;
        p->q_slope[b] = 1e-7f;
        p->phi[b] = 0.97f;
        p->m0[b] = 0.15f;
        p->p0[b] = 0.04f;
        p->p0_slope[b] = 1e-5f;
        p->sd_scale[b] = 1.0f;
        p->gate[b] = 0;
    }
    p->m0[6] = p->m0[7] = 0.3f; /* B08, B8A */
}

cc_status cc_kf_params_check(const cc_kf_params *p, const char *what)
{
    cc_kf_params c = *p;
    for (int i = 0; i < CC_KF_NPARAMS; i++) {
        const float *a = cc_kf_param_array(&c, i);
        for (int b = 0; b < CC_CL_NBANDS; b++) {
            float v = a[b];
            int bad = !isfinite(v);
            if (i == 0 || i == 2 || i == 3) bad |= v < 0;                  /* variances     */
            if (i == 4) bad |= v < 0 || v > 1;                             /* phi           */
            if (i == 6 || i == 8) bad |= !(v > 0);                         /* p0, sd_scale  */
            if (i == 7 || i == 9) bad |= v < 0;
            if (bad)
                return cc_error_set(CC_ERR_ARG, "%s: Kalman parameter %s of band %s is %g (out of range)",
                                    what ? what : "parameters", cc_kf_param_names[i], cc_cl_band_names[b], v);
        }
    }
    return CC_OK;
}

/* ---- one band, double precision: m[2] = (level, slope), P[3] = (ll, ls, ss) ---- */

static inline void band_predict(const cc_kf_params *p, int b, double m[2], double P[3])
{
    const double phi = p->phi[b];
    m[0] += m[1];
    m[1] *= phi;
    double ll = P[0] + 2 * P[1] + P[2] + p->q_level[b];
    double ls = phi * (P[1] + P[2]);
    double ss = phi * phi * P[2] + p->q_slope[b];
    P[0] = ll;
    P[1] = ls;
    P[2] = ss;
}

static inline void band_update(double y, double r, double gate, double m[2], double P[3])
{
    double S = P[0] + r, v0 = y - m[0];
    if (!(S > 0)) return;
    if (gate > 0 && v0 * v0 > gate * gate * S) { /* an outlier: as if its noise made it gate sd */
        S = v0 * v0 / (gate * gate);
    }
    double k0 = P[0] / S, k1 = P[1] / S, v = y - m[0];
    m[0] += k0 * v;
    m[1] += k1 * v;
    double ll = P[0] - k0 * P[0], ls = P[1] - k0 * P[1], ss = P[2] - k1 * P[1];
    P[0] = ll > 0 ? ll : 0;
    P[1] = ls;
    P[2] = ss > 0 ? ss : 0;
}

/* Predict + the day's observations (NaN: none). */
static inline void band_day(const cc_kf_params *p, int b, float ys2, float yls, double m[2], double P[3])
{
    band_predict(p, b, m, P);
    if (!isnan(ys2)) band_update(ys2, p->r_s2[b], p->gate[b], m, P);
    if (!isnan(yls) && p->r_landsat[b] > 0) band_update(yls, p->r_landsat[b], p->gate[b], m, P);
}

static inline float band_sd(const cc_kf_params *p, int b, double pll)
{
    return (float)(p->sd_scale[b] * sqrt(pll + p->r_s2[b]));
}

void cc_kf_pixel_init(const cc_kf_params *p, cc_kf_pixel *x)
{
    for (int b = 0; b < CC_CL_NBANDS; b++) {
        x->level[b] = p->m0[b];
        x->slope[b] = 0;
        x->p_ll[b] = p->p0[b];
        x->p_ls[b] = 0;
        x->p_ss[b] = p->p0_slope[b];
    }
}

void cc_kf_pixel_step(const cc_kf_params *p, cc_kf_pixel *x, const float *s2, const float *ls, float *est,
                      float *sd)
{
    for (int b = 0; b < CC_CL_NBANDS; b++) {
        double m[2] = {x->level[b], x->slope[b]}, P[3] = {x->p_ll[b], x->p_ls[b], x->p_ss[b]};
        band_day(p, b, s2 ? s2[b] : NAN, ls ? ls[b] : NAN, m, P);
        x->level[b] = (float)m[0];
        x->slope[b] = (float)m[1];
        x->p_ll[b] = (float)P[0];
        x->p_ls[b] = (float)P[1];
        x->p_ss[b] = (float)P[2];
        if (est) est[b] = x->level[b];
        if (sd) sd[b] = band_sd(p, b, x->p_ll[b]);
    }
}

void cc_kf_day(const cc_kf_params *p, cc_kf_pixel *state, size_t npix, const float *s2, const float *ls,
               float *est, float *sd)
{
    const long n = (long)npix;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) {
        const size_t o = (size_t)i * CC_CL_NBANDS;
        cc_kf_pixel_step(p, &state[i], s2 ? s2 + o : NULL, ls ? ls + o : NULL, est ? est + o : NULL,
                         sd ? sd + o : NULL);
    }
}

cc_status cc_kf_filter(const cc_kf_params *p, const cc_series *s, float *est, float *sd, cc_kf_pixel *state)
{
    cc_kf_pixel *st = state ? state : cc_malloc3(s->npix, 1, sizeof *st);
    if (!st) return cc_error_set(CC_ERR_NOMEM, "Kalman filter: out of memory (%zu pixels)", s->npix);
    for (size_t i = 0; i < s->npix; i++) cc_kf_pixel_init(p, &st[i]);
    const size_t nday = s->npix * CC_CL_NBANDS;
    for (int d = 0; d < s->ndays; d++) {
        const size_t o = (size_t)d * nday;
        cc_kf_day(p, st, s->npix, s->s2 + o, s->landsat ? s->landsat + o : NULL, est ? est + o : NULL,
                  sd ? sd + o : NULL);
    }
    if (!state) free(st);
    return CC_OK;
}

/* ---- the smoother ---- */

void cc_kf_smooth_band(const cc_kf_params *p, int b, const float *y_s2, const float *y_ls, int n, size_t stride,
                       int from, int to, double *work, float *est, float *sd)
{
    /* work[d*10 + 0..4]: filtered m0 m1 Pll Pls Pss; [5..9]: predicted. */
    double m[2] = {p->m0[b], 0}, P[3] = {p->p0[b], 0, p->p0_slope[b]};
    for (int d = 0; d < n; d++) {
        double *w = work + (size_t)d * 10;
        band_predict(p, b, m, P);
        w[5] = m[0], w[6] = m[1], w[7] = P[0], w[8] = P[1], w[9] = P[2];
        float ys = y_s2[(size_t)d * stride], yl = y_ls ? y_ls[(size_t)d * stride] : NAN;
        if (!isnan(ys)) band_update(ys, p->r_s2[b], p->gate[b], m, P);
        if (!isnan(yl) && p->r_landsat[b] > 0) band_update(yl, p->r_landsat[b], p->gate[b], m, P);
        w[0] = m[0], w[1] = m[1], w[2] = P[0], w[3] = P[1], w[4] = P[2];
    }
    /* Backward (Rauch-Tung-Striebel): ms, Ps = the smoothed day d+1. */
    const double phi = p->phi[b];
    double ms[2] = {m[0], m[1]}, Ps[3] = {P[0], P[1], P[2]};
    if (n - 1 >= from && n - 1 < to) {
        est[n - 1 - from] = (float)ms[0];
        if (sd) sd[n - 1 - from] = band_sd(p, b, Ps[0]);
    }
    for (int d = n - 2; d >= from; d--) {
        const double *f = work + (size_t)d * 10, *pr = work + (size_t)(d + 1) * 10 + 5;
        /* A = Pf F' */
        double a00 = f[2] + f[3], a01 = phi * f[3], a10 = f[3] + f[4], a11 = phi * f[4];
        double det = pr[2] * pr[4] - pr[3] * pr[3];
        double g00, g01, g10, g11;
        if (det > 1e-14 * (pr[2] * pr[4]) && det > 0) {
            double i00 = pr[4] / det, i01 = -pr[3] / det, i11 = pr[2] / det;
            g00 = a00 * i00 + a01 * i01, g01 = a00 * i01 + a01 * i11;
            g10 = a10 * i00 + a11 * i01, g11 = a10 * i01 + a11 * i11;
        } else { /* slope not identified: the level part only */
            double il = pr[2] > 0 ? 1.0 / pr[2] : 0;
            g00 = a00 * il, g01 = 0, g10 = a10 * il, g11 = 0;
        }
        double dm0 = ms[0] - pr[0], dm1 = ms[1] - pr[1];
        double dP0 = Ps[0] - pr[2], dP1 = Ps[1] - pr[3], dP2 = Ps[2] - pr[4];
        ms[0] = f[0] + g00 * dm0 + g01 * dm1;
        ms[1] = f[1] + g10 * dm0 + g11 * dm1;
        /* G dP G' */
        double t00 = g00 * dP0 + g01 * dP1, t01 = g00 * dP1 + g01 * dP2;
        double t10 = g10 * dP0 + g11 * dP1, t11 = g10 * dP1 + g11 * dP2;
        Ps[0] = f[2] + t00 * g00 + t01 * g01;
        Ps[1] = f[3] + t00 * g10 + t01 * g11;
        Ps[2] = f[4] + t10 * g10 + t11 * g11;
        if (Ps[0] < 0) Ps[0] = 0;
        if (d < to) {
            est[d - from] = (float)ms[0];
            if (sd) sd[d - from] = band_sd(p, b, Ps[0]);
        }
    }
}

cc_status cc_kf_smooth_day(const cc_kf_params *p, const cc_series *s, int t, float *out, float *sd)
{
    cc_kf_predictor_ctx c = {.params = p, .reanalysis = 1, .use_landsat = 1, .only_missing = 0, .sd = sd};
    return cc_kf_predictor(&c, s, t, out);
}

static int observed(const float *v)
{
    for (int b = 0; b < CC_CL_NBANDS; b++)
        if (!isnan(v[b])) return 1;
    return 0;
}

cc_status cc_kf_predictor(void *ctx, const cc_series *s, int t, float *out)
{
    const cc_kf_predictor_ctx *c = ctx;
    const cc_kf_params *p = c->params;
    if (t < 0 || t >= s->ndays)
        return cc_error_set(CC_ERR_ARG, "Kalman: day index %d outside the series (%d days)", t, s->ndays);
    const size_t npix = s->npix, nb = CC_CL_NBANDS, stride = npix * nb;
    const int n = s->ndays;
    const float *ls = (c->use_landsat && s->landsat) ? s->landsat : NULL;
    int fail = 0;
#pragma omp parallel
    {
        double *work = c->reanalysis ? malloc((size_t)n * 10 * sizeof *work) : NULL;
        if (c->reanalysis && !work) {
#pragma omp atomic write
            fail = 1;
        }
#pragma omp for schedule(dynamic, 64)
        for (long i = 0; i < (long)npix; i++) {
            const size_t px = (size_t)i;
            float *o = out + px * nb, *so = c->sd ? c->sd + px * nb : NULL;
            for (size_t b = 0; b < nb; b++) {
                o[b] = NAN;
                if (so) so[b] = NAN;
            }
            if (c->only_missing && observed(s->s2 + (size_t)t * stride + px * nb)) continue;
            if (c->reanalysis) {
                if (!work) continue;
                for (int b = 0; b < (int)nb; b++) {
                    float e = NAN, sv = NAN;
                    cc_kf_smooth_band(p, b, s->s2 + px * nb + b, ls ? ls + px * nb + b : NULL, n, stride, t, t + 1,
                                      work, &e, &sv);
                    o[b] = e;
                    if (so) so[b] = sv;
                }
            } else {
                cc_kf_pixel x;
                cc_kf_pixel_init(p, &x);
                for (int d = 0; d <= t; d++)
                    cc_kf_pixel_step(p, &x, s->s2 + (size_t)d * stride + px * nb,
                                     ls ? ls + (size_t)d * stride + px * nb : NULL, d == t ? o : NULL,
                                     d == t ? so : NULL);
            }
        }
        free(work);
    }
    if (fail) return cc_error_set(CC_ERR_NOMEM, "Kalman: out of memory (%d days)", n);
    return CC_OK;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

cc_status cc_kf_noise_factor(const cc_kf_params *p, const cc_series *s, int pixel_step, double f[CC_CL_NBANDS])
{
    const size_t npix = s->npix, nb = CC_CL_NBANDS, stride = npix * nb, step = pixel_step > 0 ? (size_t)pixel_step : 1;
    const size_t cap = ((npix + step - 1) / step) * (size_t)s->ndays;
    float *z = cc_malloc3(cap ? cap : 1, 1, sizeof *z);
    if (!z) return cc_error_set(CC_ERR_NOMEM, "Kalman noise factor: out of memory");
    for (size_t b = 0; b < nb; b++) {
        size_t nz = 0;
        for (size_t q = 0; q < npix; q += step) {
            double m[2] = {p->m0[b], 0}, P[3] = {p->p0[b], 0, p->p0_slope[b]};
            for (int d = 0; d < s->ndays; d++) {
                band_predict(p, (int)b, m, P);
                float y = s->s2[(size_t)d * stride + q * nb + b];
                if (isnan(y)) continue;
                double S = P[0] + p->r_s2[b];
                if (S > 0 && nz < cap) z[nz++] = (float)(fabs(y - m[0]) / sqrt(S));
                band_update(y, p->r_s2[b], p->gate[b], m, P);
            }
        }
        f[b] = NAN;
        if (nz >= 20) {
            qsort(z, nz, sizeof *z, cmp_float);
            f[b] = z[(size_t)ceil(0.9 * (double)nz) - 1] / 1.64485;
        }
    }
    free(z);
    return CC_OK;
}
