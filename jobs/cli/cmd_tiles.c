/* clearcube tiles --bbox W,S,E,N | --geojson FILE: the Sentinel-2 tiles of an area. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "jobs/cli/cli.h"
#include "io/grid/mgrs.h"

void cc_cmd_tiles_help(void)
{
    printf("Usage: clearcube tiles --bbox W,S,E,N | --geojson FILE | --footprint TILE\n\n"
           "Prints the Sentinel-2 tile IDs whose footprint intersects the area, one per line, sorted,\n"
           "without the leading T; the count goes to stderr. The tiles are ESA's list of the 56,686\n"
           "operational tiles (compiled in; io/grid/s2_tiles_table.c), each footprint drawn as ESA draws it\n"
           "(four lon/lat corners); neighbouring tiles overlap and every one that meets the area is listed.\n\n"
           "  --bbox W,S,E,N     lon/lat box in degrees; W > E is a box crossing the antimeridian (as in\n"
           "                     GeoJSON). Use --bbox=-31,34,45,72 for negative W.\n"
           "  --geojson FILE     polygons of a GeoJSON (or any OGR) file, reprojected to WGS 84 and tested\n"
           "                     exactly (not their bounding box); cut areas at 180 degrees (RFC 7946)\n"
           "  --footprint TILE   print the tile's EPSG code and upper-left corner instead\n");
}

int cc_cmd_tiles(int argc, char **argv)
{
    static const struct option longopts[] = {{"help", no_argument, 0, 'h'},
                                             {"bbox", required_argument, 0, 'b'},
                                             {"geojson", required_argument, 0, 'g'},
                                             {"footprint", required_argument, 0, 'f'},
                                             {0, 0, 0, 0}};
    const char *bbox = NULL, *geojson = NULL, *fp = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': cc_cmd_tiles_help(); return 0;
        case 'b': bbox = optarg; break;
        case 'g': geojson = optarg; break;
        case 'f': fp = optarg; break;
        default: return 2;
        }
    }
    if (optind != argc || (!!bbox + !!geojson + !!fp) != 1) {
        fprintf(stderr, "clearcube: error: tiles: give exactly one of --bbox, --geojson, --footprint "
                        "(see clearcube tiles --help)\n");
        return 2;
    }
    if (fp) {
        int epsg;
        double ulx, uly;
        if (cc_mgrs_tile_footprint(fp, &epsg, &ulx, &uly) != CC_OK) {
            fprintf(stderr, "clearcube: error: --footprint: %s\n", cc_error_message());
            return 2;
        }
        printf("EPSG:%d ULX %.0f ULY %.0f SIZE %.0f\n", epsg, ulx, uly, CC_MGRS_TILE_SIZE);
        return 0;
    }
    char **ids = NULL;
    int n = 0;
    cc_status st;
    if (bbox) {
        double v[4];
        char *p = (char *)bbox, *end;
        int k;
        for (k = 0; k < 4; k++) {
            v[k] = strtod(p, &end);
            if (end == p || (k < 3 && *end != ',') || (k == 3 && *end))
                break;
            p = end + 1;
        }
        if (k < 4) {
            fprintf(stderr, "clearcube: error: --bbox: '%s' is not W,S,E,N (four numbers)\n", bbox);
            return 2;
        }
        st = cc_mgrs_tiles_bbox(v[0], v[1], v[2], v[3], &ids, &n);
    } else {
        st = cc_mgrs_tiles_geojson(geojson, &ids, &n);
    }
    if (st != CC_OK) {
        fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
        return cc_status_exit_code(st);
    }
    for (int i = 0; i < n; i++)
        printf("%s\n", ids[i]);
    fprintf(stderr, "%d tile(s)\n", n);
    cc_mgrs_ids_free(ids, n);
    return 0;
}
