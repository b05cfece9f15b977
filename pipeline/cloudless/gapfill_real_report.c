/* clearcube: the leave-one-series-out run of `clearcube gapfill-eval --loo`
 * (gapfill_real.h): folds, JSON report, model file and pictures. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/date.h"
#include "core/log.h"
#include "pipeline/cloudless/gapfill_real.h"
#include "pipeline/cloudless/kalman_model.h"
#include "pipeline/report/plot.h"

static json_t *jnum(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *params_json(const cc_gfr_fit *f)
{
    json_t *o = json_object();
    for (int b = 0; b < CC_CL_NBANDS; b++) {
        json_t *jb = json_object();
        cc_kf_params p = f->params;
        for (int i = 0; i < CC_KF_NPARAMS; i++)
            json_object_set_new(jb, cc_kf_param_names[i], jnum(cc_kf_param_array(&p, i)[b]));
        json_object_set_new(jb, "grid_point", json_integer(f->grid[b]));
        json_object_set_new(jb, "whittaker_lambda", jnum(f->lambda[b]));
        json_object_set_new(jb, "train_rmse_kalman", jnum(f->train_rmse_kf[b]));
        json_object_set_new(jb, "train_rmse_linear", jnum(f->train_rmse_lin[b]));
        json_object_set_new(jb, "train_rmse_whittaker", jnum(f->train_rmse_wh[b]));
        json_t *jw = json_array();
        for (int j = 0; j < CC_GAPFILL_NSTRATA; j++) {
            json_t *pair = json_array();
            json_array_append_new(pair, jnum(f->w[b][j][0]));
            json_array_append_new(pair, jnum(f->w[b][j][1]));
            json_array_append_new(jw, pair);
        }
        json_object_set_new(jb, "correction_w_linear_whittaker_by_stratum", jw);
        json_object_set_new(o, cc_cl_band_names[b], jb);
    }
    json_t *rc = json_object(), *cv = json_array();
    for (int k = 0; k < CC_GFR_NRIDGE; k++) json_array_append_new(cv, jnum(f->ridge_cv_sse[k]));
    json_object_set_new(rc, "ridge", isfinite(cc_gfr_ridge[f->ridge]) ? json_real(cc_gfr_ridge[f->ridge]) : json_string("none (plain filter)"));
    json_object_set_new(rc, "cv_sse_by_ridge", cv);
    json_object_set_new(o, "correction", rc);
    return o;
}

static json_t *coverage_json(const cc_gfr_coverage *c)
{
    json_t *o = json_object(), *lv = json_array(), *all = json_array(), *bands = json_object();
    for (int l = 0; l < CC_GFR_NLEVELS; l++) {
        json_array_append_new(lv, json_real(cc_gfr_levels[l]));
        double in = 0, n = 0;
        for (int b = 0; b < CC_CL_NBANDS; b++) in += c->in[l][b], n += c->n[b];
        json_array_append_new(all, jnum(n > 0 ? in / n : NAN));
    }
    for (int b = 0; b < CC_CL_NBANDS; b++) {
        if (!(c->n[b] > 0)) continue;
        json_t *a = json_array();
        for (int l = 0; l < CC_GFR_NLEVELS; l++) json_array_append_new(a, jnum(c->in[l][b] / c->n[b]));
        json_object_set_new(bands, cc_cl_band_names[b], a);
    }
    json_object_set_new(o, "levels", lv);
    json_object_set_new(o, "all", all);
    json_object_set_new(o, "bands", bands);
    return o;
}

/* ---- pictures ---- */

static uint8_t to8(float v, float hi)
{
    if (isnan(v)) return 0;
    double x = sqrt(fmax(0, fmin(1, v / hi))) * 255.0; /* square-root stretch */
    return (uint8_t)(x + 0.5);
}

/* A strip of up to 4 targets: rows input (hidden pixels white, other cloud
 * grey) | model | truth, B04/B03/B02, or B11/B8A/B04 (false colour) when the
 * series has no blue (Landsat Red/NIR/SWIR1 series). */
static cc_status strip_png(const cc_gfr_series *g, const cc_gfr_targets *t, const cc_kf_params *p, const char *png)
{
    const int W = g->width, H = g->height, sc = W < 100 ? 2 : 1, pad = 6, top = 14;
    const int nt = t->n < 4 ? t->n : 4;
    const size_t npix = g->s.npix, nb = CC_CL_NBANDS;
    cc_image im = {0};
    float *seen = cc_malloc3((size_t)g->s.ndays * npix, nb, sizeof *seen), *out = cc_malloc3(npix, nb, sizeof *out);
    cc_status st = CC_ERR_NOMEM;
    if (!seen || !out || nt == 0 ||
        cc_image_new(&im, pad + 4 * (W * sc + pad) + 60, top + 3 * (H * sc + pad) + 16, 255, 255, 255) != CC_OK) {
        st = nt == 0 ? cc_error_set(CC_ERR_NODATA, "%s: no target", g->name) : cc_error_set(CC_ERR_NOMEM, "strip");
        goto out;
    }
    cc_series s = g->s;
    s.s2 = seen;
    int blue = 0;
    for (size_t i = 0; i < (size_t)g->s.ndays * npix && !blue; i++) blue = !isnan(g->s.s2[i * nb]);
    const int cr = blue ? 2 : 8, cg = blue ? 1 : 7, cb = blue ? 0 : 2; /* band indices of R, G, B */
    const float hi = blue ? 0.25f : 0.5f;
    const char *rows[3] = {"input", "model", "truth"};
    for (int r = 0; r < 3; r++) cc_image_text(&im, pad + 4 * (W * sc + pad), top + r * (H * sc + pad) + 4, rows[r], 0, 1);
    for (int k = 0; k < nt; k++) {
        int kk = (int)((long)k * t->n / nt), day = t->day[kk];
        const uint8_t *h = t->hide + (size_t)kk * npix;
        memcpy(seen, g->s.s2, (size_t)g->s.ndays * npix * nb * sizeof *seen);
        for (size_t q = 0; q < npix; q++)
            if (h[q])
                for (size_t b = 0; b < nb; b++) seen[((size_t)day * npix + q) * nb + b] = NAN;
        cc_kf_predictor_ctx c = {.params = p, .reanalysis = 1, .use_landsat = 1, .only_missing = 0};
        if ((st = cc_kf_predictor(&c, &s, day, out)) != CC_OK) goto out;
        char lab[CC_DATE_ISO_SIZE];
        cc_date_format(g->s.day0 + day, lab);
        const int ox = pad + k * (W * sc + pad);
        cc_image_text(&im, ox, 3, lab, 0, 1);
        for (int r = 0; r < 3; r++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) {
                    size_t q = (size_t)y * W + x;
                    const float *v = r == 0 ? seen + ((size_t)day * npix + q) * nb
                                     : r == 1 ? out + q * nb
                                              : g->s.s2 + ((size_t)day * npix + q) * nb;
                    uint32_t rgb;
                    if (r == 0 && h[q])
                        rgb = 0xffffff;
                    else if (isnan(v[cr]) || isnan(v[cg]) || isnan(v[cb]))
                        rgb = 0xb0b0b0;
                    else
                        rgb = (uint32_t)to8(v[cr], hi) << 16 | (uint32_t)to8(v[cg], hi) << 8 | to8(v[cb], hi);
                    cc_image_fill_rect(&im, ox + x * sc, top + r * (H * sc + pad) + y * sc, sc, sc, rgb);
                }
    }
    cc_image_text(&im, pad, im.h - 10,
                  blue ? "B04/B03/B02; input: white = hidden (transplanted cloud), grey = cloud / no value"
                       : "B11/B8A/B04 (false colour); input: white = hidden (transplanted cloud), grey = cloud / no value",
                  0, 1);
    st = cc_image_write_png(&im, png);
out:
    free(seen);
    free(out);
    cc_image_free(&im);
    return st;
}

/* The time series of one pixel (the hidden pixel seen most often), band b:
 * observations S2 / Landsat, hidden truths, model +- 1.645 sd, linear,
 * Whittaker, all with every target hidden at once. */
static cc_status pixel_png(const cc_gfr_series *g, const cc_gfr_targets *t, const cc_gfr_fit *f, int b,
                           const char *png)
{
    const size_t npix = g->s.npix, nb = CC_CL_NBANDS, stride = npix * nb;
    const int n = g->s.ndays;
    size_t best = 0;
    int bestc = -1;
    for (size_t q = 0; q < npix; q++) {
        int c = 0;
        for (int k = 0; k < t->n; k++) c += t->hide[(size_t)k * npix + q];
        if (c > bestc) bestc = c, best = q;
    }
    double *x = malloc((size_t)n * sizeof *x), *v = malloc((size_t)n * 9 * sizeof *v);
    float *y = malloc((size_t)n * 6 * sizeof *y);
    double *work = malloc((size_t)n * 10 * sizeof *work);
    uint8_t *hidden = NULL;
    cc_status st = cc_error_set(CC_ERR_NOMEM, "pixel plot: out of memory");
    if (!x || !v || !y || !work) {
        goto out;
    }
    float *tr = y + n, *est = y + 2 * n, *sd = y + 3 * n, *lin = y + 4 * n, *wh = y + 5 * n;
    hidden = calloc((size_t)n, 1);
    if (!hidden) goto out;
    for (int d = 0; d < n; d++) {
        x[d] = d;
        tr[d] = g->s.s2[(size_t)d * stride + best * nb + (size_t)b];
        y[d] = tr[d];
            }
    for (int k = 0; k < t->n; k++)
        if (t->hide[(size_t)k * npix + best]) y[t->day[k]] = NAN, hidden[t->day[k]] = 1;
    float *ls = malloc((size_t)n * sizeof *ls);
    if (!ls) goto out;
    for (int d = 0; d < n; d++) ls[d] = g->s.landsat[(size_t)d * stride + best * nb + (size_t)b];
    cc_kf_smooth_band(&f->params, b, y, g->has_landsat ? ls : NULL, n, 1, 0, n, work, est, sd);
    cc_gapfill_linear(y, n, 1, lin);
    if (cc_gapfill_whittaker(y, n, 1, f->lambda[b], 2, wh) != CC_OK) cc_gapfill_linear(y, n, 1, wh);
    double *s2o = v, *lso = v + n, *hid = v + 2 * n, *mo = v + 3 * n, *lo = v + 4 * n, *hi = v + 5 * n,
           *li = v + 6 * n, *wo = v + 7 * n;
    for (int d = 0; d < n; d++) {
        s2o[d] = isnan(y[d]) ? NAN : y[d];
        lso[d] = isnan(ls[d]) ? NAN : ls[d];
        hid[d] = hidden[d] && !isnan(tr[d]) ? tr[d] : NAN;
        mo[d] = est[d];
        lo[d] = est[d] - 1.645 * sd[d];
        hi[d] = est[d] + 1.645 * sd[d];
        li[d] = lin[d];
        wo[d] = wh[d];
    }
    free(ls);
    free(hidden);
    hidden = NULL;
    cc_plot_series ser[8] = {{"model (Kalman smoother)", x, mo, n}, {"model 90% interval", x, lo, n},
                             {"", x, hi, n},                       {"linear", x, li, n},
                             {"Whittaker", x, wo, n},              {"S2 observed", x, s2o, n},
                             {"Landsat (HLS)", x, lso, n},         {"truth (hidden S2)", x, hid, n}};
    const uint8_t pts[8] = {0, 0, 0, 0, 0, 1, 1, 1};
    char title[300], d0[CC_DATE_ISO_SIZE];
    cc_date_format(g->s.day0, d0);
    snprintf(title, sizeof title, "%s pixel (%zu, %zu) %s: every target hidden at once", g->name, best % (size_t)g->width,
             best / (size_t)g->width, cc_cl_band_names[b]);
    char xl[64];
    snprintf(xl, sizeof xl, "days since %s", d0);
    st = cc_plot_lines_styled(png, 1100, 420, title, xl, "reflectance", 0, ser, 8, pts);
out:
    free(hidden);
    free(x);
    free(v);
    free(y);
    free(work);
    return st;
}

/* The reliability plot: nominal level against the observed coverage of every
 * held-out series (and the diagonal). */
static cc_status reliability_png(const char *png, char names[][160], const cc_gfr_coverage *cov, int n)
{
    double x[CC_GFR_NLEVELS], ys[16][CC_GFR_NLEVELS];
    cc_plot_series s[17];
    int k = 0;
    for (int l = 0; l < CC_GFR_NLEVELS; l++) x[l] = cc_gfr_levels[l];
    s[k++] = (cc_plot_series){"ideal", x, x, CC_GFR_NLEVELS};
    for (int i = 0; i < n && k < 16; i++) {
        for (int l = 0; l < CC_GFR_NLEVELS; l++) {
            double in = 0, nn = 0;
            for (int b = 0; b < CC_CL_NBANDS; b++) in += cov[i].in[l][b], nn += cov[i].n[b];
            ys[i][l] = nn > 0 ? in / nn : NAN;
        }
        s[k++] = (cc_plot_series){names[i], x, ys[i], CC_GFR_NLEVELS};
    }
    return cc_plot_lines(png, 640, 480, "Reliability of the sd (held-out series, all bands)", "nominal level",
                         "hidden truths inside the interval", 0, s, k);
}

/* ---- the run ---- */

typedef struct {
    cc_gfr_series *g;
    cc_gfr_targets *t;
    cc_gfr_table *tab;
    cc_gfr_coverage *cov;
    int n;
} loo_set;

static void loo_free(loo_set *L)
{
    for (int i = 0; i < L->n; i++) {
        cc_gfr_free(&L->g[i]);
        cc_gfr_targets_free(&L->t[i]);
    }
    free(L->g), free(L->t), free(L->tab), free(L->cov);
}

static cc_status fit_on(loo_set *L, int skip, const cc_gfr_protocol *p, cc_gfr_fit *fit)
{
    cc_gfr_series *gs[64];
    cc_gfr_targets *ts[64];
    const cc_gfr_table *tb[64];
    int m = 0;
    for (int j = 0; j < L->n && m < 64; j++) {
        if (j == skip) continue;
        gs[m] = &L->g[j], ts[m] = &L->t[j], tb[m] = &L->tab[j];
        m++;
    }
    return cc_gfr_fit_run(gs, ts, tb, m, p, fit);
}

/* One fold: series i scored by the fit on the others; its JSON object. */
static cc_status fold(loo_set *L, int i, const cc_gfr_protocol *p, const char *fig_dir, json_t *folds)
{
    cc_gfr_fit fit;
    cc_status st = fit_on(L, i, p, &fit);
    if (st != CC_OK) return st;
    cc_gapfill_eval_result *r = malloc(4 * sizeof *r);
    long *tdays = malloc(((size_t)L->t[i].n + 1) * sizeof *tdays);
    if (!r || !tdays) {
        free(r), free(tdays);
        return cc_error_set(CC_ERR_NOMEM, "out of memory");
    }
    for (int k = 0; k < 4; k++) cc_gapfill_eval_result_init(&r[k]);
    memset(&L->cov[i], 0, sizeof L->cov[i]);
    const cc_gfr_series *g = &L->g[i];
    cc_log(CC_LOG_INFO, "gapfill-eval: %s held out: %d targets", g->name, L->t[i].n);
    double noise[CC_CL_NBANDS];
    st = cc_gfr_eval(g, &L->t[i], &fit, &r[0], &r[1], &r[2], &r[3], &L->cov[i], noise);
    if (st == CC_OK) {
        for (int k = 0; k < L->t[i].n; k++) tdays[k] = g->s.day0 + L->t[i].day[k];
        json_t *o = json_object(), *tr = json_array();
        for (int j = 0; j < L->n; j++)
            if (j != i) json_array_append_new(tr, json_string(L->g[j].name));
        json_object_set_new(o, "series", json_string(g->name));
        json_object_set_new(o, "spec", json_string(g->spec));
        json_object_set_new(o, "trained_on", tr);
        json_object_set_new(o, "pixels", json_integer((json_int_t)g->s.npix));
        json_object_set_new(o, "acquisitions", json_integer(g->nacq));
        json_object_set_new(o, "has_landsat", json_boolean(g->has_landsat));
        json_object_set_new(o, "params", params_json(&fit));
        json_object_set_new(o, "reanalysis", cc_gapfill_eval_result_json(&r[0], p->seed, tdays, L->t[i].n, "real"));
        json_t *nw = cc_gapfill_eval_result_json(&r[1], p->seed, tdays, L->t[i].n, "real");
        json_object_set(o, "nowcast", json_object_get(nw, "model"));
        json_decref(nw);
        if (g->has_landsat) {
            json_t *nl = cc_gapfill_eval_result_json(&r[2], p->seed, tdays, L->t[i].n, "real");
            json_object_set(o, "reanalysis_without_landsat", json_object_get(nl, "model"));
            json_decref(nl);
        }
        if (r[3].used[CC_GAPFILL_MODEL]) {
            json_t *cj = cc_gapfill_eval_result_json(&r[3], p->seed, tdays, L->t[i].n, "real");
            json_object_set(o, "reanalysis_corrected", json_object_get(cj, "model"));
            json_decref(cj);
        }
        json_object_set_new(o, "coverage", coverage_json(&L->cov[i]));
        json_t *jn = json_object();
        for (int b = 0; b < CC_CL_NBANDS; b++) json_object_set_new(jn, cc_cl_band_names[b], jnum(noise[b]));
        json_object_set_new(o, "noise_factor", jn);
        json_array_append_new(folds, o);
        if (fig_dir) {
            cc_gfr_fit fa = fit; /* the pictures' sd: calibrated as evaluated */
            for (int b = 0; b < CC_CL_NBANDS; b++) fa.params.sd_scale[b] = (float)(fa.params.sd_scale[b] * noise[b]);
            char png[4400], base[160];
            snprintf(base, sizeof base, "%s", g->name);
            for (char *c = base; *c; c++)
                if (*c == ':' || *c == '/') *c = '-';
            snprintf(png, sizeof png, "%s/strip-%s.png", fig_dir, base);
            if ((st = strip_png(g, &L->t[i], &fa.params, png)) == CC_OK) {
                const int bands[2] = {7, 2}; /* B8A, B04 */
                for (int k = 0; k < 2 && st == CC_OK; k++) {
                    snprintf(png, sizeof png, "%s/pixel-%s-%s.png", fig_dir, base, cc_cl_band_names[bands[k]]);
                    st = pixel_png(g, &L->t[i], &fa, bands[k], png);
                }
            }
        }
    }
    free(r);
    free(tdays);
    return st;
}

cc_status cc_gfr_loo(const char *const *specs, int nspecs, const cc_gfr_protocol *p, const char *json_out,
                     const char *model_out, const char *fig_dir)
{
    loo_set L = {0};
    json_t *root = NULL;
    cc_status st;
    if (nspecs < 2 || nspecs > 16)
        return cc_error_set(CC_ERR_ARG, "gapfill-eval --loo: %d series (2..16: each is scored by a fit on the others)",
                            nspecs);
    L.g = calloc((size_t)nspecs, sizeof *L.g);
    L.t = calloc((size_t)nspecs, sizeof *L.t);
    L.tab = calloc((size_t)nspecs, sizeof *L.tab);
    L.cov = calloc((size_t)nspecs, sizeof *L.cov);
    if (!L.g || !L.t || !L.tab || !L.cov) {
        st = cc_error_set(CC_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < nspecs; i++) {
        if ((st = cc_gfr_load(specs[i], &L.g[i])) != CC_OK) goto out;
        L.n = i + 1;
        if ((st = cc_gfr_targets_make(&L.g[i], p, &L.t[i])) != CC_OK) goto out;
        if (L.t[i].n == 0) {
            st = cc_error_set(CC_ERR_NODATA, "%s: no target (an acquisition with >= %.0f %% clear pixels and a donor "
                                             "cloud mask that hides one of them)", specs[i], 100 * p->min_clear);
            goto out;
        }
        cc_log(CC_LOG_INFO, "gapfill-eval: %s: %d days, %zu pixels, %d acquisitions, %d targets%s", L.g[i].name,
                    L.g[i].s.ndays, L.g[i].s.npix, L.g[i].nacq, L.t[i].n, L.g[i].has_landsat ? ", Landsat" : "");
        if ((st = cc_gfr_table_make(&L.g[i], &L.t[i], p, &L.tab[i])) != CC_OK) goto out;
    }
    root = json_object();
    json_t *folds = json_array();
    json_object_set_new(root, "folds", folds);
    for (int i = 0; i < L.n; i++)
        if ((st = fold(&L, i, p, fig_dir, folds)) != CC_OK) goto out;
    cc_gfr_fit all;
    if ((st = fit_on(&L, -1, p, &all)) != CC_OK) goto out;
    json_object_set_new(root, "fit_all_series", params_json(&all));
    json_t *pr = json_object();
    json_object_set_new(pr, "seed", json_integer((json_int_t)p->seed));
    json_object_set_new(pr, "min_clear", json_real(p->min_clear));
    json_object_set_new(pr, "min_cloud", json_real(p->min_cloud));
    json_object_set_new(pr, "max_targets", json_integer(p->max_targets));
    json_object_set_new(pr, "fit_pixel_step", json_integer(p->pixel_step));
    json_object_set_new(pr, "rule", json_string("leave one series out: each series is scored with parameters "
                                                 "(Kalman grid point, Whittaker lambda, m0/p0, sd scale) fitted on "
                                                 "the other series only"));
    json_object_set_new(root, "protocol", pr);
    if (fig_dir) {
        char png[4400];
        char (*names)[160] = malloc((size_t)L.n * sizeof *names);
        if (!names) {
            st = cc_error_set(CC_ERR_NOMEM, "out of memory");
            goto out;
        }
        for (int i = 0; i < L.n; i++) snprintf(names[i], 160, "%s", L.g[i].name);
        snprintf(png, sizeof png, "%s/reliability.png", fig_dir);
        st = reliability_png(png, names, L.cov, L.n);
        free(names);
        if (st != CC_OK) goto out;
    }
    if (model_out) {
        char note[1024];
        int o = snprintf(note, sizeof note, "fitted by clearcube gapfill-eval --loo (seed %lu) on:", p->seed);
        for (int i = 0; i < L.n && o < (int)sizeof note - 200; i++) o += snprintf(note + o, sizeof note - (size_t)o, " %s", L.g[i].name);
        if ((st = cc_kf_model_save(model_out, &all.params, note)) != CC_OK) goto out;
    }
    st = cc_gapfill_eval_json_dump(root, json_out);
out:
    json_decref(root);
    loo_free(&L);
    return st;
}
