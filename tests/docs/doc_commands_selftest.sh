#!/usr/bin/env bash
# tests/docs/doc_commands.py itself: a failing documented command fails it; shell variables
# carry from block to block; skip and shared markers skip, with their reason; an unknown
# marker fails; ```text and other fences are not run.
set -u
T=${CLEARCUBE_TMP:-/tmp}/doc_commands_selftest
rm -rf "$T"; mkdir -p "$T/src/docs" "$T/noshared"
DOC=$(dirname "$(readlink -f "$0")")/doc_commands.py
run() { CLEARCUBE_SOURCE="$T/src" CLEARCUBE_TMP="$T" CLEARCUBE_SHARED="$T/noshared" /usr/bin/python3 "$DOC" > "$T/out" 2>&1; }
fails=0
cat > "$T/src/README.md" <<'MD'
```sh
X=42; Y="two
lines"; echo "made" > made.txt
```
```text
false   # a synopsis: never run
```
```python
raise SystemExit(1)
```
<!-- doc-test: skip: for the test -->
```sh
false
```
<!-- doc-test: shared -->
```sh
ls ../shared/datasets
```
```sh
[ "$X" = 42 ] && [ "$(echo "$Y" | wc -l)" = 2 ] && [ -f made.txt ] && clearcube --help > /dev/null
```
MD
run; rc=$?
if [ $rc -eq 0 ] && grep -q "2 block(s) run, 2 skipped, 0 failed" "$T/out" && grep -q "SKIP README.md:.*skip: for the test" "$T/out" \
   && grep -q "SKIP README.md:.*needs ../shared" "$T/out"; then echo "ok   passing blocks, variables carried, skips with reasons"
else echo "FAIL passing case (rc $rc):"; cat "$T/out"; fails=$((fails+1)); fi
printf '```sh\necho fine\n```\n\n```sh\nls /no/such/file\n```\n' > "$T/src/docs/bad.md"
run; rc=$?
if [ $rc -ne 0 ] && grep -q "FAIL docs/bad.md:5: exit 2" "$T/out"; then echo "ok   a failing command fails the test"
else echo "FAIL failing case (rc $rc):"; cat "$T/out"; fails=$((fails+1)); fi
printf '<!-- doc-test: later -->\n```sh\ntrue\n```\n' > "$T/src/docs/bad.md"
run; rc=$?
if [ $rc -ne 0 ] && grep -q "unknown doc-test marker" "$T/out"; then echo "ok   an unknown marker fails the test"
else echo "FAIL unknown marker (rc $rc):"; cat "$T/out"; fails=$((fails+1)); fi
[ $fails -eq 0 ] && echo "PASS doc_commands_selftest" || exit 1
