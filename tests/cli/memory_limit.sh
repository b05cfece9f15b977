#!/bin/bash
# Memory (issue 17, docs/testing.md): sizes read from a header are checked
# against the tile grid and the process's memory budget BEFORE anything is
# allocated: a one-line error naming the file and the sizes, exit 1, no
# output. --memory-limit (common option), CLEARCUBE_MEMORY_LIMIT and the job
# key limits.memory_limit_mb set the budget.
set -u
CC=${CLEARCUBE_BIN:?}
T=${CLEARCUBE_TMP:-/tmp}/memory_limit
rm -rf "$T" && mkdir -p "$T/out" && cd "$T" || exit 1
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
# expect NAME RC PATTERN ERRFILE: the exit code, the last error line, no output
expect() {
  local last f0=$fails; last=$(grep 'clearcube: error: ' "$4" | tail -1)
  [ "$2" -eq 1 ] || fail "$1: exit $2, expected 1: $last"
  grep -Eq "$3" <<< "$last" || fail "$1: message does not match /$3/: $last"
  [ -z "$(ls -A out)" ] || fail "$1: output left: $(ls -A out)"
  [ $fails -eq $f0 ] && echo "ok   $1: $last"
}

"$CC" simulate -o sim --size 300 > /dev/null || { echo "simulate failed"; exit 1; }
read -r -a OPTS < sim/S2A_SIMULATED_L1C.options

# 1. a 200000 x 200000 header (13 bands, sparse: a few KiB on disk) is refused by its size,
#    not by whether an 80 GB malloc fails on this node
gdal_create -q -of GTiff -outsize 200000 200000 -bands 13 -ot UInt16 -co SPARSE_OK=TRUE -co TILED=YES \
  -co BIGTIFF=YES -a_srs EPSG:32632 -a_ullr 300000 5100000 2300000 3100000 huge.tif || { echo "gdal_create failed"; exit 1; }
"$CC" reference huge.tif "${OPTS[@]}" -o out/c.nc 2> huge.err; rc=$?
expect "200000x200000 header" $rc "huge.tif: .*(larger than a Sentinel-2 tile|more than the memory limit)" huge.err
CLEARCUBE_MEMORY_LIMIT=1T "$CC" reference huge.tif "${OPTS[@]}" -o out/c.nc 2> huge2.err; rc=$?
expect "200000x200000 header, 1 TiB budget" $rc "huge.tif: band 1 is 200000 x 200000 pixels of 10 m .*larger than a Sentinel-2 tile" huge2.err

# 2. the budget: --memory-limit, then the environment
"$CC" reference sim/S2A_SIMULATED_L1C.tif "${OPTS[@]}" -o out/c.nc --memory-limit 1M 2> lim.err; rc=$?
expect "--memory-limit 1M" $rc "S2A_SIMULATED_L1C.tif: reading 13 band\(s\) of 300 x 300 pixels needs 3 MiB, more than the memory limit of 1 MiB \(--memory-limit\)" lim.err
CLEARCUBE_MEMORY_LIMIT=2M "$CC" reference sim/S2A_SIMULATED_L1C.tif "${OPTS[@]}" -o out/c.nc 2> env.err; rc=$?
expect "CLEARCUBE_MEMORY_LIMIT=2M" $rc "more than the memory limit of 2 MiB \(CLEARCUBE_MEMORY_LIMIT\)" env.err
"$CC" reference sim/S2A_SIMULATED_L1C.tif "${OPTS[@]}" -o out/c.nc --memory-limit lots 2> bad.err; rc=$?
[ $rc -eq 2 ] && grep -q "memory-limit: 'lots' is not a size" bad.err || fail "--memory-limit lots: exit $rc: $(cat bad.err)"
"$CC" reference sim/S2A_SIMULATED_L1C.tif "${OPTS[@]}" -o out/c.nc --memory-limit 2G --log-level warn 2> ok.err \
  || fail "a 2 GiB budget refused a 300x300 scene: $(cat ok.err)"
rm -f out/c.nc

# 3. ingest: the working set of the product's window of the tile grid is checked up front (a
#    small crop onto a full tile needs the crop's memory, not the tile's: 1 GiB is plenty)
S2=${CLEARCUBE_SHARED:-}/datasets/bigearthnet-example/BigEarthNet-S2-Example/S2A_MSIL2A_20170613T101031_87_48
if [ -d "$S2" ]; then
  "$CC" ingest "$S2" --out-dir out --tile 33UUP --date 2017-06-13 --memory-limit 8M 2> ing.err; rc=$?
  expect "ingest onto a full tile, 8 MiB" $rc "S2A_MSIL2A_20170613T101031_87_48: ingesting a 124 x 124 window of a 10980 x 10980 grid needs [0-9]+ MiB, more than the memory limit of 8 MiB" ing.err
  "$CC" ingest "$S2" --out-dir out --tile 33UUP --date 2017-06-13 --memory-limit 1G 2> ing1g.err \
    && [ -s out/33UUP_s2.nc ] && echo "ok   ingest onto a full tile, 1 GiB: written" \
    || fail "ingest of a 120 x 120 crop onto a full tile refused at 1 GiB: $(tail -1 ing1g.err)"
  rm -f out/33UUP_s2.nc
else
  echo "(part 3 skipped: ../shared/datasets/bigearthnet-example absent)"
fi

# 4. the job key: limits.memory_limit_mb is checked and printed by `job --check`
cat > job.yaml <<YAML
product: reference
area: {tiles: [32UMF]}
dates: {start: 2024-06-01, end: 2024-06-30}
catalogues: [$T/sim]
output: $T/out
limits: {memory_limit_mb: 64}
YAML
"$CC" job --check job.yaml > job.out 2> job.err || fail "job with limits.memory_limit_mb: $(cat job.err)"
sed 's/memory_limit_mb: 64/memory_limit_mb: 1/' job.yaml > job_bad.yaml
"$CC" job --check job_bad.yaml > /dev/null 2> jobbad.err; rc=$?
[ $rc -ne 0 ] && grep -q "limits.memory_limit_mb" jobbad.err || fail "limits.memory_limit_mb: 1 accepted: $(cat jobbad.err)"

[ $fails -eq 0 ] && echo "PASS memory_limit" || { echo "$fails failure(s)"; exit 1; }
