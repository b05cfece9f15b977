/* clearcube ingest PRODUCT... --out-dir DIR (--tile T | --grid REF): reads
 * input products of any Cloudless sensor with their readers, resamples them
 * onto the Sentinel-2 tile grid and appends each as a date of the tile's
 * sensor cube (pipeline/cloudless/cloudless_product.h); openEO/xarray NetCDF
 * series (FILE.nc) add all their dates, on the first file's grid. */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "io/grid/mgrs.h"
#include "io/s2/scene.h"
#include "io/stac/stac.h"
#include "jobs/cli/cli.h"
#include "pipeline/cloudless/cloudless_product.h"
#include "pipeline/cloudless/ingest.h"

void cc_cmd_ingest_help(void)
{
    printf("Usage: clearcube ingest PRODUCT... --out-dir DIR (--tile T [--resolution M] | --grid REF)\n"
           "       clearcube ingest FILE.nc... --out-dir DIR --tile NAME [--grid REF] [--sensor S]\n\n"
           "Reads each PRODUCT with the reader of its sensor, resamples it onto the Sentinel-2 tile grid with\n"
           "GDAL and appends it as one date of the tile's sensor cube DIR/<tile>_<sensor>.nc, the input of\n"
           "`clearcube cloudless` (docs/formats/cube.md, \"Sensor cubes\"). A product that cannot be read is\n"
           "reported (one line naming it) and the others are still ingested; the exit code is then 1.\n"
           "A PRODUCT may also be a STAC Item / ItemCollection JSON file (each item is a Sentinel-2 product:\n"
           "its SAFE asset, or its band rasters read with the item's metadata) or a product list FILE.txt /\n"
           "FILE.list (one path a line; docs/formats/catalogue.md). The items of one day in one such file\n"
           "are mosaicked into one date (the newest processing baseline first where they overlap).\n\n"
           "Sensors (--sensor auto recognises them by name):\n"
           "  s2       Sentinel-2 L2A (SAFE, band folder or GeoTIFF stack; cloud mask from SCL when present,\n"
           "           else clearcube's own mask, docs/cloudmask.md)\n"
           "  landsat  Landsat 8/9 Collection 2 L1/L2, pre-collection L1T with MTL (HLS-adjusted to S2 bands)\n"
           "  olci     Sentinel-3 OLCI EFR (.SEN3 folder or BEAM/SNAP NetCDF), TOA reflectance in S2 bands\n"
           "  s1       Sentinel-1 sigma0 VV/VH in dB (analysis-ready GeoTIFF patch, or GRD with calibration)\n\n"
           "NetCDF series (FILE.nc: openEO/xarray cubes such as the WorldCereal extractions, docs/formats/\n"
           "netcdf-series.md): every date of the file is added (acquisitions of one day are one date). The\n"
           "sensors are recognised from the variables and attributes (Sentinel-2 L2A bands with SCL, Landsat\n"
           "8/9 SR bands B2..B7 with pixel_qa/QA_PIXEL, HLS-adjusted; VV/VH in dB); --sensor s2|landsat|s1\n"
           "takes only that sensor's bands. The grid is the first file's own (then NAME is any name) unless\n"
           "--grid names a raster; files on other grids are warped onto it.\n\n"
           "Options:\n"
           "  --out-dir DIR          folder of the sensor cubes (created)\n"
           "  --tile T               the MGRS tile: its grid (109.8 km) at --resolution (default 10 m)\n"
           "  --grid REF             instead: the grid of a GDAL raster or clearcube cube (small areas);\n"
           "                         then --tile only names the cubes\n"
           "  --sensor S             auto (default), s2, landsat, olci or s1\n\n" CC_CLI_SCENE_OPTIONS_HELP);
}

/* A cube name from --tile when the grid comes from a file: letters, digits,
 * '_', '-', '.'; 0 if fine, else the message is printed. */
static int name_check(const char *n)
{
    size_t len = strlen(n), ok = len > 0 && len < 64 && n[0] != '.';
    for (size_t i = 0; ok && i < len; i++)
        ok = isalnum((unsigned char)n[i]) || n[i] == '_' || n[i] == '-' || n[i] == '.';
    if (!ok)
        fprintf(stderr, "clearcube: error: --tile %s: a cube name is 1..63 letters, digits, '_', '-' or '.'\n", n);
    return !ok;
}

/* One NetCDF series; the first one that opens gives the grid when none is
 * set. 0 ingested, 1 failed (reported). */
static int ingest_netcdf(const char *path, int sensor, cc_ingest_grid *og, const char *tile, const char *dir)
{
    cc_ingest_nc_stats stats;
    if ((!og->wkt && cc_ingest_grid_netcdf(path, og) != CC_OK) ||
        cc_ingest_netcdf(path, sensor, &og->g, tile, dir, &stats) != CC_OK) {
        fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
        return 1;
    }
    for (int s = 0; s < CC_SENSOR_COUNT; s++)
        if (stats.sensors & (1u << s)) {
            char cube[4096];
            cc_cube_sensor_path(cube, sizeof cube, dir, tile, (cc_sensor)s);
            printf("%s -> %s (%d dates)\n", path, cube, stats.ndates[s]);
        }
    return 0;
}

/* One product (or NetCDF series, or STAC item "FILE.json#ID": a Sentinel-2
 * scene); 0 ingested, 1 failed (reported). */
static int ingest_one(const char *p, int sensor, const cc_scene_options *so, cc_ingest_grid *og, const char *tile,
                      const char *dir)
{
    if (sensor != CC_SENSOR_OLCI && !cc_stac_is_json(p) && cc_ingest_is_netcdf_series(p))
        return ingest_netcdf(p, sensor, og, tile, dir);
    if (!og->wkt) {
        fprintf(stderr, "clearcube: error: %s: no grid yet (give --grid, or a NetCDF series first)\n", p);
        return 1;
    }
    int s = sensor >= 0 ? sensor : cc_stac_is_json(p) ? CC_SENSOR_S2 : cc_ingest_detect_sensor(p);
    if (s < 0) {
        fprintf(stderr, "clearcube: error: %s: cannot tell the sensor from its name or metadata (use --sensor)\n", p);
        return 1;
    }
    if (cc_ingest_product(p, s, so, &og->g, tile, dir) != CC_OK) {
        fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
        return 1;
    }
    return 0;
}

/* The inputs one argument stands for (cc_stac_expand). STAC items of one
 * acquisition day are one product, mosaicked (io/s2/scene.h): a sensor cube
 * keeps one image a day, and a second product of the day would replace the
 * first. Frees refs. */
static void ingest_refs(char **refs, int nrefs, int sensor, const cc_scene_options *so, cc_ingest_grid *og,
                        const char *tile, const char *dir, int *done, int *failed)
{
    char (*day)[11] = calloc((size_t)nrefs + 1, sizeof *day);
    const char **more = calloc((size_t)nrefs + 1, sizeof *more);
    for (int k = 0; day && k < nrefs; k++) {
        cc_stac_item *it = NULL;
        if (cc_stac_is_json(refs[k]) && cc_stac_read_ref(refs[k], &it) == CC_OK)
            snprintf(day[k], sizeof day[k], "%s", it->date);
        cc_stac_free(it, it ? 1 : 0);
    }
    for (int k = 0; k < nrefs; k++) {
        if (!refs[k])
            continue;
        cc_scene_options o = *so;
        int n = 0;
        for (int j = k + 1; day && more && day[k][0] && j < nrefs; j++)
            if (refs[j] && !strcmp(day[j], day[k]))
                more[n++] = refs[j];
        o.mosaic = n ? more : NULL, o.nmosaic = n;
        if (ingest_one(refs[k], sensor, &o, og, tile, dir) == 0)
            (*done)++;
        else
            (*failed)++;
        for (int j = k + 1; n && j < nrefs; j++)
            if (refs[j] && !strcmp(day[j], day[k])) {
                free(refs[j]);
                refs[j] = NULL;
            }
        free(refs[k]);
        refs[k] = NULL;
    }
    free(day);
    free(more);
    free(refs);
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
    const int nc_first = sensor != CC_SENSOR_OLCI && cc_ingest_is_netcdf_series(argv[optind]);
    char tile[72];
    cc_ingest_grid og = {0};
    if (cc_mgrs_tile_parse(tile_in, tile) != CC_OK) {
        if (!grid && !nc_first)
            return fail();
        if (name_check(tile_in)) /* the grid comes from a file: NAME is any name */
            return 2;
        snprintf(tile, sizeof tile, "%s", tile_in);
    }
    /* --grid: a NetCDF series by its pixel centres, else any GDAL raster */
    if (grid && cc_ingest_is_netcdf_series(grid) && cc_ingest_grid_netcdf(grid, &og) != CC_OK)
        cc_ingest_grid_free(&og);
    if ((grid ? (og.wkt ? CC_OK : cc_ingest_grid_raster(grid, &og)) : nc_first ? CC_OK : cc_ingest_grid_tile(tile, res, &og)) != CC_OK ||
        cc_ingest_out_dir(dir) != CC_OK) {
        cc_ingest_grid_free(&og);
        return fail();
    }
    int failed = 0, done = 0;
    cc_progress *prog = cc_progress_start("ingest", "products", (uint64_t)(argc - optind));
    for (int i = optind; i < argc; i++, cc_progress_add(prog, 1)) {
        char **refs = NULL; /* a STAC file's items, a product list's lines, or argv[i] itself */
        int nrefs = 0;
        if (cc_stac_expand(argv[i], &refs, &nrefs) != CC_OK) {
            fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
            failed++;
            continue;
        }
        ingest_refs(refs, nrefs, sensor, &so, &og, tile, dir, &done, &failed);
    }
    cc_progress_end(prog);
    cc_ingest_grid_free(&og);
    if (failed)
        cc_warn("ingest: %d of %d product(s) failed (listed above); %d ingested", failed, failed + done, done);
    return failed ? 1 : 0;
}
