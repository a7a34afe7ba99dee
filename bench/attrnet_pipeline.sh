#!/usr/bin/env bash
# Reproduces the attribute-network and search numbers of docs/benchmarks.md from nothing:
#   bash bench/attrnet_pipeline.sh [WORKDIR]     (about 50 minutes on 2 idle CPU cores)
set -euo pipefail
W=${1:-bench-work}
FL=${FL:-.venv/bin/fashionlab}
PY=${PY:-.venv/bin/python}
mkdir -p "$W"
[ -d "$W/sf128" ] || $FL data synth --out "$W/sf128" --n 20000 --size 128 --seed 0 --region-mix 0.15
[ -d "$W/sf128-catalog" ] || $FL data synth --out "$W/sf128-catalog" --n 10000 --size 128 --seed 1 \
    --region-mix 0.15 --split 0,0,1
$FL train attrnet --preset cpu --data "$W/sf128" --out "$W/runs" --no-progress
RUN=$(ls -d "$W"/runs/attrnet/run-* | tail -n 1)
$PY bench/bench_attrnet.py --model "$RUN" --data "$W/sf128" --catalog-data "$W/sf128-catalog" --json "$W/attrnet.json"
$PY bench/bench_search_speed.py --model "$RUN" --data "$W/sf128"
