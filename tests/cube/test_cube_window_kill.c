/* Windowed sensor-cube appends (cc_cube_write_sensor with a window, the
 * streaming appender; io/cube.h) killed at random moments: after every kill
 * the cube opens (cc_cube_recover), its dates are strictly increasing, and the
 * first date's window still holds its values with fill around it. Also: a new
 * cube written through a window, and a windowed date before the last (the copy
 * path) land where they should. Self-contained. */
#define _POSIX_C_SOURCE 200809L
#include <netcdf.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <ogr_srs_api.h>

#include "io/cube.h"
#include "testutil.h"

enum { W = 1500, H = 1200, WW = 300, WH = 200, X0 = 700, Y0 = 450 };

static char *g_wkt;

static cc_status put(const char *dir, long day, float base, int x0, int y0)
{
    static float v[WW * WH * CC_CL_NBANDS];
    for (int p = 0; p < WW * WH; p++)
        for (int b = 0; b < CC_CL_NBANDS; b++)
            v[p * CC_CL_NBANDS + b] = base + 0.01f * (float)b + 1e-6f * (float)p;
    cc_cube_sensor_args a = {.dir = dir, .tile = "T", .sensor = CC_SENSOR_S2, .width = W, .height = H, .wkt = g_wkt,
                             .ndates = 1, .days = &day, .values = v, .inputs = "test", .x0 = x0, .y0 = y0,
                             .win_width = WW, .win_height = WH};
    const double gt[6] = {400000, 10, 0, 5600000, 0, -10};
    memcpy(a.gt, gt, sizeof a.gt);
    return cc_cube_write_sensor(&a);
}

/* B02 of date t: the window holds base's DN, the rest fill; the count of mismatches. */
static long check_date(const char *cube, int t, float base, int x0, int y0)
{
    int nc = -1, v;
    long bad = 0;
    uint16_t *row = malloc(W * sizeof *row);
    if (nc_open(cube, NC_NOWRITE, &nc) != NC_NOERR || nc_inq_varid(nc, "B02", &v) != NC_NOERR || !row) {
        free(row);
        if (nc >= 0)
            nc_close(nc);
        return -1;
    }
    for (int r = 0; r < H; r++) {
        size_t st[3] = {(size_t)t, (size_t)r, 0}, ct[3] = {1, 1, W};
        if (nc_get_vara_ushort(nc, v, st, ct, row) != NC_NOERR) {
            bad = -1;
            break;
        }
        for (int c = 0; c < W; c++) {
            const int in = r >= y0 && r < y0 + WH && c >= x0 && c < x0 + WW;
            const int p = (r - y0) * WW + (c - x0);
            bad += in ? row[c] != cc_cube_refl_dn(base + 1e-6f * (float)p) : row[c] != 0;
        }
    }
    nc_close(nc);
    free(row);
    return bad;
}

int main(void)
{
    const char *dir = cc_test_tmpdir("test_cube_window_kill");
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
    OSRImportFromEPSG(srs, 32631);
    OSRExportToWkt(srs, &g_wkt);
    char cube[2200];
    cc_cube_sensor_path(cube, sizeof cube, dir, "T", CC_SENSOR_S2);

    /* a new cube through a window, then a date before it (copy path) at another place */
    CHECK_OK(put(dir, 100, 0.2f, X0, Y0));
    CHECK_OK(put(dir, 90, 0.3f, 0, 0));
    CHECK(check_date(cube, 0, 0.3f, 0, 0) == 0);
    CHECK(check_date(cube, 1, 0.2f, X0, Y0) == 0);

    /* appends after the last, killed at random moments */
    srand(12345);
    long next = 101;
    int kills = 0, done = 0;
    for (int i = 0; i < 30; i++) {
        const long first = next;
        pid_t pid = fork();
        if (pid == 0) {
            for (long d = first; d < first + 4; d++)
                if (put(dir, d, 0.4f, X0 - 50, Y0 + 20) != CC_OK)
                    _exit(1);
            _exit(0);
        }
        struct timespec ts = {0, (long)(rand() % 400) * 1000000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status = 0;
        waitpid(pid, &status, 0);
        kills += WIFSIGNALED(status);
        done += WIFEXITED(status) && WEXITSTATUS(status) == 0;
        CHECK(!WIFEXITED(status) || WEXITSTATUS(status) == 0);
        CHECK_OK(cc_cube_recover(cube));
        int n = 0;
        double *days = NULL;
        CHECK_OK(cc_cube_dates(cube, &n, &days));
        for (int k = 1; k < n; k++)
            CHECK(days[k] > days[k - 1]);
        CHECK(n >= 2 && days[0] == 90 && days[1] == 100);
        next = n ? (long)days[n - 1] + 1 : next;
        free(days);
        CHECK(check_date(cube, 1, 0.2f, X0, Y0) == 0);
    }
    int n = 0;
    double *days = NULL;
    CHECK_OK(cc_cube_dates(cube, &n, &days));
    if (n > 2)
        CHECK(check_date(cube, n - 1, 0.4f, X0 - 50, Y0 + 20) == 0);
    free(days);
    printf("%s   30 windowed appends of 4 dates, %d killed, %d finished: the cube opens with %d dates, "
           "strictly increasing, the first window intact\n", cc_test_failures ? "FAIL" : "ok", kills, done, n);
    CPLFree(g_wkt);
    OSRDestroySpatialReference(srs);
    return cc_test_failures ? 1 : 0;
}
