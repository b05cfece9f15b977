/* clearcube: the CUDA network backend in a build without CUDA: there is none.
 * (With CUDA, kernels/cuda/nn_cuda.cu defines cc_nn_backend_cuda.) */
#include "kernels/nn.h"

const cc_nn_backend *cc_nn_backend_cuda(void)
{
    return NULL;
}
