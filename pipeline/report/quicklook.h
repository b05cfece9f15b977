/* clearcube: true-colour PNG quicklooks. */
#ifndef CC_PIPELINE_REPORT_QUICKLOOK_H
#define CC_PIPELINE_REPORT_QUICKLOOK_H

#include <stdint.h>

#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes an RGBA PNG (nodata transparent) from three DN layers of width x
 * height (0 = nodata), with a robust stretch: each channel maps its 2nd..98th
 * percentile of valid DN to 0..255, shared across channels so colours stay
 * true. Images larger than max_dim on a side are block-averaged down. The PNG
 * is written to a temporary name and renamed, so a failure leaves no file. */
cc_status cc_quicklook_write(const char *path, int width, int height, const uint16_t *red,
                             const uint16_t *green, const uint16_t *blue, int max_dim);

#ifdef __cplusplus
}
#endif
#endif
