# Sourced by the training test scripts (tests/boa/boa_cli.sh, tests/boa/boa_quality.sh,
# tests/train/train_device_cli.sh). cc_sim_dataset BIN N SIZE [DATASET-OPTIONS...] simulates N
# SIMULATED scenes sim1..simN (`clearcube simulate`, seeds 1..N, AOT 0.2, 0.3, ...) of SIZE x SIZE
# pixels in the current folder, writes dataset.yaml over them (reference targets; the last scene
# is the validation split) and builds data.h5 with `clearcube dataset`. Returns non-zero on failure.
cc_sim_dataset() {
  local bin=$1 n=$2 size=$3 s split
  shift 3
  for s in $(seq 1 "$n"); do
    "$bin" simulate -o sim$s --size "$size" --seed $s --aot 0.$((s + 1)) > /dev/null || return 1
  done
  {
    echo "seed: 7"
    echo "sources:"
    for s in $(seq 1 "$n"); do
      split=train; [ "$s" -eq "$n" ] && split=val
      cat <<YAML
  - scene: SIM$s
    kind: reference
    split: $split
    path: sim$s/S2A_SIMULATED_L1C.tif
    bands: B01,B02,B03,B04,B05,B06,B07,B08,B8A,B09,B10,B11,B12
    spacecraft: S2A
    date: 2024-06-15
    sun_zenith: $((25 + 8 * s))
    sun_azimuth: 150
    view_zenith: 5
    view_azimuth: 100
    dn_offset: -1000
YAML
    done
  } > dataset.yaml
  "$bin" dataset dataset.yaml -o data.h5 --log-level warn "$@" > /dev/null
}
