/* The reference L2A processor: resample every band onto one grid, retrieve the
 * atmosphere (or take it from options), invert SMAC per pixel and band, and
 * encode L2A DN. Deterministic and independent of the thread count: every
 * pixel is computed independently and the retrievals are order-free. */
#include "pipeline/atmos/reference.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/reflectance.h"
#include "core/version.h"
#include "io/cube.h"
#include "pipeline/atmos/atmos.h"
#include "kernels/smac/smac.h"

const int cc_l2a_bands[CC_L2A_NBANDS] = {CC_B01, CC_B02, CC_B03, CC_B04, CC_B05, CC_B06,
                                         CC_B07, CC_B08, CC_B8A, CC_B09, CC_B11, CC_B12};

#define CC_DEFAULT_WV CC_ATMOS_DEFAULT_WV
#define CC_DEFAULT_OZONE CC_ATMOS_DEFAULT_UO3

void cc_reference_options_init(cc_reference_options *o)
{
    o->aot550 = NAN;
    o->water_vapour = NAN;
    o->elevation_m = NAN;
    o->dem_path = NULL;
    o->ozone = CC_DEFAULT_OZONE;
    o->resolution = 0;
}

void cc_reference_result_free(cc_reference_result *r)
{
    for (int i = 0; i < CC_L2A_NBANDS; i++)
        free(r->boa[i]);
    free(r->aot);
    free(r->wvp);
    memset(r, 0, sizeof *r);
}

/* Output DN offset from the input's processing baseline (or its radiometric
 * offset when the baseline is unknown, e.g. band stacks). */
double cc_reference_output_dn_offset(const cc_scene *s)
{
    if (s->processing_baseline[0])
        return atof(s->processing_baseline) >= 4.0 ? 1000.0 : 0.0;
    for (int b = 0; b < CC_NBANDS; b++)
        if (s->band[b].present)
            return s->radio_offset[b] <= -999.5 ? 1000.0 : 0.0;
    return 0.0;
}

static cc_status check_options(const cc_scene *s, const cc_reference_options *o)
{
    if (!isnan(o->aot550) && (o->aot550 < 0 || o->aot550 > 3))
        return cc_error_set(CC_ERR_ARG, "--aot %g: outside [0, 3]", o->aot550);
    if (!isnan(o->water_vapour) && (o->water_vapour < 0 || o->water_vapour > 8))
        return cc_error_set(CC_ERR_ARG, "--water-vapour %g: outside [0, 8] g cm-2", o->water_vapour);
    if (!isnan(o->elevation_m) && (o->elevation_m < -500 || o->elevation_m > 9000))
        return cc_error_set(CC_ERR_ARG, "--elevation %g: outside [-500, 9000] m", o->elevation_m);
    if (!isnan(o->elevation_m) && o->dem_path)
        return cc_error_set(CC_ERR_ARG, "--elevation and --dem are mutually exclusive");
    if (o->ozone <= 0 || o->ozone > 1)
        return cc_error_set(CC_ERR_ARG, "--ozone %g: outside (0, 1] cm-atm", o->ozone);
    if (s->level != CC_LEVEL_L1C)
        return cc_error_set(CC_ERR_ARG, "%s: input is already Level-2A; the reference processor needs L1C",
                            s->product_id);
    if (!cc_smac_coefs_get(s->spacecraft, CC_B02))
        return cc_error_set(CC_ERR_UNSUPPORTED, "%s: no SMAC coefficients for spacecraft %s",
                            s->product_id, cc_spacecraft_name(s->spacecraft));
    if (!(s->quantification > 0))
        return cc_error_set(CC_ERR_FORMAT, "%s: quantification value missing", s->product_id);
    return CC_OK;
}

/* Buffers of steps 1-5, on r->grid. */
typedef struct {
    float *toa[CC_NBANDS];
    float *wv, *pres, *sun_z, *sun_a;
    double mean_sz, mean_sa, mean_vz, mean_va;
} prep_buffers;

static void prep_free(prep_buffers *p)
{
    for (int b = 0; b < CC_NBANDS; b++)
        free(p->toa[b]);
    free(p->wv);
    free(p->pres);
    free(p->sun_z);
    free(p->sun_a);
    memset(p, 0, sizeof *p);
}

/* 1. TOA reflectance of every band on the grid (NaN = nodata). */
static cc_status prep_toa(const cc_scene *s, const cc_grid *g, prep_buffers *p)
{
    size_t n = cc_grid_npix(g);
    float **toa = p->toa;
    for (int b = 0; b < CC_NBANDS; b++) {
        if (!s->band[b].present || b == CC_B10)
            continue;
        if (!(toa[b] = cc_malloc3(n, sizeof(float), 1)))
            return CC_ERR_NOMEM;
        cc_status st = cc_grid_resample_band(&s->band[b], s->wkt, g, toa[b]);
        if (st != CC_OK)
            return st;
        cc_refl_decode_band(toa[b], n, s->radio_offset[b], s->quantification);
    }
    return CC_OK;
}

/* 2. Geometry per pixel (sun) and scene means. */
static cc_status prep_geometry(const cc_scene *s, const cc_grid *g, prep_buffers *p)
{
    size_t n = cc_grid_npix(g);
    float *sun_z = p->sun_z = cc_malloc3(n, sizeof(float), 1);
    float *sun_a = p->sun_a = cc_malloc3(n, sizeof(float), 1);
    if (!sun_z || !sun_a)
        return CC_ERR_NOMEM;
    for (int row = 0; row < g->height; row++)
        for (int col = 0; col < g->width; col++) {
            double x, y;
            cc_grid_xy(g, col, row, &x, &y);
            size_t i = (size_t)row * g->width + col;
            sun_z[i] = (float)cc_angle_grid_sample(&s->sun_zenith, x, y);
            sun_a[i] = (float)cc_angle_grid_sample_azimuth(&s->sun_azimuth, x, y);
        }
    double mean_sz = cc_angle_grid_mean(&s->sun_zenith), mean_sa = cc_angle_grid_mean(&s->sun_azimuth);
    double mean_vz = 0, mean_va = 0;
    int nvb = 0;
    for (int b = 0; b < CC_NBANDS; b++)
        if (p->toa[b] && s->view_zenith[b].v) {
            mean_vz += cc_angle_grid_mean(&s->view_zenith[b]);
            mean_va += cc_angle_grid_mean(&s->view_azimuth[b]);
            nvb++;
        }
    if (nvb == 0 || isnan(mean_sz) || isnan(mean_sa) || isnan(mean_vz))
        return cc_error_set(CC_ERR_MISSING, "%s: sun or viewing angles are missing", s->product_id);
    mean_vz /= nvb;
    mean_va /= nvb;
    p->mean_sz = mean_sz;
    p->mean_sa = mean_sa;
    p->mean_vz = mean_vz;
    p->mean_va = mean_va;
    if (mean_sz >= 85.0)
        return cc_error_set(CC_ERR_ARG, "%s: sun zenith %.1f deg is too low a sun for SMAC", s->product_id,
                            mean_sz);
    return CC_OK;
}

/* 3. Pressure: sea level, from --elevation, or per pixel from a DEM (its mean
 * where the DEM has no valid value). */
static cc_status prep_pressure(const cc_reference_options *o, const cc_grid *g, cc_reference_result *r,
                               prep_buffers *p)
{
    size_t n = cc_grid_npix(g);
    r->pressure_source = "sea level";
    r->pressure_hpa = 1013.25;
    if (!isnan(o->elevation_m)) {
        r->pressure_hpa = cc_smac_pressure_from_elevation(o->elevation_m);
        r->pressure_source = "elevation";
        return CC_OK;
    }
    if (!o->dem_path)
        return CC_OK;
    float *pres = p->pres = cc_malloc3(n, sizeof(float), 1);
    if (!pres)
        return CC_ERR_NOMEM;
    cc_status st = cc_grid_read_raster(o->dem_path, g, pres);
    if (st != CC_OK)
        return st;
    double sum = 0;
    size_t cnt = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(pres[i]) || pres[i] < -500 || pres[i] > 9000) {
            pres[i] = NAN;
            continue;
        }
        pres[i] = (float)cc_smac_pressure_from_elevation(pres[i]);
        sum += pres[i];
        cnt++;
    }
    if (cnt == 0)
        return cc_error_set(CC_ERR_NODATA, "%s: DEM has no valid elevation over the scene", o->dem_path);
    r->pressure_hpa = sum / cnt;
    for (size_t i = 0; i < n; i++)
        if (isnan(pres[i]))
            pres[i] = (float)r->pressure_hpa;
    r->pressure_source = "DEM";
    return CC_OK;
}

/* 4. Water vapour: the option, the B9 retrieval, or the default when nothing is
 * retrievable (a warning, not an error). */
static cc_status prep_water_vapour(const cc_scene *s, const cc_reference_options *o, const cc_atmos_input *ain,
                                   cc_reference_result *r, prep_buffers *p)
{
    size_t n = ain->n;
    float *wv = p->wv = cc_malloc3(n, sizeof(float), 1);
    if (!wv)
        return CC_ERR_NOMEM;
    if (!isnan(o->water_vapour)) {
        r->water_vapour = o->water_vapour;
        r->wv_source = "option";
        for (size_t i = 0; i < n; i++)
            wv[i] = (float)o->water_vapour;
        return CC_OK;
    }
    size_t nv = 0;
    cc_status st = cc_atmos_retrieve_wv(ain, wv, &r->water_vapour, &nv);
    if (st == CC_OK && nv > 0) {
        r->wv_source = p->toa[CC_B8A] ? "B9/B8A" : "B9/B8";
    } else {
        cc_warn("%s: water vapour not retrievable (%s); using %.1f g cm-2", s->product_id,
                st == CC_OK ? "no valid pixel" : cc_error_message(), CC_DEFAULT_WV);
        r->water_vapour = CC_DEFAULT_WV;
        r->wv_source = "default";
        for (size_t i = 0; i < n; i++)
            wv[i] = (float)CC_DEFAULT_WV;
    }
    return CC_OK;
}

/* Steps 1-5: grid, TOA reflectance, geometry, pressure, water vapour,
 * aerosol. Fills r's grid and atmosphere fields and p's buffers; on failure
 * the caller frees both. */
static cc_status prepare(const cc_scene *s, const cc_reference_options *o, cc_reference_result *r,
                         prep_buffers *p)
{
    cc_status st;
    if ((st = check_options(s, o)) != CC_OK)
        return st;
    if ((st = cc_grid_for_scene(s, o->resolution, &r->grid)) != CC_OK)
        return st;
    const cc_grid *g = &r->grid;
    size_t n = cc_grid_npix(g);
    cc_info("reference: %s on a %dx%d grid at %g m", s->product_id, g->width, g->height, g->gt[1]);
    if ((st = prep_toa(s, g, p)) != CC_OK || (st = prep_geometry(s, g, p)) != CC_OK ||
        (st = prep_pressure(o, g, r, p)) != CC_OK)
        return st;

    cc_atmos_input ain;
    memset(&ain, 0, sizeof ain);
    ain.sc = s->spacecraft;
    ain.n = n;
    for (int b = 0; b < CC_NBANDS; b++)
        ain.toa[b] = p->toa[b];
    ain.scl = NULL;
    ain.tetas = p->mean_sz;
    ain.phis = p->mean_sa;
    ain.tetav = p->mean_vz;
    ain.phiv = p->mean_va;
    ain.pressure_hpa = r->pressure_hpa;
    ain.uo3 = o->ozone;
    r->ozone = o->ozone;
    if ((st = prep_water_vapour(s, o, &ain, r, p)) != CC_OK)
        return st;

    /* 5. Aerosol. */
    if (!isnan(o->aot550)) {
        r->aot550 = o->aot550;
        r->aot_source = "option";
    } else {
        cc_aot_result ar;
        memset(&ar, 0, sizeof ar);
        if ((st = cc_atmos_retrieve_aot(&ain, r->water_vapour, &ar)) != CC_OK)
            return st;
        r->aot550 = ar.aot550;
        r->n_ddv = ar.n_ddv;
        r->aot_source = ar.fallback ? "default (too little DDV)" : "DDV";
    }
    cc_info("atmosphere: AOT550 %.3f (%s), water vapour %.2f g cm-2 (%s), pressure %.1f hPa (%s), ozone %.3f",
            r->aot550, r->aot_source, r->water_vapour, r->wv_source, r->pressure_hpa, r->pressure_source,
            r->ozone);
    return CC_OK;
}

cc_status cc_reference_atmosphere(const cc_scene *s, const cc_reference_options *o, cc_reference_atmos *a)
{
    cc_reference_result r;
    prep_buffers p;
    memset(&r, 0, sizeof r);
    memset(&p, 0, sizeof p);
    memset(a, 0, sizeof *a);
    cc_status st = prepare(s, o, &r, &p);
    if (st == CC_OK) {
        a->aot550 = r.aot550;
        a->aot_source = r.aot_source;
        a->water_vapour = r.water_vapour;
        a->wv_source = r.wv_source;
        a->pressure_hpa = r.pressure_hpa;
        a->pressure_source = r.pressure_source;
        a->ozone = r.ozone;
        a->n_ddv = r.n_ddv;
        a->mean_sun_zenith = p.mean_sz;
        a->mean_sun_azimuth = p.mean_sa;
        a->mean_view_zenith = p.mean_vz;
        a->mean_view_azimuth = p.mean_va;
        a->grid_resolution = r.grid.gt[1];
    }
    prep_free(&p);
    return st;
}

cc_status cc_reference_run(const cc_scene *s, const cc_reference_options *o, cc_reference_result *r)
{
    cc_status st;
    prep_buffers p;
    memset(r, 0, sizeof *r);
    memset(&p, 0, sizeof p);
    if ((st = prepare(s, o, r, &p)) != CC_OK)
        goto out;
    const cc_grid *g = &r->grid;
    size_t n = cc_grid_npix(g);
    float **toa = p.toa;
    float *wv = p.wv, *pres = p.pres, *sun_z = p.sun_z, *sun_a = p.sun_a;
    double mean_sz = p.mean_sz, mean_vz = p.mean_vz, mean_va = p.mean_va;

    /* 6. SMAC inversion per band and pixel. */
    r->dn_offset = cc_reference_output_dn_offset(s);
    for (int k = 0; k < CC_L2A_NBANDS; k++) {
        int b = cc_l2a_bands[k];
        if (!toa[b])
            continue;
        int ob = r->nbands++;
        r->band[ob] = b;
        if (!(r->boa[ob] = cc_malloc3(n, sizeof(uint16_t), 1))) {
            st = CC_ERR_NOMEM;
            goto out;
        }
        const cc_smac_coefs *c = cc_smac_coefs_get(s->spacecraft, b);
        uint16_t *outb = r->boa[ob];
        const float *tb = toa[b];
        const cc_angle_grid *vz = s->view_zenith[b].v ? &s->view_zenith[b] : NULL;
        const cc_angle_grid *va = s->view_azimuth[b].v ? &s->view_azimuth[b] : NULL;
#pragma omp parallel for schedule(static)
        for (int row = 0; row < g->height; row++) {
            for (int col = 0; col < g->width; col++) {
                size_t i = (size_t)row * g->width + col;
                if (isnan(tb[i])) {
                    outb[i] = 0;
                    continue;
                }
                double x, y;
                cc_grid_xy(g, col, row, &x, &y);
                cc_smac_atmos a = {
                    .tetas = sun_z[i],
                    .phis = sun_a[i],
                    .tetav = vz ? cc_angle_grid_sample(vz, x, y) : mean_vz,
                    .phiv = va ? cc_angle_grid_sample_azimuth(va, x, y) : mean_va,
                    .pressure_hpa = pres ? pres[i] : r->pressure_hpa,
                    .aot550 = r->aot550,
                    .uo3 = r->ozone,
                    .uh2o = wv[i],
                };
                cc_smac_terms t;
                cc_smac_terms_compute(c, &a, &t);
                outb[i] = cc_refl_encode(cc_smac_inverse(&t, tb[i]), r->dn_offset, CC_REFL_QUANT);
            }
        }
    }
    if (r->nbands == 0) {
        st = cc_error_set(CC_ERR_MISSING, "%s: no L2A band present", s->product_id);
        goto out;
    }

    /* 7. AOT and WVP layers; count valid pixels. */
    r->aot = cc_malloc3(n, sizeof(uint16_t), 1);
    r->wvp = cc_malloc3(n, sizeof(uint16_t), 1);
    if (!r->aot || !r->wvp) {
        st = CC_ERR_NOMEM;
        goto out;
    }
    uint16_t aot_dn = (uint16_t)lround(fmax(1.0, r->aot550 * 1000.0));
    for (size_t i = 0; i < n; i++) {
        int valid = 0;
        for (int k = 0; k < r->nbands; k++)
            valid |= r->boa[k][i] != 0;
        r->n_valid += valid;
        r->aot[i] = valid ? aot_dn : 0;
        r->wvp[i] = valid ? (uint16_t)lround(fmin(65534.0, fmax(1.0, wv[i] * 1000.0))) : 0;
    }
    if (r->n_valid == 0) {
        st = cc_error_set(CC_ERR_NODATA, "%s: the scene has no valid pixel", s->product_id);
        goto out;
    }
    snprintf(r->parameters, sizeof r->parameters,
             "aot550=%.4f (%s); water_vapour=%.3f g cm-2 (%s); pressure=%.2f hPa (%s); ozone=%.3f cm-atm; "
             "n_ddv=%zu; resolution=%g m; dn=10000*rho+%g; sun_zenith=%.2f; view_zenith=%.2f",
             r->aot550, r->aot_source, r->water_vapour, r->wv_source, r->pressure_hpa, r->pressure_source,
             r->ozone, r->n_ddv, g->gt[1], r->dn_offset, mean_sz, mean_vz);
    st = CC_OK;
out:
    prep_free(&p);
    if (st != CC_OK)
        cc_reference_result_free(r);
    return st;
}

/* The cube of a result: the BOA bands in its DN convention, then AOT and WVP
 * (pipeline/atmos/reference.h). */
cc_status cc_reference_write_cube(const char *path, const cc_scene *s, const cc_reference_result *r,
                                  const char *input)
{
    cc_cube_layer layers[CC_L2A_NBANDS + 2];
    char long_names[CC_L2A_NBANDS][96];
    int nl = 0;
    for (int k = 0; k < r->nbands; k++) {
        int b = r->band[k];
        snprintf(long_names[k], sizeof long_names[k], "surface reflectance, band %s (%.1f nm)",
                 cc_band_names[b], cc_band_wavelength_nm[b]);
        layers[nl++] = (cc_cube_layer){
            .name = cc_band_names[b], .long_name = long_names[k], .units = "1",
            .standard_name = "surface_bidirectional_reflectance", .scale_factor = 1e-4,
            .add_offset = -r->dn_offset * 1e-4, .fill_value = 0,
            .wavelength_nm = cc_band_wavelength_nm[b], .data = r->boa[k]};
    }
    layers[nl++] = (cc_cube_layer){.name = "AOT", .long_name = "aerosol optical thickness at 550 nm",
                                   .units = "1", .scale_factor = 1e-3, .add_offset = 0,
                                   .fill_value = 0, .data = r->aot};
    layers[nl++] = (cc_cube_layer){.name = "WVP", .long_name = "total column water vapour",
                                   .units = "g cm-2", .scale_factor = 1e-3, .add_offset = 0,
                                   .fill_value = 0, .data = r->wvp};
    char processor[128];
    snprintf(processor, sizeof processor, "clearcube %s reference (SMAC, %s coefficients)", CC_VERSION,
             cc_spacecraft_name(s->spacecraft));
    cc_cube_write_args a = {
        .path = path, .tile_id = s->tile_id, .product = "reference-l2a", .wkt = s->wkt,
        .width = r->grid.width, .height = r->grid.height, .year = s->year, .month = s->month,
        .day = s->day, .nlayers = nl, .layers = layers, .inputs = input, .processor = processor,
        .parameters = r->parameters};
    memcpy(a.gt, r->grid.gt, sizeof a.gt);
    return cc_cube_write(&a);
}
