/* clearcube: gap-filling evaluation on real series, leave-one-series-out
 * (see gapfill_real.h): loading the series, targets, fitting, evaluation. The
 * report and the pictures are in gapfill_real_report.c. */
#include "pipeline/cloudless/gapfill_real.h"

#include <math.h>
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/date.h"
#include "io/cube.h"
#include "io/landsat/landsat.h"
#include "pipeline/cloudless/cloudless_product.h"
#include "pipeline/cloudless/gapfill.h"

/* The sensor cubes' cloud_mask holds the classes of cloudmask.h plus one
 * (0 = no value): cloud 2 + 1, shadow 3 + 1. */
enum { CUBE_MASK_CLOUD = 3, CUBE_MASK_SHADOW = 4 };

const double cc_gfr_lambda[CC_GFR_NLAMBDA] = {10, 100, 1000, 10000, 100000};
const double cc_gfr_ridge[CC_GFR_NRIDGE] = {0.001, 0.01, 0.1, 1, 10, INFINITY};
const double cc_gfr_levels[CC_GFR_NLEVELS] = {0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99};
/* Two-sided standard normal quantiles of the levels. */
static const double level_z[CC_GFR_NLEVELS] = {0.67449, 0.84162, 1.03643, 1.28155, 1.64485, 1.95996, 2.57583};

void cc_gfr_protocol_init(cc_gfr_protocol *p)
{
    p->seed = 1;
    p->min_clear = 0.30;
    p->min_cloud = 0.10;
    p->max_targets = 0;
    p->pixel_step = 2;
}

void cc_gfr_free(cc_gfr_series *g)
{
    cc_series_free(&g->s);
    free(g->acq);
    free(g->cloud);
    g->acq = NULL;
    g->cloud = NULL;
    g->nacq = 0;
}

static int any_finite(const float *v)
{
    for (int b = 0; b < CC_CL_NBANDS; b++)
        if (!isnan(v[b])) return 1;
    return 0;
}

/* ---- loading ---- */

/* The S2 cube's dates (rounded days) and cloud masks. */
static cc_status cube_masks(const char *dir, const char *tile, cc_gfr_series *g, long **days_out, int *nt_out)
{
    char path[4096];
    cc_cube_sensor_path(path, sizeof path, dir, tile, CC_SENSOR_S2);
    int nc = -1, dim, tv, mv, e;
    size_t nt = 0, w = 0, h = 0;
    cc_status st = CC_ERR_FORMAT;
    double *t = NULL;
    uint16_t *m = NULL;
    long *days = NULL;
    if ((e = nc_open(path, NC_NOWRITE, &nc)) != NC_NOERR) {
        st = cc_error_set(CC_ERR_MISSING, "%s: cannot open the Sentinel-2 cube of the series: %s", path, nc_strerror(e));
        nc = -1;
        goto out;
    }
    if (nc_inq_dimid(nc, "time", &dim) || nc_inq_dimlen(nc, dim, &nt) || nc_inq_dimid(nc, "x", &dim) ||
        nc_inq_dimlen(nc, dim, &w) || nc_inq_dimid(nc, "y", &dim) || nc_inq_dimlen(nc, dim, &h) ||
        nc_inq_varid(nc, "time", &tv)) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: not a clearcube sensor cube (no time, x, y)", path);
        goto out;
    }
    if (nc_inq_varid(nc, "cloud_mask", &mv) != NC_NOERR) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: no cloud_mask (the real cloud shapes of the protocol): ingest the "
                                         "Sentinel-2 file that has SCL", path);
        goto out;
    }
    if (nt < 3) {
        st = cc_error_set(CC_ERR_NODATA, "%s: %zu dates, the evaluation needs at least 3", path, nt);
        goto out;
    }
    g->width = (int)w, g->height = (int)h;
    const size_t npix = w * h;
    t = malloc(nt * sizeof *t);
    days = malloc(nt * sizeof *days);
    m = cc_malloc3(npix, 1, sizeof *m);
    g->cloud = cc_malloc3(nt, npix, 1);
    g->acq = malloc(nt * sizeof *g->acq);
    if (!t || !days || !m || !g->cloud || !g->acq) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    if (nc_get_var_double(nc, tv, t) != NC_NOERR) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: time unreadable", path);
        goto out;
    }
    for (size_t i = 0; i < nt; i++) {
        days[i] = (long)floor(t[i] + 0.5);
        if (i > 0 && days[i] <= days[i - 1]) {
            st = cc_error_set(CC_ERR_FORMAT, "%s: dates not increasing at index %zu", path, i);
            goto out;
        }
        size_t start[3] = {i, 0, 0}, count[3] = {1, h, w};
        if (nc_get_vara_ushort(nc, mv, start, count, m) != NC_NOERR) {
            st = cc_error_set(CC_ERR_FORMAT, "%s: cloud_mask of date %zu unreadable", path, i);
            goto out;
        }
        for (size_t p = 0; p < npix; p++)
            g->cloud[i * npix + p] = m[p] == CUBE_MASK_CLOUD || m[p] == CUBE_MASK_SHADOW;
    }
    *days_out = days;
    days = NULL;
    *nt_out = (int)nt;
    st = CC_OK;
out:
    if (nc >= 0) nc_close(nc);
    free(t);
    free(m);
    free(days);
    return st;
}

static cc_status load_cube(const char *dir, const char *tile, cc_gfr_series *g)
{
    long *days = NULL;
    int nt = 0;
    cc_status st = cube_masks(dir, tile, g, &days, &nt);
    if (st != CC_OK) return st;
    const long day0 = days[0];
    const int ndays = (int)(days[nt - 1] - day0 + 1);
    unsigned sensors = (1u << CC_SENSOR_S2) | (1u << CC_SENSOR_LANDSAT) | (1u << CC_SENSOR_S1);
    st = cc_cloudless_load(dir, tile, sensors, day0, ndays, 0, 0, g->width, g->height, &g->s, NULL, NULL);
    if (st == CC_OK) {
        g->nacq = nt;
        for (int i = 0; i < nt; i++) g->acq[i] = (int)(days[i] - day0);
        snprintf(g->name, sizeof g->name, "cube:%s", tile);
    }
    free(days);
    return st;
}

static cc_status load_landsat_year(const char *dir, int year, cc_gfr_series *g)
{
    cc_landsat_espa_series ls;
    memset(&ls, 0, sizeof ls);
    cc_status st = cc_landsat_espa_load(dir, &ls);
    if (st != CC_OK) return st;
    const long day0 = cc_date_to_days(year, 1, 1);
    const int ndays = cc_date_is_leap(year) ? 366 : 365;
    const size_t npix = (size_t)ls.width * (size_t)ls.height;
    g->width = ls.width, g->height = ls.height;
    g->acq = malloc(((size_t)ls.nscenes + 1) * sizeof *g->acq);
    g->cloud = cc_malloc3((size_t)ls.nscenes + 1, npix, 1);
    if (!g->acq || !g->cloud) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", dir);
        goto out;
    }
    for (int i = 0; i < ls.nscenes; i++) {
        long d = ls.scenes[i].day - day0;
        if (d < 0 || d >= ndays || (g->nacq > 0 && g->acq[g->nacq - 1] == (int)d)) continue;
        const uint8_t *fm = ls.scenes[i].fmask;
        for (size_t p = 0; p < npix; p++)
            g->cloud[(size_t)g->nacq * npix + p] = fm[p] == CC_FMASK_CLOUD || fm[p] == CC_FMASK_SHADOW;
        g->acq[g->nacq++] = (int)d;
    }
    if (g->nacq < 3) {
        st = cc_error_set(CC_ERR_NODATA, "%s: %d acquisitions in %d, the evaluation needs at least 3", dir, g->nacq,
                          year);
        goto out;
    }
    if ((st = cc_gapfill_landsat_series(&ls, day0, ndays, &g->s)) != CC_OK) goto out;
    snprintf(g->name, sizeof g->name, "landsat:%d", year);
out:
    cc_landsat_espa_free(&ls);
    return st;
}

cc_status cc_gfr_load(const char *spec, cc_gfr_series *g)
{
    memset(g, 0, sizeof *g);
    if (strlen(spec) >= sizeof g->spec)
        return cc_error_set(CC_ERR_ARG, "series spec too long (%zu characters)", strlen(spec));
    snprintf(g->spec, sizeof g->spec, "%s", spec);
    char buf[4200];
    snprintf(buf, sizeof buf, "%s", spec);
    char *kind = buf, *c1 = strchr(buf, ':'), *c2 = c1 ? strrchr(c1 + 1, ':') : NULL;
    if (!c1 || !c2 || c2 == c1 + 1 || !c2[1])
        return cc_error_set(CC_ERR_ARG, "%s: a series is cube:DIR:TILE or landsat:DIR:YEAR", spec);
    *c1 = 0;
    *c2 = 0;
    const char *path = c1 + 1, *arg = c2 + 1;
    cc_status st;
    if (!strcmp(kind, "cube")) {
        st = load_cube(path, arg, g);
    } else if (!strcmp(kind, "landsat")) {
        char *end;
        long y = strtol(arg, &end, 10);
        if (*end || y < 1972 || y > 2100)
            return cc_error_set(CC_ERR_ARG, "%s: YEAR must be a year (1972..2100)", spec);
        st = load_landsat_year(path, (int)y, g);
    } else {
        return cc_error_set(CC_ERR_ARG, "%s: unknown series kind '%s' (cube or landsat)", spec, kind);
    }
    if (st != CC_OK) {
        cc_gfr_free(g);
        return st;
    }
    const size_t nls = (size_t)g->s.ndays * g->s.npix * CC_CL_NBANDS;
    for (size_t i = 0; i < nls && !g->has_landsat; i++) g->has_landsat = !isnan(g->s.landsat[i]);
    return CC_OK;
}

/* ---- targets ---- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void cc_gfr_targets_free(cc_gfr_targets *t)
{
    free(t->day);
    free(t->donor);
    free(t->hide);
    memset(t, 0, sizeof *t);
}

cc_status cc_gfr_targets_make(const cc_gfr_series *g, const cc_gfr_protocol *p, cc_gfr_targets *t)
{
    memset(t, 0, sizeof *t);
    const size_t npix = g->s.npix, nday = npix * CC_CL_NBANDS;
    const int na = g->nacq;
    t->day = malloc((size_t)na * sizeof *t->day);
    t->donor = malloc((size_t)na * sizeof *t->donor);
    t->hide = cc_malloc3((size_t)na, npix, 1);
    int *perm = malloc((size_t)na * sizeof *perm), *ok = calloc((size_t)na, sizeof *ok);
    double *cloudf = malloc((size_t)na * sizeof *cloudf);
    if (!t->day || !t->donor || !t->hide || !perm || !ok || !cloudf) {
        free(perm), free(ok), free(cloudf);
        cc_gfr_targets_free(t);
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", g->name);
    }
    for (int i = 0; i < na; i++) {
        long nc = 0;
        for (size_t q = 0; q < npix; q++) nc += g->cloud[(size_t)i * npix + q];
        cloudf[i] = (double)nc / (double)npix;
    }
    for (int i = 0; i < na; i++) {
        const float *obs = g->s.s2 + (size_t)g->acq[i] * nday;
        long nclear = 0;
        for (size_t q = 0; q < npix; q++) nclear += any_finite(obs + q * CC_CL_NBANDS);
        if ((double)nclear < p->min_clear * (double)npix || nclear == 0) continue;
        int nd = 0;
        for (int j = 0; j < na; j++)
            if (j != i && cloudf[j] >= p->min_cloud && cloudf[j] > 0) perm[nd++] = j;
        uint64_t x = (uint64_t)p->seed * 0x100000001b3ULL ^ (uint64_t)(g->s.day0 + g->acq[i]);
        for (int k = nd - 1; k > 0; k--) {
            int j = (int)(splitmix64(&x) % (uint64_t)(k + 1)), tmp = perm[k];
            perm[k] = perm[j], perm[j] = tmp;
        }
        uint8_t *h = t->hide + (size_t)t->n * npix;
        for (int k = 0; k < nd; k++) {
            const uint8_t *cm = g->cloud + (size_t)perm[k] * npix;
            long nh = 0;
            for (size_t q = 0; q < npix; q++) {
                h[q] = cm[q] && any_finite(obs + q * CC_CL_NBANDS);
                nh += h[q];
            }
            if (nh > 0) {
                t->day[t->n] = g->acq[i];
                t->donor[t->n] = g->acq[perm[k]];
                t->n++;
                break;
            }
        }
    }
    if (p->max_targets > 0 && t->n > p->max_targets) { /* evenly thinned, in place */
        int m = p->max_targets;
        for (int k = 0; k < m; k++) {
            int src = (int)((long)k * t->n / m);
            t->day[k] = t->day[src];
            t->donor[k] = t->donor[src];
            if (src != k) memcpy(t->hide + (size_t)k * npix, t->hide + (size_t)src * npix, npix);
        }
        t->n = m;
    }
    free(perm);
    free(ok);
    free(cloudf);
    return CC_OK;
}

/* ---- the fit ---- */

/* Grid: gate in {off, 10} x q_level / r in {0.003, 0.03, 0.1, 0.3, 1, 3} x
 * {random walk; q_slope / r in {1e-3, 1e-2} x phi in {0.9, 0.99}}. */
#define NQL 6
static const double grid_ql[NQL] = {0.003, 0.03, 0.1, 0.3, 1, 3};
static const double grid_qs[5] = {0, 1e-3, 1e-3, 1e-2, 1e-2};
static const double grid_phi[5] = {0, 0.9, 0.99, 0.9, 0.99};
_Static_assert(2 * NQL * 5 == CC_GFR_NGRID, "grid size");

void cc_gfr_grid_params(int k, int b, cc_kf_params *p)
{
    const double r = 1e-4;
    int ig = k / (NQL * 5), iq = (k / 5) % NQL, is = k % 5;
    p->gate[b] = ig ? 10.0f : 0.0f;
    p->r_s2[b] = (float)r;
    p->r_landsat[b] = (float)(r + 0.02 * 0.02);
    p->q_level[b] = (float)(grid_ql[iq] * r);
    p->q_slope[b] = (float)(grid_qs[is] * r);
    p->phi[b] = (float)grid_phi[is];
    p->p0_slope[b] = grid_phi[is] < 1 ? (float)(p->q_slope[b] / (1 - grid_phi[is] * grid_phi[is])) : 0;
    p->sd_scale[b] = 1;
}

/* The s2 slot with every target's hidden pixels removed (malloc'd). */
static float *hidden_copy(const cc_gfr_series *g, const cc_gfr_targets *t)
{
    const size_t npix = g->s.npix, nday = npix * CC_CL_NBANDS, n = (size_t)g->s.ndays * nday;
    float *c = cc_malloc3(n, 1, sizeof *c);
    if (!c) return NULL;
    memcpy(c, g->s.s2, n * sizeof *c);
    for (int k = 0; k < t->n; k++)
        for (size_t q = 0; q < npix; q++)
            if (t->hide[(size_t)k * npix + q])
                for (int b = 0; b < CC_CL_NBANDS; b++) c[(size_t)t->day[k] * nday + q * CC_CL_NBANDS + b] = NAN;
    return c;
}

/* Per scored pixel and band, a row: the squared errors of the grid points,
 * of the lambdas, of linear interpolation, then the count; then the
 * observation count, sum and sum of squares. */
#define ROW (CC_GFR_NGRID + CC_GFR_NLAMBDA + 5)

/* The row of one pixel and band: y the series the methods see, tr the truth,
 * h the hidden days (contiguous, n days); work 10 n doubles, est 3 n floats. */
static cc_status table_row(int b, const float *y, const float *tr, const uint8_t *h, int n, double *work, float *est,
                           double *rb)
{
    float *wz = est + n, *lz = est + 2 * n;
    int any = 0, nv = 0;
    for (int d = 0; d < n; d++) {
        any |= h[d] && !isnan(tr[d]);
        if (!isnan(y[d])) {
            nv++;
            rb[ROW - 3] += 1;
            rb[ROW - 2] += y[d];
            rb[ROW - 1] += (double)y[d] * y[d];
        }
    }
    if (!any || nv == 0) return CC_OK;
    for (int k = 0; k < CC_GFR_NGRID; k++) {
        cc_kf_params kp;
        cc_kf_params_default(&kp);
        cc_gfr_grid_params(k, b, &kp);
        cc_kf_smooth_band(&kp, b, y, NULL, n, 1, 0, n, work, est, NULL);
        for (int d = 0; d < n; d++)
            if (h[d] && !isnan(tr[d])) rb[k] += (est[d] - tr[d]) * (double)(est[d] - tr[d]);
    }
    cc_gapfill_linear(y, n, 1, lz);
    for (int l = 0; l < CC_GFR_NLAMBDA; l++) {
        cc_status st = cc_gapfill_whittaker(y, n, 1, cc_gfr_lambda[l], 2, wz);
        if (st != CC_OK) return st;
        for (int d = 0; d < n; d++) {
            if (!h[d] || isnan(tr[d])) continue;
            float v = isnan(wz[d]) ? lz[d] : wz[d]; /* fewer than 3 samples: linear (as gapfill_eval) */
            rb[CC_GFR_NGRID + l] += (v - tr[d]) * (double)(v - tr[d]);
        }
    }
    for (int d = 0; d < n; d++)
        if (h[d] && !isnan(tr[d])) {
            rb[CC_GFR_NGRID + CC_GFR_NLAMBDA] += (lz[d] - tr[d]) * (double)(lz[d] - tr[d]);
            rb[CC_GFR_NGRID + CC_GFR_NLAMBDA + 1] += 1;
        }
    return CC_OK;
}

cc_status cc_gfr_table_make(const cc_gfr_series *g, const cc_gfr_targets *t, const cc_gfr_protocol *p,
                            cc_gfr_table *tab)
{
    memset(tab, 0, sizeof *tab);
    const size_t npix = g->s.npix, nb = CC_CL_NBANDS, stride = npix * nb;
    const int n = g->s.ndays, step = p->pixel_step > 0 ? p->pixel_step : 1;
    const long nsub = (long)((npix + (size_t)step - 1) / (size_t)step);
    float *seen = hidden_copy(g, t);
    double *rows = cc_malloc3((size_t)nsub, nb * ROW, sizeof *rows);
    uint8_t *hday = calloc((size_t)n, npix);
    if (!seen || !rows || !hday) {
        free(seen), free(rows), free(hday);
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory (fit table)", g->name);
    }
    for (int k = 0; k < t->n; k++)
        for (size_t q = 0; q < npix; q++) hday[(size_t)t->day[k] * npix + q] |= t->hide[(size_t)k * npix + q];
    int fail = 0;
#pragma omp parallel
    {
        double *work = malloc((size_t)n * 10 * sizeof *work);
        float *buf = malloc((size_t)n * 6 * sizeof *buf);
        uint8_t *h = malloc((size_t)n);
        if (!work || !buf || !h) {
#pragma omp atomic write
            fail = 1;
        }
#pragma omp for schedule(dynamic, 16)
        for (long i = 0; i < nsub; i++) {
            const size_t q = (size_t)i * (size_t)step;
            double *row = rows + (size_t)i * nb * ROW;
            memset(row, 0, nb * ROW * sizeof *row);
            if (!work || !buf || !h) continue;
            float *y = buf, *tr = buf + n, *est = buf + 2 * n;
            for (int d = 0; d < n; d++) h[d] = hday[(size_t)d * npix + q];
            for (size_t b = 0; b < nb; b++) {
                for (int d = 0; d < n; d++) {
                    y[d] = seen[(size_t)d * stride + q * nb + b];
                    tr[d] = g->s.s2[(size_t)d * stride + q * nb + b];
                }
                if (table_row((int)b, y, tr, h, n, work, est, row + b * ROW) != CC_OK) {
#pragma omp atomic write
                    fail = 2;
                }
            }
        }
        free(work);
        free(buf);
        free(h);
    }
    cc_status st = CC_OK;
    if (fail)
        st = cc_error_set(fail == 1 ? CC_ERR_NOMEM : CC_ERR_ARG, "%s: fit table failed (%s)", g->name,
                          fail == 1 ? "out of memory" : "Whittaker");
    /* Reduction in pixel order: the same sums for any number of threads. */
    for (long i = 0; st == CC_OK && i < nsub; i++)
        for (size_t b = 0; b < nb; b++) {
            const double *rb = rows + ((size_t)i * nb + b) * ROW;
            for (int k = 0; k < CC_GFR_NGRID; k++) tab->kf_sq[k][b] += rb[k];
            for (int l = 0; l < CC_GFR_NLAMBDA; l++) tab->wh_sq[l][b] += rb[CC_GFR_NGRID + l];
            tab->lin_sq[b] += rb[CC_GFR_NGRID + CC_GFR_NLAMBDA];
            tab->n[b] += rb[CC_GFR_NGRID + CC_GFR_NLAMBDA + 1];
            tab->obs_n[b] += rb[ROW - 3];
            tab->obs_sum[b] += rb[ROW - 2];
            tab->obs_sq[b] += rb[ROW - 1];
        }
    free(rows);
    free(seen);
    free(hday);
    return st;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Appends |error| / sd (sd with sd_scale 1) of every hidden value of g, with
 * all targets hidden at once, to z[b] (counts in nz[b]; capacity cap each). */
/* The noise factor of g as a run sees it (every target hidden), with p
 * (gapfill_real.h: the adaptive sd calibration); bands without enough
 * observations get 1. */
static cc_status seen_noise(const cc_gfr_series *g, const cc_gfr_targets *t, const cc_gfr_protocol *pr,
                            const cc_kf_params *p, double f[CC_CL_NBANDS])
{
    float *seen = hidden_copy(g, t);
    if (!seen) return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", g->name);
    cc_series s = g->s;
    s.s2 = seen;
    cc_status st = cc_kf_noise_factor(p, &s, pr->pixel_step, f);
    for (int b = 0; b < CC_CL_NBANDS; b++)
        if (!(f[b] > 0)) f[b] = 1;
    free(seen);
    return st;
}

/* Gap stratum of day d in y (n days): days between the visible samples around it. */
static int gap_stratum(const float *y, int n, int d)
{
    int prev = -1, next = -1;
    for (int i = d - 1; i >= 0 && prev < 0; i--)
        if (!isnan(y[i])) prev = i;
    for (int i = d + 1; i < n && next < 0; i++)
        if (!isnan(y[i])) next = i;
    return cc_gapfill_stratum(prev >= 0 && next >= 0 ? next - prev : -1);
}

static void stack_add(cc_gfr_stack *sk, int b, int j, double kf, double lin, double wh, double truth)
{
    double x0 = lin - kf, x1 = wh - kf, r = truth - kf;
    sk->xtx[b][j][0] += x0 * x0, sk->xtx[b][j][1] += x0 * x1, sk->xtx[b][j][2] += x1 * x1;
    sk->xtr[b][j][0] += x0 * r, sk->xtr[b][j][1] += x1 * r;
    sk->rr[b][j] += r * r, sk->n[b][j] += 1;
}

static cc_status collect_z(const cc_gfr_series *g, const cc_gfr_targets *t, const cc_gfr_protocol *pr,
                           const cc_kf_params *p, double lambda, double **z, size_t *nz, size_t *cap,
                           cc_gfr_stack *sk)
{
    double f[CC_CL_NBANDS];
    cc_status fs = seen_noise(g, t, pr, p, f);
    if (fs != CC_OK) return fs;
    const size_t npix = g->s.npix, nb = CC_CL_NBANDS, stride = npix * nb;
    const int n = g->s.ndays, step = pr->pixel_step > 0 ? pr->pixel_step : 1;
    float *seen = hidden_copy(g, t);
    uint8_t *hday = calloc((size_t)n, npix);
    double *work = malloc((size_t)n * 10 * sizeof *work);
    float *buf = malloc((size_t)n * 6 * sizeof *buf);
    cc_status st = CC_OK;
    memset(sk, 0, sizeof *sk);
    if (!seen || !hday || !work || !buf) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory (calibration)", g->name);
        goto out;
    }
    for (int k = 0; k < t->n; k++)
        for (size_t q = 0; q < npix; q++) hday[(size_t)t->day[k] * npix + q] |= t->hide[(size_t)k * npix + q];
    for (size_t q = 0; q < npix; q += (size_t)step)
        for (size_t b = 0; b < nb; b++) {
            float *y = buf, *tr = buf + n, *est = buf + 2 * n, *sd = buf + 3 * n, *lin = buf + 4 * n, *wh = buf + 5 * n;
            int any = 0;
            for (int d = 0; d < n; d++) {
                y[d] = seen[(size_t)d * stride + q * nb + b];
                tr[d] = g->s.s2[(size_t)d * stride + q * nb + b];
                any |= hday[(size_t)d * npix + q] && !isnan(tr[d]);
            }
            if (!any) continue;
            cc_kf_smooth_band(p, (int)b, y, NULL, n, 1, 0, n, work, est, sd);
            cc_gapfill_linear(y, n, 1, lin);
            if (cc_gapfill_whittaker(y, n, 1, lambda, 2, wh) != CC_OK) {
                st = cc_error_status();
                goto out;
            }
            for (int d = 0; d < n; d++) {
                if (!hday[(size_t)d * npix + q] || isnan(tr[d]) || !(sd[d] > 0)) continue;
                if (!isnan(lin[d]))
                    stack_add(sk, (int)b, gap_stratum(y, n, d), est[d], lin[d], isnan(wh[d]) ? lin[d] : wh[d], tr[d]);
                if (nz[b] == cap[b]) {
                    size_t nc = cap[b] ? 2 * cap[b] : 4096;
                    double *zz = realloc(z[b], nc * sizeof *zz);
                    if (!zz) {
                        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory (calibration)", g->name);
                        goto out;
                    }
                    z[b] = zz, cap[b] = nc;
                }
                z[b][nz[b]++] = fabs(est[d] - tr[d]) / (sd[d] * f[b]); /* relative to the series' own noise */
            }
        }
out:
    free(seen);
    free(hday);
    free(work);
    free(buf);
    return st;
}

/* Ridge weights of band b, stratum j from the stacks of the series other
 * than `skip` (-1: all), relative strength rel (INFINITY: 0). */
static void ridge_w(const cc_gfr_stack *sk, int ns, int skip, int b, int j, double rel, double w[2])
{
    double a = 0, c = 0, d = 0, e0 = 0, e1 = 0;
    for (int i = 0; i < ns; i++) {
        if (i == skip) continue;
        a += sk[i].xtx[b][j][0], c += sk[i].xtx[b][j][1], d += sk[i].xtx[b][j][2];
        e0 += sk[i].xtr[b][j][0], e1 += sk[i].xtr[b][j][1];
    }
    w[0] = w[1] = 0;
    if (!isfinite(rel) || !(a + d > 0)) return;
    double lam = rel * (a + d) / 2, A = a + lam, D = d + lam, det = A * D - c * c;
    if (!(det > 0)) return;
    w[0] = (D * e0 - c * e1) / det;
    w[1] = (A * e1 - c * e0) / det;
}

/* The correction: the ridge strength of the lowest leave-one-training-
 * series-out squared error (summed over bands and strata), then the weights
 * on every training series. */
static cc_status fit_stack(const cc_gfr_stack *sk, int ns, cc_gfr_fit *fit)
{
    int best = CC_GFR_NRIDGE - 1;
    for (int k = 0; k < CC_GFR_NRIDGE; k++) {
        double sse = 0;
        for (int i = 0; i < ns; i++)
            for (int b = 0; b < CC_CL_NBANDS; b++)
                for (int j = 0; j < CC_GAPFILL_NSTRATA; j++) {
                    double w[2];
                    ridge_w(sk, ns, ns > 1 ? i : -1, b, j, cc_gfr_ridge[k], w);
                    const double *x = sk[i].xtx[b][j], *e = sk[i].xtr[b][j];
                    sse += sk[i].rr[b][j] - 2 * (w[0] * e[0] + w[1] * e[1]) + w[0] * w[0] * x[0] +
                           2 * w[0] * w[1] * x[1] + w[1] * w[1] * x[2];
                }
        fit->ridge_cv_sse[k] = sse;
        if (sse < fit->ridge_cv_sse[best] || k == 0) best = k;
    }
    /* ties and near-ties go to the plain filter (the last candidate) */
    if (!(fit->ridge_cv_sse[best] < fit->ridge_cv_sse[CC_GFR_NRIDGE - 1])) best = CC_GFR_NRIDGE - 1;
    fit->ridge = best;
    for (int b = 0; b < CC_CL_NBANDS; b++)
        for (int j = 0; j < CC_GAPFILL_NSTRATA; j++) ridge_w(sk, ns, -1, b, j, cc_gfr_ridge[best], fit->w[b][j]);
    return CC_OK;
}

cc_status cc_gfr_fit_run(cc_gfr_series *const *train, cc_gfr_targets *const *tt, const cc_gfr_table *const *tabs,
                         int ntrain, const cc_gfr_protocol *p, cc_gfr_fit *fit)
{
    memset(fit, 0, sizeof *fit);
    cc_gfr_table sum;
    memset(&sum, 0, sizeof sum);
    for (int i = 0; i < ntrain; i++) {
        const cc_gfr_table *t = tabs[i];
        for (int b = 0; b < CC_CL_NBANDS; b++) {
            for (int k = 0; k < CC_GFR_NGRID; k++) sum.kf_sq[k][b] += t->kf_sq[k][b];
            for (int l = 0; l < CC_GFR_NLAMBDA; l++) sum.wh_sq[l][b] += t->wh_sq[l][b];
            sum.lin_sq[b] += t->lin_sq[b];
            sum.n[b] += t->n[b];
            sum.obs_n[b] += t->obs_n[b];
            sum.obs_sum[b] += t->obs_sum[b];
            sum.obs_sq[b] += t->obs_sq[b];
        }
    }
    cc_kf_params_default(&fit->params);
    /* Bands never scored in training (e.g. red edge when training on Landsat
     * years only) take the grid point of all scored bands together. */
    double all[CC_GFR_NGRID] = {0}, wall[CC_GFR_NLAMBDA] = {0}, ntot = 0;
    for (int b = 0; b < CC_CL_NBANDS; b++) {
        if (!(sum.n[b] > 0)) continue;
        ntot += sum.n[b];
        for (int k = 0; k < CC_GFR_NGRID; k++) all[k] += sum.kf_sq[k][b] / sum.n[b];
        for (int l = 0; l < CC_GFR_NLAMBDA; l++) wall[l] += sum.wh_sq[l][b] / sum.n[b];
    }
    if (!(ntot > 0)) return cc_error_set(CC_ERR_ARG, "Kalman fit: nothing scored on the training series");
    int kall = 0, lall = 0;
    for (int k = 1; k < CC_GFR_NGRID; k++) if (all[k] < all[kall]) kall = k;
    for (int l = 1; l < CC_GFR_NLAMBDA; l++) if (wall[l] < wall[lall]) lall = l;
    double pooled_mean = 0, pooled_var = 0, nob = 0;
    for (int b = 0; b < CC_CL_NBANDS; b++) {
        int kb = kall;
        if (sum.n[b] > 0)
            for (int k = 0; k < CC_GFR_NGRID; k++) if (sum.kf_sq[k][b] < sum.kf_sq[kb][b]) kb = k;
        fit->grid[b] = kb;
        cc_gfr_grid_params(kb, b, &fit->params);
        fit->lambda[b] = cc_gfr_lambda[lall];
        double nn = sum.n[b] > 0 ? sum.n[b] : NAN;
        fit->train_rmse_kf[b] = sqrt(sum.kf_sq[kb][b] / nn);
        fit->train_rmse_lin[b] = sqrt(sum.lin_sq[b] / nn);
        fit->train_rmse_wh[b] = sqrt(sum.wh_sq[lall][b] / nn);
        if (sum.obs_n[b] > 1) {
            double mu = sum.obs_sum[b] / sum.obs_n[b];
            fit->params.m0[b] = (float)mu;
            fit->params.p0[b] = (float)fmax(sum.obs_sq[b] / sum.obs_n[b] - mu * mu, 1e-4);
            pooled_mean += sum.obs_sum[b], pooled_var += sum.obs_sq[b], nob += sum.obs_n[b];
        }
    }
    for (int b = 0; b < CC_CL_NBANDS; b++) /* bands never observed: the pooled prior */
        if (!(sum.obs_n[b] > 1) && nob > 1) {
            double mu = pooled_mean / nob;
            fit->params.m0[b] = (float)mu;
            fit->params.p0[b] = (float)fmax(pooled_var / nob - mu * mu, 1e-4);
        }
    /* The sd calibration: 90 % of the training hidden errors within 1.645 sd. */
    double *z[CC_CL_NBANDS] = {0};
    size_t nz[CC_CL_NBANDS] = {0}, cap[CC_CL_NBANDS] = {0};
    cc_gfr_stack *sk = calloc((size_t)ntrain, sizeof *sk);
    cc_status st = sk ? CC_OK : cc_error_set(CC_ERR_NOMEM, "Kalman fit: out of memory");
    for (int i = 0; i < ntrain && st == CC_OK; i++)
        st = collect_z(train[i], tt[i], p, &fit->params, fit->lambda[0], z, nz, cap, &sk[i]);
    if (st == CC_OK) st = fit_stack(sk, ntrain, fit);
    free(sk);
    double kpool = 0;
    int npool = 0;
    for (int b = 0; b < CC_CL_NBANDS && st == CC_OK; b++) {
        if (nz[b] < 20) continue;
        qsort(z[b], nz[b], sizeof *z[b], cmp_double);
        size_t i90 = (size_t)ceil(0.9 * (double)nz[b]) - 1;
        fit->params.sd_scale[b] = (float)fmax(z[b][i90] / level_z[4], 1e-3);
        kpool += fit->params.sd_scale[b], npool++;
    }
    for (int b = 0; b < CC_CL_NBANDS; b++) {
        if (st == CC_OK && nz[b] < 20 && npool) fit->params.sd_scale[b] = (float)(kpool / npool);
        free(z[b]);
    }
    if (st == CC_OK) st = cc_kf_params_check(&fit->params, "Kalman fit");
    return st;
}

/* ---- the held-out evaluation ---- */

typedef struct {
    cc_kf_predictor_ctx kc;
    const cc_gfr_series *g;
    const uint8_t *hide;
    cc_gfr_coverage *cov;
    const cc_gfr_fit *correct; /* non-NULL: apply its correction */
} wrap_ctx;

/* The learned correction at day t of every pixel the filter filled. */
static cc_status apply_correction(const cc_gfr_fit *f, const cc_series *s, int t, float *out)
{
    const size_t npix = s->npix, nb = CC_CL_NBANDS, stride = npix * nb;
    const int n = s->ndays;
    int fail = 0;
#pragma omp parallel
    {
        float *buf = malloc((size_t)n * 3 * sizeof *buf);
        if (!buf) {
#pragma omp atomic write
            fail = 1;
        }
#pragma omp for schedule(dynamic, 64)
        for (long i = 0; i < (long)npix; i++) {
            const size_t q = (size_t)i;
            if (!buf || !any_finite(out + q * nb)) continue;
            float *y = buf, *lin = buf + n, *wh = buf + 2 * n;
            for (size_t b = 0; b < nb; b++) {
                if (isnan(out[q * nb + b])) continue;
                for (int d = 0; d < n; d++) y[d] = s->s2[(size_t)d * stride + q * nb + b];
                int j = gap_stratum(y, n, t);
                const double *w = f->w[b][j];
                if (w[0] == 0 && w[1] == 0) continue;
                cc_gapfill_linear(y, n, 1, lin);
                if (isnan(lin[t])) continue;
                if (cc_gapfill_whittaker(y, n, 1, f->lambda[0], 2, wh) != CC_OK || isnan(wh[t])) wh[t] = lin[t];
                double kf = out[q * nb + b];
                out[q * nb + b] = (float)(kf + w[0] * (lin[t] - kf) + w[1] * (wh[t] - kf));
            }
        }
        free(buf);
    }
    return fail ? cc_error_set(CC_ERR_NOMEM, "correction: out of memory") : CC_OK;
}

static cc_status wrap_predict(void *ctx, const cc_series *s, int t, float *out)
{
    wrap_ctx *w = ctx;
    cc_status st = cc_kf_predictor(&w->kc, s, t, out);
    if (st == CC_OK && w->correct) st = apply_correction(w->correct, s, t, out);
    if (st != CC_OK || !w->cov) return st;
    const size_t npix = s->npix, nb = CC_CL_NBANDS;
    const float *tr = w->g->s.s2 + (size_t)t * npix * nb;
    for (size_t q = 0; q < npix; q++) {
        if (!w->hide[q]) continue;
        for (size_t b = 0; b < nb; b++) {
            float v = tr[q * nb + b], e = out[q * nb + b], sd = w->kc.sd[q * nb + b];
            if (isnan(v) || isnan(e) || !(sd > 0)) continue;
            double z = fabs(e - v) / sd;
            w->cov->n[b] += 1;
            for (int l = 0; l < CC_GFR_NLEVELS; l++) w->cov->in[l][b] += z <= level_z[l];
        }
    }
    return CC_OK;
}

cc_status cc_gfr_eval(const cc_gfr_series *g, const cc_gfr_targets *t, const cc_gfr_fit *fit,
                      cc_gapfill_eval_result *r, cc_gapfill_eval_result *now, cc_gapfill_eval_result *nols,
                      cc_gapfill_eval_result *corr, cc_gfr_coverage *cov, double *noise)
{
    const size_t npix = g->s.npix;
    float *sd = cc_malloc3(npix, CC_CL_NBANDS, sizeof *sd);
    if (!sd) return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", g->name);
    /* One Whittaker lambda for every band (the harness's smoother): the most
     * frequent choice. */
    double lambda = fit->lambda[0];
    /* The adaptive calibration: sd_scale x the held-out series' own noise
     * factor (from the observations the run sees, never the hidden truths). */
    cc_kf_params ap = fit->params;
    double f[CC_CL_NBANDS];
    cc_status fs = seen_noise(g, t, &(cc_gfr_protocol){.pixel_step = 2}, &fit->params, f);
    if (fs != CC_OK) {
        free(sd);
        return fs;
    }
    for (int b = 0; b < CC_CL_NBANDS; b++) ap.sd_scale[b] = (float)(ap.sd_scale[b] * f[b]);
    if (noise) memcpy(noise, f, sizeof f);
    wrap_ctx w = {.kc = {.params = &ap, .reanalysis = 1, .use_landsat = 1, .only_missing = 1, .sd = sd},
                  .g = g,
                  .cov = cov};
    cc_gapfill_eval_methods m = {.linear = 1, .whittaker = 1, .whittaker_lambda = lambda, .whittaker_d = 2,
                                 .model = wrap_predict, .model_ctx = &w, .width = g->width, .height = g->height};
    cc_status st = CC_OK;
    for (int k = 0; k < t->n && st == CC_OK; k++) {
        const uint8_t *h = t->hide + (size_t)k * npix;
        int day = t->day[k];
        w.hide = h;
        w.cov = cov;
        w.kc.reanalysis = 1, w.kc.use_landsat = 1;
        m.linear = m.whittaker = 1;
        st = cc_gapfill_eval_series(&g->s, NULL, &day, 1, h, &m, r);
        w.cov = NULL;
        m.linear = m.whittaker = 0;
        if (st == CC_OK && now) {
            w.kc.reanalysis = 0;
            st = cc_gapfill_eval_series(&g->s, NULL, &day, 1, h, &m, now);
        }
        if (st == CC_OK && nols && g->has_landsat) {
            w.kc.reanalysis = 1, w.kc.use_landsat = 0;
            st = cc_gapfill_eval_series(&g->s, NULL, &day, 1, h, &m, nols);
        }
        if (st == CC_OK && corr && fit->ridge != CC_GFR_NRIDGE - 1) {
            w.kc.reanalysis = 1, w.kc.use_landsat = 1;
            w.correct = fit;
            st = cc_gapfill_eval_series(&g->s, NULL, &day, 1, h, &m, corr);
            w.correct = NULL;
        }
    }
    free(sd);
    return st;
}
