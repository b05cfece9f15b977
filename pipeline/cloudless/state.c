/* clearcube: daily Cloudless from a per-pixel state (state.h). */
#define _GNU_SOURCE
#include "pipeline/cloudless/state.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <netcdf.h>

#include "core/alloc.h"
#include "core/date.h"
#include "core/log.h"
#include "io/cube.h"
#include "io/pixstate.h"
#include "pipeline/cloudless/cloudless_product.h"
#include "pipeline/cloudless/kalman.h"
#include "pipeline/cloudless/kalman_model.h"

_Static_assert(sizeof(cc_kf_pixel) == 5 * CC_CL_NBANDS * sizeof(float), "cc_kf_pixel: 5 arrays of the bands");

#define NB CC_CL_NBANDS
#define NLAYERS (2 * NB + 1) /* bands, their sd, days_since_s2 */
#define NVARS 7

/* The state file's variables: the five arrays of cc_kf_pixel, then the days
 * of the last clear S2 and of the last observation of any sensor (NaN: none). */
static const cc_pixstate_var state_vars[NVARS] = {
    {"level", "filtered reflectance level", NB},
    {"slope", "filtered reflectance slope (per day)", NB},
    {"p_ll", "posterior covariance level-level", NB},
    {"p_ls", "posterior covariance level-slope", NB},
    {"p_ss", "posterior covariance slope-slope", NB},
    {"last_s2_day", "day (days since 1970-01-01) of the last clear Sentinel-2 observation; NaN: none", 1},
    {"last_obs_day", "day of the last observation of any sensor; NaN: none", 1},
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU seconds of the process (every thread): the stages' cost on a shared machine. */
static double cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* FNV-1a of the parameters, in hex: the state's params_id. */
static void params_id(const cc_kf_params *p, char out[17])
{
    uint64_t h = 1469598103934665603ull;
    const unsigned char *b = (const unsigned char *)p;
    for (size_t i = 0; i < sizeof *p; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

typedef struct {
    int width, height;
    double gt[6];
    char *wkt;
} tile_grid;

/* The grid of the tile's sensor cubes (the first of s2, landsat, olci, s1). */
static cc_status read_grid(const char *dir, const char *tile, tile_grid *g)
{
    memset(g, 0, sizeof *g);
    for (int s = 0; s < CC_SENSOR_COUNT; s++) {
        char path[4096];
        cc_cube_sensor_path(path, sizeof path, dir, tile, (cc_sensor)s);
        int ncid, d, crs;
        size_t w, h;
        if (cc_cube_recover(path) != CC_OK || nc_open(path, NC_NOWRITE, &ncid) != NC_NOERR)
            continue;
        char *gts = NULL;
        int ok = !nc_inq_dimid(ncid, "x", &d) && !nc_inq_dimlen(ncid, d, &w) && !nc_inq_dimid(ncid, "y", &d) &&
                 !nc_inq_dimlen(ncid, d, &h) && !nc_inq_varid(ncid, "spatial_ref", &crs) &&
                 (g->wkt = cc_cube_text_att(ncid, crs, "crs_wkt")) && (gts = cc_cube_text_att(ncid, crs, "GeoTransform")) &&
                 sscanf(gts, "%lf %lf %lf %lf %lf %lf", &g->gt[0], &g->gt[1], &g->gt[2], &g->gt[3], &g->gt[4],
                        &g->gt[5]) == 6;
        free(gts);
        nc_close(ncid);
        if (!ok) {
            free(g->wkt);
            g->wkt = NULL;
            return cc_error_set(CC_ERR_FORMAT, "%s: not a clearcube cube (no x/y or spatial_ref)", path);
        }
        g->width = (int)w, g->height = (int)h;
        return CC_OK;
    }
    return cc_error_set(CC_ERR_MISSING, "%s: no sensor cube of tile %s (%s_s2.nc, _landsat.nc, ...)", dir, tile, tile);
}

/* The nowcast/reanalysis product's layers over dn [NLAYERS][npix]. */
static void product_layers(cc_cube_layer *L, char (*ln)[96], uint16_t *dn, size_t npix)
{
    memset(L, 0, NLAYERS * sizeof *L);
    for (int b = 0; b < NB; b++) {
        const double nm = cc_band_wavelength_nm[cc_band_index(cc_cl_band_names[b])];
        snprintf(ln[b], 96, "cloud-free surface reflectance, band %s (%.0f nm), Kalman filter", cc_cl_band_names[b], nm);
        L[b] = (cc_cube_layer){.name = cc_cl_band_names[b], .long_name = ln[b], .units = "1",
                               .standard_name = "surface_bidirectional_reflectance",
                               .scale_factor = CC_CL_REFL_SCALE, .add_offset = CC_CL_REFL_OFFSET,
                               .wavelength_nm = nm, .data = dn + (size_t)b * npix};
    }
    static char names[NB][16];
    for (int b = 0; b < NB; b++) {
        snprintf(names[b], sizeof names[b], "sd_%s", cc_cl_band_names[b]);
        snprintf(ln[NB + b], 96, "standard deviation of %s (a clear observation around the estimate)",
                 cc_cl_band_names[b]);
        L[NB + b] = (cc_cube_layer){.name = names[b], .long_name = ln[NB + b], .units = "1", .scale_factor = 1e-4,
                                    .add_offset = 0, .data = dn + (size_t)(NB + b) * npix};
    }
    L[2 * NB] = (cc_cube_layer){.name = "days_since_s2", .units = "days", .scale_factor = 1, .add_offset = -1,
                                .long_name = "days since the last clear Sentinel-2 observation (fill: none yet)",
                                .data = dn + (size_t)2 * NB * npix};
}

static uint16_t sd_dn(float sd)
{
    if (!isfinite(sd))
        return 0;
    double v = floor(sd * 1e4 + 0.5);
    return (uint16_t)(v < 1 ? 1 : v > 65534 ? 65534 : v);
}

/* One day's product of a block into dn [NLAYERS][npix]. */
static void encode_day(size_t npix, long day, const float *est, const float *sd, const float *last_s2,
                       const float *last_obs, uint16_t *dn)
{
    for (size_t p = 0; p < npix; p++) {
        int seen = !isnan(last_obs[p]);
        for (int b = 0; b < NB; b++) {
            dn[(size_t)b * npix + p] = seen ? cc_cube_refl_dn(est[p * NB + (size_t)b]) : 0;
            dn[(size_t)(NB + b) * npix + p] = seen ? sd_dn(sd[p * NB + (size_t)b]) : 0;
        }
        long since = isnan(last_s2[p]) ? -1 : day - (long)last_s2[p];
        dn[(size_t)2 * NB * npix + p] = since < 0 ? 0 : (uint16_t)(since > 65533 ? 65534 : since + 1);
    }
}

/* The appender of the product's new days (those after the cube's last date)
 * among [from, to]; *first_new = the first of them (> to: none). */
static cc_status open_product(const cc_cl_state_args *a, const tile_grid *g, long from, long to, const char *proc,
                              cc_cube_appender **app, long *first_new)
{
    cc_status st = CC_OK;
    int n = 0;
    double *days = NULL;
    *app = NULL;
    *first_new = from;
    if (cc_cube_recover(a->out_path) == CC_OK && cc_cube_dates(a->out_path, &n, &days) == CC_OK && n > 0 &&
        days[n - 1] >= (double)from)
        *first_new = (long)days[n - 1] + 1;
    free(days);
    cc_error_clear();
    if (*first_new > to)
        return CC_OK;
    long nd = to - *first_new + 1;
    long *dl = malloc((size_t)nd * sizeof *dl);
    uint16_t dummy = 0;
    cc_cube_layer L[NLAYERS];
    char ln[2 * NB][96];
    if (!dl)
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", a->out_path);
    for (long k = 0; k < nd; k++)
        dl[k] = *first_new + k;
    product_layers(L, ln, &dummy, 0);
    int y, m, d;
    cc_date_from_days(*first_new, &y, &m, &d);
    char params[256];
    snprintf(params, sizeof params, "Kalman parameters %s", a->params_path ? a->params_path : "(defaults)");
    cc_cube_write_args w = {.path = a->out_path, .tile_id = a->tile, .product = "cloudless-kalman", .wkt = g->wkt,
                            .width = g->width, .height = g->height, .year = y, .month = m, .day = d,
                            .nlayers = NLAYERS, .layers = L, .inputs = a->cube_dir, .processor = proc,
                            .parameters = params, .deflate_level = 1};
    memcpy(w.gt, g->gt, sizeof w.gt);
    if (nd > 1)
        w.ndates = (int)nd, w.dates = dl;
    st = cc_cube_append_open(&w, app);
    free(dl);
    return st;
}

static cc_status load_params(const cc_cl_state_args *a, cc_kf_params *p)
{
    if (!a->params_path) {
        cc_kf_params_default(p);
        return CC_OK;
    }
    return cc_kf_model_load(a->params_path, p, NULL);
}

/* Checks a state read from a->state_in against the run. */
static cc_status check_state(const cc_cl_state_args *a, const cc_pixstate_info *in, const tile_grid *g,
                             const char *pid)
{
    if (!in->kind || strcmp(in->kind, CC_CL_STATE_KIND) != 0)
        return cc_error_set(CC_ERR_ARG, "%s: not a Cloudless Kalman state (state_kind \"%s\", expected \"%s\")",
                            a->state_in, in->kind ? in->kind : "", CC_CL_STATE_KIND);
    if (!in->tile_id || strcmp(in->tile_id, a->tile) != 0)
        return cc_error_set(CC_ERR_ARG, "%s: the state of tile %s, not of tile %s", a->state_in,
                            in->tile_id ? in->tile_id : "?", a->tile);
    int same = in->width == g->width && in->height == g->height;
    for (int i = 0; same && i < 6; i++)
        same = fabs(in->gt[i] - g->gt[i]) <= 1e-6 * (fabs(g->gt[i]) + 1);
    if (!same)
        return cc_error_set(CC_ERR_ARG, "%s: the state's grid (%dx%d at %.10g, %.10g) differs from the tile's (%dx%d at "
                            "%.10g, %.10g)", a->state_in, in->width, in->height, in->gt[0], in->gt[3], g->width,
                            g->height, g->gt[0], g->gt[3]);
    if (!in->params_id || strcmp(in->params_id, pid) != 0)
        return cc_error_set(CC_ERR_ARG, "%s: the state was made with other Kalman parameters (%s, now %s)",
                            a->state_in, in->params_id ? in->params_id : "?", pid);
    return CC_OK;
}

typedef struct {
    cc_kf_pixel *px;  /* [npix] */
    float *last_s2, *last_obs; /* [npix] */
    float *soa;       /* the state file's layout of a block of columns: [NVARS_F][rows][cols] */
    float *est, *sd;  /* [npix][NB] */
    uint16_t *dn;     /* [NLAYERS][npix] */
} block_bufs;

#define NVARS_F (5 * NB + 2) /* floats per pixel in the state file */

static void bufs_free(block_bufs *b)
{
    free(b->px);
    free(b->last_s2);
    free(b->last_obs);
    free(b->soa);
    free(b->est);
    free(b->sd);
    free(b->dn);
}

static cc_status bufs_alloc(block_bufs *b, size_t npix, size_t soa_pix)
{
    memset(b, 0, sizeof *b);
    b->px = cc_malloc3(npix, sizeof *b->px, 1);
    b->last_s2 = cc_malloc3(npix, sizeof(float), 1);
    b->last_obs = cc_malloc3(npix, sizeof(float), 1);
    b->soa = cc_malloc3(soa_pix, NVARS_F * sizeof(float), 1);
    b->est = cc_malloc3(npix, NB * sizeof(float), 1);
    b->sd = cc_malloc3(npix, NB * sizeof(float), 1);
    b->dn = cc_malloc3(npix, NLAYERS * sizeof(uint16_t), 1);
    if (!b->px || !b->last_s2 || !b->last_obs || !b->soa || !b->est || !b->sd || !b->dn) {
        bufs_free(b);
        return cc_error_set(CC_ERR_NOMEM, "cloudless state: out of memory for a block of %zu pixels", npix);
    }
    return CC_OK;
}

/* The variables' planes of a block of nr x nc pixels in b->soa. */
static void soa_planes(float *soa, size_t bp, float *d[NVARS])
{
    for (int v = 0; v < 5; v++)
        d[v] = soa + (size_t)v * NB * bp;
    d[5] = soa + (size_t)5 * NB * bp;
    d[6] = d[5] + bp;
}

#define TILE_COLS 64 /* the transposes go by 64 pixels (12.8 kB of cc_kf_pixel): in L1 */

/* Between the block's pixels (cc_kf_pixel, rows of W) and the file's planes
 * of columns [x0, x0+nc): to_px 1 = planes -> pixels. */
static void transpose(block_bufs *b, float *const d[NVARS], int W, int nr, int x0, int nc, int to_px)
{
#pragma omp parallel for schedule(static)
    for (int r = 0; r < nr; r++)
        for (int c0 = 0; c0 < nc; c0 += TILE_COLS) {
            const int c1 = c0 + TILE_COLS < nc ? c0 + TILE_COLS : nc;
            const size_t q0 = (size_t)r * (size_t)W + (size_t)x0, rb = (size_t)r * (size_t)nc;
            for (int v = 0; v < 5; v++)
                for (int k = 0; k < NB; k++) {
                    float *pl = d[v] + (size_t)k * (size_t)nr * (size_t)nc + rb;
                    const int f = v * NB + k;
                    if (to_px)
                        for (int c = c0; c < c1; c++)
                            ((float *)&b->px[q0 + (size_t)c])[f] = pl[c];
                    else
                        for (int c = c0; c < c1; c++)
                            pl[c] = ((const float *)&b->px[q0 + (size_t)c])[f];
                }
            for (int c = c0; c < c1; c++) {
                if (to_px) {
                    b->last_s2[q0 + (size_t)c] = d[5][rb + (size_t)c];
                    b->last_obs[q0 + (size_t)c] = d[6][rb + (size_t)c];
                } else {
                    d[5][rb + (size_t)c] = b->last_s2[q0 + (size_t)c];
                    d[6][rb + (size_t)c] = b->last_obs[q0 + (size_t)c];
                }
            }
        }
}

/* Reads (or, without a state, initialises) the state of rows [y0, y0+nr). */
static cc_status state_read(cc_pixstate *in, const cc_kf_params *p, int W, int y0, int nr, block_bufs *b)
{
    const size_t npix = (size_t)W * (size_t)nr;
    if (!in) {
        for (size_t q = 0; q < npix; q++) {
            cc_kf_pixel_init(p, &b->px[q]);
            b->last_s2[q] = b->last_obs[q] = NAN;
        }
        return CC_OK;
    }
    const int cw = cc_pixstate_chunk_cols(in);
    for (int x0 = 0; x0 < W; x0 += cw) {
        const int nc = x0 + cw <= W ? cw : W - x0;
        float *d[NVARS];
        soa_planes(b->soa, (size_t)nr * (size_t)nc, d);
        cc_status st = cc_pixstate_read_block(in, y0, nr, x0, nc, d);
        if (st != CC_OK)
            return st;
        transpose(b, d, W, nr, x0, nc, 1);
    }
    return CC_OK;
}

static cc_status state_write(cc_pixstate *out, int W, int y0, int nr, block_bufs *b)
{
    const int cw = cc_pixstate_chunk_cols(out);
    for (int x0 = 0; x0 < W; x0 += cw) {
        const int nc = x0 + cw <= W ? cw : W - x0;
        float *d[NVARS];
        soa_planes(b->soa, (size_t)nr * (size_t)nc, d);
        transpose(b, d, W, nr, x0, nc, 0);
        cc_status st = cc_pixstate_write_block(out, y0, nr, x0, nc, (const float *const *)d);
        if (st != CC_OK)
            return st;
    }
    return CC_OK;
}

/* Advances the block through the days [from, to], appending days >= first_new. */
static cc_status run_block(const cc_cl_state_args *a, const cc_kf_params *p, int W, int y0, int nr, long from,
                           long to, cc_cube_appender *app, long first_new, block_bufs *b, cc_cl_state_stats *s)
{
    const size_t npix = (size_t)W * (size_t)nr;
    unsigned sensors = (1u << CC_SENSOR_S2) | (a->no_landsat ? 0 : 1u << CC_SENSOR_LANDSAT);
    for (long d = from; d <= to; d++) {
        cc_series ser;
        double t0 = now(), u0 = cpu();
        cc_status st = cc_cloudless_load(a->cube_dir, a->tile, sensors, d, 1, 0, y0, W, nr, &ser, NULL, NULL);
        if (st != CC_OK)
            return st;
        double t1 = now(), u1 = cpu();
        cc_kf_day(p, b->px, npix, ser.s2, a->no_landsat ? NULL : ser.landsat, b->est, b->sd);
        for (size_t q = 0; q < npix; q++) {
            int s2 = 0, any = 0;
            for (int k = 0; k < NB; k++) {
                s2 |= !isnan(ser.s2[q * NB + (size_t)k]);
                any |= !a->no_landsat && !isnan(ser.landsat[q * NB + (size_t)k]);
            }
            if (s2)
                b->last_s2[q] = (float)d;
            if (s2 || any)
                b->last_obs[q] = (float)d;
        }
        cc_series_free(&ser);
        double t2 = now(), u2 = cpu();
        s->s_day_in += t1 - t0, s->s_model += t2 - t1;
        s->c_day_in += u1 - u0, s->c_model += u2 - u1;
        if (d >= first_new) {
            encode_day(npix, d, b->est, b->sd, b->last_s2, b->last_obs, b->dn);
            st = cc_cube_append_window(app, (int)(d - first_new), 0, y0, W, nr, b->dn);
            if (st != CC_OK)
                return st;
            s->s_day_out += now() - t2;
            s->c_day_out += cpu() - u2;
        }
    }
    return CC_OK;
}

cc_status cc_cl_state_run(const cc_cl_state_args *a, cc_cl_state_stats *stats)
{
    cc_status st = CC_OK;
    cc_cl_state_stats local;
    cc_cl_state_stats *s = stats ? stats : &local;
    tile_grid g = {0};
    cc_pixstate *in = NULL, *out = NULL;
    cc_pixstate_info info;
    cc_cube_appender *app = NULL;
    block_bufs b;
    int have_bufs = 0;
    cc_kf_params p;
    char pid[17], from_s[CC_DATE_ISO_SIZE], to_s[CC_DATE_ISO_SIZE];
    memset(s, 0, sizeof *s);
    double t0 = now();
    if (!a || !a->cube_dir || !a->tile || !a->state_out || !a->out_path)
        return cc_error_set(CC_ERR_ARG, "cloudless state: cube folder, tile, state and output are required");
    if ((st = load_params(a, &p)) != CC_OK || (st = read_grid(a->cube_dir, a->tile, &g)) != CC_OK)
        goto out;
    params_id(&p, pid);
    s->width = g.width, s->height = g.height;
    long from = a->first_day;
    st = a->state_in ? cc_pixstate_open(a->state_in, NVARS, state_vars, &in, &info) : CC_ERR_MISSING;
    if (st == CC_ERR_MISSING) {
        cc_date_format(from, from_s);
        cc_info("%s: no state%s%s: starting from the prior on %s", a->tile, a->state_in ? " at " : "",
                a->state_in ? a->state_in : "", from_s);
        s->fresh = 1;
        st = CC_OK;
    } else if (st != CC_OK)
        goto out;
    else {
        if ((st = check_state(a, &info, &g, pid)) != CC_OK)
            goto out;
        from = info.day + 1;
    }
    /* the sd's calibration to the series (docs/cloudless-model.md): a new state takes the noise
     * factor of the S2 history before its first day (causal: a daily run from that day sees the
     * same), a state keeps it; a state without one (older files) stays at f = 1 */
    double calib[NB];
    if (s->fresh) {
        unsigned sens = (1u << CC_SENSOR_S2) | (a->no_landsat ? 0 : 1u << CC_SENSOR_LANDSAT);
        cc_kf_params p0 = p;
        if ((st = cc_cl_calibrate_sd(a->cube_dir, a->tile, sens, from - CC_CL_CALIB_DAYS, CC_CL_CALIB_DAYS, g.width,
                                     g.height, &p0, calib)) != CC_OK)
            goto out;
        for (int k = 0; k < NB; k++)
            calib[k] = isfinite(calib[k]) && calib[k] > 0 ? calib[k] : 1.0;
    } else if (info.ncalibration == NB) {
        memcpy(calib, info.calibration, sizeof calib);
    } else {
        for (int k = 0; k < NB; k++)
            calib[k] = 1.0;
        cc_info("%s: the state has no sd calibration (an older state file): sd at the training noise (f = 1)",
                a->state_in);
    }
    for (int k = 0; k < NB; k++)
        p.sd_scale[k] = (float)(p.sd_scale[k] * calib[k]);
    s->first_day = from, s->last_day = a->last_day;
    if (from > a->last_day) {
        cc_date_format(from - 1, from_s);
        cc_info("%s: the state is already at %s: nothing to do", a->tile, from_s);
        goto out;
    }
    s->ndays = (int)(a->last_day - from + 1);
    long first_new;
    if ((st = open_product(a, &g, from, a->last_day, "clearcube cloudless --state (Kalman nowcast)", &app,
                           &first_new)) != CC_OK)
        goto out;
    s->days_written = first_new <= a->last_day ? (int)(a->last_day - first_new + 1) : 0;
    cc_date_format(from, from_s);
    cc_date_format(a->last_day, to_s);
    char hist[512];
    snprintf(hist, sizeof hist, "clearcube cloudless --state: %s days %s..%s from %s", a->tile, from_s, to_s,
             a->cube_dir);
    cc_pixstate_args sa = {.path = a->state_out, .kind = CC_CL_STATE_KIND, .tile_id = a->tile, .wkt = g.wkt,
                           .width = g.width, .height = g.height, .day = a->last_day, .params_id = pid,
                           .history = hist, .nvars = NVARS, .vars = state_vars,
                           .block_rows = a->block_rows > 0 ? a->block_rows : 256,
                           .band_names = "B02 B03 B04 B05 B06 B07 B08 B8A B11 B12",
                           .ncalibration = NB, .calibration = calib};
    memcpy(sa.gt, g.gt, sizeof sa.gt);
    if ((st = cc_pixstate_create(&sa, &out)) != CC_OK)
        goto out;
    const int R = sa.block_rows < g.height ? sa.block_rows : g.height;
    int cw = cc_pixstate_chunk_cols(out);
    if (in && cc_pixstate_chunk_cols(in) > cw)
        cw = cc_pixstate_chunk_cols(in);
    if ((st = bufs_alloc(&b, (size_t)R * (size_t)g.width, (size_t)R * (size_t)cw)) != CC_OK)
        goto out;
    have_bufs = 1;
    for (int y0 = 0; y0 < g.height; y0 += R) {
        int nr = y0 + R <= g.height ? R : g.height - y0;
        double ta = now(), ua = cpu();
        if ((st = state_read(in, &p, g.width, y0, nr, &b)) != CC_OK)
            goto out;
        s->s_state_in += now() - ta;
        s->c_state_in += cpu() - ua;
        if ((st = run_block(a, &p, g.width, y0, nr, from, a->last_day, app, first_new, &b, s)) != CC_OK)
            goto out;
        ta = now(), ua = cpu();
        if ((st = state_write(out, g.width, y0, nr, &b)) != CC_OK)
            goto out;
        s->s_state_out += now() - ta;
        s->c_state_out += cpu() - ua;
    }
    double tc = now(), uc = cpu();
    if (app) { /* the product first: a state never runs ahead of its cube */
        cc_cube_appender *x = app;
        app = NULL;
        if ((st = cc_cube_append_commit(x)) != CC_OK)
            goto out;
    }
    s->s_day_out += now() - tc;
    s->c_day_out += cpu() - uc;
    tc = now(), uc = cpu();
    cc_pixstate_close(in); /* state_out may replace state_in */
    in = NULL;
    st = cc_pixstate_commit(out);
    out = NULL;
    s->s_state_commit = now() - tc;
    s->s_state_out += s->s_state_commit;
    s->c_state_out += cpu() - uc;
    if (st == CC_OK)
        cc_info("%s: %s..%s (%d days, %d appended to %s), %dx%d: wall (CPU) seconds: state in %.1f (%.1f), days in "
                "%.1f (%.1f), model %.1f (%.1f), days out %.1f (%.1f), state out %.1f (%.1f; commit with fsync %.1f)",
                a->tile, from_s, to_s, s->ndays, s->days_written, a->out_path, g.width, g.height, s->s_state_in,
                s->c_state_in, s->s_day_in, s->c_day_in, s->s_model, s->c_model, s->s_day_out, s->c_day_out,
                s->s_state_out, s->c_state_out, s->s_state_commit);
out:
    cc_cube_append_abort(app);
    cc_pixstate_abort(out);
    cc_pixstate_close(in);
    if (have_bufs)
        bufs_free(&b);
    free(g.wkt);
    s->s_total = now() - t0;
    return st;
}

cc_status cc_cl_calibrate_sd(const char *dir, const char *tile, unsigned sensors, long day0, int ndays, int width,
                             int height, cc_kf_params *p, double f[CC_CL_NBANDS])
{
    double local[CC_CL_NBANDS];
    double *fb = f ? f : local;
    /* a block at the tile's centre: one chunk column of the sensor cubes (512 px) wide and as
     * many rows (<= 128) as a 128 MiB series allows (~136 bytes a pixel and day) */
    const int bw = width < 512 ? width : 512, x0 = width / 2 / 512 * 512 + bw <= width ? width / 2 / 512 * 512 : 0;
    int S = (int)(128.0 * 1024 * 1024 / ((double)(ndays > 0 ? ndays : 1) * 136 * bw));
    const int smax = height < 128 ? height : 128;
    S = S < 1 ? 1 : S > smax ? smax : S;
    const int y0 = height / 2 - S / 2;
    cc_series ser = {0};
    cc_status st = cc_cloudless_load(dir, tile, sensors, day0, ndays, x0, y0, bw, S, &ser, NULL, NULL);
    if (st == CC_OK)
        st = cc_kf_noise_factor(p, &ser, 3, fb);
    cc_series_free(&ser);
    if (st != CC_OK)
        return st;
    char line[CC_CL_NBANDS * 16 + 1] = "", *w = line;
    for (int b = 0; b < CC_CL_NBANDS; b++) {
        if (isfinite(fb[b]) && fb[b] > 0)
            p->sd_scale[b] = (float)(p->sd_scale[b] * fb[b]);
        w += snprintf(w, sizeof line - (size_t)(w - line), " %.3f", fb[b]);
    }
    cc_info("cloudless: sd calibrated to the series: noise factor per band%s (rows %d-%d, columns %d-%d, %d days)",
            line, y0, y0 + S - 1, x0, x0 + bw - 1, ndays);
    return CC_OK;
}

cc_status cc_cl_reanalysis_run(const cc_cl_state_args *a, int margin, cc_cl_state_stats *stats)
{
    cc_status st = CC_OK;
    cc_cl_state_stats local;
    cc_cl_state_stats *s = stats ? stats : &local;
    tile_grid g = {0};
    cc_cube_appender *app = NULL;
    cc_kf_params p;
    cc_series ser = {0};
    float *est = NULL, *sd = NULL, *lasts2 = NULL, *lastobs = NULL;
    uint16_t *dn = NULL;
    memset(s, 0, sizeof *s);
    double t0 = now();
    if (!a || !a->cube_dir || !a->tile || !a->out_path || a->last_day < a->first_day || margin < 0)
        return cc_error_set(CC_ERR_ARG, "cloudless reanalysis: cube folder, tile, output and a period are required");
    if ((st = load_params(a, &p)) != CC_OK || (st = read_grid(a->cube_dir, a->tile, &g)) != CC_OK)
        goto out;
    s->width = g.width, s->height = g.height, s->first_day = a->first_day, s->last_day = a->last_day;
    s->ndays = (int)(a->last_day - a->first_day + 1);
    long first_new;
    if ((st = open_product(a, &g, a->first_day, a->last_day, "clearcube cloudless --reanalysis (Kalman smoother)",
                           &app, &first_new)) != CC_OK || !app)
        goto out;
    s->days_written = (int)(a->last_day - first_new + 1);
    const long d0 = a->first_day - margin;
    const int nd = (int)(a->last_day + margin - d0 + 1);
    unsigned sensors = (1u << CC_SENSOR_S2) | (a->no_landsat ? 0 : 1u << CC_SENSOR_LANDSAT);
    if ((st = cc_cl_calibrate_sd(a->cube_dir, a->tile, sensors, d0, nd, g.width, g.height, &p, NULL)) != CC_OK)
        goto out;
    /* windows of CW columns (one chunk column of the sensor cubes, io/cube.h: 512) by R rows,
     * column by column: a series of nd days costs ~ nd x 136 bytes per pixel, so full-width
     * row blocks of a tile would be one row high and decompress every chunk 512 times */
    const int cw0 = a->block_cols > 0 ? a->block_cols : 512, CW = g.width < cw0 ? g.width : cw0;
    int R = a->block_rows > 0 ? a->block_rows : (int)(256.0 * 1024 * 1024 / ((double)nd * 136 * CW));
    R = R < 1 ? 1 : R > g.height ? g.height : R;
    const size_t bmax = (size_t)R * (size_t)CW;
    est = cc_malloc3(bmax, NB * sizeof *est, 1);
    sd = cc_malloc3(bmax, NB * sizeof *sd, 1);
    lasts2 = cc_malloc3(bmax, sizeof *lasts2, 1);
    lastobs = cc_malloc3(bmax, sizeof *lastobs, 1);
    dn = cc_malloc3(bmax, NLAYERS * sizeof *dn, 1);
    if (!est || !sd || !lasts2 || !lastobs || !dn) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", a->out_path);
        goto out;
    }
    const int nwx = (g.width + CW - 1) / CW, nwy = (g.height + R - 1) / R;
    for (int wi = 0; wi < nwx * nwy; wi++) { /* column by column, top to bottom in each */
        const int x0 = wi / nwy * CW, y0 = wi % nwy * R;
        int nr = y0 + R <= g.height ? R : g.height - y0, nc = x0 + CW <= g.width ? CW : g.width - x0;
        size_t npix = (size_t)nr * (size_t)nc;
        double ta = now();
        if ((st = cc_cloudless_load(a->cube_dir, a->tile, sensors, d0, nd, x0, y0, nc, nr, &ser, NULL, NULL)) !=
            CC_OK)
            goto out;
        if (a->no_landsat) /* the smoother reads the Landsat slot when present */
            for (size_t i = 0; i < (size_t)nd * npix * NB; i++)
                ser.landsat[i] = NAN;
        double tb = now();
        s->s_day_in += tb - ta;
        for (long d = first_new; d <= a->last_day; d++) {
            int t = (int)(d - d0);
            double tm = now();
            if ((st = cc_kf_smooth_day(&p, &ser, t, est, sd)) != CC_OK)
                goto out;
            /* evidence: the last clear S2 at or before d, any observation in the series */
            for (size_t q = 0; q < npix; q++) {
                lasts2[q] = lastobs[q] = NAN;
                for (int dd = 0; dd < nd; dd++)
                    for (int k = 0; k < NB; k++) {
                        int o2 = !isnan(ser.s2[((size_t)dd * npix + q) * NB + (size_t)k]);
                        int ol = !isnan(ser.landsat[((size_t)dd * npix + q) * NB + (size_t)k]);
                        if (o2 && dd <= t)
                            lasts2[q] = (float)(d0 + dd);
                        if (o2 || ol)
                            lastobs[q] = (float)(d0 + dd);
                    }
            }
            double te = now();
            s->s_model += te - tm;
            encode_day(npix, d, est, sd, lasts2, lastobs, dn);
            if ((st = cc_cube_append_window(app, (int)(d - first_new), x0, y0, nc, nr, dn)) != CC_OK)
                goto out;
            s->s_day_out += now() - te;
        }
        cc_series_free(&ser);
    }
    {
        cc_cube_appender *x = app;
        app = NULL;
        st = cc_cube_append_commit(x);
    }
out:
    cc_series_free(&ser);
    cc_cube_append_abort(app);
    free(est);
    free(sd);
    free(lasts2);
    free(lastobs);
    free(dn);
    free(g.wkt);
    s->s_total = now() - t0;
    return st;
}
