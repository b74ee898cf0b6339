"""Write the app's ready example clips to assets/examples/ (20-frame GIFs from the generator, test digits only).

    python -m tools.make_examples      # from the repository root
"""
from pathlib import Path

import imageio.v3 as iio
import numpy as np

from convlstm.data import generate_sequence, load_digits
from convlstm.media import FPS

OUT = Path(__file__).resolve().parents[1] / "assets" / "examples"
# (file name, seed, generator settings): the standard case, one digit, three digits, a faster pair
EXAMPLES = [
    ("two_digits", 1, {}),
    ("one_digit", 2, {"num_digits": 1}),
    ("three_digits", 3, {"num_digits": 3}),
    ("fast_pair", 4, {"speed": 0.15}),
]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    digits = load_digits("test")
    for name, seed, kwargs in EXAMPLES:
        seq = generate_sequence(np.random.default_rng(seed), digits, **kwargs)  # (20, 64, 64) in [0, 1]
        path = OUT / f"{name}.gif"
        iio.imwrite(path, np.rint(seq * 255).astype(np.uint8), extension=".gif", duration=1000 / FPS, loop=0)  # the app's playback rate
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
