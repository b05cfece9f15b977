/* clearcube: SIMULATED multi-sensor daily series built from real pieces
 * (Cloudless training data (b), issue 6). The recipe, every real piece with
 * its path and every relation with its source or fit: docs/cloudless-sim.md.
 *
 * Everything this module produces is SIMULATED: label it so in every report
 * (cc_cl_sim_info.label, CC_CL_SIM_LABEL).
 *
 * Real pieces: eolearn-testeopatch NDVI trajectories, cloud masks (CLM) and
 * validity masks, converted to GeoTIFF by scripts/npy2tif (run it first);
 * S2 L2A spectra from riotilerpds/s2-l2a-29RKH-20200219 and
 * bigearthnet-example; the S1/S2 pairs of bigearthnet-example for the
 * vegetation-backscatter relation; SMAC (kernels/smac/smac.h) for the TOA-like
 * OLCI; the HLS bandpass coefficients (science.md section 3) for Landsat.
 *
 * Splits draw from disjoint real pieces: "train" uses the eolearn dates
 * 2015-07-11..2016-09-30 (trajectories and cloud masks), soil spectra from
 * riotilerpds 29RKH + bigearthnet 69_24, vegetation from bigearthnet 4_55 and
 * 69_24, S1 fit on 4_55, 69_24, 57_38; "test" uses the eolearn dates
 * 2016-10-01..2017-12-22, soil and vegetation from bigearthnet 87_48 and
 * 36_85, S1 fit on 87_48 and 36_85.
 */
#ifndef CC_PIPELINE_CLOUDLESS_CLOUDLESS_SIM_H
#define CC_PIPELINE_CLOUDLESS_CLOUDLESS_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "pipeline/cloudless/series.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CC_CL_SIM_LABEL "SIMULATED"

/* What one generation used (filled when cc_cl_sim_options.info is set).
 * Arrays are malloc'd by cc_cl_sim_generate; free with cc_cl_sim_info_free. */
typedef struct {
    char label[256];          /* "SIMULATED multi-sensor series (...)"          */
    char split[8];            /* "train" / "test"                                */
    int ndays;
    int x0, y0;               /* crop offset in the 100 x 101 eolearn patch      */
    long src_shift;           /* source day = day0 + d + src_shift (before wrap) */
    long period_first, period_last; /* days since 1970 of the split's period    */
    int *weather_date;        /* [ndays] eolearn date index whose CLM is the day's
                                 weather (S2 on its days, OLCI every day)        */
    int *s2_mask_date;        /* [ndays] date index on S2 days, -1 otherwise     */
    long *s2_cloudy;          /* [ndays] cloudy pixels of that mask in the crop,
                                 -1 on days without S2                           */
    int *landsat_mask_date;   /* [ndays] date index on Landsat days, -1 otherwise */
    int s2_phase, landsat_phase, s1_phase; /* first acquisition index           */
    int s2_revisit, landsat_revisit, s1_revisit;
    int n_soil_pool, n_veg_pool;   /* real spectra that passed the filters       */
    int n_soil_used, n_veg_used;   /* seed-drawn subset the pixels pick from     */
    double s1_a[CC_CL_NS1], s1_b[CC_CL_NS1]; /* dB = a + b NDVI (VV, VH)          */
    double s1_resid_db[CC_CL_NS1];           /* residual std of the fit          */
    double s1_speckle_db, s1_static_db[CC_CL_NS1]; /* noise split (see docs)     */
    long s1_fit_pixels;
    int n_traj_dates;         /* eolearn dates in the split's period             */
} cc_cl_sim_info;

void cc_cl_sim_info_free(cc_cl_sim_info *info);

typedef struct {
    const char *datasets;     /* .../shared/datasets (read-only real data)       */
    const char *eolearn_tif;  /* OUT_DIR of scripts/npy2tif (NDVI.tif, CLM.tif,
                                 IS_DATA.tif, IS_VALID.tif)                       */
    uint64_t seed;
    long day0;                /* days since 1970-01-01 of index 0; 0 = the first
                                 day of the split's period                        */
    int ndays;                /* > 0 (<= 4000)                                    */
    const char *split;        /* "train" or "test"                               */
    unsigned sensors;         /* bits 1 << CC_SENSOR_*; 0 = all four              */
    int width, height;        /* crop of the 100 x 101 patch; 0 = full size       */
    int s2_revisit;           /* days, 0 = 5                                     */
    int landsat_revisit;      /* days, 0 = 8 (Landsat 8 + 9)                      */
    int s1_revisit;           /* days, 0 = 6 (S1A + S1B)                          */
    cc_cl_sim_info *info;     /* optional out: what was used (NULL = not wanted) */
} cc_cl_sim_options;

/* Defaults: all sensors, full patch, split "train", 450 days, seed 1. */
void cc_cl_sim_options_init(cc_cl_sim_options *o);

/* Generates a SIMULATED series. On success s holds the series (free with
 * cc_series_free), *truth the cloud-free daily S2 L2A reflectance
 * [ndays][npix][CC_CL_NBANDS] (malloc'd, caller frees with free()), and the
 * npix = width * height pixels form a row-major width x height image. On
 * failure nothing is allocated (s zeroed, *truth NULL) and the message names
 * the file and the problem. Deterministic: the same options and seed give
 * identical arrays. */
cc_status cc_cl_sim_generate(const cc_cl_sim_options *o, cc_series *s, float **truth, int *width,
                             int *height);

/* The real pieces a split draws from, one line (static string; NULL for an
 * unknown split). */
const char *cc_cl_sim_sources(const char *split);

#ifdef __cplusplus
}
#endif
#endif
