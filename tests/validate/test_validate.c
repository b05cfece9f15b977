/* clearcube validate on synthetic cubes with known perturbations: the
 * reference cube is in the baseline >= 04.00 convention (DN = 10000 rho + 1000,
 * add_offset -0.1), the prediction in the old one (add_offset 0), so the DN
 * offsets must be removed. B02 +10 DN everywhere, B03 exact, B04 -20 DN on the
 * western half, B08 +30 DN; one nodata pixel in each file; B11 only in the
 * reference and B12 only in the prediction (not compared). Checks MAE, bias,
 * RMSE, NDVI, the JSON and the PNG sizes, and the error cases (different
 * grid, no common band, missing file) leave no report file. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <gdal.h>
#include <jansson.h>
#include <ogr_srs_api.h>

#include "io/cube.h"
#include "pipeline/boa/validate.h"
#include "testutil.h"

enum { W = 40, H = 30 };
static char wkt_buf[4096];

static uint16_t ref_dn(int b, int x, int y)
{
    if (x == 0 && y == 0)
        return 0; /* nodata in the reference */
    return (uint16_t)(1000 + 500 + (x * 7 + y * 13) % 2000 + b * 100);
}

static int delta(int b, int x)
{
    switch (b) {
    case CC_B02: return 10;
    case CC_B04: return x < 20 ? -20 : 0;
    case CC_B08: return 30;
    default: return 0;
    }
}

static uint16_t pred_dn(int b, int x, int y)
{
    if (x == 1 && y == 0)
        return 0; /* nodata in the prediction */
    if (x == 0 && y == 0)
        return 777; /* valid here, nodata in the reference */
    return (uint16_t)(ref_dn(b, x, y) - 1000 + delta(b, x));
}

static void write_cube(const char *path, int pred, const int *bands, int nb, int w, int h)
{
    static uint16_t data[6][W * H];
    cc_cube_layer L[6];
    for (int k = 0; k < nb; k++) {
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                data[k][y * w + x] = pred ? pred_dn(bands[k], x, y) : ref_dn(bands[k], x, y);
        L[k] = (cc_cube_layer){.name = cc_band_names[bands[k]], .units = "1", .scale_factor = 1e-4,
                               .add_offset = pred ? 0 : -0.1, .fill_value = 0, .data = data[k]};
    }
    cc_cube_write_args a = {.path = path, .tile_id = "32TNR", .product = pred ? "boa" : "reference-l2a",
                            .wkt = wkt_buf, .gt = {580560, 10, 0, 5102120, 0, -10}, .width = w, .height = h,
                            .year = 2024, .month = 6, .day = 15, .nlayers = nb, .layers = L};
    unlink(path);
    CHECK_OK(cc_cube_write(&a));
}

static void check_png(const char *path, int w, int h)
{
    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    CHECK(ds != NULL);
    if (!ds)
        return;
    CHECK(GDALGetRasterXSize(ds) == w);
    CHECK(GDALGetRasterYSize(ds) == h);
    if (GDALGetRasterXSize(ds) != w || GDALGetRasterYSize(ds) != h)
        fprintf(stderr, "%s: %dx%d, expected %dx%d\n", path, GDALGetRasterXSize(ds), GDALGetRasterYSize(ds), w, h);
    GDALClose(ds);
}

static int no_report(const char *prefix)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "ls '%s'* >/dev/null 2>&1", prefix);
    return system(cmd) != 0;
}

int main(void)
{
    GDALAllRegister();
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
    OSRImportFromEPSG(srs, 32632);
    char *w = NULL;
    OSRExportToWkt(srs, &w);
    snprintf(wkt_buf, sizeof wkt_buf, "%s", w);
    CPLFree(w);
    OSRDestroySpatialReference(srs);

    const char *dir = cc_test_tmpdir("test_validate");
    char P[2200], R[2200], prefix[2200], path[2300];
    snprintf(P, sizeof P, "%s/pred.nc", dir);
    snprintf(R, sizeof R, "%s/ref.nc", dir);
    snprintf(prefix, sizeof prefix, "%s/report", dir);
    int pb[5] = {CC_B08, CC_B02, CC_B03, CC_B04, CC_B12}, rb[5] = {CC_B02, CC_B03, CC_B04, CC_B08, CC_B11};
    write_cube(P, 1, pb, 5, W, H);
    write_cube(R, 0, rb, 5, W, H);

    cc_validate_args a = {.prediction = {P, NULL, NAN}, .reference = {R, NULL, NAN}, .prefix = prefix,
                          .sample_label = "out-of-sample", .simulated = 1};
    static cc_validate_result r;
    CHECK_OK(cc_validate_run(&a, &r));
    CHECK(r.nbands == 4);
    const int order[4] = {CC_B02, CC_B03, CC_B04, CC_B08};
    const double N = W * H - 2;
    for (int k = 0; k < 4 && k < r.nbands; k++) {
        const cc_validate_band *v = &r.band[k];
        CHECK(v->band == order[k]);
        CHECK(v->n == (size_t)N);
        double mae, bias, rmse;
        if (v->band == CC_B04) {
            double n20 = 20 * H - 2; /* both nodata pixels are in the western half */
            mae = 20 * n20 / N;
            bias = -mae;
            rmse = sqrt(400 * n20 / N);
        } else {
            mae = fabs((double)delta(v->band, 0));
            bias = delta(v->band, 0);
            rmse = mae;
        }
        CHECK_NEAR(v->mae_dn, mae, 1e-9);
        CHECK_NEAR(v->bias_dn, bias, 1e-9);
        CHECK_NEAR(v->rmse_dn, rmse, 1e-9);
        CHECK_NEAR(v->mae_percent, mae / 12000 * 100, 1e-12);
    }
    /* NDVI from first principles */
    double sa = 0, sd = 0, sq = 0;
    int n = 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            if ((x == 0 || x == 1) && y == 0)
                continue;
            double p4 = ref_dn(CC_B04, x, y) - 1000 + delta(CC_B04, x), p8 = ref_dn(CC_B08, x, y) - 1000 + 30;
            double r4 = ref_dn(CC_B04, x, y) - 1000, r8 = ref_dn(CC_B08, x, y) - 1000;
            double d = (p8 - p4) / (p8 + p4) - (r8 - r4) / (r8 + r4);
            sa += fabs(d);
            sd += d;
            sq += d * d;
            n++;
        }
    CHECK(r.has_ndvi);
    CHECK(r.ndvi_n == (size_t)n);
    CHECK_NEAR(r.ndvi_mae, sa / n, 1e-12);
    CHECK_NEAR(r.ndvi_bias, sd / n, 1e-12);
    CHECK_NEAR(r.ndvi_rmse, sqrt(sq / n), 1e-12);
    /* histograms: every valid pixel counted once */
    for (int k = 0; k < r.nbands; k++) {
        double s = 0;
        for (int i = 0; i < CC_VALIDATE_HIST_BINS; i++)
            s += r.band[k].hist[i];
        CHECK(s == N);
    }

    /* JSON */
    snprintf(path, sizeof path, "%s.json", prefix);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    CHECK(j != NULL);
    if (j) {
        CHECK(json_is_true(json_object_get(j, "simulated")));
        CHECK(!strcmp(json_string_value(json_object_get(j, "sample")), "out-of-sample"));
        CHECK(!strcmp(json_string_value(json_object_get(j, "prediction")), P));
        json_t *bands = json_object_get(j, "bands");
        CHECK(json_array_size(bands) == 4);
        json_t *b8 = json_array_get(bands, 3);
        CHECK(!strcmp(json_string_value(json_object_get(b8, "band")), "B08"));
        CHECK(json_real_value(json_object_get(b8, "mae_dn")) == 30.0);
        CHECK(json_real_value(json_object_get(b8, "p99_abs_dn")) == 30.0); /* every |error| is 30 DN */
        CHECK(json_integer_value(json_object_get(b8, "n_valid")) == (json_int_t)N);
        CHECK_NEAR(json_real_value(json_object_get(json_object_get(j, "ndvi"), "mae")), sa / n, 1e-15);
        json_decref(j);
    }
    /* Markdown */
    char *md = cc_validate_markdown(&a, &r);
    CHECK(md && strstr(md, "| B8 | 30.0 | 0.25 | 30.0 | 30.0 | 30.0 | 1198 |"));
    CHECK(md && strstr(md, "| NDVI |"));
    free(md);
    /* PNGs: 40x30 upscaled x7 -> 280x210 panels, 3 panels (no L1C) */
    snprintf(path, sizeof path, "%s.png", prefix);
    check_png(path, 2 * 12 + 2 * (280 + 12) + 280, 40 + 210 + 12 + 14 + 14 + 12 + 14 + 12);
    snprintf(path, sizeof path, "%s-hist.png", prefix);
    check_png(path, 4 * 320, 30 + 240);
    /* deterministic: a second run gives the same JSON */
    char prefix2[2300], cmd[5000];
    snprintf(prefix2, sizeof prefix2, "%s/report2", dir);
    a.prefix = prefix2;
    CHECK_OK(cc_validate_run(&a, &r));
    snprintf(cmd, sizeof cmd, "cd '%s' && sed 's/report2/report/' report2.json | cmp -s - report.json && cmp -s report.png report2.png && cmp -s report-hist.png report2-hist.png", dir);
    CHECK(system(cmd) == 0);

    /* errors: no report files */
    char bad[2300];
    snprintf(bad, sizeof bad, "%s/bad", dir);
    a.prefix = bad;
    char other[2300];
    snprintf(other, sizeof other, "%s/other.nc", dir);
    write_cube(other, 0, rb, 5, W - 4, H);
    a.reference.path = other;
    CHECK(cc_validate_run(&a, &r) == CC_ERR_ARG);
    CHECK(strstr(cc_error_message(), "pred.nc") && strstr(cc_error_message(), "other.nc"));
    CHECK(no_report(bad));
    int only11[1] = {CC_B11}; /* the prediction has no B11 */
    write_cube(other, 0, only11, 1, W, H);
    CHECK(cc_validate_run(&a, &r) == CC_ERR_MISSING);
    CHECK(strstr(cc_error_message(), "other.nc") != NULL);
    CHECK(no_report(bad));
    snprintf(other, sizeof other, "%s/missing.nc", dir);
    CHECK(cc_validate_run(&a, &r) == CC_ERR_IO);
    CHECK(strstr(cc_error_message(), "missing.nc") != NULL);
    CHECK(no_report(bad));
    GDALDestroyDriverManager();
    TEST_RETURN();
}
