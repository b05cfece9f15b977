/* clearcube plan: cost model and scheduler simulation (jobs/run/plan.h). */
#include "jobs/run/plan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

void cc_plan_costs_default(cc_plan_costs *c)
{
    memset(c, 0, sizeof *c);
    /* docs/benchmarks.md, "Full-tile streaming", model A on a whole SIMULATED
     * 10980 x 10980 13-band tile (AMD EPYC, CPU, process CPU 187.9 s):
     * - decode 78 CPU-s: JP2 decoding in GDAL's threads ~65 CPU-s ("the rest
     *   (~115 s) JP2 decoding ... and the network (~50 CPU-s)"; hpc-notes:
     *   65-70 CPU-s per tile) + the reader thread 13 CPU-s (window assembly,
     *   20/60 m upsampling);
     * - compute 50 CPU-s: the network, model A (compute stage 48.4 s wall at
     *   2.49 Mpx/s, "the network (~50 CPU-s)");
     * - write 59.9 CPU-s: the writer thread (deflate + shuffle, ONE thread:
     *   HDF5 filters run in the writing thread), a floor of an item's wall. */
    c->decode_s = 78.0;
    c->compute_s = 50.0;
    c->write_s = 59.9;
    /* NOT measured (no GPU here): design.md's claim of ~10 s per tile on a GPU */
    c->gpu_compute_s = 10.0;
    /* NOT measured at full size: assembling a tile cube decompresses each
     * committed date and deflates it again (jobs/run/assemble.c assemble_tile), taken
     * as the cost of writing it once (59.9 s, above) */
    c->assemble_per_date_s = 59.9;
    /* bench/dispatch (docs/scaling.md): rank 0's time per handed-out task */
    c->dispatch_s = 50e-6;
    snprintf(c->source, sizeof c->source, "docs/benchmarks.md (full tile, model A, CPU)");
}

cc_status cc_plan_costs_from_report(const char *path, cc_plan_costs *c)
{
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (!root)
        return cc_error_set(CC_ERR_ARG, "--cost-file %s: %s (line %d)", path, err.text, err.line);
    json_t *stages = json_object_get(root, "stages");
    double item = 0, assemble = 0, done = 0;
    size_t k;
    json_t *r;
    if (!json_is_array(stages)) {
        json_decref(root);
        return cc_error_set(CC_ERR_ARG, "--cost-file %s: no \"stages\" array (not a run-report.json)", path);
    }
    json_array_foreach(stages, k, r) {
        item += json_number_value(json_object_get(r, "item_s")) +
                json_number_value(json_object_get(r, "validate_s")) +
                json_number_value(json_object_get(r, "commit_s"));
        assemble += json_number_value(json_object_get(r, "assemble_s"));
        done += json_number_value(json_object_get(r, "items_done"));
    }
    json_decref(root);
    if (!(done > 0) || !(item > 0))
        return cc_error_set(CC_ERR_ARG, "--cost-file %s: no item was done in that run", path);
    c->item_wall_s = item / done;
    c->assemble_per_date_s = assemble / done;
    snprintf(c->source, sizeof c->source, "%s (%.0f items)", path, done);
    return CC_OK;
}

double cc_plan_item_wall(const cc_plan_costs *c, const cc_plan_params *p)
{
    if (c->item_wall_s > 0)
        return c->item_wall_s;
    double cores = (double)p->cores_per_node / p->ranks_per_node;
    double cpu = c->decode_s + c->write_s + (p->gpus_per_node > 0 ? 0 : c->compute_s);
    double t = cpu / cores;
    if (t < c->write_s)
        t = c->write_s; /* the writer is one thread */
    if (p->gpus_per_node > 0) {
        double gpu = c->gpu_compute_s * p->ranks_per_node / p->gpus_per_node; /* ranks sharing a GPU */
        if (t < gpu)
            t = gpu;
    }
    return t;
}

int cc_plan_acquisitions(int days)
{
    return days < 1 ? 0 : (days + 4) / 5;
}

/* ---- deterministic random numbers: splitmix64, Box-Muller ---- */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double uniform01(uint64_t *s) /* (0, 1) */
{
    return ((double)(splitmix(s) >> 11) + 0.5) / 9007199254740992.0;
}

static double normal(uint64_t *s)
{
    double u = uniform01(s), v = uniform01(s);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* mean-1 lognormal factor */
static double lognormal(uint64_t *s, double sigma)
{
    return sigma > 0 ? exp(sigma * normal(s) - 0.5 * sigma * sigma) : 1.0;
}

typedef struct {
    double cost, key;
    int tile;
} sim_item;

static int cmp_key(const void *a, const void *b)
{
    const sim_item *x = a, *y = b;
    if (x->key != y->key)
        return x->key > y->key ? -1 : 1;
    return (x > y) - (x < y);
}

/* min-heap of (time, rank) */
typedef struct {
    double t;
    int r;
} ev;

static void heap_push(ev *h, int *n, ev e)
{
    int i = (*n)++;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (h[p].t < e.t || (h[p].t == e.t && h[p].r < e.r))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
}

static ev heap_pop(ev *h, int *n)
{
    ev top = h[0], last = h[--(*n)];
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, m = i;
        if (l >= *n)
            break;
        m = l;
        if (l + 1 < *n && (h[l + 1].t < h[l].t || (h[l + 1].t == h[l].t && h[l + 1].r < h[l].r)))
            m = l + 1;
        if (last.t < h[m].t || (last.t == h[m].t && last.r <= h[m].r))
            break;
        h[i] = h[m];
        i = m;
    }
    h[i] = last;
    return top;
}

cc_status cc_plan_simulate(const cc_plan_costs *c, const cc_plan_params *p, int ntiles, int dates, int ranks,
                           cc_plan_result *out)
{
    memset(out, 0, sizeof *out);
    if (ntiles < 1 || dates < 1 || ranks < 1)
        return cc_error_set(CC_ERR_ARG, "plan: nothing to simulate (%d tiles, %d dates, %d ranks)", ntiles,
                            dates, ranks);
    long n = (long)ntiles * dates;
    double tw = cc_plan_item_wall(c, p);
    sim_item *it = malloc((size_t)n * sizeof *it);
    int *left = malloc((size_t)ntiles * sizeof *left);
    double *tile_cost = malloc((size_t)ntiles * sizeof *tile_cost);
    int *ready = malloc((size_t)ntiles * sizeof *ready);
    int *waiting = malloc((size_t)ranks * sizeof *waiting);
    int *task_tile = malloc((size_t)ranks * sizeof *task_tile); /* -1 item, -2 none, else tile task */
    int *item_of = malloc((size_t)ranks * sizeof *item_of);
    ev *heap = malloc((size_t)ranks * sizeof *heap);
    if (!it || !left || !tile_cost || !ready || !waiting || !task_tile || !item_of || !heap) {
        free(it), free(left), free(tile_cost), free(ready), free(waiting), free(task_tile), free(item_of),
            free(heap);
        return cc_error_set(CC_ERR_NOMEM, "plan: out of memory (%ld items)", n);
    }
    uint64_t s = p->seed;
    double busy = 0;
    for (long i = 0; i < n; i++) {
        it[i].tile = (int)(i / dates);
        it[i].cost = tw * lognormal(&s, p->sigma);
        it[i].key = it[i].cost * lognormal(&s, p->estimate_sigma);
        busy += it[i].cost;
    }
    for (int t = 0; t < ntiles; t++) {
        left[t] = dates;
        tile_cost[t] = c->assemble_per_date_s * dates;
        busy += tile_cost[t];
    }
    qsort(it, (size_t)n, sizeof *it, cmp_key);
    long next = 0;
    int rhead = 0, rtail = 0, nwait = 0, nh = 0;
    double disp_free = 0, wall = 0, last_item_start = 0;
    for (int r = 0; r < ranks; r++) {
        task_tile[r] = -2;
        heap_push(heap, &nh, (ev){0, r});
    }
    /* hands rank r a task at time t (rank 0 serialises the hand-outs);
     * returns 0 if there is nothing to hand out now */
#define ASSIGN(r_, t_, ok_)                                                          \
    do {                                                                             \
        double at_ = (t_) > disp_free ? (t_) : disp_free;                            \
        ok_ = 1;                                                                     \
        if (rhead != rtail) {                                                        \
            int tl_ = ready[rhead++];                                                \
            task_tile[r_] = tl_;                                                     \
            disp_free = at_ + c->dispatch_s;                                         \
            heap_push(heap, &nh, (ev){disp_free + tile_cost[tl_], r_});              \
        } else if (next < n) {                                                       \
            task_tile[r_] = -1;                                                      \
            item_of[r_] = (int)next;                                                 \
            disp_free = at_ + c->dispatch_s;                                         \
            last_item_start = disp_free;                                             \
            heap_push(heap, &nh, (ev){disp_free + it[next].cost, r_});               \
            next++;                                                                  \
        } else {                                                                     \
            ok_ = 0;                                                                 \
        }                                                                            \
    } while (0)
    while (nh > 0) {
        ev e = heap_pop(heap, &nh);
        int r = e.r, ok;
        if (e.t > wall)
            wall = e.t;
        if (task_tile[r] == -1) { /* an item ended: its tile may be ready */
            int tl = it[item_of[r]].tile;
            if (--left[tl] == 0) {
                ready[rtail++] = tl;
                while (nwait > 0 && rhead != rtail) { /* deferred requests first */
                    int w = waiting[--nwait];
                    ASSIGN(w, e.t, ok);
                }
            }
        }
        task_tile[r] = -2;
        ASSIGN(r, e.t, ok);
        if (!ok && (next < n || rhead != rtail || nh > 0))
            waiting[nwait++] = r; /* in flight elsewhere: a tile may become ready */
    }
#undef ASSIGN
    out->ranks = ranks;
    out->nodes = (ranks + p->ranks_per_node - 1) / p->ranks_per_node;
    out->item_wall_s = tw;
    out->busy_s = busy;
    out->wall_s = wall;
    out->ideal_wall_s = busy / ranks;
    out->efficiency = wall > 0 ? busy / (ranks * wall) : 0;
    out->node_hours = (double)ranks / p->ranks_per_node * wall / 3600.0; /* charged by the share of nodes */
    out->tail_s = wall - last_item_start;
    free(it), free(left), free(tile_cost), free(ready), free(waiting), free(task_tile), free(item_of), free(heap);
    return CC_OK;
}
