/* File and failure helpers for the s2mtd tests (header-only). */
#ifndef CC_TESTS_S2MTD_UTIL_H
#define CC_TESTS_S2MTD_UTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "testutil.h"

/* Whole file as a NUL-terminated malloc'd string, or exit(1). */
static inline char *tu_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(1);
    }
    buf[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return buf;
}

static inline void tu_write(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
}

/* New string with the first occurrence of `from` replaced by `to`; exit(1)
 * if `from` is absent (the test's premise about the real file is wrong). */
static inline char *tu_replace(const char *s, const char *from, const char *to)
{
    const char *p = strstr(s, from);
    if (!p) {
        fprintf(stderr, "test premise: '%s' not found\n", from);
        exit(1);
    }
    size_t a = (size_t)(p - s), lf = strlen(from), lt = strlen(to), ls = strlen(s);
    char *r = malloc(ls - lf + lt + 1);
    if (!r)
        exit(1);
    memcpy(r, s, a);
    memcpy(r + a, to, lt);
    memcpy(r + a + lt, p + lf, ls - a - lf + 1);
    return r;
}

/* snprintf that exits on truncation (test paths must never be cut short). */
static inline void tu_fmt(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static inline void tu_fmt(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    if (r < 0 || (size_t)r >= n) {
        fprintf(stderr, "test path too long: %s\n", fmt);
        exit(1);
    }
}

static inline void tu_path(char *buf, size_t n, const char *dir, const char *name)
{
    tu_fmt(buf, n, "%s/%s", dir, name);
}

/* A malformed variant of a real file: `text` with the first `from` replaced
 * by `to`, written as dir/name; path receives that name. */
static inline void tu_variant(char *path, size_t n, const char *dir, const char *name, const char *text,
                              const char *from, const char *to)
{
    char *t = tu_replace(text, from, to);
    tu_path(path, n, dir, name);
    tu_write(path, t, strlen(t));
    free(t);
}

/* A reader's failure on `path`: status `want` and a one-line message that
 * names the file (and `needle`, when given). */
static inline void tu_check_failure(const char *path, cc_status st, cc_status want, const char *needle)
{
    const char *msg = cc_error_message();
    printf("expected failure: %s -> %s: %s\n", path, cc_status_name(st), msg);
    CHECK(st == want);
    CHECK(strstr(msg, path) != NULL);
    CHECK(needle == NULL || strstr(msg, needle) != NULL);
    CHECK(strchr(msg, '\n') == NULL);
}

/* $CLEARCUBE_TMP/<name>, emptied and created (like cc_test_tmpdir, with
 * checked lengths). Returns a static buffer. */
static inline const char *tu_tmpdir(const char *name)
{
    static char dir[4096];
    char cmd[8400];
    const char *t = getenv("CLEARCUBE_TMP");
    tu_fmt(dir, sizeof dir, "%s/%s", t ? t : "/tmp", name);
    tu_fmt(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "cannot create %s\n", dir);
        exit(1);
    }
    return dir;
}

#endif
