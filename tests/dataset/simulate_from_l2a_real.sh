#!/usr/bin/env bash
# `clearcube simulate --from-l2a` on the real BigEarthNet Sen2Cor L2A patch
# S2B_MSIL2A_20180204T94161_57_38 (120x120 at 10 m, no AOT/WVP layers) at AOT 0.15,
# water vapour 1.0 g cm-2, sun zenith 70: the reference processor at that atmosphere gives
# back the written Sen2Cor BOA stack within 2 DN (B09: 6 DN), every pixel valid.
# Skips (77) when ../shared (CLEARCUBE_SHARED) is absent.
set -u
CC=${CLEARCUBE_BIN:?}
SH=${CLEARCUBE_SHARED:-}
P=$SH/datasets/bigearthnet-example/BigEarthNet-S2-Example/S2B_MSIL2A_20180204T94161_57_38
[ -n "$SH" ] && [ -d "$P" ] || { echo "skip: $P absent"; exit 77; }
T=${CLEARCUBE_TMP:-/tmp}/simulate_from_l2a_real
rm -rf "$T"; mkdir -p "$T"
BANDS=B01,B02,B03,B04,B05,B06,B07,B08,B8A,B09,B11,B12
"$CC" simulate --from-l2a "$P" -o "$T/sim" --aot 0.15 --water-vapour 1.0 --sun-zenith 70 --sun-azimuth 165 \
  --view-zenith 5 --view-azimuth 105 --spacecraft S2B --date 2018-02-04 --dn-offset 0 || { echo "FAIL simulate"; exit 1; }
"$CC" reference "$T/sim/S2B_SIMULATED_L1C.tif" $(cat "$T/sim/S2B_SIMULATED_L1C.options") --aot 0.15 \
  --water-vapour 1.0 -o "$T/ref.nc" --log-level error || { echo "FAIL reference"; exit 1; }
fails=0 k=0
for b in ${BANDS//,/ }; do
  k=$((k+1))
  read -r m n nd < <(paste -d' ' <(gdal_translate -q -of XYZ "NETCDF:$T/ref.nc:$b" /vsistdout/) \
                                 <(gdal_translate -q -of XYZ -b $k "$T/sim/S2B_SEN2COR_BOA.tif" /vsistdout/) |
    awk '{ a=$3; b=$6; if ((a==0) != (b==0)) nd++; else if (b != 0) { d=a-b; if (d<0) d=-d; if (d>m) m=d; n++ } }
         END { printf "%d %d %d\n", m+0, n+0, nd+0 }')
  bound=2; [ "$b" = B09 ] && bound=6
  if [ "$n" -ne 14400 ] || [ "$m" -gt $bound ] || [ "$nd" -ne 0 ]; then
    echo "FAIL band $b: max |reference - Sen2Cor BOA| $m DN (bound $bound) over $n pixels, $nd nodata mismatches"
    fails=$((fails+1))
  else echo "ok   band $b: max |reference - Sen2Cor BOA| $m DN over $n pixels"; fi
done
"$CC" validate --prediction "$T/ref.nc" --reference "$T/sim/S2B_SEN2COR_BOA.tif" --reference-bands $BANDS \
  --reference-dn-offset -1000 --simulated --log-level error | grep '^| B' || { echo "FAIL validate"; fails=$((fails+1)); }
[ $fails -eq 0 ] && echo "all ok" || echo "$fails failure(s)"
[ $fails -eq 0 ]
