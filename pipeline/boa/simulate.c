#define _GNU_SOURCE /* strerror */
#include "pipeline/boa/simulate.h"

#include <errno.h>
#include <unistd.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cpl_conv.h>
#include <cpl_string.h>
#include <gdal.h>
#include <ogr_srs_api.h>

#include "core/alloc.h"
#include "core/fs.h"
#include "core/reflectance.h"
#include "io/s2/scene.h"
#include "pipeline/boa/dataset.h"
#include "kernels/smac/smac.h"

void cc_simulate_options_init(cc_simulate_options *o)
{
    o->size = 256;
    o->seed = 42;
    o->aot550 = 0.15;
    o->uh2o = 1.6;
    o->sun_zenith = 35.0;
    o->sun_azimuth = 150.0;
    o->view_zenith = 5.0;
    o->view_azimuth = 105.0;
}

/* Typical surface reflectance spectra (B01..B12 incl. B10), shapes after
 * common library spectra of the classes; values are illustrative. The forest
 * obeys the dark-dense-vegetation rule (rho_red = 0.5 rho_2.2um) so that the
 * DDV aerosol retrieval can be checked against the known AOT. */
enum { SIM_CROP, SIM_FOREST, SIM_SOIL, SIM_WATER, SIM_URBAN, SIM_NCLASS };
static const double sim_spectra[SIM_NCLASS][CC_NBANDS] = {
    /* B01   B02   B03   B04   B05   B06   B07   B08   B8A   B09   B10   B11   B12 */
    {0.030, 0.035, 0.075, 0.045, 0.120, 0.300, 0.380, 0.420, 0.430, 0.420, 0.060, 0.220, 0.110},
    {0.020, 0.022, 0.045, 0.020, 0.070, 0.200, 0.250, 0.280, 0.290, 0.280, 0.040, 0.110, 0.040},
    {0.080, 0.100, 0.140, 0.180, 0.200, 0.220, 0.240, 0.250, 0.260, 0.260, 0.150, 0.320, 0.280},
    {0.050, 0.045, 0.040, 0.025, 0.018, 0.012, 0.010, 0.008, 0.007, 0.006, 0.003, 0.004, 0.003},
    {0.110, 0.120, 0.130, 0.140, 0.150, 0.160, 0.170, 0.180, 0.180, 0.180, 0.120, 0.200, 0.190},
};

/* Deterministic hash noise in [-1, 1]. */
static double hnoise(unsigned seed, int x, int y)
{
    unsigned h = seed * 0x9E3779B1u ^ (unsigned)x * 0x85EBCA77u ^ (unsigned)y * 0xC2B2AE3Du;
    h ^= h >> 15;
    h *= 0x2C1B3C6Du;
    h ^= h >> 12;
    return (h & 0xFFFFFF) / (double)0x7FFFFF - 1.0;
}

static int sim_class(const cc_simulate_options *o, int x, int y)
{
    int n = o->size;
    double cx = x - 0.7 * n, cy = y - 0.3 * n;
    if (cx * cx + cy * cy < (0.12 * n) * (0.12 * n))
        return SIM_WATER;
    if (x < n / 5 && y > n / 2)
        return SIM_URBAN;
    if (y < n / 4)
        return SIM_FOREST;
    int field = ((x / 32) * 7 + (y / 32) * 13 + (int)o->seed) % 5;
    return field < 3 ? SIM_CROP : field == 3 ? SIM_SOIL : SIM_FOREST;
}

/* A band-planar UInt16 GeoTIFF stack (DEFLATE, nodata 0, band descriptions
 * from cc_band_names[bands[i]]), with one dataset metadata item key=what. */
static cc_status write_stack(const char *path, int w, int h, const double gt[6], const char *wkt, int nb,
                             const int *bands, const uint16_t *data, const char *key, const char *what)
{
    cc_status st = CC_OK;
    GDALDriverH drv = GDALGetDriverByName("GTiff");
    char **co = CSLSetNameValue(NULL, "COMPRESS", "DEFLATE");
    GDALDatasetH ds = drv ? GDALCreate(drv, path, w, h, nb, GDT_UInt16, co) : NULL;
    CSLDestroy(co);
    if (!ds)
        return cc_error_set(CC_ERR_IO, "%s: cannot create GeoTIFF", path);
    GDALSetGeoTransform(ds, (double *)gt);
    GDALSetProjection(ds, wkt);
    GDALSetMetadataItem(ds, key, what, NULL);
    for (int i = 0; i < nb && st == CC_OK; i++) {
        GDALRasterBandH band = GDALGetRasterBand(ds, i + 1);
        GDALSetDescription(band, cc_band_names[bands[i]]);
        GDALSetRasterNoDataValue(band, 0);
        if (GDALRasterIO(band, GF_Write, 0, 0, w, h, (void *)(data + (size_t)i * w * h), w, h, GDT_UInt16, 0,
                         0) != CE_None)
            st = cc_error_set(CC_ERR_IO, "%s: write failed", path);
    }
    GDALClose(ds);
    return st;
}

static cc_status write_tif(const char *path, int n, const uint16_t *data, const char *what)
{
    static const double gt[6] = {580000.0, 10.0, 0.0, 5100000.0, 0.0, -10.0};
    int bands[CC_NBANDS];
    for (int b = 0; b < CC_NBANDS; b++)
        bands[b] = b;
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
    OSRImportFromEPSG(srs, 32632);
    char *wkt = NULL;
    OSRExportToWkt(srs, &wkt);
    cc_status st = write_stack(path, n, n, gt, wkt, CC_NBANDS, bands, data, "CLEARCUBE_SIMULATED", what);
    CPLFree(wkt);
    OSRDestroySpatialReference(srs);
    return st;
}

/* What the stack of cc_simulate_scene is: its .options sidecar and cc_simulate_scene_options. */
#define SIM_BANDS "B01,B02,B03,B04,B05,B06,B07,B08,B8A,B09,B10,B11,B12"
#define SIM_SPACECRAFT "S2A"
#define SIM_DATE "2024-06-15"
#define SIM_DN_OFFSET (-1000)

void cc_simulate_scene_options(const cc_simulate_options *so, cc_scene_options *o)
{
    cc_scene_options_init(o);
    o->bands = SIM_BANDS;
    o->spacecraft = SIM_SPACECRAFT;
    o->date = SIM_DATE;
    o->sun_zenith = so->sun_zenith;
    o->sun_azimuth = so->sun_azimuth;
    o->view_zenith = so->view_zenith;
    o->view_azimuth = so->view_azimuth;
    o->dn_offset = SIM_DN_OFFSET;
}

cc_status cc_simulate_scene(const char *dir, const cc_simulate_options *o)
{
    cc_status st = CC_OK;
    int n = o->size;
    uint16_t *toa = NULL, *truth = NULL;
    char path[4096];
    if (n < 16 || n > 4096)
        return cc_error_set(CC_ERR_ARG, "--size %d: outside [16, 4096]", n);
    if (mkdir(dir, 0755) != 0) {
        struct stat sb;
        if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
            return cc_error_set(CC_ERR_IO, "%s: cannot create directory", dir);
    }
    toa = cc_malloc3((size_t)n * n, CC_NBANDS, sizeof(uint16_t));
    truth = cc_malloc3((size_t)n * n, CC_NBANDS, sizeof(uint16_t));
    if (!toa || !truth) {
        st = CC_ERR_NOMEM;
        goto out;
    }
    for (int b = 0; b < CC_NBANDS; b++) {
        const cc_smac_coefs *c = cc_smac_coefs_get(CC_SC_S2A, b);
        cc_smac_atmos a = {.tetas = o->sun_zenith, .phis = o->sun_azimuth, .tetav = o->view_zenith,
                           .phiv = o->view_azimuth, .pressure_hpa = 1013.25, .aot550 = o->aot550,
                           .uo3 = 0.331, .uh2o = o->uh2o};
        cc_smac_terms t;
        cc_smac_terms_compute(c, &a, &t);
        for (int y = 0; y < n; y++)
            for (int x = 0; x < n; x++) {
                size_t i = (size_t)b * n * n + (size_t)y * n + x;
                int cls = sim_class(o, x, y);
                /* within-field texture, +-8 %, and a gentle gradient */
                double tex = 1.0 + 0.08 * hnoise(o->seed, x, y) + 0.05 * sin(x * 0.05) * cos(y * 0.04);
                double rho = sim_spectra[cls][b] * tex;
                /* a 6-pixel nodata border on the left, like a swath edge */
                if (x < 6) {
                    toa[i] = truth[i] = 0;
                    continue;
                }
                truth[i] = cc_refl_encode(rho, CC_REFL_DN_OFFSET_PB04, CC_REFL_QUANT);
                double r_toa = b == CC_B10 ? rho * 0.1 : cc_smac_forward(&t, rho);
                toa[i] = cc_refl_encode(r_toa, CC_REFL_DN_OFFSET_PB04, CC_REFL_QUANT);
            }
    }
    snprintf(path, sizeof path, "%s/S2A_SIMULATED_L1C.tif", dir);
    if ((st = write_tif(path, n, toa, "SIMULATED L1C TOA (SMAC forward model)")) != CC_OK)
        goto out;
    snprintf(path, sizeof path, "%s/S2A_SIMULATED_TRUTH_BOA.tif", dir);
    if ((st = write_tif(path, n, truth, "SIMULATED true surface reflectance (L2A DN)")) != CC_OK)
        goto out;
    snprintf(path, sizeof path, "%s/S2A_SIMULATED_L1C.options", dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot write", path);
        goto out;
    }
    fprintf(f,
            "--bands " SIM_BANDS " --spacecraft " SIM_SPACECRAFT " --date " SIM_DATE " "
            "--sun-zenith %g --sun-azimuth %g --view-zenith %g --view-azimuth %g --dn-offset %d\n",
            o->sun_zenith, o->sun_azimuth, o->view_zenith, o->view_azimuth, SIM_DN_OFFSET);
    fclose(f);
    /* the same as a scene sidecar (docs/formats/catalogue.md): the stack's metadata for
     * catalogues, `clearcube reference S2A_SIMULATED_L1C.json` */
    snprintf(path, sizeof path, "%s/S2A_SIMULATED_L1C.json", dir);
    if (!(f = fopen(path, "w"))) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot write", path);
        goto out;
    }
    fprintf(f,
            "{\"type\": \"clearcube-scene\", \"href\": \"S2A_SIMULATED_L1C.tif\", \"datetime\": \"" SIM_DATE
            "T10:30:00Z\",\n \"spacecraft\": \"" SIM_SPACECRAFT "\", \"level\": \"L1C\", \"processing_baseline\": "
            "\"04.00\", \"dn_offset\": %d,\n \"bands\": [\"B01\", \"B02\", \"B03\", \"B04\", \"B05\", \"B06\", "
            "\"B07\", \"B08\", \"B8A\", \"B09\", \"B10\", \"B11\", \"B12\"],\n \"sun_zenith\": %g, "
            "\"sun_azimuth\": %g, \"view_zenith\": %g, \"view_azimuth\": %g}\n",
            SIM_DN_OFFSET, o->sun_zenith, o->sun_azimuth, o->view_zenith, o->view_azimuth);
    if (fclose(f) != 0)
        st = cc_error_set(CC_ERR_IO, "%s: write failed", path);
out:
    free(toa);
    free(truth);
    return st;
}

/* ------------------------------------------------------------ --from-l2a */

#define NB CC_L2A_NBANDS
#define SIM_DEFAULT_AOT 0.15
#define SIM_DEFAULT_WV 1.6

void cc_simulate_l2a_options_init(cc_simulate_l2a_options *o)
{
    cc_scene_options_init(&o->scene);
    o->aot550 = NAN;
    o->uh2o = NAN;
    o->elevation = NAN;
}

/* "B01,B02,...,B12" (the 12 L2A bands) */
static void l2a_band_list(char *out, size_t n)
{
    out[0] = '\0';
    for (int k = 0; k < NB; k++) {
        size_t l = strlen(out);
        snprintf(out + l, n - l, "%s%s", k ? "," : "", cc_band_names[cc_l2a_bands[k]]);
    }
}

typedef struct {
    double min, max, sum;
    size_t n;
} sim_stat;

static void stat_add(sim_stat *s, double v)
{
    if (!s->n || v < s->min)
        s->min = v;
    if (!s->n || v > s->max)
        s->max = v;
    s->sum += v;
    s->n++;
}

/* How an atmospheric quantity was set, for the README. */
static void describe(char *out, size_t n, const char *what, double given, const sim_stat *st, const char *layer,
                     double dflt, const char *unit)
{
    if (!isnan(given))
        snprintf(out, n, "%s: %g%s, uniform (command line)", what, given, unit);
    else if (st)
        snprintf(out, n, "%s: per pixel from the product's %s layer (mean %.3f, range %.3f..%.3f%s over valid pixels)",
                 what, layer, st->n ? st->sum / st->n : NAN, st->min, st->max, unit);
    else
        snprintf(out, n, "%s: %g%s, uniform (default; the product has no %s layer)", what, dflt, unit, layer);
}

/* One --from-l2a simulation: the product, its geometry and atmosphere, the TOA
 * computed, for the output files and the README. */
typedef struct {
    const char *product, *scn;
    const cc_simulate_l2a_options *o;
    const cc_scene *s;
    const cc_grid *g;
    const float *aot, *wv; /* per-pixel layers used (NULL: uniform) */
    double sz, sa, vz, va, p_hpa;
    sim_stat st_aot, st_wv;
    size_t n, nvalid;
} sim_l2a;

/* The SMAC forward model on every pixel valid in all 12 bands (and in the AOT/WVP
 * layers used); the others become nodata in both stacks. *toa_out: [12][n] DN. */
static cc_status sim_l2a_forward(sim_l2a *x, cc_dataset_l2a *l2, uint16_t **toa_out)
{
    const cc_simulate_l2a_options *o = x->o;
    const cc_grid *g = &l2->grid;
    size_t n = cc_grid_npix(g);
    /* per pixel where not given and the product has the layers (cc_dataset_l2a_read reads both or none) */
    const float *aot = isnan(o->aot550) ? l2->aot : NULL, *wv = isnan(o->uh2o) ? l2->wv : NULL;
    double aot_u = !isnan(o->aot550) ? o->aot550 : SIM_DEFAULT_AOT;
    double wv_u = !isnan(o->uh2o) ? o->uh2o : l2->wv ? l2->wv_median : SIM_DEFAULT_WV;
    x->p_hpa = isnan(o->elevation) ? 1013.25 : cc_smac_pressure_from_elevation(o->elevation);
    cc_dataset_region_angles(x->s, g, 0, 0, g->width, g->height, &x->sz, &x->sa, &x->vz, &x->va);
    if (isnan(x->sz) || isnan(x->sa))
        return cc_error_set(CC_ERR_MISSING, "%s: no sun angles (give --sun-zenith and --sun-azimuth)", x->product);
    cc_dataset_forward f;
    if (cc_dataset_forward_init(&f, x->s->spacecraft, x->sz, x->sa, x->vz, x->va, x->p_hpa, aot_u, wv_u) != CC_OK)
        return cc_error_set(CC_ERR_ARG, "%s: spacecraft unknown (give --spacecraft S2A|S2B|S2C)", x->product);
    uint16_t *toa = cc_malloc3(n, NB, sizeof(uint16_t));
    if (!toa)
        return CC_ERR_NOMEM;
    size_t nvalid = 0;
#pragma omp parallel for schedule(static) reduction(+ : nvalid)
    for (size_t q = 0; q < n; q++) {
        int ok = 1;
        for (int k = 0; k < NB && ok; k++)
            ok = l2->boa[k][q] != 0;
        if (ok && ((aot && isnan(aot[q])) || (wv && isnan(wv[q]))))
            ok = 0;
        if (!ok) {
            for (int k = 0; k < NB; k++)
                toa[(size_t)k * n + q] = l2->boa[k][q] = 0;
            continue;
        }
        cc_dataset_forward_pixel(&f, aot ? aot[q] : NAN, wv ? wv[q] : NAN, l2->data + q, n, toa + q, n);
        nvalid++;
    }
    for (size_t q = 0; q < n; q++) {
        if (!l2->boa[0][q])
            continue;
        if (aot)
            stat_add(&x->st_aot, aot[q]);
        if (wv)
            stat_add(&x->st_wv, wv[q]);
    }
    if (!nvalid) {
        free(toa);
        return cc_error_set(CC_ERR_NODATA, "%s: no pixel valid in all 12 L2A bands%s", x->product,
                            aot || wv ? " with AOT and WVP" : "");
    }
    x->g = g;
    x->n = n;
    x->nvalid = nvalid;
    x->aot = aot;
    x->wv = wv;
    *toa_out = toa;
    return CC_OK;
}

/* The output folder: created (*created = 1), or an existing writable folder. */
static cc_status sim_l2a_dir(const char *dir, int *created)
{
    if (mkdir(dir, 0755) == 0) {
        *created = 1;
        return CC_OK;
    }
    int e = errno;
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return cc_error_set(CC_ERR_IO, "%s: cannot create directory (%s)", dir, strerror(e));
    if (access(dir, W_OK) != 0)
        return cc_error_set(CC_ERR_IO, "%s: directory not writable (%s)", dir, strerror(errno));
    return CC_OK;
}

/* The README of the simulated pair (malloc'd; NULL: out of memory). */
static char *sim_l2a_readme(const sim_l2a *x, const char *blist, const char *date, const char *opts,
                            const char *l1c_base, const char *boa_base)
{
    const cc_simulate_l2a_options *o = x->o;
    const cc_grid *g = x->g;
    char aot_d[256], wv_d[256];
    describe(aot_d, sizeof aot_d, "AOT at 550 nm", o->aot550, x->aot ? &x->st_aot : NULL, "AOT", SIM_DEFAULT_AOT, "");
    describe(wv_d, sizeof wv_d, "Water vapour", o->uh2o, x->wv ? &x->st_wv : NULL, "WVP", SIM_DEFAULT_WV, " g cm-2");
    size_t rl = 16384;
    char *readme = malloc(rl);
    if (!readme)
        return NULL;
    snprintf(readme, rl,
             "SIMULATED Sentinel-2 Level-1C (clearcube simulate --from-l2a)\n"
             "=============================================================\n\n"
             "%s is NOT a real L1C product. It is SIMULATED: the surface reflectance of the real\n"
             "Sen2Cor Level-2A product\n  %s\n"
             "(%s, %s, %s)\nwas taken through the SMAC forward model (clearcube's SMAC, the same code path as\n"
             "`clearcube dataset` kind sen2cor-l2a) to top-of-atmosphere reflectance.\n"
             "%s is the product's own Sen2Cor BOA (real), on the same grid.\n\n"
             "Grid: %d x %d pixels, %g m (the product's finest band; coarser bands resampled with\n"
             "clearcube's GDAL resampling, as the dataset builder does), EPSG:%d.\n"
             "Bands (both stacks, in this order): %s (B10 is not simulated).\n"
             "DN convention (both stacks): DN = 10000 * reflectance + 1000 (offset -1000, as baseline >= 04.00);\n"
             "DN 0 = nodata. A pixel is nodata in both stacks where any band is nodata in the L2A%s.\n"
             "Valid pixels: %zu of %zu.\n\n"
             "Geometry (uniform over the scene; scene mean of the product's angles or the options given):\n"
             "  sun zenith %.2f, sun azimuth %.2f, view zenith %.2f, view azimuth %.2f degrees\n"
             "Atmosphere:\n  %s\n  %s\n"
             "  Pressure: %.2f hPa (%s)\n  Ozone: 0.331 cm-atm\n"
             "Spacecraft: %s (SMAC coefficients of its spectral responses); date %s.\n\n"
             "Not simulated: adjacency effects, surface BRDF/topography, cirrus (B10), clouds and their\n"
             "shadows beyond what the L2A shows, L1C noise and radiometric artefacts, and the real L1C's\n"
             "per-detector view angles (the geometry is one value per scene).\n\n"
             "Stack options (also in the .options sidecars):\n  %s\n"
             "Retrieve with the reference processor at the simulation atmosphere, and compare:\n"
             "  clearcube reference %s $(cat %s_SIMULATED_L1C.options) --aot A --water-vapour W -o ref.nc\n"
             "  clearcube validate --prediction ref.nc --reference %s --reference-bands %s \\\n"
             "      --reference-dn-offset -1000 --simulated\n",
             l1c_base, x->product, x->scn, date, x->s->product_id, boa_base, g->width, g->height, g->gt[1],
             x->s->epsg, blist, x->aot || x->wv ? ", or AOT/WVP is undefined" : "", x->nvalid, x->n, x->sz, x->sa,
             x->vz, x->va, aot_d, wv_d, x->p_hpa, isnan(o->elevation) ? "sea level" : "from --elevation", x->scn,
             date, opts, l1c_base, x->scn, boa_base, blist);
    return readme;
}

/* The two stacks, their .options sidecars and the README: temporaries in dir,
 * renamed into place only when all are written. */
static cc_status sim_l2a_write(const sim_l2a *x, const char *dir, const cc_dataset_l2a *l2, const uint16_t *toa,
                               cc_simulate_l2a_result *r)
{
    enum { F_L1C, F_L1C_OPT, F_BOA, F_BOA_OPT, F_README, NF };
    char final[NF][4096], tmp[NF][4200];
    const char *fl[NF], *tl[NF];
    cc_status st;
    static const char *const suffix[NF] = {"SIMULATED_L1C.tif", "SIMULATED_L1C.options", "SEN2COR_BOA.tif",
                                           "SEN2COR_BOA.options", NULL};
    for (int i = 0; i < NF; i++) {
        if (suffix[i])
            snprintf(final[i], sizeof final[i], "%s/%s_%s", dir, x->scn, suffix[i]);
        else
            snprintf(final[i], sizeof final[i], "%s/README-SIMULATED.txt", dir);
        if ((st = cc_fs_temp_name(final[i], NULL, tmp[i], sizeof tmp[i])) != CC_OK)
            return st;
        fl[i] = final[i];
        tl[i] = tmp[i];
    }
    const cc_grid *g = x->g;
    int bands[NB];
    for (int k = 0; k < NB; k++)
        bands[k] = cc_l2a_bands[k];
    char blist[64], opts[512], optline[520], date[16];
    l2a_band_list(blist, sizeof blist);
    snprintf(date, sizeof date, "%04d-%02d-%02d", x->s->year, x->s->month, x->s->day);
    snprintf(opts, sizeof opts,
             "--bands %s --spacecraft %s --date %s --sun-zenith %.10g --sun-azimuth %.10g --view-zenith %.10g "
             "--view-azimuth %.10g --dn-offset -1000", blist, x->scn, date, x->sz, x->sa, x->vz, x->va);
    snprintf(optline, sizeof optline, "%s\n", opts);
    char what[1024];
    snprintf(what, sizeof what, "SIMULATED L1C TOA (SMAC forward model applied to the Sen2Cor L2A %s)", x->product);
    char *readme = NULL;
    int ntmp = 1;
    if ((st = write_stack(tmp[F_L1C], g->width, g->height, g->gt, g->wkt, NB, bands, toa, "CLEARCUBE_SIMULATED",
                          what)) != CC_OK)
        goto out;
    ntmp = 2;
    if ((st = cc_fs_write_file(tmp[F_L1C_OPT], optline, strlen(optline))) != CC_OK)
        goto out;
    snprintf(what, sizeof what, "Sen2Cor L2A BOA of %s (real, not simulated), resampled onto the finest grid",
             x->product);
    ntmp = 3;
    if ((st = write_stack(tmp[F_BOA], g->width, g->height, g->gt, g->wkt, NB, bands, l2->data, "CLEARCUBE_SOURCE",
                          what)) != CC_OK)
        goto out;
    ntmp = 4;
    if ((st = cc_fs_write_file(tmp[F_BOA_OPT], optline, strlen(optline))) != CC_OK)
        goto out;
    if (!(readme = sim_l2a_readme(x, blist, date, opts, strrchr(final[F_L1C], '/') + 1,
                                  strrchr(final[F_BOA], '/') + 1))) {
        st = CC_ERR_NOMEM;
        goto out;
    }
    ntmp = 5;
    if ((st = cc_fs_write_file(tmp[F_README], readme, strlen(readme))) != CC_OK)
        goto out;
    ntmp = 0; /* committed, or removed by the failed commit */
    if ((st = cc_fs_commit_all(NF, tl, fl)) != CC_OK)
        goto out;
    snprintf(r->l1c, sizeof r->l1c, "%s", final[F_L1C]);
    snprintf(r->boa, sizeof r->boa, "%s", final[F_BOA]);
    snprintf(r->readme, sizeof r->readme, "%s", final[F_README]);
out:
    for (int i = 0; i < ntmp; i++)
        cc_fs_abort(tmp[i]);
    free(readme);
    return st;
}

cc_status cc_simulate_from_l2a(const char *product, const char *dir, const cc_simulate_l2a_options *o,
                               cc_simulate_l2a_result *r)
{
    cc_status st;
    cc_scene *s = NULL;
    cc_dataset_l2a l2;
    memset(&l2, 0, sizeof l2);
    uint16_t *toa = NULL;
    int created_dir = 0;
    char miss[64];
    memset(r, 0, sizeof *r);

    if ((st = cc_scene_open(product, &o->scene, &s)) != CC_OK)
        goto out;
    if (s->level != CC_LEVEL_L2A) {
        st = cc_error_set(CC_ERR_ARG,
                          "%s: not recognised as Level-2A (no SCL/AOT/WVP layer, no L2A/MSIL2A/BOA token in the "
                          "name); --from-l2a needs a Sen2Cor L2A product", product);
        goto out;
    }
    if (!cc_dataset_has_l2a_bands(s, miss, sizeof miss)) {
        st = cc_error_set(CC_ERR_MISSING, "%s: lacks band(s) %s of the 12 L2A bands", product, miss);
        goto out;
    }
    sim_l2a x = {.product = product, .scn = cc_spacecraft_name(s->spacecraft), .o = o, .s = s};
    int want_layers = isnan(o->aot550) || isnan(o->uh2o);
    if ((st = cc_dataset_l2a_read(s, want_layers, &l2)) != CC_OK || (st = sim_l2a_forward(&x, &l2, &toa)) != CC_OK)
        goto out;
    /* ---- outputs: temporaries in dir, renamed at the end */
    if ((st = sim_l2a_dir(dir, &created_dir)) != CC_OK || (st = sim_l2a_write(&x, dir, &l2, toa, r)) != CC_OK)
        goto out;
    r->width = x.g->width;
    r->height = x.g->height;
    r->n_valid = x.nvalid;
    st = CC_OK;
out:
    if (st != CC_OK && created_dir)
        rmdir(dir);
    free(toa);
    cc_dataset_l2a_free(&l2);
    cc_scene_free(s);
    return st;
}
