/* clearcube: the single-op kernels of the CUDA network backend
 * (CC_NN_GROUP_SINGLE: add, concat, pools, upsamples, conv1d_time) and the
 * helpers of the cuDNN path (decode, reflect pad, epilogue). One thread per
 * output element, grid-stride loops; formulas as kernels/cpu/ref.c (PyTorch
 * semantics). */
#include "kernels/cuda/nn_cuda-impl.cuh"

namespace {

constexpr int OPS_THREADS = 256;

unsigned ops_blocks(size_t n)
{
    size_t b = (n + OPS_THREADS - 1) / OPS_THREADS;
    return (unsigned)(b < 65535 * 8 ? (b > 0 ? b : 1) : 65535 * 8);
}

#define GRID_LOOP(i, n)                                                                     \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);                 \
         i += (size_t)blockDim.x * gridDim.x)

__global__ void add_kernel(const float *a, const float *b, float *y, size_t n, int act,
                           float alpha)
{
    GRID_LOOP(i, n) y[i] = ccn_act(act, alpha, a[i] + b[i]);
}

struct concat_args {
    int nin, cout;
    const float *in[CC_NN_MAX_INPUTS];
    int cin[CC_NN_MAX_INPUTS], off[CC_NN_MAX_INPUTS];
};

__global__ void concat_kernel(const concat_args a, size_t npix, float *y)
{
    GRID_LOOP(i, npix * (size_t)a.cout)
    {
        const size_t p = i / (size_t)a.cout;
        const int c = (int)(i % (size_t)a.cout);
        int k = 0;
        while (k + 1 < a.nin && c >= a.off[k + 1])
            k++;
        y[i] = a.in[k][p * (size_t)a.cin[k] + (size_t)(c - a.off[k])];
    }
}

__global__ void pool_kernel(int T, int H, int W, int C, int is_max, const float *x, float *y)
{
    const int Ho = H / 2, Wo = W / 2;
    GRID_LOOP(i, (size_t)T * Ho * Wo * C)
    {
        const int c = (int)(i % (size_t)C);
        size_t r = i / (size_t)C;
        const int ox = (int)(r % (size_t)Wo);
        r /= (size_t)Wo;
        const int oy = (int)(r % (size_t)Ho), t = (int)(r / (size_t)Ho);
        const size_t i0 = (((size_t)t * H + 2 * (size_t)oy) * W + 2 * (size_t)ox) * C + c;
        const size_t rowc = (size_t)W * C;
        const float a = x[i0], b = x[i0 + C], d = x[i0 + rowc], e = x[i0 + rowc + C];
        const float q[4] = {a, b, d, e};
        y[i] = is_max ? q[cc_nn_max4_index(a, b, d, e)] /* torch max_pool2d: NaN propagates */
                      : __fdiv_rn(__fadd_rn(__fadd_rn(__fadd_rn(a, b), d), e), 4.0f);
    }
}

/* PyTorch area_pixel_compute_source_index, align_corners=False, scale 1/2. */
__device__ __forceinline__ void bil_index(int dst, int in_size, int *i0, int *i1, float *l0,
                                          float *l1)
{
    float src = __fsub_rn(__fmul_rn(0.5f, __fadd_rn((float)dst, 0.5f)), 0.5f);
    if (src < 0.0f)
        src = 0.0f;
    const int a = (int)src;
    *i0 = a;
    *i1 = a + (a < in_size - 1 ? 1 : 0);
    *l1 = __fsub_rn(src, (float)a);
    *l0 = __fsub_rn(1.0f, *l1);
}

__global__ void upsample_kernel(int T, int H, int W, int C, int bil, const float *x, float *y)
{
    const int Ho = 2 * H, Wo = 2 * W;
    GRID_LOOP(i, (size_t)T * Ho * Wo * C)
    {
        const int c = (int)(i % (size_t)C);
        size_t r = i / (size_t)C;
        const int ox = (int)(r % (size_t)Wo);
        r /= (size_t)Wo;
        const int oy = (int)(r % (size_t)Ho), t = (int)(r / (size_t)Ho);
        const float *base = x + (size_t)t * H * W * C;
        if (!bil) {
            y[i] = base[((size_t)(oy / 2) * W + (size_t)(ox / 2)) * C + c];
            continue;
        }
        int y0, y1, x0, x1;
        float ly0, ly1, lx0, lx1;
        bil_index(oy, H, &y0, &y1, &ly0, &ly1);
        bil_index(ox, W, &x0, &x1, &lx0, &lx1);
        const float a0 = base[((size_t)y0 * W + x0) * C + c], a1 = base[((size_t)y0 * W + x1) * C + c];
        const float b0 = base[((size_t)y1 * W + x0) * C + c], b1 = base[((size_t)y1 * W + x1) * C + c];
        /* same operation order and rounding as ref.c (no FMA contraction) */
        const float ra = __fadd_rn(__fmul_rn(lx0, a0), __fmul_rn(lx1, a1));
        const float rb = __fadd_rn(__fmul_rn(lx0, b0), __fmul_rn(lx1, b1));
        y[i] = __fadd_rn(__fmul_rn(ly0, ra), __fmul_rn(ly1, rb));
    }
}

__global__ void conv1d_time_kernel(int T, size_t hw, int cin, int cout, int kt, const float *w,
                                   const float *bias, int act, float alpha, const float *x,
                                   float *y)
{
    const int left = (kt - 1) / 2;
    GRID_LOOP(i, (size_t)T * hw * cout)
    {
        const int co = (int)(i % (size_t)cout);
        const size_t r = i / (size_t)cout;
        const size_t px = r % hw;
        const int t = (int)(r / hw);
        float acc = bias ? bias[co] : 0.0f;
        for (int j = 0; j < kt; j++) {
            const int ts = t + j - left;
            if (ts < 0 || ts >= T)
                continue;
            const float *xp = x + ((size_t)ts * hw + px) * (size_t)cin;
            const float *wp = w + ((size_t)co * kt + (size_t)j) * (size_t)cin;
            for (int ci = 0; ci < cin; ci++)
                acc = fmaf(xp[ci], __ldg(wp + ci), acc);
        }
        y[i] = ccn_act(act, alpha, acc);
    }
}

__global__ void decode_kernel(const ccn_io io, const uint16_t *dn, size_t npix, float *y)
{
    GRID_LOOP(i, npix * (size_t)io.nin)
    {
        const size_t p = i / (size_t)io.nin;
        y[i] = ccn_decode(io, dn + p * (size_t)io.nin, (int)(i % (size_t)io.nin));
    }
}

__global__ void reflect_pad_kernel(int T, int H, int W, int C, int p, const float *x, float *y)
{
    const int Hp = H + 2 * p, Wp = W + 2 * p;
    GRID_LOOP(i, (size_t)T * Hp * Wp * C)
    {
        const int c = (int)(i % (size_t)C);
        size_t r = i / (size_t)C;
        int ix = (int)(r % (size_t)Wp) - p;
        r /= (size_t)Wp;
        int iy = (int)(r % (size_t)Hp) - p;
        const int t = (int)(r / (size_t)Hp);
        iy = iy < 0 ? -iy : (iy >= H ? 2 * H - 2 - iy : iy);
        ix = ix < 0 ? -ix : (ix >= W ? 2 * W - 2 - ix : ix);
        y[i] = x[(((size_t)t * H + iy) * W + ix) * C + c];
    }
}

__global__ void epilogue_kernel(const ccn_conv_args a, size_t npix, float *y)
{
    GRID_LOOP(i, npix * (size_t)a.cout)
    {
        const int co = (int)(i % (size_t)a.cout);
        y[i] = ccn_tail(a.tail, a.ntail, co, ccn_act(a.act, a.alpha, y[i] + a.bias[co]));
    }
}

} // namespace

cc_status ccn_launch_add(const float *a, const float *b, float *y, size_t n, int act, float alpha,
                         cudaStream_t s)
{
    add_kernel<<<ops_blocks(n), OPS_THREADS, 0, s>>>(a, b, y, n, act, alpha);
    return CCN_LAUNCHED("add_kernel");
}

cc_status ccn_launch_concat(int nin, const float *const *in, const int *cins, size_t npix,
                            int cout, float *y, cudaStream_t s)
{
    concat_args a;
    a.nin = nin;
    a.cout = cout;
    int off = 0;
    for (int k = 0; k < CC_NN_MAX_INPUTS; k++) {
        a.in[k] = k < nin ? in[k] : nullptr;
        a.cin[k] = k < nin ? cins[k] : 0;
        a.off[k] = off;
        off += a.cin[k];
    }
    concat_kernel<<<ops_blocks(npix * (size_t)cout), OPS_THREADS, 0, s>>>(a, npix, y);
    return CCN_LAUNCHED("concat_kernel");
}

cc_status ccn_launch_pool(const int *is, int is_max, const float *x, float *y, cudaStream_t s)
{
    const size_t n = (size_t)is[0] * (size_t)(is[1] / 2) * (size_t)(is[2] / 2) * (size_t)is[3];
    pool_kernel<<<ops_blocks(n), OPS_THREADS, 0, s>>>(is[0], is[1], is[2], is[3], is_max, x, y);
    return CCN_LAUNCHED("pool_kernel");
}

cc_status ccn_launch_upsample(const int *is, int bilinear, const float *x, float *y,
                              cudaStream_t s)
{
    const size_t n = (size_t)is[0] * (size_t)(2 * is[1]) * (size_t)(2 * is[2]) * (size_t)is[3];
    upsample_kernel<<<ops_blocks(n), OPS_THREADS, 0, s>>>(is[0], is[1], is[2], is[3], bilinear, x,
                                                         y);
    return CCN_LAUNCHED("upsample_kernel");
}

cc_status ccn_launch_conv1d_time(const int *is, int cout, int kt, const float *w,
                                 const float *bias, int act, float alpha, const float *x,
                                 float *y, cudaStream_t s)
{
    const size_t hw = (size_t)is[1] * (size_t)is[2];
    const size_t n = (size_t)is[0] * hw * (size_t)cout;
    conv1d_time_kernel<<<ops_blocks(n), OPS_THREADS, 0, s>>>(is[0], hw, is[3], cout, kt, w, bias,
                                                            act, alpha, x, y);
    return CCN_LAUNCHED("conv1d_time_kernel");
}

cc_status ccn_launch_decode(const ccn_io *io, const uint16_t *dn, size_t npix, float *y,
                            cudaStream_t s)
{
    decode_kernel<<<ops_blocks(npix * (size_t)io->nin), OPS_THREADS, 0, s>>>(*io, dn, npix, y);
    return CCN_LAUNCHED("decode_kernel");
}

cc_status ccn_launch_reflect_pad(const int *is, int p, const float *x, float *y, cudaStream_t s)
{
    const size_t n = (size_t)is[0] * (size_t)(is[1] + 2 * p) * (size_t)(is[2] + 2 * p) *
                     (size_t)is[3];
    reflect_pad_kernel<<<ops_blocks(n), OPS_THREADS, 0, s>>>(is[0], is[1], is[2], is[3], p, x, y);
    return CCN_LAUNCHED("reflect_pad_kernel");
}

cc_status ccn_launch_epilogue(const ccn_conv_args *a, size_t npix, float *y, cudaStream_t s)
{
    epilogue_kernel<<<ops_blocks(npix * (size_t)a->cout), OPS_THREADS, 0, s>>>(*a, npix, y);
    return CCN_LAUNCHED("epilogue_kernel");
}
