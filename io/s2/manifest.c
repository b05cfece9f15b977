/* manifest.safe checksum verification (design.md, "Integrity of inputs").
 *
 * ESA SAFE manifests list every file as
 *   <dataObject ID="..."><byteStream mimeType="..." size="N">
 *     <fileLocation locatorType="URL" href="./GRANULE/.../B01.jp2"/>
 *     <checksum checksumName="MD5">hex</checksum>   (SHA3-256 in newer products)
 *   </byteStream></dataObject>
 * The manifest is parsed with CPL mini-XML and files are read through VSI, so
 * a SAFE inside a .zip (/vsizip/...) works the same as a directory. */
#define _GNU_SOURCE /* strdup, strndup; struct stat64 behind VSIStatBufL */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_minixml.h>
#include <cpl_string.h>
#include <cpl_vsi.h>
#include <openssl/evp.h>

#include "core/log.h"
#include "io/s2/s2_mtd.h"

#define CC_HASH_CHUNK (1 << 20)

/* Hex digest of a VSI file of expect_size bytes (from VSIStatL) with the given
 * EVP algorithm into hex (>= 2*EVP_MAX_MD_SIZE+1); buf is a CC_HASH_CHUNK scratch. */
static cc_status hash_file(const char *path, unsigned long long expect_size, const EVP_MD *md,
                           char *hex, size_t hexsz, unsigned char *buf)
{
    cc_status st = CC_OK;
    VSILFILE *fp = NULL;
    EVP_MD_CTX *ctx = NULL;
    unsigned char dig[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;

    fp = VSIFOpenL(path, "rb");
    if (!fp) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot open for checksum verification", path);
        goto out;
    }
    ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, md, NULL) != 1) {
        st = cc_error_set(CC_ERR_INTERNAL, "%s: cannot initialise %s digest", path, EVP_MD_get0_name(md));
        goto out;
    }
    /* Read to the end; a short count is not an error by itself (archive
     * streams may return less), so compare the total with the stat size. */
    unsigned long long total = 0;
    for (;;) {
        size_t n = VSIFReadL(buf, 1, CC_HASH_CHUNK, fp);
        if (n == 0)
            break;
        if (EVP_DigestUpdate(ctx, buf, n) != 1) {
            st = cc_error_set(CC_ERR_INTERNAL, "%s: digest update failed", path);
            goto out;
        }
        total += n;
    }
    if (total != expect_size) {
        st = cc_error_set(CC_ERR_IO, "%s: read error while verifying checksum (%llu of %llu bytes)",
                          path, total, expect_size);
        goto out;
    }
    if (EVP_DigestFinal_ex(ctx, dig, &dlen) != 1 || 2 * (size_t)dlen + 1 > hexsz) {
        st = cc_error_set(CC_ERR_INTERNAL, "%s: digest finalisation failed", path);
        goto out;
    }
    for (unsigned int i = 0; i < dlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", dig[i]);
    hex[2 * dlen] = '\0';
out:
    EVP_MD_CTX_free(ctx);
    if (fp)
        VSIFCloseL(fp);
    return st;
}

/* EVP algorithm for a manifest checksumName, NULL if not supported. */
static const EVP_MD *digest_for(const char *name)
{
    if (!name)
        return NULL;
    if (EQUAL(name, "MD5"))
        return EVP_md5();
    if (EQUAL(name, "SHA3-256") || EQUAL(name, "SHA3_256") || EQUAL(name, "SHA3256"))
        return EVP_sha3_256();
    if (EQUAL(name, "SHA-256") || EQUAL(name, "SHA256"))
        return EVP_sha256();
    return NULL;
}

/* href relative to the SAFE root without "./"; rejects absolute paths and "..". */
static cc_status clean_href(const char *mpath, const char *href, const char **rel)
{
    while (href[0] == '.' && href[1] == '/')
        href += 2;
    int dotdot = strcmp(href, "..") == 0 || strncmp(href, "../", 3) == 0 || strstr(href, "/../") ||
                 (strlen(href) >= 3 && strcmp(href + strlen(href) - 3, "/..") == 0);
    if (!*href || href[0] == '/' || dotdot || strchr(href, ':') || strchr(href, '\\'))
        return cc_error_set(CC_ERR_FORMAT, "%s: unsafe or empty fileLocation href '%.100s'", mpath,
                            href);
    *rel = href;
    return CC_OK;
}

/* Verifies one byteStream. *counted is set when the file existed and was hashed. */
static cc_status verify_stream(const char *safe_root, const char *mpath, CPLXMLNode *bs,
                               unsigned char *buf, int *counted)
{
    cc_status st = CC_OK;
    char *full = NULL;
    *counted = 0;
    const char *href = CPLGetXMLValue(bs, "fileLocation.href", NULL);
    const char *sum = CPLGetXMLValue(bs, "checksum", NULL);
    const char *algo = CPLGetXMLValue(bs, "checksum.checksumName", NULL);
    const char *rel = NULL;
    if (!href)
        return cc_error_set(CC_ERR_FORMAT, "%s: byteStream without fileLocation href", mpath);
    st = clean_href(mpath, href, &rel);
    if (st != CC_OK)
        return st;
    if (!sum) {
        cc_debug("%s: no checksum for %s", mpath, rel);
        return CC_OK;
    }
    const EVP_MD *md = digest_for(algo);
    if (!md) {
        cc_warn("%s: unsupported checksum algorithm '%s' for %s (not verified)", mpath,
                algo ? algo : "(none)", rel);
        return CC_OK;
    }
    size_t len = strlen(safe_root) + strlen(rel) + 2;
    full = malloc(len);
    if (!full)
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", mpath);
    snprintf(full, len, "%s/%s", safe_root, rel);

    VSIStatBufL sb;
    if (VSIStatL(full, &sb) != 0 || VSI_ISDIR(sb.st_mode)) {
        cc_debug("%s: %s not present, not verified", mpath, rel);
        goto out;
    }
    const char *size_s = CPLGetXMLValue(bs, "size", NULL);
    if (size_s) {
        char *end = NULL;
        unsigned long long want = strtoull(size_s, &end, 10);
        if (end != size_s && *end == '\0' && (unsigned long long)sb.st_size != want) {
            st = cc_error_set(CC_ERR_CHECKSUM,
                              "%s: size %llu bytes, manifest.safe says %llu (corrupt or incomplete file)",
                              full, (unsigned long long)sb.st_size, want);
            goto out;
        }
    }
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    st = hash_file(full, (unsigned long long)sb.st_size, md, hex, sizeof hex, buf);
    if (st != CC_OK)
        goto out;
    /* trim the expected value */
    while (isspace((unsigned char)*sum))
        sum++;
    size_t sl = strlen(sum);
    while (sl > 0 && isspace((unsigned char)sum[sl - 1]))
        sl--;
    if (sl != strlen(hex) || strncasecmp(sum, hex, sl) != 0) {
        st = cc_error_set(CC_ERR_CHECKSUM, "%s: %s checksum mismatch (manifest.safe %.*s, file %s)", full,
                          algo, (int)(sl > 64 ? 64 : sl), sum, hex);
        goto out;
    }
    *counted = 1;
out:
    free(full);
    return st;
}

cc_status cc_s2_manifest_verify(const char *safe_root, int *n_verified)
{
    cc_status st = CC_OK;
    CPLXMLNode *doc = NULL;
    char *mpath = NULL;
    unsigned char *buf = NULL;
    int n = 0;
    if (n_verified)
        *n_verified = 0;
    if (!safe_root || !*safe_root || !n_verified)
        return cc_error_set(CC_ERR_ARG, "cc_s2_manifest_verify: no SAFE root given");

    size_t len = strlen(safe_root) + sizeof "/manifest.safe";
    mpath = malloc(len);
    if (!mpath)
        return cc_error_set(CC_ERR_NOMEM, "out of memory");
    snprintf(mpath, len, "%s/manifest.safe", safe_root);

    VSIStatBufL sb;
    if (VSIStatL(mpath, &sb) != 0)
        goto out; /* no manifest: caller logs it */

    CPLPushErrorHandler(CPLQuietErrorHandler);
    CPLErrorReset();
    doc = CPLParseXMLFile(mpath);
    char reason[256];
    snprintf(reason, sizeof reason, "%s", CPLGetLastErrorMsg());
    CPLPopErrorHandler();
    if (!doc) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: not a well-formed XML document (%s)", mpath,
                          reason[0] ? reason : "parser gave no reason");
        goto out;
    }
    CPLStripXMLNamespace(doc, NULL, TRUE);
    CPLXMLNode *sec = NULL;
    for (CPLXMLNode *r = doc; r && !sec; r = r->psNext)
        if (r->eType == CXT_Element)
            sec = CPLSearchXMLNode(r, "dataObjectSection");
    if (!sec || sec->eType != CXT_Element) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: missing element dataObjectSection", mpath);
        goto out;
    }
    buf = malloc(CC_HASH_CHUNK);
    if (!buf) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", mpath);
        goto out;
    }
    for (CPLXMLNode *obj = sec->psChild; obj; obj = obj->psNext) {
        if (obj->eType != CXT_Element || !EQUAL(obj->pszValue, "dataObject"))
            continue;
        for (CPLXMLNode *bs = obj->psChild; bs; bs = bs->psNext) {
            if (bs->eType != CXT_Element || !EQUAL(bs->pszValue, "byteStream"))
                continue;
            int counted = 0;
            st = verify_stream(safe_root, mpath, bs, buf, &counted);
            if (st != CC_OK)
                goto out;
            n += counted;
        }
    }
    *n_verified = n;
out:
    if (doc)
        CPLDestroyXMLNode(doc);
    free(buf);
    free(mpath);
    return st;
}
