/* clearcube: the Cloudless product for one tile and day (see cloudless_product.h). */
#define _GNU_SOURCE
#include "pipeline/cloudless/cloudless_product.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <netcdf.h>

#include "core/alloc.h"
#include "core/date.h"
#include "core/log.h"
#include "core/progress.h"
#include "io/cube.h"
#include "pipeline/cloudless/cloudless.h"
#include "pipeline/cloudless/kalman_model.h"
#include "pipeline/cloudless/state.h"
#include "pipeline/atmos/cloudmask.h"

/* The fill of the sensors layer: the pixel has no product (255 is no set of the 4 bits). */
#define CL_SENSORS_FILL 255
#include "pipeline/report/quicklook.h"

#define MASK_NAME "cloud_mask"

/* The cloud_mask classes io/cube.c writes (it cannot include cloudmask.h). */
_Static_assert(CC_CM_NODATA == 0 && CC_CM_CLEAR == 1, "io/cube.c's sensor cubes store these classes");

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- reading sensor cubes ------------------------------------------------- */

typedef struct {
    cc_sensor sensor;
    int ncid;
    char path[4096];
    int width, height;
    double gt[6];
    char *wkt;
    size_t nt;
    double *days;
    int var[CC_CL_NBANDS]; /* -1: absent; S1: var[0] VV, var[1] VH */
    double scale[CC_CL_NBANDS], offset[CC_CL_NBANDS];
    unsigned short fill[CC_CL_NBANDS];
    int mask_var;
} sensor_cube;


static void cube_close(sensor_cube *c)
{
    if (c->ncid >= 0)
        nc_close(c->ncid);
    free(c->wkt);
    free(c->days);
    c->ncid = -1;
    c->wkt = NULL;
    c->days = NULL;
}

/* Opens <dir>/<tile>_<suffix>.nc; returns CC_ERR_MISSING (silently) if absent. */
static cc_status cube_open(sensor_cube *c, const char *dir, const char *tile, cc_sensor s)
{
    cc_status st = CC_ERR_FORMAT;
    memset(c, 0, sizeof *c);
    c->ncid = -1;
    c->sensor = s;
    c->mask_var = -1;
    for (int b = 0; b < CC_CL_NBANDS; b++)
        c->var[b] = -1;
    cc_cube_sensor_path(c->path, sizeof c->path, dir, tile, s);
    FILE *f = fopen(c->path, "rb");
    if (!f)
        return CC_ERR_MISSING;
    fclose(f);
    if (cc_cube_recover(c->path) != CC_OK) /* an append killed earlier is rolled back first */
        return CC_ERR_IO;
    int e = nc_open(c->path, NC_NOWRITE, &c->ncid), dim, tv, sr;
    if (e != NC_NOERR)
        return cc_error_set(CC_ERR_FORMAT, "%s: not a readable NetCDF cube: %s", c->path, nc_strerror(e));
    size_t w = 0, h = 0;
    if (nc_inq_dimid(c->ncid, "x", &dim) || nc_inq_dimlen(c->ncid, dim, &w) || nc_inq_dimid(c->ncid, "y", &dim) ||
        nc_inq_dimlen(c->ncid, dim, &h) || nc_inq_dimid(c->ncid, "time", &dim) ||
        nc_inq_dimlen(c->ncid, dim, &c->nt) || nc_inq_varid(c->ncid, "time", &tv)) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: not a clearcube cube (no x, y, time)", c->path);
        goto out;
    }
    c->width = (int)w, c->height = (int)h;
    c->days = malloc((c->nt ? c->nt : 1) * sizeof *c->days);
    if (!c->days) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", c->path);
        goto out;
    }
    if (c->nt && nc_get_var_double(c->ncid, tv, c->days) != NC_NOERR) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: time unreadable", c->path);
        goto out;
    }
    char *gts = NULL;
    if (nc_inq_varid(c->ncid, "spatial_ref", &sr) != NC_NOERR || !(c->wkt = cc_cube_text_att(c->ncid, sr, "crs_wkt")) ||
        !(gts = cc_cube_text_att(c->ncid, sr, "GeoTransform")) ||
        sscanf(gts, "%lf %lf %lf %lf %lf %lf", &c->gt[0], &c->gt[1], &c->gt[2], &c->gt[3], &c->gt[4], &c->gt[5]) != 6) {
        free(gts);
        st = cc_error_set(CC_ERR_CRS, "%s: spatial_ref lacks crs_wkt or GeoTransform", c->path);
        goto out;
    }
    free(gts);
    int nb = s == CC_SENSOR_S1 ? CC_CL_NS1 : CC_CL_NBANDS, found = 0;
    for (int b = 0; b < nb; b++) {
        const char *name = s == CC_SENSOR_S1 ? (b ? "VH" : "VV") : cc_cl_band_names[b];
        int v;
        if (nc_inq_varid(c->ncid, name, &v) != NC_NOERR)
            continue;
        c->var[b] = v;
        c->scale[b] = 1, c->offset[b] = 0, c->fill[b] = 0;
        nc_get_att_double(c->ncid, v, "scale_factor", &c->scale[b]);
        nc_get_att_double(c->ncid, v, "add_offset", &c->offset[b]);
        nc_get_att_ushort(c->ncid, v, "_FillValue", &c->fill[b]);
        found++;
    }
    if (!found) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: none of the %s variables", c->path,
                          s == CC_SENSOR_S1 ? "VV/VH" : "B02..B12");
        goto out;
    }
    if (s != CC_SENSOR_S1 && nc_inq_varid(c->ncid, MASK_NAME, &c->mask_var) != NC_NOERR)
        c->mask_var = -1;
    st = CC_OK;
out:
    if (st != CC_OK)
        cube_close(c);
    return st;
}

/* Reads rows [y0, y0+nrows) of date index ti of cube c into the series array
 * of its sensor at day index d. */
static cc_status cube_read_block(const sensor_cube *c, size_t ti, int x0, int y0, int ncols, int nrows, cc_series *s,
                                 int d, uint16_t *buf, uint16_t *mbuf)
{
    size_t start[3] = {ti, (size_t)y0, (size_t)x0}, count[3] = {1, (size_t)nrows, (size_t)ncols};
    size_t npix = (size_t)nrows * (size_t)ncols;
    int nb = c->sensor == CC_SENSOR_S1 ? CC_CL_NS1 : CC_CL_NBANDS;
    float *dst = c->sensor == CC_SENSOR_S2        ? s->s2
                 : c->sensor == CC_SENSOR_LANDSAT ? s->landsat
                 : c->sensor == CC_SENSOR_OLCI    ? s->olci
                                                  : s->s1;
    dst += (size_t)d * npix * (size_t)nb;
    if (c->mask_var >= 0 && nc_get_vara_ushort(c->ncid, c->mask_var, start, count, mbuf) != NC_NOERR)
        return cc_error_set(CC_ERR_FORMAT, "%s: cloud_mask unreadable", c->path);
    for (int b = 0; b < nb; b++) {
        if (c->var[b] < 0)
            continue;
        if (nc_get_vara_ushort(c->ncid, c->var[b], start, count, buf) != NC_NOERR)
            return cc_error_set(CC_ERR_FORMAT, "%s: variable %d unreadable", c->path, c->var[b]);
        for (size_t p = 0; p < npix; p++) {
            int ok = buf[p] != c->fill[b] && (c->mask_var < 0 || mbuf[p] == CC_CM_CLEAR + 1 || mbuf[p] == CC_CM_WATER + 1);
            /* a later acquisition on the same day (two passes) overwrites only where clear */
            if (ok)
                dst[p * (size_t)nb + (size_t)b] = (float)(buf[p] * c->scale[b] + c->offset[b]);
        }
    }
    return CC_OK;
}

static int same_grid(const sensor_cube *a, const sensor_cube *b)
{
    if (a->width != b->width || a->height != b->height)
        return 0;
    for (int i = 0; i < 6; i++)
        if (fabs(a->gt[i] - b->gt[i]) > 1e-6 * (fabs(a->gt[i]) + 1))
            return 0;
    return 1;
}

/* Opens the tile's sensor cubes selected by `use`; *ref = the first found
 * (-1 if none). Fails on a broken cube or cubes on different grids. */
static cc_status open_cubes(const char *dir, const char *tile, unsigned use, sensor_cube cubes[CC_SENSOR_COUNT],
                            int have[CC_SENSOR_COUNT], int *ref)
{
    *ref = -1;
    for (int s = 0; s < CC_SENSOR_COUNT; s++) {
        have[s] = 0;
        if (!(use & (1u << s)))
            continue;
        cc_status cs = cube_open(&cubes[s], dir, tile, (cc_sensor)s);
        if (cs == CC_ERR_MISSING)
            continue;
        if (cs != CC_OK)
            return cs;
        have[s] = 1;
        if (*ref < 0)
            *ref = s;
        else if (!same_grid(&cubes[*ref], &cubes[s]))
            return cc_error_set(CC_ERR_FORMAT, "%s: grid differs from %s (sensor cubes of one tile share the tile grid)",
                                cubes[s].path, cubes[*ref].path);
    }
    if (*ref < 0)
        return cc_error_set(CC_ERR_MISSING, "%s: no sensor cube of tile %s (%s_s2.nc, _landsat.nc, _olci.nc, _s1.nc)",
                            dir, tile, tile);
    return CC_OK;
}

/* Fills s (allocated: its day0, ndays, npix = w*h) from the window of the
 * open cubes. buf/mbuf hold w*h values. */
static cc_status read_window(const sensor_cube *cubes, const int *have, int x0, int y0, int w, int h, cc_series *s,
                             uint16_t *buf, uint16_t *mbuf)
{
    for (int k = 0; k < CC_SENSOR_COUNT; k++) {
        if (!have[k])
            continue;
        for (size_t i = 0; i < cubes[k].nt; i++) {
            long dd = (long)floor(cubes[k].days[i] + 0.5) - s->day0;
            if (dd < 0 || dd >= s->ndays)
                continue;
            cc_status st = cube_read_block(&cubes[k], i, x0, y0, w, h, s, (int)dd, buf, mbuf);
            if (st != CC_OK)
                return st;
        }
    }
    return CC_OK;
}

cc_status cc_cloudless_load(const char *dir, const char *tile, unsigned sensors, long day0, int ndays, int x0, int y0,
                            int w, int h, cc_series *s, int *width, int *height)
{
    sensor_cube cubes[CC_SENSOR_COUNT];
    int have[CC_SENSOR_COUNT], ref;
    uint16_t *buf = NULL, *mbuf = NULL;
    memset(s, 0, sizeof *s);
    for (int k = 0; k < CC_SENSOR_COUNT; k++)
        cubes[k].ncid = -1, cubes[k].wkt = NULL, cubes[k].days = NULL;
    cc_status st = open_cubes(dir, tile, sensors ? sensors : (1u << CC_SENSOR_COUNT) - 1, cubes, have, &ref);
    if (st != CC_OK)
        goto out;
    const sensor_cube *g = &cubes[ref];
    if (width)
        *width = g->width;
    if (height)
        *height = g->height;
    if (w <= 0 || h <= 0 || x0 < 0 || y0 < 0 || x0 + w > g->width || y0 + h > g->height) {
        st = cc_error_set(CC_ERR_ARG, "%s: window %dx%d+%d+%d outside the %dx%d grid", g->path, w, h, x0, y0, g->width,
                          g->height);
        goto out;
    }
    buf = cc_malloc3((size_t)w, (size_t)h, sizeof *buf);
    mbuf = cc_malloc3((size_t)w, (size_t)h, sizeof *mbuf);
    if (!buf || !mbuf) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", g->path);
        goto out;
    }
    if ((st = cc_series_alloc(s, ndays, day0, (size_t)w * (size_t)h)) != CC_OK)
        goto out;
    st = read_window(cubes, have, x0, y0, w, h, s, buf, mbuf);
out:
    if (st != CC_OK)
        cc_series_free(s);
    for (int k = 0; k < CC_SENSOR_COUNT; k++)
        cube_close(&cubes[k]);
    free(buf);
    free(mbuf);
    return st;
}

static uint16_t evidence_days_dn(int16_t d) { return d < 0 ? 0 : (uint16_t)(d + 1); }

/* Square windows aligned to the cubes' 512 x 512 chunks (a chunk is
 * decompressed once per window that touches it), as large as a 256 MiB
 * series allows; `block` > 0 overrides. */
static int block_side(int block, int ndays)
{
    if (block > 0)
        return block;
    double per_px = (double)ndays * (3 * CC_CL_NBANDS + CC_CL_NS1) * sizeof(float);
    int side = 512;
    while (side > 16 && (double)side * side * per_px > 256.0 * 1024 * 1024)
        side /= 2;
    return side;
}

/* The fused day over the whole W x H grid, window by window (read the
 * +-half-day series, predict, evidence), encoded into out [CC_CL_NBANDS +
 * 2][npix]: the bands, days_since_s2, sensors. Fills stats' read and model
 * seconds and the filled fraction. */
static cc_status fuse_tile(const cc_cloudless_args *a, const cc_cl_model *model, const sensor_cube *cubes,
                           const int *have, int W, int H, uint16_t *out, cc_cloudless_stats *stats)
{
    cc_status st = CC_OK;
    cc_progress *prog = NULL;
    const int half = cc_cl_model_half_window(model), ndays = 2 * half + 1, side = block_side(a->block, ndays);
    const int bw = side < W ? side : W, bh = side < H ? side : H;
    const size_t npix = (size_t)W * (size_t)H, bmax = (size_t)bw * (size_t)bh;
    cc_series ser;
    memset(&ser, 0, sizeof ser);
    uint16_t *buf = cc_malloc3(bmax, 1, sizeof *buf), *mbuf = cc_malloc3(bmax, 1, sizeof *mbuf);
    float *pred = cc_malloc3(bmax, CC_CL_NBANDS, sizeof *pred);
    int16_t *dsince = cc_malloc3(bmax, 1, sizeof *dsince);
    uint8_t *sens = cc_malloc3(bmax, 1, sizeof *sens);
    if (!buf || !mbuf || !pred || !dsince || !sens) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: cloudless: out of memory (%d x %d)", a->out_path, W, H);
        goto out;
    }
    double tread = 0, tmodel = 0;
    size_t filled = 0;
    prog = cc_progress_start("cloudless", "px", (uint64_t)npix);
    for (int y0 = 0; y0 < H; y0 += bh)
        for (int x0 = 0; x0 < W; x0 += bw) {
            int nr = y0 + bh <= H ? bh : H - y0, nc = x0 + bw <= W ? bw : W - x0;
            size_t bp = (size_t)nr * (size_t)nc;
            double ta = now();
            cc_series_free(&ser);
            if ((st = cc_series_alloc(&ser, ndays, a->day - half, bp)) != CC_OK)
                goto out;
            if ((st = read_window(cubes, have, x0, y0, nc, nr, &ser, buf, mbuf)) != CC_OK)
                goto out;
            double tb = now();
            tread += tb - ta;
            if ((st = cc_cl_predict_on(model, a->backend, &ser, half, pred)) != CC_OK)
                goto out;
            cc_cl_evidence(&ser, half, dsince, sens);
            tmodel += now() - tb;
            for (size_t p = 0; p < bp; p++) {
                size_t q = (size_t)(y0 + (int)(p / (size_t)nc)) * (size_t)W + (size_t)x0 + p % (size_t)nc;
                int ok = 0; /* a band no optical sensor observed in the window stays fill */
                for (int b = 0; b < CC_CL_NBANDS; b++) {
                    float v = pred[p * CC_CL_NBANDS + (size_t)b];
                    ok |= isfinite(v);
                    out[(size_t)b * npix + q] = cc_cube_refl_dn(v);
                }
                out[(size_t)CC_CL_NBANDS * npix + q] = ok ? evidence_days_dn(dsince[p]) : 0;
                out[(size_t)(CC_CL_NBANDS + 1) * npix + q] = ok ? (uint16_t)sens[p] : CL_SENSORS_FILL;
                filled += ok;
            }
            cc_progress_add(prog, (uint64_t)bp);
        }
    stats->seconds_read = tread;
    stats->seconds_model = tmodel;
    stats->filled_fraction = (double)filled / (double)npix;
out:
    cc_progress_end(prog);
    cc_series_free(&ser);
    free(buf);
    free(mbuf);
    free(pred);
    free(dsince);
    free(sens);
    return st;
}

/* "<cube> (<n> dates), ..." of the cubes used (malloc'd; NULL: out of memory). */
static char *inputs_of(const sensor_cube *cubes, const int *have, const cc_cloudless_stats *stats)
{
    size_t il = 256;
    for (int s = 0; s < CC_SENSOR_COUNT; s++)
        il += strlen(cubes[s].path) + 64;
    char *inputs = malloc(il);
    if (!inputs)
        return NULL;
    inputs[0] = 0;
    for (int s = 0; s < CC_SENSOR_COUNT; s++)
        if (have[s]) {
            const char *base = strrchr(cubes[s].path, '/');
            size_t l = strlen(inputs);
            snprintf(inputs + l, il - l, "%s%s (%d dates)", l ? ", " : "", base ? base + 1 : cubes[s].path,
                     stats->ndates[s]);
        }
    return inputs;
}

/* The day's product cube (appended to a->out_path) on the grid of g, and its
 * quicklook. */
static cc_status write_product(const cc_cloudless_args *a, const sensor_cube *g, uint16_t *out, const char *inputs,
                               const char *params)
{
    cc_status st;
    const int W = g->width, H = g->height;
    const size_t npix = (size_t)W * (size_t)H;
    cc_cube_layer layers[CC_CL_NBANDS + 2];
    char ln[CC_CL_NBANDS][96];
    for (int b = 0; b < CC_CL_NBANDS; b++) {
        const double nm = cc_band_wavelength_nm[cc_band_index(cc_cl_band_names[b])];
        snprintf(ln[b], sizeof ln[b], "cloud-free surface reflectance, band %s (%.0f nm), fused", cc_cl_band_names[b],
                 nm);
        layers[b] = (cc_cube_layer){.name = cc_cl_band_names[b], .long_name = ln[b], .units = "1",
                                    .standard_name = "surface_bidirectional_reflectance",
                                    .scale_factor = CC_CL_REFL_SCALE, .add_offset = CC_CL_REFL_OFFSET,
                                    .fill_value = 0, .wavelength_nm = nm, .data = out + (size_t)b * npix};
    }
    layers[CC_CL_NBANDS] = (cc_cube_layer){
        .name = "days_since_s2", .units = "days", .scale_factor = 1, .add_offset = -1, .fill_value = 0,
        .long_name = "days since the last clear Sentinel-2 observation of the pixel (fill: none in the window)",
        .data = out + (size_t)CC_CL_NBANDS * npix};
    /* evidence as CF bit flags (issue 16), like the L2A quality layer: bit 1 << sensor */
    static const uint8_t sensor_bits[4] = {1u << CC_SENSOR_S2, 1u << CC_SENSOR_LANDSAT, 1u << CC_SENSOR_OLCI,
                                           1u << CC_SENSOR_S1};
    layers[CC_CL_NBANDS + 1] = (cc_cube_layer){
        .name = "sensors", .standard_name = "status_flag", .scale_factor = 1, .fill_value = CL_SENSORS_FILL,
        .long_name = "sensors that contributed within the window (fill: no product at the pixel)",
        .nflags = 4, .flag_masks = sensor_bits, .flag_meanings = "sentinel_2 landsat olci sentinel_1",
        .data = out + (size_t)(CC_CL_NBANDS + 1) * npix};
    int y, m, d;
    cc_date_from_days(a->day, &y, &m, &d);
    cc_cube_write_args wa = {.path = a->out_path, .tile_id = a->tile, .product = "cloudless", .wkt = g->wkt,
                             .width = W, .height = H, .year = y, .month = m, .day = d,
                             .nlayers = CC_CL_NBANDS + 2, .layers = layers, .inputs = inputs,
                             .processor = "clearcube cloudless (multi-sensor temporal fusion)", .parameters = params};
    memcpy(wa.gt, g->gt, sizeof wa.gt);
    if ((st = cc_cube_write(&wa)) != CC_OK)
        return st;
    if (a->quicklook)
        return cc_quicklook_write(a->quicklook, W, H, out + 2 * npix, out + npix, out, 1024);
    return CC_OK;
}

static cc_status fusion_run(const cc_cloudless_args *a, cc_cloudless_stats *stats)
{
    cc_status st = CC_ERR_INTERNAL;
    sensor_cube cubes[CC_SENSOR_COUNT];
    int have[CC_SENSOR_COUNT] = {0}, ref = -1;
    cc_cl_model *model = NULL;
    uint16_t *out = NULL;
    char *inputs = NULL;
    for (int s = 0; s < CC_SENSOR_COUNT; s++)
        cubes[s].ncid = -1, cubes[s].wkt = NULL, cubes[s].days = NULL;

    double t0 = now();
    if ((st = cc_cl_model_load(a->model_path, &model)) != CC_OK)
        goto out;
    int half = cc_cl_model_half_window(model);
    unsigned use = a->sensors ? a->sensors : (1u << CC_SENSOR_COUNT) - 1;
    int any_dates = 0;
    if ((st = open_cubes(a->cube_dir, a->tile, use, cubes, have, &ref)) != CC_OK)
        goto out;
    for (int s = 0; s < CC_SENSOR_COUNT; s++)
        for (size_t i = 0; have[s] && i < cubes[s].nt; i++)
            if (fabs(cubes[s].days[i] - (double)a->day) <= half) {
                stats->ndates[s]++;
                any_dates = 1;
            }
    if (!any_dates) {
        char date[CC_DATE_ISO_SIZE];
        cc_date_format(a->day, date);
        st = cc_error_set(CC_ERR_NODATA, "%s: tile %s: no observation of any sensor within %d days of %s",
                          a->cube_dir, a->tile, half, date);
        goto out;
    }
    const sensor_cube *g = &cubes[ref];
    const int W = g->width, H = g->height;
    stats->width = W, stats->height = H;
    if (!(out = cc_malloc3(CC_CL_NBANDS + 2, (size_t)W * (size_t)H, sizeof *out))) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: cloudless: out of memory (%d x %d)", a->out_path, W, H);
        goto out;
    }
    if ((st = fuse_tile(a, model, cubes, have, W, H, out, stats)) != CC_OK)
        goto out;
    if (!(stats->filled_fraction > 0)) {
        st = cc_error_set(CC_ERR_NODATA, "%s: tile %s: no pixel could be filled", a->cube_dir, a->tile);
        goto out;
    }
    double tw = now();
    if (!(inputs = inputs_of(cubes, have, stats))) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", a->out_path);
        goto out;
    }
    char params[512], date[CC_DATE_ISO_SIZE];
    snprintf(params, sizeof params, "half_window=%d days; model=%s; sensors=0x%x", half, a->model_path, use);
    if ((st = write_product(a, g, out, inputs, params)) != CC_OK)
        goto out;
    stats->seconds_write = now() - tw;
    stats->written = 1;
    cc_date_format(a->day, date);
    cc_info("cloudless %s %s: %dx%d, %.1f %% filled, read %.2f s, model %.2f s (total %.2f s)", a->tile, date, W, H,
            100 * stats->filled_fraction, stats->seconds_read, stats->seconds_model, now() - t0);
    st = CC_OK;
out:
    for (int s = 0; s < CC_SENSOR_COUNT; s++)
        cube_close(&cubes[s]);
    cc_cl_model_free(model);
    free(out);
    free(inputs);
    return st;
}

/* ---- the Kalman reanalysis (the default) ---------------------------------- */

/* The dates of the output cube (none when it does not exist): *at = the index
 * of day in it (-1: absent), *later = it holds a day after day. */
static void output_dates(const char *path, long day, int *n, int *at, int *later)
{
    double *days = NULL;
    *n = 0, *at = -1, *later = 0;
    FILE *f = fopen(path, "rb");
    if (f) {
        fclose(f);
        if (cc_cube_recover(path) == CC_OK && cc_cube_dates(path, n, &days) == CC_OK)
            for (int i = 0; i < *n; i++) {
                long d = (long)floor(days[i] + 0.5);
                if (d == day)
                    *at = i;
                *later |= d > day;
            }
    }
    free(days);
    cc_error_clear(); /* an unreadable output fails later with its own message */
}

/* The dates of each sensor cube within +-margin days of day. */
static void window_dates(const cc_cloudless_args *a, int margin, int ndates[CC_SENSOR_COUNT])
{
    for (int s = 0; s < CC_SENSOR_COUNT; s++) {
        char path[4096];
        int n = 0;
        double *days = NULL;
        ndates[s] = 0;
        cc_cube_sensor_path(path, sizeof path, a->cube_dir, a->tile, (cc_sensor)s);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        fclose(f);
        if (cc_cube_recover(path) == CC_OK && cc_cube_dates(path, &n, &days) == CC_OK)
            for (int i = 0; i < n; i++)
                ndates[s] += fabs(days[i] - (double)a->day) <= margin;
        free(days);
    }
    cc_error_clear(); /* a broken cube fails in the run with its own message */
}

static cc_status kalman_run(const cc_cloudless_args *a, const char *params_path, cc_cloudless_stats *stats)
{
    const unsigned use = a->sensors ? a->sensors : (1u << CC_SENSOR_COUNT) - 1;
    const int margin = a->margin > 0 ? a->margin : CC_CL_KALMAN_MARGIN;
    char date[CC_DATE_ISO_SIZE];
    cc_date_format(a->day, date);
    if (!(use & (1u << CC_SENSOR_S2)))
        return cc_error_set(CC_ERR_ARG, "%s: the Kalman model needs Sentinel-2 (s2) among the sensors", a->cube_dir);
    int n, at, later;
    output_dates(a->out_path, a->day, &n, &at, &later);
    if (at < 0 && later)
        return cc_error_set(CC_ERR_ARG, "%s: holds days after %s: the Kalman product appends days in order (write %s "
                            "to another file)", a->out_path, date, date);
    window_dates(a, margin, stats->ndates);
    const int use_ls = (use & (1u << CC_SENSOR_LANDSAT)) != 0;
    if (stats->ndates[CC_SENSOR_S2] + (use_ls ? stats->ndates[CC_SENSOR_LANDSAT] : 0) == 0) {
        /* the grid and the cubes are checked first: a missing tile is CC_ERR_MISSING */
        cc_series s;
        cc_status st = cc_cloudless_load(a->cube_dir, a->tile, use, a->day, 1, 0, 0, 1, 1, &s, NULL, NULL);
        cc_series_free(&s);
        if (st != CC_OK)
            return st;
        return cc_error_set(CC_ERR_NODATA, "%s: tile %s: no observation of Sentinel-2%s within %d days of %s",
                            a->cube_dir, a->tile, use_ls ? " or Landsat" : "", margin, date);
    }
    if (at < 0) {
        cc_cl_state_args sa = {.cube_dir = a->cube_dir, .tile = a->tile, .first_day = a->day, .last_day = a->day,
                               .out_path = a->out_path, .params_path = params_path, .block_rows = a->block,
                               .no_landsat = !use_ls};
        cc_cl_state_stats ss;
        cc_status st = cc_cl_reanalysis_run(&sa, margin, &ss);
        if (st != CC_OK)
            return st;
        stats->width = ss.width, stats->height = ss.height;
        stats->seconds_read = ss.s_day_in, stats->seconds_model = ss.s_model, stats->seconds_write = ss.s_day_out;
        stats->written = ss.days_written > 0;
        at = n;
    } else
        cc_info("%s already holds %s: not written again", a->out_path, date);
    if (a->quicklook)
        return cc_quicklook_cube(a->out_path, "B04,B03,B02", at, a->quicklook, NULL);
    return CC_OK;
}

cc_status cc_cloudless_run(const cc_cloudless_args *a, cc_cloudless_stats *stats)
{
    cc_cloudless_stats local;
    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof *stats);
    stats->filled_fraction = NAN;
    cc_cl_method m = a->method;
    if (m == CC_CL_METHOD_AUTO) {
        m = CC_CL_METHOD_KALMAN;
        if (a->model_path) {
            int is_kalman = 0;
            cc_status st = cc_kf_model_is_params(a->model_path, &is_kalman);
            if (st != CC_OK)
                return st;
            m = is_kalman ? CC_CL_METHOD_KALMAN : CC_CL_METHOD_FUSION;
        }
    }
    stats->method = m;
    if (m == CC_CL_METHOD_FUSION) {
        if (!a->model_path)
            return cc_error_set(CC_ERR_ARG, "cloudless: the fusion method needs a model file");
        return fusion_run(a, stats);
    }
    if (!a->model_path)
        cc_info("cloudless: no Kalman parameter file: the built-in defaults (kalman.h)");
    return kalman_run(a, a->model_path, stats);
}
