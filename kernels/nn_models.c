/* clearcube: the reference network architectures A, B, C (see kernels/nn.h),
 * built in code with deterministic random weights for tests and benchmarks. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "kernels/nn.h"

#define REF_IN 16
#define REF_OUT 12

typedef struct {
    uint64_t s;
} ref_rng;

/* Uniform in [-1, 1), from a 64-bit LCG (Knuth MMIX constants). */
static float rng_uniform(ref_rng *r)
{
    r->s = r->s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((double)(r->s >> 40) / (double)(1u << 23) - 1.0);
}

/* Adds conv2d `name` (He-uniform weights, small biases); returns the index or -1. */
static int add_conv(cc_nn_model *m, ref_rng *r, const char *name, int in, int cin, int cout, int k,
                    cc_pad pad, cc_act act)
{
    int idx = -1;
    const size_t nw = (size_t)cout * (size_t)(k * k) * (size_t)cin;
    float *w = cc_malloc3(nw, sizeof(float), 1);
    float b[CC_NN_MAX_CHANNELS];
    if (!w)
        return -1;
    const float bound = sqrtf(6.0f / (float)(k * k * cin)) * 0.7f;
    for (size_t i = 0; i < nw; i++)
        w[i] = bound * rng_uniform(r);
    for (int i = 0; i < cout; i++)
        b[i] = 0.05f * rng_uniform(r);
    cc_nn_node n;
    memset(&n, 0, sizeof n);
    n.op = CC_OP_CONV2D;
    snprintf(n.name, sizeof n.name, "%s", name);
    n.ninputs = 1;
    n.inputs[0] = in;
    n.cout = cout;
    n.kernel = k;
    n.stride = 1;
    n.pad = pad;
    n.act = act;
    n.weight = w;
    n.bias = b;
    idx = cc_nn_model_add(m, &n);
    free(w);
    return idx;
}

static int add_simple(cc_nn_model *m, cc_op_type op, const char *name, int a, int b, cc_act act)
{
    cc_nn_node n;
    memset(&n, 0, sizeof n);
    n.op = op;
    snprintf(n.name, sizeof n.name, "%s", name);
    n.ninputs = b >= 0 ? 2 : 1;
    n.inputs[0] = a;
    n.inputs[1] = b;
    n.act = act;
    return cc_nn_model_add(m, &n);
}

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
    cc_nn_node n;
    memset(&n, 0, sizeof n);
    n.op = CC_OP_INPUT;
    snprintf(n.name, sizeof n.name, "input");
    n.in_channels = REF_IN;
    return cc_nn_model_add(m, &n);
}

static int add_output(cc_nn_model *m, int in)
{
    float scale[REF_OUT], shift[REF_OUT];
    cc_nn_node n;
    memset(&n, 0, sizeof n);
    n.op = CC_OP_OUTPUT;
    snprintf(n.name, sizeof n.name, "output");
    n.ninputs = 1;
    n.inputs[0] = in;
    for (int c = 0; c < REF_OUT; c++) {
        scale[c] = 0.02f;
        shift[c] = 0.001f * (float)c;
        n.residual_channel[c] = c;
    }
    for (int c = REF_OUT; c < CC_NN_MAX_IO; c++)
        n.residual_channel[c] = -1;
    n.scale = scale;
    n.shift = shift;
    n.out_dn_offset = 1000.0;
    return cc_nn_model_add(m, &n);
}

#define TRY(expr)            \
    do {                     \
        if ((x = (expr)) < 0) \
            goto out;        \
    } while (0)

cc_status cc_nn_model_reference(char which, unsigned seed, cc_nn_model *m)
{
    cc_status st = CC_ERR_ARG;
    ref_rng r = {(uint64_t)seed * 0x9E3779B97F4A7C15ULL + 12345u};
    int x, x1, e1, e2;
    cc_nn_model_init(m);
    TRY(add_input(m));
    switch (which) {
    case 'A':
        TRY(add_conv(m, &r, "fc1", x, REF_IN, 64, 1, CC_PAD_ZERO, CC_ACT_RELU));
        TRY(add_conv(m, &r, "fc2", x, 64, 64, 1, CC_PAD_ZERO, CC_ACT_RELU));
        TRY(add_conv(m, &r, "fc3", x, 64, REF_OUT, 1, CC_PAD_ZERO, CC_ACT_NONE));
        break;
    case 'B':
        TRY(add_conv(m, &r, "conv1", x, REF_IN, 32, 3, CC_PAD_ZERO, CC_ACT_RELU));
        x1 = x;
        TRY(add_conv(m, &r, "conv2", x, 32, 32, 3, CC_PAD_ZERO, CC_ACT_RELU));
        TRY(add_conv(m, &r, "conv3", x, 32, 32, 3, CC_PAD_ZERO, CC_ACT_NONE));
        TRY(add_simple(m, CC_OP_ADD, "res", x, x1, CC_ACT_RELU));
        TRY(add_conv(m, &r, "head", x, 32, REF_OUT, 1, CC_PAD_ZERO, CC_ACT_NONE));
        break;
    case 'C': {
        const cc_pad P = CC_PAD_REFLECT;
        const cc_act A = CC_ACT_RELU;
        TRY(add_conv(m, &r, "enc1.conv1", x, REF_IN, 32, 3, P, A));
        TRY(add_conv(m, &r, "enc1.conv2", x, 32, 32, 3, P, A));
        e1 = x;
        TRY(add_simple(m, CC_OP_MAXPOOL2, "pool1", x, -1, CC_ACT_NONE));
        TRY(add_conv(m, &r, "enc2.conv1", x, 32, 64, 3, P, A));
        TRY(add_conv(m, &r, "enc2.conv2", x, 64, 64, 3, P, A));
        e2 = x;
        TRY(add_simple(m, CC_OP_MAXPOOL2, "pool2", x, -1, CC_ACT_NONE));
        TRY(add_conv(m, &r, "bott.conv1", x, 64, 128, 3, P, A));
        TRY(add_conv(m, &r, "bott.conv2", x, 128, 128, 3, P, A));
        TRY(add_simple(m, CC_OP_UPSAMPLE2_BILINEAR, "up2", x, -1, CC_ACT_NONE));
        TRY(add_simple(m, CC_OP_CONCAT, "cat2", x, e2, CC_ACT_NONE));
        TRY(add_conv(m, &r, "dec2.conv1", x, 192, 64, 3, P, A));
        TRY(add_conv(m, &r, "dec2.conv2", x, 64, 64, 3, P, A));
        TRY(add_simple(m, CC_OP_UPSAMPLE2_BILINEAR, "up1", x, -1, CC_ACT_NONE));
        TRY(add_simple(m, CC_OP_CONCAT, "cat1", x, e1, CC_ACT_NONE));
        TRY(add_conv(m, &r, "dec1.conv1", x, 96, 32, 3, P, A));
        TRY(add_conv(m, &r, "dec1.conv2", x, 32, 32, 3, P, A));
        TRY(add_conv(m, &r, "head", x, 32, REF_OUT, 1, P, CC_ACT_NONE));
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
