/* Job files (jobs/run/jobfile.c): YAML and JSON load identically; every bad input
 * is an error naming the key path; the template (from the parser's table)
 * parses back; docs/jobs.md names every key of the table. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>

#include "jobs/run/job.h"
#include "testutil.h"

static const char *dir;

static const char *write_file(const char *name, const char *text)
{
    static char path[4096];
    snprintf(path, sizeof path, "%.4000s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static const char *base_yaml = "product: reference\n"
                               "area:\n  tiles: [T32UMF, 33uuu]\n"
                               "dates: {start: 2017-02-01, end: 2017-03-31}\n"
                               "catalogues: [cat, /abs/cat2]\n"
                               "output: out\n"
                               "model: m.h5\n"
                               "limits:\n  item_timeout_s: 600\n  retries: 3\n"
                               "options:\n  aot: 0.2\n";

/* Loads `text` (with `from` replaced by `to`) and expects an error whose
 * message contains `want`. */
static void expect_error(const char *name, const char *from, const char *to, const char *want)
{
    char text[4096];
    const char *p = strstr(base_yaml, from);
    CHECK(p != NULL);
    if (!p)
        return;
    snprintf(text, sizeof text, "%.*s%s%s", (int)(p - base_yaml), base_yaml, to, p + strlen(from));
    cc_job job;
    cc_status st = cc_job_load(write_file(name, text), &job);
    printf("%-22s -> %s\n", name, st == CC_OK ? "(loaded)" : cc_error_message());
    CHECK(st == CC_ERR_ARG);
    if (st == CC_OK)
        cc_job_free(&job);
    else
        CHECK(strstr(cc_error_message(), want) != NULL);
}

static void check_base(const cc_job *j)
{
    CHECK(!strcmp(j->product, "reference"));
    CHECK(j->area_kind == CC_AREA_TILES && j->ntiles == 2);
    CHECK(j->ntiles == 2 && !strcmp(j->tiles[0], "32UMF") && !strcmp(j->tiles[1], "33UUU"));
    CHECK(!strcmp(j->start_date, "2017-02-01") && !strcmp(j->end_date, "2017-03-31"));
    CHECK(j->ncatalogues == 2);
    char want[4200];
    snprintf(want, sizeof want, "%s/cat", dir);
    CHECK(j->ncatalogues == 2 && !strcmp(j->catalogues[0], want) && !strcmp(j->catalogues[1], "/abs/cat2"));
    snprintf(want, sizeof want, "%s/out", dir);
    CHECK(!strcmp(j->output_dir, want));
    CHECK(j->model_path && strstr(j->model_path, "/m.h5"));
    CHECK(j->item_timeout_s == 600 && j->max_retries == 3);
    CHECK(j->aot == 0.2 && isnan(j->water_vapour) && isnan(j->elevation));
}

int main(void)
{
    dir = cc_test_tmpdir("jobs_jobfile");
    cc_job y, j;

    /* YAML and JSON variants load identically */
    CHECK_OK(cc_job_load(write_file("job.yaml", base_yaml), &y));
    check_base(&y);
    CHECK_OK(cc_job_load(write_file("job.json",
                                    "{\"product\": \"reference\", \"area\": {\"tiles\": [\"T32UMF\", \"33uuu\"]},\n"
                                    " \"dates\": {\"start\": \"2017-02-01\", \"end\": \"2017-03-31\"},\n"
                                    " \"catalogues\": [\"cat\", \"/abs/cat2\"], \"output\": \"out\", \"model\": \"m.h5\",\n"
                                    " \"limits\": {\"item_timeout_s\": 600, \"retries\": 3}, \"options\": {\"aot\": 0.2}}\n"),
                         &j));
    check_base(&j);
    cc_job_free(&y);
    cc_job_free(&j);

    /* errors name the key path */
    expect_error("unknown key", "  retries: 3", "  retries: 3\n  retris: 1", "limits.retris: unknown key");
    expect_error("unknown section", "output: out", "output: out\nlimitz: {}", "limitz: unknown key");
    expect_error("wrong type", "retries: 3", "retries: \"3\"", "limits.retries: must be an integer");
    expect_error("not an integer", "retries: 3", "retries: 2.5", "limits.retries: must be an integer");
    expect_error("out of range", "retries: 3", "retries: -1", "limits.retries: must be an integer >= 0");
    expect_error("number range", "aot: 0.2", "aot: 7", "options.aot: must be a number in 0..3");
    expect_error("bad date", "start: 2017-02-01", "start: 2017-02-30", "dates.start: must be a date");
    expect_error("end before start", "end: 2017-03-31", "end: 2017-01-31", "dates.end: 2017-01-31 is before");
    expect_error("missing required", "output: out\n", "", "output: required key missing");
    expect_error("missing dates", "dates: {start: 2017-02-01, end: 2017-03-31}\n", "", "dates.start: required");
    expect_error("two areas", "  tiles: [T32UMF, 33uuu]", "  tiles: [T32UMF]\n  bbox: [1, 2, 3, 4]", "area.");
    expect_error("no area", "area:\n  tiles: [T32UMF, 33uuu]\n", "", "area: one of");
    expect_error("bad tile", "33uuu", "33ZZZ", "area.tiles[1]");
    expect_error("bad choice", "product: reference", "product: magic", "product: must be one of");
    expect_error("bbox beyond the pole", "  tiles: [T32UMF, 33uuu]", "  bbox: [170, 0, -170, 91]", "area.bbox: latitudes");
    expect_error("bbox shape", "  tiles: [T32UMF, 33uuu]", "  bbox: [1, 2, 3]", "area.bbox: must be a list of 4");
    expect_error("list expected", "catalogues: [cat, /abs/cat2]", "catalogues: cat", "catalogues: must be a list");
    expect_error("duplicate key", "output: out\n", "output: out\noutput: again\n", "output: duplicate key");
    {
        cc_status st = cc_job_load(write_file("bad.json", "{\"output\": \"o\", \"limits\": {\"retries\": \"3\"}}"), &j);
        printf("%-22s -> %s\n", "JSON wrong type", cc_error_message());
        CHECK(st == CC_ERR_ARG && strstr(cc_error_message(), "limits.retries: must be an integer"));
        st = cc_job_load(write_file("syntax.json", "{\"output\": \"o\",, }"), &j);
        CHECK(st == CC_ERR_FORMAT && strstr(cc_error_message(), "syntax.json"));
        st = cc_job_load(write_file("syntax.yaml", "output: [a, b\n"), &j);
        CHECK(st == CC_ERR_FORMAT && strstr(cc_error_message(), "invalid YAML"));
    }

    /* the template parses back, with the table's defaults */
    {
        char path[4096];
        snprintf(path, sizeof path, "%.4000s/template.yaml", dir);
        FILE *f = fopen(path, "w");
        cc_job_print_template(f);
        fclose(f);
        CHECK_OK(cc_job_load(path, &j));
        CHECK(j.product && !strcmp(j.product, "reference"));
        CHECK(j.area_kind == CC_AREA_BBOX && j.bbox[2] > j.bbox[0]);
        CHECK(j.max_retries == 2 && j.item_timeout_s == 3600);
        CHECK(j.ncatalogues == 1 && j.output_dir && !j.model_path && isnan(j.aot));
        cc_job_free(&j);
        /* every key of the table is in the template and in docs/jobs.md */
        static char tmpl[65536], docs[262144];
        f = fopen(path, "r");
        tmpl[fread(tmpl, 1, sizeof tmpl - 1, f)] = 0;
        fclose(f);
        const char *src = getenv("CLEARCUBE_SOURCE");
        snprintf(path, sizeof path, "%.4000s/docs/jobs.md", src ? src : ".");
        f = fopen(path, "r");
        CHECK(f != NULL);
        if (f) {
            docs[fread(docs, 1, sizeof docs - 1, f)] = 0;
            fclose(f);
        }
        int nkeys = 0;
        for (const char *k; (k = cc_job_key_path(nkeys)) != NULL; nkeys++) {
            char want[128];
            const char *leaf = strrchr(k, '.');
            snprintf(want, sizeof want, "%s:", leaf ? leaf + 1 : k);
            if (!strstr(tmpl, want))
                printf("key %s missing from the template\n", k);
            CHECK(strstr(tmpl, want) != NULL);
            snprintf(want, sizeof want, "`%s`", k);
            if (!strstr(docs, want))
                printf("key %s missing from docs/jobs.md\n", k);
            CHECK(strstr(docs, want) != NULL);
        }
        printf("%d keys in the table\n", nkeys);
        CHECK(nkeys >= 12);
    }
    TEST_RETURN();
}
