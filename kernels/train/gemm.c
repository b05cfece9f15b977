/* clearcube: the GEMM of the training backward pass (kernels/train/train-impl.h):
 * C[i][j] (=|+=) bias[j] + sum_k A(i,k) * B[k*ldb + j], A(i,k) = A[i*ai + k*ak];
 * i < M, j < N, k < K. B rows and bias must be readable up to column rup16(N)
 * (padding or SLACK; values there only reach discarded columns). Every C
 * element is bias + the k-sum in k order. The micro-kernel is 6 rows x 16
 * columns (AVX2+FMA when the CPU has it, portable C otherwise). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TRAIN_X86 1
#endif

#include "kernels/train/train-impl.h"

static void store_tile(const gemm_t *g, int i0, int mr, int j0, int nr, float acc[MR][NR])
{
    for (int r = 0; r < mr; r++) {
        float *c = g->C + (ptrdiff_t)(i0 + r) * g->ldc + j0;
        if (g->accum)
            for (int u = 0; u < nr; u++)
                c[u] += acc[r][u];
        else
            for (int u = 0; u < nr; u++)
                c[u] = acc[r][u];
    }
}

static void gemm_scalar(const gemm_t *g)
{
    for (int j0 = 0; j0 < g->N; j0 += NR) {
        const int nr = g->N - j0 < NR ? g->N - j0 : NR;
        for (int i0 = 0; i0 < g->M; i0 += MR) {
            const int mr = g->M - i0 < MR ? g->M - i0 : MR;
            const float *ar[MR];
            for (int r = 0; r < MR; r++)
                ar[r] = g->A + (ptrdiff_t)(r < mr ? i0 + r : i0 + mr - 1) * g->ai;
            float acc[MR][NR];
            for (int r = 0; r < MR; r++)
                for (int u = 0; u < NR; u++)
                    acc[r][u] = g->bias ? g->bias[j0 + u] : 0.0f;
            const float *b = g->B + j0;
            for (int k = 0; k < g->K; k++, b += g->ldb)
                for (int r = 0; r < MR; r++) {
                    const float av = ar[r][(ptrdiff_t)k * g->ak];
                    for (int u = 0; u < NR; u++)
                        acc[r][u] += av * b[u];
                }
            store_tile(g, i0, mr, j0, nr, acc);
        }
    }
}

#ifdef TRAIN_X86
__attribute__((target("avx2,fma"))) static void gemm_avx2(const gemm_t *g)
{
    for (int j0 = 0; j0 < g->N; j0 += NR) {
        const int nr = g->N - j0 < NR ? g->N - j0 : NR;
        for (int i0 = 0; i0 < g->M; i0 += MR) {
            const int mr = g->M - i0 < MR ? g->M - i0 : MR;
            const float *a0 = g->A + (ptrdiff_t)i0 * g->ai;
            const float *a1 = g->A + (ptrdiff_t)(1 < mr ? i0 + 1 : i0 + mr - 1) * g->ai;
            const float *a2 = g->A + (ptrdiff_t)(2 < mr ? i0 + 2 : i0 + mr - 1) * g->ai;
            const float *a3 = g->A + (ptrdiff_t)(3 < mr ? i0 + 3 : i0 + mr - 1) * g->ai;
            const float *a4 = g->A + (ptrdiff_t)(4 < mr ? i0 + 4 : i0 + mr - 1) * g->ai;
            const float *a5 = g->A + (ptrdiff_t)(5 < mr ? i0 + 5 : i0 + mr - 1) * g->ai;
            __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps();
            if (g->bias) {
                b0 = _mm256_loadu_ps(g->bias + j0);
                b1 = _mm256_loadu_ps(g->bias + j0 + 8);
            }
            __m256 c00 = b0, c01 = b1, c10 = b0, c11 = b1, c20 = b0, c21 = b1;
            __m256 c30 = b0, c31 = b1, c40 = b0, c41 = b1, c50 = b0, c51 = b1;
            const float *b = g->B + j0;
            const ptrdiff_t ak = g->ak, ldb = g->ldb;
            for (int k = 0; k < g->K; k++, b += ldb) {
                const ptrdiff_t o = (ptrdiff_t)k * ak;
                const __m256 x0 = _mm256_loadu_ps(b), x1 = _mm256_loadu_ps(b + 8);
                __m256 a = _mm256_broadcast_ss(a0 + o);
                c00 = _mm256_fmadd_ps(a, x0, c00);
                c01 = _mm256_fmadd_ps(a, x1, c01);
                a = _mm256_broadcast_ss(a1 + o);
                c10 = _mm256_fmadd_ps(a, x0, c10);
                c11 = _mm256_fmadd_ps(a, x1, c11);
                a = _mm256_broadcast_ss(a2 + o);
                c20 = _mm256_fmadd_ps(a, x0, c20);
                c21 = _mm256_fmadd_ps(a, x1, c21);
                a = _mm256_broadcast_ss(a3 + o);
                c30 = _mm256_fmadd_ps(a, x0, c30);
                c31 = _mm256_fmadd_ps(a, x1, c31);
                a = _mm256_broadcast_ss(a4 + o);
                c40 = _mm256_fmadd_ps(a, x0, c40);
                c41 = _mm256_fmadd_ps(a, x1, c41);
                a = _mm256_broadcast_ss(a5 + o);
                c50 = _mm256_fmadd_ps(a, x0, c50);
                c51 = _mm256_fmadd_ps(a, x1, c51);
            }
            if (nr == NR) {
                __m256 cc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21},
                                    {c30, c31}, {c40, c41}, {c50, c51}};
                for (int r = 0; r < mr; r++) {
                    float *c = g->C + (ptrdiff_t)(i0 + r) * g->ldc + j0;
                    __m256 v0 = cc[r][0], v1 = cc[r][1];
                    if (g->accum) {
                        v0 = _mm256_add_ps(_mm256_loadu_ps(c), v0);
                        v1 = _mm256_add_ps(_mm256_loadu_ps(c + 8), v1);
                    }
                    _mm256_storeu_ps(c, v0);
                    _mm256_storeu_ps(c + 8, v1);
                }
            } else {
                float acc[MR][NR];
                _mm256_storeu_ps(acc[0], c00);
                _mm256_storeu_ps(acc[0] + 8, c01);
                _mm256_storeu_ps(acc[1], c10);
                _mm256_storeu_ps(acc[1] + 8, c11);
                _mm256_storeu_ps(acc[2], c20);
                _mm256_storeu_ps(acc[2] + 8, c21);
                _mm256_storeu_ps(acc[3], c30);
                _mm256_storeu_ps(acc[3] + 8, c31);
                _mm256_storeu_ps(acc[4], c40);
                _mm256_storeu_ps(acc[4] + 8, c41);
                _mm256_storeu_ps(acc[5], c50);
                _mm256_storeu_ps(acc[5] + 8, c51);
                store_tile(g, i0, mr, j0, nr, acc);
            }
        }
    }
}
#endif

static void (*gemm_fn)(const gemm_t *) = gemm_scalar;
static const char *gemm_name = "scalar";
static pthread_once_t gemm_once = PTHREAD_ONCE_INIT;

static void gemm_select(void)
{
    const char *f = getenv("CLEARCUBE_SIMD");
    if (f && strcmp(f, "scalar") == 0)
        return;
#ifdef TRAIN_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        gemm_fn = gemm_avx2;
        gemm_name = "avx2";
    }
#endif
}

void cc_train_gemm(const gemm_t *g)
{
    if (g->M <= 0 || g->N <= 0)
        return;
    gemm_fn(g);
}

void cc_train_gemm_init(void)
{
    pthread_once(&gemm_once, gemm_select);
}

const char *cc_train_kernel_name(void)
{
    cc_train_gemm_init();
    return gemm_name;
}

