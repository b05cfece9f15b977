#include "pipeline/report/quicklook.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cpl_error.h>
#include <gdal.h>

#include "core/alloc.h"
#include "pipeline/report/plot.h"

void cc_quicklook_options_init(cc_quicklook_options *o)
{
    memset(o, 0, sizeof *o);
    o->p_lo = 2;
    o->p_hi = 98;
    o->mode = CC_QL_COMMON;
    o->max_dim = 2048;
}

/* Percentiles plo, phi (fractions) of the valid (non-zero) values of the
 * layers ch[c0..c1], by a histogram of the 16-bit values. */
static void percentiles(size_t n, const uint16_t *const ch[3], int c0, int c1, double plo, double phi, double *lo,
                        double *hi)
{
    uint32_t *hist = calloc(65536, sizeof *hist);
    *lo = 0;
    *hi = 1;
    if (!hist)
        return;
    size_t total = 0;
    for (int c = c0; c <= c1; c++)
        for (size_t i = 0; i < n; i++)
            if (ch[c][i]) {
                hist[ch[c][i]]++;
                total++;
            }
    if (total > 0) {
        size_t want_lo = (size_t)(plo * (double)total), want_hi = (size_t)(phi * (double)total), acc = 0;
        int got_lo = 0;
        for (int v = 0; v < 65536; v++) {
            acc += hist[v];
            if (!got_lo && acc > want_lo) {
                *lo = v;
                got_lo = 1;
            }
            if (acc > want_hi || v == 65535) {
                *hi = v;
                break;
            }
        }
    }
    if (*hi <= *lo)
        *hi = *lo + 1;
    free(hist);
}

void cc_quicklook_stretch_range(size_t n, const uint16_t *const ch[3], const cc_quicklook_options *o, double lo[3],
                                double hi[3])
{
    cc_quicklook_options d;
    if (!o) {
        cc_quicklook_options_init(&d);
        o = &d;
    }
    double plo = o->p_lo / 100, phi = o->p_hi / 100;
    if (o->mode == CC_QL_PER_BAND) {
        for (int c = 0; c < 3; c++)
            percentiles(n, ch, c, c, plo, phi, &lo[c], &hi[c]);
        return;
    }
    percentiles(n, ch, 0, 2, plo, phi, &lo[0], &hi[0]);
    lo[1] = lo[2] = lo[0];
    hi[1] = hi[2] = hi[0];
}

cc_status cc_quicklook_write_opts(const char *path, int width, int height, const uint16_t *red,
                                  const uint16_t *green, const uint16_t *blue, const cc_quicklook_options *o)
{
    cc_quicklook_options d;
    if (!o) {
        cc_quicklook_options_init(&d);
        o = &d;
    }
    if (!(o->p_lo >= 0 && o->p_lo < o->p_hi && o->p_hi <= 100))
        return cc_error_set(CC_ERR_ARG, "%s: quicklook percentiles %g..%g: need 0 <= low < high <= 100", path,
                            o->p_lo, o->p_hi);
    if (width <= 0 || height <= 0)
        return cc_error_set(CC_ERR_ARG, "%s: quicklook of an empty image (%dx%d)", path, width, height);
    const uint16_t *ch[3] = {red, green, blue};
    int step = 1;
    if (o->max_dim > 0)
        while ((width + step - 1) / step > o->max_dim || (height + step - 1) / step > o->max_dim)
            step++;
    int ow = (width + step - 1) / step, oh = (height + step - 1) / step;
    double lo[3], hi[3];
    cc_quicklook_stretch_range((size_t)width * height, ch, o, lo, hi);
    cc_image im;
    cc_status st = cc_image_new_transparent(&im, ow, oh);
    if (st != CC_OK)
        return st;
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
            if (!cnt)
                continue; /* nodata: transparent */
            uint32_t rgb = 0;
            for (int c = 0; c < 3; c++) {
                double v = (sum[c] / cnt - lo[c]) / (hi[c] - lo[c]);
                v = v < 0 ? 0 : v > 1 ? 1 : v;
                rgb = rgb << 8 | (uint32_t)lround(255.0 * sqrt(v)); /* gamma 2 */
            }
            cc_image_set_pixel(&im, ox, oy, rgb);
        }
    st = cc_image_write_png(&im, path);
    cc_image_free(&im);
    return st;
}

cc_status cc_quicklook_write(const char *path, int width, int height, const uint16_t *red,
                             const uint16_t *green, const uint16_t *blue, int max_dim)
{
    cc_quicklook_options o;
    cc_quicklook_options_init(&o);
    o.max_dim = max_dim;
    return cc_quicklook_write_opts(path, width, height, red, green, blue, &o);
}

cc_status cc_quicklook_cube(const char *cube, const char *bands, int date_index, const char *png,
                            const cc_quicklook_options *o)
{
    char names[3][32];
    if (!bands)
        bands = "B04,B03,B02";
    if (sscanf(bands, "%31[^,],%31[^,],%31s", names[0], names[1], names[2]) != 3)
        return cc_error_set(CC_ERR_ARG, "--bands %s: expected three layer names R,G,B", bands);
    uint16_t *ch[3] = {NULL, NULL, NULL};
    int w = 0, h = 0;
    cc_status st = CC_OK;
    for (int c = 0; c < 3 && st == CC_OK; c++) {
        char sub[4200];
        snprintf(sub, sizeof sub, "NETCDF:\"%s\":%s", cube, names[c]);
        CPLPushErrorHandler(CPLQuietErrorHandler);
        GDALDatasetH ds = GDALOpen(sub, GA_ReadOnly);
        CPLPopErrorHandler();
        if (!ds) {
            st = cc_error_set(CC_ERR_MISSING, "%s: no layer %s (or not a NetCDF cube)", cube, names[c]);
            break;
        }
        int bw = GDALGetRasterXSize(ds), bh = GDALGetRasterYSize(ds), nd = GDALGetRasterCount(ds);
        if (c > 0 && (bw != w || bh != h))
            st = cc_error_set(CC_ERR_FORMAT, "%s: layer %s is %dx%d, %s is %dx%d", cube, names[c], bw, bh, names[0],
                              w, h);
        else if (date_index < 0 || date_index >= nd)
            st = cc_error_set(CC_ERR_MISSING, "%s: no date %d (the cube has %d)", cube, date_index, nd);
        else if (!(ch[c] = cc_malloc3((size_t)bw, (size_t)bh, sizeof(uint16_t))))
            st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory (%dx%d)", cube, bw, bh);
        else if (GDALRasterIO(GDALGetRasterBand(ds, date_index + 1), GF_Read, 0, 0, bw, bh, ch[c], bw, bh,
                              GDT_UInt16, 0, 0) != CE_None)
            st = cc_error_set(CC_ERR_IO, "%s: cannot read layer %s", cube, names[c]);
        w = bw;
        h = bh;
        GDALClose(ds);
    }
    if (st == CC_OK)
        st = cc_quicklook_write_opts(png, w, h, ch[0], ch[1], ch[2], o);
    for (int c = 0; c < 3; c++)
        free(ch[c]);
    return st;
}
