/* clearcube export CUBE --to cog DIR: a cube as Cloud-Optimized GeoTIFFs (one
 * per layer and date) and a STAC Item per date (io/cube_export.h). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "io/cube_export.h"
#include "jobs/cli/cli.h"

void cc_cmd_export_help(void)
{
    printf("Usage: clearcube export CUBE --to cog DIR\n\n"
           "Writes every layer of every date of the cube CUBE (any clearcube cube: reference,\n"
           "boa, cloudless, sensor cubes) as a Cloud-Optimized GeoTIFF (GDAL's COG driver:\n"
           "DEFLATE, 512 x 512 tiles, overviews; the DN as stored with nodata, scale and offset\n"
           "set) named TILE_PRODUCT_DATE_LAYER.tif, and one STAC Item (STAC 1.0.0,\n"
           "TILE_PRODUCT_DATE.json: footprint in WGS 84, datetime, one asset per layer) per\n"
           "date, into DIR (created if absent). The files appear together when all are\n"
           "written; on an error nothing new is left in DIR.\n\n"
           "Options:\n"
           "  --to cog              the export format (the only one)\n");
}

int cc_cmd_export(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"to", required_argument, 0, 't'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *to = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 't': to = optarg; break;
        case 'h': cc_cmd_export_help(); return 0;
        default:
            fprintf(stderr, "clearcube: error: export: bad option (see clearcube export --help)\n");
            return 2;
        }
    }
    if (!to || strcmp(to, "cog") != 0) {
        fprintf(stderr, "clearcube: error: export: --to %s: the format must be cog\n", to ? to : "(missing)");
        return 2;
    }
    if (argc - optind != 2) {
        fprintf(stderr, "clearcube: error: export: need CUBE and DIR (clearcube export CUBE --to cog DIR)\n");
        return 2;
    }
    cc_cube_export_result r;
    cc_status st = cc_cube_export_cog(argv[optind], argv[optind + 1], &r);
    if (st != CC_OK) {
        fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
        return cc_status_exit_code(st);
    }
    cc_info("export: %s: %d dates x %d layers -> %d files in %s", argv[optind], r.ndates, r.nlayers, r.nfiles,
            argv[optind + 1]);
    return 0;
}
