"""The input fix: how far a clip is from what the model knows (bright shapes on black), and the remedy.

The model only ever saw Moving MNIST: a black background (median pixel 0) and digits whose brightest pixels
are near 1. A clip with a bright or grey background, or faint shapes, is far outside that, and the model's
prediction is then meaningless. assess() measures the context frames; Fix.apply() maps any frames of the same
clip (context and truth alike) into the model's range: invert, lift the background to black, stretch.

Both read only the clip's own pixels: a non-square clip arrives centred on a black square (resize.py), and
`coverage` says how much of each 64x64 pixel is the clip's own. The fix is applied to the clip's own part of
each pixel, and the padding stays black: a white clip inverted does not turn its black bars white.
Torch-free, as the rest of the upload door.
"""
from dataclasses import dataclass

import numpy as np

BRIGHT_BACKGROUND = 0.5  # background (the median pixel) above this: dark shapes on a bright ground, so invert
GREY_BACKGROUND = 0.08  # background above this once inverted: subtract it so the ground becomes black
LOW_CONTRAST = 0.6  # brightest shapes (99.9th percentile) below this once the ground is black: stretch to 1
PEAK_PERCENTILE = 99.9  # the "brightest shapes" level; ignores a few hot pixels


@dataclass(frozen=True)
class Fix:
    """What to do to a clip's frames: invert, subtract `background`, multiply by `gain`; `problems` says why."""

    invert: bool = False
    background: float = 0.0
    gain: float = 1.0
    problems: tuple[str, ...] = ()

    def _map(self, x: np.ndarray) -> np.ndarray:
        x = 1.0 - x if self.invert else x
        if self.background:
            x = np.abs(x - self.background) / max(self.background, 1.0 - self.background)  # shapes darker or brighter
        return np.clip(x * self.gain, 0.0, 1.0)

    def apply(self, frames: np.ndarray, coverage: np.ndarray | None = None) -> np.ndarray:
        """The frames (float in [0, 1], (..., 64, 64)) as the model should see them; the padding stays black."""
        frames = np.asarray(frames, np.float32)
        if coverage is None or (coverage == 1).all():
            return self._map(frames).astype(np.float32)
        # a pixel's value is coverage x the mean of the clip's own pixels in it (the padding adds black): fix that mean
        own = np.divide(frames, coverage, out=np.zeros_like(frames), where=coverage > 0)
        return (self._map(np.clip(own, 0.0, 1.0)) * coverage).astype(np.float32)

    @property
    def note(self) -> str:
        """The finding and the fix in one sentence for the user; empty when the clip looks like Moving MNIST."""
        if not self.problems:
            return ""
        steps = (["inverted"] if self.invert else []) + (["background lifted to black"] if self.background else [])
        steps += [f"contrast stretched x{self.gain:.1f}"] if self.gain != 1.0 else []
        return f"{' and '.join(self.problems).capitalize()}: {', '.join(steps)}"


def assess(frames: np.ndarray, coverage: np.ndarray | None = None) -> Fix:
    """The Fix that brings grey frames (T, 64, 64) in [0, 1] close to bright-on-black; Fix() when none is needed.

    coverage: (64, 64) share of each pixel that is the clip's own (resize.coverage); only whole pixels are read."""
    x = np.asarray(frames, dtype=np.float32)
    if coverage is not None and (coverage == 1).any():
        x = x[..., coverage == 1]  # (T, 64, 64) -> (T, pixels of the clip's own)
    problems, invert, background, gain = [], False, 0.0, 1.0
    ground = float(np.median(x))
    if ground > BRIGHT_BACKGROUND:
        problems.append("bright background")
        invert, ground = True, 1.0 - ground
        x = 1.0 - x
    if ground > GREY_BACKGROUND:
        problems.append("grey background")
        background = ground
        x = np.abs(x - ground) / max(ground, 1.0 - ground)
    peak = float(np.percentile(x, PEAK_PERCENTILE))
    if 1e-3 < peak < LOW_CONTRAST:
        problems.append("low contrast")
        gain = 1.0 / peak
    return Fix(invert, background, gain, tuple(problems))
