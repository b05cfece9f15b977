/* clearcube: HDF5 file images written with plain writes (io/hdf5_image.h). */
#include "io/hdf5_image.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "core/fs.h"

/* Bob Jenkins' lookup3 (hashlittle, byte-wise): the checksum of HDF5
 * metadata (H5_checksum_lookup3 is not in HDF5's public API). */
#define H5I_ROT(x, k) (((x) << (k)) | ((x) >> (32 - (k))))
static uint32_t lookup3(const uint8_t *k, size_t len, uint32_t init)
{
    uint32_t a, b, c;
    a = b = c = 0xdeadbeefu + (uint32_t)len + init;
    for (; len > 12; len -= 12, k += 12) {
        a += k[0] + ((uint32_t)k[1] << 8) + ((uint32_t)k[2] << 16) + ((uint32_t)k[3] << 24);
        b += k[4] + ((uint32_t)k[5] << 8) + ((uint32_t)k[6] << 16) + ((uint32_t)k[7] << 24);
        c += k[8] + ((uint32_t)k[9] << 8) + ((uint32_t)k[10] << 16) + ((uint32_t)k[11] << 24);
        a -= c, a ^= H5I_ROT(c, 4), c += b;
        b -= a, b ^= H5I_ROT(a, 6), a += c;
        c -= b, c ^= H5I_ROT(b, 8), b += a;
        a -= c, a ^= H5I_ROT(c, 16), c += b;
        b -= a, b ^= H5I_ROT(a, 19), a += c;
        c -= b, c ^= H5I_ROT(b, 4), b += a;
    }
    if (len == 0)
        return c;
    uint32_t w[3] = {0, 0, 0};
    for (size_t i = 0; i < len; i++)
        w[i / 4] += (uint32_t)k[i] << (8 * (i % 4));
    a += w[0], b += w[1], c += w[2];
    c ^= b, c -= H5I_ROT(b, 14);
    a ^= c, a -= H5I_ROT(c, 11);
    b ^= a, b -= H5I_ROT(a, 25);
    c ^= b, c -= H5I_ROT(b, 16);
    a ^= c, a -= H5I_ROT(c, 4);
    b ^= a, b -= H5I_ROT(a, 14);
    c ^= b, c -= H5I_ROT(b, 24);
    return c;
}

/* HDF5 1.10's H5Fget_file_image clears the superblock's "open for writing"
 * flags in the image but keeps the checksum computed with them set: the
 * checksum of a version 2/3 superblock is recomputed. */
static void fix_superblock(uint8_t *img, size_t n)
{
    if (n < 12 || memcmp(img, "\211HDF\r\n\032\n", 8) != 0 || (img[8] != 2 && img[8] != 3))
        return;
    size_t at = 12 + 4 * (size_t)img[9];
    if (at + 4 > n)
        return;
    uint32_t c = lookup3(img, at, 0);
    for (int i = 0; i < 4; i++)
        img[at + (size_t)i] = (uint8_t)(c >> (8 * i));
}

cc_status cc_h5_image_write(hid_t fid, const char *path)
{
    ssize_t n = 0;
    uint8_t *img = NULL;
    if (H5Fflush(fid, H5F_SCOPE_LOCAL) < 0 || (n = H5Fget_file_image(fid, NULL, 0)) <= 0 ||
        !(img = malloc((size_t)n)) || H5Fget_file_image(fid, img, (size_t)n) != n) {
        free(img);
        return cc_error_set(CC_ERR_IO, "%s: cannot build the HDF5 file image", path);
    }
    fix_superblock(img, (size_t)n);
    cc_status st = cc_fs_write_atomic(path, img, (size_t)n);
    free(img);
    return st;
}
