"""Benchmark: the article's full-resolution layout beside the shipped configuration, in one process.

    python -m convlstm.bench            # prints a markdown table; --json FILE also saves it

Training sequences/s (fwd + bwd + Adam, at each layout's precision), latency of one 10 -> 10 prediction,
batched inference sequences/s, parameters, multiply-accumulates per sequence and the achieved fraction of
this machine's measured peak (best of a large matmul and a large convolution). Timings are medians; run it on an otherwise idle machine.
"""
import argparse
import datetime
import json
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from .checkpoint import DEFAULT_WEIGHTS, read_metadata
from .data import CANVAS, CONTEXT, FUTURE
from .model import ModelConfig, Seq2Seq

ARTICLE = ModelConfig(hidden=64, kernel_size=3, patch_size=1)  # the seed article: nf 64, 3x3, full 64x64


def macs_per_sequence(cfg: ModelConfig, context: int = CONTEXT, horizon: int = FUTURE) -> int:
    """Multiply-accumulates of one context -> horizon prediction (the convolutions; gates are negligible)."""
    side = CANVAS // cfg.patch_size
    pixels, nf, k2, cin = side * side, cfg.hidden, cfg.kernel_size ** 2, cfg.channels * cfg.patch_size ** 2

    def cell(inp):
        return pixels * (inp + nf) * 4 * nf * k2

    head = pixels * nf * cin * 9  # Conv3d (1, 3, 3)
    return context * (cell(cin) + cell(nf)) + horizon * (2 * cell(nf) + head)


def _median_time(fn, repeats: int) -> float:
    fn()  # warm-up: one-off allocations and kernel selection
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        fn()
        times.append(time.perf_counter() - tic)
    return sorted(times)[len(times) // 2]


def machine_peak(dtype: torch.dtype) -> float:
    """This machine's practical FLOP/s in `dtype`: the best of a large matmul and a large 3x3 convolution.

    Both, because the two go through different libraries (BLAS vs oneDNN) that reach different speeds here.
    """
    a, b = torch.randn(2048, 2048, dtype=dtype), torch.randn(2048, 2048, dtype=dtype)
    matmul = 2 * 2048 ** 3 / _median_time(lambda: a @ b, 5)
    x, w = torch.randn(16, 128, 64, 64, dtype=dtype), torch.randn(256, 128, 3, 3, dtype=dtype)
    conv = 2 * 16 * 64 * 64 * 128 * 256 * 9 / _median_time(lambda: F.conv2d(x, w, padding=1), 3)
    return max(matmul, conv)


def measure(cfg: ModelConfig, dtype: torch.dtype, train_batch: int, train_steps: int) -> dict:
    """Training and inference speed of one layout at one autocast dtype (float32 = no autocast)."""
    torch.manual_seed(0)
    model = Seq2Seq(cfg)
    amp = {"device_type": "cpu", "dtype": dtype, "enabled": dtype != torch.float32}
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    batch = torch.rand(train_batch, CONTEXT + FUTURE, 1, CANVAS, CANVAS)

    def train_step():
        with torch.autocast(**amp):
            pred = model(batch[:, :CONTEXT], FUTURE)
        loss = F.mse_loss(pred.float(), batch[:, CONTEXT:])
        opt.zero_grad()
        loss.backward()
        opt.step()

    step_s = _median_time(train_step, train_steps)
    model.eval()
    one, many = batch[:1, :CONTEXT], torch.rand(16, CONTEXT, 1, CANVAS, CANVAS)

    def infer(x):
        with torch.inference_mode(), torch.autocast(**amp):
            model(x, FUTURE)

    latency = _median_time(lambda: infer(one), 5)
    batched = _median_time(lambda: infer(many), 3)
    macs = macs_per_sequence(cfg)
    train_rate = train_batch / step_s
    return {
        "config": cfg.to_dict(), "precision": str(dtype).removeprefix("torch."),
        "params": sum(p.numel() for p in model.parameters()), "gmacs_per_seq": macs / 1e9,
        "train_seq_s": train_rate, "latency_ms": latency * 1e3, "infer_seq_s": len(many) / batched,
        "train_tflops": 3 * 2 * macs * train_rate / 1e12,  # backward costs about twice the forward
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m convlstm.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, help="whose config is 'shipped'")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    shipped_cfg, _ = read_metadata(args.weights)
    bf16 = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    shipped_dtype = torch.bfloat16 if bf16 else torch.float32
    peaks = {"float32": machine_peak(torch.float32), "bfloat16": machine_peak(torch.bfloat16) if bf16 else None}
    article = measure(ARTICLE, torch.float32, train_batch=2, train_steps=2)
    shipped = measure(shipped_cfg, shipped_dtype, train_batch=16, train_steps=5)
    for r in (article, shipped):
        r["fraction_of_peak"] = r["train_tflops"] * 1e12 / peaks[r["precision"]]
    ratios = {
        "train_throughput": shipped["train_seq_s"] / article["train_seq_s"],
        "latency": article["latency_ms"] / shipped["latency_ms"],
        "infer_throughput": shipped["infer_seq_s"] / article["infer_seq_s"],
        "macs": article["gmacs_per_seq"] / shipped["gmacs_per_seq"],
    }
    machine = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    rows = [
        ("layout", "article (patch 1, fp32)", f"shipped (patch {shipped_cfg.patch_size}, {shipped['precision']})", "ratio"),
        ("hidden / kernel", f"{ARTICLE.hidden} / {ARTICLE.kernel_size}", f"{shipped_cfg.hidden} / {shipped_cfg.kernel_size}", ""),
        ("parameters", f"{article['params']:,}", f"{shipped['params']:,}", ""),
        ("GMACs per 10->10 sequence", f"{article['gmacs_per_seq']:.1f}", f"{shipped['gmacs_per_seq']:.2f}", f"{ratios['macs']:.1f}x fewer"),
        ("training sequences/s", f"{article['train_seq_s']:.2f}", f"{shipped['train_seq_s']:.1f}", f"{ratios['train_throughput']:.1f}x"),
        ("latency of one prediction (ms)", f"{article['latency_ms']:.0f}", f"{shipped['latency_ms']:.1f}", f"{ratios['latency']:.1f}x lower"),
        ("batched inference sequences/s", f"{article['infer_seq_s']:.2f}", f"{shipped['infer_seq_s']:.1f}", f"{ratios['infer_throughput']:.1f}x"),
        ("training TFLOP/s achieved", f"{article['train_tflops']:.3f}", f"{shipped['train_tflops']:.3f}", ""),
        ("fraction of measured peak", f"{article['fraction_of_peak']:.0%}", f"{shipped['fraction_of_peak']:.0%}", ""),
    ]
    print(f"{datetime.date.today()}, {machine}; measured peak fp32 {peaks['float32'] / 1e12:.2f} TFLOP/s"
          + (f", bf16 {peaks['bfloat16'] / 1e12:.2f} TFLOP/s" if peaks["bfloat16"] else "") + "\n")
    print("| " + " | ".join(rows[0]) + " |\n|---|---|---|---|")
    for r in rows[1:]:
        print("| " + " | ".join(r) + " |")
    if args.json:
        args.json.write_text(json.dumps({"date": str(datetime.date.today()), "machine": machine, "peaks": peaks,
                                         "article": article, "shipped": shipped, "ratios": ratios}, indent=1))


if __name__ == "__main__":
    main()
