/* clearcube plan: a cost model and a discrete-event simulation of the
 * `clearcube run` scheduler (issue 5, docs/scaling.md).
 *
 * Costs of one work item (one tile, one date) come from measured per-stage
 * numbers (docs/benchmarks.md, full-tile streaming) or from a run report of
 * `clearcube run` (--cost-file). The simulation replays the dynamic scheduler
 * of jobs/run/scheduler.c: items handed out in decreasing order of their estimated cost,
 * pulled by every rank (rank 0 included) one at a time, a tile's cube
 * assembled by one rank once all its items are final (tile tasks before
 * items), rank 0 handing out at most one task per `dispatch_s`. Real costs
 * vary around the mean (lognormal, seeded); the scheduler's estimate (input
 * bytes) is the real cost times a second lognormal factor. Deterministic for a
 * given seed. */
#ifndef CC_JOBS_RUN_PLAN_H
#define CC_JOBS_RUN_PLAN_H

#include <stdint.h>

#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    /* per item, CPU-seconds on a full 10980 x 10980 tile */
    double decode_s, compute_s, write_s;
    double gpu_compute_s;       /* per item on a GPU (replaces compute_s)          */
    double assemble_per_date_s; /* tile cube assembly, per date (one rank)         */
    double dispatch_s;          /* rank 0's time per handed-out task               */
    double item_wall_s;         /* > 0: measured wall per item on one rank (cost file) */
    char source[256];
} cc_plan_costs;

typedef struct {
    int nodes, ranks_per_node, gpus_per_node, cores_per_node;
    double sigma;               /* lognormal sigma of the real per-item cost       */
    double estimate_sigma;      /* lognormal sigma of the estimate / real ratio    */
    uint64_t seed;
} cc_plan_params;

typedef struct {
    int ranks, nodes;
    double item_wall_s;         /* mean wall of one item on one rank               */
    double busy_s;              /* sum of all task times (items + tiles)           */
    double wall_s;              /* simulated makespan                              */
    double ideal_wall_s;        /* busy_s / ranks                                  */
    double efficiency;          /* busy_s / (ranks * wall_s)                       */
    double node_hours;          /* ranks / ranks_per_node * wall_s / 3600          */
    double tail_s;              /* wall after the last item started                */
} cc_plan_result;

/* The defaults: docs/benchmarks.md's measured full-tile stage costs. */
void cc_plan_costs_default(cc_plan_costs *c);
/* Overrides item_wall_s and assemble_per_date_s from a run-report.json of
 * `clearcube run` (jobs/run/report.c): sum over ranks of item+validate+commit
 * seconds / items done, assemble seconds / items done. */
cc_status cc_plan_costs_from_report(const char *path, cc_plan_costs *c);
/* Mean wall of one item on one rank: with a cost file its measurement, else
 * max(CPU-seconds / cores per rank, the single-threaded writer, the GPU share). */
double cc_plan_item_wall(const cc_plan_costs *c, const cc_plan_params *p);

/* Simulates `ntiles` tiles x `dates` items on `ranks` ranks. */
cc_status cc_plan_simulate(const cc_plan_costs *c, const cc_plan_params *p, int ntiles, int dates,
                           int ranks, cc_plan_result *out);

/* Acquisitions of one tile in `days` days: a 5-day revisit with two satellites
 * (Sentinel-2A + 2B), every acquisition an item: ceil(days / 5), 73 a year. */
int cc_plan_acquisitions(int days);

#ifdef __cplusplus
}
#endif
#endif
