/* Product metadata (MTD_MSIL1C.xml) on the real T32UMF file, a PB 04.00
 * variant derived from it, and malformed inputs. */
#include <math.h>

#include "core/error.h"
#include "io/s2/s2_mtd.h"
#include "s2mtd_util.h"
#include "testutil.h"

static const char *const GRANULE = "GRANULE/L1C_T32UMF_A008828_20170301T103326";

/* Runs the reader on `path`, expects `want`, and checks the message names the file. */
static void expect_fail(const char *path, cc_status want, const char *needle)
{
    cc_s2_product_mtd m;
    tu_check_failure(path, cc_s2_mtd_product_read(path, &m), want, needle);
    /* out is zeroed on failure, so free is harmless */
    CHECK(m.granule_dir == NULL && m.image_file[0] == NULL);
    cc_s2_mtd_product_free(&m);
}

static void check_real(const char *path)
{
    cc_s2_product_mtd m;
    CHECK_OK(cc_s2_mtd_product_read(path, &m));
    CHECK(m.level == CC_LEVEL_L1C);
    CHECK(m.spacecraft == CC_SC_S2A);
    CHECK(strcmp(m.product_id, "S2A_MSIL1C_20170301T103021_N0204_R108_T32UMF_20170301T103326") == 0);
    CHECK(strcmp(m.processing_baseline, "02.04") == 0);
    CHECK(m.year == 2017 && m.month == 3 && m.day == 1);
    CHECK_NEAR(m.sensing_time, 1488364221.026, 1e-3);
    CHECK_NEAR(m.quantification, 10000.0, 0);
    CHECK_NEAR(m.u, 1.02046455869939, 1e-14);
    CHECK_NEAR(m.solar_irradiance[CC_B01], 1913.57, 1e-9);
    CHECK_NEAR(m.solar_irradiance[CC_B8A], 955.19, 1e-9);
    CHECK_NEAR(m.solar_irradiance[CC_B12], 85.25, 1e-9);
    for (int b = 0; b < CC_NBANDS; b++)
        CHECK(m.radio_offset[b] == 0.0);
    CHECK(m.aot_quantification == 0.0 && m.wvp_quantification == 0.0);
    CHECK(m.nodata_dn == 0 && m.saturated_dn == 65535);
    CHECK(m.granule_dir && strcmp(m.granule_dir, GRANULE) == 0);
    for (int b = 0; b < CC_NBANDS; b++) {
        char want[256];
        tu_fmt(want, sizeof want, "%s/IMG_DATA/T32UMF_20170301T103021_%s", GRANULE, cc_band_names[b]);
        CHECK(m.image_file[b] != NULL);
        if (m.image_file[b] && strcmp(m.image_file[b], want) != 0) {
            fprintf(stderr, "FAIL band %s: %s != %s\n", cc_band_names[b], m.image_file[b], want);
            cc_test_failures++;
        }
    }
    CHECK(m.scl_file == NULL && m.aot_file == NULL && m.wvp_file == NULL);
    cc_s2_mtd_product_free(&m);
    cc_s2_mtd_product_free(&m); /* idempotent */
}

int main(void)
{
    const char *shared = cc_test_shared_or_skip();
    char real[4096], p[4096];
    tu_fmt(real, sizeof real, "%s/datasets/s2-l1c-metadata-T32UMF-20170301/MTD_MSIL1C.xml", shared);
    const char *tmp = tu_tmpdir("s2mtd_product");
    size_t len = 0;
    char *text = tu_read(real, &len);

    check_real(real);

    /* PB 04.00 variant with RADIO_ADD_OFFSET -1000 (edited copy of the real file). */
    {
        char offs[2048] = "<QUANTIFICATION_VALUE unit=\"none\">10000</QUANTIFICATION_VALUE>\n"
                          "<Radiometric_Offset_List>\n";
        for (int b = 0; b < CC_NBANDS; b++) {
            char line[96];
            tu_fmt(line, sizeof line, "  <RADIO_ADD_OFFSET band_id=\"%d\">-1000</RADIO_ADD_OFFSET>\n", b);
            strcat(offs, line);
        }
        strcat(offs, "</Radiometric_Offset_List>");
        char *t1 = tu_replace(text, "<PROCESSING_BASELINE>02.04</PROCESSING_BASELINE>",
                              "<PROCESSING_BASELINE>04.00</PROCESSING_BASELINE>");
        char *t2 = tu_replace(t1, "<QUANTIFICATION_VALUE unit=\"none\">10000</QUANTIFICATION_VALUE>", offs);
        tu_path(p, sizeof p, tmp, "MTD_MSIL1C_pb0400.xml");
        tu_write(p, t2, strlen(t2));
        cc_s2_product_mtd m;
        CHECK_OK(cc_s2_mtd_product_read(p, &m));
        CHECK(strcmp(m.processing_baseline, "04.00") == 0);
        for (int b = 0; b < CC_NBANDS; b++)
            CHECK(m.radio_offset[b] == -1000.0);
        CHECK_NEAR(m.quantification, 10000.0, 0);
        CHECK(m.image_file[CC_B10] != NULL);
        cc_s2_mtd_product_free(&m);
        free(t1);
        free(t2);
    }

    /* Through /vsizip/: the same file inside a zip built with `zip`. */
    if (system("command -v zip >/dev/null 2>&1") == 0) {
        char cmd[8192];
        tu_fmt(cmd, sizeof cmd, "cp '%s' '%s/MTD_MSIL1C.xml' && cd '%s' && zip -q mtd.zip MTD_MSIL1C.xml",
                 real, tmp, tmp);
        CHECK(system(cmd) == 0);
        tu_fmt(p, sizeof p, "/vsizip/%s/mtd.zip/MTD_MSIL1C.xml", tmp);
        check_real(p);
    } else {
        printf("note: `zip` not found, /vsizip/ part skipped\n");
    }

    /* Malformed inputs: each a specific status and a message naming the file. */
    tu_path(p, sizeof p, tmp, "does_not_exist.xml");
    expect_fail(p, CC_ERR_IO, "cannot open");

    tu_path(p, sizeof p, tmp, "not_xml.xml");
    tu_write(p, "this is not XML <<< \x01\x02 at all\n", 30);
    expect_fail(p, CC_ERR_FORMAT, "XML");

    tu_path(p, sizeof p, tmp, "truncated.xml");
    tu_write(p, text, len / 2);
    expect_fail(p, CC_ERR_FORMAT, "XML");

    tu_variant(p, sizeof p, tmp, "no_quantification.xml", text,
               "<QUANTIFICATION_VALUE unit=\"none\">10000</QUANTIFICATION_VALUE>", "");
    expect_fail(p, CC_ERR_MISSING, "QUANTIFICATION_VALUE");
    tu_variant(p, sizeof p, tmp, "bad_quantification.xml", text,
               "<QUANTIFICATION_VALUE unit=\"none\">10000</QUANTIFICATION_VALUE>",
               "<QUANTIFICATION_VALUE unit=\"none\">10k</QUANTIFICATION_VALUE>");
    expect_fail(p, CC_ERR_FORMAT, "bad number '10k'");
    tu_variant(p, sizeof p, tmp, "sentinel2z.xml", text, "<SPACECRAFT_NAME>Sentinel-2A</SPACECRAFT_NAME>",
               "<SPACECRAFT_NAME>Sentinel-2Z</SPACECRAFT_NAME>");
    expect_fail(p, CC_ERR_UNSUPPORTED, "Sentinel-2Z");
    tu_variant(p, sizeof p, tmp, "no_u.xml", text, "<U>1.02046455869939</U>", "");
    expect_fail(p, CC_ERR_MISSING, "U");
    tu_variant(p, sizeof p, tmp, "bad_time.xml", text, "2017-03-01T10:30:21.026Z", "yesterday");
    expect_fail(p, CC_ERR_FORMAT, "PRODUCT_START_TIME");
    {
        tu_path(p, sizeof p, tmp, "other.xml");
        const char *doc = "<?xml version=\"1.0\"?><foo><bar>1</bar></foo>\n";
        tu_write(p, doc, strlen(doc));
        expect_fail(p, CC_ERR_FORMAT, "foo");
    }
    /* a tile metadata file is not a product metadata file */
    tu_fmt(p, sizeof p, "%s/datasets/s2-l1c-metadata-T32UMF-20170301/MTD_TL.xml", shared);
    expect_fail(p, CC_ERR_FORMAT, "Level-1C_Tile_ID");

    cc_s2_mtd_product_free(NULL);
    free(text);
    TEST_RETURN();
}
