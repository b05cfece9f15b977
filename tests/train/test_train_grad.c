/* Finite-difference gradient checks of every training op (issue 4).
 *
 * For each small network (one op or op variant under test, between the input
 * normalisation and the output node with residual channels), the loss
 * L = sum_i r_i * out_i (random r) is differentiated by cc_train_backward and
 * by central differences (L evaluated in double from the float forward, step
 * H_REL * max(1, |p|)) for EVERY parameter and every input reflectance.
 * Pass: ||fd - an|| / ||fd|| <= GLOBAL_TOL over the network, and each element
 * |fd - an| <= ELEM_RTOL * max(|fd|, |an|) + ELEM_ATOL * max|an|, with at
 * most 1% of the elements outside (kinks of ReLU / max-pool crossed by the
 * finite step). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "kernels/train/train.h"
#include "nn/nn_testlib.h"

#define H_REL 2e-3
#define GLOBAL_TOL 5e-3
#define ELEM_RTOL 2e-2
#define ELEM_ATOL 2e-3

static double loss_of(cc_train_net *net, int b, int h, int w, const float *rho, const double *r,
                      size_t nout)
{
    const float *out;
    if (cc_train_forward(net, b, h, w, rho, &out) != CC_OK)
        return NAN;
    double s = 0.0;
    for (size_t i = 0; i < nout; i++)
        s += r[i] * (double)out[i];
    return s;
}

typedef struct {
    double num, den, gmax;
    size_t n, bad;
} stats;

static void acc(stats *s, double fd, double an)
{
    s->num += (fd - an) * (fd - an);
    s->den += fd * fd;
    s->n++;
}

/* Checks model m (finalized) on a (b, h, w) batch. */
static void check_model(const char *name, cc_nn_model *m, int b, int h, int w, unsigned seed)
{
    cc_train_net *net = NULL;
    cc_status st = cc_train_net_create(m, b, h, w, &net);
    if (st != CC_OK) {
        fprintf(stderr, "FAIL %s: create: %s\n", name, cc_error_message());
        cc_test_failures++;
        return;
    }
    const int nin = m->input.nchannels, nout_c = m->nodes[m->output_node].cout;
    const size_t nrho = (size_t)b * h * w * nin, nout = (size_t)b * h * w * nout_c;
    const size_t np = cc_train_nparams(net);
    tl_seed(seed);
    float *rho = malloc(nrho * sizeof(float)), *dout = malloc(nout * sizeof(float));
    double *r = malloc(nout * sizeof(double));
    float *p = malloc((np + 1) * sizeof(float)), *an = malloc((np + 1) * sizeof(float));
    float *ain = malloc(nrho * sizeof(float));
    for (size_t i = 0; i < nrho; i++)
        rho[i] = 0.2f + 0.2f * tl_sym(1.0f);
    for (size_t i = 0; i < nout; i++) {
        dout[i] = tl_sym(1.0f);
        r[i] = dout[i];
    }
    const float *out;
    CHECK_OK(cc_train_forward(net, b, h, w, rho, &out));
    cc_train_zero_grads(net);
    CHECK_OK(cc_train_backward(net, dout));
    memcpy(an, cc_train_grads(net), np * sizeof(float));
    memcpy(ain, cc_train_input_grad(net), nrho * sizeof(float));
    cc_train_get_params(net, p);

    stats sp = {0}, si = {0};
    double gmax = 0.0;
    for (size_t j = 0; j < np; j++)
        gmax = fmax(gmax, fabs(an[j]));
    for (size_t j = 0; j < nrho; j++)
        gmax = fmax(gmax, fabs(ain[j]));
    float *fdp = malloc((np + 1) * sizeof(float)), *fdi = malloc(nrho * sizeof(float));
    for (size_t j = 0; j < np; j++) {
        const float p0 = p[j];
        const double hs = H_REL * fmax(1.0, fabs(p0));
        const float pp = (float)(p0 + hs), pm = (float)(p0 - hs);
        p[j] = pp;
        cc_train_set_params(net, p);
        const double lp = loss_of(net, b, h, w, rho, r, nout);
        p[j] = pm;
        cc_train_set_params(net, p);
        const double lm = loss_of(net, b, h, w, rho, r, nout);
        p[j] = p0;
        fdp[j] = (float)((lp - lm) / ((double)pp - (double)pm));
    }
    cc_train_set_params(net, p);
    for (size_t j = 0; j < nrho; j++) {
        const float x0 = rho[j];
        const double hs = H_REL * fmax(1.0, fabs(x0)) * 0.1; /* rho ~ 0.2: smaller step */
        const float xp = (float)(x0 + hs), xm = (float)(x0 - hs);
        rho[j] = xp;
        const double lp = loss_of(net, b, h, w, rho, r, nout);
        rho[j] = xm;
        const double lm = loss_of(net, b, h, w, rho, r, nout);
        rho[j] = x0;
        fdi[j] = (float)((lp - lm) / ((double)xp - (double)xm));
    }
    size_t bad = 0, tot = np + nrho;
    for (size_t j = 0; j < tot; j++) {
        const double fd = j < np ? fdp[j] : fdi[j - np], a = j < np ? an[j] : ain[j - np];
        acc(j < np ? &sp : &si, fd, a);
        if (fabs(fd - a) > ELEM_RTOL * fmax(fabs(fd), fabs(a)) + ELEM_ATOL * gmax) {
            if (bad < 5)
                fprintf(stderr, "  %s: %s %zu: fd %.6g analytic %.6g\n", name,
                        j < np ? "param" : "input", j < np ? j : j - np, fd, a);
            bad++;
        }
    }
    const double ep = sp.den > 0 ? sqrt(sp.num / sp.den) : sqrt(sp.num);
    const double ei = si.den > 0 ? sqrt(si.num / si.den) : sqrt(si.num);
    const int ok = ep <= GLOBAL_TOL && ei <= GLOBAL_TOL && bad * 100 <= tot && sp.den + si.den > 0;
    printf("%-28s %5zu params %4zu inputs  rel.err params %.2e inputs %.2e  outliers %zu  %s\n",
           name, np, nrho, ep, ei, bad, ok ? "ok" : "FAIL");
    if (!ok)
        cc_test_failures++;
    free(fdp);
    free(fdi);
    free(rho);
    free(dout);
    free(r);
    free(p);
    free(an);
    free(ain);
    cc_train_net_free(net);
}

static const int RESID[4] = {2, -1, 0, 1};

/* input(3) -> [body] -> conv1x1(->3) -> output. body builds from x, returns the node. */
typedef int (*body_fn)(cc_nn_model *m, int x, int variant);

/* A draw can put a ReLU pre-activation within the finite step of its kink
 * (e.g. z = -9e-5): such cases use another seed (salt). */
static void run_case_salt(const char *name, body_fn body, int variant, int b, int h, int w,
                          unsigned salt)
{
    cc_nn_model m;
    tl_seed(1000u + (unsigned)variant * 7919u + (unsigned)strlen(name) + 104729u * salt);
    cc_nn_model_init(&m);
    int x = tl_input(&m, 3);
    x = body(&m, x, variant);
    if (x >= 0)
        x = tl_layer(&m, "head", CC_OP_CONV2D, x, 3, 1, 1, CC_PAD_ZERO, CC_ACT_NONE, TL_ALPHA);
    if (x >= 0)
        x = tl_output_resid(&m, x, RESID, 0.0);
    if (x < 0 || cc_nn_model_finalize(&m) != CC_OK) {
        fprintf(stderr, "FAIL %s: build: %s\n", name, cc_error_message());
        cc_test_failures++;
        cc_nn_model_free(&m);
        return;
    }
    check_model(name, &m, b, h, w, 77u + (unsigned)variant);
    cc_nn_model_free(&m);
}

static void run_case(const char *name, body_fn body, int variant, int b, int h, int w)
{
    run_case_salt(name, body, variant, b, h, w, 0);
}

static int body_conv1x1(cc_nn_model *m, int x, int act)
{
    return tl_layer(m, "c", CC_OP_CONV2D, x, 5, 1, 1, CC_PAD_ZERO, (cc_act)act, TL_ALPHA);
}

/* variant: bit0 reflect, bit1 stride 2, bit2 kernel 1 (stride 2 only), bits 3.. act */
static int body_conv_spatial(cc_nn_model *m, int x, int v)
{
    const cc_pad pad = (v & 1) ? CC_PAD_REFLECT : CC_PAD_ZERO;
    const int s = (v & 2) ? 2 : 1, k = (v & 4) ? 1 : 3;
    x = tl_layer(m, "c", CC_OP_CONV2D, x, 4, k, s, pad, (cc_act)(v >> 3), TL_ALPHA);
    if (s == 2 && x >= 0)
        x = tl_opv(m, "up", CC_OP_UPSAMPLE2_NEAREST, CC_ACT_NONE, 1, &x);
    return x;
}

static int body_conv_nobias(cc_nn_model *m, int x, int v)
{
    return tl_no_bias(m, tl_layer(m, "c", CC_OP_CONV2D, x, 4, 3, 1, CC_PAD_REFLECT, CC_ACT_SILU, TL_ALPHA));
}

static int body_affine(cc_nn_model *m, int x, int act)
{
    x = tl_layer(m, "c", CC_OP_CONV2D, x, 4, 1, 1, CC_PAD_ZERO, CC_ACT_NONE, TL_ALPHA);
    return tl_affine(m, "aff", x, (cc_act)act);
}

static int body_act(cc_nn_model *m, int x, int act)
{
    x = tl_layer(m, "c", CC_OP_CONV2D, x, 4, 1, 1, CC_PAD_ZERO, CC_ACT_NONE, TL_ALPHA);
    return tl_opv(m, "act", CC_OP_ACT, (cc_act)act, 1, &x);
}

static int body_add(cc_nn_model *m, int x, int act)
{
    int a = tl_layer(m, "a", CC_OP_CONV2D, x, 4, 1, 1, CC_PAD_ZERO, CC_ACT_NONE, TL_ALPHA);
    int b = tl_layer(m, "b", CC_OP_CONV2D, x, 4, 3, 1, CC_PAD_ZERO, CC_ACT_NONE, TL_ALPHA);
    int s = tl_opv(m, "add", CC_OP_ADD, (cc_act)act, 2, (const int[]){a, b});
    return tl_opv(m, "add2", CC_OP_ADD, CC_ACT_NONE, 2, (const int[]){s, s}); /* same input twice */
}

static int body_concat(cc_nn_model *m, int x, int v)
{
    int a = tl_layer(m, "a", CC_OP_CONV2D, x, 2, 1, 1, CC_PAD_ZERO, CC_ACT_SILU, TL_ALPHA);
    int b = tl_layer(m, "b", CC_OP_CONV2D, x, 3, 3, 1, CC_PAD_REFLECT, CC_ACT_NONE, TL_ALPHA);
    return tl_opv(m, "cat", CC_OP_CONCAT, CC_ACT_NONE, 3, (const int[]){a, b, x});
}

static int body_pool(cc_nn_model *m, int x, int v)
{
    x = tl_layer(m, "c", CC_OP_CONV2D, x, 4, 1, 1, CC_PAD_ZERO, CC_ACT_NONE, TL_ALPHA);
    x = tl_opv(m, "pool", v ? CC_OP_MAXPOOL2 : CC_OP_AVGPOOL2, CC_ACT_NONE, 1, &x);
    return tl_opv(m, "up", CC_OP_UPSAMPLE2_NEAREST, CC_ACT_NONE, 1, &x);
}

static int body_bilinear(cc_nn_model *m, int x, int v)
{
    x = tl_layer(m, "c", CC_OP_CONV2D, x, 4, 1, 1, CC_PAD_ZERO, CC_ACT_NONE, TL_ALPHA);
    x = tl_opv(m, "pool", CC_OP_AVGPOOL2, CC_ACT_NONE, 1, &x);
    return tl_opv(m, "up", CC_OP_UPSAMPLE2_BILINEAR, CC_ACT_NONE, 1, &x);
}

static int body_conv1d(cc_nn_model *m, int x, int v)
{
    return tl_layer(m, "t", CC_OP_CONV1D_TIME, x, 4, v, 1, CC_PAD_ZERO, CC_ACT_SILU, TL_ALPHA);
}

static int body_identity(cc_nn_model *m, int x, int v)
{
    return x;
}

int main(void)
{
    static const char *acts[] = {"none", "relu", "leaky_relu", "silu", "sigmoid"};
    char name[64];
    for (int a = 0; a <= CC_ACT_SIGMOID; a++) {
        snprintf(name, sizeof name, "conv1x1 %s", acts[a]);
        run_case(name, body_conv1x1, a, 2, 3, 4);
    }
    for (int v = 0; v < 4; v++)
        for (int a = 0; a <= CC_ACT_SIGMOID; a += (v == 0 ? 1 : 3)) {
            snprintf(name, sizeof name, "conv3x3 %s s%d %s", (v & 1) ? "reflect" : "zero",
                     (v & 2) ? 2 : 1, acts[a]);
            /* salt 3: the first draws put ReLU pre-activations within the step of the kink */
            run_case_salt(name, body_conv_spatial, v | (a << 3), 2, 4, 6, 3);
        }
    run_case_salt("conv1x1 s2 zero relu", body_conv_spatial, 2 | 4 | (CC_ACT_RELU << 3), 2, 4, 4, 1);
    run_case("conv3x3 reflect no bias", body_conv_nobias, 0, 1, 4, 4);
    run_case("conv3x3 reflect s1 2x2", body_conv_spatial, 1 | (CC_ACT_SILU << 3), 1, 2, 2);
    for (int a = 0; a <= CC_ACT_SIGMOID; a++) {
        snprintf(name, sizeof name, "affine %s", acts[a]);
        run_case(name, body_affine, a, 2, 2, 3);
        snprintf(name, sizeof name, "act %s", acts[a]);
        run_case(name, body_act, a, 2, 2, 3);
        snprintf(name, sizeof name, "add %s", acts[a]);
        run_case(name, body_add, a, 1, 4, 4);
    }
    run_case("concat(3 inputs)", body_concat, 0, 2, 3, 3);
    run_case("avgpool2", body_pool, 0, 2, 4, 4);
    run_case("maxpool2", body_pool, 1, 2, 4, 4);
    run_case("upsample2 bilinear 6x6", body_bilinear, 0, 1, 6, 6);
    run_case("upsample2 bilinear 4x8", body_bilinear, 0, 2, 4, 8);
    run_case("conv1d_time kt=3 (b=T=4)", body_conv1d, 3, 4, 2, 2);
    run_case("conv1d_time kt=2 (b=T=3)", body_conv1d, 2, 3, 2, 1);
    run_case("input+output only", body_identity, 0, 2, 2, 2);
    printf("%s\n", cc_test_failures ? "FAILED" : "OK");
    return cc_test_failures ? 1 : 0;
}
