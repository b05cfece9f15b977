#!/bin/bash
# ctest fuzz_replay_<harness>: replay.sh BINARY HARNESS
# Replays the kept corpus tests/fuzz/corpus/<harness>/ (crash regressions and
# minimized inputs) and the seeds built from ../shared (seeds.sh) through the
# harness; any crash or sanitizer report fails the test.
set -eu
BIN=$1
# the library leaks of tests/lsan-libs.supp are matched through libraries built without frame
# pointers (HDF5, netCDF-C): full stacks
[ -n "${LSAN_OPTIONS:-}" ] && export LSAN_OPTIONS="$LSAN_OPTIONS:fast_unwind_on_malloc=0"
H=$2
HERE=$(dirname "$(readlink -f "$0")")
T=${CLEARCUBE_TMP:-/tmp}/fuzz_replay_$H
rm -rf "$T" && mkdir -p "$T"
export TMPDIR=$T
bash "$HERE/seeds.sh" "$T/seeds" "${CLEARCUBE_SHARED:-}" "${CLEARCUBE_SOURCE:-$HERE/../..}" > /dev/null
# libFuzzer binaries (-DCLEARCUBE_FUZZ=ON) run a corpus with -runs=0
dirs=()
for d in "$HERE/corpus/$H" "$T/seeds/$H"; do [ -d "$d" ] && dirs+=("$d"); done
if "$BIN" -help=1 2>&1 | grep -q 'libFuzzer'; then
  exec "$BIN" -runs=0 "${dirs[@]}"
fi
exec "$BIN" "${dirs[@]}"
