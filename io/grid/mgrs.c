/* clearcube: the Sentinel-2 tiling grid: ESA's tile list (io/grid/s2_tiles_table.c) and the
 * UTM maths that turn its corners into footprints. See io/grid/mgrs.h. */
#define _GNU_SOURCE /* strdup, strndup, scandir, M_PI */
#include "io/grid/mgrs.h"
#include "io/grid/s2_tiles_table.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gdal.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>

#define DEG (M_PI / 180.0)
#define SQ 100000.0

static const char bands[] = "CDEFGHJKLMNPQRSTUVWX";
static const char *const col_sets[3] = {"STUVWXYZ", "ABCDEFGH", "JKLMNPQR"}; /* zone % 3 */
static const char rows[] = "ABCDEFGHJKLMNPQRSTUV";

/* ---- transverse Mercator, Krüger series to n^3 (WGS 84, k0 0.9996) ---- */

typedef struct {
    double A, alpha[3], beta[3], delta[3], c2n;
} tm_consts;

static const tm_consts *tm(void)
{
    static tm_consts k;
    static int done = 0;
    if (!done) {
        const double a = 6378137.0, f = 1.0 / 298.257223563;
        double n = f / (2.0 - f), n2 = n * n, n3 = n2 * n;
        k.A = a / (1.0 + n) * (1.0 + n2 / 4.0 + n2 * n2 / 64.0);
        k.alpha[0] = n / 2.0 - 2.0 * n2 / 3.0 + 5.0 * n3 / 16.0;
        k.alpha[1] = 13.0 * n2 / 48.0 - 3.0 * n3 / 5.0;
        k.alpha[2] = 61.0 * n3 / 240.0;
        k.beta[0] = n / 2.0 - 2.0 * n2 / 3.0 + 37.0 * n3 / 96.0;
        k.beta[1] = n2 / 48.0 + n3 / 15.0;
        k.beta[2] = 17.0 * n3 / 480.0;
        k.delta[0] = 2.0 * n - 2.0 * n2 / 3.0 - 2.0 * n3;
        k.delta[1] = 7.0 * n2 / 3.0 - 8.0 * n3 / 5.0;
        k.delta[2] = 56.0 * n3 / 15.0;
        k.c2n = 2.0 * sqrt(n) / (1.0 + n);
        done = 1; /* idempotent: racing threads compute the same values */
    }
    return &k;
}

static double zone_cm(int zone) { return -183.0 + 6.0 * zone; }

void cc_mgrs_utm_forward(int zone, double lon, double lat, double *e, double *n)
{
    const tm_consts *k = tm();
    double phi = lat * DEG, dl = (lon - zone_cm(zone)) * DEG;
    double s = sin(phi);
    double t = sinh(atanh(s) - k->c2n * atanh(k->c2n * s));
    double xi = atan2(t, cos(dl)), eta = atanh(sin(dl) / sqrt(1.0 + t * t));
    double x = eta, y = xi;
    for (int j = 1; j <= 3; j++) {
        x += k->alpha[j - 1] * cos(2 * j * xi) * sinh(2 * j * eta);
        y += k->alpha[j - 1] * sin(2 * j * xi) * cosh(2 * j * eta);
    }
    *e = 500000.0 + 0.9996 * k->A * x;
    *n = 0.9996 * k->A * y;
}

void cc_mgrs_utm_inverse(int zone, double e, double n, double *lon, double *lat)
{
    const tm_consts *k = tm();
    double xi = n / (0.9996 * k->A), eta = (e - 500000.0) / (0.9996 * k->A);
    double xp = xi, ep = eta;
    for (int j = 1; j <= 3; j++) {
        xp -= k->beta[j - 1] * sin(2 * j * xi) * cosh(2 * j * eta);
        ep -= k->beta[j - 1] * cos(2 * j * xi) * sinh(2 * j * eta);
    }
    double chi = asin(sin(xp) / cosh(ep));
    double phi = chi;
    for (int j = 1; j <= 3; j++)
        phi += k->delta[j - 1] * sin(2 * j * chi);
    *lat = phi / DEG;
    *lon = zone_cm(zone) + atan2(sinh(ep), cos(xp)) / DEG;
}

/* ---- zones and the computed MGRS square of a point ---- */

int cc_mgrs_zone(double lon, double lat)
{
    if (lat >= 56.0 && lat < 64.0 && lon >= 3.0 && lon < 12.0)
        return 32;
    if (lat >= 72.0 && lon >= 0.0 && lon < 42.0)
        return lon < 9.0 ? 31 : lon < 21.0 ? 33 : lon < 33.0 ? 35 : 37;
    int z = (int)floor((lon + 180.0) / 6.0) + 1;
    return z > 60 ? 60 : z < 1 ? 1 : z;
}

static int band_index(double lat)
{
    int b = (int)floor((lat + 80.0) / 8.0);
    return b < 0 ? 0 : b > 19 ? 19 : b;
}

/* MGRS ID of square (col c, row r) of zone z: c = floor(E / 100 km), r =
 * floor(N / 100 km) with N signed (negative south); its band letter is the
 * band of its centre. -1 if c is outside 1..8. */
static int square_id(int z, int c, int r, char id[8])
{
    if (c < 1 || c > 8)
        return -1;
    double lon, lat;
    cc_mgrs_utm_inverse(z, (c + 0.5) * SQ, (r + 0.5) * SQ, &lon, &lat);
    int ri = ((r % 20) + 20 + (z % 2 == 0 ? 5 : 0)) % 20;
    snprintf(id, 8, "%02d%c%c%c", z, bands[band_index(lat)], col_sets[z % 3][c - 1], rows[ri]);
    return 0;
}

/* ---- the ESA table ---- */

static int tile_zone(const cc_s2_tile_row *t) { return (t->id[0] - '0') * 10 + (t->id[1] - '0'); }
static int tile_south(const cc_s2_tile_row *t) { return t->id[2] < 'N'; }

static int cmp_row(const void *key, const void *row) { return strncmp(key, ((const cc_s2_tile_row *)row)->id, 5); }

static const cc_s2_tile_row *tile_find(const char id[6])
{
    return bsearch(id, cc_s2_tiles, (size_t)cc_s2_tiles_count, sizeof cc_s2_tiles[0], cmp_row);
}

/* The tile's footprint as ESA draws it: the four corners (UL, UR, LR, LL) of
 * its 109.8 km UTM square in lon/lat, joined by straight lines in the lon/lat
 * plane. Longitudes are continuous around the zone's central meridian, so a
 * footprint crossing +-180 degrees has corners beyond it (ESA's KML cuts it
 * there into two parts: the same area). */
static void tile_quad(const cc_s2_tile_row *t, double x[4], double y[4])
{
    int z = tile_zone(t);
    double e0 = 20.0 * t->ulx, n1 = 20.0 * t->uly - (tile_south(t) ? 1e7 : 0.0);
    double e1 = e0 + CC_MGRS_TILE_SIZE, n0 = n1 - CC_MGRS_TILE_SIZE;
    cc_mgrs_utm_inverse(z, e0, n1, &x[0], &y[0]);
    cc_mgrs_utm_inverse(z, e1, n1, &x[1], &y[1]);
    cc_mgrs_utm_inverse(z, e1, n0, &x[2], &y[2]);
    cc_mgrs_utm_inverse(z, e0, n0, &x[3], &y[3]);
}

void cc_mgrs_tile_corners(const char *id, double lon[4], double lat[4])
{
    const cc_s2_tile_row *t = tile_find(id);
    if (t)
        tile_quad(t, lon, lat);
    else
        for (int i = 0; i < 4; i++)
            lon[i] = lat[i] = NAN;
}

/* ---- geometry helpers (lon/lat plane) ---- */

typedef struct {
    double w, s, e, n;
} box;

static int in_box(const box *b, double x, double y) { return x >= b->w && x <= b->e && y >= b->s && y <= b->n; }

static int boxes_meet(const box *a, const box *b) { return a->w <= b->e && b->w <= a->e && a->s <= b->n && b->s <= a->n; }

static int point_in_poly(const double *x, const double *y, int n, double px, double py)
{
    int in = 0;
    for (int i = 0, j = n - 1; i < n; j = i++)
        if ((y[i] > py) != (y[j] > py) && px < (x[j] - x[i]) * (py - y[i]) / (y[j] - y[i]) + x[i])
            in = !in;
    return in;
}

static double cross(double ax, double ay, double bx, double by, double cx, double cy)
{
    return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax);
}

static int segs_meet(double ax, double ay, double bx, double by, double cx, double cy, double dx, double dy)
{
    double d1 = cross(cx, cy, dx, dy, ax, ay), d2 = cross(cx, cy, dx, dy, bx, by);
    double d3 = cross(ax, ay, bx, by, cx, cy), d4 = cross(ax, ay, bx, by, dx, dy);
    return ((d1 >= 0) != (d2 >= 0) || d1 == 0 || d2 == 0) && ((d3 >= 0) != (d4 >= 0) || d3 == 0 || d4 == 0) &&
           !(d1 == 0 && d2 == 0 && d3 == 0 && d4 == 0 &&
             (fmax(ax, bx) < fmin(cx, dx) || fmax(cx, dx) < fmin(ax, bx) || fmax(ay, by) < fmin(cy, dy) ||
              fmax(cy, dy) < fmin(ay, by)));
}

static box poly_env(const double *x, const double *y, int n)
{
    box pb = {x[0], y[0], x[0], y[0]};
    for (int i = 1; i < n; i++) {
        pb.w = fmin(pb.w, x[i]), pb.e = fmax(pb.e, x[i]);
        pb.s = fmin(pb.s, y[i]), pb.n = fmax(pb.n, y[i]);
    }
    return pb;
}

/* Does the closed polygon (x, y, n) meet the box (boundaries included)? */
static int poly_meets_box(const double *x, const double *y, int n, const box *b)
{
    box pb = poly_env(x, y, n);
    if (!boxes_meet(&pb, b))
        return 0;
    for (int i = 0; i < n; i++)
        if (in_box(b, x[i], y[i]))
            return 1;
    if (point_in_poly(x, y, n, b->w, b->s))
        return 1;
    double bx[5] = {b->w, b->e, b->e, b->w, b->w}, by[5] = {b->s, b->s, b->n, b->n, b->s};
    for (int i = 0, j = n - 1; i < n; j = i++)
        for (int k = 0; k < 4; k++)
            if (segs_meet(x[j], y[j], x[i], y[i], bx[k], by[k], bx[k + 1], by[k + 1]))
                return 1;
    return 0;
}

/* ---- selection ---- */

typedef int (*area_pred)(const double *x, const double *y, int n, void *ctx);

static void *ids_nomem(char **ids, int n)
{
    cc_mgrs_ids_free(ids, n);
    cc_error_set(CC_ERR_NOMEM, "tiles: out of memory");
    return NULL;
}

/* Every ESA tile whose footprint meets the area (env: the area's lon/lat
 * envelope within -180..180; pred: the exact test). A footprint reaching over
 * +-180 is also tested shifted by -+360 degrees. The table is sorted, so the
 * result is too. */
static cc_status select_tiles(const box *env, area_pred pred, void *ctx, char ***ids, int *nids)
{
    char **l = NULL;
    int n = 0, cap = 0;
    for (int i = 0; i < cc_s2_tiles_count; i++) {
        double x[4], y[4];
        tile_quad(&cc_s2_tiles[i], x, y);
        box tb = poly_env(x, y, 4);
        int hit = 0;
        for (int k = -1; k <= 1 && !hit; k++) {
            double sh = 360.0 * k;
            if (!(tb.w + sh <= env->e && tb.e + sh >= env->w && tb.s <= env->n && tb.n >= env->s))
                continue;
            double xs[4];
            for (int j = 0; j < 4; j++)
                xs[j] = x[j] + sh;
            hit = pred(xs, y, 4, ctx);
        }
        if (!hit)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            char **p = realloc(l, (size_t)cap * sizeof *p);
            if (!p)
                return ids_nomem(l, n), CC_ERR_NOMEM;
            l = p;
        }
        if (!(l[n] = strndup(cc_s2_tiles[i].id, 5)))
            return ids_nomem(l, n), CC_ERR_NOMEM;
        n++;
    }
    *ids = l, *nids = n;
    return CC_OK;
}

void cc_mgrs_ids_free(char **ids, int nids)
{
    for (int i = 0; i < nids; i++)
        free(ids[i]);
    free(ids);
}

typedef struct {
    box part[2];
    int nparts;
} bbox_ctx;

static int box_pred(const double *x, const double *y, int n, void *ctx)
{
    const bbox_ctx *b = ctx;
    for (int i = 0; i < b->nparts; i++)
        if (poly_meets_box(x, y, n, &b->part[i]))
            return 1;
    return 0;
}

static cc_status check_box(const char *what, double w, double s, double e, double n)
{
    if (!(isfinite(w) && isfinite(s) && isfinite(e) && isfinite(n)))
        return cc_error_set(CC_ERR_ARG, "%s: coordinates must be finite numbers", what);
    if (w < -180.0 || e > 180.0 || w > 180.0 || e < -180.0)
        return cc_error_set(CC_ERR_ARG, "%s: longitudes must be within -180..180 (got %g, %g)", what, w, e);
    if (s > n)
        return cc_error_set(CC_ERR_ARG, "%s: south %g > north %g", what, s, n);
    if (s < -90.0 || n > 90.0)
        return cc_error_set(CC_ERR_ARG, "%s: latitudes must be within -90..90 (got %g..%g)", what, s, n);
    return CC_OK;
}

cc_status cc_mgrs_tiles_bbox(double w, double s, double e, double n, char ***ids, int *nids)
{
    *ids = NULL, *nids = 0;
    cc_status st = check_box("bbox", w, s, e, n);
    if (st != CC_OK)
        return st;
    bbox_ctx b = {{{w, s, e, n}}, 1};
    box env = {w, s, e, n};
    if (w > e) { /* crosses the antimeridian (RFC 7946, 5.2) */
        b.part[0] = (box){w, s, 180.0, n};
        b.part[1] = (box){-180.0, s, e, n};
        b.nparts = 2;
        env = (box){-180.0, s, 180.0, n};
    }
    return select_tiles(&env, box_pred, &b, ids, nids);
}

/* ---- vector areas ---- */

typedef struct {
    OGRGeometryH area;
    box env;
} geom_ctx;

static int geom_pred(const double *x, const double *y, int n, void *ctx)
{
    geom_ctx *g = ctx;
    if (!poly_meets_box(x, y, n, &g->env))
        return 0;
    OGRGeometryH ring = OGR_G_CreateGeometry(wkbLinearRing), poly = OGR_G_CreateGeometry(wkbPolygon);
    for (int i = 0; i < n; i++)
        OGR_G_AddPoint_2D(ring, x[i], y[i]);
    OGR_G_AddPoint_2D(ring, x[0], y[0]);
    OGR_G_AddGeometryDirectly(poly, ring);
    int hit = OGR_G_Intersects(g->area, poly);
    OGR_G_DestroyGeometry(poly);
    return hit;
}

/* Adds the polygons of every layer of ds, in WGS 84 lon/lat, to `all`. */
static cc_status collect_polygons(GDALDatasetH ds, const char *path, OGRGeometryH all, int *ngeom)
{
    OGRSpatialReferenceH wgs = OSRNewSpatialReference(NULL);
    cc_status st = CC_OK;
    OSRImportFromEPSG(wgs, 4326);
    OSRSetAxisMappingStrategy(wgs, OAMS_TRADITIONAL_GIS_ORDER);
    for (int li = 0; li < GDALDatasetGetLayerCount(ds) && st == CC_OK; li++) {
        OGRLayerH lyr = GDALDatasetGetLayer(ds, li);
        OGRSpatialReferenceH srs = OGR_L_GetSpatialRef(lyr);
        OGRCoordinateTransformationH ct = NULL;
        if (srs && !OSRIsSame(srs, wgs) && !(ct = OCTNewCoordinateTransformation(srs, wgs))) {
            st = cc_error_set(CC_ERR_CRS, "%s: cannot transform layer %d to WGS 84 lon/lat", path, li);
            break;
        }
        OGR_L_ResetReading(lyr);
        OGRFeatureH f;
        while (st == CC_OK && (f = OGR_L_GetNextFeature(lyr)) != NULL) {
            OGRGeometryH g = OGR_F_GetGeometryRef(f);
            OGRwkbGeometryType t = g ? wkbFlatten(OGR_G_GetGeometryType(g)) : wkbUnknown;
            if (t == wkbPolygon || t == wkbMultiPolygon) {
                OGRGeometryH c = OGR_G_Clone(g);
                if (ct && OGR_G_Transform(c, ct) != OGRERR_NONE) {
                    OGR_G_DestroyGeometry(c);
                    st = cc_error_set(CC_ERR_CRS, "%s: cannot transform a polygon to WGS 84 lon/lat", path);
                } else {
                    OGR_G_AddGeometryDirectly(all, c);
                    (*ngeom)++;
                }
            }
            OGR_F_Destroy(f);
        }
        if (ct)
            OCTDestroyCoordinateTransformation(ct);
    }
    OSRDestroySpatialReference(wgs);
    return st;
}

cc_status cc_mgrs_tiles_geojson(const char *path, char ***ids, int *nids)
{
    cc_status st = CC_ERR_FORMAT;
    OGRGeometryH all = OGR_G_CreateGeometry(wkbGeometryCollection);
    *ids = NULL, *nids = 0;
    CPLErrorReset();
    GDALDatasetH ds = GDALOpenEx(path, GDAL_OF_VECTOR | GDAL_OF_READONLY, NULL, NULL, NULL);
    if (!ds) {
        const char *m = CPLGetLastErrorMsg();
        st = cc_error_set(CC_ERR_IO, "%s: cannot open as a vector file%s%s", path, m[0] ? ": " : "", m);
        goto out;
    }
    int ngeom = 0;
    if ((st = collect_polygons(ds, path, all, &ngeom)) != CC_OK)
        goto out;
    if (ngeom == 0) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: no polygon or multipolygon found", path);
        goto out;
    }
    OGREnvelope env;
    OGR_G_GetEnvelope(all, &env);
    if ((st = check_box(path, env.MinX, env.MinY, env.MaxX, env.MaxY)) != CC_OK)
        goto out;
    geom_ctx g = {all, {env.MinX, env.MinY, env.MaxX, env.MaxY}};
    st = select_tiles(&g.env, geom_pred, &g, ids, nids);
out:
    OGR_G_DestroyGeometry(all);
    if (ds)
        GDALClose(ds);
    return st;
}

/* ---- single tiles ---- */

cc_status cc_mgrs_tile_at(double lon, double lat, char id[8])
{
    cc_status st = check_box("point", lon, lat, lon, lat);
    if (st != CC_OK)
        return st;
    int z = cc_mgrs_zone(lon, lat);
    double e, n;
    cc_mgrs_utm_forward(z, lon, lat, &e, &n);
    char sq[8] = "";
    if (square_id(z, (int)floor(e / SQ), (int)floor(n / SQ), sq) == 0 && tile_find(sq)) {
        snprintf(id, 8, "%s", sq);
        return CC_OK;
    }
    /* the MGRS square is not an ESA tile (zone edges, polar caps): the ESA
     * tile containing the point whose centre is nearest */
    char **ids = NULL;
    int nids = 0;
    if ((st = cc_mgrs_tiles_bbox(lon, lat, lon, lat, &ids, &nids)) != CC_OK)
        return st;
    double best = INFINITY;
    for (int i = 0; i < nids; i++) {
        double x[4], y[4], cx = 0, cy = 0;
        tile_quad(tile_find(ids[i]), x, y);
        for (int k = 0; k < 4; k++)
            cx += x[k] / 4, cy += y[k] / 4;
        double dx = remainder(cx - lon, 360.0) * cos(lat * DEG), d = dx * dx + (cy - lat) * (cy - lat);
        if (d < best)
            best = d, snprintf(id, 8, "%s", ids[i]);
    }
    cc_mgrs_ids_free(ids, nids);
    if (!nids)
        return cc_error_set(CC_ERR_ARG, "point %g, %g: in no Sentinel-2 tile", lon, lat);
    return CC_OK;
}

cc_status cc_mgrs_tile_parse(const char *in, char out[8])
{
    char id[8];
    const char *p = in;
    if (p[0] == 'T' || p[0] == 't')
        p++;
    size_t len = strlen(p);
    if (len == 4 && isdigit((unsigned char)p[0])) { /* "2UMF"-style single-digit zone */
        id[0] = '0';
        for (int i = 0; i < 4; i++)
            id[i + 1] = (char)toupper((unsigned char)p[i]);
    } else if (len == 5) {
        for (int i = 0; i < 5; i++)
            id[i] = (char)toupper((unsigned char)p[i]);
    } else {
        return cc_error_set(CC_ERR_ARG, "'%s' is not a Sentinel-2 tile ID (like 32UMF)", in);
    }
    id[5] = 0;
    if (!tile_find(id))
        return cc_error_set(CC_ERR_ARG, "'%s' is not a tile of the Sentinel-2 grid (ESA's list of %d tiles)", in,
                            cc_s2_tiles_count);
    memcpy(out, id, 6);
    return CC_OK;
}

cc_status cc_mgrs_tile_footprint(const char *id, int *epsg, double *ulx, double *uly)
{
    char t[8];
    cc_status st = cc_mgrs_tile_parse(id, t);
    if (st != CC_OK)
        return st;
    const cc_s2_tile_row *r = tile_find(t);
    *epsg = (tile_south(r) ? 32700 : 32600) + tile_zone(r);
    *ulx = 20.0 * r->ulx;
    *uly = 20.0 * r->uly;
    return CC_OK;
}

int cc_mgrs_tile_count(void) { return cc_s2_tiles_count; }
