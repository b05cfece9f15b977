/* Crash safety: a cube_writer appending a date to a valid cube is SIGKILLed
 * at several points of its write. After each kill the cube must open with
 * exactly the previous dates and data (or, if the kill came after the
 * rename, exactly the new state), and the next write must succeed and remove
 * the killed writer's temporary. Kill delays are fractions of a measured
 * write; nothing asserts on time.
 *   test_cube_kill <cube_writer> [size] */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cube_test_common.h"
#include "testutil.h"

#define NL 3

static const char *writer;
static char path[4200];
static char sz[32];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static pid_t spawn(const char *date, const char *seed)
{
    fflush(stdout);
    pid_t p = fork();
    if (p == 0) {
        execl(writer, writer, path, sz, sz, "3", date, seed, (char *)NULL);
        _exit(127);
    }
    return p;
}

/* Runs the writer to completion; returns its exit status. */
static int run_writer(const char *date, const char *seed)
{
    int ws = 0;
    pid_t p = spawn(date, seed);
    if (p < 0 || waitpid(p, &ws, 0) != p)
        return -1;
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
}

/* 1: the cube is exactly {D1:seed 1}; 2: exactly {D1:seed 1, D3:seed 3};
 * 0: anything else (broken). */
static int cube_state(const uint64_t *s1, const uint64_t *s3, double d1, double d3)
{
    int nd = 0;
    double days[8];
    uint64_t sums[8][CT_MAX_LAYERS];
    if (ct_cube_sums(path, NL, 8, &nd, days, sums) != 0)
        return 0;
    int ok1 = nd >= 1 && days[0] == d1;
    for (int l = 0; ok1 && l < NL; l++)
        ok1 = sums[0][l] == s1[l];
    if (ok1 && nd == 1)
        return 1;
    int ok3 = ok1 && nd == 2 && days[1] == d3;
    for (int l = 0; ok3 && l < NL; l++)
        ok3 = sums[1][l] == s3[l];
    return ok3 ? 2 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_cube_kill <cube_writer> [size]\n");
        return 2;
    }
    writer = argv[1];
    int n = argc > 2 ? atoi(argv[2]) : 4000;
    snprintf(sz, sizeof sz, "%d", n);
    const char *dir0 = cc_test_tmpdir("cube_kill");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", dir0);
    snprintf(path, sizeof path, "%s/kill.nc", dir);

    uint64_t s1[NL], s3[NL];
    for (int l = 0; l < NL; l++) {
        s1[l] = ct_pattern_sum(l, 1, n, n);
        s3[l] = ct_pattern_sum(l, 3, n, n);
    }
    double d1 = (double)cc_date_to_days(2023, 7, 1);
    double d3 = (double)cc_date_to_days(2023, 7, 21);

    /* baseline, and how long a full append takes */
    CHECK(run_writer("2023-07-01", "1") == 0);
    CHECK(cube_state(s1, s3, d1, d3) == 1);
    double t0 = now_s();
    CHECK(run_writer("2023-07-21", "3") == 0);
    double tw = now_s() - t0;
    CHECK(cube_state(s1, s3, d1, d3) == 2);
    printf("full %dx%dx%d append: %.2f s\n", n, n, NL, tw);
    unlink(path);
    CHECK(run_writer("2023-07-01", "1") == 0);

    const double frac[] = {0.02, 0.15, 0.35, 0.55, 0.75, 0.9};
    int mid = 0;
    for (size_t k = 0; k < sizeof frac / sizeof *frac; k++) {
        char tmp[4300], undo[4300];
        pid_t p = spawn("2023-07-21", "3");
        CHECK(p > 0);
        double delay = frac[k] * tw;
        struct timespec ts = {(time_t)delay, (long)((delay - (time_t)delay) * 1e9)};
        nanosleep(&ts, NULL);
        kill(p, SIGKILL);
        int ws = 0;
        CHECK(waitpid(p, &ws, 0) == p);
        snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)p);
        snprintf(undo, sizeof undo, "%s.undo", path);
        int had_tmp = access(tmp, F_OK) == 0 || access(undo, F_OK) == 0;
        /* an in-place append (io/cube_append.c) killed before its commit is rolled back */
        CHECK_OK(cc_cube_recover(path));
        CHECK(access(undo, F_OK) != 0);
        int state = cube_state(s1, s3, d1, d3);
        printf("kill at %.2f s (%s): temporary or undo log %s, cube %s\n", delay,
               WIFSIGNALED(ws) ? "killed" : "had finished", had_tmp ? "left" : "absent",
               state == 1 ? "= previous state" : state == 2 ? "= new state" : "BROKEN");
        CHECK(state == 1 || state == 2);
        if (state == 2)
            CHECK(access(tmp, F_OK) != 0); /* renamed: nothing left over */
        if (had_tmp && state == 1)
            mid++;
        /* the next write succeeds and cleans up the killed writer's temporary */
        CHECK(run_writer("2023-07-01", "1") == 0);
        CHECK(access(tmp, F_OK) != 0);
        CHECK(ct_count_temps(dir) == 0);
        CHECK(cube_state(s1, s3, d1, d3) == state);
        if (state == 2) { /* back to the one-date cube for the next round */
            unlink(path);
            CHECK(run_writer("2023-07-01", "1") == 0);
        }
    }
    printf("%d of %zu kills landed mid-write\n", mid, sizeof frac / sizeof *frac);
    CHECK(mid >= 1); /* else the test exercised nothing */
    unlink(path);
    TEST_RETURN();
}
