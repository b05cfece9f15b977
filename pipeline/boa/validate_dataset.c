/* `clearcube validate --model M --dataset D.h5`: a Rapid BoA model on the
 * patches of one split of a `clearcube dataset` file, per scene and band,
 * through the production inference engine (cc_nn_run, the CPU backend): the
 * model gets the dataset's TOA DN and its per-pixel context features
 * (context_px, version 2) encoded exactly as `clearcube boa` encodes them, and
 * its L2A DN output is compared with the dataset's targets. This is how the
 * stress sets at the edges of the domain (kind simulated, `domain: ...`) and
 * the validation scenes are scored (docs/accuracy.md). */
#include "pipeline/boa/validate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "core/alloc.h"
#include "core/reflectance.h"
#include "io/model_file.h"
#include "kernels/nn.h"
#include "pipeline/boa/boa.h"
#include "pipeline/boa/dataset.h"

#define P CC_DATASET_PATCH
#define NB CC_BOA_NBANDS
#define NH 8192 /* |error| histogram, 0.5 DN bins up to 4096 DN */

typedef struct {
    hid_t f;
    const char *path;
} dsfile;

static cc_status read_rows(const dsfile *d, const char *name, hid_t mt, hsize_t row, hsize_t nrow, void *buf)
{
    hid_t ds = H5Dopen2(d->f, name, H5P_DEFAULT);
    if (ds < 0)
        return cc_error_set(CC_ERR_FORMAT, "%s: dataset /%s missing (a version-2 dataset is needed)", d->path, name);
    hid_t fs = H5Dget_space(ds);
    int rank = H5Sget_simple_extent_ndims(fs);
    hsize_t dims[4] = {0}, start[4] = {0}, count[4] = {0};
    H5Sget_simple_extent_dims(fs, dims, NULL);
    for (int i = 0; i < rank; i++)
        count[i] = dims[i];
    start[0] = row;
    count[0] = nrow;
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    hid_t ms = H5Screate_simple(rank, count, NULL);
    herr_t e = H5Dread(ds, mt, ms, fs, H5P_DEFAULT, buf);
    H5Sclose(ms);
    H5Sclose(fs);
    H5Dclose(ds);
    return e < 0 ? cc_error_set(CC_ERR_IO, "%s: cannot read /%s", d->path, name) : CC_OK;
}

/* The first dimension of dataset `name` (0 when absent). */
static hsize_t rows_of(hid_t f, const char *name)
{
    hsize_t dims[4] = {0};
    hid_t ds = -1;
    H5E_BEGIN_TRY { ds = H5Dopen2(f, name, H5P_DEFAULT); }
    H5E_END_TRY;
    if (ds < 0)
        return 0;
    hid_t sp = H5Dget_space(ds);
    if (H5Sget_simple_extent_ndims(sp) < 1 || H5Sget_simple_extent_ndims(sp) > 4 ||
        H5Sget_simple_extent_dims(sp, dims, NULL) < 1)
        dims[0] = 0;
    H5Sclose(sp);
    H5Dclose(ds);
    return dims[0];
}

static double p99_of(const size_t *h, size_t n)
{
    size_t need = (size_t)ceil(0.99 * (double)n), acc = 0;
    for (int j = 0; j < NH; j++)
        if ((acc += h[j]) >= need)
            return j * 0.5; /* the bin's lower edge, as validate.c */
    return NH * 0.5;
}

/* Adds one patch's errors to scene s's sums. */
static void accumulate(cc_validate_dataset_scene *s, size_t *hist, const uint16_t *l2a, const uint16_t *pred,
                       const uint16_t *in, int nin)
{
    for (size_t i = 0; i < (size_t)P * P; i++) {
        int ok = 1;
        for (int k = 0; k < NB; k++)
            ok &= l2a[i * NB + k] != 0 && in[i * nin + k] != 0;
        ok &= in[i * nin + NB] != 0;
        if (!ok)
            continue;
        s->n++;
        for (int k = 0; k < NB; k++) {
            double e = (double)pred[i * NB + k] - (double)l2a[i * NB + k]; /* same offset: DN difference */
            s->mae_dn[k] += fabs(e);
            s->bias_dn[k] += e;
            double ab = fabs(e) * 2.0;
            hist[(size_t)k * NH + (ab < NH - 1 ? (size_t)ab : NH - 1)]++;
        }
    }
}

cc_status cc_validate_dataset(const char *model_path, const char *dataset_path, int split,
                              cc_validate_dataset_result *r)
{
    memset(r, 0, sizeof *r);
    cc_nn_model m;
    cc_nn_model_init(&m);
    cc_status st = cc_model_file_read(model_path, &m);
    if (st == CC_OK)
        st = cc_boa_model_check(&m, model_path);
    if (st != CC_OK) {
        cc_nn_model_free(&m);
        return st;
    }
    const int nin = m.input.nchannels;
    dsfile d = {.path = dataset_path};
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    H5E_BEGIN_TRY { d.f = H5Fopen(dataset_path, H5F_ACC_RDONLY, H5P_DEFAULT); }
    H5E_END_TRY;
    if (d.f < 0) {
        cc_nn_model_free(&m);
        return cc_error_set(CC_ERR_FORMAT, "%s: not an HDF5 file", dataset_path);
    }
    hsize_t n = 0, ns = 0;
    uint8_t *sp = NULL;
    int32_t *sc = NULL;
    char **names = NULL;
    hid_t ds = -1;
    n = rows_of(d.f, "split");
    ns = rows_of(d.f, "scenes");
    H5E_BEGIN_TRY { ds = H5Dopen2(d.f, "scenes", H5P_DEFAULT); }
    H5E_END_TRY;
    if (ds >= 0) {
        names = calloc(ns ? ns : 1, sizeof *names);
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, H5T_VARIABLE);
        H5Tset_cset(t, H5T_CSET_UTF8);
        if (names && H5Dread(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, names) < 0)
            ns = 0;
        H5Tclose(t);
        H5Dclose(ds);
    }
    uint16_t *l1c = malloc((size_t)P * P * NB * 2), *l2a = malloc((size_t)P * P * NB * 2);
    uint16_t *cpx = malloc((size_t)P * P * CC_BOA_NCTX * 2), *in = malloc((size_t)P * P * nin * 2);
    uint16_t *pred = malloc((size_t)P * P * NB * 2);
    size_t *hist = NULL;
    sp = malloc(n ? n : 1);
    sc = malloc((n ? n : 1) * sizeof *sc);
    if (n == 0 || ns == 0 || ns > CC_VALIDATE_MAX_SCENES) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: not a clearcube dataset with 1..%d scenes (%llu patches, %llu scenes)",
                          dataset_path, CC_VALIDATE_MAX_SCENES, (unsigned long long)n, (unsigned long long)ns);
        goto out;
    }
    hist = calloc((size_t)ns * NB * NH, sizeof *hist);
    if (!l1c || !l2a || !cpx || !in || !pred || !sp || !sc || !names || !hist) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", dataset_path);
        goto out;
    }
    if ((st = read_rows(&d, "split", H5T_NATIVE_UINT8, 0, n, sp)) != CC_OK ||
        (st = read_rows(&d, "scene", H5T_NATIVE_INT32, 0, n, sc)) != CC_OK)
        goto out;
    const double off = -m.input.dn_offset; /* context DN = feature * 10000 + 1000 */
    for (hsize_t p = 0; p < n; p++) {
        if (sp[p] != split || sc[p] < 0 || (hsize_t)sc[p] >= ns)
            continue;
        if ((st = read_rows(&d, "l1c", H5T_NATIVE_UINT16, p, 1, l1c)) != CC_OK ||
            (st = read_rows(&d, "l2a", H5T_NATIVE_UINT16, p, 1, l2a)) != CC_OK ||
            (st = read_rows(&d, "context_px", H5T_NATIVE_UINT16, p, 1, cpx)) != CC_OK)
            goto out;
        for (size_t i = 0; i < (size_t)P * P; i++) {
            uint16_t *o = in + i * nin;
            memcpy(o, l1c + i * NB, NB * sizeof *o);
            for (int q = 0; q < nin - NB; q++) {
                uint16_t f = cpx[i * CC_BOA_NCTX + q];
                o[NB + q] = f ? cc_refl_dn_round(f + off) : 0;
            }
        }
        if ((st = cc_nn_run(cc_nn_backend_cpu(), &m, 1, P, P, in, pred)) != CC_OK)
            goto out;
        accumulate(&r->scene[sc[p]], hist + (size_t)sc[p] * NB * NH, l2a, pred, in, nin);
    }
    for (hsize_t s = 0; s < ns; s++) {
        cc_validate_dataset_scene *v = &r->scene[s];
        if (!v->n)
            continue;
        snprintf(v->name, sizeof v->name, "%s", names[s] ? names[s] : "?");
        for (int k = 0; k < NB; k++) {
            v->mae_dn[k] /= (double)v->n;
            v->bias_dn[k] /= (double)v->n;
            v->p99_dn[k] = p99_of(hist + ((size_t)s * NB + k) * NH, v->n);
        }
        if ((hsize_t)r->nscenes != s) {
            r->scene[r->nscenes] = *v;
            memset(v, 0, sizeof *v);
        }
        r->nscenes++;
    }
    if (r->nscenes == 0)
        st = cc_error_set(CC_ERR_NODATA, "%s: no %s patch", dataset_path, split ? "validation" : "training");
out:
    if (names) {
        for (hsize_t s = 0; s < ns; s++)
            H5free_memory(names[s]);
        free(names);
    }
    free(l1c);
    free(l2a);
    free(cpx);
    free(in);
    free(pred);
    free(sp);
    free(sc);
    free(hist);
    H5Fclose(d.f);
    cc_nn_model_free(&m);
    return st;
}

char *cc_validate_dataset_markdown(const cc_validate_dataset_result *r, const char *model, const char *dataset)
{
    size_t cap = 4096 + (size_t)r->nscenes * 1024, len = 0;
    char *b = malloc(cap);
    if (!b)
        return NULL;
    len += (size_t)snprintf(b + len, cap - len,
                            "Model `%s` on `%s`: MAE / P99 of |error| (DN = 10000 rho) per band against the "
                            "dataset's targets\n\n| scene | pixels |", model, dataset);
    for (int k = 0; k < NB; k++)
        len += (size_t)snprintf(b + len, cap - len, " %s |", cc_boa_channel_names[k]);
    len += (size_t)snprintf(b + len, cap - len, "\n|---|---:|");
    for (int k = 0; k < NB; k++)
        len += (size_t)snprintf(b + len, cap - len, "---:|");
    len += (size_t)snprintf(b + len, cap - len, "\n");
    for (int s = 0; s < r->nscenes && len < cap; s++) {
        const cc_validate_dataset_scene *v = &r->scene[s];
        len += (size_t)snprintf(b + len, cap - len, "| %s | %zu |", v->name, v->n);
        for (int k = 0; k < NB && len < cap; k++)
            len += (size_t)snprintf(b + len, cap - len, " %.1f / %.0f |", v->mae_dn[k], v->p99_dn[k]);
        if (len < cap)
            len += (size_t)snprintf(b + len, cap - len, "\n");
    }
    return b;
}
