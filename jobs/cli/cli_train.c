/* What `clearcube train` and `clearcube cloudless-train` share. See jobs/cli_train.h. */
#include "jobs/cli/cli_train.h"

#include <stdio.h>

#include "core/error.h"

int cc_cli_train_count(const char *cmd, const char *opt, const char *val, long *out)
{
    double v;
    if (cc_cli_parse_double(opt, val, &v) || v < 1) {
        fprintf(stderr, "clearcube: error: %s: --%s must be >= 1\n", cmd, opt);
        return -1;
    }
    *out = (long)v;
    return 0;
}

int cc_cli_train_option(const char *cmd, int id, const char *val, long *steps, int *progress)
{
    switch (id) {
    case CC_OPT_TRAIN_STEPS: return cc_cli_train_count(cmd, "steps", val, steps);
    case CC_OPT_TRAIN_NOPROG: *progress = 0; return 0;
    default: fprintf(stderr, "clearcube: error: %s: bad option (see clearcube %s --help)\n", cmd, cmd); return -1;
    }
}

int cc_cli_train_config_arg(const char *cmd, int argc)
{
    if (optind != argc - 1) {
        fprintf(stderr, "clearcube: error: %s: need exactly one CONFIG (see clearcube %s --help)\n", cmd, cmd);
        return -1;
    }
    return optind;
}

int cc_cli_train_fail(void)
{
    fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
    return cc_status_exit_code(cc_error_status());
}
