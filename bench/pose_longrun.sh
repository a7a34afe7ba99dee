#!/usr/bin/env bash
# Re-posing II (issue #16, section 3 and 4): XingGAN, PATN and Deformable GAN trained with their `cpu` presets
# for the same number of iterations (16,000: at least 4 hours of one core each on the 2-core machine), every
# checkpoint kept; then each scored at fixed training times (1 h, 2 h, 4 h and the last checkpoint) on the
# 1,000 fixed test pairs and on a second set of people no run has seen (seed 95). Resumable across sessions:
#   bash bench/pose_longrun.sh [WORKDIR]   # JOBS=1: one training at a time; TRAIN=0: score what exists
# Every step is skipped when its result exists; an interrupted training continues with --resume; a training
# time not yet reached is skipped (run the script again later). Scoring uses the shipped scorers, trained on
# other people than the re-posers (asset:keypoints-synth128x64-eval, seed 93; asset:attrnet-synthpose128-eval,
# seed 92); their model cards give the commands that retrain them.
set -euo pipefail
W=${1:-bench-work}
FL=${FL:-.venv/bin/fashionlab}
export OMP_NUM_THREADS=1
FL=$(realpath "$FL")
PY=$(dirname "$FL")/python
BENCH=$(realpath "$(dirname "$0")")
STEPS=${STEPS:-16000}
HOURS=${HOURS:-"1 2 4"}
mkdir -p "$W"
cd "$W"

source "$BENCH/train_or_resume.sh"  # train, bg, pose_sets
pose_sets  # the re-posers' data (seed 91) and a test-only set of other people (seed 95)
JOBS=${JOBS:-2}
R=runs-long
LONG=(train.steps=$STEPS train.ckpt_every=500 train.keep_checkpoints=0 train.sample_every=2000)
if [ "${TRAIN:-1}" = 1 ]; then  # TRAIN=0: only export and score the checkpoints there are
  bg train xinggan $R --preset cpu --data sfpose128 "${LONG[@]}"
  bg train deform $R --preset cpu --data sfpose128 "${LONG[@]}"
  wait
  train patn $R --preset cpu --data sfpose128 "${LONG[@]}"
fi

# exports at fixed training times (the last checkpoint with at most H hours of training) and at the end
exported() {  # MODEL LABEL [--hours H]: prints the export folder, exporting when it is missing
  local model=$1 label=$2; shift 2
  local run out
  run=$(newest_run "$R" "$model")
  out=exports/$model-$label
  [ -f "$out/model.safetensors" ] || $FL export "$run" --out "$out" "$@" > /dev/null
  echo "$out"
}
hours_of() {  # RUN: its training time in hours so far (fashionlab.engine.logger.training_time)
  "$PY" -c "from fashionlab.engine.logger import training_time; import sys; print(training_time(sys.argv[1])['seconds'] / 3600)" "$1"
}
declare -A NAME=([patn]=PATN [xinggan]=XingGAN [deform]="Deformable GAN")
ROWS=()  # LABEL=PATH: each row named by its method and training time
for h in $HOURS; do
  for m in patn xinggan deform; do
    run=$(newest_run "$R" "$m" 2>/dev/null || true)
    [ -n "$run" ] || continue
    "$PY" -c "import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) else 1)" "$(hours_of "$run")" "$h" \
        && ROWS+=("${NAME[$m]}, ${h} h=$(exported $m ${h}h --hours "$h")")
  done
done
# the end of each training (its own export/), once it has finished
for m in patn xinggan deform; do
  run=$(newest_run "$R" "$m" 2>/dev/null || true)
  if [ -n "$run" ] && [ -f "$run/export/model.safetensors" ]; then ROWS+=("${NAME[$m]}, end ($STEPS it.)=$run/export"); fi
done

# one table per set and per state of the runs (a later call with more checkpoints writes new folders);
# SETS="sfpose128-s95" scores one set (two calls, one per set, run side by side once the exports exist)
for set in ${SETS:-sfpose128 sfpose128-s95}; do
  out=pose-longrun-$set-${#ROWS[@]}rows
  [ -f "$out/pose.md" ] || $FL eval pose "${ROWS[@]}" --data $set --pairs 1000 --grid-rows 12 --out "$out" \
      --no-progress
  cat "$out/pose.md"
done
