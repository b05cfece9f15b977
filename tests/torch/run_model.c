/* tests/torch helper: runs a model file on a raw input with the CPU backend.
 *   run_model <model.h5> <dn.raw> <t> <h> <w> <out.raw>
 * dn.raw: uint16 little-endian DN, channels-last (T, H, W, bands);
 * out.raw: float32 little-endian reflectance (T, H, W, outputs) from
 * cc_nn_run_float (NaN where the pixel is nodata). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "io/model_file.h"
#include "kernels/nn.h"

static cc_status run(const char *model, const char *in, int t, int h, int w, const char *out)
{
    cc_status st = CC_OK;
    cc_nn_model m;
    uint16_t *dn = NULL;
    float *res = NULL;
    FILE *fp = NULL;
    const cc_nn_backend *b = cc_nn_backend_cpu();

    cc_nn_model_init(&m);
    if ((st = cc_model_file_read(model, &m)) != CC_OK)
        goto out;
    size_t npx = (size_t)t * (size_t)h * (size_t)w;
    size_t nin = npx * (size_t)m.input.nchannels, nout = npx * (size_t)m.nodes[m.output_node].cout;
    dn = cc_malloc3(nin, sizeof *dn, 1);
    res = cc_malloc3(nout, sizeof *res, 1);
    if (!dn || !res) {
        st = CC_ERR_NOMEM;
        goto out;
    }
    fp = fopen(in, "rb");
    if (!fp || fread(dn, sizeof *dn, nin, fp) != nin || fgetc(fp) != EOF) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot read %zu uint16 values (or the size differs)", in, nin);
        goto out;
    }
    fclose(fp);
    fp = NULL;
    if ((st = cc_nn_run_float(b, &m, t, h, w, dn, res)) != CC_OK)
        goto out;
    fp = fopen(out, "wb");
    if (!fp || fwrite(res, sizeof *res, nout, fp) != nout) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot write", out);
        goto out;
    }
    printf("%s: %s backend (%s), %d nodes, halo %d, hash %.12s\n", model, cc_nn_backend_name(b),
           cc_nn_backend_detail(b), m.nnodes, m.halo, m.content_hash);
out:
    if (fp && fclose(fp) != 0 && st == CC_OK)
        st = cc_error_set(CC_ERR_IO, "%s: cannot close", out);
    free(dn);
    free(res);
    cc_nn_model_free(&m);
    return st;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: run_model <model.h5> <dn.raw> <t> <h> <w> <out.raw>\n");
        return 2;
    }
    cc_status st = run(argv[1], argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), argv[6]);
    if (st != CC_OK)
        fprintf(stderr, "run_model: %s\n", cc_error_message());
    return cc_status_exit_code(st);
}
