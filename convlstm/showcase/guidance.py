"""Input guidance: how far a clip is from what the model knows (bright shapes on black), and the fix.

The model only ever saw Moving MNIST: a black background (median pixel 0) and digits whose brightest pixels
are near 1. A clip with a bright or grey background, or faint shapes, is far outside that, and the model's
prediction is then meaningless. assess() measures the context frames; Fix.apply() maps any frames of the same
clip (context and truth alike) into the model's range: invert, lift the background to black, stretch.
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

    def apply(self, frames: np.ndarray) -> np.ndarray:
        """The frames (float in [0, 1], any shape) as the model should see them."""
        x = 1.0 - frames if self.invert else frames
        if self.background:
            x = np.abs(x - self.background) / max(self.background, 1.0 - self.background)  # shapes darker or brighter
        return np.clip(x * self.gain, 0.0, 1.0).astype(np.float32)

    @property
    def note(self) -> str:
        """The finding and the fix in one sentence for the user; empty when the clip looks like Moving MNIST."""
        if not self.problems:
            return ""
        steps = (["inverted"] if self.invert else []) + (["background lifted to black"] if self.background else [])
        steps += [f"contrast stretched x{self.gain:.1f}"] if self.gain != 1.0 else []
        return f"{' and '.join(self.problems).capitalize()}: {', '.join(steps)}"


def assess(frames: np.ndarray) -> Fix:
    """The Fix that brings grey frames (T, H, W) in [0, 1] close to bright-on-black; Fix() when none is needed."""
    x = np.asarray(frames, dtype=np.float32)
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
