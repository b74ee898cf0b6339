"""Evaluate weights the way the literature does, beside the zeros and copy-last-frame baselines.

    python -m convlstm.evaluate                          # the default shipped model, 2,000 fixed test sequences
    python -m convlstm.evaluate --weights canonical      # the speed-0.1 specialist; or any weights file or folder
    python -m convlstm.evaluate --data mnist_test_seq.npy  # the canonical file, if you have it (all 10,000)
    python -m convlstm.evaluate --write-metadata         # store the headline numbers and the grid in the weights file
    python -m convlstm.evaluate --device cuda --grid-n 0  # on a GPU; no generalisation grid

Headline numbers cover the standard 10 -> 10 protocol; per-step numbers run on to --horizon (error growth).
The generalisation grid scores 10 -> 10 over digits 1-3 and speeds across the app's range (test-split digits),
each cell beside its zeros baseline: the ship gate asks every cell for at most 0.6x that baseline. A row of
simple shapes of kinds and sizes the training never drew (1-3 of them) follows, gated at 0.8x.
"""
import argparse
import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import metrics, plots
from .api import run, shipped_model
from .checkpoint import MODELS, load_model, resolve
from .hub import CANONICAL_WORDS, save_model, trained_on
from .cli import OneLineParser
from .data import (CONTEXT, FUTURE, HELD_OUT_KINDS, HELD_OUT_RADII, NUM_DIGITS, SPEEDS, TEST_SEED, fixed_set,
                   generate_set, generate_shapes, load_canonical, load_digits)
from .runtime import DEVICES, PRECISIONS, pick_device, resolve_precision

TEST_N = 2000  # fixed test sequences by default (test-split digits, TEST_SEED)
GRID_SPEEDS = (SPEEDS[0], 0.05, 0.1, 0.15, 0.2, SPEEDS[1])  # across data.SPEEDS, the app's range
GRID_DIGITS = tuple(range(NUM_DIGITS[0], NUM_DIGITS[1] + 1))  # every digit count data.NUM_DIGITS allows
GATE_RATIO = 0.6  # the ship gate: every grid cell's MSE at most this fraction of its zeros baseline
SHAPES_GATE_RATIO = 0.8  # and every cell of the shapes row at most this
GRID_N = 100  # sequences per grid cell by default


def evaluate(model, frames: np.ndarray, horizon: int, precision: str = "auto") -> dict[str, dict[str, np.ndarray]]:
    """Per-step metrics of the model, zeros and copy-last-frame on (N, CONTEXT + horizon, 64, 64) sequences.

    `frames` is float in [0, 1] or uint8 (a memory-mapped canonical file: only the future frames are copied as floats).
    """
    scale = np.float32(255 if frames.dtype == np.uint8 else 1)
    truth = frames[:, CONTEXT : CONTEXT + horizon] / scale  # (N, horizon, H, W) float32
    pred = run(model, frames[:, :CONTEXT], horizon, precision, progress=True)
    last = np.repeat(frames[:, CONTEXT - 1 : CONTEXT] / scale, horizon, axis=1)  # (N, 1, H, W) -> (N, horizon, H, W)
    results = {}
    for name, p, openstl in [("model", pred, True), ("zeros", np.zeros_like(truth), False), ("copy_last", last, False)]:
        results[name] = metrics.all_per_step(p, truth, openstl)
        tqdm.write(f"scored {name}")
    return results


def _cell(model, seqs: np.ndarray, precision: str, **where) -> dict:
    """One grid cell: 10 -> 10 MSE of float (n, 20, 64, 64) sequences beside their zeros baseline, labelled by `where`."""
    truth = seqs[:, CONTEXT:]
    mse = float(metrics.mse_per_step(run(model, seqs[:, :CONTEXT], FUTURE, precision), truth).mean())
    zeros = float(metrics.mse_per_step(np.zeros_like(truth), truth).mean())
    return {**where, "mse": mse, "zeros_mse": zeros, "ratio": mse / zeros}


def grid(model, n: int, precision: str = "auto") -> list[dict]:
    """10 -> 10 MSE per (digits, speed) cell on n fixed test sequences each, beside that cell's zeros baseline."""
    cells = []
    for d in tqdm(GRID_DIGITS, desc="grid", unit="digit count"):
        for k, speed in enumerate(GRID_SPEEDS):
            rng = np.random.default_rng([TEST_SEED, d, k])  # a fixed set per cell
            seqs = generate_set(rng, load_digits("test"), n, num_frames=CONTEXT + FUTURE, num_digits=d, speed=speed)
            cells.append(_cell(model, seqs, precision, digits=d, speed=speed))
    return cells


def shapes_row(model, n: int, precision: str = "auto") -> list[dict]:
    """10 -> 10 MSE per speed on n fixed sequences of 1-3 shapes of held-out kinds and sizes, beside the zeros baseline."""
    cells = []
    for k, speed in enumerate(tqdm(GRID_SPEEDS, desc="shapes", unit="speed")):
        rng = np.random.default_rng([TEST_SEED, 0, k])  # digits 0: the shapes row's own fixed sets
        seqs = np.stack([generate_shapes(rng, CONTEXT + FUTURE, int(rng.integers(NUM_DIGITS[0], NUM_DIGITS[1] + 1)), speed,
                                         HELD_OUT_KINDS, HELD_OUT_RADII) for _ in range(n)]) / np.float32(255)
        cells.append(_cell(model, seqs, precision, speed=speed))
    return cells


def grid_table(cells: list[dict], shapes: list[dict] | None = None) -> str:
    """A markdown table: one row per digit count (and the shapes row, if given), one column per speed, 'MSE / zeros
    (ratio)' in each cell."""
    lines = ["| digits | " + " | ".join(f"speed {s:g}" for s in GRID_SPEEDS) + " |", "|---" * (len(GRID_SPEEDS) + 1) + "|"]
    rows = [(str(d), [c for c in cells if c["digits"] == d]) for d in GRID_DIGITS] + ([("shapes", shapes)] if shapes else [])
    for name, row in rows:
        lines.append(f"| {name} | " + " | ".join(f"{c['mse']:.0f} / {c['zeros_mse']:.0f} ({c['ratio']:.2f})" for c in row) + " |")
    return "\n".join(lines)


def cell_for(cells: list[dict], digits: int, speed: float) -> dict | None:
    """The grid cell with this digit count and the grid speed nearest to `speed`; None without a grid."""
    row = [c for c in cells if c["digits"] == digits]
    return min(row, key=lambda c: abs(c["speed"] - speed), default=None)


def models_table(labels: dict[str, str], wiring: bool = False) -> str:
    """The shipped models side by side, as markdown: the canonical test MSE and the whole-range headline from each
    one's stored evaluation, what it was trained on, and (wiring) its parameters, MACs and measured reach."""
    head = f"| model | test MSE ({CANONICAL_WORDS}) | grid mean | worst digit cell | worst shapes cell | trained on |"
    lines = [head + (" parameters, GMACs, reach (px per step: decoder / encoder) |" if wiring else ""),
             "|---" * (6 + wiring) + "|"]
    for name in MODELS:
        model = shipped_model(name)
        p = model.provenance
        test = p.get("test", {})
        grid = metrics.grid_headline(test.get("grid", {}))
        scores = ["-"] * 3 if grid is None else [
            f"{grid['mean']:.2f}x", f"{grid['worst']:.2f}x ({metrics.cell_name(grid['worst_digits'], grid['worst_speed'])})",
            "-" if grid["shapes_worst"] is None else f"{grid['shapes_worst']:.2f}x"]
        row = [labels[name], f"{test['mse']:.1f}" if test else "-", *scores, trained_on(p)]
        if wiring:
            reach = model.reach()
            row.append(f"{model.num_parameters():,}, {model.macs_per_sequence() / 1e9:.2f}, "
                       f"{reach['decoder_px_per_step']:g} / {reach['encoder_px_per_step']:g}")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def headline(results: dict) -> dict[str, float]:
    """Means over the first FUTURE horizon steps: the standard 10 -> 10 numbers."""
    return {f"{name}_{k}": float(v[:FUTURE].mean()) for name, r in results.items() for k, v in r.items()}


def table(results: dict) -> str:
    """A markdown table of the 10 -> 10 means, one row per predictor."""
    keys = ["mse", "mae", "ssim", "ssim_openstl", "psnr"]
    lines = ["| predictor | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name, r in results.items():
        cells = [f"{r[k][:FUTURE].mean():.4g}" if k in r else "-" for k in keys]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(prog="python -m convlstm.evaluate", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_weights()
    parser.add_argument("--data", type=Path, help="canonical mnist_test_seq.npy (uint8 (20, N, 64, 64)); default: generated")
    parser.add_argument("--n", type=int, help=f"number of test sequences (default: {TEST_N} generated, or every one in --data)")
    parser.add_argument("--horizon", type=int, default=30, help="per-step metrics up to here (>= 10; generated data only past 10)")
    parser.add_argument("--out", type=Path, default=Path("eval"), help="folder for metrics.json and horizon.png")
    parser.add_argument("--grid-n", type=int, default=GRID_N, help="sequences per generalisation-grid cell (0: skip the grid)")
    parser.add_argument("--device", default="auto", choices=DEVICES, help="auto: CUDA if present")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS, help="auto: bf16 where native, else fp32")
    parser.add_argument("--write-metadata", action="store_true", help="store the 10 -> 10 test numbers and the grid in the weights file")
    args = parser.parse_args(argv)
    if (args.n is not None and args.n < 1) or args.horizon < FUTURE or args.grid_n < 0:
        parser.error(f"--n must be >= 1, --horizon >= {FUTURE} and --grid-n >= 0")
    try:
        device = pick_device(args.device)
        resolve_precision(args.precision, device)  # fp16 without CUDA is refused here, before any work
        model = load_model(args.weights, device)
        if args.data:
            frames = load_canonical(args.data)[: args.n]  # (N, 20, 64, 64) uint8, memory-mapped
            horizon, source = FUTURE, f"canonical file {args.data.name}"
        else:
            frames = fixed_set("test", args.n or TEST_N, num_frames=CONTEXT + args.horizon)
            horizon, source = args.horizon, "generated test set (test-split digits, fixed seed)"
    except (ValueError, OSError) as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n")

    results = evaluate(model, frames, horizon, args.precision)
    summary = headline(results)
    print(f"\n{len(frames)} sequences, {source}; means over the {FUTURE} standard future frames:\n")
    print(table(results))
    print("\nmodel MSE per step: " + " ".join(f"{v:.1f}" for v in results["model"]["mse"]))
    cells = grid(model, args.grid_n, args.precision) if args.grid_n else []
    shapes = shapes_row(model, args.grid_n, args.precision) if args.grid_n else []
    if cells:
        print(f"\ngeneralisation grid, {args.grid_n} test sequences per cell, 10 -> 10 MSE / zeros baseline (ratio):\n")
        print(grid_table(cells, shapes))

    args.out.mkdir(parents=True, exist_ok=True)
    record = {"weights": str(args.weights), "n": len(frames), "source": source, "summary": summary,
              "per_step": {name: {k: v.tolist() for k, v in r.items()} for name, r in results.items()},
              "grid": {"n": args.grid_n, "cells": cells, "shapes": shapes}}
    (args.out / "metrics.json").write_text(json.dumps(record, indent=1))
    plots.horizon_curves({"ConvLSTM": results["model"], "zeros": results["zeros"], "copy last frame": results["copy_last"]},
                         args.out / "horizon.png", title=f"{len(frames)} sequences, {source}")
    print(f"wrote {args.out / 'metrics.json'} and {args.out / 'horizon.png'}")
    if args.write_metadata:
        test = {"n": len(frames), "source": source, "horizon": FUTURE, "zeros_mse": summary["zeros_mse"],
                "copy_last_mse": summary["copy_last_mse"],
                **{k: summary[f"model_{k}"] for k in ("mse", "mae", "ssim", "ssim_openstl", "psnr")},
                "grid": {"n": args.grid_n, "cells": cells, "shapes": shapes}}
        save_model(model, resolve(args.weights), {**model.provenance, "test": test})  # a folder gets its card rewritten too
        print(f"stored the test numbers in {args.weights}")


if __name__ == "__main__":
    main()
