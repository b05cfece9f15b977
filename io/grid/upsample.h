/* clearcube: bilinear upsampling of a coarse uint16 DN raster onto a finer grid
 * that shares its upper-left corner (20 m and 60 m Sentinel-2 bands onto the
 * 10 m grid), window by window with the exact pixels of the whole image. Used
 * by the reference processor (pipeline/atmos) and Rapid BoA (pipeline/boa), so
 * that both see the same TOA DN at every pixel.
 *
 * The coarse pixel is exactly `f` fine pixels (f = 2 for 20 m -> 10 m, 6 for
 * 60 m -> 10 m). Fine pixel (i, j) samples the coarse raster bilinearly at
 * pixel-centre coordinates u = (i + 0.5)/f - 0.5, v = (j + 0.5)/f - 0.5
 * (align_corners = false), neighbours clamped to the coarse raster
 * [0, cw) x [0, ch). Nodata (DN 0) neighbours are left out and the remaining
 * weights renormalised; DN 0 where all neighbours with a non-zero weight are
 * nodata. Integer arithmetic (weights in units of 1/(2f)^2, round half up). */
#ifndef CC_IO_GRID_UPSAMPLE_H
#define CC_IO_GRID_UPSAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The part [bx0, bx0+bw) x [by0, by0+bh) of the coarse raster (cw x ch) that
 * the fine window [fx0, fx0+fw) x [fy0, fy0+fh) reads. */
void cc_grid_coarse_window(int f, int cw, int ch, int fx0, int fy0, int fw, int fh, int *bx0, int *by0, int *bw,
                           int *bh);

/* Fills the fine window into dst[((size_t)r*fw + c)*dst_stride] (one channel
 * of a channels-last buffer) from `buf`, the part [bx0, bx0+bw) x
 * [by0, by0+bh) of the coarse raster; buf must cover cc_grid_coarse_window of
 * the fine window, else CC_ERR_ARG. */
cc_status cc_grid_upsample_u16(const uint16_t *buf, int bx0, int by0, int bw, int bh, int cw, int ch, int f,
                               int fx0, int fy0, int fw, int fh, uint16_t *dst, size_t dst_stride);

#ifdef __cplusplus
}
#endif
#endif
