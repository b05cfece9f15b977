/* Cloudless model speed (bench/cloudless; docs/benchmarks.md). Never a timed test.
 *
 *   cc_bench_cloudless [--model M.h5] [--pixels N] [--repeat R] [--dump OUT.f32]
 *
 * Builds a SIMULATED multi-sensor series of N pixels over the model's +-N-day
 * window with the revisits of the real missions (S2 every 5 days with 40 %
 * cloud, Landsat every 8 days with 30 % cloud, OLCI daily with 50 % cloud,
 * S1 every 6 days), times cc_cl_predict (features + network, every pixel) and
 * cc_cl_evidence for the centre day, and extrapolates to a 10980 x 10980
 * tile-day (the goal: <= 60 s for the model itself on 2 cores).
 * Prints one human line and one JSON line. --dump writes the prediction
 * (npix x 10 float32, native order) to compare two builds bit for bit. */
#define _GNU_SOURCE /* M_PI */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline/cloudless/cloudless.h"
#include "pipeline/cloudless/series.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}
static double u01(uint64_t a, uint64_t b) { return (double)(mix(a * 1000003ULL + b) >> 11) * 0x1.0p-53; }

int main(int argc, char **argv)
{
    const char *model_path = NULL, *dump = NULL;
    long npix = 65536;
    int repeat = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc)
            model_path = argv[++i];
        else if (!strcmp(argv[i], "--pixels") && i + 1 < argc)
            npix = atol(argv[++i]);
        else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dump") && i + 1 < argc)
            dump = argv[++i];
        else {
            fprintf(stderr, "usage: cc_bench_cloudless [--model M.h5] [--pixels N] [--repeat R] [--dump OUT.f32]\n");
            return 2;
        }
    }
    if (npix < 1 || repeat < 1) {
        fprintf(stderr, "cc_bench_cloudless: --pixels and --repeat must be positive\n");
        return 2;
    }
    cc_cl_model *m = NULL;
    cc_status st;
    if (model_path)
        st = cc_cl_model_load(model_path, &m);
    else {
        cc_cl_arch a;
        cc_cl_arch_init(&a);
        st = cc_cl_model_build(&a, &m);
    }
    if (st != CC_OK) {
        fprintf(stderr, "cc_bench_cloudless: %s\n", cc_error_message());
        return 1;
    }
    int half = cc_cl_model_half_window(m), ndays = 2 * half + 1;
    cc_series s;
    if (cc_series_alloc(&s, ndays, 18000, (size_t)npix) != CC_OK) {
        fprintf(stderr, "cc_bench_cloudless: %s\n", cc_error_message());
        return 1;
    }
    for (int d = 0; d < ndays; d++) {
        double doy = 2 * M_PI * (double)d / 365.0;
        for (long p = 0; p < npix; p++) {
            size_t q = (size_t)d * (size_t)npix + (size_t)p;
            float base = (float)(0.1 + 0.05 * sin(doy + 0.001 * (double)p));
            if (d % 5 == 0 && u01((uint64_t)p, (uint64_t)d) > 0.4)
                for (int b = 0; b < CC_CL_NBANDS; b++)
                    s.s2[q * CC_CL_NBANDS + (size_t)b] = base + 0.02f * (float)b;
            if (d % 8 == 3 && u01((uint64_t)p, (uint64_t)d + 7777) > 0.3)
                for (int b = 0; b < CC_CL_NBANDS; b++)
                    if (b < 3 || b > 6)
                        s.landsat[q * CC_CL_NBANDS + (size_t)b] = base + 0.02f * (float)b + 0.005f;
            if (u01((uint64_t)p / 900, (uint64_t)d + 99999) > 0.5) /* 300 m: 30x30 blocks */
                for (int b = 0; b < 8; b++)
                    s.olci[q * CC_CL_NBANDS + (size_t)b] = base + 0.02f * (float)b + 0.03f;
            if (d % 6 == 1)
                s.s1[q * 2] = -12.0f + 3.0f * (float)sin(doy), s.s1[q * 2 + 1] = -18.0f;
        }
    }
    float *out = malloc((size_t)npix * CC_CL_NBANDS * sizeof *out);
    int16_t *ds = malloc((size_t)npix * sizeof *ds);
    uint8_t *sens = malloc((size_t)npix);
    if (!out || !ds || !sens) {
        fprintf(stderr, "cc_bench_cloudless: out of memory\n");
        return 1;
    }
    double best = 1e30, best_ev = 1e30;
    for (int r = 0; r < repeat; r++) {
        double t0 = now();
        if (cc_cl_predict(m, &s, half, out) != CC_OK) {
            fprintf(stderr, "cc_bench_cloudless: %s\n", cc_error_message());
            return 1;
        }
        double t1 = now();
        cc_cl_evidence(&s, half, ds, sens);
        double t2 = now();
        if (t1 - t0 < best)
            best = t1 - t0;
        if (t2 - t1 < best_ev)
            best_ev = t2 - t1;
    }
    if (dump) {
        FILE *f = fopen(dump, "wb");
        if (!f || fwrite(out, sizeof *out * CC_CL_NBANDS, (size_t)npix, f) != (size_t)npix || fclose(f) != 0) {
            fprintf(stderr, "cc_bench_cloudless: %s: cannot write the prediction\n", dump);
            return 1;
        }
    }
    /* the network alone (cc_nn_run_float on kt days x npix pixels of already
     * encoded features), to separate it from the feature extraction */
    const cc_nn_model *net = cc_cl_model_net_const(m);
    int kt = cc_cl_model_kt(m), nin = net->input.nchannels, nout = CC_CL_NBANDS;
    uint16_t *feat = malloc((size_t)kt * (size_t)npix * (size_t)nin * sizeof *feat);
    float *nout_buf = malloc((size_t)kt * (size_t)npix * (size_t)nout * sizeof *nout_buf);
    double best_net = 1e30;
    if (feat && nout_buf) {
        for (size_t i = 0; i < (size_t)kt * (size_t)npix * (size_t)nin; i++)
            feat[i] = (uint16_t)(11000 + (int)(u01(i, 5) * 2000)); /* features near 1 (+1 encoding) */
        for (int r = 0; r < repeat; r++) {
            double t0 = now();
            if (cc_nn_run_float(cc_nn_backend_cpu(), net, kt, 1, (int)npix, feat, nout_buf) != CC_OK) {
                fprintf(stderr, "cc_bench_cloudless: %s\n", cc_error_message());
                return 1;
            }
            double dt = now() - t0;
            if (dt < best_net)
                best_net = dt;
        }
    }
    free(feat);
    free(nout_buf);
    size_t nfin = 0;
    for (long p = 0; p < npix; p++)
        nfin += isfinite(out[(size_t)p * CC_CL_NBANDS + 2]);
    double tile = 10980.0 * 10980.0;
    double flops = cc_nn_model_flops_per_pixel(cc_cl_model_net_const(m)) * cc_cl_model_kt(m);
    double per_tile = (best + best_ev) / (double)npix * tile;
    printf("cloudless model: %ld pixels, window +-%d days, kt %d, %d threads: predict %.3f s (%.2f us/pixel, "
           "%.0f pixels/s), evidence %.3f s; network ~%.0f FLOP/pixel (%.0f with the kt days); "
           "10980x10980 tile-day: %.1f s (goal <= 60 s: %s); %zu of %ld pixels filled\n",
           npix, half, cc_cl_model_kt(m), omp_get_max_threads(), best, 1e6 * best / (double)npix,
           (double)npix / best, best_ev, flops / cc_cl_model_kt(m), flops, per_tile,
           per_tile <= 60 ? "met" : "NOT met", nfin, npix);
    double net_tile = best_net / (double)npix * tile;
    printf("  of which the network alone (kt x pixels through cc_nn_run_float): %.3f s (%.2f us/pixel, %.1f GFLOP/s); "
           "10980x10980 tile-day: %.1f s; features + evidence: %.1f s\n",
           best_net, 1e6 * best_net / (double)npix, flops * (double)npix / best_net * 1e-9, net_tile, per_tile - net_tile);
    printf("{\"bench\":\"cloudless-model\",\"pixels\":%ld,\"threads\":%d,\"predict_s\":%.4f,\"evidence_s\":%.4f,"
           "\"network_s\":%.4f,\"us_per_pixel\":%.3f,\"tile_day_s\":%.2f,\"network_tile_day_s\":%.2f,"
           "\"flop_per_pixel\":%.0f}\n",
           npix, omp_get_max_threads(), best, best_ev, best_net, 1e6 * (best + best_ev) / (double)npix, per_tile,
           net_tile, flops);
    free(out);
    free(ds);
    free(sens);
    cc_series_free(&s);
    cc_cl_model_free(m);
    return 0;
}
