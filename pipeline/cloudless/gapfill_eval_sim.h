/* clearcube: `clearcube gapfill-eval --simulated`: the Cloudless model, linear
 * interpolation and the Whittaker smoother on the SIMULATED multi-sensor "test"
 * split (cloudless_sim.h), with a per-sensor ablation of the model. */
#ifndef CC_PIPELINE_CLOUDLESS_GAPFILL_EVAL_SIM_H
#define CC_PIPELINE_CLOUDLESS_GAPFILL_EVAL_SIM_H

#include "core/error.h"
#include "pipeline/cloudless/cloudless.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Generates the "test" split (datasets: ../shared/datasets; eotif: the
 * scripts/npy2tif output; ndays > 0 or 0 for the default; seed), hides the
 * clear pixels of each S2 day with >= 30 % clear under the cloud mask of another
 * S2 day, scores the three methods on the hidden pixels and the model with each
 * of Landsat, OLCI and S1 removed in turn ("ablation"), and writes the JSON to
 * json_out atomically (nothing there on failure). */
cc_status cc_gapfill_eval_simulated(const cc_cl_model *m, const char *datasets, const char *eotif, int ndays,
                                    unsigned long seed, const char *json_out);

#ifdef __cplusplus
}
#endif
#endif
