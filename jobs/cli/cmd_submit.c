/* clearcube submit: renders a Slurm batch script for `clearcube run` from the
 * template slurm/clearcube.sbatch.in and submits it with sbatch (or prints it
 * with --dry-run). docs/running.md, "Running on a Slurm cluster".
 *
 * The template is found, in this order: --template FILE, $CLEARCUBE_SBATCH_TEMPLATE,
 * and slurm/clearcube.sbatch.in among the data files (core/datapath.h: beside the
 * executable in ../share/clearcube/, installed or in a build tree, or in $CLEARCUBE_DATA).
 * The rendering and sbatch: jobs/run/submit.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobs/cli/cli.h"
#include "jobs/run/job.h"
#include "jobs/run/submit.h"

#define TEMPLATE_REL "slurm/clearcube.sbatch.in" /* for --help; found by jobs/run/submit.c */

void cc_cmd_submit_help(void)
{
    printf("Usage: clearcube submit JOB --nodes N --gpus-per-node G --time HH:MM:SS [options]\n"
           "                        [-- CLEARCUBE RUN OPTIONS]\n\n"
           "Writes a Slurm batch script that runs `srun --mpi=pmix clearcube run JOB` and\n"
           "submits it with sbatch (prints the Slurm job id). The script stops the run\n"
           "gracefully before the time limit (SIGTERM, --stop-before) and requeues the job\n"
           "until it is complete; rerunning resumes from the journal. See docs/running.md.\n\n"
           "Options:\n"
           "  --nodes N             nodes (>= 1)\n"
           "  --gpus-per-node G     GPUs per node; one rank per GPU. 0: CPU-only nodes\n"
           "  --ranks-per-node R    ranks per node (default G, or 1 when G is 0)\n"
           "  --time [D-]HH:MM:SS   wall-clock limit of each (re)run\n"
           "  --partition P, --account A   passed to sbatch\n"
           "  --array K             a job array of K tasks; task I runs `clearcube run --share\n"
           "                        I/K` (a disjoint share of the tiles, own output folder\n"
           "                        DIR/share-I-of-K)\n"
           "  --stop-before S       SIGTERM the ranks S seconds before the time limit (default\n"
           "                        120); in-flight items may finish for 3/4 of it (--grace)\n"
           "  --name NAME           Slurm job name (default clearcube-<job file name>)\n"
           "  --template FILE       the batch script template (default: the shipped " TEMPLATE_REL ")\n"
           "  --dry-run             print the script; write nothing, submit nothing\n"
           "  -- OPTIONS...         appended to `clearcube run JOB` (e.g. --threads 4 -o DIR)\n\n"
           "Without --dry-run the script is written to the output folder (the job's, or the\n"
           "-o of the run options) as <name>.sbatch, the Slurm log there as slurm-<id>.out.\n"
           "Exit codes: 0 submitted (or printed), 2 bad arguments or job file, 1 sbatch failed.\n");
}

static int usage_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("clearcube: error: submit: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 2;
}

static int parse_count(const char *opt, const char *v, int lo, int *out)
{
    char *end = NULL;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (!*v || *end || errno || x < lo || x > 100000) {
        usage_err("--%s: '%s' must be an integer >= %d", opt, v, lo);
        return -1;
    }
    *out = (int)x;
    return 0;
}

/* [D-]HH:MM:SS, minutes and seconds < 60, in total > 0 -> seconds, -1 if bad. */
static long parse_time(const char *v)
{
    int d = 0, h, m, s, n = -1;
    const char *p = v;
    const char *dash = strchr(v, '-');
    if (dash) {
        if (sscanf(v, "%d-%n", &d, &n) != 1 || n != (int)(dash - v) + 1 || d < 0 || d > 365)
            return -1;
        p = dash + 1;
    }
    n = -1;
    for (const char *q = p; *q; q++)
        if ((*q < '0' || *q > '9') && *q != ':')
            return -1;
    if (sscanf(p, "%d:%2d:%2d%n", &h, &m, &s, &n) != 3 || p[n] || h < 0 || h > 9999 || m > 59 ||
        s > 59 || m < 0 || s < 0)
        return -1;
    long t = ((long)d * 24 + h) * 3600 + m * 60 + s;
    return t > 0 ? t : -1;
}

/* The options before "--" into v (everything after it is for `clearcube run`).
 * 0 parsed; 1 help printed; 2 bad arguments (message printed). */
static int parse_args(int argc, char **argv, cc_submit_vars *v, int *dry, const char **tpl_opt, const char **job_path)
{
    enum { O_NODES = 1, O_GPUS, O_RPN, O_TIME, O_DRY, O_PART, O_ACCT, O_ARRAY, O_STOP, O_NAME, O_TPL };
    static const struct option longopts[] = {
        {"help", no_argument, 0, 'h'}, {"nodes", required_argument, 0, O_NODES},
        {"gpus-per-node", required_argument, 0, O_GPUS}, {"ranks-per-node", required_argument, 0, O_RPN},
        {"time", required_argument, 0, O_TIME}, {"dry-run", no_argument, 0, O_DRY},
        {"partition", required_argument, 0, O_PART}, {"account", required_argument, 0, O_ACCT},
        {"array", required_argument, 0, O_ARRAY}, {"stop-before", required_argument, 0, O_STOP},
        {"name", required_argument, 0, O_NAME}, {"template", required_argument, 0, O_TPL},
        {0, 0, 0, 0}};
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--")) {
            v->run_args = &argv[i + 1];
            v->nrun_args = argc - i - 1;
            argc = i;
            break;
        }
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': cc_cmd_submit_help(); return 1;
        case O_NODES: if (parse_count("nodes", optarg, 1, &v->nodes)) return 2; break;
        case O_GPUS: if (parse_count("gpus-per-node", optarg, 0, &v->gpus)) return 2; break;
        case O_RPN: if (parse_count("ranks-per-node", optarg, 1, &v->ranks_per_node)) return 2; break;
        case O_ARRAY: if (parse_count("array", optarg, 1, &v->array)) return 2; break;
        case O_STOP: if (parse_count("stop-before", optarg, 1, &v->stop_before)) return 2; break;
        case O_TIME: v->time = optarg; break;
        case O_DRY: *dry = 1; break;
        case O_PART: v->partition = optarg; break;
        case O_ACCT: v->account = optarg; break;
        case O_NAME: v->name = optarg; break;
        case O_TPL: *tpl_opt = optarg; break;
        case ':': return usage_err("%s needs a value", argv[optind - 1]);
        default: return usage_err("unknown option '%s' (see clearcube submit --help)", argv[optind - 1]);
        }
    }
    for (int i = optind; i < argc; i++) {
        if (*job_path)
            return usage_err("unexpected argument '%s' (options for clearcube run go after --)", argv[i]);
        *job_path = argv[i];
    }
    if (!*job_path)
        return usage_err("need a JOB file (see clearcube submit --help)");
    return 0;
}

/* The required options, their consistency, and the derived ranks per node and
 * grace; 0, or 2 (message printed). */
static int check_args(cc_submit_vars *v)
{
    if (v->nodes < 0)
        return usage_err("--nodes N is required");
    if (v->gpus < 0)
        return usage_err("--gpus-per-node G is required (0: CPU-only nodes)");
    if (!v->time)
        return usage_err("--time HH:MM:SS is required");
    long tsec = parse_time(v->time);
    if (tsec < 0)
        return usage_err("--time: '%s' must be HH:MM:SS or D-HH:MM:SS (minutes and seconds < 60, "
                         "not zero)", v->time);
    if (tsec <= 2L * v->stop_before)
        return usage_err("--time: %s leaves no time to work: it must be longer than twice "
                         "--stop-before (%d s)", v->time, v->stop_before);
    if (v->name && (!*v->name || strchr(v->name, '/')))
        return usage_err("--name: '%s' must be a non-empty name without '/'", v->name);
    if (v->ranks_per_node < 0)
        v->ranks_per_node = v->gpus > 0 ? v->gpus : 1;
    v->grace = v->stop_before * 3 / 4 > 0 ? v->stop_before * 3 / 4 : 1;
    for (int i = 0; i < v->nrun_args; i++) {
        const char *a = v->run_args[i];
        if (!strcmp(a, "--"))
            break; /* product options from here on */
        if (!strcmp(a, "--share") || !strncmp(a, "--share=", 8))
            return usage_err("--share is set by --array; do not pass it to run");
        if (v->array > 0 && (!strcmp(a, "--mosaic-res") || !strncmp(a, "--mosaic-res=", 13)))
            return usage_err("--array and --mosaic-res: each array task holds only some tiles");
    }
    return 0;
}

/* The output folder: run's -o if given, else the job's (NULL: none). */
static const char *run_output(const cc_submit_vars *v, const char *job_out)
{
    const char *out = job_out;
    for (int i = 0; i < v->nrun_args; i++) {
        const char *a = v->run_args[i];
        if (!strcmp(a, "--"))
            break;
        if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && i + 1 < v->nrun_args)
            out = v->run_args[i + 1];
        else if (!strncmp(a, "--output=", 9))
            out = a + 9;
        else if (!strncmp(a, "-o", 2) && a[2])
            out = a + 2;
    }
    return out;
}

/* The paths the script names (a loaded job file, the working and output folders,
 * this executable) and the default job name, into v (pointing into p); 0, or 2
 * (message printed). */
typedef struct {
    char cwd[PATH_MAX], exe[PATH_MAX], outdir[PATH_MAX], name[256];
} submit_paths;

static int resolve_paths(const char *job_path, cc_submit_vars *v, submit_paths *p)
{
    /* the job file must load (it is read again by rank 0 of every run) */
    cc_job job;
    memset(&job, 0, sizeof job);
    int rc = 2;
    char job_abs[PATH_MAX];
    if (cc_job_load(job_path, &job) != CC_OK) {
        fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
        goto out;
    }
    if (!realpath(job_path, job_abs) || !getcwd(p->cwd, sizeof p->cwd)) {
        fprintf(stderr, "clearcube: error: submit: %s: %s\n", job_path, strerror(errno));
        goto out;
    }
    ssize_t el = readlink("/proc/self/exe", p->exe, sizeof p->exe - 1);
    p->exe[el > 0 ? el : 0] = 0;
    const char *out = run_output(v, job.output_dir);
    if (!out || !*out) {
        fprintf(stderr, "clearcube: error: submit: %s: no output folder\n", job_path);
        goto out;
    }
    int ol = out[0] == '/' ? snprintf(p->outdir, sizeof p->outdir, "%s", out)
                           : snprintf(p->outdir, sizeof p->outdir, "%s/%s", p->cwd, out);
    if (ol < 0 || ol >= (int)sizeof p->outdir) {
        fprintf(stderr, "clearcube: error: submit: output folder path too long\n");
        goto out;
    }
    if (!v->name) {
        const char *b = strrchr(job_path, '/');
        b = b ? b + 1 : job_path;
        size_t bl = strcspn(b, ".");
        snprintf(p->name, sizeof p->name, "clearcube-%.*s", (int)(bl ? bl : strlen(b)), b);
        v->name = p->name;
    }
    /* the job path as given, run from this folder (--chdir): relative paths in the job
     * resolve as they did here, and the cubes (their `inputs` name the products as the
     * job resolves them) are the same bytes as those of `mpirun ... clearcube run JOB`
     * run here */
    v->job = job_path;
    v->cwd = p->cwd;
    v->exe = p->exe;
    v->outdir = p->outdir;
    v->log_pattern = v->array > 0 ? "slurm-%A_%a.out" : "slurm-%j.out";
    rc = 0;
out:
    cc_job_free(&job);
    return rc;
}

int cc_cmd_submit(int argc, char **argv)
{
    cc_submit_vars v;
    memset(&v, 0, sizeof v);
    v.nodes = -1;
    v.gpus = -1;
    v.ranks_per_node = -1;
    v.stop_before = 120;
    int dry = 0, rc;
    const char *tpl_opt = NULL, *job_path = NULL;
    if ((rc = parse_args(argc, argv, &v, &dry, &tpl_opt, &job_path)) != 0)
        return rc == 1 ? 0 : rc;
    if ((rc = check_args(&v)) != 0)
        return rc;
    submit_paths p;
    if ((rc = resolve_paths(job_path, &v, &p)) != 0)
        return rc;
    char tpl_path[PATH_MAX + 64], script[PATH_MAX + 300], id[256];
    char *tpl = NULL;
    cc_status st = cc_submit_find_template(tpl_opt, tpl_path, sizeof tpl_path);
    if (st == CC_OK)
        st = cc_submit_read_template(tpl_path, &tpl);
    if (st == CC_OK)
        st = dry ? cc_submit_render(stdout, tpl, tpl_path, &v)
                 : cc_submit_sbatch(tpl, tpl_path, &v, script, sizeof script, id, sizeof id);
    free(tpl);
    if (st != CC_OK) {
        fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
        return 1;
    }
    if (!dry) {
        printf("%s\n", id);
        fprintf(stderr, "clearcube: submitted Slurm job %s (script %s, log %s/%s)\n", id, script, v.outdir,
                v.log_pattern);
    }
    return 0;
}
