#!/usr/bin/python3
"""clearcube ingest FILE.nc on the real WorldCereal series (S2 10 m, S2 20 m +
SCL, S1 VV/VH, Landsat 8 SR + pixel_qa) and on bad variants written here from
them (missing grid mapping, wrong dimension order, unreadable variable, bad
time units): values checked against the files read independently with
netCDF4; each bad file gives one line naming it, the others are ingested,
and no cube is changed or half-written by a file that fails."""
import glob, hashlib, os, resource, shutil, subprocess, sys
import numpy as np
try:
    import netCDF4
except ImportError as e:
    print(f"SKIP: {e} (python3-netcdf4)"); sys.exit(77)

CC = os.environ["CLEARCUBE_BIN"]
SH = os.environ.get("CLEARCUBE_SHARED", "")
W = os.path.join(SH, "datasets/worldcereal-s2-s1-l8-timeseries/worldcerealtraining/00002806639B424A")
if not os.path.isdir(W):
    print("SKIP: ../shared/datasets/worldcereal-s2-s1-l8-timeseries is not beside this checkout"); sys.exit(77)
T = os.path.join(os.environ.get("CLEARCUBE_TMP", "/tmp"), "ingest_netcdf")
shutil.rmtree(T, ignore_errors=True); os.makedirs(T)
S2_10, S2_20, S1, L8, L8ST = (glob.glob(f"{W}/{p}_*.nc")[0] for p in ("S2_L2A_10m", "S2_L2A_20m", "S1_GRD-ASCENDING_20m",
                                                                      "L8_SR_10m", "L8_L2-ST_10m"))
fails = 0
def check(cond, what):
    global fails
    print(("ok   " if cond else "FAIL ") + what)
    fails += not cond

def run(*args):
    p = subprocess.run([CC, "ingest", *args, "--log-level", "warn"], capture_output=True, text=True)
    return p.returncode, p.stderr

def cube(path, name):
    """Physical values of a cube layer, NaN for fill."""
    with netCDF4.Dataset(path) as d:
        return np.ma.filled(d[name][:].astype(float), np.nan)

def src(path, name):
    with netCDF4.Dataset(path) as d:
        return np.ma.filled(d[name][:].astype(float), np.nan)

def days(path, tname="time"):
    with netCDF4.Dataset(path) as d:
        v = d[tname]
        return np.array([(np.datetime64(str(x)[:10]) - np.datetime64("1970-01-01")).astype(int)
                         for x in netCDF4.num2date(v[:], v.units)])

def md5(path):
    return hashlib.md5(open(path, "rb").read()).hexdigest()

def no_leftovers(d):
    return not [f for f in os.listdir(d) if f.startswith(".ingest") or ".tmp-" in f] if os.path.isdir(d) else True

SCL_CLASS = {0: 0, 1: 0, 2: 1, 3: 3, 4: 1, 5: 1, 6: 5, 7: 1, 8: 2, 9: 2, 10: 2, 11: 4}  # cloudmask.h

# 1. Sentinel-2 10 m alone: its own grid, 118 dates, bands exact, no mask -> clear where valid
rc, err = run(S2_10, "--out-dir", f"{T}/a", "--tile", "site")
check(rc == 0, f"S2 10 m ingested (rc {rc}) {err.strip()[:300]}")
c = f"{T}/a/site_s2.nc"
check(cube(c, "B04").shape == (118, 64, 64), "S2 10 m: 118 dates on the file's 64 x 64 grid")
ok = all(np.allclose(cube(c, b), src(S2_10, b), atol=1e-6, equal_nan=True) for b in ("B02", "B03", "B04", "B08"))
check(ok, "S2 10 m: B02 B03 B04 B08 = file values (scale_factor applied), fill where the file has fill")
check(np.isnan(cube(c, "B05")).all() and np.isnan(cube(c, "B11")).all(), "S2 10 m: no 20 m band (fill)")
with netCDF4.Dataset(S2_10) as d, netCDF4.Dataset(c) as o:
    check(np.allclose(o["x"][:], d["x"][:]) and np.allclose(o["y"][:], d["y"][:]), "S2 10 m: pixel centres kept")
check((days(c) == days(S2_10, "timestamp")).all(), "S2 10 m: dates = the file's days")

# 2. 20 m + SCL, then 10 m (and the other order): one cube on the 10 m grid, mask from SCL
rc, err = run(S2_20, S2_10, "--out-dir", f"{T}/b", "--tile", "site", "--grid", S2_10)
check(rc == 0, f"S2 20 m then 10 m onto the 10 m grid (rc {rc}) {err.strip()[:300]}")
rc, err = run(S2_10, S2_20, "--out-dir", f"{T}/c", "--tile", "site")
check(rc == 0, f"S2 10 m then 20 m (grid of the first file) (rc {rc}) {err.strip()[:300]}")
b, cc_ = f"{T}/b/site_s2.nc", f"{T}/c/site_s2.nc"
same = all(np.array_equal(cube(b, n), cube(cc_, n), equal_nan=True) for n in ("B02", "B04", "B8A", "B12", "cloud_mask"))
check(same, "S2: the order of the 10 m and 20 m files does not matter")
scl = np.nan_to_num(src(S2_20, "SCL")).astype(int)
want = np.vectorize(lambda v: SCL_CLASS.get(v, 0))(scl).repeat(2, axis=1).repeat(2, axis=2)
m = np.nan_to_num(cube(cc_, "cloud_mask"), nan=0)
valid = want > 0
check(np.array_equal(m[valid], want[valid]), "S2: cloud_mask = SCL classes (nearest onto 10 m) where SCL has data")
check((np.isnan(cube(cc_, "B04"))[~valid]).all(), "S2: pixels SCL calls nodata are fill")
b04 = cube(cc_, "B04")
check(np.allclose(b04[valid], src(S2_10, "B04")[valid], atol=1e-6, equal_nan=True), "S2: B04 kept when 20 m merged")
b8a = cube(cc_, "B8A")[:, 1:-1:2, 1:-1:2]
check(np.nanmax(np.abs(b8a - src(S2_20, "B8A")[:, :-1, :-1] )) < 0.25 and np.isfinite(b8a).mean() > 0.5,
      "S2: B8A (20 m) warped onto the 10 m grid (bilinear)")
rc, err = run(S2_20, "--out-dir", f"{T}/d", "--tile", "site")
check(rc == 0 and np.allclose(cube(f"{T}/d/site_s2.nc", "B8A"), src(S2_20, "B8A"), atol=1e-6, equal_nan=True),
      "S2 20 m alone on its own grid: B8A = file values")

# 3. Sentinel-1 VV/VH in dB
rc, err = run(S1, "--out-dir", f"{T}/e", "--tile", "site")
check(rc == 0, f"S1 ingested (rc {rc}) {err.strip()[:300]}")
e = f"{T}/e/site_s1.nc"
for pol in ("VV", "VH"):
    a, s = cube(e, pol), src(S1, pol)
    check(a.shape == s.shape == (159, 32, 32) and np.allclose(a, s, atol=0.0051, equal_nan=True),
          f"S1 {pol}: 159 dates, = file dB within the cube's 0.01 dB step")
check((days(e) == days(S1, "timestamp")).all(), "S1: dates = the file's days")

# 4. Landsat 8 SR: OLI B5/B6/B7 are NIR/SWIR1/SWIR2 -> B8A/B11/B12 (HLS-adjusted); two scenes 24 s apart = one date
rc, err = run(L8, "--out-dir", f"{T}/f", "--tile", "site")
check(rc == 0, f"Landsat 8 ingested (rc {rc}) {err.strip()[:300]}")
f = f"{T}/f/site_landsat.nc"
d8 = days(L8, "timestamp")
check(len(days(f)) == len(np.unique(d8)) == 24 and len(d8) == 26, "Landsat: 26 acquisitions -> 24 dates")
HLS = {"B02": (0.9778, -0.004), "B03": (1.0053, -0.0009), "B04": (0.9765, 0.0009), "B05": (0.9983, -0.0001),
       "B06": (0.9987, -0.0011), "B07": (1.003, -0.0012)}  # OLI = slope * MSI + offset (S2A, HLS v2)
with netCDF4.Dataset(L8) as d:
    t = d["timestamp"]; when = netCDF4.num2date(t[:], t.units)
single = [i for i in range(26) if list(d8).count(d8[i]) == 1]
k = list(np.unique(d8)).index(d8[single[0]])
qa = np.nan_to_num(src(L8, "pixel_qa")[single[0]]).astype(int)
clear = (qa & 2 > 0) & (qa & 32 == 0) & ((qa >> 8) & 3 != 3)
for ob, cb in (("B04", "B04"), ("B05", "B8A"), ("B06", "B11"), ("B07", "B12")):
    sl, off = HLS[ob]
    want = (src(L8, ob)[single[0]] - off) / sl
    got = cube(f, cb)[k]
    check(np.allclose(got[clear], want[clear], atol=6e-5), f"Landsat {ob} -> {cb} = (OLI - offset) / slope")
check(all(np.isnan(cube(f, b)).all() for b in ("B05", "B06", "B07", "B08")), "Landsat: no red edge, no B08 (fill)")
mk = np.nan_to_num(cube(f, "cloud_mask")[k], nan=0)
check((mk[clear] == 1).all() and (mk[(qa & 32) > 0] == 2).all() and (mk[(qa & 8) > 0] == 3).all(),
      "Landsat: cloud_mask from pixel_qa (clear, cloud, shadow)")
dup = [i for i in range(26) if list(d8).count(d8[i]) == 2]
kd = list(np.unique(d8)).index(d8[dup[0]])
q0 = np.nan_to_num(src(L8, "pixel_qa")[dup[0]]).astype(int)
c0 = (q0 & 2 > 0) & (q0 & 32 == 0) & ((q0 >> 8) & 3 != 3)
want = (src(L8, "B04")[dup[0]] - 0.0009) / 0.9765
check(c0.sum() == 0 or np.allclose(cube(f, "B04")[kd][c0], want[c0], atol=6e-5),
      f"Landsat: {str(when[dup[0]])[:10]}: the first scene's clear pixels make the date")

# 5. a real file without a band of any sensor (thermal + QA only): one line, no cube
rc, err = run(L8ST, "--out-dir", f"{T}/g", "--tile", "site")
check(rc == 1 and "L8_L2-ST" in err and "no band" in err and not glob.glob(f"{T}/g/*.nc") and no_leftovers(f"{T}/g"),
      f"L8 L2-ST (thermal only): one clear error, no cube ({err.strip()[:200]})")
rc, err = run(S2_10, "--sensor", "s1", "--out-dir", f"{T}/g", "--tile", "site")
check(rc == 1 and "no band of S1" in err, "--sensor s1 on a Sentinel-2 file: no band of S1")

# 6. memory follows the file's grid, whole site in one call
before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
rc, err = run(S2_10, S2_20, S1, L8, "--out-dir", f"{T}/h", "--tile", "site")
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
# the bound is for a normal build: AddressSanitizer's shadow memory and quarantine roughly
# double the resident size, so a sanitizer build is held to the run only
asan = b"libasan" in subprocess.run(["ldd", CC], capture_output=True).stdout
limit = (1200 if asan else 400) * 1024
check(rc == 0 and rss < limit, f"whole site (4 files, 3 sensors) ingested in {rss / 1024:.0f} MB peak "
      f"(bound {limit // 1024} MB{', ASan build' if asan else ''})")

# 7. --grid any GDAL raster: a 20 m GeoTIFF over the site -> the 10 m bands averaged onto it
try:
    from osgeo import gdal, osr
    with netCDF4.Dataset(S2_10) as d:
        x0, y0 = float(d["x"][0]) - 5, float(d["y"][0]) + 5
    g = gdal.GetDriverByName("GTiff").Create(f"{T}/g20.tif", 32, 32, 1)
    g.SetGeoTransform([x0, 20, 0, y0, 0, -20]); sr = osr.SpatialReference(); sr.ImportFromEPSG(32631)
    g.SetProjection(sr.ExportToWkt()); g = None
    rc, err = run(S2_10, "--out-dir", f"{T}/tif", "--tile", "site", "--grid", f"{T}/g20.tif")
    got = cube(f"{T}/tif/site_s2.nc", "B04")
    s = src(S2_10, "B04").reshape(118, 32, 2, 32, 2)
    full = np.isfinite(s).all(axis=(2, 4))
    check(rc == 0 and got.shape == (118, 32, 32) and np.allclose(got[full], s.mean(axis=(2, 4))[full], atol=1.5e-4),
          "--grid GeoTIFF (20 m): B04 = mean of the 2 x 2 source pixels")
except ImportError:
    print("SKIP part: python3-gdal absent, --grid GeoTIFF not run")

# an MGRS name is normalised as for SAFE inputs; any other name must be a plain file name
rc, err = run(S1, "--out-dir", f"{T}/mgrs", "--tile", "T31UDS")
check(rc == 0 and os.path.exists(f"{T}/mgrs/31UDS_s1.nc"), "--tile T31UDS names the cube 31UDS_s1.nc")
rc, err = run(S1, "--out-dir", f"{T}/mgrs", "--tile", "../up")
check(rc == 2 and "--tile ../up" in err, "--tile ../up: refused (usage error)")

# 8. the staging folder of a killed ingest (its process is gone) is removed by the next one
dead = subprocess.Popen(["true"]); dead.wait()
os.makedirs(f"{T}/a/.ingest-{dead.pid}"); open(f"{T}/a/.ingest-{dead.pid}/site_s2.nc", "w").write("partial")
rc, err = run(S1, "--out-dir", f"{T}/a", "--tile", "site")
check(rc == 0 and no_leftovers(f"{T}/a"), "a killed ingest's staging folder is removed")

# ---- bad variants written here ----
def rewrite(srcpath, dst, drop=(), noattr=(), transpose=None, times=None, flip_y=False):
    """Copies a NetCDF series, changing what the test needs."""
    with netCDF4.Dataset(srcpath) as s, netCDF4.Dataset(dst, "w") as o:
        s.set_auto_maskandscale(False); o.set_auto_maskandscale(False)
        for n, dim in s.dimensions.items():
            o.createDimension(n, len(dim))
        for n, v in s.variables.items():
            if n in drop:
                continue
            dims = v.dimensions if n != transpose else v.dimensions[::-1]
            if n == "timestamp" and times == "strings":
                w = o.createVariable(n, str, dims)
                w[:] = np.array([str(x)[:10] for x in netCDF4.num2date(v[:], v.units)], dtype=object)
                continue
            fill = v.getncattr("_FillValue") if "_FillValue" in v.ncattrs() else None
            w = o.createVariable(n, v.dtype, dims, fill_value=fill, zlib=len(dims) == 3,
                                 chunksizes=(1,) + v.shape[1:] if len(dims) == 3 else None)
            w.set_auto_maskandscale(False)  # raw values in, raw values out
            for a in v.ncattrs():
                if a != "_FillValue" and not (a in noattr):
                    w.setncattr(a, v.getncattr(a))
            if n == "timestamp" and times == "bad":
                w.setncattr("units", "fortnights after the harvest")
            data = v[:]
            if flip_y and n == "y":
                data = data[::-1]
            elif flip_y and len(dims) == 3:
                data = data[:, ::-1, :]
            w[:] = data.transpose() if n == transpose else data

rewrite(S2_20, f"{T}/nogm.nc", drop=("spatial_ref",), noattr=("grid_mapping", "coordinates"))
rewrite(S2_20, f"{T}/dims.nc", transpose="B11")
rewrite(S2_20, f"{T}/times.nc", times="bad")
rewrite(S2_20, f"{T}/strtime.nc", times="strings")
rewrite(S2_20, f"{T}/flip.nc", flip_y=True)
rewrite(S2_20, f"{T}/corrupt.nc")
try:
    import h5py
    with h5py.File(f"{T}/corrupt.nc", "r") as h:
        info = h["B11"].id.get_chunk_info_by_coord((50, 0, 0))
    with open(f"{T}/corrupt.nc", "r+b") as fh:  # the compressed chunk of B11 at time 50 overwritten
        fh.seek(info.byte_offset + 4); fh.write(b"\xff\x00\xaa\x55" * max(1, (info.size - 8) // 4))
except ImportError:
    print("SKIP part: h5py absent, the corrupted chunk case is not run")

for name, expect in (("nogm", "no grid mapping"), ("dims", "has dimensions (x, y, timestamp); expected (timestamp, y, x)"),
                     ("times", "not CF time units"), ("corrupt", "cannot read variable B11 at time 50")):
    if not os.path.exists(f"{T}/{name}.nc"):
        continue
    out = f"{T}/bad-{name}"
    rc, err = run(S2_10, "--out-dir", out, "--tile", "site")  # a cube already there
    before = md5(f"{out}/site_s2.nc")
    rc, err = run(f"{T}/{name}.nc", "--out-dir", out, "--tile", "site", "--grid", S2_10)
    lines = [l for l in err.splitlines() if "error:" in l]
    check(rc == 1 and len(lines) == 1 and f"{name}.nc" in lines[0] and expect in lines[0],
          f"{name}: one line naming the file and the problem: {lines[0] if lines else err.strip()[:200]}")
    check(md5(f"{out}/site_s2.nc") == before and no_leftovers(out), f"{name}: the cube is untouched, nothing half-written")
    rc, err = run(f"{T}/{name}.nc", "--out-dir", f"{out}-alone", "--tile", "site", "--grid", S2_10)
    check(rc == 1 and not glob.glob(f"{out}-alone/*.nc") and no_leftovers(f"{out}-alone"), f"{name}: alone, no cube")

# a bad file among good ones: the others are ingested, exit 1
rc, err = run(S2_10, f"{T}/nogm.nc", S1, "--out-dir", f"{T}/mix", "--tile", "site")
check(rc == 1 and os.path.exists(f"{T}/mix/site_s2.nc") and os.path.exists(f"{T}/mix/site_s1.nc")
      and sum("error:" in l for l in err.splitlines()) == 1, "bad file among good ones: the others ingested, exit 1")

# layouts that are fine: dates as strings, y ascending
ref = f"{T}/d/site_s2.nc"
for name in ("strtime", "flip"):
    rc, err = run(f"{T}/{name}.nc", "--out-dir", f"{T}/ok-{name}", "--tile", "site")
    got = f"{T}/ok-{name}/site_s2.nc"
    check(rc == 0 and all(np.array_equal(cube(got, n), cube(ref, n), equal_nan=True) for n in ("B8A", "cloud_mask"))
          and (days(got) == days(ref)).all(), f"{name}: the same cube as the original layout ({err.strip()[:200]})")

print("FAILED" if fails else "all ok")
sys.exit(1 if fails else 0)
