/* clearcube run: the messages between the ranks and the polling loop every rank
 * runs (items in slots, timeouts, the stop signal's grace period); and
 * cc_run_dispatch, the same scheduler with in-process items (bench/dispatch). */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>

#include "core/log.h"
#include "jobs/run/run-ctx.h"
#include "jobs/run/run.h"

volatile sig_atomic_t cc_run_stop_signal;

/* Sends are non-blocking. Open MPI's shared-memory transport can complete a
 * blocking MPI_Send only once the receiver has taken the message, so rank 0
 * stalled in every reply until the worker's next poll (measured: the dispatch
 * benchmark's rank 0 spent most of its time in MPI_Send). Rank 0 keeps one
 * buffer per destination (a worker has at most one request open, hence at most
 * one reply in flight); a worker keeps a ring of SEND_RING buffers (the end of
 * an item, the next request and a signal can be in flight at once). A buffer
 * is reused only once its previous send completed; the loop's end waits for
 * all. MPI keeps the order of messages between two ranks. */
enum { SEND_RING = 4 };

int cc_run_send_init(run_ctx *c)
{
    c->nsend = c->rank == 0 ? c->size : SEND_RING;
    c->send_buf = calloc((size_t)c->nsend, sizeof *c->send_buf);
    c->send_req = malloc((size_t)c->nsend * sizeof *c->send_req);
    if (!c->send_buf || !c->send_req)
        return -1;
    for (int k = 0; k < c->nsend; k++)
        c->send_req[k] = MPI_REQUEST_NULL;
    return 0;
}

void cc_run_send_msg(run_ctx *c, int dest, int tag, const run_msg *m)
{
    int k = dest;
    if (c->rank != 0) {
        k = c->send_next;
        c->send_next = (k + 1) % c->nsend;
    }
    MPI_Wait(&c->send_req[k], MPI_STATUS_IGNORE); /* no-op on MPI_REQUEST_NULL */
    c->send_buf[k] = *m;
    MPI_Isend(&c->send_buf[k], (int)sizeof *m, MPI_BYTE, dest, tag, c->comm, &c->send_req[k]);
}

void cc_run_send_fini(run_ctx *c)
{
    if (c->send_req)
        MPI_Waitall(c->nsend, c->send_req, MPI_STATUSES_IGNORE);
    free(c->send_buf);
    free(c->send_req);
    c->send_buf = NULL;
    c->send_req = NULL;
}

void cc_run_post_up(run_ctx *c, const run_msg *m)
{
    if (c->rank == 0)
        cc_run_sched_handle(c, 0, m);
    else
        cc_run_send_msg(c, 0, TAG_UP, m);
}

/* The loop polls (children with waitpid WNOHANG, messages with MPI_Iprobe,
 * the stop signal) and must not block in MPI: a blocking receive would not
 * see a child exit or a SIGTERM, and Open MPI's blocking calls spin a core.
 * When an iteration did nothing it backs off: it yields the CPU for the first
 * IDLE_SPIN_S after the last activity (a reply usually comes within one round
 * trip), then sleeps IDLE_SLEEP_MIN_NS doubling up to IDLE_SLEEP_MAX_NS (the
 * old fixed 2 ms: the same CPU use when idle for long). */
#define IDLE_SPIN_S 20e-6
#define IDLE_SLEEP_MIN_NS 16000L
#define IDLE_SLEEP_MAX_NS 2000000L

void cc_run_loop(run_ctx *c)
{
    double last = mono_now(), last_busy = last;
    long sleep_ns = IDLE_SLEEP_MIN_NS;
    for (;;) {
        int busy = 0, nrun = 0, free_slot = -1;
        double now = mono_now();
        if (cc_run_stop_signal && c->signal_t == 0)
            c->signal_t = now; /* the grace period starts now */
        for (int k = 0; k < c->o.slots; k++) {
            run_slot *s = &c->slots[k];
            if (s->pid <= 0)
                continue;
            int ws = 0;
            if (waitpid(s->pid, &ws, WNOHANG) == s->pid) {
                cc_run_finish_item(c, s, ws);
                busy = 1;
                continue;
            }
            nrun++;
            int why = 0;
            if (now - s->t0 > c->o.timeout_s)
                why = ST_TIMEOUT;
            else if (cc_run_stop_signal && now - c->signal_t > c->o.grace_s)
                why = ST_ABANDONED;
            if (why && !s->killed) {
                s->killed = why;
                kill(-s->pid, SIGKILL);
                kill(s->pid, SIGKILL);
                cc_warn("item %s: %s, killed", c->items[s->index].id,
                        why == ST_TIMEOUT ? "timeout" : "grace period over");
            }
        }
        if (cc_run_stop_signal && !c->signal_sent) {
            run_msg m;
            memset(&m, 0, sizeof m);
            m.kind = M_SIGNAL;
            m.status = (int)cc_run_stop_signal;
            c->signal_sent = 1;
            cc_run_post_up(c, &m);
        }
        for (int k = 0; k < c->o.slots && free_slot < 0; k++)
            if (c->slots[k].pid <= 0)
                free_slot = k;
        if (free_slot >= 0 && !c->outstanding && !c->stop_received) {
            run_msg m;
            memset(&m, 0, sizeof m);
            m.kind = M_REQ;
            c->outstanding = 1;
            cc_run_post_up(c, &m);
        }
        if (c->rank == 0) {
            int flag = 1;
            while (flag) {
                MPI_Status ms;
                MPI_Iprobe(MPI_ANY_SOURCE, TAG_UP, c->comm, &flag, &ms);
                if (!flag)
                    break;
                run_msg m;
                MPI_Recv(&m, (int)sizeof m, MPI_BYTE, ms.MPI_SOURCE, TAG_UP, c->comm, MPI_STATUS_IGNORE);
                cc_run_sched_handle(c, ms.MPI_SOURCE, &m);
                busy = 1;
            }
            cc_run_progress_tick(c, 0);
        }
        run_msg m;
        int got = 0;
        if (c->outstanding) {
            if (c->rank == 0) {
                if (c->have_local_reply) {
                    m = c->local_reply;
                    c->have_local_reply = 0;
                    got = 1;
                }
            } else {
                int flag = 0;
                MPI_Iprobe(0, TAG_DOWN, c->comm, &flag, MPI_STATUS_IGNORE);
                if (flag) {
                    MPI_Recv(&m, (int)sizeof m, MPI_BYTE, 0, TAG_DOWN, c->comm, MPI_STATUS_IGNORE);
                    got = 1;
                }
            }
        }
        if (got) {
            c->outstanding = 0;
            busy = 1;
            if (m.kind == M_ITEM && free_slot >= 0)
                cc_run_start_item(c, &c->slots[free_slot], m.index, m.attempt);
            else if (m.kind == M_TILE)
                cc_run_tile_task(c, m.index, c->tiles[m.index].tile);
            else if (m.kind == M_STOP)
                c->stop_received = 1;
        }
        nrun = 0;
        for (int k = 0; k < c->o.slots; k++)
            nrun += c->slots[k].pid > 0;
        if (c->stop_received && nrun == 0) {
            if (c->rank != 0)
                break;
            if (c->stopped_ranks >= c->size && c->inflight == 0)
                break;
        }
        now = mono_now();
        if (busy) {
            last_busy = now;
            sleep_ns = IDLE_SLEEP_MIN_NS;
        } else {
            if (nrun == 0 && c->outstanding)
                c->times.t[CC_STAGE_WAIT] += now - last;
            if (now - last_busy < IDLE_SPIN_S) {
                sched_yield();
            } else {
                struct timespec ts = {0, sleep_ns};
                nanosleep(&ts, NULL);
                sleep_ns = sleep_ns * 2 > IDLE_SLEEP_MAX_NS ? IDLE_SLEEP_MAX_NS : sleep_ns * 2;
            }
        }
        last = now;
    }
    cc_run_send_fini(c); /* every message sent is taken before the collective steps */
}

/* ---- cc_run_dispatch: the scheduler without processes, journal or cubes ---- */

const size_t cc_run_msg_bytes = sizeof(run_msg);

int cc_run_dispatch(MPI_Comm comm, const cc_job_item *items, int nitems, int retries,
                    cc_run_item_fn item_fn, cc_run_tile_fn tile_fn, void *arg,
                    cc_run_rank_times *all, int *counts)
{
    run_ctx ctx, *c = &ctx;
    memset(c, 0, sizeof *c);
    c->comm = comm;
    MPI_Comm_rank(comm, &c->rank);
    MPI_Comm_size(comm, &c->size);
    c->o.slots = 1;
    c->o.retries = retries;
    c->o.timeout_s = 1e30;
    c->o.grace_s = 60;
    c->item_fn = item_fn;
    c->tile_fn = tile_fn;
    c->fn_arg = arg;
    c->items = (cc_job_item *)items; /* read only; not freed here */
    c->nitems = nitems;
    snprintf(c->outdir, sizeof c->outdir, "/nonexistent");
    double t_start = mono_now();
    int lerr = nitems < 1 || !item_fn || cc_run_build_tiles(c) != CC_OK;
    c->slots = calloc(1, sizeof *c->slots);
    lerr |= !c->slots || cc_run_send_init(c);
    if (c->rank == 0 && !lerr && cc_run_sched_init(c) != CC_OK)
        lerr = 1;
    int nerr = 0;
    MPI_Allreduce(&lerr, &nerr, 1, MPI_INT, MPI_SUM, comm);
    int code = CC_RUN_EXIT_ERROR;
    if (!nerr) {
        cc_run_stop_signal = 0;
        c->slots[0].index = -1;
        t_start = mono_now(); /* CC_STAGE_TOTAL: the loop only, not the set-up */
        if (c->rank == 0)
            c->t_start = t_start;
        cc_run_loop(c);
        c->times.t[CC_STAGE_TOTAL] = mono_now() - t_start;
        MPI_Gather(&c->times, (int)(sizeof c->times / sizeof(double)), MPI_DOUBLE, all,
                   (int)(sizeof c->times / sizeof(double)), MPI_DOUBLE, 0, comm);
        if (c->rank == 0) {
            int cnt[3] = {0, 0, 0};
            for (int i = 0; i < nitems; i++)
                cnt[c->res[i].state == CC_RI_DONE ? 0 : c->res[i].state == CC_RI_FAILED ? 1 : 2]++;
            if (counts)
                memcpy(counts, cnt, sizeof cnt);
            code = cc_run_all_final(c) ? (cnt[1] ? CC_RUN_EXIT_PARTIAL : CC_RUN_EXIT_OK) : CC_RUN_EXIT_ERROR;
        }
        MPI_Bcast(&code, 1, MPI_INT, 0, comm);
    }
    cc_run_sched_free(c);
    return code;
}
