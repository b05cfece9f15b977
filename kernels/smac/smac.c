/* clearcube: SMAC forward model and inversion (Rahman & Dedieu 1994).
 *
 * Implemented from the published equations (docs: science.md section 1;
 * Rahman, H. & Dedieu, G., 1994, "SMAC: a simplified method for the
 * atmospheric correction of satellite measurements in the solar spectrum",
 * Int. J. Remote Sensing 15(1), 123-143). Double precision throughout.
 *
 * Notation: mu_s = cos(theta_s), mu_v = cos(theta_v), Peq = P / 1013.25,
 * m = 1/mu_s + 1/mu_v (two-way air mass), tau = AOT at 550 nm.
 *
 *   taup   = a0taup + a1taup tau                           band aerosol depth
 *   tg     = prod_gas exp(a (u m)^n)                        gas transmittance
 *            u = uh2o, uo3, and Peq^p for O2, CO2, CH4, NO2, CO
 *   T(mu)  = a0T + a1T tau / mu + (a2T Peq + a3T) / (1 + mu) scattering transm.
 *   s      = a0s Peq + a3s + a1s tau + a2s tau^2            spherical albedo
 *   ratm   = rho_R - Res_R + rho_A - Res_A + Res_RA         atmospheric refl.
 *   TOA    = ratm tg + rho_s tg T(mu_s) T(mu_v) / (1 - rho_s s)
 *   rho_s  = r / (tg T(mu_s) T(mu_v) + r s),  r = TOA - ratm tg   (inverse)
 *
 * Rayleigh: rho_R = taur Phi_R(xi) Peq / (4 mu_s mu_v) with
 * Phi_R = 0.7190443 (1 + cos^2 xi) + 0.0412742, cos xi = -(mu_s mu_v +
 * sin theta_s sin theta_v cos(phi_s - phi_v)); Res_R is a quadratic in
 * taur Phi_R / (mu_s mu_v). Aerosol: a two-stream single-scattering
 * approximation with single-scattering albedo wo, asymmetry gc and the phase
 * function as a quartic in the scattering angle (degrees); Res_A and the
 * Rayleigh-aerosol coupling Res_RA are cubics in taup m cos xi and
 * (taup + taur Peq) m cos xi. */
#include "kernels/smac/smac.h"
#include "kernels/smac/smac-impl.h"

#include <math.h>

void cc_smac_terms_compute(const cc_smac_coefs *c, const cc_smac_atmos *a, cc_smac_terms *t)
{
    cc_smac_terms_eval(c, a, t);
}

double cc_smac_inverse(const cc_smac_terms *t, double rho_toa)
{
    return cc_smac_invert_terms(t, rho_toa);
}
double cc_smac_forward(const cc_smac_terms *t, double rho_surf)
{
    return t->ratm * t->tg +
           rho_surf * t->tg * t->t_down * t->t_up / (1.0 - rho_surf * t->s);
}

double cc_smac_pressure_from_elevation(double z_m)
{
    return 1013.25 * pow(1.0 - 0.0065 * z_m / 288.15, 5.31);
}
