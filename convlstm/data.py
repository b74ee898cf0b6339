"""MovingMNIST: the real-digit bank, a protocol-faithful generator, the canonical test file, a torch Dataset.

The generator follows Srivastava et al. 2015 as OpenSTL and PhyDNet implement it: 64x64 canvas, 28x28
digits, start uniform in the free range, direction uniform, constant speed in units of the free range,
bounce by clamping and flipping the velocity component, digits combined by per-pixel max.
Every function that draws takes an explicit np.random.Generator, so a seed fixes a sequence bit for bit.
"""
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from .frames import CANVAS  # the frame side, shared with the upload preprocessing

DIGIT = 28  # MNIST digit side in pixels
FREE = CANVAS - DIGIT  # the top-left corner ranges over 0..FREE pixels
SPEED = 0.1  # standard step per frame, as a fraction of the free range (3.6 px)
CONTEXT, FUTURE = 10, 10  # the standard protocol: 10 frames in, 10 frames out
VAL_SEED, TEST_SEED = 20_150_001, 20_150_002  # fixed sets: validation on train digits, test on test digits
DIGITS_NPZ = Path(__file__).resolve().parents[1] / "assets" / "mnist_digits.npz"


@dataclass(frozen=True)
class Digits:
    images: np.ndarray  # (N, 28, 28) uint8 MNIST digits
    labels: np.ndarray  # (N,) uint8 class of each digit


@lru_cache(maxsize=2)
def load_digits(split: str = "train") -> Digits:
    """The 'train' or 'test' split of the bundled digit bank (built by tools/build_digit_bank.py)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    with np.load(DIGITS_NPZ) as bank:
        return Digits(bank[f"{split}_images"], bank[f"{split}_labels"])


def trajectory(rng: np.random.Generator, num_frames: int, speed: float = SPEED) -> np.ndarray:
    """Positions (num_frames, 2) as (y, x) in [0, 1] of one bouncing digit; steps of `speed` per frame."""
    pos = rng.random(2)
    theta = rng.uniform(0.0, 2.0 * np.pi)
    vel = np.array([np.sin(theta), np.cos(theta)])
    out = np.empty((num_frames, 2))
    for t in range(num_frames):
        out[t] = pos
        pos = pos + speed * vel
        # bounce: clamp to the border and flip the velocity component that hit it
        hit = (pos < 0.0) | (pos > 1.0)
        pos = np.clip(pos, 0.0, 1.0)
        vel = np.where(hit, -vel, vel)
    return out


def generate_sequence(
    rng: np.random.Generator,
    digits: Digits,
    num_frames: int = CONTEXT + FUTURE,
    num_digits: int = 2,
    speed: float = SPEED,
    classes: tuple[int, ...] | None = None,
) -> np.ndarray:
    """One MovingMNIST sequence, float32 (num_frames, 64, 64) in [0, 1].

    `classes` picks the digit class of each moving digit (e.g. (3, 7)); by default digits are drawn at random.
    """
    if num_frames < 1 or num_digits < 1:
        raise ValueError(f"num_frames and num_digits must be >= 1, got {num_frames}, {num_digits}")
    if not 0.0 <= speed <= 1.0:
        raise ValueError(f"speed is a fraction of the free range per frame, in [0, 1]; got {speed}")
    if classes is None:
        picks = rng.integers(len(digits.images), size=num_digits)
    else:
        if len(classes) != num_digits or not all(0 <= c <= 9 for c in classes):
            raise ValueError(f"classes must name {num_digits} digit classes in 0-9, got {classes}")
        picks = [rng.choice(np.flatnonzero(digits.labels == c)) for c in classes]
    corners = [(trajectory(rng, num_frames, speed) * FREE).astype(np.int64) for _ in picks]  # (T, 2) truncated to pixels
    return render([digits.images[p] for p in picks], corners).astype(np.float32) / 255.0


def render(patches: list[np.ndarray], corners: list[np.ndarray]) -> np.ndarray:
    """Paste each uint8 digit at its (T, 2) top-left (y, x) corners, combining by per-pixel max: uint8 (T, 64, 64)."""
    frames = np.zeros((len(corners[0]), CANVAS, CANVAS), dtype=np.uint8)
    for patch, path in zip(patches, corners):
        for t, (y, x) in enumerate(path):
            window = frames[t, y : y + DIGIT, x : x + DIGIT]
            np.maximum(window, patch, out=window)
    return frames


def generate_set(rng: np.random.Generator, digits: Digits, n: int, **kwargs) -> np.ndarray:
    """n sequences stacked, float32 (n, T, 64, 64)."""
    return np.stack([generate_sequence(rng, digits, **kwargs) for _ in range(n)])


def fixed_set(split: str, n: int, **kwargs) -> np.ndarray:
    """The fixed validation ('train' digits) or test ('test' digits) set, float32 (n, T, 64, 64)."""
    seed = VAL_SEED if split == "train" else TEST_SEED
    return generate_set(np.random.default_rng(seed), load_digits(split), n, **kwargs)


def load_canonical(path: str | Path) -> np.ndarray:
    """The canonical mnist_test_seq.npy, uint8 (20, N, 64, 64) time first, as a (N, 20, 64, 64) memory-mapped view."""
    arr = np.load(path, mmap_mode="r", allow_pickle=False)
    if arr.ndim != 4 or arr.dtype != np.uint8 or arr.shape[2:] != (CANVAS, CANVAS):
        raise ValueError(f"{path}: expected the canonical uint8 (T, N, 64, 64) array, got {arr.dtype} {arr.shape}")
    return arr.transpose(1, 0, 2, 3)  # (T, N, H, W) -> (N, T, H, W)


class MovingMNIST(torch.utils.data.Dataset):
    """Sequences generated on the fly; item i is a pure function of (seed, i), so any worker or rank may draw it.

    Disjoint index ranges (per rank, per step) therefore give streams that never repeat.
    """

    def __init__(self, digits: Digits, seed: int, length: int = 2**62, **kwargs):
        self.digits, self.seed, self.length, self.kwargs = digits, seed, length, kwargs

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> torch.Tensor:
        rng = np.random.default_rng([self.seed, i])
        seq = generate_sequence(rng, self.digits, **self.kwargs)  # (T, H, W)
        return torch.from_numpy(seq).unsqueeze(1)  # (T, 1, H, W)
