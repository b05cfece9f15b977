/* SAFE reader: a Sentinel-2 L1C/L2A product as a directory or inside a .zip
 * (root "/vsizip/<zip>/<name>.SAFE"). Metadata comes from io/s2/s2_mtd.h; the
 * pixels of every band listed in the product metadata are read at native
 * resolution through GDAL and checked against the tile geocoding. */
#define _GNU_SOURCE /* strdup, strndup; struct stat64 behind VSIStatBufL */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cpl_string.h>
#include <cpl_vsi.h>
#include <ogr_srs_api.h>

#include "core/date.h"
#include "core/log.h"
#include "io/s2/s2_mtd.h"
#include "io/s2/scene-impl.h"

static int path_exists(const char *p)
{
    VSIStatBufL sb;
    return VSIStatL(p, &sb) == 0;
}

/* 1 if the raster CRS (wkt, epsg as identified) is the tile's EPSG code. */
static int crs_is_epsg(const char *wkt, int epsg, int want)
{
    if (epsg)
        return epsg == want;
    OGRSpatialReferenceH a = OSRNewSpatialReference(wkt);
    OGRSpatialReferenceH b = OSRNewSpatialReference(NULL);
    int same = a && b && OSRImportFromEPSG(b, want) == OGRERR_NONE && OSRIsSame(a, b);
    if (a)
        OSRDestroySpatialReference(a);
    if (b)
        OSRDestroySpatialReference(b);
    return same;
}

/* The raster's grid must be the tile's grid at resolution `res` (0: any of
 * the tile's resolutions), or a window of it aligned to its pixels. */
static cc_status check_geometry(GDALDatasetH ds, const char *path, int res, const cc_s2_tile_mtd *t)
{
    double gt[6];
    if (GDALGetGeoTransform(ds, gt) != CE_None)
        return cc_error_set(CC_ERR_CRS, "%s: raster has no georeferencing (geotransform)", path);
    int k = -1;
    for (int i = 0; i < 3; i++)
        if (res ? t->geo[i].res == res : fabs(gt[1] - t->geo[i].xdim) < 1e-6)
            k = i;
    if (k < 0)
        return cc_error_set(CC_ERR_CRS, "%s: pixel size %g m matches none of the tile's grids (10/20/60 m)", path,
                            gt[1]);
    const double xd = t->geo[k].xdim, yd = t->geo[k].ydim;
    if (fabs(gt[1] - xd) > 1e-6 || fabs(gt[5] - yd) > 1e-6 || gt[2] != 0.0 || gt[4] != 0.0)
        return cc_error_set(CC_ERR_CRS, "%s: pixel size %g x %g m, but the tile's %d m grid is %g x %g m", path,
                            gt[1], gt[5], t->geo[k].res, xd, yd);
    const double fx = (gt[0] - t->geo[k].ulx) / xd, fy = (gt[3] - t->geo[k].uly) / yd;
    const double ix = floor(fx + 0.5), iy = floor(fy + 0.5);
    if (fabs(fx - ix) > 1e-6 || fabs(fy - iy) > 1e-6)
        return cc_error_set(CC_ERR_CRS, "%s: origin (%.3f, %.3f) is not aligned to the tile's %d m grid at (%.3f, %.3f)",
                            path, gt[0], gt[3], t->geo[k].res, t->geo[k].ulx, t->geo[k].uly);
    const int w = GDALGetRasterXSize(ds), h = GDALGetRasterYSize(ds);
    if (ix < 0 || iy < 0 || ix + w > t->geo[k].ncols || iy + h > t->geo[k].nrows)
        return cc_error_set(CC_ERR_CRS,
                            "%s: %d x %d pixels at offset (%.0f, %.0f) lie outside the tile's %d m grid (%d x %d)",
                            path, w, h, ix, iy, t->geo[k].res, t->geo[k].ncols, t->geo[k].nrows);
    return CC_OK;
}

/* Reads one JP2 listed in the metadata (rel: path relative to the root,
 * without extension) into r, after the CRS and geometry checks. The first
 * raster read gives the scene its WKT. */
static cc_status read_layer(const char *root, const char *rel, int res, const cc_s2_tile_mtd *t, cc_scene *s,
                            cc_raster_u16 *r, int defer)
{
    cc_status st = CC_OK;
    GDALDatasetH ds = NULL;
    char *wkt = NULL; /* moved into s->wkt if the scene has none yet */
    int epsg = 0;
    char *path = cc_scene_join(root, rel, ".jp2");
    if (!path)
        return CC_ERR_NOMEM;
    if ((st = cc_scene_gdal_open(path, CC_ERR_MISSING, &ds)) != CC_OK)
        goto out;
    if ((st = cc_scene_gdal_crs(ds, path, &wkt, &epsg)) != CC_OK)
        goto out;
    if (!crs_is_epsg(wkt, epsg, t->epsg)) {
        st = epsg ? cc_error_set(CC_ERR_CRS, "%s: CRS is EPSG:%d but MTD_TL.xml says EPSG:%d", path, epsg, t->epsg)
                  : cc_error_set(CC_ERR_CRS, "%s: CRS is not MTD_TL.xml's EPSG:%d", path, t->epsg);
        goto out;
    }
    if ((st = check_geometry(ds, path, res, t)) != CC_OK)
        goto out;
    if ((st = defer ? cc_scene_gdal_describe(ds, path, 1, r) : cc_scene_gdal_read(ds, path, 1, r)) != CC_OK)
        goto out;
    if (!s->wkt) {
        s->wkt = wkt;
        wkt = NULL;
    }
out:
    if (ds)
        GDALClose(ds);
    free(wkt);
    free(path);
    return st;
}

static cc_status verify_manifest(const char *root, const char *label, const cc_scene_options *o, cc_scene *s)
{
    cc_status st = CC_OK;
    int n = 0;
    if (!o->verify_checksums) {
        cc_info("%s: manifest.safe checksums not verified (disabled by option)", label);
        return CC_OK;
    }
    char *man = cc_scene_join(root, "manifest.safe", NULL);
    if (!man)
        return CC_ERR_NOMEM;
    if (!path_exists(man)) {
        cc_info("%s: no manifest.safe: checksums not verified", label);
        goto out;
    }
    if ((st = cc_s2_manifest_verify(root, &n)) != CC_OK)
        goto out;
    s->checksums_verified = n;
    cc_info("%s: verified %d files against manifest.safe", label, n);
out:
    free(man);
    return st;
}

/* ------------------------------------------------------------------------ */
/* SAFE products by content                                                 */
/* ------------------------------------------------------------------------ */

static int has_suffix_ci(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcasecmp(s + a - b, suf) == 0;
}

static int exists_in(const char *dir, const char *name)
{
    char *p = cc_scene_join(dir, name, NULL);
    int ok = p && path_exists(p);
    free(p);
    return ok;
}

/* The product metadata file of root (MTD_MSIL1C.xml, else MTD_MSIL2A.xml),
 * malloc'ed; NULL (no message) when neither exists or out of memory. */
static char *safe_mtd_path(const char *root)
{
    static const char *const names[] = {"MTD_MSIL1C.xml", "MTD_MSIL2A.xml"};
    for (int i = 0; i < 2; i++) {
        char *p = cc_scene_join(root, names[i], NULL);
        if (p && path_exists(p))
            return p;
        free(p);
    }
    return NULL;
}

int cc_s2_safe_dir(const char *dir)
{
    if (exists_in(dir, "MTD_MSIL1C.xml") || exists_in(dir, "MTD_MSIL2A.xml"))
        return 1;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", dir);
    size_t n = strlen(tmp);
    while (n > 1 && tmp[n - 1] == '/')
        tmp[--n] = '\0';
    return has_suffix_ci(tmp, ".SAFE") || exists_in(dir, "manifest.safe") || exists_in(dir, "GRANULE") ? 2 : 0;
}

cc_status cc_s2_zip_safe_root(const char *zip, char **root)
{
    cc_status st = CC_OK;
    char msg[512];
    char *vz = NULL, *found = NULL;
    char **ls = NULL;
    int nsafe = 0;
    *root = NULL;
    size_t len = strlen(zip) + sizeof "/vsizip/";
    vz = malloc(len);
    if (!vz)
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", zip);
    snprintf(vz, len, "/vsizip/%s", zip);
    cc_scene_gdal_quiet_begin();
    ls = VSIReadDir(vz);
    cc_scene_gdal_quiet_end(msg, sizeof msg);
    if (!ls) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: not a readable zip archive or empty%s%s", zip, msg[0] ? ": " : "",
                          msg);
        goto out;
    }
    if (cc_s2_safe_dir(vz) == 1) { /* the product's files at the zip's root */
        found = vz;
        vz = NULL;
        goto out;
    }
    for (int i = 0; ls[i]; i++) {
        char *sub = cc_scene_join(vz, ls[i], NULL);
        VSIStatBufL sb;
        if (!sub) {
            st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", zip);
            goto out;
        }
        if (!has_suffix_ci(ls[i], ".SAFE") &&
            !(VSIStatL(sub, &sb) == 0 && VSI_ISDIR(sb.st_mode) && cc_s2_safe_dir(sub) == 1)) {
            free(sub);
            continue;
        }
        nsafe++;
        free(found);
        found = sub;
    }
    if (nsafe != 1)
        st = cc_error_set(CC_ERR_FORMAT, "%s: zip holds %d SAFE product folders (<name>.SAFE or a folder with "
                          "MTD_MSIL1C.xml / MTD_MSIL2A.xml), expected exactly one", zip, nsafe);
out:
    if (st == CC_OK)
        *root = found;
    else
        free(found);
    CSLDestroy(ls);
    free(vz);
    return st;
}

cc_status cc_s2_product_identify(const char *path, cc_s2_product_info *info)
{
    cc_status st = CC_OK;
    char *root = NULL, *mtd = NULL;
    cc_s2_product_mtd pm;
    VSIStatBufL sb;
    memset(&pm, 0, sizeof pm);
    memset(info, 0, sizeof *info);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (VSIStatL(path, &sb) != 0)
        return cc_error_set(CC_ERR_IO, "%s: no such file or folder", path);
    if (VSI_ISDIR(sb.st_mode)) {
        if (!(mtd = safe_mtd_path(path)))
            return cc_error_set(CC_ERR_MISSING, "%s: SAFE product without MTD_MSIL1C.xml or MTD_MSIL2A.xml", path);
    } else if (has_suffix_ci(path, ".zip")) {
        if ((st = cc_s2_zip_check(path, 0)) != CC_OK || (st = cc_s2_zip_safe_root(path, &root)) != CC_OK)
            goto out;
        if (!(mtd = safe_mtd_path(root))) {
            st = cc_error_set(CC_ERR_MISSING, "%s: SAFE product without MTD_MSIL1C.xml or MTD_MSIL2A.xml", path);
            goto out;
        }
    } else if (!strcmp(base, "MTD_MSIL1C.xml") || !strcmp(base, "MTD_MSIL2A.xml")) {
        if (!(mtd = strdup(path))) {
            st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
            goto out;
        }
    } else {
        return cc_error_set(CC_ERR_FORMAT, "%s: not a SAFE product (a folder or .zip holding MTD_MSIL1C.xml or "
                                           "MTD_MSIL2A.xml)", path);
    }
    if ((st = cc_s2_mtd_product_read(mtd, &pm)) != CC_OK)
        goto out;
    if (!pm.tile_id[0]) {
        st = cc_error_set(CC_ERR_MISSING, "%s: names no tile (neither the granule nor PRODUCT_URI has _Txxxxx_)", mtd);
        goto out;
    }
    info->level = pm.level;
    info->spacecraft = pm.spacecraft;
    snprintf(info->product_id, sizeof info->product_id, "%s", pm.product_id);
    snprintf(info->processing_baseline, sizeof info->processing_baseline, "%s", pm.processing_baseline);
    snprintf(info->tile_id, sizeof info->tile_id, "%s", pm.tile_id);
    cc_date_format(cc_date_to_days(pm.year, pm.month, pm.day), info->date);
    info->sensing_time = pm.sensing_time;
    snprintf(info->mtd, sizeof info->mtd, "%s", mtd);
out:
    cc_s2_mtd_product_free(&pm);
    free(mtd);
    free(root);
    return st;
}

cc_status cc_scene_read_safe(const char *root, const char *label, const cc_scene_options *o, cc_scene *s)
{
    cc_status st = CC_OK;
    cc_s2_product_mtd pm;
    cc_s2_tile_mtd tm;
    char *mtd = NULL, *tl = NULL; /* owned here */
    int want[CC_NBANDS], explicit_bands = 0;
    memset(&pm, 0, sizeof pm);
    memset(&tm, 0, sizeof tm);

    for (int b = 0; b < CC_NBANDS; b++)
        want[b] = 1;
    if (o->bands) {
        int ids[CC_NLAYERS], n = 0;
        if ((st = cc_scene_parse_bands(label, o->bands, 1, ids, &n)) != CC_OK)
            return st;
        for (int b = 0; b < CC_NBANDS; b++)
            want[b] = 0;
        for (int i = 0; i < n; i++)
            if (ids[i] < CC_NBANDS)
                want[ids[i]] = 1;
        explicit_bands = 1;
    }

    /* product metadata */
    if (!(mtd = safe_mtd_path(root))) {
        st = cc_error_set(CC_ERR_MISSING, "%s: SAFE product without MTD_MSIL1C.xml or MTD_MSIL2A.xml", label);
        goto out;
    }
    if ((st = cc_s2_mtd_product_read(mtd, &pm)) != CC_OK)
        goto out;
    /* PB >= 04.00 stores DN = 10000 rho + 1000: an offset of 0 would make every
     * reflectance 0.1 too high, so a product without its offsets is refused
     * unless the caller gives one (--dn-offset) */
    if (pm.radio_offset_count == 0 && atof(pm.processing_baseline) >= 4.0 && isnan(o->dn_offset)) {
        st = cc_error_set(CC_ERR_MISSING,
                          "%s: processing baseline %s but no %s listed; refused (every reflectance would be 0.1 "
                          "off); give the offset explicitly with --dn-offset (normally -1000)",
                          mtd, pm.processing_baseline, pm.level == CC_LEVEL_L1C ? "RADIO_ADD_OFFSET" : "BOA_ADD_OFFSET");
        goto out;
    }

    /* tile metadata */
    tl = cc_scene_join(root, pm.granule_dir, "/MTD_TL.xml");
    if (!tl) {
        st = CC_ERR_NOMEM;
        goto out;
    }
    if (!path_exists(tl)) {
        st = cc_error_set(CC_ERR_MISSING, "%s: no such file (the granule metadata %s lists)", tl, mtd);
        goto out;
    }
    if ((st = cc_s2_mtd_tile_read(tl, &tm)) != CC_OK)
        goto out;

    /* checksums before any pixel is decoded */
    if ((st = verify_manifest(root, label, o, s)) != CC_OK)
        goto out;

    s->level = pm.level;
    s->spacecraft = pm.spacecraft;
    snprintf(s->product_id, sizeof s->product_id, "%s", pm.product_id);
    snprintf(s->tile_id, sizeof s->tile_id, "%s", tm.tile_id);
    s->year = pm.year;
    s->month = pm.month;
    s->day = pm.day;
    s->sensing_time = pm.sensing_time;
    snprintf(s->processing_baseline, sizeof s->processing_baseline, "%s", pm.processing_baseline);
    s->quantification = pm.quantification;
    memcpy(s->radio_offset, pm.radio_offset, sizeof s->radio_offset);
    memcpy(s->solar_irradiance, pm.solar_irradiance, sizeof s->solar_irradiance);
    s->u = pm.u;
    s->nodata_dn = pm.nodata_dn;
    s->saturated_dn = pm.saturated_dn;
    s->aot_quantification = pm.aot_quantification;
    s->wvp_quantification = pm.wvp_quantification;
    s->epsg = tm.epsg;
    if (pm.nodata_dn != 0)
        cc_warn("%s: metadata declares NODATA %u; clearcube treats DN 0 as nodata", mtd, (unsigned)pm.nodata_dn);

    /* spectral bands at native resolution */
    for (int b = 0; b < CC_NBANDS; b++) {
        if (!want[b])
            continue;
        if (!pm.image_file[b]) {
            if (explicit_bands) {
                st = cc_error_set(CC_ERR_MISSING, "%s: option bands asks for %s, which %s does not list", label,
                                  cc_band_names[b], mtd);
                goto out;
            }
            if (!(pm.level == CC_LEVEL_L2A && b == CC_B10))
                cc_warn("%s: %s does not list band %s", label, mtd, cc_band_names[b]);
            continue;
        }
        if ((st = read_layer(root, pm.image_file[b], cc_band_resolution[b], &tm, s, &s->band[b],
                             (o->defer_bands >> b) & 1u)) != CC_OK)
            goto out;
    }

    /* L2A layers (20 m preferred by the metadata reader) */
    if (pm.level == CC_LEVEL_L2A) {
        const char *files[3] = {pm.scl_file, pm.aot_file, pm.wvp_file};
        for (int k = 0; k < 3; k++) {
            if (!files[k]) {
                cc_warn("%s: %s does not list the %s layer", label, mtd, cc_scene_layer_name(CC_LAYER_SCL + k));
                continue;
            }
            st = read_layer(root, files[k], 0, &tm, s, cc_scene_layer(s, CC_LAYER_SCL + k), 0);
            if (st != CC_OK)
                goto out;
        }
    }

    /* angle grids: ownership moves from the tile metadata to the scene */
    s->sun_zenith = tm.sun_zenith;
    s->sun_azimuth = tm.sun_azimuth;
    tm.sun_zenith.v = tm.sun_azimuth.v = NULL;
    for (int b = 0; b < CC_NBANDS; b++) {
        s->view_zenith[b] = tm.view_zenith[b];
        s->view_azimuth[b] = tm.view_azimuth[b];
        tm.view_zenith[b].v = tm.view_azimuth[b].v = NULL;
    }

    /* options set by the caller override the metadata */
    st = cc_scene_apply_options(s, label, o);
out:
    cc_s2_mtd_product_free(&pm);
    cc_s2_mtd_tile_free(&tm);
    free(mtd);
    free(tl);
    return st;
}
