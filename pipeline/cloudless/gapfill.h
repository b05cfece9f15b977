/* clearcube: classic gap filling (the Cloudless baselines) and the
 * gap-filling metrics (issue 6, science.md section 5; the evaluation protocol
 * is in gapfill_eval.h).
 *
 * Series are strided float arrays of n daily samples: y[i*stride], NaN =
 * missing. Outputs are dense (every index filled) with the same stride.
 */
#ifndef CC_PIPELINE_CLOUDLESS_GAPFILL_H
#define CC_PIPELINE_CLOUDLESS_GAPFILL_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Per-pixel linear interpolation between the nearest valid samples before
 * and after each index; constant extrapolation beyond the first/last valid
 * sample; all NaN if no sample is valid. Valid samples are copied. */
void cc_gapfill_linear(const float *y, int n, size_t stride, float *out);

/* Whittaker smoother (Eilers 2003): solves (W + lambda D'D) z = W y, with
 * W = diag(1 for valid samples, 0 for NaN) and D the d-th order difference
 * matrix (d = 1..3), by a banded Cholesky factorisation in double precision
 * (O(n d^2); the three functions below, which the Cloudless features use
 * too). All NaN if fewer than d+1 samples are valid. CC_ERR_ARG for d
 * outside 1..3, lambda <= 0 or n > 100000; CC_ERR_NOMEM. */
cc_status cc_gapfill_whittaker(const float *y, int n, size_t stride, double lambda, int d,
                               float *out);

/* The one banded solver of the smoother. Band matrices of n rows are stored
 * as their lower band, row by row: M[i*(d+1) + k] = M(i, i-k), k = 0..d.
 *
 * pen = lambda D'D (0 where i-k < 0). It depends only on lambda, n and d:
 * callers that smooth many series compute it once. */
void cc_gapfill_whittaker_penalty(double lambda, int n, int d, double *pen);

/* L = the Cholesky factor of pen + diag(valid) (valid[i] != 0: weight 1).
 * A pivot below 1e-300 is taken as 1e-300; returns -1, or the first row
 * whose pivot was not positive (the system is not positive definite: fewer
 * than d+1 valid samples, or rounding). */
int cc_gapfill_whittaker_factor(const double *pen, const uint8_t *valid, int n, int d, double *L);

/* Solves L L' x = b in place for nrhs right-hand sides z[i*ld + g], g <
 * nrhs (z = W y on entry). The back substitution stops at row `stop` (0: the
 * whole solution; rows below stop are left unfinished), for callers that
 * need only the last rows. */
void cc_gapfill_whittaker_solve(const double *L, int n, int d, double *z, size_t ld, int nrhs, int stop);

/* Accumulated error statistics over scored pixels (reflectance in [0,1]).
 * Add pixels with cc_gapfill_metrics_add; read with cc_gapfill_metrics_get. */
typedef struct {
    int nbands;
    double n;                 /* scored pixel-bands                              */
    double sum_abs, sum_sq;   /* over all bands                                  */
    double band_abs[16], band_sq[16], band_n[16];
    double sam_sum;           /* degrees, summed over scored pixels              */
    double sam_n;
} cc_gapfill_metrics;

void cc_gapfill_metrics_init(cc_gapfill_metrics *m, int nbands);
/* One pixel: pred and truth have nbands values; bands where either is NaN are
 * skipped; SAM uses the bands valid in both (skipped if fewer than 2). */
void cc_gapfill_metrics_add(cc_gapfill_metrics *m, const float *pred, const float *truth);
void cc_gapfill_metrics_merge(cc_gapfill_metrics *into, const cc_gapfill_metrics *from);

typedef struct {
    double mae, rmse, psnr, sam_deg, n;
    double band_mae[16], band_rmse[16];
} cc_gapfill_scores;
/* PSNR = 20 log10(1/RMSE) (reflectance in [0, 1]); SAM the mean spectral
 * angle in degrees. Fields are NaN when nothing was scored. */
void cc_gapfill_metrics_get(const cc_gapfill_metrics *m, cc_gapfill_scores *s);

/* Mean SSIM (Wang et al. 2004: C1 = (0.01 L)^2, C2 = (0.03 L)^2, L = 1,
 * 11x11 Gaussian window with sigma 1.5, computed where the window lies inside
 * the image and every pixel under it has weight: mask[i] != 0 (NULL = all))
 * of two single-band w x h images. NaN if no window qualifies. */
double cc_gapfill_ssim(const float *a, const float *b, const uint8_t *mask, int w, int h);

/* The SSIM map behind cc_gapfill_ssim: map[y*w + x] is the SSIM of the 11x11
 * window centred on (x, y), NaN where that window does not qualify (closer
 * than 5 pixels to an edge, or a pixel under it masked out or NaN in a or b).
 * map has w*h elements (caller-owned). Returns the number of qualifying
 * windows, or -1 (CC_ERR_NOMEM set, map untouched) if scratch memory fails. */
long cc_gapfill_ssim_map(const float *a, const float *b, const uint8_t *mask, int w, int h,
                         double *map);

#ifdef __cplusplus
}
#endif
#endif
