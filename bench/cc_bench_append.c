/* Cube append and chunking benchmark (issue 14; docs/benchmarks.md "Cubes that
 * grow in place"). Never a test.
 *
 *   cc_bench_append DIR [SIZE [LAYERS [DATES]]]      (default 1024 12 365)
 *
 * 1. appends DATES daily dates, one cc_cube_write each, to a SIZE x SIZE cube
 *    of LAYERS uint16 layers (in place, io/cube_append.c), timing every
 *    append: prints the 1st, 10th, 100th, ... and the last, and the means of
 *    the first and last 10;
 * 2. the former copy-on-write append (CLEARCUBE_CUBE_APPEND=copy) of one date
 *    to copies of that cube holding 1, 10 and 30 dates, in the same run;
 * 3. chunk shapes for the daily write and the per-pixel time-series read: a
 *    one-layer SIZE x SIZE cube of DATES dates per shape (netCDF-C directly),
 *    timing the write of one more date in place, the series of one pixel and
 *    the series of a 64 x 64 block.
 * The data are a smooth field plus noise (reflectance-like, compressible as
 * real bands are, roughly). */
#define _GNU_SOURCE
#include <math.h>
#include <netcdf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <ogr_srs_api.h>

#include "core/date.h"
#include "core/error.h"
#include "io/cube.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void fill(uint16_t *d, int n, int layer, int day)
{
    uint32_t h = 2166136261u ^ (uint32_t)(layer * 7919 + day * 104729);
    for (int r = 0; r < n; r++)
        for (int c = 0; c < n; c++) {
            h = h * 1664525u + 1013904223u;
            double v = 1500 + 800 * sin(r * 0.013 + layer) * cos(c * 0.011 + 0.02 * day) + (double)(h >> 24) * 0.5;
            d[(size_t)r * n + c] = (uint16_t)v;
        }
}

static char *wkt_32632(void)
{
    OGRSpatialReferenceH s = OSRNewSpatialReference(NULL);
    char *w = NULL;
    if (OSRImportFromEPSG(s, 32632) != OGRERR_NONE || OSRExportToWkt(s, &w) != OGRERR_NONE)
        w = NULL;
    OSRDestroySpatialReference(s);
    return w;
}

static const char *lname[12] = {"B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12", "L11", "L12"};

static int append_date(const char *path, int n, int nl, uint16_t *buf, long day, const char *wkt)
{
    cc_cube_layer L[12];
    memset(L, 0, sizeof L);
    for (int l = 0; l < nl; l++) {
        fill(buf + (size_t)l * n * n, n, l, (int)day);
        L[l] = (cc_cube_layer){.name = lname[l], .units = "1", .scale_factor = 1e-4, .add_offset = -0.1,
                               .data = buf + (size_t)l * n * n};
    }
    int y, m, d;
    cc_date_from_days(day, &y, &m, &d);
    cc_cube_write_args a = {.path = path, .tile_id = "32TMR", .product = "bench", .wkt = wkt,
                            .gt = {580560, 10, 0, 5102120, 0, -10}, .width = n, .height = n, .year = y,
                            .month = m, .day = d, .nlayers = nl, .layers = L, .processor = "cc_bench_append"};
    if (cc_cube_write(&a) != CC_OK) {
        fprintf(stderr, "cc_bench_append: %s\n", cc_error_message());
        return -1;
    }
    return 0;
}

static int copy_file(const char *from, const char *to)
{
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", from, to);
    return system(cmd);
}

/* Part 3: one chunk shape. */
static int chunk_study(const char *dir, int n, int nd, const size_t chunk[3])
{
    char path[4096];
    snprintf(path, sizeof path, "%s/chunk_%zux%zux%zu.nc", dir, chunk[0], chunk[1], chunk[2]);
    unlink(path);
    int ncid, dims[3], v, tv, rc;
    uint16_t *buf = malloc((size_t)n * n * sizeof *buf);
    uint16_t *ser = malloc((size_t)nd * 64 * 64 * sizeof *ser);
    if (!buf || !ser)
        return -1;
    if ((rc = nc_create(path, NC_NETCDF4 | NC_CLOBBER, &ncid)) || nc_def_dim(ncid, "time", NC_UNLIMITED, &dims[0]) ||
        nc_def_dim(ncid, "y", (size_t)n, &dims[1]) || nc_def_dim(ncid, "x", (size_t)n, &dims[2]) ||
        nc_def_var(ncid, "time", NC_DOUBLE, 1, dims, &tv) || nc_def_var(ncid, "B04", NC_USHORT, 3, dims, &v) ||
        nc_def_var_chunking(ncid, v, NC_CHUNKED, chunk) || nc_def_var_deflate(ncid, v, 1, 1, 4) || nc_enddef(ncid)) {
        fprintf(stderr, "chunk study: netCDF error\n");
        return -1;
    }
    /* whole chunks of time at once where the shape has depth > 1 (the fastest way to build it) */
    size_t depth = chunk[0];
    uint16_t *blk = malloc(depth * (size_t)n * n * sizeof *blk);
    if (!blk)
        return -1;
    double tb = now_s();
    for (int t = 0; t < nd; t += (int)depth) {
        size_t k = (size_t)(nd - t) < depth ? (size_t)(nd - t) : depth;
        for (size_t j = 0; j < k; j++)
            fill(blk + j * (size_t)n * n, n, 2, t + (int)j);
        size_t st[3] = {(size_t)t, 0, 0}, ct[3] = {k, (size_t)n, (size_t)n};
        if (nc_put_vara_ushort(ncid, v, st, ct, blk))
            return -1;
        for (size_t j = 0; j < k; j++) {
            size_t ti = (size_t)t + j;
            double dv = (double)ti;
            nc_put_var1_double(ncid, tv, &ti, &dv);
        }
    }
    nc_close(ncid);
    double tbuild = now_s() - tb;
    free(blk);
    /* the daily write: one more date, file reopened (as a daily run does) */
    double t0 = now_s();
    if (nc_open(path, NC_WRITE, &ncid))
        return -1;
    nc_inq_varid(ncid, "B04", &v);
    nc_inq_varid(ncid, "time", &tv);
    fill(buf, n, 2, nd);
    size_t st[3] = {(size_t)nd, 0, 0}, ct[3] = {1, (size_t)n, (size_t)n}, ti = (size_t)nd;
    double dv = nd;
    nc_put_vara_ushort(ncid, v, st, ct, buf);
    nc_put_var1_double(ncid, tv, &ti, &dv);
    nc_close(ncid);
    double twrite = now_s() - t0;
    /* per-pixel series: one pixel, then a 64 x 64 block, all dates (file reopened: cold chunk cache) */
    t0 = now_s();
    nc_open(path, NC_NOWRITE, &ncid);
    nc_inq_varid(ncid, "B04", &v);
    size_t s1[3] = {0, (size_t)n / 3, (size_t)n / 3}, c1[3] = {(size_t)nd + 1, 1, 1};
    nc_get_vara_ushort(ncid, v, s1, c1, ser);
    nc_close(ncid);
    double tpix = now_s() - t0;
    t0 = now_s();
    nc_open(path, NC_NOWRITE, &ncid);
    nc_inq_varid(ncid, "B04", &v);
    size_t c2[3] = {(size_t)nd, 64, 64};
    nc_get_vara_ushort(ncid, v, s1, c2, ser);
    nc_close(ncid);
    double tblk = now_s() - t0;
    FILE *f = fopen(path, "rb");
    long sz = 0;
    if (f) {
        fseek(f, 0, SEEK_END);
        sz = ftell(f);
        fclose(f);
    }
    printf("chunks (%zu,%zu,%zu): build %d dates %.2f s; daily write of one %dx%d date %.3f s; "
           "series of 1 pixel %.3f s; of a 64x64 block %.3f s; %.1f MB\n",
           chunk[0], chunk[1], chunk[2], nd, tbuild, n, n, twrite, tpix, tblk, sz / 1e6);
    unlink(path);
    free(buf);
    free(ser);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: cc_bench_append DIR [SIZE [LAYERS [DATES]]]\n");
        return 2;
    }
    const char *dir = argv[1];
    int n = argc > 2 ? atoi(argv[2]) : 1024, nl = argc > 3 ? atoi(argv[3]) : 12, nd = argc > 4 ? atoi(argv[4]) : 365;
    if (n < 16 || nl < 1 || nl > 12 || nd < 31) {
        fprintf(stderr, "cc_bench_append: SIZE >= 16, LAYERS 1..12, DATES >= 31\n");
        return 2;
    }
    char path[4096], cpath[4200];
    snprintf(path, sizeof path, "%s/append.nc", dir);
    snprintf(cpath, sizeof cpath, "%s/copy.nc", dir);
    unlink(path);
    char *wkt = wkt_32632();
    uint16_t *buf = malloc((size_t)nl * n * n * sizeof *buf);
    double *t = calloc((size_t)nd, sizeof *t);
    if (!wkt || !buf || !t)
        return 1;
    long day0 = cc_date_to_days(2023, 1, 1);
    printf("cube %dx%d, %d layers (%.1f Mpx per date), %d daily appends in place\n", n, n, nl,
           (double)n * n * nl / 1e6, nd);
    for (int k = 0; k < nd; k++) {
        double t0 = now_s();
        if (append_date(path, n, nl, buf, day0 + k, wkt))
            return 1;
        t[k] = now_s() - t0;
        if (k == 0 || k == 9 || k == 99 || k == 199 || k == nd - 1)
            printf("  append %3d: %.3f s\n", k + 1, t[k]);
        if (k == 0 || k == 9 || k == 29) { /* part 2: the copy path on a cube of k+1 dates */
            copy_file(path, cpath);
            setenv("CLEARCUBE_CUBE_APPEND", "copy", 1);
            double c0 = now_s();
            if (append_date(cpath, n, nl, buf, day0 + nd + 10, wkt))
                return 1;
            printf("  former copy-on-write append to a cube of %d dates: %.3f s\n", k + 1, now_s() - c0);
            unsetenv("CLEARCUBE_CUBE_APPEND");
            unlink(cpath);
        }
    }
    double a = 0, b = 0;
    for (int k = 0; k < 10; k++)
        a += t[k] / 10, b += t[nd - 10 + k] / 10;
    printf("mean of appends 1-10: %.3f s; of appends %d-%d: %.3f s (ratio %.2f)\n", a, nd - 9, nd, b, b / a);
    FILE *f = fopen(path, "rb");
    if (f) {
        fseek(f, 0, SEEK_END);
        printf("cube size: %.1f MB\n", ftell(f) / 1e6);
        fclose(f);
    }
    unlink(path);
    /* part 3 */
    const size_t shapes[][3] = {{1, 512, 512}, {1, 256, 256}, {1, 128, 128}, {8, 256, 256}, {32, 64, 64}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        if (chunk_study(dir, n, nd, shapes[s]))
            return 1;
    free(buf);
    free(t);
    CPLFree(wkt);
    return 0;
}
