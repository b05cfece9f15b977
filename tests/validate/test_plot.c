/* Unit test of pipeline/plot: line plots (linear and log y, with NaN and
 * non-positive values), histogram panels, and the error for an unwritable
 * path. Checks the PNG size with GDAL. Writes to $CLEARCUBE_TMP/test_plot. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <gdal.h>

#include "pipeline/report/plot.h"
#include "testutil.h"

static void check_png(const char *path, int w, int h)
{
    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    CHECK(ds != NULL);
    if (!ds)
        return;
    CHECK(!strcmp(GDALGetDriverShortName(GDALGetDatasetDriver(ds)), "PNG"));
    CHECK(GDALGetRasterXSize(ds) == w);
    CHECK(GDALGetRasterYSize(ds) == h);
    CHECK(GDALGetRasterCount(ds) == 3);
    /* not blank: some pixel is not white */
    int nonwhite = 0;
    unsigned char *buf = malloc((size_t)w * h);
    if (buf && GDALRasterIO(GDALGetRasterBand(ds, 1), GF_Read, 0, 0, w, h, buf, w, h, GDT_Byte, 0, 0) == CE_None)
        for (int i = 0; i < w * h; i++)
            nonwhite += buf[i] != 255;
    CHECK(nonwhite > 100);
    free(buf);
    GDALClose(ds);
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
