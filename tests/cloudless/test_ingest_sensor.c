/* clearcube ingest tells a product's sensor (cc_ingest_detect_sensor): by its
 * name for Sentinel-1, OLCI and Landsat, and a Sentinel-2 L2A SAFE product by
 * its metadata whatever its name (a folder or a zip holding MTD_MSIL2A.xml;
 * issue 16: the metadata, not the name). An L1C product is no L2A. The
 * metadata part uses the real MTD_MSIL1C.xml of ../shared (made an L2A MTD
 * by its root element, product type and quantification values: SIMULATED)
 * and is skipped without it. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <gdal.h>

#include "core/bands.h"
#include "pipeline/cloudless/ingest.h"
#include "testutil.h"

int main(void)
{
    GDALAllRegister();
    CHECK(cc_ingest_detect_sensor("/x/S1A_IW_GRDH_1SDV_20200101T000000_20200101T000025_030000_036000_ABCD.SAFE") ==
          CC_SENSOR_S1);
    CHECK(cc_ingest_detect_sensor("/x/S3A_OL_1_EFR____20200101T000000.SEN3/") == CC_SENSOR_OLCI);
    CHECK(cc_ingest_detect_sensor("/x/LC08_L2SP_198024_20200101_20200110_02_T1") == CC_SENSOR_LANDSAT);
    CHECK(cc_ingest_detect_sensor("/x/S2B_MSIL2A_20200101T103021_N0213_R108_T32UMF_20200101T120000.SAFE") ==
          CC_SENSOR_S2);
    CHECK(cc_ingest_detect_sensor("/x/scene_0001") == -1);

    const char *sh = getenv("CLEARCUBE_SHARED");
    char mtd[1200];
    snprintf(mtd, sizeof mtd, "%s/datasets/s2-l1c-metadata-T32UMF-20170301/MTD_MSIL1C.xml", sh ? sh : "/nonexistent");
    struct stat st;
    if (stat(mtd, &st) != 0) {
        printf("metadata cases skipped: %s absent (../shared not beside this checkout)\n", mtd);
        TEST_RETURN();
    }
    const char *tmp = cc_test_tmpdir("ingest_sensor");
    char cmd[8192], p[2200];
    /* renamed L2A folder, renamed zip holding it, renamed L1C folder */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && mkdir -p scene_l2a l1c_scene zipsrc/inner && cp '%s' l1c_scene/ && "
             "sed -e 's/Level-1C_User_Product/Level-2A_User_Product/g' -e 's/S2MSI1C/S2MSI2A/' "
             "-e 's|<QUANTIFICATION_VALUE unit=\"none\">10000</QUANTIFICATION_VALUE>|<BOA_QUANTIFICATION_VALUE>10000"
             "</BOA_QUANTIFICATION_VALUE><AOT_QUANTIFICATION_VALUE>1000</AOT_QUANTIFICATION_VALUE>"
             "<WVP_QUANTIFICATION_VALUE>1000</WVP_QUANTIFICATION_VALUE>|' '%s' > scene_l2a/MTD_MSIL2A.xml && "
             "cp scene_l2a/MTD_MSIL2A.xml zipsrc/inner/ && cd zipsrc && zip -q -r ../mytile.zip inner",
             tmp, mtd, mtd);
    CHECK(system(cmd) == 0);
    snprintf(p, sizeof p, "%s/scene_l2a", tmp);
    CHECK(cc_ingest_detect_sensor(p) == CC_SENSOR_S2);
    snprintf(p, sizeof p, "%s/scene_l2a/", tmp);
    CHECK(cc_ingest_detect_sensor(p) == CC_SENSOR_S2);
    snprintf(p, sizeof p, "%s/mytile.zip", tmp);
    CHECK(cc_ingest_detect_sensor(p) == CC_SENSOR_S2);
    snprintf(p, sizeof p, "%s/l1c_scene", tmp);
    CHECK(cc_ingest_detect_sensor(p) == -1);
    TEST_RETURN();
}
