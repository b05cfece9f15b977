/* Sentinel-1 sigma0 reader: analysis-ready dB patches and calibrated GRD
 * measurement TIFFs, warped onto a cc_grid in linear power (see io/s1/s1.h).
 * XML annotations are parsed with GDAL's CPL XML parser (as io/s2/s2_mtd.c does;
 * works on /vsi paths too), the JSON sidecar with jansson. Only the
 * space-separated number lists inside LUT elements are tokenised here. */
#define _GNU_SOURCE /* strdup; struct stat64 behind VSIStatBufL */

#include "io/s1/s1.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_minixml.h>
#include <cpl_string.h>
#include <cpl_vsi.h>
#include <gdal.h>
#include <gdal_alg.h>
#include <jansson.h>
#include <ogr_srs_api.h>

#include "core/alloc.h"
#include "core/date.h"
#include "io/grid/grid.h"

enum { POL_VV = 0, POL_VH = 1, NPOL = 2 };
static const char *const pol_upper[NPOL] = {"VV", "VH"};
static const char *const pol_lower[NPOL] = {"vv", "vh"};

#define FLOOR_LINEAR 1e-5f /* -50 dB, after thermal noise subtraction */

/* ------------------------------------------------------------------------ */
/* small helpers                                                            */
/* ------------------------------------------------------------------------ */

static int path_is_dir(const char *p)
{
    VSIStatBufL sb;
    return VSIStatL(p, &sb) == 0 && VSI_ISDIR(sb.st_mode);
}

static int path_is_file(const char *p)
{
    VSIStatBufL sb;
    return VSIStatL(p, &sb) == 0 && !VSI_ISDIR(sb.st_mode);
}

/* Copy of `path` without trailing slashes (caller frees), NULL on OOM. */
static char *trim_slashes(const char *path)
{
    char *s = strdup(path);
    if (!s)
        return NULL;
    size_t n = strlen(s);
    while (n > 1 && s[n - 1] == '/')
        s[--n] = '\0';
    return s;
}

static const char *base_name(const char *p)
{
    const char *b = strrchr(p, '/');
    return b ? b + 1 : p;
}

/* GDAL's last error message without leading copies of `path` ("path: ..."). */
static const char *gdal_reason(const char *path)
{
    const char *m = CPLGetLastErrorMsg();
    size_t len = strlen(path);
    while (len && !strncmp(m, path, len)) {
        m += len;
        while (*m == ':' || *m == ' ')
            m++;
    }
    return *m ? m : "GDAL gave no reason";
}

/* Opens tif read-only (GDAL's own messages silenced); *ds is NULL on failure
 * and when the raster has no band (an error naming tif). */
static cc_status open_raster(const char *tif, GDALDatasetH *ds)
{
    CPLPushErrorHandler(CPLQuietErrorHandler);
    CPLErrorReset();
    *ds = GDALOpen(tif, GA_ReadOnly);
    CPLPopErrorHandler();
    if (!*ds)
        return cc_error_set(CC_ERR_FORMAT, "%s: cannot open as a raster: %s", tif, gdal_reason(tif));
    if (GDALGetRasterCount(*ds) < 1 || GDALGetRasterXSize(*ds) <= 0 || GDALGetRasterYSize(*ds) <= 0) {
        GDALClose(*ds);
        *ds = NULL;
        return cc_error_set(CC_ERR_FORMAT, "%s: raster has no band", tif);
    }
    return CC_OK;
}

/* "2017-06-13T16:50:43[.ffffff][Z]" (UTC) -> day and seconds since the epoch. */
static cc_status parse_utc(const char *file, const char *what, const char *s, long *day,
                           double *t)
{
    cc_datetime dt;
    const char *end;
    if (!s)
        return cc_error_set(CC_ERR_MISSING, "%s: missing %s", file, what);
    if (!(end = cc_date_scan_datetime(s, 1, &dt)) || *end)
        return cc_error_set(CC_ERR_FORMAT, "%s: bad UTC time '%.40s' in %s", file, s, what);
    *day = cc_date_to_days(dt.year, dt.month, dt.day);
    *t = cc_datetime_epoch(&dt);
    return CC_OK;
}

static void set_platform(cc_s1_info *info, const char *s)
{
    if (s && strlen(s) >= 3 && (s[0] == 'S' || s[0] == 's') && s[1] == '1' &&
        strchr("ABCDabcd", s[2]) && (s[3] == '\0' || s[3] == '_')) {
        info->platform[0] = 'S';
        info->platform[1] = '1';
        info->platform[2] = (char)toupper((unsigned char)s[2]);
        info->platform[3] = '\0';
    }
}

/* ------------------------------------------------------------------------ */
/* warping linear power onto the grid                                       */
/* ------------------------------------------------------------------------ */

/* A one-band float32 MEM dataset holding a copy of lin, the window (x0, y0,
 * w x h) of a larger raster, georeferenced by that raster's gt + wkt, or by
 * the GCPs of `gcp_src` (shifted into the window) when gt is NULL. */
static GDALDatasetH mem_linear(const float *lin, int x0, int y0, int w, int h, const double *gt,
                               const char *wkt, GDALDatasetH gcp_src)
{
    GDALDriverH drv = GDALGetDriverByName("MEM");
    if (!drv)
        return NULL;
    GDALDatasetH ds = GDALCreate(drv, "", w, h, 1, GDT_Float32, NULL);
    if (!ds)
        return NULL;
    if (gt) {
        double wgt[6] = {gt[0] + x0 * gt[1] + y0 * gt[2], gt[1], gt[2],
                         gt[3] + x0 * gt[4] + y0 * gt[5], gt[4], gt[5]};
        GDALSetGeoTransform(ds, wgt);
        GDALSetProjection(ds, wkt);
    } else {
        int n = GDALGetGCPCount(gcp_src);
        GDAL_GCP *gcp = GDALDuplicateGCPs(n, GDALGetGCPs(gcp_src));
        if (!gcp) {
            GDALClose(ds);
            return NULL;
        }
        for (int i = 0; i < n; i++) {
            gcp[i].dfGCPPixel -= x0;
            gcp[i].dfGCPLine -= y0;
        }
        CPLErr e = GDALSetGCPs(ds, n, gcp, GDALGetGCPProjection(gcp_src));
        GDALDeinitGCPs(n, gcp);
        CPLFree(gcp);
        if (e != CE_None) {
            GDALClose(ds);
            return NULL;
        }
    }
    GDALRasterBandH b = GDALGetRasterBand(ds, 1);
    GDALSetRasterNoDataValue(b, NAN);
    if (GDALRasterIO(b, GF_Write, 0, 0, w, h, (void *)lin, w, h, GDT_Float32, 0, 0) != CE_None) {
        GDALClose(ds);
        return NULL;
    }
    return ds;
}

/* Source pixel size in output units (GDAL's suggested warp output), or 0. */
static double source_resolution(GDALDatasetH src, const cc_grid *g, int tps)
{
    char **opt = NULL;
    double res = 0.0, gt[6];
    int px = 0, ln = 0;
    opt = CSLSetNameValue(opt, "DST_SRS", g->wkt);
    if (tps)
        opt = CSLSetNameValue(opt, "METHOD", "GCP_TPS");
    void *tr = GDALCreateGenImgProjTransformer2(src, NULL, opt);
    if (tr && GDALSuggestedWarpOutput(src, GDALGenImgProjTransform, tr, gt, &px, &ln) == CE_None)
        res = sqrt(fabs(gt[1] * gt[5]));
    if (tr)
        GDALDestroyGenImgProjTransformer(tr);
    CSLDestroy(opt);
    return res;
}

/* The pixel window of src (x0, y0, *ww x *wh) that covers grid g, with a
 * margin for the resampling kernels: grid points on a 21 x 21 lattice mapped
 * back into src with the same transformer the warp uses. Returns 0 when g
 * does not overlap src (or the CRS cannot be related: the warp reports it). */
static int source_window(GDALDatasetH src, const cc_grid *g, int tps, int *x0, int *y0, int *ww,
                         int *wh)
{
    char **opt = NULL;
    int found = 0, w = GDALGetRasterXSize(src), h = GDALGetRasterYSize(src);
    double minx = INFINITY, miny = INFINITY, maxx = -INFINITY, maxy = -INFINITY;
    opt = CSLSetNameValue(opt, "DST_SRS", g->wkt);
    if (tps)
        opt = CSLSetNameValue(opt, "METHOD", "GCP_TPS");
    void *tr = GDALCreateGenImgProjTransformer2(src, NULL, opt);
    CSLDestroy(opt);
    if (!tr)
        return 0;
    for (int j = 0; j <= 20; j++)
        for (int i = 0; i <= 20; i++) {
            double x = g->gt[0] + g->width * (i / 20.0) * g->gt[1];
            double y = g->gt[3] + g->height * (j / 20.0) * g->gt[5], z = 0.0;
            int ok = 0;
            if (GDALGenImgProjTransform(tr, TRUE, 1, &x, &y, &z, &ok) && ok && isfinite(x) &&
                isfinite(y)) {
                minx = fmin(minx, x);
                maxx = fmax(maxx, x);
                miny = fmin(miny, y);
                maxy = fmax(maxy, y);
                found = 1;
            }
        }
    GDALDestroyGenImgProjTransformer(tr);
    if (!found)
        return 0;
    /* margin: 8 source pixels plus one output pixel's worth of source pixels */
    double res = source_resolution(src, g, tps);
    double m = 8.0 + (res > 0.0 ? ceil(fabs(g->gt[1]) / res) : 0.0);
    double a = fmax(floor(minx - m), 0.0), b = fmin(ceil(maxx + m), (double)w);
    double c = fmax(floor(miny - m), 0.0), d = fmin(ceil(maxy + m), (double)h);
    if (!(b > a && d > c))
        return 0;
    *x0 = (int)a;
    *y0 = (int)c;
    *ww = (int)(b - a);
    *wh = (int)(d - c);
    return 1;
}

/* The resampling of src onto g: bilinear when the source is coarser than the
 * output (upsampling), else average; NULL (CC_ERR_CRS set) when the CRS
 * cannot be related. */
static const char *warp_method(GDALDatasetH src, const char *name, const cc_grid *g, int tps)
{
    double res = source_resolution(src, g, tps);
    if (res <= 0.0) {
        cc_error_set(CC_ERR_CRS, "%s: cannot relate the raster to the output grid's CRS: %s", name,
                     CPLGetLastErrorMsg());
        return NULL;
    }
    return res > fabs(g->gt[1]) * (1.0 + 1e-6) ? "bilinear" : "average";
}

/* Warps the linear-power dataset src onto g; out receives width*height
 * linear values, NaN where nothing was observed. */
static cc_status warp_linear(GDALDatasetH src, const char *name, const cc_grid *g, int tps,
                             float *out)
{
    const char *method = warp_method(src, name, g, tps);
    return method ? cc_grid_warp(src, name, g, method, "nan", tps, out) : CC_ERR_CRS;
}

static void linear_to_db(float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        v[i] = (isfinite(v[i]) && v[i] > 0.0f) ? 10.0f * log10f(v[i]) : NAN;
}

/* ------------------------------------------------------------------------ */
/* (a) analysis-ready patches                                               */
/* ------------------------------------------------------------------------ */

/* Acquisition time and platform from <id>_labels_metadata.json. */
static cc_status ard_metadata(const char *json_path, cc_s1_info *info)
{
    cc_status st;
    json_error_t jerr;
    json_t *root = NULL;
    if (!path_is_file(json_path))
        return cc_error_set(CC_ERR_MISSING,
                            "%s: metadata file missing (needed for the acquisition time)",
                            json_path);
    root = json_load_file(json_path, 0, &jerr);
    if (!root)
        return cc_error_set(CC_ERR_FORMAT, "%s: not valid JSON (line %d: %s)", json_path,
                            jerr.line, jerr.text);
    if (!json_is_object(root)) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: JSON top level is not an object", json_path);
        goto out;
    }
    const char *t = json_string_value(json_object_get(root, "acquisition_time"));
    st = parse_utc(json_path, "\"acquisition_time\"", t, &info->day, &info->time);
    if (st != CC_OK)
        goto out;
    set_platform(info, json_string_value(json_object_get(root, "scene_source")));
out:
    json_decref(root);
    return st;
}

/* Reads one dB GeoTIFF onto g as dB (out). */
static cc_status ard_band(const char *tif, const cc_grid *g, float *out)
{
    cc_status st = CC_OK;
    GDALDatasetH ds = NULL;
    float *db = NULL;
    OGRSpatialReferenceH s_src = NULL, s_dst = NULL;
    double gt[6];
    if ((st = open_raster(tif, &ds)) != CC_OK)
        goto out;
    int w = GDALGetRasterXSize(ds), h = GDALGetRasterYSize(ds);
    const char *wkt = GDALGetProjectionRef(ds);
    if (GDALGetGeoTransform(ds, gt) != CE_None || !wkt || !*wkt) {
        st = cc_error_set(CC_ERR_CRS, "%s: raster has no georeferencing (geotransform and CRS)",
                          tif);
        goto out;
    }
    if (!(db = cc_malloc3((size_t)w, (size_t)h, sizeof *db))) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory for %d x %d pixels", tif, w, h);
        goto out;
    }
    GDALRasterBandH b = GDALGetRasterBand(ds, 1);
    CPLErrorReset();
    if (GDALRasterIO(b, GF_Read, 0, 0, w, h, db, w, h, GDT_Float32, 0, 0) != CE_None) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: cannot read pixels: %s", tif, gdal_reason(tif));
        goto out;
    }
    int has_nd = 0;
    double nd = GDALGetRasterNoDataValue(b, &has_nd);
    size_t n = (size_t)w * (size_t)h;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(db[i]) || (has_nd && (double)db[i] == nd))
            db[i] = NAN;

    /* already on the output grid: copy the dB values unchanged */
    s_src = OSRNewSpatialReference(wkt);
    s_dst = OSRNewSpatialReference(g->wkt);
    int same = w == g->width && h == g->height && s_src && s_dst && OSRIsSame(s_src, s_dst);
    for (int i = 0; same && i < 6; i++)
        same = fabs(gt[i] - g->gt[i]) <= 1e-6;
    if (same) {
        memcpy(out, db, n * sizeof *db);
        goto out;
    }
    /* averaged in linear power (the file's grid gives the warp's resolution) */
    const char *method = warp_method(ds, tif, g, 0);
    if (!method) {
        st = CC_ERR_CRS;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        db[i] = isnan(db[i]) ? NAN : powf(10.0f, db[i] / 10.0f);
    st = cc_grid_warp_float(db, w, h, gt, wkt, g, method, tif, out);
    if (st == CC_OK)
        linear_to_db(out, cc_grid_npix(g));
out:
    if (s_src)
        OSRDestroySpatialReference(s_src);
    if (s_dst)
        OSRDestroySpatialReference(s_dst);
    if (ds)
        GDALClose(ds);
    free(db);
    return st;
}

static cc_status read_ard(const char *dir, const cc_grid *g, float *out[NPOL], cc_s1_info *info)
{
    cc_status st = CC_OK;
    const char *id = base_name(dir);
    char *json = NULL, *tif[NPOL] = {NULL, NULL};
    if (asprintf(&json, "%s/%s_labels_metadata.json", dir, id) < 0) {
        json = NULL;
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", dir);
        goto out;
    }
    snprintf(info->id, sizeof info->id, "%s", id);
    set_platform(info, id);
    for (int p = 0; p < NPOL; p++) {
        if (asprintf(&tif[p], "%s/%s_%s.tif", dir, id, pol_upper[p]) < 0) {
            tif[p] = NULL;
            st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", dir);
            goto out;
        }
        int *has = p == POL_VV ? &info->has_vv : &info->has_vh;
        *has = path_is_file(tif[p]);
    }
    if (!info->has_vv && !info->has_vh) {
        st = cc_error_set(CC_ERR_MISSING,
                          "%s: not a Sentinel-1 folder: no %s or %s_VH.tif (analysis-ready "
                          "patch) and no measurement/ (GRD SAFE)",
                          dir, base_name(tif[POL_VV]), id);
        goto out;
    }
    if ((st = ard_metadata(json, info)) != CC_OK)
        goto out;
    for (int p = 0; p < NPOL; p++) {
        int has = p == POL_VV ? info->has_vv : info->has_vh;
        if (has && out[p] && (st = ard_band(tif[p], g, out[p])) != CC_OK)
            goto out;
    }
out:
    free(json);
    free(tif[0]);
    free(tif[1]);
    return st;
}

/* ------------------------------------------------------------------------ */
/* (b) GRD: calibration / noise LUTs                                        */
/* ------------------------------------------------------------------------ */

/* A LUT given as vectors at image lines, each with values at pixel columns. */
typedef struct {
    int n;
    double *line;   /* [n], strictly increasing */
    int *np;        /* [n] values per vector    */
    double **pix;   /* [n][np], strictly increasing */
    double **val;   /* [n][np] */
} s1_lut;

static void lut_free(s1_lut *l)
{
    for (int i = 0; i < l->n; i++) {
        if (l->pix)
            free(l->pix[i]);
        if (l->val)
            free(l->val[i]);
    }
    free(l->line);
    free(l->np);
    free(l->pix);
    free(l->val);
    memset(l, 0, sizeof *l);
}

/* Space-separated numbers of element `name` below `vec` -> *out (malloc'ed). */
static cc_status number_list(const char *file, CPLXMLNode *vec, int index, const char *name,
                             double **out, int *count)
{
    const char *s = CPLGetXMLValue(vec, name, NULL);
    *out = NULL;
    *count = 0;
    if (!s)
        return cc_error_set(CC_ERR_MISSING, "%s: <%s> %d has no <%s> LUT", file, vec->pszValue,
                            index, name);
    size_t cap = 16, n = 0;
    double *v = malloc(cap * sizeof *v);
    if (!v)
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", file);
    const char *p = s;
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        char *end = NULL;
        double x = strtod(p, &end);
        if (end == p || !isfinite(x) || (*end && !isspace((unsigned char)*end))) {
            free(v);
            return cc_error_set(CC_ERR_FORMAT, "%s: bad number '%.20s' in <%s>", file, p, name);
        }
        if (n == cap) {
            double *nv = realloc(v, 2 * cap * sizeof *v);
            if (!nv) {
                free(v);
                return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", file);
            }
            v = nv;
            cap *= 2;
        }
        v[n++] = x;
        p = end;
    }
    if (n == 0 || n > 10000000) {
        free(v);
        return cc_error_set(CC_ERR_FORMAT, "%s: empty <%s> list", file, name);
    }
    *out = v;
    *count = (int)n;
    return CC_OK;
}

/* Reads <list>/<vector> elements with <line>, <pixel> and <valname>. */
static cc_status lut_parse(const char *file, CPLXMLNode *root, const char *list,
                           const char *vector, const char *valname, int positive, s1_lut *l)
{
    cc_status st = CC_OK;
    memset(l, 0, sizeof *l);
    CPLXMLNode *lst = CPLGetXMLNode(root, list);
    int cap = 0;
    for (CPLXMLNode *c = lst ? lst->psChild : NULL; c; c = c->psNext)
        cap += c->eType == CXT_Element && EQUAL(c->pszValue, vector);
    if (cap == 0)
        return cc_error_set(CC_ERR_MISSING, "%s: no <%s> in <%s> (no %s LUT)", file, vector, list,
                            valname);
    l->line = calloc((size_t)cap, sizeof *l->line);
    l->np = calloc((size_t)cap, sizeof *l->np);
    l->pix = calloc((size_t)cap, sizeof *l->pix);
    l->val = calloc((size_t)cap, sizeof *l->val);
    if (!l->line || !l->np || !l->pix || !l->val) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", file);
        goto out;
    }
    for (CPLXMLNode *c = lst->psChild; c; c = c->psNext) {
        if (c->eType != CXT_Element || !EQUAL(c->pszValue, vector))
            continue;
        int i = l->n++, npx = 0, nv = 0;
        const char *ls = CPLGetXMLValue(c, "line", NULL);
        char *end = NULL;
        l->line[i] = ls ? strtod(ls, &end) : NAN;
        if (!ls || end == ls || !isfinite(l->line[i])) {
            st = cc_error_set(CC_ERR_FORMAT, "%s: <%s> %d has no valid <line>", file, vector, i + 1);
            goto out;
        }
        if (i > 0 && !(l->line[i] > l->line[i - 1])) {
            st = cc_error_set(CC_ERR_FORMAT, "%s: <%s> lines not increasing at vector %d", file,
                              vector, i + 1);
            goto out;
        }
        if ((st = number_list(file, c, i + 1, "pixel", &l->pix[i], &npx)) != CC_OK ||
            (st = number_list(file, c, i + 1, valname, &l->val[i], &nv)) != CC_OK)
            goto out;
        if (npx != nv) {
            st = cc_error_set(CC_ERR_FORMAT, "%s: vector %d has %d pixels but %d %s values", file,
                              i + 1, npx, nv, valname);
            goto out;
        }
        l->np[i] = npx;
        for (int j = 0; j < npx; j++) {
            if ((j > 0 && !(l->pix[i][j] > l->pix[i][j - 1])) ||
                (positive ? !(l->val[i][j] > 0.0) : !(l->val[i][j] >= 0.0))) {
                st = cc_error_set(CC_ERR_FORMAT,
                                  "%s: vector %d: pixels not increasing or bad %s value at %d",
                                  file, i + 1, valname, j + 1);
                goto out;
            }
        }
    }
out:
    if (st != CC_OK)
        lut_free(l);
    return st;
}

/* Linear interpolation of vector k over columns x0..x0+w-1 (clamped at the
 * ends) into row[0..w-1]. */
static void lut_row(const s1_lut *l, int k, int x0, int w, float *row)
{
    const double *px = l->pix[k], *v = l->val[k];
    int n = l->np[k], j = 0;
    for (int i = 0; i < w; i++) {
        int x = x0 + i;
        if (n == 1 || x <= px[0]) {
            row[i] = (float)v[0];
            continue;
        }
        if (x >= px[n - 1]) {
            row[i] = (float)v[n - 1];
            continue;
        }
        while (j + 1 < n - 1 && px[j + 1] <= x)
            j++;
        double t = (x - px[j]) / (px[j + 1] - px[j]);
        row[i] = (float)((1.0 - t) * v[j] + t * v[j + 1]);
    }
}

/* Bilinear evaluator over (line, pixel), one image row at a time. */
typedef struct {
    const s1_lut *l;
    int x0, w;       /* columns x0..x0+w-1                                 */
    int k;           /* index of the vector cached in a (and k+1 in b)     */
    float *a, *b;
} lut_eval;

/* Fills row (w values) with the LUT at image line y. */
static void lut_eval_row(lut_eval *e, int y, float *row)
{
    const s1_lut *l = e->l;
    int k = 0;
    while (k + 1 < l->n - 1 && l->line[k + 1] <= y)
        k++;
    if (k != e->k) {
        lut_row(l, k, e->x0, e->w, e->a);
        lut_row(l, l->n > 1 ? k + 1 : k, e->x0, e->w, e->b);
        e->k = k;
    }
    double t = 0.0;
    if (l->n > 1) {
        t = (y - l->line[k]) / (l->line[k + 1] - l->line[k]);
        t = t < 0.0 ? 0.0 : t > 1.0 ? 1.0 : t;
    }
    for (int x = 0; x < e->w; x++)
        row[x] = (float)((1.0 - t) * e->a[x] + t * e->b[x]);
}

/* Parses an annotation XML with root element `rootname`. */
static cc_status xml_load(const char *file, const char *rootname, CPLXMLNode **doc,
                          CPLXMLNode **root)
{
    char reason[256];
    char want[64];
    CPLPushErrorHandler(CPLQuietErrorHandler);
    CPLErrorReset();
    *doc = CPLParseXMLFile(file);
    snprintf(reason, sizeof reason, "%s", CPLGetLastErrorMsg());
    CPLPopErrorHandler();
    if (!*doc)
        return cc_error_set(CC_ERR_FORMAT, "%s: not a well-formed XML document (%s)", file,
                            reason[0] ? reason : "parser gave no reason");
    CPLStripXMLNamespace(*doc, NULL, TRUE);
    snprintf(want, sizeof want, "=%s", rootname);
    *root = CPLGetXMLNode(*doc, want);
    if (!*root) {
        CPLDestroyXMLNode(*doc);
        *doc = NULL;
        return cc_error_set(CC_ERR_FORMAT, "%s: not a Sentinel-1 %s annotation (no <%s> root)",
                            file, rootname, rootname);
    }
    return CC_OK;
}

/* ------------------------------------------------------------------------ */
/* (b) GRD                                                                  */
/* ------------------------------------------------------------------------ */

/* Measurement TIFF of polarisation p in meas_dir (malloc'ed path), NULL if
 * there is none. */
static char *find_measurement(const char *meas_dir, int p)
{
    char **names = VSIReadDir(meas_dir);
    char *found = NULL;
    char tag[8];
    snprintf(tag, sizeof tag, "-%s", pol_lower[p]);
    /* deterministic: the lexicographically first match */
    const char *best = NULL;
    for (int i = 0; names && names[i]; i++) {
        const char *nm = names[i];
        size_t len = strlen(nm);
        int tiff = (len > 5 && !strcasecmp(nm + len - 5, ".tiff")) ||
                   (len > 4 && !strcasecmp(nm + len - 4, ".tif"));
        if (tiff && strcasestr(nm, tag) && (!best || strcmp(nm, best) < 0))
            best = nm;
    }
    if (best && asprintf(&found, "%s/%s", meas_dir, best) < 0)
        found = NULL;
    CSLDestroy(names);
    return found;
}

/* Calibrated linear sigma0 of one GRD measurement TIFF warped onto g. */
static cc_status grd_band(const char *root_dir, const char *tif, const cc_grid *g, float *out,
                          cc_s1_info *info, int *noise_used)
{
    cc_status st = CC_OK;
    char *stem = NULL, *cal_path = NULL, *noise_path = NULL;
    CPLXMLNode *cal_doc = NULL, *noise_doc = NULL;
    s1_lut cal = {0}, noise = {0};
    GDALDatasetH ds = NULL, mem = NULL;
    float *lin = NULL, *arow = NULL, *nrow = NULL, *ea = NULL, *eb = NULL, *na = NULL,
          *nb = NULL;
    uint16_t *dn = NULL;

    const char *b = base_name(tif);
    const char *dot = strrchr(b, '.');
    stem = strndup(b, (size_t)(dot - b));
    if (!stem || asprintf(&cal_path, "%s/annotation/calibration/calibration-%s.xml", root_dir,
                          stem) < 0 ||
        asprintf(&noise_path, "%s/annotation/calibration/noise-%s.xml", root_dir, stem) < 0) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", tif);
        goto out;
    }
    if (!path_is_file(cal_path)) {
        st = cc_error_set(CC_ERR_MISSING,
                          "%s: calibration annotation missing (needed for sigma0 = DN^2/A^2 of %s)",
                          cal_path, b);
        goto out;
    }
    CPLXMLNode *croot = NULL;
    if ((st = xml_load(cal_path, "calibration", &cal_doc, &croot)) != CC_OK ||
        (st = lut_parse(cal_path, croot, "calibrationVectorList", "calibrationVector",
                        "sigmaNought", 1, &cal)) != CC_OK)
        goto out;
    if (info->time == 0.0) {
        const char *t = CPLGetXMLValue(croot, "adsHeader.startTime", NULL);
        if (t && (st = parse_utc(cal_path, "<adsHeader><startTime>", t, &info->day,
                                 &info->time)) != CC_OK)
            goto out;
        set_platform(info, CPLGetXMLValue(croot, "adsHeader.missionId", NULL));
    }
    int use_noise = path_is_file(noise_path);
    if (use_noise) {
        CPLXMLNode *nroot = NULL;
        if ((st = xml_load(noise_path, "noise", &noise_doc, &nroot)) != CC_OK)
            goto out;
        if (CPLGetXMLNode(nroot, "noiseRangeVectorList"))
            st = lut_parse(noise_path, nroot, "noiseRangeVectorList", "noiseRangeVector",
                           "noiseRangeLut", 0, &noise);
        else
            st = lut_parse(noise_path, nroot, "noiseVectorList", "noiseVector", "noiseLut", 0,
                           &noise);
        if (st != CC_OK)
            goto out;
    }

    if ((st = open_raster(tif, &ds)) != CC_OK)
        goto out;
    int w = GDALGetRasterXSize(ds), h = GDALGetRasterYSize(ds);
    double gt[6];
    int has_gt = GDALGetGeoTransform(ds, gt) == CE_None && GDALGetProjectionRef(ds)[0];
    int ngcp = GDALGetGCPCount(ds);
    if (!has_gt && (ngcp < 3 || !GDALGetGCPProjection(ds) || !GDALGetGCPProjection(ds)[0])) {
        st = cc_error_set(CC_ERR_CRS, "%s: neither GCPs with a CRS nor a geotransform", tif);
        goto out;
    }
    /* only the part of the image that covers g is read and calibrated */
    int x0 = 0, y0 = 0;
    if (!source_window(ds, g, !has_gt, &x0, &y0, &w, &h)) {
        for (size_t i = 0, n = cc_grid_npix(g); i < n; i++)
            out[i] = NAN;
        *noise_used = use_noise;
        goto out;
    }
    lin = cc_malloc3((size_t)w, (size_t)h, sizeof *lin);
    dn = cc_malloc3((size_t)w, 1, sizeof *dn);
    arow = cc_malloc3((size_t)w, 1, sizeof *arow);
    nrow = cc_malloc3((size_t)w, 1, sizeof *nrow);
    ea = cc_malloc3((size_t)w, 1, sizeof *ea);
    eb = cc_malloc3((size_t)w, 1, sizeof *eb);
    na = cc_malloc3((size_t)w, 1, sizeof *na);
    nb = cc_malloc3((size_t)w, 1, sizeof *nb);
    if (!lin || !dn || !arow || !nrow || !ea || !eb || !na || !nb) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory for %d x %d pixels", tif, w, h);
        goto out;
    }
    lut_eval ce = {&cal, x0, w, -1, ea, eb}, ne = {&noise, x0, w, -1, na, nb};
    GDALRasterBandH band = GDALGetRasterBand(ds, 1);
    for (int y = 0; y < h; y++) {
        CPLErrorReset();
        if (GDALRasterIO(band, GF_Read, x0, y0 + y, w, 1, dn, w, 1, GDT_UInt16, 0, 0) !=
            CE_None) {
            st = cc_error_set(CC_ERR_FORMAT, "%s: cannot read line %d: %s", tif, y0 + y,
                              gdal_reason(tif));
            goto out;
        }
        lut_eval_row(&ce, y0 + y, arow);
        if (use_noise)
            lut_eval_row(&ne, y0 + y, nrow);
        float *o = lin + (size_t)y * (size_t)w;
        for (int x = 0; x < w; x++) {
            if (dn[x] == 0) {
                o[x] = NAN;
                continue;
            }
            double p = (double)dn[x] * (double)dn[x];
            double a = arow[x];
            if (use_noise)
                p -= nrow[x];
            float s = (float)(p / (a * a));
            o[x] = use_noise && !(s > FLOOR_LINEAR) ? FLOOR_LINEAR : s;
        }
    }
    if (!(mem = mem_linear(lin, x0, y0, w, h, has_gt ? gt : NULL, GDALGetProjectionRef(ds), ds))) {
        st = cc_error_set(CC_ERR_INTERNAL, "%s: cannot wrap the band in memory", tif);
        goto out;
    }
    if ((st = warp_linear(mem, tif, g, !has_gt, out)) != CC_OK)
        goto out;
    linear_to_db(out, cc_grid_npix(g));
    *noise_used = use_noise;
    if (!info->id[0])
        snprintf(info->id, sizeof info->id, "%s", stem);
out:
    if (mem)
        GDALClose(mem);
    if (ds)
        GDALClose(ds);
    if (cal_doc)
        CPLDestroyXMLNode(cal_doc);
    if (noise_doc)
        CPLDestroyXMLNode(noise_doc);
    lut_free(&cal);
    lut_free(&noise);
    free(lin);
    free(dn);
    free(arow);
    free(nrow);
    free(ea);
    free(eb);
    free(na);
    free(nb);
    free(stem);
    free(cal_path);
    free(noise_path);
    return st;
}

static cc_status read_grd(const char *root_dir, const char *meas_dir, const cc_grid *g,
                          float *out[NPOL], cc_s1_info *info)
{
    cc_status st = CC_OK;
    char *tif[NPOL] = {NULL, NULL};
    float *scratch = NULL;
    int noise_all = 1;
    for (int p = 0; p < NPOL; p++)
        tif[p] = find_measurement(meas_dir, p);
    info->has_vv = tif[POL_VV] != NULL;
    info->has_vh = tif[POL_VH] != NULL;
    if (!info->has_vv && !info->has_vh) {
        st = cc_error_set(CC_ERR_MISSING, "%s: no VV or VH measurement TIFF (*-vv*.tiff, *-vh*.tiff)",
                          meas_dir);
        goto out;
    }
    for (int p = 0; p < NPOL; p++) {
        if (!tif[p])
            continue;
        /* calibration is checked (and the time read) even for an unwanted pol */
        float *dst = out[p];
        if (!dst && !(dst = scratch = cc_malloc3(cc_grid_npix(g), 1, sizeof *dst))) {
            st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", meas_dir);
            goto out;
        }
        int noise_used = 0;
        if ((st = grd_band(root_dir, tif[p], g, dst, info, &noise_used)) != CC_OK)
            goto out;
        noise_all &= noise_used;
        free(scratch);
        scratch = NULL;
    }
    info->noise_removed = noise_all;
out:
    free(scratch);
    free(tif[0]);
    free(tif[1]);
    return st;
}

/* ------------------------------------------------------------------------ */
/* entry point                                                              */
/* ------------------------------------------------------------------------ */

cc_status cc_s1_read(const char *path, const cc_grid *g, float *vv_db, float *vh_db,
                     cc_s1_info *info)
{
    cc_status st = CC_OK;
    cc_s1_info tmp_info;
    char *dir = NULL, *meas = NULL, *root = NULL;
    float *work[NPOL] = {NULL, NULL}, *user[NPOL] = {vv_db, vh_db};
    size_t n = g && g->width > 0 && g->height > 0 ? cc_grid_npix(g) : 0;
    if (!info)
        info = &tmp_info;
    memset(info, 0, sizeof *info);
    if (!path || !*path || !g || n == 0 || !g->wkt || !*g->wkt) {
        st = cc_error_set(CC_ERR_ARG, "cc_s1_read: %s", !path || !*path ? "empty path"
                                                         : "output grid is empty or has no CRS");
        goto out;
    }
    if (!(dir = trim_slashes(path))) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    if (!path_is_dir(dir)) {
        st = cc_error_set(CC_ERR_IO, "%s: not a folder (expected a Sentinel-1 patch or SAFE folder)",
                          dir);
        goto out;
    }
    for (int p = 0; p < NPOL; p++)
        if (user[p] && !(work[p] = cc_malloc3(n, 1, sizeof(float)))) {
            st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory for the output grid", dir);
            goto out;
        }
    for (int p = 0; p < NPOL; p++)
        for (size_t i = 0; work[p] && i < n; i++)
            work[p][i] = NAN;

    if (asprintf(&meas, "%s/measurement", dir) < 0) {
        meas = NULL;
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", dir);
        goto out;
    }
    if (path_is_dir(meas)) {
        info->layout = CC_S1_GRD;
        st = read_grd(dir, meas, g, work, info);
    } else if (!strcmp(base_name(dir), "measurement")) {
        root = strdup(dir);
        if (!root) {
            st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", dir);
            goto out;
        }
        char *slash = strrchr(root, '/');
        if (slash && slash != root)
            *slash = '\0';
        else
            strcpy(root, ".");
        info->layout = CC_S1_GRD;
        st = read_grd(root, dir, g, work, info);
    } else {
        info->layout = CC_S1_ARD;
        st = read_ard(dir, g, work, info);
    }
    if (st == CC_OK)
        for (int p = 0; p < NPOL; p++)
            if (user[p])
                memcpy(user[p], work[p], n * sizeof(float));
out:
    if (st != CC_OK)
        for (int p = 0; p < NPOL; p++)
            for (size_t i = 0; user[p] && i < n; i++)
                user[p][i] = NAN;
    free(work[0]);
    free(work[1]);
    free(dir);
    free(meas);
    free(root);
    return st;
}
