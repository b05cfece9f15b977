/* The pictures of the Cloudless accuracy report (pipeline/cloudless/cloudless_plot.h):
 * the leave-one-out time series of one pixel and the strip of consecutive days. */
#define _GNU_SOURCE
#include "pipeline/cloudless/cloudless_plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netcdf.h>

#include "core/alloc.h"
#include "core/date.h"
#include "io/cube.h"
#include "pipeline/cloudless/cloudless_product.h"
#include "pipeline/cloudless/gapfill.h"
#include "pipeline/atmos/cloudmask.h"
#include "pipeline/report/plot.h"

/* The status of a failure: the one its message was set with. */
static cc_status plot_fail(void)
{
    cc_status st = cc_error_status();
    return st != CC_OK ? st : CC_ERR_INTERNAL;
}

/* The truth of pixel (x, y), band b, for days [day0, day0+n) from a truth cube; NaN where absent. */
static cc_status read_truth(const char *path, int x, int y, int b, long day0, int n, double *out)
{
    int nc, tv, v, e;
    size_t nt;
    for (int i = 0; i < n; i++)
        out[i] = NAN;
    if ((e = nc_open(path, NC_NOWRITE, &nc)) != NC_NOERR)
        return cc_error_set(CC_ERR_IO, "%s: %s", path, nc_strerror(e));
    cc_status st = CC_ERR_FORMAT;
    int td;
    double *days = NULL;
    if (nc_inq_dimid(nc, "time", &td) || nc_inq_dimlen(nc, td, &nt) || nc_inq_varid(nc, "time", &tv) ||
        nc_inq_varid(nc, cc_cl_band_names[b], &v) || !(days = malloc((nt ? nt : 1) * sizeof *days)) ||
        nc_get_var_double(nc, tv, days)) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: not a truth cube with %s", path, cc_cl_band_names[b]);
        goto out;
    }
    double sc = 1, off = 0;
    nc_get_att_double(nc, v, "scale_factor", &sc);
    nc_get_att_double(nc, v, "add_offset", &off);
    for (size_t k = 0; k < nt; k++) {
        long d = (long)days[k] - day0;
        if (d < 0 || d >= n)
            continue;
        size_t start[3] = {k, (size_t)y, (size_t)x};
        unsigned short dn;
        if (nc_get_var1_ushort(nc, v, start, &dn) == NC_NOERR && dn)
            out[d] = dn * sc + off;
    }
    st = CC_OK;
out:
    free(days);
    nc_close(nc);
    return st;
}

/* A view of days [first, first + ndays) of s (no copy). */
static cc_series view(const cc_series *s, int first, int ndays)
{
    cc_series v = *s;
    size_t o = (size_t)first * s->npix;
    v.day0 = s->day0 + first;
    v.ndays = ndays;
    v.s2 += o * CC_CL_NBANDS;
    v.landsat += o * CC_CL_NBANDS;
    v.olci += o * CC_CL_NBANDS;
    v.s1 += o * CC_CL_NS1;
    return v;
}

cc_status cc_cl_plot_pixel(const char *dir, const char *tile, long from, int ndays, int px, int py, int band,
                           const char *truth, const cc_cl_model *m, const char *png)
{
    int half = cc_cl_model_half_window(m), rc = 1;
    cc_series s;
    double *x = NULL, *y[8] = {0};
    if (cc_cloudless_load(dir, tile, 0, from - half, ndays + 2 * half, px, py, 1, 1, &s, NULL, NULL) != CC_OK)
        return plot_fail();
    x = malloc((size_t)ndays * sizeof *x);
    for (int k = 0; k < 8; k++)
        y[k] = malloc((size_t)ndays * sizeof *y[k]);
    float *lin = malloc((size_t)s.ndays * sizeof *lin), *wh = malloc((size_t)s.ndays * sizeof *wh),
          *ser = malloc((size_t)s.ndays * sizeof *ser);
    if (!x || !y[6] || !y[7] || !lin || !wh || !ser) {
        cc_error_set(CC_ERR_NOMEM, "cloudless-plot: out of memory");
        goto out;
    }
    for (int i = 0; i < ndays; i++) {
        int t = half + i; /* index in s */
        x[i] = i;
        y[0][i] = s.s2[(size_t)t * CC_CL_NBANDS + (size_t)band];
        y[1][i] = s.landsat[(size_t)t * CC_CL_NBANDS + (size_t)band];
        y[2][i] = s.olci[(size_t)t * CC_CL_NBANDS + (size_t)band];
        /* leave-one-out: the day's own S2 observation hidden from every method */
        float keep[CC_CL_NBANDS];
        memcpy(keep, s.s2 + (size_t)t * CC_CL_NBANDS, sizeof keep);
        for (int b = 0; b < CC_CL_NBANDS; b++)
            s.s2[(size_t)t * CC_CL_NBANDS + (size_t)b] = NAN;
        cc_series v = view(&s, i, 2 * half + 1);
        float out[CC_CL_NBANDS];
        if (cc_cl_predict(m, &v, half, out) != CC_OK)
            goto out;
        y[3][i] = out[band];
        for (int d = 0; d < s.ndays; d++)
            ser[d] = s.s2[(size_t)d * CC_CL_NBANDS + (size_t)band];
        cc_gapfill_linear(ser + i, 2 * half + 1, 1, lin);
        y[4][i] = lin[half];
        if (cc_gapfill_whittaker(ser + i, 2 * half + 1, 1, cc_cl_model_lambda(m), 2, wh) != CC_OK)
            goto out;
        y[5][i] = wh[half];
        memcpy(s.s2 + (size_t)t * CC_CL_NBANDS, keep, sizeof keep);
    }
    /* S2 acquisitions on which this pixel was cloudy: the dates of the S2 sensor
     * cube (days with some clear pixel) where the pixel has no observation;
     * drawn on the linear-interpolation line */
    {
        char cube[4096];
        int nd = 0;
        double *cd = NULL;
        snprintf(cube, sizeof cube, "%s/%s_s2.nc", dir, tile);
        for (int i = 0; i < ndays; i++)
            y[7][i] = NAN;
        if (cc_cube_dates(cube, &nd, &cd) == CC_OK) {
            for (int k = 0; k < nd; k++) {
                long i = (long)cd[k] - from;
                if (i >= 0 && i < ndays && !isfinite(y[0][i]))
                    y[7][i] = y[4][i];
            }
            free(cd);
        }
    }
    int ns = 6;
    if (truth) {
        if (read_truth(truth, px, py, band, from, ndays, y[6]) != CC_OK)
            goto out;
        ns = 7;
    }
    /* order: lines first (truth, model, linear, Whittaker), observations on top */
    char title[256];
    char from_date[CC_DATE_ISO_SIZE];
    cc_date_format(from, from_date);
    snprintf(title, sizeof title, "%s pixel (%d, %d), %s, from %s%s", tile, px, py, cc_cl_band_names[band],
             from_date, truth ? " (SIMULATED series)" : "");
    cc_plot_series ps[8];
    uint8_t pts[8];
    int k = 0;
    if (ns == 7)
        ps[k] = (cc_plot_series){"truth (cloud-free)", x, y[6], ndays}, pts[k++] = 0;
    ps[k] = (cc_plot_series){"Cloudless model", x, y[3], ndays}, pts[k++] = 0;
    ps[k] = (cc_plot_series){"linear interpolation", x, y[4], ndays}, pts[k++] = 0;
    ps[k] = (cc_plot_series){"Whittaker", x, y[5], ndays}, pts[k++] = 0;
    ps[k] = (cc_plot_series){"S2 clear", x, y[0], ndays}, pts[k++] = 1;
    ps[k] = (cc_plot_series){"Landsat (HLS)", x, y[1], ndays}, pts[k++] = 1;
    ps[k] = (cc_plot_series){"OLCI (TOA)", x, y[2], ndays}, pts[k++] = 1;
    ps[k] = (cc_plot_series){"S2 acquired, cloudy here", x, y[7], ndays}, pts[k++] = 1;
    if (cc_plot_lines_styled(png, 900, 420, title, "day", "reflectance", 0, ps, k, pts) != CC_OK)
        goto out;
    rc = 0;
out:
    cc_series_free(&s);
    free(x);
    for (int i = 0; i < 8; i++)
        free(y[i]);
    free(lin), free(wh), free(ser);
    return rc ? plot_fail() : CC_OK;
}

static uint8_t to8(double r) { return (uint8_t)(r <= 0 ? 0 : r >= 0.25 ? 255 : floor(r / 0.25 * 255 + 0.5)); }
/* 0xRRGGBB of the B04/B03/B02 reflectances v[2], v[1], v[0] */
static uint32_t rgb8(const float *v) { return (uint32_t)to8(v[2]) << 16 | (uint32_t)to8(v[1]) << 8 | to8(v[0]); }

cc_status cc_cl_plot_strip(const char *dir, const char *tile, long from, int ndays, const cc_cl_model *m,
                           const char *png)
{
    int half = cc_cl_model_half_window(m), W = 0, H = 0, rc = 1;
    cc_series probe, s;
    memset(&s, 0, sizeof s);
    float *out = NULL;
    double *acq = NULL;
    int nacq = 0;
    cc_image im = {0};
    /* the grid size, then the whole image */
    if (cc_cloudless_load(dir, tile, 0, from, 1, 0, 0, 1, 1, &probe, &W, &H) != CC_OK)
        return plot_fail();
    cc_series_free(&probe);
    if ((long)W * H > 4096L * 4096L)
        return cc_error_set(CC_ERR_ARG, "cloudless-plot --strip: the tile (%dx%d) is too large for a strip", W, H);
    if (cc_cloudless_load(dir, tile, 0, from - half, ndays + 2 * half, 0, 0, W, H, &s, NULL, NULL) != CC_OK)
        return plot_fail();
    size_t npix = (size_t)W * H;
    char cube[4096];
    snprintf(cube, sizeof cube, "%s/%s_s2.nc", dir, tile);
    if (cc_cube_dates(cube, &nacq, &acq) != CC_OK)
        nacq = 0, acq = NULL; /* no S2 cube: every day shows as no acquisition */
    int scale = W < 128 ? 2 : 1, pad = 6, top = 14, cw = W * scale, ch = H * scale;
    out = cc_malloc3(npix, CC_CL_NBANDS, sizeof *out);
    if (!out || cc_image_new(&im, ndays * (cw + pad) + pad, 2 * (ch + pad) + top + pad + 10, 255, 255, 255) != CC_OK)
        goto out;
    for (int i = 0; i < ndays; i++) {
        cc_series v = view(&s, i, 2 * half + 1);
        if (cc_cl_predict(m, &v, half, out) != CC_OK)
            goto out;
        int ox = pad + i * (cw + pad);
        int yy, mm, dd;
        cc_date_from_days(from + i, &yy, &mm, &dd);
        char lab[16];
        snprintf(lab, sizeof lab, "%02d-%02d", mm, dd);
        cc_image_text(&im, ox, 3, lab, 0x000000, 1);
        const float *in = s.s2 + (size_t)(half + i) * npix * CC_CL_NBANDS;
        int any = 0; /* an S2 acquisition that day: a date of the S2 sensor cube */
        for (int k = 0; k < nacq; k++)
            any |= (long)acq[k] == from + i;
        for (int yv = 0; yv < ch; yv++)
            for (int xv = 0; xv < cw; xv++) {
                size_t p = (size_t)(yv / scale) * (size_t)W + (size_t)(xv / scale);
                const float *a = in + p * CC_CL_NBANDS, *o = out + p * CC_CL_NBANDS;
                /* input: grey no acquisition, white cloud; output: magenta nothing to fill with */
                cc_image_set_pixel(&im, ox + xv, top + yv, !any ? 0xa0a0a0u : !isfinite(a[2]) ? 0xfafafau : rgb8(a));
                cc_image_set_pixel(&im, ox + xv, top + ch + pad + yv, isfinite(o[2]) ? rgb8(o) : 0xff00ffu);
            }
    }
    cc_image_text(&im, pad, im.h - 10, "top: Sentinel-2 input (white cloud, grey no acquisition); bottom: Cloudless",
                  0x000000, 1);
    if (cc_image_write_png(&im, png) != CC_OK)
        goto out;
    rc = 0;
out:
    cc_series_free(&s);
    free(out);
    free(acq);
    cc_image_free(&im);
    return rc ? plot_fail() : CC_OK;
}


/* Layer `name` of the date `day` of a cube as reflectance-like values (scale
 * and offset applied; fill -> NaN): a new [h][w] array; *w, *h the grid. */
static cc_status read_day_layer(const char *path, const char *name, long day, float **out, int *w, int *h)
{
    int nc, v, dim, e;
    size_t nx = 0, ny = 0;
    int nd = 0;
    double *days = NULL;
    *out = NULL;
    if (cc_cube_dates(path, &nd, &days) != CC_OK)
        return cc_error_status();
    int ti = -1;
    for (int k = 0; k < nd; k++)
        if ((long)floor(days[k] + 0.5) == day)
            ti = k;
    free(days);
    char date[CC_DATE_ISO_SIZE];
    cc_date_format(day, date);
    if (ti < 0)
        return cc_error_set(CC_ERR_MISSING, "%s: no date %s", path, date);
    if ((e = nc_open(path, NC_NOWRITE, &nc)) != NC_NOERR)
        return cc_error_set(CC_ERR_IO, "%s: %s", path, nc_strerror(e));
    cc_status st = CC_OK;
    uint16_t *dn = NULL;
    if (nc_inq_dimid(nc, "x", &dim) || nc_inq_dimlen(nc, dim, &nx) || nc_inq_dimid(nc, "y", &dim) ||
        nc_inq_dimlen(nc, dim, &ny) || nc_inq_varid(nc, name, &v)) {
        st = cc_error_set(CC_ERR_MISSING, "%s: no layer %s", path, name);
        goto out;
    }
    if (nx * ny > 4096u * 4096u) {
        st = cc_error_set(CC_ERR_ARG, "%s: the grid (%zux%zu) is too large for a picture", path, nx, ny);
        goto out;
    }
    double sc = 1, off = 0;
    unsigned short fill = 0;
    nc_get_att_double(nc, v, "scale_factor", &sc);
    nc_get_att_double(nc, v, "add_offset", &off);
    nc_get_att_ushort(nc, v, "_FillValue", &fill);
    size_t start[3] = {(size_t)ti, 0, 0}, count[3] = {1, ny, nx};
    dn = cc_malloc3(nx, ny, sizeof *dn);
    *out = cc_malloc3(nx, ny, sizeof **out);
    if (!dn || !*out) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    if (nc_get_vara_ushort(nc, v, start, count, dn) != NC_NOERR) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: layer %s unreadable", path, name);
        goto out;
    }
    for (size_t p = 0; p < nx * ny; p++)
        (*out)[p] = dn[p] == fill ? NAN : (float)(dn[p] * sc + off);
    *w = (int)nx, *h = (int)ny;
out:
    nc_close(nc);
    free(dn);
    if (st != CC_OK) {
        free(*out);
        *out = NULL;
    }
    return st;
}

/* Pixel (x, y) rejected by the cloud mask (outside the grid: not). */
static int masked(const float *mask, int w, int h, int x, int y)
{
    if (x < 0 || y < 0 || x >= w || y >= h)
        return 0;
    float m = mask[(size_t)y * (size_t)w + (size_t)x];
    return !isfinite(m) || (m != CC_CM_CLEAR && m != CC_CM_WATER);
}

static uint32_t grey8(double v, double hi)
{
    uint32_t g = (uint32_t)(v <= 0 ? 0 : v >= hi ? 255 : floor(v / hi * 255 + 0.5));
    return g << 16 | g << 8 | g;
}

cc_status cc_cl_plot_day(const char *dir, const char *tile, long day, const char *product, const char *title,
                         const char *png)
{
    static const char *rgb[3] = {"B02", "B03", "B04"}; /* v[0], v[1], v[2] as rgb8 takes them */
    char s2[4096];
    float *in[3] = {0}, *out[3] = {0}, *mask = NULL, *sd = NULL;
    cc_image im = {0};
    int W = 0, H = 0, w2, h2, rc = 1;
    snprintf(s2, sizeof s2, "%s/%s_s2.nc", dir, tile);
    for (int c = 0; c < 3; c++)
        if (read_day_layer(s2, rgb[c], day, &in[c], &W, &H) != CC_OK ||
            read_day_layer(product, rgb[c], day, &out[c], &w2, &h2) != CC_OK)
            goto out;
    if (read_day_layer(s2, "cloud_mask", day, &mask, &w2, &h2) != CC_OK ||
        read_day_layer(product, "sd_B04", day, &sd, &w2, &h2) != CC_OK)
        goto out;
    if (w2 != W || h2 != H) {
        cc_error_set(CC_ERR_FORMAT, "%s: grid %dx%d differs from %s's %dx%d", product, w2, h2, s2, W, H);
        goto out;
    }
    const int scale = W < 96 ? 4 : W < 192 ? 2 : 1, pad = 8, top = 34, cw = W * scale, ch = H * scale;
    const int bar = 14, iw = 3 * cw + 4 * pad, ih = top + ch + pad + bar + 26;
    if (cc_image_new(&im, iw < 480 ? 480 : iw, ih, 255, 255, 255) != CC_OK)
        goto out;
    char date[CC_DATE_ISO_SIZE], head[512];
    cc_date_format(day, date);
    snprintf(head, sizeof head, "%s %s", title ? title : tile, date);
    cc_image_text(&im, pad, 3, head, 0x000000, 1);
    cc_image_text(&im, pad, 18, "Sentinel-2 input (red: cloud mask edge)", 0x000000, 1);
    cc_image_text(&im, 2 * pad + cw, 18, "cloud-free (Kalman)", 0x000000, 1);
    cc_image_text(&im, 3 * pad + 2 * cw, 18, "uncertainty sd_B04", 0x000000, 1);
    for (int y = 0; y < ch; y++)
        for (int x = 0; x < cw; x++) {
            size_t p = (size_t)(y / scale) * (size_t)W + (size_t)(x / scale);
            float a[3] = {in[0][p], in[1][p], in[2][p]}, o[3] = {out[0][p], out[1][p], out[2][p]};
            /* the masked region (not clear, not water) is outlined in red: the sides of its
             * pixels that face an unmasked pixel */
            const int px = x / scale, py = y / scale, sx = x % scale, sy = y % scale;
            int edge = masked(mask, W, H, px, py) &&
                       ((sx == 0 && !masked(mask, W, H, px - 1, py)) || (sx == scale - 1 && !masked(mask, W, H, px + 1, py)) ||
                        (sy == 0 && !masked(mask, W, H, px, py - 1)) || (sy == scale - 1 && !masked(mask, W, H, px, py + 1)));
            uint32_t ci = !isfinite(a[2]) ? 0xa0a0a0u : edge ? 0xff2020u : rgb8(a);
            cc_image_set_pixel(&im, pad + x, top + y, ci);
            cc_image_set_pixel(&im, 2 * pad + cw + x, top + y, isfinite(o[2]) ? rgb8(o) : 0xff00ffu);
            cc_image_set_pixel(&im, 3 * pad + 2 * cw + x, top + y, isfinite(sd[p]) ? grey8(sd[p], 0.05) : 0xff00ffu);
        }
    /* the sd scale bar: 0 .. 0.05 reflectance */
    const int bx = 3 * pad + 2 * cw, by = top + ch + pad;
    for (int x = 0; x < cw; x++)
        for (int y = 0; y < bar; y++)
            cc_image_set_pixel(&im, bx + x, by + y, grey8(0.05 * x / (cw > 1 ? cw - 1 : 1), 0.05));
    cc_image_text(&im, bx, by + bar + 2, "0", 0x000000, 1);
    cc_image_text(&im, bx + cw - cc_image_text_width(&im, "0.05", 1), by + bar + 2, "0.05", 0x000000, 1);
    cc_image_text(&im, pad, by + 2, "B04/B03/B02, reflectance 0..0.25", 0x000000, 1);
    if (cc_image_write_png(&im, png) != CC_OK)
        goto out;
    rc = 0;
out:
    for (int c = 0; c < 3; c++)
        free(in[c]), free(out[c]);
    free(mask);
    free(sd);
    cc_image_free(&im);
    return rc ? plot_fail() : CC_OK;
}
