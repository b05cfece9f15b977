/* clearcube: streaming full-tile inference in overlapping windows (issue 3).
 *
 * A raster of any size is cut into CORE windows of `core` x `core` pixels in
 * raster order (row of windows by row of windows, west to east). Each core is
 * read with a HALO of H = model->halo rounded up to model->size_multiple on
 * every side, clipped at the raster edges; the model runs on the whole window
 * (cc_nn_run) and only the core goes to the sink. Three stages overlap: a
 * reader thread fills window i+1 while the calling thread computes window i
 * and a writer thread writes window i-1 (bounded queues of 2 windows each).
 *
 * Exactness (windowed == whole image, bit for bit). The reference is the
 * model run once on the whole raster, padded on the right and bottom to the
 * next multiple of size_multiple with nodata (DN 0), and cropped back:
 *   - a window is never extended beyond the raster: at the raster edges it is
 *     clipped, so the model's own padding (zero or reflect) applies there
 *     exactly as on the whole image; only the size_multiple padding on the
 *     right/bottom is filled with DN 0, as in the reference;
 *   - window origins are multiples of size_multiple (core and H are), so
 *     pooling cells line up with those of the whole image;
 *   - H >= model->halo, the receptive-field radius, so no core pixel sees the
 *     window's artificial border;
 *   - the CPU backend computes every output element in a fixed order that
 *     does not depend on the window size or thread count.
 * Nodata (DN 0 in any input channel) is handled by the model (DN 0 out).
 *
 * Determinism: windows are computed and written in a fixed order whatever the
 * thread timing, so the output is identical for any queue state.
 *
 * Errors: the first failure in any stage (reader, compute, writer) stops the
 * pipeline: the other threads finish their current window and exit, and
 * cc_infer_run returns that status with the message of the failing thread,
 * prefixed with the stage and the window. The sink is not finalised (the
 * caller aborts it, e.g. cc_cube_stream_abort).
 */
#ifndef CC_PIPELINE_BOA_INFER_H
#define CC_PIPELINE_BOA_INFER_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "io/cube.h"
#include "kernels/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A raster of `nchannels` uint16 channels on the model grid.
 * read() fills dst with the window [x0, x0+w) x [y0, y0+h), which lies inside
 * the raster, channels-last: dst[((size_t)r*w + c)*nchannels + k]. It is
 * called from the reader thread only, one call at a time, windows in raster
 * order. On failure it returns a status with a message naming the file. */
typedef struct {
    int width, height, nchannels;
    const char *name;   /* for messages, e.g. the product path              */
    cc_status (*read)(void *ctx, int x0, int y0, int w, int h, uint16_t *dst);
    void *ctx;
} cc_infer_source;

/* Receives the core of each window, channels-last with `nchannels` channels
 * (the model's output channels), from the writer thread only, in raster
 * order; the cores tile the raster without overlap. */
typedef struct {
    int nchannels;
    const char *name;
    cc_status (*write)(void *ctx, int x0, int y0, int w, int h, const uint16_t *data);
    void *ctx;
} cc_infer_sink;

typedef struct {
    const cc_nn_backend *backend; /* NULL: the CPU backend                           */
    int core;           /* core window size in pixels (rounded up to size_multiple);
                           0: from mem_budget                                  */
    size_t mem_budget;  /* bytes for windows + network working memory when core
                           == 0; 0: 1.5 GiB (leaves room for GDAL's decoder and
                           block cache under a 4 GiB limit)                    */
    int pipelined;      /* 1 (default): reader and writer threads; 0: one thread */
    int progress;       /* log a line every N windows (0: none)                 */
    /* test hook: the window index at which the reader pretends to fail (-1: none) */
    int fail_read_at;
} cc_infer_options;

void cc_infer_options_init(cc_infer_options *o);

typedef struct {
    int core, halo;             /* core size and the halo used (pixels)              */
    int nwin_x, nwin_y;         /* windows per row / column                          */
    double read_s, compute_s, write_s; /* time spent inside each stage               */
    double wait_compute_s;      /* compute stage idle, waiting for input or queue    */
    double read_cpu_s, write_cpu_s; /* CPU time of the reader / writer thread (pipelined
                                   only; GDAL's own decoder threads not included)    */
    double wall_s;              /* whole run                                         */
    double overlap;             /* (read_s + compute_s + write_s) / wall_s: 1 = none */
    size_t window_bytes;        /* estimated memory of the window buffers + network  */
} cc_infer_stats;

/* Window geometry for a raster and a model (exposed for tests and tools):
 * the core size chosen from the options and the halo H. */
cc_status cc_infer_plan(const cc_nn_model *m, int width, int height, const cc_infer_options *o,
                        int *core, int *halo, size_t *bytes);

/* Runs model m over src into sink. src->nchannels must equal the model's
 * input channels and sink->nchannels its output channels. stats may be NULL. */
cc_status cc_infer_run(const cc_nn_model *m, const cc_infer_source *src,
                       const cc_infer_sink *sink, const cc_infer_options *o,
                       cc_infer_stats *stats);

/* ---- in-memory source and sink (tests, small rasters) ---- */

/* A whole raster in memory, channels-last; data is borrowed (not freed). */
typedef struct {
    uint16_t *data;
    int width, height, nchannels;
} cc_infer_mem;

/* src/sink borrow r (r must outlive the run). */
void cc_infer_source_mem(const cc_infer_mem *r, cc_infer_source *src);
void cc_infer_sink_mem(cc_infer_mem *r, cc_infer_sink *sink);

/* ---- resampling coarse bands onto the fine grid ----
 * The grids share their upper-left corner and the coarse pixel is exactly
 * `f` fine pixels (f = 2 for 20 m -> 10 m, 6 for 60 m -> 10 m). Fine pixel
 * (i, j) samples the coarse raster bilinearly at pixel-centre coordinates
 * u = (i + 0.5)/f - 0.5, v = (j + 0.5)/f - 0.5 (align_corners = false),
 * neighbours clamped to the coarse raster [0, cw) x [0, ch). Nodata (DN 0)
 * neighbours are left out and the remaining weights renormalised; DN 0 where
 * all neighbours with a non-zero weight are nodata. Integer arithmetic
 * (weights in units of 1/(2f)^2, round half up), so a window gives exactly
 * the pixels of the whole image.
 *
 * cc_infer_upsample fills the fine window [fx0, fx0+fw) x [fy0, fy0+fh) into
 * dst[((size_t)r*fw + c)*dst_stride] (one channel of a channels-last buffer)
 * from `buf`, the part [bx0, bx0+bw) x [by0, by0+bh) of the coarse raster of
 * size cw x ch; buf must cover cc_infer_coarse_window of the fine window.
 * Returns CC_ERR_ARG if it does not. */
void cc_infer_coarse_window(int f, int cw, int ch, int fx0, int fy0, int fw, int fh, int *bx0,
                            int *by0, int *bw, int *bh);
cc_status cc_infer_upsample(const uint16_t *buf, int bx0, int by0, int bw, int bh, int cw, int ch,
                            int f, int fx0, int fy0, int fw, int fh, uint16_t *dst,
                            size_t dst_stride);

/* ---- GDAL source: one file per channel (JP2, GeoTIFF, ...) ----
 * Channel k reads band 1 of paths[k]. The grid is that of the finest file;
 * coarser files must share its upper-left corner and have a pixel size that
 * is an integer multiple f of it (else CC_ERR_UNSUPPORTED), and are upsampled
 * with cc_infer_upsample. Each window reads the covering coarse window with a
 * one-pixel margin (GDALRasterIO, no GDAL resampling), so windowed reads
 * equal the whole-image resampling. Decoding threads: GDAL_NUM_THREADS as
 * configured by the caller. */
typedef struct cc_infer_gdal cc_infer_gdal;

/* Opens the files; on success *out is freed with cc_infer_gdal_close (after
 * the run). src borrows *out. wkt (may be NULL): receives a malloc'd copy of
 * the CRS WKT of the fine grid, freed by the caller; gt the geotransform. */
cc_status cc_infer_gdal_open(const char *const *paths, int nchannels, cc_infer_gdal **out,
                             cc_infer_source *src, double gt[6], char **wkt);
void cc_infer_gdal_close(cc_infer_gdal *g);

/* ---- streaming cube sink ----
 * sink writes window cores into an open cc_cube_stream (borrowed; the caller
 * commits or aborts it after the run). */
void cc_infer_sink_cube(cc_cube_stream *s, int nlayers, cc_infer_sink *sink);

/* ---- models for full-tile runs ----
 * Benchmark/test networks on the 13 L1C bands (B01..B12 with B10, CC_B*
 * order; rho = (DN + dn_offset)/10000, dn_offset = the product's
 * RADIO_ADD_OFFSET: -1000 for baseline >= 04.00, 0 before) giving the 12 L2A
 * bands (B10 dropped) as DN = 10000*rho + 1000, each output adding the input
 * reflectance of its band (residual), deterministic random weights from
 * `seed` (untrained: for speed and exactness, not for science):
 *   'A' per-pixel MLP conv1x1 13->64 ReLU, 64->64 ReLU, 64->12;
 *   'B' residual block: conv3x3 13->32 ReLU, conv3x3 32->32 ReLU,
 *       conv3x3 32->32 + skip, ReLU, conv1x1 32->12 (zero padding).
 * Free with cc_nn_model_free. */
cc_status cc_infer_model_l1c(char which, unsigned seed, double dn_offset, cc_nn_model *m);

#ifdef __cplusplus
}
#endif
#endif
