#!/usr/bin/env python3
"""End to end on REAL data: `clearcube reference` on the sen2r-barbellino L1C crop
(S2A, 2017-07-03, T32TNR), then the cube is read back with xarray and GDAL and checked
against the input (CRS, coordinates, date, valid pixels), the quicklook PNG is checked, and
the per-band mean absolute difference against the real Sen2Cor L2A of the same scene is
printed as a Markdown table (reported, not gated: SMAC has no terrain or adjacency
correction; see docs/reference-processor.md). Cross-check only: Python is never in the
product's path."""
import os
import subprocess
import sys

try:
    import numpy as np
    import xarray as xr
    from osgeo import gdal, osr
except ImportError as e:  # pragma: no cover
    print(f"SKIP: python3-xarray/python3-gdal not installed ({e})")
    sys.exit(77)

shared = os.environ.get("CLEARCUBE_SHARED", "")
ds_dir = os.path.join(shared, "datasets", "sen2r-barbellino")
if not os.path.isdir(ds_dir):
    print("SKIP: ../shared/datasets/sen2r-barbellino (real data) is not beside this checkout")
    sys.exit(77)
gdal.UseExceptions()
cc = os.environ["CLEARCUBE_BIN"]
tmp = os.path.join(os.environ.get("CLEARCUBE_TMP", "/tmp"), "reference_real")
os.makedirs(tmp, exist_ok=True)
toa_path = os.path.join(ds_dir, "S2A1C_20170703_022_Barbellino_TOA_10.tif")
boa_path = os.path.join(ds_dir, "S2A2A_20170703_022_Barbellino_BOA_10.tif")
cube = os.path.join(tmp, "T32TNR_barbellino_reference.nc")
png = os.path.join(tmp, "T32TNR_barbellino_reference.png")
for p in (cube, png):
    if os.path.exists(p):
        os.remove(p)

# Geometry from the sensing time (scripts/demo explains the numbers).
cmd = [cc, "reference", toa_path,
       "--bands", "B01,B02,B03,B04,B05,B06,B07,B08,B09,B10,B11,B12", "--spacecraft", "S2A",
       "--date", "2017-07-03", "--sun-zenith", "27.5", "--sun-azimuth", "140.9",
       "--view-zenith", "5", "--view-azimuth", "105", "--dn-offset", "0", "--elevation", "1900",
       "-o", cube, "--quicklook", png]
r = subprocess.run(cmd, capture_output=True, text=True)
sys.stderr.write(r.stderr)
assert r.returncode == 0, f"clearcube reference failed: {r.returncode}"

failures = []
def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL", what)

src = gdal.Open(toa_path)
gt = src.GetGeoTransform()
src_srs = osr.SpatialReference(wkt=src.GetProjection())
W, H = src.RasterXSize, src.RasterYSize
toa = src.ReadAsArray().astype(np.int64)          # (12, H, W), nodata 65535
valid_in = (toa != 65535).any(axis=0)

# --- xarray ---
ds = xr.open_dataset(cube)
check(list(ds["B04"].dims) == ["time", "y", "x"], "dims are (time, y, x)")
check(ds.sizes["x"] == W and ds.sizes["y"] == H, "grid size equals the input")
check(str(ds.time.values[0])[:10] == "2017-07-03", f"date 2017-07-03 (got {ds.time.values})")
check(np.allclose(ds.x.values, gt[0] + (np.arange(W) + 0.5) * gt[1]), "x coordinates = input cell centres")
check(np.allclose(ds.y.values, gt[3] + (np.arange(H) + 0.5) * gt[5]), "y coordinates = input cell centres")
gm = ds[ds["B04"].attrs.get("grid_mapping", ds["B04"].encoding.get("grid_mapping", "spatial_ref"))]
cube_srs = osr.SpatialReference(wkt=gm.attrs["crs_wkt"])
check(cube_srs.IsSame(src_srs) == 1, "CRS equals the input's (EPSG:32632)")
expected_bands = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B09", "B11", "B12"]
for b in expected_bands:
    check(b in ds.data_vars, f"band {b} present")
check("B10" not in ds.data_vars, "B10 dropped")
check("AOT" in ds.data_vars and "WVP" in ds.data_vars, "AOT and WVP layers present")
rho = ds["B04"].isel(time=0).values                 # decoded reflectance, NaN = fill
check(np.array_equal(~np.isnan(rho), valid_in), "valid pixels = valid input pixels")
check(np.nanmin(rho) > -0.05 and np.nanmax(rho) < 1.2, "B04 reflectance in a physical range")
wv = ds["WVP"].isel(time=0).values
print(f"water vapour over the scene: median {np.nanmedian(wv):.2f} g cm-2; AOT {np.nanmedian(ds['AOT'].values):.3f}")

# --- GDAL on the same cube ---
g = gdal.Open(f'NETCDF:"{cube}":B04')
check(np.allclose(g.GetGeoTransform(), gt), f"GDAL geotransform {g.GetGeoTransform()} equals the input {gt}")
check(osr.SpatialReference(wkt=g.GetProjection()).IsSame(src_srs) == 1, "GDAL reads the same CRS")
dn = g.ReadAsArray()
if dn.ndim == 3:
    dn = dn[0]
dn_x = ds["B04"].isel(time=0).values
check(np.allclose(np.where(dn == 0, np.nan, dn * 1e-4), dn_x, equal_nan=True), "GDAL and xarray agree (no Y flip)")

# --- quicklook ---
q = gdal.Open(png)
# cairo writes an opaque image (every pixel valid) as RGB, one with nodata as RGBA
check(q.RasterCount in (3, 4) and q.RasterXSize == W and q.RasterYSize == H, "quicklook is RGB(A) at the grid size")
qa = q.ReadAsArray()
alpha = qa[3] if q.RasterCount == 4 else np.full(qa[0].shape, 255, np.uint8)
check(qa[:3].std() > 5 and (alpha == 255).sum() == valid_in.sum(), "quicklook has contrast and alpha = valid pixels")

# --- against real Sen2Cor L2A (reported) ---
boa = gdal.Open(boa_path).ReadAsArray().astype(np.float64)      # 11 bands, DN = 10000 rho
rows = []
for i, b in enumerate(expected_bands):
    ours = ds[b].isel(time=0).values * 1e4                       # 10000 rho
    ref = boa[i]
    m = ~np.isnan(ours) & (ref != 65535)
    d = ours[m] - ref[m]
    rows.append((b, np.abs(d).mean(), np.abs(d).mean() / 120.0, d.mean(), np.sqrt((d * d).mean()), m.sum()))
    check(np.abs(d).mean() < 1500, f"{b}: difference to Sen2Cor below a sanity bound (1500 DN)")
table = ["| band | MAD (DN) | MAD (% of 12000) | bias (DN) | RMSE (DN) | pixels |", "|---|---|---|---|---|---|"]
table += [f"| {b} | {mad:.0f} | {pct:.2f} | {bias:+.0f} | {rmse:.0f} | {n} |" for b, mad, pct, bias, rmse, n in rows]
print("\nclearcube reference (SMAC) minus Sen2Cor L2A, sen2r-barbellino 2017-07-03 (real L1C, real Sen2Cor):")
print("\n".join(table))
with open(os.path.join(tmp, "barbellino_vs_sen2cor.md"), "w") as f:
    f.write("\n".join(table) + "\n")
if failures:
    print(f"{len(failures)} failure(s)")
    sys.exit(1)
print("all checks passed")
