/* clearcube: the per-pixel state-space filter of Cloudless (issue 14).
 *
 * Every pixel and band is a damped local linear trend (Harvey 1989, ch. 2;
 * Durbin & Koopman 2012, ch. 3) on the daily grid:
 *
 *     level(d+1) = level(d) + slope(d) + eta,   eta   ~ N(0, q_level)
 *     slope(d+1) = phi slope(d)         + zeta,  zeta  ~ N(0, q_slope)
 *     y_s2(d)    = level(d) + eps,               eps   ~ N(0, r_s2)
 *     y_ls(d)    = level(d) + eps_ls,            eps_ls~ N(0, r_landsat)
 *
 * Observations are clear Sentinel-2 reflectance and HLS-adjusted Landsat
 * (its own noise r_landsat, which carries the residual S2/L8 difference;
 * r_landsat <= 0: Landsat is not used). A missing value (NaN) is no update.
 * The filter (forward pass) gives the NOWCAST of a day from that day and
 * the days before it; the Rauch-Tung-Striebel smoother (forward + backward
 * pass) gives the REANALYSIS from every day of the series. With q_slope = 0,
 * phi = 0 and r_s2 -> 0 the smoother is linear interpolation between the
 * observations (a random walk bridged); with q_level -> 0 it approaches a
 * cubic smoothing spline (the Whittaker smoother's d = 2 cousin): the
 * parameters, chosen on training series, move between the two baselines.
 *
 * The standard deviation reported with an estimate is that of a clear
 * Sentinel-2 observation of the day around the estimate:
 * sd = sd_scale * sqrt(P_level + r_s2), sd_scale calibrated on training
 * series so that estimate +- 1.645 sd holds 90 % of hidden observations.
 *
 * The per-pixel state is cc_kf_pixel (200 bytes: level, slope and the three
 * covariance terms of each band, float). The daily step `state + one day's
 * observations -> new state + that day's estimate and sd` is
 * cc_kf_pixel_step / cc_kf_day; running it day by day is bit-identical to
 * cc_kf_filter over the same days (the same function in the same order).
 */
#ifndef CC_PIPELINE_CLOUDLESS_KALMAN_H
#define CC_PIPELINE_CLOUDLESS_KALMAN_H

#include <stddef.h>
#include <stdint.h>

#include "core/bands.h"
#include "core/error.h"
#include "pipeline/cloudless/series.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Parameters, per Cloudless band (variances in reflectance^2 per day). */
typedef struct {
    float r_s2[CC_CL_NBANDS];      /* S2 observation noise variance                   */
    float r_landsat[CC_CL_NBANDS]; /* Landsat observation noise variance; <= 0: unused */
    float q_level[CC_CL_NBANDS];   /* level process noise per day                      */
    float q_slope[CC_CL_NBANDS];   /* slope process noise per day                      */
    float phi[CC_CL_NBANDS];       /* slope damping per day, 0..1                      */
    float m0[CC_CL_NBANDS];        /* prior level (before any observation)             */
    float p0[CC_CL_NBANDS];        /* prior level variance                             */
    float p0_slope[CC_CL_NBANDS];  /* prior slope variance                             */
    float sd_scale[CC_CL_NBANDS];  /* calibration factor of the reported sd            */
    float gate[CC_CL_NBANDS];      /* > 0: an innovation v with v^2 > gate^2 S (S its  */
                                   /* variance) is taken with the noise that makes it  */
                                   /* gate sd (robust to undetected cloud); 0: off     */
} cc_kf_params;

#define CC_KF_NPARAMS 10 /* the arrays of cc_kf_params, in order */
/* "r_s2", "r_landsat", "q_level", "q_slope", "phi", "m0", "p0", "p0_slope", "sd_scale", "gate". */
extern const char *const cc_kf_param_names[CC_KF_NPARAMS];
/* The i-th array of p (i < CC_KF_NPARAMS). */
float *cc_kf_param_array(cc_kf_params *p, int i);

/* Defaults: a random walk with a weak damped trend (r_s2 = 1e-4, q_level =
 * 1e-4, q_slope = 1e-7, phi = 0.97, r_landsat = 4 r_s2, m0 0.15 (NIR 0.3), p0
 * 0.04, p0_slope 1e-5, sd_scale 1, gate 0). */
void cc_kf_params_default(cc_kf_params *p);
/* CC_ERR_ARG naming the first bad value (negative variance, phi outside 0..1,
 * p0 <= 0, sd_scale <= 0, non-finite); what names the source in the message. */
cc_status cc_kf_params_check(const cc_kf_params *p, const char *what);

/* The state of one pixel: the posterior of each band after the last day. */
typedef struct {
    float level[CC_CL_NBANDS], slope[CC_CL_NBANDS];
    float p_ll[CC_CL_NBANDS], p_ls[CC_CL_NBANDS], p_ss[CC_CL_NBANDS];
} cc_kf_pixel;

/* The state before the first day (the prior). */
void cc_kf_pixel_init(const cc_kf_params *p, cc_kf_pixel *x);

/* One day: predicts x one day ahead, updates it with the day's observations
 * s2[CC_CL_NBANDS] and ls[CC_CL_NBANDS] (either may be NULL; NaN = none) and
 * writes the day's estimate est[b] (the updated level) and sd[b] (either may
 * be NULL). O(bands). */
void cc_kf_pixel_step(const cc_kf_params *p, cc_kf_pixel *x, const float *s2, const float *ls, float *est,
                      float *sd);

/* One day for npix pixels: state[p] advanced with s2[p*10 ..], ls[p*10 ..]
 * (NULL: no observation of that sensor today); est / sd [npix][10] (NULL:
 * not wanted). OpenMP over pixels; each pixel's result does not depend on
 * the number of threads. */
void cc_kf_day(const cc_kf_params *p, cc_kf_pixel *state, size_t npix, const float *s2, const float *ls,
               float *est, float *sd);

/* The filter over every day of s (from the prior): the nowcast est / sd
 * [ndays][npix][10] (either may be NULL) and the final state (NULL: not
 * wanted; else npix entries). Equals cc_kf_day called for each day in turn.
 * CC_ERR_NOMEM. */
cc_status cc_kf_filter(const cc_kf_params *p, const cc_series *s, float *est, float *sd, cc_kf_pixel *state);

/* The smoother (reanalysis) of one pixel and band: y_s2[d*stride],
 * y_ls[d*stride] (y_ls may be NULL) for d < n; writes est[d - from], sd[d - from]
 * for d in [from, to) (sd may be NULL; 0 <= from < to <= n). work: 10 * n doubles. Band b selects the
 * parameters. */
void cc_kf_smooth_band(const cc_kf_params *p, int b, const float *y_s2, const float *y_ls, int n, size_t stride,
                       int from, int to, double *work, float *est, float *sd);

/* The reanalysis of day t of every pixel: out / sd [npix][10] (sd may be
 * NULL). OpenMP over pixels. CC_ERR_ARG (t outside the series), CC_ERR_NOMEM. */
cc_status cc_kf_smooth_day(const cc_kf_params *p, const cc_series *s, int t, float *out, float *sd);

/* The noise factor of a series: per band, the 90th percentile of the
 * standardised one-step innovations |y - predicted| / sqrt(S) of the filter
 * (sd_scale not applied) over the S2 observations of every pixel_step-th
 * pixel, divided by 1.645 (1 when the parameters' noise matches the series;
 * NAN for a band with fewer than 20 observations). It uses only what a run
 * sees (no hidden truth): the sd of a series is calibrated as sd_scale x f
 * (gapfill_real.h). CC_ERR_NOMEM. */
cc_status cc_kf_noise_factor(const cc_kf_params *p, const cc_series *s, int pixel_step, double f[CC_CL_NBANDS]);

/* A gap-filling predictor (gapfill_eval.h's cc_gapfill_predictor) of the
 * filter: ctx is a cc_kf_predictor_ctx. */
typedef struct {
    const cc_kf_params *params;
    int reanalysis;   /* 1: smoother (past and future), 0: filter (nowcast)      */
    int use_landsat;  /* 0: the Landsat slot is ignored                          */
    int only_missing; /* 1: pixels observed (some S2 band finite) at t keep NaN  */
    float *sd;        /* NULL, or [npix][10]: receives the sd of each estimate    */
} cc_kf_predictor_ctx;
cc_status cc_kf_predictor(void *ctx, const cc_series *s, int t, float *out);

#ifdef __cplusplus
}
#endif
#endif
