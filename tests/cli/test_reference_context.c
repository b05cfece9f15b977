/* The per-pixel context of the reference (pipeline/atmos/context.h), the
 * contract Rapid BoA relies on, on a SIMULATED scene (no ../shared):
 *  - cc_reference_smac_pixel on the context of a pixel and its TOA gives the
 *    DN cc_reference_run wrote, bit for bit, in every band and pixel;
 *  - the cached inversion equals the uncached one;
 *  - a block filled on its own equals the same pixels of a whole-image fill;
 *  - the values are quantised to 1e-4 of "feature + 1" (what the emulator's
 *    uint16 context channels carry);
 *  - the streamed cube (cc_reference_run_cube) holds the same DN as
 *    cc_reference_run, for 1 and 2 threads. */
#include <gdal.h>
#include <math.h>
#include <netcdf.h>
#include <omp.h>

#include "core/reflectance.h"
#include "io/grid/grid.h"
#include "io/s2/scene.h"
#include "pipeline/atmos/context.h"
#include "pipeline/atmos/reference.h"
#include "pipeline/boa/simulate.h"
#include "sim_scene.h"
#include "testutil.h"

static int is_quantised(double feature_plus_1)
{
    double k = feature_plus_1 * 1e4;
    return fabs(k - nearbyint(k)) < 1e-3;
}

/* every pixel of r re-derived from the context and the TOA */
static void check_pixels(const cc_scene *s, const cc_reference_result *r, const cc_reference_context *ctx)
{
    const int W = r->grid.width, H = r->grid.height;
    cc_atmos_pixel *px = malloc((size_t)W * H * sizeof *px);
    cc_reference_context_fill(ctx, 0, 0, W, H, px);
    cc_reference_smac_cache *cache = cc_reference_smac_cache_new();
    size_t mismatch = 0, cache_mismatch = 0, unquantised = 0;
    for (int i = 0; i < W * H; i++) {
        double toa[CC_L2A_NBANDS], boa[CC_L2A_NBANDS], boa2[CC_L2A_NBANDS], f[CC_ATMOS_NFEATURES];
        for (int k = 0; k < CC_L2A_NBANDS; k++) {
            int b = cc_l2a_bands[k];
            uint16_t dn = s->band[b].dn[i]; /* the stack is on the output grid */
            toa[k] = dn ? cc_refl_decode(dn, s->radio_offset[b], s->quantification) : NAN;
        }
        cc_reference_smac_pixel(ctx, &px[i], toa, boa);
        cc_reference_smac_pixel_cached(ctx, cache, &px[i], toa, boa2);
        for (int j = 0; j < r->nbands; j++) {
            int k = 0;
            while (cc_l2a_bands[k] != r->band[j])
                k++;
            mismatch += cc_refl_encode(boa[k], r->dn_offset, CC_REFL_QUANT) != r->boa[j][i];
            cache_mismatch += memcmp(&boa[k], &boa2[k], sizeof boa[k]) != 0;
        }
        cc_reference_pixel_features(&px[i], f);
        for (int q = 0; q < CC_ATMOS_NFEATURES; q++)
            unquantised += !is_quantised(f[q]);
    }
    printf("pixel path vs cc_reference_run: %zu DN differ; cached vs uncached: %zu; unquantised: %zu\n",
           mismatch, cache_mismatch, unquantised);
    CHECK(mismatch == 0);
    CHECK(cache_mismatch == 0);
    CHECK(unquantised == 0);

    /* a block on its own = the same pixels of the whole fill */
    const int x0 = 37, y0 = 91, bw = 50, bh = 33;
    cc_atmos_pixel *blk = malloc((size_t)bw * bh * sizeof *blk);
    cc_reference_context_fill(ctx, x0, y0, bw, bh, blk);
    size_t differ = 0;
    for (int r0 = 0; r0 < bh; r0++)
        differ += memcmp(&blk[(size_t)r0 * bw], &px[(size_t)(y0 + r0) * W + x0], (size_t)bw * sizeof *blk) != 0;
    CHECK(differ == 0);
    /* per-pixel water vapour varies, and the WVP layer is the context's */
    float wmin = 1e9f, wmax = -1e9f;
    for (int i = 0; i < W * H; i++) {
        wmin = fminf(wmin, px[i].wv);
        wmax = fmaxf(wmax, px[i].wv);
        if (r->wvp[i])
            CHECK(r->wvp[i] == (uint16_t)lround(fmin(65534.0, fmax(1.0, px[i].wv * 1000.0))));
    }
    printf("water vapour per pixel: %.4f .. %.4f g cm-2\n", wmin, wmax);
    CHECK(wmax > wmin);
    free(blk);
    cc_reference_smac_cache_free(cache);
    free(px);
}

/* the streamed cube's B04 equals cc_reference_run's */
static void check_stream(const cc_scene *s, const cc_reference_options *ro, const cc_reference_result *r,
                         const char *dir)
{
    for (int threads = 1; threads <= 2; threads++) {
        omp_set_num_threads(threads);
        char path[4200];
        snprintf(path, sizeof path, "%s/stream%d.nc", dir, threads);
        remove(path);
        cc_reference_result rs;
        CHECK_OK(cc_reference_run_cube(s, ro, "simulated", path, NULL, &rs));
        CHECK(rs.n_valid == r->n_valid);
        CHECK(rs.boa[0] == NULL);
        int nc, var;
        size_t n = cc_grid_npix(&r->grid);
        uint16_t *b04 = malloc(n * sizeof *b04);
        CHECK(nc_open(path, NC_NOWRITE, &nc) == NC_NOERR);
        CHECK(nc_inq_varid(nc, "B04", &var) == NC_NOERR);
        CHECK(nc_get_var_ushort(nc, var, b04) == NC_NOERR);
        nc_close(nc);
        int j = 0;
        while (r->band[j] != CC_B04)
            j++;
        CHECK(memcmp(b04, r->boa[j], n * sizeof *b04) == 0);
        free(b04);
    }
}

int main(void)
{
    cc_simulate_options so;
    cc_scene *s = NULL;
    const char *dir = sim_scene_open("reference_context", 192, 0, &so, &s);
    if (!s)
        TEST_RETURN();

    cc_reference_options ro;
    cc_reference_options_init(&ro);
    ro.elevation_m = 700; /* a pressure other than sea level */
    cc_reference_result r;
    CHECK_OK(cc_reference_run(s, &ro, &r));
    cc_grid g;
    CHECK_OK(cc_grid_for_scene(s, ro.resolution, &g));
    cc_reference_context *ctx = NULL;
    CHECK_OK(cc_reference_context_build(s, &ro, &g, &ctx));
    CHECK(cc_reference_context_atmos(ctx)->grid_resolution == 60.0);
    CHECK(cc_reference_context_atmos(ctx)->aot550 == r.aot550);
    if (ctx && r.boa[0]) {
        check_pixels(s, &r, ctx);
        check_stream(s, &ro, &r, dir);
    }
    cc_reference_context_free(ctx);
    cc_reference_result_free(&r);
    cc_scene_free(s);
    GDALDestroyDriverManager();
    TEST_RETURN();
}
