#!/usr/bin/env bash
# `clearcube dataset` on bad input: each case must exit non-zero with one
# "clearcube: error:" line naming the file and the problem, and leave no output
# (no DATA.h5, no temporary). Inputs are derived from a SIMULATED 96x96 scene (56 % of
# a patch, so one patch), the NetCDF library input is written with ncgen: needs no ../shared.
set -u
CC=${CLEARCUBE_BIN:?}
T=${CLEARCUBE_TMP:-/tmp}/dataset_errors
rm -rf "$T"; mkdir -p "$T/out"
fails=0
"$CC" simulate -o "$T/sim" --size 96 >/dev/null || { echo "simulate failed"; exit 1; }
# a band folder lacking B8A and B12 (L1C)
mkdir -p "$T/partial"
i=1
for b in B01 B02 B03 B04 B05 B06 B07 B08 B8A B09 B10 B11 B12; do
  [ "$b" = B8A ] || [ "$b" = B12 ] || gdal_translate -q -b $i "$T/sim/S2A_SIMULATED_L1C.tif" "$T/partial/SIM_$b.tif"
  i=$((i+1))
done

ANGLES="    spacecraft: S2A
    date: 2024-06-15
    sun_zenith: 35
    sun_azimuth: 150
    view_zenith: 5
    view_azimuth: 100
    dn_offset: -1000"
good_source() { # scene split
  cat <<YAML
  - scene: $1
    kind: reference
    split: $2
    path: sim/S2A_SIMULATED_L1C.tif
    bands: B01,B02,B03,B04,B05,B06,B07,B08,B8A,B09,B10,B11,B12
$ANGLES
YAML
}

# expect_fail NAME PATTERN CONFIG [OUT]: wants rc != 0, exactly one stderr line
# "clearcube: error: ..." matching PATTERN, and nothing written in $T/out.
expect_fail() {
  local name=$1 pat=$2 cfg=$3 out=${4:-$T/out/data.h5}
  rm -rf "$T/out"; mkdir -p "$T/out"
  "$CC" dataset "$cfg" -o "$out" --log-level error >"$T/stdout" 2>"$T/stderr"
  local rc=$?
  local n; n=$(wc -l < "$T/stderr")
  local last; last=$(tail -n 1 "$T/stderr")
  if [ $rc -eq 0 ]; then echo "FAIL $name: exit code 0"; fails=$((fails+1)); return; fi
  if [ "$n" -ne 1 ]; then echo "FAIL $name: $n stderr lines:"; cat "$T/stderr"; fails=$((fails+1)); return; fi
  if ! grep -q '^clearcube: error: ' <<<"$last"; then echo "FAIL $name: not an error line: $last"; fails=$((fails+1)); return; fi
  if ! grep -Eq "$pat" <<<"$last"; then echo "FAIL $name: message does not match /$pat/: $last"; fails=$((fails+1)); return; fi
  if [ -n "$(ls -A "$T/out")" ]; then echo "FAIL $name: output left behind: $(ls -A "$T/out")"; fails=$((fails+1)); return; fi
  echo "ok   $name (rc $rc): $last"
}

expect_fail "missing config" "nope.yaml: cannot open" "$T/nope.yaml"

printf 'seed: 1\nsources:\n  - scene: [unclosed\n' > "$T/badyaml.yaml"
expect_fail "bad YAML" "badyaml.yaml: line [0-9]+: invalid YAML" "$T/badyaml.yaml"

{ echo "seed: 1"; echo "colour: blue"; echo "sources:"; good_source A train; } > "$T/unknown_top.yaml"
expect_fail "unknown top-level key" "unknown_top.yaml: colour: unknown key" "$T/unknown_top.yaml"

{ echo "sources:"; good_source A train; echo "    aerosol: 0.1"; } > "$T/unknown_src.yaml"
expect_fail "unknown source key" "unknown_src.yaml: sources\[0\]\.aerosol: unknown key" "$T/unknown_src.yaml"

{ echo "sources:"; good_source A train; echo "    variants: 3"; } > "$T/wrong_kind.yaml"
expect_fail "key of another kind" "wrong_kind.yaml: sources\[0\]\.variants: does not apply to kind reference" "$T/wrong_kind.yaml"

{ echo "sources:"; good_source A train | sed 's/    split: train/    split: test/'; } > "$T/bad_split.yaml"
expect_fail "bad split value" "bad_split.yaml: sources\[0\]\.split: 'test' is not one of train\|val" "$T/bad_split.yaml"

{ echo "sources:"; good_source A train | grep -v "kind:"; } > "$T/no_kind.yaml"
expect_fail "missing kind" "no_kind.yaml: sources\[0\]\.kind: missing" "$T/no_kind.yaml"

{ echo "sources:"; good_source A train | sed 's#sim/S2A_SIMULATED_L1C.tif#sim/missing.tif#'; } > "$T/missing_file.yaml"
expect_fail "missing input file" "missing_file.yaml: sources\[0\]\.path: .*missing.tif: No such file" "$T/missing_file.yaml"

{ echo "sources:"; good_source A train; good_source B train; good_source A val; } > "$T/two_splits.yaml"
expect_fail "scene in both splits" "two_splits.yaml: sources\[2\]\.split: scene 'A' is 'val'.*'train' in sources\[0\]" "$T/two_splits.yaml"

{ echo "missing_bands: error"; echo "sources:"; echo "  - scene: P"; echo "    kind: reference"; echo "    split: train"; echo "    path: partial"; echo "$ANGLES"; } > "$T/partial_err.yaml"
expect_fail "source without needed bands (missing_bands: error)" "partial: sources\[0\] \(P\): lacks band\(s\) B8A,B12" "$T/partial_err.yaml"

{ echo "sources:"; echo "  - scene: P"; echo "    kind: reference"; echo "    split: train"; echo "    path: partial"; echo "$ANGLES"; } > "$T/partial_skip.yaml"
expect_fail "only source skipped for missing bands" "partial_skip.yaml: no patch was produced \(1 source\(s\) skipped" "$T/partial_skip.yaml"

{ echo "sources:"; good_source A train; } > "$T/good.yaml"
expect_fail "output folder missing" "nodir/data.h5: cannot create the output" "$T/good.yaml" "$T/out/nodir/data.h5"
mkdir -p "$T/ro"; chmod 555 "$T/ro"
if [ "$(id -u)" != 0 ]; then
  expect_fail "output folder not writable" "ro/data.h5: cannot create the output" "$T/good.yaml" "$T/ro/data.h5"
  [ -z "$(ls -A "$T/ro")" ] || { echo "FAIL: files left in read-only folder"; fails=$((fails+1)); }
fi
chmod 755 "$T/ro"
# not writable even for root (this test may run as root, where chmod 555 does not stop it)
expect_fail "output not writable (/proc)" "/proc/clearcube-dataset-test.h5: cannot create the output" "$T/good.yaml" /proc/clearcube-dataset-test.h5
mkdir -p "$T/adir"
expect_fail "output is a folder" "adir: is a directory" "$T/good.yaml" "$T/adir"

# ---- kinds library and simulated
lib_source() { # path format bands [classes]
  printf '  - scene: L\n    kind: library\n    split: train\n    format: %s\n    path: %s\n    bands: %s\n' "$2" "$1" "$3"
  [ -z "${4:-}" ] || printf '    classes: %s\n' "$4"
}
gdal_translate -q -b 1 -b 5 "$T/sim/S2A_SIMULATED_L1C.tif" "$T/lib_b01_b05.tif"
{ echo "sources:"; lib_source lib_b01_b05.tif stack B01,B05; } > "$T/lib_bands.yaml"
expect_fail "library source without B02/B03/B04/B08" "lib_b01_b05.tif: the library needs at least B02, B03, B04 and B08" "$T/lib_bands.yaml"

echo "not a raster" > "$T/broken.tif"
{ echo "sources:"; lib_source broken.tif stack B02,B03,B04,B08; } > "$T/lib_broken.yaml"
expect_fail "library file GDAL cannot read" "broken.tif: not a raster GDAL can read" "$T/lib_broken.yaml"

cat > "$T/lib.cdl" <<'CDL'
netcdf lib {
dimensions: t = 1 ; y = 2 ; x = 2 ;
variables: ushort B02(t, y, x) ; ushort B03(t, y, x) ; ushort B04(t, y, x) ; ushort B08(t, y, x) ;
  ubyte SCL(t, y, x) ;
data: B02 = 500, 510, 520, 530 ; B03 = 700, 710, 720, 730 ; B04 = 400, 410, 420, 430 ;
  B08 = 3000, 3100, 3200, 3300 ; SCL = 4, 4, 5, 5 ;
}
CDL
ncgen -k nc4 -o "$T/lib.nc" "$T/lib.cdl" || { echo "FAIL ncgen"; fails=$((fails+1)); }
{ echo "sources:"; lib_source lib.nc netcdf B02,B03,B04,B08 SCL; } > "$T/lib_classes.yaml"
expect_fail "classes variable not among the bands" "lib.nc: classes variable 'SCL' is not among bands/bands2" "$T/lib_classes.yaml"

printf 'sources:\n  - scene: S\n    kind: simulated\n    split: train\n    patches: 2\n' > "$T/sim_only.yaml"
expect_fail "simulated source without a library" "sim_only.yaml: sources\[0\] \(S\): kind simulated needs a spectral library" "$T/sim_only.yaml"

# a skipped source beside a good one: warning, success
{ echo "sources:"; good_source A train; echo "  - scene: P"; echo "    kind: reference"; echo "    split: val"; echo "    path: partial"; echo "$ANGLES"; } > "$T/mixed.yaml"
if "$CC" dataset "$T/mixed.yaml" -o "$T/out/mixed.h5" >"$T/stdout" 2>"$T/stderr" && grep -q "warning: .*partial: sources\[1\] (P) lacks band(s) B8A,B12.*skipped" "$T/stderr" \
   && [ -s "$T/out/mixed.h5" ] && [ -z "$(ls "$T/out" | grep tmp)" ]; then
  echo "ok   skipped source beside a good one: $(cat "$T/stdout")"
else
  echo "FAIL skipped source beside a good one"; cat "$T/stderr"; fails=$((fails+1))
fi

[ $fails -eq 0 ] && echo "all bad-input cases ok" || echo "$fails failure(s)"
[ $fails -eq 0 ]
