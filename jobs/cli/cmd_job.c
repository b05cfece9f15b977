/* clearcube job --template [--markdown] | --check JOB: job files. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "jobs/cli/cli.h"
#include "jobs/run/job.h"

void cc_cmd_job_help(void)
{
    printf("Usage: clearcube job --template [--markdown]\n"
           "       clearcube job --check JOB\n\n"
           "  --template      print a commented job file template (YAML), generated from the table\n"
           "                  of keys the parser uses; --markdown prints that table as Markdown\n"
           "  --check JOB     parse JOB (YAML or JSON), scan its catalogues and print its work items\n"
           "                  as JSON lines (largest first), then a summary line on stderr\n\n"
           "The job file reference is in docs/jobs.md.\n");
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", *s);
        else
            putchar(*s);
    }
    putchar('"');
}

static int check(const char *path)
{
    cc_job job;
    cc_job_item *items = NULL;
    int n = 0, rc = 0;
    if (cc_job_load(path, &job) != CC_OK) {
        fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
        return cc_status_exit_code(cc_error_status());
    }
    if (cc_job_items(&job, &items, &n) != CC_OK) {
        fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
        rc = cc_status_exit_code(cc_error_status());
        goto out;
    }
    double total = 0;
    for (int i = 0; i < n; i++) {
        printf("{\"id\": \"%s\", \"tile\": \"%s\", \"date\": \"%s\", \"cost\": %.0f, \"inputs\": [", items[i].id,
               items[i].tile_id, items[i].date, items[i].cost);
        for (int k = 0; k < items[i].ninputs; k++) {
            if (k)
                printf(", ");
            json_str(items[i].inputs[k]);
        }
        printf("]}\n");
        total += items[i].cost;
    }
    fprintf(stderr, "%s: %d item(s), %.1f MB of input\n", path, n, total / 1e6);
out:
    cc_job_items_free(items, n);
    cc_job_free(&job);
    return rc;
}

int cc_cmd_job(int argc, char **argv)
{
    static const struct option longopts[] = {{"help", no_argument, 0, 'h'},
                                             {"template", no_argument, 0, 't'},
                                             {"markdown", no_argument, 0, 'm'},
                                             {"check", required_argument, 0, 'c'},
                                             {0, 0, 0, 0}};
    int tmpl = 0, md = 0, c;
    const char *chk = NULL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': cc_cmd_job_help(); return 0;
        case 't': tmpl = 1; break;
        case 'm': md = 1; break;
        case 'c': chk = optarg; break;
        default: return 2;
        }
    }
    if (optind != argc || tmpl + !!chk != 1 || (md && !tmpl)) {
        fprintf(stderr, "clearcube: error: job: give --template [--markdown] or --check JOB "
                        "(see clearcube job --help)\n");
        return 2;
    }
    if (tmpl) {
        if (md)
            cc_job_print_markdown(stdout);
        else
            cc_job_print_template(stdout);
        return 0;
    }
    return check(chk);
}
