/* The reference processor, slab by slab: TOA DN of each output row (aligned
 * bands upsampled by io/grid/upsample, others resampled once by GDAL), the
 * per-pixel context (context.h), the SMAC inversion per pixel, L2A DN; a
 * writer thread takes each finished slab while the next one is computed.
 * Every pixel depends only on its position, so slabs, threads and the
 * writer's timing never change a value. */
#define _POSIX_C_SOURCE 200809L

#include "pipeline/atmos/reference-impl.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/blockq.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/reflectance.h"
#include "io/grid/upsample.h"
#include "kernels/smac/smac-pixel.h"
#ifdef CC_HAVE_CUDA
#include "kernels/cuda/smac_cuda.h"
#endif

#ifdef _OPENMP
#include <omp.h>
#endif

static double ref_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

cc_status ref_engine_init(ref_engine *e, const cc_scene *s, const cc_grid *g, const cc_reference_context *ctx)
{
    memset(e, 0, sizeof *e);
    e->s = s;
    e->g = g;
    e->ctx = ctx;
    e->dn_offset = cc_reference_output_dn_offset(s);
    size_t n = cc_grid_npix(g);
    for (int k = 0; k < CC_L2A_NBANDS; k++) {
        int b = cc_l2a_bands[k];
        if (!s->band[b].present)
            continue;
        int j = e->nbands++;
        e->band[j] = b;
        e->l2a[j] = k;
        e->src[j] = &s->band[b];
        e->factor[j] = cc_grid_raster_factor(&s->band[b], g);
        if (e->factor[j] > 0)
            continue;
        float *tmp = cc_malloc3(n, sizeof(float), 1);
        e->resampled[j] = cc_malloc3(n, sizeof(uint16_t), 1);
        if (!tmp || !e->resampled[j]) {
            free(tmp);
            return CC_ERR_NOMEM;
        }
        cc_status st = cc_grid_resample_band(&s->band[b], s->wkt, g, tmp);
        for (size_t i = 0; st == CC_OK && i < n; i++)
            e->resampled[j][i] = tmp[i] <= 0.5f ? 0 : tmp[i] >= 65535.0f ? 65535 : (uint16_t)lrintf(tmp[i]);
        free(tmp);
        if (st != CC_OK)
            return st;
    }
    if (e->nbands == 0)
        return cc_error_set(CC_ERR_MISSING, "%s: no L2A band present", s->product_id);
    return cc_l2a_cloudbits_compute(s, g, &e->cb);
}

void ref_engine_free(ref_engine *e)
{
    for (int j = 0; j < CC_L2A_NBANDS; j++)
        free(e->resampled[j]);
    cc_l2a_cloudbits_free(&e->cb);
    memset(e, 0, sizeof *e);
}

/* DN of band j along output row y into dst[x * stride]. */
static cc_status ref_read_row(const ref_engine *e, int j, int y, uint16_t *dst, size_t stride)
{
    const int W = e->g->width;
    if (e->resampled[j] || e->factor[j] == 1) {
        const uint16_t *row = e->resampled[j] ? e->resampled[j] + (size_t)y * W : e->src[j]->dn + (size_t)y * e->src[j]->width;
        for (int x = 0; x < W; x++)
            dst[(size_t)x * stride] = row[x];
        return CC_OK;
    }
    const cc_raster_u16 *r = e->src[j];
    return cc_grid_upsample_u16(r->dn, 0, 0, r->width, r->height, r->width, r->height, e->factor[j], 0, y, W, 1,
                                dst, stride);
}

/* A decoded block: rows [y0, y0+h) of the bands' DN (W x nbands per row,
 * channels-last) and of the per-pixel context. */
typedef struct {
    int y0, h;
    uint16_t *dn;
    cc_atmos_pixel *px;
} ref_block;

typedef struct {
    const ref_engine *e;
    ref_block *blocks; /* the queue's slots */
} ref_decoder;

/* Output row y: the bands' DN (dn, W x nbands) and the per-pixel context (px, W). */
static cc_status ref_decode_row(const ref_engine *e, int y, uint16_t *dn, cc_atmos_pixel *px)
{
    const int nb = e->nbands;
    for (int j = 0; j < nb; j++) {
        cc_status st = ref_read_row(e, j, y, dn + j, (size_t)nb);
        if (st != CC_OK)
            return st;
    }
    cc_reference_context_fill(e->ctx, 0, y, e->g->width, 1, px);
    return CC_OK;
}

static void ref_block_rows(const ref_engine *e, long i, ref_block *b)
{
    const int H = e->g->height;
    b->y0 = (int)i * REF_BLOCK_ROWS;
    b->h = H - b->y0 < REF_BLOCK_ROWS ? H - b->y0 : REF_BLOCK_ROWS;
}

/* cc_blockq_fill_fn: block i decoded (OpenMP over rows). */
static cc_status ref_decode_block(void *vd, long i, void *slot)
{
    const ref_decoder *d = vd;
    const ref_engine *e = d->e;
    ref_block *b = slot;
    const int W = e->g->width, nb = e->nbands;
    ref_block_rows(e, i, b);
    cc_status st = CC_OK;
    char msg[512] = "";
#pragma omp parallel for schedule(dynamic, 4)
    for (int r = 0; r < b->h; r++) {
        cc_status rs = ref_decode_row(e, b->y0 + r, b->dn + (size_t)r * W * nb, b->px + (size_t)r * W);
        if (rs != CC_OK) {
#pragma omp critical(ref_decode_err)
            if (st == CC_OK) {
                st = rs;
                snprintf(msg, sizeof msg, "%s", cc_error_message());
            }
        }
    }
    if (st != CC_OK)
        cc_error_set(st, "%s", msg);
    return st;
}

/* cc_blockq_fill_fn of the fused CPU path (no reader thread): only the rows;
 * the SMAC decodes each row itself into its thread's row buffers (cache-warm). */
static cc_status ref_mark_block(void *vd, long i, void *slot)
{
    const ref_decoder *d = vd;
    ref_block_rows(d->e, i, slot);
    return CC_OK;
}

/* The output bands of the engine (kernels/smac/smac-pixel.h). */
static void ref_px_bands(const ref_engine *e, cc_smac_px_bands *pb)
{
    memset(pb, 0, sizeof *pb);
    pb->nb = e->nbands;
    for (int j = 0; j < e->nbands; j++) {
        pb->l2a[j] = e->l2a[j];
        pb->add_offset[j] = e->s->radio_offset[e->band[j]];
    }
    pb->quant = e->s->quantification;
    pb->dn_offset = e->dn_offset;
}

/* Per-thread row buffers of the fused CPU path. */
typedef struct {
    uint16_t *dn;
    cc_atmos_pixel *px;
} ref_rowbuf;

/* The SMAC of block b on the CPU into out (its rows, W x (nbands + 2) each);
 * caches and rows: one per OpenMP thread. A block without buffers (b->dn
 * NULL: the fused path) is decoded here, row by row. */
static cc_status ref_smac_block(const ref_engine *e, const cc_smac_px_bands *pb, cc_reference_smac_cache **caches,
                                ref_rowbuf *rows, const ref_block *b, uint16_t *out, size_t *n_valid)
{
    const int W = e->g->width, nb = e->nbands, nl = nb + 2;
    size_t nv = 0;
    cc_status st = CC_OK;
    char msg[512] = "";
#pragma omp parallel reduction(+ : nv)
    {
#ifdef _OPENMP
        const int t = omp_get_thread_num();
#else
        const int t = 0;
#endif
        cc_reference_smac_cache *cache = caches[t];
#pragma omp for schedule(dynamic, 4)
        for (int r = 0; r < b->h; r++) {
            const uint16_t *dn = b->dn ? b->dn + (size_t)r * W * nb : rows[t].dn;
            const cc_atmos_pixel *px = b->dn ? b->px + (size_t)r * W : rows[t].px;
            if (!b->dn) {
                cc_status rs = ref_decode_row(e, b->y0 + r, rows[t].dn, rows[t].px);
                if (rs != CC_OK) {
#pragma omp critical(ref_smac_err)
                    if (st == CC_OK) {
                        st = rs;
                        snprintf(msg, sizeof msg, "%s", cc_error_message());
                    }
                    continue;
                }
            }
            for (int x = 0; x < W; x++) {
                uint16_t *o = out + ((size_t)r * W + x) * nl;
                double toa[CC_L2A_NBANDS], boa[CC_L2A_NBANDS];
                if (!cc_smac_px_toa(pb, dn + (size_t)x * nb, toa)) {
                    memset(o, 0, (size_t)nl * sizeof *o);
                    continue;
                }
                cc_reference_smac_pixel_cached(e->ctx, cache, &px[x], toa, boa);
                nv += (size_t)cc_smac_px_encode(pb, (const float *)&px[x], boa, o);
            }
        }
    }
    *n_valid += nv;
    if (st != CC_OK)
        cc_error_set(st, "%s", msg);
    return st;
}

/* ---- the writer thread: one slab in flight ---- */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ref_slab_fn fn;
    void *fctx;
    const uint16_t *data; /* the slab waiting to be written, or NULL */
    int y0, h, quit;
    cc_status st;
    char msg[512];
    double write_s;
    pthread_t th;
} ref_writer;

static void *ref_writer_main(void *arg)
{
    ref_writer *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->data && !w->quit)
            pthread_cond_wait(&w->cv, &w->mu);
        if (!w->data)
            break;
        const uint16_t *d = w->data;
        int y0 = w->y0, h = w->h;
        pthread_mutex_unlock(&w->mu);
        double t0 = ref_now();
        cc_status st = w->st == CC_OK ? w->fn(w->fctx, y0, h, d) : w->st;
        double dt = ref_now() - t0;
        pthread_mutex_lock(&w->mu);
        w->write_s += dt;
        if (st != CC_OK && w->st == CC_OK) {
            w->st = st;
            snprintf(w->msg, sizeof w->msg, "%s", cc_error_message());
        }
        w->data = NULL;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Waits until the writer is idle; its status. */
static cc_status ref_writer_wait(ref_writer *w)
{
    pthread_mutex_lock(&w->mu);
    while (w->data)
        pthread_cond_wait(&w->cv, &w->mu);
    cc_status st = w->st;
    pthread_mutex_unlock(&w->mu);
    return st;
}

static void ref_writer_post(ref_writer *w, int y0, int h, const uint16_t *data)
{
    pthread_mutex_lock(&w->mu);
    w->y0 = y0;
    w->h = h;
    w->data = data;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Host buffers: pinned on the CUDA path (asynchronous copies). */
static void *ref_host_alloc(const ref_engine *e, size_t n, size_t size)
{
#ifdef CC_HAVE_CUDA
    if (e->cuda)
        return n && size <= ((size_t)-1) / n ? cc_cuda_host_alloc(n * size) : NULL;
#endif
    (void)e;
    return cc_malloc3(n, size, 1);
}

static void ref_host_free(const ref_engine *e, void *p)
{
#ifdef CC_HAVE_CUDA
    if (e->cuda) {
        cc_cuda_host_free(p);
        return;
    }
#endif
    (void)e;
    free(p);
}

/* The run's state: the queue of decoded blocks, the SMAC (CPU caches or the
 * GPU), the double-buffered slabs and the writer. */
typedef struct {
    const ref_engine *e;
    cc_smac_px_bands pb;
    ref_block blocks[REF_QUEUE_BLOCKS];
    uint16_t *buf[2];
    int nt;
    cc_reference_smac_cache **caches;
    ref_rowbuf *rows;  /* fused: one per thread */
    int fused;         /* CPU without a reader thread: decode inside the SMAC's rows */
    cc_blockq *q;
#ifdef CC_HAVE_CUDA
    cc_cuda_smac_px *gpu;
#endif
    ref_writer w;
    int writer_started;
    cc_progress *prog; /* rows done (core/progress.h) */
} ref_run_state;

static cc_status ref_state_init(ref_run_state *R, const ref_engine *e, ref_slab_fn fn, void *fctx)
{
    const int W = e->g->width, H = e->g->height, nl = e->nbands + 2;
    const int rows = H < REF_SLAB_ROWS ? H : REF_SLAB_ROWS, brows = H < REF_BLOCK_ROWS ? H : REF_BLOCK_ROWS;
    R->e = e;
    ref_px_bands(e, &R->pb);
#ifdef _OPENMP
    R->nt = omp_get_max_threads();
#else
    R->nt = 1;
#endif
    for (int k = 0; k < 2; k++)
        if (!(R->buf[k] = ref_host_alloc(e, (size_t)W * rows, (size_t)nl * sizeof(uint16_t))))
            return cc_error_set(CC_ERR_NOMEM, "reference: out of memory for the output slabs");
    R->fused = !e->cuda && !e->reader;
    for (int k = 0; !R->fused && k < REF_QUEUE_BLOCKS; k++) {
        R->blocks[k].dn = ref_host_alloc(e, (size_t)W * brows, (size_t)e->nbands * sizeof(uint16_t));
        R->blocks[k].px = ref_host_alloc(e, (size_t)W * brows, sizeof(cc_atmos_pixel));
        if (!R->blocks[k].dn || !R->blocks[k].px)
            return cc_error_set(CC_ERR_NOMEM, "reference: out of memory for the decoded blocks");
    }
    if (e->cuda) {
#ifdef CC_HAVE_CUDA
        cc_status st = cc_cuda_smac_px_new(cc_reference_context_coefs(e->ctx), &R->pb, (size_t)W * brows, &R->gpu);
        if (st != CC_OK)
            return st;
#else
        return cc_error_set(CC_ERR_UNSUPPORTED, "reference: this clearcube was built without CUDA");
#endif
    } else {
        if (!(R->caches = calloc((size_t)R->nt, sizeof *R->caches)))
            return CC_ERR_NOMEM;
        for (int t = 0; t < R->nt; t++)
            if (!(R->caches[t] = cc_reference_smac_cache_new()))
                return cc_error_set(CC_ERR_NOMEM, "reference: out of memory for the SMAC caches");
        if (R->fused && !(R->rows = calloc((size_t)R->nt, sizeof *R->rows)))
            return CC_ERR_NOMEM;
        for (int t = 0; R->fused && t < R->nt; t++) {
            R->rows[t].dn = cc_malloc3((size_t)W, (size_t)e->nbands, sizeof(uint16_t));
            R->rows[t].px = cc_malloc3((size_t)W, sizeof(cc_atmos_pixel), 1);
            if (!R->rows[t].dn || !R->rows[t].px)
                return cc_error_set(CC_ERR_NOMEM, "reference: out of memory for the row buffers");
        }
    }
    R->w.fn = fn;
    R->w.fctx = fctx;
    pthread_mutex_init(&R->w.mu, NULL);
    pthread_cond_init(&R->w.cv, NULL);
    R->writer_started = pthread_create(&R->w.th, NULL, ref_writer_main, &R->w) == 0;
    if (!R->writer_started) {
        pthread_mutex_destroy(&R->w.mu);
        pthread_cond_destroy(&R->w.cv);
        return cc_error_set(CC_ERR_IO, "reference: cannot start the writer thread");
    }
    return CC_OK;
}

static void ref_state_free(ref_run_state *R)
{
    const ref_engine *e = R->e;
    cc_blockq_free(R->q);
#ifdef CC_HAVE_CUDA
    cc_cuda_smac_px_free(R->gpu); /* waits for its streams before the buffers go */
#endif
    if (R->writer_started) {
        pthread_mutex_lock(&R->w.mu);
        R->w.quit = 1;
        pthread_cond_broadcast(&R->w.cv);
        pthread_mutex_unlock(&R->w.mu);
        pthread_join(R->w.th, NULL);
        pthread_mutex_destroy(&R->w.mu);
        pthread_cond_destroy(&R->w.cv);
    }
    for (int t = 0; R->caches && t < R->nt; t++)
        cc_reference_smac_cache_free(R->caches[t]);
    free(R->caches);
    for (int t = 0; R->rows && t < R->nt; t++) {
        free(R->rows[t].dn);
        free(R->rows[t].px);
    }
    free(R->rows);
    for (int k = 0; k < REF_QUEUE_BLOCKS; k++) {
        ref_host_free(e, R->blocks[k].dn);
        ref_host_free(e, R->blocks[k].px);
    }
    ref_host_free(e, R->buf[0]);
    ref_host_free(e, R->buf[1]);
}

/* The SMAC of block b (index bi) is done: gives its slot back and, when it
 * ends its slab, hands the slab to the writer. */
static cc_status ref_block_done(ref_run_state *R, const ref_block *b)
{
    const int H = R->e->g->height;
    cc_blockq_release(R->q, (void *)b);
    cc_progress_add(R->prog, (uint64_t)b->h);
    const int y_end = b->y0 + b->h;
    if (y_end % REF_SLAB_ROWS != 0 && y_end != H)
        return CC_OK;
    const int s = (y_end - 1) / REF_SLAB_ROWS, y0 = s * REF_SLAB_ROWS;
    cc_status st = ref_writer_wait(&R->w);
    if (st != CC_OK)
        return cc_error_set(st, "%s", R->w.msg);
    ref_writer_post(&R->w, y0, y_end - y0, R->buf[s & 1]);
    return CC_OK;
}

cc_status ref_engine_run(const ref_engine *e, ref_slab_fn fn, void *fctx, size_t *n_valid, double *compute_s,
                         double *write_s)
{
    const int W = e->g->width, H = e->g->height, nl = e->nbands + 2;
    ref_run_state R;
    memset(&R, 0, sizeof R);
    R.prog = cc_progress_start("reference", "rows", (uint64_t)H);
    *n_valid = 0;
    *compute_s = 0;
    ref_decoder dec = {e, R.blocks};
    cc_status st = ref_state_init(&R, e, fn, fctx);
    void *slots[REF_QUEUE_BLOCKS];
    for (int k = 0; k < REF_QUEUE_BLOCKS; k++)
        slots[k] = &R.blocks[k];
    const long nblocks = (H + REF_BLOCK_ROWS - 1) / REF_BLOCK_ROWS;
    if (st == CC_OK)
        st = cc_blockq_start(slots, REF_QUEUE_BLOCKS, nblocks, e->reader, R.fused ? ref_mark_block : ref_decode_block,
                             &dec, &R.q);
    const ref_block *pending = NULL; /* GPU: the block in flight */
    int pending_lane = 0;
    for (long bi = 0; st == CC_OK && bi < nblocks; bi++) {
        long idx;
        void *slot;
        if ((st = cc_blockq_next(R.q, &idx, &slot)) != CC_OK)
            break;
        const ref_block *b = slot;
        const int s = b->y0 / REF_SLAB_ROWS;
        /* the slab buffer this block writes into was handed to the writer two slabs ago */
        if (b->y0 % REF_SLAB_ROWS == 0 && (st = ref_writer_wait(&R.w)) != CC_OK) {
            cc_error_set(st, "%s", R.w.msg);
            break;
        }
        uint16_t *out = R.buf[s & 1] + (size_t)(b->y0 - s * REF_SLAB_ROWS) * W * nl;
        double t0 = ref_now();
#ifdef CC_HAVE_CUDA
        if (e->cuda) {
            const int lane = (int)(bi % CC_CUDA_SMAC_PX_LANES);
            st = cc_cuda_smac_px_submit(R.gpu, lane, b->dn, (const float *)b->px, (size_t)W * b->h, out);
            size_t nv = 0;
            if (st == CC_OK && pending && (st = cc_cuda_smac_px_wait(R.gpu, pending_lane, &nv)) == CC_OK) {
                *n_valid += nv;
                *compute_s += ref_now() - t0;
                st = ref_block_done(&R, pending);
            } else {
                *compute_s += ref_now() - t0;
            }
            pending = b;
            pending_lane = lane;
            continue;
        }
#endif
        st = ref_smac_block(e, &R.pb, R.caches, R.rows, b, out, n_valid);
        *compute_s += ref_now() - t0;
        if (st == CC_OK)
            st = ref_block_done(&R, b);
    }
#ifdef CC_HAVE_CUDA
    if (pending) {
        size_t nv = 0;
        double t0 = ref_now();
        cc_status ws = cc_cuda_smac_px_wait(R.gpu, pending_lane, &nv);
        *compute_s += ref_now() - t0;
        if (st == CC_OK && (st = ws) == CC_OK) {
            *n_valid += nv;
            st = ref_block_done(&R, pending);
        }
    }
#else
    (void)pending;
    (void)pending_lane;
#endif
    if (R.writer_started) {
        cc_status wst = ref_writer_wait(&R.w);
        if (st == CC_OK && wst != CC_OK)
            st = cc_error_set(wst, "%s", R.w.msg);
    }
    if (write_s)
        *write_s = R.w.write_s;
    cc_progress_end(R.prog);
    ref_state_free(&R);
    return st;
}
