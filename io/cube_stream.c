/* clearcube: the streaming cube writer (io/cube.h): a new single-date cube
 * written window by window into its temporary, then committed (core/fs.h).
 * The layout is cc_cube_write's (cube_define.c). */
#define _POSIX_C_SOURCE 200809L

#include "io/cube-impl.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cpl_conv.h>

#include "core/alloc.h"
#include "core/date.h"
#include "core/fs.h"

struct cc_cube_stream {
    char *path;                /* the cube                                  */
    cc_fs_lock *lock;          /* one writer per cube (cc_cube_lock)        */
    char tmp[PATH_MAX + 32];   /* its temporary (core/fs.h); "" when none   */
    new_cube n;         /* n.ncid >= 0 while open                           */
    int width, height, nlayers;
    uint64_t written;   /* pixels written so far                            */
    uint16_t *plane;    /* one layer of the largest window so far           */
    size_t plane_cap;
};

void cc_cube_stream_abort(cc_cube_stream *s)
{
    if (!s)
        return;
    cc_cube_nc_discard(s->n.ncid, s->tmp); /* a failed write: closed off the disk */
    cc_fs_abort(s->tmp);
    cc_fs_lock_release_remove(s->lock);
    free(s->n.lvar);
    free(s->path);
    free(s->plane);
    free(s);
}

cc_status cc_cube_stream_open(const cc_cube_write_args *a, cc_cube_stream **out)
{
    cc_status st = CC_OK;
    const char *ncfile = a && a->path ? a->path : "cube";
    OGRSpatialReferenceH srs = NULL;
    char *wkt = NULL;
    cc_cube_stream *s = NULL;
    struct stat sb;
    char dir[PATH_MAX];
    const char *base;

    *out = NULL;
    CHECK_ST(cc_cube_check_args(a, 0));
    srs = cc_cube_srs_from_wkt(a->wkt);
    if (!srs || OSRExportToWkt(srs, &wkt) != OGRERR_NONE || !wkt) {
        st = cc_error_set(CC_ERR_CRS, "%s: cannot parse the CRS WKT", a->path);
        goto out;
    }
    if (stat(a->path, &sb) == 0) {
        st = cc_error_set(CC_ERR_UNSUPPORTED,
                          "%s: the cube exists; the streaming writer only creates new cubes "
                          "(remove it, or add the date with cc_cube_write)", a->path);
        goto out;
    } else if (errno != ENOENT) {
        st = cc_error_set(CC_ERR_IO, "%s: %s", a->path, strerror(errno));
        goto out;
    }
    cc_fs_remove_stale_temps(a->path);
    s = calloc(1, sizeof *s);
    if (!s) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", a->path);
        goto out;
    }
    s->n.ncid = -1;
    CHECK_ST(cc_cube_lock(a->path, &s->lock)); /* one writer per cube */
    s->width = a->width;
    s->height = a->height;
    s->nlayers = a->nlayers;
    cc_fs_split_path(a->path, dir, sizeof dir, &base);
    struct stat sd;
    if (stat(dir, &sd) != 0 || !S_ISDIR(sd.st_mode)) {
        st = cc_error_set(CC_ERR_IO, "%s: directory %s does not exist", a->path, dir);
        goto out;
    }
    CHECK_ST(cc_fs_temp_name(a->path, NULL, s->tmp, sizeof s->tmp));
    s->path = cc_cube_strdup(a->path);
    s->n.lvar = malloc((size_t)a->nlayers * sizeof *s->n.lvar);
    if (!s->path || !s->n.lvar) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", a->path);
        goto out;
    }
    ncfile = s->tmp;
    NC(nc_create(s->tmp, NC_NETCDF4 | NC_CLOBBER, &s->n.ncid));
    CHECK_ST(cc_cube_define(a, srs, wkt, NULL, NULL, &s->n, ncfile));
    double day = (double)cc_date_to_days(a->year, a->month, a->day);
    CHECK_ST(cc_cube_write_coords(a, &s->n, &day, 1, ncfile));
    *out = s;
    s = NULL;
out:
    cc_cube_stream_abort(s);
    if (srs)
        OSRDestroySpatialReference(srs);
    if (wkt)
        CPLFree(wkt);
    return st;
}

cc_status cc_cube_stream_write_window(cc_cube_stream *s, int x0, int y0, int w, int h,
                                      const uint16_t *data)
{
    cc_status st = CC_OK;
    const char *ncfile = s && s->tmp[0] ? s->tmp : "cube";
    if (!s || s->n.ncid < 0 || !data)
        return cc_error_set(CC_ERR_ARG, "%s: stream not open or no data", ncfile);
    if (x0 < 0 || y0 < 0 || w <= 0 || h <= 0 || x0 > s->width - w || y0 > s->height - h)
        return cc_error_set(CC_ERR_ARG, "%s: window %dx%d at (%d, %d) outside the %dx%d grid",
                            s->path, w, h, x0, y0, s->width, s->height);
    const size_t npix = (size_t)w * (size_t)h, nl = (size_t)s->nlayers;
    if (npix > s->plane_cap) {
        uint16_t *p = cc_malloc3(npix, sizeof *p, 1);
        if (!p)
            return cc_error_set(CC_ERR_NOMEM, "%s: out of memory for a %dx%d window", s->path,
                                w, h);
        free(s->plane);
        s->plane = p;
        s->plane_cap = npix;
    }
    size_t start[3] = {0, (size_t)y0, (size_t)x0}, count[3] = {1, (size_t)h, (size_t)w};
    for (size_t l = 0; l < nl; l++) {
        for (size_t i = 0; i < npix; i++)
            s->plane[i] = data[i * nl + l];
        NC(nc_put_vara_ushort(s->n.ncid, s->n.lvar[l], start, count, s->plane));
    }
    s->written += npix;
out:
    return st;
}

cc_status cc_cube_stream_set_text(cc_cube_stream *s, const char *layer, const char *name, const char *value)
{
    cc_status st = CC_OK;
    const char *ncfile = s && s->tmp[0] ? s->tmp : "cube";
    int varid = NC_GLOBAL;
    if (!s || s->n.ncid < 0 || !name || !value)
        return cc_error_set(CC_ERR_ARG, "%s: stream not open or no attribute", ncfile);
    if (layer)
        NC(nc_inq_varid(s->n.ncid, layer, &varid));
    NC(nc_redef(s->n.ncid));
    int rc = nc_put_att_text(s->n.ncid, varid, name, strlen(value), value);
    NC(nc_enddef(s->n.ncid));
    NC(rc);
out:
    return st;
}

cc_status cc_cube_stream_commit(cc_cube_stream *s)
{
    cc_status st = CC_OK;
    const char *ncfile = s && s->tmp[0] ? s->tmp : "cube";
    struct stat sb;
    if (!s || s->n.ncid < 0) {
        st = cc_error_set(CC_ERR_ARG, "%s: stream not open", ncfile);
        goto out;
    }
    if (s->written != (uint64_t)s->width * (uint64_t)s->height) {
        st = cc_error_set(CC_ERR_ARG, "%s: incomplete: %llu of %llu pixels written", s->path,
                          (unsigned long long)s->written,
                          (unsigned long long)s->width * (unsigned long long)s->height);
        goto out;
    }
    NC(nc_close(s->n.ncid)); /* on failure the abort below closes it */
    s->n.ncid = -1;
    if (stat(s->path, &sb) == 0) {
        st = cc_error_set(CC_ERR_UNSUPPORTED, "%s: the cube appeared while streaming; not "
                          "replaced", s->path);
        goto out;
    }
    st = cc_fs_commit(s->tmp, s->path);
    s->tmp[0] = '\0'; /* the cube now, or removed */
out:
    cc_cube_stream_abort(s);
    return st;
}
