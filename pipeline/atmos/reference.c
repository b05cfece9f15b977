/* The reference L2A processor: the per-pixel atmosphere on a coarse grid
 * (context.c), then slab by slab the bands on the output grid, the SMAC
 * inversion per pixel and the L2A DN (reference_stream.c), into whole rasters
 * (cc_reference_run) or a streamed cube (cc_reference_run_cube).
 * Deterministic and independent of the thread count: every pixel is computed
 * independently and the retrievals are order-free. */
#define _POSIX_C_SOURCE 200809L

#include "pipeline/atmos/reference.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/reflectance.h"
#include "core/version.h"
#include "io/cube.h"
#include "pipeline/atmos/atmos.h"
#include "pipeline/atmos/context.h"
#include "pipeline/atmos/l2a_quality.h"
#include "pipeline/atmos/reference-impl.h"
#include "pipeline/report/quicklook.h"

const int cc_l2a_bands[CC_L2A_NBANDS] = {CC_B01, CC_B02, CC_B03, CC_B04, CC_B05, CC_B06,
                                         CC_B07, CC_B08, CC_B8A, CC_B09, CC_B11, CC_B12};

void cc_reference_options_init(cc_reference_options *o)
{
    o->aot550 = NAN;
    o->water_vapour = NAN;
    o->elevation_m = NAN;
    o->dem_path = NULL;
    o->ozone = CC_ATMOS_DEFAULT_UO3;
    o->resolution = 0;
    o->context_resolution = 0;
    o->cuda = 0;
    o->reader = -1;
}

void cc_reference_result_free(cc_reference_result *r)
{
    for (int i = 0; i < CC_L2A_NBANDS; i++)
        free(r->boa[i]);
    free(r->aot);
    free(r->wvp);
    free(r->quality);
    memset(r, 0, sizeof *r);
}

/* Output DN offset from the input's processing baseline (or its radiometric
 * offset when the baseline is unknown, e.g. band stacks). */
double cc_reference_output_dn_offset(const cc_scene *s)
{
    if (s->processing_baseline[0])
        return atof(s->processing_baseline) >= 4.0 ? 1000.0 : 0.0;
    for (int b = 0; b < CC_NBANDS; b++)
        if (s->band[b].present)
            return s->radio_offset[b] <= -999.5 ? 1000.0 : 0.0;
    return 0.0;
}

static double ref_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

cc_status cc_reference_atmosphere(const cc_scene *s, const cc_reference_options *o, cc_reference_atmos *a)
{
    memset(a, 0, sizeof *a);
    cc_grid g;
    cc_reference_context *ctx = NULL;
    cc_status st = cc_grid_for_scene(s, o->resolution, &g);
    if (st == CC_OK)
        st = cc_reference_context_build(s, o, &g, &ctx);
    if (st == CC_OK)
        *a = *cc_reference_context_atmos(ctx);
    cc_reference_context_free(ctx);
    return st;
}

/* Steps 1-2: the output grid, the per-pixel atmosphere and the bands; r's
 * grid, bands and atmosphere summary. On failure the caller frees ctx and e. */
static cc_status ref_setup(const cc_scene *s, const cc_reference_options *o, cc_reference_result *r,
                           cc_reference_context **ctx, ref_engine *e)
{
    cc_status st;
    if ((st = cc_grid_for_scene(s, o->resolution, &r->grid)) != CC_OK)
        return st;
    cc_info("reference: %s on a %dx%d grid at %g m", s->product_id, r->grid.width, r->grid.height, r->grid.gt[1]);
    double t0 = ref_now();
    if ((st = cc_reference_context_build(s, o, &r->grid, ctx)) != CC_OK)
        return st;
    const cc_reference_atmos *a = cc_reference_context_atmos(*ctx);
    r->aot550 = a->aot550;
    r->aot_source = a->aot_source;
    r->water_vapour = a->water_vapour;
    r->wv_source = a->wv_source;
    r->pressure_hpa = a->pressure_hpa;
    r->pressure_source = a->pressure_source;
    r->ozone = a->ozone;
    r->n_ddv = a->n_ddv;
    r->context_s = ref_now() - t0;
    if ((st = ref_engine_init(e, s, &r->grid, *ctx)) != CC_OK)
        return st;
    e->cuda = o->cuda;
    e->reader = o->reader < 0 ? o->cuda : o->reader;
    r->nbands = e->nbands;
    memcpy(r->band, e->band, sizeof r->band);
    r->dn_offset = e->dn_offset;
    return CC_OK;
}

static void ref_parameters(const cc_reference_context *ctx, const ref_engine *e, cc_reference_result *r)
{
    const cc_reference_atmos *a = cc_reference_context_atmos(ctx);
    snprintf(r->parameters, sizeof r->parameters,
             "aot550=%.4f (%s); water_vapour=%.3f g cm-2 (%s, median; per pixel on the %g m context grid); "
             "pressure=%.2f hPa (%s); ozone=%.3f cm-atm; n_ddv=%zu; resolution=%g m; dn=10000*rho+%g; "
             "sun_zenith=%.2f; view_zenith=%.2f; cloud_mask=%s",
             r->aot550, r->aot_source, r->water_vapour, r->wv_source, a->grid_resolution, r->pressure_hpa,
             r->pressure_source, r->ozone, r->n_ddv, r->grid.gt[1], r->dn_offset, a->mean_sun_zenith,
             a->mean_view_zenith, e->cb.summary);
}

/* ---- whole rasters in memory ---- */

typedef struct {
    cc_reference_result *r;
    const ref_engine *e;
} ref_mem_sink;

static cc_status ref_mem_slab(void *vk, int y0, int h, const uint16_t *data)
{
    const ref_mem_sink *k = vk;
    cc_reference_result *r = k->r;
    const int W = r->grid.width, nb = r->nbands, nl = nb + 2;
    ref_quality_rows(k->e, y0, h, data, r->quality + (size_t)y0 * W, 1);
    for (size_t i = 0; i < (size_t)W * h; i++) {
        size_t o = (size_t)y0 * W + i;
        const uint16_t *px = data + i * nl;
        for (int j = 0; j < nb; j++)
            r->boa[j][o] = px[j];
        r->aot[o] = px[nb];
        r->wvp[o] = px[nb + 1];
    }
    return CC_OK;
}

cc_status cc_reference_run(const cc_scene *s, const cc_reference_options *o, cc_reference_result *r)
{
    cc_status st;
    cc_reference_context *ctx = NULL;
    ref_engine e;
    memset(r, 0, sizeof *r);
    memset(&e, 0, sizeof e);
    if ((st = ref_setup(s, o, r, &ctx, &e)) != CC_OK)
        goto out;
    size_t n = cc_grid_npix(&r->grid);
    for (int j = 0; j < r->nbands; j++)
        if (!(r->boa[j] = cc_malloc3(n, sizeof(uint16_t), 1))) {
            st = CC_ERR_NOMEM;
            goto out;
        }
    r->aot = cc_malloc3(n, sizeof(uint16_t), 1);
    r->wvp = cc_malloc3(n, sizeof(uint16_t), 1);
    r->quality = cc_malloc3(n, sizeof(uint16_t), 1);
    if (!r->aot || !r->wvp || !r->quality) {
        st = CC_ERR_NOMEM;
        goto out;
    }
    double ws;
    ref_mem_sink mk = {r, &e};
    if ((st = ref_engine_run(&e, ref_mem_slab, &mk, &r->n_valid, &r->smac_s, &ws)) != CC_OK)
        goto out;
    if (r->n_valid == 0) {
        st = cc_error_set(CC_ERR_NODATA, "%s: the scene has no valid pixel", s->product_id);
        goto out;
    }
    ref_parameters(ctx, &e, r);
out:
    ref_engine_free(&e);
    cc_reference_context_free(ctx);
    if (st != CC_OK)
        cc_reference_result_free(r);
    return st;
}

/* The cube of a result: the BOA bands in its DN convention, then AOT and WVP
 * (pipeline/atmos/reference.h). */
cc_status cc_reference_write_cube(const char *path, const cc_scene *s, const cc_reference_result *r,
                                  const char *input)
{
    cc_cube_layer layers[CC_L2A_NBANDS + 3];
    char long_names[CC_L2A_NBANDS][96];
    int nl = 0;
    for (int k = 0; k < r->nbands; k++) {
        int b = r->band[k];
        snprintf(long_names[k], sizeof long_names[k], "surface reflectance, band %s (%.1f nm)",
                 cc_band_names[b], cc_band_wavelength_nm[b]);
        layers[nl++] = (cc_cube_layer){
            .name = cc_band_names[b], .long_name = long_names[k], .units = "1",
            .standard_name = "surface_bidirectional_reflectance", .scale_factor = 1e-4,
            .add_offset = -r->dn_offset * 1e-4, .fill_value = 0,
            .wavelength_nm = cc_band_wavelength_nm[b], .data = r->boa[k]};
    }
    layers[nl++] = (cc_cube_layer){.name = "AOT", .long_name = "aerosol optical thickness at 550 nm",
                                   .units = "1", .scale_factor = 1e-3, .add_offset = 0,
                                   .fill_value = 0, .data = r->aot};
    layers[nl++] = (cc_cube_layer){.name = "WVP", .long_name = "total column water vapour",
                                   .units = "g cm-2", .scale_factor = 1e-3, .add_offset = 0,
                                   .fill_value = 0, .data = r->wvp};
    cc_l2a_quality_layer(&layers[nl++], CC_Q_NFLAGS_L2A, r->quality);
    char processor[128];
    snprintf(processor, sizeof processor, "clearcube %s reference (SMAC, %s coefficients)", CC_VERSION,
             cc_spacecraft_name(s->spacecraft));
    cc_cube_write_args a = {
        .path = path, .tile_id = s->tile_id, .product = "reference-l2a", .wkt = s->wkt,
        .width = r->grid.width, .height = r->grid.height, .year = s->year, .month = s->month,
        .day = s->day, .nlayers = nl, .layers = layers, .inputs = input, .processor = processor,
        .parameters = r->parameters};
    memcpy(a.gt, r->grid.gt, sizeof a.gt);
    return cc_cube_write(&a);
}

/* ---- a streamed cube ---- */

typedef struct {
    cc_cube_stream *cube;
    const cc_reference_result *r;
    int f, qw, qh, kq[3];  /* quicklook decimation, bands of R, G, B */
    uint16_t *ql[3];       /* NULL: no quicklook                     */
    const ref_engine *e;
    uint16_t *buf;         /* one slab with the quality channel      */
} ref_cube_sink;

static cc_status ref_cube_slab(void *vk, int y0, int h, const uint16_t *data)
{
    ref_cube_sink *k = vk;
    const int W = k->r->grid.width, nl = k->r->nbands + 2;
    const size_t n = (size_t)W * (size_t)h;
    for (size_t i = 0; i < n; i++)
        memcpy(k->buf + i * (nl + 1), data + i * nl, (size_t)nl * sizeof *data);
    ref_quality_rows(k->e, y0, h, data, k->buf + nl, (size_t)nl + 1);
    cc_status st = cc_cube_stream_write_window(k->cube, 0, y0, W, h, k->buf);
    if (st != CC_OK || !k->ql[0])
        return st;
    for (int r = 0; r < h; r++) {
        int gy = y0 + r;
        if (gy % k->f)
            continue;
        for (int x = 0; x < W; x += k->f)
            for (int c = 0; c < 3; c++)
                k->ql[c][(size_t)(gy / k->f) * k->qw + x / k->f] = data[((size_t)r * W + x) * nl + k->kq[c]];
    }
    return CC_OK;
}

/* The quicklook's bands: B04/B03/B02, else the first three (with a warning). */
static void ref_quicklook_bands(const cc_reference_result *r, const char *input, int kq[3])
{
    kq[0] = kq[1] = kq[2] = -1;
    for (int k = 0; k < r->nbands; k++) {
        if (r->band[k] == CC_B04)
            kq[0] = k;
        if (r->band[k] == CC_B03)
            kq[1] = k;
        if (r->band[k] == CC_B02)
            kq[2] = k;
    }
    if (kq[0] >= 0 && kq[1] >= 0 && kq[2] >= 0)
        return;
    kq[0] = r->nbands > 2 ? 2 : 0;
    kq[1] = r->nbands > 1 ? 1 : 0;
    kq[2] = 0;
    cc_warn("%s: B4/B3/B2 not all present; quicklook uses bands %s/%s/%s", input, cc_band_names[r->band[kq[0]]],
            cc_band_names[r->band[kq[1]]], cc_band_names[r->band[kq[2]]]);
}

static cc_status ref_cube_open(const cc_scene *s, const cc_reference_result *r, const char *input,
                               const char *out_nc, cc_cube_stream **cube)
{
    cc_cube_layer layers[CC_L2A_NBANDS + 3];
    char long_names[CC_L2A_NBANDS][96];
    int nl = 0;
    for (int k = 0; k < r->nbands; k++) {
        int b = r->band[k];
        snprintf(long_names[k], sizeof long_names[k], "surface reflectance, band %s (%.1f nm)", cc_band_names[b],
                 cc_band_wavelength_nm[b]);
        layers[nl++] = (cc_cube_layer){.name = cc_band_names[b], .long_name = long_names[k], .units = "1",
                                       .standard_name = "surface_bidirectional_reflectance", .scale_factor = 1e-4,
                                       .add_offset = -r->dn_offset * 1e-4, .fill_value = 0,
                                       .wavelength_nm = cc_band_wavelength_nm[b]};
    }
    layers[nl++] = (cc_cube_layer){.name = "AOT", .long_name = "aerosol optical thickness at 550 nm",
                                   .units = "1", .scale_factor = 1e-3, .fill_value = 0};
    layers[nl++] = (cc_cube_layer){.name = "WVP", .long_name = "total column water vapour", .units = "g cm-2",
                                   .scale_factor = 1e-3, .fill_value = 0};
    cc_l2a_quality_layer(&layers[nl++], CC_Q_NFLAGS_L2A, NULL);
    char processor[128];
    snprintf(processor, sizeof processor, "clearcube %s reference (SMAC, %s coefficients)", CC_VERSION,
             cc_spacecraft_name(s->spacecraft));
    cc_cube_write_args a = {.path = out_nc, .tile_id = s->tile_id, .product = "reference-l2a", .wkt = s->wkt,
                            .width = r->grid.width, .height = r->grid.height, .year = s->year,
                            .month = s->month, .day = s->day, .nlayers = nl, .layers = layers,
                            .inputs = input, .processor = processor, .parameters = r->parameters,
                            .deflate_level = 1};
    memcpy(a.gt, r->grid.gt, sizeof a.gt);
    return cc_cube_stream_open(&a, cube);
}

/* An existing cube gets the date added (cc_cube_write, copy-on-write): the
 * whole rasters in memory, as streaming only creates new cubes. */
static cc_status ref_run_append(const cc_scene *s, const cc_reference_options *o, const char *input,
                                const char *out_nc, const char *quicklook, cc_reference_result *r)
{
    cc_status st = cc_reference_run(s, o, r);
    if (st == CC_OK)
        st = cc_reference_write_cube(out_nc, s, r, input);
    if (st == CC_OK && quicklook) {
        int kq[3];
        ref_quicklook_bands(r, input, kq);
        st = cc_quicklook_write(quicklook, r->grid.width, r->grid.height, r->boa[kq[0]], r->boa[kq[1]],
                                r->boa[kq[2]], 2048);
    }
    for (int i = 0; i < CC_L2A_NBANDS; i++) {
        free(r->boa[i]);
        r->boa[i] = NULL;
    }
    free(r->aot);
    free(r->wvp);
    free(r->quality);
    r->aot = r->wvp = NULL;
    r->quality = NULL;
    return st;
}

cc_status cc_reference_run_cube(const cc_scene *s, const cc_reference_options *o, const char *input,
                                const char *out_nc, const char *quicklook, cc_reference_result *r)
{
    if (access(out_nc, F_OK) == 0)
        return ref_run_append(s, o, input, out_nc, quicklook, r);
    cc_status st;
    cc_reference_context *ctx = NULL;
    ref_engine e;
    ref_cube_sink k;
    memset(r, 0, sizeof *r);
    memset(&e, 0, sizeof e);
    memset(&k, 0, sizeof k);
    k.r = r;
    if ((st = ref_setup(s, o, r, &ctx, &e)) != CC_OK)
        goto out;
    ref_parameters(ctx, &e, r); /* before the cube is defined: n_valid is not in it */
    if ((st = ref_cube_open(s, r, input, out_nc, &k.cube)) != CC_OK)
        goto out;
    if (quicklook) {
        const cc_grid *g = &r->grid;
        int maxd = g->width > g->height ? g->width : g->height;
        k.f = (maxd + 2047) / 2048;
        k.qw = (g->width + k.f - 1) / k.f;
        k.qh = (g->height + k.f - 1) / k.f;
        ref_quicklook_bands(r, input, k.kq);
        for (int i = 0; i < 3; i++)
            if (!(k.ql[i] = cc_calloc3((size_t)k.qw * k.qh, sizeof(uint16_t), 1))) {
                st = CC_ERR_NOMEM;
                goto out;
            }
    }
    k.e = &e;
    if (!(k.buf = cc_malloc3((size_t)r->grid.width * (size_t)(r->grid.height < REF_SLAB_ROWS ? r->grid.height : REF_SLAB_ROWS),
                             (size_t)r->nbands + 3, sizeof *k.buf))) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory for an output slab", s->product_id);
        goto out;
    }
    if ((st = ref_engine_run(&e, ref_cube_slab, &k, &r->n_valid, &r->smac_s, &r->write_s)) != CC_OK)
        goto out;
    if (r->n_valid == 0) {
        st = cc_error_set(CC_ERR_NODATA, "%s: the scene has no valid pixel", s->product_id);
        goto out;
    }
    st = cc_cube_stream_commit(k.cube);
    k.cube = NULL;
    if (st != CC_OK)
        goto out;
    if (quicklook && (st = cc_quicklook_write(quicklook, k.qw, k.qh, k.ql[0], k.ql[1], k.ql[2], 2048)) != CC_OK)
        remove(out_nc);
out:
    if (k.cube)
        cc_cube_stream_abort(k.cube);
    for (int i = 0; i < 3; i++)
        free(k.ql[i]);
    free(k.buf);
    ref_engine_free(&e);
    cc_reference_context_free(ctx);
    return st;
}
