/* clearcube: table-driven YAML configuration files (libyaml).
 *
 * A config is described by ONE table of keys (cc_config_key): each key's
 * dotted path ("train.lr"), type, range, default (as YAML text), help and the
 * offset of the struct field it sets. cc_config_load walks the YAML mapping
 * (nested sections give dotted paths), sets the fields, applies the defaults
 * of the keys not given and reports required keys that are missing.
 *
 * Every error is one line naming the file, the key and, where the YAML has
 * one, the line: "FILE: train.lr: -1 is outside [1e-07, 1] (line 7)".
 * Relative paths (CC_CFG_PATH) are resolved against the config's folder; an
 * empty path stays empty ("none").
 *
 * Users: pipeline/boa/boa_train.c, pipeline/cloudless/cloudless_train.c, pipeline/dataset.c.
 */
#ifndef CC_CORE_CONFIG_H
#define CC_CORE_CONFIG_H

#include <stddef.h>

#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

struct yaml_document_s;
struct yaml_node_s;

typedef enum {
    CC_CFG_PATH,    /* char * (malloc'd): relative to the config's folder; "" stays ""      */
    CC_CFG_STR,     /* char * (malloc'd)                                                   */
    CC_CFG_INT,     /* int, an integer in [min, max]                                       */
    CC_CFG_LONG,    /* long                                                                */
    CC_CFG_U64,     /* unsigned long long                                                  */
    CC_CFG_NUM,     /* double, a finite number in [min, max]                               */
    CC_CFG_FLOAT,   /* float                                                               */
    CC_CFG_BOOL,    /* int 0/1: true|yes|on or false|no|off                                */
    CC_CFG_CHOICE,  /* int: values[i] (or i when values is NULL) for the i-th of "a|b|c"   */
    CC_CFG_INTLIST, /* int array at off, its length (int) at count_off: nmin..nmax items,
                       each an integer in [min, max]                                       */
    CC_CFG_CUSTOM   /* set by the key's parse callback                                     */
} cc_config_type;

enum {
    CC_CFG_OPTIONAL = 1, /* no default and not required: the field keeps what it had          */
    CC_CFG_NONEMPTY = 2, /* STR/PATH: "" is an error ("empty value")                          */
    CC_CFG_EXISTS = 4    /* PATH: the resolved path must exist (stat)                         */
};

typedef struct cc_config_ctx cc_config_ctx;
typedef struct cc_config_key cc_config_key;

/* CC_CFG_CUSTOM: sets the field(s) of obj from the YAML node v of the key
 * named `name` (full dotted path, for messages); errors via cc_config_error. */
typedef cc_status (*cc_config_parse_fn)(cc_config_ctx *x, const cc_config_key *k, const char *name,
                                        struct yaml_document_s *doc, struct yaml_node_s *v, void *obj);

struct cc_config_key {
    const char *key;        /* dotted path relative to the table's mapping                   */
    cc_config_type type;
    double min, max;        /* numbers; INTLIST: each item                                  */
    const char *def;        /* default as YAML text; NULL: required (unless CC_CFG_OPTIONAL) */
    const char *help;
    size_t off;             /* offsetof the field in the struct being filled                */
    int flags;              /* CC_CFG_*                                                      */
    const char *choices;    /* CHOICE: "a|b|c"                                               */
    const int *values;      /* CHOICE: the value of each choice (NULL: its index)            */
    size_t count_off;       /* INTLIST: offsetof the int item count                          */
    int nmin, nmax;         /* INTLIST: item count range                                     */
    cc_config_parse_fn parse; /* CUSTOM                                                     */
};

/* The common fields of a table entry, designated (the others default to 0):
 * {CC_CFG_KEY("train.lr", CC_CFG_NUM, 1e-7, 1, "0.002", "peak learning rate", offsetof(T, lr))},
 * {CC_CFG_KEY(...), .choices = "a|b"}. */
#define CC_CFG_KEY(k, t, lo, hi, d, h, o) .key = (k), .type = (t), .min = (lo), .max = (hi), .def = (d), .help = (h), \
                                          .off = (o)

typedef struct {
    const char *dir;    /* relative paths resolve against it; NULL: dirname of the path as given */
    const char *shared; /* non-NULL: "${CLEARCUBE_SHARED}" in paths is replaced by it         */
    const char *see;    /* non-NULL: "unknown key" messages add "; see <see>"                 */
    void *user;         /* for parse callbacks (cc_config_user)                               */
} cc_config_opts;

/* Loads `path` into obj (a struct the keys' offsets point into; string fields
 * must be NULL or malloc'd: they are freed when set again). On failure the
 * fields set so far stay set (the caller frees them as usual). */
cc_status cc_config_load(const char *path, const cc_config_key *keys, int nkeys, void *obj,
                         const cc_config_opts *o);

/* For parse callbacks: sets obj's fields from the mapping node m (keys of the
 * table only, no defaults: see cc_config_finish). `name` prefixes the key
 * paths in messages ("sources[2]"). line[i] (nkeys entries, zeroed by the
 * caller) gets the 1-based line where key i was given (0: not given). */
cc_status cc_config_set_mapping(cc_config_ctx *x, const cc_config_key *keys, int nkeys, struct yaml_document_s *doc,
                                struct yaml_node_s *m, const char *name, void *obj, int *line);
/* Applies the defaults of the keys not given (line[i] == 0) and fails on a
 * missing required key ("NAME.KEY: missing (required key)"). */
cc_status cc_config_finish(cc_config_ctx *x, const cc_config_key *keys, int nkeys, const char *name, void *obj,
                           const int *line);

/* "FILE: KEY: <message> (line N)" (no line part when line <= 0); returns CC_ERR_ARG. */
cc_status cc_config_error(const cc_config_ctx *x, const char *key, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
const char *cc_config_file(const cc_config_ctx *x);
void *cc_config_user(const cc_config_ctx *x);

/* Prints the title line (when not NULL), then "  KEY  HELP (default: DEF)"
 * lines (default "required" when none); with show_defaults 0:
 * "  KEY  (required) HELP" / "  KEY  HELP". */
void cc_config_print_keys(const char *title, const cc_config_key *keys, int nkeys, int width, int show_defaults);
/* Frees the string fields (CC_CFG_PATH, CC_CFG_STR) of obj named by the table and sets them to NULL. */
void cc_config_free(const cc_config_key *keys, int nkeys, void *obj);

#ifdef __cplusplus
}
#endif
#endif
