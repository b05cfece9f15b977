/* The Cloudless product for one tile and day (pipeline/cloudless/cloudless_product.h)
 * on hand-made sensor cubes: evidence layers, the zero-correction model giving
 * back linear interpolation, output independent of the block size, appending
 * days, and every bad-input case with nothing written. */
#include <math.h>
#include <netcdf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/date.h"
#include "io/cube.h"
#include "pipeline/cloudless/cloudless.h"
#include "pipeline/cloudless/cloudless_product.h"
#include "pipeline/atmos/cloudmask.h"
#include "testutil.h"

enum { W = 12, H = 10 };
static const char *WKT = "PROJCS[\"WGS 84 / UTM zone 33N\",GEOGCS[\"WGS 84\",DATUM[\"WGS_1984\",SPHEROID[\"WGS 84\",6378137,298.257223563]],PRIMEM[\"Greenwich\",0],UNIT[\"degree\",0.0174532925199433]],PROJECTION[\"Transverse_Mercator\"],PARAMETER[\"latitude_of_origin\",0],PARAMETER[\"central_meridian\",15],PARAMETER[\"scale_factor\",0.9996],PARAMETER[\"false_easting\",500000],PARAMETER[\"false_northing\",0],UNIT[\"metre\",1],AUTHORITY[\"EPSG\",\"32633\"]]";
static const double GT[6] = {500000, 10, 0, 5000000, 0, -10};

/* S2 truth: a linear trend in time per band, different per pixel. */
static float truth(int b, int p, long day) { return 0.05f + 0.01f * (float)b + 0.0005f * (float)p + 0.002f * (float)(day % 100); }

/* One date of one sensor's cube, as ingest writes it (cc_cube_write_sensor). */
static void append(const char *dir, const char *tile, cc_sensor sensor, long day, const double *gt, const float *r,
                   const uint8_t *m)
{
    cc_cube_sensor_args a = {.dir = dir, .tile = tile, .sensor = sensor, .width = W, .height = H, .wkt = WKT,
                             .ndates = 1, .days = &day, .values = r, .mask = m, .inputs = "test"};
    memcpy(a.gt, gt, sizeof a.gt);
    CHECK_OK(cc_cube_write_sensor(&a));
}

static void write_s2(const char *dir, const char *tile, long day, int cloudy_from, const double *gt)
{
    size_t n = (size_t)W * H;
    float *r = malloc(n * CC_CL_NBANDS * sizeof *r);
    uint8_t *m = malloc(n);
    for (size_t p = 0; p < n; p++) {
        for (int b = 0; b < CC_CL_NBANDS; b++)
            r[p * CC_CL_NBANDS + (size_t)b] = truth(b, (int)p, day);
        m[p] = (int)p >= cloudy_from ? CC_CM_CLOUD : CC_CM_CLEAR;
        if ((int)p >= cloudy_from)
            for (int b = 0; b < CC_CL_NBANDS; b++)
                r[p * CC_CL_NBANDS + (size_t)b] = 0.6f; /* bright cloud, not an observation */
    }
    append(dir, tile, CC_SENSOR_S2, day, gt, r, m);
    free(r);
    free(m);
}

static void write_s1(const char *dir, const char *tile, long day)
{
    size_t n = (size_t)W * H;
    float *r = malloc(n * 2 * sizeof *r);
    for (size_t p = 0; p < n; p++)
        r[2 * p] = -10.0f, r[2 * p + 1] = -17.5f;
    append(dir, tile, CC_SENSOR_S1, day, GT, r, NULL);
    free(r);
}

static uint16_t *read_layer(const char *path, const char *name, size_t t)
{
    int nc, v;
    uint16_t *buf = calloc((size_t)W * H, sizeof *buf);
    size_t start[3] = {t, 0, 0}, count[3] = {1, H, W};
    if (nc_open(path, NC_NOWRITE, &nc) != NC_NOERR) {
        CHECK(!"open output");
        return buf;
    }
    CHECK(nc_inq_varid(nc, name, &v) == NC_NOERR);
    CHECK(nc_get_vara_ushort(nc, v, start, count, buf) == NC_NOERR);
    nc_close(nc);
    return buf;
}

static int file_equal(const char *a, const char *b)
{
    /* compare the layers, not the bytes (history carries the write time) */
    static const char *names[] = {"B02", "B04", "B12", "days_since_s2", "sensors"};
    int eq = 1;
    for (int k = 0; k < 5; k++) {
        uint16_t *x = read_layer(a, names[k], 0), *y = read_layer(b, names[k], 0);
        eq &= memcmp(x, y, (size_t)W * H * sizeof *x) == 0;
        free(x);
        free(y);
    }
    return eq;
}

int main(void)
{
    const char *tmp = cc_test_tmpdir("cloudless_product");
    char dir[2300], model[2300], out[2300], out2[2300], bad[2300];
    snprintf(dir, sizeof dir, "%s/cubes", tmp);
    snprintf(model, sizeof model, "%s/zero.h5", tmp);
    snprintf(out, sizeof out, "%s/out.nc", tmp);
    snprintf(out2, sizeof out2, "%s/out-rows1.nc", tmp);
    char cmd[5000];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    CHECK(system(cmd) == 0);

    /* a model with zero correction: prediction = the linear-interpolation prior */
    cc_cl_arch arch;
    cc_cl_arch_init(&arch);
    cc_cl_model *m = NULL;
    CHECK_OK(cc_cl_model_build(&arch, &m));
    CHECK_OK(cc_cl_model_save(m, model));
    cc_cl_model_free(m);

    long d0 = cc_date_to_days(2020, 6, 1);
    /* S2 on d0 (clear), d0+5 (cloudy from pixel 60 on), d0+10 (clear); S1 on d0+3 */
    write_s2(dir, "33TUL", d0, W * H, GT);
    write_s2(dir, "33TUL", d0 + 5, 60, GT);
    write_s2(dir, "33TUL", d0 + 10, W * H, GT);
    write_s1(dir, "33TUL", d0 + 3);

    cc_cloudless_args a = {.cube_dir = dir, .tile = "33TUL", .day = d0 + 5, .model_path = model, .out_path = out};
    cc_cloudless_stats st;
    CHECK_OK(cc_cloudless_run(&a, &st));
    CHECK(st.width == W && st.height == H);
    CHECK(st.ndates[CC_SENSOR_S2] == 3 && st.ndates[CC_SENSOR_S1] == 1 && st.ndates[CC_SENSOR_LANDSAT] == 0);
    CHECK_NEAR(st.filled_fraction, 1.0, 0);

    uint16_t *b04 = read_layer(out, "B04", 0), *ds = read_layer(out, "days_since_s2", 0),
             *sens = read_layer(out, "sensors", 0);
    for (int p = 0; p < W * H; p++) {
        /* clear pixels: the observation; cloudy: linear between d0 and d0+10 = the trend */
        double want = truth(2, p, d0 + 5);
        CHECK_NEAR((b04[p] * 1e-4 - 0.1), want, 1.5e-4);
        /* days since the last clear S2: 0 where clear at d0+5, 5 where cloudy (stored + 1) */
        CHECK(ds[p] == (p < 60 ? 1 : 6));
        /* S2 and S1 contributed (flag_masks bits 1 | 8) */
        CHECK(sens[p] == ((1 << CC_SENSOR_S2) | (1 << CC_SENSOR_S1)));
    }
    free(b04), free(ds), free(sens);

    /* the block size does not change the output */
    a.out_path = out2;
    a.block = 5; /* 5 x 5 windows: edges of 2 and 2 px */
    CHECK_OK(cc_cloudless_run(&a, NULL));
    CHECK(file_equal(out, out2));

    /* appending a second day keeps the first */
    a.out_path = out;
    a.block = 0;
    a.day = d0 + 6;
    CHECK_OK(cc_cloudless_run(&a, NULL));
    int nd = 0;
    double *days = NULL;
    CHECK_OK(cc_cube_dates(out, &nd, &days));
    CHECK(nd == 2 && days && days[0] == (double)(d0 + 5) && days[1] == (double)(d0 + 6));
    free(days);

    /* only S1 requested: no optical sensor -> nothing can be filled */
    a.out_path = bad;
    snprintf(bad, sizeof bad, "%s/bad.nc", tmp);
    a.sensors = 1u << CC_SENSOR_S1;
    a.day = d0 + 5;
    CHECK(cc_cloudless_run(&a, NULL) == CC_ERR_NODATA);
    CHECK(access(bad, F_OK) != 0);
    a.sensors = 0;

    /* no observation within the window */
    a.day = d0 + 400;
    CHECK(cc_cloudless_run(&a, NULL) == CC_ERR_NODATA);
    CHECK(strstr(cc_error_message(), "no observation") != NULL);
    CHECK(access(bad, F_OK) != 0);

    /* a tile without cubes */
    a.day = d0 + 5;
    a.tile = "32UMF";
    CHECK(cc_cloudless_run(&a, NULL) == CC_ERR_MISSING);
    CHECK(strstr(cc_error_message(), "32UMF") != NULL);

    /* sensor cubes of one tile on different grids */
    double gt2[6] = {500010, 10, 0, 5000000, 0, -10};
    size_t n = (size_t)W * H;
    float *r = malloc(n * CC_CL_NBANDS * sizeof *r);
    for (size_t i = 0; i < n * CC_CL_NBANDS; i++)
        r[i] = 0.1f;
    append(dir, "33TUM", CC_SENSOR_S2, d0, GT, r, NULL);
    append(dir, "33TUM", CC_SENSOR_OLCI, d0, gt2, r, NULL);
    free(r);
    a.tile = "33TUM";
    CHECK(cc_cloudless_run(&a, NULL) == CC_ERR_FORMAT);
    CHECK(strstr(cc_error_message(), "grid differs") != NULL);
    CHECK(access(bad, F_OK) != 0);

    /* a missing model file */
    a.tile = "33TUL";
    a.model_path = "/nonexistent/model.h5";
    CHECK(cc_cloudless_run(&a, NULL) != CC_OK);
    CHECK(strstr(cc_error_message(), "/nonexistent/model.h5") != NULL);

    /* a corrupt sensor cube */
    snprintf(cmd, sizeof cmd, "printf 'not netcdf' > '%s/33TUN_s2.nc'", dir);
    CHECK(system(cmd) == 0);
    a.model_path = model;
    a.tile = "33TUN";
    CHECK(cc_cloudless_run(&a, NULL) == CC_ERR_FORMAT);
    CHECK(strstr(cc_error_message(), "33TUN_s2.nc") != NULL);
    CHECK(access(bad, F_OK) != 0);

    if (cc_test_failures)
        fprintf(stderr, "%d failure(s)\n", cc_test_failures);
    return cc_test_failures ? 1 : 0;
}
