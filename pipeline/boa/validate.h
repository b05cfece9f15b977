/* clearcube: validation of a predicted L2A product against a reference L2A
 * (clearcube validate; docs/user-guide.md "Validating a product",
 * docs/formats/validation.md).
 *
 * Both products are read as reflectance DN = 10000 * rho after removing each
 * file's DN offset: for a clearcube NetCDF cube from each layer's
 * scale_factor/add_offset (DN*scale + offset = rho), for a GeoTIFF stack from
 * the --*-dn-offset option (rho = (DN + offset) / 10000). Pixels are compared
 * only where both are valid (DN != 0, DN != the band's nodata value). */
#ifndef CC_PIPELINE_BOA_VALIDATE_H
#define CC_PIPELINE_BOA_VALIDATE_H

#include <stddef.h>

#include "core/error.h"
#include "io/s2/scene.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One product to read: a clearcube cube (.nc; bands = layers B01..B12, the
 * first date) or any GDAL multi-band raster (bands from `bands`, else from
 * the band descriptions; dn_offset NaN = 0). */
typedef struct {
    const char *path;
    const char *bands;    /* "B02,B03,..." band order of a stack; NULL for cubes */
    double dn_offset;     /* offset added to DN for stacks (-1000 for baseline >= 04.00); NaN = 0 */
} cc_validate_source;

typedef struct {
    cc_validate_source prediction, reference;
    const char *input;         /* optional L1C (SAFE dir/.zip, GeoTIFF stack, cube) for the quicklook */
    const char *input_bands;   /* band order of an L1C stack (default by band count) */
    const char *prefix;        /* report prefix: PREFIX.md/.json/.png/-hist.png; NULL = none */
    const char *sample_label;  /* "in-sample", "out-of-sample" or NULL */
    int simulated;             /* inputs are simulated data (recorded in the report) */
} cc_validate_args;

#define CC_VALIDATE_HIST_BINS 100

typedef struct {
    int band;            /* CC_B* */
    size_t n;            /* pixels valid in both */
    double mae_dn;       /* mean |P - R| in reflectance DN */
    double mae_percent;  /* mae_dn / 12000 * 100 */
    double bias_dn;      /* mean (P - R) */
    double rmse_dn;      /* sqrt(mean (P - R)^2) */
    double p99_dn;       /* 99th percentile of |P - R| (DN, to 0.5 DN: the lower edge of its half-DN bin) */
    double hist[CC_VALIDATE_HIST_BINS]; /* counts of P - R over [hist_lo, hist_hi], ends clamped */
} cc_validate_band;

typedef struct {
    int width, height;
    int nbands;                      /* bands present in both, in report order */
    cc_validate_band band[CC_NBANDS];
    int has_ndvi;                    /* B04 and B08 in both */
    size_t ndvi_n;                   /* pixels valid in both with B8+B4 > 0 in both */
    double ndvi_mae, ndvi_bias, ndvi_rmse;
    double hist_lo, hist_hi;         /* histogram range in DN (symmetric) */
    char prediction_bands[80], reference_bands[80]; /* bands read, "B02,B03,..." */
    char prediction_format[8], reference_format[8];  /* "cube" or "raster" */
} cc_validate_result;

/* Report order: B02 B03 B04 B05 B06 B08 B8A B11 B12, then B01 B07 B09 B10. */
extern const int cc_validate_band_order[CC_NBANDS];

/* Reads both products, checks the grid, computes the metrics and, when
 * a->prefix is set, writes PREFIX.md, PREFIX.json, PREFIX.png and
 * PREFIX-hist.png (all to temporaries, renamed only when all succeeded).
 * Errors: CC_ERR_IO/FORMAT (unreadable, naming the file), CC_ERR_ARG
 * (different grids, naming both files), CC_ERR_MISSING (no common band),
 * CC_ERR_NODATA (no pixel valid in both). */
cc_status cc_validate_run(const cc_validate_args *a, cc_validate_result *r);

/* The Markdown report (malloc'd; caller frees), as printed by the CLI. */
char *cc_validate_markdown(const cc_validate_args *a, const cc_validate_result *r);

/* ---- a model on the patches of a `clearcube dataset` file (validate_dataset.c) ---- */

#define CC_VALIDATE_MAX_SCENES 64
typedef struct {
    char name[96];      /* the dataset's scene name */
    size_t n;           /* valid pixels */
    double mae_dn[12], bias_dn[12], p99_dn[12]; /* per L2A band (cc_l2a_bands order), DN = 10000 rho */
} cc_validate_dataset_scene;

typedef struct {
    int nscenes;
    cc_validate_dataset_scene scene[CC_VALIDATE_MAX_SCENES];
} cc_validate_dataset_result;

/* Runs the Rapid BoA model of model_path (CPU engine) on every patch of split
 * (0 train, 1 val) of a version-2 dataset and scores it against the targets,
 * per scene. */
cc_status cc_validate_dataset(const char *model_path, const char *dataset_path, int split,
                              cc_validate_dataset_result *r);
/* The Markdown table of r (malloc'd; NULL when out of memory). */
char *cc_validate_dataset_markdown(const cc_validate_dataset_result *r, const char *model, const char *dataset);

#ifdef __cplusplus
}
#endif
#endif
