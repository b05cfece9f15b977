/* The Sen2Cor L2A side of the dataset (pipeline/boa/dataset.h), shared by
 * `clearcube dataset` (kind sen2cor-l2a) and `clearcube simulate --from-l2a`: the
 * 12 L2A bands and the AOT/WVP layers on the finest grid, region-mean angles, and
 * the SMAC forward model to SIMULATED L1C. */
#define _GNU_SOURCE /* M_PI */
#include "pipeline/boa/dataset-impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/reflectance.h"

#define NB CC_L2A_NBANDS

int cc_dataset_has_l2a_bands(const cc_scene *s, char *miss, size_t len)
{
    miss[0] = '\0';
    for (int k = 0; k < NB; k++)
        if (!s->band[cc_l2a_bands[k]].present) {
            size_t l = strlen(miss);
            snprintf(miss + l, len - l, "%s%s", l ? "," : "", cc_band_names[cc_l2a_bands[k]]);
        }
    return miss[0] == '\0';
}

/* Resamples a band onto g and encodes it as dataset DN (0 = nodata). */
cc_status cc_dataset_band_dn(const cc_scene *s, int b, const cc_grid *g, float *tmp, uint16_t *out)
{
    cc_status st = cc_grid_resample_band(&s->band[b], s->wkt, g, tmp);
    if (st != CC_OK)
        return st;
    size_t n = cc_grid_npix(g);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[i] <= 0.0f ? 0
                                : cc_refl_encode(cc_refl_decode(tmp[i], s->radio_offset[b], s->quantification),
                                                 CC_DATASET_DN_OFFSET, CC_REFL_QUANT);
    return CC_OK;
}

void cc_dataset_region_angles(const cc_scene *s, const cc_grid *g, int x0, int y0, int w, int h, double *sun_zenith,
                              double *sun_azimuth, double *view_zenith, double *view_azimuth)
{
    double szs = 0, vzs = 0, sas = 0, sac = 0, vas = 0, vac = 0;
    int n = 0, nv = 0;
    const double d2r = M_PI / 180.0;
    for (int r = 0; r < h; r += 8)
        for (int c = 0; c < w; c += 8) {
            int col = x0 + c, row = y0 + r;
            if (col >= g->width)
                col = g->width - 1;
            if (row >= g->height)
                row = g->height - 1;
            double x, y;
            cc_grid_xy(g, col, row, &x, &y);
            double z = cc_angle_grid_sample(&s->sun_zenith, x, y);
            double az = cc_angle_grid_sample_azimuth(&s->sun_azimuth, x, y);
            if (!isnan(z) && !isnan(az)) {
                szs += z;
                sas += sin(az * d2r);
                sac += cos(az * d2r);
                n++;
            }
            for (int k = 0; k < NB; k++) {
                int b = cc_l2a_bands[k];
                if (!s->view_zenith[b].v || !s->view_azimuth[b].v)
                    continue;
                double vz = cc_angle_grid_sample(&s->view_zenith[b], x, y);
                double va = cc_angle_grid_sample_azimuth(&s->view_azimuth[b], x, y);
                if (isnan(vz) || isnan(va))
                    continue;
                vzs += vz;
                vas += sin(va * d2r);
                vac += cos(va * d2r);
                nv++;
            }
        }
    *sun_zenith = n ? szs / n : NAN;
    *sun_azimuth = n ? atan2(sas, sac) / d2r : NAN;
    *view_zenith = nv ? vzs / nv : 0.0;
    *view_azimuth = nv ? atan2(vas, vac) / d2r : 0.0;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

void cc_dataset_l2a_free(cc_dataset_l2a *l)
{
    free(l->data);
    free(l->aot);
    free(l->wv);
    memset(l, 0, sizeof *l);
    l->wv_median = NAN;
}

cc_status cc_dataset_l2a_read(const cc_scene *s, int atmosphere, cc_dataset_l2a *l)
{
    cc_status st;
    float *tmp = NULL, *sorted = NULL;
    memset(l, 0, sizeof *l);
    l->wv_median = NAN;
    if ((st = cc_grid_for_scene(s, 0, &l->grid)) != CC_OK)
        return st;
    const cc_grid *g = &l->grid;
    size_t n = cc_grid_npix(g);
    if (!(tmp = cc_malloc3(n, sizeof(float), 1)) || !(l->data = cc_malloc3(n, NB, sizeof(uint16_t)))) {
        st = CC_ERR_NOMEM;
        goto out;
    }
    for (int k = 0; k < NB; k++) {
        l->boa[k] = l->data + (size_t)k * n;
        if ((st = cc_dataset_band_dn(s, cc_l2a_bands[k], g, tmp, l->boa[k])) != CC_OK)
            goto out;
    }
    if (!atmosphere || !s->aot.present || !s->wvp.present) {
        st = CC_OK;
        goto out;
    }
    l->aot = cc_malloc3(n, sizeof(float), 1);
    l->wv = cc_malloc3(n, sizeof(float), 1);
    sorted = cc_malloc3(n, sizeof(float), 1);
    if (!l->aot || !l->wv || !sorted) {
        st = CC_ERR_NOMEM;
        goto out;
    }
    if ((st = cc_grid_resample_band(&s->aot, s->wkt, g, l->aot)) != CC_OK ||
        (st = cc_grid_resample_band(&s->wvp, s->wkt, g, l->wv)) != CC_OK)
        goto out;
    size_t m = 0;
    for (size_t q = 0; q < n; q++) {
        l->aot[q] = l->aot[q] > 0 ? (float)(l->aot[q] / s->aot_quantification) : NAN;
        l->wv[q] = l->wv[q] > 0 ? (float)(l->wv[q] / s->wvp_quantification) : NAN;
        if (!isnan(l->wv[q]))
            sorted[m++] = l->wv[q];
    }
    if (m == 0) {
        free(l->aot);
        free(l->wv);
        l->aot = l->wv = NULL;
    } else {
        qsort(sorted, m, sizeof *sorted, cmp_float);
        l->wv_median = m % 2 ? sorted[m / 2] : 0.5 * (sorted[m / 2 - 1] + sorted[m / 2]);
    }
    st = CC_OK;
out:
    free(tmp);
    free(sorted);
    if (st != CC_OK)
        cc_dataset_l2a_free(l);
    return st;
}

cc_status cc_dataset_forward_init(cc_dataset_forward *f, cc_spacecraft sc, double sun_zenith, double sun_azimuth,
                                  double view_zenith, double view_azimuth, double pressure_hpa, double aot550,
                                  double water_vapour)
{
    f->at = (cc_smac_atmos){.tetas = sun_zenith, .phis = sun_azimuth, .tetav = view_zenith, .phiv = view_azimuth,
                            .pressure_hpa = pressure_hpa, .aot550 = aot550, .uo3 = 0.331, .uh2o = water_vapour};
    for (int k = 0; k < NB; k++) {
        if (!(f->cf[k] = cc_smac_coefs_get(sc, cc_l2a_bands[k])))
            return CC_ERR_ARG;
        cc_smac_terms_compute(f->cf[k], &f->at, &f->t[k]);
    }
    return CC_OK;
}

void cc_dataset_forward_pixel(const cc_dataset_forward *f, double aot550, double water_vapour, const uint16_t *in,
                              size_t in_stride, uint16_t *out, size_t out_stride)
{
    cc_smac_terms tp[NB];
    const cc_smac_terms *t = f->t;
    if (!isnan(aot550) || !isnan(water_vapour)) {
        cc_smac_atmos at = f->at;
        if (!isnan(aot550))
            at.aot550 = aot550;
        if (!isnan(water_vapour))
            at.uh2o = water_vapour;
        for (int k = 0; k < NB; k++)
            cc_smac_terms_compute(f->cf[k], &at, &tp[k]);
        t = tp;
    }
    for (int k = 0; k < NB; k++) {
        double rho_s = cc_refl_decode(in[k * in_stride], -CC_DATASET_DN_OFFSET, CC_REFL_QUANT);
        out[k * out_stride] = cc_refl_encode(cc_smac_forward(&t[k], rho_s), CC_DATASET_DN_OFFSET, CC_REFL_QUANT);
    }
}
