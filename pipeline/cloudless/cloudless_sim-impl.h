/* clearcube: what the SIMULATED series (cloudless_sim.c) and its real pieces
 * (cloudless_sim_pieces.c: the eolearn patch, the S2 L2A spectra pools, the S1
 * backscatter fit) share. Not part of the public interface. */
#ifndef CC_PIPELINE_CLOUDLESS_CLOUDLESS_SIM_IMPL_H
#define CC_PIPELINE_CLOUDLESS_CLOUDLESS_SIM_IMPL_H

#include <math.h>
#include <stdint.h>

#include "core/bands.h"
#include "core/error.h"

#ifndef M_PI /* strict C17 hides it; the same value as <math.h>'s */
#define M_PI 3.14159265358979323846
#endif

#define SIM_POOL_USED 64       /* end-members drawn per series from each pool   */

/* Cloudless band indices (CC_CL_NBANDS order). */
enum { I_B02 = 0, I_B03, I_B04, I_B05, I_B06, I_B07, I_B08, I_B8A, I_B11, I_B12 };

/* The real pieces of each split. */
typedef struct {
    const char *name;      /* bigearthnet S2 patch folder                        */
    int soil, veg;         /* contributes soil / vegetation end-members          */
    const char *s1;        /* co-located S1 patch folder (S1 fit), NULL = none   */
} ben_piece;

/* ---- random numbers: xoshiro256** seeded by splitmix64, one stream per part ---- */

typedef struct {
    uint64_t s[4];
    int has_spare;
    double spare;
} rng;

static inline uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline void rng_init(rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ULL);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
    r->has_spare = 0;
    r->spare = 0.0;
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t rng_next(rng *r)
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

static inline double rng_unif(rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

static inline int rng_int(rng *r, int n) { return (int)(rng_unif(r) * n) % n; }

static inline double rng_normal(rng *r)
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

/* Reads NDVI, CLM, IS_VALID and IS_DATA of dir (one band per date). */
cc_status cc_cl_sim_eopatch_read(const char *dir, eopatch *e);
void cc_cl_sim_eopatch_free(eopatch *e);

/* ---- real S2 L2A spectra ---- */

typedef struct {
    float *v;  /* [n][CC_CL_NBANDS] */
    int n, cap;
} pool;

static inline float spec_ndvi(const float *v) { return (v[I_B08] - v[I_B04]) / (v[I_B08] + v[I_B04]); }

/* Adds the soil and/or vegetation pixels of one product (bands at
 * prefix<BAND>.tif, read at n x n, every stride-th pixel; DN / 10000; SCL
 * classes 4/5 only when scl is set). */
cc_status cc_cl_sim_pool_add_product(const char *prefix, int n, int stride, const char *scl, pool *soil, pool *veg);
/* Draws min(SIM_POOL_USED, n) members without replacement into out (sorted by
 * NDVI); returns the count, -1 when out of memory. */
int cc_cl_sim_pool_draw(const pool *p, rng *r, float *out);

/* ---- S1: dB = a + b NDVI on the real bigearthnet pairs ---- */

typedef struct {
    double n, sx, sxx, sy[CC_CL_NS1], syy[CC_CL_NS1], sxy[CC_CL_NS1];
} s1_fit;

/* Adds the S1/S2 pixel pairs of one bigearthnet piece to the fit. */
cc_status cc_cl_sim_s1_fit_add(const char *datasets, const ben_piece *bp, s1_fit *f);

#endif
