#include "io/grid/grid.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cpl_conv.h>
#include <cpl_string.h>
#include <gdal.h>
#include <gdal_utils.h>

#include "core/alloc.h"

cc_status cc_grid_for_scene(const cc_scene *s, double resolution, cc_grid *g)
{
    int fb = cc_scene_finest_band(s);
    if (fb < 0)
        return cc_error_set(CC_ERR_MISSING, "%s: no band present", s->product_id);
    const cc_raster_u16 *r = &s->band[fb];
    double res = resolution > 0 ? resolution : r->gt[1];
    double x0 = r->gt[0], y0 = r->gt[3];
    double x1 = x0 + r->width * r->gt[1], y1 = y0 + r->height * r->gt[5];
    memset(g, 0, sizeof *g);
    /* keep the origin, snap the far edge outward to whole pixels */
    g->width = (int)ceil((x1 - x0) / res - 1e-9);
    g->height = (int)ceil((y0 - y1) / res - 1e-9);
    g->gt[0] = x0;
    g->gt[1] = res;
    g->gt[3] = y0;
    g->gt[5] = -res;
    g->wkt = s->wkt;
    if (g->width <= 0 || g->height <= 0)
        return cc_error_set(CC_ERR_FORMAT, "%s: empty band grid", s->product_id);
    return CC_OK;
}

int cc_grid_same_gt(const double a[6], const double b[6])
{
    for (int i = 0; i < 6; i++)
        if (fabs(a[i] - b[i]) > 1e-6 * (fabs(a[i]) > 1 ? fabs(a[i]) : 1))
            return 0;
    return 1;
}

static int same_grid(const cc_raster_u16 *src, const cc_grid *g)
{
    if (src->width != g->width || src->height != g->height)
        return 0;
    for (int i = 0; i < 6; i++)
        if (fabs(src->gt[i] - g->gt[i]) > 1e-6)
            return 0;
    return 1;
}

/* A MEM dataset holding a copy of `data` (or uninitialised when data is NULL).
 * A copy rather than a DATAPOINTER view: GDAL >= 3.10 refuses MEM::: open
 * strings by default. */
static GDALDatasetH mem_dataset(const void *data, GDALDataType type, int w, int h,
                                const double gt[6], const char *wkt)
{
    GDALDriverH drv = GDALGetDriverByName("MEM");
    if (!drv)
        return NULL;
    GDALDatasetH ds = GDALCreate(drv, "", w, h, 1, type, NULL);
    if (!ds)
        return NULL;
    GDALSetGeoTransform(ds, (double *)gt);
    if (wkt)
        GDALSetProjection(ds, wkt);
    if (data && GDALRasterIO(GDALGetRasterBand(ds, 1), GF_Write, 0, 0, w, h, (void *)data, w, h,
                             type, 0, 0) != CE_None) {
        GDALClose(ds);
        return NULL;
    }
    return ds;
}

cc_status cc_grid_warp(void *src, const char *src_name, const cc_grid *g, const char *method, const char *src_nodata,
                       int tps, float *out)
{
    cc_status st = cc_error_set(CC_ERR_INTERNAL, "%s: warp failed", src_name);
    GDALDatasetH dst = NULL;
    GDALWarpAppOptions *wo = NULL;
    char **argv = NULL;
    dst = mem_dataset(NULL, GDT_Float32, g->width, g->height, g->gt, g->wkt);
    if (!dst)
        goto out;
    GDALSetRasterNoDataValue(GDALGetRasterBand(dst, 1), NAN);
    GDALFillRaster(GDALGetRasterBand(dst, 1), NAN, 0);
    argv = CSLAddString(argv, "-r");
    argv = CSLAddString(argv, method);
    if (src_nodata) {
        argv = CSLAddString(argv, "-srcnodata");
        argv = CSLAddString(argv, src_nodata);
    }
    argv = CSLAddString(argv, "-dstnodata");
    argv = CSLAddString(argv, "nan");
    argv = CSLAddString(argv, "-wo");
    argv = CSLAddString(argv, "INIT_DEST=NO_DATA");
    argv = CSLAddString(argv, "-q");
    if (tps)
        argv = CSLAddString(argv, "-tps");
    wo = GDALWarpAppOptionsNew(argv, NULL);
    if (!wo)
        goto out;
    int usage_error = 0;
    CPLErrorReset();
    GDALDatasetH res = GDALWarp(NULL, dst, 1, &src, wo, &usage_error);
    if (!res || usage_error) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: cannot resample onto the output grid: %s", src_name,
                          CPLGetLastErrorMsg());
        goto out;
    }
    if (GDALRasterIO(GDALGetRasterBand(dst, 1), GF_Read, 0, 0, g->width, g->height, out, g->width,
                     g->height, GDT_Float32, 0, 0) != CE_None) {
        st = cc_error_set(CC_ERR_INTERNAL, "%s: cannot read the resampled band", src_name);
        goto out;
    }
    st = CC_OK;
out:
    if (wo)
        GDALWarpAppOptionsFree(wo);
    CSLDestroy(argv);
    if (dst)
        GDALClose(dst);
    return st;
}

cc_status cc_grid_warp_float(const float *src, int w, int h, const double gt[6], const char *wkt, const cc_grid *g,
                             const char *method, const char *name, float *out)
{
    GDALDatasetH ds = mem_dataset(src, GDT_Float32, w, h, gt, wkt);
    if (!ds)
        return cc_error_set(CC_ERR_INTERNAL, "%s: cannot wrap the raster in memory", name);
    GDALSetRasterNoDataValue(GDALGetRasterBand(ds, 1), NAN);
    cc_status st = cc_grid_warp(ds, name, g, method, "nan", 0, out);
    GDALClose(ds);
    return st;
}

/* A band left in its file (cc_scene_options.defer_bands: dn NULL, source set)
 * onto g: when g is the band's own grid coarsened by an integer factor (same
 * upper-left corner), one decimated read with averaging, which lets GDAL use
 * the file's overviews (the reduced resolution levels of JPEG 2000); else
 * GDAL's warper on the file. */
static cc_status resample_from_file(const cc_raster_u16 *src, const cc_grid *g, float *out)
{
    size_t n = cc_grid_npix(g);
    GDALDatasetH ds = GDALOpen(src->source, GA_ReadOnly);
    if (!ds)
        return cc_error_set(CC_ERR_IO, "%s: cannot open raster: %s", src->source, CPLGetLastErrorMsg());
    cc_status st = CC_OK;
    double f = g->gt[1] / src->gt[1];
    long fi = lround(f);
    int aligned = fi >= 1 && fabs(f - fi) < 1e-9 && fabs(g->gt[5] / src->gt[5] - fi) < 1e-9 &&
                  fabs(src->gt[0] - g->gt[0]) < 1e-6 * g->gt[1] && fabs(src->gt[3] - g->gt[3]) < 1e-6 * g->gt[1] &&
                  (long)g->width * fi <= GDALGetRasterXSize(ds) && (long)g->height * fi <= GDALGetRasterYSize(ds);
    if (aligned) {
        GDALRasterIOExtraArg ex;
        INIT_RASTERIO_EXTRA_ARG(ex);
        ex.eResampleAlg = GRIORA_Average;
        if (GDALRasterIOEx(GDALGetRasterBand(ds, 1), GF_Read, 0, 0, (int)(g->width * fi), (int)(g->height * fi), out,
                           g->width, g->height, GDT_Float32, 0, 0, &ex) != CE_None)
            st = cc_error_set(CC_ERR_IO, "%s: cannot read: %s", src->source, CPLGetLastErrorMsg());
    } else {
        st = cc_grid_warp(ds, src->source, g, src->gt[1] > g->gt[1] + 1e-9 ? "bilinear" : "average", "0", 0, out);
    }
    GDALClose(ds);
    for (size_t i = 0; st == CC_OK && i < n; i++)
        if (isnan(out[i]))
            out[i] = 0.0f;
    return st;
}

cc_status cc_grid_resample_band(const cc_raster_u16 *src, const char *src_wkt, const cc_grid *g,
                                float *out)
{
    size_t n = cc_grid_npix(g);
    if (!src->dn && src->source)
        return resample_from_file(src, g, out);
    if (same_grid(src, g)) {
        for (size_t i = 0; i < n; i++)
            out[i] = (float)src->dn[i];
        return CC_OK;
    }
    GDALDatasetH ds = mem_dataset(src->dn, GDT_UInt16, src->width, src->height, src->gt, src_wkt);
    if (!ds)
        return cc_error_set(CC_ERR_INTERNAL, "%s: cannot wrap band in memory", src->source);
    const char *method = src->gt[1] > g->gt[1] + 1e-9 ? "bilinear" : "average";
    cc_status st = cc_grid_warp(ds, src->source ? src->source : "band", g, method, "0", 0, out);
    GDALClose(ds);
    if (st != CC_OK)
        return st;
    for (size_t i = 0; i < n; i++)
        if (isnan(out[i]))
            out[i] = 0.0f;
    return CC_OK;
}

cc_status cc_grid_read_raster(const char *path, const cc_grid *g, float *out)
{
    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    if (!ds)
        return cc_error_set(CC_ERR_IO, "%s: cannot open raster: %s", path, CPLGetLastErrorMsg());
    cc_status st;
    const char *wkt = GDALGetProjectionRef(ds);
    if (!wkt || !*wkt) {
        st = cc_error_set(CC_ERR_CRS, "%s: raster has no coordinate reference system", path);
        goto out;
    }
    st = cc_grid_warp(ds, path, g, "bilinear", NULL, 0, out);
out:
    GDALClose(ds);
    return st;
}

int cc_grid_raster_factor(const cc_raster_u16 *r, const cc_grid *g)
{
    double f = r->gt[1] / g->gt[1];
    int fi = (int)lround(f);
    if (fi < 1 || fabs(f - fi) > 1e-9 || fabs(r->gt[5] / g->gt[5] - fi) > 1e-9)
        return 0;
    if (fabs(r->gt[0] - g->gt[0]) > 1e-6 * fabs(g->gt[1]) || fabs(r->gt[3] - g->gt[3]) > 1e-6 * fabs(g->gt[1]))
        return 0;
    if ((long)r->width * fi < g->width || (long)r->height * fi < g->height)
        return 0; /* the coarse raster must cover the fine grid */
    return fi;
}
