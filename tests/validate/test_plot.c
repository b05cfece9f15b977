/* Unit test of pipeline/plot: line plots (linear and log y, with NaN and
 * non-positive values), histogram panels, and the error for an unwritable
 * path. Reads the PNGs back with GDAL: size, the series' colours, text in the
 * margins, anti-aliasing; the canvas (pixels, rectangles, text, RGBA). Writes to $CLEARCUBE_TMP/test_plot. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <gdal.h>

#include "pipeline/report/plot.h"
#include "testutil.h"

/* The PNG at path: w x h, RGB, and its pixels (malloc'd, 3 planes) or NULL. */
static unsigned char *read_png(const char *path, int w, int h)
{
    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    CHECK(ds != NULL);
    if (!ds)
        return NULL;
    CHECK(!strcmp(GDALGetDriverShortName(GDALGetDatasetDriver(ds)), "PNG"));
    CHECK(GDALGetRasterXSize(ds) == w);
    CHECK(GDALGetRasterYSize(ds) == h);
    CHECK(GDALGetRasterCount(ds) == 3);
    unsigned char *buf = malloc((size_t)w * h * 3);
    if (!buf || GDALGetRasterCount(ds) != 3 || GDALGetRasterXSize(ds) != w || GDALGetRasterYSize(ds) != h ||
        GDALDatasetRasterIO(ds, GF_Read, 0, 0, w, h, buf, w, h, GDT_Byte, 3, NULL, 0, 0, 0) != CE_None) {
        free(buf);
        buf = NULL;
    }
    GDALClose(ds);
    return buf;
}

/* Pixels of colour 0xRRGGBB (within tol per channel) in the rectangle. */
static int count_colour(const unsigned char *b, int w, int h, int x0, int y0, int x1, int y1, uint32_t c, int tol)
{
    int n = 0;
    size_t np = (size_t)w * h;
    for (int y = y0; y < y1 && y < h; y++)
        for (int x = x0; x < x1 && x < w; x++) {
            size_t i = (size_t)y * w + x;
            n += abs(b[i] - (int)(c >> 16 & 255)) <= tol && abs(b[np + i] - (int)(c >> 8 & 255)) <= tol &&
                 abs(b[2 * np + i] - (int)(c & 255)) <= tol;
        }
    return n;
}

/* Distinct grey levels (r == g == b) in the image: anti-aliased text and lines
 * have many; a 1-bit bitmap font has two. */
static int grey_levels(const unsigned char *b, int w, int h)
{
    int seen[256] = {0}, n = 0;
    size_t np = (size_t)w * h;
    for (size_t i = 0; i < np; i++)
        if (b[i] == b[np + i] && b[i] == b[2 * np + i] && !seen[b[i]]++)
            n++;
    return n;
}

static void check_png(const char *path, int w, int h)
{
    unsigned char *b = read_png(path, w, h);
    CHECK(b != NULL);
    if (!b)
        return;
    /* not blank: dark pixels (frame, ticks, text) */
    CHECK(count_colour(b, w, h, 0, 0, w, h, 0x000000, 100) > 100);
    free(b);
}

int main(void)
{
    GDALAllRegister();
    const char *dir = cc_test_tmpdir("test_plot");
    char p[2300];
    enum { N = 200 };
    double x[N], y1[N], y2[N], y3[N];
    for (int i = 0; i < N; i++) {
        x[i] = i + 1;
        y1[i] = 2.0 * exp(-i / 40.0) + 0.05;
        y2[i] = 1.5 * exp(-i / 60.0) + 0.1;
        y3[i] = i % 17 == 5 ? NAN : sin(i / 10.0); /* non-positive and NaN values */
    }
    cc_plot_series s[3] = {{"train loss", x, y1, N}, {"validation loss", x, y2, N}, {"sin (gaps)", x, y3, N}};

    snprintf(p, sizeof p, "%s/lines.png", dir);
    CHECK_OK(cc_plot_lines(p, 640, 400, "Loss curves", "step", "loss", 0, s, 3));
    check_png(p, 640, 400);
    {
        unsigned char *b = read_png(p, 640, 400);
        if (b) {
            /* the three series in the palette's first three colours, inside the plot */
            CHECK(count_colour(b, 640, 400, 40, 30, 620, 360, 0x1f77b4, 30) > 200);
            CHECK(count_colour(b, 640, 400, 40, 30, 620, 360, 0xff7f0e, 30) > 200);
            CHECK(count_colour(b, 640, 400, 40, 30, 620, 360, 0x2ca02c, 30) > 100);
            /* tick labels left of the axis and under it, the title on top: dark text */
            CHECK(count_colour(b, 640, 400, 0, 40, 40, 360, 0x141414, 60) > 50);
            CHECK(count_colour(b, 640, 400, 40, 360, 640, 400, 0x141414, 60) > 50);
            CHECK(count_colour(b, 640, 400, 200, 0, 440, 30, 0x141414, 60) > 50);
            /* anti-aliased drawing (cairo), not a 1-bit font */
            CHECK(grey_levels(b, 640, 400) > 20);
            free(b);
        }
    }

    snprintf(p, sizeof p, "%s/lines_log.png", dir);
    CHECK_OK(cc_plot_lines(p, 800, 500, "Loss curves (log)", "step", "loss", 1, s, 3));
    check_png(p, 800, 500);

    /* log axis with no positive value at all: falls back to linear */
    double neg[4] = {-1, 0, -3, NAN};
    cc_plot_series sn = {"all <= 0", NULL, neg, 4};
    snprintf(p, sizeof p, "%s/lines_log_nonpos.png", dir);
    CHECK_OK(cc_plot_lines(p, 320, 240, "non-positive", NULL, NULL, 1, &sn, 1));
    check_png(p, 320, 240);

    /* one point, constant series */
    double one = 3;
    cc_plot_series s1 = {NULL, NULL, &one, 1};
    snprintf(p, sizeof p, "%s/one.png", dir);
    CHECK_OK(cc_plot_lines(p, 200, 200, NULL, NULL, NULL, 0, &s1, 1));
    check_png(p, 200, 200);

    /* determinism */
    char q[2300];
    snprintf(p, sizeof p, "%s/lines.png", dir);
    snprintf(q, sizeof q, "%s/lines2.png", dir);
    CHECK_OK(cc_plot_lines(q, 640, 400, "Loss curves", "step", "loss", 0, s, 3));
    char cmd[5000];
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", p, q);
    CHECK(system(cmd) == 0);

    /* histograms: 5 panels -> 4 columns x 2 rows of 320x240 + title */
    enum { NB = 50 };
    double c[5][NB];
    const double *cp[5];
    const char *titles[5] = {"B02", "B03", "B04", "B08", NULL};
    for (int k = 0; k < 5; k++) {
        for (int b = 0; b < NB; b++)
            c[k][b] = 1000.0 * exp(-pow((b - 25 - 3 * k) / (4.0 + k), 2));
        cp[k] = c[k];
    }
    snprintf(p, sizeof p, "%s/hist.png", dir);
    CHECK_OK(cc_plot_histograms(p, "prediction - reference", 5, titles, cp, NB, -100, 100, "DN"));
    check_png(p, 4 * 320, 30 + 2 * 240);
    snprintf(p, sizeof p, "%s/hist1.png", dir);
    CHECK_OK(cc_plot_histograms(p, NULL, 1, NULL, cp, NB, 0, 1, NULL));
    check_png(p, 320, 4 + 240);

    /* the canvas: pixels, rectangles, text; a transparent image is an RGBA PNG */
    {
        cc_image im;
        CHECK_OK(cc_image_new(&im, 120, 60, 255, 255, 255));
        cc_image_set_pixel(&im, 3, 4, 0xff0000);
        cc_image_fill_rect(&im, 10, 10, 20, 10, 0x00ff00);
        cc_image_set_pixel(&im, 5, 4, 0x0000ff); /* after cairo drew: still seen */
        CHECK(cc_image_text(&im, 40, 20, "B04 \xc3\xa9 \xff", 0x000000, 1) > 20); /* invalid byte: '?' */
        CHECK(cc_image_text_width(&im, "abc", 2) > cc_image_text_width(&im, "abc", 1));
        snprintf(p, sizeof p, "%s/canvas.png", dir);
        CHECK_OK(cc_image_write_png(&im, p));
        cc_image_free(&im);
        unsigned char *b = read_png(p, 120, 60);
        if (b) {
            size_t np = 120 * 60;
            CHECK(b[4 * 120 + 3] == 255 && b[np + 4 * 120 + 3] == 0 && b[2 * np + 4 * 120 + 3] == 0);
            CHECK(b[4 * 120 + 5] == 0 && b[2 * np + 4 * 120 + 5] == 255);
            CHECK(count_colour(b, 120, 60, 10, 10, 30, 20, 0x00ff00, 0) == 200);
            CHECK(count_colour(b, 120, 60, 40, 18, 120, 40, 0x000000, 100) > 20);
            free(b);
        }
        CHECK_OK(cc_image_new_transparent(&im, 16, 8));
        cc_image_set_pixel(&im, 1, 1, 0x808080);
        snprintf(p, sizeof p, "%s/rgba.png", dir);
        CHECK_OK(cc_image_write_png(&im, p));
        cc_image_free(&im);
        GDALDatasetH ds = GDALOpen(p, GA_ReadOnly);
        CHECK(ds && GDALGetRasterCount(ds) == 4);
        if (ds && GDALGetRasterCount(ds) == 4) {
            unsigned char a[16 * 8];
            CHECK(GDALRasterIO(GDALGetRasterBand(ds, 4), GF_Read, 0, 0, 16, 8, a, 16, 8, GDT_Byte, 0, 0) == CE_None);
            CHECK(a[17] == 255 && a[0] == 0 && a[16 * 8 - 1] == 0);
        }
        if (ds)
            GDALClose(ds);
    }

    /* errors: unwritable path names the file and leaves nothing */
    snprintf(p, sizeof p, "%s/no-such-dir/x.png", dir);
    cc_status st = cc_plot_lines(p, 400, 300, "t", "x", "y", 0, s, 3);
    CHECK(st == CC_ERR_IO);
    CHECK(strstr(cc_error_message(), "no-such-dir/x.png") != NULL);
    st = cc_plot_histograms(p, "t", 5, titles, cp, NB, -1, 1, "DN");
    CHECK(st == CC_ERR_IO);
    CHECK(strstr(cc_error_message(), "no-such-dir/x.png") != NULL);
    CHECK(access(p, F_OK) != 0);
    /* bad arguments */
    snprintf(p, sizeof p, "%s/bad.png", dir);
    CHECK(cc_plot_lines(p, 10, 10, NULL, NULL, NULL, 0, s, 3) == CC_ERR_ARG);
    CHECK(cc_plot_lines(p, 400, 300, NULL, NULL, NULL, 0, s, 0) == CC_ERR_ARG);
    CHECK(cc_plot_histograms(p, NULL, 1, NULL, cp, NB, 1, 1, NULL) == CC_ERR_ARG);
    CHECK(access(p, F_OK) != 0);
    /* no stray temporaries */
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -q tmp-", dir);
    CHECK(system(cmd) != 0);
    GDALDestroyDriverManager();
    TEST_RETURN();
}
