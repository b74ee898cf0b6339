"""Pictures out: the comparison Input | Ground truth | Prediction | |Error| as a player sprite and a GIF, the
filmstrip PNG and the prediction GIF.

Frames are float32 (T, 64, 64) in [0, 1]. Everything is drawn as indices into one fixed 256-colour PALETTE,
so GIFs and PNGs are written without any per-frame colour quantisation (the slow part of GIF encoding).
"""
import base64
import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .data import CANVAS, FUTURE

FPS = 4  # playback rate of the comparison: slow enough to follow each digit
SCALE = 3  # GIFs upscale each 64x64 frame to 192x192 for viewing
LABEL_H = 22  # pixels of caption above (and counter below) the GIF panels
GAP = 2  # pixels between panels at native scale
COLUMNS = ("Input", "Ground truth", "Prediction", "|Error|")
STRIP_WRAP = 10  # filmstrip columns per block: context, then +1..+10, +11..+20, ...

# The fixed palette: three 80-level ramps (grey, blue prediction, orange error), then the UI colours.
LEVELS = 80
GREY, BLUE, ORANGE = 0, LEVELS, 2 * LEVELS  # ramp offsets
TINTS = {GREY: (255, 255, 255), BLUE: (120, 200, 255), ORANGE: (255, 120, 80)}
BG, TEXT, DIM_TEXT, ACCENT, BLANK = range(3 * LEVELS, 3 * LEVELS + 5)
PALETTE = np.zeros((256, 3), np.uint8)
for _offset, _rgb in TINTS.items():
    PALETTE[_offset:_offset + LEVELS] = np.rint(np.linspace(0, 1, LEVELS)[:, None] * _rgb)
PALETTE[[BG, TEXT, DIM_TEXT, ACCENT, BLANK]] = [(20, 20, 20), (230, 230, 230), (200, 200, 200), (120, 200, 255), (40, 40, 40)]


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only its fixed bitmap font (a GPU machine's older Pillow): smaller labels
        return ImageFont.load_default()


def ramp(frames: np.ndarray, offset: int = GREY) -> np.ndarray:
    """Frames in [0, 1] (any shape) as uint8 palette indices on the ramp starting at `offset`."""
    return (offset + np.rint(np.clip(frames, 0, 1) * (LEVELS - 1))).astype(np.uint8)


def comparison_panels(context: np.ndarray, prediction: np.ndarray, truth: np.ndarray | None = None,
                      seen: np.ndarray | None = None) -> np.ndarray:
    """Palette indices (Tc + H, 64, 4*64 + 3*GAP): the COLUMNS side by side, context frames then the future.

    While the context plays, Input and Ground truth show the clip and Prediction shows `seen`, the frames as the
    model reads them (after any input fix; default the context itself). While the future plays, Input holds the
    last context frame dimmed, then truth, prediction (blue) and |error| (orange); missing truth is blank.
    """
    seen = context if seen is None else seen
    n_ctx, horizon = len(context), len(prediction)
    n_true = 0 if truth is None else min(len(truth), horizon)
    blank = np.full((CANVAS, CANVAS), BLANK, np.uint8)
    out = np.full((n_ctx + horizon, CANVAS, len(COLUMNS) * (CANVAS + GAP) - GAP), BG, np.uint8)
    dimmed = ramp(context[-1] * 0.35)
    pred, ctx = ramp(prediction, BLUE), ramp(context)
    for k in range(n_ctx + horizon):
        s = k - n_ctx  # index into the future
        if s < 0:
            panels = [ctx[k], ctx[k], ramp(seen[k]), blank]
        else:
            has_truth = s < n_true
            panels = [dimmed, ramp(truth[s]) if has_truth else blank, pred[s],
                      ramp(np.abs(prediction[s] - truth[s]), ORANGE) if has_truth else blank]
        for j, panel in enumerate(panels):
            out[k, :, j * (CANVAS + GAP): j * (CANVAS + GAP) + CANVAS] = panel
    return out


def frame_labels(n_ctx: int, horizon: int) -> list[str]:
    """The counter under each comparison frame, e.g. 'context 3/10' or 'predicted +12/30 (beyond ...)'."""
    labels = [f"context {k + 1}/{n_ctx}: the model reads this frame" for k in range(n_ctx)]
    for s in range(horizon):
        labels.append(f"predicted +{s + 1}/{horizon}" + (f" (beyond the {FUTURE} trained steps)" if s >= FUTURE else ""))
    return labels


def _captioned(panels: np.ndarray, labels: list[str], scale: int = SCALE) -> list[Image.Image]:
    """Upscaled palette frames with the column names above and each frame's counter below."""
    n, h, w = panels.shape
    big = panels.repeat(scale, axis=1).repeat(scale, axis=2)  # nearest-neighbour (n, h*s, w*s)
    header = Image.new("P", (w * scale, LABEL_H), BG)
    draw = ImageDraw.Draw(header)
    for j, name in enumerate(COLUMNS):
        draw.text((j * (CANVAS + GAP) * scale + 4, 3), name, fill=TEXT, font=_font(15))
    head = np.asarray(header)
    frames = []
    for k in range(n):
        foot = Image.new("P", (w * scale, LABEL_H), BG)
        ImageDraw.Draw(foot).text((4, 3), labels[k], fill=DIM_TEXT if labels[k].startswith("context") else ACCENT, font=_font(15))
        frames.append(np.concatenate([head, big[k], np.asarray(foot)]))
    return [_paletted(f) for f in frames]


def _paletted(indices: np.ndarray) -> Image.Image:
    im = Image.fromarray(indices, "P")
    im.putpalette(PALETTE.tobytes())
    return im


def comparison_gif_frames(context: np.ndarray, prediction: np.ndarray, truth: np.ndarray | None = None,
                          seen: np.ndarray | None = None) -> list[Image.Image]:
    """The captioned comparison animation as palette images (see comparison_panels)."""
    panels = comparison_panels(context, prediction, truth, seen)
    return _captioned(panels, frame_labels(len(context), len(prediction)))


def save_gif(frames: list[Image.Image], path: str | Path) -> Path:
    """Write palette images as a GIF that loops forever at FPS; no quantisation, so it is fast and exact."""
    path = Path(path)
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=1000.0 / FPS, loop=0, optimize=False)
    return path


def sprite(panels: np.ndarray) -> str:
    """Palette frames (T, h, w) stacked vertically as one PNG data URI, for the in-page player."""
    buf = io.BytesIO()
    strip = np.ascontiguousarray(panels.reshape(-1, panels.shape[-1]))  # (T, h, w) -> (T*h, w): frames stacked
    _paletted(strip).save(buf, "PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def filmstrip(context: np.ndarray, prediction: np.ndarray, truth: np.ndarray | None, path: str | Path) -> Path:
    """A static PNG, STRIP_WRAP 64x64 columns per block: the input, then rows truth | Prediction | |Error| per block."""
    n_ctx, horizon = len(context), len(prediction)
    n_true = 0 if truth is None else min(len(truth), horizon)
    names = ["Ground truth", "Prediction", "|Error|"]
    label_w, cell = 110, CANVAS + GAP
    # blocks of at most STRIP_WRAP columns: the context first, then the future, so +1 always starts a block
    blocks = [range(k, min(k + STRIP_WRAP, n_ctx)) for k in range(0, n_ctx, STRIP_WRAP)]
    blocks += [range(n_ctx + s, n_ctx + min(s + STRIP_WRAP, horizon)) for s in range(0, horizon, STRIP_WRAP)]
    rows = [1 if block[0] < n_ctx else len(names) for block in blocks]  # context blocks have no prediction rows
    tops = np.cumsum([0] + [LABEL_H + r * cell + 6 for r in rows])
    canvas = np.full((tops[-1], label_w + STRIP_WRAP * cell), BG, np.uint8)
    heads = []  # (x, y, text, colour) drawn after the pixels
    for b, block in enumerate(blocks):
        y0 = tops[b]
        for j, k in enumerate(block):
            x0, s = label_w + j * cell, k - n_ctx
            heads.append((x0 + 2, y0 + 3, f"{k + 1}" if s < 0 else f"+{s + 1}", DIM_TEXT if s < 0 else ACCENT))
            cells = [ramp(context[k]) if s < 0 else (ramp(truth[s]) if s < n_true else None),
                     None if s < 0 else ramp(prediction[s], BLUE),
                     None if s < 0 or s >= n_true else ramp(np.abs(prediction[s] - truth[s]), ORANGE)]
            for r, c in enumerate(cells[:rows[b]]):
                top = y0 + LABEL_H + r * cell
                canvas[top:top + CANVAS, x0:x0 + CANVAS] = BLANK if c is None else c
        for r, name in enumerate(names if rows[b] > 1 else ["Input"]):
            heads.append((4, y0 + LABEL_H + r * cell + CANVAS // 2 - 7, name, TEXT))
    im = _paletted(canvas)
    draw = ImageDraw.Draw(im)
    for x, y, text, colour in heads:
        draw.text((x, y), text, fill=colour, font=_font(12 if x > 4 else 13))
    path = Path(path)
    im.save(path, compress_level=1)
    return path


def prediction_gif(prediction: np.ndarray, path: str | Path) -> Path:
    """The predicted frames alone (horizon, 64, 64) as a grey looping GIF, upscaled for viewing."""
    big = ramp(prediction).repeat(SCALE, axis=1).repeat(SCALE, axis=2)
    return save_gif([_paletted(f) for f in big], path)
