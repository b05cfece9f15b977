/* Network model files in HDF5 (issue 3); layout in docs/formats/model.md.
 *
 * Reading never trusts the file: every attribute's class and count and every
 * dataset's dtype, rank and dims are checked before anything is read, channel
 * counts are derived from the graph here (so a tensor's expected shape never
 * comes from an unchecked number), and the model is then built through the
 * nn.h builder so that its graph checks apply as well. */
#define _POSIX_C_SOURCE 200809L /* strdup */

#include "io/model_file.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hdf5.h>

#include "core/alloc.h"
#include "core/date.h"
#include "core/fs.h"
#include "core/version.h"
#include "io/hdf5_image.h"
#include "kernels/nn_canon.h"

#if H5_VERSION_GE(1, 12, 0)
#define mf_vlen_reclaim H5Treclaim
#else
#define mf_vlen_reclaim H5Dvlen_reclaim
#endif

#if H5_VERSION_GE(1, 10, 2)
#define MF_LIBVER_HIGH H5F_LIBVER_V110
#else
#define MF_LIBVER_HIGH H5F_LIBVER_LATEST
#endif

#define MF_MAX_NODES 4096           /* a sanity bound on /graph                     */
#define MF_MAX_STRING (1 << 20)     /* longest string attribute read                 */
#define MF_COMPRESS_MIN 4096        /* tensors with at least this many values are
                                       chunked + shuffle + deflate                   */

/* ------------------------------------------------------------------------ */
/* HDF5 error printing: off while we run, restored afterwards               */

typedef struct {
    H5E_auto2_t func;
    void *data;
} mf_eauto;

static void eauto_off(mf_eauto *s)
{
    s->func = NULL;
    s->data = NULL;
    H5Eget_auto2(H5E_DEFAULT, &s->func, &s->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static void eauto_restore(const mf_eauto *s)
{
    H5Eset_auto2(H5E_DEFAULT, s->func, s->data);
}

static void close_id(hid_t *id)
{
    if (*id < 0)
        return;
    switch (H5Iget_type(*id)) {
    case H5I_FILE: H5Fclose(*id); break;
    case H5I_GROUP: H5Gclose(*id); break;
    case H5I_DATASET: H5Dclose(*id); break;
    case H5I_DATASPACE: H5Sclose(*id); break;
    case H5I_DATATYPE: H5Tclose(*id); break;
    case H5I_ATTR: H5Aclose(*id); break;
    case H5I_GENPROP_LST: H5Pclose(*id); break;
    default: break;
    }
    *id = H5I_INVALID_HID;
}

/* ------------------------------------------------------------------------ */
/* writer                                                                   */

/* Writes attribute name on loc: n < 0 scalar, n == 0 empty (null dataspace),
 * else a 1-D array of n values. */
static cc_status put_attr(const char *path, const char *obj, hid_t loc, const char *name, hid_t ftype,
                          hid_t mtype, int n, const void *buf)
{
    cc_status st = CC_OK;
    hid_t sid = H5I_INVALID_HID, aid = H5I_INVALID_HID;
    hsize_t dim = (hsize_t)(n > 0 ? n : 0);
    sid = n < 0 ? H5Screate(H5S_SCALAR) : n == 0 ? H5Screate(H5S_NULL) : H5Screate_simple(1, &dim, NULL);
    if (sid < 0 || (aid = H5Acreate2(loc, name, ftype, sid, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
        (n != 0 && H5Awrite(aid, mtype, buf) < 0))
        st = cc_error_set(CC_ERR_IO, "%s: cannot write attribute %s of %s", path, name, obj);
    close_id(&aid);
    close_id(&sid);
    return st;
}

static cc_status put_int(const char *path, const char *obj, hid_t loc, const char *name, int v)
{
    return put_attr(path, obj, loc, name, H5T_STD_I32LE, H5T_NATIVE_INT, -1, &v);
}

static cc_status put_double(const char *path, const char *obj, hid_t loc, const char *name, double v)
{
    return put_attr(path, obj, loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, -1, &v);
}

/* n strings (n < 0: one scalar string) as fixed-length NUL-terminated ASCII. */
static cc_status put_strs(const char *path, const char *obj, hid_t loc, const char *name, const char *const *s,
                          int n)
{
    cc_status st = CC_OK;
    int cnt = n < 0 ? 1 : n;
    size_t width = 1;
    char *buf = NULL;
    hid_t tid = H5I_INVALID_HID;
    for (int i = 0; i < cnt; i++)
        if (strlen(s[i]) + 1 > width)
            width = strlen(s[i]) + 1;
    buf = cc_calloc3((size_t)cnt, width, 1);
    if (!buf) {
        st = CC_ERR_NOMEM;
        goto out;
    }
    for (int i = 0; i < cnt; i++)
        memcpy(buf + (size_t)i * width, s[i], strlen(s[i]));
    tid = H5Tcopy(H5T_C_S1);
    if (tid < 0 || H5Tset_size(tid, width) < 0 || H5Tset_strpad(tid, H5T_STR_NULLTERM) < 0 ||
        H5Tset_cset(tid, H5T_CSET_ASCII) < 0) {
        st = cc_error_set(CC_ERR_INTERNAL, "%s: cannot make a string type for %s", path, name);
        goto out;
    }
    st = put_attr(path, obj, loc, name, tid, tid, n, buf);
out:
    close_id(&tid);
    free(buf);
    return st;
}

static cc_status put_str(const char *path, const char *obj, hid_t loc, const char *name, const char *s)
{
    return put_strs(path, obj, loc, name, &s, -1);
}

static cc_status put_tensor(const char *path, hid_t grp, const char *node, const cc_nn_tensor *t, const float *v)
{
    cc_status st = CC_OK;
    hid_t sid = H5I_INVALID_HID, dcpl = H5I_INVALID_HID, did = H5I_INVALID_HID;
    float *tmp = NULL;
    if (!v) { /* absent optional parameter: store its identity value */
        tmp = cc_malloc3(t->count, sizeof *tmp, 1);
        if (!tmp)
            return CC_ERR_NOMEM;
        for (size_t i = 0; i < t->count; i++)
            tmp[i] = t->fill;
        v = tmp;
    }
    hsize_t dims[4];
    for (int d = 0; d < t->rank; d++)
        dims[d] = (hsize_t)t->dims[d];
    sid = H5Screate_simple(t->rank, dims, NULL);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (sid < 0 || dcpl < 0)
        goto fail;
    if (t->count >= MF_COMPRESS_MIN && H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0) {
        if (H5Pset_chunk(dcpl, t->rank, dims) < 0 || H5Pset_shuffle(dcpl) < 0 || H5Pset_deflate(dcpl, 4) < 0)
            goto fail;
    }
    did = H5Dcreate2(grp, t->name, H5T_IEEE_F32LE, sid, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (did < 0 || H5Dwrite(did, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0)
        goto fail;
    goto out;
fail:
    st = cc_error_set(CC_ERR_IO, "%s: cannot write tensor /tensors/%s/%s", path, node, t->name);
out:
    close_id(&did);
    close_id(&dcpl);
    close_id(&sid);
    free(tmp);
    return st;
}

static cc_status check_name(const char *path, const cc_nn_node *nodes, int i)
{
    const char *nm = nodes[i].name;
    size_t len = strnlen(nm, sizeof nodes[i].name);
    if (len == 0 || len >= sizeof nodes[i].name || strchr(nm, '/') || !strcmp(nm, ".") || strchr(nm, ' '))
        return cc_error_set(CC_ERR_ARG, "%s: node %d: name '%.63s' is empty, too long or contains '/' or ' '", path,
                            i, nm);
    for (int j = 0; j < i; j++)
        if (!strcmp(nodes[j].name, nm))
            return cc_error_set(CC_ERR_ARG, "%s: node name '%s' is used twice", path, nm);
    return CC_OK;
}

static cc_status write_contents(const char *path, hid_t fid, const cc_nn_model *m, const char *hash,
                                const char *provenance)
{
    cc_status st = CC_OK;
    hid_t g = H5I_INVALID_HID, sub = H5I_INVALID_HID, tg = H5I_INVALID_HID;
    const cc_nn_input_desc *in = &m->input;
    const cc_nn_node *outn = &m->nodes[m->output_node];
    char obj[96], *arch = NULL;
    const char *names[CC_NN_MAX_IO];
    char outnames[CC_NN_MAX_IO][16];

    arch = cc_nn_model_summary(m);
    if (!arch) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    int one = CC_MODEL_FILE_VERSION;
    if ((st = put_str(path, "/", fid, "format", CC_MODEL_FILE_FORMAT)) ||
        (st = put_int(path, "/", fid, "format_version", one)) ||
        (st = put_str(path, "/", fid, "architecture", arch)) ||
        (st = put_str(path, "/", fid, "content_hash", hash)))
        goto out;

    /* /input */
    if ((g = H5Gcreate2(fid, "/input", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot create group /input", path);
        goto out;
    }
    for (int c = 0; c < in->nchannels; c++)
        names[c] = in->band[c];
    if ((st = put_strs(path, "/input", g, "bands", names, in->nchannels)) ||
        (st = put_attr(path, "/input", g, "resolutions_m", H5T_STD_I32LE, H5T_NATIVE_INT, in->nchannels,
                       in->resolution_m)) ||
        (st = put_double(path, "/input", g, "dn_offset", in->dn_offset)) ||
        (st = put_double(path, "/input", g, "quantification", in->quantification)) ||
        (st = put_attr(path, "/input", g, "mean", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, in->nchannels, in->mean)) ||
        (st = put_attr(path, "/input", g, "std", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, in->nchannels, in->std)) ||
        (st = put_str(path, "/input", g, "decoding",
                      "rho = (DN + dn_offset) / quantification; x = (rho - mean) / std; DN 0 = nodata")))
        goto out;
    close_id(&g);

    /* /output (informative; the encoding itself lives in the output node) */
    if ((g = H5Gcreate2(fid, "/output", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot create group /output", path);
        goto out;
    }
    char conv[256];
    snprintf(conv, sizeof conv,
             "rho = value*scale + shift (+ input rho of residual_channel); DN = 10000*rho + %g; "
             "clamped to [1, 65534]; DN 0 = nodata",
             outn->out_dn_offset);
    for (int c = 0; c < outn->cout; c++) {
        int r = outn->residual_channel[c];
        if (r >= 0)
            snprintf(outnames[c], sizeof outnames[c], "%s", in->band[r]);
        else
            snprintf(outnames[c], sizeof outnames[c], "out%d", c);
        names[c] = outnames[c];
    }
    if ((st = put_str(path, "/output", g, "convention", conv)) ||
        (st = put_strs(path, "/output", g, "bands", names, outn->cout)) ||
        (st = put_double(path, "/output", g, "out_dn_offset", outn->out_dn_offset)))
        goto out;
    close_id(&g);

    /* /graph and /tensors */
    if ((g = H5Gcreate2(fid, "/graph", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
        (tg = H5Gcreate2(fid, "/tensors", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot create groups /graph, /tensors", path);
        goto out;
    }
    for (int i = 0; i < m->nnodes; i++) {
        const cc_nn_node *nd = &m->nodes[i];
        snprintf(obj, sizeof obj, "/graph/node%04d", i);
        if ((sub = H5Gcreate2(fid, obj, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0) {
            st = cc_error_set(CC_ERR_IO, "%s: cannot create group %s", path, obj);
            goto out;
        }
        if ((st = put_str(path, obj, sub, "op", cc_op_name(nd->op))) ||
            (st = put_str(path, obj, sub, "name", nd->name)) ||
            (st = put_attr(path, obj, sub, "inputs", H5T_STD_I32LE, H5T_NATIVE_INT, nd->ninputs, nd->inputs)) ||
            (st = put_int(path, obj, sub, "cout", nd->cout)) ||
            (st = put_int(path, obj, sub, "kernel", cc_nn_canon_kernel(nd))) ||
            (st = put_int(path, obj, sub, "stride", cc_nn_canon_stride(nd))) ||
            (st = put_str(path, obj, sub, "pad", cc_pad_name(nd->pad))) ||
            (st = put_str(path, obj, sub, "act", cc_act_name(nd->act))) ||
            (st = put_attr(path, obj, sub, "alpha", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, -1, &nd->alpha)) ||
            (st = put_int(path, obj, sub, "in_channels", nd->in_channels)) ||
            (st = put_double(path, obj, sub, "out_dn_offset", nd->out_dn_offset)))
            goto out;
        if (nd->op == CC_OP_OUTPUT &&
            (st = put_attr(path, obj, sub, "residual_channel", H5T_STD_I32LE, H5T_NATIVE_INT, nd->cout,
                           nd->residual_channel)))
            goto out;
        close_id(&sub);

        cc_nn_tensor t[2];
        int nt = cc_nn_node_tensors(m->nodes, i, t);
        if (nt == 0)
            continue;
        if ((sub = H5Gcreate2(tg, nd->name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0) {
            st = cc_error_set(CC_ERR_IO, "%s: cannot create group /tensors/%s", path, nd->name);
            goto out;
        }
        for (int j = 0; j < nt; j++)
            if ((st = put_tensor(path, sub, nd->name, &t[j], cc_nn_tensor_values(nd, &t[j]))))
                goto out;
        close_id(&sub);
    }
    close_id(&g);

    /* /provenance */
    if ((g = H5Gcreate2(fid, "/provenance", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot create group /provenance", path);
        goto out;
    }
    char when[CC_DATE_STAMP_SIZE];
    cc_date_stamp(time(NULL), when, sizeof when);
    if ((st = put_str(path, "/provenance", g, "text", provenance)) ||
        (st = put_str(path, "/provenance", g, "software", "clearcube " CC_VERSION)) ||
        (st = put_str(path, "/provenance", g, "written_utc", when)))
        goto out;
out:
    close_id(&sub);
    close_id(&tg);
    close_id(&g);
    free(arch);
    return st;
}

cc_status cc_model_file_write(const char *path, const cc_nn_model *m, const char *provenance)
{
    cc_status st = CC_OK;
    hid_t fid = H5I_INVALID_HID, fapl = H5I_INVALID_HID;
    char *tmp = NULL, hash[65];
    mf_eauto ea;

    if (!path || !m || m->nnodes < 1 || !m->nodes || m->output_node < 0 || m->output_node >= m->nnodes ||
        m->nodes[m->output_node].op != CC_OP_OUTPUT)
        return cc_error_set(CC_ERR_ARG, "%s: model is empty or not finalised", path ? path : "(null)");
    if (!provenance)
        provenance = m->provenance ? m->provenance : "";
    for (int i = 0; i < m->nnodes; i++)
        if ((st = check_name(path, m->nodes, i)) != CC_OK)
            return st;
    if (m->input.nchannels < 1 || m->input.nchannels > CC_NN_MAX_IO)
        return cc_error_set(CC_ERR_ARG, "%s: model has %d input bands", path, m->input.nchannels);
    for (int c = 0; c < m->input.nchannels; c++)
        if (strnlen(m->input.band[c], sizeof m->input.band[c]) == 0 ||
            strnlen(m->input.band[c], sizeof m->input.band[c]) >= sizeof m->input.band[c])
            return cc_error_set(CC_ERR_ARG, "%s: input band %d has no name", path, c);
    for (int i = 0; i < m->nnodes; i++) {
        const cc_nn_node *nd = &m->nodes[i];
        if ((nd->op == CC_OP_CONV2D || nd->op == CC_OP_CONV1D_TIME) && !nd->weight)
            return cc_error_set(CC_ERR_ARG, "%s: node %s has no weight", path, nd->name);
    }
    if ((st = cc_nn_check_graph(path, m->nodes, m->nnodes, m->input.nchannels)) != CC_OK) {
        cc_error_set(CC_ERR_ARG, "%s (model not finalised?)", cc_error_message());
        return CC_ERR_ARG;
    }
    if ((st = cc_nn_hash_parts(path, &m->input, m->nodes, m->nnodes, hash)) != CC_OK)
        return st;

    size_t tlen = strlen(path) + 32;
    tmp = malloc(tlen);
    if (!tmp)
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
    if ((st = cc_fs_temp_name(path, NULL, tmp, tlen)) != CC_OK) {
        free(tmp);
        return st;
    }

    eauto_off(&ea);
    /* File format >= 1.8 (object header v2, superblock v2): HDF5 then keeps
     * checksums on all metadata, so a damaged file is reported by the library
     * instead of being parsed (the 1.6-compatible default has none). Readable
     * by HDF5 >= 1.10.0, h5py and h5dump.
     * The file is built in memory (core driver, no backing store) and its
     * image written with plain writes (core/fs.h: temporary, fsync, rename):
     * a full disk is then an ordinary ENOSPC named with the path, never an
     * HDF5 flush that fails half way, whose file HDF5 can neither close nor
     * forget (a crash in H5F__close_cb at exit; issue 17). */
    fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0 || H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, MF_LIBVER_HIGH) < 0 ||
        H5Pset_fapl_core(fapl, 1 << 20, 0) < 0) {
        st = cc_error_set(CC_ERR_INTERNAL, "%s: cannot set the HDF5 file format version", path);
        goto out;
    }
    fid = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (fid < 0) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot create the model in memory", path);
        goto out;
    }
    if ((st = write_contents(path, fid, m, hash, provenance)) != CC_OK)
        goto out;
    st = cc_h5_image_write(fid, path);
out:
    close_id(&fid);
    close_id(&fapl);
    eauto_restore(&ea);
    free(tmp);
    return st;
}

/* ------------------------------------------------------------------------ */
/* reader                                                                   */

/* Opens attribute name of loc (obj names it for messages) and checks it has
 * at most maxn values (scalar = 1, null dataspace = 0, else rank 1) of class
 * want (H5T_FLOAT also accepts H5T_INTEGER). Returns CC_OK with *aid, *ftype,
 * *n set (caller closes), or an error. */
static cc_status open_attr(const char *path, const char *obj, hid_t loc, const char *name, H5T_class_t want,
                           int maxn, hid_t *aid, hid_t *ftype, int *n)
{
    cc_status st = CC_OK;
    hid_t sid = H5I_INVALID_HID;
    htri_t ex = H5Aexists(loc, name);
    *aid = *ftype = H5I_INVALID_HID;
    *n = 0;
    if (ex <= 0) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: %s has no attribute '%s'", path, obj, name);
        goto out;
    }
    if ((*aid = H5Aopen(loc, name, H5P_DEFAULT)) < 0 || (sid = H5Aget_space(*aid)) < 0 ||
        (*ftype = H5Aget_type(*aid)) < 0) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: cannot open attribute %s of %s", path, name, obj);
        goto out;
    }
    H5T_class_t cls = H5Tget_class(*ftype);
    if (!(cls == want || (want == H5T_FLOAT && cls == H5T_INTEGER))) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: attribute %s of %s has the wrong type (expected %s)", path, name, obj,
                          want == H5T_STRING ? "string" : want == H5T_INTEGER ? "integer" : "number");
        goto out;
    }
    H5S_class_t sc = H5Sget_simple_extent_type(sid);
    hssize_t np = H5Sget_simple_extent_npoints(sid);
    if (sc == H5S_NULL)
        np = 0;
    else if (sc == H5S_NO_CLASS || np < 0 || (sc == H5S_SIMPLE && H5Sget_simple_extent_ndims(sid) != 1)) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: attribute %s of %s is not a scalar or 1-D array", path, name, obj);
        goto out;
    }
    if (np > maxn) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: attribute %s of %s has %lld values (at most %d expected)", path, name,
                          obj, (long long)np, maxn);
        goto out;
    }
    *n = (int)np;
out:
    close_id(&sid);
    if (st != CC_OK) {
        close_id(ftype);
        close_id(aid);
    }
    return st;
}

/* Reads up to maxn numbers (H5T_INTEGER into int, or H5T_FLOAT into the
 * memory type mtype); exact: the count must be exactly maxn. */
static cc_status get_nums(const char *path, const char *obj, hid_t loc, const char *name, H5T_class_t want,
                          hid_t mtype, void *buf, int maxn, int exact, int *nread)
{
    hid_t aid, ftype;
    int n;
    cc_status st = open_attr(path, obj, loc, name, want, maxn, &aid, &ftype, &n);
    if (st != CC_OK)
        return st;
    if (exact && n != maxn)
        st = cc_error_set(CC_ERR_FORMAT, "%s: attribute %s of %s has %d values, expected %d", path, name, obj, n,
                          maxn);
    else if (n > 0 && H5Aread(aid, mtype, buf) < 0)
        st = cc_error_set(CC_ERR_FORMAT, "%s: cannot read attribute %s of %s", path, name, obj);
    close_id(&ftype);
    close_id(&aid);
    if (nread)
        *nread = n;
    return st;
}

static cc_status get_int(const char *path, const char *obj, hid_t loc, const char *name, int *v)
{
    return get_nums(path, obj, loc, name, H5T_INTEGER, H5T_NATIVE_INT, v, 1, 1, NULL);
}

static cc_status get_double(const char *path, const char *obj, hid_t loc, const char *name, double *v)
{
    return get_nums(path, obj, loc, name, H5T_FLOAT, H5T_NATIVE_DOUBLE, v, 1, 1, NULL);
}

/* Reads a string attribute (fixed or variable length, scalar or 1-D, at most
 * maxn) into a malloc'd array of malloc'd strings (*out, *n; free with
 * free_strs). */
static void free_strs(char **s, int n)
{
    if (!s)
        return;
    for (int i = 0; i < n; i++)
        free(s[i]);
    free(s);
}

/* Names and keywords are printable ASCII; free text (text != 0) may also hold
 * tabs, newlines and UTF-8. Keeps control bytes from a damaged file out of
 * error messages and logs. */
static int str_ok(const char *s, int text)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\n' || *p == '\t' || *p == '\r') {
            if (!text)
                return 0;
        } else if (*p < 0x20 || *p == 0x7f || (*p > 0x7f && !text)) {
            return 0;
        }
    }
    return 1;
}

static cc_status get_strs(const char *path, const char *obj, hid_t loc, const char *name, int maxn, int text,
                          char ***out, int *nout)
{
    hid_t aid, ftype, mtype = H5I_INVALID_HID, sid = H5I_INVALID_HID;
    int n = 0, nfilled = 0;
    char **res = NULL, **vl = NULL, *fixed = NULL;
    *out = NULL;
    *nout = 0;
    cc_status st = open_attr(path, obj, loc, name, H5T_STRING, maxn, &aid, &ftype, &n);
    if (st != CC_OK)
        return st;
    res = calloc((size_t)(n > 0 ? n : 1), sizeof *res);
    if (!res) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    if (n == 0)
        goto out;
    htri_t isvl = H5Tis_variable_str(ftype);
    mtype = H5Tcopy(H5T_C_S1);
    if (isvl < 0 || mtype < 0)
        goto bad;
    if (isvl) {
        vl = calloc((size_t)n, sizeof *vl);
        if (!vl || H5Tset_size(mtype, H5T_VARIABLE) < 0 || H5Tset_cset(mtype, H5Tget_cset(ftype)) < 0 ||
            H5Aread(aid, mtype, vl) < 0)
            goto bad;
        for (int i = 0; i < n; i++) {
            const char *s = vl[i] ? vl[i] : "";
            if (strlen(s) > MF_MAX_STRING || !(res[i] = strdup(s)))
                goto bad_reclaim;
            nfilled++;
        }
        if ((sid = H5Aget_space(aid)) >= 0)
            mf_vlen_reclaim(mtype, sid, H5P_DEFAULT, vl);
    } else {
        size_t w = H5Tget_size(ftype);
        if (w == 0 || w > MF_MAX_STRING)
            goto bad;
        fixed = cc_malloc3((size_t)n, w, 1);
        if (!fixed || H5Tset_size(mtype, w) < 0 || H5Tset_strpad(mtype, H5Tget_strpad(ftype)) < 0 ||
            H5Tset_cset(mtype, H5Tget_cset(ftype)) < 0 || H5Aread(aid, mtype, fixed) < 0)
            goto bad;
        for (int i = 0; i < n; i++) {
            const char *e = fixed + (size_t)i * w;
            size_t len = strnlen(e, w);
            while (len > 0 && e[len - 1] == ' ' && H5Tget_strpad(ftype) == H5T_STR_SPACEPAD)
                len--;
            if (!(res[i] = malloc(len + 1)))
                goto bad;
            memcpy(res[i], e, len);
            res[i][len] = '\0';
            nfilled++;
        }
    }
    for (int i = 0; i < n; i++)
        if (!str_ok(res[i], text)) {
            st = cc_error_set(CC_ERR_FORMAT, "%s: attribute %s of %s is not %s", path, name, obj,
                              text ? "text" : "printable ASCII");
            goto out;
        }
    goto out;
bad_reclaim:
    if ((sid = H5Aget_space(aid)) >= 0)
        mf_vlen_reclaim(mtype, sid, H5P_DEFAULT, vl);
bad:
    st = cc_error_set(CC_ERR_FORMAT, "%s: cannot read string attribute %s of %s", path, name, obj);
out:
    close_id(&sid);
    close_id(&mtype);
    close_id(&ftype);
    close_id(&aid);
    free(vl);
    free(fixed);
    if (st != CC_OK) {
        free_strs(res, nfilled);
    } else {
        *out = res;
        *nout = n;
    }
    return st;
}

/* One scalar string into buf (bufsz), or an error if longer. */
static cc_status get_str(const char *path, const char *obj, hid_t loc, const char *name, char *buf, size_t bufsz)
{
    char **s = NULL;
    int n = 0;
    cc_status st = get_strs(path, obj, loc, name, 1, 0, &s, &n);
    if (st != CC_OK)
        return st;
    if (n != 1 || strlen(s[0]) >= bufsz)
        st = cc_error_set(CC_ERR_FORMAT, "%s: attribute %s of %s is not a string of at most %zu characters", path,
                          name, obj, bufsz - 1);
    else
        memcpy(buf, s[0], strlen(s[0]) + 1);
    free_strs(s, n);
    return st;
}

static hid_t open_group(const char *path, hid_t fid, const char *name, cc_status *st)
{
    htri_t ex = H5Lexists(fid, name, H5P_DEFAULT);
    hid_t g = ex > 0 ? H5Gopen2(fid, name, H5P_DEFAULT) : H5I_INVALID_HID;
    if (g < 0)
        *st = cc_error_set(CC_ERR_FORMAT, "%s: missing or unreadable group %s", path, name);
    return g;
}

static cc_status read_input(const char *path, hid_t fid, cc_nn_input_desc *in)
{
    cc_status st = CC_OK;
    char **bands = NULL;
    int nb = 0, n = 0;
    hid_t g = open_group(path, fid, "/input", &st);
    if (g < 0)
        return st;
    memset(in, 0, sizeof *in);
    if ((st = get_strs(path, "/input", g, "bands", CC_NN_MAX_IO, 0, &bands, &nb)) != CC_OK)
        goto out;
    if (nb < 1) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: /input has no bands", path);
        goto out;
    }
    in->nchannels = nb;
    for (int c = 0; c < nb; c++) {
        if (strlen(bands[c]) == 0 || strlen(bands[c]) >= sizeof in->band[c] || strchr(bands[c], ' ') ||
            strchr(bands[c], ',')) {
            st = cc_error_set(CC_ERR_FORMAT, "%s: /input band name '%.32s' is empty, too long or has ' ' or ','",
                              path, bands[c]);
            goto out;
        }
        memcpy(in->band[c], bands[c], strlen(bands[c]) + 1);
    }
    if ((st = get_nums(path, "/input", g, "resolutions_m", H5T_INTEGER, H5T_NATIVE_INT, in->resolution_m, nb, 1,
                       &n)) ||
        (st = get_double(path, "/input", g, "dn_offset", &in->dn_offset)) ||
        (st = get_double(path, "/input", g, "quantification", &in->quantification)) ||
        (st = get_nums(path, "/input", g, "mean", H5T_FLOAT, H5T_NATIVE_FLOAT, in->mean, nb, 1, &n)) ||
        (st = get_nums(path, "/input", g, "std", H5T_FLOAT, H5T_NATIVE_FLOAT, in->std, nb, 1, &n)))
        goto out;
out:
    free_strs(bands, nb);
    close_id(&g);
    return st;
}

static cc_status read_node(const char *path, hid_t fid, int i, cc_nn_node *nd)
{
    cc_status st = CC_OK;
    char obj[64], opname[64], pad[16], act[32];
    snprintf(obj, sizeof obj, "/graph/node%04d", i);
    hid_t g = open_group(path, fid, obj, &st);
    if (g < 0)
        return st;
    if ((st = get_str(path, obj, g, "op", opname, sizeof opname)) ||
        (st = get_str(path, obj, g, "name", nd->name, sizeof nd->name)) ||
        (st = get_nums(path, obj, g, "inputs", H5T_INTEGER, H5T_NATIVE_INT, nd->inputs, CC_NN_MAX_INPUTS, 0,
                       &nd->ninputs)) ||
        (st = get_int(path, obj, g, "cout", &nd->cout)) || (st = get_int(path, obj, g, "kernel", &nd->kernel)) ||
        (st = get_int(path, obj, g, "stride", &nd->stride)) ||
        (st = get_str(path, obj, g, "pad", pad, sizeof pad)) || (st = get_str(path, obj, g, "act", act, sizeof act)) ||
        (st = get_nums(path, obj, g, "alpha", H5T_FLOAT, H5T_NATIVE_FLOAT, &nd->alpha, 1, 1, NULL)) ||
        (st = get_int(path, obj, g, "in_channels", &nd->in_channels)) ||
        (st = get_double(path, obj, g, "out_dn_offset", &nd->out_dn_offset)))
        goto out;
    if (strchr(nd->name, '/') || strchr(nd->name, ' ') || !nd->name[0] || !strcmp(nd->name, ".")) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: %s: bad node name '%s'", path, obj, nd->name);
        goto out;
    }
    int op = cc_op_parse(opname), a = cc_act_parse(act), p = cc_pad_parse(pad);
    if (op < 0 || op >= CC_OP_COUNT || a < 0 || p < 0) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: %s (%s): unknown %s '%s'", path, obj, nd->name,
                          op < 0 || op >= CC_OP_COUNT ? "op" : a < 0 ? "activation" : "padding",
                          op < 0 || op >= CC_OP_COUNT ? opname : a < 0 ? act : pad);
        goto out;
    }
    nd->op = (cc_op_type)op;
    nd->act = (cc_act)a;
    nd->pad = (cc_pad)p;
    if (nd->op == CC_OP_OUTPUT) {
        int n = 0;
        if (nd->cout < 0 || nd->cout > CC_NN_MAX_IO) {
            st = cc_error_set(CC_ERR_FORMAT, "%s: %s: output cout %d out of range", path, obj, nd->cout);
            goto out;
        }
        if ((st = get_nums(path, obj, g, "residual_channel", H5T_INTEGER, H5T_NATIVE_INT, nd->residual_channel,
                           nd->cout, 1, &n)))
            goto out;
    }
out:
    close_id(&g);
    return st;
}

static const char *dtype_name(hid_t t, char *buf, size_t sz)
{
    H5T_class_t c = H5Tget_class(t);
    size_t s = H5Tget_size(t);
    if (c == H5T_FLOAT)
        snprintf(buf, sz, "float%zu", s * 8);
    else if (c == H5T_INTEGER)
        snprintf(buf, sz, "%sint%zu", H5Tget_sign(t) == H5T_SGN_NONE ? "u" : "", s * 8);
    else if (c == H5T_STRING)
        snprintf(buf, sz, "string");
    else
        snprintf(buf, sz, "HDF5 class %d", (int)c);
    return buf;
}

static cc_status read_tensor(const char *path, hid_t fid, const char *node, const cc_nn_tensor *t, float **out)
{
    cc_status st = CC_OK;
    char obj[160], dn[32];
    hid_t did = H5I_INVALID_HID, tid = H5I_INVALID_HID, sid = H5I_INVALID_HID;
    float *buf = NULL;
    hsize_t dims[H5S_MAX_RANK];
    *out = NULL;

    snprintf(obj, sizeof obj, "/tensors/%s", node);
    if (H5Lexists(fid, "/tensors", H5P_DEFAULT) <= 0 || H5Lexists(fid, obj, H5P_DEFAULT) <= 0 ||
        (snprintf(obj, sizeof obj, "/tensors/%s/%s", node, t->name), H5Lexists(fid, obj, H5P_DEFAULT) <= 0)) {
        snprintf(obj, sizeof obj, "/tensors/%s/%s", node, t->name);
        st = cc_error_set(CC_ERR_FORMAT, "%s: missing tensor %s", path, obj);
        goto out;
    }
    if ((did = H5Dopen2(fid, obj, H5P_DEFAULT)) < 0 || (tid = H5Dget_type(did)) < 0 ||
        (sid = H5Dget_space(did)) < 0) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: tensor %s is not a readable dataset", path, obj);
        goto out;
    }
    if (H5Tget_class(tid) != H5T_FLOAT || H5Tget_size(tid) != 4) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: tensor %s has the wrong dtype (%s, expected float32)", path, obj,
                          dtype_name(tid, dn, sizeof dn));
        goto out;
    }
    int rank = H5Sget_simple_extent_ndims(sid);
    int same = rank == t->rank && H5Sget_simple_extent_type(sid) == H5S_SIMPLE;
    if (rank >= 0 && rank <= H5S_MAX_RANK && H5Sget_simple_extent_dims(sid, dims, NULL) == rank)
        for (int d = 0; same && d < rank; d++)
            same = dims[d] == t->dims[d];
    else
        same = 0;
    if (!same) {
        char got[128] = "", want[128] = "";
        size_t k = 0;
        for (int d = 0; rank > 0 && rank <= H5S_MAX_RANK && d < rank && k < sizeof got; d++)
            k += (size_t)snprintf(got + k, sizeof got - k, "%s%llu", d ? "," : "", (unsigned long long)dims[d]);
        k = 0;
        for (int d = 0; d < t->rank; d++)
            k += (size_t)snprintf(want + k, sizeof want - k, "%s%llu", d ? "," : "", (unsigned long long)t->dims[d]);
        st = cc_error_set(CC_ERR_FORMAT, "%s: tensor %s has the wrong shape [%s], expected [%s]", path, obj, got,
                          want);
        goto out;
    }
    buf = cc_malloc3(t->count, sizeof *buf, 1);
    if (!buf) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: tensor %s: out of memory", path, obj);
        goto out;
    }
    if (H5Dread(did, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: cannot read tensor %s (corrupt file?)", path, obj);
        goto out;
    }
    *out = buf;
    buf = NULL;
out:
    free(buf);
    close_id(&sid);
    close_id(&tid);
    close_id(&did);
    return st;
}

static cc_status open_model_file(const char *path, hid_t *fid)
{
    struct stat sb;
    *fid = H5I_INVALID_HID;
    if (stat(path, &sb) != 0)
        return cc_error_set(CC_ERR_IO, "%s: cannot open model file: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return cc_error_set(CC_ERR_IO, "%s: not a regular file", path);
    htri_t is = H5Fis_hdf5(path);
    if (is == 0)
        return cc_error_set(CC_ERR_FORMAT, "%s: not an HDF5 file", path);
    if (is < 0)
        return cc_error_set(CC_ERR_IO, "%s: cannot read model file", path);
    *fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (*fid < 0)
        return cc_error_set(CC_ERR_FORMAT, "%s: cannot open HDF5 file (truncated or corrupt?)", path);
    return CC_OK;
}

cc_status cc_model_file_read(const char *path, cc_nn_model *m)
{
    cc_status st = CC_OK;
    hid_t fid = H5I_INVALID_HID, g = H5I_INVALID_HID;
    cc_nn_node *nodes = NULL;
    cc_nn_input_desc in;
    char fmt[64], hash_file[80], hash_now[65], **prov = NULL;
    int nnodes = 0, version = 0, nprov = 0;
    mf_eauto ea;

    if (!m)
        return cc_error_set(CC_ERR_ARG, "%s: no model to read into", path ? path : "(null)");
    cc_nn_model_init(m);
    if (!path)
        return cc_error_set(CC_ERR_ARG, "model file: no path");
    eauto_off(&ea);
    if ((st = open_model_file(path, &fid)) != CC_OK)
        goto out;

    /* identification */
    if (H5Aexists(fid, "format") <= 0 || get_str(path, "/", fid, "format", fmt, sizeof fmt) != CC_OK ||
        strcmp(fmt, CC_MODEL_FILE_FORMAT) != 0) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: not a clearcube model file (no format = \"%s\" attribute)", path,
                          CC_MODEL_FILE_FORMAT);
        goto out;
    }
    if ((st = get_int(path, "/", fid, "format_version", &version)) != CC_OK)
        goto out;
    if (version != CC_MODEL_FILE_VERSION) {
        st = cc_error_set(CC_ERR_UNSUPPORTED, "%s: unknown model format_version %d (this build reads %d)", path,
                          version, CC_MODEL_FILE_VERSION);
        goto out;
    }
    if ((st = get_str(path, "/", fid, "content_hash", hash_file, sizeof hash_file)) != CC_OK)
        goto out;

    if ((st = read_input(path, fid, &in)) != CC_OK)
        goto out;

    /* graph */
    H5G_info_t gi;
    if ((g = open_group(path, fid, "/graph", &st)) < 0)
        goto out;
    if (H5Gget_info(g, &gi) < 0 || gi.nlinks < 1 || gi.nlinks > MF_MAX_NODES) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: /graph must hold 1..%d nodes", path, MF_MAX_NODES);
        goto out;
    }
    nnodes = (int)gi.nlinks;
    nodes = calloc((size_t)nnodes, sizeof *nodes);
    if (!nodes) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    for (int i = 0; i < nnodes; i++)
        if ((st = read_node(path, fid, i, &nodes[i])) != CC_OK)
            goto out;
    for (int i = 0; i < nnodes; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(nodes[i].name, nodes[j].name)) {
                st = cc_error_set(CC_ERR_FORMAT, "%s: node name '%s' is used twice", path, nodes[i].name);
                goto out;
            }
    if ((st = cc_nn_check_graph(path, nodes, nnodes, in.nchannels)) != CC_OK)
        goto out;

    /* tensors */
    for (int i = 0; i < nnodes; i++) {
        cc_nn_tensor t[2];
        int nt = cc_nn_node_tensors(nodes, i, t);
        for (int j = 0; j < nt; j++)
            if ((st = read_tensor(path, fid, nodes[i].name, &t[j], cc_nn_tensor_slot(&nodes[i], &t[j]))) != CC_OK)
                goto out;
    }

    /* hash */
    if ((st = cc_nn_hash_parts(path, &in, nodes, nnodes, hash_now)) != CC_OK)
        goto out;
    if (strcmp(hash_now, hash_file) != 0) {
        st = cc_error_set(CC_ERR_CHECKSUM, "%s: content hash mismatch (file says %.64s, contents give %s)", path,
                          hash_file, hash_now);
        goto out;
    }

    /* provenance (optional) */
    if (H5Lexists(fid, "/provenance", H5P_DEFAULT) > 0) {
        close_id(&g);
        if ((g = open_group(path, fid, "/provenance", &st)) < 0)
            goto out;
        if (H5Aexists(g, "text") > 0 && (st = get_strs(path, "/provenance", g, "text", 1, 1, &prov, &nprov)) != CC_OK)
            goto out;
    }

    /* build through the nn.h builder */
    m->input = in;
    for (int i = 0; i < nnodes; i++) {
        if (cc_nn_model_add(m, &nodes[i]) != i) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", cc_error_message());
            st = cc_error_set(CC_ERR_FORMAT, "%s: node %s: %s", path, nodes[i].name, msg);
            goto out;
        }
    }
    if (cc_nn_model_finalize(m) != CC_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", cc_error_message());
        st = cc_error_set(CC_ERR_FORMAT, "%s: %s", path, msg);
        goto out;
    }
    memcpy(m->content_hash, hash_now, sizeof m->content_hash);
    if (nprov == 1) {
        free(m->provenance);
        m->provenance = prov[0];
        prov[0] = NULL;
    }
out:
    free_strs(prov, nprov);
    if (nodes) {
        for (int i = 0; i < nnodes; i++) {
            free(nodes[i].weight);
            free(nodes[i].bias);
            free(nodes[i].scale);
            free(nodes[i].shift);
        }
        free(nodes);
    }
    close_id(&g);
    close_id(&fid);
    eauto_restore(&ea);
    if (st != CC_OK) {
        cc_nn_model_free(m);
        cc_nn_model_init(m);
    }
    return st;
}

cc_status cc_model_check_bands(const cc_nn_model *m, const char *const *bands, int nbands, const char *input_name)
{
    int same = m && bands && nbands == m->input.nchannels;
    for (int c = 0; same && c < nbands; c++)
        same = bands[c] && strcmp(bands[c], m->input.band[c]) == 0;
    if (same)
        return CC_OK;
    char got[CC_NN_MAX_IO * 10 + 16] = "", want[CC_NN_MAX_IO * 10 + 16] = "";
    size_t k = 0;
    for (int c = 0; bands && c < nbands && c < CC_NN_MAX_IO; c++)
        k += (size_t)snprintf(got + k, sizeof got - k, "%s%.8s", c ? "," : "", bands[c] ? bands[c] : "?");
    k = 0;
    for (int c = 0; m && c < m->input.nchannels && c < CC_NN_MAX_IO; c++)
        k += (size_t)snprintf(want + k, sizeof want - k, "%s%s", c ? "," : "", m->input.band[c]);
    return cc_error_set(CC_ERR_ARG, "%s: input band order %s does not match the model's %s",
                        input_name ? input_name : "input", got, want);
}
