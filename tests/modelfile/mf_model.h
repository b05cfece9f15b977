/* tests/modelfile: a small model that uses every op, built with the test
 * builders (tests/nn/nn_testlib.h) with deterministic weights; and a canonical
 * text dump of a model (written independently of io/model_file.c) used to
 * compare C and Python. */
#ifndef CC_TESTS_MF_MODEL_H
#define CC_TESTS_MF_MODEL_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "kernels/nn.h"
#include "nn/nn_testlib.h"

/* Every op: 4 bands -> ... -> 4 outputs, built with tests/nn/nn_testlib.h
 * (seeded: the same model every time). Returns CC_OK and a finalised m. */
static inline cc_status mf_build_every_op(cc_nn_model *m)
{
    static const char *bands[4] = {"B02", "B03", "B04", "B8A"};
    static const int res[4] = {10, 10, 10, 20};
    static const int resid[4] = {0, 1, -1, 3};
    tl_seed(0x9E3779B97F4A7C15ULL);
    int in = tl_input(m, 4);
    for (int c = 0; c < 4; c++) {
        snprintf(m->input.band[c], sizeof m->input.band[c], "%s", bands[c]);
        m->input.resolution_m[c] = res[c];
    }
    int c1 = tl_layer(m, "enc.c1", CC_OP_CONV2D, in, 8, 3, 1, CC_PAD_REFLECT, CC_ACT_LEAKY_RELU, 0.1f);
    int c2 = tl_layer(m, "enc.c2", CC_OP_CONV2D, c1, 8, 3, 2, CC_PAD_ZERO, CC_ACT_SILU, 0.0f);
    int aff = tl_affine(m, "aff", c2, CC_ACT_SIGMOID);
    int up = tl_opv(m, "up_n", CC_OP_UPSAMPLE2_NEAREST, CC_ACT_NONE, 1, &aff);
    int p1 = tl_opv(m, "pool_avg", CC_OP_AVGPOOL2, CC_ACT_NONE, 1, &c1);
    int p2 = tl_opv(m, "pool_max", CC_OP_MAXPOOL2, CC_ACT_NONE, 1, &c1);
    int cat = tl_opv(m, "cat", CC_OP_CONCAT, CC_ACT_NONE, 3, (const int[]){aff, p1, p2});
    int c3 = tl_layer(m, "mid.c3", CC_OP_CONV2D, cat, 8, 1, 1, CC_PAD_ZERO, CC_ACT_RELU, 0.0f);
    int upb = tl_opv(m, "up_b", CC_OP_UPSAMPLE2_BILINEAR, CC_ACT_NONE, 1, &c3);
    int add = tl_opv(m, "add", CC_OP_ADD, CC_ACT_NONE, 2, (const int[]){up, upb});
    int act = tl_opv(m, "act", CC_OP_ACT, CC_ACT_SILU, 1, &add);
    int t1 = tl_layer(m, "time", CC_OP_CONV1D_TIME, act, 6, 3, 1, CC_PAD_ZERO, CC_ACT_NONE, 0.0f);
    int c4 = tl_layer(m, "head", CC_OP_CONV2D, t1, 4, 1, 1, CC_PAD_ZERO, CC_ACT_NONE, 0.0f);
    int out = tl_output_resid(m, c4, resid, 1000.0);
    if (in < 0 || c1 < 0 || c2 < 0 || aff < 0 || up < 0 || p1 < 0 || p2 < 0 || cat < 0 || c3 < 0 || upb < 0 ||
        add < 0 || act < 0 || t1 < 0 || c4 < 0 || out < 0) {
        fprintf(stderr, "mf_build_every_op: %s\n", cc_error_message());
        return CC_ERR_INTERNAL;
    }
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
