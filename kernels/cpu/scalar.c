/* clearcube: the CPU backend's portable micro-kernels (the scalar entries of
 * the cc_cpu_kernels table) and the choice of the table at run time (SIMD
 * providers kernels/cpu/simd_*.c, CLEARCUBE_SIMD). See kernels/cpu/cpu-impl.h. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "kernels/backend-impl.h"
#include "kernels/cpu/cpu-impl.h"

/* ---- portable kernels ----
 * Register blocking: PB pixels x CB output channels of accumulators, updated
 * with one weight row segment per input channel (the compiler vectorises the
 * CB loop). Tails reuse the same code on a duplicated pixel, so every output
 * element is always bias + sum over (tap, ci) in the same order. */

#define PB 4
#define CB 8

static const float zero_px[CC_NN_MAX_CHANNELS];

static void scalar_conv_taps(const cc_cpu_conv *c, size_t npix, int ntap, const float *const *xs,
                             const float *const *ws, float *y)
{
    const int cin = c->cin, cout = c->cout, ldw = c->ldw;
    for (size_t p = 0; p < npix; p += PB) {
        const int nb = npix - p < PB ? (int)(npix - p) : PB;
        size_t off[PB];
        for (int j = 0; j < PB; j++)
            off[j] = (p + (size_t)(j < nb ? j : nb - 1)) * (size_t)cin;
        for (int cb = 0; cb < ldw; cb += CB) {
            float acc[PB][CB];
            for (int j = 0; j < PB; j++)
                for (int u = 0; u < CB; u++)
                    acc[j][u] = c->bias[cb + u];
            for (int t = 0; t < ntap; t++) {
                const float *wr = ws[t] + cb;
                for (int ci = 0; ci < cin; ci++, wr += ldw)
                    for (int j = 0; j < PB; j++) {
                        const float xv = xs[t][off[j] + (size_t)ci];
                        for (int u = 0; u < CB; u++)
                            acc[j][u] += xv * wr[u];
                    }
            }
            const int nu = cout - cb < CB ? cout - cb : CB;
            for (int j = 0; j < nb; j++) {
                float *yo = y + (p + (size_t)j) * (size_t)cout + cb;
                for (int u = 0; u < nu; u++)
                    yo[u] = cc_nn_act_apply(c->act, c->alpha, acc[j][u]);
            }
        }
    }
}

static void scalar_conv1x1(const cc_cpu_conv *c, size_t npix, const float *x, float *y)
{
    const float *xs[1] = {x};
    const float *ws[1] = {c->w};
    scalar_conv_taps(c, npix, 1, xs, ws, y);
}

/* Column ix of a row under the padding mode (zero padding: a zero pixel). */
static inline const float *row_px(const float *row, int ix, int win, int cin, cc_pad pad)
{
    if (!row)
        return zero_px;
    if (ix < 0 || ix >= win) {
        if (pad == CC_PAD_ZERO)
            return zero_px;
        ix = ix < 0 ? -ix : 2 * win - 2 - ix;
    }
    return row + (size_t)ix * (size_t)cin;
}

static void scalar_conv2d_row(const cc_cpu_conv *c, int win, int wout, const float *const *rows,
                              float *out)
{
    const int cin = c->cin, cout = c->cout, ldw = c->ldw, k = c->k, s = c->stride;
    const int pad = k / 2;
    for (int ox0 = 0; ox0 < wout; ox0 += PB) {
        const int nb = wout - ox0 < PB ? wout - ox0 : PB;
        for (int cb = 0; cb < ldw; cb += CB) {
            float acc[PB][CB];
            for (int j = 0; j < PB; j++)
                for (int u = 0; u < CB; u++)
                    acc[j][u] = c->bias[cb + u];
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++) {
                    const float *xp[PB];
                    for (int j = 0; j < PB; j++)
                        xp[j] = row_px(rows[ky], (ox0 + (j < nb ? j : nb - 1)) * s - pad + kx, win,
                                       cin, c->pad);
                    const float *wr = c->w + (size_t)(ky * k + kx) * (size_t)cin * (size_t)ldw + cb;
                    for (int ci = 0; ci < cin; ci++, wr += ldw)
                        for (int j = 0; j < PB; j++) {
                            const float xv = xp[j][ci];
                            for (int u = 0; u < CB; u++)
                                acc[j][u] += xv * wr[u];
                        }
                }
            const int nu = cout - cb < CB ? cout - cb : CB;
            for (int j = 0; j < nb; j++) {
                float *o = out + (size_t)(ox0 + j) * (size_t)cout + cb;
                for (int u = 0; u < nu; u++)
                    o[u] = cc_nn_act_apply(c->act, c->alpha, acc[j][u]);
            }
        }
    }
}

static const cc_cpu_kernels scalar_kernels = {
    .name = "scalar",
    .conv1x1 = scalar_conv1x1,
    .conv2d_row = scalar_conv2d_row,
    .conv_taps = scalar_conv_taps,
};

const cc_cpu_kernels *cc_cpu_kernels_scalar(void)
{
    return &scalar_kernels;
}

static cc_cpu_kernels selected_kernels;
static pthread_once_t select_once = PTHREAD_ONCE_INIT;

static void select_kernels(void)
{
    const char *force = getenv("CLEARCUBE_SIMD");
    const cc_cpu_kernels *k = NULL;
    int want = 2; /* 2 avx512, 1 avx2, 0 scalar */
    if (force && *force) {
        if (strcmp(force, "scalar") == 0)
            want = 0;
        else if (strcmp(force, "avx2") == 0)
            want = 1;
        else if (strcmp(force, "avx512") != 0)
            cc_warn("CLEARCUBE_SIMD=%s unknown (avx512, avx2, scalar): using the best level",
                    force);
    }
#ifdef CC_CPU_HAVE_AVX512
    if (!k && want >= 2)
        k = cc_cpu_kernels_avx512();
#endif
#ifdef CC_CPU_HAVE_AVX2
    if (!k && want >= 1)
        k = cc_cpu_kernels_avx2();
#endif
    if (!k)
        k = &scalar_kernels;
    if (force && *force && strcmp(force, k->name) != 0 &&
        (want == 2 ? strcmp(force, "avx512") == 0 : want == 1))
        cc_warn("CLEARCUBE_SIMD=%s not available on this CPU/build: using %s", force, k->name);
    selected_kernels = *k;
    if (!selected_kernels.conv1x1)
        selected_kernels.conv1x1 = scalar_kernels.conv1x1;
    if (!selected_kernels.conv2d_row)
        selected_kernels.conv2d_row = scalar_kernels.conv2d_row;
    if (!selected_kernels.conv_taps)
        selected_kernels.conv_taps = scalar_kernels.conv_taps;
}

const cc_cpu_kernels *cc_cpu_kernels_get(void)
{
    pthread_once(&select_once, select_kernels);
    return &selected_kernels;
}

