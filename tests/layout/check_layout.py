#!/usr/bin/env python3
"""The layer rule of docs/architecture.md, checked on the sources and the objects.

1. Includes: every `#include "a/b.h"` of a source under core/ kernels/ io/ pipeline/ jobs/
   must point to a unit the including unit may use (the table USES below).
2. Calls: with --objects DIR (the library's object files, CMakeFiles/clearcube.dir), every
   undefined symbol of an object that another object defines is a call between units, and
   must follow the same table (catches a call that needs no include, such as an extern
   declaration written by hand).
3. No circle between units: the unit graph of includes and calls is acyclic.
4. Size: no source file over 1,000 lines (but generated coefficient tables, GENERATED below).

A unit is a folder of the layout (core, kernels, kernels/smac, io/s2, pipeline/boa, jobs/cli,
...). Exit 0 when all hold, 1 with one line per violation otherwise.
"""
import os
import re
import subprocess
import sys

# unit -> units it may use (besides itself). Layers, bottom to top:
# core < kernels < io < pipeline < jobs; inside a layer, the products and formats that
# may build on one another are listed explicitly.
CORE = {"core"}
KERNELS = CORE | {"kernels", "kernels/cpu", "kernels/cuda", "kernels/smac", "kernels/train", "kernels/device"}
IO_BASE = KERNELS | {"io", "io/grid", "io/s2", "io/stac"}
IO = IO_BASE | {"io/s2", "io/landsat", "io/s1", "io/s3", "io/netcdf"}
PIPE_BASE = IO | {"pipeline/report"}
USES = {
    "core": set(),
    "kernels": CORE,  # graph, plan, backend contract; never calls a backend
    "kernels/cpu": CORE | {"kernels"},  # the backends implement kernels/backend-impl.h
    "kernels/cuda": CORE | {"kernels", "kernels/smac"},
    "kernels/smac": CORE,
    "kernels/train": CORE | {"kernels", "kernels/cpu", "kernels/cuda"},  # forward = the CPU backend's unfused run; GEMMs on a GPU: kernels/cuda/train_cuda.h
    "kernels/device": CORE | {"kernels", "kernels/cpu", "kernels/cuda"},  # --device: picks a backend
    "io": KERNELS | {"io/grid"},
    "io/s2": KERNELS | {"io", "io/stac"},  # STAC items and sidecars as scene inputs
    "io/stac": CORE,  # catalogues: STAC, scene sidecars, product lists (jansson)
    "io/grid": KERNELS | {"io", "io/s2"},  # a tile grid from a scene
    "io/landsat": IO_BASE | {"io/s2"},
    "io/s1": IO_BASE | {"io/s2"},
    "io/s3": IO_BASE | {"io/s2"},
    "io/netcdf": IO_BASE | {"io/s2"},
    "pipeline/report": IO,
    "pipeline/atmos": PIPE_BASE,
    "pipeline/boa": PIPE_BASE | {"pipeline/atmos"},
    "pipeline/cloudless": PIPE_BASE | {"pipeline/atmos"},
    "jobs/run": PIPE_BASE | {"pipeline/atmos", "pipeline/boa", "pipeline/cloudless"},
    "jobs/cli": PIPE_BASE | {"pipeline/atmos", "pipeline/boa", "pipeline/cloudless", "jobs/run"},
}
ROOTS = ("core", "kernels", "io", "pipeline", "jobs")
SOURCE_EXT = (".c", ".h", ".cu", ".cuh")
GENERATED = {"kernels/smac/smac_coefs.c",  # coefficient tables (sen2like), not logic
             "io/grid/s2_tiles_table.c"}  # ESA's tile list (scripts/s2-tiles-table)
BUILD_HEADERS = ("core/version.h", "core/commit.h")  # written into the build tree by CMake
MAX_LINES = 1000


def unit_of(path):
    parts = path.split("/")
    if parts[0] not in ROOTS:
        return None
    if len(parts) >= 3:
        return parts[0] + "/" + parts[1]
    return parts[0]


def sources(root):
    for top in ROOTS:
        for d, _, files in os.walk(os.path.join(root, top)):
            for f in sorted(files):
                if f.endswith(SOURCE_EXT):
                    full = os.path.join(d, f)
                    yield os.path.relpath(full, root)


LAYER_COLOURS = {"jobs": "#f4cccc", "pipeline": "#fce5cd", "io": "#d9ead3", "kernels": "#cfe2f3",
                 "core": "#eeeeee"}


def write_dot(path, edges):
    """The unit graph as Graphviz dot, one cluster per layer, top layer first (docs/architecture.md's
    picture is rendered from it by scripts/architecture-graph)."""
    units = sorted({u for e in edges for u in e})
    with open(path, "w") as f:
        f.write("digraph layout {\n  rankdir=TB; node [shape=box, style=filled, fontname=Helvetica];\n")
        f.write("  edge [color=\"#555555\", arrowsize=0.6];\n")
        for layer in ROOTS[::-1]:
            f.write(f'  subgraph "cluster_{layer}" {{ label="{layer}/"; style=rounded; color="#999999";\n')
            for u in units:
                if u.split("/")[0] == layer:
                    f.write(f'    "{u}" [fillcolor="{LAYER_COLOURS[layer]}"];\n')
            f.write("  }\n")
        f.write('  legend [shape=note, fillcolor=white, label="every unit uses core/ (those arrows not drawn)"];\n')
        for (a, b) in sorted(edges):
            if b == "core":
                continue
            f.write(f'  "{a}" -> "{b}";\n')
        f.write("}\n")


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else
                           os.path.join(os.path.dirname(__file__), "..", ".."))
    objdir = None
    if "--objects" in sys.argv:
        objdir = sys.argv[sys.argv.index("--objects") + 1]
    bad = []
    edges = {}  # (from unit, to unit) -> example

    def use(src, dst, what):
        a, b = unit_of(src), unit_of(dst)
        if a is None or b is None or a == b:
            return
        if a not in USES:
            bad.append(f"{src}: unit {a} is not in the layout table (tests/layout/check_layout.py)")
            return
        edges.setdefault((a, b), f"{src} {what} {dst}")
        if b not in USES[a]:
            bad.append(f"{src}: {what} {dst}: {a} may not use {b} (docs/architecture.md)")

    inc = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
    srcs = list(sources(root))
    for s in srcs:
        with open(os.path.join(root, s), encoding="utf-8", errors="replace") as f:
            text = f.read()
        for m in inc.finditer(text):
            target = m.group(1)
            if os.path.exists(os.path.join(root, target)):
                use(s, target, "includes")
            elif "/" in target and target.split("/")[0] in ROOTS and target not in BUILD_HEADERS:
                bad.append(f"{s}: includes {target}, which does not exist")
        n = text.count("\n")
        if n > MAX_LINES and s not in GENERATED:
            bad.append(f"{s}: {n} lines (at most {MAX_LINES}; split it by idea)")

    if objdir:
        defined, undefined = {}, {}
        for d, _, files in os.walk(objdir):
            for f in files:
                if not f.endswith(".o"):
                    continue
                obj = os.path.join(d, f)
                src = os.path.relpath(obj, objdir)[:-2]  # CMake names objects <source>.o
                out = subprocess.run(["nm", "-P", obj], capture_output=True, text=True).stdout
                for line in out.splitlines():
                    p = line.split()
                    if len(p) < 2:
                        continue
                    if p[1] == "U":
                        undefined.setdefault(src, set()).add(p[0])
                    elif p[1] in "TDBRC" and not p[0].startswith("."):
                        defined.setdefault(p[0], src)
        if not defined:
            bad.append(f"{objdir}: no object files with symbols (build the library first)")
        for src, syms in undefined.items():
            for sym in sorted(syms):
                if sym in defined:
                    use(src, defined[sym], "calls " + sym + " of")

    # circles between units
    graph = {}
    for (a, b) in edges:
        graph.setdefault(a, set()).add(b)
    state = {}

    def visit(u, stack):
        state[u] = 1
        stack.append(u)
        for v in sorted(graph.get(u, ())):
            if state.get(v) == 1:
                cyc = stack[stack.index(v):] + [v]
                bad.append("circle between units: " + " -> ".join(cyc) + " (e.g. " +
                           "; ".join(edges[(cyc[i], cyc[i + 1])] for i in range(len(cyc) - 1)) + ")")
            elif not state.get(v):
                visit(v, stack)
        stack.pop()
        state[u] = 2

    for u in sorted(graph):
        if not state.get(u):
            visit(u, [])

    if "--dot" in sys.argv:
        write_dot(sys.argv[sys.argv.index("--dot") + 1], edges)
    for b in bad:
        print("layout: " + b)
    print(f"layout: {len(srcs)} sources, {len(edges)} unit-to-unit uses, {len(bad)} violations"
          + ("" if objdir else " (includes only)"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
