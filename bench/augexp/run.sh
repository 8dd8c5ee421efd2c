#!/usr/bin/env bash
# One arm set of docs/augmentation.md: for each seed and arm, one
# `gotune train` into runs/DATA-METHOD-ARM-SEED (skipped when done).
#
# Usage: bash run.sh DATA MODEL METHOD ARM...
#   DATA    sst2 or nsmc (files DATA-500.tsv and the dev file from prep.sh)
#   METHOD  feature (frozen encoder, mean pooling, linear head) or full
#   ARM     none | none_eN (no augmentation, N epochs: the step-matched control)
#           | eda4 | eda16 | ctx4 (contextual substitution with MODEL's MLM head)
# Env: GOTUNE (binary, default gotune), SEEDS (default "1 2 3"), LR (default
# 1e-3 for feature, 1e-4 for full).
set -u
data=$1 model=$2 method=$3; shift 3
G=${GOTUNE:-gotune}
case $data in
  sst2) dev=sst2-dev400.tsv field=sentence alpha=0.05 ;;
  nsmc) dev=nsmc-test400.tsv field=document alpha=0.05 ;;
  *) echo "unknown data $data" >&2; exit 2 ;;
esac
case $method in
  feature) mflags=(--method feature --pooling mean --lr ${LR:-1e-3}); epochs=10 ;;
  full) mflags=(--method full --lr ${LR:-1e-4}); epochs=5 ;;
  *) echo "unknown method $method" >&2; exit 2 ;;
esac
mkdir -p runs
for seed in ${SEEDS:-1 2 3}; do
  for arm in "$@"; do
    ep=$epochs aug=()
    case $arm in
      none) ;;
      none_e*) ep=${arm#none_e} ;;
      eda4) aug=(--augment eda:alpha=$alpha,n=4) ;;
      eda16) aug=(--augment eda:alpha=$alpha,n=16) ;;
      ctx4) aug=(--augment contextual:p=0.15,k=5,n=4) ;;
      *) echo "unknown arm $arm" >&2; exit 2 ;;
    esac
    out=runs/$data-$method-$arm-$seed
    [ -f "$out/eval.json" ] && continue
    $G train --model "$model" --train $data-500.tsv --eval $dev --text-field $field --out "$out" --overwrite \
      "${mflags[@]}" --max-len 64 --epochs "$ep" --batch-size 32 --seed "$seed" "${aug[@]}" > "$out.log" 2>&1 \
      || { echo "FAILED $out (see $out.log)"; continue; }
    echo "$(date +%T) $out $(grep -o '"eval_accuracy": [0-9.]*' "$out/eval.json")"
  done
done
