/* clearcube run: the regional mosaic (parallel NetCDF-4), jobs/run-impl.h. */
#include "jobs/run-impl.h"

cc_status cc_run_mosaic(MPI_Comm comm, const char *path, const char *crs, double resolution,
                        char **cubes, int ncubes, int64_t submitted)
{
    (void)comm; (void)crs; (void)resolution; (void)cubes; (void)ncubes; (void)submitted;
    return cc_error_set(CC_ERR_UNSUPPORTED, "%s: the mosaic is not implemented yet", path);
}
