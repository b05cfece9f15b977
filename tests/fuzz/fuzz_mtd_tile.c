/* Fuzz harness: the tile metadata MTD_TL.xml with its sun and viewing angle
 * grids (io/s2/s2_mtd.c, io/s2/angles.c: cc_s2_mtd_tile_read). */
#include "fuzz_util.h"

#include "io/s2/s2_mtd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    const char *p = fz_write("MTD_TL.xml", data, size);
    if (!p)
        return 0;
    cc_s2_tile_mtd t;
    if (cc_s2_mtd_tile_read(p, &t) == CC_OK) {
        /* touch every node of the grids the reader accepted */
        volatile double acc = 0;
        const cc_angle_grid *g[2] = {&t.sun_zenith, &t.sun_azimuth};
        for (int k = 0; k < 2; k++)
            for (int i = 0; g[k]->v && i < g[k]->nx * g[k]->ny; i++)
                acc += g[k]->v[i];
        for (int b = 0; b < CC_NBANDS; b++)
            for (int i = 0; t.view_zenith[b].v && i < t.view_zenith[b].nx * t.view_zenith[b].ny; i++)
                acc += t.view_zenith[b].v[i] + t.view_azimuth[b].v[i];
        if (t.sun_zenith.v) { /* sampling between and beyond the nodes */
            const cc_angle_grid *z = &t.sun_zenith;
            acc += cc_angle_grid_sample(z, z->x0 + 0.5 * z->dx * z->nx, z->y0 + 0.5 * z->dy * z->ny);
            acc += cc_angle_grid_sample_azimuth(&t.sun_azimuth, z->x0 - 1e3, z->y0 + 1e3);
            acc += cc_angle_grid_mean(z);
        }
        (void)acc;
        cc_s2_mtd_tile_free(&t);
    }
    return 0;
}
