/* cc_full_tile: streaming inference over a full Sentinel-2 L1C tile into a
 * streaming cube, with per-stage times, overlap and peak RSS
 * (bench/full-tile, docs/benchmarks.md "Full-tile streaming"). A benchmark,
 * never a timed test.
 *
 *   cc_full_tile SAFE_DIR [--model A|B] [--out CUBE.nc] [--core N]
 *                [--budget MiB] [--rows N] [--serial]
 *
 * Reads the 13 band JP2s named by SAFE_DIR/MTD_MSIL1C.xml (20/60 m bands
 * upsampled to 10 m per window), runs cc_infer_model_l1c (13 -> 12 bands,
 * untrained weights) and streams the 12 L2A bands into CUBE.nc (default
 * out/bench/full-tile-<model>.nc; an existing file there is replaced, as the
 * streaming writer only creates new cubes). --rows N processes only the
 * first N rows (quick checks). GDAL_NUM_THREADS defaults to ALL_CPUS and
 * GDAL_CACHEMAX to 512 (MB) unless set. */
#define _POSIX_C_SOURCE 200809L

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <gdal.h>

#include "core/error.h"
#include "core/log.h"
#include "io/cube.h"
#include "io/s2/s2_mtd.h"
#include "io/s2/scene.h"
#include "kernels/nn.h"
#include "pipeline/boa/infer.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double peak_rss_gib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / (1024.0 * 1024.0); /* ru_maxrss is in KiB on Linux */
}

static void usage(void)
{
    fprintf(stderr, "usage: cc_full_tile SAFE_DIR [--model A|B] [--out CUBE.nc] [--core N] "
                    "[--budget MiB] [--rows N] [--serial]\n");
}

int main(int argc, char **argv)
{
    cc_status st = CC_OK;
    const char *safe = NULL, *outpath = NULL;
    char which = 'A', mtd[PATH_MAX], outbuf[PATH_MAX], jp2[CC_NBANDS][PATH_MAX * 2];
    const char *paths[CC_NBANDS];
    int rows = 0;
    cc_infer_options o;
    cc_infer_stats stats;
    cc_s2_product_mtd pm;
    cc_nn_model m;
    cc_infer_gdal *g = NULL;
    cc_infer_source src;
    cc_infer_sink sink;
    cc_cube_stream *cube = NULL;
    char *wkt = NULL;
    double gt[6];
    int have_pm = 0, have_model = 0;
    double t0 = now_s();

    memset(&pm, 0, sizeof pm);
    cc_infer_options_init(&o);
    o.progress = 11;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--model") && v && (v[0] == 'A' || v[0] == 'B') && !v[1])
            which = v[0], i++;
        else if (!strcmp(a, "--out") && v)
            outpath = v, i++;
        else if (!strcmp(a, "--core") && v && atoi(v) > 0)
            o.core = atoi(v), i++;
        else if (!strcmp(a, "--budget") && v && atoi(v) > 0)
            o.mem_budget = (size_t)atoi(v) << 20, i++;
        else if (!strcmp(a, "--rows") && v && atoi(v) > 0)
            rows = atoi(v), i++;
        else if (!strcmp(a, "--serial"))
            o.pipelined = 0;
        else if (a[0] != '-' && !safe)
            safe = a;
        else {
            usage();
            return 2;
        }
    }
    if (!safe) {
        usage();
        return 2;
    }
    GDALAllRegister();
    cc_log_route_gdal();
    if (!CPLGetConfigOption("GDAL_NUM_THREADS", NULL))
        CPLSetConfigOption("GDAL_NUM_THREADS", "ALL_CPUS");
    if (!CPLGetConfigOption("GDAL_CACHEMAX", NULL))
        CPLSetConfigOption("GDAL_CACHEMAX", "512");

    snprintf(mtd, sizeof mtd, "%s/MTD_MSIL1C.xml", safe);
    if ((st = cc_s2_mtd_product_read(mtd, &pm)) != CC_OK)
        goto out;
    have_pm = 1;
    for (int b = 0; b < CC_NBANDS; b++) {
        if (!pm.image_file[b]) {
            st = cc_error_set(CC_ERR_MISSING, "%s: no IMAGE_FILE for %s", mtd, cc_band_names[b]);
            goto out;
        }
        snprintf(jp2[b], sizeof jp2[b], "%s/%s.jp2", safe, pm.image_file[b]);
        paths[b] = jp2[b];
    }
    if ((st = cc_infer_model_l1c(which, 1, pm.radio_offset[CC_B02], &m)) != CC_OK)
        goto out;
    have_model = 1;
    if ((st = cc_infer_gdal_open(paths, CC_NBANDS, &g, &src, gt, &wkt)) != CC_OK)
        goto out;
    if (rows > 0 && rows < src.height)
        src.height = rows;

    if (!outpath) {
        snprintf(outbuf, sizeof outbuf, "out/bench/full-tile-%c.nc", which);
        outpath = outbuf;
    }
    unlink(outpath); /* a benchmark output: replaced */
    {
        static const int l2a[CC_NBANDS - 1] = {CC_B01, CC_B02, CC_B03, CC_B04, CC_B05, CC_B06,
                                               CC_B07, CC_B08, CC_B8A, CC_B09, CC_B11, CC_B12};
        cc_cube_layer L[CC_NBANDS - 1];
        char inputs[PATH_MAX + 64], processor[128];
        memset(L, 0, sizeof L);
        for (int l = 0; l < CC_NBANDS - 1; l++) {
            L[l].name = cc_band_names[l2a[l]];
            L[l].long_name = "surface reflectance (untrained benchmark model, SIMULATED input)";
            L[l].units = "1";
            L[l].scale_factor = 1e-4;
            L[l].add_offset = -0.1;
        }
        snprintf(inputs, sizeof inputs, "%s (SIMULATED)", pm.product_id);
        snprintf(processor, sizeof processor, "clearcube bench/full-tile, model %c (untrained)",
                 which);
        cc_cube_write_args a = {.path = outpath, .tile_id = "32UMF", .product = "bench-boa",
                                .wkt = wkt, .width = src.width, .height = src.height,
                                .year = pm.year, .month = pm.month, .day = pm.day,
                                .nlayers = CC_NBANDS - 1, .layers = L, .inputs = inputs,
                                .processor = processor, .parameters = NULL};
        memcpy(a.gt, gt, sizeof gt);
        if ((st = cc_cube_stream_open(&a, &cube)) != CC_OK)
            goto out;
    }
    cc_infer_sink_cube(cube, CC_NBANDS - 1, &sink);

    printf("full-tile streaming: %s (SIMULATED), %dx%d, model %c (%.0f FLOP/px), backend %s/%s, "
           "GDAL_NUM_THREADS=%s, GDAL_CACHEMAX=%s, OpenMP threads %d, %s\n",
           pm.product_id, src.width, src.height, which, cc_nn_model_flops_per_pixel(&m),
           cc_nn_backend_name(cc_nn_backend_cpu()), cc_nn_backend_detail(cc_nn_backend_cpu()),
           CPLGetConfigOption("GDAL_NUM_THREADS", ""), CPLGetConfigOption("GDAL_CACHEMAX", ""),
#ifdef _OPENMP
           omp_get_max_threads(),
#else
           1,
#endif
           o.pipelined ? "pipelined" : "serial");
    fflush(stdout);
    st = cc_infer_run(&m, &src, &sink, &o, &stats);
    if (st != CC_OK)
        goto out;
    double tc = now_s();
    st = cc_cube_stream_commit(cube);
    cube = NULL;
    if (st != CC_OK)
        goto out;
    double total = now_s() - t0, rss = peak_rss_gib();
    printf("windows         %d x %d (core %d, halo %d, ~%.0f MiB planned)\n", stats.nwin_x,
           stats.nwin_y, stats.core, stats.halo, (double)stats.window_bytes / 1048576.0);
    printf("read (decode)   %8.1f s  (reader thread CPU %.1f s, without GDAL's decoder "
           "threads)\n", stats.read_s, stats.read_cpu_s);
    printf("compute         %8.1f s  (%.2f Mpx/s)\n", stats.compute_s,
           (double)src.width * src.height / 1e6 / (stats.compute_s > 0 ? stats.compute_s : 1));
    printf("write           %8.1f s  (writer thread CPU %.1f s: deflate)\n", stats.write_s,
           stats.write_cpu_s);
    printf("pipeline wall   %8.1f s  (overlap %.2f = stage sum / wall)\n", stats.wall_s,
           stats.overlap);
    printf("commit          %8.1f s\n", now_s() - tc);
    {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        double cpu = (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
                     (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        printf("total wall      %8.1f s  (process CPU %.1f s = %.2f of %ld cores; the rest "
               "went to other processes)\n", total, cpu, cpu / (total > 0 ? total : 1), ncpu);
    }
    printf("peak RSS        %8.2f GiB  (limit 4 GiB: %s)\n", rss, rss <= 4.0 ? "within" : "OVER");
    printf("output          %s\n", outpath);
out:
    if (st != CC_OK)
        fprintf(stderr, "cc_full_tile: %s\n", cc_error_message());
    cc_cube_stream_abort(cube);
    cc_infer_gdal_close(g);
    free(wkt);
    if (have_model)
        cc_nn_model_free(&m);
    if (have_pm)
        cc_s2_mtd_product_free(&pm);
    return cc_status_exit_code(st);
}
