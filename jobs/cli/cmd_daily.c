/* clearcube daily JOB: brings a 'cloudless' job's nowcast up to the newest
 * ingested day (jobs/run/daily.h); `clearcube submit JOB --daily` runs it
 * every day under Slurm. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/date.h"
#include "core/error.h"
#include "core/datapath.h"
#include "jobs/cli/cli.h"
#include "pipeline/cloudless/kalman_model.h"
#include "jobs/run/daily.h"

void cc_cmd_daily_help(void)
{
    printf("Usage: clearcube daily JOB [-o DIR] [--today YYYY-MM-DD] [--lag N] [--params FILE] [--wait S]\n\n"
           "Keeps the Cloudless nowcast of a 'cloudless' job current (docs/user-guide.md, \"Daily operation\"):\n"
           "for every tile whose sensor cubes the job's catalogues hold, the days after the tile's state up to\n"
           "the newest day ingested into its Sentinel-2 or Landsat cube, or to today - N (--lag) when that is\n"
           "later (a day without acquisition once the ingest delay is over; at most the job's end_date)\n"
           "are processed in order, in one pass per tile (clearcube cloudless-daily). Writes, in the output\n"
           "folder: <tile>_nowcast.nc, <tile>.state.nc and the journal daily.jsonl (one \"done\" line per tile\n"
           "and day: a day is never processed twice). `clearcube submit JOB --daily` runs it every day.\n\n"
           "Options:\n"
           "  -o, --output DIR      output folder (default: the job's)\n"
           "  --today YYYY-MM-DD    the current day (default: the UTC date now)\n"
           "  --lag N               days without acquisition are made when N days old (default 2)\n"
           "  --params FILE         Kalman parameters (default: the shipped " CC_KF_SHIPPED_MODEL ", else built-in)\n"
           "  --block-rows N        rows per block (default 256)\n"
           "  --wait S              wait up to S seconds for another daily run of the folder (default 0)\n"
           "Exit codes: 0 up to date, 1 a tile failed (see the journal), 2 bad arguments or job file.\n");
}

int cc_cmd_daily(int argc, char **argv)
{
    enum { O_TODAY = 2000, O_PARAMS, O_ROWS, O_WAIT, O_LAG };
    static const struct option longopts[] = {
        {"output", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'},
        {"today", required_argument, 0, O_TODAY}, {"params", required_argument, 0, O_PARAMS},
        {"block-rows", required_argument, 0, O_ROWS}, {"wait", required_argument, 0, O_WAIT},
        {"lag", required_argument, 0, O_LAG}, {0, 0, 0, 0}};
    cc_daily_args a = {.today = -1, .lag_days = 2};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': a.output = optarg; break;
        case 'h': cc_cmd_daily_help(); return 0;
        case O_TODAY:
            if (!cc_date_parse(optarg, &a.today)) {
                fprintf(stderr, "clearcube: error: daily: --today '%s': not a date YYYY-MM-DD\n", optarg);
                return 2;
            }
            break;
        case O_PARAMS: a.params = optarg; break;
        case O_ROWS:
        case O_LAG:
        case O_WAIT: {
            char *end = NULL;
            double v = strtod(optarg, &end);
            if (!*optarg || *end || v < (c == O_ROWS ? 1 : c == O_LAG ? 0 : -1) || v > 1e6 ||
                (c != O_WAIT && v != (int)v)) {
                fprintf(stderr, "clearcube: error: daily: %s '%s': not a number in range\n",
                        c == O_ROWS ? "--block-rows" : c == O_LAG ? "--lag" : "--wait", optarg);
                return 2;
            }
            if (c == O_ROWS)
                a.block_rows = (int)v;
            else if (c == O_LAG)
                a.lag_days = (int)v;
            else
                a.wait_s = v;
            break;
        }
        default:
            fprintf(stderr, "clearcube: error: daily: bad option (see clearcube daily --help)\n");
            return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "clearcube: error: daily: needs one JOB file\n");
        return 2;
    }
    a.job_path = argv[optind];
    char shipped[4096]; /* the shipped parameters (fitted on real series) unless --params */
    if (!a.params && cc_data_find(CC_KF_SHIPPED_MODEL, shipped, sizeof shipped) == CC_OK)
        a.params = shipped;
    cc_error_clear();
    int days = 0, failed = 0;
    cc_status st = cc_daily_run(&a, &days, &failed);
    if (st != CC_OK) {
        fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
        return failed ? 1 : cc_status_exit_code(st);
    }
    printf("clearcube daily: %d tile-day(s) processed\n", days);
    return 0;
}
