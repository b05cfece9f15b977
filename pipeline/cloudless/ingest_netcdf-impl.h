/* clearcube: the pieces of the NetCDF series ingest (ingest_netcdf.c, the
 * files and sensors; ingest_netcdf_dates.c, the dates of one sensor). */
#ifndef CC_PIPELINE_CLOUDLESS_INGEST_NETCDF_IMPL_H
#define CC_PIPELINE_CLOUDLESS_INGEST_NETCDF_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "core/bands.h"
#include "core/error.h"
#include "io/grid/grid.h"
#include "io/netcdf/ncseries.h"

/* The cloud-mask variable of a plan. */
enum { CC_NC_MASK_NONE = 0, CC_NC_MASK_SCL, CC_NC_MASK_C1_SR, CC_NC_MASK_C2 };

/* What one sensor takes from a file. */
typedef struct {
    int sensor;                   /* cc_sensor                                          */
    int nbands;                   /* variables found                                    */
    int var[CC_CL_NBANDS];        /* variable index of each Cloudless band (S1: VV, VH); -1 */
    int oli_band[CC_CL_NBANDS];   /* Landsat: the OLI band number (HLS adjustment)       */
    double dn_scale[CC_CL_NBANDS];/* != 0: an integer band without scale_factor, times this */
    int linear[CC_CL_NBANDS];     /* S1 in power ratio: 10 log10 on read                */
    int mask_var, mask_kind;      /* CC_NC_MASK_*; var -1 when none                     */
} cc_nc_plan;

/* The sensors of s (sensor >= 0: only that one) and their bands. Errors:
 * no band of any sensor (naming the variables), optical bands of unknown
 * sensor, an encoding that cannot be read. */
cc_status cc_ingest_netcdf_plan(const cc_ncs *s, int sensor, cc_nc_plan plans[CC_SENSOR_COUNT], int *nplans);

/* Reads quality values q (physical, NaN = fill) of a mask kind into classes
 * (pipeline/atmos/cloudmask.h). */
void cc_ingest_netcdf_mask(int kind, const float *q, size_t n, uint8_t *mask);

/* Every date of plan p in s onto g, merged with the cube <dir>/<tile>_<sensor>.nc
 * when it exists (its bands that the file lacks are kept, and its mask when
 * the file has none), written in batches of at most batch_bytes of values.
 * *ndates: the file's dates (acquisitions on one day are one date). */
cc_status cc_ingest_netcdf_sensor(const cc_ncs *s, const cc_nc_plan *p, const cc_grid *g, const char *tile,
                                  const char *dir, size_t batch_bytes, int *ndates);

#endif
