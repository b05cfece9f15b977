/* clearcube: the one band table: Sentinel-2 bands and spacecraft, the
 * Cloudless band subset and the sensors of a multi-sensor series.
 *
 * It lives in core/ (not io/grid/) because the per-pixel SMAC arithmetic in
 * kernels/smac/ needs band and spacecraft identities, and kernels/ may only use
 * core/ (docs/architecture.md).
 */
#ifndef CC_CORE_BANDS_H
#define CC_CORE_BANDS_H

#ifdef __cplusplus
extern "C" {
#endif

enum {
    CC_B01 = 0, CC_B02, CC_B03, CC_B04, CC_B05, CC_B06, CC_B07, CC_B08, CC_B8A,
    CC_B09, CC_B10, CC_B11, CC_B12,
    CC_NBANDS = 13
};

/* "B01".."B12","B8A" in CC_B* order. */
extern const char *const cc_band_names[CC_NBANDS];
/* Native resolution in metres (10, 20 or 60) in CC_B* order. */
extern const int cc_band_resolution[CC_NBANDS];
/* Central wavelength in nm (S2A) in CC_B* order (the cubes' wavelength attribute). */
extern const double cc_band_wavelength_nm[CC_NBANDS];
/* Index of a band name ("B8A", "B08", "B8", "b04" are accepted); -1 if unknown. */
int cc_band_index(const char *name);

typedef enum { CC_SC_UNKNOWN = 0, CC_SC_S2A, CC_SC_S2B, CC_SC_S2C } cc_spacecraft;
/* "S2A"/"Sentinel-2A" etc. -> enum; CC_SC_UNKNOWN if not recognised. */
cc_spacecraft cc_spacecraft_parse(const char *s);
const char *cc_spacecraft_name(cc_spacecraft sc); /* "S2A", "S2B", "S2C", "unknown" */

#define CC_CL_NBANDS 10 /* B02 B03 B04 B05 B06 B07 B08 B8A B11 B12 */
#define CC_CL_NS1 2     /* VV, VH (dB) */

/* "B02", ..., "B12" in Cloudless band order. */
extern const char *const cc_cl_band_names[CC_CL_NBANDS];
/* Index of a band name in the Cloudless order, -1 if it is not one of them. */
int cc_cl_band_index(const char *name);

typedef enum {
    CC_SENSOR_S2 = 0,
    CC_SENSOR_LANDSAT,
    CC_SENSOR_OLCI,
    CC_SENSOR_S1,
    CC_SENSOR_COUNT
} cc_sensor;
/* Bit of a sensor in evidence masks: 1 << sensor. "S2", "Landsat", "OLCI", "S1". */
const char *cc_sensor_name(cc_sensor s);

#ifdef __cplusplus
}
#endif
#endif
