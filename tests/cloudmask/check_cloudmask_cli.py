#!/usr/bin/python3
"""clearcube cloudmask on the real sen2r Barbellino L1C against its Sen2Cor SCL:
the mask's georeferencing equals the input's, the printed/JSON scores equal a
recount done here with numpy, and bad inputs fail with one line naming the
file and leave no output behind."""
import json
import os
import subprocess
import sys

import numpy as np
from osgeo import gdal, osr

gdal.UseExceptions()
shared = os.environ.get("CLEARCUBE_SHARED", "")
S = os.path.join(shared, "datasets", "sen2r-barbellino")
if not shared or not os.path.isdir(S):
    print("SKIP: ../shared (real datasets) is not beside this checkout", file=sys.stderr)
    sys.exit(77)
CC = os.environ["CLEARCUBE_BIN"]
T = os.path.join(os.environ.get("CLEARCUBE_TMP", "/tmp"), "cloudmask_cli")
subprocess.run(["rm", "-rf", T], check=True)
os.makedirs(T)
TOA = os.path.join(S, "S2A1C_20170703_022_Barbellino_TOA_10.tif")
SCL = os.path.join(S, "S2A2A_20170703_022_Barbellino_SCL_10.tif")
A = ["--bands", "B01,B02,B03,B04,B05,B06,B07,B08,B09,B10,B11,B12", "--spacecraft", "S2A", "--date", "2017-07-03",
     "--sun-zenith", "27.5", "--sun-azimuth", "140.9", "--view-zenith", "5", "--view-azimuth", "105",
     "--dn-offset", "0", "--log-level", "warn"]
fails = 0


def check(cond, what):
    global fails
    if not cond:
        print("FAIL:", what, file=sys.stderr)
        fails += 1


def run(args):
    return subprocess.run([CC, "cloudmask"] + args, capture_output=True, text=True)


def same_crs(a, b):
    sa, sb = osr.SpatialReference(), osr.SpatialReference()
    sa.ImportFromWkt(a)
    sb.ImportFromWkt(b)
    return sa.IsSame(sb)


ds_in = gdal.Open(TOA)

# 1. native 10 m grid: the mask's georeferencing is the input's
out10 = os.path.join(T, "m10.tif")
p = run([TOA] + A + ["--out", out10])
check(p.returncode == 0, "10 m run: " + p.stderr)
m = gdal.Open(out10)
check((m.RasterXSize, m.RasterYSize) == (ds_in.RasterXSize, ds_in.RasterYSize) == (24, 42), "10 m size")
check(m.GetGeoTransform() == ds_in.GetGeoTransform(), "10 m geotransform %s" % (m.GetGeoTransform(),))
check(same_crs(m.GetProjection(), ds_in.GetProjection()), "10 m CRS")
b = m.GetRasterBand(1)
check(b.DataType == gdal.GDT_Byte and b.GetNoDataValue() == 0, "Byte with nodata 0")
ct = b.GetColorTable()
check(ct is not None and ct.GetColorEntry(2)[:3] == (255, 255, 255), "colour table (cloud white)")
v10 = b.ReadAsArray()
check(set(np.unique(v10)) <= {1, 2, 3, 4, 5} and (v10 == 2).sum() > 0, "10 m classes %s" % np.unique(v10))
m = None

# 2. 20 m grid against the SCL: geotransform of the SCL, scores = a recount
out20, js = os.path.join(T, "m20.tif"), os.path.join(T, "m20.json")
p = run([TOA] + A + ["--resolution", "20", "--out", out20, "--reference", SCL, "--ref-kind", "scl", "--json", js])
check(p.returncode == 0, "20 m run: " + p.stderr)
print(p.stdout)
ds_scl = gdal.Open(SCL)
m = gdal.Open(out20)
check(m.GetGeoTransform() == ds_scl.GetGeoTransform() == (580560.0, 20.0, 0.0, 5102120.0, 0.0, -20.0), "20 m gt")
check(same_crs(m.GetProjection(), ds_scl.GetProjection()), "20 m CRS")
pred = m.GetRasterBand(1).ReadAsArray()
m = None
scl = ds_scl.ReadAsArray()
lut = np.array([0, 0, 1, 3, 1, 1, 5, 1, 2, 2, 2, 4] + [0] * 244, dtype=np.uint8)
ref = lut[scl]
j = json.load(open(js))
valid = (pred > 0) & (ref > 0)
check(j["pixels"] == int(valid.sum()) == 252, "pixels %s" % j["pixels"])
for cls, k in (("cloud", 2), ("shadow", 3)):
    tp = int(((pred == k) & (ref == k) & valid).sum())
    fp = int(((pred == k) & (ref != k) & valid).sum())
    fn = int(((pred != k) & (ref == k) & valid).sum())
    c = j[cls]
    check((c["tp"], c["fp"], c["fn"]) == (tp, fp, fn), "%s counts %s vs %s" % (cls, c, (tp, fp, fn)))
    if tp + fp:
        check(abs(c["precision"] - tp / (tp + fp)) < 1e-9, cls + " precision")
    else:
        check(c["precision"] is None, cls + " precision undefined")
    if tp + fn:
        check(abs(c["recall"] - tp / (tp + fn)) < 1e-9, cls + " recall")
    else:
        check(c["recall"] is None, cls + " recall undefined (no reference " + cls + ")")
    if tp + fp + fn:
        check(abs(c["iou"] - tp / (tp + fp + fn)) < 1e-9, cls + " iou")
coll = lambda a: np.where(a == 2, 0, np.where(a == 3, 1, 2))
check(abs(j["overall_accuracy"] - float((coll(pred) == coll(ref))[valid].mean())) < 1e-9, "overall accuracy")
# measured on this scene (docs/cloudmask.md): the SCL has 33 cloud pixels (8, 9) and no shadow (3)
check(int((ref == 2).sum()) == 33 and int((ref == 3).sum()) == 0, "reference counts")
check((j["cloud"]["tp"], j["cloud"]["fp"], j["cloud"]["fn"]) == (24, 6, 9), "cloud counts %s" % j["cloud"])
check(j["cloud"]["iou"] > 0.6 and j["overall_accuracy"] > 0.85, "cloud IoU / OA")
check("| cloud | 0.800 | 0.727 |" in p.stdout, "printed table")

# 3. --scl: the SCL mapped to the classes; --pred evaluates an existing mask
out_scl = os.path.join(T, "scl.tif")
p = run([TOA] + A + ["--resolution", "20", "--scl", SCL, "--out", out_scl])
check(p.returncode == 0, "--scl run: " + p.stderr)
check(np.array_equal(gdal.Open(out_scl).ReadAsArray(), ref), "--scl mask == mapped SCL")
p = run(["--pred", out_scl, "--ref", SCL, "--ref-kind", "scl", "--log-level", "warn"])
check(p.returncode == 0 and "| cloud | 1.000 | 1.000 | 1.000 | 1.000 | 33 | 0 | 0 |" in p.stdout, "--pred self: " + p.stdout + p.stderr)


# 4. bad inputs: one line naming the file, non-zero status, nothing written
def expect_fail(what, args, needle, outputs):
    p = run(args)
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    check(p.returncode != 0, what + ": status 0")
    check(len(lines) == 1 and needle in lines[0], what + ": stderr %r" % p.stderr)
    for o in outputs:
        check(not os.path.exists(o), what + ": %s exists" % o)
    left = [f for f in os.listdir(T) if ".tmp-" in f]
    check(not left, what + ": temporary files left %s" % left)


bad = os.path.join(T, "bad.tif")
bj = os.path.join(T, "bad.json")
missing = os.path.join(T, "no-such-scene.tif")
expect_fail("missing scene", [missing] + A + ["--out", bad], missing, [bad])
expect_fail("missing reference", [TOA] + A + ["--resolution", "20", "--out", bad, "--reference", missing,
                                               "--ref-kind", "scl", "--json", bj], missing, [bad, bj])
expect_fail("reference grid mismatch", [TOA] + A + ["--out", bad, "--reference", SCL, "--ref-kind", "scl",
                                                     "--json", bj], SCL, [bad, bj])
expect_fail("SCL grid mismatch", [TOA] + A + ["--out", bad, "--scl", SCL], SCL, [bad])
expect_fail("bad ref kind", [TOA] + A + ["--out", bad, "--reference", SCL, "--ref-kind", "qa"], "ref-kind", [bad])
expect_fail("reference is not a raster", [TOA] + A + ["--out", bad, "--reference", js, "--ref-kind", "scl"], js, [bad])
expect_fail("unwritable output", [TOA] + A + ["--out", os.path.join(T, "nodir", "m.tif")],
            os.path.join(T, "nodir", "m.tif"), [])
expect_fail("no B11", [TOA] + A[:1] + ["B01,B02,B03,B04,B05,B06,B07,B08,B09,B10,B8A,B12"] + A[2:] + ["--out", bad],
            "B11", [bad])

print("%d failure(s)" % fails)
sys.exit(1 if fails else 0)
