/* The quality layer of the L2A cubes: the cloud mask of a scene for an
 * output grid and the layer's CF description (pipeline/atmos/l2a_quality.h). */
#include "pipeline/atmos/l2a_quality.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "pipeline/atmos/cloudmask.h"

static const uint8_t masks[CC_Q_NFLAGS_BOA] = {CC_Q_NODATA, CC_Q_SATURATED, CC_Q_CLOUD,         CC_Q_SHADOW,
                                               CC_Q_SNOW,   CC_Q_WATER,     CC_Q_OUT_OF_DOMAIN, CC_Q_RECOMPUTED};
#define MEANINGS_L2A "nodata saturated cloud cloud_shadow snow water"
#define MEANINGS_BOA MEANINGS_L2A " out_of_domain recomputed_by_reference"

uint8_t cc_l2a_quality_class_bit(int cls)
{
    switch (cls) {
    case CC_CM_CLOUD: return CC_Q_CLOUD;
    case CC_CM_SHADOW: return CC_Q_SHADOW;
    case CC_CM_SNOW: return CC_Q_SNOW;
    case CC_CM_WATER: return CC_Q_WATER;
    default: return 0;
    }
}

void cc_l2a_cloudbits_free(cc_l2a_cloudbits *cb)
{
    free(cb->bits);
    cb->bits = NULL;
}

cc_status cc_l2a_cloudbits_compute(const cc_scene *s, const cc_grid *g, cc_l2a_cloudbits *cb)
{
    memset(cb, 0, sizeof *cb);
    int f = (int)floor(CC_Q_MASK_RES_M / g->gt[1] + 1e-9);
    cb->factor = f < 1 ? 1 : f;
    cc_grid *mg = &cb->grid;
    mg->width = (g->width + cb->factor - 1) / cb->factor;
    mg->height = (g->height + cb->factor - 1) / cb->factor;
    memcpy(mg->gt, g->gt, sizeof mg->gt);
    mg->gt[1] *= cb->factor;
    mg->gt[5] *= cb->factor;
    mg->wkt = g->wkt;
    const size_t n = cc_grid_npix(mg);
    uint8_t *cls = cc_malloc3(n, 1, 1);
    if (!cls)
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory for the cloud mask", s->product_id);
    cc_cloudmask_options co;
    cc_cloudmask_options_init(&co);
    co.closing_size = cc_cloudmask_window_px(50.0, mg->gt[1]);
    co.mean_size = cc_cloudmask_window_px(70.0, mg->gt[1]);
    unsigned terms = 0;
    cc_status st = cc_cloudmask_scene(s, mg, &co, cls, &terms);
    if (st == CC_ERR_MISSING || st == CC_ERR_NODATA) {
        snprintf(cb->summary, sizeof cb->summary, "none (%s)", cc_error_message());
        cc_warn("%s: no cloud mask in the quality layer: %s", s->product_id, cc_error_message());
        free(cls);
        return CC_OK;
    }
    if (st != CC_OK) {
        free(cls);
        return st;
    }
    size_t cnt[CC_CM_NCLASSES] = {0};
    for (size_t i = 0; i < n; i++) {
        cnt[cls[i] < CC_CM_NCLASSES ? cls[i] : 0]++;
        cls[i] = cc_l2a_quality_class_bit(cls[i]);
    }
    static const char *const tn[5] = {"B2", "B1", "B1+B10", "B2+B3+B4", "NDSI"};
    char t[64] = "";
    for (int k = 0; k < 5; k++)
        if (terms & (1u << k))
            snprintf(t + strlen(t), sizeof t - strlen(t), "%s%s", *t ? " " : "", tn[k]);
    snprintf(cb->summary, sizeof cb->summary,
             "dsen2-cr score (%s) on the L1C at %g m: cloud %.1f %%, shadow %.1f %%, snow %.1f %%, water %.1f %%", t,
             mg->gt[1], 100.0 * cnt[CC_CM_CLOUD] / (double)n, 100.0 * cnt[CC_CM_SHADOW] / (double)n,
             100.0 * cnt[CC_CM_SNOW] / (double)n, 100.0 * cnt[CC_CM_WATER] / (double)n);
    cb->bits = cls;
    return CC_OK;
}

void cc_l2a_quality_layer(cc_cube_layer *L, int nflags, const uint16_t *data)
{
    const int boa = nflags > CC_Q_NFLAGS_L2A;
    *L = (cc_cube_layer){
        .name = CC_Q_LAYER,
        .long_name = boa ? "quality flags: nodata, saturated, cloud mask classes, Rapid BoA training domain"
                         : "quality flags: nodata, saturated, cloud mask classes",
        .units = "1", .standard_name = "quality_flag", .scale_factor = 1, .add_offset = 0, .fill_value = CC_Q_FILL,
        .data = data, .nflags = boa ? CC_Q_NFLAGS_BOA : CC_Q_NFLAGS_L2A, .flag_masks = masks,
        .flag_meanings = boa ? MEANINGS_BOA : MEANINGS_L2A};
}
