/* clearcube cloudless-daily CUBE_DIR --tile T --state STATE.nc -o OUT.nc --date D:
 * the nowcast of a tile's days from a per-pixel state, or the reanalysis of a
 * finished period (issue 14; pipeline/cloudless/state.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/date.h"
#include "core/error.h"
#include "core/log.h"
#include "core/datapath.h"
#include "jobs/cli/cli.h"
#include "pipeline/cloudless/kalman_model.h"
#include "pipeline/cloudless/state.h"

void cc_cmd_cloudless_daily_help(void)
{
    printf("Usage: clearcube cloudless-daily CUBE_DIR --tile T --state STATE.nc -o OUT.nc --date YYYY-MM-DD [options]\n"
           "       clearcube cloudless-daily CUBE_DIR --tile T -o OUT.nc --reanalysis --from D1 --date D2 [options]\n\n"
           "Daily Cloudless in O(1) per pixel and day (docs/cloudless.md, \"Daily operation\"): a per-pixel Kalman\n"
           "filter whose state is kept in STATE.nc (docs/formats/state.md). Reads the state of the day before and\n"
           "the new day of the tile's sensor cubes (<tile>_s2.nc, <tile>_landsat.nc in CUBE_DIR), appends the\n"
           "NOWCAST of every day after the state's up to --date to OUT.nc (10 bands, their standard deviation\n"
           "sd_B02 ... sd_B12 and days_since_s2) and writes the new state. Missed days are caught up in order in\n"
           "one pass; days already in OUT.nc are not written again; a state already at --date does nothing.\n"
           "Without STATE.nc the filter starts from its prior at --from (default: --date), saying so.\n"
           "--reanalysis: the smoother over a finished period (past and future observations), no state.\n\n"
           "Options:\n"
           "  --tile T               tile id of the sensor cubes (required)\n"
           "  --state STATE.nc       the state (read if present, then replaced)\n"
           "  -o, --output OUT.nc    the product cube (created or appended)\n"
           "  --date YYYY-MM-DD      the last day to process (required)\n"
           "  --from YYYY-MM-DD      first day without a state, or of the reanalysis\n"
           "  --params FILE          Kalman parameters (default: the shipped " CC_KF_SHIPPED_MODEL ", else built-in)\n"
           "  --reanalysis           smoother over [--from, --date] (+- --margin days of observations)\n"
           "  --margin N             reanalysis: days of observations beyond the period (default 45)\n"
           "  --block-rows N         rows per block (default 256; memory ~600 bytes per pixel of a block)\n"
           "  --no-landsat           Sentinel-2 only\n"
           "Exit codes: 0 done (or nothing to do); 2 bad arguments, or a state of another tile, grid or\n"
           "parameter set; 1 other errors (an unreadable state, no sensor cube): one line says which.\n");
}

static int bad(const char *what, const char *v)
{
    fprintf(stderr, "clearcube: error: cloudless-daily: %s '%s'\n", what, v);
    return 2;
}

int cc_cmd_cloudless_daily(int argc, char **argv)
{
    enum { O_TILE = 2000, O_STATE, O_DATE, O_FROM, O_PARAMS, O_REAN, O_MARGIN, O_ROWS, O_NOLS };
    static const struct option longopts[] = {
        {"output", required_argument, 0, 'o'},     {"help", no_argument, 0, 'h'},
        {"tile", required_argument, 0, O_TILE},    {"state", required_argument, 0, O_STATE},
        {"date", required_argument, 0, O_DATE},    {"from", required_argument, 0, O_FROM},
        {"params", required_argument, 0, O_PARAMS}, {"reanalysis", no_argument, 0, O_REAN},
        {"margin", required_argument, 0, O_MARGIN}, {"block-rows", required_argument, 0, O_ROWS},
        {"no-landsat", no_argument, 0, O_NOLS},
        {0, 0, 0, 0}};
    cc_cl_state_args a = {0};
    const char *date = NULL, *from = NULL;
    int rean = 0, margin = 45, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': a.out_path = optarg; break;
        case 'h': cc_cmd_cloudless_daily_help(); return 0;
        case O_TILE: a.tile = optarg; break;
        case O_STATE: a.state_in = a.state_out = optarg; break;
        case O_DATE: date = optarg; break;
        case O_FROM: from = optarg; break;
        case O_PARAMS: a.params_path = optarg; break;
        case O_REAN: rean = 1; break;
        case O_NOLS: a.no_landsat = 1; break;
        case O_MARGIN:
        case O_ROWS: {
            char *end = NULL;
            long v = strtol(optarg, &end, 10);
            if (!*optarg || *end || v < (c == O_MARGIN ? 0 : 1) || v > 100000)
                return bad(c == O_MARGIN ? "--margin: not an integer in 0..100000:" : "--block-rows: not an integer in 1..100000:", optarg);
            if (c == O_MARGIN)
                margin = (int)v;
            else
                a.block_rows = (int)v;
            break;
        }
        default:
            fprintf(stderr, "clearcube: error: cloudless-daily: bad option (see clearcube cloudless-daily --help)\n");
            return 2;
        }
    }
    if (optind != argc - 1 || !a.tile || !a.out_path || !date || (!rean && !a.state_out)) {
        fprintf(stderr, "clearcube: error: cloudless-daily: needs CUBE_DIR, --tile, -o, --date and --state (or "
                        "--reanalysis)\n");
        return 2;
    }
    a.cube_dir = argv[optind];
    char shipped[4096]; /* the shipped parameters (fitted on real series) unless --params */
    if (!a.params_path && cc_data_find(CC_KF_SHIPPED_MODEL, shipped, sizeof shipped) == CC_OK)
        a.params_path = shipped;
    cc_error_clear();
    if (!cc_date_parse(date, &a.last_day))
        return bad("--date: not a date YYYY-MM-DD:", date);
    a.first_day = a.last_day;
    if (from && !cc_date_parse(from, &a.first_day))
        return bad("--from: not a date YYYY-MM-DD:", from);
    if (a.first_day > a.last_day)
        return bad("--from: after --date:", from);
    cc_cl_state_stats s;
    cc_status st = rean ? cc_cl_reanalysis_run(&a, margin, &s) : cc_cl_state_run(&a, &s);
    if (st != CC_OK) {
        fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
        return cc_status_exit_code(st);
    }
    char f[CC_DATE_ISO_SIZE], t[CC_DATE_ISO_SIZE];
    cc_date_format(s.first_day, f);
    cc_date_format(s.last_day, t);
    if (s.ndays > 0)
        printf("cloudless-daily %s %s: %s..%s, %d day(s), %d appended to %s, %dx%d px, %.1f s (state in %.1f, days "
               "in %.1f, model %.1f, days out %.1f, state out %.1f)%s\n",
               a.tile, rean ? "reanalysis" : "nowcast", f, t, s.ndays, s.days_written, a.out_path, s.width, s.height,
               s.s_total, s.s_state_in, s.s_day_in, s.s_model, s.s_day_out, s.s_state_out,
               s.fresh ? " (no state: started from the prior)" : "");
    else {
        cc_date_format(s.first_day - 1, f);
        printf("cloudless-daily %s: up to date (the state is at %s)\n", a.tile, f);
    }
    return 0;
}
