"""Clips in: safe decoding of user files and the one preprocessing step to the model's 64x64 grey frames.

Every upload is hostile until checked. In the server's own process we check only what costs nothing: the
request as a whole (files, bytes), each file's size and its format by content (magic bytes, not the name).
Everything else runs in a sandboxed worker process (sandbox.py) capped in memory and time, at most
MAX_DECODERS of them alive at once: the structure checks (structure.py: declared dimensions, frames, blocks,
metadata), then the readers (readers.py), which check every decoded frame and shrink it to 64x64 grey before
the next, so memory holds one full-size frame at a time. Anything wrong becomes a ClipError whose message
says what was wrong and what is accepted.
"""
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import sandbox
from .resize import CANVAS, COLOURS, coverage, describe, shrink
from .limits import (ACCEPTED, MAX_BYTES, MAX_DECODERS, MAX_FILES, MAX_FRAMES, MAX_MEMORY, MAX_REQUEST_BYTES,
                     MAX_SECONDS, MAX_SIDE, ClipError)

__all__ = ["ACCEPTED", "KINDS", "MAX_BYTES", "MAX_FRAMES", "MAX_SIDE", "SUFFIXES", "Clip", "ClipError",
           "prepare", "read_clip", "sniff", "to_model_frames"]

# content kind -> (magic test, file suffixes that may carry it)
KINDS = {
    "GIF": (lambda h: h[:6] in (b"GIF87a", b"GIF89a"), (".gif",)),
    "PNG": (lambda h: h[:8] == b"\x89PNG\r\n\x1a\n", (".png",)),
    "JPEG": (lambda h: h[:3] == b"\xff\xd8\xff", (".jpg", ".jpeg")),
    "MP4": (lambda h: h[4:8] == b"ftyp", (".mp4", ".mov", ".m4v")),
    "WebM": (lambda h: h[:4] == b"\x1a\x45\xdf\xa3", (".webm", ".mkv")),
    "NPY": (lambda h: h[:6] == b"\x93NUMPY", (".npy",)),
}
SUFFIXES = tuple(s for _, suffixes in KINDS.values() for s in suffixes)
IMAGE_KINDS = ("PNG", "JPEG")
FAILED = {  # sandbox.WorkerFailed's reason -> the user's message
    "time": f"{{name}}: decoding took over {MAX_SECONDS:g} s; send a smaller or shorter clip",
    "busy": f"{{name}}: the server is busy decoding other uploads (no decoder came free in {MAX_SECONDS:g} s); "
            "try again in a minute",
    "cancelled": "{name}: decoding was cancelled",
    "crash": f"{{name}}: the decoder failed on it (damaged or hostile file); accepted: {ACCEPTED}",
}
WORKER = f"{__package__}.readers:handle"
CAPS = sandbox.Caps(memory=MAX_MEMORY, cpu_s=MAX_SECONDS, wall_s=MAX_SECONDS,
                    reply=2**16 + (MAX_FRAMES + 1) * CANVAS * CANVAS, workers=MAX_DECODERS)


@dataclass(frozen=True)
class Clip:
    frames: np.ndarray  # float32 (T, 64, 64) in [0, 1], ready for the model
    note: str  # what preprocessing did, for the user, e.g. "48 frames 320x240 RGB -> 64x64 grey"
    size: tuple[int, int] = (CANVAS, CANVAS)  # (width, height) of the frames as given

    @property
    def coverage(self) -> np.ndarray:
        """float32 (64, 64): how much of each pixel is the clip's own, not the padding that made it square."""
        return coverage(*self.size)


def to_model_frames(array: np.ndarray) -> Clip:
    """The one preprocessing step, for frames already in memory: (T, H, W) or (T, H, W, C) -> 64x64 grey Clip.

    Accepts uint8 (or other integers in 0-255), bool and floats in [0, 1]; see resize.py for the rest.
    """
    a = np.asarray(array)
    if a.ndim == 3:
        a = a[..., None]  # (T, H, W) -> (T, H, W, 1)
    if a.ndim != 4 or a.shape[-1] not in (1, 2, 3, 4) or min(a.shape) < 1:
        raise ClipError(f"expected frames shaped (T, H, W) or (T, H, W, C) with C in 1-4, got {a.shape}")
    t, h, w, c = a.shape
    if max(h, w) > MAX_SIDE or t > MAX_FRAMES:
        raise ClipError(f"at most {MAX_FRAMES} frames of at most {MAX_SIDE}x{MAX_SIDE} pixels, got {t} of {w}x{h}")
    return Clip(np.stack([shrink(frame) for frame in a]), describe(t, h, w, COLOURS[c]), (w, h))


def sniff(path: Path) -> str:
    """The content kind of a file (a key of KINDS), checked against its name; ClipError if either is wrong."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ClipError(f"{path.name}: unsupported file type {suffix or '(none)'}; accepted: {ACCEPTED}")
    with open(path, "rb") as f:
        head = f.read(16)
    kind = next((k for k, (test, _) in KINDS.items() if test(head)), None)
    if kind is None:
        what = "empty" if not head else "not a GIF, PNG, JPEG, MP4, WebM or NPY file"
        raise ClipError(f"{path.name}: its content is {what}; accepted: {ACCEPTED}")
    if suffix not in KINDS[kind][1]:
        raise ClipError(f"{path.name}: the name says {suffix} but the content is {kind}; rename it to {KINDS[kind][1][0]}")
    return kind


def _check_request(paths: list[Path]) -> None:
    if len(paths) > MAX_FILES:
        raise ClipError(f"{len(paths)} files in one request; at most {MAX_FILES} (one clip, or up to {MAX_FILES} "
                        "PNG/JPEG frames)")
    total = sum(p.stat().st_size for p in paths)
    if len(paths) > 1 and total > MAX_REQUEST_BYTES:
        raise ClipError(f"{total / 2**20:.1f} MB in one request; at most {MAX_REQUEST_BYTES / 2**20:.0f} MB for "
                        "all files together")


def prepare(source: str | Path | list, index: int = 0, max_bytes: int = MAX_BYTES) -> dict:
    """The in-process checks (request, sizes, magic bytes): a decoding job, or a ClipError."""
    paths = sorted(map(Path, source), key=lambda p: p.name) if isinstance(source, (list, tuple)) else [Path(source)]
    if not paths:
        raise ClipError(f"no file given; accepted: {ACCEPTED}")
    try:
        _check_request(paths)
        kinds = [sniff(p) for p in paths]
        for p, kind in zip(paths, kinds):
            if kind != "NPY" and p.stat().st_size > max_bytes:  # .npy frames are read one at a time
                raise ClipError(f"{p.name}: {p.stat().st_size / 2**20:.1f} MB; at most {max_bytes / 2**20:.0f} MB per file")
        if len(paths) > 1 and any(k not in IMAGE_KINDS for k in kinds):
            raise ClipError(f"several files must all be PNG/JPEG images, one per frame; accepted: {ACCEPTED}")
        if index != 0 and kinds[0] != "NPY":
            raise ClipError(f"{paths[0].name}: the sequence index applies only to canonical (T, N, H, W) .npy files; "
                            "set it to 0")
    except OSError as e:  # a path that vanished or is not a readable file
        raise ClipError(f"{paths[0].name}: could not read it ({type(e).__name__}); upload it again") from None
    # absolute: the worker may be a spare started in another working directory
    return {"paths": [str(p.absolute()) for p in paths], "kinds": kinds, "index": index}


def read_clip(source: str | Path | list, index: int = 0, max_bytes: int = MAX_BYTES,
              cancel: threading.Event | None = None) -> Clip:
    """A file, or a list of PNG/JPEG frames taken in name order, as a model-ready Clip (or a ClipError).

    `index` picks the sequence of a canonical (T, N, H, W) .npy; .npy files are read one frame at a time,
    so max_bytes applies to the other formats only. Setting `cancel` stops the decoding at once.
    """
    job = prepare(source, index, max_bytes)
    name = Path(job["paths"][0]).name
    try:
        header, payload = sandbox.run(WORKER, job, CAPS, cancel)
    except sandbox.WorkerFailed as e:
        raise ClipError(FAILED.get(str(e), FAILED["crash"]).format(name=name)) from None
    if "error" in header:
        raise ClipError(str(header["error"]))
    t, size = header.get("frames"), header.get("size")
    if (not isinstance(t, int) or not 1 <= t <= MAX_FRAMES or len(payload) != t * CANVAS * CANVAS
            or not (isinstance(size, list) and len(size) == 2 and all(isinstance(n, int) and 1 <= n <= MAX_SIDE for n in size))):
        raise ClipError(FAILED["crash"].format(name=name))
    # the worker's bytes (t*64*64,) -> float frames (t, 64, 64) in [0, 1]
    frames = np.frombuffer(payload, np.uint8).reshape(t, CANVAS, CANVAS).astype(np.float32) / np.float32(255)
    return Clip(frames, str(header.get("note", ""))[:500], tuple(size))
