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
mkdir -p "$W"
cd "$W"

[ -d sf64 ] || $FL data synth --out sf64 --n 20000 --size 64 --seed 10 --holdout color=red,sleeve=long
[ -d sf64-eval ] || $FL data synth --out sf64-eval --n 20000 --size 64 --seed 20

# train NAME OUT ARGS...: a new run in OUT, or the newest unfinished one there resumed
train() {
  local model=$1 out=$2; shift 2
  local last
  last=$(ls -d "$out/$model"/run-* 2>/dev/null | tail -n 1 || true)
  if [ -n "$last" ] && [ -f "$last/export/model.safetensors" ]; then return 0; fi
  if [ -n "$last" ] && [ -d "$last/checkpoints" ]; then
    $FL train "$model" --resume "$last" --no-progress
  else
    $FL train "$model" --out "$out" --no-progress "$@"
  fi
}

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
