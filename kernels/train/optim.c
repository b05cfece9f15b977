/* clearcube: the losses, the AdamW optimiser, the learning-rate schedule and
 * the initialisation of training (kernels/train/train.h). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/alloc.h"
#include "kernels/train/train-impl.h"

double cc_train_loss(cc_loss_kind kind, double delta, size_t n, const float *y, const float *t,
                     const float *w, float *grad)
{
    double sw = 0.0, sl = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double wi = w ? (double)w[i] : 1.0;
        sw += wi;
        if (wi == 0.0)
            continue;
        const double r = (double)y[i] - (double)t[i];
        double f;
        switch (kind) {
        case CC_LOSS_L1: f = fabs(r); break;
        case CC_LOSS_HUBER: f = fabs(r) <= delta ? 0.5 * r * r : delta * (fabs(r) - 0.5 * delta); break;
        default: f = r * r; break;
        }
        sl += wi * f;
    }
    if (!(sw > 0.0)) {
        if (grad)
            memset(grad, 0, n * sizeof(float));
        return 0.0;
    }
    if (grad)
        for (size_t i = 0; i < n; i++) {
            const double wi = w ? (double)w[i] : 1.0;
            const double r = (double)y[i] - (double)t[i];
            double d;
            switch (kind) {
            case CC_LOSS_L1: d = r > 0.0 ? 1.0 : (r < 0.0 ? -1.0 : 0.0); break;
            case CC_LOSS_HUBER: d = fabs(r) <= delta ? r : (r > 0.0 ? delta : -delta); break;
            default: d = 2.0 * r; break;
            }
            grad[i] = wi == 0.0 ? 0.0f : (float)(wi * d / sw);
        }
    return sl / sw;
}

void cc_adamw_options_init(cc_adamw_options *o)
{
    o->lr = 1e-3;
    o->beta1 = 0.9;
    o->beta2 = 0.999;
    o->eps = 1e-8;
    o->weight_decay = 0.0;
}

cc_status cc_adamw_init(cc_adamw_state *s, size_t n)
{
    memset(s, 0, sizeof *s);
    s->m = cc_calloc3(n ? n : 1, sizeof(float), 1);
    s->v = cc_calloc3(n ? n : 1, sizeof(float), 1);
    if (!s->m || !s->v) {
        cc_adamw_free(s);
        return cc_error_set(CC_ERR_NOMEM, "adamw: out of memory (%zu parameters)", n);
    }
    s->n = n;
    return CC_OK;
}

void cc_adamw_free(cc_adamw_state *s)
{
    if (!s)
        return;
    free(s->m);
    free(s->v);
    s->m = s->v = NULL;
    s->n = 0;
    s->step = 0;
}

cc_status cc_train_adamw_step(cc_train_net *n, cc_adamw_state *s, const cc_adamw_options *o,
                              const float *g)
{
    if (!n || !s || !o || !g || !s->m || !s->v)
        return cc_error_set(CC_ERR_ARG, "adamw: NULL argument");
    if (s->n != n->nparams)
        return cc_error_set(CC_ERR_ARG, "adamw: state has %zu parameters, the net %zu", s->n,
                            n->nparams);
    s->step++;
    const double b1 = o->beta1, b2 = o->beta2, lr = o->lr;
    const double bc1 = 1.0 - pow(b1, (double)s->step), bc2 = 1.0 - pow(b2, (double)s->step);
    const double step_size = lr / bc1, sbc2 = sqrt(bc2);
    const double decay = 1.0 - lr * o->weight_decay;
    size_t off = 0;
    for (int k = 0; k < n->nparr; k++) {
        float *p = n->parr[k].p;
        const int dec = n->parr[k].decay && o->weight_decay != 0.0;
        for (size_t j = 0; j < n->parr[k].n; j++) {
            const size_t q = off + j;
            const double gj = g[q];
            double pj = p[j];
            if (dec)
                pj *= decay;
            const double mj = b1 * (double)s->m[q] + (1.0 - b1) * gj;
            const double vj = b2 * (double)s->v[q] + (1.0 - b2) * gj * gj;
            s->m[q] = (float)mj;
            s->v[q] = (float)vj;
            pj -= step_size * mj / (sqrt(vj) / sbc2 + o->eps);
            p[j] = (float)pj;
        }
        off += n->parr[k].n;
    }
    return CC_OK;
}

double cc_train_lr(long step, long total, long warmup, double lr_max, double lr_min)
{
    if (step < 0)
        step = 0;
    if (warmup > 0 && step < warmup)
        return lr_max * (double)step / (double)warmup;
    if (total <= warmup || step >= total)
        return step >= total ? lr_min : lr_max;
    const double t = (double)(step - warmup) / (double)(total - warmup);
    return lr_min + 0.5 * (lr_max - lr_min) * (1.0 + cos(3.14159265358979323846 * t));
}

/* splitmix64 (Steele, Lea, Flood 2014). */
static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

void cc_train_init_params(cc_nn_model *m, unsigned long long seed)
{
    uint64_t s = (uint64_t)seed;
    for (int i = 0; i < m->nnodes; i++) {
        cc_nn_node *nd = &m->nodes[i];
        const size_t cin = (size_t)node_cin(m, nd), co = (size_t)nd->cout;
        if (nd->op == CC_OP_CONV2D || nd->op == CC_OP_CONV1D_TIME) {
            const size_t taps = nd->op == CC_OP_CONV2D ? (size_t)nd->kernel * (size_t)nd->kernel
                                                       : (size_t)nd->kernel;
            const size_t fan_in = taps * cin, nw = co * fan_in;
            const double bound = sqrt(6.0 / (double)(fan_in ? fan_in : 1));
            if (nd->weight)
                for (size_t k = 0; k < nw; k++) {
                    /* uniform in [-bound, bound): top 53 bits */
                    const double u = (double)(splitmix64(&s) >> 11) * 0x1.0p-53;
                    nd->weight[k] = (float)((2.0 * u - 1.0) * bound);
                }
            if (nd->bias)
                memset(nd->bias, 0, co * sizeof(float));
        } else if (nd->op == CC_OP_AFFINE) {
            for (size_t k = 0; k < co; k++) {
                if (nd->scale)
                    nd->scale[k] = 1.0f;
                if (nd->shift)
                    nd->shift[k] = 0.0f;
            }
        }
    }
}

