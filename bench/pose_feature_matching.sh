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
# One training at a time (JOBS=2: two), one thread each. About 3.2 hours of one core in all.
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
bg train xinggan $R/fm --preset cpu --data sfpose128 loss.feature_matching=10
bg train deform $R/fm --preset cpu --data sfpose128 loss.feature_matching=10 train.steps=3000
wait
bg train xinggan $R/standin --preset cpu --data sfpose128 loss.perceptual=50
bg train patn $R/fm --preset cpu --data sfpose128 loss.feature_matching=10
wait
train patn $R/none --preset cpu --data sfpose128

run() { ls -d "$R/$1"/run-* | tail -n 1; }
# the Deformable GAN without feature matching: the long run's checkpoint at 3,000 iterations
DEFORM_NONE=exports/deform-step3000
if [ ! -f "$DEFORM_NONE/model.safetensors" ]; then
  $FL export "$(ls -d "$LONG"/runs-long/deform/run-* | tail -n 1)" --step 3000 --out "$DEFORM_NONE" > /dev/null
fi
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
