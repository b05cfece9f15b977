/* `clearcube cloudmask` on files (pipeline/cloudless/cloudmask_run.h): class
 * rasters read and checked against the mask's grid, the scene's mask, the
 * evaluation and its JSON, the GeoTIFF with its colour table. */
#define _GNU_SOURCE /* strdup */
#include "pipeline/cloudless/cloudmask_run.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gdal.h>
#include <jansson.h>

#include "core/alloc.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/reflectance.h"
#include "io/grid/grid.h"

/* A class raster read from a file: band 1 as bytes (values > 255 become 255). */
typedef struct {
    int width, height;
    double gt[6];
    char *wkt; /* owned, may be NULL */
    uint8_t *v;
} class_raster;

static void class_raster_free(class_raster *r)
{
    free(r->wkt);
    free(r->v);
    memset(r, 0, sizeof *r);
}

static cc_status read_classes(const char *path, class_raster *r)
{
    cc_status st = CC_ERR_IO;
    memset(r, 0, sizeof *r);
    CPLPushErrorHandler(CPLQuietErrorHandler);
    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    CPLPopErrorHandler();
    if (!ds)
        return cc_error_set(CC_ERR_IO, "%s: cannot open as a raster", path);
    GDALRasterBandH b = GDALGetRasterBand(ds, 1);
    GDALDataType t = b ? GDALGetRasterDataType(b) : GDT_Unknown;
    if (t != GDT_Byte && t != GDT_UInt16) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: band 1 is %s; expected a Byte (or UInt16) class raster", path,
                          GDALGetDataTypeName(t));
        goto out;
    }
    if (GDALGetGeoTransform(ds, r->gt) != CE_None) {
        st = cc_error_set(CC_ERR_CRS, "%s: raster has no georeferencing (geotransform)", path);
        goto out;
    }
    r->width = GDALGetRasterXSize(ds);
    r->height = GDALGetRasterYSize(ds);
    const char *wkt = GDALGetProjectionRef(ds);
    if (wkt && wkt[0] && !(r->wkt = strdup(wkt))) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    if (!(r->v = cc_malloc3((size_t)r->width, (size_t)r->height, 1))) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: cannot allocate %d x %d pixels", path, r->width, r->height);
        goto out;
    }
    if (GDALRasterIO(b, GF_Read, 0, 0, r->width, r->height, r->v, r->width, r->height, GDT_Byte, 0, 0) !=
        CE_None) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: cannot read band 1", path);
        goto out;
    }
    st = CC_OK;
out:
    if (st != CC_OK)
        class_raster_free(r);
    GDALClose(ds);
    return st;
}

static int same_crs(const char *a, const char *b)
{
    if (!a || !a[0] || !b || !b[0])
        return 1; /* one side without a CRS: the geotransform decides */
    return cc_scene_same_crs(a, b);
}

/* CC_OK if raster r (read from path) lies on grid g, else a one-line error. */
static cc_status check_grid(const char *path, const class_raster *r, const cc_grid *g)
{
    int same = r->width == g->width && r->height == g->height;
    for (int k = 0; k < 6 && same; k++)
        same = fabs(r->gt[k] - g->gt[k]) <= 1e-6 * fabs(g->gt[1]);
    if (!same)
        return cc_error_set(CC_ERR_ARG,
                            "%s: grid %d x %d at (%.10g, %.10g), %g m differs from the mask's %d x %d at "
                            "(%.10g, %.10g), %g m (see --resolution)",
                            path, r->width, r->height, r->gt[0], r->gt[3], r->gt[1], g->width, g->height,
                            g->gt[0], g->gt[3], g->gt[1]);
    if (!same_crs(r->wkt, g->wkt))
        return cc_error_set(CC_ERR_CRS, "%s: coordinate reference system differs from the mask's", path);
    return CC_OK;
}

/* Writes the mask as a GeoTIFF at tmp (caller renames it into place). */
static cc_status write_mask(const char *tmp, const char *final, const cc_grid *g, const uint8_t *mask,
                            const char *method, unsigned terms)
{
    cc_status st = CC_ERR_IO;
    GDALDriverH drv = GDALGetDriverByName("GTiff");
    if (!drv)
        return cc_error_set(CC_ERR_UNSUPPORTED, "%s: GDAL has no GTiff driver", final);
    char *opts[] = {"COMPRESS=DEFLATE", NULL};
    CPLPushErrorHandler(CPLQuietErrorHandler);
    GDALDatasetH ds = GDALCreate(drv, tmp, g->width, g->height, 1, GDT_Byte, opts);
    CPLPopErrorHandler();
    if (!ds)
        return cc_error_set(CC_ERR_IO, "%s: cannot create the mask file", final);
    GDALColorTableH ct = GDALCreateColorTable(GPI_RGB);
    static const GDALColorEntry col[CC_CM_NCLASSES] = {{0, 0, 0, 0},         {60, 140, 60, 255},
                                                       {255, 255, 255, 255}, {70, 70, 70, 255},
                                                       {120, 230, 255, 255}, {30, 60, 200, 255}};
    for (int c = 0; c < CC_CM_NCLASSES; c++)
        GDALSetColorEntry(ct, c, &col[c]);
    double gt[6];
    memcpy(gt, g->gt, sizeof gt);
    GDALRasterBandH b = GDALGetRasterBand(ds, 1);
    char terms_s[96] = "";
    for (int k = 0; k < 5; k++)
        if (terms & (1u << k)) {
            static const char *const tn[5] = {"B2", "B1", "B1+B10", "B2+B3+B4", "NDSI"};
            strncat(terms_s, terms_s[0] ? "," : "", sizeof terms_s - strlen(terms_s) - 1);
            strncat(terms_s, tn[k], sizeof terms_s - strlen(terms_s) - 1);
        }
    int bad = GDALSetGeoTransform(ds, gt) != CE_None || (g->wkt && GDALSetProjection(ds, g->wkt) != CE_None) ||
              GDALSetRasterColorTable(b, ct) != CE_None || GDALSetRasterNoDataValue(b, 0) != CE_None ||
              GDALSetRasterColorInterpretation(b, GCI_PaletteIndex) != CE_None;
    GDALSetDescription(b, "cloudmask");
    GDALSetMetadataItem(ds, "CLEARCUBE_CLASSES", "0 nodata,1 clear,2 cloud,3 shadow,4 snow,5 water", NULL);
    GDALSetMetadataItem(ds, "CLEARCUBE_METHOD", method, NULL);
    if (terms_s[0])
        GDALSetMetadataItem(ds, "CLEARCUBE_CLOUD_FEATURES", terms_s, NULL);
    if (!bad)
        bad = GDALRasterIO(b, GF_Write, 0, 0, g->width, g->height, (void *)mask, g->width, g->height, GDT_Byte,
                           0, 0) != CE_None;
    GDALDestroyColorTable(ct);
    GDALClose(ds);
    if (bad) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot write the mask", final);
        goto out;
    }
    st = CC_OK;
out:
    return st;
}

static json_t *jnum(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *class_json(const cc_cloudmask_class_score *c)
{
    return json_pack("{s:I,s:I,s:I,s:o,s:o,s:o,s:o}", "tp", (json_int_t)c->tp, "fp", (json_int_t)c->fp, "fn",
                     (json_int_t)c->fn, "precision", jnum(c->precision), "recall", jnum(c->recall), "f1",
                     jnum(c->f1), "iou", jnum(c->iou));
}

static char *scores_json(const cc_cloudmask_scores *s, const char *pred, const char *ref, const char *kind,
                         const char *method)
{
    json_t *conf = json_object();
    for (int p = 0; p < CC_CM_NCLASSES; p++) {
        json_t *row = json_object();
        for (int r = 0; r < CC_CM_NCLASSES; r++)
            json_object_set_new(row, cc_cloudmask_class_name(r), json_integer((json_int_t)s->confusion[p][r]));
        json_object_set_new(conf, cc_cloudmask_class_name(p), row);
    }
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:I,s:o,s:o,s:o,s:o}", "prediction", pred, "reference", ref,
                          "ref_kind", kind, "method", method, "pixels", (json_int_t)s->n, "overall_accuracy",
                          jnum(s->overall_accuracy), "cloud", class_json(&s->cloud), "shadow",
                          class_json(&s->shadow), "confusion_pred_ref", conf);
    char *txt = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(o);
    char *line = txt ? realloc(txt, strlen(txt) + 2) : NULL; /* the file ends with a newline */
    if (!line) {
        free(txt);
        return NULL;
    }
    return strcat(line, "\n");
}

/* One run: what its steps share. */
typedef struct {
    const cc_cloudmask_run_args *a;
    cc_cloudmask_options co;
    cc_scene *s;
    cc_grid g;
    uint8_t *mask, *refm;
    class_raster pred, ref, sclr;
    const char *used; /* "score", "scl" or "pred" */
    unsigned terms;
    char *js;
    char tmp_mask[4200], tmp_json[4200];
} cm_run;

/* The Sen2Cor classes on the mask's grid (--scl, or the scene's own SCL layer)
 * mapped to the mask classes. */
static cc_status cm_scl(cm_run *x, size_t n)
{
    const cc_cloudmask_run_args *a = x->a;
    cc_status st;
    if (a->scl_path) {
        if ((st = read_classes(a->scl_path, &x->sclr)) != CC_OK ||
            (st = check_grid(a->scl_path, &x->sclr, &x->g)) != CC_OK)
            return st;
    } else if (!x->s->scl.present) {
        return cc_error_set(CC_ERR_MISSING, "%s: --method scl but the scene has no SCL layer (give --scl)",
                            a->scene_path);
    } else {
        const cc_raster_u16 *r = &x->s->scl;
        x->sclr.width = r->width;
        x->sclr.height = r->height;
        memcpy(x->sclr.gt, r->gt, sizeof x->sclr.gt);
        if ((st = check_grid(r->source, &x->sclr, &x->g)) != CC_OK)
            return st;
        if (!(x->sclr.v = cc_malloc3(n, 1, 1)))
            return cc_error_set(CC_ERR_NOMEM, "%s: cannot allocate the mask", a->scene_path);
        for (size_t i = 0; i < n; i++)
            x->sclr.v[i] = r->dn[i] > 255 ? 255 : (uint8_t)r->dn[i];
    }
    cc_cloudmask_from_scl(x->sclr.v, n, x->mask);
    return CC_OK;
}

/* 1. The mask of a scene, by the score method or from the SCL. */
static cc_status cm_from_scene(cm_run *x)
{
    const cc_cloudmask_run_args *a = x->a;
    cc_status st;
    if ((st = cc_scene_open(a->scene_path, a->so, &x->s)) != CC_OK)
        return st;
    if ((st = cc_grid_for_scene(x->s, a->resolution, &x->g)) != CC_OK)
        return st;
    const cc_grid *g = &x->g;
    /* dsen2-cr's windows at 10 m (5 and 7 px) kept on the ground: 50 m and 70 m */
    x->co.closing_size = isnan(a->closing) ? cc_cloudmask_window_px(50.0, g->gt[1]) : (int)a->closing;
    x->co.mean_size = isnan(a->mean) ? cc_cloudmask_window_px(70.0, g->gt[1]) : (int)a->mean;
    const size_t n = cc_grid_npix(g);
    if (!(x->mask = cc_malloc3(n, 1, 1)))
        return cc_error_set(CC_ERR_NOMEM, "%s: cannot allocate the mask", a->scene_path);
    int use_scl = !strcmp(a->method, "scl") || (!strcmp(a->method, "auto") && (a->scl_path || x->s->scl.present));
    if (use_scl) {
        x->used = "scl";
        if ((st = cm_scl(x, n)) != CC_OK)
            return st;
    } else {
        x->used = "score";
        if ((st = cc_cloudmask_scene(x->s, g, &x->co, x->mask, &x->terms)) != CC_OK)
            return st;
    }
    size_t cnt[CC_CM_NCLASSES] = {0};
    for (size_t i = 0; i < n; i++)
        cnt[x->mask[i] < CC_CM_NCLASSES ? x->mask[i] : 0]++;
    cc_info("cloudmask: %s on %d x %d at %g m (method %s): cloud %.1f %%, shadow %.1f %%, nodata %zu",
            x->s->product_id, g->width, g->height, g->gt[1], x->used, 100.0 * cnt[CC_CM_CLOUD] / (double)n,
            100.0 * cnt[CC_CM_SHADOW] / (double)n, cnt[0]);
    return CC_OK;
}

/* 1. The mask read from a file (--pred); its grid is the grid. */
static cc_status cm_from_pred(cm_run *x)
{
    cc_status st = read_classes(x->a->pred_path, &x->pred);
    if (st != CC_OK)
        return st;
    x->g.width = x->pred.width;
    x->g.height = x->pred.height;
    memcpy(x->g.gt, x->pred.gt, sizeof x->g.gt);
    x->g.wkt = x->pred.wkt;
    x->mask = x->pred.v;
    x->pred.v = NULL;
    return CC_OK;
}

/* 2. Evaluation against the reference (before anything is written: a bad
 * reference leaves no output), and the JSON text of the scores. */
static cc_status cm_evaluate(cm_run *x, cc_cloudmask_scores *sc)
{
    const cc_cloudmask_run_args *a = x->a;
    cc_status st;
    if ((st = read_classes(a->ref_path, &x->ref)) != CC_OK || (st = check_grid(a->ref_path, &x->ref, &x->g)) != CC_OK)
        return st;
    const size_t n = cc_grid_npix(&x->g);
    if (!(x->refm = cc_malloc3(n, 1, 1)))
        return cc_error_set(CC_ERR_NOMEM, "%s: cannot allocate the mask", a->ref_path);
    if (!strcmp(a->ref_kind, "scl"))
        cc_cloudmask_from_scl(x->ref.v, n, x->refm);
    else
        cc_cloudmask_from_fmask(x->ref.v, n, x->refm);
    cc_cloudmask_evaluate(x->mask, x->refm, n, sc);
    if (a->json_path &&
        !(x->js = scores_json(sc, a->scene_path ? a->out : a->pred_path, a->ref_path, a->ref_kind, x->used)))
        return cc_error_set(CC_ERR_NOMEM, "%s: cannot format the scores", a->json_path);
    return CC_OK;
}

/* 3. Outputs: temporary files, renamed into place only when all are written. */
static cc_status cm_write(cm_run *x)
{
    const cc_cloudmask_run_args *a = x->a;
    const char *tl[2], *fl[2];
    int nout = 0;
    cc_status st;
    if (a->scene_path) {
        if ((st = cc_fs_temp_name(a->out, NULL, x->tmp_mask, sizeof x->tmp_mask)) != CC_OK ||
            (st = write_mask(x->tmp_mask, a->out, &x->g, x->mask, x->used, x->terms)) != CC_OK)
            return st;
        tl[nout] = x->tmp_mask;
        fl[nout++] = a->out;
    }
    if (x->js) {
        if ((st = cc_fs_temp_name(a->json_path, NULL, x->tmp_json, sizeof x->tmp_json)) != CC_OK ||
            (st = cc_fs_write_file(x->tmp_json, x->js, strlen(x->js))) != CC_OK)
            return st;
        tl[nout] = x->tmp_json;
        fl[nout++] = a->json_path;
    }
    st = cc_fs_commit_all(nout, tl, fl);
    x->tmp_mask[0] = x->tmp_json[0] = '\0'; /* committed, or removed by the failed commit */
    return st;
}

cc_status cc_cloudmask_run(const cc_cloudmask_run_args *a, cc_cloudmask_run_result *r)
{
    memset(r, 0, sizeof *r);
    cm_run x;
    memset(&x, 0, sizeof x);
    x.a = a;
    x.co = a->co;
    x.used = "pred";
    cc_status st = a->scene_path ? cm_from_scene(&x) : cm_from_pred(&x);
    if (st == CC_OK && a->ref_path)
        st = cm_evaluate(&x, &r->scores);
    if (st == CC_OK)
        st = cm_write(&x);
    r->method = x.used;
    cc_fs_abort(x.tmp_mask);
    cc_fs_abort(x.tmp_json);
    free(x.js);
    free(x.mask);
    free(x.refm);
    class_raster_free(&x.pred);
    class_raster_free(&x.ref);
    class_raster_free(&x.sclr);
    cc_scene_free(x.s);
    return st;
}
