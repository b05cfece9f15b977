/* Fuzz harness: manifest.safe, the SAFE checksum list (io/s2/manifest.c,
 * cc_s2_manifest_verify). The input is the manifest of a small folder that
 * holds two files it may name (a.txt and GRANULE/b.bin). */
#include "fuzz_util.h"

#include "io/s2/s2_mtd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    static int ready;
    if (!ready) {
        ready = fz_write("safe/a.txt", (const uint8_t *)"clearcube\n", 10) &&
                fz_write("safe/GRANULE/b.bin", (const uint8_t *)"\x00\x01\x02\x03", 4);
        if (!ready)
            return 0;
    }
    if (!fz_write("safe/manifest.safe", data, size))
        return 0;
    char root[1024];
    snprintf(root, sizeof root, "%s/safe", fz_dir());
    int n = 0;
    (void)cc_s2_manifest_verify(root, &n);
    return 0;
}
