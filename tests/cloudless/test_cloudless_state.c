/* Daily Cloudless from a per-pixel state (pipeline/cloudless/state.h) on
 * SIMULATED synthetic sensor cubes:
 *   1. the state updated day by day (20 runs of one day, blocks of 7 rows)
 *      equals one pass over the 20 days (blocks of 64 rows) and a
 *      from-scratch filter (cc_kf_filter over the whole series): state
 *      variables bit for bit, the nowcast cubes slice by slice, the bands
 *      equal to the from-scratch estimates;
 *   2. a rerun for a day already done changes nothing; a state behind its
 *      cube (killed after the cube's commit) catches up without appending twice;
 *   3. bad inputs: no state -> fresh start; a state of another tile, of
 *      another grid, garbage or truncated -> one clear error, the state and
 *      the cube untouched;
 *   4. the reanalysis (smoother) over the period: written, equal to
 *      cc_kf_smooth_day. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netcdf.h>

#include "core/date.h"
#include "io/cube.h"
#include "io/pixstate.h"
#include "pipeline/cloudless/cloudless_product.h"
#include "pipeline/cloudless/kalman.h"
#include "pipeline/cloudless/sim_cubes.h"
#include "pipeline/cloudless/state.h"
#include "testutil.h"

#define ND 20
#define NB CC_CL_NBANDS

static char dir[2048], cubes[2300], tile[8];
static long day0;
static int W, H;

static const cc_pixstate_var vars[7] = {{"level", "", NB}, {"slope", "", NB}, {"p_ll", "", NB}, {"p_ls", "", NB},
                                        {"p_ss", "", NB}, {"last_s2_day", "", 1}, {"last_obs_day", "", 1}};

static const char *p(const char *name)
{
    static char buf[8][2400];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static cc_status run(const char *state, const char *out, long first, long last, int rows, cc_cl_state_stats *s)
{
    cc_cl_state_args a = {.cube_dir = cubes, .tile = tile, .first_day = first, .last_day = last, .state_in = state,
                          .state_out = state, .out_path = out, .block_rows = rows};
    return cc_cl_state_run(&a, s);
}

/* Every variable of a state file: [sum of sizes] floats, malloc'd. */
static float *read_state(const char *path, long *day)
{
    cc_pixstate *s = NULL;
    cc_pixstate_info info;
    if (cc_pixstate_open(path, 7, vars, &s, &info) != CC_OK)
        return NULL;
    size_t npix = (size_t)W * H, n = 0;
    float *v = malloc((5 * NB + 2) * npix * sizeof *v);
    for (int i = 0; v && i < 7; i++) {
        if (cc_pixstate_read_rows(s, i, 0, H, v + n) != CC_OK) {
            free(v);
            v = NULL;
            break;
        }
        n += (size_t)vars[i].nbands * npix;
    }
    *day = info.day;
    cc_pixstate_close(s);
    return v;
}

/* All values of a cube's layer (time, y, x) as uint16: [nt][H][W]. */
static uint16_t *read_layer(const char *path, const char *name, size_t *nt)
{
    int ncid, v, d;
    if (nc_open(path, NC_NOWRITE, &ncid))
        return NULL;
    uint16_t *buf = NULL;
    if (!nc_inq_dimid(ncid, "time", &d) && !nc_inq_dimlen(ncid, d, nt) && !nc_inq_varid(ncid, name, &v) &&
        (buf = malloc(*nt * (size_t)W * H * sizeof *buf)) && nc_get_var_ushort(ncid, v, buf)) {
        free(buf);
        buf = NULL;
    }
    nc_close(ncid);
    return buf;
}

static int same_cubes(const char *a, const char *b)
{
    static const char *names[] = {"B02", "B04", "B12", "sd_B02", "sd_B08", "days_since_s2"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        size_t na = 0, nb = 0;
        uint16_t *x = read_layer(a, names[i], &na), *y = read_layer(b, names[i], &nb);
        int same = x && y && na == nb && !memcmp(x, y, na * (size_t)W * H * sizeof *x);
        free(x);
        free(y);
        if (!same) {
            fprintf(stderr, "layer %s of %s and %s differ\n", names[i], a, b);
            return 0;
        }
    }
    return 1;
}

static uint64_t file_sum(const char *path) { return cc_test_file_fnv(path); }

static void copy(const char *from, const char *to)
{
    char cmd[16000];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", from, to);
    CHECK(system(cmd) == 0);
}

/* 6. the sd calibration: a state started after 15 days of the series takes the noise factor of
   that history and keeps it: 3 one-day runs == one 3-day pass, every layer (the sd included);
   the state holds 10 factors, not all 1 (this series is not the training series) */
static void test_calibration(void)
{
    cc_cl_state_stats s;
    const long f0 = day0 + 15;
    for (int k = 0; k < 3; k++)
        CHECK_OK(run(p("D.state.nc"), p("D.nc"), f0, f0 + k, 7, &s));
    CHECK_OK(run(p("E.state.nc"), p("E.nc"), f0, f0 + 2, 64, &s));
    CHECK(same_cubes(p("D.nc"), p("E.nc")));
    cc_pixstate *ps = NULL;
    cc_pixstate_info info;
    CHECK_OK(cc_pixstate_open(p("D.state.nc"), 7, vars, &ps, &info));
    int not_one = 0;
    for (int k = 0; ps && k < info.ncalibration; k++)
        not_one += isfinite(info.calibration[k]) && info.calibration[k] > 0 && info.calibration[k] != 1.0;
    printf("state calibration: %d factors, %d not 1 (B04 %.3f)\n", ps ? info.ncalibration : 0, not_one,
           ps && info.ncalibration > 2 ? info.calibration[2] : 0.0);
    CHECK(ps && info.ncalibration == NB && not_one > 0);
    cc_pixstate_close(ps);
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s", cc_test_tmpdir("cloudless_state"));
    snprintf(cubes, sizeof cubes, "%s/cubes", dir);
    char cmd[16000];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'/*", dir);
    CHECK(system(cmd) == 0);
    cc_cl_sim_cubes_options o = {.out_dir = cubes, .synthetic = 1, .ndays = ND + 5, .size = 40, .seed = 3};
    cc_cl_sim_cubes_result r;
    CHECK_OK(cc_cl_sim_cubes_write(&o, &r));
    snprintf(tile, sizeof tile, "%s", r.tile);
    day0 = r.day0, W = r.width, H = r.height;
    const size_t npix = (size_t)W * H;
    cc_cl_state_stats s;

    /* 1. day by day == one pass == from scratch */
    CHECK_OK(run(p("A.state.nc"), p("A.nc"), day0, day0, 7, &s));
    CHECK(s.fresh == 1 && s.ndays == 1);
    for (int k = 1; k < ND; k++) {
        CHECK_OK(run(p("A.state.nc"), p("A.nc"), day0, day0 + k, 7, &s));
        CHECK(s.fresh == 0 && s.ndays == 1 && s.days_written == 1);
    }
    CHECK_OK(run(p("B.state.nc"), p("B.nc"), day0, day0 + ND - 1, 64, &s));
    CHECK(s.fresh == 1 && s.ndays == ND && s.days_written == ND);
    long da = 0, db = 0;
    float *sa = read_state(p("A.state.nc"), &da), *sb = read_state(p("B.state.nc"), &db);
    CHECK(sa && sb && da == day0 + ND - 1 && db == da);
    CHECK(sa && sb && !memcmp(sa, sb, (5 * NB + 2) * npix * sizeof *sa));
    CHECK(same_cubes(p("A.nc"), p("B.nc")));

    cc_series ser;
    CHECK_OK(cc_cloudless_load(cubes, tile, (1u << CC_SENSOR_S2) | (1u << CC_SENSOR_LANDSAT), day0, ND, 0, 0, W, H,
                               &ser, NULL, NULL));
    cc_kf_params kp;
    cc_kf_params_default(&kp);
    cc_kf_pixel *fin = malloc(npix * sizeof *fin);
    float *est = malloc((size_t)ND * npix * NB * sizeof *est);
    CHECK_OK(cc_kf_filter(&kp, &ser, est, NULL, fin));
    int state_same = 1;
    for (size_t q = 0; sa && q < npix; q++)
        for (int v = 0; v < 5; v++)
            for (int b = 0; b < NB; b++)
                state_same &= ((const float *)&fin[q])[v * NB + b] == sa[((size_t)v * NB + b) * npix + q];
    CHECK(state_same);
    size_t nt = 0;
    uint16_t *b04 = read_layer(p("A.nc"), "B04", &nt);
    CHECK(b04 && nt == ND);
    long mismatch = 0, seen = 0;
    for (int t = 0; b04 && t < ND; t++)
        for (size_t q = 0; q < npix; q++) {
            uint16_t dn = b04[(size_t)t * npix + q];
            if (!dn)
                continue;
            seen++;
            mismatch += dn != cc_cube_refl_dn(est[((size_t)t * npix + q) * NB + 2]);
        }
    printf("from scratch: %ld of %ld filled B04 values differ\n", mismatch, seen);
    CHECK(seen > (long)npix && mismatch == 0);
    free(b04);

    /* 2. a day done again: nothing; a state behind its cube catches up without appending twice */
    uint64_t ca = file_sum(p("A.nc")), sta = file_sum(p("A.state.nc"));
    CHECK_OK(run(p("A.state.nc"), p("A.nc"), day0, day0 + ND - 1, 7, &s));
    CHECK(s.ndays == 0 && file_sum(p("A.nc")) == ca && file_sum(p("A.state.nc")) == sta);
    copy(p("B.state.nc"), p("C.state.nc"));  /* state at ND-1 */
    CHECK_OK(run(p("B.state.nc"), p("B.nc"), day0, day0 + ND + 1, 5, &s)); /* cube and state at ND+1 */
    CHECK_OK(run(p("C.state.nc"), p("B.nc"), day0, day0 + ND + 1, 5, &s)); /* as if killed before its state */
    CHECK(s.ndays == 2 && s.days_written == 0);
    int nbd = 0;
    double *bd = NULL;
    CHECK_OK(cc_cube_dates(p("B.nc"), &nbd, &bd));
    CHECK(nbd == ND + 2 && bd && bd[nbd - 1] == (double)(day0 + ND + 1));
    free(bd);
    float *sc = read_state(p("C.state.nc"), &db), *sb2 = read_state(p("B.state.nc"), &da);
    CHECK(sc && sb2 && !memcmp(sc, sb2, (5 * NB + 2) * npix * sizeof *sc));
    free(sc);
    free(sb2);

    /* 3. bad inputs */
    CHECK_OK(run(p("missing.state.nc"), p("M.nc"), day0, day0, 0, &s));
    CHECK(s.fresh == 1);
    ca = file_sum(p("A.nc"));
    sta = file_sum(p("A.state.nc"));
    /* another tile: the same cubes under another name */
    char other[2400];
    snprintf(other, sizeof other, "%s/other", dir);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && for f in '%s'/%s_*.nc; do cp \"$f\" '%s'/32ABC_${f##*_}; done", other,
             cubes, tile, other);
    CHECK(system(cmd) == 0);
    cc_cl_state_args a = {.cube_dir = other, .tile = "32ABC", .first_day = day0, .last_day = day0 + ND,
                          .state_in = p("A.state.nc"), .state_out = p("A.state.nc"), .out_path = p("A.nc")};
    cc_status st = cc_cl_state_run(&a, &s);
    printf("another tile: %s\n", cc_error_message());
    CHECK(st == CC_ERR_ARG && strstr(cc_error_message(), "A.state.nc") && strstr(cc_error_message(), "tile 32ABC"));
    /* another grid */
    char small[2400];
    snprintf(small, sizeof small, "%s/small", dir);
    cc_cl_sim_cubes_options o2 = o;
    o2.out_dir = small, o2.size = 24;
    CHECK_OK(cc_cl_sim_cubes_write(&o2, &r));
    a.cube_dir = small, a.tile = tile;
    st = cc_cl_state_run(&a, &s);
    printf("another grid: %s\n", cc_error_message());
    CHECK(st == CC_ERR_ARG && strstr(cc_error_message(), "grid"));
    /* garbage and truncated state files */
    FILE *f = fopen(p("garbage.state.nc"), "wb");
    CHECK(f && fputs("this is not a state file\n", f) >= 0);
    if (f)
        fclose(f);
    a.cube_dir = cubes, a.state_in = a.state_out = p("garbage.state.nc");
    st = cc_cl_state_run(&a, &s);
    printf("garbage: %s\n", cc_error_message());
    CHECK(st == CC_ERR_FORMAT && strstr(cc_error_message(), "garbage.state.nc"));
    copy(p("A.state.nc"), p("trunc.state.nc"));
    CHECK(truncate(p("trunc.state.nc"), 4096) == 0);
    uint64_t tr = file_sum(p("trunc.state.nc"));
    a.state_in = a.state_out = p("trunc.state.nc");
    st = cc_cl_state_run(&a, &s);
    printf("truncated: %s\n", cc_error_message());
    CHECK(st == CC_ERR_FORMAT && strstr(cc_error_message(), "trunc.state.nc"));
    CHECK(file_sum(p("trunc.state.nc")) == tr);
    CHECK(file_sum(p("A.nc")) == ca && file_sum(p("A.state.nc")) == sta); /* untouched by the failures */

    /* 4. the reanalysis of days 5..14, margin 5: the smoother of the same window */
    cc_cl_state_args ra = {.cube_dir = cubes, .tile = tile, .first_day = day0 + 5, .last_day = day0 + 14,
                           .out_path = p("R.nc"), .block_rows = 9};
    CHECK_OK(cc_cl_reanalysis_run(&ra, 5, &s));
    CHECK(s.days_written == 10);
    cc_series ser2;
    CHECK_OK(cc_cloudless_load(cubes, tile, (1u << CC_SENSOR_S2) | (1u << CC_SENSOR_LANDSAT), day0, 20, 0, 0, W, H,
                               &ser2, NULL, NULL));
    float *sm = malloc(npix * NB * sizeof *sm);
    CHECK_OK(cc_kf_smooth_day(&kp, &ser2, 9, sm, NULL)); /* day0 + 9: index 4 of R.nc */
    uint16_t *rb = read_layer(p("R.nc"), "B04", &nt);
    CHECK(rb && nt == 10);
    mismatch = 0;
    for (size_t q = 0; rb && q < npix; q++)
        mismatch += rb[4 * npix + q] && rb[4 * npix + q] != cc_cube_refl_dn(sm[q * NB + 2]);
    CHECK(mismatch == 0);
    free(rb);
    free(sm);
    cc_series_free(&ser2);
    cc_series_free(&ser);
    free(fin);
    free(est);
    free(sa);
    free(sb);
    test_calibration();
    TEST_RETURN();
}
