/* clearcube --version (clearcube version): the version, the commit, the libraries, the
 * build's backends (CPU instruction sets, CUDA architectures, cuDNN) and the content
 * hash of every shipped model (the .h5 files of models/ among the data files, core/datapath.h). */
#define _DEFAULT_SOURCE /* scandir, alphasort */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gdal.h>
#include <hdf5.h>
#include <netcdf.h>

#include "core/commit.h"
#include "core/datapath.h"
#include "core/error.h"
#include "core/log.h"
#include "core/version.h"
#include "io/model_file.h"
#include "jobs/cli/cli.h"
#include "kernels/device/device.h"
#include "kernels/nn.h"

static int is_model(const struct dirent *e)
{
    size_t l = strlen(e->d_name);
    return l > 3 && !strcmp(e->d_name + l - 3, ".h5") && e->d_name[0] != '.';
}

/* One line per .h5 file of models/: name, content hash (verified on read), path. */
static void print_models(void)
{
    char dir[PATH_MAX];
    if (cc_data_find("models", dir, sizeof dir) != CC_OK) {
        printf("models: none found (%s)\n", cc_error_message());
        return;
    }
    struct dirent **list = NULL;
    int n = scandir(dir, &list, is_model, alphasort);
    printf("models: %s\n", dir);
    if (n <= 0)
        printf("  (no .h5 model files)\n");
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX + 256];
        snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name);
        cc_nn_model m;
        cc_nn_model_init(&m);
        if (cc_model_file_read(path, &m) == CC_OK)
            printf("  %-16s sha256:%s\n", list[i]->d_name, m.content_hash);
        else
            printf("  %-16s unreadable: %s\n", list[i]->d_name, cc_error_message());
        cc_nn_model_free(&m);
        free(list[i]);
    }
    free(list);
}

int cc_cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    unsigned h5maj = 0, h5min = 0, h5rel = 0;
    H5get_libversion(&h5maj, &h5min, &h5rel);
    cc_log_set_level(CC_LOG_ERROR); /* no device or model log lines between the lines below */
    char b[512];
    printf("clearcube %s (commit %s)\n", CC_VERSION, CC_COMMIT);
    const char *ncv = nc_inq_libvers();
    printf("libraries: GDAL %s, NetCDF %.*s, HDF5 %u.%u.%u\n", GDALVersionInfo("RELEASE_NAME"), (int)strcspn(ncv, " "),
           ncv, h5maj, h5min, h5rel);
    printf("backends: %s\n", cc_device_build_summary(b, sizeof b));
    char why[256] = "";
    int ngpu = cc_device_cuda_count(why, sizeof why);
    if (ngpu > 0) {
        cc_device d;
        cc_device_request r = {CC_DEVICE_CUDA, 0};
        printf("devices: %d usable GPU(s); %s\n", ngpu,
               cc_device_resolve(&r, "version", &d) == CC_OK ? d.name : cc_error_message());
    } else {
        printf("devices: cpu only (%s)\n", why);
    }
    print_models();
    return 0;
}
