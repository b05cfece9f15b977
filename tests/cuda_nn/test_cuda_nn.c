/* Parity of the CUDA network backend with the CPU reference backend.
 *
 *   test_cuda_nn <case>    one case (see `cases` below), or "all"
 *
 * Every case builds a small graph with tests/nn/nn_testlib.h (or takes a reference
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
#include "nn/nn_testlib.h"
#include "testutil.h"

/* ---- graph building: tests/nn/nn_testlib.h; OUTPUT then finalize ---- */

static void t_finish(cc_nn_model *m, int out)
{
    if (out < 0 || cc_nn_model_finalize(m) != CC_OK) {
        fprintf(stderr, "FAIL: building the model: %s\n", cc_error_message());
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
    tl_seed_text(label);
    for (size_t i = 0; i < np * (size_t)nin; i++)
        dn[i] = (uint16_t)(1001 + (int)(tl_uniform() * 5000.0));
    for (size_t p = 0; p < np; p++) /* ~2% nodata pixels (one channel at DN 0) */
        if (tl_uniform() < 0.02)
            dn[p * (size_t)nin + (size_t)(tl_uniform() * nin)] = 0;

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
        int x = tl_input(&m, 16);
        x = tl_conv(&m, x, 64, 1, 1, CC_PAD_ZERO, CC_ACT_RELU, 0.1f);
        x = tl_conv(&m, x, 48, 1, 1, CC_PAD_ZERO, CC_ACT_LEAKY_RELU, 0.1f);
        x = tl_affine(&m, NULL, x, CC_ACT_SILU);
        x = tl_conv(&m, x, 33, 1, 1, CC_PAD_ZERO, CC_ACT_SIGMOID, 0.1f);
        x = tl_op(&m, CC_OP_ACT, x, -1, CC_ACT_SILU);
        x = tl_conv(&m, x, 12, 1, 1, CC_PAD_ZERO, CC_ACT_NONE, 0.1f);
        t_finish(&m, tl_output(&m, x, 1));
        /* v = 1: a window larger than one streaming chunk (two streams) */
        check(v ? "pixel_mlp (streamed, 2+ chunks)" : "pixel_mlp", &m, 1, v ? 320 : 37,
              v ? 448 : 29, T_EXACT);
    }
}

/* Per-pixel chain with wide layers (few pixels per block) and T > 1. */
static void case_pixel_wide(void)
{
    cc_nn_model m;
    int x = tl_input(&m, 7);
    x = tl_conv(&m, x, 300, 1, 1, CC_PAD_ZERO, CC_ACT_RELU, 0.1f);
    x = tl_conv(&m, x, 1024, 1, 1, CC_PAD_ZERO, CC_ACT_SILU, 0.1f);
    x = tl_conv(&m, x, 40, 1, 1, CC_PAD_ZERO, CC_ACT_NONE, 0.1f);
    t_finish(&m, tl_output(&m, x, 0));
    check("pixel_wide", &m, 2, 21, 19, (tols){3e-5, 3e-5, 3e-5});
}

/* Lone INPUT (decode to a tensor, two consumers), 1x1 groups, ADD, lone OUTPUT. */
static void case_decode_tensor(void)
{
    cc_nn_model m;
    int in = tl_input(&m, 10);
    int a = tl_conv(&m, in, 10, 1, 1, CC_PAD_ZERO, CC_ACT_NONE, 0.1f);
    int ins[2] = {in, a};
    int s = tl_opv(&m, NULL, CC_OP_ADD, CC_ACT_NONE, 2, ins);
    t_finish(&m, tl_output(&m, s, 1));
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
            int x = tl_input(&m, nin);
            x = tl_conv(&m, x, c1, k, stride, pad, acts[ai], 0.1f);
            x = tl_conv(&m, x, c2, 3, 1, pad, acts[ai], 0.1f);
            if (stride == 2)
                x = tl_op(&m, CC_OP_UPSAMPLE2_NEAREST, x, -1, CC_ACT_NONE);
            x = tl_conv(&m, x, 12, 1, 1, CC_PAD_ZERO, CC_ACT_NONE, 0.1f);
            t_finish(&m, tl_output(&m, x, 0));
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
    int x = tl_input(&m, 16);
    x = tl_conv(&m, x, 32, 3, 1, CC_PAD_REFLECT, CC_ACT_SILU, 0.1f);
    x = tl_affine(&m, NULL, x, CC_ACT_LEAKY_RELU);
    x = tl_op(&m, CC_OP_ACT, x, -1, CC_ACT_SIGMOID);
    x = tl_conv(&m, x, 64, 3, 1, CC_PAD_ZERO, CC_ACT_RELU, 0.1f);
    x = tl_affine(&m, NULL, x, CC_ACT_NONE);
    x = tl_conv(&m, x, 12, 1, 1, CC_PAD_ZERO, CC_ACT_NONE, 0.1f);
    t_finish(&m, tl_output(&m, x, 1));
    check("conv_fused", &m, 3, 40, 34, (tols){3e-5, 3e-2, 4e-3});
}

static void case_add(void)
{
    for (int ai = 0; ai < NACTS; ai++) {
        char label[64];
        cc_nn_model m;
        int in = tl_input(&m, 16);
        int a = tl_conv(&m, in, 24, 1, 1, CC_PAD_ZERO, CC_ACT_NONE, 0.1f);
        int b = tl_conv(&m, in, 24, 1, 1, CC_PAD_ZERO, CC_ACT_RELU, 0.1f);
        int ins[2] = {a, b};
        int s = tl_opv(&m, NULL, CC_OP_ADD, acts[ai], 2, ins);
        t_finish(&m, tl_output(&m, s, 0));
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
        int in = tl_input(&m, 8);
        int ins[4], c = 0;
        for (int i = 0; i < k; i++) {
            ins[i] = tl_conv(&m, in, widths[i], 1, 1, CC_PAD_ZERO, CC_ACT_SILU, 0.1f);
            c += widths[i];
        }
        int x = tl_opv(&m, NULL, CC_OP_CONCAT, CC_ACT_NONE, k, ins);
        t_finish(&m, tl_output(&m, x, 0));
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
        int x = tl_input(&m, 12);
        x = tl_conv(&m, x, 20, 1, 1, CC_PAD_ZERO, CC_ACT_LEAKY_RELU, 0.1f);
        for (int l = 0; l < levels; l++)
            x = tl_op(&m, op, x, -1, CC_ACT_NONE);
        for (int l = 0; l < levels; l++)
            x = tl_op(&m, CC_OP_UPSAMPLE2_NEAREST, x, -1, CC_ACT_NONE);
        t_finish(&m, tl_output(&m, x, 0));
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
        int x = tl_input(&m, 12);
        x = tl_conv(&m, x, 20, 1, 1, CC_PAD_ZERO, CC_ACT_NONE, 0.1f);
        for (int l = 0; l < levels; l++)
            x = tl_op(&m, CC_OP_AVGPOOL2, x, -1, CC_ACT_NONE);
        for (int l = 0; l < levels; l++)
            x = tl_op(&m, op, x, -1, CC_ACT_NONE);
        t_finish(&m, tl_output(&m, x, 0));
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
            int x = tl_input(&m, 10);
            x = tl_layer(&m, NULL, CC_OP_CONV1D_TIME, x, 24, kts[ki], 1, CC_PAD_ZERO, acts[ai], 0.1f);
            x = tl_conv(&m, x, 10, 1, 1, CC_PAD_ZERO, CC_ACT_NONE, 0.1f);
            t_finish(&m, tl_output(&m, x, 1));
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
