#!/bin/bash
# The cost of recognising SAFE products by their content (issue 16): a job's catalogue scan
# (`clearcube job --check`) over N renamed SAFE folders and N renamed zips, each holding the
# real product metadata (../shared/datasets/s2-l1c-metadata-T32UMF-20170301/MTD_MSIL1C.xml,
# 44 kB; the folders link to it, the zips hold a copy), and over the whole ../shared/datasets
# tree as one catalogue (897 entries, no complete product: what the content checks cost a scan
# that finds little), against an empty catalogue (the start of the program: GDAL, PROJ, the
# tile list). Prints the wall time of each scan (the median of 3) and the time per product
# beyond the empty scan.
# Usage: bench/catalogue/run.sh [N] [CLEARCUBE] [SHARED]   (defaults: 500, build/jobs/clearcube, ../shared)
set -eu
N=${1:-500}
BIN=$(readlink -f "${2:-build/jobs/clearcube}")
S=$(readlink -f "${3:-../shared}")
MTD=$S/datasets/s2-l1c-metadata-T32UMF-20170301/MTD_MSIL1C.xml
[ -f "$MTD" ] || { echo "bench/catalogue: $MTD absent" >&2; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T"
mkdir -p folders zips empty src/L1C_scene
cp "$MTD" src/L1C_scene/
(cd src && zip -q -r ../one.zip L1C_scene)
for i in $(seq 1 "$N"); do
    mkdir "folders/product$i" && ln -s "$MTD" "folders/product$i/MTD_MSIL1C.xml"
    cp one.zip "zips/scene$i.zip"
done
job() { # NAME CATALOGUE
    printf 'area: {tiles: [32UMF, 33UUU]}\ndates: {start: 2010-01-01, end: 2030-12-31}\ncatalogues: [%s]\noutput: out\n' "$2" > "$1.yaml"
}
job folders folders
job zips zips
job shared "$S/datasets"
job empty empty
once() { # NAME: seconds of one scan
    local t0 t1
    t0=$(date +%s.%N)
    "$BIN" job --check "$1.yaml" --log-level error > "$1.jsonl" 2> "$1.err" || true # noted inputs go to stderr
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}
scan() { # NAME PRODUCTS
    local t n
    once "$1" > /dev/null # warm the cache
    t=$( (once "$1"; once "$1"; once "$1") | sort -n | sed -n 2p)
    n=$(python3 -c "import json,sys; print(sum(len(json.loads(l)['inputs']) for l in open(sys.argv[1])))" "$1.jsonl")
    awk -v t="$t" -v e="${EMPTY:-0}" -v n="$n" -v k="$2" -v name="$1" 'BEGIN {
        printf "%-8s %6d products found in %.3f s", name, n, t
        if (k > 0) printf " (%.2f ms per product beyond the empty scan)", 1000 * (t - e) / k
        printf "\n" }'
}
echo "clearcube job --check, warm cache, $(nproc) CPUs:"
scan empty 0
EMPTY=$(once empty; once empty; once empty)
EMPTY=$(echo "$EMPTY" | sort -n | sed -n 2p)
scan folders "$N"
scan zips "$N"
scan shared 0
