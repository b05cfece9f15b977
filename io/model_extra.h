/* clearcube: optional attribute groups in model files (docs/formats/model.md,
 * "Optional groups").
 *
 * A model file may carry groups beside the network, e.g. /domain (the training
 * domain of a Rapid BoA model, pipeline/boa/domain.h). Such a group holds only
 * attributes (numbers, number arrays, strings), is written together with the
 * model (one atomic write) and is NOT part of the content hash, like
 * /provenance: it describes the model, it does not change its outputs. A
 * reader that does not know a group ignores it, so old readers read new files,
 * and files without the group stay valid.
 *
 * Reading never trusts the file: every attribute's class and count are checked
 * before it is read; every failure is one cc_error line naming the file, the
 * group and the attribute. HDF5's own error printing is off during the calls. */
#ifndef CC_IO_MODEL_EXTRA_H
#define CC_IO_MODEL_EXTRA_H

#include "core/error.h"
#include "kernels/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    CC_MX_F32,    /* n float32 values (v: const float *), a 1-D array       */
    CC_MX_F64,    /* one float64 (v: const double *), a scalar               */
    CC_MX_I32,    /* one int32 (v: const int *), a scalar                    */
    CC_MX_STR     /* one string (v: const char *), fixed-length ASCII        */
} cc_model_extra_type;

typedef struct {
    const char *name;
    cc_model_extra_type type;
    int n;            /* CC_MX_F32: the number of values (>= 1); else unused */
    const void *v;
} cc_model_extra_attr;

/* Writes the model as cc_model_file_write does, plus the group /<group> with
 * the na attributes, atomically (a temporary beside path, then rename: path
 * holds the old file or the complete new one). Nothing is taken over. */
cc_status cc_model_file_write_extra(const char *path, const cc_nn_model *m, const char *provenance,
                                    const char *group, const cc_model_extra_attr *attrs, int na);

typedef struct cc_model_extra cc_model_extra;

/* Opens the group /<group> of the model file at path. *out is NULL (and the
 * status CC_OK) when the file has no such group. Otherwise close *out with
 * cc_model_extra_close. */
cc_status cc_model_extra_open(const char *path, const char *group, cc_model_extra **out);
void cc_model_extra_close(cc_model_extra *x);

/* 1 if the group has the attribute, else 0. */
int cc_model_extra_has(cc_model_extra *x, const char *name);
/* Exactly n finite numbers (float or integer class, stored as a scalar or a
 * 1-D array) into v; CC_ERR_FORMAT otherwise ("<file>: /<group> attribute
 * '<name>': 18 values, expected 19"). */
cc_status cc_model_extra_floats(cc_model_extra *x, const char *name, float *v, int n);
cc_status cc_model_extra_double(cc_model_extra *x, const char *name, double *v);
cc_status cc_model_extra_int(cc_model_extra *x, const char *name, int *v);
/* A string attribute (fixed or variable length) into buf, NUL-terminated;
 * CC_ERR_FORMAT when it is not a string or does not fit in cap bytes. */
cc_status cc_model_extra_string(cc_model_extra *x, const char *name, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
