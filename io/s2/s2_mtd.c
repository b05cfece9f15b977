/* Sentinel-2 SAFE metadata: MTD_MSIL1C.xml / MTD_MSIL2A.xml (product level)
 * and GRANULE/<id>/MTD_TL.xml (tile level), parsed with GDAL's CPL mini-XML
 * parser (works on /vsizip/ paths). Only the space-separated number lists
 * inside <VALUES> are tokenised here (with strtod). */
#define _GNU_SOURCE /* strdup, strndup; struct stat64 behind VSIStatBufL */

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

#include "core/alloc.h"
#include "core/date.h"
#include "core/log.h"
#include "io/s2/s2_mtd.h"

/* ------------------------------------------------------------------------ */
/* XML helpers                                                              */
/* ------------------------------------------------------------------------ */

/* Parses `path` quietly (GDAL messages are folded into our one-line error).
 * On success *doc owns the tree (CPLDestroyXMLNode) and *root is its first
 * element with namespace prefixes stripped. */
static cc_status xml_load(const char *path, CPLXMLNode **doc, CPLXMLNode **root)
{
    cc_status st = CC_OK;
    VSIStatBufL sb;
    *doc = NULL;
    *root = NULL;
    if (!path || !*path)
        return cc_error_set(CC_ERR_ARG, "metadata path is empty");
    if (VSIStatL(path, &sb) != 0)
        return cc_error_set(CC_ERR_IO, "%s: cannot open (no such file)", path);
    if (VSI_ISDIR(sb.st_mode))
        return cc_error_set(CC_ERR_IO, "%s: is a directory, not an XML file", path);

    CPLPushErrorHandler(CPLQuietErrorHandler);
    CPLErrorReset();
    *doc = CPLParseXMLFile(path);
    char reason[256];
    snprintf(reason, sizeof reason, "%s", CPLGetLastErrorMsg());
    CPLPopErrorHandler();
    if (!*doc) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: not a well-formed XML document (%s)", path,
                          reason[0] ? reason : "parser gave no reason");
        goto out;
    }
    CPLStripXMLNamespace(*doc, NULL, TRUE);
    for (CPLXMLNode *n = *doc; n; n = n->psNext) {
        if (n->eType == CXT_Element && n->pszValue[0] != '?') {
            *root = n;
            break;
        }
    }
    if (!*root)
        st = cc_error_set(CC_ERR_FORMAT, "%s: not an XML document (no root element)", path);
out:
    if (st != CC_OK && *doc) {
        CPLDestroyXMLNode(*doc);
        *doc = NULL;
        *root = NULL;
    }
    return st;
}

/* First element named `name` (case-insensitive) anywhere below `root`. */
static CPLXMLNode *find_elem(CPLXMLNode *root, const char *name)
{
    CPLXMLNode *n = CPLSearchXMLNode(root, name);
    return (n && n->eType == CXT_Element) ? n : NULL;
}

/* Text of the first element named `name` below root, NULL if absent/empty. */
static const char *find_text(CPLXMLNode *root, const char *name)
{
    CPLXMLNode *n = find_elem(root, name);
    return n ? CPLGetXMLValue(n, NULL, NULL) : NULL;
}

static int is_child(const CPLXMLNode *n, const char *name)
{
    return n->eType == CXT_Element && EQUAL(n->pszValue, name);
}

/* Strict number: the whole string (modulo surrounding blanks) must be one
 * finite number. */
static cc_status parse_number(const char *path, const char *what, const char *s, double *out)
{
    char *end = NULL;
    if (!s)
        return cc_error_set(CC_ERR_MISSING, "%s: missing element %s", path, what);
    double v = strtod(s, &end);
    while (end && end != s && isspace((unsigned char)*end))
        end++;
    if (end == s || !end || *end != '\0' || !isfinite(v))
        return cc_error_set(CC_ERR_FORMAT, "%s: bad number '%.40s' in %s", path, s, what);
    *out = v;
    return CC_OK;
}

/* Required numeric element anywhere below root. */
static cc_status req_number(const char *path, CPLXMLNode *root, const char *name, double *out)
{
    const char *s = find_text(root, name);
    if (!s)
        return cc_error_set(CC_ERR_MISSING, "%s: missing element %s", path, name);
    return parse_number(path, name, s, out);
}

/* Integer attribute `attr` of node (band ids), -1 if absent or not an integer. */
static int int_attr(CPLXMLNode *n, const char *attr)
{
    const char *s = CPLGetXMLValue(n, attr, NULL);
    char *end = NULL;
    if (!s)
        return -1;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < 0 || v > 1000)
        return -1;
    return (int)v;
}

/* "2017-03-01T10:30:21.026Z" -> seconds since the epoch (UTC). */
static cc_status parse_utc(const char *path, const char *what, const char *s, int *y, int *mo,
                           int *d, double *t)
{
    cc_datetime dt;
    if (!s)
        return cc_error_set(CC_ERR_MISSING, "%s: missing element %s", path, what);
    if (!cc_date_scan_datetime(s, 1, &dt))
        return cc_error_set(CC_ERR_FORMAT, "%s: bad UTC time '%.40s' in %s", path, s, what);
    *y = dt.year;
    *mo = dt.month;
    *d = dt.day;
    *t = cc_datetime_epoch(&dt);
    return CC_OK;
}

/* ------------------------------------------------------------------------ */
/* Product metadata                                                         */
/* ------------------------------------------------------------------------ */

void cc_s2_mtd_product_free(cc_s2_product_mtd *m)
{
    if (!m)
        return;
    for (int b = 0; b < CC_NBANDS; b++) {
        free(m->image_file[b]);
        m->image_file[b] = NULL;
    }
    free(m->scl_file);
    free(m->aot_file);
    free(m->wvp_file);
    free(m->granule_dir);
    m->scl_file = m->aot_file = m->wvp_file = m->granule_dir = NULL;
}

static cc_status dup_str(const char *s, char **dst)
{
    *dst = strdup(s);
    return *dst ? CC_OK : cc_error_set(CC_ERR_NOMEM, "out of memory copying '%.60s'", s);
}

/* Sets *slot to a copy of s unless already set. */
static cc_status keep_first(char **slot, const char *s)
{
    return *slot ? CC_OK : dup_str(s, slot);
}

/* One IMAGE_FILE entry, e.g. "GRANULE/L1C_.../IMG_DATA/T32UMF_20170301T103021_B08" (L1C)
 * or "GRANULE/L2A_.../IMG_DATA/R10m/T32UMF_..._B02_10m" (L2A). */
static cc_status take_image_file(const char *path, cc_s2_product_mtd *m, const char *f)
{
    cc_status st = CC_OK;
    char **tok = NULL;
    const char *base = strrchr(f, '/');
    base = base ? base + 1 : f;

    if (!m->granule_dir) {
        /* "GRANULE/<id>/..." -> "GRANULE/<id>" */
        const char *p = f;
        if (strncmp(p, "./", 2) == 0)
            p += 2;
        const char *s1 = strchr(p, '/');
        const char *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
        if (!s1 || !s2 || strncasecmp(p, "GRANULE/", 8) != 0) {
            st = cc_error_set(CC_ERR_FORMAT, "%s: IMAGE_FILE '%.120s' is not under GRANULE/<id>/",
                              path, f);
            goto out;
        }
        m->granule_dir = strndup(p, (size_t)(s2 - p));
        if (!m->granule_dir) {
            st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
            goto out;
        }
    }

    tok = CSLTokenizeString2(base, "_", 0);
    int nt = CSLCount(tok);
    if (nt < 2)
        goto out; /* not a band file we know: ignore */
    const char *last = tok[nt - 1], *prev = tok[nt - 2];
    if (m->level == CC_LEVEL_L1C) {
        int b = cc_band_index(last);
        if (b >= 0)
            st = keep_first(&m->image_file[b], f);
        goto out;
    }
    /* L2A: <...>_<NAME>_<res>m */
    int res = atoi(last);
    if (res != 10 && res != 20 && res != 60)
        goto out;
    int b = cc_band_index(prev);
    if (b >= 0) {
        if (cc_band_resolution[b] == res)
            st = keep_first(&m->image_file[b], f);
    } else if (EQUAL(prev, "SCL") && res == 20) {
        st = keep_first(&m->scl_file, f);
    } else if (EQUAL(prev, "AOT") && res == 20) {
        free(m->aot_file); /* 20 m preferred over 10 m */
        m->aot_file = NULL;
        st = dup_str(f, &m->aot_file);
    } else if (EQUAL(prev, "AOT") && res == 10) {
        st = keep_first(&m->aot_file, f);
    } else if (EQUAL(prev, "WVP") && res == 20) {
        free(m->wvp_file);
        m->wvp_file = NULL;
        st = dup_str(f, &m->wvp_file);
    } else if (EQUAL(prev, "WVP") && res == 10) {
        st = keep_first(&m->wvp_file, f);
    }
out:
    CSLDestroy(tok);
    return st;
}

/* Per-band list (SOLAR_IRRADIANCE bandId=, RADIO_ADD_OFFSET band_id=, ...)
 * under `list` into dst[CC_NBANDS]. Returns the number of entries read. */
static cc_status read_band_list(const char *path, CPLXMLNode *list, const char *item,
                                double dst[CC_NBANDS], int *n_read)
{
    *n_read = 0;
    for (CPLXMLNode *c = list->psChild; c; c = c->psNext) {
        if (!is_child(c, item))
            continue;
        int b = int_attr(c, "bandId");
        if (b < 0)
            b = int_attr(c, "band_id");
        if (b < 0 || b >= CC_NBANDS)
            return cc_error_set(CC_ERR_FORMAT, "%s: %s has a missing or bad band id", path, item);
        char what[64];
        snprintf(what, sizeof what, "%s (band id %d)", item, b);
        cc_status st = parse_number(path, what, CPLGetXMLValue(c, NULL, NULL), &dst[b]);
        if (st != CC_OK)
            return st;
        (*n_read)++;
    }
    return CC_OK;
}

static cc_status read_special_values(const char *path, CPLXMLNode *root, cc_s2_product_mtd *m)
{
    m->nodata_dn = 0;
    m->saturated_dn = 65535;
    CPLXMLNode *first = find_elem(root, "Special_Values");
    if (!first)
        return CC_OK; /* conventions apply */
    /* siblings of the first Special_Values */
    for (CPLXMLNode *n = first; n; n = n->psNext) {
        if (!is_child(n, "Special_Values"))
            continue;
        const char *txt = CPLGetXMLValue(n, "SPECIAL_VALUE_TEXT", NULL);
        const char *idx = CPLGetXMLValue(n, "SPECIAL_VALUE_INDEX", NULL);
        double v;
        if (!txt || !idx)
            return cc_error_set(CC_ERR_FORMAT, "%s: Special_Values without SPECIAL_VALUE_TEXT/INDEX",
                                path);
        cc_status st = parse_number(path, "SPECIAL_VALUE_INDEX", idx, &v);
        if (st != CC_OK)
            return st;
        if (v < 0 || v > 65535 || v != floor(v))
            return cc_error_set(CC_ERR_FORMAT, "%s: SPECIAL_VALUE_INDEX %g is not a uint16 DN", path,
                                v);
        if (EQUAL(txt, "NODATA"))
            m->nodata_dn = (uint16_t)v;
        else if (EQUAL(txt, "SATURATED"))
            m->saturated_dn = (uint16_t)v;
    }
    return CC_OK;
}

/* L1C or L2A, from the root element or PRODUCT_TYPE. */
static cc_status product_level(const char *path, CPLXMLNode *root, cc_s2_product_mtd *m)
{
    const char *ptype = find_text(root, "PRODUCT_TYPE");
    if (EQUAL(root->pszValue, "Level-1C_User_Product") || (ptype && STARTS_WITH_CI(ptype, "S2MSI1C")))
        m->level = CC_LEVEL_L1C;
    else if (EQUAL(root->pszValue, "Level-2A_User_Product") ||
             (ptype && STARTS_WITH_CI(ptype, "S2MSI2A")))
        m->level = CC_LEVEL_L2A;
    else
        return cc_error_set(CC_ERR_FORMAT,
                            "%s: not a Sentinel-2 L1C/L2A product metadata file (root element %.60s)",
                            path, root->pszValue);
    return CC_OK;
}

/* PRODUCT_URI, PROCESSING_BASELINE, SPACECRAFT_NAME, PRODUCT_START_TIME. */
static cc_status product_identity(const char *path, CPLXMLNode *root, cc_s2_product_mtd *m)
{
    const char *uri = find_text(root, "PRODUCT_URI");
    if (!uri)
        return cc_error_set(CC_ERR_MISSING, "%s: missing element PRODUCT_URI", path);
    size_t ulen = strlen(uri);
    if (ulen > 5 && EQUAL(uri + ulen - 5, ".SAFE"))
        ulen -= 5;
    if (ulen == 0 || ulen >= sizeof m->product_id)
        return cc_error_set(CC_ERR_FORMAT, "%s: PRODUCT_URI '%.60s' is empty or too long", path, uri);
    memcpy(m->product_id, uri, ulen);
    m->product_id[ulen] = '\0';

    const char *pb = find_text(root, "PROCESSING_BASELINE");
    if (!pb)
        return cc_error_set(CC_ERR_MISSING, "%s: missing element PROCESSING_BASELINE", path);
    if (strlen(pb) >= sizeof m->processing_baseline || !isdigit((unsigned char)pb[0]))
        return cc_error_set(CC_ERR_FORMAT, "%s: bad PROCESSING_BASELINE '%.20s'", path, pb);
    snprintf(m->processing_baseline, sizeof m->processing_baseline, "%s", pb);

    const char *scn = find_text(root, "SPACECRAFT_NAME");
    if (!scn)
        return cc_error_set(CC_ERR_MISSING, "%s: missing element SPACECRAFT_NAME", path);
    m->spacecraft = cc_spacecraft_parse(scn);
    if (m->spacecraft == CC_SC_UNKNOWN)
        return cc_error_set(CC_ERR_UNSUPPORTED, "%s: unknown spacecraft '%.40s' in SPACECRAFT_NAME",
                            path, scn);

    return parse_utc(path, "PRODUCT_START_TIME", find_text(root, "PRODUCT_START_TIME"), &m->year, &m->month,
                     &m->day, &m->sensing_time);
}

/* Quantification values, offsets (PB >= 04.00), Reflectance_Conversion. */
static cc_status product_radiometry(const char *path, CPLXMLNode *root, cc_s2_product_mtd *m)
{
    cc_status st;
    if (m->level == CC_LEVEL_L1C) {
        st = req_number(path, root, "QUANTIFICATION_VALUE", &m->quantification);
    } else {
        /* Sen2Cor 2.4+ names; very old (2017) products used an L2A_ prefix. */
        const char *q = find_text(root, "BOA_QUANTIFICATION_VALUE")
                            ? "BOA_QUANTIFICATION_VALUE"
                            : (find_text(root, "L2A_BOA_QUANTIFICATION_VALUE")
                                   ? "L2A_BOA_QUANTIFICATION_VALUE"
                                   : "BOA_QUANTIFICATION_VALUE");
        st = req_number(path, root, q, &m->quantification);
        if (st == CC_OK) {
            q = find_text(root, "L2A_AOT_QUANTIFICATION_VALUE") ? "L2A_AOT_QUANTIFICATION_VALUE"
                                                                  : "AOT_QUANTIFICATION_VALUE";
            st = req_number(path, root, q, &m->aot_quantification);
        }
        if (st == CC_OK) {
            q = find_text(root, "L2A_WVP_QUANTIFICATION_VALUE") ? "L2A_WVP_QUANTIFICATION_VALUE"
                                                                  : "WVP_QUANTIFICATION_VALUE";
            st = req_number(path, root, q, &m->wvp_quantification);
        }
    }
    if (st != CC_OK)
        return st;
    if (!(m->quantification > 0.0) ||
        (m->level == CC_LEVEL_L2A && !(m->aot_quantification > 0.0 && m->wvp_quantification > 0.0)))
        return cc_error_set(CC_ERR_FORMAT, "%s: quantification values must be positive", path);

    /* offsets (PB >= 04.00) */
    CPLXMLNode *offl = m->level == CC_LEVEL_L1C ? find_elem(root, "Radiometric_Offset_List")
                                               : find_elem(root, "BOA_ADD_OFFSET_VALUES_LIST");
    int n_off = 0;
    if (offl) {
        st = read_band_list(path, offl, m->level == CC_LEVEL_L1C ? "RADIO_ADD_OFFSET" : "BOA_ADD_OFFSET",
                            m->radio_offset, &n_off);
        if (st != CC_OK)
            return st;
    }
    m->radio_offset_count = n_off; /* PB >= 04.00 without offsets: the scene reader decides */

    /* Reflectance_Conversion */
    CPLXMLNode *rc = find_elem(root, "Reflectance_Conversion");
    if (!rc)
        return cc_error_set(CC_ERR_MISSING, "%s: missing element Reflectance_Conversion", path);
    st = parse_number(path, "Reflectance_Conversion/U", CPLGetXMLValue(rc, "U", NULL), &m->u);
    if (st != CC_OK)
        return st;
    if (!(m->u > 0.5 && m->u < 1.5))
        return cc_error_set(CC_ERR_FORMAT, "%s: Reflectance_Conversion/U = %g is implausible", path, m->u);
    CPLXMLNode *sil = CPLGetXMLNode(rc, "Solar_Irradiance_List");
    int n_irr = 0;
    if (!sil)
        return cc_error_set(CC_ERR_MISSING, "%s: missing element Solar_Irradiance_List", path);
    st = read_band_list(path, sil, "SOLAR_IRRADIANCE", m->solar_irradiance, &n_irr);
    if (st != CC_OK)
        return st;
    if (n_irr == 0)
        return cc_error_set(CC_ERR_MISSING, "%s: Solar_Irradiance_List has no SOLAR_IRRADIANCE", path);
    return CC_OK;
}

/* The IMAGE_FILE entries of Granule_List. */
static cc_status product_images(const char *path, CPLXMLNode *root, cc_s2_product_mtd *m)
{
    cc_status st = CC_OK;
    CPLXMLNode *gl = find_elem(root, "Granule_List");
    int n_img = 0;
    for (CPLXMLNode *g = gl ? gl->psChild : NULL; g && st == CC_OK; g = g->psNext) {
        if (!is_child(g, "Granule") && !is_child(g, "Granules"))
            continue;
        for (CPLXMLNode *f = g->psChild; f && st == CC_OK; f = f->psNext) {
            /* IMAGE_FILE_2A: early Sen2Cor products */
            if (!is_child(f, "IMAGE_FILE") && !is_child(f, "IMAGE_FILE_2A"))
                continue;
            const char *txt = CPLGetXMLValue(f, NULL, NULL);
            if (!txt || !*txt)
                continue;
            n_img++;
            st = take_image_file(path, m, txt);
        }
    }
    if (st != CC_OK)
        return st;
    if (n_img == 0)
        return cc_error_set(CC_ERR_MISSING, "%s: no IMAGE_FILE in Granule_List", path);
    return CC_OK;
}

/* "..._T32UMF_N02.04" -> "32UMF". */
static int tile_from_id(const char *id, char out[8])
{
    const char *p = id;
    while (p && (p = strstr(p, "_T")) != NULL) {
        const char *t = p + 2;
        if (isdigit((unsigned char)t[0]) && isdigit((unsigned char)t[1]) &&
            isupper((unsigned char)t[2]) && isupper((unsigned char)t[3]) &&
            isupper((unsigned char)t[4]) && (t[5] == '_' || t[5] == '\0')) {
            memcpy(out, t, 5);
            out[5] = '\0';
            return 1;
        }
        p = t;
    }
    return 0;
}

/* The opening both readers share: *out zeroed (size bytes), the document loaded. */
static cc_status mtd_open(const char *xml_path, const char *fn, void *out, size_t size, CPLXMLNode **doc,
                          CPLXMLNode **root)
{
    if (!out)
        return cc_error_set(CC_ERR_ARG, "%s: out is NULL", fn);
    memset(out, 0, size);
    return xml_load(xml_path, doc, root);
}

cc_status cc_s2_mtd_product_read(const char *xml_path, cc_s2_product_mtd *out)
{
    cc_status st = CC_OK;
    CPLXMLNode *doc = NULL, *root = NULL;
    const char *path = xml_path ? xml_path : "(null)";
    cc_s2_product_mtd m;
    memset(&m, 0, sizeof m);
    if ((st = mtd_open(xml_path, "cc_s2_mtd_product_read", out, sizeof *out, &doc, &root)) != CC_OK ||
        (st = product_level(path, root, &m)) != CC_OK || (st = product_identity(path, root, &m)) != CC_OK ||
        (st = product_radiometry(path, root, &m)) != CC_OK || (st = read_special_values(path, root, &m)) != CC_OK ||
        (st = product_images(path, root, &m)) != CC_OK)
        goto out;
    /* the tile: the granule's folder ("GRANULE/L1C_T32UMF_...", or the old
     * format's "..._T32UMF_N02.04"), else the product's URI */
    if (!tile_from_id(m.granule_dir, m.tile_id))
        tile_from_id(m.product_id, m.tile_id);
out:
    if (doc)
        CPLDestroyXMLNode(doc);
    if (st != CC_OK)
        cc_s2_mtd_product_free(&m);
    else
        *out = m;
    return st;
}

/* ------------------------------------------------------------------------ */
/* Tile metadata                                                            */
/* ------------------------------------------------------------------------ */

void cc_s2_mtd_tile_free(cc_s2_tile_mtd *t)
{
    if (!t)
        return;
    free(t->sun_zenith.v);
    free(t->sun_azimuth.v);
    t->sun_zenith.v = t->sun_azimuth.v = NULL;
    for (int b = 0; b < CC_NBANDS; b++) {
        free(t->view_zenith[b].v);
        free(t->view_azimuth[b].v);
        t->view_zenith[b].v = t->view_azimuth[b].v = NULL;
    }
}

/* Tokenises one <VALUES> row into dst (up to max values; more are counted,
 * not stored). Returns the count, or -1 with *bad at the offending token. */
static int parse_row(const char *s, float *dst, int max, const char **bad)
{
    int n = 0;
    const char *p = s;
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        char *end = NULL;
        double v = strtod(p, &end);
        if (end == p || (*end && !isspace((unsigned char)*end)) || isinf(v)) {
            *bad = p;
            return -1;
        }
        if (dst && n < max)
            dst[n] = (float)v;
        n++;
        p = end;
    }
    return n;
}

/* Length of the blank-delimited token at s, at most 32 (for messages). */
static int token_len(const char *s)
{
    int n = 0;
    while (n < 32 && s[n] && !isspace((unsigned char)s[n]))
        n++;
    return n;
}

/* One angle grid (<Zenith> or <Azimuth> with COL_STEP, ROW_STEP, Values_List).
 * On success *v (nx*ny floats, malloc) is owned by the caller. */
static cc_status parse_grid(const char *path, const char *what, CPLXMLNode *node, int *nx,
                            int *ny, double *col_step, double *row_step, float **v)
{
    cc_status st = CC_OK;
    float *buf = NULL;
    *v = NULL;
    if (!node)
        return cc_error_set(CC_ERR_MISSING, "%s: missing element %s", path, what);
    char w[160];
    snprintf(w, sizeof w, "%s/COL_STEP", what);
    st = parse_number(path, w, CPLGetXMLValue(node, "COL_STEP", NULL), col_step);
    if (st != CC_OK)
        goto out;
    snprintf(w, sizeof w, "%s/ROW_STEP", what);
    st = parse_number(path, w, CPLGetXMLValue(node, "ROW_STEP", NULL), row_step);
    if (st != CC_OK)
        goto out;
    if (!(*col_step > 0.0 && *row_step > 0.0)) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: %s has non-positive COL_STEP/ROW_STEP", path, what);
        goto out;
    }
    CPLXMLNode *vl = CPLGetXMLNode(node, "Values_List");
    if (!vl) {
        st = cc_error_set(CC_ERR_MISSING, "%s: missing element %s/Values_List", path, what);
        goto out;
    }
    int rows = 0, cols = -1;
    const char *bad = NULL;
    for (CPLXMLNode *r = vl->psChild; r; r = r->psNext) {
        if (!is_child(r, "VALUES"))
            continue;
        if (rows == 0) {
            const char *txt = CPLGetXMLValue(r, NULL, "");
            cols = parse_row(txt, NULL, 0, &bad);
            if (cols < 0) {
                st = cc_error_set(CC_ERR_FORMAT, "%s: bad number '%.*s' in %s row 1", path,
                                  token_len(bad), bad, what);
                goto out;
            }
        }
        rows++;
    }
    if (rows < 2 || cols < 2) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: wrong grid size in %s (%d rows x %d values)", path, what,
                          rows, cols < 0 ? 0 : cols);
        goto out;
    }
    buf = cc_malloc3((size_t)rows, (size_t)cols, sizeof *buf);
    if (!buf) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory for %s", path, what);
        goto out;
    }
    int j = 0;
    for (CPLXMLNode *r = vl->psChild; r; r = r->psNext) {
        if (!is_child(r, "VALUES"))
            continue;
        int n = parse_row(CPLGetXMLValue(r, NULL, ""), buf + (size_t)j * cols, cols, &bad);
        if (n < 0) {
            st = cc_error_set(CC_ERR_FORMAT, "%s: bad number '%.*s' in %s row %d", path,
                              token_len(bad), bad, what, j + 1);
            goto out;
        }
        if (n != cols) {
            st = cc_error_set(CC_ERR_FORMAT,
                              "%s: wrong grid size in %s: row %d has %d values but row 1 has %d",
                              path, what, j + 1, n, cols);
            goto out;
        }
        j++;
    }
    *nx = cols;
    *ny = rows;
    *v = buf;
    buf = NULL;
out:
    free(buf);
    return st;
}

static cc_status read_geocoding(const char *path, CPLXMLNode *root, cc_s2_tile_mtd *t)
{
    static const int res[3] = {10, 20, 60};
    cc_status st = CC_OK;
    CPLXMLNode *tg = find_elem(root, "Tile_Geocoding");
    if (!tg)
        return cc_error_set(CC_ERR_MISSING, "%s: missing element Tile_Geocoding", path);
    const char *code = CPLGetXMLValue(tg, "HORIZONTAL_CS_CODE", NULL);
    if (!code)
        return cc_error_set(CC_ERR_MISSING, "%s: missing element HORIZONTAL_CS_CODE", path);
    int epsg = 0;
    char tail = 0;
    if (sscanf(code, "EPSG:%d%c", &epsg, &tail) != 1 || epsg <= 0)
        return cc_error_set(CC_ERR_CRS, "%s: bad HORIZONTAL_CS_CODE '%.40s' (want EPSG:<code>)", path,
                            code);
    t->epsg = epsg;
    for (int k = 0; k < 3; k++) {
        int have_size = 0, have_pos = 0;
        t->geo[k].res = res[k];
        for (CPLXMLNode *c = tg->psChild; c; c = c->psNext) {
            if (c->eType != CXT_Element || int_attr(c, "resolution") != res[k])
                continue;
            char what[64];
            double v[4];
            if (EQUAL(c->pszValue, "Size")) {
                snprintf(what, sizeof what, "Size[%d m]/NROWS", res[k]);
                if ((st = parse_number(path, what, CPLGetXMLValue(c, "NROWS", NULL), &v[0])) != CC_OK)
                    return st;
                snprintf(what, sizeof what, "Size[%d m]/NCOLS", res[k]);
                if ((st = parse_number(path, what, CPLGetXMLValue(c, "NCOLS", NULL), &v[1])) != CC_OK)
                    return st;
                if (v[0] < 1 || v[1] < 1 || v[0] > 1e6 || v[1] > 1e6)
                    return cc_error_set(CC_ERR_FORMAT, "%s: bad raster size at %d m", path, res[k]);
                t->geo[k].nrows = (int)v[0];
                t->geo[k].ncols = (int)v[1];
                have_size = 1;
            } else if (EQUAL(c->pszValue, "Geoposition")) {
                static const char *const names[4] = {"ULX", "ULY", "XDIM", "YDIM"};
                for (int q = 0; q < 4; q++) {
                    snprintf(what, sizeof what, "Geoposition[%d m]/%s", res[k], names[q]);
                    st = parse_number(path, what, CPLGetXMLValue(c, names[q], NULL), &v[q]);
                    if (st != CC_OK)
                        return st;
                }
                if (v[2] == 0.0 || v[3] == 0.0)
                    return cc_error_set(CC_ERR_FORMAT, "%s: zero XDIM/YDIM at %d m", path, res[k]);
                t->geo[k].ulx = v[0];
                t->geo[k].uly = v[1];
                t->geo[k].xdim = v[2];
                t->geo[k].ydim = v[3];
                have_pos = 1;
            }
        }
        if (!have_size || !have_pos)
            return cc_error_set(CC_ERR_MISSING, "%s: missing element %s resolution=\"%d\"", path,
                                have_size ? "Geoposition" : "Size", res[k]);
    }
    return CC_OK;
}

/* Accumulators for merging detector grids: per band, per node. */
typedef struct {
    double *zsum, *ssum, *csum;
    int *zn, *an;
} view_acc;

static cc_status read_view_grids(const char *path, CPLXMLNode *angles, cc_s2_tile_mtd *t)
{
    cc_status st = CC_OK;
    const int nx = t->sun_zenith.nx, ny = t->sun_zenith.ny;
    const size_t n = (size_t)nx * (size_t)ny, nb = (size_t)CC_NBANDS * n;
    view_acc a = {0};
    float *z = NULL, *az = NULL;
    int seen[CC_NBANDS] = {0};

    a.zsum = cc_calloc3(nb, 1, sizeof(double));
    a.ssum = cc_calloc3(nb, 1, sizeof(double));
    a.csum = cc_calloc3(nb, 1, sizeof(double));
    a.zn = cc_calloc3(nb, 1, sizeof(int));
    a.an = cc_calloc3(nb, 1, sizeof(int));
    if (!a.zsum || !a.ssum || !a.csum || !a.zn || !a.an) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory for viewing angle grids", path);
        goto out;
    }
    for (CPLXMLNode *g = angles->psChild; g; g = g->psNext) {
        if (!is_child(g, "Viewing_Incidence_Angles_Grids"))
            continue;
        int b = int_attr(g, "bandId"), d = int_attr(g, "detectorId");
        if (b < 0 || b >= CC_NBANDS || d < 0) {
            st = cc_error_set(CC_ERR_FORMAT,
                              "%s: Viewing_Incidence_Angles_Grids with a missing or bad bandId/detectorId",
                              path);
            goto out;
        }
        char what[96];
        int gx[2], gy[2];
        double cs, rs;
        snprintf(what, sizeof what, "Viewing_Incidence_Angles_Grids[band %d, detector %d]/Zenith", b, d);
        st = parse_grid(path, what, CPLGetXMLNode(g, "Zenith"), &gx[0], &gy[0], &cs, &rs, &z);
        if (st != CC_OK)
            goto out;
        snprintf(what, sizeof what, "Viewing_Incidence_Angles_Grids[band %d, detector %d]/Azimuth", b, d);
        st = parse_grid(path, what, CPLGetXMLNode(g, "Azimuth"), &gx[1], &gy[1], &cs, &rs, &az);
        if (st != CC_OK)
            goto out;
        for (int q = 0; q < 2; q++) {
            if (gx[q] != nx || gy[q] != ny) {
                st = cc_error_set(CC_ERR_FORMAT,
                                  "%s: wrong grid size for band %d detector %d: %dx%d, sun grid is %dx%d",
                                  path, b, d, gx[q], gy[q], nx, ny);
                goto out;
            }
        }
        if (cs != t->sun_zenith.dx || rs != -t->sun_zenith.dy) {
            st = cc_error_set(CC_ERR_FORMAT, "%s: band %d detector %d grid step differs from the sun grid",
                              path, b, d);
            goto out;
        }
        size_t o = (size_t)b * n;
        for (size_t k = 0; k < n; k++) {
            if (!isnan(z[k])) {
                a.zsum[o + k] += z[k];
                a.zn[o + k]++;
            }
            if (!isnan(az[k])) {
                double r = (double)az[k] * (3.14159265358979323846 / 180.0);
                a.ssum[o + k] += sin(r);
                a.csum[o + k] += cos(r);
                a.an[o + k]++;
            }
        }
        seen[b] = 1;
        free(z);
        free(az);
        z = az = NULL;
    }
    for (int b = 0; b < CC_NBANDS; b++) {
        if (!seen[b])
            continue;
        cc_angle_grid *gz = &t->view_zenith[b], *ga = &t->view_azimuth[b];
        *gz = t->sun_zenith;
        *ga = t->sun_zenith;
        gz->v = cc_malloc3(n, 1, sizeof(float));
        ga->v = cc_malloc3(n, 1, sizeof(float));
        if (!gz->v || !ga->v) {
            st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory for viewing angle grids", path);
            goto out;
        }
        size_t o = (size_t)b * n;
        for (size_t k = 0; k < n; k++) {
            gz->v[k] = a.zn[o + k] ? (float)(a.zsum[o + k] / a.zn[o + k]) : NAN;
            if (a.an[o + k]) {
                double deg = atan2(a.ssum[o + k], a.csum[o + k]) * (180.0 / 3.14159265358979323846);
                ga->v[k] = (float)(deg < 0.0 ? deg + 360.0 : deg);
            } else {
                ga->v[k] = NAN;
            }
        }
    }
out:
    free(z);
    free(az);
    free(a.zsum);
    free(a.ssum);
    free(a.csum);
    free(a.zn);
    free(a.an);
    return st;
}

cc_status cc_s2_mtd_tile_read(const char *xml_path, cc_s2_tile_mtd *out)
{
    cc_status st = CC_OK;
    CPLXMLNode *doc = NULL, *root = NULL;
    const char *path = xml_path ? xml_path : "(null)";
    cc_s2_tile_mtd t;
    memset(&t, 0, sizeof t);
    if ((st = mtd_open(xml_path, "cc_s2_mtd_tile_read", out, sizeof *out, &doc, &root)) != CC_OK)
        goto out;
    if (!STARTS_WITH_CI(root->pszValue, "Level-1C_Tile_ID") &&
        !STARTS_WITH_CI(root->pszValue, "Level-2A_Tile_ID")) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: not a Sentinel-2 tile metadata file (root element %.60s)",
                          path, root->pszValue);
        goto out;
    }

    const char *tid = find_text(root, "TILE_ID");
    if (!tid) {
        st = cc_error_set(CC_ERR_MISSING, "%s: missing element TILE_ID", path);
        goto out;
    }
    if (!tile_from_id(tid, t.tile_id)) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: no MGRS tile (_Tnnxxx_) in TILE_ID '%.80s'", path, tid);
        goto out;
    }
    int y, mo, d;
    st = parse_utc(path, "SENSING_TIME", find_text(root, "SENSING_TIME"), &y, &mo, &d, &t.sensing_time);
    if (st != CC_OK)
        goto out;
    st = read_geocoding(path, root, &t);
    if (st != CC_OK)
        goto out;

    /* sun grid */
    CPLXMLNode *sun = find_elem(root, "Sun_Angles_Grid");
    if (!sun) {
        st = cc_error_set(CC_ERR_MISSING, "%s: missing element Sun_Angles_Grid", path);
        goto out;
    }
    CPLXMLNode *angles = find_elem(root, "Tile_Angles");
    if (!angles) {
        st = cc_error_set(CC_ERR_MISSING, "%s: missing element Tile_Angles", path);
        goto out;
    }
    double cs[2], rs[2];
    int gx[2], gy[2];
    st = parse_grid(path, "Sun_Angles_Grid/Zenith", CPLGetXMLNode(sun, "Zenith"), &gx[0], &gy[0],
                    &cs[0], &rs[0], &t.sun_zenith.v);
    if (st != CC_OK)
        goto out;
    st = parse_grid(path, "Sun_Angles_Grid/Azimuth", CPLGetXMLNode(sun, "Azimuth"), &gx[1], &gy[1],
                    &cs[1], &rs[1], &t.sun_azimuth.v);
    if (st != CC_OK)
        goto out;
    if (gx[0] != gx[1] || gy[0] != gy[1] || cs[0] != cs[1] || rs[0] != rs[1]) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: wrong grid size: sun zenith %dx%d, azimuth %dx%d", path,
                          gx[0], gy[0], gx[1], gy[1]);
        goto out;
    }
    /* the grid must cover the tile */
    double ext_x = t.geo[0].ncols * fabs(t.geo[0].xdim), ext_y = t.geo[0].nrows * fabs(t.geo[0].ydim);
    int need_x = (int)ceil(ext_x / cs[0]), need_y = (int)ceil(ext_y / rs[0]);
    if (gx[0] < need_x || gy[0] < need_y) {
        st = cc_error_set(CC_ERR_FORMAT,
                          "%s: wrong grid size: sun grid %dx%d at %g m does not cover the %gx%g m tile",
                          path, gx[0], gy[0], cs[0], ext_x, ext_y);
        goto out;
    }
    for (int q = 0; q < 2; q++) {
        cc_angle_grid *g = q ? &t.sun_azimuth : &t.sun_zenith;
        g->nx = gx[0];
        g->ny = gy[0];
        g->x0 = t.geo[0].ulx;
        g->y0 = t.geo[0].uly;
        g->dx = cs[0];
        g->dy = -rs[0];
    }

    /* viewing grids (per band, per detector -> merged) */
    st = read_view_grids(path, angles, &t);
    if (st != CC_OK)
        goto out;

    /* mean angles */
    CPLXMLNode *ms = find_elem(root, "Mean_Sun_Angle");
    if (!ms) {
        st = cc_error_set(CC_ERR_MISSING, "%s: missing element Mean_Sun_Angle", path);
        goto out;
    }
    st = parse_number(path, "Mean_Sun_Angle/ZENITH_ANGLE", CPLGetXMLValue(ms, "ZENITH_ANGLE", NULL),
                      &t.mean_sun_zenith);
    if (st == CC_OK)
        st = parse_number(path, "Mean_Sun_Angle/AZIMUTH_ANGLE",
                          CPLGetXMLValue(ms, "AZIMUTH_ANGLE", NULL), &t.mean_sun_azimuth);
    if (st != CC_OK)
        goto out;
    for (int b = 0; b < CC_NBANDS; b++)
        t.mean_view_zenith[b] = t.mean_view_azimuth[b] = NAN;
    CPLXMLNode *mvl = find_elem(root, "Mean_Viewing_Incidence_Angle_List");
    for (CPLXMLNode *c = mvl ? mvl->psChild : NULL; c; c = c->psNext) {
        if (!is_child(c, "Mean_Viewing_Incidence_Angle"))
            continue;
        int b = int_attr(c, "bandId");
        if (b < 0 || b >= CC_NBANDS) {
            st = cc_error_set(CC_ERR_FORMAT, "%s: Mean_Viewing_Incidence_Angle with a bad bandId", path);
            goto out;
        }
        st = parse_number(path, "Mean_Viewing_Incidence_Angle/ZENITH_ANGLE",
                          CPLGetXMLValue(c, "ZENITH_ANGLE", NULL), &t.mean_view_zenith[b]);
        if (st == CC_OK)
            st = parse_number(path, "Mean_Viewing_Incidence_Angle/AZIMUTH_ANGLE",
                              CPLGetXMLValue(c, "AZIMUTH_ANGLE", NULL), &t.mean_view_azimuth[b]);
        if (st != CC_OK)
            goto out;
    }

    t.cloudy_pixel_percentage = NAN;
    const char *cp = find_text(root, "CLOUDY_PIXEL_PERCENTAGE");
    if (cp) {
        st = parse_number(path, "CLOUDY_PIXEL_PERCENTAGE", cp, &t.cloudy_pixel_percentage);
        if (st != CC_OK)
            goto out;
    }
out:
    if (doc)
        CPLDestroyXMLNode(doc);
    if (st != CC_OK)
        cc_s2_mtd_tile_free(&t);
    else
        *out = t;
    return st;
}
