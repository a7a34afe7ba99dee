#!/usr/bin/env bash
# pix2pixHD's discriminator feature matching against today's perceptual stand-in (issue #16, section 2), on the
# re-posers' `cpu` presets at their own budget (3,200 iterations at batch 8; the Deformable GAN at 3,000, so that
# its no-feature-matching row is the long run's checkpoint at 3,000, which the same preset without lr decay
# reaches the same way), resumable across sessions:
#   bash bench/pose_feature_matching.sh [WORKDIR] [LONGRUN_WORKDIR]
# Rows (each scored with `fashionlab eval pose` on 1,000 pairs of the re-posers' test split and of a seed no run
# has seen):
#   XingGAN: no perceptual term (the shipped asset:xinggan-synth128x64, this preset's run), the stand-in
#     (loss.perceptual=50: the first layer of the shipped attribute network, the `paper` preset's setting) and
#     feature matching (loss.feature_matching=10, pix2pixHD's weight);
#   PATN: none and feature matching;
#   Deformable GAN: none (LONGRUN_WORKDIR's deform run at 3,000 iterations, bench/pose_longrun.sh) and feature
#     matching.
# One training at a time (JOBS=2: two lanes), one thread each. About 3.6 hours of one core in all.
set -euo pipefail
W=${1:-bench-work}
LONG=${2:-$W}
FL=${FL:-.venv/bin/fashionlab}
export OMP_NUM_THREADS=1
FL=$(realpath "$FL")
BENCH=$(realpath "$(dirname "$0")")
mkdir -p "$W"
LONG=$(realpath "$LONG")
cd "$W"

source "$BENCH/train_or_resume.sh"  # train, bg, pose_sets
pose_sets  # the re-posers' data (seed 91) and a test-only set of other people (seed 95)
JOBS=${JOBS:-1}
R=runs-fm
# the Deformable GAN without feature matching: the long run's checkpoint at 3,000 iterations when that run is
# here (the preset has no lr decay, so train.steps=3000 follows the same path), else a run of its own
DEFORM_NONE=exports/deform-step3000
deform_none() {
  local longrun
  longrun=$(ls -d "$LONG"/runs-long/deform/run-* 2>/dev/null | tail -n 1 || true)
  if [ -f "$DEFORM_NONE/model.safetensors" ]; then return 0; fi
  if [ -n "$longrun" ] && [ -d "$longrun/checkpoints" ] && ls "$longrun"/checkpoints/*3000* > /dev/null 2>&1; then
    $FL export "$longrun" --step 3000 --out "$DEFORM_NONE" > /dev/null
  else
    train deform $R/none --preset cpu --data sfpose128 train.steps=3000
    DEFORM_NONE=$(ls -d $R/none/deform/run-* | tail -n 1)
  fi
}
# two lanes of about equal length (XingGAN 0.76 s/iteration alone, PATN 0.46, the Deformable GAN about 0.8)
lane_a() {
  train xinggan $R/fm --preset cpu --data sfpose128 loss.feature_matching=10
  train xinggan $R/standin --preset cpu --data sfpose128 loss.perceptual=50
  train patn $R/none --preset cpu --data sfpose128
}
lane_b() {
  train deform $R/fm --preset cpu --data sfpose128 loss.feature_matching=10 train.steps=3000
  deform_none
  train patn $R/fm --preset cpu --data sfpose128 loss.feature_matching=10
}
if [ "$JOBS" -gt 1 ]; then
  lane_a & lane_b & wait
else
  lane_a; lane_b
fi
deform_none  # sets DEFORM_NONE in this shell (a no-op when done)

run() { ls -d "$R/$1"/run-* | tail -n 1; }
ROWS=(
  "XingGAN, none (shipped)=asset:xinggan-synth128x64" "XingGAN, stand-in perceptual 50=$(run standin/xinggan)"
  "XingGAN, feature matching 10=$(run fm/xinggan)"
  "PATN, none=$(run none/patn)" "PATN, feature matching 10=$(run fm/patn)"
  "Deformable GAN, none (3,000 it.)=$DEFORM_NONE" "Deformable GAN, feature matching 10 (3,000 it.)=$(run fm/deform)"
)
for set in sfpose128 sfpose128-s95; do
  out=pose-fm-$set
  [ -f "$out/pose.md" ] || $FL eval pose "${ROWS[@]}" --data $set --pairs 1000 --grid-rows 12 --out "$out" \
      --no-progress
  cat "$out/pose.md"
done
