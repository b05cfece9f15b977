/* clearcube: expanding a job into work items by scanning its catalogues.
 *
 * A catalogue is a folder, a STAC Item / ItemCollection or scene sidecar (a
 * .json or .geojson file, io/stac/stac.h) or a product list (any other file:
 * one path a line, each a product, a folder or a STAC file).
 * Products recognised:
 *   - SAFE products by their content, whatever their names: a folder holding
 *     MTD_MSIL1C.xml or MTD_MSIL2A.xml (or looking like a product: *.SAFE,
 *     manifest.safe, GRANULE/; then its missing metadata is noted), a .zip holding
 *     one (io/s2/s2_mtd.h: cc_s2_safe_dir, cc_s2_product_identify). The level,
 *     tile and date come from the product metadata (the small MTD_MSIL1C.xml, not
 *     the granule); a name of the S2x_MSIL1C_... form that disagrees with it is a
 *     warning naming both, and the metadata rules. L2A products are skipped: the
 *     reference product starts from L1C. A product whose metadata cannot be read
 *     is one error line naming the file, noted; the scan goes on;
 *   - STAC Items and scene sidecars (in folders: every *.json that is one): the
 *     tile and date from their properties (datetime, s2:mgrs_tile, ...), the
 *     tile of a stack without one from the raster's centre; an item whose asset
 *     is a SAFE product (or a scene sidecar whose href is a folder that is one by
 *     its content) becomes that product, with the product's own metadata
 *     (the item's properties only checked against it); any other becomes
 *     "FILE.json#ID", which the scene reader opens with the item's metadata;
 *   - band folders holding Txxxxx_YYYYMMDDTHHMMSS_Bxx.jp2 files of one tile and date:
 *     these have no metadata, so the tile and date come from the file names
 *     (their acquisition geometry then comes as explicit options, `run -- OPTIONS`).
 * A stack without metadata is a product through its scene sidecar X.json or a STAC
 * item; `.options` files (typed options) are not read.
 * Folders are scanned recursively (symbolic links followed, 16 levels at most);
 * a recognised product folder is not entered. One product reached twice (a SAFE
 * folder and the STAC item pointing at it) is used once. Products of one tile
 * and day form one item (a same-day mosaic, io/s2/scene.h). Inputs left out
 * (unreadable items, missing assets, L2A, duplicates) are listed in the notes
 * (cc_job_items_noted), which the run report prints. See jobs/run/job.h. */
#define _GNU_SOURCE /* strdup, strndup, scandir, M_PI */
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <gdal.h>
#include <ogr_srs_api.h>

#include "core/date.h"
#include "core/fs.h"
#include "core/log.h"
#include "io/cube.h"
#include "jobs/run/job.h"
#include "io/grid/mgrs.h"
#include "io/s2/s2_mtd.h"
#include "io/stac/stac.h"

typedef struct {
    char tile[8];
    char date[11];
    char *path;  /* the item's input: a product path or "FILE.json#ID" */
    char *data;  /* the data it reads (real path), to use each product once */
    double bytes;
} product;

typedef struct {
    product *p;
    int n, cap;
    char **tiles; /* the area's tiles, sorted */
    int ntiles;
    const cc_job *job;
    cc_job_notes *notes; /* inputs left out, with why (NULL: not kept) */
    int outside;         /* products outside the area or dates */
} scan_state;

/* Records an input left out (and logs it at level lvl). */
static void vnote(scan_state *s, cc_log_level lvl, const char *fmt, va_list ap)
{
    char line[1024];
    vsnprintf(line, sizeof line, fmt, ap);
    cc_log(lvl, "catalogue: %s", line);
    if (!s->notes)
        return;
    char **nl = realloc(s->notes->lines, (size_t)(s->notes->n + 1) * sizeof *nl);
    if (!nl)
        return;
    s->notes->lines = nl;
    if ((nl[s->notes->n] = strdup(line)) != NULL)
        s->notes->n++;
}

/* An input left out (a warning). */
static void note(scan_state *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(scan_state *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vnote(s, CC_LOG_WARN, fmt, ap);
    va_end(ap);
}

/* A product that cannot be read (an error line; the scan goes on). */
static void note_error(scan_state *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note_error(scan_state *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vnote(s, CC_LOG_ERROR, fmt, ap);
    va_end(ap);
}

static int is_digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

static int tile_like(const char *s) /* "32UMF" */
{
    return is_digits(s, 2) && isupper((unsigned char)s[2]) && isupper((unsigned char)s[3]) &&
           isupper((unsigned char)s[4]);
}

/* "YYYY-MM-DD" of the "YYYYMMDD" at ymd; 0 if it is not a calendar day. */
static int set_date(char date[CC_DATE_ISO_SIZE], const char *ymd)
{
    int y, m, d;
    if (!cc_date_parse_compact(ymd, &y, &m, &d))
        return 0;
    cc_date_format(cc_date_to_days(y, m, d), date);
    return 1;
}

/* What a product's name says: S2A_MSIL1C_20170301T103021_N0204_R108_T32UMF_20170301T103326[.SAFE][.zip] */
typedef struct {
    char spacecraft[4], level[4], tile[8], date[11], baseline[8];
} safe_name_info;

/* 1 if name has the form above (then *n is filled), else 0. */
static int safe_name(const char *name, safe_name_info *n)
{
    if (strlen(name) < 44 || name[0] != 'S' || name[1] != '2' || name[3] != '_' || strncmp(name + 4, "MSIL", 4) ||
        name[10] != '_' || !is_digits(name + 11, 8) || name[19] != 'T' || name[26] != '_' || name[27] != 'N' ||
        !is_digits(name + 28, 4) || name[32] != '_' || name[33] != 'R' || name[37] != '_' || name[38] != 'T' ||
        !tile_like(name + 39) || (strncmp(name + 8, "1C", 2) && strncmp(name + 8, "2A", 2)))
        return 0;
    snprintf(n->spacecraft, sizeof n->spacecraft, "%.3s", name);
    snprintf(n->level, sizeof n->level, "L%.2s", name + 8);
    snprintf(n->tile, sizeof n->tile, "%.5s", name + 39);
    snprintf(n->baseline, sizeof n->baseline, "%.2s.%.2s", name + 28, name + 30);
    return set_date(n->date, name + 11);
}

/* T33UUU_20170216T102101_B02.jp2 */
static int band_file_name(const char *name, char tile[8], char date[11])
{
    size_t n = strlen(name);
    if (n < 30 || name[0] != 'T' || !tile_like(name + 1) || name[6] != '_' || !is_digits(name + 7, 8) ||
        name[15] != 'T' || name[22] != '_' || name[23] != 'B' || strcmp(name + n - 4, ".jp2"))
        return 0;
    snprintf(tile, 8, "%.5s", name + 1);
    return set_date(date, name + 7);
}

static int ends_with_ci(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcasecmp(s + a - b, suf);
}

/* Is the path (stat sb) a SAFE product by its content: a folder holding its
 * metadata or looking like one, or a .zip (cc_s2_product_identify tells). */
static int safe_candidate(const char *path, const struct stat *sb)
{
    return S_ISDIR(sb->st_mode) ? cc_s2_safe_dir(path) != 0 : S_ISREG(sb->st_mode) && ends_with_ci(path, ".zip");
}

static int in_tiles(const scan_state *s, const char *tile)
{
    int lo = 0, hi = s->ntiles - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(s->tiles[mid], tile);
        if (!c)
            return 1;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return 0;
}

static double tree_bytes(const char *path, int depth)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return 0;
    if (!S_ISDIR(st.st_mode))
        return S_ISREG(st.st_mode) ? (double)st.st_size : 0;
    if (depth > 16)
        return 0;
    double sum = 0;
    DIR *d = opendir(path);
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char sub[4096];
        if (snprintf(sub, sizeof sub, "%s/%s", path, e->d_name) < (int)sizeof sub)
            sum += tree_bytes(sub, depth + 1);
    }
    closedir(d);
    return sum;
}

/* Adds a product if its tile and date are in the job. `data` is the file or
 * folder it reads (NULL: path itself). */
static cc_status add_product(scan_state *s, const char *path, const char *data, const char *tile, const char *date,
                             double bytes)
{
    if (!in_tiles(s, tile) || strcmp(date, s->job->start_date) < 0 || strcmp(date, s->job->end_date) > 0) {
        cc_debug("catalogue: %s (%s %s) is outside the job's area or dates", path, tile, date);
        s->outside++;
        return CC_OK;
    }
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 64;
        product *p = realloc(s->p, (size_t)cap * sizeof *p);
        if (!p)
            return cc_error_set(CC_ERR_NOMEM, "catalogue: out of memory");
        s->p = p, s->cap = cap;
    }
    product *p = &s->p[s->n];
    snprintf(p->tile, sizeof p->tile, "%s", tile);
    snprintf(p->date, sizeof p->date, "%s", date);
    p->bytes = bytes;
    char real[PATH_MAX];
    p->path = strdup(path);
    p->data = strdup(realpath(data ? data : path, real) ? real : data ? data : path);
    if (!p->path || !p->data) {
        free(p->path);
        free(p->data);
        return cc_error_set(CC_ERR_NOMEM, "catalogue: out of memory");
    }
    s->n++;
    return CC_OK;
}

/* One "field value" that a claim (a product's name, a STAC item) gives and the
 * metadata contradicts, appended to said/meta. */
static void differs(char *said, char *meta, size_t n, const char *field, const char *claim, const char *truth)
{
    if (!claim || !claim[0] || !strcmp(claim, truth))
        return;
    size_t a = strlen(said), b = strlen(meta);
    snprintf(said + a, n - a, "%s%s %s", a ? ", " : "", field, claim);
    snprintf(meta + b, n - b, "%s%s %s", b ? ", " : "", field, truth);
}

/* Warns when what `by` (the product's name, a STAC item) says of a product
 * differs from its metadata; the metadata is used. */
static void check_claim(const char *path, const char *by, const safe_name_info *c, const cc_s2_product_info *pi)
{
    char said[256] = "", meta[256] = "";
    differs(said, meta, sizeof said, "spacecraft", c->spacecraft, cc_spacecraft_name(pi->spacecraft));
    differs(said, meta, sizeof said, "level", c->level, pi->level == CC_LEVEL_L2A ? "L2A" : "L1C");
    differs(said, meta, sizeof said, "tile", c->tile, pi->tile_id);
    differs(said, meta, sizeof said, "date", c->date, pi->date);
    differs(said, meta, sizeof said, "baseline", c->baseline, pi->processing_baseline);
    if (said[0])
        cc_warn("catalogue: %s: %s says %s, but its metadata %s says %s; using the metadata", path, by, said,
                pi->mtd, meta);
}

/* A SAFE product (a folder or zip, found by its content, or its MTD file): its
 * level, tile and date from the product metadata. `item` (NULL if none) is the
 * STAC item of file `ref` that points at it, checked against the metadata like
 * the name. A product that cannot be read is noted and the scan goes on. */
static cc_status add_safe(scan_state *s, const char *path, const cc_stac_item *item, const char *ref)
{
    cc_s2_product_info pi;
    if (cc_s2_product_identify(path, &pi) != CC_OK) {
        if (item)
            note_error(s, "%s: item '%s': %s; not used", ref, item->id, cc_error_message());
        else
            note_error(s, "%s; not used", cc_error_message());
        return CC_OK;
    }
    char name[4096];
    snprintf(name, sizeof name, "%s", path);
    for (size_t n = strlen(name); n > 1 && name[n - 1] == '/';)
        name[--n] = 0;
    const char *base = strrchr(name, '/');
    safe_name_info c;
    if (safe_name(base ? base + 1 : name, &c))
        check_claim(path, "its name", &c, &pi);
    if (item) {
        safe_name_info ic;
        snprintf(ic.spacecraft, sizeof ic.spacecraft, "%s", item->spacecraft);
        snprintf(ic.level, sizeof ic.level, "%s", item->level);
        snprintf(ic.tile, sizeof ic.tile, "%s", item->tile);
        snprintf(ic.date, sizeof ic.date, "%s", item->date);
        snprintf(ic.baseline, sizeof ic.baseline, "%s", item->processing_baseline);
        char by[4400];
        snprintf(by, sizeof by, "item '%s' of %s", item->id, ref);
        check_claim(path, by, &ic, &pi);
    }
    if (pi.level == CC_LEVEL_L2A) {
        if (item)
            note(s, "%s: item '%s' is an L2A product (its metadata %s; the job reads L1C); not used", ref, item->id,
                 pi.mtd);
        else
            note(s, "%s: an L2A product (its metadata %s; the job reads L1C); not used", path, pi.mtd);
        return CC_OK;
    }
    const char *mtd_base = strrchr(path, '/');
    int is_mtd = mtd_base && (!strcmp(mtd_base + 1, "MTD_MSIL1C.xml") || !strcmp(mtd_base + 1, "MTD_MSIL2A.xml"));
    char folder[4096];
    snprintf(folder, sizeof folder, "%.*s", is_mtd ? (int)(mtd_base - path) : (int)strlen(path), path);
    return add_product(s, path, folder, pi.tile_id, pi.date, tree_bytes(folder, 0));
}

/* Tile of a stack from its name (a Txxxxx part) or from the raster's centre. */
static int stack_tile(const char *path, const char *name, char tile[8])
{
    for (const char *p = name; *p; p++)
        if ((p == name || p[-1] == '_') && p[0] == 'T' && tile_like(p + 1) && (p[6] == '_' || p[6] == '.')) {
            snprintf(tile, 8, "%.5s", p + 1);
            return 1;
        }
    int ok = 0;
    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    if (!ds)
        return 0;
    double gt[6];
    OGRSpatialReferenceH srs = NULL, wgs = NULL;
    OGRCoordinateTransformationH ct = NULL;
    const char *wkt = GDALGetProjectionRef(ds);
    if (GDALGetGeoTransform(ds, gt) == CE_None && wkt && wkt[0]) {
        srs = OSRNewSpatialReference(wkt);
        wgs = OSRNewSpatialReference(NULL);
        OSRImportFromEPSG(wgs, 4326);
        OSRSetAxisMappingStrategy(wgs, OAMS_TRADITIONAL_GIS_ORDER);
        OSRSetAxisMappingStrategy(srs, OAMS_TRADITIONAL_GIS_ORDER);
        ct = OCTNewCoordinateTransformation(srs, wgs);
        double x = gt[0] + gt[1] * GDALGetRasterXSize(ds) / 2.0 + gt[2] * GDALGetRasterYSize(ds) / 2.0;
        double y = gt[3] + gt[4] * GDALGetRasterXSize(ds) / 2.0 + gt[5] * GDALGetRasterYSize(ds) / 2.0;
        if (ct && OCTTransform(ct, 1, &x, &y, NULL) && cc_mgrs_tile_at(x, y, tile) == CC_OK)
            ok = 1;
    }
    if (ct)
        OCTDestroyCoordinateTransformation(ct);
    if (srs)
        OSRDestroySpatialReference(srs);
    if (wgs)
        OSRDestroySpatialReference(wgs);
    GDALClose(ds);
    return ok;
}

/* The items of a STAC file (or scene sidecar). A file that is no catalogue
 * is an error when named by the job (`strict`), and noted when met in a folder. */
static cc_status add_stac(scan_state *s, const char *path, int strict)
{
    cc_stac_item *it = NULL;
    int n = 0;
    cc_status st = cc_stac_read(path, &it, &n);
    if (st != CC_OK) {
        if (strict)
            return st;
        note(s, "%s: not used: %s", path, cc_error_message());
        return CC_OK;
    }
    for (int i = 0; i < n && st == CC_OK; i++) {
        const cc_stac_item *x = &it[i];
        char tile[8], date[11], ref[4200];
        const char *data = x->href ? x->href : NULL;
        for (int b = 0; !data && b < CC_NBANDS; b++)
            data = x->band_href[b];
        if (cc_stac_check_assets(x, path) != CC_OK) {
            note(s, "%s; item not used", cc_error_message());
            continue;
        }
        struct stat hs; /* a stack folder that is a SAFE product by its content is that product */
        if (x->kind == CC_STAC_PRODUCT || (x->kind == CC_STAC_STACK && stat(x->href, &hs) == 0 &&
                                           S_ISDIR(hs.st_mode) && cc_s2_safe_dir(x->href) == 1)) {
            /* read with its own metadata, which rules */
            st = add_safe(s, x->href, x, path);
            continue;
        }
        if (!strcmp(x->level, "L2A")) {
            note(s, "%s: item '%s' is an L2A product (the job reads L1C); not used", path, x->id);
            continue;
        }
        snprintf(date, sizeof date, "%s", x->date);
        snprintf(tile, sizeof tile, "%s", x->tile);
        if (!tile[0]) {
            const char *b = strrchr(data, '/');
            if (!stack_tile(data, b ? b + 1 : data, tile))
                tile[0] = 0;
        }
        if (!tile[0]) {
            note(s, "%s: item '%s' names no tile (s2:mgrs_tile) and its raster has no usable georeferencing; "
                    "not used", path, x->id);
            continue;
        }
        char esa[8];
        if (cc_mgrs_tile_parse(tile, esa) != CC_OK) {
            note(s, "%s: item '%s': %s; not used", path, x->id, cc_error_message());
            continue;
        }
        /* anything but a SAFE product is read through the item */
        if (n == 1)
            snprintf(ref, sizeof ref, "%s", path);
        else
            snprintf(ref, sizeof ref, "%s#%s", path, x->id);
        double bytes = 0;
        for (int b = 0; b < CC_NBANDS; b++)
            bytes += x->band_href[b] ? tree_bytes(x->band_href[b], 0) : 0;
        if (x->kind == CC_STAC_STACK)
            bytes = tree_bytes(x->href, 0);
        st = add_product(s, ref, data, tile, date, bytes);
    }
    cc_stac_free(it, n);
    return st;
}

static cc_status scan_dir(scan_state *s, const char *dir, int depth);

/* A product list: each line a product (SAFE folder or zip, or its MTD file),
 * a folder to scan, or a STAC file. */
static cc_status add_list(scan_state *s, const char *path)
{
    char **paths = NULL;
    int n = 0;
    cc_status st = cc_stac_read_list(path, &paths, &n);
    if (st != CC_OK)
        return st;
    for (int i = 0; i < n && st == CC_OK; i++) {
        struct stat sb;
        const char *b = strrchr(paths[i], '/');
        const char *name = b ? b + 1 : paths[i];
        if (stat(paths[i], &sb) != 0) {
            note(s, "%s: %s: %s; not used", path, paths[i], strerror(errno));
            continue;
        }
        if (safe_candidate(paths[i], &sb) || !strcmp(name, "MTD_MSIL1C.xml") || !strcmp(name, "MTD_MSIL2A.xml"))
            st = add_safe(s, paths[i], NULL, NULL);
        else if (cc_stac_is_json(paths[i]))
            st = add_stac(s, paths[i], 1);
        else if (S_ISDIR(sb.st_mode))
            st = scan_dir(s, paths[i], 0);
        else
            note(s, "%s: %s is neither a SAFE product, a folder nor a STAC file; not used", path, paths[i]);
    }
    for (int i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
    return st;
}

static cc_status scan_dir(scan_state *s, const char *dir, int depth)
{
    cc_status st = CC_OK;
    struct dirent **ents = NULL;
    int n = scandir(dir, &ents, NULL, alphasort);
    if (n < 0) {
        cc_warn("catalogue: cannot read folder %s: %s", dir, strerror(errno));
        return CC_OK;
    }
    char btile[8] = "", bdate[11] = "";
    int nband = 0, mixed = 0;
    double bbytes = 0;
    for (int i = 0; i < n && st == CC_OK; i++) {
        const char *name = ents[i]->d_name;
        char path[4096], tile[8], date[11];
        struct stat sb;
        if (name[0] == '.')
            continue;
        if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path || stat(path, &sb) != 0)
            continue;
        if (safe_candidate(path, &sb)) { /* a product: not entered */
            st = add_safe(s, path, NULL, NULL);
        } else if (S_ISDIR(sb.st_mode)) {
            if (depth < 16)
                st = scan_dir(s, path, depth + 1);
        } else if (S_ISREG(sb.st_mode) && band_file_name(name, tile, date)) {
            if (nband && (strcmp(tile, btile) || strcmp(date, bdate)))
                mixed = 1;
            snprintf(btile, sizeof btile, "%s", tile), snprintf(bdate, sizeof bdate, "%s", date);
            nband++;
            bbytes += (double)sb.st_size;
        } else if (S_ISREG(sb.st_mode) && cc_stac_is_json(name)) {
            st = add_stac(s, path, 0);
        }
    }
    if (st == CC_OK && nband) {
        if (mixed)
            cc_warn("catalogue: %s holds band files of several tiles or dates; skipped", dir);
        else
            st = add_product(s, dir, NULL, btile, bdate, bbytes);
    }
    for (int i = 0; i < n; i++)
        free(ents[i]);
    free(ents);
    return st;
}

/* Product 'cloudless': the sensor cubes <tile>_{s2,landsat,olci,s1}.nc of a
 * folder (pipeline/cloudless/cloudless_product.h) give one item per tile of the area and
 * DAY of the job's dates (the daily product), whose input is the folder. A
 * tile found in several folders uses the first (a warning says so). */
static cc_status scan_sensor_cubes(scan_state *s, const char *dir)
{
    static const char *suffix[] = {"_s2.nc", "_landsat.nc", "_olci.nc", "_s1.nc"};
    cc_status st = CC_OK;
    struct dirent **ents = NULL;
    int n = scandir(dir, &ents, NULL, alphasort);
    if (n < 0)
        return cc_error_set(CC_ERR_IO, "catalogue: cannot read folder %s: %s", dir, strerror(errno));
    long first = 0, last = -1; /* the job's dates, checked when the job file was read */
    cc_date_parse(s->job->start_date, &first);
    cc_date_parse(s->job->end_date, &last);
    char done[8] = "";
    for (int i = 0; i < n && st == CC_OK; i++) {
        const char *name = ents[i]->d_name;
        size_t len = strlen(name);
        char tile[8];
        if (len < 6 || !tile_like(name) || name[5] != '_')
            continue;
        int k = -1;
        for (int j = 0; j < 4; j++)
            if (!strcmp(name + 5, suffix[j]))
                k = j;
        snprintf(tile, sizeof tile, "%.5s", name);
        if (k < 0 || !strcmp(tile, done) || !in_tiles(s, tile))
            continue;
        snprintf(done, sizeof done, "%s", tile); /* the names are sorted: a tile's cubes are adjacent */
        int dup = 0;
        for (int j = 0; j < s->n; j++)
            dup |= !strcmp(s->p[j].tile, tile) && strcmp(s->p[j].path, dir);
        if (dup) {
            cc_warn("catalogue: tile %s has sensor cubes in several folders; %s is not used", tile, dir);
            continue;
        }
        struct stat sb;
        double bytes = 0;
        for (int j = 0; j < 4; j++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s%s", dir, tile, suffix[j]);
            if (stat(path, &sb) == 0)
                bytes += (double)sb.st_size;
        }
        for (long day = first; day <= last && st == CC_OK; day++) {
            char date[CC_DATE_ISO_SIZE];
            cc_date_format(day, date);
            st = add_product(s, dir, NULL, tile, date, bytes);
        }
    }
    for (int i = 0; i < n; i++)
        free(ents[i]);
    free(ents);
    return st;
}

static int cmp_product(const void *a, const void *b)
{
    const product *x = a, *y = b;
    int c = strcmp(x->tile, y->tile);
    if (!c)
        c = strcmp(x->date, y->date);
    return c ? c : strcmp(x->path, y->path);
}

static int cmp_item(const void *a, const void *b)
{
    const cc_job_item *x = a, *y = b;
    if (x->cost != y->cost)
        return x->cost > y->cost ? -1 : 1;
    return strcmp(x->id, y->id);
}

static cc_status area_tiles(const cc_job *job, char ***ids, int *n)
{
    *ids = NULL, *n = 0;
    switch (job->area_kind) {
    case CC_AREA_BBOX: return cc_mgrs_tiles_bbox(job->bbox[0], job->bbox[1], job->bbox[2], job->bbox[3], ids, n);
    case CC_AREA_GEOJSON: return cc_mgrs_tiles_geojson(job->geojson_path, ids, n);
    case CC_AREA_TILES: {
        char **t = calloc((size_t)job->ntiles + 1, sizeof *t);
        if (!t)
            return cc_error_set(CC_ERR_NOMEM, "catalogue: out of memory");
        for (int i = 0; i < job->ntiles; i++)
            if (!(t[i] = strdup(job->tiles[i]))) {
                cc_mgrs_ids_free(t, i);
                return cc_error_set(CC_ERR_NOMEM, "catalogue: out of memory");
            }
        *ids = t, *n = job->ntiles;
        return CC_OK;
    }
    }
    return cc_error_set(CC_ERR_INTERNAL, "%s: unknown area kind", job->path ? job->path : "job");
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Drops the second and later products that read the same data for the same tile
 * and day (a SAFE folder found in a folder and through a STAC item); a Cloudless
 * cube folder serves every day, so the day is part of the key. s->p is sorted by
 * tile, date, path. */
static void dedupe(scan_state *s)
{
    int k = 0;
    for (int i = 0; i < s->n; i++) {
        int dup = -1;
        for (int j = 0; j < k && dup < 0; j++)
            if (!strcmp(s->p[j].data, s->p[i].data) && !strcmp(s->p[j].tile, s->p[i].tile) &&
                !strcmp(s->p[j].date, s->p[i].date))
                dup = j;
        if (dup >= 0) {
            /* the entry with metadata (a STAC item or sidecar) is the one kept */
            if (cc_stac_is_json(s->p[i].path) && !cc_stac_is_json(s->p[dup].path)) {
                product t = s->p[dup];
                s->p[dup] = s->p[i], s->p[i] = t;
            }
            note(s, "%s reads the same data as %s; used once", s->p[i].path, s->p[dup].path);
            free(s->p[i].path);
            free(s->p[i].data);
            continue;
        }
        s->p[k++] = s->p[i];
    }
    s->n = k;
}

static cc_status scan_catalogue(scan_state *s, const cc_job *job, int i)
{
    struct stat sb;
    const char *cat = job->catalogues[i];
    if (stat(cat, &sb) != 0 || !(S_ISDIR(sb.st_mode) || S_ISREG(sb.st_mode)))
        return cc_error_set(CC_ERR_IO, "%s: catalogues[%d]: %s: not a readable folder or file",
                            job->path ? job->path : "job", i, cat);
    if (job->product && !strcmp(job->product, "cloudless")) {
        if (!S_ISDIR(sb.st_mode))
            return cc_error_set(CC_ERR_IO, "%s: catalogues[%d]: %s: product cloudless reads folders of sensor cubes",
                                job->path ? job->path : "job", i, cat);
        return scan_sensor_cubes(s, cat);
    }
    const char *b = strrchr(cat, '/');
    b = b ? b + 1 : cat;
    if (safe_candidate(cat, &sb) || !strcmp(b, "MTD_MSIL1C.xml") || !strcmp(b, "MTD_MSIL2A.xml"))
        return add_safe(s, cat, NULL, NULL); /* the catalogue is one product */
    if (S_ISDIR(sb.st_mode))
        return scan_dir(s, cat, 0);
    return cc_stac_is_json(cat) ? add_stac(s, cat, 1) : add_list(s, cat);
}

cc_status cc_job_items_noted(const cc_job *job, cc_job_item **items, int *nitems, cc_job_notes *notes)
{
    cc_status st = CC_ERR_INTERNAL;
    scan_state s = {.job = job, .notes = notes};
    cc_job_item *it = NULL;
    int nit = 0;
    *items = NULL, *nitems = 0;
    if (notes)
        notes->lines = NULL, notes->n = 0;
    if ((st = area_tiles(job, &s.tiles, &s.ntiles)) != CC_OK)
        goto out;
    if (s.ntiles > 1)
        qsort(s.tiles, (size_t)s.ntiles, sizeof *s.tiles, cmp_str);
    for (int i = 0; i < job->ncatalogues; i++)
        if ((st = scan_catalogue(&s, job, i)) != CC_OK)
            goto out;
    if (s.n)
        qsort(s.p, (size_t)s.n, sizeof *s.p, cmp_product);
    dedupe(&s);
    if (s.outside)
        cc_info("catalogue: %d product(s) outside the job's area or dates", s.outside);
    if (s.n && !(it = calloc((size_t)s.n, sizeof *it))) {
        st = cc_error_set(CC_ERR_NOMEM, "catalogue: out of memory");
        goto out;
    }
    for (int i = 0; i < s.n;) {
        int j = i;
        while (j < s.n && !strcmp(s.p[j].tile, s.p[i].tile) && !strcmp(s.p[j].date, s.p[i].date))
            j++;
        cc_job_item *x = &it[nit++];
        snprintf(x->tile_id, sizeof x->tile_id, "%s", s.p[i].tile);
        snprintf(x->date, sizeof x->date, "%s", s.p[i].date);
        snprintf(x->id, sizeof x->id, "%s_%.4s%.2s%.2s", x->tile_id, x->date, x->date + 5, x->date + 8);
        if (!(x->inputs = calloc((size_t)(j - i) + 1, sizeof *x->inputs))) {
            st = cc_error_set(CC_ERR_NOMEM, "catalogue: out of memory");
            goto out;
        }
        if (j - i > 1)
            cc_info("catalogue: %s: %d products of one day, mosaicked", x->id, j - i);
        for (int k = i; k < j; k++) {
            x->inputs[x->ninputs++] = s.p[k].path; /* ownership moves to the item */
            s.p[k].path = NULL;
            x->cost += s.p[k].bytes;
        }
        i = j;
    }
    if (nit > 1)
        qsort(it, (size_t)nit, sizeof *it, cmp_item);
    *items = it, *nitems = nit;
    it = NULL, nit = 0;
    st = CC_OK;
out:
    cc_job_items_free(it, nit);
    for (int i = 0; i < s.n; i++)
        free(s.p[i].path), free(s.p[i].data);
    free(s.p);
    cc_mgrs_ids_free(s.tiles, s.ntiles);
    if (st != CC_OK && notes)
        cc_job_notes_free(notes);
    return st;
}

cc_status cc_job_items(const cc_job *job, cc_job_item **items, int *nitems)
{
    return cc_job_items_noted(job, items, nitems, NULL);
}

void cc_job_notes_free(cc_job_notes *notes)
{
    if (!notes)
        return;
    for (int i = 0; i < notes->n; i++)
        free(notes->lines[i]);
    free(notes->lines);
    notes->lines = NULL, notes->n = 0;
}

void cc_job_items_free(cc_job_item *items, int nitems)
{
    for (int i = 0; i < nitems; i++) {
        for (int k = 0; k < items[i].ninputs; k++)
            free(items[i].inputs[k]);
        free(items[i].inputs);
    }
    free(items);
}
