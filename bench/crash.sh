#!/bin/bash
# Kill `gotune train` with SIGKILL at 20 random moments (a training step, a
# checkpoint write, an evaluation, the feature cache), resume each run to
# the end, and check that every one finishes with a final model, last
# checkpoint and eval.json bit-identical to an uninterrupted run of the same
# seed. Tiny model and data (internal/testmodel): a few minutes on 2 cores.
# Not part of `go test`; see docs/reliability.md.
#
#   bench/crash.sh [WORK_DIR]      (TRIALS=20 SEED=1 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=auto GOEXPERIMENT=simd GODEBUG=cpu.fma=off
work=${1:-$(mktemp -d -t gotune-crash-XXXXXX)}
mkdir -p "$work"
go build -o "$work/gotune" ./cmd/gotune
go build -o "$work/crash" ./bench/crash
"$work/crash" --gotune "$work/gotune" --work "$work" --trials "${TRIALS:-20}" --seed "${SEED:-1}"
