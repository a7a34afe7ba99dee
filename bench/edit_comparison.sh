#!/usr/bin/env bash
# The editing comparison of docs/edit-comparison.md, from nothing, resumable across sessions:
#   [KEEP=DIR] [JOBS=1|2] bash bench/edit_comparison.sh [WORKDIR]
# Every method and ablation of the AMGAN paper's comparison (and ResGAN) trains with its `cpu` preset on
# SynthFashion 64 px for the same number of iterations (3,000) at the same batch (16); then each is scored
# by `fashionlab eval compare` under two evaluators of different architecture families. Every step is
# skipped when its result exists; an interrupted training continues with --resume. Runs at most two
# trainings at once (JOBS=1: one), one thread each (this machine has 2 cores): about 30 minutes per run alone, 40-75 beside
# other work; 13 runs in all (5 methods, the paired ceiling, 4 ablations, 3 more ResGAN contrasts: ResGAN is one run per contrast).
#
# The frozen classifier (CAMs, perceptual features, a photo's attributes) and the two evaluators are the
# shipped ones (asset:attrnet-synth64, asset:attrnet-synth64-eval, asset:attrclf-synth64-eval); their model
# cards give the commands that retrain them (bench/train_shipped_models.sh). The evaluators never trained an
# editor and learnt from other renders (seeds 20 and 40) with other weight seeds; the second is a plain
# residual classifier, not FashionSearchNet's network.
set -euo pipefail
W=${1:-bench-work}
FL=${FL:-.venv/bin/fashionlab}
export OMP_NUM_THREADS=1
FL=$(realpath "$FL")
BENCH=$(realpath "$(dirname "$0")")
# KEEP=DIR: each finished run's export, config and stats are copied to DIR/NAME (a folder you commit, so a
# later session on another machine scores them without training again: about 3 MB each); a run kept there is
# not trained again, and the scoring reads it from there
KEEP=${KEEP:-}
# resolved before the cd into WORKDIR, so a relative DIR means one beside where you called the script
[ -z "$KEEP" ] || { mkdir -p "$KEEP"; KEEP=$(realpath "$KEEP"); }
mkdir -p "$W"
cd "$W"

# the editors' data (seed 10; two target combinations held out of training) and a test set from a seed no
# run has seen (50)
[ -d sf64 ] || $FL data synth --out sf64 --n 20000 --size 64 --seed 10 --holdout color=red,sleeve=long
[ -d sf64-s50 ] || $FL data synth --out sf64-s50 --n 4000 --size 64 --seed 50 --split 0,0,1

# train MODEL OUT ARGS...: a new run, or the newest unfinished one resumed; bg (bench/train_or_resume.sh)
source "$BENCH/train_or_resume.sh"
# JOBS=1 runs the trainings one after another (when another long job holds the second core)
JOBS=${JOBS:-2}
R=runs-cmp
# one NAME MODEL ARGS...: run NAME of MODEL (runs-cmp/NAME/MODEL/run-*), trained or resumed unless kept
one() {
  local name=$1 model=$2; shift 2
  if [ -n "$KEEP" ] && [ -f "$KEEP/$name/export/model.safetensors" ]; then return 0; fi
  train "$model" "$R/$name" --preset cpu --data sf64 "$@"
  if [ -n "$KEEP" ]; then
    local last
    last=$(newest_run "$R/$name" "$model")
    mkdir -p "$KEEP/$name.partial"
    cp -r "$last/export" "$last/config.json" "$last/run.json" "$last/stats.jsonl" "$KEEP/$name.partial/"
    mv "$KEEP/$name.partial" "$KEEP/$name"
  fi
}
run() {
  if [ -n "$KEEP" ] && [ -f "$KEEP/$1/export/model.safetensors" ]; then echo "$KEEP/$1"; return; fi
  ls -d "$R/$1"/*/run-* | tail -n 1
}
# two lanes of about equal length (measured beside each other, 2026-12-05: an AMGAN-family run about 1 s per
# iteration, 50 minutes; StarGAN 0.4 s, 20 minutes; ResGAN 17 minutes): about 4 hours each
# the five methods and the paired ceiling (a diagnostic: the same generator as AMGAN with an L1 toward the
# exact re-render, weighted to dominate: at weight 10 it was a tenth of the classifier terms and the samples
# stayed speckled; the frozen classifier's loss is off there); the ablations of the AMGAN paper's Table 3,
# each removing one more part, and the CAM itself as the mask; ResGAN, one two-value contrast per attribute
# family
lane_a() {
  one amgan amgan
  one ganimation ganimation
  one paired amgan loss.paired=100 loss.frozen_cls=0
  one no-dc-lp amgan model.use_dc=false loss.perceptual=0
  one resgan-fastening resgan contrast=fastening=none,zipper
  one resgan-pattern resgan contrast=pattern=solid,horizontal_stripes
}
lane_b() {
  one stargan stargan
  one sagan sagan
  one no-dc amgan model.use_dc=false
  one no-dc-lp-la amgan model.use_dc=false loss.perceptual=0 loss.attention=0
  one resgan-sleeve resgan contrast=sleeve=long,short
  one resgan-color resgan contrast=color=red,blue
  one cam-mask amgan model.cam_as_mask=true
}
if [ "$JOBS" -gt 1 ]; then
  lane_a & lane_b & wait
else
  lane_a; lane_b
fi

METHODS=(
  "paired ceiling=$(run paired)" "AMGAN=$(run amgan)" "StarGAN=$(run stargan)"
  "GANimation=$(run ganimation)" "SaGAN=$(run sagan)"
  "AMGAN w/o D_C=$(run no-dc)" "AMGAN w/o D_C, L_p=$(run no-dc-lp)"
  "AMGAN w/o D_C, L_p, L_a=$(run no-dc-lp-la)" "AMGAN, CAM as mask=$(run cam-mask)"
)
EVALS=(--evaluator asset:attrnet-synth64-eval --evaluator asset:attrclf-synth64-eval)
# every method on the editors' test split (2,000 edits of 400 images) and on the unseen seed
[ -f compare-sf64/comparison.md ] || $FL eval compare "${METHODS[@]}" --data sf64 "${EVALS[@]}" \
    --out compare-sf64 --limit 400 --workers 2 --grid-rows 12 --no-progress
[ -f compare-s50/comparison.md ] || $FL eval compare "${METHODS[@]}" --data sf64-s50 "${EVALS[@]}" \
    --out compare-s50 --limit 400 --workers 2 --grid-rows 12 --no-progress
# ResGAN against the multi-domain methods on its contrasts (every method's edits restricted to the contrast)
for c in sleeve fastening color pattern; do
  [ -f compare-resgan-$c/comparison.md ] || $FL eval compare "ResGAN=$(run resgan-$c)" \
      "AMGAN=$(run amgan)" "StarGAN=$(run stargan)" "GANimation=$(run ganimation)" "SaGAN=$(run sagan)" \
      --data sf64-s50 "${EVALS[@]}" --out compare-resgan-$c --limit 400 --workers 2 --no-progress
done
[ -f regions-cpu/regions.md ] || $FL eval region "$(run amgan)" "$(run sagan)" "$(run ganimation)" \
    "$(run stargan)" --data sf64-s50 --set color=red --out regions-cpu --limit 200 --workers 2 --no-progress
cat compare-sf64/comparison.md compare-s50/comparison.md compare-resgan-*/comparison.md regions-cpu/regions.md
# the ablations in the paper's form (its Table 3: each removal's drop next to the paper's)
PY=$(dirname "$FL")/python
for c in compare-sf64 compare-s50; do "$PY" "$BENCH/ablation_table.py" $c/reports.json > $c/ablations.md; cat $c/ablations.md; done
