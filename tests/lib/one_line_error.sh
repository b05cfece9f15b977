# Sourced by the gapfill-eval test scripts (tests/cloudless_model/gapfill_cli.sh,
# tests/kalman/gapfill_real_cli.sh), which set T (their scratch folder) and fail=0 first.
# err MESSAGE: records a failure. one_line_error NAME EXPECTED CMD...: runs CMD and checks that
# it exits non-zero with exactly one line on stderr that contains EXPECTED.
err() { echo "FAIL: $*" >&2; fail=1; }
one_line_error() {
  local name=$1 want=$2; shift 2
  "$@" >"$T/$name.out" 2>"$T/$name.err"; local rc=$?
  [ $rc -ne 0 ] || err "$name: exit 0"
  [ "$(wc -l <"$T/$name.err")" -eq 1 ] || err "$name: stderr is not one line: $(cat "$T/$name.err")"
  grep -q -- "$want" "$T/$name.err" || err "$name: stderr lacks '$want': $(cat "$T/$name.err")"
}
