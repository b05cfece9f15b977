/* The SIMD providers of the CPU micro-kernel table (kernels/cpu/simd_*.c)
 * against the scalar table (kernels/cpu/ref.c):
 *  1. every entry on random shapes: odd pixel counts, cin/cout not multiples
 *     of 16, k = 1 and 3, strides 1 and 2, zero and reflect padding, NULL
 *     (zero) rows, every activation;
 *  2. position independence: a pixel's bits do not depend on npix or on its
 *     place in the call (the contract's determinism rule);
 *  3. the optional decode/encode entries bit for bit against
 *     cc_nn_decode_pixel / cc_nn_encode_pixel (nodata, clamping, NaN);
 *  4. the reference models A, B, C through cc_nn_run_float with
 *     CLEARCUBE_SIMD=avx512 / avx2 vs scalar (each level in a forked child,
 *     since the level is chosen once per process).
 * Exit 77 when the CPU has neither AVX2 nor AVX-512.
 *
 * Tolerance (fp32 reassociation): the SIMD kernels sum in the same order as
 * the scalar ones but with fused multiply-adds (one rounding per term instead
 * of two), so |simd - scalar| <= TOL_KERNEL * (|bias| + sum |x_i*w_i|) per
 * element, a bound normalised by the magnitude of the terms (observed
 * differences are ~1e-7 of it). Whole models: |simd - scalar| <= TOL_MODEL *
 * (1 + |scalar|) on the output reflectance. */
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kernels/backend-impl.h"
#include "kernels/cpu/cpu-impl.h"
#include "kernels/nn.h"

#define TOL_KERNEL 1e-5
#define TOL_MODEL 1e-4

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            failures++;                                                                            \
            if (failures < 20) {                                                                   \
                fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                               \
                fprintf(stderr, __VA_ARGS__);                                                      \
                fputc('\n', stderr);                                                               \
            }                                                                                      \
        }                                                                                          \
    } while (0)

static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static double uni(void) /* [0, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static int irange(int lo, int hi) /* [lo, hi] */
{
    return lo + (int)(uni() * (hi - lo + 1));
}

static float *rnd(size_t n, float b)
{
    float *p = malloc(n * sizeof(float) + 4);
    for (size_t i = 0; i < n; i++)
        p[i] = (float)((2.0 * uni() - 1.0) * b);
    return p;
}

typedef struct {
    cc_cpu_conv c;
    float *w, *b;
} layer;

static void layer_make(layer *L, int cin, int cout, int k, int stride, cc_pad pad, cc_act act)
{
    const int ldw = (cout + CC_CPU_COUT_PAD - 1) / CC_CPU_COUT_PAD * CC_CPU_COUT_PAD;
    const size_t nw = (size_t)k * k * cin * ldw;
    L->w = aligned_alloc(CC_CPU_ALIGN, (nw * 4 + CC_CPU_ALIGN - 1) / CC_CPU_ALIGN * CC_CPU_ALIGN);
    L->b = aligned_alloc(CC_CPU_ALIGN,
                         ((size_t)ldw * 4 + CC_CPU_ALIGN - 1) / CC_CPU_ALIGN * CC_CPU_ALIGN);
    const float bound = 1.5f / sqrtf((float)(k * k * cin));
    for (size_t i = 0; i < nw; i++)
        L->w[i] = (int)(i % (size_t)ldw) < cout ? (float)((2.0 * uni() - 1.0) * bound) : 0.0f;
    for (int i = 0; i < ldw; i++)
        L->b[i] = i < cout ? (float)((2.0 * uni() - 1.0) * 0.3) : 0.0f;
    L->c = (cc_cpu_conv){.cin = cin, .cout = cout, .ldw = ldw, .k = k, .stride = stride,
                         .pad = pad, .act = act, .alpha = 0.07f, .w = L->w, .bias = L->b};
}

static void layer_free(layer *L)
{
    free(L->w);
    free(L->b);
}

/* sum |x_i w_i| + |b| of output (pixel given by its per-tap input pointers) */
static double term_mag(const cc_cpu_conv *c, const float *const *px, int co)
{
    double s = fabs((double)c->bias[co]);
    for (int t = 0; t < c->k * c->k; t++) {
        if (!px[t])
            continue;
        const float *w = c->w + (size_t)t * c->cin * c->ldw;
        for (int ci = 0; ci < c->cin; ci++)
            s += fabs((double)px[t][ci] * (double)w[(size_t)ci * c->ldw + co]);
    }
    return s;
}

static int near(float got, float ref, double mag)
{
    if (isnan(ref) || isnan(got))
        return isnan(ref) && isnan(got);
    return fabs((double)got - (double)ref) <= TOL_KERNEL * mag + 1e-30;
}

static void test_conv1x1(const cc_cpu_kernels *S, const cc_cpu_kernels *K)
{
    for (int trial = 0; trial < 60; trial++) {
        const int cin = trial < 4 ? 16 * (trial + 1) : irange(1, 150);
        const int cout = trial < 4 ? 12 + 20 * trial : irange(1, 150);
        const cc_act act = (cc_act)(trial % (CC_ACT_SIGMOID + 1));
        const size_t np = (size_t)irange(1, 203);
        layer L;
        layer_make(&L, cin, cout, 1, 1, CC_PAD_ZERO, act);
        float *x = rnd(np * cin, 2.0f);
        float *ys = malloc(np * cout * 4), *yk = malloc(np * cout * 4), *y2 = malloc(np * cout * 4);
        S->conv1x1(&L.c, np, x, ys);
        K->conv1x1(&L.c, np, x, yk);
        int bad = 0;
        for (size_t p = 0; p < np && !bad; p++) {
            const float *px[1] = {x + p * cin};
            for (int co = 0; co < cout && !bad; co++)
                if (!near(yk[p * cout + co], ys[p * cout + co], term_mag(&L.c, px, co))) {
                    bad = 1;
                    CHECK(0, "%s conv1x1 cin %d cout %d act %d np %zu: px %zu co %d: %g vs %g",
                          K->name, cin, cout, act, np, p, co, yk[p * cout + co], ys[p * cout + co]);
                }
        }
        /* position independence: pixels 1..np-1 computed alone */
        if (np > 1) {
            K->conv1x1(&L.c, np - 1, x + cin, y2);
            CHECK(memcmp(y2, yk + cout, (np - 1) * cout * 4) == 0,
                  "%s conv1x1 cin %d cout %d np %zu: result depends on the pixel position",
                  K->name, cin, cout, np);
        }
        free(x);
        free(ys);
        free(yk);
        free(y2);
        layer_free(&L);
    }
}

static void test_conv2d_row(const cc_cpu_kernels *S, const cc_cpu_kernels *K)
{
    for (int trial = 0; trial < 120; trial++) {
        const int k = trial % 5 == 4 ? 1 : 3;
        const int stride = 1 + (trial / 2) % 2;
        const cc_pad pad = k == 3 && trial % 3 == 0 ? CC_PAD_REFLECT : CC_PAD_ZERO;
        const cc_act act = (cc_act)(trial % (CC_ACT_SIGMOID + 1));
        const int cin = trial < 6 ? 16 << (trial % 3) : irange(1, 70);
        const int cout = trial < 6 ? 32 << (trial % 3) : irange(1, 140);
        const int win = irange(k == 3 && pad == CC_PAD_REFLECT ? 2 : 1, 77);
        const int p = k / 2;
        const int wout = (win + 2 * p - k) / stride + 1;
        /* which rows are NULL (zero padding above/below the image) */
        const int nullmask = pad == CC_PAD_ZERO && k == 3 ? irange(0, 3) : 0;
        layer L;
        layer_make(&L, cin, cout, k, stride, pad, act);
        float *rowbuf = rnd((size_t)3 * win * cin, 2.0f);
        const float *rows[3] = {NULL, NULL, NULL};
        for (int ky = 0; ky < k; ky++)
            rows[ky] = (nullmask == 1 && ky == 0) || (nullmask == 2 && ky == 2)
                           ? NULL
                           : rowbuf + (size_t)ky * win * cin;
        if (nullmask == 3 && k == 3 && win > 0) /* both: a 1-row image */
            rows[0] = rows[2] = NULL;
        float *ys = malloc((size_t)wout * cout * 4), *yk = malloc((size_t)wout * cout * 4);
        S->conv2d_row(&L.c, win, wout, rows, ys);
        K->conv2d_row(&L.c, win, wout, rows, yk);
        int bad = 0;
        for (int ox = 0; ox < wout && !bad; ox++) {
            const float *px[9] = {NULL};
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++) {
                    int ix = ox * stride - p + kx;
                    if (!rows[ky])
                        continue;
                    if (ix < 0 || ix >= win) {
                        if (pad == CC_PAD_ZERO)
                            continue;
                        ix = ix < 0 ? -ix : 2 * win - 2 - ix;
                    }
                    px[ky * k + kx] = rows[ky] + (size_t)ix * cin;
                }
            for (int co = 0; co < cout && !bad; co++) {
                const size_t i = (size_t)ox * cout + co;
                if (!near(yk[i], ys[i], term_mag(&L.c, px, co))) {
                    bad = 1;
                    CHECK(0,
                          "%s conv2d_row k %d s %d pad %d act %d cin %d cout %d win %d "
                          "nullmask %d: ox %d co %d: %g vs %g",
                          K->name, k, stride, pad, act, cin, cout, win, nullmask, ox, co, yk[i],
                          ys[i]);
                }
            }
        }
        free(rowbuf);
        free(ys);
        free(yk);
        layer_free(&L);
    }
}

/* ---- whole models, one SIMD level per forked child ---- */

#define MS 48 /* window side, a multiple of C's size_multiple 4 */

static const char models[3] = {'A', 'B', 'C'};

/* Child: run the three models at `level` into out[3][MS*MS*12]; returns the exit
 * code: 0, 3 when the level is not the one selected (CPU lacks it). */
static int child_run(const char *level, const uint16_t *dn, float *out)
{
    setenv("CLEARCUBE_SIMD", level, 1);
    const cc_nn_backend *b = cc_nn_backend_cpu();
    if (strcmp(cc_nn_backend_detail(b), level) != 0)
        return 3;
    for (int i = 0; i < 3; i++) {
        cc_nn_model m;
        if (cc_nn_model_reference(models[i], 7, &m) != CC_OK)
            return 1;
        cc_status st = cc_nn_run_float(b, &m, 1, MS, MS, dn, out + (size_t)i * MS * MS * 12);
        cc_nn_model_free(&m);
        if (st != CC_OK)
            return 1;
    }
    return 0;
}

static int run_level(const char *level, const uint16_t *dn, float *shared)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        _exit(child_run(level, dn, shared));
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

static void test_models(int have512, int have2)
{
    const size_t nout = (size_t)3 * MS * MS * 12;
    uint16_t *dn = malloc((size_t)MS * MS * 16 * sizeof *dn);
    float *sh = mmap(NULL, 3 * nout * sizeof(float), PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(sh != MAP_FAILED, "mmap");
    if (sh == MAP_FAILED)
        return;
    for (size_t i = 0; i < (size_t)MS * MS * 16; i++)
        dn[i] = (uint16_t)(1001 + (int)(uni() * 6000));
    for (int p = 0; p < MS * MS; p += 97) /* some nodata pixels */
        dn[(size_t)p * 16 + (size_t)(p % 16)] = 0;
    const char *levels[3] = {"scalar", "avx512", "avx2"};
    const int have[3] = {1, have512, have2};
    for (int l = 0; l < 3; l++) {
        if (!have[l])
            continue;
        int rc = run_level(levels[l], dn, sh + (size_t)l * nout);
        CHECK(rc == 0, "models at CLEARCUBE_SIMD=%s: child exit %d", levels[l], rc);
        if (rc != 0 || l == 0)
            continue;
        for (int i = 0; i < 3; i++) {
            const float *ref = sh + (size_t)i * MS * MS * 12, *got = sh + (size_t)l * nout + (ref - sh);
            double maxd = 0.0;
            int bad = 0;
            for (size_t e = 0; e < (size_t)MS * MS * 12; e++) {
                if (isnan(ref[e]) || isnan(got[e])) {
                    bad |= !(isnan(ref[e]) && isnan(got[e]));
                    continue;
                }
                double d = fabs((double)got[e] - (double)ref[e]);
                if (d > maxd)
                    maxd = d;
                bad |= d > TOL_MODEL * (1.0 + fabs((double)ref[e]));
            }
            printf("model %c %dx%d: %s vs scalar max |diff| %.3g\n", models[i], MS, MS, levels[l],
                   maxd);
            CHECK(!bad, "model %c: %s vs scalar differs (max |diff| %g, NaN pattern or > tol)",
                  models[i], levels[l], maxd);
        }
    }
    munmap(sh, 3 * nout * sizeof(float));
    free(dn);
}

/* optional decode/encode entries: bit-identical to the per-pixel helpers */
static void test_codec(const cc_cpu_kernels *K)
{
    if (!K->decode && !K->encode) {
        printf("%s: no decode/encode entries\n", K->name);
        return;
    }
    static const int ncs[] = {16, 13, 20, 64, 1};
    for (size_t t = 0; t < sizeof ncs / sizeof ncs[0]; t++) {
        const int nc = ncs[t], co = (int)(t % 2 ? 17 : 12) > nc + 5 ? nc : (t % 2 ? 17 : 12);
        const size_t np = 101;
        cc_nn_model m;
        memset(&m, 0, sizeof m);
        m.input.nchannels = nc;
        m.input.dn_offset = t == 1 ? 0.0 : -1000.0;
        m.input.quantification = 10000.0;
        for (int c = 0; c < nc; c++) {
            m.input.mean[c] = 0.05f + 0.013f * (float)c;
            m.input.std[c] = 0.07f + 0.003f * (float)c;
        }
        cc_nn_node o;
        memset(&o, 0, sizeof o);
        o.op = CC_OP_OUTPUT;
        o.cout = co;
        float scale[CC_NN_MAX_IO], shift[CC_NN_MAX_IO];
        for (int c = 0; c < co; c++) {
            scale[c] = 0.5f + 0.01f * (float)c;
            shift[c] = -0.01f * (float)c;
            o.residual_channel[c] = c % 3 == 2 ? -1 : (c * 7) % nc;
        }
        o.scale = t % 3 == 2 ? NULL : scale;
        o.shift = t % 2 ? NULL : shift;
        o.out_dn_offset = t == 1 ? 0.0 : 1000.0;
        uint16_t *dn = malloc(np * nc * sizeof *dn);
        for (size_t i = 0; i < np * nc; i++)
            dn[i] = (uint16_t)(uni() < 0.01 ? 0 : uni() < 0.05 ? irange(1, 5) * 13000 : irange(1, 9000));
        float *x = rnd(np * co, 6.0f);
        for (size_t i = 0; i < np * co; i += 37)
            x[i] = i % 2 ? NAN : 1e9f; /* NaN and clamping */
        float *xa = malloc(np * nc * 4), *xb = malloc(np * nc * 4);
        float *fa = malloc(np * co * 4), *fb = malloc(np * co * 4);
        uint16_t *da = malloc(np * co * 2), *db = malloc(np * co * 2);
        for (size_t p = 0; p < np; p++) {
            cc_nn_decode_pixel(&m, dn + p * nc, xa + p * nc);
            cc_nn_encode_pixel(&m, &o, dn + p * nc, x + p * co, da + p * co, NULL);
            cc_nn_encode_pixel(&m, &o, dn + p * nc, x + p * co, NULL, fa + p * co);
        }
        if (K->decode) {
            K->decode(&m, np, dn, xb);
            CHECK(memcmp(xa, xb, np * nc * 4) == 0, "%s decode nc %d differs", K->name, nc);
        }
        if (K->encode) {
            K->encode(&m, &o, np, dn, x, db, NULL);
            K->encode(&m, &o, np, dn, x, NULL, fb);
            CHECK(memcmp(da, db, np * co * 2) == 0, "%s encode (DN) nc %d cout %d differs", K->name,
                  nc, co);
            int same = 1;
            for (size_t i = 0; i < np * co; i++)
                same &= isnan(fa[i]) ? isnan(fb[i]) : memcmp(&fa[i], &fb[i], 4) == 0;
            CHECK(same, "%s encode (float) nc %d cout %d differs", K->name, nc, co);
        }
        free(dn);
        free(x);
        free(xa);
        free(xb);
        free(fa);
        free(fb);
        free(da);
        free(db);
    }
    printf("%s: decode/encode bit-identical to the per-pixel helpers\n", K->name);
}

int main(void)
{
    __builtin_cpu_init();
    const cc_cpu_kernels *S = cc_cpu_kernels_scalar();
    const cc_cpu_kernels *K[2] = {NULL, NULL};
#ifdef CC_CPU_HAVE_AVX512
    K[0] = cc_cpu_kernels_avx512();
#endif
#ifdef CC_CPU_HAVE_AVX2
    K[1] = cc_cpu_kernels_avx2();
#endif
    if (!K[0] && !K[1]) {
        printf("no SIMD provider on this CPU/build: skipped\n");
        return 77;
    }
    /* the models first: the children must choose their level themselves */
    test_models(K[0] != NULL, K[1] != NULL);
    for (int i = 0; i < 2; i++) {
        if (!K[i]) {
            printf("%s: not available on this CPU, skipped\n", i ? "avx2" : "avx512");
            continue;
        }
        test_conv1x1(S, K[i]);
        test_conv2d_row(S, K[i]);
        test_codec(K[i]);
        printf("%s: conv1x1 and conv2d_row vs scalar done\n", K[i]->name);
    }
    if (failures)
        fprintf(stderr, "%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
