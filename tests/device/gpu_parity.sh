#!/usr/bin/env bash
# The commands on the GPU against the CPU (issue 15), on SIMULATED inputs: `boa` and `reference`
# (a 600 x 600 scene: 2 slabs, 5 blocks of the reference's queue) and `cloudless` (synthetic
# sensor cubes) with --device cpu and --device cuda, compared by `clearcube validate`:
#  - boa, reference: every band's differences within 1 DN (the histogram of differences has
#    nothing outside [-1, +1] and counts every pixel), the same valid pixels (masks exact: the
#    comparison's n_valid equals the CPU cube's own);
#  - cloudless: the same valid pixels, P99 of the differences <= 1 DN (the fusion network on the
#    CUDA backend within the backend's documented tolerances, docs/gpu.md).
# Exit 77 without a usable GPU (the CPU-only parts are in test_reference_overlap, cli_device).
set -u
BIN=${CLEARCUBE_BIN:?}
T=${CLEARCUBE_TMP:-/tmp}/gpu_parity
if "$BIN" --version 2>&1 | grep -q '^devices: cpu only'; then
  echo "SKIP: $("$BIN" --version 2>&1 | grep '^devices:')"
  exit 77
fi
rm -rf "$T" && mkdir -p "$T" && cd "$T" || exit 1
fails=0
ok() { echo "ok   $1"; }
fail() { echo "FAIL $1"; fails=$((fails + 1)); }
# within1 VAL.json SELF.json [p99]: 0 when every band is within 1 DN (or P99 <= 1) with the same valid pixels
within1() {
  python3 - "$@" << 'PY'
import json, sys
d, self_ = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
p99 = len(sys.argv) > 3
h = d["histogram"]; w = (h["hi_dn"] - h["lo_dn"]) / h["nbins"]
lo, hi = int(round((-1 - h["lo_dn"]) / w)), int(round((1 - h["lo_dn"]) / w))
ref = {b["band"]: b["n_valid"] for b in self_["bands"]}
bad = []
for b in d["bands"]:
    c = b["histogram_counts"]
    out = sum(c[:lo]) + sum(c[hi + 1:]) + (b["n_valid"] - sum(c))
    if b["n_valid"] != ref.get(b["band"]):
        bad.append("%s: %d valid vs %d" % (b["band"], b["n_valid"], ref.get(b["band"], -1)))
    elif p99 and b["p99_abs_dn"] > 1:
        bad.append("%s: P99 %.2f DN" % (b["band"], b["p99_abs_dn"]))
    elif not p99 and out:
        bad.append("%s: %d pixels more than 1 DN apart" % (b["band"], out))
    print("%s: MAE %.4f DN, P99 %.2f DN" % (b["band"], b["mae_dn"], b["p99_abs_dn"]))
print("; ".join(bad) or "within tolerance")
sys.exit(1 if bad else 0)
PY
}
"$BIN" simulate -o sim --size 600 --seed 9 > /dev/null || { echo "FAIL simulate"; exit 1; }
read -r -a OPTS < sim/S2A_SIMULATED_L1C.options
for p in boa reference; do
  for d in cpu cuda; do
    "$BIN" $p sim/S2A_SIMULATED_L1C.tif "${OPTS[@]}" -o $p-$d.nc --device $d --log-level info 2> $p-$d.log \
      || fail "$p --device $d: $(tail -n 2 $p-$d.log)"
  done
  "$BIN" validate --prediction $p-cuda.nc --reference $p-cpu.nc --simulated -o $p-val > /dev/null 2>&1 &&
    "$BIN" validate --prediction $p-cpu.nc --reference $p-cpu.nc --simulated -o $p-self > /dev/null 2>&1 &&
    within1 $p-val.json $p-self.json > $p-cmp.txt && ok "$p: GPU = CPU within 1 DN, same masks ($(grep -o 'on cuda.*' $p-cuda.log | head -c 80))" \
    || fail "$p: $(tail -n 1 $p-cmp.txt 2> /dev/null)"
done
read -r CTILE _ < <("$BIN" cloudless-sim --out-dir cubes --synthetic --days 60 --size 128 --seed 3 2> /dev/null)
for d in cpu cuda; do
  "$BIN" cloudless cubes --tile "$CTILE" --date 2020-05-10 -o cl-$d.nc --method fusion --device $d --log-level warn 2> cl-$d.log \
    || fail "cloudless --device $d: $(tail -n 2 cl-$d.log)"
done
"$BIN" validate --prediction cl-cuda.nc --reference cl-cpu.nc --simulated -o cl-val > /dev/null 2>&1 &&
  "$BIN" validate --prediction cl-cpu.nc --reference cl-cpu.nc --simulated -o cl-self > /dev/null 2>&1 &&
  within1 cl-val.json cl-self.json p99 > cl-cmp.txt && ok "cloudless --method fusion (the network): GPU = CPU (P99 <= 1 DN, same valid pixels)" \
  || fail "cloudless: $(tail -n 1 cl-cmp.txt 2> /dev/null)"
[ $fails -eq 0 ] && echo "PASS gpu_parity" || { echo "$fails failure(s)"; exit 1; }
