/* Product metadata of an L2A product: a synthetic but structurally real
 * MTD_MSIL2A.xml (PB 04.00) written at test time. No shared data needed. */
#include <math.h>

#include "core/error.h"
#include "io/s2/s2_mtd.h"
#include "s2mtd_util.h"
#include "testutil.h"

#define GRAN "GRANULE/L2A_T32UMF_A034876_20220315T102430"
#define STEM "T32UMF_20220315T102021"

/* Writes the document; `spacecraft` and whether to include the AOT value vary. */
static void write_l2a(const char *path, const char *spacecraft, int with_aot)
{
    FILE *f = fopen(path, "w");
    if (!f)
        exit(1);
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
            "<n1:Level-2A_User_Product xmlns:n1=\"https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-2A.xsd\" "
            "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n"
            "  <n1:General_Info>\n"
            "    <Product_Info>\n"
            "      <PRODUCT_START_TIME>2022-03-15T10:20:21.024Z</PRODUCT_START_TIME>\n"
            "      <PRODUCT_STOP_TIME>2022-03-15T10:20:21.024Z</PRODUCT_STOP_TIME>\n"
            "      <PRODUCT_URI>S2B_MSIL2A_20220315T102021_N0400_R065_T32UMF_20220315T123456.SAFE</PRODUCT_URI>\n"
            "      <PROCESSING_LEVEL>Level-2A</PROCESSING_LEVEL>\n"
            "      <PRODUCT_TYPE>S2MSI2A</PRODUCT_TYPE>\n"
            "      <PROCESSING_BASELINE>04.00</PROCESSING_BASELINE>\n"
            "      <PRODUCT_DOI>https://doi.org/10.5270/S2_-znk9xsj</PRODUCT_DOI>\n"
            "      <GENERATION_TIME>2022-03-15T12:34:56.000000Z</GENERATION_TIME>\n"
            "      <Datatake datatakeIdentifier=\"GS2B_20220315T102021_026234_N04.00\">\n"
            "        <SPACECRAFT_NAME>%s</SPACECRAFT_NAME>\n"
            "        <DATATAKE_TYPE>INS-NOBS</DATATAKE_TYPE>\n"
            "        <SENSING_ORBIT_NUMBER>65</SENSING_ORBIT_NUMBER>\n"
            "        <SENSING_ORBIT_DIRECTION>DESCENDING</SENSING_ORBIT_DIRECTION>\n"
            "      </Datatake>\n"
            "      <Query_Options completeSingleTile=\"true\"><PRODUCT_FORMAT>SAFE_COMPACT</PRODUCT_FORMAT></Query_Options>\n"
            "      <Product_Organisation>\n"
            "        <Granule_List>\n"
            "          <Granule datastripIdentifier=\"S2B_OPER_MSI_L2A_DS_2BPS_20220315T123456_S20220315T102430_N04.00\" "
            "granuleIdentifier=\"S2B_OPER_MSI_L2A_TL_2BPS_20220315T123456_A034876_T32UMF_N04.00\" imageFormat=\"JPEG2000\">\n",
            spacecraft);
    /* R60m first, then R20m, then R10m: the reader must pick by native resolution, not order */
    static const char *const r60[] = {"AOT", "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B8A",
                                      "B09", "B11", "B12", "SCL", "TCI", "WVP"};
    static const char *const r20[] = {"AOT", "B01", "B02", "B03", "B04", "B05", "B06", "B07",
                                      "B8A", "B11", "B12", "SCL", "TCI", "WVP"};
    static const char *const r10[] = {"AOT", "B02", "B03", "B04", "B08", "TCI", "WVP"};
    for (size_t i = 0; i < sizeof r60 / sizeof *r60; i++)
        fprintf(f, "            <IMAGE_FILE>" GRAN "/IMG_DATA/R60m/" STEM "_%s_60m</IMAGE_FILE>\n", r60[i]);
    for (size_t i = 0; i < sizeof r20 / sizeof *r20; i++)
        fprintf(f, "            <IMAGE_FILE>" GRAN "/IMG_DATA/R20m/" STEM "_%s_20m</IMAGE_FILE>\n", r20[i]);
    for (size_t i = 0; i < sizeof r10 / sizeof *r10; i++)
        fprintf(f, "            <IMAGE_FILE>" GRAN "/IMG_DATA/R10m/" STEM "_%s_10m</IMAGE_FILE>\n", r10[i]);
    fprintf(f, "          </Granule>\n"
               "        </Granule_List>\n"
               "      </Product_Organisation>\n"
               "    </Product_Info>\n"
               "    <Product_Image_Characteristics>\n"
               "      <Special_Values><SPECIAL_VALUE_TEXT>NODATA</SPECIAL_VALUE_TEXT><SPECIAL_VALUE_INDEX>0</SPECIAL_VALUE_INDEX></Special_Values>\n"
               "      <Special_Values><SPECIAL_VALUE_TEXT>SATURATED</SPECIAL_VALUE_TEXT><SPECIAL_VALUE_INDEX>65535</SPECIAL_VALUE_INDEX></Special_Values>\n"
               "      <Image_Display_Order><RED_CHANNEL>3</RED_CHANNEL><GREEN_CHANNEL>2</GREEN_CHANNEL><BLUE_CHANNEL>1</BLUE_CHANNEL></Image_Display_Order>\n"
               "      <QUANTIFICATION_VALUES_LIST>\n"
               "        <BOA_QUANTIFICATION_VALUE unit=\"none\">10000</BOA_QUANTIFICATION_VALUE>\n");
    if (with_aot)
        fprintf(f, "        <AOT_QUANTIFICATION_VALUE unit=\"none\">1000.0</AOT_QUANTIFICATION_VALUE>\n");
    fprintf(f, "        <WVP_QUANTIFICATION_VALUE unit=\"cm\">1000.0</WVP_QUANTIFICATION_VALUE>\n"
               "      </QUANTIFICATION_VALUES_LIST>\n"
               "      <BOA_ADD_OFFSET_VALUES_LIST>\n");
    for (int b = 0; b < CC_NBANDS; b++)
        fprintf(f, "        <BOA_ADD_OFFSET band_id=\"%d\">-1000</BOA_ADD_OFFSET>\n", b);
    fprintf(f, "      </BOA_ADD_OFFSET_VALUES_LIST>\n"
               "      <Reflectance_Conversion>\n"
               "        <U>0.993789</U>\n"
               "        <Solar_Irradiance_List>\n");
    static const double esun[CC_NBANDS] = {1874.3, 1959.75, 1824.93, 1512.79, 1425.78, 1291.13, 1175.57,
                                           1041.28, 953.93, 817.58, 365.41, 247.08, 87.75};
    for (int b = 0; b < CC_NBANDS; b++)
        fprintf(f, "          <SOLAR_IRRADIANCE bandId=\"%d\" unit=\"W/m²/µm\">%.2f</SOLAR_IRRADIANCE>\n", b,
                esun[b]);
    fprintf(f, "        </Solar_Irradiance_List>\n"
               "      </Reflectance_Conversion>\n"
               "    </Product_Image_Characteristics>\n"
               "  </n1:General_Info>\n"
               "</n1:Level-2A_User_Product>\n");
    if (fclose(f) != 0)
        exit(1);
}

int main(void)
{
    const char *tmp = tu_tmpdir("s2mtd_l2a");
    char p[4096];
    tu_path(p, sizeof p, tmp, "MTD_MSIL2A.xml");
    write_l2a(p, "Sentinel-2B", 1);

    cc_s2_product_mtd m;
    CHECK_OK(cc_s2_mtd_product_read(p, &m));
    CHECK(m.level == CC_LEVEL_L2A);
    CHECK(m.spacecraft == CC_SC_S2B);
    CHECK(strcmp(m.product_id, "S2B_MSIL2A_20220315T102021_N0400_R065_T32UMF_20220315T123456") == 0);
    CHECK(strcmp(m.processing_baseline, "04.00") == 0);
    CHECK(m.year == 2022 && m.month == 3 && m.day == 15);
    CHECK_NEAR(m.quantification, 10000.0, 0);
    CHECK_NEAR(m.aot_quantification, 1000.0, 0);
    CHECK_NEAR(m.wvp_quantification, 1000.0, 0);
    CHECK_NEAR(m.u, 0.993789, 1e-12);
    CHECK_NEAR(m.solar_irradiance[CC_B12], 87.75, 1e-9);
    for (int b = 0; b < CC_NBANDS; b++)
        CHECK(m.radio_offset[b] == -1000.0);
    CHECK(m.granule_dir && strcmp(m.granule_dir, GRAN) == 0);
    for (int b = 0; b < CC_NBANDS; b++) {
        if (b == CC_B10) {
            CHECK(m.image_file[b] == NULL);
            continue;
        }
        char want[256];
        int r = cc_band_resolution[b];
        tu_fmt(want, sizeof want, GRAN "/IMG_DATA/R%dm/" STEM "_%s_%dm", r, cc_band_names[b], r);
        if (!m.image_file[b] || strcmp(m.image_file[b], want) != 0) {
            fprintf(stderr, "FAIL band %s: %s, expected %s\n", cc_band_names[b],
                    m.image_file[b] ? m.image_file[b] : "(null)", want);
            cc_test_failures++;
        }
    }
    CHECK(m.scl_file && strcmp(m.scl_file, GRAN "/IMG_DATA/R20m/" STEM "_SCL_20m") == 0);
    CHECK(m.aot_file && strcmp(m.aot_file, GRAN "/IMG_DATA/R20m/" STEM "_AOT_20m") == 0);
    CHECK(m.wvp_file && strcmp(m.wvp_file, GRAN "/IMG_DATA/R20m/" STEM "_WVP_20m") == 0);
    cc_s2_mtd_product_free(&m);

    /* L2A without AOT_QUANTIFICATION_VALUE */
    tu_path(p, sizeof p, tmp, "MTD_MSIL2A_noaot.xml");
    write_l2a(p, "Sentinel-2B", 0);
    cc_status st = cc_s2_mtd_product_read(p, &m);
    printf("expected failure: %s: %s\n", cc_status_name(st), cc_error_message());
    CHECK(st == CC_ERR_MISSING);
    CHECK(strstr(cc_error_message(), p) && strstr(cc_error_message(), "AOT_QUANTIFICATION_VALUE"));

    /* unknown spacecraft */
    tu_path(p, sizeof p, tmp, "MTD_MSIL2A_s2z.xml");
    write_l2a(p, "Sentinel-2Z", 1);
    st = cc_s2_mtd_product_read(p, &m);
    printf("expected failure: %s: %s\n", cc_status_name(st), cc_error_message());
    CHECK(st == CC_ERR_UNSUPPORTED);
    CHECK(strstr(cc_error_message(), p) && strstr(cc_error_message(), "Sentinel-2Z"));
    TEST_RETURN();
}
