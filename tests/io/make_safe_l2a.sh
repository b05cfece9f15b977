#!/bin/sh
# Assembles a Sentinel-2 L2A SAFE product (no manifest.safe) at test time:
#   - MTD_MSIL2A.xml: SYNTHETIC product metadata written here (PB 04.00,
#     BOA_ADD_OFFSET -1000, R10m/R20m/R60m IMAGE_FILE lists, SCL/AOT/WVP);
#   - MTD_TL.xml: the real T32UMF tile metadata (datasets/s2-l1c-metadata-T32UMF-20170301);
#   - pixels: real Sen2Cor L2A values from riotilerpds/s2-l2a-29RKH-20200219, cropped
#     (10 m bands 240x240 px, 20 m 120x120, 60 m 40x40; AOT 40x40 -> 120x120 nearest)
#     and RE-LABELLED into the T32UMF tile (EPSG:32632, 6 km inside the corner),
#     lossless JP2. A structural fixture only: pixels and metadata do not belong together.
# Usage: make_safe_l2a.sh OUTDIR SHARED   -> OUTDIR/<PRODUCT>.SAFE
set -eu

OUT=$1
SHARED=$2
SRC=$SHARED/datasets/riotilerpds/s2-l2a-29RKH-20200219
TL=$SHARED/datasets/s2-l1c-metadata-T32UMF-20170301/MTD_TL.xml
PRODUCT=S2B_MSIL2A_20170301T103021_N0400_R108_T32UMF_20170301T120000
GRANULE=GRANULE/L2A_T32UMF_A008828_20170301T103326
STEM=T32UMF_20170301T103021
ULX=405960
ULY=6094020
export GDAL_PAM_ENABLED=NO

# put SRC DST RES SRCWIN_SIZE [OUTSIZE]: crop SRC at (0,0), label it RES m at ULX/ULY
put() {
    src=$1 dst=$2 res=$3 n=$4 out=${5:-$4}
    lrx=$((ULX + out * res))
    lry=$((ULY - out * res))
    gdal_translate -q -of JP2OpenJPEG -co QUALITY=100 -co REVERSIBLE=YES -co YCBCR420=NO \
        -srcwin 0 0 "$n" "$n" -outsize "$out" "$out" -r nearest \
        -a_srs EPSG:32632 -a_ullr "$ULX" "$ULY" "$lrx" "$lry" "$src" "$dst"
}

rm -rf "$OUT"
SAFE=$OUT/$PRODUCT.SAFE
IMG=$SAFE/$GRANULE/IMG_DATA
mkdir -p "$IMG/R10m" "$IMG/R20m" "$IMG/R60m"
cp "$TL" "$SAFE/$GRANULE/MTD_TL.xml"
chmod u+w "$SAFE/$GRANULE/MTD_TL.xml"

files=""
for b in B02 B03 B04 B08; do
    put "$SRC/$b.tif" "$IMG/R10m/${STEM}_${b}_10m.jp2" 10 240
    files="$files $GRANULE/IMG_DATA/R10m/${STEM}_${b}_10m"
done
for b in B05 B06 B07 B8A B11 B12; do
    put "$SRC/$b.tif" "$IMG/R20m/${STEM}_${b}_20m.jp2" 20 120
    files="$files $GRANULE/IMG_DATA/R20m/${STEM}_${b}_20m"
done
for b in B01 B09; do
    put "$SRC/$b.tif" "$IMG/R60m/${STEM}_${b}_60m.jp2" 60 40
    files="$files $GRANULE/IMG_DATA/R60m/${STEM}_${b}_60m"
done
put "$SRC/SCL.tif" "$IMG/R20m/${STEM}_SCL_20m.jp2" 20 120
put "$SRC/AOT.tif" "$IMG/R20m/${STEM}_AOT_20m.jp2" 20 40 120
put "$SRC/WVP.tif" "$IMG/R20m/${STEM}_WVP_20m.jp2" 20 120
files="$files $GRANULE/IMG_DATA/R20m/${STEM}_SCL_20m $GRANULE/IMG_DATA/R20m/${STEM}_AOT_20m"
files="$files $GRANULE/IMG_DATA/R20m/${STEM}_WVP_20m"

{
    cat <<EOF
<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<n1:Level-2A_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-2A.xsd">
  <n1:General_Info>
    <Product_Info>
      <PRODUCT_START_TIME>2017-03-01T10:30:21.026Z</PRODUCT_START_TIME>
      <PRODUCT_URI>$PRODUCT.SAFE</PRODUCT_URI>
      <PROCESSING_LEVEL>Level-2A</PROCESSING_LEVEL>
      <PRODUCT_TYPE>S2MSI2A</PRODUCT_TYPE>
      <PROCESSING_BASELINE>04.00</PROCESSING_BASELINE>
      <Datatake datatakeIdentifier="GS2B_20170301T103021_000000_N04.00">
        <SPACECRAFT_NAME>Sentinel-2B</SPACECRAFT_NAME>
      </Datatake>
      <Product_Organisation>
        <Granule_List>
          <Granule granuleIdentifier="S2B_OPER_MSI_L2A_TL_TEST_20170301T120000_A008828_T32UMF_N04.00" imageFormat="JPEG2000">
EOF
    for f in $files; do
        echo "            <IMAGE_FILE>$f</IMAGE_FILE>"
    done
    cat <<EOF
          </Granule>
        </Granule_List>
      </Product_Organisation>
    </Product_Info>
    <Product_Image_Characteristics>
      <Special_Values><SPECIAL_VALUE_TEXT>NODATA</SPECIAL_VALUE_TEXT><SPECIAL_VALUE_INDEX>0</SPECIAL_VALUE_INDEX></Special_Values>
      <Special_Values><SPECIAL_VALUE_TEXT>SATURATED</SPECIAL_VALUE_TEXT><SPECIAL_VALUE_INDEX>65535</SPECIAL_VALUE_INDEX></Special_Values>
      <QUANTIFICATION_VALUES_LIST>
        <BOA_QUANTIFICATION_VALUE unit="none">10000</BOA_QUANTIFICATION_VALUE>
        <AOT_QUANTIFICATION_VALUE unit="none">1000.0</AOT_QUANTIFICATION_VALUE>
        <WVP_QUANTIFICATION_VALUE unit="cm">1000.0</WVP_QUANTIFICATION_VALUE>
      </QUANTIFICATION_VALUES_LIST>
      <BOA_ADD_OFFSET_VALUES_LIST>
EOF
    for i in 0 1 2 3 4 5 6 7 8 9 10 11 12; do
        echo "        <BOA_ADD_OFFSET band_id=\"$i\">-1000</BOA_ADD_OFFSET>"
    done
    echo '      </BOA_ADD_OFFSET_VALUES_LIST>'
    echo '      <Reflectance_Conversion>'
    echo '        <U>1.0205</U>'
    echo '        <Solar_Irradiance_List>'
    i=0
    for e in 1874.30 1959.75 1824.93 1512.79 1425.78 1291.13 1175.57 1041.28 953.93 817.58 365.41 247.08 87.75; do
        echo "          <SOLAR_IRRADIANCE bandId=\"$i\" unit=\"W/m2/um\">$e</SOLAR_IRRADIANCE>"
        i=$((i + 1))
    done
    cat <<EOF
        </Solar_Irradiance_List>
      </Reflectance_Conversion>
    </Product_Image_Characteristics>
  </n1:General_Info>
</n1:Level-2A_User_Product>
EOF
} > "$SAFE/MTD_MSIL2A.xml"
echo "make_safe_l2a.sh: $SAFE ready"
