/* clearcube: openEO/xarray-style NetCDF time series ("NetCDF series").
 *
 * The layout of the WorldCereal extractions and of openEO's NetCDF output
 * (docs/formats/netcdf-series.md): a time dimension named `t`, `time` or
 * `timestamp` whose coordinate variable holds numbers with CF units
 * ("seconds since 2017-08-04 10:53:28", "days since 1990-01-01") or date
 * strings ("2017-08-06", "2017-08-06T10:40:28Z"); then the y and x
 * dimensions with coordinate variables holding regularly spaced pixel centres
 * (y ascending or descending); one variable per band with dimensions
 * (time, y, x); the CRS as WKT in the variable that the bands' CF
 * `grid_mapping` attribute names, or else in a variable called `spatial_ref`
 * or `crs` (attribute `crs_wkt` or `spatial_ref`); each band's
 * `scale_factor`, `add_offset`, `_FillValue` and `_Unsigned`.
 *
 * Formats only: which sensor a band belongs to and what its values mean is
 * decided above (pipeline/cloudless/ingest_netcdf.c). A clearcube cube
 * (io/cube.h) is itself such a file, so the same reader reads them back.
 *
 * Not thread-safe (NetCDF-C is not): one thread per process uses it.
 */
#ifndef CC_IO_NETCDF_NCSERIES_H
#define CC_IO_NETCDF_NCSERIES_H

#include <stddef.h>

#include "core/error.h"

#define CC_NCS_NAME_CAP 257 /* NC_MAX_NAME + 1 */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    char name[CC_NCS_NAME_CAP]; /* the variable's name in the file            */
    int varid;
    int type;           /* nc_type                                         */
    int is_unsigned;    /* an unsigned type, or `_Unsigned = "true"`       */
    int has_scale;      /* scale_factor present                            */
    double scale, offset; /* physical = raw * scale + offset (1, 0 if absent) */
    int has_fill;
    double fill;        /* raw _FillValue (missing_value if no _FillValue) */
    char *units;        /* `units` attribute or NULL (owned)               */
} cc_ncs_var;

typedef struct {
    char *path;         /* owned copy of the path                          */
    int ncid;
    int width, height;
    double gt[6];       /* north-up geotransform (pixel corners)           */
    char *wkt;          /* CRS (owned)                                     */
    int y_ascending;    /* 1: the file's row 0 is the southernmost row     */
    int ntimes;
    double *epoch_s;    /* [ntimes] acquisition time, seconds since 1970-01-01 UTC */
    long *day;          /* [ntimes] its day, days since 1970-01-01         */
    int nvars;          /* the (time, y, x) variables, in file order       */
    cc_ncs_var *vars;
} cc_ncs;

/* Opens a NetCDF series and checks its layout: the time, y and x
 * dimensions and coordinates, the CRS, and the dimension order of every
 * three-dimensional variable. Errors name the file and the problem
 * (CC_ERR_IO cannot open, CC_ERR_FORMAT layout, CC_ERR_CRS no grid mapping).
 * On success free *out with cc_ncs_close. */
cc_status cc_ncs_open(const char *path, cc_ncs **out);
void cc_ncs_close(cc_ncs *s);

/* Index in s->vars of the variable called `name` (case-insensitive), -1 if
 * absent. */
int cc_ncs_find(const cc_ncs *s, const char *name);

/* Reads time index t of variable v as physical values (raw * scale +
 * offset), north row first, width*height floats; NaN for the fill value,
 * values outside valid_range/valid_min/valid_max and NaN in the file.
 * CC_ERR_FORMAT names the file, variable and time when NetCDF cannot read
 * it. */
cc_status cc_ncs_read(const cc_ncs *s, int v, int t, float *out);

/* A text attribute (NC_CHAR or NC_STRING) of variable varid (NC_GLOBAL for
 * the file's), malloc'd, NULL if absent; the caller frees. */
char *cc_ncs_text_att(int ncid, int varid, const char *name);

#ifdef __cplusplus
}
#endif
#endif
