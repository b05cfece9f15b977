/* clearcube run: the regional mosaic, written collectively with parallel
 * NetCDF-4 (jobs/run/run-impl.h, docs/running.md, decision 0004).
 *
 * Grid: the union of the tile cubes' footprints transformed to the target CRS
 * (OCTTransformBounds), snapped outwards to multiples of the resolution. Time:
 * the union of the cubes' dates. Layers: the uint16 (time, y, x) variables of
 * the first cube (same names in every cube, as one product's cubes have).
 * Rank r computes rows [r*H/P, (r+1)*H/P): for every date and layer it warps
 * each overlapping tile's slice onto its rows (nearest neighbour, exact
 * transformation per pixel, so a pixel's value does not depend on the row
 * split) and keeps the first valid value in tile-name order; then every rank
 * calls nc_put_vara collectively (compressed variables need collective
 * access). The file is written under rank 0's temporary name and committed
 * by rank 0 (core/fs.h). */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <gdal.h>
#include <gdalwarper.h>
#include <netcdf.h>
#include <netcdf_par.h>
#include <ogr_srs_api.h>

#include "core/alloc.h"
#include "core/date.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/version.h"
#include "io/cube.h"
#include "jobs/run/run-impl.h"

typedef struct {
    char *wkt;
    double gt[6];
    size_t w, h, nt;
    double *days;
    double bounds[4]; /* xmin, ymin, xmax, ymax in the target CRS */
} tile_info;

typedef struct {
    char name[NC_MAX_NAME + 1];
    char long_name[256], units[64];
    double scale, offset;
    unsigned short fill;
} layer_info;


static cc_status read_tile(const char *path, OGRSpatialReferenceH dst, tile_info *t, layer_info **layers,
                           int *nlayers)
{
    cc_status st = CC_ERR_FORMAT;
    int ncid = -1, crs, tv, td, yd, xd;
    char *gts = NULL;
    OGRSpatialReferenceH src = NULL;
    OGRCoordinateTransformationH ct = NULL;
    int e = nc_open(path, NC_NOWRITE, &ncid);
    if (e != NC_NOERR)
        return cc_error_set(CC_ERR_IO, "%s: %s", path, nc_strerror(e));
    if (nc_inq_varid(ncid, "spatial_ref", &crs) || nc_inq_dimid(ncid, "time", &td) ||
        nc_inq_dimid(ncid, "y", &yd) || nc_inq_dimid(ncid, "x", &xd) || nc_inq_dimlen(ncid, td, &t->nt) ||
        nc_inq_dimlen(ncid, yd, &t->h) || nc_inq_dimlen(ncid, xd, &t->w) || nc_inq_varid(ncid, "time", &tv)) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: not a clearcube cube", path);
        goto out;
    }
    t->wkt = cc_cube_text_att(ncid, crs, "crs_wkt");
    gts = cc_cube_text_att(ncid, crs, "GeoTransform");
    t->days = malloc((t->nt ? t->nt : 1) * sizeof *t->days);
    if (!t->wkt || !gts || !t->days ||
        sscanf(gts, "%lf %lf %lf %lf %lf %lf", &t->gt[0], &t->gt[1], &t->gt[2], &t->gt[3], &t->gt[4],
               &t->gt[5]) != 6 ||
        nc_get_var_double(ncid, tv, t->days) != NC_NOERR) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: no CRS, geotransform or dates", path);
        goto out;
    }
    src = OSRNewSpatialReference(t->wkt);
    if (!src) {
        st = cc_error_set(CC_ERR_CRS, "%s: unreadable CRS", path);
        goto out;
    }
    OSRSetAxisMappingStrategy(src, OAMS_TRADITIONAL_GIS_ORDER);
    ct = OCTNewCoordinateTransformation(src, dst);
    double x0 = t->gt[0], y1 = t->gt[3], x1 = x0 + t->gt[1] * (double)t->w, y0 = y1 + t->gt[5] * (double)t->h;
    if (!ct || !OCTTransformBounds(ct, x0, y0, x1, y1, &t->bounds[0], &t->bounds[1], &t->bounds[2],
                                   &t->bounds[3], 21)) {
        st = cc_error_set(CC_ERR_CRS, "%s: footprint cannot be transformed to the mosaic CRS", path);
        goto out;
    }
    if (layers && !*layers) { /* the layer list, from the first cube */
        int nv;
        nc_inq_nvars(ncid, &nv);
        *layers = calloc((size_t)nv + 1, sizeof **layers);
        if (!*layers) {
            st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
            goto out;
        }
        for (int v = 0; v < nv; v++) {
            int nd, dims[NC_MAX_VAR_DIMS];
            nc_type ty;
            layer_info *L = &(*layers)[*nlayers];
            if (nc_inq_var(ncid, v, L->name, &ty, &nd, dims, NULL) || nd != 3 || ty != NC_USHORT ||
                dims[0] != td)
                continue;
            char *s = cc_cube_text_att(ncid, v, "long_name");
            if (snprintf(L->long_name, sizeof L->long_name, "%s", s ? s : L->name) < 0)
                L->long_name[0] = 0;
            free(s);
            s = cc_cube_text_att(ncid, v, "units");
            if (snprintf(L->units, sizeof L->units, "%s", s ? s : "1") < 0)
                L->units[0] = 0;
            free(s);
            L->scale = 1;
            L->offset = 0;
            nc_get_att_double(ncid, v, "scale_factor", &L->scale);
            nc_get_att_double(ncid, v, "add_offset", &L->offset);
            int nofill = 0;
            nc_inq_var_fill(ncid, v, &nofill, &L->fill);
            (*nlayers)++;
        }
    }
    st = CC_OK;
out:
    if (ct)
        OCTDestroyCoordinateTransformation(ct);
    if (src)
        OSRDestroySpatialReference(src);
    free(gts);
    nc_close(ncid);
    return st;
}

/* Warps one slice (date index k of layer L of cube `path`) onto the block
 * [row0, row0+nrows) of the mosaic grid; fills `out` where it is still fill. */
static cc_status warp_into(const char *path, const tile_info *t, const layer_info *L, size_t k,
                           const char *dst_wkt, const double *mgt, int W, int row0, int nrows,
                           uint16_t *out)
{
    cc_status st = CC_ERR_IO;
    int ncid = -1, v;
    uint16_t *slice = cc_malloc3(t->w, t->h, sizeof *slice);
    uint16_t *blk = cc_malloc3((size_t)W, (size_t)nrows, sizeof *blk);
    GDALDatasetH src = NULL, dst = NULL;
    GDALDriverH mem = GDALGetDriverByName("MEM");
    if (!slice || !blk || !mem) {
        st = cc_error_set(CC_ERR_NOMEM, "mosaic: out of memory");
        goto out;
    }
    size_t start[3] = {k, 0, 0}, count[3] = {1, t->h, t->w};
    if (nc_open(path, NC_NOWRITE, &ncid) != NC_NOERR || nc_inq_varid(ncid, L->name, &v) != NC_NOERR ||
        nc_get_vara_ushort(ncid, v, start, count, slice) != NC_NOERR) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: cannot read %s", path, L->name);
        goto out;
    }
    src = GDALCreate(mem, "", (int)t->w, (int)t->h, 1, GDT_UInt16, NULL);
    dst = GDALCreate(mem, "", W, nrows, 1, GDT_UInt16, NULL);
    if (!src || !dst) {
        st = cc_error_set(CC_ERR_NOMEM, "mosaic: cannot create MEM datasets");
        goto out;
    }
    double bgt[6] = {mgt[0], mgt[1], 0, mgt[3] + row0 * mgt[5], 0, mgt[5]};
    GDALSetGeoTransform(src, (double *)t->gt);
    GDALSetProjection(src, t->wkt);
    GDALSetGeoTransform(dst, bgt);
    GDALSetProjection(dst, dst_wkt);
    GDALRasterBandH sb = GDALGetRasterBand(src, 1), db = GDALGetRasterBand(dst, 1);
    GDALSetRasterNoDataValue(sb, L->fill);
    GDALSetRasterNoDataValue(db, L->fill);
    GDALFillRaster(db, L->fill, 0);
    if (GDALRasterIO(sb, GF_Write, 0, 0, (int)t->w, (int)t->h, slice, (int)t->w, (int)t->h, GDT_UInt16, 0,
                     0) != CE_None ||
        GDALReprojectImage(src, t->wkt, dst, dst_wkt, GRA_NearestNeighbour, 0, 0.0 /* exact */, NULL,
                           NULL, NULL) != CE_None ||
        GDALRasterIO(db, GF_Read, 0, 0, W, nrows, blk, W, nrows, GDT_UInt16, 0, 0) != CE_None) {
        st = cc_error_set(CC_ERR_IO, "%s: warping %s onto the mosaic failed", path, L->name);
        goto out;
    }
    for (size_t i = 0; i < (size_t)W * (size_t)nrows; i++)
        if (out[i] == L->fill && blk[i] != L->fill)
            out[i] = blk[i];
    st = CC_OK;
out:
    if (src)
        GDALClose(src);
    if (dst)
        GDALClose(dst);
    if (ncid >= 0)
        nc_close(ncid);
    free(slice);
    free(blk);
    return st;
}

static int put_str(int ncid, int var, const char *name, const char *s)
{
    return nc_put_att_text(ncid, var, name, strlen(s), s);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Every rank passes its local status; all get CC_OK only if all are OK. */
static int all_ok(MPI_Comm comm, cc_status st)
{
    int ok = st == CC_OK, all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm);
    return all;
}

/* A failed NetCDF call on the mosaic's temporary: the file system's cause
 * when it has one (a full disk reaches NetCDF-4 as "HDF error"), else
 * NetCDF's message. */
static cc_status mos_fail(const char *tmp, const char *call, int e)
{
    char what[64];
    snprintf(what, sizeof what, "%.*s", (int)strcspn(call, "("), call);
    if (cc_fs_write_explain(tmp, e > 0 ? e : 0, what) != CC_OK)
        return CC_ERR_IO;
    return cc_error_set(CC_ERR_IO, "%s: %s: %s", tmp, what, nc_strerror(e));
}

#define NCP(call)                                                                       \
    do {                                                                                \
        int e_ = (call);                                                                \
        if (e_ != NC_NOERR && st == CC_OK)                                              \
            st = mos_fail(tmp, #call, e_);                                              \
    } while (0)

/* The mosaic's grid: the union of the cubes' dates (sorted, unique) and of their
 * footprints, snapped outwards to multiples of the resolution. The same on every
 * rank (every rank read the same headers). */
typedef struct {
    double *days;
    size_t ndays;
    int W, H;
    double gt[6];
} mosaic_grid;

static cc_status mosaic_grid_of(const tile_info *tiles, int ncubes, double res, mosaic_grid *g)
{
    size_t ndays = 0, cap = 0;
    double ext[4] = {INFINITY, INFINITY, -INFINITY, -INFINITY};
    for (int i = 0; i < ncubes; i++)
        cap += tiles[i].nt;
    double *days = g->days = malloc((cap ? cap : 1) * sizeof *days);
    if (!days)
        return cc_error_set(CC_ERR_NOMEM, "mosaic: out of memory");
    for (int i = 0; i < ncubes; i++) {
        for (size_t k = 0; k < tiles[i].nt; k++)
            days[ndays++] = tiles[i].days[k];
        ext[0] = fmin(ext[0], tiles[i].bounds[0]);
        ext[1] = fmin(ext[1], tiles[i].bounds[1]);
        ext[2] = fmax(ext[2], tiles[i].bounds[2]);
        ext[3] = fmax(ext[3], tiles[i].bounds[3]);
    }
    qsort(days, ndays, sizeof *days, cmp_double);
    size_t u = 0;
    for (size_t k = 0; k < ndays; k++)
        if (u == 0 || days[k] != days[u - 1])
            days[u++] = days[k];
    g->ndays = u;
    double x0 = floor(ext[0] / res) * res, y1 = ceil(ext[3] / res) * res;
    double wd = ceil(ext[2] / res) - floor(ext[0] / res), hd = ceil(ext[3] / res) - floor(ext[1] / res);
    if (!(wd >= 1 && hd >= 1 && wd * hd < 4e10))
        return cc_error_set(CC_ERR_ARG, "mosaic: a %.0f x %.0f grid at %g m is not sensible", wd, hd, res);
    g->W = (int)wd;
    g->H = (int)hd;
    double gt[6] = {x0, res, 0, y1, 0, -res};
    memcpy(g->gt, gt, sizeof gt);
    return CC_OK;
}

/* The global attributes. The NCP calls below run whatever `st` is (every rank
 * must make the same define calls); `st` keeps the first error. */
static cc_status put_globals(int ncid, const char *tmp, const char *crs, double res, int ncubes,
                             int64_t submitted, cc_status st)
{
    char created[CC_DATE_STAMP_SIZE], title[128];
    cc_date_stamp((time_t)submitted, created, sizeof created);
    snprintf(title, sizeof title, "clearcube %s regional mosaic (%s, %g m)", CC_VERSION, crs, res);
    static const char rule[] = "nearest neighbour; first valid pixel in tile-name order wins";
    NCP(put_str(ncid, NC_GLOBAL, "Conventions", "CF-1.8"));
    NCP(put_str(ncid, NC_GLOBAL, "title", title));
    NCP(put_str(ncid, NC_GLOBAL, "date_created", created));
    NCP(put_str(ncid, NC_GLOBAL, "mosaic_rule", rule));
    NCP(nc_put_att_int(ncid, NC_GLOBAL, "tile_count", NC_INT, 1, &ncubes));
    return st;
}

/* The coordinates (x, y, time): rank 0 writes, the others take part in the
 * collective calls with empty counts. */
static cc_status put_coords(int ncid, const char *tmp, int rank, const mosaic_grid *g, double res, int tv,
                            int yv, int xv, cc_status st)
{
    int W = g->W, H = g->H;
    double *xs = malloc((size_t)W * sizeof *xs), *ys = malloc((size_t)H * sizeof *ys);
    if (!xs || !ys)
        st = cc_error_set(CC_ERR_NOMEM, "mosaic: out of memory");
    for (int i = 0; xs && i < W; i++)
        xs[i] = g->gt[0] + (i + 0.5) * res;
    for (int j = 0; ys && j < H; j++)
        ys[j] = g->gt[3] - (j + 0.5) * res;
    size_t z = 0, nw = rank == 0 ? (size_t)W : 0, nh = rank == 0 ? (size_t)H : 0,
           nd = rank == 0 ? g->ndays : 0;
    double dummy = 0;
    NCP(nc_put_vara_double(ncid, xv, &z, &nw, xs ? xs : &dummy));
    NCP(nc_put_vara_double(ncid, yv, &z, &nh, ys ? ys : &dummy));
    NCP(nc_put_vara_double(ncid, tv, &z, &nd, g->days));
    free(xs);
    free(ys);
    return st;
}

/* This rank's rows [row0, row1) of every date and layer: each overlapping
 * tile's slice warped in, then one collective nc_put_vara per (date, layer),
 * made by every rank even after an error (with an empty count). */
static cc_status put_layers(int ncid, const char *tmp, int rank, int size, const mosaic_grid *g, double res,
                            char **cubes, const tile_info *tiles, int ncubes, const layer_info *layers,
                            int nlayers, const int *lvar, const char *dst_wkt, cc_status st)
{
    int W = g->W, H = g->H;
    const double *mgt = g->gt, *days = g->days;
    int row0 = (int)((long long)H * rank / size), row1 = (int)((long long)H * (rank + 1) / size);
    int nrows = row1 - row0;
    uint16_t *block = cc_malloc3((size_t)W, (size_t)(nrows > 0 ? nrows : 1), sizeof *block);
    if (!block)
        st = cc_error_set(CC_ERR_NOMEM, "mosaic: out of memory");
    double by1 = mgt[3] - row0 * res, by0 = mgt[3] - row1 * res;
    for (size_t d = 0; d < g->ndays; d++)
        for (int l = 0; l < nlayers; l++) {
            for (size_t i = 0; block && i < (size_t)W * (size_t)(nrows > 0 ? nrows : 1); i++)
                block[i] = layers[l].fill;
            for (int c = 0; st == CC_OK && nrows > 0 && c < ncubes; c++) {
                const tile_info *t = &tiles[c];
                if (t->bounds[1] >= by1 || t->bounds[3] <= by0)
                    continue; /* not on this rank's rows */
                for (size_t k = 0; k < t->nt; k++)
                    if (t->days[k] == days[d])
                        st = warp_into(cubes[c], t, &layers[l], k, dst_wkt, mgt, W, row0, nrows, block);
            }
            size_t start[3] = {d, (size_t)row0, 0}, count[3] = {1, (size_t)nrows, (size_t)W};
            if (st != CC_OK)
                count[1] = 0; /* keep the collective calls matched */
            NCP(nc_put_vara_ushort(ncid, lvar[l], start, count, block));
        }
    free(block);
    return st;
}

cc_status cc_run_mosaic(MPI_Comm comm, const char *path, const char *crs, double res, char **cubes,
                        int ncubes, int64_t submitted)
{
    cc_status st = CC_OK;
    int rank, size, ncid = -1, nlayers = 0;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    tile_info *tiles = calloc((size_t)ncubes, sizeof *tiles);
    layer_info *layers = NULL;
    mosaic_grid g = {0};
    int *lvar = NULL;
    char *dst_wkt = NULL, tmp[4200] = "";
    /* one temporary for all ranks: rank 0's */
    if (rank == 0)
        st = cc_fs_temp_name(path, NULL, tmp, sizeof tmp);
    MPI_Bcast(tmp, (int)sizeof tmp, MPI_CHAR, 0, comm);
    if (!tmp[0] && st == CC_OK)
        st = cc_error_set(CC_ERR_ARG, "%s: path too long for a temporary name", path);
    OGRSpatialReferenceH dsrs = OSRNewSpatialReference(NULL);
    if (st == CC_OK && (!tiles || !dsrs || OSRSetFromUserInput(dsrs, crs) != OGRERR_NONE ||
                        OSRExportToWkt(dsrs, &dst_wkt) != OGRERR_NONE))
        st = cc_error_set(CC_ERR_CRS, "mosaic: unknown CRS '%s'", crs);
    if (st == CC_OK)
        OSRSetAxisMappingStrategy(dsrs, OAMS_TRADITIONAL_GIS_ORDER);
    /* every rank reads the headers (small) and derives the same grid */
    for (int i = 0; st == CC_OK && i < ncubes; i++)
        st = read_tile(cubes[i], dsrs, &tiles[i], &layers, &nlayers);
    if (st == CC_OK && nlayers == 0)
        st = cc_error_set(CC_ERR_FORMAT, "mosaic: the cubes have no layers");
    if (st == CC_OK)
        st = mosaic_grid_of(tiles, ncubes, res, &g);
    int W = g.W, H = g.H;
    const double *mgt = g.gt;
    if (!all_ok(comm, st)) {
        if (st == CC_OK)
            st = cc_error_set(CC_ERR_IO, "mosaic: failed on another rank");
        goto out;
    }
    /* define, identically on every rank */
    int e = nc_create_par(tmp, NC_NETCDF4 | NC_CLOBBER, comm, MPI_INFO_NULL, &ncid);
    if (e != NC_NOERR) {
        st = mos_fail(tmp, "nc_create_par", e);
        ncid = -1;
    }
    if (!all_ok(comm, st)) {
        if (st == CC_OK)
            st = cc_error_set(CC_ERR_IO, "mosaic: create failed on another rank");
        goto out;
    }
    int td, yd, xd, tv, yv, xv, cv;
    lvar = calloc((size_t)nlayers, sizeof *lvar);
    if (!lvar)
        st = cc_error_set(CC_ERR_NOMEM, "mosaic: out of memory");
    NCP(nc_def_dim(ncid, "time", g.ndays, &td));
    NCP(nc_def_dim(ncid, "y", (size_t)H, &yd));
    NCP(nc_def_dim(ncid, "x", (size_t)W, &xd));
    NCP(nc_def_var(ncid, "time", NC_DOUBLE, 1, &td, &tv));
    NCP(put_str(ncid, tv, "standard_name", "time"));
    NCP(put_str(ncid, tv, "units", CC_DATE_CF_UNITS));
    NCP(put_str(ncid, tv, "calendar", "standard"));
    NCP(put_str(ncid, tv, "axis", "T"));
    NCP(nc_def_var(ncid, "y", NC_DOUBLE, 1, &yd, &yv));
    NCP(put_str(ncid, yv, "standard_name", "projection_y_coordinate"));
    NCP(put_str(ncid, yv, "units", "m"));
    NCP(put_str(ncid, yv, "axis", "Y"));
    NCP(nc_def_var(ncid, "x", NC_DOUBLE, 1, &xd, &xv));
    NCP(put_str(ncid, xv, "standard_name", "projection_x_coordinate"));
    NCP(put_str(ncid, xv, "units", "m"));
    NCP(put_str(ncid, xv, "axis", "X"));
    NCP(nc_def_var(ncid, "spatial_ref", NC_INT, 0, NULL, &cv));
    char gts[256];
    snprintf(gts, sizeof gts, "%.16g %.16g %.16g %.16g %.16g %.16g", mgt[0], mgt[1], mgt[2], mgt[3], mgt[4],
             mgt[5]);
    NCP(put_str(ncid, cv, "crs_wkt", dst_wkt));
    NCP(put_str(ncid, cv, "spatial_ref", dst_wkt));
    NCP(put_str(ncid, cv, "GeoTransform", gts));
    int dims[3] = {td, yd, xd};
    size_t chunk[3] = {1, (size_t)(H < 512 ? H : 512), (size_t)(W < 512 ? W : 512)};
    for (int l = 0; l < nlayers && lvar; l++) {
        layer_info *L = &layers[l];
        NCP(nc_def_var(ncid, L->name, NC_USHORT, 3, dims, &lvar[l]));
        NCP(nc_def_var_chunking(ncid, lvar[l], NC_CHUNKED, chunk));
        NCP(nc_def_var_deflate(ncid, lvar[l], 1, 1, 4));
        NCP(nc_def_var_fill(ncid, lvar[l], 0, &L->fill));
        NCP(put_str(ncid, lvar[l], "long_name", L->long_name));
        NCP(put_str(ncid, lvar[l], "units", L->units));
        NCP(nc_put_att_double(ncid, lvar[l], "scale_factor", NC_DOUBLE, 1, &L->scale));
        NCP(nc_put_att_double(ncid, lvar[l], "add_offset", NC_DOUBLE, 1, &L->offset));
        NCP(put_str(ncid, lvar[l], "grid_mapping", "spatial_ref"));
    }
    st = put_globals(ncid, tmp, crs, res, ncubes, submitted, st);
    NCP(nc_enddef(ncid));
    /* collective access for every variable (the layers are compressed) */
    int nv = 0;
    nc_inq_nvars(ncid, &nv);
    for (int v = 0; v < nv; v++)
        NCP(nc_var_par_access(ncid, v, NC_COLLECTIVE));
    st = put_coords(ncid, tmp, rank, &g, res, tv, yv, xv, st);
    st = put_layers(ncid, tmp, rank, size, &g, res, cubes, tiles, ncubes, layers, nlayers, lvar,
                    dst_wkt, st);
    e = nc_close(ncid);
    ncid = -1;
    if (e != NC_NOERR && st == CC_OK)
        st = mos_fail(tmp, "nc_close", e);
    if (!all_ok(comm, st)) {
        if (st == CC_OK)
            st = cc_error_set(CC_ERR_IO, "mosaic: failed on another rank");
        if (rank == 0)
            cc_fs_abort(tmp);
        goto out;
    }
    if (rank == 0)
        st = cc_fs_commit(tmp, path);
    if (!all_ok(comm, st) && st == CC_OK)
        st = cc_error_set(CC_ERR_IO, "mosaic: commit failed on rank 0");
out:
    if (ncid >= 0)
        nc_close(ncid);
    for (int i = 0; tiles && i < ncubes; i++) {
        free(tiles[i].wkt);
        free(tiles[i].days);
    }
    free(tiles);
    free(layers);
    free(g.days);
    free(lvar);
    CPLFree(dst_wkt);
    if (dsrs)
        OSRDestroySpatialReference(dsrs);
    return st;
}
