#!/usr/bin/env bash
# scripts/cloudless-real-day (what scripts/demo runs) on the REAL WorldCereal site 1 series:
# ingest, `clearcube cloudless` (Kalman reanalysis, shipped parameters) for 2018-06-13 (SCL: 55 %
# cloud), the input | output | sd picture. Checks the product's layers, that every pixel is
# filled, and that the uncertainty is larger where S2 was cloudy that day than where it was
# clear. Skips (77) without ../shared.
set -u
BIN=${CLEARCUBE_BIN:?}
SRC=${CLEARCUBE_SOURCE:?}
T=${CLEARCUBE_TMP:-/tmp}/cloudless_real_day
WC=${CLEARCUBE_SHARED:-/nonexistent}/datasets/worldcereal-s2-s1-l8-timeseries/worldcerealtraining
if [ ! -d "$WC" ]; then
  echo "SKIP: the WorldCereal series are not under ${CLEARCUBE_SHARED:-(CLEARCUBE_SHARED unset)}" >&2
  exit 77
fi
rm -rf "$T"
CLEARCUBE_BIN="$BIN" "$SRC/scripts/cloudless-real-day" "$T" > "$T.log" 2>&1 || { cat "$T.log"; echo "FAIL the script"; exit 1; }
cat "$T.log"
/usr/bin/python3 - "$T" <<'PY'
import sys, os, numpy as np, netCDF4
T = sys.argv[1]
bad = 0
def check(ok, what):
    global bad
    print(("ok   " if ok else "FAIL ") + what); bad += not ok
names = ["B02","B03","B04","B05","B06","B07","B08","B8A","B11","B12"]
with netCDF4.Dataset(f"{T}/site1_2018-06-13.nc") as d:
    check(d.product == "cloudless-kalman" and list(d["time"][:]) == [17695], "product cloudless-kalman, one date 2018-06-13")
    check(all(b in d.variables and "sd_" + b in d.variables for b in names) and "days_since_s2" in d.variables,
          "10 bands, their sd_* and days_since_s2")
    d.set_auto_maskandscale(False)
    b04, sd = np.array(d["B04"][0]), np.array(d["sd_B04"][0]) * 1e-4
    ds = np.array(d["days_since_s2"][0]).astype(int) - 1
with netCDF4.Dataset(f"{T}/cubes/site1_s2.nc") as s:
    s.set_auto_maskandscale(False)
    k = list(np.array(s["time"][:])).index(17695)
    m = np.array(s["cloud_mask"][k]).astype(int) - 1
clear = (m == 1) | (m == 5)
check(0.3 < clear.mean() < 0.6, f"the day is partly cloudy: {100 * (1 - clear.mean()):.0f} % masked")
check(np.all(b04 > 0), "every pixel filled")
check(np.array_equal(ds == 0, clear), "days_since_s2 is 0 exactly where S2 was clear that day")
check(sd[~clear].mean() > 1.5 * sd[clear].mean(),
      f"sd_B04 under the cloud {sd[~clear].mean():.4f} > 1.5 x where clear {sd[clear].mean():.4f}")
png = f"{T}/site1_2018-06-13_input-output-sd.png"
check(os.path.getsize(png) > 10000 and open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n", "the picture is a PNG")
sys.exit(1 if bad else 0)
PY
