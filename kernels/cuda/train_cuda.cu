/* clearcube: the GEMMs of training on a GPU with cuBLAS (kernels/cuda/train_cuda.h;
 * the mapping onto cublasSgemm: kernels/cuda/train_cuda-impl.h). */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/train_cuda-impl.h"

#define WORKSPACE_BYTES ((size_t)32 << 20) /* fixed cuBLAS workspace */

/* cuBLAS is opened when training first asks for a GPU, not linked: linked, its
 * libraries (libcublas + libcublasLt) were mapped at every start of every
 * command, 215 MB of resident memory and 0.1 s before any work (clearcube
 * --version: 46 MB without, 263 MB with). decltype keeps the types the
 * header's; the _v2 names are the symbols cublas_v2.h maps the calls to. */
#define CC_STR2(x) #x
#define CC_STR(x) CC_STR2(x)
static struct {
    decltype(&cublasCreate_v2) create;
    decltype(&cublasDestroy_v2) destroy;
    decltype(&cublasGetVersion_v2) get_version;
    decltype(&cublasSetStream_v2) set_stream;
    decltype(&cublasSetWorkspace_v2) set_workspace;
    decltype(&cublasSetMathMode) set_math_mode;
    decltype(&cublasSetAtomicsMode) set_atomics_mode;
    decltype(&cublasSetPointerMode_v2) set_pointer_mode;
    decltype(&cublasSgemm_v2) sgemm;
    decltype(&cublasGetStatusString) status_string;
    char why[300]; /* empty once every symbol is found */
} blas;
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void blas_load(void)
{
    const char *lib = "libcublas.so." CC_STR(CUBLAS_VER_MAJOR);
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(blas.why, sizeof blas.why, "cannot load %s: %s", lib, dlerror());
        return;
    }
#define BLAS_SYM(field, name)                                                                  \
    if (!(*(void **)&blas.field = dlsym(h, name))) {                                           \
        snprintf(blas.why, sizeof blas.why, "%s: no symbol %s", lib, name);                   \
        return;                                                                                \
    }
    BLAS_SYM(create, "cublasCreate_v2")
    BLAS_SYM(destroy, "cublasDestroy_v2")
    BLAS_SYM(get_version, "cublasGetVersion_v2")
    BLAS_SYM(set_stream, "cublasSetStream_v2")
    BLAS_SYM(set_workspace, "cublasSetWorkspace_v2")
    BLAS_SYM(set_math_mode, "cublasSetMathMode")
    BLAS_SYM(set_atomics_mode, "cublasSetAtomicsMode")
    BLAS_SYM(set_pointer_mode, "cublasSetPointerMode_v2")
    BLAS_SYM(sgemm, "cublasSgemm_v2")
    BLAS_SYM(status_string, "cublasGetStatusString")
#undef BLAS_SYM
    blas.why[0] = 0;
}

struct cc_cuda_train {
    int device;
    cudaStream_t stream;
    cublasHandle_t handle;
    void *workspace;
    float *buf[CC_CUDA_TRAIN_SLOTS];
    size_t cap[CC_CUDA_TRAIN_SLOTS];
    float *ones, *pack;
    size_t ones_cap, pack_cap;
    char name[400];
};

static cc_status cuda_st(cudaError_t e, const char *what, int line)
{
    if (e == cudaSuccess)
        return CC_OK;
    (void)cudaGetLastError();
    return cc_error_set(e == cudaErrorMemoryAllocation ? CC_ERR_NOMEM : CC_ERR_INTERNAL,
                        "train cuda: %s failed: %s (%d) at %s:%d", what, cudaGetErrorString(e),
                        (int)e, __FILE__, line);
}

static cc_status blas_st(cublasStatus_t e, const char *what, int line)
{
    if (e == CUBLAS_STATUS_SUCCESS)
        return CC_OK;
    return cc_error_set(e == CUBLAS_STATUS_ALLOC_FAILED ? CC_ERR_NOMEM : CC_ERR_INTERNAL,
                        "train cuda: %s failed: %s (%d) at %s:%d", what, blas.status_string(e),
                        (int)e, __FILE__, line);
}

#define TC_CUDA(call) cuda_st((call), #call, __LINE__)
#define TC_BLAS(call) blas_st((call), #call, __LINE__)

/* ---- kernels: bias broadcast, strided pack, fill ---- */
__global__ void k_bias_rows(float *C, ptrdiff_t ldc, int M, int N, const float *bias, int accum)
{
    const size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= (size_t)M * (size_t)N)
        return;
    const size_t i = e / (size_t)N, j = e % (size_t)N;
    float *c = C + (ptrdiff_t)i * ldc + (ptrdiff_t)j;
    *c = accum ? __fadd_rn(*c, bias[j]) : bias[j];
}

__global__ void k_pack(const float *A, ptrdiff_t ai, ptrdiff_t ak, int M, int K, float *P)
{
    const size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= (size_t)M * (size_t)K)
        return;
    const size_t i = e / (size_t)K, k = e % (size_t)K;
    P[e] = A[(ptrdiff_t)i * ai + (ptrdiff_t)k * ak];
}

__global__ void k_fill(float *p, size_t n, float v)
{
    const size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (e < n)
        p[e] = v;
}

static unsigned blocks(size_t n)
{
    return (unsigned)((n + 255) / 256);
}

/* ---- the context ---- */
static cc_status nodevice(int device, const char *why)
{
    return cc_error_set(CC_ERR_NODEVICE, "train cuda: GPU %d not usable: %s", device, why);
}

cc_status cc_cuda_train_create(int device, cc_cuda_train **out)
{
    *out = NULL;
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        char why[200];
        snprintf(why, sizeof why, "cudaGetDeviceCount: %s, error %d", cudaGetErrorString(e), (int)e);
        return nodevice(device, why);
    }
    if (device < 0 || device >= count) {
        char why[100];
        snprintf(why, sizeof why, "%d GPU(s) visible", count);
        return nodevice(device, why);
    }
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, device) != cudaSuccess || prop.major < 8) {
        (void)cudaGetLastError();
        return nodevice(device, "older than sm_80 or properties unavailable");
    }
    pthread_once(&blas_once, blas_load);
    if (blas.why[0] || !blas.create)
        return nodevice(device, blas.why[0] ? blas.why : "cuBLAS not loaded");
    cc_cuda_train *t = (cc_cuda_train *)calloc(1, sizeof *t);
    if (!t)
        return cc_error_set(CC_ERR_NOMEM, "train cuda: out of memory");
    t->device = device;
    cc_status st;
    int ver = 0;
    if ((st = TC_CUDA(cudaSetDevice(device))) != CC_OK ||
        (st = TC_CUDA(cudaStreamCreateWithFlags(&t->stream, cudaStreamNonBlocking))) != CC_OK ||
        (st = TC_CUDA(cudaMalloc(&t->workspace, WORKSPACE_BYTES))) != CC_OK ||
        (st = TC_BLAS(blas.create(&t->handle))) != CC_OK ||
        /* the stream first: cublasSetStream resets the workspace to cuBLAS's pool */
        (st = TC_BLAS(blas.set_stream(t->handle, t->stream))) != CC_OK ||
        (st = TC_BLAS(blas.set_workspace(t->handle, t->workspace, WORKSPACE_BYTES))) != CC_OK ||
        (st = TC_BLAS(blas.set_math_mode(t->handle, CUBLAS_PEDANTIC_MATH))) != CC_OK ||
        (st = TC_BLAS(blas.set_atomics_mode(t->handle, CUBLAS_ATOMICS_NOT_ALLOWED))) != CC_OK ||
        (st = TC_BLAS(blas.set_pointer_mode(t->handle, CUBLAS_POINTER_MODE_HOST))) != CC_OK ||
        (st = TC_BLAS(blas.get_version(t->handle, &ver))) != CC_OK) {
        cc_cuda_train_free(t);
        return st;
    }
    snprintf(t->name, sizeof t->name, "cuBLAS %d.%d.%d on %s (sm_%d%d, pedantic fp32)", ver / 10000,
             ver / 100 % 100, ver % 100, prop.name, prop.major, prop.minor);
    *out = t;
    return CC_OK;
}

void cc_cuda_train_free(cc_cuda_train *t)
{
    if (!t)
        return;
    if (t->stream)
        (void)cudaStreamSynchronize(t->stream);
    if (t->handle)
        (void)blas.destroy(t->handle);
    for (int s = 0; s < CC_CUDA_TRAIN_SLOTS; s++)
        (void)cudaFree(t->buf[s]);
    (void)cudaFree(t->ones);
    (void)cudaFree(t->pack);
    (void)cudaFree(t->workspace);
    if (t->stream)
        (void)cudaStreamDestroy(t->stream);
    free(t);
}

cc_status cc_cuda_train_bind(cc_cuda_train *t)
{
    return TC_CUDA(cudaSetDevice(t->device));
}

const char *cc_cuda_train_name(const cc_cuda_train *t)
{
    return t ? t->name : "";
}

/* grows *p to n floats (stream-ordered: waits for the work using the old one) */
static cc_status grow(cc_cuda_train *t, float **p, size_t *cap, size_t n)
{
    if (*p && *cap >= n)
        return CC_OK;
    cc_status st;
    if ((st = TC_CUDA(cudaStreamSynchronize(t->stream))) != CC_OK)
        return st;
    (void)cudaFree(*p);
    *p = NULL;
    *cap = 0;
    if ((st = TC_CUDA(cudaMalloc((void **)p, (n ? n : 1) * sizeof(float)))) != CC_OK)
        return st;
    *cap = n;
    return CC_OK;
}

float *cc_cuda_train_buf(cc_cuda_train *t, int slot, size_t n)
{
    if (slot < 0 || slot >= CC_CUDA_TRAIN_SLOTS) {
        cc_error_set(CC_ERR_ARG, "train cuda: buffer slot %d out of range", slot);
        return NULL;
    }
    return grow(t, &t->buf[slot], &t->cap[slot], n) == CC_OK ? t->buf[slot] : NULL;
}

cc_status cc_cuda_train_put(cc_cuda_train *t, float *dst, const float *src, size_t n)
{
    return TC_CUDA(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyHostToDevice, t->stream));
}

cc_status cc_cuda_train_get(cc_cuda_train *t, float *dst, const float *src, size_t n)
{
    cc_status st = TC_CUDA(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToHost,
                                           t->stream));
    if (st == CC_OK)
        st = TC_CUDA(cudaStreamSynchronize(t->stream));
    return st;
}

cc_status cc_cuda_train_gemm(cc_cuda_train *t, const cc_cuda_gemm_args *g)
{
    if (g->M <= 0 || g->N <= 0)
        return CC_OK;
    if (g->K < 0 || g->ldb < g->N || g->ldc < g->N)
        return cc_error_set(CC_ERR_ARG, "train cuda: gemm %dx%dx%d with ldb %td, ldc %td", g->M,
                            g->N, g->K, g->ldb, g->ldc);
    cc_status st;
    const size_t mn = (size_t)g->M * (size_t)g->N;
    float beta = g->accum ? 1.0f : 0.0f;
    if (g->bias) {
        k_bias_rows<<<blocks(mn), 256, 0, t->stream>>>(g->C, g->ldc, g->M, g->N, g->bias, g->accum);
        if ((st = TC_CUDA(cudaGetLastError())) != CC_OK)
            return st;
        beta = 1.0f;
    }
    if (g->K == 0) {
        if (!g->bias && !g->accum) /* C = 0 */
            return TC_CUDA(cudaMemset2DAsync(g->C, (size_t)g->ldc * sizeof(float), 0,
                                             (size_t)g->N * sizeof(float), (size_t)g->M, t->stream));
        return CC_OK;
    }
    const float *A = g->A;
    int trans = 0;
    ptrdiff_t lda = cc_cuda_gemm_lda(g, &trans); /* 0: pack */
    if (lda == 0) { /* other strides: pack row-major M x K */
        const size_t mk = (size_t)g->M * (size_t)g->K;
        if ((st = grow(t, &t->pack, &t->pack_cap, mk)) != CC_OK)
            return st;
        k_pack<<<blocks(mk), 256, 0, t->stream>>>(g->A, g->ai, g->ak, g->M, g->K, t->pack);
        if ((st = TC_CUDA(cudaGetLastError())) != CC_OK)
            return st;
        A = t->pack;
        trans = 0;
        lda = g->K;
    }
    const float alpha = 1.0f;
    const cublasOperation_t opa = trans ? CUBLAS_OP_T : CUBLAS_OP_N;
    return TC_BLAS(blas.sgemm(t->handle, CUBLAS_OP_N, opa, g->N, g->M, g->K, &alpha, g->B,
                               (int)g->ldb, A, (int)lda, &beta, g->C, (int)g->ldc));
}

cc_status cc_cuda_train_colsum(cc_cuda_train *t, int M, int N, const float *A, ptrdiff_t lda,
                               float *dst, int accum)
{
    if (M > 0 && t->ones_cap < (size_t)M) {
        cc_status st = grow(t, &t->ones, &t->ones_cap, (size_t)M);
        if (st != CC_OK)
            return st;
        k_fill<<<blocks((size_t)M), 256, 0, t->stream>>>(t->ones, (size_t)M, 1.0f);
        if ((st = TC_CUDA(cudaGetLastError())) != CC_OK)
            return st;
    }
    /* dst (1 x N) = ones (1 x M) * A (M x N) */
    cc_cuda_gemm_args g = {1, N, M, t->ones, (ptrdiff_t)M, 1, A, lda, NULL, dst, (ptrdiff_t)N, accum};
    return cc_cuda_train_gemm(t, &g);
}
