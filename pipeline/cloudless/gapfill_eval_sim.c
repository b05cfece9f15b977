/* gapfill-eval on the SIMULATED multi-sensor "test" split
 * (pipeline/cloudless/gapfill_eval_sim.h): target days, donor cloud masks, the
 * scores of the three methods and the per-sensor ablation of the model. */
#define _GNU_SOURCE
#include "pipeline/cloudless/gapfill_eval_sim.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/fs.h"
#include "pipeline/cloudless/cloudless_sim.h"
#include "pipeline/cloudless/gapfill_eval.h"

static json_t *scores_json(const cc_gapfill_method_acc *a)
{
    cc_gapfill_scores s;
    cc_gapfill_metrics_get(&a->all, &s);
#define JN(v) (isfinite(v) ? json_real(v) : json_null())
    return json_pack("{s:o, s:o, s:o, s:o, s:f}", "psnr", JN(s.psnr), "mae", JN(s.mae), "rmse", JN(s.rmse), "sam",
                     JN(s.sam_deg), "n", s.n);
#undef JN
}

/* Simulated "test" split: targets = S2 days with >= 30 % clear pixels; each
 * hides the clear pixels under the cloud mask of another S2 day (the next one
 * with >= 10 % cloud, cyclically). */
static cc_status sim_targets(const cc_series *s, int **targets, uint8_t **hide, int *ntargets, unsigned long seed)
{
    const size_t np = s->npix;
    int *cl = calloc((size_t)s->ndays, sizeof(int)), *days = malloc((size_t)s->ndays * sizeof(int));
    *targets = NULL;
    *hide = NULL;
    *ntargets = 0;
    if (!cl || !days) {
        free(cl);
        free(days);
        return cc_error_set(CC_ERR_NOMEM, "gapfill-eval: out of memory");
    }
    /* S2 acquisition days: any pixel observed or a cloudy day of the revisit
     * (a day with no S2 pixel at all is not an acquisition we can tell) */
    int nacq = 0;
    for (int d = 0; d < s->ndays; d++) {
        for (size_t p = 0; p < np; p++)
            cl[d] += !isnan(s->s2[((size_t)d * np + p) * CC_CL_NBANDS + 2]);
        if (cl[d] > 0)
            days[nacq++] = d;
    }
    cc_status st = CC_OK;
    int nt = 0;
    int *tg = malloc((size_t)nacq * sizeof(int) + 1);
    uint8_t *h = calloc((size_t)nacq * np + 1, 1);
    if (!tg || !h) {
        st = cc_error_set(CC_ERR_NOMEM, "gapfill-eval: out of memory");
        goto out;
    }
    for (int i = 0; i < nacq; i++) {
        int d = days[i];
        if (cl[d] < 0.3 * (double)np)
            continue;
        int donor = -1;
        for (int k = 1; k < nacq && donor < 0; k++) {
            int e = days[(i + k + (int)(seed % 7)) % nacq];
            if (e != d && np - (size_t)cl[e] >= 0.1 * (double)np)
                donor = e;
        }
        if (donor < 0)
            continue;
        for (size_t p = 0; p < np; p++)
            h[(size_t)nt * np + p] = isnan(s->s2[((size_t)donor * np + p) * CC_CL_NBANDS + 2]);
        tg[nt++] = d;
    }
    if (nt == 0) {
        st = cc_error_set(CC_ERR_NODATA, "gapfill-eval: no simulated target day (no S2 day with >= 30%% clear)");
        goto out;
    }
    *targets = tg;
    *hide = h;
    *ntargets = nt;
    tg = NULL;
    h = NULL;
out:
    free(tg);
    free(h);
    free(cl);
    free(days);
    return st;
}

cc_status cc_gapfill_eval_simulated(const cc_cl_model *m, const char *datasets, const char *eotif, int ndays,
                                    unsigned long seed, const char *json_out)
{
    cc_cl_sim_options so;
    cc_cl_sim_options_init(&so);
    so.datasets = datasets;
    so.eolearn_tif = eotif;
    so.seed = seed;
    so.split = "test";
    if (ndays > 0)
        so.ndays = ndays;
    cc_series s, abl;
    memset(&abl, 0, sizeof abl);
    float *truth = NULL;
    int w = 0, h = 0, nt = 0;
    int *targets = NULL;
    uint8_t *hide = NULL;
    long *tdays = NULL;
    json_t *root = NULL;
    char *text = NULL;
    cc_status st = cc_cl_sim_generate(&so, &s, &truth, &w, &h);
    if (st != CC_OK)
        return st;
    if ((st = sim_targets(&s, &targets, &hide, &nt, seed)) != CC_OK)
        goto out;
    cc_gapfill_eval_methods me = {.linear = 1, .whittaker = 1, .whittaker_lambda = 100, .whittaker_d = 2,
                                  .model = cc_cl_predictor, .model_ctx = (void *)m, .width = w, .height = h};
    cc_gapfill_eval_result r;
    cc_gapfill_eval_result_init(&r);
    if ((st = cc_gapfill_eval_series(&s, truth, targets, nt, hide, &me, &r)) != CC_OK)
        goto out;
    if (!(tdays = malloc((size_t)nt * sizeof(long)))) {
        st = cc_error_set(CC_ERR_NOMEM, "gapfill-eval: out of memory");
        goto out;
    }
    for (int k = 0; k < nt; k++)
        tdays[k] = s.day0 + targets[k];
    if ((st = cc_gapfill_eval_json_write(&r, seed, tdays, nt, CC_CL_SIM_LABEL " multi-sensor series, \"test\" split",
                                         json_out)) != CC_OK)
        goto out;
    /* ablation: the model with each sensor removed in turn */
    json_error_t je;
    if (!(root = json_load_file(json_out, 0, &je))) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot read back: %s", json_out, je.text);
        goto out;
    }
    json_t *ab = json_object();
    json_object_set_new(root, "ablation", ab);
    json_object_set_new(root, "whittaker_lambda", json_real(100));
    static const cc_sensor rm[3] = {CC_SENSOR_LANDSAT, CC_SENSOR_OLCI, CC_SENSOR_S1};
    for (int i = 0; i < 3; i++) {
        abl = s;
        size_t nv = (size_t)s.ndays * s.npix * (rm[i] == CC_SENSOR_S1 ? CC_CL_NS1 : CC_CL_NBANDS);
        float *nanarr = malloc(nv * sizeof(float));
        if (!nanarr) {
            st = cc_error_set(CC_ERR_NOMEM, "gapfill-eval: out of memory");
            goto out;
        }
        for (size_t k = 0; k < nv; k++)
            nanarr[k] = NAN;
        if (rm[i] == CC_SENSOR_LANDSAT)
            abl.landsat = nanarr;
        else if (rm[i] == CC_SENSOR_OLCI)
            abl.olci = nanarr;
        else
            abl.s1 = nanarr;
        cc_gapfill_eval_methods ma = {.model = cc_cl_predictor, .model_ctx = (void *)m, .width = 0, .height = 0};
        cc_gapfill_eval_result ra;
        cc_gapfill_eval_result_init(&ra);
        st = cc_gapfill_eval_series(&abl, truth, targets, nt, hide, &ma, &ra);
        free(nanarr);
        if (st != CC_OK)
            goto out;
        char key[32];
        snprintf(key, sizeof key, "without_%s", cc_sensor_name(rm[i]));
        json_object_set_new(ab, key, scores_json(&ra.method[CC_GAPFILL_MODEL]));
    }
    /* json_dumps gives the bytes json_dump_file wrote */
    if (!(text = json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(8)))) {
        st = cc_error_set(CC_ERR_NOMEM, "gapfill-eval: out of memory");
        goto out;
    }
    if ((st = cc_fs_write_atomic(json_out, text, strlen(text))) != CC_OK)
        goto out;
out:
    if (st != CC_OK && root)
        remove(json_out);
    free(text);
    json_decref(root);
    free(tdays);
    free(targets);
    free(hide);
    free(truth);
    cc_series_free(&s);
    return st;
}
