/* Rapid BoA: the emulator's model layout, its context inputs, and the run over
 * a scene (read/resample + context channels -> streaming inference -> cube). */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, CLOCK_MONOTONIC */
#include "pipeline/boa/boa.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cpl_conv.h>
#include <gdal.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/reflectance.h"
#include "core/version.h"
#include "io/cube.h"
#include "io/grid/grid.h"
#include "pipeline/atmos/context.h"
#include "pipeline/boa/infer.h"
#include "pipeline/report/quicklook.h"

const char *const cc_boa_channel_names[CC_BOA_NIN] = {
    "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12",
    "MU_S", "MU_V", "COS_RAA", "AOT550", "WV_HALF", "P_REL", "O3"};

void cc_boa_context_features(const cc_boa_context *c, float out[CC_BOA_NCTX])
{
    out[0] = (float)(c->mu_s + 1.0);
    out[1] = (float)(c->mu_v + 1.0);
    out[2] = (float)(c->cos_raa + 1.0);
    out[3] = (float)(c->aot550 + 1.0);
    out[4] = (float)(c->wv * 0.5 + 1.0);
    out[5] = (float)(c->p_rel + 1.0);
    out[6] = (float)(c->o3 + 1.0);
}

uint32_t cc_boa_defer_bands(const cc_boa_options *o)
{
    if (o->atmos.resolution > 0)
        return 0;
    static const int later[] = {CC_B01, CC_B02, CC_B03, CC_B05, CC_B06, CC_B07, CC_B10, CC_B11};
    uint32_t m = 0;
    for (size_t i = 0; i < sizeof later / sizeof *later; i++)
        m |= 1u << later[i];
    return m;
}

void cc_boa_options_init(cc_boa_options *o)
{
    memset(o, 0, sizeof *o);
    cc_reference_options_init(&o->atmos);
}

cc_status cc_boa_model_build(const cc_boa_arch *a, cc_nn_model *m)
{
    cc_nn_model_init(m);
    if (a->nhidden < 1 || a->nhidden > CC_BOA_MAX_HIDDEN)
        return cc_error_set(CC_ERR_ARG, "boa model: %d hidden layers (1..%d)", a->nhidden, CC_BOA_MAX_HIDDEN);
    cc_nn_input_desc *in = &m->input;
    in->nchannels = CC_BOA_NIN;
    for (int c = 0; c < CC_BOA_NIN; c++) {
        snprintf(in->band[c], sizeof in->band[c], "%s", cc_boa_channel_names[c]);
        in->resolution_m[c] = c < CC_BOA_NBANDS ? 10 : 0;
        in->mean[c] = a->mean[c];
        in->std[c] = a->std[c] > 0 ? a->std[c] : 1.0f;
    }
    static const int res[CC_BOA_NBANDS] = {60, 10, 10, 10, 20, 20, 20, 10, 20, 60, 20, 20};
    for (int c = 0; c < CC_BOA_NBANDS; c++)
        in->resolution_m[c] = res[c];
    in->dn_offset = -CC_REFL_DN_OFFSET_PB04;
    in->quantification = CC_REFL_QUANT;

    int prev = cc_nn_add_input(m, "input", CC_BOA_NIN);
    int nl = a->nhidden + 1;
    for (int l = 0; l < nl && prev >= 0; l++) {
        int cout = l < a->nhidden ? a->hidden[l] : CC_BOA_NBANDS;
        if (cout < 1 || cout > CC_NN_MAX_CHANNELS) {
            cc_nn_model_free(m);
            return cc_error_set(CC_ERR_ARG, "boa model: hidden width %d", cout);
        }
        static const float zero_bias[CC_NN_MAX_CHANNELS]; /* zero weights, a zero trainable bias */
        char name[32];
        snprintf(name, sizeof name, l < a->nhidden ? "hidden%d" : "correction", l + 1);
        prev = cc_nn_add_conv(m, name, CC_OP_CONV2D, prev, cout, 1, 1, CC_PAD_ZERO,
                              l < a->nhidden ? a->act : CC_ACT_NONE, 0.01f, NULL, zero_bias);
    }
    if (prev < 0) {
        cc_nn_model_free(m);
        return cc_error_status();
    }
    float scale[CC_BOA_NBANDS], shift[CC_BOA_NBANDS];
    int residual[CC_BOA_NBANDS];
    for (int c = 0; c < CC_BOA_NBANDS; c++) {
        scale[c] = a->out_scale;
        shift[c] = 0;
        residual[c] = c;
    }
    if (cc_nn_add_output(m, "output", prev, scale, shift, residual, 1000) < 0 ||
        cc_nn_model_finalize(m) != CC_OK) {
        cc_status st = cc_error_status();
        cc_nn_model_free(m);
        return st;
    }
    return CC_OK;
}

cc_status cc_boa_model_check(const cc_nn_model *m, const char *path)
{
    if (m->input.nchannels != CC_BOA_NIN && m->input.nchannels != CC_BOA_NIN_V1)
        return cc_error_set(CC_ERR_FORMAT, "%s: not a BoA model (%d input channels, expected %d or %d)", path,
                            m->input.nchannels, CC_BOA_NIN, CC_BOA_NIN_V1);
    for (int c = 0; c < m->input.nchannels; c++)
        if (strcmp(m->input.band[c], cc_boa_channel_names[c]) != 0)
            return cc_error_set(CC_ERR_FORMAT, "%s: not a BoA model (input channel %d is '%s', expected '%s')",
                                path, c, m->input.band[c], cc_boa_channel_names[c]);
    const cc_nn_node *o = &m->nodes[m->output_node];
    if (o->cout != CC_BOA_NBANDS)
        return cc_error_set(CC_ERR_FORMAT, "%s: not a BoA model (%d outputs, expected %d)", path, o->cout,
                            CC_BOA_NBANDS);
    for (int c = 0; c < CC_BOA_NBANDS; c++)
        if (o->residual_channel[c] != c)
            return cc_error_set(CC_ERR_FORMAT, "%s: not a BoA model (output %d does not correct band %s)", path,
                                c, cc_boa_channel_names[c]);
    return CC_OK;
}

/* ---- the source: 12 bands on the output grid + 6 context channels ---- */

typedef struct {
    const cc_scene *s;
    cc_grid grid;
    /* per band: the scene raster when it is the output grid or an integer
     * multiple of it with the same upper-left corner (upsampled per window),
     * else a copy resampled onto the output grid by GDAL (owned) */
    const cc_raster_u16 *band[CC_BOA_NBANDS];
    int factor[CC_BOA_NBANDS];          /* 1: same grid; f > 1: upsampled by f    */
    uint16_t *resampled[CC_BOA_NBANDS]; /* owned, or NULL                         */
    cc_reference_context *ctx;          /* the reference's per-pixel atmosphere,
                                           owned (pipeline/atmos/context.h)      */
    int ctx_chan[CC_ATMOS_NFEATURES];   /* model channel of each context feature
                                           (-1: the model has none, e.g. O3 in
                                           18-input models)                      */
    int nin;                            /* the model's input channels (18 or 19) */
    /* bands the scene left undecoded (cc_scene_options.defer_bands): read and
     * decoded window by window in the reader thread, overlapping inference */
    int ndefer, defer_chan[CC_BOA_NBANDS];
    cc_infer_gdal *defer;               /* owned                                 */
    cc_infer_source defer_src;
    uint16_t *defer_buf;                /* one window, ndefer channels; owned    */
    size_t defer_cap;
    double dn_offset, quant;
    cc_boa_quality *q;                  /* flags of each window read (quality.h) */
} boa_source;

/* The deferred bands of a window (JPEG 2000 decoded here, in the reader). */
static cc_status boa_read_deferred(boa_source *b, int x0, int y0, int w, int h, uint16_t *dst)
{
    if (b->ndefer == 0)
        return CC_OK;
    const size_t n = (size_t)w * (size_t)h;
    if (n * (size_t)b->ndefer > b->defer_cap) {
        free(b->defer_buf);
        b->defer_cap = 0;
        if (!(b->defer_buf = cc_malloc3(n, (size_t)b->ndefer, sizeof *b->defer_buf)))
            return CC_ERR_NOMEM;
        b->defer_cap = n * (size_t)b->ndefer;
    }
    cc_status st = b->defer_src.read(b->defer_src.ctx, x0, y0, w, h, b->defer_buf);
    if (st != CC_OK)
        return st;
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < b->ndefer; j++)
            dst[i * b->nin + b->defer_chan[j]] = b->defer_buf[i * b->ndefer + j];
    return CC_OK;
}

static cc_status boa_read(void *vctx, int x0, int y0, int w, int h, uint16_t *dst)
{
    boa_source *b = vctx;
    cc_status st = boa_read_deferred(b, x0, y0, w, h, dst);
    if (st != CC_OK)
        return st;
    for (int k = 0; k < CC_BOA_NBANDS; k++) {
        if (!b->band[k]->dn)
            continue; /* deferred: done above */
        if (b->resampled[k] || b->factor[k] == 1) {
            const uint16_t *src = b->resampled[k] ? b->resampled[k] : b->band[k]->dn;
            int sw = b->resampled[k] ? b->grid.width : b->band[k]->width;
            for (int r = 0; r < h; r++) {
                const uint16_t *row = src + (size_t)(y0 + r) * sw + x0;
                uint16_t *d = dst + (size_t)r * w * b->nin + k;
                for (int c = 0; c < w; c++)
                    d[(size_t)c * b->nin] = row[c];
            }
        } else {
            const cc_raster_u16 *rr = b->band[k];
            st = cc_infer_upsample(rr->dn, 0, 0, rr->width, rr->height, rr->width, rr->height, b->factor[k], x0,
                                   y0, w, h, dst + k, b->nin);
            if (st != CC_OK)
                return st;
        }
    }
    /* context: the reference's per-pixel atmosphere (cc_reference_context_fill),
     * each feature into the model channel of its name */
    cc_atmos_pixel *px = cc_malloc3((size_t)w * (size_t)h, sizeof *px, 1);
    if (!px)
        return CC_ERR_NOMEM;
    cc_reference_context_fill(b->ctx, x0, y0, w, h, px);
    const int nin = b->nin;
    for (size_t i = 0; i < (size_t)w * (size_t)h; i++) {
        double f[CC_ATMOS_NFEATURES];
        cc_reference_pixel_features(&px[i], f);
        uint16_t *d = dst + i * nin;
        for (int q = 0; q < CC_ATMOS_NFEATURES; q++)
            if (b->ctx_chan[q] >= 0)
                d[b->ctx_chan[q]] = cc_refl_encode(f[q], -b->dn_offset, b->quant);
    }
    free(px);
    return cc_boa_quality_read(b->q, x0, y0, w, h, dst);
}

/* ---- the sink: the cube stream + a decimated copy for the quicklook ---- */

typedef struct {
    cc_cube_stream *cube;
    int width, height, f, qw, qh;
    uint16_t *ql[3]; /* B04, B03, B02 decimated by f (NULL: no quicklook) */
    size_t n_valid;
    cc_boa_quality *q;   /* the quality channel, the fallback values (quality.h) */
    cc_progress *prog;   /* pixels written (core/progress.h) */
} boa_sink;

static cc_status boa_write(void *vctx, int x0, int y0, int w, int h, const uint16_t *net)
{
    boa_sink *k = vctx;
    const uint16_t *data; /* the 12 bands + quality */
    cc_status st = cc_boa_quality_write(k->q, x0, y0, w, h, net, &data);
    if (st == CC_OK)
        st = cc_cube_stream_write_window(k->cube, x0, y0, w, h, data);
    if (st != CC_OK)
        return st;
    cc_progress_add(k->prog, (uint64_t)w * (uint64_t)h);
    for (int r = 0; r < h; r++)
        for (int c = 0; c < w; c++) {
            const uint16_t *px = data + ((size_t)r * w + c) * (CC_BOA_NBANDS + 1);
            k->n_valid += px[0] != 0;
            int gy = y0 + r, gx = x0 + c;
            if (k->ql[0] && gy % k->f == 0 && gx % k->f == 0) {
                size_t q = (size_t)(gy / k->f) * k->qw + gx / k->f;
                k->ql[0][q] = px[3]; /* B04 */
                k->ql[1][q] = px[2]; /* B03 */
                k->ql[2][q] = px[1]; /* B02 */
            }
        }
    return CC_OK;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* 1. The atmosphere: the reference processor's per-pixel context
 * (pipeline/atmos/context.h), and the model channel of each of its features
 * found by name (an 18-input model has no O3 channel). */
static cc_status boa_context(const cc_scene *s, const cc_nn_model *m, const cc_boa_options *o, boa_source *src,
                             cc_boa_stats *stats)
{
    static const char *const names[CC_ATMOS_NFEATURES] = {"MU_S", "MU_V", "COS_RAA", "AOT550",
                                                          "WV_HALF", "P_REL", "O3"};
    for (int q = 0; q < CC_ATMOS_NFEATURES; q++) {
        src->ctx_chan[q] = -1;
        for (int c = CC_BOA_NBANDS; c < m->input.nchannels; c++)
            if (strcmp(m->input.band[c], names[q]) == 0)
                src->ctx_chan[q] = c;
    }
    cc_reference_options ao = o->atmos;
    ao.context_resolution = o->context_resolution;
    cc_status st = cc_reference_context_build(s, &ao, &src->grid, &src->ctx);
    if (st != CC_OK)
        return st;
    stats->atmos = *cc_reference_context_atmos(src->ctx);
    return CC_OK;
}

/* The deferred bands' window source; it must be the output grid. */
static cc_status boa_open_deferred(const char *const *paths, const char *input_name, boa_source *src)
{
    double gt[6];
    /* GDAL's block cache holds the decoded JPEG 2000 tiles between windows; a
     * few strips of tiles are enough (GDAL's default is 5 % of the RAM) */
    if (!CPLGetConfigOption("GDAL_CACHEMAX", NULL))
        GDALSetCacheMax64((GIntBig)256 << 20);
    cc_status st = cc_infer_gdal_open(paths, src->ndefer, &src->defer, &src->defer_src, gt, NULL);
    if (st != CC_OK)
        return st;
    if (src->defer_src.width != src->grid.width || src->defer_src.height != src->grid.height ||
        !cc_grid_same_gt(gt, src->grid.gt))
        return cc_error_set(CC_ERR_UNSUPPORTED, "%s: the undecoded bands are not on the output grid (decode them "
                            "with the scene instead)", input_name);
    return CC_OK;
}

/* 2. Input bands (aligned, or resampled onto the output grid; undecoded ones
 * read by window), their common DN convention. */
static cc_status boa_inputs(const cc_scene *s, int b8a_sub, const char *input_name, boa_source *src)
{
    const cc_grid *g = &src->grid;
    cc_status st;
    double radio = NAN;
    const char *defer_path[CC_BOA_NBANDS];
    for (int k = 0; k < CC_BOA_NBANDS; k++) {
        int b = cc_l2a_bands[k];
        if (b == CC_B8A && b8a_sub) {
            cc_warn("%s: no B8A: the emulator's B8A input is B08 (--b8a-from-b08)", input_name);
            b = CC_B08;
        }
        if (!s->band[b].present)
            return cc_error_set(CC_ERR_MISSING, "%s: band %s is missing (the emulator needs all 12 L2A bands)",
                                input_name, cc_band_names[b]);
        if (isnan(radio))
            radio = s->radio_offset[b];
        else if (s->radio_offset[b] != radio)
            return cc_error_set(CC_ERR_UNSUPPORTED, "%s: bands have different radiometric offsets (%g, %g)",
                                input_name, radio, s->radio_offset[b]);
        src->band[k] = &s->band[b];
        if (!s->band[b].dn) {
            defer_path[src->ndefer] = s->band[b].source;
            src->defer_chan[src->ndefer++] = k;
            continue;
        }
        src->factor[k] = cc_grid_raster_factor(&s->band[b], g);
        if (src->factor[k] == 0) {
            size_t n = cc_grid_npix(g);
            float *tmp = cc_malloc3(n, sizeof(float), 1);
            src->resampled[k] = cc_malloc3(n, sizeof(uint16_t), 1);
            if (!tmp || !src->resampled[k]) {
                free(tmp);
                return CC_ERR_NOMEM;
            }
            st = cc_grid_resample_band(&s->band[b], s->wkt, g, tmp);
            for (size_t i = 0; st == CC_OK && i < n; i++)
                src->resampled[k][i] = tmp[i] <= 0.5f ? 0 : tmp[i] >= 65535.0f ? 65535 : (uint16_t)lrintf(tmp[i]);
            free(tmp);
            if (st != CC_OK)
                return st;
        }
    }
    src->dn_offset = radio;
    src->quant = s->quantification;
    return src->ndefer ? boa_open_deferred(defer_path, input_name, src) : CC_OK;
}

/* 4. The cube stream (12 bands, the product's output DN convention, provenance
 * in stats->parameters) and, with a quicklook, its decimated B04/B03/B02. */
static cc_status boa_sink_open(const cc_scene *s, const cc_nn_model *m, const cc_boa_options *o, int b8a_sub,
                               const char *input_name, const char *out_nc, int quicklook, const cc_grid *g,
                               double out_off, cc_boa_stats *stats, boa_sink *snk)
{
    const cc_reference_atmos *at = &stats->atmos;
    cc_cube_layer layers[CC_BOA_NBANDS + 1]; /* the bands, then the quality layer */
    char long_names[CC_BOA_NBANDS][96];
    cc_boa_quality_layer(&layers[CC_BOA_NBANDS]);
    for (int k = 0; k < CC_BOA_NBANDS; k++) {
        int b = cc_l2a_bands[k];
        snprintf(long_names[k], sizeof long_names[k], "surface reflectance (emulated), band %s (%.1f nm)",
                 cc_band_names[b], cc_band_wavelength_nm[b]);
        layers[k] = (cc_cube_layer){.name = cc_band_names[b], .long_name = long_names[k], .units = "1",
                                    .standard_name = "surface_bidirectional_reflectance",
                                    .scale_factor = 1e-4, .add_offset = -out_off * 1e-4, .fill_value = 0,
                                    .wavelength_nm = cc_band_wavelength_nm[b], .data = NULL};
    }
    char processor[160];
    snprintf(processor, sizeof processor, "clearcube %s boa (Rapid BoA emulator, model %.16s)", CC_VERSION,
             m->content_hash);
    snprintf(stats->parameters, sizeof stats->parameters,
             "model_sha256=%s; aot550=%.4f (%s); water_vapour=%.3f g cm-2 (%s); pressure=%.2f hPa (%s); "
             "context_grid=%g m; dn=10000*rho+%g%s",
             m->content_hash, at->aot550, at->aot_source, at->water_vapour, at->wv_source, at->pressure_hpa,
             at->pressure_source, at->grid_resolution, out_off,
             b8a_sub ? "; B8A input = B08 (product has no B8A; B8A output approximate)" : "");
    cc_cube_write_args ca = {.path = out_nc, .tile_id = s->tile_id, .product = "boa-l2a", .wkt = s->wkt,
                             .width = g->width, .height = g->height, .year = s->year, .month = s->month,
                             .day = s->day, .nlayers = CC_BOA_NBANDS + 1, .layers = layers,
                             .inputs = input_name, .processor = processor, .parameters = stats->parameters,
                             .deflate_level = o->deflate_level > 0 ? o->deflate_level : 1};
    memcpy(ca.gt, g->gt, sizeof ca.gt);
    cc_status st = cc_cube_stream_open(&ca, &snk->cube);
    if (st != CC_OK)
        return st;
    snk->width = g->width;
    snk->height = g->height;
    if (quicklook) {
        int maxd = g->width > g->height ? g->width : g->height;
        snk->f = (maxd + 2047) / 2048;
        snk->qw = (g->width + snk->f - 1) / snk->f;
        snk->qh = (g->height + snk->f - 1) / snk->f;
        for (int i = 0; i < 3; i++)
            if (!(snk->ql[i] = cc_calloc3((size_t)snk->qw * snk->qh, sizeof(uint16_t), 1)))
                return CC_ERR_NOMEM;
    }
    return CC_OK;
}

/* 5. Streaming inference from the source into the sink. */
static cc_status boa_infer(const cc_nn_model *mm, const cc_boa_options *o, const char *input_name,
                           const char *out_nc, boa_source *src, boa_sink *snk, cc_infer_stats *is)
{
    const cc_grid *g = &src->grid;
    cc_infer_source isrc = {.width = g->width, .height = g->height, .nchannels = src->nin,
                            .name = input_name, .read = boa_read, .ctx = src};
    cc_infer_sink isnk = {.nchannels = CC_BOA_NBANDS, .name = out_nc, .write = boa_write, .ctx = snk};
    cc_infer_options io;
    cc_infer_options_init(&io);
    io.backend = o->backend;
    io.core = o->core;
    if (io.core == 0) {
        /* windows aligned with the cube's 512 x 512 chunks: each chunk is then
         * compressed once (an unaligned window leaves partial chunks that the
         * HDF5 cache evicts and re-compresses) */
        int core = 0, halo = 0;
        size_t bytes = 0;
        /* with bands decoded by window, the windows also follow the JPEG 2000
         * tiles (1024 x 1024 in Sentinel-2 products), and their memory is
         * kept small beside the decoded context bands and GDAL's block cache
         * (the 2 GiB of issue 13) */
        const int align = src->ndefer ? 1024 : 512;
        if (src->ndefer)
            io.mem_budget = (size_t)640 << 20;
        cc_status st = cc_infer_plan(mm, g->width, g->height, &io, &core, &halo, &bytes);
        if (st != CC_OK)
            return st;
        io.core = core >= align ? core / align * align : core;
    }
    return cc_infer_run(mm, &isrc, &isnk, &io, is);
}

cc_status cc_boa_run(const cc_scene *s, const cc_nn_model *m, const cc_boa_options *o, const char *input_name,
                     const char *out_nc, const char *quicklook, cc_boa_stats *stats)
{
    cc_status st;
    cc_boa_stats local;
    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof *stats);
    double t0 = now_s();
    boa_source src;
    memset(&src, 0, sizeof src);
    boa_sink snk;
    memset(&snk, 0, sizeof snk);
    cc_nn_node *nodes = NULL;
    cc_l2a_cloudbits cb; /* the quality layer's cloud mask (l2a_quality.h) */
    memset(&cb, 0, sizeof cb);

    if ((st = cc_boa_model_check(m, "model")) != CC_OK)
        return st;
    src.s = s;
    src.nin = m->input.nchannels;
    if ((st = cc_grid_for_scene(s, o->atmos.resolution, &src.grid)) != CC_OK)
        return st;
    const cc_grid *g = &src.grid;

    int b8a_sub = o->b8a_from_b08 && !s->band[CC_B8A].present && s->band[CC_B08].present;
    for (int k = 0; k < CC_BOA_NBANDS; k++)
        if (!s->band[cc_l2a_bands[k]].present && !(b8a_sub && cc_l2a_bands[k] == CC_B8A))
            return cc_error_set(CC_ERR_MISSING, "%s: band %s is missing (the emulator needs all 12 L2A bands)",
                                input_name, cc_band_names[cc_l2a_bands[k]]);
    if ((st = boa_context(s, m, o, &src, stats)) != CC_OK)
        goto out;
    stats->context_s = now_s() - t0;
    if ((st = boa_inputs(s, b8a_sub, input_name, &src)) != CC_OK)
        goto out;

    /* 3. The model in this product's DN conventions (shallow copy: the
     * parameters are shared, only the input/output conventions differ). */
    double out_off = cc_reference_output_dn_offset(s);
    cc_nn_model mm = *m;
    nodes = malloc((size_t)m->nnodes * sizeof *nodes);
    if (!nodes) {
        st = CC_ERR_NOMEM;
        goto out;
    }
    memcpy(nodes, m->nodes, (size_t)m->nnodes * sizeof *nodes);
    mm.nodes = nodes;
    mm.input.dn_offset = src.dn_offset;
    mm.input.quantification = s->quantification;
    nodes[mm.output_node].out_dn_offset = out_off;
    if ((st = cc_boa_quality_start(o->domain, &mm, o->fallback, src.ctx, &src.q)) != CC_OK)
        goto out;
    snk.q = src.q;
    if ((st = cc_l2a_cloudbits_compute(s, g, &cb)) != CC_OK)
        goto out;
    cc_boa_quality_set_cloudbits(src.q, &cb);

    if ((st = boa_sink_open(s, m, o, b8a_sub, input_name, out_nc, quicklook != NULL, g, out_off, stats, &snk)) !=
        CC_OK)
        goto out;
    cc_infer_stats is;
    double t1 = now_s();
    snk.prog = cc_progress_start("boa", "px", (uint64_t)g->width * (uint64_t)g->height);
    st = boa_infer(&mm, o, input_name, out_nc, &src, &snk, &is);
    cc_progress_end(snk.prog);
    if (st != CC_OK)
        goto out;
    if (snk.n_valid == 0) {
        st = cc_error_set(CC_ERR_NODATA, "%s: the scene has no valid pixel", input_name);
        goto out;
    }
    if ((st = cc_boa_quality_finish(src.q, snk.cube, &stats->quality)) != CC_OK)
        goto out;
    st = cc_cube_stream_commit(snk.cube);
    snk.cube = NULL;
    if (st != CC_OK)
        goto out;
    stats->infer_s = now_s() - t1;
    stats->read_s = is.read_s;
    stats->compute_s = is.compute_s;
    stats->write_s = is.write_s;
    if (quicklook && (st = cc_quicklook_write(quicklook, snk.qw, snk.qh, snk.ql[0], snk.ql[1], snk.ql[2], 2048)) !=
                         CC_OK) {
        remove(out_nc);
        goto out;
    }
    stats->width = g->width;
    stats->height = g->height;
    memcpy(stats->gt, g->gt, sizeof stats->gt);
    stats->nbands = CC_BOA_NBANDS;
    stats->dn_offset = out_off;
    stats->n_valid = snk.n_valid;
    stats->wall_s = now_s() - t0;
out:
    if (snk.cube)
        cc_cube_stream_abort(snk.cube);
    for (int i = 0; i < 3; i++)
        free(snk.ql[i]);
    for (int k = 0; k < CC_BOA_NBANDS; k++)
        free(src.resampled[k]);
    free(nodes);
    cc_boa_quality_free(src.q);
    cc_l2a_cloudbits_free(&cb);
    cc_reference_context_free(src.ctx);
    cc_infer_gdal_close(src.defer);
    free(src.defer_buf);
    return st;
}
