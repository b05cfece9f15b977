/* clearcube: SMAC (Simplified Method for Atmospheric Correction, Rahman &
 * Dedieu 1994) forward model and inversion for Sentinel-2A/B/C.
 *
 * Coefficients: sen2like Coef_S2{A,B,C}_CONTINENTAL.dat (Apache-2.0,
 * senbox-org/sen2like commit 6dd3f0da82a7461b03a2914df56d305070e50d6d),
 * carried as a table in smac_coefs.c. Equations: docs/science (see
 * docs/reference-processor.md). All computation in double precision. */
#ifndef CC_KERNELS_SMAC_SMAC_H
#define CC_KERNELS_SMAC_SMAC_H

#include "core/error.h"
#include "core/bands.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CC_SMAC_NCOEF 49

/* The 49 coefficients of one band, in the file's row order. */
typedef struct {
    double ah2o, nh2o, ao3, no3, ao2, no2, po2, aco2, nco2, pco2, ach4, nch4, pch4,
        ano2, nno2, pno2, aco, nco, pco, a0s, a1s, a2s, a3s, a0T, a1T, a2T, a3T, taur, sr,
        a0taup, a1taup, wo, gc, a0P, a1P, a2P, a3P, a4P, Rest1, Rest2, Rest3, Rest4, Resr1,
        Resr2, Resr3, Resa1, Resa2, Resa3, Resa4;
} cc_smac_coefs;

/* Table for a spacecraft and band (CC_B* index); NULL for unknown spacecraft. */
const cc_smac_coefs *cc_smac_coefs_get(cc_spacecraft sc, int band);

/* Geometry and atmosphere of one evaluation. Angles in degrees. */
typedef struct {
    double tetas, phis, tetav, phiv; /* sun zenith/azimuth, view zenith/azimuth  */
    double pressure_hpa;             /* surface pressure                           */
    double aot550;                   /* aerosol optical thickness at 550 nm        */
    double uo3;                      /* ozone, cm-atm                              */
    double uh2o;                     /* water vapour, g cm-2                       */
} cc_smac_atmos;

/* The intermediate terms of one evaluation (reference_vectors.csv columns). */
typedef struct {
    double tg;      /* total gas transmittance                                   */
    double t_down;  /* scattering transmittance T(mu_s)                          */
    double t_up;    /* scattering transmittance T(mu_v)                          */
    double s;       /* spherical albedo                                          */
    double ratm;    /* atmospheric reflectance (Rayleigh + aerosol)              */
    double taup;    /* aerosol optical depth in the band                         */
} cc_smac_terms;

/* Computes the atmosphere-only terms (independent of the surface reflectance). */
void cc_smac_terms_compute(const cc_smac_coefs *c, const cc_smac_atmos *a, cc_smac_terms *t);
/* Surface reflectance from TOA reflectance (inversion). */
double cc_smac_inverse(const cc_smac_terms *t, double rho_toa);
/* TOA reflectance from surface reflectance (forward model). */
double cc_smac_forward(const cc_smac_terms *t, double rho_surf);

/* Pressure (hPa) at elevation z metres: 1013.25(1 - 0.0065 z/288.15)^5.31. */
double cc_smac_pressure_from_elevation(double z_m);

#ifdef __cplusplus
}
#endif
#endif
