/* clearcube: an optical Sentinel-2 scene in memory (L1C or L2A).
 *
 * A cc_scene holds every band present at its native resolution as uint16 DN
 * with its own georeferencing, the radiometric metadata needed to turn DN into
 * reflectance, and the sun/view angle grids. It is filled by one of the readers
 * (cc_scene_open_safe for SAFE products, dir or .zip; cc_scene_open_stack for
 * GeoTIFF stacks or folders of per-band files without SAFE metadata) and freed
 * with cc_scene_free().
 *
 * Conventions: reflectance rho = (DN + radio_offset[b]) / quantification,
 * DN == 0 (and DN == nodata_dn when the file declares another nodata) is
 * nodata. Band indices follow CC_B01..CC_B12 (13 bands, B10 included).
 */
#ifndef CC_IO_S2_SCENE_H
#define CC_IO_S2_SCENE_H

#include <stdint.h>

#include "core/bands.h"
#include "core/error.h"
#include "core/reflectance.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One raster on a north-up grid. gt is the GDAL geotransform. */
typedef struct {
    int present;      /* 0 if the band is absent from the product             */
    int width, height;
    double gt[6];
    uint16_t *dn;     /* width*height DN values, row-major; owned by scene   */
    char *source;     /* path GDAL opened (e.g. /vsizip/...jp2); owned        */
} cc_raster_u16;

/* An angle grid (degrees). Values sit at grid NODES: node (i, j) is at map
 * coordinates (x0 + i*dx, y0 + j*dy). Sentinel-2 MTD_TL: 23x23 nodes, 5000 m
 * steps, node (0,0) at the tile's ULX/ULY. NaN where undefined. */
typedef struct {
    int nx, ny;
    double x0, y0;    /* map coordinates of node (0,0)                         */
    double dx, dy;    /* node spacing in metres (dy negative: north-up)        */
    float *v;         /* nx*ny values, row-major, NaN = no data; owned        */
} cc_angle_grid;

/* Bilinear, NaN-aware sample of an angle grid at map coordinates (x, y):
 * NaN nodes are ignored and the remaining weights renormalised; if all four
 * are NaN, the nearest valid node in the grid is used. Returns NaN only if
 * the grid has no valid value at all. Azimuths must be interpolated with
 * cc_angle_grid_sample_azimuth (wrap-around safe). */
double cc_angle_grid_sample(const cc_angle_grid *g, double x, double y);
double cc_angle_grid_sample_azimuth(const cc_angle_grid *g, double x, double y);
double cc_angle_grid_mean(const cc_angle_grid *g); /* nanmean */

typedef enum { CC_LEVEL_L1C = 1, CC_LEVEL_L2A = 2 } cc_level;

typedef struct {
    cc_level level;
    cc_spacecraft spacecraft;
    char product_id[128];       /* PRODUCT_URI without .SAFE, or file stem    */
    char tile_id[8];            /* "32UMF" (no leading T); "" if unknown       */
    int year, month, day;       /* sensing date (UTC)                          */
    double sensing_time;        /* seconds since 1970-01-01 UTC                */
    char processing_baseline[8];/* "02.04", "04.00"; "" if unknown            */
    double quantification;      /* 10000 (BOA/TOA quantification value)        */
    double radio_offset[CC_NBANDS]; /* RADIO_ADD_OFFSET / BOA_ADD_OFFSET (DN) */
    double solar_irradiance[CC_NBANDS]; /* W m-2 um-1; 0 if unknown           */
    double u;                   /* Earth-Sun distance correction; 0 if unknown */
    uint16_t nodata_dn;         /* 0 by convention                             */
    uint16_t saturated_dn;      /* 65535 by convention                         */

    char *wkt;                  /* CRS of the bands (WKT); owned               */
    int epsg;                   /* EPSG code if known, else 0                  */
    cc_raster_u16 band[CC_NBANDS];

    /* Angles. For SAFE: sun grid from MTD_TL; view grids are the nanmean
     * over detectors per band. For stacks: constant 1x1 grids from options. */
    cc_angle_grid sun_zenith, sun_azimuth;
    cc_angle_grid view_zenith[CC_NBANDS], view_azimuth[CC_NBANDS];

    /* L2A only (present == 0 otherwise): scene classification, aerosol optical
     * thickness (DN/1000) and water vapour (DN/1000 g cm-2). */
    cc_raster_u16 scl, aot, wvp;
    double aot_quantification, wvp_quantification; /* 1000 */

    int checksums_verified;     /* number of files verified against manifest.safe */
    char *mosaic_note;          /* same-day mosaics: "P1 (baseline 04.00): N px of B02; P2 (...): M px of B02"; owned,
                                   NULL otherwise */
    double elevation;           /* surface elevation (m) a catalogue gives (clearcube:elevation); NaN if none */
} cc_scene;

/* Options for inputs without SAFE metadata (and overrides for SAFE). A field
 * left at its "unset" value (NaN, NULL, 0) is not applied. */
typedef struct {
    const char *bands;          /* "B01,B02,..." band order of a stack / files  */
    const char *spacecraft;     /* "S2A"                                        */
    const char *date;           /* "YYYY-MM-DD"                                 */
    double sun_zenith, sun_azimuth, view_zenith, view_azimuth; /* degrees; NaN = unset */
    double dn_offset;           /* RADIO_ADD_OFFSET for all bands; NaN = unset  */
    int verify_checksums;       /* 1 (default): verify manifest.safe when present */
    uint32_t defer_bands;       /* SAFE products: bands (bit 1u << CC_Bxx) left
                                   undecoded: present, width, height, gt and
                                   source are set, dn stays NULL, and the caller
                                   reads them from `source` window by window
                                   (Rapid BoA overlaps that decoding with its
                                   inference). 0 (default): every band decoded. */
    const char *const *mosaic;  /* more products of the same tile and day to mosaic
                                   with the input (cc_scene_open); NULL: none    */
    int nmosaic;
} cc_scene_options;

void cc_scene_options_init(cc_scene_options *o);

/* Opens any supported input: a SAFE directory, a SAFE .zip, a multi-band
 * GeoTIFF, a folder of per-band files, or a STAC Item / scene sidecar JSON
 * ("FILE.json" or "FILE.json#ITEM_ID", io/stac/stac.h) whose asset is one of
 * those. On success *out owns everything and must be released with
 * cc_scene_free(). On failure *out is NULL and the last error names the file
 * and the problem.
 *
 * With opt->nmosaic > 0, the input and the opt->mosaic products (one tile, one
 * day: several datastrips or granules, or reprocessed baselines) are opened
 * and mosaicked (io/s2/scene_mosaic.c): every band pixel comes from the first
 * product, in order of decreasing processing baseline (then the order given),
 * that has a valid DN there, re-encoded to that product's radiometric offset;
 * angle grids are filled node by node the same way. The products must share
 * the CRS and the tile grid, or the call fails naming both. What each product
 * contributed is logged (info) and kept in the scene's `mosaic_note`. */
cc_status cc_scene_open(const char *path, const cc_scene_options *opt, cc_scene **out);
/* A cube's provenance (its `inputs` attribute) ends with this and the scene's
 * mosaic_note for a same-day mosaic; the run report reads it back. */
#define CC_SCENE_MOSAIC_TAG "; same-day mosaic: "
/* The mosaic behind cc_scene_open (opt->nmosaic > 0). */
cc_status cc_scene_open_mosaic(const char *path, const cc_scene_options *opt, cc_scene **out);
void cc_scene_free(cc_scene *s);

/* Reflectance of a DN for band b (NaN for nodata). */
static inline double cc_scene_reflectance(const cc_scene *s, int b, uint16_t dn)
{
    if (dn == s->nodata_dn)
        return __builtin_nan("");
    return cc_refl_decode(dn, s->radio_offset[b], s->quantification);
}

/* The band with the finest resolution present (the scene's reference grid). */
int cc_scene_finest_band(const cc_scene *s);

/* 1 if the two WKT strings describe the same CRS (0 when either is NULL). */
int cc_scene_same_crs(const char *wkt_a, const char *wkt_b);

#ifdef __cplusplus
}
#endif
#endif
