/* A NetCDF series is ingested whole or not at all (pipeline/cloudless/
 * ingest_netcdf.c), also when its dates come after a cube's last and are
 * appended in place: a file whose Sentinel-2 dates are appended and whose
 * Sentinel-1 part then fails leaves the Sentinel-2 cube of DIR byte for byte
 * as it was (the staging folder holds a copy of it, not a hard link, which the
 * in-place append would have changed). Self-contained (no ../shared). */
#define _POSIX_C_SOURCE 200809L
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cpl_conv.h>
#include <ogr_srs_api.h>

#include "io/cube.h"
#include "pipeline/cloudless/ingest.h"
#include "series_fixture.h"
#include "testutil.h"

enum { NT = 2, NY = 6, NX = 7 };

/* Sentinel-2 B04 + SCL and Sentinel-1 VV/VH (dB) on days t0, t0 + 5 after 2020-03-01. */
static void write_series(const char *path, double t0)
{
    int v[4];
    series_file sf;
    series_begin(&sf, path, NT, NY, NX);
    int nc = sf.nc, *dims = sf.dims;
    const char *names[4] = {"B04", "SCL", "VV", "VH"};
    const nc_type types[4] = {NC_USHORT, NC_UBYTE, NC_FLOAT, NC_FLOAT};
    for (int i = 0; i < 4; i++) {
        nc_def_var(nc, names[i], types[i], 3, dims, &v[i]);
        nc_put_att_text(nc, v[i], "grid_mapping", 11, "spatial_ref");
    }
    const double sc = 1e-4;
    nc_put_att_double(nc, v[0], "scale_factor", NC_DOUBLE, 1, &sc);
    nc_put_att_text(nc, v[2], "units", 2, "dB");
    nc_put_att_text(nc, v[3], "units", 2, "dB");
    const double t[NT] = {t0, t0 + 5};
    series_coords(&sf, t);
    unsigned short b[NT * NY * NX];
    unsigned char c[NT * NY * NX];
    float db[NT * NY * NX];
    for (int i = 0; i < NT * NY * NX; i++)
        b[i] = (unsigned short)(500 + 7 * i), c[i] = 4, db[i] = -12.0f + 0.01f * (float)i;
    nc_put_var_ushort(nc, v[0], b);
    nc_put_var_uchar(nc, v[1], c);
    nc_put_var_float(nc, v[2], db);
    nc_put_var_float(nc, v[3], db);
    nc_close(nc);
}

/* The bytes of a file (malloc'd), *n its size; NULL if unreadable. */
static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    unsigned char *p = NULL;
    *n = 0;
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (len > 0 && (p = malloc((size_t)len)) && fread(p, 1, (size_t)len, f) != (size_t)len) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *n = p ? (size_t)len : 0;
    return p;
}

int main(void)
{
    const char *dir = cc_test_tmpdir("test_ingest_netcdf_stage");
    char early[2100], late[2100], out[2100], s2[2200], s1[2200];
    snprintf(early, sizeof early, "%s/early.nc", dir);
    snprintf(late, sizeof late, "%s/late.nc", dir);
    snprintf(out, sizeof out, "%s/cubes", dir);
    write_series(early, 0);
    write_series(late, 30);
    CHECK_OK(cc_ingest_out_dir(out));
    cc_ingest_grid og = {0};
    CHECK_OK(cc_ingest_grid_netcdf(early, &og));
    cc_ingest_nc_stats stats;
    CHECK_OK(cc_ingest_netcdf(early, -1, &og.g, "t", out, &stats));
    CHECK(stats.ndates[CC_SENSOR_S2] == 2 && stats.ndates[CC_SENSOR_S1] == 2);
    cc_cube_sensor_path(s2, sizeof s2, out, "t", CC_SENSOR_S2);
    cc_cube_sensor_path(s1, sizeof s1, out, "t", CC_SENSOR_S1);

    /* the Sentinel-1 cube replaced by one on another grid: the late file's S1 part fails */
    remove(s1);
    float vals[2 * 5 * 4];
    for (int i = 0; i < 2 * 5 * 4; i++)
        vals[i] = -10;
    long day = 18322; /* 2020-03-01 */
    cc_cube_sensor_args a = {.dir = out, .tile = "t", .sensor = CC_SENSOR_S1, .width = 5, .height = 4,
                             .wkt = og.g.wkt, .ndates = 1, .days = &day, .values = vals, .inputs = "test"};
    memcpy(a.gt, og.g.gt, sizeof a.gt);
    CHECK_OK(cc_cube_write_sensor(&a));

    size_t n0 = 0, n1 = 0;
    unsigned char *before = slurp(s2, &n0);
    cc_status st = cc_ingest_netcdf(late, -1, &og.g, "t", out, &stats);
    CHECK(st == CC_ERR_ARG && strstr(cc_error_message(), "grid"));
    unsigned char *after = slurp(s2, &n1);
    CHECK(before && after && n0 == n1 && !memcmp(before, after, n0));
    int nd = 0;
    double *days = NULL;
    CHECK_OK(cc_cube_dates(s2, &nd, &days));
    CHECK(nd == 2);
    free(days);
    CHECK(tu_count_prefix(out, ".ingest-") == 0);
    printf("%s   the S2 cube unchanged (%zu bytes, %d dates) after the file's S1 part failed: %s\n",
           cc_test_failures ? "FAIL" : "ok", n1, nd, cc_error_message());
    free(before);
    free(after);

    /* and without the failure, the late dates are appended (in place, to the staged copy) */
    remove(s1);
    CHECK_OK(cc_ingest_netcdf(late, -1, &og.g, "t", out, &stats));
    CHECK_OK(cc_cube_dates(s2, &nd, &days));
    CHECK(nd == 4);
    free(days);
    cc_ingest_grid_free(&og);
    return cc_test_failures ? 1 : 0;
}
