/* clearcube: `clearcube cloudmask` on files: the cloud and shadow mask
 * (cloudmask.h) of a scene written as a GeoTIFF (uint8, colour table; 0 nodata,
 * 1 clear, 2 cloud, 3 shadow, 4 snow, 5 water), and the evaluation of a mask
 * against a reference mask (Sen2Cor SCL or Fmask) on the same grid. */
#ifndef CC_PIPELINE_CLOUDLESS_CLOUDMASK_RUN_H
#define CC_PIPELINE_CLOUDLESS_CLOUDMASK_RUN_H

#include "core/error.h"
#include "io/s2/scene.h"
#include "pipeline/atmos/cloudmask.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *scene_path;       /* the scene to mask, or NULL: evaluate pred_path      */
    const cc_scene_options *so;   /* how to read the scene                               */
    const char *out;              /* the mask GeoTIFF (with a scene)                     */
    const char *method;           /* "auto" (scl when scl_path or the scene's SCL layer
                                     is there, else score), "score" or "scl"             */
    const char *scl_path;         /* Sen2Cor SCL on the output grid, or NULL             */
    double resolution;            /* output grid spacing in metres (0: finest band)      */
    double closing, mean;         /* score windows in pixels; NaN: 50 m and 70 m on the
                                     ground (dsen2-cr's 5 and 7 px at 10 m)              */
    cc_cloudmask_options co;      /* the rest of the method's options                   */
    const char *pred_path;        /* an existing mask to evaluate (no scene), or NULL    */
    const char *ref_path;         /* the reference mask, or NULL: no evaluation          */
    const char *ref_kind;         /* "scl" or "fmask" (with ref_path)                    */
    const char *json_path;        /* the scores as JSON (with ref_path), or NULL         */
} cc_cloudmask_run_args;

typedef struct {
    const char *method;           /* "score", "scl" or "pred"                            */
    cc_cloudmask_scores scores;   /* with ref_path                                       */
} cc_cloudmask_run_result;

/* The mask (computed or read), its evaluation, then the outputs: temporaries
 * renamed into place only when all are written, so a failure (a bad reference
 * included) leaves nothing. */
cc_status cc_cloudmask_run(const cc_cloudmask_run_args *a, cc_cloudmask_run_result *r);

#ifdef __cplusplus
}
#endif
#endif
