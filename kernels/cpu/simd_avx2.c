/* clearcube: AVX2+FMA micro-kernels for the CPU backend (8 float lanes, 16
 * registers: blocks of up to 3 x 8 output channels x 4..12 pixels). Compiled
 * with -mavx2 -mfma; used only when the running CPU has AVX2 and FMA
 * (cc_cpu_kernels_avx2 returns NULL otherwise). See simd-common.h. */
#include <immintrin.h>

#include "kernels/cpu/cpu-impl.h"

#define VEC __m256
#define VLEN 8
#define NVMAX 3
/* NV*NP accumulators + NV weights + 1 broadcast <= 16 registers */
#define NP_1 12
#define NP_2 6
#define NP_3 4
#define NP_4 3

static inline __m256 v_load(const float *p)
{
    return _mm256_loadu_ps(p);
}
static inline __m256 v_bcast(const float *p)
{
    return _mm256_broadcast_ss(p);
}
static inline __m256 v_fma(__m256 a, __m256 b, __m256 c)
{
    return _mm256_fmadd_ps(a, b, c);
}
static inline __m256 v_relu(__m256 v)
{
    return _mm256_max_ps(v, _mm256_setzero_ps()); /* NaN -> 0, as v > 0 ? v : 0 */
}
static inline __m256 v_leaky(__m256 v, float alpha)
{
    const __m256 neg = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ);
    return _mm256_blendv_ps(v, _mm256_mul_ps(v, _mm256_set1_ps(alpha)), neg);
}
static inline void v_store_n(float *p, __m256 v, int n)
{
    if (n == VLEN) {
        _mm256_storeu_ps(p, v);
    } else {
        const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx);
        _mm256_maskstore_ps(p, m, v);
    }
}

#include "kernels/cpu/simd-common.h"

static const cc_cpu_kernels avx2_kernels = {
    .name = "avx2",
    .conv1x1 = sc_conv1x1,
    .conv2d_row = sc_conv2d_row,
    .conv_taps = sc_conv_taps,
};

const cc_cpu_kernels *cc_cpu_kernels_avx2(void)
{
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
        return NULL;
    return &avx2_kernels;
}
