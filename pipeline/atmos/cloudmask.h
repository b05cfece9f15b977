/* clearcube: a Sentinel-2 cloud and cloud-shadow mask of our own (issue 6).
 * In pipeline/atmos, the lowest room that every product using it may use: the
 * L2A cubes' quality layer (reference, boa) and Cloudless (issue 16).
 *
 * The cloud test is the dsen2-cr cloud score (Meraner et al. 2020,
 * ameraner/dsen2-cr Code/tools/feature_detectors.py; science.md section 6):
 * the minimum of five rescaled features
 *     B2 over [0.1, 0.5], B1 over [0.1, 0.3], B1+B10 over [0.15, 0.2],
 *     B2+B3+B4 over [0.2, 0.8], NDSI(B3, B11) over [0.8, 0.6]
 * (rescale(x, [a, b]) = (x - a) / (b - a), not clipped), then a 5x5 grey
 * closing, a 7x7 mean, clipping to [1e-5, 1] and score >= threshold (0.2).
 * A feature whose band is absent (B10 in L2A, B1 in some stacks) is dropped
 * from the minimum; cc_cloudmask_terms() says which were used.
 *
 * The shadow test is dsen2-cr's: CSI = (B8 + B11)/2 < min + 3/4 (mean - min)
 * and B2 < min + 5/6 (mean - min) (scene statistics over valid pixels), a 5x5
 * majority (median) filter, and (our addition, option shadow_search_m) only
 * within a distance of a cloud pixel. Clouds win over shadows. Then the cloud
 * mask is dilated by cloud_buffer_m and the shadow mask by shadow_buffer_m.
 *
 * Designed for TOA (L1C) reflectance; it runs unchanged on BOA (L2A) when
 * only L2A is at hand (clouds stay bright after atmospheric correction, the
 * scene-relative shadow thresholds adapt); see docs/cloudmask.md.
 *
 * Classes: CC_CM_NODATA 0, CC_CM_CLEAR 1, CC_CM_CLOUD 2, CC_CM_SHADOW 3,
 * CC_CM_SNOW 4, CC_CM_WATER 5.
 */
#ifndef CC_PIPELINE_ATMOS_CLOUDMASK_H
#define CC_PIPELINE_ATMOS_CLOUDMASK_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "io/grid/grid.h"
#include "io/s2/scene.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { CC_CM_NODATA = 0, CC_CM_CLEAR = 1, CC_CM_CLOUD = 2, CC_CM_SHADOW = 3, CC_CM_SNOW = 4,
       CC_CM_WATER = 5, CC_CM_NCLASSES = 6 };
/* "nodata", "clear", "cloud", "shadow", "snow", "water"; "?" out of range. */
const char *cc_cloudmask_class_name(int c);

/* The five dsen2-cr features (bits of cc_cloudmask_terms()). */
enum { CC_CM_TERM_B2 = 1, CC_CM_TERM_B1 = 2, CC_CM_TERM_B1B10 = 4, CC_CM_TERM_VIS = 8,
       CC_CM_TERM_NDSI = 16 };

/* Reflectance bands of ONE grid (row-major width*height floats in [0, 1],
 * NaN = nodata). band[b] == NULL: band b (CC_B01..CC_B12) is absent. All
 * borrowed. A pixel is nodata when any band the tests use is NaN there. */
typedef struct {
    int width, height;
    const float *band[CC_NBANDS];
    double pixel_size_m; /* grid spacing in metres (buffers are given in metres) */
} cc_cloudmask_input;

typedef struct {
    double threshold;       /* cloud score threshold (0.2)                         */
    int closing_size;       /* grey closing window, odd (5); 1 = none              */
    int mean_size;          /* box mean window, odd (7); 1 = none                  */
    int shadow_filter_size; /* majority filter of the shadow candidates (5)        */
    double shadow_search_m; /* shadows only within this distance of a cloud pixel
                               (6000 m); 0 = anywhere (plain dsen2-cr)             */
    double cloud_buffer_m;  /* dilation of the cloud mask (0)                       */
    double shadow_buffer_m; /* dilation of the shadow mask, into clear only (0)    */
    int snow_water;         /* 1 (default): classes 4 snow and 5 water (Fmask tests) */
    int red_proxy;          /* 1: B4 stands in for a missing B2 (brightness, shadow)
                               and B3 (visible sum, NDSI): the reduced test for
                               red/NIR/SWIR-only inputs (Landsat ESPA). 0 (default) */
} cc_cloudmask_options;

void cc_cloudmask_options_init(cc_cloudmask_options *o);

/* Which features the cloud score uses for these bands (CC_CM_TERM_* bits);
 * 0 if none can be computed. */
unsigned cc_cloudmask_terms(const cc_cloudmask_input *in, const cc_cloudmask_options *o);

/* Computes the mask (width*height classes, caller-allocated) and, when score
 * is not NULL, the smoothed cloud score (width*height floats, NaN on nodata).
 * Needs B2 (or B4 with red_proxy), B8 or B8A, and B11; CC_ERR_MISSING names
 * the band otherwise. CC_ERR_NODATA when no pixel is valid. */
cc_status cc_cloudmask_compute(const cc_cloudmask_input *in, const cc_cloudmask_options *o, uint8_t *mask);
cc_status cc_cloudmask_compute_score(const cc_cloudmask_input *in, const cc_cloudmask_options *o,
                                     uint8_t *mask, float *score);

/* The odd window (>= 1 px) closest from below to `metres` on the ground at
 * `pixel` metres per pixel: dsen2-cr's 5 and 7 px at 10 m are 50 m and 70 m. */
int cc_cloudmask_window_px(double metres, double pixel);

/* The mask of a scene on grid g (mask: g's pixels, caller-allocated): the
 * bands the tests use resampled onto g (cc_grid_resample_band: bands the
 * scene left in their files are read from there), decoded to reflectance.
 * *terms (may be NULL) receives cc_cloudmask_terms. Errors name the product.
 * Used by `clearcube cloudmask` and by the quality layer of the L2A cubes
 * (pipeline/atmos/l2a_quality.h). */
cc_status cc_cloudmask_scene(const cc_scene *s, const cc_grid *g, const cc_cloudmask_options *co, uint8_t *mask,
                             unsigned *terms);

/* Sen2Cor scene classification -> classes: 0 no data and 1 saturated or
 * defective -> nodata; 3 cloud shadow -> shadow; 8, 9 cloud medium/high
 * probability and 10 thin cirrus -> cloud; 11 snow -> snow; 6 water -> water;
 * 2 dark area / topographic shadow, 4 vegetation, 5 not vegetated and
 * 7 unclassified -> clear; anything else -> nodata. */
void cc_cloudmask_from_scl(const uint8_t *scl, size_t n, uint8_t *mask);
/* Fmask (ESPA: 0 clear land, 1 water, 2 shadow, 3 snow, 4 cloud, 255 fill;
 * anything else nodata) -> classes. */
void cc_cloudmask_from_fmask(const uint8_t *fmask, size_t n, uint8_t *mask);

/* Scores of one class against a reference. NaN where undefined (0/0). */
typedef struct {
    uint64_t tp, fp, fn;
    double precision, recall, f1, iou;
} cc_cloudmask_class_score;

typedef struct {
    uint64_t n;          /* pixels valid (class != 0) in both masks                 */
    uint64_t confusion[CC_CM_NCLASSES][CC_CM_NCLASSES]; /* [pred][ref], all pixels   */
    cc_cloudmask_class_score cloud, shadow;
    double overall_accuracy; /* over n, classes collapsed to cloud / shadow / other   */
} cc_cloudmask_scores;

/* Compares two class masks of n pixels (values >= CC_CM_NCLASSES count as
 * nodata). Never fails. */
void cc_cloudmask_evaluate(const uint8_t *pred, const uint8_t *ref, size_t n, cc_cloudmask_scores *s);

#ifdef __cplusplus
}
#endif
#endif
