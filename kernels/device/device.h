/* clearcube: where the computation runs (issue 15): the one place that turns
 * `--device auto|cpu|cuda|cuda:N` (and the job file's `device` key) into a
 * network backend (kernels/nn.h), and that maps an MPI rank to the GPU of its
 * node-local rank. docs/gpu.md, "Choosing the device".
 *
 *   auto    the GPU when the build has CUDA and a usable GPU (sm_80 or newer,
 *           with a driver) is present, else the CPU; the command's summary
 *           line names the device and, for the CPU, the reason;
 *   cpu     the CPU backend (OpenMP + AVX-512/AVX2);
 *   cuda    the first visible GPU; cuda:N the N-th visible GPU. Without CUDA in
 *           the build or without a usable GPU: CC_ERR_NODEVICE (exit code 4)
 *           with one line saying which and what to do.
 *
 * Nothing here needs MPI: the node-local rank comes from the launcher's
 * environment (OMPI_COMM_WORLD_LOCAL_RANK from Open MPI's mpirun,
 * SLURM_LOCALID from srun, MPI_LOCALRANKID from MPICH/Hydra); jobs/run falls
 * back to MPI_Comm_split_type when none is set. */
#ifndef CC_KERNELS_DEVICE_DEVICE_H
#define CC_KERNELS_DEVICE_DEVICE_H

#include <stddef.h>

#include "core/error.h"
#include "kernels/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { CC_DEVICE_AUTO = 0, CC_DEVICE_CPU, CC_DEVICE_CUDA } cc_device_kind;

/* What the user asked for. index: the N of cuda:N, -1 when not given. */
typedef struct {
    cc_device_kind kind;
    int index;
} cc_device_request;

#define CC_DEVICE_HELP                                                                          \
    "  --device D            where the computation runs: auto (default: the GPU when the build\n" \
    "                        has CUDA and one is present, else the CPU; logged), cpu, cuda\n"     \
    "                        (the first visible GPU) or cuda:N; cuda without a usable GPU:\n"     \
    "                        error, exit code 4\n"

/* "auto", "cpu", "cuda", "cuda:N" (N a non-negative integer) into r.
 * CC_ERR_ARG with a one-line message naming the value otherwise. */
cc_status cc_device_parse(const char *s, cc_device_request *r);
/* "auto", "cpu", "cuda" or "cuda:N" of r into buf (n bytes); returns buf. */
const char *cc_device_request_string(const cc_device_request *r, char *buf, size_t n);

/* The resolved device. backend is never NULL on success. */
typedef struct {
    cc_device_kind kind;           /* CC_DEVICE_CPU or CC_DEVICE_CUDA                  */
    int index;                     /* CUDA: ordinal among the visible GPUs; CPU: -1    */
    const cc_nn_backend *backend;  /* cc_nn_backend_cpu() or cc_nn_backend_cuda()       */
    char name[320];                /* "cpu (avx512)", "cuda:0 (NVIDIA H100 ..., sm_90)";
                                      auto on the CPU: "cpu (avx512), auto: <why>"    */
} cc_device;

/* Resolves r (NULL: auto). For CUDA, makes device `index` current for the
 * calling thread (cudaSetDevice) before the backend's first use. The choice
 * is logged at debug level; commands name d->name (with the reason when
 * auto fell back to the CPU) in their summary line, so that a command that
 * fails still prints one error line only.
 * CC_ERR_NODEVICE when cuda was asked for and cannot be had. `what` names the
 * command in messages ("boa"). */
cc_status cc_device_resolve(const cc_device_request *r, const char *what, cc_device *d);

/* Number of usable CUDA devices visible to this process (0 in a build without
 * CUDA or without a driver); when 0 and why is not NULL, why (n bytes) says
 * why ("this clearcube was built without CUDA", "cudaGetDeviceCount: ..."). */
int cc_device_cuda_count(char *why, size_t n);

/* The build's backends in one line: CPU instruction sets compiled and chosen
 * at run time, CUDA architectures, cuDNN ("cpu: avx512 (avx512, avx2,
 * scalar); cuda: sm_80 sm_90 (CUDA 13.0); cudnn: 9.19.0"). */
const char *cc_device_build_summary(char *buf, size_t n);

/* ---- ranks and GPUs (clearcube run) ---- */

/* The node-local rank from the environment: OMPI_COMM_WORLD_LOCAL_RANK, else
 * SLURM_LOCALID, else MPI_LOCALRANKID; -1 when none is set (or not a number). */
int cc_device_local_rank_env(void);

/* The GPU of node-local rank `local` (>= 0): entry local % k of
 * cuda_visible (the value of CUDA_VISIBLE_DEVICES: k comma-separated ids,
 * indices, GPU-UUIDs or MIG-UUIDs, kept as written) when it is set and not
 * empty, else "local % ngpu" when ngpu > 0. Written to id (n bytes); returns
 * 1 when a GPU was assigned, 0 when there is none (cuda_visible empty or
 * "-1"/"NoDevFiles", or ngpu 0: id = ""). *sharing (may be NULL) gets the
 * number of node-local ranks among `nlocal` that get the same GPU (1: no
 * sharing; nlocal <= 0: unknown, 1). */
int cc_device_rank_gpu(int local, int nlocal, const char *cuda_visible, int ngpu, char *id, size_t n,
                       int *sharing);

#ifdef __cplusplus
}
#endif
#endif
