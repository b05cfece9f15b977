/* clearcube: the job journal (jobs/run/journal.h). */
#define _GNU_SOURCE /* getline, strdup, O_CLOEXEC */
#include "jobs/run/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

struct cc_journal {
    int fd;
    char *path;
};

void cc_json_quote(char *buf, size_t n, const char *s)
{
    size_t o = 0;
    if (n < 3) {
        if (n)
            buf[0] = 0;
        return;
    }
    buf[o++] = '"';
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p && o + 8 < n; p++) {
        if (*p == '"' || *p == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)*p;
        } else if (*p == '\n') {
            buf[o++] = '\\';
            buf[o++] = 'n';
        } else if (*p < 0x20) {
            o += (size_t)snprintf(buf + o, n - o, "\\u%04x", *p);
        } else {
            buf[o++] = (char)*p;
        }
    }
    buf[o++] = '"';
    buf[o] = 0;
}

/* ---- a scanner for the flat objects this file writes ---------------------- */

typedef struct {
    char event[16], item[64], status[16], reason[256], tile[16], digest[17];
    long long submitted;
} line_fields;

/* Parses a JSON string at *p (which points at the opening quote) into out
 * (truncated to n); advances *p past the closing quote. Returns 0 on success. */
static int scan_string(const char **p, char *out, size_t n)
{
    const char *s = *p;
    size_t o = 0;
    if (*s != '"')
        return -1;
    for (s++; *s && *s != '"'; s++) {
        char c = *s;
        if (c == '\\') {
            s++;
            if (!*s)
                return -1;
            c = *s == 'n' ? '\n' : *s == 't' ? '\t' : *s;
            if (*s == 'u') { /* \u00XX: control characters only */
                if (strlen(s) < 5)
                    return -1;
                char hex[5] = {s[1], s[2], s[3], s[4], 0};
                c = (char)strtol(hex, NULL, 16);
                s += 4;
            }
        }
        if (out && o + 1 < n)
            out[o++] = c;
    }
    if (*s != '"')
        return -1;
    if (out && n)
        out[o] = 0;
    *p = s + 1;
    return 0;
}

static int scan_line(const char *line, line_fields *f)
{
    memset(f, 0, sizeof *f);
    const char *p = line;
    while (*p == ' ')
        p++;
    if (*p++ != '{')
        return -1;
    for (;;) {
        char key[32], val[256];
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == '}')
            return f->event[0] ? 0 : -1;
        if (scan_string(&p, key, sizeof key) || *p++ != ':')
            return -1;
        if (*p == '"') {
            if (scan_string(&p, val, sizeof val))
                return -1;
        } else {
            size_t k = strcspn(p, ",}");
            if (!p[k] || k >= sizeof val)
                return -1;
            memcpy(val, p, k);
            val[k] = 0;
            p += k;
        }
#define TAKE(name)                                                     \
    if (!strcmp(key, #name)) {                                         \
        if (snprintf(f->name, sizeof f->name, "%s", val) < 0)          \
            return -1;                                                 \
        continue;                                                      \
    }
        TAKE(event) TAKE(item) TAKE(status) TAKE(reason) TAKE(tile) TAKE(digest)
#undef TAKE
        if (!strcmp(key, "submitted"))
            f->submitted = strtoll(val, NULL, 10);
    }
}

static int cmp_item(const void *a, const void *b)
{
    return strcmp(((const cc_journal_item *)a)->id, ((const cc_journal_item *)b)->id);
}

static int cmp_tile(const void *a, const void *b)
{
    return strcmp(((const cc_journal_tile *)a)->tile, ((const cc_journal_tile *)b)->tile);
}

/* Finds or adds an entry while replaying (linear search in the unsorted tail
 * is avoided by keeping a sorted array and inserting: journals hold at most a
 * few hundred thousand items, and replay happens once per run). */
static cc_journal_item *item_slot(cc_journal_state *st, int *cap, const char *id)
{
    int lo = 0, hi = st->nitems;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        int c = strcmp(st->items[mid].id, id);
        if (c == 0)
            return &st->items[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (st->nitems == *cap) {
        int nc = *cap ? *cap * 2 : 256;
        cc_journal_item *ni = realloc(st->items, (size_t)nc * sizeof *ni);
        if (!ni)
            return NULL;
        st->items = ni;
        *cap = nc;
    }
    memmove(&st->items[lo + 1], &st->items[lo], (size_t)(st->nitems - lo) * sizeof *st->items);
    memset(&st->items[lo], 0, sizeof *st->items);
    snprintf(st->items[lo].id, sizeof st->items[lo].id, "%s", id);
    st->nitems++;
    return &st->items[lo];
}

cc_status cc_journal_replay(const char *path, cc_journal_state *st)
{
    cc_status rc = CC_OK;
    char *line = NULL;
    size_t cap = 0;
    int icap = 0;
    unsigned char *open = NULL; /* per item: started and not yet ended */
    memset(st, 0, sizeof *st);
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT)
            return CC_OK;
        return cc_error_set(CC_ERR_IO, "%s: cannot read journal: %s", path, strerror(errno));
    }
    ssize_t len;
    line_fields lf;
    /* "open" flags live in a side array that follows item insertions */
    while ((len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] != '\n')
            break; /* torn last line of a killed writer */
        line[len - 1] = 0;
        if (scan_line(line, &lf) != 0)
            continue;
        if (!strcmp(lf.event, "job")) {
            st->submitted = lf.submitted;
            continue;
        }
        if (!strcmp(lf.event, "run")) {
            st->runs++;
            for (int i = 0; i < st->nitems; i++)
                if (st->items[i].starts > 0 && open && open[i]) {
                    st->items[i].crashes++;
                    open[i] = 0;
                }
            continue;
        }
        if (!strcmp(lf.event, "tile")) {
            if (strcmp(lf.status, "done") != 0)
                continue;
            cc_journal_tile *t = NULL;
            for (int i = 0; i < st->ntiles; i++)
                if (!strcmp(st->tiles[i].tile, lf.tile))
                    t = &st->tiles[i];
            if (!t) {
                cc_journal_tile *nt = realloc(st->tiles, (size_t)(st->ntiles + 1) * sizeof *nt);
                if (!nt) {
                    rc = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
                    goto out;
                }
                st->tiles = nt;
                t = &st->tiles[st->ntiles++];
                memset(t, 0, sizeof *t);
                snprintf(t->tile, sizeof t->tile, "%s", lf.tile);
            }
            snprintf(t->digest, sizeof t->digest, "%s", lf.digest);
            continue;
        }
        if (!lf.item[0])
            continue;
        int before = st->nitems;
        cc_journal_item *it = item_slot(st, &icap, lf.item);
        if (!it) {
            rc = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
            goto out;
        }
        int idx = (int)(it - st->items);
        if (st->nitems != before) { /* inserted at idx: shift the open flags */
            unsigned char *no = realloc(open, (size_t)icap);
            if (!no) {
                rc = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
                goto out;
            }
            open = no;
            memmove(open + idx + 1, open + idx, (size_t)(st->nitems - 1 - idx));
            open[idx] = 0;
        }
        if (!strcmp(lf.event, "start")) {
            if (open[idx])
                it->crashes++;
            it->starts++;
            open[idx] = 1;
        } else if (!strcmp(lf.event, "end")) {
            open[idx] = 0;
            if (!strcmp(lf.status, "done")) {
                it->done = 1;
                it->done_count++;
            } else if (!strcmp(lf.status, "failed") || !strcmp(lf.status, "timeout")) {
                it->failures++;
                snprintf(it->reason, sizeof it->reason, "%s", lf.reason);
            }
        } else if (!strcmp(lf.event, "reset")) { /* --retry-failed */
            it->failures = it->crashes = it->quarantined = 0;
            it->reason[0] = 0;
        } else if (!strcmp(lf.event, "quarantine")) {
            it->quarantined = 1;
        }
    }
    for (int i = 0; i < st->nitems; i++)
        if (open && open[i])
            st->items[i].crashes++;
    if (st->ntiles > 1)
        qsort(st->tiles, (size_t)st->ntiles, sizeof *st->tiles, cmp_tile);
out:
    if (rc != CC_OK)
        cc_journal_state_free(st);
    free(open);
    free(line);
    fclose(f);
    return rc;
}

void cc_journal_state_free(cc_journal_state *st)
{
    if (!st)
        return;
    free(st->items);
    free(st->tiles);
    memset(st, 0, sizeof *st);
}

const cc_journal_item *cc_journal_find(const cc_journal_state *st, const char *id)
{
    if (!st->nitems)
        return NULL;
    cc_journal_item key;
    snprintf(key.id, sizeof key.id, "%s", id);
    return bsearch(&key, st->items, (size_t)st->nitems, sizeof key, cmp_item);
}

const cc_journal_tile *cc_journal_find_tile(const cc_journal_state *st, const char *tile)
{
    if (!st->ntiles)
        return NULL;
    cc_journal_tile key;
    snprintf(key.tile, sizeof key.tile, "%s", tile);
    return bsearch(&key, st->tiles, (size_t)st->ntiles, sizeof key, cmp_tile);
}

static cc_status write_line(cc_journal *j, const char *line)
{
    size_t n = strlen(line), off = 0;
    while (off < n) {
        ssize_t w = write(j->fd, line + off, n - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return cc_error_set(CC_ERR_IO, "%s: cannot append to journal: %s", j->path, strerror(errno));
        }
        off += (size_t)w;
    }
    if (fsync(j->fd) != 0)
        return cc_error_set(CC_ERR_IO, "%s: cannot fsync journal: %s", j->path, strerror(errno));
    return CC_OK;
}

cc_status cc_journal_open(const char *path, int64_t submitted, const char *job, int nitems,
                          cc_journal **out)
{
    cc_status st = CC_ERR_IO;
    cc_journal *j = calloc(1, sizeof *j);
    *out = NULL;
    if (j)
        j->fd = -1;
    if (!j || !(j->path = strdup(path))) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    j->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (j->fd < 0) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot open journal: %s", path, strerror(errno));
        goto out;
    }
    struct stat sb;
    if (fstat(j->fd, &sb) != 0) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot stat journal: %s", path, strerror(errno));
        goto out;
    }
    /* room for this run's lines, reserved beyond the end (the size does not
     * change): on a disk that fills up, the journal can still record the
     * failures and its close line (issue 17). Best effort. */
    if (fallocate(j->fd, FALLOC_FL_KEEP_SIZE, sb.st_size, 256 << 10) != 0)
        cc_debug("%s: cannot reserve journal space: %s", path, strerror(errno));
    if (sb.st_size == 0) {
        char q[1024], line[1200];
        cc_json_quote(q, sizeof q, job);
        snprintf(line, sizeof line,
                 "{\"event\":\"job\",\"version\":1,\"submitted\":%lld,\"job\":%s,\"items\":%d}\n",
                 (long long)submitted, q, nitems);
        if ((st = write_line(j, line)) != CC_OK)
            goto out;
    }
    *out = j;
    j = NULL;
    st = CC_OK;
out:
    cc_journal_close(j);
    return st;
}

cc_status cc_journal_append(cc_journal *j, const char *event, const char *json_fields)
{
    size_t n = strlen(event) + strlen(json_fields) + 32;
    char stackbuf[2048];
    char *line = n <= sizeof stackbuf ? stackbuf : malloc(n);
    if (!line)
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", j->path);
    snprintf(line, n, "{\"event\":\"%s\"%s%s}\n", event, *json_fields ? "," : "", json_fields);
    cc_status st = write_line(j, line);
    if (line != stackbuf)
        free(line);
    return st;
}

void cc_journal_close(cc_journal *j)
{
    if (!j)
        return;
    if (j->fd >= 0)
        close(j->fd);
    free(j->path);
    free(j);
}
