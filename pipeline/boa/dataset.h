/* clearcube: training data for an L1C -> L2A emulator (`clearcube dataset`).
 *
 * A YAML config lists sources (real L1C with reference-processor targets,
 * real Sen2Cor L2A turned into SIMULATED L1C with the SMAC forward model, real
 * L1C/L2A pairs), each with a scene name and a train/val split; the build cuts
 * them into 128x128 patches of the 12 L2A bands and writes one HDF5 file
 * (format: docs/formats/dataset.md). */
#ifndef CC_PIPELINE_BOA_DATASET_H
#define CC_PIPELINE_BOA_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "io/s2/scene.h"
#include "io/grid/grid.h"
#include "pipeline/atmos/reference.h"
#include "kernels/smac/smac.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CC_DATASET_PATCH 128
#define CC_DATASET_NCTX 7 /* mu_s, mu_v, cos_raa, aot550, wv, p_rel, o3 (patch means) */
#define CC_DATASET_DN_OFFSET 1000 /* DN = 10000 rho + 1000 (core/reflectance.h) */

typedef enum {
    CC_DS_REFERENCE = 0,   /* real L1C, targets from the reference processor                 */
    CC_DS_SEN2COR_L2A = 1, /* real Sen2Cor L2A -> SIMULATED L1C, targets the Sen2Cor BOA      */
    CC_DS_PAIR = 2,        /* real L1C + real L2A                                             */
    CC_DS_LIBRARY = 3,     /* real surface spectra for the spectral library (no patches)      */
    CC_DS_SIMULATED = 4,   /* SIMULATED L1C from the library over the domain, reference targets */
    CC_DS_NKINDS = 5
} cc_dataset_kind;

typedef struct cc_dataset_config cc_dataset_config;

/* Parses a config file. On failure *out is NULL and the last error names the
 * file, the key path and the problem. */
cc_status cc_dataset_config_load(const char *path, cc_dataset_config **out);
void cc_dataset_config_free(cc_dataset_config *c);
/* Prints the documented key table (for --help). */
void cc_dataset_config_print_keys(void);

typedef struct {
    size_t n_patches, n_train, n_val;
    size_t n_kind[CC_DS_NKINDS];
    int n_sources_used, n_sources_skipped;
    int n_scenes;
    double seconds;
} cc_dataset_summary;

/* Builds the dataset into `out_path` (written atomically: a temporary file in
 * the same folder, renamed on success, removed on failure). */
cc_status cc_dataset_build(const cc_dataset_config *c, const char *out_path, cc_dataset_summary *sum);

/* ---- Sen2Cor L2A -> SIMULATED L1C, shared by `clearcube dataset` (kind
 * sen2cor-l2a) and `clearcube simulate --from-l2a`. */

/* 1 when the scene has all 12 L2A bands; else 0 and their names, comma
 * separated, in `miss`. */
int cc_dataset_has_l2a_bands(const cc_scene *s, char *miss, size_t len);

/* The 12 L2A bands of a scene on its finest grid (the dataset builder's grid)
 * as dataset DN (0 = nodata), band-planar in one block: boa[k] = data + k*npix.
 * With `atmosphere` and both AOT and WVP layers present, also the per-pixel
 * AOT550 and water vapour (g cm-2) on the same grid, NaN where undefined, and
 * the median water vapour; aot/wv stay NULL (wv_median NaN) otherwise, also
 * when the WVP layer has no valid pixel. */
typedef struct {
    cc_grid grid;
    uint16_t *data;
    uint16_t *boa[CC_L2A_NBANDS];
    float *aot, *wv;
    double wv_median;
} cc_dataset_l2a;

cc_status cc_dataset_l2a_read(const cc_scene *s, int atmosphere, cc_dataset_l2a *l);
void cc_dataset_l2a_free(cc_dataset_l2a *l);

/* The SMAC forward model for the 12 L2A bands at one geometry and a uniform
 * atmosphere (ozone 0.331 cm-atm), per-pixel AOT/WV optional. */
typedef struct {
    const cc_smac_coefs *cf[CC_L2A_NBANDS];
    cc_smac_terms t[CC_L2A_NBANDS];
    cc_smac_atmos at;
} cc_dataset_forward;

/* Fails only when the spacecraft has no SMAC coefficients (returns CC_ERR_ARG, no message set). */
cc_status cc_dataset_forward_init(cc_dataset_forward *f, cc_spacecraft sc, double sun_zenith, double sun_azimuth,
                                  double view_zenith, double view_azimuth, double pressure_hpa, double aot550,
                                  double water_vapour);
/* One pixel: surface DN in[k*stride] (dataset DN, all valid) -> simulated TOA
 * DN out[k*stride]. aot550/water_vapour NaN: the uniform values of `f`;
 * either one set: that pixel's own terms. */
void cc_dataset_forward_pixel(const cc_dataset_forward *f, double aot550, double water_vapour, const uint16_t *in,
                              size_t in_stride, uint16_t *out, size_t out_stride);

/* Mean sun/view geometry over the w x h pixels at (x0, y0) of grid g (every
 * 8th pixel; view angles averaged over the L2A bands' grids, azimuths as unit
 * vectors; view 0/0 when the scene has no view grid). */
void cc_dataset_region_angles(const cc_scene *s, const cc_grid *g, int x0, int y0, int w, int h, double *sun_zenith,
                              double *sun_azimuth, double *view_zenith, double *view_azimuth);

#ifdef __cplusplus
}
#endif
#endif
