/* clearcube: AVX-512F micro-kernels for the CPU backend (16 float lanes, 32
 * registers: blocks of up to 4 x 16 output channels x 6..24 pixels). Compiled
 * with -mavx512f -mfma; used only when the running CPU has AVX-512F
 * (cc_cpu_kernels_avx512 returns NULL otherwise). See simd-common.h. */
#include <immintrin.h>

#include "kernels/cpu/cpu-impl.h"

#define VEC __m512
#define VLEN 16
#define NVMAX 4
/* NV*NP accumulators + NV weights + 1 broadcast <= 32 registers */
#define NP_1 24
#define NP_2 12
#define NP_3 8
#define NP_4 6

static inline __m512 v_load(const float *p)
{
    return _mm512_loadu_ps(p);
}
static inline __m512 v_bcast(const float *p)
{
    return _mm512_set1_ps(*p);
}
static inline __m512 v_fma(__m512 a, __m512 b, __m512 c)
{
    return _mm512_fmadd_ps(a, b, c);
}
static inline __m512 v_relu(__m512 v)
{
    return _mm512_max_ps(v, _mm512_setzero_ps()); /* NaN -> 0, as v > 0 ? v : 0 */
}
static inline __m512 v_leaky(__m512 v, float alpha)
{
    const __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
    return _mm512_mask_mul_ps(v, neg, v, _mm512_set1_ps(alpha));
}
static inline void v_store_n(float *p, __m512 v, int n)
{
    if (n == VLEN)
        _mm512_storeu_ps(p, v);
    else
        _mm512_mask_storeu_ps(p, (__mmask16)((1u << n) - 1u), v);
}

#include "kernels/cpu/simd-common.h"

static const cc_cpu_kernels avx512_kernels = {
    .name = "avx512",
    .conv1x1 = sc_conv1x1,
    .conv2d_row = sc_conv2d_row,
};

const cc_cpu_kernels *cc_cpu_kernels_avx512(void)
{
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("fma"))
        return NULL;
    return &avx512_kernels;
}
