#include "core/error.h"

#include <stdarg.h>
#include <string.h>

static _Thread_local char cc_last_msg[1024];
static _Thread_local cc_status cc_last_status = CC_OK;

cc_status cc_error_set(cc_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cc_last_msg, sizeof cc_last_msg, fmt, ap);
    va_end(ap);
    /* keep it one line */
    for (char *p = cc_last_msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    cc_last_status = st;
    return st;
}

const char *cc_error_message(void) { return cc_last_msg; }
cc_status cc_error_status(void) { return cc_last_status; }

void cc_error_clear(void)
{
    cc_last_msg[0] = '\0';
    cc_last_status = CC_OK;
}

const char *cc_status_name(cc_status st)
{
    switch (st) {
    case CC_OK: return "ok";
    case CC_ERR_ARG: return "bad argument";
    case CC_ERR_IO: return "i/o error";
    case CC_ERR_FORMAT: return "bad format";
    case CC_ERR_MISSING: return "missing input";
    case CC_ERR_CRS: return "bad CRS";
    case CC_ERR_NODATA: return "no valid data";
    case CC_ERR_UNSUPPORTED: return "unsupported";
    case CC_ERR_NOMEM: return "out of memory";
    case CC_ERR_CHECKSUM: return "checksum mismatch";
    case CC_ERR_INTERNAL: return "internal error";
    case CC_ERR_NODEVICE: return "device not available";
    }
    return "unknown error";
}

int cc_status_exit_code(cc_status st)
{
    if (st == CC_OK)
        return 0;
    if (st == CC_ERR_ARG)
        return 2;
    if (st == CC_ERR_NODEVICE)
        return 4;
    return 1;
}
