/* clearcube: AVX-512F micro-kernels for the CPU backend (16 float lanes, 32
 * registers: blocks of up to 4 x 16 output channels x 6..24 pixels). Compiled
 * with -mavx512f -mfma; used only when the running CPU has AVX-512F
 * (cc_cpu_kernels_avx512 returns NULL otherwise). See simd-common.h. */
#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "core/reflectance.h"
#include "kernels/cpu/cpu-impl.h"

#define VEC __m512
#define VLEN 16
#define NVMAX 4
/* NV*NP accumulators + NV weights + 1 broadcast <= 32 registers */
#define NP_1 24
#define NP_2 12
#define NP_3 8
#define NP_4 6

static inline __m512 v_load(const float *p)
{
    return _mm512_loadu_ps(p);
}
static inline __m512 v_bcast(const float *p)
{
    return _mm512_set1_ps(*p);
}
static inline __m512 v_fma(__m512 a, __m512 b, __m512 c)
{
    return _mm512_fmadd_ps(a, b, c);
}
static inline __m512 v_relu(__m512 v)
{
    return _mm512_max_ps(v, _mm512_setzero_ps()); /* NaN -> 0, as v > 0 ? v : 0 */
}
static inline __m512 v_leaky(__m512 v, float alpha)
{
    const __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
    return _mm512_mask_mul_ps(v, neg, v, _mm512_set1_ps(alpha));
}
static inline void v_store_n(float *p, __m512 v, int n)
{
    if (n == VLEN)
        _mm512_storeu_ps(p, v);
    else
        _mm512_mask_storeu_ps(p, (__mmask16)((1u << n) - 1u), v);
}

#include "kernels/cpu/simd-common.h"

/* ---- DN decoding / output encoding, 16 channels per vector ----
 * The same IEEE operations as cc_refl_decode / cc_refl_encode of
 * core/reflectance.h, which cc_nn_decode_pixel / cc_nn_encode_pixel use
 * (double (DN + offset) / quantification rounded to float, float
 * (rho - mean) / std, double rho*10000 + offset, floor(q + 0.5) clamped to
 * [CC_REFL_DN_MIN, CC_REFL_DN_MAX], NaN -> 0), so the results are
 * bit-identical (this file is compiled with -ffp-contract=off). */

#define IO_CHUNKS (CC_NN_MAX_IO / 16)

/* rho of 16 DN (int32 lanes) = (float)((DN + off) / q).
 * Fast form, used only when rho_fast_ok(off, q) proved it bit-identical for
 * every DN 0..65535: ((float)DN + (float)off) / (float)q, one float division
 * instead of two double ones. */
typedef struct {
    __m512d off, q;
    __m512 offf, qf;
    int fast;
} rho_coef;

static inline __m512 dn_to_rho(__m512i d, const rho_coef *rc)
{
    if (rc->fast)
        return _mm512_div_ps(_mm512_add_ps(_mm512_cvtepi32_ps(d), rc->offf), rc->qf);
    const __m512d off = rc->off, q = rc->q;
    const __m512d lo = _mm512_div_pd(_mm512_add_pd(_mm512_cvtepi32_pd(_mm512_castsi512_si256(d)), off), q);
    const __m512d hi =
        _mm512_div_pd(_mm512_add_pd(_mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(d, 1)), off), q);
    const __m256 flo = _mm512_cvtpd_ps(lo), fhi = _mm512_cvtpd_ps(hi);
    return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(flo)),
                                               _mm256_castps_pd(fhi), 1));
}

/* Exhaustive check (once per (off, q) pair per process, cached): does the
 * float form give the bits of (float)(((double)DN + off) / q) for all DN? */
#define RHO_CACHE 8
static struct {
    double off, q;
    int ok;
} rho_cache[RHO_CACHE];
static _Atomic int rho_ncache;
static pthread_mutex_t rho_mu = PTHREAD_MUTEX_INITIALIZER;

static int rho_fast_check(double off, double q)
{
    if (!(off == (double)(int)off) || off < -8388608.0 || off > 8388608.0 || q == 0.0 ||
        (double)(float)q != q || !isfinite(q))
        return 0;
    const float of = (float)off, qf = (float)q;
    for (int dn = 0; dn < 65536; dn++) {
        volatile float a = (float)dn + of; /* no contraction, no excess precision */
        const float f = a / qf;
        const float ref = (float)(((double)dn + off) / q);
        if (memcmp(&f, &ref, sizeof f) != 0)
            return 0;
    }
    return 1;
}

static int rho_fast_ok(double off, double q)
{
    int n = atomic_load_explicit(&rho_ncache, memory_order_acquire);
    for (int i = 0; i < n; i++)
        if (rho_cache[i].off == off && rho_cache[i].q == q)
            return rho_cache[i].ok;
    pthread_mutex_lock(&rho_mu);
    n = atomic_load_explicit(&rho_ncache, memory_order_relaxed);
    int ok = -1;
    for (int i = 0; i < n; i++)
        if (rho_cache[i].off == off && rho_cache[i].q == q)
            ok = rho_cache[i].ok;
    if (ok < 0) {
        ok = rho_fast_check(off, q);
        if (n < RHO_CACHE) {
            rho_cache[n].off = off;
            rho_cache[n].q = q;
            rho_cache[n].ok = ok;
            atomic_store_explicit(&rho_ncache, n + 1, memory_order_release);
        } else {
            ok = 0; /* cache full: the double form (always exact) */
        }
    }
    pthread_mutex_unlock(&rho_mu);
    return ok;
}

static void rho_init(rho_coef *rc, const cc_nn_input_desc *d)
{
    rc->off = _mm512_set1_pd(d->dn_offset);
    rc->q = _mm512_set1_pd(d->quantification);
    rc->fast = rho_fast_ok(d->dn_offset, d->quantification);
    rc->offf = _mm512_set1_ps((float)d->dn_offset);
    rc->qf = _mm512_set1_ps((float)d->quantification);
}

static inline __mmask16 lanes(int n) /* first n (<= 16, may be <= 0) lanes */
{
    return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1u);
}

static void avx512_decode(const cc_nn_model *m, size_t npix, const uint16_t *dn, float *x)
{
    const cc_nn_input_desc *d = &m->input;
    const int nc = d->nchannels, nch = (nc + 15) / 16;
    rho_coef rc;
    rho_init(&rc, d);
    __m512 mean[IO_CHUNKS], sd[IO_CHUNKS];
    for (int k = 0; k < nch; k++) {
        float a[16] = {0}, b[16];
        for (int i = 0; i < 16; i++) {
            int c = 16 * k + i;
            a[i] = c < nc ? d->mean[c] : 0.0f;
            b[i] = c < nc ? d->std[c] : 1.0f;
        }
        mean[k] = _mm512_loadu_ps(a);
        sd[k] = _mm512_loadu_ps(b);
    }
    for (size_t p = 0; p < npix; p++) {
        uint16_t buf[CC_NN_MAX_IO];
        const uint16_t *px = dn + p * (size_t)nc;
        /* full 16-lane loads while they stay inside this call's input (lanes past
         * nc read the next pixel and are masked below); a copy for the rest */
        if (nc % 16 && p * (size_t)nc + 16 * (size_t)nch > npix * (size_t)nc) {
            memset(buf, 0, sizeof buf);
            memcpy(buf, px, (size_t)nc * sizeof *buf);
            px = buf;
        }
        float *xo = x + p * (size_t)nc;
        __m512i di[IO_CHUNKS];
        __mmask16 zero = 0;
        for (int k = 0; k < nch; k++) {
            di[k] = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(px + 16 * k)));
            zero |= _mm512_mask_cmpeq_epi32_mask(lanes(nc - 16 * k), di[k], _mm512_setzero_si512());
        }
        for (int k = 0; k < nch; k++) {
            __m512 v = _mm512_setzero_ps();
            if (!zero)
                v = _mm512_div_ps(_mm512_sub_ps(dn_to_rho(di[k], &rc), mean[k]), sd[k]);
            _mm512_mask_storeu_ps(xo + 16 * k, lanes(nc - 16 * k), v);
        }
    }
}

static void avx512_encode(const cc_nn_model *m, const cc_nn_node *o, size_t npix, const uint16_t *dn,
                          const float *x, uint16_t *out_dn, float *out_f)
{
    const cc_nn_input_desc *d = &m->input;
    const int nc = d->nchannels, nch = (nc + 15) / 16;
    const int co = o->cout, nco = (co + 15) / 16;
    rho_coef rcf;
    rho_init(&rcf, d);
    const __m512d quant = _mm512_set1_pd(CC_NN_OUT_QUANT), oofs = _mm512_set1_pd(o->out_dn_offset);
    const __m512d half = _mm512_set1_pd(0.5), one = _mm512_set1_pd(CC_REFL_DN_MIN),
                  top = _mm512_set1_pd(CC_REFL_DN_MAX);
    __m512 scale[IO_CHUNKS], shift[IO_CHUNKS];
    __mmask16 resm[IO_CHUNKS];
    int rc[CC_NN_MAX_IO];
    for (int k = 0; k < nco; k++) {
        float a[16], b[16];
        resm[k] = 0;
        for (int i = 0; i < 16; i++) {
            int c = 16 * k + i;
            a[i] = c < co && o->scale ? o->scale[c] : 1.0f;
            b[i] = c < co && o->shift ? o->shift[c] : 0.0f;
            if (c < co)
                rc[c] = o->residual_channel[c];
            if (c < co && rc[c] >= 0)
                resm[k] |= (__mmask16)(1u << i);
        }
        scale[k] = _mm512_loadu_ps(a);
        shift[k] = _mm512_loadu_ps(b);
    }
    /* residual DN gathered with one permute when every source is in the first 16 channels */
    int perm_ok = nc >= 16 && nco == 1;
    int32_t idx[16] = {0};
    for (int c = 0; c < co && c < 16; c++) {
        idx[c] = rc[c] >= 0 ? rc[c] : 0;
        perm_ok &= rc[c] < 16;
    }
    const __m512i vidx = _mm512_loadu_si512(idx);
    for (size_t p = 0; p < npix; p++) {
        const uint16_t *px = dn + p * (size_t)nc;
        __mmask16 zero = 0;
        __m512i d0 = _mm512_setzero_si512();
        for (int k = 0; k < nch; k++) {
            const int n = nc - 16 * k < 16 ? nc - 16 * k : 16;
            __m512i di;
            if (n == 16 || p * (size_t)nc + 16 * (size_t)(k + 1) <= npix * (size_t)nc) {
                /* lanes past n (the next pixel, inside this call's input) are masked */
                di = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(px + 16 * k)));
            } else {
                uint16_t buf[16] = {0};
                memcpy(buf, px + 16 * k, (size_t)n * sizeof *buf);
                di = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)buf));
            }
            if (k == 0)
                d0 = di;
            zero |= _mm512_mask_cmpeq_epi32_mask(lanes(n), di, _mm512_setzero_si512());
        }
        for (int k = 0; k < nco; k++) {
            const int n = co - 16 * k < 16 ? co - 16 * k : 16;
            const __mmask16 lm = lanes(n);
            __m512 v = _mm512_maskz_loadu_ps(lm, x + p * (size_t)co + 16 * k);
            if (o->scale)
                v = _mm512_mul_ps(v, scale[k]);
            if (o->shift)
                v = _mm512_add_ps(v, shift[k]);
            if (resm[k]) {
                __m512i rd;
                if (perm_ok) {
                    rd = _mm512_permutexvar_epi32(vidx, d0);
                } else {
                    int32_t r[16] = {0};
                    for (int i = 0; i < n; i++)
                        r[i] = rc[16 * k + i] >= 0 ? px[rc[16 * k + i]] : 0;
                    rd = _mm512_loadu_si512(r);
                }
                v = _mm512_mask_add_ps(v, resm[k], v, dn_to_rho(rd, &rcf));
            }
            if (out_f) {
                if (zero)
                    v = _mm512_set1_ps(NAN);
                /* full-width store when the 16 lanes stay inside this call's output
                 * (lanes past cout land on the next pixel, rewritten right after) */
                if ((p * (size_t)co + 16 * (size_t)k) + 16 <= npix * (size_t)co)
                    _mm512_storeu_ps(out_f + p * (size_t)co + 16 * k, v);
                else
                    _mm512_mask_storeu_ps(out_f + p * (size_t)co + 16 * k, lm, v);
                continue;
            }
            __m512d h[2] = {_mm512_cvtps_pd(_mm512_castps512_ps256(v)),
                            _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)))};
            __m256i w[2];
            for (int j = 0; j < 2; j++) {
                const __m512d qq = _mm512_add_pd(_mm512_mul_pd(h[j], quant), oofs);
                const __mmask8 nan = _mm512_cmp_pd_mask(qq, qq, _CMP_UNORD_Q);
                __m512d rr = _mm512_roundscale_pd(_mm512_add_pd(qq, half),
                                                  _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
                rr = _mm512_min_pd(_mm512_max_pd(rr, one), top);
                rr = _mm512_mask_mov_pd(rr, nan, _mm512_setzero_pd());
                w[j] = _mm512_cvttpd_epi32(rr);
            }
            __m512i wi = _mm512_inserti64x4(_mm512_castsi256_si512(w[0]), w[1], 1);
            if (zero)
                wi = _mm512_setzero_si512();
            if ((p * (size_t)co + 16 * (size_t)k) + 16 <= npix * (size_t)co) /* see above */
                _mm256_storeu_si256((__m256i *)(out_dn + p * (size_t)co + 16 * k),
                                    _mm512_cvtepi32_epi16(wi));
            else
                _mm512_mask_cvtepi32_storeu_epi16(out_dn + p * (size_t)co + 16 * k, lm, wi);
        }
    }
}

static const cc_cpu_kernels avx512_kernels = {
    .name = "avx512",
    .conv1x1 = sc_conv1x1,
    .conv2d_row = sc_conv2d_row,
    .conv_taps = sc_conv_taps,
    .decode = avx512_decode,
    .encode = avx512_encode,
};

const cc_cpu_kernels *cc_cpu_kernels_avx512(void)
{
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("fma"))
        return NULL;
    return &avx512_kernels;
}
