/* `clearcube dataset`, kinds library and simulated, on synthetic inputs
 * written here (needs no ../shared):
 *
 *  library: three sources, A a GeoTIFF stack with all 12 L2A bands (classes
 *  by the spectral rules, max_spectra 150), B a stack lacking B01/B09 with an
 *  SCL raster (classes from SCL, also where the spectrum says otherwise), C an
 *  openEO-like NetCDF pair (10 m B02/B03/B04/B08, 20 m bands and SCL, three
 *  dates) lacking B01, B8A and B09. Checked: every spectrum is an input pixel
 *  (and date) of its source, its class, the count per source and class
 *  (max_spectra), the fill of the missing bands by the rules fitted on the
 *  complete spectra (as reported in /library fill_rules; B8A filled before
 *  the B09 rule that uses it).
 *
 *  simulated: patches over the full domain, with `exclude`, and each stress
 *  set. For every valid pixel the stored l2a is the reference processor's
 *  per-pixel inversion (cc_reference_smac_pixel_sc) of the stored l1c with
 *  the stored per-pixel context (context_px decoded); the water vapour is the
 *  reference's retrieval (cc_atmos_retrieve_wv) on the stored l1c; the
 *  context lies in the documented ranges and the stress sets at their edge;
 *  the build is deterministic. The source of each simulated pixel is read
 *  from a tag band (B05 = 0.30 / 0.50 / 0.70 in A / B / C). */
#define _GNU_SOURCE /* strdup, M_PI */
#include <gdal.h>
#include <hdf5.h>
#include <netcdf.h>

#include "core/reflectance.h"
#include "kernels/smac/smac.h"
#include "pipeline/atmos/atmos.h"
#include "pipeline/atmos/context.h"
#include "io/grid/grid.h"
#include "io/s2/scene.h"
#include "pipeline/atmos/reference.h"
#include "pipeline/boa/dataset.h"
#include "h5read.h"
#include "testutil.h"

#define P 128
#define NB 12
#define NC 7
enum { LAND, WATER, SNOW, CLOUD, SHADOW, HAZE, NCLS }; /* the library's class codes */
enum { B01, B02, B03, B04, B05, B06, B07, B08, B8A, B09, B11, B12 };

/* ------------------------------------------------------------ synthetic spectra */

static const double base[NCLS][NB] = {
    /* B01 and B09 come from the rules below, B05 is the source tag */
    {0, .04, .07, .05, 0, .15, .28, .35, .36, 0, .20, .12},   /* land   */
    {0, .06, .06, .04, 0, .03, .025, .02, .018, 0, .01, .008}, /* water  */
    {0, .85, .80, .75, 0, .72, .71, .70, .69, 0, .10, .08},    /* snow   */
    {0, .45, .43, .42, 0, .43, .44, .46, .46, 0, .38, .30},    /* cloud  */
    {0, .02, .018, .015, 0, .02, .022, .025, .025, 0, .02, .015}, /* shadow */
    {0, .16, .14, .12, 0, .15, .17, .20, .20, 0, .18, .14}};  /* haze   */
static const double tag[3] = {0.30, 0.50, 0.70};

static double urand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return ((*s >> 8) & 0xffff) / 65536.0;
}

/* One spectrum as DN (10000 rho) of class c from source src: +-4 % around
 * the class, B01 and B09 linear in other bands (the fill rules can recover
 * them), B05 the source tag. */
static void spectrum(int c, int src, unsigned *s, uint16_t dn[NB])
{
    double r[NB];
    for (int k = 0; k < NB; k++)
        r[k] = base[c][k] * (1.0 + 0.08 * (urand(s) - 0.5));
    r[B05] = tag[src] * (1.0 + 0.02 * (urand(s) - 0.5));
    r[B01] = 0.01 + 0.5 * r[B02] + 0.3 * r[B03] + 0.1 * r[B04];
    r[B09] = 0.002 + 0.95 * r[B8A] + 0.05 * r[B11] - 0.03 * r[B12]; /* near B8A, as the WV retrieval assumes */
    for (int k = 0; k < NB; k++)
        dn[k] = (uint16_t)lround(r[k] * 10000.0);
}

/* The documented spectral rules (library.c) on reflectance r. */
static int rule_class(const double *r)
{
    double ndwi = (r[B03] - r[B08]) / fmax(r[B03] + r[B08], 1e-6);
    double ndsi = (r[B03] - r[B11]) / fmax(r[B03] + r[B11], 1e-6);
    if (ndwi > 0.2 && r[B08] < 0.15)
        return WATER;
    if (ndsi > 0.4 && r[B03] > 0.25)
        return SNOW;
    if (r[B02] > 0.25 && r[B04] > 0.25 && r[B08] > 0.25)
        return CLOUD;
    if ((r[B02] + r[B03] + r[B04] + r[B08]) * 0.25 < 0.03)
        return SHADOW;
    if (r[B02] > 0.12 && r[B02] > r[B04])
        return HAZE;
    return LAND;
}

/* SCL -> library class; -1 not used */
static int scl_class(int v)
{
    static const int map[12] = {-1, -1, SHADOW, SHADOW, LAND, LAND, WATER, LAND, CLOUD, CLOUD, HAZE, SNOW};
    return v >= 0 && v < 12 ? map[v] : -1;
}

/* ------------------------------------------------------------ the inputs */

#define NA 400 /* A: 20 x 20 */
#define NBP 100 /* B: 10 x 10 */
#define CW 8   /* C: 8 x 8 at 10 m, 4 x 4 at 20 m, 3 dates */
#define ND 3

typedef struct {
    uint16_t a[NA][NB];         /* A, all bands; pixel 0 has B05 = 0 (nodata) */
    int a_cls[NA];
    uint16_t b[NBP][NB];        /* B (B01, B09 not written) */
    uint8_t b_scl[NBP];
    uint16_t c[ND][CW * CW][NB]; /* C at 10 m (20 m bands repeated over their 2 x 2 block) */
    uint8_t c_scl[ND][CW * CW / 4];
} inputs;

static void write_tif(const char *path, int w, int h, int nb, GDALDataType t, const void *v)
{
    GDALDatasetH ds = GDALCreate(GDALGetDriverByName("GTiff"), path, w, h, nb, t, NULL);
    double gt[6] = {600000, 10, 0, 5000000, 0, -10};
    GDALSetGeoTransform(ds, gt);
    GDALSetProjection(ds, "EPSG:32631");
    size_t sz = t == GDT_Byte ? 1 : 2;
    for (int b = 0; b < nb; b++)
        CHECK(GDALRasterIO(GDALGetRasterBand(ds, b + 1), GF_Write, 0, 0, w, h,
                           (char *)v + (size_t)b * w * h * sz, w, h, t, 0, 0) == CE_None);
    GDALClose(ds);
}

static void make_stacks(const char *dir, inputs *in)
{
    unsigned s = 12345;
    static const int na_cls[NCLS] = {200, 80, 40, 40, 20, 20}; /* pixels of each class in A */
    int i = 0;
    for (int c = 0; c < NCLS; c++)
        for (int j = 0; j < na_cls[c]; j++, i++) {
            spectrum(c, 0, &s, in->a[i]);
            in->a_cls[i] = c;
        }
    in->a[0][B05] = 0;
    uint16_t *planes = malloc(sizeof *planes * NA * NB);
    for (int k = 0; k < NB; k++)
        for (int q = 0; q < NA; q++)
            planes[(size_t)k * NA + q] = in->a[q][k];
    char p[4200];
    snprintf(p, sizeof p, "%s/libA.tif", dir);
    write_tif(p, 20, 20, NB, GDT_UInt16, planes);
    /* B: SCL 4 over 50 land and 10 WATER spectra (SCL wins), 6 water, 8 cloud, 0 nodata, 11 snow */
    for (int q = 0; q < NBP; q++) {
        int scl = q < 60 ? 4 : q < 80 ? 6 : q < 90 ? 8 : q < 95 ? 0 : 11;
        int c = q < 50 ? LAND : q < 80 ? WATER : q < 90 ? CLOUD : q < 95 ? LAND : SNOW;
        spectrum(c, 1, &s, in->b[q]);
        in->b_scl[q] = (uint8_t)scl;
    }
    static const int bk[10] = {B02, B03, B04, B05, B06, B07, B08, B8A, B11, B12};
    for (int j = 0; j < 10; j++)
        for (int q = 0; q < NBP; q++)
            planes[(size_t)j * NBP + q] = in->b[q][bk[j]];
    snprintf(p, sizeof p, "%s/libB.tif", dir);
    write_tif(p, 10, 10, 10, GDT_UInt16, planes);
    snprintf(p, sizeof p, "%s/libB_scl.tif", dir);
    write_tif(p, 10, 10, 1, GDT_Byte, in->b_scl);
    free(planes);
}

/* One NetCDF file of C: variables `names` on a w x w grid of `res` m, ND dates. */
static void write_nc(const char *path, int w, double res, int nv, const char *const *names, const int *band,
                     const inputs *in, int scl)
{
    int nc, dt, dy, dx, vt, vy, vx, dims[3];
    CHECK(nc_create(path, NC_NETCDF4 | NC_CLOBBER, &nc) == NC_NOERR);
    nc_def_dim(nc, "t", ND, &dt);
    nc_def_dim(nc, "y", (size_t)w, &dy);
    nc_def_dim(nc, "x", (size_t)w, &dx);
    nc_def_var(nc, "t", NC_INT, 1, &dt, &vt);
    nc_put_att_text(nc, vt, "units", 27, "days since 2020-01-01 00:00");
    nc_def_var(nc, "y", NC_DOUBLE, 1, &dy, &vy);
    nc_def_var(nc, "x", NC_DOUBLE, 1, &dx, &vx);
    nc_put_att_text(nc, vx, "standard_name", 23, "projection_x_coordinate");
    nc_put_att_text(nc, vy, "standard_name", 23, "projection_y_coordinate");
    dims[0] = dt, dims[1] = dy, dims[2] = dx;
    int var[16];
    for (int j = 0; j < nv; j++) {
        nc_def_var(nc, names[j], j == scl ? NC_UBYTE : NC_USHORT, 3, dims, &var[j]);
        if (j != scl) {
            double sf = 1e-4;
            nc_put_att_double(nc, var[j], "scale_factor", NC_DOUBLE, 1, &sf);
        }
    }
    nc_enddef(nc);
    int t[ND] = {0, 10, 20};
    double x[CW], y[CW];
    for (int i = 0; i < w; i++) {
        x[i] = 600000 + (i + 0.5) * res;
        y[i] = 5000000 - (i + 0.5) * res;
    }
    nc_put_var_int(nc, vt, t);
    nc_put_var_double(nc, vy, y);
    nc_put_var_double(nc, vx, x);
    int f = CW / w; /* 10 m pixels per pixel of this file */
    for (int j = 0; j < nv; j++) {
        uint16_t v16[ND * CW * CW];
        uint8_t v8[ND * CW * CW];
        for (int d = 0; d < ND; d++)
            for (int r = 0; r < w; r++)
                for (int c = 0; c < w; c++) {
                    size_t o = ((size_t)d * w + r) * w + c;
                    if (j == scl)
                        v8[o] = in->c_scl[d][r * w + c];
                    else
                        v16[o] = in->c[d][(r * f) * CW + c * f][band[j]];
                }
        CHECK((j == scl ? nc_put_var_uchar(nc, var[j], v8) : nc_put_var_ushort(nc, var[j], v16)) == NC_NOERR);
    }
    CHECK(nc_close(nc) == NC_NOERR);
}

/* C: per date and 20 m block an SCL code (cycling through every code, 0 and
 * 1 included), the spectrum of its class; 10 m bands differ per 10 m pixel. */
static void make_netcdf(const char *dir, inputs *in)
{
    static const int codes[12] = {4, 5, 6, 8, 9, 10, 11, 2, 3, 7, 0, 1};
    unsigned s = 777;
    for (int d = 0; d < ND; d++)
        for (int b = 0; b < CW * CW / 4; b++) {
            int scl = codes[(b + 5 * d) % 12], c = scl_class(scl);
            in->c_scl[d][b] = (uint8_t)scl;
            uint16_t blk[NB];
            spectrum(c < 0 ? LAND : c, 2, &s, blk);
            int br = b / (CW / 2), bc = b % (CW / 2);
            for (int q = 0; q < 4; q++) {
                uint16_t *o = in->c[d][(br * 2 + q / 2) * CW + bc * 2 + q % 2];
                spectrum(c < 0 ? LAND : c, 2, &s, o);
                for (int k = B05; k < NB; k++)
                    if (k != B08)
                        o[k] = blk[k]; /* the 20 m bands */
            }
        }
    char p[4200];
    static const char *const n10[4] = {"B02", "B03", "B04", "B08"};
    static const int b10[4] = {B02, B03, B04, B08};
    snprintf(p, sizeof p, "%s/libC_10m.nc", dir);
    write_nc(p, CW, 10.0, 4, n10, b10, in, -1);
    static const char *const n20[6] = {"B05", "B06", "B07", "B11", "B12", "SCL"};
    static const int b20[6] = {B05, B06, B07, B11, B12, 0};
    snprintf(p, sizeof p, "%s/libC_20m.nc", dir);
    write_nc(p, CW / 2, 20.0, 6, n20, b20, in, 5);
}

static void write_config(const char *path, const char *extra)
{
    FILE *f = fopen(path, "w");
    fprintf(f,
            "seed: 5\nsources:\n"
            "  - scene: libA\n    kind: library\n    split: train\n    format: stack\n    path: libA.tif\n"
            "    bands: B01,B02,B03,B04,B05,B06,B07,B08,B8A,B09,B11,B12\n    max_spectra: 150\n"
            "  - scene: libB\n    kind: library\n    split: train\n    format: stack\n    path: libB.tif\n"
            "    bands: B02,B03,B04,B05,B06,B07,B08,B8A,B11,B12\n    classes: libB_scl.tif\n"
            "  - scene: libC\n    kind: library\n    split: train\n    format: netcdf\n    path: libC_10m.nc\n"
            "    bands: B02,B03,B04,B08\n    path2: libC_20m.nc\n    bands2: B05,B06,B07,B11,B12,SCL\n"
            "    classes: SCL\n    max_spectra: 30\n"
            "%s",
            extra);
    fclose(f);
}

/* ------------------------------------------------------------ reading the file */

typedef struct {
    size_t n, nlib;
    uint16_t *l1c, *l2a, *cpx, *spec;
    float *ctx;
    int32_t *scene, *source;
    uint8_t *split, *kind, *cls;
    char *fill_rules;
} dsfile;

static int load(const char *path, dsfile *h)
{
    memset(h, 0, sizeof *h);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return -1;
    size_t n;
    h->l1c = h5_read_all(f, "l1c", H5T_NATIVE_UINT16, 2, &h->n);
    h->l2a = h5_read_all(f, "l2a", H5T_NATIVE_UINT16, 2, &n);
    h->cpx = h5_read_all(f, "context_px", H5T_NATIVE_UINT16, 2, &n);
    h->ctx = h5_read_all(f, "context", H5T_NATIVE_FLOAT, 4, &n);
    h->scene = h5_read_all(f, "scene", H5T_NATIVE_INT32, 4, &n);
    h->split = h5_read_all(f, "split", H5T_NATIVE_UINT8, 1, &n);
    h->kind = h5_read_all(f, "kind", H5T_NATIVE_UINT8, 1, &n);
    h->spec = h5_read_all(f, "library/spectra", H5T_NATIVE_UINT16, 2, &h->nlib);
    h->source = h5_read_all(f, "library/source", H5T_NATIVE_INT32, 4, &n);
    h->cls = h5_read_all(f, "library/class", H5T_NATIVE_UINT8, 1, &n);
    hid_t g = H5Gopen2(f, "library", H5P_DEFAULT);
    if (g >= 0) {
        h->fill_rules = h5_read_str_attr(g, "fill_rules");
        H5Gclose(g);
    }
    H5Fclose(f);
    return h->l1c && h->l2a && h->cpx && h->ctx && h->spec && h->source && h->cls && h->fill_rules ? 0 : -1;
}

static void unload(dsfile *h)
{
    void *p[] = {h->l1c, h->l2a, h->cpx, h->spec, h->ctx, h->scene, h->source, h->split, h->kind, h->cls,
                 h->fill_rules};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++)
        free(p[i]);
}

/* ------------------------------------------------------------ library checks */

static double refl(uint16_t dn) { return (dn - 1000.0) / 10000.0; }

/* Least squares t ~ 1, p0, p1, p2 over the library spectra of source 0 (the
 * complete ones), by the normal equations. */
static void fit(const dsfile *h, int t, const int pr[3], double x[4])
{
    double A[4][5] = {{0}};
    for (size_t i = 0; i < h->nlib; i++) {
        if (h->source[i] != 0)
            continue;
        const uint16_t *s = h->spec + i * NB;
        double v[5] = {1.0, refl(s[pr[0]]), refl(s[pr[1]]), refl(s[pr[2]]), refl(s[t])};
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 5; c++)
                A[r][c] += v[r] * v[c];
    }
    for (int i = 0; i < 4; i++) /* Gauss-Jordan, the system is well conditioned */
        for (int r = 0; r < 4; r++) {
            if (r == i)
                continue;
            double f = A[r][i] / A[i][i];
            for (int c = 0; c < 5; c++)
                A[r][c] -= f * A[i][c];
        }
    for (int i = 0; i < 4; i++)
        x[i] = A[i][4] / A[i][i];
}

/* The rule of band `name` in the fill_rules attribute: "B01 = x0 x1 B02 x2 B03 x3 B04 (fitted on N, ..." */
static int parse_rule(const char *attr, const char *name, double x[4], size_t *nfit)
{
    char key[16];
    snprintf(key, sizeof key, "%s = ", name);
    const char *p = strstr(attr, key);
    char b1[8], b2[8], b3[8];
    if (!p || sscanf(p + strlen(key), "%lf %lf %7s %lf %7s %lf %7s (fitted on %zu", &x[0], &x[1], b1, &x[2], b2, &x[3],
                     b3, nfit) != 8)
        return -1;
    return 0;
}

/* The input pixel a library spectrum of source src came from (bands in
 * `have` compared), or -1; *cls its expected class. */
static int find_input(const inputs *in, int src, const uint16_t *s, uint32_t have, int *cls)
{
    int n = src == 0 ? NA : src == 1 ? NBP : ND * CW * CW;
    for (int i = 0; i < n; i++) {
        const uint16_t *v = src == 0 ? in->a[i] : src == 1 ? in->b[i] : in->c[i / (CW * CW)][i % (CW * CW)];
        int same = 1;
        for (int k = 0; k < NB && same; k++)
            same = !((have >> k) & 1) || v[k] + 1000 == s[k];
        if (!same)
            continue;
        if (src == 0)
            *cls = in->a_cls[i];
        else if (src == 1)
            *cls = scl_class(in->b_scl[i]);
        else {
            int p = i % (CW * CW), d = i / (CW * CW);
            *cls = scl_class(in->c_scl[d][(p / CW / 2) * (CW / 2) + (p % CW) / 2]);
        }
        return i;
    }
    return -1;
}

/* Fill of band t by rule x within 1 DN (the rule's value clamped to [1e-4, 1.5]). */
static int fill_ok(const uint16_t *s, int t, const int pr[3], const double x[4])
{
    double v = x[0] + x[1] * refl(s[pr[0]]) + x[2] * refl(s[pr[1]]) + x[3] * refl(s[pr[2]]);
    long want = lround(fmin(fmax(v, 1e-4), 1.5) * 10000.0 + 1000.0);
    return labs((long)s[t] - want) <= 1;
}

static void check_library(const dsfile *h, const inputs *in)
{
    static const int pr[3][3] = {{B02, B03, B04}, {B07, B08, B06}, {B8A, B11, B12}};
    static const int tg[3] = {B01, B8A, B09};
    static const char *const tn[3] = {"B01", "B8A", "B09"};
    double x[3][4];
    for (int r = 0; r < 3; r++) {
        fit(h, tg[r], pr[r], x[r]);
        double ax[4];
        size_t nfit = 0;
        CHECK(parse_rule(h->fill_rules, tn[r], ax, &nfit) == 0);
        for (int q = 0; q < 4; q++)
            CHECK_NEAR(ax[q], x[r][q], 1e-5); /* the attribute prints 5 decimals */
        CHECK(nfit == 350);                    /* the complete spectra: A's */
        printf("library: %s = %.5f %+.5f %+.5f %+.5f (fitted on %zu)\n", tn[r], x[r][0], x[r][1], x[r][2], x[r][3],
               nfit);
    }
    /* B01 and B09 are linear in their predictors: the fit finds the rule */
    CHECK_NEAR(x[0][0], 0.01, 2e-3);
    CHECK_NEAR(x[0][1], 0.5, 2e-3);
    CHECK_NEAR(x[2][1], 0.95, 2e-3);
    CHECK_NEAR(x[2][3], -0.03, 2e-3);
    size_t count[3][NCLS] = {{0}}, bad = 0, badfill = 0, nfill = 0;
    uint8_t *used = calloc(ND * CW * CW + NA + NBP, 1);
    static const uint32_t have[3] = {0xfff, 0xfff & ~(1u << B01 | 1u << B09),
                                     0xfff & ~(1u << B01 | 1u << B8A | 1u << B09)};
    for (size_t i = 0; i < h->nlib; i++) {
        const uint16_t *s = h->spec + i * NB;
        int src = h->source[i], cls = -1;
        if (src < 0 || src > 2 || h->cls[i] >= NCLS) {
            bad++;
            continue;
        }
        int at = find_input(in, src, s, have[src], &cls);
        int slot = at < 0 ? -1 : at + (src == 0 ? 0 : src == 1 ? NA : NA + NBP);
        if (at < 0 || cls != h->cls[i] || used[slot]) {
            if (bad++ < 4)
                printf("  spectrum %zu of source %d: input pixel %d, class %d (stored %d)\n", i, src, at, cls,
                       h->cls[i]);
            continue;
        }
        used[slot] = 1;
        count[src][cls]++;
        for (int r = 0; r < 3; r++)
            if (!((have[src] >> tg[r]) & 1)) {
                nfill++;
                badfill += !fill_ok(s, tg[r], pr[r], x[r]);
            }
    }
    free(used);
    /* expected counts: A by the rules (pixel 0 is nodata), at most 150 per class;
     * B by its SCL (SCL 4 over water spectra: land; SCL 0: none); C by its SCL, at most 30 */
    size_t want[3][NCLS] = {{150, 80, 40, 40, 20, 20}, {60, 20, 5, 10, 0, 0}, {0}};
    for (int d = 0; d < ND; d++)
        for (int b = 0; b < CW * CW / 4; b++)
            if (scl_class(in->c_scl[d][b]) >= 0)
                want[2][scl_class(in->c_scl[d][b])] += 4;
    size_t cmis = 0;
    for (int c = 0; c < NCLS; c++) {
        want[2][c] = want[2][c] < 30 ? want[2][c] : 30;
        for (int s = 0; s < 3; s++)
            cmis += count[s][c] != want[s][c];
    }
    printf("library: %zu spectra (A %zu, B %zu, C %zu land), %zu not from their source's input or class, %zu "
           "count mismatches, %zu of %zu filled bands off the rule\n",
           h->nlib, count[0][LAND], count[1][LAND], count[2][LAND], bad, cmis, badfill, nfill);
    CHECK(bad == 0 && cmis == 0 && badfill == 0);
    CHECK(nfill == 95 * 2 + (h->nlib - 350 - 95) * 3);
    /* the synthetic classes of A are what the rules say */
    for (int i = 1; i < NA; i++) {
        double r[NB];
        for (int k = 0; k < NB; k++)
            r[k] = in->a[i][k] * 1e-4;
        CHECK(rule_class(r) == in->a_cls[i]);
    }
}

/* ------------------------------------------------------------ simulated checks */

/* The pixel context from its stored features (round(10000 * feature), each
 * "value + 1", the water vapour halved). */
static void px_decode(const uint16_t *k, cc_atmos_pixel *px)
{
    double v[NC];
    for (int q = 0; q < NC; q++)
        v[q] = k[q] / 10000.0 - 1.0;
    *px = (cc_atmos_pixel){.mu_s = (float)v[0], .mu_v = (float)v[1], .cos_raa = (float)v[2], .aot550 = (float)v[3],
                           .wv = (float)(2.0 * v[4]), .pressure_hpa = (float)(v[5] * 1013.25), .ozone = (float)v[6]};
}

typedef struct {
    size_t nvalid, bad_ref, bad_smac, bad_range, bad_wv, bad_zero, bad_patch;
    int maxe_ref, maxe_smac, maxe_smac9;
    double pmin, pmax, wmin, wmax; /* per-pixel p_rel and water vapour of the patch */
    size_t tag[3];                 /* pixels per source (the B05 tag of the l2a) */
    size_t not_class;              /* pixels whose l2a breaks the rule of `want_class` */
} sim_stats;

static int tag_of(uint16_t b05)
{
    double r = refl(b05);
    for (int s = 0; s < 3; s++)
        if (fabs(r - tag[s]) < 0.08) /* the tags are 0.2 apart; the retrieved WV may miss B05's by ~0.03 */
            return s;
    return -1;
}

/* One pixel: the inversion by the reference's code path and by plain SMAC. */
static void check_inversion(const uint16_t *l1, const uint16_t *l2, const cc_atmos_pixel *px, sim_stats *st)
{
    double toa[NB], boa[NB];
    for (int k = 0; k < NB; k++)
        toa[k] = refl(l1[k]);
    cc_reference_smac_pixel_sc(CC_SC_S2A, px, toa, boa);
    const double d = 180.0 / M_PI;
    cc_smac_atmos a = {.tetas = acos(px->mu_s) * d, .phis = acos(px->cos_raa) * d, .tetav = acos(px->mu_v) * d,
                       .phiv = 0, .pressure_hpa = px->pressure_hpa, .aot550 = px->aot550, .uo3 = px->ozone,
                       .uh2o = px->wv};
    int e1 = 0, e2 = 0;
    for (int k = 0; k < NB; k++) {
        int e = abs((int)cc_refl_encode(boa[k], 1000, CC_REFL_QUANT) - (int)l2[k]);
        e1 = e > e1 ? e : e1;
        cc_smac_terms t;
        cc_smac_terms_compute(cc_smac_coefs_get(CC_SC_S2A, cc_l2a_bands[k]), &a, &t);
        e = abs((int)cc_refl_encode(cc_smac_inverse(&t, toa[k]), 1000, CC_REFL_QUANT) - (int)l2[k]);
        if (k == B09)
            st->maxe_smac9 = e > st->maxe_smac9 ? e : st->maxe_smac9;
        else
            e2 = e > e2 ? e : e2;
    }
    st->bad_ref += e1 > 1;
    st->bad_smac += e2 > 1;
    st->maxe_ref = e1 > st->maxe_ref ? e1 : st->maxe_ref;
    st->maxe_smac = e2 > st->maxe_smac ? e2 : st->maxe_smac;
}

/* The documented ranges of the full domain, per pixel (the context is
 * quantised to 1e-4: 1.5e-4 slack), water vapour in the retrieval's clamp. */
static int in_domain(const cc_atmos_pixel *px)
{
    const double e = 1.5e-4, d = M_PI / 180.0;
    double p = px->pressure_hpa / 1013.25, pmin = cc_smac_pressure_from_elevation(4000.0) / 1013.25;
    return px->mu_s >= cos(75 * d) - e && px->mu_s <= cos(15 * d) + e && px->mu_v >= cos(12 * d) - e &&
           px->mu_v <= 1 + e && px->cos_raa >= -1 - e && px->cos_raa <= 1 + e && px->aot550 >= 0.01 - e &&
           px->aot550 <= 1 + e && px->ozone >= 0.25 - e && px->ozone <= 0.45 + e && p >= pmin - e && p <= 1 + e &&
           px->wv >= CC_ATMOS_WV_MIN - 2 * e && px->wv <= CC_ATMOS_WV_MAX + 2 * e;
}

/* The water vapour is the reference's: patch p's stored l1c written as an
 * L1C stack (10 m) with the patch's angles, mean pressure (as an elevation),
 * AOT and ozone, and the reference processor's context built on it
 * (cc_reference_context_build: B09/B8A retrieval on its 60 m grid, sampled
 * bilinearly, quantised): every valid pixel's stored WV feature within 1 key
 * (the simulation box-averages the decoded TOA, the context the DN), the
 * patch context's WV its median. Returns the mismatches. */
static size_t check_wv(const dsfile *h, size_t p, const char *dir)
{
    const size_t PP = (size_t)P * P;
    const float *c = h->ctx + p * NC;
    uint16_t *planes = malloc(PP * NB * sizeof *planes);
    for (int k = 0; k < NB; k++)
        for (size_t q = 0; q < PP; q++)
            planes[(size_t)k * PP + q] = h->l1c[(p * PP + q) * NB + k];
    char path[4200];
    snprintf(path, sizeof path, "%s/S2A_PATCH%zu_L1C.tif", dir, p);
    write_tif(path, P, P, NB, GDT_UInt16, planes);
    free(planes);
    const double d = 180.0 / M_PI;
    cc_scene_options o;
    cc_scene_options_init(&o);
    o.bands = "B01,B02,B03,B04,B05,B06,B07,B08,B8A,B09,B11,B12";
    o.spacecraft = "S2A";
    o.date = "2024-06-15";
    o.sun_zenith = acos(c[0]) * d;
    o.sun_azimuth = 210.0;
    o.view_zenith = acos(c[1]) * d;
    o.view_azimuth = 210.0 - acos(c[2]) * d; /* only cos(sun - view azimuth) matters: within [0, 360] */
    o.dn_offset = -1000;
    cc_reference_options ro;
    cc_reference_options_init(&ro);
    ro.aot550 = c[3];
    ro.ozone = c[6];
    ro.elevation_m = 288.15 / 0.0065 * (1.0 - pow(c[5], 1.0 / 5.31));
    cc_scene *s = NULL;
    cc_grid g;
    cc_reference_context *ctx = NULL;
    cc_atmos_pixel *px = malloc(PP * sizeof *px);
    size_t bad = PP;
    CHECK_OK(cc_scene_open(path, &o, &s));
    if (s)
        CHECK_OK(cc_grid_for_scene(s, 0, &g));
    if (s && g.width == P && g.height == P)
        CHECK_OK(cc_reference_context_build(s, &ro, &g, &ctx));
    if (ctx) {
        cc_reference_context_fill(ctx, 0, 0, P, P, px);
        CHECK_NEAR(c[4], cc_reference_context_atmos(ctx)->water_vapour, 1e-3);
        bad = 0;
        for (size_t q = 0; q < PP; q++) {
            if (!h->l1c[(p * PP + q) * NB])
                continue;
            long want = lround((0.5 * px[q].wv + 1.0) * 10000.0);
            long got = h->cpx[(p * PP + q) * NC + 4];
            if (labs(got - want) > 1 && bad++ < 3)
                printf("  patch %zu pixel %zu: WV key %ld, the reference's context %ld\n", p, q, got, want);
        }
    }
    cc_reference_context_free(ctx);
    cc_scene_free(s);
    free(px);
    return bad;
}

/* Every pixel of patch p. want_class >= 0: the l2a must obey that class's rule. */
static void check_patch(const dsfile *h, size_t p, int want_class, const char *dir, sim_stats *st)
{
    const size_t PP = (size_t)P * P;
    const float *c = h->ctx + p * NC;
    st->pmin = st->wmin = INFINITY;
    st->pmax = st->wmax = -INFINITY;
    for (size_t q = 0; q < PP; q++) {
        const uint16_t *l1 = h->l1c + (p * PP + q) * NB, *l2 = h->l2a + (p * PP + q) * NB;
        const uint16_t *k = h->cpx + (p * PP + q) * NC;
        if (!l1[0]) {
            int nz = 0;
            for (int j = 0; j < NB; j++)
                nz |= l1[j] | l2[j] | (j < NC ? k[j] : 0);
            st->bad_zero += nz != 0;
            continue;
        }
        st->nvalid++;
        cc_atmos_pixel px;
        px_decode(k, &px);
        check_inversion(l1, l2, &px, st);
        st->bad_range += !in_domain(&px);
        /* geometry, aerosol and ozone are the patch's */
        static const int same[5] = {0, 1, 2, 3, 6};
        for (int j = 0; j < 5; j++)
            st->bad_patch += labs((long)k[same[j]] - lround((c[same[j]] + 1.0) * 10000.0)) > 1;
        double pr = px.pressure_hpa / 1013.25;
        st->pmin = fmin(st->pmin, pr);
        st->pmax = fmax(st->pmax, pr);
        st->wmin = fmin(st->wmin, px.wv);
        st->wmax = fmax(st->wmax, px.wv);
        int t = tag_of(l2[B05]);
        if (t >= 0)
            st->tag[t]++;

        if (want_class >= 0) {
            double r[NB];
            for (int j = 0; j < NB; j++)
                r[j] = refl(l2[j]);
            st->not_class += rule_class(r) != want_class;
        }
    }
    /* the patch context: pressure the mean of the pixels', water vapour their median */
    st->bad_patch += !(c[5] >= st->pmin - 1e-4 && c[5] <= st->pmax + 1e-4);
    st->bad_patch += !(c[4] >= st->wmin - 2e-4 && c[4] <= st->wmax + 2e-4);
    st->bad_wv += check_wv(h, p, dir);
}

/* ------------------------------------------------------------ the run */

static const char *const sim_sources =
    "  - scene: sim_full\n    kind: simulated\n    split: train\n    patches: 2\n"
    "  - scene: sim_exclude_A\n    kind: simulated\n    split: val\n    patches: 1\n    exclude: libA\n"
    "  - scene: sim_low_sun\n    kind: simulated\n    split: val\n    patches: 1\n    domain: low_sun\n"
    "  - scene: sim_high_aerosol\n    kind: simulated\n    split: val\n    patches: 1\n    domain: high_aerosol\n"
    "  - scene: sim_dry\n    kind: simulated\n    split: val\n    patches: 1\n    domain: dry\n"
    "  - scene: sim_humid\n    kind: simulated\n    split: val\n    patches: 1\n    domain: humid\n"
    "  - scene: sim_mountains\n    kind: simulated\n    split: val\n    patches: 1\n    domain: mountains\n"
    "  - scene: sim_water\n    kind: simulated\n    split: val\n    patches: 1\n    domain: water\n"
    "  - scene: sim_snow\n    kind: simulated\n    split: val\n    patches: 1\n    domain: snow\n";
enum { S_FULL = 3, S_EXCL, S_LOW_SUN, S_AEROSOL, S_DRY, S_HUMID, S_MOUNTAINS, S_WATER, S_SNOW };

static int build(const char *cfg, const char *out, cc_dataset_summary *sum)
{
    cc_dataset_config *c = NULL;
    CHECK_OK(cc_dataset_config_load(cfg, &c));
    if (!c)
        return -1;
    cc_status st = cc_dataset_build(c, out, sum);
    CHECK_OK(st);
    cc_dataset_config_free(c);
    return st == CC_OK ? 0 : -1;
}

/* The stress set (or full domain, exclude) of scene s restricts its parameter. */
static void check_domain(int s, const float *c, const sim_stats *st)
{
    const double d = M_PI / 180.0;
    printf("  scene %d: mu_s %.4f aot %.3f wv %.3f (pixels %.3f..%.3f) p_rel %.4f..%.4f; sources A/B/C %zu/%zu/%zu "
           "of %zu valid\n",
           s, c[0], c[3], c[4], st->wmin, st->wmax, st->pmin, st->pmax, st->tag[0], st->tag[1], st->tag[2],
           st->nvalid);
    CHECK(st->tag[0] + st->tag[1] + st->tag[2] == st->nvalid); /* every pixel is a library spectrum */
    switch (s) {
    case S_FULL: CHECK(st->tag[0] > 0 && st->tag[1] > 0 && st->tag[2] > 0); break;
    case S_EXCL: CHECK(st->tag[0] == 0 && st->tag[1] > 0 && st->tag[2] > 0); break;
    case S_LOW_SUN: CHECK(c[0] <= cos(68 * d) + 1e-6 && c[0] >= cos(75 * d) - 1e-6); break;
    case S_AEROSOL: CHECK(c[3] >= 0.6 - 1e-6 && c[3] <= 1.0 + 1e-6); break;
    /* dry: true field 0.2 * e^-0.6 .. 0.4 * e^0.6 = 0.73 g cm-2 (clamped to 0.2); humid: 4 e^-0.6 = 2.2 .. 5;
     * the retrieval (at an assumed AOT 0.1) stays near it */
    case S_DRY: CHECK(c[4] <= 0.9); break;
    case S_HUMID: CHECK(c[4] >= 2.0); break;
    case S_MOUNTAINS:
        CHECK(st->pmax <= cc_smac_pressure_from_elevation(2800.0 - 600.0) / 1013.25 + 1e-4);
        break;
    case S_WATER: case S_SNOW: CHECK(st->not_class == 0); break;
    default: break;
    }
}

static void check_simulated(const dsfile *h, const char *dir)
{
    sim_stats all;
    memset(&all, 0, sizeof all);
    size_t nsim = 0;
    for (size_t p = 0; p < h->n; p++) {
        int s = h->scene[p];
        CHECK(h->kind[p] == 4 && s >= S_FULL && s <= S_SNOW && h->split[p] == (s != S_FULL));
        if (h->kind[p] != 4 || s < S_FULL || s > S_SNOW)
            continue;
        sim_stats st;
        memset(&st, 0, sizeof st);
        check_patch(h, p, s == S_WATER ? WATER : s == S_SNOW ? SNOW : -1, dir, &st);
        check_domain(s, h->ctx + p * NC, &st);
        CHECK(st.nvalid >= (size_t)P * P / 2);
        all.nvalid += st.nvalid;
        all.bad_ref += st.bad_ref;
        all.bad_smac += st.bad_smac;
        all.bad_range += st.bad_range;
        all.bad_wv += st.bad_wv;
        all.bad_zero += st.bad_zero;
        all.bad_patch += st.bad_patch;
        all.maxe_ref = st.maxe_ref > all.maxe_ref ? st.maxe_ref : all.maxe_ref;
        all.maxe_smac = st.maxe_smac > all.maxe_smac ? st.maxe_smac : all.maxe_smac;
        all.maxe_smac9 = st.maxe_smac9 > all.maxe_smac9 ? st.maxe_smac9 : all.maxe_smac9;
        nsim++;
    }
    printf("simulated: %zu patches, %zu valid pixels: l2a vs cc_reference_smac_pixel_sc(l1c, context_px) max %d DN "
           "(%zu pixels > 1 DN); vs plain SMAC max %d DN (B09 %d DN, %zu pixels > 1 DN outside B09); "
           "%zu out of the domain, %zu WV not the reference context's, %zu invalid pixels not 0, %zu off the patch context\n",
           nsim, all.nvalid, all.maxe_ref, all.bad_ref, all.maxe_smac, all.maxe_smac9, all.bad_smac, all.bad_range,
           all.bad_wv, all.bad_zero, all.bad_patch);
    CHECK(nsim == 10);
    CHECK(all.bad_ref == 0 && all.bad_smac == 0 && all.bad_range == 0 && all.bad_wv == 0 && all.bad_zero == 0 &&
          all.bad_patch == 0);
    /* B09: the plain SMAC call computes the H2O transmittance inside tg, the
     * reference multiplies cached dry terms by it; the same value to ~1e-15,
     * and a TOA at B09 ~0.01-0.1 divided by tg T T down to ~0.1 keeps that far
     * below 0.5 DN, so B09 gets the same 1 DN bound */
    CHECK(all.maxe_smac9 <= 1);
}

static int same_bytes(const void *a, const void *b, size_t n) { return a && b && memcmp(a, b, n) == 0; }

int main(void)
{
    GDALAllRegister();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    const char *dir = cc_test_tmpdir("dataset_library");
    inputs *in = calloc(1, sizeof *in);
    make_stacks(dir, in);
    make_netcdf(dir, in);
    char cfg[4200], out[4200], out2[4200];
    snprintf(cfg, sizeof cfg, "%s/lib.yaml", dir);
    snprintf(out, sizeof out, "%s/lib.h5", dir);
    snprintf(out2, sizeof out2, "%s/lib-again.h5", dir);
    write_config(cfg, sim_sources);
    cc_dataset_summary sum, sum2;
    if (build(cfg, out, &sum) || build(cfg, out2, &sum2)) {
        free(in);
        TEST_RETURN();
    }
    CHECK(sum.n_patches == 10 && sum.n_kind[4] == 10 && sum.n_train == 2 && sum.n_sources_used == 12);
    dsfile h, h2;
    CHECK(load(out, &h) == 0 && load(out2, &h2) == 0);
    if (h.spec && h.fill_rules)
        check_library(&h, in);
    if (h.l1c && h.cpx)
        check_simulated(&h, dir);
    /* deterministic: a second build is the same file content */
    const size_t img = h.n * P * P;
    CHECK(h.n == h2.n && h.nlib == h2.nlib);
    CHECK(same_bytes(h.l1c, h2.l1c, img * NB * 2) && same_bytes(h.l2a, h2.l2a, img * NB * 2) &&
          same_bytes(h.cpx, h2.cpx, img * NC * 2) && same_bytes(h.ctx, h2.ctx, h.n * NC * 4) &&
          same_bytes(h.spec, h2.spec, h.nlib * NB * 2) && same_bytes(h.source, h2.source, h.nlib * 4));
    unload(&h);
    unload(&h2);
    free(in);
    TEST_RETURN();
}
