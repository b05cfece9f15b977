/* clearcube: internal to kernels/cuda/train_cuda.cu: how a gemm_t-style product
 * maps onto one column-major cublasSgemm (host-only C, no CUDA types).
 *
 * Row-major C (M x N) = A (M x K) * B (K x N) is, read column-major, the
 * product C^T = B^T * A^T: cuBLAS computes it with m = N, n = M, k = K, the
 * column-major view of B (N x K, leading dimension ldb, not transposed) first
 * and the column-major view of A second: with ak == 1, A^T is the K x M matrix
 * of leading dimension ai (not transposed); with ai == 1, A is the M x K matrix
 * of leading dimension ak (transposed). */
#ifndef CC_KERNELS_CUDA_TRAIN_CUDA_IMPL_H
#define CC_KERNELS_CUDA_TRAIN_CUDA_IMPL_H

#include "kernels/cuda/train_cuda.h"

/* The leading dimension of A's column-major view and in *trans whether cuBLAS
 * transposes it; 0 when the strides fit neither view (A must be packed
 * row-major, ld K, not transposed). Requires M, N, K >= 1. */
static inline ptrdiff_t cc_cuda_gemm_lda(const cc_cuda_gemm_args *g, int *trans)
{
    *trans = 0;
    if (g->M == 1) { /* A(0,k) = A[k*ak] */
        if (g->ak == 1 || g->K == 1)
            return g->K; /* K x 1 */
        if (g->ak >= 1)
            return *trans = 1, g->ak; /* 1 x K, ld ak, transposed */
        return 0;
    }
    if (g->K == 1) { /* A(i,0) = A[i*ai] */
        if (g->ai == 1)
            return *trans = 1, g->M; /* M x 1, transposed */
        return g->ai >= 1 ? g->ai : 0; /* 1 x M, ld ai */
    }
    if (g->ak == 1 && g->ai >= g->K)
        return g->ai; /* A^T: K x M, ld ai */
    if (g->ai == 1 && g->ak >= g->M)
        return *trans = 1, g->ak; /* A: M x K, ld ak, transposed */
    return 0;
}

#endif
