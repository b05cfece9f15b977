#!/usr/bin/python3
"""C <-> Python agreement on model files (docs/formats/model.md).

usage: check_python.py <mf_tool>
 1. a C-written file (mf_tool write) reads in Python (scripts/torch2clearcube.py)
    with the same fields, tensors and hash as C reads it (mf_tool dump);
 2. a file written by torch2clearcube.py (from a state_dict in PyTorch layout)
    reads in C identically, with the same content hash;
 3. the same file with variable-length string attributes (h5py's default)
    also reads in C.
Exit 77 (skip) without h5py."""
import hashlib
import os
import shutil
import subprocess
import sys

try:
    import h5py
    import numpy as np
except ImportError as e:
    print("SKIP: /usr/bin/python3 cannot import h5py/numpy (%s)" % e)
    sys.exit(77)

SRC = os.environ.get("CLEARCUBE_SOURCE", os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "scripts"))
import torch2clearcube as t2c  # noqa: E402

PADS = ["zero", "reflect"]


def f32(x):
    return "%08x" % int(np.array(x, dtype="<f4").view("<u4"))


def dump(model):
    """The text mf_model.h's mf_dump prints for the same model."""
    inp = model["input"]
    out = ["hash %s" % model["content_hash"],
           "input %d %s %s" % (len(inp["bands"]), t2c._f64(inp["dn_offset"]), t2c._f64(inp["quantification"]))]
    for c, b in enumerate(inp["bands"]):
        out.append("band %s %d %s %s" % (b, inp["resolutions_m"][c], f32(inp["mean"][c]), f32(inp["std"][c])))
    for i, n in enumerate(model["nodes"]):
        s = "node %d %s %s [%s] cout %d k %d s %d pad %d act %s alpha %s" % (
            i, n["op"], n["name"], ",".join(str(j) for j in n["inputs"]), n["cout"], n["kernel"], n["stride"],
            PADS.index(n["pad"]), n["act"], f32(n["alpha"]))
        if n["op"] == "input":
            s += " in_channels %d" % n["in_channels"]
        if n["op"] == "output":
            s += " out_dn_offset %s residual" % t2c._f64(n["out_dn_offset"])
            s += "".join(" %d" % r for r in n["residual_channel"])
        out.append(s)
        for t in ("weight", "bias", "scale", "shift"):
            if t in n["tensors"]:
                a = np.ascontiguousarray(n["tensors"][t], dtype="<f4")
                out.append("  %s %d %s" % (t, a.size, hashlib.sha256(a.tobytes()).hexdigest()))
    out.append("provenance %s" % model.get("provenance", ""))
    return "\n".join(out) + "\n"


def c_dump(tool, path):
    r = subprocess.run([tool, "dump", path], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("FAIL: mf_tool dump %s: %s" % (path, r.stderr.strip()))
    return r.stdout


def compare(what, a, b):
    if a != b:
        import difflib
        sys.stdout.writelines(difflib.unified_diff(a.splitlines(True), b.splitlines(True), "C", "Python"))
        raise SystemExit("FAIL: %s differs" % what)
    print("ok: %s" % what)


def every_op_spec(rng):
    """The every-op graph of mf_model.h, but with its own weights, as a
    torch2clearcube graph description + a state_dict in PyTorch layout."""
    sd = {}

    def conv(name, cin, cout, k, kind="2d"):
        shape = (cout, cin, k, k) if kind == "2d" else (cout, cin, k, 1, 1)
        sd[name + ".weight"] = rng.standard_normal(shape).astype(np.float32) * 0.3
        sd[name + ".bias"] = rng.standard_normal(cout).astype(np.float32) * 0.1

    conv("enc.0", 4, 8, 3)
    conv("enc.1", 8, 8, 3)
    conv("mid", 24, 8, 1)
    conv("time", 8, 6, 3, "3d")
    conv("head", 6, 4, 1)
    sd["bn.weight"] = rng.uniform(0.5, 1.5, 8).astype(np.float32)
    sd["bn.bias"] = rng.standard_normal(8).astype(np.float32) * 0.1
    sd["bn.running_mean"] = rng.standard_normal(8).astype(np.float32) * 0.1
    sd["bn.running_var"] = rng.uniform(0.5, 2.0, 8).astype(np.float32)
    spec = {
        "input": {"bands": ["B02", "B03", "B04", "B8A"], "resolutions_m": [10, 10, 10, 20],
                  "dn_offset": -1000, "quantification": 10000,
                  "mean": [0.1, 0.12, 0.14, 0.25], "std": [0.05, 0.06, 0.07, 0.1]},
        "output_bands": ["B02", "B03", "NDVI", "B8A"],
        "nodes": [
            {"op": "input", "name": "in"},
            {"op": "conv2d", "name": "enc.c1", "inputs": ["in"], "param": "enc.0", "pad": "reflect",
             "act": "leaky_relu", "alpha": 0.2},
            {"op": "conv2d", "name": "enc.c2", "inputs": ["enc.c1"], "param": "enc.1", "stride": 2, "act": "silu"},
            {"op": "affine", "name": "bn", "inputs": ["enc.c2"], "bn": "bn", "act": "sigmoid"},
            {"op": "upsample2_nearest", "name": "up_n", "inputs": ["bn"]},
            {"op": "avgpool2", "name": "pool_avg", "inputs": ["enc.c1"]},
            {"op": "maxpool2", "name": "pool_max", "inputs": ["enc.c1"]},
            {"op": "concat", "name": "cat", "inputs": ["bn", "pool_avg", "pool_max"]},
            {"op": "conv2d", "name": "mid.c3", "inputs": ["cat"], "param": "mid", "act": "relu"},
            {"op": "upsample2_bilinear", "name": "up_b", "inputs": ["mid.c3"]},
            {"op": "add", "name": "add", "inputs": ["up_n", "up_b"], "act": "relu"},
            {"op": "act", "name": "act", "inputs": ["add"], "act": "silu"},
            {"op": "conv1d_time", "name": "time", "inputs": ["act"], "param": "time"},
            {"op": "conv2d", "name": "head", "inputs": ["time"], "param": "head"},
            {"op": "output", "name": "out", "inputs": ["head"], "scale": [0.05, 0.04, 0.03, 0.02],
             "shift": [0.01, -0.01, 0.0, 0.005], "residual_channel": [0, 1, -1, 3], "out_dn_offset": 1000},
        ]}
    return spec, sd


def to_vlen_strings(src, dst):
    """Copy of src with every fixed-length string attribute rewritten as a
    variable-length UTF-8 string (what h5py writes for Python str)."""
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        def fix(name, obj):
            for k in list(obj.attrs):
                v = obj.attrs[k]
                if isinstance(v, bytes):
                    obj.attrs[k] = v.decode()
                elif isinstance(v, np.ndarray) and v.dtype.kind == "S":
                    obj.attrs[k] = [s.decode() for s in v]
        fix("/", f)
        f.visititems(fix)


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    tool = sys.argv[1]
    tmp = os.path.join(os.environ.get("CLEARCUBE_TMP", "/tmp"), "modelfile_python")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)

    # 1. C writes, both read
    cpath = os.path.join(tmp, "c_written.h5")
    r = subprocess.run([tool, "write", cpath], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("FAIL: mf_tool write: %s" % r.stderr.strip())
    compare("C-written file read by C and by Python", c_dump(tool, cpath), dump(t2c.read(cpath)))

    # 2. Python writes, both read
    spec, sd = every_op_spec(np.random.default_rng(3))
    model = t2c.build(spec, sd)
    model["content_hash"] = t2c.content_hash(model)
    model["provenance"] = "training data: random (check_python.py)\ncommand: check_python.py"
    ppath = os.path.join(tmp, "py_written.h5")
    t2c.write(ppath, model, model["provenance"], spec["output_bands"])
    compare("Python-written file read by C and the model Python wrote", c_dump(tool, ppath), dump(model))
    compare("Python-written file read back by Python", dump(model), dump(t2c.read(ppath)))
    w = model["nodes"][1]["tensors"]["weight"]
    if w.shape != (8, 3, 3, 4) or not np.array_equal(w, sd["enc.0.weight"].transpose(0, 2, 3, 1)):
        raise SystemExit("FAIL: conv2d weight not converted to [cout][k][k][cin]")

    # 3. variable-length strings
    vpath = os.path.join(tmp, "py_vlen.h5")
    to_vlen_strings(ppath, vpath)
    compare("variable-length string attributes read by C", c_dump(tool, vpath), dump(model))

    # 4. a tampered file is refused by Python too
    with h5py.File(vpath, "r+") as f:
        f["tensors/head/bias"][0] += 1.0
    try:
        t2c.read(vpath)
        raise SystemExit("FAIL: Python read a file with a changed tensor")
    except ValueError as e:
        print("ok: Python refuses a tampered file (%s)" % e)
    print("PASS")


if __name__ == "__main__":
    main()
