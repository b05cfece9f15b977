/* clearcube: per-pixel state files (io/pixstate.h, docs/formats/state.md). */
#define _GNU_SOURCE
#include "io/pixstate.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <hdf5.h>
#include <libdeflate.h>
#include <netcdf.h>

#include "core/alloc.h"
#include "core/date.h"
#include "core/fs.h"
#include "core/version.h"
#include "io/cube.h"

/* libdeflate's level 2: 2x zlib level 1's compression speed, 4x its
 * decompression, about the same size (docs/benchmarks.md, daily section). */
#define STATE_DEFLATE 2

/* The chunk layout and filters of one variable (the HDF5 dataset). */
enum { F_SHUFFLE = 1, F_DEFLATE = 2 };

struct cc_pixstate {
    int ncid;  /* NetCDF: while defining (writing) or checking (reading) */
    hid_t fid; /* HDF5: the data, once the metadata are done */
    char path[PATH_MAX];
    char tmp[PATH_MAX + 32]; /* writing: the temporary ("" when reading) */
    int width, height, nvars;
    int varid[CC_PIXSTATE_MAX_VARS], nb[CC_PIXSTATE_MAX_VARS];
    char name[CC_PIXSTATE_MAX_VARS][NC_MAX_NAME + 1];
    hid_t dset[CC_PIXSTATE_MAX_VARS];
    int crows[CC_PIXSTATE_MAX_VARS], ccols[CC_PIXSTATE_MAX_VARS];
    int filt[CC_PIXSTATE_MAX_VARS]; /* F_* in the order shuffle, deflate; -1: other (the generic path) */
    char *kind, *tile, *params, *wkt; /* reading */
};

static cc_status nc_fail(const char *file, const char *what, int rc)
{
    return cc_error_set(rc == NC_ENOMEM ? CC_ERR_NOMEM : CC_ERR_FORMAT, "%s: %s: %s", file, what, nc_strerror(rc));
}

#define NCK(call, what)                                                                                       \
    do {                                                                                                      \
        int rc_ = (call);                                                                                     \
        if (rc_ != NC_NOERR) {                                                                                \
            st = nc_fail(file, what, rc_);                                                                    \
            goto out;                                                                                         \
        }                                                                                                     \
    } while (0)

static int put_text(int ncid, int v, const char *name, const char *val)
{
    return val ? nc_put_att_text(ncid, v, name, strlen(val), val) : NC_NOERR;
}

static void pixstate_free(cc_pixstate *s)
{
    for (int v = 0; v < CC_PIXSTATE_MAX_VARS; v++)
        if (s->dset[v] > 0)
            H5Dclose(s->dset[v]);
    if (s->fid > 0)
        H5Fclose(s->fid);
    free(s->kind);
    free(s->tile);
    free(s->params);
    free(s->wkt);
    free(s);
}

/* Closes the HDF5 side; 0 or -1 when a close failed. */
static int h5_close(cc_pixstate *s)
{
    int bad = 0;
    for (int v = 0; v < CC_PIXSTATE_MAX_VARS; v++)
        if (s->dset[v] > 0) {
            bad |= H5Dclose(s->dset[v]) < 0;
            s->dset[v] = 0;
        }
    if (s->fid > 0)
        bad |= H5Fclose(s->fid) < 0;
    s->fid = 0;
    return bad ? -1 : 0;
}

/* Once the NetCDF metadata are done: the variables' datasets in HDF5, with
 * their chunk layout and filters (the chunks are then read and written
 * whole, compressed on the OpenMP threads: cc_pixstate_read_block). */
static cc_status h5_attach(cc_pixstate *s, const char *file, int writing)
{
    H5E_BEGIN_TRY { s->fid = H5Fopen(file, writing ? H5F_ACC_RDWR : H5F_ACC_RDONLY, H5P_DEFAULT); }
    H5E_END_TRY;
    if (s->fid < 0) {
        s->fid = 0;
        return cc_error_set(CC_ERR_FORMAT, "%s: not a readable state file (HDF5 cannot open it)", file);
    }
    for (int v = 0; v < s->nvars; v++) {
        hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
        H5Pset_chunk_cache(dapl, 521, (size_t)16 << 20, 1.0); /* the generic path (unaligned rows) */
        H5E_BEGIN_TRY { s->dset[v] = H5Dopen2(s->fid, s->name[v], dapl); }
        H5E_END_TRY;
        H5Pclose(dapl);
        if (s->dset[v] < 0) {
            s->dset[v] = 0;
            return cc_error_set(CC_ERR_FORMAT, "%s: state file: variable %s is not an HDF5 dataset", file, s->name[v]);
        }
        s->filt[v] = -1;
        hid_t dcpl = H5Dget_create_plist(s->dset[v]), type = H5Dget_type(s->dset[v]);
        const int nd = s->nb[v] > 1 ? 3 : 2;
        hsize_t ch[3] = {0, 0, 0};
        if (dcpl >= 0 && type >= 0 && H5Tequal(type, H5T_NATIVE_FLOAT) > 0 && H5Pget_layout(dcpl) == H5D_CHUNKED &&
            H5Pget_chunk(dcpl, 3, ch) == nd && (nd == 2 || ch[0] == 1)) {
            s->crows[v] = (int)ch[nd - 2], s->ccols[v] = (int)ch[nd - 1];
            int nf = H5Pget_nfilters(dcpl), f = 0, ok = nf >= 0 && nf <= 2;
            for (int i = 0; ok && i < nf; i++) {
                unsigned flags = 0;
                size_t ncd = 0;
                H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, NULL, 0, NULL, NULL);
                if (id == H5Z_FILTER_SHUFFLE && f == 0)
                    f |= F_SHUFFLE;
                else if (id == H5Z_FILTER_DEFLATE && !(f & F_DEFLATE))
                    f |= F_DEFLATE;
                else
                    ok = 0;
            }
            if (ok)
                s->filt[v] = f;
        }
        if (dcpl >= 0)
            H5Pclose(dcpl);
        if (type >= 0)
            H5Tclose(type);
    }
    return CC_OK;
}

void cc_pixstate_abort(cc_pixstate *s)
{
    if (!s)
        return;
    h5_close(s);
    if (s->ncid >= 0)
        nc_abort(s->ncid);
    if (s->tmp[0])
        cc_fs_abort(s->tmp);
    pixstate_free(s);
}

cc_status cc_pixstate_create(const cc_pixstate_args *a, cc_pixstate **out)
{
    cc_status st = CC_OK;
    const char *file = a && a->path ? a->path : "state";
    cc_pixstate *s = NULL;
    double *xs = NULL, *ys = NULL;
    *out = NULL;
    if (!a || !a->path || !a->wkt || a->width <= 0 || a->height <= 0 || a->nvars < 1 ||
        a->nvars > CC_PIXSTATE_MAX_VARS || a->block_rows < 1)
        return cc_error_set(CC_ERR_ARG, "%s: state file: bad arguments", file);
    if (!(s = calloc(1, sizeof *s)))
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", file);
    s->ncid = -1;
    s->width = a->width, s->height = a->height, s->nvars = a->nvars;
    snprintf(s->path, sizeof s->path, "%s", a->path);
    cc_fs_remove_stale_temps(a->path);
    if ((st = cc_fs_temp_name(a->path, NULL, s->tmp, sizeof s->tmp)) != CC_OK)
        goto out;
    file = s->tmp;
    int ydim, xdim, bdim = -1, yv, xv, crs, nbmax = 1;
    for (int i = 0; i < a->nvars; i++)
        if (a->vars[i].nbands > nbmax)
            nbmax = a->vars[i].nbands;
    NCK(nc_create(s->tmp, NC_NETCDF4 | NC_CLOBBER, &s->ncid), "nc_create");
    if (nbmax > 1)
        NCK(nc_def_dim(s->ncid, "band", (size_t)nbmax, &bdim), "nc_def_dim");
    NCK(nc_def_dim(s->ncid, "y", (size_t)a->height, &ydim), "nc_def_dim");
    NCK(nc_def_dim(s->ncid, "x", (size_t)a->width, &xdim), "nc_def_dim");
    NCK(nc_def_var(s->ncid, "y", NC_DOUBLE, 1, &ydim, &yv), "nc_def_var");
    NCK(nc_def_var(s->ncid, "x", NC_DOUBLE, 1, &xdim, &xv), "nc_def_var");
    NCK(put_text(s->ncid, yv, "standard_name", "projection_y_coordinate"), "nc_put_att");
    NCK(put_text(s->ncid, xv, "standard_name", "projection_x_coordinate"), "nc_put_att");
    NCK(put_text(s->ncid, yv, "units", "m"), "nc_put_att");
    NCK(put_text(s->ncid, xv, "units", "m"), "nc_put_att");
    NCK(nc_def_var(s->ncid, "spatial_ref", NC_INT, 0, NULL, &crs), "nc_def_var");
    char gts[256];
    int n = 0;
    for (int i = 0; i < 6; i++)
        n += snprintf(gts + n, sizeof gts - (size_t)n, "%.16g ", a->gt[i]);
    NCK(put_text(s->ncid, crs, "crs_wkt", a->wkt), "nc_put_att");
    NCK(put_text(s->ncid, crs, "spatial_ref", a->wkt), "nc_put_att");
    NCK(put_text(s->ncid, crs, "GeoTransform", gts), "nc_put_att");
    size_t rows = (size_t)(a->block_rows < a->height ? a->block_rows : a->height);
    size_t cols = (size_t)(a->width < 2048 ? a->width : 2048);
    for (int i = 0; i < a->nvars; i++) {
        const cc_pixstate_var *V = &a->vars[i];
        int dims[3] = {bdim, ydim, xdim}, v;
        size_t ch[3] = {1, rows, cols};
        int nd = V->nbands > 1 ? 3 : 2;
        if (V->nbands > 1 && V->nbands != nbmax) {
            st = cc_error_set(CC_ERR_ARG, "%s: variables of %d and %d bands", a->path, V->nbands, nbmax);
            goto out;
        }
        NCK(nc_def_var(s->ncid, V->name, NC_FLOAT, nd, nd == 3 ? dims : dims + 1, &v), "nc_def_var");
        NCK(nc_def_var_chunking(s->ncid, v, NC_CHUNKED, nd == 3 ? ch : ch + 1), "nc_def_var_chunking");
        NCK(nc_def_var_deflate(s->ncid, v, 1, 1, STATE_DEFLATE), "nc_def_var_deflate");
        NCK(put_text(s->ncid, v, "long_name", V->long_name), "nc_put_att");
        NCK(put_text(s->ncid, v, "grid_mapping", "spatial_ref"), "nc_put_att");
        s->varid[i] = v, s->nb[i] = V->nbands > 1 ? V->nbands : 1;
        snprintf(s->name[i], sizeof s->name[i], "%s", V->name);
    }
    char date[CC_DATE_ISO_SIZE];
    cc_date_format(a->day, date);
    int day = (int)a->day;
    NCK(put_text(s->ncid, NC_GLOBAL, "Conventions", "CF-1.8"), "nc_put_att");
    NCK(put_text(s->ncid, NC_GLOBAL, "title", "clearcube per-pixel state"), "nc_put_att");
    NCK(put_text(s->ncid, NC_GLOBAL, "state_kind", a->kind), "nc_put_att");
    NCK(put_text(s->ncid, NC_GLOBAL, "tile_id", a->tile_id), "nc_put_att");
    NCK(put_text(s->ncid, NC_GLOBAL, "params_id", a->params_id), "nc_put_att");
    NCK(put_text(s->ncid, NC_GLOBAL, "band_names", a->band_names), "nc_put_att");
    NCK(put_text(s->ncid, NC_GLOBAL, "valid_after_date", date), "nc_put_att");
    NCK(nc_put_att_int(s->ncid, NC_GLOBAL, "valid_after_day", NC_INT, 1, &day), "nc_put_att");
    NCK(put_text(s->ncid, NC_GLOBAL, "source", "clearcube " CC_VERSION), "nc_put_att");
    NCK(put_text(s->ncid, NC_GLOBAL, "history", a->history), "nc_put_att");
    if (a->ncalibration > 0 && a->calibration)
        NCK(nc_put_att_double(s->ncid, NC_GLOBAL, "calibration", NC_DOUBLE, (size_t)a->ncalibration, a->calibration),
            "nc_put_att");
    NCK(nc_enddef(s->ncid), "nc_enddef");
    xs = cc_malloc3((size_t)a->width, sizeof *xs, 1);
    ys = cc_malloc3((size_t)a->height, sizeof *ys, 1);
    if (!xs || !ys) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", a->path);
        goto out;
    }
    for (int i = 0; i < a->width; i++)
        xs[i] = a->gt[0] + (i + 0.5) * a->gt[1];
    for (int j = 0; j < a->height; j++)
        ys[j] = a->gt[3] + (j + 0.5) * a->gt[5];
    NCK(nc_put_var_double(s->ncid, xv, xs), "nc_put_var");
    NCK(nc_put_var_double(s->ncid, yv, ys), "nc_put_var");
    int ncid = s->ncid;
    s->ncid = -1;
    NCK(nc_close(ncid), "nc_close");
    if ((st = h5_attach(s, s->tmp, 1)) != CC_OK)
        goto out;
    *out = s;
    s = NULL;
out:
    free(xs);
    free(ys);
    cc_pixstate_abort(s);
    return st;
}

static cc_status rows_check(const cc_pixstate *s, int v, int y0, int nrows, int x0, int ncols)
{
    if (!s || s->fid <= 0 || v < 0 || v >= s->nvars || y0 < 0 || nrows < 1 || y0 > s->height - nrows || x0 < 0 ||
        ncols < 1 || x0 > s->width - ncols)
        return cc_error_set(CC_ERR_ARG, "%s: state rows %d+%d, columns %d+%d or variable %d out of range",
                            s ? s->path : "state", y0, nrows, x0, ncols, v);
    return CC_OK;
}

/* The generic path: a hyperslab through HDF5's own filters and chunk cache. */
static int slab_io(cc_pixstate *s, int v, int writing, int y0, int nrows, int x0, int ncols, float *data)
{
    const int nd = s->nb[v] > 1 ? 3 : 2, o = 3 - nd;
    hsize_t start[3] = {0, (hsize_t)y0, (hsize_t)x0}, count[3] = {(hsize_t)s->nb[v], (hsize_t)nrows, (hsize_t)ncols};
    hid_t fs = H5Dget_space(s->dset[v]), ms = H5Screate_simple(nd, count + o, NULL);
    herr_t e = fs < 0 || ms < 0 ? -1 : H5Sselect_hyperslab(fs, H5S_SELECT_SET, start + o, NULL, count + o, NULL);
    H5E_BEGIN_TRY
    {
        if (e >= 0)
            e = writing ? H5Dwrite(s->dset[v], H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, data)
                        : H5Dread(s->dset[v], H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, data);
    }
    H5E_END_TRY;
    if (fs >= 0)
        H5Sclose(fs);
    if (ms >= 0)
        H5Sclose(ms);
    return e < 0 ? -1 : 0;
}

/* Whether rows [y0, y0+nrows) x columns [x0, x0+ncols) of v are whole chunks (edge chunks included). */
static int whole_chunks(const cc_pixstate *s, int v, int y0, int nrows, int x0, int ncols)
{
    const int cr = s->crows[v], cc = s->ccols[v];
    return s->filt[v] >= 0 && cr > 0 && cc > 0 && y0 % cr == 0 && x0 % cc == 0 &&
           (nrows == cr || (nrows < cr && y0 + nrows == s->height)) &&
           (ncols == cc || (ncols < cc && x0 + ncols == s->width));
}

typedef struct {
    int v, b;
    hsize_t off[3]; /* the chunk's offset (band, y, x), or (y, x) in off[1..2] for a 2-D variable */
    size_t at, size;
    uint32_t mask; /* filters skipped (HDF5's filter mask) */
} chunk_job;

/* The fast path's jobs: one chunk per (variable, band) of the block. */
static int block_jobs(const cc_pixstate *s, int y0, int nrows, int x0, int ncols, chunk_job *jobs, size_t *chunk_bytes)
{
    int n = 0;
    *chunk_bytes = 0;
    for (int v = 0; v < s->nvars; v++) {
        if (!whole_chunks(s, v, y0, nrows, x0, ncols))
            continue;
        size_t cb = (size_t)s->crows[v] * (size_t)s->ccols[v] * sizeof(float);
        if (cb > *chunk_bytes)
            *chunk_bytes = cb;
        for (int b = 0; b < s->nb[v]; b++)
            jobs[n++] = (chunk_job){.v = v, .b = b, .off = {(hsize_t)b, (hsize_t)y0, (hsize_t)x0}};
    }
    return n;
}

static hsize_t *job_offset(const cc_pixstate *s, chunk_job *j)
{
    return s->nb[j->v] > 1 ? j->off : j->off + 1;
}

static void shuffle4(const unsigned char *in, size_t n, unsigned char *out)
{
    unsigned char *b0 = out, *b1 = out + n, *b2 = out + 2 * n, *b3 = out + 3 * n;
    for (size_t i = 0; i < n; i++) {
        b0[i] = in[4 * i];
        b1[i] = in[4 * i + 1];
        b2[i] = in[4 * i + 2];
        b3[i] = in[4 * i + 3];
    }
}

static void unshuffle4(const unsigned char *in, size_t n, unsigned char *out)
{
    const unsigned char *b0 = in, *b1 = in + n, *b2 = in + 2 * n, *b3 = in + 3 * n;
    for (size_t i = 0; i < n; i++) {
        out[4 * i] = b0[i];
        out[4 * i + 1] = b1[i];
        out[4 * i + 2] = b2[i];
        out[4 * i + 3] = b3[i];
    }
}

/* Compresses the whole-chunk variables of the block on the OpenMP threads
 * (each chunk on its own: the bytes do not depend on the threads) and writes
 * them in order on this thread (HDF5 is not thread-safe). */
static cc_status fast_write(cc_pixstate *s, int y0, int nrows, int x0, int ncols, const float *const *data)
{
    chunk_job jobs[CC_PIXSTATE_MAX_VARS * 64];
    size_t cb;
    int nj = 0;
    for (int v = 0; v < s->nvars; v++)
        if (s->nb[v] > 64)
            return cc_error_set(CC_ERR_ARG, "%s: more than 64 bands", s->path);
    nj = block_jobs(s, y0, nrows, x0, ncols, jobs, &cb);
    if (!nj)
        return CC_OK;
    struct libdeflate_compressor *c0 = libdeflate_alloc_compressor(STATE_DEFLATE);
    const size_t bound = c0 ? libdeflate_zlib_compress_bound(c0, cb) : 0;
    libdeflate_free_compressor(c0);
    unsigned char *arena = bound ? cc_malloc3((size_t)nj, bound, 1) : NULL;
    if (!arena)
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory for %d state chunks", s->tmp, nj);
    int fail = 0;
#pragma omp parallel
    {
        unsigned char *chunk = malloc(cb), *sh = malloc(cb);
        struct libdeflate_compressor *c = libdeflate_alloc_compressor(STATE_DEFLATE);
        if (!chunk || !sh || !c) {
#pragma omp atomic write
            fail = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (int j = 0; j < nj; j++) {
            chunk_job *J = &jobs[j];
            const int v = J->v, cr = s->crows[v], cc = s->ccols[v];
            if (!chunk || !sh || !c)
                continue;
            const size_t n = (size_t)cr * (size_t)cc, bytes = n * sizeof(float);
            const float *plane = data[v] + (size_t)J->b * (size_t)nrows * (size_t)ncols;
            const unsigned char *src = (const unsigned char *)plane;
            if (nrows != cr || ncols != cc) { /* an edge chunk: padded */
                float *f = (float *)(void *)chunk;
                memset(chunk, 0, bytes);
                for (int r = 0; r < nrows; r++)
                    memcpy(f + (size_t)r * (size_t)cc, plane + (size_t)r * (size_t)ncols, (size_t)ncols * sizeof(float));
                src = chunk;
            }
            if (s->filt[v] & F_SHUFFLE) {
                shuffle4(src, n, sh);
                src = sh;
            }
            unsigned char *dst = arena + (size_t)j * bound;
            if (s->filt[v] & F_DEFLATE)
                J->size = libdeflate_zlib_compress(c, src, bytes, dst, bound);
            else
                memcpy(dst, src, J->size = bytes);
            if (!J->size) {
#pragma omp atomic write
                fail = 1;
            }
        }
        libdeflate_free_compressor(c);
        free(chunk);
        free(sh);
    }
    cc_status st = CC_OK;
    if (fail)
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory compressing the state", s->tmp);
    for (int j = 0; st == CC_OK && j < nj; j++) {
        herr_t e;
        H5E_BEGIN_TRY
        {
            e = H5Dwrite_chunk(s->dset[jobs[j].v], H5P_DEFAULT, 0, job_offset(s, &jobs[j]), jobs[j].size,
                               arena + (size_t)j * bound);
        }
        H5E_END_TRY;
        if (e < 0)
            st = cc_fs_write_error(s->tmp, 0, "writing the state");
    }
    free(arena);
    return st;
}

/* Reads the whole-chunk variables' chunks of the block on this thread and
 * decompresses them on the OpenMP threads. */
static cc_status fast_read(cc_pixstate *s, int y0, int nrows, int x0, int ncols, float *const *data)
{
    chunk_job jobs[CC_PIXSTATE_MAX_VARS * 64];
    size_t cb, total = 0;
    for (int v = 0; v < s->nvars; v++)
        if (s->nb[v] > 64)
            return cc_error_set(CC_ERR_ARG, "%s: more than 64 bands", s->path);
    const int nj = block_jobs(s, y0, nrows, x0, ncols, jobs, &cb);
    if (!nj)
        return CC_OK;
    for (int j = 0; j < nj; j++) {
        hsize_t n = 0;
        herr_t e;
        H5E_BEGIN_TRY { e = H5Dget_chunk_storage_size(s->dset[jobs[j].v], job_offset(s, &jobs[j]), &n); }
        H5E_END_TRY;
        if (e < 0 || n == 0 || n > (hsize_t)cb * 2 + 4096)
            return cc_error_set(CC_ERR_FORMAT, "%s: state file: %s rows %d..%d: chunk missing or unreadable (corrupt?)",
                                s->path, s->name[jobs[j].v], y0, y0 + nrows - 1);
        jobs[j].at = total, jobs[j].size = (size_t)n;
        total += (size_t)n;
    }
    unsigned char *arena = cc_malloc3(total, 1, 1);
    if (!arena)
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory for %d state chunks", s->path, nj);
    for (int j = 0; j < nj; j++) {
        herr_t e;
        H5E_BEGIN_TRY
        {
            e = H5Dread_chunk(s->dset[jobs[j].v], H5P_DEFAULT, job_offset(s, &jobs[j]), &jobs[j].mask,
                              arena + jobs[j].at);
        }
        H5E_END_TRY;
        if (e < 0) {
            free(arena);
            return cc_error_set(CC_ERR_FORMAT, "%s: state file: reading rows %d..%d of %s (corrupt?)", s->path, y0,
                                y0 + nrows - 1, s->name[jobs[j].v]);
        }
    }
    int bad = -1, nomem = 0;
#pragma omp parallel
    {
        unsigned char *raw = malloc(cb), *un = malloc(cb);
        struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
        if (!raw || !un || !d) {
#pragma omp atomic write
            nomem = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (int j = 0; j < nj; j++) {
            const chunk_job *J = &jobs[j];
            const int v = J->v, cr = s->crows[v], cc = s->ccols[v];
            const size_t n = (size_t)cr * (size_t)cc, bytes = n * sizeof(float);
            if (!raw || !un || !d)
                continue;
            const int shuf = (s->filt[v] & F_SHUFFLE) && !(J->mask & 1u);
            const int defl = (s->filt[v] & F_DEFLATE) && !(J->mask & (1u << ((s->filt[v] & F_SHUFFLE) ? 1 : 0)));
            const unsigned char *src = arena + J->at;
            size_t got = J->size;
            int ok = 1;
            if (defl) {
                ok = libdeflate_zlib_decompress(d, src, J->size, raw, bytes, &got) == LIBDEFLATE_SUCCESS;
                src = raw;
            }
            ok = ok && got == bytes;
            float *plane = data[v] + (size_t)J->b * (size_t)nrows * (size_t)ncols;
            const int whole = nrows == cr && ncols == cc; /* straight into the caller's plane */
            if (ok && shuf) {
                unshuffle4(src, n, whole ? (unsigned char *)plane : un);
                src = whole ? (const unsigned char *)plane : un;
            } else if (ok && whole)
                memcpy(plane, src, bytes);
            if (!ok) {
#pragma omp critical(pixstate_bad)
                if (bad < 0 || j < bad)
                    bad = j;
                continue;
            }
            const float *f = (const float *)(const void *)src;
            for (int r = 0; !whole && r < nrows; r++)
                memcpy(plane + (size_t)r * (size_t)ncols, f + (size_t)r * (size_t)cc, (size_t)ncols * sizeof(float));
        }
        libdeflate_free_decompressor(d);
        free(raw);
        free(un);
    }
    free(arena);
    if (nomem)
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory decompressing the state", s->path);
    if (bad >= 0)
        return cc_error_set(CC_ERR_FORMAT, "%s: state file: rows %d..%d of %s do not decompress (corrupt?)", s->path,
                            y0, y0 + nrows - 1, s->name[jobs[bad].v]);
    return CC_OK;
}

int cc_pixstate_chunk_cols(const cc_pixstate *s)
{
    return s && s->nvars > 0 && s->ccols[0] > 0 && s->ccols[0] < s->width ? s->ccols[0] : s ? s->width : 0;
}

cc_status cc_pixstate_write_block(cc_pixstate *s, int y0, int nrows, int x0, int ncols, const float *const *data)
{
    cc_status st = rows_check(s, 0, y0, nrows, x0, ncols);
    if (st != CC_OK || !s->tmp[0])
        return st != CC_OK ? st : cc_error_set(CC_ERR_ARG, "%s: state opened for reading", s->path);
    if ((st = fast_write(s, y0, nrows, x0, ncols, data)) != CC_OK)
        return st;
    for (int v = 0; v < s->nvars; v++)
        if (!whole_chunks(s, v, y0, nrows, x0, ncols) && slab_io(s, v, 1, y0, nrows, x0, ncols, (float *)data[v]))
            return cc_fs_write_error(s->tmp, 0, "writing the state");
    return CC_OK;
}

cc_status cc_pixstate_read_block(cc_pixstate *s, int y0, int nrows, int x0, int ncols, float *const *data)
{
    cc_status st = rows_check(s, 0, y0, nrows, x0, ncols);
    if (st != CC_OK || (st = fast_read(s, y0, nrows, x0, ncols, data)) != CC_OK)
        return st;
    for (int v = 0; v < s->nvars; v++)
        if (!whole_chunks(s, v, y0, nrows, x0, ncols) && slab_io(s, v, 0, y0, nrows, x0, ncols, data[v]))
            return cc_error_set(CC_ERR_FORMAT, "%s: state file: reading rows %d..%d of %s (corrupt?)", s->path, y0,
                                y0 + nrows - 1, s->name[v]);
    return CC_OK;
}

cc_status cc_pixstate_write_rows(cc_pixstate *s, int v, int y0, int nrows, const float *data)
{
    cc_status st = rows_check(s, v, y0, nrows, 0, s ? s->width : 1);
    if (st != CC_OK)
        return st;
    if (slab_io(s, v, 1, y0, nrows, 0, s->width, (float *)data))
        return cc_fs_write_error(s->tmp, 0, "writing the state");
    return CC_OK;
}

cc_status cc_pixstate_commit(cc_pixstate *s)
{
    cc_status st = CC_OK;
    if (!s)
        return cc_error_set(CC_ERR_ARG, "state: nothing to commit");
    if (h5_close(s) != 0) {
        st = cc_fs_write_error(s->tmp, 0, "closing the state");
        goto out;
    }
    st = cc_fs_commit(s->tmp, s->path);
    s->tmp[0] = 0;
out:
    cc_pixstate_abort(s);
    return st;
}

static char *text_att(int ncid, int v, const char *name)
{
    return cc_cube_text_att(ncid, v, name);
}

cc_status cc_pixstate_open(const char *path, int nvars, const cc_pixstate_var *vars, cc_pixstate **out,
                           cc_pixstate_info *info)
{
    cc_status st = CC_OK;
    const char *file = path ? path : "state";
    cc_pixstate *s = NULL;
    struct stat sb;
    char *gts = NULL;
    *out = NULL;
    memset(info, 0, sizeof *info);
    if (!path || nvars < 1 || nvars > CC_PIXSTATE_MAX_VARS)
        return cc_error_set(CC_ERR_ARG, "%s: state file: bad arguments", file);
    if (stat(path, &sb) != 0)
        return errno == ENOENT ? CC_ERR_MISSING : cc_error_set(CC_ERR_IO, "%s: %s", path, strerror(errno));
    if (!(s = calloc(1, sizeof *s)))
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
    s->ncid = -1;
    snprintf(s->path, sizeof s->path, "%s", path);
    int rc = nc_open(path, NC_NOWRITE, &s->ncid), d, crs, day = 0;
    if (rc != NC_NOERR) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: not a readable state file (%s)", path, nc_strerror(rc));
        goto out;
    }
    size_t w = 0, h = 0;
    if (nc_inq_dimid(s->ncid, "x", &d) || nc_inq_dimlen(s->ncid, d, &w) || nc_inq_dimid(s->ncid, "y", &d) ||
        nc_inq_dimlen(s->ncid, d, &h) || nc_inq_varid(s->ncid, "spatial_ref", &crs) ||
        nc_get_att_int(s->ncid, NC_GLOBAL, "valid_after_day", &day)) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: not a clearcube state file (no x/y, spatial_ref or valid_after_day)",
                          path);
        goto out;
    }
    s->width = (int)w, s->height = (int)h, s->nvars = nvars;
    s->kind = text_att(s->ncid, NC_GLOBAL, "state_kind");
    s->tile = text_att(s->ncid, NC_GLOBAL, "tile_id");
    s->params = text_att(s->ncid, NC_GLOBAL, "params_id");
    s->wkt = text_att(s->ncid, crs, "crs_wkt");
    gts = text_att(s->ncid, crs, "GeoTransform");
    if (!s->wkt || !gts ||
        sscanf(gts, "%lf %lf %lf %lf %lf %lf", &info->gt[0], &info->gt[1], &info->gt[2], &info->gt[3], &info->gt[4],
               &info->gt[5]) != 6) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: state file: spatial_ref lacks crs_wkt or GeoTransform", path);
        goto out;
    }
    for (int i = 0; i < nvars; i++) {
        int v, nd, dims[NC_MAX_VAR_DIMS];
        nc_type t;
        size_t len;
        if (nc_inq_varid(s->ncid, vars[i].name, &v) || nc_inq_vartype(s->ncid, v, &t) ||
            nc_inq_varndims(s->ncid, v, &nd) || nc_inq_vardimid(s->ncid, v, dims) || t != NC_FLOAT ||
            nd != (vars[i].nbands > 1 ? 3 : 2) || (nd == 3 && (nc_inq_dimlen(s->ncid, dims[0], &len) ||
                                                              len != (size_t)vars[i].nbands))) {
            st = cc_error_set(CC_ERR_FORMAT, "%s: state file: variable %s missing or not float32 (%d x y x x)", path,
                              vars[i].name, vars[i].nbands);
            goto out;
        }
        s->varid[i] = v, s->nb[i] = vars[i].nbands > 1 ? vars[i].nbands : 1;
        snprintf(s->name[i], sizeof s->name[i], "%s", vars[i].name);
    }
    info->kind = s->kind, info->tile_id = s->tile, info->params_id = s->params, info->wkt = s->wkt;
    info->width = s->width, info->height = s->height, info->day = day;
    {
        nc_type ct;
        size_t cn = 0;
        info->ncalibration = 0;
        if (nc_inq_att(s->ncid, NC_GLOBAL, "calibration", &ct, &cn) == NC_NOERR) {
            if (ct != NC_DOUBLE || cn < 1 || cn > sizeof info->calibration / sizeof info->calibration[0] ||
                nc_get_att_double(s->ncid, NC_GLOBAL, "calibration", info->calibration) != NC_NOERR) {
                st = cc_error_set(CC_ERR_FORMAT, "%s: state file: attribute calibration is not 1..16 doubles", path);
                goto out;
            }
            info->ncalibration = (int)cn;
        }
    }
    nc_close(s->ncid); /* the metadata are checked: the data through HDF5 */
    s->ncid = -1;
    if ((st = h5_attach(s, path, 0)) != CC_OK) {
        memset(info, 0, sizeof *info);
        goto out;
    }
    *out = s;
    s = NULL;
out:
    free(gts);
    cc_pixstate_close(s);
    return st;
}

cc_status cc_pixstate_read_rows(cc_pixstate *s, int v, int y0, int nrows, float *data)
{
    cc_status st = rows_check(s, v, y0, nrows, 0, s ? s->width : 1);
    if (st != CC_OK)
        return st;
    if (slab_io(s, v, 0, y0, nrows, 0, s->width, data))
        return cc_error_set(CC_ERR_FORMAT, "%s: state file: reading rows %d..%d of %s (corrupt?)", s->path, y0,
                            y0 + nrows - 1, s->name[v]);
    return CC_OK;
}

void cc_pixstate_close(cc_pixstate *s)
{
    if (!s)
        return;
    h5_close(s);
    if (s->ncid >= 0)
        nc_close(s->ncid);
    pixstate_free(s);
}
