"""Everything the app shows for one prediction: first, fast, the players, curves and table (show); then, from the
arrays show() left behind, the filmstrip and downloads (files), so a result never waits for its files.

Also the app's serving limits, so tools (tools/load_bench.py) read them without importing the app.
Nothing here draws with matplotlib: the curves go out as a table that the page plots itself.
"""
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import media
from . import inside
from ..api import default_model, predict
from ..metrics import all_per_step

CONCURRENCY = 2  # model calls at once: the 2 vCPUs of a free Space
FILE_SLOTS = 1  # /files calls at once, beside them: two let a loop of /files calls slow every prediction 7x
QUEUE_SIZE = 16  # requests waiting beyond those; more are refused at once with "queue is full"
KEEP_S = 15 * 60  # request output folders (and Gradio's cached uploads and outputs) older than this are pruned
SESSIONS = 256  # browser sessions whose state Gradio keeps (~0.5 MB each); the oldest is dropped beyond
METRICS = [("MSE per frame", "mse", 1), ("MAE per frame", "mae", 1), ("SSIM", "ssim", 3), ("PSNR (dB)", "psnr", 2)]
PREDICTORS = ("ConvLSTM", "copy last frame")  # the model, and the baseline that repeats the last context frame
ARRAYS = "arrays.npz"  # the clip's frames that show() leaves in the request folder for files()
PREDICTION = "prediction.npy"  # the prediction, left there by show(): files() draws from it, and it is a download


@dataclass
class Shown:
    """One prediction, ready for the page: player payloads, curves and the metrics table (files come from files())."""

    player: dict  # the comparison player's payload (see player_payload)
    inside: dict  # the "Inside the ConvLSTM" player's payload
    result: str  # the name of the request's folder, where files() finds the arrays to draw the files from
    curves: pd.DataFrame | None  # per-step scores, long format; None without ground truth
    table: list[list[str]]  # metric, ConvLSTM, copy last frame
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage, for tools/load_bench.py


@dataclass
class Files:
    """A shown prediction's files: the filmstrip and the downloads."""

    strip: Path  # filmstrip PNG
    downloads: list[str]  # comparison GIF, prediction GIF, prediction .npy
    timings: dict[str, float] = field(default_factory=dict)


def player_payload(panels: np.ndarray, labels: list[str], columns: tuple[str, ...]) -> dict:
    """What the page's frame player needs: a sprite of palette frames (T, h, w), the frame size, labels, headings."""
    n, h, w = panels.shape
    return {"sprite": media.sprite(panels), "frames": n, "width": w, "height": h, "labels": labels,
            "columns": list(columns), "fps": media.FPS}


def asset(name: str) -> str:
    """The text of one of the page's files beside this module: player.html / .css / .js, page.css."""
    return (Path(__file__).parent / name).read_text()


def _scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, np.ndarray]:
    """Per-step scores of one sequence (T, 64, 64) against its truth."""
    return all_per_step(pred[None], truth[None], openstl=False)  # (T, H, W) -> (1, T, H, W)


def show(context: np.ndarray, truth: np.ndarray | None, horizon: int, out: Path,
         shown_input: np.ndarray | None = None, model=None) -> Shown:
    """Predict `horizon` frames after `context` (the frames the model reads): the page's outputs, and the arrays
    that files() draws from, left in `out` (the request's folder).

    shown_input: the clip's context as given, when an input fix changed what the model reads (see upload/fix.py).
    """
    t = {"start": time.perf_counter()}
    model = model or default_model()
    with model.trace() as steps:  # the gates and hidden states of this very prediction, for the inside view
        pred = predict(context, horizon, model)
    t["model"] = time.perf_counter()
    raw = context if shown_input is None else shown_input
    panels = media.comparison_panels(raw, pred, truth, seen=context)
    labels = media.frame_labels(len(context), horizon)
    player = player_payload(panels, labels, media.COLUMNS)
    cells, cell_labels = inside.panels(steps)
    inside_player = player_payload(cells, cell_labels, inside.COLUMNS)
    t["players"] = time.perf_counter()
    curves, table = None, [["(no ground truth: the clip ends at the context)", "", ""]]
    if truth is not None:
        n = min(len(truth), horizon)
        scores = [_scores(pred[:n], truth[:n]), _scores(np.repeat(context[-1:], n, axis=0), truth[:n])]
        curves = pd.DataFrame([{"frames ahead": s + 1, "predictor": name, "MSE per frame": float(sc["mse"][s]),
                                "SSIM": float(sc["ssim"][s])} for name, sc in zip(PREDICTORS, scores) for s in range(n)])
        table = [[name, f"{scores[0][k].mean():.{d}f}", f"{scores[1][k].mean():.{d}f}"] for name, k, d in METRICS]
    t["scores"] = time.perf_counter()
    empty = np.zeros((0, *pred.shape[1:]), np.float32)  # npz has no None: no truth is stored as no frames
    np.savez(out / ARRAYS, raw=raw, seen=context, truth=empty if truth is None else truth)
    np.save(out / PREDICTION, pred)
    t["arrays"] = time.perf_counter()
    return Shown(player, inside_player, out.name, curves, table, _stages(t))


def files(out: Path) -> Files:
    """The filmstrip and downloads of the prediction that show() made in `out`, drawn from the arrays it left."""
    t = {"start": time.perf_counter()}
    with np.load(out / ARRAYS) as a:
        raw, seen, truth = a["raw"], a["seen"], a["truth"]
    truth, pred = truth if len(truth) else None, np.load(out / PREDICTION)
    gif = media.save_gif(media.comparison_gif_frames(raw, pred, truth, seen=seen), out / "comparison.gif")
    pred_gif = media.prediction_gif(pred, out / "prediction.gif")
    t["downloads"] = time.perf_counter()
    strip = media.filmstrip(raw, pred, truth, out / "filmstrip.png")
    t["filmstrip"] = time.perf_counter()
    return Files(strip, [str(gif), str(pred_gif), str(out / PREDICTION)], _stages(t))


def _stages(t: dict[str, float]) -> dict[str, float]:
    """Seconds per stage from time stamps taken at the end of each stage, in order."""
    stages = list(t)
    return {b: t[b] - t[a] for a, b in zip(stages, stages[1:])}
