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
#include "kernels/smac/smac-pixel.h"
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

/* ---- the reference processor's per-pixel SMAC (kernels/smac/smac-pixel.h) ----
 *
 * The same operations as the CPU's (pipeline/atmos/reference_stream.c): per
 * pixel, the TOA of the output bands from their DN, the dry terms from the
 * quantised atmosphere, the inversion, the L2A DN and AOT/WVP. Blocks of
 * pixels go through `lanes` (2) CUDA streams: a block submitted on one lane
 * is copied, computed and copied back while the caller prepares the next one
 * on the other. The host buffers passed to submit should be pinned
 * (cc_cuda_host_alloc) for the copies to be asynchronous. All calls on the
 * device current when cc_cuda_smac_px_new was called (cc_device_resolve). */
typedef struct cc_cuda_smac_px cc_cuda_smac_px;
#define CC_CUDA_SMAC_PX_LANES 2

/* coefs[k]: the coefficients of L2A band k (NULL: none); b: the output
 * bands; cap: the most pixels of a block. CC_ERR_UNSUPPORTED without a usable
 * GPU, CC_ERR_INTERNAL on other CUDA failures (the message names the call). */
cc_status cc_cuda_smac_px_new(const cc_smac_coefs *const coefs[CC_SMAC_PX_NB], const cc_smac_px_bands *b,
                              size_t cap, cc_cuda_smac_px **out);
void cc_cuda_smac_px_free(cc_cuda_smac_px *g);
/* Starts a block of n <= cap pixels on lane (0 .. LANES-1, idle): dn
 * (n x b->nb, channels-last), px (n x 7 floats) -> out (n x (b->nb + 2)).
 * The buffers must stay untouched until cc_cuda_smac_px_wait(lane). */
cc_status cc_cuda_smac_px_submit(cc_cuda_smac_px *g, int lane, const uint16_t *dn, const float *px, size_t n,
                                 uint16_t *out);
/* Waits for the block of lane; *n_valid (may be NULL): its pixels with a
 * valid band. A lane without a block returns at once (n_valid 0). */
cc_status cc_cuda_smac_px_wait(cc_cuda_smac_px *g, int lane, size_t *n_valid);

/* Page-locked host memory (cudaHostAlloc), NULL with the error set on
 * failure; cc_cuda_host_free(NULL) does nothing. */
void *cc_cuda_host_alloc(size_t bytes);
void cc_cuda_host_free(void *p);

#ifdef __cplusplus
}
#endif
#endif
