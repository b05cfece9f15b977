/* clearcube CLI: what `clearcube train` and `clearcube cloudless-train` share
 * (options --steps, --no-progress; the one CONFIG argument; the
 * error line). */
#ifndef CC_JOBS_CLI_CLI_TRAIN_H
#define CC_JOBS_CLI_CLI_TRAIN_H

#include <getopt.h>

#include "jobs/cli/cli.h"

enum { CC_OPT_TRAIN_STEPS = CC_OPT_SCENE_LAST + 1, CC_OPT_TRAIN_NOPROG, CC_OPT_TRAIN_LAST };
#define CC_CLI_TRAIN_LONGOPTS                                                                 \
    {"help", no_argument, 0, 'h'}, {"steps", required_argument, 0, CC_OPT_TRAIN_STEPS},       \
        {"no-progress", no_argument, 0, CC_OPT_TRAIN_NOPROG}, CC_CLI_DEVICE_LONGOPT
#define CC_CLI_TRAIN_OPTIONS_HELP                                   \
    "  --steps N         override train.steps\n"                   \
    "  --no-progress     no progress bar or progress lines\n"     \
    "  --device D        auto (default), cpu, cuda or cuda:N; training has no\n" \
    "                    GPU path yet: it runs on the CPU (cuda without a GPU:\n" \
    "                    error, exit code 4)\n"

/* Handles --steps (*steps) and --no-progress (*progress = 0);
 * any other option id is a bad option. Returns 0, or -1 with the error line
 * printed ("clearcube: error: CMD: ..."). */
int cc_cli_train_option(const char *cmd, int id, const char *val, long *steps, int *progress);
/* A count option (N >= 1) into *out: 0, or -1 with the error line printed. */
int cc_cli_train_count(const char *cmd, const char *opt, const char *val, long *out);
/* After getopt: the index of the one CONFIG argument, or -1 (error line printed). */
int cc_cli_train_config_arg(const char *cmd, int argc);
/* Prints "clearcube: error: <the last error>" and returns its exit code. */
int cc_cli_train_fail(void);

#endif
