# Sourced by the bench/*.sh training scripts (needs $FL, the fashionlab command).
# train MODEL OUT ARGS...: a new run of MODEL in OUT, or the newest unfinished one there resumed; nothing
# when the newest run already has its export.
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

# bg CMD...: in the background when JOBS > 1 (`wait` joins them), else in the foreground
bg() { if [ "${JOBS:-1}" -gt 1 ]; then "$@" & else "$@"; fi; }

# pose_sets: the re-posers' pose pairs (seed 91) and a test-only set of other people (seed 95), when missing
pose_sets() {
  [ -d sfpose128 ] || $FL data synth --out sfpose128 --n 16000 --size 128x64 --poses-per-person 4 --seed 91
  [ -d sfpose128-s95 ] || $FL data synth --out sfpose128-s95 --n 4000 --size 128x64 --poses-per-person 4 \
      --seed 95 --split 0,0,1
}
