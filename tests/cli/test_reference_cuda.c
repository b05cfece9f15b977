/* GPU parity of the reference processor (issue 15): cc_reference_run with
 * the SMAC on the GPU (opt.cuda: kernels/cuda/smac_cuda.cu, pinned buffers,
 * two streams, the reader thread) against the CPU path on a SIMULATED scene
 * of several slabs: every band within 1 DN (the device's libm and fused
 * multiply-adds may move a value across a rounding boundary), the masks
 * exactly (nodata where the CPU has nodata, the same valid pixels), AOT and
 * WVP exactly. Exit 77 without a usable GPU. */
#include <gdal.h>
#include <stdlib.h>
#include <string.h>

#include "io/grid/grid.h"
#include "io/s2/scene.h"
#include "kernels/device/device.h"
#include "pipeline/atmos/reference.h"
#include "pipeline/boa/simulate.h"
#include "sim_scene.h"
#include "testutil.h"

int main(void)
{
    char why[256] = "";
    if (cc_device_cuda_count(why, sizeof why) < 1) {
        printf("SKIP: %s\n", why);
        return 77;
    }
    cc_device_request rq = {CC_DEVICE_CUDA, -1};
    cc_device dev;
    if (cc_device_resolve(&rq, "test", &dev) != CC_OK) {
        printf("SKIP: %s\n", cc_error_message());
        return 77;
    }
    printf("device: %s\n", dev.name);
    cc_simulate_options so;
    cc_scene *s = NULL;
    sim_scene_open("reference_cuda", 1100, 5, &so, &s);
    if (!s)
        TEST_RETURN();
    cc_reference_options ro;
    cc_reference_options_init(&ro);
    ro.elevation_m = 400;
    cc_reference_result cpu, gpu;
    CHECK_OK(cc_reference_run(s, &ro, &cpu));
    for (int reader = 0; reader <= 1; reader++) {
        ro.cuda = 1;
        ro.reader = reader;
        CHECK_OK(cc_reference_run(s, &ro, &gpu));
        if (!gpu.boa[0])
            break;
        const size_t n = cc_grid_npix(&cpu.grid);
        size_t off1 = 0, off_more = 0, mask = 0, aux = 0;
        for (int j = 0; j < cpu.nbands; j++)
            for (size_t i = 0; i < n; i++) {
                int d = abs((int)cpu.boa[j][i] - (int)gpu.boa[j][i]);
                mask += (cpu.boa[j][i] == 0) != (gpu.boa[j][i] == 0);
                off1 += d == 1;
                off_more += d > 1;
            }
        for (size_t i = 0; i < n; i++)
            aux += cpu.aot[i] != gpu.aot[i] || cpu.wvp[i] != gpu.wvp[i];
        printf("reader %d: %zu values 1 DN apart of %zu, %zu more than 1 DN, %zu mask differences, "
               "%zu AOT/WVP differences; n_valid %zu / %zu\n",
               reader, off1, n * (size_t)cpu.nbands, off_more, mask, aux, gpu.n_valid, cpu.n_valid);
        CHECK(off_more == 0);
        CHECK(mask == 0);
        CHECK(aux == 0);
        CHECK(gpu.n_valid == cpu.n_valid);
        cc_reference_result_free(&gpu);
    }
    cc_reference_result_free(&cpu);
    cc_scene_free(s);
    GDALDestroyDriverManager();
    TEST_RETURN();
}
