/* Angle grid sampling on synthetic grids (no shared data needed). */
#include <math.h>

#include "core/error.h"
#include "io/s2/scene.h"
#include "testutil.h"

#define NX 5
#define NY 4

static cc_angle_grid make_grid(float *v)
{
    cc_angle_grid g = {.nx = NX, .ny = NY, .x0 = 1000.0, .y0 = 9000.0, .dx = 100.0, .dy = -200.0, .v = v};
    return g;
}

int main(void)
{
    float v[NX * NY];
    cc_angle_grid g = make_grid(v);

    /* A linear field is reproduced exactly by bilinear interpolation. */
    for (int j = 0; j < NY; j++)
        for (int i = 0; i < NX; i++)
            v[j * NX + i] = (float)(10.0 + 2.0 * i + 3.0 * j);
    CHECK_NEAR(cc_angle_grid_sample(&g, 1000.0, 9000.0), 10.0, 1e-12);
    CHECK_NEAR(cc_angle_grid_sample(&g, 1250.0, 8700.0), 10.0 + 2.0 * 2.5 + 3.0 * 1.5, 1e-9);
    for (int j = 0; j < NY; j++)
        for (int i = 0; i < NX; i++)
            CHECK(cc_angle_grid_sample(&g, 1000.0 + 100.0 * i, 9000.0 - 200.0 * j) == v[j * NX + i]);
    /* clamped outside the grid */
    CHECK_NEAR(cc_angle_grid_sample(&g, -1e6, 1e7), 10.0, 1e-12);
    CHECK_NEAR(cc_angle_grid_sample(&g, 1e7, -1e7), 10.0 + 2.0 * 4 + 3.0 * 3, 1e-12);
    CHECK_NEAR(cc_angle_grid_sample(&g, 1150.0, 1e7), 13.0, 1e-12);
    CHECK(isnan(cc_angle_grid_sample(&g, NAN, 9000.0)));
    CHECK_NEAR(cc_angle_grid_mean(&g), 10.0 + 2.0 * 2 + 3.0 * 1.5, 1e-6);

    /* NaN nodes are ignored and the remaining weights renormalised. */
    v[1 * NX + 1] = NAN; /* node (1,1) */
    /* midpoint of cell (1..2, 1..2): three valid nodes with equal weight */
    double want = ((10 + 4 + 3) + (10 + 2 + 6) + (10 + 4 + 6)) / 3.0;
    CHECK_NEAR(cc_angle_grid_sample(&g, 1150.0, 8700.0), want, 1e-9);
    /* exactly on the NaN node: weight 1 on NaN -> neighbours with zero weight;
     * falls back to the nearest valid node (distance in metres: dx=100 < |dy|) */
    double on_nan = cc_angle_grid_sample(&g, 1100.0, 8800.0);
    CHECK(!isnan(on_nan));
    CHECK(on_nan == v[1 * NX + 0] || on_nan == v[1 * NX + 2]);
    CHECK(isfinite(cc_angle_grid_mean(&g)));

    /* All four corners NaN -> nearest valid node anywhere in the grid. */
    for (int k = 0; k < NX * NY; k++)
        v[k] = NAN;
    v[3 * NX + 4] = 42.0f;
    CHECK_NEAR(cc_angle_grid_sample(&g, 1050.0, 8900.0), 42.0, 0);
    CHECK_NEAR(cc_angle_grid_sample_azimuth(&g, 1050.0, 8900.0), 42.0, 1e-9);
    CHECK_NEAR(cc_angle_grid_mean(&g), 42.0, 0);
    v[3 * NX + 4] = NAN;
    CHECK(isnan(cc_angle_grid_sample(&g, 1050.0, 8900.0)));
    CHECK(isnan(cc_angle_grid_sample_azimuth(&g, 1050.0, 8900.0)));
    CHECK(isnan(cc_angle_grid_mean(&g)));

    /* Azimuth wrap-around: 359 and 1 average to 0, not 180. */
    for (int j = 0; j < NY; j++)
        for (int i = 0; i < NX; i++)
            v[j * NX + i] = (i % 2) ? 1.0f : 359.0f;
    double a = cc_angle_grid_sample_azimuth(&g, 1050.0, 9000.0);
    CHECK(a < 1e-6 || a > 360.0 - 1e-6);
    /* weighted vector mean: -atan(0.5 tan 1 deg) */
    CHECK_NEAR(cc_angle_grid_sample_azimuth(&g, 1025.0, 9000.0), 359.5, 1e-3);
    CHECK_NEAR(cc_angle_grid_sample_azimuth(&g, 1000.0, 9000.0), 359.0, 1e-9);
    CHECK_NEAR(cc_angle_grid_sample_azimuth(&g, 1100.0, 9000.0), 1.0, 1e-9);
    /* ...while the plain sampler would give 180 */
    CHECK_NEAR(cc_angle_grid_sample(&g, 1050.0, 9000.0), 180.0, 1e-9);
    /* azimuth results are in [0, 360) */
    for (int k = 0; k < NX * NY; k++)
        v[k] = (float)(k * 37 % 360);
    for (double x = 900; x < 1600; x += 33)
        for (double y = 9100; y > 8200; y -= 47) {
            double az = cc_angle_grid_sample_azimuth(&g, x, y);
            CHECK(az >= 0.0 && az < 360.0);
        }

    /* Degenerate grids. */
    cc_angle_grid empty = {0};
    CHECK(isnan(cc_angle_grid_sample(&empty, 0, 0)));
    CHECK(isnan(cc_angle_grid_mean(&empty)));
    CHECK(isnan(cc_angle_grid_sample(NULL, 0, 0)));
    float one = 7.0f;
    cc_angle_grid single = {.nx = 1, .ny = 1, .dx = 5000, .dy = -5000, .v = &one};
    CHECK_NEAR(cc_angle_grid_sample(&single, 123.0, -456.0), 7.0, 0);
    CHECK_NEAR(cc_angle_grid_sample_azimuth(&single, 0, 0), 7.0, 1e-9);
    TEST_RETURN();
}
