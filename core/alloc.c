#define _GNU_SOURCE /* strtod, sysconf */
#include "core/alloc.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/error.h"

static int mul_ok(size_t a, size_t b, size_t c, size_t *out)
{
    size_t ab;
    if (__builtin_mul_overflow(a, b, &ab) || __builtin_mul_overflow(ab, c, out))
        return 0;
    return 1;
}

static unsigned long long g_limit; /* 0: not set */

void cc_mem_set_limit(unsigned long long bytes) { g_limit = bytes; }

int cc_mem_parse(const char *s, unsigned long long *bytes)
{
    char *end = NULL;
    if (!s || !*s)
        return -1;
    double v = strtod(s, &end);
    if (end == s || !(v > 0) || !isfinite(v))
        return -1;
    double mul = 1;
    switch (toupper((unsigned char)*end)) {
    case 'K': mul = 1024.0, end++; break;
    case 'M': mul = 1024.0 * 1024, end++; break;
    case 'G': mul = 1024.0 * 1024 * 1024, end++; break;
    case 'T': mul = 1024.0 * 1024 * 1024 * 1024, end++; break;
    default: break;
    }
    if (mul > 1 && toupper((unsigned char)*end) == 'I')
        end++;
    if (toupper((unsigned char)*end) == 'B')
        end++;
    if (*end || v * mul >= 1.8e19)
        return -1;
    *bytes = (unsigned long long)(v * mul);
    return *bytes ? 0 : -1;
}

/* What the machine gives this process: physical memory, cgroup v2/v1 limit,
 * RLIMIT_AS (the smallest). */
static unsigned long long machine_limit(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    unsigned long long lim = pages > 0 && psz > 0 ? (unsigned long long)pages * (unsigned long long)psz : 0;
    static const char *const cg[] = {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"};
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(cg[i], "r");
        unsigned long long v = 0;
        if (f && fscanf(f, "%llu", &v) == 1 && v > 0 && (!lim || v < lim))
            lim = v;
        if (f)
            fclose(f);
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (!lim || rl.rlim_cur < lim))
        lim = (unsigned long long)rl.rlim_cur;
    return lim ? lim : ~0ull;
}

unsigned long long cc_mem_limit(void)
{
    if (g_limit)
        return g_limit;
    unsigned long long v;
    const char *e = getenv("CLEARCUBE_MEMORY_LIMIT");
    if (e && cc_mem_parse(e, &v) == 0)
        return v;
    static unsigned long long machine;
    if (!machine)
        machine = machine_limit();
    return machine;
}

/* Where the budget comes from, for messages. */
static const char *limit_source(void)
{
    unsigned long long v;
    const char *e = getenv("CLEARCUBE_MEMORY_LIMIT");
    if (g_limit)
        return "--memory-limit";
    if (e && cc_mem_parse(e, &v) == 0)
        return "CLEARCUBE_MEMORY_LIMIT";
    return "this machine's memory; --memory-limit sets another";
}

cc_status cc_mem_check(unsigned long long need, const char *file, const char *what)
{
    unsigned long long lim = cc_mem_limit();
    if (need <= lim)
        return CC_OK;
    return cc_error_set(CC_ERR_NOMEM, "%s: %s needs %llu MiB, more than the memory limit of %llu MiB (%s)",
                        file ? file : "clearcube", what, (need + (1ull << 20) - 1) >> 20, lim >> 20,
                        limit_source());
}

void *cc_malloc3(size_t a, size_t b, size_t c)
{
    size_t n;
    if (!mul_ok(a, b, c, &n)) {
        cc_error_set(CC_ERR_NOMEM, "allocation of %zu x %zu x %zu overflows", a, b, c);
        return NULL;
    }
    if (cc_mem_check(n, NULL, "an allocation") != CC_OK)
        return NULL;
    void *p = malloc(n ? n : 1);
    if (!p)
        cc_error_set(CC_ERR_NOMEM, "out of memory allocating %zu bytes", n);
    return p;
}

void *cc_calloc3(size_t a, size_t b, size_t c)
{
    size_t n;
    if (!mul_ok(a, b, c, &n)) {
        cc_error_set(CC_ERR_NOMEM, "allocation of %zu x %zu x %zu overflows", a, b, c);
        return NULL;
    }
    if (cc_mem_check(n, NULL, "an allocation") != CC_OK)
        return NULL;
    void *p = calloc(n ? n : 1, 1);
    if (!p)
        cc_error_set(CC_ERR_NOMEM, "out of memory allocating %zu bytes", n);
    return p;
}
