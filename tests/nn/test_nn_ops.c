/* Every op and every fused kernel of the CPU backend against the naive
 * implementation (tests/nn/nn_naive.h) on random inputs with odd sizes. */
#include "kernels/backend-impl.h"
#include "kernels/nn.h"
#include "nn_testlib.h"

static const cc_act acts[] = {CC_ACT_NONE, CC_ACT_RELU, CC_ACT_LEAKY_RELU, CC_ACT_SILU,
                              CC_ACT_SIGMOID};
#define TOL 1e-5

static void finalize_or_fail(cc_nn_model *m, const char *what)
{
    cc_status st = cc_nn_model_finalize(m);
    if (st != CC_OK) {
        fprintf(stderr, "FAIL %s: finalize: %s\n", what, cc_error_message());
        cc_test_failures++;
    }
}

static void check_model(cc_nn_model *m, int t, int h, int w, int cin, const char *what)
{
    finalize_or_fail(m, what);
    uint16_t *dn = tl_dn(t, h, w, cin, 17);
    tl_compare(cc_nn_backend_cpu(), m, t, h, w, dn, TOL, what);
    free(dn);
    cc_nn_model_free(m);
}

/* conv2d: kernel x stride x padding x activation x (DN decode fused or not). */
static void test_conv2d(void)
{
    char what[128];
    for (int k = 1; k <= 3; k += 2)
        for (int s = 1; s <= 2; s++)
            for (int pad = 0; pad < 2; pad++)
                for (int a = 0; a < 5; a++)
                    for (int fused = 0; fused < 2; fused++) {
                        cc_nn_model m;
                        const int cin = 5, cout = 7;
                        int h = s == 2 ? 10 : 7, w = s == 2 ? 14 : 9;
                        int x = tl_input(&m, cin);
                        if (!fused)
                            x = tl_op(&m, CC_OP_ACT, x, -1, CC_ACT_NONE);
                        x = tl_conv(&m, x, cout, k, s, (cc_pad)pad, acts[a], 0.15f);
                        if (s == 2)
                            x = tl_op(&m, CC_OP_UPSAMPLE2_NEAREST, x, -1, CC_ACT_NONE);
                        x = tl_output(&m, x, (k + a) % 2);
                        CHECK(x >= 0);
                        snprintf(what, sizeof what, "conv2d k%d s%d %s %s %s", k, s,
                                 pad ? "reflect" : "zero", cc_act_name(acts[a]),
                                 fused ? "fused-decode" : "tensor-input");
                        check_model(&m, 1, h, w, cin, what);
                    }
    /* wider layers (several 16-channel blocks, odd counts), T = 2 */
    for (int k = 1; k <= 3; k += 2) {
        cc_nn_model m;
        int x = tl_input(&m, 19);
        x = tl_op(&m, CC_OP_ACT, x, -1, CC_ACT_NONE);
        x = tl_conv(&m, x, 37, k, 1, CC_PAD_REFLECT, CC_ACT_SILU, 0);
        x = tl_conv(&m, x, 33, k, 1, CC_PAD_ZERO, CC_ACT_LEAKY_RELU, 0.01f);
        x = tl_output(&m, x, 1);
        snprintf(what, sizeof what, "conv2d wide k%d", k);
        check_model(&m, 2, 5, 11, 19, what);
    }
}

/* conv + bias + act with an affine/act tail (folded batch norm) in one group. */
static void test_conv_tail(void)
{
    for (int a = 0; a < 5; a++) {
        cc_nn_model m;
        int x = tl_input(&m, 4);
        x = tl_conv(&m, x, 9, 3, 1, CC_PAD_REFLECT, CC_ACT_NONE, 0);
        x = tl_affine(&m, NULL, x, acts[a]);
        x = tl_op(&m, CC_OP_ACT, x, -1, CC_ACT_SIGMOID);
        x = tl_output(&m, x, 0);
        finalize_or_fail(&m, "conv tail");
        cc_nn_plan p;
        CHECK_OK(cc_nn_plan_make(&m, 1, 9, 7, &p));
        CHECK(p.ngroups == 2 && p.groups[0].kind == CC_NN_GROUP_CONV && p.groups[0].nnodes == 4 &&
              p.groups[0].reads_dn);
        cc_nn_plan_free(&p);
        char what[64];
        snprintf(what, sizeof what, "conv+affine(%s)+sigmoid", cc_act_name(acts[a]));
        check_model(&m, 1, 9, 7, 4, what);
    }
}

/* affine and activation nodes, fused after the input or reading a tensor */
static void test_affine_act(void)
{
    char what[64];
    for (int a = 0; a < 5; a++)
        for (int after_conv = 0; after_conv < 2; after_conv++) {
            cc_nn_model m;
            int x = tl_input(&m, 6);
            if (after_conv)
                x = tl_conv(&m, x, 6, 3, 1, CC_PAD_ZERO, CC_ACT_NONE, 0);
            x = tl_affine(&m, NULL, x, acts[a]);
            x = cc_nn_add_op(&m, NULL, CC_OP_ACT, acts[(a + 2) % 5], 0.3f, 1, &x);
            x = tl_output(&m, x, 1);
            snprintf(what, sizeof what, "affine(%s)+act(%s)%s", cc_act_name(acts[a]),
                     cc_act_name(acts[(a + 2) % 5]), after_conv ? " after conv" : "");
            check_model(&m, 1, 5, 13, 6, what);
        }
}

static void test_add_concat(void)
{
    char what[64];
    for (int a = 0; a < 5; a++) {
        cc_nn_model m;
        int in = tl_input(&m, 3);
        int p = tl_conv(&m, in, 8, 3, 1, CC_PAD_ZERO, CC_ACT_RELU, 0);
        int q = tl_conv(&m, in, 8, 1, 1, CC_PAD_ZERO, CC_ACT_NONE, 0);
        int x = tl_op(&m, CC_OP_ADD, p, q, acts[a]);
        x = tl_output(&m, x, 0);
        snprintf(what, sizeof what, "add(%s)", cc_act_name(acts[a]));
        check_model(&m, 1, 7, 5, 3, what);
    }
    for (int nin = 2; nin <= 4; nin++) {
        cc_nn_model m;
        int in = tl_input(&m, 3);
        int ins[CC_NN_MAX_INPUTS];
        for (int k = 0; k < nin; k++)
            ins[k] = k == 0 ? in : tl_conv(&m, in, 2 + k, 2 * (k % 2) + 1, 1, CC_PAD_REFLECT, CC_ACT_SILU, 0);
        int x = tl_opv(&m, NULL, CC_OP_CONCAT, CC_ACT_NONE, nin, ins);
        CHECK(x >= 0 && m.nodes[x].cout == 3 + (nin >= 2 ? 3 : 0) + (nin >= 3 ? 4 : 0) + (nin >= 4 ? 5 : 0));
        x = tl_conv(&m, x, 4, 1, 1, CC_PAD_ZERO, CC_ACT_NONE, 0);
        x = tl_output(&m, x, 1);
        snprintf(what, sizeof what, "concat of %d", nin);
        check_model(&m, 1, 9, 3, 3, what);
    }
}

/* pools (even windows whose pooled size is odd), both upsamplings */
static void test_pool_upsample(void)
{
    const cc_op_type pools[] = {CC_OP_AVGPOOL2, CC_OP_MAXPOOL2};
    const cc_op_type ups[] = {CC_OP_UPSAMPLE2_NEAREST, CC_OP_UPSAMPLE2_BILINEAR};
    char what[96];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
            cc_nn_model m;
            int x = tl_input(&m, 4);
            x = tl_conv(&m, x, 5, 3, 1, CC_PAD_ZERO, CC_ACT_NONE, 0);
            x = tl_op(&m, pools[i], x, -1, CC_ACT_NONE);
            x = tl_op(&m, ups[j], x, -1, CC_ACT_NONE);
            x = tl_output(&m, x, 0);
            snprintf(what, sizeof what, "%s + %s", cc_op_name(pools[i]), cc_op_name(ups[j]));
            check_model(&m, 1, 14, 10, 4, what);
            /* two levels: 20x12 -> 10x6 -> 5x3 and back */
            x = tl_input(&m, 4);
            x = tl_op(&m, pools[i], x, -1, CC_ACT_NONE);
            x = tl_conv(&m, x, 4, 3, 2, CC_PAD_REFLECT, CC_ACT_NONE, 0);
            x = tl_op(&m, ups[j], x, -1, CC_ACT_NONE);
            x = tl_op(&m, ups[1 - j], x, -1, CC_ACT_NONE);
            x = tl_output(&m, x, 0);
            snprintf(what, sizeof what, "%s + s2 conv + %s + %s", cc_op_name(pools[i]),
                     cc_op_name(ups[j]), cc_op_name(ups[1 - j]));
            check_model(&m, 1, 20, 12, 4, what);
        }
}

static void test_conv1d_time(void)
{
    char what[64];
    for (int kt = 1; kt <= 5; kt++)
        for (int a = 0; a < 5; a += 2) {
            cc_nn_model m;
            int x = tl_input(&m, 3);
            x = tl_layer(&m, NULL, CC_OP_CONV1D_TIME, x, 6, kt, 1, CC_PAD_ZERO, acts[a], 0.1f);
            x = tl_output(&m, x, 1);
            snprintf(what, sizeof what, "conv1d_time kt%d %s", kt, cc_act_name(acts[a]));
            check_model(&m, 5, 3, 7, 3, what);
        }
}

/* DN decode and output encoding alone: residual, clamping to [1, 65534],
 * nodata -> 0 / NaN. */
static void test_decode_encode(void)
{
    cc_nn_model m;
    int x = tl_input(&m, 3);
    x = tl_output(&m, x, 1);
    finalize_or_fail(&m, "decode/encode");
    uint16_t dn[3 * 5] = {1000, 1200, 1300,  /* plain */
                          0, 5000, 5000,     /* nodata (channel 0) */
                          65535, 65535, 65535, /* clamps high */
                          1, 1, 1,           /* rho -0.0999: DN clamps to 1 */
                          4000, 4000, 0};    /* nodata (channel 2) */
    float f[15];
    uint16_t o[15];
    CHECK_OK(cc_nn_run_float(cc_nn_backend_cpu(), &m, 1, 1, 5, dn, f));
    CHECK_OK(cc_nn_run(cc_nn_backend_cpu(), &m, 1, 1, 5, dn, o));
    for (int c = 0; c < 3; c++) {
        CHECK(isnan(f[3 + c]) && o[3 + c] == 0);
        CHECK(isnan(f[12 + c]) && o[12 + c] == 0);
        CHECK(o[6 + c] == 65534);
        CHECK(o[9 + c] == 1);
    }
    /* pixel 0, channel 1: x = (0.02 - 0.21)/0.12; v = x*0.06 + 0.1 + 0.02 */
    double x1 = (0.02 - (double)0.21f) / (double)0.12f;
    double v = x1 * (double)0.06f + (double)0.1f + 0.02;
    CHECK_NEAR(f[1], v, 1e-6);
    CHECK(o[1] == (uint16_t)floor(v * 10000 + 1000 + 0.5));
    uint16_t *rdn = tl_dn(2, 7, 5, 3, 5);
    tl_compare(cc_nn_backend_cpu(), &m, 2, 7, 5, rdn, TOL, "decode+encode random");
    free(rdn);
    cc_nn_model_free(&m);
}

/* A per-pixel MLP with affine/act layers, fused into one group (DN in, DN out). */
static void test_mlp_chain(void)
{
    cc_nn_model m;
    int x = tl_input(&m, 10);
    x = tl_conv(&m, x, 33, 1, 1, CC_PAD_ZERO, CC_ACT_RELU, 0);
    x = tl_affine(&m, NULL, x, CC_ACT_NONE);
    x = tl_conv(&m, x, 17, 1, 1, CC_PAD_ZERO, CC_ACT_SILU, 0);
    x = tl_op(&m, CC_OP_ACT, x, -1, CC_ACT_SIGMOID);
    x = tl_conv(&m, x, 5, 1, 1, CC_PAD_ZERO, CC_ACT_NONE, 0);
    x = tl_output(&m, x, 1);
    finalize_or_fail(&m, "mlp chain");
    cc_nn_plan p;
    CHECK_OK(cc_nn_plan_make(&m, 1, 3, 3, &p));
    CHECK(p.ngroups == 1 && p.groups[0].kind == CC_NN_GROUP_PIXEL && p.groups[0].reads_dn &&
          p.groups[0].writes_out && p.groups[0].nnodes == 7 && p.nslots == 0);
    cc_nn_plan_free(&p);
    check_model(&m, 1, 31, 7, 10, "mlp chain (one fused group)");
    /* a 1x1 chain reading a tensor and writing a tensor (inside a network) */
    x = tl_input(&m, 4);
    x = tl_conv(&m, x, 8, 3, 1, CC_PAD_ZERO, CC_ACT_RELU, 0);
    x = tl_conv(&m, x, 12, 1, 1, CC_PAD_ZERO, CC_ACT_RELU, 0);
    x = tl_conv(&m, x, 8, 1, 1, CC_PAD_ZERO, CC_ACT_LEAKY_RELU, 0.2f);
    x = tl_conv(&m, x, 8, 3, 1, CC_PAD_REFLECT, CC_ACT_NONE, 0);
    x = tl_output(&m, x, 0);
    finalize_or_fail(&m, "inner mlp chain");
    CHECK_OK(cc_nn_plan_make(&m, 1, 3, 3, &p));
    CHECK(p.ngroups == 4 && p.groups[1].kind == CC_NN_GROUP_PIXEL && p.groups[1].nnodes == 2 &&
          !p.groups[1].reads_dn && !p.groups[1].writes_out);
    cc_nn_plan_free(&p);
    check_model(&m, 1, 67, 3, 4, "inner mlp chain");
}

int main(void)
{
    printf("cpu backend: %s / %s\n", cc_nn_backend_name(cc_nn_backend_cpu()),
           cc_nn_backend_detail(cc_nn_backend_cpu()));
    test_conv2d();
    test_conv_tail();
    test_affine_act();
    test_add_concat();
    test_pool_upsample();
    test_conv1d_time();
    test_decode_encode();
    test_mlp_chain();
    TEST_RETURN();
}
