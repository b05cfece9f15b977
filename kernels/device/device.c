/* Device selection (kernels/device/device.h). */
#define _POSIX_C_SOURCE 200809L /* strtok_r */
#include "kernels/device/device.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#ifdef CC_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif
#ifdef CC_HAVE_CUDNN
#include <cudnn_version.h>
#endif

#ifndef CC_CUDA_ARCHS
#define CC_CUDA_ARCHS ""
#endif

cc_status cc_device_parse(const char *s, cc_device_request *r)
{
    r->kind = CC_DEVICE_AUTO;
    r->index = -1;
    if (!s)
        return cc_error_set(CC_ERR_ARG, "--device: missing value (auto, cpu, cuda or cuda:N)");
    if (!strcmp(s, "auto"))
        return CC_OK;
    if (!strcmp(s, "cpu")) {
        r->kind = CC_DEVICE_CPU;
        return CC_OK;
    }
    if (!strcmp(s, "cuda") || !strcmp(s, "gpu")) {
        r->kind = CC_DEVICE_CUDA;
        return CC_OK;
    }
    if (!strncmp(s, "cuda:", 5) && isdigit((unsigned char)s[5])) {
        char *end = NULL;
        errno = 0;
        long v = strtol(s + 5, &end, 10);
        if (!*end && !errno && v >= 0 && v < 1024) {
            r->kind = CC_DEVICE_CUDA;
            r->index = (int)v;
            return CC_OK;
        }
    }
    return cc_error_set(CC_ERR_ARG, "--device %s: must be auto, cpu, cuda or cuda:N (N = 0, 1, ...)", s);
}

const char *cc_device_request_string(const cc_device_request *r, char *buf, size_t n)
{
    if (!r || r->kind == CC_DEVICE_AUTO)
        snprintf(buf, n, "auto");
    else if (r->kind == CC_DEVICE_CPU)
        snprintf(buf, n, "cpu");
    else if (r->index < 0)
        snprintf(buf, n, "cuda");
    else
        snprintf(buf, n, "cuda:%d", r->index);
    return buf;
}

int cc_device_cuda_count(char *why, size_t n)
{
#ifdef CC_HAVE_CUDA
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count); /* leaves count untouched on failure */
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        if (why)
            snprintf(why, n, "no usable GPU (cudaGetDeviceCount: %s, error %d)", cudaGetErrorString(e), (int)e);
        return 0;
    }
    if (count < 1 && why)
        snprintf(why, n, "no CUDA device visible%s", getenv("CUDA_VISIBLE_DEVICES") ? " (CUDA_VISIBLE_DEVICES)" : "");
    return count < 1 ? 0 : count;
#else
    if (why)
        snprintf(why, n, "this clearcube was built without CUDA (CLEARCUBE_CUDA=OFF or no CUDA toolkit)");
    return 0;
#endif
}

static void set_cpu(cc_device *d)
{
    d->kind = CC_DEVICE_CPU;
    d->index = -1;
    d->backend = cc_nn_backend_cpu();
    snprintf(d->name, sizeof d->name, "cpu (%s)", cc_nn_backend_detail(d->backend));
}

/* The CUDA backend on visible device `index`; 0, or -1 with why (n bytes). */
static int try_cuda(int index, cc_device *d, char *why, size_t n)
{
    int count = cc_device_cuda_count(why, n);
    if (count < 1)
        return -1;
    if (index >= count) {
        snprintf(why, n, "there %s %d visible GPU%s (cuda:0%s)", count == 1 ? "is" : "are", count,
                 count == 1 ? "" : "s", count == 1 ? "" : " ...");
        return -1;
    }
#ifdef CC_HAVE_CUDA
    cudaError_t e = cudaSetDevice(index < 0 ? 0 : index);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        snprintf(why, n, "cudaSetDevice(%d): %s (error %d)", index < 0 ? 0 : index, cudaGetErrorString(e), (int)e);
        return -1;
    }
#endif
    const cc_nn_backend *b = cc_nn_backend_cuda();
    if (!b) {
        snprintf(why, n, "the GPU is not usable by the CUDA backend (it needs sm_80 or newer; "
                         "--log-level debug says why)");
        return -1;
    }
    d->kind = CC_DEVICE_CUDA;
    d->index = index < 0 ? 0 : index;
    d->backend = b;
    snprintf(d->name, sizeof d->name, "cuda:%d (%s)", d->index, cc_nn_backend_detail(b));
    return 0;
}

cc_status cc_device_resolve(const cc_device_request *r, const char *what, cc_device *d)
{
    cc_device_request a = {CC_DEVICE_AUTO, -1};
    if (!r)
        r = &a;
    memset(d, 0, sizeof *d);
    char why[256] = "", req[32];
    cc_device_request_string(r, req, sizeof req);
    if (r->kind == CC_DEVICE_CPU) {
        set_cpu(d);
    } else if (r->kind == CC_DEVICE_CUDA) {
        if (try_cuda(r->index, d, why, sizeof why) != 0)
            return cc_error_set(CC_ERR_NODEVICE, "%s: --device %s: %s; use --device cpu or auto", what, req, why);
    } else if (try_cuda(-1, d, why, sizeof why) != 0) {
        set_cpu(d);
        size_t l = strlen(d->name);
        snprintf(d->name + l, sizeof d->name - l, ", auto: %s", why);
    }
    cc_debug("%s: --device %s -> %s", what, req, d->name);
    return CC_OK;
}

const char *cc_device_build_summary(char *buf, size_t n)
{
    const char *cpu = cc_nn_backend_detail(cc_nn_backend_cpu());
#if defined(CC_CPU_HAVE_AVX512)
    const char *isas = "avx512, avx2, scalar";
#elif defined(CC_CPU_HAVE_AVX2)
    const char *isas = "avx2, scalar";
#else
    const char *isas = "scalar";
#endif
    char cuda[128] = "none (built without CUDA)", cudnn[64] = "none";
#ifdef CC_HAVE_CUDA
    int rt = 0;
    if (cudaRuntimeGetVersion(&rt) != cudaSuccess) {
        (void)cudaGetLastError();
        rt = CUDART_VERSION;
    }
    char archs[64];
    snprintf(archs, sizeof archs, "%s", CC_CUDA_ARCHS);
    for (char *p = archs; *p; p++)
        if (*p == ';')
            *p = ' ';
    snprintf(cuda, sizeof cuda, "sm %s (CUDA runtime %d.%d)", archs[0] ? archs : "?", rt / 1000, (rt % 1000) / 10);
#endif
#ifdef CC_HAVE_CUDNN
    snprintf(cudnn, sizeof cudnn, "%d.%d.%d", CUDNN_MAJOR, CUDNN_MINOR, CUDNN_PATCHLEVEL);
#endif
    snprintf(buf, n, "cpu: %s (compiled: %s); cuda: %s; cudnn: %s", cpu, isas, cuda, cudnn);
    return buf;
}

/* ---- ranks and GPUs ---- */

int cc_device_local_rank_env(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (!v || !*v)
            continue;
        char *end = NULL;
        errno = 0;
        long x = strtol(v, &end, 10);
        if (!*end && !errno && x >= 0 && x < INT_MAX)
            return (int)x;
    }
    return -1;
}

int cc_device_rank_gpu(int local, int nlocal, const char *cuda_visible, int ngpu, char *id, size_t n,
                       int *sharing)
{
    if (n)
        id[0] = '\0';
    if (sharing)
        *sharing = 1;
    if (local < 0)
        local = 0;
    int k = 0;
    char buf[1024], *ids[128];
    if (cuda_visible && *cuda_visible) {
        snprintf(buf, sizeof buf, "%s", cuda_visible);
        char *save = NULL;
        for (char *t = strtok_r(buf, ",", &save); t && k < 128; t = strtok_r(NULL, ",", &save)) {
            while (isspace((unsigned char)*t))
                t++;
            size_t l = strlen(t);
            while (l && isspace((unsigned char)t[l - 1]))
                t[--l] = '\0';
            /* CUDA stops at the first invalid entry ("-1" hides every GPU) */
            if (!l || !strcmp(t, "-1") || !strcmp(t, "NoDevFiles") || (t[0] == '-' && isdigit((unsigned char)t[1])))
                break;
            ids[k++] = t;
        }
        if (k == 0)
            return 0;
        snprintf(id, n, "%s", ids[local % k]);
    } else {
        if (ngpu <= 0)
            return 0;
        k = ngpu;
        snprintf(id, n, "%d", local % k);
    }
    if (sharing && nlocal > 0) {
        int same = 0;
        for (int r = 0; r < nlocal; r++)
            same += r % k == local % k;
        *sharing = same;
    }
    return 1;
}
