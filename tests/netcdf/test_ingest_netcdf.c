/* pipeline/cloudless/ingest_netcdf: the Landsat QA and SCL decoders on known
 * values, the sensor from the file's attributes alone, and the batched write (one date per batch, as a grid too large
 * for memory would be written) giving the same cube as one batch. */
#include <math.h>
#include <netcdf.h>
#include <stdio.h>
#include <string.h>

#include <cpl_conv.h>
#include <ogr_srs_api.h>

#include "core/date.h"
#include "io/cube.h"
#include "pipeline/atmos/cloudmask.h"
#include "pipeline/cloudless/ingest.h"
#include "pipeline/cloudless/ingest_netcdf-impl.h"
#include "series_fixture.h"
#include "testutil.h"

static void test_masks(void)
{
    /* Collection 1 SR pixel_qa values of the WorldCereal L8 file and their meaning */
    const float c1[] = {1, 322, 324, 328, 336, 352, 386, 480, 834, 992, NAN};
    const uint8_t c1_want[] = {CC_CM_NODATA, CC_CM_CLEAR, CC_CM_WATER, CC_CM_SHADOW, CC_CM_SNOW, CC_CM_CLOUD,
                               CC_CM_CLEAR,  CC_CM_CLOUD, CC_CM_CLOUD, CC_CM_CLOUD,  CC_CM_NODATA};
    uint8_t m[16];
    cc_ingest_netcdf_mask(CC_NC_MASK_C1_SR, c1, 11, m);
    for (int i = 0; i < 11; i++)
        CHECK(m[i] == c1_want[i]);
    /* Collection 2 QA_PIXEL: 21824 clear, 21952 water, 22280 cloud, 23888 shadow, 30048 snow, 54596 cirrus, 1 fill */
    const float c2[] = {21824, 21952, 22280, 23888, 30048, 54596, 1};
    const uint8_t c2_want[] = {CC_CM_CLEAR, CC_CM_WATER, CC_CM_CLOUD, CC_CM_SHADOW, CC_CM_SNOW, CC_CM_CLOUD,
                               CC_CM_NODATA};
    cc_ingest_netcdf_mask(CC_NC_MASK_C2, c2, 7, m);
    for (int i = 0; i < 7; i++)
        CHECK(m[i] == c2_want[i]);
    const float scl[] = {0, 3, 4, 6, 8, 10, 11, 300};
    const uint8_t scl_want[] = {CC_CM_NODATA, CC_CM_SHADOW, CC_CM_CLEAR, CC_CM_WATER,
                                CC_CM_CLOUD,  CC_CM_CLOUD,  CC_CM_SNOW,  CC_CM_NODATA};
    cc_ingest_netcdf_mask(CC_NC_MASK_SCL, scl, 8, m);
    for (int i = 0; i < 8; i++)
        CHECK(m[i] == scl_want[i]);
}

enum { NT = 5, NY = 6, NX = 7 };

/* A Sentinel-2 series: B04, B8A, SCL; times 2 and 3 on one day. plain: B04
 * only, with the global attribute `name` = name when not NULL. */
static void write_series(const char *path, int plain, const char *name)
{
    int vb[3];
    series_file sf;
    series_begin(&sf, path, NT, NY, NX);
    int nc = sf.nc, *dims = sf.dims;
    const char *names[3] = {"B04", "B8A", "SCL"};
    if (name)
        nc_put_att_text(nc, NC_GLOBAL, "name", strlen(name), name);
    for (int i = 0; i < (plain ? 1 : 3); i++) {
        nc_def_var(nc, names[i], i < 2 ? NC_USHORT : NC_UBYTE, 3, dims, &vb[i]);
        nc_put_att_text(nc, vb[i], "grid_mapping", 11, "spatial_ref");
        const double sc = 1e-4;
        if (i < 2)
            nc_put_att_double(nc, vb[i], "scale_factor", NC_DOUBLE, 1, &sc);
    }
    const double t[NT] = {0, 5, 10.4, 10.41, 20};
    series_coords(&sf, t);
    unsigned short b[NT * NY * NX];
    unsigned char c[NT * NY * NX];
    for (int i = 0; i < NT * NY * NX; i++) {
        b[i] = (unsigned short)(500 + 7 * i);
        c[i] = (i % (NY * NX)) % 5 == 0 ? 9 : 4; /* every fifth pixel cloud, on every date */
    }
    nc_put_var_ushort(nc, vb[0], b);
    for (int i = 0; i < NT * NY * NX; i++)
        b[i] = (unsigned short)(2500 + 3 * i);
    if (!plain) {
        nc_put_var_ushort(nc, vb[1], b);
        nc_put_var_uchar(nc, vb[2], c);
    }
    nc_close(nc);
}

static void compare_cubes(const char *a, const char *b)
{
    cc_ncs *x = NULL, *y = NULL;
    CHECK_OK(cc_ncs_open(a, &x));
    CHECK_OK(cc_ncs_open(b, &y));
    if (!x || !y)
        goto out;
    CHECK(x->ntimes == 4 && y->ntimes == 4); /* 5 acquisitions, 4 days */
    const char *layers[] = {"B04", "B8A", "B02", "cloud_mask"};
    float u[NY * NX], v[NY * NX];
    int finite = 0;
    for (int t = 0; t < 4; t++)
        for (int l = 0; l < 4; l++) {
            CHECK_OK(cc_ncs_read(x, cc_ncs_find(x, layers[l]), t, u));
            CHECK_OK(cc_ncs_read(y, cc_ncs_find(y, layers[l]), t, v));
            for (int p = 0; p < NY * NX; p++) {
                CHECK((isnan(u[p]) && isnan(v[p])) || u[p] == v[p]);
                finite += isfinite(u[p]) && l == 0;
            }
        }
    CHECK(finite == 4 * NY * NX); /* B04 everywhere (cloudy pixels keep their values) */
    /* day 3 (times 2 and 3): pixel 0 is cloud in both -> the first acquisition */
    CHECK_OK(cc_ncs_read(x, cc_ncs_find(x, "B04"), 2, u));
    CHECK_NEAR(u[0], (500 + 7 * (2 * NY * NX)) * 1e-4, 1e-6);
    CHECK_OK(cc_ncs_read(x, cc_ncs_find(x, "cloud_mask"), 2, u));
    CHECK(u[0] == CC_CM_CLOUD && u[1] == CC_CM_CLEAR);
out:
    cc_ncs_close(x);
    cc_ncs_close(y);
}

static void test_batches(const char *dir)
{
    char path[2100], a[2100], b[2100], ca[2200], cb[2200];
    snprintf(path, sizeof path, "%s/series.nc", dir);
    snprintf(a, sizeof a, "%s/one", dir);
    snprintf(b, sizeof b, "%s/many", dir);
    write_series(path, 0, NULL);
    CHECK_OK(cc_ingest_out_dir(a));
    CHECK_OK(cc_ingest_out_dir(b));
    cc_ingest_grid og = {0};
    CHECK_OK(cc_ingest_grid_netcdf(path, &og));
    CHECK(og.g.width == NX && og.g.height == NY);
    CHECK_NEAR(og.g.gt[0], 400000, 1e-6);
    CHECK_NEAR(og.g.gt[3], 5600000, 1e-6);
    cc_ncs *s = NULL;
    CHECK_OK(cc_ncs_open(path, &s));
    if (!s) {
        cc_ingest_grid_free(&og);
        return;
    }
    cc_nc_plan plans[CC_SENSOR_COUNT];
    int np = 0, nd = 0;
    CHECK_OK(cc_ingest_netcdf_plan(s, -1, plans, &np));
    CHECK(np == 1 && plans[0].sensor == CC_SENSOR_S2 && plans[0].nbands == 2 && plans[0].mask_kind == CC_NC_MASK_SCL);
    CHECK_OK(cc_ingest_netcdf_sensor(s, &plans[0], &og.g, "t", a, (size_t)1 << 30, &nd));
    CHECK(nd == 4);
    CHECK_OK(cc_ingest_netcdf_sensor(s, &plans[0], &og.g, "t", b, 1, &nd)); /* one date per batch */
    cc_cube_sensor_path(ca, sizeof ca, a, "t", CC_SENSOR_S2);
    cc_cube_sensor_path(cb, sizeof cb, b, "t", CC_SENSOR_S2);
    compare_cubes(ca, cb);
    /* --sensor landsat on it: its B04 is OLI red, B8A is no OLI band name -> 1 band, no QA */
    CHECK_OK(cc_ingest_netcdf_plan(s, CC_SENSOR_LANDSAT, plans, &np));
    CHECK(np == 1 && plans[0].nbands == 1 && plans[0].mask_var < 0);
    CHECK(cc_ingest_netcdf_plan(s, CC_SENSOR_S1, plans, &np) == CC_ERR_MISSING);
    cc_ncs_close(s);
    cc_ingest_grid_free(&og);
}

/* Which sensor when only the attributes can tell. */
static void test_attributes(const char *dir)
{
    static const struct { const char *name; int sensor; } cases[] = {
        {"L8_SR_10m_00002806639B424A", CC_SENSOR_LANDSAT}, {"LC08_L2SP_198024", CC_SENSOR_LANDSAT},
        {"S2_L2A_10m_00002806639B424A", CC_SENSOR_S2},     {"Sentinel-2 L2A", CC_SENSOR_S2},
        {NULL, -1},                                         {"crop field 7", -1}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char path[2100];
        snprintf(path, sizeof path, "%s/attr-%zu.nc", dir, i);
        write_series(path, 1, cases[i].name);
        cc_ncs *s = NULL;
        CHECK_OK(cc_ncs_open(path, &s));
        if (!s)
            continue;
        cc_nc_plan plans[CC_SENSOR_COUNT];
        int np = 0;
        cc_status st = cc_ingest_netcdf_plan(s, -1, plans, &np);
        if (cases[i].sensor < 0)
            CHECK(st == CC_ERR_ARG && strstr(cc_error_message(), "use --sensor s2 or landsat"));
        else
            CHECK(st == CC_OK && np == 1 && plans[0].sensor == cases[i].sensor && plans[0].nbands == 1);
        cc_ncs_close(s);
    }
}

int main(void)
{
    const char *dir = cc_test_tmpdir("test_ingest_netcdf");
    test_masks();
    test_batches(dir);
    test_attributes(dir);
    if (cc_test_failures)
        fprintf(stderr, "%d failure(s)\n", cc_test_failures);
    return cc_test_failures ? 1 : 0;
}
