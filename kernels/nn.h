/* clearcube: the small network runtime (issue 3).
 *
 * A model is a DAG of nodes in topological order (node i only reads nodes
 * < i). Tensors are float32, batch 1, CHANNELS-LAST: element (t, y, x, c) of a
 * tensor with dims (T, H, W, C) is data[((t*H + y)*W + x)*C + c]. T is 1 except
 * for the temporal (fusion) models, where CC_OP_CONV1D_TIME convolves along T.
 *
 * Input decoding is fused into the first layer (CC_OP_INPUT: uint16 DN ->
 * reflectance rho = (DN + dn_offset)/quantification, then (rho - mean)/std per
 * channel; DN 0 in ANY channel marks the pixel nodata: it decodes to 0 in every
 * channel, i.e. to the channel mean, and its output is DN 0 / NaN) and output encoding into the last (CC_OP_OUTPUT:
 * value*out_scale + out_shift, optionally added to the input reflectance of a
 * band (residual correction), -> DN = rho*10000 + out_dn_offset, clamped to
 * [1, 65534], DN 0 where any input channel of the pixel was nodata).
 *
 * Backends (kernels/cpu/, kernels/cuda/) are tables of function pointers with a
 * supports() predicate; an op a backend lacks reports CC_ERR_UNSUPPORTED.
 */
#ifndef CC_KERNELS_NN_H
#define CC_KERNELS_NN_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CC_NN_MAX_INPUTS 4
#define CC_NN_MAX_CHANNELS 1024
#define CC_NN_MAX_IO 64             /* max input bands / output channels            */

typedef enum {
    CC_OP_INPUT = 0,            /* DN decode + normalisation; no inputs            */
    CC_OP_CONV2D,               /* kernel 1 or 3, stride 1 or 2, + bias + act       */
    CC_OP_AFFINE,               /* per-channel y = x*scale + shift (+ act)          */
    CC_OP_ACT,                  /* activation only                                 */
    CC_OP_ADD,                  /* elementwise add of 2 inputs (+ act)             */
    CC_OP_CONCAT,               /* channel concat of 2..4 inputs                   */
    CC_OP_AVGPOOL2,             /* 2x2, stride 2 (H, W must be even)               */
    CC_OP_MAXPOOL2,
    CC_OP_UPSAMPLE2_NEAREST,    /* x2                                              */
    CC_OP_UPSAMPLE2_BILINEAR,   /* x2, align_corners = false (PyTorch semantics)   */
    CC_OP_CONV1D_TIME,          /* kernel kt along T, zero 'same' padding, + bias + act */
    CC_OP_OUTPUT,               /* affine + residual + DN encoding; 1 input        */
    CC_OP_COUNT
} cc_op_type;

typedef enum { CC_ACT_NONE = 0, CC_ACT_RELU, CC_ACT_LEAKY_RELU, CC_ACT_SILU, CC_ACT_SIGMOID } cc_act;
typedef enum { CC_PAD_ZERO = 0, CC_PAD_REFLECT } cc_pad;

/* Names used in model files: "input", "conv2d", ..., "relu", "zero", ... */
const char *cc_op_name(cc_op_type op);
int cc_op_parse(const char *name);  /* -1 if unknown */
const char *cc_act_name(cc_act a);
int cc_act_parse(const char *name); /* -1 if unknown */
const char *cc_pad_name(cc_pad p);
int cc_pad_parse(const char *name); /* -1 if unknown */

typedef struct {
    cc_op_type op;
    char name[64];                  /* unique node name, e.g. "enc1.conv2"           */
    int ninputs;
    int inputs[CC_NN_MAX_INPUTS];   /* indices of earlier nodes                      */
    int cout;                       /* output channels (derived for non-conv ops)    */
    /* conv2d / conv1d_time */
    int kernel;                     /* 1 or 3 (conv2d); kt (conv1d_time)             */
    int stride;                     /* 1 or 2 (conv2d)                               */
    cc_pad pad;
    cc_act act;
    float alpha;                    /* LeakyReLU negative slope                       */
    /* parameters, owned by the model:
     * conv2d weight [cout][k][k][cin] (channels-last per output filter),
     * conv1d_time weight [cout][kt][cin], bias [cout];
     * affine scale/shift [cout]; output: scale/shift [cout]. */
    float *weight;
    float *bias;
    float *scale, *shift;
    /* input node: decoding */
    int in_channels;
    /* output node: encoding */
    int residual_channel[CC_NN_MAX_IO]; /* per output channel: the input channel whose
                                       reflectance is added (BOA = TOA + correction),
                                       or -1 for none                                */
    double out_dn_offset;           /* 1000 for L2A baseline >= 04.00, else 0         */
} cc_nn_node;

/* Input decoding parameters (the model's band order, the normalisation). */
typedef struct {
    int nchannels;
    char band[CC_NN_MAX_IO][8];     /* band names in channel order, e.g. "B02"        */
    int resolution_m[CC_NN_MAX_IO]; /* native resolution of each band                 */
    double dn_offset;               /* added to DN before /quantification (e.g. -1000) */
    double quantification;          /* 10000                                          */
    float mean[CC_NN_MAX_IO], std[CC_NN_MAX_IO]; /* per channel: (rho - mean)/std    */
} cc_nn_input_desc;

typedef struct {
    int nnodes;
    cc_nn_node *nodes;              /* owned                                          */
    cc_nn_input_desc input;
    int output_node;                /* index of the CC_OP_OUTPUT node                 */
    int halo;                       /* receptive-field radius in input pixels        */
    int size_multiple;              /* H and W of a window must be multiples of this (pooling depth) */
    char content_hash[65];          /* SHA-256 hex of the tensors + architecture      */
    char *provenance;               /* free text, owned (may be NULL)                 */
} cc_nn_model;

/* Builds a model in code (tests, benchmarks): cc_nn_model_init then
 * cc_nn_model_add (returns the node index or -1 with the last error set),
 * then cc_nn_model_finalize (checks shapes, computes cout/halo/size_multiple).
 * Parameter arrays passed to cc_nn_model_add are COPIED. */
void cc_nn_model_init(cc_nn_model *m);
int cc_nn_model_add(cc_nn_model *m, const cc_nn_node *node);
cc_status cc_nn_model_finalize(cc_nn_model *m);
void cc_nn_model_free(cc_nn_model *m);

/* SHA-256 (lowercase hex, 64 chars + NUL) of the canonical serialisation of a
 * model's architecture, input description and tensors (docs/formats/model.md,
 * kernels/nn_canon.h): the value cc_nn_model_finalize stores in content_hash
 * and model files carry (io/model_file.h). */
cc_status cc_nn_model_hash(const cc_nn_model *m, char hex[65]);

/* FLOPs per output pixel at full resolution (multiply-add = 2 FLOPs; bias,
 * activation, affine, add, pool, upsample and DN coding counted per element). */
double cc_nn_model_flops_per_pixel(const cc_nn_model *m);

/* ---- building a model in code, one node per call (kernels/nn_models.c) ----
 * The node-filling half of cc_nn_model_add for each kind of node; each returns
 * the new node's index, or -1 with the error set. name may be NULL or "" (then
 * "node<i>"); arrays are copied (NULL as documented per call); finalize after
 * the last node. The input description m->input is the caller's. */
int cc_nn_add_input(cc_nn_model *m, const char *name, int channels);
/* conv2d (kernel 1 or 3, stride 1 or 2) or conv1d_time (kernel = kt, stride
 * and pad unused) reading node `in`; weight NULL: zeros; bias NULL: none. */
int cc_nn_add_conv(cc_nn_model *m, const char *name, cc_op_type op, int in, int cout, int kernel, int stride,
                   cc_pad pad, cc_act act, float alpha, const float *weight, const float *bias);
/* y = x*scale + shift (+ act) per channel; scale / shift NULL: none. */
int cc_nn_add_affine(cc_nn_model *m, const char *name, int in, cc_act act, float alpha, const float *scale,
                     const float *shift);
/* Any parameter-free op (act, add, concat, pools, upsamplings) of ninputs inputs. */
int cc_nn_add_op(cc_nn_model *m, const char *name, cc_op_type op, cc_act act, float alpha, int ninputs,
                 const int *inputs);
/* The output node reading `in` (c channels): scale/shift [c] (NULL: 1 / 0),
 * residual [c] the input channel added to each output (NULL: none). */
int cc_nn_add_output(cc_nn_model *m, const char *name, int in, const float *scale, const float *shift,
                     const int *residual, double out_dn_offset);

/* Deterministic weights for untrained models (reference and benchmark
 * architectures): a 64-bit LCG (Knuth MMIX constants), uniform in [-1, 1). */
typedef struct {
    uint64_t s;
} cc_nn_lcg;
float cc_nn_lcg_uniform(cc_nn_lcg *r);
/* conv2d stride 1 with weights He-uniform * 0.7 (bound 0.7*sqrt(6/(k*k*cin)))
 * then biases in [-0.05, 0.05), drawn from r in that order. */
int cc_nn_add_conv_random(cc_nn_model *m, cc_nn_lcg *r, const char *name, int in, int cout, int k, cc_pad pad,
                          cc_act act);

/* The reference architectures (parity tests, benchmarks), finalized, with
 * deterministic random weights drawn from `seed`. All take 16 input channels
 * (fixed per-channel mean/std, dn_offset -1000) and give 12 output channels;
 * output c adds the reflectance of input channel c (residual), out_dn_offset 1000.
 *   'A' per-pixel MLP: conv1x1 16->64 ReLU, 64->64 ReLU, 64->12.
 *   'B' residual block, zero padding:
 *         x1 = ReLU(conv3x3 16->32); x2 = ReLU(conv3x3 32->32 (x1));
 *         x3 = ReLU(conv3x3 32->32 (x2) + x1)  [add node with ReLU];
 *         y  = conv1x1 32->12 (x3).
 *   'C' U-Net-lite, reflect padding, ReLU after every 3x3 conv:
 *         e1 = 2x conv3x3 (16->32, 32->32);  maxpool2
 *         e2 = 2x conv3x3 (32->64, 64->64);  maxpool2
 *         b  = 2x conv3x3 (64->128, 128->128)
 *         d2 = 2x conv3x3 (concat(bilinear-up(b), e2): 192->64, 64->64)
 *         d1 = 2x conv3x3 (concat(bilinear-up(d2), e1): 96->32, 32->32)
 *         y  = conv1x1 32->12 (d1).     size_multiple 4.
 * On success m holds the model (free with cc_nn_model_free); on failure m is
 * left empty. CC_ERR_ARG for an unknown `which`. */
cc_status cc_nn_model_reference(char which, unsigned seed, cc_nn_model *m);

/* ---- execution ---- */

typedef struct cc_nn_backend cc_nn_backend;

/* The CPU backend (OpenMP, SIMD chosen at run time: "avx512", "avx2", "scalar").
 * The environment variable CLEARCUBE_SIMD=avx512|avx2|scalar forces a level
 * (for tests and benchmarks). */
const cc_nn_backend *cc_nn_backend_cpu(void);
/* The CUDA backend, or NULL when built without CUDA or no GPU is usable. */
const cc_nn_backend *cc_nn_backend_cuda(void);
const char *cc_nn_backend_name(const cc_nn_backend *b);
/* "avx512" / "avx2" / "scalar" for CPU, the device name for CUDA. */
const char *cc_nn_backend_detail(const cc_nn_backend *b);

/* Runs the whole model on one window.
 * dn: uint16 input, channels-last (T, H, W, in_channels);
 * out: uint16 output DN, channels-last (T, H, W, cout of the output node).
 * H and W must be multiples of model->size_multiple. The output is exact for
 * every pixel, with the model's own padding at the window border (callers that
 * tile a larger raster pass windows with a halo and crop it). */
cc_status cc_nn_run(const cc_nn_backend *b, const cc_nn_model *m, int t, int h, int w,
                    const uint16_t *dn, uint16_t *out);
/* Same, but returns the output reflectance before DN quantisation (value *
 * scale + shift + residual input reflectance), as float (T, H, W, cout); NaN
 * where the pixel is nodata. For tests against PyTorch and for training. */
cc_status cc_nn_run_float(const cc_nn_backend *b, const cc_nn_model *m, int t, int h, int w,
                          const uint16_t *dn, float *out);

#ifdef __cplusplus
}
#endif
#endif
