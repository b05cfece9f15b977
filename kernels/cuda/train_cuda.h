/* clearcube: the GEMMs of training on a GPU (issue 15; docs/gpu.md, "Training on
 * CUDA"). kernels/train runs the dense layers' backward GEMMs here when the net
 * was given a GPU (cc_train_net_use_cuda); the operands live in device buffers
 * owned by the context, reused from step to step.
 *
 * Determinism: one cuBLAS handle on one non-blocking stream, a fixed workspace
 * (cublasSetWorkspace, allocated once), CUBLAS_PEDANTIC_MATH (fp32, no TF32 or
 * reduced-precision paths), atomics not allowed. cuBLAS documents bit-identical
 * results run to run on GPUs of the same architecture and SM count with one
 * stream and a given toolkit version; the results are NOT bit-identical to the
 * CPU GEMM (kernels/train/gemm.c: other summation order), see the tolerance in
 * docs/gpu.md.
 *
 * In a build without CUDA (train_cuda_none.c) cc_cuda_train_create fails with
 * CC_ERR_NODEVICE; nothing else may be called then. */
#ifndef CC_KERNELS_CUDA_TRAIN_CUDA_H
#define CC_KERNELS_CUDA_TRAIN_CUDA_H

#include <stddef.h>

#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cc_cuda_train cc_cuda_train;

/* A context on visible GPU `device` (made current for the calling thread; use
 * the context from one thread at a time; cc_cuda_train_bind). CC_ERR_NODEVICE with a one-line reason
 * when the build has no CUDA or the GPU cannot be used. */
cc_status cc_cuda_train_create(int device, cc_cuda_train **out);
void cc_cuda_train_free(cc_cuda_train *t);
/* Makes the context's GPU current for the calling thread (cudaSetDevice): call
 * before a batch of work from a thread other than the creator's. */
cc_status cc_cuda_train_bind(cc_cuda_train *t);
/* "cuBLAS 13.0.0 on NVIDIA H100 80GB HBM3 (sm_90, pedantic fp32)". */
const char *cc_cuda_train_name(const cc_cuda_train *t);

/* Device buffer number `slot` (0 <= slot < CC_CUDA_TRAIN_SLOTS) of at least n
 * floats, grown on demand (contents are not kept when it grows). NULL with the
 * error set on failure. */
#define CC_CUDA_TRAIN_SLOTS 8
float *cc_cuda_train_buf(cc_cuda_train *t, int slot, size_t n);
/* Host <-> device copies of n floats, ordered on the context's stream;
 * cc_cuda_train_get waits for the copy (and everything before it). */
cc_status cc_cuda_train_put(cc_cuda_train *t, float *dst_dev, const float *src_host, size_t n);
cc_status cc_cuda_train_get(cc_cuda_train *t, float *dst_host, const float *src_dev, size_t n);

/* C (=|+=) bias + A*B on device pointers, the semantics of kernels/train's
 * gemm_t: C[i*ldc + j], i < M, j < N; A(i,k) = A[i*ai + k*ak]; B[k*ldb + j];
 * bias[j] (NULL: 0). ldb, ldc >= N. accum: C += (bias + A*B). Any strides
 * (A with neither ai nor ak equal to 1 is packed first). Asynchronous. */
typedef struct {
    int M, N, K;
    const float *A;
    ptrdiff_t ai, ak;
    const float *B;
    ptrdiff_t ldb;
    const float *bias;
    float *C;
    ptrdiff_t ldc;
    int accum;
} cc_cuda_gemm_args;
cc_status cc_cuda_train_gemm(cc_cuda_train *t, const cc_cuda_gemm_args *g);
/* dst[j] (=|+=) sum over i < M of A[i*lda + j], j < N (a GEMM with a vector of
 * ones: the bias gradients). Asynchronous. */
cc_status cc_cuda_train_colsum(cc_cuda_train *t, int M, int N, const float *A, ptrdiff_t lda,
                               float *dst, int accum);

#ifdef __cplusplus
}
#endif
#endif
