"""MovingMNIST: the real-digit bank, a protocol-faithful generator, the canonical test file, a torch Dataset.

The generator follows Srivastava et al. 2015 as OpenSTL and PhyDNet implement it: 64x64 canvas, 28x28
digits, start uniform in the free range, direction uniform, constant speed in units of the free range,
bounce by clamping and flipping the velocity component, digits combined by per-pixel max. Simple shapes
(discs, rings, squares) move the same way at the same pixel speeds, each bouncing at its own edge: visitors
bring balls and squares, not only digits, so a fraction of the training sequences are shapes.
Every function that draws takes an explicit np.random.Generator, so a seed fixes a sequence bit for bit.
"""
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from .bundled import bundled
from .upload.resize import CANVAS  # the frame side, shared with the upload preprocessing

DIGIT = 28  # MNIST digit side in pixels
FREE = CANVAS - DIGIT  # the top-left corner ranges over 0..FREE pixels
SPEED = 0.1  # standard step per frame, as a fraction of the free range (3.6 px)
CANONICAL_DIGITS = 2  # digits per sequence of the standard protocol, at SPEED
SPEEDS = (0.02, 0.3)  # speeds the generator accepts, the app offers and training covers (0.7-11 px per frame)
NUM_DIGITS = (1, 3)  # digit counts likewise
CONTEXT, FUTURE = 10, 10  # the standard protocol: 10 frames in, 10 frames out
VAL_SEED, TEST_SEED = 20_150_001, 20_150_002  # fixed sets: validation on train digits, test on test digits
SHAPE_KINDS = ("disc", "ring", "square")  # what training draws
SHAPE_RADII = (4, 12)  # half-sides in px (inclusive) that training draws, brightness uniform in SHAPE_BRIGHTNESS
SHAPE_BRIGHTNESS = (0.5, 1.0)
HELD_OUT_KINDS, HELD_OUT_RADII = ("disc", "ring", "square", "frame"), (2, 3, 13, 14)  # the grid's row: never trained
DIGITS_NPZ = bundled("assets", "mnist_digits.npz")


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


def generate_sequence(rng: np.random.Generator, digits: Digits, **kwargs) -> np.ndarray:
    """One MovingMNIST sequence, float32 (num_frames, 64, 64) in [0, 1]; keyword arguments as generate_uint8."""
    return generate_uint8(rng, digits, **kwargs).astype(np.float32) / 255.0


def generate_uint8(
    rng: np.random.Generator,
    digits: Digits,
    num_frames: int = CONTEXT + FUTURE,
    num_digits: int = CANONICAL_DIGITS,
    speed: float = SPEED,
    classes: tuple[int, ...] | None = None,
) -> np.ndarray:
    """One MovingMNIST sequence as the uint8 (num_frames, 64, 64) it renders (4x smaller on its way to a device).

    `classes` picks the digit class of each moving digit (e.g. (3, 7)); by default digits are drawn at random.
    """
    if num_frames < 1 or not NUM_DIGITS[0] <= num_digits <= NUM_DIGITS[1]:
        raise ValueError(f"need num_frames >= 1 and num_digits in {NUM_DIGITS[0]}-{NUM_DIGITS[1]}, got {num_frames}, {num_digits}")
    if not SPEEDS[0] <= speed <= SPEEDS[1]:
        raise ValueError(f"speed is a fraction of the free range per frame, in [{SPEEDS[0]}, {SPEEDS[1]}]; got {speed}")
    if classes is None:
        picks = rng.integers(len(digits.images), size=num_digits)
    else:
        if len(classes) != num_digits or not all(0 <= c <= 9 for c in classes):
            raise ValueError(f"classes must name {num_digits} digit classes in 0-9, got {classes}")
        picks = [rng.choice(np.flatnonzero(digits.labels == c)) for c in classes]
    corners = [(trajectory(rng, num_frames, speed) * FREE).astype(np.int64) for _ in picks]  # (T, 2) truncated to pixels
    return render([digits.images[p] for p in picks], corners)


def render(patches: list[np.ndarray], corners: list[np.ndarray]) -> np.ndarray:
    """Paste each uint8 patch at its (T, 2) top-left (y, x) corners, combining by per-pixel max: uint8 (T, 64, 64)."""
    frames = np.zeros((len(corners[0]), CANVAS, CANVAS), dtype=np.uint8)
    for patch, path in zip(patches, corners):
        h, w = patch.shape
        for t, (y, x) in enumerate(path):
            window = frames[t, y : y + h, x : x + w]
            np.maximum(window, patch, out=window)
    return frames


def shape_patch(kind: str, radius: int, brightness: float) -> np.ndarray:
    """A uint8 (2r + 1, 2r + 1) patch: a disc, a ring or a frame 2 px thick, or a filled square, at `brightness`."""
    d = np.abs(np.arange(-radius, radius + 1))
    round_ = np.hypot(d[:, None], d[None, :])  # (2r + 1, 2r + 1) distance from the centre
    square = np.maximum(d[:, None], d[None, :])
    mask = {"disc": round_ <= radius + 0.5, "ring": (round_ <= radius + 0.5) & (round_ > radius - 1.5),
            "square": square <= radius, "frame": square > radius - 2}[kind]
    return (mask * round(brightness * 255)).astype(np.uint8)


def generate_shapes(rng: np.random.Generator, num_frames: int, count: int, speed: float = SPEED,
                    kinds: tuple[str, ...] = SHAPE_KINDS, radii: tuple[int, ...] = tuple(range(SHAPE_RADII[0], SHAPE_RADII[1] + 1))
                    ) -> np.ndarray:
    """`count` shapes bouncing at their own edges at `speed` (the digits' pixel speed: speed x 36 px a frame): uint8 (T, 64, 64)."""
    patches, corners = [], []
    for _ in range(count):
        patch = shape_patch(kinds[rng.integers(len(kinds))], int(radii[rng.integers(len(radii))]),
                            rng.uniform(*SHAPE_BRIGHTNESS))
        free = CANVAS - len(patch)  # this shape's own free range
        corners.append((trajectory(rng, num_frames, speed * FREE / free) * free).astype(np.int64))  # (T, 2) in pixels
        patches.append(patch)
    return render(patches, corners)


def generate_set(rng: np.random.Generator, digits: Digits, n: int, **kwargs) -> np.ndarray:
    """n sequences stacked, float32 (n, T, 64, 64)."""
    return np.stack([generate_sequence(rng, digits, **kwargs) for _ in range(n)])


def split_seed(split: str) -> int:
    """The seed of a split's fixed sets: validation ('train' digits) or test ('test' digits)."""
    return VAL_SEED if split == "train" else TEST_SEED


def fixed_set(split: str, n: int, **kwargs) -> np.ndarray:
    """The fixed validation ('train' digits) or test ('test' digits) set, float32 (n, T, 64, 64)."""
    return generate_set(np.random.default_rng(split_seed(split)), load_digits(split), n, **kwargs)


def load_canonical(path: str | Path) -> np.ndarray:
    """The canonical mnist_test_seq.npy, uint8 (20, N, 64, 64) time first, as a (N, 20, 64, 64) memory-mapped view."""
    arr = np.load(path, mmap_mode="r", allow_pickle=False)
    if arr.ndim != 4 or arr.dtype != np.uint8 or arr.shape[2:] != (CANVAS, CANVAS) or arr.shape[0] < CONTEXT + FUTURE:
        raise ValueError(f"{path}: expected the canonical uint8 (T, N, 64, 64) array with T >= {CONTEXT + FUTURE}, "
                         f"got {arr.dtype} {arr.shape}")
    return arr.transpose(1, 0, 2, 3)  # (T, N, H, W) -> (N, T, H, W)


def mixed_sequence(rng: np.random.Generator, digits: Digits, num_frames: int, speeds: tuple[float, float],
                   num_digits: tuple[int, int], shapes: float = 0.0) -> np.ndarray:
    """A uint8 sequence whose speed is uniform in `speeds` and digit count uniform in `num_digits` (inclusive); with
    probability `shapes` it holds that many simple shapes instead of digits."""
    is_shapes = shapes > 0 and rng.random() < shapes  # no draw at 0: digit-only streams stay as they always were
    n = int(rng.integers(num_digits[0], num_digits[1] + 1))
    speed = float(rng.uniform(*speeds)) if speeds[0] < speeds[1] else speeds[0]
    return generate_shapes(rng, num_frames, n, speed) if is_shapes else generate_uint8(rng, digits, num_frames, n, speed)


def mixed_set(split: str, n: int, num_frames: int, speeds: tuple[float, float] = SPEEDS,
              num_digits: tuple[int, int] = NUM_DIGITS) -> np.ndarray:
    """A fixed set over the whole speed and digit-count range, float32 (n, T, 64, 64); seeds as fixed_set."""
    rng, digits = np.random.default_rng(split_seed(split) + 7), load_digits(split)
    return np.stack([mixed_sequence(rng, digits, num_frames, speeds, num_digits) for _ in range(n)]) / np.float32(255)


class MovingMNIST(torch.utils.data.Dataset):
    """Sequences generated on the fly, uint8 (T, 1, 64, 64); item i is a pure function of (seed, i), so any worker
    or rank may draw it, and disjoint index ranges (per rank, per step) give streams that never repeat.

    Each sequence draws its speed and digit count uniformly from the given ranges (the canonical protocol: 0.1, 2);
    a fraction `shapes` of them hold simple shapes instead of digits.
    """

    def __init__(self, digits: Digits, seed: int, num_frames: int, speeds: tuple[float, float] = (SPEED, SPEED),
                 num_digits: tuple[int, int] = (CANONICAL_DIGITS, CANONICAL_DIGITS), shapes: float = 0.0):
        self.digits, self.seed, self.num_frames = digits, seed, num_frames
        self.speeds, self.num_digits, self.shapes = speeds, num_digits, shapes

    def __len__(self) -> int:
        return 2**62  # endless in practice: the sampler says which indices a run draws

    def __getitem__(self, i: int) -> torch.Tensor:
        rng = np.random.default_rng([self.seed, i])
        seq = mixed_sequence(rng, self.digits, self.num_frames, self.speeds, self.num_digits, self.shapes)  # (T, H, W)
        return torch.from_numpy(seq).unsqueeze(1)  # (T, 1, H, W)
