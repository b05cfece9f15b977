/* clearcube: training internals shared by the files of kernels/train/ (internal): the
 * net, the GEMM of the backward pass (gemm.c), the backward ops (backward.c).
 * See kernels/train/train.h and the layout of the work in train.c. */
#ifndef CC_KERNELS_TRAIN_TRAIN_IMPL_H
#define CC_KERNELS_TRAIN_TRAIN_IMPL_H

#include <stddef.h>
#include <stdint.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/error.h"
#include "kernels/cuda/train_cuda.h"
#include "kernels/nn.h"
#include "kernels/train/train.h"

#define UNIT_PX 256     /* pixels per unit of per-pixel work (fixed: thread independent) */
#define NCHUNK_MAX 32   /* chunks of the parameter-gradient reduction                  */
#define SLACK 16        /* floats after every buffer (GEMM loads of 16-column panels)  */
#define MR 6
#define NR 16
#define EW_CHUNK 16384  /* elements per chunk of an elementwise loop                  */

static inline size_t rup16(size_t n)
{
    return (n + 15) / 16 * 16;
}

static inline int nthreads_max(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static inline int thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* Parallelise a loop only when it is worth a fork/join (count iterations of
 * about `per` units of work each): tiny tensors run on the calling thread.
 * The decomposition, hence every result, does not depend on this. */
#define PAR_MIN_WORK 65536
static inline int par_worth(size_t count, size_t per)
{
    return count > 1 && count * per >= PAR_MIN_WORK;
}

static inline size_t numel(const int *s)
{
    return (size_t)s[0] * (size_t)s[1] * (size_t)s[2] * (size_t)s[3];
}

static inline int node_cin(const cc_nn_model *m, const cc_nn_node *nd)
{
    return nd->ninputs > 0 ? m->nodes[nd->inputs[0]].cout : 0;
}

static inline int is_pointwise(const cc_nn_node *nd)
{
    return nd->kernel == 1 && nd->stride == 1;
}

/* ---- the net ---- */
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
    float **out;          /* [nn] every live node's output (post-activation) tensor    */
    float **aux;          /* [nn] z, the value before the activation, of SiLU and
                             LeakyReLU nodes (their backward needs it), else NULL    */
    float **grad;         /* [nn] dL/dout                                             */
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
    /* scratch of the backward ops (grown on demand) */
    float *wpack, *partial, *scratch;
    size_t wpack_cap, partial_cap, scratch_cap; /* scratch: per thread */
    int scratch_nt;
    /* the GPU (cc_train_net_use_cuda): the conv2d backward GEMMs on cuBLAS */
    cc_cuda_train *gpu;
    float *hbuf;          /* host staging of the GPU path (im2col columns, gradients) */
    size_t hbuf_cap;
    char engine[512];
};

/* n + SLACK zeroed floats, or NULL with the error set. */
float *cc_train_falloc(size_t n);

/* ---- the GEMM (gemm.c): C (=|+=) bias + A*B, see there ----
 * One argument type for the CPU and the GPU GEMM (kernels/cuda/train_cuda.h):
 * M, N, K; A with strides ai, ak; B with ldb; bias (NULL: 0); C with ldc; accum. */
typedef cc_cuda_gemm_args gemm_t;
void cc_train_gemm(const gemm_t *g);
/* Chooses the GEMM micro-kernel once (CLEARCUBE_SIMD=scalar forces the portable one). */
void cc_train_gemm_init(void);

/* *p grown to n (+ SLACK) zeroed floats when smaller (contents not kept). */
cc_status cc_train_grow(float **p, size_t *cap, size_t n);
/* im2col of output row (t, oy) of conv2d node nd on x (shape is):
 * cols[ox][(ky*k + kx)*cin + ci]; x NULL: its transpose, cols added into gx (col2im). */
void cc_train_row_columns(const float *x, float *gx, const int *is, const cc_nn_node *nd, int t,
                          int oy, int wo, float *cols);
/* cc_train_conv2d_bwd on the net's GPU (backward_gpu.c): the same gradients,
 * computed by cuBLAS (to a tolerance, docs/gpu.md); for a pointwise conv it
 * applies the activation derivative to g itself, like the CPU path. */
cc_status cc_train_conv2d_bwd_gpu(cc_train_net *n, int i, float *g, float *gx, int gx_set);

/* ---- backward ops (backward.c): g is dL/dz of node i (its activation's
 * derivative already applied, except for a pointwise conv2d, which applies it
 * itself), gx the gradient of its input, written (gx_set 0) or added to. ---- */
void cc_train_act_bwd(cc_act a, float alpha, const float *y, const float *z, float *g, size_t n);
void cc_train_act_bwd_par(cc_act a, float alpha, const float *y, const float *z, float *g, size_t n);
cc_status cc_train_conv2d_bwd(cc_train_net *n, int i, float *g, float *gx, int gx_set);
void cc_train_conv1d_bwd(cc_train_net *n, int i, const float *g, float *gx, int gx_set);
void cc_train_pool_bwd(cc_train_net *n, int i, const float *g, float *gx, int gx_set);
void cc_train_upsample_bwd(cc_train_net *n, int i, const float *g, float *gx, int gx_set);
/* The scale/shift gradients of AFFINE node i (its input gradient: train.c). */
cc_status cc_train_affine_bwd(cc_train_net *n, int i, const float *g);

#endif
