#!/usr/bin/env bash
# clearcube cloudless-plot (pipeline/cloudless/cloudless_plot.c) on SIMULATED synthetic sensor
# cubes (`clearcube cloudless-sim --synthetic`, needs no ../shared): the strip of 6 days and the
# leave-one-out series of one pixel with its truth are PNGs of the expected size; a cube that is
# not a truth cube, a folder without cubes and an unwritable PNG fail with one line, nothing written.
set -u
CC=${CLEARCUBE_BIN:?}
SRC=${CLEARCUBE_SOURCE:?}
T=${CLEARCUBE_TMP:-/tmp}/cloudless_plot
rm -rf "$T" && mkdir -p "$T" && cd "$T" || exit 1
M=$SRC/models/cloudless.h5
fails=0
ok() { echo "ok   $1"; }
fail() { echo "FAIL $1"; fails=$((fails + 1)); }
one_line_error() { # name pattern cmd...
  local name=$1 pat=$2; shift 2
  "$@" > out.txt 2> err.txt; local rc=$?
  if [ $rc -ne 0 ] && [ "$(grep -c . err.txt)" -eq 1 ] && grep -q "^clearcube: error: .*$pat" err.txt; then
    ok "$name (rc $rc): $(cat err.txt)"
  else
    fail "$name: rc $rc, stderr: $(cat err.txt)"
  fi
}
png_size() { /usr/bin/python3 -c "from osgeo import gdal; d = gdal.Open('$1'); print(d.RasterXSize, d.RasterYSize)"; }

"$CC" cloudless-sim --out-dir cubes --synthetic --days 60 --size 40 --seed 3 > line.txt || { echo "FAIL cloudless-sim"; exit 1; }
"$CC" cloudless-plot cubes --tile 33UUP --from 2020-04-01 --days 6 --strip --out strip.png --model "$M" \
  --log-level warn && [ "$(png_size strip.png)" = "522 202" ] && ok "strip: 6 days of 40 x 40 (x2) in 522 x 202" \
  || fail "strip: $(png_size strip.png 2>&1)"
"$CC" cloudless-plot cubes --tile 33UUP --from 2020-03-20 --days 30 --pixel 5,7 --truth cubes/33UUP_truth.nc \
  --out px.png --model "$M" --log-level warn && [ "$(png_size px.png)" = "900 420" ] && ok "pixel series with truth: 900 x 420" \
  || fail "pixel: $(png_size px.png 2>&1)"
one_line_error "not a truth cube" "33UUP_s1.nc: not a truth cube with B8A" \
  "$CC" cloudless-plot cubes --tile 33UUP --from 2020-03-20 --days 30 --pixel 5,7 --truth cubes/33UUP_s1.nc --out bad1.png --model "$M"
one_line_error "no cubes" "nowhere: no sensor cube of tile 33UUP" \
  "$CC" cloudless-plot nowhere --tile 33UUP --from 2020-03-20 --days 3 --strip --out bad2.png --model "$M"
one_line_error "unwritable PNG" "no-such-dir/s.png" \
  "$CC" cloudless-plot cubes --tile 33UUP --from 2020-03-20 --days 3 --strip --out no-such-dir/s.png --model "$M"
[ ! -e bad1.png ] && [ ! -e bad2.png ] && ok "nothing written by the failures" || fail "a failed run wrote a PNG"
[ $fails -eq 0 ] && echo "PASS cloudless_plot" || { echo "$fails failure(s)"; exit 1; }
