"""Benchmark the paths users run: the article's full-resolution layout beside the shipped weights, in one process.

    python -m convlstm.bench                   # prints a markdown table; --json FILE also saves it
    python -m convlstm.bench --device cuda     # on a GPU (timings synchronize)

Per layout: `convlstm.predict` on one uint8 clip (the app's and the API's path, clip conversion included), the
raw model forward on one sequence, batched inference through `convlstm.api.run`, training sequences/s (train.py's own
step: fwd + bwd + clipping + AdamW), parameters, multiply-accumulates and reach as the model measures them (`Seq2Seq.reach`: the pixels per
step information can move, so the fastest motion the wiring can follow), and the achieved fraction of this
machine's measured peak. Both run at the precision the API and train.py pick by default (bf16 only where native).
Timings are medians; run it on an otherwise idle machine.
"""
import argparse
import datetime
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .api import predict, run
from .checkpoint import load_model
from .cli import OneLineParser
from .data import CONTEXT, FUTURE, fixed_set
from .model import ModelConfig, Seq2Seq
from .runtime import DEVICES, DTYPES, autocast, describe_device, pick_device, resolve_precision, synchronize
from .step import train_step


def median_time(fn, repeats: int, device: torch.device) -> float:
    """Median wall seconds of fn() over `repeats` calls after one warm-up, waiting for the GPU each time."""
    fn()  # warm-up: one-off allocations and kernel selection
    synchronize(device)
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - tic)
    return sorted(times)[len(times) // 2]


def machine_peak(device: torch.device, precision: str) -> float:
    """Practical FLOP/s: the best of a large matmul and a large 3x3 convolution (BLAS and oneDNN/cuDNN differ)."""
    dtype = DTYPES[precision]
    a = torch.randn(2048, 2048, device=device, dtype=dtype)
    matmul = 2 * 2048 ** 3 / median_time(lambda: a @ a, 5, device)
    x, w = torch.randn(16, 128, 64, 64, device=device, dtype=dtype), torch.randn(256, 128, 3, 3, device=device, dtype=dtype)
    conv = 2 * 16 * 64 * 64 * 128 * 256 * 9 / median_time(lambda: F.conv2d(x, w, padding=1), 3, device)
    return max(matmul, conv)


def measure(model: Seq2Seq, device: torch.device, train_batch: int, train_steps: int, repeats: int) -> dict:
    """Speeds of one model: the product path, the raw forward, batched inference and training."""
    precision = resolve_precision("auto", device)  # what the API and train.py both pick here
    seqs = fixed_set("test", 32)  # (32, 20, 64, 64) real sequences
    clip = np.rint(seqs[0, :CONTEXT] * 255).astype(np.uint8)  # what an upload becomes: uint8 (10, 64, 64)
    product = median_time(lambda: predict(clip, FUTURE, model), repeats, device)
    one = torch.from_numpy(seqs[:1, :CONTEXT]).unsqueeze(2).to(device)  # (1, 10, 64, 64) -> (1, 10, 1, 64, 64)

    def raw():
        with torch.inference_mode(), autocast(device, precision):
            model(one, FUTURE)

    raw_s = median_time(raw, repeats, device)
    batched = median_time(lambda: run(model, seqs[:, :CONTEXT], FUTURE), max(1, repeats // 4), device)

    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    batch = torch.from_numpy(np.resize(seqs, (train_batch, *seqs.shape[1:]))).unsqueeze(2).to(device)  # (B, 20, 1, 64, 64)

    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    step_s = median_time(lambda: train_step(model, batch, opt, scaler, device, precision), train_steps, device)  # train.py's step
    model.eval()
    macs = model.macs_per_sequence(CONTEXT, FUTURE)
    reach = model.reach()
    train_rate = train_batch / step_s
    return {
        "config": model.config.to_dict(), "precision": precision,
        "params": model.num_parameters(), "gmacs_per_seq": macs / 1e9,
        "reach_px_per_step": {"decoder": reach["decoder_px_per_step"], "encoder": reach["encoder_px_per_step"]},
        "predict_ms": product * 1e3, "raw_forward_ms": raw_s * 1e3, "batched_seq_s": len(seqs) / batched,
        "train_seq_s": train_rate,
        "train_tflops": 3 * 2 * macs * train_rate / 1e12,  # backward costs about twice the forward
    }


def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(prog="python -m convlstm.bench", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_weights()
    parser.add_argument("--device", default="auto", choices=DEVICES, help="auto: CUDA if present")
    parser.add_argument("--repeats", type=int, default=21, help="timed calls per inference figure (median)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    try:
        device = pick_device(args.device)
        shipped_model = load_model(args.weights, device)
    except (ValueError, OSError) as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n")
    torch.manual_seed(0)
    article_model = Seq2Seq(ModelConfig.article()).eval().to(device)  # untrained: speed does not depend on weights
    cuda = device.type == "cuda"
    article = measure(article_model, device, train_batch=16 if cuda else 2, train_steps=5 if cuda else 2, repeats=max(3, args.repeats // 4))
    shipped = measure(shipped_model, device, train_batch=16, train_steps=5, repeats=args.repeats)
    prec = shipped["precision"]
    peak = machine_peak(device, prec)
    for r in (article, shipped):
        r["fraction_of_peak"] = r["train_tflops"] * 1e12 / peak
    ratio = lambda k, inv=False: (article[k] / shipped[k]) if inv else (shipped[k] / article[k])  # noqa: E731
    machine = f"{describe_device(device)}, torch {torch.__version__}"
    sc = shipped_model.config
    rows = [
        ("layout", f"article (patch 1, {article['precision']})", f"`{args.weights}` (patch {sc.patch_size}, {shipped['precision']})", "ratio"),
        ("hidden / kernel / layers", "64 / 3 / 2 + 2", f"{sc.hidden} / {sc.kernel_size} / {sc.layers} + {sc.layers}", ""),
        ("parameters", f"{article['params']:,}", f"{shipped['params']:,}", ""),
        ("reach, px per step: decoder / encoder", *(f"{m['reach_px_per_step']['decoder']:g} / {m['reach_px_per_step']['encoder']:g}"
                                                   for m in (article, shipped)), ""),
        ("GMACs per 10->10 sequence", f"{article['gmacs_per_seq']:.1f}", f"{shipped['gmacs_per_seq']:.2f}", f"{ratio('gmacs_per_seq', True):.1f}x fewer"),
        ("`convlstm.predict`, one uint8 clip (ms)", f"{article['predict_ms']:.0f}", f"{shipped['predict_ms']:.1f}", f"{ratio('predict_ms', True):.1f}x lower"),
        ("raw forward, one sequence (ms)", f"{article['raw_forward_ms']:.0f}", f"{shipped['raw_forward_ms']:.1f}", f"{ratio('raw_forward_ms', True):.1f}x lower"),
        ("batched inference (`api.run`), sequences/s", f"{article['batched_seq_s']:.2f}", f"{shipped['batched_seq_s']:.1f}", f"{ratio('batched_seq_s'):.1f}x"),
        (f"training sequences/s ({prec})", f"{article['train_seq_s']:.2f}", f"{shipped['train_seq_s']:.1f}", f"{ratio('train_seq_s'):.1f}x"),
        ("training TFLOP/s achieved", f"{article['train_tflops']:.3f}", f"{shipped['train_tflops']:.3f}", ""),
        ("fraction of measured peak", f"{article['fraction_of_peak']:.0%}", f"{shipped['fraction_of_peak']:.0%}", ""),
    ]
    print(f"{datetime.date.today()}, {machine}; measured {prec} peak {peak / 1e12:.2f} TFLOP/s\n")
    print("| " + " | ".join(rows[0]) + " |\n|---|---|---|---|")
    for r in rows[1:]:
        print("| " + " | ".join(r) + " |")
    if args.json:
        args.json.write_text(json.dumps({"date": str(datetime.date.today()), "machine": machine, "peak_flops": peak,
                                         "article": article, "shipped": shipped}, indent=1))


if __name__ == "__main__":
    main()
