/* clearcube: the CPU backend's internals shared by its files (internal):
 * kernels/cpu/ref.c (run context, per-pixel and conv groups, the backend and
 * the unfused run of training), kernels/cpu/ref_time.c (the CONV1D_TIME
 * group), kernels/cpu/ops.c (the other ops). The micro-kernel table is
 * kernels/cpu/cpu-impl.h.
 *
 * Threading: every parallel loop has a fixed decomposition that does not
 * depend on the thread count (pixel tiles of CPU_TILE pixels from pixel 0,
 * output rows), and each output element is computed by one thread in one
 * fixed order, so results are bit-identical for any number of threads. */
#ifndef CC_KERNELS_CPU_REF_IMPL_H
#define CC_KERNELS_CPU_REF_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "kernels/backend-impl.h"
#include "kernels/cpu/cpu-impl.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CPU_TILE 64 /* pixels per tile of a fused per-pixel group */

/* One run of a plan. */
typedef struct {
    const cc_nn_model *m;
    const cc_nn_plan *p;
    const cc_cpu_kernels *k;
    cc_cpu_conv *conv;  /* [nnodes]: packed conv2d layers (w == NULL elsewhere) */
    float **slot;       /* [nslots] */
    const uint16_t *dn;
    const float *rho;   /* training (cc_nn_cpu_run_unfused): the input reflectance
                           instead of dn (no nodata)                              */
    void *out;
    int out_float;
    int nthreads;
} cc_cpu_run;

int cc_cpu_max_threads(void);
int cc_cpu_thread_id(void);
/* CC_CPU_ALIGN-aligned floats (free()), or NULL with the error set. */
float *cc_cpu_aligned_floats(size_t n);

static inline float *cc_cpu_node_tensor(const cc_cpu_run *r, int node)
{
    int s = r->p->node_slot[node];
    CC_ASSERT(s >= 0);
    return r->slot[s];
}

/* ---- per-pixel groups (ref.c) ---- */
int cc_cpu_group_max_channels(const cc_nn_model *m, const cc_nn_group *g);
/* One tile of np pixels (global pixel index p0) through the per-pixel chain g:
 * src: the tile's input activations (NULL when g reads DN); bufs: two per-thread
 * buffers of CPU_TILE x cc_cpu_group_max_channels floats; dst: where the tile's
 * result goes (np x result channels; NULL when g writes the caller's output). */
void cc_cpu_pixel_tile(const cc_cpu_run *r, const cc_nn_group *g, size_t p0, size_t np, const float *src,
                       float *const bufs[2], float *dst);
cc_status cc_cpu_run_pixel_group(cc_cpu_run *r, const cc_nn_group *g);

/* ---- CONV1D_TIME (ref_time.c) ---- */
typedef struct {
    const cc_nn_group *pre;  /* fused per-pixel group producing the conv input, or NULL */
    const cc_nn_group *post; /* fused per-pixel group reading the conv result, or NULL  */
} cc_cpu_time_chain;
cc_status cc_cpu_run_time_group(cc_cpu_run *r, const cc_nn_group *g, const cc_cpu_time_chain *tc);

/* ---- other ops (ops.c) ---- */
/* Per-pixel ops applied in place to np pixels of c channels. */
void cc_cpu_apply_affine(const cc_nn_node *n, size_t np, int c, float *x);
void cc_cpu_apply_act(const cc_nn_node *n, size_t np, int c, float *x);
/* y[i] = act(a[i] + b[i]) for the ADD node n (fused or not). */
void cc_cpu_add_act(const cc_nn_node *n, const float *a, const float *b, float *y, size_t e);
void cc_cpu_run_add(const cc_cpu_run *r, const cc_nn_node *n, const float *a, const float *b, float *y,
                    size_t e);
void cc_cpu_run_concat(const cc_cpu_run *r, const cc_nn_node *n, const float *const *in, const int *cins,
                       size_t npix, float *y);
/* 2x2 pools and x2 upsamplings of the (T, H, W, C) tensor x of shape is. */
void cc_cpu_run_pool(const cc_cpu_run *r, const cc_nn_node *n, const int *is, const float *x, float *y);
void cc_cpu_run_upsample(const cc_cpu_run *r, const cc_nn_node *n, const int *is, const float *x,
                         float *y);

#ifdef __cplusplus
}
#endif
#endif
