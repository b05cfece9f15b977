/* io/netcdf: the NetCDF series reader on small files written here with
 * NetCDF-C: CF time units and date strings, y ascending, _Unsigned shorts
 * with scale and fill, the CRS from grid_mapping or a `crs` variable, and
 * the errors (wrong dimension order, no grid mapping, bad time units); and a
 * clearcube sensor cube read back through the same reader. */
#include <math.h>
#include <netcdf.h>
#include <stdio.h>
#include <string.h>

#include <cpl_conv.h>
#include <ogr_srs_api.h>

#include "core/date.h"
#include "core/error.h"
#include "io/cube.h"
#include "io/netcdf/ncseries.h"
#include "testutil.h"

enum { NT = 3, NY = 3, NX = 4 };

typedef struct {
    int strings;     /* times as strings                              */
    int wrong_order; /* B04(x, y, time)                               */
    int no_crs;      /* neither grid_mapping nor a crs variable       */
    int via_gm;      /* CRS in "mapping", named by grid_mapping       */
    const char *units;
} opts;

static char *utm31_wkt(void)
{
    OGRSpatialReferenceH s = OSRNewSpatialReference(NULL);
    char *w = NULL;
    OSRImportFromEPSG(s, 32631);
    OSRExportToWkt(s, &w);
    OSRDestroySpatialReference(s);
    return w;
}

static void write_file(const char *path, const opts *o)
{
    int nc, dt, dy, dx, vt, vy, vx, vb, vc;
    nc_create(path, NC_NETCDF4 | NC_CLOBBER, &nc);
    nc_def_dim(nc, "t", NT, &dt);
    nc_def_dim(nc, "y", NY, &dy);
    nc_def_dim(nc, "x", NX, &dx);
    if (o->strings)
        nc_def_var(nc, "t", NC_STRING, 1, &dt, &vt);
    else {
        nc_def_var(nc, "t", NC_INT, 1, &dt, &vt);
        const char *u = o->units ? o->units : "hours since 2020-01-01 00:00:00";
        nc_put_att_text(nc, vt, "units", strlen(u), u);
    }
    nc_def_var(nc, "y", NC_DOUBLE, 1, &dy, &vy);
    nc_def_var(nc, "x", NC_DOUBLE, 1, &dx, &vx);
    int dims[3] = {dt, dy, dx}, wrong[3] = {dx, dy, dt};
    nc_def_var(nc, "B04", NC_SHORT, 3, o->wrong_order ? wrong : dims, &vb);
    nc_put_att_text(nc, vb, "_Unsigned", 4, "true");
    const short fill = -1;
    nc_def_var_fill(nc, vb, 0, &fill);
    const double scale = 1e-4;
    nc_put_att_double(nc, vb, "scale_factor", NC_DOUBLE, 1, &scale);
    char *wkt = utm31_wkt();
    if (!o->no_crs) {
        const char *name = o->via_gm ? "mapping" : "crs";
        nc_def_var(nc, name, NC_CHAR, 0, NULL, &vc);
        nc_put_att_text(nc, vc, o->via_gm ? "crs_wkt" : "spatial_ref", strlen(wkt), wkt);
        if (o->via_gm)
            nc_put_att_text(nc, vb, "grid_mapping", 7, "mapping");
    }
    CPLFree(wkt);
    nc_enddef(nc);
    if (o->strings) {
        const char *ts[NT] = {"2020-01-01", "2020-01-02T06:00:00Z", "2020-01-02 07:00:00"};
        nc_put_var_string(nc, vt, ts);
    } else {
        const int h[NT] = {0, 30, 31}; /* 2020-01-01 00 h, 2020-01-02 06 h and 07 h */
        nc_put_var_int(nc, vt, h);
    }
    const double y[NY] = {5, 15, 25}, x[NX] = {100, 110, 120, 130}; /* y ascending */
    nc_put_var_double(nc, vy, y);
    nc_put_var_double(nc, vx, x);
    unsigned short v[NT * NY * NX];
    for (int t = 0; t < NT; t++)
        for (int r = 0; r < NY; r++)
            for (int c = 0; c < NX; c++)
                v[(t * NY + r) * NX + c] = (unsigned short)(40000 + t * 100 + r * 10 + c);
    v[5] = 65535; /* t 0, row 1, col 1: the fill value (-1 as a short) */
    nc_put_var(nc, vb, v);
    nc_close(nc);
}

static void test_good(const char *dir, int strings, int via_gm)
{
    char path[2100];
    snprintf(path, sizeof path, "%s/good-%d-%d.nc", dir, strings, via_gm);
    write_file(path, &(opts){.strings = strings, .via_gm = via_gm});
    cc_ncs *s = NULL;
    CHECK_OK(cc_ncs_open(path, &s));
    if (!s)
        return;
    CHECK(s->width == NX && s->height == NY && s->ntimes == NT && s->y_ascending);
    CHECK_NEAR(s->gt[0], 95, 1e-9);
    CHECK_NEAR(s->gt[1], 10, 1e-9);
    CHECK_NEAR(s->gt[3], 30, 1e-9);
    CHECK_NEAR(s->gt[5], -10, 1e-9);
    CHECK(s->wkt && strstr(s->wkt, "UTM zone 31N"));
    const long d0 = cc_date_to_days(2020, 1, 1);
    CHECK(s->day[0] == d0 && s->day[1] == d0 + 1 && s->day[2] == d0 + 1);
    CHECK_NEAR(s->epoch_s[2] - s->epoch_s[1], 3600, 1e-6);
    int v = cc_ncs_find(s, "b04");
    CHECK(v == 0);
    float out[NY * NX];
    CHECK_OK(cc_ncs_read(s, v, 0, out));
    /* output row 0 is the north row = the file's last row (y = 25) */
    CHECK_NEAR(out[0 * NX + 3], (40000 + 2 * 10 + 3) * 1e-4, 1e-6);
    CHECK_NEAR(out[2 * NX + 0], 40000 * 1e-4, 1e-6);
    CHECK(isnan(out[1 * NX + 1])); /* the fill value, read as unsigned 65535 */
    CHECK_OK(cc_ncs_read(s, v, 2, out));
    CHECK_NEAR(out[1 * NX + 1], (40000 + 200 + 10 + 1) * 1e-4, 1e-6);
    CHECK(cc_ncs_read(s, v, NT, out) == CC_ERR_ARG);
    cc_ncs_close(s);
}

static void expect_error(const char *dir, const char *name, const opts *o, cc_status want, const char *text)
{
    char path[2100];
    snprintf(path, sizeof path, "%s/%s.nc", dir, name);
    write_file(path, o);
    cc_ncs *s = NULL;
    cc_status st = cc_ncs_open(path, &s);
    CHECK(st == want && s == NULL);
    CHECK(strstr(cc_error_message(), path) && strstr(cc_error_message(), text));
    if (st != want || !strstr(cc_error_message(), text))
        fprintf(stderr, "  %s: got %s: %s\n", name, cc_status_name(st), cc_error_message());
    cc_ncs_close(s);
}

/* A sensor cube written by io/cube.c reads back through the same reader. */
static void test_cube_readback(const char *dir)
{
    char *wkt = utm31_wkt();
    enum { W = 3, H = 2 };
    float vals[W * H * CC_CL_NBANDS];
    uint8_t mask[W * H] = {1, 2, 3, 4, 5, 1};
    for (int i = 0; i < W * H * CC_CL_NBANDS; i++)
        vals[i] = 0.01f * (float)(i % 50);
    const long day = cc_date_to_days(2018, 6, 15);
    cc_cube_sensor_args a = {.dir = dir, .tile = "rb", .sensor = CC_SENSOR_S2, .width = W, .height = H,
                             .gt = {500000, 10, 0, 5600000, 0, -10}, .wkt = wkt, .ndates = 1, .days = &day,
                             .values = vals, .mask = mask};
    CHECK_OK(cc_cube_write_sensor(&a));
    char path[2100];
    cc_cube_sensor_path(path, sizeof path, dir, "rb", CC_SENSOR_S2);
    cc_ncs *s = NULL;
    CHECK_OK(cc_ncs_open(path, &s));
    if (s) {
        CHECK(s->ntimes == 1 && s->day[0] == day && !s->y_ascending && s->width == W && s->height == H);
        CHECK_NEAR(s->gt[0], 500000, 1e-6);
        CHECK_NEAR(s->gt[3], 5600000, 1e-6);
        float out[W * H];
        CHECK_OK(cc_ncs_read(s, cc_ncs_find(s, "B03"), 0, out));
        for (int p = 0; p < W * H; p++)
            CHECK_NEAR(out[p], vals[p * CC_CL_NBANDS + 1], 6e-5);
        CHECK_OK(cc_ncs_read(s, cc_ncs_find(s, "cloud_mask"), 0, out));
        for (int p = 0; p < W * H; p++)
            CHECK_NEAR(out[p], mask[p], 1e-6);
        cc_ncs_close(s);
    }
    CPLFree(wkt);
}

int main(void)
{
    const char *dir = cc_test_tmpdir("test_ncseries");
    test_good(dir, 0, 0);
    test_good(dir, 1, 1);
    expect_error(dir, "order", &(opts){.wrong_order = 1}, CC_ERR_FORMAT, "has dimensions (x, y, t); expected (t, y, x)");
    expect_error(dir, "nocrs", &(opts){.no_crs = 1}, CC_ERR_CRS, "no grid mapping");
    expect_error(dir, "units", &(opts){.units = "hours after lunch"}, CC_ERR_FORMAT, "not CF time units");
    expect_error(dir, "cal", &(opts){.units = "days since 2020-01-01 12:00:00 +02:00"}, CC_ERR_FORMAT,
                 "not CF time units");
    char missing[2100];
    snprintf(missing, sizeof missing, "%s/absent.nc", dir);
    cc_ncs *s = NULL;
    CHECK(cc_ncs_open(missing, &s) == CC_ERR_IO && strstr(cc_error_message(), "absent.nc"));
    test_cube_readback(dir);
    if (cc_test_failures)
        fprintf(stderr, "%d failure(s)\n", cc_test_failures);
    return cc_test_failures ? 1 : 0;
}
