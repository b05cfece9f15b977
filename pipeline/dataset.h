/* clearcube: training data for an L1C -> L2A emulator (`clearcube dataset`).
 *
 * A YAML config lists sources (real L1C with reference-processor targets,
 * real Sen2Cor L2A turned into SIMULATED L1C with the SMAC forward model, real
 * L1C/L2A pairs), each with a scene name and a train/val split; the build cuts
 * them into 128x128 patches of the 12 L2A bands and writes one HDF5 file
 * (format: docs/formats/dataset.md). */
#ifndef CC_PIPELINE_DATASET_H
#define CC_PIPELINE_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CC_DATASET_PATCH 128
#define CC_DATASET_NCTX 6
#define CC_DATASET_DN_OFFSET 1000

typedef enum { CC_DS_REFERENCE = 0, CC_DS_SEN2COR_L2A = 1, CC_DS_PAIR = 2 } cc_dataset_kind;

typedef struct cc_dataset_config cc_dataset_config;

/* Parses a config file. On failure *out is NULL and the last error names the
 * file, the key path and the problem. */
cc_status cc_dataset_config_load(const char *path, cc_dataset_config **out);
void cc_dataset_config_free(cc_dataset_config *c);
/* Prints the documented key table (for --help). */
void cc_dataset_config_print_keys(void);

typedef struct {
    size_t n_patches, n_train, n_val;
    size_t n_kind[3];
    int n_sources_used, n_sources_skipped;
    int n_scenes;
    double seconds;
} cc_dataset_summary;

/* Builds the dataset into `out_path` (written atomically: a temporary file in
 * the same folder, renamed on success, removed on failure). */
cc_status cc_dataset_build(const cc_dataset_config *c, const char *out_path, cc_dataset_summary *sum);

/* Encodes a reflectance as dataset DN (10000*rho + 1000, clamped to [1, 65534]). */
uint16_t cc_dataset_encode(double rho);

#ifdef __cplusplus
}
#endif
#endif
