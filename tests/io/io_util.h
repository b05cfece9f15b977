/* Helpers shared by the scene reader tests (header-only). */
#ifndef CC_TESTS_IO_UTIL_H
#define CC_TESTS_IO_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gdal.h>

#include "core/error.h"
#include "io/s2/scene.h"
#include "testutil.h"

/* Reads band `bandno` of a raster directly with GDAL as uint16 (malloc'ed),
 * for comparisons with what the reader returns. NULL on failure. */
static inline uint16_t *io_gdal_read(const char *path, int bandno, int *w, int *h, double gt[6])
{
    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    if (!ds)
        return NULL;
    *w = GDALGetRasterXSize(ds);
    *h = GDALGetRasterYSize(ds);
    if (gt)
        GDALGetGeoTransform(ds, gt);
    uint16_t *v = malloc((size_t)*w * (size_t)*h * sizeof *v);
    if (v && GDALRasterIO(GDALGetRasterBand(ds, bandno), GF_Read, 0, 0, *w, *h, v, *w, *h, GDT_UInt16, 0, 0) !=
                 CE_None) {
        free(v);
        v = NULL;
    }
    GDALClose(ds);
    return v;
}

/* Options for a stack: everything set to plausible values. */
static inline void io_stack_options(cc_scene_options *o)
{
    cc_scene_options_init(o);
    o->spacecraft = "S2A";
    o->date = "2017-02-16";
    o->sun_zenith = 65.0;
    o->sun_azimuth = 165.0;
    o->view_zenith = 5.0;
    o->view_azimuth = 100.0;
}

/* Opens path expecting failure with status `want`; checks that *out stays
 * NULL and the message names `name` (a file or an option). */
#define EXPECT_FAIL(path, opt, want, name)                                                          \
    do {                                                                                            \
        cc_scene *_s = (cc_scene *)1;                                                               \
        cc_status _st = cc_scene_open((path), (opt), &_s);                                          \
        printf("  expected failure: %s -> %s: %s\n", #want, cc_status_name(_st), cc_error_message()); \
        CHECK(_st == (want));                                                                       \
        CHECK(_s == NULL);                                                                          \
        CHECK(strstr(cc_error_message(), (name)) != NULL);                                          \
        CHECK(strchr(cc_error_message(), '\n') == NULL);                                            \
        if (_s && _s != (cc_scene *)1)                                                              \
            cc_scene_free(_s);                                                                      \
    } while (0)

/* Runs a shell command; 0 on success. */
static inline int io_sh(const char *cmd)
{
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
    return rc;
}

#endif
