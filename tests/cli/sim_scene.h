/* The SIMULATED scene the reference tests start from: simulates a size x size
 * L1C stack with `seed` (0: the simulator's default) into a fresh test folder
 * named `name`, and opens it with the options the simulation implies.
 * Returns the folder (the truth files lie beside the stack) and fills *so and
 * *s; on failure the CHECKs have counted it and *s is NULL. */
#ifndef CC_TESTS_CLI_SIM_SCENE_H
#define CC_TESTS_CLI_SIM_SCENE_H

#include <gdal.h>
#include <stdio.h>

#include "io/s2/scene.h"
#include "pipeline/boa/simulate.h"
#include "testutil.h"

static inline const char *sim_scene_open(const char *name, int size, unsigned seed, cc_simulate_options *so,
                                         cc_scene **s)
{
    GDALAllRegister();
    const char *dir = cc_test_tmpdir(name);
    cc_simulate_options_init(so);
    so->size = size;
    if (seed)
        so->seed = seed;
    *s = NULL;
    CHECK_OK(cc_simulate_scene(dir, so));
    char path[4200];
    snprintf(path, sizeof path, "%s/S2A_SIMULATED_L1C.tif", dir);
    cc_scene_options o;
    cc_simulate_scene_options(so, &o);
    CHECK_OK(cc_scene_open(path, &o, s));
    return dir;
}

#endif
