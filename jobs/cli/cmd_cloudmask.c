/* clearcube cloudmask: the Sentinel-2 cloud and shadow mask (pipeline/atmos/cloudmask.h)
 * of a scene as a GeoTIFF, and its evaluation against a reference mask (Sen2Cor
 * SCL or Fmask): precision, recall, F1 and IoU for cloud and shadow, overall
 * accuracy. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "io/s2/scene.h"
#include "jobs/cli/cli.h"
#include "pipeline/cloudless/cloudmask_run.h"

void cc_cmd_cloudmask_help(void)
{
    printf("Usage: clearcube cloudmask SCENE --out MASK.tif [options]\n"
           "       clearcube cloudmask SCENE --out MASK.tif --reference REF --ref-kind scl|fmask [--json OUT]\n"
           "       clearcube cloudmask --pred MASK.tif --reference REF --ref-kind scl|fmask [--json OUT]\n\n"
           "Writes a cloud and shadow mask (GeoTIFF, uint8, colour table; 0 nodata, 1 clear,\n"
           "2 cloud, 3 shadow, 4 snow, 5 water) on the scene's grid. Method 'score': the\n"
           "dsen2-cr cloud score (min of rescaled B2, B1, B1+B10, B2+B3+B4, NDSI; 5x5 closing,\n"
           "7x7 mean, threshold) and shadow test, on TOA (L1C) or, documented, BOA (L2A)\n"
           "reflectance; features whose band is absent are dropped. Method 'scl': the\n"
           "Sen2Cor scene classification mapped to the classes (docs/cloudmask.md).\n"
           "With --reference the mask is compared with REF (same grid: same size,\n"
           "geotransform and CRS) and the scores printed (and written with --json).\n\n"
           "Options:\n"
           "  -o, --out MASK.tif        output mask (written atomically)\n"
           "  --method auto|score|scl   auto (default): scl when --scl is given or the\n"
           "                            scene brings an SCL layer, score otherwise\n"
           "  --scl SCL.tif             Sen2Cor SCL on the output grid (implies scl in auto)\n"
           "  --resolution M            output grid spacing in metres (default: finest band)\n"
           "  --threshold T             cloud score threshold (default 0.2)\n"
           "  --cloud-buffer M          dilate clouds by M metres (default 0)\n"
           "  --shadow-buffer M         dilate shadows by M metres (default 0)\n"
           "  --shadow-search M         shadows only within M metres of a cloud (default\n"
           "                            6000; 0 = anywhere, as in dsen2-cr)\n"
           "  --no-snow-water           no snow (4) and water (5) classes\n"
           "  --red-proxy               B4 stands in for missing B2/B3 (red/NIR/SWIR inputs)\n"
           "  --closing N --mean N      score windows in pixels (default: 50 m and 70 m on the\n"
           "                            ground, i.e. dsen2-cr's 5 and 7 px at 10 m, 3 and 3 at 20 m)\n"
           "  --pred MASK.tif           evaluate an existing mask (no SCENE)\n"
           "  --reference, --ref REF    reference mask to evaluate against\n"
           "  --ref-kind scl|fmask      how to read REF (Sen2Cor SCL codes or Fmask codes)\n"
           "  --json OUT.json           write the scores as JSON\n"
           CC_CLI_SCENE_OPTIONS_HELP);
}

static void print_scores(const cc_cloudmask_scores *s)
{
    printf("| class | precision | recall | F1 | IoU | TP | FP | FN |\n|---|---|---|---|---|---|---|---|\n");
    const cc_cloudmask_class_score *c[2] = {&s->cloud, &s->shadow};
    for (int k = 0; k < 2; k++)
        printf("| %s | %.3f | %.3f | %.3f | %.3f | %llu | %llu | %llu |\n", k ? "shadow" : "cloud",
               c[k]->precision, c[k]->recall, c[k]->f1, c[k]->iou, (unsigned long long)c[k]->tp,
               (unsigned long long)c[k]->fp, (unsigned long long)c[k]->fn);
    printf("\noverall accuracy (cloud / shadow / other): %.4f over %llu pixels valid in both\n",
           s->overall_accuracy, (unsigned long long)s->n);
}

int cc_cmd_cloudmask(int argc, char **argv)
{
    enum { O_SCL = CC_OPT_SCENE_LAST + 1, O_METHOD, O_RES, O_THR, O_CBUF, O_SBUF, O_SSEARCH, O_NOSW, O_PROXY,
           O_PRED, O_REF, O_KIND, O_JSON, O_CLOSING, O_MEAN };
    static const struct option longopts[] = {
        {"out", required_argument, 0, 'o'},           {"help", no_argument, 0, 'h'},
        {"scl", required_argument, 0, O_SCL},         {"method", required_argument, 0, O_METHOD},
        {"resolution", required_argument, 0, O_RES},  {"threshold", required_argument, 0, O_THR},
        {"cloud-buffer", required_argument, 0, O_CBUF}, {"shadow-buffer", required_argument, 0, O_SBUF},
        {"shadow-search", required_argument, 0, O_SSEARCH}, {"no-snow-water", no_argument, 0, O_NOSW},
        {"red-proxy", no_argument, 0, O_PROXY},       {"pred", required_argument, 0, O_PRED},
        {"reference", required_argument, 0, O_REF},   {"ref", required_argument, 0, O_REF},
        {"ref-kind", required_argument, 0, O_KIND},   {"json", required_argument, 0, O_JSON},
        {"closing", required_argument, 0, O_CLOSING}, {"mean", required_argument, 0, O_MEAN},
        CC_CLI_SCENE_LONGOPTS,                        {0, 0, 0, 0}};
    cc_scene_options so;
    cc_scene_options_init(&so);
    cc_cloudmask_options co;
    cc_cloudmask_options_init(&co);
    const char *out = NULL, *scl_path = NULL, *method = "auto", *pred_path = NULL, *ref_path = NULL,
               *kind = NULL, *json_path = NULL;
    double res = 0.0, closing = NAN, meanw = NAN;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        int r = cc_cli_scene_option(c, optarg, &so);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        switch (c) {
        case 'o': out = optarg; break;
        case 'h': cc_cmd_cloudmask_help(); return 0;
        case O_SCL: scl_path = optarg; break;
        case O_METHOD: method = optarg; break;
        case O_RES: if (cc_cli_parse_double("resolution", optarg, &res)) return 2; break;
        case O_THR: if (cc_cli_parse_double("threshold", optarg, &co.threshold)) return 2; break;
        case O_CBUF: if (cc_cli_parse_double("cloud-buffer", optarg, &co.cloud_buffer_m)) return 2; break;
        case O_SBUF: if (cc_cli_parse_double("shadow-buffer", optarg, &co.shadow_buffer_m)) return 2; break;
        case O_SSEARCH: if (cc_cli_parse_double("shadow-search", optarg, &co.shadow_search_m)) return 2; break;
        case O_NOSW: co.snow_water = 0; break;
        case O_PROXY: co.red_proxy = 1; break;
        case O_PRED: pred_path = optarg; break;
        case O_REF: ref_path = optarg; break;
        case O_KIND: kind = optarg; break;
        case O_JSON: json_path = optarg; break;
        case O_CLOSING: if (cc_cli_parse_double("closing", optarg, &closing)) return 2; break;
        case O_MEAN: if (cc_cli_parse_double("mean", optarg, &meanw)) return 2; break;
        default:
            fprintf(stderr, "clearcube: error: cloudmask: bad option (see clearcube cloudmask --help)\n");
            return 2;
        }
    }
    const char *scene_path = optind < argc ? argv[optind] : NULL;
    if (optind + 1 < argc || (!scene_path && !pred_path) || (scene_path && pred_path)) {
        fprintf(stderr, "clearcube: error: cloudmask: need one SCENE (or --pred MASK without a scene; see "
                        "clearcube cloudmask --help)\n");
        return 2;
    }
    if (scene_path && !out) {
        fprintf(stderr, "clearcube: error: cloudmask: need --out MASK.tif\n");
        return 2;
    }
    if (strcmp(method, "auto") && strcmp(method, "score") && strcmp(method, "scl")) {
        fprintf(stderr, "clearcube: error: cloudmask: --method: '%s' is not auto, score or scl\n", method);
        return 2;
    }
    if ((ref_path || pred_path || json_path) &&
        (!ref_path || !kind || (strcmp(kind, "scl") && strcmp(kind, "fmask")))) {
        fprintf(stderr, "clearcube: error: cloudmask: evaluation needs --reference REF and --ref-kind scl|fmask\n");
        return 2;
    }
    if ((!isnan(closing) && !(closing >= 1 && closing == floor(closing) && fmod(closing, 2) == 1)) ||
        (!isnan(meanw) && !(meanw >= 1 && meanw == floor(meanw) && fmod(meanw, 2) == 1))) {
        fprintf(stderr, "clearcube: error: cloudmask: --closing and --mean must be odd pixel counts >= 1\n");
        return 2;
    }
    if (!(res >= 0.0) || !(co.threshold >= 0.0) || co.cloud_buffer_m < 0 || co.shadow_buffer_m < 0 ||
        co.shadow_search_m < 0) {
        fprintf(stderr, "clearcube: error: cloudmask: --resolution, --threshold and the distances must be >= 0\n");
        return 2;
    }

    cc_cloudmask_run_args ra = {.scene_path = scene_path, .so = &so, .out = out, .method = method,
                                .scl_path = scl_path, .resolution = res, .closing = closing, .mean = meanw,
                                .co = co, .pred_path = pred_path, .ref_path = ref_path, .ref_kind = kind,
                                .json_path = json_path};
    cc_cloudmask_run_result r;
    cc_status st = cc_cloudmask_run(&ra, &r);
    if (st != CC_OK) {
        fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
        return cc_status_exit_code(st);
    }
    if (ref_path)
        print_scores(&r.scores);
    if (out && scene_path)
        cc_info("wrote %s", out);
    if (json_path)
        cc_info("wrote %s", json_path);
    return 0;
}
