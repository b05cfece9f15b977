/* clearcube dataset CONFIG.yaml -o DATA.h5: training data for an L1C -> L2A emulator. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "jobs/cli/cli.h"
#include "pipeline/boa/dataset.h"

void cc_cmd_dataset_help(void)
{
    printf("Usage: clearcube dataset CONFIG.yaml -o DATA.h5 [--device D]\n\n"
           "Builds training data for an L1C -> L2A emulator: 128x128 patches of the 12 L2A bands\n"
           "(B01..B08, B8A, B09, B11, B12) with TOA (l1c) and BOA (l2a) DN = 10000*rho + 1000, the\n"
           "patch context (mu_s, mu_v, cos_raa, aot550, wv, p_rel, o3), the per-pixel context the\n"
           "emulator receives (context_px), the scene and its train/val split.\n"
           "Sources (key kind):\n"
           "  reference    real L1C, targets from the reference processor\n"
           "  sen2cor-l2a  real Sen2Cor L2A turned into SIMULATED L1C with the SMAC forward model\n"
           "  pair         real L1C with its real Sen2Cor L2A\n"
           "  library      real surface reflectance spectra (an L2A product, a multi-band raster or\n"
           "               openEO/xarray NetCDF series; classes from SCL or spectral rules; missing\n"
           "               B01/B8A/B09 filled by fitted rules) for the spectral library (no patches)\n"
           "  simulated    SIMULATED L1C drawn from the library over the whole geometry/atmosphere\n"
           "               domain (or a stress set at its edge: key domain), targets from the\n"
           "               reference processor's per-pixel inversion with the context stored\n"
           "The file (format version 2) is written atomically.\n"
           "Format: docs/formats/dataset.md; the shipped recipe: models/boa-dataset.yaml.\n\n"
           "Options:\n" CC_DEVICE_HELP
           "                        (the dataset's computations, the reference processor's SMAC\n"
           "                        targets and the simulated L1C, have no GPU path yet: CPU)\n\n");
    cc_dataset_config_print_keys();
}

int cc_cmd_dataset(int argc, char **argv)
{
    static const struct option longopts[] = {{"output", required_argument, 0, 'o'},
                                             {"help", no_argument, 0, 'h'},
                                             CC_CLI_DEVICE_LONGOPT,
                                             {0, 0, 0, 0}};
    const char *out = NULL;
    cc_device_request dreq = {CC_DEVICE_AUTO, -1};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'h': cc_cmd_dataset_help(); return 0;
        case CC_OPT_DEVICE: if (cc_cli_device_option(optarg, &dreq)) return 2; break;
        default:
            fprintf(stderr, "clearcube: error: dataset: bad option (see clearcube dataset --help)\n");
            return 2;
        }
    }
    if (optind != argc - 1 || !out) {
        fprintf(stderr, "clearcube: error: dataset: need exactly one CONFIG.yaml and -o DATA.h5 "
                        "(see clearcube dataset --help)\n");
        return 2;
    }
    cc_device dev;
    int drc = cc_cli_device(&dreq, "dataset", "the reference targets and the simulated L1C (SMAC)", &dev);
    if (drc)
        return drc;
    cc_dataset_config *cfg = NULL;
    if (cc_dataset_config_load(argv[optind], &cfg) != CC_OK) {
        fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
        return cc_status_exit_code(cc_error_status());
    }
    cc_dataset_summary sum;
    cc_status st = cc_dataset_build(cfg, out, &sum);
    cc_dataset_config_free(cfg);
    if (st != CC_OK) {
        fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
        return cc_status_exit_code(cc_error_status());
    }
    printf("wrote %s: %zu patches (%zu train, %zu val; %zu reference, %zu simulated L1C from Sen2Cor L2A, %zu pair, "
           "%zu simulated L1C from the spectral library) from %d scene(s); %d source(s) used, %d skipped; %.1f s\n",
           out, sum.n_patches, sum.n_train, sum.n_val, sum.n_kind[0], sum.n_kind[1], sum.n_kind[2],
           sum.n_kind[CC_DS_SIMULATED], sum.n_scenes,
           sum.n_sources_used, sum.n_sources_skipped, sum.seconds);
    return 0;
}
