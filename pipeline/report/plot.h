/* clearcube: small PNG plots (line plots, histogram panels) without any
 * plotting library.
 *
 * Everything is rendered into an 8-bit RGB raster in memory with a built-in
 * 6x8 bitmap font (ASCII 32..126; other bytes print as '?') and written with
 * GDAL's PNG driver (MEM dataset + CreateCopy) to "<path>.tmp-<pid>.png",
 * then committed to <path> (core/fs.h): a failure leaves no file at <path>. Output is
 * deterministic (same inputs -> byte-identical PNG). Not thread-safe only in
 * the sense that GDAL's error state is per thread; the module has no globals
 * that are written.
 *
 * Errors: CC_ERR_ARG for bad arguments (size, no series, NULL pointers),
 * CC_ERR_IO with a message naming the file when the PNG cannot be written
 * (e.g. the directory does not exist or is not writable). */
#ifndef CC_PIPELINE_REPORT_PLOT_H
#define CC_PIPELINE_REPORT_PLOT_H

#include <stdint.h>

#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One line of a line plot: n points (x[i], y[i]). Points whose x or y is not
 * finite (NaN, inf) - and, on a log y axis, points with y <= 0 - are skipped
 * and break the line there. x may be NULL: then x[i] = i (e.g. step index).
 * label may be NULL or "" (the series is then not shown in the legend). */
typedef struct {
    const char *label;
    const double *x;
    const double *y;
    int n;
} cc_plot_series;

/* Line plot of nseries series (1..16), colours from a fixed palette in series
 * order, with x/y axes, "nice" tick labels, a legend (top right) and a title.
 * width, height: image size in pixels, each 160..8192. log_y: log10 y axis
 * (ticks at decades; values <= 0 are skipped - if no series has a positive
 * value the axis falls back to linear). title/xlabel/ylabel may be NULL. */
cc_status cc_plot_lines(const char *png_path, int width, int height, const char *title,
                        const char *xlabel, const char *ylabel, int log_y,
                        const cc_plot_series *s, int nseries);
/* The same, where points[k] != 0 draws series k as 5x5 square markers
 * (observations) instead of a line; points may be NULL (all lines). */
cc_status cc_plot_lines_styled(const char *png_path, int width, int height, const char *title,
                               const char *xlabel, const char *ylabel, int log_y,
                               const cc_plot_series *s, int nseries, const uint8_t *points);

/* Histograms in a grid of panels (up to 4 per row), one panel per band:
 * counts[p][0..nbins-1] are the counts of panel p over nbins equal bins
 * spanning [lo, hi]; each panel is drawn as bars with its own y scale, an x
 * axis with tick labels, a vertical line at x = 0 when 0 lies inside
 * [lo, hi], and panel_titles[p] above it (NULL: "panel <p+1>"). title and
 * xlabel (shown under every panel) may be NULL. Image size is fixed by the
 * number of panels (about 320x240 pixels per panel). npanels 1..64,
 * nbins 1..4096, lo < hi. */
cc_status cc_plot_histograms(const char *png_path, const char *title, int npanels,
                             const char *const *panel_titles, const double *const *counts,
                             int nbins, double lo, double hi, const char *xlabel);

/* ---- lower-level raster API (used by the validation quicklook) ---- */

/* An RGB image, 3 bytes per pixel, row-major, rgb[(y*w + x)*3 + c]. */
typedef struct {
    int w, h;
    uint8_t *rgb;
} cc_image;

/* Allocates a w x h image filled with (r, g, b). */
cc_status cc_image_new(cc_image *im, int w, int h, uint8_t r, uint8_t g, uint8_t b);
void cc_image_free(cc_image *im);
/* Fills the rectangle [x0, x0+w) x [y0, y0+h), clipped to the image. */
void cc_image_fill_rect(cc_image *im, int x0, int y0, int w, int h, uint32_t rgb);
/* Draws text with its top-left corner at (x, y); scale >= 1 magnifies each
 * glyph pixel. Returns the width drawn in pixels. Clipped to the image. */
int cc_image_text(cc_image *im, int x, int y, const char *text, uint32_t rgb, int scale);
/* Width in pixels of text at a scale (6 px per character at scale 1). */
int cc_image_text_width(const char *text, int scale);
/* Height of one text line at scale 1. */
#define CC_PLOT_FONT_H 8
/* Writes the image as an RGB PNG (temporary + rename). */
cc_status cc_image_write_png(const cc_image *im, const char *png_path);

/* Writes a GDAL in-memory dataset (a GDALDatasetH of the MEM driver) as PNG
 * at path, through a temporary and cc_fs_commit; GDAL's own message, if any,
 * ends the error. The image writers of pipeline/report share it. */
cc_status cc_png_write_dataset(void *mem, const char *path);

#ifdef __cplusplus
}
#endif
#endif
