/* Cloudless fusion model: features, network layout, model files, prediction
 * and evidence (see pipeline/cloudless/cloudless.h and docs/cloudless-model.md). */
#define _GNU_SOURCE /* strdup */
#include "pipeline/cloudless/cloudless.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "core/alloc.h"
#include "core/reflectance.h"
#include "io/model_file.h"
#include "pipeline/cloudless/gapfill.h"

#define NB CC_CL_NBANDS
#define NF CC_CL_NFEAT
#define CL_HEADER "clearcube-cloudless 1"
#define DIST_CAP 2.0f
#define PRIOR_FILL 0.1f
#define BLOCK 65536

const char *const cc_cl_feature_names[NF] = {
    "LIN_B02", "LIN_B03", "LIN_B04", "LIN_B05", "LIN_B06", "LIN_B07", "LIN_B08", "LIN_B8A", "LIN_B11", "LIN_B12",
    "WHD_B02", "WHD_B03", "WHD_B04", "WHD_B05", "WHD_B06", "WHD_B07", "WHD_B08", "WHD_B8A", "WHD_B11", "WHD_B12",
    "LSD_B02", "LSD_B03", "LSD_B04", "LSD_B05", "LSD_B06", "LSD_B07", "LSD_B08", "LSD_B8A", "LSD_B11", "LSD_B12",
    "LS_DIST",
    "OLD_B02", "OLD_B03", "OLD_B04", "OLD_B05", "OLD_B06", "OLD_B07", "OLD_B08", "OLD_B8A", "OLD_B11", "OLD_B12",
    "OL_DIST", "S1_VV", "S1_VH", "S1_DIST", "S2_PREV", "S2_NEXT", "S2_FLAG", "DOY_SIN", "DOY_COS"};

struct cc_cl_model {
    cc_nn_model net;
    int half_window, kt;
    double lambda;
    char *note;
};

void cc_cl_arch_init(cc_cl_arch *a)
{
    memset(a, 0, sizeof *a);
    a->half_window = CC_CL_HALF_WINDOW;
    a->kt = 3;
    a->width_in = 24;
    a->width_t = 24;
    a->act = CC_ACT_RELU;
    a->out_scale = 0.1f;
    a->whittaker_lambda = 100;
    for (int c = 0; c < NF; c++) {
        a->mean[c] = c < NB ? 0.2f : 1.0f;
        a->std[c] = c < NB ? 0.15f : 0.5f;
    }
}

int cc_cl_model_half_window(const cc_cl_model *m) { return m->half_window; }
int cc_cl_model_kt(const cc_cl_model *m) { return m->kt; }
double cc_cl_model_lambda(const cc_cl_model *m) { return m->lambda; }
cc_nn_model *cc_cl_model_net(cc_cl_model *m) { return &m->net; }
const cc_nn_model *cc_cl_model_net_const(const cc_cl_model *m) { return &m->net; }
const char *cc_cl_model_note(const cc_cl_model *m) { return m->note; }

void cc_cl_model_free(cc_cl_model *m)
{
    if (!m)
        return;
    cc_nn_model_free(&m->net);
    free(m->note);
    free(m);
}

/* A layer with zero weights and a zero, trainable bias (an untrained model
 * predicts the prior). */
static int add_layer(cc_nn_model *n, const char *name, cc_op_type op, int prev, int cout, int k, cc_act act)
{
    static const float zero_bias[CC_NN_MAX_CHANNELS];
    return cc_nn_add_conv(n, name, op, prev, cout, k, 1, CC_PAD_ZERO, act, 0.01f, NULL, zero_bias);
}

cc_status cc_cl_model_build(const cc_cl_arch *a, cc_cl_model **out)
{
    *out = NULL;
    if (a->kt < 1 || a->kt > 15 || a->kt % 2 == 0)
        return cc_error_set(CC_ERR_ARG, "cloudless model: temporal kernel %d (odd, 1..15)", a->kt);
    if (a->half_window < a->kt / 2 || a->half_window > 366)
        return cc_error_set(CC_ERR_ARG, "cloudless model: half window %d (%d..366)", a->half_window, a->kt / 2);
    if (a->nhidden < 0 || a->nhidden > CC_CL_MAX_HIDDEN)
        return cc_error_set(CC_ERR_ARG, "cloudless model: %d hidden layers (0..%d)", a->nhidden, CC_CL_MAX_HIDDEN);
    int widths[2 + CC_CL_MAX_HIDDEN] = {a->width_in, a->width_t};
    for (int i = 0; i < a->nhidden; i++)
        widths[2 + i] = a->hidden[i];
    for (int i = 0; i < 2 + a->nhidden; i++)
        if (widths[i] < 1 || widths[i] > CC_NN_MAX_CHANNELS)
            return cc_error_set(CC_ERR_ARG, "cloudless model: layer width %d", widths[i]);
    if (!(a->whittaker_lambda > 0))
        return cc_error_set(CC_ERR_ARG, "cloudless model: Whittaker lambda %g (> 0)", a->whittaker_lambda);
    cc_cl_model *m = calloc(1, sizeof *m);
    if (!m)
        return cc_error_set(CC_ERR_NOMEM, "cloudless model: out of memory");
    m->half_window = a->half_window;
    m->kt = a->kt;
    m->lambda = a->whittaker_lambda;
    cc_nn_model *n = &m->net;
    cc_nn_model_init(n);
    cc_nn_input_desc *in = &n->input;
    in->nchannels = NF;
    for (int c = 0; c < NF; c++) {
        snprintf(in->band[c], sizeof in->band[c], "%s", cc_cl_feature_names[c]);
        in->resolution_m[c] = 10;
        in->mean[c] = a->mean[c];
        in->std[c] = a->std[c] > 0 ? a->std[c] : 1.0f;
    }
    in->dn_offset = -CC_REFL_DN_OFFSET_PB04;
    in->quantification = CC_REFL_QUANT;
    int prev = cc_nn_add_input(n, "input", NF);
    if (prev >= 0)
        prev = add_layer(n, "in", CC_OP_CONV2D, prev, a->width_in, 1, a->act);
    if (prev >= 0)
        prev = add_layer(n, "temporal", CC_OP_CONV1D_TIME, prev, a->width_t, a->kt, a->act);
    for (int i = 0; i < a->nhidden && prev >= 0; i++) {
        char name[32];
        snprintf(name, sizeof name, "hidden%d", i + 1);
        prev = add_layer(n, name, CC_OP_CONV2D, prev, a->hidden[i], 1, a->act);
    }
    if (prev >= 0)
        prev = add_layer(n, "correction", CC_OP_CONV2D, prev, NB, 1, CC_ACT_NONE);
    if (prev >= 0) {
        float scale[NB], shift[NB];
        int residual[NB];
        for (int c = 0; c < NB; c++) {
            scale[c] = a->out_scale;
            shift[c] = 0;
            residual[c] = CC_CLF_LIN + c;
        }
        prev = cc_nn_add_output(n, "output", prev, scale, shift, residual, 1000);
    }
    if (prev < 0 || cc_nn_model_finalize(n) != CC_OK) {
        cc_status st = cc_error_status();
        cc_cl_model_free(m);
        return st;
    }
    *out = m;
    return CC_OK;
}

cc_status cc_cl_model_check(const cc_nn_model *m, const char *path)
{
    if (m->input.nchannels != NF)
        return cc_error_set(CC_ERR_FORMAT, "%s: not a Cloudless model (%d input channels, expected %d)", path,
                            m->input.nchannels, NF);
    for (int c = 0; c < NF; c++)
        if (strcmp(m->input.band[c], cc_cl_feature_names[c]) != 0)
            return cc_error_set(CC_ERR_FORMAT, "%s: not a Cloudless model (input channel %d is '%s', expected '%s')",
                                path, c, m->input.band[c], cc_cl_feature_names[c]);
    const cc_nn_node *o = &m->nodes[m->output_node];
    if (o->cout != NB)
        return cc_error_set(CC_ERR_FORMAT, "%s: not a Cloudless model (%d outputs, expected %d)", path, o->cout, NB);
    for (int c = 0; c < NB; c++)
        if (o->residual_channel[c] != CC_CLF_LIN + c)
            return cc_error_set(CC_ERR_FORMAT, "%s: not a Cloudless model (output %d is not a correction of %s)",
                                path, c, cc_cl_feature_names[CC_CLF_LIN + c]);
    if (m->input.dn_offset != -CC_REFL_DN_OFFSET_PB04 || m->input.quantification != CC_REFL_QUANT)
        return cc_error_set(CC_ERR_FORMAT, "%s: not a Cloudless model (input coding %g/%g, expected -1000/10000)",
                            path, m->input.dn_offset, m->input.quantification);
    return CC_OK;
}

/* temporal kernel of the network: the single conv1d_time node's kernel */
static int net_kt(const cc_nn_model *n)
{
    int kt = 1, count = 0;
    for (int i = 0; i < n->nnodes; i++)
        if (n->nodes[i].op == CC_OP_CONV1D_TIME) {
            kt = n->nodes[i].kernel;
            count++;
        }
    return count == 1 ? kt : -1;
}

cc_status cc_cl_model_load(const char *path, cc_cl_model **out)
{
    *out = NULL;
    cc_cl_model *m = calloc(1, sizeof *m);
    if (!m)
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
    cc_nn_model_init(&m->net);
    cc_status st = cc_model_file_read(path, &m->net);
    if (st != CC_OK)
        goto out;
    if ((st = cc_cl_model_check(&m->net, path)) != CC_OK)
        goto out;
    const char *pv = m->net.provenance ? m->net.provenance : "";
    int hw = 0, kt = 0, used = 0;
    double lambda = 0;
    if (strncmp(pv, CL_HEADER " ", strlen(CL_HEADER) + 1) != 0 ||
        sscanf(pv + strlen(CL_HEADER), " half_window=%d kt=%d whittaker_lambda=%lf%n", &hw, &kt, &lambda, &used) !=
            3) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: not a Cloudless model (no '" CL_HEADER "' provenance header)", path);
        goto out;
    }
    if (hw < 1 || hw > 366 || kt != net_kt(&m->net) || kt % 2 == 0 || kt / 2 > hw || !(lambda > 0)) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: Cloudless header inconsistent (half_window=%d kt=%d lambda=%g)", path,
                          hw, kt, lambda);
        goto out;
    }
    m->half_window = hw;
    m->kt = kt;
    m->lambda = lambda;
    const char *rest = pv + strlen(CL_HEADER) + used;
    while (*rest == '\n' || *rest == ' ')
        rest++;
    if (*rest && !(m->note = strdup(rest))) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    *out = m;
    return CC_OK;
out:
    cc_cl_model_free(m);
    return st;
}

cc_status cc_cl_model_save_note(const cc_cl_model *m, const char *path, const char *note)
{
    if (!note)
        note = m->note ? m->note : "";
    size_t len = strlen(note) + 160;
    char *pv = malloc(len);
    if (!pv)
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
    snprintf(pv, len, CL_HEADER " half_window=%d kt=%d whittaker_lambda=%.17g\n%s", m->half_window, m->kt,
             m->lambda, note);
    cc_status st = cc_model_file_write(path, &m->net, pv);
    free(pv);
    return st;
}

cc_status cc_cl_model_save(const cc_cl_model *m, const char *path) { return cc_cl_model_save_note(m, path, NULL); }

/* ------------------------------------------------------------- features */

typedef struct {
    int W;
    float *s2, *ls, *ol, *s1; /* window copies [W][nb] */
    float *wh;                /* Whittaker [W][NB]     */
    double *pen, *L, *z;      /* lambda D'D and its banded Cholesky [W][3], rhs [W] */
    uint8_t *valid;           /* [W] */
} workspace;

static void ws_free(workspace *w)
{
    free(w->s2);
    free(w->ls);
    free(w->ol);
    free(w->s1);
    free(w->wh);
    free(w->pen);
    free(w->L);
    free(w->z);
    free(w->valid);
    memset(w, 0, sizeof *w);
}

static int ws_alloc(workspace *w, int W, double lambda)
{
    memset(w, 0, sizeof *w);
    w->W = W;
    w->s2 = malloc((size_t)W * NB * sizeof(float));
    w->ls = malloc((size_t)W * NB * sizeof(float));
    w->ol = malloc((size_t)W * NB * sizeof(float));
    w->s1 = malloc((size_t)W * CC_CL_NS1 * sizeof(float));
    w->wh = malloc((size_t)W * NB * sizeof(float));
    w->pen = malloc((size_t)W * 3 * sizeof(double));
    w->L = malloc((size_t)W * 3 * sizeof(double));
    w->z = malloc((size_t)W * sizeof(double));
    w->valid = malloc((size_t)W);
    if (!w->s2 || !w->ls || !w->ol || !w->s1 || !w->wh || !w->pen || !w->L || !w->z || !w->valid) {
        ws_free(w);
        return -1;
    }
    cc_gapfill_whittaker_penalty(lambda, W, 2, w->pen);
    return 0;
}

/* copies the window [t-N, t+N] of pixel p of array a (nb bands) into dst;
 * counts the valid samples per band into cnt */
static void gather(const float *a, const cc_series *s, size_t p, int w0, int W, int nb, float *dst, int *cnt)
{
    for (int b = 0; b < nb; b++)
        cnt[b] = 0;
    for (int i = 0; i < W; i++) {
        int d = w0 + i;
        float *o = dst + (size_t)i * nb;
        if (d < 0 || d >= s->ndays) {
            for (int b = 0; b < nb; b++)
                o[b] = NAN;
            continue;
        }
        const float *v = a + ((size_t)d * s->npix + p) * nb;
        for (int b = 0; b < nb; b++) {
            o[b] = v[b];
            cnt[b] += !isnan(v[b]);
        }
    }
}

/* The value at window index i of band b from its nearest valid samples j <= i
 * and k >= i (-1: none on that side; not both): linear between them,
 * constant beyond the ends; dist = days to the nearer one. Shared by the
 * reference and the fast feature paths (same arithmetic, same bits). */
static inline float interp_between(const float *y, int nb, int b, int i, int j, int k, int *dist)
{
    if (j >= 0 && k >= 0) {
        *dist = i - j < k - i ? i - j : k - i;
        if (k == j)
            return y[(size_t)j * nb + b];
        float a = y[(size_t)j * nb + b], c = y[(size_t)k * nb + b];
        return (float)(a + ((double)c - a) * (double)(i - j) / (double)(k - j));
    }
    if (j >= 0) {
        *dist = i - j;
        return y[(size_t)j * nb + b];
    }
    *dist = k - i;
    return y[(size_t)k * nb + b];
}

/* linear interpolation of band b at window index i (constant beyond the
 * ends); dist = days to the nearest valid sample. cnt > 0 required. */
static float interp_at(const float *y, int W, int nb, int b, int i, int *dist)
{
    int j = i < W - 1 ? i : W - 1, k = i > 0 ? i : 0;
    while (j >= 0 && isnan(y[(size_t)j * nb + b]))
        j--;
    while (k < W && isnan(y[(size_t)k * nb + b]))
        k++;
    return interp_between(y, nb, b, i, j, k < W ? k : -1, dist);
}

/* Whittaker smoother d = 2 of band b of the window y (W samples, nb stride)
 * into wh[.][b]; NaN when fewer than 3 samples. cc_gapfill_whittaker's
 * solver (pipeline/cloudless/gapfill.h) on the workspace, without allocation. */
static void whittaker2(workspace *ws, const float *y, int nb, int b, float *wh)
{
    const int n = ws->W;
    double *z = ws->z;
    int nvalid = 0;
    for (int i = 0; i < n; i++) {
        float v = y[(size_t)i * nb + b];
        ws->valid[i] = !isnan(v);
        z[i] = ws->valid[i] ? (double)v : 0.0;
        nvalid += ws->valid[i];
    }
    if (nvalid < 3 || n < 3) {
        for (int i = 0; i < n; i++)
            wh[(size_t)i * NB + b] = NAN;
        return;
    }
    cc_gapfill_whittaker_factor(ws->pen, ws->valid, n, 2, ws->L);
    cc_gapfill_whittaker_solve(ws->L, n, 2, z, 1, 1, 0);
    for (int i = 0; i < n; i++)
        wh[(size_t)i * NB + b] = (float)z[i];
}

/* the runtime's view of a feature: the model input's DN (core/reflectance.h),
 * decoded back */
static inline uint16_t enc(float f) { return cc_refl_encode(f, CC_REFL_DN_OFFSET_PB04, CC_REFL_QUANT); }
static inline float dec(uint16_t dn) { return (float)cc_refl_decode(dn, -CC_REFL_DN_OFFSET_PB04, CC_REFL_QUANT); }

static float dist_feat(int dist, int N) { return 1.0f + fminf((float)dist / (float)N, DIST_CAP); }

/* Raw features (float, not yet quantised) of pixel p: out[kt][NF]. */
static void features_px(workspace *ws, const cc_series *s, size_t p, int t, int N, int kt, int hide,
                        float *out, uint8_t *prior_ok)
{
    const int W = 2 * N + 1, w0 = t - N, R = kt / 2;
    int c2[NB], cl[NB], co[NB], c1[CC_CL_NS1];
    gather(s->s2, s, p, w0, W, NB, ws->s2, c2);
    if (hide >= w0 && hide < w0 + W) {
        float *o = ws->s2 + (size_t)(hide - w0) * NB;
        for (int b = 0; b < NB; b++)
            if (!isnan(o[b])) {
                o[b] = NAN;
                c2[b]--;
            }
    }
    gather(s->landsat, s, p, w0, W, NB, ws->ls, cl);
    gather(s->olci, s, p, w0, W, NB, ws->ol, co);
    gather(s->s1, s, p, w0, W, CC_CL_NS1, ws->s1, c1);
    int anyls = 0, anyol = 0, anys2 = 0;
    for (int b = 0; b < NB; b++) {
        anys2 |= c2[b] > 0;
        anyls |= cl[b] > 0;
        anyol |= co[b] > 0;
        if (prior_ok)
            prior_ok[b] = c2[b] > 0 || cl[b] > 0 || co[b] > 0;
        /* the smoother runs on the series the prior comes from */
        const float *src = c2[b] > 0 ? ws->s2 : cl[b] > 0 ? ws->ls : ws->ol;
        whittaker2(ws, src, NB, b, ws->wh);
    }
    /* the primary optical series: S2, else (no S2 in the window) Landsat */
    const float *prim = anys2 || !anyls ? ws->s2 : ws->ls;
    for (int k = 0; k < kt; k++) {
        int i = N - R + k; /* window index of day t-R+k */
        float *f = out + (size_t)k * NF;
        int ldist = 1 << 20, odist = 1 << 20, sdist = 1 << 20, dd;
        for (int b = 0; b < NB; b++) {
            float prior;
            if (c2[b] > 0)
                prior = interp_at(ws->s2, W, NB, b, i, &dd);
            else if (cl[b] > 0)
                prior = interp_at(ws->ls, W, NB, b, i, &dd);
            else if (co[b] > 0)
                prior = interp_at(ws->ol, W, NB, b, i, &dd);
            else
                prior = PRIOR_FILL;
            f[CC_CLF_LIN + b] = prior;
            float wv = i >= 0 && i < W ? ws->wh[(size_t)i * NB + b] : NAN;
            if (i < 0 || i >= W) /* outside the window: the nearest end */
                wv = ws->wh[(size_t)(i < 0 ? 0 : W - 1) * NB + b];
            f[CC_CLF_WHD + b] = 1.0f + (isnan(wv) ? 0.0f : wv - prior);
            float lv = 0;
            if (cl[b] > 0) {
                lv = interp_at(ws->ls, W, NB, b, i, &dd) - prior;
                if (dd < ldist)
                    ldist = dd;
            }
            f[CC_CLF_LSD + b] = 1.0f + lv;
            float ov = 0;
            if (co[b] > 0) {
                ov = interp_at(ws->ol, W, NB, b, i, &dd) - prior;
                if (dd < odist)
                    odist = dd;
            }
            f[CC_CLF_OLD + b] = 1.0f + ov;
        }
        f[CC_CLF_LS_DIST] = anyls ? dist_feat(ldist, N) : 1.0f + DIST_CAP;
        f[CC_CLF_OL_DIST] = anyol ? dist_feat(odist, N) : 1.0f + DIST_CAP;
        for (int b = 0; b < CC_CL_NS1; b++) {
            float v = -15.0f;
            if (c1[b] > 0) {
                v = interp_at(ws->s1, W, CC_CL_NS1, b, i, &dd);
                if (dd < sdist)
                    sdist = dd;
            }
            f[CC_CLF_S1_VV + b] = 1.0f + fminf(fmaxf((v + 30.0f) / 10.0f, -0.5f), 4.0f);
        }
        f[CC_CLF_S1_DIST] = c1[0] > 0 || c1[1] > 0 ? dist_feat(sdist, N) : 1.0f + DIST_CAP;
        /* S2: previous / next clear observation (any band) */
        int prev = -1, next = -1, flag = 0;
        for (int j = i < W - 1 ? i : W - 1; j >= 0 && prev < 0; j--)
            for (int b = 0; b < NB; b++)
                if (!isnan(prim[(size_t)j * NB + b])) {
                    prev = j;
                    break;
                }
        for (int j = i > 0 ? i : 0; j < W && next < 0; j++)
            for (int b = 0; b < NB; b++)
                if (!isnan(prim[(size_t)j * NB + b])) {
                    next = j;
                    break;
                }
        flag = prev == i && i >= 0 && i < W;
        f[CC_CLF_S2_PREV] = prev >= 0 ? dist_feat(i - prev, N) : 1.0f + DIST_CAP;
        f[CC_CLF_S2_NEXT] = next >= 0 ? dist_feat(next - i, N) : 1.0f + DIST_CAP;
        f[CC_CLF_S2_FLAG] = 1.0f + (float)flag;
        double day = (double)s->day0 + (double)(t - R + k);
        double ph = 2.0 * 3.14159265358979323846 * fmod(day, 365.2425) / 365.2425;
        f[CC_CLF_DOY_SIN] = (float)(1.0 + sin(ph));
        f[CC_CLF_DOY_COS] = (float)(1.0 + cos(ph));
    }
}

cc_status cc_cl_features(const cc_series *s, size_t p, int t, int half_window, int kt, double lambda, int hide,
                         float *out, uint8_t prior_ok[CC_CL_NBANDS])
{
    if (half_window < 1 || kt < 1 || kt % 2 == 0 || kt / 2 > half_window || p >= s->npix)
        return cc_error_set(CC_ERR_ARG, "cloudless features: half window %d, kt %d, pixel %zu of %zu", half_window,
                            kt, p, s->npix);
    workspace ws;
    if (ws_alloc(&ws, 2 * half_window + 1, lambda))
        return cc_error_set(CC_ERR_NOMEM, "cloudless features: out of memory");
    features_px(&ws, s, p, t, half_window, kt, hide, out, prior_ok);
    for (int i = 0; i < kt * NF; i++)
        out[i] = dec(enc(out[i]));
    ws_free(&ws);
    return CC_OK;
}

/* ------------------------------------------- features, the fast path
 *
 * features_fast() computes exactly what features_px() (the reference, used by
 * cc_cl_features) computes, bit for bit, for hide = -1 (prediction):
 *  - one validity bitmask per sensor and band, built while the window is
 *    copied; previous / next observations are bit scans instead of loops;
 *  - the Whittaker system W + lambda D'D depends only on the validity
 *    pattern: it is factored once per distinct pattern (bands of one sensor
 *    share it; a small per-thread cache keeps it across neighbouring pixels)
 *    by the solver whittaker2() uses (cc_gapfill_whittaker_factor), and the
 *    bands sharing it are solved together (cc_gapfill_whittaker_solve with
 *    several right-hand sides, the same arithmetic per band); the back
 *    substitution stops at the first of the kt days used;
 *  - interpolations are done once per sensor, band and day and shared by
 *    the LIN / LSD / OLD features; day-of-year features once per call.
 * tests/cloudless_model/test_cloudless_fast.c checks cc_cl_predict (this
 * path) against a prediction from cc_cl_features (the reference). */

#define MAXW (2 * 366 + 1)
#define MW ((MAXW + 63) / 64) /* mask words */
#define NCACHE 4
#define NSENS 4 /* S2, Landsat, OLCI, S1 */
#define PREFETCH_PX 8

typedef struct {
    int W, nw, N, kt;
    const double *pen; /* lambda D'D rows [W][3] (k = 0: without the diagonal W) */
    const float *doy;  /* [kt][2] DOY_SIN, DOY_COS */
    float *v[NSENS];   /* window copies [W][nb] (invalid entries never read) */
    uint64_t m[NSENS][NB][MW];
    double *z;         /* right-hand sides / solutions [W][NB] */
    uint64_t key[NCACHE][MW];
    double *L[NCACHE]; /* factors [W][3] of the patterns in key */
    uint8_t valid[MAXW];
    int ncached, next;
} fws;

static void fws_free(fws *w)
{
    for (int k = 0; k < NSENS; k++)
        free(w->v[k]);
    free(w->z);
    for (int c = 0; c < NCACHE; c++)
        free(w->L[c]);
    memset(w, 0, sizeof *w);
}

static int fws_alloc(fws *w, int N, int kt, const double *pen, const float *doy)
{
    memset(w, 0, sizeof *w);
    w->N = N;
    w->kt = kt;
    w->W = 2 * N + 1;
    w->nw = (w->W + 63) / 64;
    w->pen = pen;
    w->doy = doy;
    int bad = 0;
    for (int k = 0; k < NSENS; k++)
        bad |= !(w->v[k] = malloc((size_t)w->W * NB * sizeof(float)));
    bad |= !(w->z = malloc((size_t)w->W * NB * sizeof(double)));
    for (int c = 0; c < NCACHE; c++)
        bad |= !(w->L[c] = malloc((size_t)w->W * 3 * sizeof(double)));
    if (bad) {
        fws_free(w);
        return -1;
    }
    return 0;
}

static inline int bit_at(const uint64_t *m, int i) { return (int)(m[i >> 6] >> (i & 63)) & 1; }

static inline int clz64(uint64_t x)
{
#if defined(__GNUC__)
    return __builtin_clzll(x);
#else
    int n = 0;
    while (!(x >> 63))
        x <<= 1, n++;
    return n;
#endif
}
static inline int ctz64(uint64_t x)
{
#if defined(__GNUC__)
    return __builtin_ctzll(x);
#else
    int n = 0;
    while (!(x & 1))
        x >>= 1, n++;
    return n;
#endif
}
static inline int popcount64(uint64_t x)
{
#if defined(__GNUC__)
    return __builtin_popcountll(x);
#else
    int n = 0;
    for (; x; x &= x - 1)
        n++;
    return n;
#endif
}

/* last set bit <= i, -1 if none */
static inline int prev_bit(const uint64_t *m, int i)
{
    int w = i >> 6;
    uint64_t x = m[w] & (~0ULL >> (63 - (i & 63)));
    while (!x) {
        if (--w < 0)
            return -1;
        x = m[w];
    }
    return w * 64 + 63 - clz64(x);
}

/* first set bit >= i, -1 if none */
static inline int next_bit(const uint64_t *m, int nw, int i)
{
    int w = i >> 6;
    uint64_t x = m[w] & (~0ULL << (i & 63));
    while (!x) {
        if (++w >= nw)
            return -1;
        x = m[w];
    }
    return w * 64 + ctz64(x);
}

/* copies the window of pixel p of array a into dst [W][nb] and sets the
 * validity bits m[b] */
static void fgather(const float *a, const cc_series *s, size_t p, int w0, int W, int nb, float *dst,
                    uint64_t (*m)[MW], int nw)
{
    for (int b = 0; b < nb; b++)
        memset(m[b], 0, (size_t)nw * sizeof(uint64_t));
    int i0 = w0 < 0 ? -w0 : 0, i1 = s->ndays - w0 < W ? s->ndays - w0 : W;
    for (int i = i0; i < i1; i++) {
        const float *v = a + ((size_t)(w0 + i) * s->npix + p) * nb;
        float *o = dst + (size_t)i * nb;
        const int w = i >> 6, sh = i & 63;
#if defined(__GNUC__) && PREFETCH_PX > 0
        __builtin_prefetch(v + PREFETCH_PX * nb); /* a pixel a few ahead, same day */
#endif
        for (int b = 0; b < nb; b++) {
            float x = v[b];
            o[b] = x;
            m[b][w] |= (uint64_t)!isnan(x) << sh;
        }
    }
}

/* interp_at() on a validity mask (the mask is not empty) */
static inline float finterp(const float *y, int nb, int b, const uint64_t *m, int nw, int i, int *dist)
{
    int j = prev_bit(m, i), k = next_bit(m, nw, i);
    return interp_between(y, nb, b, i, j, k, dist);
}

static const double *factor_cached(fws *ws, const uint64_t *m)
{
    const size_t kb = (size_t)ws->nw * sizeof(uint64_t);
    for (int c = 0; c < ws->ncached; c++)
        if (!memcmp(ws->key[c], m, kb))
            return ws->L[c];
    int c = ws->ncached < NCACHE ? ws->ncached++ : ws->next;
    ws->next = (c + 1) % NCACHE;
    memcpy(ws->key[c], m, kb);
    for (int i = 0; i < ws->W; i++)
        ws->valid[i] = (uint8_t)bit_at(m, i);
    cc_gapfill_whittaker_factor(ws->pen, ws->valid, ws->W, 2, ws->L[c]);
    return ws->L[c];
}

/* Whittaker smoothing of the ng bands gb[] (values src[g] [W][NB], all with
 * the validity pattern m) solved with one factor; wh[k][b] for the kt days */
static void whittaker_group(fws *ws, const uint64_t *m, const int *gb, const float *const *src, int ng, float *wh)
{
    const int n = ws->W, stop = ws->N - ws->kt / 2;
    const double *L = factor_cached(ws, m);
    double *z = ws->z;
    for (int i = 0; i < n; i++) {
        int valid = bit_at(m, i);
        for (int g = 0; g < ng; g++)
            z[(size_t)i * NB + g] = valid ? (double)src[g][(size_t)i * NB + gb[g]] : 0.0;
    }
    /* the back substitution stops at the first of the kt days used */
    cc_gapfill_whittaker_solve(L, n, 2, z, NB, ng, stop);
    for (int k = 0; k < ws->kt; k++)
        for (int g = 0; g < ng; g++)
            wh[(size_t)k * NB + gb[g]] = (float)z[(size_t)(stop + k) * NB + g];
}

/* features_px(hide = -1), the fast way; see above */
static void features_fast(fws *ws, const cc_series *s, size_t p, int t, float *out, uint8_t *prior_ok)
{
    const int N = ws->N, kt = ws->kt, W = ws->W, nw = ws->nw, w0 = t - N, R = kt / 2, i0 = N - R;
    fgather(s->s2, s, p, w0, W, NB, ws->v[0], ws->m[0], nw);
    fgather(s->landsat, s, p, w0, W, NB, ws->v[1], ws->m[1], nw);
    fgather(s->olci, s, p, w0, W, NB, ws->v[2], ws->m[2], nw);
    fgather(s->s1, s, p, w0, W, CC_CL_NS1, ws->v[3], ws->m[3], nw);
    int has[NSENS][NB], any[NSENS] = {0};
    for (int k = 0; k < NSENS; k++)
        for (int b = 0; b < (k == 3 ? CC_CL_NS1 : NB); b++) {
            uint64_t o = 0;
            for (int w = 0; w < nw; w++)
                o |= ws->m[k][b][w];
            has[k][b] = o != 0;
            any[k] |= has[k][b];
        }
    /* Whittaker: bands grouped by the validity pattern of their source */
    float wh[15 * NB];
    int srcs[NB], done[NB] = {0};
    for (int b = 0; b < NB; b++) {
        srcs[b] = has[0][b] ? 0 : has[1][b] ? 1 : 2;
        if (prior_ok)
            prior_ok[b] = has[0][b] || has[1][b] || has[2][b];
    }
    for (int b = 0; b < NB; b++) {
        if (done[b])
            continue;
        const uint64_t *m = ws->m[srcs[b]][b];
        int nvalid = 0;
        for (int w = 0; w < nw; w++)
            nvalid += popcount64(m[w]);
        if (nvalid < 3) {
            for (int k = 0; k < kt; k++)
                wh[k * NB + b] = NAN;
            done[b] = 1;
            continue;
        }
        int gb[NB], ng = 0;
        const float *src[NB];
        for (int c = b; c < NB; c++)
            if (!done[c] && !memcmp(ws->m[srcs[c]][c], m, (size_t)nw * sizeof(uint64_t))) {
                gb[ng] = c;
                src[ng++] = ws->v[srcs[c]];
                done[c] = 1;
            }
        whittaker_group(ws, m, gb, src, ng, wh);
    }
    /* the primary optical series: S2, else (no S2 in the window) Landsat */
    const int prim = any[0] || !any[1] ? 0 : 1;
    uint64_t pm[MW];
    for (int w = 0; w < nw; w++) {
        uint64_t o = 0;
        for (int b = 0; b < NB; b++)
            o |= ws->m[prim][b][w];
        pm[w] = o;
    }
    for (int k = 0; k < kt; k++) {
        const int i = i0 + k;
        float *f = out + (size_t)k * NF;
        int ldist = 1 << 20, odist = 1 << 20, sdist = 1 << 20, dd;
        for (int b = 0; b < NB; b++) {
            float iv[3] = {0, 0, 0};
            for (int q = 0; q < 3; q++)
                if (has[q][b]) {
                    iv[q] = finterp(ws->v[q], NB, b, ws->m[q][b], nw, i, &dd);
                    if (q == 1 && dd < ldist)
                        ldist = dd;
                    if (q == 2 && dd < odist)
                        odist = dd;
                }
            float prior = has[0][b] ? iv[0] : has[1][b] ? iv[1] : has[2][b] ? iv[2] : PRIOR_FILL;
            f[CC_CLF_LIN + b] = prior;
            float wv = wh[k * NB + b];
            f[CC_CLF_WHD + b] = 1.0f + (isnan(wv) ? 0.0f : wv - prior);
            f[CC_CLF_LSD + b] = 1.0f + (has[1][b] ? iv[1] - prior : 0.0f);
            f[CC_CLF_OLD + b] = 1.0f + (has[2][b] ? iv[2] - prior : 0.0f);
        }
        f[CC_CLF_LS_DIST] = any[1] ? dist_feat(ldist, N) : 1.0f + DIST_CAP;
        f[CC_CLF_OL_DIST] = any[2] ? dist_feat(odist, N) : 1.0f + DIST_CAP;
        for (int b = 0; b < CC_CL_NS1; b++) {
            float v = -15.0f;
            if (has[3][b]) {
                v = finterp(ws->v[3], CC_CL_NS1, b, ws->m[3][b], nw, i, &dd);
                if (dd < sdist)
                    sdist = dd;
            }
            f[CC_CLF_S1_VV + b] = 1.0f + fminf(fmaxf((v + 30.0f) / 10.0f, -0.5f), 4.0f);
        }
        f[CC_CLF_S1_DIST] = has[3][0] || has[3][1] ? dist_feat(sdist, N) : 1.0f + DIST_CAP;
        int prev = prev_bit(pm, i), next = next_bit(pm, nw, i);
        f[CC_CLF_S2_PREV] = prev >= 0 ? dist_feat(i - prev, N) : 1.0f + DIST_CAP;
        f[CC_CLF_S2_NEXT] = next >= 0 ? dist_feat(next - i, N) : 1.0f + DIST_CAP;
        f[CC_CLF_S2_FLAG] = 1.0f + (float)(prev == i);
        f[CC_CLF_DOY_SIN] = ws->doy[2 * k];
        f[CC_CLF_DOY_COS] = ws->doy[2 * k + 1];
    }
}

/* ------------------------------------------------------------ prediction */

static int s2_valid_any(const cc_series *s, int d, size_t p)
{
    const float *v = s->s2 + ((size_t)d * s->npix + p) * NB;
    for (int b = 0; b < NB; b++)
        if (!isnan(v[b]))
            return 1;
    return 0;
}

cc_status cc_cl_predict(const cc_cl_model *m, const cc_series *s, int t, float *out)
{
    return cc_cl_predict_on(m, NULL, s, t, out);
}

cc_status cc_cl_predict_on(const cc_cl_model *m, const cc_nn_backend *backend, const cc_series *s, int t, float *out)
{
    if (t < 0 || t >= s->ndays)
        return cc_error_set(CC_ERR_ARG, "cloudless: target day index %d outside the series (0..%d)", t, s->ndays - 1);
    const int N = m->half_window, kt = m->kt, R = kt / 2;
    const size_t npix = s->npix;
    const cc_nn_backend *be = backend ? backend : cc_nn_backend_cpu();
    int nth = omp_get_max_threads();
    uint16_t *dn = cc_malloc3((size_t)kt * BLOCK, NF, sizeof(uint16_t));
    float *res = cc_malloc3((size_t)kt * BLOCK, NB, sizeof(float));
    uint8_t *ok = cc_malloc3(BLOCK, NB, 1);
    float *feat = cc_malloc3((size_t)nth, (size_t)kt * NF, sizeof(float));
    double *pen = cc_malloc3((size_t)(2 * N + 1), 3, sizeof(double));
    float doy[2 * 15];
    fws *ws = calloc((size_t)nth, sizeof *ws);
    cc_status st = CC_OK;
    int bad = !dn || !res || !ok || !feat || !pen || !ws;
    if (!bad) {
        cc_gapfill_whittaker_penalty(m->lambda, 2 * N + 1, 2, pen);
        for (int k = 0; k < kt; k++) { /* as features_px */
            double day = (double)s->day0 + (double)(t - R + k);
            double ph = 2.0 * 3.14159265358979323846 * fmod(day, 365.2425) / 365.2425;
            doy[2 * k] = (float)(1.0 + sin(ph));
            doy[2 * k + 1] = (float)(1.0 + cos(ph));
        }
    }
    for (int i = 0; !bad && i < nth; i++)
        bad = fws_alloc(&ws[i], N, kt, pen, doy);
    if (bad) {
        st = cc_error_set(CC_ERR_NOMEM, "cloudless: out of memory for %zu pixels", npix);
        goto out;
    }
    for (size_t p0 = 0; p0 < npix; p0 += BLOCK) {
        int nb = (int)(npix - p0 < BLOCK ? npix - p0 : BLOCK);
#pragma omp parallel for schedule(static) num_threads(nth)
        for (int i = 0; i < nb; i++) {
            int th = omp_get_thread_num();
            float *f = feat + (size_t)th * kt * NF;
            features_fast(&ws[th], s, p0 + (size_t)i, t, f, ok + (size_t)i * NB);
            for (int k = 0; k < kt; k++)
                for (int c = 0; c < NF; c++)
                    dn[((size_t)k * nb + i) * NF + c] = enc(f[(size_t)k * NF + c]);
        }
        if ((st = cc_nn_run_float(be, &m->net, kt, 1, nb, dn, res)) != CC_OK)
            goto out;
#pragma omp parallel for schedule(static) num_threads(nth)
        for (int i = 0; i < nb; i++) {
            size_t p = p0 + (size_t)i;
            const float *r = res + ((size_t)R * nb + i) * NB;
            const float *obs = s->s2 + ((size_t)t * npix + p) * NB;
            int clear = s2_valid_any(s, t, p);
            float *o = out + p * NB;
            for (int b = 0; b < NB; b++) {
                if (clear && !isnan(obs[b]))
                    o[b] = obs[b];
                else
                    o[b] = ok[(size_t)i * NB + b] ? r[b] : NAN;
            }
        }
    }
out:
    if (ws)
        for (int i = 0; i < nth; i++)
            fws_free(&ws[i]);
    free(ws);
    free(pen);
    free(dn);
    free(res);
    free(ok);
    free(feat);
    return st;
}

cc_status cc_cl_predictor(void *ctx, const cc_series *s, int t, float *out)
{
    return cc_cl_predict((const cc_cl_model *)ctx, s, t, out);
}

/* Day by day over a thread's contiguous pixels (the series is [day][pixel]
 * [band]: rows are read in order), EVB pixels at a time. */
#define EVB 2048
void cc_cl_evidence(const cc_series *s, int t, int16_t *days_since_s2, uint8_t *sensors)
{
    const int N = CC_CL_HALF_WINDOW;
    int d0 = t - N < 0 ? 0 : t - N, d1 = t + N >= s->ndays ? s->ndays - 1 : t + N;
    const size_t npix = s->npix;
#pragma omp parallel
    {
        int16_t since[EVB];
        uint8_t mask[EVB];
        const size_t nth = (size_t)omp_get_num_threads(), th = (size_t)omp_get_thread_num();
        const size_t a = npix / nth * th + (th < npix % nth ? th : npix % nth);
        const size_t e = a + npix / nth + (th < npix % nth);
        for (size_t q0 = a; q0 < e; q0 += EVB) {
            const size_t n = e - q0 < EVB ? e - q0 : EVB;
            for (size_t i = 0; i < n; i++) {
                since[i] = -1;
                mask[i] = 0;
            }
            for (int d = d0; d <= d1; d++) {
                const size_t o = (size_t)d * npix + q0;
                const float *s2 = s->s2 + o * NB, *ls = s->landsat + o * NB, *ol = s->olci + o * NB;
                const float *s1 = s->s1 + o * CC_CL_NS1;
                for (size_t i = 0; i < n; i++) {
                    int v2 = 0, vl = 0, vo = 0, v1 = 0;
                    for (int b = 0; b < NB; b++) {
                        v2 |= !isnan(s2[i * NB + b]);
                        vl |= !isnan(ls[i * NB + b]);
                        vo |= !isnan(ol[i * NB + b]);
                    }
                    for (int b = 0; b < CC_CL_NS1; b++)
                        v1 |= !isnan(s1[i * CC_CL_NS1 + b]);
                    mask[i] |= (uint8_t)(v2 << CC_SENSOR_S2 | vl << CC_SENSOR_LANDSAT | vo << CC_SENSOR_OLCI |
                                         v1 << CC_SENSOR_S1);
                    if (v2 && d <= t)
                        since[i] = (int16_t)(t - d);
                }
            }
            for (size_t i = 0; i < n; i++) {
                if (days_since_s2)
                    days_since_s2[q0 + i] = since[i];
                if (sensors)
                    sensors[q0 + i] = mask[i];
            }
        }
    }
}
