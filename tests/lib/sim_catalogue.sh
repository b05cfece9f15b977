# Sourced by the MPI and Slurm test scripts (tests/run/run_mpi.sh, tests/slurm/slurm_local.sh):
# cc_sim_catalogue BIN writes, in the current folder, a catalogue cat/ of SIMULATED scenes
# (`clearcube simulate`, fixed seeds) named as 3 tiles x 2 dates GeoTIFF stacks with scene
# sidecars X.json (the simulator's, placed on the tile and day; docs/formats/catalogue.md), and
# job.yaml over it (product reference, June 2024); sets TILES.
# cc_sim_job_yaml [LINE...] writes job.yaml: product reference over the 3 tiles in June 2024,
# catalogue cat/, output out/, then each LINE (more YAML).
cc_sim_job_yaml() {
  printf '%s\n' "product: reference" "area:" "  tiles: [32UMF, 32UNF, 32ULF]" "dates:" \
    "  start: 2024-06-01" "  end: 2024-06-30" "catalogues: [cat]" "output: out" "$@" > job.yaml
}

cc_sim_catalogue() {
  local bin=$1 seed=1 tile d iso
  mkdir -p cat
  for tile in 32UMF 32UNF 32ULF; do
    for d in 20240601 20240611; do
      "$bin" simulate -o sim --size 64 --seed $seed > /dev/null || return 1
      seed=$((seed + 1))
      iso="${d:0:4}-${d:4:2}-${d:6:2}"
      mv sim/S2A_SIMULATED_L1C.tif "cat/S2A_T${tile}_${d}_L1C.tif"
      sed -e "s|\"href\": \"[^\"]*\"|\"href\": \"S2A_T${tile}_${d}_L1C.tif\"|" \
          -e "s|\"datetime\": \"[^\"]*\"|\"datetime\": \"${iso}T10:30:00Z\"|" \
          -e "s|^{|{\"tile\": \"$tile\", |" sim/S2A_SIMULATED_L1C.json > "cat/S2A_T${tile}_${d}_L1C.json"
    done
  done
  cc_sim_job_yaml "limits:" "  item_timeout_s: 120" "  retries: 1"
  TILES="32UMF 32UNF 32ULF"
}
