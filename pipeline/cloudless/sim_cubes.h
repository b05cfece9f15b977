/* clearcube: a SIMULATED multi-sensor series written as the sensor cubes of one
 * tile (<tile>_s2.nc, _landsat.nc, _olci.nc, _s1.nc: the input of `clearcube
 * cloudless`) and its cloud-free truth (<tile>_truth.nc), for `clearcube
 * cloudless-sim` (demo, tests, benchmarks). From real pieces (cloudless_sim.h,
 * docs/cloudless-sim.md) or purely synthetic (analytic phenology, textbook
 * spectra, random cloud fields: needs no data). Every cube says SIMULATED in its
 * `inputs` attribute. */
#ifndef CC_PIPELINE_CLOUDLESS_SIM_CUBES_H
#define CC_PIPELINE_CLOUDLESS_SIM_CUBES_H

#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *out_dir;     /* folder of the cubes (created if absent)              */
    int synthetic;           /* 1: no real pieces                                    */
    const char *eolearn_tif; /* real pieces: scripts/npy2tif output                  */
    const char *datasets;    /* real pieces: ../shared/datasets                      */
    const char *split;       /* real pieces: "train" or "test"                       */
    long day0;               /* first day (days since 1970-01-01); 0: the default    */
    int ndays;               /* length of the series                                 */
    int size;                /* synthetic: image side in pixels                      */
    double seed;             /* >= 0, an integer                                     */
} cc_cl_sim_cubes_options;

typedef struct {
    char tile[8];            /* MGRS tile id the cubes are named by                  */
    long day0;               /* first and ...                                        */
    int ndays;               /* ... number of days of the series                     */
    int width, height;
    char label[512];         /* what was simulated (the cubes' `inputs`)             */
} cc_cl_sim_cubes_result;

/* Generates the series and writes the five cubes into o->out_dir (each replaced).
 * On failure a one-line message names the file or folder and the problem. */
cc_status cc_cl_sim_cubes_write(const cc_cl_sim_cubes_options *o, cc_cl_sim_cubes_result *r);

#ifdef __cplusplus
}
#endif
#endif
