/* clearcube: local catalogues, one reader (io/stac/stac.c, docs/formats/catalogue.md):
 *   - STAC Items and ItemCollections (GeoJSON Feature / FeatureCollection, STAC 1.0),
 *     whose assets point at SAFE folders, SAFE zips, a file of a SAFE folder (its
 *     MTD_MSIL1C.xml / MTD_MSIL2A.xml or manifest.safe: the folder, whatever its
 *     name), one multi-band raster or one raster per band (COG, GeoTIFF, JP2), on
 *     the local file system;
 *   - the clearcube scene sidecar: a small JSON object ("type": "clearcube-scene")
 *     giving the metadata of a band stack that has none;
 *   - product lists: text files with one product path a line.
 *
 * Metadata read from STAC properties: datetime (or start_datetime), the tile
 * (s2:mgrs_tile, mgrs:utm_zone + mgrs:latitude_band + mgrs:grid_square, grid:code
 * "MGRS-32UMF", sentinel:utm_zone/latitude_band/grid_square), platform
 * ("sentinel-2a" -> S2A), s2:processing_baseline, s2:product_type / processing:level
 * (L1C or L2A), view:sun_azimuth and view:sun_elevation (or s2:mean_solar_azimuth /
 * s2:mean_solar_zenith), view:incidence_angle and view:azimuth, proj:epsg; asset
 * eo:bands names (B01..B12, B8A or common names) and raster:bands offset/scale
 * (the DN offset). Relative hrefs are relative to the JSON file's folder.
 *
 * The reader uses core/ only (io/s2 builds scenes from its items, io/s2/scene.c).
 *
 * Errors are one line naming the file, the item and the field ("cat.json: item
 * 'x': properties.datetime: missing"). Fuzzing entry points (tests/fuzz):
 * cc_stac_parse (bytes, length: no file is opened) and cc_stac_read (a path). */
#ifndef CC_IO_STAC_STAC_H
#define CC_IO_STAC_STAC_H

#include <stddef.h>

#include "core/bands.h"
#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    CC_STAC_PRODUCT = 1, /* a SAFE folder or a SAFE .zip: the product's own metadata rules */
    CC_STAC_STACK,       /* one multi-band raster, bands in `bands` order */
    CC_STAC_BANDS        /* one raster per band, band_href[CC_Bxx] */
} cc_stac_kind;

typedef struct {
    char id[128];                 /* STAC id; the sidecar's file stem */
    cc_stac_kind kind;
    char *href;                   /* PRODUCT / STACK: the resolved path; owned */
    char *band_href[CC_NBANDS];   /* BANDS: resolved paths, NULL where absent; owned */
    char bands[160];              /* STACK: "B02,B03,..." (the raster's band order); "" if not given */
    char datetime[40];            /* "YYYY-MM-DDTHH:MM:SS[.f]Z" (UTC), as cc_scene_options.date takes it */
    char date[11];                /* "YYYY-MM-DD" */
    double time;                  /* seconds since 1970-01-01 UTC */
    char tile[8];                 /* "32UMF" (the ID's form is checked; the catalogue checks that ESA
                                     publishes it); "" if not given */
    char spacecraft[4];           /* "S2A", "S2B", "S2C"; "" if not given */
    char processing_baseline[8];  /* "04.00"; "" if not given */
    char level[4];                /* "L1C", "L2A"; "" if not given */
    double sun_zenith, sun_azimuth, view_zenith, view_azimuth; /* degrees; NaN if not given */
    double dn_offset;             /* DN offset (RADIO_ADD_OFFSET); NaN if not given */
    double elevation;             /* surface elevation in metres (clearcube:elevation); NaN if not given */
    int epsg;                     /* proj:epsg; 0 if not given */
} cc_stac_item;

/* Parses a JSON document: a STAC Item, an ItemCollection / FeatureCollection of
 * Items, or a clearcube scene sidecar. `name` names the document in messages;
 * relative hrefs are resolved against `base_dir` (NULL or "": kept relative).
 * Opens no file. On success *items (free with cc_stac_free) holds *n >= 1 items;
 * on failure nothing is allocated and the message names `name`, the item and
 * the field. */
cc_status cc_stac_parse(const char *bytes, size_t len, const char *name, const char *base_dir,
                        cc_stac_item **items, int *n);

/* The same for a file (hrefs relative to its folder). */
cc_status cc_stac_read(const char *path, cc_stac_item **items, int *n);

void cc_stac_free(cc_stac_item *items, int n);

/* 1 if `path` names a JSON document by its extension (.json, .geojson), or a
 * reference "FILE.json#ID" to one item of it. */
int cc_stac_is_json(const char *path);

/* Reads the item a reference names: "FILE.json#ID" (the item with that id) or
 * "FILE.json" (its only item; an error if it has several). *item owns its
 * strings (free with cc_stac_free(item, 1)). */
cc_status cc_stac_read_ref(const char *ref, cc_stac_item **item);

/* Checks that the item's data files exist (CC_ERR_IO naming `name`, the item
 * and the missing path). */
cc_status cc_stac_check_assets(const cc_stac_item *it, const char *name);

/* Reads a product list: one path a line; blank lines and lines starting with
 * '#' are skipped; relative paths are relative to the list's folder. *paths
 * (free each and the array) gets *n paths. CC_ERR_IO if unreadable,
 * CC_ERR_FORMAT (naming file:line) for a line with a NUL or control character. */
cc_status cc_stac_read_list(const char *path, char ***paths, int *n);

/* The inputs an argument stands for, for commands that take products:
 * a STAC file gives "FILE#ID" per item ("FILE" when it holds one), a product
 * list (name ending .txt or .list) its lines (STAC files among them expanded
 * too), anything else itself. *refs (free each and the array) gets *n >= 1. */
cc_status cc_stac_expand(const char *arg, char ***refs, int *n);

#ifdef __cplusplus
}
#endif
#endif
