/* clearcube: 13-band L1C -> 12-band L2A networks for full-tile benchmarks and
 * tests (pipeline/boa/infer.h, cc_infer_model_l1c). Untrained: deterministic
 * random weights, same construction as kernels/nn_models.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/reflectance.h"
#include "io/s2/scene.h"
#include "pipeline/boa/infer.h"

#define L1C_IN CC_NBANDS
#define L2A_OUT (CC_NBANDS - 1)

typedef struct {
    uint64_t s;
} lcg;

/* Uniform in [-1, 1). */
static float lcg_uniform(lcg *r)
{
    r->s = r->s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((double)(r->s >> 40) / (double)(1u << 23) - 1.0);
}

/* Adds a conv2d with He-uniform weights; returns its index or -1. */
static int add_conv(cc_nn_model *m, lcg *r, const char *name, int in, int cin, int cout, int k,
                    cc_act act)
{
    const size_t nw = (size_t)cout * (size_t)(k * k) * (size_t)cin;
    float *w = cc_malloc3(nw, sizeof(float), 1);
    float b[CC_NN_MAX_CHANNELS];
    cc_nn_node n;
    if (!w)
        return -1;
    const float bound = sqrtf(6.0f / (float)(k * k * cin)) * 0.7f;
    for (size_t i = 0; i < nw; i++)
        w[i] = bound * lcg_uniform(r);
    for (int i = 0; i < cout; i++)
        b[i] = 0.05f * lcg_uniform(r);
    memset(&n, 0, sizeof n);
    n.op = CC_OP_CONV2D;
    snprintf(n.name, sizeof n.name, "%s", name);
    n.ninputs = 1;
    n.inputs[0] = in;
    n.cout = cout;
    n.kernel = k;
    n.stride = 1;
    n.pad = CC_PAD_ZERO;
    n.act = act;
    n.weight = w;
    n.bias = b;
    int idx = cc_nn_model_add(m, &n);
    free(w);
    return idx;
}

static int add_input(cc_nn_model *m, double dn_offset)
{
    cc_nn_input_desc *d = &m->input;
    cc_nn_node n;
    d->nchannels = L1C_IN;
    d->dn_offset = dn_offset;
    d->quantification = CC_REFL_QUANT;
    for (int c = 0; c < L1C_IN; c++) {
        snprintf(d->band[c], sizeof d->band[c], "%s", cc_band_names[c]);
        d->resolution_m[c] = cc_band_resolution[c];
        d->mean[c] = 0.10f + 0.01f * (float)c;
        d->std[c] = 0.08f;
    }
    memset(&n, 0, sizeof n);
    n.op = CC_OP_INPUT;
    snprintf(n.name, sizeof n.name, "input");
    n.in_channels = L1C_IN;
    return cc_nn_model_add(m, &n);
}

static int add_output(cc_nn_model *m, int in)
{
    float scale[L2A_OUT], shift[L2A_OUT];
    cc_nn_node n;
    memset(&n, 0, sizeof n);
    n.op = CC_OP_OUTPUT;
    snprintf(n.name, sizeof n.name, "output");
    n.ninputs = 1;
    n.inputs[0] = in;
    for (int c = 0; c < CC_NN_MAX_IO; c++)
        n.residual_channel[c] = -1;
    for (int c = 0; c < L2A_OUT; c++) {
        scale[c] = 0.02f;
        shift[c] = -0.01f;
        n.residual_channel[c] = c < CC_B10 ? c : c + 1; /* L2A drops B10 */
    }
    n.scale = scale;
    n.shift = shift;
    n.out_dn_offset = CC_REFL_DN_OFFSET_PB04;
    return cc_nn_model_add(m, &n);
}

cc_status cc_infer_model_l1c(char which, unsigned seed, double dn_offset, cc_nn_model *m)
{
    cc_status st = CC_ERR_INTERNAL;
    lcg r = {(uint64_t)seed * 0x9E3779B97F4A7C15ULL + 777u};
    int x = -1, x1;
    cc_nn_node add;
    cc_nn_model_init(m);
    if (which != 'A' && which != 'B') {
        st = cc_error_set(CC_ERR_ARG, "infer model '%c' unknown (A or B)", which);
        goto out;
    }
    if ((x = add_input(m, dn_offset)) < 0)
        goto out;
    if (which == 'A') {
        if ((x = add_conv(m, &r, "fc1", x, L1C_IN, 64, 1, CC_ACT_RELU)) < 0 ||
            (x = add_conv(m, &r, "fc2", x, 64, 64, 1, CC_ACT_RELU)) < 0 ||
            (x = add_conv(m, &r, "fc3", x, 64, L2A_OUT, 1, CC_ACT_NONE)) < 0)
            goto out;
    } else {
        if ((x = add_conv(m, &r, "conv1", x, L1C_IN, 32, 3, CC_ACT_RELU)) < 0)
            goto out;
        x1 = x;
        if ((x = add_conv(m, &r, "conv2", x, 32, 32, 3, CC_ACT_RELU)) < 0 ||
            (x = add_conv(m, &r, "conv3", x, 32, 32, 3, CC_ACT_NONE)) < 0)
            goto out;
        memset(&add, 0, sizeof add);
        add.op = CC_OP_ADD;
        snprintf(add.name, sizeof add.name, "res");
        add.ninputs = 2;
        add.inputs[0] = x;
        add.inputs[1] = x1;
        add.act = CC_ACT_RELU;
        if ((x = cc_nn_model_add(m, &add)) < 0 ||
            (x = add_conv(m, &r, "head", x, 32, L2A_OUT, 1, CC_ACT_NONE)) < 0)
            goto out;
    }
    if (add_output(m, x) < 0)
        goto out;
    st = cc_nn_model_finalize(m);
    if (st == CC_OK) {
        char prov[128];
        snprintf(prov, sizeof prov, "clearcube full-tile benchmark model %c (13 L1C -> 12 L2A, "
                 "untrained), seed %u", which, seed);
        m->provenance = cc_malloc3(strlen(prov) + 1, 1, 1);
        if (m->provenance)
            memcpy(m->provenance, prov, strlen(prov) + 1);
    }
out:
    if (st == CC_ERR_INTERNAL && x < 0 && cc_error_status() != CC_OK)
        st = cc_error_status(); /* a failed cc_nn_model_add */
    if (st != CC_OK)
        cc_nn_model_free(m);
    return st;
}
