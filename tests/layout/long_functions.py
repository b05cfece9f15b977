#!/usr/bin/env python3
"""Lists C functions longer than a limit (default 150 lines) in the source folders, the tests and
the benchmarks, and C files over 1,000 lines among the tests and benchmarks (the library's own
files are checked by check_layout.py).

A function is a top-level brace block that follows a line ending in ')' (or a K&R-less
declarator split over several lines); counted from the line of its name to its closing brace.
Exit 1 when any is over the limit.
"""
import os
import re
import sys

ROOTS = ("core", "kernels", "io", "pipeline", "jobs", "tests", "bench")
MAX_FILE_LINES = 1000


def functions(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    depth, start, name = 0, None, None
    transparent = 0  # open `namespace {` / `extern "C" {` blocks: their contents are top level
    in_comment = False
    for i, raw in enumerate(lines):
        line = raw
        # strip comments and strings roughly
        out = ""
        j = 0
        while j < len(line):
            if in_comment:
                k = line.find("*/", j)
                if k < 0:
                    j = len(line)
                    break
                in_comment = False
                j = k + 2
                continue
            if line.startswith("/*", j):
                in_comment = True
                j += 2
                continue
            if line.startswith("//", j):
                break
            c = line[j]
            if c in "\"'":
                q = c
                j += 1
                while j < len(line) and line[j] != q:
                    j += 2 if line[j] == "\\" else 1
                j += 1
                continue
            out += c
            j += 1
        for c in out:
            if c == "{" and depth == 0 and re.search(r'\bnamespace\b|extern\s*"C"', raw):
                transparent += 1
                continue
            if c == "}" and depth == 0 and transparent:
                transparent -= 1
                continue
            if c == "{":
                if depth == 0:
                    # find the name: the nearest preceding line with an identifier followed by '('
                    k = i
                    while k >= 0 and k > i - 8:
                        m = re.search(r"([A-Za-z_]\w*)\s*\(", lines[k])
                        if m and not lines[k].lstrip().startswith(("if", "for", "while", "switch")):
                            break
                        k -= 1
                    m = re.search(r"([A-Za-z_]\w*)\s*\(", lines[k]) if k >= 0 else None
                    is_func = m is not None and not re.match(r"\s*(struct|enum|union|typedef|static const|const)\b.*=",
                                                             lines[k]) and "=" not in lines[i].split("{")[0]
                    start, name = (k, m.group(1)) if is_func else (None, None)
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0 and start is not None:
                    yield name, start + 1, i - start + 1
                    start = None


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else 150
    over = []
    for top in ROOTS:
        for d, _, files in os.walk(os.path.join(root, top)):
            for f in sorted(files):
                if f.endswith((".c", ".cu", ".h", ".cuh")):
                    p = os.path.join(d, f)
                    if top in ("tests", "bench"):
                        with open(p, encoding="utf-8", errors="replace") as fh:
                            nl = fh.read().count("\n")
                        if nl > MAX_FILE_LINES:
                            over.append((nl, f"long file: {os.path.relpath(p, root)}: {nl} lines (at most {MAX_FILE_LINES})"))
                    for name, line, n in functions(p):
                        if n > limit:
                            over.append((n, f"long function: {os.path.relpath(p, root)}:{line}: {name}: {n} lines (at most {limit})"))
    for _, s in sorted(over, reverse=True):
        print(s)
    print(f"long functions and files: {len(over)} over the limits ({limit} lines a function)")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
