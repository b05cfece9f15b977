/* pipeline/report/quicklook: the percentile stretch (issue 16: the demo's
 * quicklooks were nearly black). A dark scene (reflectance 0 .. 0.04, DN 1000 ..
 * 1400 with the 04.00 offset) must give a spread histogram; the per-band stretch
 * must balance bands of different ranges; nodata stays transparent; bad
 * percentiles are refused. PNGs read back with GDAL. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gdal.h>

#include "pipeline/report/quicklook.h"
#include "testutil.h"

enum { W = 200, H = 100 };

/* Reads the RGBA PNG; returns the 2nd and 98th percentile and the mean of
 * channel c over opaque pixels, and the number of transparent pixels. */
static int stats(const char *path, int c, double *p2, double *p98, double *mean, int *ntransp)
{
    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    if (!ds || GDALGetRasterCount(ds) != 4 || GDALGetRasterXSize(ds) != W || GDALGetRasterYSize(ds) != H) {
        if (ds)
            GDALClose(ds);
        return -1;
    }
    static unsigned char v[W * H], a[W * H];
    int ok = GDALRasterIO(GDALGetRasterBand(ds, c + 1), GF_Read, 0, 0, W, H, v, W, H, GDT_Byte, 0, 0) == CE_None &&
             GDALRasterIO(GDALGetRasterBand(ds, 4), GF_Read, 0, 0, W, H, a, W, H, GDT_Byte, 0, 0) == CE_None;
    GDALClose(ds);
    if (!ok)
        return -1;
    long hist[256] = {0}, n = 0;
    double s = 0;
    *ntransp = 0;
    for (int i = 0; i < W * H; i++) {
        if (!a[i]) {
            (*ntransp)++;
            continue;
        }
        hist[v[i]]++;
        s += v[i];
        n++;
    }
    long acc = 0;
    *p2 = *p98 = -1;
    for (int k = 0; k < 256; k++) {
        acc += hist[k];
        if (*p2 < 0 && acc > n * 0.02)
            *p2 = k;
        if (*p98 < 0 && acc > n * 0.98)
            *p98 = k;
    }
    *mean = n ? s / n : 0;
    return 0;
}

int main(void)
{
    GDALAllRegister();
    const char *dir = cc_test_tmpdir("test_quicklook");
    static uint16_t r[W * H], g[W * H], b[W * H];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int i = y * W + x;
            double t = (double)x / (W - 1), u = (double)y / (H - 1);
            /* dark: DN 1000 + reflectance * 10000, reflectance 0.005 .. 0.04 */
            r[i] = (uint16_t)(1050 + 300 * t + 50 * u);
            g[i] = (uint16_t)(1060 + 250 * t + 40 * u);
            b[i] = (uint16_t)(1080 + 200 * t + 30 * u);
            if (x < 10 && y < 10)
                r[i] = g[i] = b[i] = 0; /* nodata */
        }
    char p[2300];
    double p2, p98, mean;
    int nt;
    /* the default: common 2-98 % stretch */
    snprintf(p, sizeof p, "%s/dark.png", dir);
    CHECK_OK(cc_quicklook_write(p, W, H, r, g, b, 2048));
    for (int c = 0; c < 3; c++) {
        CHECK(stats(p, c, &p2, &p98, &mean, &nt) == 0);
        printf("common stretch, channel %d: p2 %.0f, p98 %.0f, mean %.1f\n", c, p2, p98, mean);
        CHECK(p98 - p2 >= 120); /* spread over half of the range or more */
        CHECK(mean > 60 && mean < 230);
        CHECK(nt == 100);
    }
    /* what a fixed 1000..3500 DN scale (the demo's gdal_translate) gives: nearly black */
    double fixed_mean = 0;
    for (int i = 0; i < W * H; i++)
        fixed_mean += r[i] ? fmax(0, (r[i] - 1000) * 255.0 / 2500) : 0;
    printf("a fixed 1000..3500 scale: mean red %.1f\n", fixed_mean / (W * H - 100));

    /* bands of very different ranges: per band, each spreads */
    for (int i = 0; i < W * H; i++)
        if (b[i])
            b[i] = (uint16_t)(1000 + (b[i] - 1000) * 20); /* blue 10x brighter */
    snprintf(p, sizeof p, "%s/common.png", dir);
    cc_quicklook_options o;
    cc_quicklook_options_init(&o);
    CHECK_OK(cc_quicklook_write_opts(p, W, H, r, g, b, &o));
    CHECK(stats(p, 0, &p2, &p98, &mean, &nt) == 0);
    double red_common = p98 - p2;
    snprintf(p, sizeof p, "%s/band.png", dir);
    o.mode = CC_QL_PER_BAND;
    CHECK_OK(cc_quicklook_write_opts(p, W, H, r, g, b, &o));
    for (int c = 0; c < 3; c++) {
        CHECK(stats(p, c, &p2, &p98, &mean, &nt) == 0);
        printf("per-band stretch, channel %d: p2 %.0f, p98 %.0f\n", c, p2, p98);
        CHECK(p98 - p2 >= 120);
        if (c == 0)
            CHECK(p98 - p2 > red_common + 50); /* the common stretch left red dark */
    }
    /* the stretch range itself */
    const uint16_t *ch[3] = {r, g, b};
    double lo[3], hi[3];
    cc_quicklook_stretch_range((size_t)W * H, ch, &o, lo, hi);
    CHECK(lo[0] < hi[0] && hi[0] < lo[2]);
    o.mode = CC_QL_COMMON;
    cc_quicklook_stretch_range((size_t)W * H, ch, &o, lo, hi);
    CHECK(lo[0] == lo[1] && lo[1] == lo[2] && hi[0] == hi[2]);
    /* bad percentiles: refused, nothing written */
    snprintf(p, sizeof p, "%s/bad.png", dir);
    o.p_lo = 50;
    o.p_hi = 40;
    CHECK(cc_quicklook_write_opts(p, W, H, r, g, b, &o) == CC_ERR_ARG);
    FILE *f = fopen(p, "rb");
    CHECK(f == NULL);
    if (f)
        fclose(f);
    GDALDestroyDriverManager();
    TEST_RETURN();
}
