/* clearcube run: internals shared by the runner (jobs/run/run.c and the files of
 * jobs/run/run-ctx.h), jobs/run/report.c and jobs/run/mosaic.c. */
#ifndef CC_JOBS_RUN_RUN_IMPL_H
#define CC_JOBS_RUN_RUN_IMPL_H

#include <stdint.h>
#include <stdio.h>

#include <mpi.h>

#include "core/error.h"
#include "jobs/run/job.h"

/* Item states on rank 0. */
typedef enum {
    CC_RI_PENDING = 0, CC_RI_RUNNING, CC_RI_DONE, CC_RI_FAILED, CC_RI_QUARANTINED
} cc_run_item_state;

/* Per-rank stage clock (seconds, wall). */
enum { CC_STAGE_ITEM = 0, CC_STAGE_VALIDATE, CC_STAGE_COMMIT, CC_STAGE_ASSEMBLE, CC_STAGE_MOSAIC,
       CC_STAGE_WAIT, CC_STAGE_TOTAL, CC_NSTAGES };
extern const char *const cc_run_stage_names[CC_NSTAGES];

typedef struct {
    double t[CC_NSTAGES];
    double items_done, items_failed, tiles; /* counts, as doubles for one MPI_DOUBLE gather */
} cc_run_rank_times;

/* What rank 0 knows of one item at the end of a run (for the report). */
typedef struct {
    cc_run_item_state state;
    int skipped;          /* done in an earlier run                            */
    int attempts;         /* starts, all runs                                  */
    int failures, crashes;
    int rank;             /* last rank that ran it in this run (-1: none)      */
    double seconds;       /* last attempt's wall time in this run              */
    char reason[256];
} cc_run_item_result;

typedef struct {
    char tile[16];
    int nitems, ndone;
    int state;            /* 0 waiting, 1 ready, 2 assigning, 3 done, 4 failed, 5 no data */
    int skipped;          /* cube already up to date                            */
    char digest[17];
    char reason[256];
} cc_run_tile;

/* The device of one rank in the run report ("cpu", "GPU 1 (node-local rank 1)"). */
#define CC_RUN_DEVICE_LEN 96

typedef struct {
    const char *output_dir;
    const char *staging;  /* the committed item cubes (<output>/.staging), for what each
                             product of a same-day mosaic contributed; NULL: not listed */
    const char *job;
    int nranks;
    int64_t submitted;
    double wall_s;
    int exit_code;
    int stopped;          /* SIGTERM/SIGUSR1 stopped it early                   */
    int nitems;
    const cc_job_item *items;
    const cc_run_item_result *results;
    int ntiles;
    const cc_run_tile *tiles;
    const cc_run_rank_times *ranks; /* nranks entries                         */
    const char (*devices)[CC_RUN_DEVICE_LEN]; /* nranks entries, or NULL        */
    const char *mosaic_path;        /* NULL if none                           */
    const char *mosaic_error;       /* NULL if ok                             */
    const cc_job_notes *notes;      /* inputs left out by the catalogue scan, or NULL */
} cc_run_report;

/* The scheduler of `clearcube run` (rank 0 hands out items largest first in
 * list order, every rank incl. 0 pulls one at a time; tile tasks once all
 * items of a tile are final; failed items retried up to `retries` times)
 * driven in-process: item_fn runs each item on the rank that pulled it
 * (return 0 = done, else failed with a reason in `why`); tile_fn (NULL = done
 * at once) each tile task. No child processes, no journal, no files. For the
 * dispatch benchmark (bench/dispatch) and tests. Collective over comm; `items`
 * the same list on every rank. On rank 0, `all` (size entries, may be NULL
 * elsewhere) gets every rank's stage times (CC_STAGE_ITEM = inside item_fn,
 * CC_STAGE_WAIT = waiting for the scheduler with nothing to run) and
 * counts[3] (may be NULL) done / failed / other items. Returns CC_RUN_EXIT_OK,
 * _PARTIAL (some failed) or _ERROR, the same on every rank. */
typedef int (*cc_run_item_fn)(void *arg, int index, const cc_job_item *it, char *why, size_t nwhy);
typedef int (*cc_run_tile_fn)(void *arg, const char *tile, char *why, size_t nwhy);
int cc_run_dispatch(MPI_Comm comm, const cc_job_item *items, int nitems, int retries,
                    cc_run_item_fn item_fn, cc_run_tile_fn tile_fn, void *arg,
                    cc_run_rank_times *all, int *counts);
/* Size of one scheduler message (bytes), for a like-for-like ping-pong. */
extern const size_t cc_run_msg_bytes;

/* report.c */
cc_status cc_run_report_write(const cc_run_report *r);
/* One JSON line for a finished item (no newline). */
void cc_run_item_json(char *buf, size_t n, const cc_job_item *it, const cc_run_item_result *res,
                      const char *status, int attempt, int ndone, int ntotal);
/* The live progress line ("\r"-rewritten) on `f`. */
void cc_run_progress_print(FILE *f, int done, int failed, int total, int skipped, double elapsed_s,
                           int done_this_run, const char *slowest_id, int slowest_rank,
                           double slowest_s);

/* mosaic.c: the regional mosaic, collective over comm. `cubes` (ncubes paths,
 * the same list on every rank) are the tile cubes; writes `path` with
 * nc_create_par on `comm`. Returns the same status on every rank. */
cc_status cc_run_mosaic(MPI_Comm comm, const char *path, const char *crs, double resolution,
                        char **cubes, int ncubes, int64_t submitted);

#endif
