"""Make README's pictures from the shipped weights: docs/prediction.gif (a real test prediction) and,
with --run, the training history: docs/curves.png and docs/training_metrics.csv.

    python -m tools.make_readme_media --run runs/first runs/continued    # the runs, oldest first
    python -m convlstm.evaluate --out docs/eval          # docs/eval/horizon.png, the per-horizon plot

A run warm-started with --init-from counts its sequences from zero; its best.safetensors records how many
its starting weights had seen, so its rows are shifted by that, and the earlier run's rows after that point
(which the later run never started from) are dropped.
"""
import argparse
import csv
from pathlib import Path

import numpy as np

from convlstm import load_model, media, plots, predict
from convlstm.checkpoint import read_metadata
from convlstm.data import CONTEXT, FUTURE, TEST_SEED, generate_sequence, load_digits

DOCS = Path(__file__).resolve().parents[1] / "docs"


def history(runs: list[Path]) -> tuple[list[dict], list[int]]:
    """metrics.csv rows of runs that warm-started each from the one before, on one sequences axis; restarts."""
    rows, restarts = [], []
    for run in runs:
        with open(run / "metrics.csv", newline="") as f:
            mine = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]
        init = read_metadata(run / "best.safetensors")[1].get("init_from") or {}
        start, start_step = init.get("sequences_seen", 0), init.get("steps", 0)
        if rows and not start:
            raise SystemExit(f"make_readme_media: {run} was not warm-started (--init-from), so it does not continue {runs[0]}")
        if start:
            rows = [r for r in rows if r["sequences"] <= start]
            restarts.append(start)
        rows += [{**r, "sequences": r["sequences"] + start, "step": r["step"] + start_step} for r in mine]
    return rows, restarts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, nargs="+", default=[], help="training run directories, oldest first")
    parser.add_argument("--seed", type=int, default=TEST_SEED + 7, help="which test sequence to show")
    args = parser.parse_args()
    DOCS.mkdir(exist_ok=True)
    seq = generate_sequence(np.random.default_rng(args.seed), load_digits("test"))  # (20, 64, 64)
    pred = predict(seq[:CONTEXT], FUTURE, load_model())
    media.write_gif(media.comparison_frames(seq[:CONTEXT], pred, seq[CONTEXT:]), DOCS / "prediction.gif")
    print(f"wrote {DOCS / 'prediction.gif'}")
    if args.run:
        rows, restarts = history(args.run)
        plots.training_curves(rows, DOCS / "curves.png", tuple(restarts))
        with open(DOCS / "training_metrics.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        print(f"wrote {DOCS / 'curves.png'} and {DOCS / 'training_metrics.csv'} ({len(rows)} evaluations)")


if __name__ == "__main__":
    main()
