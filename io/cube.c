/* clearcube: CF-1.8 NetCDF-4 datacube writer (docs/formats/cube.md).
 *
 * cc_cube_write never touches an existing cube in place: the new state (all
 * existing time slices plus the new one, in date order) goes to
 * "<path>.tmp-<pid>", which is fsync'd and rename()d over <path>, after which
 * the directory is fsync'd (core/fs.h). Serial NetCDF-C API; not thread-safe
 * (NetCDF-C is not), and one writer per cube at a time. */
#define _POSIX_C_SOURCE 200809L

#include "io/cube-impl.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <cpl_conv.h>

#include "core/alloc.h"
#include "core/date.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/reflectance.h"

/* ---- the existing cube -------------------------------------------------- */

static void old_cube_free(old_cube *o)
{
    if (o->ncid >= 0)
        nc_close(o->ncid);
    free(o->days);
    free(o->varids);
    free(o->names);
    free(o->wkt);
    memset(o, 0, sizeof *o);
    o->ncid = -1;
}

static cc_status old_cube_open(const char *ncfile, old_cube *o)
{
    cc_status st = CC_OK;
    int tdim, ydim, xdim, tvar, crsvar, nv = 0;
    size_t len;
    char *gts = NULL;
    NC(nc_open(ncfile, NC_NOWRITE, &o->ncid));
    if (nc_inq_dimid(o->ncid, "time", &tdim) != NC_NOERR ||
        nc_inq_dimid(o->ncid, "y", &ydim) != NC_NOERR ||
        nc_inq_dimid(o->ncid, "x", &xdim) != NC_NOERR ||
        nc_inq_varid(o->ncid, "time", &tvar) != NC_NOERR ||
        nc_inq_varid(o->ncid, CUBE_GRID_MAPPING, &crsvar) != NC_NOERR) {
        st = cc_error_set(CC_ERR_FORMAT,
                          "%s: not a clearcube cube (missing time/y/x or spatial_ref)", ncfile);
        goto out;
    }
    NC(nc_inq_dimlen(o->ncid, tdim, &o->ntime));
    NC(nc_inq_dimlen(o->ncid, ydim, &len));
    o->h = (int)len;
    NC(nc_inq_dimlen(o->ncid, xdim, &len));
    o->w = (int)len;
    o->days = malloc((o->ntime ? o->ntime : 1) * sizeof *o->days);
    if (!o->days) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", ncfile);
        goto out;
    }
    if (o->ntime)
        NC(nc_get_var_double(o->ncid, tvar, o->days));
    for (size_t i = 1; i < o->ntime; i++)
        if (!(o->days[i] > o->days[i - 1])) {
            st = cc_error_set(CC_ERR_FORMAT, "%s: time values are not strictly increasing",
                              ncfile);
            goto out;
        }

    CHECK_ST(cc_cube_get_text_att(o->ncid, crsvar, "crs_wkt", ncfile, &o->wkt));
    if (!o->wkt)
        CHECK_ST(cc_cube_get_text_att(o->ncid, crsvar, "spatial_ref", ncfile, &o->wkt));
    CHECK_ST(cc_cube_get_text_att(o->ncid, crsvar, "GeoTransform", ncfile, &gts));
    if (!o->wkt || !gts ||
        sscanf(gts, "%lf %lf %lf %lf %lf %lf", &o->gt[0], &o->gt[1], &o->gt[2], &o->gt[3],
               &o->gt[4], &o->gt[5]) != 6) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: spatial_ref lacks crs_wkt or GeoTransform", ncfile);
        goto out;
    }

    NC(nc_inq_nvars(o->ncid, &nv));
    o->varids = malloc((size_t)(nv ? nv : 1) * sizeof *o->varids);
    o->names = malloc((size_t)(nv ? nv : 1) * sizeof *o->names);
    if (!o->varids || !o->names) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", ncfile);
        goto out;
    }
    for (int v = 0; v < nv; v++) {
        int nd, dims[NC_MAX_VAR_DIMS];
        nc_type t;
        NC(nc_inq_varndims(o->ncid, v, &nd));
        if (nd != 3)
            continue;
        NC(nc_inq_vardimid(o->ncid, v, dims));
        if (dims[0] != tdim || dims[1] != ydim || dims[2] != xdim)
            continue;
        NC(nc_inq_vartype(o->ncid, v, &t));
        NC(nc_inq_varname(o->ncid, v, o->names[o->nvars]));
        if (t != NC_USHORT && t != NC_UBYTE) { /* uint8: flag layers */
            st = cc_error_set(CC_ERR_FORMAT, "%s: layer %s is not uint16 or uint8", ncfile,
                              o->names[o->nvars]);
            goto out;
        }
        o->varids[o->nvars++] = v;
    }
out:
    free(gts);
    return st;
}

/* Grid, layer-name and DN-convention compatibility of the new date with the
 * existing cube; map[i] = index in a->layers of old layer i. */
static cc_status check_compatible(const cc_cube_write_args *a, OGRSpatialReferenceH srs,
                                  const old_cube *o, int *map)
{
    cc_status st = CC_OK;
    OGRSpatialReferenceH osrs = NULL;

    if (o->w != a->width || o->h != a->height) {
        st = cc_error_set(CC_ERR_ARG, "%s: grid size %dx%d differs from the cube's %dx%d",
                          a->path, a->width, a->height, o->w, o->h);
        goto out;
    }
    for (int i = 0; i < 6; i++)
        if (!(fabs(o->gt[i] - a->gt[i]) <= 1e-6)) {
            st = cc_error_set(CC_ERR_ARG,
                              "%s: geotransform [%d] = %.10g differs from the cube's %.10g",
                              a->path, i, a->gt[i], o->gt[i]);
            goto out;
        }
    osrs = cc_cube_srs_from_wkt(o->wkt);
    if (strcmp(o->wkt, a->wkt) != 0 && (!osrs || !OSRIsSame(osrs, srs))) {
        const char *nn = OSRGetName(srs), *on = osrs ? OSRGetName(osrs) : NULL;
        st = cc_error_set(CC_ERR_ARG, "%s: CRS \"%s\" differs from the cube's \"%s\"", a->path,
                          nn ? nn : "?", on ? on : "?");
        goto out;
    }
    const char *ids[2][2] = {{"tile_id", a->tile_id}, {"product", a->product}};
    for (int i = 0; i < 2; i++) {
        char *have = NULL;
        CHECK_ST(cc_cube_get_text_att(o->ncid, NC_GLOBAL, ids[i][0], a->path, &have));
        int differ = have && ids[i][1] && strcmp(have, ids[i][1]) != 0;
        if (differ)
            st = cc_error_set(CC_ERR_ARG, "%s: %s \"%s\" differs from the cube's \"%s\"",
                              a->path, ids[i][0], ids[i][1], have);
        free(have);
        if (differ)
            goto out;
    }
    if (o->nvars != a->nlayers) {
        st = cc_error_set(CC_ERR_ARG, "%s: %d layers given, the cube has %d", a->path,
                          a->nlayers, o->nvars);
        goto out;
    }
    for (int i = 0; i < o->nvars; i++) {
        map[i] = -1;
        for (int j = 0; j < a->nlayers; j++)
            if (strcmp(o->names[i], a->layers[j].name) == 0)
                map[i] = j;
        if (map[i] < 0) {
            st = cc_error_set(CC_ERR_ARG, "%s: layer %s of the cube is not given", a->path,
                              o->names[i]);
            goto out;
        }
        const cc_cube_layer *L = &a->layers[map[i]];
        double sf = 1.0, ao = 0.0;
        unsigned short fv = 0;
        int has_fv = nc_get_att_ushort(o->ncid, o->varids[i], "_FillValue", &fv) == NC_NOERR;
        if (nc_get_att_double(o->ncid, o->varids[i], "scale_factor", &sf) != NC_NOERR)
            sf = 1.0;
        if (nc_get_att_double(o->ncid, o->varids[i], "add_offset", &ao) != NC_NOERR)
            ao = 0.0;
        if (fabs(sf - L->scale_factor) > 1e-12 * fmax(1.0, fabs(sf)) ||
            fabs(ao - L->add_offset) > 1e-12 * fmax(1.0, fabs(ao)) ||
            (has_fv && fv != L->fill_value)) {
            st = cc_error_set(CC_ERR_ARG,
                              "%s: layer %s: scale_factor/add_offset/_FillValue %g/%g/%u differ "
                              "from the cube's %g/%g/%u",
                              a->path, L->name, L->scale_factor, L->add_offset,
                              (unsigned)L->fill_value, sf, ao, (unsigned)fv);
            goto out;
        }
    }
out:
    if (osrs)
        OSRDestroySpatialReference(osrs);
    return st;
}

/* Copies time slice `from` of old layer i into slice `to` of the new one, in
 * strips of one chunk row to bound memory. */
static cc_status copy_slice(const old_cube *o, const char *oldfile, int i, size_t from,
                            const new_cube *n, size_t to, uint16_t *buf, size_t strip,
                            const char *ncfile)
{
    cc_status st = CC_OK;
    for (size_t y0 = 0; y0 < (size_t)o->h; y0 += strip) {
        size_t rows = (size_t)o->h - y0 < strip ? (size_t)o->h - y0 : strip;
        size_t rs[3] = {from, y0, 0}, ws[3] = {to, y0, 0}, cnt[3] = {1, rows, (size_t)o->w};
        int rc = nc_get_vara_ushort(o->ncid, o->varids[i], rs, cnt, buf);
        if (rc != NC_NOERR) {
            st = cc_error_set(cc_cube_nc_status(rc), "%s: reading layer %s: %s", oldfile,
                              o->names[i], nc_strerror(rc));
            goto out;
        }
        NC(nc_put_vara_ushort(n->ncid, n->lvar[i], ws, cnt, buf));
    }
out:
    return st;
}

/* Whether every date of a comes after the last of o (a non-empty cube), so
 * that the write is an in-place append. An append that might not fit the
 * free space (its raw size at 4 bytes a value, + 1/8 + 8 MiB for chunk
 * overhead and the undo log) takes the copy path instead: a full disk in the
 * middle of an in-place HDF5 write is not an error HDF5 recovers from (it
 * crashes at close), while the copy path fails cleanly and leaves the cube
 * as it was. */
static int appends_after_last(const cc_cube_write_args *a, const old_cube *o)
{
    if (o->ntime == 0 || !cc_cube_append_in_place_enabled())
        return 0;
    double first = a->ndates > 1 ? (double)a->dates[0] : (double)cc_date_to_days(a->year, a->month, a->day);
    if (!(first > o->days[o->ntime - 1]))
        return 0;
    double raw = 4.0 * a->width * a->height * a->nlayers * (a->ndates > 1 ? a->ndates : 1);
    long long left = cc_fs_space_left(a->path);
    if (left >= 0 && (double)left < raw * 1.125 + 8.0 * 1024 * 1024) {
        cc_info("%s: %lld MiB free, the append needs up to %.0f MiB: written by copy, not in place", a->path,
                left >> 20, raw * 1.125 / 1048576.0 + 8);
        return 0;
    }
    return 1;
}

/* Closes o and appends a's dates to the cube in place. */
static cc_status append_in_place(const cc_cube_write_args *a, old_cube *o, const int *map)
{
    const char **names = malloc((size_t)o->nvars * sizeof *names);
    if (!names)
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", a->path);
    for (int i = 0; i < o->nvars; i++)
        names[i] = o->names[i];
    nc_close(o->ncid);
    o->ncid = -1;
    cc_status st = cc_cube_append_in_place(a, names, map, o->nvars, o->ntime);
    free(names);
    return st;
}

cc_status cc_cube_append_check(const cc_cube_write_args *a, char (**names)[NC_MAX_NAME + 1], int **map, int *nvars,
                               size_t *ntime)
{
    cc_status st = CC_OK;
    old_cube o = {.ncid = -1};
    OGRSpatialReferenceH srs = NULL;
    int *m = NULL;
    *names = NULL, *map = NULL, *nvars = 0, *ntime = 0;
    CHECK_ST(cc_cube_check_args(a, 0));
    CHECK_ST(cc_cube_recover(a->path));
    if (!(srs = cc_cube_srs_from_wkt(a->wkt))) {
        st = cc_error_set(CC_ERR_CRS, "%s: cannot parse the CRS WKT", a->path);
        goto out;
    }
    CHECK_ST(old_cube_open(a->path, &o));
    if (!(m = malloc((size_t)a->nlayers * sizeof *m))) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", a->path);
        goto out;
    }
    CHECK_ST(check_compatible(a, srs, &o, m));
    double first = a->ndates > 1 ? (double)a->dates[0] : (double)cc_date_to_days(a->year, a->month, a->day);
    if (o.ntime && !(first > o.days[o.ntime - 1])) {
        char d1[CC_DATE_ISO_SIZE], d2[CC_DATE_ISO_SIZE];
        cc_date_format((long)first, d1);
        cc_date_format((long)o.days[o.ntime - 1], d2);
        st = cc_error_set(CC_ERR_ARG, "%s: %s is not after the cube's last date %s (an append adds later dates only)",
                          a->path, d1, d2);
        goto out;
    }
    *names = o.names, o.names = NULL;
    *map = m, m = NULL;
    *nvars = o.nvars, *ntime = o.ntime;
out:
    old_cube_free(&o);
    if (srs)
        OSRDestroySpatialReference(srs);
    free(m);
    return st;
}

cc_status cc_cube_write(const cc_cube_write_args *a)
{
    cc_status st = CC_OK;
    const char *ncfile = a && a->path ? a->path : "cube";
    OGRSpatialReferenceH srs = NULL;
    char *wkt = NULL, tmp[PATH_MAX + 32] = "";
    old_cube o = {.ncid = -1};
    int have_old = 0, *map = NULL, tmp_created = 0;
    new_cube n = {.ncid = -1};
    double *days = NULL;
    long *slot = NULL;
    uint16_t *buf = NULL;
    size_t nold, nnew = 0;
    struct stat sb, sb2;
    char dir[PATH_MAX];
    const char *base;
    cc_fs_lock *lock = NULL;

    CHECK_ST(cc_cube_check_args(a, 1));
    CHECK_ST(cc_cube_lock(a->path, &lock)); /* one writer per cube */
    srs = cc_cube_srs_from_wkt(a->wkt);
    if (!srs || OSRExportToWkt(srs, &wkt) != OGRERR_NONE || !wkt) {
        st = cc_error_set(CC_ERR_CRS, "%s: cannot parse the CRS WKT", a->path);
        goto out;
    }
    cc_fs_remove_stale_temps(a->path);

    map = malloc((size_t)a->nlayers * sizeof *map);
    n.lvar = malloc((size_t)a->nlayers * sizeof *n.lvar);
    if (!map || !n.lvar) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", a->path);
        goto out;
    }
    for (int i = 0; i < a->nlayers; i++)
        map[i] = i;
    CHECK_ST(cc_cube_recover(a->path)); /* an append killed earlier is rolled back first */
    if (stat(a->path, &sb) == 0) {
        have_old = 1;
        CHECK_ST(old_cube_open(a->path, &o));
        CHECK_ST(check_compatible(a, srs, &o, map));
        if (appends_after_last(a, &o)) { /* the cost of the new slices only (cube_append.c) */
            st = append_in_place(a, &o, map);
            goto out;
        }
    } else if (errno != ENOENT) {
        st = cc_error_set(CC_ERR_IO, "%s: %s", a->path, strerror(errno));
        goto out;
    }

    /* the merged, sorted dates; slot[t] = old time index, or -1 - j for new date j */
    size_t nin = a->ndates > 1 ? (size_t)a->ndates : 1;
    double day1 = (double)cc_date_to_days(a->year, a->month, a->day);
    nold = have_old ? o.ntime : 0;
    days = malloc((nold + nin) * sizeof *days);
    slot = malloc((nold + nin) * sizeof *slot);
    if (!days || !slot) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", a->path);
        goto out;
    }
    for (size_t k = 0, j = 0; k < nold || j < nin;) {
        double dj = j < nin ? (a->ndates > 1 ? (double)a->dates[j] : day1) : 0;
        if (j < nin && (k == nold || dj <= o.days[k])) {
            if (k < nold && o.days[k] == dj)
                k++; /* that date is replaced */
            days[nnew] = dj;
            slot[nnew++] = -1 - (long)j++;
        } else {
            days[nnew] = o.days[k];
            slot[nnew++] = (long)k++;
        }
    }

    cc_fs_split_path(a->path, dir, sizeof dir, &base);
    if (stat(dir, &sb2) != 0 || !S_ISDIR(sb2.st_mode)) {
        st = cc_error_set(CC_ERR_IO, "%s: directory %s does not exist", a->path, dir);
        goto out;
    }
    CHECK_ST(cc_fs_temp_name(a->path, NULL, tmp, sizeof tmp));
    ncfile = tmp;
    tmp_created = 1;
    NC(nc_create(tmp, NC_NETCDF4 | NC_CLOBBER, &n.ncid));
    CHECK_ST(cc_cube_define(a, srs, wkt, have_old ? &o : NULL, map, &n, ncfile));
    CHECK_ST(cc_cube_write_coords(a, &n, days, nnew, ncfile));

    size_t strip = (size_t)(a->height < CUBE_CHUNK ? a->height : CUBE_CHUNK);
    if (have_old && !(buf = cc_malloc3(strip, (size_t)a->width, sizeof *buf))) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory for a copy buffer", ncfile);
        goto out;
    }
    for (size_t t = 0; t < nnew; t++)
        for (int i = 0; i < a->nlayers; i++) {
            size_t s3[3] = {t, 0, 0}, c3[3] = {1, (size_t)a->height, (size_t)a->width};
            if (slot[t] >= 0)
                CHECK_ST(copy_slice(&o, a->path, i, (size_t)slot[t], &n, t, buf, strip, ncfile));
            else
                NC(nc_put_vara_ushort(n.ncid, n.lvar[i], s3, c3,
                                      a->layers[map[i]].data + (size_t)(-1 - slot[t]) * (size_t)a->width *
                                                                   (size_t)a->height));
        }
    NC(nc_close(n.ncid)); /* on failure n.ncid stays open for the abort below */
    n.ncid = -1;
    if (have_old) {
        if (chmod(tmp, sb.st_mode & 07777) != 0) /* keep the cube's permissions */
            cc_warn("%s: cannot copy permissions: %s", tmp, strerror(errno));
        old_cube_free(&o);
        have_old = 0;
    }
    tmp_created = 0; /* after the commit it is the cube, or removed */
    CHECK_ST(cc_fs_commit(tmp, a->path));
out:
    cc_cube_nc_discard(n.ncid, tmp); /* a failed write: closed off the disk */
    if (tmp_created)
        cc_fs_abort(tmp);
    if (have_old)
        old_cube_free(&o);
    cc_fs_lock_release_remove(lock);
    if (srs)
        OSRDestroySpatialReference(srs);
    if (wkt)
        CPLFree(wkt);
    free(map);
    free(n.lvar);
    free(days);
    free(slot);
    free(buf);
    return st;
}

/* ---- sensor cubes --------------------------------------------------------- */

uint16_t cc_cube_refl_dn(float r)
{
    return isfinite(r) ? cc_refl_encode(r, CC_REFL_DN_OFFSET_PB04, CC_REFL_QUANT) : CC_REFL_DN_NODATA;
}

uint16_t cc_cube_db_dn(float db)
{
    if (!isfinite(db))
        return 0;
    double dn = floor((db - CC_CL_DB_OFFSET) / CC_CL_DB_SCALE + 0.5);
    return (uint16_t)(dn < 1 ? 1 : dn > 65534 ? 65534 : dn);
}

const char *cc_cube_sensor_suffix(cc_sensor s)
{
    switch (s) {
    case CC_SENSOR_S2: return "s2";
    case CC_SENSOR_LANDSAT: return "landsat";
    case CC_SENSOR_OLCI: return "olci";
    case CC_SENSOR_S1: return "s1";
    default: return "unknown";
    }
}

void cc_cube_sensor_path(char *buf, size_t n, const char *dir, const char *tile, cc_sensor s)
{
    snprintf(buf, n, "%s/%s_%s.nc", dir, tile, cc_cube_sensor_suffix(s));
}

static const char *sensor_product(cc_sensor s)
{
    switch (s) {
    case CC_SENSOR_S2: return "sensor-cube s2-l2a";
    case CC_SENSOR_LANDSAT: return "sensor-cube landsat-hls";
    case CC_SENSOR_OLCI: return "sensor-cube olci-toa-s2bands";
    default: return "sensor-cube s1-sigma0-db";
    }
}

/* The cloud_mask layer's classes (pipeline/atmos/cloudmask.h, which
 * io/ may not include; cloudless_product.c checks they agree). */
enum { MASK_NODATA = 0, MASK_CLEAR = 1 };

/* Encodes date k of the values (and mask) of npix pixels into slot kout of
 * dn, [layer][nd][npix]. */
static void sensor_encode(const cc_cube_sensor_args *a, int k, size_t npix, uint16_t *dn, size_t nd, size_t kout)
{
    if (a->sensor == CC_SENSOR_S1) {
        const float *v = a->values + (size_t)(a->slices ? a->slices[k] : k) * npix * CC_CL_NS1;
        for (int b = 0; b < CC_CL_NS1; b++) {
            uint16_t *d = dn + ((size_t)b * nd + kout) * npix;
            for (size_t p = 0; p < npix; p++)
                d[p] = cc_cube_db_dn(v[p * CC_CL_NS1 + (size_t)b]);
        }
        return;
    }
    const float *v = a->values + (size_t)(a->slices ? a->slices[k] : k) * npix * CC_CL_NBANDS;
    const uint8_t *mask = a->mask ? a->mask + (size_t)k * npix : NULL;
    for (int b = 0; b < CC_CL_NBANDS; b++) {
        uint16_t *d = dn + ((size_t)b * nd + kout) * npix;
        /* the reflectance of cloudy pixels is kept: the mask says what is an observation */
        for (size_t p = 0; p < npix; p++)
            d[p] = (mask && mask[p] == MASK_NODATA) ? 0 : cc_cube_refl_dn(v[p * CC_CL_NBANDS + (size_t)b]);
    }
    uint16_t *m = dn + ((size_t)CC_CL_NBANDS * nd + kout) * npix;
    for (size_t p = 0; p < npix; p++) {
        int any = 0;
        for (int b = 0; b < CC_CL_NBANDS; b++)
            any |= isfinite(v[p * CC_CL_NBANDS + (size_t)b]);
        int cls = !any ? MASK_NODATA : mask ? mask[p] : MASK_CLEAR;
        m[p] = cls == MASK_NODATA ? 0 : (uint16_t)(cls + 1); /* class + 1: 0 stays the fill */
    }
}

/* The layers of a sensor cube over dn ([layer][nd][npix]); names receive the
 * long names. Returns the number of layers. */
static int sensor_layers(cc_sensor sensor, uint16_t *dn, size_t slab, cc_cube_layer *layers,
                         char (*names)[64])
{
    memset(layers, 0, (CC_CL_NBANDS + 1) * sizeof *layers);
    if (sensor == CC_SENSOR_S1) {
        static const char *pol[2] = {"VV", "VH"};
        for (int b = 0; b < 2; b++) {
            snprintf(names[b], sizeof names[b], "Sentinel-1 sigma0 %s backscatter (dB)", pol[b]);
            /* decibel in the UDUNITS form CF checkers accept: 0.1 bel of the ratio to 1 */
            layers[b] = (cc_cube_layer){.name = pol[b], .long_name = names[b], .units = "0.1 lg(re 1)",
                                        .scale_factor = CC_CL_DB_SCALE, .add_offset = CC_CL_DB_OFFSET,
                                        .fill_value = 0, .data = dn + (size_t)b * slab};
        }
        return CC_CL_NS1;
    }
    for (int b = 0; b < CC_CL_NBANDS; b++) {
        const double nm = cc_band_wavelength_nm[cc_band_index(cc_cl_band_names[b])];
        snprintf(names[b], sizeof names[b], "%s reflectance in Sentinel-2 band %s",
                 sensor == CC_SENSOR_S2 ? "surface" : sensor == CC_SENSOR_LANDSAT ? "HLS-adjusted surface"
                                                                                  : "top-of-atmosphere",
                 cc_cl_band_names[b]);
        layers[b] = (cc_cube_layer){.name = cc_cl_band_names[b], .long_name = names[b], .units = "1",
                                    .scale_factor = CC_CL_REFL_SCALE, .add_offset = CC_CL_REFL_OFFSET,
                                    .fill_value = 0, .wavelength_nm = nm, .data = dn + (size_t)b * slab};
    }
    layers[CC_CL_NBANDS] = (cc_cube_layer){
        .name = "cloud_mask", .units = "1", .scale_factor = 1, .add_offset = -1, .fill_value = 0,
        .data = dn + (size_t)CC_CL_NBANDS * slab,
        .long_name = "cloud mask: 0 nodata, 1 clear, 2 cloud, 3 shadow, 4 snow, 5 water (stored as class + 1)"};
    return CC_CL_NBANDS + 1;
}

/* Whether the window's dates can be appended in place (the streaming
 * appender): the cube is absent, empty or ends before the first new date,
 * in-place appends are enabled and the new slices fit the free space (as
 * appends_after_last). Anything unexpected: 0, and the copy path reports it. */
static int sensor_window_in_place(const cc_cube_sensor_args *a, const char *path, size_t wpix, int nl)
{
    struct stat sb;
    int n = 0, ok = 1;
    double *days = NULL;
    if (!cc_cube_append_in_place_enabled() || cc_cube_recover(path) != CC_OK) {
        cc_error_clear();
        return 0;
    }
    if (stat(path, &sb) == 0) {
        if (cc_cube_dates(path, &n, &days) != CC_OK) {
            cc_error_clear();
            return 0;
        }
        ok = n == 0 || (double)a->days[0] > days[n - 1];
        free(days);
    } else if (errno != ENOENT)
        return 0;
    double raw = 4.0 * (double)wpix * nl * a->ndates;
    long long left = cc_fs_space_left(path);
    if (ok && left >= 0 && (double)left < raw * 1.125 + 8.0 * 1024 * 1024) {
        cc_info("%s: %lld MiB free, the append needs up to %.0f MiB: written by copy, not in place", path, left >> 20,
                raw * 1.125 / 1048576.0 + 8);
        return 0;
    }
    return ok;
}

/* The window's dates appended in place, window-sized buffers only. */
static cc_status sensor_append_window(const cc_cube_sensor_args *a, const cc_cube_write_args *w, size_t wpix, int nl)
{
    cc_fs_lock *lock = NULL;
    cc_cube_appender *p = NULL;
    uint16_t *dn = NULL;
    cc_status st = cc_cube_lock(w->path, &lock); /* one writer per cube */
    if (st != CC_OK)
        return st;
    cc_fs_remove_stale_temps(w->path);
    if ((st = cc_cube_append_open_windows(w, &p)) != CC_OK)
        goto out;
    if (!(dn = cc_malloc3((size_t)nl, wpix, sizeof *dn))) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: sensor cube: out of memory", a->tile);
        goto out;
    }
    for (int k = 0; k < a->ndates && st == CC_OK; k++) {
        sensor_encode(a, k, wpix, dn, 1, 0);
        st = cc_cube_append_window(p, k, a->x0, a->y0, a->win_width, a->win_height, dn);
    }
    if (st == CC_OK) {
        st = cc_cube_append_commit(p);
        p = NULL;
    }
    if (st == CC_OK)
        cc_debug("%s: %d date(s) appended in place, window %dx%d+%d+%d of %dx%d", w->path, a->ndates, a->win_width,
                 a->win_height, a->x0, a->y0, a->width, a->height);
out:
    cc_cube_append_abort(p);
    free(dn);
    cc_fs_lock_release_remove(lock);
    return st;
}

cc_status cc_cube_write_sensor(const cc_cube_sensor_args *a)
{
    if (!a || !a->dir || !a->tile || !a->values || a->ndates < 1 || !a->days || a->width <= 0 || a->height <= 0 ||
        a->sensor < CC_SENSOR_S2 || a->sensor >= CC_SENSOR_COUNT)
        return cc_error_set(CC_ERR_ARG, "%s: sensor cube: no values, dates or grid", a && a->tile ? a->tile : "?");
    const int windowed = a->win_width > 0 || a->win_height > 0;
    const int ww = windowed ? a->win_width : a->width, wh = windowed ? a->win_height : a->height;
    if (windowed && (ww <= 0 || wh <= 0 || a->x0 < 0 || a->y0 < 0 || a->x0 > a->width - ww || a->y0 > a->height - wh))
        return cc_error_set(CC_ERR_ARG, "%s: sensor cube: window %dx%d+%d+%d outside the %dx%d grid", a->tile, ww, wh,
                            a->x0, a->y0, a->width, a->height);
    const size_t npix = (size_t)a->width * (size_t)a->height, wpix = (size_t)ww * (size_t)wh, nd = (size_t)a->ndates;
    const int nl = a->sensor == CC_SENSOR_S1 ? CC_CL_NS1 : CC_CL_NBANDS + 1;
    cc_cube_layer layers[CC_CL_NBANDS + 1];
    char names[CC_CL_NBANDS + 1][64], path[4096];
    cc_cube_sensor_path(path, sizeof path, a->dir, a->tile, a->sensor);
    cc_cube_write_args w = {.path = path, .tile_id = a->tile, .wkt = a->wkt, .width = a->width, .height = a->height,
                            .nlayers = nl, .layers = layers, .inputs = a->inputs,
                            .product = a->product ? a->product : sensor_product(a->sensor),
                            .processor = a->processor ? a->processor : "clearcube ingest (Cloudless sensor cube)"};
    memcpy(w.gt, a->gt, sizeof w.gt);
    if (nd == 1)
        cc_date_from_days(a->days[0], &w.year, &w.month, &w.day);
    else
        w.ndates = a->ndates, w.dates = a->days;
    if (windowed && wpix < npix) {
        uint16_t none = 0; /* the appender takes no data from the layers */
        sensor_layers(a->sensor, &none, 0, layers, names);
        if (sensor_window_in_place(a, path, wpix, nl))
            return sensor_append_window(a, &w, wpix, nl);
        cc_info("%s: the date(s) go before the cube's last or replace one: written by copy, with the whole grid's "
                "planes in memory (%zu MiB)", path, ((size_t)nl * nd * npix * sizeof(uint16_t)) >> 20);
    }
    /* the whole grid: the window (if any) inside fill */
    uint16_t *dn = windowed && wpix < npix ? cc_calloc3((size_t)nl * nd, npix, sizeof *dn)
                                           : cc_malloc3((size_t)nl * nd, npix, sizeof *dn);
    uint16_t *win = windowed && wpix < npix && dn ? cc_malloc3((size_t)nl, wpix, sizeof *win) : NULL;
    if (!dn || (windowed && wpix < npix && !win)) {
        free(dn);
        return cc_error_set(CC_ERR_NOMEM, "%s: sensor cube: out of memory", a->tile);
    }
    for (int k = 0; k < a->ndates; k++) {
        if (!win) {
            sensor_encode(a, k, npix, dn, nd, (size_t)k);
            continue;
        }
        sensor_encode(a, k, wpix, win, 1, 0);
        for (int l = 0; l < nl; l++)
            for (int r = 0; r < wh; r++)
                memcpy(dn + ((size_t)l * nd + (size_t)k) * npix + (size_t)(a->y0 + r) * (size_t)a->width +
                           (size_t)a->x0,
                       win + (size_t)l * wpix + (size_t)r * (size_t)ww, (size_t)ww * sizeof *dn);
    }
    free(win);
    sensor_layers(a->sensor, dn, nd * npix, layers, names);
    cc_status st = cc_cube_write(&w);
    free(dn);
    return st;
}

char *cc_cube_text_att(int ncid, int varid, const char *name)
{
    size_t len = 0;
    nc_type ty;
    if (nc_inq_att(ncid, varid, name, &ty, &len) != NC_NOERR || ty != NC_CHAR)
        return NULL;
    char *s = malloc(len + 1);
    if (s && nc_get_att_text(ncid, varid, name, s) == NC_NOERR)
        s[len] = 0;
    else {
        free(s);
        s = NULL;
    }
    return s;
}

cc_status cc_cube_dates(const char *path, int *ndates, double **days)
{
    cc_status st = CC_OK;
    const char *ncfile = path ? path : "cube";
    int ncid = -1, dim, var;
    size_t n = 0;
    double *d = NULL;
    *ndates = 0;
    *days = NULL;
    CHECK_ST(cc_cube_recover(path));
    NC(nc_open(path, NC_NOWRITE, &ncid));
    if (nc_inq_dimid(ncid, "time", &dim) != NC_NOERR ||
        nc_inq_varid(ncid, "time", &var) != NC_NOERR) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: no time dimension/variable", path);
        goto out;
    }
    NC(nc_inq_dimlen(ncid, dim, &n));
    if (n > (size_t)INT_MAX) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: too many dates", path);
        goto out;
    }
    if (n) {
        d = malloc(n * sizeof *d);
        if (!d) {
            st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
            goto out;
        }
        NC(nc_get_var_double(ncid, var, d));
    }
    *ndates = (int)n;
    *days = d;
    d = NULL;
out:
    if (ncid >= 0)
        nc_close(ncid);
    free(d);
    return st;
}
