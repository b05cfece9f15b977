/* clearcube: the per-pixel atmosphere of the reference processor (the
 * "context"), built once per scene and shared by the reference's SMAC loop
 * (pipeline/atmos/reference.c) and Rapid BoA (pipeline/boa/boa.c), so that
 * the emulator receives exactly the values the reference corrects with.
 * See docs/reference-processor.md, "Context".
 *
 * Built on a coarse grid (60 m by default, aligned with the output grid's
 * upper-left corner): the bands the retrievals need are box-averaged onto it,
 * then per coarse pixel: sun and view geometry (angle grids), water vapour
 * (B9/B8A, atmos.h), pressure (sea level, --elevation or a DEM); per scene:
 * the DDV aerosol and the ozone. cc_reference_context_fill samples the coarse
 * fields bilinearly at the centres of output pixels and QUANTISES every value
 * to the emulator's input resolution (1e-4 of "feature + 1", the features of
 * cc_reference_pixel_features): the reference and the emulator then see the
 * same bits (mu 1e-4, AOT 1e-4, water vapour 2e-4 g cm-2, pressure
 * 0.101325 hPa, ozone 1e-4 cm-atm).
 *
 * cc_reference_smac_pixel is the reference's own per-pixel code path: SMAC
 * terms without water vapour from (geometry, AOT, pressure, ozone), times the
 * per-band H2O transmittance of the pixel's water vapour, inverted for the 12
 * L2A bands. The block loop of the reference caches the dry terms
 * (cc_reference_smac_cache) and gives the same bits.
 *
 * Everything is deterministic and independent of threads and block sizes. */
#ifndef CC_PIPELINE_ATMOS_CONTEXT_H
#define CC_PIPELINE_ATMOS_CONTEXT_H

#include <stddef.h>

#include "core/error.h"
#include "io/grid/grid.h"
#include "io/s2/scene.h"
#include "kernels/smac/smac.h"
#include "pipeline/atmos/reference.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The atmosphere of one output pixel (quantised as described above). */
typedef struct {
    float mu_s;         /* cos(sun zenith)                              */
    float mu_v;         /* cos(view zenith)                             */
    float cos_raa;      /* cos(sun azimuth - view azimuth)              */
    float aot550;       /* aerosol optical thickness at 550 nm          */
    float wv;           /* water vapour, g cm-2                         */
    float pressure_hpa; /* surface pressure, hPa                        */
    float ozone;        /* cm-atm                                       */
} cc_atmos_pixel;

#define CC_ATMOS_NFEATURES 7
/* The emulator's context features of px, each "feature + 1", in the order of
 * the model channels MU_S, MU_V, COS_RAA, AOT550, WV_HALF, P_REL, O3:
 * mu_s+1, mu_v+1, cos_raa+1, aot+1, wv/2+1, p/1013.25+1, ozone+1. */
void cc_reference_pixel_features(const cc_atmos_pixel *px, double out[CC_ATMOS_NFEATURES]);

typedef struct cc_reference_context cc_reference_context;

/* Builds the context of scene s for the output grid `out` (the grid of
 * cc_grid_for_scene(s, o->resolution); borrowed by the context, which must
 * not outlive s). o->context_resolution picks the coarse grid (0: 60 m, or
 * the output resolution when coarser). Options override retrievals (o->aot550,
 * o->water_vapour, o->elevation_m / o->dem_path, o->ozone). On success *ctx
 * is freed with cc_reference_context_free; on failure *ctx is NULL and the
 * last error names the product and the problem. */
cc_status cc_reference_context_build(const cc_scene *s, const cc_reference_options *o, const cc_grid *out,
                                     cc_reference_context **ctx);
void cc_reference_context_free(cc_reference_context *c);

/* The scene summary (AOT, median water vapour, mean pressure, sources, mean
 * angles, coarse grid resolution). Borrowed from c. */
const cc_reference_atmos *cc_reference_context_atmos(const cc_reference_context *c);

/* Fills out[r*w + i] with the context of output pixel (x0 + i, y0 + r),
 * for the block [x0, x0+w) x [y0, y0+h) of the output grid. */
void cc_reference_context_fill(const cc_reference_context *c, int x0, int y0, int w, int h, cc_atmos_pixel *out);

/* The SMAC coefficients of the 12 L2A bands (cc_l2a_bands order; NULL: none)
 * the context corrects with (kernels/smac/smac-pixel.h). Borrowed from c. */
const cc_smac_coefs *const *cc_reference_context_coefs(const cc_reference_context *c);

/* SMAC inversion of one pixel for the 12 L2A bands (cc_l2a_bands order):
 * toa[k] TOA reflectance (NaN = nodata) -> boa[k] surface reflectance (NaN
 * where toa is NaN or the band has no coefficients). px is quantised first,
 * so any values may be passed. Encode with cc_refl_encode(boa, dn_offset,
 * CC_REFL_QUANT), dn_offset = cc_reference_output_dn_offset(s). */
void cc_reference_smac_pixel(const cc_reference_context *c, const cc_atmos_pixel *px,
                             const double toa[CC_L2A_NBANDS], double boa[CC_L2A_NBANDS]);

/* The same without a scene: the SMAC coefficients of spacecraft sc (NaN in
 * every band for a spacecraft without coefficients). cc_reference_smac_pixel
 * is this with the context's spacecraft; kind simulated of `clearcube
 * dataset` computes its targets with it, from the context it stores. */
void cc_reference_smac_pixel_sc(cc_spacecraft sc, const cc_atmos_pixel *px, const double toa[CC_L2A_NBANDS],
                                double boa[CC_L2A_NBANDS]);

/* The same with a per-thread cache of the dry terms (one cache per thread;
 * results identical to cc_reference_smac_pixel). */
typedef struct cc_reference_smac_cache cc_reference_smac_cache;
cc_reference_smac_cache *cc_reference_smac_cache_new(void); /* NULL: out of memory */
void cc_reference_smac_cache_free(cc_reference_smac_cache *k);
void cc_reference_smac_pixel_cached(const cc_reference_context *c, cc_reference_smac_cache *k,
                                    const cc_atmos_pixel *px, const double toa[CC_L2A_NBANDS],
                                    double boa[CC_L2A_NBANDS]);

#ifdef __cplusplus
}
#endif
#endif
