#!/usr/bin/env bash
# pix2pixHD's discriminator feature matching against today's perceptual stand-in (issue #16, section 2), on the
# re-posers' `cpu` presets (3,200 iterations at batch 8; the Deformable GAN at its checkpoint DEFORM_STEP, 1,200 by
# default, of its 3,000-iteration preset), resumable across sessions:
#   [JOBS=2] [DEFORM_STEP=N] bash bench/pose_feature_matching.sh [WORKDIR]
# Rows (each scored with `fashionlab eval pose` on 1,000 pairs of the re-posers' test split and of a seed no run
# has seen):
#   XingGAN: no perceptual term (the shipped asset:xinggan-synth128x64, this preset's run), the stand-in
#     (loss.perceptual=50: the first layer of the shipped attribute network, the `paper` preset's setting) and
#     feature matching (loss.feature_matching=10, pix2pixHD's weight);
#   PATN: none and feature matching;
#   Deformable GAN: none and feature matching.
# One training at a time (JOBS=2: two lanes), one thread each: about 3.5 hours of one core in all (both cores busy).
set -euo pipefail
W=${1:-bench-work}
FL=${FL:-.venv/bin/fashionlab}
export OMP_NUM_THREADS=1
FL=$(realpath "$FL")
BENCH=$(realpath "$(dirname "$0")")
mkdir -p "$W"
cd "$W"

source "$BENCH/train_or_resume.sh"  # train, bg, pose_sets
pose_sets  # the re-posers' data (seed 91) and a test-only set of other people (seed 95)
JOBS=${JOBS:-1}
R=runs-fm
# The Deformable GAN's two rows are the checkpoints at 1,200 iterations of its preset's 3,000-iteration run (no lr
# decay, so the same weights as a run of 1,200): with the other five trainings that is what one 3-hour session on
# two cores holds (1.3 s/iteration with both cores busy).
DEFORM_STEP=${DEFORM_STEP:-1200}
# two lanes of about equal length (with both cores busy: XingGAN 1.07 s/iteration, PATN about 0.65, the
# Deformable GAN 1.32)
lane_a() {
  train xinggan $R/fm --preset cpu --data sfpose128 loss.feature_matching=10
  train xinggan $R/standin --preset cpu --data sfpose128 loss.perceptual=50
}
lane_b() {
  train_until "$DEFORM_STEP" deform $R/fm --preset cpu --data sfpose128 loss.feature_matching=10 train.steps=3000
  train_until "$DEFORM_STEP" deform $R/none --preset cpu --data sfpose128 train.steps=3000
  train patn $R/fm --preset cpu --data sfpose128 loss.feature_matching=10
  train patn $R/none --preset cpu --data sfpose128
}
if [ "$JOBS" -gt 1 ]; then
  lane_a & lane_b & wait
else
  lane_a; lane_b
fi

run() { newest_run "$R" "$1"; }
ROWS=(
  "XingGAN, none (shipped)=asset:xinggan-synth128x64" "XingGAN, stand-in perceptual 50=$(run standin/xinggan)"
  "XingGAN, feature matching 10=$(run fm/xinggan)"
  "PATN, none=$(run none/patn)" "PATN, feature matching 10=$(run fm/patn)"
  "Deformable GAN, none ($DEFORM_STEP it.)=$(run none/deform)"
  "Deformable GAN, feature matching 10 ($DEFORM_STEP it.)=$(run fm/deform)"
)
score() {  # score SET: the seven rows on 1,000 pairs of SET
  [ -f "pose-fm-$1/pose.md" ] || $FL eval pose "${ROWS[@]}" --data "$1" --pairs 1000 --grid-rows 12 \
      --out "pose-fm-$1" --no-progress > /dev/null
}
if [ "$JOBS" -gt 1 ]; then
  score sfpose128 & a=$!
  score sfpose128-s95 & b=$!
  wait $a
  wait $b
else
  score sfpose128
  score sfpose128-s95
fi
cat pose-fm-sfpose128/pose.md pose-fm-sfpose128-s95/pose.md
