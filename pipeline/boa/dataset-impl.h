/* Private to pipeline/boa/dataset*.c (`clearcube dataset`): the parsed config
 * (dataset_config.c) that the build (dataset.c) reads, and the helpers the build
 * shares with the Sen2Cor L2A reader (dataset_l2a.c). */
#ifndef CC_PIPELINE_BOA_DATASET_IMPL_H
#define CC_PIPELINE_BOA_DATASET_IMPL_H

#include "pipeline/boa/dataset.h"

typedef struct {
    char *scene;
    int kind;  /* cc_dataset_kind */
    int split; /* 0 train, 1 val */
    char *path, *l2a_path;
    char *bands, *spacecraft, *date, *l2a_bands;
    double sun_zenith, sun_azimuth, view_zenith, view_azimuth, dn_offset, l2a_dn_offset;
    double elevation, aot, water_vapour;
    int variants, real_atmosphere;
    int line;
} ds_source;

struct cc_dataset_config {
    char *file;
    char *dir;      /* folder of the config (absolute) */
    char *shared;   /* ${CLEARCUBE_SHARED} */
    long seed;
    int missing_bands_error;
    int nsrc;
    ds_source *src;
};

/* "reference", "sen2cor-l2a", "pair" by cc_dataset_kind (the config's spelling) */
extern const char *const cc_dataset_kind_names[3];

/* Resamples band b of s onto g and encodes it as dataset DN (0 = nodata); tmp: n floats. */
cc_status cc_dataset_band_dn(const cc_scene *s, int b, const cc_grid *g, float *tmp, uint16_t *out);

#endif
