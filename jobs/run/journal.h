/* clearcube: the job journal (issue 5, docs/running.md, decision 0004).
 *
 * An append-only text file of JSON lines, <output>/journal.jsonl, written only
 * by rank 0 of `clearcube run`; every line is written with one write() and
 * fsync'd before the call returns, so a line either is in the file or is not
 * (a torn last line from a killed writer is ignored on replay). Events:
 *
 *   {"event":"job","version":1,"submitted":EPOCH,"job":"PATH","items":N}  first line
 *   {"event":"run","run":R,"ranks":P,"time":EPOCH}                         each run starts
 *   {"event":"start","item":ID,"attempt":K,"rank":r,"time":EPOCH}
 *   {"event":"end","item":ID,"attempt":K,"rank":r,"status":S,"seconds":T,"reason":"..."}
 *        S: done | failed | timeout | abandoned
 *   {"event":"quarantine","item":ID,"crashes":C}
 *   {"event":"reset","item":ID}          (--retry-failed: forget failures/crashes)
 *   {"event":"tile","tile":T,"items":N,"digest":"HEX","status":"done|failed","reason":"..."}
 *   {"event":"close","run":R,"exit":CODE,"time":EPOCH}
 *
 * Replay folds the events into one state per item: an item "started" with no
 * "end" before the next "run" line (or the end of the file) crashed the job. */
#ifndef CC_JOBS_RUN_JOURNAL_H
#define CC_JOBS_RUN_JOURNAL_H

#include <stdint.h>

#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cc_journal cc_journal;

/* What the journal knows about one item (or tile, for the tile records). */
typedef struct {
    char id[64];
    int starts;        /* "start" lines                                      */
    int failures;      /* "end" with failed or timeout                        */
    int crashes;       /* starts never ended (the job died meanwhile)         */
    int done;          /* an "end" with status done was seen                  */
    int done_count;    /* how many "end ... done" lines (must stay <= 1)      */
    int quarantined;   /* a "quarantine" line was seen                        */
    char reason[256];  /* reason of the last failure                          */
} cc_journal_item;

typedef struct {
    char tile[16];
    char digest[17];   /* of the last "tile" line with status done            */
} cc_journal_tile;

typedef struct {
    int64_t submitted;   /* from the "job" line                               */
    int runs;            /* "run" lines                                       */
    cc_journal_item *items; /* sorted by id; free with cc_journal_state_free */
    int nitems;
    cc_journal_tile *tiles; /* sorted by tile                                */
    int ntiles;
} cc_journal_state;

/* Reads <path> if it exists (state zeroed with submitted = 0 otherwise). */
cc_status cc_journal_replay(const char *path, cc_journal_state *st);
void cc_journal_state_free(cc_journal_state *st);
/* The state of item `id`, or NULL if the journal never mentioned it. */
const cc_journal_item *cc_journal_find(const cc_journal_state *st, const char *id);
const cc_journal_tile *cc_journal_find_tile(const cc_journal_state *st, const char *tile);

/* Opens <path> for appending (creating it). When the file is new (or empty),
 * writes the "job" line with `submitted`, `job` and `nitems`. Free with
 * cc_journal_close. */
cc_status cc_journal_open(const char *path, int64_t submitted, const char *job, int nitems,
                          cc_journal **out);
/* Appends one event line. `json_fields` is the inside of the object after
 * "event" (already JSON: "\"item\":\"X\",\"attempt\":1"), may be "" . The line
 * is on disk (fsync) when CC_OK returns. */
cc_status cc_journal_append(cc_journal *j, const char *event, const char *json_fields);
void cc_journal_close(cc_journal *j);

/* Writes s as a JSON string literal (with quotes) into buf; truncates safely. */
void cc_json_quote(char *buf, size_t n, const char *s);

#ifdef __cplusplus
}
#endif
#endif
