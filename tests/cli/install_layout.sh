#!/usr/bin/env bash
# The installed layout (docs/user-guide.md, "Installing"; docs/install.md): `cmake --install BUILD --prefix P`
# puts clearcube in P/bin and its data (models, recipes, the Slurm template) in
# P/share/clearcube, and P/bin/clearcube finds them there at run time (core/datapath.h),
# with CLEARCUBE_DATA unset and from any working folder. The binary names no source path:
# a copy of it with nothing beside it finds nothing (although the source tree is still
# here), until CLEARCUBE_DATA names the data folder; a missing data file is one error line
# naming every place searched. Also the build tree's own lookup (BUILD/share/clearcube).
#   install_layout.sh CMAKE BUILD_DIR
set -u
CMAKE=${1:?cmake}
BUILD=${2:?build dir}
SRC=${CLEARCUBE_SOURCE:?}
BIN=${CLEARCUBE_BIN:?}
T=${CLEARCUBE_TMP:-/tmp}/install_layout
P=$T/prefix
unset CLEARCUBE_DATA CLEARCUBE_SBATCH_TEMPLATE
export SOURCE_DATE_EPOCH=1700000000 # the cubes compared below carry their creation time
rm -rf "$T" && mkdir -p "$T/work" && cd "$T/work" || exit 1
fails=0
ok() { echo "ok   $1"; }
fail() { echo "FAIL $1"; fails=$((fails + 1)); }
# one_line_error NAME PATTERN CMD...: rc != 0, exactly one stderr line, "clearcube: error:" and PATTERN
one_line_error() {
  local name=$1 pat=$2; shift 2
  "$@" > out.txt 2> err.txt; local rc=$?
  if [ $rc -eq 0 ]; then fail "$name: exit 0"; return; fi
  if [ "$(grep -c . err.txt)" -ne 1 ] || ! grep -q '^clearcube: error: ' err.txt || ! grep -qF -- "$pat" err.txt; then
    fail "$name: rc $rc, stderr: $(cat err.txt)"; return; fi
  ok "$name (rc $rc): $(cat err.txt)"
}

"$CMAKE" --install "$BUILD" --prefix "$P" > install.log 2>&1 || { cat install.log; echo "FAIL cmake --install"; exit 1; }
for f in bin/clearcube share/clearcube/models/boa-s2.h5 share/clearcube/models/cloudless.h5 \
         share/clearcube/models/boa-train.yaml share/clearcube/models/boa-dataset.yaml \
         share/clearcube/models/cloudless-train.yaml share/clearcube/slurm/clearcube.sbatch.in; do
  [ -f "$P/$f" ] || fail "not installed: $f"
done
[ -x "$P/bin/clearcube" ] && ok "installed: bin/clearcube, share/clearcube/{models,slurm}" || fail "bin/clearcube not executable"
[ ! -L "$P/share/clearcube/models" ] || fail "share/clearcube/models is a link into the source tree"
if grep -qaF "$SRC/models" "$P/bin/clearcube" || grep -qaF "$SRC/slurm" "$P/bin/clearcube"; then
  fail "the binary holds a source-tree path"
else
  ok "no source-tree path in the binary"
fi

# a small SIMULATED scene for `clearcube boa`, the cheapest command that loads the shipped model
"$BIN" simulate -o sim --size 32 --seed 3 > /dev/null || { echo "FAIL simulate"; exit 1; }
read -r -a OPTS < sim/S2A_SIMULATED_L1C.options
SCENE=$T/work/sim/S2A_SIMULATED_L1C.tif
# a job file that loads (submit checks it): one tile, one month, no scene needed
printf 'product: reference\narea: {tiles: [32UMF]}\ndates: {start: 2024-06-01, end: 2024-06-30}\n%s\n%s\n' \
  'catalogues: [cat]' 'output: out' > job.yaml

# 1. installed: the model beside the executable, from another working folder
mkdir -p elsewhere && cd elsewhere || exit 1
"$P/bin/clearcube" boa "$SCENE" "${OPTS[@]}" -o installed.nc --log-level warn 2> err.txt \
  && [ -s installed.nc ] && ok "installed clearcube boa finds share/clearcube/models/boa-s2.h5" \
  || fail "installed clearcube boa: $(cat err.txt)"
"$P/bin/clearcube" submit "$T/work/job.yaml" --nodes 1 --gpus-per-node 0 \
    --time 01:00:00 --dry-run > job.sbatch 2> err.txt \
  && grep -q '^#SBATCH --nodes=1' job.sbatch && ok "installed clearcube submit finds share/clearcube/slurm/clearcube.sbatch.in" \
  || fail "installed clearcube submit: $(cat err.txt)"
cd .. || exit 1

# 2. the build tree: BUILD/jobs/clearcube -> BUILD/share/clearcube (links made by cmake)
"$BIN" boa "$SCENE" "${OPTS[@]}" -o build.nc --log-level warn 2> err.txt \
  && cmp -s build.nc elsewhere/installed.nc && ok "build-tree clearcube boa: same cube as the installed one" \
  || fail "build-tree clearcube boa: $(cat err.txt)"

# 3. a copy of the binary alone: no data beside it, no fallback to the source tree
mkdir -p alone/bin && cp "$P/bin/clearcube" alone/bin/
one_line_error "alone, CLEARCUBE_DATA unset: one line naming both places" \
  "models/boa-s2.h5: data file not found (searched $T/work/alone/bin/../share/clearcube/models/boa-s2.h5, then \$CLEARCUBE_DATA/models/boa-s2.h5 (\$CLEARCUBE_DATA is not set))" \
  alone/bin/clearcube boa "$SCENE" "${OPTS[@]}" -o alone.nc
[ ! -e alone.nc ] || fail "alone: output written"
CLEARCUBE_DATA=$P/share/clearcube alone/bin/clearcube boa "$SCENE" "${OPTS[@]}" -o data.nc --log-level warn \
    2> err.txt && cmp -s data.nc elsewhere/installed.nc && ok "CLEARCUBE_DATA=PREFIX/share/clearcube: found, same cube" \
  || fail "CLEARCUBE_DATA: $(cat err.txt)"
one_line_error "CLEARCUBE_DATA without the file: one line naming both places" \
  "searched $T/work/alone/bin/../share/clearcube/models/cloudless-kalman.h5, then $T/work/models/cloudless-kalman.h5 (\$CLEARCUBE_DATA)" \
  env CLEARCUBE_DATA="$T/work" alone/bin/clearcube cloudless "$T/work" --tile 33UUP --date 2020-05-10 -o x.nc
one_line_error "submit, no template anywhere" "slurm/clearcube.sbatch.in: data file not found" \
  alone/bin/clearcube submit "$T/work/job.yaml" --nodes 1 --gpus-per-node 0 --time 01:00:00 --dry-run
alone/bin/clearcube boa "$SCENE" "${OPTS[@]}" --model "$P/share/clearcube/models/boa-s2.h5" -o model.nc \
    --log-level warn 2> err.txt && ok "--model still names the file (no lookup)" || fail "--model: $(cat err.txt)"

# 5. what else is installed: a man page per command (from its --help), the docs, --version
for f in share/man/man1/clearcube.1 share/man/man1/clearcube-boa.1 share/man/man1/clearcube-submit.1 \
         share/man/man1/clearcube-run.1 share/doc/clearcube/install.md share/doc/clearcube/modules/clearcube.lua; do
  [ -f "$P/$f" ] || fail "not installed: $f"
done
ncmd=$("$BIN" --help | sed -n '/^Commands:/,/^$/p' | grep -c '^  [a-z]')
nman=$(ls "$P"/share/man/man1/clearcube-*.1 2> /dev/null | wc -l)
[ "$nman" -eq $((ncmd - 1)) ] && ok "a man page per command ($nman)" || fail "$nman man pages for $ncmd commands (version has none)"
grep -q '^\.TH CLEARCUBE-BOA 1' "$P/share/man/man1/clearcube-boa.1" && grep -qF 'device' "$P/share/man/man1/clearcube-boa.1" \
  && ok "clearcube-boa.1 is a man page holding boa --help" || fail "clearcube-boa.1: $(head -3 "$P/share/man/man1/clearcube-boa.1")"
if command -v man > /dev/null && MANWIDTH=100 man -l "$P/share/man/man1/clearcube-submit.1" 2> man.err | grep -q -- '--gpus-per-task'; then
  ok "man -l renders clearcube-submit.1"
elif command -v man > /dev/null; then fail "man -l clearcube-submit.1: $(cat man.err)"; fi
"$P/bin/clearcube" --version > version.txt 2>&1 || fail "--version: exit $?"
grep -qE '^clearcube [0-9.]+ \(commit ([0-9a-f]{12}(-dirty)?|unknown)\)$' version.txt && grep -q '^backends: cpu: ' version.txt \
  && grep -qE '^  boa-s2.h5 +sha256:[0-9a-f]{64}$' version.txt && grep -qE '^  cloudless.h5 +sha256:[0-9a-f]{64}$' version.txt \
  && grep -qF "models: $P/bin/../share/clearcube/models" version.txt \
  && ok "--version: version, commit, backends, the installed models' hashes" || fail "--version: $(cat version.txt)"
"$BIN" --version | grep sha256 > build-hashes.txt
grep sha256 version.txt | cmp -s - build-hashes.txt && ok "the installed models' hashes are the build tree's" \
  || fail "model hashes differ: $(cat build-hashes.txt)"

# 6. the prefix moved elsewhere (relocatable; nothing points back at the build or the first
# prefix, which is removed): boa, reference and a 2-rank clearcube run job from it
M=$T/moved/clearcube
mkdir -p "$T/moved" && cp -a "$P" "$M" && mv "$P" "$T/prefix.gone"
(
  cd "$T/work" || exit 1
  export PATH="$M/bin:/usr/bin:/bin"
  unset CLEARCUBE_DATA
  clearcube boa "$SCENE" "${OPTS[@]}" -o moved-boa.nc --log-level warn 2> err.txt && [ -s moved-boa.nc ] \
    && ok "moved prefix: clearcube boa (finds its model beside itself)" || fail "moved prefix boa: $(cat err.txt)"
  clearcube reference "$SCENE" "${OPTS[@]}" -o moved-ref.nc --log-level warn 2> err.txt && [ -s moved-ref.nc ] \
    && ok "moved prefix: clearcube reference" || fail "moved prefix reference: $(cat err.txt)"
  MPIRUN=$(command -v mpirun)
  if [ -n "$MPIRUN" ]; then
    mkdir -p job2 && cd job2 || exit 1
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
    # under ASan: Open MPI's own allocations are not ours (as tests/run/run_mpi.sh)
    export LSAN_OPTIONS="suppressions=$SRC/tests/lsan-libs.supp:fast_unwind_on_malloc=0:print_suppressions=0"
    . "$SRC/tests/lib/sim_catalogue.sh"
    cc_sim_catalogue clearcube > /dev/null 2>&1 || fail "moved prefix: simulate"
    sed -i 's/^product: reference/product: boa/' job.yaml
    "$MPIRUN" -n 2 clearcube run job.yaml --device cpu --progress never --log-level warn > run.log 2>&1
    rc=$?
    [ $rc -eq 0 ] && [ "$(ls out/*.nc | wc -l)" -eq 3 ] && grep -q '"device": "cpu (--device cpu)"' out/run-report.json \
      && ok "moved prefix: a 2-rank clearcube run job (boa, 3 tiles x 2 dates)" \
      || fail "moved prefix: clearcube run exit $rc: $(tail -n 5 run.log)"
  fi
  exit $fails
) || fails=$((fails + $?))
mv "$T/prefix.gone" "$P"

# 6b. scripts/demo's jobs (its simulated-scene path) from an installed copy with the SOURCE TREE
# UNREACHABLE: the prefix is copied outside the tree, and in a private mount namespace an empty
# tmpfs covers the source tree (and so the build tree and CLEARCUBE_TMP inside it) while the
# installed clearcube runs, from a working folder outside it: the Rapid BoA job and the reference
# job over one tile x 2 dates (2 ranks), validate on their cubes, the Cloudless job over simulated
# sensor cubes and one Cloudless day. Where mount namespaces are not allowed (unprivileged
# containers) this part says so and only the checks on the binary below apply.
# The binary without its debug sections (which name the compile folders; nothing reads them at
# run time) holds no path into the source or build tree, and its run path points into neither.
X=$(mktemp -d /tmp/cc-install-XXXXXX)
cp -a "$M" "$X/clearcube" && cp "$SRC/tests/lib/sim_catalogue.sh" "$X/"
# under ASan: Open MPI's and the libraries' own leaks are not ours (tests/lsan-libs.supp)
cp "$SRC/tests/lsan-libs.supp" "$X/lsan.supp" 2> /dev/null
strip --strip-debug -o "$X/stripped" "$X/clearcube/bin/clearcube" 2> /dev/null || cp "$X/clearcube/bin/clearcube" "$X/stripped"
# (source file names, e.g. from __FILE__ or ASan's global descriptors, are not data paths: left out)
hits=$(strings -n 6 "$X/stripped" | grep -F -e "$SRC" -e "$(cd "$BUILD" && pwd)" \
  | grep -vE '\.(c|h|cu|cuh)(:[0-9]+)*$' | head -n 3)
rp=$(readelf -d "$X/clearcube/bin/clearcube" 2> /dev/null | grep -E 'RPATH|RUNPATH' | grep -F -e "$SRC" -e "$BUILD")
[ -z "$hits" ] && [ -z "$rp" ] && ok "installed binary: no source/build path outside its debug sections, none in its run path" \
  || fail "installed binary holds tree paths: ${hits:-} ${rp:-}"
cat > "$X/demo-jobs.sh" << 'DEMO'
set -u
X=$1 SRC=$2
cd "$X" || exit 1
[ -z "$(ls -A "$SRC" 2> /dev/null)" ] || { echo "FAIL the source tree is still visible"; exit 1; }
export PATH="$X/clearcube/bin:/usr/bin:/bin" OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_mca_base_component_disable_dlclose=1
export LSAN_OPTIONS="suppressions=$X/lsan.supp:fast_unwind_on_malloc=0:print_suppressions=0"
unset CLEARCUBE_DATA CLEARCUBE_SBATCH_TEMPLATE
nf=0
say() { printf '%-4s %s\n' "$1" "$2"; [ "$1" = ok ] || nf=$((nf + 1)); }
. "$X/sim_catalogue.sh"
cc_sim_catalogue clearcube > /dev/null 2>&1 || say FAIL "demo: simulate"
# the demo's job files over one of its tiles (2 dates: both ranks work), to keep the ASan build's run short
sed -i 's/tiles: \[32UMF, 32UNF, 32ULF\]/tiles: [32UMF]/' job.yaml
for product in boa reference; do
  sed "s/^product: reference/product: $product/; s/^output: out/output: $product/" job.yaml > "job-$product.yaml"
  mpirun -n 2 clearcube run "job-$product.yaml" --progress never --log-level warn > "$product.jsonl" 2> "$product.err"
  rc=$?
  [ $rc -eq 0 ] && [ -s "$product/32UMF.nc" ] \
    && say ok "source tree hidden: the demo's $product job (2 ranks, tile 32UMF x 2 dates)" \
    || say FAIL "source tree hidden: $product job rc $rc: $(tail -n 3 "$product.err")"
done
clearcube validate --prediction boa/32UMF.nc --reference reference/32UMF.nc --simulated -o val --log-level warn \
    > val.txt 2> val.err && [ -s val.md ] && say ok "source tree hidden: validate boa vs reference" \
  || say FAIL "source tree hidden: validate: $(tail -n 3 val.err)"
read -r CTILE CFIRST CLAST CSIZE < <(clearcube cloudless-sim --out-dir cubes --synthetic --days 60 --size 32 \
    --seed 3 2> cs.err)
printf '%s\n' "product: cloudless" "area:" "  tiles: [$CTILE]" "dates:" "  start: 2020-05-10" "  end: 2020-05-11" \
  "catalogues: [cubes]" "output: cloudless" > job-cloudless.yaml
mpirun -n 2 clearcube run job-cloudless.yaml --progress never --log-level warn > cl.jsonl 2> cl.err \
  && [ -s "cloudless/$CTILE.nc" ] && say ok "source tree hidden: the demo's cloudless job ($CTILE, 2 days)" \
  || say FAIL "source tree hidden: cloudless job: $(tail -n 3 cl.err) $(cat cs.err)"
clearcube cloudless cubes --tile "$CTILE" --date 2020-05-10 -o one.nc --quicklook one.png --log-level warn 2> c1.err \
  && [ -s one.nc ] && [ -s one.png ] && say ok "source tree hidden: clearcube cloudless (one day, shipped model)" \
  || say FAIL "source tree hidden: cloudless: $(tail -n 3 c1.err)"
exit $nf
DEMO
if ldd "$X/clearcube/bin/clearcube" 2> /dev/null | grep -q libasan; then
  # a sanitizer build (scripts/test's second stage): relocation is not what it checks, and the
  # jobs under ASan would take this test past its time limit; the normal build runs them
  echo "skip: the demo jobs with the source tree hidden are run by the non-sanitizer build"
elif unshare -m true 2> /dev/null; then
  unshare -m bash -c 'mount -t tmpfs -o size=1m cc-hidden "$2" && exec bash "$1/demo-jobs.sh" "$1" "$2"' _ "$X" "$SRC"
  fails=$((fails + $?))
else
  echo "skip: mount namespaces are not allowed here (unshare -m): the demo jobs ran only with the tree present (6.)"
fi
rm -rf "$X"

# 7. a Debian package of the same tree (cpack -G DEB), when cpack and dpkg-deb are here
if command -v dpkg-deb > /dev/null && [ -f "$BUILD/CPackConfig.cmake" ]; then
  CPACK=$(dirname "$CMAKE")/cpack
  if "$CPACK" -G DEB --config "$BUILD/CPackConfig.cmake" -B "$T/pkg" > cpack.log 2>&1; then
    deb=$(ls "$T"/pkg/clearcube_*.deb 2> /dev/null | head -n 1)
    dpkg-deb -c "$deb" > deb.txt 2>&1
    miss=""
    for f in ./usr/bin/clearcube ./usr/share/clearcube/models/boa-s2.h5 ./usr/share/clearcube/slurm/clearcube.sbatch.in \
             ./usr/share/man/man1/clearcube-boa.1 ./usr/share/doc/clearcube/install.md; do
      grep -qF " $f" deb.txt || miss="$miss $f"
    done
    [ -n "$deb" ] && [ -z "$miss" ] && dpkg-deb -f "$deb" Depends | grep -q libgdal \
      && ok "cpack -G DEB: $(basename "$deb") holds bin, models, template, man pages, docs; Depends: GDAL ..." \
      || fail "the .deb: missing${miss:- nothing}; Depends: $(dpkg-deb -f "$deb" Depends 2>&1)"
  else
    fail "cpack -G DEB: $(tail -n 5 cpack.log)"
  fi
fi

# 4. an installed tree that lacks a data file
rm "$P/share/clearcube/models/boa-s2.h5"
one_line_error "installed tree without the model" "searched $P/bin/../share/clearcube/models/boa-s2.h5" \
  "$P/bin/clearcube" boa "$SCENE" "${OPTS[@]}" -o missing.nc
[ $fails -eq 0 ] && echo "PASS install_layout" || { echo "$fails failure(s)"; exit 1; }
