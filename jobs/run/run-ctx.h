/* clearcube run: the runner's state (run_ctx), its options, the messages between
 * the ranks, and the functions the files of jobs/run/ share to run it:
 * run.c (cc_run: set-up, the end), run_opts.c (command line), items.c (item
 * lists, --share, packing), scheduler.c (rank 0), dispatch.c (messages, the
 * loop, cc_run_dispatch), item.c (child processes), assemble.c (tile cubes).
 * Internal to jobs/run/. */
#ifndef CC_JOBS_RUN_RUN_CTX_H
#define CC_JOBS_RUN_RUN_CTX_H

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <mpi.h>

#include "core/error.h"
#include "core/fs.h"
#include "jobs/run/job.h"
#include "jobs/run/journal.h"
#include "jobs/run/run-impl.h"

/* ---- options --------------------------------------------------------------- */

typedef struct {
    const char *job_path;     /* JOB file (needs jobs/run/jobfile.c)                  */
    const char *items_path;   /* --items LIST                                     */
    const char *output_dir;
    double timeout_s;         /* per item                                         */
    int retries;
    int slots;                /* concurrent items per rank                        */
    int threads;              /* OMP_NUM_THREADS of an item                       */
    double grace_s;           /* after SIGTERM                                    */
    double mosaic_res;        /* 0: no mosaic                                     */
    const char *mosaic_crs;
    int progress;             /* -1 auto, 0 never, 1 always                        */
    int retry_failed;
    double wait_s;      /* --wait: 0 refuse a locked output, < 0 wait forever, > 0 seconds */
    char **extra;             /* product options passed through to each item      */
    int nextra;
    int share_i, share_k;     /* --share I/K: this run's share of the tiles (K 0: all) */
    const char *product;      /* the job's product ("reference", "boa"); NULL: reference */
    const char *model;        /* the job's model file (boa); NULL: the product's default */
    const char *device;       /* --device auto|cpu|cuda, else the job's `device`; NULL: auto */
    const char *layout;       /* --layout check|oversubscribe|share-gpu|any, else the job's; NULL: check */
    char share_dir[PATH_MAX]; /* DIR/share-I-of-K                                  */
} run_opts;

/* ---- messages ------------------------------------------------------------- */

enum { TAG_UP = 4101, TAG_DOWN = 4102 };
enum { M_REQ = 1, M_END_ITEM, M_END_TILE, M_SIGNAL, /* worker -> 0 */
       M_ITEM, M_TILE, M_STOP };                      /* 0 -> worker */
/* ST_NOSPACE: the item failed for want of disk space (its message says "no
 * space left on device"): not counted as a failure, the run stops, exit 75 */
enum { ST_DONE = 0, ST_FAILED, ST_TIMEOUT, ST_ABANDONED, ST_NOSPACE };

typedef struct {
    int kind, index, status, attempt;
    double seconds;
    char reason[256];
} run_msg;

/* ---- the run ------------------------------------------------------------- */

typedef struct {
    int index, attempt;
    pid_t pid;
    double t0;
    int killed;        /* 0, ST_TIMEOUT or ST_ABANDONED */
    char part[PATH_MAX], log[PATH_MAX];
} run_slot;

typedef struct {
    MPI_Comm comm;
    int rank, size;
    run_opts o;
    char outdir[PATH_MAX], staging[PATH_MAX], exe[PATH_MAX];
    cc_job_item *items;
    int nitems;
    cc_job_notes notes;          /* inputs the catalogue scan left out (rank 0) */
    int64_t submitted;
    char gpu[64];                /* this rank's GPU: a CUDA_VISIBLE_DEVICES entry
                                    for its items; "": none (kernels/device/device.h)     */
    char device[CC_RUN_DEVICE_LEN]; /* what the run report says of it             */
    int device_error;            /* --device cuda and no GPU on this rank          */
    int gpu_share;               /* node-local ranks on this rank's GPU (1: none)  */
    cc_run_rank_times times;
    /* worker side */
    run_slot *slots;
    int outstanding, stop_received, signal_sent;
    double signal_t;
    run_msg local_reply;         /* rank 0's reply to itself                      */
    run_msg *send_buf;           /* cc_run_send_msg: buffers of the non-blocking sends */
    MPI_Request *send_req;
    int nsend, send_next;
    int have_local_reply;
    char **envp;
    /* rank 0: scheduler */
    cc_journal *journal;
    cc_fs_lock *lock;   /* rank 0: the output folder's lock (DIR/journal.lock) */
    cc_journal_state js;
    cc_run_item_result *res;
    double *assigned_t;          /* mono time an item was handed out             */
    int *queue, qhead, qtail;    /* pending item indices (ring of nitems)        */
    cc_run_tile *tiles;
    int ntiles;
    int *item_tile;              /* tile index of each item                      */
    int *tile_first;             /* the items of tile t: tile_item[tile_first[t] ..
                                    tile_first[t + 1] - 1], in item (list) order  */
    int *tile_item;
    int *ready, nready;          /* tiles ready to assemble                      */
    int *waiting;                /* ranks with a deferred request                */
    int nwaiting;
    int stopped_ranks, inflight, stopping, suspect_inflight;
    int done_now, skipped, nfinal;
    double t_start, last_progress;
    int progress;
    int journal_error;
    int disk_full;               /* an item or tile ran out of disk space: stop, exit 75 */
    /* cc_run_dispatch: items and tile tasks run in-process by these callbacks
     * instead of child processes and cube assembly (NULL in `clearcube run`) */
    cc_run_item_fn item_fn;
    cc_run_tile_fn tile_fn;
    void *fn_arg;
} run_ctx;

/* ---- small helpers ---------------------------------------------------------- */

/* snprintf for paths and messages that may be cut (never overflows). */
static inline void fmt_buf(char *dst, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static inline void fmt_buf(char *dst, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, n, fmt, ap);
    va_end(ap);
}

static inline double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The signal (SIGTERM, SIGUSR1, SIGINT) that asked the run to stop; 0: none. */
extern volatile sig_atomic_t cc_run_stop_signal;

/* run_opts.c: 0 ok, 1 help printed, 2 usage error (message printed when `loud`). */
int cc_run_parse_opts(int argc, char **argv, run_opts *o, int loud);

/* items.c */
cc_status cc_run_load_item_list(const char *path, cc_job_item **out, int *nout);
void cc_run_free_items(cc_job_item *items, int n);
char *cc_run_pack_items(const cc_job_item *items, int n, long *len);
cc_status cc_run_unpack_items(const char *b, long len, int n, cc_job_item **out);
cc_status cc_run_load_job(run_ctx *c, cc_job *job, char ***owned);
cc_status cc_run_apply_share(run_ctx *c);

/* scheduler.c (rank 0, but cc_run_build_tiles on every rank) */
cc_status cc_run_jlog(run_ctx *c, const char *event, const char *fields);
int cc_run_all_final(const run_ctx *c);
void cc_run_sched_handle(run_ctx *c, int rank, const run_msg *m);
void cc_run_progress_tick(run_ctx *c, int force);
cc_status cc_run_build_tiles(run_ctx *c);
cc_status cc_run_sched_init(run_ctx *c);
void cc_run_sched_free(run_ctx *c);

/* dispatch.c */
int cc_run_send_init(run_ctx *c);
void cc_run_send_msg(run_ctx *c, int dest, int tag, const run_msg *m);
void cc_run_send_fini(run_ctx *c);
void cc_run_post_up(run_ctx *c, const run_msg *m);
void cc_run_loop(run_ctx *c);

/* item.c */
void cc_run_start_item(run_ctx *c, run_slot *s, int index, int attempt);
void cc_run_finish_item(run_ctx *c, run_slot *s, int ws);
char **cc_run_make_env(run_ctx *c);
void cc_run_free_strv(char **v);

/* layout.c: prints the layout (rank 0) and checks it (collective); 1 on rank 0
 * when it is refused (message printed), else 0. cc_run_layout_allows: does
 * --layout `layout` (NULL: check) allow `what` (oversubscribe, share-gpu)? */
int cc_run_layout_check(run_ctx *c);
int cc_run_layout_allows(const char *layout, const char *what);

/* assemble.c */
void cc_run_tile_task(run_ctx *c, int t, const char *tile);

#endif
