#!/usr/bin/python3
"""Model-level comparison of clearcube's CPU runtime against PyTorch (issue 3).

usage: test_torch_models.py <run_model>

For each network -- the reference architectures A (per-pixel MLP), B (3x3
residual block), C (U-Net-lite, bilinear upsampling, skip concats), D (every
2-D op: stride-2 conv, reflect padding, LeakyReLU, SiLU, sigmoid, affine,
avg/max pool, nearest and bilinear upsampling, add, concat) and E (temporal
conv1d_time over T=5) -- it builds the net in torch with seeded random
weights, writes it with scripts/torch2clearcube.py, writes a uint16 DN input
(with nodata pixels), computes the reference reflectance in torch (float64,
from the same float32 weights) with the decoding/encoding of kernels/nn.h:
    rho = (DN + dn_offset)/quantification, x = (rho - mean)/std (0 at nodata),
    out = net(x)*scale + shift + rho[residual_channel], NaN at nodata,
runs tests/torch/run_model (cc_nn_run_float, CPU backend) and requires the
same nodata mask and max |diff| <= 1e-4 in reflectance.
Exit 77 (skip) when /usr/bin/python3 cannot import torch."""
import os
import shutil
import subprocess
import sys

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:
    print("SKIP: /usr/bin/python3 cannot import torch (python3-torch, a test-only dependency): %s" % e)
    sys.exit(77)

SRC = os.environ.get("CLEARCUBE_SOURCE", os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "scripts"))
import torch2clearcube as t2c  # noqa: E402

TOL = 1e-4
L1C_BANDS = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12",
             "VZA", "SZA", "RAA"]  # 16 inputs: 13 bands + 3 angle planes (names only matter for order)
RES = [60, 10, 10, 10, 20, 20, 20, 10, 20, 60, 60, 20, 20, 5000, 5000, 5000]


def conv(name, inp, param, act="none", pad="zero", stride=1, alpha=None):
    n = {"op": "conv2d", "name": name, "inputs": [inp], "param": param, "act": act, "pad": pad, "stride": stride}
    if alpha is not None:
        n["alpha"] = alpha
    return n


def op(o, name, *inputs, act="none"):
    return {"op": o, "name": name, "inputs": list(inputs), "act": act}


def spec_for(nodes, nbands, rng, residual):
    """Input description + output node (scale/shift/residual) around nodes."""
    inp = {"bands": L1C_BANDS[:nbands], "resolutions_m": RES[:nbands], "dn_offset": -1000.0,
           "quantification": 10000.0,
           "mean": [float(v) for v in rng.uniform(0.05, 0.3, nbands).astype(np.float32)],
           "std": [float(v) for v in rng.uniform(0.05, 0.2, nbands).astype(np.float32)]}
    nout = len(residual)
    out = {"op": "output", "name": "out", "inputs": [nodes[-1]["name"]],
           "scale": [float(v) for v in rng.uniform(0.02, 0.08, nout).astype(np.float32)],
           "shift": [float(v) for v in rng.uniform(-0.01, 0.01, nout).astype(np.float32)],
           "residual_channel": residual, "out_dn_offset": 1000.0}
    return {"input": inp, "nodes": [{"op": "input", "name": "in"}] + nodes + [out]}


def he_init(net, gen):
    """He-normal weights, small biases: activations stay O(1) through depth."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Conv3d)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
                m.bias.copy_((torch.rand(m.bias.shape, generator=gen) - 0.5) * 0.2)


# ---- the networks (forward on (T, C, H, W)) ----

class NetA(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1, self.l2, self.l3 = nn.Conv2d(16, 64, 1), nn.Conv2d(64, 64, 1), nn.Conv2d(64, 12, 1)

    def forward(self, x):
        return self.l3(F.relu(self.l2(F.relu(self.l1(x)))))

    graph = [conv("l1", "in", "l1", "relu"), conv("l2", "l1", "l2", "relu"), conv("l3", "l2", "l3")]


class NetB(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c2, self.c3 = nn.Conv2d(16, 32, 3, padding=1), nn.Conv2d(32, 32, 3, padding=1), \
            nn.Conv2d(32, 32, 3, padding=1)
        self.head = nn.Conv2d(32, 12, 1)

    def forward(self, x):
        x1 = F.relu(self.c1(x))
        x2 = F.relu(self.c2(x1))
        x3 = F.relu(self.c3(x2) + x1)
        return self.head(x3)

    graph = [conv("c1", "in", "c1", "relu"), conv("c2", "c1", "c2", "relu"), conv("c3", "c2", "c3"),
             op("add", "res", "c3", "c1", act="relu"), conv("head", "res", "head")]


class NetC(nn.Module):
    def __init__(self):
        super().__init__()

        def c(i, o):
            return nn.Conv2d(i, o, 3, padding=1, padding_mode="reflect")
        self.e1a, self.e1b = c(16, 32), c(32, 32)
        self.e2a, self.e2b = c(32, 64), c(64, 64)
        self.ba, self.bb = c(64, 128), c(128, 128)
        self.d2a, self.d2b = c(192, 64), c(64, 64)
        self.d1a, self.d1b = c(96, 32), c(32, 32)
        self.head = nn.Conv2d(32, 12, 1)

    def forward(self, x):
        up = lambda t: F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)  # noqa: E731
        e1 = F.relu(self.e1b(F.relu(self.e1a(x))))
        e2 = F.relu(self.e2b(F.relu(self.e2a(F.max_pool2d(e1, 2)))))
        b = F.relu(self.bb(F.relu(self.ba(F.max_pool2d(e2, 2)))))
        d2 = F.relu(self.d2b(F.relu(self.d2a(torch.cat([up(b), e2], 1)))))
        d1 = F.relu(self.d1b(F.relu(self.d1a(torch.cat([up(d2), e1], 1)))))
        return self.head(d1)

    graph = [conv("e1a", "in", "e1a", "relu", "reflect"), conv("e1b", "e1a", "e1b", "relu", "reflect"),
             op("maxpool2", "p1", "e1b"),
             conv("e2a", "p1", "e2a", "relu", "reflect"), conv("e2b", "e2a", "e2b", "relu", "reflect"),
             op("maxpool2", "p2", "e2b"),
             conv("ba", "p2", "ba", "relu", "reflect"), conv("bb", "ba", "bb", "relu", "reflect"),
             op("upsample2_bilinear", "up2", "bb"), op("concat", "cat2", "up2", "e2b"),
             conv("d2a", "cat2", "d2a", "relu", "reflect"), conv("d2b", "d2a", "d2b", "relu", "reflect"),
             op("upsample2_bilinear", "up1", "d2b"), op("concat", "cat1", "up1", "e1b"),
             conv("d1a", "cat1", "d1a", "relu", "reflect"), conv("d1b", "d1a", "d1b", "relu", "reflect"),
             conv("head", "d1b", "head")]


class NetD(nn.Module):
    """Every 2-D op."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(6, 16, 3, padding=1, padding_mode="reflect")
        self.c2 = nn.Conv2d(16, 16, 3, stride=2, padding=1)
        self.c2b = nn.Conv2d(16, 16, 1, stride=2)
        self.scale = nn.Parameter(torch.ones(16))
        self.shift = nn.Parameter(torch.zeros(16))
        self.c3 = nn.Conv2d(64, 16, 1)
        self.head = nn.Conv2d(16, 4, 3, padding=1, padding_mode="reflect")

    def forward(self, x):
        x1 = F.leaky_relu(self.c1(x), 0.2)
        x2 = F.silu(self.c2(x1))
        x2b = self.c2b(x1)
        a = torch.sigmoid(x2 * self.scale.view(1, -1, 1, 1) + self.shift.view(1, -1, 1, 1))
        upn = F.interpolate(a, scale_factor=2, mode="nearest")
        cat = torch.cat([a, F.avg_pool2d(x1, 2), F.max_pool2d(x1, 2), x2b], 1)
        upb = F.interpolate(F.relu(self.c3(cat)), scale_factor=2, mode="bilinear", align_corners=False)
        s = F.silu(F.relu(upn + upb))
        return self.head(s)

    graph = [conv("c1", "in", "c1", "leaky_relu", "reflect", alpha=0.2),
             conv("c2", "c1", "c2", "silu", stride=2), conv("c2b", "c1", "c2b", stride=2),
             {"op": "affine", "name": "aff", "inputs": ["c2"], "scale": "scale", "shift": "shift", "act": "sigmoid"},
             op("upsample2_nearest", "upn", "aff"), op("avgpool2", "pavg", "c1"), op("maxpool2", "pmax", "c1"),
             op("concat", "cat", "aff", "pavg", "pmax", "c2b"), conv("c3", "cat", "c3", "relu"),
             op("upsample2_bilinear", "upb", "c3"), op("add", "sum", "upn", "upb", act="relu"),
             op("act", "act", "sum", act="silu"), conv("head", "act", "head", pad="reflect")]


class NetE(nn.Module):
    """Temporal: per-frame 1x1, conv1d_time (kt=3, zero 'same' padding), per-frame 3x3."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(4, 8, 1)
        self.time = nn.Conv3d(8, 8, (3, 1, 1), padding=(1, 0, 0))
        self.head = nn.Conv2d(8, 4, 3, padding=1, padding_mode="reflect")

    def forward(self, x):
        x = F.relu(self.c1(x))                                        # (T, C, H, W)
        z = self.time(x.permute(1, 0, 2, 3).unsqueeze(0))             # (1, C, T, H, W)
        x = F.silu(z.squeeze(0).permute(1, 0, 2, 3))
        return self.head(x)

    graph = [conv("c1", "in", "c1", "relu"),
             {"op": "conv1d_time", "name": "time", "inputs": ["c1"], "param": "time", "act": "silu"},
             conv("head", "time", "head", pad="reflect")]


def reference(net, spec, dn):
    """Reflectance (T, H, W, outputs) computed in torch, float64."""
    inp, outn = spec["input"], spec["nodes"][-1]
    d = torch.from_numpy(dn.astype(np.float64))
    rho = ((d + inp["dn_offset"]) / inp["quantification"]).float().double()  # as the C decoder rounds
    mean = torch.tensor(np.float32(inp["mean"]), dtype=torch.float64)
    std = torch.tensor(np.float32(inp["std"]), dtype=torch.float64)
    x = ((rho - mean) / std)
    nodata = (d == 0).any(-1)
    x[nodata] = 0.0
    with torch.no_grad():
        y = net(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
    out = y * torch.tensor(np.float32(outn["scale"]), dtype=torch.float64) + \
        torch.tensor(np.float32(outn["shift"]), dtype=torch.float64)
    for c, r in enumerate(outn["residual_channel"]):
        if r >= 0:
            out[..., c] += rho[..., r]
    out[nodata] = float("nan")
    return out.numpy(), y.abs().max().item()


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    run_model = sys.argv[1]
    tmp = os.path.join(os.environ.get("CLEARCUBE_TMP", "/tmp"), "torch_models")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    cases = [("A", NetA, 16, list(range(12)), (1, 24, 40)),
             ("B", NetB, 16, list(range(12)), (1, 24, 40)),
             ("C", NetC, 16, list(range(12)), (1, 24, 40)),
             ("D", NetD, 6, [0, 2, -1, 5], (1, 24, 40)),
             ("E", NetE, 4, [0, 1, -1, 3], (5, 16, 24))]
    failures = 0
    for tag, cls, nbands, residual, (t, h, w) in cases:
        torch.manual_seed(1000 + ord(tag))
        gen = torch.Generator().manual_seed(ord(tag))
        rng = np.random.default_rng(ord(tag))
        net = cls()
        he_init(net, gen)
        if tag == "D":
            with torch.no_grad():
                net.scale.copy_(torch.rand(16, generator=gen) + 0.5)
                net.shift.copy_(torch.rand(16, generator=gen) - 0.5)
        spec = spec_for(cls.graph, nbands, rng, residual)
        model = t2c.build(spec, net.state_dict())          # float32 weights, as stored
        path = os.path.join(tmp, "net%s.h5" % tag)
        t2c.write(path, model, "training data: none (random weights, seed %d)\ncommand: %s" % (ord(tag),
                  " ".join(sys.argv)))
        net = net.double()                                  # the same float32 values, computed in float64

        dn = rng.integers(1001, 7000, size=(t, h, w, nbands)).astype("<u2")
        holes = rng.random((t, h, w)) < 0.03
        dn[holes, rng.integers(0, nbands)] = 0
        dn[0, 0, 0, :] = 0                                  # a corner fully nodata
        inpath, outpath = os.path.join(tmp, "dn%s.raw" % tag), os.path.join(tmp, "out%s.raw" % tag)
        dn.tofile(inpath)
        ref, ymax = reference(net, spec, dn)

        r = subprocess.run([run_model, path, inpath, str(t), str(h), str(w), outpath],
                           capture_output=True, text=True)
        sys.stdout.write(r.stdout)
        if r.returncode != 0:
            print("FAIL %s: run_model: %s" % (tag, r.stderr.strip()))
            failures += 1
            continue
        got = np.fromfile(outpath, dtype="<f4").reshape(ref.shape).astype(np.float64)
        same_mask = np.array_equal(np.isnan(got), np.isnan(ref))
        valid = ~np.isnan(ref) & ~np.isnan(got)
        diff = np.abs(got - ref)[valid].max()
        ok = same_mask and diff <= TOL and np.isfinite(diff)
        print("%s net%s: %dx%dx%d, %d -> %d channels, |net out| <= %.3g, reflectance %.4f..%.4f, "
              "nodata %d px (mask %s), max |diff| %.3g (tol %g)" % (
                  "ok  " if ok else "FAIL", tag, t, h, w, nbands, len(residual), ymax, np.nanmin(ref),
                  np.nanmax(ref), int(np.isnan(ref[..., 0]).sum()), "same" if same_mask else "DIFFERS", diff, TOL))
        failures += not ok
    print("PASS" if not failures else "%d network(s) FAILED" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
