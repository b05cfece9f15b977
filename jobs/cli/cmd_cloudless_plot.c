/* clearcube cloudless-plot: the pictures of the Cloudless accuracy report
 * (docs/accuracy.md): the time series of one pixel (observations of every
 * sensor, the model, linear interpolation, Whittaker, and the truth when a
 * SIMULATED truth cube is given) and a quicklook strip of consecutive days
 * (Sentinel-2 input with its clouds | the cloud-free output). */
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
#include "pipeline/cloudless/cloudless_plot.h"


void cc_cmd_cloudless_plot_help(void)
{
    printf("Usage: clearcube cloudless-plot CUBE_DIR --tile T --from YYYY-MM-DD --days N --out PNG\n"
           "                                (--pixel X,Y [--band B] | --strip) [--truth TRUTH.nc] [--model M]\n"
           "       clearcube cloudless-plot CUBE_DIR --tile T --from YYYY-MM-DD --day PRODUCT.nc --out PNG [--title TEXT]\n\n"
           "--pixel: the time series of pixel (X, Y) over N days: clear Sentinel-2, Landsat, OLCI observations\n"
           "(points), the Cloudless model, linear interpolation and the Whittaker smoother of the clear S2\n"
           "series, and the truth of a SIMULATED series (--truth). Each day is predicted WITHOUT that day's\n"
           "S2 observation (leave-one-out), so clear days show the gap-filling error too.\n"
           "--strip: N consecutive days side by side: top the Sentinel-2 input (white: cloud, grey: no\n"
           "acquisition), bottom the cloud-free output (B04/B03/B02, reflectance 0..0.25 stretched).\n"
           "--day PRODUCT.nc: the day --from in three panels: the Sentinel-2 input as acquired (clouds included,\n"
           "masked pixels outlined in red), the cloud-free day of PRODUCT.nc (`clearcube cloudless`) and its\n"
           "uncertainty sd_B04 (0..0.05, with a scale bar); no model is run. --title: the line above them.\n\n"
           "  --band B      band of the time series (default B8A)\n"
           "  --model M     (default: the shipped " CC_CL_SHIPPED_MODEL ", beside the executable in\n"
           "                ../share/clearcube/ or in $CLEARCUBE_DATA)\n");
}

static int fail(void)
{
    fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
    return cc_status_exit_code(cc_error_status());
}

static int parse_day(const char *opt, const char *v, long *day)
{
    if (!cc_date_parse(v, day)) {
        fprintf(stderr, "clearcube: error: --%s %s: expected YYYY-MM-DD\n", opt, v);
        return 2;
    }
    return 0;
}

int cc_cmd_cloudless_plot(int argc, char **argv)
{
    enum { O_TILE = 2200, O_FROM, O_DAYS, O_OUT, O_PIX, O_BAND, O_STRIP, O_TRUTH, O_MODEL, O_DAY, O_TITLE };
    static const struct option longopts[] = {
        {"help", no_argument, 0, 'h'},           {"tile", required_argument, 0, O_TILE},
        {"from", required_argument, 0, O_FROM},  {"days", required_argument, 0, O_DAYS},
        {"out", required_argument, 0, O_OUT},    {"pixel", required_argument, 0, O_PIX},
        {"band", required_argument, 0, O_BAND},  {"strip", no_argument, 0, O_STRIP},
        {"truth", required_argument, 0, O_TRUTH}, {"model", required_argument, 0, O_MODEL},
        {"day", required_argument, 0, O_DAY},    {"title", required_argument, 0, O_TITLE},
        {0, 0, 0, 0}};
    const char *tile = NULL, *png = NULL, *truth = NULL, *model = NULL, *day = NULL, *title = NULL;
    long from = 0;
    int have_from = 0, ndays = 7, px = -1, py = -1, band = cc_cl_band_index("B8A"), strip = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        double v;
        char tail;
        switch (c) {
        case 'h': cc_cmd_cloudless_plot_help(); return 0;
        case O_TILE: tile = optarg; break;
        case O_FROM:
            if (parse_day("from", optarg, &from))
                return 2;
            have_from = 1;
            break;
        case O_DAYS:
            if (cc_cli_parse_double("days", optarg, &v) || v < 1 || v > 1000 || v != (int)v) {
                fprintf(stderr, "clearcube: error: --days %s: must be an integer in [1, 1000]\n", optarg);
                return 2;
            }
            ndays = (int)v;
            break;
        case O_OUT: png = optarg; break;
        case O_PIX:
            if (sscanf(optarg, "%d,%d%c", &px, &py, &tail) != 2 || px < 0 || py < 0) {
                fprintf(stderr, "clearcube: error: --pixel %s: expected X,Y (column, row)\n", optarg);
                return 2;
            }
            break;
        case O_BAND:
            if ((band = cc_cl_band_index(optarg)) < 0) {
                fprintf(stderr, "clearcube: error: --band %s: not a Cloudless band (B02..B12)\n", optarg);
                return 2;
            }
            break;
        case O_STRIP: strip = 1; break;
        case O_TRUTH: truth = optarg; break;
        case O_MODEL: model = optarg; break;
        case O_DAY: day = optarg; break;
        case O_TITLE: title = optarg; break;
        default:
            fprintf(stderr, "clearcube: error: cloudless-plot: bad option (see clearcube cloudless-plot --help)\n");
            return 2;
        }
    }
    if (day && optind == argc - 1 && tile && png && have_from && !strip && px < 0) {
        if (cc_cl_plot_day(argv[optind], tile, from, day, title, png) != CC_OK)
            return fail();
        cc_info("wrote %s", png);
        return 0;
    }
    if (day || optind != argc - 1 || !tile || !png || !have_from || (strip == (px >= 0))) {
        fprintf(stderr, "clearcube: error: cloudless-plot: need CUBE_DIR, --tile, --from, --out and one of --pixel or "
                        "--strip, or --day alone (see clearcube cloudless-plot --help)\n");
        return 2;
    }
    char shipped[PATH_MAX];
    int drc = cc_cli_data_file(&model, CC_CL_SHIPPED_MODEL, shipped, sizeof shipped);
    if (drc)
        return drc;
    cc_cl_model *m = NULL;
    if (cc_cl_model_load(model, &m) != CC_OK)
        return fail();
    cc_status st = strip ? cc_cl_plot_strip(argv[optind], tile, from, ndays, m, png)
                         : cc_cl_plot_pixel(argv[optind], tile, from, ndays, px, py, band, truth, m, png);
    cc_cl_model_free(m);
    if (st != CC_OK)
        return fail();
    cc_info("wrote %s", png);
    return 0;
}
