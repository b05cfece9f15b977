/* Helpers shared by the tests/nn tests: random inputs and weights, small graph
 * builders, and the comparison of the runtime against tests/nn/nn_naive.h. */
#ifndef CC_TESTS_NN_TESTLIB_H
#define CC_TESTS_NN_TESTLIB_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/nn.h"
#include "nn_naive.h"
#include "testutil.h"

static uint64_t tl_state = 88172645463325252ULL;

static inline double tl_uniform(void) /* [0, 1) */
{
    tl_state ^= tl_state << 13;
    tl_state ^= tl_state >> 7;
    tl_state ^= tl_state << 17;
    return (double)(tl_state >> 11) / 9007199254740992.0;
}

static inline float tl_sym(float b)
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

/* Model begin: input node of c channels with a non-trivial normalisation. */
static inline int tl_input(cc_nn_model *m, int c)
{
    cc_nn_model_init(m);
    m->input.nchannels = c;
    m->input.dn_offset = -1000.0;
    m->input.quantification = 10000.0;
    for (int k = 0; k < c; k++) {
        m->input.mean[k] = 0.2f + 0.01f * (float)k;
        m->input.std[k] = 0.1f + 0.02f * (float)k;
    }
    cc_nn_node n;
    memset(&n, 0, sizeof n);
    n.op = CC_OP_INPUT;
    snprintf(n.name, sizeof n.name, "input");
    n.in_channels = c;
    return cc_nn_model_add(m, &n);
}

static inline int tl_conv(cc_nn_model *m, int in, int cin, int cout, int k, int stride, cc_pad pad,
                          cc_act act, float alpha)
{
    float *w = tl_weights((size_t)cout * k * k * cin, 1.5f / (float)sqrt((double)k * k * cin));
    float *b = tl_weights((size_t)cout, 0.2f);
    cc_nn_node n;
    memset(&n, 0, sizeof n);
    n.op = CC_OP_CONV2D;
    n.ninputs = 1;
    n.inputs[0] = in;
    n.cout = cout;
    n.kernel = k;
    n.stride = stride;
    n.pad = pad;
    n.act = act;
    n.alpha = alpha;
    n.weight = w;
    n.bias = b;
    int idx = cc_nn_model_add(m, &n);
    free(w);
    free(b);
    return idx;
}

static inline int tl_op(cc_nn_model *m, cc_op_type op, int a, int b, cc_act act)
{
    cc_nn_node n;
    memset(&n, 0, sizeof n);
    n.op = op;
    n.ninputs = b >= 0 ? 2 : 1;
    n.inputs[0] = a;
    n.inputs[1] = b;
    n.act = act;
    n.alpha = 0.1f;
    return cc_nn_model_add(m, &n);
}

static inline int tl_affine(cc_nn_model *m, int in, int c, cc_act act)
{
    float *s = tl_weights((size_t)c, 1.5f), *h = tl_weights((size_t)c, 0.5f);
    cc_nn_node n;
    memset(&n, 0, sizeof n);
    n.op = CC_OP_AFFINE;
    n.ninputs = 1;
    n.inputs[0] = in;
    n.act = act;
    n.alpha = 0.2f;
    n.scale = s;
    n.shift = h;
    int idx = cc_nn_model_add(m, &n);
    free(s);
    free(h);
    return idx;
}

/* Output node: identity encoding, or (fancy) scale/shift/residual. */
static inline int tl_output(cc_nn_model *m, int in, int fancy)
{
    float sc[CC_NN_MAX_IO], sh[CC_NN_MAX_IO];
    cc_nn_node n;
    memset(&n, 0, sizeof n);
    n.op = CC_OP_OUTPUT;
    n.ninputs = 1;
    n.inputs[0] = in;
    snprintf(n.name, sizeof n.name, "output");
    for (int c = 0; c < CC_NN_MAX_IO; c++) {
        n.residual_channel[c] = fancy && c < m->input.nchannels ? c : -1;
        sc[c] = 0.05f + 0.01f * (float)c;
        sh[c] = 0.1f;
    }
    if (fancy) {
        n.scale = sc;
        n.shift = sh;
        n.out_dn_offset = 1000.0;
    }
    return cc_nn_model_add(m, &n);
}

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
