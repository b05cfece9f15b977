/* core/fs: temporary names, atomic replace (single and as a set), stale
 * temporaries of killed writers, mkdir -p. */
#define _POSIX_C_SOURCE 200809L /* fork, kill */
#include <dirent.h>
#include <limits.h>
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

/* The whole content of a file ("" + -1 length when it cannot be read). */
static long slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        buf[0] = '\0';
        return -1;
    }
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return (long)n;
}

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Number of directory entries containing ".tmp-". */
static int count_temps(void)
{
    DIR *d = opendir(g_dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        n += strstr(e->d_name, ".tmp-") != NULL;
    if (d)
        closedir(d);
    return n;
}

static int one_line(void) { return strchr(cc_error_message(), '\n') == NULL && cc_error_message()[0]; }

static void test_temp_name(void)
{
    char buf[256], want[256];
    CHECK_OK(cc_fs_temp_name("/a/b.nc", NULL, buf, sizeof buf));
    snprintf(want, sizeof want, "/a/b.nc.tmp-%ld", (long)getpid());
    CHECK(!strcmp(buf, want));
    CHECK_OK(cc_fs_temp_name("q.png", ".png", buf, sizeof buf));
    snprintf(want, sizeof want, "q.png.tmp-%ld.png", (long)getpid());
    CHECK(!strcmp(buf, want));
    CHECK(cc_fs_temp_name("/a/very/long/name.nc", NULL, buf, 12) == CC_ERR_ARG);
    CHECK(buf[0] == '\0' && one_line() && strstr(cc_error_message(), "/a/very/long/name.nc"));
}

static void test_atomic_replace(void)
{
    char got[256];
    const char *p = path_of("report.json");
    CHECK_OK(cc_fs_write_atomic(p, "old\n", 4));
    CHECK(slurp(p, got, sizeof got) == 4 && !strcmp(got, "old\n"));
    CHECK_OK(cc_fs_write_atomic(p, "new content\n", 12));
    CHECK(slurp(p, got, sizeof got) == 12 && !strcmp(got, "new content\n"));
    CHECK_OK(cc_fs_write_atomic(p, "", 0)); /* empty is a valid content */
    CHECK(slurp(p, got, sizeof got) == 0);
    CHECK(count_temps() == 0);

    /* a writer that fails before its commit leaves the old file as it was */
    CHECK_OK(cc_fs_write_atomic(p, "old\n", 4));
    char tmp[1500];
    CHECK_OK(cc_fs_temp_name(p, NULL, tmp, sizeof tmp));
    CHECK_OK(cc_fs_write_file(tmp, "half of the n", 13));
    CHECK(slurp(p, got, sizeof got) == 4 && !strcmp(got, "old\n"));
    cc_fs_abort(tmp);
    cc_fs_abort(tmp); /* twice: no harm */
    CHECK(!exists(tmp) && slurp(p, got, sizeof got) == 4);

    /* a commit that cannot rename (the target is a non-empty directory):
     * error naming the target, the temporary removed, the directory intact */
    const char *d = path_of("adir");
    CHECK(mkdir(d, 0755) == 0);
    CHECK_OK(cc_fs_write_file(path_of("adir/keep"), "k", 1));
    CHECK_OK(cc_fs_temp_name(d, NULL, tmp, sizeof tmp));
    CHECK_OK(cc_fs_write_file(tmp, "x", 1));
    CHECK(cc_fs_commit(tmp, d) == CC_ERR_IO);
    CHECK(one_line() && strstr(cc_error_message(), d) && strstr(cc_error_message(), "rename"));
    CHECK(!exists(tmp) && exists(path_of("adir/keep")));

    /* missing directory: an error naming the file, nothing created */
    const char *nowhere = path_of("no/such/dir/x.json");
    CHECK(cc_fs_write_atomic(nowhere, "x", 1) == CC_ERR_IO);
    CHECK(one_line() && strstr(cc_error_message(), "no/such/dir/x.json"));
    CHECK(!exists(nowhere) && count_temps() == 0);
    CHECK(cc_fs_fsync(nowhere, 0) == CC_ERR_IO && strstr(cc_error_message(), nowhere));
    CHECK_OK(cc_fs_fsync(g_dir, 1));
}

/* A writer killed between writing its temporary and the commit. */
static void test_killed_writer(void)
{
    char got[256];
    const char *p = path_of("cube.nc");
    CHECK_OK(cc_fs_write_atomic(p, "old", 3));
    int fd[2];
    CHECK(pipe(fd) == 0);
    pid_t child = fork();
    if (child == 0) {
        char tmp[1500];
        close(fd[0]);
        if (cc_fs_temp_name(p, NULL, tmp, sizeof tmp) != CC_OK || cc_fs_write_file(tmp, "partial", 7) != CC_OK)
            _exit(1);
        if (write(fd[1], "w", 1) != 1)
            _exit(1);
        pause(); /* killed here, before its commit */
        _exit(0);
    }
    close(fd[1]);
    char c = 0;
    CHECK(read(fd[0], &c, 1) == 1 && c == 'w');
    close(fd[0]);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    CHECK(slurp(p, got, sizeof got) == 3 && !strcmp(got, "old"));
    char stale[1500], mine[1500], other[1500];
    snprintf(stale, sizeof stale, "%s.tmp-%ld", p, (long)child);
    CHECK(exists(stale));
    /* ours (alive) and another target's temporary stay */
    CHECK_OK(cc_fs_temp_name(p, NULL, mine, sizeof mine));
    CHECK_OK(cc_fs_write_file(mine, "m", 1));
    snprintf(other, sizeof other, "%s.tmp-%ld", path_of("other.nc"), (long)child);
    CHECK_OK(cc_fs_write_file(other, "o", 1));
    cc_fs_remove_stale_temps(p);
    CHECK(!exists(stale) && exists(mine) && exists(other));
    cc_fs_abort(mine);
    cc_fs_abort(other);
    CHECK(count_temps() == 0);
}

static void test_commit_all(void)
{
    char got[256];
    const char *t[3] = {path_of("r.md"), path_of("r.json"), path_of("r.png")};
    char tmp[3][1500];
    const char *tp[3] = {tmp[0], tmp[1], tmp[2]};
    for (int i = 0; i < 3; i++) {
        CHECK_OK(cc_fs_temp_name(t[i], NULL, tmp[i], sizeof tmp[i]));
        CHECK_OK(cc_fs_write_file(tmp[i], t[i], strlen(t[i])));
    }
    CHECK_OK(cc_fs_commit_all(3, tp, t));
    for (int i = 0; i < 3; i++)
        CHECK(slurp(t[i], got, sizeof got) == (long)strlen(t[i]) && !strcmp(got, t[i]));
    CHECK(count_temps() == 0);

    /* the third rename fails: no partial new set is left */
    const char *u[3] = {path_of("s.md"), path_of("s.json"), path_of("sdir")};
    CHECK(mkdir(u[2], 0755) == 0);
    CHECK_OK(cc_fs_write_file(path_of("sdir/keep"), "k", 1));
    for (int i = 0; i < 3; i++) {
        CHECK_OK(cc_fs_temp_name(u[i], NULL, tmp[i], sizeof tmp[i]));
        CHECK_OK(cc_fs_write_file(tmp[i], "new", 3));
    }
    CHECK(cc_fs_commit_all(3, tp, u) == CC_ERR_IO);
    CHECK(one_line() && strstr(cc_error_message(), u[2]));
    CHECK(!exists(u[0]) && !exists(u[1]) && exists(path_of("sdir/keep")));
    CHECK(count_temps() == 0);
}

static void test_mkdir_p(void)
{
    const char *deep = path_of("m/n/o/p");
    CHECK_OK(cc_fs_mkdir_p(deep, 0755));
    struct stat sb;
    CHECK(stat(deep, &sb) == 0 && S_ISDIR(sb.st_mode));
    CHECK_OK(cc_fs_mkdir_p(deep, 0755)); /* exists: fine */
    char slash[1500];
    snprintf(slash, sizeof slash, "%s/", path_of("m/q"));
    CHECK_OK(cc_fs_mkdir_p(slash, 0755));
    CHECK(stat(path_of("m/q"), &sb) == 0 && S_ISDIR(sb.st_mode));
    /* a component that is a file */
    CHECK_OK(cc_fs_write_file(path_of("afile"), "f", 1));
    CHECK(cc_fs_mkdir_p(path_of("afile/sub"), 0755) == CC_ERR_IO);
    CHECK(one_line() && strstr(cc_error_message(), "afile/sub"));
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "%s", cc_test_tmpdir("test_fs"));
    test_temp_name();
    test_atomic_replace();
    test_killed_writer();
    test_commit_all();
    test_mkdir_p();
    TEST_RETURN();
}
