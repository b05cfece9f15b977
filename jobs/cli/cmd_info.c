/* clearcube info INPUT: what the readers make of an input, as JSON. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/json.h"
#include "io/s2/scene.h"
#include "jobs/cli/cli.h"

void cc_cmd_info_help(void)
{
    printf("Usage: clearcube info INPUT [input options]\n\n"
           "Reads INPUT as clearcube would (SAFE directory or .zip, GeoTIFF stack, band folder) and\n"
           "prints its metadata as JSON: level, spacecraft, date, baseline, radiometric offsets,\n"
           "bands with size and geotransform, mean sun/view angles, L2A layers.\n\n" CC_CLI_SCENE_OPTIONS_HELP);
}

/* A finite number, else null. */
static json_t *num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *raster(const cc_raster_u16 *r)
{
    json_t *gt = json_array();
    for (int i = 0; i < 6; i++)
        json_array_append_new(gt, num(r->gt[i]));
    return json_pack("{s:i,s:i,s:o}", "width", r->width, "height", r->height, "geotransform", gt);
}

/* What the readers make of the scene, as a JSON object (jansson: every string
 * escaped, whatever bytes a file name holds). */
static json_t *scene_json(const cc_scene *s)
{
    char date[16];
    snprintf(date, sizeof date, "%04d-%02d-%02d", s->year % 10000, s->month % 100, s->day % 100);
    json_t *o = json_object();
    json_object_set_new(o, "product_id", cc_json_str(s->product_id));
    json_object_set_new(o, "level", json_string(s->level == CC_LEVEL_L2A ? "L2A" : "L1C"));
    json_object_set_new(o, "spacecraft", cc_json_str(cc_spacecraft_name(s->spacecraft)));
    json_object_set_new(o, "tile_id", cc_json_str(s->tile_id));
    json_object_set_new(o, "date", json_string(date));
    json_object_set_new(o, "processing_baseline", cc_json_str(s->processing_baseline));
    json_object_set_new(o, "epsg", json_integer(s->epsg));
    json_object_set_new(o, "checksums_verified", json_integer(s->checksums_verified));
    json_object_set_new(o, "quantification", num(s->quantification));
    json_object_set_new(o, "u", num(s->u));
    json_object_set_new(o, "mean_sun_zenith", num(cc_angle_grid_mean(&s->sun_zenith)));
    json_object_set_new(o, "mean_sun_azimuth", num(cc_angle_grid_mean(&s->sun_azimuth)));
    json_t *off = json_object(), *vz = json_object(), *bands = json_object(), *l2 = json_object();
    for (int b = 0; b < CC_NBANDS; b++) {
        if (!s->band[b].present)
            continue;
        json_object_set_new(off, cc_band_names[b], num(s->radio_offset[b]));
        if (s->view_zenith[b].v)
            json_object_set_new(vz, cc_band_names[b], num(cc_angle_grid_mean(&s->view_zenith[b])));
        json_object_set_new(bands, cc_band_names[b], raster(&s->band[b]));
    }
    const cc_raster_u16 *l2r[3] = {&s->scl, &s->aot, &s->wvp};
    const char *l2n[3] = {"SCL", "AOT", "WVP"};
    for (int k = 0; k < 3; k++)
        if (l2r[k]->present)
            json_object_set_new(l2, l2n[k], raster(l2r[k]));
    json_object_set_new(o, "radio_offset", off);
    json_object_set_new(o, "mean_view_zenith", vz);
    json_object_set_new(o, "bands", bands);
    json_object_set_new(o, "l2a_layers", l2);
    return o;
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
    json_t *o = scene_json(s);
    int bad = !o || json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10)) != 0;
    json_decref(o);
    cc_scene_free(s);
    if (bad || fputc('\n', stdout) == EOF || fflush(stdout) != 0) {
        fprintf(stderr, "clearcube: error: info: cannot write the JSON to stdout\n");
        return 1;
    }
    return 0;
}
