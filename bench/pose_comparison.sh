#!/usr/bin/env bash
# The re-posing comparison of docs/benchmarks.md (XingGAN vs PATN, cpu presets, SynthFashion 128x64), from
# nothing, resumable across sessions:
#   bash bench/pose_comparison.sh [WORKDIR]
# Every step is skipped when its result exists; an interrupted training continues with --resume.
# Runs at most two trainings at once, one thread each (this machine has 2 cores). Each re-posing run of the
# cpu presets takes about 45 minutes beside the other.
set -euo pipefail
W=${1:-bench-work}
FL=${FL:-.venv/bin/fashionlab}
export OMP_NUM_THREADS=1
FL=$(realpath "$FL")
BENCH=$(realpath "$(dirname "$0")")
mkdir -p "$W"
cd "$W"

# pose pairs (4 poses of 4,000 people, wide poses: 38,400 train pairs) and, on other people, the
# single images the attribute evaluator learns from and the pictures the scoring keypoint estimator learns from
[ -d sfpose128 ] || $FL data synth --out sfpose128 --n 16000 --size 128x64 --poses-per-person 4 --seed 91
[ -d sfattr128 ] || $FL data synth --out sfattr128 --n 20000 --size 128x64 --pose-range wide --seed 92
[ -d sfpose128-s93 ] || $FL data synth --out sfpose128-s93 --n 16000 --size 128x64 --poses-per-person 4 --seed 93

# train MODEL OUT ARGS...: a new run, or the newest unfinished one resumed (bench/train_or_resume.sh)
source "$BENCH/train_or_resume.sh"

# the re-posers' keypoint estimator (their source poses at inference; shipped as asset:keypoints-synth128x64),
# the one that scores PCKh, trained on other people (shipped as asset:keypoints-synth128x64-eval), and the
# attribute evaluator (FID-like, preservation; shipped as asset:attrnet-synthpose128-eval)
train keypoints runs-kp --preset cpu --data sfpose128 &
train keypoints runs-kp-eval --preset cpu --data sfpose128-s93 &
wait
train attrnet runs-attr --preset cpu --data sfattr128 train.seed=1
KP=runs-kp/keypoints/run-001/export
SCORER=runs-kp-eval/keypoints/run-001/export
EVAL=runs-attr/attrnet/run-001/export
# the two re-posing models: same data, steps, batch, losses and discriminators
train xinggan runs-pose --preset cpu --data sfpose128 keypoint_model=$KP &
train patn runs-pose --preset cpu --data sfpose128 keypoint_model=$KP &
wait
[ -f pose-cpu/pose.md ] || $FL eval pose runs-pose/xinggan/run-001 runs-pose/patn/run-001 --data sfpose128 \
    --keypoint-model $SCORER --evaluator $EVAL --pairs 1000 --out pose-cpu --no-progress
cat pose-cpu/pose.md
