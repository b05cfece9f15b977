/* clearcube: the network runtime, backend independent part (issue 3): names,
 * model builder, receptive field, execution plan (fused groups, buffer slots),
 * backend registry and cc_nn_run. See kernels/nn.h and kernels/backend-impl.h. */
#include "kernels/nn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "core/alloc.h"
#include "core/error.h"
#include "core/reflectance.h"
#include "kernels/backend-impl.h"
#include "kernels/nn_canon.h"

/* ---- names ---- */

static const char *const op_names[CC_OP_COUNT] = {
    "input", "conv2d", "affine", "act", "add", "concat", "avgpool2", "maxpool2",
    "upsample2_nearest", "upsample2_bilinear", "conv1d_time", "output",
};
static const char *const act_names[] = {"none", "relu", "leaky_relu", "silu", "sigmoid"};
#define N_ACTS ((int)(sizeof act_names / sizeof act_names[0]))
static const char *const pad_names[] = {"zero", "reflect"};
#define N_PADS ((int)(sizeof pad_names / sizeof pad_names[0]))

const char *cc_op_name(cc_op_type op)
{
    return (op >= 0 && op < CC_OP_COUNT) ? op_names[op] : "?";
}

/* Index of name in names[0..n), -1 if absent (or NULL). */
static int name_index(const char *const *names, int n, const char *name)
{
    for (int i = 0; name && i < n; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

int cc_op_parse(const char *name)
{
    return name_index(op_names, CC_OP_COUNT, name);
}

const char *cc_act_name(cc_act a)
{
    return ((int)a >= 0 && (int)a < N_ACTS) ? act_names[a] : "?";
}

int cc_act_parse(const char *name)
{
    return name_index(act_names, N_ACTS, name);
}

const char *cc_pad_name(cc_pad p)
{
    return ((int)p >= 0 && (int)p < N_PADS) ? pad_names[p] : "?";
}

int cc_pad_parse(const char *name)
{
    return name_index(pad_names, N_PADS, name);
}

/* ---- model builder ---- */

void cc_nn_model_init(cc_nn_model *m)
{
    memset(m, 0, sizeof *m);
    m->output_node = -1;
    m->size_multiple = 1;
}

static void node_free_params(cc_nn_node *n)
{
    free(n->weight);
    free(n->bias);
    free(n->scale);
    free(n->shift);
    n->weight = n->bias = n->scale = n->shift = NULL;
}

void cc_nn_model_free(cc_nn_model *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->nnodes; i++)
        node_free_params(&m->nodes[i]);
    free(m->nodes);
    free(m->provenance);
    cc_nn_model_init(m);
}

static int n_inputs_ok(cc_op_type op, int n)
{
    switch (op) {
    case CC_OP_INPUT: return n == 0;
    case CC_OP_ADD: return n == 2;
    case CC_OP_CONCAT: return n >= 2 && n <= CC_NN_MAX_INPUTS;
    default: return n == 1;
    }
}

/* Downsampling level of every node 0..n-1 (2^level input pixels per node
 * pixel), from their inputs; the nodes must have passed cc_nn_model_add. */
static int node_level(const cc_nn_model *m, const int *level, int i)
{
    const cc_nn_node *n = &m->nodes[i];
    if (n->op == CC_OP_INPUT)
        return 0;
    int l = level[n->inputs[0]];
    switch (n->op) {
    case CC_OP_CONV2D: return n->stride == 2 ? l + 1 : l;
    case CC_OP_AVGPOOL2:
    case CC_OP_MAXPOOL2: return l + 1;
    case CC_OP_UPSAMPLE2_NEAREST:
    case CC_OP_UPSAMPLE2_BILINEAR: return l - 1;
    default: return l;
    }
}

static float *dup_floats(const float *src, size_t n, cc_status *st)
{
    float *p = cc_malloc3(n, sizeof(float), 1);
    if (!p) {
        *st = CC_ERR_NOMEM;
        return NULL;
    }
    memcpy(p, src, n * sizeof(float));
    return p;
}

/* Checks node `in` (to become node m->nnodes) against the model so far and
 * fills the derived fields of `n` (cout). Returns CC_OK or sets the error. */
static cc_status check_node(const cc_nn_model *m, const cc_nn_node *in, cc_nn_node *n, int *cin_out)
{
    const int idx = m->nnodes;
    const char *nm = in->name;
    if ((int)in->op < 0 || in->op >= CC_OP_COUNT)
        return cc_error_set(CC_ERR_ARG, "nn node %d '%s': unknown op %d", idx, nm, (int)in->op);
    const char *op = cc_op_name(in->op);
    if (!n_inputs_ok(in->op, in->ninputs))
        return cc_error_set(CC_ERR_ARG, "nn node %d '%s' (%s): wrong number of inputs %d", idx, nm,
                            op, in->ninputs);
    for (int k = 0; k < in->ninputs; k++)
        if (in->inputs[k] < 0 || in->inputs[k] >= idx)
            return cc_error_set(CC_ERR_ARG,
                                "nn node %d '%s' (%s): input index %d out of range (0..%d)", idx,
                                nm, op, in->inputs[k], idx - 1);
    if ((int)in->act < 0 || (int)in->act >= N_ACTS)
        return cc_error_set(CC_ERR_ARG, "nn node %d '%s': unknown activation %d", idx, nm,
                            (int)in->act);
    if (in->pad != CC_PAD_ZERO && in->pad != CC_PAD_REFLECT)
        return cc_error_set(CC_ERR_ARG, "nn node %d '%s': unknown padding %d", idx, nm,
                            (int)in->pad);
    for (int i = 0; i < idx; i++)
        if (nm[0] && strcmp(m->nodes[i].name, nm) == 0)
            return cc_error_set(CC_ERR_ARG, "nn node %d: duplicate name '%s'", idx, nm);
    int cin = in->ninputs > 0 ? m->nodes[in->inputs[0]].cout : 0;
    switch (in->op) {
    case CC_OP_INPUT:
        if (in->in_channels < 1 || in->in_channels > CC_NN_MAX_IO)
            return cc_error_set(CC_ERR_ARG, "nn node %d '%s': input channels %d not in 1..%d",
                                idx, nm, in->in_channels, CC_NN_MAX_IO);
        for (int i = 0; i < idx; i++)
            if (m->nodes[i].op == CC_OP_INPUT)
                return cc_error_set(CC_ERR_ARG, "nn node %d '%s': a second input node", idx, nm);
        n->cout = in->in_channels;
        break;
    case CC_OP_CONV2D:
    case CC_OP_CONV1D_TIME:
        if (in->op == CC_OP_CONV2D && in->kernel != 1 && in->kernel != 3)
            return cc_error_set(CC_ERR_UNSUPPORTED,
                                "nn node %d '%s' (conv2d): unsupported kernel size %d (1 or 3)",
                                idx, nm, in->kernel);
        if (in->op == CC_OP_CONV2D && in->stride != 1 && in->stride != 2)
            return cc_error_set(CC_ERR_UNSUPPORTED,
                                "nn node %d '%s' (conv2d): unsupported stride %d (1 or 2)", idx,
                                nm, in->stride);
        if (in->op == CC_OP_CONV1D_TIME && (in->kernel < 1 || in->kernel > CC_NN_MAX_KERNEL))
            return cc_error_set(CC_ERR_UNSUPPORTED,
                                "nn node %d '%s' (conv1d_time): unsupported kernel size %d", idx,
                                nm, in->kernel);
        if (in->cout < 1 || in->cout > CC_NN_MAX_CHANNELS)
            return cc_error_set(CC_ERR_ARG, "nn node %d '%s' (%s): output channels %d not in 1..%d",
                                idx, nm, op, in->cout, CC_NN_MAX_CHANNELS);
        if (!in->weight)
            return cc_error_set(CC_ERR_ARG, "nn node %d '%s' (%s): no weights", idx, nm, op);
        n->cout = in->cout;
        break;
    case CC_OP_ADD:
        if (m->nodes[in->inputs[1]].cout != cin)
            return cc_error_set(CC_ERR_ARG, "nn node %d '%s' (add): channel mismatch %d vs %d",
                                idx, nm, cin, m->nodes[in->inputs[1]].cout);
        n->cout = cin;
        break;
    case CC_OP_CONCAT: {
        int c = 0;
        for (int k = 0; k < in->ninputs; k++)
            c += m->nodes[in->inputs[k]].cout;
        if (c > CC_NN_MAX_CHANNELS)
            return cc_error_set(CC_ERR_ARG, "nn node %d '%s' (concat): %d channels > %d", idx, nm,
                                c, CC_NN_MAX_CHANNELS);
        n->cout = c;
        break;
    }
    case CC_OP_OUTPUT:
        if (cin > CC_NN_MAX_IO)
            return cc_error_set(CC_ERR_ARG, "nn node %d '%s' (output): %d channels > %d", idx, nm,
                                cin, CC_NN_MAX_IO);
        for (int i = 0; i < idx; i++)
            if (m->nodes[i].op == CC_OP_OUTPUT)
                return cc_error_set(CC_ERR_ARG, "nn node %d '%s': a second output node", idx, nm);
        for (int c = 0; c < cin; c++)
            if (in->residual_channel[c] < -1 || in->residual_channel[c] >= CC_NN_MAX_IO)
                return cc_error_set(CC_ERR_ARG,
                                    "nn node %d '%s' (output): residual channel %d out of range",
                                    idx, nm, in->residual_channel[c]);
        n->cout = cin;
        break;
    default:
        if (in->cout > 0 && in->cout != cin && in->op != CC_OP_CONCAT)
            return cc_error_set(CC_ERR_ARG, "nn node %d '%s' (%s): channel mismatch %d vs %d", idx,
                                nm, op, in->cout, cin);
        n->cout = cin;
        break;
    }
    if (in->ninputs > 0) {
        /* spatial levels of multi-input ops must agree; no upsampling above the input grid */
        int *level = cc_malloc3((size_t)idx, sizeof(int), 1);
        if (!level)
            return CC_ERR_NOMEM;
        for (int i = 0; i < idx; i++)
            level[i] = node_level(m, level, i);
        int l0 = level[in->inputs[0]];
        cc_status st = CC_OK;
        for (int k = 1; k < in->ninputs; k++)
            if (level[in->inputs[k]] != l0) {
                st = cc_error_set(CC_ERR_ARG,
                                  "nn node %d '%s' (%s): inputs at different resolutions", idx,
                                  nm, op);
                break;
            }
        if (st == CC_OK && l0 == 0 &&
            (in->op == CC_OP_UPSAMPLE2_NEAREST || in->op == CC_OP_UPSAMPLE2_BILINEAR))
            st = cc_error_set(CC_ERR_UNSUPPORTED,
                              "nn node %d '%s' (%s): upsampling above the input resolution", idx,
                              nm, op);
        if (st == CC_OK && l0 != 0 && in->op == CC_OP_OUTPUT)
            st = cc_error_set(CC_ERR_ARG,
                              "nn node %d '%s' (output): input not at the input resolution", idx,
                              nm);
        free(level);
        if (st != CC_OK)
            return st;
    }
    *cin_out = cin;
    return CC_OK;
}

int cc_nn_model_add(cc_nn_model *m, const cc_nn_node *node)
{
    cc_nn_node n;
    int cin = 0;
    cc_status st = CC_ERR_ARG;
    int idx = -1;
    if (!m || !node) {
        cc_error_set(CC_ERR_ARG, "cc_nn_model_add: NULL argument");
        return -1;
    }
    n = *node;
    n.weight = n.bias = n.scale = n.shift = NULL;
    if (memchr(node->name, '\0', sizeof node->name) == NULL) {
        cc_error_set(CC_ERR_ARG, "nn node %d: name not terminated", m->nnodes);
        return -1;
    }
    if (check_node(m, node, &n, &cin) != CC_OK)
        return -1;
    if (!n.name[0])
        snprintf(n.name, sizeof n.name, "node%d", m->nnodes);
    st = CC_OK;
    size_t co = (size_t)n.cout;
    switch (n.op) {
    case CC_OP_CONV2D:
        n.weight = dup_floats(node->weight, co * (size_t)(n.kernel * n.kernel) * (size_t)cin, &st);
        if (node->bias && st == CC_OK)
            n.bias = dup_floats(node->bias, co, &st);
        n.scale = n.shift = NULL;
        break;
    case CC_OP_CONV1D_TIME:
        n.weight = dup_floats(node->weight, co * (size_t)n.kernel * (size_t)cin, &st);
        if (node->bias && st == CC_OK)
            n.bias = dup_floats(node->bias, co, &st);
        break;
    case CC_OP_AFFINE:
    case CC_OP_OUTPUT:
        if (node->scale)
            n.scale = dup_floats(node->scale, co, &st);
        if (node->shift && st == CC_OK)
            n.shift = dup_floats(node->shift, co, &st);
        break;
    default:
        break;
    }
    if (n.op != CC_OP_CONV2D) {
        n.stride = 1;
        if (n.op != CC_OP_CONV1D_TIME)
            n.kernel = 1;
    }
    if (n.op == CC_OP_OUTPUT)
        for (int c = n.cout; c < CC_NN_MAX_IO; c++)
            n.residual_channel[c] = -1;
    if (st != CC_OK)
        goto out;
    cc_nn_node *nodes = realloc(m->nodes, ((size_t)m->nnodes + 1) * sizeof *nodes);
    if (!nodes) {
        st = cc_error_set(CC_ERR_NOMEM, "nn model: out of memory adding node '%s'", n.name);
        goto out;
    }
    m->nodes = nodes;
    idx = m->nnodes;
    m->nodes[m->nnodes++] = n;
    m->output_node = -1; /* must be finalized again */
    memset(&n, 0, sizeof n); /* ownership moved */
out:
    node_free_params(&n);
    return st == CC_OK ? idx : -1;
}

/* Receptive field: node pixel i at scale s (input pixels per node pixel)
 * depends on input pixels [i*s - L, i*s + s - 1 + R]. */
static void receptive_field(const cc_nn_model *m, const int *level, int *L, int *R)
{
    for (int i = 0; i < m->nnodes; i++) {
        const cc_nn_node *n = &m->nodes[i];
        if (n->op == CC_OP_INPUT) {
            L[i] = R[i] = 0;
            continue;
        }
        int l = 0, r = 0;
        for (int k = 0; k < n->ninputs; k++) {
            int j = n->inputs[k];
            if (k == 0 || L[j] > l)
                l = L[j];
            if (k == 0 || R[j] > r)
                r = R[j];
        }
        int s = 1 << level[n->inputs[0]];
        switch (n->op) {
        case CC_OP_CONV2D: {
            int p = n->kernel / 2;
            l += p * s;
            r += (n->kernel - p - n->stride) * s;
            break;
        }
        case CC_OP_UPSAMPLE2_NEAREST:
            l += s / 2;
            r += s / 2;
            break;
        case CC_OP_UPSAMPLE2_BILINEAR:
            l += s;
            r += s;
            break;
        default: /* pools: (k - p - stride) = 0; per-pixel ops: unchanged */
            break;
        }
        L[i] = l;
        R[i] = r;
    }
}

cc_status cc_nn_model_finalize(cc_nn_model *m)
{
    cc_status st = CC_ERR_ARG;
    int *level = NULL, *L = NULL, *R = NULL;
    int input = -1, output = -1;
    if (!m)
        return cc_error_set(CC_ERR_ARG, "cc_nn_model_finalize: NULL model");
    for (int i = 0; i < m->nnodes; i++) {
        if (m->nodes[i].op == CC_OP_INPUT)
            input = i;
        if (m->nodes[i].op == CC_OP_OUTPUT)
            output = i;
    }
    if (input < 0 || output < 0) {
        cc_error_set(CC_ERR_ARG, "nn model: no %s node", input < 0 ? "input" : "output");
        goto out;
    }
    const cc_nn_node *in = &m->nodes[input];
    cc_nn_input_desc *d = &m->input;
    if (d->nchannels == 0) { /* not described: identity normalisation */
        d->nchannels = in->in_channels;
        for (int c = 0; c < d->nchannels; c++) {
            d->mean[c] = 0.0f;
            d->std[c] = 1.0f;
        }
    }
    if (d->quantification == 0.0)
        d->quantification = CC_REFL_QUANT;
    if (d->nchannels != in->in_channels) {
        cc_error_set(CC_ERR_ARG, "nn model: input description has %d channels, input node %d",
                     d->nchannels, in->in_channels);
        goto out;
    }
    if (!(d->quantification > 0.0)) {
        cc_error_set(CC_ERR_ARG, "nn model: quantification %g must be > 0", d->quantification);
        goto out;
    }
    for (int c = 0; c < d->nchannels; c++)
        if (!(d->std[c] > 0.0f) || !isfinite(d->mean[c])) {
            cc_error_set(CC_ERR_ARG, "nn model: channel %d normalisation mean %g std %g invalid", c,
                         (double)d->mean[c], (double)d->std[c]);
            goto out;
        }
    const cc_nn_node *o = &m->nodes[output];
    for (int c = 0; c < o->cout; c++)
        if (o->residual_channel[c] >= in->in_channels) {
            cc_error_set(CC_ERR_ARG, "nn model: output channel %d residual channel %d >= %d inputs",
                         c, o->residual_channel[c], in->in_channels);
            goto out;
        }
    level = cc_malloc3((size_t)m->nnodes, 3 * sizeof(int), 1);
    if (!level) {
        st = CC_ERR_NOMEM;
        goto out;
    }
    L = level + m->nnodes;
    R = L + m->nnodes;
    int maxlevel = 0;
    for (int i = 0; i < m->nnodes; i++) {
        level[i] = node_level(m, level, i);
        if (level[i] > maxlevel)
            maxlevel = level[i];
    }
    if (maxlevel > 16) {
        cc_error_set(CC_ERR_UNSUPPORTED, "nn model: %d downsampling levels", maxlevel);
        goto out;
    }
    receptive_field(m, level, L, R);
    m->halo = L[output] > R[output] ? L[output] : R[output];
    if (m->halo < 0)
        m->halo = 0;
    m->size_multiple = 1 << maxlevel;
    /* one content hash for models built in code and models read from files:
     * the canonical serialisation of docs/formats/model.md */
    st = cc_nn_model_hash(m, m->content_hash);
    if (st != CC_OK)
        goto out;
    m->output_node = output;
    st = CC_OK;
out:
    free(level);
    return st;
}

double cc_nn_model_flops_per_pixel(const cc_nn_model *m)
{
    double f = 0.0;
    int *level = m && m->nnodes ? cc_malloc3((size_t)m->nnodes, sizeof(int), 1) : NULL;
    if (!level)
        return 0.0;
    for (int i = 0; i < m->nnodes; i++) {
        const cc_nn_node *n = &m->nodes[i];
        level[i] = node_level(m, level, i);
        double frac = ldexp(1.0, -2 * level[i]); /* node pixels per input pixel */
        double cin = n->ninputs ? m->nodes[n->inputs[0]].cout : 0;
        double c = n->cout, per = 0.0;
        switch (n->op) {
        case CC_OP_INPUT: per = 3.0 * c; break;
        case CC_OP_CONV2D: per = 2.0 * n->kernel * n->kernel * cin * c + c + (n->act ? c : 0); break;
        case CC_OP_CONV1D_TIME: per = 2.0 * n->kernel * cin * c + c + (n->act ? c : 0); break;
        case CC_OP_AFFINE: per = 2.0 * c + (n->act ? c : 0); break;
        case CC_OP_ACT:
        case CC_OP_ADD: per = c + (n->act && n->op == CC_OP_ADD ? c : 0); break;
        case CC_OP_AVGPOOL2:
        case CC_OP_MAXPOOL2: per = 4.0 * c; break;
        case CC_OP_UPSAMPLE2_BILINEAR: per = 7.0 * c; break;
        case CC_OP_OUTPUT: per = 4.0 * c; break;
        default: break;
        }
        f += per * frac;
    }
    free(level);
    return f;
}

/* ---- decoding / encoding ---- */

int cc_nn_decode_pixel(const cc_nn_model *m, const uint16_t *dn_px, float *x)
{
    const cc_nn_input_desc *d = &m->input;
    const int nc = d->nchannels;
    for (int c = 0; c < nc; c++)
        if (dn_px[c] == 0) {
            for (int k = 0; k < nc; k++)
                x[k] = 0.0f;
            return 1;
        }
    for (int c = 0; c < nc; c++) {
        float rho = (float)cc_refl_decode(dn_px[c], d->dn_offset, d->quantification);
        x[c] = (rho - d->mean[c]) / d->std[c];
    }
    return 0;
}

void cc_nn_normalize_pixel(const cc_nn_model *m, const float *rho_px, float *x)
{
    const cc_nn_input_desc *d = &m->input;
    for (int c = 0; c < d->nchannels; c++)
        x[c] = (rho_px[c] - d->mean[c]) / d->std[c]; /* cc_nn_decode_pixel's second step */
}

/* Output reflectance of channel c before the residual: x*scale + shift. */
static float out_affine(const cc_nn_node *o, int c, float x)
{
    float v = x;
    if (o->scale)
        v *= o->scale[c];
    if (o->shift)
        v += o->shift[c];
    return v;
}

void cc_nn_encode_pixel_rho(const cc_nn_node *o, const float *rho_px, const float *x, float *out_f)
{
    for (int c = 0; c < o->cout; c++) {
        const int rc = o->residual_channel[c];
        out_f[c] = rc >= 0 ? out_affine(o, c, x[c]) + rho_px[rc] : out_affine(o, c, x[c]);
    }
}

void cc_nn_encode_pixel(const cc_nn_model *m, const cc_nn_node *o, const uint16_t *dn_px,
                        const float *x, uint16_t *out_dn, float *out_f)
{
    const cc_nn_input_desc *d = &m->input;
    const int nc = d->nchannels;
    int nodata = 0;
    for (int c = 0; c < nc; c++)
        nodata |= dn_px[c] == 0;
    for (int c = 0; c < o->cout; c++) {
        float v = out_affine(o, c, x[c]);
        int rc = o->residual_channel[c];
        if (rc >= 0)
            v += (float)cc_refl_decode(dn_px[rc], d->dn_offset, d->quantification);
        if (out_f) {
            out_f[c] = nodata ? NAN : v;
        } else {
            out_dn[c] = nodata ? CC_REFL_DN_NODATA : cc_refl_encode(v, o->out_dn_offset, CC_NN_OUT_QUANT);
        }
    }
}

/* ---- plan ---- */

static int is_pixel_op(const cc_nn_node *n)
{
    return (n->op == CC_OP_CONV2D && n->kernel == 1 && n->stride == 1) ||
           n->op == CC_OP_AFFINE || n->op == CC_OP_ACT;
}

static int is_spatial_conv(const cc_nn_node *n)
{
    return n->op == CC_OP_CONV2D && !(n->kernel == 1 && n->stride == 1);
}

static cc_status plan_shapes(const cc_nn_model *m, cc_nn_plan *p)
{
    for (int i = 0; i < m->nnodes; i++) {
        const cc_nn_node *n = &m->nodes[i];
        int *s = p->shape[i];
        if (n->op == CC_OP_INPUT) {
            s[0] = p->t;
            s[1] = p->h;
            s[2] = p->w;
            s[3] = n->cout;
            continue;
        }
        const int *a = p->shape[n->inputs[0]];
        s[0] = a[0];
        s[1] = a[1];
        s[2] = a[2];
        s[3] = n->cout;
        if (!p->live[i])
            continue;
        switch (n->op) {
        case CC_OP_CONV2D: {
            int pad = n->kernel / 2;
            if (n->pad == CC_PAD_REFLECT && pad > 0 && (a[1] < 2 || a[2] < 2))
                return cc_error_set(CC_ERR_ARG,
                                    "nn node '%s': reflect padding needs H, W >= 2 (got %dx%d)",
                                    n->name, a[1], a[2]);
            s[1] = (a[1] + 2 * pad - n->kernel) / n->stride + 1;
            s[2] = (a[2] + 2 * pad - n->kernel) / n->stride + 1;
            break;
        }
        case CC_OP_AVGPOOL2:
        case CC_OP_MAXPOOL2:
            if (a[1] % 2 || a[2] % 2)
                return cc_error_set(CC_ERR_ARG, "nn node '%s' (%s): H, W must be even (got %dx%d)",
                                    n->name, cc_op_name(n->op), a[1], a[2]);
            s[1] = a[1] / 2;
            s[2] = a[2] / 2;
            break;
        case CC_OP_UPSAMPLE2_NEAREST:
        case CC_OP_UPSAMPLE2_BILINEAR:
            s[1] = a[1] * 2;
            s[2] = a[2] * 2;
            break;
        case CC_OP_ADD:
        case CC_OP_CONCAT:
            for (int k = 1; k < n->ninputs; k++) {
                const int *b = p->shape[n->inputs[k]];
                if (b[0] != a[0] || b[1] != a[1] || b[2] != a[2] ||
                    (n->op == CC_OP_ADD && b[3] != a[3]))
                    return cc_error_set(CC_ERR_ARG,
                                        "nn node '%s' (%s): input shapes differ (%dx%dx%d vs "
                                        "%dx%dx%d)",
                                        n->name, cc_op_name(n->op), a[1], a[2], a[3], b[1], b[2],
                                        b[3]);
            }
            break;
        case CC_OP_OUTPUT:
            if (a[1] != p->h || a[2] != p->w)
                return cc_error_set(CC_ERR_ARG,
                                    "nn model: output %dx%d differs from the window %dx%d", a[1],
                                    a[2], p->h, p->w);
            break;
        default:
            break;
        }
    }
    return CC_OK;
}

static void plan_groups(const cc_nn_model *m, cc_nn_plan *p, const int *consumer, int *group_of)
{
    for (int i = 0; i < m->nnodes; i++) {
        if (!p->live[i] || group_of[i] >= 0)
            continue;
        const cc_nn_node *n = &m->nodes[i];
        cc_nn_group *g = &p->groups[p->ngroups];
        memset(g, 0, sizeof *g);
        g->node[g->nnodes++] = i;
        int cur = i;
        int c = consumer[i];
        if (n->op == CC_OP_INPUT && c >= 0 && is_spatial_conv(&m->nodes[c]) && !p->unfused) {
            g->kind = CC_NN_GROUP_CONV;
            g->node[g->nnodes++] = c;
            cur = c;
        } else if (is_spatial_conv(n)) {
            g->kind = CC_NN_GROUP_CONV;
        } else if (n->op == CC_OP_INPUT || n->op == CC_OP_OUTPUT || is_pixel_op(n)) {
            g->kind = CC_NN_GROUP_PIXEL;
        } else {
            g->kind = CC_NN_GROUP_SINGLE;
        }
        if (g->kind != CC_NN_GROUP_SINGLE && !p->unfused) {
            while (m->nodes[cur].op != CC_OP_OUTPUT && g->nnodes < CC_NN_GROUP_MAX_NODES) {
                int nx = consumer[cur];
                if (nx < 0)
                    break;
                const cc_nn_node *x = &m->nodes[nx];
                int ok = g->kind == CC_NN_GROUP_PIXEL
                             ? (is_pixel_op(x) || x->op == CC_OP_OUTPUT)
                             : (x->op == CC_OP_AFFINE || x->op == CC_OP_ACT);
                if (!ok)
                    break;
                g->node[g->nnodes++] = nx;
                cur = nx;
            }
        }
        const cc_nn_node *first = &m->nodes[g->node[0]];
        g->reads_dn = first->op == CC_OP_INPUT;
        g->ninputs = first->ninputs;
        for (int k = 0; k < first->ninputs; k++)
            g->inputs[k] = first->inputs[k];
        g->writes_out = m->nodes[cur].op == CC_OP_OUTPUT;
        g->result = g->writes_out ? -1 : cur;
        for (int k = 0; k < g->nnodes; k++)
            group_of[g->node[k]] = p->ngroups;
        p->ngroups++;
    }
}

static cc_status plan_slots(cc_nn_plan *p, int *last_use, int *slot_free)
{
    for (int i = 0; i < p->nnodes; i++)
        last_use[i] = -1;
    for (int gi = 0; gi < p->ngroups; gi++)
        for (int k = 0; k < p->groups[gi].ninputs; k++)
            last_use[p->groups[gi].inputs[k]] = gi;
    p->nslots = 0;
    for (int gi = 0; gi < p->ngroups; gi++) {
        const cc_nn_group *g = &p->groups[gi];
        if (g->result >= 0) {
            size_t need = cc_nn_plan_numel(p, g->result);
            int best = -1, largest = -1;
            for (int s = 0; s < p->nslots; s++) {
                if (!slot_free[s])
                    continue;
                if (p->slot_floats[s] >= need &&
                    (best < 0 || p->slot_floats[s] < p->slot_floats[best]))
                    best = s;
                if (largest < 0 || p->slot_floats[s] > p->slot_floats[largest])
                    largest = s;
            }
            if (best < 0)
                best = largest;
            if (best < 0)
                best = p->nslots++;  /* arrays are sized for one slot per group */
            if (p->slot_floats[best] < need)
                p->slot_floats[best] = need;
            slot_free[best] = 0;
            p->node_slot[g->result] = best;
            if (last_use[g->result] < 0) /* unused result (cannot happen for live nodes) */
                slot_free[best] = 1;
        }
        for (int k = 0; k < g->ninputs; k++) {
            int in = g->inputs[k];
            if (last_use[in] == gi && p->node_slot[in] >= 0)
                slot_free[p->node_slot[in]] = 1;
        }
    }
    p->total_floats = 0;
    for (int s = 0; s < p->nslots; s++) {
        if (p->total_floats + p->slot_floats[s] < p->total_floats)
            return cc_error_set(CC_ERR_NOMEM, "nn plan: working memory overflows");
        p->total_floats += p->slot_floats[s];
    }
    return CC_OK;
}

size_t cc_nn_plan_numel(const cc_nn_plan *plan, int n)
{
    const int *s = plan->shape[n];
    return (size_t)s[0] * (size_t)s[1] * (size_t)s[2] * (size_t)s[3];
}

void cc_nn_plan_free(cc_nn_plan *plan)
{
    if (!plan)
        return;
    free(plan->shape);
    free(plan->live);
    free(plan->groups);
    free(plan->node_slot);
    free(plan->slot_floats);
    memset(plan, 0, sizeof *plan);
}

/* Unfused plans: node n's tensor in slot n, kept to the end (training reads
 * every activation after the forward pass). */
static void plan_slots_unfused(cc_nn_plan *p)
{
    p->nslots = p->nnodes;
    p->total_floats = 0;
    for (int i = 0; i < p->nnodes; i++) {
        p->node_slot[i] = p->live[i] ? i : -1;
        p->slot_floats[i] = p->live[i] ? cc_nn_plan_numel(p, i) : 0;
        p->total_floats += p->slot_floats[i];
    }
    for (int gi = 0; gi < p->ngroups; gi++)
        if (p->groups[gi].writes_out) /* the output node's tensor is the caller's output */
            p->node_slot[p->groups[gi].node[0]] = -1;
}

static cc_status plan_make(const cc_nn_model *m, int t, int h, int w, int unfused, cc_nn_plan *p)
{
    cc_status st = CC_ERR_NOMEM;
    int *work = NULL;
    memset(p, 0, sizeof *p);
    if (!m || m->output_node < 0 || m->output_node >= m->nnodes)
        return cc_error_set(CC_ERR_ARG, "nn plan: model not finalized");
    if (t < 1 || h < 1 || w < 1)
        return cc_error_set(CC_ERR_ARG, "nn plan: bad window %dx%dx%d", t, h, w);
    const size_t n = (size_t)m->nnodes;
    p->t = t;
    p->h = h;
    p->w = w;
    p->nnodes = m->nnodes;
    p->unfused = unfused;
    p->shape = cc_malloc3(n, sizeof *p->shape, 1);
    p->live = cc_calloc3(n, sizeof(int), 1);
    p->groups = cc_malloc3(n, sizeof *p->groups, 1);
    p->node_slot = cc_malloc3(n, sizeof(int), 1);
    p->slot_floats = cc_calloc3(n, sizeof(size_t), 1);
    work = cc_malloc3(n, 4 * sizeof(int), 1);
    if (!p->shape || !p->live || !p->groups || !p->node_slot || !p->slot_floats || !work)
        goto out;
    int *nuse = work, *consumer = work + n, *group_of = work + 2 * n, *slot_free = work + 3 * n;
    /* liveness: backwards from the output */
    p->live[m->output_node] = 1;
    for (int i = m->nnodes - 1; i >= 0; i--)
        if (p->live[i])
            for (int k = 0; k < m->nodes[i].ninputs; k++)
                p->live[m->nodes[i].inputs[k]] = 1;
    /* consumer[i]: the single live consumer of i when i has exactly one use, else -1 */
    for (size_t i = 0; i < n; i++) {
        nuse[i] = 0;
        consumer[i] = -1;
        group_of[i] = -1;
        slot_free[i] = 1;
        p->node_slot[i] = -1;
    }
    for (int i = 0; i < m->nnodes; i++)
        if (p->live[i])
            for (int k = 0; k < m->nodes[i].ninputs; k++) {
                int j = m->nodes[i].inputs[k];
                nuse[j]++;
                consumer[j] = i;
            }
    for (size_t i = 0; i < n; i++)
        if (nuse[i] != 1 || m->nodes[consumer[i]].ninputs != 1)
            consumer[i] = -1;
    st = plan_shapes(m, p);
    if (st != CC_OK)
        goto out;
    plan_groups(m, p, consumer, group_of);
    if (unfused)
        plan_slots_unfused(p);
    else
        st = plan_slots(p, group_of, slot_free);
out:
    free(work);
    if (st != CC_OK)
        cc_nn_plan_free(p);
    return st;
}

cc_status cc_nn_plan_make(const cc_nn_model *m, int t, int h, int w, cc_nn_plan *p)
{
    return plan_make(m, t, h, w, 0, p);
}

cc_status cc_nn_plan_make_unfused(const cc_nn_model *m, int t, int h, int w, cc_nn_plan *p)
{
    return plan_make(m, t, h, w, 1, p);
}

/* ---- backends and execution ---- */

/* cc_nn_backend_cpu and cc_nn_backend_cuda are defined by the backends themselves
 * (kernels/cpu/ref.c; kernels/cuda/nn_cuda.cu, or kernels/cuda/nn_cuda_none.c in a
 * build without CUDA), so this file never calls into cpu/ or cuda/: the backends
 * use kernels/, not the other way round (docs/architecture.md). */

const char *cc_nn_backend_name(const cc_nn_backend *b)
{
    return b ? b->name : "none";
}

const char *cc_nn_backend_detail(const cc_nn_backend *b)
{
    return b && b->detail ? b->detail(b) : "";
}

static cc_status nn_run(const cc_nn_backend *b, const cc_nn_model *m, int t, int h, int w,
                        const uint16_t *dn, void *out, int out_float)
{
    cc_status st = CC_ERR_ARG;
    cc_nn_plan plan;
    memset(&plan, 0, sizeof plan);
    if (!b || !m || !dn || !out) {
        cc_error_set(CC_ERR_ARG, "cc_nn_run: NULL argument");
        goto out;
    }
    if (m->output_node < 0) {
        cc_error_set(CC_ERR_ARG, "cc_nn_run: model not finalized");
        goto out;
    }
    if (t < 1 || h < 1 || w < 1 || h % m->size_multiple || w % m->size_multiple) {
        cc_error_set(CC_ERR_ARG, "cc_nn_run: window %dx%dx%d: H and W must be positive multiples "
                     "of %d", t, h, w, m->size_multiple);
        goto out;
    }
    st = cc_nn_plan_make(m, t, h, w, &plan);
    if (st != CC_OK)
        goto out;
    for (int i = 0; i < m->nnodes; i++)
        if (plan.live[i] && !b->supports(b, m, i)) {
            const cc_nn_node *n = &m->nodes[i];
            st = cc_error_set(CC_ERR_UNSUPPORTED,
                              "nn backend %s: node '%s' (%s, kernel %d, stride %d) not supported",
                              b->name, n->name, cc_op_name(n->op), n->kernel, n->stride);
            goto out;
        }
    st = b->run(b, m, &plan, dn, out, out_float);
out:
    cc_nn_plan_free(&plan);
    return st;
}

cc_status cc_nn_run(const cc_nn_backend *b, const cc_nn_model *m, int t, int h, int w,
                    const uint16_t *dn, uint16_t *out)
{
    return nn_run(b, m, t, h, w, dn, out, 0);
}

cc_status cc_nn_run_float(const cc_nn_backend *b, const cc_nn_model *m, int t, int h, int w,
                          const uint16_t *dn, float *out)
{
    return nn_run(b, m, t, h, w, dn, out, 1);
}
