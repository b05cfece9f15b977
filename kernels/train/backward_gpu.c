/* clearcube: the conv2d backward pass on the net's GPU (cc_train_net_use_cuda;
 * kernels/cuda/train_cuda.h, docs/gpu.md "Training on CUDA").
 *
 * The same gradients as cc_train_conv2d_bwd (backward.c), as whole-layer cuBLAS
 * GEMMs instead of per-unit CPU GEMMs with chunk partials:
 *   - pointwise (1x1, stride 1, the dense layers of the per-pixel models):
 *     dW = dz^T x (cout x cin over all P pixels), db = column sums of dz,
 *     dx (+)= dz W;
 *   - spatial (k = 3 or stride 2): per block of output rows (columns of at most
 *     64 MiB) the host builds the im2col columns, the GPU adds dz^T cols into
 *     dW and the column sums into db and computes dcols = dz W, which the host
 *     scatters into dx (col2im) in row order.
 * Stays on the host: the activation derivative, the im2col/col2im, the adding
 * of the downloaded layer gradient into cc_train_grads. The layer's weights are
 * uploaded once per backward (not per GEMM); dz, x and the gradients go through
 * the context's device buffers, reused from step to step. Every step is in a
 * fixed order on one stream: two runs on the same GPU give the same bits. */
#include <string.h>

#include "kernels/train/train-impl.h"

enum { S_DZ = 0, S_X, S_W, S_GW, S_GX };

#ifndef CC_TRAIN_GPU_COLS_BYTES /* (smaller in a build that tests the blocking) */
#define CC_TRAIN_GPU_COLS_BYTES ((size_t)64 << 20) /* im2col block of the spatial path */
#endif

/* Adds the downloaded layer gradient (weights then bias) into the net's grads. */
static void add_layer_grads(cc_train_net *n, int i, size_t nw, size_t nb, const float *src)
{
    float *gw = n->grads + n->off_a[i];
    for (size_t e = 0; e < nw; e++)
        gw[e] += src[e];
    if (n->off_b[i] != SIZE_MAX) {
        float *gb = n->grads + n->off_b[i];
        for (size_t e = 0; e < nb; e++)
            gb[e] += src[nw + e];
    }
}

static cc_status pointwise(cc_train_net *n, int i, float *g, float *gx, int gx_set)
{
    const cc_nn_node *nd = &n->m->nodes[i];
    cc_cuda_train *t = n->gpu;
    const int *is = n->shape[nd->inputs[0]], *os = n->shape[i];
    const int cin = is[3], cout = nd->cout;
    const size_t P = (size_t)os[0] * os[1] * os[2], nw = (size_t)cout * cin;
    const int has_b = n->off_b[i] != SIZE_MAX;
    if (P > (size_t)0x7fffffff)
        return cc_error_set(CC_ERR_ARG, "train cuda: %zu pixels in one batch (at most 2^31-1)", P);
    cc_train_act_bwd_par(nd->act, nd->alpha, n->out[i], n->aux[i], g, P * (size_t)cout);
    float *dz = cc_cuda_train_buf(t, S_DZ, P * cout), *x = cc_cuda_train_buf(t, S_X, P * cin);
    float *w = cc_cuda_train_buf(t, S_W, nw), *gw = cc_cuda_train_buf(t, S_GW, nw + cout);
    float *dx = cc_cuda_train_buf(t, S_GX, P * cin);
    cc_status st;
    if (!dz || !x || !w || !gw || !dx)
        return cc_error_status();
    if ((st = cc_train_grow(&n->hbuf, &n->hbuf_cap, nw + cout)) != CC_OK ||
        (st = cc_cuda_train_put(t, dz, g, P * cout)) != CC_OK ||
        (st = cc_cuda_train_put(t, x, n->out[nd->inputs[0]], P * cin)) != CC_OK ||
        (st = cc_cuda_train_put(t, w, nd->weight, nw)) != CC_OK ||
        (gx_set && (st = cc_cuda_train_put(t, dx, gx, P * cin)) != CC_OK))
        return st;
    const cc_cuda_gemm_args gwa = {cout, cin, (int)P, dz, 1, cout, x, cin, NULL, gw, cin, 0};
    const cc_cuda_gemm_args gxa = {(int)P, cin, cout, dz, cout, 1, w, cin, NULL, dx, cin, gx_set};
    if ((st = cc_cuda_train_gemm(t, &gwa)) != CC_OK ||
        (has_b && (st = cc_cuda_train_colsum(t, (int)P, cout, dz, cout, gw + nw, 0)) != CC_OK) ||
        (st = cc_cuda_train_gemm(t, &gxa)) != CC_OK ||
        (st = cc_cuda_train_get(t, gx, dx, P * cin)) != CC_OK ||
        (st = cc_cuda_train_get(t, n->hbuf, gw, nw + (has_b ? cout : 0))) != CC_OK)
        return st;
    add_layer_grads(n, i, nw, (size_t)cout, n->hbuf);
    return CC_OK;
}

static cc_status spatial(cc_train_net *n, int i, const float *g, float *gx, int gx_set)
{
    const cc_nn_node *nd = &n->m->nodes[i];
    cc_cuda_train *t = n->gpu;
    const int *is = n->shape[nd->inputs[0]], *os = n->shape[i];
    const int cin = is[3], cout = nd->cout, k = nd->kernel, Ho = os[1], Wo = os[2];
    const size_t kc = (size_t)k * k * cin, nw = (size_t)cout * kc, row = (size_t)Wo * kc;
    const long rows = (long)os[0] * Ho;
    const int has_b = n->off_b[i] != SIZE_MAX;
    long rb = (long)(CC_TRAIN_GPU_COLS_BYTES / sizeof(float) / row);
    if (rb < 1)
        rb = 1;
    if (rb > rows)
        rb = rows;
    if ((size_t)rb * row > (size_t)0x7fffffff || kc > (size_t)0x7fffffff)
        return cc_error_set(CC_ERR_ARG, "train cuda: conv '%s' too large for one GEMM", nd->name);
    /* host: rb rows of columns, then the layer gradient */
    const size_t hcols = (size_t)rb * row;
    float *w = cc_cuda_train_buf(t, S_W, nw), *gw = cc_cuda_train_buf(t, S_GW, nw + cout);
    float *cols = cc_cuda_train_buf(t, S_X, hcols), *dz = cc_cuda_train_buf(t, S_DZ, (size_t)rb * Wo * cout);
    cc_status st;
    if (!w || !gw || !cols || !dz)
        return cc_error_status();
    if ((st = cc_train_grow(&n->hbuf, &n->hbuf_cap, hcols > nw + cout ? hcols : nw + cout)) != CC_OK ||
        (st = cc_cuda_train_put(t, w, nd->weight, nw)) != CC_OK)
        return st;
    const float *x = n->out[nd->inputs[0]];
    if (!gx_set)
        memset(gx, 0, numel(is) * sizeof(float));
    float *hc = n->hbuf;
    for (long r0 = 0; r0 < rows; r0 += rb) {
        const long nr = rows - r0 < rb ? rows - r0 : rb;
        const int np = (int)(nr * Wo);
#pragma omp parallel for schedule(static) if(par_worth((size_t)nr, row))
        for (long q = 0; q < nr; q++)
            cc_train_row_columns(x, NULL, is, nd, (int)((r0 + q) / Ho), (int)((r0 + q) % Ho), Wo,
                                 hc + (size_t)q * row);
        const cc_cuda_gemm_args gwa = {cout, (int)kc, np, dz, 1, cout, cols, (ptrdiff_t)kc, NULL,
                                       gw, (ptrdiff_t)kc, r0 > 0};
        const cc_cuda_gemm_args gca = {np, (int)kc, cout, dz, cout, 1, w, (ptrdiff_t)kc, NULL,
                                       cols, (ptrdiff_t)kc, 0};
        if ((st = cc_cuda_train_put(t, cols, hc, (size_t)nr * row)) != CC_OK ||
            (st = cc_cuda_train_put(t, dz, g + (size_t)r0 * Wo * cout, (size_t)np * cout)) != CC_OK ||
            (st = cc_cuda_train_gemm(t, &gwa)) != CC_OK ||
            (has_b && (st = cc_cuda_train_colsum(t, np, cout, dz, cout, gw + nw, r0 > 0)) != CC_OK) ||
            (st = cc_cuda_train_gemm(t, &gca)) != CC_OK ||
            (st = cc_cuda_train_get(t, hc, cols, (size_t)nr * row)) != CC_OK)
            return st;
        for (long q = 0; q < nr; q++) /* col2im in row order */
            cc_train_row_columns(NULL, gx, is, nd, (int)((r0 + q) / Ho), (int)((r0 + q) % Ho), Wo,
                                 hc + (size_t)q * row);
    }
    if ((st = cc_cuda_train_get(t, hc, gw, nw + (has_b ? cout : 0))) != CC_OK)
        return st;
    add_layer_grads(n, i, nw, (size_t)cout, hc);
    return CC_OK;
}

cc_status cc_train_conv2d_bwd_gpu(cc_train_net *n, int i, float *g, float *gx, int gx_set)
{
    cc_status st = cc_cuda_train_bind(n->gpu); /* the caller's thread may not be the creator's */
    if (st != CC_OK)
        return st;
    return is_pointwise(&n->m->nodes[i]) ? pointwise(n, i, g, gx, gx_set)
                                          : spatial(n, i, g, gx, gx_set);
}
