/* Training API (issue 4): model-level checks.
 *  1. cc_train_forward == cc_nn_run_float (CPU runtime) within 1e-5 for the
 *     reference models A, B, C, given DN decoded to rho as the runtime does
 *     (no nodata pixels);
 *  2. thread-count determinism: outputs, parameter and input gradients
 *     bit-identical with 1 and 2 OpenMP threads (MLP on 16384 pixels: many
 *     reduction chunks; model C: spatial convs, pools, upsampling, concat);
 *  3. bad use: unsupported op, batch larger than the maximum, backward before
 *     forward, wrong sizes, wrong optimiser state -> clear errors, no crash;
 *  4. losses, LR schedule, AdamW and init on known values. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "testutil.h"
#include "kernels/train/train.h"
#include "nn/nn_testlib.h"

static void set_threads(int n)
{
#ifdef _OPENMP
    omp_set_num_threads(n);
#else
    (void)n;
#endif
}

static void parity(char which, int t, int h, int w)
{
    cc_nn_model m;
    CHECK_OK(cc_nn_model_reference(which, 3, &m));
    const int nin = m.input.nchannels, nout = m.nodes[m.output_node].cout;
    const size_t np = (size_t)t * h * w;
    uint16_t *dn = malloc(np * nin * sizeof *dn);
    float *rho = malloc(np * nin * sizeof *rho), *ref = malloc(np * nout * sizeof *ref);
    tl_seed((uint64_t)which);
    for (size_t i = 0; i < np * (size_t)nin; i++) {
        dn[i] = (uint16_t)(2500 + (int)(1500.0f * tl_sym(1.0f)));
        rho[i] = (float)(((double)dn[i] + m.input.dn_offset) / m.input.quantification);
    }
    CHECK_OK(cc_nn_run_float(cc_nn_backend_cpu(), &m, t, h, w, dn, ref));
    cc_train_net *net = NULL;
    CHECK_OK(cc_train_net_create(&m, t, h, w, &net));
    const float *out = NULL;
    if (net)
        CHECK_OK(cc_train_forward(net, t, h, w, rho, &out));
    double md = 0.0;
    if (out)
        for (size_t i = 0; i < np * (size_t)nout; i++) {
            const double d = fabs((double)out[i] - (double)ref[i]);
            md = isfinite(d) && md < d ? d : (isfinite(d) ? md : INFINITY);
        }
    printf("model %c %dx%dx%d: max |train forward - cc_nn_run_float| = %.3g\n", which, t, h, w, md);
    CHECK(out != NULL && md <= 1e-5);
    cc_train_net_free(net);
    free(dn);
    free(rho);
    free(ref);
    cc_nn_model_free(&m);
}

/* Runs forward+backward with nt threads; returns malloc'd out|grads|input grad. */
static float *run_threads(cc_nn_model *m, int b, int h, int w, int nt, size_t *len)
{
    set_threads(nt);
    cc_train_net *net = NULL;
    CHECK_OK(cc_train_net_create(m, b, h, w, &net));
    if (!net)
        return NULL;
    const int nin = m->input.nchannels, nout = m->nodes[m->output_node].cout;
    const size_t np = (size_t)b * h * w, npar = cc_train_nparams(net);
    float *rho = malloc(np * nin * sizeof(float)), *dout = malloc(np * nout * sizeof(float));
    tl_seed(11);
    for (size_t i = 0; i < np * (size_t)nin; i++)
        rho[i] = 0.2f + 0.15f * tl_sym(1.0f);
    for (size_t i = 0; i < np * (size_t)nout; i++)
        dout[i] = tl_sym(1.0f);
    *len = np * nout + npar + np * nin;
    float *res = malloc(*len * sizeof(float));
    const float *out;
    CHECK_OK(cc_train_forward(net, b, h, w, rho, &out));
    memcpy(res, out, np * nout * sizeof(float));
    cc_train_zero_grads(net);
    CHECK_OK(cc_train_backward(net, dout));
    memcpy(res + np * nout, cc_train_grads(net), npar * sizeof(float));
    memcpy(res + np * nout + npar, cc_train_input_grad(net), np * nin * sizeof(float));
    free(rho);
    free(dout);
    cc_train_net_free(net);
    return res;
}

static void determinism(const char *name, cc_nn_model *m, int b, int h, int w)
{
    size_t l1 = 0, l2 = 0;
    float *a = run_threads(m, b, h, w, 1, &l1), *c = run_threads(m, b, h, w, 2, &l2);
    const int same = a && c && l1 == l2 && memcmp(a, c, l1 * sizeof(float)) == 0;
    printf("determinism %s %dx%dx%d: outputs+gradients with 1 and 2 threads %s\n", name, b, h, w,
           same ? "bit-identical" : "DIFFER");
    CHECK(same);
    free(a);
    free(c);
    set_threads(2);
}

static void mlp(cc_nn_model *m)
{
    tl_seed(5);
    cc_nn_model_init(m);
    int x = tl_input(m, 18);
    x = tl_layer(m, "fc1", CC_OP_CONV2D, x, 64, 1, 1, CC_PAD_ZERO, CC_ACT_SILU, TL_ALPHA);
    x = tl_layer(m, "fc2", CC_OP_CONV2D, x, 64, 1, 1, CC_PAD_ZERO, CC_ACT_SILU, TL_ALPHA);
    x = tl_layer(m, "fc3", CC_OP_CONV2D, x, 12, 1, 1, CC_PAD_ZERO, CC_ACT_NONE, TL_ALPHA);
    x = tl_output_resid(m, x, NULL, 0.0);
    CHECK(x >= 0);
    CHECK_OK(cc_nn_model_finalize(m));
}

static int has(const char *msg, const char *what)
{
    return strstr(msg, what) != NULL;
}

static void bad_use(void)
{
    cc_nn_model m;
    cc_train_net *net = NULL;
    mlp(&m);
    CHECK(cc_train_net_create(NULL, 1, 1, 8, &net) == CC_ERR_ARG && net == NULL);
    CHECK(cc_train_net_create(&m, 0, 1, 8, &net) == CC_ERR_ARG && net == NULL);
    /* unsupported op: a conv2d kernel the backward pass does not have */
    m.nodes[2].kernel = 5;
    cc_status st = cc_train_net_create(&m, 1, 1, 8, &net);
    printf("unsupported kernel: %s: %s\n", cc_status_name(st), cc_error_message());
    CHECK(st == CC_ERR_UNSUPPORTED && net == NULL && has(cc_error_message(), "conv2d") &&
          has(cc_error_message(), "fc2"));
    m.nodes[2].kernel = 1;
    m.nodes[2].op = CC_OP_COUNT; /* an op unknown to this build */
    st = cc_train_net_create(&m, 1, 1, 8, &net);
    printf("unknown op: %s: %s\n", cc_status_name(st), cc_error_message());
    CHECK(st == CC_ERR_UNSUPPORTED && net == NULL && has(cc_error_message(), "fc2"));
    m.nodes[2].op = CC_OP_CONV2D;

    CHECK_OK(cc_train_net_create(&m, 1, 1, 64, &net));
    if (!net)
        return;
    float rho[18 * 128] = {0}, dout[12 * 128] = {0};
    const float *out = NULL;
    st = cc_train_backward(net, dout);
    printf("backward before forward: %s: %s\n", cc_status_name(st), cc_error_message());
    CHECK(st == CC_ERR_ARG);
    st = cc_train_forward(net, 1, 1, 65, rho, &out);
    printf("batch too large: %s: %s\n", cc_status_name(st), cc_error_message());
    CHECK(st == CC_ERR_ARG && has(cc_error_message(), "larger than the maximum"));
    CHECK(cc_train_forward(net, 0, 1, 8, rho, &out) == CC_ERR_ARG);
    CHECK(cc_train_forward(net, 1, 1, 8, NULL, &out) == CC_ERR_ARG);
    /* a per-pixel model accepts any layout of at most 64 pixels */
    CHECK_OK(cc_train_forward(net, 64, 1, 1, rho, &out));
    CHECK_OK(cc_train_forward(net, 4, 4, 4, rho, &out));
    CHECK_OK(cc_train_backward(net, dout));
    cc_adamw_state s;
    cc_adamw_options o;
    cc_adamw_options_init(&o);
    CHECK_OK(cc_adamw_init(&s, cc_train_nparams(net) + 1));
    CHECK(cc_train_adamw_step(net, &s, &o, cc_train_grads(net)) == CC_ERR_ARG);
    cc_adamw_free(&s);
    cc_train_net_free(net);
    cc_nn_model_free(&m);

    /* spatial model: H, W must be multiples of the pooling depth */
    CHECK_OK(cc_nn_model_reference('C', 1, &m));
    CHECK(cc_train_net_create(&m, 1, 6, 8, &net) == CC_ERR_ARG && net == NULL);
    CHECK_OK(cc_train_net_create(&m, 1, 8, 8, &net));
    float *rc = calloc(16 * 16 * 16, sizeof(float));
    st = net ? cc_train_forward(net, 1, 16, 16, rc, &out) : CC_ERR_ARG;
    CHECK(st == CC_ERR_ARG);
    CHECK(net && cc_train_forward(net, 1, 4, 6, rc, &out) == CC_ERR_ARG);
    free(rc);
    cc_train_net_free(net);
    cc_nn_model_free(&m);
}

static void numerics(void)
{
    /* losses */
    const float y[4] = {1.0f, 2.0f, -1.0f, 0.5f}, t[4] = {0.0f, 2.5f, 1.0f, 0.5f};
    const float w[4] = {1.0f, 2.0f, 1.0f, 0.0f};
    float g[4];
    double l = cc_train_loss(CC_LOSS_MSE, 0.0, 4, y, t, w, g);
    CHECK_NEAR(l, (1.0 + 2.0 * 0.25 + 4.0) / 4.0, 1e-12);
    CHECK_NEAR(g[0], 2.0 * 1.0 / 4.0, 1e-7);
    CHECK_NEAR(g[1], 2.0 * 2.0 * -0.5 / 4.0, 1e-7);
    CHECK(g[3] == 0.0f);
    l = cc_train_loss(CC_LOSS_L1, 0.0, 4, y, t, NULL, g);
    CHECK_NEAR(l, (1.0 + 0.5 + 2.0 + 0.0) / 4.0, 1e-12);
    CHECK_NEAR(g[2], -0.25, 1e-7);
    CHECK(g[3] == 0.0f);
    l = cc_train_loss(CC_LOSS_HUBER, 1.0, 4, y, t, NULL, g);
    CHECK_NEAR(l, (0.5 + 0.125 + 1.5 + 0.0) / 4.0, 1e-12);
    CHECK_NEAR(g[1], -0.5 / 4.0, 1e-7);
    CHECK_NEAR(g[2], -1.0 / 4.0, 1e-7);
    const float w0[4] = {0};
    g[0] = 9.0f;
    CHECK(cc_train_loss(CC_LOSS_MSE, 0.0, 4, y, t, w0, g) == 0.0 && g[0] == 0.0f);
    /* schedule */
    CHECK_NEAR(cc_train_lr(0, 100, 10, 1.0, 0.1), 0.0, 1e-15);
    CHECK_NEAR(cc_train_lr(5, 100, 10, 1.0, 0.1), 0.5, 1e-15);
    CHECK_NEAR(cc_train_lr(10, 100, 10, 1.0, 0.1), 1.0, 1e-15);
    CHECK_NEAR(cc_train_lr(55, 100, 10, 1.0, 0.1), 0.55, 1e-12);
    CHECK_NEAR(cc_train_lr(100, 100, 10, 1.0, 0.1), 0.1, 1e-15);
    CHECK_NEAR(cc_train_lr(500, 100, 10, 1.0, 0.1), 0.1, 1e-15);
    /* init: deterministic, biases 0, Kaiming-uniform bound */
    cc_nn_model a, b;
    mlp(&a);
    mlp(&b);
    cc_train_init_params(&a, 9);
    cc_train_init_params(&b, 9);
    CHECK(memcmp(a.nodes[1].weight, b.nodes[1].weight, 18 * 64 * sizeof(float)) == 0);
    cc_train_init_params(&b, 10);
    CHECK(memcmp(a.nodes[1].weight, b.nodes[1].weight, 18 * 64 * sizeof(float)) != 0);
    float wmax = 0.0f;
    for (int i = 0; i < 64 * 64; i++)
        wmax = fmaxf(wmax, fabsf(a.nodes[2].weight[i]));
    CHECK(wmax <= sqrtf(6.0f / 64.0f) && wmax > 0.9f * sqrtf(6.0f / 64.0f));
    CHECK(a.nodes[1].bias[0] == 0.0f && a.nodes[3].bias[11] == 0.0f);
    CHECK(a.nodes[4].scale[0] == b.nodes[4].scale[0]); /* output scaling untouched */
    /* AdamW: first step moves every parameter by lr*sign(g) (+ decay on weights) */
    cc_train_net *net = NULL;
    CHECK_OK(cc_train_net_create(&a, 1, 1, 4, &net));
    if (net) {
        const size_t n = cc_train_nparams(net);
        CHECK(n == (size_t)(18 * 64 + 64 + 64 * 64 + 64 + 64 * 12 + 12));
        float *p0 = malloc(n * sizeof(float)), *p1 = malloc(n * sizeof(float));
        float *gg = malloc(n * sizeof(float));
        cc_train_get_params(net, p0);
        for (size_t i = 0; i < n; i++)
            gg[i] = (i % 3 == 0) ? 0.5f : -2.0f;
        cc_adamw_state s;
        cc_adamw_options o;
        cc_adamw_options_init(&o);
        o.lr = 0.01;
        o.weight_decay = 0.1;
        CHECK_OK(cc_adamw_init(&s, n));
        CHECK_OK(cc_train_adamw_step(net, &s, &o, gg));
        cc_train_get_params(net, p1);
        double maxerr = 0.0;
        for (size_t i = 0; i < n; i++) {
            const int is_bias = (i >= 18 * 64 && i < 18 * 64 + 64) ||
                                (i >= 18 * 64 + 64 + 4096 && i < 18 * 64 + 64 + 4096 + 64) ||
                                i >= n - 12;
            double e = (double)p0[i] * (is_bias ? 1.0 : 1.0 - 0.01 * 0.1) -
                       0.01 * (gg[i] > 0 ? 1.0 : -1.0);
            maxerr = fmax(maxerr, fabs(e - p1[i]));
        }
        CHECK(maxerr < 1e-6);
        CHECK(s.step == 1);
        cc_adamw_free(&s);
        free(p0);
        free(p1);
        free(gg);
        cc_train_net_free(net);
    }
    cc_nn_model_free(&a);
    cc_nn_model_free(&b);
}

int main(void)
{
    parity('A', 2, 8, 8);
    parity('B', 2, 12, 10);
    parity('C', 1, 16, 24);
    parity('C', 2, 8, 8);

    cc_nn_model m;
    mlp(&m);
    determinism("MLP", &m, 1, 1, 16384);
    cc_nn_model_free(&m);
    CHECK_OK(cc_nn_model_reference('C', 5, &m));
    determinism("model C", &m, 2, 16, 16);
    cc_nn_model_free(&m);
    CHECK_OK(cc_nn_model_reference('B', 5, &m));
    determinism("model B", &m, 1, 24, 20);
    cc_nn_model_free(&m);

    bad_use();
    numerics();
    printf("%s\n", cc_test_failures ? "FAILED" : "OK");
    return cc_test_failures ? 1 : 0;
}
