/* clearcube: openEO/xarray-style NetCDF time series (io/netcdf/ncseries.h). */
#define _POSIX_C_SOURCE 200809L

#include "io/netcdf/ncseries.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <netcdf.h>
#include <ogr_srs_api.h>

#include "core/alloc.h"
#include "core/date.h"

char *cc_ncs_text_att(int ncid, int varid, const char *name)
{
    size_t len = 0;
    nc_type ty;
    if (nc_inq_att(ncid, varid, name, &ty, &len) != NC_NOERR)
        return NULL;
    if (ty == NC_CHAR) {
        char *s = malloc(len + 1);
        if (s && nc_get_att_text(ncid, varid, name, s) == NC_NOERR) {
            s[len] = 0;
            return s;
        }
        free(s);
        return NULL;
    }
    if (ty != NC_STRING || len < 1)
        return NULL;
    char **v = calloc(len, sizeof *v);
    char *s = NULL;
    if (v && nc_get_att_string(ncid, varid, name, v) == NC_NOERR) {
        s = v[0] ? strdup(v[0]) : NULL;
        nc_free_string(len, v);
    }
    free(v);
    return s;
}

static int is_time_name(const char *n)
{
    return !strcasecmp(n, "t") || !strcasecmp(n, "time") || !strcasecmp(n, "timestamp");
}

/* The dimension ids of time, y and x; -1 where absent. */
static void find_dims(int ncid, int *td, int *yd, int *xd)
{
    int nd = 0;
    *td = *yd = *xd = -1;
    nc_inq_ndims(ncid, &nd);
    for (int d = 0; d < nd; d++) {
        char n[NC_MAX_NAME + 1];
        if (nc_inq_dimname(ncid, d, n) != NC_NOERR)
            continue;
        if (is_time_name(n) && *td < 0)
            *td = d;
        else if (!strcmp(n, "y"))
            *yd = d;
        else if (!strcmp(n, "x"))
            *xd = d;
    }
}

/* Seconds per unit of a CF time unit word; 0 if unknown. */
static double unit_seconds(const char *u, size_t n)
{
    static const struct { const char *name; double s; } units[] = {
        {"seconds", 1},  {"second", 1},   {"secs", 1},  {"sec", 1},       {"s", 1},
        {"minutes", 60}, {"minute", 60},  {"mins", 60}, {"min", 60},      {"hours", 3600},
        {"hour", 3600},  {"hrs", 3600},   {"h", 3600},  {"days", 86400},  {"day", 86400},
        {"d", 86400},    {"milliseconds", 1e-3}, {"microseconds", 1e-6}};
    for (size_t i = 0; i < sizeof units / sizeof *units; i++)
        if (strlen(units[i].name) == n && !strncasecmp(u, units[i].name, n))
            return units[i].s;
    return 0;
}

/* An ISO date or date-time ("2017-08-04", "2017-08-04 10:53:28",
 * "2017-08-04T10:53:28.5Z") -> seconds since the epoch; 0 on failure. */
static int parse_datetime(const char *s, double *epoch)
{
    char buf[64];
    while (*s == ' ')
        s++;
    snprintf(buf, sizeof buf, "%s", s);
    if (strlen(buf) > 11 && buf[10] == ' ' && isdigit((unsigned char)buf[11]))
        buf[10] = 'T';
    cc_datetime dt;
    const char *end = cc_date_scan_datetime(buf, 0, &dt);
    if (!end)
        return 0;
    while (*end == ' ')
        end++;
    /* a zone of +00:00 / UTC / nothing: anything else is not UTC */
    if (*end && strcmp(end, "+00:00") && strcmp(end, "+0000") && strcasecmp(end, "UTC") && strcmp(end, "00:00") &&
        strcmp(end, "+00"))
        return 0;
    *epoch = cc_datetime_epoch(&dt);
    return 1;
}

/* Numeric times with CF units. */
static cc_status read_numeric_times(cc_ncs *s, int var, const char *tname)
{
    char *units = cc_ncs_text_att(s->ncid, var, "units");
    char *cal = cc_ncs_text_att(s->ncid, var, "calendar");
    cc_status st = CC_OK;
    const char *since = units ? strstr(units, " since ") : NULL;
    double base = 0, mult = 0;
    if (!since || !(mult = unit_seconds(units, (size_t)(since - units))) || !parse_datetime(since + 7, &base)) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: time coordinate %s: units \"%s\" are not CF time units (e.g. \"days "
                          "since 1990-01-01\")", s->path, tname, units ? units : "(none)");
        goto out;
    }
    if (cal && strcasecmp(cal, "standard") && strcasecmp(cal, "gregorian") && strcasecmp(cal, "proleptic_gregorian")) {
        st = cc_error_set(CC_ERR_UNSUPPORTED, "%s: time coordinate %s: calendar \"%s\" is not supported (standard, "
                          "gregorian or proleptic_gregorian)", s->path, tname, cal);
        goto out;
    }
    if (nc_get_var_double(s->ncid, var, s->epoch_s) != NC_NOERR) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: cannot read the time coordinate %s", s->path, tname);
        goto out;
    }
    for (int t = 0; t < s->ntimes; t++)
        s->epoch_s[t] = base + s->epoch_s[t] * mult;
out:
    free(units);
    free(cal);
    return st;
}

/* Date strings: NC_STRING [t] or NC_CHAR [t][n]. */
static cc_status read_string_times(cc_ncs *s, int var, nc_type ty, const char *tname)
{
    cc_status st = CC_OK;
    char **v = NULL, *chars = NULL;
    size_t n = 0;
    if (ty == NC_STRING) {
        if (!(v = calloc((size_t)s->ntimes, sizeof *v)) || nc_get_var_string(s->ncid, var, v) != NC_NOERR) {
            free(v);
            return cc_error_set(CC_ERR_FORMAT, "%s: cannot read the time coordinate %s", s->path, tname);
        }
    } else {
        int dims[2];
        nc_inq_vardimid(s->ncid, var, dims);
        nc_inq_dimlen(s->ncid, dims[1], &n);
        if (!(chars = cc_malloc3((size_t)s->ntimes, n + 1, 1)) || nc_get_var_text(s->ncid, var, chars) != NC_NOERR) {
            free(chars);
            return cc_error_set(CC_ERR_FORMAT, "%s: cannot read the time coordinate %s", s->path, tname);
        }
    }
    for (int t = 0; t < s->ntimes && st == CC_OK; t++) {
        char buf[128];
        if (v)
            snprintf(buf, sizeof buf, "%s", v[t] ? v[t] : "");
        else
            snprintf(buf, sizeof buf, "%.*s", (int)(n < sizeof buf ? n : sizeof buf - 1), chars + (size_t)t * n);
        if (!parse_datetime(buf, &s->epoch_s[t]))
            st = cc_error_set(CC_ERR_FORMAT, "%s: time coordinate %s[%d] = \"%s\" is not a date", s->path, tname, t,
                              buf);
    }
    if (v)
        nc_free_string((size_t)s->ntimes, v);
    free(v);
    free(chars);
    return st;
}

static cc_status read_times(cc_ncs *s, int td)
{
    char tname[NC_MAX_NAME + 1];
    size_t n = 0;
    int var, nd = 0, dims[NC_MAX_VAR_DIMS];
    nc_type ty;
    nc_inq_dim(s->ncid, td, tname, &n);
    if (n < 1 || n > 1000000)
        return cc_error_set(CC_ERR_FORMAT, "%s: the time dimension %s has %zu steps", s->path, tname, n);
    if (nc_inq_varid(s->ncid, tname, &var) != NC_NOERR || nc_inq_var(s->ncid, var, NULL, &ty, &nd, dims, NULL) ||
        nd < 1 || dims[0] != td)
        return cc_error_set(CC_ERR_FORMAT, "%s: no coordinate variable %s(%s) with the acquisition times", s->path,
                            tname, tname);
    s->ntimes = (int)n;
    if (!(s->epoch_s = calloc(n, sizeof *s->epoch_s)) || !(s->day = calloc(n, sizeof *s->day)))
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", s->path);
    cc_status st;
    if (ty == NC_STRING || (ty == NC_CHAR && nd == 2))
        st = read_string_times(s, var, ty, tname);
    else if (nd == 1 && ty != NC_CHAR)
        st = read_numeric_times(s, var, tname);
    else
        st = cc_error_set(CC_ERR_FORMAT, "%s: time coordinate %s is neither numbers nor date strings", s->path, tname);
    for (int t = 0; st == CC_OK && t < s->ntimes; t++) {
        if (!isfinite(s->epoch_s[t]) || fabs(s->epoch_s[t]) > 1e11)
            return cc_error_set(CC_ERR_FORMAT, "%s: time coordinate %s[%d] is not a valid time", s->path, tname, t);
        s->day[t] = (long)floor(s->epoch_s[t] / 86400.0);
    }
    return st;
}

/* Pixel centres of one axis -> origin and spacing. */
static cc_status read_axis(cc_ncs *s, const char *name, int dim, size_t *len, double *first, double *step)
{
    int var, nd = 0, dims[NC_MAX_VAR_DIMS];
    nc_inq_dimlen(s->ncid, dim, len);
    if (nc_inq_varid(s->ncid, name, &var) != NC_NOERR || nc_inq_var(s->ncid, var, NULL, NULL, &nd, dims, NULL) ||
        nd != 1 || dims[0] != dim)
        return cc_error_set(CC_ERR_FORMAT, "%s: no coordinate variable %s(%s) with the pixel centres", s->path, name,
                            name);
    if (*len < 2 || *len > 10000000)
        return cc_error_set(CC_ERR_FORMAT, "%s: %s has %zu pixels (at least 2 are needed for the spacing)", s->path,
                            name, *len);
    double *c = malloc(*len * sizeof *c);
    if (!c)
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", s->path);
    cc_status st = CC_OK;
    if (nc_get_var_double(s->ncid, var, c) != NC_NOERR)
        st = cc_error_set(CC_ERR_FORMAT, "%s: cannot read the coordinate %s", s->path, name);
    else {
        *first = c[0];
        *step = (c[*len - 1] - c[0]) / (double)(*len - 1);
        for (size_t i = 0; i < *len && st == CC_OK; i++)
            if (!isfinite(c[i]) || *step == 0 || fabs(c[i] - (c[0] + (double)i * *step)) > 1e-3 * fabs(*step))
                st = cc_error_set(CC_ERR_FORMAT, "%s: the %s coordinates are not regularly spaced pixel centres",
                                  s->path, name);
    }
    free(c);
    return st;
}

/* The WKT of a grid-mapping variable; NULL if it has none. */
static char *mapping_wkt(int ncid, int var)
{
    char *w = cc_ncs_text_att(ncid, var, "crs_wkt");
    return w ? w : cc_ncs_text_att(ncid, var, "spatial_ref");
}

static cc_status read_crs(cc_ncs *s)
{
    char *gm = NULL, *wkt = NULL;
    cc_status st = CC_OK;
    for (int v = 0; v < s->nvars && !gm; v++)
        gm = cc_ncs_text_att(s->ncid, s->vars[v].varid, "grid_mapping");
    if (gm) {
        gm[strcspn(gm, ": ")] = 0; /* the extended form "crs: x y" */
        int var;
        if (nc_inq_varid(s->ncid, gm, &var) != NC_NOERR)
            st = cc_error_set(CC_ERR_CRS, "%s: grid_mapping names the variable \"%s\", which is absent", s->path, gm);
        else if (!(wkt = mapping_wkt(s->ncid, var)))
            st = cc_error_set(CC_ERR_CRS, "%s: the grid mapping variable %s has no crs_wkt or spatial_ref (WKT)",
                              s->path, gm);
    } else {
        static const char *names[] = {"spatial_ref", "crs"};
        for (int i = 0; i < 2 && !wkt; i++) {
            int var;
            if (nc_inq_varid(s->ncid, names[i], &var) == NC_NOERR)
                wkt = mapping_wkt(s->ncid, var);
        }
        if (!wkt)
            st = cc_error_set(CC_ERR_CRS, "%s: no grid mapping: no band names one (CF grid_mapping) and there is no "
                              "spatial_ref or crs variable with a WKT", s->path);
    }
    if (st == CC_OK) {
        OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
        char *w = wkt;
        if (!srs || OSRImportFromWkt(srs, &w) != OGRERR_NONE)
            st = cc_error_set(CC_ERR_CRS, "%s: the grid mapping's WKT is not a coordinate reference system GDAL reads",
                              s->path);
        if (srs)
            OSRDestroySpatialReference(srs);
    }
    free(gm);
    if (st == CC_OK)
        s->wkt = wkt;
    else
        free(wkt);
    return st;
}

static void var_attrs(int ncid, cc_ncs_var *v)
{
    char *u = cc_ncs_text_att(ncid, v->varid, "_Unsigned");
    v->is_unsigned = v->type == NC_UBYTE || v->type == NC_USHORT || v->type == NC_UINT || v->type == NC_UINT64 ||
                     (u && !strcasecmp(u, "true"));
    free(u);
    v->scale = 1, v->offset = 0;
    v->has_scale = nc_get_att_double(ncid, v->varid, "scale_factor", &v->scale) == NC_NOERR;
    if (nc_get_att_double(ncid, v->varid, "add_offset", &v->offset) != NC_NOERR)
        v->offset = 0;
    v->has_fill = nc_get_att_double(ncid, v->varid, "_FillValue", &v->fill) == NC_NOERR ||
                  nc_get_att_double(ncid, v->varid, "missing_value", &v->fill) == NC_NOERR;
    if (v->has_fill && v->is_unsigned && v->fill < 0) /* a signed type read as unsigned */
        v->fill += v->type == NC_BYTE ? 256.0 : v->type == NC_SHORT ? 65536.0 : 4294967296.0;
    v->units = cc_ncs_text_att(ncid, v->varid, "units");
}

static const char *dim_name(int ncid, int d, char *buf)
{
    if (nc_inq_dimname(ncid, d, buf) != NC_NOERR)
        strcpy(buf, "?");
    return buf;
}

/* The (time, y, x) variables; a 3-D variable over these dimensions in another
 * order is an error. */
static cc_status find_vars(cc_ncs *s, int td, int yd, int xd)
{
    int nv = 0;
    nc_inq_nvars(s->ncid, &nv);
    if (!(s->vars = calloc((size_t)(nv > 0 ? nv : 1), sizeof *s->vars)))
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", s->path);
    for (int v = 0; v < nv; v++) {
        int nd = 0, dims[NC_MAX_VAR_DIMS];
        nc_type ty;
        char name[NC_MAX_NAME + 1];
        if (nc_inq_var(s->ncid, v, name, &ty, &nd, dims, NULL) != NC_NOERR || nd != 3)
            continue;
        int has_t = 0, has_y = 0, has_x = 0;
        for (int i = 0; i < 3; i++)
            has_t |= dims[i] == td, has_y |= dims[i] == yd, has_x |= dims[i] == xd;
        if (!(has_t && has_y && has_x))
            continue;
        if (dims[0] != td || dims[1] != yd || dims[2] != xd) {
            char a[NC_MAX_NAME + 1], b[NC_MAX_NAME + 1], c[NC_MAX_NAME + 1], tn[NC_MAX_NAME + 1];
            return cc_error_set(CC_ERR_FORMAT, "%s: variable %s has dimensions (%s, %s, %s); expected (%s, y, x)",
                                s->path, name, dim_name(s->ncid, dims[0], a), dim_name(s->ncid, dims[1], b),
                                dim_name(s->ncid, dims[2], c), dim_name(s->ncid, td, tn));
        }
        if (ty == NC_CHAR || ty == NC_STRING || ty >= NC_FIRSTUSERTYPEID)
            return cc_error_set(CC_ERR_FORMAT, "%s: variable %s is not numeric (type %d): it cannot be read as a band",
                                s->path, name, (int)ty);
        cc_ncs_var *o = &s->vars[s->nvars++];
        snprintf(o->name, sizeof o->name, "%s", name);
        o->varid = v;
        o->type = ty;
        var_attrs(s->ncid, o);
    }
    if (s->nvars == 0)
        return cc_error_set(CC_ERR_FORMAT, "%s: no variable with dimensions (time, y, x)", s->path);
    return CC_OK;
}

/* Reads every attribute of variable v (NC_GLOBAL too), as a reader would. */
static void probe_atts(int ncid, int v)
{
    int na = 0;
    if (nc_inq_varnatts(ncid, v, &na) != NC_NOERR)
        return;
    for (int a = 0; a < na && a < 4096; a++) {
        char name[NC_MAX_NAME + 1];
        nc_type t;
        size_t len = 0, sz = 0;
        if (nc_inq_attname(ncid, v, a, name) != NC_NOERR || nc_inq_att(ncid, v, name, &t, &len) != NC_NOERR)
            continue;
        if (t == NC_STRING && len < (1u << 16)) {
            char **ss = calloc(len ? len : 1, sizeof *ss);
            if (ss && nc_get_att_string(ncid, v, name, ss) == NC_NOERR)
                nc_free_string(len, ss);
            free(ss);
        } else if (t != NC_STRING && nc_inq_type(ncid, t, NULL, &sz) == NC_NOERR && sz && len < (1u << 24) / sz) {
            void *b = malloc(len * sz + 1);
            if (b)
                nc_get_att(ncid, v, name, b);
            free(b);
        }
    }
}

/* HDF5 1.10.8 (under NetCDF-4) crashes on some corrupt files while reading
 * their metadata (a SEGV in H5HG_read reading a variable-length attribute,
 * found by tests/fuzz/fuzz_ncseries). A file that takes input from outside
 * is therefore read once in a child process first: every dimension,
 * variable and attribute, as the reader will. Returns the signal (or
 * sanitizer exit status) the child died of, 0 when it finished (an ordinary
 * NetCDF error included: the reader reports it) or could not be started. */
static int probe_metadata(const char *path)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return 0;
    if (pid == 0) {
        /* a crash here ends only this child, quietly (no sanitizer or fuzzer handler) */
        static const int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
        for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++)
            signal(fatal[i], SIG_DFL);
        int ncid, nv = 0;
        if (nc_open(path, NC_NOWRITE, &ncid) == NC_NOERR) {
            probe_atts(ncid, NC_GLOBAL);
            nc_inq_nvars(ncid, &nv);
            for (int v = 0; v < nv && v < 4096; v++) {
                int nd = 0, dims[NC_MAX_VAR_DIMS];
                nc_type ty;
                char name[NC_MAX_NAME + 1];
                if (nc_inq_var(ncid, v, name, &ty, &nd, dims, NULL) == NC_NOERR)
                    probe_atts(ncid, v);
            }
            nc_close(ncid);
        }
        _exit(0);
    }
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0)
        if (errno != EINTR)
            return 0;
    if (WIFSIGNALED(ws))
        return WTERMSIG(ws);
    return WIFEXITED(ws) && WEXITSTATUS(ws) != 0 ? 128 + WEXITSTATUS(ws) : 0;
}

cc_status cc_ncs_open(const char *path, cc_ncs **out)
{
    *out = NULL;
    int crash = probe_metadata(path);
    if (crash)
        return cc_error_set(CC_ERR_FORMAT,
                            "%s: the NetCDF/HDF5 library crashed reading its metadata (%s %d): a corrupt or "
                            "hostile file, refused",
                            path, crash > 128 ? "exit" : "signal", crash > 128 ? crash - 128 : crash);

    cc_ncs *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
    }
    s->ncid = -1;
    cc_status st;
    int rc = nc_open(path, NC_NOWRITE, &s->ncid);
    if (rc != NC_NOERR) {
        s->ncid = -1;
        st = cc_error_set(CC_ERR_IO, "%s: cannot open it as NetCDF: %s", path, nc_strerror(rc));
        goto out;
    }
    int td, yd, xd;
    find_dims(s->ncid, &td, &yd, &xd);
    if (td < 0 || yd < 0 || xd < 0) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: needs dimensions t/time/timestamp, y and x (missing: %s%s%s)", path,
                          td < 0 ? "time " : "", yd < 0 ? "y " : "", xd < 0 ? "x" : "");
        goto out;
    }
    if ((st = find_vars(s, td, yd, xd)) != CC_OK || (st = read_times(s, td)) != CC_OK)
        goto out;
    size_t w, h;
    double x0, dx, y0, dy;
    if ((st = read_axis(s, "x", xd, &w, &x0, &dx)) != CC_OK || (st = read_axis(s, "y", yd, &h, &y0, &dy)) != CC_OK)
        goto out;
    if (dx < 0) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: x decreases from column to column (east to west is not supported)", path);
        goto out;
    }
    s->width = (int)w, s->height = (int)h;
    s->y_ascending = dy > 0;
    const double north = s->y_ascending ? y0 + dy * (double)(h - 1) : y0;
    s->gt[0] = x0 - dx / 2, s->gt[1] = dx, s->gt[2] = 0;
    s->gt[3] = north + fabs(dy) / 2, s->gt[4] = 0, s->gt[5] = -fabs(dy);
    st = read_crs(s);
out:
    if (st != CC_OK)
        cc_ncs_close(s);
    else
        *out = s;
    return st;
}

void cc_ncs_close(cc_ncs *s)
{
    if (!s)
        return;
    if (s->ncid >= 0)
        nc_close(s->ncid);
    for (int v = 0; v < s->nvars; v++)
        free(s->vars[v].units);
    free(s->vars);
    free(s->epoch_s);
    free(s->day);
    free(s->wkt);
    free(s->path);
    free(s);
}

int cc_ncs_find(const cc_ncs *s, const char *name)
{
    for (int v = 0; v < s->nvars; v++)
        if (!strcasecmp(s->vars[v].name, name))
            return v;
    return -1;
}

/* Reads the raw slice as double, signed types flagged _Unsigned as unsigned. */
static int get_raw(const cc_ncs *s, const cc_ncs_var *v, const size_t *start, const size_t *count, double *raw,
                   size_t n)
{
    void *tmp = NULL;
    int rc;
    if (v->is_unsigned && (v->type == NC_BYTE || v->type == NC_SHORT || v->type == NC_INT)) {
        const size_t sz = v->type == NC_BYTE ? 1 : v->type == NC_SHORT ? 2 : 4;
        if (!(tmp = cc_malloc3(n, sz, 1)))
            return NC_ENOMEM;
        rc = nc_get_vara(s->ncid, v->varid, start, count, tmp);
        for (size_t i = 0; rc == NC_NOERR && i < n; i++)
            raw[i] = sz == 1 ? ((uint8_t *)tmp)[i] : sz == 2 ? ((uint16_t *)tmp)[i] : ((uint32_t *)tmp)[i];
        free(tmp);
        return rc;
    }
    return nc_get_vara_double(s->ncid, v->varid, start, count, raw);
}

cc_status cc_ncs_read(const cc_ncs *s, int vi, int t, float *out)
{
    if (vi < 0 || vi >= s->nvars || t < 0 || t >= s->ntimes)
        return cc_error_set(CC_ERR_ARG, "%s: variable %d / time %d out of range", s->path, vi, t);
    const cc_ncs_var *v = &s->vars[vi];
    const size_t w = (size_t)s->width, h = (size_t)s->height, n = w * h;
    const size_t start[3] = {(size_t)t, 0, 0}, count[3] = {1, h, w};
    double *raw = cc_malloc3(n, 1, sizeof *raw);
    if (!raw)
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory for %s", s->path, v->name);
    int rc = get_raw(s, v, start, count, raw, n);
    if (rc != NC_NOERR) {
        free(raw);
        char date[CC_DATE_ISO_SIZE];
        cc_date_format(s->day[t], date);
        return cc_error_set(CC_ERR_FORMAT, "%s: cannot read variable %s at time %d (%s): %s", s->path, v->name, t,
                            date, nc_strerror(rc));
    }
    double lo = -INFINITY, hi = INFINITY, r[2];
    if (nc_get_att_double(s->ncid, v->varid, "valid_range", r) == NC_NOERR)
        lo = r[0], hi = r[1];
    nc_get_att_double(s->ncid, v->varid, "valid_min", &lo);
    nc_get_att_double(s->ncid, v->varid, "valid_max", &hi);
    for (size_t row = 0; row < h; row++) {
        const double *src = raw + (s->y_ascending ? h - 1 - row : row) * w;
        float *dst = out + row * w;
        for (size_t c = 0; c < w; c++) {
            const double x = src[c];
            dst[c] = (isnan(x) || (v->has_fill && x == v->fill) || x < lo || x > hi) ? NAN
                                                                                        : (float)(x * v->scale + v->offset);
        }
    }
    free(raw);
    return CC_OK;
}
