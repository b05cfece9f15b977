/* Model files (io/model_file.h): bit-exact round trip of a model that uses
 * every op and of the reference models A/B/C, h5dump readability, and one
 * specific error (never a crash) for each kind of bad file. */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "core/fs.h"
#include "io/model_file.h"
#include "mf_model.h"
#include "testutil.h"

static char dir[2048];

static const char *tmp_path(const char *name)
{
    static char buf[4][2300];
    static int k = 0;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static void compare_models(const cc_nn_model *a, const cc_nn_model *b)
{
    CHECK(a->nnodes == b->nnodes);
    CHECK(a->output_node == b->output_node);
    CHECK(a->halo == b->halo);
    CHECK(a->size_multiple == b->size_multiple);
    CHECK(a->input.nchannels == b->input.nchannels);
    CHECK(memcmp(&a->input.dn_offset, &b->input.dn_offset, sizeof(double)) == 0);
    CHECK(memcmp(&a->input.quantification, &b->input.quantification, sizeof(double)) == 0);
    for (int c = 0; c < a->input.nchannels && c < CC_NN_MAX_IO; c++) {
        CHECK(strcmp(a->input.band[c], b->input.band[c]) == 0);
        CHECK(a->input.resolution_m[c] == b->input.resolution_m[c]);
        CHECK(memcmp(&a->input.mean[c], &b->input.mean[c], sizeof(float)) == 0);
        CHECK(memcmp(&a->input.std[c], &b->input.std[c], sizeof(float)) == 0);
    }
    for (int i = 0; i < a->nnodes && i < b->nnodes; i++) {
        const cc_nn_node *x = &a->nodes[i], *y = &b->nodes[i];
        CHECK(x->op == y->op);
        CHECK(strcmp(x->name, y->name) == 0);
        CHECK(x->ninputs == y->ninputs);
        for (int j = 0; j < x->ninputs; j++)
            CHECK(x->inputs[j] == y->inputs[j]);
        CHECK(x->cout == y->cout);
        CHECK(x->kernel == y->kernel);
        CHECK(x->stride == y->stride);
        CHECK(x->pad == y->pad);
        CHECK(x->act == y->act);
        CHECK(memcmp(&x->alpha, &y->alpha, sizeof(float)) == 0);
        CHECK(x->in_channels == y->in_channels);
        CHECK(memcmp(&x->out_dn_offset, &y->out_dn_offset, sizeof(double)) == 0);
        if (x->op == CC_OP_OUTPUT)
            for (int c = 0; c < x->cout; c++)
                CHECK(x->residual_channel[c] == y->residual_channel[c]);
        size_t cin = x->ninputs ? (size_t)a->nodes[x->inputs[0]].cout : 0, co = (size_t)x->cout;
        size_t nw = x->op == CC_OP_CONV2D ? co * (size_t)(x->kernel * x->kernel) * cin
                    : x->op == CC_OP_CONV1D_TIME ? co * (size_t)x->kernel * cin : 0;
        if (nw)
            CHECK(x->weight && y->weight && memcmp(x->weight, y->weight, nw * sizeof(float)) == 0);
        if (x->bias)
            CHECK(y->bias && memcmp(x->bias, y->bias, co * sizeof(float)) == 0);
        if (x->scale)
            CHECK(y->scale && memcmp(x->scale, y->scale, co * sizeof(float)) == 0);
        if (x->shift)
            CHECK(y->shift && memcmp(x->shift, y->shift, co * sizeof(float)) == 0);
    }
}

static void test_round_trip(const char *good)
{
    cc_nn_model m1, m2, m3;
    char h1[65];
    struct stat sb;
    CHECK_OK(mf_build_every_op(&m1));
    CHECK_OK(cc_nn_model_hash(&m1, h1));
    CHECK_OK(cc_model_file_write(good, &m1, NULL));
    CHECK_OK(cc_model_file_read(good, &m2));
    compare_models(&m1, &m2);
    CHECK(strcmp(m2.content_hash, h1) == 0);
    CHECK(m2.provenance && m1.provenance && strcmp(m1.provenance, m2.provenance) == 0);
    /* the temporary file is gone */
    char tmp[2600];
    CHECK_OK(cc_fs_temp_name(good, NULL, tmp, sizeof tmp));
    CHECK(stat(tmp, &sb) != 0);

    /* write what was read: same hash, same model */
    const char *again = tmp_path("again.h5");
    CHECK_OK(cc_model_file_write(again, &m2, "rewritten"));
    CHECK_OK(cc_model_file_read(again, &m3));
    compare_models(&m1, &m3);
    CHECK(strcmp(m3.content_hash, h1) == 0);
    CHECK(m3.provenance && strcmp(m3.provenance, "rewritten") == 0);
    cc_nn_model_free(&m3);

    /* a failed write leaves the existing file alone and no temporary behind */
    cc_nn_model empty;
    cc_nn_model_init(&empty);
    CHECK(cc_model_file_write(again, &empty, NULL) == CC_ERR_ARG);
    CHECK(strstr(cc_error_message(), "again.h5") != NULL);
    CHECK_OK(cc_model_file_read(again, &m3));
    cc_nn_model_free(&m3);
    CHECK(cc_model_file_write("/nonexistent-dir/x/model.h5", &m1, NULL) == CC_ERR_IO);
    printf("write into a missing directory: %s\n", cc_error_message());

    /* band order */
    const char *ok[4] = {"B02", "B03", "B04", "B8A"};
    const char *swapped[4] = {"B03", "B02", "B04", "B8A"};
    CHECK_OK(cc_model_check_bands(&m2, ok, 4, "S2A_MSIL1C_test.SAFE"));
    CHECK(cc_model_check_bands(&m2, swapped, 4, "S2A_MSIL1C_test.SAFE") == CC_ERR_ARG);
    printf("band order mismatch: %s\n", cc_error_message());
    CHECK(strstr(cc_error_message(), "S2A_MSIL1C_test.SAFE") != NULL);
    CHECK(strstr(cc_error_message(), "B03,B02,B04,B8A") != NULL);
    CHECK(strstr(cc_error_message(), "B02,B03,B04,B8A") != NULL);
    CHECK(cc_model_check_bands(&m2, ok, 3, "x") == CC_ERR_ARG);
    CHECK(cc_model_check_bands(&m2, NULL, 0, "x") == CC_ERR_ARG);

    cc_nn_model_free(&m1);
    cc_nn_model_free(&m2);
}

static void test_reference_models(void)
{
    for (const char *w = "ABC"; *w; w++) {
        cc_nn_model m1, m2;
        char name[32];
        snprintf(name, sizeof name, "ref_%c.h5", *w);
        const char *p = tmp_path(name);
        CHECK_OK(cc_nn_model_reference(*w, 7u, &m1));
        CHECK_OK(cc_model_file_write(p, &m1, "reference model"));
        CHECK_OK(cc_model_file_read(p, &m2));
        compare_models(&m1, &m2);
        cc_nn_model_free(&m1);
        cc_nn_model_free(&m2);
    }
}

static void test_h5dump(const char *good)
{
    char cmd[2600], line[1024];
    int has_ds = 0, has_node = 0, has_hash = 0, has_bands = 0;
    if (system("h5dump --version > /dev/null 2>&1") != 0) {
        printf("note: h5dump not installed, readability check skipped\n");
        return;
    }
    snprintf(cmd, sizeof cmd, "h5dump -H '%s' 2>&1", good);
    FILE *fp = popen(cmd, "r");
    CHECK(fp != NULL);
    if (!fp)
        return;
    while (fgets(line, sizeof line, fp)) {
        has_ds |= strstr(line, "DATASET \"weight\"") != NULL;
        has_node |= strstr(line, "GROUP \"node0000\"") != NULL;
        has_hash |= strstr(line, "ATTRIBUTE \"content_hash\"") != NULL;
        has_bands |= strstr(line, "ATTRIBUTE \"bands\"") != NULL;
    }
    CHECK(pclose(fp) == 0);
    CHECK(has_ds && has_node && has_hash && has_bands);
}

/* ---- bad files ---- */

static void copy_file(const char *src, const char *dst, long limit)
{
    FILE *a = fopen(src, "rb"), *b = fopen(dst, "wb");
    char buf[65536];
    long total = 0;
    size_t n;
    CHECK(a && b);
    while (a && b && (n = fread(buf, 1, sizeof buf, a)) > 0) {
        if (limit >= 0 && total + (long)n > limit)
            n = (size_t)(limit - total);
        fwrite(buf, 1, n, b);
        total += (long)n;
        if (limit >= 0 && total >= limit)
            break;
    }
    if (a)
        fclose(a);
    if (b)
        fclose(b);
}

/* Copies good to name and opens the copy read-write. */
static hid_t edit_copy(const char *good, const char *name)
{
    copy_file(good, tmp_path(name), -1);
    hid_t f = H5Fopen(tmp_path(name), H5F_ACC_RDWR, H5P_DEFAULT);
    CHECK(f >= 0);
    return f;
}

/* Reads path, expects status want and a message containing every needle. */
static void expect_bad(const char *path, cc_status want, const char *needle1, const char *needle2)
{
    cc_nn_model m;
    cc_status st = cc_model_file_read(path, &m);
    printf("%-22s -> %s: %s\n", strrchr(path, '/') + 1, cc_status_name(st), cc_error_message());
    CHECK(st == want);
    CHECK(strstr(cc_error_message(), path) != NULL);
    CHECK(strchr(cc_error_message(), '\n') == NULL);
    if (needle1)
        CHECK(strstr(cc_error_message(), needle1) != NULL);
    if (needle2)
        CHECK(strstr(cc_error_message(), needle2) != NULL);
    CHECK(m.nnodes == 0 && m.nodes == NULL && m.provenance == NULL);
    cc_nn_model_free(&m);
}

static void replace_dataset(hid_t f, const char *name, hid_t type, int rank, const hsize_t *dims)
{
    CHECK(H5Ldelete(f, name, H5P_DEFAULT) >= 0);
    hid_t s = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(f, name, type, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(d >= 0);
    size_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= (size_t)dims[i];
    double *zeros = calloc(n, sizeof(double));
    CHECK(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, zeros) >= 0);
    free(zeros);
    H5Dclose(d);
    H5Sclose(s);
}

static void replace_attr_int(hid_t loc, const char *obj, const char *name, int v)
{
    CHECK(H5Adelete_by_name(loc, obj, name, H5P_DEFAULT) >= 0);
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate_by_name(loc, obj, name, H5T_STD_I32LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(a >= 0 && H5Awrite(a, H5T_NATIVE_INT, &v) >= 0);
    H5Aclose(a);
    H5Sclose(s);
}

static void replace_attr_str(hid_t loc, const char *obj, const char *name, const char *v)
{
    CHECK(H5Adelete_by_name(loc, obj, name, H5P_DEFAULT) >= 0);
    hid_t s = H5Screate(H5S_SCALAR), t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(v) + 1);
    hid_t a = H5Acreate_by_name(loc, obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(a >= 0 && H5Awrite(a, t, v) >= 0);
    H5Aclose(a);
    H5Tclose(t);
    H5Sclose(s);
}

static void test_bad_files(const char *good)
{
    hid_t f;
    /* enc.c1: conv2d 3x3 4 -> 8: weight [8][3][3][4] */
    const hsize_t wdims[4] = {8, 3, 3, 4}, wrong[4] = {8, 3, 3, 5};

    f = edit_copy(good, "missing_tensor.h5");
    CHECK(H5Ldelete(f, "/tensors/enc.c1/bias", H5P_DEFAULT) >= 0);
    H5Fclose(f);
    expect_bad(tmp_path("missing_tensor.h5"), CC_ERR_FORMAT, "missing tensor", "/tensors/enc.c1/bias");

    f = edit_copy(good, "missing_group.h5");
    CHECK(H5Ldelete(f, "/tensors/head", H5P_DEFAULT) >= 0);
    H5Fclose(f);
    expect_bad(tmp_path("missing_group.h5"), CC_ERR_FORMAT, "missing tensor", "/tensors/head/weight");

    f = edit_copy(good, "wrong_shape.h5");
    replace_dataset(f, "/tensors/enc.c1/weight", H5T_IEEE_F32LE, 4, wrong);
    H5Fclose(f);
    expect_bad(tmp_path("wrong_shape.h5"), CC_ERR_FORMAT, "wrong shape [8,3,3,5]", "expected [8,3,3,4]");

    f = edit_copy(good, "wrong_rank.h5");
    replace_dataset(f, "/tensors/enc.c1/weight", H5T_IEEE_F32LE, 2, wdims);
    H5Fclose(f);
    expect_bad(tmp_path("wrong_rank.h5"), CC_ERR_FORMAT, "wrong shape [8,3]", "/tensors/enc.c1/weight");

    f = edit_copy(good, "dtype_float64.h5");
    replace_dataset(f, "/tensors/enc.c1/weight", H5T_IEEE_F64LE, 4, wdims);
    H5Fclose(f);
    expect_bad(tmp_path("dtype_float64.h5"), CC_ERR_FORMAT, "wrong dtype (float64", "/tensors/enc.c1/weight");

    f = edit_copy(good, "dtype_int32.h5");
    replace_dataset(f, "/tensors/enc.c1/weight", H5T_STD_I32LE, 4, wdims);
    H5Fclose(f);
    expect_bad(tmp_path("dtype_int32.h5"), CC_ERR_FORMAT, "wrong dtype (int32", NULL);

    f = edit_copy(good, "dtype_uint16.h5");
    replace_dataset(f, "/tensors/output/scale", H5T_STD_U16LE, 1, (const hsize_t[]){4});
    H5Fclose(f);
    expect_bad(tmp_path("dtype_uint16.h5"), CC_ERR_FORMAT, "wrong dtype (uint16", "/tensors/output/scale");

    f = edit_copy(good, "version2.h5");
    replace_attr_int(f, "/", "format_version", 2);
    H5Fclose(f);
    expect_bad(tmp_path("version2.h5"), CC_ERR_UNSUPPORTED, "unknown model format_version 2", NULL);

    f = edit_copy(good, "not_clearcube.h5");
    replace_attr_str(f, "/", "format", "something-else");
    H5Fclose(f);
    expect_bad(tmp_path("not_clearcube.h5"), CC_ERR_FORMAT, "not a clearcube model file", NULL);

    /* content hash: one weight value changed in place */
    f = edit_copy(good, "flipped.h5");
    {
        float w[8 * 3 * 3 * 4];
        hid_t d = H5Dopen2(f, "/tensors/enc.c1/weight", H5P_DEFAULT);
        CHECK(d >= 0 && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, w) >= 0);
        uint32_t u;
        memcpy(&u, &w[17], 4);
        u ^= 1u; /* one bit of one weight */
        memcpy(&w[17], &u, 4);
        CHECK(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, w) >= 0);
        H5Dclose(d);
    }
    H5Fclose(f);
    expect_bad(tmp_path("flipped.h5"), CC_ERR_CHECKSUM, "content hash mismatch", NULL);

    /* graph damage */
    f = edit_copy(good, "unknown_op.h5");
    replace_attr_str(f, "/graph/node0003", "op", "conv5d");
    H5Fclose(f);
    expect_bad(tmp_path("unknown_op.h5"), CC_ERR_FORMAT, "unknown op 'conv5d'", "/graph/node0003");

    f = edit_copy(good, "control_chars.h5");
    replace_attr_str(f, "/graph/node0002", "name", "enc\x01\x1b[2J");
    H5Fclose(f);
    expect_bad(tmp_path("control_chars.h5"), CC_ERR_FORMAT, "not printable ASCII", "/graph/node0002");

    f = edit_copy(good, "bad_cout.h5");
    replace_attr_int(f, "/graph/node0001", "cout", 9);
    H5Fclose(f);
    expect_bad(tmp_path("bad_cout.h5"), CC_ERR_FORMAT, "node pool_avg", "does not match its op and inputs");

    f = edit_copy(good, "forward_input.h5");
    {
        int ins[1] = {5};
        CHECK(H5Adelete_by_name(f, "/graph/node0002", "inputs", H5P_DEFAULT) >= 0);
        hsize_t one = 1;
        hid_t s = H5Screate_simple(1, &one, NULL);
        hid_t a = H5Acreate_by_name(f, "/graph/node0002", "inputs", H5T_STD_I32LE, s, H5P_DEFAULT, H5P_DEFAULT,
                                    H5P_DEFAULT);
        CHECK(a >= 0 && H5Awrite(a, H5T_NATIVE_INT, ins) >= 0);
        H5Aclose(a);
        H5Sclose(s);
    }
    H5Fclose(f);
    expect_bad(tmp_path("forward_input.h5"), CC_ERR_FORMAT, "not an earlier node", NULL);

    f = edit_copy(good, "string_cout.h5");
    CHECK(H5Adelete_by_name(f, "/graph/node0001", "cout", H5P_DEFAULT) >= 0);
    H5Fclose(f);
    f = H5Fopen(tmp_path("string_cout.h5"), H5F_ACC_RDWR, H5P_DEFAULT);
    {
        hid_t s = H5Screate(H5S_SCALAR), t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, 3);
        hid_t a = H5Acreate_by_name(f, "/graph/node0001", "cout", t, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        CHECK(a >= 0 && H5Awrite(a, t, "32") >= 0);
        H5Aclose(a);
        H5Tclose(t);
        H5Sclose(s);
    }
    H5Fclose(f);
    expect_bad(tmp_path("string_cout.h5"), CC_ERR_FORMAT, "wrong type", "cout");

    f = edit_copy(good, "no_bands.h5");
    CHECK(H5Adelete_by_name(f, "/input", "bands", H5P_DEFAULT) >= 0);
    H5Fclose(f);
    expect_bad(tmp_path("no_bands.h5"), CC_ERR_FORMAT, "/input has no attribute 'bands'", NULL);

    /* truncated at several offsets */
    struct stat sb;
    CHECK(stat(good, &sb) == 0);
    long cuts[] = {0, 8, 100, 512, 2048, (long)sb.st_size / 3, (long)sb.st_size / 2, (long)sb.st_size - 4096,
                   (long)sb.st_size - 100, (long)sb.st_size - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        char name[64];
        cc_nn_model m;
        if (cuts[i] < 0 || cuts[i] >= (long)sb.st_size)
            continue;
        snprintf(name, sizeof name, "truncated_%ld.h5", cuts[i]);
        copy_file(good, tmp_path(name), cuts[i]);
        cc_status st = cc_model_file_read(tmp_path(name), &m);
        printf("%-22s -> %s: %s\n", name, cc_status_name(st), cc_error_message());
        CHECK(st == CC_ERR_FORMAT);
        CHECK(strstr(cc_error_message(), name) != NULL);
        cc_nn_model_free(&m);
    }

    expect_bad(tmp_path("does_not_exist.h5"), CC_ERR_IO, "No such file", NULL);

    FILE *fp = fopen(tmp_path("text.h5"), "w");
    CHECK(fp != NULL);
    if (fp) {
        for (int i = 0; i < 100; i++)
            fprintf(fp, "this is not an HDF5 file, line %d\n", i);
        fclose(fp);
    }
    expect_bad(tmp_path("text.h5"), CC_ERR_FORMAT, "not an HDF5 file", NULL);
    expect_bad(dir, CC_ERR_IO, "not a regular file", NULL);
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s", cc_test_tmpdir("modelfile"));
    const char *good = tmp_path("every_op.h5");
    char goodp[2400];
    snprintf(goodp, sizeof goodp, "%s", good);
    test_round_trip(goodp);
    test_reference_models();
    test_h5dump(goodp);
    test_bad_files(goodp);
    TEST_RETURN();
}
