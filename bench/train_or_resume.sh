# Sourced by the bench/*_comparison.sh scripts (needs $FL, the fashionlab command).
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
