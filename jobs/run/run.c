/* clearcube run: the MPI job driver (jobs/run/run.h, docs/running.md, decision 0004). */
#define _GNU_SOURCE
#include "jobs/run/run.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <getopt.h>
#include <limits.h>
#include <ctype.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <netcdf.h>

#include "core/error.h"
#include "core/log.h"
#include "core/version.h"
#include "io/cube.h"
#include "jobs/run/journal.h"
#include "jobs/run/run-impl.h"
#ifdef CC_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

extern char **environ;

const char *const cc_run_stage_names[CC_NSTAGES] = {"item", "validate", "commit", "assemble",
                                                    "mosaic", "wait", "total"};

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
    char **extra;             /* product options passed through to each item      */
    int nextra;
    int share_i, share_k;     /* --share I/K: this run's share of the tiles (K 0: all) */
    const char *product;      /* the job's product ("reference", "boa"); NULL: reference */
    const char *model;        /* the job's model file (boa); NULL: the product's default */
    char share_dir[PATH_MAX]; /* DIR/share-I-of-K                                  */
} run_opts;

void cc_run_help(void)
{
    printf("Usage: clearcube run JOB [options]\n"
           "       clearcube run --items LIST -o DIR [options] [-- PRODUCT OPTIONS]\n\n"
           "Runs a job over MPI ranks (mpirun -n N clearcube run ..., srun clearcube run ...):\n"
           "rank 0 schedules (tile, date) items largest first; every rank runs items, each in\n"
           "a child process with a timeout; outputs are validated, then each tile's cube\n"
           "DIR/<tile>.nc is assembled in date order. DIR/journal.jsonl records every item:\n"
           "rerunning the same command resumes. See docs/running.md.\n\n"
           "Options:\n"
           "  -o, --output DIR      output directory (default: the job's)\n"
           "  --items LIST          explicit items, one per line: ID TILE YYYY-MM-DD INPUT\n"
           "  --timeout S           per-item wall-clock limit in seconds (default 3600)\n"
           "  --retries N           retries of a failed item, over all runs (default 2)\n"
           "  --retry-failed        forget earlier failures and quarantines, retry them\n"
           "  --slots N             items run concurrently per rank (default 1)\n"
           "  --threads N           OpenMP threads per item (default 1; part of what makes\n"
           "                        cubes bit-identical: keep it fixed across reruns)\n"
           "  --grace S             after SIGTERM/SIGUSR1, let in-flight items finish for S\n"
           "                        seconds, then abandon them (default 60)\n"
           "  --mosaic-res M        also write DIR/mosaic.nc on a common grid, M metres\n"
           "  --mosaic-crs CRS      the mosaic's CRS (default EPSG:3035)\n"
           "  --progress auto|always|never   live progress line on stderr (default auto: tty)\n"
           "  --share I/K           only the tiles whose index (in order of first appearance\n"
           "                        in the item order) is I modulo K, as an independent run\n"
           "                        in DIR/share-I-of-K (Slurm job arrays: clearcube submit)\n"
           "  --log-level LEVEL     debug, info, warn, error, quiet\n\n"
           "Exit codes: 0 all done; 3 finished with failed or quarantined items; 75 stopped\n"
           "by a signal, rerun to resume (Slurm: requeue); 2 usage; 1 other errors.\n");
}

static int parse_int_opt(const char *opt, const char *v, int lo, int *out)
{
    char *end = NULL;
    long x = strtol(v, &end, 10);
    if (!*v || *end || x < lo || x > 1000000) {
        fprintf(stderr, "clearcube: error: run: --%s: '%s' must be an integer >= %d\n", opt, v, lo);
        return -1;
    }
    *out = (int)x;
    return 0;
}

static int parse_pos_opt(const char *opt, const char *v, double *out)
{
    char *end = NULL;
    double x = strtod(v, &end);
    if (!*v || *end || !isfinite(x) || x <= 0) {
        fprintf(stderr, "clearcube: error: run: --%s: '%s' must be a positive number\n", opt, v);
        return -1;
    }
    *out = x;
    return 0;
}

/* 0 ok, 1 help printed, 2 usage error (message printed when `loud`). */
static int parse_opts(int argc, char **argv, run_opts *o, int loud)
{
    enum { O_ITEMS = 1, O_TIMEOUT, O_RETRIES, O_SLOTS, O_THREADS, O_GRACE, O_MRES, O_MCRS,
           O_PROGRESS, O_LOG, O_RETRYF, O_SHARE };
    static const struct option longopts[] = {
        {"output", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'},
        {"items", required_argument, 0, O_ITEMS}, {"timeout", required_argument, 0, O_TIMEOUT},
        {"retries", required_argument, 0, O_RETRIES}, {"slots", required_argument, 0, O_SLOTS},
        {"threads", required_argument, 0, O_THREADS}, {"grace", required_argument, 0, O_GRACE},
        {"mosaic-res", required_argument, 0, O_MRES}, {"mosaic-crs", required_argument, 0, O_MCRS},
        {"progress", required_argument, 0, O_PROGRESS}, {"log-level", required_argument, 0, O_LOG},
        {"retry-failed", no_argument, 0, O_RETRYF}, {"share", required_argument, 0, O_SHARE},
        {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->timeout_s = NAN;
    o->retries = -1;
    o->slots = 1;
    o->threads = 1;
    o->grace_s = 60;
    o->mosaic_crs = "EPSG:3035";
    o->progress = -1;
    int c;
    /* the product options after "--" go to every item unchanged */
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--")) {
            o->extra = &argv[i + 1];
            o->nextra = argc - i - 1;
            argc = i;
            break;
        }
    optind = 1;
    opterr = loud;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': o->output_dir = optarg; break;
        case 'h': if (loud) cc_run_help(); return 1;
        case O_ITEMS: o->items_path = optarg; break;
        case O_TIMEOUT: if (parse_pos_opt("timeout", optarg, &o->timeout_s)) return 2; break;
        case O_RETRIES: if (parse_int_opt("retries", optarg, 0, &o->retries)) return 2; break;
        case O_SLOTS: if (parse_int_opt("slots", optarg, 1, &o->slots)) return 2; break;
        case O_THREADS: if (parse_int_opt("threads", optarg, 1, &o->threads)) return 2; break;
        case O_GRACE: if (parse_pos_opt("grace", optarg, &o->grace_s)) return 2; break;
        case O_MRES: if (parse_pos_opt("mosaic-res", optarg, &o->mosaic_res)) return 2; break;
        case O_MCRS: o->mosaic_crs = optarg; break;
        case O_RETRYF: o->retry_failed = 1; break;
        case O_SHARE: {
            int i = -1, k = 0, n = -1;
            if (sscanf(optarg, "%d/%d%n", &i, &k, &n) != 2 || optarg[n] || k < 1 || k > 100000 ||
                i < 0 || i >= k) {
                if (loud)
                    fprintf(stderr, "clearcube: error: run: --share: '%s' must be I/K with 0 <= I < K\n",
                            optarg);
                return 2;
            }
            o->share_i = i;
            o->share_k = k;
            break;
        }
        case O_PROGRESS:
            if (!strcmp(optarg, "auto")) o->progress = -1;
            else if (!strcmp(optarg, "always")) o->progress = 1;
            else if (!strcmp(optarg, "never")) o->progress = 0;
            else {
                if (loud)
                    fprintf(stderr, "clearcube: error: run: --progress: auto, always or never\n");
                return 2;
            }
            break;
        case O_LOG: {
            int l = cc_log_parse_level(optarg);
            if (l < 0) {
                if (loud)
                    fprintf(stderr, "clearcube: error: run: --log-level: unknown level '%s'\n", optarg);
                return 2;
            }
            cc_log_set_level((cc_log_level)l);
            break;
        }
        default:
            if (loud)
                fprintf(stderr, "clearcube: error: run: bad option (see clearcube run --help)\n");
            return 2;
        }
    }
    /* JOB, the one positional argument */
    for (int i = optind; i < argc; i++) {
        if (!o->job_path && !o->items_path) {
            o->job_path = argv[i];
            continue;
        }
        if (loud)
            fprintf(stderr, "clearcube: error: run: unexpected argument '%s'\n", argv[i]);
        return 2;
    }
    if (!o->job_path && !o->items_path) {
        if (loud)
            fprintf(stderr, "clearcube: error: run: need a JOB file or --items LIST (see clearcube run --help)\n");
        return 2;
    }
    if (o->share_k && o->mosaic_res > 0) {
        if (loud)
            fprintf(stderr, "clearcube: error: run: --share and --mosaic-res: a share holds only some "
                            "tiles; make the mosaic from a run without --share\n");
        return 2;
    }
    if (o->items_path && !o->output_dir) {
        if (loud)
            fprintf(stderr, "clearcube: error: run: --items needs -o DIR\n");
        return 2;
    }
    return 0;
}

/* ---- items: loading on rank 0, broadcast to all ---------------------------- */

static int sum_size_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw);
static double g_sum_size;
static int sum_size_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    if (flag == FTW_F)
        g_sum_size += (double)sb->st_size;
    return 0;
}

static double input_cost(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return 0;
    if (!S_ISDIR(sb.st_mode))
        return (double)sb.st_size;
    g_sum_size = 0;
    nftw(path, sum_size_cb, 16, FTW_PHYS);
    return g_sum_size;
}

static int cmp_items(const void *a, const void *b)
{
    const cc_job_item *x = a, *y = b;
    if (x->cost != y->cost)
        return x->cost > y->cost ? -1 : 1;
    return strcmp(x->id, y->id);
}

static void free_items(cc_job_item *items, int n)
{
    if (!items)
        return;
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < items[i].ninputs; k++)
            free(items[i].inputs[k]);
        free(items[i].inputs);
    }
    free(items);
}

static int valid_date(const char *d)
{
    int y, m, dd;
    char tail;
    return strlen(d) == 10 && sscanf(d, "%4d-%2d-%2d%c", &y, &m, &dd, &tail) == 3 && m >= 1 &&
           m <= 12 && dd >= 1 && dd <= 31;
}

/* Reads "ID TILE DATE INPUT [INPUT...]" lines. */
static cc_status load_item_list(const char *path, cc_job_item **out, int *nout)
{
    cc_status st = CC_ERR_FORMAT;
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    cc_job_item *items = NULL;
    int n = 0, ln = 0;
    *out = NULL;
    *nout = 0;
    if (!f)
        return cc_error_set(CC_ERR_IO, "%s: cannot open item list: %s", path, strerror(errno));
    while (getline(&line, &cap, f) > 0) {
        ln++;
        char *save = NULL, *tok[64];
        int nt = 0;
        char *h = strchr(line, '#');
        if (h)
            *h = 0;
        for (char *t = strtok_r(line, " \t\r\n", &save); t && nt < 64; t = strtok_r(NULL, " \t\r\n", &save))
            tok[nt++] = t;
        if (nt == 0)
            continue;
        if (nt < 4 || strlen(tok[0]) >= 64 || strlen(tok[1]) >= 8 || !valid_date(tok[2])) {
            st = cc_error_set(CC_ERR_FORMAT, "%s:%d: expected 'ID TILE YYYY-MM-DD INPUT'", path, ln);
            goto out;
        }
        for (const char *p = tok[0]; *p; p++)
            if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '-' || *p == '.')) {
                st = cc_error_set(CC_ERR_FORMAT, "%s:%d: item id '%s': use letters, digits, _ - .",
                                  path, ln, tok[0]);
                goto out;
            }
        cc_job_item *ni = realloc(items, (size_t)(n + 1) * sizeof *ni);
        if (!ni) {
            st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
            goto out;
        }
        items = ni;
        cc_job_item *it = &items[n++];
        memset(it, 0, sizeof *it);
        snprintf(it->id, sizeof it->id, "%s", tok[0]);
        snprintf(it->tile_id, sizeof it->tile_id, "%s", tok[1]);
        snprintf(it->date, sizeof it->date, "%s", tok[2]);
        it->inputs = calloc((size_t)(nt - 3), sizeof *it->inputs);
        if (!it->inputs) {
            st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
            goto out;
        }
        for (int k = 3; k < nt; k++) {
            if (!(it->inputs[it->ninputs] = strdup(tok[k]))) {
                st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
                goto out;
            }
            it->ninputs++;
            it->cost += input_cost(tok[k]);
        }
    }
    for (int i = 0; i < n; i++)
        for (int k = i + 1; k < n; k++)
            if (!strcmp(items[i].id, items[k].id)) {
                st = cc_error_set(CC_ERR_FORMAT, "%s: item id '%s' appears twice", path, items[i].id);
                goto out;
            }
    if (n == 0) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: no items", path);
        goto out;
    }
    qsort(items, (size_t)n, sizeof *items, cmp_items);
    *out = items;
    *nout = n;
    items = NULL;
    st = CC_OK;
out:
    free_items(items, n);
    free(line);
    fclose(f);
    return st;
}

/* Packs items as NUL-separated strings: id, tile, date, cost, ninputs, inputs... */
static char *pack_items(const cc_job_item *items, int n, long *len)
{
    size_t cap = 1024, off = 0;
    char *b = malloc(cap);
    for (int i = 0; b && i < n; i++) {
        char num[64];
        const char *f[4] = {items[i].id, items[i].tile_id, items[i].date, num};
        snprintf(num, sizeof num, "%.17g %d", items[i].cost, items[i].ninputs);
        for (int k = 0; k < 4 + items[i].ninputs; k++) {
            const char *s = k < 4 ? f[k] : items[i].inputs[k - 4];
            size_t sl = strlen(s) + 1;
            if (off + sl > cap) {
                while (off + sl > cap)
                    cap *= 2;
                char *nb = realloc(b, cap);
                if (!nb) {
                    free(b);
                    return NULL;
                }
                b = nb;
            }
            memcpy(b + off, s, sl);
            off += sl;
        }
    }
    *len = (long)off;
    return b;
}

static cc_status unpack_items(const char *b, long len, int n, cc_job_item **out)
{
    cc_job_item *items = calloc((size_t)n, sizeof *items);
    const char *p = b, *end = b + len;
    if (!items)
        return cc_error_set(CC_ERR_NOMEM, "run: out of memory");
    for (int i = 0; i < n && p < end; i++) {
        snprintf(items[i].id, sizeof items[i].id, "%s", p);
        p += strlen(p) + 1;
        snprintf(items[i].tile_id, sizeof items[i].tile_id, "%s", p);
        p += strlen(p) + 1;
        snprintf(items[i].date, sizeof items[i].date, "%s", p);
        p += strlen(p) + 1;
        int ni = 0;
        sscanf(p, "%lf %d", &items[i].cost, &ni);
        p += strlen(p) + 1;
        items[i].inputs = calloc((size_t)(ni ? ni : 1), sizeof *items[i].inputs);
        if (!items[i].inputs) {
            free_items(items, n);
            return cc_error_set(CC_ERR_NOMEM, "run: out of memory");
        }
        for (int k = 0; k < ni; k++) {
            items[i].inputs[k] = strdup(p);
            items[i].ninputs++;
            p += strlen(p) + 1;
        }
    }
    *out = items;
    return CC_OK;
}

/* ---- small helpers ---------------------------------------------------------- */

/* snprintf for paths and messages that may be cut (never overflows). */
static void fmt_buf(char *dst, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fmt_buf(char *dst, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, n, fmt, ap);
    va_end(ap);
}

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static volatile sig_atomic_t g_stop_signal;
static void on_stop_signal(int sig) { g_stop_signal = sig; }

static cc_status mkdir_p(const char *dir)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s", dir) >= (int)sizeof tmp)
        return cc_error_set(CC_ERR_ARG, "%s: path too long", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return cc_error_set(CC_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return cc_error_set(CC_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    return CC_OK;
}

static void fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

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

/* ---- messages ------------------------------------------------------------- */

enum { TAG_UP = 4101, TAG_DOWN = 4102 };
enum { M_REQ = 1, M_END_ITEM, M_END_TILE, M_SIGNAL, /* worker -> 0 */
       M_ITEM, M_TILE, M_STOP };                      /* 0 -> worker */
enum { ST_DONE = 0, ST_FAILED, ST_TIMEOUT, ST_ABANDONED };
static const char *const status_names[] = {"done", "failed", "timeout", "abandoned"};

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
    int64_t submitted;
    int gpu;                     /* -1: none                                     */
    cc_run_rank_times times;
    /* worker side */
    run_slot *slots;
    int outstanding, stop_received, signal_sent;
    double signal_t;
    run_msg local_reply;         /* rank 0's reply to itself                      */
    run_msg *send_buf;           /* send_msg: buffers of the non-blocking sends   */
    MPI_Request *send_req;
    int nsend, send_next;
    int have_local_reply;
    char **envp;
    /* rank 0: scheduler */
    cc_journal *journal;
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
    /* cc_run_dispatch: items and tile tasks run in-process by these callbacks
     * instead of child processes and cube assembly (NULL in `clearcube run`) */
    cc_run_item_fn item_fn;
    cc_run_tile_fn tile_fn;
    void *fn_arg;
} run_ctx;

static void post_up(run_ctx *c, const run_msg *m);

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

static int send_init(run_ctx *c)
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

static void send_msg(run_ctx *c, int dest, int tag, const run_msg *m)
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

static void send_fini(run_ctx *c)
{
    if (c->send_req)
        MPI_Waitall(c->nsend, c->send_req, MPI_STATUSES_IGNORE);
    free(c->send_buf);
    free(c->send_req);
    c->send_buf = NULL;
    c->send_req = NULL;
}

/* -- rank 0: scheduler -- */

static cc_status jlog(run_ctx *c, const char *event, const char *fields)
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

static int all_final(const run_ctx *c)
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
        if (jlog(c, "start", f) != CC_OK) { /* never run an item the journal does not know of */
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
    if (c->inflight == 0 && all_final(c)) {
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
        send_msg(c, rank, TAG_DOWN, m);
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
    jlog(c, "end", f);
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
    snprintf(f, sizeof f, "\"tile\":%s,\"items\":%d,\"digest\":\"%s\",\"rank\":%d,\"status\":\"%s\",\"seconds\":%.3f,\"reason\":%s",
             q, t->ndone, t->digest, rank, m->status == ST_DONE ? "done" : "failed", m->seconds, rq);
    jlog(c, "tile", f);
    c->inflight--;
}

static void sched_handle(run_ctx *c, int rank, const run_msg *m)
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

static void progress_tick(run_ctx *c, int force)
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

/* -- worker side -- */

static void post_up(run_ctx *c, const run_msg *m)
{
    if (c->rank == 0)
        sched_handle(c, 0, m);
    else
        send_msg(c, 0, TAG_UP, m);
}

/* The last "clearcube: error: ..." (or last non-empty) line of a child's log. */
static void child_reason(const char *log, char *out, size_t n)
{
    FILE *f = fopen(log, "r");
    char line[1024];
    out[0] = 0;
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0])
            continue;
        const char *p = strstr(line, "error: ");
        if (p)
            snprintf(out, n, "%s", p + 7);
        else if (!out[0])
            fmt_buf(out, n, "%s", line);
    }
    fclose(f);
}

/* Is the staging output a real product: one date (the item's), layers with
 * data? Peers' users got silent blank outputs: never declare those done. */
static cc_status validate_output(const char *path, const cc_job_item *it)
{
    cc_status st = CC_ERR_FORMAT;
    int ncid = -1, nvars = 0, nlayers = 0, tdim = -1;
    size_t nt = 0;
    uint16_t *buf = NULL;
    int e = nc_open(path, NC_NOWRITE, &ncid);
    if (e != NC_NOERR)
        return cc_error_set(CC_ERR_FORMAT, "output %s unreadable: %s", path, nc_strerror(e));
    if (nc_inq_dimid(ncid, "time", &tdim) != NC_NOERR || nc_inq_dimlen(ncid, tdim, &nt) != NC_NOERR ||
        nt != 1) {
        st = cc_error_set(CC_ERR_FORMAT, "output has %zu dates, expected 1", nt);
        goto out;
    }
    int tv;
    double day = 0;
    int y, m, d;
    if (nc_inq_varid(ncid, "time", &tv) != NC_NOERR || nc_get_var_double(ncid, tv, &day) != NC_NOERR ||
        sscanf(it->date, "%d-%d-%d", &y, &m, &d) != 3 || (long)day != cc_cube_days_from_date(y, m, d)) {
        int oy = 0, om = 0, od = 0;
        cc_cube_date_from_days((long)day, &oy, &om, &od);
        st = cc_error_set(CC_ERR_FORMAT, "output date %04d-%02d-%02d is not the item's date %s", oy, om,
                          od, it->date);
        goto out;
    }
    nc_inq_nvars(ncid, &nvars);
    size_t nvalid = 0;
    for (int v = 0; v < nvars; v++) {
        int nd, dims[NC_MAX_VAR_DIMS];
        nc_type ty;
        if (nc_inq_var(ncid, v, NULL, &ty, &nd, dims, NULL) != NC_NOERR || nd != 3 || ty != NC_USHORT ||
            dims[0] != tdim)
            continue;
        size_t ny, nx;
        nc_inq_dimlen(ncid, dims[1], &ny);
        nc_inq_dimlen(ncid, dims[2], &nx);
        if (!ny || !nx) {
            st = cc_error_set(CC_ERR_FORMAT, "output grid is empty");
            goto out;
        }
        unsigned short fill = 0;
        int nofill = 0;
        nc_inq_var_fill(ncid, v, &nofill, &fill);
        free(buf);
        buf = malloc(ny * nx * sizeof *buf);
        if (!buf) {
            st = cc_error_set(CC_ERR_NOMEM, "validating %s: out of memory", path);
            goto out;
        }
        if (nc_get_var_ushort(ncid, v, buf) != NC_NOERR) {
            st = cc_error_set(CC_ERR_FORMAT, "output %s: layer unreadable", path);
            goto out;
        }
        nlayers++;
        for (size_t k = 0; k < ny * nx; k++)
            nvalid += buf[k] != fill;
    }
    if (nlayers == 0) {
        st = cc_error_set(CC_ERR_FORMAT, "output has no layers");
        goto out;
    }
    if (nvalid == 0) {
        st = cc_error_set(CC_ERR_NODATA, "output is all nodata (blank)");
        goto out;
    }
    st = CC_OK;
out:
    free(buf);
    nc_close(ncid);
    return st;
}

/* Builds the child's argv (strings owned by `store`, freed by the caller). */
static char **item_argv(run_ctx *c, const cc_job_item *it, const char *part)
{
    int cap = 16 + c->o.nextra + 64, n = 0;
    char **av = calloc((size_t)cap, sizeof *av);
    if (!av)
        return NULL;
#define ADD(s) do { if (n < cap - 1) av[n++] = strdup(s); } while (0)
    ADD(c->exe);
    ADD(c->o.product ? c->o.product : "reference");
    ADD(it->inputs[0]);
    int cloudless = c->o.product && strcmp(c->o.product, "cloudless") == 0;
    if (c->o.model && c->o.product && (strcmp(c->o.product, "boa") == 0 || cloudless)) {
        ADD("--model");
        ADD(c->o.model);
    }
    if (cloudless) { /* the input is the folder of the tile's sensor cubes */
        ADD("--tile");
        ADD(it->tile_id);
        ADD("--date");
        ADD(it->date);
    }
    ADD("-o");
    ADD(part);
    ADD("--log-level");
    ADD("warn");
    /* stack inputs carry their scene options in a sidecar "<stem>.options", band
     * folders in "<folder>.options" */
    char side[PATH_MAX];
    snprintf(side, sizeof side, "%s", it->inputs[0]);
    size_t sl = strlen(side);
    while (sl > 1 && side[sl - 1] == '/')
        side[--sl] = '\0';
    char *dot = strrchr(side, '.'), *slash = strrchr(side, '/');
    if (dot && (!slash || dot > slash))
        snprintf(dot, sizeof side - (size_t)(dot - side), ".options");
    else if (sl + 9 < sizeof side)
        memcpy(side + sl, ".options", 9);
    {
        FILE *f = fopen(side, "r");
        if (f) {
            char w[512];
            while (fscanf(f, "%511s", w) == 1)
                ADD(w);
            fclose(f);
            ADD("--date");
            ADD(it->date);
        }
    }
    for (int k = 0; k < c->o.nextra; k++)
        ADD(c->o.extra[k]);
#undef ADD
    return av;
}

static void free_strv(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

/* environ + OMP_NUM_THREADS, SOURCE_DATE_EPOCH, CUDA_VISIBLE_DEVICES. */
static char **make_env(run_ctx *c)
{
    int n = 0;
    while (environ[n])
        n++;
    char **e = calloc((size_t)n + 4, sizeof *e);
    if (!e)
        return NULL;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (strncmp(environ[i], "OMP_NUM_THREADS=", 16) && strncmp(environ[i], "SOURCE_DATE_EPOCH=", 18) &&
            (c->gpu < 0 || strncmp(environ[i], "CUDA_VISIBLE_DEVICES=", 21)))
            e[k++] = strdup(environ[i]);
    char b[128];
    snprintf(b, sizeof b, "OMP_NUM_THREADS=%d", c->o.threads);
    e[k++] = strdup(b);
    snprintf(b, sizeof b, "SOURCE_DATE_EPOCH=%lld", (long long)c->submitted);
    e[k++] = strdup(b);
    if (c->gpu >= 0) {
        snprintf(b, sizeof b, "CUDA_VISIBLE_DEVICES=%d", c->gpu);
        e[k++] = strdup(b);
    }
    return e;
}

static void end_item_msg(run_ctx *c, run_slot *s, int status, const char *reason)
{
    run_msg m;
    memset(&m, 0, sizeof m);
    m.kind = M_END_ITEM;
    m.index = s->index;
    m.attempt = s->attempt;
    m.status = status;
    m.seconds = mono_now() - s->t0;
    snprintf(m.reason, sizeof m.reason, "%s", reason ? reason : "");
    if (status == ST_DONE)
        c->times.items_done++;
    else if (status != ST_ABANDONED)
        c->times.items_failed++;
    s->pid = 0;
    s->index = -1;
    post_up(c, &m);
}

static void start_item(run_ctx *c, run_slot *s, int index, int attempt)
{
    const cc_job_item *it = &c->items[index];
    if (c->item_fn) { /* cc_run_dispatch: the item runs here, now */
        char why[256] = "";
        s->index = index;
        s->attempt = attempt;
        s->t0 = mono_now();
        int rc = c->item_fn(c->fn_arg, index, it, why, sizeof why);
        c->times.t[CC_STAGE_ITEM] += mono_now() - s->t0;
        end_item_msg(c, s, rc == 0 ? ST_DONE : ST_FAILED, rc == 0 ? NULL : why);
        return;
    }
    const char *crash = getenv("CLEARCUBE_TEST_CRASH_ITEM");
    if (crash && !strcmp(crash, it->id)) {
        /* test hook: this rank dies as if the item had crashed it */
        cc_errorlog("CLEARCUBE_TEST_CRASH_ITEM=%s: killing this rank", it->id);
        kill(getpid(), SIGKILL);
    }
    const char *sleep_id = getenv("CLEARCUBE_TEST_SLEEP_ITEM");
    int hang = sleep_id && !strcmp(sleep_id, it->id);
    const char *delay = getenv("CLEARCUBE_TEST_ITEM_DELAY_MS"); /* test hook: slow items */
    long delay_ms = delay ? strtol(delay, NULL, 10) : 0;
    struct timespec delay_ts = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};
    s->index = index;
    s->attempt = attempt;
    s->t0 = mono_now();
    s->killed = 0;
    fmt_buf(s->part, sizeof s->part, "%s/%s.part-%d.nc", c->staging, it->id, c->rank);
    fmt_buf(s->log, sizeof s->log, "%s/%s.log", c->staging, it->id);
    unlink(s->part);
    char **av = item_argv(c, it, s->part);
    int fd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (!av || it->ninputs < 1 || fd < 0) {
        free_strv(av);
        if (fd >= 0)
            close(fd);
        end_item_msg(c, s, ST_FAILED, it->ninputs < 1 ? "item has no input" : "cannot start the item");
        return;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* child: async-signal-safe calls only, then exec */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        setpgid(0, 0);
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_IGN; /* the rank decides about SIGTERM (grace period) */
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGUSR1, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        dup2(fd, 1);
        dup2(fd, 2);
        if (hang)
            for (;;)
                pause();
        if (delay_ms > 0)
            nanosleep(&delay_ts, NULL);
        execve(c->exe, av, c->envp);
        _exit(127);
    }
    close(fd);
    free_strv(av);
    if (pid < 0) {
        end_item_msg(c, s, ST_FAILED, "fork failed");
        return;
    }
    s->pid = pid;
    cc_debug("item %s (attempt %d) started, pid %ld", it->id, attempt, (long)pid);
}

/* Child `s` exited with wait status ws. */
static void finish_item(run_ctx *c, run_slot *s, int ws)
{
    const cc_job_item *it = &c->items[s->index];
    char reason[256] = "";
    double t_end = mono_now();
    c->times.t[CC_STAGE_ITEM] += t_end - s->t0;
    if (s->killed == ST_TIMEOUT) {
        snprintf(reason, sizeof reason, "timeout after %.0f s", c->o.timeout_s);
        end_item_msg(c, s, ST_TIMEOUT, reason);
        return;
    }
    if (s->killed == ST_ABANDONED) {
        end_item_msg(c, s, ST_ABANDONED, "abandoned at shutdown (grace period over)");
        return;
    }
    if (WIFSIGNALED(ws)) {
        snprintf(reason, sizeof reason, "item process killed by signal %d (%s)", WTERMSIG(ws),
                 strsignal(WTERMSIG(ws)));
        end_item_msg(c, s, ST_FAILED, reason);
        return;
    }
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
        child_reason(s->log, reason, sizeof reason);
        if (!reason[0])
            snprintf(reason, sizeof reason, "item process exited with %d", WEXITSTATUS(ws));
        end_item_msg(c, s, ST_FAILED, reason);
        return;
    }
    cc_status st = validate_output(s->part, it);
    double t_val = mono_now();
    c->times.t[CC_STAGE_VALIDATE] += t_val - t_end;
    if (st != CC_OK) {
        snprintf(reason, sizeof reason, "invalid output: %s", cc_error_message());
        unlink(s->part);
        end_item_msg(c, s, ST_FAILED, reason);
        return;
    }
    char final[PATH_MAX + 80];
    snprintf(final, sizeof final, "%s/%s.nc", c->staging, it->id);
    if (rename(s->part, final) != 0) {
        fmt_buf(reason, sizeof reason, "cannot commit %s: %s", final, strerror(errno));
        end_item_msg(c, s, ST_FAILED, reason);
        return;
    }
    fsync_dir(c->staging);
    unlink(s->log);
    c->times.t[CC_STAGE_COMMIT] += mono_now() - t_val;
    end_item_msg(c, s, ST_DONE, NULL);
}

/* ---- tile cube assembly: all done items of a tile, date order, one pass ---- */

#define NCK(call)                                                                         \
    do {                                                                                  \
        int e_ = (call);                                                                  \
        if (e_ != NC_NOERR) {                                                             \
            st = cc_error_set(CC_ERR_IO, "%s: %s: %s", tmp, #call, nc_strerror(e_));      \
            goto out;                                                                     \
        }                                                                                 \
    } while (0)

static cc_status copy_text_joined(int *src, int n, int dst, const char *name, int join, const char *tmp)
{
    cc_status st = CC_OK;
    char *acc = NULL;
    size_t alen = 0;
    for (int i = join ? 0 : n - 1; i < n; i++) {
        size_t len = 0;
        nc_type ty;
        if (nc_inq_att(src[i], NC_GLOBAL, name, &ty, &len) != NC_NOERR || ty != NC_CHAR)
            continue;
        char *v = malloc(len + 1);
        if (!v || nc_get_att_text(src[i], NC_GLOBAL, name, v) != NC_NOERR) {
            free(v);
            continue;
        }
        v[len] = 0;
        if (acc && strstr(acc, v)) { /* one line per distinct value */
            free(v);
            continue;
        }
        char *na = realloc(acc, alen + len + 2);
        if (!na) {
            free(v);
            st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", tmp);
            goto out;
        }
        acc = na;
        if (alen)
            acc[alen++] = '\n';
        memcpy(acc + alen, v, len + 1);
        alen += len;
        free(v);
    }
    if (acc)
        NCK(nc_put_att_text(dst, NC_GLOBAL, name, alen, acc));
out:
    free(acc);
    return st;
}

static int cmp_day(const void *a, const void *b)
{
    const double *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

static cc_status assemble_tile(run_ctx *c, const char *tile, char **parts, int n, const char *cube)
{
    cc_status st = CC_ERR_IO;
    char tmp[PATH_MAX + 64];
    int *src = calloc((size_t)n, sizeof *src), dst = -1;
    double *order = calloc((size_t)n * 2, sizeof *order);
    void *buf = NULL;
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", cube, (long)getpid());
    if (!src || !order) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", cube);
        goto out;
    }
    for (int i = 0; i < n; i++)
        src[i] = -1;
    for (int i = 0; i < n; i++) {
        int e = nc_open(parts[i], NC_NOWRITE, &src[i]), tv;
        if (e != NC_NOERR) {
            st = cc_error_set(CC_ERR_IO, "%s: %s", parts[i], nc_strerror(e));
            goto out;
        }
        order[2 * i + 1] = i;
        if (nc_inq_varid(src[i], "time", &tv) != NC_NOERR ||
            nc_get_var_double(src[i], tv, &order[2 * i]) != NC_NOERR) {
            st = cc_error_set(CC_ERR_FORMAT, "%s: no time", parts[i]);
            goto out;
        }
    }
    qsort(order, (size_t)n, 2 * sizeof *order, cmp_day);
    int *s = malloc((size_t)n * sizeof *s); /* sources in date order */
    if (!s) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", cube);
        goto out;
    }
    for (int i = 0; i < n; i++)
        s[i] = src[(int)order[2 * i + 1]];
    memcpy(src, s, (size_t)n * sizeof *s);
    free(s);
    unlink(tmp);
    NCK(nc_create(tmp, NC_NETCDF4 | NC_CLOBBER, &dst));
    int s0 = src[0], ndims, nvars, natts, unlim;
    NCK(nc_inq(s0, &ndims, &nvars, &natts, &unlim));
    for (int d = 0; d < ndims; d++) {
        char name[NC_MAX_NAME + 1];
        size_t len;
        int id;
        NCK(nc_inq_dim(s0, d, name, &len));
        NCK(nc_def_dim(dst, name, d == unlim ? NC_UNLIMITED : len, &id));
    }
    for (int a = 0; a < natts; a++) {
        char name[NC_MAX_NAME + 1];
        NCK(nc_inq_attname(s0, NC_GLOBAL, a, name));
        if (!strcmp(name, "history") || !strcmp(name, "inputs")) {
            if ((st = copy_text_joined(src, n, dst, name, 1, tmp)) != CC_OK)
                goto out;
            continue;
        }
        if (!strcmp(name, "parameters") || !strcmp(name, "date_modified") || !strcmp(name, "processor")) {
            if ((st = copy_text_joined(src, n, dst, name, 0, tmp)) != CC_OK)
                goto out;
            continue;
        }
        NCK(nc_copy_att(s0, NC_GLOBAL, name, dst, NC_GLOBAL));
    }
    for (int v = 0; v < nvars; v++) {
        char name[NC_MAX_NAME + 1];
        nc_type ty;
        int nd, dims[NC_MAX_VAR_DIMS], na, id;
        NCK(nc_inq_var(s0, v, name, &ty, &nd, dims, &na));
        NCK(nc_def_var(dst, name, ty, nd, dims, &id));
        if (nd > 0) {
            int storage;
            size_t chunks[NC_MAX_VAR_DIMS];
            NCK(nc_inq_var_chunking(s0, v, &storage, chunks));
            if (storage == NC_CHUNKED)
                NCK(nc_def_var_chunking(dst, id, NC_CHUNKED, chunks));
            int shuffle, deflate, level;
            NCK(nc_inq_var_deflate(s0, v, &shuffle, &deflate, &level));
            if (deflate || shuffle)
                NCK(nc_def_var_deflate(dst, id, shuffle, deflate, level));
        }
        for (int a = 0; a < na; a++) {
            char an[NC_MAX_NAME + 1];
            NCK(nc_inq_attname(s0, v, a, an));
            NCK(nc_copy_att(s0, v, an, dst, id));
        }
    }
    NCK(nc_enddef(dst));
    for (int v = 0; v < nvars; v++) {
        char name[NC_MAX_NAME + 1];
        nc_type ty;
        int nd, dims[NC_MAX_VAR_DIMS];
        size_t start[NC_MAX_VAR_DIMS] = {0}, count[NC_MAX_VAR_DIMS], tsz, total = 1;
        NCK(nc_inq_var(s0, v, name, &ty, &nd, dims, NULL));
        NCK(nc_inq_type(s0, ty, NULL, &tsz));
        int timed = nd > 0 && dims[0] == unlim;
        for (int d = 0; d < nd; d++) {
            NCK(nc_inq_dimlen(s0, dims[d], &count[d]));
            if (d == 0 && timed)
                count[d] = 1;
            total *= count[d];
        }
        free(buf);
        buf = malloc(total * tsz + 1);
        if (!buf) {
            st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", cube);
            goto out;
        }
        for (int i = 0; i < (timed ? n : 1); i++) {
            int sv;
            size_t sstart[NC_MAX_VAR_DIMS] = {0};
            int snd, sdims[NC_MAX_VAR_DIMS];
            nc_type sty;
            if (nc_inq_varid(src[i], name, &sv) != NC_NOERR ||
                nc_inq_var(src[i], sv, NULL, &sty, &snd, sdims, NULL) != NC_NOERR || sty != ty || snd != nd) {
                st = cc_error_set(CC_ERR_FORMAT, "tile %s: the items' products differ in variable %s", tile, name);
                goto out;
            }
            for (int d = timed; d < nd; d++) {
                size_t l;
                nc_inq_dimlen(src[i], sdims[d], &l);
                if (l != count[d]) {
                    st = cc_error_set(CC_ERR_FORMAT, "tile %s: the items' grids differ (decision 0002)", tile);
                    goto out;
                }
            }
            if (nd == 0)
                NCK(nc_get_var(src[i], sv, buf));
            else
                NCK(nc_get_vara(src[i], sv, sstart, count, buf));
            if (timed)
                start[0] = (size_t)i;
            if (nd == 0)
                NCK(nc_put_var(dst, v, buf));
            else
                NCK(nc_put_vara(dst, v, start, count, buf));
        }
    }
    int e = nc_close(dst);
    dst = -1;
    if (e != NC_NOERR) {
        st = cc_error_set(CC_ERR_IO, "%s: %s", tmp, nc_strerror(e));
        goto out;
    }
    int fd = open(tmp, O_RDONLY);
    if (fd < 0 || fsync(fd) != 0) {
        if (fd >= 0)
            close(fd);
        st = cc_error_set(CC_ERR_IO, "%s: cannot fsync: %s", tmp, strerror(errno));
        goto out;
    }
    close(fd);
    if (rename(tmp, cube) != 0) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot rename to %s: %s", tmp, cube, strerror(errno));
        goto out;
    }
    fsync_dir(c->outdir);
    st = CC_OK;
out:
    if (dst >= 0)
        nc_close(dst);
    if (st != CC_OK)
        unlink(tmp);
    for (int i = 0; src && i < n; i++)
        if (src[i] >= 0)
            nc_close(src[i]);
    free(src);
    free(order);
    free(buf);
    return st;
}

/* Adds to parts (n entries, NULL-terminated capacity n+1) the committed
 * staging files "<tile>_YYYYMMDD.nc" of other jobs; returns the (possibly
 * reallocated) array, or NULL when out of memory (parts freed). */
static char **add_earlier_days(run_ctx *c, const char *tile, char **parts, int *n)
{
    struct dirent **ents = NULL;
    int ne = scandir(c->staging, &ents, NULL, alphasort);
    size_t tl = strlen(tile);
    for (int i = 0; i < ne; i++) {
        const char *nm = ents[i]->d_name;
        char p[PATH_MAX + 80];
        int known = 0;
        if (strlen(nm) == tl + 12 && !strncmp(nm, tile, tl) && nm[tl] == '_' && !strcmp(nm + tl + 9, ".nc")) {
            snprintf(p, sizeof p, "%s/%s", c->staging, nm);
            for (int k = 0; k < *n && !known; k++)
                known = !strcmp(parts[k], p);
            if (!known) {
                char **np = realloc(parts, (size_t)(*n + 2) * sizeof *np);
                if (!np) {
                    for (int k = 0; k < *n; k++)
                        free(parts[k]);
                    free(parts);
                    parts = NULL;
                    *n = 0;
                } else {
                    parts = np;
                    parts[(*n)++] = strdup(p);
                    parts[*n] = NULL;
                }
            }
        }
        free(ents[i]);
        if (!parts) {
            for (int k = i + 1; k < ne; k++)
                free(ents[k]);
            break;
        }
    }
    free(ents);
    return parts;
}

static void run_tile_task(run_ctx *c, int t, const char *tile)
{
    double t0 = mono_now();
    run_msg m;
    memset(&m, 0, sizeof m);
    m.kind = M_END_TILE;
    m.index = t;
    if (c->item_fn) { /* cc_run_dispatch */
        int rc = c->tile_fn ? c->tile_fn(c->fn_arg, tile, m.reason, sizeof m.reason) : 0;
        m.status = rc == 0 ? ST_DONE : ST_FAILED;
        m.seconds = mono_now() - t0;
        c->times.t[CC_STAGE_ASSEMBLE] += m.seconds;
        c->times.tiles++;
        post_up(c, &m);
        return;
    }
    /* the tile's committed items: all staging files of done items. Every rank
     * knows the items; the done set is what the staging directory holds for
     * the tile's item ids (rank 0 only hands out the task once all are final,
     * and stale files of failed items never exist: only done items commit). */
    char **parts = calloc((size_t)c->tiles[t].nitems + 1, sizeof *parts);
    int n = 0;
    for (int k = c->tile_first[t]; parts && k < c->tile_first[t + 1]; k++) {
        int i = c->tile_item[k];
        char p[PATH_MAX + 80];
        snprintf(p, sizeof p, "%s/%s.nc", c->staging, c->items[i].id);
        if (access(p, F_OK) == 0)
            parts[n++] = strdup(p);
    }
    /* 'cloudless' is a daily product: the days that earlier jobs committed to
     * the same output folder stay in the tile's cube (the daily run appends the
     * new day). */
    if (parts && n > 0 && c->o.product && !strcmp(c->o.product, "cloudless"))
        parts = add_earlier_days(c, tile, parts, &n);
    char cube[PATH_MAX + 32];
    snprintf(cube, sizeof cube, "%s/%s.nc", c->outdir, tile);
    cc_status st = parts && n > 0 ? assemble_tile(c, tile, parts, n, cube)
                                  : cc_error_set(CC_ERR_MISSING, "tile %s: no committed items", tile);
    m.status = st == CC_OK ? ST_DONE : ST_FAILED;
    if (st != CC_OK)
        snprintf(m.reason, sizeof m.reason, "%s", cc_error_message());
    else
        cc_info("tile %s: wrote %s (%d dates)", tile, cube, n);
    for (int i = 0; i < n; i++)
        free(parts[i]);
    free(parts);
    m.seconds = mono_now() - t0;
    c->times.t[CC_STAGE_ASSEMBLE] += m.seconds;
    c->times.tiles++;
    post_up(c, &m);
}

/* ---- set-up, the loop, the end ---------------------------------------------- */

/* The tiles (sorted unique tile ids), each item's tile and each tile's items
 * (in item order): the same on every rank. O(items log items). */
static const cc_job_item *g_sort_items; /* qsort has no context argument */
static int cmp_item_tile(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    int d = strcmp(g_sort_items[x].tile_id, g_sort_items[y].tile_id);
    return d ? d : (x > y) - (x < y); /* ties in item order */
}

static cc_status build_tiles(run_ctx *c)
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

/* GPU of this rank: node-local rank modulo the visible GPUs (-1: none). */
static int pick_gpu(MPI_Comm comm)
{
    MPI_Comm node;
    int local = 0, ngpu = 0;
    if (MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
        MPI_Comm_rank(node, &local);
        MPI_Comm_free(&node);
    }
    const char *vis = getenv("CUDA_VISIBLE_DEVICES");
    if (vis && *vis) {
        int ids[64], n = 0;
        char buf[512];
        snprintf(buf, sizeof buf, "%s", vis);
        char *save = NULL;
        for (char *t = strtok_r(buf, ",", &save); t && n < 64; t = strtok_r(NULL, ",", &save))
            if (isdigit((unsigned char)t[0]))
                ids[n++] = atoi(t);
        return n ? ids[local % n] : -1;
    }
#ifdef CC_HAVE_CUDA
    if (cudaGetDeviceCount(&ngpu) != cudaSuccess)
        ngpu = 0;
#endif
    return ngpu > 0 ? local % ngpu : -1;
}

/* Rank 0: items' states from the journal, the queue, the tiles. */
static cc_status sched_init(run_ctx *c)
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
            if (jlog(c, "reset", f) != CC_OK)
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
                if (jlog(c, "quarantine", f) != CC_OK)
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

static void run_loop(run_ctx *c)
{
    double last = mono_now(), last_busy = last;
    long sleep_ns = IDLE_SLEEP_MIN_NS;
    for (;;) {
        int busy = 0, nrun = 0, free_slot = -1;
        double now = mono_now();
        if (g_stop_signal && c->signal_t == 0)
            c->signal_t = now; /* the grace period starts now */
        for (int k = 0; k < c->o.slots; k++) {
            run_slot *s = &c->slots[k];
            if (s->pid <= 0)
                continue;
            int ws = 0;
            if (waitpid(s->pid, &ws, WNOHANG) == s->pid) {
                finish_item(c, s, ws);
                busy = 1;
                continue;
            }
            nrun++;
            int why = 0;
            if (now - s->t0 > c->o.timeout_s)
                why = ST_TIMEOUT;
            else if (g_stop_signal && now - c->signal_t > c->o.grace_s)
                why = ST_ABANDONED;
            if (why && !s->killed) {
                s->killed = why;
                kill(-s->pid, SIGKILL);
                kill(s->pid, SIGKILL);
                cc_warn("item %s: %s, killed", c->items[s->index].id,
                        why == ST_TIMEOUT ? "timeout" : "grace period over");
            }
        }
        if (g_stop_signal && !c->signal_sent) {
            run_msg m;
            memset(&m, 0, sizeof m);
            m.kind = M_SIGNAL;
            m.status = (int)g_stop_signal;
            c->signal_sent = 1;
            post_up(c, &m);
        }
        for (int k = 0; k < c->o.slots && free_slot < 0; k++)
            if (c->slots[k].pid <= 0)
                free_slot = k;
        if (free_slot >= 0 && !c->outstanding && !c->stop_received) {
            run_msg m;
            memset(&m, 0, sizeof m);
            m.kind = M_REQ;
            c->outstanding = 1;
            post_up(c, &m);
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
                sched_handle(c, ms.MPI_SOURCE, &m);
                busy = 1;
            }
            progress_tick(c, 0);
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
                start_item(c, &c->slots[free_slot], m.index, m.attempt);
            else if (m.kind == M_TILE)
                run_tile_task(c, m.index, c->tiles[m.index].tile);
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
    send_fini(c); /* every message sent is taken before the collective steps */
}

/* Rank 0: reads the items and the journal, opens the journal. */
static cc_status setup_root(run_ctx *c, const char *job_label)
{
    cc_status st;
    if ((st = mkdir_p(c->outdir)) != CC_OK || (st = mkdir_p(c->staging)) != CC_OK)
        return st;
    char jp[PATH_MAX + 32];
    snprintf(jp, sizeof jp, "%s/journal.jsonl", c->outdir);
    if ((st = cc_journal_replay(jp, &c->js)) != CC_OK)
        return st;
    c->submitted = c->js.submitted;
    if (c->submitted <= 0) {
        const char *sde = getenv("SOURCE_DATE_EPOCH");
        c->submitted = sde && *sde ? strtoll(sde, NULL, 10) : (int64_t)time(NULL);
    }
    if ((st = cc_journal_open(jp, c->submitted, job_label, c->nitems, &c->journal)) != CC_OK)
        return st;
    char f[160];
    snprintf(f, sizeof f, "\"run\":%d,\"ranks\":%d,\"time\":%lld", c->js.runs + 1, c->size,
             (long long)time(NULL));
    if ((st = cc_journal_append(c->journal, "run", f)) != CC_OK)
        return st;
    return CC_OK;
}

static cc_status load_job(run_ctx *c, cc_job *job, char ***owned)
{
    cc_status st = cc_job_load(c->o.job_path, job);
    if (st != CC_OK)
        return st;
    cc_job_item *ji = NULL;
    int nji = 0;
    if ((st = cc_job_items(job, &ji, &nji)) != CC_OK)
        return st;
    /* a deep copy in this file's allocation (freed with free_items) */
    long plen = 0;
    char *p = pack_items(ji, nji, &plen);
    cc_job_items_free(ji, nji);
    if (!p)
        return cc_error_set(CC_ERR_NOMEM, "run: out of memory");
    st = unpack_items(p, plen, nji, &c->items);
    free(p);
    if (st != CC_OK)
        return st;
    c->nitems = nji;
    if (nji == 0)
        return cc_error_set(CC_ERR_MISSING, "%s: the job has no work items (check catalogues, area, dates)",
                            c->o.job_path);
    if (!c->o.output_dir)
        c->o.output_dir = job->output_dir;
    c->o.product = job->product;
    c->o.model = job->model_path;
    if (isnan(c->o.timeout_s) && job->item_timeout_s > 0)
        c->o.timeout_s = job->item_timeout_s;
    if (c->o.retries < 0)
        c->o.retries = job->max_retries;
    /* the job's product options become the items' command-line options */
    if (!c->o.extra) {
        const char *names[3] = {"--aot", "--water-vapour", "--elevation"};
        double vals[3] = {job->aot, job->water_vapour, job->elevation};
        char **ex = calloc(7, sizeof *ex);
        int n = 0;
        for (int k = 0; ex && k < 3; k++) {
            if (isnan(vals[k]))
                continue;
            char b[64];
            snprintf(b, sizeof b, "%.17g", vals[k]);
            ex[n++] = strdup(names[k]);
            ex[n++] = strdup(b);
        }
        *owned = ex;
        c->o.extra = ex;
        c->o.nextra = n;
    }
    return CC_OK;
}

/* --share I/K: keeps the items of every K-th tile, counting tiles in order of
 * first appearance in the (deterministic, largest first) item order, from I;
 * whole tiles, so that each share writes complete tile cubes. The share is an
 * independent run (own journal, report, cubes) in DIR/share-I-of-K. */
static cc_status apply_share(run_ctx *c)
{
    int n = c->nitems, kept = 0, ntiles = 0;
    char(*seen)[sizeof c->items[0].tile_id] = calloc((size_t)n + 1, sizeof *seen);
    if (!seen)
        return cc_error_set(CC_ERR_NOMEM, "run: out of memory");
    for (int i = 0; i < n; i++) {
        cc_job_item *it = &c->items[i];
        int t = 0;
        while (t < ntiles && strcmp(seen[t], it->tile_id) != 0)
            t++;
        if (t == ntiles)
            memcpy(seen[ntiles++], it->tile_id, sizeof seen[0]);
        if (t % c->o.share_k == c->o.share_i) {
            c->items[kept++] = *it;
        } else {
            for (int k = 0; k < it->ninputs; k++)
                free(it->inputs[k]);
            free(it->inputs);
        }
    }
    free(seen);
    c->nitems = kept;
    fmt_buf(c->o.share_dir, sizeof c->o.share_dir, "%s/share-%d-of-%d", c->o.output_dir,
            c->o.share_i, c->o.share_k);
    c->o.output_dir = c->o.share_dir;
    if (kept == 0)
        return cc_error_set(CC_ERR_ARG, "run: --share %d/%d: no tiles in this share (%d tiles in all)",
                            c->o.share_i, c->o.share_k, ntiles);
    return CC_OK;
}

/* Rank 0 packs: status, settings, extra args, items. */
typedef struct {
    int status, nitems, nextra;
    long len;
    double timeout_s;
    int retries;
    int64_t submitted;
    char outdir[PATH_MAX];
    char product[16];      /* the job's product ("" = reference)                 */
    char model[PATH_MAX];  /* the job's model file ("" = the product's default)  */
} run_header;


/* Frees the scheduler state of a run (cc_run and cc_run_dispatch). */
static void sched_free(run_ctx *c)
{
    free(c->slots);
    free(c->tiles);
    free(c->item_tile);
    free(c->tile_first);
    free(c->tile_item);
    send_fini(c);
    free(c->res);
    free(c->assigned_t);
    free(c->queue);
    free(c->ready);
    free(c->waiting);
}

int cc_run(int argc, char **argv, MPI_Comm comm)
{
    run_ctx ctx, *c = &ctx;
    memset(c, 0, sizeof *c);
    c->comm = comm;
    MPI_Comm_rank(comm, &c->rank);
    MPI_Comm_size(comm, &c->size);
    cc_log_set_rank(c->size > 1 ? c->rank : -1);
    int prc = parse_opts(argc, argv, &c->o, c->rank == 0);
    if (prc)
        return prc == 1 ? 0 : CC_RUN_EXIT_USAGE;
    int code = CC_RUN_EXIT_ERROR;
    run_header h;
    memset(&h, 0, sizeof h);
    h.status = CC_OK;
    char *pack = NULL, **extra_owned = NULL;
    double t_start = mono_now();
    cc_job job;
    memset(&job, 0, sizeof job);
    struct sigaction sa, old_term, old_usr1, old_int;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    g_stop_signal = 0;
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGUSR1, &sa, &old_usr1);
    sigaction(SIGINT, &sa, &old_int);

    if (c->rank == 0) {
        cc_status st = CC_OK;
        if (c->o.items_path) {
            st = load_item_list(c->o.items_path, &c->items, &c->nitems);
        } else {
            st = load_job(c, &job, &extra_owned);
        }
        if (st == CC_OK && !c->o.output_dir)
            st = cc_error_set(CC_ERR_ARG, "run: no output directory (job output or -o DIR)");
        if (st == CC_OK && c->o.share_k)
            st = apply_share(c);
        if (st == CC_OK && (!realpath(c->o.output_dir, c->outdir))) {
            if ((st = mkdir_p(c->o.output_dir)) == CC_OK && !realpath(c->o.output_dir, c->outdir))
                st = cc_error_set(CC_ERR_IO, "%s: %s", c->o.output_dir, strerror(errno));
        }
        if (st == CC_OK) {
            fmt_buf(c->staging, sizeof c->staging, "%s/.staging", c->outdir);
            st = setup_root(c, c->o.job_path ? c->o.job_path : c->o.items_path);
        }
        if (st == CC_OK) {
            char **ex = c->o.extra;
            int nex = c->o.nextra;
            long plen = 0;
            /* extra args first, then the items */
            size_t elen = 0;
            for (int k = 0; k < nex; k++)
                elen += strlen(ex[k]) + 1;
            char *ip = pack_items(c->items, c->nitems, &plen);
            pack = ip ? malloc(elen + (size_t)plen + 1) : NULL;
            if (!pack) {
                free(ip);
                st = cc_error_set(CC_ERR_NOMEM, "run: out of memory");
            } else {
                size_t off = 0;
                for (int k = 0; k < nex; k++) {
                    memcpy(pack + off, ex[k], strlen(ex[k]) + 1);
                    off += strlen(ex[k]) + 1;
                }
                memcpy(pack + off, ip, (size_t)plen);
                free(ip);
                h.len = (long)off + plen;
                h.nextra = nex;
            }
        }
        if (st != CC_OK) {
            fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
            h.status = st;
        }
        h.nitems = c->nitems;
        h.timeout_s = isnan(c->o.timeout_s) ? 3600 : c->o.timeout_s;
        h.retries = c->o.retries < 0 ? 2 : c->o.retries;
        h.submitted = c->submitted;
        fmt_buf(h.outdir, sizeof h.outdir, "%s", c->outdir);
        fmt_buf(h.product, sizeof h.product, "%s", c->o.product ? c->o.product : "");
        fmt_buf(h.model, sizeof h.model, "%s", c->o.model ? c->o.model : "");
    }
    /* every rank learns the outcome before any further collective step */
    MPI_Bcast(&h, (int)sizeof h, MPI_BYTE, 0, comm);
    if (h.status != CC_OK) {
        code = h.status == CC_ERR_ARG ? CC_RUN_EXIT_USAGE : CC_RUN_EXIT_ERROR;
        goto out;
    }
    if (c->rank != 0) {
        pack = malloc((size_t)h.len + 1);
        if (!pack)
            MPI_Abort(comm, 1); /* cannot take part: the job cannot continue */
    }
    MPI_Bcast(pack, (int)h.len, MPI_BYTE, 0, comm);
    c->o.timeout_s = h.timeout_s;
    c->o.retries = h.retries;
    c->submitted = h.submitted;
    snprintf(c->outdir, sizeof c->outdir, "%s", h.outdir);
    c->o.product = h.product[0] ? h.product : NULL;
    c->o.model = h.model[0] ? h.model : NULL;
    fmt_buf(c->staging, sizeof c->staging, "%s/.staging", c->outdir);
    int lerr = 0;
    if (c->rank != 0) {
        const char *p = pack;
        extra_owned = calloc((size_t)h.nextra + 1, sizeof *extra_owned);
        for (int k = 0; extra_owned && k < h.nextra; k++) {
            extra_owned[k] = strdup(p);
            p += strlen(p) + 1;
        }
        c->o.extra = extra_owned;
        c->o.nextra = h.nextra;
        c->nitems = h.nitems;
        lerr = !extra_owned || unpack_items(p, h.len - (p - pack), h.nitems, &c->items) != CC_OK;
    }
    if (!lerr && build_tiles(c) != CC_OK)
        lerr = 1;
    ssize_t el = readlink("/proc/self/exe", c->exe, sizeof c->exe - 1);
    if (el <= 0)
        lerr = 1;
    else
        c->exe[el] = 0;
    c->gpu = pick_gpu(comm);
    c->slots = calloc((size_t)c->o.slots, sizeof *c->slots);
    c->envp = make_env(c);
    if (!c->slots || !c->envp || send_init(c))
        lerr = 1;
    if (c->rank == 0 && !lerr && sched_init(c) != CC_OK) {
        fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
        lerr = 1;
    }
    int nerr = 0;
    MPI_Allreduce(&lerr, &nerr, 1, MPI_INT, MPI_SUM, comm);
    if (nerr) {
        if (c->rank == 0)
            fprintf(stderr, "clearcube: error: run: set-up failed on %d rank(s)\n", nerr);
        goto out;
    }
    if (c->rank == 0) {
        c->t_start = mono_now();
        c->progress = c->o.progress < 0 ? isatty(2) : c->o.progress;
        cc_info("run: %d items over %d tiles on %d ranks (%d done earlier), output %s", c->nitems,
                c->ntiles, c->size, c->skipped, c->outdir);
    }
    if (c->gpu >= 0)
        cc_info("bound to GPU %d", c->gpu);
    for (int k = 0; k < c->o.slots; k++)
        c->slots[k].index = -1;

    run_loop(c);

    /* the end: exit code on rank 0 */
    int stopped = 0, any_stop = g_stop_signal != 0;
    MPI_Allreduce(&any_stop, &stopped, 1, MPI_INT, MPI_MAX, comm);
    char *mosaic_err = NULL;
    char mosaic_path[PATH_MAX + 32] = "";
    if (c->o.mosaic_res > 0 && !stopped) {
        /* the list of tile cubes, from rank 0 */
        int nc = 0;
        char **cubes = NULL;
        if (c->rank == 0)
            for (int t = 0; t < c->ntiles; t++)
                nc += c->tiles[t].state == 3;
        MPI_Bcast(&nc, 1, MPI_INT, 0, comm);
        int *which = calloc((size_t)nc + 1, sizeof *which);
        cubes = calloc((size_t)nc + 1, sizeof *cubes);
        if (c->rank == 0)
            for (int t = 0, k = 0; t < c->ntiles; t++)
                if (c->tiles[t].state == 3)
                    which[k++] = t;
        MPI_Bcast(which, nc, MPI_INT, 0, comm);
        for (int k = 0; k < nc; k++) {
            char p[PATH_MAX + 32];
            fmt_buf(p, sizeof p, "%s/%s.nc", c->outdir, c->tiles[which[k]].tile);
            cubes[k] = strdup(p);
        }
        fmt_buf(mosaic_path, sizeof mosaic_path, "%s/mosaic.nc", c->outdir);
        double t0 = mono_now();
        cc_status st = nc > 0 ? cc_run_mosaic(comm, mosaic_path, c->o.mosaic_crs, c->o.mosaic_res, cubes,
                                              nc, c->submitted)
                              : cc_error_set(CC_ERR_MISSING, "mosaic: no tile cube to mosaic");
        c->times.t[CC_STAGE_MOSAIC] += mono_now() - t0;
        if (st != CC_OK)
            mosaic_err = strdup(cc_error_message());
        else if (c->rank == 0)
            cc_info("wrote %s", mosaic_path);
        for (int k = 0; k < nc; k++)
            free(cubes[k]);
        free(cubes);
        free(which);
    }
    c->times.t[CC_STAGE_TOTAL] = mono_now() - t_start;
    cc_run_rank_times *all = c->rank == 0 ? calloc((size_t)c->size, sizeof *all) : NULL;
    MPI_Gather(&c->times, (int)(sizeof c->times / sizeof(double)), MPI_DOUBLE, all,
               (int)(sizeof c->times / sizeof(double)), MPI_DOUBLE, 0, comm);
    if (c->rank == 0) {
        int failed = 0;
        for (int i = 0; i < c->nitems; i++)
            failed += c->res[i].state == CC_RI_FAILED || c->res[i].state == CC_RI_QUARANTINED;
        for (int t = 0; t < c->ntiles; t++)
            failed += c->tiles[t].state == 4;
        if (c->journal_error)
            code = CC_RUN_EXIT_ERROR;
        else if (!all_final(c))
            code = stopped ? CC_RUN_EXIT_REQUEUE : CC_RUN_EXIT_ERROR;
        else
            code = failed || mosaic_err ? CC_RUN_EXIT_PARTIAL : CC_RUN_EXIT_OK;
        if (c->progress) {
            progress_tick(c, 1);
            fputc('\n', stderr);
        }
        char f[160];
        snprintf(f, sizeof f, "\"run\":%d,\"exit\":%d,\"time\":%lld", c->js.runs + 1, code,
                 (long long)time(NULL));
        jlog(c, "close", f);
        cc_run_report rep = {.output_dir = c->outdir, .job = c->o.job_path ? c->o.job_path : c->o.items_path,
                             .nranks = c->size, .submitted = c->submitted, .wall_s = mono_now() - t_start,
                             .exit_code = code, .stopped = stopped, .nitems = c->nitems, .items = c->items,
                             .results = c->res, .ntiles = c->ntiles, .tiles = c->tiles, .ranks = all,
                             .mosaic_path = c->o.mosaic_res > 0 && !stopped ? mosaic_path : NULL,
                             .mosaic_error = mosaic_err};
        if (all && cc_run_report_write(&rep) != CC_OK)
            cc_errorlog("%s", cc_error_message());
        cc_info("run: exit %d (%s)", code,
                code == 0 ? "all done" : code == 3 ? "partial failure, see run-report.md"
                                     : code == 75 ? "stopped, rerun to resume" : "error");
    }
    free(all);
    free(mosaic_err);
    MPI_Bcast(&code, 1, MPI_INT, 0, comm);
out:
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGUSR1, &old_usr1, NULL);
    sigaction(SIGINT, &old_int, NULL);
    cc_journal_close(c->journal);
    cc_journal_state_free(&c->js);
    free_items(c->items, c->nitems);
    if (c->rank == 0 && c->o.job_path)
        cc_job_free(&job);
    free_strv(extra_owned);
    free_strv(c->envp);
    free(pack);
    sched_free(c);
    (void)t_start;
    return code;
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
    int lerr = nitems < 1 || !item_fn || build_tiles(c) != CC_OK;
    c->slots = calloc(1, sizeof *c->slots);
    lerr |= !c->slots || send_init(c);
    if (c->rank == 0 && !lerr && sched_init(c) != CC_OK)
        lerr = 1;
    int nerr = 0;
    MPI_Allreduce(&lerr, &nerr, 1, MPI_INT, MPI_SUM, comm);
    int code = CC_RUN_EXIT_ERROR;
    if (!nerr) {
        g_stop_signal = 0;
        c->slots[0].index = -1;
        t_start = mono_now(); /* CC_STAGE_TOTAL: the loop only, not the set-up */
        if (c->rank == 0)
            c->t_start = t_start;
        run_loop(c);
        c->times.t[CC_STAGE_TOTAL] = mono_now() - t_start;
        MPI_Gather(&c->times, (int)(sizeof c->times / sizeof(double)), MPI_DOUBLE, all,
                   (int)(sizeof c->times / sizeof(double)), MPI_DOUBLE, 0, comm);
        if (c->rank == 0) {
            int cnt[3] = {0, 0, 0};
            for (int i = 0; i < nitems; i++)
                cnt[c->res[i].state == CC_RI_DONE ? 0 : c->res[i].state == CC_RI_FAILED ? 1 : 2]++;
            if (counts)
                memcpy(counts, cnt, sizeof cnt);
            code = all_final(c) ? (cnt[1] ? CC_RUN_EXIT_PARTIAL : CC_RUN_EXIT_OK) : CC_RUN_EXIT_ERROR;
        }
        MPI_Bcast(&code, 1, MPI_INT, 0, comm);
    }
    sched_free(c);
    return code;
}
