/* Bilinear upsampling of a coarse uint16 raster window by window
 * (io/grid/upsample.h). Moved here from pipeline/boa/infer.c so that the
 * reference processor and Rapid BoA share it. */
#include "io/grid/upsample.h"

/* Coarse neighbours of fine index i: k0 (clamped), k1 = k0+1 (clamped) with
 * integer weights w0 + w1 = 2f. */
static void taps(int i, int f, int n, int *k0, int *k1, int *w0, int *w1)
{
    const int num = 2 * i + 1 - f, den = 2 * f;
    int q = num >= 0 ? num / den : -((-num + den - 1) / den);
    int a = num - q * den;
    *w1 = a;
    *w0 = den - a;
    *k0 = q < 0 ? 0 : (q > n - 1 ? n - 1 : q);
    *k1 = q + 1 < 0 ? 0 : (q + 1 > n - 1 ? n - 1 : q + 1);
}

void cc_grid_coarse_window(int f, int cw, int ch, int fx0, int fy0, int fw, int fh, int *bx0,
                            int *by0, int *bw, int *bh)
{
    int a0, a1, b0, b1, w0, w1;
    taps(fx0, f, cw, &a0, &a1, &w0, &w1);
    taps(fx0 + fw - 1, f, cw, &b0, &b1, &w0, &w1);
    *bx0 = a0;
    *bw = b1 - a0 + 1;
    taps(fy0, f, ch, &a0, &a1, &w0, &w1);
    taps(fy0 + fh - 1, f, ch, &b0, &b1, &w0, &w1);
    *by0 = a0;
    *bh = b1 - a0 + 1;
}

cc_status cc_grid_upsample_u16(const uint16_t *buf, int bx0, int by0, int bw, int bh, int cw, int ch,
                            int f, int fx0, int fy0, int fw, int fh, uint16_t *dst,
                            size_t dst_stride)
{
    int ax0, ay0, aw, ah;
    if (f < 1 || cw < 1 || ch < 1 || fw < 1 || fh < 1)
        return cc_error_set(CC_ERR_ARG, "upsample: bad sizes");
    cc_grid_coarse_window(f, cw, ch, fx0, fy0, fw, fh, &ax0, &ay0, &aw, &ah);
    if (ax0 < bx0 || ay0 < by0 || ax0 + aw > bx0 + bw || ay0 + ah > by0 + bh)
        return cc_error_set(CC_ERR_ARG, "upsample: the coarse buffer %dx%d at %d,%d does not "
                            "cover %dx%d at %d,%d", bw, bh, bx0, by0, aw, ah, ax0, ay0);
    for (int r = 0; r < fh; r++) {
        int y0, y1, wy0, wy1;
        taps(fy0 + r, f, ch, &y0, &y1, &wy0, &wy1);
        const uint16_t *row0 = buf + (size_t)(y0 - by0) * (size_t)bw;
        const uint16_t *row1 = buf + (size_t)(y1 - by0) * (size_t)bw;
        uint16_t *d = dst + (size_t)r * (size_t)fw * dst_stride;
        for (int cidx = 0; cidx < fw; cidx++) {
            int x0, x1, wx0, wx1;
            taps(fx0 + cidx, f, cw, &x0, &x1, &wx0, &wx1);
            const uint32_t v[4] = {row0[x0 - bx0], row0[x1 - bx0], row1[x0 - bx0],
                                   row1[x1 - bx0]};
            const uint32_t w[4] = {(uint32_t)(wy0 * wx0), (uint32_t)(wy0 * wx1),
                                   (uint32_t)(wy1 * wx0), (uint32_t)(wy1 * wx1)};
            uint32_t sum = 0, wsum = 0;
            for (int k = 0; k < 4; k++)
                if (w[k] && v[k]) {
                    sum += w[k] * v[k];
                    wsum += w[k];
                }
            d[(size_t)cidx * dst_stride] = wsum ? (uint16_t)((sum + wsum / 2) / wsum) : 0;
        }
    }
    return CC_OK;
}
