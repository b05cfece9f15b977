/* clearcube run: progress line, per-item JSON lines, run report (JSON + Markdown). */
#define _GNU_SOURCE /* PATH_MAX without CUDA headers */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <netcdf.h>

#include "core/fs.h"
#include "core/version.h"
#include "io/cube.h"
#include "io/s2/scene.h"
#include "jobs/run/journal.h"
#include "jobs/run/run-impl.h"

static const char *const state_names[] = {"pending", "running", "done", "failed", "quarantined"};
static const char *const tile_state_names[] = {"waiting", "ready", "assembling", "done", "failed",
                                               "no data"};

void cc_run_item_json(char *buf, size_t n, const cc_job_item *it, const cc_run_item_result *res,
                      const char *status, int attempt, int ndone, int ntotal)
{
    char id[160], tile[32], reason[600];
    cc_json_quote(id, sizeof id, it->id);
    cc_json_quote(tile, sizeof tile, it->tile_id);
    cc_json_quote(reason, sizeof reason, res->reason);
    snprintf(buf, n,
             "{\"item\":%s,\"tile\":%s,\"date\":\"%s\",\"status\":\"%s\",\"attempt\":%d,\"rank\":%d,"
             "\"seconds\":%.3f,\"done\":%d,\"total\":%d,\"reason\":%s}",
             id, tile, it->date, status, attempt, res->rank, res->seconds, ndone, ntotal,
             strcmp(status, "done") ? reason : "\"\"");
}

static void fmt_hms(char *b, size_t n, double s)
{
    if (!(s >= 0) || s > 1e8) {
        snprintf(b, n, "--:--:--");
        return;
    }
    long t = (long)(s + 0.5);
    snprintf(b, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
}

void cc_run_progress_print(FILE *f, int done, int failed, int total, int skipped, double elapsed_s,
                           int done_this_run, const char *slowest_id, int slowest_rank,
                           double slowest_s)
{
    double rate = elapsed_s > 0 ? done_this_run / elapsed_s : 0;
    int left = total - done - failed;
    char eta[32], el[32];
    fmt_hms(eta, sizeof eta, rate > 0 ? left / rate : -1);
    fmt_hms(el, sizeof el, elapsed_s);
    fprintf(f, "\r\033[K[clearcube run] %d/%d done", done, total);
    if (skipped)
        fprintf(f, " (%d earlier)", skipped);
    fprintf(f, ", %d failed | %.2f items/s | %s elapsed, ETA %s", failed, rate, el, eta);
    if (slowest_id)
        fprintf(f, " | slowest: %s on rank %d, %.0f s", slowest_id, slowest_rank, slowest_s);
    fflush(f);
}

static int cmp_slow(const void *a, const void *b, void *ctx)
{
    const cc_run_item_result *r = ctx;
    double x = r[*(const int *)a].seconds, y = r[*(const int *)b].seconds;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* insertion sort with a context (qsort_r is a GNU extension under C17) */
static void sort_slowest(int *idx, int n, const cc_run_item_result *r)
{
    for (int i = 1; i < n; i++)
        for (int k = i; k > 0 && cmp_slow(&idx[k - 1], &idx[k], (void *)r) > 0; k--) {
            int t = idx[k];
            idx[k] = idx[k - 1];
            idx[k - 1] = t;
        }
}

/* What each product of a same-day mosaic contributed: the mosaic note
 * (io/s2/scene.h) that ends the provenance of the item's committed cube,
 * "ID (baseline PB): N px of BAND; ..."; malloc'ed, NULL when there is none
 * (the item not done, or no staging folder given). */
static char *mosaic_note(const cc_run_report *r, const cc_job_item *it)
{
    char p[PATH_MAX + 200];
    int ncid;
    if (!r->staging || snprintf(p, sizeof p, "%s/%s.nc", r->staging, it->id) >= (int)sizeof p ||
        nc_open(p, NC_NOWRITE, &ncid) != NC_NOERR)
        return NULL;
    char *v = cc_cube_text_att(ncid, NC_GLOBAL, "inputs");
    nc_close(ncid);
    const char *t = v ? strstr(v, CC_SCENE_MOSAIC_TAG) : NULL;
    char *note = t ? strdup(t + strlen(CC_SCENE_MOSAIC_TAG)) : NULL;
    free(v);
    return note;
}

/* One part, "ID (baseline PB): N px of BAND": 1 and the fields, or 0. */
static int note_part(char *part, const char **id, const char **pb, unsigned long long *px, char band[8])
{
    char *b = NULL;
    for (char *x = strstr(part, " (baseline "); x; x = strstr(x + 1, " (baseline "))
        b = x; /* the last one: an id may hold the text */
    if (!b)
        return 0;
    char *pe = strstr(b, "): ");
    if (!pe || sscanf(pe + 3, "%llu px of %7s", px, band) != 2)
        return 0;
    *b = 0, *pe = 0;
    *id = part, *pb = b + 11;
    return 1;
}

/* The next part of a mosaic note at *cur, "ID (baseline PB): N px of BAND":
 * 1 and its fields (id and pb point into the note, which is cut; *cur moves
 * on), or 0 at the end. */
static int note_next(char **cur, const char **id, const char **pb, unsigned long long *px, char band[8])
{
    while (*cur && **cur) {
        char *part = *cur, *semi = strchr(part, ';');
        *cur = semi ? semi + 1 : NULL;
        if (semi)
            *semi = 0;
        while (*part == ' ')
            part++;
        if (note_part(part, id, pb, px, band))
            return 1;
    }
    return 0;
}

/* run-report.json: the contributions of a same-day mosaic's products (note:
 * mosaic_note's text, consumed). */
static void write_json_contributions(FILE *j, char *note)
{
    char q[PATH_MAX * 2 + 8];
    int k = 0;
    const char *id, *pb;
    unsigned long long px;
    char band[8];
    fprintf(j, ", \"contributions\": [");
    for (char *cur = note; note_next(&cur, &id, &pb, &px, band);) {
        cc_json_quote(q, sizeof q, id);
        fprintf(j, "%s{\"product\": %s, ", k++ ? ", " : "", q);
        cc_json_quote(q, sizeof q, pb);
        fprintf(j, "\"baseline\": %s, \"valid_pixels\": %llu, \"band\": \"%s\"}", q, px, band);
    }
    fprintf(j, "]");
}

/* run-report.json: counts (count[state], skipped), stages per rank, problems,
 * tiles, the slowest items (slow[0..nslow), slowest first), the mosaic. */
/* Same-day mosaics (items with several inputs, every one listed, with what
 * each contributed once the item is done) and the inputs the catalogue left
 * out, with why. */
static void write_json_inputs(FILE *j, const cc_run_report *r)
{
    char q[PATH_MAX * 2 + 8];
    fprintf(j, "  \"same_day_mosaics\": [");
    int first = 1;
    for (int i = 0; i < r->nitems; i++) {
        if (r->items[i].ninputs < 2)
            continue;
        cc_json_quote(q, sizeof q, r->items[i].id);
        fprintf(j, "%s\n    {\"item\": %s, \"inputs\": [", first ? "" : ",", q);
        for (int k = 0; k < r->items[i].ninputs; k++) {
            cc_json_quote(q, sizeof q, r->items[i].inputs[k]);
            fprintf(j, "%s%s", k ? ", " : "", q);
        }
        fprintf(j, "]");
        char *note = mosaic_note(r, &r->items[i]);
        write_json_contributions(j, note);
        free(note);
        fprintf(j, "}");
        first = 0;
    }
    fprintf(j, "%s],\n  \"inputs_not_used\": [", first ? "" : "\n  ");
    for (int i = 0; r->notes && i < r->notes->n; i++) {
        cc_json_quote(q, sizeof q, r->notes->lines[i]);
        fprintf(j, "%s\n    %s", i ? "," : "", q);
    }
    fprintf(j, "%s],\n", r->notes && r->notes->n ? "\n  " : "");
}

static void write_markdown_inputs(FILE *m, const cc_run_report *r)
{
    int nm = 0;
    for (int i = 0; i < r->nitems; i++)
        nm += r->items[i].ninputs > 1;
    if (nm) {
        fprintf(m, "\n## Same-day mosaics\n\nItems with several products of one tile and day: every product is "
                   "mosaicked, the newest processing baseline first where they overlap; an item fails rather than "
                   "leave one out (docs/formats/catalogue.md). *Contributed*: the valid pixels each product gave "
                   "the finest band, newest baseline first (from the item cube's `inputs` attribute).\n\n"
                   "| item | state | products | contributed |\n|---|---|---|---|\n");
        for (int i = 0; i < r->nitems; i++) {
            if (r->items[i].ninputs < 2)
                continue;
            fprintf(m, "| %s | %s |", r->items[i].id, state_names[r->results[i].state]);
            for (int k = 0; k < r->items[i].ninputs; k++)
                fprintf(m, "%s`%s`", k ? "<br>" : " ", r->items[i].inputs[k]);
            char *note = mosaic_note(r, &r->items[i]);
            int k = 0;
            const char *id, *pb;
            unsigned long long px;
            char band[8];
            fprintf(m, " |");
            for (char *cur = note; note_next(&cur, &id, &pb, &px, band); k++)
                fprintf(m, "%s`%s` (baseline %s): %llu px of %s", k ? "<br>" : " ", id, pb, px, band);
            fprintf(m, "%s |\n", k ? "" : " –");
            free(note);
        }
    }
    if (r->notes && r->notes->n) {
        fprintf(m, "\n## Inputs not used\n\n");
        for (int i = 0; i < r->notes->n; i++)
            fprintf(m, "- %s\n", r->notes->lines[i]);
    }
}

static void write_json(FILE *j, const cc_run_report *r, const int *count, int skipped, const int *slow,
                       int nslow)
{
    char q[PATH_MAX * 2 + 8];
    fprintf(j, "{\n  \"clearcube\": \"%s\",\n", CC_VERSION);
    cc_json_quote(q, sizeof q, r->job);
    fprintf(j, "  \"job\": %s,\n", q);
    cc_json_quote(q, sizeof q, r->output_dir);
    fprintf(j, "  \"output\": %s,\n  \"ranks\": %d,\n  \"submitted\": %lld,\n  \"wall_seconds\": %.3f,\n",
            q, r->nranks, (long long)r->submitted, r->wall_s);
    fprintf(j, "  \"exit_code\": %d,\n  \"stopped_by_signal\": %s,\n", r->exit_code,
            r->stopped ? "true" : "false");
    fprintf(j, "  \"items\": {\"total\": %d, \"done\": %d, \"done_earlier\": %d, \"failed\": %d, "
               "\"quarantined\": %d, \"pending\": %d},\n",
            r->nitems, count[CC_RI_DONE], skipped, count[CC_RI_FAILED], count[CC_RI_QUARANTINED],
            count[CC_RI_PENDING] + count[CC_RI_RUNNING]);
    fprintf(j, "  \"stages\": [\n");
    for (int k = 0; k < r->nranks; k++) {
        fprintf(j, "    {\"rank\": %d", k);
        if (r->devices) {
            char dev[2 * CC_RUN_DEVICE_LEN + 8];
            cc_json_quote(dev, sizeof dev, r->devices[k]);
            fprintf(j, ", \"device\": %s", dev);
        }
        for (int s = 0; s < CC_NSTAGES; s++)
            fprintf(j, ", \"%s_s\": %.3f", cc_run_stage_names[s], r->ranks[k].t[s]);
        fprintf(j, ", \"items_done\": %.0f, \"items_failed\": %.0f, \"tiles\": %.0f}%s\n",
                r->ranks[k].items_done, r->ranks[k].items_failed, r->ranks[k].tiles,
                k + 1 < r->nranks ? "," : "");
    }
    fprintf(j, "  ],\n  \"problems\": [");
    int first = 1;
    for (int i = 0; i < r->nitems; i++) {
        const cc_run_item_result *x = &r->results[i];
        if (x->state != CC_RI_FAILED && x->state != CC_RI_QUARANTINED)
            continue;
        char id[160], reason[600];
        cc_json_quote(id, sizeof id, r->items[i].id);
        cc_json_quote(reason, sizeof reason, x->reason);
        fprintf(j, "%s\n    {\"item\": %s, \"state\": \"%s\", \"attempts\": %d, \"failures\": %d, "
                   "\"crashes\": %d, \"reason\": %s}",
                first ? "" : ",", id, state_names[x->state], x->attempts, x->failures, x->crashes, reason);
        first = 0;
    }
    fprintf(j, "%s],\n  \"tiles\": [", first ? "" : "\n  ");
    for (int t = 0; t < r->ntiles; t++) {
        char reason[600];
        cc_json_quote(reason, sizeof reason, r->tiles[t].reason);
        fprintf(j, "%s\n    {\"tile\": \"%s\", \"items\": %d, \"dates\": %d, \"state\": \"%s\", "
                   "\"cube\": \"%s.nc\", \"reason\": %s}",
                t ? "," : "", r->tiles[t].tile, r->tiles[t].nitems, r->tiles[t].ndone,
                tile_state_names[r->tiles[t].state], r->tiles[t].tile,
                r->tiles[t].state == 3 ? "\"\"" : reason);
    }
    fprintf(j, "\n  ],\n  \"slowest\": [");
    for (int k = 0; k < nslow && k < 5; k++) {
        char id[160];
        cc_json_quote(id, sizeof id, r->items[slow[k]].id);
        fprintf(j, "%s{\"item\": %s, \"rank\": %d, \"seconds\": %.3f}", k ? ", " : "", id,
                r->results[slow[k]].rank, r->results[slow[k]].seconds);
    }
    fprintf(j, "],\n");
    write_json_inputs(j, r);
    if (r->mosaic_path) {
        cc_json_quote(q, sizeof q, r->mosaic_path);
        char e[600];
        cc_json_quote(e, sizeof e, r->mosaic_error ? r->mosaic_error : "");
        fprintf(j, "  \"mosaic\": {\"path\": %s, \"ok\": %s, \"error\": %s}\n", q,
                r->mosaic_error ? "false" : "true", e);
    } else {
        fprintf(j, "  \"mosaic\": null\n");
    }
    fprintf(j, "}\n");
}

/* run-report.md: the same, for people. */
static void write_markdown(FILE *m, const cc_run_report *r, const int *count, int skipped, const int *slow,
                           int nslow)
{
    fprintf(m, "# clearcube run report\n\n");
    fprintf(m, "| | |\n|---|---|\n| job | `%s` |\n| output | `%s` |\n| ranks | %d |\n"
               "| wall time | %.1f s |\n| exit code | %d%s |\n\n",
            r->job, r->output_dir, r->nranks, r->wall_s, r->exit_code,
            r->exit_code == 0 ? " (all done)" : r->exit_code == 3 ? " (partial failure)"
                              : r->exit_code == 75 ? " (stopped: rerun to resume)" : " (error)");
    fprintf(m, "## Items\n\n| total | done | of which done earlier | failed | quarantined | pending |\n"
               "|---:|---:|---:|---:|---:|---:|\n| %d | %d | %d | %d | %d | %d |\n\n",
            r->nitems, count[CC_RI_DONE], skipped, count[CC_RI_FAILED], count[CC_RI_QUARANTINED],
            count[CC_RI_PENDING] + count[CC_RI_RUNNING]);
    fprintf(m, "## Stages per rank (seconds, wall)\n\n| rank |");
    for (int s = 0; s < CC_NSTAGES; s++)
        fprintf(m, " %s |", cc_run_stage_names[s]);
    fprintf(m, " items done | items failed | tiles |%s\n|---:|", r->devices ? " device |" : "");
    for (int s = 0; s < CC_NSTAGES + 3; s++)
        fprintf(m, "---:|");
    fprintf(m, "%s\n", r->devices ? "---|" : "");
    for (int k = 0; k < r->nranks; k++) {
        fprintf(m, "| %d |", k);
        for (int s = 0; s < CC_NSTAGES; s++)
            fprintf(m, " %.2f |", r->ranks[k].t[s]);
        fprintf(m, " %.0f | %.0f | %.0f |", r->ranks[k].items_done, r->ranks[k].items_failed, r->ranks[k].tiles);
        if (r->devices)
            fprintf(m, " %s |", r->devices[k]);
        fprintf(m, "\n");
    }
    fprintf(m, "\n`item` is the wall time of the item processes (read + compute + write);\n"
               "`wait` is time with no item to run.\n\n");
    if (count[CC_RI_FAILED] + count[CC_RI_QUARANTINED]) {
        fprintf(m, "## Failed and quarantined items\n\n| item | state | attempts | crashes | reason |\n"
                   "|---|---|---:|---:|---|\n");
        for (int i = 0; i < r->nitems; i++) {
            const cc_run_item_result *x = &r->results[i];
            if (x->state == CC_RI_FAILED || x->state == CC_RI_QUARANTINED)
                fprintf(m, "| %s | %s | %d | %d | %s |\n", r->items[i].id, state_names[x->state],
                        x->attempts, x->crashes, x->reason);
        }
        fprintf(m, "\n");
    }
    fprintf(m, "## Tiles\n\n| tile | items | dates in cube | state | note |\n|---|---:|---:|---|---|\n");
    for (int t = 0; t < r->ntiles; t++)
        fprintf(m, "| %s | %d | %d | %s%s | %s |\n", r->tiles[t].tile, r->tiles[t].nitems,
                r->tiles[t].ndone, tile_state_names[r->tiles[t].state],
                r->tiles[t].skipped ? " (up to date)" : "",
                r->tiles[t].state == 3 ? "" : r->tiles[t].reason);
    if (nslow) {
        fprintf(m, "\n## Slowest items of this run\n\n| item | rank | seconds |\n|---|---:|---:|\n");
        for (int k = 0; k < nslow && k < 5; k++)
            fprintf(m, "| %s | %d | %.2f |\n", r->items[slow[k]].id, r->results[slow[k]].rank,
                    r->results[slow[k]].seconds);
    }
    write_markdown_inputs(m, r);
    if (r->mosaic_path)
        fprintf(m, "\n## Mosaic\n\n`%s`: %s\n", r->mosaic_path,
                r->mosaic_error ? r->mosaic_error : "written");
}

cc_status cc_run_report_write(const cc_run_report *r)
{
    cc_status st = CC_ERR_IO;
    char pj[PATH_MAX + 32], pm[PATH_MAX + 32], tmpj[PATH_MAX + 64], tmpm[PATH_MAX + 64];
    snprintf(pj, sizeof pj, "%s/run-report.json", r->output_dir);
    snprintf(pm, sizeof pm, "%s/run-report.md", r->output_dir);
    if ((st = cc_fs_temp_name(pj, NULL, tmpj, sizeof tmpj)) != CC_OK ||
        (st = cc_fs_temp_name(pm, NULL, tmpm, sizeof tmpm)) != CC_OK)
        return st;
    FILE *j = fopen(tmpj, "w"), *m = fopen(tmpm, "w");
    int *slow = malloc(((size_t)r->nitems + 1) * sizeof *slow);
    if (!j || !m || !slow) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot write the run report: %s", r->output_dir, strerror(errno));
        goto out;
    }
    int count[5] = {0}, skipped = 0, nslow = 0;
    for (int i = 0; i < r->nitems; i++) {
        count[r->results[i].state]++;
        skipped += r->results[i].skipped;
        if (r->results[i].rank >= 0 && r->results[i].seconds > 0)
            slow[nslow++] = i;
    }
    sort_slowest(slow, nslow, r->results);
    write_json(j, r, count, skipped, slow, nslow);
    write_markdown(m, r, count, skipped, slow, nslow);
    st = CC_OK;
out:
    if (j && fclose(j) != 0)
        st = cc_error_set(CC_ERR_IO, "%s: write failed", tmpj);
    if (m && fclose(m) != 0)
        st = cc_error_set(CC_ERR_IO, "%s: write failed", tmpm);
    const char *tl[2] = {tmpj, tmpm}, *fl[2] = {pj, pm};
    if (st == CC_OK)
        st = cc_fs_commit_all(2, tl, fl);
    else {
        cc_fs_abort(tmpj);
        cc_fs_abort(tmpm);
    }
    free(slow);
    return st;
}
