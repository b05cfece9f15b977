/* The reference's block queue (pipeline/atmos/reference_stream.c,
 * core/blockq.h) on a SIMULATED scene several slabs and blocks tall: the
 * reader thread decoding ahead of the SMAC gives the same cube as decoding
 * in the SMAC's own thread, for 1 and 2 OpenMP threads, and as the
 * per-pixel path (cc_reference_smac_pixel) in every band and pixel. A build
 * without CUDA refuses opt.cuda with one error. */
#include <gdal.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "core/reflectance.h"
#include "io/grid/grid.h"
#include "io/s2/scene.h"
#include "pipeline/atmos/context.h"
#include "pipeline/atmos/reference.h"
#include "pipeline/boa/simulate.h"
#include "sim_scene.h"
#include "testutil.h"

static int same(const cc_reference_result *a, const cc_reference_result *b)
{
    size_t n = cc_grid_npix(&a->grid);
    int ok = a->nbands == b->nbands && a->n_valid == b->n_valid && n == cc_grid_npix(&b->grid);
    for (int j = 0; ok && j < a->nbands; j++)
        ok = !memcmp(a->boa[j], b->boa[j], n * sizeof(uint16_t));
    return ok && !memcmp(a->aot, b->aot, n * sizeof(uint16_t)) && !memcmp(a->wvp, b->wvp, n * sizeof(uint16_t));
}

int main(void)
{
    cc_simulate_options so;
    cc_scene *s = NULL;
    sim_scene_open("reference_overlap", 600, 11, &so, &s); /* 2 slabs of 512 rows, 5 blocks of 128 (the last ones partial) */
    if (!s)
        TEST_RETURN();
    cc_reference_options ro;
    cc_reference_options_init(&ro);
    CHECK(ro.reader == -1 && ro.cuda == 0);
    cc_reference_result base, r;
    ro.reader = 0;
    omp_set_num_threads(2);
    CHECK_OK(cc_reference_run(s, &ro, &base));
    CHECK(base.grid.height > 512 && base.n_valid > 0);
    for (int threads = 1; threads <= 2; threads++)
        for (int reader = 0; reader <= 1; reader++) {
            omp_set_num_threads(threads);
            ro.reader = reader;
            CHECK_OK(cc_reference_run(s, &ro, &r));
            int ok = same(&base, &r);
            printf("%d thread(s), reader thread %s: %s\n", threads, reader ? "on" : "off",
                   ok ? "same cube" : "DIFFERENT");
            CHECK(ok);
            cc_reference_result_free(&r);
        }
    /* the per-pixel path, every band and pixel */
    cc_reference_context *ctx = NULL;
    CHECK_OK(cc_reference_context_build(s, &ro, &base.grid, &ctx));
    if (ctx) {
        const int W = base.grid.width, H = base.grid.height;
        cc_atmos_pixel *px = malloc((size_t)W * H * sizeof *px);
        cc_reference_context_fill(ctx, 0, 0, W, H, px);
        size_t mismatch = 0;
        for (size_t i = 0; i < (size_t)W * H; i++) {
            double toa[CC_L2A_NBANDS], boa[CC_L2A_NBANDS];
            for (int k = 0; k < CC_L2A_NBANDS; k++) {
                int b = cc_l2a_bands[k];
                uint16_t dn = s->band[b].present ? s->band[b].dn[i] : 0;
                toa[k] = dn ? cc_refl_decode(dn, s->radio_offset[b], s->quantification) : NAN;
            }
            cc_reference_smac_pixel(ctx, &px[i], toa, boa);
            for (int j = 0; j < base.nbands; j++) {
                int k = 0;
                while (cc_l2a_bands[k] != base.band[j])
                    k++;
                mismatch += cc_refl_encode(boa[k], base.dn_offset, CC_REFL_QUANT) != base.boa[j][i];
            }
        }
        printf("per-pixel path vs the block engine: %zu DN differ\n", mismatch);
        CHECK(mismatch == 0);
        free(px);
    }
    cc_reference_context_free(ctx);
#ifndef CC_HAVE_CUDA
    ro.cuda = 1;
    CHECK(cc_reference_run(s, &ro, &r) == CC_ERR_UNSUPPORTED);
    CHECK(strstr(cc_error_message(), "without CUDA") != NULL);
#endif
    cc_reference_result_free(&base);
    cc_scene_free(s);
    GDALDestroyDriverManager();
    TEST_RETURN();
}
