#include "core/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cpl_error.h>

static cc_log_level g_level = CC_LOG_INFO;
static int g_rank = -1;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

void cc_log_set_level(cc_log_level lvl) { g_level = lvl; }
cc_log_level cc_log_get_level(void) { return g_level; }
void cc_log_set_rank(int rank) { g_rank = rank; }

int cc_log_parse_level(const char *s)
{
    static const char *names[] = {"debug", "info", "warn", "error", "quiet"};
    for (int i = 0; i < 5; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

static void vlog(cc_log_level lvl, const char *fmt, va_list ap)
{
    static const char *tags[] = {"debug", "info", "warning", "error", ""};
    if (lvl < g_level || lvl >= CC_LOG_QUIET)
        return;
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    pthread_mutex_lock(&g_lock);
    if (g_rank >= 0)
        fprintf(stderr, "%02d:%02d:%02d [rank %d] %s: %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec, g_rank,
                tags[lvl], msg);
    else
        fprintf(stderr, "%02d:%02d:%02d %s: %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec, tags[lvl], msg);
    pthread_mutex_unlock(&g_lock);
}

void cc_log(cc_log_level lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(lvl, fmt, ap);
    va_end(ap);
}

static void gdal_handler(CPLErr cls, CPLErrorNum num, const char *msg)
{
    (void)num;
    cc_log_level lvl = cls == CE_Debug ? CC_LOG_DEBUG : cls == CE_Warning ? CC_LOG_WARN : CC_LOG_DEBUG;
    /* GDAL errors are returned to callers as cc_status with context; log
     * them at debug level so the user sees one clear line, not two. */
    cc_log(lvl, "GDAL: %s", msg);
}

void cc_log_route_gdal(void) { CPLSetErrorHandler(gdal_handler); }
