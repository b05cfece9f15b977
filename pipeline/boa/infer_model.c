/* clearcube: 13-band L1C -> 12-band L2A networks for full-tile benchmarks and
 * tests (pipeline/boa/infer.h, cc_infer_model_l1c). Untrained: deterministic
 * random weights, the construction of kernels/nn_models.c (cc_nn_add_conv_random). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/reflectance.h"
#include "io/s2/scene.h"
#include "pipeline/boa/infer.h"

#define L1C_IN CC_NBANDS
#define L2A_OUT (CC_NBANDS - 1)

static int add_input(cc_nn_model *m, double dn_offset)
{
    cc_nn_input_desc *d = &m->input;
    d->nchannels = L1C_IN;
    d->dn_offset = dn_offset;
    d->quantification = CC_REFL_QUANT;
    for (int c = 0; c < L1C_IN; c++) {
        snprintf(d->band[c], sizeof d->band[c], "%s", cc_band_names[c]);
        d->resolution_m[c] = cc_band_resolution[c];
        d->mean[c] = 0.10f + 0.01f * (float)c;
        d->std[c] = 0.08f;
    }
    return cc_nn_add_input(m, "input", L1C_IN);
}

static int add_output(cc_nn_model *m, int in)
{
    float scale[L2A_OUT], shift[L2A_OUT];
    int residual[L2A_OUT];
    for (int c = 0; c < L2A_OUT; c++) {
        scale[c] = 0.02f;
        shift[c] = -0.01f;
        residual[c] = c < CC_B10 ? c : c + 1; /* L2A drops B10 */
    }
    return cc_nn_add_output(m, "output", in, scale, shift, residual, CC_REFL_DN_OFFSET_PB04);
}

cc_status cc_infer_model_l1c(char which, unsigned seed, double dn_offset, cc_nn_model *m)
{
    cc_status st = CC_ERR_INTERNAL;
    cc_nn_lcg r = {(uint64_t)seed * 0x9E3779B97F4A7C15ULL + 777u};
    int x = -1, x1;
    cc_nn_model_init(m);
    if (which != 'A' && which != 'B') {
        st = cc_error_set(CC_ERR_ARG, "infer model '%c' unknown (A or B)", which);
        goto out;
    }
    if ((x = add_input(m, dn_offset)) < 0)
        goto out;
    if (which == 'A') {
        if ((x = cc_nn_add_conv_random(m, &r, "fc1", x, 64, 1, CC_PAD_ZERO, CC_ACT_RELU)) < 0 ||
            (x = cc_nn_add_conv_random(m, &r, "fc2", x, 64, 1, CC_PAD_ZERO, CC_ACT_RELU)) < 0 ||
            (x = cc_nn_add_conv_random(m, &r, "fc3", x, L2A_OUT, 1, CC_PAD_ZERO, CC_ACT_NONE)) < 0)
            goto out;
    } else {
        if ((x = cc_nn_add_conv_random(m, &r, "conv1", x, 32, 3, CC_PAD_ZERO, CC_ACT_RELU)) < 0)
            goto out;
        x1 = x;
        if ((x = cc_nn_add_conv_random(m, &r, "conv2", x, 32, 3, CC_PAD_ZERO, CC_ACT_RELU)) < 0 ||
            (x = cc_nn_add_conv_random(m, &r, "conv3", x, 32, 3, CC_PAD_ZERO, CC_ACT_NONE)) < 0)
            goto out;
        const int res[2] = {x, x1};
        if ((x = cc_nn_add_op(m, "res", CC_OP_ADD, CC_ACT_RELU, 0.0f, 2, res)) < 0 ||
            (x = cc_nn_add_conv_random(m, &r, "head", x, L2A_OUT, 1, CC_PAD_ZERO, CC_ACT_NONE)) < 0)
            goto out;
    }
    if (add_output(m, x) < 0)
        goto out;
    st = cc_nn_model_finalize(m);
    if (st == CC_OK) {
        char prov[128];
        snprintf(prov, sizeof prov, "clearcube full-tile benchmark model %c (13 L1C -> 12 L2A, "
                 "untrained), seed %u", which, seed);
        m->provenance = cc_malloc3(strlen(prov) + 1, 1, 1);
        if (m->provenance)
            memcpy(m->provenance, prov, strlen(prov) + 1);
    }
out:
    if (st == CC_ERR_INTERNAL && x < 0 && cc_error_status() != CC_OK)
        st = cc_error_status(); /* a failed cc_nn_model_add */
    if (st != CC_OK)
        cc_nn_model_free(m);
    return st;
}
