/* clearcube: atomic file replacement, temporary names, directories.
 *
 * Every output is written to a temporary beside its target,
 * "<target>.tmp-<pid>[suffix]" (same directory, so the rename cannot cross a
 * file system), then committed: the temporary is fsync'd, renamed over the
 * target and the directory fsync'd. A reader therefore sees the old file or
 * the complete new one, never a part, even if the writer is killed; a killed
 * writer leaves only its temporary, which cc_fs_remove_stale_temps() clears.
 *
 *     char tmp[PATH_MAX + 32];
 *     if ((st = cc_fs_temp_name(path, NULL, tmp, sizeof tmp)) != CC_OK) return st;
 *     ... write tmp (GDAL, HDF5, NetCDF, stdio); on failure cc_fs_abort(tmp) ...
 *     return cc_fs_commit(tmp, path);
 *
 * Messages are one line naming the file (core/error.h). */
#ifndef CC_CORE_FS_H
#define CC_CORE_FS_H

#include <stddef.h>
#include <sys/types.h>

#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* "<target>.tmp-<pid><suffix>" into buf (suffix NULL or e.g. ".png" where a
 * library picks the format from the name). CC_ERR_ARG if it does not fit. */
cc_status cc_fs_temp_name(const char *target, const char *suffix, char *buf, size_t cap);

/* fsync of a file, or of a directory (is_dir) so that a rename in it is
 * durable. */
cc_status cc_fs_fsync(const char *path, int is_dir);

/* Commits a complete temporary: fsync, rename over target, fsync of the
 * directory. Whatever the outcome, tmp no longer exists afterwards (it is the
 * target, or it was removed), so the caller forgets it. */
cc_status cc_fs_commit(const char *tmp, const char *target);

/* Commits n temporaries as one set (a report and its images, a product and
 * its sidecars): all are fsync'd before the first rename; if a rename fails,
 * the targets already renamed in this call and the temporaries left are
 * removed, so no partial new set stays behind. */
cc_status cc_fs_commit_all(int n, const char *const tmp[], const char *const target[]);

/* Removes an uncommitted temporary (no error if it is already gone). */
void cc_fs_abort(const char *tmp);

/* Writes n bytes to path (created or truncated); a partial file is removed. */
cc_status cc_fs_write_file(const char *path, const void *data, size_t n);
/* The same through a temporary and cc_fs_commit: path has the old content
 * or all of the new. */
cc_status cc_fs_write_atomic(const char *path, const void *data, size_t n);

/* Removes "<target>.tmp-<pid>" files (no suffix) whose writer process no
 * longer exists (a writer killed before its commit). */
void cc_fs_remove_stale_temps(const char *target);

/* The directory of path ("." when it has none, "/" for "/x") into dir, and
 * its last component (a pointer into path). */
void cc_fs_split_path(const char *path, char *dir, size_t ndir, const char **base);

/* mkdir -p: creates dir and its missing parents with `mode`. */
cc_status cc_fs_mkdir_p(const char *dir, mode_t mode);

#ifdef __cplusplus
}
#endif
#endif
