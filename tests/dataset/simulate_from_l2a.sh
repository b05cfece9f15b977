#!/usr/bin/env bash
# `clearcube simulate --from-l2a` on a synthetic Sen2Cor-like L2A band folder (needs no
# ../shared): the 12 BOA bands are the true surface of a SIMULATED 96x96 scene, with
# constant AOT (0.2) and WVP (1.5 g cm-2) layers and one nodata pixel in B03.
#  1. per-pixel atmosphere from the layers: `clearcube reference --aot 0.2 --water-vapour 1.5`
#     on the simulated L1C (with its .options) gives back the written BOA stack within
#     2 DN (B09: 5 DN, the 0.5 DN TOA rounding amplified by 1/(tg T T)); nodata matches;
#  2. the same with --aot 0.35 --water-vapour 2.5 given on the command line;
#  3. bad input: one "clearcube: error:" line naming the file, non-zero exit, nothing written.
set -u
CC=${CLEARCUBE_BIN:?}
T=${CLEARCUBE_TMP:-/tmp}/simulate_from_l2a
rm -rf "$T"; mkdir -p "$T"
fails=0
fail() { echo "FAIL $*"; fails=$((fails+1)); }
"$CC" simulate -o "$T/sim" --size 96 >/dev/null || { echo "simulate failed"; exit 1; }
BANDS=B01,B02,B03,B04,B05,B06,B07,B08,B8A,B09,B11,B12
L2A=$T/SYNTH_MSIL2A
mkdir -p "$L2A"
i=1
for b in B01 B02 B03 B04 B05 B06 B07 B08 B8A B09 B10 B11 B12; do
  [ "$b" = B10 ] || gdal_translate -q -b $i "$T/sim/S2A_SIMULATED_TRUTH_BOA.tif" "$L2A/SYNTH_$b.tif"
  i=$((i+1))
done
gdal_create -q -if "$L2A/SYNTH_B02.tif" -ot UInt16 -bands 1 -burn 200 "$L2A/SYNTH_AOT.tif"
gdal_create -q -if "$L2A/SYNTH_B02.tif" -ot UInt16 -bands 1 -burn 1500 "$L2A/SYNTH_WVP.tif"
# one nodata pixel (col 40, row 30) in B03: nodata in all bands of both outputs
cat > "$T/px.geojson" <<'JSON'
{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"EPSG:32632"}},"features":[{"type":"Feature","properties":{},"geometry":{"type":"Polygon",
 "coordinates":[[[580401,5099691],[580409,5099691],[580409,5099699],[580401,5099699],[580401,5099691]]]}}]}
JSON
gdal_rasterize -q -burn 0 "$T/px.geojson" "$L2A/SYNTH_B03.tif" || { echo "gdal_rasterize failed"; exit 1; }
OPTS="--spacecraft S2B --date 2021-05-01 --sun-zenith 40 --sun-azimuth 150 --view-zenith 4 --view-azimuth 100 --dn-offset -1000"

# max |a - b| per band over pixels valid in b; a = NETCDF cube layer, b = GeoTIFF stack band
maxdiff() { # cube stack band_index band_name
  paste -d' ' <(gdal_translate -q -of XYZ "NETCDF:$1:$4" /vsistdout/) \
              <(gdal_translate -q -of XYZ -b "$3" "$2" /vsistdout/) |
    awk '{ a=$3; b=$6; if ((a==0) != (b==0)) nd++; else if (b != 0) { d=a-b; if (d<0) d=-d; if (d>m) m=d; n++ } }
         END { printf "%d %d %d\n", m+0, n+0, nd+0 }'
}

roundtrip() { # name aot wv [simulate options...]
  local name=$1 aot=$2 wv=$3; shift 3
  local D=$T/$name
  if ! "$CC" simulate --from-l2a "$L2A" -o "$D" $OPTS "$@" >"$T/$name.out" 2>"$T/$name.err"; then
    fail "$name: simulate failed: $(cat "$T/$name.err")"; return; fi
  for f in S2B_SIMULATED_L1C.tif S2B_SIMULATED_L1C.options S2B_SEN2COR_BOA.tif S2B_SEN2COR_BOA.options README-SIMULATED.txt; do
    [ -s "$D/$f" ] || fail "$name: $f missing"
  done
  grep -q "SIMULATED" "$D/README-SIMULATED.txt" || fail "$name: README does not say SIMULATED"
  grep -q -- "--bands $BANDS " "$D/S2B_SEN2COR_BOA.options" || fail "$name: BOA options lack the band list"
  if ! "$CC" reference "$D/S2B_SIMULATED_L1C.tif" $(cat "$D/S2B_SIMULATED_L1C.options") --aot "$aot" \
       --water-vapour "$wv" -o "$D/ref.nc" --log-level error; then fail "$name: reference failed"; return; fi
  local k=0
  for b in ${BANDS//,/ }; do
    k=$((k+1))
    read -r m n nd < <(maxdiff "$D/ref.nc" "$D/S2B_SEN2COR_BOA.tif" $k $b)
    local bound=2; [ "$b" = B09 ] && bound=5
    if [ "$n" -ne 8639 ] || [ "$m" -gt $bound ] || [ "$nd" -ne 0 ]; then
      fail "$name: band $b: max |reference - BOA| $m DN (bound $bound) over $n pixels, $nd nodata mismatches"
    else echo "ok   $name: band $b: max |reference - BOA| $m DN over $n pixels"; fi
  done
  # the validate path of the README works
  "$CC" validate --prediction "$D/ref.nc" --reference "$D/S2B_SEN2COR_BOA.tif" --reference-bands $BANDS \
    --reference-dn-offset -1000 --simulated >/dev/null 2>&1 || fail "$name: validate failed"
}

roundtrip layers 0.2 1.5
grep -q "per pixel from the product's AOT layer (mean 0.200" "$T/layers/README-SIMULATED.txt" || fail "layers: README lacks the AOT layer"
roundtrip given 0.35 2.5 --aot 0.35 --water-vapour 2.5 --elevation 0
grep -q "AOT at 550 nm: 0.35, uniform (command line)" "$T/given/README-SIMULATED.txt" || fail "given: README lacks --aot"

# ---- bad input
mkdir -p "$T/partial"; for f in "$L2A"/*; do case $f in *B12.tif) ;; *) cp "$f" "$T/partial/";; esac; done
mv "$T/partial" "$T/PARTIAL_MSIL2A"
: > "$T/afile"
expect_fail() { # name pattern outdir args...
  local name=$1 pat=$2 out=$3; shift 3
  "$CC" simulate "$@" -o "$out" >"$T/stdout" 2>"$T/stderr"
  local rc=$? n; n=$(wc -l < "$T/stderr")
  local last; last=$(tail -n 1 "$T/stderr")
  if [ $rc -eq 0 ]; then fail "$name: exit code 0"; return; fi
  if [ "$n" -ne 1 ]; then fail "$name: $n stderr lines: $(cat "$T/stderr")"; return; fi
  if ! grep -q '^clearcube: error: ' <<<"$last"; then fail "$name: not an error line: $last"; return; fi
  if ! grep -Eq -- "$pat" <<<"$last"; then fail "$name: message does not match /$pat/: $last"; return; fi
  if [ -e "$out" ] && [ ! -f "$out" ] && [ -n "$(ls -A "$out")" ]; then fail "$name: output left behind: $(ls -A "$out")"; return; fi
  if [ -d "$out" ] && [ "$name" != "existing empty dir" ]; then fail "$name: output folder created"; return; fi
  echo "ok   $name (rc $rc): $last"
}
expect_fail "missing product" "nope_MSIL2A: " "$T/o1" --from-l2a "$T/nope_MSIL2A" $OPTS
expect_fail "not L2A" "S2A_SIMULATED_L1C.tif: not recognised as Level-2A" "$T/o2" \
  --from-l2a "$T/sim/S2A_SIMULATED_L1C.tif" $OPTS --bands B01,B02,B03,B04,B05,B06,B07,B08,B8A,B09,B10,B11,B12
expect_fail "missing band" "PARTIAL_MSIL2A: lacks band\(s\) B12" "$T/o3" --from-l2a "$T/PARTIAL_MSIL2A" $OPTS
expect_fail "stack without angles" "SYNTH_MSIL2A: .*needs option\(s\) .*sun_zenith" "$T/o4" --from-l2a "$L2A" --spacecraft S2B --date 2021-05-01
expect_fail "unwritable DIR (under a file)" "afile/sub: cannot create directory" "$T/afile/sub" --from-l2a "$L2A" $OPTS
expect_fail "DIR is a file" "afile: cannot create directory" "$T/afile" --from-l2a "$L2A" $OPTS
mkdir -p "$T/o5"
expect_fail "existing empty dir" "PARTIAL_MSIL2A: lacks" "$T/o5" --from-l2a "$T/PARTIAL_MSIL2A" $OPTS
expect_fail "--size with --from-l2a" "--size/--seed" "$T/o6" --from-l2a "$L2A" $OPTS --size 64

[ $fails -eq 0 ] && echo "all ok" || echo "$fails failure(s)"
[ $fails -eq 0 ]
