/* SAFE reader on an L2A product assembled at test time (make_safe_l2a.sh):
 * synthetic MTD_MSIL2A.xml + real T32UMF MTD_TL.xml + real rio-tiler-pds 29RKH
 * L2A pixels (crops) re-labelled into the tile. A STRUCTURAL fixture: checks
 * the R10m/R20m/R60m layout, SCL/AOT/WVP, B10 absence, offsets, DNs. */
#include <stdio.h>
#include <string.h>

#include <gdal.h>

#include "core/log.h"
#include "io/s2/scene.h"
#include "io_util.h"

#define PRODUCT "S2B_MSIL2A_20170301T103021_N0400_R108_T32UMF_20170301T120000"

/* r equals the top-left crop of the source raster, each source pixel
 * repeated `rep` x `rep` times. */
static void check_crop(const cc_raster_u16 *r, const char *shared, const char *name, int rep)
{
    char src[4400];
    snprintf(src, sizeof src, "%s/datasets/riotilerpds/s2-l2a-29RKH-20200219/%s.tif", shared, name);
    int w = 0, h = 0;
    uint16_t *v = io_gdal_read(src, 1, &w, &h, NULL);
    CHECK(v != NULL);
    if (!v)
        return;
    size_t bad = 0;
    for (int j = 0; j < r->height; j++)
        for (int i = 0; i < r->width; i++)
            bad += r->dn[(size_t)j * r->width + i] != v[(size_t)(j / rep) * w + i / rep];
    if (bad)
        fprintf(stderr, "  %s: %zu DN differ from %s\n", r->source, bad, src);
    CHECK(bad == 0);
    free(v);
}

int main(void)
{
    const char *shared = cc_test_shared_or_skip();
    const char *srcdir = getenv("CLEARCUBE_SOURCE");
    GDALAllRegister();
    cc_log_route_gdal();
    cc_log_set_level(CC_LOG_INFO);
    const char *tmp = cc_test_tmpdir("io_scene_safe_l2a");
    char cmd[9000], safe[4400];
    snprintf(cmd, sizeof cmd, "sh '%s/tests/io/make_safe_l2a.sh' '%s' '%s'", srcdir ? srcdir : ".", tmp, shared);
    if (io_sh(cmd) != 0) {
        fprintf(stderr, "FAIL: could not assemble the L2A SAFE fixture\n");
        return 1;
    }
    snprintf(safe, sizeof safe, "%s/%s.SAFE", tmp, PRODUCT);

    cc_scene_options o;
    cc_scene_options_init(&o);
    cc_scene *s = NULL;
    CHECK_OK(cc_scene_open(safe, &o, &s));
    if (!s)
        TEST_RETURN();
    CHECK(s->level == CC_LEVEL_L2A);
    CHECK(s->spacecraft == CC_SC_S2B);
    CHECK(strcmp(s->product_id, PRODUCT) == 0);
    CHECK(strcmp(s->tile_id, "32UMF") == 0);
    CHECK(strcmp(s->processing_baseline, "04.00") == 0);
    CHECK(s->epsg == 32632);
    CHECK(s->checksums_verified == 0); /* no manifest.safe */
    CHECK(s->aot_quantification == 1000.0 && s->wvp_quantification == 1000.0);
    for (int b = 0; b < CC_NBANDS; b++) {
        const cc_raster_u16 *r = &s->band[b];
        CHECK(r->present == (b != CC_B10));
        if (!r->present)
            continue;
        CHECK(s->radio_offset[b] == -1000.0);
        const int res = cc_band_resolution[b];
        const int n = res == 10 ? 240 : res == 20 ? 120 : 40;
        CHECK(r->width == n && r->height == n);
        CHECK(r->gt[0] == 405960.0 && r->gt[3] == 6094020.0 && r->gt[1] == res);
        char want[16];
        snprintf(want, sizeof want, "/R%dm/", res);
        CHECK(strstr(r->source, want) != NULL);
        check_crop(r, shared, cc_band_names[b], 1);
    }
    CHECK(s->scl.present && s->scl.width == 120 && s->scl.gt[1] == 20.0);
    CHECK(s->aot.present && s->aot.width == 120);
    CHECK(s->wvp.present && s->wvp.width == 120);
    check_crop(&s->scl, shared, "SCL", 1);
    check_crop(&s->aot, shared, "AOT", 3);
    check_crop(&s->wvp, shared, "WVP", 1);
    int scl_ok = 1;
    for (int i = 0; i < 120 * 120; i++)
        scl_ok &= s->scl.dn[i] <= 11;
    CHECK(scl_ok);
    cc_scene_free(s);

    /* asking for B10 of an L2A product is an error naming the band */
    o.bands = "B02,B10";
    EXPECT_FAIL(safe, &o, CC_ERR_MISSING, "B10");
    TEST_RETURN();
}
