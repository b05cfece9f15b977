/* clearcube: training's GPU GEMMs in a build without CUDA: there is no GPU, so
 * cc_cuda_train_create fails with CC_ERR_NODEVICE and nothing else is reached.
 * (With CUDA, kernels/cuda/train_cuda.cu implements kernels/cuda/train_cuda.h.) */
#include "kernels/cuda/train_cuda.h"

cc_status cc_cuda_train_create(int device, cc_cuda_train **out)
{
    *out = NULL;
    return cc_error_set(CC_ERR_NODEVICE,
                        "train cuda: GPU %d not usable: this clearcube was built without CUDA",
                        device);
}

void cc_cuda_train_free(cc_cuda_train *t)
{
    (void)t;
}

cc_status cc_cuda_train_bind(cc_cuda_train *t)
{
    (void)t;
    return cc_error_set(CC_ERR_NODEVICE, "train cuda: built without CUDA");
}

const char *cc_cuda_train_name(const cc_cuda_train *t)
{
    (void)t;
    return "";
}

float *cc_cuda_train_buf(cc_cuda_train *t, int slot, size_t n)
{
    (void)t, (void)slot, (void)n;
    cc_error_set(CC_ERR_NODEVICE, "train cuda: built without CUDA");
    return NULL;
}

cc_status cc_cuda_train_put(cc_cuda_train *t, float *dst_dev, const float *src_host, size_t n)
{
    (void)t, (void)dst_dev, (void)src_host, (void)n;
    return cc_error_set(CC_ERR_NODEVICE, "train cuda: built without CUDA");
}

cc_status cc_cuda_train_get(cc_cuda_train *t, float *dst_host, const float *src_dev, size_t n)
{
    (void)t, (void)dst_host, (void)src_dev, (void)n;
    return cc_error_set(CC_ERR_NODEVICE, "train cuda: built without CUDA");
}

cc_status cc_cuda_train_gemm(cc_cuda_train *t, const cc_cuda_gemm_args *g)
{
    (void)t, (void)g;
    return cc_error_set(CC_ERR_NODEVICE, "train cuda: built without CUDA");
}

cc_status cc_cuda_train_colsum(cc_cuda_train *t, int M, int N, const float *A, ptrdiff_t lda,
                               float *dst, int accum)
{
    (void)t, (void)M, (void)N, (void)A, (void)lda, (void)dst, (void)accum;
    return cc_error_set(CC_ERR_NODEVICE, "train cuda: built without CUDA");
}
