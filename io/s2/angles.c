/* Angle grid sampling (io/s2/scene.h): NaN-aware bilinear interpolation of the
 * 5 km Sentinel-2 sun/view angle grids, a wrap-around-safe variant for
 * azimuths and the nanmean. Nothing here allocates. */
#include <math.h>
#include <stddef.h>

#include "io/s2/scene.h"

#define CC_DEG2RAD (3.14159265358979323846 / 180.0)

/* Value of node k, mapped for the requested mode: 0 = plain, 1 = sin, 2 = cos
 * of the angle in degrees. */
static double node_value(float v, int mode)
{
    if (mode == 1)
        return sin((double)v * CC_DEG2RAD);
    if (mode == 2)
        return cos((double)v * CC_DEG2RAD);
    return (double)v;
}

/* Index of the valid node nearest to fractional grid position (fi, fj), or -1
 * if the grid has no valid node. Distance in metres (dx, dy may differ). */
static ptrdiff_t nearest_valid(const cc_angle_grid *g, double fi, double fj)
{
    ptrdiff_t best = -1;
    double best_d = INFINITY;
    for (int j = 0; j < g->ny; j++) {
        for (int i = 0; i < g->nx; i++) {
            ptrdiff_t k = (ptrdiff_t)j * g->nx + i;
            if (isnan(g->v[k]))
                continue;
            double ddx = (i - fi) * g->dx, ddy = (j - fj) * g->dy;
            double d = ddx * ddx + ddy * ddy;
            if (d < best_d) {
                best_d = d;
                best = k;
            }
        }
    }
    return best;
}

/* Clamped fractional grid coordinate of a map coordinate along one axis. */
static double grid_coord(double x, double x0, double step, int n)
{
    double f = step != 0.0 ? (x - x0) / step : 0.0;
    if (!(f > 0.0))
        f = 0.0; /* also catches NaN from a degenerate step */
    if (f > (double)(n - 1))
        f = (double)(n - 1);
    return f;
}

/* NaN-aware bilinear sample in the given mode (see node_value). Returns NaN
 * only when the grid is empty or entirely NaN. For modes 1/2 the nearest-node
 * fallback also returns the mapped value. */
static double sample_mode(const cc_angle_grid *g, double x, double y, int mode)
{
    if (!g || !g->v || g->nx < 1 || g->ny < 1 || isnan(x) || isnan(y))
        return NAN;
    double fi = grid_coord(x, g->x0, g->dx, g->nx);
    double fj = grid_coord(y, g->y0, g->dy, g->ny);
    int i0 = (int)floor(fi), j0 = (int)floor(fj);
    if (i0 > g->nx - 2)
        i0 = g->nx > 1 ? g->nx - 2 : 0;
    if (j0 > g->ny - 2)
        j0 = g->ny > 1 ? g->ny - 2 : 0;
    int i1 = i0 + 1 < g->nx ? i0 + 1 : i0;
    int j1 = j0 + 1 < g->ny ? j0 + 1 : j0;
    double tx = fi - i0, ty = fj - j0;
    const int ii[4] = {i0, i1, i0, i1};
    const int jj[4] = {j0, j0, j1, j1};
    const double w[4] = {(1 - tx) * (1 - ty), tx * (1 - ty), (1 - tx) * ty, tx * ty};
    double sum = 0.0, wsum = 0.0;
    for (int c = 0; c < 4; c++) {
        float v = g->v[(ptrdiff_t)jj[c] * g->nx + ii[c]];
        if (isnan(v) || w[c] <= 0.0)
            continue;
        sum += w[c] * node_value(v, mode);
        wsum += w[c];
    }
    if (wsum > 0.0)
        return sum / wsum;
    ptrdiff_t k = nearest_valid(g, fi, fj);
    return k < 0 ? NAN : node_value(g->v[k], mode);
}

double cc_angle_grid_sample(const cc_angle_grid *g, double x, double y)
{
    return sample_mode(g, x, y, 0);
}

double cc_angle_grid_sample_azimuth(const cc_angle_grid *g, double x, double y)
{
    double s = sample_mode(g, x, y, 1);
    double c = sample_mode(g, x, y, 2);
    if (isnan(s) || isnan(c))
        return NAN;
    double a = atan2(s, c) / CC_DEG2RAD;
    if (a < 0.0)
        a += 360.0;
    if (a >= 360.0)
        a -= 360.0;
    return a;
}

double cc_angle_grid_mean(const cc_angle_grid *g)
{
    if (!g || !g->v || g->nx < 1 || g->ny < 1)
        return NAN;
    double sum = 0.0;
    size_t n = 0, total = (size_t)g->nx * (size_t)g->ny;
    for (size_t k = 0; k < total; k++) {
        if (isnan(g->v[k]))
            continue;
        sum += g->v[k];
        n++;
    }
    return n ? sum / (double)n : NAN;
}
