/* clearcube run: the layout the run got (ranks, nodes, items and threads per
 * rank, GPUs per rank), printed at start, and its check (docs/running.md,
 * "Layout"): a layout that would put more OpenMP threads on a node than the
 * ranks' cores (their CPU affinity), more than a rank's own cores on one
 * rank, or one GPU under several ranks is refused unless the user asked for
 * it: --layout oversubscribe|share-gpu|any (job key `layout`), or, for the
 * cores, Open MPI's own oversubscription setting
 * (OMPI_MCA_rmaps_base_oversubscribe, which `mpirun --oversubscribe` users
 * and the test scripts set). Collective over c->comm. */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/log.h"
#include "jobs/run/run-ctx.h"

#define LAYOUT_MAXCPU 4096
#define LAYOUT_WORDS (LAYOUT_MAXCPU / 64)

/* This process' CPU affinity as a bit mask (words of 64 CPUs); its count. */
static int affinity_mask(unsigned long long m[LAYOUT_WORDS])
{
    memset(m, 0, LAYOUT_WORDS * sizeof m[0]);
    cpu_set_t set;
    CPU_ZERO(&set);
    int n = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        for (int i = 0; i < CPU_SETSIZE && i < LAYOUT_MAXCPU; i++)
            if (CPU_ISSET(i, &set)) {
                m[i / 64] |= 1ull << (i % 64);
                n++;
            }
    }
    if (n == 0) { /* no affinity information: the online CPUs */
        long on = sysconf(_SC_NPROCESSORS_ONLN);
        n = on > 0 ? (int)(on < LAYOUT_MAXCPU ? on : LAYOUT_MAXCPU) : 1;
        for (int i = 0; i < n; i++)
            m[i / 64] |= 1ull << (i % 64);
    }
    return n;
}

static int popcount_mask(const unsigned long long m[LAYOUT_WORDS])
{
    int n = 0;
    for (int w = 0; w < LAYOUT_WORDS; w++)
        n += __builtin_popcountll(m[w]);
    return n;
}

/* Open MPI's "oversubscription is intended" setting. */
static const char *mpi_oversubscribe_env(void)
{
    static const char *const vars[] = {"OMPI_MCA_rmaps_base_oversubscribe", "PRTE_MCA_rmaps_base_oversubscribe"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes")))
            return vars[i];
    }
    return NULL;
}

int cc_run_layout_allows(const char *layout, const char *what)
{
    if (!layout || !*layout || !strcmp(layout, "check"))
        return 0;
    return !strcmp(layout, "any") || !strcmp(layout, what);
}

int cc_run_layout_check(run_ctx *c)
{
    /* the ranks of this node, and which of them is its first */
    MPI_Comm node;
    int local = 0, nlocal = 1;
    if (MPI_Comm_split_type(c->comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) != MPI_SUCCESS)
        node = MPI_COMM_NULL;
    if (node != MPI_COMM_NULL) {
        MPI_Comm_rank(node, &local);
        MPI_Comm_size(node, &nlocal);
    }
    unsigned long long mine[LAYOUT_WORDS], all[LAYOUT_WORDS];
    const int own = affinity_mask(mine);
    if (node != MPI_COMM_NULL)
        MPI_Allreduce(mine, all, LAYOUT_WORDS, MPI_UNSIGNED_LONG_LONG, MPI_BOR, node);
    else
        memcpy(all, mine, sizeof all);
    const int node_cores = popcount_mask(all);
    const int per_rank = c->o.slots * c->o.threads;
    int node_want = per_rank;
    if (node != MPI_COMM_NULL) {
        MPI_Allreduce(&per_rank, &node_want, 1, MPI_INT, MPI_SUM, node);
        MPI_Comm_free(&node);
    }

    /* over the job: nodes, the worst node and rank, GPUs */
    int first = local == 0, nodes = 0;
    MPI_Allreduce(&first, &nodes, 1, MPI_INT, MPI_SUM, c->comm);
    /* [0] node over (want - cores), [1] its want, [2] its cores, [3] rank over, [4] own cores,
       [5] ranks with a GPU, [6] most ranks on one GPU, [7] most ranks on one node */
    int v[8] = {node_want - node_cores, node_want, node_cores, per_rank - own, own, c->gpu[0] != 0,
                c->gpu_share, nlocal}, mx[8], sum_gpu = 0;
    MPI_Allreduce(v, mx, 8, MPI_INT, MPI_MAX, c->comm);
    MPI_Allreduce(&v[5], &sum_gpu, 1, MPI_INT, MPI_SUM, c->comm);
    if (c->rank != 0)
        return 0; /* the decision is rank 0's, broadcast by the caller */

    const int gpus = sum_gpu == c->size ? 1 : 0;
    cc_info("run: layout: %d rank%s on %d node%s (up to %d per node), %d item%s x %d OpenMP thread%s per rank, "
            "%d GPU%s per rank%s%s, %d core%s on the busiest node (CPU affinity)",
            c->size, c->size == 1 ? "" : "s", nodes, nodes == 1 ? "" : "s", mx[7], c->o.slots,
            c->o.slots == 1 ? "" : "s", c->o.threads, c->o.threads == 1 ? "" : "s", gpus, gpus == 1 ? "" : "s",
            sum_gpu && sum_gpu < c->size ? " (some ranks have none)" : "",
            mx[6] > 1 ? ", shared" : "", mx[2], mx[2] == 1 ? "" : "s");
    const char *lay = c->o.layout;
    const char *env = mpi_oversubscribe_env();
    if (mx[0] > 0 || mx[3] > 0) {
        if (cc_run_layout_allows(lay, "oversubscribe") || env) {
            cc_warn("run: layout: the cores are oversubscribed (%s), as allowed by %s",
                    mx[0] > 0 ? "more threads than cores on a node" : "a rank has fewer cores than its threads",
                    env && !cc_run_layout_allows(lay, "oversubscribe") ? env : "--layout");
        } else {
            if (mx[0] > 0)
                fprintf(stderr, "clearcube: error: run: layout: %d rank(s) x %d item(s) x %d thread(s) on a node "
                                "want %d cores, its ranks have %d (CPU affinity); use fewer ranks per node, "
                                "--slots or --threads, or --layout oversubscribe (job key layout: oversubscribe)\n",
                        mx[7], c->o.slots, c->o.threads, mx[1], mx[2]);
            else
                fprintf(stderr, "clearcube: error: run: layout: a rank runs %d item(s) x %d thread(s) on %d core(s) "
                                "(its CPU affinity); bind each rank to more cores (mpirun --map-by ...:PE=N, "
                                "srun --cpus-per-task), lower --slots or --threads, or --layout oversubscribe\n",
                        c->o.slots, c->o.threads, mx[4]);
            return 1;
        }
    }
    if (mx[6] > 1) {
        if (!cc_run_layout_allows(lay, "share-gpu")) {
            fprintf(stderr, "clearcube: error: run: layout: %d ranks of a node share one GPU (more ranks per node "
                            "than visible GPUs); start one rank per GPU, use --device cpu, or --layout share-gpu "
                            "(job key layout: share-gpu)\n",
                    mx[6]);
            return 1;
        }
        cc_warn("run: layout: %d ranks share a GPU, as allowed by --layout %s", mx[6], lay);
    }
    return 0;
}
