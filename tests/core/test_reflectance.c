/* core/reflectance: the DN <-> reflectance mapping, its clamps and rounding,
 * and bit-identity with the copies it replaced. */
#include <stdint.h>

#include "core/reflectance.h"
#include "testutil.h"

/* The copies before issue 12, as they were (kept here as the reference). */
static uint16_t old_nn(float v, double out_dn_offset) /* kernels/nn.c encode, CUDA, AVX-512 */
{
    double q = (double)v * 10000.0 + out_dn_offset;
    return isnan(q) ? 0 : q <= 1.0 ? 1 : q >= 65534.0 ? 65534 : (uint16_t)floor(q + 0.5);
}
static uint16_t old_lround(double rho) /* dataset.c, reference.c, simulate.c */
{
    double dn = rho * 10000.0 + 1000.0;
    if (!(dn >= 1.0))
        dn = 1.0;
    if (dn > 65534.0)
        dn = 65534.0;
    return (uint16_t)lround(dn);
}

static void test_decode(void)
{
    CHECK(cc_refl_decode(1000, -1000, CC_REFL_QUANT) == 0.0);
    CHECK(cc_refl_decode(11000, -1000, CC_REFL_QUANT) == 1.0);
    CHECK(cc_refl_decode(2500, 0, CC_REFL_QUANT) == 0.25);
    /* the same double as the copies: (double)DN + offset, then / q */
    int bad = 0;
    for (int dn = 0; dn < 65536; dn++) {
        bad += (float)cc_refl_decode(dn, -1000.0, 10000.0) != (float)(((double)dn + -1000.0) / 10000.0);
        bad += (float)cc_refl_decode(dn, -1000.0, 10000.0) != (float)(((double)dn - 1000.0) / 10000.0);
        /* the float division of the eolearn reader (cloudless_sim_pieces.c) */
        bad += (float)cc_refl_decode((float)dn, 0.0, CC_REFL_QUANT) != (float)dn / 10000.0f;
    }
    CHECK(bad == 0);
    float band[5] = {0.0f, -3.0f, 1000.0f, 3500.5f, 65535.0f};
    cc_refl_decode_band(band, 5, -1000.0, CC_REFL_QUANT);
    CHECK(isnan(band[0]) && isnan(band[1]));
    CHECK(band[2] == 0.0f && band[3] == (float)(2500.5 / 10000.0) && band[4] == (float)(64535.0 / 10000.0));
}

static void test_encode(void)
{
    CHECK(cc_refl_encode(0.0, CC_REFL_DN_OFFSET_PB04, CC_REFL_QUANT) == 1000);
    CHECK(cc_refl_encode(0.25, 0.0, CC_REFL_QUANT) == 2500);
    /* clamps: never nodata, never the saturation code */
    CHECK(cc_refl_encode(-0.1, 1000, CC_REFL_QUANT) == 1);
    CHECK(cc_refl_encode(-5.0, 1000, CC_REFL_QUANT) == CC_REFL_DN_MIN);
    CHECK(cc_refl_encode(-0.09996, 1000, CC_REFL_QUANT) == 1);
    CHECK(cc_refl_encode(6.4534, 1000, CC_REFL_QUANT) == 65534);
    CHECK(cc_refl_encode(6.4535, 1000, CC_REFL_QUANT) == CC_REFL_DN_MAX);
    CHECK(cc_refl_encode(1e9, 1000, CC_REFL_QUANT) == CC_REFL_DN_MAX);
    CHECK(cc_refl_encode(INFINITY, 1000, CC_REFL_QUANT) == CC_REFL_DN_MAX);
    CHECK(cc_refl_encode(-INFINITY, 1000, CC_REFL_QUANT) == CC_REFL_DN_MIN);
    CHECK(cc_refl_encode(NAN, 1000, CC_REFL_QUANT) == CC_REFL_DN_NODATA);
    /* round half up: 0.15625 is exactly DN 2562.5 -> 2563 (the CF-style
     * (r + 0.1) / 1e-4 of the old Cloudless writers gave 2562) */
    CHECK(cc_refl_encode(0.15625, 1000, CC_REFL_QUANT) == 2563);
    CHECK(cc_refl_encode(0.00005, 1000, CC_REFL_QUANT) == 1001);
    CHECK(cc_refl_dn_round(2.5) == 3 && cc_refl_dn_round(2.4999999999999996) == 2);
    CHECK(cc_refl_dn_round(0.7) == 1 && cc_refl_dn_round(65534.49) == 65534);
    /* every DN survives decode -> encode, with and without the offset */
    int bad = 0;
    for (int dn = 1; dn <= 65534; dn++) {
        bad += cc_refl_encode(cc_refl_decode(dn, -1000, CC_REFL_QUANT), 1000, CC_REFL_QUANT) != dn;
        bad += cc_refl_encode(cc_refl_decode(dn, 0, CC_REFL_QUANT), 0, CC_REFL_QUANT) != dn;
        bad += cc_refl_encode((float)cc_refl_decode(dn, -1000, CC_REFL_QUANT), 1000, CC_REFL_QUANT) != dn;
    }
    CHECK(bad == 0);
}

/* Bit-identity with the copies it replaced, on floats across the range and
 * around every half DN. */
static void test_same_bits(void)
{
    int bad_nn = 0, bad_lr = 0;
    for (float r = -0.2f; r < 6.6f; r += 0.0000371f) {
        bad_nn += cc_refl_encode(r, 1000.0, CC_REFL_QUANT) != old_nn(r, 1000.0);
        bad_nn += cc_refl_encode(r, 0.0, CC_REFL_QUANT) != old_nn(r, 0.0);
        bad_lr += cc_refl_encode(r, 1000.0, CC_REFL_QUANT) != old_lround(r);
    }
    for (int k = -1100; k < 65600; k++)
        for (int j = -3; j <= 3; j++) {
            double r = nextafter(((double)k + 0.5) / 10000.0, j < 0 ? -1e9 : 1e9);
            for (int s = 0; s < (j < 0 ? -j : j); s++)
                r = nextafter(r, j < 0 ? -1e9 : 1e9);
            bad_nn += cc_refl_encode((float)r, 1000.0, CC_REFL_QUANT) != old_nn((float)r, 1000.0);
            bad_lr += cc_refl_encode(r, 1000.0, CC_REFL_QUANT) != old_lround(r);
        }
    CHECK(bad_nn == 0);
    CHECK(bad_lr == 0);
}

int main(void)
{
    test_decode();
    test_encode();
    test_same_bits();
    TEST_RETURN();
}
