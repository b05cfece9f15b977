#!/bin/bash
# One writer per cube (issue 17, docs/testing.md): ingest, cloudless,
# reference and boa append through the one cube writer, which holds
# flock(<cube>.lock) while it writes. A second writer waits for the lock
# (logging the holder), or with CLEARCUBE_CUBE_LOCK_WAIT=0 refuses naming the
# holder's pid and host; concurrent appends of different dates all land; a
# lock left by a killed writer is taken over; no lock file stays behind.
#   cube_lock.sh CUBE_WRITER
set -u
CC=${CLEARCUBE_BIN:?}
WRITER=$1
T=${CLEARCUBE_TMP:-/tmp}/cube_lock
rm -rf "$T" && mkdir -p "$T" && cd "$T" || exit 1
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
dates() { ncdump -v time "$1" 2>/dev/null | sed -n 's/^ *time = \(.*\) ;/\1/p'; }
wait_holder() { # LOCKFILE: until it names a holder (10 s at most)
  for _ in $(seq 100); do [ -s "$1" ] && return 0; sleep 0.1; done; return 1
}

# 1. six writers append six dates to one cube at once: every date lands
pids=()
for k in 1 2 3 4 5 6; do
  "$WRITER" c1.nc 300 300 3 2024-06-0$k $k 2> w$k.err &
  pids+=($!)
done
for k in 1 2 3 4 5 6; do wait "${pids[$((k - 1))]}" || fail "writer $k: $(cat w$k.err)"; done
grep -q "the cube is in use (lock held by clearcube process" w*.err || fail "no writer waited for another"
[ "$(dates c1.nc)" = "19875, 19876, 19877, 19878, 19879, 19880" ] || fail "concurrent appends lost dates: $(dates c1.nc)"
ls c1.nc.* 2>/dev/null && fail "lock or temporary left beside the cube"

# 2. a busy cube with CLEARCUBE_CUBE_LOCK_WAIT=0: refused, naming the holder
"$CC" simulate -o sim --size 64 > /dev/null || { echo "simulate failed"; exit 1; }
read -r -a OPTS < sim/S2A_SIMULATED_L1C.options
CLEARCUBE_TEST_CUBE_LOCK_HOLD_MS=4000 "$WRITER" c2.nc 64 64 3 2024-06-01 1 2> holder.err &
holder=$!
wait_holder c2.nc.lock || fail "the holder did not take the lock"
CLEARCUBE_CUBE_LOCK_WAIT=0 "$CC" reference sim/S2A_SIMULATED_L1C.tif "${OPTS[@]}" -o c2.nc --log-level warn 2> busy.err
rc=$?
[ $rc -eq 1 ] || fail "busy cube: exit $rc, expected 1"
grep -q "c2.nc.lock: the cube is in use: lock held by clearcube process $holder on host $(hostname)" busy.err \
  || fail "the refusal does not name the holder: $(cat busy.err)"
# 3. without the variable the second writer waits, then appends (grid mismatch aside: same grid here)
"$WRITER" c2.nc 64 64 3 2024-06-02 2 2> waiter.err; rc=$?
[ $rc -eq 0 ] || fail "waiting writer: exit $rc: $(cat waiter.err)"
wait $holder || fail "holder: $(cat holder.err)"
[ "$(dates c2.nc)" = "19875, 19876" ] || fail "after waiting: dates $(dates c2.nc)"

# 4. a lock file left by a killed writer is taken over
CLEARCUBE_TEST_CUBE_LOCK_HOLD_MS=20000 "$WRITER" c2.nc 64 64 3 2024-06-03 3 2> killed.err &
victim=$!
wait_holder c2.nc.lock || fail "the victim did not take the lock"
kill -9 $victim; wait $victim 2>/dev/null
CLEARCUBE_CUBE_LOCK_WAIT=0 "$WRITER" c2.nc 64 64 3 2024-06-04 4 2> after.err; rc=$?
[ $rc -eq 0 ] || fail "after a killed holder: exit $rc: $(cat after.err)"
[ "$(dates c2.nc)" = "19875, 19876, 19878" ] || fail "after a killed holder: dates $(dates c2.nc)"
ls c2.nc.* 2>/dev/null && fail "lock or temporary left beside the cube"

# 5. ingest and reference append to their cubes through the same lock
if [ -d "${CLEARCUBE_SHARED:-}/datasets/bigearthnet-example" ]; then
  S2=$CLEARCUBE_SHARED/datasets/bigearthnet-example/BigEarthNet-S2-Example/S2A_MSIL2A_20170613T101031_87_48
  G=$S2/S2A_MSIL2A_20170613T101031_87_48_B02.tif
  mkdir -p ing
  "$CC" ingest "$S2" --out-dir ing --tile 33UUP --grid "$G" --date 2017-06-13 --log-level warn 2> ing0.err || fail "ingest: $(cat ing0.err)"
  CLEARCUBE_TEST_CUBE_LOCK_HOLD_MS=3000 "$CC" ingest "$S2" --out-dir ing --tile 33UUP --grid "$G" --date 2017-06-14 --log-level warn 2> ing1.err &
  first=$!
  wait_holder ing/33UUP_s2.nc.lock || fail "ingest did not take the cube lock"
  CLEARCUBE_CUBE_LOCK_WAIT=0 "$CC" ingest "$S2" --out-dir ing --tile 33UUP --grid "$G" --date 2017-06-15 --log-level warn 2> ing2.err
  rc=$?
  [ $rc -ne 0 ] && grep -q "33UUP_s2.nc.lock: the cube is in use: lock held by clearcube process $first" ing2.err \
    || fail "ingest on a busy cube: exit $rc: $(cat ing2.err)"
  wait $first || fail "first ingest: $(cat ing1.err)"
  [ "$(dates ing/33UUP_s2.nc)" = "17330, 17331" ] || fail "ingest dates: $(dates ing/33UUP_s2.nc)"
else
  echo "(part 5 skipped: ../shared/datasets/bigearthnet-example absent)"
fi

[ $fails -eq 0 ] && echo "PASS cube_lock" || { echo "$fails failure(s)"; exit 1; }
