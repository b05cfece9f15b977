/* clearcube: training on the CPU (issue 4): backward passes, loss, AdamW.
 *
 * A cc_train_net wraps a finalized cc_nn_model (kernels/nn.h) whose weights
 * it trains IN PLACE (the model's node weight/bias/scale/shift arrays are the
 * parameters). It runs the model in float on a batch of B images of H x W
 * pixels, channels-last (b, y, x, c) -> data[((b*H + y)*W + x)*C + c], with
 * the same semantics as the inference runtime (cc_nn_run_float): the forward
 * pass IS the runtime's (its plan and CPU ops, every activation kept; same
 * bits as cc_nn_run_float), except that the input is already-decoded
 * REFLECTANCE rho (not uint16 DN):
 *   - CC_OP_INPUT:  (rho - mean[c]) / std[c] per channel (no parameters);
 *   - CC_OP_OUTPUT: value*scale + shift (+ the input rho of residual_channel),
 *     i.e. the output is reflectance; scale/shift of the output node are NOT
 *     trained (they are the fixed output scaling);
 *   - every other op as in the runtime (same padding, activations).
 * Nodata is the caller's business: the loss takes a per-pixel weight.
 * Per-pixel MLPs are trained with H = 1, W = number of pixels (B = 1) or
 * B = pixels, H = W = 1: any layout works for 1x1 models.
 * CC_OP_CONV1D_TIME convolves along the batch axis b (the runtime's T axis).
 *
 * Parameters are one flat float vector in a canonical order: nodes in model
 * order; per node weight, then bias (conv2d, conv1d_time), or scale, then
 * shift (affine). Arrays that are NULL in the model (a conv without bias, an
 * affine without scale or shift) are not parameters. Gradients use the same
 * layout, so data-parallel training allreduces one buffer.
 *
 * Determinism: forward and backward compute every element in a fixed order
 * (OpenMP threads may split work, but every reduction, in particular the
 * weight gradients summed over pixels, is done in an order that does not
 * depend on the thread count), so results are bit-identical for any number
 * of threads.
 */
#ifndef CC_KERNELS_TRAIN_TRAIN_H
#define CC_KERNELS_TRAIN_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "kernels/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cc_train_net cc_train_net;

/* Creates a trainer for model m (borrowed: must outlive the net; its
 * parameters are updated in place by cc_train_adamw_step) and a maximum batch
 * shape (buffers are sized for B*H*W pixels at most: a later forward may use
 * any (b, h, w) whose every node tensor fits the one of the maximum shape, so
 * a 1x1 model takes any layout of at most max_b*max_h*max_w pixels; larger
 * gives CC_ERR_ARG). Ops without a backward pass give CC_ERR_UNSUPPORTED
 * naming the node and op. */
cc_status cc_train_net_create(cc_nn_model *m, int max_b, int max_h, int max_w, cc_train_net **out);
void cc_train_net_free(cc_train_net *n);

/* Runs the backward pass's GEMMs (weight, bias and input gradients of every
 * conv2d: all of a per-pixel MLP's dense layers) on visible CUDA device
 * `device` with cuBLAS (kernels/cuda/train_cuda.h) instead of the CPU GEMM;
 * device < 0: back to the CPU. The forward pass, the other ops, the loss and
 * AdamW stay on the CPU. Deterministic run to run on one GPU; equal to the CPU
 * path to a tolerance only (docs/gpu.md, "Training on CUDA").
 * CC_ERR_NODEVICE (the net unchanged) when the build has no CUDA or the GPU
 * cannot be used. Use the net from the calling thread then. */
cc_status cc_train_net_use_cuda(cc_train_net *n, int device);
/* Where the backward GEMMs run: "cpu (avx2)" or "cuda (cuBLAS ... on <GPU> ...): ...". */
const char *cc_train_net_engine(cc_train_net *n);

size_t cc_train_nparams(const cc_train_net *n);
/* Copies the parameters to / from a flat vector of cc_train_nparams floats. */
void cc_train_get_params(const cc_train_net *n, float *dst);
void cc_train_set_params(cc_train_net *n, const float *src);
/* The gradient accumulator (nparams floats), owned by the net. */
float *cc_train_grads(cc_train_net *n);
void cc_train_zero_grads(cc_train_net *n);

/* Forward pass on rho (b, h, w, in_channels); keeps the activations needed by
 * the backward pass. *out points to the net's output buffer (b, h, w, cout),
 * valid until the next forward. */
cc_status cc_train_forward(cc_train_net *n, int b, int h, int w, const float *rho, const float **out);
/* Backward pass of the last forward: dout = dLoss/dOutput (b, h, w, cout).
 * ADDS the parameter gradients to cc_train_grads (call cc_train_zero_grads
 * first), so several micro-batches can be accumulated. */
cc_status cc_train_backward(cc_train_net *n, const float *dout);
/* dLoss/dInput (b, h, w, in_channels) of the last backward (for gradient
 * tests); valid until the next forward. */
const float *cc_train_input_grad(const cc_train_net *n);
/* Node `node`'s output tensor of the last forward (after its activation; the
 * OUTPUT node's is the output reflectance), shape {b, h, w, channels} in
 * shape (may be NULL); NULL when the node is not live or there was no forward.
 * Valid until the next forward (tests compare it with the runtime). */
const float *cc_train_activation(const cc_train_net *n, int node, int shape[4]);
/* The GEMM micro-kernel of the backward pass: "avx2" or "scalar" (diagnostics;
 * CLEARCUBE_SIMD=scalar forces the portable one). */
const char *cc_train_kernel_name(void);

/* ---- losses: value and gradient over n elements with per-element weights ----
 * loss = sum_i w_i * f(y_i - t_i) / sum_i w_i, grad_i = dloss/dy_i.
 * Huber with delta: f(r) = r^2/2 for |r| <= delta, delta*(|r| - delta/2) else.
 * (L1: gradient 0 at r = 0; elements with w_i = 0 get gradient 0.)
 * w may be NULL (all 1). Returns the loss (0 and zero grad if sum w == 0).
 * The sums are done in a fixed order (double accumulation). */
typedef enum { CC_LOSS_MSE = 0, CC_LOSS_L1, CC_LOSS_HUBER } cc_loss_kind;
double cc_train_loss(cc_loss_kind kind, double delta, size_t n, const float *y, const float *t,
                     const float *w, float *grad);

/* ---- AdamW (decoupled weight decay, Loshchilov & Hutter 2019) ---- */
typedef struct {
    double lr;            /* learning rate for this step (schedules: cc_train_lr) */
    double beta1, beta2;  /* 0.9, 0.999                                          */
    double eps;           /* 1e-8                                                 */
    double weight_decay;  /* decoupled (p *= 1 - lr*wd, as torch.optim.AdamW),
                             applied to conv2d / conv1d_time WEIGHTS only (not
                             biases, affine scale or shift); 0 = plain Adam     */
} cc_adamw_options;
void cc_adamw_options_init(cc_adamw_options *o);

typedef struct {
    size_t n;
    long step;            /* steps taken                                         */
    float *m, *v;         /* first/second moments, n each, owned                */
} cc_adamw_state;
cc_status cc_adamw_init(cc_adamw_state *s, size_t n);
void cc_adamw_free(cc_adamw_state *s);
/* One step on the net's parameters with gradient g (nparams floats, e.g. the
 * allreduced and averaged cc_train_grads). Deterministic. */
cc_status cc_train_adamw_step(cc_train_net *n, cc_adamw_state *s, const cc_adamw_options *o,
                              const float *g);

/* Learning rate at `step` of `total`: linear warm-up over `warmup` steps from
 * 0 to lr_max (lr_max*step/warmup: 0 at step 0), then cosine decay to lr_min at
 * `total` (lr_min for step >= total). */
double cc_train_lr(long step, long total, long warmup, double lr_max, double lr_min);

/* Deterministic initialisation of every trainable parameter of m from `seed`
 * (He/Kaiming-uniform for weights by fan-in: U(-sqrt(6/fan_in), sqrt(6/fan_in)),
 * fan_in = k*k*cin (conv2d) or kt*cin (conv1d_time), drawn in node order from
 * splitmix64 seeded with `seed` (top 53 bits -> [0,1)); zero biases, affine
 * scale 1 and shift 0); output node scale/shift untouched. */
void cc_train_init_params(cc_nn_model *m, unsigned long long seed);

#ifdef __cplusplus
}
#endif
#endif
