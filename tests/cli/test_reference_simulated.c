/* End to end on a SIMULATED scene with a known atmosphere: the reference
 * processor must retrieve the aerosol and water vapour it was simulated with
 * and recover the true surface reflectance; results must not depend on the
 * number of threads. Needs no ../shared. */
#include <gdal.h>
#include <omp.h>

#include "io/s2/scene.h"
#include "pipeline/atmos/reference.h"
#include "pipeline/boa/simulate.h"
#include "kernels/smac/smac.h"
#include "sim_scene.h"
#include "testutil.h"

static int read_truth(const char *path, int n, uint16_t *out)
{
    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    if (!ds)
        return -1;
    CPLErr e = GDALDatasetRasterIO(ds, GF_Read, 0, 0, n, n, out, n, n, GDT_UInt16, CC_NBANDS, NULL, 0, 0, 0);
    GDALClose(ds);
    return e == CE_None ? 0 : -1;
}

int main(void)
{
    cc_simulate_options so;
    cc_scene *s = NULL;
    const char *dir = sim_scene_open("reference_simulated", 192, 0, &so, &s);
    char path[4200];
    if (!s)
        TEST_RETURN();

    cc_reference_options ro;
    cc_reference_options_init(&ro);
    cc_reference_result r1, r2;
    omp_set_num_threads(1);
    CHECK_OK(cc_reference_run(s, &ro, &r1));
    omp_set_num_threads(2);
    CHECK_OK(cc_reference_run(s, &ro, &r2));
    printf("retrieved AOT550 %.4f (%s, %zu DDV px; simulated %.3f), water vapour %.3f (%s; simulated %.2f)\n",
           r1.aot550, r1.aot_source, r1.n_ddv, so.aot550, r1.water_vapour, r1.wv_source, so.uh2o);
    CHECK(strcmp(r1.aot_source, "DDV") == 0);
    CHECK_NEAR(r1.aot550, so.aot550, 0.02);
    CHECK_NEAR(r1.water_vapour, so.uh2o, 0.15 * so.uh2o);
    CHECK(r1.nbands == 12);
    CHECK(r1.dn_offset == 1000.0);

    /* thread count does not change a single value */
    size_t n = (size_t)so.size * so.size;
    for (int k = 0; k < r1.nbands; k++)
        CHECK(memcmp(r1.boa[k], r2.boa[k], n * sizeof(uint16_t)) == 0);

    /* recovered surface vs truth, per band */
    uint16_t *truth = malloc(n * CC_NBANDS * sizeof(uint16_t));
    snprintf(path, sizeof path, "%s/S2A_SIMULATED_TRUTH_BOA.tif", dir);
    CHECK(read_truth(path, so.size, truth) == 0);
    for (int k = 0; k < r1.nbands; k++) {
        int b = r1.band[k];
        double sum = 0;
        size_t cnt = 0, nodata_mismatch = 0;
        for (size_t i = 0; i < n; i++) {
            uint16_t t = truth[(size_t)b * n + i], p = r1.boa[k][i];
            if ((t == 0) != (p == 0))
                nodata_mismatch++;
            if (!t || !p)
                continue;
            sum += fabs((double)p - (double)t);
            cnt++;
        }
        double mae = cnt ? sum / cnt : 1e9;
        printf("  %s: MAE %.2f DN over %zu px\n", cc_band_names[b], mae, cnt);
        CHECK(nodata_mismatch == 0);
        /* the retrieved atmosphere is close to, not exactly, the simulated one */
        CHECK(mae < (b == CC_B09 ? 150.0 : 25.0));
    }
    free(truth);
    cc_reference_result_free(&r1);
    cc_reference_result_free(&r2);

    /* with the true atmosphere given, the inversion is exact to DN rounding */
    ro.aot550 = so.aot550;
    ro.water_vapour = so.uh2o;
    CHECK_OK(cc_reference_run(s, &ro, &r1));
    truth = malloc(n * CC_NBANDS * sizeof(uint16_t));
    CHECK(read_truth(path, so.size, truth) == 0);
    for (int k = 0; k < r1.nbands; k++) {
        int b = r1.band[k], maxd = 0;
        for (size_t i = 0; i < n; i++) {
            int d = abs((int)r1.boa[k][i] - (int)truth[(size_t)b * n + i]);
            maxd = d > maxd ? d : maxd;
        }
        /* TOA DN rounding is amplified by 1/(tg T_down T_up): most in B01 and B09 */
        printf("  %s: max |DN - truth| %d with the true atmosphere\n", cc_band_names[b], maxd);
        CHECK(maxd <= (b == CC_B09 || b == CC_B01 ? 4 : 2));
    }
    free(truth);
    cc_reference_result_free(&r1);

    /* pressure: from --elevation, and from a DEM in another CRS warped onto the grid */
    cc_reference_options_init(&ro);
    ro.aot550 = so.aot550;
    ro.water_vapour = so.uh2o;
    ro.elevation_m = 1500;
    CHECK_OK(cc_reference_run(s, &ro, &r1));
    CHECK(strcmp(r1.pressure_source, "elevation") == 0);
    CHECK_NEAR(r1.pressure_hpa, cc_smac_pressure_from_elevation(1500), 1e-9);
    uint16_t b04_elev = r1.boa[3][(size_t)100 * so.size + 100];
    cc_reference_result_free(&r1);

    char dem[4200], dem_far[4200];
    snprintf(dem, sizeof dem, "%s/dem_wgs84.tif", dir);
    snprintf(dem_far, sizeof dem_far, "%s/dem_elsewhere.tif", dir);
    for (int k = 0; k < 2; k++) {
        /* EPSG:4326, 0.001 deg pixels; the scene is near 10.04 E, 46.03 N */
        GDALDatasetH d = GDALCreate(GDALGetDriverByName("GTiff"), k ? dem_far : dem, 400, 400, 1,
                                    GDT_Float32, NULL);
        double gt[6] = {k ? 20.0 : 9.85, 0.001, 0, 46.2, 0, -0.001};
        GDALSetGeoTransform(d, gt);
        GDALSetProjection(d, "GEOGCS[\"WGS 84\",DATUM[\"WGS_1984\",SPHEROID[\"WGS 84\",6378137,298.257223563]],"
                             "PRIMEM[\"Greenwich\",0],UNIT[\"degree\",0.0174532925199433],AUTHORITY[\"EPSG\",\"4326\"]]");
        GDALFillRaster(GDALGetRasterBand(d, 1), 1500.0, 0);
        GDALClose(d);
    }
    ro.elevation_m = NAN;
    ro.dem_path = dem;
    CHECK_OK(cc_reference_run(s, &ro, &r1));
    CHECK(r1.pressure_source && strcmp(r1.pressure_source, "DEM") == 0);
    CHECK_NEAR(r1.pressure_hpa, cc_smac_pressure_from_elevation(1500), 1e-3);
    /* same pressure everywhere -> same result as the constant elevation */
    CHECK(r1.boa[3][(size_t)100 * so.size + 100] == b04_elev);
    printf("pressure from a WGS84 DEM of 1500 m: %.3f hPa (expected %.3f)\n", r1.pressure_hpa,
           cc_smac_pressure_from_elevation(1500));
    cc_reference_result_free(&r1);
    ro.dem_path = dem_far; /* does not cover the scene */
    CHECK(cc_reference_run(s, &ro, &r1) == CC_ERR_NODATA);
    CHECK(strstr(cc_error_message(), "dem_elsewhere.tif") != NULL);
    cc_scene_free(s);
    GDALDestroyDriverManager();
    TEST_RETURN();
}
