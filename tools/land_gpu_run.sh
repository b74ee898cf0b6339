#!/usr/bin/env bash
# Bring a GPU lease's files home: check that they load, resume one step from them on the CPU, make them the campaign's
# state and commit it.
#
#   tools/land_gpu_run.sh <folder>                      # the files tools/gpu_run.sh left in $OUT -> campaign/, committed
#   NO_COMMIT=1 STATE=/tmp/s tools/land_gpu_run.sh <folder>   # elsewhere, uncommitted (tests/test_gpu_run.py)
set -euo pipefail
cd "$(dirname "$0")/.."
src=${1:?usage: tools/land_gpu_run.sh FOLDER (the files tools/gpu_run.sh brought back)}
STATE=${STATE:-campaign}
PY=${PYTHON:-python3}
step=$($PY - "$src" <<'PY'
import sys
from pathlib import Path

import torch
from convlstm import load_model

src = Path(sys.argv[1])
try:
    state = torch.load(src / "last.pt", map_location="cpu", weights_only=True)
    best = load_model(src / "best.safetensors")
    assert (src / "metrics.csv").read_text().startswith("step,"), "metrics.csv has no header"
except Exception as e:  # anything that stops a resume: missing, torn or foreign files
    why = " ".join(str(e).split())[:200]  # one line, however long the library's message
    sys.exit(f"land_gpu_run: {src} holds no resumable run ({type(e).__name__}: {why}); nothing was changed")
print(f"land_gpu_run: last.pt at step {state['step']} of {state['train_config']['steps']}, best validation "
      f"{state['best']:.1f} ({best.provenance.get('sequences_seen', 0):,} sequences seen)", file=sys.stderr)
print(state["step"])
PY
) || exit 2
check=$(mktemp -d)
trap 'rm -rf "$check"' EXIT
cp "$src/last.pt" "$src/metrics.csv" "$check/"
if ! $PY train.py --out "$check" --resume --device cpu --stop-at $((step + 1)) >"$check/resume.log" 2>&1; then
  echo "land_gpu_run: resuming $src/last.pt on the CPU failed: $(tail -1 "$check/resume.log"); nothing was changed" >&2
  exit 2
fi
echo "land_gpu_run: resumed on the CPU to step $((step + 1))" >&2
mkdir -p "$STATE"
for f in last.pt best.safetensors metrics.csv curves.png; do
  [ -f "$src/$f" ] && cp "$src/$f" "$STATE/$f"
done
if [ -z "${NO_COMMIT:-}" ]; then
  git add "$STATE"
  git commit -q -m "campaign: the state a GPU lease brought back (step $step)" -- "$STATE"
  echo "land_gpu_run: committed $STATE at step $step" >&2
fi
