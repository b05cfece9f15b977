/* Shared helpers of the streaming-inference tests (header-only). */
#ifndef CC_TESTS_INFER_TEST_H
#define CC_TESTS_INFER_TEST_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "kernels/nn.h"
#include "pipeline/boa/infer.h"

/* Deterministic DN in a plausible L1C range (1000..5000), channel-correlated. */
static inline uint16_t it_dn(int x, int y, int c, unsigned seed)
{
    uint32_t h = (uint32_t)x * 73856093u ^ (uint32_t)y * 19349663u ^ (uint32_t)c * 83492791u ^
                 seed * 2654435761u;
    h ^= h >> 13;
    h *= 0x5bd1e995u;
    h ^= h >> 15;
    int smooth = 1500 + 8 * ((x / 7 + y / 5) % 200) + 60 * c;
    return (uint16_t)(smooth + (int)(h % 400u));
}

/* The reference: model run once on the whole raster, padded right/bottom to
 * size_multiple with DN 0 (nodata), cropped back. out: w*h*cout, malloc'd. */
static inline uint16_t *it_whole(const cc_nn_model *m, const uint16_t *in, int w, int h)
{
    const int mult = m->size_multiple, nin = m->input.nchannels;
    const int nout = m->nodes[m->output_node].cout;
    const int pw = (w + mult - 1) / mult * mult, ph = (h + mult - 1) / mult * mult;
    uint16_t *pin = cc_calloc3((size_t)pw * ph, (size_t)nin, sizeof *pin);
    uint16_t *pout = cc_malloc3((size_t)pw * ph, (size_t)nout, sizeof *pout);
    uint16_t *out = cc_malloc3((size_t)w * h, (size_t)nout, sizeof *out);
    if (!pin || !pout || !out)
        abort();
    for (int y = 0; y < h; y++)
        memcpy(pin + (size_t)y * pw * nin, in + (size_t)y * w * nin, (size_t)w * nin * 2);
    if (cc_nn_run(cc_nn_backend_cpu(), m, 1, ph, pw, pin, pout) != CC_OK) {
        fprintf(stderr, "whole-image run failed: %s\n", cc_error_message());
        abort();
    }
    for (int y = 0; y < h; y++)
        memcpy(out + (size_t)y * w * nout, pout + (size_t)y * pw * nout, (size_t)w * nout * 2);
    free(pin);
    free(pout);
    return out;
}

/* Number of differing values; prints the first one. */
static inline size_t it_diff(const uint16_t *a, const uint16_t *b, int w, int h, int nc,
                             const char *what)
{
    size_t nd = 0;
    for (size_t i = 0; i < (size_t)w * h * nc; i++)
        if (a[i] != b[i]) {
            if (!nd)
                fprintf(stderr, "%s: first difference at x=%d y=%d c=%d: %u vs %u\n", what,
                        (int)(i / nc % w), (int)(i / nc / w), (int)(i % nc), a[i], b[i]);
            nd++;
        }
    if (nd)
        fprintf(stderr, "%s: %zu values differ\n", what, nd);
    return nd;
}

#endif
