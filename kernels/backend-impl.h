/* clearcube: the network runtime's internal backend table and the shared
 * execution plan (issue 3). Internal: included by kernels/nn.c and the
 * backends (kernels/cpu/, kernels/cuda/), never by users of kernels/nn.h.
 *
 * ---- Split of work ----------------------------------------------------------
 * nn.c (shared, backend independent):
 *   - checks the arguments of cc_nn_run / cc_nn_run_float (t >= 1, h and w
 *     multiples of m->size_multiple, non-NULL buffers, finalized model);
 *   - builds a cc_nn_plan for the window (cc_nn_plan_make): the node shapes,
 *     the partition of the graph into FUSED GROUPS executed in order, and a
 *     buffer-slot assignment with reuse (a tensor's slot is released once
 *     its last consumer group has run: memory is bounded by the peak live set,
 *     not by the number of layers);
 *   - asks backend->supports() about every node of the plan and fails with
 *     CC_ERR_UNSUPPORTED naming the node before anything runs;
 *   - calls backend->run() once, then frees the plan.
 * A backend implements the struct below. Its run() executes plan->groups[0..
 * ngroups-1] in order; for each group it reads the group's external input
 * tensors (or the DN input) and writes the group's result tensor (or the
 * caller's output). It owns the memory of the slots for the duration of run()
 * (host malloc for the CPU, cudaMalloc for CUDA: allocate plan->slot_floats[s]
 * floats for every slot s; a tensor of node n lives at the start of slot
 * plan->node_slot[n]). Nothing else is required: the CUDA backend copies dn
 * to the device, runs its kernels group by group, copies the output back.
 *
 * ---- Tensors -----------------------------------------------------------------
 * float32, channels-last (see kernels/nn.h): node n's tensor has dims
 * plan->shape[n] = {T, H, W, C}, element (t,y,x,c) at ((t*H + y)*W + x)*C + c.
 * Only the RESULT of a group is materialised; nodes inside a fused group have
 * node_slot -1 (they exist in registers / a per-thread tile only).
 *
 * ---- Groups (how fusion is identified) ---------------------------------------
 * The planner walks the live nodes (those the output depends on) in index order
 * and forms maximal chains, where every inner node has exactly ONE consumer
 * (the next node of the chain) and that consumer has exactly one input:
 *
 *  CC_NN_GROUP_PIXEL  per-pixel chain (a "per-pixel MLP"):
 *                     [INPUT] (CONV2D k=1 s=1 | AFFINE | ACT)* [OUTPUT]
 *                     with at least one node. Examples: INPUT->conv1x1->
 *                     conv1x1->conv1x1->OUTPUT is ONE group reading DN and
 *                     writing output DN (model A); conv1x1->OUTPUT at the end
 *                     of a U-Net; a lone INPUT (decode to a tensor, used when
 *                     the input has several consumers); a lone OUTPUT.
 *                     Executed pixel-tile by pixel-tile, the activations stay
 *                     in a per-thread tile (cache) or registers.
 *  CC_NN_GROUP_CONV   [INPUT] CONV2D (k=3, or stride 2) (AFFINE | ACT)*:
 *                     a spatial conv + bias + activation in one pass, optionally
 *                     decoding its DN input on the fly (the first 3x3 layer of a
 *                     model) and applying a per-pixel affine/act tail (folded BN).
 *  CC_NN_GROUP_SINGLE one node of any other op (ADD, CONCAT, pools, upsamples,
 *                     CONV1D_TIME); ADD/CONV1D_TIME apply their own act.
 *
 * Rules every group obeys (backends may rely on them):
 *  - node[0] is the only node with external inputs: group->inputs[] are the
 *    node indices whose tensors the group reads (node[0]'s inputs), each
 *    materialised (node_slot >= 0); node[i+1]'s single input is node[i].
 *  - reads_dn: node[0] is CC_OP_INPUT; the group reads the caller's uint16 DN
 *    (T, H, W, in_channels) and decodes it (nn.h formula; a pixel with DN 0 in
 *    ANY channel decodes to 0 in every channel, i.e. AFTER normalisation).
 *  - writes_out: the last node is CC_OP_OUTPUT; the group writes the caller's
 *    output (uint16 DN or float, see out_float) instead of a tensor. Output
 *    encoding needs the DN of the same (t,y,x) for the nodata test and the
 *    residual channels; the DN input pointer is passed to every group.
 *  - otherwise result = node[nnodes-1], materialised in node_slot[result].
 *  - a group's result slot never aliases any of its input slots.
 *
 * Encoding (OUTPUT node o, channel c, input pixel with reflectance rho_in):
 *   v   = x*scale[c] + shift[c]             (scale/shift NULL: 1 and 0)
 *   rho = v + (residual_channel[c] >= 0 ? rho_in[residual_channel[c]] : 0)
 *   float output: rho, NaN where the pixel is nodata;
 *   DN output: nodata -> 0; else cc_refl_encode(rho, out_dn_offset, 10000)
 *   (core/reflectance.h: NaN -> 0, round half up, clamped to [1, 65534]).
 * Helpers implementing these formulas for host code are declared below.
 *
 * ---- Determinism ---------------------------------------------------------------
 * A backend must give the same bits for any thread count: every output element
 * is computed by one thread with a fixed summation order (no reductions across
 * threads, no atomics).
 */
#ifndef CC_KERNELS_BACKEND_IMPL_H
#define CC_KERNELS_BACKEND_IMPL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/reflectance.h"
#include "kernels/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __CUDACC__
#define CC_NN_HD __host__ __device__ /* an inline helper the CUDA kernels use too */
#else
#define CC_NN_HD
#endif

#define CC_NN_GROUP_MAX_NODES 16    /* longer chains are split into several groups */
#define CC_NN_OUT_QUANT CC_REFL_QUANT /* output DN = rho*10000 + out_dn_offset     */

typedef enum {
    CC_NN_GROUP_PIXEL = 0,
    CC_NN_GROUP_CONV,
    CC_NN_GROUP_SINGLE
} cc_nn_group_kind;

typedef struct {
    cc_nn_group_kind kind;
    int nnodes;
    int node[CC_NN_GROUP_MAX_NODES]; /* model node indices, in execution order       */
    int ninputs;                     /* external tensor inputs (0 when reads_dn)      */
    int inputs[CC_NN_MAX_INPUTS];    /* = nodes[node[0]].inputs                       */
    int reads_dn;                    /* node[0] is CC_OP_INPUT                        */
    int writes_out;                  /* node[nnodes-1] is CC_OP_OUTPUT                */
    int result;                      /* node[nnodes-1] when !writes_out, else -1     */
} cc_nn_group;

/* The execution plan of one model on one window. Built by cc_nn_plan_make,
 * freed by cc_nn_plan_free (the plan owns every array in it). */
typedef struct {
    int t, h, w;                     /* the window                                    */
    int nnodes;                      /* = model nnodes                                */
    int (*shape)[4];                 /* [nnodes] {T, H, W, C} of every node's output   */
    int *live;                       /* [nnodes] 1 if the output depends on the node  */
    int ngroups;
    cc_nn_group *groups;             /* [ngroups] in execution order                  */
    int *node_slot;                  /* [nnodes] slot of a materialised tensor, or -1 */
    int nslots;
    size_t *slot_floats;             /* [nslots] capacity of each slot, in floats     */
    size_t total_floats;             /* sum of slot_floats (the working memory)       */
    int unfused;                     /* cc_nn_plan_make_unfused: one group per live
                                        node, node n's tensor in slot n              */
} cc_nn_plan;

/* Builds the plan of finalized model m for a (t, h, w) window. Fails with
 * CC_ERR_ARG when the window does not fit the model (sizes, reflect padding on
 * a dimension < 2, ...). On success free with cc_nn_plan_free. */
cc_status cc_nn_plan_make(const cc_nn_model *m, int t, int h, int w, cc_nn_plan *plan);
void cc_nn_plan_free(cc_nn_plan *plan);
/* The same plan without fusion, for training (kernels/train), which needs every
 * activation: every live node is a group of its own and its tensor is kept in
 * slot n (node_slot[n] = n, slot_floats[n] = its numel; -1 and 0 for dead nodes
 * and the OUTPUT node, which writes the caller's output). Only the CPU backend
 * runs such plans (cc_nn_cpu_run_unfused). */
cc_status cc_nn_plan_make_unfused(const cc_nn_model *m, int t, int h, int w, cc_nn_plan *plan);
/* Number of elements of node n's tensor (T*H*W*C). */
size_t cc_nn_plan_numel(const cc_nn_plan *plan, int n);

/* ---- the backend table ---- */
struct cc_nn_backend {
    const char *name;                /* "cpu", "cuda"                                 */
    /* A short static description: "avx512" | "avx2" | "scalar", the GPU name.     */
    const char *(*detail)(const cc_nn_backend *self);
    /* 1 if the backend can execute node `node` of m (as part of any group), else 0.
     * Called by nn.c for every live node before run().                          */
    int (*supports)(const cc_nn_backend *self, const cc_nn_model *m, int node);
    /* Runs the plan. dn: host uint16 (T,H,W,in_channels); out: host uint16 DN
     * (out_float 0) or float (out_float 1), (T,H,W,cout of the OUTPUT node).
     * Returns CC_OK or a status with cc_error_set. Must be thread-safe with
     * respect to concurrent calls on different windows (no mutable globals).   */
    cc_status (*run)(const cc_nn_backend *self, const cc_nn_model *m, const cc_nn_plan *plan,
                     const uint16_t *dn, void *out, int out_float);
    void *ctx;                       /* backend private state (static lifetime)       */
};

/* ---- shared host-side helpers (nn.c), usable by any host code ---- */

/* Decodes the in_channels DN values of one pixel into x[0..in_channels-1]
 * ((DN + dn_offset)/quantification - mean)/std; all zeros when any DN is 0.
 * Returns 1 when the pixel is nodata, 0 otherwise. */
int cc_nn_decode_pixel(const cc_nn_model *m, const uint16_t *dn_px, float *x);
/* Encodes one output pixel from the OUTPUT node's input values x[0..cout-1],
 * given that pixel's DN (for nodata and residual channels). Writes cout values
 * to out_dn or out_f (whichever is non-NULL). */
void cc_nn_encode_pixel(const cc_nn_model *m, const cc_nn_node *o, const uint16_t *dn_px,
                        const float *x, uint16_t *out_dn, float *out_f);
/* The decoding and encoding of training, whose input is the reflectance rho
 * itself (no DN, no nodata): x = (rho - mean)/std (cc_nn_decode_pixel after its
 * rho), and the float output of cc_nn_encode_pixel with the residual taken from
 * rho_px. Same bits as the DN forms for the rho those decode to. */
void cc_nn_normalize_pixel(const cc_nn_model *m, const float *rho_px, float *x);
void cc_nn_encode_pixel_rho(const cc_nn_node *o, const float *rho_px, const float *x, float *out_f);
/* Activation of one value (exact formulas of PyTorch, in float). */
static inline float cc_nn_act_apply(cc_act a, float alpha, float v);
/* The element a 2x2 max pool takes from its window v0 v1 / v2 v3 (0..3): the
 * first maximum, a NaN wins (torch max_pool2d propagates NaN), v0's first.
 * Shared by the CPU and CUDA forward passes and the training backward pass
 * (the gradient goes to that element). */
static inline CC_NN_HD int cc_nn_max4_index(float v0, float v1, float v2, float v3);
/* Source pixels and weights of output index dst of a x2 bilinear upsampling of
 * an axis of in_size pixels (PyTorch area_pixel_compute_source_index,
 * align_corners = false, scale 1/2): out = l0*in[i0] + l1*in[i1]. */
static inline void cc_nn_bilinear_index(int dst, int in_size, int *i0, int *i1, float *l0, float *l1);

/* The backends themselves are cc_nn_backend_cpu (kernels/cpu/ref.c) and
 * cc_nn_backend_cuda (kernels/cuda/nn_cuda.cu, NULL when no GPU is usable; in a
 * build without CUDA kernels/cuda/nn_cuda_none.c returns NULL), declared in nn.h. */
/* Runs an unfused plan (cc_nn_plan_make_unfused) of m with the CPU backend's
 * ops, for the forward pass of training: rho is the input reflectance
 * (T, H, W, in_channels), decoded as cc_nn_normalize_pixel; out[n] receives
 * node n's tensor (plan->shape[n]) for every live node, the OUTPUT node's being
 * the output reflectance (cc_nn_encode_pixel_rho); pre (may be NULL, and so may
 * its entries) receives, for a node with an activation (conv2d, conv1d_time,
 * affine, act, add), its value before the activation: out[n] = act(pre[n]).
 * Every value has the bits cc_nn_run_float gives for the DN that decode to rho
 * (tests/train/test_train_forward.c). */
cc_status cc_nn_cpu_run_unfused(const cc_nn_model *m, const cc_nn_plan *plan, const float *rho,
                                float *const *out, float *const *pre);


/* ---- inline definitions ---- */
static inline CC_NN_HD int cc_nn_max4_index(float v0, float v1, float v2, float v3)
{
    int s = 0;
    float v = v0;
    if (v1 > v || isnan(v1)) {
        v = v1;
        s = 1;
    }
    if (v2 > v || isnan(v2)) {
        v = v2;
        s = 2;
    }
    if (v3 > v || isnan(v3))
        s = 3;
    return isnan(v0) ? 0 : s;
}

static inline void cc_nn_bilinear_index(int dst, int in_size, int *i0, int *i1, float *l0, float *l1)
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

static inline float cc_nn_act_apply(cc_act a, float alpha, float v)
{
    switch (a) {
    case CC_ACT_RELU: return v > 0.0f ? v : 0.0f;
    case CC_ACT_LEAKY_RELU: return v >= 0.0f ? v : v * alpha;
    case CC_ACT_SILU: return v / (1.0f + expf(-v));
    case CC_ACT_SIGMOID: return 1.0f / (1.0f + expf(-v));
    default: return v;
    }
}

#ifdef __cplusplus
}
#endif
#endif
