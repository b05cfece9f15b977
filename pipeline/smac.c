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
#include "pipeline/smac.h"

#include <math.h>

static const double smac_deg = 3.14159265358979323846 / 180.0;

/* exp(a (u m)^n): one gas' two-way transmittance. */
static double smac_gas(double a, double u, double m, double n)
{
    return exp(a * pow(u * m, n));
}

/* Two-stream aerosol reflectance for a band aerosol depth taup. */
static double smac_aerosol(const cc_smac_coefs *c, double us, double uv, double taup,
                           double ksi_deg)
{
    const double wo = c->wo, gc = c->gc;
    const double phase = c->a0P + c->a1P * ksi_deg + c->a2P * ksi_deg * ksi_deg +
                         c->a3P * ksi_deg * ksi_deg * ksi_deg +
                         c->a4P * ksi_deg * ksi_deg * ksi_deg * ksi_deg;
    const double g3 = 3.0 - 3.0 * wo * gc;
    const double ak2 = (1.0 - wo) * g3;
    const double ak = sqrt(ak2);
    const double den = 1.0 - ak2 * us * us;
    const double e = -3.0 * us * us * wo / (4.0 * den);
    const double f = -(1.0 - wo) * 3.0 * gc * us * us * wo / (4.0 * den);
    const double dp = e / (3.0 * us) + us * f;
    const double d = e + f;
    const double b = 2.0 * ak / g3;
    const double ep = exp(ak * taup), em = exp(-ak * taup);
    const double delta = ep * (1.0 + b) * (1.0 + b) - em * (1.0 - b) * (1.0 - b);
    const double ww = wo / 4.0;
    const double ss = us / den;
    const double q1 = 2.0 + 3.0 * us + (1.0 - wo) * 3.0 * gc * us * (1.0 + 2.0 * us);
    const double q2 = 2.0 - 3.0 * us - (1.0 - wo) * 3.0 * gc * us * (1.0 - 2.0 * us);
    const double q3 = q2 * exp(-taup / us);
    const double c1 = (ww * ss / delta) * (q1 * ep * (1.0 + b) + q3 * (1.0 - b));
    const double c2 = -(ww * ss / delta) * (q1 * em * (1.0 - b) + q3 * (1.0 + b));
    const double cp1 = c1 * ak / g3;
    const double cp2 = -c2 * ak / g3;
    const double z = d - wo * 3.0 * gc * uv * dp + wo * phase / 4.0;
    const double x = c1 - wo * 3.0 * gc * uv * cp1;
    const double y = c2 - wo * 3.0 * gc * uv * cp2;
    const double aa1 = uv / (1.0 + ak * uv);
    const double aa2 = uv / (1.0 - ak * uv);
    const double aa3 = us * uv / (us + uv);
    double r = x * aa1 * (1.0 - exp(-taup / aa1));
    r += y * aa2 * (1.0 - exp(-taup / aa2));
    r += z * aa3 * (1.0 - exp(-taup / aa3));
    return r / (us * uv);
}

void cc_smac_terms_compute(const cc_smac_coefs *c, const cc_smac_atmos *a, cc_smac_terms *t)
{
    const double us = cos(a->tetas * smac_deg);
    const double uv = cos(a->tetav * smac_deg);
    const double peq = a->pressure_hpa / 1013.25;
    const double m = 1.0 / us + 1.0 / uv;
    const double tau = a->aot550;

    t->taup = c->a0taup + c->a1taup * tau;

    t->tg = smac_gas(c->ah2o, a->uh2o, m, c->nh2o) * smac_gas(c->ao3, a->uo3, m, c->no3) *
            smac_gas(c->ao2, pow(peq, c->po2), m, c->no2) *
            smac_gas(c->aco2, pow(peq, c->pco2), m, c->nco2) *
            smac_gas(c->ach4, pow(peq, c->pch4), m, c->nch4) *
            smac_gas(c->ano2, pow(peq, c->pno2), m, c->nno2) *
            smac_gas(c->aco, pow(peq, c->pco), m, c->nco);

    t->t_down = c->a0T + c->a1T * tau / us + (c->a2T * peq + c->a3T) / (1.0 + us);
    t->t_up = c->a0T + c->a1T * tau / uv + (c->a2T * peq + c->a3T) / (1.0 + uv);
    t->s = c->a0s * peq + c->a3s + c->a1s * tau + c->a2s * tau * tau;

    /* scattering angle */
    double cksi = -(us * uv + sqrt(1.0 - us * us) * sqrt(1.0 - uv * uv) *
                                 cos((a->phis - a->phiv) * smac_deg));
    if (cksi < -1.0)
        cksi = -1.0;
    if (cksi > 1.0)
        cksi = 1.0;
    const double ksi_deg = acos(cksi) / smac_deg;

    /* Rayleigh and its residual */
    const double ray_phase = 0.7190443 * (1.0 + cksi * cksi) + 0.0412742;
    const double ray_ref = c->taur * ray_phase / (4.0 * us * uv) * peq;
    const double xr = c->taur * ray_phase / (us * uv);
    const double res_ray = c->Resr1 + c->Resr2 * xr + c->Resr3 * xr * xr;

    /* aerosol and its residual */
    const double aer_ref = smac_aerosol(c, us, uv, t->taup, ksi_deg);
    const double xa = t->taup * m * cksi;
    const double res_aer = c->Resa1 + c->Resa2 * xa + c->Resa3 * xa * xa + c->Resa4 * xa * xa * xa;

    /* Rayleigh-aerosol coupling */
    const double xt = (t->taup + c->taur * peq) * m * cksi;
    const double res_6s = c->Rest1 + c->Rest2 * xt + c->Rest3 * xt * xt + c->Rest4 * xt * xt * xt;

    t->ratm = ray_ref - res_ray + aer_ref - res_aer + res_6s;
}

double cc_smac_inverse(const cc_smac_terms *t, double rho_toa)
{
    const double r = rho_toa - t->ratm * t->tg;
    return r / (t->tg * t->t_down * t->t_up + r * t->s);
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
