/* clearcube: a small simulated Sentinel-2 L1C scene for demos and tests.
 *
 * A synthetic landscape (fields of crops, forest, bare soil, a lake, a town)
 * with class spectra for all 13 bands is taken through the SMAC forward model
 * at a known atmosphere, then written as a 13-band GeoTIFF in L1C DN
 * convention (10000*rho + 1000, processing baseline >= 04.00) together with
 * the true surface reflectance. Everything written is labelled SIMULATED in
 * its metadata. */
#ifndef CC_PIPELINE_SIMULATE_H
#define CC_PIPELINE_SIMULATE_H

#include <stdint.h>

#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int size;            /* width = height in pixels (10 m)   */
    unsigned seed;
    double aot550, uh2o; /* atmosphere of the simulation      */
    double sun_zenith, sun_azimuth, view_zenith, view_azimuth;
} cc_simulate_options;

void cc_simulate_options_init(cc_simulate_options *o);

/* Writes <dir>/S2A_SIMULATED_L1C.tif (13 bands B01..B12, UInt16, EPSG:32632)
 * and <dir>/S2A_SIMULATED_TRUTH_BOA.tif (same grid, 13 bands, L2A DN of the
 * true surface), and <dir>/S2A_SIMULATED_L1C.options, one line holding the
 * command-line options that describe the stack. */
cc_status cc_simulate_scene(const char *dir, const cc_simulate_options *o);

#ifdef __cplusplus
}
#endif
#endif
