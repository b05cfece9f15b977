/* clearcube: overflow-checked allocation for pixel buffers. */
#ifndef CC_CORE_ALLOC_H
#define CC_CORE_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* malloc(a*b*c) with overflow check; on failure sets CC_ERR_NOMEM and returns
 * NULL. Free with free(). */
void *cc_malloc3(size_t a, size_t b, size_t c);
void *cc_calloc3(size_t a, size_t b, size_t c);

#ifdef __cplusplus
}
#endif
#endif
