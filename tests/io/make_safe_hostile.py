#!/usr/bin/python3
"""Hostile variants of the SAFE fixture of make_safe.sh (issue 17), each of
which the scene reader must refuse:

  pb04_no_offset/<P>.SAFE  PROCESSING_BASELINE 04.00 without RADIO_ADD_OFFSET
  short_band/<P>.SAFE      B03 cropped by 10 rows (every other band full size)
  slip.zip                 good.zip plus an entry '../evil.txt'
  absolute.zip             good.zip plus an entry '/tmp/evil.txt'
  symlink.zip              good.zip plus a symbolic link '<P>.SAFE/link' -> /etc/passwd
  inflate.zip              good.zip whose MTD_TL.xml declares 100 bytes fewer
                           than it inflates to (local and central headers)

Usage: make_safe_hostile.py OUTDIR PRODUCT   (OUTDIR as written by make_safe.sh)
"""
import os
import shutil
import struct
import subprocess
import sys
import zipfile

out, product = sys.argv[1], sys.argv[2]
good = os.path.join(out, "good", product + ".SAFE")
gzip = os.path.join(out, "good.zip")


def variant(name):
    d = os.path.join(out, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    dst = os.path.join(d, product + ".SAFE")
    shutil.copytree(good, dst)
    return dst


# baseline 04.00, no offsets listed
v = variant("pb04_no_offset")
mtd = os.path.join(v, "MTD_MSIL1C.xml")
text = open(mtd).read()
assert "<PROCESSING_BASELINE>02.04</PROCESSING_BASELINE>" in text
assert "RADIO_ADD_OFFSET" not in text
open(mtd, "w").write(text.replace("<PROCESSING_BASELINE>02.04</PROCESSING_BASELINE>",
                                  "<PROCESSING_BASELINE>04.00</PROCESSING_BASELINE>"))

# one band 10 rows short
v = variant("short_band")
img = [os.path.join(r, f) for r, _, fs in os.walk(v) for f in fs if f.endswith("_B03.jp2")][0]
info = subprocess.run(["gdalinfo", img], capture_output=True, text=True, check=True).stdout
w, h = [int(x) for x in info.split("Size is ")[1].split("\n")[0].split(",")]
tmp = img + ".tmp.jp2"
subprocess.run(["gdal_translate", "-q", "-of", "JP2OpenJPEG", "-co", "QUALITY=100", "-co", "REVERSIBLE=YES",
                "-co", "YCBCR420=NO", "-srcwin", "0", "0", str(w), str(h - 10), img, tmp], check=True,
               env=dict(os.environ, GDAL_PAM_ENABLED="NO"))
os.replace(tmp, img)


# zip-slip, absolute path, symbolic link
for name, entry in (("slip.zip", "../evil.txt"), ("absolute.zip", "/tmp/evil.txt")):
    dst = os.path.join(out, name)
    shutil.copy(gzip, dst)
    with zipfile.ZipFile(dst, "a") as z:
        z.writestr(zipfile.ZipInfo(entry), b"evil\n")
dst = os.path.join(out, "symlink.zip")
shutil.copy(gzip, dst)
with zipfile.ZipFile(dst, "a") as z:
    zi = zipfile.ZipInfo(product + ".SAFE/link")
    zi.create_system = 3
    zi.external_attr = (0o120777 << 16)
    z.writestr(zi, b"/etc/passwd")

# an entry that inflates beyond its declared size
dst = os.path.join(out, "inflate.zip")
shutil.copy(gzip, dst)
with zipfile.ZipFile(dst) as z:
    zi = [i for i in z.infolist() if i.filename.endswith("MTD_TL.xml")][0]
    assert zi.compress_type == zipfile.ZIP_DEFLATED
    local, size = zi.header_offset, zi.file_size
raw = bytearray(open(dst, "rb").read())
assert raw[local:local + 4] == b"PK\x03\x04"
struct.pack_into("<I", raw, local + 22, size - 100)
pos = 0
patched = 0
while True:
    pos = raw.find(b"PK\x01\x02", pos)
    if pos < 0:
        break
    if struct.unpack_from("<I", raw, pos + 42)[0] == local:
        struct.pack_into("<I", raw, pos + 24, size - 100)
        patched += 1
    pos += 4
assert patched == 1
open(dst, "wb").write(raw)
print("make_safe_hostile.py: variants ready in", out)
