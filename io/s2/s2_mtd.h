/* clearcube: Sentinel-2 SAFE metadata (MTD_MSIL1C/MTD_MSIL2A, MTD_TL) and
 * manifest.safe checksum verification.
 *
 * XML is parsed with GDAL's CPL mini-XML parser, so every path may also be a
 * /vsizip/ (or other VSI) path. On failure each function returns a cc_status
 * and leaves a one-line message naming the file and the problem. */
#ifndef CC_IO_S2_S2_MTD_H
#define CC_IO_S2_S2_MTD_H

#include <stdint.h>

#include "core/error.h"
#include "io/s2/scene.h"

#ifdef __cplusplus
extern "C" {
#endif

/* product-level metadata, MTD_MSIL1C.xml or MTD_MSIL2A.xml */
typedef struct {
    cc_level level;                 /* from the root element / PRODUCT_TYPE         */
    cc_spacecraft spacecraft;       /* SPACECRAFT_NAME; CC_SC_UNKNOWN -> error       */
    char product_id[128];           /* PRODUCT_URI without ".SAFE"                   */
    char processing_baseline[8];    /* "02.04"                                       */
    int year, month, day; double sensing_time; /* PRODUCT_START_TIME, UTC, s since epoch */
    double quantification;          /* QUANTIFICATION_VALUE (L1C) / BOA_QUANTIFICATION_VALUE (L2A) */
    double radio_offset[CC_NBANDS]; /* RADIO_ADD_OFFSET / BOA_ADD_OFFSET by band_id; 0 when absent (PB < 04.00) */
    int radio_offset_count;         /* how many offsets the metadata lists (0: none; a PB >= 04.00 product without any is refused by the scene reader) */
    double solar_irradiance[CC_NBANDS];
    double u;                       /* Reflectance_Conversion/U                      */
    double aot_quantification, wvp_quantification; /* L2A, else 0                    */
    uint16_t nodata_dn, saturated_dn; /* Special_Values NODATA / SATURATED           */
    char *image_file[CC_NBANDS];    /* IMAGE_FILE path relative to the SAFE root, no extension, at the band's NATIVE resolution (L2A: R10m/R20m/R60m; pick _10m for B02,B03,B04,B08; _20m for B05,B06,B07,B8A,B11,B12; _60m for B01,B09); NULL if not listed. L2A has no B10. Owned. */
    char *scl_file, *aot_file, *wvp_file; /* L2A: SCL_20m, AOT_20m (or 10m), WVP_20m; NULL for L1C. Owned. */
    char *granule_dir;              /* "GRANULE/L1C_T32UMF_A008828_20170301T103326", owned */
    char tile_id[8];                /* "32UMF": the granule's (its folder or granuleIdentifier), else
                                       PRODUCT_URI's "_Txxxxx_" token; "" if none names one */
} cc_s2_product_mtd;

/* Reads a product metadata file into *out (zeroed first). On failure every
 * owned string is already freed and *out is zeroed. On success the caller
 * frees the owned strings with cc_s2_mtd_product_free().
 * Statuses: CC_ERR_IO (cannot open), CC_ERR_FORMAT (not XML, not a S2
 * product file, bad number/time), CC_ERR_MISSING (required element absent),
 * CC_ERR_UNSUPPORTED (unknown SPACECRAFT_NAME). Special values default to
 * NODATA 0 / SATURATED 65535 when not listed. PB >= 04.00 without offsets
 * logs a warning and keeps 0. */
cc_status cc_s2_mtd_product_read(const char *xml_path, cc_s2_product_mtd *out);
void cc_s2_mtd_product_free(cc_s2_product_mtd *m);   /* frees owned strings, safe on zeroed struct */

/* tile-level metadata, GRANULE/<id>/MTD_TL.xml */
typedef struct {
    char tile_id[8];                /* "32UMF" from TILE_ID                          */
    int epsg;                       /* HORIZONTAL_CS_CODE "EPSG:32632" -> 32632      */
    struct { int res, nrows, ncols; double ulx, uly, xdim, ydim; } geo[3]; /* 10, 20, 60 m */
    double sensing_time;
    cc_angle_grid sun_zenith, sun_azimuth;              /* 23x23 nodes, 5000 m step, node (0,0) at ULX/ULY */
    cc_angle_grid view_zenith[CC_NBANDS], view_azimuth[CC_NBANDS]; /* nanmean over detectors per band */
    double mean_sun_zenith, mean_sun_azimuth;           /* Mean_Sun_Angle                */
    double mean_view_zenith[CC_NBANDS], mean_view_azimuth[CC_NBANDS]; /* Mean_Viewing_Incidence_Angle_List */
    double cloudy_pixel_percentage;
} cc_s2_tile_mtd;

/* Reads a tile metadata file into *out (zeroed first). The angle grids' v
 * arrays are owned by *out and freed with cc_s2_mtd_tile_free(); on failure
 * nothing is left allocated.
 * - Every grid must have the sun grid's size and step, and the sun grid must
 *   cover the 10 m raster extent; otherwise CC_ERR_FORMAT ("wrong grid size").
 * - View grids: per node, zenith = nanmean over detectors, azimuth = circular
 *   (sin/cos) mean over detectors; NaN where no detector has data. A band
 *   without any Viewing_Incidence_Angles_Grids keeps v == NULL, nx == 0.
 * - mean_view_* is NaN for bands absent from Mean_Viewing_Incidence_Angle_List;
 *   cloudy_pixel_percentage is NaN when CLOUDY_PIXEL_PERCENTAGE is absent. */
cc_status cc_s2_mtd_tile_read(const char *xml_path, cc_s2_tile_mtd *out);
void cc_s2_mtd_tile_free(cc_s2_tile_mtd *t);

/* Verifies every file listed in <safe_root>/manifest.safe (dataObject/byteStream/fileLocation href + checksum; MD5 and SHA3-256 as used by ESA) that exists. *n_verified = number checked. Missing manifest -> CC_OK with *n_verified = 0 (caller logs "no manifest"). A mismatch -> CC_ERR_CHECKSUM naming the file. safe_root may be a /vsizip/ path: read through VSI (cpl_vsi.h: VSIFOpenL/VSIFReadL). */
cc_status cc_s2_manifest_verify(const char *safe_root, int *n_verified);

/* SAFE products by their content, whatever they are called (s2_safe.c; the
 * scene reader and the job catalogue scan share these).
 * cc_s2_safe_dir: 1 if the folder holds MTD_MSIL1C.xml or MTD_MSIL2A.xml; 2 if
 * it only looks like a product (a name ending in .SAFE, or manifest.safe or
 * GRANULE/ inside: a product missing its metadata, read as one so that this is
 * reported); 0 otherwise. Works on /vsizip/ paths. */
int cc_s2_safe_dir(const char *dir);

/* The product inside a .zip: the zip's root when the MTD lies there, else its
 * one top-level folder that is a product (cc_s2_safe_dir) or is named *.SAFE.
 * *root is malloc'ed "/vsizip/ZIP" or "/vsizip/ZIP/NAME" (caller frees). */
cc_status cc_s2_zip_safe_root(const char *zip, char **root);

/* What a SAFE product is, from its product metadata only: the small
 * MTD_MSIL1C.xml / MTD_MSIL2A.xml, not the granule metadata or any pixel. */
typedef struct {
    cc_level level;
    cc_spacecraft spacecraft;
    char product_id[128];           /* PRODUCT_URI without ".SAFE"                   */
    char processing_baseline[8];    /* "02.04"                                       */
    char tile_id[8];                /* "32UMF"                                       */
    char date[11];                  /* "YYYY-MM-DD" of PRODUCT_START_TIME (UTC)       */
    double sensing_time;            /* PRODUCT_START_TIME, s since 1970 (UTC)        */
    char mtd[4200];                 /* the metadata file read (a /vsizip/ path for a zip) */
} cc_s2_product_info;

/* Identifies the product at `path`: a SAFE folder (by content: cc_s2_safe_dir),
 * a .zip holding one (its central directory checked first, cc_s2_zip_check
 * without inflating), or the MTD file itself. Errors are one line naming the
 * product or its metadata file: CC_ERR_MISSING (no MTD; no tile named),
 * CC_ERR_FORMAT (not a product, a bad zip or MTD), CC_ERR_IO, ... as
 * cc_s2_mtd_product_read. */
cc_status cc_s2_product_identify(const char *path, cc_s2_product_info *info);

/* Checks a .zip before GDAL reads it (zipcheck.c): entries that escape the
 * product folder (absolute, "..", backslashes), symbolic links, encrypted
 * entries, other compression methods and implausible size ratios (zip bombs)
 * are refused with CC_ERR_FORMAT naming the zip and the entry. With `sizes`
 * every entry is also inflated once and must give exactly its declared size
 * and CRC-32 (the check for archives whose checksums are not verified). */
cc_status cc_s2_zip_check(const char *zip, int sizes);

#ifdef __cplusplus
}
#endif
#endif
