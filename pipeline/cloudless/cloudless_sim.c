/* clearcube: SIMULATED multi-sensor daily series from real pieces (see
 * cloudless_sim.h and docs/cloudless-sim.md for the recipe and sources). */
#include "pipeline/cloudless/cloudless_sim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <gdal.h>

#include "core/alloc.h"
#include "core/date.h"
#include "io/s2/scene.h"
#include "kernels/smac/smac.h"

/* ---- constants of the recipe (all documented in docs/cloudless-sim.md) ---- */

#define SIM_POOL_USED 64       /* end-members drawn per series from each pool   */
#define SIM_S2_NOISE_ABS 0.002 /* per-pixel noise std = abs + rel * value       */
#define SIM_S2_NOISE_REL 0.01
#define SIM_S2_BIAS 0.003      /* per-acquisition, per-band offset std           */
#define SIM_OLI_NOISE 0.003    /* per-pixel OLI noise std                        */
#define SIM_OLI_BIAS 0.003     /* per-acquisition, per-band offset std           */
#define SIM_OLCI_BLOCK 30      /* 300 m = 30 x 30 pixels of 10 m                 */
#define SIM_OLCI_CF_MAX 0.2    /* block cloud fraction above which it is flagged */
#define SIM_OLCI_CLOUD_TOA 0.45 /* flat TOA reflectance of sub-threshold cloud   */
#define SIM_S1_ENL 4.4         /* equivalent number of looks of IW GRDH          */
#define SIM_LAT_DEG 45.87      /* eolearn patch centre (EPSG:32633 465680 E 5079750 N) */
#define SIM_ELEV_M 730.0       /* mean of the patch's DEM (664-801 m)            */

/* Cloudless band index -> io/s2/scene.h band index (for the SMAC tables). */
static const int sim_cc_band[CC_CL_NBANDS] = {CC_B02, CC_B03, CC_B04, CC_B05, CC_B06,
                                              CC_B07, CC_B08, CC_B8A, CC_B11, CC_B12};
enum { I_B02 = 0, I_B03, I_B04, I_B05, I_B06, I_B07, I_B08, I_B8A, I_B11, I_B12 };

/* HLS bandpass adjustment OLI = slope * MSI + offset (science.md section 3). */
typedef struct {
    int band;
    double sa, oa, sb, ob; /* S2A slope, offset; S2B slope, offset */
} hls_coef;
static const hls_coef sim_hls[6] = {
    {I_B02, 0.9778, -0.004, 0.9778, -0.004}, {I_B03, 1.0053, -0.0009, 1.0075, -0.0008},
    {I_B04, 0.9765, 0.0009, 0.9761, 0.001},  {I_B8A, 0.9983, -0.0001, 0.9966, 0.000},
    {I_B11, 0.9987, -0.0011, 1.000, -0.0003}, {I_B12, 1.003, -0.0012, 0.9867, 0.0004}};

/* The real pieces of each split. */
typedef struct {
    const char *name;      /* bigearthnet S2 patch folder                        */
    int soil, veg;         /* contributes soil / vegetation end-members          */
    const char *s1;        /* co-located S1 patch folder (S1 fit), NULL = none   */
} ben_piece;

typedef struct {
    const char *split;
    const char *first, *last; /* eolearn period (trajectories and cloud masks)    */
    int riotiler_soil;        /* riotilerpds 29RKH soils                          */
    ben_piece ben[3];
    int nben;
    const char *sources;
} split_def;

static const split_def sim_splits[2] = {
    {"train", "2015-07-11", "2016-09-30", 1,
     {{"S2A_MSIL2A_20170617T113321_4_55", 0, 1, "S1A_IW_GRDH_1SDV_20170617T064724_29UPU_4_55"},
      {"S2B_MSIL2A_20170924T93020_69_24", 1, 1, "S1A_IW_GRDH_1SDV_20170925T043256_35VPK_69_24"},
      {"S2B_MSIL2A_20180204T94161_57_38", 0, 0, "S1A_IW_GRDH_1SDV_20180204T043253_35VPK_57_38"}},
     3,
     "eolearn-testeopatch NDVI/CLM dates 2015-07-11..2016-09-30; soil: riotilerpds/s2-l2a-29RKH-20200219 "
     "(SCL 4/5) + bigearthnet 69_24; vegetation: bigearthnet 4_55, 69_24; S1 fit: bigearthnet 4_55, "
     "69_24, 57_38"},
    {"test", "2016-10-01", "2017-12-22", 0,
     {{"S2A_MSIL2A_20170613T101031_87_48", 1, 1, "S1A_IW_GRDH_1SDV_20170613T165043_33UUP_87_48"},
      {"S2A_MSIL2A_20170617T113321_36_85", 1, 1, "S1A_IW_GRDH_1SDV_20170617T064724_29UPU_36_85"}},
     2,
     "eolearn-testeopatch NDVI/CLM dates 2016-10-01..2017-12-22; soil and vegetation: bigearthnet "
     "87_48, 36_85; S1 fit: bigearthnet 87_48, 36_85"},
};

static const split_def *split_find(const char *split)
{
    for (int i = 0; i < 2; i++)
        if (split && strcmp(split, sim_splits[i].split) == 0) return &sim_splits[i];
    return NULL;
}

const char *cc_cl_sim_sources(const char *split)
{
    const split_def *sd = split_find(split);
    return sd ? sd->sources : NULL;
}

/* ---- random numbers: xoshiro256** seeded by splitmix64, one stream per part ---- */

typedef struct {
    uint64_t s[4];
    int has_spare;
    double spare;
} rng;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void rng_init(rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ULL);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
    r->has_spare = 0;
    r->spare = 0.0;
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(rng *r)
{
    uint64_t *s = r->s;
    uint64_t res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return res;
}

static double rng_unif(rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

static int rng_int(rng *r, int n) { return (int)(rng_unif(r) * n) % n; }

static double rng_normal(rng *r)
{
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u = rng_unif(r), v = rng_unif(r);
    double m = sqrt(-2.0 * log(1.0 - u));
    r->spare = m * sin(2.0 * M_PI * v);
    r->has_spare = 1;
    return m * cos(2.0 * M_PI * v);
}

/* ---- the eolearn patch (GeoTIFFs written by scripts/npy2tif) ---- */

typedef struct {
    int nt, w, h;
    long *day;            /* [nt] days since 1970                               */
    float *ndvi;          /* [nt][h][w]                                          */
    uint8_t *clm, *valid, *data;
} eopatch;

static void eopatch_free(eopatch *e)
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

static cc_status eopatch_read(const char *dir, eopatch *e)
{
    cc_status st;
    memset(e, 0, sizeof *e);
    if ((st = read_stack(dir, "NDVI", GDT_Float32, sizeof(float), e, (void **)&e->ndvi)) != CC_OK ||
        (st = read_stack(dir, "CLM", GDT_Byte, 1, e, (void **)&e->clm)) != CC_OK ||
        (st = read_stack(dir, "IS_VALID", GDT_Byte, 1, e, (void **)&e->valid)) != CC_OK ||
        (st = read_stack(dir, "IS_DATA", GDT_Byte, 1, e, (void **)&e->data)) != CC_OK)
        goto out;
out:
    if (st != CC_OK) eopatch_free(e);
    return st;
}

/* ---- real S2 L2A spectra ---- */

typedef struct {
    float *v;  /* [n][CC_CL_NBANDS] */
    int n, cap;
} pool;

static float spec_ndvi(const float *v) { return (v[I_B08] - v[I_B04]) / (v[I_B08] + v[I_B04]); }

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
static cc_status pool_add_product(const char *prefix, int n, int stride, const char *scl, pool *soil,
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
                v[k] = dn / 10000.0f;
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
static int pool_draw(const pool *p, rng *r, float *out)
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

typedef struct {
    double n, sx, sxx, sy[CC_CL_NS1], syy[CC_CL_NS1], sxy[CC_CL_NS1];
} s1_fit;

static cc_status s1_fit_add(const char *datasets, const ben_piece *bp, s1_fit *f)
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
        double b2 = b[i] / 1e4, r = b[np + i] / 1e4, nir = b[2 * np + i] / 1e4;
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

static double trigamma(double x)
{
    double s = 0.0;
    while (x < 6.0) {
        s += 1.0 / (x * x);
        x += 1.0;
    }
    double x2 = x * x;
    return s + 1.0 / x + 1.0 / (2 * x2) + 1.0 / (6 * x2 * x) - 1.0 / (30 * x2 * x2 * x);
}

/* ---- NDVI trajectories: monotone cubic (Fritsch-Carlson) through the valid dates ---- */

typedef struct {
    int n;
    double x[128], y[128], m[128];
} pchip;

static void pchip_build(pchip *p)
{
    int n = p->n;
    if (n < 2) return;
    double dl[128];
    for (int i = 0; i + 1 < n; i++)
        dl[i] = (p->y[i + 1] - p->y[i]) / (p->x[i + 1] - p->x[i]);
    p->m[0] = dl[0];
    p->m[n - 1] = dl[n - 2];
    for (int i = 1; i + 1 < n; i++) {
        if (dl[i - 1] * dl[i] <= 0) {
            p->m[i] = 0;
        } else {
            double h0 = p->x[i] - p->x[i - 1], h1 = p->x[i + 1] - p->x[i];
            double w1 = 2 * h1 + h0, w2 = h1 + 2 * h0;
            p->m[i] = (w1 + w2) / (w1 / dl[i - 1] + w2 / dl[i]);
        }
    }
}

static double pchip_eval(const pchip *p, double t)
{
    int n = p->n;
    if (n == 1 || t <= p->x[0]) return p->y[0];
    if (t >= p->x[n - 1]) return p->y[n - 1];
    int lo = 0, hi = n - 1;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (p->x[mid] <= t) lo = mid;
        else hi = mid;
    }
    double h = p->x[hi] - p->x[lo], s = (t - p->x[lo]) / h;
    double s2 = s * s, s3 = s2 * s;
    return (2 * s3 - 3 * s2 + 1) * p->y[lo] + (s3 - 2 * s2 + s) * h * p->m[lo] +
           (-2 * s3 + 3 * s2) * p->y[hi] + (s3 - s2) * h * p->m[hi];
}

typedef struct {
    float v;
    int i;
} rank_item;

static int cmp_rank(const void *a, const void *b)
{
    const rank_item *x = a, *y = b;
    if (x->v != y->v) return (x->v > y->v) - (x->v < y->v);
    return (x->i > y->i) - (x->i < y->i);
}

/* Vegetation fraction f in [0, 1] such that NDVI(f veg + (1-f) soil) = t. */
static double mix_fraction(const float *s, const float *v, double t)
{
    double rs = s[I_B04], ns = s[I_B08], rv = v[I_B04], nv = v[I_B08];
    double den = (nv - ns) * (1 - t) - (rv - rs) * (1 + t);
    double f;
    if (fabs(den) < 1e-12) f = t >= spec_ndvi(v) ? 1.0 : 0.0;
    else f = (rs * (1 + t) - ns * (1 - t)) / den;
    return f < 0 ? 0 : f > 1 ? 1 : f;
}

void cc_cl_sim_info_free(cc_cl_sim_info *info)
{
    if (!info) return;
    free(info->weather_date);
    free(info->s2_mask_date);
    free(info->s2_cloudy);
    free(info->landsat_mask_date);
    memset(info, 0, sizeof *info);
}

void cc_cl_sim_options_init(cc_cl_sim_options *o)
{
    memset(o, 0, sizeof *o);
    o->seed = 1;
    o->ndays = 450;
    o->split = "train";
}

static inline float clamp01(double v) { return (float)(v < 0 ? 0 : v > 1 ? 1 : v); }

cc_status cc_cl_sim_generate(const cc_cl_sim_options *o, cc_series *s, float **truth, int *width,
                             int *height)
{
    cc_status st = CC_ERR_ARG;
    eopatch e = {0};
    pool soil = {0}, veg = {0};
    float *soil_used = NULL, *veg_used = NULL, *tr = NULL, *target = NULL, *s1_static = NULL;
    int *pool_dates = NULL, *soil_of = NULL, *veg_of = NULL;
    rank_item *ranks = NULL;
    float *lo = NULL, *hi = NULL;
    cc_cl_sim_info inf;
    char path[4096];
    memset(&inf, 0, sizeof inf);
    if (s) memset(s, 0, sizeof *s);
    if (truth) *truth = NULL;

    if (!o || !s || !truth || !width || !height) {
        st = cc_error_set(CC_ERR_ARG, "cloudless_sim: NULL options or outputs");
        goto out;
    }
    const split_def *sd = split_find(o->split);
    if (!sd) {
        st = cc_error_set(CC_ERR_ARG, "cloudless_sim: split '%s' is neither 'train' nor 'test'",
                          o->split ? o->split : "(null)");
        goto out;
    }
    if (!o->datasets || !o->eolearn_tif) {
        st = cc_error_set(CC_ERR_ARG, "cloudless_sim: the datasets and eolearn GeoTIFF folders "
                                      "are required");
        goto out;
    }
    if (o->ndays < 1 || o->ndays > 4000) {
        st = cc_error_set(CC_ERR_ARG, "cloudless_sim: ndays %d outside 1..4000", o->ndays);
        goto out;
    }
    int rev_s2 = o->s2_revisit ? o->s2_revisit : 5, rev_l = o->landsat_revisit ? o->landsat_revisit : 8,
        rev_s1 = o->s1_revisit ? o->s1_revisit : 6;
    if (rev_s2 < 1 || rev_l < 1 || rev_s1 < 1 || rev_s2 > 366 || rev_l > 366 || rev_s1 > 366) {
        st = cc_error_set(CC_ERR_ARG, "cloudless_sim: revisit intervals must be 1..366 days "
                                      "(S2 %d, Landsat %d, S1 %d)", rev_s2, rev_l, rev_s1);
        goto out;
    }
    unsigned sensors = o->sensors ? o->sensors : (1u << CC_SENSOR_COUNT) - 1;
    if (sensors >> CC_SENSOR_COUNT) {
        st = cc_error_set(CC_ERR_ARG, "cloudless_sim: sensor mask 0x%x has unknown bits", sensors);
        goto out;
    }

    /* ---- real pieces ---- */
    if ((st = eopatch_read(o->eolearn_tif, &e)) != CC_OK) goto out;
    int W = o->width ? o->width : e.w, H = o->height ? o->height : e.h;
    if (W < 1 || H < 1 || W > e.w || H > e.h) {
        st = cc_error_set(CC_ERR_ARG, "cloudless_sim: image %d x %d does not fit the %d x %d patch "
                                      "of %s", W, H, e.w, e.h, o->eolearn_tif);
        goto out;
    }
    long pfirst, plast;
    cc_date_parse(sd->first, &pfirst);
    cc_date_parse(sd->last, &plast);
    if (!(pool_dates = malloc((size_t)e.nt * sizeof *pool_dates))) {
        st = cc_error_set(CC_ERR_NOMEM, "cloudless_sim: cannot allocate the date pool");
        goto out;
    }
    int npool = 0;
    for (int i = 0; i < e.nt; i++)
        if (e.day[i] >= pfirst && e.day[i] <= plast) pool_dates[npool++] = i;
    if (npool < 2 || npool > 120) {
        st = cc_error_set(CC_ERR_FORMAT, "%s/NDVI.tif: %d dates in the %s period %s..%s, expected "
                                         "2..120", o->eolearn_tif, npool, sd->split, sd->first, sd->last);
        goto out;
    }

    if (sd->riotiler_soil) {
        char scl[4096];
        snprintf(path, sizeof path, "%s/riotilerpds/s2-l2a-29RKH-20200219/", o->datasets);
        snprintf(scl, sizeof scl, "%s/riotilerpds/s2-l2a-29RKH-20200219/SCL.tif", o->datasets);
        /* 10 m bands are 1098 px (100 m), 20 m bands 549 px: read everything at 549 */
        if ((st = pool_add_product(path, 549, 3, scl, &soil, NULL)) != CC_OK) goto out;
    }
    s1_fit fit;
    memset(&fit, 0, sizeof fit);
    for (int k = 0; k < sd->nben; k++) {
        const ben_piece *bp = &sd->ben[k];
        if (bp->soil || bp->veg) {
            snprintf(path, sizeof path, "%s/bigearthnet-example/BigEarthNet-S2-Example/%s/%s_",
                     o->datasets, bp->name, bp->name);
            /* 20 m bands are 60 px: read all bands at 60 x 60 (block average of the 10 m ones) */
            if ((st = pool_add_product(path, 60, 1, NULL, bp->soil ? &soil : NULL,
                                       bp->veg ? &veg : NULL)) != CC_OK)
                goto out;
        }
        if (bp->s1 && (sensors & (1u << CC_SENSOR_S1)) &&
            (st = s1_fit_add(o->datasets, bp, &fit)) != CC_OK)
            goto out;
    }
    if (soil.n < 8 || veg.n < 8) {
        st = cc_error_set(CC_ERR_NODATA, "%s: only %d soil and %d vegetation spectra passed the "
                                         "filters for split %s", o->datasets, soil.n, veg.n, sd->split);
        goto out;
    }

    /* ---- geometry and time mapping ---- */
    rng rg;
    rng_init(&rg, o->seed, 1);
    int x0 = rng_int(&rg, e.w - W + 1), y0 = rng_int(&rg, e.h - H + 1);
    size_t npix = (size_t)W * H, nd = (size_t)o->ndays;
    long day0 = o->day0 ? o->day0 : pfirst;
    long diff = day0 - pfirst;
    long kyear = diff >= 0 ? diff / 365 : -((-diff + 364) / 365);
    long shift = -365 * kyear;

    if (!(soil_used = cc_malloc3(SIM_POOL_USED, CC_CL_NBANDS, sizeof(float))) ||
        !(veg_used = cc_malloc3(SIM_POOL_USED, CC_CL_NBANDS, sizeof(float))) ||
        !(target = cc_malloc3(nd, npix, sizeof(float))) || !(lo = cc_malloc3(npix, 1, sizeof(float))) ||
        !(hi = cc_malloc3(npix, 1, sizeof(float))) || !(ranks = cc_malloc3(npix, 1, sizeof *ranks)) ||
        !(soil_of = cc_malloc3(npix, 1, sizeof(int))) || !(veg_of = cc_malloc3(npix, 1, sizeof(int))) ||
        !(tr = cc_malloc3(nd, npix, CC_CL_NBANDS * sizeof(float))) ||
        !(inf.weather_date = cc_malloc3(nd, 1, sizeof(int))) ||
        !(inf.s2_mask_date = cc_malloc3(nd, 1, sizeof(int))) ||
        !(inf.s2_cloudy = cc_malloc3(nd, 1, sizeof(long))) ||
        !(inf.landsat_mask_date = cc_malloc3(nd, 1, sizeof(int)))) {
        st = cc_error_set(CC_ERR_NOMEM, "cloudless_sim: cannot allocate %d days x %zu pixels",
                          o->ndays, npix);
        goto out;
    }
    rng_init(&rg, o->seed, 2);
    int nsoil = pool_draw(&soil, &rg, soil_used), nveg = pool_draw(&veg, &rg, veg_used);
    if (nsoil < 0 || nveg < 0) {
        st = cc_error_set(CC_ERR_NOMEM, "cloudless_sim: cannot draw the end-members");
        goto out;
    }

    /* ---- daily NDVI targets from the real trajectories ---- */
    size_t pe = (size_t)e.w * e.h;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            size_t p = (size_t)y * W + x, g = (size_t)(y0 + y) * e.w + (x0 + x);
            pchip pc;
            pc.n = 0;
            float mn = INFINITY, mx = -INFINITY;
            for (int k = 0; k < npool; k++) {
                int t = pool_dates[k];
                size_t i = (size_t)t * pe + g;
                float v = e.ndvi[i];
                if (!e.data[i] || !e.valid[i] || e.clm[i] || !isfinite(v)) continue;
                if (pc.n > 0 && pc.x[pc.n - 1] == (double)e.day[t]) { /* same day twice: mean */
                    pc.y[pc.n - 1] = 0.5 * (pc.y[pc.n - 1] + v);
                    continue;
                }
                pc.x[pc.n] = (double)e.day[t];
                pc.y[pc.n] = v;
                pc.n++;
            }
            if (pc.n == 0) { /* never clear in the period: the period's patch-mean trajectory */
                for (int k = 0; k < npool; k++) {
                    int t = pool_dates[k];
                    double sum = 0, cnt = 0;
                    for (size_t q = 0; q < pe; q++) {
                        size_t i = (size_t)t * pe + q;
                        if (e.data[i] && e.valid[i] && !e.clm[i] && isfinite(e.ndvi[i])) {
                            sum += e.ndvi[i];
                            cnt++;
                        }
                    }
                    if (cnt > 0 && (pc.n == 0 || pc.x[pc.n - 1] != (double)e.day[t])) {
                        pc.x[pc.n] = (double)e.day[t];
                        pc.y[pc.n++] = sum / cnt;
                    }
                }
            }
            if (pc.n == 0) {
                st = cc_error_set(CC_ERR_NODATA, "%s/NDVI.tif: no clear NDVI in the %s period",
                                  o->eolearn_tif, sd->split);
                goto out;
            }
            pchip_build(&pc);
            for (int k = 0; k < pc.n; k++) {
                if (pc.y[k] < mn) mn = (float)pc.y[k];
                if (pc.y[k] > mx) mx = (float)pc.y[k];
            }
            lo[p] = mn;
            hi[p] = mx;
            for (size_t d = 0; d < nd; d++) {
                long t = day0 + (long)d + shift;
                while (t > plast) t -= 365;
                target[d * npix + p] = (float)pchip_eval(&pc, (double)t);
            }
        }

    /* ---- end-members: rank of the pixel's lowest (highest) clear NDVI -> soil (vegetation)
     * of the same rank in the drawn, NDVI-sorted subset ---- */
    for (int pass = 0; pass < 2; pass++) {
        const float *val = pass ? hi : lo;
        int *of = pass ? veg_of : soil_of, m = pass ? nveg : nsoil;
        for (size_t p = 0; p < npix; p++) {
            ranks[p].v = val[p];
            ranks[p].i = (int)p;
        }
        qsort(ranks, npix, sizeof *ranks, cmp_rank);
        for (size_t r = 0; r < npix; r++) {
            double q = npix > 1 ? (double)r / (double)(npix - 1) : 0.5;
            of[ranks[r].i] = (int)lrint(q * (m - 1));
        }
    }

    /* ---- truth: linear mixture whose NDVI is the target ---- */
    for (size_t d = 0; d < nd; d++)
        for (size_t p = 0; p < npix; p++) {
            const float *sv = soil_used + (size_t)soil_of[p] * CC_CL_NBANDS;
            const float *vv = veg_used + (size_t)veg_of[p] * CC_CL_NBANDS;
            double f = mix_fraction(sv, vv, target[d * npix + p]);
            float *o10 = tr + (d * npix + p) * CC_CL_NBANDS;
            for (int b = 0; b < CC_CL_NBANDS; b++)
                o10[b] = (float)(sv[b] + f * (vv[b] - sv[b]));
        }

    if ((st = cc_series_alloc(s, o->ndays, day0, npix)) != CC_OK) goto out;

    /* ---- weather: one real cloud mask (date of the split's period) per day ---- */
    rng_init(&rg, o->seed, 3);
    for (size_t d = 0; d < nd; d++) {
        inf.weather_date[d] = pool_dates[rng_int(&rg, npool)];
        inf.s2_mask_date[d] = -1;
        inf.s2_cloudy[d] = -1;
        inf.landsat_mask_date[d] = -1;
    }
#define CLOUDY(t, x, y) \
    (e.clm[(size_t)(t) * pe + (size_t)(y0 + (y)) * e.w + (x0 + (x))] || \
     !e.data[(size_t)(t) * pe + (size_t)(y0 + (y)) * e.w + (x0 + (x))])

    /* ---- Sentinel-2 ---- */
    rng_init(&rg, o->seed, 4);
    inf.s2_phase = rng_int(&rg, rev_s2);
    if (sensors & (1u << CC_SENSOR_S2))
        for (size_t d = (size_t)inf.s2_phase; d < nd; d += (size_t)rev_s2) {
            int t = inf.weather_date[d];
            double bias[CC_CL_NBANDS];
            long cloudy = 0;
            for (int b = 0; b < CC_CL_NBANDS; b++)
                bias[b] = SIM_S2_BIAS * rng_normal(&rg);
            inf.s2_mask_date[d] = t;
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) {
                    size_t p = (size_t)y * W + x;
                    if (CLOUDY(t, x, y)) {
                        cloudy++;
                        continue;
                    }
                    const float *tv = tr + (d * npix + p) * CC_CL_NBANDS;
                    float *ov = s->s2 + (d * npix + p) * CC_CL_NBANDS;
                    for (int b = 0; b < CC_CL_NBANDS; b++)
                        ov[b] = clamp01(tv[b] + bias[b] +
                                        (SIM_S2_NOISE_ABS + SIM_S2_NOISE_REL * tv[b]) * rng_normal(&rg));
                }
            inf.s2_cloudy[d] = cloudy;
        }

    /* ---- Landsat 8/9: 30 m blocks, OLI via the S2B HLS fit, back via the S2A inverse ---- */
    rng_init(&rg, o->seed, 5);
    inf.landsat_phase = rng_int(&rg, rev_l);
    if (sensors & (1u << CC_SENSOR_LANDSAT))
        for (size_t d = (size_t)inf.landsat_phase; d < nd; d += (size_t)rev_l) {
            int t = pool_dates[rng_int(&rg, npool)];
            if (npool > 1)
                while (t == inf.weather_date[d])
                    t = pool_dates[rng_int(&rg, npool)];
            inf.landsat_mask_date[d] = t;
            double bias[6];
            for (int k = 0; k < 6; k++)
                bias[k] = SIM_OLI_BIAS * rng_normal(&rg);
            for (int by = 0; by < H; by += 3)
                for (int bx = 0; bx < W; bx += 3) {
                    int ey = by + 3 < H ? by + 3 : H, ex = bx + 3 < W ? bx + 3 : W, cnt = 0, cl = 0;
                    double m[CC_CL_NBANDS] = {0};
                    for (int y = by; y < ey; y++)
                        for (int x = bx; x < ex; x++) {
                            const float *tv = tr + (d * npix + (size_t)y * W + x) * CC_CL_NBANDS;
                            for (int b = 0; b < CC_CL_NBANDS; b++)
                                m[b] += tv[b];
                            cnt++;
                            cl += CLOUDY(t, x, y) ? 1 : 0;
                        }
                    if (2 * cl > cnt) continue; /* cloudy 30 m pixel */
                    float val[6];
                    for (int k = 0; k < 6; k++) {
                        const hls_coef *c = &sim_hls[k];
                        double msi = m[c->band] / cnt;
                        double oli = c->sb * msi + c->ob + bias[k] + SIM_OLI_NOISE * rng_normal(&rg);
                        val[k] = clamp01((oli - c->oa) / c->sa);
                    }
                    for (int y = by; y < ey; y++)
                        for (int x = bx; x < ex; x++) {
                            float *ov = s->landsat + (d * npix + (size_t)y * W + x) * CC_CL_NBANDS;
                            for (int k = 0; k < 6; k++)
                                ov[sim_hls[k].band] = val[k];
                        }
                }
        }

    /* ---- OLCI: daily, 300 m blocks, TOA-like through SMAC forward ---- */
    rng_init(&rg, o->seed, 6);
    if (sensors & (1u << CC_SENSOR_OLCI)) {
        int bw = W < SIM_OLCI_BLOCK ? W : SIM_OLCI_BLOCK, bh = H < SIM_OLCI_BLOCK ? H : SIM_OLCI_BLOCK;
        for (size_t d = 0; d < nd; d++) {
            int t = inf.weather_date[d];
            cc_smac_atmos a;
            cc_smac_terms terms[8];
            int doy = cc_date_day_of_year(day0 + (long)d);
            double decl = 23.44 * sin(2 * M_PI * (284 + doy) / 365.0) * M_PI / 180;
            double lat = SIM_LAT_DEG * M_PI / 180, ha = -22.5 * M_PI / 180; /* 10:30 solar time */
            double cz = sin(lat) * sin(decl) + cos(lat) * cos(decl) * cos(ha);
            a.tetas = acos(cz) * 180 / M_PI;
            a.phis = 150.0;
            a.tetav = 40.0 * rng_unif(&rg);
            a.phiv = 360.0 * rng_unif(&rg);
            a.pressure_hpa = cc_smac_pressure_from_elevation(SIM_ELEV_M);
            a.aot550 = 0.05 + 0.30 * rng_unif(&rg);
            a.uo3 = 0.3;
            a.uh2o = 0.8 + 2.2 * rng_unif(&rg);
            for (int b = 0; b < 8; b++)
                cc_smac_terms_compute(cc_smac_coefs_get(CC_SC_S2A, sim_cc_band[b]), &a, &terms[b]);
            for (int by = 0; by < H; by += bh)
                for (int bx = 0; bx < W; bx += bw) {
                    int ey = by + bh < H ? by + bh : H, ex = bx + bw < W ? bx + bw : W, cnt = 0, cl = 0;
                    double m[8] = {0};
                    for (int y = by; y < ey; y++)
                        for (int x = bx; x < ex; x++) {
                            const float *tv = tr + (d * npix + (size_t)y * W + x) * CC_CL_NBANDS;
                            for (int b = 0; b < 8; b++)
                                m[b] += tv[b];
                            cnt++;
                            cl += CLOUDY(t, x, y) ? 1 : 0;
                        }
                    double cf = (double)cl / cnt;
                    if (cf > SIM_OLCI_CF_MAX) continue;
                    float val[CC_CL_NBANDS];
                    for (int b = 0; b < 8; b++) {
                        /* OLCI Oa17 feeds both B08 and B8A (eoreader mapping): B08 := B8A */
                        int src = b == I_B08 ? I_B8A : b;
                        double toa = cc_smac_forward(&terms[src], m[src] / cnt);
                        toa = (1 - cf) * toa + cf * SIM_OLCI_CLOUD_TOA;
                        val[b] = clamp01(toa + (SIM_S2_NOISE_ABS + SIM_S2_NOISE_REL * toa) *
                                                   rng_normal(&rg));
                    }
                    val[I_B08] = val[I_B8A];
                    for (int y = by; y < ey; y++)
                        for (int x = bx; x < ex; x++) {
                            float *ov = s->olci + (d * npix + (size_t)y * W + x) * CC_CL_NBANDS;
                            memcpy(ov, val, 8 * sizeof(float));
                        }
                }
        }
    }
#undef CLOUDY

    /* ---- Sentinel-1: dB = a + b NDVI (fit above) + static offset + speckle ---- */
    rng_init(&rg, o->seed, 7);
    inf.s1_phase = rng_int(&rg, rev_s1);
    if (sensors & (1u << CC_SENSOR_S1)) {
        if (fit.n < 100) {
            st = cc_error_set(CC_ERR_NODATA, "%s/bigearthnet-example: only %.0f S1/S2 pixels for the "
                                             "%s backscatter fit", o->datasets, fit.n, sd->split);
            goto out;
        }
        double sp = 10.0 / log(10.0) * sqrt(trigamma(SIM_S1_ENL));
        inf.s1_speckle_db = sp;
        inf.s1_fit_pixels = (long)fit.n;
        double cxx = fit.sxx - fit.sx * fit.sx / fit.n;
        for (int k = 0; k < 2; k++) {
            double cxy = fit.sxy[k] - fit.sx * fit.sy[k] / fit.n;
            double cyy = fit.syy[k] - fit.sy[k] * fit.sy[k] / fit.n;
            inf.s1_b[k] = cxy / cxx;
            inf.s1_a[k] = (fit.sy[k] - inf.s1_b[k] * fit.sx) / fit.n;
            double rv = (cyy - inf.s1_b[k] * cxy) / fit.n;
            inf.s1_resid_db[k] = sqrt(rv > 0 ? rv : 0);
            double sv = rv - sp * sp;
            inf.s1_static_db[k] = sv > 0 ? sqrt(sv) : 0;
        }
        if (sp > inf.s1_resid_db[0] && sp > inf.s1_resid_db[1])
            inf.s1_speckle_db = sp = fmax(inf.s1_resid_db[0], inf.s1_resid_db[1]);
        if (!(s1_static = cc_malloc3(npix, CC_CL_NS1, sizeof(float)))) {
            st = cc_error_set(CC_ERR_NOMEM, "cloudless_sim: cannot allocate the S1 offsets");
            goto out;
        }
        rng r8;
        rng_init(&r8, o->seed, 8);
        for (size_t p = 0; p < npix; p++)
            for (int k = 0; k < 2; k++)
                s1_static[p * 2 + k] = (float)(inf.s1_static_db[k] * rng_normal(&r8));
        for (size_t d = (size_t)inf.s1_phase; d < nd; d += (size_t)rev_s1)
            for (size_t p = 0; p < npix; p++) {
                const float *tv = tr + (d * npix + p) * CC_CL_NBANDS;
                double ndv = (tv[I_B08] - tv[I_B04]) / (tv[I_B08] + tv[I_B04]);
                for (int k = 0; k < 2; k++)
                    s->s1[(d * npix + p) * 2 + k] =
                        (float)(inf.s1_a[k] + inf.s1_b[k] * ndv + s1_static[p * 2 + k] +
                                sp * rng_normal(&rg));
            }
    }

    *truth = tr;
    tr = NULL;
    *width = W;
    *height = H;
    if (o->info) {
        snprintf(inf.label, sizeof inf.label,
                 "%s multi-sensor series (clearcube cloudless_sim, split %s, seed %llu): real "
                 "pieces recombined, not an observation", CC_CL_SIM_LABEL, sd->split,
                 (unsigned long long)o->seed);
        snprintf(inf.split, sizeof inf.split, "%s", sd->split);
        inf.ndays = o->ndays;
        inf.x0 = x0;
        inf.y0 = y0;
        inf.src_shift = shift;
        inf.period_first = pfirst;
        inf.period_last = plast;
        inf.s2_revisit = rev_s2;
        inf.landsat_revisit = rev_l;
        inf.s1_revisit = rev_s1;
        inf.n_soil_pool = soil.n;
        inf.n_veg_pool = veg.n;
        inf.n_soil_used = nsoil;
        inf.n_veg_used = nveg;
        inf.n_traj_dates = npool;
        *o->info = inf;
        memset(&inf, 0, sizeof inf);
    }
    st = CC_OK;
out:
    if (st != CC_OK && s) cc_series_free(s);
    cc_cl_sim_info_free(&inf);
    eopatch_free(&e);
    free(soil.v);
    free(veg.v);
    free(soil_used);
    free(veg_used);
    free(tr);
    free(target);
    free(s1_static);
    free(pool_dates);
    free(soil_of);
    free(veg_of);
    free(ranks);
    free(lo);
    free(hi);
    return st;
}
