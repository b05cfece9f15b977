/* clearcube: training on the CPU (issue 4). See kernels/train/train.h.
 *
 * Layout of the work:
 *   - the forward pass is the inference engine's: the plan of kernels/nn.c
 *     without fusion (cc_nn_plan_make_unfused) run by the CPU backend's ops
 *     (cc_nn_cpu_run_unfused), so training sees exactly the activations
 *     cc_nn_run_float computes; every live node keeps its output
 *     (post-activation) tensor, SiLU and LeakyReLU nodes also their value z
 *     before the activation (the backward pass needs it); every node has a
 *     gradient buffer dL/dout.
 *   - the backward ops are kernels/train/backward.c: CONV2D through the GEMM
 *     of kernels/train/gemm.c (1x1 stride 1 directly on the channels-last
 *     tensor in units of UNIT_PX pixels; k=3 or stride 2 through an im2col of
 *     one output row).
 *   - parameter gradients (weights, biases, affine scale/shift) are summed over
 *     pixels in NCHUNK fixed chunks of units (chunk c covers units
 *     [c*U/NCHUNK, (c+1)*U/NCHUNK), U = number of units, NCHUNK = min(U,
 *     NCHUNK_MAX)), each chunk by one thread in unit order, then the chunk
 *     partials are added in chunk order. Nothing depends on the thread count,
 *     so gradients are bit-identical for any OMP_NUM_THREADS (and so is the
 *     forward pass, see kernels/cpu/ref-impl.h).
 *   - the input gradient of a spatial conv is a scatter (col2im); output rows
 *     are processed in 3 phases (oy mod 3) so that rows running concurrently
 *     never touch the same input row; the order of additions is fixed.
 *   - CONV1D_TIME convolves along the batch axis b (the runtime's T axis).
 * Losses, AdamW, the schedule and the initialisation: kernels/train/optim.c.
 */
#include "kernels/train/train.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "kernels/backend-impl.h"
#include "kernels/train/train-impl.h"

float *cc_train_falloc(size_t n)
{
    float *p = cc_calloc3(n + SLACK, sizeof(float), 1);
    if (!p)
        cc_error_set(CC_ERR_NOMEM, "train: out of memory (%zu floats)", n + SLACK);
    return p;
}

static int act_aux(cc_act a)
{
    return a == CC_ACT_SILU || a == CC_ACT_LEAKY_RELU;
}

static cc_status check_node(const cc_nn_model *m, int i)
{
    const cc_nn_node *nd = &m->nodes[i];
    if ((int)nd->op < 0 || nd->op >= CC_OP_COUNT)
        return cc_error_set(CC_ERR_UNSUPPORTED, "train: node %d '%s': op %d has no backward pass",
                            i, nd->name, (int)nd->op);
    if (nd->op == CC_OP_CONV2D && ((nd->kernel != 1 && nd->kernel != 3) ||
                                   (nd->stride != 1 && nd->stride != 2)))
        return cc_error_set(CC_ERR_UNSUPPORTED,
                            "train: node '%s' (conv2d, kernel %d, stride %d): only kernel 1 or 3, "
                            "stride 1 or 2 have a backward pass",
                            nd->name, nd->kernel, nd->stride);
    if (nd->op == CC_OP_CONV2D && nd->pad != CC_PAD_ZERO && nd->pad != CC_PAD_REFLECT)
        return cc_error_set(CC_ERR_UNSUPPORTED, "train: node '%s' (conv2d): padding %d unsupported",
                            nd->name, (int)nd->pad);
    if (nd->op == CC_OP_CONV1D_TIME && nd->kernel < 1)
        return cc_error_set(CC_ERR_UNSUPPORTED, "train: node '%s' (conv1d_time): kernel %d",
                            nd->name, nd->kernel);
    if ((nd->op == CC_OP_CONV2D || nd->op == CC_OP_CONV1D_TIME) && !nd->weight)
        return cc_error_set(CC_ERR_ARG, "train: node '%s' (%s): no weights", nd->name,
                            cc_op_name(nd->op));
    if ((int)nd->act < 0 || nd->act > CC_ACT_SIGMOID)
        return cc_error_set(CC_ERR_UNSUPPORTED, "train: node '%s': activation %d unsupported",
                            nd->name, (int)nd->act);
    return CC_OK;
}

static int has_act(cc_op_type op)
{
    return op == CC_OP_CONV2D || op == CC_OP_AFFINE || op == CC_OP_ACT || op == CC_OP_ADD ||
           op == CC_OP_CONV1D_TIME;
}

void cc_train_net_free(cc_train_net *n)
{
    if (!n)
        return;
    for (int i = 0; i < n->nn; i++) {
        if (n->out)
            free(n->out[i]);
        if (n->aux)
            free(n->aux[i]);
        if (n->grad)
            free(n->grad[i]);
    }
    free(n->out);
    free(n->aux);
    free(n->grad);
    free(n->live);
    free(n->shape);
    free(n->cap);
    free(n->gset);
    free(n->rho_grad);
    free(n->parr);
    free(n->grads);
    free(n->off_a);
    free(n->off_b);
    free(n->wpack);
    free(n->partial);
    free(n->scratch);
    free(n->hbuf);
    cc_cuda_train_free(n->gpu);
    free(n);
}

static void add_param(cc_train_net *n, float *p, size_t cnt, int decay, size_t *off)
{
    if (!p || cnt == 0) {
        *off = SIZE_MAX;
        return;
    }
    *off = n->nparams;
    n->parr[n->nparr].p = p;
    n->parr[n->nparr].n = cnt;
    n->parr[n->nparr].decay = decay;
    n->nparr++;
    n->nparams += cnt;
}

cc_status cc_train_net_create(cc_nn_model *m, int max_b, int max_h, int max_w, cc_train_net **out)
{
    cc_status st;
    if (!out)
        return cc_error_set(CC_ERR_ARG, "train: NULL output pointer");
    *out = NULL;
    if (!m || !m->nodes || m->nnodes < 2 || m->output_node < 0 || m->output_node >= m->nnodes ||
        m->nodes[m->output_node].op != CC_OP_OUTPUT)
        return cc_error_set(CC_ERR_ARG, "train: the model is empty or not finalized");
    if (max_b < 1 || max_h < 1 || max_w < 1)
        return cc_error_set(CC_ERR_ARG, "train: maximum batch %dx%dx%d must be >= 1", max_b, max_h,
                            max_w);
    if ((double)max_b * max_h * max_w > 1e9)
        return cc_error_set(CC_ERR_ARG, "train: maximum batch %dx%dx%d too large", max_b, max_h,
                            max_w);
    const int nn = m->nnodes;
    cc_train_net *n = cc_calloc3(1, sizeof *n, 1);
    if (!n)
        return cc_error_set(CC_ERR_NOMEM, "train: out of memory");
    n->m = m;
    n->nn = nn;
    n->max_b = max_b;
    n->max_h = max_h;
    n->max_w = max_w;
    n->live = cc_calloc3((size_t)nn, sizeof *n->live, 1);
    n->shape = cc_calloc3((size_t)nn, sizeof *n->shape, 1);
    n->cap = cc_calloc3((size_t)nn, sizeof *n->cap, 1);
    n->out = cc_calloc3((size_t)nn, sizeof *n->out, 1);
    n->aux = cc_calloc3((size_t)nn, sizeof *n->aux, 1);
    n->grad = cc_calloc3((size_t)nn, sizeof *n->grad, 1);
    n->gset = cc_calloc3((size_t)nn, sizeof *n->gset, 1);
    n->parr = cc_calloc3((size_t)nn * 2, sizeof *n->parr, 1);
    n->off_a = cc_calloc3((size_t)nn, sizeof *n->off_a, 1);
    n->off_b = cc_calloc3((size_t)nn, sizeof *n->off_b, 1);
    if (!n->live || !n->shape || !n->cap || !n->out || !n->aux || !n->grad || !n->gset ||
        !n->parr || !n->off_a || !n->off_b) {
        st = cc_error_set(CC_ERR_NOMEM, "train: out of memory");
        goto fail;
    }
    /* liveness and shapes at the maximum batch: the engine's plan */
    cc_nn_plan plan;
    if ((st = cc_nn_plan_make_unfused(m, max_b, max_h, max_w, &plan)) != CC_OK)
        goto fail;
    memcpy(n->live, plan.live, (size_t)nn * sizeof *n->live);
    memcpy(n->shape, plan.shape, (size_t)nn * sizeof *n->shape);
    cc_nn_plan_free(&plan);
    for (int i = 0; i < nn; i++)
        if (n->live[i] && (st = check_node(m, i)) != CC_OK)
            goto fail;
    if (!n->live[0] || m->nodes[0].op != CC_OP_INPUT || m->input.nchannels != m->nodes[0].cout) {
        st = cc_error_set(CC_ERR_ARG, "train: node 0 must be the input node the output reads");
        goto fail;
    }
    for (int i = 0; i < nn; i++) {
        if (!n->live[i])
            continue;
        const cc_nn_node *nd = &m->nodes[i];
        n->cap[i] = numel(n->shape[i]);
        n->out[i] = cc_train_falloc(n->cap[i]);
        n->grad[i] = cc_train_falloc(n->cap[i]);
        if (!n->out[i] || !n->grad[i]) {
            st = CC_ERR_NOMEM;
            goto fail;
        }
        if (has_act(nd->op) && act_aux(nd->act) && !(n->aux[i] = cc_train_falloc(n->cap[i]))) {
            st = CC_ERR_NOMEM;
            goto fail;
        }
    }
    n->rho_cap = n->cap[0];
    if (!(n->rho_grad = cc_train_falloc(n->rho_cap))) {
        st = CC_ERR_NOMEM;
        goto fail;
    }
    /* parameters, canonical order */
    for (int i = 0; i < nn; i++) {
        cc_nn_node *nd = &m->nodes[i];
        n->off_a[i] = n->off_b[i] = SIZE_MAX;
        const size_t cin = (size_t)node_cin(m, nd), co = (size_t)nd->cout;
        if (nd->op == CC_OP_CONV2D || nd->op == CC_OP_CONV1D_TIME) {
            const size_t taps = nd->op == CC_OP_CONV2D ? (size_t)nd->kernel * (size_t)nd->kernel
                                                       : (size_t)nd->kernel;
            add_param(n, nd->weight, co * taps * cin, 1, &n->off_a[i]);
            add_param(n, nd->bias, co, 0, &n->off_b[i]);
        } else if (nd->op == CC_OP_AFFINE) {
            add_param(n, nd->scale, co, 0, &n->off_a[i]);
            add_param(n, nd->shift, co, 0, &n->off_b[i]);
        }
    }
    if (!(n->grads = cc_train_falloc(n->nparams))) {
        st = CC_ERR_NOMEM;
        goto fail;
    }
    cc_train_gemm_init();
    *out = n;
    return CC_OK;
fail:
    cc_train_net_free(n);
    return st;
}

cc_status cc_train_net_use_cuda(cc_train_net *n, int device)
{
    if (!n)
        return cc_error_set(CC_ERR_ARG, "train: NULL net");
    cc_cuda_train *t = NULL;
    if (device >= 0) {
        cc_status st = cc_cuda_train_create(device, &t);
        if (st != CC_OK)
            return st; /* the net stays as it was */
    }
    cc_cuda_train_free(n->gpu);
    n->gpu = t;
    n->engine[0] = 0;
    return CC_OK;
}

const char *cc_train_net_engine(cc_train_net *n)
{
    if (!n->engine[0]) {
        if (n->gpu)
            snprintf(n->engine, sizeof n->engine, "cuda (%s): conv2d backward GEMMs; forward, "
                     "other ops and AdamW on the cpu", cc_cuda_train_name(n->gpu));
        else
            snprintf(n->engine, sizeof n->engine, "cpu (%s)", cc_train_kernel_name());
    }
    return n->engine;
}

size_t cc_train_nparams(const cc_train_net *n)
{
    return n ? n->nparams : 0;
}

void cc_train_get_params(const cc_train_net *n, float *dst)
{
    size_t o = 0;
    for (int k = 0; k < n->nparr; k++) {
        memcpy(dst + o, n->parr[k].p, n->parr[k].n * sizeof(float));
        o += n->parr[k].n;
    }
}

void cc_train_set_params(cc_train_net *n, const float *src)
{
    size_t o = 0;
    for (int k = 0; k < n->nparr; k++) {
        memcpy(n->parr[k].p, src + o, n->parr[k].n * sizeof(float));
        o += n->parr[k].n;
    }
}

float *cc_train_grads(cc_train_net *n)
{
    return n->grads;
}

void cc_train_zero_grads(cc_train_net *n)
{
    memset(n->grads, 0, n->nparams * sizeof(float));
}

const float *cc_train_input_grad(const cc_train_net *n)
{
    return n && n->have_bwd ? n->rho_grad : NULL;
}

const float *cc_train_activation(const cc_train_net *n, int node, int shape[4])
{
    if (!n || !n->have_fwd || node < 0 || node >= n->nn || !n->live[node])
        return NULL;
    if (shape)
        memcpy(shape, n->shape[node], sizeof n->shape[node]);
    return n->out[node];
}

/* ------------------------------------------------------------------------- */
/* forward: the inference engine's plan and CPU ops                           */
/* ------------------------------------------------------------------------- */
cc_status cc_train_forward(cc_train_net *n, int b, int h, int w, const float *rho, const float **out)
{
    if (!n || !rho || !out)
        return cc_error_set(CC_ERR_ARG, "train forward: NULL argument");
    cc_nn_model *m = n->m;
    n->have_fwd = n->have_bwd = 0;
    if (b < 1 || h < 1 || w < 1)
        return cc_error_set(CC_ERR_ARG, "train forward: batch %dx%dx%d must be >= 1", b, h, w);
    if (h % m->size_multiple || w % m->size_multiple)
        return cc_error_set(CC_ERR_ARG,
                            "train forward: H, W (%dx%d) must be multiples of %d (model pooling)",
                            h, w, m->size_multiple);
    cc_nn_plan plan;
    cc_status st = cc_nn_plan_make_unfused(m, b, h, w, &plan);
    if (st != CC_OK)
        return st;
    for (int i = 0; i < n->nn && st == CC_OK; i++)
        if (n->live[i] && cc_nn_plan_numel(&plan, i) > n->cap[i])
            st = cc_error_set(CC_ERR_ARG,
                              "train forward: batch %dx%dx%d larger than the maximum %dx%dx%d "
                              "given to cc_train_net_create (node '%s' needs %zu floats, "
                              "room for %zu)",
                              b, h, w, n->max_b, n->max_h, n->max_w, m->nodes[i].name,
                              cc_nn_plan_numel(&plan, i), n->cap[i]);
    if (st == CC_OK) {
        memcpy(n->shape, plan.shape, (size_t)n->nn * sizeof *n->shape);
        st = cc_nn_cpu_run_unfused(m, &plan, rho, n->out, n->aux);
    }
    cc_nn_plan_free(&plan);
    if (st != CC_OK)
        return st;
    n->b = b;
    n->h = h;
    n->w = w;
    n->have_fwd = 1;
    *out = n->out[m->output_node];
    return CC_OK;
}

/* ------------------------------------------------------------------------- */
/* backward                                                                   */
/* ------------------------------------------------------------------------- */
/* Adds (or writes, first time) src into node in's gradient. */
static void grad_add(cc_train_net *n, int in, const float *src, size_t e)
{
    float *d = n->grad[in];
    if (n->gset[in]) {
        for (size_t k = 0; k < e; k++)
            d[k] += src[k];
    } else {
        memcpy(d, src, e * sizeof(float));
        n->gset[in] = 1;
    }
}

cc_status cc_train_backward(cc_train_net *n, const float *dout)
{
    if (!n || !dout)
        return cc_error_set(CC_ERR_ARG, "train backward: NULL argument");
    if (!n->have_fwd)
        return cc_error_set(CC_ERR_ARG, "train backward: no forward pass to differentiate");
    cc_nn_model *m = n->m;
    cc_status st;
    memset(n->gset, 0, (size_t)n->nn * sizeof *n->gset);
    const size_t nrho = numel(n->shape[0]);
    memset(n->rho_grad, 0, nrho * sizeof(float));
    for (int i = n->nn - 1; i >= 0; i--) {
        if (!n->live[i])
            continue;
        const cc_nn_node *nd = &m->nodes[i];
        const size_t e = numel(n->shape[i]);
        const int C = n->shape[i][3];
        const size_t npix = e / (size_t)C;
        float *g = n->grad[i];
        if (i == m->output_node) {
            /* OUTPUT: d/dx = dout*scale; residual: d/drho += dout */
            const int in = nd->inputs[0], nin = m->input.nchannels;
            float *gx = n->grad[in];
            const int set = n->gset[in];
            for (size_t p = 0; p < npix; p++)
                for (int c = 0; c < C; c++) {
                    const float d = dout[p * C + c];
                    const float v = nd->scale ? d * nd->scale[c] : d;
                    gx[p * C + c] = set ? gx[p * C + c] + v : v;
                    const int rc = nd->residual_channel[c];
                    if (rc >= 0)
                        n->rho_grad[p * nin + rc] += d;
                }
            n->gset[in] = 1;
            continue;
        }
        if (!n->gset[i]) /* cannot happen for a live node, but stay defined */
            memset(g, 0, e * sizeof(float));
        if (has_act(nd->op) && !(nd->op == CC_OP_CONV2D && is_pointwise(nd)))
            cc_train_act_bwd_par(nd->act, nd->alpha, n->out[i], n->aux[i], g, e);
        const int in = nd->ninputs > 0 ? nd->inputs[0] : -1;
        switch (nd->op) {
        case CC_OP_INPUT: {
            const float *sd = m->input.std;
            for (size_t p = 0; p < npix; p++)
                for (int c = 0; c < C; c++)
                    n->rho_grad[p * C + c] += g[p * C + c] / sd[c];
            break;
        }
        case CC_OP_CONV2D:
            st = n->gpu ? cc_train_conv2d_bwd_gpu(n, i, g, n->grad[in], n->gset[in])
                        : cc_train_conv2d_bwd(n, i, g, n->grad[in], n->gset[in]);
            if (st != CC_OK)
                return st;
            n->gset[in] = 1;
            break;
        case CC_OP_CONV1D_TIME:
            cc_train_conv1d_bwd(n, i, g, n->grad[in], n->gset[in]);
            n->gset[in] = 1;
            break;
        case CC_OP_AFFINE:
            if ((st = cc_train_affine_bwd(n, i, g)) != CC_OK)
                return st;
            if (nd->scale) {
                float *gx = n->grad[in];
                const int set = n->gset[in];
#pragma omp parallel for schedule(static) if(par_worth((size_t)(npix), (size_t)C))
                for (size_t p = 0; p < npix; p++)
                    for (int c = 0; c < C; c++) {
                        const float v = g[p * C + c] * nd->scale[c];
                        gx[p * C + c] = set ? gx[p * C + c] + v : v;
                    }
                n->gset[in] = 1;
            } else {
                grad_add(n, in, g, e);
            }
            break;
        case CC_OP_ACT: grad_add(n, in, g, e); break;
        case CC_OP_ADD:
            grad_add(n, nd->inputs[0], g, e);
            grad_add(n, nd->inputs[1], g, e);
            break;
        case CC_OP_CONCAT: {
            int off = 0;
            for (int k = 0; k < nd->ninputs; k++) {
                const int ik = nd->inputs[k], ck = m->nodes[ik].cout;
                float *gk = n->grad[ik];
                const int set = n->gset[ik];
                for (size_t p = 0; p < npix; p++)
                    for (int c = 0; c < ck; c++)
                        gk[p * ck + c] = set ? gk[p * ck + c] + g[p * C + off + c]
                                             : g[p * C + off + c];
                n->gset[ik] = 1;
                off += ck;
            }
            break;
        }
        case CC_OP_AVGPOOL2:
        case CC_OP_MAXPOOL2:
            cc_train_pool_bwd(n, i, g, n->grad[in], n->gset[in]);
            n->gset[in] = 1;
            break;
        case CC_OP_UPSAMPLE2_NEAREST:
        case CC_OP_UPSAMPLE2_BILINEAR:
            cc_train_upsample_bwd(n, i, g, n->grad[in], n->gset[in]);
            n->gset[in] = 1;
            break;
        default:
            return cc_error_set(CC_ERR_UNSUPPORTED, "train: node '%s' (%s): no backward pass",
                                nd->name, cc_op_name(nd->op));
        }
    }
    n->have_bwd = 1;
    return CC_OK;
}

