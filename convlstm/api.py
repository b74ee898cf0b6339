"""Inference: `run`, the one batched path that the API, evaluation, training validation and the benchmark share;
`prepare_clip`, the one way a clip becomes the model's context (app, CLI and API alike); and
`predict(frames, horizon)`, the Python API on a shipped (or a given) model.
"""
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from tqdm import tqdm

from .upload import clips, fix as input_fix
from .checkpoint import DEFAULT_MODEL, MODELS, load_model
from .data import CONTEXT, FUTURE
from .model import Seq2Seq
from .runtime import autocast, resolve_precision

MAX_HORIZON = 30  # frames one request may ask for: 3x past the 10 trained steps (the app's slider end too)
BATCH = 32  # sequences per forward pass in `run`


@lru_cache(maxsize=len(MODELS))
def shipped_model(name: str) -> Seq2Seq:
    """A shipped model by name (checkpoint.MODELS: "whole-range", the default, or "canonical"), loaded once per process."""
    if name not in MODELS:
        raise ValueError(f"no shipped model named {name!r}; choose one of: {', '.join(MODELS)}")
    return load_model(name)


def default_model() -> Seq2Seq:
    """The default shipped model, good across the app's whole range, loaded once per process on first use."""
    return shipped_model(DEFAULT_MODEL)


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


@dataclass(frozen=True)
class Prepared:
    """A clip as the model reads it: context, the truth after it, and what was done, for the user."""

    context: np.ndarray  # float32 (T, 64, 64): the frames the model reads
    truth: np.ndarray | None  # the frames after the context (fixed the same way); None when the clip ends there
    given: np.ndarray | None  # the context as given, when the fix changed it; else None
    fix: input_fix.Fix  # what assess() found; fix.problems is empty for a clip like Moving MNIST
    note: str  # what preprocessing, the split and the fix did, in sentences


def prepare_clip(clip: clips.Clip, horizon: int = FUTURE, context: int = CONTEXT, fix: bool = True) -> Prepared:
    """The first `context` frames of `clip` as context, what follows as truth, and the input fix (convlstm.upload.fix)
    applied to both unless `fix` is False. The app, the CLI and `predict` all prepare clips here."""
    if context < 1:
        raise ValueError(f"context must be >= 1, got {context}")
    frames = clip.frames
    seen, truth = frames[:context], (frames[context:] if len(frames) > context else None)
    n = len(seen)
    note = f"{clip.note}; context = frames 1-{n}"
    if truth is None:
        note += "; no frames after the context, so there is no ground truth to compare with."
    else:
        used = min(len(truth), horizon)
        note += f", truth = frames {n + 1}-{n + used}"
        if len(truth) > horizon:
            note += f"; frames {n + horizon + 1}-{len(frames)} lie past the horizon and are not used"
        note += "."
    if n < CONTEXT:
        note += f" (The model was trained on {CONTEXT} context frames; fewer also work.)"
    cover = clip.coverage
    check, given = input_fix.assess(seen, cover), None
    if check.problems and fix:
        given, seen = seen, check.apply(seen, cover)
        truth = None if truth is None else check.apply(truth, cover)
        note += f" Input fixed: {check.note}, so it looks like what the model knows."
    elif check.problems:
        note += f" Far from what the model knows: {' and '.join(check.problems)}; the fix was turned off."
    return Prepared(seen, truth, given, check, note)


def predict(frames: np.ndarray | clips.Clip, horizon: int = FUTURE, model: Seq2Seq | str | None = None, fix: bool = True,
            context: int | None = None) -> np.ndarray:
    """Predict the `horizon` frames after the context, from `frames` (T, H, W) or (T, H, W, C), uint8 or float in
    [0, 1], or a Clip from `convlstm.upload.clips.read_clip(path)`.

    `model`: a Seq2Seq, or a shipped model's name ("whole-range", the default, or "canonical", the speed-0.1 specialist).
    The first `context` frames are the context (all of them by default); they become 64x64 grey and get the
    input fix unless `fix` is False, exactly as in the app and the CLI (see prepare_clip).
    Returns float32 (horizon, 64, 64) in [0, 1].
    """
    if not 1 <= horizon <= MAX_HORIZON:
        raise ValueError(f"horizon must be between 1 and {MAX_HORIZON}, got {horizon}")
    clip = frames if isinstance(frames, clips.Clip) else clips.to_model_frames(frames)
    ready = prepare_clip(clip, horizon, len(clip.frames) if context is None else context, fix)
    model = shipped_model(model) if isinstance(model, str) else model or default_model()
    return run(model, ready.context[None], horizon)[0]  # (T, H, W) -> (1, T, H, W) -> (horizon, H, W)
