/* clearcube: daily operation of a region (issue 14; docs/user-guide.md "Daily
 * operation"). `clearcube daily JOB` keeps the Cloudless nowcast of every tile
 * of a 'cloudless' job current: for each tile (its sensor cubes found in the
 * job's catalogues), every day after the tile's state up to the newest day
 * ingested into its Sentinel-2 or Landsat cube, or up to today - lag_days if
 * that is later (at most the job's end_date and today), is processed, in
 * order, in one pass
 * (pipeline/cloudless/state.h). Outputs, in the job's output folder:
 * <tile>_nowcast.nc (one date per day), <tile>.state.nc (the filter's state)
 * and daily.jsonl, the journal (jobs/run/journal.h events: "run" per
 * invocation, an "end" line with status done per tile and day, or failed
 * with the reason): a day is never processed twice (the state, the cube and
 * the journal agree; a second invocation at once finds nothing to do), and a
 * lock on the folder keeps two invocations apart. `clearcube submit JOB
 * --daily` runs it under Slurm every day (a job that submits its successor). */
#ifndef CC_JOBS_RUN_DAILY_H
#define CC_JOBS_RUN_DAILY_H

#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *job_path;
    const char *output;     /* NULL: the job's output folder                      */
    long today;             /* days since 1970-01-01; < 0: the UTC date now        */
    const char *params;     /* Kalman parameter file, NULL: built-in               */
    int block_rows;         /* 0: default                                          */
    double wait_s;          /* lock wait (seconds; < 0 forever)                    */
    int lag_days;           /* days without any acquisition are processed once they
                               are lag_days old (the ingest delay); a newer day once
                               an acquisition of it, or of a later day, is ingested */
} cc_daily_args;

/* Processes the new days of every tile. Returns CC_OK when every tile is up
 * to date (or had nothing new), CC_ERR_* of the last failure otherwise (the
 * other tiles are still processed; each failure is journaled and logged). */
cc_status cc_daily_run(const cc_daily_args *a, int *days_done, int *tiles_failed);

#ifdef __cplusplus
}
#endif
#endif
