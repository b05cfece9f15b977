#!/bin/bash
# A full disk (issue 17, docs/testing.md): every cube and model writer says
# "no space left on device" with the path, exits 1 (never a crash in HDF5's
# clean-up), leaves no temporary or lock behind, and an existing cube keeps
# its bytes. Small tmpfs mounts in a private mount namespace (unshare -m);
# skipped with the reason where the machine cannot mount (not root, no
# CAP_SYS_ADMIN, no unshare).
#   disk_full.sh CUBE_WRITER MODEL_COPY
set -u
CC=${CLEARCUBE_BIN:?}
WRITER=$1
MCOPY=$2
T=${CLEARCUBE_TMP:-/tmp}/disk_full
if [ -z "${CC_DISK_FULL_NS:-}" ]; then
  [ "$(id -u)" = 0 ] || { echo "SKIP: mounting a test tmpfs needs root"; exit 77; }
  unshare -m --propagation private true 2>/dev/null || { echo "SKIP: no private mount namespace here (unshare -m)"; exit 77; }
  rm -rf "$T" && mkdir -p "$T" || exit 1
  CC_DISK_FULL_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
cd "$T" || exit 1
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
mnt() { # DIR SIZE: a fresh tmpfs
  mkdir -p "$1" && mount -t tmpfs -o "size=$2" tmpfs "$1" || { echo "SKIP: cannot mount a tmpfs here"; exit 77; }
}
fill() { # DIR KIB: fills the tmpfs at DIR until KIB KiB are left
  local avail; avail=$(df -k --output=avail "$1" | tail -1)
  [ "$avail" -gt "$2" ] && head -c $(( (avail - $2) * 1024 )) /dev/zero > "$1/filler" 2>/dev/null
  true
}
# expect_full NAME DIR RC ERRFILE: exit 1 (not a signal), the last error line names
# the path and the cause, DIR holds nothing but the files listed after
expect_full() {
  local name=$1 dir=$2 rc=$3 err=$4 f0=$fails; shift 4
  [ "$rc" -eq 1 ] || fail "$name: exit $rc, expected 1 (139 = the segfault in H5F__close_cb)"
  grep -q "$dir/.*no space left on device" "$err" || fail "$name: no 'no space left on device' naming the path: $(tail -1 "$err")"
  local left; left=$(cd "$dir" && ls -A | grep -v -x -e filler "${@/#/-e}" | tr '\n' ' ')
  [ -z "$left" ] || fail "$name: left behind: $left"
  [ $fails -eq $f0 ] && echo "ok   $name: $(grep 'no space' "$err" | tail -1)"
}

# 1. a new cube (cc_cube_write) that does not fit
mnt m1 256k
"$WRITER" "$T/m1/new.nc" 800 800 3 2024-06-01 1 2> w1.err; rc=$?
expect_full "new cube" "$T/m1" $rc w1.err

# 2. an append to an existing cube on a nearly full disk: refused, the cube keeps its bytes
mnt m2 3m
"$WRITER" "$T/m2/cube.nc" 400 400 3 2024-06-01 1 2> w2a.err || fail "first date: $(cat w2a.err)"
sum=$(md5sum < m2/cube.nc)
fill m2 40
"$WRITER" "$T/m2/cube.nc" 400 400 3 2024-06-11 2 2> w2.err; rc=$?
expect_full "append" "$T/m2" $rc w2.err cube.nc
[ "$(md5sum < m2/cube.nc)" = "$sum" ] || fail "append: the existing cube changed"
rm -f m2/filler
"$WRITER" "$T/m2/cube.nc" 400 400 3 2024-06-11 2 2> w2b.err || fail "append after space was freed: $(cat w2b.err)"

# 3. reference (the cube writer of a product command) on a full disk
"$CC" simulate -o sim --size 200 > /dev/null || { echo "simulate failed"; exit 1; }
read -r -a OPTS < sim/S2A_SIMULATED_L1C.options
mnt m3 64k
"$CC" reference sim/S2A_SIMULATED_L1C.tif "${OPTS[@]}" -o "$T/m3/ref.nc" --log-level warn 2> r3.err; rc=$?
expect_full "reference" "$T/m3" $rc r3.err
# ... appending a second date to its cube on a nearly full disk
mnt m4 4m
"$CC" reference sim/S2A_SIMULATED_L1C.tif "${OPTS[@]}" -o "$T/m4/ref.nc" --log-level warn 2> r4a.err || fail "reference: $(cat r4a.err)"
sum=$(md5sum < m4/ref.nc)
fill m4 24
"$CC" reference sim/S2A_SIMULATED_L1C.tif "${OPTS[@]}" --date 2024-06-20 -o "$T/m4/ref.nc" --log-level warn 2> r4.err; rc=$?
expect_full "reference append" "$T/m4" $rc r4.err ref.nc
[ "$(md5sum < m4/ref.nc)" = "$sum" ] || fail "reference append: the existing cube changed"

# 4. boa (the streaming cube writer)
mnt m5 64k
"$CC" boa sim/S2A_SIMULATED_L1C.tif "${OPTS[@]}" -o "$T/m5/boa.nc" --log-level warn 2> b5.err; rc=$?
expect_full "boa" "$T/m5" $rc b5.err

# 5. the model writer
mnt m6 16k
"$MCOPY" "${CLEARCUBE_SOURCE:?}/models/cloudless.h5" "$T/m6/model.h5" 2> m6.err; rc=$?
expect_full "model file" "$T/m6" $rc m6.err

[ $fails -eq 0 ] && echo "PASS disk_full" || { echo "$fails failure(s)"; exit 1; }
