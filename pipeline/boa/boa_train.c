/* Training the Rapid BoA emulator: config, dataset in memory, data-parallel
 * AdamW with a fixed reduction order, checkpoints, evaluation, loss plot.
 * See pipeline/boa/boa_train.h and docs/boa-model.md. */
#define _GNU_SOURCE /* strdup */
#include "pipeline/boa/boa_train.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hdf5.h>
#include <mpi.h>

#include "core/alloc.h"
#include "core/config.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/reflectance.h"
#include "io/model_file.h"
#include "pipeline/report/plot.h"

/* ------------------------------------------------------------------ config */

_Static_assert(sizeof(cc_act) == sizeof(int) && sizeof(cc_loss_kind) == sizeof(int), "enum keys are stored as int");
static const int act_values[] = {CC_ACT_RELU, CC_ACT_LEAKY_RELU, CC_ACT_SILU, CC_ACT_SIGMOID};
static const int loss_values[] = {CC_LOSS_MSE, CC_LOSS_L1, CC_LOSS_HUBER};

#define TO(f) offsetof(cc_boa_train_config, f)
static const cc_config_key tkeys[] = {
    {CC_CFG_KEY("dataset", CC_CFG_PATH, 0, 0, NULL, "training data (HDF5, `clearcube dataset`)", TO(dataset))},
    {CC_CFG_KEY("model", CC_CFG_PATH, 0, 0, NULL, "the trained model file to write (HDF5)", TO(model))},
    {CC_CFG_KEY("checkpoint", CC_CFG_PATH, 0, 0, NULL,
                "checkpoint file (written every checkpoint_every steps; resumed with --resume)", TO(checkpoint))},
    {CC_CFG_KEY("loss_plot", CC_CFG_PATH, 0, 0, NULL, "PNG of the loss and error curves", TO(loss_plot))},
    {CC_CFG_KEY("log", CC_CFG_PATH, 0, 0, NULL, "JSON lines, one per evaluation", TO(log))},
    {CC_CFG_KEY("arch.hidden", CC_CFG_INTLIST, 1, 1024, "[64, 64]", "widths of the hidden 1x1 layers (1..8 layers)",
                TO(arch.hidden)),
     .count_off = TO(arch.nhidden), .nmin = 1, .nmax = CC_BOA_MAX_HIDDEN},
    {CC_CFG_KEY("arch.activation", CC_CFG_CHOICE, 0, 0, "silu", "relu|leaky_relu|silu|sigmoid", TO(arch.act)),
     .choices = "relu|leaky_relu|silu|sigmoid", .values = act_values},
    {CC_CFG_KEY("arch.out_scale", CC_CFG_FLOAT, 1e-4, 10, "0.1",
                "network output x out_scale = correction (reflectance)", TO(arch.out_scale))},
    {CC_CFG_KEY("train.steps", CC_CFG_LONG, 1, 1e9, "20000", "optimiser steps", TO(steps))},
    {CC_CFG_KEY("train.batch", CC_CFG_INT, 16, 1 << 20, "8192", "pixels per step (global batch)", TO(batch))},
    {CC_CFG_KEY("train.chunks", CC_CFG_INT, 1, 256, "8", "micro-batches per step (the unit of data parallelism)",
                TO(chunks))},
    {CC_CFG_KEY("train.lr", CC_CFG_NUM, 1e-7, 1, "0.002", "peak learning rate", TO(lr))},
    {CC_CFG_KEY("train.lr_min", CC_CFG_NUM, 0, 1, "0.00002", "final learning rate (cosine decay)", TO(lr_min))},
    {CC_CFG_KEY("train.warmup", CC_CFG_LONG, 0, 1e9, "500", "linear warm-up steps", TO(warmup))},
    {CC_CFG_KEY("train.weight_decay", CC_CFG_NUM, 0, 1, "0.0001", "AdamW decoupled weight decay", TO(weight_decay))},
    {CC_CFG_KEY("train.loss", CC_CFG_CHOICE, 0, 0, "huber", "mse|l1|huber (on BOA in DN)", TO(loss)),
     .choices = "mse|l1|huber", .values = loss_values},
    {CC_CFG_KEY("train.huber_delta_dn", CC_CFG_NUM, 0.01, 1e4, "10", "Huber threshold in DN", TO(huber_delta_dn))},
    {CC_CFG_KEY("train.seed", CC_CFG_U64, 0, 1e15, "1", "seed of the initial weights and of the pixel draws",
                TO(seed))},
    {CC_CFG_KEY("train.checkpoint_every", CC_CFG_LONG, 1, 1e9, "1000", "steps between checkpoints",
                TO(checkpoint_every))},
    {CC_CFG_KEY("train.eval_every", CC_CFG_LONG, 1, 1e9, "500", "steps between evaluations", TO(eval_every))},
    {CC_CFG_KEY("train.eval_pixels", CC_CFG_INT, 16, 1 << 24, "65536", "pixels of each split used by an evaluation",
                TO(eval_pixels))},
};
#define NTKEYS ((int)(sizeof tkeys / sizeof *tkeys))

void cc_boa_train_config_print_keys(void)
{
    cc_config_print_keys("Config keys (YAML; paths relative to the config's folder):", tkeys, NTKEYS, 22, 1);
}

void cc_boa_train_config_free(cc_boa_train_config *c)
{
    free(c->path);
    cc_config_free(tkeys, NTKEYS, c);
    memset(c, 0, sizeof *c);
}

cc_status cc_boa_train_config_load(const char *path, cc_boa_train_config *c)
{
    memset(c, 0, sizeof *c);
    cc_status st = cc_config_load(path, tkeys, NTKEYS, c, &(cc_config_opts){.see = "clearcube train --help"});
    if (st == CC_OK && c->batch % c->chunks)
        st = cc_error_set(CC_ERR_ARG, "%s: train.batch %d is not a multiple of train.chunks %d", path, c->batch,
                          c->chunks);
    if (st == CC_OK && !(c->path = strdup(path)))
        st = cc_error_set(CC_ERR_NOMEM, "out of memory");
    if (st != CC_OK)
        cc_boa_train_config_free(c);
    return st;
}

/* ----------------------------------------------------------------- dataset */

#define PS 128
#define PPX (PS * PS)
#define NB CC_BOA_NBANDS

typedef struct {
    size_t n;            /* patches */
    uint16_t *l1c, *l2a; /* n * PPX * NB */
    float *ctx;          /* n * nctx (6 in version-1 datasets, 7 with O3)       */
    int nctx;
    uint16_t *cpx;       /* n * PPX * CC_BOA_NCTX per-pixel features * 10000, or NULL (version 1) */
    uint8_t *split, *kind;
    double dn_offset;
    uint32_t *train_px, *val_px; /* (patch << 14) | pixel */
    size_t n_train, n_val;
    uint32_t *val_kind_px[CC_BOA_TRAIN_NKINDS]; /* validation pixels by dataset kind (pipeline/boa/dataset.h) */
    size_t n_val_kind[CC_BOA_TRAIN_NKINDS];
    char *nscenes_text;
} dataset;

static void dataset_free(dataset *d)
{
    free(d->l1c);
    free(d->l2a);
    free(d->ctx);
    free(d->cpx);
    free(d->split);
    free(d->kind);
    free(d->train_px);
    free(d->val_px);
    for (int k = 0; k < CC_BOA_TRAIN_NKINDS; k++)
        free(d->val_kind_px[k]);
    memset(d, 0, sizeof *d);
}

static cc_status read_ds(hid_t f, const char *file, const char *name, hid_t memtype, void *buf, size_t expect)
{
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
    if (ds < 0)
        return cc_error_set(CC_ERR_FORMAT, "%s: dataset /%s missing", file, name);
    hid_t sp = H5Dget_space(ds);
    hssize_t np = H5Sget_simple_extent_npoints(sp);
    H5Sclose(sp);
    cc_status st = CC_OK;
    if (np < 0 || (size_t)np != expect)
        st = cc_error_set(CC_ERR_FORMAT, "%s: /%s has %lld values, expected %zu", file, name, (long long)np, expect);
    else if (H5Dread(ds, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        st = cc_error_set(CC_ERR_IO, "%s: cannot read /%s", file, name);
    H5Dclose(ds);
    return st;
}

static cc_status dataset_load(const char *path, dataset *d)
{
    memset(d, 0, sizeof *d);
    if (access(path, R_OK) != 0)
        return cc_error_set(CC_ERR_IO, "%s: cannot read the dataset: %s", path, strerror(errno));
    hid_t f;
    H5E_BEGIN_TRY { f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT); }
    H5E_END_TRY;
    if (f < 0)
        return cc_error_set(CC_ERR_FORMAT, "%s: not an HDF5 file", path);
    cc_status st = CC_OK;
    hid_t ds = -1, sp = -1;
    H5E_BEGIN_TRY { ds = H5Dopen2(f, "l1c", H5P_DEFAULT); }
    H5E_END_TRY;
    if (ds < 0) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: not a clearcube dataset (no /l1c)", path);
        goto out;
    }
    sp = H5Dget_space(ds);
    hsize_t dims[4] = {0};
    if (H5Sget_simple_extent_ndims(sp) != 4 || H5Sget_simple_extent_dims(sp, dims, NULL) != 4 || dims[1] != PS ||
        dims[2] != PS || dims[3] != NB) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: /l1c must be [N,128,128,12]", path);
        goto out;
    }
    d->n = dims[0];
    if (d->n == 0) {
        st = cc_error_set(CC_ERR_NODATA, "%s: no patches", path);
        goto out;
    }
    d->dn_offset = 1000;
    if (H5Aexists(f, "dn_offset") > 0) {
        hid_t a = H5Aopen(f, "dn_offset", H5P_DEFAULT);
        H5Aread(a, H5T_NATIVE_DOUBLE, &d->dn_offset);
        H5Aclose(a);
    }
    size_t nv = d->n * PPX * NB;
    d->l1c = cc_malloc3(nv, sizeof(uint16_t), 1);
    d->l2a = cc_malloc3(nv, sizeof(uint16_t), 1);
    d->nctx = 6;
    H5E_BEGIN_TRY
    {
        hid_t cd = H5Dopen2(f, "context", H5P_DEFAULT);
        if (cd >= 0) {
            hid_t cs = H5Dget_space(cd);
            hsize_t cdims[2] = {0, 0};
            if (H5Sget_simple_extent_ndims(cs) == 2 && H5Sget_simple_extent_dims(cs, cdims, NULL) == 2 &&
                cdims[1] == CC_BOA_NCTX)
                d->nctx = CC_BOA_NCTX;
            H5Sclose(cs);
            H5Dclose(cd);
        }
    }
    H5E_END_TRY;
    d->ctx = cc_malloc3(d->n * (size_t)d->nctx, sizeof(float), 1);
    d->split = malloc(d->n);
    d->kind = malloc(d->n);
    if (!d->l1c || !d->l2a || !d->ctx || !d->split || !d->kind) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory for %zu patches", path, d->n);
        goto out;
    }
    H5E_BEGIN_TRY
    {
        if ((st = read_ds(f, path, "l1c", H5T_NATIVE_UINT16, d->l1c, nv)) == CC_OK &&
            (st = read_ds(f, path, "l2a", H5T_NATIVE_UINT16, d->l2a, nv)) == CC_OK &&
            (st = read_ds(f, path, "context", H5T_NATIVE_FLOAT, d->ctx, d->n * (size_t)d->nctx)) == CC_OK &&
            (st = read_ds(f, path, "split", H5T_NATIVE_UINT8, d->split, d->n)) == CC_OK)
            st = read_ds(f, path, "kind", H5T_NATIVE_UINT8, d->kind, d->n);
    }
    H5E_END_TRY;
    if (st != CC_OK)
        goto out;
    int has_cpx = 0;
    H5E_BEGIN_TRY { has_cpx = H5Lexists(f, "context_px", H5P_DEFAULT) > 0; }
    H5E_END_TRY;
    if (has_cpx) {
        size_t nc = d->n * PPX * CC_BOA_NCTX;
        if (!(d->cpx = cc_malloc3(nc, sizeof(uint16_t), 1))) {
            st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory for the per-pixel context", path);
            goto out;
        }
        H5E_BEGIN_TRY { st = read_ds(f, path, "context_px", H5T_NATIVE_UINT16, d->cpx, nc); }
        H5E_END_TRY;
        if (st != CC_OK)
            goto out;
    }
    /* valid pixels: every band valid in input and target */
    size_t cap_t = 0, cap_v = 0;
    for (size_t p = 0; p < d->n; p++)
        *(d->split[p] ? &cap_v : &cap_t) += PPX;
    d->train_px = cc_malloc3(cap_t ? cap_t : 1, sizeof(uint32_t), 1);
    d->val_px = cc_malloc3(cap_v ? cap_v : 1, sizeof(uint32_t), 1);
    if (!d->train_px || !d->val_px || d->n >= (1u << 18)) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: too many patches (%zu)", path, d->n);
        goto out;
    }
    for (size_t p = 0; p < d->n; p++)
        for (int i = 0; i < PPX; i++) {
            const uint16_t *a = d->l1c + (p * PPX + i) * NB, *b = d->l2a + (p * PPX + i) * NB;
            int ok = 1;
            for (int k = 0; k < NB; k++)
                ok &= a[k] != 0 && b[k] != 0;
            if (d->cpx)
                ok &= d->cpx[(p * PPX + i) * CC_BOA_NCTX] != 0;
            if (!ok)
                continue;
            uint32_t id = (uint32_t)(p << 14) | (uint32_t)i;
            if (d->split[p])
                d->val_px[d->n_val++] = id;
            else
                d->train_px[d->n_train++] = id;
        }
    for (int k = 0; k < CC_BOA_TRAIN_NKINDS; k++)
        if (!(d->val_kind_px[k] = cc_malloc3(d->n_val ? d->n_val : 1, sizeof(uint32_t), 1))) {
            st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
            goto out;
        }
    for (size_t i = 0; i < d->n_val; i++) {
        int k = d->kind[d->val_px[i] >> 14];
        if (k >= 0 && k < CC_BOA_TRAIN_NKINDS)
            d->val_kind_px[k][d->n_val_kind[k]++] = d->val_px[i];
    }
    if (d->n_train == 0)
        st = cc_error_set(CC_ERR_NODATA, "%s: no valid training pixel", path);
out:
    if (sp >= 0)
        H5Sclose(sp);
    if (ds >= 0)
        H5Dclose(ds);
    H5Fclose(f);
    if (st != CC_OK)
        dataset_free(d);
    return st;
}

/* input features (18) and target BOA reflectance (12) of one pixel */
static void pixel_io(const dataset *d, uint32_t id, float *x, float *t)
{
    size_t p = id >> 14, i = id & (PPX - 1);
    const uint16_t *a = d->l1c + (p * PPX + i) * NB, *b = d->l2a + (p * PPX + i) * NB;
    for (int k = 0; k < NB; k++) {
        x[k] = (float)cc_refl_decode(a[k], -d->dn_offset, CC_REFL_QUANT); /* d->dn_offset: +1000 */
        if (t)
            t[k] = (float)cc_refl_decode(b[k], -d->dn_offset, CC_REFL_QUANT);
    }
    if (d->cpx) {
        const uint16_t *cp = d->cpx + (p * PPX + i) * CC_BOA_NCTX;
        for (int q = 0; q < CC_BOA_NCTX; q++)
            x[NB + q] = (float)(cp[q] * 1e-4);
        return;
    }
    const float *c = d->ctx + p * (size_t)d->nctx;
    cc_boa_context cx = {.mu_s = c[0], .mu_v = c[1], .cos_raa = c[2], .aot550 = c[3], .wv = c[4], .p_rel = c[5],
                         .o3 = d->nctx > 6 ? c[6] : 0.331};
    cc_boa_context_features(&cx, x + NB);
}

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* ------------------------------------------------------------- checkpoint */

typedef struct {
    long step;
    size_t nparams;
    float *params, *m, *v;
    /* history (one entry per evaluation) */
    int nh;
    double *h_step, *h_loss, *h_train, *h_val; /* h_val: every validation pixel */
} ckpt;

static int wr_f(hid_t f, const char *name, hid_t type, const void *buf, hsize_t n)
{
    hid_t sp = H5Screate_simple(1, &n, NULL);
    hid_t ds = H5Dcreate2(f, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int ok = ds >= 0 && H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0;
    if (ds >= 0)
        H5Dclose(ds);
    H5Sclose(sp);
    return ok;
}

static cc_status ckpt_write(const char *path, const ckpt *c, unsigned long long seed, const char *model_hash)
{
    char tmp[4200];
    cc_status st = cc_fs_temp_name(path, NULL, tmp, sizeof tmp);
    if (st != CC_OK)
        return st;
    hid_t f;
    H5E_BEGIN_TRY { f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT); }
    H5E_END_TRY;
    if (f < 0)
        return cc_error_set(CC_ERR_IO, "%s: cannot create the checkpoint", tmp);
    long long hdr[3] = {c->step, (long long)c->nparams, (long long)seed};
    int ok = wr_f(f, "header", H5T_NATIVE_LLONG, hdr, 3) && wr_f(f, "params", H5T_NATIVE_FLOAT, c->params, c->nparams) &&
             wr_f(f, "adam_m", H5T_NATIVE_FLOAT, c->m, c->nparams) &&
             wr_f(f, "adam_v", H5T_NATIVE_FLOAT, c->v, c->nparams);
    if (ok && c->nh > 0)
        ok = wr_f(f, "hist_step", H5T_NATIVE_DOUBLE, c->h_step, c->nh) &&
             wr_f(f, "hist_loss", H5T_NATIVE_DOUBLE, c->h_loss, c->nh) &&
             wr_f(f, "hist_train_mae", H5T_NATIVE_DOUBLE, c->h_train, c->nh) &&
             wr_f(f, "hist_val_mae", H5T_NATIVE_DOUBLE, c->h_val, c->nh);
    if (ok) {
        hid_t sp = H5Screate(H5S_SCALAR), ty = H5Tcopy(H5T_C_S1);
        H5Tset_size(ty, strlen(model_hash) + 1);
        hid_t a = H5Acreate2(f, "arch_hash", ty, sp, H5P_DEFAULT, H5P_DEFAULT);
        ok = a >= 0 && H5Awrite(a, ty, model_hash) >= 0;
        if (a >= 0)
            H5Aclose(a);
        H5Tclose(ty);
        H5Sclose(sp);
    }
    ok = H5Fclose(f) >= 0 && ok;
    if (!ok) {
        cc_fs_abort(tmp);
        return cc_error_set(CC_ERR_IO, "%s: cannot write the checkpoint", path);
    }
    return cc_fs_commit(tmp, path);
}

static void ckpt_free(ckpt *c)
{
    free(c->params);
    free(c->m);
    free(c->v);
    free(c->h_step);
    free(c->h_loss);
    free(c->h_train);
    free(c->h_val);
    memset(c, 0, sizeof *c);
}

static cc_status ckpt_read(const char *path, size_t nparams, unsigned long long seed, const char *arch_hash,
                           ckpt *c)
{
    memset(c, 0, sizeof *c);
    hid_t f;
    H5E_BEGIN_TRY { f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT); }
    H5E_END_TRY;
    if (f < 0)
        return cc_error_set(CC_ERR_FORMAT, "%s: not a checkpoint (cannot open as HDF5)", path);
    cc_status st = CC_OK;
    long long hdr[3];
    c->params = malloc(nparams * sizeof(float));
    c->m = malloc(nparams * sizeof(float));
    c->v = malloc(nparams * sizeof(float));
    if (!c->params || !c->m || !c->v) {
        st = cc_error_set(CC_ERR_NOMEM, "out of memory");
        goto out;
    }
    H5E_BEGIN_TRY
    {
        st = read_ds(f, path, "header", H5T_NATIVE_LLONG, hdr, 3);
        if (st == CC_OK && ((size_t)hdr[1] != nparams || (unsigned long long)hdr[2] != seed))
            st = cc_error_set(CC_ERR_ARG, "%s: checkpoint of another configuration (%lld parameters, seed %lld)",
                              path, hdr[1], hdr[2]);
        if (st == CC_OK && (st = read_ds(f, path, "params", H5T_NATIVE_FLOAT, c->params, nparams)) == CC_OK &&
            (st = read_ds(f, path, "adam_m", H5T_NATIVE_FLOAT, c->m, nparams)) == CC_OK)
            st = read_ds(f, path, "adam_v", H5T_NATIVE_FLOAT, c->v, nparams);
        char hash[128] = "";
        if (st == CC_OK && H5Aexists(f, "arch_hash") > 0) {
            hid_t a = H5Aopen(f, "arch_hash", H5P_DEFAULT), ty = H5Aget_type(a);
            if (H5Tget_size(ty) < sizeof hash)
                H5Aread(a, ty, hash);
            H5Tclose(ty);
            H5Aclose(a);
        }
        if (st == CC_OK && strcmp(hash, arch_hash) != 0)
            st = cc_error_set(CC_ERR_ARG, "%s: checkpoint of another architecture or normalisation", path);
        if (st == CC_OK && H5Lexists(f, "hist_step", H5P_DEFAULT) > 0) {
            hid_t ds = H5Dopen2(f, "hist_step", H5P_DEFAULT), sp = H5Dget_space(ds);
            c->nh = (int)H5Sget_simple_extent_npoints(sp);
            H5Sclose(sp);
            H5Dclose(ds);
            c->h_step = malloc(c->nh * sizeof(double));
            c->h_loss = malloc(c->nh * sizeof(double));
            c->h_train = malloc(c->nh * sizeof(double));
            c->h_val = malloc(c->nh * sizeof(double));
            if (!c->h_step || !c->h_loss || !c->h_train || !c->h_val)
                st = cc_error_set(CC_ERR_NOMEM, "out of memory");
            else if ((st = read_ds(f, path, "hist_step", H5T_NATIVE_DOUBLE, c->h_step, c->nh)) == CC_OK &&
                     (st = read_ds(f, path, "hist_loss", H5T_NATIVE_DOUBLE, c->h_loss, c->nh)) == CC_OK &&
                     (st = read_ds(f, path, "hist_train_mae", H5T_NATIVE_DOUBLE, c->h_train, c->nh)) == CC_OK)
                st = read_ds(f, path, "hist_val_mae", H5T_NATIVE_DOUBLE, c->h_val, c->nh);
        }
    }
    H5E_END_TRY;
    c->step = hdr[0];
    c->nparams = nparams;
out:
    H5Fclose(f);
    if (st != CC_OK)
        ckpt_free(c);
    return st;
}

/* --------------------------------------------------------------- training */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* Per-band MAE (DN) of the net on the first `npx` pixels of a fixed
 * permutation of `ids`. */
static cc_status evaluate(cc_train_net *net, const dataset *d, const uint32_t *ids, size_t nids, int npx, int maxw,
                          double mae[NB])
{
    for (int k = 0; k < NB; k++)
        mae[k] = 0;
    if (nids == 0)
        return CC_OK;
    size_t n = (size_t)npx < nids ? (size_t)npx : nids;
    float *x = malloc((size_t)maxw * CC_BOA_NIN * sizeof(float)), *t = malloc((size_t)maxw * NB * sizeof(float));
    if (!x || !t) {
        free(x);
        free(t);
        return cc_error_set(CC_ERR_NOMEM, "out of memory");
    }
    cc_status st = CC_OK;
    for (size_t s = 0; s < n && st == CC_OK; s += (size_t)maxw) {
        int m = (int)(n - s < (size_t)maxw ? n - s : (size_t)maxw);
        for (int i = 0; i < m; i++) {
            /* a fixed spread over the list: index (s+i) * stride */
            size_t j = (size_t)(((unsigned __int128)(s + i) * nids) / n);
            pixel_io(d, ids[j], x + (size_t)i * CC_BOA_NIN, t + (size_t)i * NB);
        }
        const float *y;
        if ((st = cc_train_forward(net, 1, 1, m, x, &y)) != CC_OK)
            break;
        for (int i = 0; i < m; i++)
            for (int k = 0; k < NB; k++)
                mae[k] += fabs(((double)y[(size_t)i * NB + k] - t[(size_t)i * NB + k]) * 10000.0);
    }
    for (int k = 0; k < NB; k++)
        mae[k] /= (double)n;
    free(x);
    free(t);
    return st;
}

static double mean12(const double *v)
{
    double s = 0;
    for (int k = 0; k < NB; k++)
        s += v[k];
    return s / NB;
}

static cc_status write_plot(const char *path, const ckpt *h)
{
    if (!path || h->nh < 1)
        return CC_OK;
    cc_plot_series s[3] = {{"training loss (Huber/MSE, DN units)", h->h_step, h->h_loss, h->nh},
                           {"train MAE (DN, mean of 12 bands)", h->h_step, h->h_train, h->nh},
                           {"validation MAE (DN, mean of 12 bands)", h->h_step, h->h_val, h->nh}};
    return cc_plot_lines(path, 900, 560, "Rapid BoA training", "step", "DN", 1, s, 3);
}

static int hist_push(ckpt *h, double step, double loss, double tr, double va)
{
    double *a = realloc(h->h_step, (h->nh + 1) * sizeof(double));
    if (a)
        h->h_step = a;
    double *b = realloc(h->h_loss, (h->nh + 1) * sizeof(double));
    if (b)
        h->h_loss = b;
    double *c = realloc(h->h_train, (h->nh + 1) * sizeof(double));
    if (c)
        h->h_train = c;
    double *e = realloc(h->h_val, (h->nh + 1) * sizeof(double));
    if (e)
        h->h_val = e;
    if (!a || !b || !c || !e)
        return -1;
    h->h_step[h->nh] = step;
    h->h_loss[h->nh] = loss;
    h->h_train[h->nh] = tr;
    h->h_val[h->nh] = va;
    h->nh++;
    return 0;
}

/* Input normalisation from the training pixels (a fixed subsample). */
static void input_stats(const dataset *d, float mean[CC_BOA_NIN], float std[CC_BOA_NIN])
{
    double s[CC_BOA_NIN] = {0}, s2[CC_BOA_NIN] = {0};
    size_t step = d->n_train / 200000 + 1, n = 0;
    float x[CC_BOA_NIN];
    for (size_t i = 0; i < d->n_train; i += step, n++) {
        pixel_io(d, d->train_px[i], x, NULL);
        for (int c = 0; c < CC_BOA_NIN; c++) {
            s[c] += x[c];
            s2[c] += (double)x[c] * x[c];
        }
    }
    for (int c = 0; c < CC_BOA_NIN; c++) {
        double m = s[c] / n, v = s2[c] / n - m * m;
        mean[c] = (float)m;
        std[c] = (float)(v > 1e-8 ? sqrt(v) : 1e-2); /* a constant context channel: fixed scale */
    }
}

static int mpi_rank_size(MPI_Comm comm, int *rank, int *size)
{
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    if (!init || fin) {
        *rank = 0;
        *size = 1;
        return 0;
    }
    MPI_Comm_rank(comm, rank);
    MPI_Comm_size(comm, size);
    return *size > 1;
}

/* One training run: what its setup, steps, evaluations and checkpoints share. */
typedef struct {
    const cc_boa_train_config *c;
    MPI_Comm comm;
    int rank, size, use_mpi;
    dataset d;
    cc_nn_model m;
    cc_train_net *net;
    cc_adamw_state adam;
    cc_adamw_options ao;
    ckpt hist;
    float *gbuf, *gsum, *x, *t, *y10, *t10, *gy;
    FILE *logf;
    size_t np;
    int cm; /* pixels per chunk */
    char arch_hash[65];
    long step0, total;
    double loss_acc; /* training loss summed since the last evaluation */
    long loss_n;
} trainer;

static void trainer_free(trainer *tr)
{
    if (tr->logf)
        fclose(tr->logf);
    free(tr->gbuf);
    free(tr->gsum);
    free(tr->x);
    free(tr->t);
    free(tr->y10);
    free(tr->t10);
    free(tr->gy);
    ckpt_free(&tr->hist);
    cc_adamw_free(&tr->adam);
    cc_train_net_free(tr->net);
    cc_nn_model_free(&tr->m);
    dataset_free(&tr->d);
}

/* The initial model: architecture, input normalisation from the training pixels,
 * seeded weights. */
static cc_status trainer_model(trainer *tr)
{
    const cc_boa_train_config *c = tr->c;
    cc_boa_arch arch = c->arch;
    input_stats(&tr->d, arch.mean, arch.std);
    cc_status st = cc_boa_model_build(&arch, &tr->m);
    if (st != CC_OK)
        return st;
    cc_nn_model *m = &tr->m;
    cc_train_init_params(m, c->seed);
    /* the correction head starts near zero (BOA = TOA): Kaiming-uniform there gives
     * corrections of the order of out_scale, far from the target, and slows training */
    for (int i = 0; i < m->nnodes; i++)
        if (!strcmp(m->nodes[i].name, "correction")) {
            size_t nw = (size_t)m->nodes[i].cout * (size_t)m->nodes[m->nodes[i].inputs[0]].cout;
            for (size_t k = 0; k < nw; k++)
                m->nodes[i].weight[k] *= 0.1f;
        }
    tr->cm = c->batch / c->chunks;
    if ((st = cc_train_net_create(m, 1, 1, tr->cm, &tr->net)) != CC_OK)
        return st;
    tr->np = cc_train_nparams(tr->net);
    if ((st = cc_nn_model_hash(m, tr->arch_hash)) != CC_OK) /* of the initial weights + normalisation */
        return st;
    return cc_adamw_init(&tr->adam, tr->np);
}

/* Parameters, optimiser moments and loss history from the checkpoint. */
static cc_status trainer_resume(trainer *tr)
{
    const cc_boa_train_config *c = tr->c;
    ckpt ck;
    cc_status st = ckpt_read(c->checkpoint, tr->np, c->seed, tr->arch_hash, &ck);
    if (st != CC_OK)
        return st;
    cc_train_set_params(tr->net, ck.params);
    memcpy(tr->adam.m, ck.m, tr->np * sizeof(float));
    memcpy(tr->adam.v, ck.v, tr->np * sizeof(float));
    tr->adam.step = ck.step;
    tr->step0 = ck.step;
    tr->hist.nh = ck.nh;
    tr->hist.h_step = ck.h_step;
    tr->hist.h_loss = ck.h_loss;
    tr->hist.h_train = ck.h_train;
    tr->hist.h_val = ck.h_val;
    ck.h_step = ck.h_loss = ck.h_train = ck.h_val = NULL;
    ckpt_free(&ck);
    if (tr->rank == 0)
        cc_info("resumed from %s at step %ld", c->checkpoint, tr->step0);
    return CC_OK;
}

static cc_status trainer_setup(trainer *tr, const cc_boa_train_options *o)
{
    const cc_boa_train_config *c = tr->c;
    cc_status st;
    if ((st = trainer_model(tr)) != CC_OK)
        return st;
    if (o->device && o->device->kind == CC_DEVICE_CUDA &&
        (st = cc_train_net_use_cuda(tr->net, o->device->index)) != CC_OK)
        return st;
    if (tr->rank == 0)
        cc_log(CC_LOG_INFO, "train: device %s; backward GEMMs on %s",
               o->device ? o->device->name : "cpu", cc_train_net_engine(tr->net));
    if (o->resume && access(c->checkpoint, F_OK) == 0 && (st = trainer_resume(tr)) != CC_OK)
        return st;
    size_t cm = (size_t)tr->cm;
    tr->gbuf = cc_calloc3((size_t)c->chunks, tr->np + 1, sizeof(float));
    tr->gsum = cc_malloc3(tr->np, sizeof(float), 1);
    tr->x = cc_malloc3(cm, CC_BOA_NIN, sizeof(float));
    tr->t = cc_malloc3(cm, NB, sizeof(float));
    tr->y10 = cc_malloc3(cm, NB, sizeof(float));
    tr->t10 = cc_malloc3(cm, NB, sizeof(float));
    tr->gy = cc_malloc3(cm, NB, sizeof(float));
    if (!tr->gbuf || !tr->gsum || !tr->x || !tr->t || !tr->y10 || !tr->t10 || !tr->gy)
        return cc_error_set(CC_ERR_NOMEM, "train: out of memory");
    if (tr->rank == 0 && c->log && !(tr->logf = fopen(c->log, tr->step0 ? "a" : "w")))
        return cc_error_set(CC_ERR_IO, "%s: cannot write the log: %s", c->log, strerror(errno));
    cc_adamw_options_init(&tr->ao);
    tr->ao.weight_decay = c->weight_decay;
    return CC_OK;
}

/* One optimiser step: this rank's chunks, the exchange, the sum in chunk order,
 * AdamW. *loss: the step's mean chunk loss. */
static cc_status train_step(trainer *tr, long s, double *loss)
{
    const cc_boa_train_config *c = tr->c;
    size_t np = tr->np;
    int cm = tr->cm;
    cc_status st;
    memset(tr->gbuf, 0, (size_t)c->chunks * (np + 1) * sizeof(float));
    for (int j = tr->rank; j < c->chunks; j += tr->size) {
        for (int i = 0; i < cm; i++) {
            uint64_t h = splitmix64(c->seed * 0x9E3779B97F4A7C15ull ^ splitmix64((uint64_t)s * (uint64_t)c->batch +
                                                                               (uint64_t)j * cm + i));
            uint32_t id = tr->d.train_px[h % tr->d.n_train];
            pixel_io(&tr->d, id, tr->x + (size_t)i * CC_BOA_NIN, tr->t + (size_t)i * NB);
        }
        const float *y;
        if ((st = cc_train_forward(tr->net, 1, 1, cm, tr->x, &y)) != CC_OK)
            return st;
        size_t ne = (size_t)cm * NB;
        for (size_t e = 0; e < ne; e++) {
            tr->y10[e] = y[e] * 10000.0f;
            tr->t10[e] = tr->t[e] * 10000.0f;
        }
        double l = cc_train_loss(c->loss, c->huber_delta_dn, ne, tr->y10, tr->t10, NULL, tr->gy);
        for (size_t e = 0; e < ne; e++)
            tr->gy[e] *= 10000.0f;
        cc_train_zero_grads(tr->net);
        if ((st = cc_train_backward(tr->net, tr->gy)) != CC_OK)
            return st;
        float *row = tr->gbuf + (size_t)j * (np + 1);
        memcpy(row, cc_train_grads(tr->net), np * sizeof(float));
        row[np] = (float)l;
    }
    if (tr->use_mpi)
        MPI_Allreduce(MPI_IN_PLACE, tr->gbuf, (int)((size_t)c->chunks * (np + 1)), MPI_FLOAT, MPI_SUM, tr->comm);
    /* fixed order: chunk 0, 1, ... whatever rank computed it */
    double lsum = 0;
    for (size_t p = 0; p < np; p++)
        tr->gsum[p] = 0;
    for (int j = 0; j < c->chunks; j++) {
        const float *row = tr->gbuf + (size_t)j * (np + 1);
        for (size_t p = 0; p < np; p++)
            tr->gsum[p] += row[p];
        lsum += row[np];
    }
    float inv = 1.0f / (float)c->chunks;
    for (size_t p = 0; p < np; p++)
        tr->gsum[p] *= inv;
    tr->ao.lr = cc_train_lr(s, tr->total, c->warmup, c->lr, c->lr_min);
    if ((st = cc_train_adamw_step(tr->net, &tr->adam, &tr->ao, tr->gsum)) != CC_OK)
        return st;
    *loss = lsum / c->chunks;
    return CC_OK;
}

static void log_bands(FILE *f, const char *key, const double v[NB])
{
    fprintf(f, "%s[", key);
    for (int k = 0; k < NB; k++)
        fprintf(f, "%s%.3f", k ? "," : "", v[k]);
    fprintf(f, "]");
}

/* Rank 0, every eval_every steps and at the last: MAE of both splits and of
 * each validation kind, one JSON line in the log, the loss history. */
static cc_status train_evaluate(trainer *tr, long done, cc_boa_train_result *r)
{
    const cc_boa_train_config *c = tr->c;
    const dataset *d = &tr->d;
    double tr_mae[NB], va_mae[NB];
    cc_status st;
    if ((st = evaluate(tr->net, d, d->train_px, d->n_train, c->eval_pixels, tr->cm, tr_mae)) != CC_OK ||
        (st = evaluate(tr->net, d, d->val_px, d->n_val, c->eval_pixels, tr->cm, va_mae)) != CC_OK)
        return st;
    for (int k = 0; k < CC_BOA_TRAIN_NKINDS; k++) {
        r->n_val_kind_px[k] = d->n_val_kind[k];
        if ((st = evaluate(tr->net, d, d->val_kind_px[k], d->n_val_kind[k], c->eval_pixels, tr->cm,
                           r->val_kind_mae_dn[k])) != CC_OK)
            return st;
    }
    double lmean = tr->loss_acc / (tr->loss_n ? tr->loss_n : 1);
    r->last_loss = lmean;
    memcpy(r->train_mae_dn, tr_mae, sizeof tr_mae);
    memcpy(r->val_mae_dn, va_mae, sizeof va_mae);
    if (hist_push(&tr->hist, (double)done, lmean, mean12(tr_mae), mean12(va_mae)))
        return cc_error_set(CC_ERR_NOMEM, "out of memory");
    if (tr->logf) {
        fprintf(tr->logf, "{\"step\":%ld,\"lr\":%.6g,\"loss\":%.6g,", done, tr->ao.lr, lmean);
        log_bands(tr->logf, "\"train_mae_dn\":", tr_mae);
        log_bands(tr->logf, ",\"val_mae_dn\":", va_mae);
        static const char *const kn[CC_BOA_TRAIN_NKINDS] = {"reference", "simulated_l1c", "pair", "library",
                                                             "simulated_library"};
        for (int q = 0; q < CC_BOA_TRAIN_NKINDS; q++) {
            if (!d->n_val_kind[q])
                continue;
            char key[48];
            snprintf(key, sizeof key, ",\"val_%s_mae_dn\":", kn[q]);
            log_bands(tr->logf, key, r->val_kind_mae_dn[q]);
        }
        fprintf(tr->logf, "}\n");
        fflush(tr->logf);
    }
    cc_info("step %ld/%ld: loss %.4g, MAE train %.2f DN, validation %.2f DN", done, tr->total, lmean,
            mean12(tr_mae), mean12(va_mae));
    tr->loss_acc = 0;
    tr->loss_n = 0;
    return CC_OK;
}

/* Rank 0: the checkpoint (parameters, moments, history) and the loss plot. */
static cc_status train_checkpoint(trainer *tr, long done)
{
    ckpt ck = tr->hist;
    ck.step = done;
    ck.nparams = tr->np;
    ck.params = tr->gsum; /* reuse as scratch: the gradient is consumed */
    cc_train_get_params(tr->net, tr->gsum);
    ck.m = tr->adam.m;
    ck.v = tr->adam.v;
    cc_status st = ckpt_write(tr->c->checkpoint, &ck, tr->c->seed, tr->arch_hash);
    if (st != CC_OK)
        return st;
    return write_plot(tr->c->loss_plot, &tr->hist);
}

/* The inputs of training pixel i (the training domain's fit, domain.h). */
static void domain_pixel(void *d, size_t i, float *x)
{
    pixel_io(d, ((const dataset *)d)->train_px[i], x, NULL);
}

/* Rank 0, after the last step: the model file, with the recipe as provenance. */
static cc_status train_write_model(const trainer *tr, const cc_boa_train_result *r)
{
    const cc_boa_train_config *c = tr->c;
    char prov[2048];
    snprintf(prov, sizeof prov,
             "Rapid BoA emulator trained by `clearcube train %s`: dataset %s (%zu training / %zu validation "
             "pixels); %ld steps x %d pixels, AdamW lr %g -> %g (warm-up %ld, cosine), weight decay %g, loss %s "
             "(delta %g DN), seed %llu. Final MAE (DN, mean of 12 bands): train %.2f, validation %.2f.",
             c->path, c->dataset, tr->d.n_train, tr->d.n_val, tr->total, c->batch, c->lr, c->lr_min, c->warmup,
             c->weight_decay, c->loss == CC_LOSS_HUBER ? "huber" : c->loss == CC_LOSS_L1 ? "l1" : "mse",
             c->huber_delta_dn, c->seed, mean12(r->train_mae_dn), mean12(r->val_mae_dn));
    cc_boa_domain dom; /* the training domain (domain.h), stored beside the weights as /domain */
    cc_status st = cc_boa_domain_fit(&tr->m, domain_pixel, (void *)&tr->d, tr->d.n_train, &dom);
    return st != CC_OK ? st : cc_boa_domain_write_model(c->model, &tr->m, prov, &dom);
}

/* Steps step0 .. step_end - 1 with evaluations, checkpoints and the progress line. */
static cc_status train_loop(trainer *tr, const cc_boa_train_options *o, long step_end, double t0,
                            cc_boa_train_result *r)
{
    const cc_boa_train_config *c = tr->c;
    double tlast = t0;
    cc_status st = CC_OK;
    /* the steps of this start (a resumed run counts from its checkpoint) */
    cc_progress *prog = tr->rank == 0 && o->progress && step_end > tr->step0
                            ? cc_progress_start("train", "steps", (uint64_t)(step_end - tr->step0))
                            : NULL;
    for (long s = tr->step0; s < step_end; s++) {
        double loss;
        if ((st = train_step(tr, s, &loss)) != CC_OK)
            break;
        tr->loss_acc += loss;
        tr->loss_n++;
        if (s == tr->step0)
            r->first_loss = loss;
        long done = s + 1;
        int last = done == step_end;
        if (tr->rank == 0 && (done % c->eval_every == 0 || last) && (st = train_evaluate(tr, done, r)) != CC_OK)
            break;
        if (tr->rank == 0 && (done % c->checkpoint_every == 0 || last) && (st = train_checkpoint(tr, done)) != CC_OK)
            break;
        double tn = now_s();
        if (prog && (tn - tlast > 1.0 || last)) {
            char note[96];
            snprintf(note, sizeof note, "step %ld/%ld, loss %.4g, %.0f px/s", done, tr->total,
                     tr->loss_n ? tr->loss_acc / tr->loss_n : r->last_loss,
                     (double)(done - tr->step0) * c->batch / (tn - t0));
            cc_progress_note(prog, note);
            tlast = tn;
        }
        cc_progress_set(prog, (uint64_t)(done - tr->step0));
    }
    cc_progress_end(prog);
    return st;
}

cc_status cc_boa_train(MPI_Comm comm, const cc_boa_train_config *c, const cc_boa_train_options *o,
                       cc_boa_train_result *r)
{
    memset(r, 0, sizeof *r);
    trainer tr;
    memset(&tr, 0, sizeof tr);
    tr.c = c;
    tr.comm = comm;
    tr.use_mpi = mpi_rank_size(comm, &tr.rank, &tr.size);
    r->ranks = tr.size;
    cc_nn_model_init(&tr.m);
    tr.total = o->steps_override > 0 ? o->steps_override : c->steps;

    cc_status st = dataset_load(c->dataset, &tr.d);
    if (st != CC_OK)
        return st;
    r->n_train_px = tr.d.n_train;
    r->n_val_px = tr.d.n_val;
    if ((st = trainer_setup(&tr, o)) != CC_OK)
        goto out;
    double t0 = now_s();
    long step_end = tr.total;
    if (o->stop_after > 0 && o->stop_after < step_end)
        step_end = o->stop_after;
    if (tr.rank == 0)
        cc_info("train: %zu training / %zu validation pixels, %zu parameters, %ld steps of %d pixels (%d chunks) on "
                "%d rank(s)",
                tr.d.n_train, tr.d.n_val, tr.np, tr.total, c->batch, c->chunks, tr.size);
    if ((st = train_loop(&tr, o, step_end, t0, r)) != CC_OK)
        goto out;
    r->steps_done = step_end;
    r->seconds = now_s() - t0;
    r->px_per_s = r->seconds > 0 ? (double)(step_end - tr.step0) * c->batch / r->seconds : 0;
    if (tr.rank == 0 && step_end == tr.total && (st = train_write_model(&tr, r)) != CC_OK)
        goto out;
    st = CC_OK;
out:
    trainer_free(&tr);
    return st;
}
