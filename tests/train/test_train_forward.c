/* The training forward pass is the inference engine's (issue 12): for
 *   - an every-op net (3x3 convs with reflect and zero padding, stride 2,
 *     1x1 conv with and without bias, affine, act, add, concat, max/avg
 *     pooling, nearest and bilinear upsampling, conv1d_time, output with
 *     residual channels; SiLU, LeakyReLU, ReLU and sigmoid),
 *   - the BoA per-pixel model (pipeline/boa, cc_boa_model_build: 1x1 convs),
 *   - the Cloudless temporal model (pipeline/cloudless, cc_cl_model_build:
 *     1x1 conv, conv1d_time over the days, 1x1 convs),
 * every activation of cc_train_forward (cc_train_activation), before and after
 * one training step (loss, backward, AdamW), must equal to the last bit
 * (memcmp) what cc_nn_run_float on the CPU backend computes for the same
 * weights and the DN the reflectance was decoded from. The engine's value of
 * node n comes from a model made of nodes 0..n that exposes n as its output
 * (nearest upsampling back to the input grid when n is pooled, an identity
 * output encoding), so the engine runs its own fused plan, not the trainer's. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/train/train.h"
#include "nn/nn_testlib.h"
#include "pipeline/boa/boa.h"
#include "pipeline/cloudless/cloudless.h"
#include "testutil.h"

/* A model of nodes 0..node of m whose output is node n, upsampled (nearest,
 * exact copies) `level` times to the input grid, with an identity encoding
 * (no scale, shift or residual: the output float is the value itself). */
static cc_status expose_node(const cc_nn_model *m, int node, int level, cc_nn_model *s)
{
    cc_nn_model_init(s);
    s->input = m->input;
    int x = 0;
    for (int i = 0; i <= node && x >= 0; i++)
        x = cc_nn_model_add(s, &m->nodes[i]);
    for (int l = 0; l < level && x >= 0; l++)
        x = cc_nn_add_op(s, NULL, CC_OP_UPSAMPLE2_NEAREST, CC_ACT_NONE, 0.0f, 1, &x);
    if (x >= 0)
        x = cc_nn_add_output(s, "expose", x, NULL, NULL, NULL, 0.0);
    return x < 0 ? cc_error_status() : cc_nn_model_finalize(s);
}

/* Compares every live node's activation of the last forward of net with the
 * engine; returns the number of nodes that differ. */
static int compare_all(const char *what, cc_nn_model *m, cc_train_net *net, int t, int h, int w,
                       const uint16_t *dn)
{
    int bad_nodes = 0, checked = 0;
    for (int i = 0; i < m->nnodes; i++) {
        int sh[4];
        const float *act = cc_train_activation(net, i, sh);
        if (!act)
            continue;
        int level = 0;
        while ((sh[1] << level) < h)
            level++;
        cc_nn_model s;
        const int is_out = i == m->output_node;
        if (!is_out && expose_node(m, i, level, &s) != CC_OK) {
            fprintf(stderr, "FAIL %s: node %s: cannot expose: %s\n", what, m->nodes[i].name, cc_error_message());
            cc_test_failures++;
            bad_nodes++;
            continue;
        }
        const cc_nn_model *e = is_out ? m : &s;
        const int c = sh[3];
        float *ref = malloc((size_t)t * h * w * c * sizeof(float));
        CHECK_OK(cc_nn_run_float(cc_nn_backend_cpu(), e, t, h, w, dn, ref));
        size_t ndiff = 0, first = 0;
        for (int tt = 0; tt < sh[0]; tt++)
            for (int y = 0; y < sh[1]; y++)
                for (int xx = 0; xx < sh[2]; xx++) {
                    const float *a = act + (((size_t)tt * sh[1] + y) * sh[2] + xx) * c;
                    const float *r = ref + (((size_t)tt * h + (y << level)) * w + (xx << level)) * c;
                    if (memcmp(a, r, (size_t)c * sizeof(float)) != 0 && ndiff++ == 0)
                        first = (((size_t)tt * sh[1] + y) * sh[2] + xx);
                }
        if (ndiff) {
            fprintf(stderr, "FAIL %s: node %d '%s' (%s): %zu of %d pixels differ from the engine (first %zu)\n",
                    what, i, m->nodes[i].name, cc_op_name(m->nodes[i].op), ndiff, sh[0] * sh[1] * sh[2], first);
            cc_test_failures++;
            bad_nodes++;
        }
        checked++;
        free(ref);
        if (!is_out)
            cc_nn_model_free(&s);
    }
    printf("%-34s %2d activations %s the engine's\n", what, checked,
           bad_nodes ? "DIFFER from" : "bit-identical to");
    return bad_nodes;
}

/* Forward, compare; one step (MSE to a random target, backward, AdamW);
 * forward, compare. m is trained in place. */
static void check_model(const char *name, cc_nn_model *m, int t, int h, int w)
{
    const int nin = m->input.nchannels, nout = m->nodes[m->output_node].cout;
    const size_t np = (size_t)t * h * w;
    tl_seed_text(name);
    uint16_t *dn = tl_dn(t, h, w, nin, 0); /* no nodata: training has none */
    float *rho = malloc(np * nin * sizeof(float)), *target = malloc(np * nout * sizeof(float));
    float *g = malloc(np * nout * sizeof(float));
    for (size_t i = 0; i < np * (size_t)nin; i++) /* the runtime's decoding */
        rho[i] = (float)(((double)dn[i] + m->input.dn_offset) / m->input.quantification);
    for (size_t i = 0; i < np * (size_t)nout; i++)
        target[i] = 0.1f + tl_sym(0.05f);
    cc_train_net *net = NULL;
    CHECK_OK(cc_train_net_create(m, t, h, w, &net));
    if (!net)
        goto out;
    cc_adamw_state st;
    cc_adamw_options o;
    cc_adamw_options_init(&o);
    o.lr = 1e-2;
    o.weight_decay = 0.01;
    CHECK_OK(cc_adamw_init(&st, cc_train_nparams(net)));
    const float *y;
    char what[96];
    CHECK_OK(cc_train_forward(net, t, h, w, rho, &y));
    snprintf(what, sizeof what, "%s, initial weights", name);
    compare_all(what, m, net, t, h, w, dn);
    cc_train_loss(CC_LOSS_MSE, 0.0, np * nout, y, target, NULL, g);
    cc_train_zero_grads(net);
    CHECK_OK(cc_train_backward(net, g));
    CHECK_OK(cc_train_adamw_step(net, &st, &o, cc_train_grads(net)));
    CHECK_OK(cc_train_forward(net, t, h, w, rho, &y));
    snprintf(what, sizeof what, "%s, after one step", name);
    compare_all(what, m, net, t, h, w, dn);
    cc_adamw_free(&st);
    cc_train_net_free(net);
out:
    free(dn);
    free(rho);
    free(target);
    free(g);
}

/* Every op the trainer has a backward pass for; T = 3 days, pooling depth 4. */
static void every_op(cc_nn_model *m)
{
    static const int resid[3] = {0, 2, -1};
    tl_seed(7);
    int x = tl_input(m, 4);
    int c1 = tl_layer(m, "c1", CC_OP_CONV2D, x, 6, 3, 1, CC_PAD_REFLECT, CC_ACT_LEAKY_RELU, 0.1f);
    int c2 = tl_layer(m, "c2", CC_OP_CONV2D, c1, 8, 3, 2, CC_PAD_ZERO, CC_ACT_SILU, 0.0f);
    int af = tl_affine(m, "aff", c2, CC_ACT_SIGMOID);
    int mp = tl_opv(m, "mp", CC_OP_MAXPOOL2, CC_ACT_NONE, 1, &af);
    int ub = tl_opv(m, "upb", CC_OP_UPSAMPLE2_BILINEAR, CC_ACT_NONE, 1, &mp);
    int ct = tl_opv(m, "cat", CC_OP_CONCAT, CC_ACT_NONE, 2, (const int[]){ub, c2});
    int c3 = tl_layer(m, "c3", CC_OP_CONV2D, ct, 8, 1, 1, CC_PAD_ZERO, CC_ACT_SIGMOID, 0.0f);
    int ap = tl_opv(m, "ap", CC_OP_AVGPOOL2, CC_ACT_NONE, 1, &c3);
    int un = tl_opv(m, "upn", CC_OP_UPSAMPLE2_NEAREST, CC_ACT_NONE, 1, &ap);
    int ad = tl_opv(m, "add", CC_OP_ADD, CC_ACT_LEAKY_RELU, 2, (const int[]){un, c3});
    int ac = tl_opv(m, "act", CC_OP_ACT, CC_ACT_SILU, 1, &ad);
    int u2 = tl_opv(m, "up2", CC_OP_UPSAMPLE2_BILINEAR, CC_ACT_NONE, 1, &ac);
    int c4 = tl_no_bias(m, tl_layer(m, "c4", CC_OP_CONV2D, c1, 8, 1, 1, CC_PAD_ZERO, CC_ACT_NONE, 0.0f));
    int a2 = tl_opv(m, "add2", CC_OP_ADD, CC_ACT_RELU, 2, (const int[]){u2, c4});
    int t1 = tl_layer(m, "time", CC_OP_CONV1D_TIME, a2, 8, 3, 1, CC_PAD_ZERO, CC_ACT_LEAKY_RELU, 0.1f);
    int a3 = tl_affine(m, "aff2", t1, CC_ACT_SILU);
    int c5 = tl_layer(m, "c5", CC_OP_CONV2D, a3, 3, 3, 1, CC_PAD_REFLECT, CC_ACT_NONE, 0.0f);
    x = tl_output_resid(m, c5, resid, 1000.0);
    CHECK(x >= 0);
    CHECK_OK(cc_nn_model_finalize(m));
}

int main(void)
{
    cc_nn_model m;
    every_op(&m);
    check_model("every op (3x8x12)", &m, 3, 8, 12);
    cc_nn_model_free(&m);

    cc_boa_arch a;
    memset(&a, 0, sizeof a);
    a.nhidden = 2;
    a.hidden[0] = 32;
    a.hidden[1] = 24;
    a.act = CC_ACT_SILU;
    a.out_scale = 0.1f;
    for (int c = 0; c < CC_BOA_NIN; c++) {
        a.mean[c] = 0.2f + 0.01f * (float)c;
        a.std[c] = 0.1f;
    }
    CHECK_OK(cc_boa_model_build(&a, &m));
    cc_train_init_params(&m, 11);
    check_model("BoA per-pixel (1x4x64)", &m, 1, 4, 64);
    cc_nn_model_free(&m);

    cc_cl_arch ca;
    cc_cl_arch_init(&ca);
    ca.nhidden = 1;
    ca.hidden[0] = 16;
    ca.act = CC_ACT_LEAKY_RELU;
    cc_cl_model *cl = NULL;
    CHECK_OK(cc_cl_model_build(&ca, &cl));
    if (cl) {
        cc_train_init_params(cc_cl_model_net(cl), 12);
        check_model("Cloudless temporal (3x2x40)", cc_cl_model_net(cl), ca.kt, 2, 40);
        cc_cl_model_free(cl);
    }
    printf("%s\n", cc_test_failures ? "FAILED" : "OK");
    return cc_test_failures ? 1 : 0;
}
