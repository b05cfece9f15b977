/* Sentinel-1 reader (io/s1/s1.h) on the real fixtures:
 *  - the five BigEarthNet-S1 patches (analysis-ready dB GeoTIFFs),
 *  - the riotilerpds GRD measurement TIFFs (GCPs, no calibration annotation),
 *    plus test-only SAFE-like folders built here from copies of them with
 *    calibration/noise annotations whose LUT values we choose.
 * Golden pixel values were read with
 *   gdallocationinfo -valonly <patch>_VV.tif <col> <row>. */
#define _GNU_SOURCE
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <gdal.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>

#include "io/s1/s1.h"
#include "testutil.h"

#define NPATCH 5
static const char *const patch[NPATCH] = {
    "S1A_IW_GRDH_1SDV_20170613T165043_33UUP_87_48", "S1A_IW_GRDH_1SDV_20170617T064724_29UPU_36_85",
    "S1A_IW_GRDH_1SDV_20170617T064724_29UPU_4_55", "S1A_IW_GRDH_1SDV_20170925T043256_35VPK_69_24",
    "S1A_IW_GRDH_1SDV_20180204T043253_35VPK_57_38"};
static const long patch_day[NPATCH] = {17330, 17334, 17334, 17434, 17566};
/* (col,row) = (0,0) (60,60) (119,119) (37,81); VV then VH */
static const int px_at[4][2] = {{0, 0}, {60, 60}, {119, 119}, {37, 81}};
static const double golden[NPATCH][2][4] = {
    {{-10.8508749008179, -14.1880702972412, -10.3101711273193, -13.5794219970703},
     {-19.7591152191162, -18.6325492858887, -19.6745529174805, -19.9890232086182}},
    {{-9.66550350189209, -15.0297431945801, -11.0506925582886, -11.7664422988892},
     {-16.0144309997559, -18.5117359161377, -22.0648021697998, -15.936544418335}},
    {{-9.76017093658447, -5.24108266830444, -3.21449065208435, -12.4301586151123},
     {-12.628378868103, -14.7612047195435, -11.4175071716309, -19.5740756988525}},
    {{-22.4043788909912, -5.82417345046997, -8.99290943145752, -7.53253602981567},
     {-23.7100143432617, -16.5157070159912, -14.5664310455322, -11.3237228393555}},
    {{-5.95493459701538, -7.46058177947998, -9.00634765625, -12.3542652130127},
     {-15.2106981277466, -18.6460151672363, -14.5097217559814, -16.500545501709}}};

static char *xstrdup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xstrdup_printf(const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    va_end(ap);
    return s;
}

/* Grid of a GeoTIFF (wkt returned in *wkt, caller frees with CPLFree... here free). */
static int grid_of(const char *tif, cc_grid *g, char **wkt)
{
    GDALDatasetH ds = GDALOpen(tif, GA_ReadOnly);
    if (!ds)
        return -1;
    g->width = GDALGetRasterXSize(ds);
    g->height = GDALGetRasterYSize(ds);
    GDALGetGeoTransform(ds, g->gt);
    *wkt = strdup(GDALGetProjectionRef(ds));
    g->wkt = *wkt;
    GDALClose(ds);
    return 0;
}

static float *read_tif(const char *tif, int w, int h)
{
    float *v = malloc((size_t)w * h * sizeof *v);
    GDALDatasetH ds = GDALOpen(tif, GA_ReadOnly);
    if (!ds || !v ||
        GDALRasterIO(GDALGetRasterBand(ds, 1), GF_Read, 0, 0, w, h, v, w, h, GDT_Float32, 0, 0) !=
            CE_None) {
        fprintf(stderr, "cannot read %s\n", tif);
        exit(1);
    }
    GDALClose(ds);
    return v;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
}

static void sh(const char *cmd)
{
    if (system(cmd) != 0) {
        fprintf(stderr, "command failed: %s\n", cmd);
        exit(1);
    }
}

static int contains(const char *msg, const char *part)
{
    if (strstr(msg, part))
        return 1;
    fprintf(stderr, "  message '%s' does not contain '%s'\n", msg, part);
    return 0;
}

static int all_nan(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isnan(v[i]))
            return 0;
    return 1;
}

/* ------------------------------------------------------------------------ */
/* (a) BigEarthNet patches                                                  */
/* ------------------------------------------------------------------------ */

static void test_patch(const char *shared, int k, double *max_lin_vs_db)
{
    char *dir = xstrdup_printf("%s/datasets/bigearthnet-example/BigEarthNet-S1-Example/%s", shared, patch[k]);
    char *vvtif = xstrdup_printf("%s/%s_VV.tif", dir, patch[k]);
    char *vhtif = xstrdup_printf("%s/%s_VH.tif", dir, patch[k]);
    char *wkt = NULL, *wkt2 = NULL;
    cc_grid g;
    CHECK(grid_of(vvtif, &g, &wkt) == 0);
    CHECK(g.width == 120 && g.height == 120);
    size_t n = cc_grid_npix(&g);
    float *vv = malloc(n * sizeof *vv), *vh = malloc(n * sizeof *vh);
    float *src_vv = read_tif(vvtif, 120, 120), *src_vh = read_tif(vhtif, 120, 120);
    cc_s1_info info;

    /* own grid: the values of the source, bit for bit */
    CHECK_OK(cc_s1_read(dir, &g, vv, vh, &info));
    CHECK(info.layout == CC_S1_ARD);
    CHECK(info.has_vv == 1 && info.has_vh == 1);
    CHECK(!strcmp(info.platform, "S1A"));
    CHECK(info.day == patch_day[k]);
    CHECK(!strcmp(info.id, patch[k]));
    for (int i = 0; i < 4; i++) {
        size_t at = (size_t)px_at[i][1] * 120 + px_at[i][0];
        CHECK_NEAR(vv[at], golden[k][0][i], 1e-6);
        CHECK_NEAR(vh[at], golden[k][1][i], 1e-6);
    }
    size_t diff = 0;
    for (size_t i = 0; i < n; i++)
        diff += vv[i] != src_vv[i] || vh[i] != src_vh[i];
    CHECK(diff == 0);

    /* the co-registered S2 patch grid (same tile, same origin): same pixels */
    {
        char *js = xstrdup_printf("%s/%s_labels_metadata.json", dir, patch[k]);
        FILE *f = fopen(js, "r");
        char buf[8192] = {0};
        CHECK(f && fread(buf, 1, sizeof buf - 1, f) > 0);
        if (f)
            fclose(f);
        char *p = strstr(buf, "\"corresponding_s2_patch\": \"");
        CHECK(p != NULL);
        if (p) {
            p += strlen("\"corresponding_s2_patch\": \"");
            char *q = strchr(p, '"');
            *q = '\0';
            char *s2 = xstrdup_printf("%s/datasets/bigearthnet-example/BigEarthNet-S2-Example/%s/%s_B04.tif",
                                      shared, p, p);
            cc_grid g2;
            float *vv2 = malloc(n * sizeof *vv2), *vh2 = malloc(n * sizeof *vh2);
            CHECK(grid_of(s2, &g2, &wkt2) == 0);
            CHECK(g2.width == 120 && g2.gt[0] == g.gt[0] && g2.gt[3] == g.gt[3]);
            CHECK_OK(cc_s1_read(dir, &g2, vv2, vh2, NULL));
            diff = 0;
            for (size_t i = 0; i < n; i++)
                diff += vv2[i] != src_vv[i] || vh2[i] != src_vh[i];
            CHECK(diff == 0);
            free(vv2);
            free(vh2);
            free(s2);
        }
        free(js);
    }

    /* a grid shifted by (+3, -2) pixels goes through the warper: same values
     * (dB -> linear -> dB round trip), NaN where the grid leaves the patch */
    {
        cc_grid gs = g;
        gs.gt[0] += 3 * 10.0;
        gs.gt[3] += 2 * 10.0;
        int nnan = 0, bad = 0;
        CHECK_OK(cc_s1_read(dir, &gs, vv, vh, NULL));
        for (int r = 0; r < 120; r++)
            for (int c = 0; c < 120; c++) {
                size_t i = (size_t)r * 120 + c;
                int sr = r - 2, sc = c + 3;
                if (sr < 0 || sc >= 120) {
                    nnan += isnan(vv[i]) && isnan(vh[i]);
                    continue;
                }
                size_t j = (size_t)sr * 120 + sc;
                bad += !(fabsf(vv[i] - src_vv[j]) < 1e-4f && fabsf(vh[i] - src_vh[j]) < 1e-4f);
            }
        CHECK(nnan == 2 * 120 + 118 * 3);
        CHECK(bad == 0);
    }

    /* a 20 m grid: the LINEAR-power mean of each 2x2 block */
    {
        cc_grid gc = g;
        gc.width = gc.height = 60;
        gc.gt[1] = 20.0;
        gc.gt[5] = -20.0;
        float *cv = malloc(3600 * sizeof *cv);
        CHECK_OK(cc_s1_read(dir, &gc, cv, NULL, NULL));
        int bad = 0;
        for (int r = 0; r < 60; r++)
            for (int c = 0; c < 60; c++) {
                double lin = 0.0, db = 0.0;
                for (int dr = 0; dr < 2; dr++)
                    for (int dc = 0; dc < 2; dc++) {
                        double x = src_vv[(size_t)(2 * r + dr) * 120 + 2 * c + dc];
                        lin += pow(10.0, x / 10.0) / 4.0;
                        db += x / 4.0;
                    }
                double want = 10.0 * log10(lin);
                bad += !(fabs(cv[r * 60 + c] - want) < 1e-3);
                if (fabs(cv[r * 60 + c] - db) > *max_lin_vs_db)
                    *max_lin_vs_db = fabs(cv[r * 60 + c] - db);
            }
        CHECK(bad == 0);
        if (k == 0) {
            /* by hand: pixels (60,60) (61,60) (60,61) (61,61) =
             * -14.1880703 -15.3923378 -13.8888407 -17.2936630 dB
             * = 0.0381235 0.0288912 0.0408428 0.0186481 linear, mean 0.0316264
             * -> -14.99950 dB (the mean of the dB values would be -15.19073) */
            CHECK_NEAR(cv[30 * 60 + 30], -14.99950, 2e-4);
        }
        free(cv);
    }

    free(vv);
    free(vh);
    free(src_vv);
    free(src_vh);
    free(wkt);
    free(wkt2);
    free(vvtif);
    free(vhtif);
    free(dir);
}

/* bad analysis-ready inputs: corrupt tif, bad JSON, missing JSON */
static void test_ard_errors(const char *shared, const char *tmp)
{
    const char *id = patch[0];
    char *src = xstrdup_printf("%s/datasets/bigearthnet-example/BigEarthNet-S1-Example/%s", shared, id);
    char *dir = xstrdup_printf("%s/ard/%s", tmp, id);
    char *cmd = xstrdup_printf("mkdir -p '%s' && cp '%s/%s_VV.tif' '%s/%s_VH.tif' "
                               "'%s/%s_labels_metadata.json' '%s/'",
                               dir, src, id, src, id, src, id, dir);
    sh(cmd);
    char *wkt = NULL, *vvtif = xstrdup_printf("%s/%s_VV.tif", dir, id);
    char *vhtif = xstrdup_printf("%s/%s_VH.tif", dir, id);
    char *js = xstrdup_printf("%s/%s_labels_metadata.json", dir, id);
    cc_grid g;
    CHECK(grid_of(vvtif, &g, &wkt) == 0);
    float vv[14400], vh[14400];
    cc_s1_info info;

    /* missing VH: NaN VH, info says so */
    unlink(vhtif);
    vh[0] = 1.0f;
    CHECK_OK(cc_s1_read(dir, &g, vv, vh, &info));
    CHECK(info.has_vv == 1 && info.has_vh == 0);
    CHECK(all_nan(vh, 14400));
    CHECK_NEAR(vv[60 * 120 + 60], golden[0][0][1], 1e-6);

    /* bad JSON */
    write_file(js, "{\"acquisition_time\": \"2017-06-13T16:50:43\",");
    CHECK(cc_s1_read(dir, &g, vv, vh, &info) == CC_ERR_FORMAT);
    CHECK(contains(cc_error_message(), js));
    CHECK(all_nan(vv, 14400));
    /* JSON without a parsable time */
    write_file(js, "{\"acquisition_time\": \"13/06/2017\"}");
    CHECK(cc_s1_read(dir, &g, vv, vh, &info) == CC_ERR_FORMAT);
    CHECK(contains(cc_error_message(), js) && contains(cc_error_message(), "acquisition_time"));
    /* missing JSON */
    unlink(js);
    CHECK(cc_s1_read(dir, &g, vv, vh, &info) == CC_ERR_MISSING);
    CHECK(contains(cc_error_message(), js));
    /* corrupt tif */
    write_file(js, "{\"acquisition_time\": \"2017-06-13T16:50:43\"}");
    write_file(vvtif, "II*\0 this is not a TIFF at all");
    CHECK(cc_s1_read(dir, &g, vv, vh, &info) != CC_OK);
    CHECK(contains(cc_error_message(), vvtif));
    /* not a Sentinel-1 folder at all */
    unlink(vvtif);
    CHECK(cc_s1_read(dir, &g, vv, vh, &info) == CC_ERR_MISSING);
    CHECK(contains(cc_error_message(), "not a Sentinel-1 folder"));
    printf("ARD errors: last message: %s\n", cc_error_message());

    free(wkt);
    free(vvtif);
    free(vhtif);
    free(js);
    free(cmd);
    free(dir);
    free(src);
}

/* ------------------------------------------------------------------------ */
/* (b) GRD                                                                  */
/* ------------------------------------------------------------------------ */

#define MARK_VV 20000
#define MARK_VH 5000
#define MARK_HALF 4 /* marker block: 9 x 9 source pixels */

/* VV LUT: A = 300 + 0.2 pixel + 0.1 line (linear, so bilinear is exact);
 * VH LUT: constant 250. */
static double lut_vv(double x, double y) { return 300.0 + 0.2 * x + 0.1 * y; }

/* A calibration annotation with the structure of the real
 * calibration-s1a-iw-grd-*.xml (adsHeader, calibrationInformation,
 * calibrationVectorList). with_sigma = 0 leaves out the sigmaNought LUT. */
static void write_calibration(const char *path, const char *pol, int w, int h, int with_sigma)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    const int lines[] = {0, 200, 400, 600, h - 1};
    const int nl = 5;
    int pix[16], np = 0;
    for (int x = 0; x < w - 1; x += 160)
        pix[np++] = x;
    pix[np++] = w - 1;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<calibration>\n  <adsHeader>\n"
               "    <missionId>S1A</missionId>\n    <productType>GRD</productType>\n"
               "    <polarisation>%s</polarisation>\n    <mode>IW</mode>\n    <swath>IW</swath>\n"
               "    <startTime>2018-07-16T00:40:42.449561</startTime>\n"
               "    <stopTime>2018-07-16T00:41:07.448321</stopTime>\n"
               "    <absoluteOrbitNumber>22812</absoluteOrbitNumber>\n"
               "    <missionDataTakeId>162090</missionDataTakeId>\n"
               "    <imageNumber>001</imageNumber>\n  </adsHeader>\n"
               "  <calibrationInformation>\n"
               "    <absoluteCalibrationConstant>1.000000e+00</absoluteCalibrationConstant>\n"
               "  </calibrationInformation>\n  <calibrationVectorList count=\"%d\">\n",
            pol, nl);
    for (int i = 0; i < nl; i++) {
        fprintf(f, "    <calibrationVector>\n"
                   "      <azimuthTime>2018-07-16T00:40:%02d.000000</azimuthTime>\n"
                   "      <line>%d</line>\n      <pixel count=\"%d\">",
                42 + i * 5, lines[i], np);
        for (int j = 0; j < np; j++)
            fprintf(f, "%s%d", j ? " " : "", pix[j]);
        fprintf(f, "</pixel>\n");
        const char *names[] = {"sigmaNought", "betaNought", "gamma", "dn"};
        for (int t = with_sigma ? 0 : 1; t < 4; t++) {
            fprintf(f, "      <%s count=\"%d\">", names[t], np);
            for (int j = 0; j < np; j++) {
                double a = !strcmp(pol, "VV") ? lut_vv(pix[j], lines[i]) : 250.0;
                fprintf(f, "%s%.6e", j ? " " : "", t == 0 ? a : t == 1 ? 237.0 : a * 0.9);
            }
            fprintf(f, "</%s>\n", names[t]);
        }
        fprintf(f, "    </calibrationVector>\n");
    }
    fprintf(f, "  </calibrationVectorList>\n</calibration>\n");
    fclose(f);
}

/* A noise annotation (IPF >= 2.9 layout: noiseRangeVectorList) with a constant LUT. */
static void write_noise(const char *path, int w, int h, double value)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<noise>\n  <adsHeader>\n"
               "    <missionId>S1A</missionId>\n  </adsHeader>\n"
               "  <noiseRangeVectorList count=\"2\">\n");
    const int lines[2] = {0, h - 1};
    for (int i = 0; i < 2; i++)
        fprintf(f, "    <noiseRangeVector>\n      <azimuthTime>2018-07-16T00:40:42</azimuthTime>\n"
                   "      <line>%d</line>\n      <pixel count=\"2\">0 %d</pixel>\n"
                   "      <noiseRangeLut count=\"2\">%.6e %.6e</noiseRangeLut>\n"
                   "    </noiseRangeVector>\n",
                lines[i], w - 1, value, value);
    fprintf(f, "  </noiseRangeVectorList>\n  <noiseAzimuthVectorList count=\"0\"/>\n</noise>\n");
    fclose(f);
}

/* Copy of a real measurement TIFF (GCPs kept) with a 9x9 marker of DN `mark`
 * centred on source pixel coordinates (cx, cy). */
static void copy_with_marker(const char *src, const char *dst, double cx, double cy, int mark)
{
    GDALDatasetH s = GDALOpen(src, GA_ReadOnly);
    GDALDatasetH d = s ? GDALCreateCopy(GDALGetDriverByName("GTiff"), dst, s, 0, NULL, NULL, NULL)
                       : NULL;
    if (!d) {
        fprintf(stderr, "cannot copy %s to %s\n", src, dst);
        exit(1);
    }
    int x0 = (int)lround(cx - (MARK_HALF + 0.5)), y0 = (int)lround(cy - (MARK_HALF + 0.5));
    uint16_t blk[(2 * MARK_HALF + 1) * (2 * MARK_HALF + 1)];
    for (size_t i = 0; i < sizeof blk / sizeof blk[0]; i++)
        blk[i] = (uint16_t)mark;
    if (GDALRasterIO(GDALGetRasterBand(d, 1), GF_Write, x0, y0, 2 * MARK_HALF + 1,
                     2 * MARK_HALF + 1, blk, 2 * MARK_HALF + 1, 2 * MARK_HALF + 1, GDT_UInt16, 0,
                     0) != CE_None)
        exit(1);
    GDALClose(d);
    GDALClose(s);
}

/* Shared state of the GRD tests: the real folder, the GCP the marker sits on,
 * the 50 m output grid around it and the SAFE-like copy the steps read. */
typedef struct {
    const char *tmp;
    char *real, *real_vv, *real_vh, *msg_expect;
    int w, h, best;
    double gx, gy, lon, lat, src_px_m; /* GCP in source pixels and lon/lat */
    OGRSpatialReferenceH ll, utm;
    OGRCoordinateTransformationH ct;
    double ex, ny; /* the GCP in UTM 43N */
    char *wkt;
    cc_grid g;
    size_t n, at; /* pixels of g; the output pixel holding the GCP */
    float *vv, *vh;
    cc_s1_info info;
    char *safe, *cmd, *m_vv, *m_vh, *c_vv, *c_vh, *n_vv, *n_vh;
    double a_vv, want_vv, want_vh;
} grd_ctx;

/* The GCP nearest the image centre of the real VV TIFF and the source pixel
 * size on the ground; 0 when the TIFF cannot be opened. */
static int grd_find_gcp(grd_ctx *c)
{
    GDALDatasetH ds = GDALOpen(c->real_vv, GA_ReadOnly);
    CHECK(ds != NULL);
    if (!ds)
        return 0;
    int w = GDALGetRasterXSize(ds), h = GDALGetRasterYSize(ds);
    int ngcp = GDALGetGCPCount(ds), best = 0;
    const GDAL_GCP *gcp = GDALGetGCPs(ds);
    CHECK(w == 1280 && h == 837 && ngcp > 100);
    for (int i = 0; i < ngcp; i++)
        if (hypot(gcp[i].dfGCPPixel - w / 2.0, gcp[i].dfGCPLine - h / 2.0) <
            hypot(gcp[best].dfGCPPixel - w / 2.0, gcp[best].dfGCPLine - h / 2.0))
            best = i;
    double gx = gcp[best].dfGCPPixel, gy = gcp[best].dfGCPLine;
    double lon = gcp[best].dfGCPX, lat = gcp[best].dfGCPY;
    /* source pixel size on the ground (m), from the neighbouring GCP in range */
    double step_px = 0, step_m = 0;
    for (int i = 0; i < ngcp; i++)
        if (i != best && fabs(gcp[i].dfGCPLine - gy) < 1e-6 && fabs(gcp[i].dfGCPPixel - gx) < 100) {
            step_px = fabs(gcp[i].dfGCPPixel - gx);
            step_m = hypot((gcp[i].dfGCPX - lon) * 111320.0 * cos(lat * M_PI / 180.0),
                           (gcp[i].dfGCPY - lat) * 110574.0);
        }
    c->src_px_m = step_px > 0 ? step_m / step_px : 200.0;
    GDALClose(ds);
    c->w = w;
    c->h = h;
    c->best = best;
    c->gx = gx;
    c->gy = gy;
    c->lon = lon;
    c->lat = lat;
    return 1;
}

/* The GCP's map position in UTM 43N and a 50 m grid of 81 x 81 pixels
 * centred on it (finer than the ~200 m source: bilinear). */
static void grd_make_grid(grd_ctx *c)
{
    c->ll = OSRNewSpatialReference(NULL);
    c->utm = OSRNewSpatialReference(NULL);
    OSRImportFromEPSG(c->ll, 4326);
    OSRImportFromEPSG(c->utm, 32643);
    OSRSetAxisMappingStrategy(c->ll, OAMS_TRADITIONAL_GIS_ORDER);
    OSRSetAxisMappingStrategy(c->utm, OAMS_TRADITIONAL_GIS_ORDER);
    c->ct = OCTNewCoordinateTransformation(c->ll, c->utm);
    c->ex = c->lon;
    c->ny = c->lat;
    CHECK(OCTTransform(c->ct, 1, &c->ex, &c->ny, NULL));
    c->wkt = NULL;
    OSRExportToWkt(c->utm, &c->wkt);

    c->g = (cc_grid){.width = 81, .height = 81, .wkt = c->wkt};
    c->g.gt[0] = floor(c->ex / 50.0) * 50.0 - 40 * 50.0;
    c->g.gt[1] = 50.0;
    c->g.gt[3] = floor(c->ny / 50.0) * 50.0 + 41 * 50.0;
    c->g.gt[5] = -50.0;
    c->n = cc_grid_npix(&c->g);
    c->vv = malloc(c->n * sizeof *c->vv);
    c->vh = malloc(c->n * sizeof *c->vh);
    int gc = (int)floor((c->ex - c->g.gt[0]) / 50.0), gr = (int)floor((c->ny - c->g.gt[3]) / -50.0);
    c->at = (size_t)gr * 81 + gc;
}

/* 1. the real folder (no calibration annotation): an error naming the file */
static void grd_real_folder(grd_ctx *c)
{
    CHECK(cc_s1_read(c->real, &c->g, c->vv, c->vh, &c->info) == CC_ERR_MISSING);
    CHECK(contains(cc_error_message(), c->msg_expect));
    printf("riotilerpds: %s\n", cc_error_message());
    CHECK(all_nan(c->vv, c->n));
    char *real_meas = xstrdup_printf("%s/measurement/", c->real);
    CHECK(cc_s1_read(real_meas, &c->g, c->vv, c->vh, &c->info) == CC_ERR_MISSING);
    CHECK(contains(cc_error_message(), c->msg_expect));
    free(real_meas);
}

/* A SAFE-like copy of the real folder: marked measurement TIFFs and
 * calibration annotations we wrote (noise annotation paths named, not written). */
static void grd_make_safe(grd_ctx *c)
{
    c->safe = xstrdup_printf("%s/S1A_TEST.SAFE", c->tmp);
    c->cmd = xstrdup_printf("mkdir -p '%s/measurement' '%s/annotation/calibration'", c->safe,
                            c->safe);
    sh(c->cmd);
    c->m_vv = xstrdup_printf("%s/measurement/iw-vv.tiff", c->safe);
    c->m_vh = xstrdup_printf("%s/measurement/iw-vh.tiff", c->safe);
    c->c_vv = xstrdup_printf("%s/annotation/calibration/calibration-iw-vv.xml", c->safe);
    c->c_vh = xstrdup_printf("%s/annotation/calibration/calibration-iw-vh.xml", c->safe);
    c->n_vv = xstrdup_printf("%s/annotation/calibration/noise-iw-vv.xml", c->safe);
    c->n_vh = xstrdup_printf("%s/annotation/calibration/noise-iw-vh.xml", c->safe);
    copy_with_marker(c->real_vv, c->m_vv, c->gx, c->gy, MARK_VV);
    copy_with_marker(c->real_vh, c->m_vh, c->gx, c->gy, MARK_VH);
    write_calibration(c->c_vv, "VV", c->w, c->h, 1);
    write_calibration(c->c_vh, "VH", c->w, c->h, 1);
}

/* 2. the SAFE-like copy with calibration: sigma0 at the GCP by hand, and the
 * marker lands on the GCP */
static void grd_calibrated(grd_ctx *c)
{
    float *vv = c->vv, *vh = c->vh;
    CHECK_OK(cc_s1_read(c->safe, &c->g, vv, vh, &c->info));
    CHECK(c->info.layout == CC_S1_GRD && c->info.has_vv && c->info.has_vh &&
          !c->info.noise_removed);
    CHECK(c->info.day == 17728); /* 2018-07-16 */
    CHECK_NEAR(c->info.time, 17728 * 86400.0 + 40 * 60 + 42.449561, 1e-3);
    CHECK(!strcmp(c->info.platform, "S1A"));
    /* sigma0 by hand at the GCP: DN^2 / A^2 in dB */
    double a_vv = lut_vv(c->gx, c->gy);
    c->a_vv = a_vv;
    c->want_vv = 10.0 * log10((double)MARK_VV * MARK_VV / (a_vv * a_vv));
    c->want_vh = 10.0 * log10((double)MARK_VH * MARK_VH / (250.0 * 250.0));
    printf("GRD: GCP %d at pixel (%.2f, %.2f) -> UTM43N (%.1f, %.1f); A_vv = %.3f\n", c->best,
           c->gx, c->gy, c->ex, c->ny, a_vv);
    printf("GRD: sigma0 VV at the GCP %.4f dB (by hand %.4f), VH %.4f dB (by hand %.4f)\n",
           vv[c->at], c->want_vv, vh[c->at], c->want_vh);
    CHECK_NEAR(vv[c->at], c->want_vv, 0.02);
    CHECK_NEAR(vh[c->at], c->want_vh, 1e-3);
    /* geolocation: the centroid of the marker lands on the GCP within a pixel */
    double thr = 10.0 * log10(8000.0 * 8000.0 / (a_vv * a_vv)), sx = 0, sy = 0;
    int cnt = 0, nan_vv = 0;
    for (int r = 0; r < 81; r++)
        for (int col = 0; col < 81; col++) {
            nan_vv += isnan(vv[r * 81 + col]);
            if (vv[r * 81 + col] > thr) {
                double x, y;
                cc_grid_xy(&c->g, col, r, &x, &y);
                sx += x;
                sy += y;
                cnt++;
            }
        }
    CHECK(nan_vv == 0);
    double dist = cnt ? hypot(sx / cnt - c->ex, sy / cnt - c->ny) : 1e9;
    printf("GRD: marker %d output pixels (expected ~%.0f), centroid %.1f m from the GCP; source "
           "pixel %.1f m\n",
           cnt, pow((2 * MARK_HALF + 1) * c->src_px_m / 50.0, 2), dist, c->src_px_m);
    CHECK(cnt > 0);
    CHECK(dist < c->src_px_m);
    /* far from the marker the real (non-marker) data is there and plausible */
    CHECK(vv[0] > -40.0 && vv[0] < 20.0);
}

/* 3. with noise annotations: (DN^2 - N) / A^2 */
static void grd_noise(grd_ctx *c)
{
    write_noise(c->n_vv, c->w, c->h, 1.0e8);
    write_noise(c->n_vh, c->w, c->h, 5.0e6);
    CHECK_OK(cc_s1_read(c->safe, &c->g, c->vv, c->vh, &c->info));
    CHECK(c->info.noise_removed == 1);
    CHECK_NEAR(c->vv[c->at], 10.0 * log10(((double)MARK_VV * MARK_VV - 1e8) / (c->a_vv * c->a_vv)),
               0.02);
    CHECK_NEAR(c->vh[c->at], 10.0 * log10(((double)MARK_VH * MARK_VH - 5e6) / (250.0 * 250.0)),
               1e-3);
    unlink(c->n_vv);
    unlink(c->n_vh);
}

/* 3b. a 1 km grid over the whole scene and beyond: the valid area equals
 * the footprint of productInfo.json (the GCP corners), NaN outside */
static void grd_footprint(grd_ctx *c)
{
    const char *fp = "POLYGON ((77.891296 9.225784, 75.605247 9.682624, 75.906174 11.190425, "
                     "78.203903 10.737548, 77.891296 9.225784))";
    OGRGeometryH poly = NULL;
    char *fpw = (char *)fp;
    CHECK(OGR_G_CreateFromWkt(&fpw, c->ll, &poly) == OGRERR_NONE);
    CHECK(OGR_G_Transform(poly, c->ct) == OGRERR_NONE);
    double area_km2 = OGR_G_Area(poly) / 1e6;
    OGREnvelope env;
    OGR_G_GetEnvelope(poly, &env);
    cc_grid gb = {.width = (int)((env.MaxX - env.MinX) / 1000) + 21,
                  .height = (int)((env.MaxY - env.MinY) / 1000) + 21, .wkt = c->wkt};
    gb.gt[0] = floor(env.MinX / 1000) * 1000 - 10000;
    gb.gt[1] = 1000;
    gb.gt[3] = floor(env.MaxY / 1000) * 1000 + 10000;
    gb.gt[5] = -1000;
    size_t nb = cc_grid_npix(&gb), valid = 0;
    float *big = malloc(nb * sizeof *big);
    CHECK_OK(cc_s1_read(c->safe, &gb, big, NULL, &c->info));
    for (size_t i = 0; i < nb; i++)
        valid += !isnan(big[i]);
    printf("GRD: 1 km grid %d x %d: %zu valid pixels (km2), footprint %.0f km2\n", gb.width,
           gb.height, valid, area_km2);
    CHECK(fabs(valid - area_km2) < 0.02 * area_km2);
    CHECK(isnan(big[0]) && isnan(big[nb - 1]));
    free(big);
    OGR_G_DestroyGeometry(poly);
    /* a grid entirely outside the swath: OK, all NaN */
    cc_grid go = c->g;
    go.gt[0] += 500000.0;
    c->vv[0] = 0.0f;
    CHECK_OK(cc_s1_read(c->safe, &go, c->vv, c->vh, &c->info));
    CHECK(c->info.has_vv && c->info.has_vh && all_nan(c->vv, c->n) && all_nan(c->vh, c->n));
}

/* 4. the measurement/ folder as the path; only VV wanted.
 * 5. missing VH: NaN VH, info says so */
static void grd_measurement_and_missing_vh(grd_ctx *c)
{
    char *meas = xstrdup_printf("%s/measurement", c->safe);
    CHECK_OK(cc_s1_read(meas, &c->g, c->vv, NULL, &c->info));
    CHECK_NEAR(c->vv[c->at], c->want_vv, 0.02);

    char *vh_aside = xstrdup_printf("%s/iw-vh.tiff.aside", c->tmp);
    CHECK(rename(c->m_vh, vh_aside) == 0);
    CHECK_OK(cc_s1_read(c->safe, &c->g, c->vv, c->vh, &c->info));
    CHECK(c->info.has_vv == 1 && c->info.has_vh == 0);
    CHECK(all_nan(c->vh, c->n));
    CHECK_NEAR(c->vv[c->at], c->want_vv, 0.02);
    CHECK(rename(vh_aside, c->m_vh) == 0);
    free(meas);
    free(vh_aside);
}

/* 6. calibration XML without the sigmaNought LUT; malformed XML; a malformed
 * noise annotation. 7. corrupt measurement TIFF */
static void grd_broken_inputs(grd_ctx *c)
{
    write_calibration(c->c_vh, "VH", c->w, c->h, 0);
    CHECK(cc_s1_read(c->safe, &c->g, c->vv, c->vh, &c->info) == CC_ERR_MISSING);
    CHECK(contains(cc_error_message(), c->c_vh) && contains(cc_error_message(), "sigmaNought"));
    printf("no LUT: %s\n", cc_error_message());
    write_file(c->c_vh, "<calibration><adsHeader><missionId>S1A</missionId></adsHe");
    CHECK(cc_s1_read(c->safe, &c->g, c->vv, c->vh, &c->info) == CC_ERR_FORMAT);
    CHECK(contains(cc_error_message(), c->c_vh));
    write_calibration(c->c_vh, "VH", c->w, c->h, 1);
    /* a malformed noise annotation is an error too (not silently skipped) */
    write_file(c->n_vv, "<noise><noiseRangeVectorList count=\"0\"/></noise>");
    CHECK(cc_s1_read(c->safe, &c->g, c->vv, c->vh, &c->info) == CC_ERR_MISSING);
    CHECK(contains(cc_error_message(), c->n_vv));
    unlink(c->n_vv);

    write_file(c->m_vv, "II*\0 garbage, not a TIFF");
    CHECK(cc_s1_read(c->safe, &c->g, c->vv, c->vh, &c->info) != CC_OK);
    CHECK(contains(cc_error_message(), c->m_vv));
    printf("corrupt: %s\n", cc_error_message());
}

static void grd_free(grd_ctx *c)
{
    CPLFree(c->wkt);
    OCTDestroyCoordinateTransformation(c->ct);
    OSRDestroySpatialReference(c->ll);
    OSRDestroySpatialReference(c->utm);
    free(c->vv);
    free(c->vh);
    free(c->m_vv);
    free(c->m_vh);
    free(c->c_vv);
    free(c->c_vh);
    free(c->n_vv);
    free(c->n_vh);
    free(c->cmd);
    free(c->safe);
    free(c->msg_expect);
    free(c->real_vv);
    free(c->real_vh);
    free(c->real);
}

static void test_grd(const char *shared, const char *tmp)
{
    grd_ctx c;
    memset(&c, 0, sizeof c);
    c.tmp = tmp;
    c.real = xstrdup_printf("%s/datasets/riotilerpds/s1-grd-20180716", shared);
    c.real_vv = xstrdup_printf("%s/measurement/iw-vv.tiff", c.real);
    c.real_vh = xstrdup_printf("%s/measurement/iw-vh.tiff", c.real);
    c.msg_expect = xstrdup_printf("%s/annotation/calibration/calibration-iw-vv.xml", c.real);
    if (!grd_find_gcp(&c))
        return;
    grd_make_grid(&c);
    grd_real_folder(&c);
    grd_make_safe(&c);
    grd_calibrated(&c);
    grd_noise(&c);
    grd_footprint(&c);
    grd_measurement_and_missing_vh(&c);
    grd_broken_inputs(&c);
    grd_free(&c);
}

int main(void)
{
    const char *shared = cc_test_shared_or_skip();
    const char *tmp = cc_test_tmpdir("s1");
    GDALAllRegister();
    double max_lin_vs_db = 0.0;
    for (int k = 0; k < NPATCH; k++)
        test_patch(shared, k, &max_lin_vs_db);
    printf("20 m grid: largest |linear-power mean - dB mean| over the five patches: %.3f dB\n",
           max_lin_vs_db);
    CHECK(max_lin_vs_db > 0.1); /* we really average in linear power */
    test_ard_errors(shared, tmp);
    test_grd(shared, tmp);
    TEST_RETURN();
}
