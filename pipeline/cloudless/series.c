/* clearcube: multi-sensor daily series (see series.h). */
#include "pipeline/cloudless/series.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

static float *nan_array(size_t a, size_t b, size_t c)
{
    float *p = cc_malloc3(a, b, c * sizeof(float));
    if (p) {
        size_t n = a * b * c;
        for (size_t i = 0; i < n; i++) p[i] = NAN;
    }
    return p;
}

cc_status cc_series_alloc(cc_series *s, int ndays, long day0, size_t npix)
{
    memset(s, 0, sizeof *s);
    if (ndays <= 0 || npix == 0)
        return cc_error_set(CC_ERR_ARG, "series: empty grid (%d days, %zu pixels)", ndays, npix);
    s->ndays = ndays;
    s->day0 = day0;
    s->npix = npix;
    s->s2 = nan_array((size_t)ndays, npix, CC_CL_NBANDS);
    s->landsat = nan_array((size_t)ndays, npix, CC_CL_NBANDS);
    s->olci = nan_array((size_t)ndays, npix, CC_CL_NBANDS);
    s->s1 = nan_array((size_t)ndays, npix, CC_CL_NS1);
    if (!s->s2 || !s->landsat || !s->olci || !s->s1) {
        cc_series_free(s);
        return cc_error_set(CC_ERR_NOMEM, "series: cannot allocate %d days x %zu pixels", ndays, npix);
    }
    return CC_OK;
}

void cc_series_free(cc_series *s)
{
    free(s->s2);
    free(s->landsat);
    free(s->olci);
    free(s->s1);
    memset(s, 0, sizeof *s);
}
