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
    /* library */
    int format; /* 0 scene, 1 stack, 2 netcdf */
    char *path2, *bands2, *classes;
    double scale;
    int max_spectra;
    /* simulated */
    int patches, domain;
    char *exclude;
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

/* "reference", "sen2cor-l2a", "pair", "library", "simulated" by cc_dataset_kind (the config's spelling) */
extern const char *const cc_dataset_kind_names[CC_DS_NKINDS];

/* ---- the spectral library (library.c) ---- */

enum { CC_LIB_LAND, CC_LIB_WATER, CC_LIB_SNOW, CC_LIB_CLOUD, CC_LIB_SHADOW, CC_LIB_HAZE, CC_LIB_NCLASS };
#define CC_LIB_NFILL 3 /* fill rules: B01, B8A, B09, applied in this order */
extern const char *const cc_library_class_names[CC_LIB_NCLASS];
/* rule f: band cc_library_fill_target[f] = x0 + x1 p0 + x2 p1 + x3 p2 (reflectance), p the bands
 * cc_library_fill_pred[f] (indices in cc_l2a_bands) */
extern const int cc_library_fill_target[CC_LIB_NFILL];
extern const int cc_library_fill_pred[CC_LIB_NFILL][3];

typedef struct {
    size_t n, cap;
    uint16_t *spec;  /* n x 12 L2A bands, dataset DN (10000 rho + 1000); 0 = missing before the fill */
    int32_t *source; /* the config's source index of each spectrum */
    uint8_t *cls;    /* CC_LIB_* */
    double fill[CC_LIB_NFILL][5], fill_rmse[CC_LIB_NFILL]; /* NaN: rule not fitted (not needed) */
    size_t n_fit[CC_LIB_NFILL], n_filled[CC_LIB_NFILL];
} ds_library;

/* Adds the spectra of library source i (classified, at most max_spectra per class). */
cc_status cc_library_add(ds_library *lib, const cc_dataset_config *c, int i, uint64_t seed);
/* Fits the fill rules on the complete spectra and fills the missing bands. */
cc_status cc_library_fill(ds_library *lib, const char *file);
void cc_library_free(ds_library *lib);

/* ---- SIMULATED L1C from the library (dataset_sim.c) ---- */

/* One patch: l1c/l2a P*P*12 dataset DN (0 = invalid pixel), ctx_px P*P*7
 * context features as round(feature * 10000), ctx the patch means (raw). */
typedef cc_status (*ds_emit_fn)(void *emit_ctx, const uint16_t *l1c, const uint16_t *l2a, const uint16_t *ctx_px,
                                const float ctx[CC_DATASET_NCTX]);

cc_status cc_dataset_simulate(const ds_library *lib, const cc_dataset_config *c, int i, uint64_t seed,
                              ds_emit_fn emit, void *emit_ctx);

/* Resamples band b of s onto g and encodes it as dataset DN (0 = nodata); tmp: n floats. */
cc_status cc_dataset_band_dn(const cc_scene *s, int b, const cc_grid *g, float *tmp, uint16_t *out);

#endif
