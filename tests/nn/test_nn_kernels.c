/* The CPU micro-kernels (kernels/cpu/cpu-impl.h) of the portable table and of
 * the selected (possibly SIMD) table against naive loops: 1x1 conv over pixel
 * tiles and conv2d rows, odd widths, both strides and paddings, every
 * activation, NULL (zero) rows. */
#include "kernels/backend-impl.h"
#include "kernels/cpu/cpu-impl.h"
#include "nn_naive.h"
#include "nn_testlib.h"

typedef struct {
    cc_cpu_conv c;
    float *w, *b, *wraw, *braw; /* packed, and the model layout [co][ky][kx][ci] */
} layer;

static void layer_make(layer *L, int cin, int cout, int k, int stride, cc_pad pad, cc_act act)
{
    int ldw = (cout + CC_CPU_COUT_PAD - 1) / CC_CPU_COUT_PAD * CC_CPU_COUT_PAD;
    size_t nw = (size_t)k * k * cin * ldw;
    L->wraw = tl_weights((size_t)cout * k * k * cin, 0.5f);
    L->braw = tl_weights((size_t)cout, 0.3f);
    L->w = aligned_alloc(CC_CPU_ALIGN, (nw * 4 + CC_CPU_ALIGN - 1) / CC_CPU_ALIGN * CC_CPU_ALIGN);
    L->b = aligned_alloc(CC_CPU_ALIGN, ((size_t)ldw * 4 + CC_CPU_ALIGN - 1) / CC_CPU_ALIGN * CC_CPU_ALIGN);
    memset(L->w, 0, nw * 4);
    memset(L->b, 0, (size_t)ldw * 4);
    for (int co = 0; co < cout; co++) {
        for (int t = 0; t < k * k; t++)
            for (int ci = 0; ci < cin; ci++)
                L->w[((size_t)t * cin + ci) * ldw + co] = L->wraw[((size_t)co * k * k + t) * cin + ci];
        L->b[co] = L->braw[co];
    }
    L->c = (cc_cpu_conv){.cin = cin, .cout = cout, .ldw = ldw, .k = k, .stride = stride, .pad = pad,
                         .act = act, .alpha = 0.07f, .w = L->w, .bias = L->b};
}

static void layer_free(layer *L)
{
    free(L->w);
    free(L->b);
    free(L->wraw);
    free(L->braw);
}

static int close_enough(float got, double ref)
{
    return fabs((double)got - ref) <= 1e-5 * (fabs(ref) > 1 ? fabs(ref) : 1);
}

static void test_conv1x1(const cc_cpu_kernels *K)
{
    const int shapes[][2] = {{1, 1}, {3, 5}, {16, 64}, {64, 64}, {64, 12}, {17, 33}, {40, 130}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int a = 0; a <= CC_ACT_SIGMOID; a++) {
            const int cin = shapes[s][0], cout = shapes[s][1];
            layer L;
            layer_make(&L, cin, cout, 1, 1, CC_PAD_ZERO, (cc_act)a);
            for (size_t np = 1; np <= 67; np += 11) {
                float *x = tl_weights(np * cin, 2.0f), *y = malloc(np * cout * 4);
                K->conv1x1(&L.c, np, x, y);
                int bad = 0;
                for (size_t p = 0; p < np; p++)
                    for (int co = 0; co < cout; co++) {
                        double acc = L.braw[co];
                        for (int ci = 0; ci < cin; ci++)
                            acc += (double)x[p * cin + ci] * L.wraw[(size_t)co * cin + ci];
                        acc = nv_act((cc_act)a, 0.07f, acc);
                        bad += !close_enough(y[p * cout + co], acc);
                    }
                if (bad) {
                    fprintf(stderr, "FAIL %s conv1x1 cin %d cout %d act %s npix %zu: %d bad\n",
                            K->name, cin, cout, cc_act_name((cc_act)a), np, bad);
                    cc_test_failures++;
                }
                free(x);
                free(y);
            }
            layer_free(&L);
        }
}

static void test_conv2d_row(const cc_cpu_kernels *K)
{
    const int chans[][2] = {{3, 5}, {16, 32}, {19, 37}};
    for (size_t s = 0; s < sizeof chans / sizeof chans[0]; s++)
        for (int k = 1; k <= 3; k += 2)
            for (int st = 1; st <= 2; st++)
                for (int pad = 0; pad < 2; pad++)
                    for (int wi = 0; wi < 3; wi++) {
                        const int win = wi == 0 ? 2 : wi == 1 ? 3 : 13;
                        const int cin = chans[s][0], cout = chans[s][1], p = k / 2;
                        const cc_act act = (cc_act)((k + st + pad + (int)s) % 5);
                        layer L;
                        layer_make(&L, cin, cout, k, st, (cc_pad)pad, act);
                        const int wout = (win + 2 * p - k) / st + 1;
                        float *in = tl_weights((size_t)3 * win * cin, 2.0f);
                        float *out = malloc((size_t)wout * cout * 4);
                        for (int nullrow = -1; nullrow < k; nullrow++) {
                            const float *rows[3];
                            for (int ky = 0; ky < k; ky++)
                                rows[ky] = ky == nullrow ? NULL : in + (size_t)ky * win * cin;
                            if (pad == CC_PAD_REFLECT && nullrow >= 0)
                                continue; /* reflect rows are never NULL */
                            K->conv2d_row(&L.c, win, wout, rows, out);
                            int bad = 0;
                            for (int ox = 0; ox < wout; ox++)
                                for (int co = 0; co < cout; co++) {
                                    double acc = L.braw[co];
                                    for (int ky = 0; ky < k; ky++)
                                        for (int kx = 0; kx < k; kx++) {
                                            int ix = ox * st - p + kx;
                                            if (!rows[ky])
                                                continue;
                                            if (ix < 0 || ix >= win) {
                                                if (pad == CC_PAD_ZERO)
                                                    continue;
                                                ix = ix < 0 ? -ix : 2 * win - 2 - ix;
                                            }
                                            for (int ci = 0; ci < cin; ci++)
                                                acc += (double)rows[ky][(size_t)ix * cin + ci] *
                                                       L.wraw[(((size_t)co * k + ky) * k + kx) * cin + ci];
                                        }
                                    bad += !close_enough(out[(size_t)ox * cout + co],
                                                         nv_act(act, 0.07f, acc));
                                }
                            if (bad) {
                                fprintf(stderr,
                                        "FAIL %s conv2d_row k%d s%d %s win %d cin %d cout %d null %d: %d bad\n",
                                        K->name, k, st, pad ? "reflect" : "zero", win, cin, cout,
                                        nullrow, bad);
                                cc_test_failures++;
                            }
                        }
                        free(in);
                        free(out);
                        layer_free(&L);
                    }
}

int main(void)
{
    const cc_cpu_kernels *tables[2] = {cc_cpu_kernels_scalar(), cc_cpu_kernels_get()};
    printf("selected CPU kernels: %s\n", tables[1]->name);
    for (int i = 0; i < 2; i++) {
        if (i == 1 && tables[1]->conv1x1 == tables[0]->conv1x1 &&
            tables[1]->conv2d_row == tables[0]->conv2d_row)
            break;
        test_conv1x1(tables[i]);
        test_conv2d_row(tables[i]);
    }
    TEST_RETURN();
}
