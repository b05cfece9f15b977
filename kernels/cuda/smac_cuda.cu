/* clearcube: SMAC inversion kernel (see smac_cuda.h). The maths is the
 * CPU's own, from kernels/smac/smac-impl.h (host/device inline functions);
 * test_smac_cuda checks parity on a GPU. */
#include "kernels/cuda/smac_cuda.h"
#include "kernels/smac/smac-impl.h"

#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

/* The one checking macro, used for every CUDA runtime call: evaluates to
 * CC_OK, or on failure sets the error (status fail_st; the message names the
 * call, CUDA's error string and code) after clearing CUDA's sticky last
 * error, and evaluates to fail_st. */
#define CC_CUDA(fail_st, call) cc_cuda_check((call), (fail_st), #call, __FILE__, __LINE__)

static cc_status cc_cuda_check(cudaError_t e, cc_status fail_st, const char *what,
                               const char *file, int line)
{
    if (e == cudaSuccess)
        return CC_OK;
    (void)cudaGetLastError();
    return cc_error_set(fail_st, "cuda: %s failed: %s (%d) at %s:%d", what, cudaGetErrorString(e),
                        (int)e, file, line);
}

/* Runs a CUDA call in a function with `st` and an `out:` label. */
#define CC_CUDA_TRY(call)                                                                   \
    do {                                                                                    \
        if ((st = CC_CUDA(CC_ERR_INTERNAL, call)) != CC_OK)                                 \
            goto out;                                                                       \
    } while (0)

namespace {

struct dev_params {
    cc_smac_coefs c;
    double tetas, phis, tetav, phiv, pressure_hpa, aot550, uo3, uh2o;
    const float *tetas_px, *phis_px, *tetav_px, *phiv_px, *pressure_px, *uh2o_px;
};

/* One pixel, with the SMAC maths shared with the CPU (kernels/smac/smac-impl.h). */
__device__ double smac_invert_px(const cc_smac_coefs &c, double tetas, double phis, double tetav,
                                 double phiv, double pressure, double tau, double uo3,
                                 double uh2o, double toa)
{
    cc_smac_atmos a;
    a.tetas = tetas;
    a.phis = phis;
    a.tetav = tetav;
    a.phiv = phiv;
    a.pressure_hpa = pressure;
    a.aot550 = tau;
    a.uo3 = uo3;
    a.uh2o = uh2o;
    cc_smac_terms t;
    cc_smac_terms_eval(&c, &a, &t);
    return cc_smac_invert_terms(&t, toa);
}

__global__ void smac_invert_kernel(dev_params p, const float *toa, float *surf, size_t n)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)blockDim.x * gridDim.x) {
        const float t = toa[i];
        if (isnan(t)) {
            surf[i] = t;
            continue;
        }
        const double ts = p.tetas_px ? p.tetas_px[i] : p.tetas;
        const double ps = p.phis_px ? p.phis_px[i] : p.phis;
        const double tv = p.tetav_px ? p.tetav_px[i] : p.tetav;
        const double pv = p.phiv_px ? p.phiv_px[i] : p.phiv;
        const double pr = p.pressure_px ? p.pressure_px[i] : p.pressure_hpa;
        const double wv = p.uh2o_px ? p.uh2o_px[i] : p.uh2o;
        surf[i] = (float)smac_invert_px(p.c, ts, ps, tv, pv, pr, p.aot550, p.uo3, wv, t);
    }
}

} // namespace

extern "C" cc_status cc_cuda_smac_invert(const cc_smac_coefs *c, const cc_cuda_smac_params *p,
                                         const float *toa, size_t n, float *surf)
{
    cc_status st = CC_OK;
    int ndev = 0;
    dev_params dp;
    /* device copies; all freed at out */
    float *d_toa = NULL, *d_surf = NULL;
    float *d_px[6] = {NULL, NULL, NULL, NULL, NULL, NULL};
    const float *h_px[6];
    const size_t bytes = n * sizeof(float);
    int threads = 256, blocks = 0;

    if (!c || !p || (n && (!toa || !surf)))
        return cc_error_set(CC_ERR_ARG, "cuda smac: NULL argument");
    if (n > ((size_t)-1) / sizeof(float))
        return cc_error_set(CC_ERR_NOMEM, "cuda smac: %zu pixels overflow", n);
    /* without a driver this fails (cudaErrorInsufficientDriver = 35, or
     * cudaErrorNoDevice = 100): no GPU, not an internal error */
    if ((st = CC_CUDA(CC_ERR_UNSUPPORTED, cudaGetDeviceCount(&ndev))) != CC_OK)
        return st;
    if (ndev < 1)
        return cc_error_set(CC_ERR_UNSUPPORTED, "cuda smac: no CUDA device");
    if (n == 0)
        return CC_OK;

    dp.c = *c;
    dp.tetas = p->tetas;
    dp.phis = p->phis;
    dp.tetav = p->tetav;
    dp.phiv = p->phiv;
    dp.pressure_hpa = p->pressure_hpa;
    dp.aot550 = p->aot550;
    dp.uo3 = p->uo3;
    dp.uh2o = p->uh2o;
    h_px[0] = p->tetas_px;
    h_px[1] = p->phis_px;
    h_px[2] = p->tetav_px;
    h_px[3] = p->phiv_px;
    h_px[4] = p->pressure_px;
    h_px[5] = p->uh2o_px;

    CC_CUDA_TRY(cudaMalloc((void **)&d_toa, bytes));
    CC_CUDA_TRY(cudaMalloc((void **)&d_surf, bytes));
    CC_CUDA_TRY(cudaMemcpy(d_toa, toa, bytes, cudaMemcpyHostToDevice));
    for (int k = 0; k < 6; k++) {
        if (!h_px[k])
            continue;
        CC_CUDA_TRY(cudaMalloc((void **)&d_px[k], bytes));
        CC_CUDA_TRY(cudaMemcpy(d_px[k], h_px[k], bytes, cudaMemcpyHostToDevice));
    }
    dp.tetas_px = d_px[0];
    dp.phis_px = d_px[1];
    dp.tetav_px = d_px[2];
    dp.phiv_px = d_px[3];
    dp.pressure_px = d_px[4];
    dp.uh2o_px = d_px[5];

    blocks = (int)((n + threads - 1) / threads);
    if (blocks > 65535)
        blocks = 65535; /* grid-stride loop covers the rest */
    smac_invert_kernel<<<blocks, threads>>>(dp, d_toa, d_surf, n);
    CC_CUDA_TRY(cudaGetLastError());
    CC_CUDA_TRY(cudaMemcpy(surf, d_surf, bytes, cudaMemcpyDeviceToHost));

out:
    /* cudaFree(NULL) is a no-op; a failed free is reported only if nothing
     * failed before it */
    {
        void *bufs[8] = {d_toa, d_surf, d_px[0], d_px[1], d_px[2], d_px[3], d_px[4], d_px[5]};
        for (int k = 0; k < 8; k++) {
            cc_status fst = CC_CUDA(CC_ERR_INTERNAL, cudaFree(bufs[k]));
            if (st == CC_OK)
                st = fst;
        }
    }
    return st;
}

/* ---- the reference processor's per-pixel SMAC (smac_cuda.h) ---- */

namespace {

struct px_params {
    const cc_smac_coefs *coefs[CC_SMAC_PX_NB]; /* device pointers, NULL: none */
    cc_smac_px_bands b;
};

/* One pixel per thread (grid-stride): the operations of the CPU's ref_row
 * (pipeline/atmos/reference_stream.c) through kernels/smac/smac-pixel.h. */
__global__ void smac_px_kernel(px_params p, const uint16_t *dn, const float *px, size_t n, uint16_t *out,
                               unsigned long long *nvalid)
{
    const int nb = p.b.nb, nl = nb + 2;
    unsigned long long local = 0;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)blockDim.x * gridDim.x) {
        uint16_t *o = out + i * nl;
        double toa[CC_SMAC_PX_NB], boa[CC_SMAC_PX_NB];
        if (!cc_smac_px_toa(&p.b, dn + i * nb, toa)) {
            for (int j = 0; j < nl; j++)
                o[j] = 0;
            continue;
        }
        long k[CC_SMAC_PX_NF];
        cc_smac_px_keys(px + i * CC_SMAC_PX_NF, k);
        cc_smac_px_dry d;
        cc_smac_px_dry_compute(p.coefs, k, &d);
        cc_smac_px_invert(p.coefs, &d, k[4], toa, boa);
        local += (unsigned long long)cc_smac_px_encode(&p.b, px + i * CC_SMAC_PX_NF, boa, o);
    }
    if (local)
        atomicAdd(nvalid, local);
}

struct px_lane {
    cudaStream_t stream;
    uint16_t *d_dn, *d_out;
    float *d_px;
    unsigned long long *d_nvalid, *h_nvalid; /* h_: pinned */
    int busy;
};

} // namespace

struct cc_cuda_smac_px {
    px_params p;
    cc_smac_coefs *d_coefs;
    size_t cap;
    int blocks, threads;
    px_lane lane[CC_CUDA_SMAC_PX_LANES];
};

void cc_cuda_smac_px_free(cc_cuda_smac_px *g)
{
    if (!g)
        return;
    for (int l = 0; l < CC_CUDA_SMAC_PX_LANES; l++) {
        px_lane *L = &g->lane[l];
        if (L->stream) {
            (void)cudaStreamSynchronize(L->stream);
            (void)cudaStreamDestroy(L->stream);
        }
        (void)cudaFree(L->d_dn);
        (void)cudaFree(L->d_out);
        (void)cudaFree(L->d_px);
        (void)cudaFree(L->d_nvalid);
        (void)cudaFreeHost(L->h_nvalid);
    }
    (void)cudaFree(g->d_coefs);
    (void)cudaGetLastError();
    free(g);
}

extern "C" cc_status cc_cuda_smac_px_new(const cc_smac_coefs *const coefs[CC_SMAC_PX_NB], const cc_smac_px_bands *b,
                                         size_t cap, cc_cuda_smac_px **out)
{
    cc_status st = CC_OK;
    int ndev = 0, dev = 0, sms = 0;
    *out = NULL;
    if (!coefs || !b || b->nb < 1 || b->nb > CC_SMAC_PX_NB || cap == 0)
        return cc_error_set(CC_ERR_ARG, "cuda smac: bad block arguments");
    if ((st = CC_CUDA(CC_ERR_UNSUPPORTED, cudaGetDeviceCount(&ndev))) != CC_OK)
        return st;
    if (ndev < 1)
        return cc_error_set(CC_ERR_UNSUPPORTED, "cuda smac: no CUDA device");
    cc_cuda_smac_px *g = (cc_cuda_smac_px *)calloc(1, sizeof *g);
    if (!g)
        return cc_error_set(CC_ERR_NOMEM, "cuda smac: out of memory");
    g->p.b = *b;
    g->cap = cap;
    g->threads = 128;
    CC_CUDA_TRY(cudaGetDevice(&dev));
    CC_CUDA_TRY(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    g->blocks = sms > 0 ? sms * 8 : 512;
    CC_CUDA_TRY(cudaMalloc((void **)&g->d_coefs, CC_SMAC_PX_NB * sizeof(cc_smac_coefs)));
    for (int k = 0; k < CC_SMAC_PX_NB; k++) {
        if (!coefs[k])
            continue;
        CC_CUDA_TRY(cudaMemcpy(g->d_coefs + k, coefs[k], sizeof(cc_smac_coefs), cudaMemcpyHostToDevice));
        g->p.coefs[k] = g->d_coefs + k;
    }
    for (int l = 0; l < CC_CUDA_SMAC_PX_LANES; l++) {
        px_lane *L = &g->lane[l];
        CC_CUDA_TRY(cudaStreamCreateWithFlags(&L->stream, cudaStreamNonBlocking));
        CC_CUDA_TRY(cudaMalloc((void **)&L->d_dn, cap * (size_t)b->nb * sizeof(uint16_t)));
        CC_CUDA_TRY(cudaMalloc((void **)&L->d_out, cap * (size_t)(b->nb + 2) * sizeof(uint16_t)));
        CC_CUDA_TRY(cudaMalloc((void **)&L->d_px, cap * CC_SMAC_PX_NF * sizeof(float)));
        CC_CUDA_TRY(cudaMalloc((void **)&L->d_nvalid, sizeof(unsigned long long)));
        CC_CUDA_TRY(cudaHostAlloc((void **)&L->h_nvalid, sizeof(unsigned long long), cudaHostAllocDefault));
    }
out:
    if (st != CC_OK) {
        cc_cuda_smac_px_free(g);
        return st;
    }
    *out = g;
    return CC_OK;
}

extern "C" cc_status cc_cuda_smac_px_submit(cc_cuda_smac_px *g, int lane, const uint16_t *dn, const float *px,
                                            size_t n, uint16_t *out)
{
    cc_status st = CC_OK;
    if (!g || lane < 0 || lane >= CC_CUDA_SMAC_PX_LANES || n > g->cap || (n && (!dn || !px || !out)))
        return cc_error_set(CC_ERR_ARG, "cuda smac: bad block (lane %d, %zu pixels)", lane, n);
    px_lane *L = &g->lane[lane];
    if (L->busy)
        return cc_error_set(CC_ERR_INTERNAL, "cuda smac: lane %d is busy", lane);
    const int nb = g->p.b.nb;
    int blocks = (int)((n + g->threads - 1) / g->threads);
    if (blocks > g->blocks)
        blocks = g->blocks;
    if (blocks < 1)
        blocks = 1;
    CC_CUDA_TRY(cudaMemsetAsync(L->d_nvalid, 0, sizeof(unsigned long long), L->stream));
    if (n) {
        CC_CUDA_TRY(cudaMemcpyAsync(L->d_dn, dn, n * nb * sizeof(uint16_t), cudaMemcpyHostToDevice, L->stream));
        CC_CUDA_TRY(cudaMemcpyAsync(L->d_px, px, n * CC_SMAC_PX_NF * sizeof(float), cudaMemcpyHostToDevice,
                                    L->stream));
        smac_px_kernel<<<blocks, g->threads, 0, L->stream>>>(g->p, L->d_dn, L->d_px, n, L->d_out, L->d_nvalid);
        CC_CUDA_TRY(cudaGetLastError());
        CC_CUDA_TRY(cudaMemcpyAsync(out, L->d_out, n * (nb + 2) * sizeof(uint16_t), cudaMemcpyDeviceToHost,
                                    L->stream));
    }
    CC_CUDA_TRY(cudaMemcpyAsync(L->h_nvalid, L->d_nvalid, sizeof(unsigned long long), cudaMemcpyDeviceToHost,
                                L->stream));
    L->busy = 1;
out:
    return st;
}

extern "C" cc_status cc_cuda_smac_px_wait(cc_cuda_smac_px *g, int lane, size_t *n_valid)
{
    cc_status st = CC_OK;
    if (n_valid)
        *n_valid = 0;
    if (!g || lane < 0 || lane >= CC_CUDA_SMAC_PX_LANES)
        return cc_error_set(CC_ERR_ARG, "cuda smac: bad lane %d", lane);
    px_lane *L = &g->lane[lane];
    if (!L->busy)
        return CC_OK;
    L->busy = 0;
    CC_CUDA_TRY(cudaStreamSynchronize(L->stream));
    if (n_valid)
        *n_valid = (size_t)*L->h_nvalid;
out:
    return st;
}

extern "C" void *cc_cuda_host_alloc(size_t bytes)
{
    void *p = NULL;
    if (CC_CUDA(CC_ERR_NOMEM, cudaHostAlloc(&p, bytes ? bytes : 1, cudaHostAllocDefault)) != CC_OK)
        return NULL;
    return p;
}

extern "C" void cc_cuda_host_free(void *p)
{
    if (p && cudaFreeHost(p) != cudaSuccess)
        (void)cudaGetLastError();
}
