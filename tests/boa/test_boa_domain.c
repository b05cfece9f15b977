/* The training domain of Rapid BoA (pipeline/boa/domain.h) and the quality
 * layer's bookkeeping (pipeline/boa/quality.h), issue 13:
 *   - fit on synthetic training pixels (correlated bands, independent context):
 *     the training pixels are (almost all) in; a typical pixel is in; a TOA far
 *     beyond the brightest training pixel and a sun lower than any training
 *     scene are outside the box; a spectrum whose bands contradict the training
 *     correlation (each band in range) is outside the distance only;
 *   - the vectorised DN path gives the same flags as the scalar one;
 *   - /domain round trip through the model file, the content hash unchanged;
 *   - an old model file (no /domain) loads with the derived box;
 *   - damaged /domain attributes: one clear error each;
 *   - quality windows: flags and counts of a core inside a read window with a
 *     halo; the fallback refused without a scene context. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/reflectance.h"
#include "io/model_extra.h"
#include "io/model_file.h"
#include "pipeline/boa/boa.h"
#include "pipeline/boa/domain.h"
#include "pipeline/boa/quality.h"
#include "testutil.h"

#define NTRAIN 40000
#define NB CC_BOA_NBANDS

static uint64_t rng = 88172645463325252ull;
static double urand(void) /* xorshift64, [0, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

/* Synthetic training pixel: a surface brightness r and a smooth spectral
 * slope shared by all bands (so bands are strongly correlated), context in
 * the ranges of a small training set. */
typedef struct {
    int nch;
    float *v; /* NTRAIN x nch */
} train_set;

static void make_pixel(int nch, float *v)
{
    double r = 0.03 + 0.35 * urand(), slope = 0.4 * urand() - 0.2;
    for (int k = 0; k < NB; k++)
        v[k] = (float)(r * (1.0 + slope * (k - 5.5) / 5.5) + 0.004 * (urand() - 0.5));
    cc_boa_context cx = {.mu_s = 0.55 + 0.3 * urand(), .mu_v = 0.985 + 0.014 * urand(),
                         .cos_raa = 2 * urand() - 1, .aot550 = 0.05 + 0.4 * urand(), .wv = 0.5 + 2.5 * urand(),
                         .p_rel = 0.85 + 0.15 * urand(), .o3 = 0.25 + 0.2 * urand()};
    float f[CC_BOA_NCTX];
    cc_boa_context_features(&cx, f);
    for (int c = NB; c < nch; c++)
        v[c] = f[c - NB];
}

static void pixel_cb(void *ctx, size_t i, float *v)
{
    const train_set *t = ctx;
    memcpy(v, t->v + i * t->nch, (size_t)t->nch * sizeof *v);
}

/* A model with the training set's normalisation (the weights do not matter). */
static void make_model(const train_set *t, cc_nn_model *m)
{
    cc_boa_arch a = {.nhidden = 1, .hidden = {8}, .act = CC_ACT_RELU, .out_scale = 0.1f};
    for (int c = 0; c < t->nch; c++) {
        double s = 0, s2 = 0;
        for (int i = 0; i < NTRAIN; i++) {
            s += t->v[(size_t)i * t->nch + c];
            s2 += (double)t->v[(size_t)i * t->nch + c] * t->v[(size_t)i * t->nch + c];
        }
        double mu = s / NTRAIN, var = s2 / NTRAIN - mu * mu;
        a.mean[c] = (float)mu;
        a.std[c] = (float)(var > 1e-8 ? sqrt(var) : 1e-2);
    }
    CHECK_OK(cc_boa_model_build(&a, m));
}

static void normalise(const cc_nn_model *m, const float *v, float *x)
{
    for (int c = 0; c < m->input.nchannels; c++)
        x[c] = (v[c] - m->input.mean[c]) / m->input.std[c];
}

static int flag_raw(const cc_nn_model *m, const cc_boa_domain *d, const float *v)
{
    float x[CC_BOA_DOMAIN_MAXCH];
    normalise(m, v, x);
    return cc_boa_domain_flag(d, x, NULL);
}

/* DN of raw value v in the model's input convention */
static uint16_t dn_of(const cc_nn_model *m, float v)
{
    return cc_refl_encode(v, -m->input.dn_offset, m->input.quantification);
}

static void test_fit(const train_set *t, const cc_nn_model *m, cc_boa_domain *d)
{
    CHECK_OK(cc_boa_domain_fit(m, pixel_cb, (void *)t, NTRAIN, d));
    CHECK(d->nch == t->nch && d->has_dist && !d->derived && d->threshold > 0);
    size_t out = 0;
    for (int i = 0; i < NTRAIN; i++)
        out += flag_raw(m, d, t->v + (size_t)i * t->nch) != CC_BOA_DOM_IN;
    printf("training pixels outside: %zu of %d; threshold d = %.3f\n", out, NTRAIN, d->threshold);
    CHECK(out <= NTRAIN / 1000); /* by construction about 2e-4 */

    float v[CC_BOA_DOMAIN_MAXCH];
    make_pixel(t->nch, v); /* a new pixel from the same distribution */
    for (int k = 0; k < NB; k++)
        v[k] = (float)(0.15 * (1.0 + 0.05 * (k - 5.5) / 5.5));
    CHECK(flag_raw(m, d, v) == CC_BOA_DOM_IN);
    float bright[CC_BOA_DOMAIN_MAXCH];
    memcpy(bright, v, sizeof v);
    for (int k = 0; k < NB; k++)
        bright[k] = 1.2f; /* TOA far beyond the brightest training pixel (0.45) */
    CHECK(flag_raw(m, d, bright) == CC_BOA_DOM_BOX);
    float lowsun[CC_BOA_DOMAIN_MAXCH];
    memcpy(lowsun, v, sizeof v);
    lowsun[NB] = (float)(cos(78 * 3.14159265358979 / 180) + 1); /* mu_s 0.21, training 0.55..0.85 */
    CHECK(flag_raw(m, d, lowsun) == CC_BOA_DOM_BOX);
    float odd[CC_BOA_DOMAIN_MAXCH]; /* blue bright, the rest dark: each band in range, never together */
    memcpy(odd, v, sizeof v);
    for (int k = 0; k < NB; k++)
        odd[k] = k == 1 ? 0.30f : 0.06f;
    float dist;
    float x[CC_BOA_DOMAIN_MAXCH];
    normalise(m, odd, x);
    CHECK(cc_boa_domain_flag(d, x, &dist) == CC_BOA_DOM_DIST);
    printf("odd spectrum: d = %.2f (threshold %.2f)\n", dist, d->threshold);

    /* the DN path (blocks of pixels) agrees with the scalar one */
    const float *cases[4] = {v, bright, lowsun, odd};
    int nch = t->nch, n = 200;
    uint16_t *px = malloc((size_t)n * nch * sizeof *px);
    uint8_t *fl = malloc((size_t)n);
    cc_boa_domain_bind(d, &m->input);
    int agree = 1;
    for (int i = 0; i < n; i++) {
        float w[CC_BOA_DOMAIN_MAXCH];
        if (i < 4)
            memcpy(w, cases[i], sizeof w);
        else
            make_pixel(nch, w);
        for (int c = 0; c < nch; c++)
            px[(size_t)i * nch + c] = dn_of(m, w[c]);
    }
    cc_boa_domain_flag_dn(d, px, (size_t)nch, (size_t)n, fl, NULL);
    for (int i = 0; i < n; i++) {
        float w[CC_BOA_DOMAIN_MAXCH], xx[CC_BOA_DOMAIN_MAXCH];
        for (int c = 0; c < nch; c++) /* the decoded DN, so both see the same value */
            w[c] = (float)cc_refl_decode(px[(size_t)i * nch + c], m->input.dn_offset, m->input.quantification);
        normalise(m, w, xx);
        agree &= fl[i] == cc_boa_domain_flag(d, xx, NULL);
    }
    CHECK(agree);
    CHECK(fl[0] == CC_BOA_DOM_IN && fl[1] == CC_BOA_DOM_BOX && fl[2] == CC_BOA_DOM_BOX && fl[3] == CC_BOA_DOM_DIST);
    free(px);
    free(fl);
}

/* the message is one line and contains each of the words */
static void check_error(const char *what, cc_status st, const char *w1, const char *w2)
{
    const char *msg = cc_error_message();
    int ok = st != CC_OK && !strchr(msg, '\n') && strstr(msg, w1) && (!w2 || strstr(msg, w2));
    if (!ok)
        fprintf(stderr, "FAIL %s: status %d, message '%s'\n", what, (int)st, msg);
    else
        printf("ok   %s: %s\n", what, msg);
    CHECK(ok);
}

static void test_files(const cc_nn_model *m, const cc_boa_domain *d, const char *dir)
{
    char path[4096], old[4096], bad[4096];
    snprintf(path, sizeof path, "%s/with_domain.h5", dir);
    snprintf(old, sizeof old, "%s/old.h5", dir);
    snprintf(bad, sizeof bad, "%s/bad.h5", dir);
    CHECK_OK(cc_boa_domain_write_model(path, m, "test", d));
    CHECK_OK(cc_model_file_write(old, m, "test"));
    cc_nn_model r;
    CHECK_OK(cc_model_file_read(path, &r)); /* the model reader ignores /domain */
    CHECK(strcmp(r.content_hash, m->content_hash) == 0);
    cc_boa_domain e;
    CHECK_OK(cc_boa_domain_read(path, &r, &e));
    CHECK(!e.derived && e.has_dist && e.nch == d->nch && e.threshold == d->threshold);
    CHECK(memcmp(e.lower, d->lower, sizeof e.lower) == 0 && memcmp(e.cov, d->cov, sizeof e.cov) == 0);
    CHECK(memcmp(e.winv, d->winv, sizeof e.winv) == 0);
    cc_nn_model_free(&r);

    /* old file: loads, box of the normalisation */
    CHECK_OK(cc_model_file_read(old, &r));
    CHECK_OK(cc_boa_domain_read(old, &r, &e));
    CHECK(e.derived && !e.has_dist && e.lower[0] == -6.0f && e.upper[e.nch - 1] == 6.0f);
    cc_nn_model_free(&r);

    /* damaged groups: a valid set of attributes with one changed */
    int n = d->nch, version = CC_BOA_DOMAIN_VERSION, two = 2;
    char names[512] = "";
    for (int c = 0; c < n; c++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", c ? "," : "", d->channels[c]);
    float lo_bad[CC_BOA_DOMAIN_MAXCH], cov_bad[CC_BOA_DOMAIN_MAXCH * CC_BOA_DOMAIN_MAXCH];
    memcpy(lo_bad, d->lower, sizeof lo_bad);
    lo_bad[3] = d->upper[3] + 1;
    memcpy(cov_bad, d->cov, sizeof cov_bad);
    cov_bad[0] = -1; /* not positive definite */
    double thr = d->threshold, neg = -1, ridge = d->ridge, np = d->npix;
    cc_model_extra_attr a[] = {
        {"format_version", CC_MX_I32, 1, &version}, {"channels", CC_MX_STR, 1, names},
        {"lower", CC_MX_F32, n, d->lower},           {"upper", CC_MX_F32, n, d->upper},
        {"center", CC_MX_F32, n, d->center},         {"covariance", CC_MX_F32, n * n, d->cov},
        {"ridge", CC_MX_F64, 1, &ridge},             {"mahalanobis_threshold", CC_MX_F64, 1, &thr},
        {"n_pixels", CC_MX_F64, 1, &np}};
    int na = (int)(sizeof a / sizeof *a);
    struct {
        const char *what;
        int idx;
        cc_model_extra_attr repl;
        const char *w1, *w2;
    } cases[] = {
        {"lower > upper", 2, {"lower", CC_MX_F32, n, lo_bad}, "lower > upper", "B04"},
        {"short array", 3, {"upper", CC_MX_F32, n - 1, d->upper}, "'upper'", "expected"},
        {"string for a number", 7, {"mahalanobis_threshold", CC_MX_STR, 1, "big"}, "mahalanobis_threshold",
         "not a number"},
        {"negative threshold", 7, {"mahalanobis_threshold", CC_MX_F64, 1, &neg}, "mahalanobis_threshold", NULL},
        {"covariance", 5, {"covariance", CC_MX_F32, n * n, cov_bad}, "covariance", NULL},
        {"channels", 1, {"channels", CC_MX_STR, 1, "B01,B02"}, "channels", NULL},
        {"version", 0, {"format_version", CC_MX_I32, 1, &two}, "format_version 2", NULL},
        {"missing", 8, {"n_pix", CC_MX_F64, 1, &np}, "no attribute 'n_pixels'", NULL},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        cc_model_extra_attr b[sizeof a / sizeof *a];
        memcpy(b, a, sizeof a);
        b[cases[k].idx] = cases[k].repl;
        CHECK_OK(cc_model_file_write_extra(bad, m, "test", "domain", b, na));
        CHECK_OK(cc_model_file_read(bad, &r));
        cc_status st = cc_boa_domain_read(bad, &r, &e);
        check_error(cases[k].what, st, bad, cases[k].w1);
        if (cases[k].w2)
            CHECK(strstr(cc_error_message(), cases[k].w2) != NULL);
        cc_nn_model_free(&r);
    }
    cc_nn_model_free(&r);
    unlink(path);
    unlink(old);
    unlink(bad);
}

/* Quality windows: a 4x3 read window whose core is written in two parts. */
static void test_quality(const cc_nn_model *m, const cc_boa_domain *d)
{
    int nch = d->nch, w = 4, h = 3;
    uint16_t in[12 * CC_BOA_DOMAIN_MAXCH], net[12 * NB];
    float v[CC_BOA_DOMAIN_MAXCH];
    make_pixel(nch, v);
    for (int k = 0; k < NB; k++)
        v[k] = 0.15f;
    for (int p = 0; p < w * h; p++) {
        for (int c = 0; c < nch; c++)
            in[p * nch + c] = dn_of(m, v[c]);
        for (int k = 0; k < NB; k++)
            net[p * NB + k] = (uint16_t)(2000 + p);
    }
    for (int k = 0; k < NB; k++)
        in[5 * nch + k] = dn_of(m, 1.2f); /* pixel 5 (1, 1): out of domain */
    in[6 * nch + 3] = 0;                  /* pixel 6: nodata */
    in[7 * nch + 4] = 65535;              /* pixel 7: saturated */
    cc_nn_model mm = *m;
    cc_boa_quality *q = NULL;
    /* the fallback needs a scene context: without one it is refused */
    cc_status st = cc_boa_quality_start(d, &mm, CC_BOA_FALLBACK_REFERENCE, NULL, &q);
    check_error("fallback without context", st, "--fallback reference", NULL);
    /* (the recomputed values against `clearcube reference`: tests/boa/boa_quality.sh) */
    CHECK_OK(cc_boa_quality_start(d, &mm, CC_BOA_FALLBACK_NONE, NULL, &q));
    if (!q)
        return;
    /* the read window has a halo row on top; the core is its lower two rows */
    CHECK_OK(cc_boa_quality_read(q, 10, 20, w, h, in));
    const uint16_t *out;
    CHECK_OK(cc_boa_quality_write(q, 10, 21, w, h - 1, net + w * NB, &out));
    for (int p = 0; p < w * (h - 1); p++) {
        int g = p + w; /* pixel of the read window */
        int want = g == 5 ? CC_BOA_Q_OUT : g == 6 ? CC_BOA_Q_NODATA : g == 7 ? CC_BOA_Q_SATURATED : CC_BOA_Q_IN;
        CHECK(out[p * (NB + 1) + NB] == want);
        CHECK(memcmp(out + p * (NB + 1), net + g * NB, NB * sizeof *out) == 0);
    }
    cc_boa_quality_counts c;
    cc_boa_quality_get_counts(q, &c);
    CHECK(c.in == 5 && c.out == 1 && c.out_box == 1 && c.fallback == 0 && c.nodata == 1 && c.saturated == 1);
    /* a core the reader never saw: an error, not a crash */
    st = cc_boa_quality_write(q, 0, 0, 2, 2, net, &out);
    check_error("unknown window", st, "no flags", NULL);
    cc_boa_quality_free(q);
}

int main(void)
{
    cc_nn_model m;
    train_set t;
    t.nch = CC_BOA_NIN;
    t.v = malloc((size_t)NTRAIN * t.nch * sizeof *t.v);
    for (int i = 0; i < NTRAIN; i++)
        make_pixel(t.nch, t.v + (size_t)i * t.nch);
    make_model(&t, &m);
    m.input.dn_offset = -1000; /* the product conventions of the tests */
    cc_boa_domain d;
    test_fit(&t, &m, &d);
    test_files(&m, &d, cc_test_tmpdir("boa_domain"));
    test_quality(&m, &d);
    cc_nn_model_free(&m);
    free(t.v);
    if (cc_test_failures) {
        fprintf(stderr, "%d failure(s)\n", cc_test_failures);
        return 1;
    }
    printf("PASS test_boa_domain\n");
    return 0;
}
