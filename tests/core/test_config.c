/* core/config: the table-driven YAML config loader. Types, ranges,
 * defaults, unknown / repeated / missing keys, relative paths,
 * ${CLEARCUBE_SHARED}, nested sections, a custom key and the line numbers in
 * the error messages. */
#define _GNU_SOURCE /* strdup */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "core/config.h"
#include "core/error.h"
#include "testutil.h"

typedef struct {
    char *in, *out, *name, *opt;
    int n, flag, mode, nlist, list[4];
    long steps;
    unsigned long long seed;
    double lr;
    float scale;
    int custom; /* items of the custom key */
} cfg;


/* custom key: a list of any scalars, counted; "bad" is refused */
static cc_status parse_count(cc_config_ctx *x, const cc_config_key *k, const char *name, yaml_document_t *doc,
                             yaml_node_t *v, void *obj)
{
    (void)k;
    cfg *c = obj;
    if (v->type != YAML_SEQUENCE_NODE)
        return cc_config_error(x, name, (int)v->start_mark.line + 1, "must be a list");
    c->custom = 0;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        yaml_node_t *e = yaml_document_get_node(doc, *it);
        if (e->type == YAML_SCALAR_NODE && !strcmp((const char *)e->data.scalar.value, "bad"))
            return cc_config_error(x, name, (int)e->start_mark.line + 1, "'bad' is refused");
        c->custom++;
    }
    return CC_OK;
}

static const int mode_values[] = {10, 20, 30};

#define O(f) offsetof(cfg, f)
static const cc_config_key keys[] = {
    {CC_CFG_KEY("in", CC_CFG_PATH, 0, 0, NULL, "input (required)", O(in))},
    {CC_CFG_KEY("out", CC_CFG_PATH, 0, 0, "\"\"", "output (\"\": none)", O(out))},
    {CC_CFG_KEY("name", CC_CFG_STR, 0, 0, "anon", "a name", O(name)), .flags = CC_CFG_NONEMPTY},
    {CC_CFG_KEY("opt", CC_CFG_STR, 0, 0, NULL, "optional, no default", O(opt)), .flags = CC_CFG_OPTIONAL},
    {CC_CFG_KEY("a.n", CC_CFG_INT, 1, 100, "7", "an int", O(n))},
    {CC_CFG_KEY("a.flag", CC_CFG_BOOL, 0, 0, "false", "a bool", O(flag))},
    {CC_CFG_KEY("a.mode", CC_CFG_CHOICE, 0, 0, "slow", "slow|mid|fast", O(mode)), .choices = "slow|mid|fast",
     .values = mode_values},
    {CC_CFG_KEY("a.list", CC_CFG_INTLIST, 1, 64, "[2, 3]", "1..4 ints", O(list)), .count_off = O(nlist), .nmin = 1,
     .nmax = 4},
    {CC_CFG_KEY("b.steps", CC_CFG_LONG, 0, 1e9, "100", "a long", O(steps))},
    {CC_CFG_KEY("b.seed", CC_CFG_U64, 0, 1e15, "1", "a u64", O(seed))},
    {CC_CFG_KEY("b.lr", CC_CFG_NUM, 1e-6, 1, "0.01", "a double", O(lr))},
    {CC_CFG_KEY("b.scale", CC_CFG_FLOAT, 0, 10, "0.5", "a float", O(scale))},
    {CC_CFG_KEY("b.items", CC_CFG_CUSTOM, 0, 0, "[]", "a custom list", 0), .parse = parse_count},
};
#define NK ((int)(sizeof keys / sizeof *keys))

static void cfg_free(cfg *c)
{
    cc_config_free(keys, NK, c); /* every string field of the table (valgrind: no leak) */
    CHECK(!c->in && !c->out && !c->name && !c->opt);
    memset(c, 0, sizeof *c);
}

static const char *dir;

static const char *write_cfg(const char *name, const char *text)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
    return path;
}

/* Loads text; expects failure with a message containing every one of the
 * NULL-terminated fragments. */
static void expect_fail(const char *text, cc_status want, ...)
{
    const char *path = write_cfg("bad.yaml", text);
    cfg c = {0};
    cc_status st = cc_config_load(path, keys, NK, &c, &(cc_config_opts){.see = "clearcube test --help"});
    cfg_free(&c);
    CHECK(st == want);
    const char *m = cc_error_message();
    CHECK(!strncmp(m, path, strlen(path))); /* the message names the file first */
    va_list ap;
    va_start(ap, want);
    for (const char *frag; (frag = va_arg(ap, const char *));)
        if (!strstr(m, frag)) {
            fprintf(stderr, "FAIL: message \"%s\" lacks \"%s\" (config:\n%s)\n", m, frag, text);
            cc_test_failures++;
        }
    va_end(ap);
}

int main(void)
{
    dir = cc_test_tmpdir("test_config");
    char want[4200];

    /* defaults: only the required key given; a relative path joins the config's folder */
    cfg c = {0};
    CHECK_OK(cc_config_load(write_cfg("min.yaml", "in: data/x.h5\n"), keys, NK, &c, NULL));
    snprintf(want, sizeof want, "%s/data/x.h5", dir);
    CHECK(c.in && !strcmp(c.in, want));
    CHECK(c.out && !strcmp(c.out, "")); /* "" stays "" (none) */
    CHECK(c.name && !strcmp(c.name, "anon"));
    CHECK(c.opt == NULL); /* optional without default: untouched */
    CHECK(c.n == 7 && c.flag == 0 && c.mode == 10);
    CHECK(c.nlist == 2 && c.list[0] == 2 && c.list[1] == 3);
    CHECK(c.steps == 100 && c.seed == 1ULL);
    CHECK_NEAR(c.lr, 0.01, 0);
    CHECK_NEAR(c.scale, 0.5, 0);
    CHECK(c.custom == 0);
    cfg_free(&c);

    /* every type given; nested sections; absolute paths kept; an empty section */
    CHECK_OK(cc_config_load(write_cfg("all.yaml", "in: /abs/in.h5\n"
                                                  "out: o.h5\n"
                                                  "name: run1\n"
                                                  "opt: here\n"
                                                  "a:\n"
                                                  "  n: 100\n"
                                                  "  flag: yes\n"
                                                  "  mode: fast\n"
                                                  "  list: [64, 1, 5, 6]\n"
                                                  "b:\n"
                                                  "  steps: 2e3\n"
                                                  "  seed: 123456789012345\n"
                                                  "  lr: 1e-3\n"
                                                  "  scale: 10\n"
                                                  "  items: [x, y, z]\n"),
                            keys, NK, &c, NULL));
    snprintf(want, sizeof want, "%s/o.h5", dir);
    CHECK(!strcmp(c.in, "/abs/in.h5") && !strcmp(c.out, want));
    CHECK(!strcmp(c.name, "run1") && c.opt && !strcmp(c.opt, "here"));
    CHECK(c.n == 100 && c.flag == 1 && c.mode == 30);
    CHECK(c.nlist == 4 && c.list[0] == 64 && c.list[3] == 6);
    CHECK(c.steps == 2000 && c.seed == 123456789012345ULL);
    CHECK_NEAR(c.lr, 1e-3, 0);
    CHECK_NEAR(c.scale, 10, 0);
    CHECK(c.custom == 3);
    cfg_free(&c);
    CHECK_OK(cc_config_load(write_cfg("empty_section.yaml", "in: i\na:\nb:\n  steps: 5\n"), keys, NK, &c, NULL));
    CHECK(c.steps == 5 && c.n == 7);
    cfg_free(&c);

    /* ${CLEARCUBE_SHARED} (when configured) and an explicit folder */
    CHECK_OK(cc_config_load(write_cfg("shared.yaml", "in: ${CLEARCUBE_SHARED}/ds/a.tif\nout: rel.h5\n"), keys, NK,
                            &c, &(cc_config_opts){.dir = "/base", .shared = "/sh"}));
    CHECK(!strcmp(c.in, "/sh/ds/a.tif") && !strcmp(c.out, "/base/rel.h5"));
    cfg_free(&c);

    /* errors: the file, the key, the line */
    expect_fail("in: i\na:\n  n: 0\n", CC_ERR_ARG, ": a.n: 0 is outside [1, 100] (line 3)", NULL);
    expect_fail("in: i\na:\n  n: 101\n", CC_ERR_ARG, ": a.n: 101 is outside [1, 100] (line 3)", NULL);
    expect_fail("in: i\na:\n  n: 2.5\n", CC_ERR_ARG, ": a.n: '2.5' is not an integer (line 3)", NULL);
    expect_fail("in: i\nb:\n  lr: fast\n", CC_ERR_ARG, ": b.lr: 'fast' is not a number (line 3)", NULL);
    expect_fail("in: i\nb:\n  lr: .nan\n", CC_ERR_ARG, ": b.lr: '.nan' is not a number (line 3)", NULL);
    expect_fail("in: i\nb:\n  lr: 2\n", CC_ERR_ARG, ": b.lr: 2 is outside [1e-06, 1] (line 3)", NULL);
    expect_fail("in: i\na:\n  flag: maybe\n", CC_ERR_ARG, ": a.flag: 'maybe' is not true or false (line 3)", NULL);
    expect_fail("in: i\na:\n  mode: warp\n", CC_ERR_ARG, ": a.mode: 'warp' is not one of slow|mid|fast (line 3)",
                NULL);
    expect_fail("in: i\na:\n  list: 3\n", CC_ERR_ARG, ": a.list: must be a list of integers (line 3)", NULL);
    expect_fail("in: i\na:\n  list: []\n", CC_ERR_ARG, ": a.list: need 1..4 integers in [1, 64] (line 3)", NULL);
    expect_fail("in: i\na:\n  list: [1, 2, 3, 4, 5]\n", CC_ERR_ARG, ": a.list: need 1..4 integers", NULL);
    expect_fail("in: i\na:\n  list: [1, 65]\n", CC_ERR_ARG, ": a.list: need 1..4 integers", NULL);
    expect_fail("in: i\nname: \"\"\n", CC_ERR_ARG, ": name: empty value (line 2)", NULL);
    expect_fail("in: [a, b]\n", CC_ERR_ARG, ": in: must be a single value (line 1)", NULL);
    expect_fail("in: i\nb:\n  items: [ok, bad]\n", CC_ERR_ARG, ": b.items: 'bad' is refused (line 3)", NULL);
    expect_fail("in: i\n\nb:\n  stpes: 3\n", CC_ERR_ARG, ": b.stpes: unknown key (line 4; see clearcube test --help)",
                NULL);
    expect_fail("in: i\ncolour: blue\n", CC_ERR_ARG, ": colour: unknown key (line 2", NULL);
    expect_fail("in: i\na:\n  n: 3\n  n: 4\n", CC_ERR_ARG, ": a.n: given twice (line 4)", NULL);
    expect_fail("a:\n  n: 3\n", CC_ERR_ARG, ": in: missing (required key)", NULL);
    expect_fail("in: i\na: 5\n", CC_ERR_ARG, ": a: must be a mapping (line 2)", NULL);
    expect_fail("- 1\n- 2\n", CC_ERR_ARG, ": (top level): must be a mapping (line 1)", NULL);
    expect_fail("in: i\na: [unclosed\n", CC_ERR_FORMAT, ": line ", ": invalid YAML: ", NULL);
    expect_fail("# nothing\n", CC_ERR_FORMAT, ": empty file", NULL);

    /* a missing file */
    snprintf(want, sizeof want, "%s/nope.yaml", dir);
    CHECK(cc_config_load(want, keys, NK, &c, NULL) == CC_ERR_IO);
    CHECK(strstr(cc_error_message(), "nope.yaml: cannot open") != NULL);
    cfg_free(&c);

    /* CC_CFG_EXISTS: the resolved path must exist */
    static const cc_config_key must_exist[] = {
        {CC_CFG_KEY("in", CC_CFG_PATH, 0, 0, NULL, "input", O(in)), .flags = CC_CFG_EXISTS},
    };
    CHECK_OK(cc_config_load(write_cfg("exists.yaml", "in: exists.yaml\n"), must_exist, 1, &c, NULL));
    cfg_free(&c);
    CHECK(cc_config_load(write_cfg("exists2.yaml", "\nin: nothere.tif\n"), must_exist, 1, &c, NULL) == CC_ERR_ARG);
    CHECK(strstr(cc_error_message(), "exists2.yaml: in: ") && strstr(cc_error_message(), "/nothere.tif: No such file") &&
          strstr(cc_error_message(), "(line 2)"));
    cfg_free(&c);

    TEST_RETURN();
}
