/* cc_scene_open: the front door of the Sentinel-2 scene readers. It checks
 * the options, tells the input's kind and dispatches to the SAFE reader
 * (s2_safe.c) or the stack readers (stack.c); the helpers those readers share
 * live below them in raster.c, so no reader calls back into this file. */
#define _GNU_SOURCE /* strdup, strndup; struct stat64 behind VSIStatBufL */
#include "io/s2/scene-impl.h"
#include "core/log.h"
#include "io/s2/s2_mtd.h"
#include "io/stac/stac.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cpl_vsi.h>

void cc_scene_options_init(cc_scene_options *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->sun_zenith = o->sun_azimuth = o->view_zenith = o->view_azimuth = NAN;
    o->dn_offset = NAN;
    o->verify_checksums = 1;
}

static void grid_free(cc_angle_grid *g)
{
    free(g->v);
    memset(g, 0, sizeof *g);
}

void cc_scene_free(cc_scene *s)
{
    if (!s)
        return;
    for (int l = 0; l < CC_NLAYERS; l++)
        cc_scene_raster_free(cc_scene_layer(s, l));
    for (int b = 0; b < CC_NBANDS; b++) {
        grid_free(&s->view_zenith[b]);
        grid_free(&s->view_azimuth[b]);
    }
    grid_free(&s->sun_zenith);
    grid_free(&s->sun_azimuth);
    free(s->wkt);
    free(s->mosaic_note);
    free(s);
}

/* ------------------------------------------------------------------------ */
/* dispatch                                                                 */
/* ------------------------------------------------------------------------ */

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcasecmp(s + a - b, suf) == 0;
}

static int exists(const char *dir, const char *name)
{
    VSIStatBufL sb;
    char *p = cc_scene_join(dir, name, NULL);
    int ok = p && VSIStatL(p, &sb) == 0;
    free(p);
    return ok;
}

static cc_status open_any(const char *path, const cc_scene_options *o, cc_scene *s);

/* Fills the unset fields of *o (NaN, NULL) from the item: date (datetime),
 * spacecraft, bands, sun/view angles, dn_offset (band files and stacks only).
 * The strings point into *it. */
static void stac_options(const cc_stac_item *it, cc_scene_options *o)
{
    if (!o->date && it->datetime[0])
        o->date = it->datetime;
    if (!o->spacecraft && it->spacecraft[0])
        o->spacecraft = it->spacecraft;
    if (!o->bands && it->bands[0])
        o->bands = it->bands;
    if (isnan(o->sun_zenith))
        o->sun_zenith = it->sun_zenith;
    if (isnan(o->sun_azimuth))
        o->sun_azimuth = it->sun_azimuth;
    if (isnan(o->view_zenith))
        o->view_zenith = it->view_zenith;
    if (isnan(o->view_azimuth))
        o->view_azimuth = it->view_azimuth;
    if (isnan(o->dn_offset) && it->kind != CC_STAC_PRODUCT) {
        if (!isnan(it->dn_offset))
            o->dn_offset = it->dn_offset;
        else if (it->processing_baseline[0])
            o->dn_offset = strcmp(it->processing_baseline, "04.00") >= 0 ? -1000.0 : 0.0;
    }
}

/* A STAC Item or scene sidecar (io/stac/stac.h): "FILE.json" or "FILE.json#ID".
 * Its metadata fills the options the caller left unset (a SAFE product keeps
 * its own MTD metadata); the tile and processing baseline complete the scene. */
static cc_status open_stac(const char *ref, const cc_scene_options *o, cc_scene *s)
{
    cc_stac_item *it = NULL;
    cc_status st = cc_stac_read_ref(ref, &it);
    if (st != CC_OK)
        return st;
    cc_scene_options o2 = *o;
    stac_options(it, &o2);
    if ((st = cc_stac_check_assets(it, ref)) != CC_OK || (st = cc_scene_check_options(ref, &o2)) != CC_OK)
        goto out;
    /* a SAFE product, also a sidecar's folder that is one by its content, keeps its own metadata */
    int safe = it->kind == CC_STAC_PRODUCT || (it->kind == CC_STAC_STACK && cc_s2_safe_dir(it->href) == 1);
    if (safe) {
        st = open_any(it->href, o, s);
    } else if (it->kind == CC_STAC_STACK) {
        if (cc_stac_is_json(it->href))
            st = cc_error_set(CC_ERR_FORMAT, "%s: item '%s': its data %s is a JSON file, not a raster", ref, it->id,
                              it->href);
        else
            st = open_any(it->href, &o2, s); /* a stack, or a folder of per-band files */
    } else {
        int order[CC_NBANDS], n = 0;
        for (int b = 0; b < CC_NBANDS; b++)
            if (it->band_href[b])
                order[n++] = b;
        st = cc_scene_read_band_files(ref, it->id, (const char *const *)it->band_href, order, n, &o2, s);
    }
    if (st != CC_OK)
        goto out;
    s->elevation = it->elevation;
    if (it->tile[0] && s->tile_id[0] && strcmp(it->tile, s->tile_id))
        cc_warn("%s: the item names tile %s, the product %s; using %s", ref, it->tile, s->tile_id, s->tile_id);
    else if (it->tile[0])
        snprintf(s->tile_id, sizeof s->tile_id, "%s", it->tile);
    if (!safe) {
        snprintf(s->product_id, sizeof s->product_id, "%s", it->id);
        snprintf(s->processing_baseline, sizeof s->processing_baseline, "%s", it->processing_baseline);
        if (!strcmp(it->level, "L2A") && s->level != CC_LEVEL_L2A) {
            s->level = CC_LEVEL_L2A;
            s->aot_quantification = s->wvp_quantification = 1000.0;
        }
    }
out:
    cc_stac_free(it, 1);
    return st;
}

static cc_status open_any(const char *path, const cc_scene_options *o, cc_scene *s)
{
    cc_status st = CC_OK;
    char *root = NULL;
    VSIStatBufL sb;
    if (cc_stac_is_json(path))
        return open_stac(path, o, s);
    if (VSIStatL(path, &sb) != 0)
        return cc_error_set(CC_ERR_IO, "%s: cannot open (%s)", path, strerror(errno ? errno : ENOENT));
    if (VSI_ISDIR(sb.st_mode)) {
        if (cc_s2_safe_dir(path))
            return cc_scene_read_safe(path, path, o, s);
        return cc_scene_read_stack_dir(path, o, s);
    }
    if (has_suffix(path, ".zip")) {
        /* an archive built to attack is refused before GDAL reads an entry;
         * entry sizes are checked by inflating when no checksum will be */
        if ((st = cc_s2_zip_check(path, 0)) != CC_OK)
            return st;
        if ((st = cc_s2_zip_safe_root(path, &root)) == CC_OK && (!o->verify_checksums || !exists(root, "manifest.safe")))
            st = cc_s2_zip_check(path, 1);
        if (st == CC_OK)
            st = cc_scene_read_safe(root, path, o, s);
        free(root);
        return st;
    }
    /* the product metadata file itself: read its SAFE */
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (strcmp(base, "MTD_MSIL1C.xml") == 0 || strcmp(base, "MTD_MSIL2A.xml") == 0) {
        size_t n = (size_t)(base - path);
        root = n ? strndup(path, n - 1) : strdup(".");
        if (!root)
            return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
        st = cc_scene_read_safe(root[0] ? root : "/", path, o, s);
        free(root);
        return st;
    }
    return cc_scene_read_stack_file(path, o, s);
}

cc_status cc_scene_open(const char *path, const cc_scene_options *opt, cc_scene **out)
{
    cc_status st = CC_OK;
    cc_scene_options defaults;
    cc_scene *s = NULL; /* freed here on failure, handed to *out on success */
    if (out)
        *out = NULL;
    if (!path || !*path || !out)
        return cc_error_set(CC_ERR_ARG, "cc_scene_open: no input path given");
    if (!opt) {
        cc_scene_options_init(&defaults);
        opt = &defaults;
    }
    if (GDALGetDriverCount() == 0)
        GDALAllRegister();
    if ((st = cc_scene_check_options(path, opt)) != CC_OK)
        return st;
    if (opt->nmosaic > 0)
        return cc_scene_open_mosaic(path, opt, out);
    s = calloc(1, sizeof *s);
    if (!s)
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
    s->nodata_dn = 0;
    s->saturated_dn = 65535;
    s->elevation = NAN;
    if ((st = open_any(path, opt, s)) != CC_OK)
        goto out;
    if ((st = cc_scene_check_grids(s, path)) != CC_OK)
        goto out;
    if ((st = cc_scene_check_nodata(s, path)) != CC_OK)
        goto out;
    *out = s;
    s = NULL;
out:
    cc_scene_free(s);
    return st;
}
