/* clearcube: the backward ops of training (kernels/train/train-impl.h): the
 * activations' derivatives, CONV2D (GEMMs: 1x1 stride 1 directly on the
 * channels-last tensor in units of UNIT_PX pixels, k=3 or stride 2 through an
 * im2col of one output row, the input gradient a col2im scatter in 3 phases of
 * rows), CONV1D_TIME (along the batch axis b), the pools, the upsamplings and
 * AFFINE's parameters. Parameter gradients are summed in fixed chunks (see
 * train.c), so every result is independent of the thread count. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/backend-impl.h"
#include "kernels/train/train-impl.h"

/* g: dL/dy on entry, dL/dz on exit; y = act(z). */
void cc_train_act_bwd(cc_act a, float alpha, const float *y, const float *z, float *g, size_t n)
{
    switch (a) {
    case CC_ACT_RELU:
        for (size_t i = 0; i < n; i++)
            g[i] = y[i] > 0.0f ? g[i] : 0.0f;
        break;
    case CC_ACT_LEAKY_RELU: /* PyTorch: z > 0 ? g : g*alpha */
        for (size_t i = 0; i < n; i++)
            g[i] = z[i] > 0.0f ? g[i] : g[i] * alpha;
        break;
    case CC_ACT_SILU: /* s*(1 + z*(1-s)) = s + y*(1-s), s = sigmoid(z) as the forward's */
        for (size_t i = 0; i < n; i++) {
            const float s = 1.0f / (1.0f + expf(-z[i]));
            g[i] *= s + y[i] * (1.0f - s);
        }
        break;
    case CC_ACT_SIGMOID:
        for (size_t i = 0; i < n; i++)
            g[i] *= y[i] * (1.0f - y[i]);
        break;
    default: break;
    }
}

void cc_train_act_bwd_par(cc_act a, float alpha, const float *y, const float *z, float *g, size_t n)
{
    if (a == CC_ACT_NONE)
        return;
    const long nc = (long)((n + EW_CHUNK - 1) / EW_CHUNK);
#pragma omp parallel for schedule(static) if(par_worth((size_t)(nc), EW_CHUNK))
    for (long c = 0; c < nc; c++) {
        const size_t i0 = (size_t)c * EW_CHUNK, ne = n - i0 < EW_CHUNK ? n - i0 : EW_CHUNK;
        cc_train_act_bwd(a, alpha, y + i0, z ? z + i0 : NULL, g + i0, ne);
    }
}

cc_status cc_train_grow(float **p, size_t *cap, size_t n)
{
    if (*cap >= n && *p)
        return CC_OK;
    free(*p);
    *p = cc_train_falloc(n);
    *cap = *p ? n : 0;
    return *p ? CC_OK : CC_ERR_NOMEM;
}

static cc_status ensure_scratch(cc_train_net *n, size_t per_thread)
{
    const int nt = nthreads_max();
    if (n->scratch && n->scratch_cap >= per_thread && n->scratch_nt >= nt)
        return CC_OK;
    free(n->scratch);
    n->scratch = NULL;
    size_t pt = rup16(per_thread + SLACK);
    n->scratch = cc_train_falloc(pt * (size_t)nt);
    if (!n->scratch) {
        n->scratch_cap = 0;
        return CC_ERR_NOMEM;
    }
    n->scratch_cap = pt - SLACK;
    n->scratch_nt = nt;
    return CC_OK;
}

static float *thread_scratch(const cc_train_net *n)
{
    return n->scratch + rup16(n->scratch_cap + SLACK) * (size_t)thread_id();
}

/* Input coordinate of tap j of output coordinate o along an axis of n pixels
 * (conv stride s, padding p = k/2), reflected under reflect padding; -1 where
 * zero padding reads nothing. */
static inline int tap_coord(const cc_nn_node *nd, int o, int j, int n)
{
    const int i = o * nd->stride - nd->kernel / 2 + j;
    if (i >= 0 && i < n)
        return i;
    if (nd->pad != CC_PAD_REFLECT)
        return -1;
    return i < 0 ? -i : 2 * n - 2 - i;
}

/* im2col of output row (t, oy) of a conv on x: cols[ox][(ky*k + kx)*cin + ci];
 * or, x NULL, its transpose: the columns added into the input gradient gx
 * (col2im). */
void cc_train_row_columns(const float *x, float *gx, const int *is, const cc_nn_node *nd, int t,
                          int oy, int wo, float *cols)
{
    const int H = is[1], W = is[2], cin = is[3], k = nd->kernel;
    const size_t kc = (size_t)k * (size_t)k * (size_t)cin;
    for (int ox = 0; ox < wo; ox++) {
        float *d = cols + (size_t)ox * kc;
        for (int ky = 0; ky < k; ky++) {
            const int iy = tap_coord(nd, oy, ky, H);
            for (int kx = 0; kx < k; kx++, d += cin) {
                const int ix = tap_coord(nd, ox, kx, W);
                const size_t at = (((size_t)t * H + (size_t)iy) * W + (size_t)ix) * cin;
                const int in = iy >= 0 && ix >= 0;
                if (!x) {
                    for (int c = 0; in && c < cin; c++)
                        gx[at + (size_t)c] += d[c];
                } else if (in) {
                    memcpy(d, x + at, (size_t)cin * sizeof(float));
                } else {
                    memset(d, 0, (size_t)cin * sizeof(float));
                }
            }
        }
    }
}

/* Adds the chunk partials (nch x stride floats, first len used) in chunk order to dst. */
static void reduce_partials(const float *part, int nch, size_t stride, size_t len, float *dst)
{
    const long nb = (long)((len + 255) / 256);
#pragma omp parallel for schedule(static) if(par_worth((size_t)(nb), (size_t)256 * (size_t)nch))
    for (long b = 0; b < nb; b++) {
        const size_t e0 = (size_t)b * 256, e1 = len - e0 < 256 ? len : e0 + 256;
        for (size_t e = e0; e < e1; e++) {
            float s = part[e];
            for (int c = 1; c < nch; c++)
                s += part[(size_t)c * stride + e];
            dst[e] += s;
        }
    }
}

/* g: dL/dz of node i (activation already applied). gx: the input's gradient. */
cc_status cc_train_conv2d_bwd(cc_train_net *n, int i, float *g, float *gx, int gx_set)
{
    const cc_nn_model *m = n->m;
    const cc_nn_node *nd = &m->nodes[i];
    const int *is = n->shape[nd->inputs[0]], *os = n->shape[i];
    const int cin = is[3], cout = nd->cout, k = nd->kernel;
    const size_t kc = (size_t)k * (size_t)k * (size_t)cin, ldk = rup16(kc);
    const int pw = is_pointwise(nd);
    const float *x = n->out[nd->inputs[0]];
    const int Wo = os[2];
    const long nunits = pw ? (long)(((size_t)os[0] * os[1] * os[2] + UNIT_PX - 1) / UNIT_PX)
                           : (long)os[0] * os[1];
    const size_t P = (size_t)os[0] * os[1] * os[2];
    const int nch = nunits < NCHUNK_MAX ? (int)nunits : NCHUNK_MAX;
    const size_t pstride = (size_t)cout * ldk + rup16((size_t)cout);
    cc_status st;
    if ((st = cc_train_grow(&n->wpack, &n->wpack_cap, (size_t)cout * ldk)) != CC_OK ||
        (st = cc_train_grow(&n->partial, &n->partial_cap, (size_t)nch * pstride)) != CC_OK)
        return st;
    if (!pw && (st = ensure_scratch(n, (size_t)Wo * kc)) != CC_OK)
        return st;
    float *wp = n->wpack, *part = n->partial;
    memset(wp, 0, (size_t)cout * ldk * sizeof(float));
    for (int co = 0; co < cout; co++)
        memcpy(wp + (size_t)co * ldk, nd->weight + (size_t)co * kc, kc * sizeof(float));
    const int nt = nthreads_max(); /* <= scratch_nt when scratch is used */
    /* parameter gradients (and, pointwise, the input gradient) */
#pragma omp parallel for schedule(static) num_threads(nt) if(par_worth((size_t)(nch), (P / (size_t)nch + 1) * (size_t)cout))
    for (int c = 0; c < nch; c++) {
        const long u0 = (long)c * nunits / nch, u1 = (long)(c + 1) * nunits / nch;
        float *pc = part + (size_t)c * pstride, *pb = pc + (size_t)cout * ldk;
        memset(pb, 0, (size_t)cout * sizeof(float));
        for (long u = u0; u < u1; u++) {
            const float *dz, *bm;
            int np;
            ptrdiff_t ldb;
            if (pw) {
                const size_t p0 = (size_t)u * UNIT_PX;
                np = (int)(P - p0 < UNIT_PX ? P - p0 : UNIT_PX);
                /* activation derivative of this unit (fused: one pass less) */
                cc_train_act_bwd(nd->act, nd->alpha, n->out[i] + p0 * cout,
                                 n->aux[i] ? n->aux[i] + p0 * cout : NULL, g + p0 * cout,
                                 (size_t)np * (size_t)cout);
                dz = g + p0 * cout;
                bm = x + p0 * cin;
                ldb = cin;
            } else {
                float *cols = thread_scratch(n);
                cc_train_row_columns(x, NULL, is, nd, (int)(u / os[1]), (int)(u % os[1]), Wo, cols);
                np = Wo;
                dz = g + (size_t)u * Wo * cout;
                bm = cols;
                ldb = (ptrdiff_t)kc;
            }
            gemm_t gw = {cout, (int)kc, np, dz, 1, cout, bm, ldb, NULL, pc, (ptrdiff_t)ldk, u > u0};
            cc_train_gemm(&gw);
            for (int p = 0; p < np; p++)
                for (int co = 0; co < cout; co++)
                    pb[co] += dz[(size_t)p * cout + co];
            if (pw) {
                const size_t p0 = (size_t)u * UNIT_PX;
                gemm_t gi = {np, cin, cout, dz, cout, 1, wp, (ptrdiff_t)ldk, NULL, gx + p0 * cin,
                             cin, gx_set};
                cc_train_gemm(&gi);
            }
        }
    }
    /* weights + bias: chunk partials summed in chunk order, one parallel region */
    {
        float *gw_dst = n->grads + n->off_a[i];
        float *gb_dst = n->off_b[i] != SIZE_MAX ? n->grads + n->off_b[i] : NULL;
        const size_t nw = (size_t)cout * kc, len = nw + (gb_dst ? (size_t)cout : 0);
        const long nb = (long)((len + 255) / 256);
#pragma omp parallel for schedule(static) if(par_worth((size_t)nb, (size_t)256 * (size_t)nch))
        for (long bk = 0; bk < nb; bk++) {
            const size_t e0 = (size_t)bk * 256, e1 = len - e0 < 256 ? len : e0 + 256;
            for (size_t e = e0; e < e1; e++) {
                const size_t src = e < nw ? (e / kc) * ldk + e % kc : (size_t)cout * ldk + (e - nw);
                float sum = part[src];
                for (int c = 1; c < nch; c++)
                    sum += part[(size_t)c * pstride + src];
                if (e < nw)
                    gw_dst[e] += sum;
                else
                    gb_dst[e - nw] += sum;
            }
        }
    }
    if (pw)
        return CC_OK;
    /* spatial input gradient: dcols = dz * W, scattered in 3 phases of rows */
    if (!gx_set)
        memset(gx, 0, numel(is) * sizeof(float));
    const int Ho = os[1];
    for (int ph = 0; ph < 3; ph++) {
        const int per = (Ho - ph + 2) / 3;
        if (per <= 0)
            continue;
        const long total = (long)os[0] * per;
#pragma omp parallel for schedule(static) num_threads(nt) if(par_worth((size_t)(total), (size_t)Wo * kc))
        for (long q = 0; q < total; q++) {
            const int t = (int)(q / per), oy = ph + 3 * (int)(q % per);
            float *dcols = thread_scratch(n);
            const float *dz = g + ((size_t)t * Ho + (size_t)oy) * Wo * cout;
            gemm_t gi = {Wo, (int)kc, cout, dz, cout, 1, wp, (ptrdiff_t)ldk, NULL, dcols,
                         (ptrdiff_t)kc, 0};
            cc_train_gemm(&gi);
            cc_train_row_columns(NULL, gx, is, nd, t, oy, Wo, dcols);
        }
    }
    return CC_OK;
}

void cc_train_conv1d_bwd(cc_train_net *n, int i, const float *g, float *gx, int gx_set)
{
    const cc_nn_node *nd = &n->m->nodes[i];
    const int *is = n->shape[nd->inputs[0]];
    const int T = is[0], cin = is[3], cout = nd->cout, kt = nd->kernel, left = (kt - 1) / 2;
    const size_t hw = (size_t)is[1] * (size_t)is[2];
    const float *x = n->out[nd->inputs[0]];
    float *gw = n->grads + n->off_a[i];
    float *gb = n->off_b[i] != SIZE_MAX ? n->grads + n->off_b[i] : NULL;
    /* parameters: one output channel per iteration, fixed (t, px) order */
#pragma omp parallel for schedule(static) if(par_worth((size_t)(cout), (size_t)T * hw * (size_t)cin * (size_t)kt))
    for (int co = 0; co < cout; co++) {
        float *wrow = gw + (size_t)co * kt * cin;
        for (int j = 0; j < kt; j++)
            for (int ci = 0; ci < cin; ci++) {
                float s = 0.0f;
                for (int t = 0; t < T; t++) {
                    const int ts = t + j - left;
                    if (ts < 0 || ts >= T)
                        continue;
                    for (size_t px = 0; px < hw; px++)
                        s += g[((size_t)t * hw + px) * cout + co] * x[((size_t)ts * hw + px) * cin + ci];
                }
                wrow[(size_t)j * cin + ci] += s;
            }
        if (gb) {
            float s = 0.0f;
            for (size_t e = 0; e < (size_t)T * hw; e++)
                s += g[e * cout + co];
            gb[co] += s;
        }
    }
    const long total = (long)T * (long)hw;
#pragma omp parallel for schedule(static) if(par_worth((size_t)(total), (size_t)cout * (size_t)cin * (size_t)kt))
    for (long e = 0; e < total; e++) {
        const int ts = (int)(e / (long)hw);
        const size_t px = (size_t)(e % (long)hw);
        float *o = gx + (size_t)e * cin;
        for (int ci = 0; ci < cin; ci++) {
            float s = 0.0f;
            for (int j = 0; j < kt; j++) {
                const int t = ts - j + left;
                if (t < 0 || t >= T)
                    continue;
                const float *gz = g + ((size_t)t * hw + px) * cout;
                for (int co = 0; co < cout; co++)
                    s += gz[co] * nd->weight[((size_t)co * kt + (size_t)j) * cin + ci];
            }
            o[ci] = gx_set ? o[ci] + s : s;
        }
    }
}

void cc_train_pool_bwd(cc_train_net *n, int i, const float *g, float *gx, int gx_set)
{
    const cc_nn_node *nd = &n->m->nodes[i];
    const int *is = n->shape[nd->inputs[0]];
    const int T = is[0], H = is[1], W = is[2], C = is[3], Ho = H / 2, Wo = W / 2;
    const int is_max = nd->op == CC_OP_MAXPOOL2;
    const float *x = n->out[nd->inputs[0]];
    const long nrows = (long)T * Ho;
#pragma omp parallel for schedule(static) if(par_worth((size_t)(nrows), (size_t)W * (size_t)C))
    for (long row = 0; row < nrows; row++) {
        const int t = (int)(row / Ho), oy = (int)(row % Ho);
        const size_t b0 = ((size_t)t * H + 2 * (size_t)oy) * W * C, b1 = b0 + (size_t)W * C;
        const float *go = g + (size_t)row * Wo * C;
        for (int ox = 0; ox < Wo; ox++)
            for (int c = 0; c < C; c++) {
                const size_t i0 = (2 * (size_t)ox) * C + c, i1 = i0 + C;
                const size_t idx[4] = {b0 + i0, b0 + i1, b1 + i0, b1 + i1};
                const float gv = go[(size_t)ox * C + c];
                float add[4];
                if (is_max) { /* to the element the forward took */
                    const int s = cc_nn_max4_index(x[idx[0]], x[idx[1]], x[idx[2]], x[idx[3]]);
                    for (int q = 0; q < 4; q++)
                        add[q] = q == s ? gv : 0.0f;
                } else {
                    for (int q = 0; q < 4; q++)
                        add[q] = gv * 0.25f;
                }
                for (int q = 0; q < 4; q++)
                    gx[idx[q]] = gx_set ? gx[idx[q]] + add[q] : add[q];
            }
    }
}

/* Weight of input index iv in output index o (bilinear, one axis). */
static float bil_w(int o, int in_size, int iv)
{
    int i0, i1;
    float l0, l1;
    cc_nn_bilinear_index(o, in_size, &i0, &i1, &l0, &l1);
    return (i0 == iv ? l0 : 0.0f) + (i1 == iv ? l1 : 0.0f);
}

/* Gather form (each input row by one thread, fixed order): deterministic. */
void cc_train_upsample_bwd(cc_train_net *n, int i, const float *g, float *gx, int gx_set)
{
    const cc_nn_node *nd = &n->m->nodes[i];
    const int *is = n->shape[nd->inputs[0]];
    const int T = is[0], H = is[1], W = is[2], C = is[3], Ho = 2 * H, Wo = 2 * W;
    const int bil = nd->op == CC_OP_UPSAMPLE2_BILINEAR;
    const long nrows = (long)T * H;
#pragma omp parallel for schedule(static) if(par_worth((size_t)(nrows), (size_t)W * (size_t)C))
    for (long row = 0; row < nrows; row++) {
        const int t = (int)(row / H), iy = (int)(row % H);
        const float *gb = g + (size_t)t * Ho * Wo * C;
        float *o = gx + (size_t)row * W * C;
        for (int ix = 0; ix < W; ix++)
            for (int c = 0; c < C; c++) {
                float s = 0.0f;
                if (!bil) {
                    for (int dy = 0; dy < 2; dy++)
                        for (int dx = 0; dx < 2; dx++)
                            s += gb[((size_t)(2 * iy + dy) * Wo + (size_t)(2 * ix + dx)) * C + c];
                } else {
                    const int oy0 = 2 * iy - 2 > 0 ? 2 * iy - 2 : 0;
                    const int oy1 = 2 * iy + 2 < Ho - 1 ? 2 * iy + 2 : Ho - 1;
                    const int ox0 = 2 * ix - 2 > 0 ? 2 * ix - 2 : 0;
                    const int ox1 = 2 * ix + 2 < Wo - 1 ? 2 * ix + 2 : Wo - 1;
                    for (int oy = oy0; oy <= oy1; oy++) {
                        const float wy = bil_w(oy, H, iy);
                        if (wy == 0.0f)
                            continue;
                        for (int ox = ox0; ox <= ox1; ox++) {
                            const float wx = bil_w(ox, W, ix);
                            if (wx != 0.0f)
                                s += wy * wx * gb[((size_t)oy * Wo + (size_t)ox) * C + c];
                        }
                    }
                }
                o[(size_t)ix * C + c] = gx_set ? o[(size_t)ix * C + c] + s : s;
            }
    }
}

cc_status cc_train_affine_bwd(cc_train_net *n, int i, const float *g)
{
    const cc_nn_node *nd = &n->m->nodes[i];
    const int C = nd->cout;
    const size_t P = numel(n->shape[i]) / (size_t)C;
    const float *x = n->out[nd->inputs[0]];
    const long nunits = (long)((P + UNIT_PX - 1) / UNIT_PX);
    const int nch = nunits < NCHUNK_MAX ? (int)nunits : NCHUNK_MAX;
    const size_t ps = 2 * rup16((size_t)C);
    if (cc_train_grow(&n->partial, &n->partial_cap, (size_t)nch * ps) != CC_OK)
        return CC_ERR_NOMEM;
    float *part = n->partial;
#pragma omp parallel for schedule(static) if(par_worth((size_t)(nch), (P / (size_t)nch + 1) * (size_t)C))
    for (int c = 0; c < nch; c++) {
        const size_t p0 = (size_t)((long)c * nunits / nch) * UNIT_PX;
        size_t p1 = (size_t)((long)(c + 1) * nunits / nch) * UNIT_PX;
        if (p1 > P)
            p1 = P;
        float *ps_ = part + (size_t)c * ps, *pt = ps_ + ps / 2;
        memset(ps_, 0, ps * sizeof(float));
        for (size_t p = p0; p < p1; p++)
            for (int k = 0; k < C; k++) {
                ps_[k] += g[p * C + k] * x[p * C + k];
                pt[k] += g[p * C + k];
            }
    }
    if (n->off_a[i] != SIZE_MAX)
        reduce_partials(part, nch, ps, (size_t)C, n->grads + n->off_a[i]);
    if (n->off_b[i] != SIZE_MAX)
        reduce_partials(part + ps / 2, nch, ps, (size_t)C, n->grads + n->off_b[i]);
    return CC_OK;
}

