/* Run-time lookup of clearcube's data files (core/datapath.h). */
#define _POSIX_C_SOURCE 200809L /* readlink */
#include "core/datapath.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* <folder of /proc/self/exe>/../share/clearcube into buf; 0, or -1 when the
 * executable's path cannot be read (the rule is then skipped) */
static int exe_share_dir(char *buf, size_t n)
{
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0)
        return -1;
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    int w = snprintf(buf, n, "%s/../share/clearcube", exe);
    return w < 0 || (size_t)w >= n ? -1 : 0;
}

/* dir/rel into buf when it fits and is readable; 1 found, 0 not */
static int try_dir(const char *dir, const char *rel, char *buf, size_t n)
{
    int w = snprintf(buf, n, "%s/%s", dir, rel);
    return w >= 0 && (size_t)w < n && access(buf, R_OK) == 0;
}

cc_status cc_data_find(const char *rel, char *buf, size_t n)
{
    char share[PATH_MAX];
    int have_share = exe_share_dir(share, sizeof share) == 0;
    if (have_share && try_dir(share, rel, buf, n))
        return CC_OK;
    const char *env = getenv("CLEARCUBE_DATA");
    if (env && *env && try_dir(env, rel, buf, n))
        return CC_OK;
    if (n)
        buf[0] = '\0';
    /* one line that names every place searched, in order */
    char first[PATH_MAX + 64], second[PATH_MAX + 64];
    if (have_share)
        snprintf(first, sizeof first, "%s/%s", share, rel);
    else
        snprintf(first, sizeof first, "<the executable's folder: unknown>/../share/clearcube/%s", rel);
    if (env && *env)
        snprintf(second, sizeof second, "%s/%s ($CLEARCUBE_DATA)", env, rel);
    else
        snprintf(second, sizeof second, "$CLEARCUBE_DATA/%s ($CLEARCUBE_DATA is not set)", rel);
    return cc_error_set(CC_ERR_MISSING,
                        "%s: data file not found (searched %s, then %s); give its path with the command's option "
                        "(--model, --template) or set CLEARCUBE_DATA to a folder DIR with DIR/%s",
                        rel, first, second, rel);
}
