/* clearcube: status codes and the per-thread last-error message.
 *
 * Every library function that can fail returns a cc_status and, on failure,
 * leaves a one-line message (naming the file and the problem) in a per-thread
 * buffer read with cc_error_message(). Only main() turns a status into an exit
 * code (cc_status_exit_code). CC_ASSERT is for programmer errors only. */
#ifndef CC_CORE_ERROR_H
#define CC_CORE_ERROR_H

#include <stdio.h>
#include <stdlib.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    CC_OK = 0,
    CC_ERR_ARG,         /* bad or inconsistent arguments/options            */
    CC_ERR_IO,          /* cannot open/read/write a path                     */
    CC_ERR_FORMAT,      /* malformed, truncated or unexpected file content   */
    CC_ERR_MISSING,     /* a required band/file/element is absent            */
    CC_ERR_CRS,         /* missing or inconsistent coordinate reference      */
    CC_ERR_NODATA,      /* input has no valid pixels                         */
    CC_ERR_UNSUPPORTED, /* e.g. unknown spacecraft, unsupported option       */
    CC_ERR_NOMEM,       /* allocation failed or size overflow                */
    CC_ERR_CHECKSUM,    /* manifest checksum mismatch                        */
    CC_ERR_INTERNAL,
    CC_ERR_NODEVICE     /* the requested device (--device cuda) is not available */
} cc_status;

/* Sets the calling thread's last error (printf-style) and returns `st`, so
 * that `return cc_error_set(CC_ERR_IO, "%s: cannot open", path);` works. */
cc_status cc_error_set(cc_status st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The calling thread's last error message ("" if none). Owned by the library. */
const char *cc_error_message(void);
cc_status cc_error_status(void);
void cc_error_clear(void);
/* Short name of a status, e.g. "io error". */
const char *cc_status_name(cc_status st);
/* Process exit code for a status: 0 for CC_OK, 2 for argument errors, 4 when the
 * requested device is not available (CC_ERR_NODEVICE), 1 otherwise. */
int cc_status_exit_code(cc_status st);

/* Always compiled in. For programmer errors only, never for bad input. */
#define CC_ASSERT(cond)                                                             \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "clearcube: internal assertion failed: %s (%s:%d)\n",  \
                    #cond, __FILE__, __LINE__);                                     \
            abort();                                                                \
        }                                                                           \
    } while (0)

#ifdef __cplusplus
}
#endif
#endif
