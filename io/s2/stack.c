/* Stack readers: rasters without SAFE metadata.
 *
 * - A multi-band file (GeoTIFF or anything GDAL reads): option bands gives the
 *   band order and must list exactly as many bands as the file has.
 * - A folder of per-band files: a file belongs to band Bxx when a token of its
 *   name (split at non-alphanumerics) is B01..B12 or B8A ("T33UUU_..._B02.jp2",
 *   "s2_B05.jp2", "B04.tif"); SCL/AOT/WVP tokens give the L2A layers. Option
 *   bands, when set, selects and orders the bands (each must have a file).
 *
 * Both need the options spacecraft, date, sun_zenith, sun_azimuth,
 * view_zenith and view_azimuth; the angles become constant 1x1 grids at the
 * finest band's origin. dn_offset defaults to 0 (DN = 10000 rho, as before
 * processing baseline 04.00) and the log says so at info level.
 *
 * Level: L2A when an SCL, AOT or WVP layer is read, or when the file/folder
 * name has an "L2A", "MSIL2A" or "BOA" token; L1C otherwise.
 * tile_id: a "T\d\d[A-Z]{3}" token of the file/folder name (or, for a
 * folder, of a band file's name); "" when there is none. */
#define _GNU_SOURCE /* strdup, strndup; struct stat64 behind VSIStatBufL */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cpl_string.h>
#include <cpl_vsi.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/reflectance.h"
#include "io/s2/scene-impl.h"

/* Last path component without trailing slashes (and without the extension
 * when strip_ext) into out. */
static void stem_of(const char *path, int strip_ext, char *out, size_t n)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    size_t len = strlen(tmp);
    while (len > 1 && tmp[len - 1] == '/')
        tmp[--len] = '\0';
    const char *base = strrchr(tmp, '/');
    base = base ? base + 1 : tmp;
    snprintf(out, n, "%s", base);
    if (strip_ext) {
        char *dot = strrchr(out, '.');
        if (dot && dot != out)
            *dot = '\0';
    }
}

/* Copies src into dst[n], truncating (ids longer than 127 characters are cut). */
static void copy_trunc(char *dst, size_t n, const char *src)
{
    size_t len = strnlen(src, n - 1);
    memcpy(dst, src, len);
    dst[len] = '\0';
}

/* 1 if name has an alphanumeric token equal (case-insensitive) to one of the
 * NULL-terminated words. */
static int has_token(const char *name, const char *const *words)
{
    char **tok = CSLTokenizeString2(name, "_-. ", 0);
    int hit = 0;
    for (int i = 0; tok && tok[i] && !hit; i++)
        for (int w = 0; words[w] && !hit; w++)
            hit = strcasecmp(tok[i], words[w]) == 0;
    CSLDestroy(tok);
    return hit;
}

/* Layer id named by a token of a file name ("..._B02.jp2" -> CC_B02), the
 * last such token winning; -1 if none. */
static int layer_of_name(const char *name)
{
    char stem[1024];
    stem_of(name, 1, stem, sizeof stem);
    int id = -1;
    const char *p = stem;
    while (*p) {
        while (*p && !isalnum((unsigned char)*p))
            p++;
        const char *q = p;
        while (*q && isalnum((unsigned char)*q))
            q++;
        if (q - p == 3) {
            char t[4] = {p[0], p[1], p[2], '\0'};
            int l = cc_scene_layer_index(t);
            if (l >= 0)
                id = l;
        }
        p = q;
    }
    return id;
}

static int raster_extension(const char *name)
{
    static const char *const ext[] = {".jp2", ".j2k", ".tif", ".tiff", ".vrt", ".img", NULL};
    size_t n = strlen(name);
    for (int i = 0; ext[i]; i++) {
        size_t e = strlen(ext[i]);
        if (n > e && strcasecmp(name + n - e, ext[i]) == 0)
            return 1;
    }
    return 0;
}

/* CC_ERR_ARG listing every required option that is unset. */
static cc_status require_options(const char *input, const cc_scene_options *o, int need_bands)
{
    char missing[256] = "";
    struct {
        int unset;
        const char *name;
    } req[] = {{need_bands && !o->bands, "bands"},        {!o->spacecraft, "spacecraft"},
               {!o->date, "date"},                         {isnan(o->sun_zenith), "sun_zenith"},
               {isnan(o->sun_azimuth), "sun_azimuth"},     {isnan(o->view_zenith), "view_zenith"},
               {isnan(o->view_azimuth), "view_azimuth"}};
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++) {
        if (!req[i].unset)
            continue;
        size_t len = strlen(missing);
        snprintf(missing + len, sizeof missing - len, "%s%s", len ? ", " : "", req[i].name);
    }
    if (missing[0])
        return cc_error_set(CC_ERR_ARG, "%s: input without SAFE metadata needs option(s) %s", input, missing);
    return CC_OK;
}

/* Common metadata of a stack once its rasters are read. */
static cc_status finish_stack(cc_scene *s, const char *input, const char *name, const cc_scene_options *o)
{
    static const char *const l2a_words[] = {"L2A", "MSIL2A", "BOA", NULL};
    s->level = (s->scl.present || s->aot.present || s->wvp.present || has_token(name, l2a_words)) ? CC_LEVEL_L2A
                                                                                                 : CC_LEVEL_L1C;
    s->quantification = CC_REFL_QUANT;
    if (s->level == CC_LEVEL_L2A)
        s->aot_quantification = s->wvp_quantification = 1000.0;
    s->nodata_dn = 0;
    s->saturated_dn = CC_REFL_DN_SATURATED;
    if (isnan(o->dn_offset))
        cc_info("%s: no dn_offset option: using offset 0 (rho = DN / 10000, as before baseline 04.00)", input);
    return cc_scene_apply_options(s, input, o);
}

cc_status cc_scene_read_stack_file(const char *path, const cc_scene_options *o, cc_scene *s)
{
    cc_status st = CC_OK;
    GDALDatasetH ds = NULL;
    int ids[CC_NLAYERS], n = 0;
    char stem[1024];

    if ((st = require_options(path, o, 1)) != CC_OK)
        return st;
    if ((st = cc_scene_parse_bands(path, o->bands, 1, ids, &n)) != CC_OK)
        return st;
    if ((st = cc_scene_gdal_open(path, CC_ERR_IO, &ds)) != CC_OK)
        return st;
    const int count = GDALGetRasterCount(ds);
    if (count != n) {
        st = cc_error_set(CC_ERR_ARG, "%s: option bands lists %d band(s) but the raster has %d", path, n, count);
        goto out;
    }
    if ((st = cc_scene_gdal_crs(ds, path, &s->wkt, &s->epsg)) != CC_OK)
        goto out;
    if ((st = cc_scene_require_projected(s->wkt, path)) != CC_OK)
        goto out;
    { /* the scene's pixels against the memory budget before any is read (issue 17) */
        char what[128];
        const unsigned long long w = (unsigned long long)GDALGetRasterXSize(ds);
        const unsigned long long h = (unsigned long long)GDALGetRasterYSize(ds);
        snprintf(what, sizeof what, "reading %d band(s) of %llu x %llu pixels", n, w, h);
        if ((st = cc_mem_check((unsigned long long)n * w * h * sizeof(uint16_t), path, what)) != CC_OK)
            goto out;
    }
    for (int i = 0; i < n; i++)
        if ((st = cc_scene_gdal_read(ds, path, i + 1, cc_scene_layer(s, ids[i]))) != CC_OK)
            goto out;

    stem_of(path, 1, stem, sizeof stem);
    copy_trunc(s->product_id, sizeof s->product_id, stem);
    if (!cc_scene_tile_token(stem, s->tile_id))
        s->tile_id[0] = '\0';
    st = finish_stack(s, path, stem, o);
out:
    if (ds)
        GDALClose(ds);
    return st;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

cc_status cc_scene_read_stack_dir(const char *path, const cc_scene_options *o, cc_scene *s)
{
    cc_status st = CC_OK;
    char **ls = NULL;            /* directory listing, CSLDestroy */
    const char *file[CC_NLAYERS] = {0}; /* names inside ls */
    int order[CC_NLAYERS], n = 0;
    char stem[1024];

    ls = VSIReadDir(path);
    int nls = CSLCount(ls);
    if (nls > 1)
        qsort(ls, (size_t)nls, sizeof *ls, cmp_str); /* deterministic on duplicates */
    for (int i = 0; i < nls; i++) {
        if (ls[i][0] == '.' || !raster_extension(ls[i]))
            continue;
        int l = layer_of_name(ls[i]);
        if (l < 0) {
            cc_debug("%s: %s names no band, skipped", path, ls[i]);
            continue;
        }
        if (file[l]) {
            st = cc_error_set(CC_ERR_FORMAT, "%s: two files for %s (%s and %s)", path, cc_scene_layer_name(l),
                              file[l], ls[i]);
            goto out;
        }
        file[l] = ls[i];
    }

    if (o->bands) {
        if ((st = cc_scene_parse_bands(path, o->bands, 1, order, &n)) != CC_OK)
            goto out;
        for (int i = 0; i < n; i++)
            if (!file[order[i]]) {
                st = cc_error_set(CC_ERR_MISSING, "%s: option bands asks for %s but no file in the folder names it",
                                  path, cc_scene_layer_name(order[i]));
                goto out;
            }
    } else {
        for (int l = 0; l < CC_NLAYERS; l++)
            if (file[l])
                order[n++] = l;
    }
    char *full[CC_NLAYERS] = {0};
    for (int i = 0; i < n && st == CC_OK; i++)
        if (!(full[order[i]] = cc_scene_join(path, file[order[i]], NULL)))
            st = CC_ERR_NOMEM;
    stem_of(path, 0, stem, sizeof stem);
    if (st == CC_OK)
        st = cc_scene_read_band_files(path, stem, (const char *const *)full, order, n, o, s);
    for (int l = 0; l < CC_NLAYERS; l++)
        free(full[l]);
out:
    CSLDestroy(ls);
    return st;
}

cc_status cc_scene_read_band_files(const char *label, const char *stem, const char *const *file, const int *order,
                                   int n, const cc_scene_options *o, cc_scene *s)
{
    cc_status st = CC_OK;
    GDALDatasetH ds = NULL;
    int nbands = 0;
    for (int i = 0; i < n; i++)
        nbands += order[i] < CC_NBANDS;
    if (nbands == 0)
        return cc_error_set(CC_ERR_MISSING, "%s: no per-band raster files (names with B01..B12 or B8A)", label);
    if ((st = require_options(label, o, 0)) != CC_OK)
        return st;
    const char *first = NULL; /* file that gave the scene its CRS */
    for (int i = 0; i < n; i++) {
        const int l = order[i];
        const char *full = file[l];
        if ((st = cc_scene_gdal_open(full, CC_ERR_MISSING, &ds)) != CC_OK)
            goto out;
        char *wkt = NULL;
        int epsg = 0;
        if ((st = cc_scene_gdal_crs(ds, full, &wkt, &epsg)) != CC_OK)
            goto out;
        if ((st = cc_scene_require_projected(wkt, full)) != CC_OK) {
            free(wkt);
            goto out;
        }
        if (!s->wkt) {
            s->wkt = wkt; /* owned by the scene */
            s->epsg = epsg;
            first = full;
        } else {
            int same = cc_scene_same_crs(s->wkt, wkt);
            free(wkt);
            if (!same) {
                st = cc_error_set(CC_ERR_CRS, "%s: CRS differs from that of %s", full, first);
                goto out;
            }
        }
        if (GDALGetRasterCount(ds) > 1)
            cc_warn("%s: has %d bands; reading the first as %s", full, GDALGetRasterCount(ds),
                    cc_scene_layer_name(l));
        if ((st = cc_scene_gdal_read(ds, full, 1, cc_scene_layer(s, l))) != CC_OK)
            goto out;
        GDALClose(ds);
        ds = NULL;
    }
    copy_trunc(s->product_id, sizeof s->product_id, stem);
    s->tile_id[0] = '\0';
    if (!cc_scene_tile_token(stem, s->tile_id))
        for (int i = 0; i < n; i++) {
            const char *b = strrchr(file[order[i]], '/');
            if (cc_scene_tile_token(b ? b + 1 : file[order[i]], s->tile_id))
                break;
        }
    st = finish_stack(s, label, stem, o);
out:
    if (ds)
        GDALClose(ds);
    return st;
}
