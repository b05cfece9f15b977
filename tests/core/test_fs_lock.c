/* core/fs_lock (issue 17): the exclusive lock on an output (held, waited for,
 * taken over from a killed holder), the removal of stale temporaries in a
 * folder, and the real cause of a failed write. */
#define _GNU_SOURCE /* fork, kill, gethostname */
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "core/fs.h"
#include "testutil.h"

static char g_dir[1024];

static const char *path_of(const char *name)
{
    return tu_join(g_dir, name);
}

/* A child that takes the lock, reports on the pipe, then holds it for
 * hold_ms (or until killed). */
static pid_t holder(const char *lock, int hold_ms)
{
    int p[2];
    CHECK(pipe(p) == 0);
    pid_t c = fork();
    if (c == 0) {
        cc_fs_lock *l = NULL;
        char ok = cc_fs_lock_acquire(lock, "the test folder", 0, &l) == CC_OK ? 'y' : 'n';
        if (write(p[1], &ok, 1) != 1)
            _exit(3);
        usleep((useconds_t)hold_ms * 1000);
        cc_fs_lock_release(l);
        _exit(0);
    }
    char ok = 0;
    CHECK(read(p[0], &ok, 1) == 1 && ok == 'y');
    close(p[0]);
    close(p[1]);
    return c;
}

static void test_lock(void)
{
    const char *lock = path_of("journal.lock");
    char host[256], want[512];
    gethostname(host, sizeof host);
    cc_fs_lock *l = NULL;

    /* held by a live process: refused at once, naming host and pid */
    pid_t c = holder(lock, 60000);
    cc_status st = cc_fs_lock_acquire(lock, "the test folder", 0, &l);
    printf("second taker: %s\n", cc_error_message());
    CHECK(st == CC_ERR_IO && l == NULL);
    snprintf(want, sizeof want, "held by clearcube process %ld on host %s", (long)c, host);
    CHECK(strstr(cc_error_message(), want) != NULL);
    CHECK(strstr(cc_error_message(), "journal.lock: the test folder is in use") != NULL);
    CHECK(strchr(cc_error_message(), '\n') == NULL);
    /* a bounded wait ends with the same refusal */
    CHECK(cc_fs_lock_acquire(lock, "the test folder", 0.3, &l) == CC_ERR_IO && l == NULL);

    /* the holder is killed: its lock is stale and taken over */
    kill(c, SIGKILL);
    waitpid(c, NULL, 0);
    CHECK_OK(cc_fs_lock_acquire(lock, "the test folder", 0, &l));
    FILE *f = fopen(lock, "r");
    long pid = 0;
    char h[256] = "";
    CHECK(f && fscanf(f, "%255s %ld", h, &pid) == 2);
    if (f)
        fclose(f);
    CHECK(pid == (long)getpid() && !strcmp(h, host));
    cc_fs_lock_release(l);
    l = NULL;

    /* --wait: a holder that finishes after 300 ms lets the waiter in */
    c = holder(lock, 300);
    CHECK_OK(cc_fs_lock_acquire(lock, "the test folder", -1, &l));
    waitpid(c, NULL, 0);
    cc_fs_lock_release(l);
}

static int exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

static void touch(const char *p)
{
    FILE *f = fopen(p, "w");
    CHECK(f != NULL);
    if (f)
        fclose(f);
}

static void test_temps(void)
{
    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    waitpid(dead, NULL, 0);
    char a[64], b[64], mine[64], live[64];
    snprintf(a, sizeof a, "T32UMF.nc.tmp-%ld", (long)dead);
    snprintf(b, sizeof b, "run-report.md.tmp-%ld.png", (long)dead);
    snprintf(mine, sizeof mine, "x.nc.tmp-%ld", (long)getpid());
    snprintf(live, sizeof live, "y.nc.tmp-%ld", (long)getppid());
    const char *keep[] = {"T32UMF.nc", "notes.tmp-abc", ".tmp-123", mine, live};
    touch(path_of(a));
    touch(path_of(b));
    for (int i = 0; i < 5; i++)
        touch(path_of(keep[i]));
    CHECK(cc_fs_remove_temps_in(g_dir, 0) == 2);
    CHECK(!exists(path_of(a)) && !exists(path_of(b)));
    for (int i = 0; i < 5; i++)
        CHECK(exists(path_of(keep[i])));
    /* under the caller's lock every other process's temporary is a leftover */
    CHECK(cc_fs_remove_temps_in(g_dir, 1) == 1);
    CHECK(!exists(path_of(live)) && exists(path_of(mine)));
}

static void test_write_error(void)
{
    /* the cause given is kept when the file system has room */
    cc_fs_write_error(path_of("x.nc"), EACCES, "nc_create");
    CHECK(strstr(cc_error_message(), "x.nc: nc_create: permission denied") != NULL);
    CHECK(cc_fs_write_cause(path_of("x.nc"), 0) == 0);
    /* a full file system is named whatever the library said: /dev/full is
     * no directory, but a tmpfs of one page that we fill is */
    char mnt[1500];
    snprintf(mnt, sizeof mnt, "%s", path_of("full"));
    mkdir(mnt, 0755);
    char cmd[3200];
    snprintf(cmd, sizeof cmd, "mount -t tmpfs -o size=64k tmpfs '%s' 2>/dev/null", mnt);
    if (system(cmd) != 0) {
        printf("SKIP part: cannot mount a tmpfs here (not root or no CAP_SYS_ADMIN)\n");
        return;
    }
    snprintf(cmd, sizeof cmd, "dd if=/dev/zero of='%s/fill' bs=4k count=100 2>/dev/null", mnt);
    CHECK(system(cmd) != 0); /* the disk fills up */
    char p[1600];
    snprintf(p, sizeof p, "%s/cube.nc", mnt);
    cc_fs_write_error(p, EACCES, "nc_create"); /* what NetCDF-4 reports on ENOSPC */
    printf("full disk: %s\n", cc_error_message());
    CHECK(strstr(cc_error_message(), "cube.nc: nc_create: no space left on device") != NULL);
    snprintf(cmd, sizeof cmd, "umount '%s'", mnt);
    CHECK(system(cmd) == 0);
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "%s", cc_test_tmpdir("test_fs_lock"));
    test_lock();
    test_temps();
    test_write_error();
    TEST_RETURN();
}
