#!/usr/bin/env bash
# clearcube info prints valid JSON whatever the file name holds (issue 16):
# quotes, backslashes, non-ASCII, control characters, bytes that are not UTF-8.
# Each output is parsed by python3's json module; valid UTF-8 names must come
# back unchanged as product_id. On a SIMULATED scene (no ../shared needed).
set -u
CC=${CLEARCUBE_BIN:?}
T=${CLEARCUBE_TMP:-/tmp}/cli_info_json
rm -rf "$T"; mkdir -p "$T/names"
fails=0
"$CC" simulate -o "$T/sim" --size 32 >/dev/null 2>&1 || { echo "simulate failed"; exit 1; }
read -r -a OPTS < "$T/sim/S2A_SIMULATED_L1C.options"

check() { # label stem [utf8: 1 if the stem must round-trip]
  local label=$1 stem=$2 exact=$3 f="$T/names/$2.tif"
  cp "$T/sim/S2A_SIMULATED_L1C.tif" "$f" || { echo "FAIL $label: cannot create the file"; fails=$((fails+1)); return; }
  "$CC" info "$f" "${OPTS[@]}" >"$T/out.json" 2>"$T/err"; local rc=$?
  if [ $rc -ne 0 ]; then echo "FAIL $label: exit $rc: $(cat "$T/err")"; fails=$((fails+1)); return; fi
  if STEM="$stem" EXACT=$exact python3 - "$T/out.json" <<'PY'
import json, os, sys
d = json.load(open(sys.argv[1], "rb"))
stem = os.environb[b"STEM"]
assert d["level"] == "L1C" and d["bands"]["B04"]["width"] == 32, d
if os.environ["EXACT"] == "1":
    assert d["product_id"].encode("utf-8") == stem, (d["product_id"], stem)
else:  # not UTF-8: every byte is still there (as Latin-1)
    assert d["product_id"].encode("latin-1") == stem, (d["product_id"], stem)
PY
  then echo "ok   $label"; rm -f "$f"; else echo "FAIL $label: $(head -c 300 "$T/out.json")"; fails=$((fails+1)); fi
}

check 'double quote'           'a"b'                  1
check 'single quote'           "it's"                 1
check 'backslash'              'back\slash\"'         1
check 'braces and commas'      '{"x": [1, 2]}'        1
check 'non-ASCII (UTF-8)'      'Zürich_日本_ñ'         1
check 'tab'                    $'tab\there'           1
check 'newline'                $'new\nline'           1
check 'control characters'     $'ctl\x01\x1f\x7f'     1
check 'not UTF-8 (Latin-1 e)'  $'caf\xe9'             0
check 'not UTF-8 (lone 0xff)'  $'x\xffy'              0

[ $fails -eq 0 ] && echo "PASS cli_info_json" || { echo "$fails failure(s)"; exit 1; }
