"""Frames in and out: reading clips (GIF, MP4/WebM, .npy, image files), the one preprocessing step to the
model's 64x64 grey input, and the labelled side-by-side comparison GIF and filmstrip PNG.

Clips are float32 (T, H, W) in [0, 1] once preprocessed.
"""
from dataclasses import dataclass
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

from .data import CANVAS, FUTURE

VIDEO_SUFFIXES = (".gif", ".mp4", ".webm", ".mov", ".avi", ".mkv")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
NPY_SUFFIXES = (".npy",)
ACCEPTED = "an animated GIF, an MP4/WebM clip, a .npy array (T, H, W) or (T, H, W, C), or PNG/JPG frames"
FPS = 4  # playback rate of the comparison GIFs: slow enough to follow each digit
SCALE = 3  # comparison GIFs upscale each 64x64 frame to 192x192 for viewing
LABEL_H = 22  # pixels of caption above the panels


class ClipError(ValueError):
    """A clip the package cannot use; the message says what was wrong and what is accepted."""


@dataclass(frozen=True)
class Clip:
    frames: np.ndarray  # float32 (T, 64, 64) in [0, 1], ready for the model
    note: str  # what preprocessing did, for the user, e.g. "48 frames 240x320 RGB -> 64x64 grey"


def to_model_frames(array: np.ndarray) -> Clip:
    """The one preprocessing step: (T, H, W) or (T, H, W, C), uint8 or float in [0, 1] -> 64x64 grey Clip.

    Colour becomes luma (ITU-R BT.601), alpha is dropped, non-square frames are padded with black to a
    square (nothing is cropped), and the square is area-averaged down (or bilinearly up) to 64x64.
    """
    a = np.asarray(array)
    if a.ndim == 3:
        a = a[..., None]  # (T, H, W) -> (T, H, W, 1)
    if a.ndim != 4 or a.shape[-1] not in (1, 2, 3, 4) or min(a.shape) < 1:
        raise ClipError(f"expected frames shaped (T, H, W) or (T, H, W, C) with C in 1-4, got {a.shape}")
    t, h, w, c = a.shape
    if a.dtype == np.uint8:
        a = a.astype(np.float32) / 255.0
    elif np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float32)
        if not np.isfinite(a).all() or a.min() < 0.0 or a.max() > 1.0:
            raise ClipError("float frames must be finite and in [0, 1]; scale them or pass uint8 0-255")
    else:
        raise ClipError(f"frames must be uint8 (0-255) or float in [0, 1], got {a.dtype}")
    colour = {1: "grey", 2: "grey+alpha", 3: "RGB", 4: "RGBA"}[c]
    if c >= 3:
        a = a[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)  # (T, H, W, 3) -> (T, H, W)
    else:
        a = a[..., 0]  # (T, H, W, 1|2) -> (T, H, W): grey, alpha dropped
    side = max(h, w)
    note = f"{t} frame{'s' * (t != 1)} {w}x{h} {colour}"
    if h != w:
        top, left = (side - h) // 2, (side - w) // 2
        a = np.pad(a, ((0, 0), (top, side - h - top), (left, side - w - left)))
        note += f", padded to {side}x{side}"
    if side != CANVAS:
        x = torch.from_numpy(np.ascontiguousarray(a)).unsqueeze(1)  # (T, H, W) -> (T, 1, H, W)
        mode = "area" if side > CANVAS else "bilinear"
        x = F.interpolate(x, size=(CANVAS, CANVAS), mode=mode, **({"align_corners": False} if mode == "bilinear" else {}))
        a = x.squeeze(1).clamp(0, 1).numpy()  # (T, 1, 64, 64) -> (T, 64, 64)
    if side != CANVAS or c != 1:
        note += f" -> {CANVAS}x{CANVAS} grey"
    return Clip(np.ascontiguousarray(a, dtype=np.float32), note)


def read_array(path: str | Path) -> np.ndarray:
    """Raw frames of one file (T, H, W[, C]) as stored: a video/GIF, a single image, or a .npy array."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in NPY_SUFFIXES:
        return np.load(path, allow_pickle=False)
    if suffix in VIDEO_SUFFIXES or suffix in IMAGE_SUFFIXES:
        # name the decoder: Pillow for images and GIFs, PyAV (FFmpeg) for video; imageio never guesses among plugins
        if suffix in IMAGE_SUFFIXES:
            frames = iio.imread(path, plugin="pillow")
        elif suffix == ".gif":
            frames = iio.imread(path, plugin="pillow", index=None)
        else:
            frames = iio.imread(path, plugin="pyav")
        if suffix in IMAGE_SUFFIXES:
            frames = frames[None]  # one image is a one-frame clip: (H, W[, C]) -> (1, H, W[, C])
        return frames
    raise ClipError(f"{path.name}: unsupported file type {suffix or '(none)'}; accepted: {ACCEPTED}")


def read_clip(source: str | Path | list, index: int = 0) -> Clip:
    """A file, or a list of image files taken in name order, as a model-ready Clip.

    A 4-D array whose last axis is not a colour axis is read as the canonical (T, N, H, W) layout, and
    sequence `index` of it is used. Any failure becomes a ClipError saying what is accepted.
    """
    paths = sorted(map(Path, source), key=lambda p: p.name) if isinstance(source, (list, tuple)) else [Path(source)]
    try:
        if not paths:
            raise ClipError(f"no file given; accepted: {ACCEPTED}")
        arrays = [read_array(p) for p in paths]
        if len(arrays) > 1:
            if any(p.suffix.lower() not in IMAGE_SUFFIXES for p in paths):
                raise ClipError(f"several files must all be images (PNG/JPG), one per frame; accepted: {ACCEPTED}")
            if len({a.shape for a in arrays}) > 1:
                raise ClipError("the image frames differ in size or colour; give frames of one size")
        a = np.concatenate(arrays)
        note = f"{len(paths)} image files in name order: " if len(paths) > 1 else ""
        if a.ndim == 4 and a.shape[-1] not in (1, 2, 3, 4):  # canonical MovingMNIST layout, time first
            if not 0 <= index < a.shape[1]:
                raise ClipError(f"this file holds {a.shape[1]} sequences (T, N, H, W); choose an index 0-{a.shape[1] - 1}")
            note += f"sequence {index} of {a.shape[1]}: "
            a = a[:, index]  # (T, N, H, W) -> (T, H, W)
        clip = to_model_frames(a)
        return Clip(clip.frames, note + clip.note)
    except ClipError:
        raise
    except Exception as e:  # decoders raise many types; the user needs one clear message
        raise ClipError(f"{paths[0].name}: could not read it as a clip ({type(e).__name__}); accepted: {ACCEPTED}") from e


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
