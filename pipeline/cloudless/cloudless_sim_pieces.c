/* clearcube: the real pieces of the SIMULATED series (cloudless_sim-impl.h,
 * docs/cloudless-sim.md): the eolearn patch, the S2 L2A spectra pools and the
 * S1 backscatter fit, read from ../shared/datasets. */
#include "pipeline/cloudless/cloudless_sim-impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <gdal.h>

#include "core/alloc.h"
#include "core/date.h"
#include "core/reflectance.h"

/* ---- the eolearn patch (GeoTIFFs written by scripts/npy2tif) ---- */


void cc_cl_sim_eopatch_free(eopatch *e)
{
    free(e->day);
    free(e->ndvi);
    free(e->clm);
    free(e->valid);
    free(e->data);
    memset(e, 0, sizeof *e);
}

static cc_status read_stack(const char *dir, const char *name, GDALDataType type, size_t elem,
                            eopatch *e, void **out)
{
    cc_status st = CC_ERR_IO;
    char path[4096];
    GDALDatasetH ds = NULL;
    void *buf = NULL;
    snprintf(path, sizeof path, "%s/%s.tif", dir, name);
    CPLPushErrorHandler(CPLQuietErrorHandler);
    ds = GDALOpen(path, GA_ReadOnly);
    CPLPopErrorHandler();
    if (!ds) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot open (convert eolearn-testeopatch with "
                                     "scripts/npy2tif first)", path);
        goto out;
    }
    int w = GDALGetRasterXSize(ds), h = GDALGetRasterYSize(ds), nt = GDALGetRasterCount(ds);
    if (e->nt == 0) {
        if (nt < 2 || w < 1 || h < 1) {
            st = cc_error_set(CC_ERR_FORMAT, "%s: %d bands of %d x %d, expected one band per date",
                              path, nt, w, h);
            goto out;
        }
        e->nt = nt;
        e->w = w;
        e->h = h;
        if (!(e->day = calloc((size_t)nt, sizeof *e->day))) {
            st = cc_error_set(CC_ERR_NOMEM, "%s: cannot allocate the dates", path);
            goto out;
        }
        for (int i = 0; i < nt; i++) {
            const char *d = GDALGetMetadataItem(GDALGetRasterBand(ds, i + 1), "DATE", NULL);
            if (!cc_date_parse(d, &e->day[i])) {
                st = cc_error_set(CC_ERR_FORMAT, "%s: band %d has no DATE=YYYY-MM-DD metadata item",
                                  path, i + 1);
                goto out;
            }
            if (i > 0 && e->day[i] < e->day[i - 1]) {
                st = cc_error_set(CC_ERR_FORMAT, "%s: band %d's date is before band %d's", path,
                                  i + 1, i);
                goto out;
            }
        }
    } else if (nt != e->nt || w != e->w || h != e->h) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: %d bands of %d x %d, NDVI.tif has %d of %d x %d", path,
                          nt, w, h, e->nt, e->w, e->h);
        goto out;
    }
    if (!(buf = cc_malloc3((size_t)nt * (size_t)w, (size_t)h, elem))) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: cannot allocate %d x %d x %d", path, nt, w, h);
        goto out;
    }
    CPLPushErrorHandler(CPLQuietErrorHandler);
    CPLErr err = GDALDatasetRasterIO(ds, GF_Read, 0, 0, w, h, buf, w, h, type, nt, NULL, 0, 0, 0);
    CPLPopErrorHandler();
    if (err != CE_None) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot read the pixels", path);
        goto out;
    }
    *out = buf;
    buf = NULL;
    st = CC_OK;
out:
    free(buf);
    if (ds) GDALClose(ds);
    return st;
}

cc_status cc_cl_sim_eopatch_read(const char *dir, eopatch *e)
{
    cc_status st;
    memset(e, 0, sizeof *e);
    if ((st = read_stack(dir, "NDVI", GDT_Float32, sizeof(float), e, (void **)&e->ndvi)) != CC_OK ||
        (st = read_stack(dir, "CLM", GDT_Byte, 1, e, (void **)&e->clm)) != CC_OK ||
        (st = read_stack(dir, "IS_VALID", GDT_Byte, 1, e, (void **)&e->valid)) != CC_OK ||
        (st = read_stack(dir, "IS_DATA", GDT_Byte, 1, e, (void **)&e->data)) != CC_OK)
        goto out;
out:
    if (st != CC_OK) cc_cl_sim_eopatch_free(e);
    return st;
}

/* ---- real S2 L2A spectra ---- */



static cc_status pool_push(pool *p, const float *v)
{
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 1024;
        float *nv = realloc(p->v, (size_t)cap * CC_CL_NBANDS * sizeof(float));
        if (!nv) return cc_error_set(CC_ERR_NOMEM, "cloudless_sim: cannot grow a spectra pool");
        p->v = nv;
        p->cap = cap;
    }
    memcpy(p->v + (size_t)p->n * CC_CL_NBANDS, v, CC_CL_NBANDS * sizeof(float));
    p->n++;
    return CC_OK;
}

/* Reads a band into an n x n float buffer (block average when n is smaller
 * than the band). */
static cc_status read_band(const char *path, int n, GDALDataType type, float *out)
{
    cc_status st = CC_ERR_IO;
    CPLPushErrorHandler(CPLQuietErrorHandler);
    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    if (!ds) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot open", path);
        goto out;
    }
    GDALRasterIOExtraArg arg;
    INIT_RASTERIO_EXTRA_ARG(arg);
    arg.eResampleAlg = type == GDT_Byte ? GRIORA_NearestNeighbour : GRIORA_Average;
    if (GDALRasterIOEx(GDALGetRasterBand(ds, 1), GF_Read, 0, 0, GDALGetRasterXSize(ds),
                       GDALGetRasterYSize(ds), out, n, n, GDT_Float32, 0, 0, &arg) != CE_None) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot read the pixels", path);
        goto out;
    }
    st = CC_OK;
out:
    if (ds) GDALClose(ds);
    CPLPopErrorHandler();
    return st;
}

/* Adds the soil and/or vegetation pixels of one product (bands at
 * prefix<BAND>.tif, read at n x n, every stride-th pixel; DN / 10000; SCL
 * classes 4/5 only when scl is set). */
cc_status cc_cl_sim_pool_add_product(const char *prefix, int n, int stride, const char *scl, pool *soil,
                                      pool *veg)
{
    cc_status st = CC_OK;
    size_t np = (size_t)n * n;
    float *b = cc_malloc3(np, CC_CL_NBANDS + 1, sizeof(float));
    char path[4096];
    if (!b) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: cannot allocate %d x %d", prefix, n, n);
        goto out;
    }
    for (int k = 0; k < CC_CL_NBANDS && st == CC_OK; k++) {
        snprintf(path, sizeof path, "%s%s.tif", prefix, cc_cl_band_names[k]);
        st = read_band(path, n, GDT_UInt16, b + (size_t)k * np);
    }
    if (st == CC_OK && scl) st = read_band(scl, n, GDT_Byte, b + (size_t)CC_CL_NBANDS * np);
    if (st != CC_OK) goto out;
    for (int y = 0; y < n; y += stride)
        for (int x = 0; x < n; x += stride) {
            size_t i = (size_t)y * n + x;
            float v[CC_CL_NBANDS];
            int ok = 1;
            for (int k = 0; k < CC_CL_NBANDS; k++) {
                float dn = b[(size_t)k * np + i];
                if (!(dn > 0.0f)) ok = 0;
                v[k] = (float)cc_refl_decode(dn, 0.0, CC_REFL_QUANT); /* = dn / 10000.0f for integer DN */
            }
            if (!ok) continue;
            if (scl) {
                int c = (int)lrintf(b[(size_t)CC_CL_NBANDS * np + i]);
                if (c != 4 && c != 5) continue;
            }
            float nd = spec_ndvi(v);
            /* soil/bare: low NDVI, not water (B08), not snow or cloud (B02, B11 > B03) */
            if (soil && nd >= -0.05f && nd <= 0.3f && v[I_B08] >= 0.08f && v[I_B02] <= 0.15f &&
                v[I_B11] >= 0.08f && v[I_B11] > v[I_B03])
                st = pool_push(soil, v);
            /* green vegetation */
            else if (veg && nd >= 0.6f && v[I_B08] >= 0.15f && v[I_B02] <= 0.1f)
                st = pool_push(veg, v);
            if (st != CC_OK) goto out;
        }
out:
    free(b);
    return st;
}

static int cmp_ndvi(const void *a, const void *b)
{
    float x = spec_ndvi(a), y = spec_ndvi(b);
    return (x > y) - (x < y);
}

/* Draws min(SIM_POOL_USED, n) members without replacement into out (sorted by
 * NDVI); returns the count. */
int cc_cl_sim_pool_draw(const pool *p, rng *r, float *out)
{
    int m = p->n < SIM_POOL_USED ? p->n : SIM_POOL_USED;
    int *idx = malloc((size_t)p->n * sizeof *idx);
    if (!idx) return -1;
    for (int i = 0; i < p->n; i++)
        idx[i] = i;
    for (int i = 0; i < m; i++) {
        int j = i + rng_int(r, p->n - i), t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
        memcpy(out + (size_t)i * CC_CL_NBANDS, p->v + (size_t)idx[i] * CC_CL_NBANDS,
               CC_CL_NBANDS * sizeof(float));
    }
    free(idx);
    qsort(out, (size_t)m, CC_CL_NBANDS * sizeof(float), cmp_ndvi);
    return m;
}

/* ---- S1: dB = a + b NDVI on the real bigearthnet pairs ---- */


cc_status cc_cl_sim_s1_fit_add(const char *datasets, const ben_piece *bp, s1_fit *f)
{
    cc_status st = CC_OK;
    const int n = 120; /* bigearthnet patches: 120 x 120 at 10 m, S1 on the S2 grid */
    size_t np = (size_t)n * n;
    float *b = cc_malloc3(np, 5, sizeof(float)); /* B02 B04 B08 VV VH */
    char path[4096];
    const char *s2b[3] = {"B02", "B04", "B08"}, *pol[2] = {"VV", "VH"};
    if (!b) {
        st = cc_error_set(CC_ERR_NOMEM, "cloudless_sim: cannot allocate the S1 fit buffers");
        goto out;
    }
    for (int k = 0; k < 3 && st == CC_OK; k++) {
        snprintf(path, sizeof path, "%s/bigearthnet-example/BigEarthNet-S2-Example/%s/%s_%s.tif",
                 datasets, bp->name, bp->name, s2b[k]);
        st = read_band(path, n, GDT_UInt16, b + k * np);
    }
    for (int k = 0; k < 2 && st == CC_OK; k++) {
        snprintf(path, sizeof path, "%s/bigearthnet-example/BigEarthNet-S1-Example/%s/%s_%s.tif",
                 datasets, bp->s1, bp->s1, pol[k]);
        st = read_band(path, n, GDT_Float32, b + (3 + k) * np);
    }
    if (st != CC_OK) goto out;
    for (size_t i = 0; i < np; i++) {
        double b2 = cc_refl_decode(b[i], 0.0, CC_REFL_QUANT), r = cc_refl_decode(b[np + i], 0.0, CC_REFL_QUANT),
               nir = cc_refl_decode(b[2 * np + i], 0.0, CC_REFL_QUANT);
        double vv = b[3 * np + i], vh = b[4 * np + i];
        if (!(r > 0 && nir > 0) || !isfinite(vv) || !isfinite(vh)) continue;
        double nd = (nir - r) / (nir + r);
        /* vegetation-soil surfaces only: no water (B08 < 0.08, NDVI < 0), no snow (B02 > 0.15) */
        if (nir < 0.08 || nd < 0.0 || b2 > 0.15) continue;
        f->n += 1;
        f->sx += nd;
        f->sxx += nd * nd;
        for (int k = 0; k < 2; k++) {
            double y = k ? vh : vv;
            f->sy[k] += y;
            f->syy[k] += y * y;
            f->sxy[k] += nd * y;
        }
    }
out:
    free(b);
    return st;
}
