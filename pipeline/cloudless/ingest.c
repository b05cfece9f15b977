/* Ingest (pipeline/cloudless/ingest.h): a product of any Cloudless sensor read
 * by its reader, resampled onto the Sentinel-2 tile grid, appended to the tile's
 * sensor cube. */
#define _GNU_SOURCE /* strdup, basename */
#include "pipeline/cloudless/ingest.h"

#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <cpl_conv.h>
#include <gdal.h>
#include <gdal_alg.h>
#include <gdalwarper.h>
#include <ogr_srs_api.h>

#include "core/alloc.h"
#include "core/date.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/reflectance.h"
#include "io/cube.h"
#include "io/grid/mgrs.h"
#include "io/landsat/landsat.h"
#include "io/s1/s1.h"
#include "io/s2/s2_mtd.h"
#include "io/s3/olci.h"
#include "pipeline/cloudless/cloudless_product.h"
#include "pipeline/atmos/cloudmask.h"

static int has_prefix(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

int cc_ingest_detect_sensor(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    size_t n = strlen(buf);
    while (n > 1 && buf[n - 1] == '/')
        buf[--n] = 0;
    const char *b = basename(buf);
    /* a Sentinel-2 L2A product by its metadata, whatever its name (issue 16) */
    size_t nb = strlen(b);
    struct stat sb;
    if ((stat(path, &sb) == 0 && S_ISDIR(sb.st_mode) && cc_s2_safe_dir(path)) ||
        (nb > 4 && !strcasecmp(b + nb - 4, ".zip"))) {
        cc_s2_product_info info;
        if (cc_s2_product_identify(path, &info) == CC_OK && info.level == CC_LEVEL_L2A)
            return CC_SENSOR_S2;
        cc_error_clear();
    }
    if (has_prefix(b, "S1A_") || has_prefix(b, "S1B_") || has_prefix(b, "S1C_"))
        return CC_SENSOR_S1;
    if ((has_prefix(b, "S3A_OL_") || has_prefix(b, "S3B_OL_")) || strstr(b, ".SEN3"))
        return CC_SENSOR_OLCI;
    if (b[0] == 'L' && (b[1] == 'C' || b[1] == 'E' || b[1] == 'T' || b[1] == 'O') &&
        (has_prefix(b + 2, "08") || has_prefix(b + 2, "09") || has_prefix(b + 2, "07") || has_prefix(b + 2, "05") ||
         b[2] == '8' || b[2] == '9' || b[2] == '7' || b[2] == '5'))
        return CC_SENSOR_LANDSAT;
    if (has_prefix(b, "S2A_MSIL2A") || has_prefix(b, "S2B_MSIL2A") || has_prefix(b, "S2C_MSIL2A") ||
        strstr(b, "L2A") || strstr(b, "2A_"))
        return CC_SENSOR_S2;
    return -1;
}

cc_status cc_ingest_grid_tile(const char *tile, double res, cc_ingest_grid *og)
{
    int epsg;
    double ulx, uly;
    cc_status st = cc_mgrs_tile_footprint(tile, &epsg, &ulx, &uly);
    if (st != CC_OK)
        return st;
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
    char *wkt = NULL;
    if (OSRImportFromEPSG(srs, epsg) != OGRERR_NONE || OSRExportToWkt(srs, &wkt) != OGRERR_NONE) {
        OSRDestroySpatialReference(srs);
        return cc_error_set(CC_ERR_CRS, "tile %s: EPSG:%d unknown to GDAL", tile, epsg);
    }
    OSRDestroySpatialReference(srs);
    og->wkt = strdup(wkt);
    CPLFree(wkt);
    int n = (int)floor(109800.0 / res + 0.5);
    og->g = (cc_grid){.width = n, .height = n, .gt = {ulx, res, 0, uly, 0, -res}, .wkt = og->wkt};
    return og->wkt ? CC_OK : cc_error_set(CC_ERR_NOMEM, "out of memory");
}

cc_status cc_ingest_grid_raster(const char *path, cc_ingest_grid *og)
{
    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    if (!ds)
        return cc_error_set(CC_ERR_IO, "%s: --grid: GDAL cannot open it", path);
    cc_status st = CC_OK;
    const char *wkt = GDALGetProjectionRef(ds);
    if (GDALGetGeoTransform(ds, og->g.gt) != CE_None || !wkt || !wkt[0] || og->g.gt[2] != 0 || og->g.gt[4] != 0)
        st = cc_error_set(CC_ERR_CRS, "%s: --grid: no north-up georeferencing", path);
    else {
        og->g.width = GDALGetRasterXSize(ds);
        og->g.height = GDALGetRasterYSize(ds);
        og->wkt = strdup(wkt);
        og->g.wkt = og->wkt;
    }
    GDALClose(ds);
    return st;
}

/* Nearest-neighbour warp of a class raster (SCL) onto g; 0 outside. */
static cc_status warp_classes(const cc_raster_u16 *src, const char *wkt, const cc_grid *g, uint8_t *out)
{
    cc_status st = CC_ERR_INTERNAL;
    GDALDriverH mem = GDALGetDriverByName("MEM");
    GDALDatasetH s = NULL, d = NULL;
    s = GDALCreate(mem, "", src->width, src->height, 1, GDT_UInt16, NULL);
    d = GDALCreate(mem, "", g->width, g->height, 1, GDT_Byte, NULL);
    if (!s || !d) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: cannot create a warp buffer", src->source ? src->source : "SCL");
        goto out;
    }
    GDALSetGeoTransform(s, (double *)src->gt);
    GDALSetProjection(s, wkt);
    GDALSetGeoTransform(d, (double *)g->gt);
    GDALSetProjection(d, g->wkt);
    if (GDALRasterIO(GDALGetRasterBand(s, 1), GF_Write, 0, 0, src->width, src->height, src->dn, src->width,
                     src->height, GDT_UInt16, 0, 0) != CE_None ||
        GDALReprojectImage(s, wkt, d, g->wkt, GRA_NearestNeighbour, 0, 0, NULL, NULL, NULL) != CE_None ||
        GDALRasterIO(GDALGetRasterBand(d, 1), GF_Read, 0, 0, g->width, g->height, out, g->width, g->height,
                     GDT_Byte, 0, 0) != CE_None) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: cannot warp the scene classification", src->source ? src->source : "SCL");
        goto out;
    }
    st = CC_OK;
out:
    if (s)
        GDALClose(s);
    if (d)
        GDALClose(d);
    return st;
}

/* Opens a Sentinel-2 L2A product for ingest. */
static cc_status open_s2(const char *path, const cc_scene_options *so, cc_scene **s)
{
    /* ingest uses reflectance and the mask only: the sun and view angles that
     * the scene reader wants for inputs without SAFE metadata play no role */
    cc_scene_options o2 = *so;
    if (isnan(o2.sun_zenith))
        o2.sun_zenith = 0;
    if (isnan(o2.sun_azimuth))
        o2.sun_azimuth = 0;
    if (isnan(o2.view_zenith))
        o2.view_zenith = 0;
    if (isnan(o2.view_azimuth))
        o2.view_azimuth = 0;
    char sc[4] = "";
    const char *base = strrchr(path, '/');
    base = base && base[1] ? base + 1 : path;
    if (!o2.spacecraft && !strncmp(base, "S2", 2) && base[2] >= 'A' && base[2] <= 'C') {
        snprintf(sc, sizeof sc, "%.3s", base); /* the name says it (S2A_MSIL2A_...) */
        o2.spacecraft = sc;
    }
    return cc_scene_open(path, &o2, s);
}

/* The window of g that the scene's bands (and SCL) cover, as cc_ingest_footprint. */
static int s2_footprint(const cc_scene *s, const cc_grid *g, cc_ingest_window *win)
{
    int any = 0, x0 = g->width, y0 = g->height, x1 = 0, y1 = 0;
    for (int b = 0; b <= CC_NBANDS; b++) {
        const cc_raster_u16 *r = b < CC_NBANDS ? &s->band[b] : &s->scl;
        cc_ingest_window w;
        if (!r->present)
            continue;
        int f = cc_ingest_footprint(r->gt, r->width, r->height, s->wkt, g, 2, &w);
        if (f < 0) {
            *win = w;
            return -1;
        }
        if (f == 0)
            continue;
        any = 1;
        x0 = w.x0 < x0 ? w.x0 : x0, y0 = w.y0 < y0 ? w.y0 : y0;
        x1 = w.x0 + w.width > x1 ? w.x0 + w.width : x1, y1 = w.y0 + w.height > y1 ? w.y0 + w.height : y1;
    }
    if (any)
        *win = (cc_ingest_window){x0, y0, x1 - x0, y1 - y0};
    return any;
}

/* Sentinel-2 L2A (the opened scene s) -> reflectance in the Cloudless bands + cloud mask on g. */
static cc_status read_s2(const char *path, cc_scene *s, const cc_grid *g, float *refl, uint8_t *mask)
{
    size_t npix = cc_grid_npix(g);
    float *full[CC_NBANDS] = {0}, *scratch = NULL;
    uint8_t *scl = NULL;
    cc_status st = CC_OK;
    /* one grid plane at a time, scattered into refl (issue 17: a whole tile
     * held 13 planes besides refl); only the bands of clearcube's own cloud
     * test stay, and only when the product has no SCL (cloudmask.c reads
     * B01-B04, B08 (else B8A), B10, B11) */
    for (int k = 0; k < CC_CL_NBANDS; k++)
        for (size_t p = 0; p < npix; p++)
            refl[p * CC_CL_NBANDS + (size_t)k] = NAN;
    for (int b = 0; b < CC_NBANDS; b++) {
        if (!s->band[b].present)
            continue;
        int k = CC_CL_NBANDS - 1, keep = !s->scl.present &&
            (b == CC_B01 || b == CC_B02 || b == CC_B03 || b == CC_B04 || b == CC_B08 || b == CC_B10 ||
             b == CC_B11 || (b == CC_B8A && !s->band[CC_B08].present));
        while (k >= 0 && cc_band_index(cc_cl_band_names[k]) != b)
            k--;
        if (!keep && k < 0)
            continue;
        float *plane = keep ? full[b] : scratch;
        if (!plane && !(plane = cc_malloc3(npix, 1, sizeof(float)))) {
            st = CC_ERR_NOMEM;
            goto out;
        }
        if (keep)
            full[b] = plane;
        else
            scratch = plane;
        if ((st = cc_grid_resample_band(&s->band[b], s->wkt, g, plane)) != CC_OK)
            goto out;
        cc_refl_decode_band(plane, npix, s->radio_offset[b], s->quantification);
        for (size_t p = 0; k >= 0 && p < npix; p++)
            refl[p * CC_CL_NBANDS + (size_t)k] = plane[p];
    }
    free(scratch);
    scratch = NULL;
    if (s->scl.present) {
        if (!(scl = cc_malloc3(npix, 1, 1))) {
            st = CC_ERR_NOMEM;
            goto out;
        }
        if ((st = warp_classes(&s->scl, s->wkt, g, scl)) != CC_OK)
            goto out;
        cc_cloudmask_from_scl(scl, npix, mask);
        cc_info("%s: cloud mask from the product's scene classification (SCL)", path);
    } else {
        cc_cloudmask_input in = {.width = g->width, .height = g->height, .pixel_size_m = fabs(g->gt[1])};
        for (int b = 0; b < CC_NBANDS; b++)
            in.band[b] = full[b];
        cc_cloudmask_options o;
        cc_cloudmask_options_init(&o);
        if ((st = cc_cloudmask_compute(&in, &o, mask)) != CC_OK)
            goto out;
        cc_info("%s: cloud mask by clearcube's own cloud and shadow test", path);
    }
    st = CC_OK;
out:
    if (st == CC_ERR_NOMEM)
        cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
    for (int b = 0; b < CC_NBANDS; b++)
        free(full[b]);
    free(scratch);
    free(scl);
    return st;
}

int cc_ingest_footprint(const double gt[6], int w, int h, const char *wkt, const cc_grid *g, int pad,
                        cc_ingest_window *win)
{
    *win = (cc_ingest_window){0, 0, g->width, g->height};
    OGRSpatialReferenceH src = OSRNewSpatialReference(NULL), dst = OSRNewSpatialReference(NULL);
    OGRCoordinateTransformationH ct = NULL;
    int ok = -1;
    if (!src || !dst || !wkt || !g->wkt || OSRSetFromUserInput(src, wkt) != OGRERR_NONE ||
        OSRSetFromUserInput(dst, g->wkt) != OGRERR_NONE)
        goto out;
    OSRSetAxisMappingStrategy(src, OAMS_TRADITIONAL_GIS_ORDER);
    OSRSetAxisMappingStrategy(dst, OAMS_TRADITIONAL_GIS_ORDER);
    /* the raster's extent in its CRS (the corners, for a rotated geotransform too) */
    double sx0 = HUGE_VAL, sy0 = HUGE_VAL, sx1 = -HUGE_VAL, sy1 = -HUGE_VAL;
    for (int c = 0; c < 4; c++) {
        const double px = (c & 1) ? w : 0, py = (c & 2) ? h : 0;
        const double x = gt[0] + px * gt[1] + py * gt[2], y = gt[3] + px * gt[4] + py * gt[5];
        sx0 = fmin(sx0, x), sx1 = fmax(sx1, x), sy0 = fmin(sy0, y), sy1 = fmax(sy1, y);
    }
    double x0, y0, x1, y1;
    CPLPushErrorHandler(CPLQuietErrorHandler);
    ct = OCTNewCoordinateTransformation(src, dst);
    /* every edge densified (21 points), so that a curved edge in g's CRS stays inside */
    int tr = ct && OCTTransformBounds(ct, sx0, sy0, sx1, sy1, &x0, &y0, &x1, &y1, 21);
    CPLPopErrorHandler();
    if (!tr || !isfinite(x0) || !isfinite(x1) || !isfinite(y0) || !isfinite(y1) || g->gt[1] <= 0 || g->gt[5] >= 0)
        goto out;
    /* a raster on g's own lattice (same CRS and pixel size, whole-pixel
     * offset) covers exactly its pixels: no padding, and the reader copies
     * it instead of resampling */
    const double fx = (gt[0] - g->gt[0]) / g->gt[1], fy = (gt[3] - g->gt[3]) / g->gt[5];
    const int lattice = gt[2] == 0 && gt[4] == 0 && fabs(gt[1] - g->gt[1]) <= 1e-9 * fabs(g->gt[1]) &&
                        fabs(gt[5] - g->gt[5]) <= 1e-9 * fabs(g->gt[5]) && fabs(fx - round(fx)) < 1e-6 &&
                        fabs(fy - round(fy)) < 1e-6 && OSRIsSame(src, dst);
    double c0 = floor((x0 - g->gt[0]) / g->gt[1]) - pad, c1 = ceil((x1 - g->gt[0]) / g->gt[1]) + pad;
    double r0 = floor((y1 - g->gt[3]) / g->gt[5]) - pad, r1 = ceil((y0 - g->gt[3]) / g->gt[5]) + pad;
    if (lattice)
        c0 = round(fx), c1 = c0 + w, r0 = round(fy), r1 = r0 + h;
    c0 = fmax(c0, 0), r0 = fmax(r0, 0), c1 = fmin(c1, g->width), r1 = fmin(r1, g->height);
    if (c1 <= c0 || r1 <= r0)
        ok = 0;
    else {
        *win = (cc_ingest_window){(int)c0, (int)r0, (int)(c1 - c0), (int)(r1 - r0)};
        ok = 1;
    }
out:
    if (ct)
        OCTDestroyCoordinateTransformation(ct);
    if (src)
        OSRDestroySpatialReference(src);
    if (dst)
        OSRDestroySpatialReference(dst);
    return ok;
}

void cc_ingest_subgrid(const cc_grid *g, const cc_ingest_window *win, cc_grid *gw)
{
    *gw = *g;
    gw->width = win->width, gw->height = win->height;
    gw->gt[0] = g->gt[0] + win->x0 * g->gt[1] + win->y0 * g->gt[2];
    gw->gt[3] = g->gt[3] + win->x0 * g->gt[4] + win->y0 * g->gt[5];
}

int cc_ingest_window_enabled(void)
{
    const char *e = getenv("CLEARCUBE_INGEST_WINDOW");
    return !(e && !strcmp(e, "off"));
}

unsigned long long cc_ingest_window_bytes(const cc_grid *g, const cc_ingest_window *win, double per_pixel)
{
    const unsigned long long npix = (unsigned long long)win->width * (unsigned long long)win->height;
    if (npix == cc_grid_npix(g))
        return (unsigned long long)(npix * per_pixel);
    /* + the appender's chunk caches: the chunks (512 x 512 uint16) of a row
     * of them across the window, in each of the 11 layers */
    return (unsigned long long)(npix * per_pixel) + 11ull * ((unsigned long long)win->width / 512 + 2) * 512 * 512 * 2;
}

/* The product's footprint on g (S2: from the opened scene *s, which is
 * opened here): 1, 0 (no overlap) or -1 (unknown or a sensor whose reader
 * exposes no simple geolocation, S1 and OLCI: the whole grid). */
static int product_footprint(const char *path, int sensor, const cc_scene_options *so, const cc_grid *g,
                             cc_scene **s, cc_ingest_window *win, cc_status *st)
{
    *win = (cc_ingest_window){0, 0, g->width, g->height};
    *st = CC_OK;
    if (sensor == CC_SENSOR_S2) {
        if ((*st = open_s2(path, so, s)) != CC_OK)
            return -1;
        return cc_ingest_window_enabled() ? s2_footprint(*s, g, win) : -1;
    }
    if (sensor != CC_SENSOR_LANDSAT || !cc_ingest_window_enabled())
        return -1;
    double gt[6];
    int w, h, f = -1;
    char *wkt = NULL;
    if (cc_landsat_footprint(path, gt, &w, &h, &wkt) == CC_OK)
        f = cc_ingest_footprint(gt, w, h, wkt, g, 2, win);
    else
        cc_error_clear(); /* the reader says what is wrong */
    free(wkt);
    return f;
}

cc_status cc_ingest_product(const char *path, int sensor, const cc_scene_options *so, const cc_grid *full,
                            const char *tile, const char *dir)
{
    cc_scene *scene = NULL;
    cc_ingest_window win;
    cc_status st;
    const int fp = product_footprint(path, sensor, so, full, &scene, &win, &st);
    if (st != CC_OK)
        return st;
    if (fp == 0) { /* never an all-fill date in a cube */
        cc_scene_free(scene);
        return cc_error_set(CC_ERR_NODATA, "%s: no valid pixel on the tile grid (the product does not overlap it)",
                            path);
    }
    /* the reader works on the product's window of the grid (issue 17: memory
     * follows the product's footprint, not the grid) */
    cc_grid gw, *g = &gw;
    cc_ingest_subgrid(full, &win, &gw);
    size_t npix = cc_grid_npix(g);
    /* the working set, checked before anything is allocated (issue 17): the
     * window's values (10 floats), mask and one band plane, the DN planes of
     * the cube writer (11 uint16) and its chunk caches: 100 bytes per window
     * pixel measured at the peak (docs/benchmarks.md) */
    char what[160];
    snprintf(what, sizeof what, "ingesting a %d x %d window of a %d x %d grid", g->width, g->height, full->width,
             full->height);
    if (cc_mem_check(cc_ingest_window_bytes(full, &win, 100), path, what) != CC_OK) {
        cc_scene_free(scene);
        return CC_ERR_NOMEM;
    }
    cc_debug("%s: %s (+%d+%d)", path, what, win.x0, win.y0);
    float *refl = cc_malloc3(npix, CC_CL_NBANDS, sizeof(float));
    uint8_t *mask = cc_malloc3(npix, 1, 1);
    float *vh = NULL;
    long day = 0;
    st = CC_ERR_NOMEM;
    if (!refl || !mask) {
        cc_error_set(CC_ERR_NOMEM, "%s: out of memory for a %dx%d grid", path, g->width, g->height);
        goto out;
    }
    const uint8_t *m = mask;
    switch (sensor) {
    case CC_SENSOR_S2:
        day = cc_date_to_days(scene->year, scene->month, scene->day);
        st = read_s2(path, scene, g, refl, mask);
        break;
    case CC_SENSOR_LANDSAT: {
        cc_landsat_info li;
        /* HLS-adjusted to S2A's bands; pixels that are not clear are kept (the mask says so) */
        st = cc_landsat_read(path, g, CC_SC_S2A, CC_LANDSAT_KEEP_NOT_CLEAR, refl, mask, &li);
        day = li.day;
        if (st == CC_OK && li.n_observed == 0)
            st = cc_error_set(CC_ERR_NODATA, "%s: the scene does not overlap the tile grid", path);
        /* the reader's clear flag -> mask classes */
        for (size_t p = 0; st == CC_OK && p < npix; p++)
            mask[p] = mask[p] ? CC_CM_CLEAR : isfinite(refl[p * CC_CL_NBANDS + 2]) ? CC_CM_CLOUD : CC_CM_NODATA;
        break;
    }
    case CC_SENSOR_OLCI: {
        cc_olci_info oi;
        st = cc_olci_read(path, g, refl, &oi);
        day = oi.day;
        m = NULL; /* no OLCI cloud mask yet: every valid pixel is an observation (docs/cloudless-model.md) */
        break;
    }
    case CC_SENSOR_S1: {
        cc_s1_info si;
        float *vv = refl; /* reuse: [npix] VV, then interleave */
        if (!(vh = cc_malloc3(npix, 1, sizeof(float)))) {
            st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        st = cc_s1_read(path, g, vv, vh, &si);
        day = si.day;
        if (st == CC_OK) { /* [npix] VV + [npix] VH -> [npix][2], back to front */
            float *tmp = cc_malloc3(npix, 2, sizeof(float));
            if (!tmp) {
                st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            for (size_t p = 0; p < npix; p++)
                tmp[2 * p] = vv[p], tmp[2 * p + 1] = vh[p];
            memcpy(refl, tmp, npix * 2 * sizeof(float));
            free(tmp);
        }
        m = NULL;
        break;
    }
    default: st = cc_error_set(CC_ERR_ARG, "%s: unknown sensor", path);
    }
    if (st != CC_OK)
        goto out;
    {
        size_t nv = (size_t)(sensor == CC_SENSOR_S1 ? CC_CL_NS1 : CC_CL_NBANDS) * npix, k = 0;
        while (k < nv && !isfinite(refl[k]))
            k++;
        if (k == nv) { /* never an all-fill date in a cube */
            st = cc_error_set(CC_ERR_NODATA, "%s: no valid pixel on the tile grid (the product does not overlap it)",
                              path);
            goto out;
        }
    }
    cc_cube_sensor_args ca = {.dir = dir, .tile = tile, .sensor = (cc_sensor)sensor, .width = full->width,
                              .height = full->height, .wkt = full->wkt, .ndates = 1, .days = &day, .values = refl,
                              .mask = m, .inputs = path, .x0 = win.x0, .y0 = win.y0, .win_width = g->width,
                              .win_height = g->height};
    memcpy(ca.gt, full->gt, sizeof ca.gt);
    st = cc_cube_write_sensor(&ca);
    if (st == CC_OK) {
        char date[CC_DATE_ISO_SIZE], cube[4096];
        cc_date_format(day, date);
        cc_cube_sensor_path(cube, sizeof cube, dir, tile, (cc_sensor)sensor);
        cc_info("%s -> %s (%s)", path, cube, date);
    }
out:
    free(refl);
    free(mask);
    free(vh);
    cc_scene_free(scene);
    return st;
}

void cc_ingest_grid_free(cc_ingest_grid *og)
{
    free(og->wkt);
    memset(og, 0, sizeof *og);
}

cc_status cc_ingest_out_dir(const char *dir)
{
    return cc_fs_mkdir_p(dir, 0777); /* with its parents */
}
