/* clearcube: the CPU backend's micro-kernel table (internal).
 *
 * The CPU backend (kernels/cpu/ref.c) owns the graph execution, threading
 * (OpenMP), tiling, DN decoding/encoding and all the cheap ops. The two hot
 * loops go through a table of function pointers that a SIMD file can supply:
 *
 *   conv1x1     a 1x1 conv + bias + activation over a tile of pixels (the layers
 *               of a fused per-pixel MLP, and any 1x1 conv);
 *   conv2d_row  one output row of a k x k (k = 1 or 3) conv, stride 1 or 2,
 *               zero or reflect padding, + bias + activation;
 *   conv_taps   a sum of 1x1 convs over a tile of pixels (one weight matrix per
 *               tap) + bias + activation: CC_OP_CONV1D_TIME, the taps being the
 *               time offsets inside the window.
 *
 * Providers (files kernels/cpu/simd*.c / *avx2* / *avx512*, another engineer):
 *   const cc_cpu_kernels *cc_cpu_kernels_avx512(void);
 *   const cc_cpu_kernels *cc_cpu_kernels_avx2(void);
 * each returning NULL when the running CPU lacks the instructions
 * (__builtin_cpu_supports). ref.c calls them only when compiled with
 * CC_CPU_HAVE_AVX512=1 / CC_CPU_HAVE_AVX2=1: a provider adds its source to
 * kernels/CMakeLists.txt together with
 *   target_compile_definitions(clearcube PRIVATE CC_CPU_HAVE_AVX2=1)
 *   set_source_files_properties(cpu/simd_avx2.c PROPERTIES COMPILE_OPTIONS "-mavx2;-mfma")
 * Selection at first use (thread-safe): CLEARCUBE_SIMD=avx512|avx2|scalar forces
 * a level (falling back, with a warning, to the best available lower one);
 * otherwise the best available. A provider may set an entry to NULL to use the
 * scalar one, and may call cc_cpu_kernels_scalar()'s entries for shapes it
 * does not specialise.
 *
 * Contract for every entry:
 *  - called concurrently from OpenMP threads; must not create threads, must
 *    not allocate (use the stack for small scratch), must not keep state;
 *  - a pixel's result must not depend on npix, on the pixel's position in the
 *    call or on the thread: one fixed operation order per output element
 *    (vectorise over output channels, or over pixels with a scalar tail that
 *    uses the SAME order), so outputs are identical for any thread count;
 *  - inputs and outputs never alias.
 */
#ifndef CC_KERNELS_CPU_CPU_IMPL_H
#define CC_KERNELS_CPU_CPU_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CC_CPU_ALIGN 64   /* bytes: packed weights and bias                       */
#define CC_CPU_COUT_PAD 16 /* ldw = cout rounded up to a multiple of this          */
#define CC_CPU_MAX_TAPS 64 /* most taps of one conv_taps call (conv1d kt <= 63)     */

/* A conv layer prepared for the CPU kernels (packed once per run by ref.c). */
typedef struct {
    int cin, cout;
    int ldw;            /* row stride of w and length of bias: cout rounded up to CC_CPU_COUT_PAD */
    int k;              /* 1 or 3; CC_OP_CONV1D_TIME: kt (w then holds kt taps)     */
    int stride;         /* 1 or 2                                                  */
    cc_pad pad;         /* padding p = k/2 (0 for k = 1)                            */
    cc_act act;
    float alpha;        /* LeakyReLU slope                                         */
    /* w[((ky*k + kx)*cin + ci)*ldw + co] = model weight [co][ky][kx][ci]
     * (CC_OP_CONV1D_TIME: w[(j*cin + ci)*ldw + co] = weight [co][j][ci], j < kt);
     * columns co >= cout are 0. CC_CPU_ALIGN-aligned.                           */
    const float *w;
    /* [ldw], zeros where the model has no bias and for co >= cout. Aligned.     */
    const float *bias;
} cc_cpu_conv;

typedef struct {
    const char *name;   /* "scalar", "avx2", "avx512"                             */
    /* y[p*cout + co] = act(bias[co] + sum_ci x[p*cin + ci] * w[ci*ldw + co]),
     * p < npix. Requires c->k == 1 (stride is irrelevant: the caller gathers).  */
    void (*conv1x1)(const cc_cpu_conv *c, size_t npix, const float *x, float *y);
    /* One output row: out[ox*cout + co], ox < wout, of the k x k conv at stride
     * c->stride. rows[ky] (ky < k) is the input row iy = oy*stride - p + ky, win
     * pixels of cin channels, already resolved by the caller (reflected for
     * reflect padding; NULL = a row of zeros for zero padding). Columns outside
     * [0, win) are handled here per c->pad (reflect: -1 -> 1, win -> win-2).
     * wout = (win + 2p - k)/stride + 1.                                          */
    void (*conv2d_row)(const cc_cpu_conv *c, int win, int wout, const float *const *rows,
                       float *out);
    /* y[p*cout + co] = act(bias[co] + sum_{t < ntap} sum_ci xs[t][p*cin + ci] *
     * ws[t][ci*ldw + co]), p < npix, 1 <= ntap <= CC_CPU_MAX_TAPS, taps summed
     * in the order given (ws[t]: a [cin][ldw] matrix, e.g. c->w + j*cin*ldw).   */
    void (*conv_taps)(const cc_cpu_conv *c, size_t npix, int ntap, const float *const *xs,
                      const float *const *ws, float *y);

    /* ---- OPTIONAL entries: NULL = not provided (ref.c then uses the portable
     * per-pixel helpers of kernels/backend-impl.h). Same contract as above. ---- */
    /* DN decoding of npix consecutive pixels: for each p, exactly
     * cc_nn_decode_pixel(m, dn + p*nin, x + p*nin) (nin = m->input.nchannels),
     * bit for bit.                                                             */
    void (*decode)(const cc_nn_model *m, size_t npix, const uint16_t *dn, float *x);
    /* Output encoding of npix consecutive pixels: for each p, exactly
     * cc_nn_encode_pixel(m, o, dn + p*nin, x + p*o->cout, out_dn + p*o->cout or
     * NULL, out_f + p*o->cout or NULL), bit for bit.                            */
    void (*encode)(const cc_nn_model *m, const cc_nn_node *o, size_t npix, const uint16_t *dn,
                   const float *x, uint16_t *out_dn, float *out_f);
} cc_cpu_kernels;

/* The portable kernels (always available). Static storage. */
const cc_cpu_kernels *cc_cpu_kernels_scalar(void);
/* The selected kernels (see above). Static storage. */
const cc_cpu_kernels *cc_cpu_kernels_get(void);

#ifdef CC_CPU_HAVE_AVX512
const cc_cpu_kernels *cc_cpu_kernels_avx512(void);
#endif
#ifdef CC_CPU_HAVE_AVX2
const cc_cpu_kernels *cc_cpu_kernels_avx2(void);
#endif

#ifdef __cplusplus
}
#endif
#endif
