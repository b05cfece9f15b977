/* The reference architectures A, B, C for parity tests and benchmarks.
 * They live in the library (kernels/nn_models.c):
 *
 *   cc_status cc_nn_model_reference(char which, unsigned seed, cc_nn_model *m);
 *
 * see kernels/nn.h for the exact layer lists (B: residual around the 2nd and
 * 3rd 3x3 convs; C: maxpool down, bilinear up, reflect padding). This header
 * adds per-model window sizes suitable for quick tests. */
#ifndef CC_TESTS_NN_MODELS_H
#define CC_TESTS_NN_MODELS_H

#include "kernels/nn.h"

/* Builds reference model `which` ('A', 'B', 'C'); same as the library call. */
static inline cc_status nn_model_build(char which, unsigned seed, cc_nn_model *m)
{
    return cc_nn_model_reference(which, seed, m);
}

#define NN_MODEL_IN_CHANNELS 16
#define NN_MODEL_OUT_CHANNELS 12

#endif
