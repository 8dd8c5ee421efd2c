#!/bin/bash
# Fuzz every parser of gotune for SECONDS each (default 180), one target
# after the other, 2 workers each; prints each target's executions and new
# coverage ("interesting") and stops at the first crasher (its input is
# written under the package's testdata/fuzz/FuzzXxx). See docs/reliability.md.
#
#   bash bench/fuzz.sh [SECONDS]
set -uo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=auto GOEXPERIMENT=simd GODEBUG=cpu.fma=off
secs=${1:-180}
targets=(
  "safetensors FuzzRead"
  "models/gguf FuzzLoad"
  "models/internal/hfconfig FuzzParseConfig"
  "tokenizer FuzzTokenizerJSON"
  "tokenizer FuzzVocabTxt"
  "tokenizer/spm FuzzParseModel"
  "tokenizer/bpe FuzzLoadTokenizerJSON"
  "method/lora FuzzReadAdapter"
  "method/ptuning FuzzReadAdapter"
  "method/adapter FuzzRead"
  "data FuzzReadFile"
  ". FuzzLoadConfigFile"
)
for t in "${targets[@]}"; do
  set -- $t
  log=$(mktemp)
  go test -run XXX -fuzz "^$2\$" -fuzztime "${secs}s" -fuzzminimizetime 10s -parallel 2 "./$1" >"$log" 2>&1
  rc=$?
  echo "$1 $2: $(grep 'execs:' "$log" | tail -1 | sed 's/.*execs: \([0-9]*\).*new interesting: \([0-9]*\).*/\1 execs, \2 new interesting/')"
  if [ $rc -ne 0 ]; then
    cat "$log"
    rm -f "$log"
    exit 1
  fi
  rm -f "$log"
done
