/* The training domain of a Rapid BoA model (pipeline/boa/domain.h): the fit
 * from training pixels, the /domain group of the model file, the per-pixel
 * test. */
#include "pipeline/boa/domain.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "io/model_extra.h"

#define MAXCH CC_BOA_DOMAIN_MAXCH
#define DOMAIN_GROUP "domain"

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* The q-quantile of the sorted v[0..n-1] (nearest rank, rounding outwards:
 * the lower quantile rounds down, the upper one up). */
static float quantile_sorted(const float *v, size_t n, double q)
{
    double r = q * (double)(n - 1);
    size_t k = q < 0.5 ? (size_t)floor(r) : (size_t)ceil(r);
    return v[k < n ? k : n - 1];
}

static void copy_names(const cc_nn_model *m, cc_boa_domain *d)
{
    d->nch = m->input.nchannels;
    for (int c = 0; c < d->nch; c++)
        snprintf(d->channels[c], sizeof d->channels[c], "%s", m->input.band[c]);
}

void cc_boa_domain_from_normalisation(const cc_nn_model *m, cc_boa_domain *d)
{
    memset(d, 0, sizeof *d);
    copy_names(m, d);
    if (d->nch > MAXCH)
        d->nch = MAXCH;
    for (int c = 0; c < d->nch; c++) {
        d->lower[c] = (float)-CC_BOA_DOMAIN_DERIVED_K;
        d->upper[c] = (float)CC_BOA_DOMAIN_DERIVED_K;
    }
    d->derived = 1;
    cc_boa_domain_bind(d, &m->input);
}

cc_status cc_boa_domain_prepare(cc_boa_domain *d, const char *path)
{
    int n = d->nch;
    double L[MAXCH][MAXCH];
    memset(L, 0, sizeof L);
    memset(d->winv, 0, sizeof d->winv);
    if (!d->has_dist)
        return CC_OK;
    /* Cholesky of S + ridge I */
    for (int i = 0; i < n; i++)
        for (int j = 0; j <= i; j++) {
            double s = d->cov[i * n + j] + (i == j ? d->ridge : 0.0);
            for (int k = 0; k < j; k++)
                s -= L[i][k] * L[j][k];
            if (i == j) {
                if (!(s > 1e-12))
                    return cc_error_set(CC_ERR_FORMAT, "%s: /domain covariance is not positive definite (channel %s)",
                                        path, d->channels[i]);
                L[i][i] = sqrt(s);
            } else {
                L[i][j] = s / L[j][j];
            }
        }
    /* W = L^-1 (lower triangular), column by column by forward substitution */
    for (int j = 0; j < n; j++)
        for (int i = j; i < n; i++) {
            double s = i == j ? 1.0 : 0.0;
            for (int k = j; k < i; k++)
                s -= L[i][k] * d->winv[k * n + j];
            d->winv[i * n + j] = (float)(s / L[i][i]);
        }
    return CC_OK;
}

void cc_boa_domain_bind(cc_boa_domain *d, const cc_nn_input_desc *in)
{
    for (int c = 0; c < d->nch; c++) {
        double sd = in->std[c] > 0 ? in->std[c] : 1.0;
        d->a[c] = (float)(1.0 / (in->quantification * sd));
        d->b[c] = (float)((in->dn_offset / in->quantification - in->mean[c]) / sd);
    }
}

/* Mean and covariance of the n x nch normalised samples X (row-major). */
static void moments(const float *X, size_t n, int nch, cc_boa_domain *d)
{
    double mu[MAXCH] = {0}, S[MAXCH * MAXCH] = {0};
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < nch; c++)
            mu[c] += X[i * nch + c];
    for (int c = 0; c < nch; c++)
        mu[c] /= (double)n;
    for (size_t i = 0; i < n; i++) {
        double z[MAXCH];
        for (int c = 0; c < nch; c++)
            z[c] = X[i * nch + c] - mu[c];
        for (int r = 0; r < nch; r++)
            for (int c = 0; c <= r; c++)
                S[r * nch + c] += z[r] * z[c];
    }
    for (int r = 0; r < nch; r++) {
        d->center[r] = (float)mu[r];
        for (int c = 0; c <= r; c++)
            d->cov[r * nch + c] = d->cov[c * nch + r] = (float)(S[r * nch + c] / (double)(n > 1 ? n - 1 : 1));
    }
}

/* Box: quantiles per channel plus margin. col: scratch of n floats. */
static void fit_box(const float *X, size_t n, int nch, float *col, cc_boa_domain *d)
{
    for (int c = 0; c < nch; c++) {
        for (size_t i = 0; i < n; i++)
            col[i] = X[i * nch + c];
        qsort(col, n, sizeof *col, cmp_float);
        float lo = quantile_sorted(col, n, CC_BOA_DOMAIN_QUANTILE);
        float hi = quantile_sorted(col, n, 1.0 - CC_BOA_DOMAIN_QUANTILE);
        float m = (float)(CC_BOA_DOMAIN_MARGIN_REL * (hi - lo) + CC_BOA_DOMAIN_MARGIN_ABS);
        d->lower[c] = lo - m;
        d->upper[c] = hi + m;
    }
}

/* d(x) of normalised x */
static float distance(const cc_boa_domain *d, const float *x)
{
    int n = d->nch;
    float z[MAXCH], d2 = 0;
    for (int c = 0; c < n; c++)
        z[c] = x[c] - d->center[c];
    for (int i = 0; i < n; i++) {
        float s = 0;
        for (int j = 0; j <= i; j++)
            s += d->winv[i * n + j] * z[j];
        d2 += s * s;
    }
    return sqrtf(d2);
}

cc_status cc_boa_domain_fit(const cc_nn_model *m, void (*pixel)(void *ctx, size_t i, float *v), void *ctx,
                            size_t n, cc_boa_domain *d)
{
    memset(d, 0, sizeof *d);
    int nch = m->input.nchannels;
    if (nch < 1 || nch > MAXCH)
        return cc_error_set(CC_ERR_ARG, "domain: %d input channels (1..%d)", nch, MAXCH);
    if (n < 2)
        return cc_error_set(CC_ERR_NODATA, "domain: %zu training pixels (at least 2 needed)", n);
    copy_names(m, d);
    size_t ns = n < CC_BOA_DOMAIN_FIT_MAX ? n : CC_BOA_DOMAIN_FIT_MAX;
    float *X = cc_malloc3(ns, (size_t)nch, sizeof(float));
    float *col = cc_malloc3(ns, 1, sizeof(float));
    cc_status st = CC_OK;
    if (!X || !col) {
        st = cc_error_set(CC_ERR_NOMEM, "domain: out of memory for %zu pixels", ns);
        goto out;
    }
    for (size_t k = 0; k < ns; k++) {
        size_t i = (size_t)((double)k * (double)n / (double)ns);
        float v[MAXCH];
        pixel(ctx, i, v);
        for (int c = 0; c < nch; c++) {
            double sd = m->input.std[c] > 0 ? m->input.std[c] : 1.0;
            X[k * nch + c] = (float)((v[c] - m->input.mean[c]) / sd);
        }
    }
    fit_box(X, ns, nch, col, d);
    moments(X, ns, nch, d);
    d->has_dist = 1;
    d->ridge = CC_BOA_DOMAIN_RIDGE;
    d->npix = (double)ns;
    if ((st = cc_boa_domain_prepare(d, "domain fit")) != CC_OK)
        goto out;
    for (size_t k = 0; k < ns; k++)
        col[k] = distance(d, X + k * nch);
    qsort(col, ns, sizeof *col, cmp_float);
    d->threshold = CC_BOA_DOMAIN_DIST_FACTOR * quantile_sorted(col, ns, 1.0 - CC_BOA_DOMAIN_QUANTILE);
    if (!(d->threshold > 0))
        d->threshold = 1e-3; /* all training pixels identical: only they are in */
    cc_boa_domain_bind(d, &m->input);
out:
    free(X);
    free(col);
    return st;
}

/* The channel names joined by ',' (the /domain "channels" attribute). */
static void joined_names(const cc_boa_domain *d, char *buf, size_t cap)
{
    size_t k = 0;
    buf[0] = '\0';
    for (int c = 0; c < d->nch && k < cap; c++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%s", c ? "," : "", d->channels[c]);
}

cc_status cc_boa_domain_write_model(const char *path, const cc_nn_model *m, const char *provenance,
                                    const cc_boa_domain *d)
{
    if (d->derived || !d->has_dist || d->nch != m->input.nchannels)
        return cc_error_set(CC_ERR_ARG, "%s: the domain was not fitted to this model", path);
    int n = d->nch, version = CC_BOA_DOMAIN_VERSION;
    char names[MAXCH * 8 + 1], method[256];
    joined_names(d, names, sizeof names);
    snprintf(method, sizeof method,
             "normalised inputs x; in: lower <= x <= upper (quantiles %g / %g, margin %g range + %g) and "
             "sqrt((x-center)' (covariance + ridge I)^-1 (x-center)) <= mahalanobis_threshold",
             CC_BOA_DOMAIN_QUANTILE, 1.0 - CC_BOA_DOMAIN_QUANTILE, CC_BOA_DOMAIN_MARGIN_REL,
             CC_BOA_DOMAIN_MARGIN_ABS);
    float cov[MAXCH * MAXCH];
    for (int i = 0; i < n * n; i++)
        cov[i] = d->cov[i];
    const cc_model_extra_attr a[] = {
        {"format_version", CC_MX_I32, 1, &version},
        {"channels", CC_MX_STR, 1, names},
        {"method", CC_MX_STR, 1, method},
        {"lower", CC_MX_F32, n, d->lower},
        {"upper", CC_MX_F32, n, d->upper},
        {"center", CC_MX_F32, n, d->center},
        {"covariance", CC_MX_F32, n * n, cov},
        {"ridge", CC_MX_F64, 1, &d->ridge},
        {"mahalanobis_threshold", CC_MX_F64, 1, &d->threshold},
        {"n_pixels", CC_MX_F64, 1, &d->npix},
    };
    return cc_model_file_write_extra(path, m, provenance, DOMAIN_GROUP, a, (int)(sizeof a / sizeof *a));
}

/* Checks of the values read (one line each, naming the file). */
static cc_status check_read(const char *path, cc_boa_domain *d)
{
    int n = d->nch;
    for (int c = 0; c < n; c++)
        if (!(d->lower[c] <= d->upper[c]))
            return cc_error_set(CC_ERR_FORMAT, "%s: /domain lower > upper for channel %s", path, d->channels[c]);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            if (fabsf(d->cov[i * n + j] - d->cov[j * n + i]) > 1e-5f * (1.0f + fabsf(d->cov[i * n + j])))
                return cc_error_set(CC_ERR_FORMAT, "%s: /domain covariance is not symmetric (%s, %s)", path,
                                    d->channels[i], d->channels[j]);
    if (!(d->ridge >= 0 && d->ridge < 1e6))
        return cc_error_set(CC_ERR_FORMAT, "%s: /domain ridge %g is not in [0, 1e6)", path, d->ridge);
    if (!(d->threshold > 0))
        return cc_error_set(CC_ERR_FORMAT, "%s: /domain mahalanobis_threshold %g is not positive", path,
                            d->threshold);
    return cc_boa_domain_prepare(d, path);
}

static cc_status read_group(const char *path, cc_model_extra *x, const cc_nn_model *m, cc_boa_domain *d)
{
    int n = m->input.nchannels, version = 0;
    char names[MAXCH * 8 + 1], want[MAXCH * 8 + 1];
    cc_status st;
    if ((st = cc_model_extra_int(x, "format_version", &version)) != CC_OK)
        return st;
    if (version != CC_BOA_DOMAIN_VERSION)
        return cc_error_set(CC_ERR_UNSUPPORTED, "%s: /domain format_version %d (this clearcube reads %d)", path,
                            version, CC_BOA_DOMAIN_VERSION);
    if ((st = cc_model_extra_string(x, "channels", names, sizeof names)) != CC_OK)
        return st;
    joined_names(d, want, sizeof want);
    if (strcmp(names, want) != 0)
        return cc_error_set(CC_ERR_FORMAT, "%s: /domain channels '%s' are not the model's inputs '%s'", path, names,
                            want);
    float *cov = malloc((size_t)n * n * sizeof *cov);
    if (!cov)
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
    if ((st = cc_model_extra_floats(x, "lower", d->lower, n)) == CC_OK &&
        (st = cc_model_extra_floats(x, "upper", d->upper, n)) == CC_OK &&
        (st = cc_model_extra_floats(x, "center", d->center, n)) == CC_OK &&
        (st = cc_model_extra_floats(x, "covariance", cov, n * n)) == CC_OK &&
        (st = cc_model_extra_double(x, "ridge", &d->ridge)) == CC_OK &&
        (st = cc_model_extra_double(x, "mahalanobis_threshold", &d->threshold)) == CC_OK)
        st = cc_model_extra_double(x, "n_pixels", &d->npix);
    if (st == CC_OK) {
        memcpy(d->cov, cov, (size_t)n * n * sizeof *cov);
        d->has_dist = 1;
        st = check_read(path, d);
    }
    free(cov);
    return st;
}

cc_status cc_boa_domain_read(const char *path, const cc_nn_model *m, cc_boa_domain *d)
{
    cc_model_extra *x = NULL;
    memset(d, 0, sizeof *d);
    if (m->input.nchannels < 1 || m->input.nchannels > MAXCH)
        return cc_error_set(CC_ERR_FORMAT, "%s: %d input channels: no domain (at most %d)", path,
                            m->input.nchannels, MAXCH);
    cc_status st = cc_model_extra_open(path, DOMAIN_GROUP, &x);
    if (st != CC_OK)
        return st;
    if (!x) {
        cc_boa_domain_from_normalisation(m, d);
        cc_info("%s: no /domain (a model from before issue 13): the training domain is the box |x| <= %g of "
                "the model's normalisation, without the combination (Mahalanobis) test",
                path, CC_BOA_DOMAIN_DERIVED_K);
        return CC_OK;
    }
    copy_names(m, d);
    st = read_group(path, x, m, d);
    cc_model_extra_close(x);
    if (st != CC_OK) {
        memset(d, 0, sizeof *d);
        return st;
    }
    cc_boa_domain_bind(d, &m->input);
    return CC_OK;
}

int cc_boa_domain_flag(const cc_boa_domain *d, const float *x, float *dist)
{
    int r = CC_BOA_DOM_IN;
    for (int c = 0; c < d->nch; c++)
        if (!(x[c] >= d->lower[c] && x[c] <= d->upper[c]))
            r = CC_BOA_DOM_BOX;
    float dv = d->has_dist ? distance(d, x) : NAN;
    if (r == CC_BOA_DOM_IN && d->has_dist && !(dv <= d->threshold))
        r = CC_BOA_DOM_DIST;
    if (dist)
        *dist = dv;
    return r;
}

#define BLK 64
typedef float vf8 __attribute__((vector_size(32))); /* GCC vectors: ymm with AVX2, 2 x xmm else */

/* One block of np <= BLK pixels, structure of arrays so that the inner loops
 * run over pixels (vectorised; an AVX2 clone is picked at run time where the
 * CPU has it). */
__attribute__((target_clones("avx2", "default")))
static void flag_block(const cc_boa_domain *d, const uint16_t *px, size_t stride, int np, uint8_t *out, float *dist)
{
    const int n = d->nch;
    float z[MAXCH][BLK] __attribute__((aligned(64)));
    float box[BLK] __attribute__((aligned(64))), d2[BLK] __attribute__((aligned(64)));
    for (int p = 0; p < BLK; p++)
        box[p] = d2[p] = 0;
    for (int c = 0; c < n; c++) {
        const float a = d->a[c], b = d->b[c], lo = d->lower[c], hi = d->upper[c], mu = d->center[c];
        const uint16_t *q = px + c;
        float *zc = z[c];
#pragma omp simd
        for (int p = 0; p < np; p++) {
            float x = (float)q[(size_t)p * stride] * a + b;
            box[p] += (float)((x < lo) | (x > hi));
            zc[p] = x - mu;
        }
        for (int p = np; p < BLK; p++)
            zc[p] = 0;
    }
    if (d->has_dist) /* s = W z, d2 = |s|^2; 32 pixels in four 8-lane registers */
        for (int p0 = 0; p0 < BLK; p0 += 32)
            for (int i = 0; i < n; i++) {
                const float *w = d->winv + (size_t)i * n;
                vf8 s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
                for (int j = 0; j <= i; j++) {
                    const vf8 *zj = (const vf8 *)(z[j] + p0);
                    const float wj = w[j];
                    s0 += wj * zj[0];
                    s1 += wj * zj[1];
                    s2 += wj * zj[2];
                    s3 += wj * zj[3];
                }
                vf8 *dv = (vf8 *)(d2 + p0);
                dv[0] += s0 * s0;
                dv[1] += s1 * s1;
                dv[2] += s2 * s2;
                dv[3] += s3 * s3;
            }
    const float t2 = (float)(d->threshold * d->threshold);
    for (int p = 0; p < np; p++) {
        out[p] = box[p] > 0 ? CC_BOA_DOM_BOX : d->has_dist && !(d2[p] <= t2) ? CC_BOA_DOM_DIST : CC_BOA_DOM_IN;
        if (dist)
            dist[p] = d->has_dist ? sqrtf(d2[p]) : NAN;
    }
}

void cc_boa_domain_flag_dn(const cc_boa_domain *d, const uint16_t *px, size_t stride, size_t npx, uint8_t *out,
                           float *dist)
{
    for (size_t i = 0; i < npx; i += BLK) {
        int np = npx - i < BLK ? (int)(npx - i) : BLK;
        flag_block(d, px + i * stride, stride, np, out + i, dist ? dist + i : NULL);
    }
}

void cc_boa_domain_describe(const cc_boa_domain *d, char *buf, size_t cap)
{
    if (d->derived)
        snprintf(buf, cap, "box |x| <= %g of the model's input normalisation (model file without /domain; no "
                 "combination test)", CC_BOA_DOMAIN_DERIVED_K);
    else
        snprintf(buf, cap, "training domain: box at the %g/%g %% quantiles + margin, Mahalanobis distance <= %.3f "
                 "(ridge %g), fitted on %.0f pixels", 100 * CC_BOA_DOMAIN_QUANTILE,
                 100 * (1 - CC_BOA_DOMAIN_QUANTILE), d->threshold, d->ridge, d->npix);
}
