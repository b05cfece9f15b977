/* clearcube: PNG plots and a drawing canvas with cairo (see plot.h). */
#include "pipeline/report/plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cairo.h>

#include "core/fs.h"

#define FONT "DejaVu Sans"
#define HALF_PI 1.57079632679489662
#define C_TEXT 0x141414u
#define C_GRID 0xe1e1e1u
#define C_FRAME 0x000000u

static const uint32_t palette[16] = {
    0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd, 0x8c564b, 0xe377c2, 0x7f7f7f,
    0xbcbd22, 0x17becf, 0x000080, 0x800000, 0x008000, 0xff00ff, 0x000000, 0xa0a000,
};

static void set_rgb(cairo_t *cr, uint32_t c)
{
    cairo_set_source_rgb(cr, (c >> 16 & 255) / 255.0, (c >> 8 & 255) / 255.0, (c & 255) / 255.0);
}

/* ---- the canvas ---- */

/* The cairo context, after telling cairo about pixels written directly. */
static cairo_t *ctx(cc_image *im)
{
    if (im->direct) {
        cairo_surface_mark_dirty(im->surface);
        im->direct = 0;
    }
    return im->cr;
}

static cc_status image_create(cc_image *im, int w, int h, cairo_format_t fmt)
{
    memset(im, 0, sizeof *im);
    if (w <= 0 || h <= 0 || w > 65536 || h > 65536)
        return cc_error_set(CC_ERR_ARG, "plot: bad image size %dx%d", w, h);
    cairo_surface_t *s = cairo_image_surface_create(fmt, w, h);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(s);
        return cc_error_set(CC_ERR_NOMEM, "plot: cannot allocate a %dx%d image", w, h);
    }
    cairo_t *cr = cairo_create(s);
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
        cairo_destroy(cr);
        cairo_surface_destroy(s);
        return cc_error_set(CC_ERR_NOMEM, "plot: cannot draw on a %dx%d image", w, h);
    }
    im->w = w;
    im->h = h;
    im->surface = s;
    im->cr = cr;
    return CC_OK;
}

cc_status cc_image_new(cc_image *im, int w, int h, uint8_t r, uint8_t g, uint8_t b)
{
    cc_status st = image_create(im, w, h, CAIRO_FORMAT_RGB24);
    if (st == CC_OK) {
        cairo_set_source_rgb(im->cr, r / 255.0, g / 255.0, b / 255.0);
        cairo_paint(im->cr);
    }
    return st;
}

cc_status cc_image_new_transparent(cc_image *im, int w, int h)
{
    return image_create(im, w, h, CAIRO_FORMAT_ARGB32); /* cairo clears new surfaces */
}

void cc_image_free(cc_image *im)
{
    if (im->cr)
        cairo_destroy(im->cr);
    if (im->surface)
        cairo_surface_destroy(im->surface);
    memset(im, 0, sizeof *im);
}

void cc_image_fill_rect(cc_image *im, int x0, int y0, int w, int h, uint32_t rgb)
{
    if (w <= 0 || h <= 0)
        return;
    cairo_t *cr = ctx(im);
    set_rgb(cr, rgb);
    cairo_rectangle(cr, x0, y0, w, h);
    cairo_fill(cr);
}

void cc_image_set_pixel(cc_image *im, int x, int y, uint32_t rgb)
{
    if (x < 0 || y < 0 || x >= im->w || y >= im->h)
        return;
    if (!im->direct) {
        cairo_surface_flush(im->surface);
        im->direct = 1;
    }
    unsigned char *row = cairo_image_surface_get_data(im->surface) +
                         (size_t)y * (size_t)cairo_image_surface_get_stride(im->surface);
    ((uint32_t *)(void *)row)[x] = 0xff000000u | (rgb & 0xffffffu);
}

/* text as valid UTF-8 (cairo refuses anything else): bytes of an invalid
 * sequence become '?'. Returns malloc'd text or NULL. */
static char *utf8_clean(const char *t)
{
    size_t n = strlen(t);
    char *o = malloc(n + 1);
    if (!o)
        return NULL;
    const unsigned char *s = (const unsigned char *)t;
    size_t i = 0, k = 0;
    while (i < n) {
        unsigned c = s[i];
        int len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 && c >= 0xc2 ? 2 : (c & 0xf0) == 0xe0 ? 3
                             : (c & 0xf8) == 0xf0 && c <= 0xf4 ? 4 : 0;
        int ok = len > 0 && i + (size_t)len <= n;
        for (int j = 1; ok && j < len; j++)
            ok = (s[i + (size_t)j] & 0xc0) == 0x80;
        if (!ok) {
            o[k++] = '?';
            i++;
            continue;
        }
        memcpy(o + k, s + i, (size_t)len);
        k += (size_t)len;
        i += (size_t)len;
    }
    o[k] = '\0';
    return o;
}

static void font(cairo_t *cr, double size, int bold)
{
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

static double text_width(cairo_t *cr, const char *t, double size, int bold)
{
    char *u = t ? utf8_clean(t) : NULL;
    if (!u)
        return 0;
    font(cr, size, bold);
    cairo_text_extents_t te;
    cairo_text_extents(cr, u, &te);
    free(u);
    return te.x_advance;
}

/* Text anchored at (x, y): ha 0/0.5/1 = left/centre/right of the advance,
 * va 0/0.5/1 = top/middle/bottom of the font's line box; angle in radians
 * (-pi/2: reads bottom to top). Returns the advance. */
static double label(cairo_t *cr, double x, double y, const char *t, double size, int bold, uint32_t c, double ha,
                    double va, double angle)
{
    char *u = t ? utf8_clean(t) : NULL;
    if (!u || !u[0]) {
        free(u);
        return 0;
    }
    font(cr, size, bold);
    cairo_font_extents_t fe;
    cairo_text_extents_t te;
    cairo_font_extents(cr, &fe);
    cairo_text_extents(cr, u, &te);
    cairo_save(cr);
    cairo_translate(cr, x, y);
    cairo_rotate(cr, angle);
    set_rgb(cr, c);
    cairo_move_to(cr, -ha * te.x_advance, -va * (fe.ascent + fe.descent) + fe.ascent);
    cairo_show_text(cr, u);
    cairo_restore(cr);
    free(u);
    return te.x_advance;
}

int cc_image_text(cc_image *im, int x, int y, const char *text, uint32_t rgb, int scale)
{
    if (scale < 1)
        scale = 1;
    return (int)lround(label(ctx(im), x, y, text, 10.0 * scale, scale > 1, rgb, 0, 0, 0));
}

int cc_image_text_width(cc_image *im, const char *text, int scale)
{
    if (scale < 1)
        scale = 1;
    return (int)lround(text_width(ctx(im), text, 10.0 * scale, scale > 1));
}

static cairo_status_t png_out(void *closure, const unsigned char *data, unsigned int n)
{
    return fwrite(data, 1, n, closure) == n ? CAIRO_STATUS_SUCCESS : CAIRO_STATUS_WRITE_ERROR;
}

cc_status cc_image_write_png(const cc_image *im, const char *path)
{
    if (!path || !path[0])
        return cc_error_set(CC_ERR_ARG, "plot: no output path");
    if (!im || !im->surface)
        return cc_error_set(CC_ERR_ARG, "%s: no image to write", path);
    if (im->direct)
        cairo_surface_mark_dirty(im->surface);
    cairo_surface_flush(im->surface);
    char tmp[4096];
    cc_status st = cc_fs_temp_name(path, ".png", tmp, sizeof tmp);
    if (st != CC_OK)
        return st;
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return cc_fs_write_error(path, errno, "cannot write the PNG");
    cairo_status_t cs = cairo_surface_write_to_png_stream(im->surface, png_out, f);
    int werr = ferror(f) ? errno : 0;
    if (fclose(f) != 0 && !werr)
        werr = errno ? errno : EIO;
    if (cs != CAIRO_STATUS_SUCCESS || werr) {
        cc_fs_abort(tmp);
        if (werr)
            return cc_fs_write_error(path, werr, "cannot write the PNG");
        return cc_error_set(CC_ERR_IO, "%s: cannot write the PNG: %s", path, cairo_status_to_string(cs));
    }
    return cc_fs_commit(tmp, path);
}

/* ---- axes ---- */

/* "Nice" step (1, 2, 2.5 or 5 times a power of ten) giving about `target`
 * intervals over span. */
static double nice_step(double span, int target)
{
    if (!(span > 0) || !isfinite(span))
        return 1;
    double raw = span / target, p = pow(10, floor(log10(raw))), f = raw / p;
    double m = f < 1.5 ? 1 : f < 2.25 ? 2 : f < 3.5 ? 2.5 : f < 7.5 ? 5 : 10;
    return m * p;
}

static void fmt_tick(char *buf, size_t n, double v, double step)
{
    if (fabs(v) < step * 1e-9)
        v = 0;
    double a = fabs(v);
    if (v != 0 && (a >= 1e6 || a < 1e-4)) {
        snprintf(buf, n, "%.3g", v);
        return;
    }
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (dec > 6)
        dec = 6;
    snprintf(buf, n, "%.*f", dec, v);
    /* a step of 2.5 needs one more decimal */
    if (fabs(strtod(buf, NULL) - v) > step * 1e-6 && dec < 6)
        snprintf(buf, n, "%.*f", dec + 1, v);
}

/* Label of the decade tick 10^t of a log axis. */
static void fmt_decade(char *buf, size_t n, double t)
{
    if (t >= -3 && t <= 5)
        snprintf(buf, n, "%.*f", t < 0 ? (int)-t : 0, pow(10, t));
    else
        snprintf(buf, n, "1e%d", (int)t);
}

typedef struct {
    double x0, y0, w, h;           /* plot area in pixels                  */
    double xmin, xmax, ymin, ymax; /* data range (log10 values when log_y) */
    int log_y;
} axes;

static double ax_x(const axes *a, double x) { return a->x0 + (x - a->xmin) / (a->xmax - a->xmin) * a->w; }
static double ax_y(const axes *a, double y) { return a->y0 + a->h - (y - a->ymin) / (a->ymax - a->ymin) * a->h; }

#define TICK_FONT 11.0

/* The y tick values (n at most 64) of an axis. */
static int y_ticks(const axes *a, int target, double *t, char (*lab)[32])
{
    int n = 0;
    if (a->log_y) {
        for (double v = ceil(a->ymin - 1e-9); v <= a->ymax + 1e-9 && n < 64; v += 1, n++) {
            t[n] = v;
            fmt_decade(lab[n], sizeof lab[n], v);
        }
        return n;
    }
    double s = nice_step(a->ymax - a->ymin, target);
    for (double v = ceil(a->ymin / s - 1e-9) * s; v <= a->ymax + s * 1e-9 && n < 64; v += s, n++) {
        t[n] = v;
        fmt_tick(lab[n], sizeof lab[n], v, s);
    }
    return n;
}

/* Widest y tick label in pixels. */
static double y_label_width(cairo_t *cr, const axes *a, int target)
{
    double t[64], w = 0;
    char lab[64][32];
    int n = y_ticks(a, target, t, lab);
    for (int i = 0; i < n; i++) {
        double tw = text_width(cr, lab[i], TICK_FONT, 0);
        w = tw > w ? tw : w;
    }
    return w;
}

/* Grid lines, tick marks, tick labels and the frame. */
static void draw_axes(cairo_t *cr, const axes *a, int ticks_x, int ticks_y)
{
    char buf[64];
    double t[64];
    char lab[64][32];
    cairo_set_line_width(cr, 1);
    double sx = nice_step(a->xmax - a->xmin, ticks_x);
    for (double v = ceil(a->xmin / sx - 1e-9) * sx; v <= a->xmax + sx * 1e-9; v += sx) {
        double px = floor(ax_x(a, v)) + 0.5;
        set_rgb(cr, C_GRID);
        cairo_move_to(cr, px, a->y0);
        cairo_line_to(cr, px, a->y0 + a->h);
        cairo_stroke(cr);
        set_rgb(cr, C_FRAME);
        cairo_move_to(cr, px, a->y0 + a->h);
        cairo_line_to(cr, px, a->y0 + a->h + 4);
        cairo_stroke(cr);
        fmt_tick(buf, sizeof buf, v, sx);
        label(cr, px, a->y0 + a->h + 6, buf, TICK_FONT, 0, C_TEXT, 0.5, 0, 0);
    }
    int n = y_ticks(a, ticks_y, t, lab);
    for (int i = 0; i < n; i++) {
        double py = floor(ax_y(a, t[i])) + 0.5;
        set_rgb(cr, C_GRID);
        cairo_move_to(cr, a->x0, py);
        cairo_line_to(cr, a->x0 + a->w, py);
        cairo_stroke(cr);
        set_rgb(cr, C_FRAME);
        cairo_move_to(cr, a->x0 - 4, py);
        cairo_line_to(cr, a->x0, py);
        cairo_stroke(cr);
        label(cr, a->x0 - 6, py, lab[i], TICK_FONT, 0, C_TEXT, 1, 0.5, 0);
    }
    set_rgb(cr, C_FRAME);
    cairo_rectangle(cr, floor(a->x0) + 0.5, floor(a->y0) + 0.5, floor(a->w), floor(a->h));
    cairo_stroke(cr);
}

/* Expands a degenerate or empty range and rounds it out to nice ticks. */
static void nice_range(double *lo, double *hi, int ticks)
{
    if (!(*lo <= *hi)) {
        *lo = 0;
        *hi = 1;
    }
    if (*hi - *lo < 1e-12 * (fabs(*lo) + fabs(*hi)) || *hi == *lo) {
        double d = *lo == 0 ? 1 : fabs(*lo) * 0.1;
        *lo -= d;
        *hi += d;
    }
    double s = nice_step(*hi - *lo, ticks);
    *lo = floor(*lo / s + 1e-9) * s;
    *hi = ceil(*hi / s - 1e-9) * s;
}

/* ---- line plots ---- */

cc_status cc_plot_lines(const char *png_path, int width, int height, const char *title,
                        const char *xlabel, const char *ylabel, int log_y,
                        const cc_plot_series *s, int nseries)
{
    return cc_plot_lines_styled(png_path, width, height, title, xlabel, ylabel, log_y, s, nseries, NULL);
}

/* The data ranges (log10 of y on a log axis), rounded out to nice ticks;
 * *log_y is cleared when no y is positive. */
static void line_ranges(const cc_plot_series *s, int nseries, int *log_y, axes *a)
{
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    int any_pos = 0;
    for (int k = 0; k < nseries; k++)
        for (int i = 0; i < s[k].n; i++)
            any_pos |= isfinite(s[k].y[i]) && s[k].y[i] > 0;
    if (*log_y && !any_pos)
        *log_y = 0; /* nothing to show on a log axis */
    for (int k = 0; k < nseries; k++)
        for (int i = 0; i < s[k].n; i++) {
            double x = s[k].x ? s[k].x[i] : i, y = s[k].y[i];
            if (!isfinite(x) || !isfinite(y) || (*log_y && y <= 0))
                continue;
            y = *log_y ? log10(y) : y;
            xmin = fmin(xmin, x);
            xmax = fmax(xmax, x);
            ymin = fmin(ymin, y);
            ymax = fmax(ymax, y);
        }
    if (!(xmin <= xmax)) {
        xmin = 0;
        xmax = 1;
    }
    if (xmin == xmax) {
        xmin -= 0.5;
        xmax += 0.5;
    }
    if (*log_y) {
        if (!(ymin <= ymax))
            ymin = ymax = 0;
        ymin = floor(ymin + 1e-9);
        ymax = ceil(ymax - 1e-9);
        if (ymax <= ymin)
            ymax = ymin + 1;
    } else {
        nice_range(&ymin, &ymax, 6);
    }
    double sx = nice_step(xmax - xmin, 6);
    a->xmin = floor(xmin / sx + 1e-9) * sx;
    a->xmax = ceil(xmax / sx - 1e-9) * sx;
    a->ymin = ymin;
    a->ymax = ymax;
    a->log_y = *log_y;
}

static void draw_series(cairo_t *cr, const axes *a, const cc_plot_series *s, uint32_t c, int points)
{
    cairo_save(cr);
    cairo_rectangle(cr, a->x0, a->y0, a->w, a->h);
    cairo_clip(cr);
    set_rgb(cr, c);
    cairo_set_line_width(cr, 1.8);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
    int run = 0; /* points in the current line piece */
    for (int i = 0; i <= s->n; i++) {
        double x = i < s->n ? (s->x ? s->x[i] : i) : NAN, y = i < s->n ? s->y[i] : NAN;
        int ok = isfinite(x) && isfinite(y) && !(a->log_y && y <= 0);
        if (!ok) { /* a gap: draw what came before */
            if (run)
                cairo_stroke(cr);
            run = 0;
            continue;
        }
        double px = ax_x(a, x), py = ax_y(a, a->log_y ? log10(y) : y);
        if (points) {
            cairo_rectangle(cr, px - 2.5, py - 2.5, 5, 5);
            cairo_fill(cr);
            continue;
        }
        if (run == 0) {
            cairo_move_to(cr, px, py);
            cairo_line_to(cr, px, py); /* a lone point shows as a round dot */
        } else {
            cairo_line_to(cr, px, py);
        }
        run++;
    }
    cairo_restore(cr);
}

/* Legend box in the top right corner of the plot area. */
static void draw_legend(cairo_t *cr, const axes *a, const cc_plot_series *s, int nseries, const uint8_t *points)
{
    int nleg = 0;
    double lw = 0;
    for (int k = 0; k < nseries; k++)
        if (s[k].label && s[k].label[0]) {
            nleg++;
            lw = fmax(lw, text_width(cr, s[k].label, TICK_FONT, 0));
        }
    if (!nleg)
        return;
    const double row = 16, bw = lw + 40, bh = nleg * row + 8;
    const double bx = floor(a->x0 + a->w - bw - 8) + 0.5, by = floor(a->y0 + 8) + 0.5;
    cairo_rectangle(cr, bx, by, bw, bh);
    cairo_set_source_rgba(cr, 1, 1, 1, 0.9);
    cairo_fill_preserve(cr);
    set_rgb(cr, 0x808080);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    int r = 0;
    for (int k = 0; k < nseries; k++) {
        if (!s[k].label || !s[k].label[0])
            continue;
        double cy = by + 4 + r * row + row / 2;
        set_rgb(cr, palette[k % 16]);
        if (points && points[k]) {
            cairo_rectangle(cr, bx + 15.5, cy - 2.5, 5, 5);
            cairo_fill(cr);
        } else {
            cairo_set_line_width(cr, 2);
            cairo_move_to(cr, bx + 6, cy);
            cairo_line_to(cr, bx + 30, cy);
            cairo_stroke(cr);
        }
        label(cr, bx + 36, cy, s[k].label, TICK_FONT, 0, C_TEXT, 0, 0.5, 0);
        r++;
    }
}

cc_status cc_plot_lines_styled(const char *png_path, int width, int height, const char *title,
                               const char *xlabel, const char *ylabel, int log_y,
                               const cc_plot_series *s, int nseries, const uint8_t *points)
{
    if (!png_path || !png_path[0])
        return cc_error_set(CC_ERR_ARG, "plot: no output path");
    if (width < 160 || height < 160 || width > 8192 || height > 8192)
        return cc_error_set(CC_ERR_ARG, "%s: plot size %dx%d outside 160..8192", png_path, width, height);
    if (!s || nseries < 1 || nseries > 16)
        return cc_error_set(CC_ERR_ARG, "%s: need 1..16 series (got %d)", png_path, nseries);
    for (int k = 0; k < nseries; k++)
        if (s[k].n < 0 || (s[k].n > 0 && !s[k].y))
            return cc_error_set(CC_ERR_ARG, "%s: series %d has no y values", png_path, k + 1);

    axes a;
    memset(&a, 0, sizeof a);
    line_ranges(s, nseries, &log_y, &a);
    cc_image im;
    cc_status st = cc_image_new(&im, width, height, 255, 255, 255);
    if (st != CC_OK)
        return st;
    cairo_t *cr = im.cr;
    const int has_t = title && title[0], has_x = xlabel && xlabel[0], has_y = ylabel && ylabel[0];
    double top = has_t ? 36 : 14, right = 20;
    double left = ceil(y_label_width(cr, &a, 6)) + 12 + (has_y ? 20 : 0);
    double bottom = 24 + (has_x ? 20 : 0);
    a.x0 = left;
    a.y0 = top;
    a.w = width - left - right;
    a.h = height - top - bottom;
    if (a.w < 40 || a.h < 40) {
        cc_image_free(&im);
        return cc_error_set(CC_ERR_ARG, "%s: plot size %dx%d too small for its labels", png_path, width, height);
    }
    if (has_t)
        label(cr, width / 2.0, 9, title, 15, 1, C_TEXT, 0.5, 0, 0);
    draw_axes(cr, &a, 6, 6);
    if (has_x)
        label(cr, a.x0 + a.w / 2, height - 4, xlabel, 12, 0, C_TEXT, 0.5, 1, 0);
    if (has_y)
        label(cr, 4, a.y0 + a.h / 2, ylabel, 12, 0, C_TEXT, 0.5, 0, -HALF_PI);
    for (int k = 0; k < nseries; k++)
        draw_series(cr, &a, &s[k], palette[k % 16], points && points[k]);
    draw_legend(cr, &a, s, nseries, points);
    st = cc_image_write_png(&im, png_path);
    cc_image_free(&im);
    return st;
}

/* ---- histograms ---- */

#define PANEL_W 320
#define PANEL_H 240

static void draw_histogram(cairo_t *cr, int ox, int oy, const char *ptitle, const double *counts, int nbins,
                           double lo, double hi, const char *xlabel)
{
    double cmax = 0;
    for (int b = 0; b < nbins; b++)
        if (isfinite(counts[b]) && counts[b] > cmax)
            cmax = counts[b];
    axes a = {0, 0, 0, 0, lo, hi, 0, cmax > 0 ? cmax : 1, 0};
    nice_range(&a.ymin, &a.ymax, 4);
    a.ymin = 0;
    const int has_x = xlabel && xlabel[0];
    double left = ceil(y_label_width(cr, &a, 4)) + 12 + 16;
    a.x0 = ox + left;
    a.y0 = oy + 24;
    a.w = PANEL_W - left - 14;
    a.h = PANEL_H - 24 - 22 - (has_x ? 16 : 0);
    label(cr, ox + PANEL_W / 2.0, oy + 5, ptitle, 12, 1, C_TEXT, 0.5, 0, 0);
    draw_axes(cr, &a, 5, 4);
    label(cr, ox + 3, a.y0 + a.h / 2, "count", 10, 0, C_TEXT, 0.5, 0, -HALF_PI);
    set_rgb(cr, palette[0]);
    for (int b = 0; b < nbins; b++) {
        double v = counts[b];
        if (!(v > 0) || !isfinite(v))
            continue;
        double x0 = ax_x(&a, lo + (hi - lo) * b / nbins), x1 = ax_x(&a, lo + (hi - lo) * (b + 1) / nbins);
        double y1 = ax_y(&a, v > a.ymax ? a.ymax : v), gap = x1 - x0 > 3 ? 0.5 : 0;
        cairo_rectangle(cr, x0 + gap, y1, x1 - x0 - 2 * gap, a.y0 + a.h - y1);
    }
    cairo_fill(cr);
    if (lo < 0 && hi > 0) {
        set_rgb(cr, 0xd62728);
        cairo_set_line_width(cr, 1.5);
        cairo_move_to(cr, ax_x(&a, 0), a.y0);
        cairo_line_to(cr, ax_x(&a, 0), a.y0 + a.h);
        cairo_stroke(cr);
    }
    if (has_x)
        label(cr, a.x0 + a.w / 2, oy + PANEL_H - 3, xlabel, 11, 0, C_TEXT, 0.5, 1, 0);
}

cc_status cc_plot_histograms(const char *png_path, const char *title, int npanels,
                             const char *const *panel_titles, const double *const *counts,
                             int nbins, double lo, double hi, const char *xlabel)
{
    if (!png_path || !png_path[0])
        return cc_error_set(CC_ERR_ARG, "plot: no output path");
    if (npanels < 1 || npanels > 64 || !counts)
        return cc_error_set(CC_ERR_ARG, "%s: need 1..64 histogram panels (got %d)", png_path, npanels);
    if (nbins < 1 || nbins > 4096)
        return cc_error_set(CC_ERR_ARG, "%s: need 1..4096 bins (got %d)", png_path, nbins);
    if (!(lo < hi) || !isfinite(lo) || !isfinite(hi))
        return cc_error_set(CC_ERR_ARG, "%s: bad histogram range [%g, %g]", png_path, lo, hi);
    for (int p = 0; p < npanels; p++)
        if (!counts[p])
            return cc_error_set(CC_ERR_ARG, "%s: panel %d has no counts", png_path, p + 1);

    int ncols = npanels < 4 ? npanels : 4, nrows = (npanels + ncols - 1) / ncols;
    int top = title && title[0] ? 30 : 4;
    cc_image im;
    cc_status st = cc_image_new(&im, ncols * PANEL_W, top + nrows * PANEL_H, 255, 255, 255);
    if (st != CC_OK)
        return st;
    if (title && title[0])
        label(im.cr, im.w / 2.0, 8, title, 15, 1, C_TEXT, 0.5, 0, 0);
    for (int p = 0; p < npanels; p++) {
        char def[32];
        const char *pt = panel_titles ? panel_titles[p] : NULL;
        if (!pt) {
            snprintf(def, sizeof def, "panel %d", p + 1);
            pt = def;
        }
        draw_histogram(im.cr, (p % ncols) * PANEL_W, top + (p / ncols) * PANEL_H, pt, counts[p], nbins, lo, hi,
                       xlabel);
    }
    st = cc_image_write_png(&im, png_path);
    cc_image_free(&im);
    return st;
}
