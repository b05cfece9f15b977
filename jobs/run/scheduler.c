/* clearcube run: the scheduler on rank 0 (item queue, retries, suspects after a
 * crash, tiles that become ready, the journal lines of starts and ends, the
 * progress line) and the tile table that every rank builds. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/log.h"
#include "jobs/run/journal.h"
#include "jobs/run/run-ctx.h"

static const char *const status_names[] = {"done", "failed", "timeout", "abandoned", "nospace"};

static void fnv_digest(char out[17], const cc_job_item *items, const int *idx, int n)
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < n; i++) {
        for (const char *p = items[idx[i]].id; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ull;
        h = (h ^ '\n') * 1099511628211ull;
    }
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

cc_status cc_run_jlog(run_ctx *c, const char *event, const char *fields)
{
    if (!c->journal || c->journal_error)
        return CC_OK;
    cc_status st = cc_journal_append(c->journal, event, fields);
    if (st != CC_OK) {
        cc_errorlog("%s", cc_error_message());
        c->journal_error = 1; /* stop handing out work: no journal, no safety */
        c->stopping = 1;
    }
    return st;
}

static int item_final(const run_ctx *c, int i)
{
    cc_run_item_state s = c->res[i].state;
    return s == CC_RI_DONE || s == CC_RI_FAILED || s == CC_RI_QUARANTINED;
}

/* A tile whose items are all final becomes ready to assemble, unless the
 * journal says its cube was built from exactly these items already. */
static void tile_check(run_ctx *c, int t)
{
    cc_run_tile *tl = &c->tiles[t];
    if (tl->state != 0)
        return;
    const int *ti = &c->tile_item[c->tile_first[t]];
    /* the tile's items in reverse list order: those handed out last (most
     * likely still pending) first, so that an unfinished tile costs O(1) */
    for (int k = tl->nitems - 1; k >= 0; k--)
        if (!item_final(c, ti[k]))
            return;
    int ndone = 0;
    int *idx = malloc((size_t)tl->nitems * sizeof *idx);
    if (!idx)
        return;
    for (int k = 0; k < tl->nitems; k++)
        if (c->res[ti[k]].state == CC_RI_DONE)
            idx[ndone++] = ti[k];
    /* digest over done ids in id order (items are in cost order) */
    for (int a = 1; a < ndone; a++)
        for (int b = a; b > 0 && strcmp(c->items[idx[b - 1]].id, c->items[idx[b]].id) > 0; b--) {
            int tmp = idx[b];
            idx[b] = idx[b - 1];
            idx[b - 1] = tmp;
        }
    tl->ndone = ndone;
    fnv_digest(tl->digest, c->items, idx, ndone);
    free(idx);
    if (ndone == 0) {
        tl->state = 5;
        snprintf(tl->reason, sizeof tl->reason, "no item of the tile succeeded");
        return;
    }
    char cube[PATH_MAX + 32];
    snprintf(cube, sizeof cube, "%s/%s.nc", c->outdir, tl->tile);
    const cc_journal_tile *jt = cc_journal_find_tile(&c->js, tl->tile);
    if (jt && !strcmp(jt->digest, tl->digest) && access(cube, F_OK) == 0) {
        tl->state = 3;
        tl->skipped = 1;
        return;
    }
    tl->state = 1;
    c->ready[c->nready++] = t;
}

int cc_run_all_final(const run_ctx *c)
{
    if (c->nfinal < c->nitems)
        return 0;
    for (int t = 0; t < c->ntiles; t++)
        if (c->tiles[t].state < 3)
            return 0;
    return 1;
}

/* Next task for `rank`: M_ITEM / M_TILE / M_STOP, or 0 to defer. */
static int sched_next(run_ctx *c, int rank, run_msg *m)
{
    memset(m, 0, sizeof *m);
    if (c->stopping) {
        m->kind = M_STOP;
        return M_STOP;
    }
    if (c->nready > 0) {
        int t = c->ready[--c->nready];
        c->tiles[t].state = 2;
        c->inflight++;
        m->kind = M_TILE;
        m->index = t;
        return M_TILE;
    }
    int pick = -1; /* queue position: the first item that may start now */
    for (int q = c->qhead; q != c->qtail; q = (q + 1) % (c->nitems + 1)) {
        int i = c->queue[q];
        /* an item that was in flight when the job died is a suspect: at most
         * one suspect runs at a time, so that a second death is blamed on
         * the right item (innocent items in flight count one crash only) */
        if (c->res[i].crashes > 0 && c->suspect_inflight)
            continue;
        pick = q;
        break;
    }
    if (pick >= 0) {
        int i = c->queue[pick];
        c->queue[pick] = c->queue[c->qhead]; /* swap to the head, then pop */
        c->queue[c->qhead] = i;
        c->qhead = (c->qhead + 1) % (c->nitems + 1);
        cc_run_item_result *r = &c->res[i];
        if (r->crashes > 0)
            c->suspect_inflight = 1;
        r->attempts++;
        r->state = CC_RI_RUNNING;
        r->rank = rank;
        c->assigned_t[i] = mono_now();
        char f[256], q[160];
        cc_json_quote(q, sizeof q, c->items[i].id);
        snprintf(f, sizeof f, "\"item\":%s,\"attempt\":%d,\"rank\":%d,\"time\":%lld", q, r->attempts,
                 rank, (long long)time(NULL));
        if (cc_run_jlog(c, "start", f) != CC_OK) { /* never run an item the journal does not know of */
            r->attempts--;
            r->state = CC_RI_PENDING;
            m->kind = M_STOP;
            return M_STOP;
        }
        c->inflight++;
        m->kind = M_ITEM;
        m->index = i;
        m->attempt = r->attempts;
        return M_ITEM;
    }
    if (c->inflight == 0 && cc_run_all_final(c)) {
        m->kind = M_STOP;
        return M_STOP;
    }
    return 0;
}

static void sched_reply(run_ctx *c, int rank, const run_msg *m)
{
    if (m->kind == M_STOP)
        c->stopped_ranks++;
    if (rank == 0) {
        c->local_reply = *m;
        c->have_local_reply = 1;
    } else {
        cc_run_send_msg(c, rank, TAG_DOWN, m);
    }
}

static void serve_waiting(run_ctx *c)
{
    for (int k = 0; k < c->nwaiting;) {
        run_msg m;
        if (!sched_next(c, c->waiting[k], &m)) {
            k++;
            continue;
        }
        int r = c->waiting[k];
        c->waiting[k] = c->waiting[--c->nwaiting];
        sched_reply(c, r, &m);
    }
}

static void sched_end_item(run_ctx *c, int rank, const run_msg *m)
{
    int i = m->index;
    cc_run_item_result *r = &c->res[i];
    char f[1024], q[160], rq[600];
    cc_json_quote(q, sizeof q, c->items[i].id);
    cc_json_quote(rq, sizeof rq, m->reason);
    snprintf(f, sizeof f, "\"item\":%s,\"attempt\":%d,\"rank\":%d,\"status\":\"%s\",\"seconds\":%.3f,\"reason\":%s",
             q, m->attempt, rank, status_names[m->status], m->seconds, rq);
    cc_run_jlog(c, "end", f);
    c->inflight--;
    if (r->crashes > 0)
        c->suspect_inflight = 0;
    r->seconds = m->seconds;
    r->rank = rank;
    const char *shown = status_names[m->status];
    if (m->status == ST_DONE) {
        r->state = CC_RI_DONE;
        r->reason[0] = 0;
        c->done_now++;
        c->nfinal++;
    } else if (m->status == ST_ABANDONED) {
        r->state = CC_RI_PENDING; /* left for the next run */
    } else if (m->status == ST_NOSPACE) {
        /* a full disk is not the item's fault: no more work, the item waits
         * for the rerun (exit 75), its attempt is not counted */
        r->state = CC_RI_PENDING;
        snprintf(r->reason, sizeof r->reason, "%s", m->reason);
        if (!c->disk_full)
            cc_errorlog("run: stopping: %s; free some space and rerun to resume", m->reason);
        c->disk_full = 1;
        c->stopping = 1;
    } else {
        r->failures++;
        snprintf(r->reason, sizeof r->reason, "%s", m->reason);
        if (r->failures <= c->o.retries && !c->stopping) {
            r->state = CC_RI_PENDING;
            c->queue[c->qtail] = i;
            c->qtail = (c->qtail + 1) % (c->nitems + 1);
            shown = "retry";
        } else if (r->failures <= c->o.retries) {
            r->state = CC_RI_PENDING;
        } else {
            r->state = CC_RI_FAILED;
            c->nfinal++;
        }
    }
    char line[1400];
    cc_run_item_json(line, sizeof line, &c->items[i], r, shown, m->attempt,
                     c->done_now + c->skipped, c->nitems);
    if (c->progress)
        fprintf(stderr, "\r\033[K");
    printf("%s\n", line);
    fflush(stdout);
    tile_check(c, c->item_tile[i]);
}

static void sched_end_tile(run_ctx *c, int rank, const run_msg *m)
{
    cc_run_tile *t = &c->tiles[m->index];
    char f[1024], q[64], rq[600];
    cc_json_quote(q, sizeof q, t->tile);
    cc_json_quote(rq, sizeof rq, m->reason);
    t->state = m->status == ST_DONE ? 3 : 4;
    snprintf(t->reason, sizeof t->reason, "%s", m->reason);
    if (m->status != ST_DONE && strstr(m->reason, "no space left on device")) {
        if (!c->disk_full)
            cc_errorlog("run: stopping: tile %s: %s; free some space and rerun to resume", t->tile, m->reason);
        c->disk_full = 1; /* the tile is assembled again by the rerun */
        c->stopping = 1;
    }
    snprintf(f, sizeof f, "\"tile\":%s,\"items\":%d,\"digest\":\"%s\",\"rank\":%d,\"status\":\"%s\",\"seconds\":%.3f,\"reason\":%s",
             q, t->ndone, t->digest, rank, m->status == ST_DONE ? "done" : "failed", m->seconds, rq);
    cc_run_jlog(c, "tile", f);
    c->inflight--;
}

void cc_run_sched_handle(run_ctx *c, int rank, const run_msg *m)
{
    switch (m->kind) {
    case M_REQ: {
        run_msg r;
        if (sched_next(c, rank, &r))
            sched_reply(c, rank, &r);
        else
            c->waiting[c->nwaiting++] = rank;
        break;
    }
    case M_END_ITEM: sched_end_item(c, rank, m); break;
    case M_END_TILE: sched_end_tile(c, rank, m); break;
    case M_SIGNAL:
        if (!c->stopping)
            cc_warn("rank %d received signal %d: no new items; in-flight items get the grace period",
                    rank, m->status);
        c->stopping = 1;
        break;
    default: break;
    }
    serve_waiting(c);
}

void cc_run_progress_tick(run_ctx *c, int force)
{
    double now = mono_now();
    if (!c->progress || (!force && now - c->last_progress < 0.5))
        return;
    c->last_progress = now;
    int failed = 0, slow = -1;
    for (int i = 0; i < c->nitems; i++) {
        failed += c->res[i].state == CC_RI_FAILED || c->res[i].state == CC_RI_QUARANTINED;
        if (c->res[i].state == CC_RI_RUNNING && (slow < 0 || c->assigned_t[i] < c->assigned_t[slow]))
            slow = i;
    }
    cc_run_progress_print(stderr, c->done_now + c->skipped, failed, c->nitems, c->skipped,
                          now - c->t_start, c->done_now, slow >= 0 ? c->items[slow].id : NULL,
                          slow >= 0 ? c->res[slow].rank : -1, slow >= 0 ? now - c->assigned_t[slow] : 0);
}

/* The tiles (sorted unique tile ids), each item's tile and each tile's items
 * (in item order): the same on every rank. O(items log items). */
static const cc_job_item *g_sort_items; /* qsort has no context argument */
static int cmp_item_tile(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    int d = strcmp(g_sort_items[x].tile_id, g_sort_items[y].tile_id);
    return d ? d : (x > y) - (x < y); /* ties in item order */
}

cc_status cc_run_build_tiles(run_ctx *c)
{
    int n = c->nitems;
    c->tiles = calloc((size_t)n, sizeof *c->tiles);
    c->item_tile = calloc((size_t)n, sizeof *c->item_tile);
    c->tile_first = calloc((size_t)n + 1, sizeof *c->tile_first);
    c->tile_item = calloc((size_t)n, sizeof *c->tile_item);
    if (!c->tiles || !c->item_tile || !c->tile_first || !c->tile_item)
        return cc_error_set(CC_ERR_NOMEM, "run: out of memory");
    for (int i = 0; i < n; i++)
        c->tile_item[i] = i;
    g_sort_items = c->items;
    qsort(c->tile_item, (size_t)n, sizeof *c->tile_item, cmp_item_tile);
    g_sort_items = NULL;
    c->ntiles = 0;
    for (int k = 0; k < n; k++) {
        int i = c->tile_item[k];
        if (k == 0 || strcmp(c->items[c->tile_item[k - 1]].tile_id, c->items[i].tile_id) != 0) {
            cc_run_tile *tl = &c->tiles[c->ntiles];
            snprintf(tl->tile, sizeof tl->tile, "%s", c->items[i].tile_id);
            c->tile_first[c->ntiles++] = k;
        }
        c->item_tile[i] = c->ntiles - 1;
        c->tiles[c->ntiles - 1].nitems++;
    }
    c->tile_first[c->ntiles] = n;
    return CC_OK;
}

/* Rank 0: items' states from the journal, the queue, the tiles. */
cc_status cc_run_sched_init(run_ctx *c)
{
    int n = c->nitems;
    c->res = calloc((size_t)n, sizeof *c->res);
    c->assigned_t = calloc((size_t)n, sizeof *c->assigned_t);
    c->queue = calloc((size_t)n + 1, sizeof *c->queue);
    c->ready = calloc((size_t)c->ntiles + 1, sizeof *c->ready);
    c->waiting = calloc((size_t)c->size, sizeof *c->waiting);
    if (!c->res || !c->assigned_t || !c->queue || !c->ready || !c->waiting)
        return cc_error_set(CC_ERR_NOMEM, "run: out of memory");
    for (int i = 0; i < n; i++) {
        cc_run_item_result *r = &c->res[i];
        const cc_journal_item *j = cc_journal_find(&c->js, c->items[i].id);
        r->rank = -1;
        if (j) {
            r->attempts = j->starts;
            r->failures = j->failures;
            r->crashes = j->crashes;
            snprintf(r->reason, sizeof r->reason, "%s", j->reason);
        }
        char q[160], f[256];
        cc_json_quote(q, sizeof q, c->items[i].id);
        if (j && j->done) {
            r->state = CC_RI_DONE;
            r->skipped = 1;
            c->skipped++;
            c->nfinal++;
            continue;
        }
        if (c->o.retry_failed && j && (j->failures || j->crashes || j->quarantined)) {
            snprintf(f, sizeof f, "\"item\":%s", q);
            if (cc_run_jlog(c, "reset", f) != CC_OK)
                return CC_ERR_IO;
            r->failures = r->crashes = 0;
            r->reason[0] = 0;
        } else if (j && (j->quarantined || j->crashes >= 2)) {
            r->state = CC_RI_QUARANTINED;
            snprintf(r->reason, sizeof r->reason, "quarantined: the job died %d times while running it",
                     j->crashes);
            c->nfinal++;
            if (!j->quarantined) {
                snprintf(f, sizeof f, "\"item\":%s,\"crashes\":%d", q, j->crashes);
                if (cc_run_jlog(c, "quarantine", f) != CC_OK)
                    return CC_ERR_IO;
                cc_warn("item %s quarantined: the job died %d times while it ran", c->items[i].id,
                        j->crashes);
            }
            continue;
        } else if (j && j->failures > c->o.retries) {
            r->state = CC_RI_FAILED;
            c->nfinal++;
            continue;
        }
        r->state = CC_RI_PENDING;
        c->queue[c->qtail++] = i;
    }
    for (int t = 0; t < c->ntiles; t++)
        tile_check(c, t);
    return CC_OK;
}

/* Frees the scheduler state of a run (cc_run and cc_run_dispatch). */
void cc_run_sched_free(run_ctx *c)
{
    free(c->slots);
    free(c->tiles);
    free(c->item_tile);
    free(c->tile_first);
    free(c->tile_item);
    cc_run_send_fini(c);
    free(c->res);
    free(c->assigned_t);
    free(c->queue);
    free(c->ready);
    free(c->waiting);
}
