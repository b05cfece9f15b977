#!/usr/bin/env bash
# clearcube run's layout (issue 15, jobs/run/layout.c, docs/running.md "Layout"): it prints at
# start what it got (ranks, nodes, items and threads per rank, GPUs per rank), refuses (exit 2,
# one line) a layout with more OpenMP threads than the ranks' cores, accepts it with
# --layout oversubscribe, with the job key `layout: oversubscribe` and with Open MPI's own
# oversubscription setting (`mpirun --oversubscribe`, which exports
# OMPI_MCA_rmaps_base_oversubscribe=1 to the ranks, as the other test scripts do); in a CUDA build, two ranks
# given the same GPU (CUDA_VISIBLE_DEVICES=0) are refused unless --layout share-gpu.
# The thread count that oversubscribes is computed from this machine: 2 ranks x nproc threads.
#   run_layout.sh MPIEXEC
set -u
MPIEXEC=${1:?mpiexec}
BIN=${CLEARCUBE_BIN:?}
SRC=${CLEARCUBE_SOURCE:?}
T=${CLEARCUBE_TMP:-/tmp}/run_layout
rm -rf "$T" && mkdir -p "$T" && cd "$T" || exit 1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_mca_base_component_disable_dlclose=1
export LSAN_OPTIONS="suppressions=$SRC/tests/lsan-libs.supp:fast_unwind_on_malloc=0:print_suppressions=0"
unset OMPI_MCA_rmaps_base_oversubscribe PRTE_MCA_rmaps_base_oversubscribe CUDA_VISIBLE_DEVICES
fails=0
ok() { echo "ok   $1"; }
fail() { echo "FAIL $1"; fails=$((fails + 1)); }
. "$SRC/tests/lib/sim_catalogue.sh"
cc_sim_catalogue "$BIN" || { echo "FAIL simulate"; exit 1; }
# one item (tile 32UMF, 2024-06-01) keeps the runs short (the ASan build runs this too)
sed -i 's/tiles: \[32UMF, 32UNF, 32ULF\]/tiles: [32UMF]/; s/end: 2024-06-30/end: 2024-06-05/' job.yaml
NP=$(nproc)
MANY=$((NP + 1)) # 2 ranks x (nproc + 1) threads: more than the node's cores whatever the binding
# 2 ranks without mpirun --oversubscribe (which would itself allow oversubscription): needs 2 cores
if [ "$NP" -lt 2 ]; then echo "SKIP: one core here: mpirun cannot start 2 ranks without --oversubscribe"; exit 77; fi
mpi() { "$MPIEXEC" -n 2 "$BIN" run "$@"; }

# 1. refused: exit 2, one line naming the numbers and the way out, no output written
mpi job.yaml -o refused --threads $MANY --progress never > out.txt 2> err.txt
rc=$?
nerr=$(grep -c '^clearcube: error: ' err.txt)
if [ $rc -eq 2 ] && [ "$nerr" -eq 1 ] && grep -q "run: layout: .*want $((2 * MANY)) cores" err.txt \
   && grep -qF -- '--layout oversubscribe' err.txt && [ ! -e refused/S2A_T32UMF.nc ] && [ ! -e refused/32UMF.nc ]; then
  ok "2 ranks x $MANY threads on $NP core(s): refused (rc 2): $(grep '^clearcube: error' err.txt)"
else
  fail "oversubscribed layout: rc $rc, stderr: $(cat err.txt)"
fi

# 2. the layout line at start (info level), and an accepted layout
mpi job.yaml -o fits --threads 1 --progress never --log-level info > out.txt 2> err.txt
rc=$?
line=$(grep -m1 'run: layout: ' err.txt)
if [ $rc -eq 0 ] && echo "$line" | grep -qE 'run: layout: 2 ranks on 1 node \(up to 2 per node\), 1 item x 1 OpenMP thread per rank, 0 GPUs per rank, [0-9]+ cores? on the busiest node'; then
  ok "2 ranks x 1 thread: runs, and says so: ${line#*] }"
elif [ "$NP" -lt 2 ]; then
  ok "one core: 2 ranks x 1 thread is oversubscribed here (rc $rc)"
else
  fail "2 ranks x 1 thread: rc $rc, layout line '$line', stderr: $(tail -n 3 err.txt)"
fi

# 3. the overrides: option, job key, Open MPI's setting (with a warning naming it)
mpi job.yaml -o opt --threads $MANY --layout oversubscribe --progress never --log-level warn > out.txt 2> err.txt \
  && grep -q 'oversubscribed .* allowed by --layout' err.txt && [ -s opt/32UMF.nc ] \
  && ok "--layout oversubscribe: runs (warning: $(grep -m1 -o 'the cores are oversubscribed.*' err.txt))" \
  || fail "--layout oversubscribe: rc $?, stderr: $(tail -n 3 err.txt)"
cp job.yaml job-key.yaml && echo "layout: oversubscribe" >> job-key.yaml
mpi job-key.yaml -o key --threads $MANY --progress never --log-level warn > out.txt 2> err.txt && [ -s key/32UMF.nc ] \
  && ok "job key layout: oversubscribe: runs" || fail "job key layout: stderr: $(tail -n 3 err.txt)"
"$MPIEXEC" -n 2 --oversubscribe "$BIN" run job.yaml -o env --threads $MANY --progress never --log-level warn \
    > out.txt 2> err.txt && grep -q 'allowed by OMPI_MCA_rmaps_base_oversubscribe' err.txt \
  && ok "mpirun --oversubscribe (OMPI_MCA_rmaps_base_oversubscribe=1): runs, the warning names it" \
  || fail "Open MPI setting: $(tail -n 3 err.txt)"
# a bad value: usage error
mpi job.yaml -o bad --layout sometimes > out.txt 2> err.txt
[ $? -eq 2 ] && grep -q 'must be check, oversubscribe, share-gpu or any' err.txt && ok "--layout sometimes: rc 2" \
  || fail "--layout sometimes: $(cat err.txt)"

# 4. a GPU shared by two ranks (CUDA builds: CUDA_VISIBLE_DEVICES=0 gives both ranks entry 0
# even without a GPU here; the items then fall back to the CPU under --device auto)
if "$BIN" --version | grep -q 'cuda: sm'; then
  CUDA_VISIBLE_DEVICES=0 mpi job.yaml -o gpu --progress never > out.txt 2> err.txt
  rc=$?
  [ $rc -eq 2 ] && grep -q 'run: layout: 2 ranks of a node share one GPU' err.txt && grep -qF -- '--layout share-gpu' err.txt \
    && ok "2 ranks, 1 GPU: refused (rc 2)" || fail "shared GPU: rc $rc, stderr: $(cat err.txt)"
  CUDA_VISIBLE_DEVICES=0 mpi job.yaml -o gpu2 --layout share-gpu --progress never --log-level warn > out.txt 2> err.txt \
    && [ -s gpu2/32UMF.nc ] && ok "--layout share-gpu: runs" || fail "--layout share-gpu: $(tail -n 3 err.txt)"
else
  echo "skip: a build without CUDA assigns no GPU (GPU sharing is checked in CUDA builds)"
fi
[ $fails -eq 0 ] && echo "PASS run_layout" || { echo "$fails failure(s)"; exit 1; }
