/* clearcube validate: per-band MAE/bias/RMSE and NDVI error of a prediction
 * against a reference L2A, with Markdown/JSON reports and PNG figures. */
#define _GNU_SOURCE /* strtok_r */
#include "pipeline/boa/validate.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <gdal.h>
#include <jansson.h>
#include <ogr_srs_api.h>

#include "core/alloc.h"
#include "core/fs.h"
#include "core/version.h"
#include "pipeline/report/plot.h"

const int cc_validate_band_order[CC_NBANDS] = {CC_B02, CC_B03, CC_B04, CC_B05, CC_B06, CC_B08, CC_B8A,
                                               CC_B11, CC_B12, CC_B01, CC_B07, CC_B09, CC_B10};

/* ---- reading ---- */

typedef struct {
    int width, height;
    double gt[6];
    char *wkt;
    int is_cube;
    int present[CC_NBANDS];
    uint16_t *dn[CC_NBANDS];
    double off[CC_NBANDS], fac[CC_NBANDS]; /* reflectance DN = (dn + off) * fac */
    int has_nodata[CC_NBANDS];
    double nodata[CC_NBANDS];
} product;

static void product_free(product *p)
{
    for (int b = 0; b < CC_NBANDS; b++)
        free(p->dn[b]);
    CPLFree(p->wkt);
    memset(p, 0, sizeof *p);
}

static inline int valid(const product *p, int b, size_t i)
{
    uint16_t v = p->dn[b][i];
    return v != 0 && !(p->has_nodata[b] && (double)v == p->nodata[b]);
}

static inline double refl_dn(const product *p, int b, size_t i)
{
    return ((double)p->dn[b][i] + p->off[b]) * p->fac[b];
}

static void quiet_push(void)
{
    CPLPushErrorHandler(CPLQuietErrorHandler);
    CPLErrorReset();
}

static const char *gdal_msg(void)
{
    const char *m = CPLGetLastErrorMsg();
    return m && m[0] ? m : "not a raster GDAL can read";
}

/* Reads band 1 of an open dataset's band `gb` into p->dn[b]. */
static cc_status read_band(product *p, const char *path, GDALRasterBandH gb, int b, const char *what)
{
    if (!(p->dn[b] = cc_malloc3((size_t)p->width, (size_t)p->height, sizeof(uint16_t))))
        return cc_error_set(CC_ERR_NOMEM, "%s: cannot allocate band %s", path, what);
    quiet_push();
    CPLErr e = GDALRasterIO(gb, GF_Read, 0, 0, p->width, p->height, p->dn[b], p->width, p->height,
                            GDT_UInt16, 0, 0);
    CPLPopErrorHandler();
    if (e != CE_None)
        return cc_error_set(CC_ERR_FORMAT, "%s: cannot read band %s: %s", path, what, gdal_msg());
    int has = 0;
    double nd = GDALGetRasterNoDataValue(gb, &has);
    p->has_nodata[b] = has;
    p->nodata[b] = nd;
    p->present[b] = 1;
    return CC_OK;
}

static cc_status set_grid(product *p, const char *path, GDALDatasetH ds, int first)
{
    int w = GDALGetRasterXSize(ds), h = GDALGetRasterYSize(ds);
    double gt[6];
    if (GDALGetGeoTransform(ds, gt) != CE_None)
        return cc_error_set(CC_ERR_CRS, "%s: no geotransform (not georeferenced)", path);
    if (first) {
        p->width = w;
        p->height = h;
        memcpy(p->gt, gt, sizeof gt);
        const char *wkt = GDALGetProjectionRef(ds);
        p->wkt = CPLStrdup(wkt ? wkt : "");
        return CC_OK;
    }
    if (w != p->width || h != p->height)
        return cc_error_set(CC_ERR_FORMAT, "%s: layers have different sizes", path);
    return CC_OK;
}

/* Layer names of a NetCDF cube: (name, subdataset string) from SUBDATASETS. */
static cc_status read_cube(product *p, const char *path, GDALDatasetH ds)
{
    char **md = GDALGetMetadata(ds, "SUBDATASETS");
    char single[4200];
    single[0] = '\0';
    if (!md && GDALGetRasterCount(ds) >= 1) {
        /* a cube with one layer: GDAL opens the variable directly */
        const char *var = GDALGetMetadataItem(GDALGetRasterBand(ds, 1), "NETCDF_VARNAME", NULL);
        if (var)
            snprintf(single, sizeof single, "NETCDF:\"%s\":%s", path, var);
    }
    int first = 1;
    for (int k = 1;; k++) {
        char key[64];
        snprintf(key, sizeof key, "SUBDATASET_%d_NAME", k);
        const char *sd = md ? CSLFetchNameValue(md, key) : k == 1 && single[0] ? single : NULL;
        if (!sd)
            break;
        const char *colon = strrchr(sd, ':');
        const char *var = colon ? colon + 1 : sd;
        int b = cc_band_index(var);
        if (b < 0 || strcmp(var, cc_band_names[b]) != 0 || p->present[b])
            continue; /* AOT, WVP, coordinates, ... */
        quiet_push();
        GDALDatasetH sds = GDALOpen(sd, GA_ReadOnly);
        CPLPopErrorHandler();
        if (!sds)
            return cc_error_set(CC_ERR_FORMAT, "%s: cannot open layer %s: %s", path, var, gdal_msg());
        cc_status st = set_grid(p, path, sds, first);
        if (st == CC_OK && GDALGetRasterCount(sds) < 1)
            st = cc_error_set(CC_ERR_FORMAT, "%s: layer %s has no date", path, var);
        if (st == CC_OK) {
            GDALRasterBandH gb = GDALGetRasterBand(sds, 1);
            if (GDALGetRasterCount(sds) > 1 && first)
                fprintf(stderr, "clearcube: warning: %s has %d dates; validating the first\n", path,
                        GDALGetRasterCount(sds));
            st = read_band(p, path, gb, b, var);
            /* rho = DN*scale + offset -> reflectance DN = (DN + offset/scale) * scale*1e4;
             * exact integers for the usual scale 1e-4 */
            int hs = 0, ho = 0;
            double scale = GDALGetRasterScale(gb, &hs), offset = GDALGetRasterOffset(gb, &ho);
            if (!hs || scale == 0)
                scale = 1e-4;
            if (!ho)
                offset = 0;
            double fac = scale * 1e4, off = offset / scale;
            if (fabs(fac - 1) < 1e-9)
                fac = 1;
            if (fabs(off - nearbyint(off)) < 1e-6)
                off = nearbyint(off);
            p->fac[b] = fac;
            p->off[b] = off;
        }
        GDALClose(sds);
        if (st != CC_OK)
            return st;
        first = 0;
    }
    if (first)
        return cc_error_set(CC_ERR_MISSING, "%s: no band layers (B01..B12) in this NetCDF file", path);
    p->is_cube = 1;
    return CC_OK;
}

static cc_status parse_band_list(const char *path, const char *list, int n, int *idx)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    int k = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*t))
            t++;
        int b = cc_band_index(t);
        if (b < 0)
            return cc_error_set(CC_ERR_ARG, "%s: unknown band '%s' in the band list", path, t);
        if (k < CC_NBANDS)
            idx[k] = b;
        k++;
    }
    if (k != n)
        return cc_error_set(CC_ERR_ARG, "%s: has %d bands but the band list '%s' names %d", path, n, list,
                            k);
    return CC_OK;
}

static cc_status read_stack(product *p, const char *path, GDALDatasetH ds, const char *bands,
                            double dn_offset, int default_by_count)
{
    int n = GDALGetRasterCount(ds);
    if (n < 1)
        return cc_error_set(CC_ERR_FORMAT, "%s: no raster bands", path);
    if (n > CC_NBANDS)
        return cc_error_set(CC_ERR_FORMAT, "%s: %d bands, more than Sentinel-2 has", path, n);
    int idx[CC_NBANDS];
    cc_status st;
    if (bands) {
        if ((st = parse_band_list(path, bands, n, idx)) != CC_OK)
            return st;
    } else {
        int ok = 1;
        for (int k = 0; k < n && ok; k++) {
            const char *d = GDALGetDescription(GDALGetRasterBand(ds, k + 1));
            idx[k] = cc_band_index(d);
            ok = idx[k] >= 0;
        }
        if (!ok && default_by_count && (n == 13 || n == 12)) {
            /* L1C stacks: 13 bands in B01..B12 order, or sen2r's 12 (no B8A) */
            static const int o13[13] = {CC_B01, CC_B02, CC_B03, CC_B04, CC_B05, CC_B06, CC_B07,
                                        CC_B08, CC_B8A, CC_B09, CC_B10, CC_B11, CC_B12};
            static const int o12[12] = {CC_B01, CC_B02, CC_B03, CC_B04, CC_B05, CC_B06,
                                        CC_B07, CC_B08, CC_B09, CC_B10, CC_B11, CC_B12};
            memcpy(idx, n == 13 ? o13 : o12, (size_t)n * sizeof(int));
            ok = 1;
        }
        if (!ok)
            return cc_error_set(CC_ERR_ARG,
                                "%s: band order unknown (%d bands without band names): give the band "
                                "list (--prediction-bands / --reference-bands / --input-bands)",
                                path, n);
    }
    if ((st = set_grid(p, path, ds, 1)) != CC_OK)
        return st;
    for (int k = 0; k < n; k++) {
        if (p->present[idx[k]])
            return cc_error_set(CC_ERR_ARG, "%s: band %s listed twice", path, cc_band_names[idx[k]]);
        if ((st = read_band(p, path, GDALGetRasterBand(ds, k + 1), idx[k], cc_band_names[idx[k]])) != CC_OK)
            return st;
        p->off[idx[k]] = isnan(dn_offset) ? 0 : dn_offset;
        p->fac[idx[k]] = 1;
    }
    return CC_OK;
}

static cc_status product_read(product *p, const char *path, const char *bands, double dn_offset,
                              int default_by_count)
{
    memset(p, 0, sizeof *p);
    struct stat sb;
    if (!path || !path[0])
        return cc_error_set(CC_ERR_ARG, "validate: missing path");
    if (stat(path, &sb) != 0)
        return cc_error_set(CC_ERR_IO, "%s: no such file", path);
    if (access(path, R_OK) != 0)
        return cc_error_set(CC_ERR_IO, "%s: not readable (permission denied)", path);
    quiet_push();
    GDALDatasetH ds = GDALOpenEx(path, GDAL_OF_RASTER | GDAL_OF_READONLY, NULL, NULL, NULL);
    CPLPopErrorHandler();
    if (!ds)
        return cc_error_set(CC_ERR_FORMAT, "%s: cannot open: %s", path, gdal_msg());
    const char *drv = GDALGetDriverShortName(GDALGetDatasetDriver(ds));
    cc_status st;
    if (!strcmp(drv, "netCDF"))
        st = read_cube(p, path, ds);
    else
        st = read_stack(p, path, ds, bands, dn_offset, default_by_count);
    GDALClose(ds);
    if (st != CC_OK)
        product_free(p);
    return st;
}

static int same_grid(const product *a, const product *b)
{
    if (a->width != b->width || a->height != b->height)
        return 0;
    for (int k = 0; k < 6; k++)
        if (fabs(a->gt[k] - b->gt[k]) > 1e-6 * fmax(1, fabs(a->gt[k])))
            return 0;
    int ea = !a->wkt || !a->wkt[0], eb = !b->wkt || !b->wkt[0];
    if (ea || eb)
        return ea && eb;
    if (!strcmp(a->wkt, b->wkt))
        return 1;
    OGRSpatialReferenceH sa = OSRNewSpatialReference(a->wkt), sb = OSRNewSpatialReference(b->wkt);
    int same = sa && sb && OSRIsSame(sa, sb);
    OSRDestroySpatialReference(sa);
    OSRDestroySpatialReference(sb);
    return same;
}

static void band_list(const product *p, char *buf, size_t n)
{
    buf[0] = '\0';
    size_t len = 0;
    for (int b = 0; b < CC_NBANDS; b++)
        if (p->present[b])
            len += (size_t)snprintf(buf + len, len < n ? n - len : 0, "%s%s", len ? "," : "", cc_band_names[b]);
}

/* ---- metrics ---- */

static double nice_up(double v)
{
    if (!(v > 0))
        return 1;
    double p = pow(10, floor(log10(v))), f = v / p;
    double m = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
    return m * p;
}

static cc_status compute(const product *P, const product *R, cc_validate_result *r)
{
    size_t n = (size_t)P->width * P->height;
    r->nbands = 0;
    for (int k = 0; k < CC_NBANDS; k++) {
        int b = cc_validate_band_order[k];
        if (!P->present[b] || !R->present[b])
            continue;
        cc_validate_band *vb = &r->band[r->nbands++];
        memset(vb, 0, sizeof *vb);
        vb->band = b;
        long double sa = 0, sd = 0, sq = 0;
        size_t cnt = 0;
        /* |P - R| in half-DN bins [j/2, (j+1)/2) (the last: >= 65535/2 DN) for the 99th percentile */
        enum { NH = 131072 };
        size_t *ah = calloc(NH, sizeof *ah);
        if (!ah)
            return cc_error_set(CC_ERR_NOMEM, "validate: out of memory");
        for (size_t i = 0; i < n; i++) {
            if (!valid(P, b, i) || !valid(R, b, i))
                continue;
            double d = refl_dn(P, b, i) - refl_dn(R, b, i);
            double ab = fabs(d) * 2.0;
            ah[ab < NH - 1 ? (size_t)ab : NH - 1]++;
            sa += fabs(d);
            sd += d;
            sq += (long double)d * d;
            cnt++;
        }
        vb->n = cnt;
        if (cnt) {
            vb->mae_dn = (double)(sa / cnt);
            vb->bias_dn = (double)(sd / cnt);
            vb->rmse_dn = sqrt((double)(sq / cnt));
            vb->mae_percent = vb->mae_dn / 12000.0 * 100.0;
            size_t need = (size_t)ceil(0.99 * (double)cnt), acc = 0, j = 0;
            for (; j < NH; j++)
                if ((acc += ah[j]) >= need)
                    break;
            vb->p99_dn = (double)j * 0.5; /* the bin's lower edge: exact for whole and half DN */
        } else {
            vb->mae_dn = vb->bias_dn = vb->rmse_dn = vb->mae_percent = vb->p99_dn = NAN;
        }
        free(ah);
    }
    /* histogram range: symmetric, 3 x the largest RMSE of the nine main bands
     * (B2..B12 without B1/B7/B9/B10; of all bands if none of them), at least
     * 10 DN, rounded up to 1/2/5 x 10^k; values beyond go to the end bins */
    double L = 0;
    for (int pass = 0; pass < 2 && L == 0; pass++)
        for (int k = 0; k < r->nbands; k++) {
            int main_band = 0;
            for (int j = 0; j < 9; j++)
                main_band |= cc_validate_band_order[j] == r->band[k].band;
            if ((pass == 1 || main_band) && r->band[k].n && 3 * r->band[k].rmse_dn > L)
                L = 3 * r->band[k].rmse_dn;
        }
    L = nice_up(L < 10 ? 10 : L);
    r->hist_lo = -L;
    r->hist_hi = L;
    for (int k = 0; k < r->nbands; k++) {
        int b = r->band[k].band;
        for (size_t i = 0; i < n; i++) {
            if (!valid(P, b, i) || !valid(R, b, i))
                continue;
            double d = refl_dn(P, b, i) - refl_dn(R, b, i);
            int bin = (int)floor((d + L) / (2 * L) * CC_VALIDATE_HIST_BINS);
            bin = bin < 0 ? 0 : bin >= CC_VALIDATE_HIST_BINS ? CC_VALIDATE_HIST_BINS - 1 : bin;
            r->band[k].hist[bin] += 1;
        }
    }
    /* NDVI = (B8 - B4) / (B8 + B4) on reflectance */
    r->has_ndvi = P->present[CC_B04] && P->present[CC_B08] && R->present[CC_B04] && R->present[CC_B08];
    r->ndvi_n = 0;
    r->ndvi_mae = r->ndvi_bias = r->ndvi_rmse = NAN;
    if (r->has_ndvi) {
        long double sa = 0, sd = 0, sq = 0;
        size_t cnt = 0;
        for (size_t i = 0; i < n; i++) {
            if (!valid(P, CC_B04, i) || !valid(P, CC_B08, i) || !valid(R, CC_B04, i) || !valid(R, CC_B08, i))
                continue;
            double p4 = refl_dn(P, CC_B04, i), p8 = refl_dn(P, CC_B08, i);
            double r4 = refl_dn(R, CC_B04, i), r8 = refl_dn(R, CC_B08, i);
            if (!(p8 + p4 > 0) || !(r8 + r4 > 0))
                continue;
            double d = (p8 - p4) / (p8 + p4) - (r8 - r4) / (r8 + r4);
            sa += fabs(d);
            sd += d;
            sq += (long double)d * d;
            cnt++;
        }
        r->ndvi_n = cnt;
        if (cnt) {
            r->ndvi_mae = (double)(sa / cnt);
            r->ndvi_bias = (double)(sd / cnt);
            r->ndvi_rmse = sqrt((double)(sq / cnt));
        }
    }
    return CC_OK;
}

/* ---- reports ---- */

/* Growing string buffer. */
typedef struct {
    char *s;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = 1;
            return;
        }
        if (b->s && b->len + (size_t)k < b->cap) {
            b->len += (size_t)k;
            return;
        }
        size_t cap = (b->cap ? b->cap * 2 : 1024) + (size_t)k;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
}

/* Band names as the Rapid BoA paper writes them: B2, B8, B8A, B11. */
static const char *short_name(int b, char *buf, size_t n)
{
    const char *s = cc_band_names[b];
    snprintf(buf, n, "B%s", s[1] == '0' ? s + 2 : s + 1);
    return buf;
}

static void fmt_num(char *buf, size_t n, double v, int dec)
{
    if (!isfinite(v))
        snprintf(buf, n, "n/a");
    else
        snprintf(buf, n, "%.*f", dec, fabs(v) < 0.5 * pow(10, -dec) ? 0.0 : v);
}

char *cc_validate_markdown(const cc_validate_args *a, const cc_validate_result *r)
{
    sbuf b = {0};
    sb_printf(&b, "# clearcube validation%s\n\n", a->simulated ? " (SIMULATED data)" : "");
    sb_printf(&b, "- prediction: `%s` (%s: %s)\n", a->prediction.path, r->prediction_format,
              r->prediction_bands);
    sb_printf(&b, "- reference: `%s` (%s: %s)\n", a->reference.path, r->reference_format, r->reference_bands);
    if (a->input)
        sb_printf(&b, "- L1C input: `%s`\n", a->input);
    sb_printf(&b, "- sample: %s; simulated data: %s\n", a->sample_label ? a->sample_label : "not stated",
              a->simulated ? "yes" : "no");
    sb_printf(&b, "- grid: %d x %d pixels; errors in reflectance DN (10000 x rho, DN offsets removed), "
                  "MAE %% = MAE / 12000 x 100, bias = mean(prediction - reference)\n\n",
              r->width, r->height);
    sb_printf(&b, "| Band | MAE (DN) | MAE (%%) | Bias (DN) | RMSE (DN) | P99 abs (DN) | Pixels |\n");
    sb_printf(&b, "|:-----|---------:|--------:|----------:|----------:|-------------:|-------:|\n");
    char nm[8], c1[32], c2[32], c3[32], c4[32], c5[32];
    for (int k = 0; k < r->nbands; k++) {
        const cc_validate_band *v = &r->band[k];
        fmt_num(c1, sizeof c1, v->mae_dn, 1);
        fmt_num(c2, sizeof c2, v->mae_percent, 2);
        fmt_num(c3, sizeof c3, v->bias_dn, 1);
        fmt_num(c4, sizeof c4, v->rmse_dn, 1);
        fmt_num(c5, sizeof c5, v->p99_dn, 1);
        sb_printf(&b, "| %s | %s | %s | %s | %s | %s | %zu |\n", short_name(v->band, nm, sizeof nm), c1, c2, c3,
                  c4, c5, v->n);
    }
    if (r->has_ndvi) {
        fmt_num(c1, sizeof c1, r->ndvi_mae, 4);
        fmt_num(c3, sizeof c3, r->ndvi_bias, 4);
        fmt_num(c4, sizeof c4, r->ndvi_rmse, 4);
        sb_printf(&b, "| NDVI | %s | - | %s | %s | - | %zu |\n", c1, c3, c4, r->ndvi_n);
    } else {
        sb_printf(&b, "| NDVI | n/a | - | n/a | n/a | - | 0 |\n");
    }
    sb_printf(&b, "\nNDVI = (B8 - B4) / (B8 + B4); its row is in NDVI units.\n");
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

static json_t *jnum(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static char *json_report(const cc_validate_args *a, const cc_validate_result *r, const char *const files[4])
{
    json_t *o = json_object();
    json_object_set_new(o, "clearcube_version", json_string(CC_VERSION));
    json_object_set_new(o, "prediction", json_string(a->prediction.path));
    json_object_set_new(o, "reference", json_string(a->reference.path));
    json_object_set_new(o, "input", a->input ? json_string(a->input) : json_null());
    json_object_set_new(o, "prediction_format", json_string(r->prediction_format));
    json_object_set_new(o, "reference_format", json_string(r->reference_format));
    json_object_set_new(o, "prediction_bands", json_string(r->prediction_bands));
    json_object_set_new(o, "reference_bands", json_string(r->reference_bands));
    json_object_set_new(o, "sample", a->sample_label ? json_string(a->sample_label) : json_null());
    json_object_set_new(o, "simulated", json_boolean(a->simulated));
    json_object_set_new(o, "width", json_integer(r->width));
    json_object_set_new(o, "height", json_integer(r->height));
    json_object_set_new(o, "mae_percent_denominator", json_integer(12000));
    json_t *bands = json_array();
    for (int k = 0; k < r->nbands; k++) {
        const cc_validate_band *v = &r->band[k];
        json_t *jb = json_object();
        json_object_set_new(jb, "band", json_string(cc_band_names[v->band]));
        json_object_set_new(jb, "n_valid", json_integer((json_int_t)v->n));
        json_object_set_new(jb, "mae_dn", jnum(v->mae_dn));
        json_object_set_new(jb, "mae_percent", jnum(v->mae_percent));
        json_object_set_new(jb, "p99_abs_dn", jnum(v->p99_dn));
        json_object_set_new(jb, "bias_dn", jnum(v->bias_dn));
        json_object_set_new(jb, "rmse_dn", jnum(v->rmse_dn));
        json_t *h = json_array();
        for (int i = 0; i < CC_VALIDATE_HIST_BINS; i++)
            json_array_append_new(h, json_integer((json_int_t)v->hist[i]));
        json_object_set_new(jb, "histogram_counts", h);
        json_array_append_new(bands, jb);
    }
    json_object_set_new(o, "bands", bands);
    if (r->has_ndvi) {
        json_t *nd = json_object();
        json_object_set_new(nd, "n_valid", json_integer((json_int_t)r->ndvi_n));
        json_object_set_new(nd, "mae", jnum(r->ndvi_mae));
        json_object_set_new(nd, "bias", jnum(r->ndvi_bias));
        json_object_set_new(nd, "rmse", jnum(r->ndvi_rmse));
        json_object_set_new(o, "ndvi", nd);
    } else {
        json_object_set_new(o, "ndvi", json_null());
    }
    json_t *hist = json_object();
    json_object_set_new(hist, "lo_dn", json_real(r->hist_lo));
    json_object_set_new(hist, "hi_dn", json_real(r->hist_hi));
    json_object_set_new(hist, "nbins", json_integer(CC_VALIDATE_HIST_BINS));
    json_object_set_new(o, "histogram", hist);
    json_t *f = json_object();
    json_object_set_new(f, "markdown", json_string(files[0]));
    json_object_set_new(f, "json", json_string(files[1]));
    json_object_set_new(f, "quicklook", json_string(files[2]));
    json_object_set_new(f, "histograms", json_string(files[3]));
    json_object_set_new(o, "files", f);
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(o);
    return s;
}

/* ---- quicklook ---- */

#define QL_TARGET 300

static uint32_t inferno(double t)
{
    static const double stops[5][3] = {
        {0, 0, 4}, {87, 16, 110}, {188, 55, 84}, {249, 142, 9}, {252, 255, 164}};
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    double x = t * 4;
    int i = (int)x;
    if (i >= 4)
        i = 3;
    double f = x - i;
    uint32_t c = 0;
    for (int k = 0; k < 3; k++)
        c = c << 8 | (uint32_t)lround(stops[i][k] + f * (stops[i + 1][k] - stops[i][k]));
    return c;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Percentile (0..1) of n floats (sorted copy). */
static double percentile(float *v, size_t n, double q)
{
    if (!n)
        return 0;
    qsort(v, n, sizeof *v, cmp_float);
    size_t i = (size_t)(q * (double)(n - 1));
    return v[i];
}

typedef struct {
    int ok;
    const product *p;
    int ch[3]; /* R, G, B band */
    double lo, hi;
} rgb_src;

/* Stretch limits: 2nd..98th percentile of the valid values of the 3 bands. */
static cc_status rgb_stretch(rgb_src *s)
{
    size_t n = (size_t)s->p->width * s->p->height;
    float *v = cc_malloc3(n, 3, sizeof(float));
    if (!v)
        return cc_error_set(CC_ERR_NOMEM, "validate: out of memory (quicklook)");
    size_t m = 0;
    for (int c = 0; c < 3; c++)
        for (size_t i = 0; i < n; i++)
            if (valid(s->p, s->ch[c], i))
                v[m++] = (float)refl_dn(s->p, s->ch[c], i);
    double lo = percentile(v, m, 0.02), hi = percentile(v, m, 0.98);
    free(v);
    s->lo = lo;
    s->hi = hi > lo ? hi : lo + 1;
    return CC_OK;
}

static void draw_rgb(cc_image *im, int ox, int oy, int pw, int ph, const rgb_src *s)
{
    const product *p = s->p;
    for (int y = 0; y < ph; y++)
        for (int x = 0; x < pw; x++) {
            int sx = (int)((long)x * p->width / pw), sy = (int)((long)y * p->height / ph);
            size_t i = (size_t)sy * p->width + sx;
            uint32_t col = 0x808080;
            if (valid(p, s->ch[0], i) && valid(p, s->ch[1], i) && valid(p, s->ch[2], i)) {
                col = 0;
                for (int c = 0; c < 3; c++) {
                    double t = (refl_dn(p, s->ch[c], i) - s->lo) / (s->hi - s->lo);
                    t = t < 0 ? 0 : t > 1 ? 1 : t;
                    col = col << 8 | (uint32_t)lround(255 * sqrt(t));
                }
            }
            cc_image_set_pixel(im, ox + x, oy + y, col);
        }
}

static void pick_rgb(const product *p, const product *q, int ch[3])
{
    /* B4/B3/B2 when present (in both, if q given), else the first three common bands */
    int want[3] = {CC_B04, CC_B03, CC_B02};
    int ok = 1;
    for (int c = 0; c < 3; c++)
        ok &= p->present[want[c]] && (!q || q->present[want[c]]);
    if (ok) {
        memcpy(ch, want, sizeof want);
        return;
    }
    int k = 0, last = -1;
    for (int j = 0; j < CC_NBANDS && k < 3; j++) {
        int b = cc_validate_band_order[j];
        if (p->present[b] && (!q || q->present[b]))
            ch[k++] = last = b;
    }
    while (k < 3)
        ch[k++] = last;
}

static cc_status write_quicklook(const char *tmp, const char *final, const product *P, const product *R,
                                 const product *L1, const cc_validate_result *r)
{
    int w = P->width, h = P->height, m = w > h ? w : h;
    int pw, ph;
    if (m <= QL_TARGET) {
        int k = QL_TARGET / m;
        pw = w * k;
        ph = h * k;
    } else {
        pw = (int)((long)w * QL_TARGET / m);
        ph = (int)((long)h * QL_TARGET / m);
    }
    if (pw < 1) pw = 1;
    if (ph < 1) ph = 1;
    int npan = L1 ? 4 : 3, gap = 12, margin = 12, top = 40;
    int barw = pw < 200 ? 200 : pw;
    int W = 2 * margin + (npan - 1) * (pw + gap) + barw;
    int H = top + ph + 12 + 14 + 14 + 12 + 14 + margin;
    cc_image im;
    cc_status st = cc_image_new(&im, W, H, 255, 255, 255);
    if (st != CC_OK)
        return st;
    char title[200];
    snprintf(title, sizeof title, "clearcube validate: %d x %d px", w, h);
    cc_image_text(&im, margin, 6, title, 0x141414, 2);

    int x = margin;
    rgb_src sp = {1, P, {0}, 0, 0}, sr = {1, R, {0}, 0, 0};
    pick_rgb(P, R, sp.ch);
    memcpy(sr.ch, sp.ch, sizeof sr.ch);
    if ((st = rgb_stretch(&sr)) != CC_OK)
        goto out;
    sp.lo = sr.lo; /* same stretch for prediction and reference */
    sp.hi = sr.hi;
    char lab[96];
    if (L1) {
        rgb_src sl = {1, L1, {0}, 0, 0};
        pick_rgb(L1, NULL, sl.ch);
        if ((st = rgb_stretch(&sl)) != CC_OK)
            goto out;
        draw_rgb(&im, x, top, pw, ph, &sl);
        snprintf(lab, sizeof lab, "L1C %s/%s/%s", cc_band_names[sl.ch[0]], cc_band_names[sl.ch[1]],
                 cc_band_names[sl.ch[2]]);
        cc_image_text(&im, x, top - 12, lab, 0x141414, 1);
        x += pw + gap;
    }
    draw_rgb(&im, x, top, pw, ph, &sp);
    snprintf(lab, sizeof lab, "prediction %s/%s/%s", cc_band_names[sp.ch[0]], cc_band_names[sp.ch[1]],
             cc_band_names[sp.ch[2]]);
    cc_image_text(&im, x, top - 12, lab, 0x141414, 1);
    x += pw + gap;
    draw_rgb(&im, x, top, pw, ph, &sr);
    snprintf(lab, sizeof lab, "reference %s/%s/%s", cc_band_names[sr.ch[0]], cc_band_names[sr.ch[1]],
             cc_band_names[sr.ch[2]]);
    cc_image_text(&im, x, top - 12, lab, 0x141414, 1);
    x += pw + gap;

    /* absolute error: B04, else the mean over the common bands */
    size_t n = (size_t)w * h;
    float *err = cc_malloc3(n, 1, sizeof(float)), *tmpv = cc_malloc3(n, 1, sizeof(float));
    if (!err || !tmpv) {
        free(err);
        free(tmpv);
        st = cc_error_set(CC_ERR_NOMEM, "validate: out of memory (quicklook)");
        goto out;
    }
    int use_b4 = P->present[CC_B04] && R->present[CC_B04];
    size_t m2 = 0;
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        int c = 0;
        for (int k = 0; k < r->nbands; k++) {
            int b = r->band[k].band;
            if (use_b4 && b != CC_B04)
                continue;
            if (valid(P, b, i) && valid(R, b, i)) {
                s += fabs(refl_dn(P, b, i) - refl_dn(R, b, i));
                c++;
            }
        }
        err[i] = c ? (float)(s / c) : NAN;
        if (c)
            tmpv[m2++] = err[i];
    }
    double vmax = nice_up(percentile(tmpv, m2, 0.98));
    free(tmpv);
    for (int yy = 0; yy < ph; yy++)
        for (int xx = 0; xx < pw; xx++) {
            int sx = (int)((long)xx * w / pw), sy = (int)((long)yy * h / ph);
            float e = err[(size_t)sy * w + sx];
            cc_image_set_pixel(&im, x + xx, top + yy, isnan(e) ? 0x808080 : inferno(e / vmax));
        }
    free(err);
    snprintf(lab, sizeof lab, "|prediction - reference| %s", use_b4 ? "B04" : "mean of bands");
    cc_image_text(&im, x, top - 12, lab, 0x141414, 1);
    /* colour bar with labels in DN */
    int by = top + ph + 12;
    for (int xx = 0; xx < barw; xx++)
        cc_image_fill_rect(&im, x + xx, by, 1, 14, inferno((double)xx / (barw - 1)));
    for (int t = 0; t <= 4; t++) {
        int tx = x + (int)lround((double)t / 4 * (barw - 1));
        cc_image_fill_rect(&im, tx, by + 14, 1, 4, 0);
        char tl[32];
        double v = vmax * t / 4;
        snprintf(tl, sizeof tl, "%.6g%s", v, t == 4 ? "+" : "");
        int tw = cc_image_text_width(&im, tl, 1);
        int lx = tx - tw / 2;
        if (lx < x) lx = x;
        if (lx + tw > x + barw) lx = x + barw - tw;
        cc_image_text(&im, lx, by + 20, tl, 0x141414, 1);
    }
    snprintf(lab, sizeof lab, "absolute error (DN)");
    cc_image_text(&im, x + barw / 2 - cc_image_text_width(&im, lab, 1) / 2, by + 34, lab, 0x141414, 1);
    st = cc_image_write_png(&im, tmp);
    if (st != CC_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", cc_error_message());
        st = cc_error_set(st, "%s: cannot write the quicklook (%s)", final, msg);
    }
out:
    cc_image_free(&im);
    return st;
}

static cc_status write_hist(const char *tmp, const char *final, const cc_validate_args *a,
                            const cc_validate_result *r)
{
    const double *counts[CC_NBANDS];
    char titles[CC_NBANDS][96];
    const char *tp[CC_NBANDS];
    for (int k = 0; k < r->nbands; k++) {
        const cc_validate_band *v = &r->band[k];
        counts[k] = v->hist;
        snprintf(titles[k], sizeof titles[k], "%s  MAE %.1f  bias %.1f  n=%zu", cc_band_names[v->band],
                 v->mae_dn, v->bias_dn, v->n);
        tp[k] = titles[k];
    }
    char title[128];
    snprintf(title, sizeof title, "prediction - reference (DN)%s%s%s", a->sample_label ? ", " : "",
             a->sample_label ? a->sample_label : "", a->simulated ? ", SIMULATED" : "");
    cc_status st = cc_plot_histograms(tmp, title, r->nbands, tp, counts, CC_VALIDATE_HIST_BINS, r->hist_lo,
                                      r->hist_hi, "DN (ends include the tails)");
    if (st != CC_OK) {
        char m[512];
        snprintf(m, sizeof m, "%s", cc_error_message());
        st = cc_error_set(st, "%s: cannot write the histograms (%s)", final, m);
    }
    return st;
}

static cc_status read_input(const char *path, const char *bands, product *L1)
{
    struct stat sb;
    int is_dir = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
    size_t len = strlen(path);
    int is_zip = len > 4 && !strcasecmp(path + len - 4, ".zip");
    if (!is_dir && !is_zip)
        return product_read(L1, path, bands, NAN, 1);
    /* a SAFE product: through the scene reader (native grids; B02..B04 are 10 m) */
    memset(L1, 0, sizeof *L1);
    cc_scene_options so;
    cc_scene_options_init(&so);
    so.bands = bands;
    cc_scene *s = NULL;
    cc_status st = cc_scene_open(path, &so, &s);
    if (st != CC_OK)
        return st;
    int ref = s->band[CC_B04].present ? CC_B04 : cc_scene_finest_band(s);
    L1->width = s->band[ref].width;
    L1->height = s->band[ref].height;
    for (int b = 0; b < CC_NBANDS && st == CC_OK; b++) {
        const cc_raster_u16 *rb = &s->band[b];
        if (!rb->present || rb->width != L1->width || rb->height != L1->height)
            continue;
        size_t n = (size_t)rb->width * rb->height;
        if (!(L1->dn[b] = cc_malloc3(n, 1, sizeof(uint16_t)))) {
            st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        memcpy(L1->dn[b], rb->dn, n * sizeof(uint16_t));
        L1->present[b] = 1;
        L1->off[b] = s->radio_offset[b];
        L1->fac[b] = 1;
        L1->has_nodata[b] = 1;
        L1->nodata[b] = s->saturated_dn;
    }
    cc_scene_free(s);
    if (st != CC_OK)
        product_free(L1);
    return st;
}

/* ---- driver ---- */

cc_status cc_validate_run(const cc_validate_args *a, cc_validate_result *r)
{
    memset(r, 0, sizeof *r);
    product P, R, L1;
    memset(&P, 0, sizeof P);
    memset(&R, 0, sizeof R);
    memset(&L1, 0, sizeof L1);
    enum { NF = 4 };
    char final[NF][4096], tmp[NF][4200];
    int made[NF] = {0};
    char *md = NULL, *js = NULL;
    cc_status st;
    if (a->sample_label && strcmp(a->sample_label, "in-sample") && strcmp(a->sample_label, "out-of-sample"))
        return cc_error_set(CC_ERR_ARG, "--sample-label: '%s' is neither in-sample nor out-of-sample",
                            a->sample_label);
    if ((st = product_read(&P, a->prediction.path, a->prediction.bands, a->prediction.dn_offset, 0)) != CC_OK)
        goto out;
    if ((st = product_read(&R, a->reference.path, a->reference.bands, a->reference.dn_offset, 0)) != CC_OK)
        goto out;
    if (!same_grid(&P, &R)) {
        st = cc_error_set(CC_ERR_ARG,
                          "%s and %s are not on the same grid (%dx%d at %.3f,%.3f step %g vs %dx%d at "
                          "%.3f,%.3f step %g%s)",
                          a->prediction.path, a->reference.path, P.width, P.height, P.gt[0], P.gt[3], P.gt[1],
                          R.width, R.height, R.gt[0], R.gt[3], R.gt[1],
                          P.width == R.width && P.height == R.height ? ", or another CRS" : "");
        goto out;
    }
    band_list(&P, r->prediction_bands, sizeof r->prediction_bands);
    band_list(&R, r->reference_bands, sizeof r->reference_bands);
    snprintf(r->prediction_format, sizeof r->prediction_format, "%s", P.is_cube ? "cube" : "raster");
    snprintf(r->reference_format, sizeof r->reference_format, "%s", R.is_cube ? "cube" : "raster");
    r->width = P.width;
    r->height = P.height;
    if ((st = compute(&P, &R, r)) != CC_OK)
        goto out;
    if (r->nbands == 0) {
        st = cc_error_set(CC_ERR_MISSING, "%s and %s have no band in common (%s vs %s)", a->prediction.path,
                          a->reference.path, r->prediction_bands, r->reference_bands);
        goto out;
    }
    size_t total = 0;
    for (int k = 0; k < r->nbands; k++)
        total += r->band[k].n;
    if (total == 0) {
        st = cc_error_set(CC_ERR_NODATA, "%s and %s have no pixel valid in both", a->prediction.path,
                          a->reference.path);
        goto out;
    }
    if (a->input && (st = read_input(a->input, a->input_bands, &L1)) != CC_OK)
        goto out;
    if (!a->prefix) {
        st = CC_OK;
        goto out;
    }
    static const char *const suffix[NF] = {".md", ".json", ".png", "-hist.png"};
    for (int k = 0; k < NF; k++) {
        if (snprintf(final[k], sizeof final[k], "%s%s", a->prefix, suffix[k]) >= (int)sizeof final[k]) {
            st = cc_error_set(CC_ERR_ARG, "%s: report prefix too long", a->prefix);
            goto out;
        }
        if (cc_fs_temp_name(final[k], NULL, tmp[k], sizeof tmp[k]) != CC_OK) {
            st = cc_error_set(CC_ERR_ARG, "%s: report prefix too long", a->prefix);
            goto out;
        }
    }
    const char *fl[NF] = {final[0], final[1], final[2], final[3]};
    if (!(md = cc_validate_markdown(a, r)) || !(js = json_report(a, r, fl))) {
        st = cc_error_set(CC_ERR_NOMEM, "validate: out of memory (report)");
        goto out;
    }
    size_t jl = strlen(js);
    char *js2 = realloc(js, jl + 2); /* trailing newline */
    if (!js2) {
        st = cc_error_set(CC_ERR_NOMEM, "validate: out of memory (report)");
        goto out;
    }
    js = js2;
    js[jl] = '\n';
    js[jl + 1] = '\0';
    if ((st = cc_fs_write_file(tmp[0], md, strlen(md))) != CC_OK)
        goto out;
    made[0] = 1;
    if ((st = cc_fs_write_file(tmp[1], js, strlen(js))) != CC_OK)
        goto out;
    made[1] = 1;
    if ((st = write_quicklook(tmp[2], final[2], &P, &R, a->input ? &L1 : NULL, r)) != CC_OK)
        goto out;
    made[2] = 1;
    if ((st = write_hist(tmp[3], final[3], a, r)) != CC_OK)
        goto out;
    made[3] = 1;
    const char *tl[NF] = {tmp[0], tmp[1], tmp[2], tmp[3]};
    for (int k = 0; k < NF; k++)
        made[k] = 0; /* committed, or removed by the failed commit */
    if ((st = cc_fs_commit_all(NF, tl, fl)) != CC_OK)
        goto out;
out:
    for (int k = 0; k < NF; k++)
        if (made[k])
            cc_fs_abort(tmp[k]);
    free(md);
    free(js);
    product_free(&P);
    product_free(&R);
    product_free(&L1);
    return st;
}
