/* clearcube: classic gap filling and gap-filling metrics (see gapfill.h). */
#define _DEFAULT_SOURCE /* M_PI */
#include "pipeline/cloudless/gapfill.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

#define CC_GAPFILL_MAX_N 100000

void cc_gapfill_linear(const float *y, int n, size_t stride, float *out)
{
    int prev = -1; /* last valid index seen */
    for (int i = 0; i < n; i++) {
        float v = y[(size_t)i * stride];
        if (isnan(v)) continue;
        if (prev < 0) {
            for (int j = 0; j < i; j++) out[(size_t)j * stride] = v; /* leading end */
        } else {
            float a = y[(size_t)prev * stride];
            double span = (double)(i - prev);
            for (int j = prev + 1; j < i; j++)
                out[(size_t)j * stride] = (float)(a + ((double)v - a) * (double)(j - prev) / span);
        }
        out[(size_t)i * stride] = v;
        prev = i;
    }
    if (prev < 0) {
        for (int j = 0; j < n; j++) out[(size_t)j * stride] = NAN;
        return;
    }
    for (int j = prev + 1; j < n; j++) out[(size_t)j * stride] = y[(size_t)prev * stride];
}

/* Coefficients of the d-th order difference: (-1)^(d-j) C(d, j), j = 0..d. */
static const double *diff_coefs(int d)
{
    static const double k1[] = {-1, 1}, k2[] = {1, -2, 1}, k3[] = {-1, 3, -3, 1};
    return d == 1 ? k1 : d == 2 ? k2 : k3;
}

void cc_gapfill_whittaker_penalty(double lambda, int n, int d, double *pen)
{
    const double *c = diff_coefs(d);
    for (int i = 0; i < n; i++)
        for (int k = 0; k <= d; k++) {
            /* (D'D)(i, i-k): the rows r of D that touch both columns */
            double s = 0;
            if (k <= i) {
                int r0 = i - d > 0 ? i - d : 0;
                int r1 = i - k < n - d - 1 ? i - k : n - d - 1;
                for (int r = r0; r <= r1; r++)
                    s += c[i - r] * c[i - k - r];
            }
            pen[(size_t)i * (size_t)(d + 1) + (size_t)k] = lambda * s;
        }
}

int cc_gapfill_whittaker_factor(const double *pen, const uint8_t *valid, int n, int d, double *L)
{
    const size_t w = (size_t)d + 1;
    int bad = -1;
    for (int i = 0; i < n; i++) {
        double *Li = L + (size_t)i * w;
        const double *Pi = pen + (size_t)i * w;
        Li[0] = Pi[0] + (valid[i] ? 1.0 : 0.0);
        for (int k = 1; k <= d; k++)
            Li[k] = Pi[k];
        for (int k = d; k >= 0; k--) {
            int j = i - k; /* column */
            if (j < 0)
                continue;
            const double *Lj = L + (size_t)j * w;
            double s = Li[k];
            /* subtract sum_m L(i,m) L(j,m), m from max(i-d, 0) to j-1 */
            for (int m = i - d > 0 ? i - d : 0; m < j; m++)
                s -= Li[i - m] * Lj[j - m];
            if (k > 0) {
                Li[k] = s / Lj[0];
                continue;
            }
            if (!(s > 0) && bad < 0)
                bad = i;
            /* a floor instead of a failure: the features never stop on a
             * pivot that rounding made tiny (cc_gapfill_whittaker reports bad) */
            Li[0] = sqrt(s > 1e-300 ? s : 1e-300);
        }
    }
    return bad;
}

void cc_gapfill_whittaker_solve(const double *L, int n, int d, double *z, size_t ld, int nrhs, int stop)
{
    const size_t w = (size_t)d + 1;
    /* forward: L u = b (the subtractions in the order k = 1..d, then the division) */
    for (int i = 0; i < n; i++) {
        const double *Li = L + (size_t)i * w;
        double *zi = z + (size_t)i * ld;
        for (int k = 1; k <= d && k <= i; k++) {
            const double *zk = zi - (size_t)k * ld; /* row i-k */
            for (int g = 0; g < nrhs; g++)
                zi[g] -= Li[k] * zk[g];
        }
        for (int g = 0; g < nrhs; g++)
            zi[g] /= Li[0];
    }
    /* backward: L' z = u, from the last row down to `stop` */
    for (int i = n - 1; i >= stop && i >= 0; i--) {
        double *zi = z + (size_t)i * ld;
        for (int k = 1; k <= d && i + k < n; k++) {
            const double lk = L[(size_t)(i + k) * w + (size_t)k], *zk = zi + (size_t)k * ld;
            for (int g = 0; g < nrhs; g++)
                zi[g] -= lk * zk[g];
        }
        for (int g = 0; g < nrhs; g++)
            zi[g] /= L[(size_t)i * w];
    }
}

cc_status cc_gapfill_whittaker(const float *y, int n, size_t stride, double lambda, int d,
                               float *out)
{
    cc_status st = CC_ERR_ARG;
    double *L = NULL;
    if (d < 1 || d > 3 || !(lambda > 0) || !isfinite(lambda) || n < 0 || n > CC_GAPFILL_MAX_N) {
        st = cc_error_set(CC_ERR_ARG, "whittaker: d = %d (must be 1..3), lambda = %g (must be > 0), "
                                      "n = %d (must be 0..%d)",
                          d, lambda, n, CC_GAPFILL_MAX_N);
        goto out;
    }
    int nvalid = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(y[(size_t)i * stride])) nvalid++;
    if (nvalid < d + 1) {
        for (int i = 0; i < n; i++) out[(size_t)i * stride] = NAN;
        st = CC_OK;
        goto out;
    }
    const size_t w = (size_t)d + 1;
    /* pen and L [n][d+1], z [n], valid [n] in one block */
    L = cc_calloc3((size_t)n, 2 * w + 2, sizeof *L);
    if (!L) {
        st = cc_error_set(CC_ERR_NOMEM, "whittaker: cannot allocate %d samples", n);
        goto out;
    }
    double *pen = L + (size_t)n * w, *z = pen + (size_t)n * w;
    uint8_t *valid = (uint8_t *)(z + n);
    for (int i = 0; i < n; i++) {
        float v = y[(size_t)i * stride];
        valid[i] = !isnan(v);
        z[i] = valid[i] ? (double)v : 0.0;
    }
    cc_gapfill_whittaker_penalty(lambda, n, d, pen);
    int bad = cc_gapfill_whittaker_factor(pen, valid, n, d, L);
    if (bad >= 0) {
        st = cc_error_set(CC_ERR_INTERNAL,
                          "whittaker: matrix not positive definite at row %d "
                          "(lambda %g, d %d, %d valid of %d)",
                          bad, lambda, d, nvalid, n);
        goto out;
    }
    cc_gapfill_whittaker_solve(L, n, d, z, 1, 1, 0);
    for (int i = 0; i < n; i++) out[(size_t)i * stride] = (float)z[i];
    st = CC_OK;
out:
    free(L);
    return st;
}

void cc_gapfill_metrics_init(cc_gapfill_metrics *m, int nbands)
{
    memset(m, 0, sizeof *m);
    CC_ASSERT(nbands >= 1 && nbands <= 16);
    m->nbands = nbands;
}

void cc_gapfill_metrics_add(cc_gapfill_metrics *m, const float *pred, const float *truth)
{
    double dot = 0, pp = 0, tt = 0;
    int nboth = 0;
    for (int b = 0; b < m->nbands; b++) {
        float p = pred[b], t = truth[b];
        if (isnan(p) || isnan(t)) continue;
        double e = (double)p - (double)t;
        m->n += 1;
        m->sum_abs += fabs(e);
        m->sum_sq += e * e;
        m->band_abs[b] += fabs(e);
        m->band_sq[b] += e * e;
        m->band_n[b] += 1;
        dot += (double)p * t;
        pp += (double)p * p;
        tt += (double)t * t;
        nboth++;
    }
    if (nboth >= 2 && pp > 0 && tt > 0) {
        double cs = dot / sqrt(pp * tt);
        if (cs > 1) cs = 1;
        if (cs < -1) cs = -1;
        m->sam_sum += acos(cs) * (180.0 / M_PI);
        m->sam_n += 1;
    }
}

void cc_gapfill_metrics_merge(cc_gapfill_metrics *into, const cc_gapfill_metrics *from)
{
    CC_ASSERT(into->nbands == from->nbands);
    into->n += from->n;
    into->sum_abs += from->sum_abs;
    into->sum_sq += from->sum_sq;
    for (int b = 0; b < 16; b++) {
        into->band_abs[b] += from->band_abs[b];
        into->band_sq[b] += from->band_sq[b];
        into->band_n[b] += from->band_n[b];
    }
    into->sam_sum += from->sam_sum;
    into->sam_n += from->sam_n;
}

void cc_gapfill_metrics_get(const cc_gapfill_metrics *m, cc_gapfill_scores *s)
{
    s->n = m->n;
    s->mae = m->n > 0 ? m->sum_abs / m->n : NAN;
    s->rmse = m->n > 0 ? sqrt(m->sum_sq / m->n) : NAN;
    s->psnr = m->n > 0 ? 20.0 * log10(1.0 / s->rmse) : NAN; /* +inf when exact */
    s->sam_deg = m->sam_n > 0 ? m->sam_sum / m->sam_n : NAN;
    for (int b = 0; b < 16; b++) {
        int have = b < m->nbands && m->band_n[b] > 0;
        s->band_mae[b] = have ? m->band_abs[b] / m->band_n[b] : NAN;
        s->band_rmse[b] = have ? sqrt(m->band_sq[b] / m->band_n[b]) : NAN;
    }
}

/* ---- SSIM ---- */

#define SSIM_R 5 /* 11x11 window */

/* Separable filter of one plane: out = g (x) g applied to in, "valid" part:
 * out has (w-10) x (h-10) entries. tmp holds h x (w-10). */
static void gauss_valid(const double *in, int w, int h, const double g[2 * SSIM_R + 1], double *tmp,
                        double *out)
{
    int ow = w - 2 * SSIM_R, oh = h - 2 * SSIM_R;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < ow; x++) {
            double s = 0;
            for (int k = 0; k <= 2 * SSIM_R; k++) s += g[k] * in[(size_t)y * w + x + k];
            tmp[(size_t)y * ow + x] = s;
        }
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
            double s = 0;
            for (int k = 0; k <= 2 * SSIM_R; k++) s += g[k] * tmp[(size_t)(y + k) * ow + x];
            out[(size_t)y * ow + x] = s;
        }
}

long cc_gapfill_ssim_map(const float *a, const float *b, const uint8_t *mask, int w, int h,
                         double *map)
{
    const double C1 = 0.01 * 0.01, C2 = 0.03 * 0.03;
    size_t np = (size_t)w * h;
    if (w < 2 * SSIM_R + 1 || h < 2 * SSIM_R + 1) {
        for (size_t i = 0; i < np; i++) map[i] = NAN;
        return 0;
    }
    int ow = w - 2 * SSIM_R, oh = h - 2 * SSIM_R;
    size_t no = (size_t)ow * oh;
    double g[2 * SSIM_R + 1], gs = 0;
    for (int k = -SSIM_R; k <= SSIM_R; k++) gs += g[k + SSIM_R] = exp(-(double)(k * k) / (2 * 1.5 * 1.5));
    for (int k = 0; k <= 2 * SSIM_R; k++) g[k] /= gs;

    long cnt = -1;
    double *in = cc_malloc3(np, 6, sizeof(double)); /* a, b, aa, bb, ab, unqualified */
    double *tmp = cc_malloc3((size_t)h, (size_t)ow, sizeof(double));
    double *mo = cc_malloc3(no, 6, sizeof(double));
    if (!in || !tmp || !mo) {
        cc_error_set(CC_ERR_NOMEM, "ssim: cannot allocate scratch for a %d x %d image", w, h);
        goto out;
    }
    for (size_t i = 0; i < np; i++) {
        int ok = (!mask || mask[i]) && !isnan(a[i]) && !isnan(b[i]);
        double x = ok ? a[i] : 0, y = ok ? b[i] : 0;
        in[i] = x;
        in[np + i] = y;
        in[2 * np + i] = x * x;
        in[3 * np + i] = y * y;
        in[4 * np + i] = x * y;
        in[5 * np + i] = ok ? 0.0 : 1.0;
    }
    for (int p = 0; p < 6; p++) gauss_valid(in + p * np, w, h, g, tmp, mo + p * no);
    for (size_t i = 0; i < np; i++) map[i] = NAN;
    cnt = 0;
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
            size_t o = (size_t)y * ow + x;
            /* The unqualified plane (0/1) filters to exactly 0 iff no such pixel
             * lies under the window (every Gaussian tap > 0, every term >= 0). */
            if (mo[5 * no + o] > 0) continue;
            double ma = mo[o], mb = mo[no + o];
            double va = mo[2 * no + o] - ma * ma, vb = mo[3 * no + o] - mb * mb;
            double cab = mo[4 * no + o] - ma * mb;
            map[(size_t)(y + SSIM_R) * w + x + SSIM_R] =
                ((2 * ma * mb + C1) * (2 * cab + C2)) / ((ma * ma + mb * mb + C1) * (va + vb + C2));
            cnt++;
        }
out:
    free(in);
    free(tmp);
    free(mo);
    return cnt;
}

double cc_gapfill_ssim(const float *a, const float *b, const uint8_t *mask, int w, int h)
{
    double result = NAN;
    size_t np = (size_t)(w > 0 ? w : 0) * (size_t)(h > 0 ? h : 0);
    double *map = np ? cc_malloc3(np, 1, sizeof *map) : NULL;
    if (!map) return NAN;
    long cnt = cc_gapfill_ssim_map(a, b, mask, w, h, map);
    if (cnt > 0) {
        double sum = 0;
        for (size_t i = 0; i < np; i++)
            if (!isnan(map[i])) sum += map[i];
        result = sum / (double)cnt;
    }
    free(map);
    return result;
}
