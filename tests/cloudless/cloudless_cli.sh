#!/usr/bin/env bash
# clearcube cloudless-sim / cloudless through the CLI and as the distributed
# job's product: SIMULATED (synthetic) sensor cubes -> the day's cloud-free
# image against the truth, evidence layers, block-size independence; the job
# on 1 and 2 ranks gives the same cube, a second daily job appends its day;
# bad inputs give one line and nothing written.  Needs no ../shared.
set -u
BIN=${CLEARCUBE_BIN:?}
MPIEXEC=${1:-mpirun}
SRC=${CLEARCUBE_SOURCE:?}
T=${CLEARCUBE_TMP:-/tmp}/cloudless_cli
rm -rf "$T" && mkdir -p "$T" && cd "$T" || exit 1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
# sanitizer builds: Open MPI's own allocations are suppressed, as in tests/run/run_mpi.sh
export OMPI_MCA_mca_base_component_disable_dlclose=1
export LSAN_OPTIONS="suppressions=$SRC/tests/lsan-libs.supp:fast_unwind_on_malloc=0:print_suppressions=0"
fails=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails + 1)); }
MODEL=$SRC/models/cloudless.h5

line=$("$BIN" cloudless-sim --out-dir cubes --synthetic --days 120 --size 48 --seed 3) || { echo "FAIL cloudless-sim"; exit 1; }
read -r TILE FIRST LAST SIZE <<< "$line"
[ "$TILE" = 33UUP ] && [ "$FIRST" = 2020-03-01 ] && [ "$SIZE" = 48x48 ] && ok "cloudless-sim: $line" || bad "cloudless-sim printed '$line'"
for s in s2 landsat olci s1 truth; do [ -s "cubes/${TILE}_$s.nc" ] || bad "no cubes/${TILE}_$s.nc"; done

"$BIN" cloudless cubes --tile "$TILE" --date 2020-05-10 -o day.nc --model "$MODEL" --quicklook day.png --log-level warn \
  && ok "cloudless ran" || bad "cloudless failed"
"$BIN" cloudless cubes --tile "$TILE" --date 2020-05-10 -o day-rows.nc --model "$MODEL" --block 5 --log-level warn \
  || bad "cloudless --block 5 failed"
[ -s day.png ] && ok "quicklook written" || bad "no quicklook"

/usr/bin/python3 - <<'PY' && ok "values vs SIMULATED truth, evidence, block-size independence" || bad "cloudless output checks"
import sys, numpy as np, netCDF4
def L(p, v, t=0):
    with netCDF4.Dataset(p) as d:
        d.set_auto_maskandscale(False); return np.array(d[v][t]).astype(float)
day = 18392  # 2020-05-10, days since 1970-01-01
with netCDF4.Dataset("cubes/33UUP_truth.nc") as d:
    ti = int(np.where(np.array(d["time"][:]) == day)[0][0])
bad = 0
names = ["B02","B03","B04","B05","B06","B07","B08","B8A","B11","B12"]
for b in names:
    out = L("day.nc", b) * 1e-4 - 0.1
    tru = L("cubes/33UUP_truth.nc", b, ti) * 1e-4 - 0.1
    mae = np.abs(out - tru).mean()
    print(f"  {b}: MAE vs truth {mae:.4f}")
    bad += not (mae < 0.1)  # a sanity bound: the accuracy is measured by gapfill-eval
    bad += not np.array_equal(L("day.nc", b), L("day-rows.nc", b))
ds = L("day.nc", "days_since_s2") - 1; sens = L("day.nc", "sensors")  # flag_masks 1 S2, 2 Landsat, 4 OLCI, 8 S1; fill 255
with netCDF4.Dataset("cubes/33UUP_s2.nc") as d:
    t = np.array(d["time"][:]); d.set_auto_maskandscale(False); m = np.array(d["cloud_mask"][:])
# days since the last clear S2 recomputed from the sensor cube
want = np.full(m.shape[1:], -1.0)
for k in range(len(t)):
    if t[k] <= day:
        want = np.where(m[k] == 2, day - t[k], want)
want = np.where((want < 0) | (want > 45), -1, want)
print(f"  days_since_s2: {np.mean(ds == want):.3f} of pixels as recomputed; max {ds.max():.0f}")
bad += not np.array_equal(ds, want)
# where S2 is clear on the day the output is that observation
with netCDF4.Dataset("cubes/33UUP_s2.nc") as d:
    d.set_auto_maskandscale(False)
    k = int(np.where(np.array(d["time"][:]) == day)[0][0])
    clear = np.array(d["cloud_mask"][k]) == 2
    for b in names:
        bad += not np.array_equal(np.array(d[b][k])[clear], L("day.nc", b)[clear])
print(f"  {clear.sum()} pixels clear on the day carry their observation")
bad += not (sens.min() >= 1 and np.all((sens.astype(int) & 1) | (ds < 0)))
bad += not np.array_equal(L("day.nc", "sensors"), L("day-rows.nc", "sensors"))
sys.exit(1 if bad else 0)
PY

# the distributed job: 3 days on 1 and on 2 ranks, then one more day appended
cat > job.yaml <<JOB
product: cloudless
area:
  tiles: [$TILE]
dates:
  start: 2020-05-10
  end: 2020-05-12
catalogues: [cubes]
output: out1
model: $MODEL
JOB
sed 's/output: out1/output: out2/' job.yaml > job2.yaml
"$MPIEXEC" -n 1 "$BIN" run job.yaml --log-level warn > run1.log 2>&1 || bad "run on 1 rank: $(tail -2 run1.log)"
"$MPIEXEC" -n 2 "$BIN" run job2.yaml --log-level warn > run2.log 2>&1 || bad "run on 2 ranks: $(tail -2 run2.log)"
/usr/bin/python3 - "$TILE" <<'PY' && ok "job: 3 days, 1 rank == 2 ranks, day == the single-day command" || bad "job cubes differ"
import sys, numpy as np, netCDF4
tile = sys.argv[1]
def load(p):
    with netCDF4.Dataset(p) as d:
        d.set_auto_maskandscale(False)
        return {v: np.array(d[v][:]) for v in d.variables if v != "spatial_ref"}
a, b = load(f"out1/{tile}.nc"), load(f"out2/{tile}.nc")
one = load("day.nc")
ok = list(a["time"]) == [18392, 18393, 18394] and all(np.array_equal(a[k], b[k]) for k in a)
ok = ok and all(np.array_equal(a[k][0], one[k][0]) for k in one if k not in ("time", "x", "y"))
sys.exit(0 if ok else 1)
PY
sed -e 's/start: 2020-05-10/start: 2020-05-13/' -e 's/end: 2020-05-12/end: 2020-05-13/' job.yaml > job3.yaml
"$MPIEXEC" -n 2 "$BIN" run job3.yaml --mosaic-res 20 --log-level warn > run3.log 2>&1 || bad "daily job: $(tail -2 run3.log)"
/usr/bin/python3 -c "
import netCDF4, sys
days = [18392, 18393, 18394, 18395]
d, m = netCDF4.Dataset('out1/$TILE.nc'), netCDF4.Dataset('out1/mosaic.nc')
sys.exit(0 if list(d['time'][:]) == days and list(m['time'][:]) == days and 'days_since_s2' in m.variables else 1)" \
  && ok "the next day's job appends its day to the tile cube and the regional mosaic" || bad "daily append"

# the default method, the Kalman reanalysis: == `cloudless-daily --reanalysis` of the day bit for bit,
# sd_* layers with their CF attributes; the distributed job without a model file makes the same day
"$BIN" cloudless cubes --tile "$TILE" --date 2020-05-10 -o k.nc --quicklook k.png --log-level warn \
  && [ -s k.png ] && ok "cloudless (Kalman, the default) ran" || bad "cloudless (Kalman) failed"
"$BIN" cloudless-daily cubes --tile "$TILE" --reanalysis --from 2020-05-10 --date 2020-05-10 -o kr.nc \
  --log-level warn > /dev/null || bad "cloudless-daily --reanalysis failed"
sed -e '/^model:/d' -e 's/output: out1/output: out4/' -e 's/end: 2020-05-12/end: 2020-05-10/' job.yaml > job4.yaml
"$MPIEXEC" -n 1 "$BIN" run job4.yaml --log-level warn > run4.log 2>&1 || bad "Kalman job: $(tail -2 run4.log)"
/usr/bin/python3 - "$TILE" <<'PY' && ok "Kalman day == cloudless-daily --reanalysis == the job's day; sd_* with CF attributes" || bad "Kalman product checks"
import sys, numpy as np, netCDF4
tile = sys.argv[1]
def load(p):
    with netCDF4.Dataset(p) as d:
        d.set_auto_maskandscale(False)
        return {v: np.array(d[v][:]) for v in d.variables if v != "spatial_ref"}
k, r, j = load("k.nc"), load("kr.nc"), load(f"out4/{tile}.nc")
names = ["B02","B03","B04","B05","B06","B07","B08","B8A","B11","B12"]
want = set(names) | {"sd_" + b for b in names} | {"days_since_s2", "time", "x", "y"}
ok = set(k) == want and set(r) == want and all(np.array_equal(k[v], r[v]) for v in k)
ok = ok and all(np.array_equal(k[v], j[v]) for v in k if v not in ("time",)) and list(j["time"]) == [18392]
with netCDF4.Dataset("k.nc") as d:
    for b in names:
        v = d["sd_" + b]
        ok = ok and v.units == "1" and abs(v.scale_factor - 1e-4) < 1e-12 and v.grid_mapping == "spatial_ref" and "standard deviation" in v.long_name
    sd = np.array(d["sd_B04"][0]); ok = ok and np.all(sd[np.isfinite(sd)] > 0)
    print(f"  sd_B04: median {np.nanmedian(sd):.4f}; product {d.product}")
sys.exit(0 if ok else 1)
PY
"$BIN" cloudless cubes --tile "$TILE" --date 2020-05-09 -o k.nc --log-level warn 2> e0; rc=$?
[ $rc -eq 2 ] && [ "$(grep -c . e0)" -eq 1 ] && grep -q "appends days in order" e0 && ok "Kalman: a day before the cube's last is refused" \
  || bad "Kalman earlier day: rc $rc $(cat e0)"

"$BIN" cloudless-plot cubes --tile "$TILE" --from 2020-05-10 --day k.nc --out kday.png --title "SIMULATED" \
  --log-level warn && [ -s kday.png ] && ok "cloudless-plot --day: input | output | sd picture" || bad "cloudless-plot --day"
"$BIN" cloudless-plot cubes --tile "$TILE" --from 2020-05-11 --day k.nc --out kx.png 2> e7; rc=$?
[ $rc -ne 0 ] && [ "$(grep -c . e7)" -eq 1 ] && grep -q "no date 2020-05-11" e7 && [ ! -e kx.png ] \
  && ok "cloudless-plot --day of a day the product lacks: one line, no picture" || bad "plot --day absent day: rc $rc $(cat e7)"

# bad inputs: one line, non-zero, nothing written
one_line() { local n; n=$(grep -c . "$1"); [ "$n" -eq 1 ]; }
"$BIN" cloudless cubes --date 2020-05-10 -o x.nc 2> e1; rc=$?
[ $rc -eq 2 ] && one_line e1 && [ ! -e x.nc ] && ok "missing --tile: exit 2" || bad "missing --tile: rc $rc $(cat e1)"
"$BIN" cloudless cubes --tile "$TILE" --date 2020-05-10 --sensors s2,radar -o x.nc 2> e2; rc=$?
[ $rc -eq 2 ] && grep -q radar e2 && [ ! -e x.nc ] && ok "bad --sensors: exit 2" || bad "bad --sensors: rc $rc"
"$BIN" cloudless nowhere --tile "$TILE" --date 2020-05-10 -o x.nc --model "$MODEL" 2> e3; rc=$?
[ $rc -ne 0 ] && one_line e3 && grep -q nowhere e3 && [ ! -e x.nc ] && ok "missing folder named" || bad "missing folder: rc $rc $(cat e3)"
"$BIN" cloudless cubes --tile "$TILE" --date 2021-05-10 -o x.nc --model "$MODEL" 2> e4; rc=$?
[ $rc -ne 0 ] && one_line e4 && grep -q "no observation" e4 && [ ! -e x.nc ] && ok "day outside the series" || bad "far day: rc $rc $(cat e4)"
"$BIN" cloudless cubes --tile "$TILE" --date 2020-05-10 -o x.nc --model "$SRC/models/boa-s2.h5" 2> e5; rc=$?
[ $rc -ne 0 ] && one_line e5 && [ ! -e x.nc ] && ok "a non-Cloudless model is refused: $(cat e5)" || bad "wrong model: rc $rc $(cat e5)"
"$BIN" cloudless-sim --out-dir y 2> e6; rc=$?
[ $rc -eq 2 ] && [ ! -e y ] && ok "cloudless-sim without a source: exit 2" || bad "cloudless-sim no source: rc $rc"
[ $fails -eq 0 ] && echo "all ok" || echo "$fails failure(s)"
exit $((fails > 0))
