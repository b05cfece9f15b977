#!/bin/bash
# Daily Cloudless cost (issue 14; docs/benchmarks.md "Daily at tile scale"): the nowcast from
# a per-pixel state (clearcube cloudless-daily) against the window-based fusion (clearcube
# cloudless, the former daily path), in the same run, on SIMULATED synthetic sensor cubes.
#   bench/daily/run.sh BUILD_DIR WORK_DIR [SIZE [DAYS [new]]]     (default 512 100; "new": skip
#   the former path, for large crops)
# Prints /usr/bin/time -v's wall, CPU and peak memory of: a backfill of DAYS-10 days in one
# pass, then one daily run (state in, day in, model, day out, state out), then the former path
# for one day (+-45-day window). Scale to a 10980 x 10980 tile by the pixel count.
set -eu
B=$1/jobs/clearcube; W=$2; N=${3:-512}; D=${4:-100}
rm -rf "$W" && mkdir -p "$W" && cd "$W"
t() { /usr/bin/time -f "  wall %e s, user %U s, sys %S s, peak RSS %M KB" "$@"; }
echo "== sensor cubes: ${N}x${N}, $D days (SIMULATED, synthetic)"
t "$B" cloudless-sim --out-dir cubes --synthetic --size "$N" --days "$D" --log-level warn > sim.txt
tile=$(cut -d' ' -f1 sim.txt)
d0=2020-03-01
last=$(date -u -d "$d0 + $((D - 11)) days" +%F); day=$(date -u -d "$d0 + $((D - 10)) days" +%F)
echo "== backfill $d0..$last in one pass ($((D - 10)) days)"
t "$B" cloudless-daily cubes --tile "$tile" --state state.nc -o nowcast.nc --from "$d0" --date "$last" --log-level warn
echo "== one daily run: $day"
t "$B" cloudless-daily cubes --tile "$tile" --state state.nc -o nowcast.nc --date "$day" --log-level info
ls -l state.nc nowcast.nc | awk '{print "  " $5 " bytes " $9}'
[ "${5:-}" = new ] && exit 0
mid=$(date -u -d "$d0 + 45 days" +%F)
echo "== former path: clearcube cloudless --method fusion (window +-45 days) for $mid"
t "$B" cloudless cubes --tile "$tile" --date "$mid" -o window.nc --method fusion --log-level warn
