"""Inside the ConvLSTM: each cell's gates and a few hidden channels at every time step, as player frames.

Input is what Seq2Seq.trace() records: a list, in execution order, of {"part", "layer", "step", "i", "f",
"o", "h"} with each tensor (hidden, h, w) for batch element 0. One player frame per time step shows the two
cells active at that step (encoder cells while reading, decoder cells while predicting), one row per layer:
the input, forget and output gates averaged over channels (black closed, white open), then the HIDDEN
channels of that layer that vary most over the run (blue positive, orange negative).
"""
import numpy as np

from ..media import BG, BLUE, GREY, ORANGE, ramp

HIDDEN = 3  # hidden channels shown per layer
ZOOM = 4  # the 16x16 cell maps are upscaled 4x to the size of a 64x64 frame
GAP = 2
COLUMNS = ("input gate", "forget gate", "output gate") + tuple(f"hidden {k + 1}" for k in range(HIDDEN))
EXPLAINED = (
    "Each ConvLSTM cell keeps a memory map; at every step its **input gate** decides where new evidence is written, "
    "its **forget gate** where the old memory is kept, and its **output gate** what is shown as the hidden state "
    "(white = open, black = shut). The encoder cells read the context frame by frame, then the decoder cells, "
    "starting from that memory, roll it forward to predict; rows are layer 1 and layer 2, the right-hand tiles the "
    "most active hidden channels (blue positive, orange negative)."
)


def _tile(a: np.ndarray, signed: bool) -> np.ndarray:
    """A (h, w) map as palette indices upscaled by ZOOM; signed maps use blue for > 0 and orange for < 0."""
    idx = np.where(a >= 0, ramp(a, BLUE), ramp(-a, ORANGE)) if signed else ramp(a, GREY)
    return idx.repeat(ZOOM, axis=0).repeat(ZOOM, axis=1)


def panels(steps: list[dict]) -> tuple[np.ndarray, list[str]]:
    """Palette frames (steps per layer, rows*(h*ZOOM + GAP), cols*(w*ZOOM + GAP)) and one label per frame."""
    layers = sorted({s["layer"] for s in steps})
    by_time: dict[tuple[str, int], dict[int, dict]] = {}
    for s in steps:
        by_time.setdefault((s["part"], s["step"]), {})[s["layer"]] = s
    # the most active hidden channels of each layer over the whole run, so a tile keeps its channel throughout
    picks = {}
    for layer in layers:
        hs = np.stack([s["h"].numpy() for s in steps if s["layer"] == layer])  # (steps, hidden, h, w)
        picks[layer] = np.argsort(hs.std(axis=(0, 2, 3)))[::-1][:HIDDEN]
    h, w = steps[0]["h"].shape[1:]
    th, tw = h * ZOOM + GAP, w * ZOOM + GAP
    frames, labels = [], []
    n_enc = sum(1 for part, _ in by_time if part == "encoder")
    n_dec = len(by_time) - n_enc
    for (part, step), cells in by_time.items():
        frame = np.full((len(layers) * th - GAP, len(COLUMNS) * tw - GAP), BG, np.uint8)
        for r, layer in enumerate(layers):
            s = cells[layer]
            tiles = [_tile(s[g].numpy().mean(axis=0), signed=False) for g in ("i", "f", "o")]
            tiles += [_tile(s["h"][c].numpy(), signed=True) for c in picks[layer]]
            for c, tile in enumerate(tiles):
                frame[r * th:r * th + h * ZOOM, c * tw:c * tw + w * ZOOM] = tile
        frames.append(frame)
        labels.append(f"encoder step {step + 1}/{n_enc}: reading context frame {step + 1}" if part == "encoder"
                      else f"decoder step {step + 1}/{n_dec}: predicting frame +{step + 1}")
    return np.stack(frames), labels
