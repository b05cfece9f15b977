/* Fuzz harness: the product metadata MTD_MSIL1C.xml / MTD_MSIL2A.xml
 * (io/s2/s2_mtd.c, cc_s2_mtd_product_read). */
#include "fuzz_util.h"

#include "io/s2/s2_mtd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    const char *p = fz_write("MTD_MSIL1C.xml", data, size);
    if (!p)
        return 0;
    cc_s2_product_mtd m;
    if (cc_s2_mtd_product_read(p, &m) == CC_OK)
        cc_s2_mtd_product_free(&m);
    return 0;
}
