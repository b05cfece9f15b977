/* clearcube: per-pixel state files (io/pixstate.h, docs/formats/state.md). */
#define _GNU_SOURCE
#include "io/pixstate.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <netcdf.h>

#include "core/alloc.h"
#include "core/date.h"
#include "core/fs.h"
#include "core/version.h"
#include "io/cube.h"

#define STATE_DEFLATE 1

struct cc_pixstate {
    int ncid;
    char path[PATH_MAX];
    char tmp[PATH_MAX + 32]; /* writing: the temporary ("" when reading) */
    int width, height, nvars;
    int varid[CC_PIXSTATE_MAX_VARS], nb[CC_PIXSTATE_MAX_VARS];
    char *kind, *tile, *params, *wkt; /* reading */
};

static cc_status nc_fail(const char *file, const char *what, int rc)
{
    return cc_error_set(rc == NC_ENOMEM ? CC_ERR_NOMEM : CC_ERR_FORMAT, "%s: %s: %s", file, what, nc_strerror(rc));
}

#define NCK(call, what)                                                                                       \
    do {                                                                                                      \
        int rc_ = (call);                                                                                     \
        if (rc_ != NC_NOERR) {                                                                                \
            st = nc_fail(file, what, rc_);                                                                    \
            goto out;                                                                                         \
        }                                                                                                     \
    } while (0)

static int put_text(int ncid, int v, const char *name, const char *val)
{
    return val ? nc_put_att_text(ncid, v, name, strlen(val), val) : NC_NOERR;
}

static void pixstate_free(cc_pixstate *s)
{
    free(s->kind);
    free(s->tile);
    free(s->params);
    free(s->wkt);
    free(s);
}

void cc_pixstate_abort(cc_pixstate *s)
{
    if (!s)
        return;
    if (s->ncid >= 0)
        nc_abort(s->ncid);
    if (s->tmp[0])
        cc_fs_abort(s->tmp);
    pixstate_free(s);
}

cc_status cc_pixstate_create(const cc_pixstate_args *a, cc_pixstate **out)
{
    cc_status st = CC_OK;
    const char *file = a && a->path ? a->path : "state";
    cc_pixstate *s = NULL;
    double *xs = NULL, *ys = NULL;
    *out = NULL;
    if (!a || !a->path || !a->wkt || a->width <= 0 || a->height <= 0 || a->nvars < 1 ||
        a->nvars > CC_PIXSTATE_MAX_VARS || a->block_rows < 1)
        return cc_error_set(CC_ERR_ARG, "%s: state file: bad arguments", file);
    if (!(s = calloc(1, sizeof *s)))
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", file);
    s->ncid = -1;
    s->width = a->width, s->height = a->height, s->nvars = a->nvars;
    snprintf(s->path, sizeof s->path, "%s", a->path);
    cc_fs_remove_stale_temps(a->path);
    if ((st = cc_fs_temp_name(a->path, NULL, s->tmp, sizeof s->tmp)) != CC_OK)
        goto out;
    file = s->tmp;
    int ydim, xdim, bdim = -1, yv, xv, crs, nbmax = 1;
    for (int i = 0; i < a->nvars; i++)
        if (a->vars[i].nbands > nbmax)
            nbmax = a->vars[i].nbands;
    NCK(nc_create(s->tmp, NC_NETCDF4 | NC_CLOBBER, &s->ncid), "nc_create");
    if (nbmax > 1)
        NCK(nc_def_dim(s->ncid, "band", (size_t)nbmax, &bdim), "nc_def_dim");
    NCK(nc_def_dim(s->ncid, "y", (size_t)a->height, &ydim), "nc_def_dim");
    NCK(nc_def_dim(s->ncid, "x", (size_t)a->width, &xdim), "nc_def_dim");
    NCK(nc_def_var(s->ncid, "y", NC_DOUBLE, 1, &ydim, &yv), "nc_def_var");
    NCK(nc_def_var(s->ncid, "x", NC_DOUBLE, 1, &xdim, &xv), "nc_def_var");
    NCK(put_text(s->ncid, yv, "standard_name", "projection_y_coordinate"), "nc_put_att");
    NCK(put_text(s->ncid, xv, "standard_name", "projection_x_coordinate"), "nc_put_att");
    NCK(put_text(s->ncid, yv, "units", "m"), "nc_put_att");
    NCK(put_text(s->ncid, xv, "units", "m"), "nc_put_att");
    NCK(nc_def_var(s->ncid, "spatial_ref", NC_INT, 0, NULL, &crs), "nc_def_var");
    char gts[256];
    int n = 0;
    for (int i = 0; i < 6; i++)
        n += snprintf(gts + n, sizeof gts - (size_t)n, "%.16g ", a->gt[i]);
    NCK(put_text(s->ncid, crs, "crs_wkt", a->wkt), "nc_put_att");
    NCK(put_text(s->ncid, crs, "spatial_ref", a->wkt), "nc_put_att");
    NCK(put_text(s->ncid, crs, "GeoTransform", gts), "nc_put_att");
    size_t rows = (size_t)(a->block_rows < a->height ? a->block_rows : a->height);
    size_t cols = (size_t)(a->width < 2048 ? a->width : 2048);
    for (int i = 0; i < a->nvars; i++) {
        const cc_pixstate_var *V = &a->vars[i];
        int dims[3] = {bdim, ydim, xdim}, v;
        size_t ch[3] = {1, rows, cols};
        int nd = V->nbands > 1 ? 3 : 2;
        if (V->nbands > 1 && V->nbands != nbmax) {
            st = cc_error_set(CC_ERR_ARG, "%s: variables of %d and %d bands", a->path, V->nbands, nbmax);
            goto out;
        }
        NCK(nc_def_var(s->ncid, V->name, NC_FLOAT, nd, nd == 3 ? dims : dims + 1, &v), "nc_def_var");
        NCK(nc_def_var_chunking(s->ncid, v, NC_CHUNKED, nd == 3 ? ch : ch + 1), "nc_def_var_chunking");
        NCK(nc_def_var_deflate(s->ncid, v, 1, 1, STATE_DEFLATE), "nc_def_var_deflate");
        NCK(put_text(s->ncid, v, "long_name", V->long_name), "nc_put_att");
        NCK(put_text(s->ncid, v, "grid_mapping", "spatial_ref"), "nc_put_att");
        s->varid[i] = v, s->nb[i] = V->nbands > 1 ? V->nbands : 1;
    }
    char date[CC_DATE_ISO_SIZE];
    cc_date_format(a->day, date);
    int day = (int)a->day;
    NCK(put_text(s->ncid, NC_GLOBAL, "Conventions", "CF-1.8"), "nc_put_att");
    NCK(put_text(s->ncid, NC_GLOBAL, "title", "clearcube per-pixel state"), "nc_put_att");
    NCK(put_text(s->ncid, NC_GLOBAL, "state_kind", a->kind), "nc_put_att");
    NCK(put_text(s->ncid, NC_GLOBAL, "tile_id", a->tile_id), "nc_put_att");
    NCK(put_text(s->ncid, NC_GLOBAL, "params_id", a->params_id), "nc_put_att");
    NCK(put_text(s->ncid, NC_GLOBAL, "band_names", a->band_names), "nc_put_att");
    NCK(put_text(s->ncid, NC_GLOBAL, "valid_after_date", date), "nc_put_att");
    NCK(nc_put_att_int(s->ncid, NC_GLOBAL, "valid_after_day", NC_INT, 1, &day), "nc_put_att");
    NCK(put_text(s->ncid, NC_GLOBAL, "source", "clearcube " CC_VERSION), "nc_put_att");
    NCK(put_text(s->ncid, NC_GLOBAL, "history", a->history), "nc_put_att");
    NCK(nc_enddef(s->ncid), "nc_enddef");
    xs = cc_malloc3((size_t)a->width, sizeof *xs, 1);
    ys = cc_malloc3((size_t)a->height, sizeof *ys, 1);
    if (!xs || !ys) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", a->path);
        goto out;
    }
    for (int i = 0; i < a->width; i++)
        xs[i] = a->gt[0] + (i + 0.5) * a->gt[1];
    for (int j = 0; j < a->height; j++)
        ys[j] = a->gt[3] + (j + 0.5) * a->gt[5];
    NCK(nc_put_var_double(s->ncid, xv, xs), "nc_put_var");
    NCK(nc_put_var_double(s->ncid, yv, ys), "nc_put_var");
    *out = s;
    s = NULL;
out:
    free(xs);
    free(ys);
    cc_pixstate_abort(s);
    return st;
}

static cc_status rows_check(const cc_pixstate *s, int v, int y0, int nrows)
{
    if (!s || v < 0 || v >= s->nvars || y0 < 0 || nrows < 1 || y0 > s->height - nrows)
        return cc_error_set(CC_ERR_ARG, "%s: state rows %d+%d or variable %d out of range", s ? s->path : "state", y0,
                            nrows, v);
    return CC_OK;
}

cc_status cc_pixstate_write_rows(cc_pixstate *s, int v, int y0, int nrows, const float *data)
{
    cc_status st = rows_check(s, v, y0, nrows);
    const char *file = s ? s->tmp : "state";
    if (st != CC_OK)
        return st;
    size_t start[3] = {0, (size_t)y0, 0}, count[3] = {(size_t)s->nb[v], (size_t)nrows, (size_t)s->width};
    int three = s->nb[v] > 1;
    int rc = nc_put_vara_float(s->ncid, s->varid[v], three ? start : start + 1, three ? count : count + 1, data);
    if (rc != NC_NOERR)
        return cc_fs_write_error(file, rc == NC_EHDFERR ? 0 : EIO, "writing the state");
    return st;
}

cc_status cc_pixstate_commit(cc_pixstate *s)
{
    cc_status st = CC_OK;
    if (!s)
        return cc_error_set(CC_ERR_ARG, "state: nothing to commit");
    int ncid = s->ncid, rc;
    s->ncid = -1;
    if ((rc = nc_close(ncid)) != NC_NOERR) {
        st = cc_fs_write_error(s->tmp, 0, "closing the state");
        goto out;
    }
    st = cc_fs_commit(s->tmp, s->path);
    s->tmp[0] = 0;
out:
    cc_pixstate_abort(s);
    return st;
}

static char *text_att(int ncid, int v, const char *name)
{
    return cc_cube_text_att(ncid, v, name);
}

cc_status cc_pixstate_open(const char *path, int nvars, const cc_pixstate_var *vars, cc_pixstate **out,
                           cc_pixstate_info *info)
{
    cc_status st = CC_OK;
    const char *file = path ? path : "state";
    cc_pixstate *s = NULL;
    struct stat sb;
    char *gts = NULL;
    *out = NULL;
    memset(info, 0, sizeof *info);
    if (!path || nvars < 1 || nvars > CC_PIXSTATE_MAX_VARS)
        return cc_error_set(CC_ERR_ARG, "%s: state file: bad arguments", file);
    if (stat(path, &sb) != 0)
        return errno == ENOENT ? CC_ERR_MISSING : cc_error_set(CC_ERR_IO, "%s: %s", path, strerror(errno));
    if (!(s = calloc(1, sizeof *s)))
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
    s->ncid = -1;
    snprintf(s->path, sizeof s->path, "%s", path);
    int rc = nc_open(path, NC_NOWRITE, &s->ncid), d, crs, day = 0;
    if (rc != NC_NOERR) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: not a readable state file (%s)", path, nc_strerror(rc));
        goto out;
    }
    size_t w = 0, h = 0;
    if (nc_inq_dimid(s->ncid, "x", &d) || nc_inq_dimlen(s->ncid, d, &w) || nc_inq_dimid(s->ncid, "y", &d) ||
        nc_inq_dimlen(s->ncid, d, &h) || nc_inq_varid(s->ncid, "spatial_ref", &crs) ||
        nc_get_att_int(s->ncid, NC_GLOBAL, "valid_after_day", &day)) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: not a clearcube state file (no x/y, spatial_ref or valid_after_day)",
                          path);
        goto out;
    }
    s->width = (int)w, s->height = (int)h, s->nvars = nvars;
    s->kind = text_att(s->ncid, NC_GLOBAL, "state_kind");
    s->tile = text_att(s->ncid, NC_GLOBAL, "tile_id");
    s->params = text_att(s->ncid, NC_GLOBAL, "params_id");
    s->wkt = text_att(s->ncid, crs, "crs_wkt");
    gts = text_att(s->ncid, crs, "GeoTransform");
    if (!s->wkt || !gts ||
        sscanf(gts, "%lf %lf %lf %lf %lf %lf", &info->gt[0], &info->gt[1], &info->gt[2], &info->gt[3], &info->gt[4],
               &info->gt[5]) != 6) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: state file: spatial_ref lacks crs_wkt or GeoTransform", path);
        goto out;
    }
    for (int i = 0; i < nvars; i++) {
        int v, nd, dims[NC_MAX_VAR_DIMS];
        nc_type t;
        size_t len;
        if (nc_inq_varid(s->ncid, vars[i].name, &v) || nc_inq_vartype(s->ncid, v, &t) ||
            nc_inq_varndims(s->ncid, v, &nd) || nc_inq_vardimid(s->ncid, v, dims) || t != NC_FLOAT ||
            nd != (vars[i].nbands > 1 ? 3 : 2) || (nd == 3 && (nc_inq_dimlen(s->ncid, dims[0], &len) ||
                                                              len != (size_t)vars[i].nbands))) {
            st = cc_error_set(CC_ERR_FORMAT, "%s: state file: variable %s missing or not float32 (%d x y x x)", path,
                              vars[i].name, vars[i].nbands);
            goto out;
        }
        s->varid[i] = v, s->nb[i] = vars[i].nbands > 1 ? vars[i].nbands : 1;
    }
    info->kind = s->kind, info->tile_id = s->tile, info->params_id = s->params, info->wkt = s->wkt;
    info->width = s->width, info->height = s->height, info->day = day;
    *out = s;
    s = NULL;
out:
    free(gts);
    cc_pixstate_close(s);
    return st;
}

cc_status cc_pixstate_read_rows(cc_pixstate *s, int v, int y0, int nrows, float *data)
{
    cc_status st = rows_check(s, v, y0, nrows);
    if (st != CC_OK)
        return st;
    size_t start[3] = {0, (size_t)y0, 0}, count[3] = {(size_t)s->nb[v], (size_t)nrows, (size_t)s->width};
    int three = s->nb[v] > 1;
    int rc = nc_get_vara_float(s->ncid, s->varid[v], three ? start : start + 1, three ? count : count + 1, data);
    if (rc != NC_NOERR)
        return cc_error_set(CC_ERR_FORMAT, "%s: state file: reading rows %d..%d: %s (corrupt?)", s->path, y0,
                            y0 + nrows - 1, nc_strerror(rc));
    return CC_OK;
}

void cc_pixstate_close(cc_pixstate *s)
{
    if (!s)
        return;
    if (s->ncid >= 0)
        nc_close(s->ncid);
    pixstate_free(s);
}
