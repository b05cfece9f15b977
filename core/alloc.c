#include "core/alloc.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static int mul_ok(size_t a, size_t b, size_t c, size_t *out)
{
    size_t ab;
    if (__builtin_mul_overflow(a, b, &ab) || __builtin_mul_overflow(ab, c, out))
        return 0;
    return 1;
}

void *cc_malloc3(size_t a, size_t b, size_t c)
{
    size_t n;
    if (!mul_ok(a, b, c, &n)) {
        cc_error_set(CC_ERR_NOMEM, "allocation of %zu x %zu x %zu overflows", a, b, c);
        return NULL;
    }
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
    void *p = calloc(n ? n : 1, 1);
    if (!p)
        cc_error_set(CC_ERR_NOMEM, "out of memory allocating %zu bytes", n);
    return p;
}
