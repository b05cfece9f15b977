/* cc_boa_domain_fit MODEL.h5 DATASET.h5 OUT.h5: gives a Rapid BoA model trained
 * before issue 13 its training domain (pipeline/boa/domain.h) from the dataset
 * it was trained on, and writes the model with /domain to OUT.h5 (the weights,
 * and so the content hash, unchanged). For measuring the quality flag of an
 * existing model (scripts/boa-quality-report); `clearcube train` fits the
 * domain of every new model itself, on the same pixels: the training split,
 * every band valid in input and target (docs/formats/dataset.md; version 1
 * scene context per patch, or version 2 per-pixel context_px). */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/reflectance.h"
#include "io/model_file.h"
#include "pipeline/boa/boa.h"
#include "pipeline/boa/domain.h"

#define PPX (128 * 128)
#define NB CC_BOA_NBANDS

typedef struct {
    size_t n, nctx;
    uint16_t *l1c, *l2a, *cpx;
    float *ctx;
    uint8_t *split;
    double dn_offset;
    size_t *px; /* training pixels: patch * PPX + i */
    size_t npx;
} data;

static int read_all(hid_t f, const char *name, hid_t type, void *buf)
{
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    int ok = d >= 0 && H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0;
    if (d >= 0)
        H5Dclose(d);
    return ok;
}

static size_t dim(hid_t f, const char *name, int k)
{
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0)
        return 0;
    hid_t s = H5Dget_space(d);
    hsize_t dims[4] = {0};
    int nd = H5Sget_simple_extent_dims(s, dims, NULL);
    H5Sclose(s);
    H5Dclose(d);
    return k < nd ? (size_t)dims[k] : 0;
}

static int load(const char *path, data *D)
{
    memset(D, 0, sizeof *D);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return 0;
    D->n = dim(f, "l1c", 0);
    D->nctx = dim(f, "context", 1);
    D->dn_offset = 1000;
    if (H5Aexists(f, "dn_offset") > 0) {
        hid_t a = H5Aopen(f, "dn_offset", H5P_DEFAULT);
        H5Aread(a, H5T_NATIVE_DOUBLE, &D->dn_offset);
        H5Aclose(a);
    }
    D->l1c = cc_malloc3(D->n * PPX, NB, sizeof(uint16_t));
    D->l2a = cc_malloc3(D->n * PPX, NB, sizeof(uint16_t));
    D->ctx = cc_malloc3(D->n, D->nctx ? D->nctx : 1, sizeof(float));
    D->split = cc_malloc3(D->n, 1, 1);
    int ok = D->n && D->nctx >= 6 && D->l1c && D->l2a && D->ctx && D->split &&
             read_all(f, "l1c", H5T_NATIVE_UINT16, D->l1c) && read_all(f, "l2a", H5T_NATIVE_UINT16, D->l2a) &&
             read_all(f, "context", H5T_NATIVE_FLOAT, D->ctx) && read_all(f, "split", H5T_NATIVE_UINT8, D->split);
    if (ok && H5Lexists(f, "context_px", H5P_DEFAULT) > 0)
        ok = (D->cpx = cc_malloc3(D->n * PPX, CC_BOA_NCTX, sizeof(uint16_t))) != NULL &&
             read_all(f, "context_px", H5T_NATIVE_UINT16, D->cpx);
    H5Fclose(f);
    if (!ok || !(D->px = cc_malloc3(D->n * PPX, 1, sizeof(size_t))))
        return 0;
    for (size_t p = 0; p < D->n; p++)
        for (size_t i = 0; i < PPX && D->split[p] == 0; i++) {
            const uint16_t *a = D->l1c + (p * PPX + i) * NB, *b = D->l2a + (p * PPX + i) * NB;
            int valid = 1;
            for (int k = 0; k < NB; k++)
                valid &= a[k] != 0 && b[k] != 0;
            if (valid)
                D->px[D->npx++] = p * PPX + i;
        }
    return D->npx > 1;
}

/* the model's inputs of training pixel k, as the trainer builds them */
static void pixel(void *ctx, size_t k, float *x)
{
    const data *D = ctx;
    size_t id = D->px[k], p = id / PPX;
    for (int b = 0; b < NB; b++)
        x[b] = (float)cc_refl_decode(D->l1c[id * NB + b], -D->dn_offset, CC_REFL_QUANT);
    if (D->cpx) {
        for (int q = 0; q < CC_BOA_NCTX; q++)
            x[NB + q] = (float)(D->cpx[id * CC_BOA_NCTX + q] * 1e-4);
        return;
    }
    const float *c = D->ctx + p * D->nctx;
    cc_boa_context cx = {.mu_s = c[0], .mu_v = c[1], .cos_raa = c[2], .aot550 = c[3], .wv = c[4], .p_rel = c[5],
                         .o3 = D->nctx > 6 ? c[6] : 0.331};
    cc_boa_context_features(&cx, x + NB);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: cc_boa_domain_fit MODEL.h5 DATASET.h5 OUT.h5\n");
        return 2;
    }
    cc_nn_model m;
    data D;
    cc_boa_domain d;
    int rc = 1;
    memset(&D, 0, sizeof D);
    cc_nn_model_init(&m);
    if (cc_model_file_read(argv[1], &m) != CC_OK || cc_boa_model_check(&m, argv[1]) != CC_OK) {
        fprintf(stderr, "cc_boa_domain_fit: error: %s\n", cc_error_message());
        goto out;
    }
    if (!load(argv[2], &D)) {
        fprintf(stderr, "cc_boa_domain_fit: error: %s: not a readable clearcube dataset with training pixels\n",
                argv[2]);
        goto out;
    }
    if (cc_boa_domain_fit(&m, pixel, &D, D.npx, &d) != CC_OK ||
        cc_boa_domain_write_model(argv[3], &m, m.provenance, &d) != CC_OK) {
        fprintf(stderr, "cc_boa_domain_fit: error: %s\n", cc_error_message());
        goto out;
    }
    char desc[512];
    cc_boa_domain_describe(&d, desc, sizeof desc);
    printf("%s: %s (%zu training pixels)\n", argv[3], desc, D.npx);
    rc = 0;
out:
    cc_nn_model_free(&m);
    free(D.l1c);
    free(D.l2a);
    free(D.cpx);
    free(D.ctx);
    free(D.split);
    free(D.px);
    return rc;
}
