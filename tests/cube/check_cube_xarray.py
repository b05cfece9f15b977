#!/usr/bin/python3
"""xarray reads a clearcube cube as CF: dims (time, y, x), decoded time,
cell-centre coordinates from the geotransform, DN*scale+offset with the fill
masked as NaN, and a spatial_ref whose WKT parses to EPSG:32632.

usage: check_cube_xarray.py <cube_writer>   (writes its cube under $CLEARCUBE_TMP)
The DN pattern mirrors ct_dn() in cube_test_common.h.
"""
import os
import shutil
import subprocess
import sys

try:
    import numpy as np
    import xarray as xr
    from osgeo import osr
except ImportError as e:  # pragma: no cover
    print(f"SKIP: python3 xarray/netCDF4/numpy/osgeo missing: {e}")
    sys.exit(77)
try:
    import netCDF4  # noqa: F401  (the engine xarray uses for NetCDF-4)
except ImportError as e:
    print(f"SKIP: python3-netcdf4 missing: {e}")
    sys.exit(77)

W, H, NL = 300, 200, 3
X0, Y0, RES = 580560.0, 5102120.0, 10.0
NAMES = ["B02", "B03", "B04"]
failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print(f"FAIL: {what}")


def dn(l, s):
    r = np.arange(H, dtype=np.uint64)[:, None]
    c = np.arange(W, dtype=np.uint64)[None, :]
    h = ((r * np.uint64(W) + c) * np.uint64(2654435761) + np.uint64(l * 40503)
         + np.uint64(s * 9973)) & np.uint64(0xFFFFFFFF)
    v = ((h >> np.uint64(16)) % np.uint64(10000) + np.uint64(1)).astype(np.uint16)
    fill = (r.astype(np.int64) * 7 + c.astype(np.int64) * 3 + s) % 101 == 0
    v[fill] = 0
    return v


def main():
    writer = sys.argv[1]
    tmp = os.path.join(os.environ.get("CLEARCUBE_TMP", "/tmp"), "cube_xarray")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    path = os.path.join(tmp, "xr.nc")
    # later date first: the second write inserts before it
    for date, seed in (("2023-07-14", "2"), ("2023-06-01", "1")):
        subprocess.run([writer, path, str(W), str(H), str(NL), date, seed], check=True)

    ds = xr.open_dataset(path)  # decode_cf, mask_and_scale by default
    for name in NAMES:
        check(ds[name].dims == ("time", "y", "x"), f"{name} dims {ds[name].dims}")
    check(dict(ds.sizes) == {"time": 2, "y": H, "x": W}, f"sizes {dict(ds.sizes)}")
    check(np.issubdtype(ds.time.dtype, np.datetime64), f"time dtype {ds.time.dtype}")
    want = np.array(["2023-06-01", "2023-07-14"], dtype="datetime64[ns]")
    check(np.array_equal(ds.time.values, want), f"time {ds.time.values}")
    check(np.array_equal(ds.x.values, X0 + (np.arange(W) + 0.5) * RES), "x cell centres")
    check(np.array_equal(ds.y.values, Y0 - (np.arange(H) + 0.5) * RES), "y cell centres")
    check(ds.x.attrs.get("standard_name") == "projection_x_coordinate", "x standard_name")
    check(ds.y.attrs.get("units") == "m", "y units")

    for l, name in enumerate(NAMES):
        v = ds[name]
        check(v.dtype == np.float32 or v.dtype == np.float64, f"{name} decoded dtype {v.dtype}")
        check(v.encoding.get("dtype") == np.dtype("uint16"), f"{name} on-disk dtype")
        check(v.encoding.get("chunksizes") == (1, H, W), f"{name} chunks {v.encoding.get('chunksizes')}")
        check(v.encoding.get("zlib") is True and v.encoding.get("shuffle") is True, "zlib+shuffle")
        check(v.attrs.get("grid_mapping") == "spatial_ref" or
              v.encoding.get("grid_mapping") == "spatial_ref", f"{name} grid_mapping")
        for t, seed in enumerate((1, 2)):
            d = dn(l, seed)
            exp = d.astype(np.float64) * 1e-4 - 0.1
            exp[d == 0] = np.nan
            got = v.isel(time=t).values.astype(np.float64)
            check(np.array_equal(np.isnan(got), d == 0), f"{name}[{t}] fill mask")
            check(np.allclose(got, exp, rtol=0, atol=1e-6, equal_nan=True), f"{name}[{t}] values")
            check(int(np.isnan(got).sum()) == int((d == 0).sum()) > 0, f"{name}[{t}] NaN count")

    # raw DNs, undecoded
    raw = xr.open_dataset(path, mask_and_scale=False)
    check(raw.B03.dtype == np.uint16, "raw dtype uint16")
    check(np.array_equal(raw.B03.isel(time=1).values, dn(1, 2)), "raw DN values")
    check(raw.B03.attrs["_FillValue"] == 0, "raw _FillValue")
    check(abs(raw.B03.attrs["scale_factor"] - 1e-4) < 1e-15, "scale_factor")
    check(abs(raw.B03.attrs["add_offset"] + 0.1) < 1e-15, "add_offset")

    sr = ds.spatial_ref.attrs
    for k in ("crs_wkt", "spatial_ref", "GeoTransform", "grid_mapping_name"):
        check(k in sr, f"spatial_ref.{k} present")
    check(sr.get("grid_mapping_name") == "transverse_mercator", "grid_mapping_name")
    check([float(x) for x in sr.get("GeoTransform", "").split()] == [X0, RES, 0, Y0, 0, -RES],
          f"GeoTransform {sr.get('GeoTransform')!r}")
    for key in ("crs_wkt", "spatial_ref"):
        srs = osr.SpatialReference()
        check(srs.ImportFromWkt(sr.get(key, "")) == 0, f"{key} parses")
        srs.AutoIdentifyEPSG()
        check(srs.GetAuthorityName(None) == "EPSG" and srs.GetAuthorityCode(None) == "32632",
              f"{key} -> EPSG:{srs.GetAuthorityCode(None)}")
    g = ds.attrs
    check(g.get("Conventions") == "CF-1.8", "Conventions")
    for k in ("title", "source", "history", "tile_id", "product", "inputs", "processor",
              "parameters", "date_created"):
        check(k in g, f"global {k}")
    ds.close()
    raw.close()
    if failures:
        print(f"{failures} failure(s)")
        return 1
    print("xarray check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
