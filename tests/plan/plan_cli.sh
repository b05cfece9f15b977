#!/bin/bash
# clearcube plan: the numbers are sane and consistent with the model
# (docs/scaling.md), the output is deterministic, bad arguments give one error
# line and exit 2.
set -u
BIN=${CLEARCUBE_BIN:?}
T=${CLEARCUBE_TMP:-/tmp}/plan_cli
rm -rf "$T" && mkdir -p "$T" && cd "$T" || exit 1
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

"$BIN" plan --europe-year --nodes 4 > eu1.txt || fail "plan --europe-year exited $?"
"$BIN" plan --europe-year --nodes 4 > eu2.txt || fail "second run exited $?"
cmp -s eu1.txt eu2.txt || fail "output not deterministic"
"$BIN" plan --europe-year --nodes 4 --seed 2 > eu3.txt || fail "--seed 2 exited $?"
cmp -s eu1.txt eu3.txt && fail "--seed does not change the simulation"
"$BIN" plan --europe-year --sigma 0 --estimate-sigma 0 > eu0.txt || fail "--sigma 0 exited $?"
"$BIN" tiles --bbox=-31,34,45,72 > tiles.txt 2> /dev/null || fail "clearcube tiles exited $?"
python3 - "$(wc -l < tiles.txt)" <<'PY' || fail "europe-year numbers"
import re, sys
ntiles = int(sys.argv[1])
def table(path):
    rows = []
    for l in open(path):
        m = re.match(r"\| (\d+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|", l)
        if m:
            rows.append([float(x) for x in m.groups()])
    return rows
txt = open("eu1.txt").read()
m = re.search(r"items +(\d+) = (\d+) tiles .* x (\d+) acquisitions", txt)
assert m, "no items line"
items, tiles, acq = map(int, m.groups())
assert tiles == ntiles and acq == 73 and items == tiles * acq, (items, tiles, acq, ntiles)
m = re.search(r"\(64 cores, 32 ranks, 0 GPUs per node\): ([\d.]+) s per item", txt)
assert m, "no rank line"
item_s = float(m.group(1))
assert abs(item_s - 94.0) < 0.1, item_s   # (78 + 50 + 59.9) CPU-s on 2 cores
m = re.search(r"plan for 4 nodes: 128 ranks on 4.00 nodes: wall ([\d.]+) h, ([\d.]+) node-hours \(ideal ([\d.]+)\), parallel efficiency ([\d.]+)", txt)
assert m, "no plan line"
wall, nh, ideal, eff = map(float, m.groups())
assert abs(nh - 4 * wall) < 0.01 * nh + 0.1, (nh, wall)
assert 0 < eff <= 1 and abs(ideal / nh - eff) < 0.01, (ideal, nh, eff)
rows = table("eu1.txt")
assert [int(r[0]) for r in rows] == [16, 32, 64, 128, 256, 512, 1024], rows
for ranks, nodes, wall, nh, ideal, eff, tail in rows:
    assert 0 < eff <= 1, eff
    assert abs(nodes - ranks / 32) < 0.01
    assert wall * ranks / 32 > 0.999 * nh - 0.1 and abs(nh - nodes * wall) < 0.002 * nh + 0.1
    assert abs(ideal / nh - eff) < 0.005, (ideal, nh, eff)
    assert 0 <= tail <= wall
# ideal node-hours = (items x item + tiles x 73 x assembly) / 32 ranks per node, the same for every rank count
busy = items * item_s + tiles * 73 * 59.9
for r in rows:
    assert abs(r[4] - busy / 32 / 3600) < 0.005 * r[4], (r[4], busy / 32 / 3600)
# efficiency does not grow with ranks (a little noise allowed)
for a, b in zip(rows, rows[1:]):
    assert b[5] <= a[5] + 0.01, (a, b)
# wall time falls with ranks
for a, b in zip(rows, rows[1:]):
    assert b[2] < a[2], (a, b)
# without variance, few ranks are almost perfectly balanced
z = table("eu0.txt")
assert z[0][5] > 0.99, z[0]
print("ok: %d items, item %.1f s, efficiency %s" % (items, item_s, [r[5] for r in rows]))
PY

# a job file: 3 tiles x 2024-06-01..2024-06-30 (30 days -> 6 acquisitions)
# shellcheck source=../lib/sim_catalogue.sh
. "$(dirname "$(readlink -f "$0")")/../lib/sim_catalogue.sh"
cc_sim_job_yaml
mkdir -p cat
"$BIN" plan job.yaml --nodes 1 --ranks-per-node 2 --cores-per-node 4 > job.txt || fail "plan job.yaml exited $?"
grep -q "items      18 = 3 tiles" job.txt || fail "job items: $(grep items job.txt)"
grep -q "plan for 1 node: 2 ranks" job.txt || fail "job plan line: $(grep 'plan for' job.txt)"
# GPUs: compute leaves the CPU; ranks default to GPUs per node
"$BIN" plan job.yaml --nodes 2 --gpus-per-node 4 > gpu.txt || fail "--gpus-per-node exited $?"
grep -q "(64 cores, 4 ranks, 4 GPUs per node): 59.9 s per item" gpu.txt || fail "gpu rank line: $(grep 'rank ' gpu.txt)"

# a cost file (a run report of clearcube run): 10 items of 30 + 1 + 1 s, 20 s assembly
cat > report.json <<'REP'
{"ranks": 2, "stages": [
  {"rank": 0, "item_s": 150, "validate_s": 5, "commit_s": 5, "assemble_s": 10, "items_done": 5, "tiles": 1},
  {"rank": 1, "item_s": 150, "validate_s": 5, "commit_s": 5, "assemble_s": 10, "items_done": 5, "tiles": 1}]}
REP
"$BIN" plan job.yaml --nodes 1 --cost-file report.json > cost.txt || fail "--cost-file exited $?"
grep -q "32.0 s per item on one rank, assembly 2.0 s per date" cost.txt || fail "cost file: $(grep costs cost.txt)"

# bad arguments: one error line, exit 2
bad() { # description, args...
  local what=$1; shift
  "$BIN" plan "$@" > out.txt 2> err.txt; local rc=$?
  [ $rc -eq 2 ] || fail "$what: exit $rc, expected 2"
  [ "$(wc -l < err.txt)" -eq 1 ] || fail "$what: expected one error line, got: $(cat err.txt)"
  grep -q "^clearcube: error: " err.txt || fail "$what: error line: $(cat err.txt)"
  [ ! -s out.txt ] || fail "$what: printed on stdout"
}
bad "no job" --nodes 2
bad "job and europe" job.yaml --europe-year --nodes 1
bad "job without nodes" job.yaml
bad "nodes 0" job.yaml --nodes 0
bad "nodes text" job.yaml --nodes four
bad "negative gpus" job.yaml --nodes 1 --gpus-per-node -1
bad "ranks > cores" job.yaml --nodes 1 --ranks-per-node 8 --cores-per-node 4
bad "bad sigma" --europe-year --sigma x
bad "unknown option" --europe-year --frobnicate
bad "missing job" missing.yaml --nodes 1
bad "missing cost file" job.yaml --nodes 1 --cost-file missing.json
echo '{"ranks": 1}' > notreport.json
bad "not a report" job.yaml --nodes 1 --cost-file notreport.json
bad "two jobs" job.yaml job.yaml --nodes 1

[ $fails -eq 0 ] && echo PASS || { echo "$fails failure(s)"; exit 1; }
