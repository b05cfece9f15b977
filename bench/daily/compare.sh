#!/bin/bash
# Daily Cloudless from a state: two builds (e.g. before and after a change) in the same run, on
# the same SIMULATED synthetic sensor cubes (docs/benchmarks.md "Daily Cloudless").
#   bench/daily/compare.sh OLD_BUILD NEW_BUILD WORK_DIR [SIZE [DAYS [REPEATS]]]   (default 512 12 2)
# Makes the cubes once (with NEW_BUILD), then per build: a backfill of the first DAYS-1 days in
# one pass (its own state: a state belongs to its build's Kalman parameters), then REPEATS
# daily runs of the last day, alternating the builds, each from a copy of that build's backfill
# state and cube. Prints /usr/bin/time's wall, user and system CPU-s and peak RSS, and the run's
# stage split (state in, days in, model, days out, state out; wall seconds).
# CUBES=DIR reuses the sensor cubes of an earlier run (DIR/cubes, sim.txt; the simulation of a
# 2745^2 crop takes 17 GB and minutes).
set -eu
OLD=$1/jobs/clearcube; NEW=$2/jobs/clearcube; W=$3; N=${4:-512}; D=${5:-12}; REP=${6:-2}
CUBES=${CUBES:+$(cd "$CUBES" && pwd)}
rm -rf "$W" && mkdir -p "$W" && cd "$W"
t() { /usr/bin/time -f "  wall %e s, user %U s, sys %S s, peak RSS %M KB" "$@"; }
echo "== sensor cubes: ${N}x${N}, $D days (SIMULATED, synthetic); load $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -n "$CUBES" ]; then
  ln -s "$CUBES/cubes" cubes && cp "$CUBES/sim.txt" sim.txt
else
  "$NEW" cloudless-sim --out-dir cubes --synthetic --size "$N" --days "$D" --log-level warn > sim.txt
fi
tile=$(cut -d' ' -f1 sim.txt)
d0=2020-03-01
last=$(date -u -d "$d0 + $((D - 2)) days" +%F); day=$(date -u -d "$d0 + $((D - 1)) days" +%F)
for b in old new; do
  B=$OLD; [ $b = new ] && B=$NEW
  echo "== $b: backfill $d0..$last in one pass"
  t "$B" cloudless-daily cubes --tile "$tile" --state $b.state0.nc -o $b.nowcast0.nc --from "$d0" --date "$last" \
    --log-level warn
done
for r in $(seq 1 "$REP"); do
  for b in old new; do
    B=$OLD; [ $b = new ] && B=$NEW
    cp $b.state0.nc $b.state.nc && cp $b.nowcast0.nc $b.nowcast.nc
    echo "== $b: one daily run $day (repeat $r; load $(cut -d' ' -f1-3 /proc/loadavg))"
    t "$B" cloudless-daily cubes --tile "$tile" --state $b.state.nc -o $b.nowcast.nc --date "$day" --log-level info
  done
done
ls -l old.state.nc new.state.nc old.nowcast.nc new.nowcast.nc | awk '{print "  " $5 " bytes " $9}'
