/* clearcube: CF-1.8 NetCDF-4 datacube writer (docs/formats/cube.md).
 *
 * cc_cube_write never touches an existing cube in place: the new state (all
 * existing time slices plus the new one, in date order) goes to
 * "<path>.tmp-<pid>", which is fsync'd and rename()d over <path>, after which
 * the directory is fsync'd (core/fs.h). Serial NetCDF-C API; not thread-safe
 * (NetCDF-C is not), and one writer per cube at a time. */
#define _POSIX_C_SOURCE 200809L

#include "io/cube.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <netcdf.h>
#include <cpl_conv.h>
#include <ogr_srs_api.h>

#include "core/alloc.h"
#include "core/date.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/version.h"

#define CUBE_CHUNK 512
#define CUBE_DEFLATE_LEVEL 4
#define CUBE_GRID_MAPPING "spatial_ref"

/* ---- error helpers ----------------------------------------------------- */

static cc_status nc_status_of(int rc)
{
    if (rc == NC_ENOMEM)
        return CC_ERR_NOMEM;
    if (rc == NC_ENOTNC || rc == NC_ENOTVAR || rc == NC_ENOTATT || rc == NC_EBADDIM ||
        rc == NC_EBADTYPE || rc == NC_ECHAR || rc == NC_ETRUNC || rc == NC_EHDFERR)
        return CC_ERR_FORMAT;
    return CC_ERR_IO;
}

/* Records "<file>: <nc function>: <nc_strerror>" and returns the status. */
static cc_status nc_fail(const char *file, const char *call, int rc)
{
    int n = 0;
    while (call[n] && call[n] != '(' && n < 64)
        n++;
    return cc_error_set(nc_status_of(rc), "%s: %.*s: %s", file, n, call, nc_strerror(rc));
}

/* Every nc_* call goes through this; needs `cc_status st`, `const char
 * *ncfile` and an `out:` label in scope. */
#define NC(call)                                                                    \
    do {                                                                            \
        int nc_rc_ = (call);                                                        \
        if (nc_rc_ != NC_NOERR) {                                                   \
            st = nc_fail(ncfile, #call, nc_rc_);                                    \
            goto out;                                                               \
        }                                                                           \
    } while (0)

#define CHECK_ST(expr)                                                              \
    do {                                                                            \
        st = (expr);                                                                \
        if (st != CC_OK)                                                            \
            goto out;                                                               \
    } while (0)

/* ---- small utilities --------------------------------------------------- */

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

/* Heap-allocated printf. NULL (and CC_ERR_NOMEM set) on failure. */
static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
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
static cc_status get_text_att(int ncid, int varid, const char *name, const char *ncfile,
                              char **out)
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

static OGRSpatialReferenceH srs_from_wkt(const char *wkt)
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

/* ---- the existing cube -------------------------------------------------- */

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

    CHECK_ST(get_text_att(o->ncid, crsvar, "crs_wkt", ncfile, &o->wkt));
    if (!o->wkt)
        CHECK_ST(get_text_att(o->ncid, crsvar, "spatial_ref", ncfile, &o->wkt));
    CHECK_ST(get_text_att(o->ncid, crsvar, "GeoTransform", ncfile, &gts));
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
        if (t != NC_USHORT) {
            st = cc_error_set(CC_ERR_FORMAT, "%s: layer %s is not uint16", ncfile,
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
    osrs = srs_from_wkt(o->wkt);
    if (strcmp(o->wkt, a->wkt) != 0 && (!osrs || !OSRIsSame(osrs, srs))) {
        const char *nn = OSRGetName(srs), *on = osrs ? OSRGetName(osrs) : NULL;
        st = cc_error_set(CC_ERR_ARG, "%s: CRS \"%s\" differs from the cube's \"%s\"", a->path,
                          nn ? nn : "?", on ? on : "?");
        goto out;
    }
    const char *ids[2][2] = {{"tile_id", a->tile_id}, {"product", a->product}};
    for (int i = 0; i < 2; i++) {
        char *have = NULL;
        CHECK_ST(get_text_att(o->ncid, NC_GLOBAL, ids[i][0], a->path, &have));
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

/* need_data: 0 for the streaming writer (layers carry no pixels). */
static cc_status check_args(const cc_cube_write_args *a, int need_data)
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
        for (int j = 0; j < i; j++)
            if (strcmp(L->name, a->layers[j].name) == 0)
                return cc_error_set(CC_ERR_ARG, "%s: duplicate layer %s", a->path, L->name);
    }
    return CC_OK;
}

/* ---- writing the new state ---------------------------------------------- */

typedef struct {
    int ncid;
    int tvar, yvar, xvar, crsvar;
    int *lvar; /* per output layer */
} new_cube;

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
        CHECK_ST(get_text_att(o->ncid, NC_GLOBAL, "history", a->path, &old_hist));
        CHECK_ST(get_text_att(o->ncid, NC_GLOBAL, "date_created", a->path, &created));
    }
    title = xasprintf("clearcube %s datacube, tile %s", a->product ? a->product : "",
                      a->tile_id ? a->tile_id : "");
    char what[64];
    if (a->ndates > 1) {
        char first[CC_DATE_ISO_SIZE], last[CC_DATE_ISO_SIZE];
        cc_date_format(a->dates[0], first);
        cc_date_format(a->dates[a->ndates - 1], last);
        snprintf(what, sizeof what, "%d dates %s..%s", a->ndates, first, last);
    } else
        snprintf(what, sizeof what, "%04d-%02d-%02d", a->year, a->month, a->day);
    line = xasprintf("%s: clearcube %s wrote %s (%s)%s%s%s%s", now, CC_VERSION,
                     what, a->processor ? a->processor : "cc_cube_write",
                     a->inputs ? " from " : "", a->inputs ? a->inputs : "",
                     a->parameters ? "; " : "", a->parameters ? a->parameters : "");
    if (!title || !line) {
        st = CC_ERR_NOMEM;
        goto out;
    }
    hist = old_hist && *old_hist ? xasprintf("%s\n%s", old_hist, line) : xstrdup(line);
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

static cc_status define_cube(const cc_cube_write_args *a, OGRSpatialReferenceH srs,
                             const char *wkt, const old_cube *o, const int *map, new_cube *n,
                             const char *ncfile)
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

    NC(nc_def_var(ncid, "y", NC_DOUBLE, 1, &ydim, &n->yvar));
    CHECK_ST(put_text(ncid, n->yvar, "standard_name",
                      geo ? "latitude" : "projection_y_coordinate", ncfile));
    CHECK_ST(put_text(ncid, n->yvar, "long_name",
                      geo ? "latitude" : "y coordinate of projection", ncfile));
    CHECK_ST(put_text(ncid, n->yvar, "units", geo ? "degrees_north" : "m", ncfile));
    CHECK_ST(put_text(ncid, n->yvar, "axis", "Y", ncfile));

    NC(nc_def_var(ncid, "x", NC_DOUBLE, 1, &xdim, &n->xvar));
    CHECK_ST(put_text(ncid, n->xvar, "standard_name",
                      geo ? "longitude" : "projection_x_coordinate", ncfile));
    CHECK_ST(put_text(ncid, n->xvar, "long_name",
                      geo ? "longitude" : "x coordinate of projection", ncfile));
    CHECK_ST(put_text(ncid, n->xvar, "units", geo ? "degrees_east" : "m", ncfile));
    CHECK_ST(put_text(ncid, n->xvar, "axis", "X", ncfile));

    NC(nc_def_var(ncid, CUBE_GRID_MAPPING, NC_INT, 0, NULL, &n->crsvar));
    CHECK_ST(put_grid_mapping(ncid, n->crsvar, srs, wkt, a->gt, ncfile));

    for (int i = 0; i < a->nlayers; i++) {
        const cc_cube_layer *L = &a->layers[o ? map[i] : i];
        int v;
        unsigned short fv = L->fill_value;
        NC(nc_def_var(ncid, L->name, NC_USHORT, 3, dims, &v));
        NC(nc_def_var_chunking(ncid, v, NC_CHUNKED, chunk));
        NC(nc_def_var_deflate(ncid, v, 1, 1, a->deflate_level > 0 ? a->deflate_level : CUBE_DEFLATE_LEVEL));
        NC(nc_put_att_ushort(ncid, v, "_FillValue", NC_USHORT, 1, &fv));
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
        CHECK_ST(put_double(ncid, v, "scale_factor", L->scale_factor, ncfile));
        CHECK_ST(put_double(ncid, v, "add_offset", L->add_offset, ncfile));
        CHECK_ST(put_text(ncid, v, "units", L->units ? L->units : "1", ncfile));
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
            st = cc_error_set(nc_status_of(rc), "%s: reading layer %s: %s", oldfile,
                              o->names[i], nc_strerror(rc));
            goto out;
        }
        NC(nc_put_vara_ushort(n->ncid, n->lvar[i], ws, cnt, buf));
    }
out:
    return st;
}

static cc_status write_coords(const cc_cube_write_args *a, const new_cube *n,
                              const double *days, size_t ndays, const char *ncfile)
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

long cc_cube_days_from_date(int year, int month, int day) { return cc_date_to_days(year, month, day); }

void cc_cube_date_from_days(long days, int *year, int *month, int *day)
{
    cc_date_from_days(days, year, month, day);
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

    CHECK_ST(check_args(a, 1));
    srs = srs_from_wkt(a->wkt);
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
    if (stat(a->path, &sb) == 0) {
        have_old = 1;
        CHECK_ST(old_cube_open(a->path, &o));
        CHECK_ST(check_compatible(a, srs, &o, map));
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
    CHECK_ST(define_cube(a, srs, wkt, have_old ? &o : NULL, map, &n, ncfile));
    CHECK_ST(write_coords(a, &n, days, nnew, ncfile));

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
    {
        int ncid = n.ncid;
        n.ncid = -1;
        NC(nc_close(ncid));
    }
    if (have_old) {
        if (chmod(tmp, sb.st_mode & 07777) != 0) /* keep the cube's permissions */
            cc_warn("%s: cannot copy permissions: %s", tmp, strerror(errno));
        old_cube_free(&o);
        have_old = 0;
    }
    tmp_created = 0; /* after the commit it is the cube, or removed */
    CHECK_ST(cc_fs_commit(tmp, a->path));
out:
    if (n.ncid >= 0)
        nc_abort(n.ncid);
    if (tmp_created)
        cc_fs_abort(tmp);
    if (have_old)
        old_cube_free(&o);
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

/* ---- streaming writer --------------------------------------------------- */

struct cc_cube_stream {
    char *path;                /* the cube                                  */
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
    if (s->n.ncid >= 0)
        nc_abort(s->n.ncid);
    cc_fs_abort(s->tmp);
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
    CHECK_ST(check_args(a, 0));
    srs = srs_from_wkt(a->wkt);
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
    s->path = xstrdup(a->path);
    s->n.lvar = malloc((size_t)a->nlayers * sizeof *s->n.lvar);
    if (!s->path || !s->n.lvar) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", a->path);
        goto out;
    }
    ncfile = s->tmp;
    NC(nc_create(s->tmp, NC_NETCDF4 | NC_CLOBBER, &s->n.ncid));
    CHECK_ST(define_cube(a, srs, wkt, NULL, NULL, &s->n, ncfile));
    double day = (double)cc_date_to_days(a->year, a->month, a->day);
    CHECK_ST(write_coords(a, &s->n, &day, 1, ncfile));
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
    {
        int ncid = s->n.ncid;
        s->n.ncid = -1;
        NC(nc_close(ncid));
    }
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
