/* clearcube run: the MPI job driver (issue 5; docs/running.md, decision 0004).
 *
 * Rank 0 schedules (tile, date) work items, largest first, pulled dynamically
 * by every rank (rank 0 included); each item runs in a child process
 * (`clearcube reference ...`) with a wall-clock timeout, its output is
 * validated and committed to <output>/.staging/<item>.nc; once all items of a
 * tile are final, one rank assembles the tile's cube <output>/<tile>.nc in one
 * pass, in date order. Optionally all ranks write a regional mosaic with
 * parallel NetCDF-4. Rank 0 journals every item's start and end
 * (jobs/run/journal.h); rerunning resumes. */
#ifndef CC_JOBS_RUN_RUN_H
#define CC_JOBS_RUN_RUN_H

#include <mpi.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Exit codes of `clearcube run` (the same on every rank). */
enum {
    CC_RUN_EXIT_OK = 0,        /* every item done, every cube written            */
    CC_RUN_EXIT_ERROR = 1,     /* the run itself failed (I/O, bad job, ...)      */
    CC_RUN_EXIT_USAGE = 2,     /* bad command line                               */
    CC_RUN_EXIT_PARTIAL = 3,   /* finished, but some items/tiles failed or were
                                  quarantined (see the run report)               */
    CC_RUN_EXIT_NODEVICE = 4,  /* --device cuda (or the job's device: cuda) and a
                                  rank without a GPU; nothing ran                 */
    CC_RUN_EXIT_REQUEUE = 75   /* EX_TEMPFAIL: stopped by SIGTERM/SIGUSR1 before
                                  the end; rerun (requeue) to resume             */
};

/* Runs `clearcube run` with argv[0] = "run" on communicator `comm` (which
 * MPI_Init'ed the caller). Collective over comm; returns the exit code, the
 * same on every rank. Calls MPI_Abort only when a rank cannot allocate the
 * item table (it could not take part in the collective steps that follow). */
int cc_run(int argc, char **argv, MPI_Comm comm);
void cc_run_help(void);

#ifdef __cplusplus
}
#endif
#endif
