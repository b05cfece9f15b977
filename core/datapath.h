/* clearcube: the data files shipped with clearcube (the models models/NAME.h5, their recipes,
 * slurm/clearcube.sbatch.in), found at run time, never through a path compiled
 * into the binary.
 *
 * A file REL (e.g. "models/boa-s2.h5") is searched, in this order, at
 *   1. <folder of the running executable>/../share/clearcube/REL: an installed
 *      tree (PREFIX/bin/clearcube -> PREFIX/share/clearcube/, `cmake --install`),
 *      and a build tree (build/jobs/clearcube -> build/share/clearcube/, where
 *      CMake links models/ and slurm/ to the source tree at configure time);
 *   2. $CLEARCUBE_DATA/REL (a data folder elsewhere, e.g. a binary copied alone).
 * Commands let --model / --template name a file directly; that skips the search. */
#ifndef CC_CORE_DATAPATH_H
#define CC_CORE_DATAPATH_H

#include <stddef.h>

#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes the path of the first readable REL into buf (n bytes). CC_ERR_MISSING
 * when none is, with a one-line message naming REL and every place searched. */
cc_status cc_data_find(const char *rel, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
