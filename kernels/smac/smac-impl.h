/* clearcube: the SMAC equations as inline functions shared by the CPU code
 * (kernels/smac/smac.c) and the CUDA kernel (kernels/cuda/smac_cuda.cu), so the
 * maths is written once. Internal; see kernels/smac/smac.h for the public API and
 * kernels/smac/smac.c for the equations and their source. Double precision. */
#ifndef CC_KERNELS_SMAC_SMAC_IMPL_H
#define CC_KERNELS_SMAC_SMAC_IMPL_H

#include <math.h>

#include "kernels/smac/smac.h"

#ifdef __CUDACC__
#define CC_SMAC_HD __host__ __device__
#else
#define CC_SMAC_HD
#endif

#define CC_SMAC_DEG (3.14159265358979323846 / 180.0)

/* exp(a (u m)^n): one gas' two-way transmittance. */
CC_SMAC_HD static inline double cc_smac_gas(double a, double u, double m, double n)
{
    return exp(a * pow(u * m, n));
}

/* Two-stream aerosol reflectance for a band aerosol depth taup. */
CC_SMAC_HD static inline double cc_smac_aerosol(const cc_smac_coefs *c, double us, double uv, double taup,
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

CC_SMAC_HD static inline void cc_smac_terms_eval(const cc_smac_coefs *c, const cc_smac_atmos *a,
                                                 cc_smac_terms *t)
{
    const double us = cos(a->tetas * CC_SMAC_DEG);
    const double uv = cos(a->tetav * CC_SMAC_DEG);
    const double peq = a->pressure_hpa / 1013.25;
    const double m = 1.0 / us + 1.0 / uv;
    const double tau = a->aot550;

    t->taup = c->a0taup + c->a1taup * tau;

    t->tg = cc_smac_gas(c->ah2o, a->uh2o, m, c->nh2o) * cc_smac_gas(c->ao3, a->uo3, m, c->no3) *
            cc_smac_gas(c->ao2, pow(peq, c->po2), m, c->no2) *
            cc_smac_gas(c->aco2, pow(peq, c->pco2), m, c->nco2) *
            cc_smac_gas(c->ach4, pow(peq, c->pch4), m, c->nch4) *
            cc_smac_gas(c->ano2, pow(peq, c->pno2), m, c->nno2) *
            cc_smac_gas(c->aco, pow(peq, c->pco), m, c->nco);

    t->t_down = c->a0T + c->a1T * tau / us + (c->a2T * peq + c->a3T) / (1.0 + us);
    t->t_up = c->a0T + c->a1T * tau / uv + (c->a2T * peq + c->a3T) / (1.0 + uv);
    t->s = c->a0s * peq + c->a3s + c->a1s * tau + c->a2s * tau * tau;

    /* scattering angle */
    double cksi = -(us * uv + sqrt(1.0 - us * us) * sqrt(1.0 - uv * uv) *
                                 cos((a->phis - a->phiv) * CC_SMAC_DEG));
    if (cksi < -1.0)
        cksi = -1.0;
    if (cksi > 1.0)
        cksi = 1.0;
    const double ksi_deg = acos(cksi) / CC_SMAC_DEG;

    /* Rayleigh and its residual */
    const double ray_phase = 0.7190443 * (1.0 + cksi * cksi) + 0.0412742;
    const double ray_ref = c->taur * ray_phase / (4.0 * us * uv) * peq;
    const double xr = c->taur * ray_phase / (us * uv);
    const double res_ray = c->Resr1 + c->Resr2 * xr + c->Resr3 * xr * xr;

    /* aerosol and its residual */
    const double aer_ref = cc_smac_aerosol(c, us, uv, t->taup, ksi_deg);
    const double xa = t->taup * m * cksi;
    const double res_aer = c->Resa1 + c->Resa2 * xa + c->Resa3 * xa * xa + c->Resa4 * xa * xa * xa;

    /* Rayleigh-aerosol coupling */
    const double xt = (t->taup + c->taur * peq) * m * cksi;
    const double res_6s = c->Rest1 + c->Rest2 * xt + c->Rest3 * xt * xt + c->Rest4 * xt * xt * xt;

    t->ratm = ray_ref - res_ray + aer_ref - res_aer + res_6s;
}

/* Surface reflectance from TOA reflectance with precomputed terms. */
CC_SMAC_HD static inline double cc_smac_invert_terms(const cc_smac_terms *t, double rho_toa)
{
    const double r = rho_toa - t->ratm * t->tg;
    return r / (t->tg * t->t_down * t->t_up + r * t->s);
}

#endif
