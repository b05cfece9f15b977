/* clearcube: SMAC inversion of one band on an NVIDIA GPU.
 *
 * Same equations as kernels/smac/smac.c (computed in double precision on the
 * device; inputs and outputs are float). Only built when CUDA is found
 * (CC_HAVE_CUDA); tests/smac/test_smac_cuda.c checks parity with the CPU
 * reference. */
#ifndef CC_KERNELS_CUDA_SMAC_CUDA_H
#define CC_KERNELS_CUDA_SMAC_CUDA_H

#include <stddef.h>

#include "core/error.h"
#include "kernels/smac/smac.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Geometry and atmosphere of the inversion. Scalars apply to every pixel;
 * an optional per-pixel array (host memory, n floats, caller-owned) replaces
 * its scalar when non-NULL. Angles in degrees. */
typedef struct {
    double tetas, phis, tetav, phiv;  /* per-tile geometry                      */
    const float *tetas_px, *phis_px, *tetav_px, *phiv_px; /* or per pixel     */
    double pressure_hpa;              /* surface pressure, hPa                  */
    const float *pressure_px;         /* or per pixel (e.g. from a DEM)         */
    double aot550;                    /* aerosol optical thickness at 550 nm    */
    double uo3;                       /* ozone, cm-atm                          */
    double uh2o;                      /* water vapour, g cm-2                   */
    const float *uh2o_px;             /* or a per-pixel water vapour field      */
} cc_cuda_smac_params;

/* Surface reflectance of one band: surf[i] = SMAC inverse of toa[i] with the
 * band coefficients c. toa and surf are host arrays of n floats (caller-owned;
 * they may be the same array). NaN TOA gives NaN surface reflectance.
 * Returns CC_ERR_UNSUPPORTED when no usable GPU/driver is present (e.g.
 * cudaGetDeviceCount fails with cudaErrorInsufficientDriver, 35),
 * CC_ERR_ARG for bad arguments, CC_ERR_INTERNAL for any other CUDA failure
 * (the message names the call). */
cc_status cc_cuda_smac_invert(const cc_smac_coefs *c, const cc_cuda_smac_params *p,
                              const float *toa, size_t n, float *surf);

#ifdef __cplusplus
}
#endif
#endif
