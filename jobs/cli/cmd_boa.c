/* clearcube boa INPUT -o OUT.nc: the Rapid BoA emulator (issue 4). */
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/log.h"
#include "io/model_file.h"
#include "io/s2/scene.h"
#include "jobs/cli/cli.h"
#include "pipeline/boa/boa.h"


void cc_cmd_boa_help(void)
{
    printf("Usage: clearcube boa INPUT... -o OUT.nc [options]\n\n"
           "Level-2A surface reflectance emulated from a Sentinel-2 Level-1C product by the Rapid BoA\n"
           "network (docs/boa-model.md): per pixel, the 12 TOA bands and the scene context (sun and view\n"
           "geometry, the DDV aerosol and B9/B8A water vapour of the reference processor, pressure) give\n"
           "the correction BOA - TOA of each band. Writes the 12 BOA bands in L2A DN convention into a\n"
           "new CF-1.8 NetCDF cube, streamed window by window.\n\n"
           "INPUT...: as for `clearcube reference` (SAFE directory or .zip, multi-band GeoTIFF, band folder,\n"
           "STAC Item JSON; several of one tile and day are mosaicked).\n\n"
           "Options:\n"
           "  -o, --output OUT.nc   output cube (required; must not exist)\n"
           "  --model PATH          model file (default: the shipped " CC_BOA_SHIPPED_MODEL ", found beside\n"
           "                        the executable in ../share/clearcube/ or in $CLEARCUBE_DATA)\n"
           "  --quicklook OUT.png   also write a true-colour PNG (B4/B3/B2)\n"
           "  --aot X, --water-vapour X, --elevation M, --dem PATH, --ozone X\n"
           "                        atmosphere overrides, as for `clearcube reference`\n"
           "  --resolution M        output grid resolution (default: finest band present)\n"
           "  --context-resolution M  grid of the aerosol / water-vapour retrieval (default: the\n"
           "                        output grid up to 16 Mpx, else 60 m)\n"
           "  --window N            inference window (core) size in pixels (default: from a 1.5 GiB\n"
           "                        budget); the output does not depend on it\n"
           "  --deflate N           zlib level of the cube's layers, 1..9 (default 1: fastest)\n"
           "  --b8a-from-b08        a product without B8A (sen2r stacks): use B08 as the B8A input\n"
           "  --fallback MODE       none (default) or reference: pixels whose inputs are outside the model's\n"
           "                        training domain are recomputed by the physical processor (SMAC with the\n"
           "                        network's per-pixel context). Every cube has a `quality` layer of bit flags:\n"
           "                        1 nodata, 2 saturated, 4 cloud, 8 cloud shadow, 16 snow, 32 water,\n"
           "                        64 out of domain, 128 recomputed (docs/formats/cube.md, \"Quality layer\")\n" CC_DEVICE_HELP "\n" CC_CLI_SCENE_OPTIONS_HELP);
}

static int fail(void)
{
    fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
    return cc_status_exit_code(cc_error_status());
}

int cc_cmd_boa(int argc, char **argv)
{
    enum { O_QL = CC_OPT_ATMOS_LAST + 1, O_MODEL, O_CRES, O_B8A, O_WIN, O_DEFL, O_FALLBACK };
    static const struct option longopts[] = {
        {"output", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'},
        {"quicklook", required_argument, 0, O_QL}, {"model", required_argument, 0, O_MODEL},
        {"context-resolution", required_argument, 0, O_CRES}, {"b8a-from-b08", no_argument, 0, O_B8A},
        {"window", required_argument, 0, O_WIN}, {"deflate", required_argument, 0, O_DEFL},
        {"fallback", required_argument, 0, O_FALLBACK}, CC_CLI_DEVICE_LONGOPT,
        CC_CLI_ATMOS_LONGOPTS, CC_CLI_SCENE_LONGOPTS, {0, 0, 0, 0}};
    cc_scene_options so;
    cc_scene_options_init(&so);
    cc_boa_options bo;
    cc_boa_options_init(&bo);
    const char *out = NULL, *ql = NULL, *model = NULL;
    cc_device_request dreq = {CC_DEVICE_AUTO, -1};
    int c, rc;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'h': cc_cmd_boa_help(); return 0;
        case O_QL: ql = optarg; break;
        case O_MODEL: model = optarg; break;
        case O_B8A: bo.b8a_from_b08 = 1; break;
        case CC_OPT_DEVICE: if (cc_cli_device_option(optarg, &dreq)) return 2; break;
        case O_FALLBACK:
            if (strcmp(optarg, "none") != 0 && strcmp(optarg, "reference") != 0) {
                fprintf(stderr, "clearcube: error: --fallback %s: must be none or reference\n", optarg);
                return 2;
            }
            bo.fallback = strcmp(optarg, "reference") == 0 ? CC_BOA_FALLBACK_REFERENCE : CC_BOA_FALLBACK_NONE;
            break;
        case O_DEFL: {
            double v;
            if (cc_cli_parse_double("deflate", optarg, &v))
                return 2;
            if (v < 1 || v > 9 || v != (int)v) {
                fprintf(stderr, "clearcube: error: --deflate %s: must be an integer in [1, 9]\n", optarg);
                return 2;
            }
            bo.deflate_level = (int)v;
            break;
        }
        case O_WIN: {
            double v;
            if (cc_cli_parse_double("window", optarg, &v))
                return 2;
            if (v < 16 || v > 16384) {
                fprintf(stderr, "clearcube: error: --window %s: must be in [16, 16384] pixels\n", optarg);
                return 2;
            }
            bo.core = (int)v;
            break;
        }
        case O_CRES: if (cc_cli_parse_double("context-resolution", optarg, &bo.context_resolution)) return 2; break;
        default:
            if ((rc = cc_cli_atmos_option(c, optarg, &bo.atmos)) == 0)
                rc = cc_cli_scene_option(c, optarg, &so);
            if (rc == 1)
                break;
            if (rc == 0)
                fprintf(stderr, "clearcube: error: boa: bad option (see clearcube boa --help)\n");
            return 2;
        }
    }
    if (!out || optind >= argc) {
        fprintf(stderr, "clearcube: error: boa: need INPUT... and -o OUT.nc (see clearcube boa --help)\n");
        return 2;
    }
    if (access(out, F_OK) == 0) {
        fprintf(stderr, "clearcube: error: %s: exists (boa writes a new cube; remove it first)\n", out);
        return 2;
    }
    char shipped[PATH_MAX];
    int drc = cc_cli_data_file(&model, CC_BOA_SHIPPED_MODEL, shipped, sizeof shipped);
    if (drc)
        return drc;
    cc_device dev;
    if ((drc = cc_cli_device(&dreq, "boa", "the scene context (aerosol, water vapour) and --fallback reference",
                             &dev)) != 0)
        return drc;
    bo.backend = dev.backend;
    cc_nn_model m;
    cc_nn_model_init(&m);
    if (cc_model_file_read(model, &m) != CC_OK)
        return fail();
    cc_scene *s = NULL;
    char *input = NULL; /* the inputs, for provenance; several: a same-day mosaic */
    rc = 1;
    cc_boa_domain dom;
    if (cc_cli_scene_inputs("boa", argc, argv, optind, &so, &input))
        goto out;
    if (cc_boa_model_check(&m, model) != CC_OK || cc_boa_domain_read(model, &m, &dom) != CC_OK)
        goto out;
    bo.domain = &dom;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    so.defer_bands = cc_boa_defer_bands(&bo); /* decoded by window, overlapping inference */
    if (cc_scene_open(argv[optind], &so, &s) != CC_OK || cc_cli_mosaic_label(s, &input))
        goto out;
    if (isnan(bo.atmos.elevation_m) && !bo.atmos.dem_path)
        bo.atmos.elevation_m = s->elevation; /* the catalogue's, if any */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double open_s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    cc_boa_stats st;
    if (cc_boa_run(s, &m, &bo, input, out, ql, &st) != CC_OK)
        goto out;
    cc_info("wrote %s (12 bands, %dx%d, %zu valid pixels): decode (scene open) %.2f s, then %.2f s: context "
            "%.2f s, inference+I/O %.2f s (read %.2f, compute %.2f, write %.2f); network on %s",
            out, st.width, st.height, st.n_valid, open_s, st.wall_s, st.context_s, st.infer_s, st.read_s,
            st.compute_s, st.write_s, dev.name);
    char qs[512];
    cc_boa_quality_summary(&st.quality, qs, sizeof qs);
    cc_info("%s%s", qs, bo.fallback == CC_BOA_FALLBACK_REFERENCE ? " (--fallback reference)" : "");
    if (ql)
        cc_info("wrote %s", ql);
    rc = 0;
out:
    if (rc)
        rc = fail();
    free(input);
    cc_scene_free(s);
    cc_nn_model_free(&m);
    return rc;
}
