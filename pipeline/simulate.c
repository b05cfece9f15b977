#include "pipeline/simulate.h"

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
#include "io/scene.h"
#include "pipeline/smac.h"

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

static cc_status write_tif(const char *path, int n, const uint16_t *data, const char *what)
{
    cc_status st = CC_OK;
    GDALDriverH drv = GDALGetDriverByName("GTiff");
    char **co = CSLSetNameValue(NULL, "COMPRESS", "DEFLATE");
    GDALDatasetH ds = drv ? GDALCreate(drv, path, n, n, CC_NBANDS, GDT_UInt16, co) : NULL;
    CSLDestroy(co);
    if (!ds)
        return cc_error_set(CC_ERR_IO, "%s: cannot create GeoTIFF", path);
    double gt[6] = {580000.0, 10.0, 0.0, 5100000.0, 0.0, -10.0};
    GDALSetGeoTransform(ds, gt);
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
    OSRImportFromEPSG(srs, 32632);
    char *wkt = NULL;
    OSRExportToWkt(srs, &wkt);
    GDALSetProjection(ds, wkt);
    CPLFree(wkt);
    OSRDestroySpatialReference(srs);
    GDALSetMetadataItem(ds, "CLEARCUBE_SIMULATED", what, NULL);
    for (int b = 0; b < CC_NBANDS && st == CC_OK; b++) {
        GDALRasterBandH band = GDALGetRasterBand(ds, b + 1);
        GDALSetDescription(band, cc_band_names[b]);
        GDALSetRasterNoDataValue(band, 0);
        if (GDALRasterIO(band, GF_Write, 0, 0, n, n, (void *)(data + (size_t)b * n * n), n, n, GDT_UInt16,
                         0, 0) != CE_None)
            st = cc_error_set(CC_ERR_IO, "%s: write failed", path);
    }
    GDALClose(ds);
    return st;
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
                truth[i] = (uint16_t)lround(rho * 10000.0 + 1000.0);
                double r_toa = b == CC_B10 ? rho * 0.1 : cc_smac_forward(&t, rho);
                double dn = r_toa * 10000.0 + 1000.0;
                toa[i] = (uint16_t)lround(dn < 1 ? 1 : dn > 65534 ? 65534 : dn);
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
            "--bands B01,B02,B03,B04,B05,B06,B07,B08,B8A,B09,B10,B11,B12 --spacecraft S2A --date 2024-06-15 "
            "--sun-zenith %g --sun-azimuth %g --view-zenith %g --view-azimuth %g --dn-offset -1000\n",
            o->sun_zenith, o->sun_azimuth, o->view_zenith, o->view_azimuth);
    fclose(f);
out:
    free(toa);
    free(truth);
    return st;
}
