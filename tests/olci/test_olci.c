/* Sentinel-3 OLCI reader (io/s3/olci.h) on the real BEAM/SNAP subsets of
 * s3-olci-slstr-snap and on a native .SEN3 folder built from one of them at
 * test time (tests/olci/olci_fixture.py, python3-netcdf4).
 *
 * Checks: reflectance rho = pi L / (F0 cos SZA) of every pixel against an
 * independent netCDF4/numpy computation (including the tie-point SZA of the
 * ppetest files), the band mapping, fill pixels, plausible ranges, the
 * acquisition time and platform; geolocation warping: every target pixel of
 * an EPSG:4326 / UTM grid equals the source pixel nearest in lat/lon (where
 * that nearest pixel is a clear winner), NaN outside the swath, a 10 m grid
 * inside one 300 m pixel gets that pixel, a 1.5 km grid gets the average;
 * native SEN3 == SNAP file; and the bad-input cases. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <gdal.h>
#include <ogr_srs_api.h>

#include "core/alloc.h"
#include "io/s3/olci.h"
#include "testutil.h"

#define NB CC_CL_NBANDS
#define L1CSYN "S3A_OL_1_EFR____20170313T110342_20170313T110642_20170314T162839_0179_015_208_2520_LN1_O_NT_002"

static char fixture[4096];
static char wgs84[2048], utm21s[4096];

typedef struct {
    int w, h;
    double *lat, *lon;
    double *rho; /* [n][NB] */
} expect_t;

/* snprintf that must not truncate (paths and commands). */
#define FMT(buf, ...)                                                                              \
    do {                                                                                           \
        if (snprintf(buf, sizeof buf, __VA_ARGS__) >= (int)sizeof buf) {                           \
            fprintf(stderr, "path too long\n");                                                   \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static int run(const char *cmd)
{
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
    return rc;
}

/* Expected values from the independent Python computation. */
static int load_expect(const char *nc, int w, int h, expect_t *e)
{
    char cmd[8192];
    FMT(cmd, "/usr/bin/python3 '%s' expect '%s'", fixture, nc);
    FILE *p = popen(cmd, "r");
    if (!p)
        return 0;
    size_t n = (size_t)w * h;
    e->w = w;
    e->h = h;
    e->lat = calloc(n, sizeof(double));
    e->lon = calloc(n, sizeof(double));
    e->rho = calloc(n * NB, sizeof(double));
    int x, y;
    size_t got = 0;
    char line[1024];
    while (fgets(line, sizeof line, p)) {
        double v[2 + NB];
        char *s = line, *end;
        x = (int)strtol(s, &end, 10);
        s = end;
        y = (int)strtol(s, &end, 10);
        s = end;
        for (int k = 0; k < 2 + NB; k++) {
            v[k] = strtod(s, &end);
            s = end;
        }
        if (x < 0 || x >= w || y < 0 || y >= h)
            continue;
        size_t i = (size_t)y * w + x;
        e->lat[i] = v[0];
        e->lon[i] = v[1];
        for (int b = 0; b < NB; b++)
            e->rho[i * NB + b] = v[2 + b];
        got++;
    }
    int rc = pclose(p);
    return rc == 0 && got == n;
}

static void free_expect(expect_t *e)
{
    free(e->lat);
    free(e->lon);
    free(e->rho);
}

/* rho, lat/lon and fill of every pixel against Python. Returns valid count. */
static size_t check_swath_values(const char *nc, const cc_olci_swath *s, size_t want_fill)
{
    expect_t e;
    if (!load_expect(nc, s->width, s->height, &e)) {
        CHECK(!"python expectations");
        return 0;
    }
    size_t n = (size_t)s->width * s->height, bad = 0, fill = 0, valid = 0;
    double maxrel = 0;
    for (size_t i = 0; i < n; i++) {
        if (fabs(s->lat[i] - e.lat[i]) > 1e-6 || fabs(s->lon[i] - e.lon[i]) > 1e-6)
            bad++;
        for (int b = 0; b < NB; b++) {
            double got = s->rho[i * NB + b], want = e.rho[i * NB + b];
            if (isnan(want) || isnan(got)) {
                if (isnan(want) != isnan(got))
                    bad++;
                continue;
            }
            double rel = fabs(got - want) / fmax(fabs(want), 1e-6);
            maxrel = fmax(maxrel, rel);
            if (rel > 2e-6)
                bad++;
        }
        if (isnan(s->rho[i * NB + 2]))
            fill++;
        else
            valid++;
        /* mapping: B08 == B8A (both Oa17), no SWIR */
        CHECK(isnan(s->rho[i * NB + 8]) && isnan(s->rho[i * NB + 9]));
        if (!isnan(s->rho[i * NB + 6]))
            CHECK(s->rho[i * NB + 6] == s->rho[i * NB + 7]);
    }
    printf("%s: %dx%d, %zu valid, %zu fill, max relative rho error vs python %.2e\n", nc,
           s->width, s->height, valid, fill, maxrel);
    CHECK(bad == 0);
    CHECK(fill == want_fill);
    free_expect(&e);
    return valid;
}

static void check_ranges(const cc_olci_swath *s, double b04_lo, double b04_hi)
{
    size_t n = (size_t)s->width * s->height, cnt = 0;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        for (int b = 0; b < 8; b++) {
            float v = s->rho[i * NB + b];
            if (!isnan(v))
                CHECK(v > 0.0f && v < 1.2f);
        }
        if (!isnan(s->rho[i * NB + 2])) {
            sum += s->rho[i * NB + 2];
            cnt++;
        }
    }
    double mean = cnt ? sum / cnt : NAN;
    printf("  mean B04 %.4f\n", mean);
    CHECK(mean > b04_lo && mean < b04_hi);
}

/* A north-up grid; wkt must outlive it. */
static cc_grid make_grid(const char *wkt, double x0, double y0, double res, int w, int h)
{
    cc_grid g = {.width = w, .height = h, .wkt = wkt};
    g.gt[0] = x0;
    g.gt[1] = res;
    g.gt[3] = y0;
    g.gt[5] = -res;
    return g;
}

/* Grid pixel centre in lon/lat. */
static void centre_ll(const cc_grid *g, OGRCoordinateTransformationH ct, int c, int r, double *lon,
                      double *lat)
{
    double x, y;
    cc_grid_xy(g, c, r, &x, &y);
    if (ct)
        OCTTransform(ct, 1, &x, &y, NULL);
    *lon = x;
    *lat = y;
}

/* Nearest and second-nearest swath pixel to (lon, lat), in km. */
static size_t nearest(const cc_olci_swath *s, double lon, double lat, double *d1, double *d2)
{
    size_t n = (size_t)s->width * s->height, best = 0;
    double c = cos(lat * M_PI / 180);
    *d1 = *d2 = INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (isnan(s->lat[i]))
            continue;
        double dx = (s->lon[i] - lon) * c * 111.32, dy = (s->lat[i] - lat) * 111.32;
        double d = sqrt(dx * dx + dy * dy);
        if (d < *d1) {
            *d2 = *d1;
            *d1 = d;
            best = i;
        } else if (d < *d2) {
            *d2 = d;
        }
    }
    return best;
}

/* Pixel i is on the border of the swath: a 4-neighbour is outside the
 * array or has no geolocation. */
static int on_edge(const cc_olci_swath *s, size_t i)
{
    int x = (int)(i % s->width), y = (int)(i / s->width);
    int nx[4] = {x - 1, x + 1, x, x}, ny[4] = {y, y, y - 1, y + 1};
    for (int k = 0; k < 4; k++) {
        if (nx[k] < 0 || ny[k] < 0 || nx[k] >= s->width || ny[k] >= s->height)
            return 1;
        if (isnan(s->lat[(size_t)ny[k] * s->width + nx[k]]))
            return 1;
    }
    return 0;
}

/* Warps s onto g (nearest resampling expected: g finer than the swath) and
 * checks each target pixel against the source pixel nearest in lat/lon.
 * spacing_km: the swath's pixel spacing. */
static void check_geoloc(const char *label, const cc_olci_swath *s, const cc_grid *g,
                         OGRCoordinateTransformationH ct, double spacing_km)
{
    size_t np = cc_grid_npix(g);
    float *out = cc_malloc3(np, NB, sizeof(float));
    size_t nvalid = 0;
    CHECK_OK(cc_olci_warp(s, label, g, out, &nvalid));
    size_t clear = 0, clear_ok = 0, outside = 0, outside_nan = 0, inside_nan = 0, inside = 0;
    for (int r = 0; r < g->height; r++)
        for (int c = 0; c < g->width; c++) {
            double lon, lat, d1, d2;
            centre_ll(g, ct, c, r, &lon, &lat);
            size_t i = nearest(s, lon, lat, &d1, &d2);
            const float *o = out + ((size_t)r * g->width + c) * NB;
            if (d1 > 1.5 * spacing_km) {
                outside++;
                outside_nan += isnan(o[2]);
                continue;
            }
            /* GDAL does not extrapolate the geolocation beyond the outermost
             * pixel centres: the outer half pixel is not checked */
            int edge = on_edge(s, i);
            if (edge)
                continue;
            if (d1 < 0.4 * spacing_km) {
                inside++;
                inside_nan += isnan(o[2]) && !isnan(s->rho[i * NB + 2]);
                if (isnan(o[2]) && !isnan(s->rho[i * NB + 2]) && getenv("OLCI_DEBUG"))
                    fprintf(stderr, "hole at (%d,%d): nearest %zu,%zu d1 %.3f d2 %.3f\n", c, r,
                            i % s->width, i / s->width, d1, d2);
            }
            if (d1 < 0.7 * d2 && !isnan(s->rho[i * NB + 2])) {
                clear++;
                int same = 1;
                for (int b = 0; b < 8; b++)
                    same &= o[b] == s->rho[i * NB + b];
                clear_ok += same;
                if (!same && getenv("OLCI_DEBUG")) {
                    size_t n = (size_t)s->width * s->height, j;
                    for (j = 0; j < n; j++)
                        if (s->rho[j * NB + 2] == o[2])
                            break;
                    fprintf(stderr, "mismatch at (%d,%d): nearest %zu,%zu d1 %.3f d2 %.3f; got %zu,%zu d %.3f\n", c, r,
                            i % s->width, i / s->width, d1, d2, j % s->width, j / s->width,
                            j < n ? hypot((s->lon[j] - lon) * cos(lat * M_PI / 180) * 111.32, (s->lat[j] - lat) * 111.32) : -1.0);
                }
            }
        }
    printf("%s: %zu valid of %zu; clear-nearest %zu/%zu equal; outside swath %zu/%zu NaN; "
           "inside NaN %zu/%zu\n",
           label, nvalid, np, clear_ok, clear, outside_nan, outside, inside_nan, inside);
    CHECK(clear > 50);
    CHECK(clear_ok >= clear * 99 / 100);
    CHECK(outside > 50 && outside_nan == outside);
    CHECK(inside_nan == 0);
    for (size_t p = 0; p < np; p++)
        CHECK(isnan(out[p * NB + 8]) && isnan(out[p * NB + 9]));
    free(out);
}

static void test_geoloc_ppetest2(const cc_olci_swath *s)
{
    /* EPSG:4326 grid of 0.0006 deg (~60 m) around the swath, 25 % beyond it */
    double lo0 = 1e9, lo1 = -1e9, la0 = 1e9, la1 = -1e9;
    for (size_t i = 0; i < (size_t)s->width * s->height; i++) {
        lo0 = fmin(lo0, s->lon[i]);
        lo1 = fmax(lo1, s->lon[i]);
        la0 = fmin(la0, s->lat[i]);
        la1 = fmax(la1, s->lat[i]);
    }
    double mx = 0.25 * (lo1 - lo0), my = 0.25 * (la1 - la0), res = 0.0006;
    cc_grid g = make_grid(wgs84, lo0 - mx, la1 + my, res, (int)((lo1 - lo0 + 2 * mx) / res),
                          (int)((la1 - la0 + 2 * my) / res));
    check_geoloc("ppetest2 onto EPSG:4326", s, &g, NULL, 0.3);

    /* UTM 21S, 100 m */
    OGRSpatialReferenceH ll = OSRNewSpatialReference(NULL), utm = OSRNewSpatialReference(NULL);
    OSRSetWellKnownGeogCS(ll, "WGS84");
    OSRImportFromEPSG(utm, 32721);
    OSRSetAxisMappingStrategy(ll, OAMS_TRADITIONAL_GIS_ORDER);
    OSRSetAxisMappingStrategy(utm, OAMS_TRADITIONAL_GIS_ORDER);
    OGRCoordinateTransformationH to_utm = OCTNewCoordinateTransformation(ll, utm);
    OGRCoordinateTransformationH to_ll = OCTNewCoordinateTransformation(utm, ll);
    double cx = 0.5 * (lo0 + lo1), cy = 0.5 * (la0 + la1);
    OCTTransform(to_utm, 1, &cx, &cy, NULL);
    cc_grid gu = make_grid(utm21s, floor(cx / 100) * 100 - 8000, floor(cy / 100) * 100 + 8000, 100,
                           160, 160);
    check_geoloc("ppetest2 onto UTM 21S 100 m", s, &gu, to_ll, 0.3);

    /* 10 m grid (50 x 50 m) inside the source pixel (20, 20): every target
     * pixel gets that pixel's value */
    size_t i0 = 20 * (size_t)s->width + 20;
    double px = s->lon[i0], py = s->lat[i0];
    OCTTransform(to_utm, 1, &px, &py, NULL);
    cc_grid g10 = make_grid(utm21s, px - 25, py + 25, 10, 5, 5);
    float out10[25 * NB];
    CHECK_OK(cc_olci_warp(s, "ppetest2 10 m", &g10, out10, NULL));
    int same = 0;
    for (int p = 0; p < 25; p++) {
        int ok = 1;
        for (int b = 0; b < 8; b++)
            ok &= out10[p * NB + b] == s->rho[i0 * NB + b];
        same += ok;
    }
    printf("10 m grid inside one OLCI pixel: %d/25 pixels carry its value (B04 %.5f)\n", same,
           s->rho[i0 * NB + 2]);
    CHECK(same == 25);

    /* 1.5 km grid (5 x 5 OLCI pixels per cell): GDAL's average over the
     * cell's footprint in source pixel space (an axis-aligned box around the
     * cell's corners, so slightly larger than the tilted cell). Cells whose
     * corners are all inside the swath: the value lies within the range of
     * the source pixels in the cell grown by one OLCI pixel, and near the mean
     * of those whose centres fall inside. */
    enum { C = 1500, N = 8 };
    cc_grid g3 = make_grid(utm21s, floor(cx / C) * C - N / 2 * C, floor(cy / C) * C + N / 2 * C, C,
                           N, N);
    float out3[N * N * NB];
    CHECK_OK(cc_olci_warp(s, "ppetest2 1.5 km", &g3, out3, NULL));
    int checked = 0, ok_avg = 0;
    double worst = 0;
    for (int r = 0; r < N; r++)
        for (int c = 0; c < N; c++) {
            double x0 = g3.gt[0] + c * C, y0 = g3.gt[3] - r * C;
            int interior = 1;
            for (int k = 0; k < 4; k++) {
                double lon = x0 + (k & 1) * C, lat = y0 - (k >> 1) * C, d1, d2;
                OCTTransform(to_ll, 1, &lon, &lat, NULL);
                size_t i = nearest(s, lon, lat, &d1, &d2);
                interior &= d1 < 0.3 && !on_edge(s, i);
            }
            if (!interior)
                continue;
            double sum = 0, mn = INFINITY, mx2 = -INFINITY;
            int cnt = 0;
            for (size_t i = 0; i < (size_t)s->width * s->height; i++) {
                double x = s->lon[i], y = s->lat[i], v = s->rho[i * NB + 6];
                OCTTransform(to_utm, 1, &x, &y, NULL);
                if (x >= x0 - 300 && x < x0 + C + 300 && y <= y0 + 300 && y > y0 - C - 300) {
                    mn = fmin(mn, v);
                    mx2 = fmax(mx2, v);
                }
                if (x >= x0 && x < x0 + C && y <= y0 && y > y0 - C) {
                    sum += v;
                    cnt++;
                }
            }
            double v = out3[((size_t)r * N + c) * NB + 6], mean = sum / cnt;
            /* tolerance: 10 % of the local contrast plus 2 % of the mean */
            double rel = fabs(v - mean) / (0.1 * (mx2 - mn) + 0.02 * mean);
            checked++;
            worst = fmax(worst, rel);
            int ok = cnt >= 15 && v >= mn && v <= mx2 && rel <= 1.0;
            ok_avg += ok;
            if (!ok || getenv("OLCI_DEBUG"))
                fprintf(stderr, "1.5 km cell (%d,%d): %g, mean of %d source pixels inside %g, range "
                        "with a 1-pixel margin [%g, %g]\n", c, r, v, cnt, mean, mn, mx2);
        }
    printf("1.5 km grid (average): %d/%d interior cells within the source range and within "
           "0.1 (max - min) + 0.02 mean of the mean of the pixels inside (worst: %.2f of that)\n",
           ok_avg, checked, worst);
    CHECK(checked >= 4 && ok_avg == checked);

    OCTDestroyCoordinateTransformation(to_utm);
    OCTDestroyCoordinateTransformation(to_ll);
    OSRDestroySpatialReference(ll);
    OSRDestroySpatialReference(utm);
}

static void test_snap(const char *dir)
{
    char f[4096];
    cc_olci_swath s;
    cc_olci_info info;

    /* l1csyn: subsampled full scene, 82 fill pixels */
    FMT(f, "%s/" L1CSYN ".nc", dir);
    CHECK_OK(cc_olci_load(f, &s, &info));
    CHECK(s.width == 49 && s.height == 41);
    check_swath_values(f, &s, 82);
    check_ranges(&s, 0.05, 0.5);
    CHECK(info.day == 17238); /* 2017-03-13 */
    CHECK_NEAR(info.seconds, 11 * 3600 + 3 * 60 + 42.871103, 1e-6);
    CHECK(strcmp(info.platform, "S3A") == 0);
    /* 0.1 deg grid over part of the swath (its pixels are ~30 km apart), and
     * beyond its western edge */
    cc_grid g = make_grid(wgs84, -26.0, 27.0, 0.1, 100, 60);
    check_geoloc("l1csyn onto EPSG:4326", &s, &g, NULL, 30.0);
    cc_olci_swath_free(&s);

    FMT(f, "%s/ppetest.nc", dir);
    CHECK_OK(cc_olci_load(f, &s, &info));
    CHECK(s.width == 20 && s.height == 20);
    check_swath_values(f, &s, 0);
    check_ranges(&s, 0.02, 0.2);
    CHECK(info.day == 17539); /* 2018-01-08 */
    CHECK_NEAR(info.seconds, 12 * 3600 + 59 * 60 + 43.506412, 1e-6);
    CHECK(info.platform[0] == '\0');
    cc_olci_swath_free(&s);

    FMT(f, "%s/ppetest2.nc", dir);
    CHECK_OK(cc_olci_load(f, &s, &info));
    CHECK(s.width == 40 && s.height == 40);
    check_swath_values(f, &s, 0);
    check_ranges(&s, 0.02, 0.3);
    test_geoloc_ppetest2(&s);
    cc_olci_swath_free(&s);
}

/* Native layout built from the l1csyn file == the SNAP file itself. */
static void test_native(const char *dir, const char *tmp)
{
    char snap[4096], cmd[16384], sen3[4096];
    FMT(snap, "%s/" L1CSYN ".nc", dir);
    FMT(cmd, "/usr/bin/python3 '%s' sen3 '%s' '%s' 4 > /dev/null", fixture, snap, tmp);
    if (run(cmd) != 0) {
        CHECK(!"building the SEN3 fixture");
        return;
    }
    FMT(sen3, "%s/" L1CSYN ".SEN3", tmp);
    cc_olci_swath a, b;
    cc_olci_info ia, ib;
    CHECK_OK(cc_olci_load(snap, &a, &ia));
    CHECK_OK(cc_olci_load(sen3, &b, &ib));
    if (a.rho && b.rho) {
        CHECK(a.width == b.width && a.height == b.height);
        size_t n = (size_t)a.width * a.height, nan_mismatch = 0, geo_mismatch = 0;
        double maxrel = 0;
        for (size_t i = 0; i < n; i++) {
            geo_mismatch += a.lat[i] != b.lat[i] || a.lon[i] != b.lon[i];
            for (int k = 0; k < NB; k++) {
                float x = a.rho[i * NB + k], y = b.rho[i * NB + k];
                if (isnan(x) || isnan(y)) {
                    nan_mismatch += isnan(x) != isnan(y);
                    continue;
                }
                maxrel = fmax(maxrel, fabs(x - y) / x);
            }
        }
        printf("native SEN3 vs SNAP file: max relative rho difference %.2e (SZA from a 4x1 "
               "tie-point grid), %zu NaN mismatches, %zu geolocation mismatches\n",
               maxrel, nan_mismatch, geo_mismatch);
        CHECK(nan_mismatch == 0 && geo_mismatch == 0);
        CHECK(maxrel < 1e-3);
        CHECK(ib.day == ia.day && fabs(ib.seconds - ia.seconds) < 1e-6);
        CHECK(strcmp(ib.platform, "S3A") == 0);
        /* and after warping onto the same grid */
        cc_grid g = make_grid(wgs84, -20.0, 30.0, 0.1, 80, 80);
        size_t np = cc_grid_npix(&g);
        float *oa = cc_malloc3(np, NB, sizeof(float)), *ob = cc_malloc3(np, NB, sizeof(float));
        cc_olci_info ra, rb;
        CHECK_OK(cc_olci_read(snap, &g, oa, &ra));
        CHECK_OK(cc_olci_read(sen3, &g, ob, &rb));
        double mr = 0;
        size_t nm = 0;
        for (size_t i = 0; i < np * NB; i++) {
            if (isnan(oa[i]) || isnan(ob[i])) {
                nm += isnan(oa[i]) != isnan(ob[i]);
                continue;
            }
            mr = fmax(mr, fabs(oa[i] - ob[i]) / oa[i]);
        }
        printf("  warped onto a 0.1 deg grid: %zu / %zu valid, max relative difference %.2e, %zu "
               "NaN mismatches\n",
               ra.nvalid, np, mr, nm);
        CHECK(ra.nvalid == rb.nvalid && ra.nvalid > 1000);
        CHECK(mr < 1e-3 && nm == 0);
        free(oa);
        free(ob);
    }
    cc_olci_swath_free(&a);
    cc_olci_swath_free(&b);
}

static void expect_error(const char *path, const cc_grid *g, cc_status want, const char *needle)
{
    size_t np = cc_grid_npix(g);
    float *out = cc_malloc3(np, NB, sizeof(float));
    for (size_t i = 0; i < np * NB; i++)
        out[i] = 42.0f;
    cc_status st = cc_olci_read(path, g, out, NULL);
    const char *msg = cc_error_message();
    printf("bad input -> %s: %s\n", cc_status_name(st), msg);
    CHECK(st == want);
    CHECK(strstr(msg, needle) != NULL);
    CHECK(strchr(msg, '\n') == NULL);
    size_t untouched = 0;
    for (size_t i = 0; i < np * NB; i++)
        untouched += out[i] == 42.0f;
    CHECK(untouched == np * NB);
    free(out);
}

static void test_bad(const char *dir, const char *tmp)
{
    char cmd[16384], p[4096], src[4096];
    cc_grid g = make_grid(wgs84, -20.0, 30.0, 0.1, 40, 40);
    FMT(src, "%s/" L1CSYN ".SEN3", tmp);

    /* a SEN3 folder without Oa08_radiance.nc */
    FMT(p, "%s/no_oa08.SEN3", tmp);
    FMT(cmd, "cp -r '%s' '%s' && rm '%s/Oa08_radiance.nc'", src, p, p);
    if (run(cmd) == 0)
        expect_error(p, &g, CC_ERR_MISSING, "Oa08_radiance.nc");

    /* a SEN3 folder without instrument_data.nc (no solar flux) */
    FMT(p, "%s/no_instrument.SEN3", tmp);
    FMT(cmd, "cp -r '%s' '%s' && rm '%s/instrument_data.nc'", src, p, p);
    if (run(cmd) == 0)
        expect_error(p, &g, CC_ERR_MISSING,
                     "instrument_data.nc: file not found (it holds the solar flux)");

    /* a SNAP file without the solar_flux_band_N variables */
    FMT(p, "%s/noflux.nc", tmp);
    FMT(cmd, "/usr/bin/python3 '%s' strip '%s/ppetest.nc' '%s' solar_flux_band_", fixture, dir, p);
    if (run(cmd) == 0)
        expect_error(p, &g, CC_ERR_MISSING, "noflux.nc: no solar flux for Oa04");

    /* a SNAP file whose Oa06_radiance is 3-D (1, rows, columns): the same
     * number of values in the wrong rank is refused, not reinterpreted */
    FMT(p, "%s/rank3.nc", tmp);
    FMT(cmd, "/usr/bin/python3 '%s' rank '%s/ppetest.nc' '%s' Oa06_radiance", fixture, dir, p);
    CHECK(run(cmd) == 0);
    expect_error(p, &g, CC_ERR_FORMAT, "rank3.nc: variable Oa06_radiance has 3 dimension(s), expected 2");

        /* a SEN3 folder whose Oa04_radiance.nc is truncated */
    FMT(p, "%s/trunc_oa.SEN3", tmp);
    FMT(cmd,
             "cp -r '%s' '%s' && truncate -s 3000 '%s/Oa04_radiance.nc'", src, p, p);
    if (run(cmd) == 0)
        expect_error(p, &g, CC_ERR_FORMAT, "Oa04_radiance.nc");

    /* truncated SNAP files: classic 64-bit offset and NetCDF-4 */
    FMT(p, "%s/trunc_l1csyn.nc", tmp);
    FMT(cmd, "head -c 400000 '%s/" L1CSYN ".nc' > '%s'", dir, p);
    if (run(cmd) == 0)
        expect_error(p, &g, CC_ERR_FORMAT, "trunc_l1csyn.nc");
    FMT(p, "%s/trunc_ppetest.nc", tmp);
    FMT(cmd, "head -c 700000 '%s/ppetest.nc' > '%s'", dir, p);
    if (run(cmd) == 0)
        expect_error(p, &g, CC_ERR_FORMAT, "trunc_ppetest.nc");

    /* a file that does not exist */
    FMT(p, "%s/nothing_here.nc", tmp);
    expect_error(p, &g, CC_ERR_MISSING, "nothing_here.nc");

    /* a grid that does not overlap the swath (Río de la Plata file, a grid
     * over the Alps) */
    FMT(p, "%s/ppetest2.nc", dir);
    cc_grid alps = make_grid(wgs84, 7.0, 47.0, 0.01, 50, 50);
    expect_error(p, &alps, CC_ERR_NODATA, "ppetest2.nc");
}

int main(void)
{
    const char *shared = cc_test_shared_or_skip();
    const char *src = getenv("CLEARCUBE_SOURCE");
    char dir[4096];
    FMT(dir, "%s/datasets/s3-olci-slstr-snap", shared);
    if (access(dir, R_OK) != 0) {
        printf("SKIP: %s is absent\n", dir);
        return 77;
    }
    if (system("/usr/bin/python3 -c 'import netCDF4, numpy' 2>/dev/null") != 0) {
        printf("SKIP: /usr/bin/python3 with netCDF4 and numpy (python3-netcdf4) is absent\n");
        return 77;
    }
    FMT(fixture, "%s/tests/olci/olci_fixture.py", src ? src : ".");
    GDALAllRegister();
    OGRSpatialReferenceH sr = OSRNewSpatialReference(NULL);
    char *w = NULL;
    OSRImportFromEPSG(sr, 4326);
    OSRExportToWkt(sr, &w);
    FMT(wgs84, "%s", w);
    CPLFree(w);
    OSRImportFromEPSG(sr, 32721);
    OSRExportToWkt(sr, &w);
    FMT(utm21s, "%s", w);
    CPLFree(w);
    OSRDestroySpatialReference(sr);

    CHECK(cc_olci_band_for(0) == 4 && cc_olci_band_for(1) == 6 && cc_olci_band_for(2) == 8 &&
          cc_olci_band_for(3) == 11 && cc_olci_band_for(4) == 12 && cc_olci_band_for(5) == 16 &&
          cc_olci_band_for(6) == 17 && cc_olci_band_for(7) == 17 && cc_olci_band_for(8) == 0 &&
          cc_olci_band_for(9) == 0);

    const char *tmp = cc_test_tmpdir("olci");
    char tmpdir[2048];
    FMT(tmpdir, "%s", tmp);
    test_snap(dir);
    test_native(dir, tmpdir);
    test_bad(dir, tmpdir);
    TEST_RETURN();
}
