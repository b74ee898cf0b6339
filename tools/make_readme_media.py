"""Make README's pictures and results table from the shipped weights: docs/prediction.gif (a real test
prediction), the table between README's results markers (from the weights' metadata and docs/eval/metrics.json)
and, with --run, the training history: docs/curves.png and docs/training_metrics.csv.

    python -m tools.make_readme_media --run runs/first runs/continued    # the runs, oldest first
    python -m convlstm.evaluate --out docs/eval          # docs/eval/horizon.png, the per-horizon plot

A run warm-started with --init-from counts its sequences from zero; its best.safetensors records how many
its starting weights had seen, so its rows are shifted by that, and the earlier run's rows after that point
(which the later run never started from) are dropped.
"""
import argparse
import csv
import json
import re
from pathlib import Path

import numpy as np

from convlstm import load_model, media, plots, predict
from convlstm.cli import OneLineParser
from convlstm.checkpoint import DEFAULT_WEIGHTS, read_metadata
from convlstm.data import CONTEXT, FUTURE, TEST_SEED, generate_sequence, load_digits
from convlstm.evaluate import GATE_RATIO, SHAPES_GATE_RATIO, grid_table

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
BLOCK = re.compile(r"(<!-- results:.*?-->\n)(.*?)(<!-- /results -->)", re.S)  # the generated part of README


def results_block(provenance: dict, record: dict) -> str:
    """README's results lines: the model's row from the weights' metadata, the baselines' from metrics.json."""
    test, summary = provenance.get("test"), record["summary"]
    if not test or abs(test["mse"] - summary["model_mse"]) > 1e-9:
        raise SystemExit("make_readme_media: the weights' test numbers and docs/eval/metrics.json differ; "
                         "run python -m convlstm.evaluate --out docs/eval --write-metadata first")

    def row(name: str, r: dict) -> str:
        openstl = f"{r['ssim_openstl']:.3f}" if "ssim_openstl" in r else "-"  # the baselines have no OpenSTL SSIM
        return f"| {name} | {r['mse']:.1f} | {r['mae']:.1f} | {r['ssim']:.3f} | {openstl} | {r['psnr']:.2f} |"

    def baseline(name: str) -> dict:
        return {k: summary[f"{name}_{k}"] for k in ("mse", "mae", "ssim", "psnr")}

    return "\n".join([
        f"Shipped weights, after {provenance['sequences_seen']:,} training sequences ({provenance['steps']:,} steps, "
        f"{provenance['precision']}): **test MSE {test['mse']:.1f}** per frame, {CONTEXT} -> {test['horizon']} frames, "
        f"on the {test['source']} of {test['n']:,} sequences.",
        "",
        "| predictor | MSE / frame | MAE / frame | SSIM | SSIM (OpenSTL range 2) | PSNR (dB) |",
        "|---|---|---|---|---|---|",
        row("ConvLSTM (shipped)", test),
        row("zeros", baseline("zeros")),
        row("copy last frame", baseline("copy_last")),
        "",
        *grid_lines(record.get("grid", {})),
    ])


def grid_lines(grid: dict) -> list[str]:
    """The generalisation grid (digits x speeds, test digits) as README lines; none if it was not evaluated."""
    if not grid.get("cells"):
        return []
    worst = max(c["ratio"] for c in grid["cells"])
    shapes = (f"; the shapes row (kinds and sizes training never drew) at most {SHAPES_GATE_RATIO:g}, its worst "
              f"{max(c['ratio'] for c in grid['shapes']):.2f}" if grid.get("shapes") else "")
    return [f"Across the app's range ({grid['n']} test sequences per cell; 10 -> 10 MSE / zeros baseline, ratio in "
            f"brackets; the ship gate asks every cell for at most {GATE_RATIO:g}, the worst here is {worst:.2f}{shapes}):", "",
            grid_table(grid["cells"], grid.get("shapes")), ""]


def readme_with_results(text: str) -> str:
    """README text with its results block rewritten from the shipped weights and docs/eval/metrics.json."""
    block = results_block(read_metadata(DEFAULT_WEIGHTS)[1], json.loads((DOCS / "eval" / "metrics.json").read_text()))
    if not BLOCK.search(text):
        raise SystemExit("make_readme_media: README.md lacks the <!-- results: ... --> ... <!-- /results --> markers")
    return BLOCK.sub(lambda m: m.group(1) + block + m.group(3), text)


def history(runs: list[Path]) -> tuple[list[dict], list[int]]:
    """metrics.csv rows of runs that warm-started each from the one before, on one sequences axis; restarts."""
    rows, restarts = [], []
    for run in runs:
        with open(run / "metrics.csv", newline="") as f:
            # counters stay integers in the published CSV; the rest are measurements
            mine = [{**{k: float(v) for k, v in r.items()}, "step": int(r["step"]), "sequences": int(r["sequences"])}
                    for r in csv.DictReader(f)]
        init = read_metadata(run / "best.safetensors")[1].get("init_from") or {}
        start, start_step = init.get("sequences_seen", 0), init.get("steps", 0)
        if rows and not start:
            raise ValueError(f"{run} was not warm-started (--init-from), so it does not continue {runs[0]}")
        clock = 0.0  # runs before the wall-clock total travelled in the weights restarted their clock at zero
        if start:
            rows = [r for r in rows if r["sequences"] <= start]
            restarts.append(start)
            clock = 0.0 if "wall_s" in init else rows[-1]["wall_s"]
        rows += [{**r, "sequences": r["sequences"] + start, "step": r["step"] + start_step, "wall_s": r["wall_s"] + clock}
                 for r in mine]
    return rows, restarts


def main() -> None:
    parser = OneLineParser(prog="python -m tools.make_readme_media", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, nargs="+", default=[], help="training run directories, oldest first")
    parser.add_argument("--seed", type=int, default=TEST_SEED + 7, help="which test sequence to show")
    args = parser.parse_args()
    try:
        rows, restarts = history(args.run) if args.run else ([], [])  # checked before anything is written
    except (ValueError, OSError) as e:
        parser.error(str(e))
    DOCS.mkdir(exist_ok=True)
    seq = generate_sequence(np.random.default_rng(args.seed), load_digits("test"))  # (20, 64, 64)
    pred = predict(seq[:CONTEXT], FUTURE, load_model())
    media.save_gif(media.comparison_gif_frames(seq[:CONTEXT], pred, seq[CONTEXT:]), DOCS / "prediction.gif")
    print(f"wrote {DOCS / 'prediction.gif'}")
    README.write_text(readme_with_results(README.read_text()))
    print(f"wrote the results table in {README}")
    if rows:
        plots.training_curves(rows, DOCS / "curves.png", tuple(restarts))
        with open(DOCS / "training_metrics.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        print(f"wrote {DOCS / 'curves.png'} and {DOCS / 'training_metrics.csv'} ({len(rows)} evaluations)")


if __name__ == "__main__":
    main()
