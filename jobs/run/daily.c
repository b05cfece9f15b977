/* clearcube: daily operation of a region (jobs/run/daily.h). */
#define _GNU_SOURCE
#include "jobs/run/daily.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/date.h"
#include "core/fs.h"
#include "core/log.h"
#include "io/cube.h"
#include "io/grid/mgrs.h"
#include "jobs/run/job.h"
#include "jobs/run/journal.h"
#include "pipeline/cloudless/state.h"

/* The newest day in the tile's Sentinel-2 and Landsat cubes (-1: none). */
static long newest_ingested(const char *dir, const char *tile)
{
    long best = -1;
    const cc_sensor s[2] = {CC_SENSOR_S2, CC_SENSOR_LANDSAT};
    for (int k = 0; k < 2; k++) {
        char path[4096];
        struct stat sb;
        int n = 0;
        double *days = NULL;
        cc_cube_sensor_path(path, sizeof path, dir, tile, s[k]);
        if (stat(path, &sb) != 0)
            continue;
        if (cc_cube_dates(path, &n, &days) == CC_OK && n > 0 && (long)floor(days[n - 1] + 0.5) > best)
            best = (long)floor(days[n - 1] + 0.5);
        free(days);
    }
    cc_error_clear();
    return best;
}

/* The tiles of the job's area that have a Sentinel-2 or Landsat cube in a
 * catalogue folder (the first folder holding one), sorted; malloc'd. */
static cc_status job_tiles(const cc_job *job, char (**tiles)[8], char ***dirs, int *nt)
{
    char **ids = NULL;
    int nids = 0;
    cc_status st = CC_OK;
    *tiles = NULL, *dirs = NULL, *nt = 0;
    if (job->area_kind == CC_AREA_BBOX)
        st = cc_mgrs_tiles_bbox(job->bbox[0], job->bbox[1], job->bbox[2], job->bbox[3], &ids, &nids);
    else if (job->area_kind == CC_AREA_GEOJSON)
        st = cc_mgrs_tiles_geojson(job->geojson_path, &ids, &nids);
    if (st != CC_OK)
        return st;
    int n = job->area_kind == CC_AREA_TILES ? job->ntiles : nids;
    *tiles = calloc((size_t)n + 1, sizeof **tiles);
    *dirs = calloc((size_t)n + 1, sizeof **dirs);
    if (!*tiles || !*dirs) {
        st = cc_error_set(CC_ERR_NOMEM, "daily: out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        const char *t = job->area_kind == CC_AREA_TILES ? job->tiles[i] : ids[i];
        if (t[0] == 'T' && strlen(t) == 6)
            t++;
        for (int c = 0; c < job->ncatalogues; c++) {
            char p1[4096], p2[4096];
            struct stat sb;
            cc_cube_sensor_path(p1, sizeof p1, job->catalogues[c], t, CC_SENSOR_S2);
            cc_cube_sensor_path(p2, sizeof p2, job->catalogues[c], t, CC_SENSOR_LANDSAT);
            if (stat(p1, &sb) == 0 || stat(p2, &sb) == 0) {
                snprintf((*tiles)[*nt], 8, "%s", t);
                if (!((*dirs)[(*nt)++] = strdup(job->catalogues[c]))) {
                    st = cc_error_set(CC_ERR_NOMEM, "daily: out of memory");
                    goto out;
                }
                break;
            }
        }
    }
    for (int x = 0; x < *nt; x++) /* insertion sort by tile */
        for (int y = x; y > 0 && strcmp((*tiles)[y - 1], (*tiles)[y]) > 0; y--) {
            char tt[8], *dd = (*dirs)[y];
            memcpy(tt, (*tiles)[y], 8), memcpy((*tiles)[y], (*tiles)[y - 1], 8), memcpy((*tiles)[y - 1], tt, 8);
            (*dirs)[y] = (*dirs)[y - 1], (*dirs)[y - 1] = dd;
        }
out:
    cc_mgrs_ids_free(ids, nids);
    return st;
}

/* One tile: its new days, journaled. */
static cc_status daily_tile(const cc_daily_args *a, const char *out, const char *dir, const char *tile, long first,
                            long last, cc_journal *j, int *done)
{
    char state[PATH_MAX], cube[PATH_MAX], fields[1400], q[600], d0[CC_DATE_ISO_SIZE], d1[CC_DATE_ISO_SIZE];
    snprintf(state, sizeof state, "%s/%s.state.nc", out, tile);
    snprintf(cube, sizeof cube, "%s/%s_nowcast.nc", out, tile);
    cc_cl_state_args sa = {.cube_dir = dir, .tile = tile, .first_day = first, .last_day = last, .state_in = state,
                           .state_out = state, .out_path = cube, .params_path = a->params,
                           .block_rows = a->block_rows};
    cc_cl_state_stats s;
    cc_status st = cc_cl_state_run(&sa, &s);
    if (st != CC_OK) {
        cc_json_quote(q, sizeof q, cc_error_message());
        cc_date_format(last, d1);
        snprintf(fields, sizeof fields, "\"item\":\"%s_%.4s%.2s%.2s\",\"attempt\":1,\"rank\":0,\"status\":\"failed\","
                 "\"seconds\":%.3f,\"reason\":%s", tile, d1, d1 + 5, d1 + 8, s.s_total, q);
        cc_journal_append(j, "end", fields);
        cc_log(CC_LOG_ERROR, "daily: tile %s: %s", tile, cc_error_message());
        return st;
    }
    for (long d = s.first_day; d <= s.last_day && s.ndays > 0; d++) {
        cc_date_format(d, d0);
        snprintf(fields, sizeof fields, "\"item\":\"%s_%.4s%.2s%.2s\",\"attempt\":1,\"rank\":0,\"status\":\"done\","
                 "\"seconds\":%.3f,\"reason\":\"\"", tile, d0, d0 + 5, d0 + 8, s.s_total / s.ndays);
        if ((st = cc_journal_append(j, "end", fields)) != CC_OK)
            return st;
        (*done)++;
    }
    if (s.ndays > 0) {
        cc_date_format(s.first_day, d0);
        cc_date_format(s.last_day, d1);
        cc_info("daily: tile %s: %s..%s (%d day(s)) in %.1f s", tile, d0, d1, s.ndays, s.s_total);
    }
    return CC_OK;
}

cc_status cc_daily_run(const cc_daily_args *a, int *days_done, int *tiles_failed)
{
    cc_status st = CC_OK, last_err = CC_OK;
    cc_job job;
    char (*tiles)[8] = NULL;
    char **dirs = NULL;
    int nt = 0;
    cc_journal *j = NULL;
    cc_fs_lock *lock = NULL;
    char jpath[PATH_MAX], lpath[PATH_MAX], line[256];
    memset(&job, 0, sizeof job);
    *days_done = 0, *tiles_failed = 0;
    if ((st = cc_job_load(a->job_path, &job)) != CC_OK)
        goto out;
    if (!job.product || strcmp(job.product, "cloudless") != 0) {
        st = cc_error_set(CC_ERR_ARG, "%s: daily operation needs a job of product 'cloudless' (not '%s')",
                          a->job_path, job.product ? job.product : "reference");
        goto out;
    }
    const char *out = a->output ? a->output : job.output_dir;
    if (!out || (st = cc_fs_mkdir_p(out, 0755)) != CC_OK) {
        if (!out)
            st = cc_error_set(CC_ERR_ARG, "%s: no output folder", a->job_path);
        goto out;
    }
    snprintf(lpath, sizeof lpath, "%s/daily.lock", out);
    if ((st = cc_fs_lock_acquire(lpath, "the daily output folder", a->wait_s, &lock)) != CC_OK)
        goto out;
    if ((st = job_tiles(&job, &tiles, &dirs, &nt)) != CC_OK)
        goto out;
    long first = 0, end = 0;
    cc_date_parse(job.start_date, &first);
    cc_date_parse(job.end_date, &end);
    long today = a->today >= 0 ? a->today : (long)(time(NULL) / 86400);
    snprintf(jpath, sizeof jpath, "%s/daily.jsonl", out);
    if ((st = cc_journal_open(jpath, (int64_t)time(NULL), a->job_path, 0, &j)) != CC_OK)
        goto out;
    char td[CC_DATE_ISO_SIZE];
    cc_date_format(today, td);
    snprintf(line, sizeof line, "\"run\":0,\"ranks\":1,\"time\":%lld,\"today\":\"%s\"", (long long)time(NULL), td);
    if ((st = cc_journal_append(j, "run", line)) != CC_OK)
        goto out;
    for (int k = 0; k < nt; k++) {
        long last = newest_ingested(dirs[k], tiles[k]);
        if (last < today - a->lag_days) /* days without acquisition, once the ingest delay is over */
            last = today - a->lag_days;
        if (last > end)
            last = end;
        if (last > today)
            last = today;
        if (last < first) {
            cc_info("daily: tile %s: no day ingested in %s..%s yet", tiles[k], job.start_date, job.end_date);
            continue;
        }
        cc_status ts = daily_tile(a, out, dirs[k], tiles[k], first, last, j, days_done);
        if (ts != CC_OK)
            last_err = ts, (*tiles_failed)++;
    }
    snprintf(line, sizeof line, "\"run\":0,\"exit\":%d,\"time\":%lld", *tiles_failed ? 1 : 0, (long long)time(NULL));
    cc_journal_append(j, "close", line);
    st = last_err;
    if (st != CC_OK)
        cc_error_set(st, "daily: %d tile(s) failed (the journal %s says why)", *tiles_failed, jpath);
out:
    cc_journal_close(j);
    for (int k = 0; k < nt; k++)
        free(dirs[k]);
    free(dirs);
    free(tiles);
    cc_job_free(&job);
    cc_fs_lock_release(lock);
    return st;
}
