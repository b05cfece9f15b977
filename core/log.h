/* clearcube: levelled log to stderr, with an optional MPI-rank prefix, optional
 * log files and a JSON line format. GDAL's CPLError messages are routed here by
 * cc_log_route_gdal().
 *
 * Text lines:  "HH:MM:SS [rank N] LEVEL: message"
 * JSON lines:  one object per line, {"time": "2026-12-07T21:42:44.123Z",
 *              "level": "info", "rank": N (only under MPI), "msg": "..."}
 *              plus "progress": {...} on progress lines (core/progress.h).
 * stderr gets the lines at or above the level; each log file gets them at or
 * above min(level, info), so `-q --log-file F` keeps a full record in F.
 * Thread-safe: lines are written whole under one lock. */
#ifndef CC_CORE_LOG_H
#define CC_CORE_LOG_H

#include <stddef.h>

#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { CC_LOG_DEBUG = 0, CC_LOG_INFO, CC_LOG_WARN, CC_LOG_ERROR, CC_LOG_QUIET } cc_log_level;
typedef enum { CC_LOG_TEXT = 0, CC_LOG_JSON } cc_log_format;

void cc_log_set_level(cc_log_level lvl);
cc_log_level cc_log_get_level(void);
/* Parses "debug", "info", "warn", "error", "quiet"; returns -1 if unknown. */
int cc_log_parse_level(const char *s);
void cc_log_set_format(cc_log_format f);
cc_log_format cc_log_get_format(void);
/* Parses "text", "json"; returns -1 if unknown. */
int cc_log_parse_format(const char *s);
/* Rank prefix "[rank N] "; pass -1 for none (the default). */
void cc_log_set_rank(int rank);
int cc_log_get_rank(void);
/* Appends every later line also to the file at path (created 0644, opened for
 * append; up to 4 files). CC_ERR_IO naming the file if it cannot be opened. */
cc_status cc_log_add_file(const char *path);
/* A new dated log file DIR/PREFIX-YYYYMMDDTHHMMSSZ.log (UTC now; "-2", "-3"...
 * before ".log" when a file of that second exists), added as by
 * cc_log_add_file; its path is written to out (n bytes). */
cc_status cc_log_add_dated_file(const char *dir, const char *prefix, char *out, size_t n);
/* Closes every log file. */
void cc_log_close_files(void);
void cc_log(cc_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define cc_debug(...) cc_log(CC_LOG_DEBUG, __VA_ARGS__)
#define cc_info(...) cc_log(CC_LOG_INFO, __VA_ARGS__)
#define cc_warn(...) cc_log(CC_LOG_WARN, __VA_ARGS__)
#define cc_errorlog(...) cc_log(CC_LOG_ERROR, __VA_ARGS__)

/* For core/progress.c only: a progress record. msg is the text line; in JSON
 * format the object also carries "progress": {"task", "done", "total",
 * "elapsed_s", "eta_s" (negative: unknown)}. */
void cc_log_progress(cc_log_level lvl, const char *msg, const char *task, unsigned long long done,
                     unsigned long long total, double elapsed_s, double eta_s);
/* For core/progress.c only: the live status line (a progress bar) kept at the
 * bottom of a terminal; other log lines are printed above it. NULL removes it
 * (the last state stays on screen, followed by a newline, when keep != 0). */
void cc_log_status_line(const char *line, int keep);

/* Installs a CPLErrorHandler that sends GDAL warnings/errors into this log
 * (GDAL failures are still reported to callers through cc_status). */
void cc_log_route_gdal(void);

#ifdef __cplusplus
}
#endif
#endif
