/* clearcube: the CPU backend (issue 3). Executes the shared plan group by group
 * with OpenMP; the hot loops (1x1 conv over a pixel tile, one row of a k x k
 * conv) go through the cc_cpu_kernels table (portable kernels here, SIMD ones
 * from kernels/cpu/simd*.c when available). See kernels/backend-impl.h and
 * kernels/cpu/cpu-impl.h.
 *
 * Threading: every parallel loop has a fixed decomposition that does not
 * depend on the thread count (pixel tiles of CPU_TILE pixels from pixel 0,
 * output rows), and each output element is computed by one thread in one
 * fixed order, so results are bit-identical for any number of threads. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"
#include "kernels/backend-impl.h"
#include "kernels/cpu/cpu-impl.h"

#define CPU_TILE 64 /* pixels per tile of a fused per-pixel group */

/* ---- portable kernels ----
 * Register blocking: PB pixels x CB output channels of accumulators, updated
 * with one weight row segment per input channel (the compiler vectorises the
 * CB loop). Tails reuse the same code on a duplicated pixel, so every output
 * element is always bias + sum over (tap, ci) in the same order. */

#define PB 4
#define CB 8

static const float zero_px[CC_NN_MAX_CHANNELS];

static void scalar_conv_taps(const cc_cpu_conv *c, size_t npix, int ntap, const float *const *xs,
                             const float *const *ws, float *y)
{
    const int cin = c->cin, cout = c->cout, ldw = c->ldw;
    for (size_t p = 0; p < npix; p += PB) {
        const int nb = npix - p < PB ? (int)(npix - p) : PB;
        size_t off[PB];
        for (int j = 0; j < PB; j++)
            off[j] = (p + (size_t)(j < nb ? j : nb - 1)) * (size_t)cin;
        for (int cb = 0; cb < ldw; cb += CB) {
            float acc[PB][CB];
            for (int j = 0; j < PB; j++)
                for (int u = 0; u < CB; u++)
                    acc[j][u] = c->bias[cb + u];
            for (int t = 0; t < ntap; t++) {
                const float *wr = ws[t] + cb;
                for (int ci = 0; ci < cin; ci++, wr += ldw)
                    for (int j = 0; j < PB; j++) {
                        const float xv = xs[t][off[j] + (size_t)ci];
                        for (int u = 0; u < CB; u++)
                            acc[j][u] += xv * wr[u];
                    }
            }
            const int nu = cout - cb < CB ? cout - cb : CB;
            for (int j = 0; j < nb; j++) {
                float *yo = y + (p + (size_t)j) * (size_t)cout + cb;
                for (int u = 0; u < nu; u++)
                    yo[u] = cc_nn_act_apply(c->act, c->alpha, acc[j][u]);
            }
        }
    }
}

static void scalar_conv1x1(const cc_cpu_conv *c, size_t npix, const float *x, float *y)
{
    const float *xs[1] = {x};
    const float *ws[1] = {c->w};
    scalar_conv_taps(c, npix, 1, xs, ws, y);
}

/* Column ix of a row under the padding mode (zero padding: a zero pixel). */
static inline const float *row_px(const float *row, int ix, int win, int cin, cc_pad pad)
{
    if (!row)
        return zero_px;
    if (ix < 0 || ix >= win) {
        if (pad == CC_PAD_ZERO)
            return zero_px;
        ix = ix < 0 ? -ix : 2 * win - 2 - ix;
    }
    return row + (size_t)ix * (size_t)cin;
}

static void scalar_conv2d_row(const cc_cpu_conv *c, int win, int wout, const float *const *rows,
                              float *out)
{
    const int cin = c->cin, cout = c->cout, ldw = c->ldw, k = c->k, s = c->stride;
    const int pad = k / 2;
    for (int ox0 = 0; ox0 < wout; ox0 += PB) {
        const int nb = wout - ox0 < PB ? wout - ox0 : PB;
        for (int cb = 0; cb < ldw; cb += CB) {
            float acc[PB][CB];
            for (int j = 0; j < PB; j++)
                for (int u = 0; u < CB; u++)
                    acc[j][u] = c->bias[cb + u];
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++) {
                    const float *xp[PB];
                    for (int j = 0; j < PB; j++)
                        xp[j] = row_px(rows[ky], (ox0 + (j < nb ? j : nb - 1)) * s - pad + kx, win,
                                       cin, c->pad);
                    const float *wr = c->w + (size_t)(ky * k + kx) * (size_t)cin * (size_t)ldw + cb;
                    for (int ci = 0; ci < cin; ci++, wr += ldw)
                        for (int j = 0; j < PB; j++) {
                            const float xv = xp[j][ci];
                            for (int u = 0; u < CB; u++)
                                acc[j][u] += xv * wr[u];
                        }
                }
            const int nu = cout - cb < CB ? cout - cb : CB;
            for (int j = 0; j < nb; j++) {
                float *o = out + (size_t)(ox0 + j) * (size_t)cout + cb;
                for (int u = 0; u < nu; u++)
                    o[u] = cc_nn_act_apply(c->act, c->alpha, acc[j][u]);
            }
        }
    }
}

static const cc_cpu_kernels scalar_kernels = {
    .name = "scalar",
    .conv1x1 = scalar_conv1x1,
    .conv2d_row = scalar_conv2d_row,
    .conv_taps = scalar_conv_taps,
};

const cc_cpu_kernels *cc_cpu_kernels_scalar(void)
{
    return &scalar_kernels;
}

static cc_cpu_kernels selected_kernels;
static pthread_once_t select_once = PTHREAD_ONCE_INIT;

static void select_kernels(void)
{
    const char *force = getenv("CLEARCUBE_SIMD");
    const cc_cpu_kernels *k = NULL;
    int want = 2; /* 2 avx512, 1 avx2, 0 scalar */
    if (force && *force) {
        if (strcmp(force, "scalar") == 0)
            want = 0;
        else if (strcmp(force, "avx2") == 0)
            want = 1;
        else if (strcmp(force, "avx512") != 0)
            cc_warn("CLEARCUBE_SIMD=%s unknown (avx512, avx2, scalar): using the best level",
                    force);
    }
#ifdef CC_CPU_HAVE_AVX512
    if (!k && want >= 2)
        k = cc_cpu_kernels_avx512();
#endif
#ifdef CC_CPU_HAVE_AVX2
    if (!k && want >= 1)
        k = cc_cpu_kernels_avx2();
#endif
    if (!k)
        k = &scalar_kernels;
    if (force && *force && strcmp(force, k->name) != 0 &&
        (want == 2 ? strcmp(force, "avx512") == 0 : want == 1))
        cc_warn("CLEARCUBE_SIMD=%s not available on this CPU/build: using %s", force, k->name);
    selected_kernels = *k;
    if (!selected_kernels.conv1x1)
        selected_kernels.conv1x1 = scalar_kernels.conv1x1;
    if (!selected_kernels.conv2d_row)
        selected_kernels.conv2d_row = scalar_kernels.conv2d_row;
    if (!selected_kernels.conv_taps)
        selected_kernels.conv_taps = scalar_kernels.conv_taps;
}

const cc_cpu_kernels *cc_cpu_kernels_get(void)
{
    pthread_once(&select_once, select_kernels);
    return &selected_kernels;
}

/* ---- run context ---- */

typedef struct {
    const cc_nn_model *m;
    const cc_nn_plan *p;
    const cc_cpu_kernels *k;
    cc_cpu_conv *conv;  /* [nnodes]: packed conv2d layers (w == NULL elsewhere) */
    float **slot;       /* [nslots] */
    const uint16_t *dn;
    void *out;
    int out_float;
    int nthreads;
} run_ctx;

static int max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static int thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

static float *aligned_floats(size_t n)
{
    size_t bytes = n * sizeof(float);
    if (n == 0 || bytes / sizeof(float) != n || bytes > SIZE_MAX - CC_CPU_ALIGN) {
        cc_error_set(CC_ERR_NOMEM, "nn cpu: buffer of %zu floats too large", n);
        return NULL;
    }
    bytes = (bytes + CC_CPU_ALIGN - 1) / CC_CPU_ALIGN * CC_CPU_ALIGN;
    float *p = aligned_alloc(CC_CPU_ALIGN, bytes);
    if (!p)
        cc_error_set(CC_ERR_NOMEM, "nn cpu: out of memory (%zu bytes)", bytes);
    return p;
}

static cc_status pack_conv(const cc_nn_model *m, int i, cc_cpu_conv *c)
{
    const cc_nn_node *n = &m->nodes[i];
    const int cin = m->nodes[n->inputs[0]].cout, cout = n->cout, k = n->kernel;
    const int ntap = n->op == CC_OP_CONV1D_TIME ? k : k * k;
    const int ldw = (cout + CC_CPU_COUT_PAD - 1) / CC_CPU_COUT_PAD * CC_CPU_COUT_PAD;
    float *w = aligned_floats((size_t)ntap * (size_t)cin * (size_t)ldw);
    float *b = aligned_floats((size_t)ldw);
    if (!w || !b) {
        free(w);
        free(b);
        return CC_ERR_NOMEM;
    }
    memset(w, 0, (size_t)ntap * (size_t)cin * (size_t)ldw * sizeof(float));
    memset(b, 0, (size_t)ldw * sizeof(float));
    for (int co = 0; co < cout; co++) {
        for (int t = 0; t < ntap; t++)
            for (int ci = 0; ci < cin; ci++)
                w[((size_t)t * (size_t)cin + (size_t)ci) * (size_t)ldw + (size_t)co] =
                    n->weight[((size_t)co * (size_t)ntap + (size_t)t) * (size_t)cin + (size_t)ci];
        if (n->bias)
            b[co] = n->bias[co];
    }
    c->cin = cin;
    c->cout = cout;
    c->ldw = ldw;
    c->k = k;
    c->stride = n->stride;
    c->pad = n->pad;
    c->act = n->act;
    c->alpha = n->alpha;
    c->w = w;
    c->bias = b;
    return CC_OK;
}

static float *node_tensor(const run_ctx *r, int node)
{
    int s = r->p->node_slot[node];
    CC_ASSERT(s >= 0);
    return r->slot[s];
}

/* Per-pixel ops applied in place to np pixels of c channels. */
static void apply_affine(const cc_nn_node *n, size_t np, int c, float *x)
{
    for (size_t p = 0; p < np; p++)
        for (int k = 0; k < c; k++) {
            float v = x[p * (size_t)c + (size_t)k];
            if (n->scale)
                v *= n->scale[k];
            if (n->shift)
                v += n->shift[k];
            x[p * (size_t)c + (size_t)k] = cc_nn_act_apply(n->act, n->alpha, v);
        }
}

static void apply_act(const cc_nn_node *n, size_t np, int c, float *x)
{
    size_t e = np * (size_t)c;
    for (size_t i = 0; i < e; i++)
        x[i] = cc_nn_act_apply(n->act, n->alpha, x[i]);
}

/* ---- group: per-pixel chain ---- */

static int group_max_channels(const cc_nn_model *m, const cc_nn_group *g)
{
    int c = 0;
    for (int k = 0; k < g->nnodes; k++) {
        const cc_nn_node *n = &m->nodes[g->node[k]];
        if (n->cout > c)
            c = n->cout;
        if (n->ninputs && m->nodes[n->inputs[0]].cout > c)
            c = m->nodes[n->inputs[0]].cout;
    }
    return c;
}

/* One tile of np pixels (global pixel index p0) through the per-pixel chain g:
 * src: the tile's input activations (NULL when g reads DN); bufs: two per-thread
 * buffers of CPU_TILE x group_max_channels floats; dst: where the tile's result
 * goes (np x result channels; NULL when g writes the caller's output). */
static void pixel_tile(const run_ctx *r, const cc_nn_group *g, size_t p0, size_t np,
                       const float *src, float *const bufs[2], float *dst)
{
    const cc_nn_model *m = r->m;
    const int nin = m->input.nchannels;
    const float *cur; /* current activations: np x cc */
    int cc, nb = 0;   /* nb: index of the next free scratch buffer */
    int k0 = 0;
    if (g->reads_dn) {
        if (r->k->decode) /* optional SIMD entry, same bits */
            r->k->decode(m, np, r->dn + p0 * (size_t)nin, bufs[0]);
        else
            for (size_t q = 0; q < np; q++)
                cc_nn_decode_pixel(m, r->dn + (p0 + q) * (size_t)nin, bufs[0] + q * (size_t)nin);
        cur = bufs[0];
        nb = 1;
        cc = nin;
        k0 = 1;
    } else {
        cur = src;
        cc = m->nodes[g->inputs[0]].cout;
    }
    for (int k = k0; k < g->nnodes; k++) {
        const int ni = g->node[k];
        const cc_nn_node *n = &m->nodes[ni];
        const int is_last = k == g->nnodes - 1;
        if (n->op == CC_OP_OUTPUT) {
            const uint16_t *dpx = r->dn + p0 * (size_t)nin;
            if (r->k->encode) { /* optional SIMD entry, same bits */
                const size_t o = p0 * (size_t)n->cout;
                r->k->encode(m, n, np, dpx, cur, r->out_float ? NULL : (uint16_t *)r->out + o,
                             r->out_float ? (float *)r->out + o : NULL);
                break;
            }
            for (size_t q = 0; q < np; q++) {
                size_t o = (p0 + q) * (size_t)n->cout;
                cc_nn_encode_pixel(m, n, dpx + q * (size_t)nin, cur + q * (size_t)cc,
                                   r->out_float ? NULL : (uint16_t *)r->out + o,
                                   r->out_float ? (float *)r->out + o : NULL);
            }
            break;
        }
        float *y = is_last ? dst : bufs[nb];
        if (n->op == CC_OP_CONV2D) {
            r->k->conv1x1(&r->conv[ni], np, cur, y);
        } else {
            if (y != cur)
                memcpy(y, cur, np * (size_t)cc * sizeof(float));
            if (n->op == CC_OP_AFFINE)
                apply_affine(n, np, cc, y);
            else
                apply_act(n, np, cc, y);
        }
        if (!is_last) {
            cur = y;
            nb ^= 1;
        }
        cc = n->cout;
    }
    if (!g->writes_out && g->nnodes == 1 && g->reads_dn) /* lone INPUT: decode to tensor */
        memcpy(dst, bufs[0], np * (size_t)nin * sizeof(float));
}

static cc_status run_pixel_group(run_ctx *r, const cc_nn_group *g)
{
    const cc_nn_model *m = r->m;
    const cc_nn_plan *p = r->p;
    const int first = g->node[0];
    const size_t npix = (size_t)p->shape[first][0] * (size_t)p->shape[first][1] *
                        (size_t)p->shape[first][2];
    const int maxc = group_max_channels(m, g);
    const size_t per_thread = 2 * (size_t)CPU_TILE * (size_t)maxc;
    float *scratch = aligned_floats(per_thread * (size_t)r->nthreads);
    if (!scratch)
        return CC_ERR_NOMEM;
    const float *src = g->reads_dn ? NULL : node_tensor(r, g->inputs[0]);
    const int src_c = g->reads_dn ? m->input.nchannels : m->nodes[g->inputs[0]].cout;
    float *dst = g->writes_out ? NULL : node_tensor(r, g->result);
    const size_t dst_c = g->writes_out ? 0 : (size_t)m->nodes[g->result].cout;
    const long ntiles = (long)((npix + CPU_TILE - 1) / CPU_TILE);

#pragma omp parallel for schedule(static) num_threads(r->nthreads)
    for (long tile = 0; tile < ntiles; tile++) {
        const size_t p0 = (size_t)tile * CPU_TILE;
        const size_t np = npix - p0 < CPU_TILE ? npix - p0 : CPU_TILE;
        float *bufs[2];
        bufs[0] = scratch + per_thread * (size_t)thread_id();
        bufs[1] = bufs[0] + (size_t)CPU_TILE * (size_t)maxc;
        pixel_tile(r, g, p0, np, src ? src + p0 * (size_t)src_c : NULL, bufs,
                   dst ? dst + p0 * (size_t)dst_c : NULL);
    }
    free(scratch);
    return CC_OK;
}

/* y[i] = act(y[i] + b[i]) (the ADD node n, fused or not): the switch is hoisted
 * out of the loop so that the loop vectorises. Same value as
 * cc_nn_act_apply(act, alpha, a + b) (float + is commutative). */
static void add_act(const cc_nn_node *n, const float *a, const float *b, float *y, size_t e)
{
    switch (n->act) {
    case CC_ACT_NONE:
        for (size_t i = 0; i < e; i++)
            y[i] = a[i] + b[i];
        break;
    case CC_ACT_RELU:
        for (size_t i = 0; i < e; i++) {
            const float v = a[i] + b[i];
            y[i] = v > 0.0f ? v : 0.0f;
        }
        break;
    default:
        for (size_t i = 0; i < e; i++)
            y[i] = cc_nn_act_apply(n->act, n->alpha, a[i] + b[i]);
        break;
    }
}

/* ---- group: spatial conv (+ DN decode head, + affine/act tail) ----
 * CPU-internal fusion (the plan is unchanged): the conv group may be followed,
 * row by row, by an ADD group (epilogue: y = act(conv + other), other read
 * from its tensor) and then by a per-pixel group reading that result (1x1
 * chain, possibly writing the output), when the skipped intermediate tensors
 * have no other consumer. Each element is computed with the same operations
 * in the same order as the unfused groups, so results are bit-identical. */

typedef struct {
    const cc_nn_group *add;   /* fused ADD group, or NULL                       */
    int add_other;            /* the ADD's other input node                     */
    const cc_nn_group *pix;   /* fused per-pixel group, or NULL                 */
} conv_epilogue;

static cc_status run_conv_group(run_ctx *r, const cc_nn_group *g, const conv_epilogue *ep)
{
    const cc_nn_model *m = r->m;
    const cc_nn_plan *p = r->p;
    const int ci_node = g->node[g->reads_dn ? 1 : 0];
    const cc_cpu_conv *c = &r->conv[ci_node];
    const int *is = p->shape[g->reads_dn ? g->node[0] : g->inputs[0]];
    const int *os = p->shape[ci_node];
    const int T = is[0], H = is[1], W = is[2], cin = is[3];
    const int Ho = os[1], Wo = os[2], cout = os[3];
    const int k = c->k, pad = k / 2;
    const int tail0 = g->reads_dn ? 2 : 1;
    /* where the row goes: the last materialised tensor of the fused chain */
    const cc_nn_group *last = ep->pix ? ep->pix : ep->add ? ep->add : g;
    float *dst = ep->pix ? NULL : node_tensor(r, last->result);
    float *pdst = ep->pix && !ep->pix->writes_out ? node_tensor(r, ep->pix->result) : NULL;
    const size_t pdst_c = pdst ? (size_t)m->nodes[ep->pix->result].cout : 0;
    const float *other = ep->add ? node_tensor(r, ep->add_other) : NULL;
    const float *src = g->reads_dn ? NULL : node_tensor(r, g->inputs[0]);
    const size_t row_floats = (size_t)W * (size_t)cin;
    const size_t orow_floats = (size_t)Wo * (size_t)cout;
    /* per thread: k decoded DN rows (with their row tags), the fused row, two pixel tiles */
    const size_t dec_floats = g->reads_dn ? row_floats * (size_t)k : 0;
    const size_t rowbuf_floats = ep->pix ? orow_floats : 0;
    const int maxc = ep->pix ? group_max_channels(m, ep->pix) : 0;
    const size_t tile_floats = (size_t)CPU_TILE * (size_t)maxc;
    const size_t per_thread = dec_floats + rowbuf_floats + 2 * tile_floats;
    float *scratch = NULL;
    if (per_thread) {
        scratch = aligned_floats((per_thread + 16) * (size_t)r->nthreads);
        if (!scratch)
            return CC_ERR_NOMEM;
    }
    const long nrows = (long)T * Ho;

#pragma omp parallel num_threads(r->nthreads)
    {
        float *mine = scratch ? scratch + (per_thread + 16) * (size_t)thread_id() : NULL;
        float *dec = mine;
        float *rowbuf = mine ? mine + dec_floats : NULL;
        float *bufs[2] = {rowbuf ? rowbuf + rowbuf_floats : NULL,
                          rowbuf ? rowbuf + rowbuf_floats + tile_floats : NULL};
        /* decoded-row cache: slot j holds input row tag[j] (t*H + iy), -1 = empty.
         * Consecutive output rows of one thread share 2 of their 3 input rows. */
        long tag[3] = {-1, -1, -1};

#pragma omp for schedule(static)
        for (long row = 0; row < nrows; row++) {
            const int t = (int)(row / Ho), oy = (int)(row % Ho);
            const float *rows[3] = {NULL, NULL, NULL};
            for (int ky = 0; ky < k; ky++) {
                int iy = oy * c->stride - pad + ky;
                if (iy < 0 || iy >= H) {
                    if (c->pad == CC_PAD_ZERO)
                        continue;
                    iy = iy < 0 ? -iy : 2 * H - 2 - iy;
                }
                const long rid = (long)t * H + iy;
                const size_t off = (size_t)rid * row_floats;
                if (g->reads_dn) {
                    int j = 0;
                    while (j < k && tag[j] != rid)
                        j++;
                    if (j == k) { /* not cached: evict a row this output row does not use */
                        for (j = 0; j < k; j++) {
                            int used = 0;
                            for (int kk = 0; kk < k; kk++) {
                                int jy = oy * c->stride - pad + kk;
                                if (jy < 0 || jy >= H) {
                                    if (c->pad == CC_PAD_ZERO)
                                        continue;
                                    jy = jy < 0 ? -jy : 2 * H - 2 - jy;
                                }
                                used |= tag[j] == (long)t * H + jy;
                            }
                            if (!used)
                                break;
                        }
                        CC_ASSERT(j < k);
                        float *buf = dec + row_floats * (size_t)j;
                        const uint16_t *d = r->dn + off;
                        if (r->k->decode) /* optional SIMD entry, same bits */
                            r->k->decode(m, (size_t)W, d, buf);
                        else
                            for (int x = 0; x < W; x++)
                                cc_nn_decode_pixel(m, d + (size_t)x * (size_t)cin,
                                                   buf + (size_t)x * (size_t)cin);
                        tag[j] = rid;
                    }
                    rows[ky] = dec + row_floats * (size_t)j;
                } else {
                    rows[ky] = src + off;
                }
            }
            const size_t orow = (size_t)row * orow_floats;
            float *o = ep->pix ? rowbuf : dst + orow;
            r->k->conv2d_row(c, W, Wo, rows, o);
            for (int kk = tail0; kk < g->nnodes; kk++) {
                const cc_nn_node *n = &m->nodes[g->node[kk]];
                if (n->op == CC_OP_AFFINE)
                    apply_affine(n, (size_t)Wo, cout, o);
                else
                    apply_act(n, (size_t)Wo, cout, o);
            }
            if (ep->add)
                add_act(&m->nodes[ep->add->node[0]], o, other + orow, o, orow_floats);
            if (ep->pix) {
                const size_t p0 = (size_t)row * (size_t)Wo;
                for (int x0 = 0; x0 < Wo; x0 += CPU_TILE) {
                    const size_t np = Wo - x0 < CPU_TILE ? (size_t)(Wo - x0) : CPU_TILE;
                    pixel_tile(r, ep->pix, p0 + (size_t)x0, np, o + (size_t)x0 * (size_t)cout,
                               bufs, pdst ? pdst + (p0 + (size_t)x0) * pdst_c : NULL);
                }
            }
        }
    }
    free(scratch);
    return CC_OK;
}

/* ---- group: single ops ---- */

static void run_add(const run_ctx *r, const cc_nn_node *n, const float *a, const float *b,
                    float *y, size_t e)
{
    const size_t chunk = 4096; /* fixed decomposition: thread-count independent */
    const long nchunks = (long)((e + chunk - 1) / chunk);
#pragma omp parallel for schedule(static) num_threads(r->nthreads)
    for (long ci = 0; ci < nchunks; ci++) {
        const size_t i0 = (size_t)ci * chunk, ne = e - i0 < chunk ? e - i0 : chunk;
        add_act(n, a + i0, b + i0, y + i0, ne);
    }
}

static void run_concat(const run_ctx *r, const cc_nn_node *n, const float *const *in,
                       const int *cins, size_t npix, float *y)
{
    const int cout = n->cout;
#pragma omp parallel for schedule(static) num_threads(r->nthreads)
    for (size_t p = 0; p < npix; p++) {
        float *o = y + p * (size_t)cout;
        for (int k = 0; k < n->ninputs; k++) {
            memcpy(o, in[k] + p * (size_t)cins[k], (size_t)cins[k] * sizeof(float));
            o += cins[k];
        }
    }
}

static void run_pool(const run_ctx *r, const cc_nn_node *n, const int *is, const float *x,
                     float *y)
{
    const int T = is[0], H = is[1], W = is[2], C = is[3], Ho = H / 2, Wo = W / 2;
    const int is_max = n->op == CC_OP_MAXPOOL2;
    const long nrows = (long)T * Ho;
#pragma omp parallel for schedule(static) num_threads(r->nthreads)
    for (long row = 0; row < nrows; row++) {
        const int t = (int)(row / Ho), oy = (int)(row % Ho);
        const float *r0 = x + ((size_t)t * (size_t)H + 2 * (size_t)oy) * (size_t)W * (size_t)C;
        const float *r1 = r0 + (size_t)W * (size_t)C;
        float *o = y + (size_t)row * (size_t)Wo * (size_t)C;
        for (int ox = 0; ox < Wo; ox++)
            for (int c = 0; c < C; c++) {
                const size_t i0 = (2 * (size_t)ox) * (size_t)C + (size_t)c, i1 = i0 + (size_t)C;
                const float a = r0[i0], b = r0[i1], d = r1[i0], e = r1[i1];
                float v;
                if (is_max) {
                    v = a;
                    if (b > v || isnan(b))
                        v = b;
                    if (d > v || isnan(d))
                        v = d;
                    if (e > v || isnan(e))
                        v = e;
                    if (isnan(a))
                        v = a;
                } else {
                    v = (((a + b) + d) + e) / 4.0f;
                }
                o[(size_t)ox * (size_t)C + (size_t)c] = v;
            }
    }
}

/* PyTorch area_pixel_compute_source_index, align_corners=False, scale 1/2. */
static void bilinear_index(int dst, int in_size, int *i0, int *i1, float *l0, float *l1)
{
    float src = 0.5f * ((float)dst + 0.5f) - 0.5f;
    if (src < 0.0f)
        src = 0.0f;
    int a = (int)src;
    *i0 = a;
    *i1 = a + (a < in_size - 1 ? 1 : 0);
    *l1 = src - (float)a;
    *l0 = 1.0f - *l1;
}

static void run_upsample(const run_ctx *r, const cc_nn_node *n, const int *is, const float *x,
                         float *y)
{
    const int T = is[0], H = is[1], W = is[2], C = is[3], Ho = 2 * H, Wo = 2 * W;
    const int bil = n->op == CC_OP_UPSAMPLE2_BILINEAR;
    const long nrows = (long)T * Ho;
#pragma omp parallel for schedule(static) num_threads(r->nthreads)
    for (long row = 0; row < nrows; row++) {
        const int t = (int)(row / Ho), oy = (int)(row % Ho);
        const float *base = x + (size_t)t * (size_t)H * (size_t)W * (size_t)C;
        float *o = y + (size_t)row * (size_t)Wo * (size_t)C;
        if (!bil) {
            const float *ir = base + (size_t)(oy / 2) * (size_t)W * (size_t)C;
            for (int ox = 0; ox < Wo; ox++)
                memcpy(o + (size_t)ox * (size_t)C, ir + (size_t)(ox / 2) * (size_t)C,
                       (size_t)C * sizeof(float));
            continue;
        }
        int y0, y1, x0, x1;
        float ly0, ly1, lx0, lx1;
        bilinear_index(oy, H, &y0, &y1, &ly0, &ly1);
        const float *ra = base + (size_t)y0 * (size_t)W * (size_t)C;
        const float *rb = base + (size_t)y1 * (size_t)W * (size_t)C;
        for (int ox = 0; ox < Wo; ox++) {
            bilinear_index(ox, W, &x0, &x1, &lx0, &lx1);
            const float *a0 = ra + (size_t)x0 * (size_t)C, *a1 = ra + (size_t)x1 * (size_t)C;
            const float *b0 = rb + (size_t)x0 * (size_t)C, *b1 = rb + (size_t)x1 * (size_t)C;
            float *op = o + (size_t)ox * (size_t)C;
            for (int c = 0; c < C; c++)
                op[c] = ly0 * (lx0 * a0[c] + lx1 * a1[c]) + ly1 * (lx0 * b0[c] + lx1 * b1[c]);
        }
    }
}

static cc_status run_single_group(run_ctx *r, const cc_nn_group *g)
{
    const cc_nn_model *m = r->m;
    const int ni = g->node[0];
    const cc_nn_node *n = &m->nodes[ni];
    const int *is = r->p->shape[g->inputs[0]];
    const float *x = node_tensor(r, g->inputs[0]);
    float *y = node_tensor(r, g->result);
    switch (n->op) {
    case CC_OP_ADD:
        run_add(r, n, x, node_tensor(r, g->inputs[1]), y, cc_nn_plan_numel(r->p, ni));
        return CC_OK;
    case CC_OP_CONCAT: {
        const float *in[CC_NN_MAX_INPUTS];
        int cins[CC_NN_MAX_INPUTS];
        for (int k = 0; k < n->ninputs; k++) {
            in[k] = node_tensor(r, g->inputs[k]);
            cins[k] = m->nodes[g->inputs[k]].cout;
        }
        run_concat(r, n, in, cins, (size_t)is[0] * (size_t)is[1] * (size_t)is[2], y);
        return CC_OK;
    }
    case CC_OP_AVGPOOL2:
    case CC_OP_MAXPOOL2: run_pool(r, n, is, x, y); return CC_OK;
    case CC_OP_UPSAMPLE2_NEAREST:
    case CC_OP_UPSAMPLE2_BILINEAR: run_upsample(r, n, is, x, y); return CC_OK;
    default:
        return cc_error_set(CC_ERR_INTERNAL, "nn cpu: node '%s' (%s) in a single group", n->name,
                            cc_op_name(n->op));
    }
}

/* ---- group: CC_OP_CONV1D_TIME (+ the per-pixel groups around it) ----
 * CPU-internal fusion (the plan is unchanged): a per-pixel group producing the
 * conv's input (pre) and one consuming its result (post) run with it tile by
 * tile: for CPU_TILE spatial pixels, pre on the T days of the tile, then the
 * temporal conv (conv_taps over the valid time offsets) and post day by day,
 * all in per-thread buffers (no T x H x W tensors, one parallel region). Every
 * element is computed with the same operations in the same order as the
 * unfused groups (whatever the tile, the batch or the thread), so results are
 * bit-identical to them. When there are fewer tiles than threads, the groups
 * run unfused (same bits) so that small windows with long T still use every
 * thread. */

typedef struct {
    const cc_nn_group *pre;  /* fused per-pixel group producing the conv input, or NULL */
    const cc_nn_group *post; /* fused per-pixel group reading the conv result, or NULL  */
} time_chain;

/* The conv_taps call of output day t of conv node ni for np pixels: day ts of
 * the input at xin + ts*tstride (pixel stride cin). */
static void time_conv_day(const run_ctx *r, int ni, int T, int t, const float *xin, size_t tstride,
                          size_t np, float *y)
{
    const cc_cpu_conv *c = &r->conv[ni];
    const int kt = c->k, left = (kt - 1) / 2;
    const size_t tap_w = (size_t)c->cin * (size_t)c->ldw;
    const float *xs[CC_CPU_MAX_TAPS];
    const float *ws[CC_CPU_MAX_TAPS];
    int nt = 0;
    for (int j = 0; j < kt; j++) {
        const int ts = t + j - left;
        if (ts < 0 || ts >= T)
            continue;
        xs[nt] = xin + (size_t)ts * tstride;
        ws[nt] = c->w + (size_t)j * tap_w;
        nt++;
    }
    r->k->conv_taps(c, np, nt, xs, ws, y); /* nt >= 1: tap j = left is ts = t */
}

static cc_status run_time_group(run_ctx *r, const cc_nn_group *g, const time_chain *tc)
{
    const cc_nn_model *m = r->m;
    const cc_nn_plan *p = r->p;
    const int ni = g->node[0];
    const int *is = p->shape[g->inputs[0]];
    const int T = is[0], cin = is[3], cout = m->nodes[ni].cout;
    const size_t hw = (size_t)is[1] * (size_t)is[2];
    const long ntiles = (long)((hw + CPU_TILE - 1) / CPU_TILE);
    const cc_nn_group *pre = tc->pre, *post = tc->post;
    if (ntiles < r->nthreads && (pre || post)) { /* unfused: parallel over days too */
        cc_status st = CC_OK;
        if (pre)
            st = run_pixel_group(r, pre);
        if (st == CC_OK) {
            const time_chain none = {NULL, NULL};
            st = run_time_group(r, g, &none);
        }
        if (st == CC_OK && post)
            st = run_pixel_group(r, post);
        return st;
    }
    /* per thread: the conv input of the tile's T days (pre), one day of conv
     * output (post), two pixel tiles for pre/post */
    const size_t xin_floats = pre ? (size_t)T * CPU_TILE * (size_t)cin : 0;
    const size_t y_floats = post ? (size_t)CPU_TILE * (size_t)cout : 0;
    int maxc = 0;
    if (pre)
        maxc = group_max_channels(m, pre);
    if (post && group_max_channels(m, post) > maxc)
        maxc = group_max_channels(m, post);
    const size_t tile_floats = (size_t)CPU_TILE * (size_t)maxc;
    const size_t per_thread = (xin_floats + y_floats + 2 * tile_floats + 15) / 16 * 16;
    float *scratch = NULL;
    if (per_thread) {
        scratch = aligned_floats(per_thread * (size_t)r->nthreads);
        if (!scratch)
            return CC_ERR_NOMEM;
    }
    const float *x = pre ? NULL : node_tensor(r, g->inputs[0]);
    const float *pre_src = pre && !pre->reads_dn ? node_tensor(r, pre->inputs[0]) : NULL;
    const size_t pre_src_c = pre_src ? (size_t)m->nodes[pre->inputs[0]].cout : 0;
    float *y = post ? NULL : node_tensor(r, g->result);
    float *pdst = post && !post->writes_out ? node_tensor(r, post->result) : NULL;
    const size_t pdst_c = pdst ? (size_t)m->nodes[post->result].cout : 0;
    /* tile-major when fused (everything of a tile stays in cache), else one
     * work item per (day, tile) */
    const long nitems = pre || post ? ntiles : (long)T * ntiles;

    /* dynamic: a thread slowed down by other load does not hold the others at
     * the barrier; an item's result does not depend on the thread running it */
#pragma omp parallel for schedule(dynamic, 4) num_threads(r->nthreads)
    for (long it = 0; it < nitems; it++) {
        float *mine = scratch ? scratch + per_thread * (size_t)thread_id() : NULL;
        float *xin = mine;
        float *ybuf = mine ? mine + xin_floats : NULL;
        float *bufs[2] = {mine ? mine + xin_floats + y_floats : NULL,
                          mine ? mine + xin_floats + y_floats + tile_floats : NULL};
        const long tile = it % ntiles;
        const size_t x0 = (size_t)tile * CPU_TILE;
        const size_t np = hw - x0 < CPU_TILE ? hw - x0 : CPU_TILE;
        if (!pre && !post) {
            const int t = (int)(it / ntiles);
            time_conv_day(r, ni, T, t, x + x0 * (size_t)cin, hw * (size_t)cin, np,
                          y + ((size_t)t * hw + x0) * (size_t)cout);
            continue;
        }
        const float *xb;
        size_t tstride;
        if (pre) {
            for (int t = 0; t < T; t++) {
                const size_t p0 = (size_t)t * hw + x0;
                pixel_tile(r, pre, p0, np, pre_src ? pre_src + p0 * pre_src_c : NULL, bufs,
                           xin + (size_t)t * np * (size_t)cin);
            }
            xb = xin;
            tstride = np * (size_t)cin;
        } else {
            xb = x + x0 * (size_t)cin;
            tstride = hw * (size_t)cin;
        }
        for (int t = 0; t < T; t++) {
            const size_t p0 = (size_t)t * hw + x0;
            float *yo = post ? ybuf : y + p0 * (size_t)cout;
            time_conv_day(r, ni, T, t, xb, tstride, np, yo);
            if (post)
                pixel_tile(r, post, p0, np, ybuf, bufs, pdst ? pdst + p0 * pdst_c : NULL);
        }
    }
    free(scratch);
    return CC_OK;
}

static int is_time_group(const cc_nn_model *m, const cc_nn_group *g)
{
    return g->kind == CC_NN_GROUP_SINGLE && g->nnodes == 1 &&
           m->nodes[g->node[0]].op == CC_OP_CONV1D_TIME;
}

/* ---- the backend ---- */

static const char *cpu_detail(const cc_nn_backend *self)
{
    return cc_cpu_kernels_get()->name;
}

static int cpu_supports(const cc_nn_backend *self, const cc_nn_model *m, int node)
{
    const cc_nn_node *n = &m->nodes[node];
    if (n->op == CC_OP_CONV2D)
        return (n->kernel == 1 || n->kernel == 3) && (n->stride == 1 || n->stride == 2);
    return (int)n->op >= 0 && n->op < CC_OP_COUNT;
}

/* ---- activation arena ----
 * The slots of a run live in one block owned by the calling thread and kept
 * for its next call (a window of the same size reuses the same pages: no page
 * faults, no zeroing by the kernel). Concurrent calls from different threads
 * use different arenas; the block is freed when the thread exits. The arena
 * grows to the largest window the thread has run (it holds the plan's peak
 * live set, the same memory a call allocates anyway). */
typedef struct {
    float *p;
    size_t cap; /* floats */
} cpu_arena;

static pthread_key_t arena_key;
static pthread_once_t arena_once = PTHREAD_ONCE_INIT;
static _Thread_local cpu_arena arena_tls;

static void arena_destroy(void *a)
{
    cpu_arena *ar = a;
    free(ar->p);
    ar->p = NULL;
    ar->cap = 0;
}

static void arena_key_init(void)
{
    (void)pthread_key_create(&arena_key, arena_destroy);
}

static float *arena_get(size_t n)
{
    cpu_arena *ar = &arena_tls;
    if (n == 0)
        n = 16;
    if (ar->cap < n) {
        pthread_once(&arena_once, arena_key_init);
        free(ar->p);
        ar->p = aligned_floats(n);
        ar->cap = ar->p ? n : 0;
        if (!ar->p)
            return NULL;
        pthread_setspecific(arena_key, ar);
    }
    return ar->p;
}

/* Number of group inputs (over the whole plan) that read node n's tensor. */
static int tensor_uses(const cc_nn_plan *p, int n)
{
    int u = 0;
    for (int gi = 0; gi < p->ngroups; gi++)
        for (int k = 0; k < p->groups[gi].ninputs; k++)
            u += p->groups[gi].inputs[k] == n;
    return u;
}

/* The groups after conv group gi that run_conv_group fuses as a row epilogue
 * (see there): returns how many (0..2). */
static int plan_epilogue(const cc_nn_plan *p, const cc_nn_model *m, int gi, conv_epilogue *ep)
{
    const cc_nn_group *g = &p->groups[gi];
    int nf = 0, cur = g->result;
    memset(ep, 0, sizeof *ep);
    if (cur < 0)
        return 0;
    if (gi + 1 < p->ngroups) {
        const cc_nn_group *a = &p->groups[gi + 1];
        if (a->kind == CC_NN_GROUP_SINGLE && a->nnodes == 1 && m->nodes[a->node[0]].op == CC_OP_ADD &&
            a->ninputs == 2 && (a->inputs[0] == cur) != (a->inputs[1] == cur) &&
            tensor_uses(p, cur) == 1 && !memcmp(p->shape[a->inputs[0]], p->shape[a->inputs[1]],
                                                sizeof p->shape[0])) {
            ep->add = a;
            ep->add_other = a->inputs[0] == cur ? a->inputs[1] : a->inputs[0];
            cur = a->result;
            nf = 1;
        }
    }
    if (gi + 1 + nf < p->ngroups) {
        const cc_nn_group *q = &p->groups[gi + 1 + nf];
        if (q->kind == CC_NN_GROUP_PIXEL && !q->reads_dn && q->ninputs == 1 && q->inputs[0] == cur &&
            tensor_uses(p, cur) == 1) {
            ep->pix = q;
            nf++;
        }
    }
    return nf;
}

/* The per-pixel groups fused with the CONV1D_TIME group gi (see
 * run_time_group): the group before it when it produces the conv's input for
 * nothing else (*pre_fused = 1), the one after it when it is the only reader of
 * the conv's result. Returns how many groups after gi are fused (0 or 1). */
static int plan_time_chain(const cc_nn_plan *p, int gi, int pre_ok, time_chain *tc)
{
    const cc_nn_group *g = &p->groups[gi];
    memset(tc, 0, sizeof *tc);
    if (pre_ok && gi > 0) {
        const cc_nn_group *a = &p->groups[gi - 1];
        if (a->kind == CC_NN_GROUP_PIXEL && !a->writes_out && a->result == g->inputs[0] &&
            tensor_uses(p, a->result) == 1)
            tc->pre = a;
    }
    if (gi + 1 < p->ngroups) {
        const cc_nn_group *q = &p->groups[gi + 1];
        if (q->kind == CC_NN_GROUP_PIXEL && !q->reads_dn && q->ninputs == 1 &&
            q->inputs[0] == g->result && tensor_uses(p, g->result) == 1) {
            tc->post = q;
            return 1;
        }
    }
    return 0;
}

static cc_status cpu_run(const cc_nn_backend *self, const cc_nn_model *m, const cc_nn_plan *p,
                         const uint16_t *dn, void *out, int out_float)
{
    cc_status st = CC_ERR_NOMEM;
    run_ctx r;
    memset(&r, 0, sizeof r);
    r.m = m;
    r.p = p;
    r.k = cc_cpu_kernels_get();
    r.dn = dn;
    r.out = out;
    r.out_float = out_float;
    r.nthreads = max_threads();
    r.conv = cc_calloc3((size_t)m->nnodes, sizeof *r.conv, 1);
    r.slot = cc_calloc3((size_t)(p->nslots > 0 ? p->nslots : 1), sizeof *r.slot, 1);
    if (!r.conv || !r.slot)
        goto out;
    for (int i = 0; i < m->nnodes; i++)
        if (p->live[i] &&
            (m->nodes[i].op == CC_OP_CONV2D || m->nodes[i].op == CC_OP_CONV1D_TIME) &&
            pack_conv(m, i, &r.conv[i]) != CC_OK)
            goto out;
    {
        /* all slots in one per-thread arena kept between calls (no page faults) */
        size_t total = 0;
        for (int s = 0; s < p->nslots; s++)
            total += (p->slot_floats[s] + 15) / 16 * 16;
        float *base = arena_get(total);
        if (!base)
            goto out;
        for (int s = 0; s < p->nslots; s++) {
            r.slot[s] = base;
            base += (p->slot_floats[s] + 15) / 16 * 16;
        }
    }
    for (int gi = 0; gi < p->ngroups; gi++) {
        const cc_nn_group *g = &p->groups[gi];
        if (g->kind == CC_NN_GROUP_PIXEL && gi + 1 < p->ngroups &&
            is_time_group(m, &p->groups[gi + 1])) {
            time_chain tc;
            const int nf = plan_time_chain(p, gi + 1, 1, &tc);
            if (tc.pre) { /* g runs with the conv (and its reader) */
                st = run_time_group(&r, &p->groups[gi + 1], &tc);
                gi += 1 + nf;
                if (st != CC_OK)
                    goto out;
                continue;
            }
        }
        if (is_time_group(m, g)) {
            time_chain tc;
            const int nf = plan_time_chain(p, gi, 0, &tc);
            st = run_time_group(&r, g, &tc);
            gi += nf;
            if (st != CC_OK)
                goto out;
            continue;
        }
        switch (g->kind) {
        case CC_NN_GROUP_PIXEL: st = run_pixel_group(&r, g); break;
        case CC_NN_GROUP_CONV: {
            conv_epilogue ep;
            gi += plan_epilogue(p, m, gi, &ep);
            st = run_conv_group(&r, g, &ep);
            break;
        }
        default: st = run_single_group(&r, g); break;
        }
        if (st != CC_OK)
            goto out;
    }
    st = CC_OK;
out:
    if (r.conv)
        for (int i = 0; i < m->nnodes; i++) {
            free((void *)r.conv[i].w);
            free((void *)r.conv[i].bias);
        }
    free(r.slot);
    free(r.conv);
    return st;
}

static const cc_nn_backend cpu_backend = {
    .name = "cpu",
    .detail = cpu_detail,
    .supports = cpu_supports,
    .run = cpu_run,
    .ctx = NULL,
};

const cc_nn_backend *cc_nn_cpu_backend_get(void)
{
    return &cpu_backend;
}
