/* clearcube: the CUDA backend of the network runtime (issue 3). Implements
 * the contract of kernels/backend-impl.h; the kernels are in nn_cuda_*.cu
 * (see nn_cuda-impl.cuh), the design in docs/gpu.md.
 *
 * run() on one window:
 *   1. sets the probed device, creates its own non-blocking stream(s);
 *   2. packs the parameters of the live nodes into one host array (1x1/3x3
 *      conv weights transposed to [K][cout], cuDNN's KRSC copy when cuDNN may
 *      run, zero biases where the model has none) and uploads it;
 *   3. copies the DN window to the device through pinned staging buffers
 *      (per host thread, double-buffered: the memcpy of chunk i+1 into one
 *      pinned buffer overlaps the DMA of chunk i from the other);
 *   4. runs plan->groups in order, one launcher per group kind (per-pixel
 *      chain / conv + tail / single op), on stream-ordered allocations
 *      (cudaMallocAsync) for the plan's slots;
 *   5. copies the output back the same way and synchronises.
 * A model that is ONE fused per-pixel group (DN in, DN out: model A) is
 * instead streamed in chunks of pixels on two streams, so that the upload of
 * chunk i+1 and the download of chunk i-1 overlap the kernel of chunk i.
 * Concurrent run() calls from several host threads (one window each) use
 * separate streams and staging buffers, so one window's copies overlap another
 * window's kernels: that is how a caller pipelines windows (docs/gpu.md).
 *
 * Engines for the spatial conv groups (fixed once per process, from the
 * environment at the first cc_nn_backend_cuda() call):
 *   CLEARCUBE_CUDA_PRECISION=fp32 (default) | bf16 | fp16: bf16/fp16 use the
 *     tensor-core WMMA kernel (fp32 accumulation);
 *   CLEARCUBE_CUDA_CONV=auto (default) | direct | cudnn (fp32 only): auto times
 *     the direct kernel against cuDNN on the first use of each conv shape and
 *     keeps the faster for the rest of the process. */
#include "kernels/cuda/nn_cuda-impl.cuh"

#include <mutex>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

/* ---- the checking macro ---- */

cc_status ccn_cuda_status(cudaError_t e, const char *what, const char *file, int line)
{
    if (e == cudaSuccess)
        return CC_OK;
    (void)cudaGetLastError(); /* clear a non-sticky error so later calls are unaffected */
    return cc_error_set(e == cudaErrorMemoryAllocation ? CC_ERR_NOMEM : CC_ERR_INTERNAL,
                        "nn cuda: %s failed: %s (%d) at %s:%d", what, cudaGetErrorString(e),
                        (int)e, file, line);
}

namespace {

enum { PREC_FP32 = 0, PREC_BF16, PREC_FP16 };
enum { CONV_AUTO = 0, CONV_DIRECT, CONV_CUDNN };
const char *const prec_names[] = {"fp32", "bf16", "fp16"};
const char *const conv_names[] = {"auto", "direct", "cudnn"};

/* Process-wide state, written once under call_once, read-only afterwards. */
struct cuda_state {
    int usable;
    int device;
    int precision;
    int conv;
    char detail[320];
};
cuda_state g_state;
std::once_flag g_once;
cc_nn_backend g_backend;

/* ---- one-time engine choice per conv shape (CLEARCUBE_CUDA_CONV=auto) ---- */
struct conv_key {
    int cin, cout, k, stride, pad, reads_dn, T, H, W;
};
struct conv_choice {
    conv_key key;
    int engine; /* CONV_DIRECT | CONV_CUDNN */
};
constexpr int MAX_CHOICES = 256;
std::mutex g_choice_mu; /* guards g_choices / g_nchoices */
conv_choice g_choices[MAX_CHOICES];
int g_nchoices;

/* ---- pinned staging, one set per host thread ---- */
constexpr size_t STAGE_BYTES = (size_t)4 << 20;
struct staging {
    void *buf[4] = {nullptr, nullptr, nullptr, nullptr}; /* 2 in, 2 out, STAGE_BYTES each */
    cudaEvent_t ev[2] = {nullptr, nullptr};
    ~staging()
    {
        /* at thread exit; after the CUDA runtime's own teardown these fail
         * harmlessly */
        for (void *b : buf)
            if (b)
                (void)cudaFreeHost(b);
        for (cudaEvent_t e : ev)
            if (e)
                (void)cudaEventDestroy(e);
    }
};
thread_local staging tl_stage;

cc_status staging_ready(void)
{
    cc_status st = CC_OK;
    for (int i = 0; i < 4 && st == CC_OK; i++)
        if (!tl_stage.buf[i])
            st = CCN_CUDA(cudaHostAlloc(&tl_stage.buf[i], STAGE_BYTES, cudaHostAllocDefault));
    for (int i = 0; i < 2 && st == CC_OK; i++)
        if (!tl_stage.ev[i])
            st = CCN_CUDA(cudaEventCreateWithFlags(&tl_stage.ev[i], cudaEventDisableTiming));
    return st;
}

/* Host (pageable) -> device through the two pinned input buffers. */
cc_status stage_h2d(void *dst, const void *src, size_t bytes, cudaStream_t s)
{
    cc_status st = CC_OK;
    for (size_t off = 0, i = 0; off < bytes; off += STAGE_BYTES, i++) {
        const int b = (int)(i % 2);
        const size_t len = bytes - off < STAGE_BYTES ? bytes - off : STAGE_BYTES;
        CCN_TRY(CCN_CUDA(cudaEventSynchronize(tl_stage.ev[b]))); /* buffer b free again */
        memcpy(tl_stage.buf[b], (const char *)src + off, len);
        CCN_TRY(CCN_CUDA(cudaMemcpyAsync((char *)dst + off, tl_stage.buf[b], len,
                                         cudaMemcpyHostToDevice, s)));
        CCN_TRY(CCN_CUDA(cudaEventRecord(tl_stage.ev[b], s)));
    }
out:
    return st;
}

/* Device -> host (pageable) through the two pinned output buffers: the DMA of
 * chunk i overlaps the memcpy out of chunk i-1. */
cc_status stage_d2h(void *dst, const void *src, size_t bytes, cudaStream_t s)
{
    cc_status st = CC_OK;
    size_t prev_off = 0, prev_len = 0;
    int prev_b = -1;
    for (size_t off = 0, i = 0; off < bytes; off += STAGE_BYTES, i++) {
        const int b = (int)(i % 2);
        const size_t len = bytes - off < STAGE_BYTES ? bytes - off : STAGE_BYTES;
        CCN_TRY(CCN_CUDA(cudaMemcpyAsync(tl_stage.buf[2 + b], (const char *)src + off, len,
                                         cudaMemcpyDeviceToHost, s)));
        CCN_TRY(CCN_CUDA(cudaEventRecord(tl_stage.ev[b], s)));
        if (prev_b >= 0) {
            CCN_TRY(CCN_CUDA(cudaEventSynchronize(tl_stage.ev[prev_b])));
            memcpy((char *)dst + prev_off, tl_stage.buf[2 + prev_b], prev_len);
        }
        prev_b = b;
        prev_off = off;
        prev_len = len;
    }
    if (prev_b >= 0) {
        CCN_TRY(CCN_CUDA(cudaEventSynchronize(tl_stage.ev[prev_b])));
        memcpy((char *)dst + prev_off, tl_stage.buf[2 + prev_b], prev_len);
    }
out:
    return st;
}

/* ---- the run context ---- */

struct node_params {
    const float *w;      /* conv2d: [K][cout]; conv1d_time: model layout   */
    const float *w_krsc; /* conv2d spatial: model layout (cuDNN)           */
    const float *bias;   /* [cout], zeros when absent                      */
    const float *scale, *shift;
};

struct run_ctx {
    const cc_nn_model *m;
    const cc_nn_plan *p;
    cudaStream_t s;
    node_params *np;      /* [nnodes] device pointers into d_params          */
    float *d_params;
    float **slot;         /* [nslots]                                        */
    uint16_t *d_dn;
    void *d_out;
    int out_float;
    int want_krsc;
};

/* Where a node's parameters sit in the packed array, in floats from its
 * start (64-float aligned); NONE when absent. */
constexpr size_t NONE = (size_t)-1;
struct node_offsets {
    size_t w, w_krsc, bias, scale, shift;
};

/* Lays out the parameters of every live node (offs[nnodes]) and, when host is
 * non-NULL, writes them. Returns the total number of floats. */
size_t pack_params(const cc_nn_model *m, const cc_nn_plan *p, int want_krsc, node_offsets *offs,
                   float *host)
{
    size_t off = 0;
    auto take = [&](size_t n) {
        const size_t at = off;
        off += (n + 63) / 64 * 64;
        return at;
    };
    for (int i = 0; i < m->nnodes; i++) {
        const cc_nn_node *n = &m->nodes[i];
        node_offsets &q = offs[i];
        q = node_offsets{NONE, NONE, NONE, NONE, NONE};
        if (!p->live[i])
            continue;
        const int cin = n->ninputs ? m->nodes[n->inputs[0]].cout : 0;
        const size_t co = (size_t)n->cout;
        if (n->op == CC_OP_CONV2D) {
            const size_t K = (size_t)(n->kernel * n->kernel) * (size_t)cin;
            q.w = take(K * co);
            q.bias = take(co);
            if (host) {
                for (size_t c = 0; c < co; c++)
                    for (size_t kk = 0; kk < K; kk++)
                        host[q.w + kk * co + c] = n->weight[c * K + kk];
                for (size_t c = 0; c < co; c++)
                    host[q.bias + c] = n->bias ? n->bias[c] : 0.0f;
            }
            if (want_krsc && !(n->kernel == 1 && n->stride == 1)) {
                q.w_krsc = take(K * co);
                if (host)
                    memcpy(host + q.w_krsc, n->weight, K * co * sizeof(float));
            }
        } else if (n->op == CC_OP_CONV1D_TIME) {
            const size_t nw = co * (size_t)n->kernel * (size_t)cin;
            q.w = take(nw);
            q.bias = take(co);
            if (host) {
                memcpy(host + q.w, n->weight, nw * sizeof(float));
                for (size_t c = 0; c < co; c++)
                    host[q.bias + c] = n->bias ? n->bias[c] : 0.0f;
            }
        } else if (n->op == CC_OP_AFFINE || n->op == CC_OP_OUTPUT) {
            if (n->scale) {
                q.scale = take(co);
                if (host)
                    memcpy(host + q.scale, n->scale, co * sizeof(float));
            }
            if (n->shift) {
                q.shift = take(co);
                if (host)
                    memcpy(host + q.shift, n->shift, co * sizeof(float));
            }
        }
    }
    return off;
}

const float *at(const float *base, size_t off)
{
    return off == NONE ? nullptr : base + off;
}

float *tensor(const run_ctx *r, int node)
{
    const int s = r->p->node_slot[node];
    CC_ASSERT(s >= 0);
    return r->slot[s];
}

void fill_io(const cc_nn_model *m, ccn_io *io)
{
    memset(io, 0, sizeof *io);
    io->nin = m->input.nchannels;
    io->dn_offset = m->input.dn_offset;
    io->quant = m->input.quantification;
    for (int c = 0; c < io->nin && c < CC_NN_MAX_IO; c++) {
        io->mean[c] = m->input.mean[c];
        io->std[c] = m->input.std[c];
    }
}

void fill_pnode(const run_ctx *r, int ni, ccn_pnode *q)
{
    const cc_nn_node *n = &r->m->nodes[ni];
    memset(q, 0, sizeof *q);
    q->kind = n->op == CC_OP_CONV2D ? CCN_NODE_CONV
              : n->op == CC_OP_AFFINE ? CCN_NODE_AFFINE
              : n->op == CC_OP_OUTPUT ? CCN_NODE_OUTPUT
                                      : CCN_NODE_ACT;
    q->cin = n->ninputs ? r->m->nodes[n->inputs[0]].cout : 0;
    q->cout = n->cout;
    q->act = n->op == CC_OP_OUTPUT ? CC_ACT_NONE : (int)n->act;
    q->alpha = n->alpha;
    q->w = r->np[ni].w;
    q->bias = r->np[ni].bias;
    q->scale = r->np[ni].scale;
    q->shift = r->np[ni].shift;
}

/* The pixel-group arguments (data pointers left for the caller). */
cc_status pixel_args(const run_ctx *r, const cc_nn_group *g, ccn_pixel_args *a)
{
    const cc_nn_model *m = r->m;
    memset(a, 0, sizeof *a);
    const int first = g->node[0];
    const int *sh = r->p->shape[first];
    a->npix = (size_t)sh[0] * (size_t)sh[1] * (size_t)sh[2];
    a->reads_dn = g->reads_dn;
    a->writes_out = g->writes_out;
    a->out_float = r->out_float;
    a->src_c = g->reads_dn ? m->input.nchannels : m->nodes[g->inputs[0]].cout;
    a->maxc = a->src_c;
    fill_io(m, &a->io);
    for (int k = g->reads_dn ? 1 : 0; k < g->nnodes; k++) {
        const int ni = g->node[k];
        const cc_nn_node *n = &m->nodes[ni];
        fill_pnode(r, ni, &a->node[a->nnodes++]);
        if (n->cout > a->maxc)
            a->maxc = n->cout;
        if (n->op == CC_OP_OUTPUT) {
            a->enc.cout = n->cout;
            for (int c = 0; c < CC_NN_MAX_IO; c++)
                a->enc.residual[c] = c < n->cout ? n->residual_channel[c] : -1;
            a->enc.out_dn_offset = n->out_dn_offset;
            a->enc.scale = r->np[ni].scale;
            a->enc.shift = r->np[ni].shift;
        }
    }
    if (!g->reads_dn)
        a->src = tensor(r, g->inputs[0]);
    a->dn = r->d_dn;
    a->dst = g->writes_out ? nullptr : tensor(r, g->result);
    a->out = r->d_out;
    return CC_OK;
}

cc_status run_pixel(run_ctx *r, const cc_nn_group *g)
{
    ccn_pixel_args a;
    cc_status st = pixel_args(r, g, &a);
    if (st != CC_OK)
        return st;
    return ccn_launch_pixel(&a, r->s);
}

void conv_args(const run_ctx *r, const cc_nn_group *g, ccn_conv_args *a)
{
    const cc_nn_model *m = r->m;
    const cc_nn_plan *p = r->p;
    const int ci = g->node[g->reads_dn ? 1 : 0];
    const cc_nn_node *n = &m->nodes[ci];
    const int *is = p->shape[g->reads_dn ? g->node[0] : g->inputs[0]];
    const int *os = p->shape[ci];
    memset(a, 0, sizeof *a);
    a->T = is[0];
    a->H = is[1];
    a->W = is[2];
    a->cin = is[3];
    a->Ho = os[1];
    a->Wo = os[2];
    a->cout = os[3];
    a->k = n->kernel;
    a->stride = n->stride;
    a->pad = (int)n->pad;
    a->act = (int)n->act;
    a->alpha = n->alpha;
    a->reads_dn = g->reads_dn;
    a->src = g->reads_dn ? nullptr : tensor(r, g->inputs[0]);
    a->dn = r->d_dn;
    fill_io(m, &a->io);
    a->w = r->np[ci].w;
    a->w_krsc = r->np[ci].w_krsc;
    a->bias = r->np[ci].bias;
    for (int k = (g->reads_dn ? 2 : 1); k < g->nnodes; k++)
        fill_pnode(r, g->node[k], &a->tail[a->ntail++]);
    a->dst = tensor(r, g->result);
}

#ifdef CC_HAVE_CUDNN
/* Direct vs cuDNN for this shape, timed once per process (each engine is run
 * once to warm up, then timed once). On return the group's result holds the
 * output of the chosen engine. */
cc_status conv_auto(const ccn_conv_args *a, cudaStream_t s)
{
    cc_status st = CC_OK;
    const conv_key key = {a->cin, a->cout, a->k, a->stride, a->pad, a->reads_dn, a->T, a->H, a->W};
    int engine = -1;
    {
        std::lock_guard<std::mutex> lock(g_choice_mu);
        for (int i = 0; i < g_nchoices && engine < 0; i++)
            if (memcmp(&g_choices[i].key, &key, sizeof key) == 0)
                engine = g_choices[i].engine;
    }
    if (engine == CONV_DIRECT)
        return ccn_launch_conv_direct(a, s);
    if (engine == CONV_CUDNN) {
        st = ccn_cudnn_conv(a, s);
        return st == CC_ERR_UNSUPPORTED ? ccn_launch_conv_direct(a, s) : st;
    }
    cudaEvent_t ev[4] = {nullptr, nullptr, nullptr, nullptr};
    float t_direct = 0.0f, t_cudnn = 0.0f;
    int cudnn_ok = 1;
    for (int i = 0; i < 4; i++)
        CCN_TRY(CCN_CUDA(cudaEventCreate(&ev[i])));
    CCN_TRY(ccn_launch_conv_direct(a, s)); /* warm-up */
    CCN_TRY(CCN_CUDA(cudaEventRecord(ev[0], s)));
    CCN_TRY(ccn_launch_conv_direct(a, s));
    CCN_TRY(CCN_CUDA(cudaEventRecord(ev[1], s)));
    st = ccn_cudnn_conv(a, s); /* warm-up: lazy loading of cuDNN's engines */
    if (st == CC_OK) {
        CCN_TRY(CCN_CUDA(cudaEventRecord(ev[2], s)));
        st = ccn_cudnn_conv(a, s);
        if (st == CC_OK)
            CCN_TRY(CCN_CUDA(cudaEventRecord(ev[3], s)));
    }
    if (st != CC_OK) { /* any cuDNN failure here: time the direct kernel only */
        cc_debug("nn cuda: cuDNN unavailable for conv %d->%d k%d s%d (%s): direct kernel",
                 a->cin, a->cout, a->k, a->stride, cc_error_message());
        cudnn_ok = 0;
        st = CC_OK;
    }
    CCN_TRY(CCN_CUDA(cudaStreamSynchronize(s)));
    CCN_TRY(CCN_CUDA(cudaEventElapsedTime(&t_direct, ev[0], ev[1])));
    if (cudnn_ok)
        CCN_TRY(CCN_CUDA(cudaEventElapsedTime(&t_cudnn, ev[2], ev[3])));
    engine = cudnn_ok && t_cudnn < t_direct ? CONV_CUDNN : CONV_DIRECT;
    cc_debug("nn cuda: conv %d->%d k%d s%d %s %dx%dx%d: direct %.3f ms, cuDNN %s%.3f ms -> %s",
             a->cin, a->cout, a->k, a->stride, a->pad == CC_PAD_REFLECT ? "reflect" : "zero",
             a->T, a->H, a->W, t_direct, cudnn_ok ? "" : "n/a ", t_cudnn,
             conv_names[engine]);
    if (engine == CONV_DIRECT) /* the result must come from the chosen engine */
        CCN_TRY(ccn_launch_conv_direct(a, s));
    {
        std::lock_guard<std::mutex> lock(g_choice_mu);
        int seen = 0;
        for (int i = 0; i < g_nchoices && !seen; i++)
            seen = memcmp(&g_choices[i].key, &key, sizeof key) == 0;
        if (!seen && g_nchoices < MAX_CHOICES) {
            g_choices[g_nchoices].key = key;
            g_choices[g_nchoices].engine = engine;
            g_nchoices++;
        }
    }
out:
    for (int i = 0; i < 4; i++)
        if (ev[i])
            (void)cudaEventDestroy(ev[i]);
    return st;
}
#endif

cc_status run_conv(run_ctx *r, const cc_nn_group *g)
{
    cc_status st = CC_OK;
    ccn_conv_args a;
    void *wh = nullptr;
    conv_args(r, g, &a);
    if (g_state.precision != PREC_FP32) {
        const int K = a.k * a.k * a.cin;
        const int fp16 = g_state.precision == PREC_FP16;
        a.Kpad = (K + CCN_WMMA_BK - 1) / CCN_WMMA_BK * CCN_WMMA_BK;
        a.Npad = (a.cout + CCN_WMMA_BN - 1) / CCN_WMMA_BN * CCN_WMMA_BN;
        CCN_TRY(CCN_CUDA(cudaMallocAsync(&wh, (size_t)a.Kpad * (size_t)a.Npad * 2, r->s)));
        CCN_TRY(ccn_launch_pack_half(a.w, K, a.cout, a.Kpad, a.Npad, fp16, wh, r->s));
        a.wh = wh;
        CCN_TRY(ccn_launch_conv_wmma(&a, fp16, r->s));
        goto out;
    }
#ifdef CC_HAVE_CUDNN
    if (g_state.conv == CONV_CUDNN) {
        st = ccn_cudnn_conv(&a, r->s);
        if (st == CC_ERR_UNSUPPORTED) {
            cc_debug("nn cuda: %s: direct kernel", cc_error_message());
            st = ccn_launch_conv_direct(&a, r->s);
        }
        goto out;
    }
    if (g_state.conv == CONV_AUTO) {
        st = conv_auto(&a, r->s);
        goto out;
    }
#endif
    st = ccn_launch_conv_direct(&a, r->s);
out:
    if (wh)
        (void)cudaFreeAsync(wh, r->s);
    return st;
}

cc_status run_single(run_ctx *r, const cc_nn_group *g)
{
    const cc_nn_model *m = r->m;
    const int ni = g->node[0];
    const cc_nn_node *n = &m->nodes[ni];
    const int *is = r->p->shape[g->inputs[0]];
    const float *x = tensor(r, g->inputs[0]);
    float *y = tensor(r, g->result);
    switch (n->op) {
    case CC_OP_ADD:
        return ccn_launch_add(x, tensor(r, g->inputs[1]), y, cc_nn_plan_numel(r->p, ni),
                              (int)n->act, n->alpha, r->s);
    case CC_OP_CONCAT: {
        const float *in[CC_NN_MAX_INPUTS];
        int cins[CC_NN_MAX_INPUTS];
        for (int k = 0; k < n->ninputs; k++) {
            in[k] = tensor(r, g->inputs[k]);
            cins[k] = m->nodes[g->inputs[k]].cout;
        }
        return ccn_launch_concat(n->ninputs, in, cins, (size_t)is[0] * is[1] * is[2], n->cout, y,
                                 r->s);
    }
    case CC_OP_AVGPOOL2:
    case CC_OP_MAXPOOL2: return ccn_launch_pool(is, n->op == CC_OP_MAXPOOL2, x, y, r->s);
    case CC_OP_UPSAMPLE2_NEAREST:
    case CC_OP_UPSAMPLE2_BILINEAR:
        return ccn_launch_upsample(is, n->op == CC_OP_UPSAMPLE2_BILINEAR, x, y, r->s);
    case CC_OP_CONV1D_TIME:
        return ccn_launch_conv1d_time(is, n->cout, n->kernel, r->np[ni].w, r->np[ni].bias,
                                      (int)n->act, n->alpha, x, y, r->s);
    default:
        return cc_error_set(CC_ERR_INTERNAL, "nn cuda: node '%s' (%s) in a single group",
                            n->name, cc_op_name(n->op));
    }
}

/* Model A style: the whole model is one per-pixel group reading DN and
 * writing the output. Chunks of pixels alternate between two streams; per
 * chunk: pageable -> pinned memcpy, H2D, kernel, D2H, and (two chunks later)
 * pinned -> pageable memcpy, so copies overlap kernels. */
cc_status run_streamed_pixel(run_ctx *r, const cc_nn_group *g, cudaStream_t s2,
                             const uint16_t *dn, void *out)
{
    cc_status st = CC_OK;
    ccn_pixel_args a;
    cudaStream_t ss[2] = {r->s, s2};
    const size_t nin = (size_t)r->m->input.nchannels;
    const size_t cout = (size_t)r->m->nodes[g->node[g->nnodes - 1]].cout;
    const size_t osz = r->out_float ? sizeof(float) : sizeof(uint16_t);
    size_t chunk = STAGE_BYTES / (nin * sizeof(uint16_t));
    const size_t chunk_o = STAGE_BYTES / (cout * osz);
    if (chunk_o < chunk)
        chunk = chunk_o;
    chunk = chunk / 64 * 64;
    uint16_t *d_in[2] = {nullptr, nullptr};
    char *d_o[2] = {nullptr, nullptr};
    size_t npix = 0, nchunks = 0;
    CCN_TRY(pixel_args(r, g, &a));
    npix = a.npix;
    nchunks = (npix + chunk - 1) / chunk;
    for (int b = 0; b < 2; b++) {
        CCN_TRY(CCN_CUDA(cudaMallocAsync((void **)&d_in[b], chunk * nin * sizeof(uint16_t), ss[b])));
        CCN_TRY(CCN_CUDA(cudaMallocAsync((void **)&d_o[b], chunk * cout * osz, ss[b])));
    }
    for (size_t i = 0; i < nchunks + 2; i++) {
        const int b = (int)(i % 2);
        /* buffers b are free once chunk i-2 (or the parameter upload) is done */
        CCN_TRY(CCN_CUDA(cudaEventSynchronize(tl_stage.ev[b])));
        if (i >= 2) { /* copy chunk i-2's output out */
            const size_t j = i - 2, p0 = j * chunk;
            const size_t np = npix - p0 < chunk ? npix - p0 : chunk;
            memcpy((char *)out + p0 * cout * osz, tl_stage.buf[2 + b], np * cout * osz);
        }
        if (i >= nchunks)
            continue;
        const size_t p0 = i * chunk, np = npix - p0 < chunk ? npix - p0 : chunk;
        memcpy(tl_stage.buf[b], dn + p0 * nin, np * nin * sizeof(uint16_t));
        CCN_TRY(CCN_CUDA(cudaMemcpyAsync(d_in[b], tl_stage.buf[b], np * nin * sizeof(uint16_t),
                                         cudaMemcpyHostToDevice, ss[b])));
        a.npix = np;
        a.dn = d_in[b];
        a.out = d_o[b];
        CCN_TRY(ccn_launch_pixel(&a, ss[b]));
        CCN_TRY(CCN_CUDA(cudaMemcpyAsync(tl_stage.buf[2 + b], d_o[b], np * cout * osz,
                                         cudaMemcpyDeviceToHost, ss[b])));
        CCN_TRY(CCN_CUDA(cudaEventRecord(tl_stage.ev[b], ss[b])));
    }
out:
    for (int b = 0; b < 2; b++) {
        if (d_in[b])
            (void)cudaFreeAsync(d_in[b], ss[b]);
        if (d_o[b])
            (void)cudaFreeAsync(d_o[b], ss[b]);
    }
    return st;
}

/* ---- the backend table ---- */

const char *cuda_detail(const cc_nn_backend *self)
{
    return g_state.detail;
}

int cuda_supports(const cc_nn_backend *self, const cc_nn_model *m, int node)
{
    const cc_nn_node *n = &m->nodes[node];
    switch (n->op) {
    case CC_OP_CONV2D:
        return (n->kernel == 1 || n->kernel == 3) && (n->stride == 1 || n->stride == 2) &&
               n->cout <= CC_NN_MAX_CHANNELS;
    case CC_OP_CONV1D_TIME: return n->kernel >= 1;
    case CC_OP_OUTPUT: return n->cout <= CC_NN_MAX_IO;
    default: return (int)n->op >= 0 && n->op < CC_OP_COUNT;
    }
}

cc_status cuda_run(const cc_nn_backend *self, const cc_nn_model *m, const cc_nn_plan *p,
                   const uint16_t *dn, void *out, int out_float)
{
    cc_status st = CC_OK;
    run_ctx r;
    memset(&r, 0, sizeof r);
    cudaStream_t s2 = nullptr;
    float *host_params = nullptr;  /* malloc; freed at out */
    node_offsets *offs = nullptr;  /* calloc; freed at out */
    size_t nparams = 0, out_bytes = 0, dn_bytes = 0;
    const int streamed = p->ngroups == 1 && p->groups[0].kind == CC_NN_GROUP_PIXEL &&
                         p->groups[0].reads_dn && p->groups[0].writes_out;
    const int out_node = m->output_node;
    r.m = m;
    r.p = p;
    r.out_float = out_float;
    r.want_krsc = g_state.precision == PREC_FP32 && g_state.conv != CONV_DIRECT;
    CCN_TRY(CCN_CUDA(cudaSetDevice(g_state.device)));
    CCN_TRY(CCN_CUDA(cudaStreamCreateWithFlags(&r.s, cudaStreamNonBlocking)));
    CCN_TRY(staging_ready());
    r.np = (node_params *)calloc((size_t)m->nnodes, sizeof *r.np);
    r.slot = (float **)calloc((size_t)(p->nslots > 0 ? p->nslots : 1), sizeof *r.slot);
    offs = (node_offsets *)calloc((size_t)m->nnodes, sizeof *offs);
    if (!r.np || !r.slot || !offs) {
        st = cc_error_set(CC_ERR_NOMEM, "nn cuda: out of memory");
        goto out;
    }

    /* parameters */
    nparams = pack_params(m, p, r.want_krsc, offs, nullptr);
    if (nparams) {
        host_params = (float *)malloc(nparams * sizeof(float));
        if (!host_params) {
            st = cc_error_set(CC_ERR_NOMEM, "nn cuda: out of memory packing %zu parameters",
                              nparams);
            goto out;
        }
        pack_params(m, p, r.want_krsc, offs, host_params);
        CCN_TRY(CCN_CUDA(cudaMallocAsync((void **)&r.d_params, nparams * sizeof(float), r.s)));
        CCN_TRY(stage_h2d(r.d_params, host_params, nparams * sizeof(float), r.s));
        for (int i = 0; i < m->nnodes; i++) {
            const node_offsets &o = offs[i];
            r.np[i] = node_params{at(r.d_params, o.w), at(r.d_params, o.w_krsc),
                                  at(r.d_params, o.bias), at(r.d_params, o.scale),
                                  at(r.d_params, o.shift)};
        }
    }

    if (streamed) {
        cudaEvent_t ready = nullptr;
        CCN_TRY(CCN_CUDA(cudaStreamCreateWithFlags(&s2, cudaStreamNonBlocking)));
        /* s2 must see the uploaded parameters */
        CCN_TRY(CCN_CUDA(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming)));
        st = CCN_CUDA(cudaEventRecord(ready, r.s));
        if (st == CC_OK)
            st = CCN_CUDA(cudaStreamWaitEvent(s2, ready, 0));
        (void)cudaEventDestroy(ready);
        if (st != CC_OK)
            goto out;
        CCN_TRY(run_streamed_pixel(&r, &p->groups[0], s2, dn, out));
        goto out;
    }

    dn_bytes = (size_t)p->t * p->h * p->w * (size_t)m->input.nchannels * sizeof(uint16_t);
    out_bytes = (size_t)p->t * p->h * p->w * (size_t)m->nodes[out_node].cout *
                (out_float ? sizeof(float) : sizeof(uint16_t));
    CCN_TRY(CCN_CUDA(cudaMallocAsync((void **)&r.d_dn, dn_bytes, r.s)));
    CCN_TRY(CCN_CUDA(cudaMallocAsync(&r.d_out, out_bytes, r.s)));
    for (int s = 0; s < p->nslots; s++)
        CCN_TRY(CCN_CUDA(cudaMallocAsync((void **)&r.slot[s], p->slot_floats[s] * sizeof(float),
                                         r.s)));
    CCN_TRY(stage_h2d(r.d_dn, dn, dn_bytes, r.s));
    for (int gi = 0; gi < p->ngroups; gi++) {
        const cc_nn_group *g = &p->groups[gi];
        switch (g->kind) {
        case CC_NN_GROUP_PIXEL: st = run_pixel(&r, g); break;
        case CC_NN_GROUP_CONV: st = run_conv(&r, g); break;
        default: st = run_single(&r, g); break;
        }
        if (st != CC_OK)
            goto out;
    }
    CCN_TRY(stage_d2h(out, r.d_out, out_bytes, r.s));
out:
    if (r.s) {
        for (int s = 0; r.slot && s < p->nslots; s++)
            if (r.slot[s])
                (void)cudaFreeAsync(r.slot[s], r.s);
        if (r.d_out)
            (void)cudaFreeAsync(r.d_out, r.s);
        if (r.d_dn)
            (void)cudaFreeAsync(r.d_dn, r.s);
        if (s2) {
            const cc_status st2 = CCN_CUDA(cudaStreamSynchronize(s2));
            if (st == CC_OK)
                st = st2;
        }
        if (r.d_params)
            (void)cudaFreeAsync(r.d_params, r.s);
        /* kernel faults surface here */
        const cc_status st2 = CCN_CUDA(cudaStreamSynchronize(r.s));
        if (st == CC_OK)
            st = st2;
        (void)cudaStreamDestroy(r.s);
        if (s2)
            (void)cudaStreamDestroy(s2);
    }
    free(host_params);
    free(offs);
    free(r.np);
    free(r.slot);
    return st;
}

int parse_env(const char *name, const char *const *names, int n, int dflt)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return dflt;
    for (int i = 0; i < n; i++)
        if (strcmp(v, names[i]) == 0)
            return i;
    cc_warn("%s=%s unknown: using %s", name, v, names[dflt]);
    return dflt;
}

void probe(void)
{
    int n = 0, dev = 0;
    cudaDeviceProp prop;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        cc_debug("nn cuda: no usable GPU: cudaGetDeviceCount: %s (%d)", cudaGetErrorString(e),
                 (int)e);
        return;
    }
    if (n < 1) {
        cc_debug("nn cuda: no usable GPU: no CUDA device");
        return;
    }
    if ((e = cudaGetDevice(&dev)) != cudaSuccess ||
        (e = cudaGetDeviceProperties(&prop, dev)) != cudaSuccess) {
        (void)cudaGetLastError();
        cc_debug("nn cuda: no usable GPU: %s (%d)", cudaGetErrorString(e), (int)e);
        return;
    }
    if (prop.major < 8) {
        cc_debug("nn cuda: GPU %s is sm_%d%d; the backend is built for sm_80 and newer",
                 prop.name, prop.major, prop.minor);
        return;
    }
    g_state.device = dev;
    g_state.precision = parse_env("CLEARCUBE_CUDA_PRECISION", prec_names, 3, PREC_FP32);
    g_state.conv = parse_env("CLEARCUBE_CUDA_CONV", conv_names, 3, CONV_AUTO);
#ifndef CC_HAVE_CUDNN
    if (g_state.conv != CONV_DIRECT) {
        if (g_state.conv == CONV_CUDNN)
            cc_warn("CLEARCUBE_CUDA_CONV=cudnn: built without cuDNN, using the direct kernel");
        g_state.conv = CONV_DIRECT;
    }
#endif
    snprintf(g_state.detail, sizeof g_state.detail, "%s (sm_%d%d, conv %s, %s)", prop.name,
             prop.major, prop.minor,
             g_state.precision == PREC_FP32 ? conv_names[g_state.conv] : "wmma",
             prec_names[g_state.precision]);
    g_backend.name = "cuda";
    g_backend.detail = cuda_detail;
    g_backend.supports = cuda_supports;
    g_backend.run = cuda_run;
    g_backend.ctx = &g_state;
    g_state.usable = 1;
    cc_debug("nn cuda: backend on device %d: %s", dev, g_state.detail);
}

} // namespace

extern "C" const cc_nn_backend *cc_nn_backend_cuda(void)
{
    std::call_once(g_once, probe);
    return g_state.usable ? &g_backend : nullptr;
}
