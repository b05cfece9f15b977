#!/bin/bash
# One fuzzing campaign (ctest fuzz_campaign_<harness>, label long; needs a
# -DCLEARCUBE_FUZZ=ON build): campaign.sh BINARY HARNESS SECONDS [WORKDIR]
# Seeds from ../shared (seeds.sh) plus the kept corpus; new coverage goes to
# WORKDIR/corpus, crashes to WORKDIR/crash-*; the last libFuzzer status line
# (execs, coverage, features) is printed at the end. Exit 1 on a crash.
set -u
BIN=$1
H=$2
SECS=${3:-600}
HERE=$(dirname "$(readlink -f "$0")")
W=${4:-${CLEARCUBE_TMP:-/tmp}/fuzz_campaign_$H}
mkdir -p "$W/corpus"
export TMPDIR=$W
bash "$HERE/seeds.sh" "$W/seeds" "${CLEARCUBE_SHARED:-}" "${CLEARCUBE_SOURCE:-$HERE/../..}" > /dev/null
export ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=1:allocator_may_return_null=1
# leaks inside Debian's libraries (tests/lsan-libs.supp) are theirs, not findings
export LSAN_OPTIONS=suppressions=$HERE/../lsan-libs.supp:fast_unwind_on_malloc=0:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# netCDF-C 4.9.0 sizes its classic-format header tables from the header's counts: a hostile
# header makes nc_open ask malloc for 8 GB, which fails harmlessly (nothing is touched; corpus
# ncseries/netcdf-classic-huge-count). Above 4 GB only the resident limit counts there.
malloc_mb=4096
[ "$H" = ncseries ] && malloc_mb=65536
dirs=("$W/corpus")
for d in "$HERE/corpus/$H" "$W/seeds/$H"; do [ -d "$d" ] && dirs+=("$d"); done
"$BIN" -max_total_time="$SECS" -rss_limit_mb=4096 -malloc_limit_mb=$malloc_mb -timeout=30 -max_len=400000 \
  -print_final_stats=1 -artifact_prefix="$W/" "${dirs[@]}" > "$W/log" 2>&1
rc=$?
grep -E '^#[0-9]+[[:space:]].*cov:' "$W/log" | tail -1
grep -E 'stat::number_of_executed_units|stat::peak_rss_mb|stat::new_units_added' "$W/log"
ls "$W"/crash-* "$W"/leak-* "$W"/timeout-* "$W"/oom-* 2>/dev/null
echo "campaign $H: exit $rc, log $W/log"
exit $rc
