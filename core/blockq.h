/* clearcube: a bounded queue of blocks filled in order by a reader thread
 * (decode of the next block overlapping the compute of the current one).
 *
 * The caller owns `cap` slot buffers. Block i (0 .. n-1) is filled into a
 * free slot by fill(ctx, i, slot); the consumer takes the blocks strictly in
 * index order with cc_blockq_next and gives each slot back with
 * cc_blockq_release. With a reader thread at most `cap` blocks are filled or
 * waiting at any time; without one (threaded 0) cc_blockq_next fills the
 * block itself in the caller's thread, so both modes hand the consumer the
 * same blocks in the same order: the output never depends on timing.
 *
 * The first failing fill stops the reader: cc_blockq_next returns its status
 * with its message (in the caller's thread), after the blocks before it.
 * cc_blockq_free stops the reader (also in the middle of the blocks) and
 * joins it. */
#ifndef CC_CORE_BLOCKQ_H
#define CC_CORE_BLOCKQ_H

#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef cc_status (*cc_blockq_fill_fn)(void *ctx, long index, void *slot);

typedef struct cc_blockq cc_blockq;

/* slots[0 .. cap-1]: the buffers (borrowed; cap 1 .. 16). n: blocks in all.
 * threaded: 1 a reader thread fills ahead, 0 no thread. */
cc_status cc_blockq_start(void *const *slots, int cap, long n, int threaded, cc_blockq_fill_fn fill, void *ctx,
                          cc_blockq **out);
/* The next block in order: *index and *slot. CC_OK, or the fill's error;
 * CC_ERR_NODATA (no message) when all n were taken. */
cc_status cc_blockq_next(cc_blockq *q, long *index, void **slot);
/* Gives back the slot of a block taken by cc_blockq_next. */
void cc_blockq_release(cc_blockq *q, void *slot);
/* Seconds the reader spent filling and the consumer spent waiting. */
void cc_blockq_times(const cc_blockq *q, double *fill_s, double *wait_s);
/* Stops and joins the reader; NULL does nothing. */
void cc_blockq_free(cc_blockq *q);

#ifdef __cplusplus
}
#endif
#endif
