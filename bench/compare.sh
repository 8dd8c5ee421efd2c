#!/usr/bin/env bash
# Side-by-side benchmark: for each configuration, the PyTorch peer
# (../shared/peer/bench_torch.py) and gotune (`gotune bench`) run one after
# the other, one process each, under /usr/bin/time for peak RSS. Prints a
# Markdown table of medians and ratios at the end.
#
# Usage: PEER_PYTHONPATH=DIR bash bench/compare.sh OUT.jsonl [STEPS] [CONFIG...]
#   CONFIG is "MODEL METHOD", e.g. "minilm full"; default: the full set.
# OLD_GOTUNE, when set, names an older gotune binary timed the same way
# right after (impl "gotune-old": the engine-upgrade ratio).
# PEER_PYTHONPATH holds transformers 4.43.4, peft 0.12.0, accelerate,
# huggingface_hub sources and ../shared/peer/shims (see docs/benchmarks.md).
set -u
OUT=${1:?output jsonl}; STEPS=${2:-5}; shift 2 || true
here=$(cd "$(dirname "$0")/.." && pwd)
peer=$here/../shared/peer/bench_torch.py
cd "$here"
GOTOOLCHAIN=auto GOEXPERIMENT=simd go build -o /tmp/gotune-bench ./cmd/gotune || exit 1
configs=("$@")
[ ${#configs[@]} -gt 0 ] || configs=("minilm full" "minilm lora" "minilm head" "minilm freeze8" "minilm infer"
  "bert-base full" "bert-base lora" "bert-base head" "bert-base freeze8" "bert-base infer")
run() { # impl, command...
  local impl=$1; shift
  local log; log=$(mktemp)
  /usr/bin/time -v "$@" >"$log" 2>&1
  local rss line
  rss=$(grep 'Maximum resident' "$log" | awk '{print $NF}')
  line=$(grep '^{' "$log" | tail -1)
  [ "$impl" = gotune-old ] && line=${line/\"impl\":\"gotune\"/\"impl\":\"gotune-old\"}
  if [ -z "$line" ]; then echo "FAILED $impl $*" >&2; tail -5 "$log" >&2
  else echo "${line%\}}, \"time_peak_rss_kb\": $rss, \"load1\": $(cut -d' ' -f1 /proc/loadavg)}" | tee -a "$OUT"; fi
  rm -f "$log"
}
for cfg in "${configs[@]}"; do
  set -- $cfg
  PYTHONPATH=${PEER_PYTHONPATH:?set PEER_PYTHONPATH} OMP_NUM_THREADS=2 run pytorch /usr/bin/python3 "$peer" --model "$1" --method "$2" --steps "$STEPS"
  run gotune /tmp/gotune-bench bench --model "$1" --method "$2" --steps "$STEPS"
  if [ -n "${OLD_GOTUNE:-}" ]; then
    run gotune-old "$OLD_GOTUNE" bench --model "$1" --method "$2" --steps "$STEPS"
  fi
done
GOTOOLCHAIN=auto go run ./bench/table "$OUT"
