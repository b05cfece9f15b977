/* GDAL reads the cube: CRS, exact geotransform, dims, values without a Y
 * flip, nodata/scale/offset, one band per date. */
#include <gdal.h>

#include "cube_test_common.h"
#include "testutil.h"

#define W 300
#define H 200
#define NL 3

int main(void)
{
    const char *dir = cc_test_tmpdir("cube_gdal");
    char path[4200], name[4400];
    snprintf(path, sizeof path, "%s/gdal.nc", dir);
    char *wkt = ct_epsg_wkt(32632);
    CHECK(wkt != NULL);
    uint16_t *data[2][NL];
    const int seeds[2] = {1, 2};
    for (int t = 0; t < 2; t++)
        for (int l = 0; l < NL; l++)
            data[t][l] = ct_make_layer(l, seeds[t], W, H);
    const double gt[6] = {CT_ORIGIN_X, CT_RES, 0, CT_ORIGIN_Y, 0, -CT_RES};
    for (int t = 1; t >= 0; t--) { /* later date first: the earlier one is inserted */
        cc_cube_layer L[NL];
        ct_layers(L, NL, data[t]);
        cc_cube_write_args a = {.path = path, .tile_id = "32TMR", .product = "test", .wkt = wkt,
                                .width = W, .height = H, .year = 2024, .month = 3 + t,
                                .day = 10, .nlayers = NL, .layers = L};
        memcpy(a.gt, gt, sizeof gt);
        CHECK_OK(cc_cube_write(&a));
    }

    GDALAllRegister();
    for (int l = 0; l < NL; l++) {
        snprintf(name, sizeof name, "NETCDF:\"%s\":%s", path, ct_layer_names[l]);
        GDALDatasetH ds = GDALOpen(name, GA_ReadOnly);
        CHECK(ds != NULL);
        if (!ds)
            continue;
        CHECK(GDALGetRasterXSize(ds) == W);
        CHECK(GDALGetRasterYSize(ds) == H);
        CHECK(GDALGetRasterCount(ds) == 2);
        double g[6];
        CHECK(GDALGetGeoTransform(ds, g) == CE_None);
        for (int i = 0; i < 6; i++)
            CHECK(g[i] == gt[i]);
        OGRSpatialReferenceH got = GDALGetSpatialRef(ds);
        CHECK(got != NULL);
        if (got) {
            OGRSpatialReferenceH exp = OSRNewSpatialReference(NULL);
            OSRImportFromEPSG(exp, 32632);
            CHECK(OSRIsSame(got, exp));
            const char *code = OSRGetAuthorityCode(got, NULL);
            CHECK(code && strcmp(code, "32632") == 0);
            OSRDestroySpatialReference(exp);
        }
        const int pos[][2] = {{0, 0}, {W - 1, 0}, {0, H - 1}, {W - 1, H - 1},
                              {150, 100}, {17, 123}, {31, 1}, {3, 190}};
        for (int t = 0; t < 2; t++) {
            GDALRasterBandH b = GDALGetRasterBand(ds, t + 1);
            int has = 0;
            CHECK(GDALGetRasterNoDataValue(b, &has) == 0 && has);
            CHECK_NEAR(GDALGetRasterScale(b, NULL), 1e-4, 1e-15);
            CHECK_NEAR(GDALGetRasterOffset(b, NULL), -0.1, 1e-15);
            CHECK(GDALGetRasterDataType(b) == GDT_UInt16);
            for (size_t p = 0; p < sizeof pos / sizeof *pos; p++) {
                uint16_t v = 0xffff;
                CHECK(GDALRasterIO(b, GF_Read, pos[p][0], pos[p][1], 1, 1, &v, 1, 1, GDT_UInt16,
                                   0, 0) == CE_None);
                CHECK(v == ct_dn(l, seeds[t], pos[p][1], pos[p][0], W));
            }
            /* and the whole band */
            uint16_t *all = malloc(sizeof *all * W * H);
            CHECK(GDALRasterIO(b, GF_Read, 0, 0, W, H, all, W, H, GDT_UInt16, 0, 0) == CE_None);
            CHECK(memcmp(all, data[t][l], sizeof *all * W * H) == 0);
            free(all);
        }
        GDALClose(ds);
    }
    for (int t = 0; t < 2; t++)
        for (int l = 0; l < NL; l++)
            free(data[t][l]);
    CPLFree(wkt);
    TEST_RETURN();
}
