/* clearcube: streaming inference in overlapping windows (pipeline/boa/infer.h).
 *
 * Threads: the reader (a pthread) fills input windows from the source, the
 * calling thread runs the network (OpenMP inside cc_nn_run), the writer (a
 * pthread) hands window cores to the sink. Buffers circulate through two
 * pools (free input / free output buffers, NBUF each) and two bounded FIFO
 * queues of QCAP windows (read -> compute, compute -> write). Every stage
 * handles windows in index order, so the output does not depend on timing.
 * The first error anywhere sets `abort` under the lock and wakes everyone. */
#define _POSIX_C_SOURCE 200809L

#include "pipeline/boa/infer.h"

#include "io/grid/upsample.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/log.h"
#include "kernels/backend-impl.h" /* cc_nn_plan_make: the network's working memory */

#define QCAP 2            /* windows per queue                                   */
#define NBUF (QCAP + 2)   /* buffers per pool: queue + producer + consumer       */
#define DEFAULT_BUDGET ((size_t)1536 << 20)
#define MAX_CORE 1024     /* larger windows only delay the first write           */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double thread_cpu_s(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0.0;
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int round_up(int v, int m) { return (v + m - 1) / m * m; }

void cc_infer_options_init(cc_infer_options *o)
{
    memset(o, 0, sizeof *o);
    o->pipelined = 1;
    o->fail_read_at = -1;
}

/* ---- geometry ------------------------------------------------------------ */

typedef struct {
    int idx;
    int cx0, cy0, cw, ch;   /* core                                                */
    int wx0, wy0, ww, wh;   /* window (core + halo, clipped, padded to multiple)  */
} win_geom;

typedef struct {
    int width, height;      /* raster                                              */
    int pw, ph;             /* padded to size_multiple                             */
    int core, halo;
    int nx, ny;
} layout;

static void window_of(const layout *L, int idx, win_geom *g)
{
    int ix = idx % L->nx, iy = idx / L->nx;
    g->idx = idx;
    g->cx0 = ix * L->core;
    g->cy0 = iy * L->core;
    g->cw = L->width - g->cx0 < L->core ? L->width - g->cx0 : L->core;
    g->ch = L->height - g->cy0 < L->core ? L->height - g->cy0 : L->core;
    int x1 = g->cx0 + L->core + L->halo, y1 = g->cy0 + L->core + L->halo;
    g->wx0 = g->cx0 - L->halo > 0 ? g->cx0 - L->halo : 0;
    g->wy0 = g->cy0 - L->halo > 0 ? g->cy0 - L->halo : 0;
    g->ww = (x1 < L->pw ? x1 : L->pw) - g->wx0;
    g->wh = (y1 < L->ph ? y1 : L->ph) - g->wy0;
}

/* Bytes of NBUF input windows, NBUF output cores, one window output and the
 * network's working memory for a (ww x wh) window. */
static cc_status window_bytes(const cc_nn_model *m, int ww, int wh, int core, size_t *bytes)
{
    cc_nn_plan p;
    cc_status st = cc_nn_plan_make(m, 1, wh, ww, &p);
    if (st != CC_OK)
        return st;
    const size_t win = (size_t)ww * (size_t)wh, nin = (size_t)m->input.nchannels;
    const size_t nout = (size_t)m->nodes[m->output_node].cout;
    *bytes = NBUF * win * nin * 2 + NBUF * (size_t)core * (size_t)core * nout * 2 +
             win * nout * 2 + p.total_floats * sizeof(float);
    cc_nn_plan_free(&p);
    return CC_OK;
}

cc_status cc_infer_plan(const cc_nn_model *m, int width, int height, const cc_infer_options *o,
                        int *core, int *halo, size_t *bytes)
{
    if (!m || m->output_node < 0 || width <= 0 || height <= 0)
        return cc_error_set(CC_ERR_ARG, "infer: no model or empty raster %dx%d", width, height);
    const int mult = m->size_multiple > 0 ? m->size_multiple : 1;
    const int H = round_up(m->halo, mult);
    const int pw = round_up(width, mult), ph = round_up(height, mult);
    const int big = pw > ph ? pw : ph;
    const size_t budget = o && o->mem_budget ? o->mem_budget : DEFAULT_BUDGET;
    int c = o && o->core > 0 ? round_up(o->core, mult) : 0;
    size_t b = 0;
    cc_status st;
    if (c > big)
        c = big;
    if (c == 0) {
        /* the largest candidate within the budget; multiples of 512 keep the
         * cube's 512x512 chunks whole */
        static const int cand[] = {MAX_CORE, 768, 512, 384, 256, 192, 128, 96, 64};
        for (size_t i = 0; i < sizeof cand / sizeof cand[0]; i++) {
            c = round_up(cand[i] < big ? cand[i] : big, mult);
            int ww = c + 2 * H < pw ? c + 2 * H : pw, wh = c + 2 * H < ph ? c + 2 * H : ph;
            if ((st = window_bytes(m, ww, wh, c, &b)) != CC_OK)
                return st;
            if (b <= budget)
                break;
        }
        if (b > budget)
            return cc_error_set(CC_ERR_NOMEM, "infer: even %dx%d windows need %.0f MiB, over the "
                                "budget of %.0f MiB", c, c, (double)b / 1048576.0,
                                (double)budget / 1048576.0);
    } else {
        int ww = c + 2 * H < pw ? c + 2 * H : pw, wh = c + 2 * H < ph ? c + 2 * H : ph;
        if ((st = window_bytes(m, ww, wh, c, &b)) != CC_OK)
            return st;
    }
    *core = c;
    *halo = H;
    if (bytes)
        *bytes = b;
    return CC_OK;
}

/* ---- queues ---------------------------------------------------------------- */

typedef struct {
    win_geom g;
    uint16_t *buf;
} win_buf;

typedef struct {
    win_buf *item[NBUF];
    int head, count, cap;
    int closed;             /* producer finished: drain, then NULL                 */
} fifo;

typedef struct {
    const cc_nn_model *m;
    const cc_nn_backend *be;
    const cc_infer_source *src;
    const cc_infer_sink *sink;
    const cc_infer_options *opt;
    layout L;
    int nwin;

    pthread_mutex_t mu;
    pthread_cond_t cv;      /* any change of any queue or of `abort`              */
    fifo in_free, in_full, out_free, out_full;
    int abort;
    cc_status err;
    char errmsg[1024];

    double read_s, compute_s, write_s, wait_compute_s;
    double read_cpu_s, write_cpu_s;
} infer_ctx;

/* Records the first error (stage, window, message of this thread) and stops
 * every stage. */
static void fail(infer_ctx *c, const char *stage, const win_geom *g, cc_status st)
{
    pthread_mutex_lock(&c->mu);
    if (!c->abort) {
        c->abort = 1;
        c->err = st;
        if (g)
            snprintf(c->errmsg, sizeof c->errmsg, "%s window %d (%dx%d at %d,%d) %s %s: %s",
                     stage, g->idx, g->ww, g->wh, g->wx0, g->wy0,
                     stage[0] == 'w' ? "to" : "of",
                     stage[0] == 'w' ? (c->sink->name ? c->sink->name : "sink")
                                     : (c->src->name ? c->src->name : "source"),
                     cc_error_message());
        else
            snprintf(c->errmsg, sizeof c->errmsg, "%s: %s", stage, cc_error_message());
    }
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void fifo_push_locked(fifo *q, win_buf *w)
{
    CC_ASSERT(q->count < q->cap);
    q->item[(q->head + q->count) % NBUF] = w;
    q->count++;
}

/* Blocks until there is room, then appends; returns 0 if aborted. */
static int push(infer_ctx *c, fifo *q, win_buf *w)
{
    pthread_mutex_lock(&c->mu);
    while (!c->abort && q->count >= q->cap)
        pthread_cond_wait(&c->cv, &c->mu);
    int ok = !c->abort;
    if (ok) {
        fifo_push_locked(q, w);
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
    return ok;
}

/* Blocks until an item is there; NULL when aborted or closed and drained. */
static win_buf *pop(infer_ctx *c, fifo *q)
{
    win_buf *w = NULL;
    pthread_mutex_lock(&c->mu);
    while (!c->abort && q->count == 0 && !q->closed)
        pthread_cond_wait(&c->cv, &c->mu);
    if (!c->abort && q->count > 0) {
        w = q->item[q->head];
        q->head = (q->head + 1) % NBUF;
        q->count--;
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
    return w;
}

static void close_fifo(infer_ctx *c, fifo *q)
{
    pthread_mutex_lock(&c->mu);
    q->closed = 1;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* ---- stages -------------------------------------------------------------- */

/* Fills w->buf with window g: the raster part from the source, DN 0 in the
 * size_multiple padding beyond the raster. */
static cc_status read_window(infer_ctx *c, const win_geom *g, uint16_t *buf)
{
    const int nin = c->src->nchannels;
    const int rw = (g->wx0 + g->ww <= c->L.width ? g->ww : c->L.width - g->wx0);
    const int rh = (g->wy0 + g->wh <= c->L.height ? g->wh : c->L.height - g->wy0);
    if (c->opt->fail_read_at == g->idx)
        return cc_error_set(CC_ERR_IO, "%s: injected read failure", c->src->name);
    if (rw == g->ww) {
        cc_status st = c->src->read(c->src->ctx, g->wx0, g->wy0, rw, rh, buf);
        if (st != CC_OK)
            return st;
    } else {
        /* read the raster part compactly, then spread the rows out */
        cc_status st = c->src->read(c->src->ctx, g->wx0, g->wy0, rw, rh, buf);
        if (st != CC_OK)
            return st;
        const size_t rowin = (size_t)rw * (size_t)nin, rowout = (size_t)g->ww * (size_t)nin;
        for (int r = rh - 1; r >= 0; r--) {
            memmove(buf + (size_t)r * rowout, buf + (size_t)r * rowin, rowin * sizeof *buf);
            memset(buf + (size_t)r * rowout + rowin, 0, (rowout - rowin) * sizeof *buf);
        }
    }
    if (rh < g->wh)
        memset(buf + (size_t)rh * (size_t)g->ww * (size_t)nin, 0,
               (size_t)(g->wh - rh) * (size_t)g->ww * (size_t)nin * sizeof *buf);
    return CC_OK;
}

/* Runs the network on window g and copies its core into core_out. */
static cc_status compute_window(infer_ctx *c, const win_geom *g, const uint16_t *in,
                                uint16_t *win_out, uint16_t *core_out)
{
    const size_t nout = (size_t)c->sink->nchannels;
    cc_status st = cc_nn_run(c->be, c->m, 1, g->wh, g->ww, in, win_out);
    if (st != CC_OK)
        return st;
    const int ox = g->cx0 - g->wx0, oy = g->cy0 - g->wy0;
    for (int r = 0; r < g->ch; r++)
        memcpy(core_out + (size_t)r * (size_t)g->cw * nout,
               win_out + (((size_t)(oy + r) * (size_t)g->ww) + (size_t)ox) * nout,
               (size_t)g->cw * nout * sizeof *core_out);
    return CC_OK;
}

static void reader_loop(infer_ctx *c)
{
    for (int i = 0; i < c->nwin; i++) {
        win_buf *w = pop(c, &c->in_free);
        if (!w)
            return;
        window_of(&c->L, i, &w->g);
        double t0 = now_s();
        cc_status st = read_window(c, &w->g, w->buf);
        c->read_s += now_s() - t0;
        if (st != CC_OK) {
            fail(c, "read", &w->g, st);
            return;
        }
        if (!push(c, &c->in_full, w))
            return;
    }
    close_fifo(c, &c->in_full);
}

static void *reader_main(void *arg)
{
    infer_ctx *c = arg;
    reader_loop(c);
    c->read_cpu_s = thread_cpu_s();
    return NULL;
}

static void writer_loop(infer_ctx *c)
{
    win_buf *w;
    while ((w = pop(c, &c->out_full)) != NULL) {
        double t0 = now_s();
        cc_status st = c->sink->write(c->sink->ctx, w->g.cx0, w->g.cy0, w->g.cw, w->g.ch, w->buf);
        c->write_s += now_s() - t0;
        if (st != CC_OK) {
            fail(c, "write", &w->g, st);
            return;
        }
        if (c->opt->progress > 0 && ((w->g.idx + 1) % c->opt->progress == 0 ||
                                     w->g.idx + 1 == c->nwin))
            cc_info("infer: %d/%d windows written", w->g.idx + 1, c->nwin);
        if (!push(c, &c->out_free, w))
            return;
    }
}

static void *writer_main(void *arg)
{
    infer_ctx *c = arg;
    writer_loop(c);
    c->write_cpu_s = thread_cpu_s();
    return NULL;
}

/* The compute stage, on the calling thread. */
static void compute_loop(infer_ctx *c, uint16_t *win_out)
{
    for (;;) {
        double t0 = now_s();
        win_buf *in = pop(c, &c->in_full);
        win_buf *out = in ? pop(c, &c->out_free) : NULL;
        c->wait_compute_s += now_s() - t0;
        if (!in || !out)
            break;
        t0 = now_s();
        out->g = in->g;
        cc_status st = compute_window(c, &in->g, in->buf, win_out, out->buf);
        c->compute_s += now_s() - t0;
        if (st != CC_OK) {
            fail(c, "compute", &in->g, st);
            break;
        }
        if (!push(c, &c->in_free, in) || !push(c, &c->out_full, out))
            break;
    }
    close_fifo(c, &c->out_full);
}

/* One thread, same stages in the same order (opt->pipelined == 0). */
static void serial_loop(infer_ctx *c, win_buf *in, win_buf *out, uint16_t *win_out)
{
    for (int i = 0; i < c->nwin; i++) {
        window_of(&c->L, i, &in->g);
        out->g = in->g;
        double t0 = now_s();
        cc_status st = read_window(c, &in->g, in->buf);
        double t1 = now_s();
        c->read_s += t1 - t0;
        if (st != CC_OK) {
            fail(c, "read", &in->g, st);
            return;
        }
        st = compute_window(c, &in->g, in->buf, win_out, out->buf);
        double t2 = now_s();
        c->compute_s += t2 - t1;
        if (st != CC_OK) {
            fail(c, "compute", &in->g, st);
            return;
        }
        st = c->sink->write(c->sink->ctx, out->g.cx0, out->g.cy0, out->g.cw, out->g.ch, out->buf);
        c->write_s += now_s() - t2;
        if (st != CC_OK) {
            fail(c, "write", &out->g, st);
            return;
        }
    }
}

cc_status cc_infer_run(const cc_nn_model *m, const cc_infer_source *src,
                       const cc_infer_sink *sink, const cc_infer_options *o,
                       cc_infer_stats *stats)
{
    cc_status st = CC_OK;
    cc_infer_options defaults;
    infer_ctx c;
    win_buf bufs[2 * NBUF];
    uint16_t *win_out = NULL;
    int mu_ok = 0, cv_ok = 0, reader_started = 0, writer_started = 0;
    pthread_t reader, writer;
    double t_start = now_s();
    size_t bytes = 0;

    memset(&c, 0, sizeof c);
    memset(bufs, 0, sizeof bufs);
    if (stats)
        memset(stats, 0, sizeof *stats);
    if (!o) {
        cc_infer_options_init(&defaults);
        o = &defaults;
    }
    if (!m || !src || !sink || !src->read || !sink->write) {
        st = cc_error_set(CC_ERR_ARG, "infer: NULL model, source or sink");
        goto out;
    }
    if (src->nchannels != m->input.nchannels) {
        st = cc_error_set(CC_ERR_ARG, "infer: %s has %d channels, the model takes %d",
                          src->name ? src->name : "source", src->nchannels, m->input.nchannels);
        goto out;
    }
    if (sink->nchannels != m->nodes[m->output_node].cout) {
        st = cc_error_set(CC_ERR_ARG, "infer: %s takes %d channels, the model gives %d",
                          sink->name ? sink->name : "sink", sink->nchannels,
                          m->nodes[m->output_node].cout);
        goto out;
    }
    c.m = m;
    c.be = o->backend ? o->backend : cc_nn_backend_cpu();
    c.src = src;
    c.sink = sink;
    c.opt = o;
    {
        const int mult = m->size_multiple > 0 ? m->size_multiple : 1;
        c.L.width = src->width;
        c.L.height = src->height;
        c.L.pw = round_up(src->width, mult);
        c.L.ph = round_up(src->height, mult);
        if ((st = cc_infer_plan(m, src->width, src->height, o, &c.L.core, &c.L.halo, &bytes)) !=
            CC_OK)
            goto out;
        c.L.nx = (src->width + c.L.core - 1) / c.L.core;
        c.L.ny = (src->height + c.L.core - 1) / c.L.core;
        c.nwin = c.L.nx * c.L.ny;
    }
    /* buffers: the largest window and core */
    {
        const int wmax_w = c.L.core + 2 * c.L.halo < c.L.pw ? c.L.core + 2 * c.L.halo : c.L.pw;
        const int wmax_h = c.L.core + 2 * c.L.halo < c.L.ph ? c.L.core + 2 * c.L.halo : c.L.ph;
        const size_t win = (size_t)wmax_w * (size_t)wmax_h;
        const size_t core = (size_t)c.L.core * (size_t)c.L.core;
        const int nb = o->pipelined ? NBUF : 1;
        for (int i = 0; i < nb; i++) {
            bufs[i].buf = cc_malloc3(win, (size_t)src->nchannels, sizeof(uint16_t));
            bufs[NBUF + i].buf = cc_malloc3(core, (size_t)sink->nchannels, sizeof(uint16_t));
            if (!bufs[i].buf || !bufs[NBUF + i].buf) {
                st = cc_error_set(CC_ERR_NOMEM, "infer: out of memory for %d-pixel windows",
                                  (int)win);
                goto out;
            }
        }
        win_out = cc_malloc3(win, (size_t)sink->nchannels, sizeof(uint16_t));
        if (!win_out) {
            st = cc_error_set(CC_ERR_NOMEM, "infer: out of memory for the window output");
            goto out;
        }
    }
    cc_debug("infer: %dx%d raster, %dx%d windows of core %d + halo %d, ~%.0f MiB", src->width,
             src->height, c.L.nx, c.L.ny, c.L.core, c.L.halo, (double)bytes / 1048576.0);

    if (pthread_mutex_init(&c.mu, NULL) != 0) {
        st = cc_error_set(CC_ERR_INTERNAL, "infer: cannot create a mutex");
        goto out;
    }
    mu_ok = 1;
    if (pthread_cond_init(&c.cv, NULL) != 0) {
        st = cc_error_set(CC_ERR_INTERNAL, "infer: cannot create a condition variable");
        goto out;
    }
    cv_ok = 1;
    if (!o->pipelined) {
        serial_loop(&c, &bufs[0], &bufs[NBUF], win_out);
    } else {
        c.in_full.cap = c.out_full.cap = QCAP;
        c.in_free.cap = c.out_free.cap = NBUF;
        for (int i = 0; i < NBUF; i++) {
            fifo_push_locked(&c.in_free, &bufs[i]);
            fifo_push_locked(&c.out_free, &bufs[NBUF + i]);
        }
        if (pthread_create(&reader, NULL, reader_main, &c) != 0) {
            st = cc_error_set(CC_ERR_INTERNAL, "infer: cannot start the reader thread");
            goto out;
        }
        reader_started = 1;
        if (pthread_create(&writer, NULL, writer_main, &c) != 0) {
            cc_error_set(CC_ERR_INTERNAL, "infer: cannot start the writer thread");
            fail(&c, "start", NULL, CC_ERR_INTERNAL);
        } else {
            writer_started = 1;
        }
        if (writer_started)
            compute_loop(&c, win_out);
    }
out:
    if (reader_started)
        pthread_join(reader, NULL);
    if (writer_started)
        pthread_join(writer, NULL);
    if (st == CC_OK && c.abort) {
        st = c.err != CC_OK ? c.err : CC_ERR_INTERNAL;
        cc_error_set(st, "%s", c.errmsg);
    }
    if (cv_ok)
        pthread_cond_destroy(&c.cv);
    if (mu_ok)
        pthread_mutex_destroy(&c.mu);
    for (int i = 0; i < 2 * NBUF; i++)
        free(bufs[i].buf);
    free(win_out);
    if (stats) {
        stats->core = c.L.core;
        stats->halo = c.L.halo;
        stats->nwin_x = c.L.nx;
        stats->nwin_y = c.L.ny;
        stats->read_s = c.read_s;
        stats->compute_s = c.compute_s;
        stats->write_s = c.write_s;
        stats->wait_compute_s = c.wait_compute_s;
        stats->read_cpu_s = c.read_cpu_s;
        stats->write_cpu_s = c.write_cpu_s;
        stats->wall_s = now_s() - t_start;
        stats->overlap = stats->wall_s > 0
                             ? (c.read_s + c.compute_s + c.write_s) / stats->wall_s : 0.0;
        stats->window_bytes = bytes;
    }
    return st;
}

/* ---- in-memory source and sink --------------------------------------------- */

static cc_status mem_read(void *ctx, int x0, int y0, int w, int h, uint16_t *dst)
{
    const cc_infer_mem *r = ctx;
    const size_t nc = (size_t)r->nchannels;
    for (int y = 0; y < h; y++)
        memcpy(dst + (size_t)y * (size_t)w * nc,
               r->data + ((size_t)(y0 + y) * (size_t)r->width + (size_t)x0) * nc,
               (size_t)w * nc * sizeof *dst);
    return CC_OK;
}

static cc_status mem_write(void *ctx, int x0, int y0, int w, int h, const uint16_t *src)
{
    cc_infer_mem *r = ctx;
    const size_t nc = (size_t)r->nchannels;
    if (x0 < 0 || y0 < 0 || x0 + w > r->width || y0 + h > r->height)
        return cc_error_set(CC_ERR_ARG, "memory sink: window %dx%d at %d,%d outside %dx%d", w, h,
                            x0, y0, r->width, r->height);
    for (int y = 0; y < h; y++)
        memcpy(r->data + ((size_t)(y0 + y) * (size_t)r->width + (size_t)x0) * nc,
               src + (size_t)y * (size_t)w * nc, (size_t)w * nc * sizeof *src);
    return CC_OK;
}

void cc_infer_source_mem(const cc_infer_mem *r, cc_infer_source *src)
{
    memset(src, 0, sizeof *src);
    src->width = r->width;
    src->height = r->height;
    src->nchannels = r->nchannels;
    src->name = "memory";
    src->read = mem_read;
    src->ctx = (void *)r;
}

void cc_infer_sink_mem(cc_infer_mem *r, cc_infer_sink *sink)
{
    memset(sink, 0, sizeof *sink);
    sink->nchannels = r->nchannels;
    sink->name = "memory";
    sink->write = mem_write;
    sink->ctx = r;
}

/* ---- streaming cube sink ----------------------------------------------------- */

static cc_status cube_write(void *ctx, int x0, int y0, int w, int h, const uint16_t *data)
{
    return cc_cube_stream_write_window(ctx, x0, y0, w, h, data);
}

void cc_infer_sink_cube(cc_cube_stream *s, int nlayers, cc_infer_sink *sink)
{
    memset(sink, 0, sizeof *sink);
    sink->nchannels = nlayers;
    sink->name = "cube";
    sink->write = cube_write;
    sink->ctx = s;
}

/* ---- resampling: io/grid/upsample.c ---- */

void cc_infer_coarse_window(int f, int cw, int ch, int fx0, int fy0, int fw, int fh, int *bx0, int *by0, int *bw,
                            int *bh)
{
    cc_grid_coarse_window(f, cw, ch, fx0, fy0, fw, fh, bx0, by0, bw, bh);
}

cc_status cc_infer_upsample(const uint16_t *buf, int bx0, int by0, int bw, int bh, int cw, int ch, int f, int fx0,
                            int fy0, int fw, int fh, uint16_t *dst, size_t dst_stride)
{
    return cc_grid_upsample_u16(buf, bx0, by0, bw, bh, cw, ch, f, fx0, fy0, fw, fh, dst, dst_stride);
}
