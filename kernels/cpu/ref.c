/* clearcube: the CPU backend (issue 3). Executes the shared plan group by group
 * with OpenMP; the hot loops (1x1 conv over a pixel tile, one row of a k x k
 * conv) go through the cc_cpu_kernels table (portable kernels in
 * kernels/cpu/scalar.c, SIMD ones from kernels/cpu/simd*.c when available).
 * This file: the run context, the per-pixel and spatial-conv groups, the
 * backend (with its CPU-internal fusion) and the unfused run of training;
 * kernels/cpu/ref_time.c the CONV1D_TIME group, kernels/cpu/ops.c the other
 * ops. See kernels/backend-impl.h, kernels/cpu/cpu-impl.h and
 * kernels/cpu/ref-impl.h (threading and determinism). */
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
#include "kernels/cpu/ref-impl.h"

/* ---- run context ---- */

int cc_cpu_max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

int cc_cpu_thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

float *cc_cpu_aligned_floats(size_t n)
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
    float *w = cc_cpu_aligned_floats((size_t)ntap * (size_t)cin * (size_t)ldw);
    float *b = cc_cpu_aligned_floats((size_t)ldw);
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

/* ---- group: per-pixel chain ---- */

int cc_cpu_group_max_channels(const cc_nn_model *m, const cc_nn_group *g)
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

void cc_cpu_pixel_tile(const cc_cpu_run *r, const cc_nn_group *g, size_t p0, size_t np, const float *src,
                       float *const bufs[2], float *dst)
{
    const cc_nn_model *m = r->m;
    const int nin = m->input.nchannels;
    const float *cur; /* current activations: np x cc */
    int cc, nb = 0;   /* nb: index of the next free scratch buffer */
    int k0 = 0;
    if (g->reads_dn) {
        if (r->rho) /* training: the reflectance itself */
            for (size_t q = 0; q < np; q++)
                cc_nn_normalize_pixel(m, r->rho + (p0 + q) * (size_t)nin, bufs[0] + q * (size_t)nin);
        else if (r->k->decode) /* optional SIMD entry, same bits */
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
        if (n->op == CC_OP_OUTPUT && r->rho) { /* training: float output, residual from rho */
            for (size_t q = 0; q < np; q++)
                cc_nn_encode_pixel_rho(n, r->rho + (p0 + q) * (size_t)nin, cur + q * (size_t)cc,
                                       (float *)r->out + (p0 + q) * (size_t)n->cout);
            break;
        }
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
                cc_cpu_apply_affine(n, np, cc, y);
            else
                cc_cpu_apply_act(n, np, cc, y);
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

cc_status cc_cpu_run_pixel_group(cc_cpu_run *r, const cc_nn_group *g)
{
    const cc_nn_model *m = r->m;
    const cc_nn_plan *p = r->p;
    const int first = g->node[0];
    const size_t npix = (size_t)p->shape[first][0] * (size_t)p->shape[first][1] *
                        (size_t)p->shape[first][2];
    const int maxc = cc_cpu_group_max_channels(m, g);
    const size_t per_thread = 2 * (size_t)CPU_TILE * (size_t)maxc;
    float *scratch = cc_cpu_aligned_floats(per_thread * (size_t)r->nthreads);
    if (!scratch)
        return CC_ERR_NOMEM;
    const float *src = g->reads_dn ? NULL : cc_cpu_node_tensor(r, g->inputs[0]);
    const int src_c = g->reads_dn ? m->input.nchannels : m->nodes[g->inputs[0]].cout;
    float *dst = g->writes_out ? NULL : cc_cpu_node_tensor(r, g->result);
    const size_t dst_c = g->writes_out ? 0 : (size_t)m->nodes[g->result].cout;
    const long ntiles = (long)((npix + CPU_TILE - 1) / CPU_TILE);

#pragma omp parallel for schedule(static) num_threads(r->nthreads)
    for (long tile = 0; tile < ntiles; tile++) {
        const size_t p0 = (size_t)tile * CPU_TILE;
        const size_t np = npix - p0 < CPU_TILE ? npix - p0 : CPU_TILE;
        float *bufs[2];
        bufs[0] = scratch + per_thread * (size_t)cc_cpu_thread_id();
        bufs[1] = bufs[0] + (size_t)CPU_TILE * (size_t)maxc;
        cc_cpu_pixel_tile(r, g, p0, np, src ? src + p0 * (size_t)src_c : NULL, bufs,
                          dst ? dst + p0 * (size_t)dst_c : NULL);
    }
    free(scratch);
    return CC_OK;
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

static cc_status run_conv_group(cc_cpu_run *r, const cc_nn_group *g, const conv_epilogue *ep)
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
    float *dst = ep->pix ? NULL : cc_cpu_node_tensor(r, last->result);
    float *pdst = ep->pix && !ep->pix->writes_out ? cc_cpu_node_tensor(r, ep->pix->result) : NULL;
    const size_t pdst_c = pdst ? (size_t)m->nodes[ep->pix->result].cout : 0;
    const float *other = ep->add ? cc_cpu_node_tensor(r, ep->add_other) : NULL;
    const float *src = g->reads_dn ? NULL : cc_cpu_node_tensor(r, g->inputs[0]);
    const size_t row_floats = (size_t)W * (size_t)cin;
    const size_t orow_floats = (size_t)Wo * (size_t)cout;
    /* per thread: k decoded DN rows (with their row tags), the fused row, two pixel tiles */
    const size_t dec_floats = g->reads_dn ? row_floats * (size_t)k : 0;
    const size_t rowbuf_floats = ep->pix ? orow_floats : 0;
    const int maxc = ep->pix ? cc_cpu_group_max_channels(m, ep->pix) : 0;
    const size_t tile_floats = (size_t)CPU_TILE * (size_t)maxc;
    const size_t per_thread = dec_floats + rowbuf_floats + 2 * tile_floats;
    float *scratch = NULL;
    if (per_thread) {
        scratch = cc_cpu_aligned_floats((per_thread + 16) * (size_t)r->nthreads);
        if (!scratch)
            return CC_ERR_NOMEM;
    }
    const long nrows = (long)T * Ho;

#pragma omp parallel num_threads(r->nthreads)
    {
        float *mine = scratch ? scratch + (per_thread + 16) * (size_t)cc_cpu_thread_id() : NULL;
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
                    cc_cpu_apply_affine(n, (size_t)Wo, cout, o);
                else
                    cc_cpu_apply_act(n, (size_t)Wo, cout, o);
            }
            if (ep->add)
                cc_cpu_add_act(&m->nodes[ep->add->node[0]], o, other + orow, o, orow_floats);
            if (ep->pix) {
                const size_t p0 = (size_t)row * (size_t)Wo;
                for (int x0 = 0; x0 < Wo; x0 += CPU_TILE) {
                    const size_t np = Wo - x0 < CPU_TILE ? (size_t)(Wo - x0) : CPU_TILE;
                    cc_cpu_pixel_tile(r, ep->pix, p0 + (size_t)x0, np, o + (size_t)x0 * (size_t)cout,
                                      bufs, pdst ? pdst + (p0 + (size_t)x0) * pdst_c : NULL);
                }
            }
        }
    }
    free(scratch);
    return CC_OK;
}

static cc_status run_single_group(cc_cpu_run *r, const cc_nn_group *g)
{
    const cc_nn_model *m = r->m;
    const int ni = g->node[0];
    const cc_nn_node *n = &m->nodes[ni];
    const int *is = r->p->shape[g->inputs[0]];
    const float *x = cc_cpu_node_tensor(r, g->inputs[0]);
    float *y = cc_cpu_node_tensor(r, g->result);
    switch (n->op) {
    case CC_OP_ADD:
        cc_cpu_run_add(r, n, x, cc_cpu_node_tensor(r, g->inputs[1]), y, cc_nn_plan_numel(r->p, ni));
        return CC_OK;
    case CC_OP_CONCAT: {
        const float *in[CC_NN_MAX_INPUTS];
        int cins[CC_NN_MAX_INPUTS];
        for (int k = 0; k < n->ninputs; k++) {
            in[k] = cc_cpu_node_tensor(r, g->inputs[k]);
            cins[k] = m->nodes[g->inputs[k]].cout;
        }
        cc_cpu_run_concat(r, n, in, cins, (size_t)is[0] * (size_t)is[1] * (size_t)is[2], y);
        return CC_OK;
    }
    case CC_OP_AVGPOOL2:
    case CC_OP_MAXPOOL2: cc_cpu_run_pool(r, n, is, x, y); return CC_OK;
    case CC_OP_UPSAMPLE2_NEAREST:
    case CC_OP_UPSAMPLE2_BILINEAR: cc_cpu_run_upsample(r, n, is, x, y); return CC_OK;
    default:
        return cc_error_set(CC_ERR_INTERNAL, "nn cpu: node '%s' (%s) in a single group", n->name,
                            cc_op_name(n->op));
    }
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
        ar->p = cc_cpu_aligned_floats(n);
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

/* Whether the tensors of nodes a and b share a slot. A fused chain writes its
 * result row by row (tile by tile) while it still reads its inputs, and the
 * planner may give that result the slot of an input the chain reads last: the
 * fusion must then not be taken (tests/nn/test_nn_graph.c, test_fusion_slots). */
static int same_slot(const cc_nn_plan *p, int a, int b)
{
    return a >= 0 && b >= 0 && p->node_slot[a] >= 0 && p->node_slot[a] == p->node_slot[b];
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
    /* the conv reads rows around the one it writes; the per-pixel epilogue may
     * have more channels than the ADD's other input it overwrites */
    const int in = g->reads_dn ? -1 : g->inputs[0];
    while (nf > 0) {
        const int w = ep->pix ? (ep->pix->writes_out ? -1 : ep->pix->result) : ep->add->result;
        if (!same_slot(p, w, in) && !(ep->pix && ep->add && same_slot(p, w, ep->add_other)))
            break;
        if (ep->pix)
            ep->pix = NULL;
        else
            ep->add = NULL;
        nf--;
    }
    return nf;
}

/* The per-pixel groups fused with the CONV1D_TIME group gi (see
 * cc_cpu_run_time_group): the group before it when it produces the conv's input for
 * nothing else (*pre_fused = 1), the one after it when it is the only reader of
 * the conv's result. Returns how many groups after gi are fused (0 or 1). */
static int plan_time_chain(const cc_nn_plan *p, int gi, int pre_ok, cc_cpu_time_chain *tc)
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
            q->inputs[0] == g->result && tensor_uses(p, g->result) == 1)
            tc->post = q;
    }
    /* tile by tile, the chain writes its result over pixels of the input it
     * still reads for other days or tiles */
    while (tc->pre || tc->post) {
        const int in = tc->pre ? (tc->pre->reads_dn ? -1 : tc->pre->inputs[0]) : g->inputs[0];
        const int w = tc->post ? (tc->post->writes_out ? -1 : tc->post->result) : g->result;
        if (!same_slot(p, w, in))
            break;
        if (tc->post)
            tc->post = NULL;
        else
            tc->pre = NULL;
    }
    return tc->post ? 1 : 0;
}

/* Sets up r for plan p of m: the kernel table, the thread count, the packed
 * convs of the live nodes and the slot table (the slots are the caller's). */
static cc_status run_init(cc_cpu_run *r, const cc_nn_model *m, const cc_nn_plan *p)
{
    memset(r, 0, sizeof *r);
    r->m = m;
    r->p = p;
    r->k = cc_cpu_kernels_get();
    r->nthreads = cc_cpu_max_threads();
    r->conv = cc_calloc3((size_t)m->nnodes, sizeof *r->conv, 1);
    r->slot = cc_calloc3((size_t)(p->nslots > 0 ? p->nslots : 1), sizeof *r->slot, 1);
    if (!r->conv || !r->slot)
        return cc_error_set(CC_ERR_NOMEM, "nn cpu: out of memory");
    for (int i = 0; i < m->nnodes; i++)
        if (p->live[i] && (m->nodes[i].op == CC_OP_CONV2D || m->nodes[i].op == CC_OP_CONV1D_TIME) &&
            pack_conv(m, i, &r->conv[i]) != CC_OK)
            return CC_ERR_NOMEM;
    return CC_OK;
}

static void run_free(cc_cpu_run *r)
{
    if (r->conv)
        for (int i = 0; i < r->m->nnodes; i++) {
            free((void *)r->conv[i].w);
            free((void *)r->conv[i].bias);
        }
    free(r->slot);
    free(r->conv);
}

/* The groups of a fused plan in order, with the CPU-internal fusions (conv
 * epilogues, time chains). */
static cc_status run_groups(cc_cpu_run *r)
{
    const cc_nn_model *m = r->m;
    const cc_nn_plan *p = r->p;
    cc_status st = CC_OK;
    for (int gi = 0; gi < p->ngroups && st == CC_OK; gi++) {
        const cc_nn_group *g = &p->groups[gi];
        if (g->kind == CC_NN_GROUP_PIXEL && gi + 1 < p->ngroups &&
            is_time_group(m, &p->groups[gi + 1])) {
            cc_cpu_time_chain tc;
            const int nf = plan_time_chain(p, gi + 1, 1, &tc);
            if (tc.pre) { /* g runs with the conv (and its reader) */
                st = cc_cpu_run_time_group(r, &p->groups[gi + 1], &tc);
                gi += 1 + nf;
                continue;
            }
        }
        if (is_time_group(m, g)) {
            cc_cpu_time_chain tc;
            const int nf = plan_time_chain(p, gi, 0, &tc);
            st = cc_cpu_run_time_group(r, g, &tc);
            gi += nf;
            continue;
        }
        switch (g->kind) {
        case CC_NN_GROUP_PIXEL: st = cc_cpu_run_pixel_group(r, g); break;
        case CC_NN_GROUP_CONV: {
            conv_epilogue ep;
            gi += plan_epilogue(p, m, gi, &ep);
            st = run_conv_group(r, g, &ep);
            break;
        }
        default: st = run_single_group(r, g); break;
        }
    }
    return st;
}

static cc_status cpu_run(const cc_nn_backend *self, const cc_nn_model *m, const cc_nn_plan *p,
                         const uint16_t *dn, void *out, int out_float)
{
    cc_cpu_run r;
    cc_status st = run_init(&r, m, p);
    r.dn = dn;
    r.out = out;
    r.out_float = out_float;
    if (st == CC_OK) {
        /* all slots in one per-thread arena kept between calls (no page faults) */
        size_t total = 0;
        for (int s = 0; s < p->nslots; s++)
            total += (p->slot_floats[s] + 15) / 16 * 16;
        float *base = arena_get(total);
        if (!base)
            st = CC_ERR_NOMEM;
        for (int s = 0; base && s < p->nslots; s++) {
            r.slot[s] = base;
            base += (p->slot_floats[s] + 15) / 16 * 16;
        }
    }
    if (st == CC_OK)
        st = run_groups(&r);
    run_free(&r);
    return st;
}

/* ---- the unfused run of training (cc_nn_cpu_run_unfused) ----
 * Every group is one node and writes its tensor to the caller's out[n]. A node
 * whose pre-activation value is wanted runs with its activation taken out
 * (a copy of the model with act none there) into pre[n], and out[n] =
 * act(pre[n]) is applied afterwards with cc_nn_act_apply: the same float
 * function the kernels apply to the same pre-activation float (the SIMD
 * ReLU/LeakyReLU select the same values), so the bits do not change. */

static int op_has_act(cc_op_type op)
{
    return op == CC_OP_CONV2D || op == CC_OP_CONV1D_TIME || op == CC_OP_AFFINE || op == CC_OP_ACT ||
           op == CC_OP_ADD;
}

static void act_into(const cc_cpu_run *r, const cc_nn_node *n, const float *z, float *y, size_t e)
{
    const size_t chunk = 16384; /* fixed decomposition: thread-count independent */
    const long nchunks = (long)((e + chunk - 1) / chunk);
#pragma omp parallel for schedule(static) num_threads(r->nthreads)
    for (long ci = 0; ci < nchunks; ci++) {
        const size_t i1 = e - (size_t)ci * chunk < chunk ? e : (size_t)(ci + 1) * chunk;
        for (size_t i = (size_t)ci * chunk; i < i1; i++)
            y[i] = cc_nn_act_apply(n->act, n->alpha, z[i]);
    }
}

/* Threads for node n of an unfused run: training runs many small batches
 * (gradient checks, per-pixel models on a few thousand pixels) where a
 * fork/join costs more than the work, so small ops run on the calling
 * thread. The results do not depend on it (fixed decompositions). */
static int node_threads(const cc_cpu_run *r, int n)
{
    const cc_cpu_conv *c = &r->conv[n];
    double work = (double)cc_nn_plan_numel(r->p, n);
    if (c->w)
        work *= (double)c->cin * (double)c->k * (r->m->nodes[n].op == CC_OP_CONV2D ? (double)c->k : 1.0);
    return work < 65536.0 ? 1 : cc_cpu_max_threads();
}

/* One group of an unfused plan (no CPU-internal fusion either). */
static cc_status run_group_alone(cc_cpu_run *r, const cc_nn_group *g)
{
    r->nthreads = node_threads(r, g->node[0]);
    if (is_time_group(r->m, g)) {
        const cc_cpu_time_chain none = {NULL, NULL};
        return cc_cpu_run_time_group(r, g, &none);
    }
    if (g->kind == CC_NN_GROUP_PIXEL)
        return cc_cpu_run_pixel_group(r, g);
    if (g->kind == CC_NN_GROUP_CONV) {
        const conv_epilogue none = {NULL, -1, NULL};
        return run_conv_group(r, g, &none);
    }
    return run_single_group(r, g);
}

cc_status cc_nn_cpu_run_unfused(const cc_nn_model *m, const cc_nn_plan *p, const float *rho,
                                float *const *out, float *const *pre)
{
    if (!m || !p || !p->unfused || p->nnodes != m->nnodes || !rho || !out || !out[m->output_node])
        return cc_error_set(CC_ERR_ARG, "nn cpu: unfused run: no model, unfused plan, input or output");
    cc_nn_model split = *m;
    cc_nn_node *nodes = NULL;
    if (pre) {
        nodes = cc_malloc3((size_t)m->nnodes, sizeof *nodes, 1);
        if (!nodes)
            return cc_error_set(CC_ERR_NOMEM, "nn cpu: out of memory");
        memcpy(nodes, m->nodes, (size_t)m->nnodes * sizeof *nodes);
        for (int i = 0; i < m->nnodes; i++)
            if (pre[i] && op_has_act(nodes[i].op))
                nodes[i].act = CC_ACT_NONE;
        split.nodes = nodes;
    }
    cc_cpu_run r;
    cc_status st = run_init(&r, &split, p);
    r.rho = rho;
    r.out = out[m->output_node];
    r.out_float = 1;
    for (int s = 0; s < p->nslots && st == CC_OK; s++)
        r.slot[s] = out[s]; /* slot n is node n's tensor */
    for (int gi = 0; gi < p->ngroups && st == CC_OK; gi++) {
        const int n = p->groups[gi].node[0];
        const int sep = pre && pre[n] && op_has_act(m->nodes[n].op);
        if (sep)
            r.slot[n] = pre[n];
        st = run_group_alone(&r, &p->groups[gi]);
        if (sep && st == CC_OK) {
            act_into(&r, &m->nodes[n], pre[n], out[n], cc_nn_plan_numel(p, n));
            r.slot[n] = out[n];
        }
    }
    run_free(&r);
    free(nodes);
    return st;
}

static const cc_nn_backend cpu_backend = {
    .name = "cpu",
    .detail = cpu_detail,
    .supports = cpu_supports,
    .run = cpu_run,
    .ctx = NULL,
};

const cc_nn_backend *cc_nn_backend_cpu(void)
{
    return &cpu_backend;
}
