#!/usr/bin/env python3
"""Runs every shell command shown in README.md and docs/**/*.md exactly as written
(issue 16), so that the documentation cannot drift from the program.

The convention (docs/testing.md, "Commands in the documentation"):
  * a fenced block opened with ```sh is a command block: its text is run as one bash
    script (bash -e -o pipefail), unchanged; blocks that are not commands (synopses,
    file listings, output) are fenced ```text (or with no language);
  * an HTML comment on the line right before the fence can say how:
      <!-- doc-test: shared -->           needs ../shared (skipped, saying so, when absent)
      <!-- doc-test: skip: REASON -->     not run by the test (minutes of work: the demo,
                                          the whole suite, builds, benchmarks; or what CI
                                          lacks: a GUI, sudo, a Slurm cluster, a GPU)
    any other word is an error;
  * the blocks of one file run in order, as typed into one terminal: in one sandbox that
    looks like the repository root (every top-level entry linked, build/ = the build under
    test, ../shared beside it, `clearcube` on PATH), and the shell variables a block sets
    are seen by the later blocks of the file (the working directory is not carried).
The test fails when any block that runs fails or passes its time limit.
Environment: CLEARCUBE_SOURCE, CLEARCUBE_BIN, CLEARCUBE_SHARED, CLEARCUBE_TMP (ctest sets
them); CLEARCUBE_DOC_FILES restricts the files (space-separated, relative to the source); CLEARCUBE_DOC_TIMEOUT seconds per block
(default 300)."""
import glob
import os
import re
import shutil
import subprocess
import sys
import time

SRC = os.environ["CLEARCUBE_SOURCE"]
BIN = os.environ["CLEARCUBE_BIN"]
BUILD = os.path.dirname(os.path.dirname(os.path.abspath(BIN)))  # <build>/jobs/clearcube
SHARED = os.environ.get("CLEARCUBE_SHARED", "")
HAVE_SHARED = bool(SHARED) and os.path.isdir(os.path.join(SHARED, "datasets"))
TIMEOUT = float(os.environ.get("CLEARCUBE_DOC_TIMEOUT", "300"))
TMP = os.path.join(os.environ.get("CLEARCUBE_TMP", "/tmp"), "doc_commands")

MARK = re.compile(r"^\s*<!--\s*doc-test:\s*([a-z ]+?)\s*(?::\s*(.*?))?\s*-->\s*$")
OPEN = re.compile(r"^(\s*)```\s*sh\s*$")
FENCE = re.compile(r"^\s*```")


def blocks(path):
    """(line, tags, reason, text) of each ```sh block of a Markdown file."""
    out, lines = [], open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        m = OPEN.match(lines[i])
        if not m:
            if FENCE.match(lines[i]):  # another fenced block: skip it whole
                i += 1
                while i < len(lines) and not FENCE.match(lines[i]):
                    i += 1
            i += 1
            continue
        tags, reason = set(), ""
        if i > 0:
            mk = MARK.match(lines[i - 1])
            if mk:
                tags, reason = set(mk.group(1).split()), mk.group(2) or ""
        start, body, i = i + 1, [], i + 1
        indent = len(m.group(1))
        while i < len(lines) and not FENCE.match(lines[i]):
            body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
            i += 1
        out.append((start, tags, reason, "\n".join(body) + "\n"))
        i += 1
    return out


def sandbox(name):
    """A folder that looks like the repository root, with ../shared beside it."""
    top = os.path.join(TMP, name)
    shutil.rmtree(top, ignore_errors=True)
    repo = os.path.join(top, "repo")
    os.makedirs(os.path.join(top, "home"))
    os.makedirs(repo)
    for e in os.listdir(SRC):
        if e.startswith("build") or e in ("out", ".git"):
            continue
        os.symlink(os.path.join(SRC, e), os.path.join(repo, e))
    os.symlink(BUILD, os.path.join(repo, "build"))
    if os.path.isdir(os.path.join(SRC, ".git")):
        os.symlink(os.path.join(SRC, ".git"), os.path.join(repo, ".git"))
    if SHARED and os.path.isdir(SHARED):
        os.symlink(os.path.abspath(SHARED), os.path.join(top, "shared"))
    return top, repo


def main():
    files = os.environ.get("CLEARCUBE_DOC_FILES", "").split()
    if not files:
        files = ["README.md"] + sorted(os.path.relpath(p, SRC) for p in glob.glob(os.path.join(SRC, "docs", "**", "*.md"), recursive=True))
    env = dict(os.environ)
    # the Debian machine of scripts/setup: its python3 (python3-xarray, python3-gdal) first
    env["PATH"] = os.pathsep.join([os.path.join(BUILD, "jobs"), "/usr/bin", env.get("PATH", "")])
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_rmaps_base_oversubscribe="1",
               CLEARCUBE_PROGRESS_INTERVAL="60")
    # a sanitizer build: Open MPI's components stay loaded and its allocations are suppressed
    # (tests/lsan-libs.supp, as tests/run/run_mpi.sh), full stacks so that the library suppressions match
    env["OMPI_MCA_mca_base_component_disable_dlclose"] = "1"
    if "suppressions=" in env.get("LSAN_OPTIONS", ""):
        env["LSAN_OPTIONS"] += ":fast_unwind_on_malloc=0"   # tests/lsan-libs.supp holds Open MPI's too
    nrun = nskip = 0
    failed = []
    for f in files:
        bl = blocks(os.path.join(SRC, f))
        if not bl:
            continue
        top, repo = None, None
        for line, tags, reason, text in bl:
            where = f"{f}:{line}"
            why = None
            if tags - {"skip", "shared"}:
                failed.append(where)
                print(f"FAIL {where}: unknown doc-test marker {sorted(tags - {'skip', 'shared'})}")
                continue
            if "skip" in tags:
                why = "skip: " + (reason or "(no reason given)")
            elif "shared" in tags and not HAVE_SHARED:
                why = f"needs ../shared ({SHARED or 'unset'} has no datasets/)"
            if why:
                print(f"SKIP {where}: {why}")
                nskip += 1
                continue
            if top is None:
                top, repo = sandbox(f.replace("/", "_").replace(".md", ""))
                env["HOME"] = os.path.join(top, "home")
            t0 = time.time()
            state = os.path.join(top, "shell-variables")
            script = (f'[ -f "{state}" ] && . "{state}"\nset -e -o pipefail\n' + text +
                      '\nfor v in $(compgen -v); do case $v in BASH*|EUID|PPID|UID|SHELLOPTS|BASHOPTS|SHLVL|PWD|'
                      'OLDPWD|_|HOME|PATH|FUNCNAME|GROUPS|PIPESTATUS|DIRSTACK|RANDOM|SRANDOM|LINENO|SECONDS|HIST*|'
                      'EPOCH*|COMP*|IFS|PS[0-9]|OPTIND|OPTERR|MACHTYPE|HOSTTYPE|OSTYPE|HOSTNAME|TERM|v) ;; '
                      f'*) declare -p "$v" 2>/dev/null ;; esac; done > "{state}"\n')
            try:
                r = subprocess.run(["bash", "-c", script], cwd=repo, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=TIMEOUT)
                rc, out = r.returncode, r.stdout.decode("utf-8", "replace")
            except subprocess.TimeoutExpired as e:
                rc, out = "timeout", (e.stdout or b"").decode("utf-8", "replace")
            dt = time.time() - t0
            nrun += 1
            if rc == 0:
                print(f"ok   {where} ({dt:.1f} s)")
            else:
                failed.append(where)
                print(f"FAIL {where}: exit {rc} after {dt:.1f} s; the block:\n" + "".join("    | " + l + "\n" for l in text.rstrip("\n").split("\n")))
                print("  its last output:\n" + "".join("    > " + l + "\n" for l in out.rstrip("\n").split("\n")[-15:]))
    print(f"{nrun} block(s) run, {nskip} skipped, {len(failed)} failed" + (": " + ", ".join(failed) if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
