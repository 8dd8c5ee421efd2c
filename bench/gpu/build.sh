#!/usr/bin/env bash
# Builds the gotune binary that bench/gpu/run.sh runs on the GPU machine (which has no Go): the XLA backend
# linked in (-tags xla, cgo; the PJRT plugin itself is loaded at run time, see docs/scale.md), stripped, dynamically
# linked to libc only. Run it here, from any folder:  bash bench/gpu/build.sh [OUTDIR]
# OUTDIR defaults to .gpu/ at the repository root (kept out of git through .git/info/exclude, which this script
# updates if needed); carry it to the device with the working tree.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/.gpu}
mkdir -p "$out"
cd "$root"
excl=$(git rev-parse --git-path info/exclude 2>/dev/null || true)
if [ -z "${1:-}" ] && [ -n "$excl" ] && ! grep -qx '/.gpu/' "$excl" 2>/dev/null; then
  mkdir -p "$(dirname "$excl")"; echo '/.gpu/' >>"$excl"; echo "added /.gpu/ to $excl"
fi
export GOTOOLCHAIN=${GOTOOLCHAIN:-auto} CGO_ENABLED=1 GOOS=linux GOARCH=amd64
go build -tags xla -trimpath -ldflags='-s -w' -o "$out/gotune.tmp" ./cmd/gotune
mv "$out/gotune.tmp" "$out/gotune"
echo "built $out/gotune ($(du -h "$out/gotune" | cut -f1)); needs at run time: $(ldd "$out/gotune" | awk '/=>/{print $1}' | tr '\n' ' ')"
