#include "jobs/cli/cli.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gdal.h>

#include "core/alloc.h"
#include "core/datapath.h"
#include "core/error.h"
#include "core/log.h"
#include "core/version.h"

static const cc_cli_command commands[] = {
    {"reference", "physical reference L1C -> L2A processor (SMAC) into a NetCDF cube",
     cc_cmd_reference, cc_cmd_reference_help},
    {"boa", "Rapid BoA: L2A surface reflectance emulated by the shipped network", cc_cmd_boa,
     cc_cmd_boa_help},
    {"train", "train the Rapid BoA emulator from a dataset (MPI data-parallel, resumable)", cc_cmd_train,
     cc_cmd_train_help},
    {"info", "print what clearcube reads from an input product", cc_cmd_info, cc_cmd_info_help},
    {"simulate", "write a small SIMULATED L1C scene (for demos and tests)", cc_cmd_simulate,
     cc_cmd_simulate_help},
    {"tiles", "list the Sentinel-2 tiles of an area (bbox or GeoJSON)", cc_cmd_tiles, cc_cmd_tiles_help},
    {"job", "job files: print the template, check a job and list its work items", cc_cmd_job,
     cc_cmd_job_help},
    {"run", "run a job over MPI ranks (mpirun/srun), resumable", cc_cmd_run, cc_cmd_run_help},
    {"validate", "compare a predicted L2A with a reference L2A (MAE, bias, RMSE, NDVI; report + PNGs)", cc_cmd_validate, cc_cmd_validate_help},
    {"plan", "node-hours, wall time and scaling of a job (cost model + scheduler simulation)", cc_cmd_plan,
     cc_cmd_plan_help},
    {"dataset", "build emulator training data (L1C/L2A patches, HDF5) from a YAML config", cc_cmd_dataset, cc_cmd_dataset_help},
    {"ingest", "Cloudless: S2/Landsat/OLCI/S1 products onto the tile grid, appended to the tile's sensor cubes", cc_cmd_ingest, cc_cmd_ingest_help},
    {"cloudless", "Cloudless: the cloud-free 10-band image of a tile and day, fused from the sensor cubes", cc_cmd_cloudless, cc_cmd_cloudless_help},
    {"daily", "daily operation: bring a cloudless job's nowcast up to the newest ingested day", cc_cmd_daily, cc_cmd_daily_help},
    {"cloudless-daily", "Cloudless daily in O(1): the nowcast from a per-pixel state (or a reanalysis)", cc_cmd_cloudless_daily, cc_cmd_cloudless_daily_help},
    {"cloudless-train", "train the Cloudless fusion model (hidden clear targets; YAML recipe)", cc_cmd_cloudless_train, cc_cmd_cloudless_train_help},
    {"gapfill-eval", "score the Cloudless model vs linear and Whittaker gap filling on hidden clear pixels (JSON)", cc_cmd_gapfill_eval, cc_cmd_gapfill_eval_help},
    {"cloudless-sim", "Cloudless: SIMULATED sensor cubes and truth of one tile (real pieces, or --synthetic)", cc_cmd_cloudless_sim, cc_cmd_cloudless_sim_help},
    {"cloudless-plot", "Cloudless: time series of a pixel and quicklook strips (accuracy report pictures)", cc_cmd_cloudless_plot, cc_cmd_cloudless_plot_help},
    {"submit", "submit a job to Slurm (batch script with graceful stop and requeue)", cc_cmd_submit,
     cc_cmd_submit_help},
    {"quicklook", "a true-colour PNG of one date of a cube (percentile stretch)", cc_cmd_quicklook, cc_cmd_quicklook_help},
    {"cloudmask", "Sentinel-2 cloud/shadow mask (GeoTIFF) and its scores against SCL or Fmask", cc_cmd_cloudmask, cc_cmd_cloudmask_help},
    {"export", "a cube as Cloud-Optimized GeoTIFFs and STAC Items (--to cog)", cc_cmd_export, cc_cmd_export_help},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f, "clearcube %s: analysis-ready Sentinel-2 datacubes\n\n"
               "Usage: clearcube <command> [options]   (clearcube <command> --help)\n\nCommands:\n",
            CC_VERSION);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "  %-10s %s\n", "version", "the version, commit, backends (CPU, CUDA, cuDNN) and shipped models' hashes");
    fputs("\n" CC_CLI_COMMON_HELP, f);
}

/* Value of a common option at argv[*i]: "--name=V" or "--name V" (advancing
 * *i); NULL (message printed) when it is missing. */
static const char *common_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (*i + 1 >= argc) {
        fprintf(stderr, "clearcube: error: %s needs a value\n", name);
        return NULL;
    }
    return argv[++*i];
}

static int is_opt(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return !strncmp(arg, name, n) && (arg[n] == '\0' || arg[n] == '=');
}

/* The options every command takes (CC_CLI_COMMON_HELP), anywhere before "--":
 * applied to core/log and removed from argv (so that the commands never see
 * them). Returns 0, or the exit code after a one-line error. */
static int common_options(int *argc, char **argv)
{
    int out = 1, level = -1, format = -1;
    const char *file = NULL;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--")) {
            while (i < *argc)
                argv[out++] = argv[i++];
            break;
        }
        if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            level = CC_LOG_WARN;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            level = CC_LOG_DEBUG;
        } else if (is_opt(a, "--log-level")) {
            if (!(v = common_value(*argc, argv, &i, "--log-level")))
                return 2;
            if ((level = cc_log_parse_level(v)) < 0) {
                fprintf(stderr, "clearcube: error: --log-level: unknown level '%s' (debug, info, warn, "
                                "error, quiet)\n", v);
                return 2;
            }
        } else if (is_opt(a, "--log-format")) {
            if (!(v = common_value(*argc, argv, &i, "--log-format")))
                return 2;
            if ((format = cc_log_parse_format(v)) < 0) {
                fprintf(stderr, "clearcube: error: --log-format: unknown format '%s' (text, json)\n", v);
                return 2;
            }
        } else if (is_opt(a, "--log-file")) {
            if (!(file = common_value(*argc, argv, &i, "--log-file")))
                return 2;
        } else if (is_opt(a, "--memory-limit")) { /* core/alloc.h: the process's budget */
            unsigned long long bytes;
            if (!(v = common_value(*argc, argv, &i, "--memory-limit")))
                return 2;
            if (cc_mem_parse(v, &bytes) != 0) {
                fprintf(stderr, "clearcube: error: --memory-limit: '%s' is not a size (e.g. 4G, 512M)\n", v);
                return 2;
            }
            cc_mem_set_limit(bytes);
        } else {
            argv[out++] = argv[i];
        }
    }
    argv[out] = NULL;
    *argc = out;
    if (level >= 0)
        cc_log_set_level((cc_log_level)level);
    if (format >= 0)
        cc_log_set_format((cc_log_format)format);
    if (file && cc_log_add_file(file) != CC_OK) {
        fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
        return 1;
    }
    return 0;
}

/* -h or --help before "--". */
static int wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return 1;
    return 0;
}

int cc_cli_parse_double(const char *opt, const char *val, double *out)
{
    char *end = NULL;
    double v = strtod(val, &end);
    if (!val[0] || *end || !isfinite(v)) {
        fprintf(stderr, "clearcube: error: --%s: '%s' is not a number\n", opt, val);
        return -1;
    }
    *out = v;
    return 0;
}

int cc_cli_data_file(const char **path, const char *rel, char *buf, size_t n)
{
    if (*path)
        return 0;
    if (cc_data_find(rel, buf, n) != CC_OK) {
        fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
        return cc_status_exit_code(cc_error_status());
    }
    *path = buf;
    return 0;
}

int cc_cli_device_option(const char *val, cc_device_request *r)
{
    if (cc_device_parse(val, r) != CC_OK) {
        fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
        return 2;
    }
    return 0;
}

int cc_cli_device(const cc_device_request *r, const char *cmd, const char *cpu_stages, cc_device *d)
{
    if (cc_device_resolve(r, cmd, d) != CC_OK) {
        fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
        return cc_status_exit_code(cc_error_status());
    }
    if (d->kind == CC_DEVICE_CUDA && cpu_stages)
        cc_log(r && r->kind == CC_DEVICE_CUDA ? CC_LOG_WARN : CC_LOG_INFO,"%s: on the CPU (no GPU path for it yet): %s (docs/gpu.md, \"What runs where\")", cmd,
                cpu_stages);
    return 0;
}

int cc_cli_scene_option(int id, const char *val, cc_scene_options *so)
{
    switch (id) {
    case CC_OPT_BANDS: so->bands = val; return 1;
    case CC_OPT_SPACECRAFT: so->spacecraft = val; return 1;
    case CC_OPT_DATE: so->date = val; return 1;
    case CC_OPT_SUN_ZENITH: return cc_cli_parse_double("sun-zenith", val, &so->sun_zenith) ? -1 : 1;
    case CC_OPT_SUN_AZIMUTH: return cc_cli_parse_double("sun-azimuth", val, &so->sun_azimuth) ? -1 : 1;
    case CC_OPT_VIEW_ZENITH: return cc_cli_parse_double("view-zenith", val, &so->view_zenith) ? -1 : 1;
    case CC_OPT_VIEW_AZIMUTH: return cc_cli_parse_double("view-azimuth", val, &so->view_azimuth) ? -1 : 1;
    case CC_OPT_DN_OFFSET: return cc_cli_parse_double("dn-offset", val, &so->dn_offset) ? -1 : 1;
    case CC_OPT_NO_VERIFY: so->verify_checksums = 0; return 1;
    default: return 0;
    }
}

int cc_cli_atmos_option(int id, const char *val, cc_reference_options *ro)
{
    switch (id) {
    case CC_OPT_AOT: return cc_cli_parse_double("aot", val, &ro->aot550) ? -1 : 1;
    case CC_OPT_WV: return cc_cli_parse_double("water-vapour", val, &ro->water_vapour) ? -1 : 1;
    case CC_OPT_ELEV: return cc_cli_parse_double("elevation", val, &ro->elevation_m) ? -1 : 1;
    case CC_OPT_DEM: ro->dem_path = val; return 1;
    case CC_OPT_OZONE: return cc_cli_parse_double("ozone", val, &ro->ozone) ? -1 : 1;
    case CC_OPT_RES: return cc_cli_parse_double("resolution", val, &ro->resolution) ? -1 : 1;
    default: return 0;
    }
}

int cc_cli_main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return argc < 2 ? 2 : 0;
    }
    int rc = common_options(&argc, argv);
    if (rc || argc < 2) {
        if (!rc)
            usage(stderr);
        return rc ? rc : 2;
    }
    if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
        rc = cc_cmd_version(argc - 1, argv + 1);
        cc_log_close_files();
        return rc;
    }
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(argv[1], commands[i].name) != 0)
            continue;
        if (wants_help(argc - 1, argv + 1)) {
            commands[i].help();
            fputs("\n" CC_CLI_COMMON_HELP, stdout);
            cc_log_close_files();
            return 0;
        }
        GDALAllRegister();
        cc_log_route_gdal();
        rc = commands[i].run(argc - 1, argv + 1);
        GDALDestroyDriverManager();
        cc_log_close_files();
        return rc;
    }
    fprintf(stderr, "clearcube: error: unknown command '%s' (see clearcube --help)\n", argv[1]);
    return 2;
}

int cc_cli_scene_inputs(const char *cmd, int argc, char **argv, int first, cc_scene_options *so, char **label)
{
    *label = NULL;
    if (first >= argc) {
        fprintf(stderr, "clearcube: error: %s: need INPUT... and -o OUT.nc (see clearcube %s --help)\n", cmd, cmd);
        return 2;
    }
    size_t len = 1;
    for (int i = first; i < argc; i++)
        len += strlen(argv[i]) + 2;
    if (!(*label = malloc(len))) {
        fprintf(stderr, "clearcube: error: %s: out of memory\n", cmd);
        return 2;
    }
    (*label)[0] = 0;
    for (int i = first; i < argc; i++) {
        if (i > first)
            strcat(*label, ", ");
        strcat(*label, argv[i]);
    }
    so->mosaic = (const char *const *)(argv + first + 1);
    so->nmosaic = argc - first - 1;
    return 0;
}

int cc_cli_mosaic_label(const cc_scene *s, char **label)
{
    if (!s->mosaic_note)
        return 0;
    size_t n = strlen(*label) + sizeof CC_SCENE_MOSAIC_TAG + strlen(s->mosaic_note);
    char *l = malloc(n);
    if (!l) {
        cc_error_set(CC_ERR_NOMEM, "%s: out of memory", *label);
        return 1;
    }
    snprintf(l, n, "%s%s%s", *label, CC_SCENE_MOSAIC_TAG, s->mosaic_note);
    free(*label);
    *label = l;
    return 0;
}
