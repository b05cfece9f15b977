/* clearcube: the same-day mosaic of several products of one tile (two
 * datastrips or granules of a pass, or one acquisition reprocessed with a newer
 * processing baseline): cc_scene_open with opt->nmosaic > 0 (io/s2/scene.h). */
#define _GNU_SOURCE /* asprintf */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "io/s2/raster.h"
#include "io/s2/scene-impl.h"

typedef struct {
    cc_scene *s;
    const char *label;
    int order; /* position given */
    size_t contributed;
} part;

/* Newest processing baseline first ("" sorts last), then the order given. */
static int cmp_part(const void *a, const void *b)
{
    const part *x = a, *y = b;
    int c = strcmp(y->s->processing_baseline, x->s->processing_baseline);
    return c ? c : x->order - y->order;
}

/* Same size and geotransform (to 1e-6 of a pixel: one tile grid). */
static int same_raster_grid(const cc_raster_u16 *a, const cc_raster_u16 *b)
{
    if (a->width != b->width || a->height != b->height)
        return 0;
    for (int i = 0; i < 6; i++)
        if (fabs(a->gt[i] - b->gt[i]) > 1e-6 * fabs(a->gt[1]))
            return 0;
    return 1;
}

/* DN of part p re-encoded to the offset of the base (same reflectance). */
static uint16_t reencode(uint16_t dn, double off_from, double off_to, double q_from, double q_to, uint16_t sat)
{
    if (dn == sat)
        return sat;
    double v = ((double)dn + off_from) * (q_to / q_from) - off_to;
    v = nearbyint(v);
    return (uint16_t)(v < 1 ? 1 : v > 65534 ? 65534 : v);
}

/* Fills the nodata pixels of layer l of base from p; returns the pixels filled. */
static size_t fill_layer(cc_scene *base, const cc_scene *p, int l, int band)
{
    cc_raster_u16 *d = cc_scene_layer(base, l);
    const cc_raster_u16 *r = cc_scene_layer((cc_scene *)p, l);
    if (!d->present || !r->present || !d->dn || !r->dn)
        return 0;
    size_t n = (size_t)d->width * (size_t)d->height, filled = 0;
    for (size_t i = 0; i < n; i++) {
        if (d->dn[i] != base->nodata_dn || r->dn[i] == p->nodata_dn)
            continue;
        d->dn[i] = band >= 0 ? reencode(r->dn[i], p->radio_offset[band], base->radio_offset[band],
                                        p->quantification, base->quantification, base->saturated_dn)
                             : r->dn[i];
        filled++;
    }
    return filled;
}

static void fill_grid(cc_angle_grid *d, const cc_angle_grid *r)
{
    if (!d->v || !r->v || d->nx != r->nx || d->ny != r->ny)
        return;
    for (int i = 0; i < d->nx * d->ny; i++)
        if (isnan(d->v[i]))
            d->v[i] = r->v[i];
}

/* CC_ERR_CRS unless p lies on base's grid, layer by layer. */
static cc_status check_same_grid(const part *base, const part *p)
{
    if (!cc_scene_same_crs(base->s->wkt, p->s->wkt))
        return cc_error_set(CC_ERR_CRS, "%s: cannot mosaic with %s: different CRS", p->label, base->label);
    if (base->s->tile_id[0] && p->s->tile_id[0] && strcmp(base->s->tile_id, p->s->tile_id))
        return cc_error_set(CC_ERR_ARG, "%s: cannot mosaic with %s: tile %s, not %s", p->label, base->label,
                            p->s->tile_id, base->s->tile_id);
    if (base->s->year != p->s->year || base->s->month != p->s->month || base->s->day != p->s->day)
        return cc_error_set(CC_ERR_ARG, "%s: cannot mosaic with %s: sensed %04d-%02d-%02d, not %04d-%02d-%02d",
                            p->label, base->label, p->s->year, p->s->month, p->s->day, base->s->year,
                            base->s->month, base->s->day);
    for (int l = 0; l < CC_NLAYERS; l++) {
        const cc_raster_u16 *a = cc_scene_layer(base->s, l), *b = cc_scene_layer(p->s, l);
        if (a->present && b->present && !same_raster_grid(a, b))
            return cc_error_set(CC_ERR_CRS, "%s: cannot mosaic with %s: %s is on another grid", p->label,
                                base->label, cc_scene_layer_name(l));
        if (a->present != b->present && l < CC_NBANDS)
            cc_warn("%s: %s %s in %s only: that band comes from one product", p->label, cc_scene_layer_name(l),
                    a->present ? "is" : "is not", base->label);
    }
    return CC_OK;
}

static size_t valid_count(const cc_scene *s, int b)
{
    const cc_raster_u16 *r = &s->band[b];
    size_t n = (size_t)r->width * (size_t)r->height, k = 0;
    for (size_t i = 0; r->dn && i < n; i++)
        k += r->dn[i] != s->nodata_dn;
    return k;
}

static cc_status write_note(part *p, int n, int fb, cc_scene *base)
{
    size_t cap = 64;
    for (int i = 0; i < n; i++)
        cap += strlen(p[i].s->product_id) + 64;
    char *note = malloc(cap);
    if (!note)
        return cc_error_set(CC_ERR_NOMEM, "mosaic: out of memory");
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(note + len, cap - len, "%s%s (baseline %s): %zu px of %s", i ? "; " : "",
                                p[i].s->product_id, p[i].s->processing_baseline[0] ? p[i].s->processing_baseline : "?",
                                p[i].contributed, cc_band_names[fb]);
    base->mosaic_note = note;
    cc_info("same-day mosaic of %d products: %s", n, note);
    return CC_OK;
}

cc_status cc_scene_open_mosaic(const char *path, const cc_scene_options *opt, cc_scene **out)
{
    const int n = opt->nmosaic + 1;
    part *p = calloc((size_t)n, sizeof *p);
    cc_status st = CC_OK;
    *out = NULL;
    if (!p)
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
    cc_scene_options o = *opt;
    o.mosaic = NULL, o.nmosaic = 0;
    o.defer_bands = 0; /* the mosaic needs every band's pixels */
    for (int i = 0; i < n && st == CC_OK; i++) {
        p[i].label = i ? opt->mosaic[i - 1] : path;
        p[i].order = i;
        st = cc_scene_open(p[i].label, &o, &p[i].s);
    }
    if (st != CC_OK)
        goto out;
    qsort(p, (size_t)n, sizeof *p, cmp_part);
    cc_scene *base = p[0].s;
    int fb = cc_scene_finest_band(base);
    if (fb < 0) {
        st = cc_error_set(CC_ERR_MISSING, "%s: no band to mosaic", p[0].label);
        goto out;
    }
    p[0].contributed = valid_count(base, fb);
    for (int i = 1; i < n && st == CC_OK; i++) {
        if ((st = check_same_grid(&p[0], &p[i])) != CC_OK)
            break;
        for (int l = 0; l < CC_NLAYERS; l++) {
            size_t k = fill_layer(base, p[i].s, l, l < CC_NBANDS ? l : -1);
            if (l == fb)
                p[i].contributed = k;
        }
        fill_grid(&base->sun_zenith, &p[i].s->sun_zenith);
        fill_grid(&base->sun_azimuth, &p[i].s->sun_azimuth);
        for (int b = 0; b < CC_NBANDS; b++) {
            fill_grid(&base->view_zenith[b], &p[i].s->view_zenith[b]);
            fill_grid(&base->view_azimuth[b], &p[i].s->view_azimuth[b]);
        }
        base->checksums_verified += p[i].s->checksums_verified;
    }
    if (st == CC_OK && (st = write_note(p, n, fb, base)) == CC_OK) {
        *out = base;
        p[0].s = NULL;
    }
out:
    for (int i = 0; i < n; i++)
        cc_scene_free(p[i].s);
    free(p);
    return st;
}
