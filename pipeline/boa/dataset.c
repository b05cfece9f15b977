/* `clearcube dataset`: training patches for an L1C -> L2A emulator.
 * Sources of three kinds (the config: dataset_config.c; the Sen2Cor L2A reader
 * and the SMAC forward model: dataset_l2a.c), 128x128 patches of the 12 L2A
 * bands, one HDF5 file written atomically. Format: docs/formats/dataset.md. */
#define _GNU_SOURCE /* M_PI, clock_gettime */
#include "pipeline/boa/dataset-impl.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hdf5.h>

#include "core/alloc.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/reflectance.h"
#include "io/s2/scene.h"
#include "io/grid/grid.h"
#include "pipeline/atmos/reference.h"
#include "kernels/smac/smac.h"
#include "pipeline/atmos/atmos.h"
#include "pipeline/boa/boa.h"

#define P CC_DATASET_PATCH
#define NB CC_L2A_NBANDS
#define PP ((size_t)P * P)
#define has_bands cc_dataset_has_l2a_bands

/* ------------------------------------------------------------------ HDF5 writer */

typedef struct {
    hid_t f, l1c, l2a, ctx, cpx, scene, split, kind;
    hsize_t n;
} h5w;

static hid_t mkds(hid_t f, const char *name, hid_t type, int rank, const hsize_t *row, hsize_t chunk0)
{
    hsize_t dims[4] = {0}, maxd[4], chunk[4];
    maxd[0] = H5S_UNLIMITED;
    chunk[0] = chunk0;
    for (int i = 1; i < rank; i++) {
        dims[i] = maxd[i] = chunk[i] = row[i - 1];
    }
    hid_t sp = H5Screate_simple(rank, dims, maxd);
    hid_t pl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(pl, rank, chunk);
    H5Pset_deflate(pl, 1);
    hid_t d = H5Dcreate2(f, name, type, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
    H5Pclose(pl);
    H5Sclose(sp);
    return d;
}

static int h5_append(hid_t d, int rank, hsize_t n, const hsize_t *row, hid_t memtype, const void *buf)
{
    hsize_t dims[4], start[4] = {0}, count[4];
    dims[0] = n + 1;
    start[0] = n;
    count[0] = 1;
    for (int i = 1; i < rank; i++)
        dims[i] = count[i] = row[i - 1];
    if (H5Dset_extent(d, dims) < 0)
        return -1;
    hid_t fs = H5Dget_space(d);
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    hid_t ms = H5Screate_simple(rank, count, NULL);
    herr_t e = H5Dwrite(d, memtype, ms, fs, H5P_DEFAULT, buf);
    H5Sclose(ms);
    H5Sclose(fs);
    return e < 0 ? -1 : 0;
}

static cc_status writer_open(h5w *w, const char *tmp, const char *out)
{
    memset(w, 0, sizeof *w);
    w->f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (w->f < 0)
        return cc_error_set(CC_ERR_IO, "%s: cannot create the output (%s)", out,
                            errno ? strerror(errno) : "HDF5 create failed");
    hsize_t img[3] = {P, P, NB}, ctx[1] = {CC_DATASET_NCTX}, cimg[3] = {P, P, CC_DATASET_NCTX};
    w->l1c = mkds(w->f, "l1c", H5T_STD_U16LE, 4, img, 1);
    w->cpx = mkds(w->f, "context_px", H5T_STD_U16LE, 4, cimg, 1);
    w->l2a = mkds(w->f, "l2a", H5T_STD_U16LE, 4, img, 1);
    w->ctx = mkds(w->f, "context", H5T_IEEE_F32LE, 2, ctx, 256);
    w->scene = mkds(w->f, "scene", H5T_STD_I32LE, 1, NULL, 1024);
    w->split = mkds(w->f, "split", H5T_STD_U8LE, 1, NULL, 1024);
    w->kind = mkds(w->f, "kind", H5T_STD_U8LE, 1, NULL, 1024);
    if (w->l1c < 0 || w->l2a < 0 || w->ctx < 0 || w->cpx < 0 || w->scene < 0 || w->split < 0 || w->kind < 0)
        return cc_error_set(CC_ERR_IO, "%s: cannot create the HDF5 datasets", out);
    return CC_OK;
}

static void writer_close(h5w *w)
{
    hid_t *ids[] = {&w->l1c, &w->l2a, &w->ctx, &w->cpx, &w->scene, &w->split, &w->kind};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (*ids[i] > 0)
            H5Dclose(*ids[i]), *ids[i] = 0;
    if (w->f > 0)
        H5Fclose(w->f), w->f = 0;
}

static cc_status writer_add(h5w *w, const char *out, const uint16_t *l1c, const uint16_t *l2a,
                            const float *ctx, const uint16_t *cpx, int scene, int split, int kind)
{
    hsize_t img[3] = {P, P, NB}, cr[1] = {CC_DATASET_NCTX}, cimg[3] = {P, P, CC_DATASET_NCTX};
    int32_t sc = scene;
    uint8_t sp = (uint8_t)split, kd = (uint8_t)kind;
    if (h5_append(w->l1c, 4, w->n, img, H5T_NATIVE_UINT16, l1c) || h5_append(w->l2a, 4, w->n, img, H5T_NATIVE_UINT16, l2a) ||
        h5_append(w->ctx, 2, w->n, cr, H5T_NATIVE_FLOAT, ctx) ||
        h5_append(w->cpx, 4, w->n, cimg, H5T_NATIVE_UINT16, cpx) || h5_append(w->scene, 1, w->n, NULL, H5T_NATIVE_INT32, &sc) ||
        h5_append(w->split, 1, w->n, NULL, H5T_NATIVE_UINT8, &sp) ||
        h5_append(w->kind, 1, w->n, NULL, H5T_NATIVE_UINT8, &kd))
        return cc_error_set(CC_ERR_IO, "%s: cannot write patch %llu (disk full?)", out, (unsigned long long)w->n);
    w->n++;
    return CC_OK;
}

static hid_t vlen_str_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

static int attr_str(hid_t obj, const char *name, const char *val)
{
    hid_t t = vlen_str_type(), sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t e = a < 0 ? -1 : H5Awrite(a, t, &val);
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    return e < 0 ? -1 : 0;
}

static int attr_int(hid_t obj, const char *name, int v)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t e = a < 0 ? -1 : H5Awrite(a, H5T_NATIVE_INT, &v);
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    return e < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------ patches */

/* deterministic random numbers: splitmix64 */
static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static double urand(uint64_t *s, double lo, double hi)
{
    *s = mix64(*s);
    return lo + (hi - lo) * ((double)(*s >> 11) * (1.0 / 9007199254740992.0));
}
static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

typedef struct {
    double sz, sa, vz, va, aot, wv, p_hpa, o3;
} ds_atmos;

static void context_of(const ds_atmos *a, float ctx[CC_DATASET_NCTX])
{
    const double d2r = M_PI / 180.0;
    ctx[0] = (float)cos(a->sz * d2r);
    ctx[1] = (float)cos(a->vz * d2r);
    ctx[2] = (float)cos((a->sa - a->va) * d2r);
    ctx[3] = (float)a->aot;
    ctx[4] = (float)a->wv;
    ctx[5] = (float)(a->p_hpa / 1013.25);
    ctx[6] = (float)(a->o3 > 0 ? a->o3 : CC_ATMOS_DEFAULT_UO3);
}

/* Per-pixel context features (round(feature * 10000), the emulator's input)
 * of a patch: the patch context, with the per-pixel water vapour wv_px (g
 * cm-2, full grid g, NaN: the patch value) where given. */
static void context_px_of(const float ctx[CC_DATASET_NCTX], const float *wv_px, const cc_grid *g, int x0, int y0,
                          const uint8_t *valid, uint16_t *cpx)
{
    for (int r = 0; r < P; r++)
        for (int c = 0; c < P; c++) {
            size_t pi = (size_t)r * P + c;
            uint16_t *o = cpx + pi * CC_DATASET_NCTX;
            if (!valid[pi]) {
                memset(o, 0, CC_DATASET_NCTX * sizeof *o);
                continue;
            }
            double wv = ctx[4];
            if (wv_px) {
                float v = wv_px[(size_t)(y0 + r) * g->width + (x0 + c)];
                if (!isnan(v))
                    wv = v;
            }
            cc_boa_context bc = {.mu_s = ctx[0], .mu_v = ctx[1], .cos_raa = ctx[2], .aot550 = ctx[3], .wv = wv,
                                 .p_rel = ctx[5], .o3 = ctx[6]};
            float f[CC_BOA_NCTX];
            cc_boa_context_features(&bc, f);
            for (int q = 0; q < CC_DATASET_NCTX; q++)
                o[q] = (uint16_t)lround(f[q] * 10000.0);
        }
}

/* Random atmosphere and geometry of variant v of patch `patch` (documented ranges). */
static void draw_atmos(uint64_t source_seed, size_t patch, int v, ds_atmos *a)
{
    uint64_t s = mix64(source_seed ^ mix64((uint64_t)patch * 100003ULL + (uint64_t)v));
    a->aot = exp(urand(&s, log(0.02), log(0.6)));
    a->wv = urand(&s, 0.3, 4.0);
    a->sz = urand(&s, 20.0, 70.0);
    a->vz = urand(&s, 0.0, 11.0);
    double raa = urand(&s, 0.0, 180.0);
    a->sa = urand(&s, 90.0, 270.0);
    a->va = a->sa - raa;
    a->p_hpa = cc_smac_pressure_from_elevation(urand(&s, 0.0, 2500.0));
    a->o3 = CC_ATMOS_DEFAULT_UO3; /* the forward model's ozone (cc_dataset_forward_init) */
}

/* Patch-mean angles (cc_dataset_region_angles over the patch). */
static void patch_angles(const cc_scene *s, const cc_grid *g, int x0, int y0, ds_atmos *a)
{
    cc_dataset_region_angles(s, g, x0, y0, P, P, &a->sz, &a->sa, &a->vz, &a->va);
}

/* Copies a patch of 12 full-grid bands into channels-last `out`, and clears
 * `valid` where a pixel is outside the grid or nodata in any band. */
static void gather(uint16_t *const full[NB], const cc_grid *g, int x0, int y0, uint16_t *out, uint8_t *valid)
{
    for (int r = 0; r < P; r++)
        for (int c = 0; c < P; c++) {
            size_t pi = (size_t)r * P + c;
            uint16_t *o = out + pi * NB;
            int col = x0 + c, row = y0 + r;
            if (col >= g->width || row >= g->height) {
                memset(o, 0, NB * sizeof *o);
                valid[pi] = 0;
                continue;
            }
            size_t i = (size_t)row * g->width + col;
            for (int k = 0; k < NB; k++) {
                o[k] = full[k][i];
                if (!o[k])
                    valid[pi] = 0;
            }
        }
}

/* Zeroes invalid pixels in both patches; returns the number of valid pixels. */
static size_t apply_mask(uint16_t *l1c, uint16_t *l2a, const uint8_t *valid)
{
    size_t nv = 0;
    for (size_t pi = 0; pi < PP; pi++) {
        if (valid[pi]) {
            nv++;
            continue;
        }
        memset(l1c + pi * NB, 0, NB * sizeof *l1c);
        memset(l2a + pi * NB, 0, NB * sizeof *l2a);
    }
    return nv;
}

#define MIN_VALID (PP / 2)

typedef struct {
    const cc_dataset_config *c;
    h5w *w;
    const char *out;
    cc_dataset_summary *sum;
    int scene_idx;
    uint16_t *p1, *p2; /* patch buffers P*P*NB */
    uint8_t *valid;
    uint16_t *cpx;     /* P*P*NCTX */
    const ds_source *src;
} run_ctx;

static cc_status emit_patch(run_ctx *rc, const ds_source *src, const uint16_t *l1c, const uint16_t *l2a,
                            const float ctx[CC_DATASET_NCTX], const uint16_t *cpx)
{
    cc_status st = writer_add(rc->w, rc->out, l1c, l2a, ctx, cpx, rc->scene_idx, src->split, src->kind);
    if (st == CC_OK) {
        rc->sum->n_patches++;
        if (src->split)
            rc->sum->n_val++;
        else
            rc->sum->n_train++;
        rc->sum->n_kind[src->kind]++;
    }
    return st;
}

/* A patch of a read source (p1/p2/valid): the patch context, per-pixel water
 * vapour from wv_px (full grid g) when given. */
static cc_status emit(run_ctx *rc, const ds_source *src, const ds_atmos *a, const float *wv_px, const cc_grid *g,
                      int x0, int y0)
{
    float ctx[CC_DATASET_NCTX];
    context_of(a, ctx);
    context_px_of(ctx, wv_px, g, x0, y0, rc->valid, rc->cpx);
    return emit_patch(rc, src, rc->p1, rc->p2, ctx, rc->cpx);
}

/* kind simulated: the callback of cc_dataset_simulate */
static cc_status emit_sim(void *vrc, const uint16_t *l1c, const uint16_t *l2a, const uint16_t *cpx,
                          const float ctx[CC_DATASET_NCTX])
{
    run_ctx *rc = vrc;
    return emit_patch(rc, rc->src, l1c, l2a, ctx, cpx);
}

static cc_status open_scene(const ds_source *src, int l2a, cc_scene **s)
{
    cc_scene_options o;
    cc_scene_options_init(&o);
    o.bands = l2a ? src->l2a_bands : src->bands;
    o.spacecraft = src->spacecraft;
    o.date = src->date;
    o.sun_zenith = src->sun_zenith;
    o.sun_azimuth = src->sun_azimuth;
    o.view_zenith = src->view_zenith;
    o.view_azimuth = src->view_azimuth;
    o.dn_offset = l2a ? src->l2a_dn_offset : src->dn_offset;
    if (src->kind == CC_DS_SEN2COR_L2A) {
        /* angles only matter for the real-atmosphere variant; placeholders
         * let a stack without them open (its random variants draw their own) */
        if (isnan(o.sun_zenith)) o.sun_zenith = 45;
        if (isnan(o.sun_azimuth)) o.sun_azimuth = 150;
        if (isnan(o.view_zenith)) o.view_zenith = 5;
        if (isnan(o.view_azimuth)) o.view_azimuth = 100;
    }
    return cc_scene_open(l2a ? src->l2a_path : src->path, &o, s);
}

static cc_status skip_or_fail(const run_ctx *rc, int i, const ds_source *src, const char *miss)
{
    if (rc->c->missing_bands_error)
        return cc_error_set(CC_ERR_MISSING, "%s: sources[%d] (%s): lacks band(s) %s of the 12 L2A bands", src->path,
                            i, src->scene, miss);
    cc_warn("%s: sources[%d] (%s) lacks band(s) %s of the 12 L2A bands: skipped", src->path, i, src->scene, miss);
    rc->sum->n_sources_skipped++;
    return CC_OK;
}

/* kind reference and pair: real L1C, targets from cc_reference_run or the real L2A */
static cc_status run_l1c_source(run_ctx *rc, int i, const ds_source *src)
{
    cc_status st;
    cc_scene *s = NULL, *s2 = NULL;
    cc_reference_result r;
    memset(&r, 0, sizeof r);
    uint16_t *l1c[NB] = {0}, *l2a[NB] = {0};
    float *tmp = NULL;
    char miss[64];
    if ((st = open_scene(src, 0, &s)) != CC_OK)
        goto out;
    if (s->level != CC_LEVEL_L1C) {
        st = cc_error_set(CC_ERR_ARG, "%s: sources[%d]: input is Level-2A; kind %s needs L1C", src->path, i,
                          cc_dataset_kind_names[src->kind]);
        goto out;
    }
    if (!has_bands(s, miss, sizeof miss)) {
        st = skip_or_fail(rc, i, src, miss);
        goto out;
    }
    if (src->kind == CC_DS_PAIR) {
        if ((st = open_scene(src, 1, &s2)) != CC_OK)
            goto out;
        if (!has_bands(s2, miss, sizeof miss)) {
            st = skip_or_fail(rc, i, src, miss);
            goto out;
        }
    }
    cc_reference_options ro;
    cc_reference_options_init(&ro);
    ro.aot550 = src->aot;
    ro.water_vapour = src->water_vapour;
    ro.elevation_m = src->elevation;
    if ((st = cc_reference_run(s, &ro, &r)) != CC_OK)
        goto out;
    const cc_grid *g = &r.grid;
    size_t n = cc_grid_npix(g);
    if (!(tmp = cc_malloc3(n, sizeof(float), 1))) {
        st = CC_ERR_NOMEM;
        goto out;
    }
    for (int k = 0; k < NB; k++) {
        int b = cc_l2a_bands[k];
        if (!(l1c[k] = cc_malloc3(n, sizeof(uint16_t), 1)) || !(l2a[k] = cc_malloc3(n, sizeof(uint16_t), 1))) {
            st = CC_ERR_NOMEM;
            goto out;
        }
        if ((st = cc_dataset_band_dn(s, b, g, tmp, l1c[k])) != CC_OK)
            goto out;
        if (src->kind == CC_DS_PAIR) {
            if ((st = cc_dataset_band_dn(s2, b, g, tmp, l2a[k])) != CC_OK)
                goto out;
        } else {
            int ok = -1;
            for (int j = 0; j < r.nbands; j++)
                if (r.band[j] == b)
                    ok = j;
            if (ok < 0) {
                st = cc_error_set(CC_ERR_MISSING, "%s: reference output lacks band %s", src->path, cc_band_names[b]);
                goto out;
            }
            for (size_t q = 0; q < n; q++) {
                uint16_t v = r.boa[ok][q];
                if (!v) {
                    l2a[k][q] = 0;
                    continue;
                }
                long dn = (long)v - lround(r.dn_offset) + CC_DATASET_DN_OFFSET; /* same rho, new offset */
                l2a[k][q] = cc_refl_dn_round((double)dn);
            }
        }
    }
    ds_atmos a = {.aot = r.aot550, .wv = r.water_vapour, .p_hpa = r.pressure_hpa, .o3 = r.ozone};
    /* the reference's own per-pixel water vapour (its WVP layer), the emulator's input */
    for (size_t q = 0; q < n; q++)
        tmp[q] = r.wvp && r.wvp[q] ? (float)(r.wvp[q] * 1e-3) : NAN;
    size_t kept = 0;
    for (int y0 = 0; y0 < g->height; y0 += P)
        for (int x0 = 0; x0 < g->width; x0 += P) {
            memset(rc->valid, 1, PP);
            gather(l1c, g, x0, y0, rc->p1, rc->valid);
            gather(l2a, g, x0, y0, rc->p2, rc->valid);
            if (apply_mask(rc->p1, rc->p2, rc->valid) < MIN_VALID)
                continue;
            patch_angles(s, g, x0, y0, &a);
            if ((st = emit(rc, src, &a, tmp, g, x0, y0)) != CC_OK)
                goto out;
            kept++;
        }
    cc_info("%s: sources[%d] (%s, %s, %s): %zu patches from a %dx%d grid; %s", src->path, i, src->scene,
            cc_dataset_kind_names[src->kind], src->split ? "val" : "train", kept, g->width, g->height, r.parameters);
    rc->sum->n_sources_used++;
    st = CC_OK;
out:
    for (int k = 0; k < NB; k++) {
        free(l1c[k]);
        free(l2a[k]);
    }
    free(tmp);
    cc_reference_result_free(&r);
    cc_scene_free(s);
    cc_scene_free(s2);
    return st;
}

/* SMAC forward of one patch: l2a patch in rc->p2, valid mask, into rc->p1.
 * aot/wv NULL: uniform atmosphere `a`; else per-pixel layers (full grid). */
static void forward_patch(run_ctx *rc, cc_spacecraft sc, const ds_atmos *a, const float *aot, const float *wv,
                          const cc_grid *g, int x0, int y0)
{
    cc_dataset_forward f;
    cc_dataset_forward_init(&f, sc, a->sz, a->sa, a->vz, a->va, a->p_hpa, a->aot, a->wv);
#pragma omp parallel for schedule(static)
    for (int r = 0; r < P; r++)
        for (int c = 0; c < P; c++) {
            size_t pi = (size_t)r * P + c;
            uint16_t *o = rc->p1 + pi * NB;
            if (!rc->valid[pi]) {
                memset(o, 0, NB * sizeof *o);
                continue;
            }
            size_t i = (size_t)(y0 + r) * g->width + (x0 + c);
            cc_dataset_forward_pixel(&f, aot ? aot[i] : NAN, aot ? wv[i] : NAN, rc->p2 + pi * NB, 1, o, 1);
        }
}

/* kind sen2cor-l2a: real L2A -> SIMULATED L1C */
static cc_status run_l2a_source(run_ctx *rc, int i, const ds_source *src)
{
    cc_status st;
    cc_scene *s = NULL;
    cc_dataset_l2a l2;
    memset(&l2, 0, sizeof l2);
    char miss[64];
    if ((st = open_scene(src, 0, &s)) != CC_OK)
        goto out;
    if (s->level != CC_LEVEL_L2A) {
        st = cc_error_set(CC_ERR_ARG,
                          "%s: sources[%d]: not recognised as Level-2A (no SCL/AOT/WVP layer, no L2A/MSIL2A/BOA "
                          "token in the name); kind sen2cor-l2a needs Sen2Cor L2A", src->path, i);
        goto out;
    }
    if (!has_bands(s, miss, sizeof miss)) {
        st = skip_or_fail(rc, i, src, miss);
        goto out;
    }
    if (!cc_smac_coefs_get(s->spacecraft, CC_B02)) {
        st = cc_error_set(CC_ERR_ARG, "%s: sources[%d]: spacecraft unknown (set spacecraft: S2A|S2B|S2C)", src->path, i);
        goto out;
    }
    int real = src->real_atmosphere && s->aot.present && s->wvp.present && !isnan(src->sun_zenith) &&
               !isnan(src->sun_azimuth) && !isnan(src->view_zenith) && !isnan(src->view_azimuth);
    if (src->real_atmosphere && !real && src->variants == 0) {
        st = cc_error_set(CC_ERR_MISSING,
                          "%s: sources[%d]: real_atmosphere needs AOT and WVP layers and sun/view angles, and "
                          "variants is 0: nothing to make", src->path, i);
        goto out;
    }
    if (src->real_atmosphere && !real)
        cc_info("%s: sources[%d]: no AOT/WVP layers or angles: random variants only", src->path, i);
    if ((st = cc_dataset_l2a_read(s, real, &l2)) != CC_OK)
        goto out;
    if (real && !l2.aot) {
        real = 0;
        cc_warn("%s: sources[%d]: WVP layer has no valid pixel: random variants only", src->path, i);
    }
    const cc_grid g = l2.grid;
    uint16_t *const *l2a = l2.boa;
    const float *aot = l2.aot, *wv = l2.wv;
    double wv_median = l2.wv_median;
    uint64_t seed = mix64((uint64_t)rc->c->seed ^ hash_str(src->scene) ^ mix64((uint64_t)i + 1));
    double p_real = isnan(src->elevation) ? 1013.25 : cc_smac_pressure_from_elevation(src->elevation);
    size_t kept = 0, patch = 0;
    for (int y0 = 0; y0 < g.height; y0 += P)
        for (int x0 = 0; x0 < g.width; x0 += P, patch++) {
            memset(rc->valid, 1, PP);
            gather(l2a, &g, x0, y0, rc->p2, rc->valid);
            size_t nv = 0;
            for (size_t pi = 0; pi < PP; pi++)
                nv += rc->valid[pi];
            if (nv < MIN_VALID)
                continue;
            apply_mask(rc->p1, rc->p2, rc->valid); /* a pixel is valid in all bands or nodata in all */
            if (real) {
                /* pixels without AOT/WVP are not usable for this variant */
                uint8_t *keep = malloc(PP);
                if (!keep) {
                    st = CC_ERR_NOMEM;
                    goto out;
                }
                memcpy(keep, rc->valid, PP);
                double asum = 0;
                size_t an = 0;
                for (int r = 0; r < P; r++)
                    for (int c = 0; c < P; c++) {
                        size_t pi = (size_t)r * P + c;
                        if (!rc->valid[pi])
                            continue;
                        size_t q = (size_t)(y0 + r) * g.width + (x0 + c);
                        if (isnan(aot[q]) || isnan(wv[q])) {
                            rc->valid[pi] = 0;
                            continue;
                        }
                        asum += aot[q];
                        an++;
                    }
                if (an >= MIN_VALID) {
                    ds_atmos a = {.aot = asum / an, .wv = wv_median, .p_hpa = p_real};
                    patch_angles(s, &g, x0, y0, &a);
                    forward_patch(rc, s->spacecraft, &a, aot, wv, &g, x0, y0);
                    /* p2 is overwritten by apply_mask: keep a copy of the L2A */
                    uint16_t *save = malloc(PP * NB * sizeof *save);
                    if (!save) {
                        free(keep);
                        st = CC_ERR_NOMEM;
                        goto out;
                    }
                    memcpy(save, rc->p2, PP * NB * sizeof *save);
                    apply_mask(rc->p1, rc->p2, rc->valid);
                    st = emit(rc, src, &a, wv, &g, x0, y0);
                    memcpy(rc->p2, save, PP * NB * sizeof *save);
                    free(save);
                    if (st != CC_OK) {
                        free(keep);
                        goto out;
                    }
                    kept++;
                }
                memcpy(rc->valid, keep, PP);
                free(keep);
            }
            for (int v = 1; v <= src->variants; v++) {
                ds_atmos a;
                draw_atmos(seed, patch, v, &a);
                forward_patch(rc, s->spacecraft, &a, NULL, NULL, &g, x0, y0);
                if ((st = emit(rc, src, &a, NULL, &g, x0, y0)) != CC_OK)
                    goto out;
                kept++;
            }
        }
    cc_info("%s: sources[%d] (%s, sen2cor-l2a -> SIMULATED L1C, %s): %zu patches from a %dx%d grid "
            "(%s real-atmosphere variant, %d random variants per patch)",
            src->path, i, src->scene, src->split ? "val" : "train", kept, g.width, g.height, real ? "with" : "no",
            src->variants);
    rc->sum->n_sources_used++;
    st = CC_OK;
out:
    cc_dataset_l2a_free(&l2);
    cc_scene_free(s);
    return st;
}

/* ------------------------------------------------------------------ build */

/* /library: the spectra (dataset DN), their source (config index, /scenes
 * name in the attribute) and class, and the fill rules. Nothing when empty. */
static int write_library(hid_t f, const cc_dataset_config *c, const ds_library *lib)
{
    if (!lib->n)
        return 0;
    hid_t g = H5Gcreate2(f, "library", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0)
        return -1;
    int bad = 0;
    hsize_t d2[2] = {lib->n, NB}, d1[1] = {lib->n};
    struct { const char *name; hid_t ft, mt; int rank; const void *buf; } ds[] = {
        {"spectra", H5T_STD_U16LE, H5T_NATIVE_UINT16, 2, lib->spec},
        {"source", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, lib->source},
        {"class", H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, lib->cls}};
    for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++) {
        hid_t sp = H5Screate_simple(ds[i].rank, ds[i].rank == 2 ? d2 : d1, NULL);
        hid_t pl = H5Pcreate(H5P_DATASET_CREATE);
        hsize_t ch[2] = {lib->n < 65536 ? lib->n : 65536, NB};
        H5Pset_chunk(pl, ds[i].rank, ch);
        H5Pset_deflate(pl, 1);
        hid_t d = H5Dcreate2(g, ds[i].name, ds[i].ft, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
        bad |= d < 0 || H5Dwrite(d, ds[i].mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, ds[i].buf) < 0;
        if (d >= 0)
            H5Dclose(d);
        H5Pclose(pl);
        H5Sclose(sp);
    }
    char buf[8192];
    size_t len = 0;
    for (int i = 0; i < c->nsrc && len < sizeof buf; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%d=%s (%s)", len ? "," : "", i, c->src[i].scene,
                                cc_dataset_kind_names[c->src[i].kind]);
    bad |= attr_str(g, "sources", buf);
    len = 0;
    for (int k = 0; k < CC_LIB_NCLASS; k++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%d=%s", k ? "," : "", k, cc_library_class_names[k]);
    bad |= attr_str(g, "classes", buf);
    len = (size_t)snprintf(buf, sizeof buf,
                           "bands a source lacks, in this order, by least squares fitted on the library's spectra "
                           "complete as read (reflectance)");
    for (int r = 0; r < CC_LIB_NFILL && len < sizeof buf; r++) {
        const int *pr = cc_library_fill_pred[r];
        len += (size_t)snprintf(buf + len, sizeof buf - len,
                                "; %s = %.5f %+.5f %s %+.5f %s %+.5f %s (fitted on %zu, rmse %.4f, %zu filled)",
                                cc_band_names[cc_l2a_bands[cc_library_fill_target[r]]], lib->fill[r][0],
                                lib->fill[r][1], cc_band_names[cc_l2a_bands[pr[0]]], lib->fill[r][2],
                                cc_band_names[cc_l2a_bands[pr[1]]], lib->fill[r][3],
                                cc_band_names[cc_l2a_bands[pr[2]]], lib->n_fit[r], lib->fill_rmse[r],
                                lib->n_filled[r]);
    }
    bad |= attr_str(g, "fill_rules", buf);
    bad |= attr_str(g, "description", "real surface reflectance spectra (dataset DN, 10000 rho + 1000) of the 12 "
                                      "L2A bands with their source and class; kind simulated draws from them");
    H5Gclose(g);
    return bad ? -1 : 0;
}

static char *provenance(const cc_dataset_config *c)
{
    size_t cap = 4096 + (size_t)c->nsrc * 2048, len = 0;
    char *p = malloc(cap);
    if (!p)
        return NULL;
    len += (size_t)snprintf(p + len, cap - len, "config=%s; seed=%ld; missing_bands=%s; CLEARCUBE_SHARED=%s",
                            c->file, c->seed, c->missing_bands_error ? "error" : "skip", c->shared);
    for (int i = 0; i < c->nsrc && len < cap; i++) {
        const ds_source *s = &c->src[i];
        len += (size_t)snprintf(p + len, cap - len, "\nsources[%d]: scene=%s kind=%s%s split=%s path=%s", i, s->scene,
                                cc_dataset_kind_names[s->kind], s->kind == CC_DS_SEN2COR_L2A ? " (SIMULATED L1C)" : "",
                                s->split ? "val" : "train", s->path);
        if (s->l2a_path && len < cap)
            len += (size_t)snprintf(p + len, cap - len, " l2a_path=%s", s->l2a_path);
        if (s->kind == CC_DS_SEN2COR_L2A && len < cap)
            len += (size_t)snprintf(p + len, cap - len, " variants=%d real_atmosphere=%d", s->variants,
                                    s->real_atmosphere);
        if (!isnan(s->elevation) && len < cap)
            len += (size_t)snprintf(p + len, cap - len, " elevation=%g", s->elevation);
    }
    return p;
}

cc_status cc_dataset_build(const cc_dataset_config *c, const char *out, cc_dataset_summary *sum)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    memset(sum, 0, sizeof *sum);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    cc_status st = CC_OK;
    char tmp[PATH_MAX + 64];
    if ((st = cc_fs_temp_name(out, NULL, tmp, sizeof tmp)) != CC_OK)
        return st;
    struct stat sto;
    if (stat(out, &sto) == 0 && S_ISDIR(sto.st_mode))
        return cc_error_set(CC_ERR_ARG, "%s: is a directory (need an output file name)", out);
    /* scene table: unique names in config order */
    const char **scenes = calloc((size_t)c->nsrc, sizeof *scenes);
    char *prov = provenance(c);
    h5w w;
    memset(&w, 0, sizeof w);
    run_ctx rc = {.c = c, .w = &w, .out = out, .sum = sum};
    rc.p1 = malloc(PP * NB * sizeof(uint16_t));
    rc.p2 = malloc(PP * NB * sizeof(uint16_t));
    rc.valid = malloc(PP);
    rc.cpx = malloc(PP * CC_DATASET_NCTX * sizeof(uint16_t));
    ds_library lib;
    memset(&lib, 0, sizeof lib);
    int created = 0;
    cc_progress *prog = NULL;
    if (!scenes || !prov || !rc.p1 || !rc.p2 || !rc.valid || !rc.cpx) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", out);
        goto out;
    }
    int ns = 0;
    for (int i = 0; i < c->nsrc; i++) {
        int j;
        for (j = 0; j < ns; j++)
            if (!strcmp(scenes[j], c->src[i].scene))
                break;
        if (j == ns)
            scenes[ns++] = c->src[i].scene;
    }
    sum->n_scenes = ns;
    errno = 0;
    st = writer_open(&w, tmp, out);
    created = w.f > 0;
    if (st != CC_OK)
        goto out;
    prog = cc_progress_start("dataset", "sources", (uint64_t)c->nsrc);
    /* the spectral library first (every kind simulated draws from all of it) */
    for (int i = 0; i < c->nsrc; i++) {
        if (c->src[i].kind != CC_DS_LIBRARY)
            continue;
        uint64_t seed = mix64((uint64_t)c->seed ^ hash_str(c->src[i].scene) ^ mix64((uint64_t)i + 1));
        if ((st = cc_library_add(&lib, c, i, seed)) != CC_OK) {
            if (!strstr(cc_error_message(), c->src[i].path))
                cc_error_set(cc_error_status(), "%s: sources[%d] (%s): %s", c->file, i, c->src[i].scene,
                             cc_error_message());
            goto out;
        }
        sum->n_sources_used++;
        cc_progress_add(prog, 1);
    }
    if (lib.n && (st = cc_library_fill(&lib, c->file)) != CC_OK)
        goto out;
    for (int i = 0; i < c->nsrc; i++) {
        const ds_source *src = &c->src[i];
        if (src->kind == CC_DS_LIBRARY)
            continue;
        for (rc.scene_idx = 0; strcmp(scenes[rc.scene_idx], src->scene); rc.scene_idx++)
            ;
        rc.src = src;
        if (src->kind == CC_DS_SIMULATED) {
            uint64_t seed = mix64((uint64_t)c->seed ^ hash_str(src->scene) ^ mix64((uint64_t)i + 1));
            st = cc_dataset_simulate(&lib, c, i, seed, emit_sim, &rc);
            if (st == CC_OK)
                sum->n_sources_used++;
        } else
            st = src->kind == CC_DS_SEN2COR_L2A ? run_l2a_source(&rc, i, src) : run_l1c_source(&rc, i, src);
        if (st != CC_OK) {
            /* kind simulated has no path */
            if ((!src->path || !strstr(cc_error_message(), src->path)) && !strstr(cc_error_message(), c->file))
                cc_error_set(cc_error_status(), "%s: sources[%d] (%s): %s", c->file, i, src->scene,
                             cc_error_message());
            goto out;
        }
        cc_progress_add(prog, 1);
    }
    cc_progress_end(prog);
    prog = NULL;
    if (sum->n_patches == 0) {
        st = cc_error_set(CC_ERR_NODATA, "%s: no patch was produced (%d source(s) skipped, none with >= 50 %% valid "
                                         "pixels in a %dx%d patch)", c->file, sum->n_sources_skipped, P, P);
        goto out;
    }
    /* scenes, attributes */
    {
        hsize_t d = (hsize_t)ns;
        hid_t t = vlen_str_type(), sp = H5Screate_simple(1, &d, NULL);
        hid_t ds = H5Dcreate2(w.f, "scenes", t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        herr_t e = ds < 0 ? -1 : H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, scenes);
        if (ds >= 0)
            H5Dclose(ds);
        H5Sclose(sp);
        H5Tclose(t);
        int bad = e < 0;
        bad |= attr_str(w.f, "format", "clearcube-boa-dataset");
        bad |= attr_int(w.f, "version", 2);
        bad |= attr_str(w.f, "bands", "B01,B02,B03,B04,B05,B06,B07,B08,B8A,B09,B11,B12");
        bad |= attr_int(w.f, "patch_size", P);
        bad |= attr_int(w.f, "dn_offset", CC_DATASET_DN_OFFSET);
        bad |= attr_str(w.f, "context", "mu_s,mu_v,cos_raa,aot550,wv,p_rel,o3");
        bad |= attr_str(w.cpx, "description",
                        "per-pixel context features, round(10000 * feature): MU_S, MU_V, COS_RAA, AOT550, WV_HALF, "
                        "P_REL, O3 (each 'value + 1', pipeline/boa/boa.h); 0 = invalid pixel");
        bad |= write_library(w.f, c, &lib);
        bad |= attr_str(w.f, "provenance", prov);
        bad |= attr_str(w.f, "kinds",
                        "0=reference (real L1C; l2a from the clearcube reference processor),"
                        "1=sen2cor-l2a (SIMULATED L1C: SMAC forward model applied to real Sen2Cor L2A),"
                        "2=pair (real L1C; real Sen2Cor L2A),"
                        "3=library (no patches: real surface spectra in /library),"
                        "4=simulated (SIMULATED L1C: SMAC forward model applied to library spectra over the "
                        "domain; l2a from the reference processor's per-pixel inversion with the context given)");
        bad |= attr_str(w.f, "splits", "0=train,1=val");
        bad |= attr_str(w.l1c, "description",
                        "TOA reflectance DN (10000*rho + 1000, 0 = nodata); patches of kind 1 are SIMULATED L1C");
        bad |= attr_str(w.l2a, "description", "BOA reflectance DN (10000*rho + 1000, 0 = nodata)");
        if (bad) {
            st = cc_error_set(CC_ERR_IO, "%s: cannot write the scene table/attributes", out);
            goto out;
        }
    }
    writer_close(&w);
    created = 0; /* after the commit it is the dataset, or removed */
    st = cc_fs_commit(tmp, out);
out:
    cc_progress_end(prog);
    writer_close(&w);
    if (created)
        cc_fs_abort(tmp);
    free(scenes);
    free(prov);
    free(rc.p1);
    free(rc.p2);
    free(rc.valid);
    free(rc.cpx);
    cc_library_free(&lib);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    sum->seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    return st;
}
