#!/bin/bash
# clearcube submit and Slurm (tests/slurm/CMakeLists.txt): slurm_local.sh SCENARIO MPIEXEC
#   submit: the batch script clearcube submit renders (--dry-run), its argument errors, and
#           clearcube run --share I/K under mpirun (no Slurm needed)
#   local:  a PRIVATE single-node Slurm (munged, slurmctld, slurmd from slurm/local/start.sh,
#           in a temporary folder under $CLEARCUBE_TMP, stopped by PID at the end, also on
#           failure). The catalogue and job of tests/run/run_mpi.sh (3 tiles x 2 dates of
#           SIMULATED scenes); then
#           1. a 4-rank job from clearcube submit: cubes byte-identical to mpirun -n 4's;
#           2. slowed items, scancel --signal=TERM once items started (what Slurm does before
#              the time limit): the ranks stop, exit 75, the script requeues the job, the
#              restart resumes: same cubes, no item done twice;
#           3. slowed items, a plain scancel (job CANCELLED, no requeue), clearcube submit
#              again: resumes, same cubes, no item done twice;
#           4. --array 2: two array tasks, disjoint tiles in out/share-I-of-2, together the
#              same cubes.
#           Skips (exit 77) when Slurm is not installed or its daemons do not start here.
set -u
scenario=$1
MPIEXEC=${2:-mpirun}
BIN=${CLEARCUBE_BIN:?}
SRC=${CLEARCUBE_SOURCE:-$(cd "$(dirname "$0")/../.." && pwd)}
T=${CLEARCUBE_TMP:-/tmp}/slurm_$scenario
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export SOURCE_DATE_EPOCH=1700000000   # the same "submission time" in every cube compared here
export OMPI_MCA_mca_base_component_disable_dlclose=1
export LSAN_OPTIONS="suppressions=$SRC/tests/lsan-libs.supp:fast_unwind_on_malloc=0:print_suppressions=0"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

rm -rf "$T" && mkdir -p "$T/cat" && cd "$T" || exit 1
# shellcheck source=../lib/sim_catalogue.sh
. "$(dirname "$(readlink -f "$0")")/../lib/sim_catalogue.sh"
cc_sim_catalogue "$BIN" || exit 1

same_cubes() { # dirA dirB
  for t in $TILES; do
    cmp -s "$1/$t.nc" "$2/$t.nc" || fail "$1/$t.nc and $2/$t.nc differ"
  done
}
# no item ended "done" twice (the logic of tests/run/run_mpi.sh)
check_journal() { # dir
  python3 - "$1/journal.jsonl" <<'PY' || fail "journal check ($1)"
import json, sys, collections
done = collections.Counter()
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["event"] == "end" and e["status"] == "done":
        done[e["item"]] += 1
bad = [i for i, n in done.items() if n > 1]
if bad:
    print("done twice:", bad); sys.exit(1)
if len(done) != 6:
    print("items done:", sorted(done)); sys.exit(1)
PY
}
reference_run() { "$MPIEXEC" -n 4 --oversubscribe "$BIN" run job.yaml -o ref --log-level warn > /dev/null || fail "mpirun reference run"; }
one_line_error() { # expected-rc pattern cmd... : exit code and a one-line message naming the argument
  local want=$1 pat=$2; shift 2
  "$@" > out.txt 2> err.txt; local rc=$?
  [ "$rc" -eq "$want" ] || fail "'$*': exit $rc, expected $want"
  [ "$(wc -l < err.txt)" -eq 1 ] || fail "'$*': not one line on stderr: $(cat err.txt)"
  grep -q -- "$pat" err.txt || fail "'$*': message does not name '$pat': $(cat err.txt)"
  [ ! -s out.txt ] || fail "'$*': printed a script"
}

case $scenario in
submit)
  S=(submit job.yaml --nodes 1 --gpus-per-node 0 --time 01:00:00 --dry-run)
  # the rendered script
  "$BIN" submit job.yaml --nodes 2 --gpus-per-node 4 --time 1-02:00:00 --partition gpu --account "a b" \
      --dry-run -- --threads 2 -- --aot 0.1 > gpu.sbatch || fail "dry run (GPU)"
  for l in '#!/bin/bash' '#SBATCH --nodes=2' '#SBATCH --ntasks-per-node=4' '#SBATCH --gpus-per-node=4' \
           '#SBATCH --time=1-02:00:00' '#SBATCH --signal=TERM@120' '#SBATCH --requeue' \
           '#SBATCH --open-mode=append' "#SBATCH --output=$T/out/slurm-%j.out" "#SBATCH --chdir=$T" \
           '#SBATCH --partition=gpu' "#SBATCH --account='a b'" '#SBATCH --job-name=clearcube-job'; do
    grep -qxF -- "$l" gpu.sbatch || fail "GPU script lacks the line: $l"
  done
  grep -qF -- "srun --mpi=pmix --kill-on-bad-exit=1 $BIN run job.yaml --grace 90 --progress never \"\${share[@]}\" --threads 2 -- --aot 0.1" gpu.sbatch \
    || fail "GPU script: srun line"
  grep -q 'scontrol requeue "$SLURM_JOB_ID"' gpu.sbatch || fail "no requeue on exit 75"
  grep -q '^#SBATCH --array' gpu.sbatch && fail "an array line without --array"
  bash -n gpu.sbatch || fail "the GPU script is not valid bash"
  "$BIN" "${S[@]}" --ranks-per-node 4 --array 3 --stop-before 300 --name cc1 > arr.sbatch || fail "dry run (array)"
  for l in '#SBATCH --ntasks-per-node=4' '#SBATCH --array=0-2' '#SBATCH --signal=TERM@300' \
           "#SBATCH --output=$T/out/slurm-%A_%a.out" '#SBATCH --job-name=cc1'; do
    grep -qxF -- "$l" arr.sbatch || fail "array script lacks the line: $l"
  done
  grep -q -- '--grace 225' arr.sbatch || fail "array script: grace is not 3/4 of --stop-before"
  grep -qF 'share=(--share "$SLURM_ARRAY_TASK_ID/3")' arr.sbatch || fail "array script: no --share"
  grep -q '^#SBATCH --gpus-per-node' arr.sbatch && fail "CPU-only script asks for GPUs"
  bash -n arr.sbatch || fail "the array script is not valid bash"
  "$BIN" "${S[@]}" > cpu.sbatch && grep -qxF '#SBATCH --ntasks-per-node=1' cpu.sbatch || fail "CPU-only default: 1 rank per node"
  [ ! -e out ] || fail "--dry-run wrote the output folder"
  # bad arguments and job files: exit 2, one line naming the argument
  one_line_error 2 '--nodes' "$BIN" "${S[@]}" --nodes 0
  one_line_error 2 '--nodes' "$BIN" "${S[@]}" --nodes two
  one_line_error 2 '--time' "$BIN" "${S[@]}" --time 1:00
  one_line_error 2 '--time' "$BIN" "${S[@]}" --time 00:60:00
  one_line_error 2 '--time' "$BIN" "${S[@]}" --time 00:03:00
  one_line_error 2 '--gpus-per-node' "$BIN" submit job.yaml --nodes 1 --time 01:00:00 --dry-run
  one_line_error 2 '--gpus-per-node' "$BIN" "${S[@]}" --gpus-per-node -1
  one_line_error 2 '--array' "$BIN" "${S[@]}" --array 0
  one_line_error 2 '--share' "$BIN" "${S[@]}" -- --share 0/2
  one_line_error 2 '--frobnicate' "$BIN" "${S[@]}" --frobnicate
  sed 's/retries: 1/retries: -1/' job.yaml > bad.yaml
  one_line_error 2 'limits.retries' "$BIN" submit bad.yaml --nodes 1 --gpus-per-node 0 --time 01:00:00 --dry-run
  one_line_error 2 'missing.yaml' "$BIN" submit missing.yaml --nodes 1 --gpus-per-node 0 --time 01:00:00 --dry-run
  # resources and scheduling (issue 15): each option's #SBATCH line, nothing when not given
  "$BIN" submit job.yaml --nodes 2 --gpus-per-task 1 --ranks-per-node 4 --cpus-per-task 8 --mem-per-gpu 80G \
      --qos high --constraint 'a100|h100' --dependency afterok:123:124 --sbatch-arg=--mail-type=END \
      --sbatch-arg --exclusive --max-requeues 3 --time 1-12 --dry-run > res.sbatch || fail "dry run (resources)"
  for l in '#SBATCH --gpus-per-task=1' '#SBATCH --gpu-bind=closest' '#SBATCH --ntasks-per-node=4' \
           '#SBATCH --cpus-per-task=8' '#SBATCH --mem-per-gpu=80G' '#SBATCH --qos=high' \
           "#SBATCH --constraint='a100|h100'" '#SBATCH --dependency=afterok:123:124' '#SBATCH --mail-type=END' \
           '#SBATCH --exclusive' '#SBATCH --time=1-12'; do
    grep -qxF -- "$l" res.sbatch || fail "resources script lacks the line: $l"
  done
  grep -q '^#SBATCH --gpus-per-node' res.sbatch && fail "--gpus-per-task script also asks --gpus-per-node"
  grep -qF -- '"${share[@]}" --threads 8' res.sbatch || fail "--cpus-per-task 8 did not become the run's --threads 8"
  grep -qF 'export SRUN_CPUS_PER_TASK=$SLURM_CPUS_PER_TASK' res.sbatch || fail "srun does not get the cpus per task"
  bash -n res.sbatch || fail "the resources script is not valid bash"
  "$BIN" "${S[@]}" --cpus-per-task 4 --mem 64G -- --threads 2 > thr.sbatch || fail "dry run (--threads given)"
  grep -qxF '#SBATCH --mem=64G' thr.sbatch || fail "no --mem line"
  [ "$(grep -o -- '--threads [0-9]*' thr.sbatch)" = "--threads 2" ] || fail "--threads given after --: not kept alone"
  for l in '#SBATCH --cpus-per-task' '#SBATCH --mem' '#SBATCH --qos' '#SBATCH --constraint' '#SBATCH --dependency' \
           '#SBATCH --gpu-bind'; do
    grep -q -- "^$l" cpu.sbatch && fail "an option not given still wrote: $l"
  done
  # every Slurm time format; the limit in seconds must exceed twice --stop-before
  for tm in 90 90:30 02:00:00 1-0 1-12 1-12:30 2-00:00:01 30:00; do
    "$BIN" "${S[@]}" --time $tm > tm.sbatch 2> err.txt && grep -qxF "#SBATCH --time=$tm" tm.sbatch \
      || fail "--time $tm refused: $(cat err.txt)"
  done
  for tm in 1- -1 1-x 1:2:3:4 00:61 1-12:60 abc 0 4; do
    one_line_error 2 '--time' "$BIN" "${S[@]}" --time "$tm"
  done
  one_line_error 2 '--gpus-per-task' "$BIN" submit job.yaml --nodes 1 --gpus-per-node 2 --gpus-per-task 1 --time 01:00:00 --dry-run
  one_line_error 2 '--mem' "$BIN" "${S[@]}" --mem 64X
  one_line_error 2 '--mem-per-gpu' "$BIN" submit job.yaml --nodes 1 --gpus-per-node 1 --mem 1G --mem-per-gpu 1G --time 01:00:00 --dry-run
  one_line_error 2 '--mem-per-gpu needs GPUs' "$BIN" "${S[@]}" --mem-per-gpu 1G
  one_line_error 2 'sets --time itself' "$BIN" "${S[@]}" --sbatch-arg=--time=5
  one_line_error 2 'sets --partition itself' "$BIN" "${S[@]}" --sbatch-arg -p
  one_line_error 2 '--sbatch-arg' "$BIN" "${S[@]}" --sbatch-arg mail
  one_line_error 2 '--dependency' "$BIN" "${S[@]}" --dependency 'afterok 1'
  one_line_error 2 '--max-requeues' "$BIN" "${S[@]}" --max-requeues -1
  # the requeue cap, by running the script with stand-ins for srun and scontrol: a run that
  # always stops (exit 75) is requeued while SLURM_RESTART_COUNT < 3, then stops and says why
  mkdir -p fake && printf '#!/bin/sh\nexit 75\n' > fake/srun && printf '#!/bin/sh\necho "$*" >> %s/requeues\n' "$T" > fake/scontrol
  chmod +x fake/srun fake/scontrol
  for n in 2 3; do
    rm -f requeues
    PATH="$T/fake:$PATH" SLURM_JOB_ID=77 SLURM_RESTART_COUNT=$n bash res.sbatch > cap$n.log 2>&1
    rc=$?
    [ $rc -eq 75 ] || fail "capped script (restart $n): exit $rc, expected 75"
  done
  grep -qx 'requeue 77' requeues 2> /dev/null && fail "requeued at the cap" || true
  PATH="$T/fake:$PATH" SLURM_JOB_ID=77 SLURM_RESTART_COUNT=2 bash res.sbatch > /dev/null 2>&1
  grep -qx 'requeue 77' requeues || fail "not requeued below the cap (restart 2 < 3)"
  grep -q 'clearcube: not requeued: job 77 was requeued 3 times (--max-requeues 3)' cap3.log || fail "the cap: $(cat cap3.log)"
  grep -q 'requeued job 77' cap2.log || fail "below the cap: $(cat cap2.log)"
  # sbatch failing: exit 1, the script is still written beside the output
  CLEARCUBE_SBATCH=false "$BIN" submit job.yaml --nodes 1 --gpus-per-node 0 --time 01:00:00 > /dev/null 2> err.txt
  rc=$?; [ $rc -eq 1 ] || fail "a failing sbatch: exit $rc, expected 1"
  [ -f out/clearcube-job.sbatch ] || fail "no script written to out/"
  rm -rf out
  # clearcube run --share I/K: disjoint whole tiles, together the full job's cubes
  reference_run
  for i in 0 1; do
    "$MPIEXEC" -n 2 --oversubscribe "$BIN" run job.yaml -o sh --share $i/2 --log-level warn > share$i.jsonl
    rc=$?; [ $rc -eq 0 ] || fail "--share $i/2: exit $rc"
  done
  n0=$(ls sh/share-0-of-2/*.nc 2>/dev/null | wc -l); n1=$(ls sh/share-1-of-2/*.nc 2>/dev/null | wc -l)
  [ "$n0" -eq 2 ] && [ "$n1" -eq 1 ] || fail "share tiles: $n0 + $n1 cubes, expected 2 + 1"
  [ "$(cat share0.jsonl share1.jsonl | grep -c '"status":"done"')" -eq 6 ] || fail "shares: not 6 items done in all"
  for t in $TILES; do
    f=$(ls sh/share-*/$t.nc 2>/dev/null)
    [ "$(echo "$f" | wc -w)" -eq 1 ] || { fail "tile $t in $(echo "$f" | wc -w) shares"; continue; }
    cmp -s "$f" ref/$t.nc || fail "$f differs from the full run's cube"
  done
  # (under mpirun: exit non-zero, mpirun adds its own lines)
  "$MPIEXEC" -n 1 "$BIN" run job.yaml --share 2/2 > /dev/null 2> err.txt && fail "--share 2/2 accepted"
  grep -q "error: run: --share: '2/2' must be I/K" err.txt || fail "--share 2/2: $(cat err.txt)"
  "$MPIEXEC" -n 1 "$BIN" run job.yaml -o sh --share 4/5 > /dev/null 2> err.txt && fail "an empty share ran"
  grep -q 'error: run: --share 4/5: no tiles in this share (3 tiles in all)' err.txt || fail "empty share: $(cat err.txt)"
  ;;
local)
  for b in munged munge slurmctld slurmd sbatch srun squeue scancel scontrol; do
    command -v $b > /dev/null || { echo "SKIP: $b not found (Slurm is not installed: scripts/setup installs slurmctld slurmd slurm-client munge)"; exit 77; }
  done
  # a private cluster; unix socket paths must stay short (108 bytes)
  C=$(mktemp -d "${CLEARCUBE_TMP:-/tmp}/slurmd.XXXXXX")
  [ ${#C} -le 60 ] || { rmdir "$C"; C=$(mktemp -d /tmp/cc-slurm.XXXXXX); }
  JOBS=""
  cleanup() {
    [ -n "$JOBS" ] && scancel $JOBS 2> /dev/null
    for _ in $(seq 100); do [ -z "$(squeue -h 2> /dev/null)" ] && break; sleep 0.1; done
    "$SRC/slurm/local/stop.sh" "$C"
    rm -rf "$C"
  }
  trap cleanup EXIT
  t0=$SECONDS
  if ! "$SRC/slurm/local/start.sh" "$C" 4 > start.log 2>&1; then
    echo "SKIP: the private Slurm daemons did not start here:"; tail -n 15 start.log | sed 's/^/  /'
    exit 77
  fi
  export SLURM_CONF=$C/etc/slurm.conf
  echo "private Slurm up in $((SECONDS - t0)) s; srun --mpi=list:"; srun --mpi=list 2>&1 | sed 's/^/  /'
  srun --mpi=list 2>&1 | grep -qw pmix || { echo "SKIP: this Slurm has no PMIx plugin (srun --mpi=pmix)"; exit 77; }
  sub() { "$BIN" submit job.yaml --nodes 1 --gpus-per-node 0 --time 00:10:00 "$@" 2> submit.err; }
  wait_job() { # id [seconds]: until the job (all its array tasks) left the queue
    for _ in $(seq $((${2:-150} * 5))); do
      [ -z "$(squeue -h -j "$1" 2> /dev/null)" ] && return 0
      sleep 0.2
    done
    fail "job $1 still in the queue after ${2:-150} s"; squeue; return 1
  }
  job_state() { scontrol show job "$1" 2> /dev/null | grep -o 'JobState=[A-Z_]*' | head -1 | cut -d= -f2; }
  restarts() { scontrol show job "$1" 2> /dev/null | grep -o 'Restarts=[0-9]*' | head -1 | cut -d= -f2; }
  wait_starts() { # dir n
    for _ in $(seq 600); do
      [ "$(cat "$1/journal.jsonl" 2> /dev/null | grep -c '"event":"start"')" -ge "$2" ] && return 0
      sleep 0.1
    done
    return 1
  }
  reference_run
  # 1. submitted 4 ranks == mpirun -n 4
  id=$(sub --ranks-per-node 4 -- --log-level warn) || { cat submit.err; fail "submit"; exit 1; }
  JOBS="$JOBS $id"; echo "job $id: 4 ranks"
  wait_job $id
  [ "$(job_state $id)" = COMPLETED ] || { fail "job $id: $(job_state $id)"; cat out/slurm-$id.out; }
  grep -q 'clearcube run exited 0' out/slurm-$id.out || fail "job $id: the run did not exit 0"
  grep -q '"event":"run","run":1,"ranks":4' out/journal.jsonl || fail "job $id did not run 4 ranks"
  same_cubes ref out
  check_journal out
  # 2. slowed items; SIGTERM to the ranks once items started (Slurm's --signal before the
  # time limit): exit 75, the batch script requeues, the restart resumes
  id=$(CLEARCUBE_TEST_ITEM_DELAY_MS=2000 sub --ranks-per-node 4 -- -o stop --log-level warn) || { cat submit.err; fail "submit"; exit 1; }
  JOBS="$JOBS $id"; echo "job $id: SIGTERM mid-run, requeue"
  wait_starts stop 1 || fail "job $id: no item started"
  scancel --signal=TERM $id
  wait_job $id
  [ "$(job_state $id)" = COMPLETED ] || fail "job $id (requeued): $(job_state $id)"
  [ "$(restarts $id)" = 1 ] || fail "job $id: $(restarts $id) restarts, expected 1"
  grep -q '"event":"close","run":1,"exit":75' stop/journal.jsonl || fail "job $id: run 1 did not stop with 75"
  grep -q '"event":"close","run":2,"exit":0' stop/journal.jsonl || fail "job $id: run 2 did not complete"
  grep -q "requeued job $id" stop/slurm-$id.out || fail "job $id: the script did not requeue"
  [ "$(grep -c 'restart [01])' stop/slurm-$id.out)" -eq 2 ] || fail "job $id: one log over both starts (--open-mode=append)"
  n1=$(sed -n '/"run":2/q;p' stop/journal.jsonl | grep '"event":"end"' | grep -c '"status":"done"')
  [ "$n1" -lt 6 ] || fail "job $id: the stop came too late (run 1 did all 6 items)"
  same_cubes ref stop
  check_journal stop
  # 3. slowed items; a plain scancel (no requeue: CANCELLED), then submit again: resumes
  id=$(CLEARCUBE_TEST_ITEM_DELAY_MS=2000 sub --ranks-per-node 4 -- -o cancel --log-level warn) || { cat submit.err; fail "submit"; exit 1; }
  JOBS="$JOBS $id"; echo "job $id: scancel mid-run, resubmit"
  wait_starts cancel 1 || fail "job $id: no item started"
  scancel $id
  wait_job $id
  [ "$(job_state $id)" = CANCELLED ] || fail "job $id: $(job_state $id), expected CANCELLED"
  nd=$(grep '"event":"end"' cancel/journal.jsonl | grep -c '"status":"done"')
  [ "$nd" -lt 6 ] || fail "job $id: the cancel came too late ($nd items done)"
  id=$(sub --ranks-per-node 4 -- -o cancel --log-level warn) || { cat submit.err; fail "submit"; exit 1; }
  JOBS="$JOBS $id"; echo "job $id: resubmitted"
  wait_job $id
  [ "$(job_state $id)" = COMPLETED ] || fail "job $id (resubmitted): $(job_state $id)"
  same_cubes ref cancel
  check_journal cancel
  # 4. a job array of 2 tasks (2 ranks each, both at once on the 4-CPU node)
  id=$(sub --ranks-per-node 2 --array 2 -- -o arr --log-level warn) || { cat submit.err; fail "submit"; exit 1; }
  JOBS="$JOBS $id"; echo "job $id: array of 2"
  wait_job $id
  for i in 0 1; do
    [ "$(job_state ${id}_$i)" = COMPLETED ] || fail "array task ${id}_$i: $(job_state ${id}_$i)"
    grep -q 'clearcube run exited 0' arr/slurm-${id}_$i.out || fail "array task $i: the run did not exit 0"
  done
  for t in $TILES; do
    f=$(ls arr/share-*-of-2/$t.nc 2> /dev/null)
    [ "$(echo "$f" | wc -w)" -eq 1 ] || { fail "tile $t in $(echo "$f" | wc -w) array shares"; continue; }
    cmp -s "$f" ref/$t.nc || fail "$f differs from mpirun's cube"
  done
  echo "slurm_local: $((SECONDS - t0)) s"
  ;;
*) echo "unknown scenario $scenario"; exit 2 ;;
esac
[ $fails -eq 0 ] && echo "PASS slurm_$scenario" || { echo "$fails failure(s)"; exit 1; }
