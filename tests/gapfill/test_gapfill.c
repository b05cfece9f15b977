/* Gap-filling baselines and metrics (pipeline/cloudless/gapfill.h): linear
 * interpolation on hand series, the banded Whittaker solve against a dense
 * Gaussian elimination of the same system, metrics on hand values, SSIM on
 * hand-computed and independently computed cases. */
#define _DEFAULT_SOURCE /* M_PI */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "pipeline/cloudless/gapfill.h"
#include "testutil.h"

static void test_linear(void)
{
    /* Interior gaps, leading and trailing ends. */
    const float y[] = {NAN, 1.0f, NAN, NAN, 4.0f, 5.0f, NAN, 7.0f, NAN, NAN};
    const float want[] = {1, 1, 2, 3, 4, 5, 6, 7, 7, 7};
    float out[10];
    cc_gapfill_linear(y, 10, 1, out);
    for (int i = 0; i < 10; i++) CHECK_NEAR(out[i], want[i], 1e-6);

    /* Uneven spacing: 0.2 at 0, 0.5 at 3 -> 0.3, 0.4 in between. */
    const float y2[] = {0.2f, NAN, NAN, 0.5f};
    cc_gapfill_linear(y2, 4, 1, out);
    CHECK_NEAR(out[1], 0.3, 1e-6);
    CHECK_NEAR(out[2], 0.4, 1e-6);
    CHECK(out[0] == 0.2f && out[3] == 0.5f); /* valid samples copied exactly */

    /* All NaN stays NaN; a single sample fills everything. */
    const float y3[] = {NAN, NAN, NAN};
    cc_gapfill_linear(y3, 3, 1, out);
    for (int i = 0; i < 3; i++) CHECK(isnan(out[i]));
    const float y4[] = {NAN, 0.25f, NAN};
    cc_gapfill_linear(y4, 3, 1, out);
    for (int i = 0; i < 3; i++) CHECK(out[i] == 0.25f);

    /* Stride: two interleaved series, the other one untouched. */
    float ys[8] = {0, 9, NAN, 9, NAN, 9, 3, 9};
    float os[8];
    for (int i = 0; i < 8; i++) os[i] = -1;
    cc_gapfill_linear(ys, 4, 2, os);
    CHECK_NEAR(os[0], 0, 0);
    CHECK_NEAR(os[2], 1, 1e-6);
    CHECK_NEAR(os[4], 2, 1e-6);
    CHECK_NEAR(os[6], 3, 0);
    CHECK(os[1] == -1 && os[3] == -1 && os[5] == -1 && os[7] == -1);
}

/* Dense reference: A = W + lambda D'D built from an explicit D, solved by
 * Gaussian elimination with partial pivoting. */
static void dense_whittaker(const float *y, int n, double lambda, int d, double *z)
{
    static const double k2[] = {1, -2, 1}, k3[] = {-1, 3, -3, 1};
    const double *c = d == 2 ? k2 : k3;
    int m = n - d;
    double *D = calloc((size_t)m * n, sizeof *D);
    double *A = calloc((size_t)n * (n + 1), sizeof *A); /* augmented [A | Wy] */
    for (int r = 0; r < m; r++)
        for (int j = 0; j <= d; j++) D[(size_t)r * n + r + j] = c[j];
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int r = 0; r < m; r++) s += D[(size_t)r * n + i] * D[(size_t)r * n + j];
            A[(size_t)i * (n + 1) + j] = lambda * s;
        }
        if (!isnan(y[i])) {
            A[(size_t)i * (n + 1) + i] += 1;
            A[(size_t)i * (n + 1) + n] = y[i];
        }
    }
    for (int col = 0; col < n; col++) {
        int piv = col;
        for (int r = col + 1; r < n; r++)
            if (fabs(A[(size_t)r * (n + 1) + col]) > fabs(A[(size_t)piv * (n + 1) + col])) piv = r;
        if (piv != col)
            for (int j = 0; j <= n; j++) {
                double t = A[(size_t)col * (n + 1) + j];
                A[(size_t)col * (n + 1) + j] = A[(size_t)piv * (n + 1) + j];
                A[(size_t)piv * (n + 1) + j] = t;
            }
        for (int r = col + 1; r < n; r++) {
            double f = A[(size_t)r * (n + 1) + col] / A[(size_t)col * (n + 1) + col];
            for (int j = col; j <= n; j++) A[(size_t)r * (n + 1) + j] -= f * A[(size_t)col * (n + 1) + j];
        }
    }
    for (int i = n - 1; i >= 0; i--) {
        double s = A[(size_t)i * (n + 1) + n];
        for (int j = i + 1; j < n; j++) s -= A[(size_t)i * (n + 1) + j] * z[j];
        z[i] = s / A[(size_t)i * (n + 1) + i];
    }
    free(D);
    free(A);
}

static void test_whittaker(void)
{
    srand(12345);
    const double lambdas[] = {0.5, 5, 50};
    for (int d = 2; d <= 3; d++)
        for (int li = 0; li < 3; li++)
            for (int rep = 0; rep < 3; rep++) {
                int n = 40 + 17 * rep;
                float y[120], out[120];
                double z[120];
                for (int i = 0; i < n; i++) {
                    /* random weights 0/1 (about 40 % missing), smooth signal + noise */
                    double v = 0.3 + 0.2 * sin(i * 0.15) + 0.05 * ((double)rand() / RAND_MAX - 0.5);
                    y[i] = (rand() % 10 < 4) ? NAN : (float)v;
                }
                y[0] = 0.31f; /* keep enough valid samples */
                y[n - 1] = 0.29f;
                CHECK_OK(cc_gapfill_whittaker(y, n, 1, lambdas[li], d, out));
                dense_whittaker(y, n, lambdas[li], d, z);
                double maxerr = 0;
                for (int i = 0; i < n; i++) maxerr = fmax(maxerr, fabs(out[i] - z[i]));
                if (maxerr > 1e-6)
                    fprintf(stderr, "d=%d lambda=%g n=%d: max |banded - dense| = %g\n", d, lambdas[li],
                            n, maxerr);
                CHECK(maxerr <= 1e-6);
            }

    /* A linear series with gaps is reproduced exactly by d = 2 (D2 annihilates it). */
    float lin[60], out[60];
    for (int i = 0; i < 60; i++) lin[i] = (i % 7 == 3 || (i > 20 && i < 35)) ? NAN : 0.1f + 0.005f * i;
    CHECK_OK(cc_gapfill_whittaker(lin, 60, 1, 50.0, 2, out));
    for (int i = 0; i < 60; i++) CHECK_NEAR(out[i], 0.1 + 0.005 * i, 2e-6);
    /* ... and a quadratic one by d = 3. */
    for (int i = 0; i < 60; i++)
        lin[i] = (i % 5 == 1 || (i > 30 && i < 50)) ? NAN : (float)(0.2 + 0.001 * i - 0.00002 * i * i);
    CHECK_OK(cc_gapfill_whittaker(lin, 60, 1, 5.0, 3, out));
    for (int i = 0; i < 60; i++) CHECK_NEAR(out[i], 0.2 + 0.001 * i - 0.00002 * i * i, 2e-6);

    /* Strided, and fewer than d+1 valid samples gives NaN. */
    float ys[10] = {NAN, 7, 0.5f, 7, NAN, 7, NAN, 7, NAN, 7}, os[10];
    for (int i = 0; i < 10; i++) os[i] = -1;
    CHECK_OK(cc_gapfill_whittaker(ys, 5, 2, 5.0, 2, os));
    for (int i = 0; i < 5; i++) CHECK(isnan(os[2 * i]) && os[2 * i + 1] == -1);

    /* Bad arguments. */
    CHECK(cc_gapfill_whittaker(ys, 5, 1, 5.0, 4, os) == CC_ERR_ARG);
    CHECK(cc_gapfill_whittaker(ys, 5, 1, 0.0, 2, os) == CC_ERR_ARG);
    CHECK(cc_gapfill_whittaker(ys, 5, 1, -1.0, 2, os) == CC_ERR_ARG);
    CHECK(cc_gapfill_whittaker(ys, 200000, 1, 5.0, 2, os) == CC_ERR_ARG);
    CHECK(strstr(cc_error_message(), "whittaker") != NULL);
}

static void test_metrics(void)
{
    cc_gapfill_metrics m;
    cc_gapfill_scores s;
    cc_gapfill_metrics_init(&m, 3);
    cc_gapfill_metrics_get(&m, &s);
    CHECK(isnan(s.mae) && isnan(s.rmse) && isnan(s.psnr) && isnan(s.sam_deg) && s.n == 0);

    /* Pixel 1: errors +0.1, -0.1, 0 ; pixel 2: error 0.2 in band 0, band 2 NaN. */
    const float p1[] = {0.3f, 0.1f, 0.5f}, t1[] = {0.2f, 0.2f, 0.5f};
    const float p2[] = {0.4f, 0.3f, NAN}, t2[] = {0.2f, 0.3f, 0.4f};
    cc_gapfill_metrics_add(&m, p1, t1);
    cc_gapfill_metrics_add(&m, p2, t2);
    cc_gapfill_metrics_get(&m, &s);
    CHECK_NEAR(s.n, 5, 0);
    CHECK_NEAR(s.mae, (0.1 + 0.1 + 0 + 0.2 + 0) / 5, 1e-7);
    double rmse = sqrt((0.01 + 0.01 + 0.04) / 5);
    CHECK_NEAR(s.rmse, rmse, 1e-7);
    CHECK_NEAR(s.psnr, 20 * log10(1 / rmse), 1e-5);
    CHECK_NEAR(s.band_mae[0], 0.15, 1e-7);
    CHECK_NEAR(s.band_rmse[0], sqrt((0.01 + 0.04) / 2), 1e-7);
    CHECK_NEAR(s.band_mae[1], 0.05, 1e-7);
    CHECK_NEAR(s.band_mae[2], 0.0, 1e-7);
    CHECK(isnan(s.band_mae[3]));
    /* SAM: pixel 1 over 3 bands, pixel 2 over bands 0,1. */
    double a1 = acos((0.3 * 0.2 + 0.1 * 0.2 + 0.5 * 0.5) /
                     sqrt((0.09 + 0.01 + 0.25) * (0.04 + 0.04 + 0.25))) * 180 / M_PI;
    double a2 = acos((0.4 * 0.2 + 0.3 * 0.3) / sqrt((0.16 + 0.09) * (0.04 + 0.09))) * 180 / M_PI;
    CHECK_NEAR(s.sam_deg, (a1 + a2) / 2, 1e-4);

    /* A pure scaling has SAM 0; orthogonal spectra 90 degrees. */
    cc_gapfill_metrics m2;
    cc_gapfill_metrics_init(&m2, 2);
    const float q1[] = {0.2f, 0.4f}, r1[] = {0.1f, 0.2f};
    cc_gapfill_metrics_add(&m2, q1, r1);
    cc_gapfill_metrics_get(&m2, &s);
    CHECK_NEAR(s.sam_deg, 0, 1e-3);
    cc_gapfill_metrics m3;
    cc_gapfill_metrics_init(&m3, 2);
    const float q2[] = {0.3f, 0.0f}, r2[] = {0.0f, 0.3f};
    cc_gapfill_metrics_add(&m3, q2, r2);
    cc_gapfill_metrics_merge(&m2, &m3);
    cc_gapfill_metrics_get(&m2, &s);
    CHECK_NEAR(s.sam_deg, 45, 1e-3);
    CHECK_NEAR(s.n, 4, 0);
    CHECK_NEAR(s.mae, (0.1 + 0.2 + 0.3 + 0.3) / 4, 1e-7);

    /* Exact prediction: RMSE 0, PSNR +inf. */
    cc_gapfill_metrics_init(&m3, 2);
    cc_gapfill_metrics_add(&m3, r1, r1);
    cc_gapfill_metrics_get(&m3, &s);
    CHECK(s.rmse == 0 && isinf(s.psnr) && s.psnr > 0);
}

/* Deterministic test images (same formula in ssim_ref.py). */
static void ssim_images(float *a, float *b, int w, int h)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double v = 0.2 + 0.1 * sin(0.3 * x) * cos(0.2 * y) + 0.002 * x;
            a[y * w + x] = (float)v;
            b[y * w + x] = (float)(0.9 * v + 0.03 + 0.02 * sin(1.7 * x + 0.9 * y));
        }
}

static void test_ssim(void)
{
    enum { W = 32, H = 24 };
    float a[W * H], b[W * H];
    uint8_t mask[W * H];
    ssim_images(a, b, W, H);
    CHECK_NEAR(cc_gapfill_ssim(a, a, NULL, W, H), 1.0, 1e-9);

    /* Constant images c1, c2: variances 0, SSIM = (2 c1 c2 + C1)/(c1^2 + c2^2 + C1). */
    float c1[W * H], c2[W * H];
    for (int i = 0; i < W * H; i++) {
        c1[i] = 0.3f;
        c2[i] = 0.2f;
    }
    double C1 = 1e-4;
    double want = (2.0 * 0.3f * 0.2f + C1) / ((double)0.3f * 0.3f + (double)0.2f * 0.2f + C1);
    CHECK_NEAR(cc_gapfill_ssim(c1, c2, NULL, W, H), want, 1e-9);

    /* Against numpy (tests/gapfill/ssim_ref.py, a direct 2-D window sum):
     * full image and with the masked-out block below. */
    CHECK_NEAR(cc_gapfill_ssim(a, b, NULL, W, H), 0.900940241735, 1e-6);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) mask[y * W + x] = !(x >= 20 && y >= 5 && y < 9);
    CHECK_NEAR(cc_gapfill_ssim(a, b, mask, W, H), 0.903400254100, 1e-6);

    /* A NaN counts as unqualified like a masked pixel. */
    float an[W * H];
    memcpy(an, a, sizeof an);
    for (int y = 5; y < 9; y++)
        for (int x = 20; x < W; x++) an[y * W + x] = NAN;
    CHECK_NEAR(cc_gapfill_ssim(an, b, NULL, W, H), 0.903400254100, 1e-6);

    /* The map: one value per window centre 5..W-6 x 5..H-6, mean = SSIM. */
    double map[W * H];
    CHECK(cc_gapfill_ssim_map(a, b, NULL, W, H, map) == (W - 10) * (H - 10));
    CHECK(isnan(map[0]) && isnan(map[4 * W + 5]) && isnan(map[5 * W + 4]) && isnan(map[5 * W + W - 5]));
    CHECK(!isnan(map[5 * W + 5]) && !isnan(map[(H - 6) * W + W - 6]));
    double msum = 0;
    for (int i = 0; i < W * H; i++)
        if (!isnan(map[i])) msum += map[i];
    CHECK_NEAR(msum / ((W - 10) * (H - 10)), 0.900940241735, 1e-6);
    /* Masked block x >= 20, rows 5..8: a window centred at x <= 14 does not
     * reach it, nor one centred at row >= 14. */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) mask[y * W + x] = !(x >= 20 && y >= 5 && y < 9);
    long nq = cc_gapfill_ssim_map(a, b, mask, W, H, map);
    CHECK(nq == (W - 10) * (H - 10) - 12 * 9); /* centres x 15..26, y 5..13 lost */
    CHECK(!isnan(map[10 * W + 14]) && isnan(map[10 * W + 15]) && !isnan(map[14 * W + 20]));

    /* No window qualifies: too small, or everything masked. */
    CHECK(isnan(cc_gapfill_ssim(a, b, NULL, 10, 10)));
    memset(mask, 0, sizeof mask);
    CHECK(isnan(cc_gapfill_ssim(a, b, mask, W, H)));
}

int main(void)
{
    test_linear();
    test_whittaker();
    test_metrics();
    test_ssim();
    TEST_RETURN();
}
