"""Untrusted work in a throwaway process, as image services decode uploads.

One job per worker: the worker caps its own address space (RLIMIT_AS) and CPU time (RLIMIT_CPU), the
parent kills it at the wall-clock budget, and it answers with one JSON line and raw bytes (never a pickle,
which a subverted worker could use against the parent). A decoder bug, known or not yet known, then costs
one worker and never the server. Workers start lazily on first use; one spare is kept started (and warmed
by the target module's warm(), if it has one), so an upload waits for a pipe, not for Python's imports.
At most Caps.workers of them live at once, spare included, and a cancelled job's worker is killed at once.
Every worker is reaped: no zombies.
"""
import atexit
import importlib
import json
import os
import resource
import select
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Caps:
    memory: int  # bytes of address space a worker may add to what its imports took
    cpu_s: float  # CPU seconds for the job
    wall_s: float  # wall seconds for the job, from the moment it is handed over (waiting for a worker included)
    reply: int  # bytes: the longest honest answer
    workers: int = 2  # workers of one target alive at once, the started spare included; more jobs wait


class WorkerFailed(Exception):
    """The worker ran past its time ("time"), died without a proper answer ("crash"), no worker came free within
    the time ("busy"), or the caller cancelled the job ("cancelled")."""


# A worker needs numpy, Pillow and PyAV only, and every MB it maps counts against its cap, so it imports the
# package's modules without running the package's __init__, whatever that may import in future.
_BOOT = ("import sys, types; package = types.ModuleType(sys.argv[1]); package.__path__ = [sys.argv[2]]; "
         "sys.modules[sys.argv[1]] = package; from {0}.sandbox import serve; serve(*sys.argv[3:])").format(__package__)
# One thread per library keeps the address space predictable: glibc reserves 64 MB per thread arena.
_ENV = {"MALLOC_ARENA_MAX": "2", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
POLL_S = 0.05  # how often a waiting or running job looks at its cancel flag
_freed = threading.Condition()  # guards the two dicts below; notified whenever a worker is reaped
_spares: dict[tuple[str, Caps], subprocess.Popen] = {}
_live: dict[str, int] = {}  # workers alive per target, whatever their caps: running jobs plus spares


def _spawn(target: str, caps: Caps) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _BOOT, __package__, str(Path(__file__).resolve().parent),
                             target, str(caps.memory)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env={**os.environ, **_ENV})


def _reap(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for pipe in (proc.stdin, proc.stdout):
        if pipe and not pipe.closed:
            pipe.close()


def _close_spares() -> None:
    with _freed:
        while _spares:
            (target, _), proc = _spares.popitem()
            _reap(proc)
            _live[target] -= 1


def live(target: str) -> int:
    """Workers of `target` alive now, running or spare (never more than its jobs' Caps.workers)."""
    with _freed:
        return _live.get(target, 0)


def _cancelled(cancel: threading.Event | None) -> bool:
    return cancel is not None and cancel.is_set()


def _take(target: str, caps: Caps, deadline: float, cancel: threading.Event | None) -> subprocess.Popen:
    """The started spare, or a new worker while fewer than caps.workers live; else wait for one to be reaped.

    Counting in the sandbox, not in the caller, keeps the bound when a caller stops waiting for its job (a
    cancelled request whose thread goes on): a flood of jobs never has more than caps.workers decoders alive."""
    with _freed:
        while True:
            if _cancelled(cancel):
                raise WorkerFailed("cancelled")
            proc = _spares.pop((target, caps), None)
            if proc is not None:
                if proc.poll() is None:
                    return proc
                _reap(proc)  # a spare that died while it waited
                _live[target] -= 1
            if _live.get(target, 0) >= caps.workers:  # a spare started for other caps gives way to a job
                other = next((key for key in _spares if key[0] == target), None)
                if other is not None:
                    _reap(_spares.pop(other))
                    _live[target] -= 1
            if _live.get(target, 0) < caps.workers:
                _live[target] = _live.get(target, 0) + 1
                return _spawn(target, caps)
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkerFailed("busy")
            _freed.wait(min(left, POLL_S))


def _release(target: str, caps: Caps, proc: subprocess.Popen) -> None:
    """Reap a job's worker, and start the spare for the next job if there is room (after this job: its imports must
    not compete with the job for CPU)."""
    _reap(proc)
    with _freed:
        _live[target] -= 1
        if (target, caps) not in _spares and _live[target] < caps.workers:
            if not _spares:
                atexit.register(_close_spares)  # registering twice is harmless: the second call finds none
            _spares[(target, caps)] = _spawn(target, caps)
            _live[target] += 1
        _freed.notify_all()


def _read_all(proc: subprocess.Popen, deadline: float, limit: int, cancel: threading.Event | None) -> bytes:
    """Everything the worker writes until it closes its end; WorkerFailed past the deadline, the limit or a cancel."""
    fd, out = proc.stdout.fileno(), bytearray()
    while True:
        if _cancelled(cancel):
            raise WorkerFailed("cancelled")
        left = deadline - time.monotonic()
        if left <= 0:
            raise WorkerFailed("time")
        if not select.select([fd], [], [], min(left, POLL_S))[0]:
            continue
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return bytes(out)
        out += chunk
        if len(out) > limit:
            raise WorkerFailed("crash")


def run(target: str, request: dict, caps: Caps, cancel: threading.Event | None = None) -> tuple[dict, bytes]:
    """Run "module:function" on `request` (JSON) in a fresh capped worker; its (header dict, payload bytes).

    `cancel`, once set, kills the worker within POLL_S and raises WorkerFailed("cancelled"). The header also
    carries the worker's peak resident memory in bytes ("peak_rss")."""
    deadline = time.monotonic() + caps.wall_s
    proc = _take(target, caps, deadline, cancel)
    try:
        try:
            proc.stdin.write(json.dumps({**request, "cpu_s": caps.cpu_s}).encode() + b"\n")
            proc.stdin.close()
        except BrokenPipeError:
            raise WorkerFailed("crash") from None
        reply = _read_all(proc, deadline, caps.reply, cancel)
        if proc.wait(timeout=max(0.1, deadline - time.monotonic())) < 0:  # killed by a signal: its CPU cap or worse
            raise WorkerFailed("time" if -proc.returncode in (24, 9) else "crash")  # 24: SIGXCPU
        head, _, payload = reply.partition(b"\n")
        header = json.loads(head)
        if not isinstance(header, dict):
            raise WorkerFailed("crash")
        return header, payload
    except (ValueError, subprocess.TimeoutExpired):  # a garbled answer, or one that never ends
        raise WorkerFailed("crash") from None
    finally:
        _release(target, caps, proc)


def proc_bytes(field: str, pid: int | str = "self") -> int:
    """A byte count from /proc/<pid>/status: VmSize (address space) or VmHWM (peak resident memory)."""
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field + ":"))


def serve(target: str, memory: str) -> None:
    """A worker's life: import the target, cap the address space, wait for one job, answer it, exit."""
    module, function = target.split(":")
    module = importlib.import_module(module)
    handle = getattr(module, function)
    if hasattr(module, "warm"):  # first-use costs (plugin registries, caches) paid while this is a spare
        module.warm()
    cap = proc_bytes("VmSize") + int(memory)
    inherited = resource.getrlimit(resource.RLIMIT_AS)[1]  # a parent under a cap of its own passes it down
    cap = cap if inherited == resource.RLIM_INFINITY else min(cap, inherited)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    line = sys.stdin.buffer.readline()
    if not line:  # the parent closed without a job (it exited, or this was a spare)
        return
    request = json.loads(line)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    limit = int(usage.ru_utime + usage.ru_stime + request.pop("cpu_s")) + 1  # the imports' CPU time is not the job's
    resource.setrlimit(resource.RLIMIT_CPU, (limit, limit + 1))  # SIGXCPU at the soft limit, SIGKILL at the hard
    header, payload = handle(request)
    header["peak_rss"] = proc_bytes("VmHWM")  # for the caller's records: what this job really cost
    sys.stdout.buffer.write(json.dumps(header).encode() + b"\n" + payload)
    sys.stdout.buffer.flush()
