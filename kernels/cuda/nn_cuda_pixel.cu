/* clearcube: the fused per-pixel kernel of the CUDA network backend
 * (CC_NN_GROUP_PIXEL, see nn_cuda-impl.cuh and kernels/backend-impl.h).
 *
 * One block runs the whole chain on a tile of `pb` pixels: the DN decode (or
 * the load of the input tensor), every 1x1 conv / affine / act, and the output
 * encode, with the activations in two shared-memory buffers (pb x maxc floats)
 * and the accumulators in registers; only the group's result (or the caller's
 * output) goes back to global memory. Weights are read through the read-only
 * data cache (__ldg): a layer's [cin][cout] matrix is shared by all pixels of
 * every block and stays in L1/L2.
 *
 * Per 1x1 conv a thread owns one output channel of 4 pixels (pq, pq+pb/4, ...):
 * each weight is loaded once for 4 FMAs, and the threads of a warp (consecutive
 * channels) read the same activation (a shared-memory broadcast). The sum for
 * (pixel, co) starts at the bias and adds ci = 0..cin-1 in order. */
#include "kernels/cuda/nn_cuda-impl.cuh"

namespace {

constexpr int PIX_THREADS = 256;
constexpr int PIX_MAX_PB = 64;
/* dynamic shared memory per block: static + dynamic must stay within the
 * 48 KiB available without an opt-in (nodata[] is static) */
constexpr size_t PIX_SMEM = 46 * 1024;

__global__ void __launch_bounds__(PIX_THREADS) pixel_kernel(const ccn_pixel_args a)
{
    extern __shared__ float smem[];
    __shared__ int nodata[PIX_MAX_PB];
    const int pb = a.pb, tid = threadIdx.x;
    float *cur = smem, *nxt = smem + (size_t)pb * (size_t)a.maxc;
    const size_t p0 = (size_t)blockIdx.x * (size_t)pb;
    const int np = a.npix - p0 < (size_t)pb ? (int)(a.npix - p0) : pb;
    const int nin = a.io.nin;

    if (a.reads_dn || a.writes_out)
        for (int p = tid; p < pb; p += blockDim.x)
            nodata[p] = p < np ? ccn_nodata(a.dn + (p0 + (size_t)p) * (size_t)nin, nin) : 1;
    __syncthreads();

    int cc = a.reads_dn ? nin : a.src_c;
    for (int e = tid; e < pb * cc; e += blockDim.x) {
        const int p = e / cc, c = e % cc;
        float v = 0.0f;
        if (p < np) {
            if (a.reads_dn) {
                if (!nodata[p]) {
                    const uint16_t d = a.dn[(p0 + (size_t)p) * (size_t)nin + (size_t)c];
                    v = (ccn_rho(a.io, d) - a.io.mean[c]) / a.io.std[c];
                }
            } else {
                v = a.src[(p0 + (size_t)p) * (size_t)cc + (size_t)c];
            }
        }
        cur[e] = v;
    }
    __syncthreads();

    const int q = pb / 4;
    for (int k = 0; k < a.nnodes; k++) {
        const ccn_pnode &n = a.node[k];
        if (n.kind == CCN_NODE_OUTPUT) {
            const ccn_enc &o = a.enc;
            for (int e = tid; e < np * o.cout; e += blockDim.x) {
                const int p = e / o.cout, c = e % o.cout;
                const size_t gp = p0 + (size_t)p;
                float v = cur[p * cc + c];
                if (o.scale)
                    v *= o.scale[c];
                if (o.shift)
                    v += o.shift[c];
                const int rc = o.residual[c];
                if (rc >= 0)
                    v += ccn_rho(a.io, a.dn[gp * (size_t)nin + (size_t)rc]);
                const size_t oi = gp * (size_t)o.cout + (size_t)c;
                if (a.out_float) {
                    ((float *)a.out)[oi] = nodata[p] ? nanf("") : v;
                } else {
                    ((uint16_t *)a.out)[oi] =
                        nodata[p] ? CC_REFL_DN_NODATA : cc_refl_encode(v, o.out_dn_offset, CC_NN_OUT_QUANT);
                }
            }
            return;
        }
        if (n.kind == CCN_NODE_CONV) {
            const int cin = n.cin, cout = n.cout;
            for (int e = tid; e < q * cout; e += blockDim.x) {
                const int co = e % cout, pq = e / cout;
                const float b = __ldg(n.bias + co);
                float acc0 = b, acc1 = b, acc2 = b, acc3 = b;
                const float *x0 = cur + (size_t)pq * cin;
                const float *x1 = x0 + (size_t)q * cin, *x2 = x1 + (size_t)q * cin,
                            *x3 = x2 + (size_t)q * cin;
                const float *wp = n.w + co;
                for (int ci = 0; ci < cin; ci++) {
                    const float w = __ldg(wp + (size_t)ci * cout);
                    acc0 = fmaf(x0[ci], w, acc0);
                    acc1 = fmaf(x1[ci], w, acc1);
                    acc2 = fmaf(x2[ci], w, acc2);
                    acc3 = fmaf(x3[ci], w, acc3);
                }
                nxt[(size_t)pq * cout + co] = ccn_act(n.act, n.alpha, acc0);
                nxt[(size_t)(pq + q) * cout + co] = ccn_act(n.act, n.alpha, acc1);
                nxt[(size_t)(pq + 2 * q) * cout + co] = ccn_act(n.act, n.alpha, acc2);
                nxt[(size_t)(pq + 3 * q) * cout + co] = ccn_act(n.act, n.alpha, acc3);
            }
            __syncthreads();
            float *t = cur;
            cur = nxt;
            nxt = t;
            cc = cout;
        } else { /* affine / act, in place: each element belongs to one thread */
            for (int e = tid; e < pb * cc; e += blockDim.x) {
                const int c = e % cc;
                float v = cur[e];
                if (n.kind == CCN_NODE_AFFINE) {
                    if (n.scale)
                        v *= n.scale[c];
                    if (n.shift)
                        v += n.shift[c];
                }
                cur[e] = ccn_act(n.act, n.alpha, v);
            }
            __syncthreads();
        }
    }
    for (int e = tid; e < np * cc; e += blockDim.x)
        a.dst[p0 * (size_t)cc + (size_t)e] = cur[e];
}

} // namespace

cc_status ccn_launch_pixel(ccn_pixel_args *a, cudaStream_t s)
{
    if (a->npix == 0)
        return CC_OK;
    int pb = (int)(PIX_SMEM / (2 * sizeof(float) * (size_t)a->maxc)) & ~3;
    if (pb > PIX_MAX_PB)
        pb = PIX_MAX_PB;
    if (pb < 4)
        return cc_error_set(CC_ERR_INTERNAL, "nn cuda: per-pixel chain of %d channels too wide",
                            a->maxc);
    a->pb = pb;
    const size_t blocks = (a->npix + (size_t)pb - 1) / (size_t)pb;
    if (blocks > 0x7fffffffu)
        return cc_error_set(CC_ERR_ARG, "nn cuda: window of %zu pixels too large", a->npix);
    const size_t smem = 2 * sizeof(float) * (size_t)pb * (size_t)a->maxc;
    pixel_kernel<<<(unsigned)blocks, PIX_THREADS, smem, s>>>(*a);
    return CCN_LAUNCHED("pixel_kernel");
}
