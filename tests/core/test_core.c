#include "core/alloc.h"
#include "core/error.h"
#include "io/s2/scene.h"
#include "testutil.h"

int main(void)
{
    CHECK(cc_band_index("B8A") == CC_B8A);
    CHECK(cc_band_index("b8a") == CC_B8A);
    CHECK(cc_band_index("B8") == CC_B08);
    CHECK(cc_band_index("B08") == CC_B08);
    CHECK(cc_band_index("B1") == CC_B01);
    CHECK(cc_band_index("B12") == CC_B12);
    CHECK(cc_band_index("B13") == -1);
    CHECK(cc_band_index("X01") == -1);
    CHECK(cc_spacecraft_parse("Sentinel-2B") == CC_SC_S2B);
    CHECK(cc_spacecraft_parse("S2D") == CC_SC_UNKNOWN);
    /* overflow-checked allocation */
    void *p = cc_malloc3((size_t)1 << 40, (size_t)1 << 40, 2);
    CHECK(p == NULL);
    CHECK(cc_error_status() == CC_ERR_NOMEM);
    cc_error_set(CC_ERR_IO, "a.tif: cannot\nopen");
    CHECK(strchr(cc_error_message(), '\n') == NULL);
    CHECK(cc_status_exit_code(CC_OK) == 0 && cc_status_exit_code(CC_ERR_ARG) == 2);
    TEST_RETURN();
}
