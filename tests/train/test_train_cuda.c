/* Training's backward GEMMs on CUDA (issue 15; kernels/cuda/train_cuda.h,
 * cc_train_net_use_cuda; docs/gpu.md "Training on CUDA").
 *
 *   test_train_cuda dispatch   (label unit, runs anywhere) asking a net for a GPU
 *       it cannot have (index 9999; and GPU 0 where none is usable) fails with
 *       CC_ERR_NODEVICE and a one-line message and leaves the net on the CPU:
 *       the steps after the failed call are bit-identical to a net never asked.
 *   test_train_cuda gpu        (label gpu; exit 77 without a usable GPU)
 *       1. the cuBLAS GEMM against the CPU GEMM (kernels/train/gemm.c) on odd
 *          shapes, both A layouts and general strides, bias, accumulate, padded
 *          ldb/ldc: normalised error <= GEMM_TOL;
 *       2. STEPS AdamW steps of a per-pixel MLP and of a spatial conv model on
 *          the CPU and on the GPU from the same weights: first-step gradients
 *          within GRAD_TOL (normalised per parameter array), every step's loss
 *          within LOSS_TOL (relative), final weights within WEIGHT_RMS_TOL
 *          (rms of the difference / rms of the weights) and at most
 *          2 x STEPS x lr apart anywhere (AdamW moves a weight by <= ~lr a step);
 *       3. two GPU runs give bit-identical losses and weights.
 *       The measured errors are printed (to tighten the bounds on a GPU).
 *   test_train_cuda bench [npix] [iters]   (no assertion; docs/gpu.md) forward +
 *       backward + AdamW of the BoA-sized MLP 18->64->64->64->12 (SiLU) on npix
 *       pixels (default 65536): ms per step on the CPU and, when usable, on GPU 0. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"
#include "kernels/cuda/train_cuda.h"
#include "kernels/train/train-impl.h"
#include "kernels/train/train.h"
#include "nn/nn_testlib.h"

#define GEMM_TOL 1e-5
#define GRAD_TOL 1e-4
#define LOSS_TOL 1e-4
#define WEIGHT_RMS_TOL 1e-3
#define STEPS 10
#define LR 1e-3

/* ---- models ---- */
static void build(cc_nn_model *m, int spatial)
{
    tl_seed(spatial ? 21 : 11);
    int x = tl_input(m, 6);
    if (spatial) {
        x = tl_conv(m, x, 12, 3, 1, CC_PAD_REFLECT, CC_ACT_SILU, TL_ALPHA);
        x = tl_conv(m, x, 16, 3, 2, CC_PAD_ZERO, CC_ACT_LEAKY_RELU, TL_ALPHA);
        x = tl_op(m, CC_OP_UPSAMPLE2_NEAREST, x, -1, CC_ACT_NONE);
        x = tl_conv(m, x, 4, 1, 1, CC_PAD_ZERO, CC_ACT_NONE, TL_ALPHA);
    } else {
        x = tl_conv(m, x, 33, 1, 1, CC_PAD_ZERO, CC_ACT_SILU, TL_ALPHA);
        x = tl_no_bias(m, tl_conv(m, x, 29, 1, 1, CC_PAD_ZERO, CC_ACT_RELU, TL_ALPHA));
        x = tl_conv(m, x, 4, 1, 1, CC_PAD_ZERO, CC_ACT_NONE, TL_ALPHA);
    }
    if (tl_output(m, x, 1) < 0 || cc_nn_model_finalize(m) != CC_OK) {
        fprintf(stderr, "cannot build the model: %s\n", cc_error_message());
        exit(1);
    }
}

typedef struct {
    int b, h, w;
    size_t nin, nout;
    float *rho, *target, *dout;
} batch;

static void make_batch(batch *bt, int spatial)
{
    bt->b = spatial ? 2 : 1;
    bt->h = spatial ? 10 : 1;
    bt->w = spatial ? 14 : 1000;
    const size_t px = (size_t)bt->b * bt->h * bt->w;
    bt->nin = px * 6;
    bt->nout = px * 4;
    bt->rho = malloc(bt->nin * sizeof(float));
    bt->target = malloc(bt->nout * sizeof(float));
    bt->dout = malloc(bt->nout * sizeof(float));
    tl_seed(5);
    for (size_t i = 0; i < bt->nin; i++)
        bt->rho[i] = 0.25f + 0.2f * tl_sym(1.0f);
    for (size_t i = 0; i < bt->nout; i++)
        bt->target[i] = 0.3f + 0.1f * tl_sym(1.0f);
}

static void free_batch(batch *bt)
{
    free(bt->rho);
    free(bt->target);
    free(bt->dout);
}

/* STEPS steps on device `dev` (-1: CPU); losses[STEPS], params (nparams),
 * grad1 (nparams: the first step's gradient). Returns the status of use_cuda. */
static cc_status run(int spatial, int dev, double *losses, float **params, float **grad1, size_t *np)
{
    cc_nn_model m;
    build(&m, spatial);
    batch bt;
    make_batch(&bt, spatial);
    cc_train_net *n = NULL;
    CHECK_OK(cc_train_net_create(&m, bt.b, bt.h, bt.w, &n));
    cc_status st = dev >= 0 ? cc_train_net_use_cuda(n, dev) : CC_OK;
    *np = cc_train_nparams(n);
    *params = malloc(*np * sizeof(float));
    *grad1 = malloc(*np * sizeof(float));
    cc_adamw_state s;
    CHECK_OK(cc_adamw_init(&s, *np));
    cc_adamw_options o;
    cc_adamw_options_init(&o);
    o.lr = LR;
    o.weight_decay = 0.01;
    for (int k = 0; k < STEPS; k++) {
        const float *y;
        CHECK_OK(cc_train_forward(n, bt.b, bt.h, bt.w, bt.rho, &y));
        losses[k] = cc_train_loss(CC_LOSS_HUBER, 0.1, bt.nout, y, bt.target, NULL, bt.dout);
        cc_train_zero_grads(n);
        CHECK_OK(cc_train_backward(n, bt.dout));
        if (k == 0)
            memcpy(*grad1, cc_train_grads(n), *np * sizeof(float));
        CHECK_OK(cc_train_adamw_step(n, &s, &o, cc_train_grads(n)));
    }
    cc_train_get_params(n, *params);
    cc_adamw_free(&s);
    cc_train_net_free(n);
    cc_nn_model_free(&m);
    free_batch(&bt);
    return st;
}

/* ---- dispatch (runs anywhere) ---- */
static int dispatch(void)
{
    for (int spatial = 0; spatial < 2; spatial++) {
        double la[STEPS], lb[STEPS];
        float *pa, *ga, *pb, *gb;
        size_t na, nb;
        run(spatial, -1, la, &pa, &ga, &na);
        cc_status st = run(spatial, 9999, lb, &pb, &gb, &nb);
        CHECK(st == CC_ERR_NODEVICE);
        const char *msg = cc_error_message();
        CHECK(strstr(msg, "train cuda: GPU 9999 not usable: ") == msg && !strchr(msg, '\n'));
        printf("use_cuda(9999): %s\n", msg);
        CHECK(na == nb && memcmp(pa, pb, na * sizeof(float)) == 0 &&
              memcmp(ga, gb, na * sizeof(float)) == 0 && memcmp(la, lb, sizeof la) == 0);
        free(pb);
        free(gb);
        cc_cuda_train *t = NULL;
        if (cc_cuda_train_create(0, &t) != CC_OK) { /* no usable GPU 0: the same for it */
            CHECK(cc_error_status() == CC_ERR_NODEVICE);
            printf("no usable GPU: %s\n", cc_error_message());
            st = run(spatial, 0, lb, &pb, &gb, &nb);
            CHECK(st == CC_ERR_NODEVICE && memcmp(pa, pb, na * sizeof(float)) == 0 &&
                  memcmp(la, lb, sizeof la) == 0);
            free(pb);
            free(gb);
        }
        cc_cuda_train_free(t);
        free(pa);
        free(ga);
    }
    /* the engine names the device */
    cc_nn_model m;
    build(&m, 0);
    cc_train_net *n = NULL;
    CHECK_OK(cc_train_net_create(&m, 1, 1, 16, &n));
    CHECK(strncmp(cc_train_net_engine(n), "cpu (", 5) == 0);
    printf("engine: %s\n", cc_train_net_engine(n));
    cc_train_net_free(n);
    cc_nn_model_free(&m);
    TEST_RETURN();
}

/* ---- the GPU ---- */
static double max_abs(const float *a, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i]));
    return m;
}

/* one GEMM case: A as (ai, ak) over a buffer of alen floats */
static void gemm_case(cc_cuda_train *t, int M, int N, int K, int layout, int bias, int accum, int pad)
{
    const ptrdiff_t ai = layout == 0 ? K + pad : layout == 1 ? 1 : 2 * K + 3;
    const ptrdiff_t ak = layout == 0 ? 1 : layout == 1 ? M + pad : 2;
    const ptrdiff_t ldb = N + pad, ldc = N + 2 * pad;
    const size_t alen = (size_t)(M > 0 ? M - 1 : 0) * (size_t)ai + (size_t)(K > 0 ? K - 1 : 0) * (size_t)ak + 1;
    const size_t blen = (size_t)K * (size_t)ldb + rup16((size_t)N) + SLACK;
    const size_t clen = (size_t)M * (size_t)ldc;
    float *A = malloc(alen * sizeof(float)), *B = calloc(blen, sizeof(float));
    float *bs = calloc(rup16((size_t)N) + SLACK, sizeof(float));
    float *C0 = malloc(clen * sizeof(float)), *C1 = malloc(clen * sizeof(float));
    for (size_t i = 0; i < alen; i++)
        A[i] = tl_sym(1.0f);
    for (size_t i = 0; i < (size_t)K * (size_t)ldb; i++)
        B[i] = tl_sym(1.0f);
    for (int j = 0; j < N; j++)
        bs[j] = tl_sym(1.0f);
    for (size_t i = 0; i < clen; i++)
        C0[i] = C1[i] = tl_sym(1.0f);
    gemm_t g = {M, N, K, A, ai, ak, B, ldb, bias ? bs : NULL, C0, ldc, accum};
    cc_train_gemm(&g);
    float *dA = cc_cuda_train_buf(t, 0, alen), *dB = cc_cuda_train_buf(t, 1, blen);
    float *db = cc_cuda_train_buf(t, 2, (size_t)N), *dC = cc_cuda_train_buf(t, 3, clen);
    CHECK(dA && dB && db && dC);
    CHECK_OK(cc_cuda_train_put(t, dA, A, alen));
    CHECK_OK(cc_cuda_train_put(t, dB, B, blen));
    CHECK_OK(cc_cuda_train_put(t, db, bs, (size_t)N));
    CHECK_OK(cc_cuda_train_put(t, dC, C1, clen));
    cc_cuda_gemm_args ga = {M, N, K, dA, ai, ak, dB, ldb, bias ? db : NULL, dC, ldc, accum};
    CHECK_OK(cc_cuda_train_gemm(t, &ga));
    CHECK_OK(cc_cuda_train_get(t, C1, dC, clen));
    double err = 0;
    for (size_t i = 0; i < clen; i++)
        err = fmax(err, fabs((double)C1[i] - C0[i]));
    err /= fmax(max_abs(C0, clen), 1e-6);
    printf("gemm %4dx%4dx%4d layout %d bias %d accum %d pad %d: error %.3g (tol %.0g)\n", M, N, K,
           layout, bias, accum, pad, err, GEMM_TOL);
    CHECK(err <= GEMM_TOL);
    free(A);
    free(B);
    free(bs);
    free(C0);
    free(C1);
}

static double rel_err(const float *a, const float *b, size_t n)
{
    double e = 0;
    for (size_t i = 0; i < n; i++)
        e = fmax(e, fabs((double)a[i] - b[i]));
    return e / fmax(max_abs(b, n), 1e-12);
}

static void parity(int spatial)
{
    const char *what = spatial ? "spatial" : "mlp";
    double lc[STEPS], lg[STEPS], lg2[STEPS];
    float *pc, *gc, *pg, *gg, *pg2, *gg2;
    size_t nc, ng, ng2;
    run(spatial, -1, lc, &pc, &gc, &nc);
    CHECK_OK(run(spatial, 0, lg, &pg, &gg, &ng));
    CHECK_OK(run(spatial, 0, lg2, &pg2, &gg2, &ng2));
    CHECK(nc == ng && ng == ng2);
    /* gradients of the first step, per parameter array (same model: same layout) */
    cc_nn_model m;
    build(&m, spatial);
    double gerr = 0;
    size_t off = 0;
    for (int i = 0; i < m.nnodes; i++) {
        const cc_nn_node *nd = &m.nodes[i];
        if (nd->op != CC_OP_CONV2D)
            continue;
        const size_t nw = (size_t)nd->cout * nd->kernel * nd->kernel * m.nodes[nd->inputs[0]].cout;
        gerr = fmax(gerr, rel_err(gg + off, gc + off, nw));
        off += nw;
        if (nd->bias) {
            gerr = fmax(gerr, rel_err(gg + off, gc + off, (size_t)nd->cout));
            off += (size_t)nd->cout;
        }
    }
    cc_nn_model_free(&m);
    CHECK(off == nc);
    double lerr = 0, ss = 0, sw = 0, wmax = 0;
    for (int k = 0; k < STEPS; k++)
        lerr = fmax(lerr, fabs(lg[k] - lc[k]) / fmax(fabs(lc[k]), 1e-12));
    for (size_t i = 0; i < nc; i++) {
        const double d = (double)pg[i] - pc[i];
        ss += d * d;
        sw += (double)pc[i] * pc[i];
        wmax = fmax(wmax, fabs(d));
    }
    const double wrms = sqrt(ss / fmax(sw, 1e-30));
    printf("%s: %zu parameters, loss %.6g -> %.6g; first-step gradient error %.3g (tol %.0g), "
           "loss error %.3g (tol %.0g), weights rms %.3g (tol %.0g), max %.3g (bound %.3g)\n",
           what, nc, lc[0], lc[STEPS - 1], gerr, GRAD_TOL, lerr, LOSS_TOL, wrms, WEIGHT_RMS_TOL, wmax,
           2.0 * STEPS * LR);
    CHECK(gerr <= GRAD_TOL);
    CHECK(lerr <= LOSS_TOL);
    CHECK(wrms <= WEIGHT_RMS_TOL);
    CHECK(wmax <= 2.0 * STEPS * LR);
    const int same = memcmp(pg, pg2, nc * sizeof(float)) == 0 && memcmp(gg, gg2, nc * sizeof(float)) == 0 &&
                     memcmp(lg, lg2, sizeof lg) == 0;
    printf("%s: two GPU runs %s\n", what, same ? "bit-identical" : "DIFFER");
    CHECK(same);
    free(pc), free(gc), free(pg), free(gg), free(pg2), free(gg2);
}

static int gpu(void)
{
    cc_cuda_train *t = NULL;
    if (cc_cuda_train_create(0, &t) != CC_OK) {
        printf("SKIP: no usable GPU: %s\n", cc_error_message());
        return 77;
    }
    printf("%s\n", cc_cuda_train_name(t));
    tl_seed(3);
    static const int shapes[][3] = {{1, 1, 1}, {7, 13, 5}, {64, 33, 257}, {300, 17, 64},
                                    {33, 64, 1000}, {1, 40, 300}, {50, 1, 9}, {20, 30, 1}, {5, 8, 0}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int layout = 0; layout < 3; layout++)
            for (int v = 0; v < 4; v++)
                gemm_case(t, shapes[s][0], shapes[s][1], shapes[s][2], layout, v & 1, v >> 1,
                          (int)((s + (size_t)v) % 3) * 5);
    cc_cuda_train_free(t);
    parity(0);
    parity(1);
    TEST_RETURN();
}

/* ---- bench ---- */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double bench_one(int npix, int iters, int dev, char *engine, size_t len)
{
    cc_nn_model m;
    tl_seed(7);
    int x = tl_input(&m, 18);
    for (int l = 0; l < 3; l++)
        x = tl_conv(&m, x, 64, 1, 1, CC_PAD_ZERO, CC_ACT_SILU, TL_ALPHA);
    x = tl_conv(&m, x, 12, 1, 1, CC_PAD_ZERO, CC_ACT_NONE, TL_ALPHA);
    if (tl_output(&m, x, 0) < 0 || cc_nn_model_finalize(&m) != CC_OK)
        return -1;
    cc_train_net *n = NULL;
    double ms = -1;
    if (cc_train_net_create(&m, 1, 1, npix, &n) == CC_OK &&
        (dev < 0 || cc_train_net_use_cuda(n, dev) == CC_OK)) {
        snprintf(engine, len, "%s", cc_train_net_engine(n));
        float *rho = malloc((size_t)npix * 18 * sizeof(float)), *t = malloc((size_t)npix * 12 * sizeof(float));
        float *d = malloc((size_t)npix * 12 * sizeof(float));
        for (size_t i = 0; i < (size_t)npix * 18; i++)
            rho[i] = 0.25f + 0.2f * tl_sym(1.0f);
        for (size_t i = 0; i < (size_t)npix * 12; i++)
            t[i] = 0.3f;
        cc_adamw_state s;
        cc_adamw_options o;
        cc_adamw_options_init(&o);
        o.lr = LR;
        double t0 = 0;
        if (cc_adamw_init(&s, cc_train_nparams(n)) == CC_OK) {
            for (int k = 0; k <= iters; k++) { /* step 0: warm-up */
                if (k == 1)
                    t0 = now_s();
                const float *y;
                if (cc_train_forward(n, 1, 1, npix, rho, &y) != CC_OK)
                    break;
                cc_train_loss(CC_LOSS_MSE, 0, (size_t)npix * 12, y, t, NULL, d);
                cc_train_zero_grads(n);
                if (cc_train_backward(n, d) != CC_OK ||
                    cc_train_adamw_step(n, &s, &o, cc_train_grads(n)) != CC_OK)
                    break;
                if (k == iters)
                    ms = 1e3 * (now_s() - t0) / iters;
            }
            cc_adamw_free(&s);
        }
        free(rho), free(t), free(d);
    }
    cc_train_net_free(n);
    cc_nn_model_free(&m);
    return ms;
}

static int bench(int npix, int iters)
{
    char e[512];
    double c = bench_one(npix, iters, -1, e, sizeof e);
    printf("bench: %d px, %d steps: cpu %.2f ms/step (%s)\n", npix, iters, c, e);
    double g = bench_one(npix, iters, 0, e, sizeof e);
    if (g < 0)
        printf("bench: GPU 0: %s\n", cc_error_message());
    else
        printf("bench: %d px, %d steps: cuda %.2f ms/step (%s); cpu/cuda %.2f\n", npix, iters, g, e, c / g);
    return c < 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "bench"))
        return bench(argc > 2 ? atoi(argv[2]) : 65536, argc > 3 ? atoi(argv[3]) : 5);
    if (argc > 1 && !strcmp(argv[1], "dispatch"))
        return dispatch();
    if (argc > 1 && !strcmp(argv[1], "gpu"))
        return gpu();
    fprintf(stderr, "usage: test_train_cuda dispatch|gpu\n");
    return 2;
}
