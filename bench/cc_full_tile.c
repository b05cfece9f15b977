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

/* The command line: SAFE_DIR and the options; the inference options go to o. */
typedef struct {
    const char *safe, *outpath;
    char which;
    int rows;
    cc_infer_options o;
} full_tile_args;

/* Everything the run opens, closed by full_tile_close. */
typedef struct {
    char mtd[PATH_MAX], outbuf[PATH_MAX], jp2[CC_NBANDS][PATH_MAX * 2];
    const char *paths[CC_NBANDS];
    cc_s2_product_mtd pm;
    cc_nn_model m;
    cc_infer_gdal *g;
    cc_infer_source src;
    cc_infer_sink sink;
    cc_cube_stream *cube;
    char *wkt;
    double gt[6];
    int have_pm, have_model;
} full_tile;

/* 0 when the command line is usable, else 2 (usage printed). */
static int parse_args(int argc, char **argv, full_tile_args *A)
{
    A->safe = A->outpath = NULL;
    A->which = 'A';
    A->rows = 0;
    cc_infer_options_init(&A->o);
    A->o.progress = 11;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--model") && v && (v[0] == 'A' || v[0] == 'B') && !v[1])
            A->which = v[0], i++;
        else if (!strcmp(a, "--out") && v)
            A->outpath = v, i++;
        else if (!strcmp(a, "--core") && v && atoi(v) > 0)
            A->o.core = atoi(v), i++;
        else if (!strcmp(a, "--budget") && v && atoi(v) > 0)
            A->o.mem_budget = (size_t)atoi(v) << 20, i++;
        else if (!strcmp(a, "--rows") && v && atoi(v) > 0)
            A->rows = atoi(v), i++;
        else if (!strcmp(a, "--serial"))
            A->o.pipelined = 0;
        else if (a[0] != '-' && !A->safe)
            A->safe = a;
        else {
            usage();
            return 2;
        }
    }
    if (!A->safe) {
        usage();
        return 2;
    }
    return 0;
}

static void setup_gdal(void)
{
    GDALAllRegister();
    cc_log_route_gdal();
    if (!CPLGetConfigOption("GDAL_NUM_THREADS", NULL))
        CPLSetConfigOption("GDAL_NUM_THREADS", "ALL_CPUS");
    if (!CPLGetConfigOption("GDAL_CACHEMAX", NULL))
        CPLSetConfigOption("GDAL_CACHEMAX", "512");
}

/* The product metadata, the model and the 13 band JP2s as an inference source
 * (cut to --rows). */
static cc_status open_inputs(const full_tile_args *A, full_tile *T)
{
    cc_status st;
    snprintf(T->mtd, sizeof T->mtd, "%s/MTD_MSIL1C.xml", A->safe);
    if ((st = cc_s2_mtd_product_read(T->mtd, &T->pm)) != CC_OK)
        return st;
    T->have_pm = 1;
    for (int b = 0; b < CC_NBANDS; b++) {
        if (!T->pm.image_file[b])
            return cc_error_set(CC_ERR_MISSING, "%s: no IMAGE_FILE for %s", T->mtd,
                                cc_band_names[b]);
        snprintf(T->jp2[b], sizeof T->jp2[b], "%s/%s.jp2", A->safe, T->pm.image_file[b]);
        T->paths[b] = T->jp2[b];
    }
    if ((st = cc_infer_model_l1c(A->which, 1, T->pm.radio_offset[CC_B02], &T->m)) != CC_OK)
        return st;
    T->have_model = 1;
    if ((st = cc_infer_gdal_open(T->paths, CC_NBANDS, &T->g, &T->src, T->gt, &T->wkt)) != CC_OK)
        return st;
    if (A->rows > 0 && A->rows < T->src.height)
        T->src.height = A->rows;
    return CC_OK;
}

/* The streaming output cube of the 12 L2A bands (replacing an existing file)
 * and the sink writing into it; *outpath gets the default when unset. */
static cc_status open_output(const full_tile_args *A, full_tile *T, const char **outpath)
{
    static const int l2a[CC_NBANDS - 1] = {CC_B01, CC_B02, CC_B03, CC_B04, CC_B05, CC_B06,
                                           CC_B07, CC_B08, CC_B8A, CC_B09, CC_B11, CC_B12};
    cc_cube_layer L[CC_NBANDS - 1];
    char inputs[PATH_MAX + 64], processor[128];
    cc_status st;

    if (!*outpath) {
        snprintf(T->outbuf, sizeof T->outbuf, "out/bench/full-tile-%c.nc", A->which);
        *outpath = T->outbuf;
    }
    unlink(*outpath); /* a benchmark output: replaced */
    memset(L, 0, sizeof L);
    for (int l = 0; l < CC_NBANDS - 1; l++) {
        L[l].name = cc_band_names[l2a[l]];
        L[l].long_name = "surface reflectance (untrained benchmark model, SIMULATED input)";
        L[l].units = "1";
        L[l].scale_factor = 1e-4;
        L[l].add_offset = -0.1;
    }
    snprintf(inputs, sizeof inputs, "%s (SIMULATED)", T->pm.product_id);
    snprintf(processor, sizeof processor, "clearcube bench/full-tile, model %c (untrained)",
             A->which);
    cc_cube_write_args a = {.path = *outpath, .tile_id = "32UMF", .product = "bench-boa",
                            .wkt = T->wkt, .width = T->src.width, .height = T->src.height,
                            .year = T->pm.year, .month = T->pm.month, .day = T->pm.day,
                            .nlayers = CC_NBANDS - 1, .layers = L, .inputs = inputs,
                            .processor = processor, .parameters = NULL};
    memcpy(a.gt, T->gt, sizeof T->gt);
    if ((st = cc_cube_stream_open(&a, &T->cube)) != CC_OK)
        return st;
    cc_infer_sink_cube(T->cube, CC_NBANDS - 1, &T->sink);
    return CC_OK;
}

static void print_header(const full_tile_args *A, const full_tile *T)
{
    printf("full-tile streaming: %s (SIMULATED), %dx%d, model %c (%.0f FLOP/px), backend %s/%s, "
           "GDAL_NUM_THREADS=%s, GDAL_CACHEMAX=%s, OpenMP threads %d, %s\n",
           T->pm.product_id, T->src.width, T->src.height, A->which,
           cc_nn_model_flops_per_pixel(&T->m), cc_nn_backend_name(cc_nn_backend_cpu()),
           cc_nn_backend_detail(cc_nn_backend_cpu()), CPLGetConfigOption("GDAL_NUM_THREADS", ""),
           CPLGetConfigOption("GDAL_CACHEMAX", ""),
#ifdef _OPENMP
           omp_get_max_threads(),
#else
           1,
#endif
           A->o.pipelined ? "pipelined" : "serial");
    fflush(stdout);
}

/* The timed part: inference into the cube, then its commit (start time in *tc). */
static cc_status run_and_commit(const full_tile_args *A, full_tile *T, cc_infer_stats *stats,
                                double *tc)
{
    cc_status st = cc_infer_run(&T->m, &T->src, &T->sink, &A->o, stats);
    if (st != CC_OK)
        return st;
    *tc = now_s();
    st = cc_cube_stream_commit(T->cube);
    T->cube = NULL;
    return st;
}

static void print_report(const full_tile *T, const cc_infer_stats *stats, const char *outpath,
                         double t0, double tc)
{
    double total = now_s() - t0, rss = peak_rss_gib();
    printf("windows         %d x %d (core %d, halo %d, ~%.0f MiB planned)\n", stats->nwin_x,
           stats->nwin_y, stats->core, stats->halo, (double)stats->window_bytes / 1048576.0);
    printf("read (decode)   %8.1f s  (reader thread CPU %.1f s, without GDAL's decoder "
           "threads)\n", stats->read_s, stats->read_cpu_s);
    printf("compute         %8.1f s  (%.2f Mpx/s)\n", stats->compute_s,
           (double)T->src.width * T->src.height / 1e6 /
               (stats->compute_s > 0 ? stats->compute_s : 1));
    printf("write           %8.1f s  (writer thread CPU %.1f s: deflate)\n", stats->write_s,
           stats->write_cpu_s);
    printf("pipeline wall   %8.1f s  (overlap %.2f = stage sum / wall)\n", stats->wall_s,
           stats->overlap);
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
}

static void full_tile_close(full_tile *T)
{
    cc_cube_stream_abort(T->cube);
    cc_infer_gdal_close(T->g);
    free(T->wkt);
    if (T->have_model)
        cc_nn_model_free(&T->m);
    if (T->have_pm)
        cc_s2_mtd_product_free(&T->pm);
}

int main(int argc, char **argv)
{
    static full_tile T; /* ~110 KiB of paths: not on the stack */
    full_tile_args A;
    cc_infer_stats stats;
    cc_status st;
    double t0 = now_s(), tc = 0;

    if (parse_args(argc, argv, &A))
        return 2;
    setup_gdal();
    const char *outpath = A.outpath;
    if ((st = open_inputs(&A, &T)) == CC_OK && (st = open_output(&A, &T, &outpath)) == CC_OK) {
        print_header(&A, &T);
        if ((st = run_and_commit(&A, &T, &stats, &tc)) == CC_OK)
            print_report(&T, &stats, outpath, t0, tc);
    }
    if (st != CC_OK)
        fprintf(stderr, "cc_full_tile: %s\n", cc_error_message());
    full_tile_close(&T);
    return cc_status_exit_code(st);
}
