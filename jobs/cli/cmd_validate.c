/* clearcube validate --prediction P --reference R: per-band errors of a
 * predicted L2A against a reference L2A (pipeline/boa/validate.h). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "jobs/cli/cli.h"
#include "pipeline/boa/validate.h"

void cc_cmd_validate_help(void)
{
    printf("Usage: clearcube validate --prediction P --reference R [-o PREFIX] [options]\n\n"
           "Compares a predicted L2A product with a reference L2A on the same grid: per band\n"
           "(B2 B3 B4 B5 B6 B8 B8A B11 B12, then any other common band) the number of pixels\n"
           "valid in both, MAE in DN and in %% of 12000, bias (mean prediction - reference) and\n"
           "RMSE, on reflectance DN = 10000 x rho after removing each file's DN offset; and the\n"
           "NDVI error ((B8-B4)/(B8+B4)). Prints a Markdown table; with -o also writes\n"
           "PREFIX.md, PREFIX.json, PREFIX.png (L1C | prediction | reference | |error|) and\n"
           "PREFIX-hist.png (per-band histograms of prediction - reference).\n\n"
           "P and R: clearcube NetCDF cubes (layers B01..B12 with their scale_factor/add_offset;\n"
           "the first date) or multi-band GeoTIFF stacks (band order from --*-bands or the band\n"
           "descriptions; rho = (DN + offset) / 10000 with offset from --*-dn-offset, default 0).\n"
           "DN 0 and each band's nodata value are invalid.\n\n"
           "Options:\n"
           "  --prediction P            predicted product (required)\n"
           "  --reference R             reference product (required)\n"
           "  --input L1C               L1C product for the quicklook's first panel (SAFE, .zip,\n"
           "                            GeoTIFF stack or cube)\n"
           "  -o, --output PREFIX       write PREFIX.md, .json, .png, -hist.png\n"
           "  --sample-label in-sample|out-of-sample   recorded in the report\n"
           "  --simulated               the inputs are SIMULATED data (recorded in the report)\n"
           "  --prediction-bands LIST   band order of a GeoTIFF prediction, e.g. B02,B03,B04\n"
           "  --prediction-dn-offset DN offset added to the prediction's DN (-1000 for >= 04.00)\n"
           "  --reference-bands LIST    band order of a GeoTIFF reference\n"
           "  --reference-dn-offset DN  offset added to the reference's DN\n"
           "  --input-bands LIST        band order of an L1C stack (default: 13 bands B01..B12\n"
           "                            with B8A, or 12 without B8A)\n\n"
           "Or: clearcube validate --model M.h5 --dataset D.h5 [--split val|train] [-o PREFIX]\n"
           "runs a Rapid BoA model (CPU engine) on the patches of one split of a `clearcube dataset`\n"
           "file (version 2) and prints, per scene of the dataset, MAE and the 99th percentile of\n"
           "|error| per band against the dataset's targets (e.g. the stress sets of kind simulated);\n"
           "-o writes PREFIX.md.\n");
}

static int validate_dataset(const char *model, const char *dataset, int split, const char *prefix)
{
    cc_validate_dataset_result *r = calloc(1, sizeof *r);
    if (!r) {
        fprintf(stderr, "clearcube: error: validate: out of memory\n");
        return 1;
    }
    if (cc_validate_dataset(model, dataset, split, r) != CC_OK) {
        fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
        free(r);
        return cc_status_exit_code(cc_error_status());
    }
    char *md = cc_validate_dataset_markdown(r, model, dataset);
    int rc = 0;
    if (md) {
        fputs(md, stdout);
        if (prefix) {
            char path[4200];
            snprintf(path, sizeof path, "%s.md", prefix);
            if (cc_fs_write_atomic(path, md, strlen(md)) != CC_OK) {
                fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
                rc = cc_status_exit_code(cc_error_status());
            }
        }
    }
    free(md);
    free(r);
    return rc;
}

int cc_cmd_validate(int argc, char **argv)
{
    enum { O_PRED = CC_OPT_SCENE_LAST + 1, O_REF, O_INPUT, O_LABEL, O_SIM, O_PB, O_PO, O_RB, O_RO, O_IB,
           O_MODEL, O_DATASET, O_SPLIT };
    static const struct option longopts[] = {
        {"output", required_argument, 0, 'o'},         {"help", no_argument, 0, 'h'},
        {"prediction", required_argument, 0, O_PRED},  {"reference", required_argument, 0, O_REF},
        {"input", required_argument, 0, O_INPUT},      {"sample-label", required_argument, 0, O_LABEL},
        {"simulated", no_argument, 0, O_SIM},          {"prediction-bands", required_argument, 0, O_PB},
        {"prediction-dn-offset", required_argument, 0, O_PO},
        {"reference-bands", required_argument, 0, O_RB},
        {"reference-dn-offset", required_argument, 0, O_RO},
        {"input-bands", required_argument, 0, O_IB},
        {"model", required_argument, 0, O_MODEL},      {"dataset", required_argument, 0, O_DATASET},
        {"split", required_argument, 0, O_SPLIT},      {0, 0, 0, 0}};
    const char *model = NULL, *dataset = NULL;
    int split = 1;
    cc_validate_args a;
    memset(&a, 0, sizeof a);
    a.prediction.dn_offset = NAN;
    a.reference.dn_offset = NAN;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': a.prefix = optarg; break;
        case 'h': cc_cmd_validate_help(); return 0;
        case O_PRED: a.prediction.path = optarg; break;
        case O_REF: a.reference.path = optarg; break;
        case O_INPUT: a.input = optarg; break;
        case O_LABEL:
            if (strcmp(optarg, "in-sample") && strcmp(optarg, "out-of-sample")) {
                fprintf(stderr, "clearcube: error: --sample-label: '%s' is neither in-sample nor "
                                "out-of-sample\n", optarg);
                return 2;
            }
            a.sample_label = optarg;
            break;
        case O_SIM: a.simulated = 1; break;
        case O_PB: a.prediction.bands = optarg; break;
        case O_PO: if (cc_cli_parse_double("prediction-dn-offset", optarg, &a.prediction.dn_offset)) return 2; break;
        case O_RB: a.reference.bands = optarg; break;
        case O_RO: if (cc_cli_parse_double("reference-dn-offset", optarg, &a.reference.dn_offset)) return 2; break;
        case O_IB: a.input_bands = optarg; break;
        case O_MODEL: model = optarg; break;
        case O_DATASET: dataset = optarg; break;
        case O_SPLIT:
            if (strcmp(optarg, "val") && strcmp(optarg, "train")) {
                fprintf(stderr, "clearcube: error: --split: '%s' is neither val nor train\n", optarg);
                return 2;
            }
            split = !strcmp(optarg, "val");
            break;
        default:
            fprintf(stderr, "clearcube: error: validate: bad option (see clearcube validate --help)\n");
            return 2;
        }
    }
    if (optind == argc && (model || dataset)) {
        if (!model || !dataset || a.prediction.path || a.reference.path) {
            fprintf(stderr, "clearcube: error: validate: --model and --dataset go together, without "
                            "--prediction/--reference (see clearcube validate --help)\n");
            return 2;
        }
        return validate_dataset(model, dataset, split, a.prefix);
    }
    if (optind != argc || !a.prediction.path || !a.reference.path) {
        fprintf(stderr, "clearcube: error: validate: need --prediction P and --reference R "
                        "(see clearcube validate --help)\n");
        return 2;
    }
    cc_validate_result *r = calloc(1, sizeof *r);
    if (!r) {
        fprintf(stderr, "clearcube: error: validate: out of memory\n");
        return 1;
    }
    if (cc_validate_run(&a, r) != CC_OK) {
        fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
        free(r);
        return cc_status_exit_code(cc_error_status());
    }
    char *md = cc_validate_markdown(&a, r);
    if (md)
        fputs(md, stdout);
    free(md);
    if (a.prefix)
        cc_info("wrote %s.md, %s.json, %s.png, %s-hist.png", a.prefix, a.prefix, a.prefix, a.prefix);
    free(r);
    return 0;
}
