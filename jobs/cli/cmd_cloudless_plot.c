/* clearcube cloudless-plot: the pictures of the Cloudless accuracy report
 * (docs/accuracy.md): the time series of one pixel (observations of every
 * sensor, the model, linear interpolation, Whittaker, and the truth when a
 * SIMULATED truth cube is given) and a quicklook strip of consecutive days
 * (Sentinel-2 input with its clouds | the cloud-free output). */
#define _GNU_SOURCE
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netcdf.h>

#include "core/alloc.h"
#include "core/date.h"
#include "core/error.h"
#include "core/log.h"
#include "io/cube.h"
#include "jobs/cli/cli.h"
#include "pipeline/cloudless/cloudless.h"
#include "pipeline/cloudless/cloudless_product.h"
#include "pipeline/cloudless/gapfill.h"
#include "pipeline/report/plot.h"

#define CC_CLOUDLESS_DEFAULT_MODEL "models/cloudless.h5" /* core/datapath.h finds it */

void cc_cmd_cloudless_plot_help(void)
{
    printf("Usage: clearcube cloudless-plot CUBE_DIR --tile T --from YYYY-MM-DD --days N --out PNG\n"
           "                                (--pixel X,Y [--band B] | --strip) [--truth TRUTH.nc] [--model M]\n\n"
           "--pixel: the time series of pixel (X, Y) over N days: clear Sentinel-2, Landsat, OLCI observations\n"
           "(points), the Cloudless model, linear interpolation and the Whittaker smoother of the clear S2\n"
           "series, and the truth of a SIMULATED series (--truth). Each day is predicted WITHOUT that day's\n"
           "S2 observation (leave-one-out), so clear days show the gap-filling error too.\n"
           "--strip: N consecutive days side by side: top the Sentinel-2 input (white: cloud, grey: no\n"
           "acquisition), bottom the cloud-free output (B04/B03/B02, reflectance 0..0.25 stretched).\n\n"
           "  --band B      band of the time series (default B8A)\n"
           "  --model M     (default: the shipped " CC_CLOUDLESS_DEFAULT_MODEL ", beside the executable in\n"
           "                ../share/clearcube/ or in $CLEARCUBE_DATA)\n");
}

static int fail(void)
{
    fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
    return cc_status_exit_code(cc_error_status());
}

static int parse_day(const char *opt, const char *v, long *day)
{
    if (!cc_date_parse(v, day)) {
        fprintf(stderr, "clearcube: error: --%s %s: expected YYYY-MM-DD\n", opt, v);
        return 2;
    }
    return 0;
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

static int plot_pixel(const char *dir, const char *tile, long from, int ndays, int px, int py, int band,
                      const char *truth, const cc_cl_model *m, const char *png)
{
    int half = cc_cl_model_half_window(m), rc = 1;
    cc_series s;
    double *x = NULL, *y[8] = {0};
    if (cc_cloudless_load(dir, tile, 0, from - half, ndays + 2 * half, px, py, 1, 1, &s, NULL, NULL) != CC_OK)
        return fail();
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
    cc_info("wrote %s", png);
    rc = 0;
out:
    if (rc)
        rc = fail();
    cc_series_free(&s);
    free(x);
    for (int i = 0; i < 8; i++)
        free(y[i]);
    free(lin), free(wh), free(ser);
    return rc;
}

static uint8_t to8(double r) { return (uint8_t)(r <= 0 ? 0 : r >= 0.25 ? 255 : floor(r / 0.25 * 255 + 0.5)); }

static int plot_strip(const char *dir, const char *tile, long from, int ndays, const cc_cl_model *m, const char *png)
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
        return fail();
    cc_series_free(&probe);
    if ((long)W * H > 4096L * 4096L) {
        cc_error_set(CC_ERR_ARG, "cloudless-plot --strip: the tile (%dx%d) is too large for a strip", W, H);
        return fail();
    }
    if (cc_cloudless_load(dir, tile, 0, from - half, ndays + 2 * half, 0, 0, W, H, &s, NULL, NULL) != CC_OK)
        return fail();
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
                uint8_t *q = im.rgb + ((size_t)(top + yv) * (size_t)im.w + (size_t)(ox + xv)) * 3;
                if (!any)
                    q[0] = q[1] = q[2] = 160; /* no acquisition */
                else if (!isfinite(a[2]))
                    q[0] = q[1] = q[2] = 250; /* cloud */
                else
                    q[0] = to8(a[2]), q[1] = to8(a[1]), q[2] = to8(a[0]);
                uint8_t *r = im.rgb + ((size_t)(top + ch + pad + yv) * (size_t)im.w + (size_t)(ox + xv)) * 3;
                if (isfinite(o[2]))
                    r[0] = to8(o[2]), r[1] = to8(o[1]), r[2] = to8(o[0]);
                else
                    r[0] = 255, r[1] = 0, r[2] = 255; /* nothing to fill with */
            }
    }
    cc_image_text(&im, pad, im.h - 10, "top: Sentinel-2 input (white cloud, grey no acquisition); bottom: Cloudless",
                  0x000000, 1);
    if (cc_image_write_png(&im, png) != CC_OK)
        goto out;
    cc_info("wrote %s", png);
    rc = 0;
out:
    if (rc)
        rc = fail();
    cc_series_free(&s);
    free(out);
    free(acq);
    cc_image_free(&im);
    return rc;
}

int cc_cmd_cloudless_plot(int argc, char **argv)
{
    enum { O_TILE = 2200, O_FROM, O_DAYS, O_OUT, O_PIX, O_BAND, O_STRIP, O_TRUTH, O_MODEL, O_LOG };
    static const struct option longopts[] = {
        {"help", no_argument, 0, 'h'},           {"tile", required_argument, 0, O_TILE},
        {"from", required_argument, 0, O_FROM},  {"days", required_argument, 0, O_DAYS},
        {"out", required_argument, 0, O_OUT},    {"pixel", required_argument, 0, O_PIX},
        {"band", required_argument, 0, O_BAND},  {"strip", no_argument, 0, O_STRIP},
        {"truth", required_argument, 0, O_TRUTH}, {"model", required_argument, 0, O_MODEL},
        {"log-level", required_argument, 0, O_LOG}, {0, 0, 0, 0}};
    const char *tile = NULL, *png = NULL, *truth = NULL, *model = NULL;
    long from = 0;
    int have_from = 0, ndays = 7, px = -1, py = -1, band = cc_cl_band_index("B8A"), strip = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        double v;
        char tail;
        switch (c) {
        case 'h': cc_cmd_cloudless_plot_help(); return 0;
        case O_TILE: tile = optarg; break;
        case O_FROM:
            if (parse_day("from", optarg, &from))
                return 2;
            have_from = 1;
            break;
        case O_DAYS:
            if (cc_cli_parse_double("days", optarg, &v) || v < 1 || v > 1000 || v != (int)v) {
                fprintf(stderr, "clearcube: error: --days %s: must be an integer in [1, 1000]\n", optarg);
                return 2;
            }
            ndays = (int)v;
            break;
        case O_OUT: png = optarg; break;
        case O_PIX:
            if (sscanf(optarg, "%d,%d%c", &px, &py, &tail) != 2 || px < 0 || py < 0) {
                fprintf(stderr, "clearcube: error: --pixel %s: expected X,Y (column, row)\n", optarg);
                return 2;
            }
            break;
        case O_BAND:
            if ((band = cc_cl_band_index(optarg)) < 0) {
                fprintf(stderr, "clearcube: error: --band %s: not a Cloudless band (B02..B12)\n", optarg);
                return 2;
            }
            break;
        case O_STRIP: strip = 1; break;
        case O_TRUTH: truth = optarg; break;
        case O_MODEL: model = optarg; break;
        case O_LOG: {
            int l = cc_log_parse_level(optarg);
            if (l < 0) {
                fprintf(stderr, "clearcube: error: --log-level %s: unknown level\n", optarg);
                return 2;
            }
            cc_log_set_level((cc_log_level)l);
            break;
        }
        default:
            fprintf(stderr, "clearcube: error: cloudless-plot: bad option (see clearcube cloudless-plot --help)\n");
            return 2;
        }
    }
    if (optind != argc - 1 || !tile || !png || !have_from || (strip == (px >= 0))) {
        fprintf(stderr, "clearcube: error: cloudless-plot: need CUBE_DIR, --tile, --from, --out and one of --pixel or "
                        "--strip (see clearcube cloudless-plot --help)\n");
        return 2;
    }
    char shipped[PATH_MAX];
    int drc = cc_cli_data_file(&model, CC_CLOUDLESS_DEFAULT_MODEL, shipped, sizeof shipped);
    if (drc)
        return drc;
    cc_cl_model *m = NULL;
    if (cc_cl_model_load(model, &m) != CC_OK)
        return fail();
    int rc = strip ? plot_strip(argv[optind], tile, from, ndays, m, png)
                   : plot_pixel(argv[optind], tile, from, ndays, px, py, band, truth, m, png);
    cc_cl_model_free(m);
    return rc;
}
