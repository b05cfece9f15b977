#!/usr/bin/python3
"""Vegetation-backscatter relation on the real BigEarthNet S1/S2 pairs (test-only).

Pooled per-pixel least-squares fits VV_dB = a + b*NDVI and VH_dB = c + d*NDVI
over the five co-registered patch pairs of bigearthnet-example (120 x 120
pixels at 10 m each, the S1 and S2 patches share one grid). NDVI from the S2
L2A B04/B08 GeoTIFFs, (B08 - B04) / (B08 + B04). The numbers are documented in
docs/formats/sentinel1.md; this script recomputes them and fails when they
drift from the documented values. Exit 77 when ../shared is absent.

Usage: fit_ndvi_relation.py [--print]
"""
import json
import os
import sys

import numpy as np
from osgeo import gdal

# documented in docs/formats/sentinel1.md ("vegetation-backscatter relation")
# (intercept, slope, R^2); n = pooled pixel count
DOC = {"VV": (-9.1710, -3.1290, 0.0633), "VH": (-17.2676, 0.7058, 0.0039), "n": 72000,
       "VV_season": (-13.4000, 2.3311, 0.0176), "VH_season": (-20.5745, 4.9547, 0.0871)}


def read(path):
    ds = gdal.Open(path)
    if ds is None:
        sys.exit("cannot open " + path)
    return ds.GetRasterBand(1).ReadAsArray().astype(np.float64), ds.GetGeoTransform()


def fit(x, y):
    A = np.vstack([np.ones_like(x), x]).T
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    res = y - A @ coef
    r2 = 1.0 - (res @ res) / ((y - y.mean()) @ (y - y.mean()))
    return coef[0], coef[1], r2


def main():
    shared = os.environ.get("CLEARCUBE_SHARED", "")
    root = os.path.join(shared, "datasets", "bigearthnet-example")
    if not shared or not os.path.isdir(root):
        print("SKIP: ../shared/datasets/bigearthnet-example is absent", file=sys.stderr)
        return 77
    s1root = os.path.join(root, "BigEarthNet-S1-Example")
    X, V, H, rows = [], [], [], []
    for pid in sorted(os.listdir(s1root)):
        d = os.path.join(s1root, pid)
        meta = json.load(open(os.path.join(d, pid + "_labels_metadata.json")))
        s2 = meta["corresponding_s2_patch"]
        s2d = os.path.join(root, "BigEarthNet-S2-Example", s2)
        vv, gt1 = read(os.path.join(d, pid + "_VV.tif"))
        vh, _ = read(os.path.join(d, pid + "_VH.tif"))
        b4, gt2 = read(os.path.join(s2d, s2 + "_B04.tif"))
        b8, _ = read(os.path.join(s2d, s2 + "_B08.tif"))
        if gt1 != gt2 or vv.shape != b4.shape:
            sys.exit("%s and %s are not on one grid" % (pid, s2))
        ok = (b4 + b8 > 0) & (b4 > 0) & (b8 > 0) & np.isfinite(vv) & np.isfinite(vh)
        ndvi = (b8 - b4) / np.where(ok, b8 + b4, 1.0)
        X.append(ndvi[ok]); V.append(vv[ok]); H.append(vh[ok])
        rows.append((pid, s2, int(ok.sum()), ndvi[ok].mean(), vv[ok].mean(), vh[ok].mean(),
                     fit(ndvi[ok], vv[ok]), fit(ndvi[ok], vh[ok])))
    x, v, h = np.concatenate(X), np.concatenate(V), np.concatenate(H)
    a, b, r2v = fit(x, v)
    c, d, r2h = fit(x, h)
    n = x.size
    # variant: growing season only (S2 date in April..October; drops the
    # 2018-02-04 winter pair)
    gs = [i for i, r in enumerate(rows) if 4 <= int(r[1].split("_")[2][4:6]) <= 10]
    xg, vg, hg = (np.concatenate([A[i] for i in gs]) for A in (X, V, H))
    ag, bg, r2vg = fit(xg, vg)
    cg, dg, r2hg = fit(xg, hg)
    if "--print" in sys.argv:
        for r in rows:
            print("%s (%s): n=%d mean NDVI %.3f VV %.2f VH %.2f | VV %.3f %+.3f*NDVI R2 %.3f | "
                  "VH %.3f %+.3f*NDVI R2 %.3f" % (r[0], r[1], r[2], r[3], r[4], r[5], *r[6], *r[7]))
        print("pooled: n=%d NDVI range %.3f..%.3f" % (n, x.min(), x.max()))
        print("VV_dB = %.4f %+.4f * NDVI  R2 = %.4f  residual sd %.3f dB" %
              (a, b, r2v, np.std(v - a - b * x)))
        print("VH_dB = %.4f %+.4f * NDVI  R2 = %.4f  residual sd %.3f dB" %
              (c, d, r2h, np.std(h - c - d * x)))
        print("growing season only: n=%d" % xg.size)
        print("VV_dB = %.4f %+.4f * NDVI  R2 = %.4f  residual sd %.3f dB" %
              (ag, bg, r2vg, np.std(vg - ag - bg * xg)))
        print("VH_dB = %.4f %+.4f * NDVI  R2 = %.4f  residual sd %.3f dB" %
              (cg, dg, r2hg, np.std(hg - cg - dg * xg)))
    bad = []
    if DOC["n"] is not None and n != DOC["n"]:
        bad.append("sample count %d, documented %d" % (n, DOC["n"]))
    for name, got in (("VV", (a, b, r2v)), ("VH", (c, d, r2h)), ("VV_season", (ag, bg, r2vg)),
                      ("VH_season", (cg, dg, r2hg))):
        want = DOC[name]
        if want[0] is not None and max(abs(g - w) for g, w in zip(got, want)) > 1e-3:
            bad.append("%s fit %s, documented %s" % (name, got, want))
    for m in bad:
        print("FAIL: " + m, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
