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
#include "pipeline/cloudless/cloudless_sim-impl.h"
#include "io/s2/scene.h"
#include "kernels/smac/smac.h"

/* ---- constants of the recipe (all documented in docs/cloudless-sim.md) ---- */

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

/* HLS bandpass adjustment OLI = slope * MSI + offset (science.md section 3). */
typedef struct {
    int band;
    double sa, oa, sb, ob; /* S2A slope, offset; S2B slope, offset */
} hls_coef;
static const hls_coef sim_hls[6] = {
    {I_B02, 0.9778, -0.004, 0.9778, -0.004}, {I_B03, 1.0053, -0.0009, 1.0075, -0.0008},
    {I_B04, 0.9765, 0.0009, 0.9761, 0.001},  {I_B8A, 0.9983, -0.0001, 0.9966, 0.000},
    {I_B11, 0.9987, -0.0011, 1.000, -0.0003}, {I_B12, 1.003, -0.0012, 0.9867, 0.0004}};


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

/* One generation: the options, the real pieces, the image and its place in
 * the patch, the truth, and what the info reports; shared by the steps below,
 * which run in this order (each random part has its own stream, 1..8). */
typedef struct {
    const cc_cl_sim_options *o;
    const split_def *sd;
    unsigned sensors;
    int rev_s2, rev_l, rev_s1;
    eopatch e;
    pool soil, veg;
    s1_fit fit;
    int *pool_dates, npool; /* eolearn dates inside the split's period          */
    long pfirst, plast;     /* the period                                      */
    int W, H, x0, y0;       /* the image and its corner in the patch           */
    size_t npix, nd, pe;    /* pixels, days, pixels of the patch               */
    long day0, shift;       /* first day; days added to map a day into the period */
    int nsoil, nveg;        /* end-members drawn                               */
    float *tr;              /* the truth [nd][npix][CC_CL_NBANDS]              */
    cc_cl_sim_info inf;
} sim_ctx;

static void sim_ctx_free(sim_ctx *c)
{
    cc_cl_sim_info_free(&c->inf);
    cc_cl_sim_eopatch_free(&c->e);
    free(c->soil.v);
    free(c->veg.v);
    free(c->pool_dates);
    free(c->tr);
}

/* The split, revisit intervals and sensors of the options. */
static cc_status sim_check(sim_ctx *c)
{
    const cc_cl_sim_options *o = c->o;
    if (!(c->sd = split_find(o->split)))
        return cc_error_set(CC_ERR_ARG, "cloudless_sim: split '%s' is neither 'train' nor 'test'",
                            o->split ? o->split : "(null)");
    if (!o->datasets || !o->eolearn_tif)
        return cc_error_set(CC_ERR_ARG, "cloudless_sim: the datasets and eolearn GeoTIFF folders "
                                        "are required");
    if (o->ndays < 1 || o->ndays > 4000)
        return cc_error_set(CC_ERR_ARG, "cloudless_sim: ndays %d outside 1..4000", o->ndays);
    c->rev_s2 = o->s2_revisit ? o->s2_revisit : 5;
    c->rev_l = o->landsat_revisit ? o->landsat_revisit : 8;
    c->rev_s1 = o->s1_revisit ? o->s1_revisit : 6;
    if (c->rev_s2 < 1 || c->rev_l < 1 || c->rev_s1 < 1 || c->rev_s2 > 366 || c->rev_l > 366 || c->rev_s1 > 366)
        return cc_error_set(CC_ERR_ARG, "cloudless_sim: revisit intervals must be 1..366 days "
                                        "(S2 %d, Landsat %d, S1 %d)", c->rev_s2, c->rev_l, c->rev_s1);
    c->sensors = o->sensors ? o->sensors : (1u << CC_SENSOR_COUNT) - 1;
    if (c->sensors >> CC_SENSOR_COUNT)
        return cc_error_set(CC_ERR_ARG, "cloudless_sim: sensor mask 0x%x has unknown bits", c->sensors);
    return CC_OK;
}

/* The real pieces: the eolearn patch and the dates of the split's period,
 * the soil and vegetation pools, the S1 backscatter fit. */
static cc_status sim_pieces(sim_ctx *c)
{
    cc_status st;
    const cc_cl_sim_options *o = c->o;
    const split_def *sd = c->sd;
    char path[4096];
    if ((st = cc_cl_sim_eopatch_read(o->eolearn_tif, &c->e)) != CC_OK)
        return st;
    c->W = o->width ? o->width : c->e.w, c->H = o->height ? o->height : c->e.h;
    if (c->W < 1 || c->H < 1 || c->W > c->e.w || c->H > c->e.h)
        return cc_error_set(CC_ERR_ARG, "cloudless_sim: image %d x %d does not fit the %d x %d patch "
                                        "of %s", c->W, c->H, c->e.w, c->e.h, o->eolearn_tif);
    cc_date_parse(sd->first, &c->pfirst);
    cc_date_parse(sd->last, &c->plast);
    if (!(c->pool_dates = malloc((size_t)c->e.nt * sizeof *c->pool_dates)))
        return cc_error_set(CC_ERR_NOMEM, "cloudless_sim: cannot allocate the date pool");
    for (int i = 0; i < c->e.nt; i++)
        if (c->e.day[i] >= c->pfirst && c->e.day[i] <= c->plast) c->pool_dates[c->npool++] = i;
    if (c->npool < 2 || c->npool > 120)
        return cc_error_set(CC_ERR_FORMAT, "%s/NDVI.tif: %d dates in the %s period %s..%s, expected "
                                           "2..120", o->eolearn_tif, c->npool, sd->split, sd->first, sd->last);
    if (sd->riotiler_soil) {
        char scl[4096];
        snprintf(path, sizeof path, "%s/riotilerpds/s2-l2a-29RKH-20200219/", o->datasets);
        snprintf(scl, sizeof scl, "%s/riotilerpds/s2-l2a-29RKH-20200219/SCL.tif", o->datasets);
        /* 10 m bands are 1098 px (100 m), 20 m bands 549 px: read everything at 549 */
        if ((st = cc_cl_sim_pool_add_product(path, 549, 3, scl, &c->soil, NULL)) != CC_OK)
            return st;
    }
    for (int k = 0; k < sd->nben; k++) {
        const ben_piece *bp = &sd->ben[k];
        if (bp->soil || bp->veg) {
            snprintf(path, sizeof path, "%s/bigearthnet-example/BigEarthNet-S2-Example/%s/%s_",
                     o->datasets, bp->name, bp->name);
            /* 20 m bands are 60 px: read all bands at 60 x 60 (block average of the 10 m ones) */
            if ((st = cc_cl_sim_pool_add_product(path, 60, 1, NULL, bp->soil ? &c->soil : NULL,
                                       bp->veg ? &c->veg : NULL)) != CC_OK)
                return st;
        }
        if (bp->s1 && (c->sensors & (1u << CC_SENSOR_S1)) &&
            (st = cc_cl_sim_s1_fit_add(o->datasets, bp, &c->fit)) != CC_OK)
            return st;
    }
    if (c->soil.n < 8 || c->veg.n < 8)
        return cc_error_set(CC_ERR_NODATA, "%s: only %d soil and %d vegetation spectra passed the "
                                           "filters for split %s", o->datasets, c->soil.n, c->veg.n, sd->split);
    return CC_OK;
}

/* Daily NDVI targets of every pixel from its real trajectory (PCHIP through
 * the clear dates of the period; the patch mean where the pixel is never
 * clear), and its lowest and highest clear NDVI. */
static cc_status ndvi_targets(const sim_ctx *c, float *target, float *lo, float *hi)
{
    const eopatch *e = &c->e;
    const size_t pe = c->pe, npix = c->npix;
    for (int y = 0; y < c->H; y++)
        for (int x = 0; x < c->W; x++) {
            size_t p = (size_t)y * c->W + x, g = (size_t)(c->y0 + y) * e->w + (c->x0 + x);
            pchip pc;
            pc.n = 0;
            float mn = INFINITY, mx = -INFINITY;
            for (int k = 0; k < c->npool; k++) {
                int t = c->pool_dates[k];
                size_t i = (size_t)t * pe + g;
                float v = e->ndvi[i];
                if (!e->data[i] || !e->valid[i] || e->clm[i] || !isfinite(v)) continue;
                if (pc.n > 0 && pc.x[pc.n - 1] == (double)e->day[t]) { /* same day twice: mean */
                    pc.y[pc.n - 1] = 0.5 * (pc.y[pc.n - 1] + v);
                    continue;
                }
                pc.x[pc.n] = (double)e->day[t];
                pc.y[pc.n] = v;
                pc.n++;
            }
            if (pc.n == 0) { /* never clear in the period: the period's patch-mean trajectory */
                for (int k = 0; k < c->npool; k++) {
                    int t = c->pool_dates[k];
                    double sum = 0, cnt = 0;
                    for (size_t q = 0; q < pe; q++) {
                        size_t i = (size_t)t * pe + q;
                        if (e->data[i] && e->valid[i] && !e->clm[i] && isfinite(e->ndvi[i])) {
                            sum += e->ndvi[i];
                            cnt++;
                        }
                    }
                    if (cnt > 0 && (pc.n == 0 || pc.x[pc.n - 1] != (double)e->day[t])) {
                        pc.x[pc.n] = (double)e->day[t];
                        pc.y[pc.n++] = sum / cnt;
                    }
                }
            }
            if (pc.n == 0)
                return cc_error_set(CC_ERR_NODATA, "%s/NDVI.tif: no clear NDVI in the %s period",
                                    c->o->eolearn_tif, c->sd->split);
            pchip_build(&pc);
            for (int k = 0; k < pc.n; k++) {
                if (pc.y[k] < mn) mn = (float)pc.y[k];
                if (pc.y[k] > mx) mx = (float)pc.y[k];
            }
            lo[p] = mn;
            hi[p] = mx;
            for (size_t d = 0; d < c->nd; d++) {
                long t = c->day0 + (long)d + c->shift;
                while (t > c->plast) t -= 365;
                target[d * npix + p] = (float)pchip_eval(&pc, (double)t);
            }
        }
    return CC_OK;
}

/* End-members: the rank of the pixel's lowest (highest) clear NDVI -> the
 * soil (vegetation) of the same rank in the drawn, NDVI-sorted subset. */
static void end_members(const sim_ctx *c, const float *lo, const float *hi, rank_item *ranks, int *soil_of,
                        int *veg_of)
{
    const size_t npix = c->npix;
    for (int pass = 0; pass < 2; pass++) {
        const float *val = pass ? hi : lo;
        int *of = pass ? veg_of : soil_of, m = pass ? c->nveg : c->nsoil;
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
}

/* The image's place in the patch and the time mapping (stream 1), the
 * end-members (stream 2) and the truth: per pixel and day the linear mixture
 * of its soil and vegetation whose NDVI is the target. */
static cc_status sim_truth(sim_ctx *c)
{
    cc_status st = CC_OK;
    const cc_cl_sim_options *o = c->o;
    float *soil_used = NULL, *veg_used = NULL, *target = NULL, *lo = NULL, *hi = NULL;
    int *soil_of = NULL, *veg_of = NULL;
    rank_item *ranks = NULL;
    rng rg;
    rng_init(&rg, o->seed, 1);
    c->x0 = rng_int(&rg, c->e.w - c->W + 1), c->y0 = rng_int(&rg, c->e.h - c->H + 1);
    const size_t npix = c->npix = (size_t)c->W * c->H, nd = c->nd = (size_t)o->ndays;
    c->pe = (size_t)c->e.w * c->e.h;
    c->day0 = o->day0 ? o->day0 : c->pfirst;
    long diff = c->day0 - c->pfirst;
    long kyear = diff >= 0 ? diff / 365 : -((-diff + 364) / 365);
    c->shift = -365 * kyear;
    if (!(soil_used = cc_malloc3(SIM_POOL_USED, CC_CL_NBANDS, sizeof(float))) ||
        !(veg_used = cc_malloc3(SIM_POOL_USED, CC_CL_NBANDS, sizeof(float))) ||
        !(target = cc_malloc3(nd, npix, sizeof(float))) || !(lo = cc_malloc3(npix, 1, sizeof(float))) ||
        !(hi = cc_malloc3(npix, 1, sizeof(float))) || !(ranks = cc_malloc3(npix, 1, sizeof *ranks)) ||
        !(soil_of = cc_malloc3(npix, 1, sizeof(int))) || !(veg_of = cc_malloc3(npix, 1, sizeof(int))) ||
        !(c->tr = cc_malloc3(nd, npix, CC_CL_NBANDS * sizeof(float))) ||
        !(c->inf.weather_date = cc_malloc3(nd, 1, sizeof(int))) ||
        !(c->inf.s2_mask_date = cc_malloc3(nd, 1, sizeof(int))) ||
        !(c->inf.s2_cloudy = cc_malloc3(nd, 1, sizeof(long))) ||
        !(c->inf.landsat_mask_date = cc_malloc3(nd, 1, sizeof(int)))) {
        st = cc_error_set(CC_ERR_NOMEM, "cloudless_sim: cannot allocate %d days x %zu pixels", o->ndays, npix);
        goto out;
    }
    rng_init(&rg, o->seed, 2);
    c->nsoil = cc_cl_sim_pool_draw(&c->soil, &rg, soil_used), c->nveg = cc_cl_sim_pool_draw(&c->veg, &rg, veg_used);
    if (c->nsoil < 0 || c->nveg < 0) {
        st = cc_error_set(CC_ERR_NOMEM, "cloudless_sim: cannot draw the end-members");
        goto out;
    }
    if ((st = ndvi_targets(c, target, lo, hi)) != CC_OK)
        goto out;
    end_members(c, lo, hi, ranks, soil_of, veg_of);
    for (size_t d = 0; d < nd; d++)
        for (size_t p = 0; p < npix; p++) {
            const float *sv = soil_used + (size_t)soil_of[p] * CC_CL_NBANDS;
            const float *vv = veg_used + (size_t)veg_of[p] * CC_CL_NBANDS;
            double f = mix_fraction(sv, vv, target[d * npix + p]);
            float *o10 = c->tr + (d * npix + p) * CC_CL_NBANDS;
            for (int b = 0; b < CC_CL_NBANDS; b++)
                o10[b] = (float)(sv[b] + f * (vv[b] - sv[b]));
        }
out:
    free(soil_used);
    free(veg_used);
    free(target);
    free(lo);
    free(hi);
    free(ranks);
    free(soil_of);
    free(veg_of);
    return st;
}

/* The weather: one real cloud mask (a date of the split's period) per day
 * (stream 3). */
static void sim_weather(sim_ctx *c)
{
    rng rg;
    rng_init(&rg, c->o->seed, 3);
    for (size_t d = 0; d < c->nd; d++) {
        c->inf.weather_date[d] = c->pool_dates[rng_int(&rg, c->npool)];
        c->inf.s2_mask_date[d] = -1;
        c->inf.s2_cloudy[d] = -1;
        c->inf.landsat_mask_date[d] = -1;
    }
}

/* Pixel (x, y) of the image is cloudy (or not data) in eolearn date t. */
static inline int sim_cloudy(const sim_ctx *c, int t, int x, int y)
{
    size_t i = (size_t)t * c->pe + (size_t)(c->y0 + y) * c->e.w + (c->x0 + x);
    return c->e.clm[i] || !c->e.data[i];
}

/* The stream of one sensor: its generator and first acquisition day (phase
 * in 0..rev-1, drawn even when the sensor is not simulated, as always);
 * 1 if the sensor is simulated. */
static int sensor_stream(const sim_ctx *c, uint64_t stream, int rev, cc_sensor sensor, rng *rg, int *phase)
{
    rng_init(rg, c->o->seed, stream);
    *phase = rng_int(rg, rev);
    return (c->sensors & (1u << sensor)) != 0;
}

/* Sentinel-2 every rev_s2 days (stream 4): the truth with per-acquisition
 * bias and per-pixel noise where the day's weather is clear. */
static void sim_s2(sim_ctx *c, cc_series *s)
{
    const size_t npix = c->npix;
    rng rg;
    if (!sensor_stream(c, 4, c->rev_s2, CC_SENSOR_S2, &rg, &c->inf.s2_phase))
        return;
    for (size_t d = (size_t)c->inf.s2_phase; d < c->nd; d += (size_t)c->rev_s2) {
        int t = c->inf.weather_date[d];
        double bias[CC_CL_NBANDS];
        long cloudy = 0;
        for (int b = 0; b < CC_CL_NBANDS; b++)
            bias[b] = SIM_S2_BIAS * rng_normal(&rg);
        c->inf.s2_mask_date[d] = t;
        for (int y = 0; y < c->H; y++)
            for (int x = 0; x < c->W; x++) {
                size_t p = (size_t)y * c->W + x;
                if (sim_cloudy(c, t, x, y)) {
                    cloudy++;
                    continue;
                }
                const float *tv = c->tr + (d * npix + p) * CC_CL_NBANDS;
                float *ov = s->s2 + (d * npix + p) * CC_CL_NBANDS;
                for (int b = 0; b < CC_CL_NBANDS; b++)
                    ov[b] = clamp01(tv[b] + bias[b] + (SIM_S2_NOISE_ABS + SIM_S2_NOISE_REL * tv[b]) * rng_normal(&rg));
            }
        c->inf.s2_cloudy[d] = cloudy;
    }
}

/* Landsat 8/9 every rev_l days (stream 5): 30 m blocks, OLI via the S2B HLS
 * fit, back via the S2A inverse; its own weather (another date). */
static void sim_landsat(sim_ctx *c, cc_series *s)
{
    const size_t npix = c->npix;
    const int W = c->W, H = c->H;
    rng rg;
    if (!sensor_stream(c, 5, c->rev_l, CC_SENSOR_LANDSAT, &rg, &c->inf.landsat_phase))
        return;
    for (size_t d = (size_t)c->inf.landsat_phase; d < c->nd; d += (size_t)c->rev_l) {
        int t = c->pool_dates[rng_int(&rg, c->npool)];
        if (c->npool > 1)
            while (t == c->inf.weather_date[d])
                t = c->pool_dates[rng_int(&rg, c->npool)];
        c->inf.landsat_mask_date[d] = t;
        double bias[6];
        for (int k = 0; k < 6; k++)
            bias[k] = SIM_OLI_BIAS * rng_normal(&rg);
        for (int by = 0; by < H; by += 3)
            for (int bx = 0; bx < W; bx += 3) {
                int ey = by + 3 < H ? by + 3 : H, ex = bx + 3 < W ? bx + 3 : W, cnt = 0, cl = 0;
                double m[CC_CL_NBANDS] = {0};
                for (int y = by; y < ey; y++)
                    for (int x = bx; x < ex; x++) {
                        const float *tv = c->tr + (d * npix + (size_t)y * W + x) * CC_CL_NBANDS;
                        for (int b = 0; b < CC_CL_NBANDS; b++)
                            m[b] += tv[b];
                        cnt++;
                        cl += sim_cloudy(c, t, x, y) ? 1 : 0;
                    }
                if (2 * cl > cnt) continue; /* cloudy 30 m pixel */
                float val[6];
                for (int k = 0; k < 6; k++) {
                    const hls_coef *hc = &sim_hls[k];
                    double msi = m[hc->band] / cnt;
                    double oli = hc->sb * msi + hc->ob + bias[k] + SIM_OLI_NOISE * rng_normal(&rg);
                    val[k] = clamp01((oli - hc->oa) / hc->sa);
                }
                for (int y = by; y < ey; y++)
                    for (int x = bx; x < ex; x++) {
                        float *ov = s->landsat + (d * npix + (size_t)y * W + x) * CC_CL_NBANDS;
                        for (int k = 0; k < 6; k++)
                            ov[sim_hls[k].band] = val[k];
                    }
            }
    }
}

/* The SMAC terms of the 8 OLCI-mapped bands on day d: the sun at 10:30
 * solar time, a random view and atmosphere (stream of the caller). */
static void olci_day_terms(const sim_ctx *c, size_t d, rng *rg, cc_smac_terms terms[8])
{
    cc_smac_atmos a;
    int doy = cc_date_day_of_year(c->day0 + (long)d);
    double decl = 23.44 * sin(2 * M_PI * (284 + doy) / 365.0) * M_PI / 180;
    double lat = SIM_LAT_DEG * M_PI / 180, ha = -22.5 * M_PI / 180; /* 10:30 solar time */
    double cz = sin(lat) * sin(decl) + cos(lat) * cos(decl) * cos(ha);
    a.tetas = acos(cz) * 180 / M_PI;
    a.phis = 150.0;
    a.tetav = 40.0 * rng_unif(rg);
    a.phiv = 360.0 * rng_unif(rg);
    a.pressure_hpa = cc_smac_pressure_from_elevation(SIM_ELEV_M);
    a.aot550 = 0.05 + 0.30 * rng_unif(rg);
    a.uo3 = 0.3;
    a.uh2o = 0.8 + 2.2 * rng_unif(rg);
    for (int b = 0; b < 8; b++)
        cc_smac_terms_compute(cc_smac_coefs_get(CC_SC_S2A, sim_cc_band[b]), &a, &terms[b]);
}

/* OLCI daily (stream 6): 300 m blocks, TOA-like through SMAC forward, thin
 * cloud mixed in, blocks above SIM_OLCI_CF_MAX cloud flagged (left NaN). */
static void sim_olci(sim_ctx *c, cc_series *s)
{
    const size_t npix = c->npix;
    const int W = c->W, H = c->H;
    rng rg;
    rng_init(&rg, c->o->seed, 6);
    if (!(c->sensors & (1u << CC_SENSOR_OLCI)))
        return;
    int bw = W < SIM_OLCI_BLOCK ? W : SIM_OLCI_BLOCK, bh = H < SIM_OLCI_BLOCK ? H : SIM_OLCI_BLOCK;
    for (size_t d = 0; d < c->nd; d++) {
        int t = c->inf.weather_date[d];
        cc_smac_terms terms[8];
        olci_day_terms(c, d, &rg, terms);
        for (int by = 0; by < H; by += bh)
            for (int bx = 0; bx < W; bx += bw) {
                int ey = by + bh < H ? by + bh : H, ex = bx + bw < W ? bx + bw : W, cnt = 0, cl = 0;
                double m[8] = {0};
                for (int y = by; y < ey; y++)
                    for (int x = bx; x < ex; x++) {
                        const float *tv = c->tr + (d * npix + (size_t)y * W + x) * CC_CL_NBANDS;
                        for (int b = 0; b < 8; b++)
                            m[b] += tv[b];
                        cnt++;
                        cl += sim_cloudy(c, t, x, y) ? 1 : 0;
                    }
                double cf = (double)cl / cnt;
                if (cf > SIM_OLCI_CF_MAX) continue;
                float val[CC_CL_NBANDS];
                for (int b = 0; b < 8; b++) {
                    /* OLCI Oa17 feeds both B08 and B8A (eoreader mapping): B08 := B8A */
                    int src = b == I_B08 ? I_B8A : b;
                    double toa = cc_smac_forward(&terms[src], m[src] / cnt);
                    toa = (1 - cf) * toa + cf * SIM_OLCI_CLOUD_TOA;
                    val[b] = clamp01(toa + (SIM_S2_NOISE_ABS + SIM_S2_NOISE_REL * toa) * rng_normal(&rg));
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

/* The S1 model from the fit: dB = a + b NDVI, the residual split into a
 * static per-pixel offset and speckle (the speckle of SIM_S1_ENL looks). */
static void s1_model(sim_ctx *c)
{
    const s1_fit *fit = &c->fit;
    cc_cl_sim_info *inf = &c->inf;
    double sp = 10.0 / log(10.0) * sqrt(trigamma(SIM_S1_ENL));
    inf->s1_speckle_db = sp;
    inf->s1_fit_pixels = (long)fit->n;
    double cxx = fit->sxx - fit->sx * fit->sx / fit->n;
    for (int k = 0; k < 2; k++) {
        double cxy = fit->sxy[k] - fit->sx * fit->sy[k] / fit->n;
        double cyy = fit->syy[k] - fit->sy[k] * fit->sy[k] / fit->n;
        inf->s1_b[k] = cxy / cxx;
        inf->s1_a[k] = (fit->sy[k] - inf->s1_b[k] * fit->sx) / fit->n;
        double rv = (cyy - inf->s1_b[k] * cxy) / fit->n;
        inf->s1_resid_db[k] = sqrt(rv > 0 ? rv : 0);
        double sv = rv - sp * sp;
        inf->s1_static_db[k] = sv > 0 ? sqrt(sv) : 0;
    }
    if (sp > inf->s1_resid_db[0] && sp > inf->s1_resid_db[1])
        inf->s1_speckle_db = fmax(inf->s1_resid_db[0], inf->s1_resid_db[1]);
}

/* Sentinel-1 every rev_s1 days (stream 7; the static offsets stream 8). */
static cc_status sim_s1(sim_ctx *c, cc_series *s)
{
    const size_t npix = c->npix;
    const cc_cl_sim_info *inf = &c->inf;
    rng rg;
    if (!sensor_stream(c, 7, c->rev_s1, CC_SENSOR_S1, &rg, &c->inf.s1_phase))
        return CC_OK;
    if (c->fit.n < 100)
        return cc_error_set(CC_ERR_NODATA, "%s/bigearthnet-example: only %.0f S1/S2 pixels for the "
                                           "%s backscatter fit", c->o->datasets, c->fit.n, c->sd->split);
    s1_model(c);
    const double sp = inf->s1_speckle_db;
    float *s1_static = cc_malloc3(npix, CC_CL_NS1, sizeof(float));
    if (!s1_static)
        return cc_error_set(CC_ERR_NOMEM, "cloudless_sim: cannot allocate the S1 offsets");
    rng r8;
    rng_init(&r8, c->o->seed, 8);
    for (size_t p = 0; p < npix; p++)
        for (int k = 0; k < 2; k++)
            s1_static[p * 2 + k] = (float)(inf->s1_static_db[k] * rng_normal(&r8));
    for (size_t d = (size_t)inf->s1_phase; d < c->nd; d += (size_t)c->rev_s1)
        for (size_t p = 0; p < npix; p++) {
            const float *tv = c->tr + (d * npix + p) * CC_CL_NBANDS;
            double ndv = (tv[I_B08] - tv[I_B04]) / (tv[I_B08] + tv[I_B04]);
            for (int k = 0; k < 2; k++)
                s->s1[(d * npix + p) * 2 + k] =
                    (float)(inf->s1_a[k] + inf->s1_b[k] * ndv + s1_static[p * 2 + k] + sp * rng_normal(&rg));
        }
    free(s1_static);
    return CC_OK;
}

/* What the caller's info receives besides the per-day arrays. */
static void sim_info(sim_ctx *c)
{
    cc_cl_sim_info *inf = &c->inf;
    snprintf(inf->label, sizeof inf->label,
             "%s multi-sensor series (clearcube cloudless_sim, split %s, seed %llu): real "
             "pieces recombined, not an observation", CC_CL_SIM_LABEL, c->sd->split,
             (unsigned long long)c->o->seed);
    snprintf(inf->split, sizeof inf->split, "%s", c->sd->split);
    inf->ndays = c->o->ndays;
    inf->x0 = c->x0;
    inf->y0 = c->y0;
    inf->src_shift = c->shift;
    inf->period_first = c->pfirst;
    inf->period_last = c->plast;
    inf->s2_revisit = c->rev_s2;
    inf->landsat_revisit = c->rev_l;
    inf->s1_revisit = c->rev_s1;
    inf->n_soil_pool = c->soil.n;
    inf->n_veg_pool = c->veg.n;
    inf->n_soil_used = c->nsoil;
    inf->n_veg_used = c->nveg;
    inf->n_traj_dates = c->npool;
}

cc_status cc_cl_sim_generate(const cc_cl_sim_options *o, cc_series *s, float **truth, int *width,
                             int *height)
{
    cc_status st = CC_ERR_ARG;
    sim_ctx c;
    memset(&c, 0, sizeof c);
    c.o = o;
    if (s) memset(s, 0, sizeof *s);
    if (truth) *truth = NULL;
    if (!o || !s || !truth || !width || !height) {
        st = cc_error_set(CC_ERR_ARG, "cloudless_sim: NULL options or outputs");
        goto out;
    }
    if ((st = sim_check(&c)) != CC_OK || (st = sim_pieces(&c)) != CC_OK || (st = sim_truth(&c)) != CC_OK ||
        (st = cc_series_alloc(s, o->ndays, c.day0, c.npix)) != CC_OK)
        goto out;
    sim_weather(&c);
    sim_s2(&c, s);
    sim_landsat(&c, s);
    sim_olci(&c, s);
    if ((st = sim_s1(&c, s)) != CC_OK)
        goto out;
    *truth = c.tr;
    c.tr = NULL;
    *width = c.W;
    *height = c.H;
    if (o->info) {
        sim_info(&c);
        *o->info = c.inf;
        memset(&c.inf, 0, sizeof c.inf);
    }
    st = CC_OK;
out:
    if (st != CC_OK && s) cc_series_free(s);
    sim_ctx_free(&c);
    return st;
}
