/* SIMULATED sensor cubes of one tile and their truth (pipeline/cloudless/sim_cubes.h):
 * the synthetic generator, the georeferencing of the series, the cube writers. */
#define _GNU_SOURCE /* strdup */
#include "pipeline/cloudless/sim_cubes.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <gdal.h>
#include <ogr_srs_api.h>

#include "core/alloc.h"
#include "core/date.h"
#include "io/cube.h"
#include "io/grid/mgrs.h"
#include "pipeline/cloudless/cloudless_product.h"
#include "pipeline/cloudless/cloudless_sim.h"
#include "pipeline/atmos/cloudmask.h"

/* A purely synthetic series (no real pieces): per pixel a double-logistic
 * NDVI season with a spatially varying onset, spectra mixed from textbook soil
 * and vegetation end-members, clouds as smooth random fields. */
static uint64_t sm64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}
static double hrand(uint64_t a, uint64_t b) { return (double)(sm64(a * 0x100000001b3ULL ^ sm64(b)) >> 11) * 0x1.0p-53; }

/* smooth random field in [0,1] from a coarse lattice (cell px), bilinear */
static double field(uint64_t seed, int x, int y, int cell)
{
    int cx = x / cell, cy = y / cell;
    double fx = (double)(x % cell) / cell, fy = (double)(y % cell) / cell;
    double v00 = hrand(seed, (uint64_t)(cy * 1000 + cx)), v10 = hrand(seed, (uint64_t)(cy * 1000 + cx + 1));
    double v01 = hrand(seed, (uint64_t)((cy + 1) * 1000 + cx)), v11 = hrand(seed, (uint64_t)((cy + 1) * 1000 + cx + 1));
    return (1 - fy) * ((1 - fx) * v00 + fx * v10) + fy * ((1 - fx) * v01 + fx * v11);
}

static cc_status synth_generate(int size, long day0, int ndays, uint64_t seed, cc_series *s, float **truth)
{
    /* end-members (L2A reflectance, B02..B12): bare soil and green vegetation,
     * typical values (e.g. the USGS spectral library shapes) */
    static const float soil[CC_CL_NBANDS] = {0.08f, 0.11f, 0.14f, 0.16f, 0.18f, 0.19f, 0.20f, 0.21f, 0.28f, 0.24f};
    static const float veg[CC_CL_NBANDS] = {0.03f, 0.07f, 0.04f, 0.10f, 0.28f, 0.36f, 0.40f, 0.41f, 0.20f, 0.10f};
    size_t npix = (size_t)size * (size_t)size;
    cc_status st = cc_series_alloc(s, ndays, day0, npix);
    if (st != CC_OK)
        return st;
    float *t = cc_malloc3((size_t)ndays * npix, CC_CL_NBANDS, sizeof *t);
    if (!t) {
        cc_series_free(s);
        return cc_error_set(CC_ERR_NOMEM, "cloudless-sim: out of memory");
    }
    for (int d = 0; d < ndays; d++) {
        int s2day = d % 5 == 0, lsday = d % 8 == 2, s1day = d % 6 == 1;
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++) {
                size_t p = (size_t)y * (size_t)size + (size_t)x, q = (size_t)d * npix + p;
                double field_id = floor(field(seed, x, y, 16) * 6); /* parcels */
                double onset = 60 + 10 * field_id, len = 50 + 8 * field_id;
                double dd = (double)d;
                double f = 1 / (1 + exp(-(dd - onset) / 6)) - 1 / (1 + exp(-(dd - onset - len) / 8));
                f = 0.1 + 0.8 * f;
                for (int b = 0; b < CC_CL_NBANDS; b++)
                    t[q * CC_CL_NBANDS + (size_t)b] = (float)((1 - f) * soil[b] + f * veg[b]);
                double cloud = field(seed + 17 + (uint64_t)d, x, y, 24);
                int cloudy = cloud > 0.55;
                if (s2day && !cloudy)
                    for (int b = 0; b < CC_CL_NBANDS; b++)
                        s->s2[q * CC_CL_NBANDS + (size_t)b] =
                            t[q * CC_CL_NBANDS + (size_t)b] + (float)(0.004 * (hrand(seed + 1, q * 16 + (uint64_t)b) - 0.5));
                if (lsday && !(field(seed + 999 + (uint64_t)d, x, y, 24) > 0.6))
                    for (int b = 0; b < CC_CL_NBANDS; b++)
                        if (b < 3 || b > 6)
                            s->landsat[q * CC_CL_NBANDS + (size_t)b] = t[q * CC_CL_NBANDS + (size_t)b] + 0.005f;
                if (!cloudy) /* OLCI: daily, TOA-like bias; aggregated to 300 m below */
                    for (int b = 0; b < 8; b++)
                        s->olci[q * CC_CL_NBANDS + (size_t)b] = t[q * CC_CL_NBANDS + (size_t)b] + 0.03f - 0.02f * (float)b / 8;
                if (s1day) {
                    s->s1[q * 2] = (float)(-13.4 + 2.33 * f + 1.5 * (hrand(seed + 2, q) - 0.5));
                    s->s1[q * 2 + 1] = (float)(-20.6 + 4.95 * f + 1.5 * (hrand(seed + 3, q) - 0.5));
                }
            }
    }
    /* OLCI at 300 m: block means of the 30 x 30 px blocks (NaN if any is cloudy) */
    for (int d = 0; d < ndays; d++)
        for (int by = 0; by < size; by += 30)
            for (int bx = 0; bx < size; bx += 30)
                for (int b = 0; b < 8; b++) {
                    double sum = 0;
                    int n = 0, bad = 0;
                    for (int y = by; y < by + 30 && y < size; y++)
                        for (int x = bx; x < bx + 30 && x < size; x++) {
                            float v = s->olci[((size_t)d * npix + (size_t)y * (size_t)size + (size_t)x) * CC_CL_NBANDS + (size_t)b];
                            bad |= !isfinite(v);
                            sum += v, n++;
                        }
                    for (int y = by; y < by + 30 && y < size; y++)
                        for (int x = bx; x < bx + 30 && x < size; x++)
                            s->olci[((size_t)d * npix + (size_t)y * (size_t)size + (size_t)x) * CC_CL_NBANDS + (size_t)b] =
                                bad ? NAN : (float)(sum / n);
                }
    *truth = t;
    return CC_OK;
}

/* Writes one sensor's series as a multi-date sensor cube (cc_cube_write_sensor,
 * the writer of ingest): the acquisition days (acq[d] != 0; NULL: the days
 * with any observation). On those days the unobserved pixels of optical
 * sensors become cloud (bright reflectance, mask class cloud) and the bands
 * the sensor lacks stay without a value: the series is changed in place for
 * that (the caller writes nothing else from it). */
static cc_status write_sensor(const char *dir, const char *tile, cc_sensor sensor, cc_series *s, const uint8_t *acq,
                              int w, int h, const double gt[6], const char *wkt, const char *label)
{
    size_t npix = s->npix;
    int nb = sensor == CC_SENSOR_S1 ? CC_CL_NS1 : CC_CL_NBANDS;
    float *src = sensor == CC_SENSOR_S2 ? s->s2 : sensor == CC_SENSOR_LANDSAT ? s->landsat
                                             : sensor == CC_SENSOR_OLCI        ? s->olci
                                                                               : s->s1;
    long *dates = malloc((size_t)s->ndays * sizeof *dates);
    int *slices = malloc((size_t)s->ndays * sizeof *slices), nd = 0;
    uint8_t *mask = NULL;
    cc_status st = CC_OK;
    for (int d = 0; d < s->ndays && dates && slices; d++) {
        int any = acq && acq[d]; /* an acquisition, even if cloudy everywhere */
        for (size_t k = 0; !any && k < npix * (size_t)nb; k++)
            any = isfinite(src[(size_t)d * npix * (size_t)nb + k]);
        if (any)
            slices[nd] = d, dates[nd++] = s->day0 + d;
    }
    if (!dates || !slices || (nd && sensor != CC_SENSOR_S1 && !(mask = cc_malloc3((size_t)nd, npix, 1)))) {
        st = cc_error_set(CC_ERR_NOMEM, "cloudless-sim: out of memory");
        goto out;
    }
    if (!nd)
        goto out;
    for (int k = 0; mask && k < nd; k++)
        for (size_t p = 0; p < npix; p++) {
            float *v = src + ((size_t)slices[k] * npix + p) * (size_t)nb;
            int obs = isfinite(v[0]) || isfinite(v[nb - 1]);
            mask[(size_t)k * npix + p] = obs ? CC_CM_CLEAR : CC_CM_CLOUD;
            for (int b = 0; b < nb; b++) {
                int has = sensor == CC_SENSOR_LANDSAT ? (b < 3 || b > 6) : sensor == CC_SENSOR_OLCI ? b < 8 : 1;
                v[b] = !has ? NAN : obs ? v[b] : (b < 8 ? 0.45f : 0.30f); /* cloud: bright */
            }
        }
    char path[4096], product[64];
    cc_cube_sensor_path(path, sizeof path, dir, tile, sensor);
    snprintf(product, sizeof product, "sensor-cube %s (SIMULATED)", cc_cube_sensor_suffix(sensor));
    unlink(path);
    cc_cube_sensor_args a = {.dir = dir, .tile = tile, .sensor = sensor, .width = w, .height = h, .wkt = wkt,
                             .ndates = nd, .days = dates, .values = src, .slices = slices, .mask = mask,
                             .product = product, .inputs = label, .processor = "clearcube cloudless-sim"};
    memcpy(a.gt, gt, sizeof a.gt);
    st = cc_cube_write_sensor(&a);
out:
    free(dates);
    free(slices);
    free(mask);
    return st;
}


/* One simulated series on its grid, as the cube writers need it. */
typedef struct {
    cc_series s;
    float *truth;
    int w, h;
    char tile[8], label[512];
    uint8_t *acq[CC_SENSOR_COUNT]; /* acquisition days of S2 and Landsat */
    double gt[6];
    char *wkt;
} sim_series;

static void sim_series_free(sim_series *x)
{
    cc_series_free(&x->s);
    free(x->truth);
    free(x->wkt);
    for (int k = 0; k < CC_SENSOR_COUNT; k++)
        free(x->acq[k]);
    memset(x, 0, sizeof *x);
}

/* The synthetic series, on a 10 m grid 50 km into tile 33UUP. */
static cc_status sim_synthetic(const cc_cl_sim_cubes_options *o, sim_series *x)
{
    long day0 = o->day0 ? o->day0 : cc_date_to_days(2020, 3, 1);
    int days = o->ndays;
    cc_status st = synth_generate(o->size, day0, days, (uint64_t)o->seed, &x->s, &x->truth);
    if (st != CC_OK)
        return st;
    x->w = x->h = o->size;
    x->acq[CC_SENSOR_S2] = calloc((size_t)days, 1);
    x->acq[CC_SENSOR_LANDSAT] = calloc((size_t)days, 1);
    for (int d = 0; d < days && x->acq[CC_SENSOR_S2] && x->acq[CC_SENSOR_LANDSAT]; d++)
        x->acq[CC_SENSOR_S2][d] = d % 5 == 0, x->acq[CC_SENSOR_LANDSAT][d] = d % 8 == 2;
    snprintf(x->tile, sizeof x->tile, "33UUP");
    int epsg;
    double ulx, uly;
    if ((st = cc_mgrs_tile_footprint(x->tile, &epsg, &ulx, &uly)) != CC_OK)
        return st;
    double *gt = x->gt;
    gt[0] = ulx + 50000, gt[1] = 10, gt[2] = 0, gt[3] = uly - 50000, gt[4] = 0, gt[5] = -10;
    snprintf(x->label, sizeof x->label, "SIMULATED (synthetic: analytic phenology, textbook spectra, random clouds; "
                                        "seed %.0f)", o->seed);
    return CC_OK;
}

/* The eolearn patch's georeferencing (scripts/npy2tif), on an exact 10 m lattice,
 * and the MGRS tile at the centre of the crop. */
static cc_status sim_georef(const char *eo, const cc_cl_sim_info *info, sim_series *x)
{
    char ndvi[4096];
    snprintf(ndvi, sizeof ndvi, "%s/NDVI.tif", eo);
    GDALAllRegister();
    GDALDatasetH ds = GDALOpen(ndvi, GA_ReadOnly);
    double g0[6], *gt = x->gt;
    if (!ds || GDALGetGeoTransform(ds, g0) != CE_None) {
        if (ds)
            GDALClose(ds);
        return cc_error_set(CC_ERR_IO, "%s: no georeferencing", ndvi);
    }
    x->wkt = strdup(GDALGetProjectionRef(ds));
    GDALClose(ds);
    gt[0] = floor(g0[0] / 10) * 10 + 10.0 * info->x0, gt[1] = 10, gt[2] = 0;
    gt[3] = floor(g0[3] / 10) * 10 - 10.0 * info->y0, gt[4] = 0, gt[5] = -10;
    OGRSpatialReferenceH src = OSRNewSpatialReference(x->wkt), ll = OSRNewSpatialReference(NULL);
    OSRImportFromEPSG(ll, 4326);
    OSRSetAxisMappingStrategy(ll, OAMS_TRADITIONAL_GIS_ORDER);
    OSRSetAxisMappingStrategy(src, OAMS_TRADITIONAL_GIS_ORDER);
    OGRCoordinateTransformationH ct = OCTNewCoordinateTransformation(src, ll);
    double lon = gt[0] + 5.0 * x->w, lat = gt[3] - 5.0 * x->h;
    if (ct)
        OCTTransform(ct, 1, &lon, &lat, NULL), OCTDestroyCoordinateTransformation(ct);
    OSRDestroySpatialReference(src);
    OSRDestroySpatialReference(ll);
    return cc_mgrs_tile_at(lon, lat, x->tile);
}

/* The series from real pieces (cloudless_sim.h); the acquisition days are those
 * of the real cloud masks transplanted. */
static cc_status sim_real(const cc_cl_sim_cubes_options *o, sim_series *x)
{
    cc_cl_sim_options so;
    cc_cl_sim_info info;
    memset(&info, 0, sizeof info);
    cc_cl_sim_options_init(&so);
    so.datasets = o->datasets;
    so.eolearn_tif = o->eolearn_tif;
    so.seed = (uint64_t)o->seed;
    so.day0 = o->day0;
    so.ndays = o->ndays;
    so.split = o->split;
    so.info = &info;
    cc_status st = cc_cl_sim_generate(&so, &x->s, &x->truth, &x->w, &x->h);
    if (st == CC_OK && (st = sim_georef(o->eolearn_tif, &info, x)) == CC_OK) {
        snprintf(x->label, sizeof x->label, "%s", info.label);
        int days = x->s.ndays;
        x->acq[CC_SENSOR_S2] = calloc((size_t)days, 1);
        x->acq[CC_SENSOR_LANDSAT] = calloc((size_t)days, 1);
        for (int d = 0; d < days && x->acq[CC_SENSOR_S2] && x->acq[CC_SENSOR_LANDSAT]; d++) {
            x->acq[CC_SENSOR_S2][d] = info.s2_mask_date && info.s2_mask_date[d] >= 0;
            x->acq[CC_SENSOR_LANDSAT][d] = info.landsat_mask_date && info.landsat_mask_date[d] >= 0;
        }
    }
    cc_cl_sim_info_free(&info);
    return st;
}

/* The tile's UTM CRS as WKT (synthetic series, or a patch whose WKT could not be copied). */
static char *tile_wkt(const char *tile)
{
    int epsg;
    double ulx, uly;
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
    char *w0 = NULL;
    cc_mgrs_tile_footprint(tile, &epsg, &ulx, &uly);
    OSRImportFromEPSG(srs, epsg);
    OSRExportToWkt(srs, &w0);
    char *wkt = strdup(w0 ? w0 : "");
    CPLFree(w0);
    OSRDestroySpatialReference(srs);
    return wkt;
}

/* The truth: every day, as a product-like cube. */
static cc_status write_truth(const char *dir, const sim_series *x)
{
    const cc_series *s = &x->s;
    char tl[1024];
    snprintf(tl, sizeof tl, "%s; cloud-free truth", x->label);
    long *dates = malloc((size_t)s->ndays * sizeof *dates);
    size_t npix = s->npix;
    uint16_t *dn = cc_malloc3((size_t)CC_CL_NBANDS * (size_t)s->ndays, npix, sizeof *dn);
    if (!dates || !dn) {
        free(dates), free(dn);
        return cc_error_set(CC_ERR_NOMEM, "cloudless-sim: out of memory");
    }
    for (int d = 0; d < s->ndays; d++) {
        dates[d] = s->day0 + d;
        for (size_t p = 0; p < npix; p++)
            for (int b = 0; b < CC_CL_NBANDS; b++) {
                dn[((size_t)b * (size_t)s->ndays + (size_t)d) * npix + p] =
                    cc_cube_refl_dn(x->truth[((size_t)d * npix + p) * CC_CL_NBANDS + (size_t)b]);
            }
    }
    cc_cube_layer layers[CC_CL_NBANDS];
    memset(layers, 0, sizeof layers);
    for (int b = 0; b < CC_CL_NBANDS; b++)
        layers[b] = (cc_cube_layer){.name = cc_cl_band_names[b], .units = "1", .scale_factor = CC_CL_REFL_SCALE,
                                    .add_offset = CC_CL_REFL_OFFSET, .data = dn + (size_t)b * (size_t)s->ndays * npix};
    char path[4096];
    snprintf(path, sizeof path, "%s/%s_truth.nc", dir, x->tile);
    unlink(path);
    cc_cube_write_args a = {.path = path, .tile_id = x->tile, .product = "cloudless truth (SIMULATED)", .wkt = x->wkt,
                            .width = x->w, .height = x->h, .nlayers = CC_CL_NBANDS, .layers = layers, .inputs = tl,
                            .ndates = s->ndays, .dates = dates, .processor = "clearcube cloudless-sim"};
    if (s->ndays == 1) {
        cc_date_from_days(dates[0], &a.year, &a.month, &a.day);
        a.ndates = 0;
    }
    memcpy(a.gt, x->gt, sizeof a.gt);
    cc_status st = cc_cube_write(&a);
    free(dates), free(dn);
    return st;
}

cc_status cc_cl_sim_cubes_write(const cc_cl_sim_cubes_options *o, cc_cl_sim_cubes_result *r)
{
    memset(r, 0, sizeof *r);
    if (mkdir(o->out_dir, 0777) != 0 && errno != EEXIST)
        return cc_error_set(CC_ERR_IO, "%s: cannot create the folder: %s", o->out_dir, strerror(errno));
    sim_series x;
    memset(&x, 0, sizeof x);
    cc_status st = o->synthetic ? sim_synthetic(o, &x) : sim_real(o, &x);
    if (st == CC_OK && !x.wkt)
        x.wkt = tile_wkt(x.tile);
    /* S2 and Landsat: every acquisition is a date (a fully cloudy one is
     * all cloud); OLCI and S1: the days with an observation */
    for (int k = 0; k < CC_SENSOR_COUNT && st == CC_OK; k++)
        st = write_sensor(o->out_dir, x.tile, (cc_sensor)k, &x.s, x.acq[k], x.w, x.h, x.gt, x.wkt, x.label);
    if (st == CC_OK)
        st = write_truth(o->out_dir, &x);
    if (st == CC_OK) {
        snprintf(r->tile, sizeof r->tile, "%s", x.tile);
        snprintf(r->label, sizeof r->label, "%s", x.label);
        r->day0 = x.s.day0;
        r->ndays = x.s.ndays;
        r->width = x.w;
        r->height = x.h;
    }
    sim_series_free(&x);
    return st;
}
