/* clearcube: small PNG plots rendered into an RGB raster (see plot.h). */
#include "pipeline/report/plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <gdal.h>

#include "core/alloc.h"
#include "core/fs.h"

/* 5x7 glyphs in a 6x8 cell for ASCII 32..126: five columns per glyph, bit 0 =
 * top row. */
static const uint8_t font5x7[95][5] = {
    {0x00, 0x00, 0x00, 0x00, 0x00}, /* ' ' */ {0x00, 0x00, 0x5F, 0x00, 0x00}, /* ! */
    {0x00, 0x07, 0x00, 0x07, 0x00}, /* " */   {0x14, 0x7F, 0x14, 0x7F, 0x14}, /* # */
    {0x24, 0x2A, 0x7F, 0x2A, 0x12}, /* $ */   {0x23, 0x13, 0x08, 0x64, 0x62}, /* % */
    {0x36, 0x49, 0x55, 0x22, 0x50}, /* & */   {0x00, 0x05, 0x03, 0x00, 0x00}, /* ' */
    {0x00, 0x1C, 0x22, 0x41, 0x00}, /* ( */   {0x00, 0x41, 0x22, 0x1C, 0x00}, /* ) */
    {0x08, 0x2A, 0x1C, 0x2A, 0x08}, /* * */   {0x08, 0x08, 0x3E, 0x08, 0x08}, /* + */
    {0x00, 0x50, 0x30, 0x00, 0x00}, /* , */   {0x08, 0x08, 0x08, 0x08, 0x08}, /* - */
    {0x00, 0x60, 0x60, 0x00, 0x00}, /* . */   {0x20, 0x10, 0x08, 0x04, 0x02}, /* / */
    {0x3E, 0x51, 0x49, 0x45, 0x3E}, /* 0 */   {0x00, 0x42, 0x7F, 0x40, 0x00}, /* 1 */
    {0x42, 0x61, 0x51, 0x49, 0x46}, /* 2 */   {0x21, 0x41, 0x45, 0x4B, 0x31}, /* 3 */
    {0x18, 0x14, 0x12, 0x7F, 0x10}, /* 4 */   {0x27, 0x45, 0x45, 0x45, 0x39}, /* 5 */
    {0x3C, 0x4A, 0x49, 0x49, 0x30}, /* 6 */   {0x01, 0x71, 0x09, 0x05, 0x03}, /* 7 */
    {0x36, 0x49, 0x49, 0x49, 0x36}, /* 8 */   {0x06, 0x49, 0x49, 0x29, 0x1E}, /* 9 */
    {0x00, 0x36, 0x36, 0x00, 0x00}, /* : */   {0x00, 0x56, 0x36, 0x00, 0x00}, /* ; */
    {0x08, 0x14, 0x22, 0x41, 0x00}, /* < */   {0x14, 0x14, 0x14, 0x14, 0x14}, /* = */
    {0x00, 0x41, 0x22, 0x14, 0x08}, /* > */   {0x02, 0x01, 0x51, 0x09, 0x06}, /* ? */
    {0x32, 0x49, 0x79, 0x41, 0x3E}, /* @ */   {0x7E, 0x11, 0x11, 0x11, 0x7E}, /* A */
    {0x7F, 0x49, 0x49, 0x49, 0x36}, /* B */   {0x3E, 0x41, 0x41, 0x41, 0x22}, /* C */
    {0x7F, 0x41, 0x41, 0x22, 0x1C}, /* D */   {0x7F, 0x49, 0x49, 0x49, 0x41}, /* E */
    {0x7F, 0x09, 0x09, 0x09, 0x01}, /* F */   {0x3E, 0x41, 0x49, 0x49, 0x7A}, /* G */
    {0x7F, 0x08, 0x08, 0x08, 0x7F}, /* H */   {0x00, 0x41, 0x7F, 0x41, 0x00}, /* I */
    {0x20, 0x40, 0x41, 0x3F, 0x01}, /* J */   {0x7F, 0x08, 0x14, 0x22, 0x41}, /* K */
    {0x7F, 0x40, 0x40, 0x40, 0x40}, /* L */   {0x7F, 0x02, 0x0C, 0x02, 0x7F}, /* M */
    {0x7F, 0x04, 0x08, 0x10, 0x7F}, /* N */   {0x3E, 0x41, 0x41, 0x41, 0x3E}, /* O */
    {0x7F, 0x09, 0x09, 0x09, 0x06}, /* P */   {0x3E, 0x41, 0x51, 0x21, 0x5E}, /* Q */
    {0x7F, 0x09, 0x19, 0x29, 0x46}, /* R */   {0x46, 0x49, 0x49, 0x49, 0x31}, /* S */
    {0x01, 0x01, 0x7F, 0x01, 0x01}, /* T */   {0x3F, 0x40, 0x40, 0x40, 0x3F}, /* U */
    {0x1F, 0x20, 0x40, 0x20, 0x1F}, /* V */   {0x3F, 0x40, 0x38, 0x40, 0x3F}, /* W */
    {0x63, 0x14, 0x08, 0x14, 0x63}, /* X */   {0x07, 0x08, 0x70, 0x08, 0x07}, /* Y */
    {0x61, 0x51, 0x49, 0x45, 0x43}, /* Z */   {0x00, 0x7F, 0x41, 0x41, 0x00}, /* [ */
    {0x02, 0x04, 0x08, 0x10, 0x20}, /* \ */   {0x00, 0x41, 0x41, 0x7F, 0x00}, /* ] */
    {0x04, 0x02, 0x01, 0x02, 0x04}, /* ^ */   {0x40, 0x40, 0x40, 0x40, 0x40}, /* _ */
    {0x00, 0x01, 0x02, 0x04, 0x00}, /* ` */   {0x20, 0x54, 0x54, 0x54, 0x78}, /* a */
    {0x7F, 0x48, 0x44, 0x44, 0x38}, /* b */   {0x38, 0x44, 0x44, 0x44, 0x20}, /* c */
    {0x38, 0x44, 0x44, 0x48, 0x7F}, /* d */   {0x38, 0x54, 0x54, 0x54, 0x18}, /* e */
    {0x08, 0x7E, 0x09, 0x01, 0x02}, /* f */   {0x0C, 0x52, 0x52, 0x52, 0x3E}, /* g */
    {0x7F, 0x08, 0x04, 0x04, 0x78}, /* h */   {0x00, 0x44, 0x7D, 0x40, 0x00}, /* i */
    {0x20, 0x40, 0x44, 0x3D, 0x00}, /* j */   {0x7F, 0x10, 0x28, 0x44, 0x00}, /* k */
    {0x00, 0x41, 0x7F, 0x40, 0x00}, /* l */   {0x7C, 0x04, 0x18, 0x04, 0x78}, /* m */
    {0x7C, 0x08, 0x04, 0x04, 0x78}, /* n */   {0x38, 0x44, 0x44, 0x44, 0x38}, /* o */
    {0x7C, 0x14, 0x14, 0x14, 0x08}, /* p */   {0x08, 0x14, 0x14, 0x18, 0x7C}, /* q */
    {0x7C, 0x08, 0x04, 0x04, 0x08}, /* r */   {0x48, 0x54, 0x54, 0x54, 0x20}, /* s */
    {0x04, 0x3F, 0x44, 0x40, 0x20}, /* t */   {0x3C, 0x40, 0x40, 0x20, 0x7C}, /* u */
    {0x1C, 0x20, 0x40, 0x20, 0x1C}, /* v */   {0x3C, 0x40, 0x30, 0x40, 0x3C}, /* w */
    {0x44, 0x28, 0x10, 0x28, 0x44}, /* x */   {0x0C, 0x50, 0x50, 0x50, 0x3C}, /* y */
    {0x44, 0x64, 0x54, 0x4C, 0x44}, /* z */   {0x00, 0x08, 0x36, 0x41, 0x00}, /* { */
    {0x00, 0x00, 0x7F, 0x00, 0x00}, /* | */   {0x00, 0x41, 0x36, 0x08, 0x00}, /* } */
    {0x08, 0x04, 0x08, 0x10, 0x08}, /* ~ */
};

#define RGB(r, g, b) (((uint32_t)(r) << 16) | ((uint32_t)(g) << 8) | (uint32_t)(b))
#define C_WHITE RGB(255, 255, 255)
#define C_BLACK RGB(0, 0, 0)
#define C_GRID RGB(225, 225, 225)
#define C_TEXT RGB(20, 20, 20)

static const uint32_t palette[16] = {
    RGB(31, 119, 180), RGB(255, 127, 14), RGB(44, 160, 44),  RGB(214, 39, 40),
    RGB(148, 103, 189), RGB(140, 86, 75), RGB(227, 119, 194), RGB(127, 127, 127),
    RGB(188, 189, 34),  RGB(23, 190, 207), RGB(0, 0, 128),    RGB(128, 0, 0),
    RGB(0, 128, 0),     RGB(255, 0, 255),  RGB(0, 0, 0),      RGB(160, 160, 0),
};

/* ---- raster primitives ---- */

cc_status cc_image_new(cc_image *im, int w, int h, uint8_t r, uint8_t g, uint8_t b)
{
    im->w = im->h = 0;
    im->rgb = NULL;
    if (w <= 0 || h <= 0 || w > 65536 || h > 65536)
        return cc_error_set(CC_ERR_ARG, "plot: bad image size %dx%d", w, h);
    if (!(im->rgb = cc_malloc3((size_t)w, (size_t)h, 3)))
        return cc_error_set(CC_ERR_NOMEM, "plot: cannot allocate a %dx%d image", w, h);
    im->w = w;
    im->h = h;
    for (size_t i = 0; i < (size_t)w * h; i++) {
        im->rgb[3 * i] = r;
        im->rgb[3 * i + 1] = g;
        im->rgb[3 * i + 2] = b;
    }
    return CC_OK;
}

void cc_image_free(cc_image *im)
{
    free(im->rgb);
    im->rgb = NULL;
    im->w = im->h = 0;
}

static inline void put(cc_image *im, int x, int y, uint32_t c)
{
    if (x < 0 || y < 0 || x >= im->w || y >= im->h)
        return;
    uint8_t *p = im->rgb + ((size_t)y * im->w + x) * 3;
    p[0] = (uint8_t)(c >> 16);
    p[1] = (uint8_t)(c >> 8);
    p[2] = (uint8_t)c;
}

void cc_image_fill_rect(cc_image *im, int x0, int y0, int w, int h, uint32_t c)
{
    int x1 = x0 + w, y1 = y0 + h;
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > im->w) x1 = im->w;
    if (y1 > im->h) y1 = im->h;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
            put(im, x, y, c);
}

int cc_image_text_width(const char *text, int scale)
{
    return text ? (int)strlen(text) * 6 * (scale < 1 ? 1 : scale) : 0;
}

static const uint8_t *glyph(unsigned char ch)
{
    if (ch < 32 || ch > 126)
        ch = '?';
    return font5x7[ch - 32];
}

int cc_image_text(cc_image *im, int x, int y, const char *text, uint32_t c, int scale)
{
    if (!text)
        return 0;
    if (scale < 1)
        scale = 1;
    int cx = x;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++, cx += 6 * scale) {
        const uint8_t *g = glyph(*p);
        for (int col = 0; col < 5; col++)
            for (int row = 0; row < 7; row++)
                if (g[col] >> row & 1)
                    cc_image_fill_rect(im, cx + col * scale, y + row * scale, scale, scale, c);
    }
    return cx - x;
}

/* Text rotated 90 degrees counter-clockwise (reads bottom to top); (x, y) is
 * the top-left of its bounding box, which is 8 wide and 6*len tall. */
static void text_vertical(cc_image *im, int x, int y, const char *text, uint32_t c)
{
    if (!text)
        return;
    int len = (int)strlen(text);
    for (int i = 0; i < len; i++) {
        const uint8_t *g = glyph((unsigned char)text[i]);
        int base = y + (len - 1 - i) * 6; /* first character at the bottom */
        for (int col = 0; col < 5; col++)
            for (int row = 0; row < 7; row++)
                if (g[col] >> row & 1)
                    put(im, x + row, base + 5 - col, c);
    }
}

static void text_centered(cc_image *im, int cx, int y, const char *text, uint32_t c, int scale)
{
    cc_image_text(im, cx - cc_image_text_width(text, scale) / 2, y, text, c, scale);
}

static void hline(cc_image *im, int x0, int x1, int y, uint32_t c)
{
    for (int x = x0; x <= x1; x++)
        put(im, x, y, c);
}

static void vline(cc_image *im, int x, int y0, int y1, uint32_t c)
{
    for (int y = y0; y <= y1; y++)
        put(im, x, y, c);
}

/* Bresenham line, 2 px thick, clipped to the rectangle [cx0,cx1]x[cy0,cy1]. */
static void line(cc_image *im, int x0, int y0, int x1, int y1, uint32_t c, int cx0, int cy0, int cx1,
                 int cy1)
{
    int dx = abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
    int dy = -abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
    int err = dx + dy;
    for (long guard = 0; guard < 200000; guard++) {
        for (int oy = 0; oy < 2; oy++)
            for (int ox = 0; ox < 2; ox++) {
                int px = x0 + ox, py = y0 + oy;
                if (px >= cx0 && px <= cx1 && py >= cy0 && py <= cy1)
                    put(im, px, py, c);
            }
        if (x0 == x1 && y0 == y1)
            break;
        int e2 = 2 * err;
        if (e2 >= dy) {
            err += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            err += dx;
            y0 += sy;
        }
    }
}

cc_status cc_png_write_dataset(void *mem, const char *path)
{
    GDALDriverH pdrv = GDALGetDriverByName("PNG");
    if (!pdrv)
        return cc_error_set(CC_ERR_UNSUPPORTED, "%s: GDAL lacks the PNG driver (GDALAllRegister?)", path);
    char tmp[4096], aux[4200];
    cc_status st = cc_fs_temp_name(path, ".png", tmp, sizeof tmp);
    if (st != CC_OK)
        return st;
    CPLPushErrorHandler(CPLQuietErrorHandler);
    CPLErrorReset();
    GDALDatasetH png = GDALCreateCopy(pdrv, tmp, (GDALDatasetH)mem, FALSE, NULL, NULL, NULL);
    CPLPopErrorHandler();
    if (!png) {
        const char *m = CPLGetLastErrorMsg();
        st = cc_error_set(CC_ERR_IO, "%s: cannot write PNG%s%s", path, m && m[0] ? ": " : "", m ? m : "");
        cc_fs_abort(tmp);
    } else {
        GDALClose(png);
        st = cc_fs_commit(tmp, path);
    }
    /* GDAL may write a sidecar .aux.xml for the temporary name */
    snprintf(aux, sizeof aux, "%s.aux.xml", tmp);
    cc_fs_abort(aux);
    return st;
}

cc_status cc_image_write_png(const cc_image *im, const char *path)
{
    cc_status st = CC_ERR_INTERNAL;
    GDALDatasetH mem = NULL;
    if (!path || !path[0])
        return cc_error_set(CC_ERR_ARG, "plot: no output path");
    GDALDriverH mdrv = GDALGetDriverByName("MEM");
    if (!mdrv)
        return cc_error_set(CC_ERR_UNSUPPORTED, "%s: GDAL lacks the MEM driver (GDALAllRegister?)", path);
    mem = GDALCreate(mdrv, "", im->w, im->h, 3, GDT_Byte, NULL);
    if (!mem || GDALDatasetRasterIO(mem, GF_Write, 0, 0, im->w, im->h, im->rgb, im->w, im->h, GDT_Byte, 3,
                                    NULL, 3, (GSpacing)3 * im->w, 1) != CE_None) {
        st = cc_error_set(CC_ERR_INTERNAL, "%s: cannot build the image in memory", path);
        goto out;
    }
    st = cc_png_write_dataset(mem, path);
out:
    if (mem)
        GDALClose(mem);
    return st;
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

typedef struct {
    int x0, y0, w, h;      /* plot area in pixels                       */
    double xmin, xmax, ymin, ymax; /* data range (log10 values when log_y) */
    int log_y;
} axes;

static int ax_x(const axes *a, double x)
{
    return a->x0 + (int)lround((x - a->xmin) / (a->xmax - a->xmin) * (a->w - 1));
}

static int ax_y(const axes *a, double y)
{
    return a->y0 + a->h - 1 - (int)lround((y - a->ymin) / (a->ymax - a->ymin) * (a->h - 1));
}

/* Frame, grid lines, tick marks and labels. */
static void draw_axes(cc_image *im, const axes *a, int ticks_x, int ticks_y)
{
    char buf[64];
    /* x ticks */
    double sx = nice_step(a->xmax - a->xmin, ticks_x);
    for (double t = ceil(a->xmin / sx - 1e-9) * sx; t <= a->xmax + sx * 1e-9; t += sx) {
        int px = ax_x(a, t);
        vline(im, px, a->y0, a->y0 + a->h - 1, C_GRID);
        vline(im, px, a->y0 + a->h, a->y0 + a->h + 3, C_BLACK);
        fmt_tick(buf, sizeof buf, t, sx);
        text_centered(im, px, a->y0 + a->h + 6, buf, C_TEXT, 1);
    }
    /* y ticks */
    if (a->log_y) {
        for (double t = ceil(a->ymin - 1e-9); t <= a->ymax + 1e-9; t += 1) {
            int py = ax_y(a, t);
            hline(im, a->x0, a->x0 + a->w - 1, py, C_GRID);
            hline(im, a->x0 - 4, a->x0 - 1, py, C_BLACK);
            double v = pow(10, t);
            if (t >= -3 && t <= 5)
                snprintf(buf, sizeof buf, "%.*f", t < 0 ? (int)-t : 0, v);
            else
                snprintf(buf, sizeof buf, "1e%d", (int)t);
            cc_image_text(im, a->x0 - 6 - cc_image_text_width(buf, 1), py - 3, buf, C_TEXT, 1);
        }
    } else {
        double sy = nice_step(a->ymax - a->ymin, ticks_y);
        for (double t = ceil(a->ymin / sy - 1e-9) * sy; t <= a->ymax + sy * 1e-9; t += sy) {
            int py = ax_y(a, t);
            hline(im, a->x0, a->x0 + a->w - 1, py, C_GRID);
            hline(im, a->x0 - 4, a->x0 - 1, py, C_BLACK);
            fmt_tick(buf, sizeof buf, t, sy);
            cc_image_text(im, a->x0 - 6 - cc_image_text_width(buf, 1), py - 3, buf, C_TEXT, 1);
        }
    }
    hline(im, a->x0 - 1, a->x0 + a->w, a->y0 - 1, C_BLACK);
    hline(im, a->x0 - 1, a->x0 + a->w, a->y0 + a->h, C_BLACK);
    vline(im, a->x0 - 1, a->y0 - 1, a->y0 + a->h, C_BLACK);
    vline(im, a->x0 + a->w, a->y0 - 1, a->y0 + a->h, C_BLACK);
}

/* Widest y tick label, for the left margin. */
static int y_label_width(double ymin, double ymax, int log_y, int ticks)
{
    char buf[64];
    int wmax = 0;
    if (log_y) {
        for (double t = ceil(ymin - 1e-9); t <= ymax + 1e-9; t += 1) {
            if (t >= -3 && t <= 5)
                snprintf(buf, sizeof buf, "%.*f", t < 0 ? (int)-t : 0, pow(10, t));
            else
                snprintf(buf, sizeof buf, "1e%d", (int)t);
            int w = cc_image_text_width(buf, 1);
            wmax = w > wmax ? w : wmax;
        }
    } else {
        double s = nice_step(ymax - ymin, ticks);
        for (double t = ceil(ymin / s - 1e-9) * s; t <= ymax + s * 1e-9; t += s) {
            fmt_tick(buf, sizeof buf, t, s);
            int w = cc_image_text_width(buf, 1);
            wmax = w > wmax ? w : wmax;
        }
    }
    return wmax;
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

    /* data ranges; on a log axis only positive y count */
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    int any_pos = 0;
    for (int k = 0; k < nseries; k++)
        for (int i = 0; i < s[k].n; i++)
            if (isfinite(s[k].y[i]) && s[k].y[i] > 0)
                any_pos = 1;
    if (log_y && !any_pos)
        log_y = 0; /* nothing to show on a log axis */
    for (int k = 0; k < nseries; k++)
        for (int i = 0; i < s[k].n; i++) {
            double x = s[k].x ? s[k].x[i] : i, y = s[k].y[i];
            if (!isfinite(x) || !isfinite(y) || (log_y && y <= 0))
                continue;
            if (log_y)
                y = log10(y);
            xmin = x < xmin ? x : xmin;
            xmax = x > xmax ? x : xmax;
            ymin = y < ymin ? y : ymin;
            ymax = y > ymax ? y : ymax;
        }
    if (!(xmin <= xmax)) {
        xmin = 0;
        xmax = 1;
    }
    if (xmin == xmax) {
        xmin -= 0.5;
        xmax += 0.5;
    }
    if (log_y) {
        if (!(ymin <= ymax))
            ymin = ymax = 0;
        ymin = floor(ymin + 1e-9);
        ymax = ceil(ymax - 1e-9);
        if (ymax <= ymin)
            ymax = ymin + 1;
    } else {
        nice_range(&ymin, &ymax, 6);
    }
    /* x range: exact data range when it already spans well, else nice */
    double sx = nice_step(xmax - xmin, 6);
    double nxmin = floor(xmin / sx + 1e-9) * sx, nxmax = ceil(xmax / sx - 1e-9) * sx;
    xmin = nxmin;
    xmax = nxmax;

    cc_image im;
    cc_status st = cc_image_new(&im, width, height, 255, 255, 255);
    if (st != CC_OK)
        return st;
    int top = title && title[0] ? 34 : 14;
    int left = y_label_width(ymin, ymax, log_y, 6) + 12 + (ylabel && ylabel[0] ? 14 : 0);
    int bottom = 22 + (xlabel && xlabel[0] ? 14 : 0);
    int right = 20;
    axes a = {left, top, width - left - right, height - top - bottom, xmin, xmax, ymin, ymax, log_y};
    if (a.w < 40 || a.h < 40) {
        cc_image_free(&im);
        return cc_error_set(CC_ERR_ARG, "%s: plot size %dx%d too small for its labels", png_path, width,
                            height);
    }
    if (title && title[0])
        text_centered(&im, width / 2, 8, title, C_TEXT, 2);
    draw_axes(&im, &a, 6, 6);
    if (xlabel && xlabel[0])
        text_centered(&im, a.x0 + a.w / 2, height - 12, xlabel, C_TEXT, 1);
    if (ylabel && ylabel[0])
        text_vertical(&im, 3, a.y0 + a.h / 2 - cc_image_text_width(ylabel, 1) / 2, ylabel, C_TEXT);

    for (int k = 0; k < nseries; k++) {
        uint32_t c = palette[k % 16];
        int have_prev = 0, px0 = 0, py0 = 0;
        for (int i = 0; i < s[k].n; i++) {
            double x = s[k].x ? s[k].x[i] : i, y = s[k].y[i];
            if (!isfinite(x) || !isfinite(y) || (log_y && y <= 0)) {
                have_prev = 0; /* a gap */
                continue;
            }
            int px = ax_x(&a, x), py = ax_y(&a, log_y ? log10(y) : y);
            if (points && points[k]) {
                for (int d = -2; d <= 2; d++)
                    line(&im, px - 2, py + d, px + 2, py + d, c, a.x0, a.y0, a.x0 + a.w - 1, a.y0 + a.h - 1);
                continue;
            }
            if (have_prev)
                line(&im, px0, py0, px, py, c, a.x0, a.y0, a.x0 + a.w - 1, a.y0 + a.h - 1);
            else
                line(&im, px, py, px, py, c, a.x0, a.y0, a.x0 + a.w - 1, a.y0 + a.h - 1);
            px0 = px;
            py0 = py;
            have_prev = 1;
        }
    }

    /* legend, top right inside the plot area */
    int nleg = 0, lw = 0;
    for (int k = 0; k < nseries; k++)
        if (s[k].label && s[k].label[0]) {
            nleg++;
            int w = cc_image_text_width(s[k].label, 1);
            lw = w > lw ? w : lw;
        }
    if (nleg) {
        int bw = lw + 30, bh = nleg * 12 + 6;
        int bx = a.x0 + a.w - bw - 6, by = a.y0 + 6;
        cc_image_fill_rect(&im, bx, by, bw, bh, C_WHITE);
        hline(&im, bx, bx + bw - 1, by, C_BLACK);
        hline(&im, bx, bx + bw - 1, by + bh - 1, C_BLACK);
        vline(&im, bx, by, by + bh - 1, C_BLACK);
        vline(&im, bx + bw - 1, by, by + bh - 1, C_BLACK);
        int row = 0;
        for (int k = 0; k < nseries; k++) {
            if (!s[k].label || !s[k].label[0])
                continue;
            int ly = by + 4 + row * 12;
            if (points && points[k])
                cc_image_fill_rect(&im, bx + 11, ly + 1, 5, 5, palette[k % 16]);
            else
                cc_image_fill_rect(&im, bx + 5, ly + 2, 16, 3, palette[k % 16]);
            cc_image_text(&im, bx + 25, ly, s[k].label, C_TEXT, 1);
            row++;
        }
    }
    st = cc_image_write_png(&im, png_path);
    cc_image_free(&im);
    return st;
}

/* ---- histograms ---- */

#define PANEL_W 320
#define PANEL_H 240

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
        text_centered(&im, im.w / 2, 8, title, C_TEXT, 2);
    for (int p = 0; p < npanels; p++) {
        int ox = (p % ncols) * PANEL_W, oy = top + (p / ncols) * PANEL_H;
        double cmax = 0;
        for (int b = 0; b < nbins; b++)
            if (isfinite(counts[p][b]) && counts[p][b] > cmax)
                cmax = counts[p][b];
        double ymin = 0, ymax = cmax > 0 ? cmax : 1;
        nice_range(&ymin, &ymax, 4);
        ymin = 0;
        int left = y_label_width(0, ymax, 0, 4) + 10;
        axes a = {ox + left, oy + 22, PANEL_W - left - 12, PANEL_H - 22 - 22 - (xlabel && xlabel[0] ? 12 : 0),
                  lo, hi, ymin, ymax, 0};
        char def[32];
        const char *pt = panel_titles ? panel_titles[p] : NULL;
        if (!pt) {
            snprintf(def, sizeof def, "panel %d", p + 1);
            pt = def;
        }
        text_centered(&im, ox + PANEL_W / 2, oy + 8, pt, C_TEXT, 1);
        draw_axes(&im, &a, 5, 4);
        uint32_t c = palette[0];
        for (int b = 0; b < nbins; b++) {
            double v = counts[p][b];
            if (!(v > 0) || !isfinite(v))
                continue;
            int x0 = ax_x(&a, lo + (hi - lo) * b / nbins), x1 = ax_x(&a, lo + (hi - lo) * (b + 1) / nbins);
            int y1 = ax_y(&a, v > ymax ? ymax : v);
            int bw = x1 - x0 > 1 ? x1 - x0 - (x1 - x0 > 3) : 1;
            cc_image_fill_rect(&im, x0, y1, bw, a.y0 + a.h - y1, c);
        }
        if (lo < 0 && hi > 0)
            vline(&im, ax_x(&a, 0), a.y0, a.y0 + a.h - 1, RGB(214, 39, 40));
        if (xlabel && xlabel[0])
            text_centered(&im, a.x0 + a.w / 2, oy + PANEL_H - 12, xlabel, C_TEXT, 1);
    }
    st = cc_image_write_png(&im, png_path);
    cc_image_free(&im);
    return st;
}
