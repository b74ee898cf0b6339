"""Make README's pictures from the shipped weights: docs/prediction.gif (a real test prediction) and,
with --run, docs/curves.png copied from a training run.

    python -m tools.make_readme_media --run runs/main
    python -m convlstm.evaluate --out docs/eval          # docs/eval/horizon.png, the per-horizon plot
"""
import argparse
import shutil
from pathlib import Path

import numpy as np

from convlstm import load_model, media, predict
from convlstm.data import CONTEXT, FUTURE, TEST_SEED, generate_sequence, load_digits

DOCS = Path(__file__).resolve().parents[1] / "docs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, help="training run directory whose curves.png to publish")
    parser.add_argument("--seed", type=int, default=TEST_SEED + 7, help="which test sequence to show")
    args = parser.parse_args()
    DOCS.mkdir(exist_ok=True)
    seq = generate_sequence(np.random.default_rng(args.seed), load_digits("test"))  # (20, 64, 64)
    pred = predict(seq[:CONTEXT], FUTURE, load_model())
    media.write_gif(media.comparison_frames(seq[:CONTEXT], pred, seq[CONTEXT:]), DOCS / "prediction.gif")
    print(f"wrote {DOCS / 'prediction.gif'}")
    if args.run:
        shutil.copy(args.run / "curves.png", DOCS / "curves.png")
        print(f"wrote {DOCS / 'curves.png'}")


if __name__ == "__main__":
    main()
