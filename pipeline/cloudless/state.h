/* clearcube: daily Cloudless from a per-pixel state (issue 14,
 * docs/cloudless.md "Daily operation", docs/formats/state.md).
 *
 * The NOWCAST of a day is the per-pixel Kalman filter (kalman.h) advanced by
 * that day's observations: the daily run reads the state of the day before
 * (a state file, io/pixstate.h) and the new day of the tile's sensor cubes
 * (clear Sentinel-2 and HLS-adjusted Landsat), and writes the day's image
 * with its per-band uncertainty (appended in place to the nowcast cube) and
 * the new state. It never reads the +-45-day window: the cost per pixel and
 * day is O(1). Several days (a catch-up or a season's backfill) run in one
 * pass: each row block of the state is read once, advanced day by day, and
 * written once, so a day costs no more than in a daily run.
 *
 * Row blocks stream the tile (block_rows x width pixels at a time): memory
 * is about 600 bytes per pixel of a block, whatever the tile size.
 *
 * The REANALYSIS of a finished period (past and future: the RTS smoother of
 * kalman.h over the period and a margin) is cc_cl_reanalysis_run. */
#ifndef CC_PIPELINE_CLOUDLESS_STATE_H
#define CC_PIPELINE_CLOUDLESS_STATE_H

#include "core/error.h"
#include "pipeline/cloudless/kalman.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CC_CL_STATE_KIND "cloudless-kalman-state 1"

typedef struct {
    const char *cube_dir;    /* folder of the tile's sensor cubes                        */
    const char *tile;
    long first_day;          /* the first day when starting without a state              */
    long last_day;           /* the last day to process (inclusive)                      */
    const char *state_in;    /* the state of the day before; a missing file (or NULL):
                                start from the prior at first_day (logged)               */
    const char *state_out;   /* the new state, written atomically (may be state_in)      */
    const char *out_path;    /* nowcast cube: one date per day, appended in place; days
                                it already holds are not written again                   */
    const char *params_path; /* Kalman parameter file (kalman_model.h); NULL: defaults    */
    int block_rows;          /* rows per block (0: 256)                                  */
    int block_cols;          /* reanalysis: columns per window (0: 512, a sensor cube's
                                chunk column); the output does not depend on it           */
    int no_landsat;          /* 1: Sentinel-2 only                                       */
} cc_cl_state_args;

typedef struct {
    int width, height;
    long first_day, last_day; /* the days processed (first > last: none)               */
    int ndays, days_written;  /* days processed / appended to the cube                   */
    int fresh;                /* started from the prior                                 */
    double s_state_in, s_day_in, s_model, s_day_out, s_state_out, s_total; /* wall seconds */
    double s_state_commit;    /* of s_state_out: closing, fsync and rename of the state          */
    double c_state_in, c_day_in, c_model, c_day_out, c_state_out; /* CPU seconds (all threads)   */
} cc_cl_state_stats;

/* Processes the days after the state's day (or from first_day without a
 * state) up to last_day. Errors (one line naming the file): CC_ERR_ARG for a
 * state of another tile, grid, kind or parameter set, or a last_day before
 * the state's next day (nothing to do is not an error: ndays 0);
 * CC_ERR_FORMAT for a state file that is not readable (corrupt);
 * CC_ERR_MISSING when the folder has no sensor cube of the tile. On failure
 * the state and the cube keep their previous contents. */
cc_status cc_cl_state_run(const cc_cl_state_args *a, cc_cl_state_stats *stats);

/* The reanalysis of the days [first_day, last_day] (a finished period),
 * smoothed over the period +- margin days of observations, appended to
 * out_path as cc_cl_state_run does (state_in/state_out unused). Its sd is
 * calibrated to the series (cc_cl_calibrate_sd). */
cc_status cc_cl_reanalysis_run(const cc_cl_state_args *a, int margin, cc_cl_state_stats *stats);

/* Calibrates p's sd to a series (docs/cloudless-model.md: "a run must compute
 * f for its series"): the noise factor f of kalman.h's cc_kf_noise_factor
 * over the days [day0, day0+ndays) of the tile's S2 cube, on a block at the
 * tile's centre (one 512-px chunk column wide, <= 128 rows: as many as a
 * 128 MiB series allows; the whole tile when smaller) and every 3rd pixel
 * there, multiplies p->sd_scale per band; a band with too few
 * observations (f NAN) keeps its sd_scale. f (may be NULL) receives the
 * factors. The sample does not depend on block sizes or threads. */
/* Days of S2 history before its first day from which a new daily state takes
 * its sd calibration (cc_cl_state_run). */
#define CC_CL_CALIB_DAYS 365

cc_status cc_cl_calibrate_sd(const char *dir, const char *tile, unsigned sensors, long day0, int ndays, int width,
                             int height, cc_kf_params *p, double f[CC_CL_NBANDS]);
#ifdef __cplusplus
}
#endif
#endif
