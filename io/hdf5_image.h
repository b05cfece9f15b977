/* clearcube: HDF5 files built in memory and written as one image (issue 17).
 *
 * An HDF5 file written through the sec2 driver onto a disk that fills up
 * fails half way inside HDF5: the flush fails, H5Fclose fails, and the file
 * stays registered until HDF5's exit handlers, which crash on it
 * (H5F__close_cb). A small file (a model) is therefore built with the core
 * driver (H5Pset_fapl_core(fapl, increment, 0): memory only) and written
 * here with plain writes: a full disk is then an ordinary ENOSPC, named with
 * the path (core/fs.h), and the file is atomic (temporary, fsync, rename). */
#ifndef CC_IO_HDF5_IMAGE_H
#define CC_IO_HDF5_IMAGE_H

#include <hdf5.h>

#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Flushes the in-memory file fid and writes its image to path
 * (cc_fs_write_atomic). fid stays open (the caller closes it). */
cc_status cc_h5_image_write(hid_t fid, const char *path);

#ifdef __cplusplus
}
#endif
#endif
