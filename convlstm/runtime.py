"""Where and in what precision the model runs: device choice, native bf16 detection, autocast, CPU flags.

One place decides, so training, inference, evaluation and the benchmark agree. bf16 autocast is chosen only
where the hardware does bf16 natively: on a CPU without avx512_bf16/AMX it is emulated and ~100x slower.
"""
import contextlib
import platform
from functools import lru_cache

import torch

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of CPUs with bf16 arithmetic in hardware


@lru_cache(maxsize=1)
def _cpuinfo() -> dict[str, str]:
    """The first processor's fields in /proc/cpuinfo (empty where it is missing)."""
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read().partition("\n\n")[0]
    except OSError:
        return {}
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in text.splitlines())}


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags."""
    return frozenset(_cpuinfo().get("flags", "").split())


def describe_cpu() -> str:
    """A short line about the CPU for benchmark tables: model, SIMD level, bf16 support, threads."""
    name = _cpuinfo().get("model name") or platform.processor() or platform.machine()
    simd = torch.backends.cpu.get_cpu_capability()
    bf16 = ", ".join(f for f in NATIVE_BF16_FLAGS if f in cpu_flags()) or "no native bf16"
    return f"{name}, {simd}, {bf16}, {torch.get_num_threads()} threads"


def describe_device(device: torch.device) -> str:
    """The GPU's name, or the CPU line."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else describe_cpu()


def pick_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """'auto' (CUDA if present), 'cpu' or 'cuda'; asking for CUDA without one is a ValueError saying so."""
    if name not in DEVICES:
        raise ValueError(f"device must be auto, cpu or cuda, got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda but no CUDA device is visible; use --device cpu")
    cuda = name == "cuda" or (name == "auto" and torch.cuda.is_available())
    return torch.device("cuda", local_rank) if cuda else torch.device("cpu")


def native_bf16(device: torch.device) -> bool:
    """Whether bf16 arithmetic runs natively (fast) on this device."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    return any(f in cpu_flags() for f in NATIVE_BF16_FLAGS)


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' -> bf16 where native, else fp32; fp16 needs CUDA (GradScaler); explicit choices are kept."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("fp16 needs CUDA (it relies on GradScaler); use bf16 or fp32 on the CPU")
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return precision


def autocast(device: torch.device, precision: str):
    """The torch.autocast context for a resolved precision; fp32 is no autocast at all."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=DTYPES[precision])


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so that timings measure it (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
