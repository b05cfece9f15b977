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
#include "core/log.h"
#include "core/reflectance.h"
#include "io/grid/upsample.h"

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
    return CC_OK;
}

void ref_engine_free(ref_engine *e)
{
    for (int j = 0; j < CC_L2A_NBANDS; j++)
        free(e->resampled[j]);
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

/* Per-thread scratch of one output row. */
typedef struct {
    uint16_t *dn;          /* W x nbands */
    cc_atmos_pixel *px;    /* W          */
    cc_reference_smac_cache *cache;
} ref_scratch;

/* One output row y into out (W x (nbands + 2), channels-last). */
static cc_status ref_row(const ref_engine *e, ref_scratch *t, int y, uint16_t *out, size_t *n_valid)
{
    const int W = e->g->width, nb = e->nbands, nl = nb + 2;
    const cc_scene *s = e->s;
    for (int j = 0; j < nb; j++) {
        cc_status st = ref_read_row(e, j, y, t->dn + j, (size_t)nb);
        if (st != CC_OK)
            return st;
    }
    cc_reference_context_fill(e->ctx, 0, y, W, 1, t->px);
    size_t nv = 0;
    for (int x = 0; x < W; x++) {
        double toa[CC_L2A_NBANDS], boa[CC_L2A_NBANDS];
        for (int k = 0; k < CC_L2A_NBANDS; k++)
            toa[k] = NAN;
        const uint16_t *dn = t->dn + (size_t)x * nb;
        int any = 0;
        for (int j = 0; j < nb; j++)
            if (dn[j]) {
                toa[e->l2a[j]] = cc_refl_decode(dn[j], s->radio_offset[e->band[j]], s->quantification);
                any = 1;
            }
        uint16_t *o = out + (size_t)x * nl;
        if (!any) {
            memset(o, 0, (size_t)nl * sizeof *o);
            continue;
        }
        cc_reference_smac_pixel_cached(e->ctx, t->cache, &t->px[x], toa, boa);
        int valid = 0;
        for (int j = 0; j < nb; j++) {
            o[j] = cc_refl_encode(boa[e->l2a[j]], e->dn_offset, CC_REFL_QUANT);
            valid |= o[j] != 0;
        }
        o[nb] = valid ? (uint16_t)lround(fmax(1.0, t->px[x].aot550 * 1000.0)) : 0;
        o[nb + 1] = valid ? (uint16_t)lround(fmin(65534.0, fmax(1.0, t->px[x].wv * 1000.0))) : 0;
        nv += valid;
    }
    *n_valid += nv;
    return CC_OK;
}

/* Rows [y0, y0+h) into out, OpenMP over rows. */
static cc_status ref_slab(const ref_engine *e, ref_scratch *scr, int y0, int h, uint16_t *out, size_t *n_valid)
{
    const int W = e->g->width, nl = e->nbands + 2;
    cc_status st = CC_OK;
    size_t nv = 0;
    char msg[512] = "";
#pragma omp parallel reduction(+ : nv)
    {
#ifdef _OPENMP
        ref_scratch *t = &scr[omp_get_thread_num()];
#else
        ref_scratch *t = &scr[0];
#endif
#pragma omp for schedule(dynamic, 4)
        for (int r = 0; r < h; r++) {
            cc_status rs = ref_row(e, t, y0 + r, out + (size_t)r * W * nl, &nv);
            if (rs != CC_OK) {
#pragma omp critical(ref_slab_err)
                if (st == CC_OK) {
                    st = rs;
                    snprintf(msg, sizeof msg, "%s", cc_error_message());
                }
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

static cc_status ref_scratch_alloc(const ref_engine *e, ref_scratch *scr, int nt)
{
    for (int t = 0; t < nt; t++) {
        scr[t].dn = cc_malloc3((size_t)e->g->width, (size_t)e->nbands, sizeof(uint16_t));
        scr[t].px = cc_malloc3((size_t)e->g->width, sizeof(cc_atmos_pixel), 1);
        scr[t].cache = cc_reference_smac_cache_new();
        if (!scr[t].dn || !scr[t].px || !scr[t].cache)
            return CC_ERR_NOMEM;
    }
    return CC_OK;
}

cc_status ref_engine_run(const ref_engine *e, ref_slab_fn fn, void *fctx, size_t *n_valid, double *compute_s,
                         double *write_s)
{
    const int W = e->g->width, H = e->g->height, nl = e->nbands + 2;
#ifdef _OPENMP
    const int nt = omp_get_max_threads();
#else
    const int nt = 1;
#endif
    cc_status st = CC_OK;
    uint16_t *buf[2] = {NULL, NULL};
    ref_scratch *scr = calloc((size_t)nt, sizeof *scr);
    ref_writer w;
    memset(&w, 0, sizeof w);
    w.fn = fn;
    w.fctx = fctx;
    int started = 0;
    *n_valid = 0;
    *compute_s = 0;
    const int rows = H < REF_SLAB_ROWS ? H : REF_SLAB_ROWS;
    buf[0] = cc_malloc3((size_t)W * rows, (size_t)nl, sizeof(uint16_t));
    buf[1] = cc_malloc3((size_t)W * rows, (size_t)nl, sizeof(uint16_t));
    if (!scr || !buf[0] || !buf[1] || (st = ref_scratch_alloc(e, scr, nt)) != CC_OK) {
        st = CC_ERR_NOMEM;
        goto out;
    }
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    pthread_t th;
    if (pthread_create(&th, NULL, ref_writer_main, &w) != 0) {
        st = cc_error_set(CC_ERR_IO, "reference: cannot start the writer thread");
        goto out;
    }
    started = 1;
    for (int y0 = 0, i = 0; y0 < H; y0 += rows, i ^= 1) {
        int h = H - y0 < rows ? H - y0 : rows;
        double t0 = ref_now();
        st = ref_slab(e, scr, y0, h, buf[i], n_valid);
        *compute_s += ref_now() - t0;
        if (st != CC_OK)
            break;
        if ((st = ref_writer_wait(&w)) != CC_OK) {
            cc_error_set(st, "%s", w.msg);
            break;
        }
        ref_writer_post(&w, y0, h, buf[i]);
    }
    cc_status wst = ref_writer_wait(&w);
    if (st == CC_OK && wst != CC_OK)
        st = cc_error_set(wst, "%s", w.msg);
    pthread_mutex_lock(&w.mu);
    w.quit = 1;
    pthread_cond_broadcast(&w.cv);
    pthread_mutex_unlock(&w.mu);
    pthread_join(th, NULL);
out:
    if (started) {
        pthread_mutex_destroy(&w.mu);
        pthread_cond_destroy(&w.cv);
    }
    for (int t = 0; scr && t < nt; t++) {
        free(scr[t].dn);
        free(scr[t].px);
        cc_reference_smac_cache_free(scr[t].cache);
    }
    free(scr);
    free(buf[0]);
    free(buf[1]);
    if (write_s)
        *write_s = w.write_s;
    return st;
}
