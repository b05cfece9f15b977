/* The openEO-style NetCDF series the ingest tests write (SIMULATED): dims
 * time, y, x; "time" in days since 2020-03-01; pixel-centre y/x of a 10 m
 * grid at (400000, 5600000) in UTM 31N (EPSG:32631) given by a
 * "spatial_ref" variable's crs_wkt. Header-only. */
#ifndef CC_TESTS_NETCDF_SERIES_FIXTURE_H
#define CC_TESTS_NETCDF_SERIES_FIXTURE_H

#include <stdlib.h>
#include <string.h>

#include <cpl_conv.h>
#include <netcdf.h>
#include <ogr_srs_api.h>

typedef struct {
    int nc, vt, vy, vx;
    int dims[3]; /* time, y, x: the dimensions of a band variable */
    int nt, ny, nx;
} series_file;

/* Creates path (clobbered) in define mode with the dimensions, coordinates
 * and grid mapping; the caller defines its bands (dims f->dims, attribute
 * grid_mapping = "spatial_ref"), then calls series_coords. */
static inline void series_begin(series_file *f, const char *path, int nt, int ny, int nx)
{
    f->nt = nt, f->ny = ny, f->nx = nx;
    int dt, dy, dx, vc;
    nc_create(path, NC_NETCDF4 | NC_CLOBBER, &f->nc);
    nc_def_dim(f->nc, "time", (size_t)nt, &dt);
    nc_def_dim(f->nc, "y", (size_t)ny, &dy);
    nc_def_dim(f->nc, "x", (size_t)nx, &dx);
    nc_def_var(f->nc, "time", NC_DOUBLE, 1, &dt, &f->vt);
    const char *units = "days since 2020-03-01 00:00:00";
    nc_put_att_text(f->nc, f->vt, "units", strlen(units), units);
    nc_def_var(f->nc, "y", NC_DOUBLE, 1, &dy, &f->vy);
    nc_def_var(f->nc, "x", NC_DOUBLE, 1, &dx, &f->vx);
    nc_def_var(f->nc, "spatial_ref", NC_INT, 0, NULL, &vc);
    OGRSpatialReferenceH s = OSRNewSpatialReference(NULL);
    char *wkt = NULL;
    OSRImportFromEPSG(s, 32631);
    OSRExportToWkt(s, &wkt);
    nc_put_att_text(f->nc, vc, "crs_wkt", strlen(wkt), wkt);
    CPLFree(wkt);
    OSRDestroySpatialReference(s);
    f->dims[0] = dt, f->dims[1] = dy, f->dims[2] = dx;
}

/* Leaves define mode and writes the times t[nt] and the pixel centres. */
static inline void series_coords(series_file *f, const double *t)
{
    nc_enddef(f->nc);
    double *y = malloc(((size_t)f->ny + 1) * sizeof *y), *x = malloc(((size_t)f->nx + 1) * sizeof *x);
    for (int i = 0; y && i < f->ny; i++)
        y[i] = 5600000 - 5 - 10.0 * i;
    for (int i = 0; x && i < f->nx; i++)
        x[i] = 400005 + 10.0 * i;
    nc_put_var_double(f->nc, f->vt, t);
    if (y)
        nc_put_var_double(f->nc, f->vy, y);
    if (x)
        nc_put_var_double(f->nc, f->vx, x);
    free(y);
    free(x);
}

#endif
