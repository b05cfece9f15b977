#include "pipeline/report/quicklook.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cpl_conv.h>
#include <gdal.h>

#include "core/alloc.h"
#include "pipeline/report/plot.h"

/* Percentile of the valid (non-zero) values of three layers, by histogram. */
static void joint_percentiles(size_t n, const uint16_t *const ch[3], double plo, double phi,
                              double *lo, double *hi)
{
    static _Thread_local uint32_t hist[65536];
    memset(hist, 0, sizeof hist);
    size_t total = 0;
    for (int c = 0; c < 3; c++)
        for (size_t i = 0; i < n; i++)
            if (ch[c][i]) {
                hist[ch[c][i]]++;
                total++;
            }
    *lo = 0;
    *hi = 1;
    if (total == 0)
        return;
    size_t want_lo = (size_t)(plo * (double)total), want_hi = (size_t)(phi * (double)total), acc = 0;
    int got_lo = 0;
    for (int v = 0; v < 65536; v++) {
        acc += hist[v];
        if (!got_lo && acc > want_lo) {
            *lo = v;
            got_lo = 1;
        }
        if (acc > want_hi) {
            *hi = v;
            break;
        }
    }
    if (*hi <= *lo)
        *hi = *lo + 1;
}

cc_status cc_quicklook_write(const char *path, int width, int height, const uint16_t *red,
                             const uint16_t *green, const uint16_t *blue, int max_dim)
{
    cc_status st = CC_ERR_INTERNAL;
    uint8_t *rgba = NULL;
    GDALDatasetH mem = NULL;
    const uint16_t *ch[3] = {red, green, blue};
    int step = 1;
    if (max_dim > 0)
        while ((width + step - 1) / step > max_dim || (height + step - 1) / step > max_dim)
            step++;
    int ow = (width + step - 1) / step, oh = (height + step - 1) / step;
    double lo, hi;
    joint_percentiles((size_t)width * height, ch, 0.02, 0.98, &lo, &hi);

    if (!(rgba = cc_calloc3((size_t)ow * oh, 4, 1))) {
        st = CC_ERR_NOMEM;
        goto out;
    }
    for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++) {
            double sum[3] = {0, 0, 0};
            int cnt = 0;
            for (int y = oy * step; y < (oy + 1) * step && y < height; y++)
                for (int x = ox * step; x < (ox + 1) * step && x < width; x++) {
                    size_t i = (size_t)y * width + x;
                    if (!red[i] || !green[i] || !blue[i])
                        continue;
                    for (int c = 0; c < 3; c++)
                        sum[c] += ch[c][i];
                    cnt++;
                }
            size_t o = (size_t)oy * ow + ox;
            if (!cnt)
                continue;
            for (int c = 0; c < 3; c++) {
                double v = (sum[c] / cnt - lo) / (hi - lo);
                v = v < 0 ? 0 : v > 1 ? 1 : v;
                rgba[(size_t)c * ow * oh + o] = (uint8_t)lround(255.0 * sqrt(v)); /* gamma 2 */
            }
            rgba[(size_t)3 * ow * oh + o] = 255;
        }

    GDALDriverH mdrv = GDALGetDriverByName("MEM"), pdrv = GDALGetDriverByName("PNG");
    if (!mdrv || !pdrv) {
        st = cc_error_set(CC_ERR_UNSUPPORTED, "%s: GDAL lacks the MEM or PNG driver", path);
        goto out;
    }
    mem = GDALCreate(mdrv, "", ow, oh, 4, GDT_Byte, NULL);
    if (!mem || GDALDatasetRasterIO(mem, GF_Write, 0, 0, ow, oh, rgba, ow, oh, GDT_Byte, 4, NULL, 0, 0,
                                    0) != CE_None) {
        st = cc_error_set(CC_ERR_INTERNAL, "%s: cannot build the quicklook image", path);
        goto out;
    }
    GDALSetRasterColorInterpretation(GDALGetRasterBand(mem, 4), GCI_AlphaBand);
    st = cc_png_write_dataset(mem, path);
out:
    if (mem)
        GDALClose(mem);
    free(rgba);
    return st;
}
