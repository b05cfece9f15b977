/* clearcube: CF-1.8 NetCDF-4 datacubes, one per MGRS tile and product.
 *
 * Layout (docs/formats/cube.md): dims time (unlimited, "days since
 * 1970-01-01"), y, x; coordinate variables x, y (metres, projection_x/y_coordinate)
 * and time; one uint16 variable per layer with scale_factor, add_offset,
 * _FillValue, units, long_name, grid_mapping="spatial_ref"; a scalar
 * "spatial_ref" grid-mapping variable with crs_wkt, spatial_ref and
 * GeoTransform; chunked (1, <=512, <=512) and zlib-compressed; provenance as
 * global attributes.
 *
 * Crash safety: cc_cube_write never modifies the existing cube in place. It
 * writes the new state to "<path>.tmp-<pid>" (copying the existing dates),
 * fsyncs it and renames it over <path>. A process killed at any moment leaves
 * either the old cube or the new one, never a broken one; stale temporaries
 * from killed writers are removed by the next write.
 */
#ifndef CC_IO_CUBE_H
#define CC_IO_CUBE_H

#include <stdint.h>

#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *name;       /* variable name, e.g. "B02", "AOT"                 */
    const char *long_name;  /* e.g. "surface reflectance, band B02 (492 nm)"     */
    const char *units;      /* "1" for reflectance                                */
    const char *standard_name; /* CF standard name or NULL                       */
    double scale_factor;    /* physical = DN*scale_factor + add_offset          */
    double add_offset;
    uint16_t fill_value;    /* _FillValue (0 for clearcube DN convention)        */
    double wavelength_nm;   /* 0 if not applicable                                */
    const uint16_t *data;   /* width*height values on the cube grid, row-major  */
} cc_cube_layer;

typedef struct {
    const char *path;       /* output .nc                                         */
    const char *tile_id;    /* "32UMF"                                            */
    const char *product;    /* "reference-l2a", "boa", ...                        */
    const char *wkt;        /* CRS WKT (required)                                 */
    double gt[6];           /* GDAL geotransform of the grid (north-up)           */
    int width, height;
    int year, month, day;   /* date of this time step                            */
    int nlayers;
    const cc_cube_layer *layers;
    /* provenance (global attributes; NULL to omit) */
    const char *inputs;     /* input product(s)                                   */
    const char *processor;  /* e.g. "clearcube reference (SMAC)"                  */
    const char *parameters; /* e.g. "aot=0.12 (DDV) uh2o=1.3 (B9/B8A) ..."        */
} cc_cube_write_args;

/* Creates the cube, or adds the date to an existing one (replacing the slice
 * if that date is already present). An existing cube must have the same grid
 * (CRS, geotransform, size) and the same layer names, else CC_ERR_ARG and the
 * existing file is untouched. On any failure no new file is left behind. */
cc_status cc_cube_write(const cc_cube_write_args *a);

/* Small reader for tests and tools: the number of dates and their values
 * (days since 1970-01-01) in a cube. *days is malloc'd; caller frees. */
cc_status cc_cube_dates(const char *path, int *ndates, double **days);

/* Proleptic Gregorian date <-> days since 1970-01-01 (the cube's time axis). */
long cc_cube_days_from_date(int year, int month, int day);
void cc_cube_date_from_days(long days, int *year, int *month, int *day);

#ifdef __cplusplus
}
#endif
#endif
