/* Dispatch benchmark (issue 5, docs/scaling.md): the REAL scheduler of
 * `clearcube run` (jobs/run/scheduler.c, through cc_run_dispatch in jobs/run/dispatch.c)
 * handing out N no-op items over the ranks of MPI_COMM_WORLD, and, in the same
 * invocation, a raw MPI ping-pong between rank 0 and rank 1 with the
 * scheduler's message size (the floor of one request/reply).
 *
 *   mpirun -n 8 --oversubscribe cc_bench_dispatch [--items N] [--tiles T]
 *       [--work-us U] [--retries R] [--pingpong K] [--item-lines]
 *
 * Items: N items named over T tiles (item i on tile i % T), costs decreasing
 * in list order (the order the scheduler hands them out). Each item runs a
 * callback that does nothing (or spins U microseconds with --work-us); tile
 * tasks (when all items of a tile are final) are no-ops too. The scheduler's
 * one JSON line per finished item goes to /dev/null on rank 0 (the printf and
 * fflush are still executed), unless --item-lines.
 *
 * Prints a human summary on stderr and ONE JSON object on stdout (rank 0).
 * A benchmark: it asserts nothing about time. Exit 0 when every item was done
 * exactly once, 1 otherwise. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <mpi.h>

#include "jobs/run/run-impl.h"
#include "jobs/run/run.h"

typedef struct {
    long work_ns;
    int *seen;      /* times each item ran on this rank */
    long nrun;
} bench_state;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           1e-6 * (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static int item_cb(void *arg, int index, const cc_job_item *it, char *why, size_t nwhy)
{
    (void)it, (void)why, (void)nwhy;
    bench_state *b = arg;
    b->seen[index]++;
    b->nrun++;
    if (b->work_ns > 0) {
        double end = now_s() + 1e-9 * (double)b->work_ns;
        while (now_s() < end)
            ;
    }
    return 0;
}

static cc_job_item *make_items(int n, int ntiles)
{
    cc_job_item *items = calloc((size_t)n, sizeof *items);
    if (!items)
        return NULL;
    for (int i = 0; i < n; i++) {
        cc_job_item *it = &items[i];
        snprintf(it->tile_id, sizeof it->tile_id, "T%04d", (i % ntiles) % 10000);
        int day = i / ntiles;
        snprintf(it->date, sizeof it->date, "2024-%02d-%02d", 1 + (day / 28) % 12, 1 + day % 28);
        snprintf(it->id, sizeof it->id, "%s_%08d", it->tile_id, i);
        it->cost = (double)(n - i); /* largest first = list order */
    }
    return items;
}

/* Ranks not in the ping-pong idle like the scheduler's ranks do (poll + sleep),
 * so that on an oversubscribed machine they do not take the CPU from it. */
static void idle_until_barrier(MPI_Comm comm)
{
    MPI_Request rq;
    int flag = 0;
    MPI_Ibarrier(comm, &rq);
    while (!flag) {
        MPI_Test(&rq, &flag, MPI_STATUS_IGNORE);
        if (!flag) {
            struct timespec ts = {0, 2000000};
            nanosleep(&ts, NULL);
        }
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Round trips rank 0 <-> rank 1 of `bytes` bytes, blocking MPI_Send/MPI_Recv:
 * `batches` batches of `k` round trips; returns the median and the minimum of
 * the per-batch mean round trip (seconds) on rank 0. */
static void pingpong(MPI_Comm comm, int rank, size_t bytes, int batches, int k, double *med, double *min)
{
    char *buf = calloc(1, bytes);
    double *t = calloc((size_t)batches, sizeof *t);
    if (!buf || !t)
        MPI_Abort(comm, 1);
    MPI_Barrier(comm);
    if (rank <= 1) {
        int peer = 1 - rank;
        for (int b = -1; b < batches; b++) { /* batch -1: warm-up */
            double t0 = MPI_Wtime();
            for (int i = 0; i < k; i++) {
                if (rank == 0) {
                    MPI_Send(buf, (int)bytes, MPI_BYTE, peer, 7, comm);
                    MPI_Recv(buf, (int)bytes, MPI_BYTE, peer, 7, comm, MPI_STATUS_IGNORE);
                } else {
                    MPI_Recv(buf, (int)bytes, MPI_BYTE, peer, 7, comm, MPI_STATUS_IGNORE);
                    MPI_Send(buf, (int)bytes, MPI_BYTE, peer, 7, comm);
                }
            }
            if (b >= 0)
                t[b] = (MPI_Wtime() - t0) / k;
        }
    }
    idle_until_barrier(comm);
    qsort(t, (size_t)batches, sizeof *t, cmp_double);
    *med = t[batches / 2];
    *min = t[0];
    free(buf);
    free(t);
}

static void usage(void)
{
    fprintf(stderr, "usage: mpirun -n RANKS cc_bench_dispatch [--items N] [--tiles T] [--work-us U]\n"
                    "       [--retries R] [--pingpong K] [--item-lines]\n");
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int nitems = 100000, ntiles = 1000, retries = 2, pp_k = 2000, item_lines = 0;
    double work_us = 0;
    static const struct option lo[] = {{"items", required_argument, 0, 'n'}, {"tiles", required_argument, 0, 't'},
                                       {"work-us", required_argument, 0, 'w'}, {"retries", required_argument, 0, 'r'},
                                       {"pingpong", required_argument, 0, 'p'}, {"item-lines", no_argument, 0, 'l'},
                                       {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'n': nitems = atoi(optarg); break;
        case 't': ntiles = atoi(optarg); break;
        case 'w': work_us = atof(optarg); break;
        case 'r': retries = atoi(optarg); break;
        case 'p': pp_k = atoi(optarg); break;
        case 'l': item_lines = 1; break;
        default:
            if (rank == 0)
                usage();
            MPI_Finalize();
            return ch == 'h' ? 0 : 2;
        }
    }
    if (nitems < 1 || ntiles < 1 || work_us < 0 || retries < 0 || pp_k < 1 || optind != argc) {
        if (rank == 0) {
            fprintf(stderr, "cc_bench_dispatch: error: bad arguments\n");
            usage();
        }
        MPI_Finalize();
        return 2;
    }
    if (ntiles > nitems)
        ntiles = nitems;
    cc_job_item *items = make_items(nitems, ntiles);
    bench_state b = {.work_ns = (long)(work_us * 1000), .seen = calloc((size_t)nitems, sizeof(int))};
    cc_run_rank_times *all = calloc((size_t)size, sizeof *all);
    if (!items || !b.seen || !all)
        MPI_Abort(MPI_COMM_WORLD, 1);

    /* the scheduler's per-item stdout lines: to /dev/null on rank 0 */
    int saved_stdout = -1;
    if (rank == 0 && !item_lines) {
        fflush(stdout);
        saved_stdout = dup(1);
        int dn = open("/dev/null", O_WRONLY);
        if (dn < 0 || saved_stdout < 0 || dup2(dn, 1) < 0)
            MPI_Abort(MPI_COMM_WORLD, 1);
        close(dn);
    }
    /* warm-up (connections, page faults): the first min(N, 2000) items */
    int nwarm = nitems < 2000 ? nitems : 2000;
    int counts[3] = {0, 0, 0};
    int rc = cc_run_dispatch(MPI_COMM_WORLD, items, nwarm, retries, item_cb, NULL, &b, all, counts);
    memset(b.seen, 0, (size_t)nitems * sizeof(int));
    b.nrun = 0;

    MPI_Barrier(MPI_COMM_WORLD);
    double c0 = cpu_s(), t0 = MPI_Wtime();
    rc = rc ? rc : cc_run_dispatch(MPI_COMM_WORLD, items, nitems, retries, item_cb, NULL, &b, all, counts);
    double t1 = MPI_Wtime(), c1 = cpu_s();
    MPI_Barrier(MPI_COMM_WORLD);
    if (saved_stdout >= 0) {
        fflush(stdout);
        dup2(saved_stdout, 1);
        close(saved_stdout);
    }

    /* every item exactly once over all ranks */
    int *seen_all = rank == 0 ? calloc((size_t)nitems, sizeof(int)) : NULL;
    MPI_Reduce(b.seen, seen_all, nitems, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD);
    double mine[2] = {c1 - c0, (double)b.nrun}, *cpu_all = rank == 0 ? calloc(2 * (size_t)size, sizeof(double)) : NULL;
    MPI_Gather(mine, 2, MPI_DOUBLE, cpu_all, 2, MPI_DOUBLE, 0, MPI_COMM_WORLD);

    double pp_med = 0, pp_min = 0, pp1_med = 0, pp1_min = 0;
    if (size >= 2) {
        pingpong(MPI_COMM_WORLD, rank, cc_run_msg_bytes, 21, pp_k, &pp_med, &pp_min);
        pingpong(MPI_COMM_WORLD, rank, 1, 21, pp_k, &pp1_med, &pp1_min);
    }

    int ok = rc == CC_RUN_EXIT_OK;
    if (rank == 0) {
        int once = 0;
        for (int i = 0; i < nitems; i++)
            once += seen_all[i] == 1;
        ok = ok && once == nitems && counts[0] == nitems;
        double wall = t1 - t0, loop = 0, sum_total = 0, sum_item = 0, sum_wait = 0, max_idle = 0, cpu = 0;
        long min_items = -1, max_items = 0;
        for (int r = 0; r < size; r++) {
            sum_total += all[r].t[CC_STAGE_TOTAL];
            sum_item += all[r].t[CC_STAGE_ITEM];
            sum_wait += all[r].t[CC_STAGE_WAIT];
            if (all[r].t[CC_STAGE_TOTAL] > loop)
                loop = all[r].t[CC_STAGE_TOTAL];
            double idle = all[r].t[CC_STAGE_TOTAL] > 0 ? all[r].t[CC_STAGE_WAIT] / all[r].t[CC_STAGE_TOTAL] : 0;
            if (idle > max_idle)
                max_idle = idle;
            cpu += cpu_all[2 * r];
            long n = (long)cpu_all[2 * r + 1];
            if (min_items < 0 || n < min_items)
                min_items = n;
            if (n > max_items)
                max_items = n;
        }
        long ncores = sysconf(_SC_NPROCESSORS_ONLN);
        double interval_us = 1e6 * loop / nitems;
        double overhead_us = 1e6 * (sum_total - sum_item) / nitems; /* rank-time per item outside items */
        double idle_frac = sum_total > 0 ? sum_wait / sum_total : 0;
        double item_frac = sum_total > 0 ? sum_item / sum_total : 0;
        fprintf(stderr,
                "dispatch: %d items (%d tiles, work %.0f us each) on %d ranks, %ld cores%s\n"
                "  wall %.3f s (scheduler loop %.3f s, set-up %.3f s): %.0f items/s\n"
                "  per item: dispatch interval %.2f us (loop / items), rank-time overhead %.2f us"
                " ((sum of rank loop time - time in items) / items), CPU %.2f us\n"
                "  ranks: idle (waiting for the scheduler) %.1f %% of rank time (max rank %.1f %%),"
                " in items %.1f %%; items per rank %ld..%ld\n"
                "  ping-pong rank 0 <-> 1: %.2f us round trip (%zu B, median of 21 x %d; min %.2f),"
                " %.2f us (1 B)\n"
                "  every item done exactly once: %s\n",
                nitems, ntiles, work_us, size, ncores, size > ncores ? " (OVERSUBSCRIBED)" : "", wall, loop,
                wall - loop, nitems / loop, interval_us, overhead_us, 1e6 * cpu / nitems, 100 * idle_frac,
                100 * max_idle, 100 * item_frac, min_items, max_items, 1e6 * pp_med, cc_run_msg_bytes, pp_k,
                1e6 * pp_min, 1e6 * pp1_med, ok ? "yes" : "NO");
        printf("{\"benchmark\":\"dispatch\",\"ranks\":%d,\"cores\":%ld,\"oversubscribed\":%s,\"items\":%d,"
               "\"tiles\":%d,\"work_us\":%.3f,\"wall_s\":%.6f,\"loop_s\":%.6f,\"items_per_s\":%.1f,"
               "\"interval_us_per_item\":%.3f,\"overhead_rank_us_per_item\":%.3f,\"cpu_us_per_item\":%.3f,"
               "\"idle_fraction\":%.4f,\"idle_fraction_max_rank\":%.4f,\"item_fraction\":%.4f,"
               "\"items_per_rank_min\":%ld,\"items_per_rank_max\":%ld,\"msg_bytes\":%zu,"
               "\"pingpong_rtt_us\":%.3f,\"pingpong_rtt_min_us\":%.3f,\"pingpong_rtt_1B_us\":%.3f,"
               "\"interval_vs_goal_50us\":%.3f,\"interval_vs_pingpong\":%.3f,\"ok\":%s}\n",
               size, ncores, size > ncores ? "true" : "false", nitems, ntiles, work_us, wall, loop,
               nitems / loop, interval_us, overhead_us, 1e6 * cpu / nitems, idle_frac, max_idle, item_frac,
               min_items, max_items, cc_run_msg_bytes, 1e6 * pp_med, 1e6 * pp_min, 1e6 * pp1_med,
               interval_us / 50.0, pp_med > 0 ? interval_us / (1e6 * pp_med) : 0, ok ? "true" : "false");
        fflush(stdout);
    }
    MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
    free(seen_all);
    free(cpu_all);
    free(all);
    free(b.seen);
    free(items);
    MPI_Finalize();
    return ok ? 0 : 1;
}
