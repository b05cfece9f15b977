/* clearcube plan JOB --nodes N | --europe-year: node-hours, wall time and
 * parallel efficiency of a job (jobs/run/plan.h, docs/scaling.md). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/date.h"
#include "core/error.h"
#include "jobs/cli/cli.h"
#include "jobs/run/job.h"
#include "io/grid/mgrs.h"
#include "jobs/run/plan.h"

void cc_cmd_plan_help(void)
{
    printf("Usage: clearcube plan JOB --nodes N [options]\n"
           "       clearcube plan --europe-year [--nodes N] [options]\n\n"
           "Estimates node-hours and wall time of a job from measured per-stage costs, and simulates\n"
           "the dynamic largest-first scheduler of `clearcube run` with per-item cost variance.\n"
           "Items: every MGRS tile of the job's area x every acquisition in its dates (5-day revisit\n"
           "with Sentinel-2A+2B: ceil(days / 5), 73 a year); the catalogues are not scanned.\n"
           "See docs/scaling.md.\n\n"
           "  --nodes N            nodes of the plan (required with a JOB)\n"
           "  --ranks-per-node R   MPI ranks per node (default: G with GPUs, else cores / 2)\n"
           "  --gpus-per-node G    GPUs per node (default 0: the network runs on the CPU)\n"
           "  --cores-per-node C   CPU cores per node (default 64)\n"
           "  --cost-file FILE     per-item costs from a run-report.json of `clearcube run`\n"
           "                       (default: docs/benchmarks.md's full-tile numbers)\n"
           "  --europe-year        Europe (bbox -31,34,45,72), one year (73 acquisitions per tile),\n"
           "                       with the efficiency table at 16, 32, ..., 1024 ranks\n"
           "  --table              the efficiency table at 16 ... 1024 ranks for a JOB too\n"
           "  --sigma S            lognormal sigma of the per-item cost (default 0.5)\n"
           "  --estimate-sigma S   lognormal sigma of the scheduler's cost estimate (default 0.25)\n"
           "  --seed N             random seed (default 1); the output is deterministic\n");
}

static int parse_int(const char *opt, const char *v, int lo, int hi, int *out)
{
    char *end = NULL;
    long x = strtol(v, &end, 10);
    if (!v[0] || *end || x < lo || x > hi) {
        fprintf(stderr, "clearcube: error: plan: --%s: must be an integer in %d..%d (got '%s')\n", opt, lo, hi, v);
        return -1;
    }
    *out = (int)x;
    return 0;
}

static int parse_nonneg(const char *opt, const char *v, double hi, double *out)
{
    char *end = NULL;
    double x = strtod(v, &end);
    if (!v[0] || *end || !isfinite(x) || x < 0 || x > hi) {
        fprintf(stderr, "clearcube: error: plan: --%s: must be a number in 0..%g (got '%s')\n", opt, hi, v);
        return -1;
    }
    *out = x;
    return 0;
}

/* The job file's dates (checked when the job was loaded). */
static long date_days(const char *s)
{
    long day = 0;
    return cc_date_parse(s, &day) ? day : 0;
}

static void print_result(const char *what, const cc_plan_result *r, const cc_plan_params *p)
{
    printf("%s: %d ranks on %.2f nodes: wall %.2f h, %.1f node-hours (ideal %.1f), parallel efficiency %.3f\n",
           what, r->ranks, (double)r->ranks / p->ranks_per_node, r->wall_s / 3600, r->node_hours,
           r->busy_s / p->ranks_per_node / 3600, r->efficiency);
}

int cc_cmd_plan(int argc, char **argv)
{
    enum { O_NODES = 1, O_RPN, O_GPN, O_CPN, O_COST, O_EUROPE, O_TABLE, O_SIGMA, O_ESIGMA, O_SEED };
    static const struct option lo[] = {
        {"help", no_argument, 0, 'h'},          {"nodes", required_argument, 0, O_NODES},
        {"ranks-per-node", required_argument, 0, O_RPN}, {"gpus-per-node", required_argument, 0, O_GPN},
        {"cores-per-node", required_argument, 0, O_CPN}, {"cost-file", required_argument, 0, O_COST},
        {"europe-year", no_argument, 0, O_EUROPE},       {"table", no_argument, 0, O_TABLE},
        {"sigma", required_argument, 0, O_SIGMA},        {"estimate-sigma", required_argument, 0, O_ESIGMA},
        {"seed", required_argument, 0, O_SEED},          {0, 0, 0, 0}};
    cc_plan_params p = {.nodes = 0, .ranks_per_node = 0, .gpus_per_node = 0, .cores_per_node = 64,
                        .sigma = 0.5, .estimate_sigma = 0.25, .seed = 1};
    const char *cost_file = NULL;
    int europe = 0, table = 0, seed = 1, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'h': cc_cmd_plan_help(); return 0;
        case O_NODES: bad = parse_int("nodes", optarg, 1, 1000000, &p.nodes); break;
        case O_RPN: bad = parse_int("ranks-per-node", optarg, 1, 100000, &p.ranks_per_node); break;
        case O_GPN: bad = parse_int("gpus-per-node", optarg, 0, 1024, &p.gpus_per_node); break;
        case O_CPN: bad = parse_int("cores-per-node", optarg, 1, 100000, &p.cores_per_node); break;
        case O_COST: cost_file = optarg; break;
        case O_EUROPE: europe = 1; break;
        case O_TABLE: table = 1; break;
        case O_SIGMA: bad = parse_nonneg("sigma", optarg, 3, &p.sigma); break;
        case O_ESIGMA: bad = parse_nonneg("estimate-sigma", optarg, 3, &p.estimate_sigma); break;
        case O_SEED: bad = parse_int("seed", optarg, 0, 2147483647, &seed); break;
        default:
            fprintf(stderr, "clearcube: error: plan: unknown option or missing value '%s' (see clearcube plan --help)\n",
                    argv[optind - 1]);
            return 2;
        }
        if (bad)
            return 2;
    }
    p.seed = (uint64_t)seed;
    const char *job_path = optind < argc ? argv[optind] : NULL;
    if (optind + (job_path ? 1 : 0) != argc) {
        fprintf(stderr, "clearcube: error: plan: one JOB at most (got '%s')\n", argv[optind + 1]);
        return 2;
    }
    if (!!job_path == europe) {
        fprintf(stderr, "clearcube: error: plan: give a JOB file or --europe-year (see clearcube plan --help)\n");
        return 2;
    }
    if (job_path && !p.nodes) {
        fprintf(stderr, "clearcube: error: plan: --nodes N is required with a JOB\n");
        return 2;
    }
    if (!p.ranks_per_node)
        p.ranks_per_node = p.gpus_per_node > 0 ? p.gpus_per_node
                                               : (p.cores_per_node >= 2 ? p.cores_per_node / 2 : 1);
    if (p.ranks_per_node > p.cores_per_node) {
        fprintf(stderr, "clearcube: error: plan: --ranks-per-node %d exceeds --cores-per-node %d\n",
                p.ranks_per_node, p.cores_per_node);
        return 2;
    }
    cc_plan_costs costs;
    cc_plan_costs_default(&costs);
    if (cost_file && cc_plan_costs_from_report(cost_file, &costs) != CC_OK) {
        fprintf(stderr, "clearcube: error: plan: %s\n", cc_error_message());
        return 2;
    }

    /* the items: tiles of the area x acquisitions of the dates */
    char **ids = NULL, label[600];
    int ntiles = 0, nids = 0;
    long days = 365;
    cc_job job;
    memset(&job, 0, sizeof job);
    cc_status st = CC_OK;
    if (europe) {
        st = cc_mgrs_tiles_bbox(-31, 34, 45, 72, &ids, &nids);
        ntiles = nids;
        snprintf(label, sizeof label, "Europe (bbox -31,34,45,72), one year");
    } else {
        if ((st = cc_job_load(job_path, &job)) == CC_OK) {
            if (job.area_kind == CC_AREA_BBOX)
                st = cc_mgrs_tiles_bbox(job.bbox[0], job.bbox[1], job.bbox[2], job.bbox[3], &ids, &nids);
            else if (job.area_kind == CC_AREA_GEOJSON)
                st = cc_mgrs_tiles_geojson(job.geojson_path, &ids, &nids);
            if (job.area_kind != CC_AREA_TILES)
                ntiles = nids;
            else
                ntiles = job.ntiles;
            days = date_days(job.end_date) - date_days(job.start_date) + 1;
            snprintf(label, sizeof label, "%s (%s .. %s)", job_path, job.start_date, job.end_date);
        }
    }
    if (st != CC_OK) {
        fprintf(stderr, "clearcube: error: plan: %s\n", cc_error_message());
        cc_mgrs_ids_free(ids, nids);
        cc_job_free(&job);
        return 2;
    }
    cc_mgrs_ids_free(ids, nids);
    cc_job_free(&job);
    int dates = cc_plan_acquisitions((int)days);
    double tw = cc_plan_item_wall(&costs, &p);
    printf("clearcube plan: %s\n", label);
    printf("  items      %ld = %d tiles (ESA tile list, io/grid/mgrs.h) x %d acquisitions per tile\n"
           "             (%ld days, 5-day revisit with Sentinel-2A+2B, every acquisition an item)\n",
           (long)ntiles * dates, ntiles, dates, days);
    if (costs.item_wall_s > 0)
        printf("  costs      from %s: %.1f s per item on one rank, assembly %.1f s per date\n", costs.source,
               costs.item_wall_s, costs.assemble_per_date_s);
    else
        printf("  costs      from %s:\n"
               "             decode %.1f + compute %.1f + write %.1f CPU-s per item%s; assembly %.1f s per date\n",
               costs.source, costs.decode_s, costs.compute_s, costs.write_s,
               p.gpus_per_node > 0 ? " (compute on a GPU: 10 s, NOT measured)" : "", costs.assemble_per_date_s);
    printf("  rank       %.2f cores (%d cores, %d ranks, %d GPUs per node): %.1f s per item (mean)\n",
           (double)p.cores_per_node / p.ranks_per_node, p.cores_per_node, p.ranks_per_node, p.gpus_per_node, tw);
    printf("  scheduler  largest first, dynamic, tile tasks first; %.0f us per hand-out on rank 0\n",
           costs.dispatch_s * 1e6);
    printf("  variance   lognormal sigma %.2f of the real cost, %.2f of the scheduler's estimate; seed %d\n",
           p.sigma, p.estimate_sigma, seed);
    if (ntiles < 1 || dates < 1) {
        printf("  nothing to do (no tile or no date)\n");
        return 0;
    }
    cc_plan_result r;
    if (p.nodes) {
        if (cc_plan_simulate(&costs, &p, ntiles, dates, p.nodes * p.ranks_per_node, &r) != CC_OK) {
            fprintf(stderr, "clearcube: error: plan: %s\n", cc_error_message());
            return 1;
        }
        char what[64];
        snprintf(what, sizeof what, "plan for %d node%s", p.nodes, p.nodes > 1 ? "s" : "");
        print_result(what, &r, &p);
    }
    if (europe || table) {
        printf("\n| ranks | nodes | wall (h) | node-hours | ideal node-hours | parallel efficiency | tail after last item start (h) |\n"
               "|---:|---:|---:|---:|---:|---:|---:|\n");
        for (int ranks = 16; ranks <= 1024; ranks *= 2) {
            if (cc_plan_simulate(&costs, &p, ntiles, dates, ranks, &r) != CC_OK) {
                fprintf(stderr, "clearcube: error: plan: %s\n", cc_error_message());
                return 1;
            }
            printf("| %d | %.2f | %.2f | %.1f | %.1f | %.3f | %.2f |\n", ranks, (double)ranks / p.ranks_per_node,
                   r.wall_s / 3600, r.node_hours, r.busy_s / p.ranks_per_node / 3600, r.efficiency,
                   r.tail_s / 3600);
        }
    }
    return 0;
}
