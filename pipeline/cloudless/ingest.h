/* clearcube: ingest (`clearcube ingest`): a product of any Cloudless sensor, read
 * by the reader of its sensor (Sentinel-2 L2A, Landsat, Sentinel-3 OLCI,
 * Sentinel-1), resampled onto the Sentinel-2 tile grid with GDAL and appended as
 * one date of the tile's sensor cube DIR/<tile>_<sensor>.nc
 * (cloudless_product.h; docs/formats/cube.md, "Sensor cubes"); or every date
 * of an openEO/xarray NetCDF series (ingest_netcdf.c) onto the grid of the
 * series itself or of any raster. */
#ifndef CC_PIPELINE_CLOUDLESS_INGEST_H
#define CC_PIPELINE_CLOUDLESS_INGEST_H

#include "core/error.h"
#include "io/grid/grid.h"
#include "io/s2/scene.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The sensor (cc_sensor) of a product: a Sentinel-2 L2A SAFE folder or zip by
 * its product metadata whatever its name, the others by their names; -1 if
 * unknown. */
int cc_ingest_detect_sensor(const char *path);

/* A target grid with its own WKT (g.wkt points into wkt). */
typedef struct {
    cc_grid g;
    char *wkt;
} cc_ingest_grid;

/* The MGRS tile's grid (109.8 km) at res metres. */
cc_status cc_ingest_grid_tile(const char *tile, double res, cc_ingest_grid *og);
/* The grid of a GDAL raster or clearcube cube (north-up). */
cc_status cc_ingest_grid_raster(const char *path, cc_ingest_grid *og);
void cc_ingest_grid_free(cc_ingest_grid *og);

/* The folder of the sensor cubes, created if absent. */
cc_status cc_ingest_out_dir(const char *dir);

/* A window of a grid: columns [x0, x0+width), rows [y0, y0+height). */
typedef struct {
    int x0, y0, width, height;
} cc_ingest_window;

/* The window of grid g that a raster (geotransform gt, w x h pixels, CRS wkt)
 * covers: its extent transformed into g's CRS (edges densified), padded by
 * `pad` pixels for resampling (none for a raster on g's own pixel lattice:
 * same CRS and pixel size, a whole-pixel offset), clipped to g. 1: *win set; 0: the raster does
 * not reach g; -1: the extent cannot be transformed (*win is the whole grid). */
int cc_ingest_footprint(const double gt[6], int w, int h, const char *wkt, const cc_grid *g, int pad,
                        cc_ingest_window *win);
/* The sub-grid of g in win: the same pixel centres, shifted origin (gw->wkt = g->wkt). */
void cc_ingest_subgrid(const cc_grid *g, const cc_ingest_window *win, cc_grid *gw);
/* 0 when $CLEARCUBE_INGEST_WINDOW is "off" (every ingest reads the whole grid,
 * the former way; tests compare the two), else 1. */
int cc_ingest_window_enabled(void);
/* The working set of an ingest at per_pixel bytes a window pixel, with the
 * streaming appender's chunk caches when the window is smaller than g. */
unsigned long long cc_ingest_window_bytes(const cc_grid *g, const cc_ingest_window *win, double per_pixel);

/* Reads product `path` of `sensor` (scene options so for Sentinel-2 inputs
 * without SAFE metadata) onto grid g and appends it to dir/<tile>_<sensor>.nc.
 * A product that does not overlap the grid is an error (never an all-fill date).
 * Sentinel-2 and Landsat are read onto the window of g that they cover
 * (cc_ingest_footprint): memory follows the product's footprint, not the grid
 * (the cube gets fill outside the window; cc_cube_write_sensor). Sentinel-1
 * and OLCI are read onto the whole grid. */
cc_status cc_ingest_product(const char *path, int sensor, const cc_scene_options *so, const cc_grid *g,
                            const char *tile, const char *dir);

/* ---- openEO/xarray NetCDF series (docs/formats/netcdf-series.md) ---- */

/* 1 if path is to be read as a NetCDF series: a .nc file that is not a
 * Sentinel-3 OLCI product (which has its own reader). */
int cc_ingest_is_netcdf_series(const char *path);

/* The grid of a NetCDF series: its own pixel centres and CRS. */
cc_status cc_ingest_grid_netcdf(const char *path, cc_ingest_grid *og);

typedef struct {
    unsigned sensors;              /* 1 << cc_sensor of every sensor written   */
    int ndates[CC_SENSOR_COUNT];   /* dates of each (acquisitions of one day: one date) */
} cc_ingest_nc_stats;

/* Reads every band of the NetCDF series `path` that belongs to `sensor`
 * (-1: every sensor recognised from its variables and attributes:
 * Sentinel-2 L2A with SCL, Landsat 8/9 surface reflectance with QA, HLS-
 * adjusted to Sentinel-2A, Sentinel-1 VV/VH in dB), onto grid g, and adds
 * its dates to dir/<tile>_<sensor>.nc. A date already in a cube is merged:
 * the bands the file has replace the cube's, the others are kept (the 10 m
 * and 20 m files of one Sentinel-2 series fill one cube). All or nothing:
 * on failure no cube is changed. stats may be NULL. */
cc_status cc_ingest_netcdf(const char *path, int sensor, const cc_grid *g, const char *tile, const char *dir,
                           cc_ingest_nc_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
