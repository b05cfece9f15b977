/* clearcube ingest PRODUCT... --out-dir DIR (--tile T | --grid REF): reads
 * input products of any Cloudless sensor with their readers, resamples them
 * onto the Sentinel-2 tile grid and appends each as a date of the tile's
 * sensor cube (pipeline/cloudless/cloudless_product.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "io/grid/mgrs.h"
#include "io/s2/scene.h"
#include "jobs/cli/cli.h"
#include "pipeline/cloudless/cloudless_product.h"
#include "pipeline/cloudless/ingest.h"

void cc_cmd_ingest_help(void)
{
    printf("Usage: clearcube ingest PRODUCT... --out-dir DIR (--tile T [--resolution M] | --grid REF)\n\n"
           "Reads each PRODUCT with the reader of its sensor, resamples it onto the Sentinel-2 tile grid with\n"
           "GDAL and appends it as one date of the tile's sensor cube DIR/<tile>_<sensor>.nc, the input of\n"
           "`clearcube cloudless` (docs/formats/cube.md, \"Sensor cubes\"). A product that cannot be read is\n"
           "reported (one line naming it) and the others are still ingested; the exit code is then 1.\n\n"
           "Sensors (--sensor auto recognises them by name):\n"
           "  s2       Sentinel-2 L2A (SAFE, band folder or GeoTIFF stack; cloud mask from SCL when present,\n"
           "           else clearcube's own mask, docs/cloudmask.md)\n"
           "  landsat  Landsat 8/9 Collection 2 L1/L2, pre-collection L1T with MTL (HLS-adjusted to S2 bands)\n"
           "  olci     Sentinel-3 OLCI EFR (.SEN3 folder or BEAM/SNAP NetCDF), TOA reflectance in S2 bands\n"
           "  s1       Sentinel-1 sigma0 VV/VH in dB (analysis-ready GeoTIFF patch, or GRD with calibration)\n\n"
           "Options:\n"
           "  --out-dir DIR          folder of the sensor cubes (created)\n"
           "  --tile T               the MGRS tile: its grid (109.8 km) at --resolution (default 10 m)\n"
           "  --grid REF             instead: the grid of a GDAL raster or clearcube cube (small areas);\n"
           "                         then --tile only names the cubes\n"
           "  --sensor S             auto (default), s2, landsat, olci or s1\n"
           "  --log-level LEVEL      debug, info, warn, error, quiet\n\n" CC_CLI_SCENE_OPTIONS_HELP);
}

static int fail(void)
{
    fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
    return cc_status_exit_code(cc_error_status());
}

int cc_cmd_ingest(int argc, char **argv)
{
    enum { O_DIR = CC_OPT_SCENE_LAST + 1, O_TILE, O_RES, O_GRID, O_SENSOR };
    static const struct option longopts[] = {
        {"help", no_argument, 0, 'h'},          {"out-dir", required_argument, 0, O_DIR},
        {"tile", required_argument, 0, O_TILE}, {"resolution", required_argument, 0, O_RES},
        {"grid", required_argument, 0, O_GRID}, {"sensor", required_argument, 0, O_SENSOR},
        CC_CLI_SCENE_LONGOPTS,                  {0, 0, 0, 0}};
    cc_scene_options so;
    cc_scene_options_init(&so);
    const char *dir = NULL, *tile_in = NULL, *grid = NULL;
    double res = 10;
    int sensor = -1, c, rc;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': cc_cmd_ingest_help(); return 0;
        case O_DIR: dir = optarg; break;
        case O_TILE: tile_in = optarg; break;
        case O_GRID: grid = optarg; break;
        case O_RES:
            if (cc_cli_parse_double("resolution", optarg, &res))
                return 2;
            if (!(res >= 10 && res <= 1000)) {
                fprintf(stderr, "clearcube: error: --resolution %s: must be in [10, 1000] metres\n", optarg);
                return 2;
            }
            break;
        case O_SENSOR:
            if (!strcmp(optarg, "auto"))
                sensor = -1;
            else {
                sensor = -2;
                for (int s = 0; s < CC_SENSOR_COUNT; s++)
                    if (!strcmp(optarg, cc_cube_sensor_suffix((cc_sensor)s)))
                        sensor = s;
                if (sensor == -2) {
                    fprintf(stderr, "clearcube: error: --sensor %s: expected auto, s2, landsat, olci or s1\n", optarg);
                    return 2;
                }
            }
            break;
        default:
            if ((rc = cc_cli_scene_option(c, optarg, &so)) == 1)
                break;
            if (rc == 0)
                fprintf(stderr, "clearcube: error: ingest: bad option (see clearcube ingest --help)\n");
            return 2;
        }
    }
    if (optind >= argc || !dir || !tile_in) {
        fprintf(stderr, "clearcube: error: ingest: need PRODUCT..., --out-dir DIR and --tile T (see clearcube ingest "
                        "--help)\n");
        return 2;
    }
    char tile[8];
    cc_ingest_grid og = {0};
    if (cc_mgrs_tile_parse(tile_in, tile) != CC_OK)
        return fail();
    if ((grid ? cc_ingest_grid_raster(grid, &og) : cc_ingest_grid_tile(tile, res, &og)) != CC_OK ||
        cc_ingest_out_dir(dir) != CC_OK) {
        cc_ingest_grid_free(&og);
        return fail();
    }
    int failed = 0, done = 0;
    for (int i = optind; i < argc; i++) {
        int s = sensor >= 0 ? sensor : cc_ingest_detect_sensor(argv[i]);
        if (s < 0) {
            fprintf(stderr, "clearcube: error: %s: cannot tell the sensor from the name (use --sensor)\n", argv[i]);
            failed++;
            continue;
        }
        if (cc_ingest_product(argv[i], s, &so, &og.g, tile, dir) != CC_OK) {
            fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
            failed++;
        } else
            done++;
    }
    cc_ingest_grid_free(&og);
    if (failed)
        cc_warn("ingest: %d of %d product(s) failed (listed above); %d ingested", failed, argc - optind, done);
    return failed ? 1 : 0;
}
