"""Pictures out: the labelled side-by-side comparison GIF, the filmstrip PNG and the prediction GIF.

Frames are float32 (T, 64, 64) in [0, 1].
"""
from pathlib import Path

import imageio.v3 as iio
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .data import CANVAS, FUTURE

FPS = 4  # playback rate of the comparison GIFs: slow enough to follow each digit
SCALE = 3  # comparison GIFs upscale each 64x64 frame to 192x192 for viewing
LABEL_H = 22  # pixels of caption above the panels


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _panel(frame: np.ndarray | None, rgb: tuple[int, int, int] = (255, 255, 255), scale: int = SCALE) -> np.ndarray:
    """A (64, 64) frame in [0, 1] tinted `rgb` and upscaled to (64*scale, 64*scale, 3) uint8; None is blank."""
    size = CANVAS * scale
    if frame is None:
        return np.full((size, size, 3), 40, dtype=np.uint8)
    big = np.kron(np.clip(frame, 0, 1), np.ones((scale, scale)))  # nearest-neighbour upscale (H*s, W*s)
    return (big[..., None] * np.array(rgb)).astype(np.uint8)  # (H*s, W*s) -> (H*s, W*s, 3)


def comparison_frames(context: np.ndarray, prediction: np.ndarray, truth: np.ndarray | None = None) -> list[np.ndarray]:
    """Animation frames (uint8 RGB) laid out Input | Ground truth | Prediction | |Error|, with captions.

    context (Tc, 64, 64); prediction (H, 64, 64); truth (<= H, 64, 64) or None. The context plays first in the
    Input panel, then the future plays in the other panels; a frame counter marks which is which.
    """
    n_ctx, horizon = len(context), len(prediction)
    n_true = 0 if truth is None else min(len(truth), horizon)
    columns = ["Input", "Ground truth", "Prediction", "|Error|"]
    gap = 4
    size = CANVAS * SCALE
    width = len(columns) * size + (len(columns) - 1) * gap
    out = []
    for k in range(n_ctx + horizon):
        is_ctx = k < n_ctx
        s = k - n_ctx  # index into the future
        panels = [
            _panel(context[k] if is_ctx else context[-1] * 0.35),  # last context frame, dimmed, while the future plays
            _panel(None if is_ctx or s >= n_true else truth[s]),
            _panel(None if is_ctx else prediction[s], (120, 200, 255)),
            _panel(None if is_ctx or s >= n_true else np.abs(prediction[s] - truth[s]), (255, 120, 80)),
        ]
        canvas = Image.new("RGB", (width, size + 2 * LABEL_H), (20, 20, 20))
        draw = ImageDraw.Draw(canvas)
        for j, (name, panel) in enumerate(zip(columns, panels)):
            x0 = j * (size + gap)
            canvas.paste(Image.fromarray(panel), (x0, LABEL_H))
            draw.text((x0 + 4, 3), name, fill=(230, 230, 230), font=_font(15))
        counter = f"context {k + 1}/{n_ctx}" if is_ctx else f"predicted +{s + 1}/{horizon}"
        colour = (200, 200, 200) if is_ctx else (120, 200, 255)
        if not is_ctx and s >= FUTURE:
            counter += f"  (beyond the {FUTURE} trained steps)"
        draw.text((4, size + LABEL_H + 3), counter, fill=colour, font=_font(15))
        out.append(np.asarray(canvas))
    return out


def write_gif(frames: list[np.ndarray], path: str | Path, fps: float = FPS) -> Path:
    """Write uint8 RGB frames as a looping animated GIF."""
    path = Path(path)
    # imageio's GIF duration is per frame in milliseconds; loop=0 loops forever
    iio.imwrite(path, np.stack(frames), extension=".gif", duration=1000.0 / fps, loop=0)
    return path


def filmstrip(context: np.ndarray, prediction: np.ndarray, truth: np.ndarray | None, path: str | Path) -> Path:
    """A static PNG grid: rows Input + ground truth | Prediction | |Error|, one 64x64 column per frame."""
    n_ctx, horizon = len(context), len(prediction)
    n_true = 0 if truth is None else min(len(truth), horizon)
    names = ["Input + truth", "Prediction", "|Error|"]
    gap, label_w = 2, 110
    cols = n_ctx + horizon
    width = label_w + cols * (CANVAS + gap)
    canvas = Image.new("RGB", (width, LABEL_H + len(names) * (CANVAS + gap)), (20, 20, 20))
    draw = ImageDraw.Draw(canvas)
    for k in range(cols):
        x0 = label_w + k * (CANVAS + gap)
        s = k - n_ctx
        draw.text((x0 + 2, 3), f"{k + 1}" if s < 0 else f"+{s + 1}", fill=(200, 200, 200) if s < 0 else (120, 200, 255), font=_font(12))
        cells = [
            context[k] if s < 0 else (truth[s] if s < n_true else None),
            None if s < 0 else prediction[s],
            None if s < 0 or s >= n_true else np.abs(prediction[s] - truth[s]),
        ]
        tints = [(255, 255, 255), (120, 200, 255), (255, 120, 80)]
        for r, (cell, tint) in enumerate(zip(cells, tints)):
            panel = _panel(cell, tint, scale=1)
            canvas.paste(Image.fromarray(panel), (x0, LABEL_H + r * (CANVAS + gap)))
    for r, name in enumerate(names):
        draw.text((4, LABEL_H + r * (CANVAS + gap) + CANVAS // 2 - 7), name, fill=(230, 230, 230), font=_font(13))
    path = Path(path)
    canvas.save(path)
    return path


def prediction_gif(prediction: np.ndarray, path: str | Path, fps: float = FPS) -> Path:
    """The predicted frames alone (horizon, 64, 64) as a grey looping GIF, upscaled for viewing."""
    return write_gif([_panel(f) for f in prediction], path, fps)
