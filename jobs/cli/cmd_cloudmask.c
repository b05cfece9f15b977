/* clearcube cloudmask: the Sentinel-2 cloud and shadow mask (pipeline/cloudless/cloudmask.h)
 * of a scene as a GeoTIFF, and its evaluation against a reference mask (Sen2Cor
 * SCL or Fmask): precision, recall, F1 and IoU for cloud and shadow, overall
 * accuracy. */
#define _GNU_SOURCE /* strdup */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gdal.h>
#include <jansson.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "io/s2/scene.h"
#include "jobs/cli/cli.h"
#include "pipeline/cloudless/cloudmask.h"
#include "io/grid/grid.h"

void cc_cmd_cloudmask_help(void)
{
    printf("Usage: clearcube cloudmask SCENE --out MASK.tif [options]\n"
           "       clearcube cloudmask SCENE --out MASK.tif --reference REF --ref-kind scl|fmask [--json OUT]\n"
           "       clearcube cloudmask --pred MASK.tif --reference REF --ref-kind scl|fmask [--json OUT]\n\n"
           "Writes a cloud and shadow mask (GeoTIFF, uint8, colour table; 0 nodata, 1 clear,\n"
           "2 cloud, 3 shadow, 4 snow, 5 water) on the scene's grid. Method 'score': the\n"
           "dsen2-cr cloud score (min of rescaled B2, B1, B1+B10, B2+B3+B4, NDSI; 5x5 closing,\n"
           "7x7 mean, threshold) and shadow test, on TOA (L1C) or, documented, BOA (L2A)\n"
           "reflectance; features whose band is absent are dropped. Method 'scl': the\n"
           "Sen2Cor scene classification mapped to the classes (docs/cloudmask.md).\n"
           "With --reference the mask is compared with REF (same grid: same size,\n"
           "geotransform and CRS) and the scores printed (and written with --json).\n\n"
           "Options:\n"
           "  -o, --out MASK.tif        output mask (written atomically)\n"
           "  --method auto|score|scl   auto (default): scl when --scl is given or the\n"
           "                            scene brings an SCL layer, score otherwise\n"
           "  --scl SCL.tif             Sen2Cor SCL on the output grid (implies scl in auto)\n"
           "  --resolution M            output grid spacing in metres (default: finest band)\n"
           "  --threshold T             cloud score threshold (default 0.2)\n"
           "  --cloud-buffer M          dilate clouds by M metres (default 0)\n"
           "  --shadow-buffer M         dilate shadows by M metres (default 0)\n"
           "  --shadow-search M         shadows only within M metres of a cloud (default\n"
           "                            6000; 0 = anywhere, as in dsen2-cr)\n"
           "  --no-snow-water           no snow (4) and water (5) classes\n"
           "  --red-proxy               B4 stands in for missing B2/B3 (red/NIR/SWIR inputs)\n"
           "  --closing N --mean N      score windows in pixels (default: 50 m and 70 m on the\n"
           "                            ground, i.e. dsen2-cr's 5 and 7 px at 10 m, 3 and 3 at 20 m)\n"
           "  --pred MASK.tif           evaluate an existing mask (no SCENE)\n"
           "  --reference, --ref REF    reference mask to evaluate against\n"
           "  --ref-kind scl|fmask      how to read REF (Sen2Cor SCL codes or Fmask codes)\n"
           "  --json OUT.json           write the scores as JSON\n"
           CC_CLI_SCENE_OPTIONS_HELP);
}

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

static void print_scores(const cc_cloudmask_scores *s)
{
    printf("| class | precision | recall | F1 | IoU | TP | FP | FN |\n|---|---|---|---|---|---|---|---|\n");
    const cc_cloudmask_class_score *c[2] = {&s->cloud, &s->shadow};
    for (int k = 0; k < 2; k++)
        printf("| %s | %.3f | %.3f | %.3f | %.3f | %llu | %llu | %llu |\n", k ? "shadow" : "cloud",
               c[k]->precision, c[k]->recall, c[k]->f1, c[k]->iou, (unsigned long long)c[k]->tp,
               (unsigned long long)c[k]->fp, (unsigned long long)c[k]->fn);
    printf("\noverall accuracy (cloud / shadow / other): %.4f over %llu pixels valid in both\n",
           s->overall_accuracy, (unsigned long long)s->n);
}

/* The odd window (>= 1 px) closest from below to `metres` on the ground. */
static int odd_window(double metres, double pixel)
{
    double half = floor(metres / pixel / 2.0 + 1e-9);
    return half > 50 ? 101 : 2 * (int)half + 1;
}

/* The mask of a scene on grid g (allocated by the caller). */
static cc_status scene_mask(const cc_scene *s, const cc_grid *g, const cc_cloudmask_options *co, uint8_t *mask,
                            unsigned *terms)
{
    cc_status st = CC_ERR_INTERNAL;
    float *bands[CC_NBANDS] = {0};
    const size_t n = cc_grid_npix(g);
    cc_cloudmask_input in;
    memset(&in, 0, sizeof in);
    in.width = g->width;
    in.height = g->height;
    in.pixel_size_m = g->gt[1];
    for (int b = 0; b < CC_NBANDS; b++) {
        if (!s->band[b].present || b == CC_B09 || b == CC_B05 || b == CC_B06 || b == CC_B07 || b == CC_B12)
            continue; /* not used by the tests */
        if (!(bands[b] = cc_malloc3(n, 1, sizeof(float)))) {
            st = cc_error_set(CC_ERR_NOMEM, "cloudmask: cannot allocate %d x %d pixels", g->width, g->height);
            goto out;
        }
        if ((st = cc_grid_resample_band(&s->band[b], s->wkt, g, bands[b])) != CC_OK)
            goto out;
        for (size_t i = 0; i < n; i++)
            bands[b][i] = bands[b][i] <= 0.0f ? NAN : (float)((bands[b][i] + s->radio_offset[b]) / s->quantification);
        in.band[b] = bands[b];
    }
    *terms = cc_cloudmask_terms(&in, co);
    if ((st = cc_cloudmask_compute(&in, co, mask)) != CC_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", cc_error_message());
        st = cc_error_set(st, "%s: %s", s->product_id, msg);
        goto out;
    }
    st = CC_OK;
out:
    for (int b = 0; b < CC_NBANDS; b++)
        free(bands[b]);
    return st;
}

int cc_cmd_cloudmask(int argc, char **argv)
{
    enum { O_SCL = CC_OPT_SCENE_LAST + 1, O_METHOD, O_RES, O_THR, O_CBUF, O_SBUF, O_SSEARCH, O_NOSW, O_PROXY,
           O_PRED, O_REF, O_KIND, O_JSON, O_CLOSING, O_MEAN };
    static const struct option longopts[] = {
        {"out", required_argument, 0, 'o'},           {"help", no_argument, 0, 'h'},
        {"scl", required_argument, 0, O_SCL},         {"method", required_argument, 0, O_METHOD},
        {"resolution", required_argument, 0, O_RES},  {"threshold", required_argument, 0, O_THR},
        {"cloud-buffer", required_argument, 0, O_CBUF}, {"shadow-buffer", required_argument, 0, O_SBUF},
        {"shadow-search", required_argument, 0, O_SSEARCH}, {"no-snow-water", no_argument, 0, O_NOSW},
        {"red-proxy", no_argument, 0, O_PROXY},       {"pred", required_argument, 0, O_PRED},
        {"reference", required_argument, 0, O_REF},   {"ref", required_argument, 0, O_REF},
        {"ref-kind", required_argument, 0, O_KIND},   {"json", required_argument, 0, O_JSON},
        {"closing", required_argument, 0, O_CLOSING}, {"mean", required_argument, 0, O_MEAN},
        CC_CLI_SCENE_LONGOPTS,                        {0, 0, 0, 0}};
    int rc = 1;
    cc_status st = CC_OK;
    cc_scene_options so;
    cc_scene_options_init(&so);
    cc_cloudmask_options co;
    cc_cloudmask_options_init(&co);
    const char *out = NULL, *scl_path = NULL, *method = "auto", *pred_path = NULL, *ref_path = NULL,
               *kind = NULL, *json_path = NULL;
    double res = 0.0, closing = NAN, meanw = NAN;
    cc_scene *s = NULL;
    uint8_t *mask = NULL, *refm = NULL;
    class_raster pred = {0}, ref = {0}, sclr = {0};
    char *js = NULL;
    char tmp_mask[4200] = "", tmp_json[4200] = "";
    cc_grid g;
    memset(&g, 0, sizeof g);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        int r = cc_cli_scene_option(c, optarg, &so);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        switch (c) {
        case 'o': out = optarg; break;
        case 'h': cc_cmd_cloudmask_help(); return 0;
        case O_SCL: scl_path = optarg; break;
        case O_METHOD: method = optarg; break;
        case O_RES: if (cc_cli_parse_double("resolution", optarg, &res)) return 2; break;
        case O_THR: if (cc_cli_parse_double("threshold", optarg, &co.threshold)) return 2; break;
        case O_CBUF: if (cc_cli_parse_double("cloud-buffer", optarg, &co.cloud_buffer_m)) return 2; break;
        case O_SBUF: if (cc_cli_parse_double("shadow-buffer", optarg, &co.shadow_buffer_m)) return 2; break;
        case O_SSEARCH: if (cc_cli_parse_double("shadow-search", optarg, &co.shadow_search_m)) return 2; break;
        case O_NOSW: co.snow_water = 0; break;
        case O_PROXY: co.red_proxy = 1; break;
        case O_PRED: pred_path = optarg; break;
        case O_REF: ref_path = optarg; break;
        case O_KIND: kind = optarg; break;
        case O_JSON: json_path = optarg; break;
        case O_CLOSING: if (cc_cli_parse_double("closing", optarg, &closing)) return 2; break;
        case O_MEAN: if (cc_cli_parse_double("mean", optarg, &meanw)) return 2; break;
        default:
            fprintf(stderr, "clearcube: error: cloudmask: bad option (see clearcube cloudmask --help)\n");
            return 2;
        }
    }
    const char *scene_path = optind < argc ? argv[optind] : NULL;
    if (optind + 1 < argc || (!scene_path && !pred_path) || (scene_path && pred_path)) {
        fprintf(stderr, "clearcube: error: cloudmask: need one SCENE (or --pred MASK without a scene; see "
                        "clearcube cloudmask --help)\n");
        return 2;
    }
    if (scene_path && !out) {
        fprintf(stderr, "clearcube: error: cloudmask: need --out MASK.tif\n");
        return 2;
    }
    if (strcmp(method, "auto") && strcmp(method, "score") && strcmp(method, "scl")) {
        fprintf(stderr, "clearcube: error: cloudmask: --method: '%s' is not auto, score or scl\n", method);
        return 2;
    }
    if ((ref_path || pred_path || json_path) &&
        (!ref_path || !kind || (strcmp(kind, "scl") && strcmp(kind, "fmask")))) {
        fprintf(stderr, "clearcube: error: cloudmask: evaluation needs --reference REF and --ref-kind scl|fmask\n");
        return 2;
    }
    if ((!isnan(closing) && !(closing >= 1 && closing == floor(closing) && fmod(closing, 2) == 1)) ||
        (!isnan(meanw) && !(meanw >= 1 && meanw == floor(meanw) && fmod(meanw, 2) == 1))) {
        fprintf(stderr, "clearcube: error: cloudmask: --closing and --mean must be odd pixel counts >= 1\n");
        return 2;
    }
    if (!(res >= 0.0) || !(co.threshold >= 0.0) || co.cloud_buffer_m < 0 || co.shadow_buffer_m < 0 ||
        co.shadow_search_m < 0) {
        fprintf(stderr, "clearcube: error: cloudmask: --resolution, --threshold and the distances must be >= 0\n");
        return 2;
    }

    /* 1. the mask: computed from a scene, or read (--pred) */
    unsigned terms = 0;
    const char *used = "pred";
    if (scene_path) {
        if ((st = cc_scene_open(scene_path, &so, &s)) != CC_OK)
            goto out;
        if ((st = cc_grid_for_scene(s, res, &g)) != CC_OK)
            goto out;
        /* dsen2-cr's windows at 10 m (5 and 7 px) kept on the ground: 50 m and 70 m */
        co.closing_size = isnan(closing) ? odd_window(50.0, g.gt[1]) : (int)closing;
        co.mean_size = isnan(meanw) ? odd_window(70.0, g.gt[1]) : (int)meanw;
        const size_t n = cc_grid_npix(&g);
        if (!(mask = cc_malloc3(n, 1, 1))) {
            st = cc_error_set(CC_ERR_NOMEM, "%s: cannot allocate the mask", scene_path);
            goto out;
        }
        int use_scl = !strcmp(method, "scl") || (!strcmp(method, "auto") && (scl_path || s->scl.present));
        if (use_scl) {
            used = "scl";
            if (scl_path) {
                if ((st = read_classes(scl_path, &sclr)) != CC_OK || (st = check_grid(scl_path, &sclr, &g)) != CC_OK)
                    goto out;
            } else if (!s->scl.present) {
                st = cc_error_set(CC_ERR_MISSING, "%s: --method scl but the scene has no SCL layer (give --scl)",
                                  scene_path);
                goto out;
            } else {
                const cc_raster_u16 *r = &s->scl;
                sclr.width = r->width;
                sclr.height = r->height;
                memcpy(sclr.gt, r->gt, sizeof sclr.gt);
                if ((st = check_grid(r->source, &sclr, &g)) != CC_OK)
                    goto out;
                if (!(sclr.v = cc_malloc3(n, 1, 1))) {
                    st = cc_error_set(CC_ERR_NOMEM, "%s: cannot allocate the mask", scene_path);
                    goto out;
                }
                for (size_t i = 0; i < n; i++)
                    sclr.v[i] = r->dn[i] > 255 ? 255 : (uint8_t)r->dn[i];
            }
            cc_cloudmask_from_scl(sclr.v, n, mask);
        } else {
            used = "score";
            if ((st = scene_mask(s, &g, &co, mask, &terms)) != CC_OK)
                goto out;
        }
        size_t cnt[CC_CM_NCLASSES] = {0};
        for (size_t i = 0; i < n; i++)
            cnt[mask[i] < CC_CM_NCLASSES ? mask[i] : 0]++;
        cc_info("cloudmask: %s on %d x %d at %g m (method %s): cloud %.1f %%, shadow %.1f %%, nodata %zu", s->product_id,
                g.width, g.height, g.gt[1], used, 100.0 * cnt[CC_CM_CLOUD] / (double)n,
                100.0 * cnt[CC_CM_SHADOW] / (double)n, cnt[0]);
    } else {
        if ((st = read_classes(pred_path, &pred)) != CC_OK)
            goto out;
        g.width = pred.width;
        g.height = pred.height;
        memcpy(g.gt, pred.gt, sizeof g.gt);
        g.wkt = pred.wkt;
        mask = pred.v;
        pred.v = NULL;
    }

    /* 2. evaluation (before anything is written: a bad reference leaves no output) */
    cc_cloudmask_scores sc;
    if (ref_path) {
        if ((st = read_classes(ref_path, &ref)) != CC_OK || (st = check_grid(ref_path, &ref, &g)) != CC_OK)
            goto out;
        const size_t n = cc_grid_npix(&g);
        if (!(refm = cc_malloc3(n, 1, 1))) {
            st = cc_error_set(CC_ERR_NOMEM, "%s: cannot allocate the mask", ref_path);
            goto out;
        }
        if (!strcmp(kind, "scl"))
            cc_cloudmask_from_scl(ref.v, n, refm);
        else
            cc_cloudmask_from_fmask(ref.v, n, refm);
        cc_cloudmask_evaluate(mask, refm, n, &sc);
        if (json_path && !(js = scores_json(&sc, scene_path ? out : pred_path, ref_path, kind, used))) {
            st = cc_error_set(CC_ERR_NOMEM, "%s: cannot format the scores", json_path);
            goto out;
        }
    }

    /* 3. outputs: temporary files, renamed into place only when all are written */
    const char *tl[2], *fl[2];
    int nout = 0;
    if (scene_path) {
        if ((st = cc_fs_temp_name(out, NULL, tmp_mask, sizeof tmp_mask)) != CC_OK ||
            (st = write_mask(tmp_mask, out, &g, mask, used, terms)) != CC_OK)
            goto out;
        tl[nout] = tmp_mask;
        fl[nout++] = out;
    }
    if (js) {
        if ((st = cc_fs_temp_name(json_path, NULL, tmp_json, sizeof tmp_json)) != CC_OK ||
            (st = cc_fs_write_file(tmp_json, js, strlen(js))) != CC_OK)
            goto out;
        tl[nout] = tmp_json;
        fl[nout++] = json_path;
    }
    st = cc_fs_commit_all(nout, tl, fl);
    tmp_mask[0] = tmp_json[0] = '\0'; /* committed, or removed by the failed commit */
    if (st != CC_OK)
        goto out;
    if (ref_path)
        print_scores(&sc);
    if (out && scene_path)
        cc_info("wrote %s", out);
    if (json_path)
        cc_info("wrote %s", json_path);
    rc = 0;
out:
    if (st != CC_OK) {
        fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
        rc = cc_status_exit_code(st);
    }
    cc_fs_abort(tmp_mask);
    cc_fs_abort(tmp_json);
    free(js);
    free(mask);
    free(refm);
    class_raster_free(&pred);
    class_raster_free(&ref);
    class_raster_free(&sclr);
    cc_scene_free(s);
    return rc;
}
