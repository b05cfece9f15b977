/* clearcube: internals of the CUDA network backend (kernels/cuda/nn_cuda*.cu).
 * Internal: included only by the nn_cuda*.cu files. See docs/gpu.md.
 *
 * Files:
 *   nn_cuda.cu        device probe, the backend table, run(): weights upload,
 *                     streams and pinned staging, group dispatch, conv engine
 *                     selection (direct / cuDNN / tensor cores);
 *   nn_cuda_pixel.cu  the fused per-pixel kernel (DN decode, 1x1 convs,
 *                     affine/act, DN/float encode);
 *   nn_cuda_conv.cu   the direct fp32 conv kernel (shared-memory tiles);
 *   nn_cuda_wmma.cu   the FP16/BF16 tensor-core implicit-GEMM conv (WMMA,
 *                     fp32 accumulation);
 *   nn_cuda_ops.cu    single ops (add, concat, pools, upsamples, conv1d_time)
 *                     and the helpers of the cuDNN path (decode, reflect pad,
 *                     bias/act/tail epilogue);
 *   nn_cuda_cudnn.cu  the cuDNN convolution path (legacy cudnnConvolutionForward,
 *                     still in cuDNN 9), compiled only when cuDNN is found.
 *
 * Tensors are float32 channels-last on the device, exactly as in
 * kernels/backend-impl.h. Every launcher enqueues work on the given stream and
 * returns CC_OK or a status with cc_error_set (launch errors only; faults
 * during execution surface at the next synchronising call of run()).
 *
 * Determinism: every output element is computed by one thread in one fixed
 * order (no atomics, no split-K); results depend only on the device
 * architecture and the selected engine/precision, never on launch timing. */
#ifndef CC_KERNELS_CUDA_NN_CUDA_IMPL_CUH
#define CC_KERNELS_CUDA_NN_CUDA_IMPL_CUH

#include <cuda_runtime.h>

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "kernels/backend-impl.h"

/* ---- the checking macro family ----
 * CCN_CUDA(call)   evaluates to CC_OK, or sets the error ("nn cuda: <call>
 *                  failed: <CUDA's message> (<code>) at file:line") after
 *                  clearing CUDA's sticky last error, and evaluates to
 *                  CC_ERR_NOMEM for allocation failures, CC_ERR_INTERNAL
 *                  otherwise;
 * CCN_LAUNCHED(k)  the same for the kernel launch just made (cudaGetLastError);
 * CCN_TRY(expr)    in a function with `cc_status st` and an `out:` label:
 *                  st = expr, goto out on failure.
 * The cuDNN variant (CCN_CUDNN) lives in nn_cuda_cudnn.cu. */
cc_status ccn_cuda_status(cudaError_t e, const char *what, const char *file, int line);
#define CCN_CUDA(call) ccn_cuda_status((call), #call, __FILE__, __LINE__)
#define CCN_LAUNCHED(kname) ccn_cuda_status(cudaGetLastError(), "launch of " kname, __FILE__, __LINE__)
#define CCN_TRY(expr)                                                                       \
    do {                                                                                    \
        if ((st = (expr)) != CC_OK)                                                         \
            goto out;                                                                       \
    } while (0)

/* ---- parameters passed to kernels by value ---- */

/* DN decoding (nn.h): x = ((DN + dn_offset)/quant - mean[c]) / std[c]; nodata
 * (any channel 0) decodes to 0 in every channel. */
struct ccn_io {
    int nin;
    double dn_offset, quant;
    float mean[CC_NN_MAX_IO], std[CC_NN_MAX_IO];
};

/* OUTPUT node encoding (backend-impl.h formulas). */
struct ccn_enc {
    int cout;
    int residual[CC_NN_MAX_IO];
    double out_dn_offset;
    const float *scale, *shift; /* device, [cout] or NULL */
};

/* A per-pixel node: affine / act applied after a conv (tail), or a node of a
 * fused per-pixel chain. */
enum { CCN_NODE_CONV = 0, CCN_NODE_AFFINE, CCN_NODE_ACT, CCN_NODE_OUTPUT };

struct ccn_pnode {
    int kind;                   /* CCN_NODE_*                                  */
    int cin, cout;
    int act;
    float alpha;
    const float *w;             /* conv 1x1: device [cin][cout]                */
    const float *bias;          /* device [cout] (zeros when the model has none) */
    const float *scale, *shift; /* affine: device [cout] or NULL              */
};

struct ccn_pixel_args {
    int nnodes;                 /* nodes of the group after the optional INPUT */
    ccn_pnode node[CC_NN_GROUP_MAX_NODES];
    int reads_dn, writes_out, out_float;
    int src_c;                  /* channels of src (when !reads_dn)            */
    int maxc;                   /* max channels of any activation in the chain */
    int pb;                     /* pixels per block (multiple of 4, <= 64)      */
    size_t npix;
    const float *src;           /* device input tensor, or NULL (reads_dn)     */
    const uint16_t *dn;         /* device DN (T,H,W,nin) for decode/encode     */
    float *dst;                 /* device result tensor (when !writes_out)     */
    void *out;                  /* device output (uint16 or float)             */
    ccn_io io;
    ccn_enc enc;
};

/* A spatial conv group: [INPUT] CONV2D (k 1|3, stride 1|2) + bias + act, then
 * a per-pixel tail of AFFINE / ACT nodes. */
struct ccn_conv_args {
    int T, H, W, cin;           /* input                                       */
    int Ho, Wo, cout;           /* output                                      */
    int k, stride, pad;         /* pad: CC_PAD_ZERO | CC_PAD_REFLECT           */
    int act;
    float alpha;
    int reads_dn;
    const float *src;           /* device input (when !reads_dn)               */
    const uint16_t *dn;         /* device DN (when reads_dn)                   */
    ccn_io io;
    const float *w;             /* device [K][cout], K = (ky*k + kx)*cin + ci  */
    const float *w_krsc;        /* device model layout [cout][k][k][cin] (cuDNN) */
    const float *bias;          /* device [cout]                               */
    const void *wh;             /* device [Kpad][Npad] fp16/bf16 (tensor cores) */
    int Kpad, Npad;
    int ntail;
    ccn_pnode tail[CC_NN_GROUP_MAX_NODES];
    float *dst;                 /* device (T,Ho,Wo,cout)                       */
};

/* ---- device helpers ---- */

/* Activation, same formulas as cc_nn_act_apply (full-precision expf). */
__device__ __forceinline__ float ccn_act(int a, float alpha, float v)
{
    switch (a) {
    case CC_ACT_RELU: return v > 0.0f ? v : 0.0f;
    case CC_ACT_LEAKY_RELU: return v >= 0.0f ? v : v * alpha;
    case CC_ACT_SILU: return v / (1.0f + expf(-v));
    case CC_ACT_SIGMOID: return 1.0f / (1.0f + expf(-v));
    default: return v;
    }
}

__device__ __forceinline__ bool ccn_nodata(const uint16_t *px, int nin)
{
    for (int c = 0; c < nin; c++)
        if (px[c] == 0)
            return true;
    return false;
}

/* Reflectance of DN value d (as cc_nn_decode_pixel: double maths, then float). */
__device__ __forceinline__ float ccn_rho(const ccn_io &io, uint16_t d)
{
    return (float)cc_refl_decode(d, io.dn_offset, io.quant);
}

/* Decoded channel c of the pixel at px (all nin channels of it). */
__device__ __forceinline__ float ccn_decode(const ccn_io &io, const uint16_t *px, int c)
{
    if (ccn_nodata(px, io.nin))
        return 0.0f;
    return (ccn_rho(io, px[c]) - io.mean[c]) / io.std[c];
}

/* Tail nodes (affine / act) applied to value v of channel co. */
__device__ __forceinline__ float ccn_tail(const ccn_pnode *tail, int ntail, int co, float v)
{
    for (int i = 0; i < ntail; i++) {
        const ccn_pnode &n = tail[i];
        if (n.kind == CCN_NODE_AFFINE) {
            if (n.scale)
                v *= n.scale[co];
            if (n.shift)
                v += n.shift[co];
        }
        v = ccn_act(n.act, n.alpha, v);
    }
    return v;
}

/* Input element (t, iy, ix, ci) of a conv with padding resolved: zero padding
 * gives 0 outside; reflect padding mirrors (-1 -> 1, H -> H-2), clamped for the
 * positions of partial tiles that no output uses. */
__device__ __forceinline__ float ccn_conv_in(const ccn_conv_args &a, int t, int iy, int ix, int ci)
{
    if (iy < 0 || iy >= a.H || ix < 0 || ix >= a.W) {
        if (a.pad == CC_PAD_ZERO)
            return 0.0f;
        iy = iy < 0 ? -iy : (iy >= a.H ? 2 * a.H - 2 - iy : iy);
        ix = ix < 0 ? -ix : (ix >= a.W ? 2 * a.W - 2 - ix : ix);
        iy = iy < 0 ? 0 : (iy >= a.H ? a.H - 1 : iy);
        ix = ix < 0 ? 0 : (ix >= a.W ? a.W - 1 : ix);
    }
    const size_t p = ((size_t)t * (size_t)a.H + (size_t)iy) * (size_t)a.W + (size_t)ix;
    if (a.reads_dn)
        return ccn_decode(a.io, a.dn + p * (size_t)a.io.nin, ci);
    return a.src[p * (size_t)a.cin + (size_t)ci];
}

/* ---- launchers (host) ---- */

/* nn_cuda_pixel.cu: the fused per-pixel chain; fills a->pb. */
cc_status ccn_launch_pixel(ccn_pixel_args *a, cudaStream_t s);
/* nn_cuda_conv.cu: direct fp32 conv (+ bias + act + tail). */
cc_status ccn_launch_conv_direct(const ccn_conv_args *a, cudaStream_t s);
/* nn_cuda_wmma.cu: tensor-core conv; fp16 = 1 for fp16, 0 for bf16. a->wh must
 * hold the packed weights (ccn_launch_pack_half). Requires sm_80+. */
cc_status ccn_launch_conv_wmma(const ccn_conv_args *a, int fp16, cudaStream_t s);
/* Packs w [K][cout] fp32 into wh [Kpad][Npad] fp16/bf16, zero padded. */
cc_status ccn_launch_pack_half(const float *w, int K, int cout, int Kpad, int Npad, int fp16,
                               void *wh, cudaStream_t s);
#define CCN_WMMA_BK 32 /* Kpad is a multiple of this */
#define CCN_WMMA_BN 64 /* Npad is a multiple of this */

/* nn_cuda_ops.cu: single ops. `is` = input shape {T,H,W,C}. */
cc_status ccn_launch_add(const float *a, const float *b, float *y, size_t n, int act, float alpha,
                         cudaStream_t s);
cc_status ccn_launch_concat(int nin, const float *const *in, const int *cins, size_t npix,
                            int cout, float *y, cudaStream_t s);
cc_status ccn_launch_pool(const int *is, int is_max, const float *x, float *y, cudaStream_t s);
cc_status ccn_launch_upsample(const int *is, int bilinear, const float *x, float *y,
                              cudaStream_t s);
cc_status ccn_launch_conv1d_time(const int *is, int cout, int kt, const float *w,
                                 const float *bias, int act, float alpha, const float *x,
                                 float *y, cudaStream_t s);
/* cuDNN helpers: DN (T,H,W,nin) -> decoded float tensor; reflect pad by p of
 * (T,H,W,C) into (T,H+2p,W+2p,C); in-place bias + act + tail on (npix, cout). */
cc_status ccn_launch_decode(const ccn_io *io, const uint16_t *dn, size_t npix, float *y,
                            cudaStream_t s);
cc_status ccn_launch_reflect_pad(const int *is, int p, const float *x, float *y, cudaStream_t s);
cc_status ccn_launch_epilogue(const ccn_conv_args *a, size_t npix, float *y, cudaStream_t s);

#ifdef CC_HAVE_CUDNN
/* nn_cuda_cudnn.cu: the conv group through cuDNN (fp32, FMA math: no TF32),
 * then ccn_launch_epilogue. CC_ERR_UNSUPPORTED when cuDNN is unusable (no
 * handle) so the caller can fall back to the direct kernel. */
cc_status ccn_cudnn_conv(const ccn_conv_args *a, cudaStream_t s);
#endif

#endif
