/* clearcube reference INPUT -o OUT.nc: the physical reference L2A processor. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "io/s2/scene.h"
#include "jobs/cli/cli.h"
#include "pipeline/report/quicklook.h"
#include "pipeline/atmos/reference.h"

void cc_cmd_reference_help(void)
{
    printf("Usage: clearcube reference INPUT... -o OUT.nc [options]\n\n"
           "Physically based Level-2A surface reflectance from a Sentinel-2 Level-1C product:\n"
           "SMAC inversion per band (S2A/S2B/S2C coefficients), aerosol optical thickness from\n"
           "dark dense vegetation, water vapour from the B9/B8A ratio. Writes 12 BOA bands (B10\n"
           "dropped) in L2A DN convention plus AOT and WVP layers into a CF-1.8 NetCDF cube; if\n"
           "OUT.nc exists, the date is added to it (same grid required).\n\n"
           "INPUT: a SAFE directory, a SAFE .zip, a multi-band GeoTIFF, a folder of per-band files, or a STAC\n"
           "Item / scene sidecar JSON (FILE.json or FILE.json#ITEM_ID, docs/formats/catalogue.md) pointing at\n"
           "one of those. Several INPUTs of one tile and day are mosaicked (the newest processing baseline\n"
           "first where they overlap).\n\n"
           "Options:\n"
           "  -o, --output OUT.nc   output cube (required)\n"
           "  --quicklook OUT.png   also write a true-colour PNG (B4/B3/B2, robust stretch)\n"
           "  --aot X               aerosol optical thickness at 550 nm (default: DDV retrieval)\n"
           "  --water-vapour X      water vapour in g cm-2 (default: B9/B8A retrieval)\n"
           "  --elevation M         surface elevation in metres (pressure; default sea level)\n"
           "  --dem PATH            elevation raster (any GDAL format), warped onto the grid\n"
           "  --ozone X             ozone in cm-atm (default 0.331)\n"
           "  --resolution M        output grid resolution (default: finest band present)\n" CC_DEVICE_HELP
           "                        (on a GPU: the SMAC inversion, while the next block of bands\n"
           "                        is decoded on the CPU; the cube is the CPU's within 1 DN)\n\n"
           CC_CLI_SCENE_OPTIONS_HELP);
}

static int fail(void)
{
    fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
    return cc_status_exit_code(cc_error_status());
}

int cc_cmd_reference(int argc, char **argv)
{
    enum { O_QL = CC_OPT_ATMOS_LAST + 1 };
    static const struct option longopts[] = {
        {"output", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'},
        {"quicklook", required_argument, 0, O_QL}, CC_CLI_DEVICE_LONGOPT, CC_CLI_ATMOS_LONGOPTS, CC_CLI_SCENE_LONGOPTS, {0, 0, 0, 0}};
    cc_scene_options so;
    cc_scene_options_init(&so);
    cc_reference_options ro;
    cc_reference_options_init(&ro);
    const char *out = NULL, *ql = NULL;
    cc_device_request dreq = {CC_DEVICE_AUTO, -1};
    int c, rc;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'h': cc_cmd_reference_help(); return 0;
        case O_QL: ql = optarg; break;
        case CC_OPT_DEVICE: if (cc_cli_device_option(optarg, &dreq)) return 2; break;
        default:
            if ((rc = cc_cli_atmos_option(c, optarg, &ro)) == 0)
                rc = cc_cli_scene_option(c, optarg, &so);
            if (rc == 1)
                break;
            if (rc == 0)
                fprintf(stderr, "clearcube: error: reference: bad option (see clearcube reference --help)\n");
            return 2;
        }
    }
    if (!out) {
        fprintf(stderr, "clearcube: error: reference: need INPUT... and -o OUT.nc (see clearcube reference --help)\n");
        return 2;
    }
    char *input = NULL; /* the inputs, for provenance; several: a same-day mosaic */
    if (cc_cli_scene_inputs("reference", argc, argv, optind, &so, &input))
        return 2;
    cc_device dev;
    if ((rc = cc_cli_device(&dreq, "reference", "reading the bands and the per-pixel context", &dev)) != 0) {
        free(input);
        return rc;
    }
    ro.cuda = dev.kind == CC_DEVICE_CUDA;
    cc_scene *s = NULL;
    cc_reference_result r;
    memset(&r, 0, sizeof r);
    rc = 1;
    if (cc_scene_open(argv[optind], &so, &s) != CC_OK || cc_cli_mosaic_label(s, &input))
        goto out;
    if (isnan(ro.elevation_m) && !ro.dem_path)
        ro.elevation_m = s->elevation; /* the catalogue's, if any */
    if (cc_reference_run_cube(s, &ro, input, out, ql, &r) != CC_OK)
        goto out;
    cc_info("wrote %s (%d bands + AOT + WVP, %dx%d, %zu valid pixels; context %.1f s, SMAC %.1f s, write %.1f s "
            "overlapped; SMAC on %s)",
            out, r.nbands, r.grid.width, r.grid.height, r.n_valid, r.context_s, r.smac_s, r.write_s, dev.name);
    if (ql)
        cc_info("wrote %s", ql);
    rc = 0;
out:
    if (rc)
        rc = fail();
    cc_reference_result_free(&r);
    cc_scene_free(s);
    free(input);
    return rc;
}
