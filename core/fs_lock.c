/* clearcube: exclusive locks on output folders, stale temporaries, the real
 * cause of a failed write (see core/fs.h). */
#define _GNU_SOURCE /* flock, gethostname */
#include "core/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

struct cc_fs_lock {
    int fd;
    char *path;
};

/* The holder line of a lock file ("host pid epoch") into host/pid; 0 if none. */
static int read_holder(int fd, char *host, size_t nhost, long *pid, long long *since)
{
    char buf[512];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char h[256];
    if (sscanf(buf, "%255s %ld %lld", h, pid, since) != 3)
        return 0;
    snprintf(host, nhost, "%s", h);
    return 1;
}

static void my_host(char *host, size_t n)
{
    if (gethostname(host, n) != 0)
        snprintf(host, n, "unknown");
    host[n - 1] = '\0';
}

/* 1 when the holder is a process of this host that no longer exists. */
static int holder_dead(const char *host, long pid)
{
    char me[256];
    my_host(me, sizeof me);
    return strcmp(me, host) == 0 && pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

static cc_status write_holder(int fd, const char *path)
{
    char host[256], line[400];
    my_host(host, sizeof host);
    int n = snprintf(line, sizeof line, "%s %ld %lld\n", host, (long)getpid(), (long long)time(NULL));
    if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)n, 0) != n || fsync(fd) != 0)
        return cc_error_set(CC_ERR_IO, "%s: cannot write the lock holder: %s", path, strerror(errno));
    return CC_OK;
}

/* One attempt. 1: acquired; 0: held by a live process (holder text in busy). */
static int try_lock(int fd, const char *path, char *busy, size_t nbusy, cc_status *st)
{
    char host[256] = "?";
    long pid = 0;
    long long since = 0;
    int have = read_holder(fd, host, sizeof host, &pid, &since);
    *st = CC_OK;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
        if (have && pid != (long)getpid())
            cc_info("%s: taking over the lock of process %ld on %s, which ended without releasing it", path, pid,
                    host);
        *st = write_holder(fd, path);
        return *st == CC_OK;
    }
    if (errno == EWOULDBLOCK || errno == EINTR) {
        if (have)
            snprintf(busy, nbusy, "held by clearcube process %ld on host %s since %lld", pid, host, since);
        else
            snprintf(busy, nbusy, "held by another process (no holder recorded yet)");
        return 0;
    }
    /* flock unsupported here (some NFS/Lustre mounts without -o flock): the
     * holder line alone decides; a live holder on another host cannot be
     * told from a dead one, so it is respected */
    if (errno == ENOLCK || errno == EOPNOTSUPP || errno == EINVAL) {
        if (have && pid != (long)getpid() && !holder_dead(host, pid)) {
            snprintf(busy, nbusy, "recorded as held by process %ld on host %s since %lld (this file system "
                                  "has no flock: remove %s if that process is gone)",
                     pid, host, since, path);
            return 0;
        }
        cc_warn("%s: the file system does not support flock; the lock is advisory (holder line only)", path);
        *st = write_holder(fd, path);
        return *st == CC_OK;
    }
    *st = cc_error_set(CC_ERR_IO, "%s: cannot lock: %s", path, strerror(errno));
    return 0;
}

cc_status cc_fs_lock_acquire(const char *path, const char *what, double wait_s, cc_fs_lock **out)
{
    cc_status st = CC_OK;
    char busy[PATH_MAX + 200] = "";
    *out = NULL;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return cc_error_set(CC_ERR_IO, "%s: cannot open the lock file: %s", path, strerror(errno));
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int announced = 0;
    for (;;) {
        if (try_lock(fd, path, busy, sizeof busy, &st)) {
            /* a holder that released with cc_fs_lock_release_remove unlinked
             * the file we locked: lock the one now at path instead */
            struct stat a, b;
            if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
                break;
            close(fd);
            if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0)
                return cc_error_set(CC_ERR_IO, "%s: cannot open the lock file: %s", path, strerror(errno));
            continue;
        }
        if (st != CC_OK)
            goto fail;
        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double waited = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        if (wait_s == 0 || (wait_s > 0 && waited >= wait_s)) {
            st = cc_error_set(CC_ERR_IO, "%s: %s is in use: lock %s; wait for it to finish (--wait)", path, what,
                              busy);
            goto fail;
        }
        if (!announced++)
            cc_info("%s: %s is in use (lock %s); waiting", path, what, busy);
        struct timespec nap = {0, 200 * 1000 * 1000};
        nanosleep(&nap, NULL);
    }
    cc_fs_lock *l = calloc(1, sizeof *l);
    if (!l || !(l->path = strdup(path))) {
        free(l);
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    l->fd = fd;
    *out = l;
    return CC_OK;
fail:
    close(fd);
    return st;
}

void cc_fs_lock_release_remove(cc_fs_lock *l)
{
    if (l && unlink(l->path) != 0 && errno != ENOENT)
        cc_debug("%s: cannot remove the lock file: %s", l->path, strerror(errno));
    cc_fs_lock_release(l);
}

void cc_fs_lock_release(cc_fs_lock *l)
{
    if (!l)
        return;
    if (ftruncate(l->fd, 0) != 0)
        cc_debug("%s: cannot clear the lock holder: %s", l->path, strerror(errno));
    close(l->fd); /* releases the flock */
    free(l->path);
    free(l);
}

/* 1 if name is "<something>.tmp-<digits>" optionally followed by ".<ext>";
 * *pid gets the digits. */
static int temp_name_pid(const char *name, long *pid)
{
    const char *t = strstr(name, ".tmp-");
    while (t) {
        const char *p = t + 5;
        size_t nd = strspn(p, "0123456789");
        if (nd > 0 && nd <= 9 && (p[nd] == '\0' || (p[nd] == '.' && !strchr(p + nd + 1, '/')))) {
            *pid = strtol(p, NULL, 10);
            return t != name;
        }
        t = strstr(t + 1, ".tmp-");
    }
    return 0;
}

int cc_fs_remove_temps_in(const char *dir, int all_but_mine)
{
    DIR *d = opendir(dir);
    int removed = 0;
    if (!d)
        return 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        long pid = 0;
        if (!temp_name_pid(de->d_name, &pid) || pid == (long)getpid())
            continue;
        if (!all_but_mine && (pid <= 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH))
            continue; /* alive, or not ours to judge */
        char full[PATH_MAX + 256];
        snprintf(full, sizeof full, "%s/%s", dir, de->d_name);
        struct stat sb;
        if (lstat(full, &sb) == 0 && S_ISREG(sb.st_mode) && unlink(full) == 0) {
            cc_info("%s: removed stale temporary of process %ld", full, pid);
            removed++;
        }
    }
    closedir(d);
    return removed;
}

/* Bytes available to this process in dir (root may use the reserved
 * blocks); -1 if unknown. */
static long long space_left(const char *dir, int *rdonly)
{
    struct statvfs vs;
    *rdonly = 0;
    if (statvfs(dir, &vs) != 0)
        return -1;
    *rdonly = (vs.f_flag & ST_RDONLY) != 0;
    unsigned long long blocks = geteuid() == 0 ? vs.f_bfree : vs.f_bavail;
    return (long long)(blocks * (unsigned long long)(vs.f_frsize ? vs.f_frsize : vs.f_bsize));
}

long long cc_fs_space_left(const char *path)
{
    char dir[PATH_MAX];
    const char *base;
    int rdonly = 0;
    cc_fs_split_path(path, dir, sizeof dir, &base);
    return space_left(dir, &rdonly);
}

int cc_fs_write_cause(const char *path, int err)
{
    char dir[PATH_MAX];
    const char *base;
    cc_fs_split_path(path, dir, sizeof dir, &base);
    if (err == ENOSPC || err == EDQUOT)
        return err;
    /* libraries (HDF5 under NetCDF) often report another errno than the
     * kernel's ("Permission denied", "HDF error"): ask the file system. A
     * write that failed with less than CC_FS_NEARLY_FULL left failed for
     * want of space (a chunk, a metadata flush did not fit). */
    int rdonly = 0;
    long long left = space_left(dir, &rdonly);
    if (rdonly)
        return EROFS;
    if (access(dir, W_OK) != 0 && (errno == EACCES || errno == EROFS))
        return errno;
    if (left >= 0 && left < CC_FS_NEARLY_FULL)
        return ENOSPC;
    if (err == EACCES || err == EPERM || err == EROFS)
        return err;
    return err > 0 ? err : 0;
}

cc_status cc_fs_write_explain(const char *path, int err, const char *what)
{
    int cause = cc_fs_write_cause(path, err);
    if (cause == ENOSPC || cause == EDQUOT || cause == EROFS || cause == EACCES || cause == EPERM)
        return cc_fs_write_error(path, cause, what);
    return CC_OK;
}

int cc_fs_discard_open(const char *path)
{
    char want[PATH_MAX], link[64], got[PATH_MAX];
    if (!path || !path[0] || !realpath(path, want))
        return 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    int n = 0, dfd = dirfd(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        int fd = atoi(de->d_name);
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t len = fd == dfd ? -1 : readlink(link, got, sizeof got - 1);
        if (len <= 0)
            continue;
        got[len] = '\0';
        if (strcmp(got, want) != 0)
            continue;
        /* an anonymous in-memory file: reads, writes and ftruncate work
         * (HDF5 truncates at close; /dev/null refuses that), holes cost nothing */
        int mem = memfd_create("clearcube-discarded", MFD_CLOEXEC);
        if (mem >= 0 && dup3(mem, fd, O_CLOEXEC) == fd)
            n++;
        if (mem >= 0)
            close(mem);
    }
    closedir(d);
    if (n)
        cc_debug("%s: discarded (%d descriptor(s) now on /dev/null)", path, n);
    return n;
}

cc_status cc_fs_write_error(const char *path, int err, const char *what)
{
    char dir[PATH_MAX];
    const char *base;
    int rdonly;
    switch ((err = cc_fs_write_cause(path, err))) {
    case ENOSPC: {
        cc_fs_split_path(path, dir, sizeof dir, &base);
        long long left = space_left(dir, &rdonly);
        if (left >= 0)
            return cc_error_set(CC_ERR_IO, "%s: %s: no space left on device (%lld KiB free in %s)", path, what,
                                left >> 10, dir);
        return cc_error_set(CC_ERR_IO, "%s: %s: no space left on device", path, what);
    }
    case EDQUOT: return cc_error_set(CC_ERR_IO, "%s: %s: disk quota exceeded", path, what);
    case EACCES:
    case EPERM: return cc_error_set(CC_ERR_IO, "%s: %s: permission denied", path, what);
    case EROFS: return cc_error_set(CC_ERR_IO, "%s: %s: read-only file system", path, what);
    default: return cc_error_set(CC_ERR_IO, "%s: %s: %s", path, what, err ? strerror(err) : "write failed");
    }
}
