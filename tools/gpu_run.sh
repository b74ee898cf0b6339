#!/usr/bin/env bash
# One command for a lent GPU (~9 minutes): the campaign's committed state trains under a hard deadline, everything a
# resume needs is copied into $OUT as soon as it exists, then time-capped smoke checks that cannot fail the command.
#
#   OUT=/tmp/gpu tools/gpu_run.sh             # on the GPU machine (the device tool sets OUT)
#   TINY=1 OUT=/tmp/gpu tools/gpu_run.sh      # the same shape on the CPU, tiny and ~1 minute (tests/test_gpu_run.py)
#   tools/land_gpu_run.sh <the folder $OUT came back in>  # here: check, resume on the CPU, commit as the campaign's state
#
# $OUT receives at most 8 files of at most 16 MiB (the device tool's limits): env.txt, run.log, last.pt,
# best.safetensors, metrics.csv, curves.png, smoke.txt. Settings: STATE (the committed run folder, default campaign),
# MINUTES (the whole command, default 9: the device tool kills at its limit, 10 minutes or the device time left, so
# set MINUTES one under the limit it grants), GPU_STEPS (the GPU schedule's fixed total,
# default 8000 steps of 256 sequences, so a later lease or the CPU resumes it where this one stopped).
set -uo pipefail  # no -e: a failed step is logged and the next one still runs; the training's files come back regardless
cd "$(dirname "$0")/.."
: "${OUT:?set OUT to the folder for the results}"
PY=${PYTHON:-python3}
STATE=${STATE:-}
MINUTES=${MINUTES:-9}
export PYTHONUNBUFFERED=1  # a killed run still leaves every line it printed
mkdir -p "$OUT"
start=$(date +%s)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log() { echo "gpu_run: $*" | tee -a "$OUT/smoke.txt"; }
secs_left() { echo $((MINUTES * 60 - ($(date +%s) - start))); }

{
  echo "date $(date -u +%FT%TZ), nproc $(nproc), /dev/shm $(df -h /dev/shm 2>/dev/null | awk 'NR == 2 {print $2}')"
  $PY -c "import torch, PIL, skimage, numpy
cuda = torch.cuda.is_available()
print('torch', torch.__version__, 'cuda', torch.version.cuda, 'Pillow', PIL.__version__, 'scikit-image', skimage.__version__,
      'numpy', numpy.__version__, 'bf16', cuda and torch.cuda.is_bf16_supported(), torch.cuda.get_device_name() if cuda else 'cpu')"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
} >"$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

if [ -n "${TINY:-}" ]; then
  # a tiny committed state made here, then the same shape on the CPU: fp32 (fp16 needs CUDA; bf16 is emulated on most CPUs)
  DEV=cpu; HALF=fp32; GPU_STEPS=${GPU_STEPS:-100000}; DEADLINE=${DEADLINE:-0.25}; BATCH=4; WORKERS=2
  SMALL=(--hidden 8 --batch-size 2 --val-size 4 --log-every 1)
  TRAIN=(--val-size 4 --eval-every 5 --save-every 5 --log-every 5 --lr 1e-3 --warmup 0.3)
  if [ -z "$STATE" ]; then
    $PY train.py "${SMALL[@]}" --steps 4 --eval-every 2 --device cpu --out "$work/state" >/dev/null 2>&1
    STATE=$work/state
  fi
else
  # training stops 2.5 minutes before the end (counted at launch, below): validate + save, then the smoke checks
  DEV=cuda; HALF=fp16; GPU_STEPS=${GPU_STEPS:-8000}
  # batch 256 and 12 workers keep an H200 busy (batch 64 is launch-bound; the generator makes ~1,800 sequences/s a core)
  BATCH=256; WORKERS=12
  SMALL=(--hidden 16 --batch-size 8 --val-size 16 --log-every 1)
  # validation (no SSIM) every 1,000 steps and the loss read back every 100 keep the GPU stepping
  TRAIN=(--val-size 256 --no-val-ssim --eval-every 1000 --save-every 500 --log-every 100 --lr 1e-3 --warmup 0.1 --precision bf16)
  STATE=${STATE:-campaign}
fi

# resume the state where its schedule is the GPU's (an earlier lease made it), else warm-start a GPU schedule from it
[ -f "$STATE/last.pt" ] || { log "no $STATE/last.pt: nothing to train (commit the campaign's state first)"; exit 2; }
batch=$($PY -c "import sys, torch; print(torch.load(sys.argv[1], weights_only=True)['train_config']['batch_size'])" "$STATE/last.pt")
main=$work/main
if [ "$batch" = "$BATCH" ]; then
  cp -r "$STATE" "$main"
  FROM=(--resume --num-workers "$WORKERS")
else
  FROM=(--init-from "$STATE/last.pt" --steps "$GPU_STEPS" --batch-size "$BATCH" --num-workers "$WORKERS" --sample-every 1000000
        "${TRAIN[@]}")
fi
copy_back() {  # every file a resume needs, as soon as it changes; through a temporary name, so a kill never tears one
  for f in last.pt best.safetensors metrics.csv curves.png; do
    [ "$main/$f" -nt "$OUT/$f" ] && cp "$main/$f" "$OUT/.$f.tmp" && mv "$OUT/.$f.tmp" "$OUT/$f"
  done
}
(while sleep 10; do copy_back; done) &
copier=$!
DEADLINE=${DEADLINE:-$(awk "BEGIN {print ($(secs_left) - 150) / 60}")}
log "training from $STATE/last.pt (batch $batch saved; ${FROM[0]}), deadline $DEADLINE min"
# the deadline stops training with time left to validate and save; the timeout's SIGTERM (to its process group: train.py's
# DataLoader workers leave it) does the same if train.py's start-up ate that time
timeout -s TERM -k 30 "$(($(secs_left) - 60))" \
  $PY train.py "${FROM[@]}" --device $DEV --deadline "$DEADLINE" --out "$main" >"$OUT/run.log" 2>&1
log "training exited with $?"
kill "$copier" 2>/dev/null
copy_back
grep '^measured:' "$OUT/run.log" | tee -a "$OUT/smoke.txt"

smoke() {  # one capped, logged check that cannot fail the command
  local name=$1 cap=$2
  shift 2
  if [ "$(secs_left)" -lt $((cap + 15)) ]; then log "smoke $name: skipped, $(secs_left) s left"; return; fi
  if timeout -k 5 "$cap" "$@" >>"$OUT/smoke.txt" 2>&1; then log "smoke $name: passed"; else log "smoke $name: FAILED ($?)"; fi
}
smoke "$HALF steps with GradScaler, then --resume" 60 bash -c "$PY train.py ${SMALL[*]} --device $DEV --precision $HALF --steps 4 \
  --eval-every 2 --stop-at 2 --out $work/half && $PY train.py ${SMALL[*]} --device $DEV --precision $HALF --steps 4 --eval-every 2 \
  --resume --out $work/half"
smoke "$HALF resume of a state saved without a scaler" 60 bash -c "cp -r $main $work/again && $PY train.py --out $work/again --resume \
  --device $DEV --precision $HALF --deadline 0.05"

n=$(find "$OUT" -type f | wc -l)
big=$(find "$OUT" -type f -size +16M)
log "files: $n (limit 8)${big:+; over 16 MiB: $big}; $(secs_left) s left of $((MINUTES * 60))"
ls -l "$OUT" | tee -a "$OUT/smoke.txt"
