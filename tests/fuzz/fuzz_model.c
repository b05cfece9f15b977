/* Fuzz harness: network model files (HDF5 attributes, graph nodes, tensor
 * shapes; io/model_file.c, cc_model_file_read). The bytes are a whole HDF5
 * file: HDF5 itself is not instrumented, so coverage guides the reader's own
 * checks, and a crash inside libhdf5 on a corrupt file is reported as such. */
#include "fuzz_util.h"

#include <hdf5.h>

#include "io/model_file.h"
#include "kernels/nn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    const char *p = fz_write("model.h5", data, size);
    if (!p)
        return 0;
    cc_nn_model m;
    cc_nn_model_init(&m);
    (void)cc_model_file_read(p, &m);
    cc_nn_model_free(&m);
    /* the reader closes every HDF5 object it opened, whatever the file holds */
    if (H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL) != 0) {
        fprintf(stderr, "fuzz_model: %ld HDF5 object(s) left open\n",
                (long)H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL));
        abort();
    }
    return 0;
}
