#!/usr/bin/env bash
# Tiny Shakespeare line-continuation pairs for the stories260K comparison:
# consecutive lines, both 20-60 characters and not a speaker line ("NAME:"),
# shuffled with a fixed random source; 800 for training, the next 100 for evaluation.
set -eu
src() { openssl enc -aes-256-ctr -pass pass:"$1" -nosalt </dev/zero 2>/dev/null; }
IN=${1:-$(cd "$(dirname "$0")/../.." && pwd)/../shared/assets/datasets/tinyshakespeare/input.txt}
awk 'function ok(s){return length(s)>=20 && length(s)<=60 && s !~ /:$/}
     function esc(s){gsub(/\\/,"\\\\",s); gsub(/"/,"\\\"",s); return s}
     NR>1 && ok(prev) && ok($0) {printf "{\"prompt\": \"%s\", \"completion\": \"%s\"}\n", esc(prev), esc($0)}
     {prev=$0}' "$IN" | shuf --random-source=<(src 0) > .pairs
head -n 800 .pairs > shakespeare-train.jsonl
sed -n 801,900p .pairs > shakespeare-eval.jsonl
rm .pairs
wc -l shakespeare-*.jsonl
