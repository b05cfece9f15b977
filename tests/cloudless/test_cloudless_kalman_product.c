/* The default Cloudless product, the Kalman reanalysis of one day
 * (cloudless_product.h, method KALMAN), on SIMULATED synthetic sensor cubes:
 *  - it equals, bit for bit, the smoother of kalman.h (cc_kf_smooth_day) run
 *    on the series of the day +- margin read by cc_cloudless_load, encoded as
 *    the nowcast cube encodes it (bands and sd_*);
 *  - against the smoother over the WHOLE series it differs by at most the
 *    tolerance stated in docs/cloudless-model.md (measured here, printed);
 *  - the sd_* layers carry their CF attributes; a day already in the output is
 *    kept, a day before the output's last is refused, a far day is NODATA, a
 *    Kalman run without Sentinel-2 is refused, a missing tile is MISSING;
 *    nothing is written on failure. */
#include <math.h>
#include <gdal.h>
#include <netcdf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/date.h"
#include "io/cube.h"
#include "pipeline/cloudless/cloudless_product.h"
#include "pipeline/cloudless/kalman.h"
#include "pipeline/cloudless/sim_cubes.h"
#include "pipeline/cloudless/state.h"
#include "testutil.h"

#define NB CC_CL_NBANDS
#define MARGIN 30

/* Layer `name` of date index t of a cube: [H][W] DN. */
static uint16_t *read_layer(const char *path, const char *name, int t, int w, int h)
{
    int ncid, v;
    if (nc_open(path, NC_NOWRITE, &ncid))
        return NULL;
    uint16_t *buf = malloc((size_t)w * (size_t)h * sizeof *buf);
    size_t start[3] = {(size_t)t, 0, 0}, count[3] = {1, (size_t)h, (size_t)w};
    if (!buf || nc_inq_varid(ncid, name, &v) || nc_get_vara_ushort(ncid, v, start, count, buf)) {
        free(buf);
        buf = NULL;
    }
    nc_close(ncid);
    return buf;
}

static int text_att_is(int ncid, int v, const char *att, const char *want)
{
    char buf[512] = "";
    size_t n = 0;
    if (nc_inq_attlen(ncid, v, att, &n) || n >= sizeof buf || nc_get_att_text(ncid, v, att, buf))
        return 0;
    buf[n] = 0;
    return want ? !strcmp(buf, want) : n > 0;
}

static uint16_t sd_dn(float sd)
{
    if (!isfinite(sd))
        return 0;
    double v = floor(sd * 1e4 + 0.5);
    return (uint16_t)(v < 1 ? 1 : v > 65534 ? 65534 : v);
}

static uint64_t file_sum(const char *path) { return cc_test_file_fnv(path); }

/* the same day in windows of 10 columns x 7 rows (several columns and rows of windows, the
   last ones partial): the same bytes in every layer */
static void check_windows(const char *dir, const char *tile, long day, const char *out, int W, int H)
{
    const size_t npix = (size_t)W * (size_t)H;
    char out2[640];
    snprintf(out2, sizeof out2, "%s/day_windows.nc", dir);
    cc_cl_state_args sa = {.cube_dir = dir, .tile = tile, .first_day = day, .last_day = day,
                           .out_path = out2, .block_rows = 7, .block_cols = 10};
    cc_cl_state_stats ss;
    CHECK_OK(cc_cl_reanalysis_run(&sa, MARGIN, &ss));
    size_t differ = 0;
    for (int b = 0; b < NB; b++) {
        char sdname[16];
        snprintf(sdname, sizeof sdname, "sd_%s", cc_cl_band_names[b]);
        const char *names[2] = {cc_cl_band_names[b], sdname};
        for (int k = 0; k < 2; k++) {
            uint16_t *u = read_layer(out, names[k], 0, W, H), *v2 = read_layer(out2, names[k], 0, W, H);
            CHECK(u && v2);
            for (size_t q = 0; u && v2 && q < npix; q++)
                differ += u[q] != v2[q];
            free(u);
            free(v2);
        }
    }
    printf("windows of 10 x 7 px vs the default: %zu values differ\n", differ);
    CHECK(differ == 0);
}

int main(void)
{
    char dir[512], out[600], ql[600], cmd[700];
    GDALAllRegister(); /* the quicklook reads the cube through GDAL (the CLI registers it in main) */
    snprintf(dir, sizeof dir, "%s/test_cloudless_kalman_product", getenv("CLEARCUBE_TMP") ? getenv("CLEARCUBE_TMP") : "/tmp");
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    cc_cl_sim_cubes_options o = {.out_dir = dir, .synthetic = 1, .ndays = 150, .size = 24, .seed = 5};
    cc_cl_sim_cubes_result r;
    CHECK_OK(cc_cl_sim_cubes_write(&o, &r));
    const int W = r.width, H = r.height;
    const size_t npix = (size_t)W * (size_t)H;
    const long day = r.day0 + 70;
    snprintf(out, sizeof out, "%s/day.nc", dir);
    snprintf(ql, sizeof ql, "%s/day.png", dir);

    /* the product (built-in parameters: the test does not depend on the shipped file) */
    cc_cloudless_args a = {.cube_dir = dir, .tile = r.tile, .day = day, .out_path = out, .margin = MARGIN,
                           .quicklook = ql, .method = CC_CL_METHOD_KALMAN};
    cc_cloudless_stats st;
    CHECK_OK(cc_cloudless_run(&a, &st));
    CHECK(st.method == CC_CL_METHOD_KALMAN && st.written == 1 && st.width == W && st.height == H);
    CHECK(st.ndates[CC_SENSOR_S2] > 0);
    CHECK(access(ql, F_OK) == 0);

    /* the smoother on the same window, encoded as the product encodes it */
    cc_kf_params p;
    cc_kf_params_default(&p);
    cc_series win;
    unsigned sens = (1u << CC_SENSOR_S2) | (1u << CC_SENSOR_LANDSAT);
    /* with the sd calibrated to the window's series as the product does (cc_cl_calibrate_sd) */
    double f[NB];
    CHECK_OK(cc_cl_calibrate_sd(dir, r.tile, sens, day - MARGIN, 2 * MARGIN + 1, W, H, &p, f));
    printf("noise factor of the window's series: B02 %.3f, B04 %.3f, B08 %.3f\n", f[0], f[2], f[6]);
    CHECK(isfinite(f[2]) && f[2] > 0);
    CHECK_OK(cc_cloudless_load(dir, r.tile, sens, day - MARGIN, 2 * MARGIN + 1, 0, 0, W, H, &win, NULL, NULL));
    float *est = malloc(npix * NB * sizeof *est), *sd = malloc(npix * NB * sizeof *sd);
    float *full = malloc(npix * NB * sizeof *full);
    CHECK(est && sd && full);
    CHECK_OK(cc_kf_smooth_day(&p, &win, MARGIN, est, sd));
    /* the whole series */
    cc_series all;
    CHECK_OK(cc_cloudless_load(dir, r.tile, sens, r.day0, r.ndays, 0, 0, W, H, &all, NULL, NULL));
    CHECK_OK(cc_kf_smooth_day(&p, &all, (int)(day - r.day0), full, NULL));
    size_t mismatch = 0, nval = 0;
    double maxdiff = 0, sumdiff = 0;
    for (int b = 0; b < NB; b++) {
        char sdname[16];
        snprintf(sdname, sizeof sdname, "sd_%s", cc_cl_band_names[b]);
        uint16_t *v = read_layer(out, cc_cl_band_names[b], 0, W, H), *s = read_layer(out, sdname, 0, W, H);
        CHECK(v && s);
        for (size_t q = 0; v && s && q < npix; q++) {
            float e = est[q * NB + (size_t)b];
            mismatch += v[q] != cc_cube_refl_dn(e) || s[q] != sd_dn(sd[q * NB + (size_t)b]);
            if (v[q]) {
                double d = fabs(((double)v[q] * CC_CL_REFL_SCALE + CC_CL_REFL_OFFSET) - full[q * NB + (size_t)b]);
                maxdiff = d > maxdiff ? d : maxdiff;
                sumdiff += d;
                nval++;
            }
        }
        free(v);
        free(s);
    }
    printf("window product vs smoother on the same window: %zu of %zu values differ\n", mismatch, 2 * npix * NB);
    printf("window (+-%d days) vs the whole series (%d days): max |diff| %.5f, mean %.6f reflectance over %zu values\n",
           MARGIN, r.ndays, maxdiff, nval ? sumdiff / (double)nval : 0, nval);
    CHECK(mismatch == 0);
    CHECK(nval > npix * NB / 2);
    check_windows(dir, r.tile, day, out, W, H);
    CHECK(maxdiff <= 0.01); /* the tolerance of docs/cloudless-model.md */
    cc_series_free(&win);
    cc_series_free(&all);
    free(est);
    free(sd);
    free(full);

    /* CF attributes of the layers */
    int ncid, v;
    CHECK(nc_open(out, NC_NOWRITE, &ncid) == NC_NOERR);
    for (int b = 0; b < NB; b++) {
        char sdname[16];
        double sf = 0, ao = -1;
        snprintf(sdname, sizeof sdname, "sd_%s", cc_cl_band_names[b]);
        CHECK(nc_inq_varid(ncid, sdname, &v) == NC_NOERR);
        CHECK(text_att_is(ncid, v, "units", "1") && text_att_is(ncid, v, "long_name", NULL));
        CHECK(nc_get_att_double(ncid, v, "scale_factor", &sf) == NC_NOERR && fabs(sf - 1e-4) < 1e-12);
        CHECK(nc_get_att_double(ncid, v, "add_offset", &ao) == NC_NOERR && ao == 0);
        CHECK(text_att_is(ncid, v, "grid_mapping", "spatial_ref"));
        CHECK(nc_inq_varid(ncid, cc_cl_band_names[b], &v) == NC_NOERR);
        CHECK(text_att_is(ncid, v, "standard_name", "surface_bidirectional_reflectance"));
    }
    CHECK(nc_inq_varid(ncid, "days_since_s2", &v) == NC_NOERR && text_att_is(ncid, v, "units", "days"));
    nc_close(ncid);

    /* the same day again: kept; an earlier day: refused, the cube unchanged */
    uint64_t sum = file_sum(out);
    CHECK_OK(cc_cloudless_run(&a, &st));
    CHECK(st.written == 0 && file_sum(out) == sum);
    a.day = day - 1;
    CHECK(cc_cloudless_run(&a, &st) == CC_ERR_ARG);
    CHECK(file_sum(out) == sum);
    /* the next day appends */
    a.day = day + 1;
    a.quicklook = NULL;
    CHECK_OK(cc_cloudless_run(&a, &st));
    int n = 0;
    double *days = NULL;
    CHECK_OK(cc_cube_dates(out, &n, &days));
    CHECK(n == 2 && days[0] == (double)day && days[1] == (double)(day + 1));
    free(days);

    /* bad inputs: nothing written */
    char out2[700];
    snprintf(out2, sizeof out2, "%s/none.nc", dir);
    a.out_path = out2;
    a.day = r.day0 + r.ndays + 400;
    CHECK(cc_cloudless_run(&a, &st) == CC_ERR_NODATA);
    a.day = day;
    a.sensors = 1u << CC_SENSOR_S1;
    CHECK(cc_cloudless_run(&a, &st) == CC_ERR_ARG);
    a.sensors = 0;
    a.tile = "99XXX";
    CHECK(cc_cloudless_run(&a, &st) == CC_ERR_MISSING);
    CHECK(access(out2, F_OK) != 0);
    a.tile = r.tile;
    a.method = CC_CL_METHOD_AUTO;
    a.model_path = "/nonexistent/params.h5";
    CHECK(cc_cloudless_run(&a, &st) != CC_OK);
    CHECK(access(out2, F_OK) != 0);
    TEST_RETURN();
}
