-- Lmod module file for clearcube (docs/install.md). Install as
-- <modulepath>/clearcube/0.1.0.lua and set `prefix` to the `cmake --install` prefix.
help([[
clearcube: analysis-ready Sentinel-2 datacubes (reference L2A, Rapid BoA, Cloudless)
on HPC clusters. `clearcube --help`, `man clearcube-<command>`, docs in
share/doc/clearcube.
]])
whatis("Name: clearcube")
whatis("Version: 0.1.0")
whatis("Description: Sentinel-2 L1C -> L2A datacubes, MPI + optional CUDA")

local prefix = "/opt/clearcube/0.1.0"
-- the MPI (and, for a CUDA build, the CUDA runtime) clearcube was built against
depends_on("openmpi")
-- depends_on("cuda")   -- for a CUDA build when the runtime is not in the system paths

prepend_path("PATH", pathJoin(prefix, "bin"))
prepend_path("MANPATH", pathJoin(prefix, "share/man"))
-- not needed for the installed binary (it finds ../share/clearcube itself); lets a copy of
-- the binary elsewhere (e.g. staged to node-local disk) find the models and the template
setenv("CLEARCUBE_DATA", pathJoin(prefix, "share/clearcube"))
