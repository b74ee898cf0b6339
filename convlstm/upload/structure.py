"""Cheap structural checks of an upload, run first in the sandboxed worker (readers.py), before any decoder sees it.

A linear walk over the file's blocks (GIF), chunks (PNG), segments (JPEG) or header (NPY) that reads no
pixel: every frame's declared size and placement against MAX_SIDE, the frame count, the number of blocks
and the bytes of metadata. Pillow's parsers take quadratic time or hundreds of MB on files made of millions
of tiny blocks; those are refused here in milliseconds. Videos are parsed only inside the sandbox.
"""
import math
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .limits import (MAX_BLOCKS, MAX_FRAMES, MAX_METADATA, MAX_NPY_HEADER, MAX_PIXELS, MAX_SIDE,
                     ClipError)


def check_side(name: str, w: int, h: int, frame: int = 0) -> None:
    """ClipError if decoded frame `frame` (0: every frame, as a header declares them) is empty or over MAX_SIDE."""
    if w < 1 or h < 1 or max(w, h) > MAX_SIDE:
        which = f"frame {frame} is" if frame else "frames of"
        raise ClipError(f"{name}: {which} {w}x{h} pixels; at most {MAX_SIDE}x{MAX_SIDE} are accepted")


def check_frames(name: str, t: int) -> None:
    """ClipError if a clip holds more than MAX_FRAMES frames."""
    if t > MAX_FRAMES:
        raise ClipError(f"{name}: more than {MAX_FRAMES} frames; send a shorter clip (the model needs 10)")


def check_pixels(name: str, t: int, w: int, h: int) -> None:
    """ClipError if t frames of w x h pixels are over the decoding budget."""
    if t * w * h > MAX_PIXELS:
        raise ClipError(f"{name}: {t} frames of {w}x{h} exceed the decoding budget of {MAX_PIXELS / 1e6:.0f} "
                        "megapixels; send fewer or smaller frames")


class _Tally:
    """Counts blocks, metadata bytes and frames of one file against their caps."""

    def __init__(self, name: str):
        self.name, self.blocks, self.metadata, self.frames, self.screen = name, 0, 0, 0, (0, 0)

    def canvas(self, w: int, h: int) -> None:
        """The declared canvas: every frame is decoded at this size at least."""
        check_side(self.name, w, h)
        self.screen = (w, h)

    def block(self, metadata: int = 0) -> None:
        self.blocks += 1
        self.metadata += metadata
        if self.blocks > MAX_BLOCKS:
            raise ClipError(f"{self.name}: the file is split into over {MAX_BLOCKS:,} blocks; re-save it with a "
                            "standard encoder")
        if self.metadata > MAX_METADATA:
            raise ClipError(f"{self.name}: over {MAX_METADATA // 2**10} KB of comments or metadata; strip them "
                            "(re-save the image without metadata)")

    def frame(self, x: int, y: int, w: int, h: int) -> None:
        self.frames += 1
        check_frames(self.name, self.frames)
        check_pixels(self.name, self.frames, *self.screen)
        if max(x + w, y + h) > MAX_SIDE:
            raise ClipError(f"{self.name}: frame {self.frames} is {w}x{h} placed at ({x}, {y}), reaching past "
                            f"{MAX_SIDE}x{MAX_SIDE} pixels; at most {MAX_SIDE}x{MAX_SIDE} are accepted")


def _gif(data: bytes, tally: _Tally) -> None:
    if len(data) < 13:
        return  # too short to hold a screen; the decoder reports it
    w, h, flags = struct.unpack_from("<HHB", data, 6)
    tally.canvas(w, h)
    i = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)  # past the global colour table
    while i < len(data) and data[i] != 0x3B:  # 0x3B: trailer
        introducer, i = data[i], i + 1
        if introducer == 0x2C and i + 9 <= len(data):  # image descriptor
            x, y, fw, fh, local = struct.unpack_from("<HHHHB", data, i)
            tally.frame(x, y, fw, fh)
            i += 9 + (3 << ((local & 7) + 1) if local & 0x80 else 0) + 1  # colour table, LZW code size
            metadata = False
        elif introducer == 0x21 and i < len(data):  # extension: graphic control (0xF9) is not metadata
            metadata, i = data[i] != 0xF9, i + 1
        else:
            return  # not a block start: the decoder decides what to make of it
        while i < len(data):  # data sub-blocks, each a length byte and that many bytes, ended by length 0
            n = data[i]
            i += 1 + n
            tally.block(n if metadata else 0)
            if n == 0:
                break


PNG_PIXELS = (b"IDAT", b"fdAT")


def _png(data: bytes, tally: _Tally) -> None:
    i = 8
    while i + 8 <= len(data):
        n, kind = struct.unpack_from(">I4s", data, i)
        if kind in (b"IHDR", b"fcTL") and i + 8 + min(n, 20) > len(data):
            return  # a truncated header chunk: the decoder reports the truncation
        if kind == b"IHDR" and n >= 8:
            tally.canvas(*struct.unpack_from(">II", data, i + 8))
        elif kind == b"fcTL" and n >= 20:  # an APNG frame: width, height, x, y
            fw, fh, x, y = struct.unpack_from(">IIII", data, i + 12)
            tally.frame(x, y, fw, fh)
        tally.block(0 if kind in PNG_PIXELS else n)
        if kind == b"IEND":
            return
        i += 12 + n  # length, type, data, CRC


SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}  # start-of-frame markers


def _jpeg(data: bytes, tally: _Tally) -> None:
    i = 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xFF or marker == 0x01 or 0xD0 <= marker <= 0xD8:  # fill byte or a marker without length
            i += 1 if marker == 0xFF else 2
            tally.block()
            continue
        if marker in (0xDA, 0xD9):  # start of scan or end of image: the header is over
            return
        (n,) = struct.unpack_from(">H", data, i + 2)
        if marker in SOF and n >= 7 and i + 9 <= len(data):  # a truncated header is the decoder's to report
            h, w = struct.unpack_from(">HH", data, i + 5)
            check_side(tally.name, w, h)
        tally.block(n if 0xE0 <= marker <= 0xEF or marker == 0xFE else 0)  # APPn and comments are metadata
        i += 2 + n


@dataclass(frozen=True)
class NpyLayout:
    """Where each frame of a .npy lies: frame t is `frame_items` items at item first + t * stride."""
    dtype: np.dtype
    offset: int  # bytes of header before the data
    frames: int
    height: int
    width: int
    channels: int
    first: int
    stride: int
    note: str  # "sequence i of N: " for a canonical file, else ""

    @property
    def frame_items(self) -> int:
        """Numbers in one frame (H x W x C)."""
        return self.height * self.width * self.channels


def npy_layout(path: Path, index: int) -> NpyLayout:
    """The checked layout of a .npy of one clip, or of sequence `index` of a canonical (T, N, H, W) file."""
    name = path.name
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = reader(f, max_header_size=MAX_NPY_HEADER)
        offset = f.tell()
    if dtype.hasobject or dtype.kind not in "buif":
        raise ClipError(f"{name}: dtype {dtype} is not accepted; save numbers (uint8 0-255 or float 0-1)")
    if len(shape) not in (3, 4):
        raise ClipError(f"{name}: shape {shape}; expected (T, H, W), (T, H, W, C) or canonical (T, N, H, W)")
    if path.stat().st_size - offset != math.prod(shape) * dtype.itemsize:
        raise ClipError(f"{name}: the header promises shape {shape} {dtype} but the data has another length "
                        "(truncated?); upload it again, or re-save it with np.save")
    if fortran and len(shape) > 1:
        raise ClipError(f"{name}: the array is stored in Fortran order; save np.ascontiguousarray(frames) instead")
    canonical = len(shape) == 4 and shape[-1] not in (1, 2, 3, 4)
    if canonical:
        t, n, h, w = shape
        if n == 0:
            raise ClipError(f"{name}: a canonical (T, N, H, W) file with N = 0 sequences holds no clip; "
                            "save at least one sequence")
        if not 0 <= index < n:
            raise ClipError(f"{name} holds {n} sequences (T, N, H, W); choose an index 0-{n - 1}")
        c, first, stride, note = 1, index * h * w, n * h * w, f"sequence {index} of {n}: "
    else:
        t, h, w, c = shape if len(shape) == 4 else (*shape, 1)
        if index != 0:
            raise ClipError(f"{name} holds one clip shaped {shape}; the sequence index applies only to canonical "
                            "(T, N, H, W) files, so set it to 0")
        first, stride, note = 0, h * w * c, ""
    if t < 1:
        raise ClipError(f"{name}: shape {shape} holds no frames; save at least one")
    if t > MAX_FRAMES:
        raise ClipError(f"{name}: {t} frames; at most {MAX_FRAMES} are accepted (the model needs 10)")
    check_side(name, w, h)
    check_pixels(name, t, w, h)
    return NpyLayout(dtype, offset, t, h, w, c, first, stride, note)


def check(path: Path, kind: str, index: int) -> None:
    """ClipError if the file's structure is over a limit; reads no pixel."""
    if kind == "NPY":
        npy_layout(path, index)
        return
    walk = {"GIF": _gif, "PNG": _png, "JPEG": _jpeg}.get(kind)
    if walk:
        walk(path.read_bytes(), _Tally(path.name))
