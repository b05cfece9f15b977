/* clearcube run: the command line of `clearcube run` (help text, option parsing
 * into run_opts; jobs/run/run-ctx.h). */
#define _GNU_SOURCE
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "jobs/run/run-ctx.h"
#include "jobs/run/run.h"

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
           "  --wait[=S]            if another run holds DIR (DIR/journal.lock), wait for it\n"
           "                        (up to S seconds) instead of refusing to start\n"
           "  --device auto|cpu|cuda  where each rank computes (default: the job's `device`, else\n"
           "                        auto): every rank takes the GPU of its node-local rank\n"
           "                        (OMPI_COMM_WORLD_LOCAL_RANK, SLURM_LOCALID; an entry of\n"
           "                        CUDA_VISIBLE_DEVICES when set), which becomes the only GPU its\n"
           "                        items see; auto: the CPU where there is none; cuda: a rank\n"
           "                        without one stops the run at start (exit 4). The run report\n"
           "                        names each rank's device\n"
           "  --layout L            check (default: the job's `layout`, else check): at start the\n"
           "                        run prints its layout (ranks, nodes, items and threads per\n"
           "                        rank, GPUs per rank) and refuses (exit 2) more threads than\n"
           "                        the ranks' cores (CPU affinity) or a GPU shared by ranks;\n"
           "                        oversubscribe, share-gpu or any allow them (Open MPI's\n"
           "                        OMPI_MCA_rmaps_base_oversubscribe=1 also allows the former)\n\n"
           "Exit codes: 0 all done; 3 finished with failed or quarantined items; 4 --device cuda\n"
           "and a rank without a GPU; 75 stopped\n"
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
int cc_run_parse_opts(int argc, char **argv, run_opts *o, int loud)
{
    enum { O_ITEMS = 1, O_TIMEOUT, O_RETRIES, O_SLOTS, O_THREADS, O_GRACE, O_MRES, O_MCRS,
           O_PROGRESS, O_RETRYF, O_SHARE, O_WAIT, O_DEVICE, O_LAYOUT };
    static const struct option longopts[] = {
        {"output", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'},
        {"items", required_argument, 0, O_ITEMS}, {"timeout", required_argument, 0, O_TIMEOUT},
        {"retries", required_argument, 0, O_RETRIES}, {"slots", required_argument, 0, O_SLOTS},
        {"threads", required_argument, 0, O_THREADS}, {"grace", required_argument, 0, O_GRACE},
        {"mosaic-res", required_argument, 0, O_MRES}, {"mosaic-crs", required_argument, 0, O_MCRS},
        {"progress", required_argument, 0, O_PROGRESS},
        {"retry-failed", no_argument, 0, O_RETRYF}, {"share", required_argument, 0, O_SHARE},
        {"wait", optional_argument, 0, O_WAIT}, {"device", required_argument, 0, O_DEVICE},
        {"layout", required_argument, 0, O_LAYOUT}, {0, 0, 0, 0}};
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
        case O_DEVICE:
            if (strcmp(optarg, "auto") && strcmp(optarg, "cpu") && strcmp(optarg, "cuda")) {
                if (loud)
                    fprintf(stderr, "clearcube: error: run: --device %s: must be auto, cpu or cuda (each rank "
                                    "takes the GPU of its node-local rank; cuda:N is for single commands)\n",
                            optarg);
                return 2;
            }
            o->device = optarg;
            break;
        case O_LAYOUT:
            if (strcmp(optarg, "check") && strcmp(optarg, "oversubscribe") && strcmp(optarg, "share-gpu") &&
                strcmp(optarg, "any")) {
                if (loud)
                    fprintf(stderr, "clearcube: error: run: --layout %s: must be check, oversubscribe, share-gpu "
                                    "or any\n", optarg);
                return 2;
            }
            o->layout = optarg;
            break;
        case O_RETRYF: o->retry_failed = 1; break;
        case O_WAIT:
            if (!optarg)
                o->wait_s = -1;
            else if (parse_pos_opt("wait", optarg, &o->wait_s))
                return 2;
            break;
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
