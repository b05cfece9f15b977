/* clearcube: progress of a long task, reported through core/log.
 *
 * The pipelines say how far they are (done of total units); this module
 * decides how to show it, so that io/ and kernels/ never print:
 *   - stderr is a terminal, text log format, level info or lower, not an MPI
 *     rank: a live bar redrawn at most 5 times a second,
 *       boa [##########..........]  50%  1024/2048 rows  12s, ETA 12s
 *     with other log lines printed above it;
 *   - otherwise: a line every CLEARCUBE_PROGRESS_INTERVAL seconds (default 10;
 *     0: at every whole percent), at info level (debug under MPI ranks, whose
 *     items would otherwise flood the run's log),
 *       12:00:01 info: boa: 50% (1024/2048 rows), 12s elapsed, ETA 12s
 *     in JSON format with a "progress" member (core/log.h);
 *   - the end: the bar stays as a finished line; in line mode a last line
 *     "boa: done, 2048 rows in 24s" (info when a periodic line was printed,
 *     else debug); none when done < total (an error stopped the task: the
 *     caller reports it).
 * Log files (--log-file) get the lines, never the bar.
 *
 *     cc_progress *p = cc_progress_start("boa", "rows", height);
 *     for (...) { ...; cc_progress_add(p, rows_done_now); }
 *     cc_progress_end(p);
 *
 * cc_progress_add may be called from several threads at once. Every function
 * accepts p == NULL (then does nothing), so a failed start needs no checks. */
#ifndef CC_CORE_PROGRESS_H
#define CC_CORE_PROGRESS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cc_progress cc_progress;

/* task: a short name ("boa", "reference"); unit: what is counted ("rows",
 * "products", "steps"); total may be 0 when unknown yet (cc_progress_total). */
cc_progress *cc_progress_start(const char *task, const char *unit, uint64_t total);
void cc_progress_total(cc_progress *p, uint64_t total);
/* n more units done (thread-safe). */
void cc_progress_add(cc_progress *p, uint64_t n);
/* done units so far, when the caller counts itself. */
void cc_progress_set(cc_progress *p, uint64_t done);
/* A short note shown after the counts ("loss 0.0123"), until replaced. */
void cc_progress_note(cc_progress *p, const char *note);
/* The final line or state; frees p. */
void cc_progress_end(cc_progress *p);

#ifdef __cplusplus
}
#endif
#endif
