#!/usr/bin/env bash
# Data for docs/augmentation.md: 500 training examples and a 400-example dev
# set for SST-2 and NSMC, drawn with GNU shuf from a fixed random source.
set -eu
A=${ASSETS:-$(cd "$(dirname "$0")/../.." && pwd)/../shared/assets/datasets}
src() { openssl enc -aes-256-ctr -pass pass:"$1" -nosalt </dev/zero 2>/dev/null; }
printf 'sentence\tlabel\n' > sst2-500.tsv
tail -n +2 $A/sst2/train.tsv | shuf -n 500 --random-source=<(src 0) >> sst2-500.tsv
head -n 401 $A/sst2/dev.tsv > sst2-dev400.tsv
printf 'id\tdocument\tlabel\n' > nsmc-500.tsv
tail -n +2 $A/nsmc/ratings_train.txt | awk -F'\t' '$2!=""' | shuf -n 500 --random-source=<(src 0) >> nsmc-500.tsv
printf 'id\tdocument\tlabel\n' > nsmc-test400.tsv
tail -n +2 $A/nsmc/ratings_test.txt | awk -F'\t' '$2!=""' | shuf -n 400 --random-source=<(src 1) >> nsmc-test400.tsv
# Pretraining text for a Korean base: the NSMC training reviews not among the 500.
cut -f1 nsmc-500.tsv | tail -n +2 | sort > .ids
tail -n +2 $A/nsmc/ratings_train.txt | awk -F'\t' '$2!=""' | sort -t$'\t' -k1,1 | join -t$'\t' -v1 - .ids | cut -f2 > nsmc-pretrain.txt
rm .ids
wc -l *.tsv *.txt
