/* clearcube: the quality layer of the L2A cubes (issue 16), one for the
 * reference processor and Rapid BoA (docs/formats/cube.md, "Quality layer").
 *
 * The layer "quality" is uint8 with CF flag_masks / flag_meanings, one bit a
 * property (a pixel may have several):
 *     1 nodata          no valid input (the bands are nodata too)
 *     2 saturated       an input band is saturated (L1C DN 65535)
 *     4 cloud           }
 *     8 cloud_shadow    } the project's cloud mask (pipeline/atmos/cloudmask.h)
 *    16 snow            } on the L1C input, on a grid of about 60 m
 *    32 water           }
 *    64 out_of_domain   Rapid BoA: the inputs are outside the model's training
 *                       domain (pipeline/boa/quality.h)
 *   128 recomputed_by_reference  Rapid BoA --fallback reference: the bands are
 *                       the physical processor's
 * 0 is a clear, valid pixel. _FillValue 255 is never written (nodata excludes
 * every other bit); valid_range 0..254. The reference cube's layer lists the
 * first six bits, Rapid BoA's all eight.
 *
 * The cloud classes come from cc_cloudmask_scene on the output grid coarsened
 * by the integer factor that brings it closest to 60 m from below (1 at 60 m
 * and coarser): the mask needs scene statistics and neighbourhoods, so it is
 * computed once before the streamed run, and each output pixel takes the class
 * of the mask pixel it lies in. */
#ifndef CC_PIPELINE_ATMOS_L2A_QUALITY_H
#define CC_PIPELINE_ATMOS_L2A_QUALITY_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "io/cube.h"
#include "io/grid/grid.h"
#include "io/s2/scene.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    CC_Q_NODATA = 1,
    CC_Q_SATURATED = 2,
    CC_Q_CLOUD = 4,
    CC_Q_SHADOW = 8,
    CC_Q_SNOW = 16,
    CC_Q_WATER = 32,
    CC_Q_OUT_OF_DOMAIN = 64,
    CC_Q_RECOMPUTED = 128
};
#define CC_Q_LAYER "quality"
#define CC_Q_FILL 255
#define CC_Q_NFLAGS_L2A 6 /* reference: nodata .. water            */
#define CC_Q_NFLAGS_BOA 8 /* Rapid BoA: and the two domain bits    */
#define CC_Q_MASK_RES_M 60.0

/* The cloud mask of a scene, on a grid coarser than the output's. */
typedef struct {
    cc_grid grid;     /* the mask's grid (wkt borrowed from the output grid) */
    int factor;       /* output pixels per mask pixel along each axis        */
    uint8_t *bits;    /* grid's pixels: CC_Q_CLOUD/SHADOW/SNOW/WATER or 0    */
    char summary[256];/* "score (B2 B1 ...) at 60 m: cloud 12.3 %, ..." or why
                         there is none                                        */
} cc_l2a_cloudbits;

/* Computes the mask of s for the output grid g. A scene the mask cannot be
 * computed for (a band it needs is absent, no valid pixel) is not an error:
 * bits stay NULL (no cloud bit is set), a warning says why, and summary
 * starts with "none". Only out of memory and read failures fail. */
cc_status cc_l2a_cloudbits_compute(const cc_scene *s, const cc_grid *g, cc_l2a_cloudbits *cb);
void cc_l2a_cloudbits_free(cc_l2a_cloudbits *cb);

/* The cloud bits of output pixel (x, y); 0 without a mask. */
static inline uint8_t cc_l2a_cloudbits_at(const cc_l2a_cloudbits *cb, int x, int y)
{
    if (!cb || !cb->bits)
        return 0;
    return cb->bits[(size_t)(y / cb->factor) * (size_t)cb->grid.width + (size_t)(x / cb->factor)];
}

/* The quality bit of a cloud-mask class (cloudmask.h); 0 for clear and nodata. */
uint8_t cc_l2a_quality_class_bit(int cls);

/* The layer's description (data NULL; uint8 flag_masks layer): nflags
 * CC_Q_NFLAGS_L2A for the reference, CC_Q_NFLAGS_BOA for Rapid BoA. */
void cc_l2a_quality_layer(cc_cube_layer *layer, int nflags, const uint16_t *data);

#ifdef __cplusplus
}
#endif
#endif
