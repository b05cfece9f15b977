#define _DEFAULT_SOURCE /* M_PI */
/* Cloudless fusion model: features on hand series, the zero-correction
 * fallback to the linear prior, save/load round trip (bit-exact), thread-count
 * determinism, a short training run that lowers the loss, bad model files. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "io/model_file.h"
#include "kernels/train/train.h"
#include "pipeline/boa/boa.h"
#include "pipeline/cloudless/cloudless.h"
#include "pipeline/cloudless/cloudless_train.h"
#include "testutil.h"

#define NB CC_CL_NBANDS
static float *at(float *a, const cc_series *s, int d, size_t p, int nb) { return a + ((size_t)d * s->npix + p) * nb; }

static double q(double f) { return floor(f * 10000.0 + 1000.0 + 0.5) / 10000.0 - 0.1; } /* runtime quantisation */

static void test_features(void)
{
    cc_series s;
    CHECK_OK(cc_series_alloc(&s, 100, 19000, 2));
    /* pixel 0: S2 at days 40 and 60; Landsat (B04, B8A) at 50; S1 at 48; OLCI nowhere */
    for (int b = 0; b < NB; b++) {
        at(s.s2, &s, 40, 0, NB)[b] = 0.10f + 0.01f * b;
        at(s.s2, &s, 60, 0, NB)[b] = 0.20f + 0.01f * b;
    }
    at(s.landsat, &s, 50, 0, NB)[2] = 0.18f;
    at(s.landsat, &s, 50, 0, NB)[7] = 0.30f;
    at(s.s1, &s, 48, 0, 2)[0] = -10.0f;
    at(s.s1, &s, 48, 0, 2)[1] = -17.0f;
    float f[3 * CC_CL_NFEAT];
    uint8_t ok[NB];
    CHECK_OK(cc_cl_features(&s, 0, 50, 45, 3, 100, -1, f, ok));
    const float *c = f + CC_CL_NFEAT; /* the centre day (50) */
    for (int b = 0; b < NB; b++) {
        CHECK_NEAR(c[CC_CLF_LIN + b], q(0.15 + 0.01 * b), 1e-6);
        CHECK(ok[b] == 1);
    }
    CHECK_NEAR(f[CC_CLF_LIN + 2], q(0.12 + 0.1 * 9 / 20.0), 1e-6); /* day 49 */
    CHECK_NEAR(c[CC_CLF_LSD + 2], q(1 + 0.18 - 0.17), 1.5e-4);
    CHECK_NEAR(c[CC_CLF_LSD + 7], q(1 + 0.30 - 0.22), 1.5e-4);
    CHECK_NEAR(c[CC_CLF_LSD + 0], 1.0, 1e-6);            /* band Landsat lacks here */
    CHECK_NEAR(c[CC_CLF_LS_DIST], 1.0, 1e-6);            /* observed that day */
    CHECK_NEAR(f[CC_CLF_LS_DIST], q(1 + 1 / 45.0), 1e-6); /* day 49: one day away */
    CHECK_NEAR(c[CC_CLF_OL_DIST], 3.0, 1e-6);            /* no OLCI: distance cap 2 (+1) */
    CHECK_NEAR(c[CC_CLF_S1_VV], q(1 + 2.0), 1e-6);       /* -10 dB -> (dB+30)/10 + 1 */
    CHECK_NEAR(c[CC_CLF_S1_VH], q(1 + 1.3), 1e-6);
    CHECK_NEAR(c[CC_CLF_S1_DIST], q(1 + 2 / 45.0), 1e-6);
    CHECK_NEAR(c[CC_CLF_S2_PREV], q(1 + 10 / 45.0), 1e-6);
    CHECK_NEAR(c[CC_CLF_S2_NEXT], q(1 + 10 / 45.0), 1e-6);
    CHECK_NEAR(c[CC_CLF_S2_FLAG], 1.0, 1e-6);
    double ph = 2 * M_PI * fmod(19050.0, 365.2425) / 365.2425;
    CHECK_NEAR(c[CC_CLF_DOY_SIN], q(1 + sin(ph)), 1e-6);
    CHECK_NEAR(c[CC_CLF_DOY_COS], q(1 + cos(ph)), 1e-6);
    /* hiding day 60 (the target): the prior is constant 0.10+.. after day 40 */
    CHECK_OK(cc_cl_features(&s, 0, 60, 45, 3, 100, 60, f, ok));
    CHECK_NEAR(f[CC_CL_NFEAT + CC_CLF_LIN + 0], q(0.10), 1e-6);
    CHECK_NEAR(f[CC_CL_NFEAT + CC_CLF_S2_NEXT], 3.0, 1e-6);
    CHECK_NEAR(f[CC_CL_NFEAT + CC_CLF_S2_PREV], q(1 + 20 / 45.0), 1e-6);
    /* pixel 1: nothing observed: prior undefined */
    CHECK_OK(cc_cl_features(&s, 1, 50, 45, 3, 100, -1, f, ok));
    CHECK(ok[0] == 0 && ok[9] == 0);
    /* evidence */
    int16_t since[2];
    uint8_t sens[2];
    cc_cl_evidence(&s, 50, since, sens);
    CHECK(since[0] == 10 && since[1] == -1);
    CHECK(sens[0] == ((1 << CC_SENSOR_S2) | (1 << CC_SENSOR_LANDSAT) | (1 << CC_SENSOR_S1)) && sens[1] == 0);
    cc_series_free(&s);
}

/* A series of npix pixels with a seasonal curve per band, S2 every 5 days
 * with random clouds, Landsat every 8 days (6 bands), S1 every 6 days. */
static void make_series(cc_series *s, float *truth, int ndays, size_t npix, unsigned seed)
{
    CHECK_OK(cc_series_alloc(s, ndays, 18000, npix));
    unsigned r = seed;
    for (size_t p = 0; p < npix; p++) {
        double ph = (double)(p % 17) * 0.37, amp = 0.05 + 0.01 * (double)(p % 5);
        for (int d = 0; d < ndays; d++) {
            float *tv = truth + ((size_t)d * npix + p) * NB;
            double g = sin(2 * M_PI * d / 60.0 + ph) + 0.3 * sin(2 * M_PI * d / 17.0 + 2 * ph);
            for (int b = 0; b < NB; b++)
                tv[b] = (float)(0.08 + 0.02 * b + amp * (b >= 6 ? 1.5 : 0.6) * g);
            r = r * 1103515245u + 12345u;
            int cloudy = (r >> 16) % 100 < 55;
            if (d % 5 == (int)(p % 5) && !cloudy)
                memcpy(at(s->s2, s, d, p, NB), tv, sizeof(float) * NB);
            r = r * 1103515245u + 12345u;
            if (d % 8 == (int)(p % 8) && (r >> 16) % 100 < 70) {
                static const int lb[6] = {0, 1, 2, 7, 8, 9};
                for (int k = 0; k < 6; k++)
                    at(s->landsat, s, d, p, NB)[lb[k]] = tv[lb[k]] + 0.003f;
            }
            if (d % 6 == 0) {
                at(s->s1, s, d, p, 2)[0] = (float)(-12 + 3 * g);
                at(s->s1, s, d, p, 2)[1] = (float)(-19 + 4 * g);
            }
        }
    }
}

static void random_weights(cc_cl_model *m, unsigned long long seed)
{
    cc_train_init_params(cc_cl_model_net(m), seed);
}

static void test_predict(void)
{
    cc_series s;
    const int nd = 120;
    const size_t np = 3000;
    float *truth = malloc((size_t)nd * np * NB * sizeof(float));
    make_series(&s, truth, nd, np, 7);
    cc_cl_arch a;
    cc_cl_arch_init(&a);
    cc_cl_model *m = NULL;
    CHECK_OK(cc_cl_model_build(&a, &m));
    CHECK(cc_cl_model_half_window(m) == 45);
    float *out = malloc(np * NB * sizeof(float)), *out2 = malloc(np * NB * sizeof(float));
    /* zero correction: prediction = the linear prior where S2 is not clear at t */
    int t = 61;
    CHECK_OK(cc_cl_predict(m, &s, t, out));
    int nchk = 0;
    for (size_t p = 0; p < np; p++) {
        const float *obs = at(s.s2, &s, t, p, NB);
        float y[91 * NB];
        for (int d = 0; d < 91; d++)
            for (int b = 0; b < NB; b++)
                y[d * NB + b] = at(s.s2, &s, t - 45 + d, p, NB)[b];
        for (int b = 0; b < NB; b++) {
            /* linear interpolation at the window centre (index 45) */
            int j = 45, k = 45;
            while (j >= 0 && isnan(y[j * NB + b])) j--;
            while (k < 91 && isnan(y[k * NB + b])) k++;
            double v = j >= 0 && k < 91 ? (k == j ? y[j * NB + b] : y[j * NB + b] + (y[k * NB + b] - y[j * NB + b]) * (45.0 - j) / (k - j))
                       : j >= 0 ? y[j * NB + b] : y[k * NB + b];
            if (isnan(obs[b])) {
                CHECK_NEAR(out[p * NB + b], v, 6e-5);
                nchk++;
            } else
                CHECK(out[p * NB + b] == obs[b]);
        }
    }
    CHECK(nchk > 1000);
    /* random weights: save / load round trip is bit-exact */
    random_weights(m, 3);
    CHECK_OK(cc_cl_predict(m, &s, t, out));
    const char *dir = cc_test_tmpdir("cloudless_model");
    char path[4096];
    snprintf(path, sizeof path, "%s/m.h5", dir);
    CHECK_OK(cc_cl_model_save(m, path));
    cc_cl_model *m2 = NULL;
    CHECK_OK(cc_cl_model_load(path, &m2));
    if (m2) {
        CHECK(cc_cl_model_half_window(m2) == 45 && cc_cl_model_kt(m2) == 3);
        CHECK_OK(cc_cl_predict(m2, &s, t, out2));
        CHECK(memcmp(out, out2, np * NB * sizeof(float)) == 0);
        cc_cl_model_free(m2);
    }
    int differs = 0;
    for (size_t i = 0; i < np * NB; i++)
        differs += isfinite(out[i]) && fabsf(out[i] - out2[i]) > 0;
    CHECK(differs == 0);
    /* determinism across thread counts */
    omp_set_num_threads(1);
    CHECK_OK(cc_cl_predict(m, &s, t, out2));
    omp_set_num_threads(2);
    CHECK_OK(cc_cl_predict(m, &s, t, out));
    CHECK(memcmp(out, out2, np * NB * sizeof(float)) == 0);
    /* bad inputs */
    cc_cl_model *bad = NULL;
    CHECK(cc_cl_model_load("/nonexistent/cloudless.h5", &bad) != CC_OK && !bad);
    CHECK(strstr(cc_error_message(), "/nonexistent/cloudless.h5") != NULL);
    CHECK(cc_cl_predict(m, &s, nd, out) == CC_ERR_ARG);
    cc_boa_arch ba = {.nhidden = 1, .hidden = {8}, .act = CC_ACT_RELU, .out_scale = 0.1f};
    for (int c = 0; c < CC_BOA_NIN; c++)
        ba.std[c] = 1;
    cc_nn_model bm;
    CHECK_OK(cc_boa_model_build(&ba, &bm));
    char bpath[4096];
    snprintf(bpath, sizeof bpath, "%s/boa.h5", dir);
    CHECK_OK(cc_model_file_write(bpath, &bm, "a BoA model"));
    cc_nn_model_free(&bm);
    CHECK(cc_cl_model_load(bpath, &bad) == CC_ERR_FORMAT && !bad);
    CHECK(strstr(cc_error_message(), "not a Cloudless model") != NULL);
    cc_cl_model_free(m);
    free(out);
    free(out2);
    free(truth);
    cc_series_free(&s);
}

static void test_train(void)
{
    cc_series s;
    const int nd = 150;
    const size_t np = 400;
    float *truth = malloc((size_t)nd * np * NB * sizeof(float));
    make_series(&s, truth, nd, np, 11);
    cc_cl_train_config c;
    memset(&c, 0, sizeof c);
    cc_cl_arch_init(&c.arch);
    c.steps = 300;
    c.warmup = 20;
    c.batch = 256;
    c.lr = 0.003;
    c.lr_min = 1e-5;
    c.weight_decay = 1e-5;
    c.loss = CC_LOSS_MSE;
    c.huber_delta = 0.02;
    c.seed = 1;
    c.eval_every = 100;
    c.val_fraction = 0.2;
    cc_cl_source src = {.s = &s, .truth = NULL, .name = "hand-made", .max_samples = 8000};
    cc_cl_train_options o = {0};
    cc_cl_model *m = NULL;
    cc_cl_train_result r;
    CHECK_OK(cc_cl_train_sources(&c, &o, &src, 1, &m, &r));
    printf("train: loss %.4g -> %.4g (factor %.2f), validation PSNR %.2f dB (prior %.2f dB), %.0f FLOP/px, %.1f s\n",
           r.first_loss, r.last_loss, r.loss_factor, r.val_psnr_model, r.val_psnr_prior, r.flops_per_pixel,
           r.seconds_train);
    CHECK(r.loss_factor >= 3.0);                        /* the stated factor */
    CHECK(r.val_psnr_model >= r.val_psnr_prior + 1.5); /* Landsat + S1 help on hidden days */
    CHECK(r.flops_per_pixel > 10000 && r.flops_per_pixel < 30000);
    cc_cl_model_free(m);
    free(truth);
    cc_series_free(&s);
}

int main(void)
{
    test_features();
    test_predict();
    test_train();
    if (cc_test_failures)
        fprintf(stderr, "%d failure(s)\n", cc_test_failures);
    return cc_test_failures ? 1 : 0;
}
