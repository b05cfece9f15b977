/* Shared by the cube tests and the cube_writer helper: a deterministic DN
 * pattern (mirrored in check_cube_xarray.py), the test grid, and a NetCDF
 * checksum reader. Header-only, static functions. */
#ifndef CC_TESTS_CUBE_COMMON_H
#define CC_TESTS_CUBE_COMMON_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cpl_conv.h>
#include <netcdf.h>
#include <ogr_srs_api.h>

#include "core/alloc.h"
#include "core/date.h"
#include "io/cube.h"

#define CT_ORIGIN_X 580560.0
#define CT_ORIGIN_Y 5102120.0
#define CT_RES 10.0
#define CT_MAX_LAYERS 6

static const char *const ct_layer_names[CT_MAX_LAYERS] = {"B02", "B03", "B04",
                                                          "B08", "B11", "B12"};
static const double ct_wavelengths[CT_MAX_LAYERS] = {492.4, 559.8, 664.6,
                                                     832.8, 1613.7, 2202.4};

/* DN of layer l, pattern seed s at row r, column c of a w-wide grid; 0 (fill)
 * on a sparse diagonal lattice. */
static inline uint16_t ct_dn(int l, int s, long r, long c, long w)
{
    if ((r * 7 + c * 3 + s) % 101 == 0)
        return 0;
    uint64_t h = ((uint64_t)(r * w + c) * 2654435761u + (uint64_t)l * 40503u +
                  (uint64_t)s * 9973u) & 0xffffffffu;
    return (uint16_t)((h >> 16) % 10000u + 1u);
}

static inline uint16_t *ct_make_layer(int l, int s, int w, int h)
{
    uint16_t *d = cc_malloc3((size_t)w, (size_t)h, sizeof *d);
    if (!d)
        return NULL;
    for (long r = 0; r < h; r++)
        for (long c = 0; c < w; c++)
            d[r * w + c] = ct_dn(l, s, r, c, w);
    return d;
}

/* WKT of an EPSG code (CPLFree it). */
static inline char *ct_epsg_wkt(int epsg)
{
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
    char *wkt = NULL;
    if (OSRImportFromEPSG(srs, epsg) != OGRERR_NONE || OSRExportToWkt(srs, &wkt) != OGRERR_NONE)
        wkt = NULL;
    OSRDestroySpatialReference(srs);
    return wkt;
}

static inline void ct_layers(cc_cube_layer *L, int nlayers, uint16_t **data)
{
    memset(L, 0, (size_t)nlayers * sizeof *L);
    for (int i = 0; i < nlayers; i++) {
        L[i].name = ct_layer_names[i];
        L[i].long_name = "surface reflectance";
        L[i].units = "1";
        L[i].standard_name = "surface_bidirectional_reflectance";
        L[i].scale_factor = 1e-4;
        L[i].add_offset = -0.1;
        L[i].fill_value = 0;
        L[i].wavelength_nm = ct_wavelengths[i];
        L[i].data = data[i];
    }
}

static inline uint64_t ct_fnv(const void *p, size_t n, uint64_t h)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}

static inline uint64_t ct_pattern_sum(int l, int s, int w, int h)
{
    uint64_t x = 1469598103934665603ull;
    for (long r = 0; r < h; r++)
        for (long c = 0; c < w; c++) {
            uint16_t v = ct_dn(l, s, r, c, w);
            x = ct_fnv(&v, sizeof v, x);
        }
    return x;
}

/* Reads every date and a checksum of each (date, layer) slice of the first
 * nlayers test layers. Returns 0 on success; *ndates <= maxdates. */
static inline int ct_cube_sums(const char *path, int nlayers, int maxdates, int *ndates,
                               double *days, uint64_t sums[][CT_MAX_LAYERS])
{
    int ncid, dim, tv, ydim, xdim, rc = -1;
    size_t nt, h, w;
    uint16_t *buf = NULL;
    if (nc_open(path, NC_NOWRITE, &ncid) != NC_NOERR)
        return -1;
    if (nc_inq_dimid(ncid, "time", &dim) || nc_inq_dimlen(ncid, dim, &nt) ||
        nc_inq_dimid(ncid, "y", &ydim) || nc_inq_dimlen(ncid, ydim, &h) ||
        nc_inq_dimid(ncid, "x", &xdim) || nc_inq_dimlen(ncid, xdim, &w) ||
        nc_inq_varid(ncid, "time", &tv) || (int)nt > maxdates)
        goto out;
    if (nt && nc_get_var_double(ncid, tv, days))
        goto out;
    buf = malloc(h * w * sizeof *buf);
    if (!buf)
        goto out;
    for (size_t t = 0; t < nt; t++)
        for (int l = 0; l < nlayers; l++) {
            int v;
            size_t st[3] = {t, 0, 0}, cnt[3] = {1, h, w};
            if (nc_inq_varid(ncid, ct_layer_names[l], &v) ||
                nc_get_vara_ushort(ncid, v, st, cnt, buf))
                goto out;
            sums[t][l] = ct_fnv(buf, h * w * sizeof *buf, 1469598103934665603ull);
        }
    *ndates = (int)nt;
    rc = 0;
out:
    free(buf);
    nc_close(ncid);
    return rc;
}

/* Number of temporaries ("*.tmp-*": a writer's, core/fs.h) in dir. */
static inline int ct_count_temps(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".tmp-"))
            n++;
    if (d)
        closedir(d);
    return n;
}

#endif
