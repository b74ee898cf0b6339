"""Evaluate weights the way the literature does, beside the zeros and copy-last-frame baselines.

    python -m convlstm.evaluate                          # shipped weights, 2,000 fixed test sequences
    python -m convlstm.evaluate --data mnist_test_seq.npy  # the canonical file, if you have it
    python -m convlstm.evaluate --write-metadata         # store the headline numbers in the weights file

Headline numbers cover the standard 10 -> 10 protocol; per-step numbers run on to --horizon (error growth).
"""
import argparse
import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from . import metrics, plots
from .checkpoint import DEFAULT_WEIGHTS, load_weights, save_weights
from .data import CONTEXT, FUTURE, fixed_set, load_canonical
from .cli import OneLineParser

TEST_N = 2000  # fixed test sequences by default (test-split digits, TEST_SEED)


@torch.inference_mode()
def predict_all(model, frames: np.ndarray, horizon: int, device: torch.device = torch.device("cpu"),
                amp: dict | None = None, batch_size: int = 32, progress: bool = True) -> np.ndarray:
    """Model predictions (N, horizon, 64, 64) for the first CONTEXT frames of each of (N, T, 64, 64).

    `amp` holds torch.autocast arguments (training evaluates in its own precision); None runs in fp32.
    """
    amp = amp or {"device_type": device.type, "enabled": False}
    out = []
    for i in tqdm(range(0, len(frames), batch_size), desc="predict", unit="batch", disable=not progress):
        x = torch.from_numpy(np.ascontiguousarray(frames[i : i + batch_size, :CONTEXT], dtype=np.float32))
        with torch.autocast(**amp):
            y = model(x.unsqueeze(2).to(device), horizon)  # (B, T, H, W) -> (B, T, 1, H, W)
        out.append(y.float().squeeze(2).cpu().numpy())  # (B, horizon, 1, H, W) -> (B, horizon, H, W)
    return np.concatenate(out)


def evaluate(model, frames: np.ndarray, horizon: int) -> dict[str, dict[str, np.ndarray]]:
    """Per-step metrics of the model, zeros and copy-last-frame on (N, CONTEXT + horizon, 64, 64) sequences."""
    truth = frames[:, CONTEXT : CONTEXT + horizon].astype(np.float32)
    pred = predict_all(model, frames, horizon)
    last = np.repeat(frames[:, CONTEXT - 1 : CONTEXT].astype(np.float32), horizon, axis=1)  # (N, 1, H, W) -> (N, horizon, H, W)
    results = {}
    for name, p, openstl in [("model", pred, True), ("zeros", np.zeros_like(truth), False), ("copy_last", last, False)]:
        results[name] = metrics.all_per_step(p, truth, openstl)
        tqdm.write(f"scored {name}")
    return results


def headline(results: dict, steps: int = FUTURE) -> dict[str, float]:
    """Means over the first `steps` horizon steps: the standard 10 -> 10 numbers."""
    return {f"{name}_{k}": float(v[:steps].mean()) for name, r in results.items() for k, v in r.items()}


def table(results: dict) -> str:
    """A markdown table of the 10 -> 10 means, one row per predictor."""
    keys = ["mse", "mae", "ssim", "ssim_openstl", "psnr"]
    lines = ["| predictor | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name, r in results.items():
        cells = [f"{r[k][:FUTURE].mean():.4g}" if k in r else "-" for k in keys]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(prog="python -m convlstm.evaluate", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, help="safetensors weights (default: shipped)")
    parser.add_argument("--data", type=Path, help="canonical mnist_test_seq.npy (uint8 (20, N, 64, 64)); default: generated")
    parser.add_argument("--n", type=int, default=TEST_N, help="number of test sequences")
    parser.add_argument("--horizon", type=int, default=30, help="per-step metrics up to here (>= 10; generated data only past 10)")
    parser.add_argument("--out", type=Path, default=Path("eval"), help="folder for metrics.json and horizon.png")
    parser.add_argument("--write-metadata", action="store_true", help="store the 10 -> 10 test numbers in the weights file")
    args = parser.parse_args(argv)
    if args.n < 1 or args.horizon < FUTURE:
        parser.error(f"--n must be >= 1 and --horizon >= {FUTURE}")
    try:
        model = load_weights(args.weights)
        if args.data:
            seqs = load_canonical(args.data)[: args.n]  # (N, 20, 64, 64) uint8
            frames, horizon, source = seqs.astype(np.float32) / 255.0, FUTURE, f"canonical file {args.data.name}"
        else:
            frames = fixed_set("test", args.n, num_frames=CONTEXT + args.horizon)
            horizon, source = args.horizon, "generated test set (test-split digits, fixed seed)"
    except (ValueError, OSError) as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n")

    results = evaluate(model, frames, horizon)
    summary = headline(results)
    print(f"\n{len(frames)} sequences, {source}; means over the {FUTURE} standard future frames:\n")
    print(table(results))
    print("\nmodel MSE per step: " + " ".join(f"{v:.1f}" for v in results["model"]["mse"]))

    args.out.mkdir(parents=True, exist_ok=True)
    record = {"weights": str(args.weights), "n": len(frames), "source": source, "summary": summary,
              "per_step": {name: {k: v.tolist() for k, v in r.items()} for name, r in results.items()}}
    (args.out / "metrics.json").write_text(json.dumps(record, indent=1))
    plots.horizon_curves({"ConvLSTM": results["model"], "zeros": results["zeros"], "copy last frame": results["copy_last"]},
                         args.out / "horizon.png", title=f"{len(frames)} sequences, {source}")
    print(f"wrote {args.out / 'metrics.json'} and {args.out / 'horizon.png'}")
    if args.write_metadata:
        test = {"n": len(frames), "source": source, "horizon": FUTURE, "zeros_mse": summary["zeros_mse"],
                "copy_last_mse": summary["copy_last_mse"],
                **{k: summary[f"model_{k}"] for k in ("mse", "mae", "ssim", "ssim_openstl", "psnr")}}
        save_weights(model, args.weights, {**model.provenance, "test": test})
        print(f"stored the test numbers in {args.weights}")


if __name__ == "__main__":
    main()
