/* Stack readers on small synthetic GeoTIFFs written at test time: good input,
 * then every kind of bad input/option (status, message, nothing leaked). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <gdal.h>
#include <ogr_srs_api.h>

#include "core/log.h"
#include "io/s2/scene.h"
#include "io_util.h"

/* A w x h GeoTIFF with nb bands of type t; pixel (i) of band k = fill(k, i).
 * epsg 0: no CRS. */
static int write_tif(const char *path, int nb, GDALDataType t, int epsg, int zero, int nodata)
{
    const int w = 20, h = 10;
    GDALDriverH drv = GDALGetDriverByName("GTiff");
    GDALDatasetH ds = GDALCreate(drv, path, w, h, nb, t, NULL);
    if (!ds)
        return -1;
    double gt[6] = {500000, 10, 0, 5000000, 0, -10};
    GDALSetGeoTransform(ds, gt);
    if (epsg) {
        OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
        OSRImportFromEPSG(srs, epsg);
        GDALSetSpatialRef(ds, srs);
        OSRDestroySpatialReference(srs);
    }
    float buf[200];
    int rc = 0;
    for (int k = 0; k < nb; k++) {
        for (int i = 0; i < w * h; i++)
            buf[i] = zero ? 0.0f : (float)(1000 + 10 * k + i % 7);
        if (nodata) {
            buf[0] = (float)nodata;
            GDALSetRasterNoDataValue(GDALGetRasterBand(ds, k + 1), nodata);
        }
        rc |= GDALRasterIO(GDALGetRasterBand(ds, k + 1), GF_Write, 0, 0, w, h, buf, w, h, GDT_Float32, 0, 0) !=
              CE_None;
    }
    GDALClose(ds);
    return rc ? -1 : 0;
}

int main(void)
{
    GDALAllRegister();
    cc_log_route_gdal();
    cc_log_set_level(CC_LOG_WARN);
    const char *tmp = cc_test_tmpdir("io_scene_args");
    char good[4200], nocrs[4200], zero[4200], flt[4200], junk[4200], dir[4200], emptydir[4200], p[4400],
        missing[4200];
    char cmd[9000];
    snprintf(good, sizeof good, "%s/T31TCJ_stack_L1C.tif", tmp);
    snprintf(nocrs, sizeof nocrs, "%s/nocrs.tif", tmp);
    snprintf(zero, sizeof zero, "%s/zero.tif", tmp);
    snprintf(flt, sizeof flt, "%s/float.tif", tmp);
    snprintf(junk, sizeof junk, "%s/junk.tif", tmp);
    snprintf(dir, sizeof dir, "%s/bands", tmp);
    snprintf(emptydir, sizeof emptydir, "%s/empty", tmp);
    snprintf(missing, sizeof missing, "%s/does-not-exist.tif", tmp);
    CHECK(write_tif(good, 3, GDT_UInt16, 32631, 0, 65535) == 0);
    CHECK(write_tif(nocrs, 3, GDT_UInt16, 0, 0, 0) == 0);
    CHECK(write_tif(zero, 3, GDT_UInt16, 32631, 1, 0) == 0);
    CHECK(write_tif(flt, 3, GDT_Float32, 32631, 0, 0) == 0);
    FILE *f = fopen(junk, "w");
    CHECK(f != NULL);
    if (f) {
        fputs("this is not a raster\n", f);
        fclose(f);
    }
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' '%s'", dir, emptydir);
    CHECK(io_sh(cmd) == 0);
    snprintf(p, sizeof p, "%s/x_B02.tif", dir);
    CHECK(write_tif(p, 1, GDT_UInt16, 32631, 0, 0) == 0);
    snprintf(p, sizeof p, "%s/x_B8A.tif", dir);
    CHECK(write_tif(p, 1, GDT_UInt16, 32632, 0, 0) == 0); /* different CRS */
    snprintf(p, sizeof p, "%s/notes.txt", emptydir);
    f = fopen(p, "w");
    if (f) {
        fputs("B02\n", f);
        fclose(f);
    }

    cc_scene_options o;
    io_stack_options(&o);
    o.bands = "B04,B8A,B11";

    /* good */
    cc_scene *s = NULL;
    CHECK_OK(cc_scene_open(good, &o, &s));
    if (s) {
        CHECK(s->band[CC_B04].present && s->band[CC_B8A].present && s->band[CC_B11].present);
        CHECK(s->band[CC_B04].dn[0] == 0);    /* nodata 65535 -> 0 */
        CHECK(s->band[CC_B04].dn[1] == 1001); /* 1000 + 1 % 7 */
        CHECK(s->band[CC_B8A].dn[1] == 1011);
        CHECK(strcmp(s->tile_id, "31TCJ") == 0);
        CHECK(strcmp(s->product_id, "T31TCJ_stack_L1C") == 0);
        CHECK(s->level == CC_LEVEL_L1C);
        CHECK(s->epsg == 32631);
        cc_scene_free(s);
    }
    /* the same options, through NULL defaults: a stack without options fails */
    EXPECT_FAIL(good, NULL, CC_ERR_ARG, "bands");

    printf("bad inputs\n");
    EXPECT_FAIL(missing, &o, CC_ERR_IO, "does-not-exist.tif");
    EXPECT_FAIL(junk, &o, CC_ERR_FORMAT, "junk.tif");
    EXPECT_FAIL(nocrs, &o, CC_ERR_CRS, "nocrs.tif");
    EXPECT_FAIL(zero, &o, CC_ERR_NODATA, "zero.tif");
    EXPECT_FAIL(flt, &o, CC_ERR_FORMAT, "float.tif");
    EXPECT_FAIL(dir, &o, CC_ERR_MISSING, "B04"); /* folder lacks B04 */
    {
        cc_scene_options od;
        io_stack_options(&od);
        EXPECT_FAIL(emptydir, &od, CC_ERR_MISSING, "no per-band raster files");
        EXPECT_FAIL(dir, &od, CC_ERR_CRS, "x_B8A.tif"); /* B02 in 32631, B8A in 32632 */
    }

    printf("bad options\n");
    cc_scene_options b = o;
    b.spacecraft = "S2Z";
    EXPECT_FAIL(good, &b, CC_ERR_UNSUPPORTED, "spacecraft");
    b = o;
    b.sun_zenith = 90.0;
    EXPECT_FAIL(good, &b, CC_ERR_ARG, "sun_zenith");
    b = o;
    b.sun_zenith = -1.0;
    EXPECT_FAIL(good, &b, CC_ERR_ARG, "sun_zenith");
    b = o;
    b.view_zenith = 61.0;
    EXPECT_FAIL(good, &b, CC_ERR_ARG, "view_zenith");
    b = o;
    b.sun_azimuth = 361.0;
    EXPECT_FAIL(good, &b, CC_ERR_ARG, "sun_azimuth");
    b = o;
    b.view_azimuth = INFINITY;
    EXPECT_FAIL(good, &b, CC_ERR_ARG, "view_azimuth");
    b = o;
    b.dn_offset = 1e9;
    EXPECT_FAIL(good, &b, CC_ERR_ARG, "dn_offset");
    b = o;
    b.date = NULL;
    EXPECT_FAIL(good, &b, CC_ERR_ARG, "date");
    b = o;
    b.view_zenith = NAN;
    b.spacecraft = NULL;
    EXPECT_FAIL(good, &b, CC_ERR_ARG, "spacecraft, view_zenith");
    b = o;
    b.bands = "B04,B8A";
    EXPECT_FAIL(good, &b, CC_ERR_ARG, "bands");
    b = o;
    b.bands = "B04,B8A,B13";
    EXPECT_FAIL(good, &b, CC_ERR_ARG, "B13");
    b = o;
    b.bands = "B04,B04,B11";
    EXPECT_FAIL(good, &b, CC_ERR_ARG, "twice");
    b = o;
    b.bands = "";
    EXPECT_FAIL(good, &b, CC_ERR_ARG, "bands");
    const char *bad_dates[] = {"2017-02-30", "2017-13-01", "17-02-16", "2017/02/16", "2017-02-16x", "yesterday",
                               "2017-02-16T25:00:00"};
    for (size_t i = 0; i < sizeof bad_dates / sizeof bad_dates[0]; i++) {
        b = o;
        b.date = bad_dates[i];
        EXPECT_FAIL(good, &b, CC_ERR_ARG, "date");
    }
    /* a good date with a time of day */
    b = o;
    b.date = "2016-02-29T10:30:00Z";
    s = NULL;
    CHECK_OK(cc_scene_open(good, &b, &s));
    if (s) {
        CHECK(s->year == 2016 && s->month == 2 && s->day == 29);
        CHECK_NEAR(s->sensing_time, 1456741800.0, 1e-6);
        cc_scene_free(s);
    }

    /* API misuse */
    s = (cc_scene *)1;
    CHECK(cc_scene_open(NULL, &o, &s) == CC_ERR_ARG && s == NULL);
    CHECK(cc_scene_open("", &o, &s) == CC_ERR_ARG);
    cc_scene_free(NULL);
    TEST_RETURN();
}
