/* clearcube run: the work items on rank 0 (an explicit --items list or a job
 * file's items, --share I/K) and their packing for the broadcast to all ranks. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/date.h"
#include "core/error.h"
#include "jobs/run/job.h"
#include "jobs/run/run-ctx.h"

static int sum_size_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw);
static double g_sum_size;
static int sum_size_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    if (flag == FTW_F)
        g_sum_size += (double)sb->st_size;
    return 0;
}

static double input_cost(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return 0;
    if (!S_ISDIR(sb.st_mode))
        return (double)sb.st_size;
    g_sum_size = 0;
    nftw(path, sum_size_cb, 16, FTW_PHYS);
    return g_sum_size;
}

static int cmp_items(const void *a, const void *b)
{
    const cc_job_item *x = a, *y = b;
    if (x->cost != y->cost)
        return x->cost > y->cost ? -1 : 1;
    return strcmp(x->id, y->id);
}

void cc_run_free_items(cc_job_item *items, int n)
{
    if (!items)
        return;
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < items[i].ninputs; k++)
            free(items[i].inputs[k]);
        free(items[i].inputs);
    }
    free(items);
}

static int valid_date(const char *d)
{
    int y, m, dd;
    return cc_date_parse_ymd(d, &y, &m, &dd);
}

/* Reads "ID TILE DATE INPUT [INPUT...]" lines. */
cc_status cc_run_load_item_list(const char *path, cc_job_item **out, int *nout)
{
    cc_status st = CC_ERR_FORMAT;
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    cc_job_item *items = NULL;
    int n = 0, ln = 0;
    *out = NULL;
    *nout = 0;
    if (!f)
        return cc_error_set(CC_ERR_IO, "%s: cannot open item list: %s", path, strerror(errno));
    while (getline(&line, &cap, f) > 0) {
        ln++;
        char *save = NULL, *tok[64];
        int nt = 0;
        char *h = strchr(line, '#');
        if (h)
            *h = 0;
        for (char *t = strtok_r(line, " \t\r\n", &save); t && nt < 64; t = strtok_r(NULL, " \t\r\n", &save))
            tok[nt++] = t;
        if (nt == 0)
            continue;
        if (nt < 4 || strlen(tok[0]) >= 64 || strlen(tok[1]) >= 8 || !valid_date(tok[2])) {
            st = cc_error_set(CC_ERR_FORMAT, "%s:%d: expected 'ID TILE YYYY-MM-DD INPUT'", path, ln);
            goto out;
        }
        for (const char *p = tok[0]; *p; p++)
            if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '-' || *p == '.')) {
                st = cc_error_set(CC_ERR_FORMAT, "%s:%d: item id '%s': use letters, digits, _ - .",
                                  path, ln, tok[0]);
                goto out;
            }
        cc_job_item *ni = realloc(items, (size_t)(n + 1) * sizeof *ni);
        if (!ni) {
            st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
            goto out;
        }
        items = ni;
        cc_job_item *it = &items[n++];
        memset(it, 0, sizeof *it);
        snprintf(it->id, sizeof it->id, "%s", tok[0]);
        snprintf(it->tile_id, sizeof it->tile_id, "%s", tok[1]);
        snprintf(it->date, sizeof it->date, "%s", tok[2]);
        it->inputs = calloc((size_t)(nt - 3), sizeof *it->inputs);
        if (!it->inputs) {
            st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
            goto out;
        }
        for (int k = 3; k < nt; k++) {
            if (!(it->inputs[it->ninputs] = strdup(tok[k]))) {
                st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
                goto out;
            }
            it->ninputs++;
            it->cost += input_cost(tok[k]);
        }
    }
    for (int i = 0; i < n; i++)
        for (int k = i + 1; k < n; k++)
            if (!strcmp(items[i].id, items[k].id)) {
                st = cc_error_set(CC_ERR_FORMAT, "%s: item id '%s' appears twice", path, items[i].id);
                goto out;
            }
    if (n == 0) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: no items", path);
        goto out;
    }
    qsort(items, (size_t)n, sizeof *items, cmp_items);
    *out = items;
    *nout = n;
    items = NULL;
    st = CC_OK;
out:
    cc_run_free_items(items, n);
    free(line);
    fclose(f);
    return st;
}

/* Packs items as NUL-separated strings: id, tile, date, cost, ninputs, inputs... */
char *cc_run_pack_items(const cc_job_item *items, int n, long *len)
{
    size_t cap = 1024, off = 0;
    char *b = malloc(cap);
    for (int i = 0; b && i < n; i++) {
        char num[64];
        const char *f[4] = {items[i].id, items[i].tile_id, items[i].date, num};
        snprintf(num, sizeof num, "%.17g %d", items[i].cost, items[i].ninputs);
        for (int k = 0; k < 4 + items[i].ninputs; k++) {
            const char *s = k < 4 ? f[k] : items[i].inputs[k - 4];
            size_t sl = strlen(s) + 1;
            if (off + sl > cap) {
                while (off + sl > cap)
                    cap *= 2;
                char *nb = realloc(b, cap);
                if (!nb) {
                    free(b);
                    return NULL;
                }
                b = nb;
            }
            memcpy(b + off, s, sl);
            off += sl;
        }
    }
    *len = (long)off;
    return b;
}

cc_status cc_run_unpack_items(const char *b, long len, int n, cc_job_item **out)
{
    cc_job_item *items = calloc((size_t)n, sizeof *items);
    const char *p = b, *end = b + len;
    if (!items)
        return cc_error_set(CC_ERR_NOMEM, "run: out of memory");
    for (int i = 0; i < n && p < end; i++) {
        snprintf(items[i].id, sizeof items[i].id, "%s", p);
        p += strlen(p) + 1;
        snprintf(items[i].tile_id, sizeof items[i].tile_id, "%s", p);
        p += strlen(p) + 1;
        snprintf(items[i].date, sizeof items[i].date, "%s", p);
        p += strlen(p) + 1;
        int ni = 0;
        sscanf(p, "%lf %d", &items[i].cost, &ni);
        p += strlen(p) + 1;
        items[i].inputs = calloc((size_t)(ni ? ni : 1), sizeof *items[i].inputs);
        if (!items[i].inputs) {
            cc_run_free_items(items, n);
            return cc_error_set(CC_ERR_NOMEM, "run: out of memory");
        }
        for (int k = 0; k < ni; k++) {
            items[i].inputs[k] = strdup(p);
            items[i].ninputs++;
            p += strlen(p) + 1;
        }
    }
    *out = items;
    return CC_OK;
}

cc_status cc_run_load_job(run_ctx *c, cc_job *job, char ***owned)
{
    cc_status st = cc_job_load(c->o.job_path, job);
    if (st != CC_OK)
        return st;
    cc_job_item *ji = NULL;
    int nji = 0;
    if ((st = cc_job_items_noted(job, &ji, &nji, &c->notes)) != CC_OK)
        return st;
    /* a deep copy in this file's allocation (freed with cc_run_free_items) */
    long plen = 0;
    char *p = cc_run_pack_items(ji, nji, &plen);
    cc_job_items_free(ji, nji);
    if (!p)
        return cc_error_set(CC_ERR_NOMEM, "run: out of memory");
    st = cc_run_unpack_items(p, plen, nji, &c->items);
    free(p);
    if (st != CC_OK)
        return st;
    c->nitems = nji;
    if (nji == 0)
        return cc_error_set(CC_ERR_MISSING, "%s: the job has no work items (check catalogues, area, dates)",
                            c->o.job_path);
    if (!c->o.output_dir)
        c->o.output_dir = job->output_dir;
    c->o.product = job->product;
    c->o.model = job->model_path;
    if (!c->o.device)
        c->o.device = job->device;
    if (!c->o.layout)
        c->o.layout = job->layout;
    if (isnan(c->o.timeout_s) && job->item_timeout_s > 0)
        c->o.timeout_s = job->item_timeout_s;
    if (c->o.retries < 0)
        c->o.retries = job->max_retries;
    /* the job's product options become the items' command-line options */
    if (!c->o.extra) {
        const char *names[3] = {"--aot", "--water-vapour", "--elevation"};
        double vals[3] = {job->aot, job->water_vapour, job->elevation};
        char **ex = calloc(7, sizeof *ex);
        int n = 0;
        for (int k = 0; ex && k < 3; k++) {
            if (isnan(vals[k]))
                continue;
            char b[64];
            snprintf(b, sizeof b, "%.17g", vals[k]);
            ex[n++] = strdup(names[k]);
            ex[n++] = strdup(b);
        }
        *owned = ex;
        c->o.extra = ex;
        c->o.nextra = n;
    }
    /* limits.memory_limit_mb: every item's --memory-limit (core/alloc.h) */
    if (job->memory_limit_mb > 0) {
        char **ex = calloc((size_t)c->o.nextra + 3, sizeof *ex), b[64];
        if (!ex)
            return cc_error_set(CC_ERR_NOMEM, "run: out of memory");
        for (int k = 0; k < c->o.nextra; k++)
            ex[k] = strdup(c->o.extra[k]);
        snprintf(b, sizeof b, "%.0fM", job->memory_limit_mb);
        ex[c->o.nextra] = strdup("--memory-limit");
        ex[c->o.nextra + 1] = strdup(b);
        cc_run_free_strv(*owned);
        *owned = ex;
        c->o.extra = ex;
        c->o.nextra += 2;
    }
    return CC_OK;
}

/* --share I/K: keeps the items of every K-th tile, counting tiles in order of
 * first appearance in the (deterministic, largest first) item order, from I;
 * whole tiles, so that each share writes complete tile cubes. The share is an
 * independent run (own journal, report, cubes) in DIR/share-I-of-K. */
cc_status cc_run_apply_share(run_ctx *c)
{
    int n = c->nitems, kept = 0, ntiles = 0;
    char(*seen)[sizeof c->items[0].tile_id] = calloc((size_t)n + 1, sizeof *seen);
    if (!seen)
        return cc_error_set(CC_ERR_NOMEM, "run: out of memory");
    for (int i = 0; i < n; i++) {
        cc_job_item *it = &c->items[i];
        int t = 0;
        while (t < ntiles && strcmp(seen[t], it->tile_id) != 0)
            t++;
        if (t == ntiles)
            memcpy(seen[ntiles++], it->tile_id, sizeof seen[0]);
        if (t % c->o.share_k == c->o.share_i) {
            c->items[kept++] = *it;
        } else {
            for (int k = 0; k < it->ninputs; k++)
                free(it->inputs[k]);
            free(it->inputs);
        }
    }
    free(seen);
    c->nitems = kept;
    fmt_buf(c->o.share_dir, sizeof c->o.share_dir, "%s/share-%d-of-%d", c->o.output_dir,
            c->o.share_i, c->o.share_k);
    c->o.output_dir = c->o.share_dir;
    if (kept == 0)
        return cc_error_set(CC_ERR_ARG, "run: --share %d/%d: no tiles in this share (%d tiles in all)",
                            c->o.share_i, c->o.share_k, ntiles);
    return CC_OK;
}
