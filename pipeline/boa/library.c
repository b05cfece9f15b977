/* `clearcube dataset`, kind library: the spectral library of real surface
 * reflectance that kind simulated draws from (docs/formats/dataset.md,
 * docs/boa-model.md "Training data").
 *
 * Each library source is read whole (an L2A product through the scene reader,
 * one multi-band raster, or openEO/xarray NetCDF series whose raster bands are
 * dates, all through GDAL), every valid pixel and date becomes a spectrum of
 * the 12 L2A bands, each spectrum gets a class (the product's SCL where it has
 * one, else the spectral rules below), and at most max_spectra per class are
 * kept by a deterministic random draw. Bands a source lacks (B01, B09, B8A)
 * stay 0 until cc_library_fill fills them by linear regressions fitted, at
 * build time, on the spectra of the library that have all 12 bands. */
#define _GNU_SOURCE
#include "pipeline/boa/dataset-impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gdal.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/reflectance.h"

#define NB CC_L2A_NBANDS

const char *const cc_library_class_names[CC_LIB_NCLASS] = {"land", "water", "snow", "cloud", "shadow", "haze"};

/* SCL (Sen2Cor scene classification) -> library class; -1: not used
 * (0 nodata, 1 saturated/defective). 2 dark area and 3 cloud shadow are
 * shadow, 4 vegetation, 5 bare soil and 7 unclassified land, 6 water, 8/9
 * cloud medium/high probability cloud, 10 thin cirrus haze, 11 snow. */
static int class_of_scl(int v)
{
    static const int map[12] = {-1, -1, CC_LIB_SHADOW, CC_LIB_SHADOW, CC_LIB_LAND, CC_LIB_LAND,
                                CC_LIB_WATER, CC_LIB_LAND, CC_LIB_CLOUD, CC_LIB_CLOUD, CC_LIB_HAZE, CC_LIB_SNOW};
    return v >= 0 && v < 12 ? map[v] : -1;
}

/* Spectral rules for sources without SCL (reflectance, k = index in
 * cc_l2a_bands: 1 B02, 2 B03, 3 B04, 7 B08, 10 B11): water NDWI > 0.2 and
 * B08 < 0.15; snow NDSI > 0.4 and B03 > 0.25; cloud B02, B04 and B08 all
 * > 0.25; shadow mean(B02, B03, B04, B08) < 0.03; haze B02 > 0.12 and
 * B02 > B04; else land. */
static int class_of_spectrum(const float *r)
{
    double b2 = r[1], b3 = r[2], b4 = r[3], b8 = r[7], b11 = r[10];
    double ndwi = (b3 - b8) / fmax(b3 + b8, 1e-6), ndsi = (b3 - b11) / fmax(b3 + b11, 1e-6);
    if (ndwi > 0.2 && b8 < 0.15)
        return CC_LIB_WATER;
    if (ndsi > 0.4 && b3 > 0.25)
        return CC_LIB_SNOW;
    if (b2 > 0.25 && b4 > 0.25 && b8 > 0.25)
        return CC_LIB_CLOUD;
    if ((b2 + b3 + b4 + b8) * 0.25 < 0.03)
        return CC_LIB_SHADOW;
    if (b2 > 0.12 && b2 > b4)
        return CC_LIB_HAZE;
    return CC_LIB_LAND;
}

static int l2a_index(const char *name)
{
    for (int k = 0; k < NB; k++)
        if (!strcmp(cc_band_names[cc_l2a_bands[k]], name))
            return k;
    return -1;
}

/* ---- layers: one band (or SCL) as ndates planes on its own grid ---- */

typedef struct {
    int k;          /* L2A band index, or -1 for the class layer */
    int nd, w, h;
    double gt[6];
    float *v;       /* nd * w * h reflectance (NaN invalid), or raw class codes */
} lib_layer;

typedef struct {
    lib_layer *l;
    int n, cap;
} lib_layers;

static void layers_free(lib_layers *ls)
{
    for (int i = 0; i < ls->n; i++)
        free(ls->l[i].v);
    free(ls->l);
    memset(ls, 0, sizeof *ls);
}

static lib_layer *layers_push(lib_layers *ls)
{
    if (ls->n == ls->cap) {
        int cap = ls->cap ? ls->cap * 2 : 16;
        lib_layer *nl = realloc(ls->l, (size_t)cap * sizeof *nl);
        if (!nl)
            return NULL;
        ls->l = nl;
        ls->cap = cap;
    }
    lib_layer *l = &ls->l[ls->n++];
    memset(l, 0, sizeof *l);
    return l;
}

/* Reads raster bands [b0, b0 + nd) of a GDAL dataset as one layer.
 * cls: raw codes; else reflectance (value + dn_offset) * scale + offset. */
static cc_status read_layer(GDALDatasetH ds, const char *name, int b0, int nd, int cls, const ds_source *src,
                            lib_layer *l)
{
    l->w = GDALGetRasterXSize(ds);
    l->h = GDALGetRasterYSize(ds);
    l->nd = nd;
    if (GDALGetGeoTransform(ds, l->gt) != CE_None) {
        /* no georeferencing GDAL understands (e.g. xarray files whose x/y are
         * plain coordinate variables): the layers of one source are taken to
         * cover the same extent, in coordinates normalised to [0, 1] */
        double g[6] = {0.0, 1.0 / l->w, 0.0, 0.0, 0.0, -1.0 / l->h};
        memcpy(l->gt, g, sizeof g);
        cc_debug("%s: no geotransform: layers of the source aligned by extent", name);
    }
    size_t np = (size_t)l->w * l->h;
    if (!(l->v = cc_malloc3((size_t)nd, np, sizeof(float))))
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory (%d x %d x %d)", name, nd, l->w, l->h);
    double dn_off = isnan(src->dn_offset) ? 0.0 : src->dn_offset;
    for (int d = 0; d < nd; d++) {
        GDALRasterBandH b = GDALGetRasterBand(ds, b0 + d + 1);
        float *o = l->v + (size_t)d * np;
        if (GDALRasterIO(b, GF_Read, 0, 0, l->w, l->h, o, l->w, l->h, GDT_Float32, 0, 0) != CE_None)
            return cc_error_set(CC_ERR_IO, "%s: cannot read raster band %d", name, b0 + d + 1);
        int has_nd = 0, has_s = 0, has_o = 0;
        double nodata = GDALGetRasterNoDataValue(b, &has_nd);
        double gs = GDALGetRasterScale(b, &has_s), go = GDALGetRasterOffset(b, &has_o);
        double scale = !isnan(src->scale) ? src->scale : (has_s && gs != 1.0 ? gs : 1e-4);
        double off = has_o && isnan(src->scale) ? go : 0.0;
        for (size_t i = 0; i < np; i++) {
            float x = o[i];
            int bad = isnan(x) || (has_nd && (double)x == nodata);
            if (cls) {
                o[i] = bad ? -1.0f : x;
                continue;
            }
            o[i] = bad || x == 0 ? NAN : (float)((x + dn_off) * scale + off);
        }
    }
    return CC_OK;
}

static cc_status open_gdal(const char *name, GDALDatasetH *ds)
{
    *ds = GDALOpen(name, GA_ReadOnly);
    if (!*ds)
        return cc_error_set(CC_ERR_FORMAT, "%s: not a raster GDAL can read", name);
    return CC_OK;
}

/* format netcdf: each name of `list` a variable of `path`, its raster bands the dates */
static cc_status read_netcdf_vars(const char *path, const char *list, const ds_source *src, lib_layers *ls)
{
    char *dup = strdup(list), *save = NULL;
    if (!dup)
        return CC_ERR_NOMEM;
    cc_status st = CC_OK;
    for (char *t = strtok_r(dup, ",", &save); t && st == CC_OK; t = strtok_r(NULL, ",", &save)) {
        int k = l2a_index(t);
        int cls = src->classes && !strcmp(t, src->classes);
        if (k < 0 && !cls)
            continue; /* a band the emulator does not use (B10, ...) */
        char name[4200];
        snprintf(name, sizeof name, "NETCDF:\"%s\":%s", path, t);
        GDALDatasetH ds;
        if ((st = open_gdal(name, &ds)) != CC_OK)
            break;
        lib_layer *l = layers_push(ls);
        if (!l)
            st = CC_ERR_NOMEM;
        else {
            l->k = cls ? -1 : k;
            st = read_layer(ds, name, 0, GDALGetRasterCount(ds), cls, src, l);
        }
        GDALClose(ds);
    }
    free(dup);
    return st;
}

/* `classes` of format stack/scene: an SCL raster file (${CLEARCUBE_SHARED}
 * expanded, relative to the config's folder), one date */
static cc_status read_classes_file(const ds_source *src, const char *cfg_dir, const char *shared, lib_layers *ls)
{
    char p[4200];
    const char *cl = src->classes, *var = "${CLEARCUBE_SHARED}";
    if (!strncmp(cl, var, strlen(var)))
        snprintf(p, sizeof p, "%s%s", shared, cl + strlen(var));
    else
        snprintf(p, sizeof p, "%s%s%s", cl[0] == '/' ? "" : cfg_dir, cl[0] == '/' ? "" : "/", cl);
    GDALDatasetH ds;
    cc_status st = open_gdal(p, &ds);
    if (st != CC_OK)
        return st;
    lib_layer *l = layers_push(ls);
    if (!l)
        st = CC_ERR_NOMEM;
    else {
        l->k = -1;
        st = read_layer(ds, p, 0, 1, 1, src, l);
    }
    GDALClose(ds);
    return st;
}

/* format stack: one raster whose bands are named by `list` (one date) */
static cc_status read_stack(const ds_source *src, const char *cfg_dir, const char *shared, lib_layers *ls)
{
    GDALDatasetH ds;
    cc_status st = open_gdal(src->path, &ds);
    if (st != CC_OK)
        return st;
    char *dup = strdup(src->bands), *save = NULL;
    int i = 0, nr = GDALGetRasterCount(ds);
    for (char *t = dup ? strtok_r(dup, ",", &save) : NULL; t && st == CC_OK; t = strtok_r(NULL, ",", &save), i++) {
        if (i >= nr) {
            st = cc_error_set(CC_ERR_FORMAT, "%s: `bands` names %s as band %d but the raster has %d bands",
                              src->path, t, i + 1, nr);
            break;
        }
        int k = l2a_index(t);
        if (k < 0)
            continue;
        lib_layer *l = layers_push(ls);
        if (!l) {
            st = CC_ERR_NOMEM;
            break;
        }
        l->k = k;
        st = read_layer(ds, src->path, i, 1, 0, src, l);
    }
    free(dup);
    GDALClose(ds);
    if (st == CC_OK && src->classes)
        st = read_classes_file(src, cfg_dir, shared, ls);
    return st;
}

/* format scene: an L2A product through the scene reader (all 12 bands on the
 * finest grid, cc_dataset_l2a_read), its SCL when it has one; a `classes`
 * file replaces the product's SCL. */
static cc_status read_scene(const ds_source *src, const char *cfg_dir, const char *shared, lib_layers *ls)
{
    cc_scene_options o;
    cc_scene_options_init(&o);
    o.bands = src->bands;
    o.spacecraft = src->spacecraft;
    o.date = src->date;
    o.dn_offset = src->dn_offset;
    o.sun_zenith = 45; /* angles are not used by the library */
    o.sun_azimuth = 150;
    o.view_zenith = 5;
    o.view_azimuth = 100;
    cc_scene *s = NULL;
    cc_dataset_l2a l2;
    memset(&l2, 0, sizeof l2);
    cc_status st = cc_scene_open(src->path, &o, &s);
    if (st == CC_OK)
        st = cc_dataset_l2a_read(s, 0, &l2);
    size_t np = cc_grid_npix(&l2.grid);
    for (int k = 0; k < NB && st == CC_OK; k++) {
        lib_layer *l = layers_push(ls);
        if (!l || !(l->v = malloc(np * sizeof(float)))) {
            st = CC_ERR_NOMEM;
            break;
        }
        l->k = k;
        l->nd = 1;
        l->w = l2.grid.width;
        l->h = l2.grid.height;
        memcpy(l->gt, l2.grid.gt, sizeof l->gt);
        for (size_t i = 0; i < np; i++) {
            uint16_t v = l2.boa[k][i];
            l->v[i] = v ? (float)cc_refl_decode(v, -CC_DATASET_DN_OFFSET, CC_REFL_QUANT) : NAN;
        }
    }
    if (st == CC_OK && src->classes)
        st = read_classes_file(src, cfg_dir, shared, ls);
    else if (st == CC_OK && s->scl.present) {
        lib_layer *l = layers_push(ls);
        size_t ns = (size_t)s->scl.width * s->scl.height;
        if (!l || !(l->v = malloc(ns * sizeof(float))))
            st = CC_ERR_NOMEM;
        else {
            l->k = -1;
            l->nd = 1;
            l->w = s->scl.width;
            l->h = s->scl.height;
            memcpy(l->gt, s->scl.gt, sizeof l->gt);
            for (size_t i = 0; i < ns; i++)
                l->v[i] = s->scl.dn[i];
        }
    }
    cc_dataset_l2a_free(&l2);
    cc_scene_free(s);
    return st;
}

/* value of layer l, date d, at map position (x, y); NaN (-1 for classes) outside */
static float layer_at(const lib_layer *l, int d, double x, double y)
{
    int c = (int)floor((x - l->gt[0]) / l->gt[1]), r = (int)floor((y - l->gt[3]) / l->gt[5]);
    if (c < 0 || r < 0 || c >= l->w || r >= l->h)
        return l->k < 0 ? -1.0f : NAN;
    return l->v[((size_t)d * l->h + r) * l->w + c];
}

/* ---- the library ---- */

static int lib_grow(ds_library *lib, size_t need)
{
    if (lib->n + need <= lib->cap)
        return 0;
    size_t cap = lib->cap ? lib->cap : 65536;
    while (cap < lib->n + need)
        cap *= 2;
    uint16_t *s = realloc(lib->spec, cap * NB * sizeof *s);
    if (!s)
        return -1;
    lib->spec = s;
    int32_t *so = realloc(lib->source, cap * sizeof *so);
    if (!so)
        return -1;
    lib->source = so;
    uint8_t *c = realloc(lib->cls, cap);
    if (!c)
        return -1;
    lib->cls = c;
    lib->cap = cap;
    return 0;
}

static uint64_t lmix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* The candidate spectra of the layers (every date and pixel of the finest
 * layer's grid with all present bands valid), classified; then at most
 * max_spectra per class, drawn by sorting on a hash of (seed, candidate). */
static cc_status collect(ds_library *lib, const lib_layers *ls, int src_idx, const ds_source *src, uint64_t seed,
                         size_t *kept_class, int *has_classes)
{
    const lib_layer *ref = NULL, *cl = NULL;
    const lib_layer *band[NB] = {0};
    int nd = -1;
    for (int i = 0; i < ls->n; i++) {
        const lib_layer *l = &ls->l[i];
        if (l->k < 0)
            cl = l;
        else
            band[l->k] = l;
        if (l->k >= 0 && (!ref || fabs(l->gt[1]) < fabs(ref->gt[1])))
            ref = l;
        if (l->k < 0)
            continue;
        if (nd >= 0 && l->nd != nd)
            return cc_error_set(CC_ERR_FORMAT, "%s: layers have different numbers of dates (%d and %d)", src->path,
                                nd, l->nd);
        nd = l->nd;
    }
    if (cl && nd >= 0 && cl->nd != 1 && cl->nd != nd)
        return cc_error_set(CC_ERR_FORMAT, "%s: the classes have %d dates, the bands %d", src->path, cl->nd, nd);
    *has_classes = cl != NULL;
    int nb = 0;
    for (int k = 0; k < NB; k++)
        nb += band[k] != NULL;
    if (!ref || !band[1] || !band[2] || !band[3] || !band[7])
        return cc_error_set(CC_ERR_MISSING, "%s: the library needs at least B02, B03, B04 and B08 (%d bands found)",
                            src->path, nb);
    size_t np = (size_t)ref->w * ref->h, ncand = (size_t)nd * np;
    uint64_t *key = cc_malloc3(ncand ? ncand : 1, sizeof *key, 1);
    uint8_t *ccls = cc_malloc3(ncand ? ncand : 1, 1, 1);
    if (!key || !ccls) {
        free(key);
        free(ccls);
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory (%zu candidate spectra)", src->path, ncand);
    }
    for (size_t q = 0; q < ncand; q++) {
        int d = (int)(q / np);
        size_t i = q % np;
        double x = ref->gt[0] + ((double)(i % ref->w) + 0.5) * ref->gt[1];
        double y = ref->gt[3] + ((double)(i / ref->w) + 0.5) * ref->gt[5];
        float r[NB];
        int ok = 1;
        for (int k = 0; k < NB && ok; k++) {
            r[k] = band[k] ? layer_at(band[k], d, x, y) : 0.0f;
            ok = !band[k] || (isfinite(r[k]) && r[k] > 0.0f && r[k] < 6.0f);
        }
        int c = -1;
        if (ok)
            c = cl ? class_of_scl((int)layer_at(cl, cl->nd == 1 ? 0 : d, x, y)) : class_of_spectrum(r);
        ccls[q] = c < 0 ? 255 : (uint8_t)c;
        key[q] = c < 0 ? UINT64_MAX : lmix(seed ^ lmix((uint64_t)q + 1));
    }
    /* per class: the max_spectra smallest keys (a threshold found by selection) */
    cc_status st = CC_OK;
    for (int c = 0; c < CC_LIB_NCLASS && st == CC_OK; c++) {
        size_t nc = 0;
        for (size_t q = 0; q < ncand; q++)
            nc += ccls[q] == c;
        uint64_t thr = UINT64_MAX - 1;
        if (nc > (size_t)src->max_spectra) {
            uint64_t lo = 0, hi = UINT64_MAX - 1; /* smallest thr with count(key <= thr) >= max */
            while (lo < hi) {
                uint64_t mid = lo + (hi - lo) / 2;
                size_t cnt = 0;
                for (size_t q = 0; q < ncand; q++)
                    cnt += ccls[q] == c && key[q] <= mid;
                if (cnt >= (size_t)src->max_spectra)
                    hi = mid;
                else
                    lo = mid + 1;
            }
            thr = lo;
        }
        size_t take = nc < (size_t)src->max_spectra ? nc : (size_t)src->max_spectra;
        if (lib_grow(lib, take)) {
            st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory for the library", src->path);
            break;
        }
        size_t got = 0;
        for (size_t q = 0; q < ncand && got < take; q++) {
            if (ccls[q] != c || key[q] > thr)
                continue;
            int d = (int)(q / np);
            size_t i = q % np;
            double x = ref->gt[0] + ((double)(i % ref->w) + 0.5) * ref->gt[1];
            double y = ref->gt[3] + ((double)(i / ref->w) + 0.5) * ref->gt[5];
            uint16_t *o = lib->spec + lib->n * NB;
            for (int k = 0; k < NB; k++)
                o[k] = band[k] ? cc_refl_encode(layer_at(band[k], d, x, y), CC_DATASET_DN_OFFSET, CC_REFL_QUANT) : 0;
            lib->source[lib->n] = src_idx;
            lib->cls[lib->n] = (uint8_t)c;
            lib->n++;
            got++;
        }
        kept_class[c] = got;
    }
    free(key);
    free(ccls);
    return st;
}

cc_status cc_library_add(ds_library *lib, const cc_dataset_config *c, int i, uint64_t seed)
{
    const ds_source *src = &c->src[i];
    lib_layers ls = {0};
    cc_status st;
    GDALAllRegister();
    if (src->format == 0)
        st = read_scene(src, c->dir, c->shared, &ls);
    else if (src->format == 1)
        st = read_stack(src, c->dir, c->shared, &ls);
    else {
        st = read_netcdf_vars(src->path, src->bands, src, &ls);
        if (st == CC_OK && src->path2)
            st = read_netcdf_vars(src->path2, src->bands2, src, &ls);
        if (st == CC_OK && src->classes) {
            int found = 0;
            for (int j = 0; j < ls.n; j++)
                found |= ls.l[j].k < 0;
            if (!found)
                st = cc_error_set(CC_ERR_MISSING, "%s: classes variable '%s' is not among bands/bands2", src->path,
                                  src->classes);
        }
    }
    size_t kept[CC_LIB_NCLASS] = {0};
    int has_classes = 0;
    if (st == CC_OK)
        st = collect(lib, &ls, i, src, seed, kept, &has_classes);
    layers_free(&ls);
    if (st != CC_OK)
        return st;
    cc_info("%s: sources[%d] (%s, library): %zu land, %zu water, %zu snow, %zu cloud, %zu shadow, %zu haze spectra "
            "(classes from %s)",
            src->path, i, src->scene, kept[0], kept[1], kept[2], kept[3], kept[4], kept[5],
            has_classes ? "SCL" : "spectral rules");
    return CC_OK;
}

/* ---- fill rules for missing bands ---- */

/* Solves the m x m system A x = b (Gaussian elimination, partial pivoting). */
static int solve(int m, double A[5][5], double b[5], double x[5])
{
    for (int i = 0; i < m; i++) {
        int p = i;
        for (int r = i + 1; r < m; r++)
            if (fabs(A[r][i]) > fabs(A[p][i]))
                p = r;
        if (fabs(A[p][i]) < 1e-12)
            return -1;
        for (int cc = 0; cc < m; cc++) {
            double t = A[i][cc];
            A[i][cc] = A[p][cc];
            A[p][cc] = t;
        }
        double t = b[i];
        b[i] = b[p];
        b[p] = t;
        for (int r = i + 1; r < m; r++) {
            double f = A[r][i] / A[i][i];
            for (int cc = i; cc < m; cc++)
                A[r][cc] -= f * A[i][cc];
            b[r] -= f * b[i];
        }
    }
    for (int i = m - 1; i >= 0; i--) {
        double s = b[i];
        for (int cc = i + 1; cc < m; cc++)
            s -= A[i][cc] * x[cc];
        x[i] = s / A[i][i];
    }
    return 0;
}

/* target band and its predictors (indices in cc_l2a_bands), in the order
 * the rules are applied: B8A before B09, whose rule uses it */
const int cc_library_fill_target[CC_LIB_NFILL] = {0, 8, 9}; /* B01, B8A, B09 */
const int cc_library_fill_pred[CC_LIB_NFILL][3] = {{1, 2, 3}, {6, 7, 5}, {8, 10, 11}}; /* B02 B03 B04; B07 B08 B06; B8A B11 B12 */

static double refl(uint16_t v)
{
    return cc_refl_decode(v, -CC_DATASET_DN_OFFSET, CC_REFL_QUANT);
}

/* 1 when spectrum s has all 12 bands */
static int complete(const uint16_t *s)
{
    int full = 1;
    for (int k = 0; k < NB; k++)
        full &= s[k] != 0;
    return full;
}

/* Fits rule f on the spectra complete as read (full0) and fills band
 * cc_library_fill_target[f] where a spectrum lacks it and has the
 * predictors. A rule no spectrum needs is not fitted when the library has too
 * few complete spectra for it (coefficients NaN). */
static cc_status fill_one(ds_library *lib, int f, const uint8_t *full0, const char *file)
{
    int t = cc_library_fill_target[f];
    const int *pr = cc_library_fill_pred[f];
    double A[5][5] = {{0}}, b[5] = {0}, x[5] = {0};
    size_t n = 0;
    for (size_t i = 0; i < lib->n; i++) {
        const uint16_t *s = lib->spec + i * NB;
        if (!full0[i])
            continue;
        double v[4] = {1.0, refl(s[pr[0]]), refl(s[pr[1]]), refl(s[pr[2]])};
        for (int r = 0; r < 4; r++) {
            for (int cc = 0; cc < 4; cc++)
                A[r][cc] += v[r] * v[cc];
            b[r] += v[r] * refl(s[t]);
        }
        n++;
    }
    size_t need = 0;
    for (size_t i = 0; i < lib->n; i++) {
        const uint16_t *s = lib->spec + i * NB;
        need += !s[t] && s[pr[0]] && s[pr[1]] && s[pr[2]];
    }
    if (need == 0 && n < 100) {
        for (int q = 0; q < 5; q++)
            lib->fill[f][q] = NAN;
        lib->fill_rmse[f] = NAN;
        lib->n_fit[f] = n;
        lib->n_filled[f] = 0;
        return CC_OK;
    }
    if (n < 100 || solve(4, A, b, x))
        return cc_error_set(CC_ERR_NODATA,
                            "%s: the library has %zu spectra with all 12 bands; at least 100 are needed to fit "
                            "the rule that fills %s",
                            file, n, cc_band_names[cc_l2a_bands[t]]);
    double se = 0;
    size_t nf = 0;
    for (size_t i = 0; i < lib->n; i++) {
        uint16_t *s = lib->spec + i * NB;
        double p = x[0] + x[1] * refl(s[pr[0]]) + x[2] * refl(s[pr[1]]) + x[3] * refl(s[pr[2]]);
        if (full0[i]) {
            double e = p - refl(s[t]);
            se += e * e;
        } else if (!s[t] && s[pr[0]] && s[pr[1]] && s[pr[2]]) {
            s[t] = cc_refl_encode(fmin(fmax(p, 1e-4), 1.5), CC_DATASET_DN_OFFSET, CC_REFL_QUANT);
            nf++;
        }
    }
    memcpy(lib->fill[f], x, sizeof lib->fill[f]);
    lib->fill_rmse[f] = sqrt(se / (double)n);
    lib->n_fit[f] = n;
    lib->n_filled[f] = nf;
    cc_info("library: %s = %.4f %+.4f %s %+.4f %s %+.4f %s (fitted on %zu full spectra, rmse %.4f); filled in "
            "%zu spectra",
            cc_band_names[cc_l2a_bands[t]], x[0], x[1], cc_band_names[cc_l2a_bands[pr[0]]], x[2],
            cc_band_names[cc_l2a_bands[pr[1]]], x[3], cc_band_names[cc_l2a_bands[pr[2]]], n, lib->fill_rmse[f], nf);
    return CC_OK;
}

cc_status cc_library_fill(ds_library *lib, const char *file)
{
    /* the rules are fitted on the spectra complete as read, not on spectra an
     * earlier rule completed */
    uint8_t *full0 = cc_malloc3(lib->n ? lib->n : 1, 1, 1);
    if (!full0)
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory (library of %zu spectra)", file, lib->n);
    for (size_t i = 0; i < lib->n; i++)
        full0[i] = (uint8_t)complete(lib->spec + i * NB);
    cc_status st = CC_OK;
    for (int f = 0; f < CC_LIB_NFILL && st == CC_OK; f++)
        st = fill_one(lib, f, full0, file);
    free(full0);
    if (st != CC_OK)
        return st;
    /* a spectrum still lacking a band (its predictors were missing too) is dropped */
    size_t w = 0;
    for (size_t i = 0; i < lib->n; i++) {
        const uint16_t *s = lib->spec + i * NB;
        if (!complete(s))
            continue;
        if (w != i) {
            memmove(lib->spec + w * NB, s, NB * sizeof *s);
            lib->source[w] = lib->source[i];
            lib->cls[w] = lib->cls[i];
        }
        w++;
    }
    if (w < lib->n)
        cc_warn("library: %zu spectra dropped (a band and its fill predictors missing)", lib->n - w);
    lib->n = w;
    return CC_OK;
}

void cc_library_free(ds_library *lib)
{
    free(lib->spec);
    free(lib->source);
    free(lib->cls);
    memset(lib, 0, sizeof *lib);
}
