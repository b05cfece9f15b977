/* Optional attribute groups in model files (io/model_extra.h). */
#define _POSIX_C_SOURCE 200809L /* strdup */

#include "io/model_extra.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "core/fs.h"
#include "io/model_file.h"

#if H5_VERSION_GE(1, 10, 2)
#define MX_LIBVER_HIGH H5F_LIBVER_V110
#else
#define MX_LIBVER_HIGH H5F_LIBVER_LATEST
#endif

#define MX_MAX_VALUES (1 << 20) /* a sanity bound on one attribute */

struct cc_model_extra {
    char *path, *group;
    hid_t fid, gid;
    H5E_auto2_t efunc; /* HDF5 error printing, restored on close */
    void *edata;
};

static void quiet_on(H5E_auto2_t *f, void **d)
{
    H5Eget_auto2(H5E_DEFAULT, f, d);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

/* ---- writer ---- */

static cc_status put_one(hid_t g, const char *path, const char *group, const cc_model_extra_attr *a)
{
    hid_t sid = H5I_INVALID_HID, tid = H5I_INVALID_HID, aid = H5I_INVALID_HID;
    cc_status st = CC_OK;
    hid_t ftype, mtype;
    const void *buf = a->v;
    hsize_t dim = (hsize_t)(a->n > 0 ? a->n : 1);
    switch (a->type) {
    case CC_MX_F32: ftype = H5T_IEEE_F32LE; mtype = H5T_NATIVE_FLOAT; break;
    case CC_MX_F64: ftype = H5T_IEEE_F64LE; mtype = H5T_NATIVE_DOUBLE; break;
    case CC_MX_I32: ftype = H5T_STD_I32LE; mtype = H5T_NATIVE_INT; break;
    default:
        if ((tid = H5Tcopy(H5T_C_S1)) < 0 || H5Tset_size(tid, strlen(a->v) + 1) < 0 ||
            H5Tset_strpad(tid, H5T_STR_NULLTERM) < 0) {
            st = cc_error_set(CC_ERR_IO, "%s: cannot write attribute %s of /%s", path, a->name, group);
            goto out;
        }
        ftype = mtype = tid;
    }
    if (!a->name || !a->v || (a->type == CC_MX_F32 && (a->n < 1 || a->n > MX_MAX_VALUES))) {
        st = cc_error_set(CC_ERR_ARG, "%s: bad attribute %s of /%s", path, a->name ? a->name : "(null)", group);
        goto out;
    }
    sid = a->type == CC_MX_F32 ? H5Screate_simple(1, &dim, NULL) : H5Screate(H5S_SCALAR);
    if (sid < 0 || (aid = H5Acreate2(g, a->name, ftype, sid, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
        H5Awrite(aid, mtype, buf) < 0)
        st = cc_error_set(CC_ERR_IO, "%s: cannot write attribute %s of /%s", path, a->name, group);
out:
    if (aid >= 0)
        H5Aclose(aid);
    if (sid >= 0)
        H5Sclose(sid);
    if (tid >= 0)
        H5Tclose(tid);
    return st;
}

/* Adds /<group> with its attributes to the (complete, closed) model file tmp. */
static cc_status add_group(const char *tmp, const char *path, const char *group, const cc_model_extra_attr *attrs,
                           int na)
{
    cc_status st = CC_OK;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), fid = H5I_INVALID_HID, g = H5I_INVALID_HID;
    /* the bounds the model writer uses: v2 object headers, checksummed */
    if (fapl < 0 || H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, MX_LIBVER_HIGH) < 0 ||
        (fid = H5Fopen(tmp, H5F_ACC_RDWR, fapl)) < 0 ||
        (g = H5Gcreate2(fid, group, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot add the group /%s", path, group);
        goto out;
    }
    for (int i = 0; i < na && st == CC_OK; i++)
        st = put_one(g, path, group, &attrs[i]);
    /* flushed before the close: a failed flush leaves the file intact, to be
     * closed off the disk (core/fs.h); a failed H5Fclose would leave it half
     * closed, and HDF5's exit handlers crash on it (issue 17) */
    if (st == CC_OK && H5Fflush(fid, H5F_SCOPE_LOCAL) < 0)
        st = cc_error_set(CC_ERR_IO, "%s: cannot write the group /%s", path, group);
out:
    if (g >= 0)
        H5Gclose(g);
    if (st != CC_OK && fid >= 0) {
        cc_status ws = cc_fs_write_explain(tmp, 0, "adding the model's optional group");
        st = ws != CC_OK ? ws : st;
        cc_fs_discard_open(tmp);
    }
    if (fid >= 0 && H5Fclose(fid) < 0 && st == CC_OK)
        st = cc_error_set(CC_ERR_IO, "%s: cannot close %s", path, tmp);
    if (fapl >= 0)
        H5Pclose(fapl);
    return st;
}

cc_status cc_model_file_write_extra(const char *path, const cc_nn_model *m, const char *provenance,
                                    const char *group, const cc_model_extra_attr *attrs, int na)
{
    char tmp[PATH_MAX + 32];
    if (!path || !group || !*group || strchr(group, '/') || (na > 0 && !attrs))
        return cc_error_set(CC_ERR_ARG, "%s: bad optional group", path ? path : "(null)");
    cc_status st = cc_fs_temp_name(path, NULL, tmp, sizeof tmp);
    if (st != CC_OK)
        return st;
    /* the model alone, complete, under the temporary name; then the group */
    if ((st = cc_model_file_write(tmp, m, provenance)) != CC_OK)
        return st;
    H5E_auto2_t ef;
    void *ed;
    quiet_on(&ef, &ed);
    st = add_group(tmp, path, group, attrs, na);
    H5Eset_auto2(H5E_DEFAULT, ef, ed);
    if (st != CC_OK) {
        cc_fs_abort(tmp);
        return st;
    }
    return cc_fs_commit(tmp, path);
}

/* ---- reader ---- */

void cc_model_extra_close(cc_model_extra *x)
{
    if (!x)
        return;
    if (x->gid >= 0)
        H5Gclose(x->gid);
    if (x->fid >= 0)
        H5Fclose(x->fid);
    H5Eset_auto2(H5E_DEFAULT, x->efunc, x->edata);
    free(x->path);
    free(x->group);
    free(x);
}

cc_status cc_model_extra_open(const char *path, const char *group, cc_model_extra **out)
{
    *out = NULL;
    cc_model_extra *x = calloc(1, sizeof *x);
    if (!x)
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
    x->fid = x->gid = H5I_INVALID_HID;
    quiet_on(&x->efunc, &x->edata);
    cc_status st = CC_OK;
    x->path = strdup(path);
    x->group = strdup(group);
    if (!x->path || !x->group) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    if (H5Fis_hdf5(path) <= 0 || (x->fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: cannot open HDF5 file (truncated or corrupt?)", path);
        goto out;
    }
    htri_t ex = H5Lexists(x->fid, group, H5P_DEFAULT);
    if (ex < 0) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: cannot look up /%s", path, group);
        goto out;
    }
    if (ex == 0)
        goto out; /* no such group: CC_OK, *out NULL */
    H5O_info_t oi;
#if H5_VERSION_GE(1, 12, 0)
    herr_t hr = H5Oget_info_by_name3(x->fid, group, &oi, H5O_INFO_BASIC, H5P_DEFAULT);
#else
    herr_t hr = H5Oget_info_by_name(x->fid, group, &oi, H5P_DEFAULT);
#endif
    if (hr < 0 || oi.type != H5O_TYPE_GROUP || (x->gid = H5Gopen2(x->fid, group, H5P_DEFAULT)) < 0) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: /%s is not a group", path, group);
        goto out;
    }
    *out = x;
    x = NULL;
out:
    cc_model_extra_close(x);
    return st;
}

int cc_model_extra_has(cc_model_extra *x, const char *name)
{
    return H5Aexists(x->gid, name) > 0;
}

/* Opens attribute name; checks its class and that it is a scalar or 1-D;
 * *n its number of values. The caller closes *aid and *ftype. */
static cc_status open_checked(cc_model_extra *x, const char *name, int numeric, hid_t *aid, hid_t *ftype,
                              hssize_t *n)
{
    hid_t sid = H5I_INVALID_HID;
    cc_status st = CC_OK;
    *aid = *ftype = H5I_INVALID_HID;
    if (H5Aexists(x->gid, name) <= 0)
        return cc_error_set(CC_ERR_FORMAT, "%s: /%s has no attribute '%s'", x->path, x->group, name);
    if ((*aid = H5Aopen(x->gid, name, H5P_DEFAULT)) < 0 || (*ftype = H5Aget_type(*aid)) < 0 ||
        (sid = H5Aget_space(*aid)) < 0) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: /%s attribute '%s': unreadable", x->path, x->group, name);
        goto out;
    }
    H5T_class_t c = H5Tget_class(*ftype);
    if (numeric ? (c != H5T_FLOAT && c != H5T_INTEGER) : c != H5T_STRING) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: /%s attribute '%s': not a %s", x->path, x->group, name,
                          numeric ? "number" : "string");
        goto out;
    }
    H5S_class_t sc = H5Sget_simple_extent_type(sid);
    *n = H5Sget_simple_extent_npoints(sid);
    if (sc == H5S_NULL || *n < 1 || (sc == H5S_SIMPLE && H5Sget_simple_extent_ndims(sid) != 1)) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: /%s attribute '%s': not a scalar or 1-D array", x->path, x->group,
                          name);
        goto out;
    }
out:
    if (sid >= 0)
        H5Sclose(sid);
    if (st != CC_OK) {
        if (*ftype >= 0)
            H5Tclose(*ftype);
        if (*aid >= 0)
            H5Aclose(*aid);
        *aid = *ftype = H5I_INVALID_HID;
    }
    return st;
}

static cc_status read_numbers(cc_model_extra *x, const char *name, double *v, int n)
{
    hid_t aid, ftype;
    hssize_t got;
    cc_status st = open_checked(x, name, 1, &aid, &ftype, &got);
    if (st != CC_OK)
        return st;
    if (got != n)
        st = cc_error_set(CC_ERR_FORMAT, "%s: /%s attribute '%s': %lld values, expected %d", x->path, x->group, name,
                          (long long)got, n);
    else if (H5Aread(aid, H5T_NATIVE_DOUBLE, v) < 0)
        st = cc_error_set(CC_ERR_FORMAT, "%s: /%s attribute '%s': unreadable", x->path, x->group, name);
    for (int i = 0; st == CC_OK && i < n; i++)
        if (!isfinite(v[i]))
            st = cc_error_set(CC_ERR_FORMAT, "%s: /%s attribute '%s': value %d is not finite", x->path, x->group,
                              name, i);
    H5Tclose(ftype);
    H5Aclose(aid);
    return st;
}

cc_status cc_model_extra_floats(cc_model_extra *x, const char *name, float *v, int n)
{
    if (n < 1 || n > MX_MAX_VALUES)
        return cc_error_set(CC_ERR_ARG, "%s: /%s attribute '%s': bad count %d", x->path, x->group, name, n);
    double *d = malloc((size_t)n * sizeof *d);
    if (!d)
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", x->path);
    cc_status st = read_numbers(x, name, d, n);
    for (int i = 0; st == CC_OK && i < n; i++) {
        if (fabs(d[i]) > 3.0e38)
            st = cc_error_set(CC_ERR_FORMAT, "%s: /%s attribute '%s': value %d out of float range", x->path,
                              x->group, name, i);
        v[i] = (float)d[i];
    }
    free(d);
    return st;
}

cc_status cc_model_extra_double(cc_model_extra *x, const char *name, double *v)
{
    return read_numbers(x, name, v, 1);
}

cc_status cc_model_extra_int(cc_model_extra *x, const char *name, int *v)
{
    double d;
    cc_status st = read_numbers(x, name, &d, 1);
    if (st == CC_OK && (d != floor(d) || fabs(d) > INT_MAX))
        st = cc_error_set(CC_ERR_FORMAT, "%s: /%s attribute '%s': %g is not an integer", x->path, x->group, name, d);
    if (st == CC_OK)
        *v = (int)d;
    return st;
}

cc_status cc_model_extra_string(cc_model_extra *x, const char *name, char *buf, size_t cap)
{
    hid_t aid, ftype, mt = H5I_INVALID_HID;
    hssize_t got;
    cc_status st = open_checked(x, name, 0, &aid, &ftype, &got);
    if (st != CC_OK)
        return st;
    int vl = H5Tis_variable_str(ftype) > 0;
    size_t sz = H5Tget_size(ftype);
    if (got != 1) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: /%s attribute '%s': %lld strings, expected 1", x->path, x->group, name,
                          (long long)got);
    } else if (vl) {
        char *s = NULL;
        if ((mt = H5Tcopy(H5T_C_S1)) < 0 || H5Tset_size(mt, H5T_VARIABLE) < 0 || H5Aread(aid, mt, &s) < 0 || !s)
            st = cc_error_set(CC_ERR_FORMAT, "%s: /%s attribute '%s': unreadable", x->path, x->group, name);
        else if (strlen(s) >= cap)
            st = cc_error_set(CC_ERR_FORMAT, "%s: /%s attribute '%s': too long", x->path, x->group, name);
        else
            memcpy(buf, s, strlen(s) + 1);
        H5free_memory(s);
    } else if (sz == 0 || sz >= cap) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: /%s attribute '%s': too long", x->path, x->group, name);
    } else {
        memset(buf, 0, cap);
        if ((mt = H5Tcopy(ftype)) < 0 || H5Aread(aid, mt, buf) < 0)
            st = cc_error_set(CC_ERR_FORMAT, "%s: /%s attribute '%s': unreadable", x->path, x->group, name);
        buf[sz] = '\0';
    }
    if (mt >= 0)
        H5Tclose(mt);
    H5Tclose(ftype);
    H5Aclose(aid);
    return st;
}
