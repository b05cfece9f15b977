/* In-place appends (io/cube_append.c, io/cube_undo.c; docs/formats/cube.md
 * "Appending in place"):
 *   1. 50 appends, each SIGKILLed at a random point of cc_cube_write (a child
 *      process signals the start of the write; the kill comes 0..1.1 x the
 *      measured duration of an append later). After each kill the cube is
 *      recovered (cc_cube_recover) and must hold every earlier date
 *      byte-identical (checksums of every slice) and either exactly the old
 *      dates (then the whole file is byte-identical to the one before the
 *      append) or the old dates plus the new one; the killed append is then
 *      redone so that the cube grows to 51 dates. How many killed cubes
 *      opened even before recovery is printed (not asserted).
 *   2. A cube grown in place equals, slice by slice, the same dates written
 *      by the copy-on-write path (CLEARCUBE_CUBE_APPEND=copy), and an
 *      append of a date before the last still works (copy path).
 *   test_cube_append [size] [kills] */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cube_test_common.h"
#include "testutil.h"

#define NL 3
#define MAXD 64

static int W = 600;
static char path[4200];
static char *wkt;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int seed_of(int k) { return 100 + k; }
static long day_of(int k) { return cc_date_to_days(2023, 1, 1) + k; }

/* Writes date k (pattern seed_of(k)) to the cube. */
static cc_status write_date(const char *p, int k)
{
    uint16_t *data[NL] = {0};
    cc_cube_layer L[NL];
    cc_status st = CC_ERR_NOMEM;
    for (int i = 0; i < NL; i++)
        if (!(data[i] = ct_make_layer(i, seed_of(k), W, W)))
            goto out;
    ct_layers(L, NL, data);
    int y, m, d;
    cc_date_from_days(day_of(k), &y, &m, &d);
    cc_cube_write_args a = {.path = p, .tile_id = "32TMR", .product = "test", .wkt = wkt,
                            .gt = {CT_ORIGIN_X, CT_RES, 0, CT_ORIGIN_Y, 0, -CT_RES},
                            .width = W, .height = W, .year = y, .month = m, .day = d,
                            .nlayers = NL, .layers = L, .inputs = "synthetic test pattern",
                            .processor = "test_cube_append"};
    st = cc_cube_write(&a);
out:
    for (int i = 0; i < NL; i++)
        free(data[i]);
    return st;
}

/* Forks a child that appends date k; returns its pid once it is about to call
 * cc_cube_write (the data are made before). */
static pid_t spawn_append(int k)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t p = fork();
    if (p == 0) {
        close(fds[0]);
        uint16_t *data[NL];
        cc_cube_layer L[NL];
        for (int i = 0; i < NL; i++)
            data[i] = ct_make_layer(i, seed_of(k), W, W);
        ct_layers(L, NL, data);
        int y, m, d;
        cc_date_from_days(day_of(k), &y, &m, &d);
        cc_cube_write_args a = {.path = path, .tile_id = "32TMR", .product = "test", .wkt = wkt,
                                .gt = {CT_ORIGIN_X, CT_RES, 0, CT_ORIGIN_Y, 0, -CT_RES},
                                .width = W, .height = W, .year = y, .month = m, .day = d,
                                .nlayers = NL, .layers = L, .inputs = "synthetic test pattern",
                                .processor = "test_cube_append"};
        char c = 1;
        if (write(fds[1], &c, 1) != 1)
            _exit(3);
        _exit(cc_cube_write(&a) == CC_OK ? 0 : 1);
    }
    close(fds[1]);
    char c;
    ssize_t r = p > 0 ? read(fds[0], &c, 1) : -1;
    close(fds[0]);
    return r == 1 ? p : -1;
}

/* FNV of the whole file; 0 if unreadable. */
static uint64_t file_sum(const char *p)
{
    FILE *f = fopen(p, "rb");
    if (!f)
        return 0;
    uint64_t h = 1469598103934665603ull;
    unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        h = ct_fnv(buf, n, h);
    fclose(f);
    return h;
}

static uint64_t expect[MAXD][NL];

/* Number of dates if the cube holds exactly dates 0..n-1 with their data, else -1. */
static int cube_dates_ok(const char *p)
{
    static uint64_t sums[MAXD][CT_MAX_LAYERS];
    static double days[MAXD];
    int nd = 0;
    if (ct_cube_sums(p, NL, MAXD, &nd, days, sums) != 0)
        return -1;
    for (int t = 0; t < nd; t++) {
        if (days[t] != (double)day_of(t))
            return -1;
        for (int l = 0; l < NL; l++)
            if (sums[t][l] != expect[t][l])
                return -1;
    }
    return nd;
}

/* Lines of the cube's global history attribute; -1 if unreadable. */
static int history_lines(const char *p)
{
    int nc, n = -1;
    if (nc_open(p, NC_NOWRITE, &nc) != NC_NOERR)
        return -1;
    char *h = cc_cube_text_att(nc, NC_GLOBAL, "history");
    if (h) {
        n = 1;
        for (const char *c = h; *c; c++)
            n += *c == '\n';
    }
    free(h);
    nc_close(nc);
    return n;
}

/* A cube the streaming appender creates (empty, then its first dates) has one
 * history line per write, as one cc_cube_write makes: the creation line of
 * the empty cube is that first write's, not repeated. */
static void test_appender_history(const char *dir)
{
    char p[4300];
    snprintf(p, sizeof p, "%s/history.nc", dir);
    unlink(p);
    const int w = 32;
    uint16_t *data = calloc((size_t)NL * w * w, sizeof *data);
    CHECK(data != NULL);
    if (!data)
        return;
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < (size_t)NL * w * w; i++)
            data[i] = (uint16_t)(1 + (i + (size_t)k) % 9000);
        cc_cube_layer L[NL];
        uint16_t *planes[NL] = {data, data + w * w, data + 2 * w * w};
        ct_layers(L, NL, planes);
        int y, m, d;
        cc_date_from_days(day_of(k), &y, &m, &d);
        cc_cube_write_args a = {.path = p, .tile_id = "32TMR", .product = "test", .wkt = wkt,
                                .gt = {CT_ORIGIN_X, CT_RES, 0, CT_ORIGIN_Y, 0, -CT_RES},
                                .width = w, .height = w, .year = y, .month = m, .day = d,
                                .nlayers = NL, .layers = L, .inputs = "synthetic test pattern",
                                .processor = "test_cube_append (appender)"};
        cc_cube_appender *ap = NULL;
        CHECK_OK(cc_cube_append_open(&a, &ap));
        if (!ap)
            break;
        CHECK_OK(cc_cube_append_window(ap, 0, 0, 0, w, w, data));
        CHECK_OK(cc_cube_append_commit(ap));
        int n = history_lines(p);
        printf("appender: %d date(s), %d history line(s)\n", k + 1, n);
        CHECK(n == k + 1);
    }
    free(data);
}

int main(int argc, char **argv)
{
    W = argc > 1 ? atoi(argv[1]) : 600;
    int kills = argc > 2 ? atoi(argv[2]) : 50;
    if (W < 16 || kills < 1 || kills + 2 > MAXD) {
        fprintf(stderr, "usage: test_cube_append [size >= 16] [kills 1..%d]\n", MAXD - 2);
        return 2;
    }
    const char *dir = cc_test_tmpdir("cube_append");
    snprintf(path, sizeof path, "%s/append.nc", dir);
    char undo[4300], copy[4200];
    snprintf(undo, sizeof undo, "%s.undo", path);
    snprintf(copy, sizeof copy, "%s/copy.nc", dir);
    unlink(path);
    unlink(undo);
    unlink(copy);
    wkt = ct_epsg_wkt(32632);
    CHECK(wkt != NULL);
    for (int k = 0; k < MAXD; k++)
        for (int l = 0; l < NL; l++)
            expect[k][l] = ct_pattern_sum(l, seed_of(k), W, W);

    test_appender_history(dir);

    /* two dates, timing the second append (in a child, as the killed ones) */
    CHECK_OK(write_date(path, 0));
    double t0 = now_s();
    pid_t p = spawn_append(1);
    int ws = 0;
    CHECK(p > 0 && waitpid(p, &ws, 0) == p && WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    double tw = now_s() - t0;
    CHECK(cube_dates_ok(path) == 2);
    printf("append of a %dx%dx%d date in place: %.3f s\n", W, W, NL, tw);

    /* 50 killed appends */
    srand48(14);
    int rolled = 0, kept = 0, raw_ok = 0, had_undo = 0;
    for (int i = 0; i < kills; i++) {
        int n = 2 + i; /* dates in the cube; this append adds date n */
        uint64_t before = file_sum(path);
        double delay = drand48() * 1.1 * tw;
        p = spawn_append(n);
        CHECK(p > 0);
        struct timespec ts = {(time_t)delay, (long)((delay - (time_t)delay) * 1e9)};
        nanosleep(&ts, NULL);
        kill(p, SIGKILL);
        CHECK(waitpid(p, &ws, 0) == p);
        int undo_left = access(undo, F_OK) == 0;
        had_undo += undo_left;
        int raw = cube_dates_ok(path); /* as another tool would see it, before recovery */
        raw_ok += raw == n || raw == n + 1;
        CHECK_OK(cc_cube_recover(path));
        CHECK(access(undo, F_OK) != 0);
        int nd = cube_dates_ok(path);
        printf("kill %2d at %.3f s (%s): undo log %s; before recovery %s; after: %d dates%s\n", i + 1, delay,
               WIFSIGNALED(ws) ? "killed" : "had finished", undo_left ? "left" : "absent",
               raw == n ? "old state" : raw == n + 1 ? "new state" : "NOT READABLE", nd,
               nd == n ? " (rolled back)" : nd == n + 1 ? " (committed)" : " BROKEN");
        CHECK(nd == n || nd == n + 1);
        if (nd == n) {
            rolled++;
            CHECK(file_sum(path) == before); /* the exact old bytes */
            CHECK_OK(write_date(path, n));   /* redo it */
            CHECK(cube_dates_ok(path) == n + 1);
        } else
            kept++;
        CHECK(ct_count_temps(dir) == 0);
    }
    printf("%d kills: %d rolled back, %d after the commit; %d left an undo log; %d cubes opened with their "
           "dates intact even before recovery\n",
           kills, rolled, kept, had_undo, raw_ok);
    CHECK(rolled >= 1); /* else the test exercised nothing */

    /* the same dates through the copy-on-write path: the same slices */
    setenv("CLEARCUBE_CUBE_APPEND", "copy", 1);
    int total = kills + 2;
    for (int k = 0; k < total; k += 7)
        CHECK_OK(write_date(copy, k));
    unsetenv("CLEARCUBE_CUBE_APPEND");
    /* dates before the last go through the copy path, after it in place */
    for (int k = 0; k < total; k++)
        if (k % 7)
            CHECK_OK(write_date(copy, k));
    CHECK(cube_dates_ok(copy) == total);
    CHECK(cube_dates_ok(path) == total);

    /* a replaced last date (copy path) keeps the cube valid */
    CHECK_OK(write_date(path, total - 1));
    CHECK(cube_dates_ok(path) == total);
    CHECK(access(undo, F_OK) != 0);
    CPLFree(wkt);
    unlink(path);
    unlink(copy);
    TEST_RETURN();
}
