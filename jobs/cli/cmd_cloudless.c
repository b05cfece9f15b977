/* clearcube cloudless CUBE_DIR --tile T --date D -o OUT.nc: the daily
 * cloud-free image of one tile (issue 6; pipeline/cloudless/cloudless_product.h). */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/date.h"
#include "core/error.h"
#include "core/log.h"
#include "jobs/cli/cli.h"
#include "pipeline/cloudless/cloudless.h"
#include "pipeline/cloudless/cloudless_product.h"
#include "pipeline/cloudless/kalman_model.h"
#include "pipeline/cloudless/sim_cubes.h"


void cc_cmd_cloudless_help(void)
{
    printf("Usage: clearcube cloudless CUBE_DIR --tile T --date YYYY-MM-DD -o OUT.nc [options]\n\n"
           "The cloud-free 10-band image (B02 B03 B04 B05 B06 B07 B08 B8A B11 B12) of one tile and day with\n"
           "its uncertainty, from the tile's sensor cubes in CUBE_DIR (<tile>_s2.nc clear Sentinel-2 L2A,\n"
           "<tile>_landsat.nc HLS-adjusted Landsat, <tile>_olci.nc, <tile>_s1.nc; `clearcube ingest` writes\n"
           "them; docs/formats/cube.md). By default the REANALYSIS of the per-pixel Kalman filter\n"
           "(docs/cloudless-model.md): the smoother over the clear Sentinel-2 and Landsat observations of the\n"
           "day +- --margin days, the same product as `clearcube cloudless-daily --reanalysis`: the 10 bands,\n"
           "their standard deviation sd_B02 ... sd_B12 and days_since_s2 (days since the last clear\n"
           "Sentinel-2 observation). The day is appended to OUT.nc (created if absent); a day OUT.nc already\n"
           "holds is not written again, a day before OUT.nc's last is refused.\n"
           "--method fusion (or --model with a fusion model file): the former fusion network over the\n"
           "+-45-day window of all four sensors (10 bands, days_since_s2, sensors; no uncertainty; it\n"
           "loses to linear interpolation on held-out real years: docs/accuracy.md); the day is appended\n"
           "or replaced.\n\n"
           "Options:\n"
           "  -o, --output OUT.nc    output cube (required)\n"
           "  --tile T               tile id of the sensor cubes (required)\n"
           "  --date YYYY-MM-DD      the day (required)\n"
           "  --method kalman|fusion (default kalman, or the kind of the --model file)\n"
           "  --params FILE          Kalman parameters (default: the shipped " CC_KF_SHIPPED_MODEL ")\n"
           "  --margin N             Kalman: days of observations each side of the day (default %d)\n"
           "  --model PATH           a fusion model (default with --method fusion: the shipped\n"
           "                         " CC_CL_SHIPPED_MODEL ") or a Kalman parameter file; found beside the\n"
           "                         executable in ../share/clearcube/ or in $CLEARCUBE_DATA\n"
           "  --sensors LIST         sensors to use, e.g. s2,landsat,olci,s1 (default: all present; Kalman\n"
           "                         uses s2 and landsat)\n"
           "  --quicklook OUT.png    also write a true-colour PNG (B04/B03/B02)\n"
           "  --block N              fusion: side of the square windows processed at once (default: from a\n"
           "                         256 MiB budget, aligned to the cubes' 512 x 512 chunks); Kalman: rows\n"
           "                         per block (default: from a 256 MiB series); no effect on the output\n"
           CC_DEVICE_HELP
           "                        (fusion: the network; everything else runs on the CPU)\n",
           CC_CL_KALMAN_MARGIN);
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
            if (!strcmp(t, cc_cube_sensor_suffix((cc_sensor)s)))
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
    enum { O_TILE = 2000, O_DATE, O_MODEL, O_SENS, O_QL, O_BLOCK, O_METHOD, O_PARAMS, O_MARGIN };
    static const struct option longopts[] = {
        {"output", required_argument, 0, 'o'},   {"help", no_argument, 0, 'h'},
        {"tile", required_argument, 0, O_TILE},  {"date", required_argument, 0, O_DATE},
        {"model", required_argument, 0, O_MODEL}, {"sensors", required_argument, 0, O_SENS},
        {"quicklook", required_argument, 0, O_QL}, {"block", required_argument, 0, O_BLOCK},
        {"method", required_argument, 0, O_METHOD}, {"params", required_argument, 0, O_PARAMS},
        {"margin", required_argument, 0, O_MARGIN},
        CC_CLI_DEVICE_LONGOPT, {0, 0, 0, 0}};
    cc_cloudless_args a = {.model_path = NULL};
    cc_device_request dreq = {CC_DEVICE_AUTO, -1};
    const char *date = NULL, *params = NULL;
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
        case O_PARAMS: params = optarg; break;
        case O_METHOD:
            if (!strcmp(optarg, "kalman"))
                a.method = CC_CL_METHOD_KALMAN;
            else if (!strcmp(optarg, "fusion"))
                a.method = CC_CL_METHOD_FUSION;
            else {
                fprintf(stderr, "clearcube: error: --method %s: kalman or fusion\n", optarg);
                return 2;
            }
            break;
        case O_MARGIN: {
            double v;
            if (cc_cli_parse_double("margin", optarg, &v))
                return 2;
            if (v < 1 || v > 100000 || v != (int)v) {
                fprintf(stderr, "clearcube: error: --margin %s: must be an integer in [1, 100000]\n", optarg);
                return 2;
            }
            a.margin = (int)v;
            break;
        }
        case CC_OPT_DEVICE: if (cc_cli_device_option(optarg, &dreq)) return 2; break;
        case O_SENS:
            if (!(a.sensors = parse_sensors(optarg)))
                return 2;
            break;
        case O_BLOCK: {
            double v;
            if (cc_cli_parse_double("block", optarg, &v))
                return 2;
            if (v < 1 || v > 100000 || v != (int)v) {
                fprintf(stderr, "clearcube: error: --block %s: must be an integer in [1, 100000]\n", optarg);
                return 2;
            }
            a.block = (int)v;
            break;
        }
        default:
            fprintf(stderr, "clearcube: error: cloudless: bad option (see clearcube cloudless --help)\n");
            return 2;
        }
    }
    if (optind != argc - 1 || !a.out_path || !a.tile || !date) {
        fprintf(stderr, "clearcube: error: cloudless: need CUBE_DIR, --tile, --date and -o OUT.nc (see clearcube "
                        "cloudless --help)\n");
        return 2;
    }
    if (!cc_date_parse(date, &a.day)) {
        fprintf(stderr, "clearcube: error: --date %s: expected YYYY-MM-DD\n", date);
        return 2;
    }
    a.cube_dir = argv[optind];
    if (params && (a.model_path || a.method == CC_CL_METHOD_FUSION)) {
        fprintf(stderr, "clearcube: error: cloudless: --params (Kalman) goes without --model and --method fusion\n");
        return 2;
    }
    char shipped[PATH_MAX];
    if (params) {
        a.model_path = params;
        a.method = CC_CL_METHOD_KALMAN;
    } else if (!a.model_path && a.method == CC_CL_METHOD_FUSION) {
        int drc = cc_cli_data_file(&a.model_path, CC_CL_SHIPPED_MODEL, shipped, sizeof shipped);
        if (drc)
            return drc;
    } else if (!a.model_path) { /* the shipped Kalman parameters (fitted on real series) */
        a.method = CC_CL_METHOD_KALMAN;
        int drc = cc_cli_data_file(&a.model_path, CC_KF_SHIPPED_MODEL, shipped, sizeof shipped);
        if (drc)
            return drc;
    }
    cc_device dev;
    int drc;
    if ((drc = cc_cli_device(&dreq, "cloudless", NULL, &dev)) != 0)
        return drc;
    a.backend = dev.backend;
    cc_cloudless_stats st;
    if (cc_cloudless_run(&a, &st) != CC_OK)
        return fail();
    if (st.method == CC_CL_METHOD_KALMAN)
        cc_info("%s %s (%s %s: %dx%d; S2 %d, Landsat %d dates within %d days; read %.2f s, smoother %.2f s, "
                "write %.2f s)", st.written ? "wrote" : "kept", a.out_path, a.tile, date, st.width, st.height,
                st.ndates[CC_SENSOR_S2], st.ndates[CC_SENSOR_LANDSAT], a.margin ? a.margin : CC_CL_KALMAN_MARGIN,
                st.seconds_read, st.seconds_model, st.seconds_write);
    else
        cc_info("wrote %s (%s %s: %dx%d, %.1f %% filled; S2 %d, Landsat %d, OLCI %d, S1 %d dates in the window; "
                "read %.2f s, model %.2f s, write %.2f s; network on %s)",
                a.out_path, a.tile, date, st.width, st.height, 100 * st.filled_fraction, st.ndates[CC_SENSOR_S2],
                st.ndates[CC_SENSOR_LANDSAT], st.ndates[CC_SENSOR_OLCI], st.ndates[CC_SENSOR_S1], st.seconds_read,
                st.seconds_model, st.seconds_write, dev.name);
    return 0;
}

/* ---- clearcube cloudless-sim: SIMULATED sensor cubes (demo, tests, benchmarks) ---- */


void cc_cmd_cloudless_sim_help(void)
{
    printf("Usage: clearcube cloudless-sim --out-dir DIR [--eolearn-tif DIR --shared DATASETS | --synthetic]\n"
           "                              [--split train|test] [--start YYYY-MM-DD] [--days N] [--seed S]\n\n"
           "Writes a SIMULATED multi-sensor series as the sensor cubes of one tile (<tile>_s2.nc, _landsat.nc,\n"
           "_olci.nc, _s1.nc: the input of `clearcube cloudless`) and its cloud-free truth (<tile>_truth.nc),\n"
           "and prints the tile id. With real pieces (docs/cloudless-sim.md): the eolearn-testeopatch NDVI\n"
           "trajectories and cloud masks (converted by scripts/npy2tif into --eolearn-tif), real S2 L2A\n"
           "spectra, S1 from the fitted vegetation-backscatter relation. --synthetic needs no data at all\n"
           "(a fresh clone without ../shared): analytic phenology, textbook soil and vegetation spectra and\n"
           "random cloud fields. Every cube says SIMULATED in its `inputs` attribute.\n\n"
           "Options:\n"
           "  --out-dir DIR        folder of the cubes (created)\n"
           "  --eolearn-tif DIR    output of scripts/npy2tif\n"
           "  --shared DATASETS    ../shared/datasets\n"
           "  --synthetic          no real pieces\n"
           "  --split S            train or test (default test: pieces not used in training)\n"
           "  --start YYYY-MM-DD   first day (default: the split's first day; synthetic: 2020-03-01)\n"
           "  --days N             length of the series (default 150)\n"
           "  --seed S             (default 1)\n"
           "  --size N             synthetic image size (default 64)\n");
}

int cc_cmd_cloudless_sim(int argc, char **argv)
{
    enum { O_DIR = 2100, O_EO, O_SH, O_SYN, O_SPLIT, O_START, O_DAYS, O_SEED, O_SIZE };
    static const struct option longopts[] = {
        {"help", no_argument, 0, 'h'}, {"out-dir", required_argument, 0, O_DIR},
        {"eolearn-tif", required_argument, 0, O_EO}, {"shared", required_argument, 0, O_SH},
        {"synthetic", no_argument, 0, O_SYN}, {"split", required_argument, 0, O_SPLIT},
        {"start", required_argument, 0, O_START}, {"days", required_argument, 0, O_DAYS},
        {"seed", required_argument, 0, O_SEED}, {"size", required_argument, 0, O_SIZE}, {0, 0, 0, 0}};
    const char *dir = NULL, *eo = NULL, *shared = NULL, *split = "test", *start = NULL;
    int synthetic = 0, days = 150, size = 64, c;
    double seed = 1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        double v;
        switch (c) {
        case 'h': cc_cmd_cloudless_sim_help(); return 0;
        case O_DIR: dir = optarg; break;
        case O_EO: eo = optarg; break;
        case O_SH: shared = optarg; break;
        case O_SYN: synthetic = 1; break;
        case O_SPLIT: split = optarg; break;
        case O_START: start = optarg; break;
        case O_DAYS:
            if (cc_cli_parse_double("days", optarg, &v) || v < 1 || v > 4000 || v != (int)v) {
                fprintf(stderr, "clearcube: error: --days %s: must be an integer in [1, 4000]\n", optarg);
                return 2;
            }
            days = (int)v;
            break;
        case O_SEED:
            if (cc_cli_parse_double("seed", optarg, &seed) || seed < 0)
                return 2;
            break;
        case O_SIZE:
            if (cc_cli_parse_double("size", optarg, &v) || v < 8 || v > 4096 || v != (int)v) {
                fprintf(stderr, "clearcube: error: --size %s: must be an integer in [8, 4096]\n", optarg);
                return 2;
            }
            size = (int)v;
            break;
        default:
            fprintf(stderr, "clearcube: error: cloudless-sim: bad option (see clearcube cloudless-sim --help)\n");
            return 2;
        }
    }
    if (!dir || optind != argc || (!synthetic && (!eo || !shared))) {
        fprintf(stderr, "clearcube: error: cloudless-sim: need --out-dir and either --eolearn-tif with --shared, or "
                        "--synthetic (see clearcube cloudless-sim --help)\n");
        return 2;
    }
    cc_cl_sim_cubes_options o = {.out_dir = dir, .synthetic = synthetic, .eolearn_tif = eo, .datasets = shared,
                                 .split = split, .ndays = days, .size = size, .seed = seed};
    if (start && !cc_date_parse(start, &o.day0)) {
        fprintf(stderr, "clearcube: error: --start %s: expected YYYY-MM-DD\n", start);
        return 2;
    }
    cc_cl_sim_cubes_result r;
    if (cc_cl_sim_cubes_write(&o, &r) != CC_OK)
        return fail();
    char first[CC_DATE_ISO_SIZE], last[CC_DATE_ISO_SIZE];
    cc_date_format(r.day0, first);
    cc_date_format(r.day0 + r.ndays - 1, last);
    printf("%s %s %s %dx%d\n", r.tile, first, last, r.width, r.height);
    cc_info("wrote the SIMULATED sensor cubes of tile %s (%dx%d, %d days) into %s: %s", r.tile, r.width, r.height,
            r.ndays, dir, r.label);
    return 0;
}
