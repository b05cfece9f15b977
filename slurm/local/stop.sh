#!/bin/bash
# Stops the daemons that slurm/local/start.sh DIR started, by their recorded PIDs
# only (never by name): slurmd first (it ends its job steps), then slurmctld, munged.
DIR=${1:?usage: stop.sh DIR}
for d in slurmd slurmctld munged; do
  f="$DIR/run/$d.bgpid"; [ -f "$f" ] || continue
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { echo "stop.sh: $d ($pid) still alive, sending KILL" >&2; kill -KILL "$pid"; }
  fi
  rm -f "$f"
done
exit 0
