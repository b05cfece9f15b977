/* clearcube: a north-up output grid and GDAL-based resampling onto it. */
#ifndef CC_IO_GRID_GRID_H
#define CC_IO_GRID_GRID_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "io/s2/scene.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int width, height;
    double gt[6];       /* GDAL geotransform, north-up (gt[2] == gt[4] == 0) */
    const char *wkt;    /* CRS; borrowed */
} cc_grid;

static inline size_t cc_grid_npix(const cc_grid *g) { return (size_t)g->width * (size_t)g->height; }
/* Map coordinates of the centre of pixel (col, row). */
static inline void cc_grid_xy(const cc_grid *g, int col, int row, double *x, double *y)
{
    *x = g->gt[0] + (col + 0.5) * g->gt[1];
    *y = g->gt[3] + (row + 0.5) * g->gt[5];
}

/* 1 if two geotransforms agree to 1e-6 relative (1e-6 absolute for terms
 * below 1): the files of one product, or of one series, share a grid. */
int cc_grid_same_gt(const double a[6], const double b[6]);

/* The scene's output grid at `resolution` metres (0 = the finest band
 * present): the extent of the finest band, snapped outward to the resolution.
 * Fails with CC_ERR_MISSING if the scene has no band. */
cc_status cc_grid_for_scene(const cc_scene *s, double resolution, cc_grid *g);

/* f when raster r is grid g (1) or an integer multiple f of it with the same
 * upper-left corner that covers g (each r pixel is f x f g pixels); 0 otherwise
 * (the raster must then be resampled). */
int cc_grid_raster_factor(const cc_raster_u16 *r, const cc_grid *g);

/* Resamples a band's DN raster onto grid g with GDAL's warper (bilinear when
 * upsampling, average when downsampling, a plain copy when the grids are
 * identical). DN 0 is nodata on both sides and never blends into valid
 * pixels. `out` receives width*height floats: the DN (not reflectance), or
 * 0 for nodata. A band left in its file (dn NULL, source set: the scene's
 * defer_bands) is read from there; onto a grid that is its own coarsened by
 * an integer factor, with one averaging read that uses the file's overviews. */
cc_status cc_grid_resample_band(const cc_raster_u16 *src, const char *src_wkt, const cc_grid *g,
                                float *out);

/* Warps band 1 of the GDAL dataset src (a GDALDatasetH) onto g with GDAL's
 * warper: resampling `method` (gdalwarp -r), source nodata `src_nodata`
 * (NULL: the dataset's own), tps != 0: a thin-plate spline through the
 * dataset's GCPs. `out` receives width*height floats, NaN where nothing maps.
 * Errors name `src_name`. */
cc_status cc_grid_warp(void *src, const char *src_name, const cc_grid *g, const char *method, const char *src_nodata,
                       int tps, float *out);
/* The same for a float raster in memory (w x h, geotransform gt, CRS wkt;
 * NaN = nodata). */
cc_status cc_grid_warp_float(const float *src, int w, int h, const double gt[6], const char *wkt, const cc_grid *g,
                             const char *method, const char *name, float *out);

/* Reads band 1 of any GDAL raster (e.g. a DEM) warped bilinearly onto g, as
 * float; pixels outside the raster or nodata become NaN. */
cc_status cc_grid_read_raster(const char *path, const cc_grid *g, float *out);

#ifdef __cplusplus
}
#endif
#endif
