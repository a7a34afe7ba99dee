# Sourced by the bench/*.sh training scripts (needs $FL, the fashionlab command).
# newest_run OUT MODEL: the newest run folder OUT/MODEL/run-* (fails, as ls does, when there is none)
newest_run() { ls -d "$1/$2"/run-* | tail -n 1; }

# train MODEL OUT ARGS...: a new run of MODEL in OUT, or the newest unfinished one there resumed; nothing
# when the newest run already has its export.
train() {
  local model=$1 out=$2; shift 2
  local last
  last=$(newest_run "$out" "$model" 2>/dev/null || true)
  if [ -n "$last" ] && [ -f "$last/export/model.safetensors" ]; then return 0; fi
  if [ -n "$last" ] && [ -d "$last/checkpoints" ]; then
    $FL train "$model" --resume "$last" --no-progress
  else
    $FL train "$model" --out "$out" --no-progress "$@"
  fi
}

# train_until STEP MODEL OUT ARGS...: like train, for a run scored at its checkpoint STEP (a multiple of the
# preset's train.ckpt_every): the training is stopped once that checkpoint is written (SIGTERM: it saves and
# exits, as on Ctrl-C; --resume would continue it) and the run is exported from it into its export/. For a
# preset without lr decay this is the run of STEP iterations; with decay it is that schedule's checkpoint.
train_until() {
  local step=$1 model=$2 out=$3; shift 3
  local last ckpt pid
  ckpt=$(printf 'checkpoints/step-%07d.pt' "$step")
  last=$(newest_run "$out" "$model" 2>/dev/null || true)
  if [ -n "$last" ] && [ -f "$last/export/model.safetensors" ]; then return 0; fi
  if [ -z "$last" ] || [ ! -f "$last/$ckpt" ]; then
    train "$model" "$out" "$@" &
    pid=$!
    while kill -0 "$pid" 2> /dev/null; do
      last=$(newest_run "$out" "$model" 2>/dev/null || true)
      if [ -n "$last" ] && [ -f "$last/$ckpt" ]; then pkill -TERM -P "$pid" || true; break; fi
      sleep 5
    done
    wait "$pid" || true
    last=$(newest_run "$out" "$model")
  fi
  $FL export "$last" --step "$step" --out "$last/export" > /dev/null
}

# bg CMD...: in the background when JOBS > 1 (`wait` joins them), else in the foreground
bg() { if [ "${JOBS:-1}" -gt 1 ]; then "$@" & else "$@"; fi; }

# pose_sets: the re-posers' pose pairs (seed 91) and a test-only set of other people (seed 95), when missing
pose_sets() {
  [ -d sfpose128 ] || $FL data synth --out sfpose128 --n 16000 --size 128x64 --poses-per-person 4 --seed 91
  [ -d sfpose128-s95 ] || $FL data synth --out sfpose128-s95 --n 4000 --size 128x64 --poses-per-person 4 \
      --seed 95 --split 0,0,1
}
