/* core/blockq: the bounded queue of decoded blocks (the reference's reader
 * thread). With and without the reader thread: the blocks come in index
 * order, each exactly once, with the content its fill wrote; at most `cap`
 * blocks are ever filled or waiting; a failing fill is reported after the
 * blocks before it, with its message; stopping early joins the reader; a
 * slow consumer and a slow reader give the same sequence. */
#define _POSIX_C_SOURCE 200809L
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "core/blockq.h"
#include "testutil.h"

#define LEN 64

typedef struct {
    atomic_int held;   /* slots filled or being filled, not yet released */
    atomic_int max_held;
    long fail_at;      /* -1: never */
    int slow_fill;
} fill_ctx;

static void nap(void)
{
    struct timespec t = {0, 200000};
    nanosleep(&t, NULL);
}

static cc_status fill(void *vc, long i, void *slot)
{
    fill_ctx *c = vc;
    int h = atomic_fetch_add(&c->held, 1) + 1;
    int m = atomic_load(&c->max_held);
    while (h > m && !atomic_compare_exchange_weak(&c->max_held, &m, h))
        ;
    if (c->slow_fill)
        nap();
    if (i == c->fail_at) {
        atomic_fetch_sub(&c->held, 1);
        return cc_error_set(CC_ERR_IO, "block %ld: cannot decode", i);
    }
    long *v = slot;
    for (int k = 0; k < LEN; k++)
        v[k] = i * 1000 + k;
    return CC_OK;
}

/* Runs n blocks through a queue of cap slots; returns the number taken in
 * order with the right content, and the final status in *st. */
static long run(int cap, long n, int threaded, long fail_at, int slow_fill, int slow_take, long stop_after,
                cc_status *st_out, int *max_held)
{
    long buf[16][LEN];
    void *slots[16];
    for (int s = 0; s < cap; s++)
        slots[s] = buf[s];
    fill_ctx c = {.fail_at = fail_at, .slow_fill = slow_fill};
    atomic_init(&c.held, 0);
    atomic_init(&c.max_held, 0);
    cc_blockq *q = NULL;
    cc_status st = cc_blockq_start(slots, cap, n, threaded, fill, &c, &q);
    long good = 0;
    while (st == CC_OK && (stop_after < 0 || good < stop_after)) {
        long i;
        void *slot;
        st = cc_blockq_next(q, &i, &slot);
        if (st != CC_OK)
            break;
        const long *v = slot;
        int ok = i == good;
        for (int k = 0; k < LEN; k++)
            ok &= v[k] == i * 1000 + k;
        CHECK(ok);
        good += ok;
        if (slow_take)
            nap();
        atomic_fetch_sub(&c.held, 1);
        cc_blockq_release(q, slot);
    }
    cc_blockq_free(q);
    *st_out = st;
    *max_held = atomic_load(&c.max_held);
    return good;
}

int main(void)
{
    cc_status st;
    int mh;
    for (int threaded = 0; threaded <= 1; threaded++)
        for (int cap = 1; cap <= 4; cap++)
            for (int slow = 0; slow < 3; slow++) {
                long got = run(cap, 57, threaded, -1, slow == 1, slow == 2, -1, &st, &mh);
                CHECK(got == 57);
                CHECK(st == CC_ERR_NODATA);
                CHECK(mh <= cap);
                if (threaded && cap > 1 && slow == 2)
                    CHECK(mh >= 2); /* the reader did fill ahead of a slow consumer */
            }
    /* an empty queue */
    CHECK(run(2, 0, 1, -1, 0, 0, -1, &st, &mh) == 0);
    CHECK(st == CC_ERR_NODATA);
    /* a failing block: the ones before it, then its error and message */
    for (int threaded = 0; threaded <= 1; threaded++) {
        long got = run(3, 40, threaded, 17, 0, 0, -1, &st, &mh);
        CHECK(got == 17);
        CHECK(st == CC_ERR_IO);
        CHECK(strstr(cc_error_message(), "block 17: cannot decode") != NULL);
    }
    /* the consumer stops early: free joins a reader that is waiting for a slot */
    for (int threaded = 0; threaded <= 1; threaded++) {
        long got = run(2, 1000, threaded, -1, 0, 0, 5, &st, &mh);
        CHECK(got == 5 && st == CC_OK);
    }
    /* bad arguments */
    cc_blockq *q = NULL;
    void *one[1] = {NULL};
    CHECK(cc_blockq_start(one, 0, 5, 1, fill, NULL, &q) == CC_ERR_ARG && !q);
    CHECK(cc_blockq_start(one, 1, 5, 1, NULL, NULL, &q) == CC_ERR_ARG && !q);
    TEST_RETURN();
}
