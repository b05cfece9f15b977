/* clearcube: checks a .zip archive before any entry is read through GDAL's
 * /vsizip/ (cc_s2_zip_check, s2_mtd.h).
 *
 * An archive built to attack is not a product, so it is refused as a whole
 * instead of being read with the odd entries ignored:
 * - an entry whose name is absolute ("/x", "C:x"), uses backslashes or has a
 *   ".." component (zip-slip);
 * - an entry that is a symbolic link (Unix mode in the external attributes);
 * - an encrypted entry, a compression method other than stored/deflate;
 * - an entry whose declared size is implausible for its compressed size
 *   (more than 1000:1 above 64 MiB: a zip bomb);
 * - with `sizes`: an entry that does not inflate to exactly its declared size
 *   (or whose CRC-32 differs). This pass reads every byte once; the caller
 *   runs it when manifest.safe checksums are not verified, so that size
 *   checks never depend on checksum verification.
 * The central directory is read with plain stdio (ZIP64 included); the
 * archive is never extracted. */
#define _FILE_OFFSET_BITS 64
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "core/error.h"
#include "io/s2/s2_mtd.h"

#define ZC_CHUNK (1u << 18)
#define ZC_MAX_RATIO 1000ull
#define ZC_RATIO_FLOOR (64ull << 20)

static uint32_t rd16(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t rd32(const unsigned char *p)
{
    return rd16(p) | rd16(p + 2) << 16;
}

static uint64_t rd64(const unsigned char *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static int read_at(FILE *f, uint64_t off, void *buf, size_t n)
{
    return fseeko(f, (off_t)off, SEEK_SET) == 0 && fread(buf, 1, n, f) == n;
}

/* The central directory's offset, size and entry count (ZIP64 aware). */
static cc_status find_directory(FILE *f, const char *zip, uint64_t *cd_off, uint64_t *cd_size, uint64_t *count)
{
    unsigned char tail[65557];
    if (fseeko(f, 0, SEEK_END) != 0)
        return cc_error_set(CC_ERR_IO, "%s: cannot seek (%s)", zip, strerror(errno));
    const uint64_t fsize = (uint64_t)ftello(f);
    const size_t n = fsize < sizeof tail ? (size_t)fsize : sizeof tail;
    if (n < 22 || !read_at(f, fsize - n, tail, n))
        return cc_error_set(CC_ERR_FORMAT, "%s: not a zip archive (too short)", zip);
    long eocd = -1;
    for (long i = (long)n - 22; i >= 0; i--)
        if (rd32(tail + i) == 0x06054b50u) {
            eocd = i;
            break;
        }
    if (eocd < 0)
        return cc_error_set(CC_ERR_FORMAT, "%s: not a zip archive (no end of central directory)", zip);
    const unsigned char *e = tail + eocd;
    *count = rd16(e + 10);
    *cd_size = rd32(e + 12);
    *cd_off = rd32(e + 16);
    if (*count == 0xffff || *cd_size == 0xffffffffu || *cd_off == 0xffffffffu) {
        unsigned char loc[20], z64[56];
        const uint64_t eocd_abs = fsize - n + (uint64_t)eocd;
        if (eocd_abs < 20 || !read_at(f, eocd_abs - 20, loc, 20) || rd32(loc) != 0x07064b50u ||
            !read_at(f, rd64(loc + 8), z64, 56) || rd32(z64) != 0x06064b50u)
            return cc_error_set(CC_ERR_FORMAT, "%s: broken ZIP64 end of central directory", zip);
        *count = rd64(z64 + 32);
        *cd_size = rd64(z64 + 40);
        *cd_off = rd64(z64 + 48);
    }
    if (*cd_off > fsize || *cd_size > fsize - *cd_off)
        return cc_error_set(CC_ERR_FORMAT, "%s: central directory lies outside the file (truncated zip?)", zip);
    return CC_OK;
}

/* 1 if an entry name leaves the folder it is extracted into. */
static int name_escapes(const char *name)
{
    if (!name[0] || name[0] == '/' || strchr(name, '\\') || (name[0] && name[1] == ':'))
        return 1;
    for (const char *p = name; *p;) {
        const char *q = strchr(p, '/');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return 1;
        if (!q)
            break;
        p = q + 1;
    }
    return 0;
}

/* Inflates (or copies) one entry's data at data_off and checks its size and CRC. */
static cc_status check_data(FILE *f, const char *zip, const char *name, int method, uint64_t data_off,
                            uint64_t csize, uint64_t usize, uint32_t crc_want, unsigned char *in,
                            unsigned char *out)
{
    cc_status st = CC_OK;
    z_stream z;
    memset(&z, 0, sizeof z);
    int zinit = 0, ended = method == 0;
    uint64_t left = csize, total = 0;
    uLong crc = crc32(0L, Z_NULL, 0);
    if (method == 8) {
        if (inflateInit2(&z, -MAX_WBITS) != Z_OK)
            return cc_error_set(CC_ERR_NOMEM, "%s: cannot initialise zlib", zip);
        zinit = 1;
    }
    if (fseeko(f, (off_t)data_off, SEEK_SET) != 0) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: entry '%.200s' lies outside the file", zip, name);
        goto out;
    }
    while (left > 0 && !(method == 8 && ended)) {
        size_t want = left < ZC_CHUNK ? (size_t)left : ZC_CHUNK;
        size_t got = fread(in, 1, want, f);
        if (got != want) {
            st = cc_error_set(CC_ERR_FORMAT, "%s: entry '%.200s' is truncated", zip, name);
            goto out;
        }
        left -= got;
        if (method == 0) {
            crc = crc32(crc, in, (uInt)got);
            total += got;
            continue;
        }
        z.next_in = in;
        z.avail_in = (uInt)got;
        while (z.avail_in > 0 && !ended) {
            z.next_out = out;
            z.avail_out = ZC_CHUNK;
            int r = inflate(&z, Z_NO_FLUSH);
            size_t made = ZC_CHUNK - z.avail_out;
            crc = crc32(crc, out, (uInt)made);
            total += made;
            if (total > usize) {
                st = cc_error_set(CC_ERR_FORMAT, "%s: entry '%.200s' inflates beyond its declared %llu bytes", zip,
                                  name, (unsigned long long)usize);
                goto out;
            }
            if (r == Z_STREAM_END)
                ended = 1;
            else if (r != Z_OK && r != Z_BUF_ERROR) {
                st = cc_error_set(CC_ERR_FORMAT, "%s: entry '%.200s' is not valid deflate data", zip, name);
                goto out;
            }
            else if (r == Z_BUF_ERROR && made == 0)
                break;
        }
    }
    if (!ended || total != usize) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: entry '%.200s' holds %llu bytes, the archive declares %llu", zip, name,
                          (unsigned long long)total, (unsigned long long)usize);
        goto out;
    }
    if ((uint32_t)crc != crc_want)
        st = cc_error_set(CC_ERR_FORMAT, "%s: entry '%.200s' fails its CRC-32 (corrupt archive)", zip, name);
out:
    if (zinit)
        inflateEnd(&z);
    return st;
}

/* The ZIP64 extra field replaces the 32-bit fields that are 0xffffffff. */
static void zip64_sizes(const unsigned char *extra, uint32_t elen, uint64_t *usize, uint64_t *csize, uint64_t *loff)
{
    for (uint32_t i = 0; i + 4 <= elen;) {
        uint32_t id = rd16(extra + i), len = rd16(extra + i + 2);
        if (i + 4 + len > elen)
            return;
        if (id == 0x0001) {
            const unsigned char *p = extra + i + 4, *end = p + len;
            if (*usize == 0xffffffffu && p + 8 <= end)
                *usize = rd64(p), p += 8;
            if (*csize == 0xffffffffu && p + 8 <= end)
                *csize = rd64(p), p += 8;
            if (*loff == 0xffffffffu && p + 8 <= end)
                *loff = rd64(p);
            return;
        }
        i += 4 + len;
    }
}

/* One central directory entry at cd[0..avail): checks and, with sizes, its data. */
static cc_status check_entry(FILE *f, const char *zip, const unsigned char *cd, uint64_t avail, int sizes,
                             uint64_t *used, unsigned char *in, unsigned char *out)
{
    char name[1024];
    if (avail < 46 || rd32(cd) != 0x02014b50u)
        return cc_error_set(CC_ERR_FORMAT, "%s: corrupt central directory", zip);
    const uint32_t made_by = rd16(cd + 4), flags = rd16(cd + 8), method = rd16(cd + 10);
    const uint32_t crc = rd32(cd + 16), nlen = rd16(cd + 28), elen = rd16(cd + 30), clen = rd16(cd + 32);
    const uint32_t ext = rd32(cd + 38);
    uint64_t csize = rd32(cd + 20), usize = rd32(cd + 24), loff = rd32(cd + 42);
    if (46ull + nlen + elen + clen > avail)
        return cc_error_set(CC_ERR_FORMAT, "%s: corrupt central directory", zip);
    *used = 46ull + nlen + elen + clen;
    snprintf(name, sizeof name, "%.*s", (int)(nlen < sizeof name ? nlen : sizeof name - 1), (const char *)cd + 46);
    for (char *c = name; *c; c++)
        if ((unsigned char)*c < 0x20)
            *c = '?';
    if (memchr(cd + 46, '\0', nlen) || name_escapes(name))
        return cc_error_set(CC_ERR_FORMAT,
                            "%s: zip entry '%.200s' escapes the product folder (absolute path or '..'); an archive "
                            "built like this is not a product, refused",
                            zip, name);
    if ((made_by >> 8) == 3 && ((ext >> 16) & 0170000u) == 0120000u)
        return cc_error_set(CC_ERR_FORMAT, "%s: zip entry '%.200s' is a symbolic link; a product holds none, refused",
                            zip, name);
    if (flags & 1u)
        return cc_error_set(CC_ERR_FORMAT, "%s: zip entry '%.200s' is encrypted", zip, name);
    zip64_sizes(cd + 46 + nlen, elen, &usize, &csize, &loff);
    if (method != 0 && method != 8)
        return cc_error_set(CC_ERR_FORMAT, "%s: zip entry '%.200s' uses compression method %u (only stored and deflate)",
                            zip, name, (unsigned)method);
    if ((method == 0 && csize != usize) || (usize > ZC_RATIO_FLOOR && usize / ZC_MAX_RATIO > csize))
        return cc_error_set(CC_ERR_FORMAT,
                            "%s: zip entry '%.200s' declares %llu bytes from %llu compressed (a zip bomb?), refused",
                            zip, name, (unsigned long long)usize, (unsigned long long)csize);
    if (!sizes || (nlen && name[strlen(name) - 1] == '/'))
        return CC_OK;
    unsigned char lh[30];
    if (!read_at(f, loff, lh, sizeof lh) || rd32(lh) != 0x04034b50u || rd16(lh + 26) != nlen)
        return cc_error_set(CC_ERR_FORMAT, "%s: local header of entry '%.200s' is missing or differs", zip, name);
    return check_data(f, zip, name, (int)method, loff + 30 + nlen + rd16(lh + 28), csize, usize, crc, in, out);
}

cc_status cc_s2_zip_check(const char *zip, int sizes)
{
    cc_status st = CC_OK;
    unsigned char *cd = NULL, *in = NULL, *out = NULL;
    uint64_t cd_off = 0, cd_size = 0, count = 0;
    FILE *f = fopen(zip, "rb");
    if (!f)
        return cc_error_set(CC_ERR_IO, "%s: cannot open (%s)", zip, strerror(errno));
    if ((st = find_directory(f, zip, &cd_off, &cd_size, &count)) != CC_OK)
        goto out;
    if (cd_size > (256u << 20)) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: central directory of %llu bytes is implausible", zip,
                          (unsigned long long)cd_size);
        goto out;
    }
    cd = malloc(cd_size ? (size_t)cd_size : 1);
    in = sizes ? malloc(ZC_CHUNK) : NULL;
    out = sizes ? malloc(ZC_CHUNK) : NULL;
    if (!cd || (sizes && (!in || !out))) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory reading the central directory", zip);
        goto out;
    }
    if (!read_at(f, cd_off, cd, (size_t)cd_size)) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: cannot read the central directory (truncated zip?)", zip);
        goto out;
    }
    uint64_t pos = 0;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t used = 0;
        if ((st = check_entry(f, zip, cd + pos, cd_size - pos, sizes, &used, in, out)) != CC_OK)
            goto out;
        pos += used;
    }
out:
    free(cd);
    free(in);
    free(out);
    fclose(f);
    return st;
}
