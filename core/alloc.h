/* clearcube: overflow-checked allocation for pixel buffers. */
#ifndef CC_CORE_ALLOC_H
#define CC_CORE_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* malloc(a*b*c) with overflow check; on failure sets CC_ERR_NOMEM and returns
 * NULL. Free with free(). */
void *cc_malloc3(size_t a, size_t b, size_t c);
void *cc_calloc3(size_t a, size_t b, size_t c);

/* ---- the memory budget of this process (issue 17) ----
 *
 * Sizes read from a file (a raster header, a NetCDF dimension) are checked
 * against the budget BEFORE anything is allocated: a 200000 x 200000 header
 * is refused by name, not by whether malloc happens to fail on this node.
 * The budget is, in order: cc_mem_set_limit (the common option
 * --memory-limit, the job's limits.memory), $CLEARCUBE_MEMORY_LIMIT, else
 * what the machine gives this process (physical memory, the cgroup's
 * memory.max and RLIMIT_AS, the smallest). cc_malloc3 and cc_calloc3
 * refuse a single request above it. */

/* bytes: 0 = back to the default. */
void cc_mem_set_limit(unsigned long long bytes);
/* The budget in bytes. */
unsigned long long cc_mem_limit(void);
/* Parses "4G", "512M", "1.5GiB", "800k", "2000000000" (bytes; K/M/G/T are
 * binary, an optional "B"/"iB"); 0 on success, -1 if not a size. */
int cc_mem_parse(const char *s, unsigned long long *bytes);
/* CC_ERR_NOMEM "FILE: WHAT needs N MiB, more than the memory limit of M MiB
 * (...)" when need > the budget, else CC_OK. */
cc_status cc_mem_check(unsigned long long need, const char *file, const char *what);

#ifdef __cplusplus
}
#endif
#endif
