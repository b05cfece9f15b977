#!/usr/bin/python3
"""Every cube kind is CF and opens in xarray, rioxarray and GDAL with its CRS (issue 16).

Writes, with the clearcube CLI on SIMULATED inputs (no ../shared needed): a reference cube and a
Rapid BoA cube of a simulated L1C scene, the sensor cubes of `cloudless-sim --synthetic`
(Sentinel-2, Landsat, OLCI, Sentinel-1) and a Cloudless product. For each cube:
  - CF checks that a CF checker makes (no CF checker is packaged for Debian 12, so the same
    assertions are made here with python3-netcdf4 and libudunits2's ut_parse through ctypes):
    Conventions CF-1.8; every `units` parses in UDUNITS-2 (reflectance "1", backscatter in
    decibel as "0.1 lg(re 1)"); integer layers have _FillValue and valid_range of the
    variable's type with the fill outside the range; flag layers have flag_masks (single,
    non-zero bits) or flag_values, as many as the words of flag_meanings, and no units;
    grid_mapping names a variable with grid_mapping_name (or crs_wkt) and crs_wkt; x/y are
    coordinate variables with standard_name projection_x/y_coordinate and units m; time has
    CF units and a calendar;
  - xarray.open_dataset(path).rio.crs and rioxarray.open_rasterio(path) find the CRS
    (EPSG:32632 for the simulated scene) without extra arguments, and the quality layer reads
    as integers whose bits are the flag_masks;
  - gdalinfo finds the CRS and the geotransform of a layer.
usage: check_cube_cf.py   (env CLEARCUBE_BIN, CLEARCUBE_SOURCE, CLEARCUBE_TMP)
"""
import ctypes
import json
import os
import shutil
import subprocess
import sys

try:
    import numpy as np
    import netCDF4
    import xarray as xr
    import rioxarray  # noqa: F401  (registers .rio)
    from pyproj import CRS
except ImportError as e:
    print(f"SKIP: python3-netcdf4 / python3-xarray / python3-rioxarray missing ({e}); scripts/setup installs them")
    sys.exit(77)
try:
    UD = ctypes.CDLL("libudunits2.so.0")
except OSError as e:
    print(f"SKIP: libudunits2-0 missing ({e}); scripts/setup installs it")
    sys.exit(77)

CC = os.environ["CLEARCUBE_BIN"]
SRC = os.environ["CLEARCUBE_SOURCE"]
T = os.path.join(os.environ.get("CLEARCUBE_TMP", "/tmp"), "cube_cf")
fails = 0


def check(cond, what):
    global fails
    if not cond:
        fails += 1
        print(f"FAIL: {what}")
    return cond


UD.ut_read_xml.restype = ctypes.c_void_p
UD.ut_read_xml.argtypes = [ctypes.c_char_p]
UD.ut_parse.restype = ctypes.c_void_p
UD.ut_parse.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
UD.ut_set_error_message_handler.restype = ctypes.c_void_p
UD.ut_set_error_message_handler.argtypes = [ctypes.c_void_p]
UD.ut_set_error_message_handler(ctypes.cast(UD.ut_ignore, ctypes.c_void_p))
UNITS = UD.ut_read_xml(None)


def udunits_ok(u):
    return bool(UD.ut_parse(UNITS, u.encode(), 0))  # UT_ASCII


def run(*args):
    r = subprocess.run([CC, *args], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"FAIL: clearcube {' '.join(args)}: {r.stderr.strip()}")
        sys.exit(1)
    return r.stdout


def cf_checks(path):
    """The assertions of a CF checker on one cube; returns the names of its layers."""
    n0 = fails
    ds = netCDF4.Dataset(path)
    ds.set_auto_maskandscale(False)
    check(ds.getncattr("Conventions") == "CF-1.8", f"{path}: Conventions")
    layers = []
    for name, v in ds.variables.items():
        a = {k: v.getncattr(k) for k in v.ncattrs()}
        if "units" in a:
            check(udunits_ok(a["units"]), f"{path}:{name}: units '{a['units']}' not UDUNITS")
        if name in ("x", "y"):
            check(v.dimensions == (name,), f"{path}:{name}: not a coordinate variable")
            check(a.get("standard_name") == f"projection_{name}_coordinate" and a.get("units") == "m",
                  f"{path}:{name}: standard_name/units {a.get('standard_name')}/{a.get('units')}")
        if name == "time":
            check("since" in a.get("units", "") and "calendar" in a, f"{path}: time units/calendar")
        if v.dimensions != ("time", "y", "x"):
            continue
        layers.append(name)
        gm = a.get("grid_mapping")
        check(gm in ds.variables, f"{path}:{name}: grid_mapping {gm} is not a variable")
        if gm in ds.variables:
            g = ds.variables[gm]
            check("crs_wkt" in g.ncattrs() and "spatial_ref" in g.ncattrs(), f"{path}:{gm}: crs_wkt/spatial_ref")
            check("grid_mapping_name" in g.ncattrs(), f"{path}:{gm}: grid_mapping_name")
        check(np.issubdtype(v.dtype, np.integer), f"{path}:{name}: not an integer layer ({v.dtype})")
        fill, vr = a.get("_FillValue"), a.get("valid_range")
        if not check(fill is not None and vr is not None, f"{path}:{name}: _FillValue/valid_range missing"):
            continue
        check(np.asarray(fill).dtype == v.dtype and np.asarray(vr).dtype == v.dtype and len(vr) == 2,
              f"{path}:{name}: _FillValue/valid_range not of the variable's type {v.dtype}")
        check(not (vr[0] <= fill <= vr[1]), f"{path}:{name}: _FillValue {fill} inside valid_range {list(vr)}")
        if "flag_meanings" in a:
            words = a["flag_meanings"].split()
            flags = a.get("flag_masks", a.get("flag_values"))
            check(flags is not None and len(np.atleast_1d(flags)) == len(words),
                  f"{path}:{name}: {len(words)} flag_meanings for flags {flags}")
            check("units" not in a, f"{path}:{name}: a flag layer has units")
            if "flag_masks" in a:
                m = np.atleast_1d(a["flag_masks"]).astype(int)
                check(all(x > 0 and x & (x - 1) == 0 for x in m) and len(set(m)) == len(m),
                      f"{path}:{name}: flag_masks {m} not distinct single bits")
        else:
            check("units" in a and "scale_factor" in a and "add_offset" in a, f"{path}:{name}: units/scale/offset")
    ds.close()
    print(("ok  " if fails == n0 else "FAIL") + f" CF checks: {os.path.basename(path)} ({len(layers)} layers)")
    return layers


def open_checks(path, layers, epsg):
    n0 = fails
    with xr.open_dataset(path) as ds:
        crs = ds.rio.crs
        check(crs is not None and crs.to_epsg() == epsg, f"{path}: xarray .rio.crs = {crs}")
        check(ds[layers[0]].rio.crs is not None, f"{path}: {layers[0]}.rio.crs")
        if "quality" in ds:
            q = ds["quality"].values
            check(np.isfinite(q).all(), f"{path}: quality has fills (255 is never written)")
            qi = q.astype(np.uint8)
            masks = [int(x) for x in ds["quality"].attrs["flag_masks"]]
            check((qi & ~np.uint8(sum(masks)) == 0).all(), f"{path}: quality bits outside flag_masks")
    r = rioxarray.open_rasterio(path)
    objs = r if isinstance(r, list) else [r]
    for o in objs:
        check(o.rio.crs is not None and o.rio.crs.to_epsg() == epsg, f"{path}: rioxarray.open_rasterio CRS {o.rio.crs}")
    for o in objs:
        o.close()
    out = subprocess.run(["gdalinfo", "-json", f'NETCDF:"{path}":{layers[0]}'], capture_output=True, text=True)
    if check(out.returncode == 0, f"{path}: gdalinfo failed: {out.stderr.strip()}"):
        info = json.loads(out.stdout)
        wkt = info.get("coordinateSystem", {}).get("wkt", "")
        check(wkt and CRS.from_wkt(wkt).to_epsg() == epsg, f"{path}: gdalinfo CRS is not EPSG:{epsg}")
        check(len(info.get("geoTransform", [])) == 6, f"{path}: gdalinfo has no geotransform")
    print(("ok  " if fails == n0 else "FAIL") + f" xarray, rioxarray, gdalinfo: {os.path.basename(path)} (EPSG:{epsg})")


def main():
    shutil.rmtree(T, ignore_errors=True)
    os.makedirs(T)
    os.chdir(T)
    run("simulate", "-o", "sim", "--size", "64", "--seed", "1")
    scene = ["sim/S2A_SIMULATED_L1C.tif", "--bands", "B01,B02,B03,B04,B05,B06,B07,B08,B8A,B09,B10,B11,B12",
             "--spacecraft", "S2A", "--date", "2024-06-15", "--sun-zenith", "33", "--sun-azimuth", "150",
             "--view-zenith", "5", "--view-azimuth", "100", "--dn-offset", "-1000"]
    run("reference", *scene, "-o", "ref.nc", "--log-level", "warn")
    run("boa", *scene, "--model", os.path.join(SRC, "models", "boa-s2.h5"), "-o", "boa.nc", "--log-level", "warn")
    tile = run("cloudless-sim", "--out-dir", "cubes", "--synthetic", "--days", "40", "--size", "32",
               "--seed", "3").split()[0]
    run("cloudless", "cubes", "--tile", tile, "--date", "2020-03-20", "-o", "cl.nc", "--model",
        os.path.join(SRC, "models", "cloudless.h5"), "--log-level", "warn")
    # the default Cloudless product, the Kalman reanalysis (sd_* layers, the daily nowcast's layer set)
    run("cloudless", "cubes", "--tile", tile, "--date", "2020-03-20", "-o", "clk.nc", "--log-level", "warn")
    with netCDF4.Dataset(f"cubes/{tile}_s2.nc") as d:
        epsg_cl = CRS.from_wkt(d["spatial_ref"].getncattr("crs_wkt")).to_epsg()
    cubes = [("ref.nc", 32632), ("boa.nc", 32632), ("cl.nc", epsg_cl), ("clk.nc", epsg_cl)]
    cubes += [(f"cubes/{tile}_{s}.nc", epsg_cl) for s in ("s2", "landsat", "olci", "s1")]
    for path, epsg in cubes:
        layers = cf_checks(path)
        if layers:
            open_checks(path, layers, epsg)
    # the quality layers: reference 6 bits, boa 8, the same meanings for the same bits
    with netCDF4.Dataset("ref.nc") as r, netCDF4.Dataset("boa.nc") as b:
        rq, bq = r["quality"], b["quality"]
        check(list(rq.flag_masks) == [1, 2, 4, 8, 16, 32] and list(bq.flag_masks) == [1, 2, 4, 8, 16, 32, 64, 128],
              f"flag_masks {list(rq.flag_masks)} / {list(bq.flag_masks)}")
        check(bq.flag_meanings.startswith(rq.flag_meanings), "boa's flag_meanings extend the reference's")
        check("cloud_mask=" in r.getncattr("parameters") and "quality_cloud_mask" in b.ncattrs(),
              "the cloud mask's summary is in the cubes' attributes")
    print("PASS cube_cf" if fails == 0 else f"{fails} failure(s)")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
