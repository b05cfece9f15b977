/* clearcube: the one DN <-> reflectance mapping (docs/formats/cube.md,
 * docs/science.md "DN -> reflectance").
 *
 * On disk a reflectance is a uint16 DN. Decoding follows the product
 * metadata: rho = (DN + add_offset) / quantification, add_offset being
 * RADIO_ADD_OFFSET / BOA_ADD_OFFSET (-1000 from processing baseline 04.00, 0
 * before) and quantification 10000. Encoding is the inverse written by every
 * processor: DN = rho * quantification + dn_offset (dn_offset = -add_offset,
 * +1000 for baseline >= 04.00 products), rounded half up and clamped to
 * 1..65534, with 0 for nodata and for NaN. A valid reflectance so never turns
 * into nodata (0) nor into the saturation code of the S2 products (65535).
 *
 * The inline functions are the arithmetic the SIMD and CUDA kernels vectorise
 * (double maths; kernels/cpu/simd_avx512.c and kernels/cuda/ keep their
 * vector forms with these constants): same IEEE operations in the same order,
 * so every path gives the same bits. */
#ifndef CC_CORE_REFLECTANCE_H
#define CC_CORE_REFLECTANCE_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CC_REFL_QUANT 10000.0         /* QUANTIFICATION_VALUE of S2 L1C/L2A     */
#define CC_REFL_DN_OFFSET_PB04 1000.0 /* DN offset from baseline 04.00          */
#define CC_REFL_DN_NODATA 0
#define CC_REFL_DN_MIN 1
#define CC_REFL_DN_MAX 65534
#define CC_REFL_DN_SATURATED 65535    /* S2 SATURATED; never written for a value */

#if defined(__CUDACC__)
#define CC_REFL_INLINE static inline __host__ __device__
#else
#define CC_REFL_INLINE static inline
#endif

/* rho of a DN (or of a resampled, fractional DN); the caller tests nodata. */
CC_REFL_INLINE double cc_refl_decode(double dn, double add_offset, double quant)
{
    return (dn + add_offset) / quant;
}

/* The DN of an unrounded DN value q = rho * quant + dn_offset: NaN -> 0,
 * else round half up, clamped to 1..65534. */
CC_REFL_INLINE uint16_t cc_refl_dn_round(double q)
{
    if (isnan(q))
        return CC_REFL_DN_NODATA;
    if (q <= (double)CC_REFL_DN_MIN)
        return CC_REFL_DN_MIN;
    if (q >= (double)CC_REFL_DN_MAX)
        return CC_REFL_DN_MAX;
    return (uint16_t)floor(q + 0.5);
}

/* DN of a reflectance: round(rho * quant + dn_offset) clamped to 1..65534;
 * NaN -> 0 (nodata). */
CC_REFL_INLINE uint16_t cc_refl_encode(double rho, double dn_offset, double quant)
{
    return cc_refl_dn_round(rho * quant + dn_offset);
}

/* In place, a band of DN resampled to float (cc_grid_resample_band: 0 for
 * nodata) to reflectance: v <= 0 -> NaN, else (float)cc_refl_decode(v). */
void cc_refl_decode_band(float *v, size_t n, double add_offset, double quant);

#ifdef __cplusplus
}
#endif
#endif
