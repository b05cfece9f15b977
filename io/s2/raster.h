/* clearcube: the helpers shared by the Sentinel-2 scene readers (s2_safe.c,
 * stack.c) and the front door (scene.c), implemented in raster.c. Not part
 * of the public interface. raster.c calls neither reader: scene.c -> readers
 * -> raster.c, no circle.
 *
 * Ownership: every helper that fills a cc_raster_u16, cc_angle_grid or a
 * string hands ownership to the cc_scene it writes into; cc_scene_free()
 * releases all of it. */
#ifndef CC_IO_S2_RASTER_H
#define CC_IO_S2_RASTER_H

#include <stddef.h>

#include <gdal.h>

#include "core/error.h"
#include "io/s2/scene.h"

/* Layer ids: the 13 spectral bands (CC_B01..CC_B12), then the L2A layers. */
enum { CC_LAYER_SCL = CC_NBANDS, CC_LAYER_AOT, CC_LAYER_WVP, CC_NLAYERS };

/* The raster of a layer id (band, SCL, AOT or WVP). */
cc_raster_u16 *cc_scene_layer(cc_scene *s, int layer);
/* "B02", "SCL", ... for a layer id. */
const char *cc_scene_layer_name(int layer);
/* Layer id of "B02"/"b8a"/"SCL"/"aot"... (-1 if unknown). Band names follow
 * cc_band_index(). */
int cc_scene_layer_index(const char *name);

/* Parses a comma-separated band list ("B02,B03,SCL") into ids[] (at most
 * CC_NLAYERS), rejecting unknown names, duplicates and empty lists with
 * CC_ERR_ARG naming the option and `input`. allow_l2a: SCL/AOT/WVP accepted. */
cc_status cc_scene_parse_bands(const char *input, const char *list, int allow_l2a, int ids[CC_NLAYERS],
                               int *n);

/* "YYYY-MM-DD" (optionally followed by "THH:MM[:SS[.fff]][Z]") -> date and
 * seconds since the epoch (UTC). CC_ERR_ARG naming `input` on a bad date. */
cc_status cc_scene_parse_date(const char *input, const char *date, int *y, int *m, int *d, double *t);

/* Checks the option values that are set (ranges, spacecraft, date, bands);
 * does not check that required ones are present. */
cc_status cc_scene_check_options(const char *input, const cc_scene_options *o);

/* Finds a "T\d\d[A-Z]{3}" token (delimited by non-alphanumerics) in name and
 * writes "33UUU" to out. Returns 1 if found. */
int cc_scene_tile_token(const char *name, char out[8]);

/* Makes g a constant 1x1 grid at (x0, y0) with node spacing (dx, dy).
 * g->v is allocated (owned by whoever owns g). */
cc_status cc_scene_const_grid(cc_angle_grid *g, double value, double x0, double y0, double dx, double dy);

/* "dir/name" + ext (ext may be NULL), malloc'ed (caller frees); NULL with
 * CC_ERR_NOMEM set on failure. */
char *cc_scene_join(const char *dir, const char *name, const char *ext);

/* ---- GDAL helpers (errors are captured, not printed) ---- */

/* Pushes a handler that keeps GDAL errors out of the terminal (warnings go to
 * the debug log); cc_scene_gdal_quiet_end copies GDAL's last message (one
 * line) into buf, pops the handler and returns nonzero if GDAL reported a
 * failure in between. */
void cc_scene_gdal_quiet_begin(void);
int cc_scene_gdal_quiet_end(char *buf, size_t n);

/* Opens a raster read-only. A path that does not exist gives `missing_st`
 * (CC_ERR_IO for the user's input, CC_ERR_MISSING for a file the metadata
 * lists); a file GDAL cannot open gives CC_ERR_FORMAT. Close with GDALClose. */
cc_status cc_scene_gdal_open(const char *path, cc_status missing_st, GDALDatasetH *ds);

/* The dataset's CRS as WKT (*wkt malloc'ed, caller frees) and EPSG code (0 if
 * it cannot be identified). No CRS -> CC_ERR_CRS naming path. */
cc_status cc_scene_gdal_crs(GDALDatasetH ds, const char *path, char **wkt, int *epsg);

/* Reads raster band `bandno` (1-based) of ds as uint16 into r (r->dn and
 * r->source allocated; the caller's scene owns them). The band must be Byte
 * or UInt16 on a north-up grid. A nodata value other than 0 declared by the
 * file is mapped to DN 0. Decoder failures (e.g. a truncated JPEG 2000) give
 * CC_ERR_FORMAT with GDAL's message. */
cc_status cc_scene_gdal_read(GDALDatasetH ds, const char *path, int bandno, cc_raster_u16 *r);

/* The same without decoding: r gets present, size, geotransform and source,
 * r->dn stays NULL (the checks of cc_scene_gdal_read are made). */
cc_status cc_scene_gdal_describe(GDALDatasetH ds, const char *path, int bandno, cc_raster_u16 *r);

/* Applies the options that are set on top of what a reader filled:
 * spacecraft, date, dn_offset (all bands), sun/view angles (constant grids
 * at the finest band's origin). Used for SAFE overrides and for stacks. */
cc_status cc_scene_apply_options(cc_scene *s, const char *input, const cc_scene_options *o);

/* Every band and L2A layer must lie on one grid: layers of one pixel size
 * have the same origin (to 1 % of a pixel) and size; layers of different
 * pixel sizes have origins a whole number of finer pixels apart and ground
 * extents that differ by less than the coarser pixel (per-band crops). CC_ERR_CRS naming the layer and both extents otherwise: a band that
 * disagrees would be silently resampled or cropped downstream. */
cc_status cc_scene_check_grids(const cc_scene *s, const char *input);

/* CC_ERR_CRS when wkt is a geographic (lat/lon) CRS: the products work on a
 * projected (UTM) grid in metres and would treat degrees as metres. */
cc_status cc_scene_require_projected(const char *wkt, const char *path);

/* CC_ERR_NODATA if no band is present or every present band is all DN 0. */
cc_status cc_scene_check_nodata(const cc_scene *s, const char *input);

/* Frees a raster's pixels and source name (the raster itself is not freed). */
void cc_scene_raster_free(cc_raster_u16 *r);

#endif
