#!/bin/bash
# Daily operation under Slurm (issue 14; docs/user-guide.md "Daily operation"):
#   slurm_daily.sh
# On a PRIVATE single-node Slurm (slurm/local/start.sh, stopped by PID at the end):
#   1. SIMULATED sensor cubes of one tile with 5 days; `clearcube submit job.yaml --daily
#      --every 15`: the first job processes days 1-5 and submits its successor;
#      (--today 2020-03-07 --lag 2: days up to 03-05 without acquisition are made too);
#   2. 4 more days are "ingested" (the cubes now hold 9 days): a following job catches up
#      the days up to the newest acquired one (>= 6), in order; a later one finds nothing;
#   3. the chain is stopped (scancel --name); the journal daily.jsonl holds every day
#      once ("done"), the nowcast cube the same dates in order, the state is at the last.
#   Also without Slurm: the script --dry-run, and --at/--every without --daily refused.
# Skips (exit 77) when Slurm is not installed or its daemons do not start here.
set -u
BIN=${CLEARCUBE_BIN:?}
SRC=${CLEARCUBE_SOURCE:-$(cd "$(dirname "$0")/../.." && pwd)}
T=${CLEARCUBE_TMP:-/tmp}/slurm_daily
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
rm -rf "$T" && mkdir -p "$T" && cd "$T" || exit 1

"$BIN" cloudless-sim --out-dir cubes --synthetic --days 5 --size 32 --seed 4 --log-level warn > sim.txt || { fail "sim"; exit 1; }
tile=$(cut -d' ' -f1 sim.txt)
cat > job.yaml <<EOF
product: cloudless
area:
  tiles: [$tile]
dates:
  start: 2020-03-01
  end: 2020-12-31
catalogues: [cubes]
output: out
EOF
"$BIN" submit job.yaml --daily --time 00:10:00 --every 15 --dry-run > daily.sbatch || fail "dry run"
grep -qF "date -d 'now + 15 seconds'" daily.sbatch || fail "the script does not compute the next run"
grep -qF 'sbatch --parsable --begin="$next" --dependency="afterany:${SLURM_JOB_ID}" "$0"' daily.sbatch || fail "no resubmission"
grep -qF "daily job.yaml" daily.sbatch || fail "the script does not run clearcube daily"
bash -n daily.sbatch || fail "not valid bash"
"$BIN" submit job.yaml --daily --time 00:10:00 --dry-run | grep -qF "date -d 'tomorrow 06:00'" || fail "default next run"
"$BIN" submit job.yaml --nodes 1 --gpus-per-node 0 --time 00:10:00 --every 5 --dry-run > /dev/null 2> err.txt \
  && fail "--every without --daily accepted"
grep -q -- "--at and --every go with --daily" err.txt || fail "message: $(cat err.txt)"

for b in munged slurmctld slurmd sbatch squeue scancel scontrol; do
  command -v $b > /dev/null || { echo "SKIP: $b not found (scripts/setup installs slurmctld slurmd slurm-client munge)"; exit 77; }
done
C=$(mktemp -d "${CLEARCUBE_TMP:-/tmp}/slurmd.XXXXXX")
[ ${#C} -le 60 ] || { rmdir "$C"; C=$(mktemp -d /tmp/cc-slurm.XXXXXX); }
cleanup() {
  scancel --name=clearcube-job 2> /dev/null
  for _ in $(seq 100); do [ -z "$(squeue -h 2> /dev/null)" ] && break; sleep 0.1; done
  "$SRC/slurm/local/stop.sh" "$C"
  rm -rf "$C"
}
trap cleanup EXIT
if ! "$SRC/slurm/local/start.sh" "$C" 2 > start.log 2>&1; then
  echo "SKIP: the private Slurm daemons did not start here:"; tail -n 15 start.log | sed 's/^/  /'
  exit 77
fi
export SLURM_CONF=$C/etc/slurm.conf
ndone() { grep -c '"status":"done"' out/daily.jsonl 2> /dev/null || echo 0; }
wait_done() { # n seconds
  for _ in $(seq $(($2 * 5))); do [ "$(ndone)" -ge "$1" ] && return 0; sleep 0.2; done
  return 1
}
t0=$SECONDS
# today 2020-03-07, lag 2: every day up to 03-05 (the 5 days ingested), later days once acquired
id=$("$BIN" submit job.yaml --daily --time 00:10:00 --every 15 -- --today 2020-03-07 --lag 2 2> submit.err) || { cat submit.err; fail "submit"; exit 1; }
echo "daily chain started: job $id"
wait_done 5 120 || fail "days 1-5 not done in 120 s: $(cat out/slurm-*.out 2> /dev/null)"
# 4 more days arrive
"$BIN" cloudless-sim --out-dir cubes --synthetic --days 9 --size 32 --seed 4 --log-level warn > /dev/null || fail "sim 9 days"
# the newest day acquired by S2 or Landsat among the 9
want=$(python3 - "cubes/${tile}_s2.nc" "cubes/${tile}_landsat.nc" <<'PY'
import subprocess, sys
best = 0
for f in sys.argv[1:]:
    out = subprocess.run(["ncdump", "-v", "time", f], capture_output=True, text=True).stdout
    vals = out.split("time =")[-1].split(";")[0].replace(",", " ").split()
    best = max([best] + [int(float(v)) - 18322 + 1 for v in vals if v.strip()])  # 18322 = 2020-03-01
print(max(best, 5))
PY
)
echo "newest day acquired: $want"
[ "$want" -ge 6 ] || fail "the 9-day simulation acquired nothing after day 5 (the test needs a later day)"
wait_done "$want" 120 || fail "days 6-$want not caught up in 120 s: $(tail -n 20 out/slurm-*.out 2> /dev/null)"
# one more run with nothing new
nruns=$(grep -c '"event":"run"' out/daily.jsonl)
for _ in $(seq 300); do [ "$(grep -c '"event":"close"' out/daily.jsonl)" -gt "$nruns" ] && break; sleep 0.2; done
scancel --name=clearcube-job
for _ in $(seq 100); do [ -z "$(squeue -h 2> /dev/null)" ] && break; sleep 0.2; done
echo "journal:"; sed 's/^/  /' out/daily.jsonl
python3 - out/daily.jsonl "$want" <<'PY' || fail "journal check"
import json, sys
done = [json.loads(l)["item"] for l in open(sys.argv[1]) if '"done"' in l]
runs = sum(1 for l in open(sys.argv[1]) if '"event":"run"' in l)
days = [d.split("_")[1] for d in done]
want = int(sys.argv[2])
ok = len(days) == want and days == sorted(days) and len(set(days)) == want and runs >= 3
print("daily runs:", runs, "days done:", days)
sys.exit(0 if ok else 1)
PY
n=$(ncdump -h "out/${tile}_nowcast.nc" | grep -o 'UNLIMITED ; // ([0-9]* currently)' | grep -o '[0-9]*')
[ "$n" = "$want" ] || fail "the nowcast cube has $n dates, expected $want"
ncdump -h "out/${tile}.state.nc" | grep -q "valid_after_date = \"2020-03-0$want\"" || fail "the state is not at day $want"
[ "$(ls out/slurm-*.out | wc -l)" -ge 3 ] || fail "fewer than 3 daily jobs ran"
grep -q "next daily run: job" out/slurm-*.out || fail "no job submitted its successor"
echo "slurm_daily: $((SECONDS - t0)) s"
[ $fails -eq 0 ] && echo "PASS slurm_daily" || { echo "$fails failure(s)"; exit 1; }
