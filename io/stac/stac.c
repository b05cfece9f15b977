/* clearcube: local catalogues: STAC Items / ItemCollections, the scene sidecar
 * and product lists (see io/stac/stac.h, docs/formats/catalogue.md). JSON is
 * parsed with jansson (libjansson-dev). */
#define _GNU_SOURCE /* strdup, strndup, strcasecmp */
#include "io/stac/stac.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <jansson.h>

#include "core/date.h"

#define STAC_MAX_FILE (64L << 20) /* a catalogue file larger than this is refused */

/* The context of messages: file, item. */
typedef struct {
    const char *name, *base;
    const char *item; /* "" before the id is known */
} ctx;

static cc_status bad(const ctx *c, const char *field, const char *what)
{
    if (c->item && c->item[0])
        return cc_error_set(CC_ERR_FORMAT, "%s: item '%.100s': %s: %s", c->name, c->item, field, what);
    return cc_error_set(CC_ERR_FORMAT, "%s: %s: %s", c->name, field, what);
}

void cc_stac_free(cc_stac_item *items, int n)
{
    if (!items)
        return;
    for (int i = 0; i < n; i++) {
        free(items[i].href);
        for (int b = 0; b < CC_NBANDS; b++)
            free(items[i].band_href[b]);
    }
    free(items);
}

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcasecmp(s + a - b, suf) == 0;
}

int cc_stac_is_json(const char *path)
{
    if (!path)
        return 0;
    const char *h = strrchr(path, '#');
    size_t n = h ? (size_t)(h - path) : strlen(path);
    return (n >= 5 && strncasecmp(path + n - 5, ".json", 5) == 0) ||
           (n >= 8 && strncasecmp(path + n - 8, ".geojson", 8) == 0);
}

/* ---- fields ---- */

/* A string field of obj (NULL if absent or JSON null); `ok` is 0 when present with another type. */
static const char *opt_string(const ctx *c, json_t *obj, const char *key, const char *field, cc_status *st)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        *st = bad(c, field, "must be a string");
        return NULL;
    }
    return json_string_value(v);
}

static double opt_number(const ctx *c, json_t *obj, const char *key, const char *field, double lo, double hi,
                         cc_status *st)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return NAN;
    if (!json_is_number(v)) {
        *st = bad(c, field, "must be a number");
        return NAN;
    }
    double x = json_number_value(v);
    if (!(x >= lo && x <= hi)) {
        char m[96];
        snprintf(m, sizeof m, "%g is outside [%g, %g]", x, lo, hi);
        *st = bad(c, field, m);
        return NAN;
    }
    return x;
}

/* "2017-07-03T10:10:31.026Z" (or "+00:00", or a date alone) -> item->datetime/date/time. */
static cc_status set_datetime(const ctx *c, const char *field, const char *s, cc_stac_item *it)
{
    cc_datetime dt;
    const char *end = cc_date_scan_datetime(s, 0, &dt);
    if (end && (strcmp(end, "+00:00") == 0 || strcmp(end, "-00:00") == 0))
        end += 6;
    if (!end || *end || dt.year < 2015 || dt.year > 2100)
        return bad(c, field, "not an RFC 3339 UTC date-time from 2015..2100 (like 2017-07-03T10:10:31Z)");
    it->time = cc_datetime_epoch(&dt);
    snprintf(it->date, sizeof it->date, "%04d-%02d-%02d", dt.year, dt.month, dt.day);
    snprintf(it->datetime, sizeof it->datetime, "%04d-%02d-%02dT%02d:%02d:%06.3fZ", dt.year, dt.month, dt.day,
             dt.hour, dt.minute, dt.second);
    return CC_OK;
}

/* "32UMF", "T32UMF", "32umf" -> "32UMF" (the form of a tile ID; whether ESA
 * publishes the tile is for the tile grid, io/grid/mgrs.h, to say). */
static cc_status set_tile(const ctx *c, const char *field, const char *s, cc_stac_item *it)
{
    const char *p = (s[0] == 'T' || s[0] == 't') ? s + 1 : s;
    char id[8];
    int ok = strlen(p) == 5 && isdigit((unsigned char)p[0]) && isdigit((unsigned char)p[1]);
    for (int i = 0; ok && i < 5; i++)
        id[i] = (char)toupper((unsigned char)p[i]), ok = i < 2 || isalpha((unsigned char)p[i]);
    if (!ok || (id[0] - '0') * 10 + (id[1] - '0') < 1 || (id[0] - '0') * 10 + (id[1] - '0') > 60) {
        char m[160];
        snprintf(m, sizeof m, "'%.40s' is not a Sentinel-2 tile ID (like 32UMF)", s);
        return bad(c, field, m);
    }
    id[5] = 0;
    memcpy(it->tile, id, 6);
    return CC_OK;
}

static cc_status set_spacecraft(const ctx *c, const char *field, const char *s, cc_stac_item *it)
{
    /* STAC: "sentinel-2a"; also "S2A", "Sentinel-2A" */
    char buf[16];
    snprintf(buf, sizeof buf, "%s", s);
    cc_spacecraft sc = cc_spacecraft_parse(buf);
    if (sc == CC_SC_UNKNOWN)
        return bad(c, field, "not a Sentinel-2 platform (sentinel-2a, -2b, -2c)");
    snprintf(it->spacecraft, sizeof it->spacecraft, "%s", cc_spacecraft_name(sc));
    return CC_OK;
}

static cc_status set_baseline(const ctx *c, const char *field, json_t *v, cc_stac_item *it)
{
    char buf[16] = "";
    if (json_is_string(v))
        snprintf(buf, sizeof buf, "%s", json_string_value(v));
    else if (json_is_number(v))
        snprintf(buf, sizeof buf, "%05.2f", json_number_value(v));
    int a, b;
    char tail;
    if (sscanf(buf, "%2d.%2d%c", &a, &b, &tail) != 2 || a < 0 || b < 0 || a > 99 || b > 99)
        return bad(c, field, "not a processing baseline like \"04.00\"");
    snprintf(it->processing_baseline, sizeof it->processing_baseline, "%02d.%02d", a % 100, b % 100);
    return CC_OK;
}

/* ---- hrefs ---- */

static cc_status resolve(const ctx *c, const char *field, const char *href, char **out)
{
    if (!strncmp(href, "file://", 7))
        href += 7;
    if (strstr(href, "://"))
        return bad(c, field, "only local files are read (download remote assets first)");
    if (!href[0] || strlen(href) > 4000)
        return bad(c, field, "empty or too long");
    if (href[0] == '/' || !c->base || !c->base[0])
        *out = strdup(href);
    else if (asprintf(out, "%s/%s", c->base, href) < 0)
        *out = NULL;
    if (!*out)
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", c->name);
    size_t n = strlen(*out);
    while (n > 1 && (*out)[n - 1] == '/')
        (*out)[--n] = 0;
    return CC_OK;
}

/* ---- the sidecar ---- */

static cc_status band_list(const ctx *c, const char *field, json_t *arr, char *out, size_t n)
{
    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > CC_NBANDS + 3)
        return bad(c, field, "must be a list of band names like [\"B02\", \"B03\"]");
    out[0] = 0;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *b = json_array_get(arr, i);
        const char *s = json_is_object(b) ? json_string_value(json_object_get(b, "name")) : json_string_value(b);
        if (!s || strlen(s) > 8)
            return bad(c, field, "must be a list of band names like [\"B02\", \"B03\"]");
        size_t len = strlen(out);
        snprintf(out + len, n - len, "%s%s", len ? "," : "", s);
    }
    return CC_OK;
}

static cc_status parse_sidecar(const ctx *c0, json_t *root, cc_stac_item *it)
{
    static const char *const keys[] = {"type",        "href",        "datetime",     "tile",
                                       "spacecraft",  "bands",       "sun_zenith",   "sun_azimuth",
                                       "view_zenith", "view_azimuth", "dn_offset",   "processing_baseline",
                                       "level",       "elevation",   NULL};
    ctx c = *c0;
    cc_status st = CC_OK;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        int known = 0;
        for (int k = 0; keys[k]; k++)
            known |= !strcmp(key, keys[k]);
        if (!known)
            return bad(&c, key, "unknown field (docs/formats/catalogue.md lists the fields)");
    }
    const char *href = opt_string(&c, root, "href", "href", &st);
    const char *dt = opt_string(&c, root, "datetime", "datetime", &st);
    const char *tile = opt_string(&c, root, "tile", "tile", &st);
    const char *sc = opt_string(&c, root, "spacecraft", "spacecraft", &st);
    const char *lv = opt_string(&c, root, "level", "level", &st);
    it->sun_zenith = opt_number(&c, root, "sun_zenith", "sun_zenith", 0, 90, &st);
    it->sun_azimuth = opt_number(&c, root, "sun_azimuth", "sun_azimuth", 0, 360, &st);
    it->view_zenith = opt_number(&c, root, "view_zenith", "view_zenith", 0, 90, &st);
    it->view_azimuth = opt_number(&c, root, "view_azimuth", "view_azimuth", 0, 360, &st);
    it->dn_offset = opt_number(&c, root, "dn_offset", "dn_offset", -10000, 10000, &st);
    it->elevation = opt_number(&c, root, "elevation", "elevation", -500, 9000, &st);
    if (st != CC_OK)
        return st;
    if (!href)
        return bad(&c, "href", "missing (the data file, relative to this file)");
    if (!dt)
        return bad(&c, "datetime", "missing");
    if ((st = set_datetime(&c, "datetime", dt, it)) != CC_OK || (tile && (st = set_tile(&c, "tile", tile, it))) ||
        (sc && (st = set_spacecraft(&c, "spacecraft", sc, it))))
        return st;
    if (lv && strcmp(lv, "L1C") && strcmp(lv, "L2A"))
        return bad(&c, "level", "must be \"L1C\" or \"L2A\"");
    if (lv)
        snprintf(it->level, sizeof it->level, "%s", lv);
    json_t *pb = json_object_get(root, "processing_baseline");
    if (pb && !json_is_null(pb) && (st = set_baseline(&c, "processing_baseline", pb, it)) != CC_OK)
        return st;
    json_t *bands = json_object_get(root, "bands");
    if (bands && (st = band_list(&c, "bands", bands, it->bands, sizeof it->bands)) != CC_OK)
        return st;
    if ((st = resolve(&c, "href", href, &it->href)) != CC_OK)
        return st;
    it->kind = has_suffix(it->href, ".SAFE") || has_suffix(it->href, ".zip") ? CC_STAC_PRODUCT : CC_STAC_STACK;
    return CC_OK;
}

/* ---- STAC items ---- */

/* An asset that is a file of a SAFE product whose folder is the product: its
 * product metadata (MTD_MSIL1C.xml, MTD_MSIL2A.xml) or manifest.safe, the
 * "product-metadata" and "safe-manifest" assets of STAC items made from SAFE
 * products (stactools' sentinel2 package), whatever the folder's name. */
static int product_file(const char *h)
{
    const char *b = strrchr(h, '/');
    b = b ? b + 1 : h;
    return !strcmp(b, "MTD_MSIL1C.xml") || !strcmp(b, "MTD_MSIL2A.xml") || !strcmp(b, "manifest.safe");
}

/* Band of an asset: its eo:bands name (one band), else its key ("B04", "red"). -1 if none. */
static int common_band(const char *s)
{
    static const char *const common[][2] = {
        {"coastal", "B01"}, {"blue", "B02"},      {"green", "B03"},     {"red", "B04"},    {"rededge1", "B05"},
        {"rededge2", "B06"}, {"rededge3", "B07"}, {"nir", "B08"},       {"nir08", "B8A"},  {"nir09", "B09"},
        {"cirrus", "B10"},  {"swir16", "B11"},    {"swir22", "B12"},    {"rededge", "B05"}};
    if (!s)
        return -1;
    for (size_t i = 0; i < sizeof common / sizeof common[0]; i++)
        if (!strcasecmp(s, common[i][0]))
            return cc_band_index(common[i][1]);
    if ((s[0] == 'B' || s[0] == 'b') && strlen(s) <= 3)
        return cc_band_index(s);
    return -1;
}

static int raster_href(const char *h, const char *type)
{
    static const char *const ext[] = {".tif", ".tiff", ".jp2", ".vrt", ".img", NULL};
    for (int i = 0; ext[i]; i++)
        if (has_suffix(h, ext[i]))
            return 1;
    return type && (strstr(type, "image/tiff") || strstr(type, "image/jp2"));
}

/* The DN offset of raster:bands[0] (offset / scale: -0.1 / 0.0001 = -1000); NaN if absent. */
static double raster_offset(json_t *asset)
{
    json_t *rb = json_array_get(json_object_get(asset, "raster:bands"), 0);
    json_t *o = json_object_get(rb, "offset"), *s = json_object_get(rb, "scale");
    if (!json_is_number(o) || !json_is_number(s) || json_number_value(s) == 0)
        return NAN;
    double off = json_number_value(o) / json_number_value(s);
    return isfinite(off) && fabs(off) <= 10000 ? round(off) : NAN;
}

static cc_status parse_assets(const ctx *c, json_t *assets, cc_stac_item *it)
{
    cc_status st = CC_OK;
    const char *key;
    json_t *a;
    const char *safe = NULL, *stack = NULL;
    int safe_file = 0; /* safe names a file of the product (its MTD or manifest), not the product */
    json_t *stack_bands = NULL, *stack_asset = NULL, *first_band = NULL;
    const char *band[CC_NBANDS] = {0};
    char field[160];
    if (!json_is_object(assets))
        return bad(c, "assets", "must be an object");
    json_object_foreach(assets, key, a) {
        snprintf(field, sizeof field, "assets.%.100s.href", key);
        if (!json_is_object(a))
            return bad(c, field, "the asset must be an object");
        json_t *hv = json_object_get(a, "href");
        if (!json_is_string(hv))
            return bad(c, field, hv ? "must be a string" : "missing");
        const char *h = json_string_value(hv), *type = json_string_value(json_object_get(a, "type"));
        if (has_suffix(h, ".SAFE") || has_suffix(h, ".SAFE/") || has_suffix(h, ".zip") ||
            (type && strstr(type, "application/zip"))) {
            if (!safe)
                safe = h, safe_file = 0;
            continue;
        }
        if (product_file(h)) { /* "product-metadata" / "safe-manifest" (stactools sentinel2): the folder */
            if (!safe)
                safe = h, safe_file = 1;
            continue;
        }
        if (!raster_href(h, type))
            continue; /* thumbnails, metadata, remote previews: not data */
        json_t *eb = json_object_get(a, "eo:bands");
        size_t neb = json_is_array(eb) ? json_array_size(eb) : 0;
        if (neb > 1) {
            if (!stack)
                stack = h, stack_bands = eb, stack_asset = a;
            continue;
        }
        int b = common_band(neb == 1 ? json_string_value(json_object_get(json_array_get(eb, 0), "name")) : NULL);
        if (b < 0)
            b = common_band(neb == 1 ? json_string_value(json_object_get(json_array_get(eb, 0), "common_name"))
                                     : NULL);
        if (b < 0)
            b = common_band(key);
        if (b < 0)
            continue; /* SCL, AOT, WVP, TCI ...: not a reflectance band */
        if (!band[b])
            band[b] = h, first_band = first_band ? first_band : a;
    }
    if (safe) {
        it->kind = CC_STAC_PRODUCT;
        cc_status st2 = resolve(c, "assets (SAFE)", safe, &it->href);
        if (st2 == CC_OK && safe_file) {
            char *slash = strrchr(it->href, '/');
            if (slash && slash > it->href)
                *slash = 0;
            else
                snprintf(it->href, strlen(it->href) + 1, ".");
        }
        return st2;
    }
    if (stack) {
        it->kind = CC_STAC_STACK;
        if (isnan(it->dn_offset))
            it->dn_offset = raster_offset(stack_asset);
        if ((st = band_list(c, "assets (stack).eo:bands", stack_bands, it->bands, sizeof it->bands)) != CC_OK)
            return st;
        return resolve(c, "assets (stack).href", stack, &it->href);
    }
    int nb = 0;
    for (int b = 0; b < CC_NBANDS && st == CC_OK; b++)
        if (band[b]) {
            snprintf(field, sizeof field, "assets (%s).href", cc_band_names[b]);
            st = resolve(c, field, band[b], &it->band_href[b]);
            nb++;
        }
    if (st != CC_OK)
        return st;
    if (!nb)
        return bad(c, "assets", "no asset points at a SAFE folder, a SAFE zip or band rasters (B01..B12)");
    it->kind = CC_STAC_BANDS;
    if (isnan(it->dn_offset) && first_band)
        it->dn_offset = raster_offset(first_band);
    return CC_OK;
}

static cc_status item_tile(const ctx *c, json_t *p, cc_stac_item *it)
{
    cc_status st = CC_OK;
    const char *t = opt_string(c, p, "s2:mgrs_tile", "properties.s2:mgrs_tile", &st);
    if (st != CC_OK || t)
        return t ? set_tile(c, "properties.s2:mgrs_tile", t, it) : st;
    const char *g = opt_string(c, p, "grid:code", "properties.grid:code", &st);
    if (st != CC_OK)
        return st;
    if (g && !strncmp(g, "MGRS-", 5))
        return set_tile(c, "properties.grid:code", g + 5, it);
    static const char *const pre[] = {"mgrs:", "sentinel:"};
    for (int k = 0; k < 2; k++) {
        char kz[32], kb[32], ks[32];
        snprintf(kz, sizeof kz, "%sutm_zone", pre[k]);
        snprintf(kb, sizeof kb, "%slatitude_band", pre[k]);
        snprintf(ks, sizeof ks, "%sgrid_square", pre[k]);
        json_t *z = json_object_get(p, kz);
        const char *b = json_string_value(json_object_get(p, kb)), *s = json_string_value(json_object_get(p, ks));
        if (!z)
            continue;
        char f[64], id[16];
        snprintf(f, sizeof f, "properties.%s", kz);
        if (!json_is_integer(z) || !b || !s || json_integer_value(z) < 1 || json_integer_value(z) > 60)
            return bad(c, f, "needs an integer zone 1..60 with latitude_band and grid_square strings");
        snprintf(id, sizeof id, "%02d%.1s%.2s", (int)json_integer_value(z), b, s);
        return set_tile(c, f, id, it);
    }
    return CC_OK;
}

static cc_status parse_item(const ctx *c0, json_t *f, cc_stac_item *it)
{
    ctx c = *c0;
    cc_status st = CC_OK;
    if (!json_is_object(f))
        return bad(&c, "features[]", "an item must be a JSON object");
    const char *type = json_string_value(json_object_get(f, "type"));
    if (!type || strcmp(type, "Feature"))
        return bad(&c, "type", "a STAC Item has \"type\": \"Feature\"");
    const char *id = json_string_value(json_object_get(f, "id"));
    if (!id || !id[0] || strlen(id) >= sizeof it->id)
        return bad(&c, "id", "missing, empty or not a string (1..127 characters)");
    snprintf(it->id, sizeof it->id, "%s", id);
    c.item = it->id;
    json_t *p = json_object_get(f, "properties");
    if (!json_is_object(p))
        return bad(&c, "properties", "missing or not an object");
    const char *dt = opt_string(&c, p, "datetime", "properties.datetime", &st);
    if (st == CC_OK && !dt)
        dt = opt_string(&c, p, "start_datetime", "properties.start_datetime", &st);
    if (st != CC_OK)
        return st;
    if (!dt)
        return bad(&c, "properties.datetime", "missing (and no start_datetime)");
    if ((st = set_datetime(&c, "properties.datetime", dt, it)) != CC_OK || (st = item_tile(&c, p, it)) != CC_OK)
        return st;
    const char *pl = opt_string(&c, p, "platform", "properties.platform", &st);
    if (st != CC_OK || (pl && (st = set_spacecraft(&c, "properties.platform", pl, it)) != CC_OK))
        return st;
    json_t *pb = json_object_get(p, "s2:processing_baseline");
    if (pb && !json_is_null(pb) && (st = set_baseline(&c, "properties.s2:processing_baseline", pb, it)) != CC_OK)
        return st;
    const char *pt = opt_string(&c, p, "s2:product_type", "properties.s2:product_type", &st);
    const char *lv = opt_string(&c, p, "processing:level", "properties.processing:level", &st);
    if (st != CC_OK)
        return st;
    if ((pt && strstr(pt, "1C")) || (lv && strstr(lv, "1C")))
        snprintf(it->level, sizeof it->level, "L1C");
    else if ((pt && strstr(pt, "2A")) || (lv && strstr(lv, "2A")))
        snprintf(it->level, sizeof it->level, "L2A");
    double el = opt_number(&c, p, "view:sun_elevation", "properties.view:sun_elevation", -90, 90, &st);
    it->sun_zenith = isnan(el) ? opt_number(&c, p, "s2:mean_solar_zenith", "properties.s2:mean_solar_zenith", 0, 180, &st)
                               : 90.0 - el;
    it->sun_azimuth = opt_number(&c, p, "view:sun_azimuth", "properties.view:sun_azimuth", 0, 360, &st);
    if (isnan(it->sun_azimuth))
        it->sun_azimuth = opt_number(&c, p, "s2:mean_solar_azimuth", "properties.s2:mean_solar_azimuth", 0, 360, &st);
    it->view_zenith = opt_number(&c, p, "view:incidence_angle", "properties.view:incidence_angle", 0, 90, &st);
    it->view_azimuth = opt_number(&c, p, "view:azimuth", "properties.view:azimuth", 0, 360, &st);
    it->elevation = opt_number(&c, p, "clearcube:elevation", "properties.clearcube:elevation", -500, 9000, &st);
    double epsg = opt_number(&c, p, "proj:epsg", "properties.proj:epsg", 1024, 999999, &st);
    it->epsg = isnan(epsg) ? 0 : (int)epsg;
    if (st != CC_OK)
        return st;
    return parse_assets(&c, json_object_get(f, "assets"), it);
}

static void item_init(cc_stac_item *it)
{
    memset(it, 0, sizeof *it);
    it->sun_zenith = it->sun_azimuth = it->view_zenith = it->view_azimuth = it->dn_offset = it->elevation = NAN;
}

cc_status cc_stac_parse(const char *bytes, size_t len, const char *name, const char *base_dir,
                        cc_stac_item **items, int *n)
{
    ctx c = {name ? name : "(catalogue)", base_dir, ""};
    *items = NULL, *n = 0;
    json_error_t err;
    json_t *root = json_loadb(bytes, len, JSON_REJECT_DUPLICATES, &err);
    if (!root)
        return cc_error_set(CC_ERR_FORMAT, "%s: not JSON (line %d: %s)", c.name, err.line, err.text);
    cc_status st = CC_OK;
    cc_stac_item *out = NULL;
    int nout = 0;
    const char *type = json_is_object(root) ? json_string_value(json_object_get(root, "type")) : NULL;
    if (!type) {
        st = bad(&c, "type", "missing: expected a STAC Item (\"Feature\"), an ItemCollection (\"FeatureCollection\") "
                             "or a scene sidecar (\"clearcube-scene\")");
    } else if (!strcmp(type, "Feature") || !strcmp(type, "clearcube-scene")) {
        if (!(out = calloc(1, sizeof *out)))
            st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", c.name);
        else {
            item_init(out);
            nout = 1;
            if (!strcmp(type, "Feature"))
                st = parse_item(&c, root, out);
            else {
                const char *b = strrchr(c.name, '/');
                snprintf(out->id, sizeof out->id, "%.*s", (int)strcspn(b ? b + 1 : c.name, "."), b ? b + 1 : c.name);
                st = parse_sidecar(&c, root, out);
            }
        }
    } else if (!strcmp(type, "FeatureCollection")) {
        json_t *fs = json_object_get(root, "features");
        size_t nf = json_is_array(fs) ? json_array_size(fs) : 0;
        if (!json_is_array(fs))
            st = bad(&c, "features", "missing or not a list");
        else if (nf == 0)
            st = bad(&c, "features", "the collection holds no item");
        else if (!(out = calloc(nf, sizeof *out)))
            st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", c.name);
        for (size_t i = 0; st == CC_OK && i < nf; i++) {
            item_init(&out[nout++]);
            st = parse_item(&c, json_array_get(fs, i), &out[i]);
            for (size_t k = 0; st == CC_OK && k < i; k++)
                if (!strcmp(out[k].id, out[i].id)) {
                    ctx ci = c;
                    ci.item = out[i].id;
                    st = bad(&ci, "id", "appears twice in the collection");
                }
        }
    } else {
        char m[128];
        snprintf(m, sizeof m, "'%.40s' is not Feature, FeatureCollection or clearcube-scene", type);
        st = bad(&c, "type", m);
    }
    json_decref(root);
    if (st != CC_OK) {
        cc_stac_free(out, nout);
        return st;
    }
    *items = out, *n = nout;
    return CC_OK;
}

/* Reads a whole file (at most STAC_MAX_FILE bytes). */
static cc_status slurp(const char *path, char **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return cc_error_set(CC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    for (;;) {
        if (!b) {
            fclose(f);
            return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
        }
        n += fread(b + n, 1, cap - n, f);
        if (n < cap)
            break;
        if (cap >= (size_t)STAC_MAX_FILE) {
            free(b);
            fclose(f);
            return cc_error_set(CC_ERR_FORMAT, "%s: larger than %ld MiB", path, STAC_MAX_FILE >> 20);
        }
        char *nb = realloc(b, cap *= 2);
        if (!nb)
            free(b);
        b = nb;
    }
    int e = ferror(f);
    fclose(f);
    if (e) {
        free(b);
        return cc_error_set(CC_ERR_IO, "%s: read error", path);
    }
    *buf = b, *len = n;
    return CC_OK;
}

static char *dir_of(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? strndup(path, s == path ? 1 : (size_t)(s - path)) : strdup(".");
}

cc_status cc_stac_read(const char *path, cc_stac_item **items, int *n)
{
    char *buf = NULL, *base = NULL;
    size_t len = 0;
    *items = NULL, *n = 0;
    cc_status st = slurp(path, &buf, &len);
    if (st != CC_OK)
        return st;
    if (!(base = dir_of(path)))
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
    else
        st = cc_stac_parse(buf, len, path, base, items, n);
    free(buf);
    free(base);
    return st;
}

cc_status cc_stac_read_ref(const char *ref, cc_stac_item **item)
{
    *item = NULL;
    const char *h = strrchr(ref, '#');
    char *file = h ? strndup(ref, (size_t)(h - ref)) : strdup(ref);
    if (!file)
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", ref);
    cc_stac_item *all = NULL;
    int n = 0, pick = -1;
    cc_status st = cc_stac_read(file, &all, &n);
    if (st == CC_OK) {
        for (int i = 0; i < n && h; i++)
            if (!strcmp(all[i].id, h + 1))
                pick = i;
        if (!h && n == 1)
            pick = 0;
        if (pick < 0)
            st = h ? cc_error_set(CC_ERR_MISSING, "%s: no item with id '%.100s'", file, h + 1)
                   : cc_error_set(CC_ERR_ARG, "%s: holds %d items: name one as %s#ID", file, n, file);
    }
    if (st == CC_OK) {
        cc_stac_item *one = malloc(sizeof *one);
        if (!one)
            st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", file);
        else {
            *one = all[pick];
            item_init(&all[pick]); /* its strings now belong to *one */
            *item = one;
        }
    }
    cc_stac_free(all, n);
    free(file);
    return st;
}

cc_status cc_stac_check_assets(const cc_stac_item *it, const char *name)
{
    struct stat sb;
    if (it->href && stat(it->href, &sb) != 0)
        return cc_error_set(CC_ERR_IO, "%s: item '%s': asset %s: %s", name, it->id, it->href, strerror(errno));
    for (int b = 0; b < CC_NBANDS; b++)
        if (it->band_href[b] && stat(it->band_href[b], &sb) != 0)
            return cc_error_set(CC_ERR_IO, "%s: item '%s': asset %s (%s): %s", name, it->id, it->band_href[b],
                                cc_band_names[b], strerror(errno));
    return CC_OK;
}

cc_status cc_stac_read_list(const char *path, char ***paths, int *n)
{
    *paths = NULL, *n = 0;
    char *buf = NULL, *base = NULL;
    size_t len = 0;
    cc_status st = slurp(path, &buf, &len);
    if (st != CC_OK)
        return st;
    char **out = NULL;
    int nout = 0, line = 0;
    if (!(base = dir_of(path)))
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; st == CC_OK && i < len;) {
        size_t j = i;
        while (j < len && buf[j] != '\n')
            j++;
        line++;
        size_t a = i, b = j;
        while (a < b && isspace((unsigned char)buf[a]))
            a++;
        while (b > a && isspace((unsigned char)buf[b - 1]))
            b--;
        i = j + 1;
        if (a == b || buf[a] == '#')
            continue;
        for (size_t k = a; k < b; k++)
            if ((unsigned char)buf[k] < 0x20 && buf[k] != '\t')
                st = cc_error_set(CC_ERR_FORMAT, "%s:%d: a control character in the path", path, line);
        if (st != CC_OK || b - a > 4000) {
            if (st == CC_OK)
                st = cc_error_set(CC_ERR_FORMAT, "%s:%d: path longer than 4000 bytes", path, line);
            break;
        }
        char **np = realloc(out, (size_t)(nout + 1) * sizeof *np);
        char *p = NULL;
        if (np) {
            out = np;
            if (buf[a] == '/')
                p = strndup(buf + a, b - a);
            else if (asprintf(&p, "%s/%.*s", base, (int)(b - a), buf + a) < 0)
                p = NULL;
        }
        if (!p) {
            st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        out[nout++] = p;
    }
    free(buf);
    free(base);
    if (st != CC_OK) {
        for (int k = 0; k < nout; k++)
            free(out[k]);
        free(out);
        return st;
    }
    *paths = out, *n = nout;
    return CC_OK;
}

/* Appends s (copied) to *v. */
static int push(char ***v, int *n, const char *s)
{
    char **nv = realloc(*v, (size_t)(*n + 1) * sizeof *nv);
    if (!nv)
        return 0;
    *v = nv;
    if (!(nv[*n] = strdup(s)))
        return 0;
    (*n)++;
    return 1;
}

static cc_status expand_json(const char *path, char ***v, int *n)
{
    cc_stac_item *it = NULL;
    int ni = 0;
    if (strchr(path, '#'))
        return push(v, n, path) ? CC_OK : cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
    cc_status st = cc_stac_read(path, &it, &ni);
    for (int i = 0; st == CC_OK && i < ni; i++) {
        char *ref = NULL;
        if (ni == 1 ? !(ref = strdup(path)) : asprintf(&ref, "%s#%s", path, it[i].id) < 0)
            ref = NULL;
        if (!ref || !push(v, n, ref))
            st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
        free(ref);
    }
    cc_stac_free(it, ni);
    return st;
}

cc_status cc_stac_expand(const char *arg, char ***refs, int *n)
{
    char **v = NULL;
    int nv = 0;
    cc_status st = CC_OK;
    *refs = NULL, *n = 0;
    if (cc_stac_is_json(arg)) {
        st = expand_json(arg, &v, &nv);
    } else if (has_suffix(arg, ".txt") || has_suffix(arg, ".list")) {
        char **lines = NULL;
        int nl = 0;
        st = cc_stac_read_list(arg, &lines, &nl);
        for (int i = 0; st == CC_OK && i < nl; i++)
            st = cc_stac_is_json(lines[i]) ? expand_json(lines[i], &v, &nv)
                 : push(&v, &nv, lines[i]) ? CC_OK
                                           : cc_error_set(CC_ERR_NOMEM, "%s: out of memory", arg);
        for (int i = 0; i < nl; i++)
            free(lines[i]);
        free(lines);
        if (st == CC_OK && nv == 0)
            st = cc_error_set(CC_ERR_FORMAT, "%s: the product list names no product", arg);
    } else if (!push(&v, &nv, arg)) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", arg);
    }
    if (st != CC_OK) {
        for (int i = 0; i < nv; i++)
            free(v[i]);
        free(v);
        return st;
    }
    *refs = v, *n = nv;
    return CC_OK;
}
