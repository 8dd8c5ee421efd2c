#!/usr/bin/env bash
# Runs gotune's benchmark configurations, one process each (so peak RSS is
# per configuration), printing one JSON line per configuration. Run the
# peer (../shared/peer/run_all.sh) in the same sitting and compare ratios.
# Usage: bash bench/run.sh OUT.jsonl [STEPS] [CONFIGS...]
set -u
OUT=${1:?output jsonl}; STEPS=${2:-5}; shift 2 || true
cd "$(dirname "$0")/.."
GOTOOLCHAIN=auto GOEXPERIMENT=simd go build -o /tmp/gotune-bench ./cmd/gotune || exit 1
configs=("$@")
[ ${#configs[@]} -gt 0 ] || configs=("minilm full" "minilm head" "minilm freeze8" "minilm infer" "bert-base full" "bert-base head" "bert-base freeze8" "bert-base infer")
for cfg in "${configs[@]}"; do
  set -- $cfg
  log=$(mktemp)
  /usr/bin/time -v /tmp/gotune-bench bench --model "$1" --method "$2" --steps "$STEPS" >"$log" 2>&1
  line=$(grep '^{' "$log")
  if [ -z "$line" ]; then echo "FAILED $cfg"; tail -5 "$log"; else echo "$line" | tee -a "$OUT"; fi
  rm -f "$log"
done
