/* tests/modelfile: a small model that uses every op, built with the nn.h
 * builder, with deterministic weights; and a canonical text dump of a model
 * (written independently of io/model_file.c) used to compare C and Python. */
#ifndef CC_TESTS_MF_MODEL_H
#define CC_TESTS_MF_MODEL_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "kernels/nn.h"

static uint64_t mf_rng = 0x9E3779B97F4A7C15ULL;

static inline float mf_rand(float b) /* [-b, b) */
{
    mf_rng ^= mf_rng << 13;
    mf_rng ^= mf_rng >> 7;
    mf_rng ^= mf_rng << 17;
    return (float)(((double)(mf_rng >> 11) / 9007199254740992.0 * 2.0 - 1.0) * b);
}

static inline float *mf_rand_array(size_t n, float b)
{
    float *a = malloc(n * sizeof *a + 1);
    for (size_t i = 0; i < n; i++)
        a[i] = mf_rand(b);
    return a;
}

/* Adds a node; parameter arrays are freed here (the builder copies them). */
static inline int mf_add(cc_nn_model *m, cc_nn_node *n)
{
    int idx = cc_nn_model_add(m, n);
    free(n->weight);
    free(n->bias);
    free(n->scale);
    free(n->shift);
    if (idx < 0)
        fprintf(stderr, "mf_add %s: %s\n", n->name, cc_error_message());
    return idx;
}

static inline int mf_node(cc_nn_model *m, cc_op_type op, const char *name, int nin, int i0, int i1, int i2)
{
    cc_nn_node n;
    memset(&n, 0, sizeof n);
    n.op = op;
    snprintf(n.name, sizeof n.name, "%s", name);
    n.ninputs = nin;
    n.inputs[0] = i0;
    n.inputs[1] = i1;
    n.inputs[2] = i2;
    return mf_add(m, &n);
}

static inline int mf_conv(cc_nn_model *m, cc_op_type op, const char *name, int in, int cin, int cout, int k,
                          int stride, cc_pad pad, cc_act act, float alpha)
{
    cc_nn_node n;
    memset(&n, 0, sizeof n);
    n.op = op;
    snprintf(n.name, sizeof n.name, "%s", name);
    n.ninputs = 1;
    n.inputs[0] = in;
    n.cout = cout;
    n.kernel = k;
    n.stride = stride;
    n.pad = pad;
    n.act = act;
    n.alpha = alpha;
    size_t nw = (size_t)cout * (size_t)k * (op == CC_OP_CONV2D ? (size_t)k : 1) * (size_t)cin;
    n.weight = mf_rand_array(nw, 0.5f);
    n.bias = mf_rand_array((size_t)cout, 0.1f);
    return mf_add(m, &n);
}

/* Every op: 4 bands -> ... -> 4 outputs. Returns CC_OK and a finalised m. */
static inline cc_status mf_build_every_op(cc_nn_model *m)
{
    static const char *bands[4] = {"B02", "B03", "B04", "B8A"};
    static const int res[4] = {10, 10, 10, 20};
    cc_nn_node n;
    cc_nn_model_init(m);
    m->input.nchannels = 4;
    m->input.dn_offset = -1000.0;
    m->input.quantification = 10000.0;
    for (int c = 0; c < 4; c++) {
        snprintf(m->input.band[c], sizeof m->input.band[c], "%s", bands[c]);
        m->input.resolution_m[c] = res[c];
        m->input.mean[c] = 0.1f + 0.02f * (float)c;
        m->input.std[c] = 0.05f + 0.01f * (float)c;
    }
    memset(&n, 0, sizeof n);
    n.op = CC_OP_INPUT;
    snprintf(n.name, sizeof n.name, "in");
    n.in_channels = 4;
    int in = mf_add(m, &n);
    int c1 = mf_conv(m, CC_OP_CONV2D, "enc.c1", in, 4, 8, 3, 1, CC_PAD_REFLECT, CC_ACT_LEAKY_RELU, 0.1f);
    int c2 = mf_conv(m, CC_OP_CONV2D, "enc.c2", c1, 8, 8, 3, 2, CC_PAD_ZERO, CC_ACT_SILU, 0.0f);
    memset(&n, 0, sizeof n);
    n.op = CC_OP_AFFINE;
    snprintf(n.name, sizeof n.name, "aff");
    n.ninputs = 1;
    n.inputs[0] = c2;
    n.act = CC_ACT_SIGMOID;
    n.scale = mf_rand_array(8, 1.0f);
    n.shift = mf_rand_array(8, 0.2f);
    int aff = mf_add(m, &n);
    int up = mf_node(m, CC_OP_UPSAMPLE2_NEAREST, "up_n", 1, aff, 0, 0);
    int p1 = mf_node(m, CC_OP_AVGPOOL2, "pool_avg", 1, c1, 0, 0);
    int p2 = mf_node(m, CC_OP_MAXPOOL2, "pool_max", 1, c1, 0, 0);
    int cat = mf_node(m, CC_OP_CONCAT, "cat", 3, aff, p1, p2);
    int c3 = mf_conv(m, CC_OP_CONV2D, "mid.c3", cat, 24, 8, 1, 1, CC_PAD_ZERO, CC_ACT_RELU, 0.0f);
    int upb = mf_node(m, CC_OP_UPSAMPLE2_BILINEAR, "up_b", 1, c3, 0, 0);
    int add = mf_node(m, CC_OP_ADD, "add", 2, up, upb, 0);
    memset(&n, 0, sizeof n);
    n.op = CC_OP_ACT;
    snprintf(n.name, sizeof n.name, "act");
    n.ninputs = 1;
    n.inputs[0] = add;
    n.act = CC_ACT_SILU;
    int act = mf_add(m, &n);
    int t1 = mf_conv(m, CC_OP_CONV1D_TIME, "time", act, 8, 6, 3, 1, CC_PAD_ZERO, CC_ACT_NONE, 0.0f);
    int c4 = mf_conv(m, CC_OP_CONV2D, "head", t1, 6, 4, 1, 1, CC_PAD_ZERO, CC_ACT_NONE, 0.0f);
    memset(&n, 0, sizeof n);
    n.op = CC_OP_OUTPUT;
    snprintf(n.name, sizeof n.name, "out");
    n.ninputs = 1;
    n.inputs[0] = c4;
    n.scale = mf_rand_array(4, 0.05f);
    n.shift = mf_rand_array(4, 0.01f);
    n.residual_channel[0] = 0;
    n.residual_channel[1] = 1;
    n.residual_channel[2] = -1;
    n.residual_channel[3] = 3;
    n.out_dn_offset = 1000.0;
    int out = mf_add(m, &n);
    if (in < 0 || c1 < 0 || c2 < 0 || aff < 0 || up < 0 || p1 < 0 || p2 < 0 || cat < 0 || c3 < 0 || upb < 0 ||
        add < 0 || act < 0 || t1 < 0 || c4 < 0 || out < 0)
        return CC_ERR_INTERNAL;
    m->provenance = strdup("training data: none (test model)\ncommand: mf_build_every_op");
    return cc_nn_model_finalize(m);
}

/* ---- canonical dump: one line per field, tensors as SHA-256 of their
 * little-endian float32 bytes; the Python side prints the same. ---- */

static inline uint32_t mf_f32(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline uint64_t mf_f64(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

static inline void mf_dump_tensor(FILE *fp, const char *name, const float *v, size_t n)
{
    unsigned char dig[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    for (size_t i = 0; i < n; i++) {
        uint32_t u = mf_f32(v[i]);
        unsigned char b[4] = {(unsigned char)u, (unsigned char)(u >> 8), (unsigned char)(u >> 16),
                              (unsigned char)(u >> 24)};
        EVP_DigestUpdate(ctx, b, 4);
    }
    EVP_DigestFinal_ex(ctx, dig, &dl);
    EVP_MD_CTX_free(ctx);
    fprintf(fp, "  %s %zu ", name, n);
    for (unsigned int i = 0; i < dl; i++)
        fprintf(fp, "%02x", dig[i]);
    fprintf(fp, "\n");
}

static inline void mf_dump(FILE *fp, const cc_nn_model *m)
{
    const cc_nn_input_desc *d = &m->input;
    fprintf(fp, "hash %s\n", m->content_hash);
    fprintf(fp, "input %d %016" PRIx64 " %016" PRIx64 "\n", d->nchannels, mf_f64(d->dn_offset),
            mf_f64(d->quantification));
    for (int c = 0; c < d->nchannels; c++)
        fprintf(fp, "band %s %d %08" PRIx32 " %08" PRIx32 "\n", d->band[c], d->resolution_m[c], mf_f32(d->mean[c]),
                mf_f32(d->std[c]));
    for (int i = 0; i < m->nnodes; i++) {
        const cc_nn_node *n = &m->nodes[i];
        fprintf(fp, "node %d %s %s [", i, cc_op_name(n->op), n->name);
        for (int j = 0; j < n->ninputs; j++)
            fprintf(fp, "%s%d", j ? "," : "", n->inputs[j]);
        fprintf(fp, "] cout %d k %d s %d pad %d act %s alpha %08" PRIx32, n->cout, n->kernel, n->stride, (int)n->pad,
                cc_act_name(n->act), mf_f32(n->alpha));
        if (n->op == CC_OP_INPUT)
            fprintf(fp, " in_channels %d", n->in_channels);
        if (n->op == CC_OP_OUTPUT) {
            fprintf(fp, " out_dn_offset %016" PRIx64 " residual", mf_f64(n->out_dn_offset));
            for (int c = 0; c < n->cout; c++)
                fprintf(fp, " %d", n->residual_channel[c]);
        }
        fprintf(fp, "\n");
        size_t cin = n->ninputs ? (size_t)m->nodes[n->inputs[0]].cout : 0, co = (size_t)n->cout;
        if (n->op == CC_OP_CONV2D)
            mf_dump_tensor(fp, "weight", n->weight, co * (size_t)n->kernel * (size_t)n->kernel * cin);
        if (n->op == CC_OP_CONV1D_TIME)
            mf_dump_tensor(fp, "weight", n->weight, co * (size_t)n->kernel * cin);
        if (n->bias)
            mf_dump_tensor(fp, "bias", n->bias, co);
        if (n->scale)
            mf_dump_tensor(fp, "scale", n->scale, co);
        if (n->shift)
            mf_dump_tensor(fp, "shift", n->shift, co);
    }
    fprintf(fp, "provenance %s\n", m->provenance ? m->provenance : "");
}

#endif
