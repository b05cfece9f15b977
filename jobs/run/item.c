/* clearcube run: one item on a worker rank: the child process (argv, environment,
 * log), its end (exit status, timeout, abandonment), the validation of its
 * output and the commit into the staging directory. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <netcdf.h>

#include "core/date.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "io/cube.h"
#include "jobs/run/run-ctx.h"

extern char **environ;

/* The last "clearcube: error: ..." (or last non-empty) line of a child's log. */
static void child_reason(const char *log, char *out, size_t n)
{
    FILE *f = fopen(log, "r");
    char line[1024];
    out[0] = 0;
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0])
            continue;
        const char *p = strstr(line, "error: ");
        if (p)
            snprintf(out, n, "%s", p + 7);
        else if (!out[0])
            fmt_buf(out, n, "%s", line);
    }
    fclose(f);
}

/* Is the staging output a real product: one date (the item's), layers with
 * data? Peers' users got silent blank outputs: never declare those done. */
static cc_status validate_output(const char *path, const cc_job_item *it)
{
    cc_status st = CC_ERR_FORMAT;
    int ncid = -1, nvars = 0, nlayers = 0, tdim = -1;
    size_t nt = 0;
    uint16_t *buf = NULL;
    int e = nc_open(path, NC_NOWRITE, &ncid);
    if (e != NC_NOERR)
        return cc_error_set(CC_ERR_FORMAT, "output %s unreadable: %s", path, nc_strerror(e));
    if (nc_inq_dimid(ncid, "time", &tdim) != NC_NOERR || nc_inq_dimlen(ncid, tdim, &nt) != NC_NOERR ||
        nt != 1) {
        st = cc_error_set(CC_ERR_FORMAT, "output has %zu dates, expected 1", nt);
        goto out;
    }
    int tv;
    double day = 0;
    long want = 0;
    if (nc_inq_varid(ncid, "time", &tv) != NC_NOERR || nc_get_var_double(ncid, tv, &day) != NC_NOERR ||
        !cc_date_parse(it->date, &want) || (long)day != want) {
        char got[CC_DATE_ISO_SIZE];
        cc_date_format((long)day, got);
        st = cc_error_set(CC_ERR_FORMAT, "output date %s is not the item's date %s", got, it->date);
        goto out;
    }
    nc_inq_nvars(ncid, &nvars);
    size_t nvalid = 0;
    for (int v = 0; v < nvars; v++) {
        int nd, dims[NC_MAX_VAR_DIMS];
        nc_type ty;
        if (nc_inq_var(ncid, v, NULL, &ty, &nd, dims, NULL) != NC_NOERR || nd != 3 || ty != NC_USHORT ||
            dims[0] != tdim)
            continue;
        size_t ny, nx;
        nc_inq_dimlen(ncid, dims[1], &ny);
        nc_inq_dimlen(ncid, dims[2], &nx);
        if (!ny || !nx) {
            st = cc_error_set(CC_ERR_FORMAT, "output grid is empty");
            goto out;
        }
        unsigned short fill = 0;
        int nofill = 0;
        nc_inq_var_fill(ncid, v, &nofill, &fill);
        free(buf);
        buf = malloc(ny * nx * sizeof *buf);
        if (!buf) {
            st = cc_error_set(CC_ERR_NOMEM, "validating %s: out of memory", path);
            goto out;
        }
        if (nc_get_var_ushort(ncid, v, buf) != NC_NOERR) {
            st = cc_error_set(CC_ERR_FORMAT, "output %s: layer unreadable", path);
            goto out;
        }
        nlayers++;
        for (size_t k = 0; k < ny * nx; k++)
            nvalid += buf[k] != fill;
    }
    if (nlayers == 0) {
        st = cc_error_set(CC_ERR_FORMAT, "output has no layers");
        goto out;
    }
    if (nvalid == 0) {
        st = cc_error_set(CC_ERR_NODATA, "output is all nodata (blank)");
        goto out;
    }
    st = CC_OK;
out:
    free(buf);
    nc_close(ncid);
    return st;
}

/* Builds the child's argv (strings owned by `store`, freed by the caller). */
static char **item_argv(run_ctx *c, const cc_job_item *it, const char *part)
{
    int cap = 16 + c->o.nextra + 64 + it->ninputs, n = 0;
    char **av = calloc((size_t)cap, sizeof *av);
    if (!av)
        return NULL;
#define ADD(s) do { if (n < cap - 1) av[n++] = strdup(s); } while (0)
    ADD(c->exe);
    ADD(c->o.product ? c->o.product : "reference");
    int cloudless = c->o.product && strcmp(c->o.product, "cloudless") == 0;
    /* every product of the tile and day: the command mosaics them (io/s2/scene.h) */
    for (int k = 0; k < (cloudless ? 1 : it->ninputs); k++)
        ADD(it->inputs[k]);
    if (c->o.model && c->o.product && (strcmp(c->o.product, "boa") == 0 || cloudless)) {
        ADD("--model");
        ADD(c->o.model);
    }
    if (cloudless) { /* the input is the folder of the tile's sensor cubes */
        ADD("--tile");
        ADD(it->tile_id);
        ADD("--date");
        ADD(it->date);
    }
    ADD("-o");
    ADD(part);
    ADD("--log-level");
    ADD("warn");
    /* the rank's device (run.c: the GPU of its node-local rank is the item's only
     * visible one); product options after this may override it */
    ADD("--device");
    ADD(!c->gpu[0] ? "cpu" : c->o.device && !strcmp(c->o.device, "cuda") ? "cuda" : "auto");
    for (int k = 0; k < c->o.nextra; k++)
        ADD(c->o.extra[k]);
#undef ADD
    return av;
}

void cc_run_free_strv(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

/* environ + OMP_NUM_THREADS, SOURCE_DATE_EPOCH, CUDA_VISIBLE_DEVICES. */
char **cc_run_make_env(run_ctx *c)
{
    int n = 0;
    while (environ[n])
        n++;
    char **e = calloc((size_t)n + 4, sizeof *e);
    if (!e)
        return NULL;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (strncmp(environ[i], "OMP_NUM_THREADS=", 16) && strncmp(environ[i], "SOURCE_DATE_EPOCH=", 18) &&
            (!c->gpu[0] || strncmp(environ[i], "CUDA_VISIBLE_DEVICES=", 21)))
            e[k++] = strdup(environ[i]);
    char b[128];
    snprintf(b, sizeof b, "OMP_NUM_THREADS=%d", c->o.threads);
    e[k++] = strdup(b);
    snprintf(b, sizeof b, "SOURCE_DATE_EPOCH=%lld", (long long)c->submitted);
    e[k++] = strdup(b);
    if (c->gpu[0]) {
        snprintf(b, sizeof b, "CUDA_VISIBLE_DEVICES=%s", c->gpu);
        e[k++] = strdup(b);
    }
    return e;
}

static void end_item_msg(run_ctx *c, run_slot *s, int status, const char *reason)
{
    run_msg m;
    memset(&m, 0, sizeof m);
    m.kind = M_END_ITEM;
    m.index = s->index;
    m.attempt = s->attempt;
    m.status = status;
    m.seconds = mono_now() - s->t0;
    snprintf(m.reason, sizeof m.reason, "%s", reason ? reason : "");
    if (status == ST_DONE)
        c->times.items_done++;
    else if (status != ST_ABANDONED)
        c->times.items_failed++;
    s->pid = 0;
    s->index = -1;
    cc_run_post_up(c, &m);
}

void cc_run_start_item(run_ctx *c, run_slot *s, int index, int attempt)
{
    const cc_job_item *it = &c->items[index];
    if (c->item_fn) { /* cc_run_dispatch: the item runs here, now */
        char why[256] = "";
        s->index = index;
        s->attempt = attempt;
        s->t0 = mono_now();
        int rc = c->item_fn(c->fn_arg, index, it, why, sizeof why);
        c->times.t[CC_STAGE_ITEM] += mono_now() - s->t0;
        end_item_msg(c, s, rc == 0 ? ST_DONE : ST_FAILED, rc == 0 ? NULL : why);
        return;
    }
    const char *crash = getenv("CLEARCUBE_TEST_CRASH_ITEM");
    if (crash && !strcmp(crash, it->id)) {
        /* test hook: this rank dies as if the item had crashed it */
        cc_errorlog("CLEARCUBE_TEST_CRASH_ITEM=%s: killing this rank", it->id);
        kill(getpid(), SIGKILL);
    }
    const char *sleep_id = getenv("CLEARCUBE_TEST_SLEEP_ITEM");
    int hang = sleep_id && !strcmp(sleep_id, it->id);
    const char *delay = getenv("CLEARCUBE_TEST_ITEM_DELAY_MS"); /* test hook: slow items */
    long delay_ms = delay ? strtol(delay, NULL, 10) : 0;
    struct timespec delay_ts = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};
    s->index = index;
    s->attempt = attempt;
    s->t0 = mono_now();
    s->killed = 0;
    fmt_buf(s->part, sizeof s->part, "%s/%s.part-%d.nc", c->staging, it->id, c->rank);
    fmt_buf(s->log, sizeof s->log, "%s/%s.log", c->staging, it->id);
    unlink(s->part);
    char **av = item_argv(c, it, s->part);
    int fd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (!av || it->ninputs < 1 || fd < 0) {
        cc_run_free_strv(av);
        if (fd >= 0)
            close(fd);
        end_item_msg(c, s, ST_FAILED, it->ninputs < 1 ? "item has no input" : "cannot start the item");
        return;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* child: async-signal-safe calls only, then exec */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        setpgid(0, 0);
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_IGN; /* the rank decides about SIGTERM (grace period) */
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGUSR1, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        dup2(fd, 1);
        dup2(fd, 2);
        if (hang)
            for (;;)
                pause();
        if (delay_ms > 0)
            nanosleep(&delay_ts, NULL);
        execve(c->exe, av, c->envp);
        _exit(127);
    }
    close(fd);
    cc_run_free_strv(av);
    if (pid < 0) {
        end_item_msg(c, s, ST_FAILED, "fork failed");
        return;
    }
    s->pid = pid;
    cc_debug("item %s (attempt %d) started, pid %ld", it->id, attempt, (long)pid);
}

/* Child `s` exited with wait status ws. */
void cc_run_finish_item(run_ctx *c, run_slot *s, int ws)
{
    const cc_job_item *it = &c->items[s->index];
    char reason[256] = "";
    double t_end = mono_now();
    c->times.t[CC_STAGE_ITEM] += t_end - s->t0;
    if (s->killed == ST_TIMEOUT) {
        snprintf(reason, sizeof reason, "timeout after %.0f s", c->o.timeout_s);
        end_item_msg(c, s, ST_TIMEOUT, reason);
        return;
    }
    if (s->killed == ST_ABANDONED) {
        end_item_msg(c, s, ST_ABANDONED, "abandoned at shutdown (grace period over)");
        return;
    }
    if (WIFSIGNALED(ws)) {
        snprintf(reason, sizeof reason, "item process killed by signal %d (%s)", WTERMSIG(ws),
                 strsignal(WTERMSIG(ws)));
        end_item_msg(c, s, ST_FAILED, reason);
        return;
    }
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
        child_reason(s->log, reason, sizeof reason);
        if (!reason[0])
            snprintf(reason, sizeof reason, "item process exited with %d", WEXITSTATUS(ws));
        /* the writers name a full disk (io/cube.c, core/fs.h); the partial
         * output is gone (its writer removed its temporary) */
        end_item_msg(c, s, strstr(reason, "no space left on device") ? ST_NOSPACE : ST_FAILED, reason);
        return;
    }
    cc_status st = validate_output(s->part, it);
    double t_val = mono_now();
    c->times.t[CC_STAGE_VALIDATE] += t_val - t_end;
    if (st != CC_OK) {
        snprintf(reason, sizeof reason, "invalid output: %s", cc_error_message());
        unlink(s->part);
        end_item_msg(c, s, ST_FAILED, reason);
        return;
    }
    char final[PATH_MAX + 80];
    snprintf(final, sizeof final, "%s/%s.nc", c->staging, it->id);
    if (cc_fs_commit(s->part, final) != CC_OK) {
        fmt_buf(reason, sizeof reason, "cannot commit %s: %s", final, cc_error_message());
        end_item_msg(c, s, strstr(reason, "no space left on device") ? ST_NOSPACE : ST_FAILED, reason);
        return;
    }
    unlink(s->log);
    c->times.t[CC_STAGE_COMMIT] += mono_now() - t_val;
    end_item_msg(c, s, ST_DONE, NULL);
}
