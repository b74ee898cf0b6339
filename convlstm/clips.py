"""Clips in: safe decoding of user files and the one preprocessing step to the model's 64x64 grey frames.

Every upload is hostile until checked. Before any pixel is decoded we check the size in bytes, the format
by content (magic bytes, not the name), and the dimensions from the header; while decoding we cap the frame
count and the time, and shrink each frame to 64x64 grey as it arrives, so memory never holds more than one
full-size frame. Anything wrong becomes a ClipError whose message says what was wrong and what is accepted.
"""
import time
from dataclasses import dataclass
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageSequence

from .data import CANVAS

ACCEPTED = "an animated GIF, an MP4/WebM clip, a .npy array (T, H, W) or (T, H, W, C), or PNG/JPG frames"
MAX_BYTES = 20 * 2**20  # per file: a 20-frame clip needs a few hundred KB
MAX_FRAMES = 300  # frames decoded per clip; the model needs 10
MAX_SIDE = 4096  # pixels, either side of a frame
MAX_SECONDS = 20.0  # wall time to decode one clip
MAX_PIXELS = 300 * 1280 * 720  # full-size pixels decoded per clip: 300 frames of 720p, or fewer larger ones
MAX_NPY_HEADER = 10_000  # bytes; numpy's own safety default

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


class ClipError(ValueError):
    """A clip the package cannot use; the message says what was wrong and what is accepted."""


@dataclass(frozen=True)
class Clip:
    frames: np.ndarray  # float32 (T, 64, 64) in [0, 1], ready for the model
    note: str  # what preprocessing did, for the user, e.g. "48 frames 320x240 RGB -> 64x64 grey"


def _describe(t: int, h: int, w: int, colour: str) -> str:
    note = f"{t} frame{'s' * (t != 1)} {w}x{h} {colour}"
    side = max(h, w)
    if h != w:
        note += f", padded to {side}x{side}"
    if side != CANVAS or colour != "grey":
        note += f" -> {CANVAS}x{CANVAS} grey"
    return note


def _shrink(a: np.ndarray) -> np.ndarray:
    """Grey float frames (T, H, W) -> (T, 64, 64): pad to a square with black, then area-average (or upsample)."""
    _, h, w = a.shape
    side = max(h, w)
    if h != w:
        top, left = (side - h) // 2, (side - w) // 2
        a = np.pad(a, ((0, 0), (top, side - h - top), (left, side - w - left)))
    if side != CANVAS:
        x = torch.from_numpy(np.ascontiguousarray(a)).unsqueeze(1)  # (T, H, W) -> (T, 1, H, W)
        if side > CANVAS:
            x = F.interpolate(x, size=(CANVAS, CANVAS), mode="area")
        else:
            x = F.interpolate(x, size=(CANVAS, CANVAS), mode="bilinear", align_corners=False)
        a = x.squeeze(1).clamp(0, 1).numpy()  # (T, 1, 64, 64) -> (T, 64, 64)
    return np.ascontiguousarray(a, dtype=np.float32)


def to_model_frames(array: np.ndarray) -> Clip:
    """The one preprocessing step: (T, H, W) or (T, H, W, C) -> 64x64 grey Clip.

    Accepts uint8 (or other integers in 0-255) and floats in [0, 1]. Colour becomes luma (ITU-R BT.601),
    alpha is dropped, non-square frames are padded with black to a square (nothing is cropped), and the
    square is area-averaged down (or bilinearly up) to 64x64.
    """
    a = np.asarray(array)
    if a.ndim == 3:
        a = a[..., None]  # (T, H, W) -> (T, H, W, 1)
    if a.ndim != 4 or a.shape[-1] not in (1, 2, 3, 4) or min(a.shape) < 1:
        raise ClipError(f"expected frames shaped (T, H, W) or (T, H, W, C) with C in 1-4, got {a.shape}")
    t, h, w, c = a.shape
    if max(h, w) > MAX_SIDE or t > MAX_FRAMES:
        raise ClipError(f"at most {MAX_FRAMES} frames of at most {MAX_SIDE}x{MAX_SIDE} pixels, got {t} of {w}x{h}")
    if np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_:
        if a.size and (a.min() < 0 or a.max() > 255):
            raise ClipError(f"integer frames must hold values 0-255, got {a.min()} to {a.max()}")
        a = a.astype(np.float32) / 255.0
    elif np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float32)
        if not np.isfinite(a).all() or a.min() < 0.0 or a.max() > 1.0:
            raise ClipError("float frames must be finite and in [0, 1]; scale them, or pass uint8 0-255")
    else:
        raise ClipError(f"frames must be numbers (uint8 0-255 or float in [0, 1]), got dtype {a.dtype}")
    colour = {1: "grey", 2: "grey+alpha", 3: "RGB", 4: "RGBA"}[c]
    if c >= 3:
        a = a[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)  # (T, H, W, 3) -> (T, H, W)
    else:
        a = a[..., 0]  # (T, H, W, 1|2) -> (T, H, W): grey, alpha dropped
    return Clip(_shrink(a), _describe(t, h, w, colour))


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


class _Budget:
    """Counts decoded frames, full-size pixels and wall time against MAX_FRAMES, MAX_PIXELS and MAX_SECONDS."""

    def __init__(self, name: str):
        self.name, self.frames, self.pixels, self.start = name, 0, 0, time.monotonic()

    def tick(self, width: int, height: int) -> None:
        self.frames += 1
        self.pixels += width * height
        if self.frames > MAX_FRAMES:
            raise ClipError(f"{self.name}: more than {MAX_FRAMES} frames; send a shorter clip (the model needs 10)")
        if self.pixels > MAX_PIXELS:
            raise ClipError(f"{self.name}: {self.frames} frames of {width}x{height} exceed the decoding budget of "
                            f"{MAX_PIXELS / 1e6:.0f} megapixels; send fewer or smaller frames")
        if time.monotonic() - self.start > MAX_SECONDS:
            raise ClipError(f"{self.name}: decoding took over {MAX_SECONDS:.0f} s; send a smaller or shorter clip")


def _check_side(name: str, w: int, h: int) -> None:
    if w < 1 or h < 1 or max(w, h) > MAX_SIDE:
        raise ClipError(f"{name}: frames of {w}x{h} pixels; at most {MAX_SIDE}x{MAX_SIDE} are accepted")


def _colour(im: Image.Image) -> str:
    """How an image stores its pixels, for the note: a grey GIF is 'grey (palette)', a 16-bit PNG '16-bit grey'."""
    if im.mode in ("P", "PA"):
        palette = np.asarray(im.getpalette() or [0, 0, 0], np.uint8).reshape(-1, 3)
        return "grey (palette)" if (palette == palette[:, :1]).all() else "colour (palette)"
    if im.mode.startswith("I"):
        return "16-bit grey"
    return {"L": "grey", "LA": "grey+alpha", "1": "black-and-white"}.get(im.mode, im.mode)  # RGB, RGBA, CMYK...


def _grey(frame: Image.Image) -> np.ndarray:
    """One frame as grey float (H, W) in [0, 1]: BT.601 luma, alpha dropped; 16-bit frames keep their range."""
    if frame.mode.startswith("I"):  # "L" would clip 16-bit values at 255
        return np.clip(np.asarray(frame, dtype=np.float32) / 65535.0, 0.0, 1.0)
    return np.asarray(frame.convert("L"), dtype=np.float32) / 255.0


def _read_pillow(path: Path, budget: _Budget) -> tuple[list[np.ndarray], str]:
    """GIF, PNG or JPEG frames, each shrunk as decoded; the header is checked before any pixel."""
    try:
        im = Image.open(path)  # reads the header only
    except Image.DecompressionBombError:  # Pillow's own guard fires on absurd canvases before ours can
        raise ClipError(f"{path.name}: the image claims a gigantic canvas; at most {MAX_SIDE}x{MAX_SIDE} are accepted") from None
    with im:
        _check_side(path.name, *im.size)
        colour = _colour(im)
        out = []
        for frame in ImageSequence.Iterator(im):
            budget.tick(*im.size)
            out.append(_shrink(_grey(frame)[None])[0])
        return out, _describe(len(out), im.size[1], im.size[0], colour)


def _read_video(path: Path, budget: _Budget) -> tuple[list[np.ndarray], str]:
    """MP4/WebM frames through PyAV (FFmpeg), each shrunk as decoded; dimensions checked from the stream first."""
    with iio.imopen(path, "r", plugin="pyav") as video:
        _, h, w, _ = video.properties().shape  # stream metadata, no pixels
        _check_side(path.name, w, h)
        out = []
        for frame in video.iter(format="gray"):
            budget.tick(w, h)
            out.append(_shrink(frame[None].astype(np.float32) / 255.0)[0])
    return out, _describe(len(out), h, w, "video")


def _read_npy(path: Path, index: int) -> Clip:
    """A .npy of one sequence, or sequence `index` of a canonical (T, N, H, W) file; the header is checked first."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = reader(f, max_header_size=MAX_NPY_HEADER)
        offset = f.tell()
    if dtype.hasobject or dtype.kind not in "buif":
        raise ClipError(f"{path.name}: dtype {dtype} is not accepted; save numbers (uint8 0-255 or float 0-1)")
    if len(shape) not in (3, 4):
        raise ClipError(f"{path.name}: shape {shape}; expected (T, H, W), (T, H, W, C) or canonical (T, N, H, W)")
    if path.stat().st_size - offset != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
        raise ClipError(f"{path.name}: the header promises shape {shape} {dtype} but the data has another length (truncated?)")
    data = np.load(path, mmap_mode="r", allow_pickle=False)  # nothing read until sliced
    note = ""
    if data.ndim == 4 and data.shape[-1] not in (1, 2, 3, 4):  # canonical Moving MNIST layout, time first
        if not 0 <= index < data.shape[1]:
            raise ClipError(f"{path.name} holds {data.shape[1]} sequences (T, N, H, W); choose an index 0-{data.shape[1] - 1}")
        note = f"sequence {index} of {data.shape[1]}: "
        data = data[:, index]  # (T, N, H, W) -> (T, H, W)
    try:
        clip = to_model_frames(np.array(data[:MAX_FRAMES + 1]))  # one more than allowed, so the cap still speaks
    except ClipError as e:
        raise ClipError(f"{path.name}: {e}") from None
    return Clip(clip.frames, note + clip.note)


def read_clip(source: str | Path | list, index: int = 0, max_bytes: int = MAX_BYTES) -> Clip:
    """A file, or a list of PNG/JPEG frames taken in name order, as a model-ready Clip (or a ClipError).

    `index` picks the sequence of a canonical (T, N, H, W) .npy; .npy files are memory-mapped, so max_bytes
    applies to the other formats only.
    """
    paths = sorted(map(Path, source), key=lambda p: p.name) if isinstance(source, (list, tuple)) else [Path(source)]
    if not paths:
        raise ClipError(f"no file given; accepted: {ACCEPTED}")
    if len(paths) > MAX_FRAMES:
        raise ClipError(f"{len(paths)} files; at most {MAX_FRAMES} frames are accepted")
    try:
        kinds = [sniff(p) for p in paths]
        for p, kind in zip(paths, kinds):
            if kind != "NPY" and p.stat().st_size > max_bytes:
                raise ClipError(f"{p.name}: {p.stat().st_size / 2**20:.1f} MB; at most {max_bytes / 2**20:.0f} MB per file")
        if len(paths) > 1:
            if any(k not in IMAGE_KINDS for k in kinds):
                raise ClipError(f"several files must all be PNG/JPEG images, one per frame; accepted: {ACCEPTED}")
            budget, frames, notes = _Budget(paths[0].name), [], set()
            for p in paths:
                one, note = _read_pillow(p, budget)
                frames += one
                notes.add(note.removeprefix("1 frame "))
            if len(notes) > 1:
                raise ClipError("the image frames differ in size or colour; give frames of one size")
            return Clip(np.stack(frames), f"{len(paths)} image files in name order: {len(frames)} frames {notes.pop()}")
        path, kind = paths[0], kinds[0]
        if kind == "NPY":
            return _read_npy(path, index)
        reader = _read_video if kind in ("MP4", "WebM") else _read_pillow
        frames, note = reader(path, _Budget(path.name))
        if not frames:
            raise ClipError(f"{path.name}: no frames could be decoded; accepted: {ACCEPTED}")
        return Clip(np.stack(frames), note)
    except ClipError:
        raise
    except Exception as e:  # decoders raise many types; the user needs one clear message
        raise ClipError(f"{paths[0].name}: could not decode it ({type(e).__name__}: damaged, truncated or an unusual "
                        f"encoding); accepted: {ACCEPTED}") from None
