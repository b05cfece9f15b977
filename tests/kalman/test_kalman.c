/* The Cloudless Kalman filter (pipeline/cloudless/kalman.h):
 * - the daily step (state + one day -> new state), run day by day with the
 *   state copied through a byte buffer as a state cube would hold it, equals
 *   the from-scratch filter over the same days, bit for bit, for random series
 *   with random gaps and both sensors;
 * - the smoother of a random walk with (almost) no observation noise is linear
 *   interpolation between the observations, and constant beyond them;
 * - the smoother's variance is smallest at observations and grows in gaps;
 *   the nowcast of the last day equals the reanalysis of the last day;
 * - the parameter check rejects bad values;
 * - the parameter file (HDF5 model file) round-trips; another model file and
 *   bad parameters give clear errors and no file. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/cloudless/kalman.h"
#include "pipeline/cloudless/kalman_model.h"
#include "testutil.h"

static uint64_t rng = 88172645463325252ULL;
static double urand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static void random_series(cc_series *s)
{
    const size_t nb = CC_CL_NBANDS;
    for (size_t p = 0; p < s->npix; p++) {
        double base = 0.05 + 0.3 * urand();
        for (int d = 0; d < s->ndays; d++) {
            int s2 = urand() < 0.15, ls = urand() < 0.06;
            double v = base + 0.1 * sin(d / 30.0 + (double)p);
            for (size_t b = 0; b < nb; b++) {
                size_t i = ((size_t)d * s->npix + p) * nb + b;
                if (s2 && urand() > 0.05) s->s2[i] = (float)(v + 0.01 * b + 0.01 * (urand() - 0.5));
                if (ls && b != 3 && b != 4 && b != 5 && b != 6) s->landsat[i] = (float)(v + 0.02 * (urand() - 0.5));
            }
        }
    }
}

static void test_incremental(void)
{
    cc_kf_params p;
    cc_kf_params_default(&p);
    for (int b = 0; b < CC_CL_NBANDS; b++) p.gate[b] = b % 2 ? 3.0f : 0.0f; /* robust update on half the bands */
    cc_series s;
    const int ndays = 400;
    const size_t npix = 37, nday = npix * CC_CL_NBANDS;
    CHECK_OK(cc_series_alloc(&s, ndays, 17000, npix));
    random_series(&s);
    float *est = malloc((size_t)ndays * nday * sizeof *est), *sd = malloc((size_t)ndays * nday * sizeof *sd);
    cc_kf_pixel *fin = malloc(npix * sizeof *fin);
    CHECK_OK(cc_kf_filter(&p, &s, est, sd, fin));

    /* Day by day: the state goes through a byte buffer between days (as a
     * state cube would hold it), the run restarted from it each day. */
    unsigned char *buf = malloc(npix * sizeof(cc_kf_pixel));
    cc_kf_pixel *st = malloc(npix * sizeof *st);
    for (size_t i = 0; i < npix; i++) cc_kf_pixel_init(&p, &st[i]);
    float e1[37 * CC_CL_NBANDS], s1[37 * CC_CL_NBANDS];
    long mismatch = 0;
    for (int d = 0; d < ndays; d++) {
        memcpy(buf, st, npix * sizeof *st);
        memset(st, 0xff, npix * sizeof *st);
        memcpy(st, buf, npix * sizeof *st);
        cc_kf_day(&p, st, npix, s.s2 + (size_t)d * nday, s.landsat + (size_t)d * nday, e1, s1);
        mismatch += memcmp(e1, est + (size_t)d * nday, sizeof e1) != 0;
        mismatch += memcmp(s1, sd + (size_t)d * nday, sizeof s1) != 0;
    }
    CHECK(mismatch == 0);
    CHECK(memcmp(st, fin, npix * sizeof *st) == 0);
    /* A day without any observation (NULL arrays) is a pure prediction. */
    cc_kf_pixel a = fin[0], b = fin[0];
    float nanv[CC_CL_NBANDS];
    for (int k = 0; k < CC_CL_NBANDS; k++) nanv[k] = NAN;
    cc_kf_pixel_step(&p, &a, NULL, NULL, NULL, NULL);
    cc_kf_pixel_step(&p, &b, nanv, nanv, NULL, NULL);
    CHECK(memcmp(&a, &b, sizeof a) == 0);
    CHECK(a.p_ll[0] > fin[0].p_ll[0]);
    printf("incremental == from scratch: %d days x %zu pixels, %ld mismatches; state %zu bytes/pixel\n", ndays,
           npix, mismatch, sizeof(cc_kf_pixel));

    /* Nowcast of the last day == reanalysis of the last day; both predictors. */
    float out[37 * CC_CL_NBANDS], osd[37 * CC_CL_NBANDS];
    cc_kf_predictor_ctx c = {.params = &p, .reanalysis = 1, .use_landsat = 1, .sd = osd};
    CHECK_OK(cc_kf_predictor(&c, &s, ndays - 1, out));
    double maxd = 0;
    for (size_t i = 0; i < nday; i++) {
        double dd = fabs(out[i] - est[(size_t)(ndays - 1) * nday + i]);
        if (dd > maxd) maxd = dd;
    }
    CHECK(maxd < 1e-5);
    c.reanalysis = 0;
    CHECK_OK(cc_kf_predictor(&c, &s, 200, out));
    CHECK(memcmp(out, est + (size_t)200 * nday, sizeof out) == 0);
    CHECK(cc_kf_predictor(&c, &s, ndays, out) == CC_ERR_ARG);
    free(est);
    free(sd);
    free(fin);
    free(buf);
    free(st);
    cc_series_free(&s);
}

static void test_linear_limit(void)
{
    cc_kf_params p;
    cc_kf_params_default(&p);
    for (int b = 0; b < CC_CL_NBANDS; b++) {
        p.r_s2[b] = 1e-12f;
        p.q_level[b] = 1e-4f;
        p.q_slope[b] = 0;
        p.phi[b] = 0;
        p.p0_slope[b] = 0;
        p.p0[b] = 100; /* a vague prior: constant before the first observation */
    }
    const int n = 60;
    float y[60], est[60], sd[60];
    double work[600];
    for (int d = 0; d < n; d++) y[d] = NAN;
    y[10] = 0.1f, y[30] = 0.3f, y[35] = 0.2f;
    cc_kf_smooth_band(&p, 0, y, NULL, n, 1, 0, n, work, est, sd);
    double maxd = 0;
    for (int d = 0; d < n; d++) {
        double lin = d <= 10 ? 0.1 : d <= 30 ? 0.1 + 0.2 * (d - 10) / 20.0 : d <= 35 ? 0.3 - 0.1 * (d - 30) / 5.0 : 0.2;
        if (fabs(est[d] - lin) > maxd) maxd = fabs(est[d] - lin);
    }
    printf("random walk smoother vs linear interpolation: max diff %.2e\n", maxd);
    CHECK(maxd < 1e-4);
    CHECK(sd[20] > sd[10] && sd[20] > sd[30] && sd[50] > sd[40] && sd[0] > sd[5]);
    /* a window [from, to) gives the same values as the whole series */
    float e2[5];
    cc_kf_smooth_band(&p, 0, y, NULL, n, 1, 18, 23, work, e2, NULL);
    CHECK(memcmp(e2, est + 18, sizeof e2) == 0);
}

static void test_check(void)
{
    cc_kf_params p;
    cc_kf_params_default(&p);
    CHECK_OK(cc_kf_params_check(&p, "default"));
    p.phi[3] = 1.5f;
    CHECK(cc_kf_params_check(&p, "x") == CC_ERR_ARG);
    CHECK(strstr(cc_error_message(), "phi") != NULL);
    cc_kf_params_default(&p);
    p.q_level[0] = NAN;
    CHECK(cc_kf_params_check(&p, "x") == CC_ERR_ARG);
}

static void test_model_file(void)
{
    const char *tmp = getenv("CLEARCUBE_TMP"), *src = getenv("CLEARCUBE_SOURCE");
    char path[4096], other[4096];
    snprintf(path, sizeof path, "%s/test_kalman_params.h5", tmp ? tmp : "/tmp");
    remove(path);
    cc_kf_params p, q;
    cc_kf_params_default(&p);
    for (int b = 0; b < CC_CL_NBANDS; b++) p.q_level[b] = 1e-5f * (float)(b + 1), p.gate[b] = 10;
    CHECK_OK(cc_kf_model_save(path, &p, "test note"));
    char *note = NULL;
    CHECK_OK(cc_kf_model_load(path, &q, &note));
    CHECK(memcmp(&p, &q, sizeof p) == 0);
    CHECK(note && strcmp(note, "test note") == 0);
    free(note);
    if (src) {
        snprintf(other, sizeof other, "%s/models/boa-s2.h5", src);
        CHECK(cc_kf_model_load(other, &q, NULL) == CC_ERR_FORMAT);
        CHECK(strstr(cc_error_message(), "not a Kalman parameter file") != NULL);
    }
    remove(path);
    p.r_s2[2] = -1;
    CHECK(cc_kf_model_save(path, &p, NULL) == CC_ERR_ARG);
    FILE *f = fopen(path, "rb");
    CHECK(f == NULL);
    if (f) fclose(f);
}

int main(void)
{
    test_incremental();
    test_linear_limit();
    test_check();
    test_model_file();
    return cc_test_failures ? 1 : 0;
}
