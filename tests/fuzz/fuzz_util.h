/* clearcube fuzzing (docs/testing.md, "Fuzzing"): what every harness shares.
 *
 * The parsers under test read files by path (GDAL's VSI, NetCDF-C, HDF5), so
 * a harness writes the fuzzer's bytes to a file in its own private folder
 * (<TMPDIR or /tmp>/ccfuzz-<pid>/) and passes that path. Messages and HDF5's
 * own error stack are silenced: a refused input is the expected outcome, only
 * a crash, a sanitizer report or a leak is a finding. */
#ifndef CC_TESTS_FUZZ_UTIL_H
#define CC_TESTS_FUZZ_UTIL_H

#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700 /* nftw */
#endif

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cpl_error.h>
#include <gdal.h>

#include "core/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline int fz_rm(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static char fz_dir_buf[512];
static inline void fz_cleanup(void) { nftw(fz_dir_buf, fz_rm, 16, FTW_DEPTH | FTW_PHYS); }

/* The harness's private folder (created once, removed at exit). */
static inline const char *fz_dir(void)
{
    char *dir = fz_dir_buf;
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof fz_dir_buf, "%s/ccfuzz-%ld", t && *t ? t : "/tmp", (long)getpid());
        mkdir(dir, 0700);
        atexit(fz_cleanup);
    }
    return dir;
}

/* Writes the bytes to <fz_dir>/<name>; returns the path (static), NULL on failure. */
static inline const char *fz_write(const char *name, const uint8_t *data, size_t size)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s", fz_dir(), name);
    char *slash = strrchr(path, '/');
    if (slash && slash != path) { /* sub-folders of the name */
        *slash = '\0';
        char *p = path + strlen(fz_dir());
        while ((p = strchr(p + 1, '/')) != NULL) {
            *p = '\0';
            mkdir(path, 0700);
            *p = '/';
        }
        mkdir(path, 0700);
        *slash = '/';
    }
    FILE *f = fopen(path, "wb");
    if (!f)
        return NULL;
    int ok = fwrite(data, 1, size, f) == size;
    ok &= fclose(f) == 0;
    return ok ? path : NULL;
}

/* Once per process: GDAL drivers, quiet logs. */
static inline void fz_init(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    cc_log_set_level(CC_LOG_QUIET);
    CPLSetErrorHandler(CPLQuietErrorHandler);
    GDALAllRegister();
}

#endif
