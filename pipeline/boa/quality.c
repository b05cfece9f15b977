/* The quality layer of Rapid BoA and its reference fallback
 * (pipeline/boa/quality.h). */
#include "pipeline/boa/quality.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/reflectance.h"
#include "pipeline/atmos/reference.h"

#define NCTX 6
static const char *const ctx_names[NCTX] = {"MU_S", "MU_V", "COS_RAA", "AOT550", "WV_HALF", "P_REL"};

/* The flags of one input window, and the reference values of its pixels
 * flagged CC_BOA_Q_OUT_REFERENCE (in raster order within the window). */
typedef struct qwin {
    int x0, y0, w, h;
    uint8_t *flag;        /* w*h                                              */
    uint8_t *reason;      /* w*h: CC_BOA_DOM_* of out-of-domain pixels        */
    size_t nref, capref;
    size_t *ref_idx;      /* window pixel index of each recomputed pixel      */
    uint16_t *ref_dn;     /* nbands DN each                                   */
    struct qwin *next;
} qwin;

struct cc_boa_quality {
    cc_boa_quality_args a;
    cc_boa_domain dom;                             /* a.domain points here          */
    int nch;
    int ctx[NCTX];                                 /* channel of each context input */
    cc_reference_smac_cache *cache;                /* the reader's (fallback)       */
    pthread_mutex_t lock;
    int o3;                                        /* channel of O3, or -1          */
    qwin *head, *tail;                             /* windows read, not yet written */
    uint16_t *buf;                                 /* the writer's output window    */
    size_t cap;
    cc_boa_quality_counts counts;                  /* writer thread only            */
    const cc_l2a_cloudbits *cb;                    /* cloud bits, or NULL           */
};

void cc_boa_quality_set_cloudbits(cc_boa_quality *q, const cc_l2a_cloudbits *cb)
{
    q->cb = cb;
}

static void qwin_free(qwin *r)
{
    if (!r)
        return;
    free(r->flag);
    free(r->reason);
    free(r->ref_idx);
    free(r->ref_dn);
    free(r);
}

void cc_boa_quality_free(cc_boa_quality *q)
{
    if (!q)
        return;
    for (qwin *r = q->head, *n; r; r = n) {
        n = r->next;
        qwin_free(r);
    }
    pthread_mutex_destroy(&q->lock);
    cc_reference_smac_cache_free(q->cache);
    free(q->buf);
    free(q);
}

cc_status cc_boa_quality_open(const cc_boa_quality_args *a, cc_boa_quality **out)
{
    *out = NULL;
    const cc_boa_domain *d = a->domain;
    if (!d || d->nch < a->nbands || a->nbands != CC_L2A_NBANDS || !(a->in_quant > 0))
        return cc_error_set(CC_ERR_ARG, "quality: the domain does not describe the %d bands", a->nbands);
    cc_boa_quality *q = calloc(1, sizeof *q);
    if (!q)
        return cc_error_set(CC_ERR_NOMEM, "quality: out of memory");
    q->a = *a;
    q->dom = *d;
    q->a.domain = d = &q->dom;
    q->nch = d->nch;
    pthread_mutex_init(&q->lock, NULL);
    for (int k = 0; k < NCTX; k++) {
        q->ctx[k] = -1;
        for (int c = 0; c < d->nch; c++)
            if (strcmp(d->channels[c], ctx_names[k]) == 0)
                q->ctx[k] = c;
        if (q->ctx[k] < 0 && a->fallback == CC_BOA_FALLBACK_REFERENCE) {
            cc_boa_quality_free(q);
            return cc_error_set(CC_ERR_ARG, "--fallback reference: the model has no %s input", ctx_names[k]);
        }
    }
    q->o3 = -1;
    for (int c = 0; c < d->nch; c++)
        if (strcmp(d->channels[c], "O3") == 0)
            q->o3 = c;
    if (a->fallback == CC_BOA_FALLBACK_REFERENCE && (!a->ctx || !(q->cache = cc_reference_smac_cache_new()))) {
        cc_boa_quality_free(q);
        return cc_error_set(a->ctx ? CC_ERR_NOMEM : CC_ERR_ARG, "--fallback reference: %s",
                            a->ctx ? "out of memory" : "no scene context");
    }
    *out = q;
    return CC_OK;
}

/* The 12 BOA DN of one pixel by the reference processor's own per-pixel code,
 * with the context decoded from the network's input channels (px: nch DN);
 * the channels hold "feature + 1" (boa.h, cc_reference_pixel_features). */
static void reference_pixel(cc_boa_quality *q, const uint16_t *px, uint16_t *out)
{
    double f[NCTX], toa[CC_L2A_NBANDS], boa[CC_L2A_NBANDS];
    for (int k = 0; k < NCTX; k++)
        f[k] = cc_refl_decode(px[q->ctx[k]], q->a.in_dn_offset, q->a.in_quant) - 1.0;
    cc_atmos_pixel at = {.mu_s = (float)f[0], .mu_v = (float)f[1], .cos_raa = (float)f[2], .aot550 = (float)f[3],
                         .wv = (float)(2.0 * f[4]), .pressure_hpa = (float)(f[5] * 1013.25),
                         .ozone = (float)cc_reference_context_atmos(q->a.ctx)->ozone};
    if (q->o3 >= 0)
        at.ozone = (float)(cc_refl_decode(px[q->o3], q->a.in_dn_offset, q->a.in_quant) - 1.0);
    for (int k = 0; k < CC_L2A_NBANDS; k++)
        toa[k] = cc_refl_decode(px[k], q->a.in_dn_offset, q->a.in_quant);
    cc_reference_smac_pixel_cached(q->a.ctx, q->cache, &at, toa, boa);
    for (int k = 0; k < CC_L2A_NBANDS; k++)
        out[k] = isnan(boa[k]) ? 0 : cc_refl_encode(boa[k], q->a.out_dn_offset, CC_REFL_QUANT);
}

/* Flags of one window row (n pixels at in, channels-last); dom: scratch. */
static cc_status flag_row(cc_boa_quality *q, qwin *r, size_t i0, const uint16_t *in, int n, uint8_t *dom)
{
    int nch = q->nch, nb = q->a.nbands;
    cc_boa_domain_flag_dn(q->a.domain, in, (size_t)nch, (size_t)n, dom, NULL);
    for (int p = 0; p < n; p++) {
        const uint16_t *px = in + (size_t)p * nch;
        int nodata = 0, sat = 0;
        for (int c = 0; c < nch; c++)
            nodata |= px[c] == 0;
        for (int c = 0; c < nb; c++)
            sat |= px[c] == 65535;
        uint8_t f = nodata ? CC_BOA_Q_NODATA : sat ? CC_BOA_Q_SATURATED : dom[p] ? CC_BOA_Q_OUT : CC_BOA_Q_IN;
        r->reason[i0 + p] = f == CC_BOA_Q_OUT ? dom[p] : 0;
        if (f == CC_BOA_Q_OUT && q->a.fallback == CC_BOA_FALLBACK_REFERENCE) {
            if (r->nref == r->capref) {
                size_t cap = r->capref ? 2 * r->capref : 256;
                size_t *ni = realloc(r->ref_idx, cap * sizeof *ni);
                if (ni)
                    r->ref_idx = ni;
                uint16_t *nd = ni ? realloc(r->ref_dn, cap * (size_t)nb * sizeof *nd) : NULL;
                if (!nd)
                    return cc_error_set(CC_ERR_NOMEM, "quality: out of memory for the fallback pixels");
                r->ref_dn = nd;
                r->capref = cap;
            }
            reference_pixel(q, px, r->ref_dn + r->nref * nb);
            r->ref_idx[r->nref++] = i0 + p;
            f = CC_BOA_Q_OUT_REFERENCE;
        }
        r->flag[i0 + p] = f;
    }
    return CC_OK;
}

cc_status cc_boa_quality_read(cc_boa_quality *q, int x0, int y0, int w, int h, const uint16_t *in)
{
    size_t npix = (size_t)w * (size_t)h;
    qwin *r = calloc(1, sizeof *r);
    uint8_t *dom = cc_malloc3((size_t)w, 1, 1);
    cc_status st = CC_OK;
    if (!r || !dom || !(r->flag = cc_malloc3(npix, 1, 1)) || !(r->reason = cc_malloc3(npix, 1, 1))) {
        st = cc_error_set(CC_ERR_NOMEM, "quality: out of memory for a %dx%d window", w, h);
        goto out;
    }
    *r = (qwin){.x0 = x0, .y0 = y0, .w = w, .h = h, .flag = r->flag, .reason = r->reason};
    for (int row = 0; row < h && st == CC_OK; row++)
        st = flag_row(q, r, (size_t)row * w, in + (size_t)row * w * q->nch, w, dom);
    if (st != CC_OK)
        goto out;
    pthread_mutex_lock(&q->lock);
    if (q->tail)
        q->tail->next = r;
    else
        q->head = r;
    q->tail = r;
    pthread_mutex_unlock(&q->lock);
    r = NULL;
out:
    qwin_free(r);
    free(dom);
    return st;
}

/* Takes the oldest window read that contains the core out of the list. */
static qwin *take_window(cc_boa_quality *q, int x0, int y0, int w, int h)
{
    pthread_mutex_lock(&q->lock);
    qwin *r = q->head, *prev = NULL;
    while (r && !(x0 >= r->x0 && y0 >= r->y0 && x0 + w <= r->x0 + r->w && y0 + h <= r->y0 + r->h)) {
        prev = r;
        r = r->next;
    }
    if (r) {
        if (prev)
            prev->next = r->next;
        else
            q->head = r->next;
        if (q->tail == r)
            q->tail = prev;
        r->next = NULL;
    }
    pthread_mutex_unlock(&q->lock);
    return r;
}

cc_status cc_boa_quality_write(cc_boa_quality *q, int x0, int y0, int w, int h, const uint16_t *net,
                               const uint16_t **outp)
{
    int nb = q->a.nbands;
    size_t npix = (size_t)w * (size_t)h;
    if (npix > q->cap) {
        free(q->buf);
        q->cap = 0;
        if (!(q->buf = cc_malloc3(npix, (size_t)nb + 1, sizeof *q->buf)))
            return cc_error_set(CC_ERR_NOMEM, "quality: out of memory for a %dx%d window", w, h);
        q->cap = npix;
    }
    uint16_t *out = q->buf;
    *outp = out;
    qwin *r = take_window(q, x0, y0, w, h);
    if (!r)
        return cc_error_set(CC_ERR_INTERNAL, "quality: no flags for the window %dx%d at (%d, %d)", w, h, x0, y0);
    size_t k = 0; /* next recomputed pixel of r */
    cc_boa_quality_counts *c = &q->counts;
    for (int row = 0; row < h; row++) {
        size_t wi0 = (size_t)(y0 + row - r->y0) * r->w + (size_t)(x0 - r->x0);
        while (k < r->nref && r->ref_idx[k] < wi0)
            k++;
        for (int col = 0; col < w; col++) {
            size_t wi = wi0 + col, oi = (size_t)row * w + col;
            const uint16_t *src = net + oi * nb;
            uint8_t f = r->flag[wi];
            if (f == CC_BOA_Q_OUT_REFERENCE) {
                while (k < r->nref && r->ref_idx[k] < wi)
                    k++;
                if (k < r->nref && r->ref_idx[k] == wi)
                    src = r->ref_dn + k * nb;
                c->fallback++;
            }
            memcpy(out + oi * (nb + 1), src, (size_t)nb * sizeof *out);
            out[oi * (nb + 1) + nb] =
                f == CC_BOA_Q_NODATA ? f : (uint16_t)(f | cc_l2a_cloudbits_at(q->cb, x0 + col, y0 + row));
            c->nodata += f == CC_BOA_Q_NODATA;
            c->in += f == CC_BOA_Q_IN;
            c->saturated += f == CC_BOA_Q_SATURATED;
            if (f == CC_BOA_Q_OUT || f == CC_BOA_Q_OUT_REFERENCE) {
                c->out++;
                c->out_box += r->reason[wi] == CC_BOA_DOM_BOX;
                c->out_dist += r->reason[wi] == CC_BOA_DOM_DIST;
            }
        }
    }
    qwin_free(r);
    return CC_OK;
}

cc_status cc_boa_quality_start(const cc_boa_domain *d, const cc_nn_model *mm, cc_boa_fallback fallback,
                               const cc_reference_context *ctx, cc_boa_quality **out)
{
    cc_boa_domain *dom = malloc(sizeof *dom);
    if (!dom)
        return cc_error_set(CC_ERR_NOMEM, "quality: out of memory");
    if (d)
        *dom = *d;
    else
        cc_boa_domain_from_normalisation(mm, dom);
    cc_boa_domain_bind(dom, &mm->input);
    cc_boa_quality_args a = {.domain = dom, .nbands = CC_L2A_NBANDS, .in_dn_offset = mm->input.dn_offset,
                             .in_quant = mm->input.quantification,
                             .out_dn_offset = mm->nodes[mm->output_node].out_dn_offset, .fallback = fallback,
                             .ctx = ctx};
    cc_status st = cc_boa_quality_open(&a, out);
    free(dom);
    return st;
}

cc_status cc_boa_quality_finish(cc_boa_quality *q, cc_cube_stream *cube, cc_boa_quality_counts *c)
{
    char dom[512], counts[512];
    const cc_boa_quality_counts *n = &q->counts;
    *c = *n;
    cc_boa_domain_describe(&q->dom, dom, sizeof dom);
    snprintf(counts, sizeof counts,
             "in_domain=%zu out_of_domain=%zu out_of_domain_box=%zu out_of_domain_distance=%zu "
             "recomputed_by_reference=%zu saturated=%zu nodata=%zu",
             n->in, n->out, n->out_box, n->out_dist, n->fallback, n->saturated, n->nodata);
    cc_status st = cc_cube_stream_set_text(cube, NULL, "quality_domain", dom);
    if (st == CC_OK)
        st = cc_cube_stream_set_text(cube, NULL, "quality_fallback",
                                     q->a.fallback == CC_BOA_FALLBACK_REFERENCE
                                         ? "reference: out-of-domain pixels recomputed by the physical processor "
                                           "(SMAC inversion with the network's per-pixel context)"
                                         : "none: out-of-domain pixels keep the network's value");
    if (st == CC_OK)
        st = cc_cube_stream_set_text(cube, NULL, "quality_cloud_mask", q->cb ? q->cb->summary : "none");
    if (st == CC_OK)
        st = cc_cube_stream_set_text(cube, NULL, "quality_counts", counts);
    return st;
}

void cc_boa_quality_get_counts(const cc_boa_quality *q, cc_boa_quality_counts *c)
{
    *c = q->counts;
}

void cc_boa_quality_summary(const cc_boa_quality_counts *c, char *buf, size_t cap)
{
    size_t valid = c->in + c->out + c->saturated;
    snprintf(buf, cap,
             "quality: %zu in domain, %zu out of domain (%.3f %% of %zu valid; %zu beyond the box, %zu beyond "
             "the distance), %zu recomputed by the reference processor, %zu saturated, %zu nodata",
             c->in, c->out, valid ? 100.0 * (double)c->out / (double)valid : 0.0, valid, c->out_box, c->out_dist,
             c->fallback, c->saturated, c->nodata);
}

void cc_boa_quality_layer(cc_cube_layer *L)
{
    cc_l2a_quality_layer(L, CC_Q_NFLAGS_BOA, NULL);
}
