/* Helpers of the training tests (tests/train): building small models in code. */
#ifndef CC_TESTS_TRAIN_TESTLIB_H
#define CC_TESTS_TRAIN_TESTLIB_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/nn.h"
#include "kernels/train/train.h"

typedef struct {
    uint64_t s;
} tl_rng;

/* uniform in [-1, 1) */
static inline float tl_uniform(tl_rng *r)
{
    r->s = r->s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((double)(r->s >> 40) / (double)(1u << 23) - 1.0);
}

static inline int tl_input(cc_nn_model *m, int nin, tl_rng *r)
{
    cc_nn_input_desc *d = &m->input;
    d->nchannels = nin;
    d->dn_offset = -1000.0;
    d->quantification = 10000.0;
    for (int c = 0; c < nin; c++) {
        snprintf(d->band[c], sizeof d->band[c], "C%02d", c);
        d->resolution_m[c] = 10;
        d->mean[c] = 0.1f + 0.05f * tl_uniform(r);
        d->std[c] = 0.15f + 0.05f * tl_uniform(r);
    }
    cc_nn_node n;
    memset(&n, 0, sizeof n);
    n.op = CC_OP_INPUT;
    snprintf(n.name, sizeof n.name, "input");
    n.in_channels = nin;
    return cc_nn_model_add(m, &n);
}

static inline int tl_conv(cc_nn_model *m, tl_rng *r, const char *name, int op, int in, int cout,
                          int k, int stride, cc_pad pad, cc_act act, int with_bias)
{
    const int cin = m->nodes[in].cout;
    const int taps = op == CC_OP_CONV2D ? k * k : k;
    const size_t nw = (size_t)cout * (size_t)taps * (size_t)cin;
    float *w = malloc(nw * sizeof(float)), b[CC_NN_MAX_CHANNELS];
    const float bound = sqrtf(3.0f / (float)(taps * cin));
    for (size_t i = 0; i < nw; i++)
        w[i] = bound * tl_uniform(r);
    for (int i = 0; i < cout; i++)
        b[i] = 0.2f * tl_uniform(r);
    cc_nn_node n;
    memset(&n, 0, sizeof n);
    n.op = (cc_op_type)op;
    snprintf(n.name, sizeof n.name, "%s", name);
    n.ninputs = 1;
    n.inputs[0] = in;
    n.cout = cout;
    n.kernel = k;
    n.stride = stride;
    n.pad = pad;
    n.act = act;
    n.alpha = 0.1f;
    n.weight = w;
    n.bias = with_bias ? b : NULL;
    int idx = cc_nn_model_add(m, &n);
    free(w);
    return idx;
}

static inline int tl_affine(cc_nn_model *m, tl_rng *r, const char *name, int in, cc_act act)
{
    const int c = m->nodes[in].cout;
    float sc[CC_NN_MAX_CHANNELS], sh[CC_NN_MAX_CHANNELS];
    for (int i = 0; i < c; i++) {
        sc[i] = 1.0f + 0.5f * tl_uniform(r);
        sh[i] = 0.3f * tl_uniform(r);
    }
    cc_nn_node n;
    memset(&n, 0, sizeof n);
    n.op = CC_OP_AFFINE;
    snprintf(n.name, sizeof n.name, "%s", name);
    n.ninputs = 1;
    n.inputs[0] = in;
    n.act = act;
    n.alpha = 0.1f;
    n.scale = sc;
    n.shift = sh;
    return cc_nn_model_add(m, &n);
}

/* op with 1..4 inputs (b, c, d < 0: absent) */
static inline int tl_op(cc_nn_model *m, int op, const char *name, cc_act act, int a, int b, int c)
{
    cc_nn_node n;
    memset(&n, 0, sizeof n);
    n.op = (cc_op_type)op;
    snprintf(n.name, sizeof n.name, "%s", name);
    n.inputs[n.ninputs++] = a;
    if (b >= 0)
        n.inputs[n.ninputs++] = b;
    if (c >= 0)
        n.inputs[n.ninputs++] = c;
    n.act = act;
    n.alpha = 0.1f;
    return cc_nn_model_add(m, &n);
}

/* Output node: scale/shift random, residual channel c -> resid[c] (may be NULL: none). */
static inline int tl_output(cc_nn_model *m, tl_rng *r, int in, const int *resid)
{
    const int c = m->nodes[in].cout;
    float sc[CC_NN_MAX_IO], sh[CC_NN_MAX_IO];
    cc_nn_node n;
    memset(&n, 0, sizeof n);
    n.op = CC_OP_OUTPUT;
    snprintf(n.name, sizeof n.name, "output");
    n.ninputs = 1;
    n.inputs[0] = in;
    for (int i = 0; i < CC_NN_MAX_IO; i++)
        n.residual_channel[i] = i < c && resid ? resid[i] : -1;
    for (int i = 0; i < c; i++) {
        sc[i] = 0.5f + 0.2f * tl_uniform(r);
        sh[i] = 0.1f * tl_uniform(r);
    }
    n.scale = sc;
    n.shift = sh;
    return cc_nn_model_add(m, &n);
}

#endif
