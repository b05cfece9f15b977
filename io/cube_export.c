/* clearcube: cubes as Cloud-Optimized GeoTIFFs and STAC Items
 * (io/cube_export.h). */
#define _DEFAULT_SOURCE /* realpath */

#include "io/cube_export.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <cpl_string.h>
#include <gdal.h>
#include <jansson.h>
#include <netcdf.h>
#include <ogr_srs_api.h>

#include "core/alloc.h"
#include "core/date.h"
#include "core/fs.h"
#include "io/cube.h"

#define STAC_VERSION "1.0.0"
#define COG_TYPE "image/tiff; application=geotiff; profile=cloud-optimized"
#define COG_BLOCK 512
#define EX_NAME 640 /* an asset or Item file name */

/* One layer of the cube. */
typedef struct {
    int varid;
    char name[NC_MAX_NAME + 1];
    nc_type type;               /* NC_USHORT or NC_UBYTE                     */
    double scale, offset, fill;
    int has_fill, is_flag;
    char *units, *long_name, *flag_meanings, *flags; /* flags: "1 2 4 ..." */
    const char *flags_att;      /* "flag_masks" or "flag_values"             */
} ex_layer;

typedef struct {
    const char *path;
    int ncid, w, h, nt, nl;
    double gt[6];
    double *days;
    char *wkt, *tile, *product;
    ex_layer *L;
} ex_cube;

static void ex_cube_free(ex_cube *c)
{
    if (c->ncid >= 0)
        nc_close(c->ncid);
    for (int i = 0; c->L && i < c->nl; i++) {
        free(c->L[i].units);
        free(c->L[i].long_name);
        free(c->L[i].flag_meanings);
        free(c->L[i].flags);
    }
    free(c->L);
    free(c->days);
    free(c->wkt);
    free(c->tile);
    free(c->product);
}

static double att_double(int ncid, int v, const char *name, double dflt, int *has)
{
    double x;
    int ok = nc_get_att_double(ncid, v, name, &x) == NC_NOERR;
    if (has)
        *has = ok;
    return ok ? x : dflt;
}

/* A numeric attribute's values as "a b c" (malloc'd), or NULL. */
static char *att_list(int ncid, int v, const char *name)
{
    size_t n;
    nc_type t;
    if (nc_inq_att(ncid, v, name, &t, &n) != NC_NOERR || t == NC_CHAR || n == 0 || n > 64)
        return NULL;
    double x[64];
    if (nc_get_att_double(ncid, v, name, x) != NC_NOERR)
        return NULL;
    char *s = malloc(n * 24 + 1);
    if (!s)
        return NULL;
    s[0] = '\0';
    for (size_t i = 0; i < n; i++)
        sprintf(s + strlen(s), "%s%.17g", i ? " " : "", x[i]);
    return s;
}

static cc_status ex_layers(ex_cube *c, int tdim, int ydim, int xdim)
{
    int nv = 0;
    nc_inq_nvars(c->ncid, &nv);
    if (!(c->L = calloc((size_t)(nv ? nv : 1), sizeof *c->L)))
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", c->path);
    for (int v = 0; v < nv; v++) {
        int nd = 0, dims[NC_MAX_VAR_DIMS];
        nc_inq_varndims(c->ncid, v, &nd);
        if (nd != 3 || nc_inq_vardimid(c->ncid, v, dims) != NC_NOERR || dims[0] != tdim || dims[1] != ydim ||
            dims[2] != xdim)
            continue;
        ex_layer *L = &c->L[c->nl];
        L->varid = v;
        nc_inq_varname(c->ncid, v, L->name);
        nc_inq_vartype(c->ncid, v, &L->type);
        if (L->type != NC_USHORT && L->type != NC_UBYTE)
            return cc_error_set(CC_ERR_FORMAT, "%s: layer %s is not uint16 or uint8 (not a clearcube cube)", c->path,
                                L->name);
        L->scale = att_double(c->ncid, v, "scale_factor", 1.0, NULL);
        L->offset = att_double(c->ncid, v, "add_offset", 0.0, NULL);
        L->fill = att_double(c->ncid, v, "_FillValue", 0.0, &L->has_fill);
        L->units = cc_cube_text_att(c->ncid, v, "units");
        L->long_name = cc_cube_text_att(c->ncid, v, "long_name");
        L->flag_meanings = cc_cube_text_att(c->ncid, v, "flag_meanings");
        L->flags_att = "flag_masks";
        if (!(L->flags = att_list(c->ncid, v, "flag_masks")) && (L->flags = att_list(c->ncid, v, "flag_values")))
            L->flags_att = "flag_values";
        L->is_flag = L->flag_meanings != NULL;
        c->nl++;
    }
    if (c->nl == 0)
        return cc_error_set(CC_ERR_FORMAT, "%s: no layer (time, y, x): not a clearcube cube", c->path);
    return CC_OK;
}

static cc_status ex_open(const char *path, ex_cube *c)
{
    memset(c, 0, sizeof *c);
    c->ncid = -1;
    c->path = path;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return cc_error_set(CC_ERR_IO, "%s: %s", path, strerror(errno));
    int rc = nc_open(path, NC_NOWRITE, &c->ncid);
    if (rc != NC_NOERR) {
        c->ncid = -1;
        return cc_error_set(CC_ERR_FORMAT, "%s: not a clearcube cube (not NetCDF: %s)", path, nc_strerror(rc));
    }
    int tdim, ydim, xdim, tvar, crs;
    size_t n;
    if (nc_inq_dimid(c->ncid, "time", &tdim) || nc_inq_dimid(c->ncid, "y", &ydim) ||
        nc_inq_dimid(c->ncid, "x", &xdim) || nc_inq_varid(c->ncid, "time", &tvar) ||
        nc_inq_varid(c->ncid, "spatial_ref", &crs))
        return cc_error_set(CC_ERR_FORMAT, "%s: not a clearcube cube (missing time/y/x or spatial_ref)", path);
    nc_inq_dimlen(c->ncid, tdim, &n);
    c->nt = (int)n;
    nc_inq_dimlen(c->ncid, ydim, &n);
    c->h = (int)n;
    nc_inq_dimlen(c->ncid, xdim, &n);
    c->w = (int)n;
    if (c->nt == 0 || c->w == 0 || c->h == 0)
        return cc_error_set(CC_ERR_NODATA, "%s: the cube has no date or no pixel", path);
    if (!(c->days = malloc((size_t)c->nt * sizeof *c->days)) ||
        nc_get_var_double(c->ncid, tvar, c->days) != NC_NOERR)
        return cc_error_set(CC_ERR_FORMAT, "%s: cannot read the time values", path);
    c->wkt = cc_cube_text_att(c->ncid, crs, "crs_wkt");
    if (!c->wkt)
        c->wkt = cc_cube_text_att(c->ncid, crs, "spatial_ref");
    char *gts = cc_cube_text_att(c->ncid, crs, "GeoTransform");
    int ngt = gts ? sscanf(gts, "%lf %lf %lf %lf %lf %lf", &c->gt[0], &c->gt[1], &c->gt[2], &c->gt[3], &c->gt[4],
                           &c->gt[5])
                  : 0;
    free(gts);
    if (!c->wkt || ngt != 6)
        return cc_error_set(CC_ERR_FORMAT, "%s: spatial_ref lacks crs_wkt or GeoTransform", path);
    c->tile = cc_cube_text_att(c->ncid, NC_GLOBAL, "tile_id");
    c->product = cc_cube_text_att(c->ncid, NC_GLOBAL, "product");
    return ex_layers(c, tdim, ydim, xdim);
}

/* A file name part: letters, digits, '-', '_' and '.' kept, others '-'. */
static void safe_part(const char *s, char *out, size_t n)
{
    size_t k = 0;
    for (; s && *s && k + 1 < n; s++)
        out[k++] = (char)((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                                  *s == '_' || *s == '.'
                              ? *s
                              : '-');
    out[k] = '\0';
}

/* The set of temporaries and their targets. */
typedef struct {
    int n, cap;
    char **tmp, **target;
} ex_files;

static cc_status ex_add(ex_files *f, const char *dir, const char *name, const char *suffix, const char **tmp)
{
    if (f->n == f->cap) {
        int cap = f->cap ? 2 * f->cap : 16;
        char **t = realloc(f->tmp, (size_t)cap * sizeof *t), **g = t ? realloc(f->target, (size_t)cap * sizeof *g) : NULL;
        if (t)
            f->tmp = t;
        if (!g)
            return cc_error_set(CC_ERR_NOMEM, "export: out of memory");
        f->target = g;
        f->cap = cap;
    }
    size_t cap = strlen(dir) + strlen(name) + 64;
    char *target = malloc(cap), *t = malloc(cap + 32);
    if (!target || !t) {
        free(target);
        free(t);
        return cc_error_set(CC_ERR_NOMEM, "export: out of memory");
    }
    snprintf(target, cap, "%s/%s", dir, name);
    cc_status st = cc_fs_temp_name(target, suffix, t, cap + 32);
    if (st != CC_OK) {
        free(target);
        free(t);
        return st;
    }
    f->tmp[f->n] = t;
    f->target[f->n++] = target;
    *tmp = t;
    return CC_OK;
}

static void ex_files_free(ex_files *f, int abort_tmp)
{
    for (int i = 0; i < f->n; i++) {
        if (abort_tmp)
            cc_fs_abort(f->tmp[i]);
        free(f->tmp[i]);
        free(f->target[i]);
    }
    free(f->tmp);
    free(f->target);
}

/* Overview levels: halvings until the image fits one tile, at least one. */
static int overview_count(int w, int h)
{
    int n = 0, m = w > h ? w : h;
    while (m > COG_BLOCK) {
        m = (m + 1) / 2;
        n++;
    }
    return n < 1 ? 1 : n;
}

/* One layer of one date as a COG at tmp. */
static cc_status write_cog(const ex_cube *c, const ex_layer *L, int t, const char *date, const char *tmp, uint16_t *buf)
{
    size_t start[3] = {(size_t)t, 0, 0}, count[3] = {1, (size_t)c->h, (size_t)c->w};
    int rc = nc_get_vara_ushort(c->ncid, L->varid, start, count, buf);
    if (rc != NC_NOERR)
        return cc_error_set(CC_ERR_IO, "%s: reading layer %s: %s", c->path, L->name, nc_strerror(rc));
    const GDALDataType type = L->type == NC_UBYTE ? GDT_Byte : GDT_UInt16;
    GDALDriverH mem = GDALGetDriverByName("MEM"), cog = GDALGetDriverByName("COG");
    if (!mem || !cog)
        return cc_error_set(CC_ERR_UNSUPPORTED, "export: GDAL lacks the MEM or COG driver (GDAL >= 3.1)");
    GDALDatasetH ds = GDALCreate(mem, "", c->w, c->h, 1, type, NULL);
    if (!ds)
        return cc_error_set(CC_ERR_NOMEM, "export: cannot create a %d x %d raster", c->w, c->h);
    GDALRasterBandH b = GDALGetRasterBand(ds, 1);
    cc_status st = CC_OK;
    if (GDALRasterIO(b, GF_Write, 0, 0, c->w, c->h, buf, c->w, c->h, GDT_UInt16, 0, 0) != CE_None) {
        st = cc_error_set(CC_ERR_IO, "export: %s", CPLGetLastErrorMsg());
        goto out;
    }
    GDALSetGeoTransform(ds, (double *)c->gt);
    GDALSetProjection(ds, c->wkt);
    GDALSetDescription(b, L->name);
    if (L->has_fill)
        GDALSetRasterNoDataValue(b, L->fill);
    GDALSetRasterScale(b, L->scale);
    GDALSetRasterOffset(b, L->offset);
    if (L->units)
        GDALSetRasterUnitType(b, L->units);
    if (L->long_name)
        GDALSetMetadataItem(b, "long_name", L->long_name, NULL);
    if (L->is_flag) {
        GDALSetMetadataItem(b, "flag_meanings", L->flag_meanings, NULL);
        if (L->flags)
            GDALSetMetadataItem(b, L->flags_att, L->flags, NULL);
    }
    GDALSetMetadataItem(ds, "clearcube_cube", c->path, NULL);
    GDALSetMetadataItem(ds, "clearcube_date", date, NULL);
    if (c->tile)
        GDALSetMetadataItem(ds, "clearcube_tile", c->tile, NULL);
    if (c->product)
        GDALSetMetadataItem(ds, "clearcube_product", c->product, NULL);
    char ovr[16];
    snprintf(ovr, sizeof ovr, "%d", overview_count(c->w, c->h));
    char **opt = NULL;
    opt = CSLSetNameValue(opt, "COMPRESS", "DEFLATE");
    opt = CSLSetNameValue(opt, "BLOCKSIZE", "512");
    opt = CSLSetNameValue(opt, "OVERVIEWS", "IGNORE_EXISTING");
    opt = CSLSetNameValue(opt, "OVERVIEW_COUNT", ovr);
    opt = CSLSetNameValue(opt, "RESAMPLING", L->is_flag ? "NEAREST" : "AVERAGE");
    opt = CSLSetNameValue(opt, "NUM_THREADS", "1");
    CPLErrorReset();
    GDALDatasetH out = GDALCreateCopy(cog, tmp, ds, TRUE, opt, NULL, NULL);
    CSLDestroy(opt);
    if (out)
        GDALClose(out);
    if (!out || CPLGetLastErrorType() >= CE_Failure) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot write a COG: %s", tmp, CPLGetLastErrorMsg());
        goto out;
    }
out:
    GDALClose(ds);
    return st;
}

/* The footprint in WGS 84 (lon/lat): the grid's edge sampled 8 times a side. */
static cc_status footprint(const ex_cube *c, json_t **geometry, json_t **bbox, int *epsg)
{
    OGRSpatialReferenceH src = OSRNewSpatialReference(NULL), dst = OSRNewSpatialReference(NULL);
    OGRCoordinateTransformationH ct = NULL;
    char *w = c->wkt;
    cc_status st = CC_OK;
    if (!src || !dst || OSRImportFromWkt(src, &w) != OGRERR_NONE || OSRImportFromEPSG(dst, 4326) != OGRERR_NONE) {
        st = cc_error_set(CC_ERR_CRS, "%s: cannot read the CRS", c->path);
        goto out;
    }
    OSRSetAxisMappingStrategy(src, OAMS_TRADITIONAL_GIS_ORDER);
    OSRSetAxisMappingStrategy(dst, OAMS_TRADITIONAL_GIS_ORDER);
    const char *auth = OSRGetAuthorityName(src, NULL), *code = OSRGetAuthorityCode(src, NULL);
    *epsg = auth && code && !strcmp(auth, "EPSG") ? atoi(code) : 0;
    if (!(ct = OCTNewCoordinateTransformation(src, dst))) {
        st = cc_error_set(CC_ERR_CRS, "%s: no transformation of its CRS to WGS 84", c->path);
        goto out;
    }
    enum { NS = 8 };
    double x[4 * NS + 1], y[4 * NS + 1];
    for (int k = 0; k < 4 * NS; k++) { /* counter-clockwise from the upper left */
        int side = k / NS, i = k % NS;
        double f = (double)i / NS, px, py;
        if (side == 0)
            px = 0, py = f * c->h;
        else if (side == 1)
            px = f * c->w, py = c->h;
        else if (side == 2)
            px = c->w, py = (1 - f) * c->h;
        else
            px = (1 - f) * c->w, py = 0;
        x[k] = c->gt[0] + px * c->gt[1];
        y[k] = c->gt[3] + py * c->gt[5];
    }
    if (!OCTTransform(ct, 4 * NS, x, y, NULL)) {
        st = cc_error_set(CC_ERR_CRS, "%s: cannot transform the footprint to WGS 84", c->path);
        goto out;
    }
    x[4 * NS] = x[0], y[4 * NS] = y[0];
    double b[4] = {x[0], y[0], x[0], y[0]};
    json_t *ring = json_array();
    for (int k = 0; k <= 4 * NS; k++) {
        b[0] = fmin(b[0], x[k]), b[1] = fmin(b[1], y[k]), b[2] = fmax(b[2], x[k]), b[3] = fmax(b[3], y[k]);
        json_array_append_new(ring, json_pack("[f,f]", x[k], y[k]));
    }
    *geometry = json_pack("{s:s,s:[o]}", "type", "Polygon", "coordinates", ring);
    *bbox = json_pack("[f,f,f,f]", b[0], b[1], b[2], b[3]);
out:
    if (ct)
        OCTDestroyCoordinateTransformation(ct);
    OSRDestroySpatialReference(src);
    OSRDestroySpatialReference(dst);
    return st;
}

static json_t *asset_json(const ex_cube *c, const ex_layer *L, const char *href)
{
    json_t *rb = json_pack("{s:s,s:f,s:f}", "data_type", L->type == NC_UBYTE ? "uint8" : "uint16", "scale", L->scale,
                           "offset", L->offset);
    if (L->has_fill)
        json_object_set_new(rb, "nodata", json_real(L->fill));
    if (L->units && !L->is_flag)
        json_object_set_new(rb, "unit", json_string(L->units));
    json_t *a = json_pack("{s:s,s:s,s:s,s:[s]}", "href", href, "type", COG_TYPE, "title",
                          L->long_name ? L->long_name : L->name, "roles", L->is_flag ? "metadata" : "data");
    json_object_set_new(a, "raster:bands", json_pack("[o]", rb));
    if (L->is_flag) {
        json_object_set_new(a, "clearcube:flag_meanings", json_string(L->flag_meanings));
        if (L->flags)
            json_object_set_new(a, L->is_flag && !strcmp(L->flags_att, "flag_masks") ? "clearcube:flag_masks"
                                                                                     : "clearcube:flag_values",
                                json_string(L->flags));
    }
    (void)c;
    return a;
}

/* The STAC Item of date t into tmp. */
static cc_status write_item(const ex_cube *c, const char *id, const char *date, char (*hrefs)[EX_NAME],
                            const char *self, const char *tmp)
{
    json_t *geom = NULL, *bbox = NULL;
    int epsg = 0;
    cc_status st = footprint(c, &geom, &bbox, &epsg);
    if (st != CC_OK)
        return st;
    char dt[40];
    snprintf(dt, sizeof dt, "%sT00:00:00Z", date);
    json_t *props = json_pack("{s:s,s:[i,i],s:[f,f,f,f,f,f]}", "datetime", dt, "proj:shape", c->h, c->w,
                              "proj:transform", c->gt[1], c->gt[2], c->gt[0], c->gt[4], c->gt[5], c->gt[3]);
    json_object_set_new(props, "proj:epsg", epsg ? json_integer(epsg) : json_null());
    if (!epsg)
        json_object_set_new(props, "proj:wkt2", json_string(c->wkt));
    if (c->tile)
        json_object_set_new(props, "clearcube:tile", json_string(c->tile));
    if (c->product)
        json_object_set_new(props, "clearcube:product", json_string(c->product));
    json_t *assets = json_object();
    for (int i = 0; i < c->nl; i++)
        json_object_set_new(assets, c->L[i].name, asset_json(c, &c->L[i], hrefs[i]));
    json_t *item = json_pack(
        "{s:s,s:s,s:[s,s],s:s,s:o,s:o,s:o,s:o,s:[{s:s,s:s,s:s}]}", "type", "Feature", "stac_version", STAC_VERSION,
        "stac_extensions", "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
        "https://stac-extensions.github.io/raster/v1.1.0/schema.json", "id", id, "geometry", geom, "bbox", bbox,
        "properties", props, "assets", assets, "links", "rel", "self", "href", self, "type", "application/json");
    if (!item)
        return cc_error_set(CC_ERR_NOMEM, "export: cannot build the STAC Item %s", id);
    char *text = json_dumps(item, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    json_decref(item);
    if (!text)
        return cc_error_set(CC_ERR_NOMEM, "export: cannot write the STAC Item %s", id);
    size_t n = strlen(text);
    char *line = malloc(n + 2);
    if (line) {
        memcpy(line, text, n);
        line[n] = '\n';
        st = cc_fs_write_file(tmp, line, n + 1);
    } else
        st = cc_error_set(CC_ERR_NOMEM, "export: out of memory");
    free(line);
    free(text);
    return st;
}

static cc_status export_date(const ex_cube *c, const char *dir, const char *absdir, int t, ex_files *f,
                             uint16_t *buf, char (*hrefs)[EX_NAME])
{
    char date[CC_DATE_ISO_SIZE], tile[64], prod[64], id[256], name[EX_NAME];
    cc_date_format((long)floor(c->days[t] + 0.5), date);
    safe_part(c->tile && *c->tile ? c->tile : "untiled", tile, sizeof tile);
    safe_part(c->product && *c->product ? c->product : "cube", prod, sizeof prod);
    snprintf(id, sizeof id, "%s_%s_%s", tile, prod, date);
    cc_status st;
    const char *tmp;
    for (int i = 0; i < c->nl; i++) {
        char lname[NC_MAX_NAME + 1];
        safe_part(c->L[i].name, lname, sizeof lname);
        snprintf(hrefs[i], sizeof hrefs[i], "./%s_%s.tif", id, lname);
        if ((st = ex_add(f, dir, hrefs[i] + 2, ".tif", &tmp)) != CC_OK ||
            (st = write_cog(c, &c->L[i], t, date, tmp, buf)) != CC_OK)
            return st;
    }
    snprintf(name, sizeof name, "%s.json", id);
    char self[PATH_MAX + EX_NAME + 2];
    snprintf(self, sizeof self, "%s/%s", absdir, name);
    if ((st = ex_add(f, dir, name, NULL, &tmp)) != CC_OK)
        return st;
    return write_item(c, id, date, hrefs, self, tmp);
}

cc_status cc_cube_export_cog(const char *cube, const char *dir, cc_cube_export_result *r)
{
    memset(r, 0, sizeof *r);
    ex_cube c;
    ex_files f = {0};
    uint16_t *buf = NULL;
    char (*hrefs)[EX_NAME] = NULL;
    cc_status st = ex_open(cube, &c);
    if (st != CC_OK)
        goto out;
    struct stat sb;
    if (stat(dir, &sb) == 0 && !S_ISDIR(sb.st_mode)) {
        st = cc_error_set(CC_ERR_IO, "%s: exists and is not a directory", dir);
        goto out;
    }
    if ((st = cc_fs_mkdir_p(dir, 0777)) != CC_OK)
        goto out;
    if (access(dir, W_OK | X_OK) != 0) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot write into the directory: %s", dir, strerror(errno));
        goto out;
    }
    char absdir[PATH_MAX];
    if (!realpath(dir, absdir)) {
        st = cc_error_set(CC_ERR_IO, "%s: %s", dir, strerror(errno));
        goto out;
    }
    buf = cc_malloc3((size_t)c.w, (size_t)c.h, sizeof *buf);
    hrefs = calloc((size_t)c.nl, sizeof *hrefs);
    if (!buf || !hrefs) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory for a %d x %d layer", cube, c.w, c.h);
        goto out;
    }
    for (int t = 0; t < c.nt && st == CC_OK; t++)
        st = export_date(&c, dir, absdir, t, &f, buf, hrefs);
    if (st == CC_OK)
        st = cc_fs_commit_all(f.n, (const char *const *)f.tmp, (const char *const *)f.target);
    if (st == CC_OK) {
        r->ndates = c.nt;
        r->nlayers = c.nl;
        r->nfiles = f.n;
    }
out:
    ex_files_free(&f, st != CC_OK);
    free(buf);
    free(hrefs);
    ex_cube_free(&c);
    return st;
}
