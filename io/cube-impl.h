/* clearcube: what the two cube writers (cube.c: cc_cube_write, which merges
 * the new dates into a copy of the existing cube; cube_stream.c: new cubes
 * window by window) share: the CF layout both give a cube (cube_define.c),
 * NetCDF error handling, the argument checks. Not part of the public
 * interface. */
#ifndef CC_IO_CUBE_IMPL_H
#define CC_IO_CUBE_IMPL_H

#include <stddef.h>

#include <hdf5.h>
#include <netcdf.h>
#include <ogr_srs_api.h>

#include "core/error.h"
#include "core/fs.h"
#include "io/cube.h"

#define CUBE_CHUNK 512
#define CUBE_DEFLATE_LEVEL 4
#define CUBE_GRID_MAPPING "spatial_ref"

/* One writer per cube (issue 17): ingest, cloudless, reference and boa may
 * append to the same cube at once. flock on "<path>.lock" (core/fs.h: the
 * holder's host and pid, taken over from a dead holder, removed on release).
 * A busy cube is waited for, logging the holder, up to
 * $CLEARCUBE_CUBE_LOCK_WAIT seconds (default 3600; 0: refuse at once, naming
 * the holder; negative: no limit). Release with cc_fs_lock_release_remove. */
cc_status cc_cube_lock(const char *path, cc_fs_lock **out);

/* The cc_status of a NetCDF error code. */
cc_status cc_cube_nc_status(int rc);
/* Records "<file>: <nc function>: <nc_strerror>" and returns the status. */
cc_status cc_cube_nc_fail(const char *file, const char *call, int rc);

/* Every nc_* call goes through this; needs `cc_status st`, `const char
 * *ncfile` and an `out:` label in scope. */
#define NC(call)                                                                    \
    do {                                                                            \
        int nc_rc_ = (call);                                                        \
        if (nc_rc_ != NC_NOERR) {                                                   \
            st = cc_cube_nc_fail(ncfile, #call, nc_rc_);                            \
            goto out;                                                               \
        }                                                                           \
    } while (0)

#define CHECK_ST(expr)                                                              \
    do {                                                                            \
        st = (expr);                                                                \
        if (st != CC_OK)                                                            \
            goto out;                                                               \
    } while (0)

/* malloc'd copy / printf; NULL on failure (cc_cube_asprintf sets CC_ERR_NOMEM). */
char *cc_cube_strdup(const char *s);
char *cc_cube_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Reads a text attribute into a malloc'd NUL-terminated string; *out = NULL
 * when the attribute is absent; CC_ERR_FORMAT when it is not text. */
cc_status cc_cube_get_text_att(int ncid, int varid, const char *name, const char *ncfile, char **out);

/* The CRS of a WKT, GIS axis order; NULL if it does not parse. */
OGRSpatialReferenceH cc_cube_srs_from_wkt(const char *wkt);

/* The checks of cc_cube_write's arguments; need_data: 0 for the streaming
 * writer (layers carry no pixels). */
cc_status cc_cube_check_args(const cc_cube_write_args *a, int need_data);

/* The existing cube (cube.c), opened read-only. */
typedef struct {
    int ncid;
    int w, h;
    size_t ntime;
    double *days;       /* ntime dates                                      */
    int nvars;          /* layer variables (time,y,x), file order           */
    int *varids;
    char (*names)[NC_MAX_NAME + 1];
    double gt[6];
    char *wkt;
} old_cube;

/* The cube being written (its temporary). */
typedef struct {
    int ncid;
    int tvar, yvar, xvar, crsvar;
    int *lvar; /* per output layer */
} new_cube;

/* Defines the dimensions, the coordinate and grid-mapping variables, the
 * layers (chunked, deflated; with an existing cube o, output layer i is
 * a->layers[map[i]] and keeps o's extra attributes) and the global attributes
 * (history continued from o), then leaves define mode. */
cc_status cc_cube_define(const cc_cube_write_args *a, OGRSpatialReferenceH srs, const char *wkt,
                        const old_cube *o, const int *map, new_cube *n, const char *ncfile);

/* The CF attributes of integer layers (cube_cf.c): _FillValue, valid_range,
 * coordinates (the grid mapping, for xarray/rioxarray) and, for flag layers,
 * flag_values or flag_masks with flag_meanings. */
cc_status cc_cube_put_int_atts(int ncid, int varid, const cc_cube_layer *L, const char *ncfile);

/* The x and y cell centres and the ndays time values. */
cc_status cc_cube_write_coords(const cc_cube_write_args *a, const new_cube *n, const double *days, size_t ndays,
                              const char *ncfile);

/* ---- in-place append (cube_append.c) and its undo log (cube_undo.c) ---- */

/* The history line of a write ("<now>: clearcube <version> wrote <dates>
 * (<processor>) from <inputs>; <parameters>"), malloc'd; NULL: no memory. */
char *cc_cube_history_line(const cc_cube_write_args *a, const char *now);

/* 0 when $CLEARCUBE_CUBE_APPEND is "copy" (every append rewrites the cube, the
 * former way; benchmarks compare the two), else 1. */
int cc_cube_append_in_place_enabled(void);

/* Appends a's date(s), all after the cube's last date, to the closed cube
 * a->path in place: old layer i (names[i], of nvars) receives
 * a->layers[map[i]]; n0 = dates already there. On failure the cube is rolled
 * back to its old bytes. */
cc_status cc_cube_append_in_place(const cc_cube_write_args *a, const char *const *names, const int *map, int nvars,
                                  size_t n0);

/* For the streaming appender: recovers, opens and checks the cube against a
 * (grid, layers, encodings; a's layers need no data), and that a's dates all
 * come after its last. names (nvars file-order layer names) and map (old layer
 * i is a->layers[map[i]]) are malloc'd; ntime = dates already there. */
cc_status cc_cube_append_check(const cc_cube_write_args *a, char (**names)[NC_MAX_NAME + 1], int **map, int *nvars,
                               size_t *ntime);

typedef struct cc_cube_undo cc_cube_undo;
/* Creates "<path>.undo" (flock'd, durable) holding the cube's current size. */
cc_status cc_cube_undo_begin(const char *path, cc_cube_undo **out);
/* A file-access property list whose driver records old bytes into u before
 * overwriting them (caller closes it); -1 on failure. */
hid_t cc_cube_undo_fapl(cc_cube_undo *u);
/* errno of the driver's first failure (0: none); bytes saved so far. */
int cc_cube_undo_errno(const cc_cube_undo *u);
unsigned long long cc_cube_undo_bytes(const cc_cube_undo *u);
/* Commits (removes the log; the driver fsync'd the cube) / rolls back; both free u. */
cc_status cc_cube_undo_commit(cc_cube_undo *u);
void cc_cube_undo_abort(cc_cube_undo *u);

#endif
