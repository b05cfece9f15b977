/* Independent naive evaluation of a cc_nn_model for the tests: every node
 * materialised, channels-FIRST double tensors [t][c][y][x], straightforward
 * loops, double accumulation, PyTorch formulas written out from the PyTorch
 * documentation (not from kernels/). Header-only, test use only. */
#ifndef CC_TESTS_NN_NAIVE_H
#define CC_TESTS_NN_NAIVE_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/nn.h"

typedef struct {
    int t, c, h, w;
    double *d;
} nv_tensor;

static inline double *nv_at(const nv_tensor *x, int t, int c, int y, int xx)
{
    return &x->d[(((size_t)t * x->c + c) * x->h + y) * x->w + xx];
}

static inline void nv_alloc(nv_tensor *x, int t, int c, int h, int w)
{
    x->t = t;
    x->c = c;
    x->h = h;
    x->w = w;
    x->d = calloc((size_t)t * c * h * w + 1, sizeof(double));
    if (!x->d)
        abort();
}

static inline double nv_act(cc_act a, double alpha, double v)
{
    switch (a) {
    case CC_ACT_RELU: return v > 0 ? v : 0;
    case CC_ACT_LEAKY_RELU: return v >= 0 ? v : alpha * v;
    case CC_ACT_SILU: return v * (1.0 / (1.0 + exp(-v)));
    case CC_ACT_SIGMOID: return 1.0 / (1.0 + exp(-v));
    default: return v;
    }
}

/* Padded read: zero or reflect ("reflect" of PyTorch: -1 -> 1, n -> n-2). */
static inline double nv_get(const nv_tensor *x, int t, int c, int y, int xx, cc_pad pad)
{
    if (y < 0 || y >= x->h || xx < 0 || xx >= x->w) {
        if (pad == CC_PAD_ZERO)
            return 0.0;
        if (y < 0)
            y = -y;
        if (y >= x->h)
            y = 2 * x->h - 2 - y;
        if (xx < 0)
            xx = -xx;
        if (xx >= x->w)
            xx = 2 * x->w - 2 - xx;
    }
    return *nv_at(x, t, c, y, xx);
}

static inline int nv_nodata(const cc_nn_model *m, const uint16_t *dn, size_t pix)
{
    for (int c = 0; c < m->input.nchannels; c++)
        if (dn[pix * m->input.nchannels + c] == 0)
            return 1;
    return 0;
}

static inline double nv_rho(const cc_nn_model *m, const uint16_t *dn, size_t pix, int c)
{
    return (dn[pix * m->input.nchannels + c] + m->input.dn_offset) / m->input.quantification;
}

/* Per-op evaluators of nv_run: each allocates *y and fills it from its inputs.
 * The ones that can reject a shape return 0, or -1 on a shape problem. */
static inline void nv_input(const cc_nn_model *m, const cc_nn_node *n, int T, int H, int W,
                            const uint16_t *dn, nv_tensor *y)
{
    nv_alloc(y, T, n->in_channels, H, W);
    for (int t = 0; t < T; t++)
        for (int yy = 0; yy < H; yy++)
            for (int x = 0; x < W; x++) {
                size_t pix = ((size_t)t * H + yy) * W + x;
                int nd = nv_nodata(m, dn, pix);
                for (int c = 0; c < n->in_channels; c++)
                    *nv_at(y, t, c, yy, x) =
                        nd ? 0.0 : (nv_rho(m, dn, pix, c) - m->input.mean[c]) / m->input.std[c];
            }
}

static inline void nv_conv2d(const cc_nn_node *n, const nv_tensor *a, nv_tensor *y)
{
    int k = n->kernel, s = n->stride, p = k / 2, cin = a->c;
    int ho = (a->h + 2 * p - k) / s + 1, wo = (a->w + 2 * p - k) / s + 1;
    nv_alloc(y, a->t, n->cout, ho, wo);
    for (int t = 0; t < a->t; t++)
        for (int co = 0; co < n->cout; co++)
            for (int oy = 0; oy < ho; oy++)
                for (int ox = 0; ox < wo; ox++) {
                    double acc = n->bias ? n->bias[co] : 0.0;
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++)
                            for (int ci = 0; ci < cin; ci++)
                                acc += (double)n->weight[((size_t)(co * k + ky) * k + kx) * cin + ci] *
                                       nv_get(a, t, ci, oy * s - p + ky, ox * s - p + kx, n->pad);
                    *nv_at(y, t, co, oy, ox) = nv_act(n->act, n->alpha, acc);
                }
}

/* CC_OP_AFFINE and CC_OP_ACT. */
static inline void nv_affine_act(const cc_nn_node *n, const nv_tensor *a, nv_tensor *y)
{
    nv_alloc(y, a->t, a->c, a->h, a->w);
    for (int t = 0; t < a->t; t++)
        for (int c = 0; c < a->c; c++)
            for (int yy = 0; yy < a->h; yy++)
                for (int x = 0; x < a->w; x++) {
                    double q = *nv_at(a, t, c, yy, x);
                    if (n->op == CC_OP_AFFINE)
                        q = q * (n->scale ? n->scale[c] : 1.0) + (n->shift ? n->shift[c] : 0.0);
                    *nv_at(y, t, c, yy, x) = nv_act(n->act, n->alpha, q);
                }
}

static inline int nv_add(const cc_nn_node *n, const nv_tensor *a, const nv_tensor *b, nv_tensor *y)
{
    if (b->h != a->h || b->w != a->w || b->c != a->c)
        return -1;
    nv_alloc(y, a->t, a->c, a->h, a->w);
    for (size_t e = 0; e < (size_t)a->t * a->c * a->h * a->w; e++)
        y->d[e] = nv_act(n->act, n->alpha, a->d[e] + b->d[e]);
    return 0;
}

static inline void nv_concat(const cc_nn_node *n, const nv_tensor *v, const nv_tensor *a, nv_tensor *y)
{
    int c = 0;
    for (int k = 0; k < n->ninputs; k++)
        c += v[n->inputs[k]].c;
    nv_alloc(y, a->t, c, a->h, a->w);
    for (int t = 0; t < a->t; t++) {
        int c0 = 0;
        for (int k = 0; k < n->ninputs; k++) {
            const nv_tensor *b = &v[n->inputs[k]];
            for (int cc = 0; cc < b->c; cc++)
                for (int yy = 0; yy < a->h; yy++)
                    for (int x = 0; x < a->w; x++)
                        *nv_at(y, t, c0 + cc, yy, x) = *nv_at(b, t, cc, yy, x);
            c0 += b->c;
        }
    }
}

/* CC_OP_AVGPOOL2 and CC_OP_MAXPOOL2. */
static inline void nv_pool(const cc_nn_node *n, const nv_tensor *a, nv_tensor *y)
{
    nv_alloc(y, a->t, a->c, a->h / 2, a->w / 2);
    for (int t = 0; t < a->t; t++)
        for (int c = 0; c < a->c; c++)
            for (int yy = 0; yy < y->h; yy++)
                for (int x = 0; x < y->w; x++) {
                    double s = 0, mx = -INFINITY;
                    for (int dy = 0; dy < 2; dy++)
                        for (int dx = 0; dx < 2; dx++) {
                            double q = *nv_at(a, t, c, 2 * yy + dy, 2 * x + dx);
                            s += q;
                            mx = q > mx ? q : mx;
                        }
                    *nv_at(y, t, c, yy, x) = n->op == CC_OP_AVGPOOL2 ? s / 4 : mx;
                }
}

/* CC_OP_UPSAMPLE2_NEAREST and CC_OP_UPSAMPLE2_BILINEAR. */
static inline void nv_upsample(const cc_nn_node *n, const nv_tensor *a, nv_tensor *y)
{
    nv_alloc(y, a->t, a->c, 2 * a->h, 2 * a->w);
    for (int t = 0; t < a->t; t++)
        for (int c = 0; c < a->c; c++)
            for (int yy = 0; yy < y->h; yy++)
                for (int x = 0; x < y->w; x++) {
                    if (n->op == CC_OP_UPSAMPLE2_NEAREST) {
                        *nv_at(y, t, c, yy, x) = *nv_at(a, t, c, yy / 2, x / 2);
                        continue;
                    }
                    /* align_corners=False: src = (dst + 0.5)/2 - 0.5, clamped at 0 */
                    double sy = (yy + 0.5) / 2 - 0.5, sx = (x + 0.5) / 2 - 0.5;
                    if (sy < 0)
                        sy = 0;
                    if (sx < 0)
                        sx = 0;
                    int y0 = (int)floor(sy), x0 = (int)floor(sx);
                    int y1 = y0 + 1 < a->h ? y0 + 1 : a->h - 1;
                    int x1 = x0 + 1 < a->w ? x0 + 1 : a->w - 1;
                    double fy = sy - y0, fx = sx - x0;
                    *nv_at(y, t, c, yy, x) =
                        (1 - fy) * ((1 - fx) * *nv_at(a, t, c, y0, x0) + fx * *nv_at(a, t, c, y0, x1)) +
                        fy * ((1 - fx) * *nv_at(a, t, c, y1, x0) + fx * *nv_at(a, t, c, y1, x1));
                }
}

static inline void nv_conv1d_time(const cc_nn_node *n, const nv_tensor *a, nv_tensor *y)
{
    int kt = n->kernel, left = (kt - 1) / 2; /* PyTorch padding='same' */
    nv_alloc(y, a->t, n->cout, a->h, a->w);
    for (int t = 0; t < a->t; t++)
        for (int co = 0; co < n->cout; co++)
            for (int yy = 0; yy < a->h; yy++)
                for (int x = 0; x < a->w; x++) {
                    double acc = n->bias ? n->bias[co] : 0.0;
                    for (int j = 0; j < kt; j++) {
                        int ts = t + j - left;
                        if (ts < 0 || ts >= a->t)
                            continue;
                        for (int ci = 0; ci < a->c; ci++)
                            acc += (double)n->weight[((size_t)co * kt + j) * a->c + ci] * *nv_at(a, ts, ci, yy, x);
                    }
                    *nv_at(y, t, co, yy, x) = nv_act(n->act, n->alpha, acc);
                }
}

static inline int nv_output(const cc_nn_model *m, const cc_nn_node *n, int T, int H, int W, const uint16_t *dn,
                            const nv_tensor *a, nv_tensor *y, double *out_f, uint16_t *out_dn)
{
    if (a->h != H || a->w != W)
        return -1;
    nv_alloc(y, a->t, a->c, a->h, a->w);
    for (int t = 0; t < T; t++)
        for (int yy = 0; yy < H; yy++)
            for (int x = 0; x < W; x++) {
                size_t pix = ((size_t)t * H + yy) * W + x;
                int nd = nv_nodata(m, dn, pix);
                for (int c = 0; c < a->c; c++) {
                    double q = *nv_at(a, t, c, yy, x) * (n->scale ? n->scale[c] : 1.0) +
                               (n->shift ? n->shift[c] : 0.0);
                    if (n->residual_channel[c] >= 0)
                        q += nv_rho(m, dn, pix, n->residual_channel[c]);
                    size_t o = pix * a->c + c;
                    out_f[o] = nd ? NAN : q;
                    if (out_dn) {
                        double d = q * 10000.0 + n->out_dn_offset;
                        out_dn[o] = nd ? 0 : d < 1 ? 1 : d > 65534 ? 65534 : (uint16_t)floor(d + 0.5);
                    }
                }
            }
    return 0;
}

/* Evaluates m on (T,H,W) DN input. out_f: float output (T,H,W,cout) reflectance,
 * NaN at nodata; out_dn (may be NULL): DN output. Returns 0, or -1 on a shape
 * problem. */
static inline int nv_run(const cc_nn_model *m, int T, int H, int W, const uint16_t *dn,
                         double *out_f, uint16_t *out_dn)
{
    nv_tensor *v = calloc((size_t)m->nnodes, sizeof *v);
    int rc = 0;
    for (int i = 0; i < m->nnodes && rc == 0; i++) {
        const cc_nn_node *n = &m->nodes[i];
        const nv_tensor *a = n->ninputs ? &v[n->inputs[0]] : NULL;
        nv_tensor *y = &v[i];
        switch (n->op) {
        case CC_OP_INPUT: nv_input(m, n, T, H, W, dn, y); break;
        case CC_OP_CONV2D: nv_conv2d(n, a, y); break;
        case CC_OP_AFFINE:
        case CC_OP_ACT: nv_affine_act(n, a, y); break;
        case CC_OP_ADD: rc = nv_add(n, a, &v[n->inputs[1]], y); break;
        case CC_OP_CONCAT: nv_concat(n, v, a, y); break;
        case CC_OP_AVGPOOL2:
        case CC_OP_MAXPOOL2: nv_pool(n, a, y); break;
        case CC_OP_UPSAMPLE2_NEAREST:
        case CC_OP_UPSAMPLE2_BILINEAR: nv_upsample(n, a, y); break;
        case CC_OP_CONV1D_TIME: nv_conv1d_time(n, a, y); break;
        case CC_OP_OUTPUT: rc = nv_output(m, n, T, H, W, dn, a, y, out_f, out_dn); break;
        default: rc = -1; break;
        }
    }
    for (int i = 0; i < m->nnodes; i++)
        free(v[i].d);
    free(v);
    return rc;
}

#endif
