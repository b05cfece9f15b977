/* clearcube: the cuDNN path for the spatial convolutions of the CUDA network
 * backend (see nn_cuda-impl.cuh, docs/gpu.md). Compiled only when
 * kernels/cuda/CMakeLists.txt finds cuDNN (CC_HAVE_CUDNN).
 *
 * API: the legacy convolution API, still shipped in cuDNN 9 (libcudnn_cnn):
 * cudnnConvolutionForward on NHWC float tensors (T as the batch) with KRSC
 * filters (= the model's [cout][k][k][cin] layout, no repacking), math type
 * CUDNN_FMA_MATH (strict fp32: no TF32), the algorithm from
 * cudnnGetConvolutionForwardAlgorithm_v7 (heuristics: deterministic for a
 * given device and shape). cudnnConvolutionBiasActivationForward is not used:
 * it only fuses ReLU, and our tail (LeakyReLU/SiLU/sigmoid + affine) needs the
 * epilogue kernel anyway. Reflect padding is materialised first (cuDNN only
 * zero-pads); a DN-reading first layer is decoded to a tensor first.
 *
 * The handle is per host thread (thread_local, created on first use, never
 * shared), so concurrent run() calls from several threads are safe. */
#include <cudnn.h>

#include "kernels/cuda/nn_cuda-impl.cuh"

namespace {

cc_status cudnn_status(cudnnStatus_t e, const char *what, const char *file, int line)
{
    if (e == CUDNN_STATUS_SUCCESS)
        return CC_OK;
    /* the 3000 category (CUDNN_STATUS_NOT_SUPPORTED*) and sub-library loading
     * failures (1000 category) mean "not for this shape/setup": the caller
     * falls back to the direct kernel */
    const int code = (int)e;
    const cc_status fail = e == CUDNN_STATUS_ALLOC_FAILED               ? CC_ERR_NOMEM
                           : (code / 1000 == 3 || code / 1000 == 1) ? CC_ERR_UNSUPPORTED
                                                                    : CC_ERR_INTERNAL;
    return cc_error_set(fail, "nn cuda: %s failed: %s (%d) at %s:%d", what, cudnnGetErrorString(e),
                        (int)e, file, line);
}
#define CCN_CUDNN(call) cudnn_status((call), #call, __FILE__, __LINE__)

struct handle_holder {
    cudnnHandle_t h = nullptr;
    bool failed = false;
    ~handle_holder()
    {
        if (h)
            (void)cudnnDestroy(h); /* at thread exit; errors are of no use then */
    }
};
thread_local handle_holder tl_handle;

} // namespace

cc_status ccn_cudnn_conv(const ccn_conv_args *a, cudaStream_t s)
{
    cc_status st = CC_OK;
    cudnnTensorDescriptor_t xd = nullptr, yd = nullptr;
    cudnnFilterDescriptor_t wd = nullptr;
    cudnnConvolutionDescriptor_t cd = nullptr;
    float *dec = nullptr, *padded = nullptr; /* stream-ordered temporaries, freed at out */
    void *ws = nullptr;
    const float *x = a->src;
    int H = a->H, W = a->W, pad = a->k / 2;
    int n = 0, c = 0, ho = 0, wo = 0, nalgo = 0;
    cudnnConvolutionFwdAlgoPerf_t perf[8];
    cudnnConvolutionFwdAlgo_t algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
    size_t ws_bytes = 0;
    const float one = 1.0f, zero = 0.0f;

    if (!tl_handle.h && !tl_handle.failed) {
        if (cudnnCreate(&tl_handle.h) != CUDNN_STATUS_SUCCESS) {
            tl_handle.h = nullptr;
            tl_handle.failed = true;
        }
    }
    if (!tl_handle.h)
        return cc_error_set(CC_ERR_UNSUPPORTED, "nn cuda: cuDNN is not usable (cudnnCreate failed)");
    CCN_TRY(CCN_CUDNN(cudnnSetStream(tl_handle.h, s)));

    if (a->reads_dn) {
        const size_t np = (size_t)a->T * H * W;
        CCN_TRY(CCN_CUDA(cudaMallocAsync((void **)&dec, np * (size_t)a->cin * sizeof(float), s)));
        CCN_TRY(ccn_launch_decode(&a->io, a->dn, np, dec, s));
        x = dec;
    }
    if (a->pad == CC_PAD_REFLECT && pad > 0) {
        const int is[4] = {a->T, H, W, a->cin};
        const size_t np = (size_t)a->T * (size_t)(H + 2 * pad) * (size_t)(W + 2 * pad);
        CCN_TRY(CCN_CUDA(cudaMallocAsync((void **)&padded, np * (size_t)a->cin * sizeof(float), s)));
        CCN_TRY(ccn_launch_reflect_pad(is, pad, x, padded, s));
        x = padded;
        H += 2 * pad;
        W += 2 * pad;
        pad = 0;
    }

    CCN_TRY(CCN_CUDNN(cudnnCreateTensorDescriptor(&xd)));
    CCN_TRY(CCN_CUDNN(cudnnCreateTensorDescriptor(&yd)));
    CCN_TRY(CCN_CUDNN(cudnnCreateFilterDescriptor(&wd)));
    CCN_TRY(CCN_CUDNN(cudnnCreateConvolutionDescriptor(&cd)));
    CCN_TRY(CCN_CUDNN(cudnnSetTensor4dDescriptor(xd, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, a->T,
                                                 a->cin, H, W)));
    CCN_TRY(CCN_CUDNN(cudnnSetFilter4dDescriptor(wd, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, a->cout,
                                                 a->cin, a->k, a->k)));
    CCN_TRY(CCN_CUDNN(cudnnSetConvolution2dDescriptor(cd, pad, pad, a->stride, a->stride, 1, 1,
                                                      CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT)));
    CCN_TRY(CCN_CUDNN(cudnnSetConvolutionMathType(cd, CUDNN_FMA_MATH)));
    CCN_TRY(CCN_CUDNN(cudnnGetConvolution2dForwardOutputDim(cd, xd, wd, &n, &c, &ho, &wo)));
    if (n != a->T || c != a->cout || ho != a->Ho || wo != a->Wo) {
        st = cc_error_set(CC_ERR_INTERNAL, "nn cuda: cuDNN output %dx%dx%dx%d, expected %dx%dx%dx%d",
                          n, ho, wo, c, a->T, a->Ho, a->Wo, a->cout);
        goto out;
    }
    CCN_TRY(CCN_CUDNN(cudnnSetTensor4dDescriptor(yd, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, a->T,
                                                 a->cout, a->Ho, a->Wo)));
    CCN_TRY(CCN_CUDNN(cudnnGetConvolutionForwardAlgorithm_v7(tl_handle.h, xd, wd, cd, yd, 8,
                                                             &nalgo, perf)));
    {
        int found = 0;
        for (int i = 0; i < nalgo && !found; i++)
            if (perf[i].status == CUDNN_STATUS_SUCCESS) {
                algo = perf[i].algo;
                found = 1;
            }
        if (!found) {
            st = cc_error_set(CC_ERR_UNSUPPORTED, "nn cuda: cuDNN has no algorithm for conv "
                              "%d->%d k%d s%d", a->cin, a->cout, a->k, a->stride);
            goto out;
        }
    }
    CCN_TRY(CCN_CUDNN(cudnnGetConvolutionForwardWorkspaceSize(tl_handle.h, xd, wd, cd, yd, algo,
                                                              &ws_bytes)));
    if (ws_bytes)
        CCN_TRY(CCN_CUDA(cudaMallocAsync(&ws, ws_bytes, s)));
    CCN_TRY(CCN_CUDNN(cudnnConvolutionForward(tl_handle.h, &one, xd, x, wd, a->w_krsc, cd, algo, ws,
                                              ws_bytes, &zero, yd, a->dst)));
    CCN_TRY(ccn_launch_epilogue(a, (size_t)a->T * a->Ho * a->Wo, a->dst, s));
out:
    if (ws)
        (void)cudaFreeAsync(ws, s);
    if (padded)
        (void)cudaFreeAsync(padded, s);
    if (dec)
        (void)cudaFreeAsync(dec, s);
    if (cd)
        (void)cudnnDestroyConvolutionDescriptor(cd);
    if (wd)
        (void)cudnnDestroyFilterDescriptor(wd);
    if (yd)
        (void)cudnnDestroyTensorDescriptor(yd);
    if (xd)
        (void)cudnnDestroyTensorDescriptor(xd);
    return st;
}
