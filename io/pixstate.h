/* clearcube: per-pixel state files (docs/formats/state.md).
 *
 * A NetCDF-4 file on a tile grid holding, for every pixel, the float32 state
 * of a recursive per-pixel model after a given day (the Cloudless daily
 * filter's state, pipeline/cloudless/state.h). Variables are (band, y, x)
 * float32, chunked (1, block rows, <= 2048 columns) so that a row block reads
 * and writes whole chunks, shuffled and deflated (zlib format, written by
 * libdeflate). The metadata go through NetCDF-C; the data through HDF5:
 * the chunks of a block are compressed and decompressed on the OpenMP
 * threads and read and written, whole, on the calling thread. Attributes name
 * the tile, the kind of state, the day it is valid after and an identifier of
 * the model parameters (a state is only valid with the parameters that made
 * it). Written row block by row block into "<path>.tmp-<pid>" and committed
 * atomically (core/fs.h): a killed writer leaves the previous state.
 * Not thread-safe (NetCDF-C and HDF5 are not): call from one thread; the
 * OpenMP threads it starts make no library calls. */
#ifndef CC_IO_PIXSTATE_H
#define CC_IO_PIXSTATE_H

#include <stddef.h>

#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CC_PIXSTATE_MAX_VARS 16

typedef struct {
    const char *name;      /* NetCDF variable name                         */
    const char *long_name;
    int nbands;            /* leading dimension: 1 or the band count       */
} cc_pixstate_var;

typedef struct {
    const char *path;
    const char *kind;      /* e.g. "cloudless-kalman-state 1" (checked on reading) */
    const char *tile_id;
    const char *wkt;
    double gt[6];
    int width, height;
    long day;              /* days since 1970-01-01: the last day folded in */
    const char *params_id; /* model parameters it belongs to               */
    const char *history;   /* provenance line (may be NULL)                */
    int nvars;
    const cc_pixstate_var *vars;
    int block_rows;        /* chunk height (>= 1)                           */
    const char *band_names; /* space-separated names of the band dimension, or NULL */
    /* per-band factors of a calibration kept with the state (global attribute
     * "calibration", ncalibration doubles; 0: none), e.g. the noise factor the
     * product's sd is scaled by */
    int ncalibration;
    const double *calibration;
} cc_pixstate_args;

typedef struct cc_pixstate cc_pixstate;

/* A new state file (its temporary). Commit or abort it. */
cc_status cc_pixstate_create(const cc_pixstate_args *a, cc_pixstate **out);
/* Rows [y0, y0+nrows) of variable v: data [nbands][nrows][width]. */
cc_status cc_pixstate_write_rows(cc_pixstate *s, int v, int y0, int nrows, const float *data);
/* The column width of the state's chunks (the width when one chunk spans
 * it): blocks of that many columns (the last may be narrower), whole chunk
 * rows, are read and written fastest. */
int cc_pixstate_chunk_cols(const cc_pixstate *s);
/* Every variable over rows [y0, y0+nrows) x columns [x0, x0+ncols):
 * data[v] = [nbands][nrows][ncols]. Whole chunks are compressed on the
 * OpenMP threads (each on its own: the bytes do not depend on the number
 * of threads); other blocks go through HDF5's filters (slower). */
cc_status cc_pixstate_write_block(cc_pixstate *s, int y0, int nrows, int x0, int ncols, const float *const *data);
/* fsync + rename over the path; frees s (also on failure). */
cc_status cc_pixstate_commit(cc_pixstate *s);
void cc_pixstate_abort(cc_pixstate *s);

/* What an existing state file says about itself (strings owned by s). */
typedef struct {
    const char *kind, *tile_id, *params_id, *wkt;
    double gt[6];
    int width, height;
    long day;
    int ncalibration;       /* 0: the file has no "calibration" attribute */
    double calibration[16];
} cc_pixstate_info;

/* Opens a state file for reading and checks that it holds every variable of
 * vars (nbands as given) on a width x height grid: CC_ERR_MISSING (silent)
 * if path does not exist, CC_ERR_FORMAT "<path>: ..." for anything else
 * that is not a readable state of that layout. */
cc_status cc_pixstate_open(const char *path, int nvars, const cc_pixstate_var *vars, cc_pixstate **out,
                           cc_pixstate_info *info);
cc_status cc_pixstate_read_rows(cc_pixstate *s, int v, int y0, int nrows, float *data);
/* The block of every variable, as cc_pixstate_write_block lays it out;
 * CC_ERR_FORMAT "<path>: ... (corrupt?)" for a chunk that is missing or
 * does not decompress. */
cc_status cc_pixstate_read_block(cc_pixstate *s, int y0, int nrows, int x0, int ncols, float *const *data);
void cc_pixstate_close(cc_pixstate *s);

#ifdef __cplusplus
}
#endif
#endif
