/* clearcube: the GDAL window source of the streaming inference
 * (pipeline/boa/infer.h): one file per channel, coarse bands upsampled onto the
 * finest grid window by window with cc_infer_upsample. Used from one thread
 * at a time (the reader thread), as GDAL datasets require. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <gdal.h>

#include "core/alloc.h"
#include "pipeline/boa/infer.h"

typedef struct {
    GDALDatasetH ds;
    GDALRasterBandH band;
    char *path;
    int f;              /* coarse pixel = f fine pixels                          */
    int cw, ch;         /* file size                                             */
} gchan;

struct cc_infer_gdal {
    int n;
    gchan *ch;
    int width, height;  /* the fine grid                                         */
    uint16_t *scratch;  /* one coarse window                                     */
    size_t scratch_cap;
    char name[512];
};

void cc_infer_gdal_close(cc_infer_gdal *g)
{
    if (!g)
        return;
    for (int k = 0; g->ch && k < g->n; k++) {
        if (g->ch[k].ds)
            GDALClose(g->ch[k].ds);
        free(g->ch[k].path);
    }
    free(g->ch);
    free(g->scratch);
    free(g);
}

static cc_status gdal_read(void *ctx, int x0, int y0, int w, int h, uint16_t *dst)
{
    cc_infer_gdal *g = ctx;
    const int n = g->n;
    for (int k = 0; k < n; k++) {
        gchan *c = &g->ch[k];
        CPLErr e;
        CPLErrorReset();
        if (c->f == 1) {
            e = GDALRasterIO(c->band, GF_Read, x0, y0, w, h, dst + k, w, h, GDT_UInt16,
                             n * (int)sizeof *dst, (GSpacing)w * n * (int)sizeof *dst);
        } else {
            int bx0, by0, bw, bh;
            cc_infer_coarse_window(c->f, c->cw, c->ch, x0, y0, w, h, &bx0, &by0, &bw, &bh);
            size_t need = (size_t)bw * (size_t)bh;
            if (need > g->scratch_cap) {
                uint16_t *p = cc_malloc3(need, sizeof *p, 1);
                if (!p)
                    return cc_error_set(CC_ERR_NOMEM, "%s: out of memory for a %dx%d window",
                                        c->path, bw, bh);
                free(g->scratch);
                g->scratch = p;
                g->scratch_cap = need;
            }
            e = GDALRasterIO(c->band, GF_Read, bx0, by0, bw, bh, g->scratch, bw, bh, GDT_UInt16,
                             0, 0);
            if (e == CE_None) {
                cc_status st = cc_infer_upsample(g->scratch, bx0, by0, bw, bh, c->cw, c->ch, c->f,
                                                 x0, y0, w, h, dst + k, (size_t)n);
                if (st != CC_OK)
                    return st;
            }
        }
        if (e != CE_None) {
            /* decoder errors raised in GDAL's worker threads do not reach
             * this thread's last-error message */
            const char *msg = CPLGetLastErrorMsg();
            return cc_error_set(CC_ERR_IO, "%s: cannot read rows %d-%d: %s", c->path, y0,
                                y0 + h - 1,
                                msg && *msg ? msg : "decoding failed (truncated or corrupt file?)");
        }
    }
    return CC_OK;
}

cc_status cc_infer_gdal_open(const char *const *paths, int nchannels, cc_infer_gdal **out,
                             cc_infer_source *src, double gt[6], char **wkt)
{
    cc_status st = CC_OK;
    cc_infer_gdal *g = NULL;
    double gts[CC_NN_MAX_IO][6];
    int has_gt[CC_NN_MAX_IO];
    int fine = 0;

    *out = NULL;
    if (wkt)
        *wkt = NULL;
    if (!paths || nchannels < 1 || nchannels > CC_NN_MAX_IO) {
        st = cc_error_set(CC_ERR_ARG, "infer: %d input files (1..%d)", nchannels, CC_NN_MAX_IO);
        goto out;
    }
    GDALAllRegister();
    g = calloc(1, sizeof *g);
    if (!g || !(g->ch = calloc((size_t)nchannels, sizeof *g->ch))) {
        st = cc_error_set(CC_ERR_NOMEM, "infer: out of memory");
        goto out;
    }
    g->n = nchannels;
    for (int k = 0; k < nchannels; k++) {
        gchan *c = &g->ch[k];
        size_t len = strlen(paths[k]) + 1;
        if (!(c->path = malloc(len))) {
            st = cc_error_set(CC_ERR_NOMEM, "infer: out of memory");
            goto out;
        }
        memcpy(c->path, paths[k], len);
        CPLErrorReset();
        c->ds = GDALOpen(paths[k], GA_ReadOnly);
        if (!c->ds) {
            st = cc_error_set(CC_ERR_IO, "%s: cannot open: %s", paths[k], CPLGetLastErrorMsg());
            goto out;
        }
        if (GDALGetRasterCount(c->ds) < 1) {
            st = cc_error_set(CC_ERR_FORMAT, "%s: no raster band", paths[k]);
            goto out;
        }
        c->band = GDALGetRasterBand(c->ds, 1);
        c->cw = GDALGetRasterXSize(c->ds);
        c->ch = GDALGetRasterYSize(c->ds);
        has_gt[k] = GDALGetGeoTransform(c->ds, gts[k]) == CE_None;
        if (has_gt[k] && (gts[k][2] != 0 || gts[k][4] != 0 || !(gts[k][1] > 0) ||
                          !(gts[k][5] < 0))) {
            st = cc_error_set(CC_ERR_UNSUPPORTED, "%s: not a north-up grid", paths[k]);
            goto out;
        }
        if (has_gt[k] != has_gt[0]) {
            st = cc_error_set(CC_ERR_CRS, "%s: %s a geotransform, %s %s", paths[k],
                              has_gt[k] ? "has" : "lacks", paths[0],
                              has_gt[0] ? "has one" : "does not");
            goto out;
        }
        if (has_gt[0] ? gts[k][1] < gts[fine][1] : c->cw > g->ch[fine].cw)
            fine = k;
    }
    g->width = g->ch[fine].cw;
    g->height = g->ch[fine].ch;
    for (int k = 0; k < nchannels; k++) {
        gchan *c = &g->ch[k];
        double ratio = has_gt[0] ? gts[k][1] / gts[fine][1] : (double)g->width / c->cw;
        c->f = (int)lround(ratio);
        int ok = c->f >= 1 && fabs(ratio - c->f) < 1e-9 * c->f;
        if (has_gt[0]) {
            const double tol = 1e-6 * gts[fine][1];
            ok = ok && fabs(gts[k][0] - gts[fine][0]) <= tol &&
                 fabs(gts[k][3] - gts[fine][3]) <= tol &&
                 fabs(gts[k][5] / gts[fine][5] - c->f) < 1e-9 * c->f;
        }
        if (!ok) {
            st = cc_error_set(CC_ERR_UNSUPPORTED,
                              "%s: grid is not an integer multiple of %s's sharing its "
                              "upper-left corner", c->path, g->ch[fine].path);
            goto out;
        }
        if ((long)c->cw * c->f < g->width - c->f || (long)c->ch * c->f < g->height - c->f) {
            st = cc_error_set(CC_ERR_FORMAT, "%s: %dx%d pixels do not cover the %dx%d grid of %s",
                              c->path, c->cw, c->ch, g->width, g->height, g->ch[fine].path);
            goto out;
        }
    }
    if (wkt) {
        const char *w = GDALGetProjectionRef(g->ch[fine].ds);
        size_t len = strlen(w ? w : "") + 1;
        if (!(*wkt = malloc(len))) {
            st = cc_error_set(CC_ERR_NOMEM, "infer: out of memory");
            goto out;
        }
        memcpy(*wkt, w ? w : "", len);
    }
    if (gt) {
        static const double ident[6] = {0, 1, 0, 0, 0, -1};
        memcpy(gt, has_gt[0] ? gts[fine] : ident, 6 * sizeof *gt);
    }
    snprintf(g->name, sizeof g->name, "%s%s", paths[0], nchannels > 1 ? " (and others)" : "");
    memset(src, 0, sizeof *src);
    src->width = g->width;
    src->height = g->height;
    src->nchannels = nchannels;
    src->name = g->name;
    src->read = gdal_read;
    src->ctx = g;
    *out = g;
    g = NULL;
out:
    cc_infer_gdal_close(g);
    return st;
}
