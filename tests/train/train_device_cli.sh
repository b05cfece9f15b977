#!/usr/bin/env bash
# clearcube train --device (issue 15, docs/gpu.md "Training on CUDA") on a SIMULATED dataset
# (one `clearcube simulate` scene for training, one for validation):
#   - --device auto on a machine without a usable GPU trains on the CPU and logs it (info:
#     "train: device cpu (...), auto: <why>; backward GEMMs on cpu (...)"), with the same
#     losses and errors as --device cpu;
#   - --device cuda without a usable GPU: exit 4, one error line, no model written.
# Where a usable GPU is present the no-GPU cases are skipped (exit 77 when nothing ran):
# test_train_cuda (label gpu) compares the GPU with the CPU there.
set -u
CC=${CLEARCUBE_BIN:?}
T=${CLEARCUBE_TMP:-/tmp}/train_device_cli
rm -rf "$T" && mkdir -p "$T" && cd "$T" || exit 1
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
"$CC" --version > version.txt 2>&1
grep -q '^devices: cpu only' version.txt || { echo "SKIP: a usable GPU is here (test_train_cuda covers it)"; exit 77; }

. "$(dirname "$(readlink -f "$0")")/../lib/sim_dataset.sh"
cc_sim_dataset "$CC" 2 128 --device cpu || { echo "FAIL dataset"; exit 1; }
cfg() { # name
  cat > $1.yaml <<YAML
dataset: data.h5
model: $1.h5
checkpoint: $1.ckpt.h5
loss_plot: $1.png
log: $1.jsonl
arch:
  hidden: [16, 16]
train:
  steps: 20
  batch: 512
  chunks: 2
  lr: 0.003
  warmup: 5
  checkpoint_every: 20
  eval_every: 20
  eval_pixels: 1024
YAML
}
cfg cpu; cfg auto; cfg cuda
"$CC" train cpu.yaml --device cpu --no-progress --log-level info > cpu.json 2> cpu.log || fail "train --device cpu: $(cat cpu.log)"
"$CC" train auto.yaml --no-progress --log-level info > auto.json 2> auto.log || fail "train (auto): $(cat auto.log)"
grep -qE '^.*train: device cpu \([a-z0-9]+\); backward GEMMs on cpu \([a-z0-9]+\)$' cpu.log \
  && ok "cpu logged: $(grep -o 'train: device.*' cpu.log)" || fail "--device cpu not logged: $(cat cpu.log)"
grep -qE 'train: device cpu \([a-z0-9]+\), auto: .+; backward GEMMs on cpu \([a-z0-9]+\)$' auto.log \
  && ok "auto falls back, logged: $(grep -o 'train: device.*' auto.log)" || fail "auto not logged: $(cat auto.log)"
# the same training: every figure but the timings
strip() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); [d.pop(k) for k in ("seconds","px_per_s")]; print(json.dumps(d, sort_keys=True))' "$1"; }
[ -s cpu.json ] && [ "$(strip cpu.json)" = "$(strip auto.json)" ] && ok "auto (CPU) == cpu: $(strip cpu.json | cut -c1-80)..." \
  || fail "auto and cpu differ: $(cat cpu.json auto.json)"
"$CC" train cuda.yaml --device cuda --no-progress > cuda.out 2> cuda.err; rc=$?
[ $rc -eq 4 ] && [ "$(wc -l < cuda.err)" -eq 1 ] && grep -q '^clearcube: error: train: --device cuda: .*; use --device cpu or auto$' cuda.err \
  && ok "--device cuda: exit 4: $(cat cuda.err)" || fail "--device cuda: exit $rc: $(cat cuda.err)"
[ ! -e cuda.h5 ] && [ ! -e cuda.ckpt.h5 ] || fail "--device cuda wrote a model or checkpoint"
[ $fails -eq 0 ] && echo "PASS" || { echo "$fails failure(s)"; exit 1; }
