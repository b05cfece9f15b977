/* clearcube: CF-1.8 NetCDF-4 datacubes, one per MGRS tile and product.
 *
 * Layout (docs/formats/cube.md): dims time (unlimited, "days since
 * 1970-01-01"), y, x; coordinate variables x, y (metres, projection_x/y_coordinate)
 * and time; one uint16 variable per layer with scale_factor, add_offset,
 * _FillValue, units, long_name, grid_mapping="spatial_ref"; a scalar
 * "spatial_ref" grid-mapping variable with crs_wkt, spatial_ref and
 * GeoTransform; chunked (1, <=512, <=512) and zlib-compressed; provenance as
 * global attributes.
 *
 * Appending: dates after the cube's last one are appended in place (only
 * the new slices are written: the cost of an append does not grow with the
 * cube), with an undo log "<path>.undo" that rolls a killed append back to
 * the exact old bytes (cc_cube_recover, which every clearcube open and write
 * of a cube runs first). Any other write (a date before the last, a replaced
 * date) writes the new state to "<path>.tmp-<pid>" (copying the existing
 * dates), fsyncs it and renames it over <path>. A process killed at any
 * moment leaves the old cube or the new one, never a broken one; stale
 * temporaries from killed writers are removed by the next write.
 */
#ifndef CC_IO_CUBE_H
#define CC_IO_CUBE_H

#include <stddef.h>
#include <stdint.h>

#include "core/bands.h"
#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *name;       /* variable name, e.g. "B02", "AOT"                 */
    const char *long_name;  /* e.g. "surface reflectance, band B02 (492 nm)"     */
    const char *units;      /* "1" for reflectance                                */
    const char *standard_name; /* CF standard name or NULL                       */
    double scale_factor;    /* physical = DN*scale_factor + add_offset          */
    double add_offset;
    uint16_t fill_value;    /* _FillValue (0 for clearcube DN convention)        */
    double wavelength_nm;   /* 0 if not applicable                                */
    const uint16_t *data;   /* width*height values on the cube grid, row-major  */
    /* a flag layer (nflags > 0): stored as uint8 (values and fill_value <= 255)
     * with the CF attributes flag_values (the nflags values) and flag_meanings
     * (space-separated words, one per value); no scale_factor/add_offset */
    int nflags;
    const uint8_t *flag_values;
    const char *flag_meanings;
    /* bit flags instead (flag_masks not NULL, with nflags and flag_meanings):
     * the CF attribute flag_masks (nflags single-bit values), valid_range
     * 0..(their OR, below _FillValue); flag_values is then unused */
    const uint8_t *flag_masks;
} cc_cube_layer;

typedef struct {
    const char *path;       /* output .nc                                         */
    const char *tile_id;    /* "32UMF"                                            */
    const char *product;    /* "reference-l2a", "boa", ...                        */
    const char *wkt;        /* CRS WKT (required)                                 */
    double gt[6];           /* GDAL geotransform of the grid (north-up)           */
    int width, height;
    int year, month, day;   /* date of this time step                            */
    int nlayers;
    const cc_cube_layer *layers;
    /* provenance (global attributes; NULL to omit) */
    const char *inputs;     /* input product(s)                                   */
    const char *processor;  /* e.g. "clearcube reference (SMAC)"                  */
    const char *parameters; /* e.g. "aot=0.12 (DDV) uh2o=1.3 (B9/B8A) ..."        */
    int deflate_level;      /* zlib level of the layers, 1..9; 0: the default 4  */
    /* several dates in one write (cc_cube_write only): ndates > 1 takes the
     * dates from `dates` (days since 1970-01-01, strictly increasing; year,
     * month, day are then ignored) and every layer's data holds ndates slices
     * of width*height, in that order. 0 or 1: the single date above. */
    int ndates;
    const long *dates;
} cc_cube_write_args;

/* Creates the cube, or adds the date(s) to an existing one (replacing the
 * slice of a date that is already present). An existing cube must have the same grid
 * (CRS, geotransform, size) and the same layer names, else CC_ERR_ARG and the
 * existing file is untouched. On any failure no new file is left behind. */
cc_status cc_cube_write(const cc_cube_write_args *a);

/* ---- sensor cubes (docs/formats/cube.md, "Sensor cubes") ----
 *
 * The input of `clearcube cloudless`: one cube per tile and sensor,
 * <dir>/<tile>_<suffix>.nc on the tile's grid. ingest adds one date at a
 * time, cloudless-sim writes a whole series; both through
 * cc_cube_write_sensor, so every sensor cube has the same layers, encodings
 * and attributes. Optical sensors: the 10 Cloudless bands (reflectance,
 * CC_CL_REFL_*) and "cloud_mask" (class + 1, the classes of
 * pipeline/atmos/cloudmask.h: 0 nodata, 1 clear, 2 cloud, 3 shadow, 4
 * snow, 5 water; fill 0 = nodata); S1: VV and VH (dB, CC_CL_DB_*). */

/* Encodings of the sensor cubes and of the Cloudless product (DN <-> physical). */
#define CC_CL_REFL_SCALE 1e-4
#define CC_CL_REFL_OFFSET (-0.1)
#define CC_CL_DB_SCALE 0.01
#define CC_CL_DB_OFFSET (-50.01)

/* DN of a reflectance in these cubes (the L2A encoding of core/reflectance.h,
 * DN * CC_CL_REFL_SCALE + CC_CL_REFL_OFFSET); 0 (nodata) for NaN and inf. */
uint16_t cc_cube_refl_dn(float r);
/* DN of a backscatter in dB (DN * CC_CL_DB_SCALE + CC_CL_DB_OFFSET, rounded,
 * clamped to 1..65534); 0 (nodata) for NaN and inf. */
uint16_t cc_cube_db_dn(float db);

/* The suffix of a sensor's cube ("s2", "landsat", "olci", "s1"). */
const char *cc_cube_sensor_suffix(cc_sensor s);
/* "<dir>/<tile>_<suffix>.nc" into buf (cut at n - 1 characters). */
void cc_cube_sensor_path(char *buf, size_t n, const char *dir, const char *tile, cc_sensor s);

typedef struct {
    const char *dir;        /* the cube is <dir>/<tile>_<suffix>.nc              */
    const char *tile;
    cc_sensor sensor;
    int width, height;      /* the tile grid                                     */
    double gt[6];
    const char *wkt;
    int ndates;             /* dates written (>= 1)                              */
    const long *days;       /* their days since 1970-01-01, strictly increasing  */
    /* values of date k: values + slice_k * npix * nb, slice_k = slices[k]
     * (NULL: k); optical nb = CC_CL_NBANDS reflectances, S1 nb = CC_CL_NS1
     * (VV, VH in dB), pixel-major; NaN = no value */
    const float *values;
    const int *slices;
    /* optical: [ndates][npix] cloud-mask classes (a nodata pixel's bands are
     * written as fill); NULL: clear wherever a band has a value. S1: unused */
    const uint8_t *mask;
    const char *product;    /* NULL: the sensor's ("sensor-cube s2-l2a", ...)   */
    const char *inputs;     /* provenance                                        */
    const char *processor;  /* NULL: "clearcube ingest (Cloudless sensor cube)" */
    /* the window of the grid that values and mask cover: columns
     * [x0, x0+win_width), rows [y0, y0+win_height), the pixels of date k at
     * values + slice_k * win_width*win_height * nb (npix above is then the
     * window's); the rest of the grid is fill. win_width = win_height = 0:
     * the whole grid. */
    int x0, y0, win_width, win_height;
} cc_cube_sensor_args;

/* Adds the dates to the sensor cube (created if absent; a date already there
 * is replaced; cc_cube_write's crash safety). A pixel without any band value
 * is nodata in cloud_mask, whatever the mask says. With a window smaller than
 * the grid, dates after the cube's last (and a new cube) are written by the
 * streaming appender, window-sized: memory follows the window, not the grid.
 * A date before the cube's last or replacing one takes cc_cube_write's copy
 * path, which holds the whole grid's DN planes (2 bytes a layer a pixel a
 * date: 22 bytes a pixel for an optical date; said in an info line). */
cc_status cc_cube_write_sensor(const cc_cube_sensor_args *a);

/* ---- streaming writer (full tiles without whole bands in memory) ----
 *
 * Writes a NEW single-date cube window by window, with exactly the layout,
 * attributes, chunking and compression that cc_cube_write gives a new cube.
 * Crash safety is the same: the data go to "<path>.tmp-<pid>", which commit
 * fsyncs and renames to <path> (then fsyncs the directory); abort, a failed
 * commit or a killed process leaves no file at <path>. Appending a date to an
 * existing cube by streaming is not implemented: open returns
 * CC_ERR_UNSUPPORTED when <path> exists (use cc_cube_write, or remove it).
 * Not thread-safe (NetCDF-C is not): one thread drives one stream, and no
 * other NetCDF use may run concurrently in the process. */
typedef struct cc_cube_stream cc_cube_stream;

/* `a` as for cc_cube_write, except that layers[i].data is ignored (may be
 * NULL); every string is copied, so `a` may be freed after the call. On
 * success *out must be passed to exactly one of cc_cube_stream_commit or
 * cc_cube_stream_abort, which free it. On failure *out is NULL and no file is
 * left behind. */
cc_status cc_cube_stream_open(const cc_cube_write_args *a, cc_cube_stream **out);

/* Writes the window [x0, x0+w) x [y0, y0+h) of every layer. `data` is
 * channels-last (the layout of cc_nn_run's output): the DN of layer l at
 * window row r, column c is data[((size_t)r*w + c)*nlayers + l]. Windows must
 * lie inside the grid and must not overlap; commit checks that they covered
 * every pixel. A failure leaves the stream usable only for abort. */
cc_status cc_cube_stream_write_window(cc_cube_stream *s, int x0, int y0, int w, int h,
                                      const uint16_t *data);

/* Closes, fsyncs and renames the temporary into place; frees s (also on
 * failure, in which case the temporary is removed). CC_ERR_ARG if the written
 * windows did not cover the grid; CC_ERR_UNSUPPORTED if <path> appeared
 * meanwhile (it is not replaced). */
cc_status cc_cube_stream_commit(cc_cube_stream *s);

/* Sets a text attribute, before commit, of the layer named `layer` (NULL:
 * a global attribute), e.g. counts known only once every window is written. */
cc_status cc_cube_stream_set_text(cc_cube_stream *s, const char *layer, const char *name, const char *value);

/* Discards everything written and frees s; NULL is a no-op. */
void cc_cube_stream_abort(cc_cube_stream *s);

/* ---- streaming appender (dates added in place, window by window) ----
 *
 * Adds one or more dates, all after the cube's last, to an existing cube in
 * place, window by window, so that a full tile day never sits in memory:
 * open extends every layer and the time coordinate (the undo log of
 * cc_cube_write's in-place append makes it crash safe), write_window fills
 * the new slices, commit makes them durable. A cube that does not exist is
 * first created empty (no date) with the layout of a (atomically). Windows
 * should cover whole 512-row chunk rows (a full-width block of rows that is a
 * multiple of 512, or the grid's last rows) so that every chunk is compressed
 * once; pixels never written read as fill. Not thread-safe. */
typedef struct cc_cube_appender cc_cube_appender;

/* `a` as for cc_cube_write (layers[i].data ignored; ndates/dates or the
 * single date). CC_ERR_ARG when a date is not after the cube's last, or the
 * grid, layers or encodings differ from the cube's. */
cc_status cc_cube_append_open(const cc_cube_write_args *a, cc_cube_appender **out);
/* The same for callers that write each date's window of each layer in one
 * cc_cube_append_window call (a product's footprint): no chunk cache, every
 * chunk is compressed once as it is written. */
cc_status cc_cube_append_open_windows(const cc_cube_write_args *a, cc_cube_appender **out);
/* Writes the window [x0, x0+w) x [y0, y0+h) of new date k (0 .. ndates-1):
 * data[(l*h + r)*w + c] is layer l (the order of a->layers) at window row r,
 * column c. A failure leaves the appender usable only for abort. */
cc_status cc_cube_append_window(cc_cube_appender *p, int k, int x0, int y0, int w, int h, const uint16_t *data);
/* Closes and commits the new dates; frees p (on failure the cube is rolled back). */
cc_status cc_cube_append_commit(cc_cube_appender *p);
/* Rolls the cube back to its state before open; frees p; NULL is a no-op. */
void cc_cube_append_abort(cc_cube_appender *p);

/* Closes a NetCDF-4 file whose write failed and that is being discarded
 * (its temporary `tmp` is removed afterwards with cc_fs_abort): the file is
 * moved off the disk first (cc_fs_discard_open), then closed, then aborted
 * if the close still fails. nc_abort alone crashes in HDF5 after a failed
 * nc_enddef on a full disk, and a file left open crashes at exit
 * (H5F__close_cb) (issue 17). */
void cc_cube_nc_discard(int ncid, const char *tmp);

/* A text attribute of a NetCDF variable (NC_GLOBAL for global), as a
 * malloc'd NUL-terminated string the caller frees; NULL if absent, not text,
 * or out of memory. */
char *cc_cube_text_att(int ncid, int varid, const char *name);

/* Rolls back an append of `path` whose writer was killed (its undo log
 * "<path>.undo" exists and no live process holds it) to the cube's exact
 * bytes before that append; CC_OK when there is nothing to do. Every clearcube
 * reader and writer of cubes calls it before opening one; run it (or any
 * clearcube write) before reading a cube with other tools after a crash. */
cc_status cc_cube_recover(const char *path);

/* Small reader for tests and tools: the number of dates and their values
 * (days since 1970-01-01) in a cube. *days is malloc'd; caller frees. */
cc_status cc_cube_dates(const char *path, int *ndates, double **days);

#ifdef __cplusplus
}
#endif
#endif
