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

