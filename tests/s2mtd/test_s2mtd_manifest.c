/* manifest.safe verification on a SAFE tree generated at test time (real MD5
 * of the files from md5sum, SHA3-256 of a known vector), as a directory and as
 * a /vsizip/ zip; a corrupted byte must give CC_ERR_CHECKSUM naming the file.
 * No shared data needed. */
#include <stdio.h>

#include "core/error.h"
#include "io/s2/s2_mtd.h"
#include "s2mtd_util.h"
#include "testutil.h"

#define SAFE "S2A_MSIL1C_20170301T103021_N0204_R108_T32UMF_20170301T103326.SAFE"
#define B01 "GRANULE/L1C_T32UMF_A008828_20170301T103326/IMG_DATA/T32UMF_20170301T103021_B01.jp2"
#define B02 "GRANULE/L1C_T32UMF_A008828_20170301T103326/IMG_DATA/T32UMF_20170301T103021_B02.jp2"

/* md5sum of a file via the coreutils tool (independent of the library). */
static void md5_of(const char *path, char hex[33])
{
    char cmd[4200];
    tu_fmt(cmd, sizeof cmd, "md5sum '%s'", path);
    FILE *p = popen(cmd, "r");
    if (!p || fscanf(p, "%32s", hex) != 1) {
        fprintf(stderr, "md5sum failed for %s\n", path);
        exit(1);
    }
    pclose(p);
}

static void run(const char *cmd)
{
    if (system(cmd) != 0) {
        fprintf(stderr, "command failed: %s\n", cmd);
        exit(1);
    }
}

/* Writes a file of n pseudo-random bytes. */
static void write_bytes(const char *path, size_t n, unsigned seed)
{
    unsigned char *b = malloc(n);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        b[i] = (unsigned char)(seed >> 16);
    }
    tu_write(path, (const char *)b, n);
    free(b);
}

static void write_manifest(const char *safe, int with_size_b02)
{
    char p[4096], h1[33], h2[33], h3[33];
    tu_path(p, sizeof p, safe, B01);
    md5_of(p, h1);
    tu_path(p, sizeof p, safe, B02);
    md5_of(p, h2);
    tu_path(p, sizeof p, safe, "MTD_MSIL1C.xml");
    md5_of(p, h3);
    tu_path(p, sizeof p, safe, "manifest.safe");
    FILE *f = fopen(p, "w");
    if (!f)
        exit(1);
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<xfdu:XFDU xmlns:xfdu=\"urn:ccsds:schema:xfdu:1\" xmlns:safe=\"http://www.esa.int/safe/sentinel/1.1\" version=\"esa/safe/sentinel/1.1/sentinel-2/msi/archive_l1c_user_product\">\n"
            "  <informationPackageMap><xfdu:contentUnit unitType=\"Product_Level-1C\"/></informationPackageMap>\n"
            "  <metadataSection/>\n"
            "  <dataObjectSection>\n"
            "    <dataObject ID=\"S2_Level-1C_Product_Metadata\">\n"
            "      <byteStream mimeType=\"text/xml\" size=\"4000\">\n"
            "        <fileLocation locatorType=\"URL\" href=\"./MTD_MSIL1C.xml\"/>\n"
            "        <checksum checksumName=\"MD5\">%s</checksum>\n"
            "      </byteStream>\n"
            "    </dataObject>\n"
            "    <dataObject ID=\"IMG_DATA_Band_60m_1_Tile1_Data\">\n"
            "      <byteStream mimeType=\"application/octet-stream\" size=\"4096\">\n"
            "        <fileLocation locatorType=\"URL\" href=\"./" B01 "\"/>\n"
            "        <checksum checksumName=\"MD5\">%s</checksum>\n"
            "      </byteStream>\n"
            "    </dataObject>\n"
            "    <dataObject ID=\"IMG_DATA_Band_10m_1_Tile1_Data\">\n"
            "      <byteStream mimeType=\"application/octet-stream\"%s>\n"
            "        <fileLocation locatorType=\"URL\" href=\"./" B02 "\"/>\n"
            "        <checksum checksumName=\"MD5\">%s</checksum>\n"
            "      </byteStream>\n"
            "    </dataObject>\n"
            "    <dataObject ID=\"Empty_SHA3\">\n"
            "      <byteStream mimeType=\"text/plain\" size=\"0\">\n"
            "        <fileLocation locatorType=\"URL\" href=\"./empty.txt\"/>\n"
            "        <checksum checksumName=\"SHA3-256\">A7FFC6F8BF1ED76651C14756A061D662F580FF4DE43B49FA82D80A4B80F8434A</checksum>\n"
            "      </byteStream>\n"
            "    </dataObject>\n"
            "    <dataObject ID=\"Not_Downloaded\">\n"
            "      <byteStream mimeType=\"application/octet-stream\" size=\"10\">\n"
            "        <fileLocation locatorType=\"URL\" href=\"./GRANULE/absent.jp2\"/>\n"
            "        <checksum checksumName=\"MD5\">00000000000000000000000000000000</checksum>\n"
            "      </byteStream>\n"
            "    </dataObject>\n"
            "  </dataObjectSection>\n"
            "</xfdu:XFDU>\n",
            h3, h1, with_size_b02 ? " size=\"2500000\"" : "", h2);
    fclose(f);
}

static void expect_checksum_error(const char *root, const char *needle)
{
    int n = -1;
    cc_status st = cc_s2_manifest_verify(root, &n);
    const char *msg = cc_error_message();
    printf("expected failure: %s -> %s: %s\n", root, cc_status_name(st), msg);
    CHECK(st == CC_ERR_CHECKSUM);
    CHECK(strstr(msg, needle) != NULL);
    CHECK(strchr(msg, '\n') == NULL);
}

int main(void)
{
    const char *tmp0 = tu_tmpdir("s2mtd_manifest");
    char tmp[4096], safe[4096], p[4096], cmd[16384];
    tu_fmt(tmp, sizeof tmp, "%s", tmp0);
    tu_fmt(safe, sizeof safe, "%s/" SAFE, tmp);
    tu_fmt(cmd, sizeof cmd, "mkdir -p '%s/GRANULE/L1C_T32UMF_A008828_20170301T103326/IMG_DATA'", safe);
    run(cmd);
    tu_path(p, sizeof p, safe, "MTD_MSIL1C.xml");
    write_bytes(p, 4000, 7);
    tu_path(p, sizeof p, safe, B01);
    write_bytes(p, 4096, 1);
    tu_path(p, sizeof p, safe, B02);
    write_bytes(p, 2500000, 2); /* several 1 MiB hashing chunks */
    tu_path(p, sizeof p, safe, "empty.txt");
    tu_write(p, "", 0);

    /* no manifest -> OK, nothing verified */
    int n = -1;
    CHECK_OK(cc_s2_manifest_verify(safe, &n));
    CHECK(n == 0);

    write_manifest(safe, 1);
    n = -1;
    CHECK_OK(cc_s2_manifest_verify(safe, &n));
    CHECK(n == 4); /* MTD, B01, B02, empty.txt; absent.jp2 not counted */

    /* /vsizip/ */
    int have_zip = system("command -v zip >/dev/null 2>&1") == 0;
    if (have_zip) {
        tu_fmt(cmd, sizeof cmd, "cd '%s' && zip -qr good.zip '" SAFE "'", tmp);
        run(cmd);
        tu_fmt(p, sizeof p, "/vsizip/%s/good.zip/" SAFE, tmp);
        n = -1;
        CHECK_OK(cc_s2_manifest_verify(p, &n));
        CHECK(n == 4);
    } else {
        printf("note: `zip` not found, /vsizip/ part skipped\n");
    }

    /* corrupt one byte of B02 (same size) -> checksum error naming it */
    tu_path(p, sizeof p, safe, B02);
    {
        size_t len = 0;
        char *b = tu_read(p, &len);
        b[len / 2] ^= 0x40;
        tu_write(p, b, len);
        free(b);
    }
    expect_checksum_error(safe, "T32UMF_20170301T103021_B02.jp2");
    if (have_zip) {
        tu_fmt(cmd, sizeof cmd, "cd '%s' && zip -qr bad.zip '" SAFE "'", tmp);
        run(cmd);
        tu_fmt(p, sizeof p, "/vsizip/%s/bad.zip/" SAFE, tmp);
        expect_checksum_error(p, "T32UMF_20170301T103021_B02.jp2");
        CHECK(strstr(cc_error_message(), "/vsizip/") != NULL);
    }

    /* truncated file: caught by the size attribute */
    tu_path(p, sizeof p, safe, B01);
    write_bytes(p, 4000, 1);
    expect_checksum_error(safe, "T32UMF_20170301T103021_B01.jp2");

    /* without a size attribute, a corrupted file is still caught by the hash */
    write_bytes(p, 4096, 1); /* B01 restored */
    write_manifest(safe, 0);  /* B02 hash is now of the corrupted file: OK */
    n = -1;
    CHECK_OK(cc_s2_manifest_verify(safe, &n));
    CHECK(n == 4);
    tu_path(p, sizeof p, safe, B02);
    write_bytes(p, 2500000, 3);
    expect_checksum_error(safe, "B02.jp2");

    /* malformed manifests */
    tu_path(p, sizeof p, safe, "manifest.safe");
    tu_write(p, "<xfdu:XFDU><dataObjectSection>", 30);
    n = -1;
    cc_status st = cc_s2_manifest_verify(safe, &n);
    printf("expected failure: %s: %s\n", cc_status_name(st), cc_error_message());
    CHECK(st == CC_ERR_FORMAT && strstr(cc_error_message(), "manifest.safe"));
    const char *evil = "<XFDU><dataObjectSection><dataObject><byteStream>"
                       "<fileLocation href=\"../../etc/passwd\"/><checksum checksumName=\"MD5\">0</checksum>"
                       "</byteStream></dataObject></dataObjectSection></XFDU>";
    tu_write(p, evil, strlen(evil));
    st = cc_s2_manifest_verify(safe, &n);
    printf("expected failure: %s: %s\n", cc_status_name(st), cc_error_message());
    CHECK(st == CC_ERR_FORMAT && strstr(cc_error_message(), "href"));
    tu_write(p, "<XFDU/>", 7);
    st = cc_s2_manifest_verify(safe, &n);
    CHECK(st == CC_ERR_FORMAT && strstr(cc_error_message(), "dataObjectSection"));

    CHECK(cc_s2_manifest_verify(NULL, &n) == CC_ERR_ARG);
    TEST_RETURN();
}
