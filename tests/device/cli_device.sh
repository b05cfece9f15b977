#!/usr/bin/env bash
# --device through the command line (kernels/device/device.h, docs/gpu.md "Choosing the device"):
# every computing command parses it (a bad value: exit 2, one line); without a GPU `auto`
# runs on the CPU (logged, the same cube as --device cpu) and `cuda` fails with exit 4 and one
# line naming the command and the reason, before any output; `clearcube run` takes --device
# and the job key `device`, maps each rank to an entry of CUDA_VISIBLE_DEVICES by its
# node-local rank and records it in the run report.
set -u
BIN=${CLEARCUBE_BIN:?}
SRC=${CLEARCUBE_SOURCE:?}
T=${CLEARCUBE_TMP:-/tmp}/cli_device
rm -rf "$T" && mkdir -p "$T" && cd "$T" || exit 1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_mca_base_component_disable_dlclose=1
export LSAN_OPTIONS="suppressions=$SRC/tests/lsan-libs.supp:fast_unwind_on_malloc=0:print_suppressions=0"
unset CUDA_VISIBLE_DEVICES
fails=0
ok() { echo "ok   $1"; }
fail() { echo "FAIL $1"; fails=$((fails + 1)); }
one_line_error() { # NAME RC PATTERN CMD...
  local name=$1 want=$2 pat=$3; shift 3
  "$@" > out.txt 2> err.txt; local rc=$?
  if [ $rc -ne "$want" ] || [ "$(grep -c . err.txt)" -ne 1 ] || ! grep -q '^clearcube: error: ' err.txt ||
     ! grep -qF -- "$pat" err.txt; then
    fail "$name: rc $rc (want $want), stderr: $(cat err.txt)"; return; fi
  ok "$name (rc $rc): $(cat err.txt)"
}

"$BIN" simulate -o sim --size 32 --seed 5 > /dev/null || { echo "FAIL simulate"; exit 1; }
read -r -a OPTS < sim/S2A_SIMULATED_L1C.options
SCENE=$T/sim/S2A_SIMULATED_L1C.tif
NOGPU=0
"$BIN" --version > version.txt 2>&1
grep -q '^devices: cpu only' version.txt && NOGPU=1
grep -q '^backends: cpu: .*; cuda: .*; cudnn: ' version.txt && ok "--version names the backends: $(grep '^backends' version.txt)" \
  || fail "--version: $(cat version.txt)"
grep -q "^devices: " version.txt && ok "$(grep '^devices' version.txt)" || fail "--version: no devices line"

# 1. a bad value: usage error on every command that computes
for cmd in boa reference cloudless train cloudless-train dataset; do
  one_line_error "$cmd --device tpu" 2 "--device tpu: must be auto, cpu, cuda or cuda:N" \
    "$BIN" $cmd --device tpu whatever -o x.nc
done
one_line_error "run --device cuda:1" 2 "run: --device cuda:1: must be auto, cpu or cuda" "$BIN" run x.yaml --device cuda:1

# 2. auto = cpu here (or the GPU where there is one), logged; cpu and auto give the same cube
"$BIN" boa "$SCENE" "${OPTS[@]}" -o cpu.nc --device cpu --log-level info 2> cpu.log || fail "boa --device cpu: $(cat cpu.log)"
"$BIN" boa "$SCENE" "${OPTS[@]}" -o auto.nc --log-level info 2> auto.log || fail "boa (auto): $(cat auto.log)"
grep -qE 'network on cpu \([a-z0-9]+\)$' cpu.log && ok "cpu logged: $(grep -o 'network on.*' cpu.log)" || fail "no device in the summary: $(cat cpu.log)"
if [ $NOGPU = 1 ]; then
  grep -qE 'network on cpu \([a-z0-9]+\), auto: ' auto.log && ok "auto falls back, logged: $(grep -o 'network on.*' auto.log)" \
    || fail "auto: $(cat auto.log)"
  "$BIN" validate --prediction auto.nc --reference cpu.nc > val.txt 2>&1 || fail "validate: $(cat val.txt)"
  # the same pixels (the cubes' creation times differ): MAE 0 in every band
  python3 - val.txt <<'PY' && ok "auto (CPU) cube == cpu cube" || fail "auto and cpu cubes differ: $(cat val.txt)"
import re, sys
rows = [l for l in open(sys.argv[1]) if re.match(r"\| B[0-9]", l)]
sys.exit(0 if rows and all(float(l.split("|")[3]) == 0 for l in rows) else 1)
PY
  # 3. cuda without a GPU: exit 4, one line, nothing written
  why=$(grep -o 'network on cpu ([a-z0-9]*), auto: .*' auto.log | sed 's/^network on cpu ([a-z0-9]*), auto: //')
  [ -n "$why" ] || fail "no reason for the fallback in: $(cat auto.log)"
  one_line_error "boa --device cuda" 4 "boa: --device cuda: $why; use --device cpu or auto" \
    "$BIN" boa "$SCENE" "${OPTS[@]}" -o cuda.nc --device cuda
  [ ! -e cuda.nc ] || fail "boa --device cuda wrote its output"
  one_line_error "reference --device cuda:0" 4 "reference: --device cuda:0: " \
    "$BIN" reference "$SCENE" "${OPTS[@]}" -o ref.nc --device cuda:0
  one_line_error "cloudless --device cuda" 4 "cloudless: --device cuda: " \
    "$BIN" cloudless "$T" --tile 33UUP --date 2020-05-10 -o cl.nc --device cuda
  one_line_error "train --device cuda" 4 "train: --device cuda: " "$BIN" train none.yaml --device cuda
  one_line_error "cloudless-train --device cuda" 4 "cloudless-train: --device cuda: " "$BIN" cloudless-train none.yaml --device cuda
  one_line_error "dataset --device cuda" 4 "dataset: --device cuda: " "$BIN" dataset none.yaml -o d.h5 --device cuda
else
  echo "(a usable GPU is here: the no-GPU cases are skipped; scripts/gpu-check covers the GPU)"
fi

# 4. clearcube run: --device, the job key, the rank -> GPU mapping in the run report
MPIRUN=$(command -v mpirun) || { echo "SKIP: no mpirun for the run cases"; [ $fails -eq 0 ] && exit 77 || exit 1; }
. "$SRC/tests/lib/sim_catalogue.sh"
cc_sim_catalogue "$BIN" > /dev/null 2>&1 || { echo "FAIL catalogue"; exit 1; }
devices() { python3 -c 'import json,sys; print(";".join(s["device"] for s in json.load(open(sys.argv[1]))["stages"]))' "$1/run-report.json"; }
"$MPIRUN" -n 2 "$BIN" run job.yaml -o r-cpu --device cpu --progress never --log-level warn > /dev/null 2>&1 \
  && [ "$(devices r-cpu)" = "cpu (--device cpu);cpu (--device cpu)" ] && ok "run --device cpu: both ranks on the CPU in the report" \
  || fail "run --device cpu: $(devices r-cpu 2>&1)"
cc_sim_job_yaml "device: cpu" "limits:" "  retries: 0"
"$MPIRUN" -n 1 "$BIN" run job.yaml -o r-key --progress never --log-level warn > /dev/null 2>&1 \
  && [ "$(devices r-key)" = "cpu (--device cpu)" ] && ok "the job key device: cpu" || fail "job key: $(devices r-key 2>&1)"
cc_sim_job_yaml "device: tpu"
one_line_error "job key device: tpu" 2 "device: must be one of: auto|cpu|cuda" "$BIN" job --check job.yaml
cc_sim_job_yaml "limits:" "  retries: 0"
if grep -q '^backends: .*cuda: none' version.txt; then
  # a build without CUDA: CUDA_VISIBLE_DEVICES does not matter, every rank computes on the CPU
  CUDA_VISIBLE_DEVICES=3,5 "$MPIRUN" -n 2 -x CUDA_VISIBLE_DEVICES "$BIN" run job.yaml -o r-map --progress never \
      --log-level warn > /dev/null 2>&1
  devices r-map | grep -q '^cpu (this clearcube was built without CUDA' && ok "no CUDA: $(devices r-map)" \
    || fail "no CUDA build: $(devices r-map 2>&1)"
else
  # each rank takes the entry of its node-local rank (the items fall back to the CPU here)
  CUDA_VISIBLE_DEVICES=3,GPU-5f0e "$MPIRUN" -n 2 -x CUDA_VISIBLE_DEVICES "$BIN" run job.yaml -o r-map \
      --progress never --log-level warn > map.log 2>&1 || fail "run with CUDA_VISIBLE_DEVICES=3,GPU-5f0e: $(tail -3 map.log)"
  [ "$(devices r-map)" = "GPU 3 (node-local rank 0);GPU GPU-5f0e (node-local rank 1)" ] \
    && ok "rank -> GPU from the environment: $(devices r-map)" || fail "mapping: $(devices r-map 2>&1)"
  grep -q '"rank": 0, "device": "GPU 3 (node-local rank 0)"' r-map/run-report.json || fail "run-report.json device field"
  grep -q '| GPU GPU-5f0e (node-local rank 1) |' r-map/run-report.md && ok "run-report.md has a device column" \
    || fail "run-report.md: no device column"
  # one GPU under 3 ranks: allowed only when asked for (run_layout checks the refusal)
  CUDA_VISIBLE_DEVICES=0 "$MPIRUN" -n 3 -x CUDA_VISIBLE_DEVICES "$BIN" run job.yaml -o r-share --layout share-gpu \
      --progress never --log-level warn > share.log 2>&1
  [ "$(grep -c 'run: layout: 3 ranks share a GPU, as allowed by --layout share-gpu' share.log)" -ge 1 ] \
    && ok "3 ranks on one GPU with --layout share-gpu: warned" || fail "sharing not warned: $(head -5 share.log)"
fi
if [ $NOGPU = 1 ]; then
  "$MPIRUN" -n 2 "$BIN" run job.yaml -o r-cuda --device cuda --progress never > /dev/null 2> err.txt
  rc=$?
  [ $rc -eq 4 ] && grep -q 'clearcube: error: run: --device cuda: 2 of 2 rank(s) have no GPU' err.txt \
    && grep -q "has no GPU: .*; use --device auto or cpu" err.txt && ! grep -q "\"event\":\"start\"" r-cuda/journal.jsonl \
    && ok "run --device cuda without a GPU: exit 4 before any item" || fail "run --device cuda: rc $rc: $(cat err.txt)"
fi
[ $fails -eq 0 ] && echo "PASS cli_device" || { echo "$fails failure(s)"; exit 1; }
