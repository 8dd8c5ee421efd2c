#!/usr/bin/env bash
# Round trips with the real Python libraries (transformers 4.43.4, peft 0.12.0, AdapterHub adapters 1.0.0):
# gotune's outputs loaded by them, and theirs (AdapterHub's default .bin saves included) loaded by gotune.
# They cannot run in CI (no PyTorch there); this runs them where the peer is present and prints the table
# of docs/interop.md (case, loaded without edits?, max |diff|).
#
# Needs the peer of ../shared/peer (README.md there): Debian's python3-torch and the library sources. With
# $PERF/pylib missing it is built by ../shared/peer/setup.sh, which needs the library repositories as git
# directories in MIRROR_TRANSFORMERS, MIRROR_PEFT, MIRROR_ACCELERATE, MIRROR_HUB, MIRROR_ADAPTERS (see setup.sh).
# SKIP_APT=1 skips setup.sh's apt-get step (packages already installed).
#
# Usage: PERF=/tmp/perf bash bench/interop.sh [TABLE.md]      (about 10 minutes on 2 idle cores)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
PEER=$SHARED/peer
export PERF=${PERF:-${TMPDIR:-/tmp}/perf}
TABLE=${1:-}
if [ ! -f "$PEER/interop/run_all.sh" ]; then
  echo "interop: the peer ($PEER) is not here; nothing to run" >&2
  exit 0
fi
if [ ! -d "$PERF/pylib/transformers" ] || [ ! -d "$PERF/adapterlib/adapters" ]; then
  echo "interop: building the peer under $PERF" >&2
  setup=$PEER/setup.sh
  if [ "${SKIP_APT:-0}" = 1 ]; then
    setup=$(mktemp)
    sed -e 's/^apt-get/: apt-get/' -e 's#^HERE=.*#HERE='"$PEER"'#' "$PEER/setup.sh" > "$setup"
  fi
  PERF=$PERF bash "$setup"
fi
# The scripts are the peer's own, always the current ones; they use ../shared relative to $PERF/interop.
mkdir -p "$PERF/interop"
cp "$PEER"/interop/*.py "$PEER"/interop/*.sh "$PERF/interop/"
[ -e "$PERF/shared" ] || ln -s "$(cd "$SHARED" && pwd)" "$PERF/shared"
# Data: 64 SST-2 training sentences, 8 dev sentences to predict (any text serves: each check compares gotune
# with the library on the same inputs).
mkdir -p "$PERF/interop/data"
if [ ! -f "$PERF/interop/data/train64.jsonl" ] || [ ! -f "$PERF/interop/data/pred8.jsonl" ]; then
  /usr/bin/python3 - "$SHARED/assets/datasets/sst2" "$PERF/interop/data" <<'PY'
import json, sys
src, dst = sys.argv[1], sys.argv[2]
def rows(name, n):
    lines = open(f"{src}/{name}").read().splitlines()[1:n + 1]
    return [l.split("\t") for l in lines]
with open(f"{dst}/train64.jsonl", "w") as f:
    for text, label in rows("train.tsv", 64):
        f.write(json.dumps({"text": text.strip(), "label": int(label)}) + "\n")
with open(f"{dst}/pred8.jsonl", "w") as f:
    for text, _ in rows("dev.tsv", 8):
        f.write(json.dumps({"text": text.strip()}) + "\n")
PY
fi
# gotune from this checkout, first on PATH.
BIN=$(mktemp -d)
trap 'rm -rf "$BIN"' EXIT
(cd "$ROOT" && GOTOOLCHAIN=auto GOEXPERIMENT=simd go build -o "$BIN/gotune" ./cmd/gotune)
export PATH=$BIN:$PATH
# Fresh runs: the previous ones were made by another gotune.
rm -rf "$PERF/interop/runs" "$PERF/interop/rev" "$PERF/adapterhub-fixtures"
bash "$PERF/interop/run_all.sh"
# Cases for defects fixed since the peer's scripts were written (a base without a pooler).
(cd "$PERF/interop" && PYTHONHASHSEED=0 OMP_NUM_THREADS=1 PYTHONPATH="$PERF/pylib:$PERF/adapterlib" \
  nice -n 10 /usr/bin/python3 "$ROOT/bench/interop_extra.py")
if [ -n "$TABLE" ]; then
  /usr/bin/python3 "$ROOT/bench/interop_table.py" "$PERF/interop/results.jsonl" > "$TABLE"
  echo "interop: table in $TABLE" >&2
else
  /usr/bin/python3 "$ROOT/bench/interop_table.py" "$PERF/interop/results.jsonl"
fi
