#!/usr/bin/python3
"""torch2clearcube.py: write a clearcube model file from a PyTorch state_dict.

The file layout and the content hash are specified in docs/formats/model.md;
this script and io/model_file.c must agree on both (tests/modelfile checks it).

Command line (Debian python3-h5py, python3-numpy; python3-torch to load .pt):
    torch2clearcube.py --graph graph.json --state-dict model.pt --out model.h5 \
                       [--provenance "training data: ...; command: ..."]

graph.json describes the network in execution order:
    {"input": {"bands": ["B01", ...], "resolutions_m": [60, ...],
               "dn_offset": -1000, "quantification": 10000,
               "mean": [...], "std": [...]},
     "output_bands": ["B01", ...],                     (optional, informative)
     "nodes": [
       {"op": "input", "name": "in"},
       {"op": "conv2d", "name": "c1", "inputs": ["in"], "param": "body.0",
        "kernel": 3, "stride": 1, "pad": "reflect", "act": "relu"},
       {"op": "affine", "name": "bn", "inputs": ["c1"], "bn": "body.1"},
       {"op": "output", "name": "out", "inputs": ["..."], "scale": [...],
        "shift": [...], "residual_channel": [0, 1, -1, ...], "out_dn_offset": 1000}]}
  inputs: earlier node names (or indices). conv2d/conv1d_time take their weight
  and optional bias from the state_dict entries "<param>.weight"/"<param>.bias"
  (nn.Conv2d [cout][cin][k][k] -> stored [cout][k][k][cin]; nn.Conv1d
  [cout][cin][kt] or nn.Conv3d [cout][cin][kt][1][1] -> [cout][kt][cin]);
  cout comes from the weight. affine/output take "scale"/"shift" as lists or
  state_dict keys, or "bn": a BatchNorm prefix (eval-mode scale and shift).
  act: none relu leaky_relu (with "alpha") silu sigmoid; pad: zero reflect.

As a module: build(spec, state_dict) -> model dict; write(path, model,
provenance, output_bands); read(path) -> model dict (hash verified);
content_hash(model); canonical_lines(model).
"""
import argparse
import hashlib
import json
import os
import struct
import sys
import time

import h5py
import numpy as np

FORMAT, VERSION = "clearcube-model", 1
OPS = ["input", "conv2d", "affine", "act", "add", "concat", "avgpool2", "maxpool2",
       "upsample2_nearest", "upsample2_bilinear", "conv1d_time", "output"]
ACTS = ["none", "relu", "leaky_relu", "silu", "sigmoid"]
PADS = ["zero", "reflect"]
COMPRESS_MIN = 4096


def _f32(x):
    return "%08x" % int(np.array(x, dtype="<f4").view("<u4"))


def _f64(x):
    return "%016x" % struct.unpack("<Q", struct.pack("<d", float(x)))[0]


def _tensor_names(op):
    if op in ("conv2d", "conv1d_time"):
        return ["weight", "bias"]
    if op in ("affine", "output"):
        return ["scale", "shift"]
    return []


def _derive(nodes):
    """Fills cout of every node from its op and inputs (the C rules)."""
    for n in nodes:
        ins = [nodes[j]["cout"] for j in n["inputs"]]
        if n["op"] == "input":
            n["cout"] = n["in_channels"]
        elif n["op"] in ("conv2d", "conv1d_time"):
            pass
        elif n["op"] == "add":
            if ins[0] != ins[1]:
                raise ValueError("node %s: add of %d and %d channels" % (n["name"], ins[0], ins[1]))
            n["cout"] = ins[0]
        elif n["op"] == "concat":
            n["cout"] = sum(ins)
        else:
            n["cout"] = ins[0]


def canonical_lines(model):
    """The canonical serialisation (docs/formats/model.md) as a list of
    (text line, float32 array or None)."""
    inp, nodes = model["input"], model["nodes"]
    out = [("clearcube-model 1\n", None),
           ("input %d %s %s\n" % (len(inp["bands"]), _f64(inp["dn_offset"]), _f64(inp["quantification"])), None)]
    for c, b in enumerate(inp["bands"]):
        out.append(("band %d %s %d %s %s\n" % (c, b, inp["resolutions_m"][c], _f32(inp["mean"][c]),
                                               _f32(inp["std"][c])), None))
    out.append(("nodes %d\n" % len(nodes), None))
    for i, n in enumerate(nodes):
        ins = ",".join(str(j) for j in n["inputs"]) or "-"
        res = ",".join(str(r) for r in n["residual_channel"]) if n["op"] == "output" else "-"
        out.append(("node %d %s %s %s %d %d %d %s %s %s %d %s %s\n" % (
            i, n["op"], n["name"], ins, n["cout"], n["kernel"], n["stride"], n["pad"], n["act"],
            _f32(n["alpha"]), n["in_channels"], _f64(n["out_dn_offset"]), res), None))
        for t in _tensor_names(n["op"]):
            a = n["tensors"][t]
            out.append(("tensor %d %s %s\n" % (i, t, "x".join(str(d) for d in a.shape)), a))
    out.append(("end\n", None))
    return out


def content_hash(model):
    h = hashlib.sha256()
    for line, a in canonical_lines(model):
        h.update(line.encode("ascii"))
        if a is not None:
            h.update(np.ascontiguousarray(a, dtype="<f4").tobytes())
    return h.hexdigest()


def _arr(sd, v):
    if isinstance(v, str):
        v = sd[v]
    if hasattr(v, "detach"):
        v = v.detach().cpu().numpy()
    return np.asarray(v, dtype=np.float32)


def build(spec, state_dict):
    """Model dict from a graph description and a state_dict (see the top)."""
    sd, inp = state_dict, spec["input"]
    names, nodes = {}, []
    for i, s in enumerate(spec["nodes"]):
        op = s["op"]
        n = {"op": op, "name": s.get("name", "node%d" % i),
             "inputs": [names[j] if isinstance(j, str) else int(j) for j in s.get("inputs", [])],
             "cout": int(s.get("cout", 0)), "kernel": 1, "stride": 1, "pad": s.get("pad", "zero"),
             "act": s.get("act", "none"), "alpha": float(s.get("alpha", 0.01 if s.get("act") == "leaky_relu" else 0.0)),
             "in_channels": len(inp["bands"]) if op == "input" else 0,
             "out_dn_offset": float(s.get("out_dn_offset", 0.0)), "residual_channel": [], "tensors": {}}
        if op not in OPS or n["act"] not in ACTS or n["pad"] not in PADS:
            raise ValueError("node %s: unknown op, act or pad" % n["name"])
        if op in ("conv2d", "conv1d_time"):
            w = _arr(sd, s["param"] + ".weight")
            if op == "conv2d":
                w = w.transpose(0, 2, 3, 1)                  # [cout][cin][k][k] -> [cout][k][k][cin]
                n["kernel"], n["stride"] = w.shape[1], int(s.get("stride", 1))
            else:
                w = w.reshape(w.shape[0], w.shape[1], w.shape[2]).transpose(0, 2, 1)  # -> [cout][kt][cin]
                n["kernel"] = w.shape[1]
            b = sd.get(s["param"] + ".bias")
            n["cout"] = w.shape[0]
            n["tensors"] = {"weight": np.ascontiguousarray(w),
                            "bias": _arr(sd, b) if b is not None else np.zeros(w.shape[0], np.float32)}
        if op in ("affine", "output"):
            if "bn" in s:
                p = s["bn"]
                scale = _arr(sd, p + ".weight") / np.sqrt(_arr(sd, p + ".running_var") + s.get("eps", 1e-5))
                shift = _arr(sd, p + ".bias") - _arr(sd, p + ".running_mean") * scale
            else:
                scale, shift = _arr(sd, s["scale"]), _arr(sd, s["shift"])
            n["tensors"] = {"scale": scale.astype(np.float32), "shift": shift.astype(np.float32)}
        if op == "output":
            n["residual_channel"] = [int(r) for r in s.get("residual_channel", [-1] * len(scale))]
        names[n["name"]] = i
        nodes.append(n)
    _derive(nodes)
    for n in nodes:
        for t in _tensor_names(n["op"]):
            if n["tensors"][t].shape[0] != n["cout"]:
                raise ValueError("node %s: %s has %d values for %d channels" % (n["name"], t, n["tensors"][t].shape[0], n["cout"]))
    return {"input": {"bands": list(inp["bands"]), "resolutions_m": [int(r) for r in inp["resolutions_m"]],
                      "dn_offset": float(inp["dn_offset"]), "quantification": float(inp["quantification"]),
                      "mean": [float(np.float32(v)) for v in inp["mean"]], "std": [float(np.float32(v)) for v in inp["std"]]},
            "nodes": nodes, "provenance": ""}


def _s(v):
    return np.bytes_(v.encode("ascii"))


def write(path, model, provenance="", output_bands=None):
    """Writes model to path (temporary file + rename, like the C writer)."""
    inp, nodes = model["input"], model["nodes"]
    out = [n for n in nodes if n["op"] == "output"][0]
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with h5py.File(tmp, "w", libver=("v108", "v110")) as f:   # checksummed metadata, as the C writer
        f.attrs["format"] = _s(FORMAT)
        f.attrs["format_version"] = np.int32(VERSION)
        f.attrs["architecture"] = _s("%d nodes: " % len(nodes) + " ".join("%s(%d)" % (n["op"], n["cout"]) for n in nodes))
        f.attrs["content_hash"] = _s(content_hash(model))
        g = f.create_group("input")
        g.attrs["bands"] = np.array([b.encode("ascii") for b in inp["bands"]])
        g.attrs["resolutions_m"] = np.array(inp["resolutions_m"], dtype="<i4")
        g.attrs["dn_offset"] = np.float64(inp["dn_offset"])
        g.attrs["quantification"] = np.float64(inp["quantification"])
        g.attrs["mean"] = np.array(inp["mean"], dtype="<f4")
        g.attrs["std"] = np.array(inp["std"], dtype="<f4")
        g.attrs["decoding"] = _s("rho = (DN + dn_offset) / quantification; x = (rho - mean) / std; DN 0 = nodata")
        g = f.create_group("output")
        g.attrs["convention"] = _s("rho = value*scale + shift (+ input rho of residual_channel); DN = 10000*rho + %g; "
                                   "clamped to [1, 65534]; DN 0 = nodata" % out["out_dn_offset"])
        ob = output_bands or [inp["bands"][r] if r >= 0 else "out%d" % c for c, r in enumerate(out["residual_channel"])]
        g.attrs["bands"] = np.array([b.encode("ascii") for b in ob])
        g.attrs["out_dn_offset"] = np.float64(out["out_dn_offset"])
        for i, n in enumerate(nodes):
            g = f.create_group("graph/node%04d" % i)
            g.attrs["op"], g.attrs["name"] = _s(n["op"]), _s(n["name"])
            g.attrs["inputs"] = np.array(n["inputs"], dtype="<i4") if n["inputs"] else h5py.Empty("<i4")
            for k in ("cout", "kernel", "stride", "in_channels"):
                g.attrs[k] = np.int32(n[k])
            g.attrs["pad"], g.attrs["act"] = _s(n["pad"]), _s(n["act"])
            g.attrs["alpha"] = np.float32(n["alpha"])
            g.attrs["out_dn_offset"] = np.float64(n["out_dn_offset"])
            if n["op"] == "output":
                g.attrs["residual_channel"] = np.array(n["residual_channel"], dtype="<i4")
            for t in _tensor_names(n["op"]):
                a = np.ascontiguousarray(n["tensors"][t], dtype="<f4")
                big = a.size >= COMPRESS_MIN
                f.create_dataset("tensors/%s/%s" % (n["name"], t), data=a, chunks=a.shape if big else None,
                                 compression="gzip" if big else None, compression_opts=4 if big else None,
                                 shuffle=big)
        g = f.create_group("provenance")
        g.attrs["text"] = _s(provenance)
        g.attrs["software"] = _s("torch2clearcube.py (h5py %s)" % h5py.__version__)
        g.attrs["written_utc"] = _s(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    os.replace(tmp, path)


def _str(v):
    if isinstance(v, np.ndarray):
        return [_str(x) for x in v]
    return v.decode("ascii") if isinstance(v, bytes) else str(v)


def read(path):
    """Reads a model file into a model dict; raises ValueError on a bad file
    (unknown version, content hash mismatch, ...)."""
    with h5py.File(path, "r") as f:
        if _str(f.attrs.get("format", b"")) != FORMAT:
            raise ValueError("%s: not a clearcube model file" % path)
        if int(f.attrs["format_version"]) != VERSION:
            raise ValueError("%s: unknown model format_version %d" % (path, int(f.attrs["format_version"])))
        g = f["input"].attrs
        model = {"input": {"bands": _str(g["bands"]), "resolutions_m": [int(v) for v in g["resolutions_m"]],
                           "dn_offset": float(g["dn_offset"]), "quantification": float(g["quantification"]),
                           "mean": [float(v) for v in np.asarray(g["mean"], "<f4")],
                           "std": [float(v) for v in np.asarray(g["std"], "<f4")]},
                 "nodes": [], "provenance": _str(f["provenance"].attrs.get("text", b"")) if "provenance" in f else ""}
        for i in range(len(f["graph"])):
            a = f["graph/node%04d" % i].attrs
            ins = a["inputs"]
            n = {"op": _str(a["op"]), "name": _str(a["name"]),
                 "inputs": [] if isinstance(ins, h5py.Empty) else [int(v) for v in np.atleast_1d(ins)],
                 "cout": int(a["cout"]), "kernel": int(a["kernel"]), "stride": int(a["stride"]),
                 "pad": _str(a["pad"]), "act": _str(a["act"]), "alpha": float(np.float32(a["alpha"])),
                 "in_channels": int(a["in_channels"]), "out_dn_offset": float(a["out_dn_offset"]),
                 "residual_channel": [int(v) for v in a["residual_channel"]] if "residual_channel" in a else [],
                 "tensors": {}}
            for t in _tensor_names(n["op"]):
                n["tensors"][t] = np.asarray(f["tensors/%s/%s" % (n["name"], t)][()], dtype=np.float32)
            model["nodes"].append(n)
        stored = _str(f.attrs["content_hash"])
    if content_hash(model) != stored:
        raise ValueError("%s: content hash mismatch" % path)
    model["content_hash"] = stored
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--graph", required=True, help="graph description (JSON, see the top of this script)")
    ap.add_argument("--state-dict", required=True, help="torch.save()d state_dict or module")
    ap.add_argument("--out", required=True, help="model file to write (.h5)")
    ap.add_argument("--provenance", default="", help="free text: training data, date, command, ...")
    a = ap.parse_args()
    import torch
    sd = torch.load(a.state_dict, map_location="cpu")
    if hasattr(sd, "state_dict"):
        sd = sd.state_dict()
    with open(a.graph) as fp:
        spec = json.load(fp)
    model = build(spec, sd)
    write(a.out, model, a.provenance or "command: " + " ".join(sys.argv), spec.get("output_bands"))
    print("%s: %d nodes, content hash %s" % (a.out, len(model["nodes"]), content_hash(model)))


if __name__ == "__main__":
    main()
