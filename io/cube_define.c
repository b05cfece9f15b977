/* clearcube: the CF-1.8 layout of a clearcube cube (docs/formats/cube.md),
 * the one definition both writers use (cube.c, cube_stream.c): dimensions,
 * coordinates, the spatial_ref grid mapping, chunked and deflated uint16
 * layers, global attributes and history; NetCDF error handling and the
 * argument checks they share (cube-impl.h). */
#define _POSIX_C_SOURCE 200809L

#include "io/cube-impl.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/alloc.h"
#include "core/date.h"
#include "core/fs.h"
#include "core/version.h"

/* ---- error helpers ----------------------------------------------------- */

cc_status cc_cube_nc_status(int rc)
{
    if (rc == NC_ENOMEM)
        return CC_ERR_NOMEM;
    if (rc == NC_ENOTNC || rc == NC_ENOTVAR || rc == NC_ENOTATT || rc == NC_EBADDIM ||
        rc == NC_EBADTYPE || rc == NC_ECHAR || rc == NC_ETRUNC || rc == NC_EHDFERR)
        return CC_ERR_FORMAT;
    return CC_ERR_IO;
}

/* 1 for the NetCDF calls that write a file (the others only read). */
static int nc_call_writes(const char *call, int n)
{
    static const char *const w[] = {"nc_create", "nc_def_", "nc_put_", "nc_enddef", "nc_close", "nc_redef",
                                    "nc_copy_att", "nc_sync", "nc_set_fill", "nc_rename_"};
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
        if ((int)strlen(w[i]) <= n && strncmp(call, w[i], strlen(w[i])) == 0)
            return 1;
    return 0;
}

/* Records "<file>: <nc function>: <nc_strerror>" and returns the status. A
 * failed write whose cause the file system knows (full, quota, read-only,
 * permission) says that instead: NetCDF-4 reports a full disk as "HDF error"
 * or "Permission denied" (issue 17). */
cc_status cc_cube_nc_fail(const char *file, const char *call, int rc)
{
    int n = 0;
    while (call[n] && call[n] != '(' && n < 64)
        n++;
    if (nc_call_writes(call, n) && (rc > 0 || rc == NC_EHDFERR || rc == NC_EPERM || rc == NC_EIO ||
                                    rc == NC_ECANTWRITE || rc == NC_EFILEMETA || rc == NC_EDIMMETA ||
                                    rc == NC_EATTMETA || rc == NC_EVARMETA)) {
        char what[72];
        snprintf(what, sizeof what, "%.*s", n, call);
        if (cc_fs_write_explain(file, rc > 0 ? rc : 0, what) != CC_OK)
            return CC_ERR_IO;
    }
    return cc_error_set(cc_cube_nc_status(rc), "%s: %.*s: %s", file, n, call, nc_strerror(rc));
}

void cc_cube_nc_discard(int ncid, const char *tmp)
{
    if (ncid < 0)
        return;
    cc_fs_discard_open(tmp);
    if (nc_close(ncid) != NC_NOERR)
        nc_abort(ncid);
}

/* ---- one writer per cube ---------------------------------------------- */

cc_status cc_cube_lock(const char *path, cc_fs_lock **out)
{
    char lp[4096 + 8], dir[4096];
    const char *base;
    struct stat sd;
    cc_fs_split_path(path, dir, sizeof dir, &base);
    if (stat(dir, &sd) != 0 || !S_ISDIR(sd.st_mode))
        return cc_error_set(CC_ERR_IO, "%s: directory %s does not exist", path, dir);
    snprintf(lp, sizeof lp, "%s.lock", path);
    const char *w = getenv("CLEARCUBE_CUBE_LOCK_WAIT");
    char *end = NULL;
    double wait_s = w && *w ? strtod(w, &end) : 3600.0;
    if (end && (*end || !(wait_s == wait_s)))
        wait_s = 3600.0;
    cc_status st = cc_fs_lock_acquire(lp, "the cube", wait_s, out);
    const char *hold = getenv("CLEARCUBE_TEST_CUBE_LOCK_HOLD_MS"); /* test hook: a slow writer */
    if (st == CC_OK && hold && *hold) {
        long ms = strtol(hold, NULL, 10);
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    return st;
}

/* ---- small utilities --------------------------------------------------- */

char *cc_cube_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

/* Heap-allocated printf. NULL (and CC_ERR_NOMEM set) on failure. */
char *cc_cube_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *p = malloc((size_t)n + 1);
    if (!p) {
        cc_error_set(CC_ERR_NOMEM, "out of memory formatting a string");
        return NULL;
    }
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

static int valid_nc_name(const char *s)
{
    if (!s || !*s || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return 0;
    for (const char *p = s; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '-' || *p == '.'))
            return 0;
    return strlen(s) < NC_MAX_NAME;
}

/* Reads a text attribute into a malloc'd NUL-terminated string; *out = NULL
 * when the attribute is absent. */
cc_status cc_cube_get_text_att(int ncid, int varid, const char *name, const char *ncfile, char **out)
{
    cc_status st = CC_OK;
    nc_type t;
    size_t len;
    char *s = NULL;
    *out = NULL;
    if (nc_inq_att(ncid, varid, name, &t, &len) != NC_NOERR)
        return CC_OK;
    if (t != NC_CHAR) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: attribute %s is not text", ncfile, name);
        goto out;
    }
    s = malloc(len + 1);
    if (!s) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory reading attribute %s", ncfile, name);
        goto out;
    }
    NC(nc_get_att_text(ncid, varid, name, s));
    s[len] = '\0';
    *out = s;
    s = NULL;
out:
    free(s);
    return st;
}

static cc_status put_text(int ncid, int varid, const char *name, const char *val,
                          const char *ncfile)
{
    cc_status st = CC_OK;
    if (val)
        NC(nc_put_att_text(ncid, varid, name, strlen(val), val));
out:
    return st;
}

static cc_status put_double(int ncid, int varid, const char *name, double v,
                            const char *ncfile)
{
    cc_status st = CC_OK;
    NC(nc_put_att_double(ncid, varid, name, NC_DOUBLE, 1, &v));
out:
    return st;
}

/* ---- CRS --------------------------------------------------------------- */

OGRSpatialReferenceH cc_cube_srs_from_wkt(const char *wkt)
{
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
    if (!srs)
        return NULL;
    char *w = (char *)wkt; /* OSRImportFromWkt advances its copy of the pointer only */
    if (OSRImportFromWkt(srs, &w) != OGRERR_NONE) {
        OSRDestroySpatialReference(srs);
        return NULL;
    }
    OSRSetAxisMappingStrategy(srs, OAMS_TRADITIONAL_GIS_ORDER);
    return srs;
}

/* CF grid-mapping attributes on the spatial_ref variable. */
static cc_status put_grid_mapping(int ncid, int varid, OGRSpatialReferenceH srs,
                                  const char *wkt, const double gt[6], const char *ncfile)
{
    cc_status st = CC_OK;
    OGRErr e = OGRERR_NONE;
    const char *proj = OSRGetAttrValue(srs, "PROJECTION", 0);
    char gts[256];
    int n = 0;
    for (int i = 0; i < 6; i++)
        n += snprintf(gts + n, sizeof gts - (size_t)n, "%.16g ", gt[i]);

    if (OSRIsProjected(srs) && proj && strcmp(proj, SRS_PT_TRANSVERSE_MERCATOR) == 0) {
        CHECK_ST(put_text(ncid, varid, "grid_mapping_name", "transverse_mercator", ncfile));
        CHECK_ST(put_double(ncid, varid, "longitude_of_central_meridian",
                            OSRGetProjParm(srs, SRS_PP_CENTRAL_MERIDIAN, 0.0, &e), ncfile));
        CHECK_ST(put_double(ncid, varid, "false_easting",
                            OSRGetProjParm(srs, SRS_PP_FALSE_EASTING, 0.0, &e), ncfile));
        CHECK_ST(put_double(ncid, varid, "false_northing",
                            OSRGetProjParm(srs, SRS_PP_FALSE_NORTHING, 0.0, &e), ncfile));
        CHECK_ST(put_double(ncid, varid, "latitude_of_projection_origin",
                            OSRGetProjParm(srs, SRS_PP_LATITUDE_OF_ORIGIN, 0.0, &e), ncfile));
        CHECK_ST(put_double(ncid, varid, "scale_factor_at_central_meridian",
                            OSRGetProjParm(srs, SRS_PP_SCALE_FACTOR, 1.0, &e), ncfile));
    } else if (OSRIsGeographic(srs)) {
        CHECK_ST(put_text(ncid, varid, "grid_mapping_name", "latitude_longitude", ncfile));
    }
    CHECK_ST(put_text(ncid, varid, "long_name", "CRS definition", ncfile));
    if (OSRIsProjected(srs) || OSRIsGeographic(srs)) {
        CHECK_ST(put_double(ncid, varid, "longitude_of_prime_meridian",
                            OSRGetPrimeMeridian(srs, NULL), ncfile));
        CHECK_ST(put_double(ncid, varid, "semi_major_axis", OSRGetSemiMajor(srs, &e), ncfile));
        CHECK_ST(put_double(ncid, varid, "inverse_flattening", OSRGetInvFlattening(srs, &e),
                            ncfile));
        const char *pname = OSRIsProjected(srs) ? OSRGetAttrValue(srs, "PROJCS", 0) : NULL;
        const char *gname = OSRGetAttrValue(srs, "GEOGCS", 0);
        const char *dname = OSRGetAttrValue(srs, "DATUM", 0);
        CHECK_ST(put_text(ncid, varid, "projected_crs_name", pname, ncfile));
        CHECK_ST(put_text(ncid, varid, "geographic_crs_name", gname, ncfile));
        CHECK_ST(put_text(ncid, varid, "horizontal_datum_name", dname, ncfile));
    }
    CHECK_ST(put_text(ncid, varid, "crs_wkt", wkt, ncfile));
    CHECK_ST(put_text(ncid, varid, "spatial_ref", wkt, ncfile));
    CHECK_ST(put_text(ncid, varid, "GeoTransform", gts, ncfile));
out:
    return st;
}

cc_status cc_cube_check_args(const cc_cube_write_args *a, int need_data)
{
    if (!a || !a->path || !*a->path)
        return cc_error_set(CC_ERR_ARG, "cube: no output path");
    if (!a->wkt || !*a->wkt)
        return cc_error_set(CC_ERR_ARG, "%s: no CRS WKT", a->path);
    if (a->width <= 0 || a->height <= 0)
        return cc_error_set(CC_ERR_ARG, "%s: bad grid size %dx%d", a->path, a->width, a->height);
    if (a->deflate_level < 0 || a->deflate_level > 9)
        return cc_error_set(CC_ERR_ARG, "%s: deflate level %d outside 1..9", a->path, a->deflate_level);
    if (!(a->gt[1] > 0) || !(a->gt[5] < 0) || a->gt[2] != 0 || a->gt[4] != 0 ||
        !isfinite(a->gt[0]) || !isfinite(a->gt[1]) || !isfinite(a->gt[3]) ||
        !isfinite(a->gt[5]))
        return cc_error_set(CC_ERR_ARG, "%s: geotransform is not north-up without rotation",
                            a->path);
    if (a->ndates > 1) {
        if (!a->dates)
            return cc_error_set(CC_ERR_ARG, "%s: %d dates but no date list", a->path, a->ndates);
        for (int k = 1; k < a->ndates; k++)
            if (a->dates[k] <= a->dates[k - 1])
                return cc_error_set(CC_ERR_ARG, "%s: dates not strictly increasing", a->path);
    } else if (!cc_date_valid(a->year, a->month, a->day))
        return cc_error_set(CC_ERR_ARG, "%s: invalid date %04d-%02d-%02d", a->path, a->year,
                            a->month, a->day);
    if (a->nlayers <= 0 || !a->layers)
        return cc_error_set(CC_ERR_ARG, "%s: no layers", a->path);
    for (int i = 0; i < a->nlayers; i++) {
        const cc_cube_layer *L = &a->layers[i];
        if (!valid_nc_name(L->name) || !strcmp(L->name, "x") || !strcmp(L->name, "y") ||
            !strcmp(L->name, "time") || !strcmp(L->name, CUBE_GRID_MAPPING))
            return cc_error_set(CC_ERR_ARG, "%s: invalid layer name \"%s\"", a->path,
                                L->name ? L->name : "(null)");
        if (need_data && !L->data)
            return cc_error_set(CC_ERR_ARG, "%s: layer %s has no data", a->path, L->name);
        if (!isfinite(L->scale_factor) || L->scale_factor == 0 || !isfinite(L->add_offset))
            return cc_error_set(CC_ERR_ARG, "%s: layer %s: bad scale_factor/add_offset", a->path,
                                L->name);
        if (L->nflags > 0 && ((!L->flag_values && !L->flag_masks) || !L->flag_meanings || L->nflags > 255 || L->fill_value > 255))
            return cc_error_set(CC_ERR_ARG, "%s: flag layer %s: bad flag_values/flag_meanings/_FillValue", a->path,
                                L->name);
        for (int j = 0; j < i; j++)
            if (strcmp(L->name, a->layers[j].name) == 0)
                return cc_error_set(CC_ERR_ARG, "%s: duplicate layer %s", a->path, L->name);
    }
    return CC_OK;
}

static cc_status define_global_atts(const cc_cube_write_args *a, const old_cube *o,
                                    int ncid, const char *ncfile)
{
    cc_status st = CC_OK;
    char now[32];
    char *title = NULL, *hist = NULL, *old_hist = NULL, *created = NULL, *line = NULL;
    cc_date_stamp(cc_date_now_reproducible(), now, sizeof now);

    if (o) {
        int natts;
        char name[NC_MAX_NAME + 1];
        NC(nc_inq_natts(o->ncid, &natts));
        for (int i = 0; i < natts; i++) {
            NC(nc_inq_attname(o->ncid, NC_GLOBAL, i, name));
            NC(nc_copy_att(o->ncid, NC_GLOBAL, name, ncid, NC_GLOBAL));
        }
        CHECK_ST(cc_cube_get_text_att(o->ncid, NC_GLOBAL, "history", a->path, &old_hist));
        CHECK_ST(cc_cube_get_text_att(o->ncid, NC_GLOBAL, "date_created", a->path, &created));
    }
    title = cc_cube_asprintf("clearcube %s datacube, tile %s", a->product ? a->product : "",
                      a->tile_id ? a->tile_id : "");
    line = cc_cube_history_line(a, now); /* one format with the in-place append (cube_append.c) */
    if (!title || !line) {
        st = CC_ERR_NOMEM;
        goto out;
    }
    hist = old_hist && *old_hist ? cc_cube_asprintf("%s\n%s", old_hist, line) : cc_cube_strdup(line);
    if (!hist) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", ncfile);
        goto out;
    }
    CHECK_ST(put_text(ncid, NC_GLOBAL, "Conventions", "CF-1.8", ncfile));
    CHECK_ST(put_text(ncid, NC_GLOBAL, "title", title, ncfile));
    CHECK_ST(put_text(ncid, NC_GLOBAL, "institution", "clearcube " CC_VERSION, ncfile));
    CHECK_ST(put_text(ncid, NC_GLOBAL, "source", "clearcube " CC_VERSION, ncfile));
    CHECK_ST(put_text(ncid, NC_GLOBAL, "tile_id", a->tile_id, ncfile));
    CHECK_ST(put_text(ncid, NC_GLOBAL, "product", a->product, ncfile));
    CHECK_ST(put_text(ncid, NC_GLOBAL, "history", hist, ncfile));
    CHECK_ST(put_text(ncid, NC_GLOBAL, "inputs", a->inputs, ncfile));
    CHECK_ST(put_text(ncid, NC_GLOBAL, "processor", a->processor, ncfile));
    CHECK_ST(put_text(ncid, NC_GLOBAL, "parameters", a->parameters, ncfile));
    CHECK_ST(put_text(ncid, NC_GLOBAL, "date_created", created ? created : now, ncfile));
    CHECK_ST(put_text(ncid, NC_GLOBAL, "date_modified", now, ncfile));
out:
    free(title);
    free(hist);
    free(old_hist);
    free(created);
    free(line);
    return st;
}

/* The coordinate variable y (is_x 0) or x: projection metres, or degrees on
 * a geographic CRS. */
static cc_status def_axis(int ncid, int dim, int is_x, int geo, int *var, const char *ncfile)
{
    cc_status st = CC_OK;
    NC(nc_def_var(ncid, is_x ? "x" : "y", NC_DOUBLE, 1, &dim, var));
    CHECK_ST(put_text(ncid, *var, "standard_name",
                      geo ? (is_x ? "longitude" : "latitude")
                          : (is_x ? "projection_x_coordinate" : "projection_y_coordinate"),
                      ncfile));
    CHECK_ST(put_text(ncid, *var, "long_name",
                      geo ? (is_x ? "longitude" : "latitude")
                          : (is_x ? "x coordinate of projection" : "y coordinate of projection"),
                      ncfile));
    CHECK_ST(put_text(ncid, *var, "units", geo ? (is_x ? "degrees_east" : "degrees_north") : "m", ncfile));
    CHECK_ST(put_text(ncid, *var, "axis", is_x ? "X" : "Y", ncfile));
out:
    return st;
}

cc_status cc_cube_define(const cc_cube_write_args *a, OGRSpatialReferenceH srs, const char *wkt,
                        const old_cube *o, const int *map, new_cube *n, const char *ncfile)
{
    cc_status st = CC_OK;
    int ncid = n->ncid, tdim, ydim, xdim, geo = OSRIsGeographic(srs);
    int dims[3];
    size_t chunk[3] = {1, (size_t)(a->height < CUBE_CHUNK ? a->height : CUBE_CHUNK),
                       (size_t)(a->width < CUBE_CHUNK ? a->width : CUBE_CHUNK)};

    NC(nc_def_dim(ncid, "time", NC_UNLIMITED, &tdim));
    NC(nc_def_dim(ncid, "y", (size_t)a->height, &ydim));
    NC(nc_def_dim(ncid, "x", (size_t)a->width, &xdim));
    dims[0] = tdim;
    dims[1] = ydim;
    dims[2] = xdim;

    NC(nc_def_var(ncid, "time", NC_DOUBLE, 1, &tdim, &n->tvar));
    CHECK_ST(put_text(ncid, n->tvar, "standard_name", "time", ncfile));
    CHECK_ST(put_text(ncid, n->tvar, "long_name", "time", ncfile));
    CHECK_ST(put_text(ncid, n->tvar, "units", CC_DATE_CF_UNITS, ncfile));
    CHECK_ST(put_text(ncid, n->tvar, "calendar", "standard", ncfile));
    CHECK_ST(put_text(ncid, n->tvar, "axis", "T", ncfile));

    CHECK_ST(def_axis(ncid, ydim, 0, geo, &n->yvar, ncfile));
    CHECK_ST(def_axis(ncid, xdim, 1, geo, &n->xvar, ncfile));

    NC(nc_def_var(ncid, CUBE_GRID_MAPPING, NC_INT, 0, NULL, &n->crsvar));
    CHECK_ST(put_grid_mapping(ncid, n->crsvar, srs, wkt, a->gt, ncfile));

    for (int i = 0; i < a->nlayers; i++) {
        const cc_cube_layer *L = &a->layers[o ? map[i] : i];
        int v;
        NC(nc_def_var(ncid, L->name, L->nflags > 0 ? NC_UBYTE : NC_USHORT, 3, dims, &v));
        NC(nc_def_var_chunking(ncid, v, NC_CHUNKED, chunk));
        NC(nc_def_var_deflate(ncid, v, 1, 1, a->deflate_level > 0 ? a->deflate_level : CUBE_DEFLATE_LEVEL));
        CHECK_ST(cc_cube_put_int_atts(ncid, v, L, ncfile));
        if (o) { /* keep extra attributes of the existing variable */
            int natts;
            char name[NC_MAX_NAME + 1];
            NC(nc_inq_varnatts(o->ncid, o->varids[i], &natts));
            for (int k = 0; k < natts; k++) {
                NC(nc_inq_attname(o->ncid, o->varids[i], k, name));
                if (strcmp(name, "_FillValue") != 0)
                    NC(nc_copy_att(o->ncid, o->varids[i], name, ncid, v));
            }
        }
        if (L->nflags <= 0) {
            CHECK_ST(put_double(ncid, v, "scale_factor", L->scale_factor, ncfile));
            CHECK_ST(put_double(ncid, v, "add_offset", L->add_offset, ncfile));
            CHECK_ST(put_text(ncid, v, "units", L->units ? L->units : "1", ncfile));
        }
        CHECK_ST(put_text(ncid, v, "long_name", L->long_name ? L->long_name : L->name, ncfile));
        CHECK_ST(put_text(ncid, v, "standard_name", L->standard_name, ncfile));
        if (L->wavelength_nm > 0) {
            CHECK_ST(put_double(ncid, v, "wavelength", L->wavelength_nm, ncfile));
            CHECK_ST(put_text(ncid, v, "wavelength_units", "nm", ncfile));
        }
        CHECK_ST(put_text(ncid, v, "grid_mapping", CUBE_GRID_MAPPING, ncfile));
        n->lvar[i] = v;
    }
    CHECK_ST(define_global_atts(a, o, ncid, ncfile));
    NC(nc_enddef(ncid));
out:
    return st;
}

cc_status cc_cube_write_coords(const cc_cube_write_args *a, const new_cube *n, const double *days, size_t ndays,
                              const char *ncfile)
{
    cc_status st = CC_OK;
    size_t start = 0;
    double *xs = cc_malloc3((size_t)a->width, sizeof *xs, 1);
    double *ys = cc_malloc3((size_t)a->height, sizeof *ys, 1);
    if (!xs || !ys) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory for coordinates", ncfile);
        goto out;
    }
    /* cell centres */
    for (int i = 0; i < a->width; i++)
        xs[i] = a->gt[0] + (i + 0.5) * a->gt[1];
    for (int j = 0; j < a->height; j++)
        ys[j] = a->gt[3] + (j + 0.5) * a->gt[5];
    NC(nc_put_var_double(n->ncid, n->xvar, xs));
    NC(nc_put_var_double(n->ncid, n->yvar, ys));
    NC(nc_put_vara_double(n->ncid, n->tvar, &start, &ndays, days));
out:
    free(xs);
    free(ys);
    return st;
}
