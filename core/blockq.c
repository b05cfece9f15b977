/* A bounded queue of blocks filled in order by a reader thread (core/blockq.h). */
#define _POSIX_C_SOURCE 200809L
#include "core/blockq.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BQ_MAXCAP 16

struct cc_blockq {
    void *slot[BQ_MAXCAP];
    int cap, threaded, started;
    long n;
    cc_blockq_fill_fn fill;
    void *ctx;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t th;
    int is_free[BQ_MAXCAP];
    int ready[BQ_MAXCAP]; /* FIFO of filled slots, block order */
    int rhead, rcount;
    long next_fill, next_take;
    int quit;
    cc_status err;
    char msg[1024];
    double fill_s, wait_s;
};

static double bq_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int take_free(cc_blockq *q)
{
    for (int s = 0; s < q->cap; s++)
        if (q->is_free[s]) {
            q->is_free[s] = 0;
            return s;
        }
    return -1;
}

/* Fills block i into slot s (lock not held); records an error. */
static cc_status bq_fill(cc_blockq *q, long i, int s)
{
    double t0 = bq_now();
    cc_status st = q->fill(q->ctx, i, q->slot[s]);
    double dt = bq_now() - t0;
    pthread_mutex_lock(&q->mu);
    q->fill_s += dt;
    if (st != CC_OK && q->err == CC_OK) {
        q->err = st;
        snprintf(q->msg, sizeof q->msg, "%s", cc_error_message());
    }
    pthread_mutex_unlock(&q->mu);
    return st;
}

static void *bq_reader(void *arg)
{
    cc_blockq *q = arg;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        int s = -1;
        while (!q->quit && q->err == CC_OK && q->next_fill < q->n && (s = take_free(q)) < 0)
            pthread_cond_wait(&q->cv, &q->mu);
        if (q->quit || q->err != CC_OK || q->next_fill >= q->n) {
            if (s >= 0)
                q->is_free[s] = 1;
            break;
        }
        long i = q->next_fill++;
        pthread_mutex_unlock(&q->mu);
        cc_status st = bq_fill(q, i, s);
        pthread_mutex_lock(&q->mu);
        if (st != CC_OK)
            q->is_free[s] = 1;
        else
            q->ready[(q->rhead + q->rcount++) % q->cap] = s;
        pthread_cond_broadcast(&q->cv);
        if (st != CC_OK)
            break;
    }
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

cc_status cc_blockq_start(void *const *slots, int cap, long n, int threaded, cc_blockq_fill_fn fill, void *ctx,
                          cc_blockq **out)
{
    *out = NULL;
    if (!slots || cap < 1 || cap > BQ_MAXCAP || n < 0 || !fill)
        return cc_error_set(CC_ERR_ARG, "blockq: bad arguments (%d slots, %ld blocks)", cap, n);
    cc_blockq *q = calloc(1, sizeof *q);
    if (!q)
        return cc_error_set(CC_ERR_NOMEM, "blockq: out of memory");
    for (int s = 0; s < cap; s++) {
        q->slot[s] = slots[s];
        q->is_free[s] = 1;
    }
    q->cap = cap;
    q->n = n;
    q->threaded = threaded;
    q->fill = fill;
    q->ctx = ctx;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    if (threaded) {
        if (pthread_create(&q->th, NULL, bq_reader, q) != 0) {
            pthread_mutex_destroy(&q->mu);
            pthread_cond_destroy(&q->cv);
            free(q);
            return cc_error_set(CC_ERR_IO, "blockq: cannot start the reader thread");
        }
        q->started = 1;
    }
    *out = q;
    return CC_OK;
}

cc_status cc_blockq_next(cc_blockq *q, long *index, void **slot)
{
    *slot = NULL;
    *index = -1;
    pthread_mutex_lock(&q->mu);
    if (!q->threaded) {
        cc_status err = q->err;
        long i = q->next_take;
        int s = err == CC_OK && i < q->n ? take_free(q) : -1;
        if (err == CC_OK && i < q->n && s < 0)
            err = q->err = cc_error_set(CC_ERR_INTERNAL, "blockq: no free slot (every slot is still taken)");
        pthread_mutex_unlock(&q->mu);
        if (err != CC_OK)
            return cc_error_set(err, "%s", q->msg[0] ? q->msg : cc_error_message());
        if (i >= q->n)
            return CC_ERR_NODATA;
        cc_status st = bq_fill(q, i, s);
        pthread_mutex_lock(&q->mu);
        if (st != CC_OK)
            q->is_free[s] = 1;
        else
            q->next_take++;
        pthread_mutex_unlock(&q->mu);
        if (st != CC_OK)
            return cc_error_set(st, "%s", q->msg);
        *index = i;
        *slot = q->slot[s];
        return CC_OK;
    }
    double t0 = bq_now();
    while (q->rcount == 0 && q->err == CC_OK && q->next_take < q->n)
        pthread_cond_wait(&q->cv, &q->mu);
    q->wait_s += bq_now() - t0;
    cc_status st = CC_OK;
    if (q->rcount > 0) {
        int s = q->ready[q->rhead];
        q->rhead = (q->rhead + 1) % q->cap;
        q->rcount--;
        *index = q->next_take++;
        *slot = q->slot[s];
    } else if (q->next_take >= q->n) {
        st = CC_ERR_NODATA;
    } else {
        st = q->err;
    }
    pthread_mutex_unlock(&q->mu);
    if (st != CC_OK && st != CC_ERR_NODATA)
        cc_error_set(st, "%s", q->msg);
    return st;
}

void cc_blockq_release(cc_blockq *q, void *slot)
{
    pthread_mutex_lock(&q->mu);
    for (int s = 0; s < q->cap; s++)
        if (q->slot[s] == slot)
            q->is_free[s] = 1;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

void cc_blockq_times(const cc_blockq *q, double *fill_s, double *wait_s)
{
    cc_blockq *m = (cc_blockq *)q;
    pthread_mutex_lock(&m->mu);
    if (fill_s)
        *fill_s = q->fill_s;
    if (wait_s)
        *wait_s = q->wait_s;
    pthread_mutex_unlock(&m->mu);
}

void cc_blockq_free(cc_blockq *q)
{
    if (!q)
        return;
    if (q->started) {
        pthread_mutex_lock(&q->mu);
        q->quit = 1;
        pthread_cond_broadcast(&q->cv);
        pthread_mutex_unlock(&q->mu);
        pthread_join(q->th, NULL);
    }
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    free(q);
}
