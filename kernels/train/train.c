/* clearcube: training on the CPU (issue 4). See kernels/train.h.
 *
 * Layout of the work:
 *   - every live node keeps its output (post-activation) tensor; nodes with a
 *     SiLU activation also keep sigmoid(z), LeakyReLU nodes keep z (the
 *     backward pass needs them); every node has a gradient buffer dL/dout.
 *   - CONV2D is a GEMM: 1x1 stride 1 directly on the channels-last tensor in
 *     units of UNIT_PX pixels; k=3 or stride 2 through an im2col of one output
 *     row (k*k*cin columns in the order of the weights [cout][ky][kx][cin]).
 *     The GEMM micro-kernel is 6 rows x 16 columns (AVX2+FMA when the CPU has
 *     it, portable C otherwise; CLEARCUBE_SIMD=scalar forces the portable one).
 *   - parameter gradients (weights, biases, affine scale/shift) are summed over
 *     pixels in NCHUNK fixed chunks of units (chunk c covers units
 *     [c*U/NCHUNK, (c+1)*U/NCHUNK), U = number of units, NCHUNK = min(U,
 *     NCHUNK_MAX)), each chunk by one thread in unit order, then the chunk
 *     partials are added in chunk order. Nothing depends on the thread count,
 *     so gradients are bit-identical for any OMP_NUM_THREADS.
 *   - the input gradient of a spatial conv is a scatter (col2im); output rows
 *     are processed in 3 phases (oy mod 3) so that rows running concurrently
 *     never touch the same input row; the order of additions is fixed.
 *   - CONV1D_TIME convolves along the batch axis b (the runtime's T axis).
 */
#include "kernels/train/train.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TRAIN_X86 1
#endif

#include "core/alloc.h"
#include "core/error.h"

#define UNIT_PX 256     /* pixels per unit of per-pixel work (fixed: thread independent) */
#define NCHUNK_MAX 32   /* chunks of the parameter-gradient reduction                  */
#define SLACK 16        /* floats after every buffer (GEMM loads of 16-column panels)  */
#define MR 6
#define NR 16

static size_t rup16(size_t n)
{
    return (n + 15) / 16 * 16;
}

static int nthreads_max(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* Parallelise a loop only when it is worth a fork/join (count iterations of
 * about `per` units of work each): tiny tensors run on the calling thread.
 * The decomposition, hence every result, does not depend on this. */
#define PAR_MIN_WORK 65536
static int par_worth(size_t count, size_t per)
{
    return count > 1 && count * per >= PAR_MIN_WORK;
}

static int thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* ------------------------------------------------------------------------- */
/* GEMM: C[i][j] (=|+=) bias[j] + sum_k A(i,k) * B[k*ldb + j]                 */
/* A(i,k) = A[i*ai + k*ak]; i < M, j < N, k < K. B rows and bias must be      */
/* readable up to column rup16(N) (padding or SLACK; values there only reach   */
/* discarded columns). Every C element is bias + the k-sum in k order.        */
/* ------------------------------------------------------------------------- */
typedef struct {
    int M, N, K;
    const float *A;
    ptrdiff_t ai, ak;
    const float *B;
    ptrdiff_t ldb;
    const float *bias; /* NULL: 0 */
    float *C;
    ptrdiff_t ldc;
    int accum;
} gemm_t;

static void store_tile(const gemm_t *g, int i0, int mr, int j0, int nr, float acc[MR][NR])
{
    for (int r = 0; r < mr; r++) {
        float *c = g->C + (ptrdiff_t)(i0 + r) * g->ldc + j0;
        if (g->accum)
            for (int u = 0; u < nr; u++)
                c[u] += acc[r][u];
        else
            for (int u = 0; u < nr; u++)
                c[u] = acc[r][u];
    }
}

static void gemm_scalar(const gemm_t *g)
{
    for (int j0 = 0; j0 < g->N; j0 += NR) {
        const int nr = g->N - j0 < NR ? g->N - j0 : NR;
        for (int i0 = 0; i0 < g->M; i0 += MR) {
            const int mr = g->M - i0 < MR ? g->M - i0 : MR;
            const float *ar[MR];
            for (int r = 0; r < MR; r++)
                ar[r] = g->A + (ptrdiff_t)(r < mr ? i0 + r : i0 + mr - 1) * g->ai;
            float acc[MR][NR];
            for (int r = 0; r < MR; r++)
                for (int u = 0; u < NR; u++)
                    acc[r][u] = g->bias ? g->bias[j0 + u] : 0.0f;
            const float *b = g->B + j0;
            for (int k = 0; k < g->K; k++, b += g->ldb)
                for (int r = 0; r < MR; r++) {
                    const float av = ar[r][(ptrdiff_t)k * g->ak];
                    for (int u = 0; u < NR; u++)
                        acc[r][u] += av * b[u];
                }
            store_tile(g, i0, mr, j0, nr, acc);
        }
    }
}

#ifdef TRAIN_X86
__attribute__((target("avx2,fma"))) static void gemm_avx2(const gemm_t *g)
{
    for (int j0 = 0; j0 < g->N; j0 += NR) {
        const int nr = g->N - j0 < NR ? g->N - j0 : NR;
        for (int i0 = 0; i0 < g->M; i0 += MR) {
            const int mr = g->M - i0 < MR ? g->M - i0 : MR;
            const float *a0 = g->A + (ptrdiff_t)i0 * g->ai;
            const float *a1 = g->A + (ptrdiff_t)(1 < mr ? i0 + 1 : i0 + mr - 1) * g->ai;
            const float *a2 = g->A + (ptrdiff_t)(2 < mr ? i0 + 2 : i0 + mr - 1) * g->ai;
            const float *a3 = g->A + (ptrdiff_t)(3 < mr ? i0 + 3 : i0 + mr - 1) * g->ai;
            const float *a4 = g->A + (ptrdiff_t)(4 < mr ? i0 + 4 : i0 + mr - 1) * g->ai;
            const float *a5 = g->A + (ptrdiff_t)(5 < mr ? i0 + 5 : i0 + mr - 1) * g->ai;
            __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps();
            if (g->bias) {
                b0 = _mm256_loadu_ps(g->bias + j0);
                b1 = _mm256_loadu_ps(g->bias + j0 + 8);
            }
            __m256 c00 = b0, c01 = b1, c10 = b0, c11 = b1, c20 = b0, c21 = b1;
            __m256 c30 = b0, c31 = b1, c40 = b0, c41 = b1, c50 = b0, c51 = b1;
            const float *b = g->B + j0;
            const ptrdiff_t ak = g->ak, ldb = g->ldb;
            for (int k = 0; k < g->K; k++, b += ldb) {
                const ptrdiff_t o = (ptrdiff_t)k * ak;
                const __m256 x0 = _mm256_loadu_ps(b), x1 = _mm256_loadu_ps(b + 8);
                __m256 a = _mm256_broadcast_ss(a0 + o);
                c00 = _mm256_fmadd_ps(a, x0, c00);
                c01 = _mm256_fmadd_ps(a, x1, c01);
                a = _mm256_broadcast_ss(a1 + o);
                c10 = _mm256_fmadd_ps(a, x0, c10);
                c11 = _mm256_fmadd_ps(a, x1, c11);
                a = _mm256_broadcast_ss(a2 + o);
                c20 = _mm256_fmadd_ps(a, x0, c20);
                c21 = _mm256_fmadd_ps(a, x1, c21);
                a = _mm256_broadcast_ss(a3 + o);
                c30 = _mm256_fmadd_ps(a, x0, c30);
                c31 = _mm256_fmadd_ps(a, x1, c31);
                a = _mm256_broadcast_ss(a4 + o);
                c40 = _mm256_fmadd_ps(a, x0, c40);
                c41 = _mm256_fmadd_ps(a, x1, c41);
                a = _mm256_broadcast_ss(a5 + o);
                c50 = _mm256_fmadd_ps(a, x0, c50);
                c51 = _mm256_fmadd_ps(a, x1, c51);
            }
            if (nr == NR) {
                __m256 cc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21},
                                    {c30, c31}, {c40, c41}, {c50, c51}};
                for (int r = 0; r < mr; r++) {
                    float *c = g->C + (ptrdiff_t)(i0 + r) * g->ldc + j0;
                    __m256 v0 = cc[r][0], v1 = cc[r][1];
                    if (g->accum) {
                        v0 = _mm256_add_ps(_mm256_loadu_ps(c), v0);
                        v1 = _mm256_add_ps(_mm256_loadu_ps(c + 8), v1);
                    }
                    _mm256_storeu_ps(c, v0);
                    _mm256_storeu_ps(c + 8, v1);
                }
            } else {
                float acc[MR][NR];
                _mm256_storeu_ps(acc[0], c00);
                _mm256_storeu_ps(acc[0] + 8, c01);
                _mm256_storeu_ps(acc[1], c10);
                _mm256_storeu_ps(acc[1] + 8, c11);
                _mm256_storeu_ps(acc[2], c20);
                _mm256_storeu_ps(acc[2] + 8, c21);
                _mm256_storeu_ps(acc[3], c30);
                _mm256_storeu_ps(acc[3] + 8, c31);
                _mm256_storeu_ps(acc[4], c40);
                _mm256_storeu_ps(acc[4] + 8, c41);
                _mm256_storeu_ps(acc[5], c50);
                _mm256_storeu_ps(acc[5] + 8, c51);
                store_tile(g, i0, mr, j0, nr, acc);
            }
        }
    }
}
#endif

static void (*gemm_fn)(const gemm_t *) = gemm_scalar;
static const char *gemm_name = "scalar";
static pthread_once_t gemm_once = PTHREAD_ONCE_INIT;

static void gemm_select(void)
{
    const char *f = getenv("CLEARCUBE_SIMD");
    if (f && strcmp(f, "scalar") == 0)
        return;
#ifdef TRAIN_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        gemm_fn = gemm_avx2;
        gemm_name = "avx2";
    }
#endif
}

static void gemm(const gemm_t *g)
{
    if (g->M <= 0 || g->N <= 0)
        return;
    gemm_fn(g);
}

const char *cc_train_kernel_name(void);
const char *cc_train_kernel_name(void)
{
    pthread_once(&gemm_once, gemm_select);
    return gemm_name;
}

/* ------------------------------------------------------------------------- */
/* activations                                                                */
/* ------------------------------------------------------------------------- */
static int act_aux(cc_act a)
{
    return a == CC_ACT_SILU || a == CC_ACT_LEAKY_RELU;
}

/* y holds z on entry, act(z) on exit (cc_nn_act_apply bits); aux: s or z. */
static void act_fwd(cc_act a, float alpha, float *y, float *aux, size_t n)
{
    switch (a) {
    case CC_ACT_RELU:
        for (size_t i = 0; i < n; i++)
            y[i] = y[i] > 0.0f ? y[i] : 0.0f;
        break;
    case CC_ACT_LEAKY_RELU:
        for (size_t i = 0; i < n; i++) {
            const float v = y[i];
            aux[i] = v;
            y[i] = v >= 0.0f ? v : v * alpha;
        }
        break;
    case CC_ACT_SILU:
        for (size_t i = 0; i < n; i++) {
            const float v = y[i], d = 1.0f + expf(-v);
            y[i] = v / d;
            aux[i] = 1.0f / d;
        }
        break;
    case CC_ACT_SIGMOID:
        for (size_t i = 0; i < n; i++)
            y[i] = 1.0f / (1.0f + expf(-y[i]));
        break;
    default: break;
    }
}

/* g: dL/dy on entry, dL/dz on exit. */
static void act_bwd(cc_act a, float alpha, const float *y, const float *aux, float *g, size_t n)
{
    switch (a) {
    case CC_ACT_RELU:
        for (size_t i = 0; i < n; i++)
            g[i] = y[i] > 0.0f ? g[i] : 0.0f;
        break;
    case CC_ACT_LEAKY_RELU: /* PyTorch: z > 0 ? g : g*alpha */
        for (size_t i = 0; i < n; i++)
            g[i] = aux[i] > 0.0f ? g[i] : g[i] * alpha;
        break;
    case CC_ACT_SILU: /* s*(1 + z*(1-s)) = s + y*(1-s) */
        for (size_t i = 0; i < n; i++) {
            const float s = aux[i];
            g[i] *= s + y[i] * (1.0f - s);
        }
        break;
    case CC_ACT_SIGMOID:
        for (size_t i = 0; i < n; i++)
            g[i] *= y[i] * (1.0f - y[i]);
        break;
    default: break;
    }
}

/* Parallel elementwise wrappers over fixed chunks. */
#define EW_CHUNK 16384
static void act_fwd_par(cc_act a, float alpha, float *y, float *aux, size_t n)
{
    if (a == CC_ACT_NONE)
        return;
    const long nc = (long)((n + EW_CHUNK - 1) / EW_CHUNK);
#pragma omp parallel for schedule(static) if(par_worth((size_t)(nc), EW_CHUNK))
    for (long c = 0; c < nc; c++) {
        const size_t i0 = (size_t)c * EW_CHUNK, ne = n - i0 < EW_CHUNK ? n - i0 : EW_CHUNK;
        act_fwd(a, alpha, y + i0, aux ? aux + i0 : NULL, ne);
    }
}

static void act_bwd_par(cc_act a, float alpha, const float *y, const float *aux, float *g,
                        size_t n)
{
    if (a == CC_ACT_NONE)
        return;
    const long nc = (long)((n + EW_CHUNK - 1) / EW_CHUNK);
#pragma omp parallel for schedule(static) if(par_worth((size_t)(nc), EW_CHUNK))
    for (long c = 0; c < nc; c++) {
        const size_t i0 = (size_t)c * EW_CHUNK, ne = n - i0 < EW_CHUNK ? n - i0 : EW_CHUNK;
        act_bwd(a, alpha, y + i0, aux ? aux + i0 : NULL, g + i0, ne);
    }
}

/* ------------------------------------------------------------------------- */
/* the net                                                                    */
/* ------------------------------------------------------------------------- */
typedef struct {
    float *p;
    size_t n;
    int decay;
} param_arr;

struct cc_train_net {
    cc_nn_model *m;
    int nn;
    int max_b, max_h, max_w;
    int *live;
    int (*shape)[4];
    size_t *cap;          /* [nn] floats of each node tensor at the maximum batch     */
    float **out, **aux, **grad;
    int *gset;            /* gradient buffer written in this backward                 */
    float *rho_grad;      /* dL/drho                                                  */
    size_t rho_cap;
    int b, h, w;
    int have_fwd, have_bwd;
    /* parameters */
    int nparr;
    param_arr *parr;
    size_t nparams;
    float *grads;
    size_t *off_a, *off_b; /* [nn]: flat offset of weight|scale, bias|shift; SIZE_MAX: none */
    /* scratch (grown on demand) */
    float *wpack, *bpack, *partial, *scratch;
    size_t wpack_cap, bpack_cap, partial_cap, scratch_cap; /* scratch: per thread */
    int scratch_nt;
};

static float *falloc(size_t n)
{
    float *p = cc_calloc3(n + SLACK, sizeof(float), 1);
    if (!p)
        cc_error_set(CC_ERR_NOMEM, "train: out of memory (%zu floats)", n + SLACK);
    return p;
}

static cc_status grow(float **p, size_t *cap, size_t n)
{
    if (*cap >= n && *p)
        return CC_OK;
    free(*p);
    *p = falloc(n);
    *cap = *p ? n : 0;
    return *p ? CC_OK : CC_ERR_NOMEM;
}

static cc_status ensure_scratch(cc_train_net *n, size_t per_thread)
{
    const int nt = nthreads_max();
    if (n->scratch && n->scratch_cap >= per_thread && n->scratch_nt >= nt)
        return CC_OK;
    free(n->scratch);
    n->scratch = NULL;
    size_t pt = rup16(per_thread + SLACK);
    n->scratch = falloc(pt * (size_t)nt);
    if (!n->scratch) {
        n->scratch_cap = 0;
        return CC_ERR_NOMEM;
    }
    n->scratch_cap = pt - SLACK;
    n->scratch_nt = nt;
    return CC_OK;
}

static float *thread_scratch(const cc_train_net *n)
{
    return n->scratch + rup16(n->scratch_cap + SLACK) * (size_t)thread_id();
}

static int node_cin(const cc_nn_model *m, const cc_nn_node *nd)
{
    return nd->ninputs > 0 ? m->nodes[nd->inputs[0]].cout : 0;
}

static cc_status check_node(const cc_nn_model *m, int i)
{
    const cc_nn_node *nd = &m->nodes[i];
    if ((int)nd->op < 0 || nd->op >= CC_OP_COUNT)
        return cc_error_set(CC_ERR_UNSUPPORTED, "train: node %d '%s': op %d has no backward pass",
                            i, nd->name, (int)nd->op);
    if (nd->op == CC_OP_CONV2D && ((nd->kernel != 1 && nd->kernel != 3) ||
                                   (nd->stride != 1 && nd->stride != 2)))
        return cc_error_set(CC_ERR_UNSUPPORTED,
                            "train: node '%s' (conv2d, kernel %d, stride %d): only kernel 1 or 3, "
                            "stride 1 or 2 have a backward pass",
                            nd->name, nd->kernel, nd->stride);
    if (nd->op == CC_OP_CONV2D && nd->pad != CC_PAD_ZERO && nd->pad != CC_PAD_REFLECT)
        return cc_error_set(CC_ERR_UNSUPPORTED, "train: node '%s' (conv2d): padding %d unsupported",
                            nd->name, (int)nd->pad);
    if (nd->op == CC_OP_CONV1D_TIME && nd->kernel < 1)
        return cc_error_set(CC_ERR_UNSUPPORTED, "train: node '%s' (conv1d_time): kernel %d",
                            nd->name, nd->kernel);
    if ((nd->op == CC_OP_CONV2D || nd->op == CC_OP_CONV1D_TIME) && !nd->weight)
        return cc_error_set(CC_ERR_ARG, "train: node '%s' (%s): no weights", nd->name,
                            cc_op_name(nd->op));
    if ((int)nd->act < 0 || nd->act > CC_ACT_SIGMOID)
        return cc_error_set(CC_ERR_UNSUPPORTED, "train: node '%s': activation %d unsupported",
                            nd->name, (int)nd->act);
    return CC_OK;
}

/* Node shapes for a (b, h, w) batch (b = the runtime's T axis); mirrors the
 * runtime's plan (kernels/nn.c plan_shapes). */
static cc_status compute_shapes(const cc_nn_model *m, const int *live, int b, int h, int w,
                                int (*shape)[4])
{
    for (int i = 0; i < m->nnodes; i++) {
        const cc_nn_node *nd = &m->nodes[i];
        int *s = shape[i];
        if (nd->op == CC_OP_INPUT) {
            s[0] = b;
            s[1] = h;
            s[2] = w;
            s[3] = nd->cout;
            continue;
        }
        const int *a = shape[nd->inputs[0]];
        memcpy(s, a, sizeof shape[0]);
        s[3] = nd->cout;
        if (!live[i])
            continue;
        switch (nd->op) {
        case CC_OP_CONV2D: {
            const int pad = nd->kernel / 2;
            if (nd->pad == CC_PAD_REFLECT && pad > 0 && (a[1] < 2 || a[2] < 2))
                return cc_error_set(CC_ERR_ARG,
                                    "train: node '%s': reflect padding needs H, W >= 2 (got %dx%d)",
                                    nd->name, a[1], a[2]);
            s[1] = (a[1] + 2 * pad - nd->kernel) / nd->stride + 1;
            s[2] = (a[2] + 2 * pad - nd->kernel) / nd->stride + 1;
            if (s[1] < 1 || s[2] < 1)
                return cc_error_set(CC_ERR_ARG, "train: node '%s': input %dx%d too small",
                                    nd->name, a[1], a[2]);
            break;
        }
        case CC_OP_AVGPOOL2:
        case CC_OP_MAXPOOL2:
            if (a[1] % 2 || a[2] % 2)
                return cc_error_set(CC_ERR_ARG, "train: node '%s' (%s): H, W must be even (got %dx%d)",
                                    nd->name, cc_op_name(nd->op), a[1], a[2]);
            s[1] = a[1] / 2;
            s[2] = a[2] / 2;
            break;
        case CC_OP_UPSAMPLE2_NEAREST:
        case CC_OP_UPSAMPLE2_BILINEAR:
            s[1] = a[1] * 2;
            s[2] = a[2] * 2;
            break;
        case CC_OP_ADD:
        case CC_OP_CONCAT:
            for (int k = 1; k < nd->ninputs; k++) {
                const int *c = shape[nd->inputs[k]];
                if (c[0] != a[0] || c[1] != a[1] || c[2] != a[2] ||
                    (nd->op == CC_OP_ADD && c[3] != a[3]))
                    return cc_error_set(CC_ERR_ARG, "train: node '%s' (%s): input shapes differ",
                                        nd->name, cc_op_name(nd->op));
            }
            break;
        case CC_OP_OUTPUT:
            if (a[1] != h || a[2] != w)
                return cc_error_set(CC_ERR_ARG, "train: output %dx%d differs from the input %dx%d",
                                    a[1], a[2], h, w);
            break;
        default: break;
        }
    }
    return CC_OK;
}

static size_t numel(const int *s)
{
    return (size_t)s[0] * (size_t)s[1] * (size_t)s[2] * (size_t)s[3];
}

static int has_act(cc_op_type op)
{
    return op == CC_OP_CONV2D || op == CC_OP_AFFINE || op == CC_OP_ACT || op == CC_OP_ADD ||
           op == CC_OP_CONV1D_TIME;
}

void cc_train_net_free(cc_train_net *n)
{
    if (!n)
        return;
    for (int i = 0; i < n->nn; i++) {
        if (n->out)
            free(n->out[i]);
        if (n->aux)
            free(n->aux[i]);
        if (n->grad)
            free(n->grad[i]);
    }
    free(n->out);
    free(n->aux);
    free(n->grad);
    free(n->live);
    free(n->shape);
    free(n->cap);
    free(n->gset);
    free(n->rho_grad);
    free(n->parr);
    free(n->grads);
    free(n->off_a);
    free(n->off_b);
    free(n->wpack);
    free(n->bpack);
    free(n->partial);
    free(n->scratch);
    free(n);
}

static void add_param(cc_train_net *n, float *p, size_t cnt, int decay, size_t *off)
{
    if (!p || cnt == 0) {
        *off = SIZE_MAX;
        return;
    }
    *off = n->nparams;
    n->parr[n->nparr].p = p;
    n->parr[n->nparr].n = cnt;
    n->parr[n->nparr].decay = decay;
    n->nparr++;
    n->nparams += cnt;
}

cc_status cc_train_net_create(cc_nn_model *m, int max_b, int max_h, int max_w, cc_train_net **out)
{
    cc_status st;
    if (!out)
        return cc_error_set(CC_ERR_ARG, "train: NULL output pointer");
    *out = NULL;
    if (!m || !m->nodes || m->nnodes < 2 || m->output_node < 0 || m->output_node >= m->nnodes ||
        m->nodes[m->output_node].op != CC_OP_OUTPUT)
        return cc_error_set(CC_ERR_ARG, "train: the model is empty or not finalized");
    if (max_b < 1 || max_h < 1 || max_w < 1)
        return cc_error_set(CC_ERR_ARG, "train: maximum batch %dx%dx%d must be >= 1", max_b, max_h,
                            max_w);
    if ((double)max_b * max_h * max_w > 1e9)
        return cc_error_set(CC_ERR_ARG, "train: maximum batch %dx%dx%d too large", max_b, max_h,
                            max_w);
    const int nn = m->nnodes;
    cc_train_net *n = cc_calloc3(1, sizeof *n, 1);
    if (!n)
        return cc_error_set(CC_ERR_NOMEM, "train: out of memory");
    n->m = m;
    n->nn = nn;
    n->max_b = max_b;
    n->max_h = max_h;
    n->max_w = max_w;
    n->live = cc_calloc3((size_t)nn, sizeof *n->live, 1);
    n->shape = cc_calloc3((size_t)nn, sizeof *n->shape, 1);
    n->cap = cc_calloc3((size_t)nn, sizeof *n->cap, 1);
    n->out = cc_calloc3((size_t)nn, sizeof *n->out, 1);
    n->aux = cc_calloc3((size_t)nn, sizeof *n->aux, 1);
    n->grad = cc_calloc3((size_t)nn, sizeof *n->grad, 1);
    n->gset = cc_calloc3((size_t)nn, sizeof *n->gset, 1);
    n->parr = cc_calloc3((size_t)nn * 2, sizeof *n->parr, 1);
    n->off_a = cc_calloc3((size_t)nn, sizeof *n->off_a, 1);
    n->off_b = cc_calloc3((size_t)nn, sizeof *n->off_b, 1);
    if (!n->live || !n->shape || !n->cap || !n->out || !n->aux || !n->grad || !n->gset ||
        !n->parr || !n->off_a || !n->off_b) {
        st = cc_error_set(CC_ERR_NOMEM, "train: out of memory");
        goto fail;
    }
    /* liveness (what the output depends on) */
    n->live[m->output_node] = 1;
    for (int i = m->output_node; i >= 0; i--)
        if (n->live[i])
            for (int k = 0; k < m->nodes[i].ninputs; k++) {
                const int in = m->nodes[i].inputs[k];
                if (in < 0 || in >= i) {
                    st = cc_error_set(CC_ERR_ARG, "train: node %d: bad input %d", i, in);
                    goto fail;
                }
                n->live[in] = 1;
            }
    for (int i = 0; i < nn; i++)
        if (n->live[i] && (st = check_node(m, i)) != CC_OK)
            goto fail;
    if (!n->live[0] || m->nodes[0].op != CC_OP_INPUT || m->input.nchannels != m->nodes[0].cout) {
        st = cc_error_set(CC_ERR_ARG, "train: node 0 must be the input node the output reads");
        goto fail;
    }
    if ((st = compute_shapes(m, n->live, max_b, max_h, max_w, n->shape)) != CC_OK)
        goto fail;
    for (int i = 0; i < nn; i++) {
        if (!n->live[i])
            continue;
        const cc_nn_node *nd = &m->nodes[i];
        n->cap[i] = numel(n->shape[i]);
        n->out[i] = falloc(n->cap[i]);
        n->grad[i] = falloc(n->cap[i]);
        if (!n->out[i] || !n->grad[i]) {
            st = CC_ERR_NOMEM;
            goto fail;
        }
        if (has_act(nd->op) && act_aux(nd->act) && !(n->aux[i] = falloc(n->cap[i]))) {
            st = CC_ERR_NOMEM;
            goto fail;
        }
    }
    n->rho_cap = n->cap[0];
    if (!(n->rho_grad = falloc(n->rho_cap))) {
        st = CC_ERR_NOMEM;
        goto fail;
    }
    /* parameters, canonical order */
    for (int i = 0; i < nn; i++) {
        cc_nn_node *nd = &m->nodes[i];
        n->off_a[i] = n->off_b[i] = SIZE_MAX;
        const size_t cin = (size_t)node_cin(m, nd), co = (size_t)nd->cout;
        if (nd->op == CC_OP_CONV2D || nd->op == CC_OP_CONV1D_TIME) {
            const size_t taps = nd->op == CC_OP_CONV2D ? (size_t)nd->kernel * (size_t)nd->kernel
                                                       : (size_t)nd->kernel;
            add_param(n, nd->weight, co * taps * cin, 1, &n->off_a[i]);
            add_param(n, nd->bias, co, 0, &n->off_b[i]);
        } else if (nd->op == CC_OP_AFFINE) {
            add_param(n, nd->scale, co, 0, &n->off_a[i]);
            add_param(n, nd->shift, co, 0, &n->off_b[i]);
        }
    }
    if (!(n->grads = falloc(n->nparams))) {
        st = CC_ERR_NOMEM;
        goto fail;
    }
    pthread_once(&gemm_once, gemm_select);
    *out = n;
    return CC_OK;
fail:
    cc_train_net_free(n);
    return st;
}

size_t cc_train_nparams(const cc_train_net *n)
{
    return n ? n->nparams : 0;
}

void cc_train_get_params(const cc_train_net *n, float *dst)
{
    size_t o = 0;
    for (int k = 0; k < n->nparr; k++) {
        memcpy(dst + o, n->parr[k].p, n->parr[k].n * sizeof(float));
        o += n->parr[k].n;
    }
}

void cc_train_set_params(cc_train_net *n, const float *src)
{
    size_t o = 0;
    for (int k = 0; k < n->nparr; k++) {
        memcpy(n->parr[k].p, src + o, n->parr[k].n * sizeof(float));
        o += n->parr[k].n;
    }
}

float *cc_train_grads(cc_train_net *n)
{
    return n->grads;
}

void cc_train_zero_grads(cc_train_net *n)
{
    memset(n->grads, 0, n->nparams * sizeof(float));
}

const float *cc_train_input_grad(const cc_train_net *n)
{
    return n && n->have_bwd ? n->rho_grad : NULL;
}

/* ------------------------------------------------------------------------- */
/* conv2d                                                                     */
/* ------------------------------------------------------------------------- */
static inline int reflect_idx(int i, int n)
{
    return i < 0 ? -i : (i >= n ? 2 * n - 2 - i : i);
}

/* Output row (t, oy) of a conv: cols[ox][(ky*k + kx)*cin + ci]. */
static void im2col_row(const float *x, const int *is, const cc_nn_node *nd, int t, int oy, int wo,
                       float *cols)
{
    const int H = is[1], W = is[2], cin = is[3], k = nd->kernel, s = nd->stride, p = k / 2;
    const size_t kc = (size_t)k * (size_t)k * (size_t)cin;
    for (int ox = 0; ox < wo; ox++) {
        float *d = cols + (size_t)ox * kc;
        for (int ky = 0; ky < k; ky++) {
            int iy = oy * s - p + ky;
            int yok = iy >= 0 && iy < H;
            if (!yok && nd->pad == CC_PAD_REFLECT) {
                iy = reflect_idx(iy, H);
                yok = 1;
            }
            for (int kx = 0; kx < k; kx++, d += cin) {
                int ix = ox * s - p + kx;
                int xok = ix >= 0 && ix < W;
                if (!xok && nd->pad == CC_PAD_REFLECT) {
                    ix = reflect_idx(ix, W);
                    xok = 1;
                }
                if (yok && xok)
                    memcpy(d, x + (((size_t)t * H + (size_t)iy) * W + (size_t)ix) * cin,
                           (size_t)cin * sizeof(float));
                else
                    memset(d, 0, (size_t)cin * sizeof(float));
            }
        }
    }
}

static void col2im_row_add(float *gx, const int *is, const cc_nn_node *nd, int t, int oy, int wo,
                           const float *cols)
{
    const int H = is[1], W = is[2], cin = is[3], k = nd->kernel, s = nd->stride, p = k / 2;
    const size_t kc = (size_t)k * (size_t)k * (size_t)cin;
    for (int ox = 0; ox < wo; ox++) {
        const float *d = cols + (size_t)ox * kc;
        for (int ky = 0; ky < k; ky++) {
            int iy = oy * s - p + ky;
            int yok = iy >= 0 && iy < H;
            if (!yok && nd->pad == CC_PAD_REFLECT) {
                iy = reflect_idx(iy, H);
                yok = 1;
            }
            for (int kx = 0; kx < k; kx++, d += cin) {
                int ix = ox * s - p + kx;
                int xok = ix >= 0 && ix < W;
                if (!xok && nd->pad == CC_PAD_REFLECT) {
                    ix = reflect_idx(ix, W);
                    xok = 1;
                }
                if (!(yok && xok))
                    continue;
                float *o = gx + (((size_t)t * H + (size_t)iy) * W + (size_t)ix) * cin;
                for (int c = 0; c < cin; c++)
                    o[c] += d[c];
            }
        }
    }
}

static int is_pointwise(const cc_nn_node *nd)
{
    return nd->kernel == 1 && nd->stride == 1;
}

static cc_status conv2d_fwd(cc_train_net *n, int i)
{
    const cc_nn_model *m = n->m;
    const cc_nn_node *nd = &m->nodes[i];
    const int *is = n->shape[nd->inputs[0]], *os = n->shape[i];
    const int cin = is[3], cout = nd->cout, k = nd->kernel;
    const size_t kc = (size_t)k * (size_t)k * (size_t)cin, ldo = rup16((size_t)cout);
    cc_status st;
    if ((st = grow(&n->wpack, &n->wpack_cap, kc * ldo)) != CC_OK ||
        (st = grow(&n->bpack, &n->bpack_cap, ldo)) != CC_OK)
        return st;
    float *wp = n->wpack, *bp = n->bpack;
    memset(wp, 0, kc * ldo * sizeof(float));
    memset(bp, 0, ldo * sizeof(float));
    for (int co = 0; co < cout; co++) {
        for (size_t e = 0; e < kc; e++)
            wp[e * ldo + (size_t)co] = nd->weight[(size_t)co * kc + e];
        if (nd->bias)
            bp[co] = nd->bias[co];
    }
    const float *x = n->out[nd->inputs[0]];
    float *y = n->out[i], *aux = n->aux[i];
    if (is_pointwise(nd)) {
        const size_t P = (size_t)os[0] * os[1] * os[2];
        const long nu = (long)((P + UNIT_PX - 1) / UNIT_PX);
#pragma omp parallel for schedule(static) if(par_worth((size_t)(nu), (size_t)UNIT_PX * (size_t)cout))
        for (long u = 0; u < nu; u++) {
            const size_t p0 = (size_t)u * UNIT_PX, np = P - p0 < UNIT_PX ? P - p0 : UNIT_PX;
            gemm_t g = {(int)np, cout, cin, x + p0 * cin, cin, 1, wp, (ptrdiff_t)ldo, bp,
                        y + p0 * cout, cout, 0};
            gemm(&g);
            act_fwd(nd->act, nd->alpha, y + p0 * cout, aux ? aux + p0 * cout : NULL,
                    np * (size_t)cout);
        }
        return CC_OK;
    }
    const int Ho = os[1], Wo = os[2];
    if ((st = ensure_scratch(n, (size_t)Wo * kc)) != CC_OK)
        return st;
    const long nrows = (long)os[0] * Ho;
#pragma omp parallel for schedule(static) num_threads(nthreads_max()) if(par_worth((size_t)(nrows), (size_t)Wo * kc))
    for (long r = 0; r < nrows; r++) {
        float *cols = thread_scratch(n);
        im2col_row(x, is, nd, (int)(r / Ho), (int)(r % Ho), Wo, cols);
        const size_t o = (size_t)r * Wo * cout;
        gemm_t g = {Wo, cout, (int)kc, cols, (ptrdiff_t)kc, 1, wp, (ptrdiff_t)ldo, bp, y + o, cout, 0};
        gemm(&g);
        act_fwd(nd->act, nd->alpha, y + o, aux ? aux + o : NULL, (size_t)Wo * cout);
    }
    return CC_OK;
}

/* Adds the chunk partials (nch x stride floats, first len used) in chunk order to dst. */
static void reduce_partials(const float *part, int nch, size_t stride, size_t len, float *dst)
{
    const long nb = (long)((len + 255) / 256);
#pragma omp parallel for schedule(static) if(par_worth((size_t)(nb), (size_t)256 * (size_t)nch))
    for (long b = 0; b < nb; b++) {
        const size_t e0 = (size_t)b * 256, e1 = len - e0 < 256 ? len : e0 + 256;
        for (size_t e = e0; e < e1; e++) {
            float s = part[e];
            for (int c = 1; c < nch; c++)
                s += part[(size_t)c * stride + e];
            dst[e] += s;
        }
    }
}

/* g: dL/dz of node i (activation already applied). gx: the input's gradient. */
static cc_status conv2d_bwd(cc_train_net *n, int i, float *g, float *gx, int gx_set)
{
    const cc_nn_model *m = n->m;
    const cc_nn_node *nd = &m->nodes[i];
    const int *is = n->shape[nd->inputs[0]], *os = n->shape[i];
    const int cin = is[3], cout = nd->cout, k = nd->kernel;
    const size_t kc = (size_t)k * (size_t)k * (size_t)cin, ldk = rup16(kc);
    const int pw = is_pointwise(nd);
    const float *x = n->out[nd->inputs[0]];
    const int Wo = os[2];
    const long nunits = pw ? (long)(((size_t)os[0] * os[1] * os[2] + UNIT_PX - 1) / UNIT_PX)
                           : (long)os[0] * os[1];
    const size_t P = (size_t)os[0] * os[1] * os[2];
    const int nch = nunits < NCHUNK_MAX ? (int)nunits : NCHUNK_MAX;
    const size_t pstride = (size_t)cout * ldk + rup16((size_t)cout);
    cc_status st;
    if ((st = grow(&n->wpack, &n->wpack_cap, (size_t)cout * ldk)) != CC_OK ||
        (st = grow(&n->partial, &n->partial_cap, (size_t)nch * pstride)) != CC_OK)
        return st;
    if (!pw && (st = ensure_scratch(n, (size_t)Wo * kc)) != CC_OK)
        return st;
    float *wp = n->wpack, *part = n->partial;
    memset(wp, 0, (size_t)cout * ldk * sizeof(float));
    for (int co = 0; co < cout; co++)
        memcpy(wp + (size_t)co * ldk, nd->weight + (size_t)co * kc, kc * sizeof(float));
    const int nt = nthreads_max(); /* <= scratch_nt when scratch is used */
    /* parameter gradients (and, pointwise, the input gradient) */
#pragma omp parallel for schedule(static) num_threads(nt) if(par_worth((size_t)(nch), (P / (size_t)nch + 1) * (size_t)cout))
    for (int c = 0; c < nch; c++) {
        const long u0 = (long)c * nunits / nch, u1 = (long)(c + 1) * nunits / nch;
        float *pc = part + (size_t)c * pstride, *pb = pc + (size_t)cout * ldk;
        memset(pb, 0, (size_t)cout * sizeof(float));
        for (long u = u0; u < u1; u++) {
            const float *dz, *bm;
            int np;
            ptrdiff_t ldb;
            if (pw) {
                const size_t p0 = (size_t)u * UNIT_PX;
                np = (int)(P - p0 < UNIT_PX ? P - p0 : UNIT_PX);
                /* activation derivative of this unit (fused: one pass less) */
                act_bwd(nd->act, nd->alpha, n->out[i] + p0 * cout,
                        n->aux[i] ? n->aux[i] + p0 * cout : NULL, g + p0 * cout,
                        (size_t)np * (size_t)cout);
                dz = g + p0 * cout;
                bm = x + p0 * cin;
                ldb = cin;
            } else {
                float *cols = thread_scratch(n);
                im2col_row(x, is, nd, (int)(u / os[1]), (int)(u % os[1]), Wo, cols);
                np = Wo;
                dz = g + (size_t)u * Wo * cout;
                bm = cols;
                ldb = (ptrdiff_t)kc;
            }
            gemm_t gw = {cout, (int)kc, np, dz, 1, cout, bm, ldb, NULL, pc, (ptrdiff_t)ldk, u > u0};
            gemm(&gw);
            for (int p = 0; p < np; p++)
                for (int co = 0; co < cout; co++)
                    pb[co] += dz[(size_t)p * cout + co];
            if (pw) {
                const size_t p0 = (size_t)u * UNIT_PX;
                gemm_t gi = {np, cin, cout, dz, cout, 1, wp, (ptrdiff_t)ldk, NULL, gx + p0 * cin,
                             cin, gx_set};
                gemm(&gi);
            }
        }
    }
    /* weights + bias: chunk partials summed in chunk order, one parallel region */
    {
        float *gw_dst = n->grads + n->off_a[i];
        float *gb_dst = n->off_b[i] != SIZE_MAX ? n->grads + n->off_b[i] : NULL;
        const size_t nw = (size_t)cout * kc, len = nw + (gb_dst ? (size_t)cout : 0);
        const long nb = (long)((len + 255) / 256);
#pragma omp parallel for schedule(static) if(par_worth((size_t)nb, (size_t)256 * (size_t)nch))
        for (long bk = 0; bk < nb; bk++) {
            const size_t e0 = (size_t)bk * 256, e1 = len - e0 < 256 ? len : e0 + 256;
            for (size_t e = e0; e < e1; e++) {
                const size_t src = e < nw ? (e / kc) * ldk + e % kc : (size_t)cout * ldk + (e - nw);
                float sum = part[src];
                for (int c = 1; c < nch; c++)
                    sum += part[(size_t)c * pstride + src];
                if (e < nw)
                    gw_dst[e] += sum;
                else
                    gb_dst[e - nw] += sum;
            }
        }
    }
    if (pw)
        return CC_OK;
    /* spatial input gradient: dcols = dz * W, scattered in 3 phases of rows */
    if (!gx_set)
        memset(gx, 0, numel(is) * sizeof(float));
    const int Ho = os[1];
    for (int ph = 0; ph < 3; ph++) {
        const int per = (Ho - ph + 2) / 3;
        if (per <= 0)
            continue;
        const long total = (long)os[0] * per;
#pragma omp parallel for schedule(static) num_threads(nt) if(par_worth((size_t)(total), (size_t)Wo * kc))
        for (long q = 0; q < total; q++) {
            const int t = (int)(q / per), oy = ph + 3 * (int)(q % per);
            float *dcols = thread_scratch(n);
            const float *dz = g + ((size_t)t * Ho + (size_t)oy) * Wo * cout;
            gemm_t gi = {Wo, (int)kc, cout, dz, cout, 1, wp, (ptrdiff_t)ldk, NULL, dcols,
                         (ptrdiff_t)kc, 0};
            gemm(&gi);
            col2im_row_add(gx, is, nd, t, oy, Wo, dcols);
        }
    }
    return CC_OK;
}

/* ------------------------------------------------------------------------- */
/* conv1d_time (along b)                                                       */
/* ------------------------------------------------------------------------- */
static void conv1d_fwd(cc_train_net *n, int i)
{
    const cc_nn_node *nd = &n->m->nodes[i];
    const int *is = n->shape[nd->inputs[0]];
    const int T = is[0], cin = is[3], cout = nd->cout, kt = nd->kernel, left = (kt - 1) / 2;
    const size_t hw = (size_t)is[1] * (size_t)is[2];
    const float *x = n->out[nd->inputs[0]];
    float *y = n->out[i];
    const long total = (long)T * (long)hw;
#pragma omp parallel for schedule(static) if(par_worth((size_t)(total), (size_t)cout * (size_t)cin * (size_t)kt))
    for (long e = 0; e < total; e++) {
        const int t = (int)(e / (long)hw);
        const size_t px = (size_t)(e % (long)hw);
        float *o = y + (size_t)e * cout;
        for (int co = 0; co < cout; co++) {
            float acc = nd->bias ? nd->bias[co] : 0.0f;
            for (int j = 0; j < kt; j++) {
                const int ts = t + j - left;
                if (ts < 0 || ts >= T)
                    continue;
                const float *xp = x + ((size_t)ts * hw + px) * cin;
                const float *w = nd->weight + ((size_t)co * kt + (size_t)j) * cin;
                for (int ci = 0; ci < cin; ci++)
                    acc += xp[ci] * w[ci];
            }
            o[co] = acc;
        }
    }
    act_fwd_par(nd->act, nd->alpha, y, n->aux[i], numel(n->shape[i]));
}

static void conv1d_bwd(cc_train_net *n, int i, const float *g, float *gx, int gx_set)
{
    const cc_nn_node *nd = &n->m->nodes[i];
    const int *is = n->shape[nd->inputs[0]];
    const int T = is[0], cin = is[3], cout = nd->cout, kt = nd->kernel, left = (kt - 1) / 2;
    const size_t hw = (size_t)is[1] * (size_t)is[2];
    const float *x = n->out[nd->inputs[0]];
    float *gw = n->grads + n->off_a[i];
    float *gb = n->off_b[i] != SIZE_MAX ? n->grads + n->off_b[i] : NULL;
    /* parameters: one output channel per iteration, fixed (t, px) order */
#pragma omp parallel for schedule(static) if(par_worth((size_t)(cout), (size_t)T * hw * (size_t)cin * (size_t)kt))
    for (int co = 0; co < cout; co++) {
        float *wrow = gw + (size_t)co * kt * cin;
        for (int j = 0; j < kt; j++)
            for (int ci = 0; ci < cin; ci++) {
                float s = 0.0f;
                for (int t = 0; t < T; t++) {
                    const int ts = t + j - left;
                    if (ts < 0 || ts >= T)
                        continue;
                    for (size_t px = 0; px < hw; px++)
                        s += g[((size_t)t * hw + px) * cout + co] * x[((size_t)ts * hw + px) * cin + ci];
                }
                wrow[(size_t)j * cin + ci] += s;
            }
        if (gb) {
            float s = 0.0f;
            for (size_t e = 0; e < (size_t)T * hw; e++)
                s += g[e * cout + co];
            gb[co] += s;
        }
    }
    const long total = (long)T * (long)hw;
#pragma omp parallel for schedule(static) if(par_worth((size_t)(total), (size_t)cout * (size_t)cin * (size_t)kt))
    for (long e = 0; e < total; e++) {
        const int ts = (int)(e / (long)hw);
        const size_t px = (size_t)(e % (long)hw);
        float *o = gx + (size_t)e * cin;
        for (int ci = 0; ci < cin; ci++) {
            float s = 0.0f;
            for (int j = 0; j < kt; j++) {
                const int t = ts - j + left;
                if (t < 0 || t >= T)
                    continue;
                const float *gz = g + ((size_t)t * hw + px) * cout;
                for (int co = 0; co < cout; co++)
                    s += gz[co] * nd->weight[((size_t)co * kt + (size_t)j) * cin + ci];
            }
            o[ci] = gx_set ? o[ci] + s : s;
        }
    }
}

/* ------------------------------------------------------------------------- */
/* other ops                                                                  */
/* ------------------------------------------------------------------------- */
static void pool_fwd(cc_train_net *n, int i)
{
    const cc_nn_node *nd = &n->m->nodes[i];
    const int *is = n->shape[nd->inputs[0]];
    const int T = is[0], H = is[1], W = is[2], C = is[3], Ho = H / 2, Wo = W / 2;
    const int is_max = nd->op == CC_OP_MAXPOOL2;
    const float *x = n->out[nd->inputs[0]];
    float *y = n->out[i];
    const long nrows = (long)T * Ho;
#pragma omp parallel for schedule(static) if(par_worth((size_t)(nrows), (size_t)W * (size_t)C))
    for (long row = 0; row < nrows; row++) {
        const int t = (int)(row / Ho), oy = (int)(row % Ho);
        const float *r0 = x + ((size_t)t * H + 2 * (size_t)oy) * W * C, *r1 = r0 + (size_t)W * C;
        float *o = y + (size_t)row * Wo * C;
        for (int ox = 0; ox < Wo; ox++)
            for (int c = 0; c < C; c++) {
                const size_t i0 = (2 * (size_t)ox) * C + c, i1 = i0 + C;
                const float a = r0[i0], b = r0[i1], d = r1[i0], e = r1[i1];
                float v;
                if (is_max) {
                    v = a;
                    if (b > v || isnan(b))
                        v = b;
                    if (d > v || isnan(d))
                        v = d;
                    if (e > v || isnan(e))
                        v = e;
                    if (isnan(a))
                        v = a;
                } else {
                    v = (((a + b) + d) + e) / 4.0f;
                }
                o[(size_t)ox * C + c] = v;
            }
    }
}

static void pool_bwd(cc_train_net *n, int i, const float *g, float *gx, int gx_set)
{
    const cc_nn_node *nd = &n->m->nodes[i];
    const int *is = n->shape[nd->inputs[0]];
    const int T = is[0], H = is[1], W = is[2], C = is[3], Ho = H / 2, Wo = W / 2;
    const int is_max = nd->op == CC_OP_MAXPOOL2;
    const float *x = n->out[nd->inputs[0]];
    const long nrows = (long)T * Ho;
#pragma omp parallel for schedule(static) if(par_worth((size_t)(nrows), (size_t)W * (size_t)C))
    for (long row = 0; row < nrows; row++) {
        const int t = (int)(row / Ho), oy = (int)(row % Ho);
        const size_t b0 = ((size_t)t * H + 2 * (size_t)oy) * W * C, b1 = b0 + (size_t)W * C;
        const float *go = g + (size_t)row * Wo * C;
        for (int ox = 0; ox < Wo; ox++)
            for (int c = 0; c < C; c++) {
                const size_t i0 = (2 * (size_t)ox) * C + c, i1 = i0 + C;
                const size_t idx[4] = {b0 + i0, b0 + i1, b1 + i0, b1 + i1};
                const float gv = go[(size_t)ox * C + c];
                float add[4];
                if (is_max) {
                    /* the element the forward selected (first maximum, NaN wins) */
                    int s = 0;
                    float v = x[idx[0]];
                    for (int q = 1; q < 4; q++)
                        if (x[idx[q]] > v || isnan(x[idx[q]])) {
                            v = x[idx[q]];
                            s = q;
                        }
                    if (isnan(x[idx[0]]))
                        s = 0;
                    for (int q = 0; q < 4; q++)
                        add[q] = q == s ? gv : 0.0f;
                } else {
                    for (int q = 0; q < 4; q++)
                        add[q] = gv * 0.25f;
                }
                for (int q = 0; q < 4; q++)
                    gx[idx[q]] = gx_set ? gx[idx[q]] + add[q] : add[q];
            }
    }
}

/* PyTorch area_pixel_compute_source_index, align_corners=False, scale 1/2
 * (same as the runtime). */
static void bilinear_index(int dst, int in_size, int *i0, int *i1, float *l0, float *l1)
{
    float src = 0.5f * ((float)dst + 0.5f) - 0.5f;
    if (src < 0.0f)
        src = 0.0f;
    int a = (int)src;
    *i0 = a;
    *i1 = a + (a < in_size - 1 ? 1 : 0);
    *l1 = src - (float)a;
    *l0 = 1.0f - *l1;
}

static void upsample_fwd(cc_train_net *n, int i)
{
    const cc_nn_node *nd = &n->m->nodes[i];
    const int *is = n->shape[nd->inputs[0]];
    const int T = is[0], H = is[1], W = is[2], C = is[3], Ho = 2 * H, Wo = 2 * W;
    const int bil = nd->op == CC_OP_UPSAMPLE2_BILINEAR;
    const float *x = n->out[nd->inputs[0]];
    float *y = n->out[i];
    const long nrows = (long)T * Ho;
#pragma omp parallel for schedule(static) if(par_worth((size_t)(nrows), (size_t)W * (size_t)C))
    for (long row = 0; row < nrows; row++) {
        const int t = (int)(row / Ho), oy = (int)(row % Ho);
        const float *base = x + (size_t)t * H * W * C;
        float *o = y + (size_t)row * Wo * C;
        if (!bil) {
            const float *ir = base + (size_t)(oy / 2) * W * C;
            for (int ox = 0; ox < Wo; ox++)
                memcpy(o + (size_t)ox * C, ir + (size_t)(ox / 2) * C, (size_t)C * sizeof(float));
            continue;
        }
        int y0, y1, x0, x1;
        float ly0, ly1, lx0, lx1;
        bilinear_index(oy, H, &y0, &y1, &ly0, &ly1);
        const float *ra = base + (size_t)y0 * W * C, *rb = base + (size_t)y1 * W * C;
        for (int ox = 0; ox < Wo; ox++) {
            bilinear_index(ox, W, &x0, &x1, &lx0, &lx1);
            const float *a0 = ra + (size_t)x0 * C, *a1 = ra + (size_t)x1 * C;
            const float *b0 = rb + (size_t)x0 * C, *b1 = rb + (size_t)x1 * C;
            float *op = o + (size_t)ox * C;
            for (int c = 0; c < C; c++)
                op[c] = ly0 * (lx0 * a0[c] + lx1 * a1[c]) + ly1 * (lx0 * b0[c] + lx1 * b1[c]);
        }
    }
}

/* Weight of input index iv in output index o (bilinear, one axis). */
static float bil_w(int o, int in_size, int iv)
{
    int i0, i1;
    float l0, l1;
    bilinear_index(o, in_size, &i0, &i1, &l0, &l1);
    return (i0 == iv ? l0 : 0.0f) + (i1 == iv ? l1 : 0.0f);
}

/* Gather form (each input row by one thread, fixed order): deterministic. */
static void upsample_bwd(cc_train_net *n, int i, const float *g, float *gx, int gx_set)
{
    const cc_nn_node *nd = &n->m->nodes[i];
    const int *is = n->shape[nd->inputs[0]];
    const int T = is[0], H = is[1], W = is[2], C = is[3], Ho = 2 * H, Wo = 2 * W;
    const int bil = nd->op == CC_OP_UPSAMPLE2_BILINEAR;
    const long nrows = (long)T * H;
#pragma omp parallel for schedule(static) if(par_worth((size_t)(nrows), (size_t)W * (size_t)C))
    for (long row = 0; row < nrows; row++) {
        const int t = (int)(row / H), iy = (int)(row % H);
        const float *gb = g + (size_t)t * Ho * Wo * C;
        float *o = gx + (size_t)row * W * C;
        for (int ix = 0; ix < W; ix++)
            for (int c = 0; c < C; c++) {
                float s = 0.0f;
                if (!bil) {
                    for (int dy = 0; dy < 2; dy++)
                        for (int dx = 0; dx < 2; dx++)
                            s += gb[((size_t)(2 * iy + dy) * Wo + (size_t)(2 * ix + dx)) * C + c];
                } else {
                    const int oy0 = 2 * iy - 2 > 0 ? 2 * iy - 2 : 0;
                    const int oy1 = 2 * iy + 2 < Ho - 1 ? 2 * iy + 2 : Ho - 1;
                    const int ox0 = 2 * ix - 2 > 0 ? 2 * ix - 2 : 0;
                    const int ox1 = 2 * ix + 2 < Wo - 1 ? 2 * ix + 2 : Wo - 1;
                    for (int oy = oy0; oy <= oy1; oy++) {
                        const float wy = bil_w(oy, H, iy);
                        if (wy == 0.0f)
                            continue;
                        for (int ox = ox0; ox <= ox1; ox++) {
                            const float wx = bil_w(ox, W, ix);
                            if (wx != 0.0f)
                                s += wy * wx * gb[((size_t)oy * Wo + (size_t)ox) * C + c];
                        }
                    }
                }
                o[(size_t)ix * C + c] = gx_set ? o[(size_t)ix * C + c] + s : s;
            }
    }
}

/* ------------------------------------------------------------------------- */
/* forward                                                                    */
/* ------------------------------------------------------------------------- */
cc_status cc_train_forward(cc_train_net *n, int b, int h, int w, const float *rho, const float **out)
{
    if (!n || !rho || !out)
        return cc_error_set(CC_ERR_ARG, "train forward: NULL argument");
    cc_nn_model *m = n->m;
    n->have_fwd = n->have_bwd = 0;
    if (b < 1 || h < 1 || w < 1)
        return cc_error_set(CC_ERR_ARG, "train forward: batch %dx%dx%d must be >= 1", b, h, w);
    if (h % m->size_multiple || w % m->size_multiple)
        return cc_error_set(CC_ERR_ARG,
                            "train forward: H, W (%dx%d) must be multiples of %d (model pooling)",
                            h, w, m->size_multiple);
    cc_status st = compute_shapes(m, n->live, b, h, w, n->shape);
    if (st != CC_OK)
        return st;
    for (int i = 0; i < n->nn; i++)
        if (n->live[i] && numel(n->shape[i]) > n->cap[i])
            return cc_error_set(CC_ERR_ARG,
                                "train forward: batch %dx%dx%d larger than the maximum %dx%dx%d "
                                "given to cc_train_net_create (node '%s' needs %zu floats, "
                                "room for %zu)",
                                b, h, w, n->max_b, n->max_h, n->max_w, m->nodes[i].name,
                                numel(n->shape[i]), n->cap[i]);
    for (int i = 0; i < n->nn; i++) {
        if (!n->live[i])
            continue;
        const cc_nn_node *nd = &m->nodes[i];
        const size_t e = numel(n->shape[i]);
        float *y = n->out[i];
        const float *x = nd->ninputs > 0 ? n->out[nd->inputs[0]] : NULL;
        const int C = n->shape[i][3];
        const size_t npix = e / (size_t)C;
        switch (nd->op) {
        case CC_OP_INPUT: {
            const float *mean = m->input.mean, *sd = m->input.std;
#pragma omp parallel for schedule(static) if(par_worth((size_t)(npix), (size_t)C))
            for (size_t p = 0; p < npix; p++)
                for (int c = 0; c < C; c++)
                    y[p * C + c] = (rho[p * C + c] - mean[c]) / sd[c];
            break;
        }
        case CC_OP_CONV2D:
            if ((st = conv2d_fwd(n, i)) != CC_OK)
                return st;
            break;
        case CC_OP_CONV1D_TIME: conv1d_fwd(n, i); break;
        case CC_OP_AFFINE:
#pragma omp parallel for schedule(static) if(par_worth((size_t)(npix), (size_t)C))
            for (size_t p = 0; p < npix; p++)
                for (int c = 0; c < C; c++) {
                    float v = x[p * C + c];
                    if (nd->scale)
                        v *= nd->scale[c];
                    if (nd->shift)
                        v += nd->shift[c];
                    y[p * C + c] = v;
                }
            act_fwd_par(nd->act, nd->alpha, y, n->aux[i], e);
            break;
        case CC_OP_ACT:
            memcpy(y, x, e * sizeof(float));
            act_fwd_par(nd->act, nd->alpha, y, n->aux[i], e);
            break;
        case CC_OP_ADD: {
            const float *x2 = n->out[nd->inputs[1]];
            for (size_t k = 0; k < e; k++)
                y[k] = x[k] + x2[k];
            act_fwd_par(nd->act, nd->alpha, y, n->aux[i], e);
            break;
        }
        case CC_OP_CONCAT: {
            int off = 0;
            for (int k = 0; k < nd->ninputs; k++) {
                const int ck = m->nodes[nd->inputs[k]].cout;
                const float *xk = n->out[nd->inputs[k]];
                for (size_t p = 0; p < npix; p++)
                    memcpy(y + p * C + off, xk + p * ck, (size_t)ck * sizeof(float));
                off += ck;
            }
            break;
        }
        case CC_OP_AVGPOOL2:
        case CC_OP_MAXPOOL2: pool_fwd(n, i); break;
        case CC_OP_UPSAMPLE2_NEAREST:
        case CC_OP_UPSAMPLE2_BILINEAR: upsample_fwd(n, i); break;
        case CC_OP_OUTPUT: {
            const int nin = m->input.nchannels;
#pragma omp parallel for schedule(static) if(par_worth((size_t)(npix), (size_t)C))
            for (size_t p = 0; p < npix; p++)
                for (int c = 0; c < C; c++) {
                    float v = x[p * C + c];
                    if (nd->scale)
                        v *= nd->scale[c];
                    if (nd->shift)
                        v += nd->shift[c];
                    const int rc = nd->residual_channel[c];
                    if (rc >= 0)
                        v += rho[p * nin + rc];
                    y[p * C + c] = v;
                }
            break;
        }
        default:
            return cc_error_set(CC_ERR_UNSUPPORTED, "train: node '%s' (%s): no forward pass",
                                nd->name, cc_op_name(nd->op));
        }
    }
    n->b = b;
    n->h = h;
    n->w = w;
    n->have_fwd = 1;
    *out = n->out[m->output_node];
    return CC_OK;
}

/* ------------------------------------------------------------------------- */
/* backward                                                                   */
/* ------------------------------------------------------------------------- */

/* Adds (or writes, first time) src into node in's gradient. */
static void grad_add(cc_train_net *n, int in, const float *src, size_t e)
{
    float *d = n->grad[in];
    if (n->gset[in]) {
        for (size_t k = 0; k < e; k++)
            d[k] += src[k];
    } else {
        memcpy(d, src, e * sizeof(float));
        n->gset[in] = 1;
    }
}

static cc_status affine_bwd(cc_train_net *n, int i, const float *g)
{
    const cc_nn_node *nd = &n->m->nodes[i];
    const int C = nd->cout;
    const size_t P = numel(n->shape[i]) / (size_t)C;
    const float *x = n->out[nd->inputs[0]];
    const long nunits = (long)((P + UNIT_PX - 1) / UNIT_PX);
    const int nch = nunits < NCHUNK_MAX ? (int)nunits : NCHUNK_MAX;
    const size_t ps = 2 * rup16((size_t)C);
    if (grow(&n->partial, &n->partial_cap, (size_t)nch * ps) != CC_OK)
        return CC_ERR_NOMEM;
    float *part = n->partial;
#pragma omp parallel for schedule(static) if(par_worth((size_t)(nch), (P / (size_t)nch + 1) * (size_t)C))
    for (int c = 0; c < nch; c++) {
        const size_t p0 = (size_t)((long)c * nunits / nch) * UNIT_PX;
        size_t p1 = (size_t)((long)(c + 1) * nunits / nch) * UNIT_PX;
        if (p1 > P)
            p1 = P;
        float *ps_ = part + (size_t)c * ps, *pt = ps_ + ps / 2;
        memset(ps_, 0, ps * sizeof(float));
        for (size_t p = p0; p < p1; p++)
            for (int k = 0; k < C; k++) {
                ps_[k] += g[p * C + k] * x[p * C + k];
                pt[k] += g[p * C + k];
            }
    }
    if (n->off_a[i] != SIZE_MAX)
        reduce_partials(part, nch, ps, (size_t)C, n->grads + n->off_a[i]);
    if (n->off_b[i] != SIZE_MAX)
        reduce_partials(part + ps / 2, nch, ps, (size_t)C, n->grads + n->off_b[i]);
    return CC_OK;
}

cc_status cc_train_backward(cc_train_net *n, const float *dout)
{
    if (!n || !dout)
        return cc_error_set(CC_ERR_ARG, "train backward: NULL argument");
    if (!n->have_fwd)
        return cc_error_set(CC_ERR_ARG, "train backward: no forward pass to differentiate");
    cc_nn_model *m = n->m;
    cc_status st;
    memset(n->gset, 0, (size_t)n->nn * sizeof *n->gset);
    const size_t nrho = numel(n->shape[0]);
    memset(n->rho_grad, 0, nrho * sizeof(float));
    for (int i = n->nn - 1; i >= 0; i--) {
        if (!n->live[i])
            continue;
        const cc_nn_node *nd = &m->nodes[i];
        const size_t e = numel(n->shape[i]);
        const int C = n->shape[i][3];
        const size_t npix = e / (size_t)C;
        float *g = n->grad[i];
        if (i == m->output_node) {
            /* OUTPUT: d/dx = dout*scale; residual: d/drho += dout */
            const int in = nd->inputs[0], nin = m->input.nchannels;
            float *gx = n->grad[in];
            const int set = n->gset[in];
            for (size_t p = 0; p < npix; p++)
                for (int c = 0; c < C; c++) {
                    const float d = dout[p * C + c];
                    const float v = nd->scale ? d * nd->scale[c] : d;
                    gx[p * C + c] = set ? gx[p * C + c] + v : v;
                    const int rc = nd->residual_channel[c];
                    if (rc >= 0)
                        n->rho_grad[p * nin + rc] += d;
                }
            n->gset[in] = 1;
            continue;
        }
        if (!n->gset[i]) /* cannot happen for a live node, but stay defined */
            memset(g, 0, e * sizeof(float));
        if (has_act(nd->op) && !(nd->op == CC_OP_CONV2D && is_pointwise(nd)))
            act_bwd_par(nd->act, nd->alpha, n->out[i], n->aux[i], g, e);
        const int in = nd->ninputs > 0 ? nd->inputs[0] : -1;
        switch (nd->op) {
        case CC_OP_INPUT: {
            const float *sd = m->input.std;
            for (size_t p = 0; p < npix; p++)
                for (int c = 0; c < C; c++)
                    n->rho_grad[p * C + c] += g[p * C + c] / sd[c];
            break;
        }
        case CC_OP_CONV2D:
            if ((st = conv2d_bwd(n, i, g, n->grad[in], n->gset[in])) != CC_OK)
                return st;
            n->gset[in] = 1;
            break;
        case CC_OP_CONV1D_TIME:
            conv1d_bwd(n, i, g, n->grad[in], n->gset[in]);
            n->gset[in] = 1;
            break;
        case CC_OP_AFFINE:
            if ((st = affine_bwd(n, i, g)) != CC_OK)
                return st;
            if (nd->scale) {
                float *gx = n->grad[in];
                const int set = n->gset[in];
#pragma omp parallel for schedule(static) if(par_worth((size_t)(npix), (size_t)C))
                for (size_t p = 0; p < npix; p++)
                    for (int c = 0; c < C; c++) {
                        const float v = g[p * C + c] * nd->scale[c];
                        gx[p * C + c] = set ? gx[p * C + c] + v : v;
                    }
                n->gset[in] = 1;
            } else {
                grad_add(n, in, g, e);
            }
            break;
        case CC_OP_ACT: grad_add(n, in, g, e); break;
        case CC_OP_ADD:
            grad_add(n, nd->inputs[0], g, e);
            grad_add(n, nd->inputs[1], g, e);
            break;
        case CC_OP_CONCAT: {
            int off = 0;
            for (int k = 0; k < nd->ninputs; k++) {
                const int ik = nd->inputs[k], ck = m->nodes[ik].cout;
                float *gk = n->grad[ik];
                const int set = n->gset[ik];
                for (size_t p = 0; p < npix; p++)
                    for (int c = 0; c < ck; c++)
                        gk[p * ck + c] = set ? gk[p * ck + c] + g[p * C + off + c]
                                             : g[p * C + off + c];
                n->gset[ik] = 1;
                off += ck;
            }
            break;
        }
        case CC_OP_AVGPOOL2:
        case CC_OP_MAXPOOL2:
            pool_bwd(n, i, g, n->grad[in], n->gset[in]);
            n->gset[in] = 1;
            break;
        case CC_OP_UPSAMPLE2_NEAREST:
        case CC_OP_UPSAMPLE2_BILINEAR:
            upsample_bwd(n, i, g, n->grad[in], n->gset[in]);
            n->gset[in] = 1;
            break;
        default:
            return cc_error_set(CC_ERR_UNSUPPORTED, "train: node '%s' (%s): no backward pass",
                                nd->name, cc_op_name(nd->op));
        }
    }
    n->have_bwd = 1;
    return CC_OK;
}

/* ------------------------------------------------------------------------- */
/* losses, optimiser, schedule, init                                          */
/* ------------------------------------------------------------------------- */
double cc_train_loss(cc_loss_kind kind, double delta, size_t n, const float *y, const float *t,
                     const float *w, float *grad)
{
    double sw = 0.0, sl = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double wi = w ? (double)w[i] : 1.0;
        sw += wi;
        if (wi == 0.0)
            continue;
        const double r = (double)y[i] - (double)t[i];
        double f;
        switch (kind) {
        case CC_LOSS_L1: f = fabs(r); break;
        case CC_LOSS_HUBER: f = fabs(r) <= delta ? 0.5 * r * r : delta * (fabs(r) - 0.5 * delta); break;
        default: f = r * r; break;
        }
        sl += wi * f;
    }
    if (!(sw > 0.0)) {
        if (grad)
            memset(grad, 0, n * sizeof(float));
        return 0.0;
    }
    if (grad)
        for (size_t i = 0; i < n; i++) {
            const double wi = w ? (double)w[i] : 1.0;
            const double r = (double)y[i] - (double)t[i];
            double d;
            switch (kind) {
            case CC_LOSS_L1: d = r > 0.0 ? 1.0 : (r < 0.0 ? -1.0 : 0.0); break;
            case CC_LOSS_HUBER: d = fabs(r) <= delta ? r : (r > 0.0 ? delta : -delta); break;
            default: d = 2.0 * r; break;
            }
            grad[i] = wi == 0.0 ? 0.0f : (float)(wi * d / sw);
        }
    return sl / sw;
}

void cc_adamw_options_init(cc_adamw_options *o)
{
    o->lr = 1e-3;
    o->beta1 = 0.9;
    o->beta2 = 0.999;
    o->eps = 1e-8;
    o->weight_decay = 0.0;
}

cc_status cc_adamw_init(cc_adamw_state *s, size_t n)
{
    memset(s, 0, sizeof *s);
    s->m = cc_calloc3(n ? n : 1, sizeof(float), 1);
    s->v = cc_calloc3(n ? n : 1, sizeof(float), 1);
    if (!s->m || !s->v) {
        cc_adamw_free(s);
        return cc_error_set(CC_ERR_NOMEM, "adamw: out of memory (%zu parameters)", n);
    }
    s->n = n;
    return CC_OK;
}

void cc_adamw_free(cc_adamw_state *s)
{
    if (!s)
        return;
    free(s->m);
    free(s->v);
    s->m = s->v = NULL;
    s->n = 0;
    s->step = 0;
}

cc_status cc_train_adamw_step(cc_train_net *n, cc_adamw_state *s, const cc_adamw_options *o,
                              const float *g)
{
    if (!n || !s || !o || !g || !s->m || !s->v)
        return cc_error_set(CC_ERR_ARG, "adamw: NULL argument");
    if (s->n != n->nparams)
        return cc_error_set(CC_ERR_ARG, "adamw: state has %zu parameters, the net %zu", s->n,
                            n->nparams);
    s->step++;
    const double b1 = o->beta1, b2 = o->beta2, lr = o->lr;
    const double bc1 = 1.0 - pow(b1, (double)s->step), bc2 = 1.0 - pow(b2, (double)s->step);
    const double step_size = lr / bc1, sbc2 = sqrt(bc2);
    const double decay = 1.0 - lr * o->weight_decay;
    size_t off = 0;
    for (int k = 0; k < n->nparr; k++) {
        float *p = n->parr[k].p;
        const int dec = n->parr[k].decay && o->weight_decay != 0.0;
        for (size_t j = 0; j < n->parr[k].n; j++) {
            const size_t q = off + j;
            const double gj = g[q];
            double pj = p[j];
            if (dec)
                pj *= decay;
            const double mj = b1 * (double)s->m[q] + (1.0 - b1) * gj;
            const double vj = b2 * (double)s->v[q] + (1.0 - b2) * gj * gj;
            s->m[q] = (float)mj;
            s->v[q] = (float)vj;
            pj -= step_size * mj / (sqrt(vj) / sbc2 + o->eps);
            p[j] = (float)pj;
        }
        off += n->parr[k].n;
    }
    return CC_OK;
}

double cc_train_lr(long step, long total, long warmup, double lr_max, double lr_min)
{
    if (step < 0)
        step = 0;
    if (warmup > 0 && step < warmup)
        return lr_max * (double)step / (double)warmup;
    if (total <= warmup || step >= total)
        return step >= total ? lr_min : lr_max;
    const double t = (double)(step - warmup) / (double)(total - warmup);
    return lr_min + 0.5 * (lr_max - lr_min) * (1.0 + cos(3.14159265358979323846 * t));
}

/* splitmix64 (Steele, Lea, Flood 2014). */
static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

void cc_train_init_params(cc_nn_model *m, unsigned long long seed)
{
    uint64_t s = (uint64_t)seed;
    for (int i = 0; i < m->nnodes; i++) {
        cc_nn_node *nd = &m->nodes[i];
        const size_t cin = (size_t)node_cin(m, nd), co = (size_t)nd->cout;
        if (nd->op == CC_OP_CONV2D || nd->op == CC_OP_CONV1D_TIME) {
            const size_t taps = nd->op == CC_OP_CONV2D ? (size_t)nd->kernel * (size_t)nd->kernel
                                                       : (size_t)nd->kernel;
            const size_t fan_in = taps * cin, nw = co * fan_in;
            const double bound = sqrt(6.0 / (double)(fan_in ? fan_in : 1));
            if (nd->weight)
                for (size_t k = 0; k < nw; k++) {
                    /* uniform in [-bound, bound): top 53 bits */
                    const double u = (double)(splitmix64(&s) >> 11) * 0x1.0p-53;
                    nd->weight[k] = (float)((2.0 * u - 1.0) * bound);
                }
            if (nd->bias)
                memset(nd->bias, 0, co * sizeof(float));
        } else if (nd->op == CC_OP_AFFINE) {
            for (size_t k = 0; k < co; k++) {
                if (nd->scale)
                    nd->scale[k] = 1.0f;
                if (nd->shift)
                    nd->shift[k] = 0.0f;
            }
        }
    }
}
