/* clearcube info INPUT: what the readers make of an input, as JSON. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "io/s2/scene.h"
#include "jobs/cli/cli.h"

void cc_cmd_info_help(void)
{
    printf("Usage: clearcube info INPUT [input options]\n\n"
           "Reads INPUT as clearcube would (SAFE directory or .zip, GeoTIFF stack, band folder) and\n"
           "prints its metadata as JSON: level, spacecraft, date, baseline, radiometric offsets,\n"
           "bands with size and geotransform, mean sun/view angles, L2A layers.\n\n" CC_CLI_SCENE_OPTIONS_HELP);
}

static void json_num(const char *k, double v, int last)
{
    if (isfinite(v))
        printf("  \"%s\": %.10g%s\n", k, v, last ? "" : ",");
    else
        printf("  \"%s\": null%s\n", k, last ? "" : ",");
}

static void print_raster(const char *name, const cc_raster_u16 *r, int last)
{
    printf("    \"%s\": {\"width\": %d, \"height\": %d, \"geotransform\": [%.10g, %.10g, %.10g, %.10g, "
           "%.10g, %.10g]}%s\n",
           name, r->width, r->height, r->gt[0], r->gt[1], r->gt[2], r->gt[3], r->gt[4], r->gt[5],
           last ? "" : ",");
}

int cc_cmd_info(int argc, char **argv)
{
    static const struct option longopts[] = {{"help", no_argument, 0, 'h'}, CC_CLI_SCENE_LONGOPTS,
                                             {0, 0, 0, 0}};
    cc_scene_options so;
    cc_scene_options_init(&so);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'h') {
            cc_cmd_info_help();
            return 0;
        }
        if (cc_cli_scene_option(c, optarg, &so) != 1)
            return 2;
    }
    if (optind != argc - 1) {
        fprintf(stderr, "clearcube: error: info: need exactly one INPUT (see clearcube info --help)\n");
        return 2;
    }
    cc_scene *s = NULL;
    if (cc_scene_open(argv[optind], &so, &s) != CC_OK) {
        fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
        return cc_status_exit_code(cc_error_status());
    }
    printf("{\n  \"product_id\": \"%s\",\n  \"level\": \"%s\",\n  \"spacecraft\": \"%s\",\n", s->product_id,
           s->level == CC_LEVEL_L2A ? "L2A" : "L1C", cc_spacecraft_name(s->spacecraft));
    printf("  \"tile_id\": \"%s\",\n  \"date\": \"%04d-%02d-%02d\",\n  \"processing_baseline\": \"%s\",\n",
           s->tile_id, s->year, s->month, s->day, s->processing_baseline);
    printf("  \"epsg\": %d,\n  \"checksums_verified\": %d,\n", s->epsg, s->checksums_verified);
    json_num("quantification", s->quantification, 0);
    json_num("u", s->u, 0);
    json_num("mean_sun_zenith", cc_angle_grid_mean(&s->sun_zenith), 0);
    json_num("mean_sun_azimuth", cc_angle_grid_mean(&s->sun_azimuth), 0);
    printf("  \"radio_offset\": {");
    int first = 1;
    for (int b = 0; b < CC_NBANDS; b++)
        if (s->band[b].present) {
            printf("%s\"%s\": %g", first ? "" : ", ", cc_band_names[b], s->radio_offset[b]);
            first = 0;
        }
    printf("},\n  \"mean_view_zenith\": {");
    first = 1;
    for (int b = 0; b < CC_NBANDS; b++)
        if (s->band[b].present && s->view_zenith[b].v) {
            double v = cc_angle_grid_mean(&s->view_zenith[b]);
            printf("%s\"%s\": %.6g", first ? "" : ", ", cc_band_names[b], isfinite(v) ? v : -1);
            first = 0;
        }
    printf("},\n  \"bands\": {\n");
    int last = -1;
    for (int b = 0; b < CC_NBANDS; b++)
        if (s->band[b].present)
            last = b;
    for (int b = 0; b < CC_NBANDS; b++)
        if (s->band[b].present)
            print_raster(cc_band_names[b], &s->band[b], b == last);
    printf("  },\n  \"l2a_layers\": {\n");
    const cc_raster_u16 *l2[3] = {&s->scl, &s->aot, &s->wvp};
    const char *l2n[3] = {"SCL", "AOT", "WVP"};
    int nl2 = 0, k2 = 0;
    for (int k = 0; k < 3; k++)
        nl2 += l2[k]->present;
    for (int k = 0; k < 3; k++)
        if (l2[k]->present)
            print_raster(l2n[k], l2[k], ++k2 == nl2);
    printf("  }\n}\n");
    cc_scene_free(s);
    return 0;
}
