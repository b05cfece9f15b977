/* clearcube simulate -o DIR: a small SIMULATED L1C scene. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "jobs/cli.h"
#include "pipeline/simulate.h"

void cc_cmd_simulate_help(void)
{
    printf("Usage: clearcube simulate -o DIR [--size N] [--seed S] [--aot X] [--water-vapour X]\n\n"
           "Writes a SIMULATED Sentinel-2A L1C scene (13-band GeoTIFF, 10 m, EPSG:32632, DN =\n"
           "10000*rho + 1000): a synthetic landscape taken through the SMAC forward model at a\n"
           "known atmosphere (default AOT 0.15, water vapour 1.6 g cm-2), plus the true surface\n"
           "(S2A_SIMULATED_TRUTH_BOA.tif) and the stack options (S2A_SIMULATED_L1C.options).\n"
           "Used by scripts/demo when the real sample data is absent, and by tests.\n");
}

int cc_cmd_simulate(int argc, char **argv)
{
    enum { O_SIZE = 1, O_SEED, O_AOT, O_WV };
    static const struct option longopts[] = {
        {"output", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'},
        {"size", required_argument, 0, O_SIZE}, {"seed", required_argument, 0, O_SEED},
        {"aot", required_argument, 0, O_AOT}, {"water-vapour", required_argument, 0, O_WV},
        {0, 0, 0, 0}};
    cc_simulate_options o;
    cc_simulate_options_init(&o);
    const char *dir = NULL;
    double v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': dir = optarg; break;
        case 'h': cc_cmd_simulate_help(); return 0;
        case O_SIZE: if (cc_cli_parse_double("size", optarg, &v)) return 2; o.size = (int)v; break;
        case O_SEED: if (cc_cli_parse_double("seed", optarg, &v)) return 2; o.seed = (unsigned)v; break;
        case O_AOT: if (cc_cli_parse_double("aot", optarg, &o.aot550)) return 2; break;
        case O_WV: if (cc_cli_parse_double("water-vapour", optarg, &o.uh2o)) return 2; break;
        default: return 2;
        }
    }
    if (!dir || optind != argc) {
        fprintf(stderr, "clearcube: error: simulate: need -o DIR (see clearcube simulate --help)\n");
        return 2;
    }
    if (cc_simulate_scene(dir, &o) != CC_OK) {
        fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
        return cc_status_exit_code(cc_error_status());
    }
    printf("%s/S2A_SIMULATED_L1C.tif\n", dir);
    return 0;
}
