#!/usr/bin/env bash
# clearcube validate through the CLI: a clean run on a SIMULATED scene
# (reference cube vs the simulated truth, with the L1C panel), exact numbers
# for a known DN shift, PNG sizes (gdalinfo) and JSON (/usr/bin/python3), every
# bad-input case (one "clearcube: error:" line naming the file, non-zero exit,
# no report files), and, when ../shared is present, the real Sen2Cor L2A of
# sen2r-barbellino against clearcube reference.
set -u
CC=${CLEARCUBE_BIN:?}
PY=/usr/bin/python3
T=${CLEARCUBE_TMP:-/tmp}/validate_cli
rm -rf "$T"; mkdir -p "$T/in" "$T/out"
fails=0
fail() { echo "FAIL $*"; fails=$((fails+1)); }

"$CC" simulate -o "$T/sim" --size 48 >/dev/null || { echo "simulate failed"; exit 1; }
SIM="$T/sim/S2A_SIMULATED_L1C.tif"; TRUTH="$T/sim/S2A_SIMULATED_TRUTH_BOA.tif"
read -r -a OPTS < "$T/sim/S2A_SIMULATED_L1C.options"
"$CC" reference "$SIM" "${OPTS[@]}" -o "$T/in/ref.nc" --log-level warn || { echo "reference failed"; exit 1; }

# 1. clean run with the L1C panel: 48x48 -> x6 = 288x288 panels, 4 panels: 24 + 3*(288+12) + 288 wide, 40 + 288 + 78 high
"$CC" validate --prediction "$T/in/ref.nc" --reference "$TRUTH" --reference-dn-offset -1000 \
  --input "$SIM" --simulated --sample-label out-of-sample -o "$T/out/rep" >"$T/stdout" 2>"$T/stderr" \
  || { fail "clean run: rc $? $(tail -n1 "$T/stderr")"; }
for f in rep.md rep.json rep.png rep-hist.png; do [ -s "$T/out/$f" ] || fail "clean run: $f missing"; done
grep -q '^| B8A |' "$T/stdout" || fail "clean run: no B8A row on stdout"
grep -q '^| NDVI |' "$T/out/rep.md" || fail "clean run: no NDVI row"
size() { gdalinfo "$1" 2>/dev/null | sed -n 's/^Size is \([0-9]*\), \([0-9]*\)$/\1x\2/p'; }
[ "$(size "$T/out/rep.png")" = "1212x406" ] || fail "quicklook size $(size "$T/out/rep.png") != 1212x406"
[ "$(size "$T/out/rep-hist.png")" = "1280x750" ] || fail "histogram size $(size "$T/out/rep-hist.png") != 1280x750"
$PY - "$T/out/rep.json" <<'PYEOF' || fail "clean run: JSON"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["simulated"] is True and j["sample"] == "out-of-sample", j
assert [b["band"] for b in j["bands"]][:9] == ["B02","B03","B04","B05","B06","B08","B8A","B11","B12"], j["bands"]
assert len(j["bands"]) == 12 and j["ndvi"]["n_valid"] > 0
for b in j["bands"]:
    assert abs(b["mae_percent"] - b["mae_dn"] / 12000 * 100) < 1e-12
    assert b["rmse_dn"] >= b["mae_dn"] >= abs(b["bias_dn"])
    assert sum(b["histogram_counts"]) == b["n_valid"]
print("ok   clean run: JSON", {b["band"]: round(b["mae_dn"], 2) for b in j["bands"]})
PYEOF

# 2. a known shift: the truth against itself read with a DN offset of +7 -> MAE = bias = RMSE = 7, NDVI changes
"$CC" validate --prediction "$TRUTH" --prediction-dn-offset 7 --reference "$TRUTH" -o "$T/out/shift" --log-level warn >/dev/null \
  || fail "shift run"
$PY - "$T/out/shift.json" <<'PYEOF' || fail "shift: numbers"
import json, sys
j = json.load(open(sys.argv[1]))
assert len(j["bands"]) == 13
for b in j["bands"]:
    assert b["mae_dn"] == 7.0 and b["bias_dn"] == 7.0 and b["rmse_dn"] == 7.0, b
assert j["simulated"] is False and j["sample"] is None
print("ok   shift: 13 bands MAE = bias = RMSE = 7 DN exactly")
PYEOF
# and the same file against itself: all zero
"$CC" validate --prediction "$T/in/ref.nc" --reference "$T/in/ref.nc" >"$T/stdout" 2>&1 || fail "identity run"
grep -q '^| B4 | 0.0 | 0.00 | 0.0 | 0.0 |' "$T/stdout" || fail "identity: B4 row not zero: $(grep '^| B4' "$T/stdout")"
# determinism
"$CC" validate --prediction "$T/in/ref.nc" --reference "$TRUTH" --reference-dn-offset -1000 --input "$SIM" \
  --simulated --sample-label out-of-sample -o "$T/out/rep" --log-level warn >/dev/null
cp "$T/out/rep.png" "$T/rep1.png"
"$CC" validate --prediction "$T/in/ref.nc" --reference "$TRUTH" --reference-dn-offset -1000 --input "$SIM" \
  --simulated --sample-label out-of-sample -o "$T/out/rep" --log-level warn >/dev/null
cmp -s "$T/rep1.png" "$T/out/rep.png" || fail "quicklook not deterministic"

# 3. bad input
expect_fail() {
  local name=$1 pat=$2; shift 2
  rm -rf "$T/out"; mkdir -p "$T/out"
  "$@" >"$T/stdout" 2>"$T/stderr"
  local rc=$?
  local last; last=$(tail -n 1 "$T/stderr")
  if [ $rc -eq 0 ]; then fail "$name: exit code 0"; return; fi
  if ! grep -q '^clearcube: error: ' <<<"$last"; then fail "$name: last stderr line is not an error: $last"; return; fi
  if ! grep -Eq "$pat" <<<"$last"; then fail "$name: message does not match /$pat/: $last"; return; fi
  if [ -n "$(ls -A "$T/out")" ]; then fail "$name: output left behind: $(ls -A "$T/out")"; return; fi
  echo "ok   $name (rc $rc): $last"
}
V=("$CC" validate)
OUT=(-o "$T/out/rep")
expect_fail "missing prediction" "nope.nc" "${V[@]}" --prediction "$T/in/nope.nc" --reference "$TRUTH" "${OUT[@]}"
expect_fail "missing reference"  "nope.tif" "${V[@]}" --prediction "$T/in/ref.nc" --reference "$T/in/nope.tif" "${OUT[@]}"
expect_fail "missing input"      "nol1c.tif" "${V[@]}" --prediction "$T/in/ref.nc" --reference "$TRUTH" --input "$T/in/nol1c.tif" "${OUT[@]}"
"$CC" simulate -o "$T/sim40" --size 40 >/dev/null
expect_fail "different grid"     "ref.nc.*S2A_SIMULATED_TRUTH_BOA.tif.*same grid" "${V[@]}" --prediction "$T/in/ref.nc" --reference "$T/sim40/S2A_SIMULATED_TRUTH_BOA.tif" "${OUT[@]}"
gdal_translate -q -b 11 "$TRUTH" "$T/in/b10.tif"
expect_fail "no common band"     "b10.tif.*no band in common" "${V[@]}" --prediction "$T/in/ref.nc" --reference "$T/in/b10.tif" "${OUT[@]}"
head -c 3000 "$T/in/ref.nc" > "$T/in/truncated.nc"
expect_fail "truncated cube"     "truncated.nc" "${V[@]}" --prediction "$T/in/truncated.nc" --reference "$TRUTH" "${OUT[@]}"
echo "not a raster" > "$T/in/text.tif"
expect_fail "not a raster"       "text.tif" "${V[@]}" --prediction "$T/in/ref.nc" --reference "$T/in/text.tif" "${OUT[@]}"
cp "$TRUTH" "$T/in/noperm.tif"; chmod 000 "$T/in/noperm.tif"
if [ "$(id -u)" != 0 ]; then
  expect_fail "unreadable file"  "noperm.tif" "${V[@]}" --prediction "$T/in/ref.nc" --reference "$T/in/noperm.tif" "${OUT[@]}"
fi
chmod 644 "$T/in/noperm.tif"
expect_fail "band list mismatch" "bands" "${V[@]}" --prediction "$T/in/ref.nc" --reference "$TRUTH" --reference-bands B02,B03 "${OUT[@]}"
expect_fail "bad sample label"   "sample-label" "${V[@]}" --prediction "$T/in/ref.nc" --reference "$TRUTH" --sample-label training "${OUT[@]}"
expect_fail "bad dn offset"      "reference-dn-offset" "${V[@]}" --prediction "$T/in/ref.nc" --reference "$TRUTH" --reference-dn-offset x "${OUT[@]}"
expect_fail "no reference"       "reference" "${V[@]}" --prediction "$T/in/ref.nc" "${OUT[@]}"
expect_fail "unwritable output"  "no-such-dir/rep.md" "${V[@]}" --prediction "$T/in/ref.nc" --reference "$TRUTH" -o "$T/out/no-such-dir/rep"

# 4. real data: clearcube reference on the sen2r Barbellino L1C vs Sen2Cor L2A
S=${CLEARCUBE_SHARED:-}/datasets/sen2r-barbellino
if [ -n "${CLEARCUBE_SHARED:-}" ] && [ -d "$S" ]; then
  mkdir -p "$T/real"
  "$CC" reference "$S/S2A1C_20170703_022_Barbellino_TOA_10.tif" --bands B01,B02,B03,B04,B05,B06,B07,B08,B09,B10,B11,B12 \
    --spacecraft S2A --date 2017-07-03 --sun-zenith 27.5 --sun-azimuth 140.9 --view-zenith 5 --view-azimuth 105 \
    --dn-offset 0 --elevation 1900 -o "$T/real/ref.nc" --log-level warn || fail "real: reference"
  "$CC" validate --prediction "$T/real/ref.nc" --reference "$S/S2A2A_20170703_022_Barbellino_BOA_10.tif" \
    --reference-bands B01,B02,B03,B04,B05,B06,B07,B08,B09,B11,B12 --reference-dn-offset 0 \
    --input "$S/S2A1C_20170703_022_Barbellino_TOA_10.tif" --sample-label out-of-sample -o "$T/real/barbellino" \
    >"$T/real/stdout" 2>&1 || fail "real: validate $(tail -n1 "$T/real/stdout")"
  cat "$T/real/stdout"
  $PY -c "import json,sys; j=json.load(open(sys.argv[1])); assert len(j['bands'])==11 and all(b['n_valid']>900 for b in j['bands']), j['bands']" \
    "$T/real/barbellino.json" || fail "real: JSON"
else
  echo "skip real data (no ../shared)"
fi

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all ok"
