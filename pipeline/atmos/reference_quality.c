/* The reference cube's quality layer (pipeline/atmos/l2a_quality.h), from
 * the engine's slabs: the SMAC path (CPU or GPU) stays as it is, and the
 * quality of a pixel is read from the slab (nodata), the input rasters
 * (saturated) and the cloud mask computed once per scene. */
#include "pipeline/atmos/reference-impl.h"

/* The input DN of band j at output pixel (x, y). */
static uint16_t input_dn(const ref_engine *e, int j, int x, int y)
{
    if (e->resampled[j])
        return e->resampled[j][(size_t)y * e->g->width + x];
    const cc_raster_u16 *r = e->src[j];
    const int f = e->factor[j];
    return r->dn ? r->dn[(size_t)(y / f) * r->width + x / f] : 0;
}

void ref_quality_rows(const ref_engine *e, int y0, int h, const uint16_t *slab, uint16_t *q, size_t stride)
{
    const int W = e->g->width, nb = e->nbands, nl = nb + 2;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < h; r++)
        for (int x = 0; x < W; x++) {
            const size_t i = (size_t)r * W + x;
            const uint16_t *px = slab + i * nl;
            int valid = 0, sat = 0;
            for (int j = 0; j < nb; j++) {
                valid |= px[j] != 0;
                sat |= input_dn(e, j, x, y0 + r) == 65535;
            }
            q[i * stride] = !valid ? CC_Q_NODATA
                                   : (uint16_t)((sat ? CC_Q_SATURATED : 0) | cc_l2a_cloudbits_at(&e->cb, x, y0 + r));
        }
}
