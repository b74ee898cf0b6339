"""Inference: `run`, the one batched path that the API, evaluation, training validation and the benchmark share,
and `predict(frames, horizon)`, the Python API on the shipped (or a given) model.
"""
from functools import lru_cache

import numpy as np
import torch
from tqdm import tqdm

from .upload import clips
from .checkpoint import load_model
from .data import CONTEXT, FUTURE
from .model import Seq2Seq
from .runtime import autocast, resolve_precision

MAX_HORIZON = 30  # frames one request may ask for: 3x past the 10 trained steps (the app's slider end too)
BATCH = 32  # sequences per forward pass in `run`


@lru_cache(maxsize=1)
def default_model() -> Seq2Seq:
    """The shipped weights, loaded once per process on first use."""
    return load_model()


@torch.inference_mode()
def run(model: Seq2Seq, context: np.ndarray, horizon: int, precision: str = "auto", batch_size: int = BATCH,
        progress: bool = False) -> np.ndarray:
    """Predictions float32 (N, horizon, H, W) for context frames (N, T, H, W), uint8 or float in [0, 1].

    Runs on the model's device (inputs are moved there) under autocast `precision` ('auto': bf16 only where the
    hardware does it natively, else fp32); batches of `batch_size`, with a progress bar if asked.
    """
    device = next(model.parameters()).device
    precision = resolve_precision(precision, device)
    scale = 255.0 if context.dtype == np.uint8 else 1.0
    out = []
    for i in tqdm(range(0, len(context), batch_size), desc="predict", unit="batch", disable=not progress):
        x = torch.from_numpy(np.ascontiguousarray(context[i : i + batch_size]))
        x = x.to(device, non_blocking=True).float().div_(scale).unsqueeze(2)  # (B, T, H, W) -> (B, T, 1, H, W)
        with autocast(device, precision):
            y = model(x, horizon)  # (B, horizon, 1, H, W)
        out.append(y.float().squeeze(2).cpu().numpy())  # -> (B, horizon, H, W)
    return np.concatenate(out)


def predict(frames: np.ndarray, horizon: int = FUTURE, model: Seq2Seq | None = None) -> np.ndarray:
    """Predict the `horizon` frames after `frames` (T, H, W) or (T, H, W, C), uint8 or float in [0, 1].

    All T frames are context; they go through clips.to_model_frames (64x64 grey) first.
    Returns float32 (horizon, 64, 64) in [0, 1].
    """
    if not 1 <= horizon <= MAX_HORIZON:
        raise ValueError(f"horizon must be between 1 and {MAX_HORIZON}, got {horizon}")
    clip = clips.to_model_frames(frames)
    return run(model or default_model(), clip.frames[None], horizon)[0]  # (T, H, W) -> (1, T, H, W) -> (horizon, H, W)


def split_context(frames: np.ndarray, context: int = CONTEXT) -> tuple[np.ndarray, np.ndarray | None]:
    """(context frames, ground-truth frames or None): the first `context` frames, then whatever follows."""
    if context < 1:
        raise ValueError(f"context must be >= 1, got {context}")
    return frames[:context], (frames[context:] if len(frames) > context else None)
