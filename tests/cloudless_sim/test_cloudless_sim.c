/* Tests of the SIMULATED multi-sensor series (pipeline/cloudless/cloudless_sim.h) on the
 * real pieces in ../shared/datasets. */
#include <gdal.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline/cloudless/cloudless_sim.h"
#include "testutil.h"

static char g_datasets[2048], g_eo[2048];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static long parse_day(const char *s)
{
    int y, m, d;
    if (sscanf(s, "%d-%d-%d", &y, &m, &d) != 3) return 0;
    y -= m <= 2;
    long era = y / 400, yoe = y - era * 400;
    long doy = (153L * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

/* The converted eolearn stacks, read independently of the library. */
typedef struct {
    int nt, w, h;
    long day[128];
    float *ndvi;
    uint8_t *clm, *valid;
} patch;

static void *read_all(const char *name, GDALDataType t, size_t el, patch *p)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.tif", g_eo, name);
    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    if (!ds) return NULL;
    p->w = GDALGetRasterXSize(ds);
    p->h = GDALGetRasterYSize(ds);
    p->nt = GDALGetRasterCount(ds);
    for (int i = 0; i < p->nt && i < 128; i++)
        p->day[i] = parse_day(GDALGetMetadataItem(GDALGetRasterBand(ds, i + 1), "DATE", NULL));
    void *buf = malloc((size_t)p->nt * p->w * p->h * el);
    if (GDALDatasetRasterIO(ds, GF_Read, 0, 0, p->w, p->h, buf, p->w, p->h, t, p->nt, NULL, 0, 0, 0) !=
        CE_None) {
        free(buf);
        buf = NULL;
    }
    GDALClose(ds);
    return buf;
}

static size_t nan_count(const float *a, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += isnan(a[i]) ? 1 : 0;
    return c;
}

static void test_npy2tif_converted(const patch *p)
{
    /* shape, dates and a known value of the real arrays */
    CHECK(p->nt == 68 && p->w == 100 && p->h == 101);
    CHECK(p->day[0] == parse_day("2015-07-11"));
    CHECK(p->day[67] == parse_day("2017-12-22"));
    /* per-date cloud fractions of the real CLM: date 1 fully cloudy, date 0 clear */
    size_t pe = (size_t)p->w * p->h, c0 = 0, c1 = 0;
    for (size_t i = 0; i < pe; i++) {
        c0 += p->clm[i];
        c1 += p->clm[pe + i];
    }
    CHECK(c0 == 0);
    CHECK(c1 == pe);
    char path[4200];
    snprintf(path, sizeof path, "%s/NDVI.tif", g_eo);
    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    CHECK(ds != NULL);
    if (ds) {
        double gt[6];
        GDALGetGeoTransform(ds, gt);
        CHECK_NEAR(gt[0], 465181.0522318204, 1e-6);
        CHECK_NEAR(gt[3], 5080254.63349641, 1e-6);
        CHECK_NEAR(gt[1], (466180.53145382757 - 465181.0522318204) / 100, 1e-9);
        CHECK_NEAR(gt[5], -(5080254.63349641 - 5079244.8912012065) / 101, 1e-9);
        CHECK(strstr(GDALGetProjectionRef(ds), "32633") != NULL);
        GDALClose(ds);
    }
}

typedef struct {
    cc_series s;
    float *truth;
    int w, h;
    cc_cl_sim_info info;
} run;

static cc_status gen(const char *split, uint64_t seed, int ndays, unsigned sensors, run *r, double *secs)
{
    cc_cl_sim_options o;
    cc_cl_sim_options_init(&o);
    o.datasets = g_datasets;
    o.eolearn_tif = g_eo;
    o.split = split;
    o.seed = seed;
    o.ndays = ndays;
    o.sensors = sensors;
    o.info = &r->info;
    double t0 = now_s();
    cc_status st = cc_cl_sim_generate(&o, &r->s, &r->truth, &r->w, &r->h);
    if (secs) *secs = now_s() - t0;
    return st;
}

static void run_free(run *r)
{
    cc_series_free(&r->s);
    free(r->truth);
    cc_cl_sim_info_free(&r->info);
    memset(r, 0, sizeof *r);
}

static long src_day(const run *r, int d)
{
    long t = r->s.day0 + d + r->info.src_shift;
    while (t > r->info.period_last)
        t -= 365;
    return t;
}

/* The truth: reflectance in [0, 1]; NDVI follows the real trajectory on the real clear dates. */
static void check_series_truth(const run *r, const patch *p, const char *split)
{
    size_t npix = r->s.npix, nd = (size_t)r->s.ndays, pe = (size_t)p->w * p->h;
    const int B = CC_CL_NBANDS;
    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0, n = 0, sad = 0;
    for (size_t i = 0; i < nd * npix * B; i++)
        if (!(r->truth[i] >= 0 && r->truth[i] <= 1)) {
            CHECK(!"truth outside [0, 1]");
            break;
        }
    for (int d = 0; d < (int)nd; d++) {
        long t = src_day(r, d);
        for (int k = 0; k < p->nt; k++) {
            if (p->day[k] != t) continue;
            for (int y = 0; y < r->h; y++)
                for (int x = 0; x < r->w; x++) {
                    size_t g = (size_t)k * pe + (size_t)(r->info.y0 + y) * p->w + r->info.x0 + x;
                    if (!p->valid[g] || p->clm[g] || !isfinite(p->ndvi[g])) continue;
                    const float *tv = r->truth + ((size_t)d * npix + (size_t)y * r->w + x) * B;
                    double a = p->ndvi[g], b = (tv[6] - tv[2]) / (tv[6] + tv[2]);
                    sx += a;
                    sy += b;
                    sxx += a * a;
                    syy += b * b;
                    sxy += a * b;
                    sad += fabs(a - b);
                    n++;
                }
        }
    }
    double corr = (sxy - sx * sy / n) / sqrt((sxx - sx * sx / n) * (syy - sy * sy / n));
    printf("%s: truth NDVI vs real eolearn NDVI on %.0f clear pixel-dates: r = %.4f, MAE %.4f\n",
           split, n, corr, sad / n);
    CHECK(n > 10000);
    CHECK(corr > 0.9);
    CHECK(sad / n < 0.05);
}

/* S2: every 5 days; NaN exactly where the transplanted real CLM is cloudy. */
static void check_series_s2_mask(const run *r, const patch *p, const char *split)
{
    size_t npix = r->s.npix, nd = (size_t)r->s.ndays, pe = (size_t)p->w * p->h;
    const int B = CC_CL_NBANDS;
    long cloudy = 0, obs = 0;
    double pool_frac = 0;
    int s2days = 0, wrong_mask = 0;
    for (int d = 0; d < (int)nd; d++) {
        const float *a = r->s.s2 + (size_t)d * npix * B;
        int is_day = d >= r->info.s2_phase && (d - r->info.s2_phase) % 5 == 0;
        CHECK(is_day == (r->info.s2_mask_date[d] >= 0));
        if (!is_day) {
            if (nan_count(a, npix * B) != npix * B) {
                CHECK(!"S2 value on a day without an S2 acquisition");
                break;
            }
            continue;
        }
        s2days++;
        int t = r->info.s2_mask_date[d];
        CHECK(p->day[t] >= r->info.period_first && p->day[t] <= r->info.period_last);
        CHECK(t == r->info.weather_date[d]);
        long c = 0;
        for (int y = 0; y < r->h; y++)
            for (int x = 0; x < r->w; x++) {
                size_t g = (size_t)t * pe + (size_t)(r->info.y0 + y) * p->w + r->info.x0 + x;
                const float *v = a + ((size_t)y * r->w + x) * B;
                int cl = p->clm[g] != 0;
                c += cl;
                if (cl != (nan_count(v, B) == (size_t)B)) wrong_mask++;
                if (!cl && nan_count(v, B) != 0) wrong_mask++;
            }
        CHECK(c == r->info.s2_cloudy[d]);
        cloudy += c;
        obs += (long)npix;
    }
    CHECK(wrong_mask == 0);
    CHECK(s2days == ((int)nd - r->info.s2_phase + 4) / 5);
    for (int k = 0; k < p->nt; k++)
        if (p->day[k] >= r->info.period_first && p->day[k] <= r->info.period_last) {
            size_t c = 0;
            for (size_t i = 0; i < pe; i++)
                c += p->clm[(size_t)k * pe + i];
            pool_frac += (double)c / pe / r->info.n_traj_dates;
        }
    printf("%s: %d S2 days, cloudy fraction %.3f (real CLM of the period's %d dates: %.3f)\n", split,
           s2days, (double)cloudy / obs, r->info.n_traj_dates, pool_frac);
    CHECK(fabs((double)cloudy / obs - pool_frac) < 0.12);
}

/* S2 noise is small: clear observations within 0.05 of the truth. */
static void check_series_s2_noise(const run *r)
{
    size_t npix = r->s.npix, nd = (size_t)r->s.ndays;
    const int B = CC_CL_NBANDS;
    double s2err = 0, s2n = 0;
    for (size_t i = 0; i < nd * npix * B; i++)
        if (!isnan(r->s.s2[i])) {
            s2err += fabs(r->s.s2[i] - r->truth[i]);
            s2n++;
        }
    CHECK(s2n > 0 && s2err / s2n < 0.01);
}

/* Landsat: every 8 days, no B05 B06 B07 B08, own mask date, close to the truth's 30 m mean. */
static void check_series_landsat(const run *r, const char *split)
{
    size_t npix = r->s.npix, nd = (size_t)r->s.ndays;
    const int B = CC_CL_NBANDS;
    int ldays = 0;
    double lerr = 0, ln = 0;
    for (int d = 0; d < (int)nd; d++) {
        const float *a = r->s.landsat + (size_t)d * npix * B;
        int is_day = d >= r->info.landsat_phase && (d - r->info.landsat_phase) % 8 == 0;
        CHECK(is_day == (r->info.landsat_mask_date[d] >= 0));
        if (is_day) {
            ldays++;
            CHECK(r->info.landsat_mask_date[d] != r->info.weather_date[d]);
        }
        for (size_t q = 0; q < npix; q++) {
            const float *v = a + q * B;
            if (!isnan(v[3]) || !isnan(v[4]) || !isnan(v[5]) || !isnan(v[6])) {
                CHECK(!"Landsat B05/B06/B07/B08 not NaN");
                d = (int)nd;
                break;
            }
            if (!is_day && !isnan(v[0])) {
                CHECK(!"Landsat value on a day without a Landsat acquisition");
                d = (int)nd;
                break;
            }
            if (!isnan(v[2])) {
                lerr += fabs(v[2] - r->truth[((size_t)d * npix + q) * B + 2]);
                ln++;
            }
        }
    }
    CHECK(ldays == ((int)nd - r->info.landsat_phase + 7) / 8);
    CHECK(ln > 0 && lerr / ln < 0.03);
    printf("%s: %d Landsat days, B04 |Landsat - truth| %.4f over %.0f values\n", split, ldays,
           lerr / ln, ln);
}

/* OLCI: daily, no B11 B12, B08 = B8A (Oa17), block-constant. */
static void check_series_olci(const run *r)
{
    size_t npix = r->s.npix, nd = (size_t)r->s.ndays;
    const int B = CC_CL_NBANDS;
    size_t olci_valid = 0;
    for (size_t q = 0; q < nd * npix; q++) {
        const float *v = r->s.olci + q * B;
        if (!isnan(v[8]) || !isnan(v[9])) {
            CHECK(!"OLCI B11/B12 not NaN");
            break;
        }
        if (!isnan(v[0])) {
            olci_valid++;
            if (v[6] != v[7]) {
                CHECK(!"OLCI B08 != B8A");
                break;
            }
        }
    }
    CHECK(olci_valid > nd * npix / 4);
    /* pixels (0,0) and (29,29) lie in the same 300 m block */
    for (size_t d = 0; d < nd; d++) {
        const float *a = r->s.olci + (d * npix) * B, *b = r->s.olci + (d * npix + 29 * r->w + 29) * B;
        if (!(a[0] == b[0] || (isnan(a[0]) && isnan(b[0])))) {
            CHECK(!"OLCI not constant in a 300 m block");
            break;
        }
    }
}

/* S1: never NaN on its days (every 6), NaN otherwise, plausible dB. */
static void check_series_s1(const run *r, const char *split)
{
    size_t npix = r->s.npix, nd = (size_t)r->s.ndays;
    int s1days = 0;
    for (int d = 0; d < (int)nd; d++) {
        const float *a = r->s.s1 + (size_t)d * npix * CC_CL_NS1;
        int is_day = d >= r->info.s1_phase && (d - r->info.s1_phase) % 6 == 0;
        size_t nn = nan_count(a, npix * CC_CL_NS1);
        s1days += is_day;
        CHECK(nn == (is_day ? 0 : npix * CC_CL_NS1));
        if (is_day)
            for (size_t q = 0; q < npix * CC_CL_NS1; q++)
                if (!(a[q] > -45 && a[q] < 15)) {
                    CHECK(!"S1 dB outside -45..15");
                    break;
                }
    }
    CHECK(s1days == ((int)nd - r->info.s1_phase + 5) / 6);
    printf("%s: S1 fit on %ld pixels: VV = %.2f %+.2f NDVI (resid %.2f dB), VH = %.2f %+.2f NDVI "
           "(resid %.2f dB); speckle %.2f dB, static %.2f/%.2f dB\n",
           split, r->info.s1_fit_pixels, r->info.s1_a[0], r->info.s1_b[0], r->info.s1_resid_db[0],
           r->info.s1_a[1], r->info.s1_b[1], r->info.s1_resid_db[1], r->info.s1_speckle_db,
           r->info.s1_static_db[0], r->info.s1_static_db[1]);
}

static void check_series(const run *r, const patch *p, const char *split)
{
    CHECK(r->s.npix == (size_t)r->w * r->h);
    CHECK(strncmp(r->info.label, "SIMULATED", 9) == 0);
    CHECK(strcmp(r->info.split, split) == 0);
    check_series_truth(r, p, split);
    check_series_s2_mask(r, p, split);
    check_series_s2_noise(r);
    check_series_landsat(r, split);
    check_series_olci(r);
    check_series_s1(r, split);
}

static void test_errors(void)
{
    cc_cl_sim_options o;
    cc_series s;
    float *truth = (float *)1;
    int w, h;
    cc_cl_sim_options_init(&o);
    o.datasets = g_datasets;
    o.eolearn_tif = g_eo;
    o.split = "validation";
    CHECK(cc_cl_sim_generate(&o, &s, &truth, &w, &h) == CC_ERR_ARG);
    CHECK(strstr(cc_error_message(), "validation") != NULL);
    CHECK(truth == NULL && s.s2 == NULL);
    o.split = "test";
    o.ndays = 0;
    CHECK(cc_cl_sim_generate(&o, &s, &truth, &w, &h) == CC_ERR_ARG);
    o.ndays = 10;
    o.width = 200;
    CHECK(cc_cl_sim_generate(&o, &s, &truth, &w, &h) == CC_ERR_ARG);
    CHECK(strstr(cc_error_message(), "200 x 101") != NULL);
    o.width = 0;
    o.sensors = 1u << 7;
    CHECK(cc_cl_sim_generate(&o, &s, &truth, &w, &h) == CC_ERR_ARG);
    o.sensors = 0;
    o.eolearn_tif = "/nonexistent/eo";
    CHECK(cc_cl_sim_generate(&o, &s, &truth, &w, &h) == CC_ERR_IO);
    CHECK(strstr(cc_error_message(), "/nonexistent/eo/NDVI.tif") != NULL);
    CHECK(strstr(cc_error_message(), "npy2tif") != NULL);
    o.eolearn_tif = g_eo;
    o.datasets = "/nonexistent/datasets";
    CHECK(cc_cl_sim_generate(&o, &s, &truth, &w, &h) == CC_ERR_IO);
    CHECK(strstr(cc_error_message(), "/nonexistent/datasets/bigearthnet-example") != NULL);
    CHECK(truth == NULL && s.s2 == NULL);

    /* an NDVI stack whose bands carry no DATE */
    const char *tmp = cc_test_tmpdir("cloudless_sim_bad");
    char path[4200], cmd[9000];
    snprintf(path, sizeof path, "%s/NDVI.tif", tmp);
    GDALDatasetH ds = GDALCreate(GDALGetDriverByName("GTiff"), path, 4, 4, 3, GDT_Float32, NULL);
    CHECK(ds != NULL);
    if (ds) GDALClose(ds);
    o.datasets = g_datasets;
    o.eolearn_tif = tmp;
    CHECK(cc_cl_sim_generate(&o, &s, &truth, &w, &h) == CC_ERR_FORMAT);
    CHECK(strstr(cc_error_message(), "DATE") != NULL);
    CHECK(strstr(cc_error_message(), path) != NULL);

    /* CLM.tif with another shape than NDVI.tif */
    snprintf(cmd, sizeof cmd, "cp '%s/NDVI.tif' '%s/NDVI.tif'", g_eo, tmp);
    CHECK(system(cmd) == 0);
    snprintf(path, sizeof path, "%s/CLM.tif", tmp);
    ds = GDALCreate(GDALGetDriverByName("GTiff"), path, 50, 101, 68, GDT_Byte, NULL);
    if (ds) GDALClose(ds);
    CHECK(cc_cl_sim_generate(&o, &s, &truth, &w, &h) == CC_ERR_FORMAT);
    CHECK(strstr(cc_error_message(), "CLM.tif") != NULL);

    /* npy2tif: a missing input folder fails with one line and writes nothing */
    const char *src = getenv("CLEARCUBE_SOURCE");
    snprintf(cmd, sizeof cmd, "'%s/scripts/npy2tif' /nonexistent/eopatch '%s/out' 2>'%s/err.txt'",
             src ? src : ".", tmp, tmp);
    CHECK(system(cmd) != 0);
    snprintf(path, sizeof path, "%s/out", tmp);
    struct stat sb;
    CHECK(stat(path, &sb) != 0);
}

int main(void)
{
    const char *shared = cc_test_shared_or_skip();
    snprintf(g_datasets, sizeof g_datasets, "%s/datasets", shared);
    char probe[2100];
    snprintf(probe, sizeof probe, "%s/eolearn-testeopatch/data/NDVI.npy", g_datasets);
    struct stat sb;
    if (stat(probe, &sb) != 0) {
        printf("SKIP: %s is absent\n", probe);
        return 77;
    }
    GDALAllRegister();
    const char *tmp = cc_test_tmpdir("cloudless_sim");
    snprintf(g_eo, sizeof g_eo, "%s/eo", tmp);
    const char *src = getenv("CLEARCUBE_SOURCE");
    char cmd[8000];
    snprintf(cmd, sizeof cmd, "'%s/scripts/npy2tif' '%s/eolearn-testeopatch' '%s'", src ? src : ".",
             g_datasets, g_eo);
    if (system(cmd) != 0) {
        fprintf(stderr, "FAIL: %s\n", cmd);
        return 1;
    }
    patch p = {0};
    p.ndvi = read_all("NDVI", GDT_Float32, 4, &p);
    p.clm = read_all("CLM", GDT_Byte, 1, &p);
    p.valid = read_all("IS_VALID", GDT_Byte, 1, &p);
    CHECK(p.ndvi && p.clm && p.valid);
    if (!p.ndvi || !p.clm || !p.valid) TEST_RETURN();
    test_npy2tif_converted(&p);

    /* train, 450 days on the full 100 x 101 patch */
    run a = {0}, b = {0}, c = {0};
    double secs;
    CHECK_OK(gen("train", 7, 450, 0, &a, &secs));
    printf("train: %d x %d px x %d days generated in %.2f s\n", a.w, a.h, a.s.ndays, secs);
    CHECK(a.w == 100 && a.h == 101);
    CHECK(a.s.day0 == parse_day("2015-07-11"));
    check_series(&a, &p, "train");

    /* determinism */
    CHECK_OK(gen("train", 7, 450, 0, &b, NULL));
    size_t n10 = (size_t)450 * a.s.npix * CC_CL_NBANDS;
    CHECK(memcmp(a.truth, b.truth, n10 * 4) == 0);
    CHECK(memcmp(a.s.s2, b.s.s2, n10 * 4) == 0);
    CHECK(memcmp(a.s.landsat, b.s.landsat, n10 * 4) == 0);
    CHECK(memcmp(a.s.olci, b.s.olci, n10 * 4) == 0);
    CHECK(memcmp(a.s.s1, b.s.s1, (size_t)450 * a.s.npix * CC_CL_NS1 * 4) == 0);
    run_free(&b);
    CHECK_OK(gen("train", 8, 450, 0, &b, NULL));
    CHECK(memcmp(a.truth, b.truth, n10 * 4) != 0);
    CHECK(memcmp(a.s.s2, b.s.s2, n10 * 4) != 0);
    run_free(&b);

    /* sensors: S2 only leaves the others empty, and the S2 series does not change */
    CHECK_OK(gen("train", 7, 450, 1u << CC_SENSOR_S2, &b, NULL));
    CHECK(memcmp(a.s.s2, b.s.s2, n10 * 4) == 0);
    CHECK(nan_count(b.s.landsat, n10) == n10);
    CHECK(nan_count(b.s.olci, n10) == n10);
    CHECK(nan_count(b.s.s1, (size_t)450 * a.s.npix * CC_CL_NS1) == (size_t)450 * a.s.npix * CC_CL_NS1);
    run_free(&b);

    /* test split: disjoint real pieces */
    CHECK_OK(gen("test", 7, 450, 0, &c, NULL));
    check_series(&c, &p, "test");
    CHECK(c.s.day0 == parse_day("2016-10-01"));
    CHECK(a.info.period_last < c.info.period_first);
    int overlap = 0;
    for (int d = 0; d < 450; d++)
        for (int k = 0; k < 450; k++)
            if (a.info.weather_date[d] == c.info.weather_date[k]) overlap = 1;
    CHECK(!overlap);
    CHECK(a.info.n_soil_pool != c.info.n_soil_pool);
    CHECK(strstr(cc_cl_sim_sources("train"), "riotilerpds") != NULL);
    CHECK(strstr(cc_cl_sim_sources("test"), "riotilerpds") == NULL);
    CHECK(strstr(cc_cl_sim_sources("test"), "4_55") == NULL);
    CHECK(strstr(cc_cl_sim_sources("train"), "87_48") == NULL);
    CHECK(strstr(cc_cl_sim_sources("train"), "36_85") == NULL);
    CHECK(cc_cl_sim_sources("x") == NULL);
    /* no truth spectrum of the test series equals one of the train series on day 0 */
    int same = 0;
    for (size_t q = 0; q < a.s.npix && !same; q += 97)
        for (size_t k = 0; k < c.s.npix; k++)
            if (memcmp(a.truth + q * 10, c.truth + k * 10, 40) == 0) {
                same = 1;
                break;
            }
    CHECK(!same);

    /* a crop, another day0 (2024-03-01 maps into the period by whole years) */
    cc_cl_sim_options o;
    cc_cl_sim_options_init(&o);
    o.datasets = g_datasets;
    o.eolearn_tif = g_eo;
    o.split = "test";
    o.width = 40;
    o.height = 25;
    o.ndays = 100;
    o.day0 = parse_day("2024-03-01");
    o.info = &b.info;
    CHECK_OK(cc_cl_sim_generate(&o, &b.s, &b.truth, &b.w, &b.h));
    CHECK(b.w == 40 && b.h == 25 && b.s.npix == 1000 && b.s.day0 == o.day0);
    long t0 = b.s.day0 + b.info.src_shift;
    CHECK(t0 >= b.info.period_first && t0 < b.info.period_first + 365);
    CHECK((b.info.src_shift % 365) == 0);
    run_free(&b);

    run_free(&a);
    run_free(&c);
    test_errors();
    free(p.ndvi);
    free(p.clm);
    free(p.valid);
    TEST_RETURN();
}
