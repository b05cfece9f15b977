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

/* ---- locks, stale temporaries, write errors (fs_lock.c) ---- */

/* An exclusive lock on an output (a run's folder, a cube): flock(LOCK_EX) on
 * the file `path` (created), which then holds the line "HOST PID EPOCH" of
 * the holder. The lock dies with its process (flock), so a lock left by a
 * killed process is taken over (logged). Held by a live process: wait_s == 0
 * gives CC_ERR_IO "PATH: WHAT is in use: lock held by clearcube process PID on
 * host HOST since EPOCH ..."; wait_s > 0 waits up to that many seconds,
 * wait_s < 0 without limit. Where the file system has no flock (ENOLCK,
 * EOPNOTSUPP: NFS/Lustre/GPFS mounted without it) the holder line decides: a
 * holder on this host that no longer exists is taken over, any other is
 * respected (a warning says the lock is advisory). The descriptor is
 * close-on-exec, so item processes never inherit it. Release with
 * cc_fs_lock_release (or by exiting). */
typedef struct cc_fs_lock cc_fs_lock;
cc_status cc_fs_lock_acquire(const char *path, const char *what, double wait_s, cc_fs_lock **out);
void cc_fs_lock_release(cc_fs_lock *l);
/* Releases and removes the lock file (for locks beside an output, such as
 * "<cube>.lock", that should not stay behind): unlinked while still held, so
 * a waiter that then gets the old file notices and locks the new one. */
void cc_fs_lock_release_remove(cc_fs_lock *l);

/* Removes the temporaries "<name>.tmp-<pid>[.ext]" (regular files) in dir
 * whose process no longer exists; with all_but_mine every one not of this
 * process (for a folder whose lock the caller holds, where any temporary is a
 * leftover). Returns how many were removed (each is logged). */
int cc_fs_remove_temps_in(const char *dir, int all_but_mine);

/* CC_ERR_IO "PATH: WHAT: <cause>" for a failed write, with the real cause:
 * "no space left on device (N KiB free in DIR)" when the file system is full
 * or nearly so (whatever errno a library reported: HDF5 turns ENOSPC into
 * other codes), "disk quota exceeded", "permission denied", "read-only file
 * system", else strerror(err). */
cc_status cc_fs_write_error(const char *path, int err, const char *what);
/* The errno that explains a failed write of path (err: what the library
 * said, 0 if it gave none): ENOSPC/EDQUOT/EROFS/EACCES as found on the file
 * system, else err (0 when nothing is known). "Full" includes nearly full:
 * less than CC_FS_NEARLY_FULL bytes available, less than one failed write of
 * a compressed chunk or an HDF5 metadata flush may need. */
#define CC_FS_NEARLY_FULL (64ll << 20)
int cc_fs_write_cause(const char *path, int err);

/* Bytes this process may still write in the folder of `path` (root may use
 * the reserved blocks); -1 if unknown. */
long long cc_fs_space_left(const char *path);

/* Points every descriptor of this process that is open on `path` at an
 * anonymous in-memory file (memfd). For a temporary that is being discarded
 * after a failed write:
 * HDF5 (under NetCDF-4) keeps dirty metadata and chunks after a write fails
 * on a full disk, retries them at every close, and a file it cannot close
 * stays registered until the library's exit handlers, which crash on it
 * (H5F__close_cb), and netCDF's report of a failed close crashes too. With
 * the descriptor elsewhere the close succeeds and writes nothing to disk. Call before the close (nc_abort, H5Fclose) and before
 * cc_fs_abort; returns how many descriptors were redirected. */
int cc_fs_discard_open(const char *path);

/* CC_ERR_IO "PATH: WHAT: no space left on device ..." (or quota, read-only,
 * permission: cc_fs_write_error) when the file system explains a failed
 * write of path; else CC_OK and nothing is recorded, so the caller reports
 * the library's own message. err as for cc_fs_write_cause. */
cc_status cc_fs_write_explain(const char *path, int err, const char *what);

/* The directory of path ("." when it has none, "/" for "/x") into dir, and
 * its last component (a pointer into path). */
void cc_fs_split_path(const char *path, char *dir, size_t ndir, const char **base);

/* mkdir -p: creates dir and its missing parents with `mode`. */
cc_status cc_fs_mkdir_p(const char *dir, mode_t mode);

#ifdef __cplusplus
}
#endif
#endif
