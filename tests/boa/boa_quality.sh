#!/usr/bin/env bash
# The quality layer and --fallback reference of `clearcube boa` (issue 13), on SIMULATED scenes:
#   - a model trained by `clearcube train` carries its training domain (/domain);
#   - a pixel pushed out of the domain (TOA far beyond the training pixels) has the quality bit
#     out_of_domain (64), an ordinary pixel none; with --fallback reference the flagged pixel also
#     has recomputed_by_reference (128) and its 12 bands equal `clearcube reference` (the same
#     per-pixel context) to <= 1 DN, the other pixels are unchanged;
#   - a sun lower than any training scene puts the whole scene out of the domain; with the
#     fallback the whole cube equals the reference to <= 1 DN;
#   - a saturated input band (DN 65535) has the bit saturated (2), nodata pixels exactly the bit
#     nodata (1), exactly where the bands are 0 (the cloud-mask bits 4..32 aside);
#   - the cube's quality layer is uint8 with CF flag_masks/flag_meanings (issue 16), its counts
#     are in the global attributes and in the log;
#   - a model file without /domain (before issue 13) still runs (the box of its normalisation);
#     a damaged /domain attribute, a bad --fallback: one clear error line and no output;
#   - scripts/boa-quality-report reads the cubes and counts the same pixels.
set -u
CC=${CLEARCUBE_BIN:?}
SRC=${CLEARCUBE_SOURCE:?}
T=${CLEARCUBE_TMP:-/tmp}/boa_quality
export SOURCE_DATE_EPOCH=1700000000
rm -rf "$T" && mkdir -p "$T" && cd "$T" || exit 1
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
expect_fail() { # NAME PATTERN CMD...: rc != 0, one "clearcube: error:" line matching PATTERN
  local name=$1 pat=$2; shift 2
  "$@" >out.txt 2>err.txt; local rc=$?
  if [ $rc -eq 0 ]; then fail "$name: exit 0"; return; fi
  if [ "$(grep -c . err.txt)" -ne 1 ] || ! grep -Eq "^clearcube: error: .*$pat" err.txt; then
    fail "$name: stderr: $(cat err.txt)"; return; fi
  echo "ok   $name: $(cat err.txt)"
}

# a small trained model (3 simulated scenes, reference targets)
. "$(dirname "$(readlink -f "$0")")/../lib/sim_dataset.sh"
cc_sim_dataset "$CC" 3 96 || { echo "dataset failed"; exit 1; }
cat > m.yaml <<YAML
dataset: data.h5
model: m.h5
checkpoint: m.ckpt.h5
loss_plot: m.png
log: m.jsonl
arch:
  hidden: [16]
train:
  steps: 30
  batch: 1024
  chunks: 2
  warmup: 5
  checkpoint_every: 30
  eval_every: 30
  eval_pixels: 2048
YAML
"$CC" train m.yaml --no-progress --log-level warn >/dev/null || { echo "train failed"; exit 1; }
/usr/bin/python3 -c "import h5py; g = h5py.File('m.h5')['domain']; assert g.attrs['mahalanobis_threshold'] > 0" \
  && echo "ok   the trained model carries /domain" || fail "no /domain in the trained model"

# the scene: the first training scene with its training geometry (so its context is inside the
# domain), and pixel (x 10, y 10) far brighter than any training pixel in every band
mkdir -p scene && cp sim1/S2A_SIMULATED_L1C.tif scene/ || exit 1
/usr/bin/python3 - <<'PY' || fail "editing the scene"
from osgeo import gdal
ds = gdal.Open("scene/S2A_SIMULATED_L1C.tif", gdal.GA_Update)
for b in range(1, ds.RasterCount + 1):
    a = ds.GetRasterBand(b).ReadAsArray()
    a[10, 10] = 30000  # TOA 2.9
    if b == 4:
        a[12, 30] = 65535  # B04 saturated (the L1C SATURATED value)
    ds.GetRasterBand(b).WriteArray(a)
ds = None
PY
OPTS="--bands B01,B02,B03,B04,B05,B06,B07,B08,B8A,B09,B10,B11,B12 --spacecraft S2A --date 2024-06-15
  --sun-zenith 33 --sun-azimuth 150 --view-zenith 5 --view-azimuth 100 --dn-offset -1000"
IN=scene/S2A_SIMULATED_L1C.tif
# shellcheck disable=SC2086
"$CC" boa $IN $OPTS --model m.h5 -o boa.nc 2>boa.log || fail "boa: $(cat boa.log)"
# shellcheck disable=SC2086
"$CC" boa $IN $OPTS --model m.h5 --fallback reference -o fb.nc 2>fb.log || fail "boa --fallback: $(cat fb.log)"
# shellcheck disable=SC2086
"$CC" reference $IN $OPTS -o ref.nc --log-level warn || fail "reference"
grep -q "out of domain" fb.log && grep -q "recomputed by the reference processor" fb.log \
  && echo "ok   the log counts the flagged and recomputed pixels" || fail "log: $(cat fb.log)"

# a sun lower than any training scene (sun zenith 33 and 41 there): every pixel out of the domain
LOW=$(echo "$OPTS" | sed 's/--sun-zenith [0-9.]*/--sun-zenith 72/')
# shellcheck disable=SC2086
"$CC" boa $IN $LOW --model m.h5 --fallback reference -o low.nc --log-level warn || fail "boa low sun"
# shellcheck disable=SC2086
"$CC" reference $IN $LOW -o lowref.nc --log-level warn || fail "reference low sun"

/usr/bin/python3 - <<'PY' || fail "quality checks"
import netCDF4, numpy as np
B = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12"]
def cube(p):
    d = netCDF4.Dataset(p); d.set_auto_maskandscale(False); return d
boa, fb, ref = cube("boa.nc"), cube("fb.nc"), cube("ref.nc")
qv = boa["quality"]
assert qv.dtype == np.uint8, qv.dtype
assert list(qv.flag_masks) == [1, 2, 4, 8, 16, 32, 64, 128], qv.flag_masks
assert qv.flag_meanings == "nodata saturated cloud cloud_shadow snow water out_of_domain recomputed_by_reference"
assert qv._FillValue == 255 and list(qv.valid_range) == [0, 254]
# the bits of issue 16 (1 nodata, 2 saturated, 64 out of domain, 128 recomputed); the cloud bits aside
q, qf = boa["quality"][0] & 0xC3, fb["quality"][0] & 0xC3
assert q[10, 10] == 64, f"bright pixel flagged {q[10, 10]}"
assert qf[10, 10] == 192, f"bright pixel with fallback flagged {qf[10, 10]}"
share = (q == 64).mean()
assert q[60, 60] == 0 and share < 0.01, f"ordinary pixel {q[60, 60]}, {share:.3%} flagged"
assert ((q == 64) == (qf == 192)).all(), "the fallback recomputes exactly the flagged pixels"
assert q[12, 30] == 2 and qf[12, 30] == 2, f"saturated pixel flagged {q[12, 30]}, {qf[12, 30]}"
assert ((q == 1) == (boa["B02"][0] == 0)).all(), "quality nodata exactly where the bands are nodata"
assert (q == 1).any(), "the scene has a nodata border"
assert (boa["quality"][0][q == 1] == 1).all(), "nodata pixels carry no other bit"
flag = qf == 192
for b in B:
    a, f, r = boa[b][0].astype(int), fb[b][0].astype(int), ref[b][0].astype(int)
    d = np.abs(f[flag] - r[flag]).max()
    assert d <= 1, f"{b}: recomputed pixels differ from the reference by {d} DN"
    assert (f[~flag] == a[~flag]).all(), f"{b}: unflagged pixels changed by the fallback"
cnt = fb.getncattr("quality_counts")
assert f"recomputed_by_reference={flag.sum()}" in cnt and f"out_of_domain={flag.sum()}" in cnt, cnt
assert "Mahalanobis" in fb.getncattr("quality_domain")
print(f"ok   flags: bright pixel 64 -> 64+128 with fallback, {share:.3%} flagged, recomputed == reference (<= 1 DN)")
low, lowref = cube("low.nc"), cube("lowref.nc")
ql = low["quality"][0] & 0xC3
assert (ql[(ql != 1) & (ql != 2)] == 192).all() and ql[12, 30] == 2, f"low sun: flags {np.unique(ql)}"
on = ql == 192  # every valid pixel but the saturated one
worst = max(int(np.abs(low[b][0].astype(int)[on] - lowref[b][0].astype(int)[on]).max()) for b in B)
assert worst <= 1, f"low sun: fallback cube differs from the reference by {worst} DN"
print(f"ok   low sun: every pixel out of the domain, the cube equals the reference (max {worst} DN)")
PY

# the measurement script counts the same pixels
/usr/bin/python3 "$SRC/scripts/boa-quality-report" boa.nc ref.nc --json rep.json --label test > rep.md \
  || fail "boa-quality-report"
/usr/bin/python3 - <<'PY' || fail "report numbers"
import json, netCDF4, numpy as np
r = json.load(open("rep.json"))
q = netCDF4.Dataset("boa.nc")["quality"][0]
q = q & 0xC3  # nodata 1, saturated 2, out of domain 64, recomputed 128
assert r["bands"][0]["out"]["n"] == int((q == 64).sum()), r["bands"][0]
assert abs(r["flagged_share"] - (q == 64).sum() / (q != 1).sum()) < 1e-9
print("ok   boa-quality-report:", r["valid_pixels"], "valid,", f"{100 * r['flagged_share']:.3f} % flagged")
PY
/usr/bin/python3 "$SRC/scripts/boa-quality-report" boa.nc nope.nc > /dev/null 2> rerr.txt \
  && fail "report on a missing cube: exit 0" || grep -q "nope.nc" rerr.txt || fail "report error: $(cat rerr.txt)"

# a model file from before issue 13 (no /domain) runs, with the derived box
cp m.h5 old.h5
/usr/bin/python3 -c "import h5py; f = h5py.File('old.h5', 'a'); del f['domain']" || fail "old model"
# shellcheck disable=SC2086
"$CC" boa $IN $OPTS --model old.h5 -o old.nc --log-level info 2>old.log || fail "old model: $(cat old.log)"
grep -q "no /domain" old.log && ncdump -h old.nc | grep -q "ubyte quality(time, y, x)" \
  && echo "ok   old model file: loads, box of its normalisation, quality layer written" || fail "old model: $(cat old.log)"

# damaged /domain, bad option: one error line, no output
cp m.h5 bad.h5
/usr/bin/python3 -c "
import h5py, numpy as np
f = h5py.File('bad.h5', 'a'); g = f['domain']; v = g.attrs['lower'][:-1]
del g.attrs['lower']; g.attrs['lower'] = v.astype(np.float32)" || fail "damaging the model"
# shellcheck disable=SC2086
expect_fail "damaged /domain" "bad.h5: /domain attribute 'lower': [0-9]+ values, expected [0-9]+" \
  "$CC" boa $IN $OPTS --model bad.h5 -o x.nc
# shellcheck disable=SC2086
expect_fail "bad --fallback" "--fallback maybe: must be none or reference" "$CC" boa $IN $OPTS --model m.h5 \
  --fallback maybe -o x.nc
[ ! -e x.nc ] || fail "output left by a failed run"
[ $fails -eq 0 ] && echo "PASS boa_quality" || { echo "$fails failure(s)"; exit 1; }
