/* clearcube: the FP16/BF16 tensor-core convolution of the CUDA network backend
 * (CLEARCUBE_CUDA_PRECISION=fp16|bf16; see nn_cuda-impl.cuh, docs/gpu.md).
 *
 * Implicit GEMM with WMMA (m16n16k16, fp32 accumulators): C[M][N] = A[M][K] *
 * B[K][N] with M = output pixels (T*Ho*Wo), N = cout, K = k*k*cin in the order
 * (ky, kx, ci). A block (4 warps) computes 64 pixels x 64 channels; per K step
 * of 32 it gathers the A tile straight from the fp32 input (padding resolved,
 * DN decoded on the fly) converting to fp16/bf16, and copies the B tile from
 * the weights packed once per run ([Kpad][Npad], zero padded). The fp32
 * result goes through shared memory to the bias + act + tail epilogue, so
 * tensors between layers stay fp32: only the products are rounded. The MMA
 * order is fixed, so results are deterministic on a given architecture. */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <mma.h>

#include "kernels/cuda/nn_cuda-impl.cuh"

namespace {

using namespace nvcuda;

constexpr int BM = 64, BN = CCN_WMMA_BN, BK = CCN_WMMA_BK;
constexpr int WTHREADS = 128;
constexpr int LDA = BK + 8, LDB = BN + 8, LDC = BN + 4;

template <typename HT> __device__ __forceinline__ HT to_h(float v);
template <> __device__ __forceinline__ __half to_h<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 to_h<__nv_bfloat16>(float v)
{
    return __float2bfloat16_rn(v);
}

template <typename HT>
__global__ void __launch_bounds__(WTHREADS) conv_wmma_kernel(const ccn_conv_args a)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    __shared__ __align__(32) HT s_a[BM * LDA];
    __shared__ __align__(32) HT s_b[BK * LDB];
    __shared__ __align__(32) float s_c[BM * LDC];
    const HT *wh = (const HT *)a.wh;
    const int tid = threadIdx.x, warp = tid / 32;
    const int wm = warp / 2, wn = warp % 2;
    const size_t M = (size_t)a.T * a.Ho * a.Wo;
    const size_t m0 = (size_t)blockIdx.x * BM;
    const int n0 = blockIdx.y * BN;
    const int K = a.k * a.k * a.cin, pad = a.k / 2;

    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            wmma::fill_fragment(acc[i][j], 0.0f);

    for (int k0 = 0; k0 < a.Kpad; k0 += BK) {
        for (int e = tid; e < BM * BK; e += WTHREADS) {
            const int r = e / BK, kk = e % BK;
            const size_t m = m0 + (size_t)r;
            const int kg = k0 + kk;
            float v = 0.0f;
            if (m < M && kg < K) {
                const int ci = kg % a.cin, kyx = kg / a.cin, ky = kyx / a.k, kx = kyx % a.k;
                const int ox = (int)(m % (size_t)a.Wo);
                const size_t rest = m / (size_t)a.Wo;
                const int oy = (int)(rest % (size_t)a.Ho), t = (int)(rest / (size_t)a.Ho);
                v = ccn_conv_in(a, t, oy * a.stride - pad + ky, ox * a.stride - pad + kx, ci);
            }
            s_a[r * LDA + kk] = to_h<HT>(v);
        }
        for (int e = tid; e < BK * BN; e += WTHREADS) {
            const int kk = e / BN, n = e % BN;
            s_b[kk * LDB + n] = wh[(size_t)(k0 + kk) * a.Npad + (size_t)(n0 + n)];
        }
        __syncthreads();
#pragma unroll
        for (int ks = 0; ks < BK; ks += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, HT, wmma::row_major> fa[2];
            wmma::fragment<wmma::matrix_b, 16, 16, 16, HT, wmma::row_major> fb[2];
            for (int i = 0; i < 2; i++)
                wmma::load_matrix_sync(fa[i], s_a + (wm * 32 + i * 16) * LDA + ks, LDA);
            for (int j = 0; j < 2; j++)
                wmma::load_matrix_sync(fb[j], s_b + ks * LDB + wn * 32 + j * 16, LDB);
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < 2; j++)
                    wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
        }
        __syncthreads();
    }
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            wmma::store_matrix_sync(s_c + (wm * 32 + i * 16) * LDC + wn * 32 + j * 16, acc[i][j],
                                    LDC, wmma::mem_row_major);
    __syncthreads();
    for (int e = tid; e < BM * BN; e += WTHREADS) {
        const int r = e / BN, n = e % BN;
        const size_t m = m0 + (size_t)r;
        const int co = n0 + n;
        if (m >= M || co >= a.cout)
            continue;
        const float v = ccn_act(a.act, a.alpha, s_c[r * LDC + n] + a.bias[co]);
        a.dst[m * (size_t)a.cout + (size_t)co] = ccn_tail(a.tail, a.ntail, co, v);
    }
#endif
}

template <typename HT>
__global__ void pack_kernel(const float *w, int K, int cout, int Kpad, int Npad, HT *wh)
{
    const size_t n = (size_t)Kpad * (size_t)Npad;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)blockDim.x * gridDim.x) {
        const int kk = (int)(i / (size_t)Npad), co = (int)(i % (size_t)Npad);
        wh[i] = to_h<HT>(kk < K && co < cout ? w[(size_t)kk * cout + (size_t)co] : 0.0f);
    }
}

} // namespace

cc_status ccn_launch_pack_half(const float *w, int K, int cout, int Kpad, int Npad, int fp16,
                               void *wh, cudaStream_t s)
{
    const size_t n = (size_t)Kpad * (size_t)Npad;
    const unsigned blocks = (unsigned)((n + 255) / 256 < 4096 ? (n + 255) / 256 : 4096);
    if (fp16)
        pack_kernel<__half><<<blocks, 256, 0, s>>>(w, K, cout, Kpad, Npad, (__half *)wh);
    else
        pack_kernel<__nv_bfloat16><<<blocks, 256, 0, s>>>(w, K, cout, Kpad, Npad,
                                                          (__nv_bfloat16 *)wh);
    return CCN_LAUNCHED("pack_kernel");
}

cc_status ccn_launch_conv_wmma(const ccn_conv_args *a, int fp16, cudaStream_t s)
{
    const size_t M = (size_t)a->T * a->Ho * a->Wo;
    const size_t bx = (M + BM - 1) / BM;
    if (bx > 0x7fffffffu)
        return cc_error_set(CC_ERR_ARG, "nn cuda: conv output of %zu pixels too large", M);
    const dim3 grid((unsigned)bx, (unsigned)(a->Npad / BN));
    if (fp16)
        conv_wmma_kernel<__half><<<grid, WTHREADS, 0, s>>>(*a);
    else
        conv_wmma_kernel<__nv_bfloat16><<<grid, WTHREADS, 0, s>>>(*a);
    return CCN_LAUNCHED("conv_wmma_kernel");
}
