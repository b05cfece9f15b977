/* clearcube simulate -o DIR: a small SIMULATED L1C scene, or (--from-l2a) a
 * SIMULATED L1C of a real Sen2Cor L2A product. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "jobs/cli/cli.h"
#include "pipeline/boa/simulate.h"

void cc_cmd_simulate_help(void)
{
    printf("Usage: clearcube simulate -o DIR [--size N] [--seed S] [--aot X] [--water-vapour X]\n"
           "       clearcube simulate --from-l2a L2A_PRODUCT -o DIR [--aot X] [--water-vapour X]\n"
           "              [--sun-zenith Z --sun-azimuth A --view-zenith Z --view-azimuth A] [--elevation M]\n"
           "              [--spacecraft S2A|S2B|S2C] [--date YYYY-MM-DD] [--dn-offset D] [--bands LIST]\n\n"
           "Writes a SIMULATED Sentinel-2A L1C scene (13-band GeoTIFF, 10 m, EPSG:32632, DN =\n"
           "10000*rho + 1000): a synthetic landscape taken through the SMAC forward model at a\n"
           "known atmosphere (default AOT 0.15, water vapour 1.6 g cm-2), plus the true surface\n"
           "(S2A_SIMULATED_TRUTH_BOA.tif) and the stack options (S2A_SIMULATED_L1C.options).\n"
           "Used by scripts/demo when the real sample data is absent, and by tests.\n\n"
           "--from-l2a L2A_PRODUCT: instead, a full-scene SIMULATED L1C of a real Sen2Cor L2A product\n"
           "(SAFE, .zip, GeoTIFF stack or band folder): its 12 L2A bands (B01..B12 without B10),\n"
           "resampled onto the product's finest grid, through the SMAC forward model exactly as\n"
           "`clearcube dataset` does for kind sen2cor-l2a, at the scene-mean geometry. Writes into DIR\n"
           "(created if absent; nothing is left on error):\n"
           "  <SC>_SIMULATED_L1C.tif, .options, .json (scene sidecar) simulated TOA, DN = 10000*rho + 1000, 12 bands\n"
           "  <SC>_SEN2COR_BOA.tif, .options     the product's own BOA on the same grid, same DN\n"
           "                                     convention (a reference for clearcube validate)\n"
           "  README-SIMULATED.txt               what is simulated, with which atmosphere and geometry\n"
           "Atmosphere: --aot/--water-vapour given: uniform; else per pixel from the product's AOT and\n"
           "WVP layers when it has them (as the dataset's real_atmosphere variant), else AOT 0.15 and\n"
           "water vapour 1.6 g cm-2. --elevation M: surface pressure (default sea level); ozone 0.331.\n"
           "The input options (--spacecraft, --date, angles, --dn-offset of the L2A DN, --bands) are\n"
           "those of `clearcube reference`; stacks without SAFE metadata need spacecraft, date and\n"
           "the four angles.\n");
}

int cc_cmd_simulate(int argc, char **argv)
{
    enum { O_SIZE = CC_OPT_ATMOS_LAST + 1, O_SEED, O_FROM };
    static const struct option longopts[] = {
        {"output", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'},
        {"size", required_argument, 0, O_SIZE}, {"seed", required_argument, 0, O_SEED},
        {"from-l2a", required_argument, 0, O_FROM},
        {"aot", required_argument, 0, CC_OPT_AOT}, {"water-vapour", required_argument, 0, CC_OPT_WV},
        {"water-vapor", required_argument, 0, CC_OPT_WV}, {"elevation", required_argument, 0, CC_OPT_ELEV},
        CC_CLI_SCENE_LONGOPTS,
        {0, 0, 0, 0}};
    cc_simulate_options o;
    cc_simulate_options_init(&o);
    cc_simulate_l2a_options lo;
    cc_simulate_l2a_options_init(&lo);
    const char *dir = NULL, *from = NULL;
    int synthetic_only = 0, l2a_only = 0;
    double v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': dir = optarg; break;
        case 'h': cc_cmd_simulate_help(); return 0;
        case O_SIZE: if (cc_cli_parse_double("size", optarg, &v)) return 2; o.size = (int)v; synthetic_only = 1; break;
        case O_SEED: if (cc_cli_parse_double("seed", optarg, &v)) return 2; o.seed = (unsigned)v; synthetic_only = 1; break;
        case O_FROM: from = optarg; break;
        case CC_OPT_AOT: if (cc_cli_parse_double("aot", optarg, &lo.aot550)) return 2; o.aot550 = lo.aot550; break;
        case CC_OPT_WV: if (cc_cli_parse_double("water-vapour", optarg, &lo.uh2o)) return 2; o.uh2o = lo.uh2o; break;
        case CC_OPT_ELEV: if (cc_cli_parse_double("elevation", optarg, &lo.elevation)) return 2; l2a_only = 1; break;
        default: {
            int r = c >= CC_OPT_BANDS && c < CC_OPT_SCENE_LAST ? cc_cli_scene_option(c, optarg, &lo.scene) : 0;
            if (r != 1) {
                if (r == 0)
                    fprintf(stderr, "clearcube: error: simulate: bad option (see clearcube simulate --help)\n");
                return 2;
            }
            l2a_only = 1;
        }
        }
    }
    if (!dir || optind != argc) {
        fprintf(stderr, "clearcube: error: simulate: need -o DIR (see clearcube simulate --help)\n");
        return 2;
    }
    if (from ? synthetic_only : l2a_only) {
        fprintf(stderr, "clearcube: error: simulate: %s\n",
                from ? "--size/--seed apply to the synthetic scene, not to --from-l2a"
                     : "the input and --elevation options need --from-l2a");
        return 2;
    }
    if (from) {
        cc_simulate_l2a_result r;
        if (cc_simulate_from_l2a(from, dir, &lo, &r) != CC_OK) {
            fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
            return cc_status_exit_code(cc_error_status());
        }
        printf("%s\n%s\n%s\n", r.l1c, r.boa, r.readme);
        return 0;
    }
    if (cc_simulate_scene(dir, &o) != CC_OK) {
        fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
        return cc_status_exit_code(cc_error_status());
    }
    printf("%s/S2A_SIMULATED_L1C.tif\n", dir);
    return 0;
}
