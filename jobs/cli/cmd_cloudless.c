/* clearcube cloudless CUBE_DIR --tile T --date D -o OUT.nc: the daily
 * cloud-free image of one tile (issue 6; pipeline/cloudless/cloudless_product.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <gdal.h>
#include <ogr_srs_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/date.h"
#include "core/error.h"
#include "core/log.h"
#include "io/cube.h"
#include "jobs/cli/cli.h"
#include "pipeline/cloudless/cloudless_product.h"
#include "pipeline/cloudless/cloudless_sim.h"
#include "pipeline/cloudless/cloudmask.h"
#include "core/alloc.h"
#include "io/grid/mgrs.h"
#include <math.h>
#include <sys/stat.h>

#define CC_CLOUDLESS_DEFAULT_MODEL "models/cloudless.h5" /* core/datapath.h finds it */

void cc_cmd_cloudless_help(void)
{
    printf("Usage: clearcube cloudless CUBE_DIR --tile T --date YYYY-MM-DD -o OUT.nc [options]\n\n"
           "The cloud-free 10-band image (B02 B03 B04 B05 B06 B07 B08 B8A B11 B12) of one tile and day,\n"
           "fused by the Cloudless model (docs/cloudless-model.md) from the +-N-day window of the tile's\n"
           "sensor cubes in CUBE_DIR: <tile>_s2.nc (clear Sentinel-2 L2A), <tile>_landsat.nc (HLS-adjusted\n"
           "Landsat), <tile>_olci.nc (Sentinel-3 OLCI mapped to S2 bands), <tile>_s1.nc (Sentinel-1 VV/VH),\n"
           "whichever exist (`clearcube ingest` writes them; docs/formats/cube.md). Every pixel carries its\n"
           "evidence: days_since_s2 (days since the last clear Sentinel-2 observation) and sensors (bit mask\n"
           "of the sensors that contributed). If OUT.nc exists the day is appended (or replaced).\n\n"
           "Options:\n"
           "  -o, --output OUT.nc    output cube (required)\n"
           "  --tile T               tile id of the sensor cubes (required)\n"
           "  --date YYYY-MM-DD      the day (required)\n"
           "  --model PATH           fusion model (default: the shipped " CC_CLOUDLESS_DEFAULT_MODEL ", found\n"
           "                         beside the executable in ../share/clearcube/ or in $CLEARCUBE_DATA)\n"
           "  --sensors LIST         sensors to use, e.g. s2,landsat,olci,s1 (default: all present)\n"
           "  --quicklook OUT.png    also write a true-colour PNG (B04/B03/B02)\n"
           "  --block N              side of the square windows processed at once (default: from a 256 MiB\n"
           "                         budget, aligned to the cubes' 512 x 512 chunks); no effect on the output\n"
           "  --log-level LEVEL      debug, info, warn, error, quiet\n");
}

static int fail(void)
{
    fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
    return cc_status_exit_code(cc_error_status());
}

/* "s2,landsat" -> bit mask; 0 on a bad name (message printed). */
static unsigned parse_sensors(const char *list)
{
    unsigned m = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int k = -1;
        for (int s = 0; s < CC_SENSOR_COUNT; s++)
            if (!strcmp(t, cc_cloudless_sensor_suffix((cc_sensor)s)))
                k = s;
        if (k < 0) {
            fprintf(stderr, "clearcube: error: --sensors: unknown sensor '%s' (s2, landsat, olci, s1)\n", t);
            return 0;
        }
        m |= 1u << k;
    }
    if (!m)
        fprintf(stderr, "clearcube: error: --sensors: empty list\n");
    return m;
}

int cc_cmd_cloudless(int argc, char **argv)
{
    enum { O_TILE = 2000, O_DATE, O_MODEL, O_SENS, O_QL, O_BLOCK, O_LOG };
    static const struct option longopts[] = {
        {"output", required_argument, 0, 'o'},   {"help", no_argument, 0, 'h'},
        {"tile", required_argument, 0, O_TILE},  {"date", required_argument, 0, O_DATE},
        {"model", required_argument, 0, O_MODEL}, {"sensors", required_argument, 0, O_SENS},
        {"quicklook", required_argument, 0, O_QL}, {"block", required_argument, 0, O_BLOCK},
        {"log-level", required_argument, 0, O_LOG}, {0, 0, 0, 0}};
    cc_cloudless_args a = {.model_path = NULL};
    const char *date = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': a.out_path = optarg; break;
        case 'h': cc_cmd_cloudless_help(); return 0;
        case O_TILE: a.tile = optarg; break;
        case O_DATE: date = optarg; break;
        case O_MODEL: a.model_path = optarg; break;
        case O_QL: a.quicklook = optarg; break;
        case O_SENS:
            if (!(a.sensors = parse_sensors(optarg)))
                return 2;
            break;
        case O_BLOCK: {
            double v;
            if (cc_cli_parse_double("block", optarg, &v))
                return 2;
            if (v < 1 || v > 100000 || v != (int)v) {
                fprintf(stderr, "clearcube: error: --block %s: must be an integer in [1, 100000]\n", optarg);
                return 2;
            }
            a.block = (int)v;
            break;
        }
        case O_LOG: {
            int l = cc_log_parse_level(optarg);
            if (l < 0) {
                fprintf(stderr, "clearcube: error: --log-level %s: expected debug, info, warn, error or quiet\n",
                        optarg);
                return 2;
            }
            cc_log_set_level((cc_log_level)l);
            break;
        }
        default:
            fprintf(stderr, "clearcube: error: cloudless: bad option (see clearcube cloudless --help)\n");
            return 2;
        }
    }
    if (optind != argc - 1 || !a.out_path || !a.tile || !date) {
        fprintf(stderr, "clearcube: error: cloudless: need CUBE_DIR, --tile, --date and -o OUT.nc (see clearcube "
                        "cloudless --help)\n");
        return 2;
    }
    if (!cc_date_parse(date, &a.day)) {
        fprintf(stderr, "clearcube: error: --date %s: expected YYYY-MM-DD\n", date);
        return 2;
    }
    a.cube_dir = argv[optind];
    char shipped[PATH_MAX];
    int drc = cc_cli_data_file(&a.model_path, CC_CLOUDLESS_DEFAULT_MODEL, shipped, sizeof shipped);
    if (drc)
        return drc;
    cc_cloudless_stats st;
    if (cc_cloudless_run(&a, &st) != CC_OK)
        return fail();
    cc_info("wrote %s (%s %s: %dx%d, %.1f %% filled; S2 %d, Landsat %d, OLCI %d, S1 %d dates in the window; "
            "read %.2f s, model %.2f s, write %.2f s)",
            a.out_path, a.tile, date, st.width, st.height, 100 * st.filled_fraction, st.ndates[CC_SENSOR_S2],
            st.ndates[CC_SENSOR_LANDSAT], st.ndates[CC_SENSOR_OLCI], st.ndates[CC_SENSOR_S1], st.seconds_read,
            st.seconds_model, st.seconds_write);
    return 0;
}

/* ---- clearcube cloudless-sim: SIMULATED sensor cubes (demo, tests, benchmarks) ---- */


void cc_cmd_cloudless_sim_help(void)
{
    printf("Usage: clearcube cloudless-sim --out-dir DIR [--eolearn-tif DIR --shared DATASETS | --synthetic]\n"
           "                              [--split train|test] [--start YYYY-MM-DD] [--days N] [--seed S]\n\n"
           "Writes a SIMULATED multi-sensor series as the sensor cubes of one tile (<tile>_s2.nc, _landsat.nc,\n"
           "_olci.nc, _s1.nc: the input of `clearcube cloudless`) and its cloud-free truth (<tile>_truth.nc),\n"
           "and prints the tile id. With real pieces (docs/cloudless-sim.md): the eolearn-testeopatch NDVI\n"
           "trajectories and cloud masks (converted by scripts/npy2tif into --eolearn-tif), real S2 L2A\n"
           "spectra, S1 from the fitted vegetation-backscatter relation. --synthetic needs no data at all\n"
           "(a fresh clone without ../shared): analytic phenology, textbook soil and vegetation spectra and\n"
           "random cloud fields. Every cube says SIMULATED in its `inputs` attribute.\n\n"
           "Options:\n"
           "  --out-dir DIR        folder of the cubes (created)\n"
           "  --eolearn-tif DIR    output of scripts/npy2tif\n"
           "  --shared DATASETS    ../shared/datasets\n"
           "  --synthetic          no real pieces\n"
           "  --split S            train or test (default test: pieces not used in training)\n"
           "  --start YYYY-MM-DD   first day (default: the split's first day; synthetic: 2020-03-01)\n"
           "  --days N             length of the series (default 150)\n"
           "  --seed S             (default 1)\n"
           "  --size N             synthetic image size (default 64)\n");
}

/* A purely synthetic series (no real pieces): per pixel a double-logistic
 * NDVI season with a spatially varying onset, spectra mixed from textbook soil
 * and vegetation end-members, clouds as smooth random fields. */
static uint64_t sm64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}
static double hrand(uint64_t a, uint64_t b) { return (double)(sm64(a * 0x100000001b3ULL ^ sm64(b)) >> 11) * 0x1.0p-53; }

/* smooth random field in [0,1] from a coarse lattice (cell px), bilinear */
static double field(uint64_t seed, int x, int y, int cell)
{
    int cx = x / cell, cy = y / cell;
    double fx = (double)(x % cell) / cell, fy = (double)(y % cell) / cell;
    double v00 = hrand(seed, (uint64_t)(cy * 1000 + cx)), v10 = hrand(seed, (uint64_t)(cy * 1000 + cx + 1));
    double v01 = hrand(seed, (uint64_t)((cy + 1) * 1000 + cx)), v11 = hrand(seed, (uint64_t)((cy + 1) * 1000 + cx + 1));
    return (1 - fy) * ((1 - fx) * v00 + fx * v10) + fy * ((1 - fx) * v01 + fx * v11);
}

static cc_status synth_generate(int size, long day0, int ndays, uint64_t seed, cc_series *s, float **truth)
{
    /* end-members (L2A reflectance, B02..B12): bare soil and green vegetation,
     * typical values (e.g. the USGS spectral library shapes) */
    static const float soil[CC_CL_NBANDS] = {0.08f, 0.11f, 0.14f, 0.16f, 0.18f, 0.19f, 0.20f, 0.21f, 0.28f, 0.24f};
    static const float veg[CC_CL_NBANDS] = {0.03f, 0.07f, 0.04f, 0.10f, 0.28f, 0.36f, 0.40f, 0.41f, 0.20f, 0.10f};
    size_t npix = (size_t)size * (size_t)size;
    cc_status st = cc_series_alloc(s, ndays, day0, npix);
    if (st != CC_OK)
        return st;
    float *t = cc_malloc3((size_t)ndays * npix, CC_CL_NBANDS, sizeof *t);
    if (!t) {
        cc_series_free(s);
        return cc_error_set(CC_ERR_NOMEM, "cloudless-sim: out of memory");
    }
    for (int d = 0; d < ndays; d++) {
        int s2day = d % 5 == 0, lsday = d % 8 == 2, s1day = d % 6 == 1;
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++) {
                size_t p = (size_t)y * (size_t)size + (size_t)x, q = (size_t)d * npix + p;
                double field_id = floor(field(seed, x, y, 16) * 6); /* parcels */
                double onset = 60 + 10 * field_id, len = 50 + 8 * field_id;
                double dd = (double)d;
                double f = 1 / (1 + exp(-(dd - onset) / 6)) - 1 / (1 + exp(-(dd - onset - len) / 8));
                f = 0.1 + 0.8 * f;
                for (int b = 0; b < CC_CL_NBANDS; b++)
                    t[q * CC_CL_NBANDS + (size_t)b] = (float)((1 - f) * soil[b] + f * veg[b]);
                double cloud = field(seed + 17 + (uint64_t)d, x, y, 24);
                int cloudy = cloud > 0.55;
                if (s2day && !cloudy)
                    for (int b = 0; b < CC_CL_NBANDS; b++)
                        s->s2[q * CC_CL_NBANDS + (size_t)b] =
                            t[q * CC_CL_NBANDS + (size_t)b] + (float)(0.004 * (hrand(seed + 1, q * 16 + (uint64_t)b) - 0.5));
                if (lsday && !(field(seed + 999 + (uint64_t)d, x, y, 24) > 0.6))
                    for (int b = 0; b < CC_CL_NBANDS; b++)
                        if (b < 3 || b > 6)
                            s->landsat[q * CC_CL_NBANDS + (size_t)b] = t[q * CC_CL_NBANDS + (size_t)b] + 0.005f;
                if (!cloudy) /* OLCI: daily, TOA-like bias; aggregated to 300 m below */
                    for (int b = 0; b < 8; b++)
                        s->olci[q * CC_CL_NBANDS + (size_t)b] = t[q * CC_CL_NBANDS + (size_t)b] + 0.03f - 0.02f * (float)b / 8;
                if (s1day) {
                    s->s1[q * 2] = (float)(-13.4 + 2.33 * f + 1.5 * (hrand(seed + 2, q) - 0.5));
                    s->s1[q * 2 + 1] = (float)(-20.6 + 4.95 * f + 1.5 * (hrand(seed + 3, q) - 0.5));
                }
            }
    }
    /* OLCI at 300 m: block means of the 30 x 30 px blocks (NaN if any is cloudy) */
    for (int d = 0; d < ndays; d++)
        for (int by = 0; by < size; by += 30)
            for (int bx = 0; bx < size; bx += 30)
                for (int b = 0; b < 8; b++) {
                    double sum = 0;
                    int n = 0, bad = 0;
                    for (int y = by; y < by + 30 && y < size; y++)
                        for (int x = bx; x < bx + 30 && x < size; x++) {
                            float v = s->olci[((size_t)d * npix + (size_t)y * (size_t)size + (size_t)x) * CC_CL_NBANDS + (size_t)b];
                            bad |= !isfinite(v);
                            sum += v, n++;
                        }
                    for (int y = by; y < by + 30 && y < size; y++)
                        for (int x = bx; x < bx + 30 && x < size; x++)
                            s->olci[((size_t)d * npix + (size_t)y * (size_t)size + (size_t)x) * CC_CL_NBANDS + (size_t)b] =
                                bad ? NAN : (float)(sum / n);
                }
    *truth = t;
    return CC_OK;
}

/* Writes one sensor's series as a multi-date sensor cube: the acquisition days
 * (acq[d] != 0; NULL: the days with any observation); on those days the
 * unobserved pixels of optical sensors are written as cloud (bright
 * reflectance, mask class cloud). */
static cc_status write_sensor(const char *dir, const char *tile, cc_sensor sensor, const cc_series *s,
                              const uint8_t *acq, int w, int h, const double gt[6], const char *wkt, const char *label)
{
    size_t npix = s->npix;
    int nb = sensor == CC_SENSOR_S1 ? CC_CL_NS1 : CC_CL_NBANDS;
    const float *src = sensor == CC_SENSOR_S2 ? s->s2 : sensor == CC_SENSOR_LANDSAT ? s->landsat
                                                   : sensor == CC_SENSOR_OLCI        ? s->olci
                                                                                     : s->s1;
    long *dates = malloc((size_t)s->ndays * sizeof *dates);
    int nd = 0;
    for (int d = 0; d < s->ndays && dates; d++) {
        int any = acq && acq[d]; /* an acquisition, even if cloudy everywhere */
        for (size_t k = 0; !any && k < npix * (size_t)nb; k++)
            any = isfinite(src[(size_t)d * npix * (size_t)nb + k]);
        if (any)
            dates[nd++] = s->day0 + d;
    }
    int nl = sensor == CC_SENSOR_S1 ? 2 : CC_CL_NBANDS + 1;
    uint16_t *dn = dates ? cc_malloc3((size_t)nl * (size_t)(nd ? nd : 1), npix, sizeof *dn) : NULL;
    if (!dates || !dn) {
        free(dates);
        free(dn);
        return cc_error_set(CC_ERR_NOMEM, "cloudless-sim: out of memory");
    }
    cc_status st = CC_OK;
    if (!nd)
        goto out;
    for (int k = 0; k < nd; k++) {
        int d = (int)(dates[k] - s->day0);
        for (size_t p = 0; p < npix; p++) {
            const float *v = src + ((size_t)d * npix + p) * (size_t)nb;
            int obs = isfinite(v[0]) || isfinite(v[nb - 1]);
            for (int b = 0; b < nb; b++) {
                size_t o = ((size_t)b * (size_t)nd + (size_t)k) * npix + p;
                if (sensor == CC_SENSOR_S1) {
                    double x = isfinite(v[b]) ? floor((v[b] - CC_CL_DB_OFFSET) / CC_CL_DB_SCALE + 0.5) : 0;
                    dn[o] = (uint16_t)(x < 0 ? 0 : x > 65534 ? 65534 : x);
                } else {
                    float r = obs ? v[b] : (b < 8 ? 0.45f : 0.30f); /* cloud: bright */
                    int has = sensor == CC_SENSOR_LANDSAT ? (b < 3 || b > 6) : sensor == CC_SENSOR_OLCI ? b < 8 : 1;
                    double x = has && isfinite(r) ? floor((r - CC_CL_REFL_OFFSET) / CC_CL_REFL_SCALE + 0.5) : 0;
                    dn[o] = (uint16_t)(x < 1 && has && isfinite(r) ? 1 : x > 65534 ? 65534 : x);
                }
            }
            if (sensor != CC_SENSOR_S1)
                dn[((size_t)CC_CL_NBANDS * (size_t)nd + (size_t)k) * npix + p] =
                    (uint16_t)((obs ? CC_CM_CLEAR : CC_CM_CLOUD) + 1);
        }
    }
    cc_cube_layer layers[CC_CL_NBANDS + 1];
    memset(layers, 0, sizeof layers);
    for (int b = 0; b < nl; b++) {
        int mask = sensor != CC_SENSOR_S1 && b == CC_CL_NBANDS;
        layers[b].name = sensor == CC_SENSOR_S1 ? (b ? "VH" : "VV") : mask ? "cloud_mask" : cc_cl_band_names[b];
        layers[b].units = sensor == CC_SENSOR_S1 ? "dB" : "1";
        layers[b].scale_factor = sensor == CC_SENSOR_S1 ? CC_CL_DB_SCALE : mask ? 1 : CC_CL_REFL_SCALE;
        layers[b].add_offset = sensor == CC_SENSOR_S1 ? CC_CL_DB_OFFSET : mask ? -1 : CC_CL_REFL_OFFSET;
        layers[b].data = dn + (size_t)b * (size_t)nd * npix;
    }
    char path[4096], product[64];
    snprintf(path, sizeof path, "%s/%s_%s.nc", dir, tile, cc_cloudless_sensor_suffix(sensor));
    snprintf(product, sizeof product, "sensor-cube %s (SIMULATED)", cc_cloudless_sensor_suffix(sensor));
    unlink(path);
    cc_cube_write_args a = {.path = path, .tile_id = tile, .product = product, .wkt = wkt, .width = w, .height = h,
                            .nlayers = nl, .layers = layers, .inputs = label, .ndates = nd, .dates = dates,
                            .processor = "clearcube cloudless-sim"};
    if (nd == 1) {
        cc_date_from_days(dates[0], &a.year, &a.month, &a.day);
        a.ndates = 0;
    }
    memcpy(a.gt, gt, sizeof a.gt);
    st = cc_cube_write(&a);
out:
    free(dates);
    free(dn);
    return st;
}

int cc_cmd_cloudless_sim(int argc, char **argv)
{
    enum { O_DIR = 2100, O_EO, O_SH, O_SYN, O_SPLIT, O_START, O_DAYS, O_SEED, O_SIZE };
    static const struct option longopts[] = {
        {"help", no_argument, 0, 'h'}, {"out-dir", required_argument, 0, O_DIR},
        {"eolearn-tif", required_argument, 0, O_EO}, {"shared", required_argument, 0, O_SH},
        {"synthetic", no_argument, 0, O_SYN}, {"split", required_argument, 0, O_SPLIT},
        {"start", required_argument, 0, O_START}, {"days", required_argument, 0, O_DAYS},
        {"seed", required_argument, 0, O_SEED}, {"size", required_argument, 0, O_SIZE}, {0, 0, 0, 0}};
    const char *dir = NULL, *eo = NULL, *shared = NULL, *split = "test", *start = NULL;
    int synthetic = 0, days = 150, size = 64, c;
    double seed = 1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        double v;
        switch (c) {
        case 'h': cc_cmd_cloudless_sim_help(); return 0;
        case O_DIR: dir = optarg; break;
        case O_EO: eo = optarg; break;
        case O_SH: shared = optarg; break;
        case O_SYN: synthetic = 1; break;
        case O_SPLIT: split = optarg; break;
        case O_START: start = optarg; break;
        case O_DAYS:
            if (cc_cli_parse_double("days", optarg, &v) || v < 1 || v > 4000 || v != (int)v) {
                fprintf(stderr, "clearcube: error: --days %s: must be an integer in [1, 4000]\n", optarg);
                return 2;
            }
            days = (int)v;
            break;
        case O_SEED:
            if (cc_cli_parse_double("seed", optarg, &seed) || seed < 0)
                return 2;
            break;
        case O_SIZE:
            if (cc_cli_parse_double("size", optarg, &v) || v < 8 || v > 4096 || v != (int)v) {
                fprintf(stderr, "clearcube: error: --size %s: must be an integer in [8, 4096]\n", optarg);
                return 2;
            }
            size = (int)v;
            break;
        default:
            fprintf(stderr, "clearcube: error: cloudless-sim: bad option (see clearcube cloudless-sim --help)\n");
            return 2;
        }
    }
    if (!dir || optind != argc || (!synthetic && (!eo || !shared))) {
        fprintf(stderr, "clearcube: error: cloudless-sim: need --out-dir and either --eolearn-tif with --shared, or "
                        "--synthetic (see clearcube cloudless-sim --help)\n");
        return 2;
    }
    long day0 = 0;
    if (start && !cc_date_parse(start, &day0)) {
        fprintf(stderr, "clearcube: error: --start %s: expected YYYY-MM-DD\n", start);
        return 2;
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "clearcube: error: %s: cannot create the folder: %s\n", dir, strerror(errno));
        return 1;
    }
    cc_series s;
    memset(&s, 0, sizeof s);
    float *truth = NULL;
    int w = 0, h = 0, rc = 1;
    char tile[8] = "", label[512];
    uint8_t *acq[CC_SENSOR_COUNT] = {0}; /* acquisition days of S2 and Landsat */
    double gt[6];
    char *wkt = NULL;
    if (synthetic) {
        if (!day0)
            day0 = cc_date_to_days(2020, 3, 1);
        if (synth_generate(size, day0, days, (uint64_t)seed, &s, &truth) != CC_OK)
            return fail();
        w = h = size;
        acq[CC_SENSOR_S2] = calloc((size_t)days, 1);
        acq[CC_SENSOR_LANDSAT] = calloc((size_t)days, 1);
        for (int d = 0; d < days && acq[CC_SENSOR_S2] && acq[CC_SENSOR_LANDSAT]; d++)
            acq[CC_SENSOR_S2][d] = d % 5 == 0, acq[CC_SENSOR_LANDSAT][d] = d % 8 == 2;
        snprintf(tile, sizeof tile, "33UUP");
        int epsg;
        double ulx, uly;
        if (cc_mgrs_tile_footprint(tile, &epsg, &ulx, &uly) != CC_OK)
            return fail();
        gt[0] = ulx + 50000, gt[1] = 10, gt[2] = 0, gt[3] = uly - 50000, gt[4] = 0, gt[5] = -10;
        snprintf(label, sizeof label, "SIMULATED (synthetic: analytic phenology, textbook spectra, random clouds; "
                                      "seed %.0f)", seed);
    } else {
        cc_cl_sim_options o;
        cc_cl_sim_info info;
        memset(&info, 0, sizeof info);
        cc_cl_sim_options_init(&o);
        o.datasets = shared;
        o.eolearn_tif = eo;
        o.seed = (uint64_t)seed;
        o.day0 = day0;
        o.ndays = days;
        o.split = split;
        o.info = &info;
        if (cc_cl_sim_generate(&o, &s, &truth, &w, &h) != CC_OK)
            return fail();
        /* the eolearn patch's georeferencing (scripts/npy2tif), on an exact 10 m lattice */
        char ndvi[4096];
        snprintf(ndvi, sizeof ndvi, "%s/NDVI.tif", eo);
        GDALAllRegister();
        GDALDatasetH ds = GDALOpen(ndvi, GA_ReadOnly);
        double g0[6];
        if (!ds || GDALGetGeoTransform(ds, g0) != CE_None) {
            if (ds)
                GDALClose(ds);
            cc_cl_sim_info_free(&info);
            cc_series_free(&s);
            free(truth);
            fprintf(stderr, "clearcube: error: %s: no georeferencing\n", ndvi);
            return 1;
        }
        wkt = strdup(GDALGetProjectionRef(ds));
        GDALClose(ds);
        gt[0] = floor(g0[0] / 10) * 10 + 10.0 * info.x0, gt[1] = 10, gt[2] = 0;
        gt[3] = floor(g0[3] / 10) * 10 - 10.0 * info.y0, gt[4] = 0, gt[5] = -10;
        double lon = 0, lat = 0;
        {
            OGRSpatialReferenceH src = OSRNewSpatialReference(wkt), ll = OSRNewSpatialReference(NULL);
            OSRImportFromEPSG(ll, 4326);
            OSRSetAxisMappingStrategy(ll, OAMS_TRADITIONAL_GIS_ORDER);
            OSRSetAxisMappingStrategy(src, OAMS_TRADITIONAL_GIS_ORDER);
            OGRCoordinateTransformationH ct = OCTNewCoordinateTransformation(src, ll);
            lon = gt[0] + 5.0 * w, lat = gt[3] - 5.0 * h;
            if (ct)
                OCTTransform(ct, 1, &lon, &lat, NULL), OCTDestroyCoordinateTransformation(ct);
            OSRDestroySpatialReference(src);
            OSRDestroySpatialReference(ll);
        }
        if (cc_mgrs_tile_at(lon, lat, tile) != CC_OK) {
            cc_cl_sim_info_free(&info);
            goto out;
        }
        snprintf(label, sizeof label, "%s", info.label);
        acq[CC_SENSOR_S2] = calloc((size_t)s.ndays, 1);
        acq[CC_SENSOR_LANDSAT] = calloc((size_t)s.ndays, 1);
        for (int d = 0; d < s.ndays && acq[CC_SENSOR_S2] && acq[CC_SENSOR_LANDSAT]; d++) {
            acq[CC_SENSOR_S2][d] = info.s2_mask_date && info.s2_mask_date[d] >= 0;
            acq[CC_SENSOR_LANDSAT][d] = info.landsat_mask_date && info.landsat_mask_date[d] >= 0;
        }
        cc_cl_sim_info_free(&info);
    }
    if (!wkt) {
        int epsg;
        double ulx, uly;
        OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
        char *w0 = NULL;
        cc_mgrs_tile_footprint(tile, &epsg, &ulx, &uly);
        OSRImportFromEPSG(srs, epsg);
        OSRExportToWkt(srs, &w0);
        wkt = strdup(w0 ? w0 : "");
        CPLFree(w0);
        OSRDestroySpatialReference(srs);
    }
    {
        /* S2 and Landsat: every acquisition is a date (a fully cloudy one is
         * all cloud); OLCI and S1: the days with an observation */
        cc_status st = CC_OK;
        for (int k = 0; k < CC_SENSOR_COUNT && st == CC_OK; k++)
            st = write_sensor(dir, tile, (cc_sensor)k, &s, acq[k], w, h, gt, wkt, label);
        if (st != CC_OK)
            goto out;
        /* the truth: every day, as a product-like cube */
        cc_series ts = s;
        ts.s2 = truth;
        ts.landsat = ts.olci = ts.s1 = NULL;
        char tl[1024];
        snprintf(tl, sizeof tl, "%s; cloud-free truth", label);
        long *dates = malloc((size_t)s.ndays * sizeof *dates);
        size_t npix = s.npix;
        uint16_t *dn = cc_malloc3((size_t)CC_CL_NBANDS * (size_t)s.ndays, npix, sizeof *dn);
        if (!dates || !dn) {
            free(dates), free(dn);
            goto out;
        }
        for (int d = 0; d < s.ndays; d++) {
            dates[d] = s.day0 + d;
            for (size_t p = 0; p < npix; p++)
                for (int b = 0; b < CC_CL_NBANDS; b++) {
                    double x = floor((truth[((size_t)d * npix + p) * CC_CL_NBANDS + (size_t)b] - CC_CL_REFL_OFFSET) /
                                         CC_CL_REFL_SCALE + 0.5);
                    dn[((size_t)b * (size_t)s.ndays + (size_t)d) * npix + p] = (uint16_t)(x < 1 ? 1 : x > 65534 ? 65534 : x);
                }
        }
        cc_cube_layer layers[CC_CL_NBANDS];
        memset(layers, 0, sizeof layers);
        for (int b = 0; b < CC_CL_NBANDS; b++)
            layers[b] = (cc_cube_layer){.name = cc_cl_band_names[b], .units = "1", .scale_factor = CC_CL_REFL_SCALE,
                                        .add_offset = CC_CL_REFL_OFFSET, .data = dn + (size_t)b * (size_t)s.ndays * npix};
        char path[4096];
        snprintf(path, sizeof path, "%s/%s_truth.nc", dir, tile);
        unlink(path);
        cc_cube_write_args a = {.path = path, .tile_id = tile, .product = "cloudless truth (SIMULATED)", .wkt = wkt,
                                .width = w, .height = h, .nlayers = CC_CL_NBANDS, .layers = layers, .inputs = tl,
                                .ndates = s.ndays, .dates = dates, .processor = "clearcube cloudless-sim"};
        if (s.ndays == 1) {
            cc_date_from_days(dates[0], &a.year, &a.month, &a.day);
            a.ndates = 0;
        }
        memcpy(a.gt, gt, sizeof a.gt);
        st = cc_cube_write(&a);
        free(dates), free(dn);
        if (st != CC_OK)
            goto out;
    }
    char first[CC_DATE_ISO_SIZE], last[CC_DATE_ISO_SIZE];
    cc_date_format(s.day0, first);
    cc_date_format(s.day0 + s.ndays - 1, last);
    printf("%s %s %s %dx%d\n", tile, first, last, w, h);
    cc_info("wrote the SIMULATED sensor cubes of tile %s (%dx%d, %d days) into %s: %s", tile, w, h, s.ndays, dir, label);
    rc = 0;
out:
    if (rc)
        rc = fail();
    cc_series_free(&s);
    free(truth);
    free(wkt);
    for (int k = 0; k < CC_SENSOR_COUNT; k++)
        free(acq[k]);
    return rc;
}
