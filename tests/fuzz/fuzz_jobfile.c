/* Fuzz harness: job files, YAML (libyaml) and JSON (jansson), through the one
 * key table (jobs/run/jobfile.c, cc_job_load). The items are not expanded
 * (that scans catalogue folders). */
#include "fuzz_util.h"

#include "jobs/run/job.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    const char *p = fz_write("job.yaml", data, size);
    if (!p)
        return 0;
    cc_job job;
    memset(&job, 0, sizeof job);
    if (cc_job_load(p, &job) == CC_OK)
        cc_job_free(&job);
    return 0;
}
