#!/usr/bin/env bash
# The editing comparison of docs/benchmarks.md, from nothing, resumable across sessions:
#   bash bench/edit_comparison.sh [WORKDIR]
# Every step is skipped when its result exists; an interrupted training continues with --resume.
# Runs at most two trainings at once, one thread each (this machine has 2 cores).
set -euo pipefail
W=${1:-bench-work}
FL=${FL:-.venv/bin/fashionlab}
export OMP_NUM_THREADS=1
FL=$(realpath "$FL")
BENCH=$(realpath "$(dirname "$0")")
mkdir -p "$W"
cd "$W"

[ -d sf64 ] || $FL data synth --out sf64 --n 20000 --size 64 --seed 10 --holdout color=red,sleeve=long
[ -d sf64-eval ] || $FL data synth --out sf64-eval --n 20000 --size 64 --seed 20

# train MODEL OUT ARGS...: a new run, or the newest unfinished one resumed (bench/train_or_resume.sh)
source "$BENCH/train_or_resume.sh"

# the frozen 64 px classifier (CAMs, perceptual features) and, on other data with another seed, the evaluator
train attrnet runs64 --preset cpu64 --data sf64 &
train attrnet runs64-eval --preset cpu64 --data sf64-eval train.seed=1 &
wait
CLF=runs64/attrnet/run-001/export
EVAL=runs64-eval/attrnet/run-001/export
# the editors, same steps and batch (the cpu presets), in a folder of their own
train stargan runs-cpu --preset cpu --data sf64 classifier=$CLF &
train amgan runs-cpu --preset cpu --data sf64 classifier=$CLF &
wait
[ -f compare-cpu/comparison.md ] || $FL eval compare runs-cpu/stargan/run-001 runs-cpu/amgan/run-001 \
    --data sf64 --evaluator $EVAL --out compare-cpu --limit 400 --workers 2 --no-progress
[ -f regions-cpu/regions.md ] || $FL eval region runs-cpu/amgan/run-001 runs-cpu/stargan/run-001 \
    --data sf64 --set color=red --out regions-cpu --limit 200 --workers 2 --no-progress
cat compare-cpu/comparison.md regions-cpu/regions.md
