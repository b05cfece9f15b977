/* Streaming inference (pipeline/boa/infer.h): windowed output equals the
 * whole-image output bit for bit, for the reference models A, B, C, on
 * rasters several windows wide and tall with sizes that are not multiples of
 * the window (odd sizes padded per size_multiple), with nodata borders and
 * holes crossing window edges; serial and pipelined; errors from the reader,
 * compute and writer stages; the resampling formula on windows vs whole. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "infer_test.h"
#include "testutil.h"

static uint16_t *make_raster(int w, int h, int nc, unsigned seed, int nodata)
{
    uint16_t *r = cc_malloc3((size_t)w * h, (size_t)nc, sizeof *r);
    CC_ASSERT(r);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < nc; c++) {
                uint16_t v = it_dn(x, y, c, seed);
                if (nodata) {
                    /* a 3-pixel nodata frame, a disc-shaped hole, and single
                     * nodata channels (pixel is nodata if any channel is 0) */
                    int frame = x < 3 || y < 3 || x >= w - 3 || y >= h - 3;
                    int dx = x - 33, dy = y - 30;
                    int hole = dx * dx + dy * dy < 9 * 9;
                    int speck = (x * 31 + y * 17) % 97 == 0 && c == (x + y) % nc;
                    if (frame || hole || speck)
                        v = 0;
                }
                r[((size_t)y * w + x) * nc + c] = v;
            }
    return r;
}

/* Runs the pipeline and compares with the whole image. */
static void check_model(char which, int w, int h, int core, int pipelined, int nodata)
{
    cc_nn_model m;
    char what[128];
    CHECK_OK(cc_nn_model_reference(which, 7, &m));
    if (cc_error_status() != CC_OK && m.nnodes == 0)
        return;
    const int nin = m.input.nchannels, nout = m.nodes[m.output_node].cout;
    uint16_t *in = make_raster(w, h, nin, 11, nodata);
    uint16_t *ref = it_whole(&m, in, w, h);
    uint16_t *out = cc_malloc3((size_t)w * h, (size_t)nout, sizeof *out);
    memset(out, 0xAB, (size_t)w * h * nout * 2);
    cc_infer_mem rin = {in, w, h, nin}, rout = {out, w, h, nout};
    cc_infer_source src;
    cc_infer_sink sink;
    cc_infer_options o;
    cc_infer_stats stats;
    cc_infer_source_mem(&rin, &src);
    cc_infer_sink_mem(&rout, &sink);
    cc_infer_options_init(&o);
    o.core = core;
    o.pipelined = pipelined;
    CHECK_OK(cc_infer_run(&m, &src, &sink, &o, &stats));
    snprintf(what, sizeof what, "model %c %dx%d core %d %s%s", which, w, h, core,
             pipelined ? "pipelined" : "serial", nodata ? " nodata" : "");
    printf("%s: %dx%d windows, core %d, halo %d (model halo %d, multiple %d)\n", what,
           stats.nwin_x, stats.nwin_y, stats.core, stats.halo, m.halo, m.size_multiple);
    CHECK(stats.nwin_x >= 3 && stats.nwin_y >= 3);
    CHECK(stats.halo >= m.halo && stats.halo % m.size_multiple == 0);
    CHECK(it_diff(out, ref, w, h, nout, what) == 0);
    if (nodata) { /* nodata in -> DN 0 out, valid in -> valid out */
        size_t bad = 0;
        for (size_t p = 0; p < (size_t)w * h; p++) {
            int nd_in = 0;
            for (int c = 0; c < nin; c++)
                nd_in |= in[p * nin + c] == 0;
            for (int c = 0; c < nout; c++)
                bad += (out[p * nout + c] == 0) != nd_in;
        }
        CHECK(bad == 0);
    }
    free(in);
    free(ref);
    free(out);
    cc_nn_model_free(&m);
}

/* Windowed output must not depend on the window size either: the halo is
 * the only thing that matters. A halo one pixel short must show seams
 * (proves that the test can see them). */
static void check_seams_visible(void)
{
    cc_nn_model m;
    CHECK_OK(cc_nn_model_reference('B', 3, &m));
    const int w = 70, h = 50, nin = m.input.nchannels, nout = m.nodes[m.output_node].cout;
    uint16_t *in = make_raster(w, h, nin, 5, 0);
    uint16_t *ref = it_whole(&m, in, w, h);
    /* windows of 20 with a halo of halo-1, done by hand */
    const int H = m.halo - 1, core = 20;
    uint16_t *out = cc_calloc3((size_t)w * h, (size_t)nout, 2);
    size_t nd = 0;
    for (int cy = 0; cy < h; cy += core)
        for (int cx = 0; cx < w; cx += core) {
            int x0 = cx - H < 0 ? 0 : cx - H, y0 = cy - H < 0 ? 0 : cy - H;
            int x1 = cx + core + H > w ? w : cx + core + H, y1 = cy + core + H > h ? h : cy + core + H;
            int ww = x1 - x0, wh = y1 - y0;
            uint16_t *wi = cc_malloc3((size_t)ww * wh, (size_t)nin, 2);
            uint16_t *wo = cc_malloc3((size_t)ww * wh, (size_t)nout, 2);
            for (int y = 0; y < wh; y++)
                memcpy(wi + (size_t)y * ww * nin, in + ((size_t)(y0 + y) * w + x0) * nin,
                       (size_t)ww * nin * 2);
            CHECK_OK(cc_nn_run(cc_nn_backend_cpu(), &m, 1, wh, ww, wi, wo));
            for (int y = cy; y < cy + core && y < h; y++)
                for (int x = cx; x < cx + core && x < w; x++)
                    for (int c = 0; c < nout; c++)
                        nd += wo[((size_t)(y - y0) * ww + (x - x0)) * nout + c] !=
                              ref[((size_t)y * w + x) * nout + c];
            free(wi);
            free(wo);
        }
    printf("halo %d instead of %d: %zu values differ (seams)\n", H, m.halo, nd);
    CHECK(nd > 0);
    free(in);
    free(ref);
    free(out);
    cc_nn_model_free(&m);
}

/* ---- error propagation ---- */

typedef struct {
    int fail_at_call, calls;
} failing_sink;

static cc_status failing_write(void *ctx, int x0, int y0, int w, int h, const uint16_t *d)
{
    failing_sink *f = ctx;
    if (f->calls++ == f->fail_at_call)
        return cc_error_set(CC_ERR_IO, "out.nc: disk full (injected)");
    return CC_OK;
}

static void check_errors(int pipelined)
{
    cc_nn_model m;
    CHECK_OK(cc_nn_model_reference('A', 1, &m));
    const int w = 100, h = 90, nin = m.input.nchannels, nout = m.nodes[m.output_node].cout;
    uint16_t *in = make_raster(w, h, nin, 2, 0);
    uint16_t *out = cc_malloc3((size_t)w * h, (size_t)nout, 2);
    cc_infer_mem rin = {in, w, h, nin}, rout = {out, w, h, nout};
    cc_infer_source src;
    cc_infer_sink sink;
    cc_infer_options o;
    cc_infer_source_mem(&rin, &src);
    cc_infer_sink_mem(&rout, &sink);
    cc_infer_options_init(&o);
    o.core = 16;
    o.pipelined = pipelined;

    /* reader fails at window 5 */
    o.fail_read_at = 5;
    cc_status st = cc_infer_run(&m, &src, &sink, &o, NULL);
    printf("injected read failure -> %s: %s\n", cc_status_name(st), cc_error_message());
    CHECK(st == CC_ERR_IO);
    CHECK(strstr(cc_error_message(), "read window 5") != NULL);
    CHECK(strstr(cc_error_message(), "injected read failure") != NULL);

    /* writer fails on its 3rd window */
    failing_sink fs = {2, 0};
    cc_infer_sink bad = sink;
    bad.write = failing_write;
    bad.ctx = &fs;
    bad.name = "out.nc";
    o.fail_read_at = -1;
    st = cc_infer_run(&m, &src, &bad, &o, NULL);
    printf("injected write failure -> %s: %s\n", cc_status_name(st), cc_error_message());
    CHECK(st == CC_ERR_IO);
    CHECK(strstr(cc_error_message(), "write window 2") != NULL);
    CHECK(strstr(cc_error_message(), "disk full") != NULL);
    CHECK(fs.calls == 3); /* nothing written after the failure */

    /* channel mismatch */
    cc_infer_sink wrong = sink;
    wrong.nchannels = 3;
    CHECK(cc_infer_run(&m, &src, &wrong, &o, NULL) == CC_ERR_ARG);

    free(in);
    free(out);
    cc_nn_model_free(&m);
}

/* ---- resampling: windows equal the whole image ---- */

static void check_upsample(int f)
{
    const int fw = 97, fh = 61;
    const int cw = (fw + f - 1) / f, ch = (fh + f - 1) / f;
    uint16_t *coarse = cc_malloc3((size_t)cw, (size_t)ch, 2);
    uint16_t *whole = cc_malloc3((size_t)fw, (size_t)fh, 2);
    for (int y = 0; y < ch; y++)
        for (int x = 0; x < cw; x++)
            coarse[y * cw + x] = (x + 2 * y) % 11 == 3 ? 0 : it_dn(x, y, 0, 9);
    CHECK_OK(cc_infer_upsample(coarse, 0, 0, cw, ch, cw, ch, f, 0, 0, fw, fh, whole, 1));
    /* a constant raster stays constant; a ramp stays a ramp inside */
    size_t nd = 0;
    for (int wy = 0; wy < fh; wy += 13)
        for (int wx = 0; wx < fw; wx += 17) {
            int ww = fw - wx < 23 ? fw - wx : 23, wh = fh - wy < 19 ? fh - wy : 19;
            int bx0, by0, bw, bh;
            cc_infer_coarse_window(f, cw, ch, wx, wy, ww, wh, &bx0, &by0, &bw, &bh);
            uint16_t *buf = cc_malloc3((size_t)bw, (size_t)bh, 2);
            uint16_t *win = cc_malloc3((size_t)ww * 2, (size_t)wh, 2);
            for (int y = 0; y < bh; y++)
                memcpy(buf + (size_t)y * bw, coarse + (size_t)(by0 + y) * cw + bx0,
                       (size_t)bw * 2);
            CHECK_OK(cc_infer_upsample(buf, bx0, by0, bw, bh, cw, ch, f, wx, wy, ww, wh, win, 2));
            for (int y = 0; y < wh; y++)
                for (int x = 0; x < ww; x++)
                    nd += win[((size_t)y * ww + x) * 2] != whole[(size_t)(wy + y) * fw + wx + x];
            /* a buffer one coarse pixel short is refused */
            if (bw > 1)
                CHECK(cc_infer_upsample(buf, bx0 + 1, by0, bw - 1, bh, cw, ch, f, wx, wy, ww, wh,
                                        win, 2) == CC_ERR_ARG);
            free(buf);
            free(win);
        }
    CHECK(nd == 0);
    /* known values: f=2, a horizontal ramp 100, 200, 300 ...: fine pixel 2k+1
     * = 0.75*c[k] + 0.25*c[k+1]; fine 0 = c[0] (clamped) */
    uint16_t ramp[4] = {100, 200, 300, 400}, fine[8];
    CHECK_OK(cc_infer_upsample(ramp, 0, 0, 4, 1, 4, 1, 2, 0, 0, 8, 1, fine, 1));
    CHECK(fine[0] == 100 && fine[1] == 125 && fine[2] == 175 && fine[3] == 225 &&
          fine[6] == 375 && fine[7] == 400);
    /* nodata neighbours are left out */
    uint16_t hole[4] = {100, 0, 300, 400};
    CHECK_OK(cc_infer_upsample(hole, 0, 0, 4, 1, 4, 1, 2, 0, 0, 8, 1, fine, 1));
    CHECK(fine[1] == 100 && fine[2] == 100 && fine[3] == 300);
    free(coarse);
    free(whole);
}

static void check_plan(void)
{
    cc_nn_model m;
    int core, halo;
    size_t bytes;
    cc_infer_options o;
    cc_infer_options_init(&o);
    CHECK_OK(cc_nn_model_reference('C', 1, &m));
    CHECK_OK(cc_infer_plan(&m, 10980, 10980, &o, &core, &halo, &bytes));
    printf("model C, 10980^2: core %d halo %d, %.0f MiB\n", core, halo, bytes / 1048576.0);
    CHECK(core % 4 == 0 && core >= 256 && bytes <= ((size_t)1536 << 20));
    o.mem_budget = (size_t)200 << 20;
    CHECK_OK(cc_infer_plan(&m, 10980, 10980, &o, &core, &halo, &bytes));
    printf("model C, 200 MiB budget: core %d, %.0f MiB\n", core, bytes / 1048576.0);
    CHECK(bytes <= o.mem_budget);
    o.mem_budget = 1000;
    CHECK(cc_infer_plan(&m, 10980, 10980, &o, &core, &halo, &bytes) == CC_ERR_NOMEM);
    cc_nn_model_free(&m);
}

int main(void)
{
    /* several windows wide AND tall; sizes not multiples of the core; odd */
    check_model('A', 101, 77, 32, 1, 0);
    check_model('A', 101, 77, 32, 1, 1);
    check_model('B', 99, 83, 24, 1, 0);
    check_model('B', 99, 83, 24, 0, 1);
    check_model('B', 99, 83, 30, 1, 1);  /* core rounded? (B: multiple 1) */
    check_model('C', 117, 93, 24, 1, 0); /* C: size_multiple 4, reflect padding */
    check_model('C', 117, 93, 24, 1, 1);
    check_model('C', 118, 94, 22, 0, 1); /* core 22 -> 24, padding 2 */
    check_seams_visible();
    check_errors(1);
    check_errors(0);
    check_upsample(2);
    check_upsample(6);
    check_plan();
    TEST_RETURN();
}
