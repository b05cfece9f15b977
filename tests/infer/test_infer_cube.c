/* The streaming cube writer (cc_cube_stream_*, io/cube.h): the same file as
 * cc_cube_write for a new cube (values, attributes, chunking, compression),
 * nothing left behind on abort, incomplete commit or an existing cube; and
 * the whole pipeline into a streaming cube, including a reader failure. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <netcdf.h>
#include <ogr_srs_api.h>

#include "core/alloc.h"
#include "core/error.h"
#include "infer_test.h"
#include "io/cube.h"
#include "pipeline/boa/infer.h"
#include "testutil.h"

#define W 700
#define H 530
#define NL 3

static const char *const names[NL] = {"B02", "B03", "B04"};

static char *epsg_wkt(int epsg)
{
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
    char *wkt = NULL;
    if (OSRImportFromEPSG(srs, epsg) != OGRERR_NONE || OSRExportToWkt(srs, &wkt) != OGRERR_NONE)
        wkt = NULL;
    OSRDestroySpatialReference(srs);
    return wkt;
}

static void fill_args(cc_cube_write_args *a, cc_cube_layer *L, const char *path, const char *wkt,
                      uint16_t **planes)
{
    memset(a, 0, sizeof *a);
    for (int l = 0; l < NL; l++) {
        memset(&L[l], 0, sizeof L[l]);
        L[l].name = names[l];
        L[l].long_name = "surface reflectance";
        L[l].units = "1";
        L[l].standard_name = "surface_bidirectional_reflectance";
        L[l].scale_factor = 1e-4;
        L[l].add_offset = -0.1;
        L[l].wavelength_nm = 490.0 + 70.0 * l;
        L[l].data = planes ? planes[l] : NULL;
    }
    a->path = path;
    a->tile_id = "32UMF";
    a->product = "boa";
    a->wkt = wkt;
    a->gt[0] = 600000;
    a->gt[1] = 10;
    a->gt[3] = 5100000;
    a->gt[5] = -10;
    a->width = W;
    a->height = H;
    a->year = 2017;
    a->month = 3;
    a->day = 1;
    a->nlayers = NL;
    a->layers = L;
    a->inputs = "S2A_MSIL1C_SIMULATED";
    a->processor = "clearcube boa (test)";
    a->parameters = "model=A";
}

/* Attributes that hold the time of writing. */
static int timed_att(const char *name)
{
    return !strcmp(name, "date_created") || !strcmp(name, "date_modified") ||
           !strcmp(name, "history");
}

static int same_atts(int a, int b, int va, int vb, const char *what)
{
    int na, nb, ok = 1;
    nc_inq_varnatts(a, va, &na);
    nc_inq_varnatts(b, vb, &nb);
    if (va == NC_GLOBAL) {
        nc_inq_natts(a, &na);
        nc_inq_natts(b, &nb);
    }
    if (na != nb) {
        fprintf(stderr, "%s: %d vs %d attributes\n", what, na, nb);
        return 0;
    }
    for (int i = 0; i < na; i++) {
        char name[NC_MAX_NAME + 1], name2[NC_MAX_NAME + 1];
        nc_type ta, tb;
        size_t la, lb;
        nc_inq_attname(a, va, i, name);
        nc_inq_attname(b, vb, i, name2);
        if (strcmp(name, name2) != 0) {
            fprintf(stderr, "%s: attribute %d is %s vs %s\n", what, i, name, name2);
            ok = 0;
            continue;
        }
        nc_inq_att(a, va, name, &ta, &la);
        nc_inq_att(b, vb, name, &tb, &lb);
        if (ta != tb || (la != lb && !timed_att(name))) {
            fprintf(stderr, "%s: attribute %s differs in type/length\n", what, name);
            ok = 0;
            continue;
        }
        char *ba = calloc(la + 1, 8), *bb = calloc(lb + 1, 8);
        nc_get_att(a, va, name, ba);
        nc_get_att(b, vb, name, bb);
        if (!strcmp(name, "history")) { /* "<UTC time>: clearcube ... wrote ..." */
            const char *pa = strstr(ba, ": "), *pb = strstr(bb, ": ");
            if (!pa || !pb || strcmp(pa, pb) != 0) {
                fprintf(stderr, "%s: history differs:\n %s\n %s\n", what, ba, bb);
                ok = 0;
            }
        } else if (!timed_att(name)) {
            size_t sz = 0;
            nc_inq_type(a, ta, NULL, &sz);
            if (memcmp(ba, bb, la * sz) != 0) {
                fprintf(stderr, "%s: attribute %s differs\n", what, name);
                ok = 0;
            }
        }
        free(ba);
        free(bb);
    }
    return ok;
}

/* Same dims, variables, attributes, chunking, compression and values. */
static int same_cube(const char *pa, const char *pb)
{
    int a, b, ok = 1, nva, nvb, fa, fb;
    if (nc_open(pa, NC_NOWRITE, &a) != NC_NOERR || nc_open(pb, NC_NOWRITE, &b) != NC_NOERR) {
        fprintf(stderr, "cannot open %s or %s\n", pa, pb);
        return 0;
    }
    nc_inq_format(a, &fa);
    nc_inq_format(b, &fb);
    ok &= fa == fb;
    ok &= same_atts(a, b, NC_GLOBAL, NC_GLOBAL, "global");
    nc_inq_nvars(a, &nva);
    nc_inq_nvars(b, &nvb);
    if (nva != nvb) {
        fprintf(stderr, "%d vs %d variables\n", nva, nvb);
        ok = 0;
    }
    for (int v = 0; ok && v < nva; v++) {
        char name[NC_MAX_NAME + 1], name2[NC_MAX_NAME + 1];
        nc_type ta, tb;
        int nda, ndb, da[8], db[8], sa, sb, dfa, dfb, sha, shb, la, lb;
        size_t ca[8] = {0}, cb[8] = {0}, len = 1;
        nc_inq_var(a, v, name, &ta, &nda, da, NULL);
        nc_inq_var(b, v, name2, &tb, &ndb, db, NULL);
        if (strcmp(name, name2) || ta != tb || nda != ndb) {
            fprintf(stderr, "variable %d: %s vs %s\n", v, name, name2);
            ok = 0;
            break;
        }
        ok &= same_atts(a, b, v, v, name);
        nc_inq_var_chunking(a, v, &sa, ca);
        nc_inq_var_chunking(b, v, &sb, cb);
        nc_inq_var_deflate(a, v, &sha, &dfa, &la);
        nc_inq_var_deflate(b, v, &shb, &dfb, &lb);
        if (sa != sb || memcmp(ca, cb, sizeof ca) || sha != shb || dfa != dfb || la != lb) {
            fprintf(stderr, "%s: chunking/compression differ\n", name);
            ok = 0;
        }
        for (int d = 0; d < nda; d++) {
            size_t n;
            nc_inq_dimlen(a, da[d], &n);
            len *= n;
        }
        size_t sz = 0;
        nc_inq_type(a, ta, NULL, &sz);
        char *va = cc_malloc3(len ? len : 1, sz ? sz : 1, 1), *vb = cc_malloc3(len ? len : 1, sz ? sz : 1, 1);
        if (len && sz) {
            nc_get_var(a, v, va);
            nc_get_var(b, v, vb);
            if (memcmp(va, vb, len * sz) != 0) {
                fprintf(stderr, "%s: values differ\n", name);
                ok = 0;
            }
        }
        free(va);
        free(vb);
    }
    nc_close(a);
    nc_close(b);
    return ok;
}

static int exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

static void check_stream_equals_write(const char *dir, const char *wkt)
{
    char pa[4096], pb[4096];
    uint16_t *planes[NL], *inter = cc_malloc3((size_t)W * H, NL, 2);
    cc_cube_write_args a;
    cc_cube_layer L[NL];
    for (int l = 0; l < NL; l++) {
        planes[l] = cc_malloc3((size_t)W, H, 2);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                uint16_t v = (x + y) % 37 == 0 ? 0 : it_dn(x, y, l, 4);
                planes[l][(size_t)y * W + x] = v;
                inter[((size_t)y * W + x) * NL + l] = v;
            }
    }
    snprintf(pa, sizeof pa, "%s/write.nc", dir);
    snprintf(pb, sizeof pb, "%s/stream.nc", dir);
    fill_args(&a, L, pa, wkt, planes);
    CHECK_OK(cc_cube_write(&a));

    cc_cube_stream *s = NULL;
    fill_args(&a, L, pb, wkt, NULL); /* no data needed */
    CHECK_OK(cc_cube_stream_open(&a, &s));
    CHECK(!exists(pb)); /* nothing at the path before commit */
    /* windows of 256x200 (not chunk-aligned) in raster order, last ones partial */
    uint16_t *win = cc_malloc3(256 * 200, NL, 2);
    for (int y0 = 0; y0 < H; y0 += 200)
        for (int x0 = 0; x0 < W; x0 += 256) {
            int w = W - x0 < 256 ? W - x0 : 256, h = H - y0 < 200 ? H - y0 : 200;
            for (int y = 0; y < h; y++)
                memcpy(win + (size_t)y * w * NL, inter + ((size_t)(y0 + y) * W + x0) * NL,
                       (size_t)w * NL * 2);
            CHECK_OK(cc_cube_stream_write_window(s, x0, y0, w, h, win));
        }
    CHECK(cc_cube_stream_write_window(s, W - 10, 0, 20, 5, win) == CC_ERR_ARG); /* outside */
    CHECK_OK(cc_cube_stream_commit(s));
    CHECK(exists(pb));
    CHECK(tu_count_prefix(dir, "stream.nc.tmp-") == 0);
    CHECK(same_cube(pa, pb));

    /* the comparison sees a single changed value */
    char pc[4096];
    snprintf(pc, sizeof pc, "%s/changed.nc", dir);
    a.path = pc;
    CHECK_OK(cc_cube_stream_open(&a, &s));
    for (int y = 0; y < H; y++)
        CHECK_OK(cc_cube_stream_write_window(s, 0, y, W, 1, inter + (size_t)y * W * NL));
    CHECK_OK(cc_cube_stream_write_window(s, 5, 5, 1, 1, (const uint16_t[NL]){1, 2, 3}));
    CHECK(cc_cube_stream_commit(s) == CC_ERR_ARG); /* overlap: more pixels than the grid */
    inter[(5 * W + 5) * NL] ^= 1;
    CHECK_OK(cc_cube_stream_open(&a, &s));
    for (int y = 0; y < H; y++)
        CHECK_OK(cc_cube_stream_write_window(s, 0, y, W, 1, inter + (size_t)y * W * NL));
    CHECK_OK(cc_cube_stream_commit(s));
    CHECK(!same_cube(pa, pc));
    a.path = pb;

    /* an existing cube: streaming does not append */
    s = NULL;
    CHECK(cc_cube_stream_open(&a, &s) == CC_ERR_UNSUPPORTED && s == NULL);
    printf("existing cube -> %s\n", cc_error_message());

    /* abort leaves nothing */
    snprintf(pb, sizeof pb, "%s/aborted.nc", dir);
    a.path = pb;
    CHECK_OK(cc_cube_stream_open(&a, &s));
    CHECK_OK(cc_cube_stream_write_window(s, 0, 0, 256, 200, win));
    cc_cube_stream_abort(s);
    CHECK(!exists(pb) && tu_count_prefix(dir, "aborted.nc") == 0);

    /* an incomplete cube is not committed */
    CHECK_OK(cc_cube_stream_open(&a, &s));
    CHECK_OK(cc_cube_stream_write_window(s, 0, 0, 256, 200, win));
    cc_status st = cc_cube_stream_commit(s);
    printf("incomplete commit -> %s: %s\n", cc_status_name(st), cc_error_message());
    CHECK(st == CC_ERR_ARG && strstr(cc_error_message(), "incomplete"));
    CHECK(!exists(pb) && tu_count_prefix(dir, "aborted.nc") == 0);

    for (int l = 0; l < NL; l++)
        free(planes[l]);
    free(inter);
    free(win);
}

/* The pipeline into a streaming cube equals cc_cube_write of the whole-image
 * output; a reader failure leaves no file. */
static void check_pipeline_cube(const char *dir, const char *wkt)
{
    cc_nn_model m;
    CHECK_OK(cc_nn_model_reference('B', 5, &m));
    const int w = 300, h = 260, nin = m.input.nchannels, nout = m.nodes[m.output_node].cout;
    char pa[4096], pb[4096];
    uint16_t *in = cc_malloc3((size_t)w * h, (size_t)nin, 2);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < nin; c++)
                in[((size_t)y * w + x) * nin + c] = x < 5 ? 0 : it_dn(x, y, c, 3);
    uint16_t *ref = it_whole(&m, in, w, h);
    uint16_t *planes[16];
    cc_cube_layer L[16];
    static const char *const lnames[12] = {"B01", "B02", "B03", "B04", "B05", "B06",
                                           "B07", "B08", "B8A", "B09", "B11", "B12"};
    for (int l = 0; l < nout; l++) {
        planes[l] = cc_malloc3((size_t)w, h, 2);
        for (size_t p = 0; p < (size_t)w * h; p++)
            planes[l][p] = ref[p * nout + l];
        memset(&L[l], 0, sizeof L[l]);
        L[l].name = lnames[l];
        L[l].scale_factor = 1e-4;
        L[l].add_offset = -0.1;
        L[l].data = planes[l];
    }
    cc_cube_write_args a;
    cc_cube_layer dummy[NL];
    fill_args(&a, dummy, pa, wkt, NULL);
    a.layers = L;
    a.nlayers = nout;
    a.width = w;
    a.height = h;
    snprintf(pa, sizeof pa, "%s/whole.nc", dir);
    a.path = pa;
    CHECK_OK(cc_cube_write(&a));

    snprintf(pb, sizeof pb, "%s/pipeline.nc", dir);
    a.path = pb;
    cc_cube_stream *s = NULL;
    CHECK_OK(cc_cube_stream_open(&a, &s));
    cc_infer_mem rin = {in, w, h, nin};
    cc_infer_source src;
    cc_infer_sink sink;
    cc_infer_options o;
    cc_infer_stats stats;
    cc_infer_source_mem(&rin, &src);
    cc_infer_sink_cube(s, nout, &sink);
    cc_infer_options_init(&o);
    o.core = 64;
    CHECK_OK(cc_infer_run(&m, &src, &sink, &o, &stats));
    CHECK_OK(cc_cube_stream_commit(s));
    printf("pipeline -> cube: %dx%d windows, read %.3f s compute %.3f s write %.3f s wall %.3f s\n",
           stats.nwin_x, stats.nwin_y, stats.read_s, stats.compute_s, stats.write_s, stats.wall_s);
    CHECK(same_cube(pa, pb));

    /* reader failure: clear error, and the caller's abort leaves no file */
    snprintf(pb, sizeof pb, "%s/failed.nc", dir);
    a.path = pb;
    CHECK_OK(cc_cube_stream_open(&a, &s));
    cc_infer_sink_cube(s, nout, &sink);
    o.fail_read_at = 7;
    cc_status st = cc_infer_run(&m, &src, &sink, &o, NULL);
    printf("reader failure -> %s: %s\n", cc_status_name(st), cc_error_message());
    CHECK(st == CC_ERR_IO && strstr(cc_error_message(), "read window 7"));
    cc_cube_stream_abort(s);
    CHECK(!exists(pb) && tu_count_prefix(dir, "failed.nc") == 0);

    for (int l = 0; l < nout; l++)
        free(planes[l]);
    free(in);
    free(ref);
    cc_nn_model_free(&m);
}

int main(void)
{
    const char *dir = cc_test_tmpdir("infer_cube");
    char *wkt = epsg_wkt(32632);
    CHECK(wkt != NULL);
    check_stream_equals_write(dir, wkt);
    check_pipeline_cube(dir, wkt);
    CPLFree(wkt);
    TEST_RETURN();
}
