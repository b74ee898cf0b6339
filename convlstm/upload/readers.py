"""Decoding, as run inside the sandboxed worker: the structural checks (structure.py) first, then every reader
checks each decoded frame's real size, charges it to the clip's running budget, and shrinks it to 64x64 before
the next frame is decoded.

The structural checks run here, not in the server, so that they spend the job's own time and memory budget;
the frame checks hold even where a header lied (a GIF frame placed far off its screen, a video changing
resolution mid-stream).
"""
from itertools import count
from pathlib import Path

import av
import numpy as np
from PIL import Image

from .resize import CANVAS, COLOURS, describe, shrink
from .structure import NpyLayout, check, check_frames, check_pixels, check_side, npy_layout
from .limits import ACCEPTED, MAX_MEMORY, ClipError

PILLOW_COLOURS = {"1": "black-and-white", "L": "grey", "LA": "grey+alpha", "La": "grey+alpha", "P": "palette colour",
                  "PA": "palette colour+alpha", "RGB": "RGB", "RGBA": "RGBA", "RGBa": "RGBA", "CMYK": "CMYK",
                  "YCbCr": "YCbCr", "I": "16-bit grey", "I;16": "16-bit grey", "I;16B": "16-bit grey",
                  "I;16L": "16-bit grey", "F": "32-bit float grey"}
WIDE = ("I", "I;16", "I;16B", "I;16L")  # Pillow's 16-bit grey modes: values 0-65535


class Budget:
    """One clip's decoded frames: each frame's real size, one size throughout, the frame and pixel caps."""

    def __init__(self, name: str):
        self.name, self.frames, self.size = name, 0, None

    def tick(self, width: int, height: int) -> None:
        """Charge one decoded frame of width x height pixels to the clip; ClipError past a limit."""
        self.frames += 1
        check_side(self.name, width, height, self.frames)
        if self.size is None:
            self.size = (width, height)
        elif self.size != (width, height):
            raise ClipError(f"{self.name}: the frames differ in size (frame 1 is {self.size[0]}x{self.size[1]}, "
                            f"frame {self.frames} is {width}x{height}); give frames of one size")
        check_frames(self.name, self.frames)
        check_pixels(self.name, self.frames, width, height)  # one size throughout, so frames x size is the total


def _grey_palette(im: Image.Image) -> bool:
    """Whether every entry of a palette image's palette is a grey (r = g = b)."""
    palette = np.asarray(im.getpalette() or [0, 0, 0], np.uint8).reshape(-1, 3)  # flat r, g, b... -> (entries, 3)
    return bool((palette == palette[:, :1]).all())


def _pillow(path: Path, budget: Budget) -> tuple[list[np.ndarray], str]:  # (frames, colour)
    """GIF, PNG (also APNG) or JPEG frames; each frame's canvas is checked before its pixels are decoded."""
    with Image.open(path) as im:
        colour = PILLOW_COLOURS.get(im.mode, im.mode)
        if im.mode in ("P", "PA") and _grey_palette(im):  # most grey GIFs: say grey, not colour
            colour = colour.replace("palette colour", "grey palette")
        out = []
        for i in count():
            try:
                im.seek(i)  # reads the frame's header; Pillow may grow the canvas here, so check before loading
            except EOFError:
                break
            budget.tick(*im.size)
            if im.mode in WIDE:
                out.append(shrink(np.clip(np.asarray(im, np.float32) / 65535.0, 0.0, 1.0)[..., None]))
            else:
                out.append(shrink(np.asarray(im.convert("L"))[..., None]))  # BT.601 luma, alpha dropped
    return out, colour


def _video(path: Path, budget: Budget) -> tuple[list[np.ndarray], str]:
    """MP4/WebM frames through PyAV (FFmpeg); every decoded frame's own size is checked, not the header's."""
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ClipError(f"{path.name}: holds no video stream; accepted: {ACCEPTED}")
        stream = container.streams.video[0]
        stream.thread_count = 1  # one frame in flight: memory stays one frame's worth
        out = []
        for frame in container.decode(stream):
            budget.tick(frame.width, frame.height)
            out.append(shrink(frame.to_ndarray(format="gray")[..., None]))
    return out, "video"


def _npy(path: Path, layout: NpyLayout, budget: Budget) -> tuple[list[np.ndarray], str]:
    """A .npy read one frame at a time from its checked layout (no memory map: the file may be large)."""
    item, out = layout.dtype.itemsize, []
    with open(path, "rb") as f:
        for t in range(layout.frames):
            budget.tick(layout.width, layout.height)
            f.seek(layout.offset + (layout.first + t * layout.stride) * item)
            frame = np.frombuffer(f.read(layout.frame_items * item), layout.dtype)
            try:
                out.append(shrink(frame.reshape(layout.height, layout.width, layout.channels)))  # (H*W*C,) -> (H, W, C)
            except ClipError as e:
                raise ClipError(f"{path.name}: frame {t + 1}: {e}") from None
    return out, COLOURS[layout.channels]


def decode(paths: list[Path], kinds: list[str], index: int) -> tuple[np.ndarray, str, tuple[int, int]]:
    """Files whose kinds were sniffed -> (uint8 (T, 64, 64) frames, note, (width, height)); ClipError for anything
    wrong. A file named several times is checked and decoded once."""
    kind_of = dict(zip(paths, kinds))
    for p, kind in kind_of.items():
        check(p, kind, index)
    budget, prefix = Budget(paths[0].name), ""
    if kinds[0] == "NPY":
        layout = npy_layout(paths[0], index)
        frames, colour = _npy(paths[0], layout, budget)
        prefix = layout.note
    elif len(paths) > 1:  # PNG/JPEG frames in name order, one budget and one frame size for them all
        decoded, frames = {}, []
        for p in paths:
            if p in decoded:
                for _ in decoded[p][0]:  # a repeat still counts against the frame and pixel caps
                    budget.tick(*budget.size)
            else:
                decoded[p] = _pillow(p, budget)
            frames += decoded[p][0]
        colours = {colour for _, colour in decoded.values()}
        if len(colours) > 1:
            raise ClipError(f"the image frames differ in colour ({', '.join(sorted(colours))}); give frames of one kind")
        colour = colours.pop()
        prefix = f"{len(paths)} image files in name order: "
    else:
        frames, colour = (_video if kinds[0] in ("MP4", "WebM") else _pillow)(paths[0], budget)
    if not frames:
        raise ClipError(f"{paths[0].name}: no frames could be decoded; accepted: {ACCEPTED}")
    width, height = budget.size
    note = prefix + describe(len(frames), height, width, colour)
    return np.round(np.stack(frames) * 255.0).astype(np.uint8), note, (width, height)


def warm() -> None:
    """Pay first-use costs before a job arrives: Pillow's plugin registry, the resampling weights, BLAS."""
    Image.init()
    shrink(np.zeros((CANVAS, CANVAS, 1), np.uint8))


def handle(request: dict) -> tuple[dict, bytes]:
    """The worker's entry (see sandbox.py): a job from clips.prepare -> header and the frames' raw bytes."""
    paths = [Path(p) for p in request["paths"]]
    try:
        frames, note, size = decode(paths, request["kinds"], request["index"])
    except ClipError as e:
        return {"error": str(e)}, b""
    except MemoryError:
        return {"error": f"{paths[0].name}: decoding needed more than {MAX_MEMORY // 2**20} MB; send smaller "
                         "or fewer frames"}, b""
    except Exception as e:  # decoders raise many types; the user needs one clear message
        return {"error": f"{paths[0].name}: could not decode it ({type(e).__name__}: damaged, truncated or an "
                         f"unusual encoding); accepted: {ACCEPTED}"}, b""
    return {"frames": len(frames), "note": note, "size": size}, frames.tobytes()
