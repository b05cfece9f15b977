/* Tile metadata (MTD_TL.xml) on the real T32UMF file: geocoding, sun grid,
 * detector-merged viewing grids (checked against an independent merge done
 * here), interpolation, and malformed variants. */
#include <math.h>

#include <cpl_minixml.h>
#include <cpl_string.h>

#include "core/error.h"
#include "io/s2/s2_mtd.h"
#include "s2mtd_util.h"
#include "testutil.h"

/* Independent detector merge for band b, zenith (az = 0) or azimuth (az = 1):
 * counts and sums per node straight from the XML. Returns the number of
 * detector grids found. */
static int reference_merge(const char *path, int b, int az, double *sum, int *cnt, int n)
{
    CPLXMLNode *doc = CPLParseXMLFile(path);
    if (!doc)
        return -1;
    CPLStripXMLNamespace(doc, NULL, TRUE);
    CPLXMLNode *ta = CPLSearchXMLNode(doc, "=Tile_Angles");
    int found = 0;
    for (int k = 0; k < n; k++) {
        sum[k] = 0;
        cnt[k] = 0;
    }
    for (CPLXMLNode *g = ta ? ta->psChild : NULL; g; g = g->psNext) {
        if (g->eType != CXT_Element || !EQUAL(g->pszValue, "Viewing_Incidence_Angles_Grids") ||
            atoi(CPLGetXMLValue(g, "bandId", "-1")) != b)
            continue;
        found++;
        CPLXMLNode *vl = CPLGetXMLNode(g, az ? "Azimuth.Values_List" : "Zenith.Values_List");
        int k = 0;
        for (CPLXMLNode *r = vl ? vl->psChild : NULL; r; r = r->psNext) {
            if (r->eType != CXT_Element)
                continue;
            char **tok = CSLTokenizeString(CPLGetXMLValue(r, NULL, ""));
            for (int i = 0; tok[i] && k < n; i++, k++) {
                double v = CPLAtof(tok[i]);
                if (!EQUAL(tok[i], "NaN")) {
                    sum[k] += v; /* plain mean: azimuths of one band are within a few degrees */
                    cnt[k]++;
                }
            }
            CSLDestroy(tok);
        }
    }
    CPLDestroyXMLNode(doc);
    return found;
}

static void expect_fail(const char *path, cc_status want, const char *needle)
{
    cc_s2_tile_mtd t;
    tu_check_failure(path, cc_s2_mtd_tile_read(path, &t), want, needle);
    CHECK(t.sun_zenith.v == NULL);
    cc_s2_mtd_tile_free(&t);
}

/* The tile centre and corners (UTM 32N metres) of T32UMF. */
static const double cx = 399960.0 + 54900.0, cy = 6100020.0 - 54900.0;
static const double corner[4][2] = {{399960.0, 6100020.0},
                                    {399960.0 + 109800.0, 6100020.0},
                                    {399960.0, 6100020.0 - 109800.0},
                                    {399960.0 + 109800.0, 6100020.0 - 109800.0}};

static void test_geocoding(const cc_s2_tile_mtd *t)
{
    CHECK(strcmp(t->tile_id, "32UMF") == 0);
    CHECK(t->epsg == 32632);
    static const int res[3] = {10, 20, 60}, npx[3] = {10980, 5490, 1830};
    for (int k = 0; k < 3; k++) {
        CHECK(t->geo[k].res == res[k]);
        CHECK(t->geo[k].nrows == npx[k] && t->geo[k].ncols == npx[k]);
        CHECK(t->geo[k].ulx == 399960.0 && t->geo[k].uly == 6100020.0);
        CHECK(t->geo[k].xdim == res[k] && t->geo[k].ydim == -res[k]);
    }
    CHECK_NEAR(t->sensing_time, 1488364406.669, 1e-3);
    CHECK_NEAR(t->cloudy_pixel_percentage, 85.622, 1e-9);
}

/* Returns 0 when the sun grids are missing (nothing further can be checked). */
static int test_sun_grid(const cc_s2_tile_mtd *t)
{
    /* sun grid */
    const cc_angle_grid *sz = &t->sun_zenith, *sa = &t->sun_azimuth;
    CHECK(sz->nx == 23 && sz->ny == 23 && sa->nx == 23 && sa->ny == 23);
    CHECK(sz->x0 == 399960.0 && sz->y0 == 6100020.0 && sz->dx == 5000.0 && sz->dy == -5000.0);
    CHECK(sz->v && sa->v);
    if (!sz->v || !sa->v)
        return 0;
    CHECK_NEAR(sz->v[0], 64.0077, 1e-4);
    CHECK_NEAR(sz->v[22], 63.7219, 1e-4);
    CHECK_NEAR(sz->v[22 * 23], 63.0514, 1e-4);
    CHECK_NEAR(sa->v[22 * 23 + 22], 163.268, 1e-3);
    CHECK_NEAR(t->mean_sun_zenith, 63.3857651313485, 1e-12);
    CHECK_NEAR(t->mean_sun_azimuth, 162.384086897536, 1e-12);
    CHECK_NEAR(cc_angle_grid_mean(sz), t->mean_sun_zenith, 0.05);
    CHECK_NEAR(cc_angle_grid_mean(sa), t->mean_sun_azimuth, 0.1);
    CHECK_NEAR(t->mean_view_zenith[CC_B01], 9.90614568518115, 1e-12);
    CHECK_NEAR(t->mean_view_azimuth[CC_B01], 106.065198388024, 1e-12);
    return 1;
}

static void test_interpolation(const cc_s2_tile_mtd *t)
{
    const cc_angle_grid *sz = &t->sun_zenith, *sa = &t->sun_azimuth;
    /* interpolation: equal to the node values at nodes, plausible in between */
    for (int j = 0; j < 23; j += 7)
        for (int i = 0; i < 23; i += 5) {
            double x = 399960.0 + 5000.0 * i, y = 6100020.0 - 5000.0 * j;
            CHECK(cc_angle_grid_sample(sz, x, y) == sz->v[j * 23 + i]);
            CHECK_NEAR(cc_angle_grid_sample_azimuth(sa, x, y), sa->v[j * 23 + i], 1e-9);
        }
    double c_sz = cc_angle_grid_sample(sz, cx, cy), c_sa = cc_angle_grid_sample_azimuth(sa, cx, cy);
    printf("tile centre: sun zenith %.4f azimuth %.4f\n", c_sz, c_sa);
    CHECK_NEAR(c_sz, t->mean_sun_zenith, 0.05);
    CHECK_NEAR(c_sa, t->mean_sun_azimuth, 0.1);
    for (int c = 0; c < 4; c++) {
        double z = cc_angle_grid_sample(sz, corner[c][0], corner[c][1]);
        double a = cc_angle_grid_sample_azimuth(sa, corner[c][0], corner[c][1]);
        CHECK(z > 62.7 && z < 64.1);
        CHECK(a > 161.4 && a < 163.4);
    }
}

static void test_viewing_grids(const char *real, const cc_s2_tile_mtd *t)
{
    const cc_angle_grid *sz = &t->sun_zenith;
    /* viewing grids: every band present, merged as the nanmean over detectors */
    enum { N = 23 * 23 };
    double sum[N];
    int cnt[N];
    for (int b = 0; b < CC_NBANDS; b++) {
        const cc_angle_grid *vz = &t->view_zenith[b], *va = &t->view_azimuth[b];
        CHECK(vz->v != NULL && va->v != NULL);
        if (!vz->v || !va->v)
            continue;
        CHECK(vz->nx == 23 && vz->ny == 23 && vz->x0 == sz->x0 && vz->dy == sz->dy);
        for (int az = 0; az < 2; az++) {
            const cc_angle_grid *g = az ? va : vz;
            int nd = reference_merge(real, b, az, sum, cnt, N);
            CHECK(nd >= 2);
            int valid = 0;
            for (int k = 0; k < N; k++) {
                if (cnt[k] == 0) {
                    CHECK(isnan(g->v[k]));
                    continue;
                }
                valid++;
                CHECK(!isnan(g->v[k])); /* no NaN where any detector has data */
                if (!isnan(g->v[k]) && fabs(g->v[k] - sum[k] / cnt[k]) > 1e-3) {
                    fprintf(stderr, "FAIL band %d %s node %d: %g vs reference %g\n", b,
                            az ? "azimuth" : "zenith", k, g->v[k], sum[k] / cnt[k]);
                    cc_test_failures++;
                }
            }
            if (az == 0 && b == CC_B01)
                printf("band B01: %d of %d nodes have viewing angles (tile at the swath edge)\n", valid, N);
            CHECK(valid > N / 10);
        }
        double mz = cc_angle_grid_mean(vz);
        CHECK(mz > 0.0 && mz < 15.0);
        CHECK_NEAR(mz, t->mean_view_zenith[b], 1.5);
        double z = cc_angle_grid_sample(vz, cx, cy), a = cc_angle_grid_sample_azimuth(va, cx, cy);
        CHECK(z > 0.0 && z < 15.0);
        CHECK(a >= 0.0 && a < 360.0);
        /* corners: NaN nodes outside the swath fall back to valid data */
        for (int c = 0; c < 4; c++) {
            double zc = cc_angle_grid_sample(vz, corner[c][0], corner[c][1]);
            CHECK(zc > 0.0 && zc < 15.0);
        }
    }
}

static void test_malformed(const char *shared, const char *real, const char *tmp)
{
    char p[4096];
    /* malformed variants */
    char *text = tu_read(real, NULL);
    /* drop the last two values of the first sun zenith row */
    tu_variant(p, sizeof p, tmp, "truncated_row.xml", text, " 63.7347 63.7219</VALUES>", "</VALUES>");
    expect_fail(p, CC_ERR_FORMAT, "wrong grid size");
    tu_variant(p, sizeof p, tmp, "bad_number.xml", text, "63.9945 ", "63.99x45 ");
    expect_fail(p, CC_ERR_FORMAT, "bad number '63.99x45' in Sun_Angles_Grid/Zenith row 1");
    {
        /* a detector grid with one row fewer than the sun grid */
        const char *det = strstr(text, "<Viewing_Incidence_Angles_Grids bandId=\"0\" detectorId=\"1\">");
        CHECK(det != NULL);
        if (det) {
            const char *row = strstr(det, "<VALUES>");
            const char *end = strstr(row, "</VALUES>") + strlen("</VALUES>");
            size_t a = (size_t)(row - text), l = strlen(text);
            char *bad = malloc(l + 1);
            memcpy(bad, text, a);
            memcpy(bad + a, end, l - (size_t)(end - text) + 1);
            tu_path(p, sizeof p, tmp, "short_detector.xml");
            tu_write(p, bad, strlen(bad));
            expect_fail(p, CC_ERR_FORMAT, "wrong grid size");
            free(bad);
        }
    }
    tu_variant(p, sizeof p, tmp, "no_cs.xml", text, "<HORIZONTAL_CS_CODE>EPSG:32632</HORIZONTAL_CS_CODE>", "");
    expect_fail(p, CC_ERR_MISSING, "HORIZONTAL_CS_CODE");
    {
        char *bad = tu_replace(text, "<Sun_Angles_Grid>", "<Sun_Angles_Grid_X>");
        char *bad2 = tu_replace(bad, "</Sun_Angles_Grid>", "</Sun_Angles_Grid_X>");
        tu_path(p, sizeof p, tmp, "no_sun.xml");
        tu_write(p, bad2, strlen(bad2));
        expect_fail(p, CC_ERR_MISSING, "Sun_Angles_Grid");
        free(bad);
        free(bad2);
    }
    tu_path(p, sizeof p, tmp, "missing.xml");
    expect_fail(p, CC_ERR_IO, "cannot open");
    tu_path(p, sizeof p, tmp, "garbage.xml");
    tu_write(p, "\x89PNG\r\n\x1a\n garbage", 16);
    expect_fail(p, CC_ERR_FORMAT, NULL);
    tu_fmt(p, sizeof p, "%s/datasets/s2-l1c-metadata-T32UMF-20170301/MTD_MSIL1C.xml", shared);
    expect_fail(p, CC_ERR_FORMAT, "not a Sentinel-2 tile metadata file");
    free(text);
}

int main(void)
{
    const char *shared = cc_test_shared_or_skip();
    char real[4096];
    tu_fmt(real, sizeof real, "%s/datasets/s2-l1c-metadata-T32UMF-20170301/MTD_TL.xml", shared);
    const char *tmp = tu_tmpdir("s2mtd_tile");

    cc_s2_tile_mtd t;
    CHECK_OK(cc_s2_mtd_tile_read(real, &t));
    test_geocoding(&t);
    if (!test_sun_grid(&t))
        TEST_RETURN();
    test_interpolation(&t);
    test_viewing_grids(real, &t);
    cc_s2_mtd_tile_free(&t);
    cc_s2_mtd_tile_free(&t);

    test_malformed(shared, real, tmp);
    cc_s2_mtd_tile_free(NULL);
    TEST_RETURN();
}
