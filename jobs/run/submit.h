/* clearcube: Slurm batch scripts for `clearcube run` (`clearcube submit`,
 * docs/running.md "Running on a Slurm cluster"): the template
 * slurm/clearcube.sbatch.in found, its @NAME@ placeholders filled, the script
 * written beside the run's output and handed to sbatch. */
#ifndef CC_JOBS_RUN_SUBMIT_H
#define CC_JOBS_RUN_SUBMIT_H

#include <stddef.h>
#include <stdio.h>

#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What the placeholders stand for (the script's words are shell-quoted). */
typedef struct {
    const char *job, *exe, *cwd, *name, *outdir, *partition, *account; /* partition, account: NULL = none */
    int nodes, gpus, ranks_per_node, array, stop_before, grace;         /* array 0: no job array         */
    const char *time;                                                   /* [D-]HH:MM:SS                   */
    char **run_args;                                                    /* appended to `clearcube run JOB` */
    int nrun_args;
    const char *log_pattern;                                            /* Slurm log name in outdir       */
    /* resources and scheduling (NULL / 0: not asked for; issue 15) */
    int cpus_per_task;     /* #SBATCH --cpus-per-task; also the run's --threads unless given  */
    int gpus_per_task;     /* #SBATCH --gpus-per-task with --gpu-bind=closest (instead of
                              --gpus-per-node)                                               */
    const char *mem, *mem_per_gpu, *qos, *constraint, *dependency;
    char **sbatch_args;    /* further "#SBATCH <arg>" lines, verbatim                         */
    int nsbatch_args;
    int max_requeues;      /* the script requeues after exit 75 at most this many times       */
    const char *daily_begin; /* --daily: when the next run starts, as `date -d` reads it
                                ("tomorrow 06:00", "now + 60 seconds")                         */
} cc_submit_vars;

/* The template's path into out (n bytes): opt (--template), else
 * $CLEARCUBE_SBATCH_TEMPLATE, else the shipped slurm/clearcube.sbatch.in among
 * the data files (core/datapath.h). */
cc_status cc_submit_find_template(const char *opt, char *out, size_t n);

/* The whole template as a string (malloc'd). */
cc_status cc_submit_read_template(const char *path, char **text);

/* Writes tpl with every @NAME@ placeholder replaced (any other '@' is copied);
 * an unknown placeholder is an error naming tpl_path (what came before it is
 * already written). */
cc_status cc_submit_render(FILE *f, const char *tpl, const char *tpl_path, const cc_submit_vars *v);

/* Writes the rendered script to <outdir>/<name>.sbatch (script, ns bytes),
 * runs `sbatch --parsable` on it ($CLEARCUBE_SBATCH names another sbatch) and
 * puts the Slurm job id into id (nid bytes). */
cc_status cc_submit_sbatch(const char *tpl, const char *tpl_path, const cc_submit_vars *v, char *script, size_t ns,
                           char *id, size_t nid);

#ifdef __cplusplus
}
#endif
#endif
