/* clearcube: Sentinel-3 OLCI Level-1 reader (see io/s3/olci.h, docs/formats/olci.md). */
#define _POSIX_C_SOURCE 200809L

#include "io/s3/olci.h"

#include <ctype.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cpl_conv.h>
#include <cpl_string.h>
#include <cpl_vsi.h>
#include <gdal.h>
#include <gdal_utils.h>
#include <netcdf.h>
#include <ogr_srs_api.h>

#include "core/alloc.h"
#include "core/date.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* OLCI band of each distinct source band, and the source band of each
 * Cloudless band (-1: none). */
static const int olci_bands[CC_OLCI_NMAPPED] = {4, 6, 8, 11, 12, 16, 17};
static const int cl_src[CC_CL_NBANDS] = {0, 1, 2, 3, 4, 5, 6, 6, -1, -1};

int cc_olci_band_for(int b)
{
    if (b < 0 || b >= CC_CL_NBANDS || cl_src[b] < 0)
        return 0;
    return olci_bands[cl_src[b]];
}

void cc_olci_swath_free(cc_olci_swath *s)
{
    if (!s)
        return;
    free(s->rho);
    free(s->lat);
    free(s->lon);
    memset(s, 0, sizeof *s);
}

/* ---- NetCDF helpers ---- */

static void nc_var_shape(int ncid, int varid, int *ndims, size_t *total, size_t *d0, size_t *d1);

static cc_status nc_open_file(const char *path, int *ncid)
{
    int rc = nc_open(path, NC_NOWRITE, ncid);
    if (rc != NC_NOERR) {
        struct stat st;
        if (stat(path, &st) != 0)
            return cc_error_set(CC_ERR_MISSING, "%s: file not found", path);
        return cc_error_set(CC_ERR_FORMAT, "%s: cannot open as NetCDF: %s", path, nc_strerror(rc));
    }
    /* A truncated classic/64-bit-offset file opens fine (its header is at
     * the start) and reads past the end as fill: compare the file size with
     * the bytes its variables need. */
    int fmt = 0, nvars = 0;
    struct stat st;
    if (nc_inq_format(*ncid, &fmt) == NC_NOERR &&
        (fmt == NC_FORMAT_CLASSIC || fmt == NC_FORMAT_64BIT_OFFSET || fmt == NC_FORMAT_CDF5) &&
        nc_inq_nvars(*ncid, &nvars) == NC_NOERR && stat(path, &st) == 0) {
        unsigned long long need = 0;
        for (int v = 0; v < nvars; v++) {
            int nd;
            size_t total, d0, d1, tsize = 0;
            nc_type t;
            nc_var_shape(*ncid, v, &nd, &total, &d0, &d1);
            if (nc_inq_vartype(*ncid, v, &t) == NC_NOERR &&
                nc_inq_type(*ncid, t, NULL, &tsize) == NC_NOERR)
                need += ((unsigned long long)total * tsize + 3) / 4 * 4;
        }
        if ((unsigned long long)st.st_size < need) {
            nc_close(*ncid);
            return cc_error_set(CC_ERR_FORMAT,
                                "%s: truncated NetCDF file (%lld bytes, its variables need %llu)",
                                path, (long long)st.st_size, need);
        }
    }
    return CC_OK;
}

/* Total size and (for 2-D variables) the shape of variable `varid`. */
static void nc_var_shape(int ncid, int varid, int *ndims, size_t *total, size_t *d0, size_t *d1)
{
    int dimids[NC_MAX_VAR_DIMS];
    *ndims = 0;
    *total = 1;
    *d0 = *d1 = 0;
    if (nc_inq_varndims(ncid, varid, ndims) != NC_NOERR || *ndims > NC_MAX_VAR_DIMS ||
        nc_inq_vardimid(ncid, varid, dimids) != NC_NOERR) {
        *total = 0;
        return;
    }
    for (int i = 0; i < *ndims; i++) {
        size_t len = 0;
        nc_inq_dimlen(ncid, dimids[i], &len);
        *total *= len;
        if (i == 0)
            *d0 = len;
        if (i == 1)
            *d1 = len;
    }
}

static int att_is_true(int ncid, int varid, const char *name)
{
    char buf[16] = {0};
    size_t len = 0;
    nc_type t;
    if (nc_inq_att(ncid, varid, name, &t, &len) != NC_NOERR || t != NC_CHAR || len >= sizeof buf)
        return 0;
    if (nc_get_att_text(ncid, varid, name, buf) != NC_NOERR)
        return 0;
    return strcmp(buf, "true") == 0;
}

/* Raw value i of a buffer of type t as double, honouring unsignedness. */
static double raw_value(const void *buf, size_t i, nc_type t, int uns)
{
    switch (t) {
    case NC_BYTE: return uns ? (double)((const uint8_t *)buf)[i] : (double)((const int8_t *)buf)[i];
    case NC_UBYTE: return (double)((const uint8_t *)buf)[i];
    case NC_SHORT: return uns ? (double)((const uint16_t *)buf)[i] : (double)((const int16_t *)buf)[i];
    case NC_USHORT: return (double)((const uint16_t *)buf)[i];
    case NC_INT: return uns ? (double)((const uint32_t *)buf)[i] : (double)((const int32_t *)buf)[i];
    case NC_UINT: return (double)((const uint32_t *)buf)[i];
    case NC_FLOAT: return (double)((const float *)buf)[i];
    case NC_DOUBLE: return ((const double *)buf)[i];
    default: return NAN;
    }
}

/* Reads numeric variable `name` of `file` (n values expected) as double:
 * _Unsigned, _FillValue (-> NaN), scale_factor and add_offset applied. */
static cc_status nc_read_scaled(int ncid, const char *file, const char *name, size_t n, double *out)
{
    cc_status st = CC_OK;
    void *raw = NULL;
    int varid, ndims;
    nc_type t;
    size_t total, d0, d1, tsize;
    if (nc_inq_varid(ncid, name, &varid) != NC_NOERR)
        return cc_error_set(CC_ERR_MISSING, "%s: no variable %s", file, name);
    nc_var_shape(ncid, varid, &ndims, &total, &d0, &d1);
    if (total != n) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: variable %s has %zu values, expected %zu", file, name,
                          total, n);
        goto out;
    }
    if (nc_inq_vartype(ncid, varid, &t) != NC_NOERR || t < NC_BYTE || t > NC_UINT || t == NC_CHAR ||
        t == NC_INT64 || t == NC_UINT64) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: variable %s is not numeric", file, name);
        goto out;
    }
    if (nc_inq_type(ncid, t, NULL, &tsize) != NC_NOERR) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: variable %s has an unknown type", file, name);
        goto out;
    }
    int uns = t == NC_UBYTE || t == NC_USHORT || t == NC_UINT || att_is_true(ncid, varid, "_Unsigned");
    raw = cc_malloc3(n ? n : 1, tsize, 1);
    if (!raw) {
        st = CC_ERR_NOMEM;
        goto out;
    }
    int rc = nc_get_var(ncid, varid, raw);
    if (rc != NC_NOERR) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: cannot read variable %s: %s", file, name, nc_strerror(rc));
        goto out;
    }
    double fill = NAN, scale = 1.0, offset = 0.0;
    int has_fill = 0;
    nc_type at;
    size_t alen;
    if (nc_inq_att(ncid, varid, "_FillValue", &at, &alen) == NC_NOERR && at == t && alen == 1) {
        unsigned char fb[8];
        if (nc_get_att(ncid, varid, "_FillValue", fb) == NC_NOERR) {
            fill = raw_value(fb, 0, t, uns);
            has_fill = 1;
        }
    }
    if (nc_inq_att(ncid, varid, "scale_factor", &at, &alen) == NC_NOERR)
        nc_get_att_double(ncid, varid, "scale_factor", &scale);
    if (nc_inq_att(ncid, varid, "add_offset", &at, &alen) == NC_NOERR)
        nc_get_att_double(ncid, varid, "add_offset", &offset);
    for (size_t i = 0; i < n; i++) {
        double v = raw_value(raw, i, t, uns);
        out[i] = (isnan(v) || (has_fill && v == fill)) ? NAN : v * scale + offset;
    }
out:
    free(raw);
    return st;
}

/* Shape (rows, columns) of 2-D variable `name`. */
static cc_status nc_var_2d(int ncid, const char *file, const char *name, int *h, int *w)
{
    int varid, ndims;
    size_t total, d0, d1;
    if (nc_inq_varid(ncid, name, &varid) != NC_NOERR)
        return cc_error_set(CC_ERR_MISSING, "%s: no variable %s", file, name);
    nc_var_shape(ncid, varid, &ndims, &total, &d0, &d1);
    if (ndims != 2)
        return cc_error_set(CC_ERR_FORMAT, "%s: variable %s has %d dimension(s), expected 2 (rows, columns)", file,
                            name, ndims);
    if (d0 == 0 || d1 == 0 || d0 > 1000000 || d1 > 1000000)
        return cc_error_set(CC_ERR_FORMAT, "%s: variable %s is not a 2-D raster (%zu x %zu)", file, name, d0, d1);
    *h = (int)d0;
    *w = (int)d1;
    return CC_OK;
}

/* A per-pixel variable: exactly 2-D with the swath's h x w shape (a variable
 * of another rank or shape with the same number of values is refused, never
 * reinterpreted), read as nc_read_scaled does. */
static cc_status nc_read_grid(int ncid, const char *file, const char *name, int h, int w, double *out)
{
    int vh = 0, vw = 0;
    cc_status st = nc_var_2d(ncid, file, name, &vh, &vw);
    if (st != CC_OK)
        return st;
    if (vh != h || vw != w)
        return cc_error_set(CC_ERR_FORMAT, "%s: variable %s is %d x %d, the swath is %d x %d", file, name, vh, vw,
                            h, w);
    return nc_read_scaled(ncid, file, name, (size_t)h * (size_t)w, out);
}

/* Text attribute (global when varid == NC_GLOBAL) into buf; 0 if absent. */
static int nc_att_text(int ncid, int varid, const char *name, char *buf, size_t cap)
{
    nc_type t;
    size_t len;
    if (nc_inq_att(ncid, varid, name, &t, &len) != NC_NOERR || t != NC_CHAR || len >= cap)
        return 0;
    if (nc_get_att_text(ncid, varid, name, buf) != NC_NOERR)
        return 0;
    buf[len] = '\0';
    return 1;
}

static int nc_att_double(int ncid, int varid, const char *name, double *v)
{
    nc_type t;
    size_t len;
    if (nc_inq_att(ncid, varid, name, &t, &len) != NC_NOERR || t == NC_CHAR || t == NC_STRING ||
        len != 1)
        return 0;
    return nc_get_att_double(ncid, varid, name, v) == NC_NOERR;
}

/* "2017-03-13T11:03:42.871103Z" (native) or "13-MAR-2017 11:03:42.871103"
 * (BEAM/SNAP). Returns 0 if the string is neither. */
static int parse_time(const char *s, long *day, double *sec)
{
    static const char *mon[12] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                  "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
    cc_datetime t;
    if (!cc_date_scan_datetime(s, 1, &t)) { /* not native: BEAM/SNAP */
        int y, m = 0, d, hh, mm;
        double ss;
        char ms[4] = {0};
        if (sscanf(s, "%2d-%3c-%4d %2d:%2d:%lf", &d, ms, &y, &hh, &mm, &ss) != 6)
            return 0;
        for (int i = 0; i < 3; i++)
            ms[i] = (char)toupper((unsigned char)ms[i]);
        for (int i = 0; i < 12; i++)
            if (strcmp(ms, mon[i]) == 0)
                m = i + 1;
        if (!cc_date_valid(y, m, d) || hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss >= 61)
            return 0;
        t = (cc_datetime){.year = y, .month = m, .day = d, .hour = hh, .minute = mm, .second = ss};
    }
    *day = cc_date_to_days(t.year, t.month, t.day);
    *sec = t.hour * 3600.0 + t.minute * 60.0 + t.second;
    return 1;
}

/* "S3A"/"S3B"/... from a product name or file/folder name (basename). */
static void platform_from_name(const char *name, char *out, size_t cap)
{
    const char *b = strrchr(name, '/');
    b = b ? b + 1 : name;
    out[0] = '\0';
    if (strncmp(b, "S3", 2) == 0 && isalpha((unsigned char)b[2]) && b[3] == '_' && cap >= 4) {
        memcpy(out, b, 3);
        out[3] = '\0';
    }
}

static void info_time(int ncid, cc_olci_info *info)
{
    char buf[128];
    if ((nc_att_text(ncid, NC_GLOBAL, "start_time", buf, sizeof buf) ||
         nc_att_text(ncid, NC_GLOBAL, "start_date", buf, sizeof buf)) &&
        parse_time(buf, &info->day, &info->seconds))
        return;
    info->day = 0;
    info->seconds = NAN;
}

/* ---- geometry and reflectance ---- */

/* Pixel coordinate f (in tie-point units) on an axis of n tie points: the
 * lower and upper tie point (*i0, *i1) and the weight of the upper one
 * (linear extrapolation at the ends; one tie point: weight 0). */
static void tie_axis(double f, int n, int *i0, int *i1, double *w)
{
    int i = n > 1 ? (int)floor(f) : 0;
    if (i > n - 2)
        i = n > 1 ? n - 2 : 0;
    if (i < 0)
        i = 0;
    *i0 = i;
    *i1 = n > 1 ? i + 1 : i;
    *w = n > 1 ? f - i : 0.0;
}

/* Bilinear interpolation of a tie-point grid (th x tw) to pixel centres
 * (BEAM/SNAP convention: tie point (i, j) sits at image coordinate
 * (ox + i*sx, oy + j*sy), pixel (x, y) at (x + 0.5, y + 0.5); linear
 * extrapolation beyond the outermost tie points). */
static void tie_interp(const double *tp, int tw, int th, double ox, double oy, double sx, double sy,
                       int w, int h, double *out)
{
    for (int y = 0; y < h; y++) {
        int j, j1;
        double wy;
        tie_axis((y + 0.5 - oy) / sy, th, &j, &j1, &wy);
        for (int x = 0; x < w; x++) {
            int i, i1;
            double wx;
            tie_axis((x + 0.5 - ox) / sx, tw, &i, &i1, &wx);
            double a = tp[(size_t)j * tw + i], b = tp[(size_t)j * tw + i1];
            double c = tp[(size_t)j1 * tw + i], d = tp[(size_t)j1 * tw + i1];
            out[(size_t)y * w + x] =
                (1 - wy) * ((1 - wx) * a + wx * b) + wy * ((1 - wx) * c + wx * d);
        }
    }
}

static float reflectance(double L, double f0, double cos_sza)
{
    if (isnan(L) || isnan(f0) || isnan(cos_sza) || f0 <= 0 || cos_sza <= 1e-6)
        return NAN;
    return (float)(M_PI * L / (f0 * cos_sza));
}

/* Working buffers of a load. */
typedef struct {
    const char *path;
    int w, h;
    size_t n;
    double *cos_sza; /* [n] */
    double *L, *f0;  /* [n] per band, reused */
    cc_olci_swath s;
} loader;

static cc_status loader_alloc(loader *ld)
{
    ld->n = (size_t)ld->w * (size_t)ld->h;
    ld->s.width = ld->w;
    ld->s.height = ld->h;
    ld->cos_sza = cc_malloc3(ld->n, sizeof(double), 1);
    ld->L = cc_malloc3(ld->n, sizeof(double), 1);
    ld->f0 = cc_malloc3(ld->n, sizeof(double), 1);
    ld->s.lat = cc_malloc3(ld->n, sizeof(double), 1);
    ld->s.lon = cc_malloc3(ld->n, sizeof(double), 1);
    ld->s.rho = cc_malloc3(ld->n, CC_CL_NBANDS, sizeof(float));
    if (!ld->cos_sza || !ld->L || !ld->f0 || !ld->s.lat || !ld->s.lon || !ld->s.rho)
        return CC_ERR_NOMEM;
    for (size_t i = 0; i < ld->n * CC_CL_NBANDS; i++)
        ld->s.rho[i] = NAN;
    return CC_OK;
}

static void loader_free(loader *ld)
{
    free(ld->cos_sza);
    free(ld->L);
    free(ld->f0);
    ld->cos_sza = ld->L = ld->f0 = NULL;
}

/* rho of source band k from ld->L, ld->f0, ld->cos_sza. */
static void loader_band(loader *ld, int k)
{
    for (size_t i = 0; i < ld->n; i++) {
        float r = reflectance(ld->L[i], ld->f0[i], ld->cos_sza[i]);
        for (int b = 0; b < CC_CL_NBANDS; b++)
            if (cl_src[b] == k)
                ld->s.rho[i * CC_CL_NBANDS + b] = r;
    }
}

/* cos(SZA) from variable `name` of `file`: per pixel, or on a tie-point grid
 * (offset/subsampling given; attribute-driven when attrs != 0). */
static cc_status load_sza(loader *ld, int ncid, const char *file, int attrs, double ox, double oy,
                          double sx, double sy)
{
    cc_status st;
    double *tp = NULL;
    int th, tw, varid;
    if ((st = nc_var_2d(ncid, file, "SZA", &th, &tw)) != CC_OK)
        return st;
    if (th == ld->h && tw == ld->w && attrs) {
        if ((st = nc_read_scaled(ncid, file, "SZA", ld->n, ld->cos_sza)) != CC_OK)
            return st;
    } else {
        nc_inq_varid(ncid, "SZA", &varid);
        if (attrs && !(nc_att_double(ncid, varid, "offset_x", &ox) &&
                       nc_att_double(ncid, varid, "offset_y", &oy) &&
                       nc_att_double(ncid, varid, "subsampling_x", &sx) &&
                       nc_att_double(ncid, varid, "subsampling_y", &sy)))
            return cc_error_set(CC_ERR_FORMAT,
                                "%s: SZA is a %dx%d tie-point grid without offset_x/offset_y/"
                                "subsampling_x/subsampling_y attributes",
                                file, th, tw);
        if (!(sx > 0 && sy > 0))
            return cc_error_set(CC_ERR_FORMAT, "%s: SZA tie-point subsampling must be positive", file);
        tp = cc_malloc3((size_t)th, (size_t)tw, sizeof(double));
        if (!tp)
            return CC_ERR_NOMEM;
        st = nc_read_scaled(ncid, file, "SZA", (size_t)th * tw, tp);
        if (st == CC_OK)
            tie_interp(tp, tw, th, ox, oy, sx, sy, ld->w, ld->h, ld->cos_sza);
        free(tp);
        if (st != CC_OK)
            return st;
    }
    for (size_t i = 0; i < ld->n; i++)
        ld->cos_sza[i] = cos(ld->cos_sza[i] * M_PI / 180.0);
    return CC_OK;
}

/* Single BEAM/SNAP NetCDF file. */
static cc_status load_snap(loader *ld, cc_olci_info *info)
{
    const char *f = ld->path;
    int ncid = -1;
    cc_status st = nc_open_file(f, &ncid);
    if (st != CC_OK)
        return st;
    char name[64];
    if ((st = nc_var_2d(ncid, f, "Oa04_radiance", &ld->h, &ld->w)) != CC_OK)
        goto out;
    if ((st = loader_alloc(ld)) != CC_OK)
        goto out;
    int v;
    /* DEM-corrected pixel geolocation first (as geo_coordinates.nc), the
     * tie-point lat/lon of SNAP exports otherwise */
    const char *latn = nc_inq_varid(ncid, "latitude", &v) == NC_NOERR ? "latitude" : "lat";
    const char *lonn = nc_inq_varid(ncid, "longitude", &v) == NC_NOERR ? "longitude" : "lon";
    if ((st = nc_read_grid(ncid, f, latn, ld->h, ld->w, ld->s.lat)) != CC_OK ||
        (st = nc_read_grid(ncid, f, lonn, ld->h, ld->w, ld->s.lon)) != CC_OK)
        goto out;
    if ((st = load_sza(ld, ncid, f, 1, 0, 0, 0, 0)) != CC_OK)
        goto out;
    for (int k = 0; k < CC_OLCI_NMAPPED; k++) {
        snprintf(name, sizeof name, "Oa%02d_radiance", olci_bands[k]);
        if ((st = nc_read_grid(ncid, f, name, ld->h, ld->w, ld->L)) != CC_OK)
            goto out;
        char fname[64];
        snprintf(fname, sizeof fname, "solar_flux_band_%d", olci_bands[k]);
        double f0;
        int rvar;
        nc_inq_varid(ncid, name, &rvar);
        if (nc_inq_varid(ncid, fname, &v) == NC_NOERR) {
            if ((st = nc_read_grid(ncid, f, fname, ld->h, ld->w, ld->f0)) != CC_OK)
                goto out;
        } else if (nc_att_double(ncid, rvar, "solar_flux", &f0)) {
            for (size_t i = 0; i < ld->n; i++)
                ld->f0[i] = f0;
        } else {
            st = cc_error_set(CC_ERR_MISSING,
                              "%s: no solar flux for Oa%02d (neither a %s variable nor a solar_flux "
                              "attribute on %s)",
                              f, olci_bands[k], fname, name);
            goto out;
        }
        loader_band(ld, k);
    }
    if (info) {
        info_time(ncid, info);
        platform_from_name(f, info->platform, sizeof info->platform);
    }
out:
    nc_close(ncid);
    return st;
}

/* Native .SEN3 folder. */
static cc_status load_sen3(loader *ld, cc_olci_info *info)
{
    char f[4096];
    int ncid = -1;
    cc_status st;
    double *flux = NULL, *det = NULL;
#define SEN3_FILE(name)                                                                            \
    do {                                                                                           \
        if (snprintf(f, sizeof f, "%s/%s", ld->path, name) >= (int)sizeof f) {                     \
            st = cc_error_set(CC_ERR_ARG, "%s: path too long", ld->path);                          \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)
#define CLOSE()                                                                                    \
    do {                                                                                           \
        if (ncid >= 0)                                                                             \
            nc_close(ncid);                                                                        \
        ncid = -1;                                                                                 \
    } while (0)

    /* geolocation gives the swath size */
    SEN3_FILE("geo_coordinates.nc");
    if ((st = nc_open_file(f, &ncid)) != CC_OK)
        goto out;
    if ((st = nc_var_2d(ncid, f, "latitude", &ld->h, &ld->w)) != CC_OK)
        goto out;
    if ((st = loader_alloc(ld)) != CC_OK)
        goto out;
    if ((st = nc_read_grid(ncid, f, "latitude", ld->h, ld->w, ld->s.lat)) != CC_OK ||
        (st = nc_read_grid(ncid, f, "longitude", ld->h, ld->w, ld->s.lon)) != CC_OK)
        goto out;
    CLOSE();

    /* sun zenith on the tie-point grid */
    SEN3_FILE("tie_geometries.nc");
    if ((st = nc_open_file(f, &ncid)) != CC_OK)
        goto out;
    double ac, al;
    if (!nc_att_double(ncid, NC_GLOBAL, "ac_subsampling_factor", &ac) ||
        !nc_att_double(ncid, NC_GLOBAL, "al_subsampling_factor", &al)) {
        st = cc_error_set(CC_ERR_FORMAT,
                          "%s: no ac_subsampling_factor/al_subsampling_factor global attributes", f);
        goto out;
    }
    if ((st = load_sza(ld, ncid, f, 0, 0.0, 0.0, ac, al)) != CC_OK)
        goto out;
    CLOSE();

    /* solar flux per band and detector */
    SEN3_FILE("instrument_data.nc");
    if ((st = nc_open_file(f, &ncid)) != CC_OK) {
        if (st == CC_ERR_MISSING)
            cc_error_set(st, "%s: file not found (it holds the solar flux)", f);
        goto out;
    }
    int nb, nd;
    if ((st = nc_var_2d(ncid, f, "solar_flux", &nb, &nd)) != CC_OK)
        goto out;
    if (nb < 17) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: solar_flux has %d bands, expected 21", f, nb);
        goto out;
    }
    flux = cc_malloc3((size_t)nb, (size_t)nd, sizeof(double));
    det = cc_malloc3(ld->n, sizeof(double), 1);
    if (!flux || !det) {
        st = CC_ERR_NOMEM;
        goto out;
    }
    if ((st = nc_read_scaled(ncid, f, "solar_flux", (size_t)nb * nd, flux)) != CC_OK ||
        (st = nc_read_grid(ncid, f, "detector_index", ld->h, ld->w, det)) != CC_OK)
        goto out;
    CLOSE();

    for (int k = 0; k < CC_OLCI_NMAPPED; k++) {
        char name[32], file[48];
        snprintf(name, sizeof name, "Oa%02d_radiance", olci_bands[k]);
        snprintf(file, sizeof file, "%s.nc", name);
        SEN3_FILE(file);
        if ((st = nc_open_file(f, &ncid)) != CC_OK)
            goto out;
        if ((st = nc_read_grid(ncid, f, name, ld->h, ld->w, ld->L)) != CC_OK)
            goto out;
        if (k == 0 && info) {
            char pn[256];
            info_time(ncid, info);
            if (nc_att_text(ncid, NC_GLOBAL, "product_name", pn, sizeof pn))
                platform_from_name(pn, info->platform, sizeof info->platform);
            if (!info->platform[0])
                platform_from_name(ld->path, info->platform, sizeof info->platform);
        }
        CLOSE();
        const double *fb = flux + (size_t)(olci_bands[k] - 1) * nd;
        for (size_t i = 0; i < ld->n; i++) {
            double d = det[i];
            ld->f0[i] = (isnan(d) || d < 0 || d >= nd) ? NAN : fb[(size_t)d];
        }
        loader_band(ld, k);
    }
out:
    CLOSE();
    free(flux);
    free(det);
    return st;
#undef SEN3_FILE
#undef CLOSE
}

cc_status cc_olci_load(const char *path, cc_olci_swath *s, cc_olci_info *info)
{
    loader ld = {.path = path};
    cc_status st;
    struct stat sb;
    memset(s, 0, sizeof *s);
    if (info)
        memset(info, 0, sizeof *info);
    if (stat(path, &sb) != 0) {
        st = cc_error_set(CC_ERR_MISSING, "%s: no such file or folder", path);
        goto out;
    }
    st = S_ISDIR(sb.st_mode) ? load_sen3(&ld, info) : load_snap(&ld, info);
    if (st != CC_OK)
        goto out;
    if (info) {
        info->width = ld.w;
        info->height = ld.h;
    }
    *s = ld.s;
    memset(&ld.s, 0, sizeof ld.s);
out:
    loader_free(&ld);
    cc_olci_swath_free(&ld.s);
    if (st == CC_ERR_NOMEM)
        cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
    return st;
}

/* ---- warping with GDAL geolocation arrays ---- */

static GDALDatasetH mem_create(int w, int h, int nb, GDALDataType t)
{
    GDALDriverH drv = GDALGetDriverByName("MEM");
    return drv ? GDALCreate(drv, "", w, h, nb, t, NULL) : NULL;
}

/* Writes a double array to a /vsimem GeoTIFF (for X_DATASET/Y_DATASET). */
static int vsimem_array(const char *vpath, const double *v, int w, int h)
{
    GDALDriverH drv = GDALGetDriverByName("GTiff");
    if (!drv)
        return 0;
    GDALDatasetH ds = GDALCreate(drv, vpath, w, h, 1, GDT_Float64, NULL);
    if (!ds)
        return 0;
    int ok = GDALRasterIO(GDALGetRasterBand(ds, 1), GF_Write, 0, 0, w, h, (void *)v, w, h,
                          GDT_Float64, 0, 0) == CE_None;
    GDALClose(ds);
    return ok;
}

/* Longitude/latitude box of the valid swath pixels; 0 if none. */
static int swath_box(const cc_olci_swath *s, double box[4])
{
    size_t n = (size_t)s->width * s->height;
    int any = 0;
    box[0] = box[1] = INFINITY;
    box[2] = box[3] = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (isnan(s->lat[i]) || isnan(s->lon[i]))
            continue;
        any = 1;
        box[0] = fmin(box[0], s->lon[i]);
        box[1] = fmin(box[1], s->lat[i]);
        box[2] = fmax(box[2], s->lon[i]);
        box[3] = fmax(box[3], s->lat[i]);
    }
    return any;
}

/* Grid footprint in lon/lat (edges sampled) and the OLCI pixel size in grid
 * units (from the swath centre). Returns 0 when the grid CRS cannot be used. */
static int grid_geometry(const cc_olci_swath *s, const cc_grid *g, double gbox[4], double *src_res)
{
    OGRSpatialReferenceH gs = OSRNewSpatialReference(NULL), ll = OSRNewSpatialReference(NULL);
    OGRCoordinateTransformationH to_ll = NULL, to_g = NULL;
    int ok = 0;
    if (!g->wkt || OSRSetFromUserInput(gs, g->wkt) != OGRERR_NONE ||
        OSRSetWellKnownGeogCS(ll, "WGS84") != OGRERR_NONE)
        goto out;
    OSRSetAxisMappingStrategy(gs, OAMS_TRADITIONAL_GIS_ORDER);
    OSRSetAxisMappingStrategy(ll, OAMS_TRADITIONAL_GIS_ORDER);
    to_ll = OCTNewCoordinateTransformation(gs, ll);
    to_g = OCTNewCoordinateTransformation(ll, gs);
    if (!to_ll || !to_g)
        goto out;
    enum { K = 33 };
    double x[4 * K], y[4 * K];
    int okp[4 * K];
    double W = g->width, H = g->height;
    for (int k = 0; k < K; k++) {
        double t = (double)k / (K - 1);
        double px[4] = {t * W, t * W, 0, W}, py[4] = {0, H, t * H, t * H};
        for (int e = 0; e < 4; e++) {
            x[e * K + k] = g->gt[0] + px[e] * g->gt[1];
            y[e * K + k] = g->gt[3] + py[e] * g->gt[5];
        }
    }
    OCTTransformEx(to_ll, 4 * K, x, y, NULL, okp);
    gbox[0] = gbox[1] = INFINITY;
    gbox[2] = gbox[3] = -INFINITY;
    for (int i = 0; i < 4 * K; i++) {
        if (!okp[i])
            continue;
        ok = 1;
        gbox[0] = fmin(gbox[0], x[i]);
        gbox[1] = fmin(gbox[1], y[i]);
        gbox[2] = fmax(gbox[2], x[i]);
        gbox[3] = fmax(gbox[3], y[i]);
    }
    /* OLCI pixel size near the swath centre, in grid units */
    *src_res = 0;
    int cx = s->width / 2, cy = s->height / 2;
    if (s->width > 1 && s->height > 1) {
        if (cx + 1 >= s->width)
            cx = s->width - 2;
        if (cy + 1 >= s->height)
            cy = s->height - 2;
        size_t i0 = (size_t)cy * s->width + cx;
        double px[3] = {s->lon[i0], s->lon[i0 + 1], s->lon[i0 + s->width]};
        double py[3] = {s->lat[i0], s->lat[i0 + 1], s->lat[i0 + s->width]};
        int pk[3];
        if (OCTTransformEx(to_g, 3, px, py, NULL, pk) && pk[0] && pk[1] && pk[2]) {
            double dx = hypot(px[1] - px[0], py[1] - py[0]);
            double dy = hypot(px[2] - px[0], py[2] - py[0]);
            if (isfinite(dx) && isfinite(dy))
                *src_res = sqrt(dx * dy);
        }
    }
out:
    if (to_ll)
        OCTDestroyCoordinateTransformation(to_ll);
    if (to_g)
        OCTDestroyCoordinateTransformation(to_g);
    OSRDestroySpatialReference(gs);
    OSRDestroySpatialReference(ll);
    return ok;
}

cc_status cc_olci_warp(const cc_olci_swath *s, const char *name, const cc_grid *g, float *out,
                       size_t *nvalid)
{
    static atomic_ulong counter;
    cc_status st = CC_OK;
    GDALDatasetH src = NULL, dst = NULL;
    GDALWarpAppOptions *wo = NULL;
    char **argv = NULL, **md = NULL;
    float *buf = NULL;
    char xpath[128], ypath[128], *ll_wkt = NULL;
    int have_x = 0, have_y = 0;
    size_t n = (size_t)s->width * s->height, np = cc_grid_npix(g);
    double sbox[4], gbox[4], src_res = 0;
    if (nvalid)
        *nvalid = 0;
    if (g->width <= 0 || g->height <= 0 || !g->wkt)
        return cc_error_set(CC_ERR_ARG, "%s: empty output grid or grid without CRS", name);
    if (!swath_box(s, sbox))
        return cc_error_set(CC_ERR_NODATA, "%s: no valid latitude/longitude", name);
    if (!grid_geometry(s, g, gbox, &src_res))
        return cc_error_set(CC_ERR_CRS, "%s: cannot relate the output grid's CRS to WGS84", name);
    if (gbox[0] > sbox[2] || gbox[2] < sbox[0] || gbox[1] > sbox[3] || gbox[3] < sbox[1])
        return cc_error_set(CC_ERR_NODATA,
                            "%s: the output grid (lon %.4f..%.4f, lat %.4f..%.4f) does not overlap "
                            "the swath (lon %.4f..%.4f, lat %.4f..%.4f)",
                            name, gbox[0], gbox[2], gbox[1], gbox[3], sbox[0], sbox[2], sbox[1],
                            sbox[3]);

    unsigned long id = atomic_fetch_add(&counter, 1);
    snprintf(xpath, sizeof xpath, "/vsimem/cc_olci_%p_%lu_lon.tif", (const void *)s, id);
    snprintf(ypath, sizeof ypath, "/vsimem/cc_olci_%p_%lu_lat.tif", (const void *)s, id);
    have_x = vsimem_array(xpath, s->lon, s->width, s->height);
    have_y = vsimem_array(ypath, s->lat, s->width, s->height);
    buf = cc_malloc3(n, sizeof(float), 1);
    src = mem_create(s->width, s->height, CC_OLCI_NMAPPED, GDT_Float32);
    dst = mem_create(g->width, g->height, CC_OLCI_NMAPPED, GDT_Float32);
    if (!have_x || !have_y || !buf || !src || !dst) {
        st = cc_error_set(CC_ERR_INTERNAL, "%s: cannot build the in-memory warp datasets", name);
        goto out;
    }
    for (int k = 0; k < CC_OLCI_NMAPPED; k++) {
        int b = 0;
        while (cl_src[b] != k)
            b++;
        for (size_t i = 0; i < n; i++)
            buf[i] = s->rho[i * CC_CL_NBANDS + b];
        GDALRasterBandH hb = GDALGetRasterBand(src, k + 1);
        GDALSetRasterNoDataValue(hb, NAN);
        if (GDALRasterIO(hb, GF_Write, 0, 0, s->width, s->height, buf, s->width, s->height,
                         GDT_Float32, 0, 0) != CE_None) {
            st = cc_error_set(CC_ERR_INTERNAL, "%s: cannot fill the source dataset", name);
            goto out;
        }
        GDALRasterBandH db = GDALGetRasterBand(dst, k + 1);
        GDALSetRasterNoDataValue(db, NAN);
        GDALFillRaster(db, NAN, 0);
    }
    GDALSetGeoTransform(dst, (double *)g->gt);
    GDALSetProjection(dst, g->wkt);
    OGRSpatialReferenceH ll = OSRNewSpatialReference(NULL);
    OSRSetWellKnownGeogCS(ll, "WGS84");
    OSRExportToWkt(ll, &ll_wkt);
    OSRDestroySpatialReference(ll);
    md = CSLSetNameValue(md, "SRS", ll_wkt);
    md = CSLSetNameValue(md, "X_DATASET", xpath);
    md = CSLSetNameValue(md, "X_BAND", "1");
    md = CSLSetNameValue(md, "Y_DATASET", ypath);
    md = CSLSetNameValue(md, "Y_BAND", "1");
    md = CSLSetNameValue(md, "PIXEL_OFFSET", "0");
    md = CSLSetNameValue(md, "LINE_OFFSET", "0");
    md = CSLSetNameValue(md, "PIXEL_STEP", "1");
    md = CSLSetNameValue(md, "LINE_STEP", "1");
    md = CSLSetNameValue(md, "GEOREFERENCING_CONVENTION", "PIXEL_CENTER");
    GDALSetMetadata(src, md, "GEOLOCATION");

    /* average when the grid is coarser than OLCI, nearest when finer */
    const char *method = src_res > 0 && fabs(g->gt[1]) > src_res ? "average" : "near";
    const char *args[] = {"-geoloc", "-r", method, "-srcnodata", "nan", "-dstnodata", "nan",
                          "-et", "0", "-wo", "INIT_DEST=NO_DATA", "-q", NULL};
    for (int i = 0; args[i]; i++)
        argv = CSLAddString(argv, args[i]);
    wo = GDALWarpAppOptionsNew(argv, NULL);
    if (!wo) {
        st = cc_error_set(CC_ERR_INTERNAL, "%s: bad warp options", name);
        goto out;
    }
    int usage_error = 0;
    CPLErrorReset();
    GDALDatasetH res = GDALWarp(NULL, dst, 1, &src, wo, &usage_error);
    if (!res || usage_error) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: cannot warp onto the output grid: %s", name,
                          CPLGetLastErrorMsg());
        goto out;
    }
    /* count first, write `out` only on success */
    size_t valid = 0;
    float *row = cc_malloc3(np, sizeof(float), 1);
    if (!row) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", name);
        goto out;
    }
    if (GDALRasterIO(GDALGetRasterBand(dst, 3), GF_Read, 0, 0, g->width, g->height, row, g->width,
                     g->height, GDT_Float32, 0, 0) != CE_None) {
        free(row);
        st = cc_error_set(CC_ERR_INTERNAL, "%s: cannot read the warped bands", name);
        goto out;
    }
    for (size_t i = 0; i < np; i++)
        valid += !isnan(row[i]);
    free(row);
    if (valid == 0) {
        st = cc_error_set(CC_ERR_NODATA, "%s: no OLCI pixel falls on the output grid", name);
        goto out;
    }
    for (int b = 0; b < CC_CL_NBANDS; b++) {
        if (cl_src[b] < 0) {
            for (size_t i = 0; i < np; i++)
                out[i * CC_CL_NBANDS + b] = NAN;
            continue;
        }
        if (GDALRasterIO(GDALGetRasterBand(dst, cl_src[b] + 1), GF_Read, 0, 0, g->width, g->height,
                         out + b, g->width, g->height, GDT_Float32,
                         (GSpacing)(CC_CL_NBANDS * sizeof(float)),
                         (GSpacing)((size_t)g->width * CC_CL_NBANDS * sizeof(float))) != CE_None) {
            st = cc_error_set(CC_ERR_INTERNAL, "%s: cannot read the warped bands", name);
            goto out;
        }
    }
    if (nvalid)
        *nvalid = valid;
out:
    if (wo)
        GDALWarpAppOptionsFree(wo);
    CSLDestroy(argv);
    CSLDestroy(md);
    CPLFree(ll_wkt);
    if (src)
        GDALClose(src);
    if (dst)
        GDALClose(dst);
    if (have_x)
        VSIUnlink(xpath);
    if (have_y)
        VSIUnlink(ypath);
    free(buf);
    return st;
}

cc_status cc_olci_read(const char *path, const cc_grid *g, float *out, cc_olci_info *info)
{
    cc_olci_swath s;
    cc_olci_info tmp;
    cc_olci_info *inf = info ? info : &tmp;
    cc_status st = cc_olci_load(path, &s, inf);
    if (st != CC_OK)
        return st;
    st = cc_olci_warp(&s, path, g, out, &inf->nvalid);
    cc_olci_swath_free(&s);
    return st;
}
