/* clearcube: appending dates to a cube in place (docs/formats/cube.md,
 * "Appending in place").
 *
 * When every new date comes after the cube's last one, cc_cube_write does not
 * rewrite the file: the time dimension of each layer and of `time` is
 * extended and only the new slices are compressed and written, through the
 * HDF5 API (a netCDF-4 file is an HDF5 file; netCDF-C takes the length of the
 * unlimited dimension from the datasets' extents). The cost of an append is
 * therefore that of its own slices, whatever the number of dates already in
 * the cube. Crash safety: the HDF5 file driver of cube_undo.c saves every
 * byte of the old file before HDF5 overwrites it, so a killed append is rolled
 * back to the exact old bytes by cc_cube_recover. */
#define _GNU_SOURCE
#include "io/cube-impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <hdf5.h>

#include "core/date.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/version.h"

char *cc_cube_history_line(const cc_cube_write_args *a, const char *now)
{
    char what[64];
    if (a->ndates > 1) {
        char first[CC_DATE_ISO_SIZE], last[CC_DATE_ISO_SIZE];
        cc_date_format(a->dates[0], first);
        cc_date_format(a->dates[a->ndates - 1], last);
        snprintf(what, sizeof what, "%d dates %s..%s", a->ndates, first, last);
    } else
        snprintf(what, sizeof what, "%04d-%02d-%02d", a->year, a->month, a->day);
    return cc_cube_asprintf("%s: clearcube %s wrote %s (%s)%s%s%s%s", now, CC_VERSION, what,
                            a->processor ? a->processor : "cc_cube_write", a->inputs ? " from " : "",
                            a->inputs ? a->inputs : "", a->parameters ? "; " : "", a->parameters ? a->parameters : "");
}

int cc_cube_append_in_place_enabled(void)
{
    const char *e = getenv("CLEARCUBE_CUBE_APPEND");
    return !(e && !strcmp(e, "copy"));
}

/* A text attribute as netCDF-4 writes NC_CHAR attributes: a scalar fixed-length
 * ASCII string (NULL-terminated padding) of the text's length; replaced if present. */
static int set_text(hid_t loc, const char *name, const char *val)
{
    if (!val)
        return 0;
    size_t n = strlen(val);
    int rc = -1;
    hid_t t = -1, sp = -1, at = -1;
    if (H5Aexists(loc, name) > 0 && H5Adelete(loc, name) < 0)
        return -1;
    if ((t = H5Tcopy(H5T_C_S1)) < 0 || H5Tset_size(t, n ? n : 1) < 0 || H5Tset_strpad(t, H5T_STR_NULLTERM) < 0 ||
        (sp = H5Screate(H5S_SCALAR)) < 0 || (at = H5Acreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT)) < 0)
        goto out;
    rc = H5Awrite(at, t, n ? val : "") < 0 ? -1 : 0;
out:
    if (at >= 0)
        H5Aclose(at);
    if (sp >= 0)
        H5Sclose(sp);
    if (t >= 0)
        H5Tclose(t);
    return rc;
}

/* A text attribute (malloc'd) or NULL. */
static char *get_text(hid_t loc, const char *name)
{
    char *s = NULL;
    hid_t at = -1, t = -1, mt = -1;
    if (H5Aexists(loc, name) <= 0 || (at = H5Aopen(loc, name, H5P_DEFAULT)) < 0 || (t = H5Aget_type(at)) < 0 ||
        H5Tget_class(t) != H5T_STRING || H5Tis_variable_str(t) > 0)
        goto out;
    size_t n = H5Tget_size(t);
    if (!(s = calloc(n + 1, 1)) || (mt = H5Tcopy(t)) < 0 || H5Aread(at, mt, s) < 0) {
        free(s);
        s = NULL;
    }
out:
    if (mt >= 0)
        H5Tclose(mt);
    if (t >= 0)
        H5Tclose(t);
    if (at >= 0)
        H5Aclose(at);
    return s;
}

/* Extends dataset `name` along its first dimension from n0 to n0 + nin and
 * writes `data` (nin x rest, mem type mt) there. */
static int extend_write(hid_t fid, const char *name, hsize_t n0, hsize_t nin, hid_t mt, const void *data)
{
    int rc = -1;
    hid_t d = -1, fs = -1, ms = -1;
    hsize_t dims[3], start[3] = {0, 0, 0}, count[3];
    if ((d = H5Dopen2(fid, name, H5P_DEFAULT)) < 0 || (fs = H5Dget_space(d)) < 0)
        goto out;
    int nd = H5Sget_simple_extent_ndims(fs);
    if (nd < 1 || nd > 3 || H5Sget_simple_extent_dims(fs, dims, NULL) < 0)
        goto out;
    H5Sclose(fs);
    fs = -1;
    dims[0] = n0 + nin;
    if (H5Dset_extent(d, dims) < 0 || (fs = H5Dget_space(d)) < 0)
        goto out;
    start[0] = n0;
    count[0] = nin;
    for (int k = 1; k < nd; k++)
        count[k] = dims[k];
    if (H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
        (ms = H5Screate_simple(nd, count, NULL)) < 0 || H5Dwrite(d, mt, ms, fs, H5P_DEFAULT, data) < 0)
        goto out;
    rc = 0;
out:
    if (ms >= 0)
        H5Sclose(ms);
    if (fs >= 0)
        H5Sclose(fs);
    if (d >= 0)
        H5Dclose(d);
    return rc;
}

/* The global attributes of a write: history continued, the latest
 * provenance, date_modified. A cube without dates (n0 == 0: just created
 * empty by the appender) has only its creation line, which is this write's:
 * replaced, not repeated. */
static int update_globals(hid_t fid, const cc_cube_write_args *a, size_t n0)
{
    char now[32];
    cc_date_stamp(cc_date_now_reproducible(), now, sizeof now);
    hid_t root = H5Gopen2(fid, "/", H5P_DEFAULT);
    if (root < 0)
        return -1;
    char *old = get_text(root, "history"), *line = cc_cube_history_line(a, now), *hist = NULL;
    int rc = -1;
    if (!line)
        goto out;
    hist = n0 > 0 && old && *old ? cc_cube_asprintf("%s\n%s", old, line) : cc_cube_strdup(line);
    if (!hist || set_text(root, "history", hist) || set_text(root, "inputs", a->inputs) ||
        set_text(root, "processor", a->processor) || set_text(root, "parameters", a->parameters) ||
        set_text(root, "date_modified", now))
        goto out;
    rc = 0;
out:
    free(old);
    free(line);
    free(hist);
    H5Gclose(root);
    return rc;
}

cc_status cc_cube_append_in_place(const cc_cube_write_args *a, const char *const *names, const int *map, int nvars,
                                  size_t n0)
{
    cc_status st = CC_OK;
    cc_cube_undo *u = NULL;
    hid_t fapl = -1, fid = -1;
    H5E_auto2_t efunc;
    void *edata;
    const size_t nin = a->ndates > 1 ? (size_t)a->ndates : 1;
    double *days = malloc(nin * sizeof *days);
    if (!days)
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", a->path);
    for (size_t j = 0; j < nin; j++)
        days[j] = a->ndates > 1 ? (double)a->dates[j] : (double)cc_date_to_days(a->year, a->month, a->day);

    H5Eget_auto2(H5E_DEFAULT, &efunc, &edata);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    CHECK_ST(cc_cube_undo_begin(a->path, &u));
    if ((fapl = cc_cube_undo_fapl(u)) < 0 || (fid = H5Fopen(a->path, H5F_ACC_RDWR, fapl)) < 0) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot open the cube for an in-place append (HDF5)", a->path);
        goto fail;
    }
    for (int i = 0; i < nvars; i++)
        if (extend_write(fid, names[i], n0, nin, H5T_NATIVE_USHORT, a->layers[map[i]].data) != 0) {
            st = cc_error_set(CC_ERR_IO, "%s: appending layer %s failed", a->path, names[i]);
            goto fail;
        }
    if (extend_write(fid, "time", n0, nin, H5T_NATIVE_DOUBLE, days) != 0 || update_globals(fid, a, n0) != 0) {
        st = cc_error_set(CC_ERR_IO, "%s: appending the time coordinate failed", a->path);
        goto fail;
    }
    {
        hid_t f = fid;
        fid = -1;
        if (H5Fclose(f) < 0 || cc_cube_undo_errno(u)) {
            st = cc_fs_write_error(a->path, cc_cube_undo_errno(u), "in-place append");
            goto fail;
        }
    }
    if (cc_cube_undo_errno(u)) {
        st = cc_fs_write_error(a->path, cc_cube_undo_errno(u), "in-place append");
        goto fail;
    }
    cc_debug("%s: appended %zu date(s) in place after %zu (%llu old bytes saved for undo)", a->path, nin, n0,
             cc_cube_undo_bytes(u));
    st = cc_cube_undo_commit(u);
    u = NULL;
    goto out;
fail:
    if (cc_cube_undo_errno(u) && st == CC_ERR_IO)
        st = cc_fs_write_error(a->path, cc_cube_undo_errno(u), "in-place append");
    if (fid >= 0)
        H5Fclose(fid);
    fid = -1;
    cc_cube_undo_abort(u); /* the cube goes back to its exact old bytes */
    u = NULL;
out:
    if (fid >= 0)
        H5Fclose(fid);
    if (fapl >= 0)
        H5Pclose(fapl);
    if (u)
        cc_cube_undo_abort(u);
    H5Eset_auto2(H5E_DEFAULT, efunc, edata);
    free(days);
    return st;
}

/* ---- the streaming appender --------------------------------------------- */

struct cc_cube_appender {
    cc_cube_undo *u;
    hid_t fapl, fid;
    hid_t *dset;             /* per file layer                               */
    int nvars, nlayers, *map;
    char (*names)[NC_MAX_NAME + 1];
    size_t n0, nin;
    int width, height;
    char path[4096];
    uint16_t *plane;
    size_t plane_cap;
};

/* A new cube without any date, with the layout of a (atomically). */
static cc_status create_empty(const cc_cube_write_args *a)
{
    cc_status st = CC_OK;
    const char *ncfile = a->path;
    OGRSpatialReferenceH srs = cc_cube_srs_from_wkt(a->wkt);
    char *wkt = NULL, tmp[4096 + 32] = "";
    new_cube n = {.ncid = -1};
    if (!srs || OSRExportToWkt(srs, &wkt) != OGRERR_NONE || !wkt) {
        st = cc_error_set(CC_ERR_CRS, "%s: cannot parse the CRS WKT", a->path);
        goto out;
    }
    if (!(n.lvar = malloc((size_t)a->nlayers * sizeof *n.lvar))) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", a->path);
        goto out;
    }
    CHECK_ST(cc_fs_temp_name(a->path, NULL, tmp, sizeof tmp));
    ncfile = tmp;
    NC(nc_create(tmp, NC_NETCDF4 | NC_CLOBBER, &n.ncid));
    CHECK_ST(cc_cube_define(a, srs, wkt, NULL, NULL, &n, ncfile));
    double none = 0;
    CHECK_ST(cc_cube_write_coords(a, &n, &none, 0, ncfile));
    {
        int id = n.ncid;
        n.ncid = -1;
        NC(nc_close(id));
    }
    st = cc_fs_commit(tmp, a->path);
    tmp[0] = 0;
out:
    if (n.ncid >= 0)
        nc_abort(n.ncid);
    if (tmp[0])
        cc_fs_abort(tmp);
    free(n.lvar);
    if (srs)
        OSRDestroySpatialReference(srs);
    if (wkt)
        CPLFree(wkt);
    return st;
}

static void appender_close(cc_cube_appender *p)
{
    for (int i = 0; p->dset && i < p->nvars; i++)
        if (p->dset[i] >= 0)
            H5Dclose(p->dset[i]);
    free(p->dset);
    p->dset = NULL;
    if (p->fid >= 0)
        H5Fclose(p->fid);
    p->fid = -1;
    if (p->fapl >= 0)
        H5Pclose(p->fapl);
    p->fapl = -1;
}

static void appender_free(cc_cube_appender *p)
{
    free(p->map);
    free(p->names);
    free(p->plane);
    free(p);
}

void cc_cube_append_abort(cc_cube_appender *p)
{
    if (!p)
        return;
    H5E_auto2_t ef;
    void *ed;
    H5Eget_auto2(H5E_DEFAULT, &ef, &ed);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    appender_close(p);
    H5Eset_auto2(H5E_DEFAULT, ef, ed);
    cc_cube_undo_abort(p->u);
    appender_free(p);
}

static cc_status append_open(const cc_cube_write_args *a, int row_cache, cc_cube_appender **out);

cc_status cc_cube_append_open(const cc_cube_write_args *a, cc_cube_appender **out)
{
    return append_open(a, 1, out);
}

cc_status cc_cube_append_open_windows(const cc_cube_write_args *a, cc_cube_appender **out)
{
    return append_open(a, 0, out);
}

static cc_status append_open(const cc_cube_write_args *a, int row_cache, cc_cube_appender **out)
{
    cc_status st = CC_OK;
    cc_cube_appender *p = NULL;
    double *days = NULL;
    H5E_auto2_t ef;
    void *ed;
    *out = NULL;
    H5Eget_auto2(H5E_DEFAULT, &ef, &ed);
    CHECK_ST(cc_cube_check_args(a, 0));
    if (access(a->path, F_OK) != 0 && errno == ENOENT)
        CHECK_ST(create_empty(a));
    if (!(p = calloc(1, sizeof *p))) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", a->path);
        goto out;
    }
    p->fapl = p->fid = -1;
    p->width = a->width, p->height = a->height, p->nlayers = a->nlayers;
    snprintf(p->path, sizeof p->path, "%s", a->path);
    CHECK_ST(cc_cube_append_check(a, &p->names, &p->map, &p->nvars, &p->n0));
    p->nin = a->ndates > 1 ? (size_t)a->ndates : 1;
    days = malloc(p->nin * sizeof *days);
    p->dset = malloc((size_t)p->nvars * sizeof *p->dset);
    if (!days || !p->dset) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", a->path);
        goto out;
    }
    for (int i = 0; i < p->nvars; i++)
        p->dset[i] = -1;
    for (size_t j = 0; j < p->nin; j++)
        days[j] = a->ndates > 1 ? (double)a->dates[j] : (double)cc_date_to_days(a->year, a->month, a->day);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    CHECK_ST(cc_cube_undo_begin(a->path, &p->u));
    if ((p->fapl = cc_cube_undo_fapl(p->u)) < 0 || (p->fid = H5Fopen(a->path, H5F_ACC_RDWR, p->fapl)) < 0) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot open the cube for an in-place append (HDF5)", a->path);
        goto out;
    }
    /* a chunk cache that holds a whole row of chunks per layer: windows of
     * fewer rows than a chunk fill each chunk before it is compressed once.
     * None for windows written in one call each (every chunk is touched
     * once): HDF5 then kept every partial chunk of every date in memory. */
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    size_t row_bytes = row_cache ? ((size_t)a->width + CUBE_CHUNK) * CUBE_CHUNK * sizeof(uint16_t) + (1u << 20) : 0;
    if (dapl < 0 || H5Pset_chunk_cache(dapl, 12007, row_bytes, 1.0) < 0) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: HDF5 chunk cache", a->path);
        if (dapl >= 0)
            H5Pclose(dapl);
        goto out;
    }
    for (int i = 0; i < p->nvars; i++) {
        hsize_t dims[3];
        hid_t fs = -1;
        if ((p->dset[i] = H5Dopen2(p->fid, p->names[i], dapl)) < 0 || (fs = H5Dget_space(p->dset[i])) < 0 ||
            H5Sget_simple_extent_dims(fs, dims, NULL) != 3) {
            if (fs >= 0)
                H5Sclose(fs);
            st = cc_error_set(CC_ERR_FORMAT, "%s: layer %s unreadable (HDF5)", a->path, p->names[i]);
            H5Pclose(dapl);
            goto out;
        }
        H5Sclose(fs);
        dims[0] = p->n0 + p->nin;
        if (H5Dset_extent(p->dset[i], dims) < 0) {
            st = cc_fs_write_error(a->path, cc_cube_undo_errno(p->u), "extending a layer");
            H5Pclose(dapl);
            goto out;
        }
    }
    H5Pclose(dapl);
    if (extend_write(p->fid, "time", p->n0, p->nin, H5T_NATIVE_DOUBLE, days) != 0 || update_globals(p->fid, a, p->n0) != 0) {
        st = cc_fs_write_error(a->path, cc_cube_undo_errno(p->u), "appending the time coordinate");
        goto out;
    }
    *out = p;
    p = NULL;
out:
    H5Eset_auto2(H5E_DEFAULT, ef, ed);
    cc_cube_append_abort(p);
    free(days);
    return st;
}

cc_status cc_cube_append_window(cc_cube_appender *p, int k, int x0, int y0, int w, int h, const uint16_t *data)
{
    if (!p || !data || k < 0 || (size_t)k >= p->nin || x0 < 0 || y0 < 0 || w <= 0 || h <= 0 || x0 > p->width - w ||
        y0 > p->height - h)
        return cc_error_set(CC_ERR_ARG, "%s: append window %dx%d+%d+%d (date %d) outside the grid",
                            p ? p->path : "cube", w, h, x0, y0, k);
    cc_status st = CC_OK;
    H5E_auto2_t ef;
    void *ed;
    H5Eget_auto2(H5E_DEFAULT, &ef, &ed);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hsize_t start[3] = {p->n0 + (hsize_t)k, (hsize_t)y0, (hsize_t)x0}, count[3] = {1, (hsize_t)h, (hsize_t)w};
    const size_t npix = (size_t)w * (size_t)h;
    for (int i = 0; i < p->nvars && st == CC_OK; i++) {
        hid_t fs = H5Dget_space(p->dset[i]), ms = H5Screate_simple(3, count, NULL);
        if (fs < 0 || ms < 0 || H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
            H5Dwrite(p->dset[i], H5T_NATIVE_USHORT, ms, fs, H5P_DEFAULT, data + (size_t)p->map[i] * npix) < 0)
            st = cc_fs_write_error(p->path, cc_cube_undo_errno(p->u), "appending a window");
        if (ms >= 0)
            H5Sclose(ms);
        if (fs >= 0)
            H5Sclose(fs);
    }
    H5Eset_auto2(H5E_DEFAULT, ef, ed);
    return st;
}

cc_status cc_cube_append_commit(cc_cube_appender *p)
{
    if (!p)
        return cc_error_set(CC_ERR_ARG, "cube: nothing to commit");
    cc_status st = CC_OK;
    H5E_auto2_t ef;
    void *ed;
    H5Eget_auto2(H5E_DEFAULT, &ef, &ed);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    int bad = 0;
    for (int i = 0; i < p->nvars; i++)
        if (p->dset[i] >= 0 && H5Dclose(p->dset[i]) < 0)
            bad = 1;
    free(p->dset);
    p->dset = NULL;
    if (H5Fclose(p->fid) < 0)
        bad = 1;
    p->fid = -1;
    H5Pclose(p->fapl);
    p->fapl = -1;
    H5Eset_auto2(H5E_DEFAULT, ef, ed);
    if (bad || cc_cube_undo_errno(p->u)) {
        st = cc_fs_write_error(p->path, cc_cube_undo_errno(p->u), "in-place append");
        cc_cube_undo_abort(p->u);
    } else
        st = cc_cube_undo_commit(p->u);
    appender_free(p);
    return st;
}
