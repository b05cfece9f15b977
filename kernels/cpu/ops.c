/* clearcube: the CPU backend's ops outside the conv groups: per-pixel affine
 * and activation, ADD (also the epilogue of a fused conv row), CONCAT, the
 * pools and the upsamplings (kernels/cpu/ref-impl.h). Each output element is
 * computed by one thread in a fixed order (see kernels/cpu/ref.c). */
#include <math.h>
#include <string.h>

#include "kernels/cpu/ref-impl.h"

void cc_cpu_apply_affine(const cc_nn_node *n, size_t np, int c, float *x)
{
    for (size_t p = 0; p < np; p++)
        for (int k = 0; k < c; k++) {
            float v = x[p * (size_t)c + (size_t)k];
            if (n->scale)
                v *= n->scale[k];
            if (n->shift)
                v += n->shift[k];
            x[p * (size_t)c + (size_t)k] = cc_nn_act_apply(n->act, n->alpha, v);
        }
}

void cc_cpu_apply_act(const cc_nn_node *n, size_t np, int c, float *x)
{
    size_t e = np * (size_t)c;
    for (size_t i = 0; i < e; i++)
        x[i] = cc_nn_act_apply(n->act, n->alpha, x[i]);
}

/* y[i] = act(y[i] + b[i]) (the ADD node n, fused or not): the switch is hoisted
 * out of the loop so that the loop vectorises. Same value as
 * cc_nn_act_apply(act, alpha, a + b) (float + is commutative). */
void cc_cpu_add_act(const cc_nn_node *n, const float *a, const float *b, float *y, size_t e)
{
    switch (n->act) {
    case CC_ACT_NONE:
        for (size_t i = 0; i < e; i++)
            y[i] = a[i] + b[i];
        break;
    case CC_ACT_RELU:
        for (size_t i = 0; i < e; i++) {
            const float v = a[i] + b[i];
            y[i] = v > 0.0f ? v : 0.0f;
        }
        break;
    default:
        for (size_t i = 0; i < e; i++)
            y[i] = cc_nn_act_apply(n->act, n->alpha, a[i] + b[i]);
        break;
    }
}

void cc_cpu_run_add(const cc_cpu_run *r, const cc_nn_node *n, const float *a, const float *b,
                    float *y, size_t e)
{
    const size_t chunk = 4096; /* fixed decomposition: thread-count independent */
    const long nchunks = (long)((e + chunk - 1) / chunk);
#pragma omp parallel for schedule(static) num_threads(r->nthreads)
    for (long ci = 0; ci < nchunks; ci++) {
        const size_t i0 = (size_t)ci * chunk, ne = e - i0 < chunk ? e - i0 : chunk;
        cc_cpu_add_act(n, a + i0, b + i0, y + i0, ne);
    }
}

void cc_cpu_run_concat(const cc_cpu_run *r, const cc_nn_node *n, const float *const *in,
                       const int *cins, size_t npix, float *y)
{
    const int cout = n->cout;
#pragma omp parallel for schedule(static) num_threads(r->nthreads)
    for (size_t p = 0; p < npix; p++) {
        float *o = y + p * (size_t)cout;
        for (int k = 0; k < n->ninputs; k++) {
            memcpy(o, in[k] + p * (size_t)cins[k], (size_t)cins[k] * sizeof(float));
            o += cins[k];
        }
    }
}

void cc_cpu_run_pool(const cc_cpu_run *r, const cc_nn_node *n, const int *is, const float *x,
                     float *y)
{
    const int T = is[0], H = is[1], W = is[2], C = is[3], Ho = H / 2, Wo = W / 2;
    const int is_max = n->op == CC_OP_MAXPOOL2;
    const long nrows = (long)T * Ho;
#pragma omp parallel for schedule(static) num_threads(r->nthreads)
    for (long row = 0; row < nrows; row++) {
        const int t = (int)(row / Ho), oy = (int)(row % Ho);
        const float *r0 = x + ((size_t)t * (size_t)H + 2 * (size_t)oy) * (size_t)W * (size_t)C;
        const float *r1 = r0 + (size_t)W * (size_t)C;
        float *o = y + (size_t)row * (size_t)Wo * (size_t)C;
        for (int ox = 0; ox < Wo; ox++)
            for (int c = 0; c < C; c++) {
                const size_t i0 = (2 * (size_t)ox) * (size_t)C + (size_t)c, i1 = i0 + (size_t)C;
                const float a = r0[i0], b = r0[i1], d = r1[i0], e = r1[i1];
                const float q[4] = {a, b, d, e};
                o[(size_t)ox * (size_t)C + (size_t)c] =
                    is_max ? q[cc_nn_max4_index(a, b, d, e)] : (((a + b) + d) + e) / 4.0f;
            }
    }
}

void cc_cpu_run_upsample(const cc_cpu_run *r, const cc_nn_node *n, const int *is, const float *x,
                         float *y)
{
    const int T = is[0], H = is[1], W = is[2], C = is[3], Ho = 2 * H, Wo = 2 * W;
    const int bil = n->op == CC_OP_UPSAMPLE2_BILINEAR;
    const long nrows = (long)T * Ho;
#pragma omp parallel for schedule(static) num_threads(r->nthreads)
    for (long row = 0; row < nrows; row++) {
        const int t = (int)(row / Ho), oy = (int)(row % Ho);
        const float *base = x + (size_t)t * (size_t)H * (size_t)W * (size_t)C;
        float *o = y + (size_t)row * (size_t)Wo * (size_t)C;
        if (!bil) {
            const float *ir = base + (size_t)(oy / 2) * (size_t)W * (size_t)C;
            for (int ox = 0; ox < Wo; ox++)
                memcpy(o + (size_t)ox * (size_t)C, ir + (size_t)(ox / 2) * (size_t)C,
                       (size_t)C * sizeof(float));
            continue;
        }
        int y0, y1, x0, x1;
        float ly0, ly1, lx0, lx1;
        cc_nn_bilinear_index(oy, H, &y0, &y1, &ly0, &ly1);
        const float *ra = base + (size_t)y0 * (size_t)W * (size_t)C;
        const float *rb = base + (size_t)y1 * (size_t)W * (size_t)C;
        for (int ox = 0; ox < Wo; ox++) {
            cc_nn_bilinear_index(ox, W, &x0, &x1, &lx0, &lx1);
            const float *a0 = ra + (size_t)x0 * (size_t)C, *a1 = ra + (size_t)x1 * (size_t)C;
            const float *b0 = rb + (size_t)x0 * (size_t)C, *b1 = rb + (size_t)x1 * (size_t)C;
            float *op = o + (size_t)ox * (size_t)C;
            for (int c = 0; c < C; c++)
                op[c] = ly0 * (lx0 * a0[c] + lx1 * a1[c]) + ly1 * (lx0 * b0[c] + lx1 * b1[c]);
        }
    }
}

