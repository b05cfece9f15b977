#!/bin/bash
# Smoke run of bench/dispatch: 2 ranks, 1000 no-op items through the real
# scheduler of jobs/run/scheduler.c. Checks that it completes, every item ran exactly
# once, and its JSON line parses with sane fields. Never checks a time.
set -u
MPIEXEC=${1:-mpirun}
BENCH=${2:?usage: dispatch_smoke.sh MPIEXEC BENCH}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
# sanitizer builds: Open MPI's own allocations are suppressed, as in tests/run/run_mpi.sh
export OMPI_MCA_mca_base_component_disable_dlclose=1
export LSAN_OPTIONS="suppressions=$(dirname "$(readlink -f "$0")")/../lsan-libs.supp:fast_unwind_on_malloc=0:print_suppressions=0"
out=$("$MPIEXEC" -n 2 --oversubscribe "$BENCH" --items 1000 --tiles 10 --pingpong 100) || {
  echo "FAIL: cc_bench_dispatch exited $?"; exit 1; }
printf '%s\n' "$out" | python3 -c '
import json, sys
lines = [l for l in sys.stdin.read().splitlines() if l.startswith("{")]
assert len(lines) == 1, "expected one JSON line, got %d" % len(lines)
j = json.loads(lines[0])
assert j["ok"] is True and j["ranks"] == 2 and j["items"] == 1000, j
for k in ("interval_us_per_item", "overhead_rank_us_per_item", "pingpong_rtt_us", "items_per_s"):
    assert j[k] > 0, (k, j[k])
assert 0 <= j["idle_fraction"] <= 1, j["idle_fraction"]
assert j["items_per_rank_min"] + j["items_per_rank_max"] == 1000, j
print("ok:", lines[0])
' || { echo "FAIL: bad JSON output"; exit 1; }
# bad arguments: usage error, exit 2
"$MPIEXEC" -n 1 "$BENCH" --items 0 > /dev/null 2>&1; rc=$?
[ $rc -ne 0 ] || { echo "FAIL: --items 0 accepted"; exit 1; }
echo PASS
