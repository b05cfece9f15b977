#!/bin/bash
# The crashes the fuzz campaigns found, through the command a user runs
# (docs/testing.md, "Fuzzing"): each is refused with one error line, exit 1,
# never a signal.
set -u
CC=${CLEARCUBE_BIN:?}
HERE=$(dirname "$(readlink -f "$0")")
T=${CLEARCUBE_TMP:-/tmp}/fuzz_cli_regressions
rm -rf "$T" && mkdir -p "$T/out" || exit 1
fails=0
# a NetCDF-4 file on which HDF5 1.10.8 crashes (SEGV in H5HG_read) while NetCDF reads its attributes
cp "$HERE/corpus/ncseries/hdf5-segv-h5hg-read" "$T/S2_series.nc"
"$CC" ingest "$T/S2_series.nc" --sensor s2 --tile 31UES --out-dir "$T/out" 2> "$T/err"; rc=$?
if [ $rc -ne 1 ] || ! grep -q "S2_series.nc: the NetCDF/HDF5 library crashed reading its metadata" "$T/err"; then
  echo "FAIL: hostile NetCDF series: exit $rc: $(tail -2 "$T/err")"; fails=$((fails + 1))
else
  echo "ok   hostile NetCDF series: $(grep 'error:' "$T/err" | tail -1)"
fi
[ $fails -eq 0 ] && echo "PASS fuzz_cli_regressions" || exit 1
