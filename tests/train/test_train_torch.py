#!/usr/bin/python3
"""Gradients of clearcube's training code against PyTorch autograd (issue 4).

usage: test_train_torch.py <train_torch_helper>

The helper builds a small network in C (reflect/zero padded 3x3 convs,
stride 2, SiLU, LeakyReLU, ReLU, sigmoid, affine, max/avg pool, bilinear and
nearest upsampling, concat, add, a bias-free 1x1 conv, output scale/shift with
residual input channels), runs forward + backward of L = sum(out * dout) and
one AdamW step, and writes weights, input, dout, outputs, gradients and the
updated weights. This script builds the SAME network in torch (float64, from
the float32 weights), and requires:
  - outputs: max |diff| <= 1e-5;
  - every parameter tensor's gradient and the input (rho) gradient:
    ||g_c - g_torch|| / ||g_torch|| < 1e-4;
  - the parameters after one torch.optim.AdamW step (same gradients,
    weight decay only on conv weights): max |diff| <= 1e-6.
Exit 77 (skip) when /usr/bin/python3 cannot import torch."""
import subprocess
import sys
import tempfile
import os

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:
    print("SKIP: /usr/bin/python3 cannot import torch (python3-torch, a test-only dependency): %s" % e)
    sys.exit(77)

GRAD_TOL = 1e-4
OUT_TOL = 1e-5
ADAM_TOL = 1e-6
ALPHA = float(np.float32(0.1))  # LeakyReLU slope (float in C)

# canonical parameter order of the C net: (name, shape in C layout, decay)
PARAMS = [("c1.w", (6, 3, 3, 4), True), ("c1.b", (6,), False),
          ("c2.w", (8, 3, 3, 6), True), ("c2.b", (8,), False),
          ("aff.scale", (8,), False), ("aff.shift", (8,), False),
          ("c3.w", (8, 1, 1, 16), True), ("c3.b", (8,), False),
          ("c4.w", (8, 1, 1, 6), True),
          ("c5.w", (3, 3, 3, 8), True), ("c5.b", (3,), False)]


def main():
    helper = sys.argv[1]
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "net.raw")
        r = subprocess.run([helper, path], capture_output=True, text=True)
        if r.returncode != 0:
            print(r.stdout, r.stderr)
            print("FAIL: helper exited with %d" % r.returncode)
            return 1
        B, H, W, P = (int(v) for v in r.stdout.split())
        raw = np.fromfile(path, dtype="<f4")
    nrho, nout = B * H * W * 4, B * H * W * 3
    sizes = [4, 4, 3, 3, P, nrho, nout, nout, P, nrho, P]
    if raw.size != sum(sizes):
        print("FAIL: file has %d floats, expected %d" % (raw.size, sum(sizes)))
        return 1
    parts, o = [], 0
    for s in sizes:
        parts.append(raw[o:o + s])
        o += s
    mean, std, oscale, oshift, p, rho, dout, out_c, g_c, gin_c, p_after = parts
    if sum(int(np.prod(s)) for _, s, _ in PARAMS) != P:
        print("FAIL: parameter count %d differs from the torch net" % P)
        return 1

    dt = torch.float64
    tens, o = {}, 0
    for name, shape, _ in PARAMS:
        n = int(np.prod(shape))
        t = torch.tensor(p[o:o + n].astype(np.float64)).reshape(shape)
        if len(shape) == 4:  # C [cout][ky][kx][cin] -> torch [cout][cin][ky][kx]
            t = t.permute(0, 3, 1, 2).contiguous()
        tens[name] = t.requires_grad_(True)
        o += n
    rho_t = torch.tensor(rho.astype(np.float64)).reshape(B, H, W, 4).requires_grad_(True)
    T = tens

    def reflect(x):
        return F.pad(x, (1, 1, 1, 1), mode="reflect")

    def up_bil(x):
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)

    x = ((rho_t - torch.tensor(mean, dtype=dt)) / torch.tensor(std, dtype=dt)).permute(0, 3, 1, 2)
    c1 = F.silu(F.conv2d(reflect(x), T["c1.w"], T["c1.b"]))
    c2 = F.leaky_relu(F.conv2d(c1, T["c2.w"], T["c2.b"], stride=2, padding=1), ALPHA)
    af = F.relu(c2 * T["aff.scale"].view(1, -1, 1, 1) + T["aff.shift"].view(1, -1, 1, 1))
    mp = F.max_pool2d(af, 2)
    ub = up_bil(mp)
    ct = torch.cat([ub, c2], dim=1)
    c3 = torch.sigmoid(F.conv2d(ct, T["c3.w"], T["c3.b"]))
    un = F.interpolate(F.avg_pool2d(c3, 2), scale_factor=2, mode="nearest")
    ac = F.silu(un + c3)
    a2 = F.relu(up_bil(ac) + F.conv2d(c1, T["c4.w"]))
    c5 = F.conv2d(reflect(a2), T["c5.w"], T["c5.b"])
    v = c5.permute(0, 2, 3, 1) * torch.tensor(oscale, dtype=dt) + torch.tensor(oshift, dtype=dt)
    resid = torch.stack([rho_t[..., 0], rho_t[..., 2], torch.zeros_like(rho_t[..., 0])], dim=-1)
    y = v + resid
    loss = (y * torch.tensor(dout.astype(np.float64)).reshape(B, H, W, 3)).sum()
    loss.backward()

    fails = 0
    dmax = float(np.max(np.abs(y.detach().numpy().ravel() - out_c)))
    print("forward: max |C - torch| = %.3g (tol %g)" % (dmax, OUT_TOL))
    fails += not dmax <= OUT_TOL

    def rel(a, b):
        return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))

    o = 0
    grads_c = {}
    for name, shape, _ in PARAMS:
        n = int(np.prod(shape))
        gc = g_c[o:o + n].astype(np.float64).reshape(shape)
        if len(shape) == 4:
            gc = gc.transpose(0, 3, 1, 2)
        grads_c[name] = gc
        e = rel(gc, tens[name].grad.numpy())
        ok = e < GRAD_TOL
        fails += not ok
        print("grad %-10s rel.err %.2e %s" % (name, e, "ok" if ok else "FAIL"))
        o += n
    e = rel(gin_c.astype(np.float64), rho_t.grad.numpy().ravel())
    print("grad %-10s rel.err %.2e %s" % ("rho", e, "ok" if e < GRAD_TOL else "FAIL"))
    fails += not e < GRAD_TOL

    # one AdamW step from the same parameters with the C gradients
    params = [torch.nn.Parameter(tens[n].detach().clone()) for n, _, _ in PARAMS]
    for prm, (n, _, _) in zip(params, PARAMS):
        prm.grad = torch.tensor(grads_c[n])
    groups = [{"params": [q for q, (_, _, dec) in zip(params, PARAMS) if dec], "weight_decay": 0.1},
              {"params": [q for q, (_, _, dec) in zip(params, PARAMS) if not dec], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=1e-2, betas=(0.9, 0.999), eps=1e-8)
    opt.step()
    o, amax = 0, 0.0
    for prm, (name, shape, _) in zip(params, PARAMS):
        n = int(np.prod(shape))
        pa = p_after[o:o + n].astype(np.float64).reshape(shape)
        if len(shape) == 4:
            pa = pa.transpose(0, 3, 1, 2)
        amax = max(amax, float(np.max(np.abs(pa - prm.detach().numpy()))))
        o += n
    print("AdamW step: max |C - torch| = %.3g (tol %g)" % (amax, ADAM_TOL))
    fails += not amax <= ADAM_TOL
    print("OK" if fails == 0 else "FAILED (%d)" % fails)
    return 0 if fails == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
