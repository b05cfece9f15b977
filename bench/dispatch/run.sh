#!/bin/bash
# Dispatch benchmark (docs/scaling.md): the real scheduler of `clearcube run`
# (jobs/run/scheduler.c via cc_run_dispatch in jobs/run/dispatch.c) over no-op
# items, plus an MPI ping-pong, at several rank counts. A benchmark, not a test:
# it asserts nothing about time.
#
#   bench/dispatch/run.sh [--build DIR] [--items N] [--tiles T] [--ranks "8 2"] [-- BENCH ARGS]
#
# Prints the machine, the load, each exact command, its summary (stderr of the
# benchmark) and its JSON line (stdout). More ranks than cores is allowed
# (--oversubscribe) and flagged "OVERSUBSCRIBED" in the output.
set -eu
build=${CLEARCUBE_BUILD:-build}
items=100000
tiles=1000
ranks="8 2"
while [ $# -gt 0 ]; do
  case $1 in
    --build) build=$2; shift 2 ;;
    --items) items=$2; shift 2 ;;
    --tiles) tiles=$2; shift 2 ;;
    --ranks) ranks=$2; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n 2,10p "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
bin=$build/bench/dispatch/cc_bench_dispatch
[ -x "$bin" ] || { echo "run.sh: $bin not built (cmake --build $build --target cc_bench_dispatch)" >&2; exit 2; }
MPIEXEC=${MPIEXEC:-mpirun}
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, $(uname -sr), $("$MPIEXEC" --version | head -1)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for n in $ranks; do
  cmd=("$MPIEXEC" -n "$n" --oversubscribe "$bin" --items "$items" --tiles "$tiles" "$@")
  echo
  echo "\$ ${cmd[*]}"
  "${cmd[@]}"
  echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
done
