/* clearcube: the direct fp32 convolution of the CUDA network backend
 * (CC_NN_GROUP_CONV: [INPUT] CONV2D k 1|3 stride 1|2 + bias + act + affine/act
 * tail, see nn_cuda-impl.cuh).
 *
 * A block computes an output tile of TH x TW pixels x COB output channels
 * (COB = 8*CPT, CPT = 2, 4 or 8 chosen from cout). The input channels are
 * processed in chunks of CIB: the input patch of the tile ((TH-1)*s+k rows x
 * (TW-1)*s+k columns x CIB, padding resolved and the DN decoded on the fly for
 * a first layer) and the chunk's weights (k*k x CIB x COB) are staged in shared
 * memory; each of the 256 threads then accumulates 4 pixels x CPT channels in
 * registers. Each output element is owned by one thread and summed in a fixed
 * order (bias, then chunk by chunk: ky, kx, ci), so results are deterministic.
 */
#include "kernels/cuda/nn_cuda-impl.cuh"

namespace {

constexpr int TH = 8, TW = 16;      /* output tile: 128 pixels                   */
constexpr int THREADS = 256;        /* 32 pixel groups x 8 channel groups         */
constexpr int CIB = 8;              /* input channels per shared-memory chunk     */
constexpr int MAX_PH = (TH - 1) * 2 + 3, MAX_PW = (TW - 1) * 2 + 3;

template <int CPT>
__global__ void __launch_bounds__(THREADS) conv_direct_kernel(const ccn_conv_args a)
{
    constexpr int COB = 8 * CPT;
    __shared__ float s_in[MAX_PH * MAX_PW * CIB];
    __shared__ float s_w[9 * CIB * COB];
    const int tid = threadIdx.x, cg = tid % 8, pg = tid / 8;
    const int tiles_x = (a.Wo + TW - 1) / TW;
    const int oy0 = (blockIdx.x / tiles_x) * TH, ox0 = (blockIdx.x % tiles_x) * TW;
    const int t = blockIdx.y, co0 = blockIdx.z * COB;
    const int k = a.k, s = a.stride, pad = k / 2;
    const int PH = (TH - 1) * s + k, PW = (TW - 1) * s + k;
    const int iy0 = oy0 * s - pad, ix0 = ox0 * s - pad;

    float acc[4][CPT];
#pragma unroll
    for (int j = 0; j < CPT; j++) {
        const int co = co0 + cg + 8 * j;
        const float b = co < a.cout ? a.bias[co] : 0.0f;
#pragma unroll
        for (int i = 0; i < 4; i++)
            acc[i][j] = b;
    }
    /* pixel i of this thread: local index pg + 32*i -> (ly, lx) in the tile */
    int poff[4];
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const int lp = pg + 32 * i, ly = lp / TW, lx = lp % TW;
        poff[i] = (ly * s * PW + lx * s) * CIB;
    }

    for (int c0 = 0; c0 < a.cin; c0 += CIB) {
        for (int e = tid; e < PH * PW * CIB; e += THREADS) {
            const int c = e % CIB, pp = e / CIB;
            const int ci = c0 + c;
            s_in[e] = ci < a.cin ? ccn_conv_in(a, t, iy0 + pp / PW, ix0 + pp % PW, ci) : 0.0f;
        }
        for (int e = tid; e < k * k * CIB * COB; e += THREADS) {
            const int col = e % COB, r = e / COB, c = r % CIB, kk = r / CIB;
            const int co = co0 + col, ci = c0 + c;
            s_w[e] = (co < a.cout && ci < a.cin)
                         ? a.w[((size_t)kk * a.cin + (size_t)ci) * (size_t)a.cout + (size_t)co]
                         : 0.0f;
        }
        __syncthreads();
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
                const float *xin = s_in + (ky * PW + kx) * CIB;
                const float *win = s_w + (ky * k + kx) * CIB * COB + cg;
#pragma unroll
                for (int c = 0; c < CIB; c++) {
                    float xv[4], wv[CPT];
#pragma unroll
                    for (int i = 0; i < 4; i++)
                        xv[i] = xin[poff[i] + c];
#pragma unroll
                    for (int j = 0; j < CPT; j++)
                        wv[j] = win[c * COB + 8 * j];
#pragma unroll
                    for (int i = 0; i < 4; i++)
#pragma unroll
                        for (int j = 0; j < CPT; j++)
                            acc[i][j] = fmaf(xv[i], wv[j], acc[i][j]);
                }
            }
        __syncthreads();
    }

#pragma unroll
    for (int i = 0; i < 4; i++) {
        const int lp = pg + 32 * i, oy = oy0 + lp / TW, ox = ox0 + lp % TW;
        float *o = a.dst + (((size_t)t * a.Ho + (size_t)oy) * a.Wo + (size_t)ox) * a.cout;
#pragma unroll
        for (int j = 0; j < CPT; j++) {
            const int co = co0 + cg + 8 * j;
            if (oy < a.Ho && ox < a.Wo && co < a.cout)
                o[co] = ccn_tail(a.tail, a.ntail, co, ccn_act(a.act, a.alpha, acc[i][j]));
        }
    }
}

} // namespace

cc_status ccn_launch_conv_direct(const ccn_conv_args *a, cudaStream_t s)
{
    if (a->k > 3 || a->stride > 2)
        return cc_error_set(CC_ERR_UNSUPPORTED, "nn cuda: conv kernel %d stride %d", a->k,
                            a->stride);
    const int cpt = a->cout <= 16 ? 2 : (a->cout <= 32 ? 4 : 8);
    const long tiles = (long)((a->Ho + TH - 1) / TH) * (long)((a->Wo + TW - 1) / TW);
    const int cob = 8 * cpt;
    if (tiles > 0x7fffffffL || a->T > 65535)
        return cc_error_set(CC_ERR_ARG, "nn cuda: conv output %dx%dx%d too large", a->T, a->Ho,
                            a->Wo);
    const dim3 grid((unsigned)tiles, (unsigned)a->T, (unsigned)((a->cout + cob - 1) / cob));
    switch (cpt) {
    case 2: conv_direct_kernel<2><<<grid, THREADS, 0, s>>>(*a); break;
    case 4: conv_direct_kernel<4><<<grid, THREADS, 0, s>>>(*a); break;
    default: conv_direct_kernel<8><<<grid, THREADS, 0, s>>>(*a); break;
    }
    return CCN_LAUNCHED("conv_direct_kernel");
}
