/* Reading a training dataset file (docs/formats/dataset.md) back in the
 * dataset tests: a whole dataset and a variable-length string attribute. */
#ifndef CC_TESTS_DATASET_H5READ_H
#define CC_TESTS_DATASET_H5READ_H

#include <hdf5.h>
#include <stdlib.h>
#include <string.h>

/* The dataset `name` of f converted to `type` (elements of `elem` bytes),
 * malloc'ed; *n0 receives its first dimension. NULL (and *n0 = 0) when it is
 * missing or unreadable. */
static inline void *h5_read_all(hid_t f, const char *name, hid_t type, size_t elem, size_t *n0)
{
    *n0 = 0;
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0)
        return NULL;
    hid_t sp = H5Dget_space(d);
    hsize_t dims[4] = {0};
    int rank = H5Sget_simple_extent_dims(sp, dims, NULL);
    size_t tot = 1;
    for (int i = 0; i < rank; i++)
        tot *= dims[i];
    void *buf = malloc(tot * elem + 1);
    if (buf && H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        free(buf);
        buf = NULL;
    }
    H5Sclose(sp);
    H5Dclose(d);
    *n0 = dims[0];
    return buf;
}

/* The variable-length string attribute `name` of obj, malloc'ed; NULL when
 * it is missing or not such a string. */
static inline char *h5_read_str_attr(hid_t obj, const char *name)
{
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0)
        return NULL;
    hid_t t = H5Aget_type(a);
    char *s = NULL, *out = NULL;
    if (H5Tis_variable_str(t) > 0 && H5Aread(a, t, &s) >= 0 && s) {
        size_t n = strlen(s) + 1;
        if ((out = malloc(n)))
            memcpy(out, s, n);
        H5free_memory(s);
    }
    H5Tclose(t);
    H5Aclose(a);
    return out;
}

#endif
