/* clearcube: the canonical description of a network model (docs/formats/model.md):
 * the tensors of each node in file and hash order, the graph checks every
 * stored model must pass, and the content hash (SHA-256 of the canonical
 * serialisation). Shared by the builder (kernels/nn.c: the hash of a finalised
 * model) and the model-file reader and writer (io/model_file.c), so that a model
 * built in code and the same model read from a file carry the same hash. */
#ifndef CC_KERNELS_NN_CANON_H
#define CC_KERNELS_NN_CANON_H

#include <stddef.h>

#include "core/error.h"
#include "kernels/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CC_NN_MAX_KERNEL 63         /* conv2d kernel / conv1d_time kt bound          */

/* One tensor of a node: name ("weight", "bias", "scale", "shift"), shape
 * (conv2d weight [cout][k][k][cin], conv1d_time weight [cout][kt][cin], the
 * others [cout]) and the value a NULL array stands for (scale 1, else 0). */
typedef struct {
    const char *name;
    int rank;
    size_t dims[4];
    size_t count;                   /* product of dims                                */
    float fill;
} cc_nn_tensor;

/* The tensors of node i of nodes[] (0 or 2), in file and hash order. The
 * channel counts come from the graph (cc_nn_check_graph must have passed). */
int cc_nn_node_tensors(const cc_nn_node *nodes, int i, cc_nn_tensor t[2]);
/* The node's array for tensor t (may be NULL: t->fill everywhere). */
float **cc_nn_tensor_slot(cc_nn_node *nd, const cc_nn_tensor *t);
const float *cc_nn_tensor_values(const cc_nn_node *nd, const cc_nn_tensor *t);

/* kernel and stride as stored and hashed: 1 where the op has none (the
 * builder normalises them the same way). */
int cc_nn_canon_kernel(const cc_nn_node *nd);
int cc_nn_canon_stride(const cc_nn_node *nd);

/* Checks the wiring of nodes[0..n) and that every node's cout equals the
 * count derived from its op and inputs (conv: its own cout; input:
 * in_channels; add: equal inputs; concat: sum; others: their input's).
 * `where` prefixes messages ("<file>" or "model"); CC_ERR_FORMAT otherwise.
 * Validates everything cc_nn_node_tensors and the hash rely on. */
cc_status cc_nn_check_graph(const char *where, const cc_nn_node *nodes, int n, int in_nchannels);

/* The informative "architecture" text of model files, e.g. "N nodes, P
 * parameters: input(16) conv2d3x3(32,relu) ... output(12)"; malloc'd (NULL
 * when out of memory). */
char *cc_nn_model_summary(const cc_nn_model *m);

/* SHA-256 (lowercase hex) of an input description and a checked graph. */
cc_status cc_nn_hash_parts(const char *where, const cc_nn_input_desc *in, const cc_nn_node *nodes, int n,
                           char hex[65]);

#ifdef __cplusplus
}
#endif
#endif
