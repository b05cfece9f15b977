/* clearcube benchmark driver for the network runtime (issue 3), run by
 * bench/engine (which adds PyTorch). Never a timed test.
 *
 *   cc_bench_nn [--dir D] [--runs N] [--seed S] [--models ABC] [--size-scale F]
 *               [--device auto|cpu|cuda|cuda:N]   (the models' backend, kernels/device/device.h;
 *               default cpu; the engine of CUDA convs: CLEARCUBE_CUDA_CONV, docs/gpu.md)
 *
 * Prints one JSON object per line on stdout:
 *   {"peak": {...}}                        the measured FMA peak (GFLOP/s)
 *   {"conv3x3": {...}}                      3x3 conv layers alone (kernel table)
 *   {"model": "A", ...}                     per model: Mpx/s (median), FLOP/pixel,
 *                                           the files written to D
 * and writes to D (default .): model_<M>.weights (float32: for every conv node
 * in node order, weight [cout][k][k][cin] then bias [cout]), input_<M>.u16
 * (uint16 DN, H x W x 16, channels-last), output_<M>.f32 (cc_nn_run_float,
 * H x W x 12). */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels/backend-impl.h"
#include "kernels/cpu/cpu-impl.h"
#include "kernels/device/device.h"
#include "kernels/nn.h"

/* --cputime: process CPU time divided by the thread count instead of wall
 * time (for tuning on a loaded machine; OpenMP spin-waits count as busy). */
static int use_cputime;
static const cc_nn_backend *g_backend; /* --device; NULL: the CPU */
static int nthreads(void);

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(use_cputime ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    if (use_cputime)
        return ((double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec) / (double)nthreads();
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int nthreads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- FMA peak: 24 independent FMA chains per thread (enough to cover the
 * latency on 2 pipes), 16 lanes (AVX-512) or 8 (AVX2) ---- */

#define CHAINS 24

__attribute__((target("avx512f,fma"))) static float fma_loop_512(long iters)
{
    __m512 a[CHAINS];
    const __m512 b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f);
    for (int k = 0; k < CHAINS; k++)
        a[k] = _mm512_set1_ps((float)k);
    for (long i = 0; i < iters; i++) {
#pragma GCC unroll 24
        for (int k = 0; k < CHAINS; k++)
            a[k] = _mm512_fmadd_ps(a[k], b, c);
    }
    __m512 s = a[0];
    for (int k = 1; k < CHAINS; k++)
        s = _mm512_add_ps(s, a[k]);
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static float fma_loop_256(long iters)
{
    __m256 a[CHAINS / 2];
    const __m256 b = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
    for (int k = 0; k < CHAINS / 2; k++)
        a[k] = _mm256_set1_ps((float)k);
    for (long i = 0; i < iters; i++) {
#pragma GCC unroll 12
        for (int k = 0; k < CHAINS / 2; k++)
            a[k] = _mm256_fmadd_ps(a[k], b, c);
    }
    __m256 s = a[0];
    for (int k = 1; k < CHAINS / 2; k++)
        s = _mm256_add_ps(s, a[k]);
    float t[8];
    _mm256_storeu_ps(t, s);
    return t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
}

/* GFLOP/s of the best of 5 runs of the FMA loop on all threads. */
static double measure_peak(int use512, volatile float *sink)
{
    const long iters = 20000000;
    const double flops_per_iter = use512 ? CHAINS * 16.0 * 2.0 : CHAINS / 2 * 8.0 * 2.0;
    double best = 0.0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now_s();
        int nt = 1;
#pragma omp parallel
        {
            float r = use512 ? fma_loop_512(iters) : fma_loop_256(iters);
#ifdef _OPENMP
#pragma omp master
            nt = omp_get_num_threads();
#endif
#pragma omp critical
            *sink += r;
        }
        double dt = now_s() - t0;
        double g = (double)nt * (double)iters * flops_per_iter / dt * 1e-9;
        if (g > best)
            best = g;
    }
    return best;
}

/* ---- 3x3 conv layers alone through the selected kernel table ---- */

static double bench_conv3x3(int cin, int cout, int h, int w, cc_pad pad, int runs)
{
    const int ldw = (cout + CC_CPU_COUT_PAD - 1) / CC_CPU_COUT_PAD * CC_CPU_COUT_PAD;
    float *wt = aligned_alloc(CC_CPU_ALIGN, (size_t)9 * cin * ldw * sizeof(float));
    float *b = aligned_alloc(CC_CPU_ALIGN, (size_t)ldw * sizeof(float));
    float *x = malloc((size_t)h * w * cin * sizeof(float));
    float *y = malloc((size_t)h * w * cout * sizeof(float));
    double gflops = 0.0;
    if (!wt || !b || !x || !y)
        goto out;
    for (size_t i = 0; i < (size_t)9 * cin * ldw; i++)
        wt[i] = (i % (size_t)ldw) < (size_t)cout ? 0.01f * (float)((i * 7) % 13) - 0.06f : 0.0f;
    for (int i = 0; i < ldw; i++)
        b[i] = i < cout ? 0.01f : 0.0f;
    for (size_t i = 0; i < (size_t)h * w * cin; i++)
        x[i] = 0.001f * (float)(i % 1000);
    cc_cpu_conv c = {.cin = cin, .cout = cout, .ldw = ldw, .k = 3, .stride = 1, .pad = pad,
                     .act = CC_ACT_RELU, .w = wt, .bias = b};
    const cc_cpu_kernels *K = cc_cpu_kernels_get();
    double t[16];
    if (runs > 16)
        runs = 16;
    for (int r = -1; r < runs; r++) {
        double t0 = now_s();
#pragma omp parallel for schedule(static)
        for (int oy = 0; oy < h; oy++) {
            const float *rows[3];
            for (int ky = 0; ky < 3; ky++) {
                int iy = oy - 1 + ky;
                if (iy < 0 || iy >= h)
                    rows[ky] = pad == CC_PAD_ZERO ? NULL
                                                  : x + (size_t)(iy < 0 ? -iy : 2 * h - 2 - iy) * w * cin;
                else
                    rows[ky] = x + (size_t)iy * w * cin;
            }
            K->conv2d_row(&c, w, w, rows, y + (size_t)oy * w * cout);
        }
        if (r >= 0)
            t[r] = now_s() - t0;
    }
    gflops = 2.0 * 9.0 * cin * cout * (double)h * w / median(t, runs) * 1e-9;
out:
    free(wt);
    free(b);
    free(x);
    free(y);
    return gflops;
}

/* ---- models ---- */

static int write_file(const char *path, const void *p, size_t bytes)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t n = fwrite(p, 1, bytes, f);
    return fclose(f) == 0 && n == bytes ? 0 : -1;
}

static int write_weights(const cc_nn_model *m, const char *path)
{
    FILE *f = fopen(path, "wb");
    int ok = f != NULL;
    for (int i = 0; ok && i < m->nnodes; i++) {
        const cc_nn_node *n = &m->nodes[i];
        if (n->op != CC_OP_CONV2D)
            continue;
        const size_t cin = (size_t)m->nodes[n->inputs[0]].cout;
        const size_t nw = (size_t)n->cout * (size_t)n->kernel * (size_t)n->kernel * cin;
        ok = fwrite(n->weight, sizeof(float), nw, f) == nw;
        for (int co = 0; ok && co < n->cout; co++) {
            float b = n->bias ? n->bias[co] : 0.0f;
            ok = fwrite(&b, sizeof b, 1, f) == 1;
        }
    }
    if (f && fclose(f) != 0)
        ok = 0;
    return ok ? 0 : -1;
}

static int bench_model(char which, int size, unsigned seed, int runs, const char *dir)
{
    cc_nn_model m;
    int rc = 1;
    uint16_t *dn = NULL, *out = NULL;
    float *outf = NULL;
    char path[4096];
    if (cc_nn_model_reference(which, seed, &m) != CC_OK) {
        fprintf(stderr, "cc_bench_nn: model %c: %s\n", which, cc_error_message());
        return 1;
    }
    const int nin = m.input.nchannels, nout = m.nodes[m.output_node].cout;
    const size_t npix = (size_t)size * (size_t)size;
    dn = malloc(npix * (size_t)nin * sizeof *dn);
    out = malloc(npix * (size_t)nout * sizeof *out);
    outf = malloc(npix * (size_t)nout * sizeof *outf);
    if (!dn || !out || !outf)
        goto out;
    uint64_t s = 0x2545F4914F6CDD1DULL ^ (uint64_t)seed;
    for (size_t i = 0; i < npix * (size_t)nin; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        dn[i] = (uint16_t)(1001 + (s >> 11) % 6000);
    }
    const cc_nn_backend *b = g_backend ? g_backend : cc_nn_backend_cpu();
    double t[64];
    if (runs > 64)
        runs = 64;
    for (int r = -1; r < runs; r++) { /* r = -1: warm-up */
        double t0 = now_s();
        if (cc_nn_run(b, &m, 1, size, size, dn, out) != CC_OK) {
            fprintf(stderr, "cc_bench_nn: run %c: %s\n", which, cc_error_message());
            goto out;
        }
        if (r >= 0)
            t[r] = now_s() - t0;
    }
    double tmin = t[0];
    for (int r = 1; r < runs; r++)
        tmin = t[r] < tmin ? t[r] : tmin;
    const double tmed = median(t, runs);
    if (cc_nn_run_float(b, &m, 1, size, size, dn, outf) != CC_OK) {
        fprintf(stderr, "cc_bench_nn: run_float %c: %s\n", which, cc_error_message());
        goto out;
    }
    snprintf(path, sizeof path, "%s/model_%c.weights", dir, which);
    if (write_weights(&m, path) != 0)
        goto io_err;
    snprintf(path, sizeof path, "%s/input_%c.u16", dir, which);
    if (write_file(path, dn, npix * (size_t)nin * sizeof *dn) != 0)
        goto io_err;
    snprintf(path, sizeof path, "%s/output_%c.f32", dir, which);
    if (write_file(path, outf, npix * (size_t)nout * sizeof *outf) != 0)
        goto io_err;
    printf("{\"model\": \"%c\", \"size\": %d, \"flops_per_pixel\": %.1f, \"mpx_s\": %.4f, "
           "\"mpx_s_best\": %.4f, \"runs\": %d, \"seconds_median\": %.5f, \"simd\": \"%s\", "
           "\"threads\": %d}\n",
           which, size, cc_nn_model_flops_per_pixel(&m), (double)npix / tmed * 1e-6,
           (double)npix / tmin * 1e-6, runs, tmed, cc_nn_backend_detail(b), nthreads());
    fflush(stdout);
    rc = 0;
    goto out;
io_err:
    fprintf(stderr, "cc_bench_nn: cannot write %s\n", path);
out:
    free(dn);
    free(out);
    free(outf);
    cc_nn_model_free(&m);
    return rc;
}

int main(int argc, char **argv)
{
    const char *dir = ".", *models = "ABC";
    int runs = 7;
    unsigned seed = 1;
    double scale = 1.0;
    int skip_peak = 0, skip_conv = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            seed = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--models") && i + 1 < argc)
            models = argv[++i];
        else if (!strcmp(argv[i], "--size-scale") && i + 1 < argc)
            scale = atof(argv[++i]);
        else if (!strcmp(argv[i], "--no-peak"))
            skip_peak = 1;
        else if (!strcmp(argv[i], "--no-conv"))
            skip_conv = 1;
        else if (!strcmp(argv[i], "--cputime"))
            use_cputime = 1;
        else if (!strcmp(argv[i], "--device") && i + 1 < argc) {
            cc_device_request req;
            cc_device dev;
            if (cc_device_parse(argv[++i], &req) != CC_OK || cc_device_resolve(&req, "cc_bench_nn", &dev) != CC_OK) {
                fprintf(stderr, "cc_bench_nn: %s\n", cc_error_message());
                return cc_status_exit_code(cc_error_status());
            }
            g_backend = dev.backend;
        } else {
            fprintf(stderr, "usage: %s [--dir D] [--runs N] [--seed S] [--models ABC] "
                            "[--size-scale F] [--no-peak] [--no-conv] [--cputime] [--device D]\n", argv[0]);
            return 2;
        }
    }
    if (runs < 1)
        runs = 1;
    __builtin_cpu_init();
    const int has512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
    const int has256 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    volatile float sink = 0.0f;
    double p512 = has512 && !skip_peak ? measure_peak(1, &sink) : 0.0;
    double p256 = has256 && !skip_peak ? measure_peak(0, &sink) : 0.0;
    printf("{\"peak\": {\"gflops\": %.2f, \"avx512_gflops\": %.2f, \"avx2_gflops\": %.2f, "
           "\"threads\": %d, \"simd\": \"%s\"}}\n",
           p512 > p256 ? p512 : p256, p512, p256, nthreads(), cc_cpu_kernels_get()->name);
    fflush(stdout);

    /* the 3x3 layers of B (512x512, zero padding) and C (reflect) */
    static const struct {
        const char *name;
        int cin, cout, size;
        cc_pad pad;
    } L[] = {
        {"B.conv2 32->32 @512", 32, 32, 512, CC_PAD_ZERO},
        {"C.enc1.conv1 16->32 @256", 16, 32, 256, CC_PAD_REFLECT},
        {"C.dec1.conv1 96->32 @256", 96, 32, 256, CC_PAD_REFLECT},
        {"C.dec2.conv1 192->64 @128", 192, 64, 128, CC_PAD_REFLECT},
        {"C.bott.conv2 128->128 @64", 128, 128, 64, CC_PAD_REFLECT},
    };
    printf("{\"conv3x3\": [");
    for (size_t i = 0; !skip_conv && i < sizeof L / sizeof L[0]; i++) {
        int sz = (int)(L[i].size * scale);
        double g = bench_conv3x3(L[i].cin, L[i].cout, sz < 8 ? 8 : sz, sz < 8 ? 8 : sz, L[i].pad, runs);
        printf("%s{\"layer\": \"%s\", \"gflops\": %.2f}", i ? ", " : "", L[i].name, g);
    }
    printf("]}\n");
    fflush(stdout);

    int rc = 0;
    for (const char *p = models; *p; p++) {
        int size = *p == 'A' ? 1024 : *p == 'B' ? 512 : 256;
        size = (int)(size * scale) / 4 * 4;
        if (size < 8)
            size = 8;
        rc |= bench_model(*p, size, seed, runs, dir);
    }
    return rc ? 1 : (sink == 12345.0f ? 0 : 0);
}
