/* clearcube CLI: the subcommand table. Each subcommand is one function
 * taking argc/argv (argv[0] = subcommand name) and returning an exit code. */
#ifndef CC_JOBS_CLI_CLI_H
#define CC_JOBS_CLI_CLI_H

typedef struct {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
    void (*help)(void);
} cc_cli_command;

int cc_cli_main(int argc, char **argv);

/* The options of every command, parsed once by cc_cli_main before the command
 * runs (jobs/cli/cli.c) and printed after each command's --help. */
#define CC_CLI_COMMON_HELP                                                                        \
    "Common options (every command, anywhere before \"--\"):\n"                                    \
    "  -q, --quiet           warnings and errors only\n"                                           \
    "  -v, --verbose         debug messages too\n"                                                 \
    "  --log-level LEVEL     debug, info (default), warn, error, quiet\n"                          \
    "  --log-file FILE       append the log also to FILE (at least the info lines, even with -q)\n" \
    "  --log-format FORMAT   text (default) or json: one JSON object per line\n"                   \
    "  --memory-limit SIZE   the process's memory budget (4G, 512M; default: the machine's\n"      \
    "                        memory, or CLEARCUBE_MEMORY_LIMIT): inputs too large are refused\n"    \
    "                        before anything is allocated\n"                                         \
    "Long commands show a progress bar on a terminal, else a progress line every\n"              \
    "CLEARCUBE_PROGRESS_INTERVAL seconds (default 10; 0: every percent).\n"

int cc_cmd_reference(int argc, char **argv);
void cc_cmd_reference_help(void);
int cc_cmd_boa(int argc, char **argv);
void cc_cmd_boa_help(void);
int cc_cmd_train(int argc, char **argv);
void cc_cmd_train_help(void);
int cc_cmd_info(int argc, char **argv);
void cc_cmd_info_help(void);
int cc_cmd_simulate(int argc, char **argv);
void cc_cmd_simulate_help(void);
int cc_cmd_run(int argc, char **argv);
void cc_cmd_run_help(void);
int cc_cmd_validate(int argc, char **argv); void cc_cmd_validate_help(void);
int cc_cmd_tiles(int argc, char **argv);
void cc_cmd_tiles_help(void);
int cc_cmd_job(int argc, char **argv);
void cc_cmd_job_help(void);
int cc_cmd_plan(int argc, char **argv);
void cc_cmd_plan_help(void);
int cc_cmd_dataset(int argc, char **argv); void cc_cmd_dataset_help(void);
int cc_cmd_ingest(int argc, char **argv); void cc_cmd_ingest_help(void);
int cc_cmd_cloudless(int argc, char **argv); void cc_cmd_cloudless_help(void);
int cc_cmd_daily(int argc, char **argv); void cc_cmd_daily_help(void);
int cc_cmd_cloudless_daily(int argc, char **argv); void cc_cmd_cloudless_daily_help(void);
int cc_cmd_cloudless_train(int argc, char **argv); void cc_cmd_cloudless_train_help(void);
int cc_cmd_gapfill_eval(int argc, char **argv); void cc_cmd_gapfill_eval_help(void);
int cc_cmd_cloudless_sim(int argc, char **argv); void cc_cmd_cloudless_sim_help(void);
int cc_cmd_cloudless_plot(int argc, char **argv); void cc_cmd_cloudless_plot_help(void);
int cc_cmd_submit(int argc, char **argv);
void cc_cmd_submit_help(void);
int cc_cmd_cloudmask(int argc, char **argv); void cc_cmd_cloudmask_help(void);
int cc_cmd_export(int argc, char **argv); void cc_cmd_export_help(void);
int cc_cmd_quicklook(int argc, char **argv); void cc_cmd_quicklook_help(void);
int cc_cmd_version(int argc, char **argv);

/* Shared option handling for commands that read a scene. */
#include "io/s2/scene.h"
/* Parses a double option value; prints an error naming the option on failure. */
int cc_cli_parse_double(const char *opt, const char *val, double *out);
/* The data file a command uses: *path when an option named it, else the shipped
 * file `rel` (e.g. "models/boa-s2.h5") found at run time (core/datapath.h), written
 * into buf (n bytes) and pointed to by *path. 0, or the exit code after printing
 * the one-line error that names every place searched. */
int cc_cli_data_file(const char **path, const char *rel, char *buf, size_t n);
/* Handles one of the scene options (--bands ... --no-verify-checksums);
 * returns 1 if `id` was a scene option, 0 if not, -1 on a bad value. */
int cc_cli_scene_option(int id, const char *val, cc_scene_options *so);
#define CC_CLI_SCENE_OPTIONS_HELP                                                            \
    "Input options (for GeoTIFF stacks and band folders without SAFE metadata):\n"           \
    "  --bands B01,B02,...   band order of a multi-band file (or filter for a folder)\n"      \
    "  --spacecraft S2A|S2B|S2C\n"                                                           \
    "  --date YYYY-MM-DD     sensing date\n"                                                 \
    "  --sun-zenith DEG --sun-azimuth DEG --view-zenith DEG --view-azimuth DEG\n"           \
    "  --dn-offset DN        radiometric offset added to DN (-1000 for baseline >= 04.00)\n" \
    "  --no-verify-checksums do not verify SAFE files against manifest.safe\n"

enum {
    CC_OPT_BANDS = 1000, CC_OPT_SPACECRAFT, CC_OPT_DATE, CC_OPT_SUN_ZENITH, CC_OPT_SUN_AZIMUTH,
    CC_OPT_VIEW_ZENITH, CC_OPT_VIEW_AZIMUTH, CC_OPT_DN_OFFSET, CC_OPT_NO_VERIFY,
    CC_OPT_SCENE_LAST
};
#define CC_CLI_SCENE_LONGOPTS                                                 \
    {"bands", required_argument, 0, CC_OPT_BANDS},                            \
    {"spacecraft", required_argument, 0, CC_OPT_SPACECRAFT},                  \
    {"date", required_argument, 0, CC_OPT_DATE},                              \
    {"sun-zenith", required_argument, 0, CC_OPT_SUN_ZENITH},                  \
    {"sun-azimuth", required_argument, 0, CC_OPT_SUN_AZIMUTH},                \
    {"view-zenith", required_argument, 0, CC_OPT_VIEW_ZENITH},                \
    {"view-azimuth", required_argument, 0, CC_OPT_VIEW_AZIMUTH},              \
    {"dn-offset", required_argument, 0, CC_OPT_DN_OFFSET},                    \
    {"no-verify-checksums", no_argument, 0, CC_OPT_NO_VERIFY}

/* --device auto|cpu|cuda|cuda:N (kernels/device/device.h), on every command that computes. */
#include "kernels/device/device.h"
enum { CC_OPT_DEVICE = 900 };
#define CC_CLI_DEVICE_LONGOPT {"device", required_argument, 0, CC_OPT_DEVICE}
/* --device VAL into *r: 0, or 2 with the error line printed. */
int cc_cli_device_option(const char *val, cc_device_request *r);
/* Resolves r for command cmd (the choice is logged): 0, or the exit code (4:
 * the requested GPU is not available) after the one-line error. When the
 * device is a GPU and cpu_stages is not NULL, one line says that those stages
 * of the command still run on the CPU (docs/gpu.md): a warning when cuda was
 * asked for, info under auto. */
int cc_cli_device(const cc_device_request *r, const char *cmd, const char *cpu_stages, cc_device *d);

/* Atmosphere overrides shared by `reference` and `boa`. */
#include "pipeline/atmos/reference.h"
enum {
    CC_OPT_AOT = CC_OPT_SCENE_LAST + 1, CC_OPT_WV, CC_OPT_ELEV, CC_OPT_DEM, CC_OPT_OZONE, CC_OPT_RES,
    CC_OPT_ATMOS_LAST
};
#define CC_CLI_ATMOS_LONGOPTS                                                                 \
    {"aot", required_argument, 0, CC_OPT_AOT}, {"water-vapour", required_argument, 0, CC_OPT_WV}, \
    {"water-vapor", required_argument, 0, CC_OPT_WV}, {"elevation", required_argument, 0, CC_OPT_ELEV}, \
    {"dem", required_argument, 0, CC_OPT_DEM}, {"ozone", required_argument, 0, CC_OPT_OZONE},  \
    {"resolution", required_argument, 0, CC_OPT_RES}
/* Handles one of the atmosphere options; returns 1 if `id` was one, 0 if not,
 * -1 on a bad value (message printed). */
int cc_cli_atmos_option(int id, const char *val, cc_reference_options *ro);

/* The INPUT... of `reference` and `boa`: argv[first..argc-1]; more than one is
 * a same-day mosaic (so->mosaic, io/s2/scene.h). *label gets the inputs
 * joined by ", " for the cube's provenance (free it). 0 if fine, 2 after a
 * one-line message when there is no input. */
int cc_cli_scene_inputs(const char *cmd, int argc, char **argv, int first, cc_scene_options *so, char **label);
/* For a same-day mosaic, appends CC_SCENE_MOSAIC_TAG and what each product
 * contributed (s->mosaic_note) to *label. 0 if fine, 1 when out of memory. */
int cc_cli_mosaic_label(const cc_scene *s, char **label);

#endif
