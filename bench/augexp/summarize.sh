#!/usr/bin/env bash
# Dev accuracy (%) per arm, mean ± sample standard deviation over the seeds,
# from runs/PREFIX-ARM-SEED/eval.json. Usage: bash summarize.sh PREFIX ARM...
prefix=$1; shift
for arm in "$@"; do
  for f in runs/$prefix-$arm-*/eval.json; do grep -o '"eval_accuracy": [0-9.]*' "$f" | awk '{print $2}'; done |
    awk -v arm="$arm" 'NF{a[n++]=$1*100; s+=$1*100} END{if(!n){print arm, "no runs"; exit}
      m=s/n; for(i=0;i<n;i++) v+=(a[i]-m)^2; sd=(n>1)?sqrt(v/(n-1)):0
      printf "| %s | %.1f ± %.1f | ", arm, m, sd; for(i=0;i<n;i++) printf "%s%.1f", (i?", ":""), a[i]; print " |"}'
done
