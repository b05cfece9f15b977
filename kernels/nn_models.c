/* clearcube: building models in code (kernels/nn.h): the one-call-per-node
 * builder used by the library's architectures (the reference models here,
 * pipeline/boa, pipeline/cloudless) and the tests (tests/nn/nn_testlib.h), the
 * deterministic weights of untrained models, and the reference architectures
 * A, B, C for tests and benchmarks. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "kernels/nn.h"
#include "kernels/nn_canon.h"

#define REF_IN 16
#define REF_OUT 12

/* ---- the builder: one node per call ---- */

static void node_init(cc_nn_node *n, cc_op_type op, const char *name, int ninputs, const int *inputs)
{
    memset(n, 0, sizeof *n);
    n->op = op;
    if (name)
        snprintf(n->name, sizeof n->name, "%s", name);
    n->ninputs = ninputs;
    for (int k = 0; k < ninputs && k < CC_NN_MAX_INPUTS; k++)
        n->inputs[k] = inputs[k];
}

int cc_nn_add_input(cc_nn_model *m, const char *name, int channels)
{
    cc_nn_node n;
    node_init(&n, CC_OP_INPUT, name, 0, NULL);
    n.in_channels = channels;
    return cc_nn_model_add(m, &n);
}

int cc_nn_add_conv(cc_nn_model *m, const char *name, cc_op_type op, int in, int cout, int kernel, int stride,
                   cc_pad pad, cc_act act, float alpha, const float *weight, const float *bias)
{
    cc_nn_node n;
    float *zeros = NULL;
    if (!m || in < 0 || in >= m->nnodes) { /* the weight count needs the input's channels */
        cc_error_set(CC_ERR_ARG, "nn node '%s': input %d is not a node", name ? name : "", in);
        return -1;
    }
    if (!weight && cout > 0 && cout <= CC_NN_MAX_CHANNELS && kernel > 0 && kernel <= CC_NN_MAX_KERNEL) {
        const size_t taps = op == CC_OP_CONV2D ? (size_t)kernel * (size_t)kernel : (size_t)kernel;
        zeros = cc_calloc3((size_t)cout * taps, (size_t)m->nodes[in].cout, sizeof(float));
        if (!zeros) {
            cc_error_set(CC_ERR_NOMEM, "nn node '%s': out of memory", name ? name : "");
            return -1;
        }
        weight = zeros;
    }
    node_init(&n, op, name, 1, &in);
    n.cout = cout;
    n.kernel = kernel;
    n.stride = stride;
    n.pad = pad;
    n.act = act;
    n.alpha = alpha;
    n.weight = (float *)weight; /* copied by cc_nn_model_add */
    n.bias = (float *)bias;
    int idx = cc_nn_model_add(m, &n);
    free(zeros);
    return idx;
}

int cc_nn_add_affine(cc_nn_model *m, const char *name, int in, cc_act act, float alpha, const float *scale,
                     const float *shift)
{
    cc_nn_node n;
    node_init(&n, CC_OP_AFFINE, name, 1, &in);
    n.act = act;
    n.alpha = alpha;
    n.scale = (float *)scale;
    n.shift = (float *)shift;
    return cc_nn_model_add(m, &n);
}

int cc_nn_add_op(cc_nn_model *m, const char *name, cc_op_type op, cc_act act, float alpha, int ninputs,
                 const int *inputs)
{
    cc_nn_node n;
    if (ninputs < 0 || ninputs > CC_NN_MAX_INPUTS) {
        cc_error_set(CC_ERR_ARG, "nn node '%s' (%s): %d inputs (at most %d)", name ? name : "", cc_op_name(op),
                     ninputs, CC_NN_MAX_INPUTS);
        return -1;
    }
    node_init(&n, op, name, ninputs, inputs);
    n.act = act;
    n.alpha = alpha;
    return cc_nn_model_add(m, &n);
}

int cc_nn_add_output(cc_nn_model *m, const char *name, int in, const float *scale, const float *shift,
                     const int *residual, double out_dn_offset)
{
    cc_nn_node n;
    node_init(&n, CC_OP_OUTPUT, name, 1, &in);
    const int c = m && in >= 0 && in < m->nnodes ? m->nodes[in].cout : 0;
    for (int k = 0; k < CC_NN_MAX_IO; k++)
        n.residual_channel[k] = residual && k < c ? residual[k] : -1;
    n.scale = (float *)scale;
    n.shift = (float *)shift;
    n.out_dn_offset = out_dn_offset;
    return cc_nn_model_add(m, &n);
}

/* ---- untrained models ---- */

float cc_nn_lcg_uniform(cc_nn_lcg *r)
{
    r->s = r->s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((double)(r->s >> 40) / (double)(1u << 23) - 1.0);
}

int cc_nn_add_conv_random(cc_nn_model *m, cc_nn_lcg *r, const char *name, int in, int cout, int k, cc_pad pad,
                          cc_act act)
{
    if (!m || in < 0 || in >= m->nnodes || cout < 1 || cout > CC_NN_MAX_CHANNELS || (k != 1 && k != 3)) {
        cc_error_set(CC_ERR_ARG, "nn node '%s': bad conv (input %d, %d outputs, kernel %d)", name ? name : "", in,
                     cout, k);
        return -1;
    }
    const int cin = m->nodes[in].cout;
    const size_t nw = (size_t)cout * (size_t)(k * k) * (size_t)cin;
    float *w = cc_malloc3(nw, sizeof(float), 1);
    float b[CC_NN_MAX_CHANNELS];
    if (!w) {
        cc_error_set(CC_ERR_NOMEM, "nn node '%s': out of memory", name ? name : "");
        return -1;
    }
    const float bound = sqrtf(6.0f / (float)(k * k * cin)) * 0.7f;
    for (size_t i = 0; i < nw; i++)
        w[i] = bound * cc_nn_lcg_uniform(r);
    for (int i = 0; i < cout; i++)
        b[i] = 0.05f * cc_nn_lcg_uniform(r);
    int idx = cc_nn_add_conv(m, name, CC_OP_CONV2D, in, cout, k, 1, pad, act, 0.0f, w, b);
    free(w);
    return idx;
}

/* ---- the reference architectures A, B, C ---- */

static int add_input(cc_nn_model *m)
{
    cc_nn_input_desc *d = &m->input;
    d->nchannels = REF_IN;
    d->dn_offset = -1000.0;
    d->quantification = 10000.0;
    for (int c = 0; c < REF_IN; c++) {
        snprintf(d->band[c], sizeof d->band[c], "C%02d", c);
        d->resolution_m[c] = 10;
        d->mean[c] = 0.05f + 0.01f * (float)c;
        d->std[c] = 0.05f + 0.005f * (float)c;
    }
    return cc_nn_add_input(m, "input", REF_IN);
}

static int add_output(cc_nn_model *m, int in)
{
    float scale[REF_OUT], shift[REF_OUT];
    int residual[REF_OUT];
    for (int c = 0; c < REF_OUT; c++) {
        scale[c] = 0.02f;
        shift[c] = 0.001f * (float)c;
        residual[c] = c;
    }
    return cc_nn_add_output(m, "output", in, scale, shift, residual, 1000.0);
}

static int add_simple(cc_nn_model *m, cc_op_type op, const char *name, int a, int b, cc_act act)
{
    const int in[2] = {a, b};
    return cc_nn_add_op(m, name, op, act, 0.0f, b >= 0 ? 2 : 1, in);
}

#define TRY(expr)            \
    do {                     \
        if ((x = (expr)) < 0) \
            goto out;        \
    } while (0)

cc_status cc_nn_model_reference(char which, unsigned seed, cc_nn_model *m)
{
    cc_status st = CC_ERR_ARG;
    cc_nn_lcg r = {(uint64_t)seed * 0x9E3779B97F4A7C15ULL + 12345u};
    int x, x1, e1, e2;
    cc_nn_model_init(m);
    TRY(add_input(m));
    switch (which) {
    case 'A':
        TRY(cc_nn_add_conv_random(m, &r, "fc1", x, 64, 1, CC_PAD_ZERO, CC_ACT_RELU));
        TRY(cc_nn_add_conv_random(m, &r, "fc2", x, 64, 1, CC_PAD_ZERO, CC_ACT_RELU));
        TRY(cc_nn_add_conv_random(m, &r, "fc3", x, REF_OUT, 1, CC_PAD_ZERO, CC_ACT_NONE));
        break;
    case 'B':
        TRY(cc_nn_add_conv_random(m, &r, "conv1", x, 32, 3, CC_PAD_ZERO, CC_ACT_RELU));
        x1 = x;
        TRY(cc_nn_add_conv_random(m, &r, "conv2", x, 32, 3, CC_PAD_ZERO, CC_ACT_RELU));
        TRY(cc_nn_add_conv_random(m, &r, "conv3", x, 32, 3, CC_PAD_ZERO, CC_ACT_NONE));
        TRY(add_simple(m, CC_OP_ADD, "res", x, x1, CC_ACT_RELU));
        TRY(cc_nn_add_conv_random(m, &r, "head", x, REF_OUT, 1, CC_PAD_ZERO, CC_ACT_NONE));
        break;
    case 'C': {
        const cc_pad P = CC_PAD_REFLECT;
        const cc_act A = CC_ACT_RELU;
        TRY(cc_nn_add_conv_random(m, &r, "enc1.conv1", x, 32, 3, P, A));
        TRY(cc_nn_add_conv_random(m, &r, "enc1.conv2", x, 32, 3, P, A));
        e1 = x;
        TRY(add_simple(m, CC_OP_MAXPOOL2, "pool1", x, -1, CC_ACT_NONE));
        TRY(cc_nn_add_conv_random(m, &r, "enc2.conv1", x, 64, 3, P, A));
        TRY(cc_nn_add_conv_random(m, &r, "enc2.conv2", x, 64, 3, P, A));
        e2 = x;
        TRY(add_simple(m, CC_OP_MAXPOOL2, "pool2", x, -1, CC_ACT_NONE));
        TRY(cc_nn_add_conv_random(m, &r, "bott.conv1", x, 128, 3, P, A));
        TRY(cc_nn_add_conv_random(m, &r, "bott.conv2", x, 128, 3, P, A));
        TRY(add_simple(m, CC_OP_UPSAMPLE2_BILINEAR, "up2", x, -1, CC_ACT_NONE));
        TRY(add_simple(m, CC_OP_CONCAT, "cat2", x, e2, CC_ACT_NONE));
        TRY(cc_nn_add_conv_random(m, &r, "dec2.conv1", x, 64, 3, P, A));
        TRY(cc_nn_add_conv_random(m, &r, "dec2.conv2", x, 64, 3, P, A));
        TRY(add_simple(m, CC_OP_UPSAMPLE2_BILINEAR, "up1", x, -1, CC_ACT_NONE));
        TRY(add_simple(m, CC_OP_CONCAT, "cat1", x, e1, CC_ACT_NONE));
        TRY(cc_nn_add_conv_random(m, &r, "dec1.conv1", x, 32, 3, P, A));
        TRY(cc_nn_add_conv_random(m, &r, "dec1.conv2", x, 32, 3, P, A));
        TRY(cc_nn_add_conv_random(m, &r, "head", x, REF_OUT, 1, P, CC_ACT_NONE));
        break;
    }
    default:
        cc_error_set(CC_ERR_ARG, "nn reference model '%c' unknown (A, B or C)", which);
        goto out;
    }
    TRY(add_output(m, x));
    st = cc_nn_model_finalize(m);
    if (st == CC_OK) {
        char prov[96];
        snprintf(prov, sizeof prov, "clearcube reference model %c, seed %u", which, seed);
        m->provenance = cc_malloc3(strlen(prov) + 1, 1, 1); /* may stay NULL */
        if (m->provenance)
            memcpy(m->provenance, prov, strlen(prov) + 1);
    }
    goto done;
out:
    st = cc_error_status() != CC_OK ? cc_error_status() : CC_ERR_INTERNAL;
done:
    if (st != CC_OK)
        cc_nn_model_free(m);
    return st;
}
