#define _GNU_SOURCE /* asprintf, strdup, gmtime_r, clock_gettime, fdopen */
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cpl_error.h>

#include "core/json.h"

#define MAX_FILES 4

static cc_log_level g_level = CC_LOG_INFO;
static cc_log_format g_format = CC_LOG_TEXT;
static int g_rank = -1;
static FILE *g_files[MAX_FILES];
static int g_nfiles;
static char *g_status; /* the live progress bar shown on stderr, or NULL */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"debug", "info", "warn", "error", "quiet"};
static const char *const level_tags[] = {"debug", "info", "warning", "error", ""};

void cc_log_set_level(cc_log_level lvl) { g_level = lvl; }
cc_log_level cc_log_get_level(void) { return g_level; }
void cc_log_set_format(cc_log_format f) { g_format = f; }
cc_log_format cc_log_get_format(void) { return g_format; }
void cc_log_set_rank(int rank) { g_rank = rank; }
int cc_log_get_rank(void) { return g_rank; }

int cc_log_parse_level(const char *s)
{
    for (int i = 0; i < 5; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

int cc_log_parse_format(const char *s)
{
    return !strcmp(s, "text") ? CC_LOG_TEXT : !strcmp(s, "json") ? CC_LOG_JSON : -1;
}

static cc_status add_fd(int fd, const char *path)
{
    FILE *f = fd >= 0 ? fdopen(fd, "a") : NULL;
    if (!f) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return cc_error_set(CC_ERR_IO, "%s: cannot open the log file: %s", path, strerror(e));
    }
    setvbuf(f, NULL, _IOLBF, 0);
    pthread_mutex_lock(&g_lock);
    if (g_nfiles == MAX_FILES) {
        pthread_mutex_unlock(&g_lock);
        fclose(f);
        return cc_error_set(CC_ERR_ARG, "%s: too many log files (at most %d)", path, MAX_FILES);
    }
    g_files[g_nfiles++] = f;
    pthread_mutex_unlock(&g_lock);
    return CC_OK;
}

cc_status cc_log_add_file(const char *path)
{
    if (!path || !path[0])
        return cc_error_set(CC_ERR_ARG, "log file: empty path");
    return add_fd(open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644), path);
}

cc_status cc_log_add_dated_file(const char *dir, const char *prefix, char *out, size_t n)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    for (int k = 1; k < 1000; k++) {
        char sfx[16] = "";
        if (k > 1)
            snprintf(sfx, sizeof sfx, "-%d", k);
        if ((size_t)snprintf(out, n, "%s/%s-%s%s.log", dir, prefix, stamp, sfx) >= n)
            return cc_error_set(CC_ERR_ARG, "%s: log file name too long", dir);
        int fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0 && errno == EEXIST)
            continue;
        return add_fd(fd, out);
    }
    return cc_error_set(CC_ERR_IO, "%s: cannot find a free log file name", dir);
}

void cc_log_close_files(void)
{
    pthread_mutex_lock(&g_lock);
    for (int i = 0; i < g_nfiles; i++)
        fclose(g_files[i]);
    g_nfiles = 0;
    pthread_mutex_unlock(&g_lock);
}

/* One formatted line (with its newline) into buf; JSON through jansson so that
 * any message (quotes, control characters, bytes that are not UTF-8) gives a
 * valid object. Returns a malloc'd string or NULL. */
static char *format_line(cc_log_level lvl, const char *msg, json_t *extra)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char *line = NULL;
    if (g_format == CC_LOG_JSON) {
        char t[64];
        snprintf(t, sizeof t, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000));
        json_t *o = json_object();
        json_object_set_new(o, "time", json_string(t));
        json_object_set_new(o, "level", json_string(level_names[lvl]));
        if (g_rank >= 0)
            json_object_set_new(o, "rank", json_integer(g_rank));
        json_t *m = cc_json_str(msg);
        json_object_set_new(o, "msg", m);
        if (extra)
            json_object_update(o, extra);
        char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        if (s && asprintf(&line, "%s\n", s) < 0)
            line = NULL;
        free(s);
    } else if (g_rank >= 0) {
        if (asprintf(&line, "%02d:%02d:%02d [rank %d] %s: %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec, g_rank,
                     level_tags[lvl], msg) < 0)
            line = NULL;
    } else if (asprintf(&line, "%02d:%02d:%02d %s: %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec, level_tags[lvl],
                        msg) < 0) {
        line = NULL;
    }
    return line;
}

static void emit(cc_log_level lvl, const char *msg, json_t *extra, int to_stderr)
{
    if (lvl >= CC_LOG_QUIET)
        return;
    int on_err = to_stderr && lvl >= g_level;
    cc_log_level flevel = g_level < CC_LOG_INFO ? g_level : CC_LOG_INFO;
    int on_files = g_nfiles > 0 && lvl >= flevel;
    if (!on_err && !on_files)
        return;
    char *line = format_line(lvl, msg, extra);
    if (!line)
        return;
    pthread_mutex_lock(&g_lock);
    if (on_err) {
        if (g_status)
            fputs("\r\033[K", stderr);
        fputs(line, stderr);
        if (g_status)
            fputs(g_status, stderr);
        fflush(stderr);
    }
    if (on_files)
        for (int i = 0; i < g_nfiles; i++)
            fputs(line, g_files[i]);
    pthread_mutex_unlock(&g_lock);
    free(line);
}

void cc_log(cc_log_level lvl, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    emit(lvl, msg, NULL, 1);
}

void cc_log_progress(cc_log_level lvl, const char *msg, const char *task, unsigned long long done,
                     unsigned long long total, double elapsed_s, double eta_s)
{
    json_t *extra = NULL;
    if (g_format == CC_LOG_JSON)
        extra = json_pack("{s:{s:s,s:I,s:I,s:f,s:f}}", "progress", "task", task ? task : "",
                          "done", (json_int_t)done, "total", (json_int_t)total, "elapsed_s", elapsed_s,
                          "eta_s", eta_s);
    /* while a bar is drawn on the terminal the lines go to the log files only */
    emit(lvl, msg, extra, g_status == NULL);
    json_decref(extra);
}

void cc_log_status_line(const char *line, int keep)
{
    pthread_mutex_lock(&g_lock);
    if (line) {
        char *s = strdup(line);
        if (s) {
            free(g_status);
            g_status = s;
            fputs("\r\033[K", stderr);
            fputs(s, stderr);
            fflush(stderr);
        }
    } else if (g_status) {
        fputs(keep ? "\n" : "\r\033[K", stderr);
        fflush(stderr);
        free(g_status);
        g_status = NULL;
    }
    pthread_mutex_unlock(&g_lock);
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
