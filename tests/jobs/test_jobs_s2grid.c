/* The tile grid against ESA's own list (../shared/datasets/s2-tiling-grid, the
 * KML of the 56,686 operational tiles): the compiled-in table has exactly ESA's
 * tiles with ESA's corners, and the tiles selected for a box, a box across the
 * antimeridian, a polar box and a GeoJSON polygon are exactly the KML
 * footprints that OGR finds intersecting the same area. */
#define _POSIX_C_SOURCE 200809L
#include <gdal.h>
#include <math.h>
#include <ogr_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/grid/mgrs.h"
#include "testutil.h"

typedef struct {
    char id[6];
    OGRGeometryH g;
} esa_tile;

static esa_tile *esa;
static int nesa;

static int cmp_tile(const void *a, const void *b) { return strcmp(((const esa_tile *)a)->id, ((const esa_tile *)b)->id); }

static int load_kml(const char *shared)
{
    char path[2048];
    snprintf(path, sizeof path, "/vsizip/%s/datasets/s2-tiling-grid/s2_tiles_operational_56686.kmz/s2_tiles.kml",
             shared);
    GDALDatasetH ds = GDALOpenEx(path, GDAL_OF_VECTOR | GDAL_OF_READONLY, NULL, NULL, NULL);
    CHECK(ds != NULL);
    if (!ds)
        return 0;
    OGRLayerH l = GDALDatasetGetLayer(ds, 0);
    esa = calloc(60000, sizeof *esa);
    OGRFeatureH f;
    while ((f = OGR_L_GetNextFeature(l)) != NULL && nesa < 60000) {
        snprintf(esa[nesa].id, sizeof esa[nesa].id, "%s", OGR_F_GetFieldAsString(f, OGR_F_GetFieldIndex(f, "Name")));
        esa[nesa].g = OGR_G_Clone(OGR_F_GetGeometryRef(f));
        nesa++;
        OGR_F_Destroy(f);
    }
    GDALClose(ds);
    qsort(esa, (size_t)nesa, sizeof *esa, cmp_tile);
    return 1;
}

static int has(char **ids, int n, const char *id)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(ids[i], id))
            return 1;
    return 0;
}

/* The table is ESA's list; every footprint corner is a KML vertex (to 1e-5 degrees, ~1 m). */
static void test_table_is_esa(void)
{
    CHECK(cc_mgrs_tile_count() == 56686);
    CHECK(nesa == 56686);
    double worst = 0;
    int nbad = 0;
    for (int i = 0; i < nesa; i++) {
        char id[8];
        if (cc_mgrs_tile_parse(esa[i].id, id) != CC_OK) {
            if (nbad++ < 5)
                printf("ESA tile %s is not in the table\n", esa[i].id);
            continue;
        }
        double lon[4], lat[4];
        cc_mgrs_tile_corners(id, lon, lat);
        for (int k = 0; k < 4; k++) {
            double x = remainder(lon[k], 360.0), best = INFINITY;
            for (int p = 0; p < OGR_G_GetGeometryCount(esa[i].g); p++) {
                OGRGeometryH ring = OGR_G_GetGeometryRef(OGR_G_GetGeometryRef(esa[i].g, p), 0);
                for (int v = 0; v < OGR_G_GetPointCount(ring); v++) {
                    double dx = remainder(OGR_G_GetX(ring, v) - x, 360.0) * cos(lat[k] * M_PI / 180);
                    double d = hypot(dx, OGR_G_GetY(ring, v) - lat[k]);
                    best = fmin(best, d);
                }
            }
            worst = fmax(worst, best);
        }
    }
    printf("table: %d tiles; ESA tiles missing from it: %d; largest corner distance to the KML %.2e degrees\n",
           cc_mgrs_tile_count(), nbad, worst);
    CHECK(nbad == 0);
    CHECK(worst < 1e-5);
}

static void test_named_tiles(void)
{
    char id[8];
    /* MGRS squares ESA does not publish */
    CHECK(cc_mgrs_tile_parse("02CLE", id) == CC_ERR_ARG);
    CHECK(strstr(cc_error_message(), "02CLE") != NULL);
    CHECK(cc_mgrs_tile_parse("02DLF", id) == CC_ERR_ARG);
    CHECK(cc_mgrs_tile_parse("32XMF", id) == CC_ERR_ARG);
    /* real tiles the computed MGRS grid missed: 31VED..31VEK (west of Norway) */
    const char *v31[] = {"31VED", "31VEE", "31VEF", "31VEG", "31VEH", "31VEJ", "31VEK"};
    for (int i = 0; i < 7; i++)
        CHECK(cc_mgrs_tile_parse(v31[i], id) == CC_OK);
    int epsg;
    double ulx, uly;
    CHECK_OK(cc_mgrs_tile_footprint("T31VED", &epsg, &ulx, &uly));
    printf("31VED: EPSG:%d %.0f %.0f\n", epsg, ulx, uly);
    CHECK(epsg == 32631 && ulx == 499980 && uly == 6400020);
    CHECK_OK(cc_mgrs_tile_footprint("38KPD", &epsg, &ulx, &uly)); /* real MAJA product: 600000 7900000 */
    CHECK(epsg == 32738 && ulx == 600000 && uly == 7900000);
    CHECK_OK(cc_mgrs_tile_footprint("01CDH", &epsg, &ulx, &uly)); /* south of 80 S */
    CHECK(epsg == 32701);
}

/* OGR's answer on the KML: the ESA tiles whose footprint intersects `area`. */
static int esa_select(OGRGeometryH area, char ***out)
{
    char **ids = calloc((size_t)nesa, sizeof *ids);
    int n = 0;
    for (int i = 0; i < nesa; i++)
        if (OGR_G_Intersects(area, esa[i].g))
            ids[n++] = esa[i].id;
    *out = ids;
    return n;
}

static OGRGeometryH box_geom(double w, double s, double e, double n)
{
    char wkt[512];
    snprintf(wkt, sizeof wkt, "POLYGON ((%.10g %.10g,%.10g %.10g,%.10g %.10g,%.10g %.10g,%.10g %.10g))", w, s, e, s, e,
             n, w, n, w, s);
    char *p = wkt;
    OGRGeometryH g = NULL;
    OGR_G_CreateFromWkt(&p, NULL, &g);
    return g;
}

/* The library's selection equals OGR's on the KML; returns the count. */
static int same_as_esa(const char *what, char **ids, int n, OGRGeometryH area)
{
    char **ref;
    int nref = esa_select(area, &ref), diff = 0;
    for (int i = 0; i < nref; i++)
        if (!has(ids, n, ref[i]) && diff++ < 5)
            printf("  %s: ESA tile %s intersects but was not selected\n", what, ref[i]);
    for (int i = 0; i < n; i++) {
        int found = 0;
        for (int j = 0; j < nref && !found; j++)
            found = !strcmp(ids[i], ref[j]);
        if (!found && diff++ < 10)
            printf("  %s: %s selected but its ESA footprint does not intersect\n", what, ids[i]);
    }
    printf("%s: %d tiles selected, %d by OGR on ESA's KML, %d differences\n", what, n, nref, diff);
    CHECK(diff == 0 && n == nref);
    free(ref);
    return n;
}

static void test_boxes(void)
{
    char **ids;
    int n;
    /* the world */
    CHECK_OK(cc_mgrs_tiles_bbox(-180, -90, 180, 90, &ids, &n));
    printf("world: %d tiles\n", n);
    CHECK(n == 56686);
    CHECK(!has(ids, n, "02CLE") && has(ids, n, "31VED") && has(ids, n, "31VEK"));
    cc_mgrs_ids_free(ids, n);
    /* south of 80 S (the old computed grid refused it) */
    CHECK_OK(cc_mgrs_tiles_bbox(-180, -90, 180, -80, &ids, &n));
    OGRGeometryH g = box_geom(-180, -90, 180, -80);
    int ns = same_as_esa("south of 80 S", ids, n, g), whole = 0;
    for (int i = 0; i < n; i++) {
        double lon[4], lat[4];
        cc_mgrs_tile_corners(ids[i], lon, lat);
        whole += fmax(fmax(lat[0], lat[1]), fmax(lat[2], lat[3])) < -80.0;
    }
    printf("south of 80 S: %d tiles meet it, %d lie wholly in it\n", ns, whole);
    CHECK(whole == 360);
    OGR_G_DestroyGeometry(g);
    cc_mgrs_ids_free(ids, n);
    /* the Norway / 31V zone edge and a neighbour overlap */
    CHECK_OK(cc_mgrs_tiles_bbox(1.5, 57.5, 6.5, 61.5, &ids, &n));
    g = box_geom(1.5, 57.5, 6.5, 61.5);
    same_as_esa("North Sea box 1.5,57.5,6.5,61.5", ids, n, g);
    CHECK(has(ids, n, "31VEH") && has(ids, n, "32VKM"));
    OGR_G_DestroyGeometry(g);
    cc_mgrs_ids_free(ids, n);
    /* a box across the antimeridian (Fiji), W > E */
    CHECK_OK(cc_mgrs_tiles_bbox(178.5, -19, -179.5, -16, &ids, &n));
    g = OGR_G_CreateGeometry(wkbMultiPolygon);
    OGR_G_AddGeometryDirectly(g, box_geom(178.5, -19, 180, -16));
    OGR_G_AddGeometryDirectly(g, box_geom(-180, -19, -179.5, -16));
    same_as_esa("antimeridian box 178.5,-19,-179.5,-16", ids, n, g);
    int n60 = 0, n01 = 0;
    for (int i = 0; i < n; i++)
        n60 += !strncmp(ids[i], "60", 2), n01 += !strncmp(ids[i], "01", 2);
    CHECK(n60 > 0 && n01 > 0);
    OGR_G_DestroyGeometry(g);
    cc_mgrs_ids_free(ids, n);
    /* errors */
    CHECK(cc_mgrs_tiles_bbox(0, 10, 10, 5, &ids, &n) == CC_ERR_ARG);
    CHECK(cc_mgrs_tiles_bbox(0, -91, 10, 5, &ids, &n) == CC_ERR_ARG);
    CHECK(cc_mgrs_tiles_bbox(-190, 0, 10, 5, &ids, &n) == CC_ERR_ARG);
}

static void test_polygon(void)
{
    /* a triangle over the Alps selects fewer tiles than its bounding box, and exactly ESA's */
    const char *tmp = cc_test_tmpdir("jobs_s2grid");
    char path[4096];
    snprintf(path, sizeof path, "%.4000s/triangle.geojson", tmp);
    FILE *f = fopen(path, "w");
    fprintf(f, "{\"type\": \"FeatureCollection\", \"features\": [{\"type\": \"Feature\", \"properties\": {}, "
               "\"geometry\": {\"type\": \"Polygon\", \"coordinates\": [[[6, 44], [14, 44], [6, 48.5], [6, 44]]]}}]}\n");
    fclose(f);
    char **a, **b;
    int na, nb;
    CHECK_OK(cc_mgrs_tiles_geojson(path, &a, &na));
    CHECK_OK(cc_mgrs_tiles_bbox(6, 44, 14, 48.5, &b, &nb));
    char wkt[] = "POLYGON ((6 44,14 44,6 48.5,6 44))", *p = wkt;
    OGRGeometryH g = NULL;
    OGR_G_CreateFromWkt(&p, NULL, &g);
    same_as_esa("triangle 6,44 14,44 6,48.5", a, na, g);
    printf("triangle: %d tiles; its bbox: %d tiles\n", na, nb);
    CHECK(na < nb && na > 10);
    CHECK(!has(a, na, "33TVN") || has(b, nb, "33TVN"));
    OGR_G_DestroyGeometry(g);
    cc_mgrs_ids_free(a, na);
    cc_mgrs_ids_free(b, nb);
    /* a MultiPolygon cut at the antimeridian (RFC 7946) = the W > E box */
    snprintf(path, sizeof path, "%.4000s/fiji.geojson", tmp);
    f = fopen(path, "w");
    fprintf(f, "{\"type\": \"Feature\", \"properties\": {}, \"geometry\": {\"type\": \"MultiPolygon\", \"coordinates\": "
               "[[[[178.5, -19], [180, -19], [180, -16], [178.5, -16], [178.5, -19]]], "
               "[[[-180, -19], [-179.5, -19], [-179.5, -16], [-180, -16], [-180, -19]]]]}}\n");
    fclose(f);
    CHECK_OK(cc_mgrs_tiles_geojson(path, &a, &na));
    CHECK_OK(cc_mgrs_tiles_bbox(178.5, -19, -179.5, -16, &b, &nb));
    CHECK(na == nb);
    for (int i = 0; i < na && na == nb; i++)
        CHECK(!strcmp(a[i], b[i]));
    cc_mgrs_ids_free(a, na);
    cc_mgrs_ids_free(b, nb);
}

int main(void)
{
    const char *shared = cc_test_shared_or_skip();
    GDALAllRegister();
    if (load_kml(shared)) {
        test_table_is_esa();
        test_named_tiles();
        test_boxes();
        test_polygon();
    }
    for (int i = 0; i < nesa; i++)
        OGR_G_DestroyGeometry(esa[i].g);
    free(esa);
    GDALDestroyDriverManager();
    TEST_RETURN();
}
