/* clearcube: the Sentinel-2 tiling grid (MGRS), computed, not looked up.
 *
 * A Sentinel-2 tile is a 100 km MGRS square of one UTM zone, widened by 9.8 km
 * to the east and south: a 109.8 km square (10980 px at 10 m) whose upper-left
 * corner is the square's north-west corner snapped to the 60 m grid
 * (ULX = floor60(easting), ULY = ceil60(northing + 100 km); T32UMF:
 * 399960 / 6100020 in EPSG:32632). Zones follow UTM with the Norway (32V) and
 * Svalbard (31X 33X 35X 37X; no 32X 34X 36X) exceptions. A square belongs to
 * a zone when it intersects the zone's lon/lat extent (-80..84 degrees); its
 * latitude-band letter is the band of the square's centre, so every square has
 * exactly one ID. Tiles of neighbouring zones overlap; the functions below
 * return all tiles whose 109.8 km footprint intersects the area.
 *
 * IDs are 5 characters, without the leading "T" ("32UMF"). Longitudes are in
 * [-180, 180]; an area crossing the antimeridian must be given as two parts.
 * Projection maths: Krüger series (Karney 2011), sub-millimetre in a zone. */
#ifndef CC_IO_GRID_MGRS_H
#define CC_IO_GRID_MGRS_H

#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CC_MGRS_TILE_SIZE 109800.0 /* metres */

/* Tiles whose footprint intersects the lon/lat box [w, e] x [s, n] (degrees;
 * w == e and s == n give the tiles containing a point). Errors (CC_ERR_ARG):
 * w > e (antimeridian: split the box), latitudes outside -80..84, longitudes
 * outside -180..180. On success *ids is a sorted, deduplicated array of
 * *nids strings; free it with cc_mgrs_ids_free. */
cc_status cc_mgrs_tiles_bbox(double w, double s, double e, double n, char ***ids, int *nids);

/* Same for the union of the (multi)polygons in a vector file (GeoJSON or any
 * OGR format; reprojected to WGS 84 lon/lat when the layer has another CRS).
 * Requires GDALAllRegister() (or at least the vector drivers) first. */
cc_status cc_mgrs_tiles_geojson(const char *path, char ***ids, int *nids);

void cc_mgrs_ids_free(char **ids, int nids);

/* The tile of the 100 km square containing a point (its "primary" tile; the
 * point may also lie in the overlap of neighbouring tiles). id gets 6 bytes. */
cc_status cc_mgrs_tile_at(double lon, double lat, char id[8]);

/* Normalises a tile ID ("T32UMF", "32umf" -> "32UMF") and checks that the tile
 * exists in the grid. CC_ERR_ARG with a message naming the ID if not. */
cc_status cc_mgrs_tile_parse(const char *in, char out[8]);

/* Georeferencing of a tile: EPSG code (326zz north, 327zz south) and the
 * upper-left corner in metres; the tile is CC_MGRS_TILE_SIZE wide and high. */
cc_status cc_mgrs_tile_footprint(const char *id, int *epsg, double *ulx, double *uly);

/* UTM maths, exposed for tests: lon/lat (degrees) <-> easting/northing (metres,
 * northing negative south of the equator, no false northing). */
void cc_mgrs_utm_forward(int zone, double lon, double lat, double *e, double *n);
void cc_mgrs_utm_inverse(int zone, double e, double n, double *lon, double *lat);
/* The UTM zone of a point, with the Norway/Svalbard exceptions. */
int cc_mgrs_zone(double lon, double lat);

#ifdef __cplusplus
}
#endif
#endif
