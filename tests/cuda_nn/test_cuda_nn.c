/* Parity of the CUDA network backend with the CPU reference backend.
 *
 *   test_cuda_nn <case>    one case (see `cases` below), or "all"
 *
 * Every case builds a small graph with the nn.h builder (or takes a reference
 * model), runs cc_nn_run_float on the CPU and on the CUDA backend with the same
 * seeded DN window (with nodata pixels), and checks
 *   normalised error = max|gpu - cpu| / max(max|cpu|, 1e-6)   <= the case's tolerance,
 *   NaN (nodata) at exactly the same places,
 *   two CUDA runs give identical bits (determinism),
 *   the DN outputs of cc_nn_run differ by at most 1 + tol*max|cpu|*10^4 DN
 *   (fp32 only).
 * Tolerances are per case and per precision (docs/gpu.md "Tolerances"): the
 * fp32 kernels differ from the CPU only by FMA contraction and summation order;
 * bf16/fp16 round every product's operands to 8/11 significant bits. The
 * precision and the conv engine come from CLEARCUBE_CUDA_PRECISION and
 * CLEARCUBE_CUDA_CONV (set per ctest entry in CMakeLists.txt); the tolerance of
 * a case only loosens with bf16/fp16 when the model has a spatial conv group
 * (the only kernels that use tensor cores).
 *
 * Exit 77 with "SKIP: no usable GPU" when cc_nn_backend_cuda() is NULL. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "kernels/nn.h"
#include "testutil.h"

/* ---- seeded random numbers ---- */

static uint64_t rng_state = 1;

static void rng_seed(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a of the case name */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    rng_state = h ? h : 1;
}

static double urand(void) /* [0, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

static float srand_f(float b)
{
    return (float)((2.0 * urand() - 1.0) * b);
}

/* ---- graph building ---- */

static int g_nodes; /* for unique names */

static cc_nn_node node0(cc_op_type op, int in)
{
    cc_nn_node n;
    memset(&n, 0, sizeof n);
    n.op = op;
    snprintf(n.name, sizeof n.name, "%s%d", cc_op_name(op), g_nodes++);
    n.ninputs = in >= 0 ? 1 : 0;
    n.inputs[0] = in;
    n.stride = 1;
    n.kernel = 1;
    return n;
}

static int add(cc_nn_model *m, cc_nn_node *n)
{
    int i = cc_nn_model_add(m, n);
    if (i < 0) {
        fprintf(stderr, "FAIL: cc_nn_model_add '%s': %s\n", n->name, cc_error_message());
        exit(1);
    }
    return i;
}

static int t_input(cc_nn_model *m, int nin)
{
    cc_nn_model_init(m);
    g_nodes = 0;
    m->input.nchannels = nin;
    m->input.dn_offset = -1000.0;
    m->input.quantification = 10000.0;
    for (int c = 0; c < nin; c++) {
        snprintf(m->input.band[c], sizeof m->input.band[c], "B%02d", c + 1);
        m->input.resolution_m[c] = 10;
        m->input.mean[c] = 0.15f + 0.01f * (float)c;
        m->input.std[c] = 0.08f + 0.005f * (float)c;
    }
    cc_nn_node n = node0(CC_OP_INPUT, -1);
    n.in_channels = nin;
    return add(m, &n);
}

static int t_conv(cc_nn_model *m, int in, int cin, int cout, int k, int stride, cc_pad pad,
                  cc_act act)
{
    const size_t nw = (size_t)cout * (size_t)(k * k) * (size_t)cin;
    float *w = malloc(nw * sizeof(float)), *b = malloc((size_t)cout * sizeof(float));
    CC_ASSERT(w && b);
    const float bound = 1.7f / sqrtf((float)(k * k * cin));
    for (size_t i = 0; i < nw; i++)
        w[i] = srand_f(bound);
    for (int i = 0; i < cout; i++)
        b[i] = srand_f(0.1f);
    cc_nn_node n = node0(CC_OP_CONV2D, in);
    n.cout = cout;
    n.kernel = k;
    n.stride = stride;
    n.pad = pad;
    n.act = act;
    n.alpha = 0.1f;
    n.weight = w;
    n.bias = b;
    int i = add(m, &n);
    free(w);
    free(b);
    return i;
}

static int t_affine(cc_nn_model *m, int in, int c, cc_act act)
{
    float s[CC_NN_MAX_CHANNELS], sh[CC_NN_MAX_CHANNELS];
    for (int i = 0; i < c; i++) {
        s[i] = 0.5f + (float)urand();
        sh[i] = srand_f(0.2f);
    }
    cc_nn_node n = node0(CC_OP_AFFINE, in);
    n.act = act;
    n.alpha = 0.2f;
    n.scale = s;
    n.shift = sh;
    return add(m, &n);
}

static int t_op(cc_nn_model *m, cc_op_type op, int nin, const int *ins, cc_act act)
{
    cc_nn_node n = node0(op, ins[0]);
    n.ninputs = nin;
    for (int k = 0; k < nin; k++)
        n.inputs[k] = ins[k];
    n.act = act;
    n.alpha = 0.05f;
    return add(m, &n);
}

static int t_op1(cc_nn_model *m, cc_op_type op, int in, cc_act act)
{
    return t_op(m, op, 1, &in, act);
}

static int t_conv1d(cc_nn_model *m, int in, int cin, int cout, int kt, cc_act act)
{
    const size_t nw = (size_t)cout * (size_t)kt * (size_t)cin;
    float *w = malloc(nw * sizeof(float)), *b = malloc((size_t)cout * sizeof(float));
    CC_ASSERT(w && b);
    for (size_t i = 0; i < nw; i++)
        w[i] = srand_f(1.7f / sqrtf((float)(kt * cin)));
    for (int i = 0; i < cout; i++)
        b[i] = srand_f(0.1f);
    cc_nn_node n = node0(CC_OP_CONV1D_TIME, in);
    n.cout = cout;
    n.kernel = kt;
    n.act = act;
    n.alpha = 0.1f;
    n.weight = w;
    n.bias = b;
    int i = add(m, &n);
    free(w);
    free(b);
    return i;
}

/* OUTPUT of c channels; residual: output channel k adds input channel k. */
static void t_output(cc_nn_model *m, int in, int c, int residual)
{
    float s[CC_NN_MAX_IO], sh[CC_NN_MAX_IO];
    for (int i = 0; i < c; i++) {
        s[i] = residual ? 0.05f : 0.1f;
        sh[i] = residual ? 0.0f : 0.3f;
    }
    cc_nn_node n = node0(CC_OP_OUTPUT, in);
    for (int k = 0; k < CC_NN_MAX_IO; k++)
        n.residual_channel[k] = residual && k < m->input.nchannels ? k : -1;
    n.scale = s;
    n.shift = sh;
    n.out_dn_offset = 1000.0;
    add(m, &n);
    if (cc_nn_model_finalize(m) != CC_OK) {
        fprintf(stderr, "FAIL: finalize: %s\n", cc_error_message());
        exit(1);
    }
}

/* ---- the comparison ---- */

static const cc_nn_backend *g_cpu, *g_gpu;
static int g_prec; /* 0 fp32, 1 bf16, 2 fp16 */

typedef struct {
    double fp32, bf16, fp16;
} tols;

static int has_spatial_conv(const cc_nn_model *m)
{
    for (int i = 0; i < m->nnodes; i++)
        if (m->nodes[i].op == CC_OP_CONV2D && !(m->nodes[i].kernel == 1 && m->nodes[i].stride == 1))
            return 1;
    return 0;
}

/* Runs m on a (t, h, w) window on both backends and compares. Frees m. */
static void check(const char *label, cc_nn_model *m, int t, int h, int w, tols tl)
{
    const int nin = m->input.nchannels, cout = m->nodes[m->output_node].cout;
    const size_t np = (size_t)t * (size_t)h * (size_t)w, no = np * (size_t)cout;
    const double tol = (g_prec == 0 || !has_spatial_conv(m)) ? tl.fp32
                       : g_prec == 1                          ? tl.bf16
                                                              : tl.fp16;
    uint16_t *dn = malloc(np * (size_t)nin * sizeof(uint16_t));
    float *fc = malloc(no * sizeof(float)), *fg = malloc(no * sizeof(float)),
          *fg2 = malloc(no * sizeof(float));
    uint16_t *dc = malloc(no * sizeof(uint16_t)), *dg = malloc(no * sizeof(uint16_t));
    CC_ASSERT(dn && fc && fg && fg2 && dc && dg);
    rng_seed(label);
    for (size_t i = 0; i < np * (size_t)nin; i++)
        dn[i] = (uint16_t)(1001 + (int)(urand() * 5000.0));
    for (size_t p = 0; p < np; p++) /* ~2% nodata pixels (one channel at DN 0) */
        if (urand() < 0.02)
            dn[p * (size_t)nin + (size_t)(urand() * nin)] = 0;

    const int fails0 = cc_test_failures;
    CHECK_OK(cc_nn_run_float(g_cpu, m, t, h, w, dn, fc));
    CHECK_OK(cc_nn_run_float(g_gpu, m, t, h, w, dn, fg));
    CHECK_OK(cc_nn_run_float(g_gpu, m, t, h, w, dn, fg2));
    CHECK_OK(cc_nn_run(g_cpu, m, t, h, w, dn, dc));
    CHECK_OK(cc_nn_run(g_gpu, m, t, h, w, dn, dg));
    if (cc_test_failures != fails0)
        goto out;
    {
        double maxb = 0.0, maxd = 0.0;
        size_t nan_mismatch = 0, worst = 0;
        int maxdn = 0;
        for (size_t i = 0; i < no; i++) {
            if (isnan(fc[i]) || isnan(fg[i])) {
                nan_mismatch += isnan(fc[i]) != isnan(fg[i]);
                continue;
            }
            const double b = fabs((double)fc[i]), d = fabs((double)fg[i] - (double)fc[i]);
            if (b > maxb)
                maxb = b;
            if (d > maxd) {
                maxd = d;
                worst = i;
            }
            const int dd = abs((int)dc[i] - (int)dg[i]);
            if (dd > maxdn)
                maxdn = dd;
        }
        const double nerr = maxd / (maxb > 1e-6 ? maxb : 1e-6);
        const int dn_tol = 1 + (int)ceil(tol * maxb * 1e4);
        const int deterministic = memcmp(fg, fg2, no * sizeof(float)) == 0;
        const int ok = nerr <= tol && nan_mismatch == 0 && deterministic &&
                       (g_prec != 0 || maxdn <= dn_tol);
        printf("%-34s %dx%dx%d  nerr %.3e (tol %.1e)  max|cpu| %.3g  worst #%zu gpu %.7g cpu "
               "%.7g  NaN mismatches %zu  DN max diff %d%s  %s  %s\n",
               label, t, h, w, nerr, tol, maxb, worst / (size_t)cout, fg[worst], fc[worst],
               nan_mismatch, maxdn, g_prec ? " (not checked)" : "",
               deterministic ? "deterministic" : "NOT DETERMINISTIC", ok ? "ok" : "FAIL");
        if (!ok)
            cc_test_failures++;
    }
out:
    free(dn);
    free(fc);
    free(fg);
    free(fg2);
    free(dc);
    free(dg);
    cc_nn_model_free(m);
}

/* ---- cases ---- */

static const cc_act acts[] = {CC_ACT_NONE, CC_ACT_RELU, CC_ACT_LEAKY_RELU, CC_ACT_SILU,
                              CC_ACT_SIGMOID};
#define NACTS ((int)(sizeof acts / sizeof acts[0]))
static const tols T_EXACT = {1e-5, 1e-5, 1e-5}; /* no spatial conv: fp32 everywhere */

/* Fused per-pixel MLP: INPUT -> 1x1 convs with every activation, affine, act
 * -> OUTPUT with residual channels (one PIXEL group, DN in, DN out). */
static void case_pixel_mlp(void)
{
    for (int v = 0; v < 2; v++) {
        cc_nn_model m;
        int x = t_input(&m, 16);
        x = t_conv(&m, x, 16, 64, 1, 1, CC_PAD_ZERO, CC_ACT_RELU);
        x = t_conv(&m, x, 64, 48, 1, 1, CC_PAD_ZERO, CC_ACT_LEAKY_RELU);
        x = t_affine(&m, x, 48, CC_ACT_SILU);
        x = t_conv(&m, x, 48, 33, 1, 1, CC_PAD_ZERO, CC_ACT_SIGMOID);
        x = t_op1(&m, CC_OP_ACT, x, CC_ACT_SILU);
        x = t_conv(&m, x, 33, 12, 1, 1, CC_PAD_ZERO, CC_ACT_NONE);
        t_output(&m, x, 12, 1);
        /* v = 1: a window larger than one streaming chunk (two streams) */
        check(v ? "pixel_mlp (streamed, 2+ chunks)" : "pixel_mlp", &m, 1, v ? 320 : 37,
              v ? 448 : 29, T_EXACT);
    }
}

/* Per-pixel chain with wide layers (few pixels per block) and T > 1. */
static void case_pixel_wide(void)
{
    cc_nn_model m;
    int x = t_input(&m, 7);
    x = t_conv(&m, x, 7, 300, 1, 1, CC_PAD_ZERO, CC_ACT_RELU);
    x = t_conv(&m, x, 300, 1024, 1, 1, CC_PAD_ZERO, CC_ACT_SILU);
    x = t_conv(&m, x, 1024, 40, 1, 1, CC_PAD_ZERO, CC_ACT_NONE);
    t_output(&m, x, 40, 0);
    check("pixel_wide", &m, 2, 21, 19, (tols){3e-5, 3e-5, 3e-5});
}

/* Lone INPUT (decode to a tensor, two consumers), 1x1 groups, ADD, lone OUTPUT. */
static void case_decode_tensor(void)
{
    cc_nn_model m;
    int in = t_input(&m, 10);
    int a = t_conv(&m, in, 10, 10, 1, 1, CC_PAD_ZERO, CC_ACT_NONE);
    int ins[2] = {in, a};
    int s = t_op(&m, CC_OP_ADD, 2, ins, CC_ACT_NONE);
    t_output(&m, s, 10, 1);
    check("decode_tensor", &m, 1, 24, 40, T_EXACT);
}

/* INPUT -> conv k (stride s, pad) act [DN-reading conv group]
 *       -> conv3x3 s1 act [tensor conv group, partial channel tiles]
 *       -> (stride 2: nearest x2) -> conv1x1 -> OUTPUT, for every activation. */
static void conv_case(const char *name, int k, int stride, cc_pad pad, tols tl)
{
    static const int shapes[][2] = {{16, 40}, {5, 100}};
    for (int si = 0; si < 2; si++)
        for (int ai = 0; ai < NACTS; ai++) {
            char label[96];
            const int nin = shapes[si][0], c1 = shapes[si][1], c2 = si ? 17 : 70;
            cc_nn_model m;
            int x = t_input(&m, nin);
            x = t_conv(&m, x, nin, c1, k, stride, pad, acts[ai]);
            x = t_conv(&m, x, c1, c2, 3, 1, pad, acts[ai]);
            if (stride == 2)
                x = t_op1(&m, CC_OP_UPSAMPLE2_NEAREST, x, CC_ACT_NONE);
            x = t_conv(&m, x, c2, 12, 1, 1, CC_PAD_ZERO, CC_ACT_NONE);
            t_output(&m, x, 12, 0);
            snprintf(label, sizeof label, "%s %d->%d->%d %s", name, nin, c1, c2,
                     cc_act_name(acts[ai]));
            check(label, &m, 1, 36, 50, tl);
        }
}

static const tols T_CONV = {2e-5, 3e-2, 4e-3};
static void case_conv3x3_zero_s1(void) { conv_case("conv3x3_zero_s1", 3, 1, CC_PAD_ZERO, T_CONV); }
static void case_conv3x3_reflect_s1(void) { conv_case("conv3x3_reflect_s1", 3, 1, CC_PAD_REFLECT, T_CONV); }
static void case_conv3x3_zero_s2(void) { conv_case("conv3x3_zero_s2", 3, 2, CC_PAD_ZERO, T_CONV); }
static void case_conv3x3_reflect_s2(void) { conv_case("conv3x3_reflect_s2", 3, 2, CC_PAD_REFLECT, T_CONV); }
static void case_conv1x1_s2(void) { conv_case("conv1x1_s2", 1, 2, CC_PAD_ZERO, T_CONV); }

/* Fused conv + bias + act + affine/act tail, with and without DN decoding,
 * and a T > 1 window. */
static void case_conv_fused(void)
{
    cc_nn_model m;
    int x = t_input(&m, 16);
    x = t_conv(&m, x, 16, 32, 3, 1, CC_PAD_REFLECT, CC_ACT_SILU);
    x = t_affine(&m, x, 32, CC_ACT_LEAKY_RELU);
    x = t_op1(&m, CC_OP_ACT, x, CC_ACT_SIGMOID);
    x = t_conv(&m, x, 32, 64, 3, 1, CC_PAD_ZERO, CC_ACT_RELU);
    x = t_affine(&m, x, 64, CC_ACT_NONE);
    x = t_conv(&m, x, 64, 12, 1, 1, CC_PAD_ZERO, CC_ACT_NONE);
    t_output(&m, x, 12, 1);
    check("conv_fused", &m, 3, 40, 34, (tols){3e-5, 3e-2, 4e-3});
}

static void case_add(void)
{
    for (int ai = 0; ai < NACTS; ai++) {
        char label[64];
        cc_nn_model m;
        int in = t_input(&m, 16);
        int a = t_conv(&m, in, 16, 24, 1, 1, CC_PAD_ZERO, CC_ACT_NONE);
        int b = t_conv(&m, in, 16, 24, 1, 1, CC_PAD_ZERO, CC_ACT_RELU);
        int ins[2] = {a, b};
        int s = t_op(&m, CC_OP_ADD, 2, ins, acts[ai]);
        t_output(&m, s, 24, 0);
        snprintf(label, sizeof label, "add %s", cc_act_name(acts[ai]));
        check(label, &m, 1, 30, 26, T_EXACT);
    }
}

static void case_concat(void)
{
    for (int k = 2; k <= 4; k++) {
        char label[64];
        static const int widths[4] = {5, 12, 1, 9};
        cc_nn_model m;
        int in = t_input(&m, 8);
        int ins[4], c = 0;
        for (int i = 0; i < k; i++) {
            ins[i] = t_conv(&m, in, 8, widths[i], 1, 1, CC_PAD_ZERO, CC_ACT_SILU);
            c += widths[i];
        }
        int x = t_op(&m, CC_OP_CONCAT, k, ins, CC_ACT_NONE);
        t_output(&m, x, c, 0);
        snprintf(label, sizeof label, "concat %d inputs", k);
        check(label, &m, 1, 22, 18, T_EXACT);
    }
}

/* INPUT -> 1x1 -> pool -> nearest x2 -> OUTPUT (and two levels). */
static void pool_case(const char *name, cc_op_type op)
{
    for (int levels = 1; levels <= 2; levels++) {
        char label[64];
        cc_nn_model m;
        int x = t_input(&m, 12);
        x = t_conv(&m, x, 12, 20, 1, 1, CC_PAD_ZERO, CC_ACT_LEAKY_RELU);
        for (int l = 0; l < levels; l++)
            x = t_op1(&m, op, x, CC_ACT_NONE);
        for (int l = 0; l < levels; l++)
            x = t_op1(&m, CC_OP_UPSAMPLE2_NEAREST, x, CC_ACT_NONE);
        t_output(&m, x, 20, 0);
        snprintf(label, sizeof label, "%s (%d level%s)", name, levels, levels > 1 ? "s" : "");
        check(label, &m, 2, 28, 36, T_EXACT);
    }
}

static void case_avgpool2(void) { pool_case("avgpool2", CC_OP_AVGPOOL2); }
static void case_maxpool2(void) { pool_case("maxpool2", CC_OP_MAXPOOL2); }

/* INPUT -> 1x1 -> avgpool (1 or 2 levels, down to 2x2) -> upsample -> OUTPUT. */
static void upsample_case(const char *name, cc_op_type op)
{
    for (int levels = 1; levels <= 2; levels++) {
        char label[64];
        cc_nn_model m;
        int x = t_input(&m, 12);
        x = t_conv(&m, x, 12, 20, 1, 1, CC_PAD_ZERO, CC_ACT_NONE);
        for (int l = 0; l < levels; l++)
            x = t_op1(&m, CC_OP_AVGPOOL2, x, CC_ACT_NONE);
        for (int l = 0; l < levels; l++)
            x = t_op1(&m, op, x, CC_ACT_NONE);
        t_output(&m, x, 20, 0);
        snprintf(label, sizeof label, "%s (%d level%s)", name, levels, levels > 1 ? "s" : "");
        check(label, &m, 1, levels == 2 ? 8 : 30, levels == 2 ? 12 : 42, T_EXACT);
    }
}

static void case_upsample_nearest(void) { upsample_case("upsample2_nearest", CC_OP_UPSAMPLE2_NEAREST); }
static void case_upsample_bilinear(void) { upsample_case("upsample2_bilinear", CC_OP_UPSAMPLE2_BILINEAR); }

static void case_conv1d_time(void)
{
    static const int kts[] = {1, 3, 4, 5};
    for (int ki = 0; ki < 4; ki++)
        for (int ai = 0; ai < NACTS; ai++) {
            char label[64];
            cc_nn_model m;
            int x = t_input(&m, 10);
            x = t_conv1d(&m, x, 10, 24, kts[ki], acts[ai]);
            x = t_conv(&m, x, 24, 10, 1, 1, CC_PAD_ZERO, CC_ACT_NONE);
            t_output(&m, x, 10, 1);
            snprintf(label, sizeof label, "conv1d_time kt %d %s", kts[ki], cc_act_name(acts[ai]));
            check(label, &m, 6, 14, 18, T_EXACT);
        }
}

static void model_case(char which, int h, int w, tols tl)
{
    cc_nn_model m;
    char label[64];
    cc_nn_model_init(&m);
    if (cc_nn_model_reference(which, 1234u, &m) != CC_OK) {
        fprintf(stderr, "FAIL: model %c: %s\n", which, cc_error_message());
        cc_test_failures++;
        return;
    }
    snprintf(label, sizeof label, "model_%c", which);
    check(label, &m, 1, h, w, tl);
}

static void case_model_A(void)
{
    model_case('A', 64, 48, T_EXACT);
    model_case('A', 320, 448, T_EXACT); /* streamed in 2+ chunks */
}
static void case_model_B(void)
{
    model_case('B', 72, 56, (tols){3e-5, 4e-2, 6e-3});
    model_case('B', 384, 384, (tols){3e-5, 4e-2, 6e-3}); /* DN upload in 2 staging chunks */
}
static void case_model_C(void) { model_case('C', 96, 80, (tols){1e-4, 6e-2, 1e-2}); }

/* The backend reports itself and the engine selected by the environment. */
static void case_probe(void)
{
    const char *d = cc_nn_backend_detail(g_gpu);
    printf("backend %s: %s\n", cc_nn_backend_name(g_gpu), d);
    CHECK(strcmp(cc_nn_backend_name(g_gpu), "cuda") == 0);
    CHECK(d && d[0]);
}

typedef struct {
    const char *name;
    void (*fn)(void);
} test_case;

static const test_case cases[] = {
    {"probe", case_probe},
    {"pixel_mlp", case_pixel_mlp},
    {"pixel_wide", case_pixel_wide},
    {"decode_tensor", case_decode_tensor},
    {"conv3x3_zero_s1", case_conv3x3_zero_s1},
    {"conv3x3_reflect_s1", case_conv3x3_reflect_s1},
    {"conv3x3_zero_s2", case_conv3x3_zero_s2},
    {"conv3x3_reflect_s2", case_conv3x3_reflect_s2},
    {"conv1x1_s2", case_conv1x1_s2},
    {"conv_fused", case_conv_fused},
    {"add", case_add},
    {"concat", case_concat},
    {"avgpool2", case_avgpool2},
    {"maxpool2", case_maxpool2},
    {"upsample2_nearest", case_upsample_nearest},
    {"upsample2_bilinear", case_upsample_bilinear},
    {"conv1d_time", case_conv1d_time},
    {"model_A", case_model_A},
    {"model_B", case_model_B},
    {"model_C", case_model_C},
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "all";
    int found = 0;
    for (int i = 0; i < NCASES; i++)
        found |= strcmp(which, "all") == 0 || strcmp(which, cases[i].name) == 0;
    if (!found) {
        fprintf(stderr, "unknown case '%s'\n", which);
        return 2;
    }
    g_cpu = cc_nn_backend_cpu();
    g_gpu = cc_nn_backend_cuda();
    if (!g_gpu) {
        printf("SKIP: no usable GPU\n");
        return 77;
    }
    const char *prec = getenv("CLEARCUBE_CUDA_PRECISION");
    const char *conv = getenv("CLEARCUBE_CUDA_CONV");
    const char *detail = cc_nn_backend_detail(g_gpu);
    g_prec = prec && strcmp(prec, "bf16") == 0 ? 1 : (prec && strcmp(prec, "fp16") == 0 ? 2 : 0);
    if (conv && strcmp(conv, "cudnn") == 0 && !strstr(detail, "conv cudnn")) {
        printf("SKIP: CLEARCUBE_CUDA_CONV=cudnn but the backend runs '%s' (built without cuDNN)\n",
               detail);
        return 77;
    }
    printf("CUDA backend: %s; CPU reference: %s\n", detail, cc_nn_backend_detail(g_cpu));
    for (int i = 0; i < NCASES; i++)
        if (strcmp(which, "all") == 0 || strcmp(which, cases[i].name) == 0)
            cases[i].fn();
    TEST_RETURN();
}
