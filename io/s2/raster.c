/* clearcube: the helpers both scene readers (s2_safe.c, stack.c) and the
 * front door (scene.c) need: layer ids, option and band-list checks, date
 * parsing, GDAL open/CRS/read with captured errors, options applied on top of
 * a reader. This file calls neither reader, so the readers depend on it and
 * scene.c dispatches to them without a circle (see raster.h).
 *
 * Nodata convention: inside clearcube DN 0 is the only nodata value. When a
 * file declares another nodata value (sen2r exports use 65535), the readers
 * map those pixels to 0 as they read them (cc_scene_gdal_read), so no other
 * code needs to know the file's own value. */
#define _GNU_SOURCE /* strdup; struct stat64 behind VSIStatBufL */
#include "io/s2/raster.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <cpl_vsi.h>
#include <ogr_srs_api.h>

#include "core/alloc.h"
#include "core/date.h"
#include "core/log.h"

void cc_scene_raster_free(cc_raster_u16 *r)
{
    free(r->dn);
    free(r->source);
    r->dn = NULL;
    r->source = NULL;
}

/* ------------------------------------------------------------------------ */
/* small helpers                                                            */
/* ------------------------------------------------------------------------ */

cc_raster_u16 *cc_scene_layer(cc_scene *s, int layer)
{
    if (layer >= 0 && layer < CC_NBANDS)
        return &s->band[layer];
    switch (layer) {
    case CC_LAYER_SCL: return &s->scl;
    case CC_LAYER_AOT: return &s->aot;
    case CC_LAYER_WVP: return &s->wvp;
    default: return NULL;
    }
}

const char *cc_scene_layer_name(int layer)
{
    static const char *const l2a[3] = {"SCL", "AOT", "WVP"};
    if (layer >= 0 && layer < CC_NBANDS)
        return cc_band_names[layer];
    if (layer >= CC_NBANDS && layer < CC_NLAYERS)
        return l2a[layer - CC_NBANDS];
    return "?";
}

int cc_scene_layer_index(const char *name)
{
    if (!name)
        return -1;
    if (strcasecmp(name, "SCL") == 0)
        return CC_LAYER_SCL;
    if (strcasecmp(name, "AOT") == 0)
        return CC_LAYER_AOT;
    if (strcasecmp(name, "WVP") == 0)
        return CC_LAYER_WVP;
    return cc_band_index(name);
}

char *cc_scene_join(const char *dir, const char *name, const char *ext)
{
    size_t len = strlen(dir) + strlen(name) + (ext ? strlen(ext) : 0) + 2;
    char *p = malloc(len);
    if (!p) {
        cc_error_set(CC_ERR_NOMEM, "out of memory building a path under %s", dir);
        return NULL;
    }
    size_t dl = strlen(dir);
    int slash = dl > 0 && dir[dl - 1] == '/';
    snprintf(p, len, "%s%s%s%s", dir, slash ? "" : "/", name, ext ? ext : "");
    return p;
}

cc_status cc_scene_parse_bands(const char *input, const char *list, int allow_l2a, int ids[CC_NLAYERS],
                               int *n)
{
    cc_status st = CC_OK;
    int seen[CC_NLAYERS] = {0};
    char **tok = CSLTokenizeString2(list ? list : "", ",", CSLT_STRIPLEADSPACES | CSLT_STRIPENDSPACES);
    int nt = CSLCount(tok);
    *n = 0;
    if (nt == 0) {
        st = cc_error_set(CC_ERR_ARG, "%s: option bands is empty", input);
        goto out;
    }
    for (int i = 0; i < nt; i++) {
        int id = cc_scene_layer_index(tok[i]);
        if (id < 0 || (!allow_l2a && id >= CC_NBANDS)) {
            st = cc_error_set(CC_ERR_ARG, "%s: option bands: unknown band name '%.20s' (B01..B12, B8A%s)",
                              input, tok[i], allow_l2a ? ", SCL, AOT, WVP" : "");
            goto out;
        }
        if (seen[id]) {
            st = cc_error_set(CC_ERR_ARG, "%s: option bands lists %s twice", input, cc_scene_layer_name(id));
            goto out;
        }
        if (*n >= CC_NLAYERS) {
            st = cc_error_set(CC_ERR_ARG, "%s: option bands lists too many bands", input);
            goto out;
        }
        seen[id] = 1;
        ids[(*n)++] = id;
    }
out:
    CSLDestroy(tok);
    return st;
}

cc_status cc_scene_parse_date(const char *input, const char *date, int *y, int *m, int *d, double *t)
{
    cc_datetime dt;
    const char *end = date ? cc_date_scan_datetime(date, 0, &dt) : NULL;
    if (!end || *end || dt.year < 2015 || dt.year > 2100)
        return cc_error_set(CC_ERR_ARG, "%s: option date '%.40s' is not a valid date (YYYY-MM-DD, 2015..2100)",
                            input, date ? date : "(null)");
    *y = dt.year;
    *m = dt.month;
    *d = dt.day;
    *t = cc_datetime_epoch(&dt);
    return CC_OK;
}

static cc_status check_range(const char *input, const char *name, double v, double lo, double hi, int hi_open)
{
    if (isnan(v))
        return CC_OK; /* unset */
    if (!isfinite(v) || v < lo || v > hi || (hi_open && v >= hi))
        return cc_error_set(CC_ERR_ARG, "%s: option %s = %g deg is outside [%g, %g%s", input, name, v, lo, hi,
                            hi_open ? ")" : "]");
    return CC_OK;
}

cc_status cc_scene_check_options(const char *input, const cc_scene_options *o)
{
    cc_status st;
    if ((st = check_range(input, "sun_zenith", o->sun_zenith, 0, 90, 1)) != CC_OK ||
        (st = check_range(input, "sun_azimuth", o->sun_azimuth, 0, 360, 0)) != CC_OK ||
        (st = check_range(input, "view_zenith", o->view_zenith, 0, 60, 0)) != CC_OK ||
        (st = check_range(input, "view_azimuth", o->view_azimuth, 0, 360, 0)) != CC_OK)
        return st;
    if (!isnan(o->dn_offset) && !(fabs(o->dn_offset) <= 65535.0))
        return cc_error_set(CC_ERR_ARG, "%s: option dn_offset = %g is not a usable DN offset", input,
                            o->dn_offset);
    if (o->spacecraft && cc_spacecraft_parse(o->spacecraft) == CC_SC_UNKNOWN)
        return cc_error_set(CC_ERR_UNSUPPORTED, "%s: option spacecraft '%.40s' is not supported (S2A, S2B, S2C)",
                            input, o->spacecraft);
    if (o->date) {
        int y, m, d;
        double t;
        if ((st = cc_scene_parse_date(input, o->date, &y, &m, &d, &t)) != CC_OK)
            return st;
    }
    if (o->bands) {
        int ids[CC_NLAYERS], n;
        if ((st = cc_scene_parse_bands(input, o->bands, 1, ids, &n)) != CC_OK)
            return st;
    }
    return CC_OK;
}

int cc_scene_tile_token(const char *name, char out[8])
{
    if (!name)
        return 0;
    size_t len = strlen(name);
    for (size_t i = 0; i + 6 <= len; i++) {
        const char *t = name + i;
        if (t[0] != 'T' || (i > 0 && isalnum((unsigned char)t[-1])))
            continue;
        if (isdigit((unsigned char)t[1]) && isdigit((unsigned char)t[2]) && isupper((unsigned char)t[3]) &&
            isupper((unsigned char)t[4]) && isupper((unsigned char)t[5]) &&
            (i + 6 == len || !isalnum((unsigned char)t[6]))) {
            memcpy(out, t + 1, 5);
            out[5] = '\0';
            return 1;
        }
    }
    return 0;
}

cc_status cc_scene_const_grid(cc_angle_grid *g, double value, double x0, double y0, double dx, double dy)
{
    float *v = cc_malloc3(1, 1, sizeof(float));
    if (!v)
        return CC_ERR_NOMEM; /* message set by cc_malloc3 */
    free(g->v);
    v[0] = (float)value;
    g->v = v;
    g->nx = g->ny = 1;
    g->x0 = x0;
    g->y0 = y0;
    g->dx = dx;
    g->dy = dy;
    return CC_OK;
}

/* ------------------------------------------------------------------------ */
/* GDAL helpers                                                             */
/* ------------------------------------------------------------------------ */

/* GDAL errors inside a read are reported through our status; warnings go to
 * the debug log. Pushed around every GDAL call that may fail on bad input. */
static void CPL_STDCALL quiet_handler(CPLErr e, CPLErrorNum num, const char *msg)
{
    (void)num;
    if (e == CE_Warning)
        cc_debug("GDAL: %s", msg);
}

void cc_scene_gdal_quiet_begin(void)
{
    CPLPushErrorHandler(quiet_handler);
    CPLErrorReset();
}

/* Copies GDAL's last error message into buf and pops the handler; returns
 * nonzero if GDAL reported a failure since cc_scene_gdal_quiet_begin(). */
int cc_scene_gdal_quiet_end(char *buf, size_t n)
{
    CPLErr e = CPLGetLastErrorType();
    snprintf(buf, n, "%s", CPLGetLastErrorMsg());
    /* one line: GDAL messages sometimes carry newlines */
    for (char *c = buf; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    CPLPopErrorHandler();
    return e == CE_Failure || e == CE_Fatal;
}

cc_status cc_scene_gdal_open(const char *path, cc_status missing_st, GDALDatasetH *ds)
{
    char msg[512];
    VSIStatBufL sb;
    *ds = NULL;
    if (VSIStatL(path, &sb) != 0)
        return cc_error_set(missing_st, "%s: no such file", path);
    if (VSI_ISDIR(sb.st_mode))
        return cc_error_set(CC_ERR_FORMAT, "%s: is a directory, expected a raster file", path);
    /* a file the user may not read is not "a raster no driver recognises" */
    if (strncmp(path, "/vsi", 4) != 0 && access(path, R_OK) != 0 && (errno == EACCES || errno == EPERM))
        return cc_error_set(CC_ERR_IO, "%s: permission denied", path);
    cc_scene_gdal_quiet_begin();
    *ds = GDALOpenEx(path, GDAL_OF_RASTER | GDAL_OF_READONLY, NULL, NULL, NULL);
    cc_scene_gdal_quiet_end(msg, sizeof msg);
    if (!*ds)
        return cc_error_set(CC_ERR_FORMAT, "%s: not a raster GDAL can read (%s)", path,
                            msg[0] ? msg : "no driver recognises it");
    if (GDALGetRasterCount(*ds) < 1 || GDALGetRasterXSize(*ds) < 1 || GDALGetRasterYSize(*ds) < 1) {
        GDALClose(*ds);
        *ds = NULL;
        return cc_error_set(CC_ERR_FORMAT, "%s: raster has no bands or no pixels", path);
    }
    return CC_OK;
}

static int epsg_of(OGRSpatialReferenceH srs)
{
    const char *auth = OSRGetAuthorityName(srs, NULL);
    const char *code = OSRGetAuthorityCode(srs, NULL);
    if ((!auth || !code) && OSRAutoIdentifyEPSG(srs) == OGRERR_NONE) {
        auth = OSRGetAuthorityName(srs, NULL);
        code = OSRGetAuthorityCode(srs, NULL);
    }
    if (auth && code && strcasecmp(auth, "EPSG") == 0)
        return atoi(code);
    return 0;
}

cc_status cc_scene_gdal_crs(GDALDatasetH ds, const char *path, char **wkt, int *epsg)
{
    cc_status st = CC_OK;
    char msg[512];
    *wkt = NULL;
    *epsg = 0;
    OGRSpatialReferenceH srs = GDALGetSpatialRef(ds); /* owned by ds */
    if (!srs || (OSRIsProjected(srs) == 0 && OSRIsGeographic(srs) == 0))
        return cc_error_set(CC_ERR_CRS, "%s: raster has no coordinate reference system", path);
    char *w = NULL;
    cc_scene_gdal_quiet_begin();
    OGRErr e = OSRExportToWkt(srs, &w);
    int ep = epsg_of(srs);
    cc_scene_gdal_quiet_end(msg, sizeof msg);
    if (e != OGRERR_NONE || !w || !*w) {
        st = cc_error_set(CC_ERR_CRS, "%s: cannot export the raster's CRS (%s)", path, msg);
        goto out;
    }
    *wkt = strdup(w);
    if (!*wkt) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    *epsg = ep;
out:
    CPLFree(w);
    return st;
}

int cc_scene_same_crs(const char *wkt_a, const char *wkt_b)
{
    if (!wkt_a || !wkt_b)
        return 0;
    if (strcmp(wkt_a, wkt_b) == 0)
        return 1;
    OGRSpatialReferenceH a = OSRNewSpatialReference(wkt_a);
    OGRSpatialReferenceH b = OSRNewSpatialReference(wkt_b);
    int same = a && b && OSRIsSame(a, b);
    if (a)
        OSRDestroySpatialReference(a);
    if (b)
        OSRDestroySpatialReference(b);
    return same;
}

/* The side of a Sentinel-2 tile, metres (the MGRS grid's 109.8 km:
 * CC_MGRS_TILE_SIZE of io/grid, which io/s2 may not include). */
#define S2_TILE_EXTENT_M 109800.0

/* cc_scene_gdal_read (decode != 0) and cc_scene_gdal_describe (decode == 0). */
static cc_status gdal_read_band(GDALDatasetH ds, const char *path, int bandno, cc_raster_u16 *r, int decode)
{
    cc_status st = CC_OK;
    char msg[512];
    uint16_t *dn = NULL; /* moved into r on success */
    GDALRasterBandH b = GDALGetRasterBand(ds, bandno);
    if (!b)
        return cc_error_set(CC_ERR_FORMAT, "%s: has no band %d", path, bandno);
    GDALDataType t = GDALGetRasterDataType(b);
    if (t != GDT_UInt16 && t != GDT_Byte)
        return cc_error_set(CC_ERR_FORMAT, "%s: band %d is %s; expected UInt16 (or Byte) DN", path, bandno,
                            GDALGetDataTypeName(t));
    const int w = GDALGetRasterXSize(ds), h = GDALGetRasterYSize(ds);
    double gt[6];
    if (GDALGetGeoTransform(ds, gt) != CE_None)
        return cc_error_set(CC_ERR_CRS, "%s: raster has no georeferencing (geotransform)", path);
    if (gt[2] != 0.0 || gt[4] != 0.0 || !(gt[1] > 0.0) || !(gt[5] < 0.0))
        return cc_error_set(CC_ERR_CRS, "%s: not a north-up grid (geotransform %g %g %g %g %g %g)", path, gt[0],
                            gt[1], gt[2], gt[3], gt[4], gt[5]);

    /* sizes from the header are checked before anything is allocated
     * (issue 17): no Sentinel-2 band is larger than its tile, 109.8 km */
    if ((double)w * gt[1] > S2_TILE_EXTENT_M + 2 * gt[1] || (double)h * -gt[5] > S2_TILE_EXTENT_M - 2 * gt[5])
        return cc_error_set(CC_ERR_FORMAT,
                            "%s: band %d is %d x %d pixels of %g m (%.1f x %.1f km), larger than a Sentinel-2 tile "
                            "(%.1f km); not a tile product",
                            path, bandno, w, h, gt[1], w * gt[1] / 1000, h * -gt[5] / 1000, S2_TILE_EXTENT_M / 1000);
    if (!decode)
        goto done;
    snprintf(msg, sizeof msg, "band %d (%d x %d pixels)", bandno, w, h);
    if ((st = cc_mem_check((unsigned long long)w * (unsigned long long)h * sizeof *dn, path, msg)) != CC_OK)
        return st;
    dn = cc_malloc3((size_t)w, (size_t)h, sizeof *dn);
    if (!dn)
        return cc_error_set(CC_ERR_NOMEM, "%s: cannot allocate %d x %d pixels", path, w, h);
    cc_scene_gdal_quiet_begin();
    CPLErr e = GDALRasterIO(b, GF_Read, 0, 0, w, h, dn, w, h, GDT_UInt16, 0, 0);
    int failed = cc_scene_gdal_quiet_end(msg, sizeof msg);
    if (e != CE_None || failed) {
        /* Decoder threads (JPEG 2000) report to the global GDAL handler, not
         * to ours, so the reason may only be in the log. */
        st = cc_error_set(CC_ERR_FORMAT, "%s: cannot decode band %d (%s)", path, bandno,
                          msg[0] ? msg : "decoder failed: corrupt or truncated file, see the log");
        goto out;
    }

    /* The file's own nodata value becomes DN 0 (the only nodata inside clearcube). */
    int has_nd = 0;
    double nd = GDALGetRasterNoDataValue(b, &has_nd);
    if (has_nd && nd != 0.0 && nd >= 1.0 && nd <= 65535.0 && nd == floor(nd)) {
        const uint16_t v = (uint16_t)nd;
        const size_t n = (size_t)w * (size_t)h;
        for (size_t i = 0; i < n; i++)
            if (dn[i] == v)
                dn[i] = 0;
        cc_debug("%s: nodata value %u mapped to DN 0", path, (unsigned)v);
    }

done:;
    char *src = strdup(path);
    if (!src) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    cc_scene_raster_free(r);
    r->present = 1;
    r->width = w;
    r->height = h;
    memcpy(r->gt, gt, sizeof gt);
    r->dn = dn; /* owned by the scene from here */
    r->source = src;
    dn = NULL;
out:
    free(dn);
    return st;
}

cc_status cc_scene_gdal_read(GDALDatasetH ds, const char *path, int bandno, cc_raster_u16 *r)
{
    return gdal_read_band(ds, path, bandno, r, 1);
}

cc_status cc_scene_gdal_describe(GDALDatasetH ds, const char *path, int bandno, cc_raster_u16 *r)
{
    return gdal_read_band(ds, path, bandno, r, 0);
}

/* ------------------------------------------------------------------------ */
/* options on top of a reader                                               */
/* ------------------------------------------------------------------------ */

cc_status cc_scene_apply_options(cc_scene *s, const char *input, const cc_scene_options *o)
{
    cc_status st = CC_OK;
    if (o->spacecraft) {
        cc_spacecraft sc = cc_spacecraft_parse(o->spacecraft);
        if (sc == CC_SC_UNKNOWN)
            return cc_error_set(CC_ERR_UNSUPPORTED, "%s: option spacecraft '%.40s' is not supported", input,
                                o->spacecraft);
        if (s->spacecraft != CC_SC_UNKNOWN && s->spacecraft != sc)
            cc_warn("%s: option spacecraft %s overrides %s from the metadata", input, cc_spacecraft_name(sc),
                    cc_spacecraft_name(s->spacecraft));
        s->spacecraft = sc;
    }
    if (o->date) {
        int y, m, d;
        double t;
        if ((st = cc_scene_parse_date(input, o->date, &y, &m, &d, &t)) != CC_OK)
            return st;
        if (s->year && (s->year != y || s->month != m || s->day != d))
            cc_warn("%s: option date %s overrides the sensing date %04d-%02d-%02d", input, o->date, s->year,
                    s->month, s->day);
        s->year = y;
        s->month = m;
        s->day = d;
        s->sensing_time = t;
    }
    if (!isnan(o->dn_offset))
        for (int b = 0; b < CC_NBANDS; b++)
            s->radio_offset[b] = o->dn_offset;

    /* constant angle grids: one node at the finest band's origin, spacing = its extent */
    int fb = cc_scene_finest_band(s);
    if (fb < 0)
        return CC_OK;
    const cc_raster_u16 *r = &s->band[fb];
    const double x0 = r->gt[0], y0 = r->gt[3], dx = r->gt[1] * r->width, dy = r->gt[5] * r->height;
    if (!isnan(o->sun_zenith) && (st = cc_scene_const_grid(&s->sun_zenith, o->sun_zenith, x0, y0, dx, dy)))
        return st;
    if (!isnan(o->sun_azimuth) && (st = cc_scene_const_grid(&s->sun_azimuth, o->sun_azimuth, x0, y0, dx, dy)))
        return st;
    for (int b = 0; b < CC_NBANDS; b++) {
        if (!s->band[b].present && !s->view_zenith[b].v)
            continue;
        if (!isnan(o->view_zenith) &&
            (st = cc_scene_const_grid(&s->view_zenith[b], o->view_zenith, x0, y0, dx, dy)) != CC_OK)
            return st;
        if (!isnan(o->view_azimuth) &&
            (st = cc_scene_const_grid(&s->view_azimuth[b], o->view_azimuth, x0, y0, dx, dy)) != CC_OK)
            return st;
    }
    return CC_OK;
}

cc_status cc_scene_check_nodata(const cc_scene *s, const char *input)
{
    int any = 0;
    for (int b = 0; b < CC_NBANDS; b++) {
        const cc_raster_u16 *r = &s->band[b];
        if (!r->present)
            continue;
        any = 1;
        if (!r->dn)
            return CC_OK; /* not decoded (defer_bands): read later by window */
        const size_t n = (size_t)r->width * (size_t)r->height;
        for (size_t i = 0; i < n; i++)
            if (r->dn[i] != 0)
                return CC_OK;
    }
    if (!any)
        return cc_error_set(CC_ERR_MISSING, "%s: no spectral band was read", input);
    return cc_error_set(CC_ERR_NODATA, "%s: every band is nodata (all DN 0)", input);
}


int cc_scene_finest_band(const cc_scene *s)
{
    int best = -1;
    for (int b = 0; b < CC_NBANDS; b++) {
        if (!s->band[b].present)
            continue;
        if (best < 0 || s->band[b].gt[1] < s->band[best].gt[1])
            best = b;
    }
    return best;
}

/* "ulx,uly .. lrx,lry (w x h at res m)" of a raster into buf. */
static void extent_text(const cc_raster_u16 *r, char *buf, size_t n)
{
    snprintf(buf, n, "%d x %d px of %g m from (%.2f, %.2f) to (%.2f, %.2f)", r->width, r->height, r->gt[1],
             r->gt[0], r->gt[3], r->gt[0] + r->gt[1] * r->width, r->gt[3] + r->gt[5] * r->height);
}

cc_status cc_scene_check_grids(const cc_scene *s, const char *input)
{
    cc_scene *m = (cc_scene *)s; /* cc_scene_layer takes a mutable scene; nothing is written */
    int ref = -1;
    for (int l = 0; l < CC_NLAYERS && ref < 0; l++)
        if (cc_scene_layer(m, l)->present)
            ref = l;
    if (ref < 0)
        return CC_OK;
    const cc_raster_u16 *a = cc_scene_layer(m, ref);
    for (int l = ref + 1; l < CC_NLAYERS; l++) {
        const cc_raster_u16 *b = cc_scene_layer(m, l);
        if (!b->present)
            continue;
        const double fine = fmin(a->gt[1], b->gt[1]), coarse = fmax(a->gt[1], b->gt[1]);
        const double ew_a = a->gt[1] * a->width, ew_b = b->gt[1] * b->width;
        const double eh_a = -a->gt[5] * a->height, eh_b = -b->gt[5] * b->height;
        int same_res = fabs(a->gt[1] - b->gt[1]) < 1e-9 * coarse && fabs(a->gt[5] - b->gt[5]) < 1e-9 * coarse;
        const double ox = fabs(a->gt[0] - b->gt[0]) / fine, oy = fabs(a->gt[3] - b->gt[3]) / fine;
        int bad;
        if (same_res)
            bad = ox > 0.01 || oy > 0.01 || a->width != b->width || a->height != b->height;
        else /* crops of coarser bands may start up to a coarse pixel apart, on the finer grid */
            bad = fabs(ox - floor(ox + 0.5)) > 0.01 || fabs(oy - floor(oy + 0.5)) > 0.01 || ox * fine >= coarse ||
                  oy * fine >= coarse || fabs(ew_a - ew_b) >= coarse || fabs(eh_a - eh_b) >= coarse;
        if (bad) {
            char ea[160], eb[160];
            extent_text(a, ea, sizeof ea);
            extent_text(b, eb, sizeof eb);
            return cc_error_set(CC_ERR_CRS, "%s: band %s (%s) does not lie on the grid of %s (%s)", input,
                                cc_scene_layer_name(l), eb, cc_scene_layer_name(ref), ea);
        }
    }
    return CC_OK;
}

cc_status cc_scene_require_projected(const char *wkt, const char *path)
{
    OGRSpatialReferenceH srs = OSRNewSpatialReference(wkt);
    int geographic = srs && OSRIsGeographic(srs) && !OSRIsProjected(srs);
    if (srs)
        OSRDestroySpatialReference(srs);
    if (geographic)
        return cc_error_set(CC_ERR_CRS,
                            "%s: raster is in a geographic CRS (degrees), not a projected UTM grid in metres; "
                            "reproject it first (gdalwarp -t_srs EPSG:326zz -tr 10 10)",
                            path);
    return CC_OK;
}
