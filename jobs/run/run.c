/* clearcube run: the MPI job driver (jobs/run/run.h, jobs/run/run-ctx.h, docs/running.md, decision 0004). */
#define _GNU_SOURCE
#include "jobs/run/run.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "jobs/run/journal.h"
#include "jobs/run/run-ctx.h"
#include "jobs/run/run-impl.h"
#include "kernels/device/device.h"

const char *const cc_run_stage_names[CC_NSTAGES] = {"item", "validate", "commit", "assemble",
                                                    "mosaic", "wait", "total"};

static void on_stop_signal(int sig) { cc_run_stop_signal = sig; }

/* The GPU of this rank (c->gpu, "" for none) and its description for the run
 * report (c->device), from the device mode (c->o.device: auto, cpu, cuda) and
 * the node-local rank (kernels/device/device.h: the launcher's environment, else the
 * rank in the node's shared-memory communicator). Returns 0, or 1 when cuda
 * was asked for and this rank has no GPU (message printed). */
static int pick_gpu(run_ctx *c)
{
    const char *mode = c->o.device ? c->o.device : "auto";
    c->gpu[0] = '\0';
    c->gpu_share = 1;
    if (!strcmp(mode, "cpu")) {
        fmt_buf(c->device, sizeof c->device, "cpu (--device cpu)");
        return 0;
    }
    MPI_Comm node;
    int local = -1, nlocal = 0, share = 1;
    if (MPI_Comm_split_type(c->comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
        MPI_Comm_rank(node, &local);
        MPI_Comm_size(node, &nlocal);
        MPI_Comm_free(&node);
    }
    int env_local = cc_device_local_rank_env();
    if (env_local >= 0)
        local = env_local;
    const char *vis = getenv("CUDA_VISIBLE_DEVICES");
    char why[256] = "";
    int ngpu = vis && *vis ? 0 : cc_device_cuda_count(why, sizeof why);
#ifndef CC_HAVE_CUDA
    /* a build without CUDA runs its items on the CPU whatever the node has */
    vis = NULL;
    ngpu = cc_device_cuda_count(why, sizeof why);
#endif
    if (!cc_device_rank_gpu(local, nlocal, vis, ngpu, c->gpu, sizeof c->gpu, &share)) {
        if (!why[0])
            fmt_buf(why, sizeof why, "CUDA_VISIBLE_DEVICES=%s hides every GPU", vis ? vis : "");
        fmt_buf(c->device, sizeof c->device, "cpu (%.80s)", why);
        if (!strcmp(mode, "cuda")) {
            fprintf(stderr, "clearcube: error: run: --device cuda: rank %d (node-local rank %d) has no GPU: %s; "
                            "use --device auto or cpu\n", c->rank, local, why);
            return 1;
        }
        return 0;
    }
    c->gpu_share = share;
    fmt_buf(c->device, sizeof c->device, "GPU %s (node-local rank %d%s)", c->gpu, local,
            share > 1 ? ", shared" : "");
    return 0;
}

/* Rank 0: reads the items and the journal, opens the journal. */
static cc_status setup_root(run_ctx *c, const char *job_label)
{
    cc_status st;
    if ((st = cc_fs_mkdir_p(c->outdir, 0755)) != CC_OK || (st = cc_fs_mkdir_p(c->staging, 0755)) != CC_OK)
        return st;
    char jp[PATH_MAX + 32];
    /* one run per output folder: the lock is taken before the journal is
     * read, and every temporary left in the folder is a dead run's */
    snprintf(jp, sizeof jp, "%s/journal.lock", c->outdir);
    if ((st = cc_fs_lock_acquire(jp, "the output folder", c->o.wait_s, &c->lock)) != CC_OK)
        return st;
    cc_fs_remove_temps_in(c->outdir, 1);
    cc_fs_remove_temps_in(c->staging, 1);
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
    /* a dated log of this start (rank 0's lines, at least info): DIR/logs/run-<UTC time>.log */
    char ld[PATH_MAX + 32], lp[PATH_MAX + 96];
    snprintf(ld, sizeof ld, "%s/logs", c->outdir);
    if ((st = cc_fs_mkdir_p(ld, 0755)) != CC_OK || (st = cc_log_add_dated_file(ld, "run", lp, sizeof lp)) != CC_OK)
        return st;
    cc_info("run: this start's log is %s", lp);
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
    char device[8];        /* auto, cpu, cuda ("" = auto)                         */
    char layout[16];       /* check, oversubscribe, share-gpu, any ("" = check)   */
} run_header;

/* SIGTERM, SIGUSR1 and SIGINT only set cc_run_stop_signal (the loop stops
 * handing out items and gives in-flight ones the grace period); old[3] gets
 * the handlers to restore. */
static void stop_handlers_install(struct sigaction old[3])
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    cc_run_stop_signal = 0;
    sigaction(SIGTERM, &sa, &old[0]);
    sigaction(SIGUSR1, &sa, &old[1]);
    sigaction(SIGINT, &sa, &old[2]);
}

static void stop_handlers_restore(const struct sigaction old[3])
{
    sigaction(SIGTERM, &old[0], NULL);
    sigaction(SIGUSR1, &old[1], NULL);
    sigaction(SIGINT, &old[2], NULL);
}

/* Rank 0: the extra arguments, then the items, as NUL-separated strings in
 * *pack (h->len bytes, h->nextra arguments). */
static cc_status pack_root(run_ctx *c, run_header *h, char **pack)
{
    char **ex = c->o.extra;
    int nex = c->o.nextra;
    long plen = 0;
    /* extra args first, then the items */
    size_t elen = 0;
    for (int k = 0; k < nex; k++)
        elen += strlen(ex[k]) + 1;
    char *ip = cc_run_pack_items(c->items, c->nitems, &plen);
    *pack = ip ? malloc(elen + (size_t)plen + 1) : NULL;
    if (!*pack) {
        free(ip);
        return cc_error_set(CC_ERR_NOMEM, "run: out of memory");
    }
    size_t off = 0;
    for (int k = 0; k < nex; k++) {
        memcpy(*pack + off, ex[k], strlen(ex[k]) + 1);
        off += strlen(ex[k]) + 1;
    }
    memcpy(*pack + off, ip, (size_t)plen);
    free(ip);
    h->len = (long)off + plen;
    h->nextra = nex;
    return CC_OK;
}

/* Rank 0: the items (a job file or an --items list), the share, the output and
 * staging directories, the journal; then the header all ranks get (h->status
 * says whether all that worked) and the packed arguments and items. */
static void root_prepare(run_ctx *c, cc_job *job, char ***extra_owned, run_header *h, char **pack)
{
    cc_status st = CC_OK;
    if (c->o.items_path) {
        st = cc_run_load_item_list(c->o.items_path, &c->items, &c->nitems);
    } else {
        st = cc_run_load_job(c, job, extra_owned);
    }
    if (st == CC_OK && !c->o.output_dir)
        st = cc_error_set(CC_ERR_ARG, "run: no output directory (job output or -o DIR)");
    if (st == CC_OK && c->o.share_k)
        st = cc_run_apply_share(c);
    if (st == CC_OK && (!realpath(c->o.output_dir, c->outdir))) {
        if ((st = cc_fs_mkdir_p(c->o.output_dir, 0755)) == CC_OK && !realpath(c->o.output_dir, c->outdir))
            st = cc_error_set(CC_ERR_IO, "%s: %s", c->o.output_dir, strerror(errno));
    }
    if (st == CC_OK) {
        fmt_buf(c->staging, sizeof c->staging, "%s/.staging", c->outdir);
        st = setup_root(c, c->o.job_path ? c->o.job_path : c->o.items_path);
    }
    if (st == CC_OK)
        st = pack_root(c, h, pack);
    if (st != CC_OK) {
        fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
        h->status = st;
    }
    h->nitems = c->nitems;
    h->timeout_s = isnan(c->o.timeout_s) ? 3600 : c->o.timeout_s;
    h->retries = c->o.retries < 0 ? 2 : c->o.retries;
    h->submitted = c->submitted;
    fmt_buf(h->outdir, sizeof h->outdir, "%s", c->outdir);
    fmt_buf(h->product, sizeof h->product, "%s", c->o.product ? c->o.product : "");
    fmt_buf(h->model, sizeof h->model, "%s", c->o.model ? c->o.model : "");
    fmt_buf(h->device, sizeof h->device, "%s", c->o.device ? c->o.device : "");
    fmt_buf(h->layout, sizeof h->layout, "%s", c->o.layout ? c->o.layout : "");
}

/* Every rank: the packed arguments and items of rank 0 (*pack) and the
 * settings of its header h (which must outlive the run: c->o points into it).
 * Returns nonzero when this rank could not unpack them. */
static int receive_setup(run_ctx *c, const run_header *h, char **pack, char ***extra_owned)
{
    if (c->rank != 0) {
        *pack = malloc((size_t)h->len + 1);
        if (!*pack)
            MPI_Abort(c->comm, 1); /* cannot take part: the job cannot continue */
    }
    MPI_Bcast(*pack, (int)h->len, MPI_BYTE, 0, c->comm);
    c->o.timeout_s = h->timeout_s;
    c->o.retries = h->retries;
    c->submitted = h->submitted;
    snprintf(c->outdir, sizeof c->outdir, "%s", h->outdir);
    c->o.product = h->product[0] ? h->product : NULL;
    c->o.model = h->model[0] ? h->model : NULL;
    c->o.device = h->device[0] ? h->device : NULL;
    c->o.layout = h->layout[0] ? h->layout : NULL;
    fmt_buf(c->staging, sizeof c->staging, "%s/.staging", c->outdir);
    int lerr = 0;
    if (c->rank != 0) {
        const char *p = *pack;
        *extra_owned = calloc((size_t)h->nextra + 1, sizeof **extra_owned);
        for (int k = 0; *extra_owned && k < h->nextra; k++) {
            (*extra_owned)[k] = strdup(p);
            p += strlen(p) + 1;
        }
        c->o.extra = *extra_owned;
        c->o.nextra = h->nextra;
        c->nitems = h->nitems;
        lerr = !*extra_owned || cc_run_unpack_items(p, h->len - (p - *pack), h->nitems, &c->items) != CC_OK;
    }
    return lerr;
}

/* Every rank: the tiles, this executable (the items run it), the GPU, the
 * slots, the items' environment, the message buffers; rank 0 the scheduler.
 * Returns nonzero (lerr, or 1) when any of it failed here. */
static int local_setup(run_ctx *c, int lerr)
{
    if (!lerr && cc_run_build_tiles(c) != CC_OK)
        lerr = 1;
    ssize_t el = readlink("/proc/self/exe", c->exe, sizeof c->exe - 1);
    if (el <= 0)
        lerr = 1;
    else
        c->exe[el] = 0;
    c->device_error = pick_gpu(c);
    c->slots = calloc((size_t)c->o.slots, sizeof *c->slots);
    c->envp = cc_run_make_env(c);
    if (!c->slots || !c->envp || cc_run_send_init(c))
        lerr = 1;
    if (c->rank == 0 && !lerr && cc_run_sched_init(c) != CC_OK) {
        fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
        lerr = 1;
    }
    return lerr;
}

/* All ranks: the regional mosaic of the tile cubes rank 0 saw written, as
 * <outdir>/mosaic.nc (into mosaic_path, n bytes). Returns the error message
 * (malloc'ed) or NULL. */
static char *run_mosaic(run_ctx *c, char *mosaic_path, size_t n)
{
    char *mosaic_err = NULL;
    /* the list of tile cubes, from rank 0 */
    int nc = 0;
    char **cubes = NULL;
    if (c->rank == 0)
        for (int t = 0; t < c->ntiles; t++)
            nc += c->tiles[t].state == 3;
    MPI_Bcast(&nc, 1, MPI_INT, 0, c->comm);
    int *which = calloc((size_t)nc + 1, sizeof *which);
    cubes = calloc((size_t)nc + 1, sizeof *cubes);
    if (c->rank == 0)
        for (int t = 0, k = 0; t < c->ntiles; t++)
            if (c->tiles[t].state == 3)
                which[k++] = t;
    MPI_Bcast(which, nc, MPI_INT, 0, c->comm);
    for (int k = 0; k < nc; k++) {
        char p[PATH_MAX + 32];
        fmt_buf(p, sizeof p, "%s/%s.nc", c->outdir, c->tiles[which[k]].tile);
        cubes[k] = strdup(p);
    }
    fmt_buf(mosaic_path, n, "%s/mosaic.nc", c->outdir);
    double t0 = mono_now();
    cc_status st = nc > 0 ? cc_run_mosaic(c->comm, mosaic_path, c->o.mosaic_crs, c->o.mosaic_res, cubes,
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
    return mosaic_err;
}

/* Rank 0, at the end: the exit code, the journal's close line, the run report
 * (all: every rank's stage times). Returns the exit code. */
static int finish_root(run_ctx *c, cc_run_rank_times *all, const char (*devs)[CC_RUN_DEVICE_LEN], int stopped,
                       const char *mosaic_path, const char *mosaic_err, double t_start)
{
    int code, failed = 0;
    for (int i = 0; i < c->nitems; i++)
        failed += c->res[i].state == CC_RI_FAILED || c->res[i].state == CC_RI_QUARANTINED;
    for (int t = 0; t < c->ntiles; t++)
        failed += c->tiles[t].state == 4;
    if (c->journal_error)
        code = CC_RUN_EXIT_ERROR;
    else if (!cc_run_all_final(c))
        code = stopped || c->disk_full ? CC_RUN_EXIT_REQUEUE : CC_RUN_EXIT_ERROR;
    else
        code = failed || mosaic_err ? CC_RUN_EXIT_PARTIAL : CC_RUN_EXIT_OK;
    if (c->progress) {
        cc_run_progress_tick(c, 1);
        fputc('\n', stderr);
    }
    char f[160];
    snprintf(f, sizeof f, "\"run\":%d,\"exit\":%d,\"time\":%lld", c->js.runs + 1, code,
             (long long)time(NULL));
    cc_run_jlog(c, "close", f);
    cc_run_report rep = {.output_dir = c->outdir, .staging = c->staging,
                         .job = c->o.job_path ? c->o.job_path : c->o.items_path,
                         .nranks = c->size, .submitted = c->submitted, .wall_s = mono_now() - t_start,
                         .exit_code = code, .stopped = stopped, .nitems = c->nitems, .items = c->items,
                         .results = c->res, .ntiles = c->ntiles, .tiles = c->tiles, .ranks = all, .devices = devs,
                         .mosaic_path = c->o.mosaic_res > 0 && !stopped ? mosaic_path : NULL,
                         .mosaic_error = mosaic_err, .notes = &c->notes};
    if (all && cc_run_report_write(&rep) != CC_OK)
        cc_errorlog("%s", cc_error_message());
    cc_info("run: exit %d (%s)", code,
            code == 0 ? "all done" : code == 3 ? "partial failure, see run-report.md"
                                 : code == 75 ? "stopped, rerun to resume" : "error");
    return code;
}

int cc_run(int argc, char **argv, MPI_Comm comm)
{
    run_ctx ctx, *c = &ctx;
    memset(c, 0, sizeof *c);
    c->comm = comm;
    MPI_Comm_rank(comm, &c->rank);
    MPI_Comm_size(comm, &c->size);
    cc_log_set_rank(c->size > 1 ? c->rank : -1);
    int prc = cc_run_parse_opts(argc, argv, &c->o, c->rank == 0);
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
    struct sigaction old_handlers[3];
    stop_handlers_install(old_handlers);

    if (c->rank == 0)
        root_prepare(c, &job, &extra_owned, &h, &pack);
    /* every rank learns the outcome before any further collective step */
    MPI_Bcast(&h, (int)sizeof h, MPI_BYTE, 0, comm);
    if (h.status != CC_OK) {
        code = h.status == CC_ERR_ARG ? CC_RUN_EXIT_USAGE : CC_RUN_EXIT_ERROR;
        goto out;
    }
    int lerr = local_setup(c, receive_setup(c, &h, &pack, &extra_owned));
    int nerr = 0, ndev = 0;
    MPI_Allreduce(&lerr, &nerr, 1, MPI_INT, MPI_SUM, comm);
    MPI_Allreduce(&c->device_error, &ndev, 1, MPI_INT, MPI_SUM, comm);
    if (ndev) {
        if (c->rank == 0)
            fprintf(stderr, "clearcube: error: run: --device cuda: %d of %d rank(s) have no GPU\n", ndev, c->size);
        code = CC_RUN_EXIT_NODEVICE;
        goto out;
    }
    if (nerr) {
        if (c->rank == 0)
            fprintf(stderr, "clearcube: error: run: set-up failed on %d rank(s)\n", nerr);
        goto out;
    }
    int refused = cc_run_layout_check(c);
    MPI_Bcast(&refused, 1, MPI_INT, 0, comm);
    if (refused) {
        code = CC_RUN_EXIT_USAGE;
        goto out;
    }
    if (c->rank == 0) {
        c->t_start = mono_now();
        c->progress = c->o.progress < 0 ? isatty(2) : c->o.progress;
        cc_info("run: %d items over %d tiles on %d ranks (%d done earlier), output %s", c->nitems,
                c->ntiles, c->size, c->skipped, c->outdir);
    }
    cc_info("run: device %s", c->device);
    for (int k = 0; k < c->o.slots; k++)
        c->slots[k].index = -1;

    cc_run_loop(c);

    /* the end: exit code on rank 0 */
    int stopped = 0, any_stop = cc_run_stop_signal != 0 || c->disk_full;
    MPI_Allreduce(&any_stop, &stopped, 1, MPI_INT, MPI_MAX, comm);
    char *mosaic_err = NULL;
    char mosaic_path[PATH_MAX + 32] = "";
    if (c->o.mosaic_res > 0 && !stopped)
        mosaic_err = run_mosaic(c, mosaic_path, sizeof mosaic_path);
    c->times.t[CC_STAGE_TOTAL] = mono_now() - t_start;
    cc_run_rank_times *all = c->rank == 0 ? calloc((size_t)c->size, sizeof *all) : NULL;
    MPI_Gather(&c->times, (int)(sizeof c->times / sizeof(double)), MPI_DOUBLE, all,
               (int)(sizeof c->times / sizeof(double)), MPI_DOUBLE, 0, comm);
    char (*devs)[CC_RUN_DEVICE_LEN] = c->rank == 0 ? calloc((size_t)c->size, sizeof *devs) : NULL;
    MPI_Gather(c->device, CC_RUN_DEVICE_LEN, MPI_CHAR, devs, CC_RUN_DEVICE_LEN, MPI_CHAR, 0, comm);
    if (c->rank == 0)
        code = finish_root(c, all, (const char(*)[CC_RUN_DEVICE_LEN])devs, stopped, mosaic_path, mosaic_err,
                           t_start);
    free(devs);
    free(all);
    free(mosaic_err);
    MPI_Bcast(&code, 1, MPI_INT, 0, comm);
out:
    stop_handlers_restore(old_handlers);
    cc_journal_close(c->journal);
    cc_fs_lock_release(c->lock);
    cc_journal_state_free(&c->js);
    cc_run_free_items(c->items, c->nitems);
    cc_job_notes_free(&c->notes);
    if (c->rank == 0 && c->o.job_path)
        cc_job_free(&job);
    cc_run_free_strv(extra_owned);
    cc_run_free_strv(c->envp);
    free(pack);
    cc_run_sched_free(c);
    (void)t_start;
    return code;
}
