/* clearcube: the canonical description of a network model and its content
 * hash (docs/formats/model.md); see kernels/nn_canon.h. */
#include "kernels/nn_canon.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

int cc_nn_node_tensors(const cc_nn_node *nodes, int i, cc_nn_tensor t[2])
{
    const cc_nn_node *nd = &nodes[i];
    const size_t cin = nd->ninputs > 0 ? (size_t)nodes[nd->inputs[0]].cout : 0, co = (size_t)nd->cout;
    const size_t k = (size_t)nd->kernel;
    memset(t, 0, 2 * sizeof *t);
    switch (nd->op) {
    case CC_OP_CONV2D:
        t[0] = (cc_nn_tensor){"weight", 4, {co, k, k, cin}, 0, 0.0f};
        t[1] = (cc_nn_tensor){"bias", 1, {co}, 0, 0.0f};
        break;
    case CC_OP_CONV1D_TIME:
        t[0] = (cc_nn_tensor){"weight", 3, {co, k, cin}, 0, 0.0f};
        t[1] = (cc_nn_tensor){"bias", 1, {co}, 0, 0.0f};
        break;
    case CC_OP_AFFINE:
    case CC_OP_OUTPUT:
        t[0] = (cc_nn_tensor){"scale", 1, {co}, 0, 1.0f};
        t[1] = (cc_nn_tensor){"shift", 1, {co}, 0, 0.0f};
        break;
    default:
        return 0;
    }
    for (int j = 0; j < 2; j++) {
        t[j].count = 1;
        for (int d = 0; d < t[j].rank; d++)
            t[j].count *= t[j].dims[d];
    }
    return 2;
}

float **cc_nn_tensor_slot(cc_nn_node *nd, const cc_nn_tensor *t)
{
    if (!strcmp(t->name, "weight"))
        return &nd->weight;
    if (!strcmp(t->name, "bias"))
        return &nd->bias;
    if (!strcmp(t->name, "scale"))
        return &nd->scale;
    return &nd->shift;
}

const float *cc_nn_tensor_values(const cc_nn_node *nd, const cc_nn_tensor *t)
{
    return *cc_nn_tensor_slot((cc_nn_node *)nd, t); /* read only: the cast is never written through */
}

int cc_nn_canon_kernel(const cc_nn_node *nd)
{
    return nd->op == CC_OP_CONV2D || nd->op == CC_OP_CONV1D_TIME ? nd->kernel : 1;
}

int cc_nn_canon_stride(const cc_nn_node *nd)
{
    return nd->op == CC_OP_CONV2D ? nd->stride : 1;
}

/* The channel count node nd must have given its op and inputs (the per-op
 * part of cc_nn_check_graph). */
static cc_status derived_cout(const char *where, const cc_nn_node *nodes, const cc_nn_node *nd, int in_nchannels,
                              int *derived)
{
    const int c0 = nd->ninputs > 0 ? nodes[nd->inputs[0]].cout : 0;
    *derived = c0;
    switch (nd->op) {
    case CC_OP_INPUT:
        if (nd->in_channels < 1 || nd->in_channels > CC_NN_MAX_IO || nd->in_channels != in_nchannels)
            return cc_error_set(CC_ERR_FORMAT, "%s: node %s: in_channels %d (input has %d bands, at most %d)",
                                where, nd->name, nd->in_channels, in_nchannels, CC_NN_MAX_IO);
        *derived = nd->in_channels;
        break;
    case CC_OP_CONV2D:
    case CC_OP_CONV1D_TIME:
        if (nd->cout < 1 || nd->cout > CC_NN_MAX_CHANNELS)
            return cc_error_set(CC_ERR_FORMAT, "%s: node %s: cout %d out of range 1..%d", where, nd->name,
                                nd->cout, CC_NN_MAX_CHANNELS);
        if (nd->kernel < 1 || nd->kernel > CC_NN_MAX_KERNEL)
            return cc_error_set(CC_ERR_FORMAT, "%s: node %s: kernel %d out of range 1..%d", where, nd->name,
                                nd->kernel, CC_NN_MAX_KERNEL);
        *derived = nd->cout;
        break;
    case CC_OP_ADD:
        if (nodes[nd->inputs[1]].cout != c0)
            return cc_error_set(CC_ERR_FORMAT, "%s: node %s: add of %d and %d channels", where, nd->name, c0,
                                nodes[nd->inputs[1]].cout);
        break;
    case CC_OP_CONCAT:
        *derived = 0;
        for (int j = 0; j < nd->ninputs; j++)
            *derived += nodes[nd->inputs[j]].cout;
        if (*derived > CC_NN_MAX_CHANNELS)
            return cc_error_set(CC_ERR_FORMAT, "%s: node %s: concat of %d channels (at most %d)", where,
                                nd->name, *derived, CC_NN_MAX_CHANNELS);
        break;
    case CC_OP_OUTPUT:
        if (c0 > CC_NN_MAX_IO)
            return cc_error_set(CC_ERR_FORMAT, "%s: node %s: %d output channels (at most %d)", where, nd->name,
                                c0, CC_NN_MAX_IO);
        for (int c = 0; c < c0; c++)
            if (nd->residual_channel[c] < -1 || nd->residual_channel[c] >= in_nchannels)
                return cc_error_set(CC_ERR_FORMAT,
                                    "%s: node %s: residual channel %d of output %d is not an input band", where,
                                    nd->name, nd->residual_channel[c], c);
        break;
    default:
        break;
    }
    return CC_OK;
}

cc_status cc_nn_check_graph(const char *where, const cc_nn_node *nodes, int n, int in_nchannels)
{
    for (int i = 0; i < n; i++) {
        const cc_nn_node *nd = &nodes[i];
        int minin = 1, maxin = 1;
        if ((int)nd->op < 0 || nd->op >= CC_OP_COUNT)
            return cc_error_set(CC_ERR_FORMAT, "%s: node %d: unknown op %d", where, i, (int)nd->op);
        if (nd->op == CC_OP_INPUT)
            minin = maxin = 0;
        else if (nd->op == CC_OP_ADD)
            minin = maxin = 2;
        else if (nd->op == CC_OP_CONCAT)
            minin = 2, maxin = CC_NN_MAX_INPUTS;
        if (nd->ninputs < minin || nd->ninputs > maxin)
            return cc_error_set(CC_ERR_FORMAT, "%s: node %s: op %s takes %d..%d inputs, has %d", where,
                                nd->name, cc_op_name(nd->op), minin, maxin, nd->ninputs);
        for (int j = 0; j < nd->ninputs; j++)
            if (nd->inputs[j] < 0 || nd->inputs[j] >= i)
                return cc_error_set(CC_ERR_FORMAT, "%s: node %s: input %d is not an earlier node", where,
                                    nd->name, nd->inputs[j]);
        if ((int)nd->pad < 0 || nd->pad > CC_PAD_REFLECT)
            return cc_error_set(CC_ERR_FORMAT, "%s: node %s: unknown padding %d", where, nd->name, (int)nd->pad);
        if ((int)nd->act < 0 || nd->act > CC_ACT_SIGMOID)
            return cc_error_set(CC_ERR_FORMAT, "%s: node %s: unknown activation %d", where, nd->name, (int)nd->act);
        int derived = 0;
        cc_status st = derived_cout(where, nodes, nd, in_nchannels, &derived);
        if (st != CC_OK)
            return st;
        if (nd->cout != derived)
            return cc_error_set(CC_ERR_FORMAT, "%s: node %s: cout %d does not match its op and inputs (%d)", where,
                                nd->name, nd->cout, derived);
    }
    return CC_OK;
}

/* "N nodes, P parameters: input(16) conv2d3x3(32,relu) ... output(12)" */
char *cc_nn_model_summary(const cc_nn_model *m)
{
    size_t cap = 256 + (size_t)m->nnodes * 48, len = 0;
    char *s = malloc(cap);
    unsigned long long params = 0;
    if (!s)
        return NULL;
    for (int i = 0; i < m->nnodes; i++) {
        cc_nn_tensor t[2];
        int nt = cc_nn_node_tensors(m->nodes, i, t);
        for (int j = 0; j < nt; j++)
            params += t[j].count;
    }
    len += (size_t)snprintf(s + len, cap - len, "%d nodes, %llu parameters:", m->nnodes, params);
    for (int i = 0; i < m->nnodes && len < cap; i++) {
        const cc_nn_node *nd = &m->nodes[i];
        char k[32] = "";
        if (nd->op == CC_OP_CONV2D)
            snprintf(k, sizeof k, "%dx%d%s", nd->kernel, nd->kernel, nd->stride == 2 ? "/2" : "");
        else if (nd->op == CC_OP_CONV1D_TIME)
            snprintf(k, sizeof k, ":kt%d", nd->kernel);
        len += (size_t)snprintf(s + len, cap - len, " %s%s(%d%s%s)", cc_op_name(nd->op), k, nd->cout,
                                nd->act != CC_ACT_NONE ? "," : "", nd->act != CC_ACT_NONE ? cc_act_name(nd->act) : "");
    }
    return s;
}

/* ------------------------------------------------------------------------ */
/* content hash (canonical serialisation: docs/formats/model.md)           */

typedef struct {
    EVP_MD_CTX *ctx;
    int ok;
} nn_hasher;

static void h_bytes(nn_hasher *h, const void *p, size_t n)
{
    if (h->ok && EVP_DigestUpdate(h->ctx, p, n) != 1)
        h->ok = 0;
}

static void h_printf(nn_hasher *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void h_printf(nn_hasher *h, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (len < 0 || (size_t)len >= sizeof buf) {
        h->ok = 0;
        return;
    }
    h_bytes(h, buf, (size_t)len);
}

static uint32_t f32bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static uint64_t f64bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

/* float32 values as little-endian bytes; v == NULL means n copies of fill. */
static void h_floats(nn_hasher *h, const float *v, size_t n, float fill)
{
    unsigned char buf[4096];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u = f32bits(v ? v[i] : fill);
        buf[k++] = (unsigned char)u;
        buf[k++] = (unsigned char)(u >> 8);
        buf[k++] = (unsigned char)(u >> 16);
        buf[k++] = (unsigned char)(u >> 24);
        if (k == sizeof buf) {
            h_bytes(h, buf, k);
            k = 0;
        }
    }
    h_bytes(h, buf, k);
}

/* The "node ..." line of node i and its "tensor ..." lines + values. */
static void h_node(nn_hasher *h, const cc_nn_node *nodes, int i)
{
    const cc_nn_node *nd = &nodes[i];
    char ins[64] = "-", res[CC_NN_MAX_IO * 4 + 8] = "-";
    size_t k = 0;
    for (int j = 0; j < nd->ninputs; j++)
        k += (size_t)snprintf(ins + k, sizeof ins - k, "%s%d", j ? "," : "", nd->inputs[j]);
    if (nd->op == CC_OP_OUTPUT && nd->cout > 0) {
        k = 0;
        for (int c = 0; c < nd->cout; c++)
            k += (size_t)snprintf(res + k, sizeof res - k, "%s%d", c ? "," : "", nd->residual_channel[c]);
    }
    h_printf(h, "node %d %s %s %s %d %d %d %s %s %08" PRIx32 " %d %016" PRIx64 " %s\n", i, cc_op_name(nd->op),
             nd->name, ins, nd->cout, cc_nn_canon_kernel(nd), cc_nn_canon_stride(nd), cc_pad_name(nd->pad),
             cc_act_name(nd->act), f32bits(nd->alpha), nd->in_channels, f64bits(nd->out_dn_offset), res);
    cc_nn_tensor t[2];
    int nt = cc_nn_node_tensors(nodes, i, t);
    for (int j = 0; j < nt; j++) {
        char dims[96];
        k = 0;
        for (int d = 0; d < t[j].rank; d++)
            k += (size_t)snprintf(dims + k, sizeof dims - k, "%s%llu", d ? "x" : "",
                                  (unsigned long long)t[j].dims[d]);
        h_printf(h, "tensor %d %s %s\n", i, t[j].name, dims);
        h_floats(h, cc_nn_tensor_values(nd, &t[j]), t[j].count, t[j].fill);
    }
}

cc_status cc_nn_hash_parts(const char *where, const cc_nn_input_desc *in, const cc_nn_node *nodes, int n,
                           char hex[65])
{
    cc_status st = CC_OK;
    nn_hasher h = {EVP_MD_CTX_new(), 1};
    unsigned char dig[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;

    if (!h.ctx || EVP_DigestInit_ex(h.ctx, EVP_sha256(), NULL) != 1) {
        st = cc_error_set(CC_ERR_INTERNAL, "%s: cannot initialise SHA-256", where);
        goto out;
    }
    h_printf(&h, "clearcube-model 1\n");
    h_printf(&h, "input %d %016" PRIx64 " %016" PRIx64 "\n", in->nchannels, f64bits(in->dn_offset),
             f64bits(in->quantification));
    for (int c = 0; c < in->nchannels; c++)
        h_printf(&h, "band %d %s %d %08" PRIx32 " %08" PRIx32 "\n", c, in->band[c], in->resolution_m[c],
                 f32bits(in->mean[c]), f32bits(in->std[c]));
    h_printf(&h, "nodes %d\n", n);
    for (int i = 0; i < n; i++)
        h_node(&h, nodes, i);
    h_printf(&h, "end\n");
    if (!h.ok || EVP_DigestFinal_ex(h.ctx, dig, &dlen) != 1 || dlen != 32) {
        st = cc_error_set(CC_ERR_INTERNAL, "%s: SHA-256 of the model failed", where);
        goto out;
    }
    for (unsigned int i = 0; i < dlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", dig[i]);
    hex[64] = '\0';
out:
    EVP_MD_CTX_free(h.ctx);
    return st;
}

cc_status cc_nn_model_hash(const cc_nn_model *m, char hex[65])
{
    if (!m || m->nnodes < 1 || !m->nodes)
        return cc_error_set(CC_ERR_ARG, "model: no nodes to hash");
    cc_status st = cc_nn_check_graph("model", m->nodes, m->nnodes, m->input.nchannels);
    if (st != CC_OK)
        return st;
    return cc_nn_hash_parts("model", &m->input, m->nodes, m->nnodes, hex);
}
