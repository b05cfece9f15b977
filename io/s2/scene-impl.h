/* clearcube: the scene readers behind cc_scene_open (scene.c): the SAFE
 * reader (s2_safe.c) and the stack readers (stack.c). Not part of the public
 * interface. The readers build on the helpers of raster.h and never call
 * scene.c; scene.c calls them.
 *
 * Ownership: every helper that fills a cc_raster_u16, cc_angle_grid or a
 * string hands ownership to the cc_scene it writes into; cc_scene_free()
 * releases all of it. On failure the helpers leave nothing allocated except
 * what is already attached to the scene (which the caller frees). */
#ifndef CC_IO_S2_SCENE_IMPL_H
#define CC_IO_S2_SCENE_IMPL_H

#include "core/error.h"
#include "io/s2/raster.h"
#include "io/s2/scene.h"

/* Readers. Each fills the zeroed scene *s (owned by the caller, freed by
 * cc_scene_free on any status). */
/* root: a SAFE directory or "/vsizip/<zip>/<name>.SAFE"; label: what to name
 * in messages (the user's path). */
cc_status cc_scene_read_safe(const char *root, const char *label, const cc_scene_options *o, cc_scene *s);
/* A multi-band raster file. */
cc_status cc_scene_read_stack_file(const char *path, const cc_scene_options *o, cc_scene *s);
/* A folder of per-band files. */
cc_status cc_scene_read_stack_dir(const char *path, const cc_scene_options *o, cc_scene *s);
/* Per-band files given by path: file[l] for the n layers order[0..n-1]
 * (CC_B01.. and L2A layers); label names the input in messages, stem gives
 * the product id (and the tile, from a Txxxxx token, else from a file name). */
cc_status cc_scene_read_band_files(const char *label, const char *stem, const char *const *file, const int *order,
                                   int n, const cc_scene_options *o, cc_scene *s);

#endif
