/* Atmospheric input retrieval (pipeline/atmos/atmos.h): synthetic round trips built
 * with the SMAC forward model, water exclusion, SCL, fallbacks, missing B9,
 * thread independence, and the water vapour of the real sen2r-barbellino
 * L1C scene (Italian Alps, 2017-07-03). */
#include <gdal.h>
#include <stdint.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/alloc.h"
#include "core/error.h"
#include "io/s2/scene.h"
#include "pipeline/atmos/atmos.h"
#include "kernels/smac/smac.h"
#include "testutil.h"

#define TRUE_AOT 0.15
#define TRUE_WV 1.3
#define NX 120
#define NY 100
#define NPIX (NX * NY)

enum { CLS_VEG, CLS_WATER, CLS_SOIL };

static uint64_t rng = 12345;
static double urand(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng >> 11) / 9007199254740992.0;
}

typedef struct {
    float *toa[CC_NBANDS]; /* owned, freed by scene_free */
    int cls[NPIX];
    double pressure;
} synth_scene;

static const double G_TETAS = 35.0, G_PHIS = 150.0, G_TETAV = 6.0, G_PHIV = 100.0, G_UO3 = 0.3;

/* Surface reflectance of band b for a pixel of class cls; r12 drives the DDV
 * bands (red = 0.5 B12, blue = 0.5 red), nir is equal in B08, B8A and B09. */
static double surface(int cls, int b, double r12, double nir)
{
    switch (cls) {
    case CLS_VEG: {
        const double v[CC_NBANDS] = {0.25 * r12, 0.25 * r12, 0.05, 0.5 * r12, 0.1, 0.25, nir,
                                     nir,        nir,        nir,  0.01,      2.2 * r12, r12};
        return v[b];
    }
    case CLS_WATER: {
        const double v[CC_NBANDS] = {0.07, 0.06, 0.06, 0.05, 0.04,  0.03,  0.03,
                                     0.025, 0.025, 0.025, 0.005, 0.02, 0.015};
        return v[b];
    }
    default: {
        const double v[CC_NBANDS] = {0.10, 0.12, 0.15, 0.18, 0.21, 0.24, 0.27,
                                     0.30, 0.30,  0.30,  0.01,  0.33, 0.25};
        return v[b];
    }
    }
}

static void scene_build(synth_scene *s, int with_veg)
{
    memset(s, 0, sizeof *s);
    s->pressure = cc_smac_pressure_from_elevation(500.0);
    cc_smac_terms t[CC_NBANDS];
    cc_smac_atmos a = {.tetas = G_TETAS, .phis = G_PHIS, .tetav = G_TETAV, .phiv = G_PHIV,
                       .pressure_hpa = s->pressure, .aot550 = TRUE_AOT, .uo3 = G_UO3,
                       .uh2o = TRUE_WV};
    for (int b = 0; b < CC_NBANDS; b++) {
        cc_smac_terms_compute(cc_smac_coefs_get(CC_SC_S2A, b), &a, &t[b]);
        s->toa[b] = cc_malloc3(NPIX, sizeof(float), 1);
        CC_ASSERT(s->toa[b]);
    }
    for (int i = 0; i < NPIX; i++) {
        int k = i % 10;
        int cls = k < 7 ? CLS_VEG : (k == 7 ? CLS_WATER : CLS_SOIL);
        if (!with_veg && cls == CLS_VEG)
            cls = (i % 2) ? CLS_SOIL : CLS_WATER;
        s->cls[i] = cls;
        double r12 = 0.015 + 0.03 * urand();
        double nir = 0.28 + 0.10 * urand();
        for (int b = 0; b < CC_NBANDS; b++)
            s->toa[b][i] = (float)cc_smac_forward(&t[b], surface(cls, b, r12, nir));
    }
    /* a few nodata pixels */
    for (int b = 0; b < CC_NBANDS; b++)
        s->toa[b][5] = NAN;
}

static void scene_free(synth_scene *s)
{
    for (int b = 0; b < CC_NBANDS; b++)
        free(s->toa[b]);
}

static cc_atmos_input scene_input(const synth_scene *s)
{
    cc_atmos_input in;
    memset(&in, 0, sizeof in);
    in.sc = CC_SC_S2A;
    in.n = NPIX;
    for (int b = 0; b < CC_NBANDS; b++)
        in.toa[b] = s->toa[b];
    in.tetas = G_TETAS;
    in.phis = G_PHIS;
    in.tetav = G_TETAV;
    in.phiv = G_PHIV;
    in.pressure_hpa = s->pressure;
    in.uo3 = G_UO3;
    return in;
}

static void test_wv_pixel(void)
{
    /* exact in the model the retrieval assumes (AOT CC_ATMOS_WV_AOT, azimuths 0/180) */
    const double p = 900.0, ts = 40.0, tv = 8.0, rs = 0.3;
    cc_smac_atmos a = {.tetas = ts, .phis = 0, .tetav = tv, .phiv = 180, .pressure_hpa = p,
                       .aot550 = CC_ATMOS_WV_AOT, .uo3 = CC_ATMOS_DEFAULT_UO3, .uh2o = 0};
    for (double u = 0.2; u < 6.0; u += 0.7) {
        cc_smac_terms t8, t9;
        a.uh2o = u;
        cc_smac_terms_compute(cc_smac_coefs_get(CC_SC_S2B, CC_B8A), &a, &t8);
        cc_smac_terms_compute(cc_smac_coefs_get(CC_SC_S2B, CC_B09), &a, &t9);
        double r8 = cc_smac_forward(&t8, rs), r9 = cc_smac_forward(&t9, rs);
        double got = cc_atmos_wv_pixel(CC_SC_S2B, r9, r8, ts, tv, p);
        CHECK_NEAR(got, u, 1e-8 * u);
        /* science.md's plain ratio formula, for comparison */
        const cc_smac_coefs *c9 = cc_smac_coefs_get(CC_SC_S2B, CC_B09);
        double m = 1 / cos(ts * M_PI / 180) + 1 / cos(tv * M_PI / 180);
        double naive = pow(log(r9 / r8) / c9->ah2o, 1 / c9->nh2o) / m;
        if (u == 0.2 || u > 5)
            printf("wv pixel: true %.2f retrieved %.6f (plain ratio formula %.4f)\n", u, got,
                   naive);
    }
    CHECK(isnan(cc_atmos_wv_pixel(CC_SC_S2A, 0.01, 0.015, 30, 5, 1000))); /* too dark */
    CHECK(isnan(cc_atmos_wv_pixel(CC_SC_S2A, NAN, 0.3, 30, 5, 1000)));
    CHECK(isnan(cc_atmos_wv_pixel(CC_SC_UNKNOWN, 0.2, 0.3, 30, 5, 1000)));
    CHECK(isnan(cc_atmos_wv_pixel(CC_SC_S2A, 0.2, 0.3, 30, 5, -1)));
    CHECK(cc_atmos_wv_pixel(CC_SC_S2A, 0.45, 0.3, 30, 5, 1000) == CC_ATMOS_WV_MIN);
    CHECK(cc_atmos_wv_pixel(CC_SC_S2A, 0.001, 0.3, 30, 5, 1000) == CC_ATMOS_WV_MAX);
}

static void test_synthetic(void)
{
    synth_scene s;
    scene_build(&s, 1);
    cc_atmos_input in = scene_input(&s);
    size_t n_veg = 0;
    for (int i = 0; i < NPIX; i++)
        n_veg += (s.cls[i] == CLS_VEG && i != 5);

    /* water vapour */
    float *wv = cc_malloc3(NPIX, sizeof(float), 1);
    CC_ASSERT(wv);
    double scene_wv = 0;
    size_t nv = 0;
    CHECK_OK(cc_atmos_retrieve_wv(&in, wv, &scene_wv, &nv));
    printf("synthetic WV (B9/B8A): scene median %.4f (true %.2f), %zu valid of %d\n", scene_wv,
           TRUE_WV, nv, NPIX);
    CHECK(fabs(scene_wv - TRUE_WV) <= 0.02 * TRUE_WV);
    CHECK(nv == NPIX - 1 - NPIX / 10); /* nodata pixel and water not retrieved */
    double worst = 0;
    for (int i = 0; i < NPIX; i++) {
        CHECK(isfinite(wv[i]));
        if (s.cls[i] != CLS_WATER && fabs(wv[i] - TRUE_WV) > worst)
            worst = fabs(wv[i] - TRUE_WV);
    }
    CHECK(wv[5] == (float)scene_wv); /* nodata filled with the median */
    printf("synthetic WV: max per-pixel error on land %.4f\n", worst);
    CHECK(worst <= 0.03 * TRUE_WV);

    /* B08 instead of B8A (with a warning) */
    cc_atmos_input in8 = in;
    in8.toa[CC_B8A] = NULL;
    double wv8 = 0;
    CHECK_OK(cc_atmos_retrieve_wv(&in8, wv, &wv8, NULL));
    printf("synthetic WV (B9/B08 fallback): %.4f\n", wv8);
    CHECK(fabs(wv8 - TRUE_WV) <= 0.03 * TRUE_WV);

    /* missing B9 */
    cc_atmos_input in9 = in;
    in9.toa[CC_B09] = NULL;
    CHECK(cc_atmos_retrieve_wv(&in9, wv, &wv8, NULL) == CC_ERR_MISSING);
    CHECK(strstr(cc_error_message(), "B09") != NULL);
    CHECK(isnan(wv8));

    /* aerosol */
    cc_aot_result r;
    CHECK_OK(cc_atmos_retrieve_aot(&in, scene_wv, &r));
    printf("synthetic AOT: %.5f (true %.2f), %zu DDV pixels (expected %zu), B12 <= %.2f, "
           "fallback %d\n",
           r.aot550, TRUE_AOT, r.n_ddv, n_veg, r.b12_max, r.fallback);
    CHECK(fabs(r.aot550 - TRUE_AOT) <= 0.01);
    CHECK(r.fallback == 0);
    CHECK(r.n_ddv == n_veg); /* every water pixel (B12 in the DDV window) excluded */
    CHECK(r.b12_max == 0.05);

    /* with the default WV instead: still close */
    cc_aot_result r2;
    CHECK_OK(cc_atmos_retrieve_aot(&in, CC_ATMOS_DEFAULT_WV, &r2));
    printf("synthetic AOT with WV %.1f: %.4f\n", CC_ATMOS_DEFAULT_WV, r2.aot550);

    /* SCL: clouds over vegetation and water classes are excluded */
    uint8_t *scl = cc_malloc3(NPIX, 1, 1);
    CC_ASSERT(scl);
    size_t n_cloud = 0;
    for (int i = 0; i < NPIX; i++) {
        scl[i] = s.cls[i] == CLS_WATER ? 6 : (s.cls[i] == CLS_VEG ? 4 : 5);
        if (s.cls[i] == CLS_VEG && i < NPIX / 4 && i != 5) {
            scl[i] = (i % 3) ? 9 : 3;
            n_cloud++;
        }
    }
    cc_atmos_input ins = in;
    ins.scl = scl;
    CHECK_OK(cc_atmos_retrieve_aot(&ins, scene_wv, &r2));
    CHECK(r2.n_ddv == n_veg - n_cloud);
    CHECK(fabs(r2.aot550 - TRUE_AOT) <= 0.01);
    double wvs = 0;
    size_t nvs = 0;
    CHECK_OK(cc_atmos_retrieve_wv(&ins, wv, &wvs, &nvs));
    CHECK(nvs == NPIX - 1 - NPIX / 10); /* SCL 6 water not retrieved */

    /* thread-count independence */
#ifdef _OPENMP
    int nt = omp_get_max_threads();
    omp_set_num_threads(1);
    cc_aot_result r1;
    double wv1 = 0;
    CHECK_OK(cc_atmos_retrieve_aot(&in, scene_wv, &r1));
    CHECK_OK(cc_atmos_retrieve_wv(&in, wv, &wv1, NULL));
    omp_set_num_threads(nt > 1 ? nt : 4);
    CHECK(r1.aot550 == r.aot550 && r1.n_ddv == r.n_ddv);
    CHECK(wv1 == scene_wv);
    omp_set_num_threads(nt);
#endif

    /* missing bands */
    cc_atmos_input inb = in;
    inb.toa[CC_B12] = NULL;
    CHECK(cc_atmos_retrieve_aot(&inb, 1.0, &r2) == CC_ERR_MISSING);
    free(scl);
    free(wv);
    scene_free(&s);

    /* no vegetation: fallback, still CC_OK */
    scene_build(&s, 0);
    in = scene_input(&s);
    CHECK_OK(cc_atmos_retrieve_aot(&in, TRUE_WV, &r));
    printf("no-DDV scene: AOT %.3f fallback %d, %zu DDV pixels\n", r.aot550, r.fallback,
           r.n_ddv);
    CHECK(r.fallback == 1);
    CHECK(r.aot550 == CC_ATMOS_DEFAULT_AOT);
    CHECK(r.n_ddv == 0);
    scene_free(&s);
}

/* The real Barbellino L1C stack: 12 bands B01..B08, B09, B10, B11, B12 (no
 * B8A), DN = 10000 rho, nodata 65535. */
static void test_barbellino(const char *shared)
{
    char path[4096];
    snprintf(path, sizeof path,
             "%s/datasets/sen2r-barbellino/S2A1C_20170703_022_Barbellino_TOA_10.tif", shared);
    GDALAllRegister();
    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    CHECK(ds != NULL);
    if (!ds)
        return;
    const int w = GDALGetRasterXSize(ds), h = GDALGetRasterYSize(ds);
    const int nb = GDALGetRasterCount(ds);
    CHECK(nb == 12);
    const int map[12] = {CC_B01, CC_B02, CC_B03, CC_B04, CC_B05, CC_B06,
                         CC_B07, CC_B08, CC_B09, CC_B10, CC_B11, CC_B12};
    float *buf[12] = {0};
    float *wv = NULL;
    cc_atmos_input in;
    memset(&in, 0, sizeof in);
    in.sc = CC_SC_S2A;
    in.n = (size_t)w * (size_t)h;
    for (int k = 0; k < 12 && k < nb; k++) {
        buf[k] = cc_malloc3(in.n, sizeof(float), 1);
        CC_ASSERT(buf[k]);
        GDALRasterBandH band = GDALGetRasterBand(ds, k + 1);
        CHECK(GDALRasterIO(band, GF_Read, 0, 0, w, h, buf[k], w, h, GDT_Float32, 0, 0) == CE_None);
        for (size_t i = 0; i < in.n; i++)
            buf[k][i] = buf[k][i] == 65535.0f ? NAN : buf[k][i] / 10000.0f;
        in.toa[map[k]] = buf[k];
    }
    GDALClose(ds);
    /* 2017-07-03 ~10:20 UTC at 46.07 N 10.04 E: sun zenith ~26.6 deg (computed
     * from the solar declination and hour angle); view near nadir; terrain
     * around lake Barbellino ~2100-2500 m. */
    in.tetas = 26.6;
    in.phis = 145.0;
    in.tetav = 5.0;
    in.phiv = 105.0;
    in.pressure_hpa = cc_smac_pressure_from_elevation(2200.0);
    in.uo3 = CC_ATMOS_DEFAULT_UO3;
    wv = cc_malloc3(in.n, sizeof(float), 1);
    CC_ASSERT(wv);
    double scene_wv = NAN;
    size_t nv = 0;
    CHECK_OK(cc_atmos_retrieve_wv(&in, wv, &scene_wv, &nv));
    float lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < in.n; i++) {
        lo = wv[i] < lo ? wv[i] : lo;
        hi = wv[i] > hi ? wv[i] : hi;
    }
    printf("Barbellino WV (B9/B08): scene median %.3f g cm-2 from %zu of %zu pixels, field "
           "%.3f..%.3f, P %.1f hPa\n",
           scene_wv, nv, in.n, lo, hi, in.pressure_hpa);
    /* Alpine summer at ~2200 m: column water vapour 0.3-2.5 g cm-2 */
    CHECK(scene_wv >= 0.3 && scene_wv <= 2.5);
    CHECK(nv > in.n / 2 && nv < in.n); /* the lake is not retrieved */
    cc_aot_result r;
    CHECK_OK(cc_atmos_retrieve_aot(&in, scene_wv, &r));
    printf("Barbellino AOT550: %.3f (%zu DDV pixels, B12 <= %.2f, fallback %d)\n", r.aot550,
           r.n_ddv, r.b12_max, r.fallback);
    /* Not asserted narrowly: on this 24 x 42 px alpine crop Sen2Cor's own BOA
     * gives red/B12 ~0.85 on the DDV-like pixels, not the 0.5 the DDV rule
     * assumes, so the DDV AOT is biased high here. */
    CHECK(r.aot550 >= 0.0 && r.aot550 <= 1.0);
    for (int k = 0; k < 12; k++)
        free(buf[k]);
    free(wv);
}

int main(void)
{
    test_wv_pixel();
    test_synthetic();
    const char *shared = cc_test_shared_or_skip();
    test_barbellino(shared);
    TEST_RETURN();
}
