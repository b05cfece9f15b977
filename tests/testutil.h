/* Minimal test helpers shared by the C tests (header-only). */
#ifndef CC_TESTS_TESTUTIL_H
#define CC_TESTS_TESTUTIL_H

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int cc_test_failures = 0;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);          \
            cc_test_failures++;                                                      \
        }                                                                            \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                        \
    do {                                                                             \
        double _a = (a), _b = (b);                                                   \
        if (!(fabs(_a - _b) <= (tol))) {                                             \
            fprintf(stderr, "FAIL %s:%d: %s = %.15g, expected %.15g (tol %g)\n",     \
                    __FILE__, __LINE__, #a, _a, _b, (double)(tol));                   \
            cc_test_failures++;                                                      \
        }                                                                            \
    } while (0)

#define CHECK_OK(expr)                                                               \
    do {                                                                             \
        cc_status _st = (expr);                                                      \
        if (_st != CC_OK) {                                                          \
            fprintf(stderr, "FAIL %s:%d: %s -> %s: %s\n", __FILE__, __LINE__, #expr, \
                    cc_status_name(_st), cc_error_message());                        \
            cc_test_failures++;                                                      \
        }                                                                            \
    } while (0)

/* FNV-1a of a whole file's bytes (to check that a file did not change); 0 if
 * unreadable. */
static inline unsigned long long cc_test_file_fnv(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    unsigned long long h = 1469598103934665603ull;
    int c;
    while ((c = fgetc(f)) != EOF)
        h = (h ^ (unsigned long long)c) * 1099511628211ull;
    fclose(f);
    return h;
}

/* Path of the shared data folder, or exit 77 (skip) with a reason. */
static inline const char *cc_test_shared_or_skip(void)
{
    const char *s = getenv("CLEARCUBE_SHARED");
    struct stat st;
    if (!s || stat(s, &st) != 0 || !S_ISDIR(st.st_mode)) {
        printf("SKIP: ../shared (real datasets) is not beside this checkout\n");
        exit(77);
    }
    return s;
}

/* A scratch directory for this test (created). */
static inline const char *cc_test_tmpdir(const char *name)
{
    static char buf[2048];
    const char *t = getenv("CLEARCUBE_TMP");
    int len = snprintf(buf, sizeof buf, "%s/%s", t ? t : "/tmp", name);
    char cmd[2 * sizeof buf + 64];
    if (len < 0 || (size_t)len >= sizeof buf || strchr(buf, '\'')) {
        fprintf(stderr, "unusable scratch path %s/%s\n", t ? t : "/tmp", name);
        exit(1);
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", buf, buf);
    if (system(cmd) != 0) {
        fprintf(stderr, "cannot create %s\n", buf);
        exit(1);
    }
    return buf;
}

/* Files in dir whose name starts with prefix (writers' temporaries, outputs left behind). */
static inline int tu_count_prefix(const char *dir, const char *prefix)
{
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    if (d)
        closedir(d);
    return n;
}

#define TEST_RETURN() return cc_test_failures ? (fprintf(stderr, "%d failure(s)\n", cc_test_failures), 1) : 0

/* "dir/name" in one of 8 rotating static buffers (several may be live in one call). */
static inline const char *tu_join(const char *dir, const char *name)
{
    static char buf[8][1400];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

#endif
