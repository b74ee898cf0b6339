#!/usr/bin/env bash
# Bring a GPU lease's files home: check that they load, resume one step from them on the CPU, make them the campaign's
# state and commit it. The campaign's best weights stay when they validate better than the lease's best (a lease that
# warm-started a new schedule counts its best from scratch); the landed state then keeps their score as the bar.
#
#   tools/land_gpu_run.sh <folder>                      # the files tools/gpu_run.sh left in $OUT -> campaign/, committed
#   NO_COMMIT=1 STATE=/tmp/s tools/land_gpu_run.sh <folder>   # elsewhere, uncommitted (tests/test_gpu_run.py)
set -euo pipefail
cd "$(dirname "$0")/.."
src=${1:?usage: tools/land_gpu_run.sh FOLDER (the files tools/gpu_run.sh brought back)}
STATE=${STATE:-campaign}
PY=${PYTHON:-python3}
read -r step keep < <($PY - "$src" "$STATE" <<'PY'
import sys
from pathlib import Path

from convlstm import load_model
from convlstm.checkpoint import load_state

src, home = Path(sys.argv[1]), Path(sys.argv[2])
try:
    state = load_state(src / "last.pt")
    best = load_model(src / "best.safetensors")
    assert (src / "metrics.csv").read_text().startswith("step,"), "metrics.csv has no header"
except Exception as e:  # anything that stops a resume: missing, torn or foreign files
    why = " ".join(str(e).split())[:200]  # one line, however long the library's message
    sys.exit(f"land_gpu_run: {src} holds no resumable run ({type(e).__name__}: {why}); nothing was changed")
print(f"land_gpu_run: last.pt at step {state['step']} of {state['train_config']['steps']}, best validation "
      f"{state['best']:.1f} ({best.provenance.get('sequences_seen', 0):,} sequences seen)", file=sys.stderr)
keep = ""  # the campaign's best validation, where it beats the lease's on the same measure and validation set
if (home / "last.pt").is_file() and (home / "best.safetensors").is_file():
    old, new = load_state(home / "last.pt"), state["train_config"]
    same = all(old["train_config"].get(k) == new.get(k) for k in ("best_by", "val_size"))  # the validation sets
    if same and old["best"] < state["best"]:
        keep = old["best"]
print(state["step"], keep)
PY
) && [ -n "${step:-}" ] || exit 2
check=$(mktemp -d)
trap 'rm -rf "$check"' EXIT
cp "$src/last.pt" "$src/metrics.csv" "$check/"
if ! $PY train.py --out "$check" --resume --device cpu --stop-at $((step + 1)) >"$check/resume.log" 2>&1; then
  echo "land_gpu_run: resuming $src/last.pt on the CPU failed: $(tail -1 "$check/resume.log"); nothing was changed" >&2
  exit 2
fi
mkdir -p "$STATE"
for f in last.pt best.safetensors metrics.csv curves.png; do
  if [ "$f" = best.safetensors ] && [ -n "$keep" ]; then continue; fi
  [ -f "$src/$f" ] && cp "$src/$f" "$STATE/$f"
done
$PY - "$check/last.pt" "$STATE" "$keep" <<'PY'
import sys
from pathlib import Path

from convlstm.checkpoint import load_state, save_state

resumed, home, keep = sys.argv[1:]
print(f"land_gpu_run: resumed on the CPU to step {load_state(resumed)['step']}", file=sys.stderr)
if keep:  # later validations must beat the kept weights, not the lease's best, to replace them
    state = load_state(Path(home) / "last.pt")
    state["best"] = float(keep)
    save_state(Path(home) / "last.pt", state)
    print(f"land_gpu_run: kept {home}/best.safetensors (validation {keep}, better than the lease's best)", file=sys.stderr)
PY
if [ -z "${NO_COMMIT:-}" ]; then
  git add "$STATE"
  git commit -q -m "campaign: the state a GPU lease brought back (step $step)" -- "$STATE"
  echo "land_gpu_run: committed $STATE at step $step" >&2
fi
