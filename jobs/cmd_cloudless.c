/* clearcube cloudless CUBE_DIR --tile T --date D -o OUT.nc: the daily
 * cloud-free image of one tile (issue 6; pipeline/cloudless_product.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "io/cube.h"
#include "jobs/cli.h"
#include "pipeline/cloudless_product.h"

#ifndef CC_MODELS_DIR
#define CC_MODELS_DIR "models"
#endif
#define CC_CLOUDLESS_DEFAULT_MODEL "cloudless.h5"

void cc_cmd_cloudless_help(void)
{
    printf("Usage: clearcube cloudless CUBE_DIR --tile T --date YYYY-MM-DD -o OUT.nc [options]\n\n"
           "The cloud-free 10-band image (B02 B03 B04 B05 B06 B07 B08 B8A B11 B12) of one tile and day,\n"
           "fused by the Cloudless model (docs/cloudless-model.md) from the +-N-day window of the tile's\n"
           "sensor cubes in CUBE_DIR: <tile>_s2.nc (clear Sentinel-2 L2A), <tile>_landsat.nc (HLS-adjusted\n"
           "Landsat), <tile>_olci.nc (Sentinel-3 OLCI mapped to S2 bands), <tile>_s1.nc (Sentinel-1 VV/VH),\n"
           "whichever exist (`clearcube ingest` writes them; docs/formats/cube.md). Every pixel carries its\n"
           "evidence: days_since_s2 (days since the last clear Sentinel-2 observation) and sensors (bit mask\n"
           "of the sensors that contributed). If OUT.nc exists the day is appended (or replaced).\n\n"
           "Options:\n"
           "  -o, --output OUT.nc    output cube (required)\n"
           "  --tile T               tile id of the sensor cubes (required)\n"
           "  --date YYYY-MM-DD      the day (required)\n"
           "  --model PATH           fusion model (default: the shipped " CC_MODELS_DIR "/" CC_CLOUDLESS_DEFAULT_MODEL ")\n"
           "  --sensors LIST         sensors to use, e.g. s2,landsat,olci,s1 (default: all present)\n"
           "  --quicklook OUT.png    also write a true-colour PNG (B04/B03/B02)\n"
           "  --block-rows N         rows per block (default: from a 256 MiB budget); no effect on output\n"
           "  --log-level LEVEL      debug, info, warn, error, quiet\n");
}

static int fail(void)
{
    fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
    return cc_status_exit_code(cc_error_status());
}

/* "s2,landsat" -> bit mask; 0 on a bad name (message printed). */
static unsigned parse_sensors(const char *list)
{
    unsigned m = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int k = -1;
        for (int s = 0; s < CC_SENSOR_COUNT; s++)
            if (!strcmp(t, cc_cloudless_sensor_suffix((cc_sensor)s)))
                k = s;
        if (k < 0) {
            fprintf(stderr, "clearcube: error: --sensors: unknown sensor '%s' (s2, landsat, olci, s1)\n", t);
            return 0;
        }
        m |= 1u << k;
    }
    if (!m)
        fprintf(stderr, "clearcube: error: --sensors: empty list\n");
    return m;
}

int cc_cmd_cloudless(int argc, char **argv)
{
    enum { O_TILE = 2000, O_DATE, O_MODEL, O_SENS, O_QL, O_ROWS, O_LOG };
    static const struct option longopts[] = {
        {"output", required_argument, 0, 'o'},   {"help", no_argument, 0, 'h'},
        {"tile", required_argument, 0, O_TILE},  {"date", required_argument, 0, O_DATE},
        {"model", required_argument, 0, O_MODEL}, {"sensors", required_argument, 0, O_SENS},
        {"quicklook", required_argument, 0, O_QL}, {"block-rows", required_argument, 0, O_ROWS},
        {"log-level", required_argument, 0, O_LOG}, {0, 0, 0, 0}};
    cc_cloudless_args a = {.model_path = CC_MODELS_DIR "/" CC_CLOUDLESS_DEFAULT_MODEL};
    const char *date = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': a.out_path = optarg; break;
        case 'h': cc_cmd_cloudless_help(); return 0;
        case O_TILE: a.tile = optarg; break;
        case O_DATE: date = optarg; break;
        case O_MODEL: a.model_path = optarg; break;
        case O_QL: a.quicklook = optarg; break;
        case O_SENS:
            if (!(a.sensors = parse_sensors(optarg)))
                return 2;
            break;
        case O_ROWS: {
            double v;
            if (cc_cli_parse_double("block-rows", optarg, &v))
                return 2;
            if (v < 1 || v > 100000 || v != (int)v) {
                fprintf(stderr, "clearcube: error: --block-rows %s: must be an integer in [1, 100000]\n", optarg);
                return 2;
            }
            a.block_rows = (int)v;
            break;
        }
        case O_LOG: {
            int l = cc_log_parse_level(optarg);
            if (l < 0) {
                fprintf(stderr, "clearcube: error: --log-level %s: expected debug, info, warn, error or quiet\n",
                        optarg);
                return 2;
            }
            cc_log_set_level((cc_log_level)l);
            break;
        }
        default:
            fprintf(stderr, "clearcube: error: cloudless: bad option (see clearcube cloudless --help)\n");
            return 2;
        }
    }
    int y, m, d;
    char tail;
    if (optind != argc - 1 || !a.out_path || !a.tile || !date) {
        fprintf(stderr, "clearcube: error: cloudless: need CUBE_DIR, --tile, --date and -o OUT.nc (see clearcube "
                        "cloudless --help)\n");
        return 2;
    }
    if (sscanf(date, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || m < 1 || m > 12 || d < 1 || d > 31) {
        fprintf(stderr, "clearcube: error: --date %s: expected YYYY-MM-DD\n", date);
        return 2;
    }
    a.cube_dir = argv[optind];
    a.day = cc_cube_days_from_date(y, m, d);
    cc_cloudless_stats st;
    if (cc_cloudless_run(&a, &st) != CC_OK)
        return fail();
    cc_info("wrote %s (%s %s: %dx%d, %.1f %% filled; S2 %d, Landsat %d, OLCI %d, S1 %d dates in the window; "
            "read %.2f s, model %.2f s, write %.2f s)",
            a.out_path, a.tile, date, st.width, st.height, 100 * st.filled_fraction, st.ndates[CC_SENSOR_S2],
            st.ndates[CC_SENSOR_LANDSAT], st.ndates[CC_SENSOR_OLCI], st.ndates[CC_SENSOR_S1], st.seconds_read,
            st.seconds_model, st.seconds_write);
    return 0;
}
