/* clearcube: PNG plots (line plots, histogram panels) and a small drawing
 * canvas, drawn with cairo (libcairo2-dev) and its text API (fontconfig,
 * DejaVu Sans from fonts-dejavu-core).
 *
 * Plots have a frame, grid, tick marks with "nice" tick labels, axis labels
 * (the y label rotated), a title and a legend; lines are anti-aliased. PNGs
 * are written by cairo to "<path>.tmp-<pid>.png", then committed to <path>
 * (core/fs.h): a failure leaves no file at <path>. Output is deterministic
 * for a given cairo and font (same inputs -> byte-identical PNG). The module
 * has no global state: separate images may be drawn from separate threads.
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
 * spanning [lo, hi]; each panel is drawn as bars with its own y scale (y axis
 * "count"), an x axis with tick labels, a vertical line at x = 0 when 0 lies
 * inside [lo, hi], and panel_titles[p] above it (NULL: "panel <p+1>"). title
 * and xlabel (shown under every panel) may be NULL. Image size is fixed by the
 * number of panels (320x240 pixels per panel). npanels 1..64, nbins 1..4096,
 * lo < hi. */
cc_status cc_plot_histograms(const char *png_path, const char *title, int npanels,
                             const char *const *panel_titles, const double *const *counts,
                             int nbins, double lo, double hi, const char *xlabel);

/* ---- a canvas for pictures that are not plots (validation panels, Cloudless
 * strips, quicklooks) ---- */

/* A cairo image surface (opaque pointers: cairo_surface_t, cairo_t). */
typedef struct {
    int w, h;
    void *surface, *cr;
    int direct; /* pixels written by cc_image_set_pixel since cairo last drew */
} cc_image;

/* A w x h opaque RGB image filled with (r, g, b). */
cc_status cc_image_new(cc_image *im, int w, int h, uint8_t r, uint8_t g, uint8_t b);
/* A w x h RGBA image, all transparent (quicklooks: nodata stays transparent). */
cc_status cc_image_new_transparent(cc_image *im, int w, int h);
void cc_image_free(cc_image *im);
/* Fills the rectangle [x0, x0+w) x [y0, y0+h), clipped to the image. */
void cc_image_fill_rect(cc_image *im, int x0, int y0, int w, int h, uint32_t rgb);
/* One opaque pixel 0xRRGGBB (fast: writes the surface's memory). Clipped. */
void cc_image_set_pixel(cc_image *im, int x, int y, uint32_t rgb);
/* Draws text (UTF-8; invalid bytes show as '?') with the top-left corner of
 * its line box at (x, y), in a 10*scale pixel font (scale 2: titles, bold).
 * Returns the width drawn in pixels. Clipped to the image. */
int cc_image_text(cc_image *im, int x, int y, const char *text, uint32_t rgb, int scale);
/* Width in pixels of text drawn by cc_image_text at a scale. */
int cc_image_text_width(cc_image *im, const char *text, int scale);
/* Writes the image as a PNG through cairo (temporary + rename): RGB for
 * cc_image_new images; RGBA for cc_image_new_transparent ones that have a
 * transparent pixel (cairo writes RGB when every pixel is opaque). */
cc_status cc_image_write_png(const cc_image *im, const char *png_path);

#ifdef __cplusplus
}
#endif
#endif
