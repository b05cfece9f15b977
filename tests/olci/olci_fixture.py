#!/usr/bin/python3
"""Test-only helpers for tests/olci (python3-netcdf4 + numpy, independent of io/s3/olci.c).

  olci_fixture.py expect FILE.nc
      One line per pixel of a BEAM/SNAP OLCI file: "x y lat lon rho*10" with
      rho = pi L / (F0 cos SZA) in the Cloudless band order (B02 B03 B04 B05 B06
      B07 B08 B8A B11 B12; nan where missing). netCDF4's own masking and
      scaling (_Unsigned, scale_factor, _FillValue) is used; SZA on a
      tie-point grid is interpolated here with numpy.
  olci_fixture.py sen3 FILE.nc OUTDIR AC
      Writes a native-layout OLCI .SEN3 folder (OaNN_radiance.nc,
      geo_coordinates.nc, instrument_data.nc, tie_geometries.nc) built from a
      BEAM/SNAP file with per-pixel SZA; the tie-point grid has AC columns and
      1 row per tie point, its values interpolated from the per-pixel SZA.
      Prints the folder path.
  olci_fixture.py strip FILE.nc OUT.nc PREFIX
      Copies FILE.nc without the variables whose names start with PREFIX.
  olci_fixture.py rank FILE.nc OUT.nc VAR
      Copies FILE.nc with the 2-D variable VAR as a 3-D (1, rows, columns)
      variable: the same values in the wrong rank.
"""
import os
import sys

import netCDF4
import numpy as np

MAP = [4, 6, 8, 11, 12, 16, 17, 17, None, None]


def tie_to_pixels(tp, ox, oy, sx, sy, w, h):
    th, tw = tp.shape
    fx = (np.arange(w) + 0.5 - ox) / sx
    fy = (np.arange(h) + 0.5 - oy) / sy
    i = np.clip(np.floor(fx).astype(int), 0, tw - 2)
    j = np.clip(np.floor(fy).astype(int), 0, th - 2)
    wx = (fx - i)[None, :]
    wy = (fy - j)[:, None]
    a = tp[j][:, i]
    b = tp[j][:, i + 1]
    c = tp[j + 1][:, i]
    d = tp[j + 1][:, i + 1]
    return (1 - wy) * ((1 - wx) * a + wx * b) + wy * ((1 - wx) * c + wx * d)


def filled(v):
    a = v[:]
    if np.ma.isMaskedArray(a):
        a = a.astype(np.float64).filled(np.nan)
    return np.asarray(a, dtype=np.float64)


def expect(path):
    d = netCDF4.Dataset(path)
    L0 = d["Oa04_radiance"]
    h, w = L0.shape
    lat = filled(d["latitude"])
    lon = filled(d["longitude"])
    sza_v = d["SZA"]
    sza = filled(sza_v)
    if sza.shape != (h, w):
        sza = tie_to_pixels(sza, sza_v.offset_x, sza_v.offset_y, sza_v.subsampling_x,
                            sza_v.subsampling_y, w, h)
    mu = np.cos(np.radians(sza))
    rho = np.full((h, w, 10), np.nan)
    for b, k in enumerate(MAP):
        if k is None:
            continue
        L = filled(d["Oa%02d_radiance" % k])
        F0 = filled(d["solar_flux_band_%d" % k])
        rho[:, :, b] = np.pi * L / (F0 * mu)
    out = sys.stdout
    for y in range(h):
        for x in range(w):
            vals = " ".join("%.9g" % v for v in rho[y, x])
            out.write("%d %d %.9f %.9f %s\n" % (x, y, lat[y, x], lon[y, x], vals))


def sen3(path, outdir, ac):
    s = netCDF4.Dataset(path)
    s.set_auto_maskandscale(False)
    h, w = s["Oa04_radiance"].shape
    name = os.path.basename(path)
    stem = name[:-3] if name.endswith(".nc") else name
    folder = os.path.join(outdir, stem + ".SEN3")
    os.makedirs(folder, exist_ok=True)
    start = "2017-03-13T11:03:42.871103Z"

    def newfile(fname):
        f = netCDF4.Dataset(os.path.join(folder, fname), "w", format="NETCDF4")
        f.set_auto_maskandscale(False)
        f.createDimension("rows", h)
        f.createDimension("columns", w)
        f.product_name = stem + ".SEN3"
        f.start_time = start
        f.stop_time = "2017-03-13T11:06:42.871102Z"
        return f

    for k in range(1, 22):
        vn = "Oa%02d_radiance" % k
        f = newfile(vn + ".nc")
        v = f.createVariable(vn, "u2", ("rows", "columns"), fill_value=np.uint16(65535))
        v.set_auto_maskandscale(False)
        v.scale_factor = s[vn].scale_factor
        v.add_offset = 0.0
        v.units = "mW.m-2.sr-1.nm-1"
        v[:] = s[vn][:].view(np.uint16)
        f.close()

    f = newfile("geo_coordinates.nc")
    for vn in ("latitude", "longitude"):
        v = f.createVariable(vn, "i4", ("rows", "columns"), fill_value=np.int32(-2147483648))
        v.set_auto_maskandscale(False)
        v.scale_factor = 1e-6
        v[:] = s[vn][:]
    f.close()

    det = s["detector_index"][:].astype(np.int64)
    nd = 3700
    f = newfile("instrument_data.nc")
    f.createDimension("bands", 21)
    f.createDimension("detectors", nd)
    flux = np.full((21, nd), -1.0, dtype=np.float32)
    for k in range(1, 22):
        fb = s["solar_flux_band_%d" % k][:]
        ok = det >= 0
        flux[k - 1, det[ok]] = fb[ok]
    v = f.createVariable("solar_flux", "f4", ("bands", "detectors"), fill_value=np.float32(-1))
    v[:] = flux
    v = f.createVariable("detector_index", "i2", ("rows", "columns"), fill_value=np.int16(-1))
    v[:] = s["detector_index"][:]
    f.close()

    # tie point (i, j) sits at image coordinate (j*ac, i); pixel centres at
    # (x + 0.5, y + 0.5): evaluate the per-pixel SZA there (bilinear in pixel
    # index space, linear extrapolation at the edges).
    sza = s["SZA"][:].astype(np.float64)
    tw = int(np.ceil(w / ac)) + 1
    th = h + 1
    px = np.arange(tw) * ac - 0.5
    py = np.arange(th) - 0.5
    i = np.clip(np.floor(px).astype(int), 0, w - 2)
    j = np.clip(np.floor(py).astype(int), 0, h - 2)
    wx = (px - i)[None, :]
    wy = (py - j)[:, None]
    tp = (1 - wy) * ((1 - wx) * sza[j][:, i] + wx * sza[j][:, i + 1]) + \
        wy * ((1 - wx) * sza[j + 1][:, i] + wx * sza[j + 1][:, i + 1])
    f = netCDF4.Dataset(os.path.join(folder, "tie_geometries.nc"), "w", format="NETCDF4")
    f.set_auto_maskandscale(False)
    f.createDimension("tie_rows", th)
    f.createDimension("tie_columns", tw)
    f.ac_subsampling_factor = np.int32(ac)
    f.al_subsampling_factor = np.int32(1)
    v = f.createVariable("SZA", "u4", ("tie_rows", "tie_columns"))
    v.set_auto_maskandscale(False)
    v.scale_factor = 1e-6
    v.units = "degrees"
    v[:] = np.round(tp * 1e6).astype(np.uint32)
    f.close()
    print(folder)


def strip(src, dst, prefix, rank_var=None):
    s = netCDF4.Dataset(src)
    s.set_auto_maskandscale(False)
    d = netCDF4.Dataset(dst, "w", format="NETCDF4")
    d.setncatts({k: s.getncattr(k) for k in s.ncattrs()})
    for name, dim in s.dimensions.items():
        d.createDimension(name, len(dim))
    if rank_var:
        d.createDimension("extra_rank", 1)
    for name, v in s.variables.items():
        if (prefix and name.startswith(prefix)) or not v.dimensions:
            continue
        atts = {k: v.getncattr(k) for k in v.ncattrs() if k != "_FillValue"}
        fill = v.getncattr("_FillValue") if "_FillValue" in v.ncattrs() else None
        dims = ("extra_rank",) + v.dimensions if name == rank_var else v.dimensions
        o = d.createVariable(name, v.dtype, dims, fill_value=fill)
        o.set_auto_maskandscale(False)
        o.setncatts(atts)
        o[:] = v[:][None] if name == rank_var else v[:]
    d.close()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "expect":
        expect(sys.argv[2])
    elif len(sys.argv) == 5 and sys.argv[1] == "sen3":
        sen3(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) == 5 and sys.argv[1] == "strip":
        strip(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) == 5 and sys.argv[1] == "rank":
        strip(sys.argv[2], sys.argv[3], None, sys.argv[4])
    else:
        sys.exit(__doc__)
