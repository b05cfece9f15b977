/* clearcube: network model files (HDF5), issue 3.
 *
 * The byte/field layout, the canonical serialisation behind the content hash
 * and the PyTorch converter (scripts/torch2clearcube.py) are specified in
 * docs/formats/model.md. In short: root attributes format = "clearcube-model",
 * format_version = 1, architecture, content_hash; /input (band order,
 * resolutions, decoding, normalisation), /output (encoding convention, band
 * names), /graph/nodeNNNN (one group per node, in order), /tensors/<node>/
 * {weight,bias,scale,shift} (float32 datasets), /provenance (free text).
 *
 * All functions return CC_OK or a status with a one-line message naming the
 * file and the object (cc_error_message()). A hostile or damaged file gives an
 * error, never a crash. HDF5's own error printing is suppressed while these
 * functions run. */
#ifndef CC_IO_MODEL_FILE_H
#define CC_IO_MODEL_FILE_H

#include "core/error.h"
#include "kernels/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CC_MODEL_FILE_FORMAT "clearcube-model"
#define CC_MODEL_FILE_VERSION 1

/* Writes the finalised model m to path atomically (a temporary file beside it,
 * then rename). provenance: free text stored in /provenance "text"; NULL means
 * m->provenance (and "" if that is NULL too). m is not modified; the caller
 * keeps ownership of everything. */
cc_status cc_model_file_write(const char *path, const cc_nn_model *m, const char *provenance);

/* Reads a model file into m (any previous content is NOT freed: pass a model
 * that holds nothing). The model is built through cc_nn_model_init/add/
 * finalize, so every graph check of the builder applies; the content hash is
 * verified (CC_ERR_CHECKSUM "content hash mismatch" otherwise) and stored in
 * m->content_hash; m->provenance is the /provenance "text" (malloc'd).
 * On success the caller frees m with cc_nn_model_free(). On failure m is left
 * empty (as after cc_nn_model_init) and cc_nn_model_free(m) is harmless. */
cc_status cc_model_file_read(const char *path, cc_nn_model *m);

/* Checks that an input's band order equals the model's (same count, same
 * names in the same order). input_name names the input in the message (e.g.
 * the product path). CC_ERR_ARG naming both orders when they differ. */
cc_status cc_model_check_bands(const cc_nn_model *m, const char *const *bands, int nbands,
                               const char *input_name);

#ifdef __cplusplus
}
#endif
#endif
