"""The one preprocessing step: any frame to the model's 64x64 grey, one frame at a time.

Colour becomes luma (ITU-R BT.601), alpha is dropped, a non-square frame is centred on a black square
(nothing is cropped), and the square is area-averaged down (or bilinearly up, half-pixel centres) to
64x64. Both resamplings are separable, so the square is never built: the black border contributes nothing,
and only the frame's own rows and columns of the resampling matrices are applied ("shrink before pad").
Torch-free on purpose: the sandboxed decoding worker loads this module.
"""
from functools import lru_cache

import numpy as np

from .limits import ClipError

CANVAS = 64  # the model's frame side (MovingMNIST's canvas): every upload becomes CANVAS x CANVAS grey
STRIP = 256  # rows converted to float at a time, so a 4096x4096 RGBA frame costs 16 MB of floats, not 256
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
COLOURS = {1: "grey", 2: "grey+alpha", 3: "RGB", 4: "RGBA"}  # channels -> name, for notes


@lru_cache(maxsize=8)
def _resampling(side: int) -> np.ndarray:
    """(CANVAS, side) float32 weights taking `side` samples to CANVAS."""
    if side >= CANVAS:  # area average: output i covers input [i * s, (i + 1) * s), s = side / CANVAS
        scale = side / CANVAS
        lo, hi = np.arange(CANVAS)[:, None] * scale, np.arange(1, CANVAS + 1)[:, None] * scale
        j = np.arange(side)[None, :]
        return (np.clip(np.minimum(hi, j + 1) - np.maximum(lo, j), 0, None) / scale).astype(np.float32)
    x = np.clip((np.arange(CANVAS) + 0.5) * (side / CANVAS) - 0.5, 0, side - 1)  # as torch, align_corners=False
    left = np.floor(x).astype(int)
    weights = np.zeros((CANVAS, side), np.float32)
    np.add.at(weights, (np.arange(CANVAS), left), 1 - (x - left))
    np.add.at(weights, (np.arange(CANVAS), np.minimum(left + 1, side - 1)), x - left)
    return weights


def _unit_grey(rows: np.ndarray) -> np.ndarray:
    """(h, W, C) numbers -> float32 (h, W) grey in [0, 1]; ClipError for values outside 0-255 or [0, 1]."""
    if rows.dtype == np.bool_:
        a = rows.astype(np.float32)  # True is white, not 1/255
    elif np.issubdtype(rows.dtype, np.integer):
        lo, hi = rows.min(), rows.max()
        if lo < 0 or hi > 255:
            raise ClipError(f"integer frames must hold values 0-255, got {lo} to {hi}; scale them to 0-255")
        a = rows.astype(np.float32) / 255.0
    elif np.issubdtype(rows.dtype, np.floating):
        a = rows.astype(np.float32)
        if not np.isfinite(a).all() or a.min() < 0.0 or a.max() > 1.0:
            raise ClipError("float frames must be finite and in [0, 1]; scale them, or pass uint8 0-255")
    else:
        raise ClipError(f"frames must be numbers (uint8 0-255 or float in [0, 1]), got dtype {rows.dtype}")
    return a[..., :3] @ LUMA if a.shape[-1] >= 3 else a[..., 0]


def shrink(frame: np.ndarray) -> np.ndarray:
    """One frame (H, W, C) of uint8/int/bool/float -> float32 (64, 64) grey in [0, 1], in memory of one frame."""
    h, w, _ = frame.shape
    rows_w, cols_w = _frame_weights(h, w)  # (64, h), (64, w)
    out = np.zeros((CANVAS, w), np.float32)
    for r in range(0, h, STRIP):
        out += rows_w[:, r:r + STRIP] @ _unit_grey(frame[r:r + STRIP])
    return np.clip(out @ cols_w.T, 0.0, 1.0)


def _frame_weights(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """(64, h) and (64, w): the frame's own rows and columns of the resampling of its padded square."""
    side = max(h, w)
    weights = _resampling(side)
    return weights[:, (side - h) // 2:(side - h) // 2 + h], weights[:, (side - w) // 2:(side - w) // 2 + w]


def coverage(width: int, height: int) -> np.ndarray:
    """float32 (64, 64): how much of each output pixel a width x height frame covers (1 inside, 0 in the padding)."""
    rows_w, cols_w = _frame_weights(height, width)
    return np.clip(np.outer(rows_w.sum(1), cols_w.sum(1)), 0.0, 1.0).astype(np.float32)


def describe(t: int, h: int, w: int, colour: str) -> str:
    """What preprocessing did, for the user, e.g. "48 frames 320x240 RGB, padded to 320x320 -> 64x64 grey"."""
    note = f"{t} frame{'s' * (t != 1)} {w}x{h} {colour}"
    side = max(h, w)
    if h != w:
        note += f", padded to {side}x{side}"
    if side != CANVAS or colour != "grey":
        note += f" -> {CANVAS}x{CANVAS} grey"
    return note
