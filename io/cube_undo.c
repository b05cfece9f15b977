/* clearcube: the undo log that makes an in-place append crash safe
 * (cube_append.c; docs/formats/cube.md, "Appending in place").
 *
 * HDF5 rewrites its metadata (object headers, chunk index nodes, the
 * superblock, attribute heaps) in place, so a writer killed during an append
 * could leave a cube that no longer opens. Every byte HDF5 writes goes
 * through the file driver below (a POSIX driver like HDF5's sec2). Before it
 * overwrites any byte that the file held when the append began (offset <
 * base size), it copies the old bytes into "<cube>.undo" as a record
 * (offset, length, CRC-32, bytes), written and fdatasync'd before the
 * overwrite. Bytes beyond the base size are new (chunks of the new date,
 * relocated metadata) and need no record. Commit: fsync the cube, unlink the
 * undo log, fsync the directory. Roll back (cc_cube_recover, run before every
 * clearcube open and write of a cube): extend/truncate the cube to the base
 * size, write every complete record back, fsync, unlink the log. A record
 * torn by a kill was never followed by its overwrite, so it is skipped.
 *
 * The writer holds flock(LOCK_EX) on the undo log while it appends; a log
 * whose lock can be taken belongs to a dead writer and is rolled back. */
#define _GNU_SOURCE
#include "io/cube-impl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>
#include <zlib.h>

#include "core/fs.h"
#include "core/log.h"

#define UNDO_MAGIC "CCUNDO1\n"
#define UNDO_HDR 16 /* magic + base size (u64, little-endian host order) */

typedef struct {
    uint64_t a, b; /* [a, b) saved */
} span;

struct cc_cube_undo {
    char path[PATH_MAX];     /* the cube                                    */
    char log[PATH_MAX + 8];  /* <cube>.undo                                 */
    int fd;                  /* the undo log, flock'd                       */
    uint64_t base;           /* the cube's size when the append began       */
    span *saved;             /* ranges already in the log (sorted, merged)  */
    size_t nsaved, cap;
    uint64_t bytes_saved;
    int err;                 /* errno of the first failure (0: none)        */
};

/* ---- small I/O helpers ---------------------------------------------------- */

static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w, n -= (size_t)w;
    }
    return 0;
}

static int pwrite_all(int fd, const void *buf, size_t n, uint64_t off)
{
    const char *p = buf;
    while (n) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w, n -= (size_t)w, off += (uint64_t)w;
    }
    return 0;
}

/* Reads n bytes at off; bytes past the end of the file read as 0. */
static int pread_all(int fd, void *buf, size_t n, uint64_t off)
{
    char *p = buf;
    while (n) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0) {
            memset(p, 0, n);
            return 0;
        }
        p += r, n -= (size_t)r, off += (uint64_t)r;
    }
    return 0;
}

static void undo_log_path(const char *cube, char *out, size_t n) { snprintf(out, n, "%s.undo", cube); }

/* ---- recording ------------------------------------------------------------ */

static int span_add(cc_cube_undo *u, uint64_t a, uint64_t b)
{
    if (u->nsaved == u->cap) {
        size_t nc = u->cap ? 2 * u->cap : 64;
        span *s = realloc(u->saved, nc * sizeof *s);
        if (!s)
            return -1;
        u->saved = s, u->cap = nc;
    }
    size_t i = 0;
    while (i < u->nsaved && u->saved[i].a < a)
        i++;
    memmove(u->saved + i + 1, u->saved + i, (u->nsaved - i) * sizeof *u->saved);
    u->saved[i] = (span){a, b};
    u->nsaved++;
    /* merge neighbours */
    size_t o = 0;
    for (size_t k = 1; k < u->nsaved; k++) {
        if (u->saved[k].a <= u->saved[o].b) {
            if (u->saved[k].b > u->saved[o].b)
                u->saved[o].b = u->saved[k].b;
        } else
            u->saved[++o] = u->saved[k];
    }
    u->nsaved = o + 1;
    return 0;
}

/* Appends the old bytes [a, b) of the cube (fd) to the log, durably. */
static int save_range(cc_cube_undo *u, int fd, uint64_t a, uint64_t b)
{
    size_t n = (size_t)(b - a);
    unsigned char *buf = malloc(24 + n);
    if (!buf) {
        errno = ENOMEM;
        return -1;
    }
    if (pread_all(fd, buf + 24, n, a) != 0)
        goto fail;
    uint64_t len = n;
    uint32_t crc = (uint32_t)crc32(0L, Z_NULL, 0);
    crc = (uint32_t)crc32(crc, (const Bytef *)&a, 8);
    crc = (uint32_t)crc32(crc, (const Bytef *)&len, 8);
    crc = (uint32_t)crc32(crc, buf + 24, (uInt)n);
    uint32_t pad = 0;
    memcpy(buf, &a, 8);
    memcpy(buf + 8, &len, 8);
    memcpy(buf + 16, &crc, 4);
    memcpy(buf + 20, &pad, 4);
    if (write_all(u->fd, buf, 24 + n) != 0 || fdatasync(u->fd) != 0)
        goto fail;
    free(buf);
    u->bytes_saved += n;
    return span_add(u, a, b);
fail:
    free(buf);
    return -1;
}

/* Saves every byte of [a, b) below the base size not saved yet. */
static int undo_before_write(cc_cube_undo *u, int fd, uint64_t a, uint64_t b)
{
    if (b > u->base)
        b = u->base;
    while (a < b) {
        /* the first saved span that ends after a */
        size_t i = 0;
        while (i < u->nsaved && u->saved[i].b <= a)
            i++;
        if (i < u->nsaved && u->saved[i].a <= a) {
            a = u->saved[i].b;
            continue;
        }
        uint64_t e = i < u->nsaved && u->saved[i].a < b ? u->saved[i].a : b;
        if (save_range(u, fd, a, e) != 0)
            return -1;
        a = e;
    }
    return 0;
}

/* ---- the HDF5 file driver ------------------------------------------------- */

typedef struct {
    cc_cube_undo *u;
} undo_fapl;

typedef struct {
    H5FD_t pub; /* must be first */
    int fd;
    haddr_t eoa, eof;
    dev_t dev;
    ino_t ino;
    cc_cube_undo *u;
} undo_file;

static hid_t undo_driver_id = -1;

static void *fapl_get(H5FD_t *f)
{
    undo_fapl *c = malloc(sizeof *c);
    if (c)
        c->u = ((undo_file *)f)->u;
    return c;
}

static void *fapl_copy(const void *old)
{
    undo_fapl *c = malloc(sizeof *c);
    if (c)
        memcpy(c, old, sizeof *c);
    return c;
}

static herr_t fapl_free(void *p)
{
    free(p);
    return 0;
}

static H5FD_t *drv_open(const char *name, unsigned flags, hid_t fapl, haddr_t maxaddr)
{
    (void)maxaddr;
    const undo_fapl *c = H5Pget_driver_info(fapl);
    if (!c || !c->u || (flags & H5F_ACC_CREAT) || !(flags & H5F_ACC_RDWR))
        return NULL;
    int fd = open(name, O_RDWR | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        if (c->u && !c->u->err)
            c->u->err = errno;
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    undo_file *f = calloc(1, sizeof *f);
    if (!f) {
        close(fd);
        return NULL;
    }
    f->fd = fd;
    f->eof = (haddr_t)sb.st_size;
    f->dev = sb.st_dev;
    f->ino = sb.st_ino;
    f->u = c->u;
    return &f->pub;
}

static herr_t drv_close(H5FD_t *_f)
{
    undo_file *f = (undo_file *)_f;
    int rc = 0;
    if (fsync(f->fd) != 0) {
        if (!f->u->err)
            f->u->err = errno;
        rc = -1;
    }
    if (close(f->fd) != 0 && !rc) {
        if (!f->u->err)
            f->u->err = errno;
        rc = -1;
    }
    free(f);
    return rc;
}

static int drv_cmp(const H5FD_t *a, const H5FD_t *b)
{
    const undo_file *x = (const undo_file *)a, *y = (const undo_file *)b;
    if (x->dev != y->dev)
        return x->dev < y->dev ? -1 : 1;
    if (x->ino != y->ino)
        return x->ino < y->ino ? -1 : 1;
    return 0;
}

static herr_t drv_query(const H5FD_t *f, unsigned long *flags)
{
    (void)f;
    *flags = H5FD_FEAT_AGGREGATE_METADATA | H5FD_FEAT_ACCUMULATE_METADATA | H5FD_FEAT_DATA_SIEVE |
             H5FD_FEAT_AGGREGATE_SMALLDATA;
    return 0;
}

static haddr_t drv_get_eoa(const H5FD_t *f, H5FD_mem_t t)
{
    (void)t;
    return ((const undo_file *)f)->eoa;
}

static herr_t drv_set_eoa(H5FD_t *f, H5FD_mem_t t, haddr_t a)
{
    (void)t;
    ((undo_file *)f)->eoa = a;
    return 0;
}

static haddr_t drv_get_eof(const H5FD_t *f, H5FD_mem_t t)
{
    (void)t;
    return ((const undo_file *)f)->eof;
}

static herr_t drv_get_handle(H5FD_t *f, hid_t fapl, void **h)
{
    (void)fapl;
    *h = &((undo_file *)f)->fd;
    return 0;
}

static herr_t drv_read(H5FD_t *_f, H5FD_mem_t t, hid_t dxpl, haddr_t addr, size_t size, void *buf)
{
    (void)t, (void)dxpl;
    undo_file *f = (undo_file *)_f;
    if (pread_all(f->fd, buf, size, addr) != 0) {
        if (!f->u->err)
            f->u->err = errno;
        return -1;
    }
    return 0;
}

static herr_t drv_write(H5FD_t *_f, H5FD_mem_t t, hid_t dxpl, haddr_t addr, size_t size, const void *buf)
{
    (void)t, (void)dxpl;
    undo_file *f = (undo_file *)_f;
    if ((addr < f->u->base && undo_before_write(f->u, f->fd, addr, addr + size) != 0) ||
        pwrite_all(f->fd, buf, size, addr) != 0) {
        if (!f->u->err)
            f->u->err = errno ? errno : EIO;
        return -1;
    }
    if (addr + size > f->eof)
        f->eof = addr + size;
    return 0;
}

static herr_t drv_truncate(H5FD_t *_f, hid_t dxpl, hbool_t closing)
{
    (void)dxpl, (void)closing;
    undo_file *f = (undo_file *)_f;
    if (f->eoa == f->eof)
        return 0;
    /* bytes of the old file cut off are saved first */
    if (f->eoa < f->u->base && undo_before_write(f->u, f->fd, f->eoa, f->u->base) != 0)
        goto fail;
    if (ftruncate(f->fd, (off_t)f->eoa) != 0)
        goto fail;
    f->eof = f->eoa;
    return 0;
fail:
    if (!f->u->err)
        f->u->err = errno;
    return -1;
}

static const H5FD_class_t undo_class = {
    .name = "clearcube-undo",
    .maxaddr = (haddr_t)INT64_MAX,
    .fc_degree = H5F_CLOSE_WEAK,
    .fapl_size = sizeof(undo_fapl),
    .fapl_get = fapl_get,
    .fapl_copy = fapl_copy,
    .fapl_free = fapl_free,
    .open = drv_open,
    .close = drv_close,
    .cmp = drv_cmp,
    .query = drv_query,
    .get_eoa = drv_get_eoa,
    .set_eoa = drv_set_eoa,
    .get_eof = drv_get_eof,
    .get_handle = drv_get_handle,
    .read = drv_read,
    .write = drv_write,
    .truncate = drv_truncate,
    .fl_map = H5FD_FLMAP_DICHOTOMY,
};

/* ---- the log's life ------------------------------------------------------- */

cc_status cc_cube_undo_begin(const char *path, cc_cube_undo **out)
{
    cc_status st = CC_OK;
    struct stat sb;
    char tmp[PATH_MAX + 40] = "";
    cc_cube_undo *u = calloc(1, sizeof *u);
    *out = NULL;
    if (!u)
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
    u->fd = -1;
    snprintf(u->path, sizeof u->path, "%s", path);
    undo_log_path(path, u->log, sizeof u->log);
    if (stat(path, &sb) != 0) {
        st = cc_error_set(CC_ERR_IO, "%s: %s", path, strerror(errno));
        goto out;
    }
    u->base = (uint64_t)sb.st_size;
    if (access(u->log, F_OK) == 0) {
        st = cc_error_set(CC_ERR_IO, "%s: another append of this cube is in progress (its undo log exists)",
                          u->log);
        goto out;
    }
    /* the log is complete and locked before its name appears (a temporary renamed) */
    cc_fs_remove_stale_temps(u->log);
    CHECK_ST(cc_fs_temp_name(u->log, NULL, tmp, sizeof tmp));
    u->fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (u->fd < 0) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot create the undo log: %s", tmp, strerror(errno));
        goto out;
    }
    if (flock(u->fd, LOCK_EX | LOCK_NB) != 0 && errno != ENOLCK && errno != EOPNOTSUPP) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot lock the undo log: %s", tmp, strerror(errno));
        goto out;
    }
    unsigned char hdr[UNDO_HDR];
    memcpy(hdr, UNDO_MAGIC, 8);
    memcpy(hdr + 8, &u->base, 8);
    if (write_all(u->fd, hdr, sizeof hdr) != 0 || fsync(u->fd) != 0) {
        st = cc_fs_write_error(tmp, errno, "writing the undo log");
        goto out;
    }
    if (rename(tmp, u->log) != 0) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot create the undo log: %s", u->log, strerror(errno));
        goto out;
    }
    tmp[0] = 0;
    {
        char dir[PATH_MAX];
        const char *base;
        cc_fs_split_path(path, dir, sizeof dir, &base);
        CHECK_ST(cc_fs_fsync(dir, 1));
    }
    *out = u;
    u = NULL;
out:
    if (u) {
        if (u->fd >= 0)
            close(u->fd);
        if (tmp[0])
            unlink(tmp);
        free(u);
    }
    return st;
}

hid_t cc_cube_undo_fapl(cc_cube_undo *u)
{
    if (undo_driver_id < 0)
        undo_driver_id = H5FDregister(&undo_class);
    if (undo_driver_id < 0)
        return -1;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    undo_fapl c = {u};
    if (fapl < 0 || H5Pset_driver(fapl, undo_driver_id, &c) < 0 ||
        H5Pset_libver_bounds(fapl, H5F_LIBVER_EARLIEST, H5F_LIBVER_V18) < 0) {
        if (fapl >= 0)
            H5Pclose(fapl);
        return -1;
    }
    return fapl;
}

int cc_cube_undo_errno(const cc_cube_undo *u) { return u ? u->err : 0; }
unsigned long long cc_cube_undo_bytes(const cc_cube_undo *u) { return u ? u->bytes_saved : 0; }

static void undo_free(cc_cube_undo *u)
{
    if (u->fd >= 0)
        close(u->fd);
    free(u->saved);
    free(u);
}

cc_status cc_cube_undo_commit(cc_cube_undo *u)
{
    cc_status st = CC_OK;
    char dir[PATH_MAX];
    const char *base;
    if (!u)
        return CC_OK;
    /* the cube was fsync'd by the driver's close; the commit is the unlink */
    if (unlink(u->log) != 0) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot remove the undo log: %s", u->log, strerror(errno));
        goto out;
    }
    cc_fs_split_path(u->path, dir, sizeof dir, &base);
    st = cc_fs_fsync(dir, 1);
out:
    undo_free(u);
    return st;
}

/* Rolls the cube back from the log at u->log (fd open for reading). */
static cc_status roll_back(const char *cube, const char *log, int lfd)
{
    cc_status st = CC_OK;
    unsigned char hdr[UNDO_HDR];
    unsigned char *buf = NULL;
    int cfd = -1, nrec = 0;
    uint64_t base;
    ssize_t r = pread(lfd, hdr, sizeof hdr, 0);
    if (r != (ssize_t)sizeof hdr || memcmp(hdr, UNDO_MAGIC, 8) != 0) {
        /* the writer died before the header was durable: it never wrote to the cube */
        cc_warn("%s: an incomplete undo log of a killed append; removed (the cube was not modified)", log);
        goto done;
    }
    memcpy(&base, hdr + 8, 8);
    cfd = open(cube, O_RDWR | O_CLOEXEC);
    if (cfd < 0) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot open the cube to roll back a killed append: %s", cube,
                          strerror(errno));
        goto out;
    }
    if (ftruncate(cfd, (off_t)base) != 0) {
        st = cc_fs_write_error(cube, errno, "rolling back a killed append");
        goto out;
    }
    for (uint64_t off = UNDO_HDR;;) {
        unsigned char rh[24];
        uint64_t a, len;
        uint32_t crc;
        if (pread(lfd, rh, 24, (off_t)off) != 24)
            break;
        memcpy(&a, rh, 8);
        memcpy(&len, rh + 8, 8);
        memcpy(&crc, rh + 16, 4);
        if (len > base || a > base - len)
            break; /* torn */
        unsigned char *nb = realloc(buf, len ? len : 1);
        if (!nb) {
            st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", log);
            goto out;
        }
        buf = nb;
        if (pread(lfd, buf, len, (off_t)(off + 24)) != (ssize_t)len)
            break; /* torn: its overwrite never happened */
        uint32_t c = (uint32_t)crc32(0L, Z_NULL, 0);
        c = (uint32_t)crc32(c, (const Bytef *)&a, 8);
        c = (uint32_t)crc32(c, (const Bytef *)&len, 8);
        c = (uint32_t)crc32(c, buf, (uInt)len);
        if (c != crc)
            break;
        if (pwrite_all(cfd, buf, len, a) != 0) {
            st = cc_fs_write_error(cube, errno, "rolling back a killed append");
            goto out;
        }
        nrec++;
        off += 24 + len;
    }
    if (fsync(cfd) != 0) {
        st = cc_fs_write_error(cube, errno, "rolling back a killed append");
        goto out;
    }
    cc_warn("%s: rolled back an append that was killed (%d undo records, size %llu bytes)", cube, nrec,
            (unsigned long long)base);
done:
    if (unlink(log) != 0 && errno != ENOENT) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot remove the undo log: %s", log, strerror(errno));
        goto out;
    }
    {
        char dir[PATH_MAX];
        const char *b;
        cc_fs_split_path(cube, dir, sizeof dir, &b);
        st = cc_fs_fsync(dir, 1);
    }
out:
    if (cfd >= 0)
        close(cfd);
    free(buf);
    return st;
}

void cc_cube_undo_abort(cc_cube_undo *u)
{
    if (!u)
        return;
    int lfd = open(u->log, O_RDONLY | O_CLOEXEC);
    if (lfd >= 0) {
        if (roll_back(u->path, u->log, lfd) != CC_OK)
            cc_warn("%s", cc_error_message());
        close(lfd);
    }
    undo_free(u);
}

cc_status cc_cube_recover(const char *path)
{
    char log[PATH_MAX + 8];
    undo_log_path(path, log, sizeof log);
    int lfd = open(log, O_RDONLY | O_CLOEXEC);
    if (lfd < 0) {
        if (errno == ENOENT)
            return CC_OK;
        return cc_error_set(CC_ERR_IO, "%s: %s", log, strerror(errno));
    }
    cc_status st = CC_OK;
    if (flock(lfd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) { /* a live writer is appending: its commit or its abort ends the log */
            close(lfd);
            return CC_OK;
        }
        if (errno != ENOLCK && errno != EOPNOTSUPP) {
            st = cc_error_set(CC_ERR_IO, "%s: cannot lock: %s", log, strerror(errno));
            close(lfd);
            return st;
        }
    }
    st = roll_back(path, log, lfd);
    close(lfd);
    return st;
}
