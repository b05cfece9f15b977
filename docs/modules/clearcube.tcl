#%Module1.0
## Tcl environment-modules file for clearcube (docs/install.md). Install as
## <modulepath>/clearcube/0.1.0 and set `prefix` to the `cmake --install` prefix.
proc ModulesHelp { } {
    puts stderr "clearcube: analysis-ready Sentinel-2 datacubes; clearcube --help, man clearcube-<command>"
}
module-whatis "clearcube 0.1.0: Sentinel-2 L1C -> L2A datacubes, MPI + optional CUDA"

set prefix /opt/clearcube/0.1.0
prereq openmpi

prepend-path PATH    $prefix/bin
prepend-path MANPATH $prefix/share/man
setenv CLEARCUBE_DATA $prefix/share/clearcube
