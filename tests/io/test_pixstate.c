/* Per-pixel state files (io/pixstate.h): the chunks compressed on the
 * OpenMP threads and written whole (cc_pixstate_write_block) are
 *   1. read back bit for bit by the fast path (whole chunks), the generic
 *      path (rows that are not whole chunks: HDF5's own filters) and a plain
 *      NetCDF reader (nc_get_vara_float: zlib);
 *   2. the same bytes whatever the number of threads;
 *   3. a state written through NetCDF alone (as before libdeflate: zlib
 *      level 1, other chunk rows) is read by the fast and generic paths;
 *   4. a damaged chunk: CC_ERR_FORMAT naming the file, "corrupt?".
 * Edge chunks in both directions: 2100 columns (chunks of 2048) and 45 rows
 * (chunks of 16). */
#define _GNU_SOURCE
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netcdf.h>

#include "io/pixstate.h"
#include "testutil.h"

#define W 2100
#define H 45
#define NBV 3

static const cc_pixstate_var vars[2] = {{"level", "a 3-band variable", NBV}, {"day", "a 1-band variable", 1}};
static char dir[2048];

static const char *p(const char *name)
{
    static char buf[4][2200];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* Smooth fields with noise and NaNs: [NBV][H][W] then [H][W]. */
static float *make_data(void)
{
    float *d = malloc((size_t)(NBV + 1) * H * W * sizeof *d);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < (size_t)(NBV + 1) * H * W; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        d[i] = (x % 97 == 0) ? NAN : 0.1f + 1e-4f * (float)(i % W) + 1e-6f * (float)(x % 1000);
    }
    return d;
}

static cc_pixstate_args args(const char *path, int block_rows)
{
    static const char wkt[] = "LOCAL_CS[\"test\"]";
    cc_pixstate_args a = {.path = path, .kind = "test-state 1", .tile_id = "T", .wkt = wkt, .gt = {0, 10, 0, 0, 0, -10},
                          .width = W, .height = H, .day = 18000, .params_id = "p", .nvars = 2, .vars = vars,
                          .block_rows = block_rows};
    return a;
}

/* Written by column blocks of the chunk width and row blocks of R. */
static void write_state(const char *path, const float *d, int R)
{
    cc_pixstate_args a = args(path, R);
    cc_pixstate *s = NULL;
    CHECK_OK(cc_pixstate_create(&a, &s));
    if (!s)
        return;
    const int cw = cc_pixstate_chunk_cols(s);
    CHECK(cw == 2048);
    float *blk = malloc((size_t)(NBV + 1) * R * cw * sizeof *blk);
    for (int y0 = 0; y0 < H; y0 += R)
        for (int x0 = 0; x0 < W; x0 += cw) {
            int nr = y0 + R <= H ? R : H - y0, nc = x0 + cw <= W ? cw : W - x0;
            const float *planes[2] = {blk, blk + (size_t)NBV * nr * nc};
            for (int b = 0; b <= NBV; b++)
                for (int r = 0; r < nr; r++)
                    memcpy(blk + ((size_t)b * nr + r) * nc, d + ((size_t)b * H + y0 + r) * W + x0, (size_t)nc * sizeof *d);
            CHECK_OK(cc_pixstate_write_block(s, y0, nr, x0, nc, planes));
        }
    free(blk);
    CHECK_OK(cc_pixstate_commit(s));
}

/* Reads by blocks of R rows x cw columns into [NBV+1][H][W]; 0 on success. */
static int read_state(const char *path, int R, int cw, float *d)
{
    cc_pixstate *s = NULL;
    cc_pixstate_info info;
    if (cc_pixstate_open(path, 2, vars, &s, &info) != CC_OK)
        return -1;
    float *blk = malloc((size_t)(NBV + 1) * R * cw * sizeof *blk);
    int rc = 0;
    for (int y0 = 0; !rc && y0 < H; y0 += R)
        for (int x0 = 0; !rc && x0 < W; x0 += cw) {
            int nr = y0 + R <= H ? R : H - y0, nc = x0 + cw <= W ? cw : W - x0;
            float *planes[2] = {blk, blk + (size_t)NBV * nr * nc};
            if (cc_pixstate_read_block(s, y0, nr, x0, nc, planes) != CC_OK) {
                rc = -1;
                break;
            }
            for (int b = 0; b <= NBV; b++)
                for (int r = 0; r < nr; r++)
                    memcpy(d + ((size_t)b * H + y0 + r) * W + x0, blk + ((size_t)b * nr + r) * nc, (size_t)nc * sizeof *d);
        }
    free(blk);
    cc_pixstate_close(s);
    return rc;
}

static int same(const float *a, const float *b)
{
    return !memcmp(a, b, (size_t)(NBV + 1) * H * W * sizeof *a);
}

static int same_file(const char *a, const char *b)
{
    char cmd[5000];
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", a, b);
    return system(cmd) == 0;
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s", cc_test_tmpdir("pixstate"));
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'/*", dir);
    CHECK(system(cmd) == 0);
    float *d = make_data(), *r = malloc((size_t)(NBV + 1) * H * W * sizeof *r);

    /* 1. fast, generic and NetCDF readers */
    write_state(p("a.nc"), d, 16);
    memset(r, 0, (size_t)(NBV + 1) * H * W * sizeof *r);
    CHECK(read_state(p("a.nc"), 16, 2048, r) == 0 && same(d, r)); /* whole chunks */
    memset(r, 0, (size_t)(NBV + 1) * H * W * sizeof *r);
    CHECK(read_state(p("a.nc"), 7, 1000, r) == 0 && same(d, r)); /* not whole chunks: HDF5's filters */
    int ncid, v;
    CHECK(nc_open(p("a.nc"), NC_NOWRITE, &ncid) == NC_NOERR);
    CHECK(!nc_inq_varid(ncid, "level", &v) && !nc_get_var_float(ncid, v, r));
    CHECK(!nc_inq_varid(ncid, "day", &v) && !nc_get_var_float(ncid, v, r + (size_t)NBV * H * W));
    int shuffle = 0, deflate = 0, level = 0;
    CHECK(!nc_inq_var_deflate(ncid, v, &shuffle, &deflate, &level) && shuffle && deflate);
    nc_close(ncid);
    CHECK(same(d, r));

    /* 2. the same bytes on 1 and 2 threads */
    omp_set_num_threads(1);
    write_state(p("t1.nc"), d, 16);
    omp_set_num_threads(2);
    write_state(p("t2.nc"), d, 16);
    CHECK(same_file(p("t1.nc"), p("t2.nc")));

    /* 3. a state written through NetCDF alone (zlib level 1, chunks of 9 rows) */
    int dims[3], vid[2];
    CHECK(nc_create(p("old.nc"), NC_NETCDF4 | NC_CLOBBER, &ncid) == NC_NOERR);
    CHECK(!nc_def_dim(ncid, "band", NBV, &dims[0]) && !nc_def_dim(ncid, "y", H, &dims[1]) &&
          !nc_def_dim(ncid, "x", W, &dims[2]));
    int yv, xv, crs;
    CHECK(!nc_def_var(ncid, "y", NC_DOUBLE, 1, &dims[1], &yv) && !nc_def_var(ncid, "x", NC_DOUBLE, 1, &dims[2], &xv) &&
          !nc_def_var(ncid, "spatial_ref", NC_INT, 0, NULL, &crs));
    CHECK(!nc_put_att_text(ncid, crs, "crs_wkt", 16, "LOCAL_CS[\"test\"]") &&
          !nc_put_att_text(ncid, crs, "GeoTransform", 13, "0 10 0 0 0 -10"));
    int day = 18000;
    CHECK(!nc_put_att_int(ncid, NC_GLOBAL, "valid_after_day", NC_INT, 1, &day));
    size_t ch3[3] = {1, 9, 2048};
    CHECK(!nc_def_var(ncid, "level", NC_FLOAT, 3, dims, &vid[0]) && !nc_def_var(ncid, "day", NC_FLOAT, 2, dims + 1, &vid[1]));
    for (int i = 0; i < 2; i++)
        CHECK(!nc_def_var_chunking(ncid, vid[i], NC_CHUNKED, i ? ch3 + 1 : ch3) && !nc_def_var_deflate(ncid, vid[i], 1, 1, 1));
    CHECK(!nc_enddef(ncid) && !nc_put_var_float(ncid, vid[0], d) && !nc_put_var_float(ncid, vid[1], d + (size_t)NBV * H * W));
    CHECK(nc_close(ncid) == NC_NOERR);
    memset(r, 0, (size_t)(NBV + 1) * H * W * sizeof *r);
    CHECK(read_state(p("old.nc"), 9, 2048, r) == 0 && same(d, r));
    memset(r, 0, (size_t)(NBV + 1) * H * W * sizeof *r);
    CHECK(read_state(p("old.nc"), 16, 2048, r) == 0 && same(d, r));

    /* 4. a damaged chunk: the middle of the file overwritten */
    snprintf(cmd, sizeof cmd,
             "cp '%s' '%s' && n=$(stat -c %%s '%s') && printf 'XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX' | "
             "dd of='%s' bs=1 seek=$((n / 2)) conv=notrunc status=none",
             p("a.nc"), p("bad.nc"), p("bad.nc"), p("bad.nc"));
    CHECK(system(cmd) == 0);
    CHECK(read_state(p("bad.nc"), 16, 2048, r) != 0);
    printf("damaged: %s\n", cc_error_message());
    CHECK(strstr(cc_error_message(), "bad.nc") && strstr(cc_error_message(), "corrupt?"));
    free(d);
    free(r);
    TEST_RETURN();
}
