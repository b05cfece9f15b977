/* `clearcube dataset` round trips on synthetic inputs (needs no ../shared),
 * format version 2 (7 context columns, per-pixel context_px):
 *  1. kind reference on a SIMULATED L1C scene: the stored l2a equals
 *     cc_reference_run's output and the stored l1c the scene's TOA, pixel by
 *     pixel; the context holds the retrieved AOT/WV, the ozone and the angles;
 *     context_px is the patch context per valid pixel but for the water
 *     vapour, which is the reference's own per-pixel WVP layer, and 0 on
 *     invalid pixels.
 *  2. kind sen2cor-l2a on a small synthetic L2A band folder (with constant AOT
 *     and WVP layers): cc_smac_inverse with the stored context applied to the
 *     stored l1c gives back the stored l2a within 2 DN (B09: the 0.5 DN TOA
 *     rounding amplified by 1/(tg T T), up to ~5 DN at tg 0.1), for the
 *     real-atmosphere variant and the random variants; the draws are deterministic;
 *     context_px is the patch context (water vapour: the WVP layer in the
 *     real-atmosphere variant). */
#include <gdal.h>
#include <hdf5.h>

#include "core/reflectance.h"
#include "io/s2/scene.h"
#include "pipeline/boa/dataset.h"
#include "pipeline/atmos/reference.h"
#include "pipeline/boa/simulate.h"
#include "kernels/smac/smac.h"
#include "h5read.h"
#include "testutil.h"

#define P 128
#define NB 12
#define NC 7 /* context columns: mu_s, mu_v, cos_raa, aot550, wv, p_rel, o3 */

typedef struct {
    size_t n;
    uint16_t *l1c, *l2a, *cpx;
    float *ctx;
    int version;
    char context_attr[128];
    int32_t *scene;
    uint8_t *split, *kind;
} h5data;

static int load(const char *path, h5data *h)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return -1;
    size_t n;
    h->l1c = h5_read_all(f, "l1c", H5T_NATIVE_UINT16, 2, &h->n);
    h->l2a = h5_read_all(f, "l2a", H5T_NATIVE_UINT16, 2, &n);
    h->ctx = h5_read_all(f, "context", H5T_NATIVE_FLOAT, 4, &n);
    CHECK(n == h->n);
    h->cpx = h5_read_all(f, "context_px", H5T_NATIVE_UINT16, 2, &n);
    CHECK(n == h->n);
    /* the context has 7 columns, context_px [N, 128, 128, 7] */
    hid_t d = H5Dopen2(f, "context", H5P_DEFAULT), sp = H5Dget_space(d);
    hsize_t dims[4] = {0};
    CHECK(H5Sget_simple_extent_dims(sp, dims, NULL) == 2 && dims[1] == NC);
    H5Sclose(sp);
    H5Dclose(d);
    d = H5Dopen2(f, "context_px", H5P_DEFAULT);
    sp = H5Dget_space(d);
    CHECK(H5Sget_simple_extent_dims(sp, dims, NULL) == 4 && dims[1] == P && dims[2] == P && dims[3] == NC);
    H5Sclose(sp);
    H5Dclose(d);
    hid_t a = H5Aopen(f, "version", H5P_DEFAULT);
    H5Aread(a, H5T_NATIVE_INT, &h->version);
    H5Aclose(a);
    char *str = h5_read_str_attr(f, "context");
    if (str)
        snprintf(h->context_attr, sizeof h->context_attr, "%s", str);
    free(str);
    h->scene = h5_read_all(f, "scene", H5T_NATIVE_INT32, 4, &n);
    h->split = h5_read_all(f, "split", H5T_NATIVE_UINT8, 1, &n);
    h->kind = h5_read_all(f, "kind", H5T_NATIVE_UINT8, 1, &n);
    H5Fclose(f);
    return h->l1c && h->l2a && h->ctx && h->cpx ? 0 : -1;
}

static void unload(h5data *h)
{
    free(h->l1c);
    free(h->l2a);
    free(h->ctx);
    free(h->cpx);
    free(h->scene);
    free(h->split);
    free(h->kind);
}

/* Key of context feature q (round(10000 * feature), each feature "value + 1",
 * the water vapour halved) for the context value v. */
static long feature_key(int q, double v)
{
    return lround(((q == 4 ? 0.5 * v : v) + 1.0) * 10000.0);
}

/* context_px of patch p against its patch context: every valid pixel (l1c
 * != 0) holds the patch context's features (to 1 key: the context column is
 * float32), but the water vapour, which is wvp[(y0 + y) * gw + x0 + x] * 1e-3
 * g cm-2 exactly when wvp is given (0 there: the patch value); invalid pixels
 * hold 0. Returns the mismatches; *nvalid counts the valid pixels. */
static size_t check_cpx(const h5data *h, size_t p, const uint16_t *wvp, int gw, int gh, int x0, int y0,
                        size_t *nvalid)
{
    const float *c = h->ctx + p * NC;
    size_t bad = 0;
    *nvalid = 0;
    for (int y = 0; y < P; y++)
        for (int x = 0; x < P; x++) {
            size_t q = (p * P + y) * P + x;
            const uint16_t *k = h->cpx + q * NC;
            if (!h->l1c[q * NB]) {
                for (int j = 0; j < NC; j++)
                    bad += k[j] != 0;
                continue;
            }
            (*nvalid)++;
            for (int j = 0; j < NC; j++) {
                long want = feature_key(j, c[j]);
                long tol = 1;
                if (j == 4 && wvp && x0 + x < gw && y0 + y < gh && wvp[(size_t)(y0 + y) * gw + x0 + x]) {
                    want = feature_key(4, wvp[(size_t)(y0 + y) * gw + x0 + x] * 1e-3);
                    tol = 0;
                }
                if (labs((long)k[j] - want) > tol) {
                    if (bad < 4)
                        printf("  patch %zu pixel (%d,%d) feature %d: %u, expected %ld\n", p, x, y, j, k[j], want);
                    bad++;
                }
            }
        }
    return bad;
}

static int build(const char *cfg, const char *out, cc_dataset_summary *sum)
{
    cc_dataset_config *c = NULL;
    CHECK_OK(cc_dataset_config_load(cfg, &c));
    if (!c)
        return -1;
    cc_status st = cc_dataset_build(c, out, sum);
    CHECK_OK(st);
    cc_dataset_config_free(c);
    return st == CC_OK ? 0 : -1;
}

static void test_reference(const char *dir)
{
    cc_simulate_options so;
    cc_simulate_options_init(&so);
    so.size = 200; /* 2x2 patches: one full, two 72-px (56 % valid), one 72x72 (32 %, dropped) */
    CHECK_OK(cc_simulate_scene(dir, &so));
    char tif[4200], cfg[4200], out[4200];
    snprintf(tif, sizeof tif, "%s/S2A_SIMULATED_L1C.tif", dir);
    snprintf(cfg, sizeof cfg, "%s/ref.yaml", dir);
    snprintf(out, sizeof out, "%s/ref.h5", dir);
    FILE *f = fopen(cfg, "w");
    fprintf(f, "seed: 3\nsources:\n  - scene: SIM\n    kind: reference\n    split: train\n    path: S2A_SIMULATED_L1C.tif\n"
               "    bands: B01,B02,B03,B04,B05,B06,B07,B08,B8A,B09,B10,B11,B12\n    spacecraft: S2A\n"
               "    date: 2024-06-15\n    sun_zenith: %.17g\n    sun_azimuth: %.17g\n    view_zenith: %.17g\n"
               "    view_azimuth: %.17g\n    dn_offset: -1000\n",
            so.sun_zenith, so.sun_azimuth, so.view_zenith, so.view_azimuth);
    fclose(f);
    cc_dataset_summary sum;
    if (build(cfg, out, &sum))
        return;
    /* 200 px: patches at 0 and 128 (72 px wide: 56 % valid); (128,128): 72*72 = 32 % -> dropped */
    printf("reference: %zu patches\n", sum.n_patches);
    CHECK(sum.n_patches == 3);

    cc_scene_options o;
    cc_simulate_scene_options(&so, &o);
    cc_scene *s = NULL;
    CHECK_OK(cc_scene_open(tif, &o, &s));
    cc_reference_options ro;
    cc_reference_options_init(&ro);
    cc_reference_result r;
    CHECK_OK(cc_reference_run(s, &ro, &r));
    CHECK(r.nbands == NB && r.dn_offset == 1000);
    h5data h;
    memset(&h, 0, sizeof h);
    CHECK(load(out, &h) == 0);
    const int x0s[3] = {0, 128, 0}, y0s[3] = {0, 0, 128};
    size_t nchk = 0, bad2a = 0, bad1c = 0;
    CHECK(h.version == 2);
    CHECK(!strcmp(h.context_attr, "mu_s,mu_v,cos_raa,aot550,wv,p_rel,o3"));
    size_t ncpx = 0, badcpx = 0, nwv_px = 0;
    for (size_t p = 0; p < h.n && p < 3; p++) {
        const float *c = h.ctx + p * NC;
        CHECK_NEAR(c[0], cos(so.sun_zenith * M_PI / 180), 1e-5);
        CHECK_NEAR(c[1], cos(so.view_zenith * M_PI / 180), 1e-5);
        CHECK_NEAR(c[2], cos((so.sun_azimuth - so.view_azimuth) * M_PI / 180), 1e-4);
        CHECK_NEAR(c[3], r.aot550, 1e-6);
        CHECK_NEAR(c[4], r.water_vapour, 1e-5);
        CHECK_NEAR(c[5], 1.0, 1e-6);
        CHECK_NEAR(c[6], r.ozone, 1e-6);
        CHECK(h.kind[p] == 0 && h.split[p] == 0 && h.scene[p] == 0);
        size_t nv;
        badcpx += check_cpx(&h, p, r.wvp, r.grid.width, r.grid.height, x0s[p], y0s[p], &nv);
        ncpx += nv;
        /* the WVP layer varies per pixel: context_px is not the patch median there */
        for (size_t q = (size_t)p * P * P; q < (size_t)(p + 1) * P * P; q++)
            nwv_px += h.l1c[q * NB] && h.cpx[q * NC + 4] != feature_key(4, c[4]);
        for (int y = 0; y < P; y++)
            for (int x = 0; x < P; x++) {
                int col = x0s[p] + x, row = y0s[p] + y;
                const uint16_t *a = h.l2a + ((p * P + y) * P + x) * NB, *t = h.l1c + ((p * P + y) * P + x) * NB;
                if (col >= r.grid.width || row >= r.grid.height) {
                    for (int k = 0; k < NB; k++)
                        bad2a += a[k] != 0 || t[k] != 0;
                    continue;
                }
                size_t i = (size_t)row * r.grid.width + col;
                for (int k = 0; k < NB; k++) {
                    bad2a += a[k] != r.boa[k][i];
                    int b = cc_l2a_bands[k];
                    /* the simulated stack is on the output grid: l1c is the input DN itself */
                    bad1c += t[k] != s->band[b].dn[i];
                    nchk++;
                }
            }
    }
    printf("reference: %zu values checked, %zu l2a and %zu l1c mismatches\n", nchk, bad2a, bad1c);
    CHECK(nchk > 0 && bad2a == 0 && bad1c == 0);
    printf("reference: context_px of %zu valid pixels, %zu mismatches, %zu pixels whose WV differs from the "
           "patch median\n", ncpx, badcpx, nwv_px);
    CHECK(ncpx > 3 * (size_t)P * P / 2 && badcpx == 0 && nwv_px > 0);
    unload(&h);
    cc_reference_result_free(&r);
    cc_scene_free(s);
}

static void write_band(const char *path, int w, int hgt, const uint16_t *v)
{
    GDALDriverH drv = GDALGetDriverByName("GTiff");
    GDALDatasetH ds = GDALCreate(drv, path, w, hgt, 1, GDT_UInt16, NULL);
    double gt[6] = {500000, 10, 0, 5000000, 0, -10};
    GDALSetGeoTransform(ds, gt);
    GDALSetProjection(ds, "EPSG:32632");
    CHECK(GDALRasterIO(GDALGetRasterBand(ds, 1), GF_Write, 0, 0, w, hgt, (void *)v, w, hgt, GDT_UInt16, 0, 0) ==
          CE_None);
    GDALClose(ds);
}

static size_t check_inverse(const h5data *h, size_t *maxerr, size_t *maxerr9, size_t *nbad)
{
    size_t n = 0;
    *maxerr = *maxerr9 = *nbad = 0;
    for (size_t p = 0; p < h->n; p++) {
        const float *c = h->ctx + p * NC;
        cc_smac_atmos a = {.tetas = acos(c[0]) * 180 / M_PI, .phis = acos(c[2]) * 180 / M_PI, .tetav = acos(c[1]) * 180 / M_PI,
                           .phiv = 0, .pressure_hpa = c[5] * 1013.25, .aot550 = c[3], .uo3 = c[6], .uh2o = c[4]};
        cc_smac_terms t[NB];
        for (int k = 0; k < NB; k++)
            cc_smac_terms_compute(cc_smac_coefs_get(CC_SC_S2B, cc_l2a_bands[k]), &a, &t[k]);
        for (size_t q = 0; q < (size_t)P * P; q++) {
            const uint16_t *l1 = h->l1c + (p * P * P + q) * NB, *l2 = h->l2a + (p * P * P + q) * NB;
            if (!l1[0])
                continue;
            for (int k = 0; k < NB; k++) {
                double rho = cc_smac_inverse(&t[k], (l1[k] - 1000.0) / 10000.0);
                uint16_t back = cc_refl_encode(rho, CC_DATASET_DN_OFFSET, CC_REFL_QUANT);
                size_t e = (size_t)abs((int)back - (int)l2[k]);
                /* the TOA is stored to 1 DN: its +-0.5 DN rounding comes back amplified by
                 * 1/(tg T_down T_up); 2 DN everywhere but in the water-vapour band B09, whose
                 * gas transmittance reaches ~0.1 (wv 3 g cm-2 at a low sun) */
                double amp = 1.0 / (t[k].tg * t[k].t_down * t[k].t_up);
                size_t bound = cc_l2a_bands[k] == CC_B09 ? (size_t)ceil(0.5 * amp + 1.0) : 2;
                if (bound < 2)
                    bound = 2;
                if (e > bound) {
                    (*nbad)++;
                    if (*nbad < 5)
                        printf("  patch %zu band %s: l1c %u -> %u vs l2a %u (bound %zu)\n", p,
                               cc_band_names[cc_l2a_bands[k]], l1[k], back, l2[k], bound);
                }
                if (cc_l2a_bands[k] != CC_B09 && e > *maxerr)
                    *maxerr = e;
                if (cc_l2a_bands[k] == CC_B09 && e > *maxerr9)
                    *maxerr9 = e;
                n++;
            }
        }
    }
    return n;
}

static void test_l2a(const char *dir)
{
    char d[4200], path[4400], cfg[4200], out[4200], out2[4200];
    snprintf(d, sizeof d, "%s/SYNTH_L2A", dir);
    mkdir(d, 0755);
    const int w = 130, hgt = 100; /* one patch (78 % valid) + a 2-px sliver (dropped) */
    uint16_t *v = malloc(sizeof *v * w * hgt);
    static const char *const names[NB] = {"B01", "B02", "B03", "B04", "B05", "B06",
                                          "B07", "B08", "B8A", "B09", "B11", "B12"};
    unsigned s = 7;
    for (int k = 0; k < NB; k++) {
        for (int i = 0; i < w * hgt; i++) {
            s = s * 1103515245u + 12345u;
            v[i] = (uint16_t)(200 + (s >> 8) % 5800); /* BOA 0.02 .. 0.6 */
        }
        v[5] = 0; /* one nodata pixel in one band: the whole pixel becomes nodata */
        snprintf(path, sizeof path, "%s/%s.tif", d, names[k]);
        write_band(path, w, hgt, v);
    }
    for (int i = 0; i < w * hgt; i++)
        v[i] = 200; /* AOT 0.2 */
    snprintf(path, sizeof path, "%s/AOT.tif", d);
    write_band(path, w, hgt, v);
    for (int i = 0; i < w * hgt; i++)
        v[i] = 1500; /* WV 1.5 g cm-2 */
    snprintf(path, sizeof path, "%s/WVP.tif", d);
    write_band(path, w, hgt, v);
    free(v);
    snprintf(cfg, sizeof cfg, "%s/l2a.yaml", dir);
    snprintf(out, sizeof out, "%s/l2a.h5", dir);
    snprintf(out2, sizeof out2, "%s/l2a-again.h5", dir);
    FILE *f = fopen(cfg, "w");
    fprintf(f, "seed: 11\nsources:\n  - scene: SYNTH\n    kind: sen2cor-l2a\n    split: val\n    path: SYNTH_L2A\n"
               "    spacecraft: S2B\n    date: 2021-05-01\n    sun_zenith: 35\n    sun_azimuth: 150\n"
               "    view_zenith: 4\n    view_azimuth: 100\n    dn_offset: 0\n    elevation: 800\n    variants: 5\n");
    fclose(f);
    cc_dataset_summary sum;
    if (build(cfg, out, &sum) || build(cfg, out2, &sum))
        return;
    printf("sen2cor-l2a: %zu patches\n", sum.n_patches);
    CHECK(sum.n_patches == 6 && sum.n_val == 6 && sum.n_kind[1] == 6);
    h5data h, h2;
    memset(&h, 0, sizeof h);
    memset(&h2, 0, sizeof h2);
    CHECK(load(out, &h) == 0 && load(out2, &h2) == 0);
    if (!h.l1c || !h2.l1c)
        return;
    CHECK(h.n == 6 && h.kind[0] == 1 && h.split[0] == 1);
    /* variant 0: the product's own atmosphere */
    CHECK_NEAR(h.ctx[3], 0.2, 1e-6);
    CHECK_NEAR(h.ctx[4], 1.5, 1e-6);
    CHECK_NEAR(h.ctx[5], pow(1 - 0.0065 * 800 / 288.15, 5.31), 1e-5);
    CHECK_NEAR(h.ctx[6], 0.331, 1e-6); /* the forward model's ozone */
    CHECK(h.version == 2);
    /* context_px: the patch context; the water vapour of the real-atmosphere
     * variant from the WVP layer (1500 = 1.5 g cm-2 everywhere) */
    uint16_t *wvp = malloc(sizeof *wvp * w * hgt);
    for (int i = 0; i < w * hgt; i++)
        wvp[i] = 1500;
    size_t nv, ncpx = 0, badcpx = check_cpx(&h, 0, wvp, w, hgt, 0, 0, &ncpx);
    for (size_t p = 1; p < h.n; p++) {
        badcpx += check_cpx(&h, p, NULL, 0, 0, 0, 0, &nv);
        ncpx += nv;
    }
    free(wvp);
    printf("sen2cor-l2a: context_px of %zu valid pixels, %zu mismatches\n", ncpx, badcpx);
    CHECK(ncpx == 6 * (size_t)(128 * 100 - 1) && badcpx == 0);
    CHECK(memcmp(h.cpx, h2.cpx, h.n * P * P * NC * 2) == 0);
    /* l2a is the input (DN + 1000), nodata pixel and padding are 0 */
    for (int k = 0; k < NB; k++)
        CHECK(h.l2a[k] >= 1200 && h.l2a[k] < 7000);
    CHECK(h.l2a[5 * NB + 3] == 0 && h.l1c[5 * NB + 3] == 0);
    CHECK(h.l2a[(size_t)(110 * P + 3) * NB] == 0);
    /* random draws within the documented ranges, deterministic */
    for (size_t p = 1; p < h.n; p++) {
        const float *c = h.ctx + p * NC;
        CHECK(c[0] >= cos(70 * M_PI / 180) - 1e-6 && c[0] <= cos(20 * M_PI / 180) + 1e-6);
        CHECK(c[1] >= cos(11 * M_PI / 180) - 1e-6);
        CHECK(c[3] >= 0.02 - 1e-6 && c[3] <= 0.6 + 1e-6 && c[4] >= 0.3 - 1e-6 && c[4] <= 4 + 1e-6);
        CHECK(c[5] <= 1.0 + 1e-6 && c[5] >= pow(1 - 0.0065 * 2500 / 288.15, 5.31) - 1e-6);
        CHECK_NEAR(c[6], 0.331, 1e-6);
    }
    CHECK(memcmp(h.ctx, h2.ctx, h.n * NC * sizeof(float)) == 0);
    CHECK(memcmp(h.l1c, h2.l1c, h.n * P * P * NB * 2) == 0);
    size_t maxerr, maxerr9, nbad;
    size_t n = check_inverse(&h, &maxerr, &maxerr9, &nbad);
    printf("sen2cor-l2a: inverse of %zu stored l1c values gives back l2a within %zu DN (B09: %zu DN); "
           "%zu outside the bound\n", n, maxerr, maxerr9, nbad);
    CHECK(n == 6 * (size_t)(128 * 100 - 1) * NB);
    CHECK(maxerr <= 2);
    CHECK(nbad == 0);
    unload(&h);
    unload(&h2);
}

int main(void)
{
    GDALAllRegister();
    const char *dir = cc_test_tmpdir("dataset_synthetic");
    test_reference(dir);
    test_l2a(dir);
    TEST_RETURN();
}
