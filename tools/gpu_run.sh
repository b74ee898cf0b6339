#!/usr/bin/env bash
# One command for a lent GPU: smoke checks of the CUDA paths, then a --time-budget training run of the best
# layout known, warm-started from the shipped weights where shapes allow; results land in $OUT.
#
#   OUT=/tmp/gpu tools/gpu_run.sh             # on the GPU machine (the device tool sets OUT); ~10 min
#   TINY=1 OUT=/tmp/gpu tools/gpu_run.sh      # the same steps on the CPU with a tiny model (tests/test_gpu_run.py)
#
# $OUT receives: export.safetensors, metrics.csv, eval/metrics.json, eval/horizon.png, smoke.txt.
# BUDGET (minutes of training, default 6) and LAYOUT (model flags; default none: the shipped wiring, the bake-off's
# pick, trained with its OneCycle shape; LAYOUT="--hidden 96" grows the wider model) can be set.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?set OUT to the folder for the results}"
PY=${PYTHON:-python3}
LAYOUT=${LAYOUT:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$OUT"
log() { echo "gpu_run: $*" | tee -a "$OUT/smoke.txt"; }

if [ -n "${TINY:-}" ]; then
  # fp16 and bf16 become fp32 here: fp16 needs CUDA, and bf16 is emulated (~100x slower) on most CPUs
  DEV=cpu; HALF=fp32; BF16=fp32; BUDGET=${BUDGET:-0.2}; EVAL_N=4; GRID_N=1
  SMALL=(--hidden 8 --batch-size 2 --val-size 4 --log-every 1)
  TRAIN=(--hidden 8 --batch-size 2 --val-size 4 --eval-every 2)
else
  DEV=cuda; HALF=fp16; BF16=bf16; BUDGET=${BUDGET:-6}; EVAL_N=2000; GRID_N=100
  SMALL=(--hidden 16 --batch-size 8 --val-size 16 --log-every 1)
  # many sequences per step keep the GPU busy; validation is cheap there, so it runs as often as on the CPU
  TRAIN=(--batch-size 64 --lr 1e-3 --warmup 0.3 --val-size 256 --eval-every 100 --save-every 500 --init-from weights/convlstm_mmnist.safetensors)
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee -a "$OUT/smoke.txt"
fi
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" | tee -a "$OUT/smoke.txt"

log "smoke 1/4: $HALF steps with GradScaler, stop at 2, then --resume on $DEV"
$PY train.py "${SMALL[@]}" --device $DEV --precision $HALF --steps 4 --eval-every 2 --stop-at 2 --out "$work/half" >/dev/null
$PY train.py "${SMALL[@]}" --device $DEV --precision $HALF --steps 4 --eval-every 2 --resume --out "$work/half" >/dev/null
$PY - "$work/half/last.pt" <<'PY' | tee -a "$OUT/smoke.txt"
import math, sys, torch
s = torch.load(sys.argv[1], weights_only=True)
assert s["step"] == 4 and all(math.isfinite(r["val_mse"]) for r in s["rows"]), s["rows"]
print(f"  resumed to step {s['step']}, val mse {s['rows'][-1]['val_mse']:.1f}, loss scale {s['scaler'].get('scale', 'off')}")
PY
log "smoke 2/4: a $BF16 step with frame feedback and the conv stem"
$PY train.py "${SMALL[@]}" --device $DEV --precision $BF16 --steps 2 --eval-every 2 --stem conv --skip --frame-feedback --out "$work/bf16" >/dev/null
log "smoke 3/4: DDP"
gpus=$($PY -c "import torch; print(torch.cuda.device_count())")
if [ "$DEV" = cuda ] && [ "$gpus" -ge 2 ]; then
  $PY -m torch.distributed.run --standalone --nproc_per_node=2 train.py "${SMALL[@]}" --device cuda --steps 2 --eval-every 2 --out "$work/ddp" | tee -a "$OUT/smoke.txt"
else
  log "  skipped: $gpus GPU(s); 2-rank DDP needs 2 (the CPU/gloo path is tests/test_train.py::test_torchrun_two_ranks_on_cpu)"
fi
log "smoke 4/4: passed"

log "training: --time-budget $BUDGET min, layout: ${LAYOUT:-the shipped wiring}"
# shellcheck disable=SC2086
$PY train.py "${TRAIN[@]}" $LAYOUT --device $DEV --time-budget "$BUDGET" --out "$work/main" --export "$OUT/export.safetensors" 2>&1 \
  | grep -v '^train:' | tee -a "$OUT/smoke.txt" || true
cp "$work/main/metrics.csv" "$OUT/metrics.csv"
test -f "$OUT/export.safetensors"
$PY -m convlstm.evaluate --weights "$OUT/export.safetensors" --device $DEV --n $EVAL_N --grid-n $GRID_N --horizon 10 --out "$OUT/eval" 2>&1 \
  | grep -v 'it/s\|s/it' | tee -a "$OUT/smoke.txt"
log "done: $(ls "$OUT" | tr '\n' ' ')"
