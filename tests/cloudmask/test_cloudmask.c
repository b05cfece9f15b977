/* The cloud/shadow mask on hand-made pixels, the SCL and Fmask mappings and
 * the evaluation metrics on a known confusion matrix (pipeline/atmos/cloudmask.h). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/atmos/cloudmask.h"
#include "testutil.h"

#define W 30
#define H 30

/* TOA-like spectra: B1..B12 (13 bands, CC_B* order) */
static const float veg[CC_NBANDS] = {0.12f, 0.09f, 0.08f, 0.05f, 0.10f, 0.22f, 0.28f, 0.30f, 0.31f, 0.10f, 0.004f, 0.15f, 0.07f};
static const float cloud[CC_NBANDS] = {0.50f, 0.50f, 0.50f, 0.50f, 0.52f, 0.54f, 0.55f, 0.55f, 0.55f, 0.20f, 0.05f, 0.35f, 0.25f};
static const float shadow[CC_NBANDS] = {0.09f, 0.03f, 0.03f, 0.02f, 0.03f, 0.05f, 0.06f, 0.06f, 0.06f, 0.02f, 0.002f, 0.04f, 0.02f};
static const float snow[CC_NBANDS] = {0.80f, 0.85f, 0.90f, 0.88f, 0.85f, 0.82f, 0.80f, 0.78f, 0.76f, 0.30f, 0.01f, 0.05f, 0.03f};

static float bands[CC_NBANDS][W * H];

static void fill(int r0, int r1, int c0, int c1, const float *spec)
{
    for (int r = r0; r <= r1; r++)
        for (int c = c0; c <= c1; c++)
            for (int b = 0; b < CC_NBANDS; b++)
                bands[b][r * W + c] = spec[b];
}

static void scene(cc_cloudmask_input *in)
{
    fill(0, H - 1, 0, W - 1, veg);
    fill(5, 14, 5, 14, cloud);    /* a bright white cloud                         */
    fill(18, 23, 8, 15, shadow);  /* its dark shadow, 4 px south                  */
    fill(24, 29, 22, 29, shadow); /* the same darkness far from the cloud         */
    fill(0, 5, 22, 29, snow);     /* snow: bright but NDSI 0.89                   */
    memset(in, 0, sizeof *in);
    in->width = W;
    in->height = H;
    in->pixel_size_m = 20.0;
    for (int b = 0; b < CC_NBANDS; b++)
        in->band[b] = bands[b];
}

#define AT(m, r, c) ((m)[(r) * W + (c)])

static void test_pixels(void)
{
    printf("hand-made pixels\n");
    cc_cloudmask_input in;
    scene(&in);
    cc_cloudmask_options o;
    cc_cloudmask_options_init(&o);
    o.shadow_search_m = 200.0; /* 10 px: the far dark block is 10+ px from the (grown) cloud */
    uint8_t m[W * H];
    float score[W * H];
    CHECK(cc_cloudmask_terms(&in, &o) == (CC_CM_TERM_B2 | CC_CM_TERM_B1 | CC_CM_TERM_B1B10 | CC_CM_TERM_VIS | CC_CM_TERM_NDSI));
    CHECK_OK(cc_cloudmask_compute_score(&in, &o, m, score));
    for (int r = 0; r < H; r++) {
        for (int c = 0; c < W; c++)
            putchar(".#sSw"[AT(m, r, c) - 1]);
        putchar('\n');
    }
    CHECK(AT(m, 9, 9) == CC_CM_CLOUD);
    CHECK_NEAR(AT(score, 9, 9), 1.0, 1e-6); /* all five features saturate inside */
    CHECK(AT(m, 5, 9) == CC_CM_CLOUD && AT(m, 9, 5) == CC_CM_CLOUD); /* block edges */
    CHECK(AT(m, 27, 2) == CC_CM_CLEAR); /* vegetation */
    CHECK(AT(m, 0, 0) == CC_CM_CLEAR);
    CHECK(AT(score, 27, 2) < 0.01f);
    CHECK(AT(m, 21, 11) == CC_CM_SHADOW);
    CHECK(AT(m, 20, 12) == CC_CM_SHADOW);
    CHECK(AT(m, 27, 26) != CC_CM_SHADOW && AT(m, 27, 26) != CC_CM_CLOUD); /* far from any cloud */
    CHECK(AT(m, 2, 26) == CC_CM_SNOW);
    /* the unclipped features of the background (B1+B10 rescale -0.52) enter the
     * 7x7 mean: the block does not grow and its corners round off */
    CHECK(AT(m, 9, 4) == CC_CM_CLEAR && AT(m, 9, 15) == CC_CM_CLEAR);
    CHECK(AT(m, 5, 5) != CC_CM_CLOUD && AT(m, 14, 14) != CC_CM_CLOUD);
    CHECK_NEAR(AT(score, 9, 4), (21.0 - 28.0 * 0.52) / 49.0, 1e-4);
    int ncloud = 0, nshadow = 0;
    for (int i = 0; i < W * H; i++) {
        ncloud += m[i] == CC_CM_CLOUD;
        nshadow += m[i] == CC_CM_SHADOW;
    }
    printf("  cloud %d, shadow %d pixels\n", ncloud, nshadow);
    CHECK(ncloud >= 80 && ncloud < 100);

    /* plain dsen2-cr (no proximity): the far dark block becomes shadow too */
    o.shadow_search_m = 0.0;
    CHECK_OK(cc_cloudmask_compute(&in, &o, m));
    CHECK(AT(m, 27, 26) == CC_CM_SHADOW && AT(m, 21, 11) == CC_CM_SHADOW);

    /* buffers: 2 px (40 m) of cloud buffer, 1 px (20 m) of shadow buffer */
    uint8_t m0[W * H];
    o.shadow_search_m = 200.0;
    CHECK_OK(cc_cloudmask_compute(&in, &o, m0));
    o.cloud_buffer_m = 40.0;
    o.shadow_buffer_m = 20.0;
    CHECK_OK(cc_cloudmask_compute(&in, &o, m));
    int grown = 0;
    for (int i = 0; i < W * H; i++) {
        if (m0[i] == CC_CM_CLOUD)
            CHECK(m[i] == CC_CM_CLOUD);
        grown += m[i] == CC_CM_CLOUD && m0[i] != CC_CM_CLOUD;
    }
    CHECK(grown > 0);
    CHECK(AT(m, 9, 3) == CC_CM_CLOUD && AT(m, 9, 2) == CC_CM_CLEAR);
    CHECK(AT(m, 21, 16) == CC_CM_SHADOW); /* shadow block ends at col 15 */
    o.cloud_buffer_m = o.shadow_buffer_m = 0.0;

    /* L2A-like: no B10, no B1 -> those features dropped, same classes at the anchors */
    in.band[CC_B10] = NULL;
    in.band[CC_B01] = NULL;
    CHECK(cc_cloudmask_terms(&in, &o) == (CC_CM_TERM_B2 | CC_CM_TERM_VIS | CC_CM_TERM_NDSI));
    CHECK_OK(cc_cloudmask_compute(&in, &o, m));
    CHECK(AT(m, 9, 9) == CC_CM_CLOUD && AT(m, 27, 2) == CC_CM_CLEAR && AT(m, 21, 11) == CC_CM_SHADOW);

    /* red/NIR/SWIR only (Landsat ESPA): needs the red proxy */
    for (int b = 0; b < CC_NBANDS; b++)
        if (b != CC_B04 && b != CC_B8A && b != CC_B11)
            in.band[b] = NULL;
    CHECK(cc_cloudmask_compute(&in, &o, m) == CC_ERR_MISSING);
    CHECK(strstr(cc_error_message(), "B02") != NULL);
    o.red_proxy = 1;
    CHECK(cc_cloudmask_terms(&in, &o) == (CC_CM_TERM_B2 | CC_CM_TERM_VIS | CC_CM_TERM_NDSI));
    CHECK_OK(cc_cloudmask_compute(&in, &o, m));
    CHECK(AT(m, 9, 9) == CC_CM_CLOUD && AT(m, 27, 2) == CC_CM_CLEAR && AT(m, 21, 11) == CC_CM_SHADOW);
    o.red_proxy = 0;

    /* no B11 -> error naming the band; NaN pixel -> nodata */
    scene(&in);
    in.band[CC_B11] = NULL;
    CHECK(cc_cloudmask_compute(&in, &o, m) == CC_ERR_MISSING);
    CHECK(strstr(cc_error_message(), "B11") != NULL);
    scene(&in);
    bands[CC_B03][3 * W + 3] = NAN;
    CHECK_OK(cc_cloudmask_compute(&in, &o, m));
    CHECK(AT(m, 3, 3) == CC_CM_NODATA && AT(m, 3, 4) == CC_CM_CLEAR);
    for (int b = 0; b < CC_NBANDS; b++)
        for (int i = 0; i < W * H; i++)
            bands[b][i] = NAN;
    CHECK(cc_cloudmask_compute(&in, &o, m) == CC_ERR_NODATA);
    o.closing_size = 4;
    scene(&in);
    CHECK(cc_cloudmask_compute(&in, &o, m) == CC_ERR_ARG);
}

static void test_scl(void)
{
    printf("SCL and Fmask mapping\n");
    const uint8_t scl[14] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 255};
    const uint8_t want[14] = {0, 0, 1, 3, 1, 1, 5, 1, 2, 2, 2, 4, 0, 0};
    uint8_t m[14];
    cc_cloudmask_from_scl(scl, 14, m);
    CHECK(memcmp(m, want, 14) == 0);
    const uint8_t fm[7] = {0, 1, 2, 3, 4, 5, 255};
    const uint8_t fwant[7] = {1, 5, 3, 4, 2, 0, 0};
    cc_cloudmask_from_fmask(fm, 7, m);
    CHECK(memcmp(m, fwant, 7) == 0);
    CHECK(strcmp(cc_cloudmask_class_name(CC_CM_SHADOW), "shadow") == 0);
}

static void test_metrics(void)
{
    printf("metrics on a known confusion matrix\n");
    const uint8_t pred[11] = {2, 2, 2, 1, 1, 3, 3, 1, 0, 2, 4};
    const uint8_t ref[11] = {2, 2, 1, 2, 1, 3, 1, 3, 2, 0, 5};
    cc_cloudmask_scores s;
    cc_cloudmask_evaluate(pred, ref, 11, &s);
    CHECK(s.n == 9);
    CHECK(s.cloud.tp == 2 && s.cloud.fp == 1 && s.cloud.fn == 1);
    CHECK_NEAR(s.cloud.precision, 2.0 / 3.0, 1e-12);
    CHECK_NEAR(s.cloud.recall, 2.0 / 3.0, 1e-12);
    CHECK_NEAR(s.cloud.f1, 2.0 / 3.0, 1e-12);
    CHECK_NEAR(s.cloud.iou, 0.5, 1e-12);
    CHECK(s.shadow.tp == 1 && s.shadow.fp == 1 && s.shadow.fn == 1);
    CHECK_NEAR(s.shadow.precision, 0.5, 1e-12);
    CHECK_NEAR(s.shadow.iou, 1.0 / 3.0, 1e-12);
    /* cloud/shadow/other agree at 0, 1, 4, 5 and 10 (snow vs water are both "other") */
    CHECK_NEAR(s.overall_accuracy, 5.0 / 9.0, 1e-12);
    CHECK(s.confusion[0][2] == 1 && s.confusion[2][0] == 1 && s.confusion[4][5] == 1 && s.confusion[2][2] == 2);
    /* no reference shadow and no predicted shadow: undefined, not 0 or 1 */
    const uint8_t a[2] = {1, 2}, b[2] = {1, 2};
    cc_cloudmask_evaluate(a, b, 2, &s);
    CHECK(isnan(s.shadow.precision) && isnan(s.shadow.recall) && isnan(s.shadow.iou));
    CHECK_NEAR(s.cloud.iou, 1.0, 0);
    CHECK_NEAR(s.overall_accuracy, 1.0, 0);
}

int main(void)
{
    test_pixels();
    test_scl();
    test_metrics();
    TEST_RETURN();
}
