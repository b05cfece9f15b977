/* clearcube: levelled log to stderr, with an optional MPI-rank prefix.
 * GDAL's CPLError messages are routed here by cc_log_route_gdal(). */
#ifndef CC_CORE_LOG_H
#define CC_CORE_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { CC_LOG_DEBUG = 0, CC_LOG_INFO, CC_LOG_WARN, CC_LOG_ERROR, CC_LOG_QUIET } cc_log_level;

void cc_log_set_level(cc_log_level lvl);
cc_log_level cc_log_get_level(void);
/* Parses "debug", "info", "warn", "error", "quiet"; returns -1 if unknown. */
int cc_log_parse_level(const char *s);
/* Rank prefix "[rank N] "; pass -1 for none (the default). */
void cc_log_set_rank(int rank);
void cc_log(cc_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define cc_debug(...) cc_log(CC_LOG_DEBUG, __VA_ARGS__)
#define cc_info(...) cc_log(CC_LOG_INFO, __VA_ARGS__)
#define cc_warn(...) cc_log(CC_LOG_WARN, __VA_ARGS__)
#define cc_errorlog(...) cc_log(CC_LOG_ERROR, __VA_ARGS__)

/* Installs a CPLErrorHandler that sends GDAL warnings/errors into this log
 * (GDAL failures are still reported to callers through cc_status). */
void cc_log_route_gdal(void);

#ifdef __cplusplus
}
#endif
#endif
