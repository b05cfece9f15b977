/* clearcube: job files (YAML through libyaml, JSON through jansson), parsed,
 * printed as a template and documented from ONE table of keys per section.
 * See jobs/job.h. */
#define _GNU_SOURCE /* strdup, strndup, scandir, M_PI */
#include "jobs/run/job.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <yaml.h>

#include "core/date.h"
#include "io/grid/mgrs.h"

/* ---- the key table ---- */

typedef enum {
    K_CHOICE,   /* a string from `choices` ("a|b")                 -> char *        */
    K_PATH,     /* a path, relative to the job file's folder       -> char *        */
    K_NUMBER,   /* a number in [min, max]                          -> double        */
    K_INT,      /* an integer in [min, max]                        -> int           */
    K_DATE,     /* "YYYY-MM-DD"                                    -> char[11]      */
    K_BBOX,     /* [W, S, E, N] in degrees                         -> double[4]     */
    K_TILES,    /* a list of tile IDs                              -> char **, int  */
    K_PATHS     /* a list of paths                                 -> char **, int  */
} key_type;

enum { F_REQUIRED = 1, F_AREA = 2 /* exactly one of the area keys */ };

typedef struct {
    const char *name;
    key_type type;
    double min, max;
    const char *choices;
    const char *def;     /* default as job-file text; NULL: none (required, or unset) */
    int flags;
    const char *example; /* template value when there is no default */
    const char *help;
    size_t off, count_off; /* where the value goes in cc_job (count_off: lists) */
} job_key;

typedef struct {
    const char *name; /* NULL: top level */
    const char *help;
    const job_key *keys;
    int nkeys;
} job_section;

#define OFF(f) offsetof(cc_job, f)
#define NOCOUNT 0

static const job_key top_keys[] = {
    {"product", K_CHOICE, 0, 0, "reference|boa|cloudless", "reference", 0, NULL,
     "what to make: 'reference' is the physical L1C -> L2A processor (SMAC), 'boa' the Rapid BoA emulator "
     "(clearcube boa), 'cloudless' the daily cloud-free image of every tile and day from the sensor cubes "
     "(<tile>_s2.nc, _landsat.nc, _olci.nc, _s1.nc) in the catalogues (clearcube cloudless)",
     OFF(product), NOCOUNT},
    {"catalogues", K_PATHS, 1, 1e6, NULL, NULL, F_REQUIRED, "[/data/s2/l1c]",
     "where the inputs are: folders (scanned recursively for SAFE folders or .zip, STAC Item JSON files and "
     "scene sidecars, band folders), STAC Item / ItemCollection files (.json, .geojson) and product lists (any "
     "other file: one path a line); products of one tile and day are mosaicked (docs/formats/catalogue.md)",
     OFF(catalogues), OFF(ncatalogues)},
    {"output", K_PATH, 0, 0, NULL, NULL, F_REQUIRED, "/scratch/clearcube/out",
     "output folder: one cube per tile, and the job journal", OFF(output_dir), NOCOUNT},
    {"model", K_PATH, 0, 0, NULL, NULL, 0, "/models/rapid-boa.h5",
     "model file (HDF5) for 'boa' or 'cloudless' (unset: the shipped models/boa-s2.h5, or for 'cloudless' the Kalman "
     "parameters models/cloudless-kalman.h5; a fusion model such as models/cloudless.h5 selects the former fusion "
     "network); not used by 'reference'", OFF(model_path), NOCOUNT},
    {"device", K_CHOICE, 0, 0, "auto|cpu|cuda", "auto", 0, NULL,
     "where each rank computes: 'auto' the GPU of the rank's node-local rank when the node has one and the "
     "build has CUDA, else the CPU; 'cpu'; 'cuda' a GPU per rank, and a rank without one fails at start "
     "(exit 4). clearcube run --device overrides it (docs/gpu.md)", OFF(device), NOCOUNT},
    {"layout", K_CHOICE, 0, 0, "check|oversubscribe|share-gpu|any", "check", 0, NULL,
     "what clearcube run accepts of its layout: 'check' refuses (exit 2) more threads than the ranks' cores "
     "and a GPU shared by several ranks; 'oversubscribe', 'share-gpu' or 'any' allow them. clearcube run "
     "--layout overrides it (docs/running.md)", OFF(layout), NOCOUNT},
};

static const job_key area_keys[] = {
    {"bbox", K_BBOX, 0, 0, NULL, NULL, F_AREA, "[5.5, 47.0, 15.5, 55.0]",
     "lon/lat bounding box [W, S, E, N] in degrees (W > E: a box crossing the antimeridian, as in GeoJSON)",
     OFF(bbox), NOCOUNT},
    {"tiles", K_TILES, 1, 1e6, NULL, NULL, F_AREA, "[32UMF, 33UUU]",
     "list of Sentinel-2 (MGRS) tile IDs, with or without the leading T", OFF(tiles), OFF(ntiles)},
    {"geojson", K_PATH, 0, 0, NULL, NULL, F_AREA, "area.geojson",
     "polygon file (GeoJSON or any OGR vector format) whose tiles are processed", OFF(geojson_path), NOCOUNT},
};

static const job_key dates_keys[] = {
    {"start", K_DATE, 0, 0, NULL, NULL, F_REQUIRED, "2017-03-01", "first sensing date, inclusive (YYYY-MM-DD)",
     OFF(start_date), NOCOUNT},
    {"end", K_DATE, 0, 0, NULL, NULL, F_REQUIRED, "2017-03-31",
     "last sensing date, inclusive (YYYY-MM-DD), not before start", OFF(end_date), NOCOUNT},
};

static const job_key limits_keys[] = {
    {"item_timeout_s", K_NUMBER, 1, 604800, NULL, "3600", 0, NULL,
     "wall-clock limit for one work item (tile and date), in seconds", OFF(item_timeout_s), NOCOUNT},
    {"retries", K_INT, 0, 1000, NULL, "2", 0, NULL, "how many times a failed item is retried",
     OFF(max_retries), NOCOUNT},
    {"memory_limit_mb", K_NUMBER, 16, 1e9, NULL, NULL, 0, "16000",
     "memory budget of one item process in MiB (its --memory-limit; unset: the node's memory)",
     OFF(memory_limit_mb), NOCOUNT},
};

static const job_key options_keys[] = {
    {"aot", K_NUMBER, 0, 3, NULL, NULL, 0, "0.2",
     "aerosol optical thickness at 550 nm (unset: retrieved from dark dense vegetation)", OFF(aot), NOCOUNT},
    {"water_vapour", K_NUMBER, 0, 8, NULL, NULL, 0, "1.5",
     "water vapour in g cm-2 (unset: retrieved from the B9/B8A ratio)", OFF(water_vapour), NOCOUNT},
    {"elevation", K_NUMBER, -500, 9000, NULL, NULL, 0, "0", "surface elevation in metres (unset: sea level)",
     OFF(elevation), NOCOUNT},
};

#define NK(a) (int)(sizeof a / sizeof a[0])
static const job_section sections[] = {
    {NULL, NULL, top_keys, NK(top_keys)},
    {"area", "the area: exactly one of bbox, tiles, geojson", area_keys, NK(area_keys)},
    {"dates", "the date range", dates_keys, NK(dates_keys)},
    {"limits", "limits per work item", limits_keys, NK(limits_keys)},
    {"options", "product options (reference)", options_keys, NK(options_keys)},
};
#define NSECTIONS NK(sections)

const char *cc_job_key_path(int i)
{
    static char buf[NSECTIONS * 8][48];
    int k = 0;
    for (int s = 0; s < NSECTIONS; s++)
        for (int j = 0; j < sections[s].nkeys; j++, k++)
            if (k == i) {
                if (!sections[s].name)
                    return sections[s].keys[j].name;
                snprintf(buf[i], sizeof buf[i], "%s.%s", sections[s].name, sections[s].keys[j].name);
                return buf[i];
            }
    return NULL;
}

/* ---- a small document tree, filled from libyaml or jansson ---- */

typedef enum { N_MAP, N_SEQ, N_SCALAR } node_kind;
typedef enum { S_PLAIN, S_STRING, S_NUMBER, S_NULL, S_BOOL } scalar_kind;

typedef struct node {
    node_kind kind;
    scalar_kind skind;
    char *text;        /* scalars                          */
    int line;          /* 1-based; 0 if unknown (JSON)     */
    int n;
    char **keys;       /* maps: n keys                     */
    struct node *kids; /* maps and sequences: n children   */
} node;

static void node_free(node *t)
{
    for (int i = 0; i < t->n; i++) {
        if (t->keys)
            free(t->keys[i]);
        node_free(&t->kids[i]);
    }
    free(t->keys);
    free(t->kids);
    free(t->text);
}

typedef struct {
    const char *file;
    const char *dir; /* folder of the job file, for relative paths ("" if none) */
} ctx;

static cc_status fail(const ctx *c, const char *key, const node *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static cc_status fail(const ctx *c, const char *key, const node *at, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (at && at->line > 0)
        return cc_error_set(CC_ERR_ARG, "%s: %s: %s (line %d)", c->file, key, msg, at->line);
    return cc_error_set(CC_ERR_ARG, "%s: %s: %s", c->file, key, msg);
}

static cc_status nomem(const ctx *c) { return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", c->file); }

static cc_status from_yaml(const ctx *c, yaml_document_t *doc, yaml_node_t *y, node *t, int depth)
{
    memset(t, 0, sizeof *t);
    t->line = (int)y->start_mark.line + 1;
    if (depth > 16)
        return fail(c, "(document)", t, "nested too deeply");
    switch (y->type) {
    case YAML_SCALAR_NODE:
        t->kind = N_SCALAR;
        t->skind = y->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? S_PLAIN : S_STRING;
        if (!(t->text = strndup((const char *)y->data.scalar.value, y->data.scalar.length)))
            return nomem(c);
        return CC_OK;
    case YAML_SEQUENCE_NODE: {
        t->kind = N_SEQ;
        int n = (int)(y->data.sequence.items.top - y->data.sequence.items.start);
        if (n && !(t->kids = calloc((size_t)n, sizeof *t->kids)))
            return nomem(c);
        for (int i = 0; i < n; i++) {
            t->n = i + 1;
            cc_status st = from_yaml(c, doc, yaml_document_get_node(doc, y->data.sequence.items.start[i]),
                                     &t->kids[i], depth + 1);
            if (st != CC_OK)
                return st;
        }
        return CC_OK;
    }
    case YAML_MAPPING_NODE: {
        t->kind = N_MAP;
        int n = (int)(y->data.mapping.pairs.top - y->data.mapping.pairs.start);
        if (n && (!(t->kids = calloc((size_t)n, sizeof *t->kids)) || !(t->keys = calloc((size_t)n, sizeof *t->keys))))
            return nomem(c);
        for (int i = 0; i < n; i++) {
            yaml_node_t *k = yaml_document_get_node(doc, y->data.mapping.pairs.start[i].key);
            yaml_node_t *v = yaml_document_get_node(doc, y->data.mapping.pairs.start[i].value);
            if (!k || k->type != YAML_SCALAR_NODE)
                return fail(c, "(document)", t, "keys must be plain names");
            t->n = i + 1;
            if (!(t->keys[i] = strndup((const char *)k->data.scalar.value, k->data.scalar.length)))
                return nomem(c);
            for (int j = 0; j < i; j++)
                if (!strcmp(t->keys[j], t->keys[i])) {
                    memset(&t->kids[i], 0, sizeof t->kids[i]);
                    t->kids[i].line = (int)k->start_mark.line + 1;
                    return fail(c, t->keys[i], &t->kids[i], "duplicate key");
                }
            cc_status st = from_yaml(c, doc, v, &t->kids[i], depth + 1);
            if (st != CC_OK)
                return st;
        }
        return CC_OK;
    }
    default: return fail(c, "(document)", t, "empty document");
    }
}

static cc_status from_json(const ctx *c, json_t *j, node *t)
{
    memset(t, 0, sizeof *t);
    char buf[64];
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        t->kind = N_MAP;
        size_t n = json_object_size(j);
        if (n && (!(t->kids = calloc(n, sizeof *t->kids)) || !(t->keys = calloc(n, sizeof *t->keys))))
            return nomem(c);
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v)
        {
            int i = t->n++;
            if (!(t->keys[i] = strdup(k)))
                return nomem(c);
            cc_status st = from_json(c, v, &t->kids[i]);
            if (st != CC_OK)
                return st;
        }
        return CC_OK;
    }
    case JSON_ARRAY: {
        t->kind = N_SEQ;
        size_t n = json_array_size(j);
        if (n && !(t->kids = calloc(n, sizeof *t->kids)))
            return nomem(c);
        for (size_t i = 0; i < n; i++) {
            t->n++;
            cc_status st = from_json(c, json_array_get(j, i), &t->kids[i]);
            if (st != CC_OK)
                return st;
        }
        return CC_OK;
    }
    case JSON_STRING: t->kind = N_SCALAR, t->skind = S_STRING, t->text = strdup(json_string_value(j)); break;
    case JSON_INTEGER:
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
        t->kind = N_SCALAR, t->skind = S_NUMBER, t->text = strdup(buf);
        break;
    case JSON_REAL:
        snprintf(buf, sizeof buf, "%.17g", json_real_value(j));
        t->kind = N_SCALAR, t->skind = S_NUMBER, t->text = strdup(buf);
        break;
    case JSON_TRUE: case JSON_FALSE:
        t->kind = N_SCALAR, t->skind = S_BOOL, t->text = strdup(json_is_true(j) ? "true" : "false");
        break;
    default: t->kind = N_SCALAR, t->skind = S_NULL, t->text = strdup("null"); break;
    }
    return t->text ? CC_OK : nomem(c);
}

/* ---- typed values ---- */

static int is_null(const node *v)
{
    if (v->kind != N_SCALAR)
        return 0;
    if (v->skind == S_NULL)
        return 1;
    return v->skind == S_PLAIN && (!v->text[0] || !strcmp(v->text, "~") || !strcmp(v->text, "null") ||
                                   !strcmp(v->text, "Null") || !strcmp(v->text, "NULL"));
}

static const char *kind_name(const node *v)
{
    if (v->kind == N_MAP)
        return "a mapping";
    if (v->kind == N_SEQ)
        return "a list";
    if (is_null(v))
        return "empty";
    return v->skind == S_BOOL ? "a boolean" : "a scalar";
}

/* A number from a scalar; quoted strings are not numbers. */
static int get_number(const node *v, double *out)
{
    if (v->kind != N_SCALAR || (v->skind != S_PLAIN && v->skind != S_NUMBER) || !v->text[0])
        return 0;
    char *end = NULL;
    errno = 0;
    double d = strtod(v->text, &end);
    if (*end || errno || !isfinite(d))
        return 0;
    *out = d;
    return 1;
}

static int get_string(const node *v, const char **out)
{
    if (v->kind != N_SCALAR || v->skind == S_NUMBER || v->skind == S_BOOL || is_null(v))
        return 0;
    *out = v->text;
    return 1;
}

static int valid_date(const char *s)
{
    int y, m, d;
    return cc_date_parse_ymd(s, &y, &m, &d) && y >= 1900 && y <= 2200;
}

static char *resolve_path(const ctx *c, const char *p)
{
    if (p[0] == '/' || !c->dir[0]) {
        return strdup(p);
    }
    size_t n = strlen(c->dir) + strlen(p) + 2;
    char *r = malloc(n);
    if (r)
        snprintf(r, n, "%s/%s", c->dir, p);
    return r;
}

static void range_text(const job_key *k, char *buf, size_t n)
{
    if (k->type == K_INT || k->type == K_NUMBER)
        snprintf(buf, n, "%g..%g", k->min, k->max);
    else if (k->type == K_CHOICE)
        snprintf(buf, n, "%s", k->choices);
    else
        buf[0] = 0;
}

/* Stores value `v` of key `k` (path `kp`) into the job. */
static cc_status set_value(const ctx *c, const job_key *k, const char *kp, const node *v, cc_job *job)
{
    char *base = (char *)job;
    const char *s;
    double d;
    switch (k->type) {
    case K_CHOICE: {
        if (!get_string(v, &s))
            return fail(c, kp, v, "must be one of: %s (got %s)", k->choices, kind_name(v));
        size_t len = strlen(s);
        const char *p = k->choices;
        while (p) {
            const char *bar = strchr(p, '|');
            size_t pl = bar ? (size_t)(bar - p) : strlen(p);
            if (pl == len && !strncmp(p, s, len))
                break;
            p = bar ? bar + 1 : NULL;
        }
        if (!p)
            return fail(c, kp, v, "must be one of: %s (got '%s')", k->choices, s);
        char **dst = (char **)(base + k->off);
        free(*dst);
        return (*dst = strdup(s)) ? CC_OK : nomem(c);
    }
    case K_PATH: {
        if (!get_string(v, &s))
            return fail(c, kp, v, "must be a path (got %s)", kind_name(v));
        char **dst = (char **)(base + k->off);
        free(*dst);
        return (*dst = resolve_path(c, s)) ? CC_OK : nomem(c);
    }
    case K_NUMBER:
        if (!get_number(v, &d))
            return fail(c, kp, v, "must be a number in %g..%g", k->min, k->max);
        if (d < k->min || d > k->max)
            return fail(c, kp, v, "must be a number in %g..%g (got %g)", k->min, k->max, d);
        *(double *)(base + k->off) = d;
        return CC_OK;
    case K_INT:
        if (!get_number(v, &d) || d != floor(d))
            return fail(c, kp, v, "must be an integer");
        if (d < k->min)
            return fail(c, kp, v, "must be an integer >= %g (got %g)", k->min, d);
        if (d > k->max)
            return fail(c, kp, v, "must be an integer <= %g (got %g)", k->max, d);
        *(int *)(base + k->off) = (int)d;
        return CC_OK;
    case K_DATE: {
        if (!get_string(v, &s) || !valid_date(s))
            return fail(c, kp, v, "must be a date YYYY-MM-DD (got '%s')", v->kind == N_SCALAR ? v->text : "?");
        memcpy(base + k->off, s, 11);
        return CC_OK;
    }
    case K_BBOX: {
        double b[4];
        if (v->kind != N_SEQ || v->n != 4)
            return fail(c, kp, v, "must be a list of 4 numbers [W, S, E, N]");
        for (int i = 0; i < 4; i++)
            if (!get_number(&v->kids[i], &b[i]))
                return fail(c, kp, &v->kids[i], "item %d must be a number", i);
        if (b[0] < -180 || b[2] > 180 || b[0] > 180 || b[2] < -180)
            return fail(c, kp, v, "longitudes must be within -180..180");
        if (b[1] < -90 || b[3] > 90 || b[1] > 90 || b[3] < -90)
            return fail(c, kp, v, "latitudes must be within -90..90");
        if (b[1] > b[3])
            return fail(c, kp, v, "S %g > N %g", b[1], b[3]);
        memcpy(base + k->off, b, sizeof b);
        job->area_kind = CC_AREA_BBOX;
        return CC_OK;
    }
    case K_TILES:
    case K_PATHS: {
        if (v->kind != N_SEQ)
            return fail(c, kp, v, "must be a list (got %s)", kind_name(v));
        if (v->n < (int)k->min)
            return fail(c, kp, v, "must have at least %g item(s)", k->min);
        char ***dst = (char ***)(base + k->off);
        int *cnt = (int *)(base + k->count_off);
        for (int i = 0; i < *cnt; i++)
            free((*dst)[i]);
        free(*dst);
        *cnt = 0;
        if (!(*dst = calloc((size_t)v->n + 1, sizeof **dst)))
            return nomem(c);
        for (int i = 0; i < v->n; i++) {
            char ip[96];
            snprintf(ip, sizeof ip, "%s[%d]", kp, i);
            if (!get_string(&v->kids[i], &s))
                return fail(c, ip, &v->kids[i], "must be a %s", k->type == K_TILES ? "tile ID" : "path");
            if (k->type == K_TILES) {
                char id[8];
                if (cc_mgrs_tile_parse(s, id) != CC_OK)
                    return fail(c, ip, &v->kids[i], "%s", cc_error_message());
                (*dst)[i] = strdup(id);
            } else {
                (*dst)[i] = resolve_path(c, s);
            }
            if (!(*dst)[i])
                return nomem(c);
            *cnt = i + 1;
        }
        if (k->type == K_TILES)
            job->area_kind = CC_AREA_TILES;
        return CC_OK;
    }
    }
    return cc_error_set(CC_ERR_INTERNAL, "%s: %s: unhandled key type", c->file, kp);
}

static void key_list(const job_section *sec, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = 0;
    for (int j = 0; j < sec->nkeys && used < n; j++)
        used += (size_t)snprintf(buf + used, n - used, "%s%s", j ? ", " : "", sec->keys[j].name);
}

static cc_status apply_section(const ctx *c, const job_section *sec, const node *m, cc_job *job, int *seen)
{
    for (int i = 0; i < m->n; i++) {
        int j;
        char kp[96];
        snprintf(kp, sizeof kp, "%s%s%s", sec->name ? sec->name : "", sec->name ? "." : "", m->keys[i]);
        for (j = 0; j < sec->nkeys; j++)
            if (!strcmp(sec->keys[j].name, m->keys[i]))
                break;
        if (j == sec->nkeys) {
            char known[256];
            key_list(sec, known, sizeof known);
            if (!sec->name) {
                size_t u = strlen(known);
                for (int s = 1; s < NSECTIONS && u < sizeof known; s++)
                    u += (size_t)snprintf(known + u, sizeof known - u, ", %s", sections[s].name);
            }
            return fail(c, kp, &m->kids[i], "unknown key (known here: %s)", known);
        }
        if (is_null(&m->kids[i]))
            return fail(c, kp, &m->kids[i], "has no value");
        cc_status st = set_value(c, &sec->keys[j], kp, &m->kids[i], job);
        if (st != CC_OK)
            return st;
        seen[j] = 1;
    }
    return CC_OK;
}

static void job_defaults(cc_job *job)
{
    memset(job, 0, sizeof *job);
    job->aot = job->water_vapour = job->elevation = job->memory_limit_mb = NAN;
}

/* Applies the table's defaults by parsing their text like a job file's. */
static cc_status apply_defaults(const ctx *c, cc_job *job)
{
    for (int s = 0; s < NSECTIONS; s++)
        for (int j = 0; j < sections[s].nkeys; j++) {
            const job_key *k = &sections[s].keys[j];
            if (!k->def)
                continue;
            node v = {.kind = N_SCALAR, .skind = S_PLAIN, .text = (char *)k->def};
            cc_status st = set_value(c, k, k->name, &v, job);
            if (st != CC_OK)
                return st;
        }
    return CC_OK;
}

static cc_status apply_root(const ctx *c, const node *root, cc_job *job)
{
    if (root->kind != N_MAP)
        return fail(c, "(document)", root, "a job file is a mapping of keys (got %s)", kind_name(root));
    int seen[NSECTIONS][8];
    memset(seen, 0, sizeof seen);
    /* top level: keys of section 0 and section names */
    node top = {.kind = N_MAP};
    node tk[32];
    char *tkeys[32];
    for (int i = 0; i < root->n; i++) {
        int s;
        for (s = 1; s < NSECTIONS; s++)
            if (!strcmp(root->keys[i], sections[s].name))
                break;
        if (s < NSECTIONS) {
            char kp[64];
            snprintf(kp, sizeof kp, "%s", sections[s].name);
            if (is_null(&root->kids[i]))
                continue; /* a section with every key commented out */
            if (root->kids[i].kind != N_MAP)
                return fail(c, kp, &root->kids[i], "must be a mapping of keys (%s)", sections[s].help);
            cc_status st = apply_section(c, &sections[s], &root->kids[i], job, seen[s]);
            if (st != CC_OK)
                return st;
        } else if (top.n < 32) {
            tkeys[top.n] = root->keys[i];
            tk[top.n++] = root->kids[i];
        }
    }
    top.keys = tkeys, top.kids = tk;
    cc_status st = apply_section(c, &sections[0], &top, job, seen[0]);
    if (st != CC_OK)
        return st;
    /* required keys, the area group, cross-key rules */
    const char *area = NULL;
    for (int s = 0; s < NSECTIONS; s++)
        for (int j = 0; j < sections[s].nkeys; j++) {
            const job_key *k = &sections[s].keys[j];
            char kp[64];
            snprintf(kp, sizeof kp, "%s%s%s", sections[s].name ? sections[s].name : "", sections[s].name ? "." : "",
                     k->name);
            if ((k->flags & F_REQUIRED) && !seen[s][j])
                return fail(c, kp, NULL, "required key missing (%s)", k->help);
            if ((k->flags & F_AREA) && seen[s][j]) {
                if (area)
                    return fail(c, kp, NULL, "give only one of area.bbox, area.tiles, area.geojson (area.%s is given too)",
                                area);
                area = k->name;
            }
        }
    if (!area)
        return fail(c, "area", NULL, "one of area.bbox, area.tiles, area.geojson is required");
    if (job->geojson_path)
        job->area_kind = CC_AREA_GEOJSON;
    if (strcmp(job->end_date, job->start_date) < 0)
        return fail(c, "dates.end", NULL, "%s is before dates.start %s", job->end_date, job->start_date);
    return CC_OK;
}

static cc_status parse_tree(const ctx *c, FILE *f, node *root)
{
    cc_status st = CC_ERR_FORMAT;
    int ch;
    while ((ch = fgetc(f)) != EOF && (isspace(ch) || ch == 0xEF || ch == 0xBB || ch == 0xBF))
        ;
    rewind(f);
    if (ch == EOF)
        return cc_error_set(CC_ERR_FORMAT, "%s: empty job file", c->file);
    if (ch == '{') { /* JSON */
        json_error_t err;
        json_t *j = json_loadf(f, JSON_REJECT_DUPLICATES, &err);
        if (!j)
            return cc_error_set(CC_ERR_FORMAT, "%s: line %d: invalid JSON: %s", c->file, err.line, err.text);
        st = from_json(c, j, root);
        json_decref(j);
        return st;
    }
    yaml_parser_t p;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&p))
        return nomem(c);
    yaml_parser_set_input_file(&p, f);
    if (!yaml_parser_load(&p, &doc)) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: line %zu: invalid YAML: %s%s%s", c->file, p.problem_mark.line + 1,
                          p.problem ? p.problem : "syntax error", p.context ? " " : "", p.context ? p.context : "");
        yaml_parser_delete(&p);
        return st;
    }
    yaml_node_t *r = yaml_document_get_root_node(&doc);
    if (!r)
        st = cc_error_set(CC_ERR_FORMAT, "%s: empty job file", c->file);
    else
        st = from_yaml(c, &doc, r, root, 0);
    yaml_document_delete(&doc);
    yaml_parser_delete(&p);
    return st;
}

cc_status cc_job_load(const char *path, cc_job *job)
{
    cc_status st = CC_ERR_IO;
    node root = {0};
    char dir[4096];
    FILE *f = NULL;
    job_defaults(job);
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = 0;
    else
        dir[0] = 0;
    ctx c = {path, dir};
    if (!(job->path = strdup(path))) {
        st = nomem(&c);
        goto out;
    }
    if ((st = apply_defaults(&c, job)) != CC_OK)
        goto out;
    if (!(f = fopen(path, "rb"))) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot open job file: %s", path, strerror(errno));
        goto out;
    }
    if ((st = parse_tree(&c, f, &root)) != CC_OK)
        goto out;
    st = apply_root(&c, &root, job);
out:
    node_free(&root);
    if (f)
        fclose(f);
    if (st != CC_OK) {
        char *keep = job->path;
        job->path = NULL;
        cc_job_free(job);
        free(keep);
    }
    return st;
}

void cc_job_free(cc_job *job)
{
    if (!job)
        return;
    free(job->product);
    for (int i = 0; i < job->ntiles; i++)
        free(job->tiles[i]);
    free(job->tiles);
    free(job->geojson_path);
    for (int i = 0; i < job->ncatalogues; i++)
        free(job->catalogues[i]);
    free(job->catalogues);
    free(job->output_dir);
    free(job->model_path);
    free(job->device);
    free(job->layout);
    free(job->path);
    job_defaults(job);
}

/* ---- template and reference, from the same table ---- */

static const char *type_text(key_type t)
{
    switch (t) {
    case K_CHOICE: return "choice";
    case K_PATH: return "path";
    case K_NUMBER: return "number";
    case K_INT: return "integer";
    case K_DATE: return "date";
    case K_BBOX: return "[W, S, E, N]";
    case K_TILES: return "list of tile IDs";
    case K_PATHS: return "list of paths";
    }
    return "?";
}

static void template_key(FILE *f, const char *ind, const job_key *k, int comment_out)
{
    char range[128];
    range_text(k, range, sizeof range);
    /* the help, wrapped at about 96 columns */
    const char *h = k->help;
    while (*h) {
        int w = 96 - (int)strlen(ind), len = (int)strlen(h);
        if (len > w) {
            len = w;
            while (len > 0 && h[len] != ' ')
                len--;
            if (len == 0)
                len = w;
        }
        fprintf(f, "%s# %.*s\n", ind, len, h);
        h += len;
        while (*h == ' ')
            h++;
    }
    fprintf(f, "%s#   %s", ind, type_text(k->type));
    if (range[0])
        fprintf(f, ", %s %s", k->type == K_CHOICE ? "one of" : "range", range);
    if (k->flags & F_REQUIRED)
        fprintf(f, "; REQUIRED");
    else if (k->def)
        fprintf(f, "; default %s", k->def);
    else if (!(k->flags & F_AREA))
        fprintf(f, "; optional, unset by default");
    fprintf(f, "\n%s%s%s: %s\n", ind, comment_out ? "# " : "", k->name, k->def ? k->def : k->example);
}

void cc_job_print_template(void *stream)
{
    FILE *f = stream;
    fprintf(f, "# clearcube job file (YAML; a JSON file with the same keys works too).\n"
               "# Generated by `clearcube job --template` from the table the parser uses.\n"
               "# Relative paths are relative to this file's folder. Check it with\n"
               "# `clearcube job --check FILE`.\n");
    for (int s = 0; s < NSECTIONS; s++) {
        const job_section *sec = &sections[s];
        const char *ind = sec->name ? "  " : "";
        fprintf(f, "\n");
        if (sec->name)
            fprintf(f, "# %s\n%s:\n", sec->help, sec->name);
        int area_done = 0;
        for (int j = 0; j < sec->nkeys; j++) {
            const job_key *k = &sec->keys[j];
            int off = (!k->def && !(k->flags & (F_REQUIRED | F_AREA))) || ((k->flags & F_AREA) && area_done);
            if (k->flags & F_AREA)
                area_done = 1;
            if (j)
                fprintf(f, "\n");
            template_key(f, ind, k, off);
        }
    }
}

void cc_job_print_markdown(void *stream)
{
    FILE *f = stream;
    fprintf(f, "| key | type | range / choices | default | description |\n|---|---|---|---|---|\n");
    for (int s = 0; s < NSECTIONS; s++)
        for (int j = 0; j < sections[s].nkeys; j++) {
            const job_key *k = &sections[s].keys[j];
            char range[128];
            range_text(k, range, sizeof range);
            fprintf(f, "| `%s%s%s` | %s | %s | %s | %s |\n", sections[s].name ? sections[s].name : "",
                    sections[s].name ? "." : "", k->name, type_text(k->type), range[0] ? range : "",
                    k->flags & F_REQUIRED ? "**required**"
                    : k->def              ? k->def
                    : k->flags & F_AREA   ? "one of the area keys"
                                          : "unset",
                    k->help);
        }
}
