/* clearcube: job files and work items (issue 5).
 *
 * A job (YAML or JSON job file, parsed with a library from one table of keys,
 * jobs/run/jobfile.c) names a product, an area, a date range, input catalogues, an
 * output directory, a model file and limits. Expanding it (cc_job_items)
 * scans the catalogues and yields WORK ITEMS: one per (MGRS tile, date), each
 * with the input products found for it. The MPI runner (jobs/run/run.c, jobs/run/run-ctx.h) schedules
 * items over ranks; the journal (jobs/run/journal.c) records their fate. */
#ifndef CC_JOBS_RUN_JOB_H
#define CC_JOBS_RUN_JOB_H

#include <stddef.h>

#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { CC_AREA_BBOX = 0, CC_AREA_TILES, CC_AREA_GEOJSON } cc_area_kind;

typedef struct {
    /* product: "reference" now; "boa", "cloudless" later */
    char *product;
    /* area */
    cc_area_kind area_kind;
    double bbox[4];              /* W, S, E, N (degrees) for CC_AREA_BBOX              */
    char **tiles;                /* MGRS tile IDs ("32UMF") for CC_AREA_TILES        */
    int ntiles;
    char *geojson_path;          /* polygon file for CC_AREA_GEOJSON                 */
    /* dates, inclusive, "YYYY-MM-DD" */
    char start_date[11], end_date[11];
    /* input catalogue directories, scanned recursively for products */
    char **catalogues;
    int ncatalogues;
    char *output_dir;
    char *model_path;            /* may be NULL for products without a model        */
    char *device;                /* "auto", "cpu" or "cuda" (kernels/device/device.h)       */
    char *layout;                /* "check", "oversubscribe", "share-gpu", "any" (run --layout) */
    /* limits */
    double item_timeout_s;       /* per-item wall-clock limit                        */
    int max_retries;             /* failed items are retried up to this many times    */
    double memory_limit_mb;      /* each item's --memory-limit in MiB; NaN: not set    */
    /* product options (reference): NaN = not given */
    double aot, water_vapour, elevation;
    char *path;                  /* the job file, owned                               */
} cc_job;

/* One unit of work: a tile and a date, with its input products. */
typedef struct {
    char id[64];                 /* "<tile>_<YYYYMMDD>", unique in a job, stable      */
    char tile_id[8];
    char date[11];
    char **inputs;               /* input product paths (SAFE dir/zip or stacks)      */
    int ninputs;
    double cost;                 /* estimated relative cost (bytes of input); the
                                    scheduler hands out the largest first           */
} cc_job_item;

/* Parses a job file (YAML or JSON, by content). Unknown keys and bad values are
 * errors naming the key's path ("limits.retries: must be >= 0"). */
cc_status cc_job_load(const char *path, cc_job *job);
void cc_job_free(cc_job *job);
/* The commented template, generated from the same key table the parser uses. */
void cc_job_print_template(void *stream /* FILE* */);
/* The key reference as a Markdown table (docs/jobs.md), from the same table. */
void cc_job_print_markdown(void *stream /* FILE* */);
/* Path of key i of the table ("limits.retries"), NULL past the last key
 * (for tests and tools; the string is owned by the library). */
const char *cc_job_key_path(int i);

/* Expands a job into items sorted by decreasing cost, then id (a deterministic
 * order). *items is an array the caller frees with cc_job_items_free. The
 * catalogues are folders, STAC files or product lists (jobs/run/catalogue.c);
 * the products of one tile and day are the inputs of one item (a same-day
 * mosaic). */
cc_status cc_job_items(const cc_job *job, cc_job_item **items, int *nitems);

/* The inputs a catalogue scan left out, one line each, with why (unreadable
 * STAC files, missing assets, L2A products, the same data reached twice). */
typedef struct {
    char **lines;
    int n;
} cc_job_notes;
/* cc_job_items that also returns the notes (free with cc_job_notes_free; NULL: not kept). */
cc_status cc_job_items_noted(const cc_job *job, cc_job_item **items, int *nitems, cc_job_notes *notes);
void cc_job_notes_free(cc_job_notes *notes);
void cc_job_items_free(cc_job_item *items, int nitems);

#ifdef __cplusplus
}
#endif
#endif
