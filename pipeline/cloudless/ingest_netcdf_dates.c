/* The dates of one sensor of a NetCDF series onto the grid, merged into its
 * sensor cube (pipeline/cloudless/ingest_netcdf-impl.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/date.h"
#include "core/log.h"
#include "io/cube.h"
#include "io/landsat/landsat.h"
#include "pipeline/atmos/cloudmask.h"
#include "pipeline/cloudless/ingest.h"
#include "pipeline/cloudless/ingest_netcdf-impl.h"

typedef struct {
    const cc_ncs *s;
    const cc_nc_plan *p;
    const cc_grid *g;    /* the window of the grid that the file covers (or all of it) */
    const cc_grid *full; /* the grid                                 */
    cc_ingest_window win;
    int same_grid, nb, warned;
    size_t npix;
    float *src;     /* [file npix] one slice on the file's grid     */
    float *band;    /* [npix] one slice on g                        */
    float *acq;     /* [npix][nb] one acquisition                   */
    uint8_t *acqm;  /* [npix] its classes                           */
    float *dv;      /* [npix][nb] the day: acquisitions combined    */
    uint8_t *dm;    /* [npix]                                       */
    uint8_t *state; /* [npix] 0 nothing, 1 a value, 2 an observation */
} reader;

static int is_obs(uint8_t c) { return c == CC_CM_CLEAR || c == CC_CM_WATER; }

/* Variable v at time t onto g (warped unless the grids agree). */
static cc_status read_slice(reader *r, int v, int t, const char *method)
{
    const cc_ncs *s = r->s;
    cc_status st = cc_ncs_read(s, v, t, r->same_grid ? r->band : r->src);
    if (st != CC_OK || r->same_grid)
        return st;
    char name[600];
    snprintf(name, sizeof name, "%s: %s", s->path, s->vars[v].name);
    return cc_grid_warp_float(r->src, s->width, s->height, s->gt, s->wkt, r->g, method, name, r->band);
}

/* One acquisition (time index t) into r->acq and r->acqm. */
static cc_status read_acquisition(reader *r, int t)
{
    const cc_nc_plan *p = r->p;
    const size_t npix = r->npix, nb = (size_t)r->nb;
    for (size_t i = 0; i < npix * nb; i++)
        r->acq[i] = NAN;
    const int coarser = fabs(r->s->gt[1]) > fabs(r->g->gt[1]) * (1 + 1e-9);
    for (int k = 0; k < r->nb; k++) {
        if (p->var[k] < 0)
            continue;
        cc_status st = read_slice(r, p->var[k], t, coarser ? "bilinear" : "average");
        if (st != CC_OK)
            return st;
        for (size_t q = 0; q < npix; q++) {
            double v = r->band[q];
            if (p->dn_scale[k] != 0)
                v *= p->dn_scale[k];
            if (p->sensor == CC_SENSOR_LANDSAT)
                v = cc_hls_oli_to_msi(p->oli_band[k], CC_SC_S2A, v); /* the project's harmonisation */
            else if (p->linear[k])
                v = v > 0 ? 10 * log10(v) : NAN;
            r->acq[q * nb + (size_t)k] = (float)v;
        }
    }
    if (p->mask_var >= 0) {
        cc_status st = read_slice(r, p->mask_var, t, "near");
        if (st != CC_OK)
            return st;
        cc_ingest_netcdf_mask(p->mask_kind, r->band, npix, r->acqm);
    } else
        memset(r->acqm, CC_CM_CLEAR, npix);
    return CC_OK;
}

/* The acquisitions ts[0..n) of one day, combined pixel by pixel: the first
 * observation (clear or water), else the first value. */
static cc_status read_day(reader *r, const int *ts, int n)
{
    const size_t npix = r->npix, nb = (size_t)r->nb;
    memset(r->state, 0, npix);
    memset(r->dm, CC_CM_NODATA, npix);
    for (size_t i = 0; i < npix * nb; i++)
        r->dv[i] = NAN;
    for (int a = 0; a < n; a++) {
        cc_status st = read_acquisition(r, ts[a]);
        if (st != CC_OK)
            return st;
        for (size_t q = 0; q < npix; q++) {
            int any = 0;
            for (size_t b = 0; b < nb; b++)
                any |= isfinite(r->acq[q * nb + b]);
            const uint8_t level = !any || r->acqm[q] == CC_CM_NODATA ? 0 : is_obs(r->acqm[q]) ? 2 : 1;
            if (level > r->state[q]) {
                r->state[q] = level;
                r->dm[q] = r->acqm[q];
                memcpy(r->dv + q * nb, r->acq + q * nb, nb * sizeof *r->dv);
            }
        }
    }
    return CC_OK;
}

/* Sentinel-2 without SCL: clearcube's own cloud test when the bands allow
 * (B02, B08 or B8A, B11), else every pixel with a value counts as clear. */
static void own_mask(reader *r, const float *vals, uint8_t *mask)
{
    const size_t npix = r->npix;
    float *planes = r->p->sensor == CC_SENSOR_S2 ? cc_malloc3(npix, CC_CL_NBANDS, sizeof(float)) : NULL;
    cc_cloudmask_input in = {.width = r->g->width, .height = r->g->height, .pixel_size_m = fabs(r->g->gt[1])};
    cc_status st = CC_ERR_MISSING;
    if (planes) {
        for (int k = 0; k < CC_CL_NBANDS; k++) {
            float *pl = planes + (size_t)k * npix;
            int any = 0;
            for (size_t q = 0; q < npix; q++)
                any |= isfinite(pl[q] = vals[q * CC_CL_NBANDS + (size_t)k]);
            if (any)
                in.band[cc_band_index(cc_cl_band_names[k])] = pl;
        }
        cc_cloudmask_options o;
        cc_cloudmask_options_init(&o);
        if (in.band[CC_B02] && (in.band[CC_B08] || in.band[CC_B8A]) && in.band[CC_B11])
            st = cc_cloudmask_compute(&in, &o, mask);
    }
    free(planes);
    if (st == CC_OK)
        return;
    memset(mask, CC_CM_CLEAR, npix);
    if (!r->warned++)
        cc_warn("%s: no cloud mask (SCL / QA) and too few bands for clearcube's cloud test: every pixel with a value "
                "counts as clear until a file with a mask for the same date is ingested", r->s->path);
}

/* The layers of an existing sensor cube: its variable of each band (and the
 * mask); CC_ERR_ARG when its grid is not g. */
static cc_status cube_layers(const cc_ncs *c, const reader *r, int *lv, int *mv)
{
    if (c->width != r->full->width || c->height != r->full->height || !cc_grid_same_gt(c->gt, r->full->gt))
        return cc_error_set(CC_ERR_ARG, "%s: the existing cube's grid (%dx%d) is not this ingest's (%dx%d at the "
                            "same origin): use another --out-dir or --tile", c->path, c->width, c->height,
                            r->full->width, r->full->height);
    for (int k = 0; k < r->nb; k++)
        lv[k] = cc_ncs_find(c, r->p->sensor == CC_SENSOR_S1 ? (k ? "VH" : "VV") : cc_cl_band_names[k]);
    *mv = cc_ncs_find(c, "cloud_mask");
    return CC_OK;
}

/* Date `day` of the existing cube c (if it has it) into vals/mask; 1 if it had it. */
static int cube_day(const cc_ncs *c, const int *lv, int mv, reader *r, long day, float *vals, uint8_t *mask,
                    cc_status *st)
{
    int t = -1;
    for (int i = 0; c && i < c->ntimes && t < 0; i++)
        if (c->day[i] == day)
            t = i;
    if (t < 0)
        return 0;
    const size_t nb = (size_t)r->nb;
    for (int k = 0; k < r->nb && *st == CC_OK; k++) {
        if (lv[k] < 0 || (*st = cc_ncs_read(c, lv[k], t, r->band)) != CC_OK)
            continue;
        for (size_t q = 0; q < r->npix; q++)
            vals[q * nb + (size_t)k] = r->band[q];
    }
    if (mask && mv >= 0 && *st == CC_OK && (*st = cc_ncs_read(c, mv, t, r->band)) == CC_OK)
        for (size_t q = 0; q < r->npix; q++)
            mask[q] = isfinite(r->band[q]) && r->band[q] >= 0 && r->band[q] < CC_CM_NCLASSES ? (uint8_t)r->band[q]
                                                                                                 : CC_CM_NODATA;
    return 1;
}

/* The file's days, sorted, and for each its time indices (by time). */
static cc_status group_days(const cc_ncs *s, long **days, int **first, int **order, int *ndays)
{
    const int n = s->ntimes;
    *days = malloc((size_t)n * sizeof **days);
    *first = malloc((size_t)(n + 1) * sizeof **first);
    *order = malloc((size_t)n * sizeof **order);
    if (!*days || !*first || !*order)
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", s->path);
    for (int i = 0; i < n; i++)
        (*order)[i] = i;
    for (int i = 1; i < n; i++) /* insertion sort by time: a few hundred steps */
        for (int j = i; j > 0 && s->epoch_s[(*order)[j]] < s->epoch_s[(*order)[j - 1]]; j--) {
            int x = (*order)[j];
            (*order)[j] = (*order)[j - 1], (*order)[j - 1] = x;
        }
    *ndays = 0;
    for (int i = 0; i < n; i++)
        if (i == 0 || s->day[(*order)[i]] != (*days)[*ndays - 1]) {
            (*days)[*ndays] = s->day[(*order)[i]];
            (*first)[(*ndays)++] = i;
        }
    (*first)[*ndays] = n;
    return CC_OK;
}

static cc_status reader_init(reader *r, const cc_ncs *s, const cc_nc_plan *p, const cc_grid *g, const cc_grid *full,
                             const cc_ingest_window *win)
{
    memset(r, 0, sizeof *r);
    r->s = s, r->p = p, r->g = g, r->full = full, r->win = *win;
    r->nb = p->sensor == CC_SENSOR_S1 ? CC_CL_NS1 : CC_CL_NBANDS;
    r->npix = cc_grid_npix(g);
    r->same_grid = s->width == g->width && s->height == g->height && cc_grid_same_gt(s->gt, g->gt) &&
                   !strcmp(s->wkt, g->wkt);
    const size_t nb = (size_t)r->nb;
    r->src = cc_malloc3((size_t)s->width, (size_t)s->height, sizeof(float));
    r->band = cc_malloc3(r->npix, 1, sizeof(float));
    r->acq = cc_malloc3(r->npix, nb, sizeof(float));
    r->dv = cc_malloc3(r->npix, nb, sizeof(float));
    r->acqm = cc_malloc3(r->npix, 1, 1);
    r->dm = cc_malloc3(r->npix, 1, 1);
    r->state = cc_malloc3(r->npix, 1, 1);
    if (!r->src || !r->band || !r->acq || !r->dv || !r->acqm || !r->dm || !r->state)
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory for a %dx%d grid", s->path, g->width, g->height);
    return CC_OK;
}

static void reader_free(reader *r)
{
    free(r->src), free(r->band), free(r->acq), free(r->dv), free(r->acqm), free(r->dm), free(r->state);
}

/* Days [d0, d1) of the file into vals/mask (merged with the cube c), then written. */
static cc_status do_batch(reader *r, const cc_ncs *c, const long *days, const int *first, const int *order, int d0,
                          int d1, float *vals, uint8_t *mask, const char *tile, const char *dir)
{
    const cc_nc_plan *p = r->p;
    const size_t npix = r->npix, nb = (size_t)r->nb, nd = (size_t)(d1 - d0);
    int lv[CC_CL_NBANDS], mv = -1;
    cc_status st = c ? cube_layers(c, r, lv, &mv) : CC_OK;
    for (size_t i = 0; i < nd * npix * nb; i++)
        vals[i] = NAN;
    if (mask)
        memset(mask, CC_CM_NODATA, nd * npix);
    for (int d = d0; d < d1 && st == CC_OK; d++) {
        float *v = vals + (size_t)(d - d0) * npix * nb;
        uint8_t *m = mask ? mask + (size_t)(d - d0) * npix : NULL;
        const int had = cube_day(c, lv, mv, r, days[d], v, m, &st);
        if (st != CC_OK || (st = read_day(r, order + first[d], first[d + 1] - first[d])) != CC_OK)
            break;
        for (int k = 0; k < r->nb; k++)
            if (p->var[k] >= 0)
                for (size_t q = 0; q < npix; q++)
                    v[q * nb + (size_t)k] = r->dv[q * nb + (size_t)k];
        if (m && p->mask_var >= 0)
            memcpy(m, r->dm, npix);
        else if (m && !had)
            own_mask(r, v, m);
    }
    if (st != CC_OK)
        return st;
    cc_cube_sensor_args ca = {.dir = dir, .tile = tile, .sensor = (cc_sensor)p->sensor, .width = r->full->width,
                              .height = r->full->height, .wkt = r->full->wkt, .ndates = (int)nd, .days = days + d0,
                              .values = vals, .mask = mask, .inputs = r->s->path, .x0 = r->win.x0,
                              .y0 = r->win.y0, .win_width = r->g->width, .win_height = r->g->height};
    memcpy(ca.gt, r->full->gt, sizeof ca.gt);
    return cc_cube_write_sensor(&ca);
}

/* The window of g that the file covers, when its dates all come after the
 * cube's last (the streaming appender writes them window by window); else
 * the whole grid (a date merged into the cube's, or before its last: the
 * copy path holds whole planes anyway). 0: the file does not reach g. */
static int series_window(const cc_ncs *s, const cc_grid *g, const char *cube, long first_day, cc_ingest_window *win)
{
    const int fp = cc_ingest_window_enabled() ? cc_ingest_footprint(s->gt, s->width, s->height, s->wkt, g, 2, win)
                                              : -1;
    if (fp <= 0) {
        *win = (cc_ingest_window){0, 0, g->width, g->height};
        return fp;
    }
    int n = 0;
    double *cd = NULL;
    if (access(cube, F_OK) == 0 && cc_cube_dates(cube, &n, &cd) == CC_OK && n > 0 && !(first_day > cd[n - 1])) {
        cc_info("%s: dates merged into the cube's or before its last: read onto the whole %d x %d grid", s->path,
                g->width, g->height);
        *win = (cc_ingest_window){0, 0, g->width, g->height};
    }
    cc_error_clear();
    free(cd);
    return 1;
}

cc_status cc_ingest_netcdf_sensor(const cc_ncs *s, const cc_nc_plan *p, const cc_grid *g, const char *tile,
                                  const char *dir, size_t batch_bytes, int *ndates)
{
    reader r;
    long *days = NULL;
    int *first = NULL, *order = NULL, nd = 0;
    float *vals = NULL;
    uint8_t *mask = NULL;
    cc_ncs *c = NULL;
    char cube[4096];
    cc_ingest_window win;
    cc_grid gw;
    memset(&r, 0, sizeof r);
    cc_cube_sensor_path(cube, sizeof cube, dir, tile, (cc_sensor)p->sensor);
    cc_status st = group_days(s, &days, &first, &order, &nd);
    if (st != CC_OK)
        goto out;
    const int fp = series_window(s, g, cube, nd > 0 ? days[0] : 0, &win);
    if (fp == 0) { /* never an all-fill date in a cube */
        st = cc_error_set(CC_ERR_NODATA, "%s: the series does not overlap the grid (%d x %d)", s->path, g->width,
                          g->height);
        goto out;
    }
    cc_ingest_subgrid(g, &win, &gw);
    /* the working set at the window's size (issue 17), before anything is
     * allocated: a band, an acquisition and the day (values and classes),
     * the writer's DN planes, a batch of dates (capped by batch_bytes) and
     * one slice of the file */
    const size_t nbw = p->sensor == CC_SENSOR_S1 ? CC_CL_NS1 : CC_CL_NBANDS, wpix = cc_grid_npix(&gw);
    const size_t wday = wpix * nbw * sizeof(float), wbatch = batch_bytes / wday > 0 ? batch_bytes / wday : 1;
    char what[160];
    snprintf(what, sizeof what, "ingesting a %d x %d window of a %d x %d grid", gw.width, gw.height, g->width,
             g->height);
    if (cc_mem_check(cc_ingest_window_bytes(g, &win, 4.0 + 8.0 * nbw + 3 + 2.0 * (nbw + 1)) +
                         (unsigned long long)((size_t)nd < wbatch ? (size_t)nd : wbatch) * (wday + wpix) +
                         (unsigned long long)s->width * (unsigned long long)s->height * sizeof(float),
                     s->path, what) != CC_OK) {
        st = CC_ERR_NOMEM;
        goto out;
    }
    if ((st = reader_init(&r, s, p, &gw, g, &win)) != CC_OK)
        goto out;
    const size_t per_day = r.npix * (size_t)r.nb * sizeof(float);
    const int batch = (int)(batch_bytes / per_day > (size_t)nd ? (size_t)nd : batch_bytes / per_day > 0
                                                                                 ? batch_bytes / per_day : 1);
    if (!(vals = cc_malloc3((size_t)batch * r.npix, (size_t)r.nb, sizeof(float))) ||
        (p->sensor != CC_SENSOR_S1 && !(mask = cc_malloc3((size_t)batch, r.npix, 1)))) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory for %d dates of a %dx%d grid", s->path, batch, gw.width,
                          gw.height);
        goto out;
    }
    for (int d0 = 0; d0 < nd && st == CC_OK; d0 += batch) {
        const int d1 = d0 + batch < nd ? d0 + batch : nd;
        if (access(cube, F_OK) == 0 && (st = cc_ncs_open(cube, &c)) != CC_OK)
            break;
        st = do_batch(&r, c, days, first, order, d0, d1, vals, mask, tile, dir);
        cc_ncs_close(c);
        c = NULL;
    }
    if (st == CC_OK) {
        char a[CC_DATE_ISO_SIZE], b[CC_DATE_ISO_SIZE];
        cc_date_format(days[0], a);
        cc_date_format(days[nd - 1], b);
        cc_info("%s: %s, %d band(s)%s: %d date(s) from %d acquisition(s), %s .. %s", s->path,
                cc_sensor_name((cc_sensor)p->sensor), p->nbands,
                p->mask_kind == CC_NC_MASK_SCL ? " + SCL" : p->mask_var >= 0 ? " + QA" : "", nd, s->ntimes, a, b);
        *ndates = nd;
    }
out:
    cc_ncs_close(c);
    reader_free(&r);
    free(days), free(first), free(order), free(vals), free(mask);
    return st;
}
