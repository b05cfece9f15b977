/* Fuzz harness: STAC Items, ItemCollections and clearcube scene sidecars
 * (io/stac/stac.c, cc_stac_parse: the bytes themselves, no file), and the
 * product lists beside them (cc_stac_read_list). */
#include "fuzz_util.h"

#include "io/stac/stac.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    cc_stac_item *items = NULL;
    int n = 0;
    if (cc_stac_parse((const char *)data, size, "fuzz.json", "/base", &items, &n) == CC_OK)
        cc_stac_free(items, n);
    const char *p = fz_write("products.txt", data, size);
    char **paths = NULL;
    if (p && cc_stac_read_list(p, &paths, &n) == CC_OK) {
        for (int i = 0; i < n; i++)
            free(paths[i]);
        free(paths);
    }
    return 0;
}
