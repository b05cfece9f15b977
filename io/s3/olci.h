/* clearcube: Sentinel-3 OLCI Level-1 EFR/ERR reader (Cloudless, issue 6).
 *
 * Reads OLCI top-of-atmosphere radiance, turns it into TOA reflectance
 *     rho = pi * L / (F0 * cos(SZA))
 * and maps it to the Cloudless bands (pipeline/cloudless/series.h, science.md section 3):
 *     B02<-Oa04  B03<-Oa06  B04<-Oa08  B05<-Oa11  B06<-Oa12  B07<-Oa16
 *     B08<-Oa17  B8A<-Oa17  B11, B12: NaN (OLCI has no SWIR)
 *
 * Two input layouts (docs/formats/olci.md):
 *  - the native product folder (*.SEN3): OaNN_radiance.nc, instrument_data.nc
 *    (solar_flux[band][detector], detector_index[row][column]),
 *    tie_geometries.nc (SZA on the tie-point grid, ac_/al_subsampling_factor
 *    global attributes) and geo_coordinates.nc (latitude, longitude);
 *  - one BEAM/SNAP NetCDF file (a SNAP subset or export): OaNN_radiance,
 *    solar_flux_band_N per pixel (or a solar_flux attribute on the radiance
 *    variable), SZA per pixel or on a tie-point grid (offset_x, offset_y,
 *    subsampling_x, subsampling_y attributes), latitude/longitude (or lat/lon).
 * Only the seven mapped bands (Oa04 Oa06 Oa08 Oa11 Oa12 Oa16 Oa17) are read.
 * Fill values (radiance, solar flux, detector index, geolocation) give NaN.
 *
 * NetCDF-C is not thread-safe: call these from one thread at a time.
 */
#ifndef CC_IO_S3_OLCI_H
#define CC_IO_S3_OLCI_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "io/grid/grid.h"
#include "core/bands.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CC_OLCI_NMAPPED 7 /* distinct OLCI bands used: Oa04 06 08 11 12 16 17 */

/* The OLCI band (1..21) feeding Cloudless band b (CC_CL_NBANDS order), or 0
 * when OLCI has no equivalent (B11, B12). */
int cc_olci_band_for(int b);

typedef struct {
    long day;           /* acquisition start, days since 1970-01-01 (UTC)      */
    double seconds;     /* acquisition start, seconds since 00:00 UTC that day  */
    char platform[8];   /* "S3A", "S3B", ... or "" when the input does not say */
    int width, height;  /* size of the source swath (pixels)                    */
    size_t nvalid;      /* cc_olci_read: output pixels with a valid B04 value   */
} cc_olci_info;

/* The swath in its own geometry (no resampling). */
typedef struct {
    int width, height;
    float *rho;         /* [height*width][CC_CL_NBANDS] TOA reflectance, NaN = fill */
    double *lat, *lon;  /* [height*width] degrees (DEM-corrected where the input
                           has it), NaN = fill                                   */
} cc_olci_swath;

/* Loads the swath of `path` (a .SEN3 folder, or a BEAM/SNAP .nc file):
 * reflectance in the Cloudless bands, latitude and longitude. `info` may be
 * NULL (its nvalid is left 0). On failure *s is zeroed and a one-line error
 * names the file. Free with cc_olci_swath_free. */
cc_status cc_olci_load(const char *path, cc_olci_swath *s, cc_olci_info *info);
void cc_olci_swath_free(cc_olci_swath *s);

/* Reads `path` onto grid g: `out` receives cc_grid_npix(g) * CC_CL_NBANDS
 * floats (pixel-major, out[p*CC_CL_NBANDS + b]) of TOA reflectance, warped
 * with GDAL's geolocation-array transformer: averaged when g's pixels are
 * larger than OLCI's, nearest neighbour when they are smaller (a 10 m grid
 * inside one 300 m pixel gets that pixel's value). NaN outside the swath, for
 * fill values and for B11/B12. CC_ERR_NODATA when the grid does not overlap
 * the swath. `out` is only written on success; the caller owns it. `info` may
 * be NULL. */
cc_status cc_olci_read(const char *path, const cc_grid *g, float *out, cc_olci_info *info);

/* Warps an already loaded swath onto g (as cc_olci_read); `name` is used in
 * error messages. Returns the number of output pixels with a valid B04 value
 * in *nvalid (may be NULL). */
cc_status cc_olci_warp(const cc_olci_swath *s, const char *name, const cc_grid *g, float *out,
                       size_t *nvalid);

#ifdef __cplusplus
}
#endif
#endif
