/* kernels/device/device.h: --device parsing, resolution on this machine, rank -> GPU. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "kernels/device/device.h"
#include "testutil.h"

static void test_parse(void)
{
    cc_device_request r;
    char buf[32];
    CHECK_OK(cc_device_parse("auto", &r));
    CHECK(r.kind == CC_DEVICE_AUTO && r.index == -1);
    CHECK_OK(cc_device_parse("cpu", &r));
    CHECK(r.kind == CC_DEVICE_CPU);
    CHECK(!strcmp(cc_device_request_string(&r, buf, sizeof buf), "cpu"));
    CHECK_OK(cc_device_parse("cuda", &r));
    CHECK(r.kind == CC_DEVICE_CUDA && r.index == -1);
    CHECK(!strcmp(cc_device_request_string(&r, buf, sizeof buf), "cuda"));
    CHECK_OK(cc_device_parse("cuda:3", &r));
    CHECK(r.kind == CC_DEVICE_CUDA && r.index == 3);
    CHECK(!strcmp(cc_device_request_string(&r, buf, sizeof buf), "cuda:3"));
    const char *bad[] = {"", "CPU", "cuda:", "cuda:-1", "cuda:x", "cuda:1x", "cuda:99999", "gpu:0", "tpu", NULL};
    for (int i = 0; bad[i]; i++) {
        CHECK(cc_device_parse(bad[i], &r) == CC_ERR_ARG);
        CHECK(strstr(cc_error_message(), "--device") != NULL);
        CHECK(strstr(cc_error_message(), "auto, cpu, cuda or cuda:N") != NULL);
    }
    CHECK(cc_device_parse(NULL, &r) == CC_ERR_ARG);
}

static void test_resolve(void)
{
    char why[256] = "";
    int ngpu = cc_device_cuda_count(why, sizeof why);
    printf("visible usable CUDA devices: %d%s%s\n", ngpu, ngpu ? "" : ": ", ngpu ? "" : why);
    cc_device d;
    cc_device_request r;
    /* cpu: always the CPU backend */
    CHECK_OK(cc_device_parse("cpu", &r));
    CHECK_OK(cc_device_resolve(&r, "test", &d));
    CHECK(d.kind == CC_DEVICE_CPU && d.backend == cc_nn_backend_cpu() && d.index == -1);
    CHECK(!strncmp(d.name, "cpu (", 5));
    /* auto: the GPU when there is one, else the CPU (NULL request = auto) */
    CHECK_OK(cc_device_resolve(NULL, "test", &d));
    if (ngpu == 0) {
        CHECK(why[0] != '\0');
        CHECK(d.kind == CC_DEVICE_CPU && d.backend == cc_nn_backend_cpu());
    } else {
        CHECK(d.kind == CC_DEVICE_CUDA && d.backend == cc_nn_backend_cuda() && d.index == 0);
    }
    /* cuda: without a GPU (or without CUDA in the build) a clear error, exit code 4 */
    CHECK_OK(cc_device_parse("cuda", &r));
    cc_status st = cc_device_resolve(&r, "test", &d);
    if (ngpu == 0) {
        CHECK(st == CC_ERR_NODEVICE);
        CHECK(cc_status_exit_code(st) == 4);
        const char *m = cc_error_message();
        printf("cuda without a GPU: %s\n", m);
        CHECK(!strncmp(m, "test: --device cuda: ", 21));
        CHECK(strstr(m, why) != NULL);
        CHECK(strstr(m, "use --device cpu or auto") != NULL);
#ifndef CC_HAVE_CUDA
        CHECK(strstr(m, "built without CUDA") != NULL);
#endif
    } else {
        CHECK(st == CC_OK && d.kind == CC_DEVICE_CUDA);
    }
    /* a device number past the visible ones */
    CHECK_OK(cc_device_parse("cuda:999", &r));
    CHECK(cc_device_resolve(&r, "test", &d) == CC_ERR_NODEVICE);
    if (ngpu > 0)
        CHECK(strstr(cc_error_message(), "visible GPU") != NULL);
    char sum[512];
    cc_device_build_summary(sum, sizeof sum);
    printf("build: %s\n", sum);
    CHECK(!strncmp(sum, "cpu: ", 5) && strstr(sum, "; cuda: ") && strstr(sum, "; cudnn: "));
#ifdef CC_HAVE_CUDA
    CHECK(strstr(sum, "sm ") != NULL && strstr(sum, "CUDA runtime") != NULL);
#else
    CHECK(strstr(sum, "built without CUDA") != NULL);
#endif
}

static void test_local_rank(void)
{
    unsetenv("OMPI_COMM_WORLD_LOCAL_RANK");
    unsetenv("SLURM_LOCALID");
    unsetenv("MPI_LOCALRANKID");
    CHECK(cc_device_local_rank_env() == -1);
    setenv("SLURM_LOCALID", "2", 1);
    CHECK(cc_device_local_rank_env() == 2);
    setenv("OMPI_COMM_WORLD_LOCAL_RANK", "5", 1); /* mpirun's wins over srun's */
    CHECK(cc_device_local_rank_env() == 5);
    setenv("OMPI_COMM_WORLD_LOCAL_RANK", "x", 1); /* not a number: the next one */
    CHECK(cc_device_local_rank_env() == 2);
    unsetenv("SLURM_LOCALID");
    setenv("MPI_LOCALRANKID", "1", 1);
    CHECK(cc_device_local_rank_env() == 1);
    unsetenv("OMPI_COMM_WORLD_LOCAL_RANK");
    unsetenv("MPI_LOCALRANKID");
    CHECK(cc_device_local_rank_env() == -1);
}

static void test_rank_gpu(void)
{
    char id[64];
    int share = 0;
    /* CUDA_VISIBLE_DEVICES as Slurm sets it: entries kept as written */
    CHECK(cc_device_rank_gpu(0, 4, "4,5", 0, id, sizeof id, &share) == 1 && !strcmp(id, "4") && share == 2);
    CHECK(cc_device_rank_gpu(3, 4, "4,5", 8, id, sizeof id, &share) == 1 && !strcmp(id, "5") && share == 2);
    CHECK(cc_device_rank_gpu(1, 2, "GPU-aaa, GPU-bbb", 0, id, sizeof id, &share) == 1 && !strcmp(id, "GPU-bbb") &&
          share == 1);
    CHECK(cc_device_rank_gpu(2, 4, "MIG-1,MIG-2,MIG-3,MIG-4", 0, id, sizeof id, &share) == 1 && !strcmp(id, "MIG-3") &&
          share == 1);
    /* CUDA stops at an invalid entry: "0,-1,2" is one GPU */
    CHECK(cc_device_rank_gpu(1, 2, "0,-1,2", 0, id, sizeof id, &share) == 1 && !strcmp(id, "0") && share == 2);
    CHECK(cc_device_rank_gpu(0, 1, "-1", 4, id, sizeof id, &share) == 0 && id[0] == '\0');
    CHECK(cc_device_rank_gpu(0, 1, "NoDevFiles", 4, id, sizeof id, NULL) == 0);
    /* unset or empty: the ordinal among the ngpu the runtime sees */
    CHECK(cc_device_rank_gpu(5, 8, NULL, 4, id, sizeof id, &share) == 1 && !strcmp(id, "1") && share == 2);
    CHECK(cc_device_rank_gpu(2, 3, "", 4, id, sizeof id, &share) == 1 && !strcmp(id, "2") && share == 1);
    CHECK(cc_device_rank_gpu(0, 2, NULL, 0, id, sizeof id, &share) == 0 && id[0] == '\0' && share == 1);
    /* unknown local rank count: no sharing reported */
    CHECK(cc_device_rank_gpu(1, 0, "0", 0, id, sizeof id, &share) == 1 && !strcmp(id, "0") && share == 1);
}

int main(void)
{
    test_parse();
    test_resolve();
    test_local_rank();
    test_rank_gpu();
    if (cc_test_failures)
        fprintf(stderr, "%d failure(s)\n", cc_test_failures);
    else
        printf("PASS test_device\n");
    return cc_test_failures ? 1 : 0;
}
