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

#include "core/datapath.h"
#include "jobs/cli/cli.h"
#include "jobs/run/job.h"
#include "jobs/run/submit.h"

#define TEMPLATE_REL "slurm/clearcube.sbatch.in" /* for --help; found by jobs/run/submit.c */
#define DAILY_TEMPLATE_REL "slurm/clearcube-daily.sbatch.in"
#define CC_SUBMIT_MAX_SBATCH_ARGS 64

void cc_cmd_submit_help(void)
{
    printf("Usage: clearcube submit JOB --nodes N (--gpus-per-node G | --gpus-per-task G) --time T\n"
           "                        [options] [-- CLEARCUBE RUN OPTIONS]\n\n"
           "Writes a Slurm batch script that runs `srun --mpi=pmix clearcube run JOB` and\n"
           "submits it with sbatch (prints the Slurm job id). The script stops the run\n"
           "gracefully before the time limit (SIGTERM, --stop-before) and requeues the job\n"
           "until it is complete; rerunning resumes from the journal. See docs/running.md.\n\n"
           "Options:\n"
           "  --nodes N             nodes (>= 1)\n"
           "  --gpus-per-node G     GPUs per node; one rank per GPU. 0: CPU-only nodes\n"
           "  --gpus-per-task G     instead: G GPUs per rank, bound to the rank's closest GPUs\n"
           "                        (--gpu-bind=closest); ranks per node from --ranks-per-node\n"
           "  --ranks-per-node R    ranks per node (default G of --gpus-per-node, else 1)\n"
           "  --cpus-per-task C     cores per rank; also the run's --threads unless given after --\n"
           "  --mem M, --mem-per-gpu M   memory per node / per GPU (Slurm sizes: 64G, 4000M, 1T)\n"
           "  --time T              wall-clock limit of each (re)run, in any Slurm format: MM,\n"
           "                        MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS\n"
           "  --partition P, --account A, --qos Q, --constraint C   passed to sbatch\n"
           "  --dependency D        start after other jobs (sbatch --dependency, e.g. afterok:123)\n"
           "  --sbatch-arg ARG      any other #SBATCH line, e.g. --sbatch-arg=--mail-type=END\n"
           "                        (repeatable; the options above and those the script sets\n"
           "                        itself are refused there)\n"
           "  --max-requeues K      requeue after a graceful stop at most K times (default 10); then\n"
           "                        the job ends with exit 75 and its log says why\n"
           "  --array K             a job array of K tasks; task I runs `clearcube run --share\n"
           "                        I/K` (a disjoint share of the tiles, own output folder\n"
           "                        DIR/share-I-of-K)\n"
           "  --stop-before S       SIGTERM the ranks S seconds before the time limit (default\n"
           "                        120); in-flight items may finish for 3/4 of it (--grace)\n"
           "  --name NAME           Slurm job name (default clearcube-<job file name>)\n"
           "  --template FILE       the batch script template (default: the shipped " TEMPLATE_REL ")\n"
           "  --dry-run             print the script; write nothing, submit nothing\n"
           "  --daily               daily operation of a 'cloudless' job (docs/user-guide.md, \"Daily\n"
           "                        operation\"): a one-task job running `clearcube daily JOB` that first\n"
           "                        submits itself for the next run (--nodes/--gpus-per-node not needed;\n"
           "                        template slurm/clearcube-daily.sbatch.in); stop: scancel --name NAME\n"
           "  --at HH:MM            --daily: the run time of the following days (default 06:00)\n"
           "  --every S             --daily: instead, the next run S seconds after this one starts\n"
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

/* Up to 3 non-negative integers separated by ':' into f; the count, or -1. */
static int time_fields(const char *p, long f[3])
{
    int n = 0;
    while (n < 3) {
        if (*p < '0' || *p > '9')
            return -1;
        char *end = NULL;
        errno = 0;
        f[n++] = strtol(p, &end, 10);
        if (errno || f[n - 1] > 1000000)
            return -1;
        if (!*end)
            return n;
        if (*end != ':')
            return -1;
        p = end + 1;
    }
    return -1;
}

/* A Slurm time limit: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS (a trailing
 * field < 60), in total > 0 -> seconds, -1 if bad. */
static long parse_time(const char *v)
{
    long d = 0, f[3] = {0, 0, 0}, t;
    const char *dash = strchr(v, '-');
    if (dash) {
        char *end = NULL;
        errno = 0;
        if (dash == v || *v < '0' || *v > '9' || (d = strtol(v, &end, 10), end != dash) || errno || d > 3650)
            return -1;
    }
    int n = time_fields(dash ? dash + 1 : v, f);
    if (n < 0)
        return -1;
    if (dash) { /* D-HH, D-HH:MM, D-HH:MM:SS */
        if ((n >= 2 && f[1] > 59) || (n == 3 && f[2] > 59))
            return -1;
        t = d * 86400 + f[0] * 3600 + (n >= 2 ? f[1] * 60 : 0) + (n == 3 ? f[2] : 0);
    } else if (n == 1) { /* MM */
        t = f[0] * 60;
    } else if (n == 2) { /* MM:SS */
        if (f[1] > 59)
            return -1;
        t = f[0] * 60 + f[1];
    } else { /* HH:MM:SS */
        if (f[1] > 59 || f[2] > 59)
            return -1;
        t = f[0] * 3600 + f[1] * 60 + f[2];
    }
    return t > 0 ? t : -1;
}

/* A Slurm memory size: digits with an optional K, M, G or T; 0 ok, -1 bad. */
static int check_mem(const char *opt, const char *v)
{
    size_t n = strspn(v, "0123456789");
    if (n == 0 || (v[n] && (!strchr("KMGTkmgt", v[n]) || v[n + 1]))) {
        usage_err("--%s: '%s' must be a size like 64G, 4000M or 1T", opt, v);
        return -1;
    }
    return 0;
}

/* A value that goes on an #SBATCH line: not empty, one word (no white space). */
static int check_word(const char *opt, const char *v)
{
    for (const char *p = v; *p; p++)
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
            usage_err("--%s: '%s' must be one word without white space", opt, v);
            return -1;
        }
    if (!*v) {
        usage_err("--%s: empty value", opt);
        return -1;
    }
    return 0;
}

/* An --sbatch-arg: "--name" or "--name=value" (or "-x value"), one line, and not an
 * option that clearcube submit sets itself. 0 ok, -1 bad. */
static int check_sbatch_arg(const char *v)
{
    /* the options the script sets itself, with their one-letter forms ("" none) */
    static const char *const own[][2] = {
        {"nodes", "N"}, {"ntasks-per-node", ""}, {"ntasks", "n"}, {"time", "t"}, {"signal", ""},
        {"requeue", ""}, {"no-requeue", ""}, {"open-mode", ""}, {"output", "o"}, {"chdir", "D"},
        {"job-name", "J"}, {"array", "a"}, {"gpus-per-node", ""}, {"gpus-per-task", ""}, {"gpu-bind", ""},
        {"cpus-per-task", "c"}, {"mem", ""}, {"mem-per-gpu", ""}, {"partition", "p"}, {"account", "A"},
        {"qos", "q"}, {"constraint", "C"}, {"dependency", "d"}, {"gpus", "G"}};
    if (v[0] != '-' || strchr(v, '\n') || strchr(v, '\r') || !v[1] || (v[1] == '-' && !v[2])) {
        usage_err("--sbatch-arg: '%s' must be one sbatch option, e.g. --mail-type=END", v);
        return -1;
    }
    int is_long = v[1] == '-';
    const char *name = v + (is_long ? 2 : 1);
    size_t len = is_long ? strcspn(name, "= ") : 1;
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
        const char *o = own[i][is_long ? 0 : 1];
        if (*o && strlen(o) == len && !strncmp(o, name, len)) {
            usage_err("--sbatch-arg: '%s': clearcube submit sets --%s itself (use its own option; see "
                      "clearcube submit --help)", v, own[i][0]);
            return -1;
        }
    }
    return 0;
}

/* --daily, and when its next run begins (`date -d` text; "" = tomorrow 06:00) */
static int daily;
static char daily_begin[64];

/* The options before "--" into v (everything after it is for `clearcube run`).
 * 0 parsed; 1 help printed; 2 bad arguments (message printed). */
static int parse_args(int argc, char **argv, cc_submit_vars *v, int *dry, const char **tpl_opt, const char **job_path)
{
    enum { O_NODES = 1, O_GPUS, O_RPN, O_TIME, O_DRY, O_PART, O_ACCT, O_ARRAY, O_STOP, O_NAME, O_TPL, O_CPT,
           O_GPT, O_MEM, O_MPG, O_QOS, O_CONS, O_DEP, O_SARG, O_MAXRQ, O_DAILY, O_AT, O_EVERY };
    static const struct option longopts[] = {
        {"help", no_argument, 0, 'h'}, {"nodes", required_argument, 0, O_NODES},
        {"gpus-per-node", required_argument, 0, O_GPUS}, {"ranks-per-node", required_argument, 0, O_RPN},
        {"time", required_argument, 0, O_TIME}, {"dry-run", no_argument, 0, O_DRY},
        {"partition", required_argument, 0, O_PART}, {"account", required_argument, 0, O_ACCT},
        {"array", required_argument, 0, O_ARRAY}, {"stop-before", required_argument, 0, O_STOP},
        {"name", required_argument, 0, O_NAME}, {"template", required_argument, 0, O_TPL},
        {"cpus-per-task", required_argument, 0, O_CPT}, {"gpus-per-task", required_argument, 0, O_GPT},
        {"mem", required_argument, 0, O_MEM}, {"mem-per-gpu", required_argument, 0, O_MPG},
        {"qos", required_argument, 0, O_QOS}, {"constraint", required_argument, 0, O_CONS},
        {"dependency", required_argument, 0, O_DEP}, {"sbatch-arg", required_argument, 0, O_SARG},
        {"max-requeues", required_argument, 0, O_MAXRQ}, {"daily", no_argument, 0, O_DAILY},
        {"at", required_argument, 0, O_AT}, {"every", required_argument, 0, O_EVERY}, {0, 0, 0, 0}};
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
        case O_CPT: if (parse_count("cpus-per-task", optarg, 1, &v->cpus_per_task)) return 2; break;
        case O_GPT: if (parse_count("gpus-per-task", optarg, 1, &v->gpus_per_task)) return 2; break;
        case O_MAXRQ: if (parse_count("max-requeues", optarg, 0, &v->max_requeues)) return 2; break;
        case O_DAILY: daily = 1; break;
        case O_AT: {
            int hh, mm, n = -1;
            if (sscanf(optarg, "%2d:%2d%n", &hh, &mm, &n) != 2 || n != (int)strlen(optarg) || hh < 0 || hh > 23 ||
                mm < 0 || mm > 59)
                return usage_err("--at: '%s' must be a time HH:MM", optarg);
            snprintf(daily_begin, sizeof daily_begin, "tomorrow %02d:%02d", hh, mm);
            break;
        }
        case O_EVERY: {
            int e;
            if (parse_count("every", optarg, 1, &e)) return 2;
            snprintf(daily_begin, sizeof daily_begin, "now + %d seconds", e);
            break;
        }
        case O_MEM: if (check_mem("mem", optarg)) return 2; v->mem = optarg; break;
        case O_MPG: if (check_mem("mem-per-gpu", optarg)) return 2; v->mem_per_gpu = optarg; break;
        case O_QOS: if (check_word("qos", optarg)) return 2; v->qos = optarg; break;
        case O_CONS: if (!*optarg || strchr(optarg, '\n')) return usage_err("--constraint: empty or not one line");
            v->constraint = optarg; break;
        case O_DEP: if (check_word("dependency", optarg)) return 2; v->dependency = optarg; break;
        case O_SARG:
            if (check_sbatch_arg(optarg) || v->nsbatch_args >= CC_SUBMIT_MAX_SBATCH_ARGS)
                return v->nsbatch_args >= CC_SUBMIT_MAX_SBATCH_ARGS ? usage_err("--sbatch-arg: more than %d",
                                                                                CC_SUBMIT_MAX_SBATCH_ARGS) : 2;
            v->sbatch_args[v->nsbatch_args++] = optarg;
            break;
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
    if (!daily && daily_begin[0])
        return usage_err("--at and --every go with --daily");
    if (daily) { /* one task: `clearcube daily` is not an MPI program */
        if (v->array > 0 || v->gpus > 0 || v->gpus_per_task > 0)
            return usage_err("--daily runs one task: no --array or GPUs");
        v->nodes = 1, v->gpus = 0, v->ranks_per_node = 1;
        v->daily_begin = daily_begin[0] ? daily_begin : NULL;
    }
    if (v->nodes < 0)
        return usage_err("--nodes N is required");
    if (v->gpus_per_task > 0 && v->gpus > 0)
        return usage_err("--gpus-per-node and --gpus-per-task: give one of them");
    if (v->gpus < 0 && v->gpus_per_task <= 0)
        return usage_err("--gpus-per-node G (0: CPU-only nodes) or --gpus-per-task G is required");
    if (v->gpus < 0)
        v->gpus = 0;
    if (v->mem && v->mem_per_gpu)
        return usage_err("--mem and --mem-per-gpu: give one of them (Slurm refuses both)");
    if (v->mem_per_gpu && v->gpus <= 0 && v->gpus_per_task <= 0)
        return usage_err("--mem-per-gpu needs GPUs (--gpus-per-node or --gpus-per-task)");
    if (!v->time)
        return usage_err("--time is required (e.g. 01:00:00, 90, 1-12)");
    long tsec = parse_time(v->time);
    if (tsec < 0)
        return usage_err("--time: '%s' must be a Slurm time: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or "
                         "D-HH:MM:SS (minutes and seconds < 60, not zero)", v->time);
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
    v.max_requeues = 10;
    char *sargs[CC_SUBMIT_MAX_SBATCH_ARGS];
    v.sbatch_args = sargs;
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
    cc_status st = daily && !tpl_opt && !getenv("CLEARCUBE_SBATCH_TEMPLATE")
                       ? cc_data_find(DAILY_TEMPLATE_REL, tpl_path, sizeof tpl_path)
                       : cc_submit_find_template(tpl_opt, tpl_path, sizeof tpl_path);
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
