/* clearcube: the Sentinel-2 tiling grid (MGRS). See jobs/mgrs.h. */
#define _GNU_SOURCE /* strdup, strndup, scandir, M_PI */
#include "io/grid/mgrs.h"

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
#define NDENS 12 /* segments per footprint edge (about 9 km each) */
#define NPOLY (4 * NDENS)

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

/* ---- zones and bands ---- */

typedef struct {
    double w, s, e, n;
} box;

/* The lon/lat rectangles making up a zone (up to 4). */
static int zone_boxes(int z, box out[4])
{
    double w = -186.0 + 6.0 * z, e = w + 6.0;
    int nb = 0;
    out[nb++] = (box){w, -80.0, e, 56.0};
    if (z == 31)
        out[nb++] = (box){0.0, 56.0, 3.0, 64.0};
    else if (z == 32)
        out[nb++] = (box){3.0, 56.0, 12.0, 64.0};
    else
        out[nb++] = (box){w, 56.0, e, 64.0};
    out[nb++] = (box){w, 64.0, e, 72.0};
    switch (z) {
    case 31: out[nb++] = (box){0.0, 72.0, 9.0, 84.0}; break;
    case 33: out[nb++] = (box){9.0, 72.0, 21.0, 84.0}; break;
    case 35: out[nb++] = (box){21.0, 72.0, 33.0, 84.0}; break;
    case 37: out[nb++] = (box){33.0, 72.0, 42.0, 84.0}; break;
    case 32: case 34: case 36: break;
    default: out[nb++] = (box){w, 72.0, e, 84.0}; break;
    }
    return nb;
}

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

/* ---- geometry helpers (lon/lat plane) ---- */

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

/* Does the closed polygon (x, y, n) meet the box? */
static int poly_meets_box(const double *x, const double *y, int n, const box *b)
{
    box pb = {x[0], y[0], x[0], y[0]};
    for (int i = 1; i < n; i++) {
        pb.w = fmin(pb.w, x[i]), pb.e = fmax(pb.e, x[i]);
        pb.s = fmin(pb.s, y[i]), pb.n = fmax(pb.n, y[i]);
    }
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

/* A UTM rectangle of zone z as a densified lon/lat polygon (NPOLY vertices). */
static void utm_rect_poly(int z, double e0, double n0, double e1, double n1, double *x, double *y)
{
    int k = 0;
    for (int side = 0; side < 4; side++)
        for (int i = 0; i < NDENS; i++, k++) {
            double t = (double)i / NDENS, e, n;
            switch (side) {
            case 0: e = e0 + t * (e1 - e0), n = n0; break;  /* south, west->east */
            case 1: e = e1, n = n0 + t * (n1 - n0); break;  /* east, south->north */
            case 2: e = e1 - t * (e1 - e0), n = n1; break;  /* north, east->west */
            default: e = e0, n = n1 - t * (n1 - n0); break; /* west, north->south */
            }
            cc_mgrs_utm_inverse(z, e, n, &x[k], &y[k]);
        }
}

/* ---- squares and IDs ---- */

/* Square (col c, row r) of zone z: c = floor(E / 100 km), r = floor(N / 100 km)
 * with N signed (negative south). Its band is the band of its centre. */
static int square_band(int z, int c, int r)
{
    double lon, lat;
    cc_mgrs_utm_inverse(z, (c + 0.5) * SQ, (r + 0.5) * SQ, &lon, &lat);
    return band_index(lat);
}

static int square_id(int z, int c, int r, char id[8])
{
    if (c < 1 || c > 8)
        return -1;
    int ri = ((r % 20) + 20 + (z % 2 == 0 ? 5 : 0)) % 20;
    snprintf(id, 8, "%02d%c%c%c", z, bands[square_band(z, c, r)], col_sets[z % 3][c - 1], rows[ri]);
    return 0;
}

/* Footprint of square (c, r) in the zone's signed UTM coordinates. */
static void square_footprint(int c, int r, double *e0, double *n0, double *e1, double *n1)
{
    int south = r < 0;
    double fn = south ? 1e7 : 0.0; /* snap in the EPSG's false-northing frame */
    *e0 = floor(c * SQ / 60.0) * 60.0;
    *n1 = ceil(((r + 1) * SQ + fn) / 60.0) * 60.0 - fn;
    *e1 = *e0 + CC_MGRS_TILE_SIZE;
    *n0 = *n1 - CC_MGRS_TILE_SIZE;
}

/* Does square (c, r) of zone z belong to the zone's part `zb`? (Shrunk by
 * 1 m: a square that only touches the part, as zone 31V's east edge at
 * 3 E = 500 km, does not.) */
static int square_in_box(int z, int c, int r, const box *zb)
{
    double x[NPOLY], y[NPOLY];
    utm_rect_poly(z, c * SQ + 1.0, r * SQ + 1.0, (c + 1) * SQ - 1.0, (r + 1) * SQ - 1.0, x, y);
    return poly_meets_box(x, y, NPOLY, zb);
}

/* ---- enumeration ---- */

typedef int (*area_pred)(const double *x, const double *y, int n, void *ctx);

typedef struct {
    char **ids;
    int n, cap;
} idlist;

static cc_status idlist_add(idlist *l, const char *id)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 256;
        char **p = realloc(l->ids, (size_t)cap * sizeof *p);
        if (!p)
            return cc_error_set(CC_ERR_NOMEM, "tiles: out of memory");
        l->ids = p, l->cap = cap;
    }
    if (!(l->ids[l->n] = strdup(id)))
        return cc_error_set(CC_ERR_NOMEM, "tiles: out of memory");
    l->n++;
    return CC_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Tests a footprint polygon, shifted by 360 degrees when it straddles +-180. */
static int footprint_hits(double *x, double *y, area_pred pred, void *ctx)
{
    double lo = x[0], hi = x[0];
    for (int i = 1; i < NPOLY; i++)
        lo = fmin(lo, x[i]), hi = fmax(hi, x[i]);
    if (pred(x, y, NPOLY, ctx))
        return 1;
    double shift = hi > 180.0 ? -360.0 : lo < -180.0 ? 360.0 : 0.0;
    if (shift == 0.0)
        return 0;
    for (int i = 0; i < NPOLY; i++)
        x[i] += shift;
    return pred(x, y, NPOLY, ctx);
}

static cc_status enumerate(const box *env, area_pred pred, void *ctx, char ***ids, int *nids)
{
    cc_status st = CC_ERR_INTERNAL;
    idlist l = {0};
    /* a tile meeting the area has its square within ~156 km of it */
    const double mlat = 1.6;
    double amax = fmin(89.0, fmax(fabs(env->s), fabs(env->n)) + mlat);
    double mlon = fmin(360.0, mlat / cos(amax * DEG));
    box wide = {env->w - mlon, env->s - mlat, env->e + mlon, env->n + mlat};
    for (int z = 1; z <= 60; z++) {
        box zb[4];
        int nb = zone_boxes(z, zb);
        for (int bi = 0; bi < nb; bi++) {
            /* the zone part near the area (zone 1 and 60 also seen across +-180) */
            for (int wrap = -1; wrap <= 1; wrap++) {
                box b = zb[bi];
                b.w += 360.0 * wrap, b.e += 360.0 * wrap;
                box c = {fmax(b.w, wide.w), fmax(b.s, wide.s), fmin(b.e, wide.e), fmin(b.n, wide.n)};
                if (c.w > c.e || c.s > c.n)
                    continue;
                c.w -= 360.0 * wrap, c.e -= 360.0 * wrap; /* back to the zone's own longitudes */
                /* UTM extent of the clipped part */
                double emin = 1e30, emax = -1e30, nmin = 1e30, nmax = -1e30;
                for (int i = 0; i <= 16; i++)
                    for (int j = 0; j <= 16; j++) {
                        double e, n;
                        cc_mgrs_utm_forward(z, c.w + (c.e - c.w) * i / 16.0, c.s + (c.n - c.s) * j / 16.0, &e, &n);
                        emin = fmin(emin, e), emax = fmax(emax, e), nmin = fmin(nmin, n), nmax = fmax(nmax, n);
                    }
                int c0 = (int)floor(emin / SQ) - 1, c1 = (int)floor(emax / SQ) + 1;
                int r0 = (int)floor(nmin / SQ) - 1, r1 = (int)floor(nmax / SQ) + 1;
                if (c0 < 1)
                    c0 = 1;
                if (c1 > 8)
                    c1 = 8;
                for (int col = c0; col <= c1; col++)
                    for (int row = r0; row <= r1; row++) {
                        if (!square_in_box(z, col, row, &c))
                            continue;
                        double e0, n0, e1, n1, x[NPOLY], y[NPOLY];
                        square_footprint(col, row, &e0, &n0, &e1, &n1);
                        utm_rect_poly(z, e0, n0, e1, n1, x, y);
                        if (!footprint_hits(x, y, pred, ctx))
                            continue;
                        char id[8];
                        if (square_id(z, col, row, id) == 0 && (st = idlist_add(&l, id)) != CC_OK)
                            goto out;
                    }
            }
        }
    }
    if (l.n > 1) {
        qsort(l.ids, (size_t)l.n, sizeof *l.ids, cmp_str);
        int k = 1;
        for (int i = 1; i < l.n; i++) {
            if (strcmp(l.ids[i], l.ids[k - 1]) == 0)
                free(l.ids[i]);
            else
                l.ids[k++] = l.ids[i];
        }
        l.n = k;
    }
    *ids = l.ids, *nids = l.n;
    l.ids = NULL, l.n = 0;
    st = CC_OK;
out:
    cc_mgrs_ids_free(l.ids, l.n);
    return st;
}

void cc_mgrs_ids_free(char **ids, int nids)
{
    for (int i = 0; i < nids; i++)
        free(ids[i]);
    free(ids);
}

static int box_pred(const double *x, const double *y, int n, void *ctx) { return poly_meets_box(x, y, n, ctx); }

static cc_status check_box(const char *what, double w, double s, double e, double n)
{
    if (!(isfinite(w) && isfinite(s) && isfinite(e) && isfinite(n)))
        return cc_error_set(CC_ERR_ARG, "%s: coordinates must be finite numbers", what);
    if (w < -180.0 || e > 180.0 || w > 180.0 || e < -180.0)
        return cc_error_set(CC_ERR_ARG, "%s: longitudes must be within -180..180 (got %g, %g)", what, w, e);
    if (w > e)
        return cc_error_set(CC_ERR_ARG,
                            "%s: west %g > east %g: an area crossing the antimeridian must be split into two", what,
                            w, e);
    if (s > n)
        return cc_error_set(CC_ERR_ARG, "%s: south %g > north %g", what, s, n);
    if (s < -80.0 || n > 84.0)
        return cc_error_set(CC_ERR_ARG,
                            "%s: latitudes must be within -80..84 (the Sentinel-2 grid; got %g..%g)", what, s, n);
    return CC_OK;
}

cc_status cc_mgrs_tiles_bbox(double w, double s, double e, double n, char ***ids, int *nids)
{
    *ids = NULL, *nids = 0;
    cc_status st = check_box("bbox", w, s, e, n);
    if (st != CC_OK)
        return st;
    box b = {w, s, e, n};
    return enumerate(&b, box_pred, &b, ids, nids);
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

cc_status cc_mgrs_tiles_geojson(const char *path, char ***ids, int *nids)
{
    cc_status st = CC_ERR_FORMAT;
    GDALDatasetH ds = NULL;
    OGRSpatialReferenceH wgs = NULL;
    OGRGeometryH all = OGR_G_CreateGeometry(wkbGeometryCollection);
    *ids = NULL, *nids = 0;
    CPLErrorReset();
    ds = GDALOpenEx(path, GDAL_OF_VECTOR | GDAL_OF_READONLY, NULL, NULL, NULL);
    if (!ds) {
        const char *m = CPLGetLastErrorMsg();
        st = cc_error_set(CC_ERR_IO, "%s: cannot open as a vector file%s%s", path, m[0] ? ": " : "", m);
        goto out;
    }
    wgs = OSRNewSpatialReference(NULL);
    OSRImportFromEPSG(wgs, 4326);
    OSRSetAxisMappingStrategy(wgs, OAMS_TRADITIONAL_GIS_ORDER);
    int ngeom = 0;
    for (int li = 0; li < GDALDatasetGetLayerCount(ds); li++) {
        OGRLayerH lyr = GDALDatasetGetLayer(ds, li);
        OGRSpatialReferenceH srs = OGR_L_GetSpatialRef(lyr);
        OGRCoordinateTransformationH ct = NULL;
        if (srs && !OSRIsSame(srs, wgs)) {
            ct = OCTNewCoordinateTransformation(srs, wgs);
            if (!ct) {
                st = cc_error_set(CC_ERR_CRS, "%s: cannot transform layer %d to WGS 84 lon/lat", path, li);
                goto out;
            }
        }
        OGR_L_ResetReading(lyr);
        OGRFeatureH f;
        while ((f = OGR_L_GetNextFeature(lyr)) != NULL) {
            OGRGeometryH g = OGR_F_GetGeometryRef(f);
            OGRwkbGeometryType t = g ? wkbFlatten(OGR_G_GetGeometryType(g)) : wkbUnknown;
            if (t == wkbPolygon || t == wkbMultiPolygon) {
                OGRGeometryH c = OGR_G_Clone(g);
                if (ct && OGR_G_Transform(c, ct) != OGRERR_NONE) {
                    OGR_G_DestroyGeometry(c);
                    OGR_F_Destroy(f);
                    OCTDestroyCoordinateTransformation(ct);
                    st = cc_error_set(CC_ERR_CRS, "%s: cannot transform a polygon to WGS 84 lon/lat", path);
                    goto out;
                }
                OGR_G_AddGeometryDirectly(all, c);
                ngeom++;
            }
            OGR_F_Destroy(f);
        }
        if (ct)
            OCTDestroyCoordinateTransformation(ct);
    }
    if (ngeom == 0) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: no polygon or multipolygon found", path);
        goto out;
    }
    OGREnvelope env;
    OGR_G_GetEnvelope(all, &env);
    if ((st = check_box(path, env.MinX, env.MinY, env.MaxX, env.MaxY)) != CC_OK)
        goto out;
    if (env.MaxX - env.MinX > 180.0) {
        st = cc_error_set(CC_ERR_ARG,
                          "%s: the area spans %g degrees of longitude; if it crosses the antimeridian, split it "
                          "at 180 degrees",
                          path, env.MaxX - env.MinX);
        goto out;
    }
    geom_ctx g = {all, {env.MinX, env.MinY, env.MaxX, env.MaxY}};
    st = enumerate(&g.env, geom_pred, &g, ids, nids);
out:
    OGR_G_DestroyGeometry(all);
    if (wgs)
        OSRDestroySpatialReference(wgs);
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
    if (square_id(z, (int)floor(e / SQ), (int)floor(n / SQ), id) != 0)
        return cc_error_set(CC_ERR_INTERNAL, "point %g, %g: easting %g outside the grid", lon, lat, e);
    return CC_OK;
}

/* Zone, column and (signed) row of a tile ID; 0 if it names no tile. */
static int tile_decode(const char *id, int *zone, int *col, int *row)
{
    int z = (id[0] - '0') * 10 + (id[1] - '0');
    const char *bp = strchr(bands, id[2]), *cp = strchr(col_sets[z % 3], id[3]), *rp = strchr(rows, id[4]);
    if (z < 1 || z > 60 || !bp || !cp || !rp || !id[2] || !id[3] || !id[4])
        return 0;
    int c = (int)(cp - col_sets[z % 3]) + 1, bi = (int)(bp - bands);
    int rmod = (((int)(rp - rows) - (z % 2 == 0 ? 5 : 0)) % 20 + 20) % 20;
    for (int r = rmod - 100; r <= 100; r += 20) {
        if (square_band(z, c, r) != bi)
            continue;
        box zb[4];
        int nb = zone_boxes(z, zb);
        for (int k = 0; k < nb; k++) {
            box b = zb[k];
            if (square_in_box(z, c, r, &b)) {
                *zone = z, *col = c, *row = r;
                return 1;
            }
        }
    }
    return 0;
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
    int z, c, r;
    if (!isdigit((unsigned char)id[0]) || !isdigit((unsigned char)id[1]) || !tile_decode(id, &z, &c, &r))
        return cc_error_set(CC_ERR_ARG, "'%s' is not a tile of the Sentinel-2 grid", in);
    memcpy(out, id, 6);
    return CC_OK;
}

cc_status cc_mgrs_tile_footprint(const char *id, int *epsg, double *ulx, double *uly)
{
    char t[8];
    cc_status st = cc_mgrs_tile_parse(id, t);
    if (st != CC_OK)
        return st;
    int z, c, r;
    tile_decode(t, &z, &c, &r);
    double e0, n0, e1, n1;
    square_footprint(c, r, &e0, &n0, &e1, &n1);
    int south = r < 0;
    *epsg = (south ? 32700 : 32600) + z;
    *ulx = e0;
    *uly = n1 + (south ? 1e7 : 0.0);
    return CC_OK;
}
