/* clearcube: Sentinel-2 cloud and shadow mask (see cloudmask.h and
 * docs/cloudmask.md for the algorithm and its sources). */
#include "pipeline/atmos/cloudmask.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/reflectance.h"
#include "io/grid/grid.h"

const char *cc_cloudmask_class_name(int c)
{
    static const char *const names[CC_CM_NCLASSES] = {"nodata", "clear", "cloud", "shadow", "snow", "water"};
    return c >= 0 && c < CC_CM_NCLASSES ? names[c] : "?";
}

void cc_cloudmask_options_init(cc_cloudmask_options *o)
{
    *o = (cc_cloudmask_options){.threshold = 0.2, .closing_size = 5, .mean_size = 7, .shadow_filter_size = 5,
                                .shadow_search_m = 6000.0, .cloud_buffer_m = 0.0, .shadow_buffer_m = 0.0,
                                .snow_water = 1, .red_proxy = 0};
}

/* The bands the tests read, after the red proxy is applied. */
typedef struct {
    const float *b1, *b2, *b3, *b4, *b10, *nir, *b11;
    const float *vis2, *vis3; /* B2 and B3 of the visible sum (possibly B4) */
} bandset;

static void pick_bands(const cc_cloudmask_input *in, const cc_cloudmask_options *o, bandset *b)
{
    memset(b, 0, sizeof *b);
    b->b1 = in->band[CC_B01];
    b->b2 = in->band[CC_B02];
    b->b3 = in->band[CC_B03];
    b->b4 = in->band[CC_B04];
    b->b10 = in->band[CC_B10];
    b->nir = in->band[CC_B08] ? in->band[CC_B08] : in->band[CC_B8A];
    b->b11 = in->band[CC_B11];
    b->vis2 = b->b2;
    b->vis3 = b->b3;
    if (o->red_proxy && b->b4) {
        if (!b->b2)
            b->b2 = b->vis2 = b->b4;
        if (!b->b3)
            b->b3 = b->vis3 = b->b4;
    }
}

static unsigned terms_of(const bandset *b)
{
    unsigned t = 0;
    if (b->b2)
        t |= CC_CM_TERM_B2;
    if (b->b1)
        t |= CC_CM_TERM_B1;
    if (b->b1 && b->b10)
        t |= CC_CM_TERM_B1B10;
    if (b->vis2 && b->vis3 && b->b4)
        t |= CC_CM_TERM_VIS;
    if (b->b3 && b->b11)
        t |= CC_CM_TERM_NDSI;
    return t;
}

unsigned cc_cloudmask_terms(const cc_cloudmask_input *in, const cc_cloudmask_options *o)
{
    bandset b;
    pick_bands(in, o, &b);
    return terms_of(&b);
}

static inline double rescale(double x, double a, double b) { return (x - a) / (b - a); }

static inline double nd(double a, double b)
{
    double s = a + b;
    return (a - b) / (s == 0.0 ? 0.001 : s); /* dsen2-cr: 0.001 for a zero sum */
}

/* Box sums of a w x h image over (2r+1)^2 windows clipped to the image, with
 * prefix sums (O(n) for any r). tmp: n doubles of scratch. In place allowed
 * (out == in). */
static void box_sum(const double *in, int w, int h, int r, double *tmp, double *out)
{
    const size_t W = (size_t)w;
    double *line = tmp; /* reused per row / column: needs max(w, h) + 1 */
    double *mid = tmp + (w > h ? w : h) + 1;
    for (int y = 0; y < h; y++) {
        line[0] = 0.0;
        for (int x = 0; x < w; x++)
            line[x + 1] = line[x] + in[y * W + x];
        for (int x = 0; x < w; x++) {
            int a = x - r < 0 ? 0 : x - r, b = x + r >= w ? w - 1 : x + r;
            mid[y * W + x] = line[b + 1] - line[a];
        }
    }
    for (int x = 0; x < w; x++) {
        line[0] = 0.0;
        for (int y = 0; y < h; y++)
            line[y + 1] = line[y] + mid[y * W + x];
        for (int y = 0; y < h; y++) {
            int a = y - r < 0 ? 0 : y - r, b = y + r >= h ? h - 1 : y + r;
            out[y * W + x] = line[b + 1] - line[a];
        }
    }
}

/* Separable max (sign = 1) or min (sign = -1) over (2r+1)^2 windows of the
 * valid pixels; invalid pixels are ignored (they hold -inf/+inf on input). */
static void box_extreme(double *v, int w, int h, int r, double sign, double *tmp)
{
    const size_t W = (size_t)w;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double m = -INFINITY;
            for (int k = x - r; k <= x + r; k++)
                if (k >= 0 && k < w && sign * v[y * W + k] > m)
                    m = sign * v[y * W + k];
            tmp[y * W + x] = m;
        }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double m = -INFINITY;
            for (int k = y - r; k <= y + r; k++)
                if (k >= 0 && k < h && tmp[k * W + x] > m)
                    m = tmp[k * W + x];
            v[y * W + x] = sign * m;
        }
}

/* Dilates the pixels with mask == from into pixels whose class is in `into`
 * (bit set of classes), over a square of radius r. ind/tmp: scratch. */
static void dilate_class(uint8_t *mask, int w, int h, int r, int from, unsigned into, double *ind, double *tmp)
{
    if (r <= 0)
        return;
    const size_t n = (size_t)w * (size_t)h;
    for (size_t i = 0; i < n; i++)
        ind[i] = mask[i] == from;
    box_sum(ind, w, h, r, tmp, ind);
    for (size_t i = 0; i < n; i++)
        if (ind[i] > 0.5 && (into >> mask[i] & 1u))
            mask[i] = (uint8_t)from;
}

static int radius_px(double metres, double pixel)
{
    if (!(metres > 0.0))
        return 0;
    double r = ceil(metres / (pixel > 0.0 ? pixel : 1.0) - 1e-9);
    return r > 1e6 ? 1000000 : (int)r;
}

cc_status cc_cloudmask_compute(const cc_cloudmask_input *in, const cc_cloudmask_options *o, uint8_t *mask)
{
    return cc_cloudmask_compute_score(in, o, mask, NULL);
}

/* The scratch of one mask computation (n = w*h pixels) and the scene
 * statistics the shadow test is relative to. */
typedef struct {
    int w, h;
    size_t n;
    double *score, *aux, *valid, *tmp; /* tmp: n + max(w, h) + 1 (box_sum) */
    uint8_t *cand;
    double csi_min, csi_mean, bb_min, bb_mean;
} cm_work;

/* 1. validity (mask CLEAR or NODATA) and the raw score (minimum of the
 * rescaled features); the scene statistics. Returns the valid pixels. */
static size_t raw_score(const bandset *b, unsigned terms, const cc_cloudmask_options *o, cm_work *k, uint8_t *mask)
{
    const size_t n = k->n;
    const float *used[8] = {b->b2, b->nir, b->b11, (terms & CC_CM_TERM_B1) ? b->b1 : NULL,
                            (terms & CC_CM_TERM_B1B10) ? b->b10 : NULL, (terms & CC_CM_TERM_VIS) ? b->vis3 : NULL,
                            (terms & CC_CM_TERM_VIS) || o->snow_water ? b->b4 : NULL,
                            (terms & CC_CM_TERM_NDSI) ? b->b3 : NULL};
    size_t nvalid = 0;
    double csi_min = INFINITY, csi_sum = 0.0, bb_min = INFINITY, bb_sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        int ok = 1;
        for (int j = 0; j < 8 && ok; j++)
            if (used[j] && !isfinite(used[j][i]))
                ok = 0;
        mask[i] = ok ? CC_CM_CLEAR : CC_CM_NODATA;
        if (!ok) {
            k->score[i] = NAN;
            continue;
        }
        nvalid++;
        double s = 1.0;
        s = fmin(s, rescale(b->b2[i], 0.1, 0.5));
        if (terms & CC_CM_TERM_B1)
            s = fmin(s, rescale(b->b1[i], 0.1, 0.3));
        if (terms & CC_CM_TERM_B1B10)
            s = fmin(s, rescale((double)b->b1[i] + b->b10[i], 0.15, 0.2));
        if (terms & CC_CM_TERM_VIS)
            s = fmin(s, rescale((double)b->b4[i] + b->vis3[i] + b->vis2[i], 0.2, 0.8));
        if (terms & CC_CM_TERM_NDSI)
            s = fmin(s, rescale(nd(b->b3[i], b->b11[i]), 0.8, 0.6));
        k->score[i] = s;
        const double csi = 0.5 * ((double)b->nir[i] + b->b11[i]);
        csi_min = fmin(csi_min, csi);
        csi_sum += csi;
        bb_min = fmin(bb_min, b->b2[i]);
        bb_sum += b->b2[i];
    }
    if (nvalid) {
        k->csi_min = csi_min, k->csi_mean = csi_sum / (double)nvalid;
        k->bb_min = bb_min, k->bb_mean = bb_sum / (double)nvalid;
    }
    return nvalid;
}

/* 2. grey closing (dilation then erosion) and 3. box mean, over the valid
 * pixels of each window. */
static void smooth_score(const cc_cloudmask_options *o, cm_work *k, const uint8_t *mask)
{
    const int w = k->w, h = k->h;
    const size_t n = k->n;
    if (o->closing_size > 1) {
        const int r = o->closing_size / 2;
        for (size_t i = 0; i < n; i++)
            k->aux[i] = mask[i] ? k->score[i] : -INFINITY;
        box_extreme(k->aux, w, h, r, 1.0, k->tmp);
        for (size_t i = 0; i < n; i++)
            k->aux[i] = mask[i] ? k->aux[i] : INFINITY;
        box_extreme(k->aux, w, h, r, -1.0, k->tmp);
        for (size_t i = 0; i < n; i++)
            if (mask[i])
                k->score[i] = k->aux[i];
    }
    if (o->mean_size > 1) {
        const int r = o->mean_size / 2;
        for (size_t i = 0; i < n; i++)
            k->aux[i] = mask[i] ? k->score[i] : 0.0;
        box_sum(k->aux, w, h, r, k->tmp, k->aux);
        for (size_t i = 0; i < n; i++)
            k->valid[i] = mask[i] ? 1.0 : 0.0;
        box_sum(k->valid, w, h, r, k->tmp, k->valid);
        for (size_t i = 0; i < n; i++)
            if (mask[i])
                k->score[i] = k->aux[i] / k->valid[i];
    }
}

/* 4. clip and threshold; 5. snow and water among the clear pixels. */
static void classify(const bandset *b, const cc_cloudmask_options *o, cm_work *k, uint8_t *mask)
{
    const size_t n = k->n;
    for (size_t i = 0; i < n; i++) {
        if (!mask[i])
            continue;
        k->score[i] = fmin(1.0, fmax(1e-5, k->score[i]));
        if (k->score[i] >= o->threshold)
            mask[i] = CC_CM_CLOUD;
    }
    /* 5. snow (NDSI > 0.4, SNOMAP, with Fmask's NIR > 0.11 and green > 0.1; Fmask's
     * NDSI > 0.15 needs its thermal test, which S2 lacks) and water (Fmask) */
    if (o->snow_water && b->b4) {
        for (size_t i = 0; i < n; i++) {
            if (mask[i] != CC_CM_CLEAR)
                continue;
            const double nir = b->nir[i], red = b->b4[i];
            const double ndvi = nd(nir, red);
            if (b->b3 && b->b3 != b->b4 && nd(b->b3[i], b->b11[i]) > 0.4 && nir > 0.11 && b->b3[i] > 0.1)
                mask[i] = CC_CM_SNOW;
            else if ((ndvi < 0.01 && nir < 0.11) || (ndvi < 0.1 && nir < 0.05))
                mask[i] = CC_CM_WATER;
        }
    }
}

/* 6. shadow candidates (scene-relative darkness), majority filter, near a
 * cloud only. */
static void shadows(const bandset *b, const cc_cloudmask_options *o, double pixel_size_m, cm_work *k, uint8_t *mask)
{
    const int w = k->w, h = k->h;
    const size_t n = k->n;
    const double t3 = k->csi_min + 0.75 * (k->csi_mean - k->csi_min);
    const double t4 = k->bb_min + (5.0 / 6.0) * (k->bb_mean - k->bb_min);
    for (size_t i = 0; i < n; i++) {
        k->cand[i] = 0;
        if (mask[i] && 0.5 * ((double)b->nir[i] + b->b11[i]) < t3 && b->b2[i] < t4)
            k->cand[i] = 1;
    }
    if (o->shadow_filter_size > 1) {
        const int r = o->shadow_filter_size / 2;
        for (size_t i = 0; i < n; i++) {
            k->aux[i] = k->cand[i];
            k->valid[i] = mask[i] != CC_CM_NODATA;
        }
        box_sum(k->aux, w, h, r, k->tmp, k->aux);
        box_sum(k->valid, w, h, r, k->tmp, k->valid);
        for (size_t i = 0; i < n; i++)
            k->cand[i] = mask[i] && 2.0 * k->aux[i] > k->valid[i];
    }
    /* near a cloud only */
    const int rs = radius_px(o->shadow_search_m, pixel_size_m);
    if (rs > 0) {
        for (size_t i = 0; i < n; i++)
            k->aux[i] = mask[i] == CC_CM_CLOUD;
        box_sum(k->aux, w, h, rs, k->tmp, k->aux);
        for (size_t i = 0; i < n; i++)
            if (k->aux[i] < 0.5)
                k->cand[i] = 0;
    }
    for (size_t i = 0; i < n; i++)
        if (k->cand[i] && mask[i] == CC_CM_CLEAR) /* water and snow stay */
            mask[i] = CC_CM_SHADOW;
}

cc_status cc_cloudmask_compute_score(const cc_cloudmask_input *in, const cc_cloudmask_options *o,
                                     uint8_t *mask, float *score_out)
{
    cc_status st = CC_ERR_INTERNAL;
    cm_work k;
    cc_cloudmask_options def;
    memset(&k, 0, sizeof k);
    if (!o) {
        cc_cloudmask_options_init(&def);
        o = &def;
    }
    if (!in || !mask || in->width <= 0 || in->height <= 0)
        return cc_error_set(CC_ERR_ARG, "cloudmask: empty input grid");
    if (o->closing_size < 1 || o->mean_size < 1 || o->shadow_filter_size < 1 || !(o->threshold >= 0.0) ||
        o->closing_size % 2 == 0 || o->mean_size % 2 == 0 || o->shadow_filter_size % 2 == 0)
        return cc_error_set(CC_ERR_ARG, "cloudmask: window sizes must be odd and >= 1, threshold >= 0");
    bandset b;
    pick_bands(in, o, &b);
    if (!b.b2)
        return cc_error_set(CC_ERR_MISSING, "cloudmask: band B02 is missing%s",
                            o->red_proxy ? " (and no B04 to stand in)" : "");
    if (!b.nir)
        return cc_error_set(CC_ERR_MISSING, "cloudmask: band B08 (or B8A) is missing");
    if (!b.b11)
        return cc_error_set(CC_ERR_MISSING, "cloudmask: band B11 is missing");
    const int w = in->width, h = in->height;
    const size_t n = (size_t)w * (size_t)h;
    k.w = w, k.h = h, k.n = n;
    k.score = cc_malloc3(n, 1, sizeof *k.score);
    k.aux = cc_malloc3(n, 1, sizeof *k.aux);
    k.valid = cc_malloc3(n, 1, sizeof *k.valid);
    k.tmp = cc_malloc3(n + (size_t)(w > h ? w : h) + 1, 1, sizeof *k.tmp);
    k.cand = cc_malloc3(n, 1, 1);
    if (!k.score || !k.aux || !k.valid || !k.tmp || !k.cand) {
        st = cc_error_set(CC_ERR_NOMEM, "cloudmask: cannot allocate %d x %d pixels", w, h);
        goto out;
    }
    if (raw_score(&b, terms_of(&b), o, &k, mask) == 0) {
        st = cc_error_set(CC_ERR_NODATA, "cloudmask: no valid pixel (every pixel misses a band)");
        goto out;
    }
    smooth_score(o, &k, mask);
    classify(&b, o, &k, mask);
    shadows(&b, o, in->pixel_size_m, &k, mask);

    /* 7. buffers: cloud into every valid class, shadow into clear, snow, water */
    const unsigned any_valid = (1u << CC_CM_CLEAR) | (1u << CC_CM_SHADOW) | (1u << CC_CM_SNOW) | (1u << CC_CM_WATER);
    dilate_class(mask, w, h, radius_px(o->cloud_buffer_m, in->pixel_size_m), CC_CM_CLOUD, any_valid, k.aux, k.tmp);
    dilate_class(mask, w, h, radius_px(o->shadow_buffer_m, in->pixel_size_m), CC_CM_SHADOW,
                 any_valid & ~(1u << CC_CM_SHADOW), k.aux, k.tmp);

    if (score_out)
        for (size_t i = 0; i < n; i++)
            score_out[i] = mask[i] ? (float)k.score[i] : NAN;
    st = CC_OK;
out:
    free(k.score);
    free(k.aux);
    free(k.valid);
    free(k.tmp);
    free(k.cand);
    return st;
}

void cc_cloudmask_from_scl(const uint8_t *scl, size_t n, uint8_t *mask)
{
    static const uint8_t map[12] = {CC_CM_NODATA, CC_CM_NODATA, CC_CM_CLEAR, CC_CM_SHADOW,
                                    CC_CM_CLEAR,  CC_CM_CLEAR,  CC_CM_WATER, CC_CM_CLEAR,
                                    CC_CM_CLOUD,  CC_CM_CLOUD,  CC_CM_CLOUD, CC_CM_SNOW};
    for (size_t i = 0; i < n; i++)
        mask[i] = scl[i] < 12 ? map[scl[i]] : CC_CM_NODATA;
}

void cc_cloudmask_from_fmask(const uint8_t *fmask, size_t n, uint8_t *mask)
{
    static const uint8_t map[5] = {CC_CM_CLEAR, CC_CM_WATER, CC_CM_SHADOW, CC_CM_SNOW, CC_CM_CLOUD};
    for (size_t i = 0; i < n; i++)
        mask[i] = fmask[i] < 5 ? map[fmask[i]] : CC_CM_NODATA;
}

static void class_score(cc_cloudmask_class_score *c)
{
    const double tp = (double)c->tp, fp = (double)c->fp, fn = (double)c->fn;
    c->precision = tp + fp > 0 ? tp / (tp + fp) : NAN;
    c->recall = tp + fn > 0 ? tp / (tp + fn) : NAN;
    c->f1 = 2 * tp + fp + fn > 0 ? 2 * tp / (2 * tp + fp + fn) : NAN;
    c->iou = tp + fp + fn > 0 ? tp / (tp + fp + fn) : NAN;
}

void cc_cloudmask_evaluate(const uint8_t *pred, const uint8_t *ref, size_t n, cc_cloudmask_scores *s)
{
    memset(s, 0, sizeof *s);
    uint64_t agree = 0;
    for (size_t i = 0; i < n; i++) {
        const int p = pred[i] < CC_CM_NCLASSES ? pred[i] : CC_CM_NODATA;
        const int r = ref[i] < CC_CM_NCLASSES ? ref[i] : CC_CM_NODATA;
        s->confusion[p][r]++;
        if (p == CC_CM_NODATA || r == CC_CM_NODATA)
            continue;
        s->n++;
        const int pc = p == CC_CM_CLOUD, rc = r == CC_CM_CLOUD;
        const int ps = p == CC_CM_SHADOW, rs = r == CC_CM_SHADOW;
        s->cloud.tp += pc && rc;
        s->cloud.fp += pc && !rc;
        s->cloud.fn += !pc && rc;
        s->shadow.tp += ps && rs;
        s->shadow.fp += ps && !rs;
        s->shadow.fn += !ps && rs;
        /* collapsed classes: cloud, shadow, other */
        const int pk = pc ? 0 : ps ? 1 : 2, rk = rc ? 0 : rs ? 1 : 2;
        agree += pk == rk;
    }
    class_score(&s->cloud);
    class_score(&s->shadow);
    s->overall_accuracy = s->n ? (double)agree / (double)s->n : NAN;
}

int cc_cloudmask_window_px(double metres, double pixel)
{
    double half = floor(metres / pixel / 2.0 + 1e-9);
    return half > 50 ? 101 : 2 * (int)half + 1;
}

cc_status cc_cloudmask_scene(const cc_scene *s, const cc_grid *g, const cc_cloudmask_options *co, uint8_t *mask,
                             unsigned *terms)
{
    cc_status st = CC_ERR_INTERNAL;
    float *bands[CC_NBANDS] = {0};
    const size_t n = cc_grid_npix(g);
    cc_cloudmask_input in;
    memset(&in, 0, sizeof in);
    in.width = g->width;
    in.height = g->height;
    in.pixel_size_m = g->gt[1];
    for (int b = 0; b < CC_NBANDS; b++) {
        if (!s->band[b].present || b == CC_B09 || b == CC_B05 || b == CC_B06 || b == CC_B07 || b == CC_B12)
            continue; /* not used by the tests */
        if (b == CC_B8A && s->band[CC_B08].present)
            continue; /* the tests take B08 when both are there */
        if (!(bands[b] = cc_malloc3(n, 1, sizeof(float)))) {
            st = cc_error_set(CC_ERR_NOMEM, "cloudmask: cannot allocate %d x %d pixels", g->width, g->height);
            goto out;
        }
        if ((st = cc_grid_resample_band(&s->band[b], s->wkt, g, bands[b])) != CC_OK)
            goto out;
        cc_refl_decode_band(bands[b], n, s->radio_offset[b], s->quantification);
        in.band[b] = bands[b];
    }
    if (terms)
        *terms = cc_cloudmask_terms(&in, co);
    if ((st = cc_cloudmask_compute(&in, co, mask)) != CC_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", cc_error_message());
        st = cc_error_set(st, "%s: %s", s->product_id, msg);
        goto out;
    }
    st = CC_OK;
out:
    for (int b = 0; b < CC_NBANDS; b++)
        free(bands[b]);
    return st;
}
