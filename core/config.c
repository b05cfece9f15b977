/* Table-driven YAML configuration files. See core/config.h. */
#define _GNU_SOURCE /* strdup, asprintf */
#include "core/config.h"

#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <yaml.h>

struct cc_config_ctx {
    const char *file;
    char dir[4096];
    const char *shared, *see;
    void *user;
};

const char *cc_config_file(const cc_config_ctx *x) { return x->file; }
void *cc_config_user(const cc_config_ctx *x) { return x->user; }

cc_status cc_config_error(const cc_config_ctx *x, const char *key, int line, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (line > 0)
        return cc_error_set(CC_ERR_ARG, "%s: %s: %s (line %d)", x->file, key, msg, line);
    return cc_error_set(CC_ERR_ARG, "%s: %s: %s", x->file, key, msg);
}

static int line_of(const yaml_node_t *n) { return n ? (int)n->start_mark.line + 1 : 0; }

/* "base.rel" (either may be empty) into buf. */
static const char *join(char *buf, size_t len, const char *base, const char *rel)
{
    snprintf(buf, len, "%s%s%s", base, base[0] && rel[0] ? "." : "", rel);
    return buf;
}

/* A path value: ${CLEARCUBE_SHARED} expanded (when configured), then made
 * relative to the config's folder unless absolute or empty. NULL: no memory. */
static char *resolve_path(const cc_config_ctx *x, const char *s)
{
    static const char var[] = "${CLEARCUBE_SHARED}";
    char *e = NULL, *p = NULL;
    const char *hit = x->shared ? strstr(s, var) : NULL;
    if (hit) {
        if (asprintf(&e, "%.*s%s%s", (int)(hit - s), s, x->shared, hit + strlen(var)) < 0)
            return NULL;
        s = e;
    }
    if (!s[0] || s[0] == '/' || !x->dir[0])
        p = strdup(s);
    else if (asprintf(&p, "%s/%s", x->dir, s) < 0)
        p = NULL;
    free(e);
    return p;
}

/* A scalar as a number of the key's type, range-checked; *d gets it. */
static cc_status parse_number(const cc_config_ctx *x, const cc_config_key *k, const char *name, const char *s, int line,
                              int integer, double *d)
{
    char *end;
    errno = 0;
    *d = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(*d) || (integer && *d != floor(*d)))
        return cc_config_error(x, name, line, "'%s' is not %s", s, integer ? "an integer" : "a number");
    if (*d < k->min || *d > k->max)
        return cc_config_error(x, name, line, "%s is outside [%g, %g]", s, k->min, k->max);
    return CC_OK;
}

static cc_status set_key(cc_config_ctx *x, const cc_config_key *k, const char *name, yaml_document_t *doc,
                         yaml_node_t *v, void *obj)
{
    char *base = (char *)obj;
    int line = line_of(v);
    if (k->type == CC_CFG_CUSTOM)
        return k->parse(x, k, name, doc, v, obj);
    if (k->type == CC_CFG_INTLIST) {
        if (v->type != YAML_SEQUENCE_NODE)
            return cc_config_error(x, name, line, "must be a list of integers");
        int *dst = (int *)(base + k->off), n = 0;
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
            yaml_node_t *e = yaml_document_get_node(doc, *it);
            char *end = NULL;
            const char *s = e && e->type == YAML_SCALAR_NODE ? (const char *)e->data.scalar.value : "";
            errno = 0;
            double w = strtod(s, &end);
            if (!*s || *end || errno || w != floor(w) || w < k->min || w > k->max || n >= k->nmax)
                return cc_config_error(x, name, line, "need %d..%d integers in [%g, %g]", k->nmin, k->nmax, k->min,
                                       k->max);
            dst[n++] = (int)w;
        }
        if (n < k->nmin)
            return cc_config_error(x, name, line, "need %d..%d integers in [%g, %g]", k->nmin, k->nmax, k->min,
                                   k->max);
        *(int *)(base + k->count_off) = n;
        return CC_OK;
    }
    if (v->type != YAML_SCALAR_NODE)
        return cc_config_error(x, name, line, "must be a single value");
    const char *s = (const char *)v->data.scalar.value;
    switch (k->type) {
    case CC_CFG_PATH:
    case CC_CFG_STR: {
        if (!s[0] && (k->flags & CC_CFG_NONEMPTY))
            return cc_config_error(x, name, line, "empty value");
        char *p = k->type == CC_CFG_PATH ? resolve_path(x, s) : strdup(s);
        if (!p)
            return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", x->file);
        char **dst = (char **)(base + k->off);
        free(*dst);
        *dst = p;
        struct stat st;
        if (k->type == CC_CFG_PATH && (k->flags & CC_CFG_EXISTS) && stat(p, &st) != 0)
            return cc_config_error(x, name, line, "%s: %s", p, strerror(errno));
        return CC_OK;
    }
    case CC_CFG_BOOL:
        if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on"))
            *(int *)(base + k->off) = 1;
        else if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off"))
            *(int *)(base + k->off) = 0;
        else
            return cc_config_error(x, name, line, "'%s' is not true or false", s);
        return CC_OK;
    case CC_CFG_CHOICE: {
        size_t len = strlen(s);
        int i = 0;
        for (const char *c = k->choices; c && *c; i++) {
            const char *bar = strchr(c, '|');
            size_t cl = bar ? (size_t)(bar - c) : strlen(c);
            if (cl == len && !strncmp(c, s, len)) {
                *(int *)(base + k->off) = k->values ? k->values[i] : i;
                return CC_OK;
            }
            c = bar ? bar + 1 : NULL;
        }
        return cc_config_error(x, name, line, "'%s' is not one of %s", s, k->choices);
    }
    default: break;
    }
    double d;
    cc_status st = parse_number(x, k, name, s, line, k->type != CC_CFG_NUM && k->type != CC_CFG_FLOAT, &d);
    if (st != CC_OK)
        return st;
    switch (k->type) {
    case CC_CFG_INT: *(int *)(base + k->off) = (int)d; break;
    case CC_CFG_LONG: *(long *)(base + k->off) = (long)d; break;
    case CC_CFG_U64: *(unsigned long long *)(base + k->off) = (unsigned long long)d; break;
    case CC_CFG_FLOAT: *(float *)(base + k->off) = (float)d; break;
    default: *(double *)(base + k->off) = d; break;
    }
    return CC_OK;
}

typedef struct {
    const cc_config_key *keys;
    int n;
    const char *base; /* prefix of the key names in messages */
    void *obj;
    int *line;
} table;

/* Walks mapping m whose keys are under `rel` (a dotted path of the table, "" at its top). */
static cc_status walk(cc_config_ctx *x, const table *t, yaml_document_t *doc, yaml_node_t *m, const char *rel)
{
    char where[320], path[256], full[320];
    join(where, sizeof where, t->base, rel);
    if (!where[0])
        snprintf(where, sizeof where, "(top level)");
    if (!m || m->type != YAML_MAPPING_NODE)
        return cc_config_error(x, where, line_of(m), "must be a mapping");
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(doc, p->key), *vn = yaml_document_get_node(doc, p->value);
        if (!kn || kn->type != YAML_SCALAR_NODE)
            return cc_config_error(x, where, line_of(kn), "keys must be plain names");
        join(path, sizeof path, rel, (const char *)kn->data.scalar.value);
        join(full, sizeof full, t->base, path);
        int found = -1, section = 0;
        size_t l = strlen(path);
        for (int i = 0; i < t->n && found < 0; i++) {
            if (!strcmp(t->keys[i].key, path))
                found = i;
            else if (!strncmp(t->keys[i].key, path, l) && t->keys[i].key[l] == '.')
                section = 1;
        }
        if (found >= 0) {
            if (t->line[found])
                return cc_config_error(x, full, line_of(kn), "given twice");
            t->line[found] = line_of(kn);
            cc_status st = set_key(x, &t->keys[found], full, doc, vn, t->obj);
            if (st != CC_OK)
                return st;
        } else if (section) {
            if (vn && vn->type == YAML_SCALAR_NODE && !vn->data.scalar.length)
                continue; /* an empty section */
            cc_status st = walk(x, t, doc, vn, path);
            if (st != CC_OK)
                return st;
        } else if (x->see) {
            return cc_error_set(CC_ERR_ARG, "%s: %s: unknown key (line %d; see %s)", x->file, full, line_of(kn),
                                x->see);
        } else {
            return cc_config_error(x, full, line_of(kn), "unknown key");
        }
    }
    return CC_OK;
}

cc_status cc_config_set_mapping(cc_config_ctx *x, const cc_config_key *keys, int nkeys, yaml_document_t *doc,
                                yaml_node_t *m, const char *name, void *obj, int *line)
{
    table t = {keys, nkeys, name ? name : "", obj, line};
    return walk(x, &t, doc, m, "");
}

static cc_status apply_default(cc_config_ctx *x, const cc_config_key *k, const char *name, void *obj)
{
    yaml_parser_t p;
    yaml_document_t d;
    if (!yaml_parser_initialize(&p))
        return cc_error_set(CC_ERR_NOMEM, "out of memory");
    yaml_parser_set_input_string(&p, (const unsigned char *)k->def, strlen(k->def));
    cc_status st = cc_error_set(CC_ERR_INTERNAL, "%s: %s: bad default '%s'", x->file, name, k->def);
    if (yaml_parser_load(&p, &d)) {
        yaml_node_t *root = yaml_document_get_root_node(&d);
        if (root)
            st = set_key(x, k, name, &d, root, obj);
        yaml_document_delete(&d);
    }
    yaml_parser_delete(&p);
    return st;
}

cc_status cc_config_finish(cc_config_ctx *x, const cc_config_key *keys, int nkeys, const char *name, void *obj,
                           const int *line)
{
    char full[320];
    for (int i = 0; i < nkeys; i++) {
        if (line[i] || (!keys[i].def && (keys[i].flags & CC_CFG_OPTIONAL)))
            continue;
        join(full, sizeof full, name ? name : "", keys[i].key);
        cc_status st = keys[i].def ? apply_default(x, &keys[i], full, obj)
                                   : cc_config_error(x, full, 0, "missing (required key)");
        if (st != CC_OK)
            return st;
    }
    return CC_OK;
}

cc_status cc_config_load(const char *path, const cc_config_key *keys, int nkeys, void *obj, const cc_config_opts *o)
{
    cc_config_ctx x = {.file = path, .shared = o ? o->shared : NULL, .see = o ? o->see : NULL,
                       .user = o ? o->user : NULL};
    if (o && o->dir) {
        snprintf(x.dir, sizeof x.dir, "%s", o->dir);
    } else {
        char *tmp = strdup(path);
        if (!tmp)
            return cc_error_set(CC_ERR_NOMEM, "out of memory");
        snprintf(x.dir, sizeof x.dir, "%s", dirname(tmp));
        free(tmp);
    }
    FILE *f = fopen(path, "rb");
    if (!f)
        return cc_error_set(CC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    int *line = calloc((size_t)(nkeys > 0 ? nkeys : 1), sizeof *line);
    yaml_parser_t p;
    yaml_document_t d;
    int have_doc = 0;
    cc_status st;
    if (!line || !yaml_parser_initialize(&p)) {
        free(line);
        fclose(f);
        return cc_error_set(CC_ERR_NOMEM, "out of memory");
    }
    yaml_parser_set_input_file(&p, f);
    if (!yaml_parser_load(&p, &d)) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: line %zu: invalid YAML: %s", path, p.problem_mark.line + 1,
                          p.problem ? p.problem : "parse error");
        goto out;
    }
    have_doc = 1;
    yaml_node_t *root = yaml_document_get_root_node(&d);
    if (!root) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: empty file", path);
        goto out;
    }
    table t = {keys, nkeys, "", obj, line};
    st = walk(&x, &t, &d, root, "");
    if (st == CC_OK)
        st = cc_config_finish(&x, keys, nkeys, "", obj, line);
out:
    if (have_doc)
        yaml_document_delete(&d);
    yaml_parser_delete(&p);
    fclose(f);
    free(line);
    return st;
}

void cc_config_free(const cc_config_key *keys, int nkeys, void *obj)
{
    for (int i = 0; i < nkeys; i++)
        if (keys[i].type == CC_CFG_PATH || keys[i].type == CC_CFG_STR) {
            char **p = (char **)((char *)obj + keys[i].off);
            free(*p);
            *p = NULL;
        }
}

void cc_config_print_keys(const char *title, const cc_config_key *keys, int nkeys, int width, int show_defaults)
{
    if (title)
        printf("%s\n", title);
    for (int i = 0; i < nkeys; i++) {
        const cc_config_key *k = &keys[i];
        if (show_defaults)
            printf("  %-*s %s (default: %s)\n", width, k->key, k->help, k->def ? k->def : "required");
        else
            printf("  %-*s %s%s\n", width, k->key, !k->def && !(k->flags & CC_CFG_OPTIONAL) ? "(required) " : "",
                   k->help);
    }
}
