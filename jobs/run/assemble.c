/* clearcube run: a tile task: the tile's cube <output>/<tile>.nc assembled from
 * the committed items (and, for daily products, earlier days) in date order,
 * in one pass, written to a temporary file and renamed. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <netcdf.h>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "io/cube.h"
#include "jobs/run/run-ctx.h"

/* A failed NetCDF call on `tmp`, with the file system's cause when there is
 * one (a full disk reaches NetCDF-4 as an HDF error or "Permission denied"). */
static cc_status nc_fail(const char *tmp, const char *call, int e)
{
    if (cc_fs_write_cause(tmp, e > 0 ? e : 0))
        return cc_fs_write_error(tmp, e > 0 ? e : 0, call);
    return cc_error_set(CC_ERR_IO, "%s: %s: %s", tmp, call, nc_strerror(e));
}

#define NCK(call)                                                                         \
    do {                                                                                  \
        int e_ = (call);                                                                  \
        if (e_ != NC_NOERR) {                                                             \
            st = nc_fail(tmp, #call, e_);                                                 \
            goto out;                                                                     \
        }                                                                                 \
    } while (0)

static cc_status copy_text_joined(int *src, int n, int dst, const char *name, int join, const char *tmp)
{
    cc_status st = CC_OK;
    char *acc = NULL;
    size_t alen = 0;
    for (int i = join ? 0 : n - 1; i < n; i++) {
        size_t len = 0;
        nc_type ty;
        if (nc_inq_att(src[i], NC_GLOBAL, name, &ty, &len) != NC_NOERR || ty != NC_CHAR)
            continue;
        char *v = malloc(len + 1);
        if (!v || nc_get_att_text(src[i], NC_GLOBAL, name, v) != NC_NOERR) {
            free(v);
            continue;
        }
        v[len] = 0;
        if (acc && strstr(acc, v)) { /* one line per distinct value */
            free(v);
            continue;
        }
        char *na = realloc(acc, alen + len + 2);
        if (!na) {
            free(v);
            st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", tmp);
            goto out;
        }
        acc = na;
        if (alen)
            acc[alen++] = '\n';
        memcpy(acc + alen, v, len + 1);
        alen += len;
        free(v);
    }
    if (acc)
        NCK(nc_put_att_text(dst, NC_GLOBAL, name, alen, acc));
out:
    free(acc);
    return st;
}

static int cmp_day(const void *a, const void *b)
{
    const double *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Opens the n parts into src (ncids; -1 where not open) and orders them by their
 * date (order: n pairs of day and part index, scratch). */
static cc_status open_by_date(char **parts, int n, int *src, double *order, const char *cube)
{
    for (int i = 0; i < n; i++) {
        int e = nc_open(parts[i], NC_NOWRITE, &src[i]), tv;
        if (e != NC_NOERR)
            return cc_error_set(CC_ERR_IO, "%s: %s", parts[i], nc_strerror(e));
        order[2 * i + 1] = i;
        if (nc_inq_varid(src[i], "time", &tv) != NC_NOERR ||
            nc_get_var_double(src[i], tv, &order[2 * i]) != NC_NOERR)
            return cc_error_set(CC_ERR_FORMAT, "%s: no time", parts[i]);
    }
    qsort(order, (size_t)n, 2 * sizeof *order, cmp_day);
    int *s = malloc((size_t)n * sizeof *s); /* sources in date order */
    if (!s)
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", cube);
    for (int i = 0; i < n; i++)
        s[i] = src[(int)order[2 * i + 1]];
    memcpy(src, s, (size_t)n * sizeof *s);
    free(s);
    return CC_OK;
}

/* Defines in dst (in define mode) the dimensions, global attributes and variables
 * of the first part s0; the history-like attributes join all n parts'. */
static cc_status define_like(int *src, int n, int dst, const char *tmp)
{
    cc_status st = CC_OK;
    int s0 = src[0], ndims, nvars, natts, unlim;
    NCK(nc_inq(s0, &ndims, &nvars, &natts, &unlim));
    for (int d = 0; d < ndims; d++) {
        char name[NC_MAX_NAME + 1];
        size_t len;
        int id;
        NCK(nc_inq_dim(s0, d, name, &len));
        NCK(nc_def_dim(dst, name, d == unlim ? NC_UNLIMITED : len, &id));
    }
    for (int a = 0; a < natts; a++) {
        char name[NC_MAX_NAME + 1];
        NCK(nc_inq_attname(s0, NC_GLOBAL, a, name));
        if (!strcmp(name, "history") || !strcmp(name, "inputs")) {
            if ((st = copy_text_joined(src, n, dst, name, 1, tmp)) != CC_OK)
                goto out;
            continue;
        }
        if (!strcmp(name, "parameters") || !strcmp(name, "date_modified") || !strcmp(name, "processor")) {
            if ((st = copy_text_joined(src, n, dst, name, 0, tmp)) != CC_OK)
                goto out;
            continue;
        }
        NCK(nc_copy_att(s0, NC_GLOBAL, name, dst, NC_GLOBAL));
    }
    for (int v = 0; v < nvars; v++) {
        char name[NC_MAX_NAME + 1];
        nc_type ty;
        int nd, dims[NC_MAX_VAR_DIMS], na, id;
        NCK(nc_inq_var(s0, v, name, &ty, &nd, dims, &na));
        NCK(nc_def_var(dst, name, ty, nd, dims, &id));
        if (nd > 0) {
            int storage;
            size_t chunks[NC_MAX_VAR_DIMS];
            NCK(nc_inq_var_chunking(s0, v, &storage, chunks));
            if (storage == NC_CHUNKED)
                NCK(nc_def_var_chunking(dst, id, NC_CHUNKED, chunks));
            int shuffle, deflate, level;
            NCK(nc_inq_var_deflate(s0, v, &shuffle, &deflate, &level));
            if (deflate || shuffle)
                NCK(nc_def_var_deflate(dst, id, shuffle, deflate, level));
        }
        for (int a = 0; a < na; a++) {
            char an[NC_MAX_NAME + 1];
            NCK(nc_inq_attname(s0, v, a, an));
            NCK(nc_copy_att(s0, v, an, dst, id));
        }
    }
    NCK(nc_enddef(dst));
out:
    return st;
}

/* Copies every variable of the n parts (in date order) into dst (in data mode):
 * the time-dependent ones one date per part, the others from the first part. */
static cc_status copy_data(int *src, int n, int dst, const char *tile, const char *tmp, const char *cube)
{
    cc_status st = CC_OK;
    void *buf = NULL;
    int s0 = src[0], ndims, nvars, natts, unlim;
    NCK(nc_inq(s0, &ndims, &nvars, &natts, &unlim));
    for (int v = 0; v < nvars; v++) {
        char name[NC_MAX_NAME + 1];
        nc_type ty;
        int nd, dims[NC_MAX_VAR_DIMS];
        size_t start[NC_MAX_VAR_DIMS] = {0}, count[NC_MAX_VAR_DIMS], tsz, total = 1;
        NCK(nc_inq_var(s0, v, name, &ty, &nd, dims, NULL));
        NCK(nc_inq_type(s0, ty, NULL, &tsz));
        int timed = nd > 0 && dims[0] == unlim;
        for (int d = 0; d < nd; d++) {
            NCK(nc_inq_dimlen(s0, dims[d], &count[d]));
            if (d == 0 && timed)
                count[d] = 1;
            total *= count[d];
        }
        free(buf);
        buf = malloc(total * tsz + 1);
        if (!buf) {
            st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", cube);
            goto out;
        }
        for (int i = 0; i < (timed ? n : 1); i++) {
            int sv;
            size_t sstart[NC_MAX_VAR_DIMS] = {0};
            int snd, sdims[NC_MAX_VAR_DIMS];
            nc_type sty;
            if (nc_inq_varid(src[i], name, &sv) != NC_NOERR ||
                nc_inq_var(src[i], sv, NULL, &sty, &snd, sdims, NULL) != NC_NOERR || sty != ty || snd != nd) {
                st = cc_error_set(CC_ERR_FORMAT, "tile %s: the items' products differ in variable %s", tile, name);
                goto out;
            }
            for (int d = timed; d < nd; d++) {
                size_t l;
                nc_inq_dimlen(src[i], sdims[d], &l);
                if (l != count[d]) {
                    st = cc_error_set(CC_ERR_FORMAT, "tile %s: the items' grids differ (decision 0002)", tile);
                    goto out;
                }
            }
            if (nd == 0)
                NCK(nc_get_var(src[i], sv, buf));
            else
                NCK(nc_get_vara(src[i], sv, sstart, count, buf));
            if (timed)
                start[0] = (size_t)i;
            if (nd == 0)
                NCK(nc_put_var(dst, v, buf));
            else
                NCK(nc_put_vara(dst, v, start, count, buf));
        }
    }
out:
    free(buf);
    return st;
}

static cc_status assemble_tile(run_ctx *c, const char *tile, char **parts, int n, const char *cube)
{
    cc_status st = CC_ERR_IO;
    char tmp[PATH_MAX + 64];
    int *src = calloc((size_t)n, sizeof *src), dst = -1;
    double *order = calloc((size_t)n * 2, sizeof *order);
    if ((st = cc_fs_temp_name(cube, NULL, tmp, sizeof tmp)) != CC_OK)
        goto out;
    struct stat sb;
    if (stat(cube, &sb) == 0 && !(sb.st_mode & 0222)) { /* root may write anything: ask the mode bits */
        st = cc_error_set(CC_ERR_IO, "%s: the tile cube is read-only; refusing to replace it (make it writable "
                                     "or move it away)",
                          cube);
        tmp[0] = '\0';
        goto out;
    }
    if (!src || !order) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", cube);
        goto out;
    }
    for (int i = 0; i < n; i++)
        src[i] = -1;
    if ((st = open_by_date(parts, n, src, order, cube)) != CC_OK)
        goto out;
    cc_fs_abort(tmp); /* a leftover of this process */
    NCK(nc_create(tmp, NC_NETCDF4 | NC_CLOBBER, &dst));
    if ((st = define_like(src, n, dst, tmp)) != CC_OK)
        goto out;
    if ((st = copy_data(src, n, dst, tile, tmp, cube)) != CC_OK)
        goto out;
    NCK(nc_close(dst)); /* on failure dst stays open for the abort below */
    dst = -1;
    st = cc_fs_commit(tmp, cube);
    tmp[0] = '\0'; /* the cube now, or removed */
out:
    cc_cube_nc_discard(dst, tmp); /* a failed write: closed off the disk */
    cc_fs_abort(tmp);
    for (int i = 0; src && i < n; i++)
        if (src[i] >= 0)
            nc_close(src[i]);
    free(src);
    free(order);
    return st;
}

/* Adds to parts (n entries, NULL-terminated capacity n+1) the committed
 * staging files "<tile>_YYYYMMDD.nc" of other jobs; returns the (possibly
 * reallocated) array, or NULL when out of memory (parts freed). */
static char **add_earlier_days(run_ctx *c, const char *tile, char **parts, int *n)
{
    struct dirent **ents = NULL;
    int ne = scandir(c->staging, &ents, NULL, alphasort);
    size_t tl = strlen(tile);
    for (int i = 0; i < ne; i++) {
        const char *nm = ents[i]->d_name;
        char p[PATH_MAX + 80];
        int known = 0;
        if (strlen(nm) == tl + 12 && !strncmp(nm, tile, tl) && nm[tl] == '_' && !strcmp(nm + tl + 9, ".nc")) {
            snprintf(p, sizeof p, "%s/%s", c->staging, nm);
            for (int k = 0; k < *n && !known; k++)
                known = !strcmp(parts[k], p);
            if (!known) {
                char **np = realloc(parts, (size_t)(*n + 2) * sizeof *np);
                if (!np) {
                    for (int k = 0; k < *n; k++)
                        free(parts[k]);
                    free(parts);
                    parts = NULL;
                    *n = 0;
                } else {
                    parts = np;
                    parts[(*n)++] = strdup(p);
                    parts[*n] = NULL;
                }
            }
        }
        free(ents[i]);
        if (!parts) {
            for (int k = i + 1; k < ne; k++)
                free(ents[k]);
            break;
        }
    }
    free(ents);
    return parts;
}

void cc_run_tile_task(run_ctx *c, int t, const char *tile)
{
    double t0 = mono_now();
    run_msg m;
    memset(&m, 0, sizeof m);
    m.kind = M_END_TILE;
    m.index = t;
    if (c->item_fn) { /* cc_run_dispatch */
        int rc = c->tile_fn ? c->tile_fn(c->fn_arg, tile, m.reason, sizeof m.reason) : 0;
        m.status = rc == 0 ? ST_DONE : ST_FAILED;
        m.seconds = mono_now() - t0;
        c->times.t[CC_STAGE_ASSEMBLE] += m.seconds;
        c->times.tiles++;
        cc_run_post_up(c, &m);
        return;
    }
    /* the tile's committed items: all staging files of done items. Every rank
     * knows the items; the done set is what the staging directory holds for
     * the tile's item ids (rank 0 only hands out the task once all are final,
     * and stale files of failed items never exist: only done items commit). */
    char **parts = calloc((size_t)c->tiles[t].nitems + 1, sizeof *parts);
    int n = 0;
    for (int k = c->tile_first[t]; parts && k < c->tile_first[t + 1]; k++) {
        int i = c->tile_item[k];
        char p[PATH_MAX + 80];
        snprintf(p, sizeof p, "%s/%s.nc", c->staging, c->items[i].id);
        if (access(p, F_OK) == 0)
            parts[n++] = strdup(p);
    }
    /* 'cloudless' is a daily product: the days that earlier jobs committed to
     * the same output folder stay in the tile's cube (the daily run appends the
     * new day). */
    if (parts && n > 0 && c->o.product && !strcmp(c->o.product, "cloudless"))
        parts = add_earlier_days(c, tile, parts, &n);
    char cube[PATH_MAX + 32];
    snprintf(cube, sizeof cube, "%s/%s.nc", c->outdir, tile);
    cc_status st = parts && n > 0 ? assemble_tile(c, tile, parts, n, cube)
                                  : cc_error_set(CC_ERR_MISSING, "tile %s: no committed items", tile);
    m.status = st == CC_OK ? ST_DONE : ST_FAILED;
    if (st != CC_OK)
        snprintf(m.reason, sizeof m.reason, "%s", cc_error_message());
    else
        cc_info("tile %s: wrote %s (%d dates)", tile, cube, n);
    for (int i = 0; i < n; i++)
        free(parts[i]);
    free(parts);
    m.seconds = mono_now() - t0;
    c->times.t[CC_STAGE_ASSEMBLE] += m.seconds;
    c->times.tiles++;
    cc_run_post_up(c, &m);
}
