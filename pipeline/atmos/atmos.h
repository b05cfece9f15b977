/* clearcube: atmospheric inputs of the reference (SMAC) processor retrieved
 * from the L1C scene itself, without CAMS: water vapour from the B9/B8A
 * absorption ratio and aerosol optical thickness at 550 nm from dark dense
 * vegetation (Sen2Cor's DDV rule). See science.md section 1.
 *
 * All radiative transfer goes through SMAC (kernels/smac/smac.h), in double
 * precision. Results are deterministic and do not depend on the number of
 * OpenMP threads (per-pixel work is independent; reductions are serial). */
#ifndef CC_PIPELINE_ATMOS_ATMOS_H
#define CC_PIPELINE_ATMOS_ATMOS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "io/s2/scene.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Defaults used by callers when a retrieval fails (sen2like fallbacks). */
#define CC_ATMOS_DEFAULT_WV 2.0     /* g cm-2                                 */
#define CC_ATMOS_DEFAULT_AOT 0.2    /* aerosol optical thickness at 550 nm    */
#define CC_ATMOS_DEFAULT_UO3 0.331  /* cm-atm                                 */
#define CC_ATMOS_WV_MIN 0.05        /* clamp range of retrieved WV, g cm-2    */
#define CC_ATMOS_WV_MAX 7.0
/* AOT assumed by the water-vapour retrieval for the (small) scattering
 * difference between B8A and B9. */
#define CC_ATMOS_WV_AOT 0.1
/* Darkest continuum-band TOA reflectance for which the ratio is used: below
 * it (water, deep shadow) the equal-surface-reflectance assumption fails. */
#define CC_ATMOS_WV_MIN_REF 0.05

/* Water vapour (g cm-2) of one pixel from TOA reflectances of B9 (945 nm,
 * strong H2O absorption) and the continuum band B8A (865 nm).
 *
 * Better than the plain ratio u = (ln(rho9/rho8a)/ah2o_9)^(1/nh2o_9)/m: the
 * surface reflectance is taken equal in both bands, rho_s is obtained by
 * SMAC-inverting B8A at trial u (so B8A's own weak H2O absorption, the other
 * gases at this pressure, path reflectance and scattering transmittances of
 * both bands are accounted for, at an assumed AOT of CC_ATMOS_WV_AOT), and u
 * is solved so that the SMAC forward B9 TOA equals rho9 (Illinois regula
 * falsi on ln u, to 1e-10).
 *
 * Angles in degrees (sun zenith, view zenith; B8A/B9 results hardly depend on
 * the azimuths, which are taken as 0 and 180). The result is clamped to
 * [CC_ATMOS_WV_MIN, CC_ATMOS_WV_MAX]. Returns NaN when not retrievable:
 * unknown spacecraft, non-finite or non-positive reflectance,
 * rho8a < CC_ATMOS_WV_MIN_REF (water, shadow: the ratio is unreliable there),
 * or bad geometry. */
double cc_atmos_wv_pixel(cc_spacecraft sc, double rho9, double rho8a, double tetas, double tetav,
                         double pressure_hpa);

/* The scene handed to the retrievals. Nothing here is owned by the struct. */
typedef struct cc_atmos_input {
    cc_spacecraft sc;
    size_t n;                      /* pixels per band                             */
    const float *toa[CC_NBANDS];   /* TOA reflectance of band b on one common
                                      grid, n values, NaN = nodata; NULL if the
                                      band is absent                               */
    const uint8_t *scl;            /* optional Sen2Cor scene classes (n), or NULL  */
    double tetas, phis, tetav, phiv; /* degrees, scene-constant                    */
    double pressure_hpa, uo3;      /* surface pressure (hPa), ozone (cm-atm)       */
} cc_atmos_input;

/* Per-pixel water vapour field (g cm-2) into wv (n floats, caller-owned).
 * Needs B9 and B8A; if B8A is absent B08 is used as the continuum band (with a
 * cc_warn: B08 itself absorbs more and is wider). Pixels that cannot be
 * retrieved (nodata, rho < CC_ATMOS_WV_MIN_REF in the continuum band, SCL 0
 * nodata, 1 defective, 6 water) are filled with the scene median, returned in
 * *scene_wv; *n_valid is the number of retrieved pixels (either may be NULL).
 * Errors: CC_ERR_MISSING if B9 (or both B8A and B08) is absent, so that the
 * caller can fall back to CC_ATMOS_DEFAULT_WV; CC_ERR_NODATA if no pixel is
 * retrievable (wv is then all NaN); CC_ERR_UNSUPPORTED for an unknown
 * spacecraft; CC_ERR_NOMEM. */
cc_status cc_atmos_retrieve_wv(const cc_atmos_input *in, float *wv, double *scene_wv,
                               size_t *n_valid);

typedef struct {
    double aot550;   /* retrieved (or fallback) AOT at 550 nm                      */
    size_t n_ddv;    /* number of DDV pixels used in the last iteration            */
    double b12_max;  /* upper surface-B12 threshold used (0.05, 0.10 or 0.12)      */
    int fallback;    /* 1 if CC_ATMOS_DEFAULT_AOT was returned instead             */
} cc_aot_result;

/* Dark-dense-vegetation AOT at 550 nm (Sen2Cor's rule), given the water
 * vapour uh2o (g cm-2) to use in the SMAC terms.
 *
 * Needs B04 and B12, and B08 (or B8A) for the water test. Valid pixels: B04,
 * B12 and NIR finite and > 0 and SCL not 0/1. Candidates: valid, not water
 * (TOA NDVI = (NIR - red)/(NIR + red) >= 0.1 and NIR >= 0.11) and, when scl is
 * given, not SCL 2, 3, 6, 8, 9, 10 or 11. Iteration from tau = 0.2: surface
 * B12 = SMAC inversion of B12 at the current tau; DDV = candidates with
 * 0.01 <= rho_s,B12 <= b12_max, b12_max = 0.05, relaxed to 0.10 then 0.12
 * while DDV < 2 % of valid pixels (at 0.12 at least 100 pixels are needed);
 * expected surface red = 0.5 rho_s,B12; each DDV pixel's tau solves
 * forward-SMAC_B04(expected red; tau) = TOA B04: the first crossing is found
 * on a 0.002 grid over [0, 1] (the forward TOA stops increasing above ~1) and
 * refined linearly within the grid cell (pixels already too dark at tau = 0
 * count as 0, pixels never reached by tau = 1 count as 1). The scene value is
 * the MEDIAN of the per-pixel solutions (robust to non-DDV contamination and
 * to the censored ends). Repeats until tau changes by < 0.01 (max 10 times).
 * The blue constraint (rho_blue = 0.5 rho_red) is not used.
 *
 * If there are too few DDV pixels, or the median is censored at 1 (no
 * solution), out->fallback = 1 and out->aot550 = CC_ATMOS_DEFAULT_AOT, with a
 * cc_warn; this is still CC_OK. Errors: CC_ERR_MISSING (B04, B12 or NIR
 * absent), CC_ERR_UNSUPPORTED (unknown spacecraft), CC_ERR_ARG, CC_ERR_NOMEM. */
cc_status cc_atmos_retrieve_aot(const cc_atmos_input *in, double uh2o, cc_aot_result *out);

#ifdef __cplusplus
}
#endif
#endif
