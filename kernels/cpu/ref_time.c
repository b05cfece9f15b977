/* clearcube: the CPU backend's CC_OP_CONV1D_TIME group and its fusion with the
 * per-pixel groups around it (kernels/cpu/ref-impl.h, kernels/cpu/ref.c). */
#include <stdlib.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels/cpu/ref-impl.h"

/* ---- group: CC_OP_CONV1D_TIME (+ the per-pixel groups around it) ----
 * CPU-internal fusion (the plan is unchanged): a per-pixel group producing the
 * conv's input (pre) and one consuming its result (post) run with it tile by
 * tile: for CPU_TILE spatial pixels, pre on the T days of the tile, then the
 * temporal conv (conv_taps over the valid time offsets) and post day by day,
 * all in per-thread buffers (no T x H x W tensors, one parallel region). Every
 * element is computed with the same operations in the same order as the
 * unfused groups (whatever the tile, the batch or the thread), so results are
 * bit-identical to them. When there are fewer tiles than threads, the groups
 * run unfused (same bits) so that small windows with long T still use every
 * thread. */

/* The conv_taps call of output day t of conv node ni for np pixels: day ts of
 * the input at xin + ts*tstride (pixel stride cin). */
static void time_conv_day(const cc_cpu_run *r, int ni, int T, int t, const float *xin, size_t tstride,
                          size_t np, float *y)
{
    const cc_cpu_conv *c = &r->conv[ni];
    const int kt = c->k, left = (kt - 1) / 2;
    const size_t tap_w = (size_t)c->cin * (size_t)c->ldw;
    const float *xs[CC_CPU_MAX_TAPS];
    const float *ws[CC_CPU_MAX_TAPS];
    int nt = 0;
    for (int j = 0; j < kt; j++) {
        const int ts = t + j - left;
        if (ts < 0 || ts >= T)
            continue;
        xs[nt] = xin + (size_t)ts * tstride;
        ws[nt] = c->w + (size_t)j * tap_w;
        nt++;
    }
    r->k->conv_taps(c, np, nt, xs, ws, y); /* nt >= 1: tap j = left is ts = t */
}

cc_status cc_cpu_run_time_group(cc_cpu_run *r, const cc_nn_group *g, const cc_cpu_time_chain *tc)
{
    const cc_nn_model *m = r->m;
    const cc_nn_plan *p = r->p;
    const int ni = g->node[0];
    const int *is = p->shape[g->inputs[0]];
    const int T = is[0], cin = is[3], cout = m->nodes[ni].cout;
    const size_t hw = (size_t)is[1] * (size_t)is[2];
    const long ntiles = (long)((hw + CPU_TILE - 1) / CPU_TILE);
    const cc_nn_group *pre = tc->pre, *post = tc->post;
    if (ntiles < r->nthreads && (pre || post)) { /* unfused: parallel over days too */
        cc_status st = CC_OK;
        if (pre)
            st = cc_cpu_run_pixel_group(r, pre);
        if (st == CC_OK) {
            const cc_cpu_time_chain none = {NULL, NULL};
            st = cc_cpu_run_time_group(r, g, &none);
        }
        if (st == CC_OK && post)
            st = cc_cpu_run_pixel_group(r, post);
        return st;
    }
    /* per thread: the conv input of the tile's T days (pre), one day of conv
     * output (post), two pixel tiles for pre/post */
    const size_t xin_floats = pre ? (size_t)T * CPU_TILE * (size_t)cin : 0;
    const size_t y_floats = post ? (size_t)CPU_TILE * (size_t)cout : 0;
    int maxc = 0;
    if (pre)
        maxc = cc_cpu_group_max_channels(m, pre);
    if (post && cc_cpu_group_max_channels(m, post) > maxc)
        maxc = cc_cpu_group_max_channels(m, post);
    const size_t tile_floats = (size_t)CPU_TILE * (size_t)maxc;
    const size_t per_thread = (xin_floats + y_floats + 2 * tile_floats + 15) / 16 * 16;
    float *scratch = NULL;
    if (per_thread) {
        scratch = cc_cpu_aligned_floats(per_thread * (size_t)r->nthreads);
        if (!scratch)
            return CC_ERR_NOMEM;
    }
    const float *x = pre ? NULL : cc_cpu_node_tensor(r, g->inputs[0]);
    const float *pre_src = pre && !pre->reads_dn ? cc_cpu_node_tensor(r, pre->inputs[0]) : NULL;
    const size_t pre_src_c = pre_src ? (size_t)m->nodes[pre->inputs[0]].cout : 0;
    float *y = post ? NULL : cc_cpu_node_tensor(r, g->result);
    float *pdst = post && !post->writes_out ? cc_cpu_node_tensor(r, post->result) : NULL;
    const size_t pdst_c = pdst ? (size_t)m->nodes[post->result].cout : 0;
    /* tile-major when fused (everything of a tile stays in cache), else one
     * work item per (day, tile) */
    const long nitems = pre || post ? ntiles : (long)T * ntiles;

    /* dynamic: a thread slowed down by other load does not hold the others at
     * the barrier; an item's result does not depend on the thread running it */
#pragma omp parallel for schedule(dynamic, 4) num_threads(r->nthreads)
    for (long it = 0; it < nitems; it++) {
        float *mine = scratch ? scratch + per_thread * (size_t)cc_cpu_thread_id() : NULL;
        float *xin = mine;
        float *ybuf = mine ? mine + xin_floats : NULL;
        float *bufs[2] = {mine ? mine + xin_floats + y_floats : NULL,
                          mine ? mine + xin_floats + y_floats + tile_floats : NULL};
        const long tile = it % ntiles;
        const size_t x0 = (size_t)tile * CPU_TILE;
        const size_t np = hw - x0 < CPU_TILE ? hw - x0 : CPU_TILE;
        if (!pre && !post) {
            const int t = (int)(it / ntiles);
            time_conv_day(r, ni, T, t, x + x0 * (size_t)cin, hw * (size_t)cin, np,
                          y + ((size_t)t * hw + x0) * (size_t)cout);
            continue;
        }
        const float *xb;
        size_t tstride;
        if (pre) {
            for (int t = 0; t < T; t++) {
                const size_t p0 = (size_t)t * hw + x0;
                cc_cpu_pixel_tile(r, pre, p0, np, pre_src ? pre_src + p0 * pre_src_c : NULL, bufs,
                                  xin + (size_t)t * np * (size_t)cin);
            }
            xb = xin;
            tstride = np * (size_t)cin;
        } else {
            xb = x + x0 * (size_t)cin;
            tstride = hw * (size_t)cin;
        }
        for (int t = 0; t < T; t++) {
            const size_t p0 = (size_t)t * hw + x0;
            float *yo = post ? ybuf : y + p0 * (size_t)cout;
            time_conv_day(r, ni, T, t, xb, tstride, np, yo);
            if (post)
                cc_cpu_pixel_tile(r, post, p0, np, ybuf, bufs, pdst ? pdst + p0 * pdst_c : NULL);
        }
    }
    free(scratch);
    return CC_OK;
}

