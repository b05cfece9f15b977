/* clearcube: the physical reference L2A processor (SMAC per band, DDV
 * aerosol, B9/B8A water vapour). See docs/reference-processor.md.
 *
 * cc_reference_run turns an L1C scene into 12 BOA bands (B10 dropped) in L2A
 * DN convention (10000*rho + 1000 for processing baseline >= 04.00 inputs,
 * 10000*rho before), plus AOT (DN/1000) and WVP (DN/1000 g cm-2) layers and
 * the quality layer (pipeline/atmos/l2a_quality.h: nodata, saturated and the
 * cloud mask's classes), all on one output grid. */
#ifndef CC_PIPELINE_ATMOS_REFERENCE_H
#define CC_PIPELINE_ATMOS_REFERENCE_H

#include <stdint.h>

#include "core/error.h"
#include "io/s2/scene.h"
#include "io/grid/grid.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CC_L2A_NBANDS 12
/* The L2A band set in output order (CC_B* indices): B1..B8, B8A, B9, B11, B12. */
extern const int cc_l2a_bands[CC_L2A_NBANDS];

typedef struct {
    double aot550;        /* NaN: retrieve from dark dense vegetation          */
    double water_vapour;  /* g cm-2; NaN: retrieve from B9/B8A                  */
    double elevation_m;   /* NaN: unset (sea level unless dem_path is given)    */
    const char *dem_path; /* any GDAL raster of elevation in metres, or NULL    */
    double ozone;         /* cm-atm, default 0.331                              */
    double resolution;    /* output grid in metres; 0: the finest band present  */
    double context_resolution; /* grid of the per-pixel atmosphere (context.h);
                                  0: 60 m, or the output grid when coarser    */
    int cuda;             /* 1: the SMAC on the current CUDA device (--device;
                             a build without CUDA: CC_ERR_UNSUPPORTED)        */
    int reader;           /* decode blocks in a reader thread ahead of the SMAC:
                             -1 (default) with cuda only, 0 never, 1 always;
                             the output is the same either way               */
} cc_reference_options;

void cc_reference_options_init(cc_reference_options *o);

typedef struct {
    cc_grid grid;                       /* wkt borrowed from the scene        */
    int nbands;                         /* output bands (present in input)    */
    int band[CC_L2A_NBANDS];            /* CC_B* index of each output band    */
    uint16_t *boa[CC_L2A_NBANDS];       /* L2A DN; 0 = nodata. Owned          */
    uint16_t *aot;                      /* AOT*1000, owned                    */
    uint16_t *wvp;                      /* WV*1000 (g cm-2), owned            */
    uint16_t *quality;                  /* quality bits (l2a_quality.h), owned */
    double dn_offset;                   /* 1000 or 0: DN = 10000*rho + offset */
    double aot550;                      /* scene AOT used                     */
    const char *aot_source;             /* "option", "DDV", "default (no DDV)" */
    double water_vapour;                /* scene median WV used               */
    const char *wv_source;              /* "option", "B9/B8A", "B9/B8", "default" */
    double pressure_hpa;                /* scene mean pressure                */
    const char *pressure_source;        /* "sea level", "elevation", "DEM"    */
    double ozone;
    size_t n_ddv;                       /* DDV pixels used (0 when not retrieved) */
    size_t n_valid;                     /* valid output pixels                */
    double context_s, smac_s, write_s;  /* seconds: the atmosphere (context.h);
                                           the slabs (bands, SMAC, DN); writing
                                           (overlaps the slabs)               */
    char parameters[768];               /* one-line summary for provenance    */
} cc_reference_result;

/* Runs the processor. On success r owns its buffers (cc_reference_result_free).
 * On failure r is left freed/zeroed and the last error says why. */
cc_status cc_reference_run(const cc_scene *s, const cc_reference_options *o, cc_reference_result *r);
void cc_reference_result_free(cc_reference_result *r);
/* The same, streamed slab by slab into a new cube at out_nc (written
 * atomically: nothing is left at out_nc on failure) and, when quicklook is
 * not NULL, a true-colour PNG: memory stays the scene plus two slabs of
 * 512 rows, whatever the size of the grid. r receives the summary (grid,
 * bands, atmosphere, counts, times); its pixel buffers stay NULL. When
 * out_nc exists, the date is added to it (cc_reference_write_cube, whole
 * rasters in memory). */
cc_status cc_reference_run_cube(const cc_scene *s, const cc_reference_options *o, const char *input,
                                const char *out_nc, const char *quicklook, cc_reference_result *r);
/* Writes r as a new CF-1.8 NetCDF cube at path (the 12 BOA bands, then the AOT,
 * WVP and quality layers); input names the product in the cube's `inputs`. */
cc_status cc_reference_write_cube(const char *path, const cc_scene *s, const cc_reference_result *r,
                                  const char *input);

/* The scene-level summary of the atmosphere cc_reference_run uses on the
 * grid of o->resolution (the per-pixel values: pipeline/atmos/context.h). */
typedef struct {
    double aot550, water_vapour, pressure_hpa, ozone;
    const char *aot_source, *wv_source, *pressure_source;
    size_t n_ddv;
    double mean_sun_zenith, mean_sun_azimuth, mean_view_zenith, mean_view_azimuth; /* degrees */
    double grid_resolution;   /* metres of the grid the retrieval ran on */
} cc_reference_atmos;
/* The L2A DN offset for a product (1000 for baseline >= 04.00, else 0). */
double cc_reference_output_dn_offset(const cc_scene *s);
cc_status cc_reference_atmosphere(const cc_scene *s, const cc_reference_options *o, cc_reference_atmos *a);

#ifdef __cplusplus
}
#endif
#endif
