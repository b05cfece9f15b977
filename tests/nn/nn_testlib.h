/* The one set of model-building helpers of the tests (tests/nn, tests/train,
 * tests/modelfile, tests/cuda_nn, ...): a seeded random generator, random
 * inputs, small graphs built with the library's builder (kernels/nn.h,
 * cc_nn_add_*) with random parameters, the reference architectures, and the
 * comparison of the runtime against tests/nn/nn_naive.h. Include as
 * "nn/nn_testlib.h" from other test folders. */
#ifndef CC_TESTS_NN_TESTLIB_H
#define CC_TESTS_NN_TESTLIB_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/nn.h"
#include "nn_naive.h"
#include "testutil.h"

/* ---- random numbers: xorshift64, one generator, seeded per test or case ---- */

#define TL_SEED 88172645463325252ULL

static uint64_t tl_state = TL_SEED;

static inline void tl_seed(uint64_t s)
{
    tl_state = s ? s : TL_SEED;
}

/* Seed from a text (FNV-1a), e.g. a case name: each case its own numbers. */
static inline void tl_seed_text(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    tl_seed(h);
}

static inline double tl_uniform(void) /* [0, 1) */
{
    tl_state ^= tl_state << 13;
    tl_state ^= tl_state >> 7;
    tl_state ^= tl_state << 17;
    return (double)(tl_state >> 11) / 9007199254740992.0;
}

static inline float tl_sym(float b) /* [-b, b) */
{
    return (float)((2.0 * tl_uniform() - 1.0) * b);
}

/* Random weights in [-b, b) (caller frees). */
static inline float *tl_weights(size_t n, float b)
{
    float *w = malloc(n * sizeof(float) + 1);
    for (size_t i = 0; i < n; i++)
        w[i] = tl_sym(b);
    return w;
}

/* Random DN (T,H,W,C), baseline-04 style values 1001..7000, about 1 pixel in
 * `nodata_every` with one channel at DN 0 (0: none). Caller frees. */
static inline uint16_t *tl_dn(int t, int h, int w, int c, int nodata_every)
{
    size_t np = (size_t)t * h * w;
    uint16_t *d = malloc(np * c * sizeof(uint16_t) + 2);
    for (size_t i = 0; i < np * c; i++)
        d[i] = (uint16_t)(1001 + (int)(tl_uniform() * 6000));
    if (nodata_every > 0)
        for (size_t p = 0; p < np; p++)
            if ((int)(tl_uniform() * nodata_every) == 0)
                d[p * c + (size_t)(tl_uniform() * c)] = 0;
    return d;
}

/* ---- models: each helper returns the node index or -1 (the error set) ---- */

#define TL_ALPHA 0.1f /* LeakyReLU slope of the parameter-free ops */

/* Model begin: cc_nn_model_init, then the input node ("input") of c channels
 * with a non-trivial normalisation (bands "C00".., 10 m, dn_offset -1000). */
static inline int tl_input(cc_nn_model *m, int c)
{
    cc_nn_model_init(m);
    m->input.nchannels = c;
    m->input.dn_offset = -1000.0;
    m->input.quantification = 10000.0;
    for (int k = 0; k < c; k++) {
        snprintf(m->input.band[k], sizeof m->input.band[k], "C%02d", k % 100);
        m->input.resolution_m[k] = 10;
        m->input.mean[k] = 0.2f + 0.01f * (float)k;
        m->input.std[k] = 0.1f + 0.02f * (float)k;
    }
    return cc_nn_add_input(m, "input", c);
}

/* conv2d (k x k, stride) or conv1d_time (kt = k; stride, pad unused) reading
 * node `in`, random weights in +-1.5/sqrt(fan in) and biases in +-0.2. */
static inline int tl_layer(cc_nn_model *m, const char *name, cc_op_type op, int in, int cout, int k, int stride,
                           cc_pad pad, cc_act act, float alpha)
{
    const int cin = in >= 0 && in < m->nnodes ? m->nodes[in].cout : 1;
    const int taps = op == CC_OP_CONV2D ? k * k : k;
    const size_t nw = (size_t)(cout > 0 ? cout : 1) * (size_t)(taps > 0 ? taps : 1) * (size_t)cin;
    float *w = tl_weights(nw, 1.5f / (float)sqrt((double)(taps > 0 ? taps : 1) * cin));
    float *b = tl_weights((size_t)(cout > 0 ? cout : 1), 0.2f);
    int idx = cc_nn_add_conv(m, name, op, in, cout, k, stride, pad, act, alpha, w, b);
    free(w);
    free(b);
    return idx;
}

/* conv2d without a name. */
static inline int tl_conv(cc_nn_model *m, int in, int cout, int k, int stride, cc_pad pad, cc_act act,
                          float alpha)
{
    return tl_layer(m, NULL, CC_OP_CONV2D, in, cout, k, stride, pad, act, alpha);
}

/* Drops the bias of conv node `node` of a model not finalised yet (a conv
 * without bias); returns node. */
static inline int tl_no_bias(cc_nn_model *m, int node)
{
    if (node >= 0 && node < m->nnodes) {
        free(m->nodes[node].bias);
        m->nodes[node].bias = NULL;
    }
    return node;
}

/* affine with random scale in +-1.5 and shift in +-0.5, LeakyReLU slope 0.2. */
static inline int tl_affine(cc_nn_model *m, const char *name, int in, cc_act act)
{
    const int c = in >= 0 && in < m->nnodes ? m->nodes[in].cout : 1;
    float *s = tl_weights((size_t)c, 1.5f), *h = tl_weights((size_t)c, 0.5f);
    int idx = cc_nn_add_affine(m, name, in, act, 0.2f, s, h);
    free(s);
    free(h);
    return idx;
}

/* A parameter-free op of n inputs. */
static inline int tl_opv(cc_nn_model *m, const char *name, cc_op_type op, cc_act act, int n, const int *inputs)
{
    return cc_nn_add_op(m, name, op, act, TL_ALPHA, n, inputs);
}

/* A parameter-free op of 1 (b < 0) or 2 inputs. */
static inline int tl_op(cc_nn_model *m, cc_op_type op, int a, int b, cc_act act)
{
    const int in[2] = {a, b};
    return tl_opv(m, NULL, op, act, b >= 0 ? 2 : 1, in);
}

/* Output node ("output"): identity encoding, or (fancy) scale 0.05 + 0.01c,
 * shift 0.1, output c adds input channel c (c < input channels) and
 * out_dn_offset 1000. */
static inline int tl_output(cc_nn_model *m, int in, int fancy)
{
    float sc[CC_NN_MAX_IO], sh[CC_NN_MAX_IO];
    int res[CC_NN_MAX_IO];
    for (int c = 0; c < CC_NN_MAX_IO; c++) {
        res[c] = c < m->input.nchannels ? c : -1;
        sc[c] = 0.05f + 0.01f * (float)c;
        sh[c] = 0.1f;
    }
    return fancy ? cc_nn_add_output(m, "output", in, sc, sh, res, 1000.0)
                 : cc_nn_add_output(m, "output", in, NULL, NULL, NULL, 0.0);
}

/* Output node ("output") with random scale in 0.5 +- 0.2 and shift in +-0.1,
 * output c adding input channel resid[c] (resid NULL: none). */
static inline int tl_output_resid(cc_nn_model *m, int in, const int *resid, double out_dn_offset)
{
    float sc[CC_NN_MAX_IO], sh[CC_NN_MAX_IO];
    for (int c = 0; c < CC_NN_MAX_IO; c++) {
        sc[c] = 0.5f + tl_sym(0.2f);
        sh[c] = tl_sym(0.1f);
    }
    return cc_nn_add_output(m, "output", in, sc, sh, resid, out_dn_offset);
}

/* The reference architectures A, B, C of kernels/nn.h (cc_nn_model_reference):
 * 16 input channels, 12 outputs. */
#define NN_MODEL_IN_CHANNELS 16
#define NN_MODEL_OUT_CHANNELS 12

/* ---- runtime vs naive evaluation ---- */

/* Runs m (float and DN) and compares with the naive evaluation: float values
 * within tol*max(1, |ref|), NaN exactly where the reference is NaN, DN within 1
 * and 0 exactly at nodata. Returns the number of mismatches (printed, at most a
 * few). */
static inline int tl_compare(const cc_nn_backend *be, const cc_nn_model *m, int t, int h, int w,
                             const uint16_t *dn, double tol, const char *what)
{
    int cout = m->nodes[m->output_node].cout;
    size_t ne = (size_t)t * h * w * cout;
    float *got = malloc(ne * sizeof(float) + 4);
    uint16_t *gotdn = malloc(ne * sizeof(uint16_t) + 2);
    double *ref = malloc(ne * sizeof(double) + 8);
    uint16_t *refdn = malloc(ne * sizeof(uint16_t) + 2);
    int bad = 0;
    double maxerr = 0;
    if (nv_run(m, t, h, w, dn, ref, refdn) != 0) {
        fprintf(stderr, "FAIL %s: naive evaluation failed\n", what);
        bad = 1;
        goto out;
    }
    cc_status st = cc_nn_run_float(be, m, t, h, w, dn, got);
    cc_status st2 = st == CC_OK ? cc_nn_run(be, m, t, h, w, dn, gotdn) : st;
    if (st != CC_OK || st2 != CC_OK) {
        fprintf(stderr, "FAIL %s: run: %s\n", what, cc_error_message());
        bad = 1;
        goto out;
    }
    for (size_t i = 0; i < ne; i++) {
        int ok;
        if (isnan(ref[i])) {
            ok = isnan(got[i]) && gotdn[i] == 0;
        } else {
            double e = fabs((double)got[i] - ref[i]);
            double lim = tol * (fabs(ref[i]) > 1 ? fabs(ref[i]) : 1);
            if (e > maxerr)
                maxerr = e;
            ok = e <= lim && abs((int)gotdn[i] - (int)refdn[i]) <= 1 && gotdn[i] != 0;
        }
        if (!ok) {
            if (bad < 5)
                fprintf(stderr, "FAIL %s: element %zu: got %.9g (DN %u), expected %.9g (DN %u)\n",
                        what, i, (double)got[i], gotdn[i], ref[i], refdn[i]);
            bad++;
        }
    }
out:
    if (bad)
        cc_test_failures++;
    free(got);
    free(gotdn);
    free(ref);
    free(refdn);
    return bad;
}

#endif
