/* clearcube: a small simulated Sentinel-2 L1C scene for demos and tests.
 *
 * A synthetic landscape (fields of crops, forest, bare soil, a lake, a town)
 * with class spectra for all 13 bands is taken through the SMAC forward model
 * at a known atmosphere, then written as a 13-band GeoTIFF in L1C DN
 * convention (10000*rho + 1000, processing baseline >= 04.00) together with
 * the true surface reflectance. Everything written is labelled SIMULATED in
 * its metadata. */
#ifndef CC_PIPELINE_BOA_SIMULATE_H
#define CC_PIPELINE_BOA_SIMULATE_H

#include <stdint.h>

#include "core/error.h"
#include "io/s2/scene.h"

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

/* The scene options that describe the stack cc_simulate_scene writes (what its
 * .options sidecar says, as a struct for cc_scene_open). The strings are static. */
void cc_simulate_scene_options(const cc_simulate_options *so, cc_scene_options *o);

/* `clearcube simulate --from-l2a`: a SIMULATED L1C of a real Sen2Cor L2A
 * product. The 12 L2A bands are resampled onto the product's finest grid and
 * taken through the SMAC forward model exactly as `clearcube dataset` does for
 * kind sen2cor-l2a (cc_dataset_l2a_read, cc_dataset_forward_pixel), at the
 * scene-mean geometry. Writes into dir (created if absent; all files written
 * to temporaries and renamed only when everything succeeded):
 *   <SC>_SIMULATED_L1C.tif + .options  12 bands, DN = 10000 rho_TOA + 1000
 *   <SC>_SEN2COR_BOA.tif + .options    the product's BOA on the same grid, DN = 10000 rho + 1000
 *   README-SIMULATED.txt               what is simulated, atmosphere, geometry
 * A pixel is nodata (0 in all bands of both stacks) where any band is nodata
 * or, with per-pixel atmosphere, where AOT or WVP is undefined. */
typedef struct {
    cc_scene_options scene; /* options for the L2A product (stacks need spacecraft, date, angles) */
    double aot550;          /* NaN: per pixel from the AOT layer if present, else 0.15 */
    double uh2o;            /* NaN: per pixel from the WVP layer if present, else 1.6 g cm-2 */
    double elevation;       /* metres (surface pressure); NaN: sea level */
} cc_simulate_l2a_options;

void cc_simulate_l2a_options_init(cc_simulate_l2a_options *o);

typedef struct {
    char l1c[4096], boa[4096], readme[4096];
    int width, height;
    size_t n_valid;
} cc_simulate_l2a_result;

cc_status cc_simulate_from_l2a(const char *product, const char *dir, const cc_simulate_l2a_options *o,
                               cc_simulate_l2a_result *r);

#ifdef __cplusplus
}
#endif
#endif
