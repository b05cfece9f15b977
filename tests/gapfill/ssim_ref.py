#!/usr/bin/python3
"""Independent SSIM reference for tests/gapfill/test_gapfill.c (numpy, a
direct 2-D 11x11 Gaussian window sum, sigma 1.5, C1 = 0.01^2, C2 = 0.03^2,
mean over windows inside the image whose pixels are all unmasked).
Prints the two constants the C test checks: full image, masked block."""
import numpy as np

W, H = 32, 24
y, x = np.mgrid[0:H, 0:W].astype(np.float64)
v = 0.2 + 0.1 * np.sin(0.3 * x) * np.cos(0.2 * y) + 0.002 * x
a = v.astype(np.float32).astype(np.float64)
b = (0.9 * v + 0.03 + 0.02 * np.sin(1.7 * x + 0.9 * y)).astype(np.float32).astype(np.float64)

k = np.arange(-5, 6)
g1 = np.exp(-k**2 / (2 * 1.5**2))
g = np.outer(g1, g1)
g /= g.sum()
C1, C2 = 0.01**2, 0.03**2


def ssim(a, b, mask):
    vals = []
    for i in range(H - 10):
        for j in range(W - 10):
            if not mask[i:i + 11, j:j + 11].all():
                continue
            wa, wb = a[i:i + 11, j:j + 11], b[i:i + 11, j:j + 11]
            ma, mb = (g * wa).sum(), (g * wb).sum()
            va = (g * (wa - ma)**2).sum()
            vb = (g * (wb - mb)**2).sum()
            cab = (g * (wa - ma) * (wb - mb)).sum()
            vals.append(((2 * ma * mb + C1) * (2 * cab + C2)) /
                        ((ma**2 + mb**2 + C1) * (va + vb + C2)))
    return np.mean(vals)


full = np.ones((H, W), bool)
m = full.copy()
m[5:9, 20:] = False
print("%.12f %.12f" % (ssim(a, b, full), ssim(a, b, m)))
