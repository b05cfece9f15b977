/* clearcube: the register-blocked CPU micro-kernels, written once for any
 * vector width (internal). Included by kernels/cpu/simd_avx512.c and
 * kernels/cpu/simd_avx2.c after they define, for their instruction set:
 *
 *   VEC                    the vector type (VLEN floats)
 *   VLEN                   lanes
 *   NVMAX                  most output-channel vectors in one register block
 *   v_zero(), v_load(p), v_bcast(p) (broadcast *p), v_fma(a, b, c) (a*b + c, fused),
 *   v_relu(v) (v > 0 ? v : 0, NaN -> 0), v_leaky(v, alpha),
 *   v_store_n(p, v, n)     store the first n (1..VLEN) lanes
 *   NP_1 .. NP_4           pixels per register block for 1..4 vectors
 *
 * Design (see kernels/cpu/cpu-impl.h for the contract):
 *  - vectorised over output channels: a register block holds NP pixels x NV
 *    vectors of VLEN output channels (NV*NP accumulators); each step loads NV
 *    weight vectors and broadcasts one input value per pixel, so one weight
 *    load feeds NP FMAs and one broadcast feeds NV FMAs;
 *  - every output element is bias + sum over taps (ky, kx in order, zero-padded
 *    taps skipped) of sum over ci (in order) with one fused multiply-add per
 *    term: the same order whatever the block size, the position in the row or
 *    the number of pixels, hence identical results for any tiling/threads;
 *  - a 3x3 row is split into edge pixels (some tap outside the row: handled
 *    one at a time with per-tap pointers, reflected or skipped) and interior
 *    pixels (all taps inside: blocks with a constant input stride).
 */
#ifndef CC_KERNELS_CPU_SIMD_COMMON_H
#define CC_KERNELS_CPU_SIMD_COMMON_H

#include <stddef.h>
#include <string.h>

#include "kernels/backend-impl.h"
#include "kernels/cpu/cpu-impl.h"

#define SC_INLINE static inline __attribute__((always_inline))
#define SC_MAX_TAPS CC_CPU_MAX_TAPS

/* Stores NP x NV accumulators to out (pixel stride cout) from channel co0,
 * with the activation; lanes at or beyond cout are not written. */
SC_INLINE void sc_store(const cc_cpu_conv *c, int co0, float *out, VEC v, int vi)
{
    const int n0 = c->cout - co0 - vi * VLEN;
    if (n0 <= 0)
        return;
    const int n = n0 < VLEN ? n0 : VLEN;
    float *dst = out + co0 + vi * VLEN;
    switch (c->act) {
    case CC_ACT_NONE: break;
    case CC_ACT_RELU: v = v_relu(v); break;
    case CC_ACT_LEAKY_RELU: v = v_leaky(v, c->alpha); break;
    default: {
        float tmp[VLEN];
        v_store_n(tmp, v, VLEN);
        for (int i = 0; i < n; i++)
            dst[i] = cc_nn_act_apply(c->act, c->alpha, tmp[i]);
        return;
    }
    }
    v_store_n(dst, v, n);
}

/* One register block: NP pixels x NV vectors, output channels from co0.
 * Pixel j of tap t reads xs[t] + j*xstep (cin floats); ws[t] is the packed
 * weight matrix of tap t ([cin][ldw]). Fixed sizes (one function per shape)
 * so that the accumulators live in registers. */
#define SC_BLOCK(NAME, NV, NP)                                                                     \
    SC_INLINE void NAME(const cc_cpu_conv *c, int co0, int ntap, const float *const *xs,         \
                        size_t xstep, const float *const *ws, float *out)                          \
    {                                                                                              \
        const int cin = c->cin;                                                                    \
        const size_t ldw = (size_t)c->ldw;                                                         \
        VEC acc[NP][NV];                                                                           \
        _Pragma("GCC unroll 8") for (int v = 0; v < NV; v++)                                      \
        {                                                                                          \
            const VEC b = v_load(c->bias + co0 + v * VLEN);                                        \
            _Pragma("GCC unroll 32") for (int j = 0; j < NP; j++) acc[j][v] = b;                  \
        }                                                                                          \
        for (int t = 0; t < ntap; t++) {                                                           \
            const float *xp = xs[t];                                                               \
            const float *wp = ws[t] + co0;                                                         \
            for (int ci = 0; ci < cin; ci++) {                                                     \
                VEC wv[NV];                                                                        \
                _Pragma("GCC unroll 8") for (int v = 0; v < NV; v++) wv[v] =                      \
                    v_load(wp + v * VLEN);                                                         \
                _Pragma("GCC unroll 32") for (int j = 0; j < NP; j++)                             \
                {                                                                                  \
                    const VEC xb = v_bcast(xp + (size_t)j * xstep + (size_t)ci);                   \
                    _Pragma("GCC unroll 8") for (int v = 0; v < NV; v++) acc[j][v] =              \
                        v_fma(xb, wv[v], acc[j][v]);                                               \
                }                                                                                  \
                wp += ldw;                                                                         \
            }                                                                                      \
        }                                                                                          \
        _Pragma("GCC unroll 32") for (int j = 0; j < NP; j++)                                     \
            _Pragma("GCC unroll 8") for (int v = 0; v < NV; v++)                                  \
                sc_store(c, co0, out + (size_t)j * (size_t)c->cout, acc[j][v], v);                \
    }

#define SC_BLOCKS(NV, NPM)                                                                         \
    SC_BLOCK(sc_blockmax_##NV, NV, NPM)                                                            \
    SC_BLOCK(sc_block8_##NV, NV, 8)                                                                \
    SC_BLOCK(sc_block4_##NV, NV, 4)                                                                \
    SC_BLOCK(sc_block2_##NV, NV, 2)                                                                \
    SC_BLOCK(sc_block1_##NV, NV, 1)

/* Runs npix pixels (pixel p of tap t at xs[t] + p*xstep, output at
 * out + p*cout) through blocks of NV vectors: NPM pixels at a time, then 8,
 * 4, 2, 1. */
#define SC_STEP(BLK, N)                                                                            \
    for (; p + (N) <= npix; p += (N)) {                                                            \
        for (int t = 0; t < ntap; t++)                                                             \
            xt[t] = xs[t] + p * xstep;                                                             \
        BLK(c, co0, ntap, xt, xstep, ws, out + p * (size_t)c->cout);                               \
    }
#define SC_RUN_NV(NV, NPM)                                                                         \
    SC_BLOCKS(NV, NPM)                                                                             \
    SC_INLINE void sc_run_nv##NV(const cc_cpu_conv *c, int co0, size_t npix, int ntap,            \
                                 const float *const *xs, size_t xstep, const float *const *ws,    \
                                 float *out)                                                       \
    {                                                                                              \
        const float *xt[SC_MAX_TAPS];                                                              \
        size_t p = 0;                                                                              \
        SC_STEP(sc_blockmax_##NV, NPM)                                                             \
        if (NPM > 8)                                                                               \
            SC_STEP(sc_block8_##NV, 8)                                                             \
        if (NPM > 4)                                                                               \
            SC_STEP(sc_block4_##NV, 4)                                                             \
        SC_STEP(sc_block2_##NV, 2)                                                                 \
        SC_STEP(sc_block1_##NV, 1)                                                                 \
    }

SC_RUN_NV(1, NP_1)
SC_RUN_NV(2, NP_2)
SC_RUN_NV(3, NP_3)
#if NVMAX >= 4
SC_RUN_NV(4, NP_4)
#endif

/* All output channels of npix pixels: the ldw/VLEN vectors in chunks of at
 * most NVMAX (balanced: 5 -> 3+2, 8 -> 4+4). */
static void sc_run(const cc_cpu_conv *c, size_t npix, int ntap, const float *const *xs, size_t xstep,
                   const float *const *ws, float *out)
{
    int nvec = c->ldw / VLEN;
    int co0 = 0;
    while (nvec > 0) {
        int nchunks = (nvec + NVMAX - 1) / NVMAX;
        int nv = (nvec + nchunks - 1) / nchunks;
        switch (nv) {
        case 1: sc_run_nv1(c, co0, npix, ntap, xs, xstep, ws, out); break;
        case 2: sc_run_nv2(c, co0, npix, ntap, xs, xstep, ws, out); break;
        case 3: sc_run_nv3(c, co0, npix, ntap, xs, xstep, ws, out); break;
#if NVMAX >= 4
        default: sc_run_nv4(c, co0, npix, ntap, xs, xstep, ws, out); break;
#endif
        }
        co0 += nv * VLEN;
        nvec -= nv;
    }
}

static void sc_conv1x1(const cc_cpu_conv *c, size_t npix, const float *x, float *y)
{
    const float *xs[1] = {x};
    const float *ws[1] = {c->w};
    sc_run(c, npix, 1, xs, (size_t)c->cin, ws, y);
}

static void sc_conv_taps(const cc_cpu_conv *c, size_t npix, int ntap, const float *const *xs,
                         const float *const *ws, float *y)
{
    sc_run(c, npix, ntap, xs, (size_t)c->cin, ws, y);
}

static void sc_conv2d_row(const cc_cpu_conv *c, int win, int wout, const float *const *rows,
                          float *out)
{
    const int k = c->k, s = c->stride, pad = k / 2, cin = c->cin, cout = c->cout;
    const size_t tap_w = (size_t)cin * (size_t)c->ldw;
    /* interior: ox*s - pad >= 0 and ox*s - pad + k - 1 <= win - 1 */
    int lo = (pad + s - 1) / s;
    int hi = win - k + pad >= 0 ? (win - k + pad) / s + 1 : 0;
    if (hi > wout)
        hi = wout;
    if (lo > hi)
        lo = hi;
    const float *xs[SC_MAX_TAPS];
    const float *ws[SC_MAX_TAPS];
    if (hi > lo) {
        int nt = 0;
        for (int ky = 0; ky < k; ky++) {
            if (!rows[ky])
                continue;
            for (int kx = 0; kx < k; kx++) {
                xs[nt] = rows[ky] + (size_t)(lo * s - pad + kx) * (size_t)cin;
                ws[nt] = c->w + (size_t)(ky * k + kx) * tap_w;
                nt++;
            }
        }
        if (nt == 0) { /* every input row is zero padding: bias only */
            ws[0] = c->w;
        }
        sc_run(c, (size_t)(hi - lo), nt, xs, (size_t)s * (size_t)cin, ws,
               out + (size_t)lo * (size_t)cout);
    }
    for (int ox = 0; ox < wout; ox++) {
        if (ox == lo && hi > lo) {
            ox = hi - 1;
            continue;
        }
        int nt = 0;
        for (int ky = 0; ky < k; ky++) {
            if (!rows[ky])
                continue;
            for (int kx = 0; kx < k; kx++) {
                int ix = ox * s - pad + kx;
                if (ix < 0 || ix >= win) {
                    if (c->pad == CC_PAD_ZERO)
                        continue;
                    ix = ix < 0 ? -ix : 2 * win - 2 - ix;
                }
                xs[nt] = rows[ky] + (size_t)ix * (size_t)cin;
                ws[nt] = c->w + (size_t)(ky * k + kx) * tap_w;
                nt++;
            }
        }
        sc_run(c, 1, nt, xs, 0, ws, out + (size_t)ox * (size_t)cout);
    }
}

#endif
