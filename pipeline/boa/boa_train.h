/* clearcube: training the Rapid BoA emulator (`clearcube train`, issue 4).
 *
 * Reads a dataset (docs/formats/dataset.md), builds the per-pixel model of
 * pipeline/boa/boa.h and trains it with AdamW (kernels/train/train.h) on random pixel
 * batches. Data-parallel over MPI ranks with a FIXED reduction order: the
 * global batch of every step is cut into `chunks` micro-batches; chunk j is
 * computed by rank j mod P; the per-chunk gradients are exchanged whole and
 * summed in chunk order on every rank, so 1, 2 or N ranks give bit-identical
 * weights. Pixels are drawn by a counter-based generator (seed, step, index),
 * so a run resumed from a checkpoint continues exactly as if never stopped.
 */
#ifndef CC_PIPELINE_BOA_BOA_TRAIN_H
#define CC_PIPELINE_BOA_BOA_TRAIN_H

#include <stddef.h>

#include <mpi.h>

#include "core/error.h"
#include "kernels/device/device.h"
#include "kernels/train/train.h"
#include "pipeline/boa/boa.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    char *path;                     /* the config file                                */
    char *dataset, *model, *checkpoint, *loss_plot, *log; /* resolved paths          */
    cc_boa_arch arch;               /* hidden widths, activation, out_scale            */
    long steps, warmup, checkpoint_every, eval_every;
    int batch, chunks, eval_pixels;
    double lr, lr_min, weight_decay, huber_delta_dn;
    cc_loss_kind loss;
    unsigned long long seed;
} cc_boa_train_config;

/* Reads a YAML config (key table and template: `clearcube train --help`).
 * Paths are relative to the config's folder. Unknown keys and bad values are
 * errors naming the key. */
cc_status cc_boa_train_config_load(const char *path, cc_boa_train_config *c);
void cc_boa_train_config_free(cc_boa_train_config *c);
void cc_boa_train_config_print_keys(void);

typedef struct {
    int resume;            /* continue from the checkpoint when it exists           */
    long stop_after;       /* stop (checkpointing) once this step is reached; 0: no  */
    int progress;          /* live progress line on stderr                          */
    long steps_override;   /* > 0: replaces config steps (tests)                    */
    const cc_device *device; /* the resolved --device (NULL: the CPU); CUDA: the
                                backward GEMMs on that GPU (cc_train_net_use_cuda) */
} cc_boa_train_options;

#define CC_BOA_TRAIN_NKINDS 5 /* the dataset kinds (pipeline/boa/dataset.h); 3 library is never a patch */
typedef struct {
    long steps_done;
    double first_loss, last_loss;    /* smoothed training loss (DN^2 / Huber units) */
    double train_mae_dn[CC_BOA_NBANDS], val_mae_dn[CC_BOA_NBANDS];
    /* validation by dataset kind: 0 real L1C + reference targets, 1 SIMULATED L1C from
     * Sen2Cor L2A, 2 real L1C + real Sen2Cor, 4 SIMULATED L1C from the spectral library
     * with reference targets (0 pixels: not in the dataset) */
    double val_kind_mae_dn[CC_BOA_TRAIN_NKINDS][CC_BOA_NBANDS];
    size_t n_val_kind_px[CC_BOA_TRAIN_NKINDS];
    double seconds, px_per_s;
    size_t n_train_px, n_val_px;
    int ranks;
} cc_boa_train_result;

/* Trains on the ranks of `comm` (MPI: call from every rank of comm after MPI_Init;
 * without MPI_Init, or with one rank, a single process trains alone). Rank 0 of comm
 * writes the model, the checkpoint, the log and the loss plot. */
cc_status cc_boa_train(MPI_Comm comm, const cc_boa_train_config *c, const cc_boa_train_options *o,
                       cc_boa_train_result *r);

#ifdef __cplusplus
}
#endif
#endif
