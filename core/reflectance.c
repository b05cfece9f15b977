/* clearcube: the one DN <-> reflectance mapping (see core/reflectance.h). */
#include "core/reflectance.h"

void cc_refl_decode_band(float *v, size_t n, double add_offset, double quant)
{
    for (size_t i = 0; i < n; i++)
        v[i] = v[i] <= 0.0f ? NAN : (float)cc_refl_decode(v[i], add_offset, quant);
}
