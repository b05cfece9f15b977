#!/usr/bin/env bash
# The options every command takes (issue 16, jobs/cli/cli.c): -q, -v, --log-level,
# --log-file, --log-format json; progress lines when stderr is not a terminal
# (core/progress.h). On a SIMULATED scene (no ../shared needed).
set -u
CC=${CLEARCUBE_BIN:?}
T=${CLEARCUBE_TMP:-/tmp}/cli_log
rm -rf "$T"; mkdir -p "$T"
fails=0
fail() { echo "FAIL $*"; fails=$((fails+1)); }
ok() { echo "ok   $*"; }
"$CC" simulate -o "$T/sim" --size 48 >/dev/null 2>&1 || { echo "simulate failed"; exit 1; }
SIM="$T/sim/S2A_SIMULATED_L1C.tif"
read -r -a OPTS < "$T/sim/S2A_SIMULATED_L1C.options"
export CLEARCUBE_PROGRESS_INTERVAL=10   # the default: no periodic line in these short runs
ref() { "$CC" reference "$SIM" "${OPTS[@]}" -o "$T/out.nc" "$@"; }
boa() { rm -f "$T/b.nc"; "$CC" boa "$SIM" "${OPTS[@]}" -o "$T/b.nc" "$@"; }

# the default level: info lines, no debug lines
ref 2>"$T/default.err" || fail "reference failed: $(tail -n 1 "$T/default.err")"
grep -q ' info: ' "$T/default.err" && ok "default level shows info" || fail "default: no info line"
grep -q ' debug: ' "$T/default.err" && fail "default level shows debug lines" || ok "default level hides debug"

# -q silences info (warnings and errors stay), -v adds debug, anywhere before "--"
ref -q 2>"$T/q.err" || fail "reference -q failed"
grep -q ' info: ' "$T/q.err" && fail "-q still prints info lines" || ok "-q silences info"
"$CC" -q reference "$SIM" "${OPTS[@]}" -o "$T/out.nc" 2>"$T/q0.err" || fail "clearcube -q reference failed"
[ ! -s "$T/q0.err" ] && ok "-q before the command name" || fail "-q before the command: $(head -n 1 "$T/q0.err")"
ref -v 2>"$T/v.err" || fail "reference -v failed"
grep -q ' debug: ' "$T/v.err" && ok "-v adds debug lines" || fail "-v: no debug line"
ref --log-level=warn 2>"$T/w.err" || fail "--log-level=warn failed"
grep -q ' info: ' "$T/w.err" && fail "--log-level=warn prints info" || ok "--log-level=warn"

# --log-file: the lines appended to the file, at least info even with -q
rm -f "$T/log.txt"
ref -q --log-file "$T/log.txt" 2>/dev/null || fail "--log-file run failed"
grep -q ' info: .*wrote ' "$T/log.txt" && ok "--log-file written (info lines under -q)" || fail "--log-file: no info line in $T/log.txt"
ref -q --log-file "$T/log.txt" 2>/dev/null
[ "$(grep -c 'wrote ' "$T/log.txt")" -eq 2 ] && ok "--log-file appends" || fail "--log-file does not append"
ref --log-file "$T/no/such/dir/log.txt" 2>"$T/lf.err"; rc=$?
[ $rc -ne 0 ] && grep -q "^clearcube: error: .*no/such/dir/log.txt" "$T/lf.err" && ok "unwritable --log-file: one error line, exit $rc" \
  || fail "unwritable --log-file: rc $rc, $(cat "$T/lf.err")"

# --log-format json: every stderr line (and log file line) is one JSON object
CLEARCUBE_PROGRESS_INTERVAL=0 boa -v --log-format json --log-file "$T/log.jsonl" 2>"$T/json.err" || fail "json run failed"
python3 - "$T/json.err" "$T/log.jsonl" <<'PY' && ok "--log-format json: every line parses (python3 json)" || fail "--log-format json"
import json, sys
for path in sys.argv[1:]:
    lines = open(path, encoding="utf-8").read().splitlines()
    assert lines, path + ": empty"
    objs = [json.loads(l) for l in lines]
    for o in objs:
        assert set(o) >= {"time", "level", "msg"}, o
        assert o["level"] in ("debug", "info", "warn", "error"), o
    assert any(o["level"] == "debug" for o in objs) or path.endswith(".jsonl"), "no debug object under -v"
    prog = [o for o in objs if "progress" in o]
    assert prog, path + ": no progress object"
    p = prog[-1]["progress"]
    assert p["task"] == "boa" and p["total"] > 0 and p["done"] <= p["total"], p
PY

# progress: stderr is not a terminal here, so lines (not a bar); interval 0: every percent
CLEARCUBE_PROGRESS_INTERVAL=0 boa 2>"$T/prog.err" || fail "progress run failed"
if grep -Eq ' info: boa: [0-9]+% \([0-9]+/[0-9]+ px\), .* elapsed, ETA ' "$T/prog.err" && \
   grep -q ' info: boa: done, ' "$T/prog.err" && ! grep -q $'\r' "$T/prog.err"; then
  ok "progress lines when stderr is not a terminal"
else
  fail "progress lines: $(grep boa: "$T/prog.err" | head -n 3)"
fi
CLEARCUBE_PROGRESS_INTERVAL=0 ref 2>"$T/progr.err"
grep -Eq ' info: reference: [0-9]+% \([0-9]+/[0-9]+ rows\)' "$T/progr.err" && grep -q ' info: reference: done, ' "$T/progr.err" \
  && ok "reference progress lines" || fail "reference progress lines: $(grep reference: "$T/progr.err" | head -n 3)"
CLEARCUBE_PROGRESS_INTERVAL=0 boa -q 2>"$T/progq.err"
grep -q 'boa: ' "$T/progq.err" && fail "-q prints progress lines" || ok "-q hides progress lines"
# a terminal (script(1) gives the command a pty): a bar with ETA, redrawn in place
if command -v script >/dev/null; then
  rm -f "$T/b.nc"
  CLEARCUBE_PROGRESS_INTERVAL=0 script -qec "$CC boa $SIM ${OPTS[*]} -o $T/b.nc" /dev/null >"$T/tty.out" 2>&1
  grep -Eq 'boa \[[#.]{20}\] +[0-9]+%' "$T/tty.out" && ok "progress bar on a terminal" || fail "no progress bar on a pty: $(head -c 400 "$T/tty.out")"
fi

# bad common options: one line, exit 2
for bad in "--log-level loud" "--log-format xml" "--log-file"; do
  # shellcheck disable=SC2086
  ref $bad >/dev/null 2>"$T/bad.err"; rc=$?
  [ $rc -eq 2 ] && [ "$(wc -l < "$T/bad.err")" -eq 1 ] && grep -q '^clearcube: error: --log-' "$T/bad.err" \
    && ok "bad option '$bad': $(cat "$T/bad.err")" || fail "bad option '$bad': rc $rc, $(cat "$T/bad.err")"
done

# every command takes them (help lists them; the command runs with them)
cmds=$("$CC" --help | sed -n '/^Commands:/,/^$/p' | awk 'NR > 1 && NF && $1 != "version" {print $1}')
[ "$(wc -w <<<"$cmds")" -ge 20 ] || fail "clearcube --help lists only: $cmds"
for c in $cmds; do
  out=$("$CC" "$c" -q -v --log-level debug --log-format json --log-file "$T/help.log" --help 2>&1); rc=$?
  [ $rc -eq 0 ] && grep -q 'Common options' <<<"$out" && grep -q -- '--log-format' <<<"$out" \
    || fail "$c --help with the common options: rc $rc"
done
ok "every command's --help takes and lists the common options ($(wc -w <<<"$cmds") commands)"
"$CC" tiles --bbox 9.0,45.0,9.1,45.1 -v --log-format json >"$T/tiles.out" 2>"$T/tiles.err" || fail "tiles -v"
grep -q '^32' "$T/tiles.out" && ok "tiles (no log option before) takes -v --log-format json" || fail "tiles output: $(cat "$T/tiles.out" "$T/tiles.err")"
"$CC" job --template -q >/dev/null 2>&1 && ok "job --template -q" || fail "job --template -q"

# run: a dated log per start in the output folder (DIR/logs/run-<UTC>.log), info lines under -q
if command -v mpirun >/dev/null; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
  # sanitizer builds: Open MPI's own allocations are suppressed, as in tests/run/run_mpi.sh
  export OMPI_MCA_mca_base_component_disable_dlclose=1
  export LSAN_OPTIONS="suppressions=$(dirname "$(readlink -f "$0")")/../lsan-libs.supp:fast_unwind_on_malloc=0:print_suppressions=0"
  echo "a 32TNR 2024-06-15 $T/sim/S2A_SIMULATED_L1C.json" > "$T/items.txt"   # the scene sidecar
  for k in 1 2; do
    mpirun -n 1 "$CC" run --items "$T/items.txt" -o "$T/run" -q --progress never >/dev/null 2>"$T/run$k.err" || fail "run $k: $(tail -n 1 "$T/run$k.err")"
  done
  n=$(ls "$T/run/logs" 2>/dev/null | grep -Ec '^run-[0-9]{8}T[0-9]{6}Z(-[0-9]+)?\.log$')
  if [ "$n" -eq 2 ] && grep -q ' info: run: 1 items over 1 tiles' "$T"/run/logs/*.log; then
    ok "run writes a dated log per start: $(ls "$T/run/logs" | tr '\n' ' ')"
  else
    fail "run logs: $(ls -l "$T/run/logs" 2>&1)"
  fi
fi

[ $fails -eq 0 ] && echo "PASS cli_log" || { echo "$fails failure(s)"; exit 1; }
