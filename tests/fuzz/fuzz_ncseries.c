/* Fuzz harness: openEO / xarray NetCDF series (io/netcdf/ncseries.c:
 * cc_ncs_open, cc_ncs_read; pipeline/cloudless/ingest_netcdf.c:
 * cc_ingest_grid_netcdf). Slices are read only for grids up to 256 kpx (the
 * reader's caller allocates them; the memory budget is checked above it), of
 * the first 4 variables: an input must run in milliseconds. */
#include "fuzz_util.h"

#include "io/netcdf/ncseries.h"
#include "pipeline/cloudless/ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    const char *p = fz_write("series.nc", data, size);
    if (!p)
        return 0;
    cc_ncs *s = NULL;
    if (cc_ncs_open(p, &s) == CC_OK) {
        size_t npix = (size_t)s->width * (size_t)s->height;
        float *buf = npix && npix <= (256u << 10) ? malloc(npix * sizeof *buf) : NULL;
        for (int v = 0; buf && v < s->nvars && v < 4; v++) {
            (void)cc_ncs_read(s, v, 0, buf);
            if (s->ntimes > 1)
                (void)cc_ncs_read(s, v, s->ntimes - 1, buf);
        }
        (void)cc_ncs_find(s, "B04");
        free(buf);
        cc_ncs_close(s);
        cc_ingest_grid og;
        memset(&og, 0, sizeof og);
        if (cc_ingest_grid_netcdf(p, &og) == CC_OK)
            cc_ingest_grid_free(&og);
    }
    return 0;
}
