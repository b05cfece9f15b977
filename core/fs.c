/* clearcube: atomic file replacement, temporary names, directories (see
 * core/fs.h). */
#define _POSIX_C_SOURCE 200809L /* fsync, kill, PATH_MAX */
#include "core/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

#define TEMP_TAG ".tmp-"

cc_status cc_fs_temp_name(const char *target, const char *suffix, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s" TEMP_TAG "%ld%s", target, (long)getpid(), suffix ? suffix : "");
    if (n < 0 || (size_t)n >= cap) {
        if (cap)
            buf[0] = '\0';
        return cc_error_set(CC_ERR_ARG, "%s: path too long for a temporary name", target);
    }
    return CC_OK;
}

void cc_fs_split_path(const char *path, char *dir, size_t ndir, const char **base)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, ndir, ".");
        *base = path;
    } else if (slash == path) {
        snprintf(dir, ndir, "/");
        *base = slash + 1;
    } else {
        snprintf(dir, ndir, "%.*s", (int)(slash - path), path);
        *base = slash + 1;
    }
}

cc_status cc_fs_fsync(const char *path, int is_dir)
{
    int fd = open(path, O_RDONLY | (is_dir ? O_DIRECTORY : 0));
    if (fd < 0)
        return cc_error_set(CC_ERR_IO, "%s: cannot open for fsync: %s", path, strerror(errno));
    if (fsync(fd) != 0) {
        int e = errno;
        close(fd);
        return cc_error_set(CC_ERR_IO, "%s: fsync failed: %s", path, strerror(e));
    }
    close(fd);
    return CC_OK;
}

static cc_status fsync_dir_of(const char *path)
{
    char dir[PATH_MAX];
    const char *base;
    cc_fs_split_path(path, dir, sizeof dir, &base);
    return cc_fs_fsync(dir, 1);
}

cc_status cc_fs_commit(const char *tmp, const char *target)
{
    cc_status st = cc_fs_fsync(tmp, 0);
    if (st != CC_OK) {
        unlink(tmp);
        return st;
    }
    if (rename(tmp, target) != 0) {
        int e = errno;
        unlink(tmp);
        return cc_error_set(CC_ERR_IO, "%s: cannot rename %s over it: %s", target, tmp, strerror(e));
    }
    /* the new file is in place; this makes the rename itself durable */
    return fsync_dir_of(target);
}

cc_status cc_fs_commit_all(int n, const char *const tmp[], const char *const target[])
{
    cc_status st = CC_OK;
    int k = 0;
    for (int i = 0; i < n && st == CC_OK; i++)
        st = cc_fs_fsync(tmp[i], 0);
    for (; st == CC_OK && k < n; k++)
        if (rename(tmp[k], target[k]) != 0) {
            st = cc_error_set(CC_ERR_IO, "%s: cannot rename %s over it: %s", target[k], tmp[k], strerror(errno));
            break;
        }
    if (st != CC_OK) {
        for (int j = 0; j < k; j++)
            unlink(target[j]);
        for (int j = k; j < n; j++)
            unlink(tmp[j]);
        return st;
    }
    for (int i = 0; i < n && st == CC_OK; i++) {
        char di[PATH_MAX], dp[PATH_MAX];
        const char *b;
        cc_fs_split_path(target[i], di, sizeof di, &b);
        if (i > 0)
            cc_fs_split_path(target[i - 1], dp, sizeof dp, &b);
        if (i == 0 || strcmp(di, dp) != 0) /* once per directory */
            st = cc_fs_fsync(di, 1);
    }
    return st;
}

void cc_fs_abort(const char *tmp)
{
    if (tmp && tmp[0])
        unlink(tmp);
}

cc_status cc_fs_write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return cc_error_set(CC_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    int bad = n > 0 && fwrite(data, 1, n, f) != n;
    int e = errno;
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (bad) {
        /* the cause first (a full disk is seen before the file is removed) */
        cc_status st = cc_fs_write_error(path, e, "write failed");
        unlink(path);
        return st;
    }
    return CC_OK;
}

cc_status cc_fs_write_atomic(const char *path, const void *data, size_t n)
{
    char tmp[PATH_MAX + 32];
    cc_status st = cc_fs_temp_name(path, NULL, tmp, sizeof tmp);
    if (st == CC_OK && (st = cc_fs_write_file(tmp, data, n)) == CC_OK)
        st = cc_fs_commit(tmp, path);
    return st;
}

void cc_fs_remove_stale_temps(const char *target)
{
    char dir[PATH_MAX];
    const char *base;
    cc_fs_split_path(target, dir, sizeof dir, &base);
    size_t blen = strlen(base), tlen = strlen(TEMP_TAG);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        if (strncmp(n, base, blen) != 0 || strncmp(n + blen, TEMP_TAG, tlen) != 0)
            continue;
        const char *p = n + blen + tlen;
        if (!*p || strspn(p, "0123456789") != strlen(p) || strlen(p) > 9)
            continue;
        long pid = strtol(p, NULL, 10);
        if (pid <= 0 || pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue; /* alive (or not ours to judge) */
        char full[PATH_MAX + 256];
        snprintf(full, sizeof full, "%s/%s", dir, n);
        if (unlink(full) == 0)
            cc_info("%s: removed stale temporary from killed writer %ld", full, pid);
    }
    closedir(d);
}

cc_status cc_fs_mkdir_p(const char *dir, mode_t mode)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s", dir) >= (int)sizeof tmp)
        return cc_error_set(CC_ERR_ARG, "%s: path too long", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, mode) != 0 && errno != EEXIST)
            return cc_error_set(CC_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, mode) != 0 && errno != EEXIST)
        return cc_error_set(CC_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    return CC_OK;
}
