/* clearcube: a cube exported as Cloud-Optimized GeoTIFFs and STAC Items
 * (`clearcube export CUBE --to cog DIR`; docs/formats/cube.md, "Export").
 *
 * For each date of the cube and each of its layers (time, y, x), one COG
 * written by GDAL's COG driver: <tile>_<product>_<YYYY-MM-DD>_<layer>.tif
 * (DEFLATE, 512 x 512 tiles, overviews down to one tile: at least one level;
 * AVERAGE for measurements, NEAREST for flag layers), the layer's DN as
 * stored (uint16, or uint8 for flag layers), nodata = _FillValue, scale and
 * offset of the DN (GDAL's scale/offset metadata), units, and the long name,
 * flag_masks / flag_values / flag_meanings as band metadata. Per date one STAC
 * Item (STAC 1.0.0, GeoJSON Feature; the projection and raster extensions):
 * <tile>_<product>_<YYYY-MM-DD>.json with geometry and bbox in WGS 84, the
 * date as properties.datetime, one asset per layer (relative href, COG media
 * type, nodata/scale/offset/unit) and a self link.
 *
 * All files are written as temporaries in DIR and renamed into place as one
 * set only when every one is complete (core/fs.h): a failure (not a cube, a
 * directory that cannot be written, a full disk) leaves nothing new. Existing
 * files of the same names are replaced. */
#ifndef CC_IO_CUBE_EXPORT_H
#define CC_IO_CUBE_EXPORT_H

#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int ndates, nlayers;  /* exported                                 */
    int nfiles;           /* COGs + Items written                      */
} cc_cube_export_result;

/* Exports the cube at `cube` into `dir` (created with its parents if absent). */
cc_status cc_cube_export_cog(const char *cube, const char *dir, cc_cube_export_result *r);

#ifdef __cplusplus
}
#endif
#endif
