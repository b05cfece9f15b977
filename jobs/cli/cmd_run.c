/* clearcube run: the job driver's entry point. MPI_Init happens here (and only
 * for this subcommand); cc_run does the work on MPI_COMM_WORLD. */
#include <mpi.h>
#include <stdio.h>

#include "jobs/cli/cli.h"
#include "jobs/run/run.h"

void cc_cmd_run_help(void) { cc_run_help(); }

int cc_cmd_run(int argc, char **argv)
{
    int provided = 0;
    if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "clearcube: error: run: MPI_Init failed\n");
        return 1;
    }
    int rc = cc_run(argc, argv, MPI_COMM_WORLD);
    MPI_Finalize();
    return rc;
}
