"""Prediction from the command line.

    python -m convlstm.predict_clip clip.gif --horizon 10 --out comparison.gif
    python -m convlstm.predict_clip clip.gif --weights canonical     # the speed-0.1 specialist

The first --context frames of INPUT are the context; frames after them, if any, are the ground truth. The clip is
prepared exactly as the app prepares it (convlstm.api.prepare_clip), input fix included unless --no-fix.
Bad input gets one line on stderr and exit code 2.
"""
import argparse
from pathlib import Path

import numpy as np

from . import media
from .upload import clips
from .api import MAX_HORIZON, prepare_clip, run
from .checkpoint import load_model
from .cli import OneLineParser
from .data import CONTEXT, FUTURE


def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(prog="python -m convlstm.predict_clip", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", type=Path, help=f"the clip: {clips.ACCEPTED}, or the canonical (20, N, 64, 64) .npy")
    parser.add_argument("--horizon", type=int, default=FUTURE, help=f"frames to predict, 1-{MAX_HORIZON} (trained on {FUTURE})")
    parser.add_argument("--context", type=int, default=CONTEXT, help="frames of INPUT used as context; the rest is ground truth")
    parser.add_argument("--index", type=int, default=0, help="which sequence of a canonical (20, N, 64, 64) file")
    parser.add_argument("--out", type=Path, default=Path("prediction.gif"), help="comparison GIF to write")
    parser.add_argument("--npy", type=Path, help="also save the prediction (horizon, 64, 64) float32 here")
    parser.add_weights()
    parser.add_argument("--no-fix", dest="fix", action="store_false",
                        help="feed the clip as it is: no inverting, lifting or stretching of a clip unlike bright-on-black")
    args = parser.parse_args(argv)
    try:
        if not args.input.is_file():
            raise clips.ClipError(f"{args.input}: no such file")
        if not 1 <= args.horizon <= MAX_HORIZON or args.context < 1:
            raise clips.ClipError(f"--horizon must be 1-{MAX_HORIZON} and --context >= 1")
        clip = clips.read_clip(args.input, args.index)
        ready = prepare_clip(clip, args.horizon, args.context, args.fix)
        model = load_model(args.weights)
        pred = run(model, ready.context[None], args.horizon)[0]  # (T, H, W) -> (1, T, H, W) -> (horizon, H, W)
        media.save_gif(media.comparison_gif_frames(ready.given if ready.given is not None else ready.context, pred,
                                                   ready.truth, seen=ready.context), args.out)
        if args.npy:
            np.save(args.npy, pred)
    except (ValueError, OSError) as e:  # ClipError is a ValueError; so is a bad weights file (checkpoint.load_model)
        parser.exit(2, f"{parser.prog}: error: {e}\n")
    hint = " (--no-fix feeds the clip as it is)" if ready.given is not None else ""
    print(f"{ready.note} Predicted {args.horizon} frames -> {args.out}{hint}")


if __name__ == "__main__":
    main()
