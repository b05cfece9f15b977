/* Graph-level tests: the reference models (per-pixel MLP, residual block,
 * U-Net-lite) fused vs the naive unfused evaluation, halo and size_multiple
 * (computed and checked empirically), plan/buffer reuse, thread-count
 * independence, bad graphs, names, hashes. */
#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels/backend-impl.h"
#include "kernels/nn.h"
#include "nn_testlib.h"

static void test_names(void)
{
    for (int i = 0; i < CC_OP_COUNT; i++)
        CHECK(cc_op_parse(cc_op_name((cc_op_type)i)) == i);
    CHECK(cc_op_parse("conv3d") == -1);
    CHECK(cc_op_parse(NULL) == -1);
    CHECK(strcmp(cc_op_name(CC_OP_UPSAMPLE2_BILINEAR), "upsample2_bilinear") == 0);
    for (int a = 0; a <= CC_ACT_SIGMOID; a++)
        CHECK(cc_act_parse(cc_act_name((cc_act)a)) == a);
    CHECK(cc_act_parse("leaky_relu") == CC_ACT_LEAKY_RELU);
    CHECK(cc_act_parse("gelu") == -1);
}

static void test_reference_models(void)
{
    const struct {
        char which;
        int t, h, w, halo, mult;
    } cases[] = {{'A', 2, 13, 17, 0, 1}, {'B', 1, 11, 15, 3, 1}, {'C', 1, 20, 28, 26, 4}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cc_nn_model m;
        char what[64];
        CHECK_OK(cc_nn_model_reference(cases[i].which, 7, &m));
        CHECK(m.halo == cases[i].halo);
        CHECK(m.size_multiple == cases[i].mult);
        CHECK(strlen(m.content_hash) == 64);
        printf("model %c: halo %d, size_multiple %d, %.0f FLOP/pixel, hash %.12s\n",
               cases[i].which, m.halo, m.size_multiple, cc_nn_model_flops_per_pixel(&m),
               m.content_hash);
        uint16_t *dn = tl_dn(cases[i].t, cases[i].h, cases[i].w, 16, 23);
        snprintf(what, sizeof what, "reference model %c", cases[i].which);
        tl_compare(cc_nn_backend_cpu(), &m, cases[i].t, cases[i].h, cases[i].w, dn, 1e-5, what);
        free(dn);
        cc_nn_model_free(&m);
    }
    /* FLOPs of A: 2*(16*64 + 64*64 + 64*12) MACs + per-element extras */
    cc_nn_model m;
    CHECK_OK(cc_nn_model_reference('A', 1, &m));
    double macs = 2.0 * (16 * 64 + 64 * 64 + 64 * 12);
    double f = cc_nn_model_flops_per_pixel(&m);
    CHECK(f >= macs && f < macs * 1.1);
    /* hash: deterministic, depends on the weights */
    cc_nn_model m2, m3;
    CHECK_OK(cc_nn_model_reference('A', 1, &m2));
    CHECK_OK(cc_nn_model_reference('A', 2, &m3));
    CHECK(strcmp(m.content_hash, m2.content_hash) == 0);
    CHECK(strcmp(m.content_hash, m3.content_hash) != 0);
    cc_nn_model_free(&m);
    cc_nn_model_free(&m2);
    cc_nn_model_free(&m3);
    CHECK(cc_nn_model_reference('D', 1, &m) == CC_ERR_ARG);
    CHECK(m.nnodes == 0 && m.nodes == NULL);
}

/* Halo values of small graphs, then an empirical check: a window cropped out
 * of a larger one (aligned to size_multiple, with `halo` margin) gives the same
 * interior as the larger window, and a margin of halo-1 does not always. */
static int halo_of(cc_nn_model *m)
{
    CHECK_OK(cc_nn_model_finalize(m));
    int h = m->halo;
    return h;
}

static void test_halo_values(void)
{
    cc_nn_model m;
    int x = tl_input(&m, 2);
    x = tl_conv(&m, x, 2, 3, 1, CC_PAD_ZERO, CC_ACT_NONE, 0);
    x = tl_output(&m, x, 0);
    CHECK(halo_of(&m) == 1 && m.size_multiple == 1);
    cc_nn_model_free(&m);
    /* 3x3 s2 then nearest up: L = 1, R = 0 + 1 */
    x = tl_input(&m, 2);
    x = tl_conv(&m, x, 2, 3, 2, CC_PAD_ZERO, CC_ACT_NONE, 0);
    x = tl_op(&m, CC_OP_UPSAMPLE2_NEAREST, x, -1, CC_ACT_NONE);
    x = tl_output(&m, x, 0);
    CHECK(halo_of(&m) == 2 && m.size_multiple == 2);
    cc_nn_model_free(&m);
    /* pool, 3x3 at level 1 (+2), bilinear up (+2), 3x3 (+1) = 5 */
    x = tl_input(&m, 2);
    x = tl_op(&m, CC_OP_AVGPOOL2, x, -1, CC_ACT_NONE);
    x = tl_conv(&m, x, 2, 3, 1, CC_PAD_ZERO, CC_ACT_NONE, 0);
    x = tl_op(&m, CC_OP_UPSAMPLE2_BILINEAR, x, -1, CC_ACT_NONE);
    x = tl_conv(&m, x, 2, 3, 1, CC_PAD_ZERO, CC_ACT_NONE, 0);
    x = tl_output(&m, x, 0);
    CHECK(halo_of(&m) == 5 && m.size_multiple == 2);
    cc_nn_model_free(&m);
    /* three stride-2 levels: size_multiple 8 */
    x = tl_input(&m, 2);
    for (int l = 0; l < 3; l++)
        x = tl_conv(&m, x, 2, 3, 2, CC_PAD_REFLECT, CC_ACT_NONE, 0);
    for (int l = 0; l < 3; l++)
        x = tl_op(&m, CC_OP_UPSAMPLE2_NEAREST, x, -1, CC_ACT_NONE);
    x = tl_output(&m, x, 0);
    CHECK(halo_of(&m) > 0 && m.size_multiple == 8);
    cc_nn_model_free(&m);
}

/* The interior of a big window equals a sub-window run with `margin`. Returns
 * the number of differing values (exact comparison: the far contributions are
 * tiny, and the kernels' per-pixel operation order does not depend on the
 * pixel's position in the window). */
static int crop_diff(const cc_nn_model *m, int H, int W, const uint16_t *dn, const float *big,
                     int y0, int x0, int sh, int sw, int margin)
{
    const int cin = m->input.nchannels, cout = m->nodes[m->output_node].cout;
    int wy0 = y0 - margin, wx0 = x0 - margin, wh = sh + 2 * margin, ww = sw + 2 * margin;
    uint16_t *sub = malloc((size_t)wh * ww * cin * sizeof(uint16_t));
    float *out = malloc((size_t)wh * ww * cout * sizeof(float));
    int diff = 0;
    for (int y = 0; y < wh; y++)
        memcpy(sub + (size_t)y * ww * cin, dn + ((size_t)(wy0 + y) * W + wx0) * cin,
               (size_t)ww * cin * sizeof(uint16_t));
    CHECK_OK(cc_nn_run_float(cc_nn_backend_cpu(), m, 1, wh, ww, sub, out));
    for (int y = 0; y < sh; y++)
        for (int x = 0; x < sw; x++)
            for (int c = 0; c < cout; c++) {
                float a = out[((size_t)(y + margin) * ww + x + margin) * cout + c];
                float b = big[((size_t)(y0 + y) * W + x0 + x) * cout + c];
                if (a != b && !(isnan(a) && isnan(b))) /* same per-pixel op order: exact */
                    diff++;
            }
    free(sub);
    free(out);
    (void)H;
    return diff;
}

static void test_halo_empirical(void)
{
    const char models[] = {'B', 'C'};
    for (int i = 0; i < 2; i++) {
        cc_nn_model m;
        CHECK_OK(cc_nn_model_reference(models[i], 3, &m));
        const int H = 96, W = 96, cout = 12;
        uint16_t *dn = tl_dn(1, H, W, 16, 0);
        float *big = malloc((size_t)H * W * cout * sizeof(float));
        CHECK_OK(cc_nn_run_float(cc_nn_backend_cpu(), &m, 1, H, W, dn, big));
        /* margin = halo rounded up to size_multiple keeps the grid aligned */
        int mult = m.size_multiple;
        int margin = (m.halo + mult - 1) / mult * mult;
        int y0 = 36, x0 = 32, sh = 16, sw = 24;
        CHECK(crop_diff(&m, H, W, dn, big, y0, x0, sh, sw, margin) == 0);
        /* too small a margin shows at the border of the crop */
        int small = margin - mult;
        if (small >= 0)
            CHECK(crop_diff(&m, H, W, dn, big, y0, x0, sh, sw, small) > 0);
        free(dn);
        free(big);
        cc_nn_model_free(&m);
    }
}

static void test_plan(void)
{
    cc_nn_model m;
    cc_nn_plan p;
    CHECK_OK(cc_nn_model_reference('A', 1, &m));
    CHECK_OK(cc_nn_plan_make(&m, 1, 8, 8, &p));
    CHECK(p.ngroups == 1 && p.groups[0].kind == CC_NN_GROUP_PIXEL && p.groups[0].reads_dn &&
          p.groups[0].writes_out && p.nslots == 0 && p.total_floats == 0);
    cc_nn_plan_free(&p);
    cc_nn_model_free(&m);

    /* B: [input+conv1] [conv2] [conv3] [add] [head+output] */
    CHECK_OK(cc_nn_model_reference('B', 1, &m));
    CHECK_OK(cc_nn_plan_make(&m, 1, 8, 8, &p));
    CHECK(p.ngroups == 5);
    if (p.ngroups == 5) {
        CHECK(p.groups[0].kind == CC_NN_GROUP_CONV && p.groups[0].reads_dn);
        CHECK(p.groups[3].kind == CC_NN_GROUP_SINGLE);
        CHECK(p.groups[4].kind == CC_NN_GROUP_PIXEL && p.groups[4].writes_out);
    }
    CHECK(p.nslots == 3 && p.total_floats == 3 * 8 * 8 * 32);
    cc_nn_plan_free(&p);
    cc_nn_model_free(&m);

    /* C: slots are reused; working memory well below one buffer per node */
    CHECK_OK(cc_nn_model_reference('C', 1, &m));
    CHECK_OK(cc_nn_plan_make(&m, 1, 64, 64, &p));
    size_t all = 0;
    for (int i = 0; i < m.nnodes; i++)
        all += cc_nn_plan_numel(&p, i);
    printf("model C 64x64: %d groups, %d slots, %zu floats (vs %zu unplanned)\n", p.ngroups,
           p.nslots, p.total_floats, all);
    CHECK(p.nslots <= 6 && p.total_floats * 2 < all);
    for (int gi = 0; gi < p.ngroups; gi++) /* no group writes a slot it reads */
        for (int k = 0; k < p.groups[gi].ninputs; k++)
            if (p.groups[gi].result >= 0)
                CHECK(p.node_slot[p.groups[gi].inputs[k]] != p.node_slot[p.groups[gi].result]);
    cc_nn_plan_free(&p);
    cc_nn_model_free(&m);
}

static void test_threads(void)
{
#ifdef _OPENMP
    const char models[] = {'A', 'B', 'C'};
    int saved = omp_get_max_threads();
    for (int i = 0; i < 3; i++) {
        cc_nn_model m;
        CHECK_OK(cc_nn_model_reference(models[i], 11, &m));
        const int H = 36, W = 44;
        uint16_t *dn = tl_dn(1, H, W, 16, 31);
        size_t ne = (size_t)H * W * 12;
        float *a = malloc(ne * 4), *b = malloc(ne * 4), *c = malloc(ne * 4);
        omp_set_num_threads(1);
        CHECK_OK(cc_nn_run_float(cc_nn_backend_cpu(), &m, 1, H, W, dn, a));
        omp_set_num_threads(2);
        CHECK_OK(cc_nn_run_float(cc_nn_backend_cpu(), &m, 1, H, W, dn, b));
        omp_set_num_threads(3);
        CHECK_OK(cc_nn_run_float(cc_nn_backend_cpu(), &m, 1, H, W, dn, c));
        CHECK(memcmp(a, b, ne * 4) == 0);
        CHECK(memcmp(a, c, ne * 4) == 0);
        free(a);
        free(b);
        free(c);
        free(dn);
        cc_nn_model_free(&m);
    }
    omp_set_num_threads(saved);
#else
    printf("built without OpenMP: thread test skipped\n");
#endif
}

static int msg_has(const char *s)
{
    if (strstr(cc_error_message(), s))
        return 1;
    fprintf(stderr, "  message was: %s\n", cc_error_message());
    return 0;
}

static int fake_supports(const cc_nn_backend *self, const cc_nn_model *m, int node)
{
    return m->nodes[node].op != CC_OP_MAXPOOL2;
}

static cc_status fake_run(const cc_nn_backend *self, const cc_nn_model *m, const cc_nn_plan *p,
                          const uint16_t *dn, void *out, int out_float)
{
    return cc_error_set(CC_ERR_INTERNAL, "fake backend must not run");
}

static void test_bad_graphs(void)
{
    cc_nn_model m;
    cc_nn_node n;
    int x = tl_input(&m, 3);
    /* input index out of range */
    memset(&n, 0, sizeof n);
    n.op = CC_OP_ACT;
    n.ninputs = 1;
    n.inputs[0] = 5;
    CHECK(cc_nn_model_add(&m, &n) == -1);
    CHECK(cc_error_status() == CC_ERR_ARG && msg_has("out of range"));
    n.inputs[0] = -1;
    CHECK(cc_nn_model_add(&m, &n) == -1 && msg_has("out of range"));
    /* wrong number of inputs */
    n.ninputs = 2;
    n.inputs[0] = n.inputs[1] = x;
    CHECK(cc_nn_model_add(&m, &n) == -1 && msg_has("number of inputs"));
    /* unsupported kernel size and stride */
    CHECK(tl_conv(&m, x, 4, 5, 1, CC_PAD_ZERO, CC_ACT_NONE, 0) == -1);
    CHECK(cc_error_status() == CC_ERR_UNSUPPORTED && msg_has("kernel size 5"));
    CHECK(tl_conv(&m, x, 4, 3, 3, CC_PAD_ZERO, CC_ACT_NONE, 0) == -1 && msg_has("stride 3"));
    /* channel mismatch */
    int a = tl_conv(&m, x, 4, 1, 1, CC_PAD_ZERO, CC_ACT_NONE, 0);
    CHECK(a > 0);
    CHECK(tl_op(&m, CC_OP_ADD, a, x, CC_ACT_NONE) == -1 && msg_has("channel mismatch 4 vs 3"));
    /* resolution mismatch */
    int pooled = tl_op(&m, CC_OP_MAXPOOL2, a, -1, CC_ACT_NONE);
    CHECK(tl_op(&m, CC_OP_ADD, pooled, a, CC_ACT_NONE) == -1 && msg_has("different resolutions"));
    /* upsampling above the input grid */
    CHECK(tl_op(&m, CC_OP_UPSAMPLE2_NEAREST, a, -1, CC_ACT_NONE) == -1);
    /* no weights */
    memset(&n, 0, sizeof n);
    n.op = CC_OP_CONV2D;
    n.ninputs = 1;
    n.kernel = 1;
    n.stride = 1;
    n.cout = 2;
    CHECK(cc_nn_model_add(&m, &n) == -1 && msg_has("no weights"));
    /* a second input node; duplicate names */
    cc_nn_model_free(&m);
    CHECK(tl_input(&m, 3) == 0);
    memset(&n, 0, sizeof n);
    n.op = CC_OP_INPUT;
    n.in_channels = 3;
    CHECK(cc_nn_model_add(&m, &n) == -1 && msg_has("second input"));
    memset(&n, 0, sizeof n);
    n.op = CC_OP_ACT;
    n.ninputs = 1;
    snprintf(n.name, sizeof n.name, "input");
    CHECK(cc_nn_model_add(&m, &n) == -1 && msg_has("duplicate name"));
    /* no output node */
    CHECK(cc_nn_model_finalize(&m) == CC_ERR_ARG && msg_has("no output"));
    /* running an unfinalized model; output at a lower resolution */
    uint16_t dn[4 * 4 * 3];
    uint16_t out[4 * 4 * 3];
    memset(dn, 1, sizeof dn);
    CHECK(cc_nn_run(cc_nn_backend_cpu(), &m, 1, 4, 4, dn, out) == CC_ERR_ARG &&
          msg_has("not finalized"));
    x = tl_op(&m, CC_OP_AVGPOOL2, 0, -1, CC_ACT_NONE);
    CHECK(tl_output(&m, x, 0) == -1 && msg_has("not at the input resolution"));
    cc_nn_model_free(&m);

    /* window checks */
    CHECK_OK(cc_nn_model_reference('C', 1, &m));
    uint16_t *big = tl_dn(1, 8, 8, 16, 0);
    uint16_t *o = malloc(8 * 8 * 12 * sizeof(uint16_t));
    CHECK(cc_nn_run(cc_nn_backend_cpu(), &m, 1, 6, 8, big, o) == CC_ERR_ARG &&
          msg_has("multiples of 4"));
    CHECK(cc_nn_run(cc_nn_backend_cpu(), &m, 0, 8, 8, big, o) == CC_ERR_ARG);
    CHECK(cc_nn_run(cc_nn_backend_cpu(), &m, 1, 8, 8, NULL, o) == CC_ERR_ARG);
    CHECK(cc_nn_run(NULL, &m, 1, 8, 8, big, o) == CC_ERR_ARG);
    /* reflect padding on a 1-pixel deep level: 4x4 -> 1x1 at level 2 */
    CHECK(cc_nn_run(cc_nn_backend_cpu(), &m, 1, 4, 4, big, o) == CC_ERR_ARG &&
          msg_has("reflect padding"));
    /* a backend that lacks an op says so before running anything */
    cc_nn_backend fake = {.name = "fake", .supports = fake_supports, .run = fake_run};
    CHECK(cc_nn_run(&fake, &m, 1, 8, 8, big, o) == CC_ERR_UNSUPPORTED &&
          msg_has("not supported") && msg_has("pool1"));
    free(big);
    free(o);
    cc_nn_model_free(&m);
    CHECK(cc_nn_backend_cuda() == NULL || strcmp(cc_nn_backend_name(cc_nn_backend_cuda()), "cuda") == 0);
    CHECK(strcmp(cc_nn_backend_name(cc_nn_backend_cpu()), "cpu") == 0);
}

/* Dead branches are skipped; a node feeding two consumers is materialised. */
static void test_dead_and_shared(void)
{
    cc_nn_model m;
    int x = tl_input(&m, 3);
    int dead = tl_conv(&m, x, 5, 3, 1, CC_PAD_ZERO, CC_ACT_NONE, 0);
    int a = tl_conv(&m, x, 4, 1, 1, CC_PAD_ZERO, CC_ACT_RELU, 0);
    int b = tl_conv(&m, a, 4, 3, 1, CC_PAD_REFLECT, CC_ACT_NONE, 0);
    int c = tl_op(&m, CC_OP_ADD, a, b, CC_ACT_SIGMOID);
    int y = tl_op(&m, CC_OP_ADD, c, c, CC_ACT_NONE);
    CHECK(dead > 0 && y > 0);
    tl_output(&m, y, 1);
    CHECK_OK(cc_nn_model_finalize(&m));
    cc_nn_plan p;
    CHECK_OK(cc_nn_plan_make(&m, 1, 5, 5, &p));
    CHECK(!p.live[dead] && p.node_slot[dead] < 0 && p.node_slot[a] >= 0);
    cc_nn_plan_free(&p);
    uint16_t *dn = tl_dn(1, 9, 11, 3, 7);
    tl_compare(cc_nn_backend_cpu(), &m, 1, 9, 11, dn, 1e-5, "dead branch + shared node");
    free(dn);
    cc_nn_model_free(&m);
}

/* Finalizes m with an output reading node out, compares it with the naive
 * evaluation on a random (t, h, w) window, frees it. */
static void fusion_case(cc_nn_model *m, int out, int t, int h, int w, const char *what)
{
    CHECK(tl_output(m, out, 0) >= 0);
    CHECK_OK(cc_nn_model_finalize(m));
    uint16_t *dn = tl_dn(t, h, w, m->input.nchannels, 0);
    tl_compare(cc_nn_backend_cpu(), m, t, h, w, dn, 1e-5, what);
    free(dn);
    cc_nn_model_free(m);
}

/* The CPU backend's own fusions (a conv row with its ADD and per-pixel
 * epilogue, a temporal conv with the per-pixel groups around it) write a result
 * while they still read their inputs: the planner may give that result the slot
 * of an input whose last reader is the fused chain, which the fusion must then
 * not use. Graphs where the slots do collide, against the naive evaluation. */
static void test_fusion_slots(void)
{
    cc_nn_model m;
    /* conv3x3 -> ADD epilogue, the sum in the slot of the conv's input */
    int x = tl_input(&m, 3);
    int a = tl_conv(&m, x, 4, 3, 1, CC_PAD_ZERO, CC_ACT_RELU, 0);
    int o = tl_conv(&m, x, 4, 3, 1, CC_PAD_ZERO, CC_ACT_NONE, 0);
    int b = tl_conv(&m, a, 4, 3, 1, CC_PAD_ZERO, CC_ACT_NONE, 0);
    int s = tl_op(&m, CC_OP_ADD, b, o, CC_ACT_RELU);
    fusion_case(&m, tl_conv(&m, s, 4, 3, 1, CC_PAD_ZERO, CC_ACT_NONE, 0), 1, 9, 7,
                "conv3x3 + add epilogue over its input");
    /* ... + a per-pixel epilogue of more channels in the slot of the ADD's other input */
    x = tl_input(&m, 3);
    a = tl_conv(&m, x, 2, 3, 1, CC_PAD_ZERO, CC_ACT_RELU, 0);
    o = tl_conv(&m, a, 2, 1, 1, CC_PAD_ZERO, CC_ACT_NONE, 0);
    b = tl_conv(&m, a, 2, 3, 1, CC_PAD_ZERO, CC_ACT_NONE, 0);
    s = tl_op(&m, CC_OP_ADD, b, o, CC_ACT_NONE);
    s = tl_conv(&m, s, 3, 1, 1, CC_PAD_ZERO, CC_ACT_SILU, 0);
    fusion_case(&m, tl_conv(&m, s, 4, 3, 1, CC_PAD_ZERO, CC_ACT_NONE, 0), 1, 9, 7,
                "conv3x3 + add + 1x1 epilogue");
    /* temporal conv -> per-pixel group writing a tensor over the conv's input */
    x = tl_input(&m, 3);
    a = tl_conv(&m, x, 4, 3, 1, CC_PAD_ZERO, CC_ACT_NONE, 0);
    int t = tl_layer(&m, NULL, CC_OP_CONV1D_TIME, a, 4, 3, 1, CC_PAD_ZERO, CC_ACT_NONE, 0);
    b = tl_conv(&m, t, 4, 1, 1, CC_PAD_ZERO, CC_ACT_RELU, 0);
    fusion_case(&m, tl_conv(&m, b, 4, 3, 1, CC_PAD_ZERO, CC_ACT_NONE, 0), 3, 16, 12,
                "conv1d_time + post over its input");
    /* per-pixel group -> temporal conv of fewer channels over the pre group's input */
    x = tl_input(&m, 3);
    a = tl_conv(&m, x, 4, 3, 1, CC_PAD_ZERO, CC_ACT_NONE, 0);
    a = tl_op(&m, CC_OP_CONCAT, a, a, CC_ACT_NONE);
    b = tl_conv(&m, a, 4, 1, 1, CC_PAD_ZERO, CC_ACT_RELU, 0);
    t = tl_layer(&m, NULL, CC_OP_CONV1D_TIME, b, 7, 3, 1, CC_PAD_ZERO, CC_ACT_NONE, 0);
    fusion_case(&m, tl_conv(&m, t, 4, 3, 1, CC_PAD_ZERO, CC_ACT_NONE, 0), 3, 16, 12,
                "pre + conv1d_time over the pre's input");
}

int main(void)
{
    test_names();
    test_reference_models();
    test_halo_values();
    test_halo_empirical();
    test_plan();
    test_threads();
    test_bad_graphs();
    test_dead_and_shared();
    test_fusion_slots();
    TEST_RETURN();
}
