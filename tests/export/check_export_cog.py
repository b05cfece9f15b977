#!/usr/bin/python3
"""`clearcube export CUBE --to cog DIR` (issue 16), on a SIMULATED two-date reference cube:
  - one COG per layer and date: gdalinfo reports LAYOUT=COG, at least one overview, the cube's
    _FillValue as nodata, its scale_factor/add_offset as scale/offset; the pixel values equal the
    cube's DN; the quality layer keeps its flag_masks/flag_meanings;
  - one STAC Item per date with the fields the STAC 1.0 Item spec requires (type Feature,
    stac_version, id, geometry, bbox, properties.datetime, assets with href and type, links),
    a bbox that contains the geometry, hrefs that resolve to the COGs;
  - bad inputs (not a cube, a missing cube, a directory under a file, --to png): one error line,
    exit != 0, nothing written.
usage: check_export_cog.py   (env CLEARCUBE_BIN, CLEARCUBE_TMP)
"""
import glob
import json
import os
import shutil
import subprocess
import sys

try:
    import numpy as np
    import netCDF4
    from osgeo import gdal
except ImportError as e:
    print(f"SKIP: python3-netcdf4 / python3-gdal missing ({e})")
    sys.exit(77)

CC = os.environ["CLEARCUBE_BIN"]
T = os.path.join(os.environ.get("CLEARCUBE_TMP", "/tmp"), "export_cog")
fails = 0


def check(cond, what):
    global fails
    if not cond:
        fails += 1
        print(f"FAIL: {what}")
    return cond


def run(*args, ok=True):
    r = subprocess.run([CC, *args], capture_output=True, text=True)
    if ok and r.returncode != 0:
        print(f"FAIL: clearcube {' '.join(args)}: {r.stderr.strip()}")
        sys.exit(1)
    return r


def expect_fail(name, pattern, *args):
    before = sorted(os.listdir("."))
    r = run(*args, ok=False)
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    good = r.returncode != 0 and len(lines) == 1 and lines[0].startswith("clearcube: error:") and pattern in lines[0]
    check(good, f"{name}: rc {r.returncode}, stderr {r.stderr.strip()!r}")
    check(sorted(os.listdir(".")) == before and not glob.glob("out/*.tmp-*"), f"{name}: files left behind")
    if good:
        print(f"ok   {name}: {lines[0]}")


def main():
    shutil.rmtree(T, ignore_errors=True)
    os.makedirs(T)
    os.chdir(T)
    run("simulate", "-o", "sim", "--size", "64", "--seed", "1")
    scene = ["sim/S2A_SIMULATED_L1C.tif", "--bands", "B01,B02,B03,B04,B05,B06,B07,B08,B8A,B09,B10,B11,B12",
             "--spacecraft", "S2A", "--sun-zenith", "33", "--sun-azimuth", "150", "--view-zenith", "5",
             "--view-azimuth", "100", "--dn-offset", "-1000", "--log-level", "warn"]
    for date in ("2024-06-15", "2024-06-25"):
        run("reference", *scene, "--date", date, "-o", "ref.nc")
    r = run("export", "ref.nc", "--to", "cog", "out")
    cube = netCDF4.Dataset("ref.nc")
    cube.set_auto_maskandscale(False)
    layers = [n for n, v in cube.variables.items() if v.dimensions == ("time", "y", "x")]
    tile, prod = cube.getncattr("tile_id") or "untiled", cube.getncattr("product")  # simulate: no tile
    dates = ["2024-06-15", "2024-06-25"]
    tifs = sorted(glob.glob("out/*.tif"))
    check(len(tifs) == len(dates) * len(layers), f"{len(tifs)} COGs for {len(dates)} dates x {len(layers)} layers")
    n0 = fails
    for t, date in enumerate(dates):
        for name in layers:
            path = f"out/{tile}_{prod}_{date}_{name}.tif"
            if not check(os.path.exists(path), f"{path} missing"):
                continue
            info = json.loads(subprocess.run(["gdalinfo", "-json", path], capture_output=True, text=True).stdout)
            md = info.get("metadata", {}).get("IMAGE_STRUCTURE", {})
            check(md.get("LAYOUT") == "COG", f"{path}: LAYOUT {md.get('LAYOUT')}")
            b = info["bands"][0]
            check(len(b.get("overviews", [])) >= 1, f"{path}: no overview")
            v = cube[name]
            check(b.get("noDataValue") == float(v._FillValue), f"{path}: nodata {b.get('noDataValue')}")
            check(abs(b.get("scale", 1.0) - float(getattr(v, "scale_factor", 1.0))) < 1e-12 and
                  abs(b.get("offset", 0.0) - float(getattr(v, "add_offset", 0.0))) < 1e-12,
                  f"{path}: scale/offset {b.get('scale')}/{b.get('offset')}")
            ds = gdal.Open(path)
            a = ds.GetRasterBand(1).ReadAsArray()
            check(np.array_equal(a, np.asarray(v[t])), f"{path}: values differ from the cube's")
            check(ds.GetGeoTransform() == tuple(float(x) for x in cube["spatial_ref"].GeoTransform.split()),
                  f"{path}: geotransform")
            if name == "quality":
                bm = ds.GetRasterBand(1).GetMetadata()
                check(bm.get("flag_meanings") == v.flag_meanings and bm.get("flag_masks") == " ".join(
                    str(int(x)) for x in v.flag_masks), f"{path}: flag metadata {bm}")
            ds = None
    if fails == n0:
        print(f"ok   {len(tifs)} COGs: LAYOUT=COG, overviews, nodata, scale/offset, values == the cube's")
    n0 = fails
    items = sorted(glob.glob("out/*.json"))
    check(len(items) == len(dates), f"{len(items)} STAC Items for {len(dates)} dates")
    for p, date in zip(items, dates):
        it = json.load(open(p))
        for k in ("type", "stac_version", "id", "geometry", "bbox", "properties", "assets", "links"):
            check(k in it, f"{p}: no {k}")
        check(it.get("type") == "Feature" and it.get("stac_version") == "1.0.0", f"{p}: type/stac_version")
        check(it["properties"].get("datetime") == f"{date}T00:00:00Z", f"{p}: datetime {it['properties'].get('datetime')}")
        g = it["geometry"]
        check(g["type"] == "Polygon" and g["coordinates"][0][0] == g["coordinates"][0][-1], f"{p}: geometry not a closed polygon")
        bb = it["bbox"]
        xs = [c[0] for c in g["coordinates"][0]]
        ys = [c[1] for c in g["coordinates"][0]]
        check(len(bb) == 4 and bb[0] <= min(xs) and bb[2] >= max(xs) and bb[1] <= min(ys) and bb[3] >= max(ys)
              and -180 <= bb[0] <= bb[2] <= 180 and -90 <= bb[1] <= bb[3] <= 90, f"{p}: bbox {bb}")
        check(set(it["assets"]) == set(layers), f"{p}: assets {sorted(it['assets'])}")
        for k, a in it["assets"].items():
            check("href" in a and "type" in a and os.path.exists(os.path.join("out", a["href"])),
                  f"{p}: asset {k} {a.get('href')}")
            check(a.get("type", "").startswith("image/tiff; application=geotiff"), f"{p}: asset {k} type")
        check(isinstance(it["links"], list) and all("rel" in l and "href" in l for l in it["links"]), f"{p}: links")
        check(it["properties"].get("proj:epsg") == 32632, f"{p}: proj:epsg {it['properties'].get('proj:epsg')}")
    if fails == n0:
        print(f"ok   {len(items)} STAC Items: required fields, bbox contains the geometry, asset hrefs resolve")
    # a second export replaces the files (same names), leaves no temporaries
    run("export", "ref.nc", "--to", "cog", "out")
    check(sorted(glob.glob("out/*")) == sorted(tifs + items), "a second export leaves other files")
    # bad inputs: one error line, nothing written
    open("notacube.nc", "w").write("hello\n")
    expect_fail("not a cube", "notacube.nc: not a clearcube cube", "export", "notacube.nc", "--to", "cog", "bad1")
    expect_fail("missing cube", "nope.nc", "export", "nope.nc", "--to", "cog", "bad2")
    open("afile", "w").write("x")
    expect_fail("directory under a file", "afile", "export", "ref.nc", "--to", "cog", "afile/sub")
    expect_fail("unknown format", "cog", "export", "ref.nc", "--to", "png", "bad3")
    print("PASS export_cog" if fails == 0 else f"{fails} failure(s)")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
