/* clearcube: the reference processor's streaming engine (reference_stream.c),
 * shared by cc_reference_run (whole rasters in memory) and
 * cc_reference_run_cube (a streamed cube). Private to pipeline/atmos. */
#ifndef CC_PIPELINE_ATMOS_REFERENCE_IMPL_H
#define CC_PIPELINE_ATMOS_REFERENCE_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "io/grid/grid.h"
#include "io/s2/scene.h"
#include "pipeline/atmos/context.h"
#include "pipeline/atmos/l2a_quality.h"
#include "pipeline/atmos/reference.h"

/* Rows per slab: the cube's chunk height, so that every chunk is written and
 * compressed once. */
#define REF_SLAB_ROWS 512
/* Rows per decoded block (the queue's unit; divides REF_SLAB_ROWS). */
#define REF_BLOCK_ROWS 128
/* Decoded blocks in flight (being decoded or waiting for the SMAC). */
#define REF_QUEUE_BLOCKS 3

typedef struct {
    const cc_scene *s;
    const cc_grid *g;
    const cc_reference_context *ctx;
    int nbands;                          /* output bands (present ones)        */
    int band[CC_L2A_NBANDS];             /* CC_B* of output band j             */
    int l2a[CC_L2A_NBANDS];              /* its index in cc_l2a_bands          */
    const cc_raster_u16 *src[CC_L2A_NBANDS];
    int factor[CC_L2A_NBANDS];           /* f >= 1: upsampled by f per row; 0:
                                            resampled[j] holds the whole grid  */
    uint16_t *resampled[CC_L2A_NBANDS];  /* owned, or NULL                     */
    double dn_offset;                    /* output L2A DN offset               */
    cc_l2a_cloudbits cb;                 /* the quality layer's cloud mask     */
    int cuda;                            /* SMAC on the current CUDA device    */
    int reader;                          /* decode in a reader thread          */
} ref_engine;

/* The sink of the slabs: rows [y0, y0+h) of the whole width, channels-last,
 * nbands + 2 layers (the bands, AOT, WVP). Called in slab order from one
 * thread (not the caller's). */
typedef cc_status (*ref_slab_fn)(void *ctx, int y0, int h, const uint16_t *data);

/* The bands of s that are L2A bands, each read row by row (aligned) or
 * resampled once by GDAL, and the cloud mask of the quality layer.
 * CC_ERR_MISSING when no band is present. */
cc_status ref_engine_init(ref_engine *e, const cc_scene *s, const cc_grid *g, const cc_reference_context *ctx);
void ref_engine_free(ref_engine *e);

/* Decodes blocks of REF_BLOCK_ROWS rows (the bands' DN and the per-pixel
 * context; OpenMP over rows; in a reader thread ahead of the SMAC when
 * e->reader, core/blockq.h), computes their SMAC (OpenMP over rows, or on
 * the GPU when e->cuda: pinned buffers, two streams, one block in flight
 * while the next is submitted) into slabs of REF_SLAB_ROWS rows, and hands
 * each slab to fn in a writer thread while the next one is computed. *n_valid: pixels with a valid band.
 * *compute_s, *write_s: seconds spent computing and (in the writer) writing. */
cc_status ref_engine_run(const ref_engine *e, ref_slab_fn fn, void *fctx, size_t *n_valid, double *compute_s,
                         double *write_s);

/* The quality values (l2a_quality.h) of rows [y0, y0+h) into q[(r * W + x)
 * * stride] from the engine's slab of those rows (nbands + 2 channels): nodata
 * where every band is 0, saturated where an input band's DN is 65535 at the
 * pixel, the cloud mask's bits (reference_quality.c). */
void ref_quality_rows(const ref_engine *e, int y0, int h, const uint16_t *slab, uint16_t *q, size_t stride);

#endif
