"""The Python prediction API: convlstm.predict(frames, horizon) on the shipped (or a given) model."""
from functools import lru_cache

import numpy as np
import torch

from . import clips
from .checkpoint import load_weights
from .data import CONTEXT, FUTURE
from .model import Seq2Seq

MAX_HORIZON = 100  # far past the 10 trained steps; bounds the work one call can ask for


@lru_cache(maxsize=1)
def default_model() -> Seq2Seq:
    """The shipped weights, loaded once per process."""
    return load_weights()


def predict(frames: np.ndarray, horizon: int = FUTURE, model: Seq2Seq | None = None) -> np.ndarray:
    """Predict the `horizon` frames after `frames` (T, H, W) or (T, H, W, C), uint8 or float in [0, 1].

    All T frames are context; they go through clips.to_model_frames (64x64 grey) first.
    Returns float32 (horizon, 64, 64) in [0, 1].
    """
    if not 1 <= horizon <= MAX_HORIZON:
        raise ValueError(f"horizon must be between 1 and {MAX_HORIZON}, got {horizon}")
    clip = clips.to_model_frames(frames)
    model = model or default_model()
    x = torch.from_numpy(clip.frames)[None, :, None]  # (T, H, W) -> (1, T, 1, H, W)
    with torch.inference_mode():
        y = model(x, horizon)  # (1, horizon, 1, H, W)
    return y[0, :, 0].float().numpy()  # -> (horizon, H, W)


def split_context(frames: np.ndarray, context: int = CONTEXT) -> tuple[np.ndarray, np.ndarray | None]:
    """(context frames, ground-truth frames or None): the first `context` frames, then whatever follows."""
    if context < 1:
        raise ValueError(f"context must be >= 1, got {context}")
    return frames[:context], (frames[context:] if len(frames) > context else None)
