/* cc_cube_write / cc_cube_dates: create, append (later and earlier dates),
 * replace a date, reject mismatched grids with the original untouched, clean
 * stale temporaries; values, fill, attributes, chunking read back with
 * NetCDF-C. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cube_test_common.h"
#include "testutil.h"

#define W 300
#define H 200
#define NL 3

static char *wkt32632, *wkt32633;
static char path[4200];
static uint16_t *data[8][NL]; /* [seed][layer] */

static cc_cube_write_args args(int y, int m, int d, int seed, cc_cube_layer *L)
{
    ct_layers(L, NL, data[seed]);
    cc_cube_write_args a = {
        .path = path, .tile_id = "32TMR", .product = "test", .wkt = wkt32632,
        .gt = {CT_ORIGIN_X, CT_RES, 0, CT_ORIGIN_Y, 0, -CT_RES},
        .width = W, .height = H, .year = y, .month = m, .day = d, .nlayers = NL, .layers = L,
        .inputs = "S2A_MSIL2A_test.SAFE", .processor = "test_cube", .parameters = "seed",
    };
    return a;
}

static char *slurp(const char *p, size_t *n)
{
    FILE *f = fopen(p, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)len + 1);
    *n = b ? fread(b, 1, (size_t)len, f) : 0;
    fclose(f);
    return b;
}

/* Expected dates and seeds, checked slice by slice. */
static void check_cube(const int *ymd, const int *seeds, int n)
{
    int nd = 0;
    double days[16];
    uint64_t sums[16][CT_MAX_LAYERS];
    CHECK(ct_cube_sums(path, NL, 16, &nd, days, sums) == 0);
    CHECK(nd == n);
    for (int t = 0; t < n && t < nd; t++) {
        CHECK_NEAR(days[t], (double)cc_date_to_days(ymd[3 * t], ymd[3 * t + 1],
                                                           ymd[3 * t + 2]), 0);
        for (int l = 0; l < NL; l++)
            CHECK(sums[t][l] == ct_pattern_sum(l, seeds[t], W, H));
    }
    int nd2 = 0;
    double *d2 = NULL;
    CHECK_OK(cc_cube_dates(path, &nd2, &d2));
    CHECK(nd2 == n);
    for (int t = 0; t < n && t < nd2; t++)
        CHECK(d2[t] == days[t]);
    free(d2);
}

static void check_metadata(void)
{
    int ncid, v, tv, xv, yv, crs, shuffle, deflate, level, storage;
    size_t chunk[3], len;
    char buf[4096];
    double x[W], y[H], d;
    unsigned short fv;
    if (nc_open(path, NC_NOWRITE, &ncid) != NC_NOERR) {
        CHECK(!"cannot open the cube");
        return;
    }
    int fmt;
    CHECK(nc_inq_format(ncid, &fmt) == NC_NOERR && fmt == NC_FORMAT_NETCDF4);
    /* dims: time unlimited */
    int tdim, unl;
    CHECK(nc_inq_dimid(ncid, "time", &tdim) == NC_NOERR);
    CHECK(nc_inq_unlimdim(ncid, &unl) == NC_NOERR && unl == tdim);
    memset(buf, 0, sizeof buf);
    CHECK(nc_get_att_text(ncid, NC_GLOBAL, "Conventions", buf) == NC_NOERR);
    CHECK(strcmp(buf, "CF-1.8") == 0);
    const char *gatts[] = {"title", "institution", "source", "tile_id", "product", "history",
                           "inputs", "processor", "parameters", "date_created"};
    for (size_t i = 0; i < sizeof gatts / sizeof *gatts; i++)
        CHECK(nc_inq_attlen(ncid, NC_GLOBAL, gatts[i], &len) == NC_NOERR && len > 0);
    memset(buf, 0, sizeof buf);
    CHECK(nc_get_att_text(ncid, NC_GLOBAL, "source", buf) == NC_NOERR);
    CHECK(strncmp(buf, "clearcube ", 10) == 0);

    CHECK(nc_inq_varid(ncid, "time", &tv) == NC_NOERR);
    memset(buf, 0, sizeof buf);
    CHECK(nc_get_att_text(ncid, tv, "units", buf) == NC_NOERR);
    CHECK(strcmp(buf, "days since 1970-01-01 00:00:00") == 0);
    memset(buf, 0, sizeof buf);
    CHECK(nc_get_att_text(ncid, tv, "calendar", buf) == NC_NOERR);
    CHECK(strcmp(buf, "standard") == 0);

    CHECK(nc_inq_varid(ncid, "x", &xv) == NC_NOERR && nc_get_var_double(ncid, xv, x) == NC_NOERR);
    CHECK(nc_inq_varid(ncid, "y", &yv) == NC_NOERR && nc_get_var_double(ncid, yv, y) == NC_NOERR);
    CHECK(x[0] == 580565.0 && x[W - 1] == 580560.0 + (W - 0.5) * 10);
    CHECK(y[0] == 5102115.0 && y[H - 1] == 5102120.0 - (H - 0.5) * 10);
    memset(buf, 0, sizeof buf);
    CHECK(nc_get_att_text(ncid, xv, "standard_name", buf) == NC_NOERR);
    CHECK(strcmp(buf, "projection_x_coordinate") == 0);

    CHECK(nc_inq_varid(ncid, "spatial_ref", &crs) == NC_NOERR);
    memset(buf, 0, sizeof buf);
    CHECK(nc_get_att_text(ncid, crs, "grid_mapping_name", buf) == NC_NOERR);
    CHECK(strcmp(buf, "transverse_mercator") == 0);
    CHECK(nc_get_att_double(ncid, crs, "longitude_of_central_meridian", &d) == NC_NOERR && d == 9);
    CHECK(nc_get_att_double(ncid, crs, "scale_factor_at_central_meridian", &d) == NC_NOERR &&
          d == 0.9996);
    CHECK(nc_get_att_double(ncid, crs, "false_easting", &d) == NC_NOERR && d == 500000);
    CHECK(nc_get_att_double(ncid, crs, "false_northing", &d) == NC_NOERR && d == 0);
    CHECK(nc_get_att_double(ncid, crs, "latitude_of_projection_origin", &d) == NC_NOERR && d == 0);
    memset(buf, 0, sizeof buf);
    CHECK(nc_get_att_text(ncid, crs, "GeoTransform", buf) == NC_NOERR);
    CHECK(strcmp(buf, "580560 10 0 5102120 0 -10 ") == 0);
    CHECK(nc_inq_attlen(ncid, crs, "crs_wkt", &len) == NC_NOERR && len > 100);
    CHECK(nc_inq_attlen(ncid, crs, "spatial_ref", &len) == NC_NOERR && len > 100);

    CHECK(nc_inq_varid(ncid, "B03", &v) == NC_NOERR);
    nc_type t;
    CHECK(nc_inq_vartype(ncid, v, &t) == NC_NOERR && t == NC_USHORT);
    CHECK(nc_get_att_ushort(ncid, v, "_FillValue", &fv) == NC_NOERR && fv == 0);
    CHECK(nc_get_att_double(ncid, v, "scale_factor", &d) == NC_NOERR && d == 1e-4);
    CHECK(nc_get_att_double(ncid, v, "add_offset", &d) == NC_NOERR && d == -0.1);
    CHECK(nc_get_att_double(ncid, v, "wavelength", &d) == NC_NOERR && d == 559.8);
    memset(buf, 0, sizeof buf);
    CHECK(nc_get_att_text(ncid, v, "grid_mapping", buf) == NC_NOERR);
    CHECK(strcmp(buf, "spatial_ref") == 0);
    memset(buf, 0, sizeof buf);
    CHECK(nc_get_att_text(ncid, v, "standard_name", buf) == NC_NOERR);
    CHECK(nc_get_att_text(ncid, v, "units", buf) == NC_NOERR);
    CHECK(nc_inq_var_chunking(ncid, v, &storage, chunk) == NC_NOERR);
    CHECK(storage == NC_CHUNKED && chunk[0] == 1 && chunk[1] == H && chunk[2] == W);
    CHECK(nc_inq_var_deflate(ncid, v, &shuffle, &deflate, &level) == NC_NOERR);
    CHECK(shuffle == 1 && deflate == 1 && level == 4);
    /* a fill pixel and a valid one, slice 0 */
    size_t st0[3] = {0, 1, 31}, st1[3] = {0, 10, 12};
    unsigned short px = 1;
    CHECK(ct_dn(1, 1, 1, 31, W) == 0);
    CHECK(nc_get_var1_ushort(ncid, v, st0, &px) == NC_NOERR);
    CHECK(px == 0);
    CHECK(nc_get_var1_ushort(ncid, v, st1, &px) == NC_NOERR);
    CHECK(px == ct_dn(1, 1, 10, 12, W));
    nc_close(ncid);
}

/* A mismatching write must fail with CC_ERR_ARG naming the file and leave
 * the cube byte-identical and no temporary behind. */
static void expect_rejected(cc_cube_write_args *a, const char *what, const char *dir)
{
    size_t n0 = 0, n1 = 0;
    char *before = slurp(path, &n0);
    cc_status st = cc_cube_write(a);
    char *after = slurp(path, &n1);
    CHECK(st == CC_ERR_ARG);
    if (st != CC_ERR_ARG)
        fprintf(stderr, "  (%s) -> %s: %s\n", what, cc_status_name(st), cc_error_message());
    CHECK(strstr(cc_error_message(), path) != NULL);
    CHECK(strchr(cc_error_message(), '\n') == NULL);
    printf("rejected (%s): %s\n", what, cc_error_message());
    CHECK(before && after && n0 == n1 && memcmp(before, after, n0) == 0);
    CHECK(ct_count_temps(dir) == 0);
    free(before);
    free(after);
}

static void test_create_append(cc_cube_layer *L)
{
    /* create with one date, append later, then earlier: sorted */
    cc_cube_write_args a;
    a = args(2023, 7, 14, 2, L);
    CHECK_OK(cc_cube_write(&a));
    check_cube((int[]){2023, 7, 14}, (int[]){2}, 1);
    a = args(2023, 8, 1, 3, L);
    CHECK_OK(cc_cube_write(&a));
    a = args(2023, 6, 1, 1, L);
    CHECK_OK(cc_cube_write(&a));
    check_cube((int[]){2023, 6, 1, 2023, 7, 14, 2023, 8, 1}, (int[]){1, 2, 3}, 3);
    check_metadata();
}

static void test_replace_date(const char *dir, cc_cube_layer *L)
{
    /* rewriting an existing date replaces its slice */
    cc_cube_write_args a;
    a = args(2023, 7, 14, 4, L);
    CHECK_OK(cc_cube_write(&a));
    check_cube((int[]){2023, 6, 1, 2023, 7, 14, 2023, 8, 1}, (int[]){1, 4, 3}, 3);
    CHECK(ct_count_temps(dir) == 0);
}

static void test_layer_order(cc_cube_layer *L)
{
    /* layers given in another order are matched by name */
    cc_cube_write_args a;
    cc_cube_layer R[NL];
    a = args(2023, 9, 2, 5, L);
    R[0] = L[2];
    R[1] = L[0];
    R[2] = L[1];
    a.layers = R;
    CHECK_OK(cc_cube_write(&a));
    check_cube((int[]){2023, 6, 1, 2023, 7, 14, 2023, 8, 1, 2023, 9, 2},
               (int[]){1, 4, 3, 5}, 4);
}

static void test_mismatches(const char *dir, cc_cube_layer *L)
{
    /* mismatches: rejected, original untouched */
    cc_cube_write_args a;
    a = args(2023, 10, 1, 6, L);
    a.gt[0] += 10;
    expect_rejected(&a, "origin", dir);
    a = args(2023, 10, 1, 6, L);
    a.gt[1] = 20;
    a.gt[5] = -20;
    expect_rejected(&a, "resolution", dir);
    a = args(2023, 10, 1, 6, L);
    a.width = W - 1;
    expect_rejected(&a, "size", dir);
    a = args(2023, 10, 1, 6, L);
    a.wkt = wkt32633;
    expect_rejected(&a, "crs", dir);
    a = args(2023, 10, 1, 6, L);
    L[1].name = "B05";
    expect_rejected(&a, "layer names", dir);
    a = args(2023, 10, 1, 6, L);
    a.nlayers = NL - 1;
    expect_rejected(&a, "layer count", dir);
    a = args(2023, 10, 1, 6, L);
    a.tile_id = "33UUP";
    expect_rejected(&a, "tile", dir);
    a = args(2023, 10, 1, 6, L);
    a.product = "boa";
    expect_rejected(&a, "product", dir);
    a = args(2023, 10, 1, 6, L);
    L[0].add_offset = 0; /* pre-04.00 DN convention into a 04.00 cube */
    expect_rejected(&a, "add_offset", dir);
    check_cube((int[]){2023, 6, 1, 2023, 7, 14, 2023, 8, 1, 2023, 9, 2}, (int[]){1, 4, 3, 5}, 4);
}

static void test_equivalent_wkt(cc_cube_layer *L)
{
    /* a WKT spelled differently but equivalent is accepted */
    cc_cube_write_args a;
    OGRSpatialReferenceH s = OSRNewSpatialReference(NULL);
    char *w2 = NULL;
    OSRImportFromEPSG(s, 32632);
    const char *opts[] = {"FORMAT=WKT2_2019", NULL};
    CHECK(OSRExportToWktEx(s, &w2, opts) == OGRERR_NONE);
    a = args(2023, 9, 2, 5, L);
    a.wkt = w2;
    CHECK_OK(cc_cube_write(&a));
    CPLFree(w2);
    OSRDestroySpatialReference(s);
}

static void test_bad_arguments(const char *dir, cc_cube_layer *L)
{
    /* bad arguments */
    cc_cube_write_args a;
    a = args(2023, 2, 29, 6, L);
    CHECK(cc_cube_write(&a) == CC_ERR_ARG);
    a = args(2023, 10, 1, 6, L);
    L[2].data = NULL;
    CHECK(cc_cube_write(&a) == CC_ERR_ARG);
    a = args(2023, 10, 1, 6, L);
    a.wkt = "not a crs";
    CHECK(cc_cube_write(&a) == CC_ERR_CRS);
    char nodir[4300];
    snprintf(nodir, sizeof nodir, "%s/no/such/dir/c.nc", dir);
    a = args(2023, 10, 1, 6, L);
    a.path = nodir;
    CHECK(cc_cube_write(&a) != CC_OK);
    CHECK(strstr(cc_error_message(), nodir) != NULL);
    printf("missing dir: %s\n", cc_error_message());
    check_cube((int[]){2023, 6, 1, 2023, 7, 14, 2023, 8, 1, 2023, 9, 2}, (int[]){1, 4, 3, 5}, 4);
}

static void test_junk_file(const char *dir, cc_cube_layer *L)
{
    /* a non-NetCDF file at the path: format error, file untouched */
    cc_cube_write_args a;
    char junk[4300];
    snprintf(junk, sizeof junk, "%s/junk.nc", dir);
    FILE *f = fopen(junk, "wb");
    fputs("this is not netcdf\n", f);
    fclose(f);
    a = args(2023, 10, 1, 6, L);
    a.path = junk;
    cc_status st = cc_cube_write(&a);
    CHECK(st == CC_ERR_FORMAT || st == CC_ERR_IO);
    printf("junk: %s\n", cc_error_message());
    size_t n = 0;
    char *b = slurp(junk, &n);
    CHECK(b && n == 19 && memcmp(b, "this is not netcdf\n", 19) == 0);
    free(b);
    int nd;
    double *dd;
    CHECK(cc_cube_dates(junk, &nd, &dd) != CC_OK);
    CHECK(strstr(cc_error_message(), junk) != NULL);
    unlink(junk);
    CHECK(ct_count_temps(dir) == 0);
}

static void test_write_failure(const char *dir, cc_cube_layer *L)
{
    /* a write failing midway (file size limit) leaves the cube and no temporary */
    cc_cube_write_args a;
    size_t n0 = 0, n1 = 0;
    char *before = slurp(path, &n0);
    fflush(stdout);
    pid_t p = fork();
    if (p == 0) {
        struct rlimit rl = {256 * 1024, 256 * 1024};
        signal(SIGXFSZ, SIG_IGN);
        setrlimit(RLIMIT_FSIZE, &rl);
        a = args(2023, 11, 1, 7, L);
        cc_status st = cc_cube_write(&a);
        printf("file size limit: %s\n", cc_error_message());
        fflush(stdout);
        _exit(st == CC_OK ? 0 : 3);
    }
    int ws = 0;
    CHECK(waitpid(p, &ws, 0) == p && WIFEXITED(ws) && WEXITSTATUS(ws) == 3);
    char *after = slurp(path, &n1);
    CHECK(before && after && n0 == n1 && memcmp(before, after, n0) == 0);
    CHECK(ct_count_temps(dir) == 0);
    free(before);
    free(after);
}

static void test_stale_temporaries(const char *dir, cc_cube_layer *L)
{
    /* stale temporaries: a dead writer's is removed, a live one's kept */
    cc_cube_write_args a;
    fflush(stdout);
    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    waitpid(dead, NULL, 0);
    char stale[4300], live[4300];
    snprintf(stale, sizeof stale, "%s.tmp-%ld", path, (long)dead);
    snprintf(live, sizeof live, "%s.tmp-%ld", path, (long)getppid());
    FILE *f = fopen(stale, "wb");
    fputs("partial", f);
    fclose(f);
    f = fopen(live, "wb");
    fclose(f);
    a = args(2023, 10, 1, 6, L);
    CHECK_OK(cc_cube_write(&a));
    CHECK(access(stale, F_OK) != 0);
    CHECK(access(live, F_OK) == 0);
    unlink(live);
    check_cube((int[]){2023, 6, 1, 2023, 7, 14, 2023, 8, 1, 2023, 9, 2, 2023, 10, 1},
               (int[]){1, 4, 3, 5, 6}, 5);
    CHECK(ct_count_temps(dir) == 0);
}

int main(void)
{
    const char *dir0 = cc_test_tmpdir("cube");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", dir0);
    snprintf(path, sizeof path, "%s/32TMR_test.nc", dir);
    wkt32632 = ct_epsg_wkt(32632);
    wkt32633 = ct_epsg_wkt(32633);
    CHECK(wkt32632 && wkt32633);
    for (int s = 1; s < 8; s++)
        for (int l = 0; l < NL; l++)
            data[s][l] = ct_make_layer(l, s, W, H);
    cc_cube_layer L[NL];
    test_create_append(L);
    test_replace_date(dir, L);
    test_layer_order(L);
    test_mismatches(dir, L);
    test_equivalent_wkt(L);
    test_bad_arguments(dir, L);
    test_junk_file(dir, L);
    test_write_failure(dir, L);
    test_stale_temporaries(dir, L);

    for (int s = 1; s < 8; s++)
        for (int l = 0; l < NL; l++)
            free(data[s][l]);
    CPLFree(wkt32632);
    CPLFree(wkt32633);
    TEST_RETURN();
}
