/* Fuzz harness: the zip archive check that runs before GDAL reads any entry
 * (io/s2/zipcheck.c, cc_s2_zip_check), central directory only and with the
 * inflating size pass. */
#include "fuzz_util.h"

#include "io/s2/s2_mtd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    const char *p = fz_write("product.zip", data, size);
    if (!p)
        return 0;
    if (cc_s2_zip_check(p, 0) == CC_OK)
        (void)cc_s2_zip_check(p, 1);
    return 0;
}
