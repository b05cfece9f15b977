#define _GNU_SOURCE /* clock_gettime */
#include "core/progress.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

struct cc_progress {
    char task[64], unit[32], note[96];
    _Atomic uint64_t done, total;
    int bar;             /* live bar on the terminal, else lines */
    double interval_s;   /* between lines; 0: every whole percent */
    double t0, t_last;   /* start, last output */
    int last_pct, nlines;
    pthread_mutex_t lock;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* "1h02m", "3m05s", "12s" */
static void fmt_dur(char *b, size_t n, double s)
{
    if (!(s >= 0) || !isfinite(s)) {
        snprintf(b, n, "?");
        return;
    }
    long t = lround(s);
    if (t >= 3600)
        snprintf(b, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60)
        snprintf(b, n, "%ldm%02lds", t / 60, t % 60);
    else
        snprintf(b, n, "%lds", t);
}

cc_progress *cc_progress_start(const char *task, const char *unit, uint64_t total)
{
    cc_progress *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    snprintf(p->task, sizeof p->task, "%s", task ? task : "");
    snprintf(p->unit, sizeof p->unit, "%s", unit ? unit : "");
    atomic_store(&p->total, total);
    p->bar = isatty(2) && cc_log_get_format() == CC_LOG_TEXT && cc_log_get_level() <= CC_LOG_INFO &&
             cc_log_get_rank() < 0;
    const char *iv = getenv("CLEARCUBE_PROGRESS_INTERVAL");
    char *end = NULL;
    p->interval_s = 10;
    if (iv && *iv) {
        double v = strtod(iv, &end);
        if (!*end && v >= 0 && isfinite(v))
            p->interval_s = v;
    }
    p->t0 = p->t_last = now_s();
    p->last_pct = -1;
    pthread_mutex_init(&p->lock, NULL);
    return p;
}

void cc_progress_total(cc_progress *p, uint64_t total)
{
    if (p)
        atomic_store(&p->total, total);
}

/* Draws the bar or logs a line when it is time; final: the end. Called with
 * p->lock held. */
static void report(cc_progress *p, int final)
{
    uint64_t done = atomic_load(&p->done), total = atomic_load(&p->total);
    if (total && done > total)
        done = total;
    double t = now_s(), el = t - p->t0;
    int pct = total ? (int)(100.0 * (double)done / (double)total) : -1;
    double eta = total && done ? el * (double)(total - done) / (double)done : -1;
    char se[24], sl[24], msg[384];
    fmt_dur(se, sizeof se, el);
    fmt_dur(sl, sizeof sl, eta);
    if (p->bar) {
        if (!final && t - p->t_last < 0.2)
            return;
        char bar[21];
        int fill = pct < 0 ? 0 : pct / 5;
        for (int i = 0; i < 20; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[20] = '\0';
        if (final)
            snprintf(msg, sizeof msg, "%s [%s] %3d%%  %llu/%llu %s  %s%s", p->task, bar, pct < 0 ? 100 : pct,
                     (unsigned long long)done, (unsigned long long)total, p->unit, se, p->note);
        else
            snprintf(msg, sizeof msg, "%s [%s] %3d%%  %llu/%llu %s  %s, ETA %s%s", p->task, bar,
                     pct < 0 ? 0 : pct, (unsigned long long)done, (unsigned long long)total, p->unit, se, sl,
                     p->note);
        cc_log_status_line(msg, 0);
        if (final)
            cc_log_status_line(NULL, 1);
        p->t_last = t;
        return;
    }
    cc_log_level lvl = cc_log_get_rank() >= 0 ? CC_LOG_DEBUG : CC_LOG_INFO;
    if (final && total && done < total)
        return; /* stopped by an error: the caller reports it */
    if (final) {
        snprintf(msg, sizeof msg, "%s: done, %llu %s in %s%s", p->task, (unsigned long long)done, p->unit, se,
                 p->note);
        cc_log_progress(p->nlines ? lvl : CC_LOG_DEBUG, msg, p->task, done, total, el, 0);
        return;
    }
    if (p->interval_s > 0 ? t - p->t_last < p->interval_s : pct == p->last_pct)
        return;
    if (total)
        snprintf(msg, sizeof msg, "%s: %d%% (%llu/%llu %s), %s elapsed, ETA %s%s", p->task, pct,
                 (unsigned long long)done, (unsigned long long)total, p->unit, se, sl, p->note);
    else
        snprintf(msg, sizeof msg, "%s: %llu %s, %s elapsed%s", p->task, (unsigned long long)done, p->unit, se,
                 p->note);
    cc_log_progress(lvl, msg, p->task, done, total, el, eta);
    p->t_last = t;
    p->last_pct = pct;
    p->nlines++;
}

static void maybe_report(cc_progress *p)
{
    /* one thread reports; the others carry on */
    if (pthread_mutex_trylock(&p->lock) != 0)
        return;
    report(p, 0);
    pthread_mutex_unlock(&p->lock);
}

void cc_progress_add(cc_progress *p, uint64_t n)
{
    if (!p)
        return;
    atomic_fetch_add(&p->done, n);
    maybe_report(p);
}

void cc_progress_set(cc_progress *p, uint64_t done)
{
    if (!p)
        return;
    atomic_store(&p->done, done);
    maybe_report(p);
}

void cc_progress_note(cc_progress *p, const char *note)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    snprintf(p->note, sizeof p->note, "%s%s", note && note[0] ? ", " : "", note ? note : "");
    pthread_mutex_unlock(&p->lock);
}

void cc_progress_end(cc_progress *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    report(p, 1);
    pthread_mutex_unlock(&p->lock);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
