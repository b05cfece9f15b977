/* Slurm batch scripts for `clearcube run` (jobs/run/submit.h). Placeholders are
 * @NAME@ words (put_key below); any other '@' is copied. */
#define _GNU_SOURCE
#include "jobs/run/submit.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/datapath.h"
#include "core/fs.h"
#include "core/version.h"

#define TEMPLATE_REL "slurm/clearcube.sbatch.in" /* a data file: core/datapath.h */

/* One shell word: 'x' with every ' as '\'' (no quotes when plainly safe). */
static void shell_quote(FILE *f, const char *s)
{
    int plain = *s != 0;
    for (const char *p = s; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+@%", *p))
            plain = 0;
    if (plain) {
        fputs(s, f);
        return;
    }
    fputc('\'', f);
    for (const char *p = s; *p; p++) {
        if (*p == '\'')
            fputs("'\\''", f);
        else
            fputc(*p, f);
    }
    fputc('\'', f);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    char chunk[4096];
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        memcpy(buf + len, chunk, n);
        len += n;
    }
    fclose(f);
    if (!buf)
        buf = calloc(1, 1);
    else
        buf[len] = 0;
    return buf;
}

cc_status cc_submit_read_template(const char *path, char **text)
{
    if (!(*text = read_file(path)))
        return cc_error_set(CC_ERR_IO, "submit: %s: %s", path, strerror(errno));
    return CC_OK;
}

static int is_file(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

cc_status cc_submit_find_template(const char *opt, char *out, size_t n)
{
    const char *env = getenv("CLEARCUBE_SBATCH_TEMPLATE");
    if (opt || (env && *env)) {
        snprintf(out, n, "%s", opt ? opt : env);
        if (is_file(out))
            return CC_OK;
        return cc_error_set(CC_ERR_MISSING, "submit: batch script template not found (%s; set --template or "
                                            "CLEARCUBE_SBATCH_TEMPLATE)", out);
    }
    cc_status st = cc_data_find(TEMPLATE_REL, out, n);
    if (st != CC_OK) {
        char msg[2048];
        snprintf(msg, sizeof msg, "%s", cc_error_message());
        return cc_error_set(st, "submit: %s", msg);
    }
    return CC_OK;
}

/* "#SBATCH --NAME=VALUE" with VALUE shell-quoted; nothing when value is NULL. */
static void sbatch_line(FILE *f, const char *name, const char *value)
{
    if (!value)
        return;
    fprintf(f, "#SBATCH --%s=", name);
    shell_quote(f, value);
    fputc('\n', f);
}

/* The #SBATCH lines that depend on the arguments. */
static void optional_sbatch(FILE *f, const cc_submit_vars *v)
{
    if (v->gpus_per_task > 0)
        fprintf(f, "#SBATCH --gpus-per-task=%d\n#SBATCH --gpu-bind=closest\n", v->gpus_per_task);
    else if (v->gpus > 0)
        fprintf(f, "#SBATCH --gpus-per-node=%d\n", v->gpus);
    if (v->cpus_per_task > 0)
        fprintf(f, "#SBATCH --cpus-per-task=%d\n", v->cpus_per_task);
    sbatch_line(f, "mem", v->mem);
    sbatch_line(f, "mem-per-gpu", v->mem_per_gpu);
    sbatch_line(f, "partition", v->partition);
    sbatch_line(f, "account", v->account);
    sbatch_line(f, "qos", v->qos);
    sbatch_line(f, "constraint", v->constraint);
    sbatch_line(f, "dependency", v->dependency);
    if (v->array > 0)
        fprintf(f, "#SBATCH --array=0-%d\n", v->array - 1);
    for (int i = 0; i < v->nsbatch_args; i++)
        fprintf(f, "#SBATCH %s\n", v->sbatch_args[i]);
}

/* Do the run's options (before a "--") set --threads? */
static int run_has_threads(const cc_submit_vars *v)
{
    for (int i = 0; i < v->nrun_args; i++) {
        if (!strcmp(v->run_args[i], "--"))
            break;
        if (!strcmp(v->run_args[i], "--threads") || !strncmp(v->run_args[i], "--threads=", 10))
            return 1;
    }
    return 0;
}

/* Writes the value of placeholder `key` (without the @s); 0 known, -1 unknown. */
static int put_key(FILE *f, const char *key, size_t klen, const cc_submit_vars *v)
{
#define IS(k) (klen == sizeof(k) - 1 && !memcmp(key, k, klen))
    if (IS("VERSION")) fputs(CC_VERSION, f);
    else if (IS("JOB_NAME")) shell_quote(f, v->name);
    else if (IS("NODES")) fprintf(f, "%d", v->nodes);
    else if (IS("RANKS_PER_NODE")) fprintf(f, "%d", v->ranks_per_node);
    else if (IS("TIME")) fputs(v->time, f);
    else if (IS("STOP_BEFORE")) fprintf(f, "%d", v->stop_before);
    else if (IS("GRACE")) fprintf(f, "%d", v->grace);
    else if (IS("WORKDIR")) shell_quote(f, v->cwd);
    else if (IS("LOG")) {
        char p[PATH_MAX + 64];
        snprintf(p, sizeof p, "%s/%s", v->outdir, v->log_pattern);
        shell_quote(f, p);
    } else if (IS("OPTIONAL_SBATCH")) {
        optional_sbatch(f, v);
    } else if (IS("MAX_REQUEUES")) fprintf(f, "%d", v->max_requeues);
    else if (IS("ARRAY")) fprintf(f, "%d", v->array);
    else if (IS("DAILY_BEGIN")) shell_quote(f, v->daily_begin ? v->daily_begin : "tomorrow 06:00");
    else if (IS("CLEARCUBE")) shell_quote(f, v->exe);
    else if (IS("JOB")) shell_quote(f, v->job);
    else if (IS("RUN_ARGS")) {
        if (v->cpus_per_task > 0 && !run_has_threads(v))
            fprintf(f, " --threads %d", v->cpus_per_task);
        for (int i = 0; i < v->nrun_args; i++) {
            fputc(' ', f);
            shell_quote(f, v->run_args[i]);
        }
    } else
        return -1;
    return 0;
#undef IS
}

cc_status cc_submit_render(FILE *f, const char *tpl, const char *tpl_path, const cc_submit_vars *v)
{
    const char *p = tpl;
    while (*p) {
        if (*p == '@') {
            size_t k = 1;
            while ((p[k] >= 'A' && p[k] <= 'Z') || p[k] == '_')
                k++;
            if (k > 1 && p[k] == '@') {
                if (put_key(f, p + 1, k - 1, v) != 0)
                    return cc_error_set(CC_ERR_FORMAT, "submit: %s: unknown placeholder %.*s", tpl_path, (int)k + 1,
                                        p);
                p += k + 1;
                continue;
            }
        }
        fputc(*p++, f);
    }
    return CC_OK;
}

/* Runs `sbatch --parsable SCRIPT`; the job id (its first field) into id. */
static cc_status run_sbatch(const char *script, char *id, size_t nid)
{
    int fd[2];
    if (pipe(fd) != 0)
        return cc_error_set(CC_ERR_IO, "submit: pipe: %s", strerror(errno));
    const char *sbatch = getenv("CLEARCUBE_SBATCH");
    if (!sbatch || !*sbatch)
        sbatch = "sbatch";
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return cc_error_set(CC_ERR_IO, "submit: fork: %s", strerror(errno));
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], 1);
        close(fd[1]);
        execlp(sbatch, sbatch, "--parsable", script, (char *)NULL);
        /* the child: its own line; the parent then reports the failed sbatch */
        fprintf(stderr, "clearcube: error: submit: cannot run %s: %s\n", sbatch, strerror(errno));
        _exit(127);
    }
    close(fd[1]);
    char out[256] = {0};
    size_t len = 0;
    ssize_t n;
    while ((n = read(fd[0], out + len, sizeof out - 1 - len)) > 0 && len < sizeof out - 1)
        len += (size_t)n;
    while (n > 0) /* drain */
        n = read(fd[0], (char[64]){0}, 64);
    close(fd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    out[strcspn(out, ";\r\n")] = 0; /* "ID" or "ID;CLUSTER" */
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !out[0])
        return cc_error_set(CC_ERR_IO, "submit: sbatch %s failed (exit %d)", script,
                            WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    snprintf(id, nid, "%s", out);
    return CC_OK;
}

cc_status cc_submit_sbatch(const char *tpl, const char *tpl_path, const cc_submit_vars *v, char *script, size_t ns,
                           char *id, size_t nid)
{
    snprintf(script, ns, "%s/%s.sbatch", v->outdir, v->name);
    cc_status st = cc_fs_mkdir_p(v->outdir, 0777);
    if (st != CC_OK) {
        char msg[2048];
        snprintf(msg, sizeof msg, "%s", cc_error_message());
        return cc_error_set(st, "submit: %s", msg);
    }
    FILE *f = fopen(script, "w");
    if (!f)
        return cc_error_set(CC_ERR_IO, "submit: %s: %s", script, strerror(errno));
    st = cc_submit_render(f, tpl, tpl_path, v);
    if (fclose(f) != 0 && st == CC_OK)
        st = cc_error_set(CC_ERR_IO, "submit: %s: %s", script, strerror(errno));
    if (st != CC_OK)
        return st;
    return run_sbatch(script, id, nid);
}
