#!/usr/bin/env bash
# Bad input through the CLI: each case must exit non-zero with one clear
# "clearcube: error:" line naming the file and the problem, and leave no output
# (no cube, no quicklook, no temporaries). Inputs are derived at test time from
# a SIMULATED scene, so this needs no ../shared.
set -u
CC=${CLEARCUBE_BIN:?}
T=${CLEARCUBE_TMP:-/tmp}/cli_errors
rm -rf "$T"; mkdir -p "$T/in" "$T/out"
fails=0
"$CC" simulate -o "$T/sim" --size 48 >/dev/null || { echo "simulate failed"; exit 1; }
SIM="$T/sim/S2A_SIMULATED_L1C.tif"
read -r -a OPTS < "$T/sim/S2A_SIMULATED_L1C.options"

# expect_fail NAME PATTERN CMD...: runs CMD, wants rc != 0, last stderr line
# "clearcube: error: ..." matching PATTERN, and an empty output folder.
expect_fail() {
  local name=$1 pat=$2; shift 2
  rm -rf "$T/out"; mkdir -p "$T/out"
  "$@" >"$T/stdout" 2>"$T/stderr"
  local rc=$?
  local last; last=$(tail -n 1 "$T/stderr")
  if [ $rc -eq 0 ]; then echo "FAIL $name: exit code 0"; fails=$((fails+1)); return; fi
  if ! grep -q '^clearcube: error: ' <<<"$last"; then echo "FAIL $name: last stderr line is not an error: $last"; fails=$((fails+1)); return; fi
  if ! grep -Eq "$pat" <<<"$last"; then echo "FAIL $name: message does not match /$pat/: $last"; fails=$((fails+1)); return; fi
  if [ -n "$(ls -A "$T/out")" ]; then echo "FAIL $name: output left behind: $(ls -A "$T/out")"; fails=$((fails+1)); return; fi
  echo "ok   $name (rc $rc): $last"
}

OUT="$T/out/cube.nc"; QL="$T/out/ql.png"
expect_fail "missing input"       "does-not-exist" "$CC" reference "$T/in/does-not-exist.tif" "${OPTS[@]}" -o "$OUT" --quicklook "$QL"
# a truncated raster
head -c 20000 "$SIM" > "$T/in/truncated.tif"
expect_fail "truncated raster"    "truncated.tif" "$CC" reference "$T/in/truncated.tif" "${OPTS[@]}" -o "$OUT" --quicklook "$QL"
# no CRS: baseline TIFF puts georeferencing in a sidecar; remove it
gdal_translate -q -co PROFILE=BASELINE "$SIM" "$T/in/nocrs.tif" && rm -f "$T/in/nocrs.tif.aux.xml" "$T/in/nocrs.tfw"
expect_fail "missing CRS"         "nocrs.tif" "$CC" reference "$T/in/nocrs.tif" "${OPTS[@]}" -o "$OUT" --quicklook "$QL"
# all nodata
gdal_translate -q -scale 0 65535 0 0 "$SIM" "$T/in/allzero.tif"
expect_fail "all-nodata scene"    "allzero.tif" "$CC" reference "$T/in/allzero.tif" "${OPTS[@]}" -o "$OUT" --quicklook "$QL"
# unknown spacecraft
expect_fail "unknown spacecraft"  "S2Z" "$CC" reference "$SIM" "${OPTS[@]}" --spacecraft S2Z -o "$OUT" --quicklook "$QL"
# inconsistent geometry options
expect_fail "sun zenith > 90"     "sun.zenith" "$CC" reference "$SIM" "${OPTS[@]}" --sun-zenith 95 -o "$OUT"
expect_fail "band count mismatch" "bands" "$CC" reference "$SIM" "${OPTS[@]}" --bands B02,B03,B04 -o "$OUT"
expect_fail "unknown band"        "B13" "$CC" reference "$SIM" "${OPTS[@]}" --bands B01,B02,B03,B04,B05,B06,B07,B08,B8A,B09,B10,B11,B13 -o "$OUT"
expect_fail "bad date"            "date" "$CC" reference "$SIM" "${OPTS[@]}" --date 2024-13-45 -o "$OUT"
expect_fail "missing geometry"    "sun.zenith" "$CC" reference "$SIM" --bands B01,B02,B03,B04,B05,B06,B07,B08,B8A,B09,B10,B11,B12 --spacecraft S2A --date 2024-06-15 -o "$OUT"
expect_fail "bad number"          "aot" "$CC" reference "$SIM" "${OPTS[@]}" --aot abc -o "$OUT"
expect_fail "aot out of range"    "aot" "$CC" reference "$SIM" "${OPTS[@]}" --aot 7 -o "$OUT"
expect_fail "elevation and dem"   "elevation" "$CC" reference "$SIM" "${OPTS[@]}" --elevation 100 --dem "$SIM" -o "$OUT"
expect_fail "unreadable DEM"      "nodem.tif" "$CC" reference "$SIM" "${OPTS[@]}" --dem "$T/in/nodem.tif" -o "$OUT"
expect_fail "unwritable output"   "no-such-dir" "$CC" reference "$SIM" "${OPTS[@]}" -o "$T/out/no-such-dir/cube.nc"
# an existing cube on another grid is rejected and left untouched
"$CC" reference "$SIM" "${OPTS[@]}" -o "$T/existing.nc" --log-level warn || { echo "FAIL: reference on the simulated scene"; fails=$((fails+1)); }
sum_before=$(md5sum < "$T/existing.nc")
"$CC" simulate -o "$T/sim2" --size 40 >/dev/null
expect_fail "grid mismatch"       "existing.nc" "$CC" reference "$T/sim2/S2A_SIMULATED_L1C.tif" "${OPTS[@]}" --date 2024-06-16 -o "$T/existing.nc"
[ "$(md5sum < "$T/existing.nc")" = "$sum_before" ] || { echo "FAIL grid mismatch: existing cube changed"; fails=$((fails+1)); }
ls "$T"/existing.nc.tmp-* >/dev/null 2>&1 && { echo "FAIL grid mismatch: temporary left"; fails=$((fails+1)); }

# every subcommand has --help
for c in reference info simulate; do
  "$CC" "$c" --help | grep -q "Usage: clearcube $c" || { echo "FAIL $c --help"; fails=$((fails+1)); }
done
"$CC" --help | grep -q reference || { echo "FAIL clearcube --help"; fails=$((fails+1)); }
"$CC" nosuchcommand 2>/dev/null; [ $? -eq 2 ] || { echo "FAIL unknown command exit code"; fails=$((fails+1)); }

[ $fails -eq 0 ] && echo "all CLI error cases passed" || echo "$fails failure(s)"
exit $((fails > 0))
