/* Cloudless: cc_cl_predict computes its features on a fast path (shared
 * Whittaker factors, validity bitmasks; pipeline/cloudless/cloudless.c). This test
 * rebuilds the prediction from the straightforward reference features
 * (cc_cl_features, one pixel at a time) through the same network and checks
 * that cc_cl_predict gives the SAME BITS, on random series with random gaps
 * (per band, per sensor, none at all, 1..3 samples, windows running off the
 * series), for several models (window, kt, lambda, random weights) and
 * 1 and 2 threads. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "kernels/train/train.h"
#include "pipeline/cloudless/cloudless.h"
#include "testutil.h"

#define NB CC_CL_NBANDS
#define NF CC_CL_NFEAT

static uint64_t rng_state;
static uint32_t rnd(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng_state >> 33);
}
static double u01(void) { return (double)rnd() / 2147483648.0; }

static float *at(float *a, const cc_series *s, int d, size_t p, int nb) { return a + ((size_t)d * s->npix + p) * nb; }

/* per pixel a random regime: which sensors exist, how often, and whether the
 * bands of a sensor share their gaps */
static void make_series(cc_series *s, int ndays, size_t npix, uint64_t seed)
{
    CHECK_OK(cc_series_alloc(s, ndays, 17000 + (int)(seed % 700), npix));
    rng_state = seed;
    for (size_t p = 0; p < npix; p++) {
        int regime = (int)(rnd() % 10);
        double ps2 = regime == 0 ? 0 : regime == 1 ? 0.01 : 0.05 + 0.3 * u01();
        double pls = regime == 2 ? 0 : 0.1 * u01(), pol = regime <= 3 ? 0 : 0.5 * u01();
        double ps1 = regime == 4 ? 0 : 0.2 * u01();
        int shared = rnd() % 3 != 0; /* bands share the gaps (else per band) */
        if (regime == 9) /* nothing optical at all */
            ps2 = pls = pol = 0;
        for (int d = 0; d < ndays; d++) {
            double base = 0.05 + 0.3 * u01();
            int s2day = u01() < ps2, lsday = u01() < pls, olday = u01() < pol;
            for (int b = 0; b < NB; b++) {
                if (shared ? s2day : u01() < ps2)
                    at(s->s2, s, d, p, NB)[b] = (float)(base + 0.02 * b + 0.01 * u01());
                if ((shared ? lsday : u01() < pls) && (b < 3 || b > 6))
                    at(s->landsat, s, d, p, NB)[b] = (float)(base + 0.02 * b + 0.01 * u01());
                if ((shared ? olday : u01() < pol) && b < 8)
                    at(s->olci, s, d, p, NB)[b] = (float)(base + 0.03 + 0.02 * b);
            }
            for (int b = 0; b < 2; b++)
                if (u01() < ps1)
                    at(s->s1, s, d, p, 2)[b] = (float)(-25 + 20 * u01());
        }
        if (regime == 1) /* exactly 1..3 S2 samples in all, one band missing */
            for (int d = 0, n = 0; d < ndays; d++)
                for (int b = 0; b < NB; b++) {
                    float *v = &at(s->s2, s, d, p, NB)[b];
                    if (b == 4 || (!isnan(*v) && ++n > 3 * NB))
                        *v = NAN;
                }
    }
}

static uint16_t enc(float f) /* the runtime's DN of a decoded feature */
{
    double q = (double)f * 10000.0 + 1000.0;
    return q <= 1.0 ? 1 : q >= 65535.0 ? 65535 : (uint16_t)floor(q + 0.5);
}

/* the prediction of cc_cl_predict, rebuilt from the reference features */
static void reference_predict(const cc_cl_model *m, const cc_series *s, int t, float *out)
{
    const int N = cc_cl_model_half_window(m), kt = cc_cl_model_kt(m), R = kt / 2;
    const size_t np = s->npix;
    uint16_t *dn = malloc((size_t)kt * np * NF * sizeof *dn);
    float *res = malloc((size_t)kt * np * NB * sizeof *res), f[15 * NF];
    uint8_t *ok = malloc(np * NB);
    CHECK(dn && res && ok);
    for (size_t p = 0; p < np; p++) {
        CHECK_OK(cc_cl_features(s, p, t, N, kt, cc_cl_model_lambda(m), -1, f, ok + p * NB));
        for (int k = 0; k < kt; k++)
            for (int c = 0; c < NF; c++)
                dn[((size_t)k * np + p) * NF + c] = enc(f[k * NF + c]);
    }
    CHECK_OK(cc_nn_run_float(cc_nn_backend_cpu(), cc_cl_model_net_const(m), kt, 1, (int)np, dn, res));
    for (size_t p = 0; p < np; p++) {
        const float *obs = s->s2 + ((size_t)t * np + p) * NB, *r = res + ((size_t)R * np + p) * NB;
        int clear = 0;
        for (int b = 0; b < NB; b++)
            clear |= !isnan(obs[b]);
        for (int b = 0; b < NB; b++)
            out[p * NB + b] = clear && !isnan(obs[b]) ? obs[b] : ok[p * NB + b] ? r[b] : NAN;
    }
    free(dn);
    free(res);
    free(ok);
}

static void check_case(int N, int kt, double lambda, int ndays, size_t np, uint64_t seed, const int *days, int ndd)
{
    cc_cl_arch a;
    cc_cl_arch_init(&a);
    a.half_window = N;
    a.kt = kt;
    a.whittaker_lambda = lambda;
    a.out_scale = 0.5f;
    cc_cl_model *m = NULL;
    CHECK_OK(cc_cl_model_build(&a, &m));
    if (!m)
        return;
    cc_train_init_params(cc_cl_model_net(m), seed);
    cc_series s;
    make_series(&s, ndays, np, seed);
    float *ref = malloc(np * NB * sizeof(float)), *out = malloc(np * NB * sizeof(float));
    CHECK(ref && out);
    for (int j = 0; j < ndd; j++) {
        int t = days[j];
        reference_predict(m, &s, t, ref);
        size_t filled = 0, nan = 0;
        for (size_t i = 0; i < np * NB; i++) {
            filled += !isnan(ref[i]) && isnan(s.s2[(size_t)t * np * NB + i]);
            nan += isnan(ref[i]) != 0;
        }
        CHECK(filled > np); /* the network's output is what is compared */
        CHECK(nan > 0);     /* and pixels without any optical sensor */
        for (int th = 1; th <= 2; th++) {
            omp_set_num_threads(th);
            memset(out, 0, np * NB * sizeof(float));
            CHECK_OK(cc_cl_predict(m, &s, t, out));
            size_t ndiff = 0, first = 0;
            for (size_t i = 0; i < np * NB; i++)
                if (memcmp(&out[i], &ref[i], sizeof(float)) != 0 && !ndiff++)
                    first = i;
            if (ndiff)
                fprintf(stderr, "N %d kt %d lambda %g day %d threads %d: %zu values differ (first: pixel %zu band %zu: "
                        "%.9g, reference %.9g)\n", N, kt, lambda, t, th, ndiff, first / NB, first % NB, out[first],
                        ref[first]);
            CHECK(ndiff == 0);
        }
    }
    /* evidence against a direct per-pixel scan */
    const int t = days[0] + (days[ndd - 1] - days[0]) / 2, H = CC_CL_HALF_WINDOW;
    int16_t *since = malloc(np * sizeof *since);
    uint8_t *sens = malloc(np);
    CHECK(since && sens);
    cc_cl_evidence(&s, t, since, sens);
    size_t bad = 0, with_s2 = 0;
    for (size_t p = 0; p < np; p++) {
        int rs = -1;
        unsigned rm = 0;
        for (int d = t - H; d <= t + H; d++) {
            if (d < 0 || d >= ndays)
                continue;
            for (int b = 0; b < NB; b++) {
                if (!isnan(at(s.s2, &s, d, p, NB)[b])) {
                    rm |= 1u << CC_SENSOR_S2;
                    if (d <= t)
                        rs = t - d;
                }
                rm |= !isnan(at(s.landsat, &s, d, p, NB)[b]) ? 1u << CC_SENSOR_LANDSAT : 0u;
                rm |= !isnan(at(s.olci, &s, d, p, NB)[b]) ? 1u << CC_SENSOR_OLCI : 0u;
            }
            for (int b = 0; b < 2; b++)
                rm |= !isnan(at(s.s1, &s, d, p, 2)[b]) ? 1u << CC_SENSOR_S1 : 0u;
        }
        bad += since[p] != rs || sens[p] != rm;
        with_s2 += rs >= 0;
    }
    CHECK(bad == 0);
    CHECK(with_s2 > 0 && with_s2 < np);
    cc_cl_evidence(&s, t, NULL, sens); /* either output may be NULL */
    free(since);
    free(sens);
    omp_set_num_threads(2);
    free(ref);
    free(out);
    cc_series_free(&s);
    cc_cl_model_free(m);
}

int main(void)
{
    /* the shipped layout (N 45, kt 3, lambda 100); days at both ends of the
     * series (the window runs off it) and inside */
    const int d1[] = {0, 3, 60, 118, 119};
    check_case(45, 3, 100, 120, 3000, 11, d1, 5);
    /* wider kernel, small lambda */
    const int d2[] = {2, 40, 79};
    check_case(20, 5, 7.5, 80, 1500, 12, d2, 3);
    /* a window of several mask words (W = 201) and one of 733 (N = 366) */
    const int d3[] = {1, 150, 298};
    check_case(100, 7, 1000, 300, 800, 13, d3, 3);
    const int d4[] = {366};
    check_case(366, 1, 50, 733, 300, 14, d4, 1);
    TEST_RETURN();
}
