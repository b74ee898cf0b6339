"""Make README's pictures and results tables from the shipped weights: docs/prediction.gif (a real test
prediction of the default model), the tables between README's results markers (from each shipped model's metadata
and its docs/eval*/metrics.json) and, with --run, the training history: docs/curves.png and docs/training_metrics.csv.

    python -m tools.make_readme_media --run runs/first runs/continued    # the runs, oldest first
    python -m convlstm.evaluate --out docs/eval --write-metadata         # first: the default's numbers and plot
    python -m convlstm.evaluate --weights canonical --out docs/eval-canonical --write-metadata   # the specialist's

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
from convlstm.checkpoint import DEFAULT_MODEL, MODELS, read_metadata
from convlstm.data import CONTEXT, FUTURE, TEST_SEED, generate_sequence, load_digits
from convlstm.evaluate import GATE_RATIO, SHAPES_GATE_RATIO, grid_table, models_table
from convlstm.hub import CANONICAL_WORDS, trained_on
from convlstm.metrics import grid_headline

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
# the generated parts of README: the models side by side, and each one's results
BLOCKS = {"models": re.compile(r"(<!-- models:.*?-->\n)(.*?)(<!-- /models -->)", re.S),
          "results": re.compile(r"(<!-- results:.*?-->\n)(.*?)(<!-- /results -->)", re.S)}
NAMES = {name: f"`{name}` ({'**default**, ' * (name == DEFAULT_MODEL)}`{folder.relative_to(ROOT)}`)"
         for name, folder in MODELS.items()}  # as the models table names them
EVALS = {"whole-range": DOCS / "eval", "canonical": DOCS / "eval-canonical"}  # each shipped model's evaluation


def results_block(name: str, provenance: dict, record: dict) -> str:
    """README's results lines for one shipped model: its row from the weights' metadata, the baselines' from
    its metrics.json."""
    test, summary = provenance.get("test"), record["summary"]
    if not test or abs(test["mse"] - summary["model_mse"]) > 1e-9:
        out = EVALS[name].relative_to(ROOT)
        raise SystemExit(f"make_readme_media: the {name} weights' test numbers and {out}/metrics.json differ; "
                         f"run python -m convlstm.evaluate --weights {name} --out {out} --write-metadata first")

    def row(name: str, r: dict) -> str:
        openstl = f"{r['ssim_openstl']:.3f}" if "ssim_openstl" in r else "-"  # the baselines have no OpenSTL SSIM
        return f"| {name} | {r['mse']:.1f} | {r['mae']:.1f} | {r['ssim']:.3f} | {openstl} | {r['psnr']:.2f} |"

    def baseline(name: str) -> dict:
        return {k: summary[f"{name}_{k}"] for k in ("mse", "mae", "ssim", "psnr")}

    return "\n".join([
        f"**`{name}`**, after {trained_on(provenance)} ({provenance['precision']}): **test MSE {test['mse']:.1f}** per "
        f"frame, {CONTEXT} -> {test['horizon']} frames, on the {test['source']} of {test['n']:,} sequences "
        f"({CANONICAL_WORDS}).",
        "",
        "| predictor | MSE / frame | MAE / frame | SSIM | SSIM (OpenSTL range 2) | PSNR (dB) |",
        "|---|---|---|---|---|---|",
        row(f"ConvLSTM (`{name}`)", test),
        row("zeros", baseline("zeros")),
        row("copy last frame", baseline("copy_last")),
        "",
        *grid_lines(record.get("grid", {})),
    ])


def grid_lines(grid: dict) -> list[str]:
    """The generalisation grid (digits x speeds, test digits) as README lines; none if it was not evaluated."""
    head = grid_headline(grid)
    if head is None:
        return []
    shapes = (f"; the shapes row (kinds and sizes training never drew) at most {SHAPES_GATE_RATIO:g}, its worst "
              f"{head['shapes_worst']:.2f}" if head["shapes_worst"] is not None else "")
    return [f"Across the app's range ({grid['n']} test sequences per cell; 10 -> 10 MSE / zeros baseline, ratio in "
            f"brackets; the ship gate asks every cell for at most {GATE_RATIO:g}; here the mean is {head['mean']:.2f} "
            f"and the worst {head['worst']:.2f}{shapes}):", "",
            grid_table(grid["cells"], grid.get("shapes")), ""]


def readme_with_results(text: str) -> str:
    """README text with its models table and results blocks rewritten from the shipped weights and their
    docs/eval*/metrics.json."""
    blocks = {"models": models_table(NAMES, wiring=True) + "\n",
              "results": "\n".join(results_block(name, read_metadata(MODELS[name])[1],
                                                 json.loads((EVALS[name] / "metrics.json").read_text())) for name in MODELS)}
    for name, block in blocks.items():
        if not BLOCKS[name].search(text):
            raise SystemExit(f"make_readme_media: README.md lacks the <!-- {name}: ... --> ... <!-- /{name} --> markers")
        text = BLOCKS[name].sub(lambda m: m.group(1) + block + m.group(3), text)
    return text


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
