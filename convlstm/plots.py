"""Matplotlib figures: training curves and error against the prediction horizon. Written as PNG files."""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window; safe in servers and CI
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import LogFormatter

from .data import FUTURE, NUM_DIGITS, SPEED


def training_curves(rows: list[dict], path: str | Path, restarts: tuple[int, ...] = ()) -> Path:
    """Training loss and validation MSE per frame (whole-range too where logged) by sequences seen; restarts: warm starts."""
    fig, ax = plt.subplots(figsize=(7, 4))
    seen = [r["sequences"] for r in rows]
    ax.plot(seen, [r["train_mse"] for r in rows], label="train (running mean)")
    ax.plot(seen, [r["val_mse"] for r in rows], "o-", ms=3, label=f"validation (2 digits, speed {SPEED:g})")
    mixed = [(r["sequences"], r["val_mixed_mse"]) for r in rows if "val_mixed_mse" in r]
    if mixed:  # runs before 2026-11-30 validated on the canonical set only
        ax.plot(*zip(*mixed), "s-", ms=3, label=f"validation ({NUM_DIGITS[0]}-{NUM_DIGITS[1]} digits, the app's speed range)")
    for i, at in enumerate(restarts):
        ax.axvline(at, color="0.5", ls="--", lw=1, label="warm restart (--init-from)" if i == 0 else None)
    ax.set_xlabel("training sequences seen")
    ax.set_ylabel("MSE per frame (summed over 64x64 pixels)")
    ax.set_yscale("log")
    for axis_format in (ax.yaxis.set_major_formatter, ax.yaxis.set_minor_formatter):
        axis_format(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))  # 90, not 9x10^1
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def horizon_curves(curves: dict[str, dict[str, np.ndarray]], path: str | Path, title: str = "") -> Path:
    """Per-step MSE and SSIM against the horizon for each named predictor, e.g. {"model": {"mse": ..., "ssim": ...}}."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, key, label in [(axes[0], "mse", "MSE per frame (lower is better)"), (axes[1], "ssim", "SSIM (higher is better)")]:
        for name, scores in curves.items():
            steps = np.arange(1, len(scores[key]) + 1)
            ax.plot(steps, scores[key], "o-" if len(steps) <= 30 else "-", ms=3, label=name)
        if any(len(s[key]) > FUTURE for s in curves.values()):
            ax.axvspan(FUTURE + 0.5, max(len(s[key]) for s in curves.values()) + 0.5, color="0.9", zorder=0,
                       label="beyond the trained horizon")
        ax.set_xlabel("frames ahead")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
