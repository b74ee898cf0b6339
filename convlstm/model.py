"""ConvLSTM encoder-decoder (seq2seq) for frame prediction, after Shi et al. 2015 and the seed article.

Tensor layout everywhere: (B, T, C, H, W), pixels in [0, 1]. `ModelConfig` is the single source of the
model's structure: the article's exact wiring is `ModelConfig.article()`, the plain wiring (the `canonical` shipped
model's) the defaults, the default shipped model's `ModelConfig(spread=3)`.
"""
import contextlib
import copy
import math
import threading
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import CANVAS, CONTEXT, FUTURE

# options removed after losing a measured comparison (docs/results.md): files that name them at these values load
REMOVED = {"stem": "patch", "skip": False, "frame_feedback": False, "context_head": False}
MEAN_PIXEL = 0.046  # mean pixel of the training frames (measured on the whole-range validation set): a fresh head's prior


@dataclass(frozen=True)
class ModelConfig:
    """Defaults are the plain wiring, chosen by measurement (docs/results.md); the default shipped model adds spread=3.

    Fields added later default to the behaviour that existed before them, so every older config keeps its meaning.
    """

    channels: int = 1  # image channels of a frame (MovingMNIST is grey)
    hidden: int = 64  # nf: hidden channels of every ConvLSTM cell
    layers: int = 2  # ConvLSTM cells on each side, encoder and decoder (the article: 2 + 2)
    kernel_size: int = 3  # square kernel of the cell convolutions (odd, so padding keeps the size)
    patch_size: int = 4  # the cells run at H/patch x W/patch; 1 is the article's full resolution
    copy_states: bool = True  # decoder starts from the encoder's final (h, c), as Shi et al.; False: zeros, as the article
    spread: int = 0  # dilation of a depthwise 3x3 mix of [x, h] before each cell's gates (0: none); adds reach, see Seq2Seq.reach

    def __post_init__(self):
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd to keep the frame size, got {self.kernel_size}")
        if min(self.channels, self.hidden, self.layers, self.kernel_size, self.patch_size) < 1:
            raise ValueError(f"channels, hidden, layers, kernel_size and patch_size must be >= 1, got {self}")
        if self.spread < 0 or self.spread > self.kernel_size:
            raise ValueError(f"spread is a dilation in 0..kernel_size (larger leaves holes in the reach), got {self.spread}")

    @property
    def grid(self) -> int:
        """Cells per side of the grid the cells run on, for a CANVAS x CANVAS frame."""
        return CANVAS // self.patch_size

    @property
    def spread_words(self) -> str:
        """The spread in words, as the model card and the app's How it works say it ('' without one)."""
        return f" (each cell's input spread by a depthwise 3x3 at dilation {self.spread})" if self.spread else ""

    @property
    def patch_channels(self) -> int:
        """Channels of a frame folded into patches (space-to-depth): what the patch stem feeds the first cell."""
        return self.channels * self.patch_size ** 2

    @classmethod
    def article(cls) -> "ModelConfig":
        """The seed article's exact wiring: 2 + 2 cells at full resolution, decoder from zeros fed its own output."""
        return cls(hidden=64, layers=2, kernel_size=3, patch_size=1, copy_states=False)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        """A config from its dict; unknown keys are an error (a file from a newer version), missing ones take defaults.

        A removed option is accepted at the value that meant "off", so older files keep loading; any other value is
        refused (this package no longer builds that model)."""
        gone = {k: v for k, v in d.items() if k in REMOVED and v != REMOVED[k]}
        if gone:
            raise ValueError(f"model config {gone} uses an option this package removed after it lost a measured "
                             "comparison (docs/results.md); load the file with an older version")
        d = {k: v for k, v in d.items() if k not in REMOVED}
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown model config fields {sorted(unknown)}; update this package to read the file")
        return cls(**d)

    def to_dict(self) -> dict:
        """The config as a plain dict (for JSON metadata)."""
        return asdict(self)


class ConvLSTMCell(nn.Module):
    """One ConvLSTM cell: a single convolution over [x_t, h_{t-1}] gives the four gates (no peepholes).

    With spread d, [x_t, h_{t-1}] first passes z + depthwise3x3_dilation_d(z): the gate convolution then sees
    (2d + k) x (2d + k) cells instead of k x k, without holes for d <= k, for 0.3 % more multiply-accumulates (the
    shipped 64-channel layout).
    """

    def __init__(self, in_channels: int, hidden: int, kernel_size: int, spread: int = 0):
        super().__init__()
        self.hidden = hidden
        z = in_channels + hidden
        self.spread = nn.Conv2d(z, z, 3, padding=spread, dilation=spread, groups=z, bias=False) if spread else None
        self.conv = nn.Conv2d(z, 4 * hidden, kernel_size, padding=kernel_size // 2)
        with torch.no_grad():  # forget gate bias +1 (PredRNN; Jozefowicz et al. 2015): a fresh cell keeps its memory
            self.conv.bias[hidden : 2 * hidden] += 1.0
        self.tap = nn.Identity()  # sees the gates and new state every step; Seq2Seq.trace hooks it

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, Cin, h, w), state (h, c) each (B, hidden, h, w) -> new (h, c)."""
        h, c = state
        z = torch.cat([x, h], dim=1)  # (B, Cin + hidden, h, w)
        if self.spread is not None:
            z = z + self.spread(z)  # residual, so a zero spread (a grown model) computes what the plain cell did
        gates = self.conv(z)  # (B, 4*hidden, h, w)
        i, f, o, g = gates.chunk(4, dim=1)  # 4 x (B, hidden, h, w)
        i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)
        c = f * c + i * torch.tanh(g)
        h = o * torch.tanh(c)
        self.tap({"i": i, "f": f, "o": o, "h": h})
        return h, c

    def zero_state(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero (h, c) for an input like `like` (B, Cin, h, w)."""
        b, _, height, width = like.shape
        z = like.new_zeros(b, self.hidden, height, width)
        return z, z


class PatchStem(nn.Module):
    """Frames <-> cell grid by space-to-depth: (C, H, W) <-> (C*p*p, H/p, W/p); the head is the article's Conv3d."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.p = config.patch_size
        # maps each cell output to the pixels of its frame; (1, 3, 3) mixes space but never time
        self.head = nn.Conv3d(config.hidden, config.patch_channels, kernel_size=(1, 3, 3), padding=(0, 1, 1))

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, C*p*p, H/p, W/p)."""
        return F.pixel_unshuffle(frames, self.p)

    def decode(self, y: torch.Tensor) -> torch.Tensor:
        """Top hidden states (B, nf, n, h, w) -> frame logits (B, n, C, H, W)."""
        b, _, n = y.shape[:3]
        y = self.head(y)  # (B, C*p*p, n, h, w)
        y = y.transpose(1, 2).flatten(0, 1)  # (B*n, C*p*p, h, w)
        return F.pixel_shuffle(y, self.p).unflatten(0, (b, n))  # (B*n, C, H, W) -> (B, n, C, H, W)


class Seq2Seq(nn.Module):
    """Encoder cells read the context; decoder cells roll out the future; a Conv3d head makes frames (sigmoid)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        nf, k = config.hidden, config.kernel_size
        self.stem = PatchStem(config)
        cin = config.patch_channels
        d = config.spread
        self.encoder = nn.ModuleList(ConvLSTMCell(cin if n == 0 else nf, nf, k, d) for n in range(config.layers))
        self.decoder = nn.ModuleList(ConvLSTMCell(nf, nf, k, d) for _ in range(config.layers))  # fed the top hidden state
        # a fresh model starts at the mean frame, not at sigmoid(0) = 0.5 grey everywhere
        nn.init.constant_(self.stem.head.bias, math.log(MEAN_PIXEL / (1 - MEAN_PIXEL)))

    def forward(self, x: torch.Tensor, horizon: int) -> torch.Tensor:
        """x (B, T, C, H, W) in [0, 1], any T >= 1 -> the next `horizon` frames (B, horizon, C, H, W)."""
        b, t, c, height, width = x.shape
        cfg = self.config
        if c != cfg.channels or height % cfg.patch_size or width % cfg.patch_size:
            raise ValueError(f"expected (B, T, {cfg.channels}, H, W) with H, W divisible by {cfg.patch_size}, got {tuple(x.shape)}")
        if t < 1 or horizon < 1:
            raise ValueError(f"need at least one context frame and horizon >= 1, got T={t}, horizon={horizon}")
        feats = self.stem.encode(x.flatten(0, 1)).unflatten(0, (b, t))  # (B*T, C, H, W) -> (B*T, cin, h, w) -> (B, T, cin, h, w)

        enc = [cell.zero_state(feats[:, 0]) for cell in self.encoder]
        for step in range(t):
            enc = self._climb(self.encoder, feats[:, step], enc)

        dec = enc if cfg.copy_states else [cell.zero_state(enc[-1][0]) for cell in self.decoder]
        inp, tops = enc[-1][0], []  # the encoder vector, then the decoder's own top output (the article)
        for _ in range(horizon):
            dec = self._climb(self.decoder, inp, dec)
            inp = dec[-1][0]
            tops.append(inp)
        return torch.sigmoid(self.stem.decode(torch.stack(tops, dim=2)))  # (B, nf, horizon, h, w) -> (B, horizon, C, H, W)

    @staticmethod
    def _climb(cells: nn.ModuleList, x: torch.Tensor, states: list) -> list:
        """One time step up a stack of cells: each cell's new h is the next one's input."""
        new = []
        for cell, state in zip(cells, states):
            state = cell(x, state)
            x = state[0]
            new.append(state)
        return new

    def reach(self, steps: int = 3, canvas: int = 0, seed: int = 0) -> dict:
        """How fast information moves through the model, in pixels per step, measured with autograd.

        On a canvas large enough that no border is met (the model is fully convolutional), the gradient of the
        centre pixel of predicted frame +s is taken with respect to every context pixel; a pixel influences it
        where that gradient is not exactly zero (float64, so no influence underflows). "decoder": the radius of
        influence of the last context frame on frames +1..+steps; "encoder": that of context frames -0..-(steps-1)
        on frame +1. The "*_px_per_step" figures are their mean growth per step: the fastest motion the wiring can
        follow while it predicts, and while it reads the context. canvas 0 starts from a side the cells' kernels
        suggest and doubles it until no influence reaches the border.
        """
        cfg = self.config
        side = canvas or 2 * cfg.patch_size * ((cfg.kernel_size // 2 + cfg.spread) * cfg.layers * (steps + 1) + 8)
        while True:
            try:
                return self._reach(steps, side, seed)
            except ValueError:
                if canvas:
                    raise
                side *= 2

    def _reach(self, steps: int, canvas: int, seed: int) -> dict:
        t, p = max(steps, 2), self.config.patch_size
        canvas = -(-canvas // (2 * p)) * 2 * p  # divisible by the patch, centre on a cell corner
        model = copy.deepcopy(self).double().eval()
        gen = torch.Generator().manual_seed(seed)
        x = torch.rand(1, t, self.config.channels, canvas, canvas, generator=gen, dtype=torch.float64, requires_grad=True)
        pred = model(x, steps)  # (1, steps, C, canvas, canvas)
        centre = canvas // 2
        ys, xs = torch.meshgrid(torch.arange(canvas), torch.arange(canvas), indexing="ij")
        dist = torch.maximum((ys - centre).abs(), (xs - centre).abs())  # (canvas, canvas) Chebyshev distance in px

        def radius(grad: torch.Tensor) -> int:  # grad (C, canvas, canvas)
            touched = grad.abs().sum(0) > 0
            r = int(dist[touched].max()) if touched.any() else 0
            if r >= centre - p:
                raise ValueError(f"influence reaches the border of a {canvas}-px canvas; measure with a larger canvas")
            return r

        decoder, encoder = [], []
        for s in range(steps):
            (grad,) = torch.autograd.grad(pred[0, s, :, centre, centre].sum(), x, retain_graph=s + 1 < steps)
            decoder.append(radius(grad[0, -1]))  # last context frame -> frame +(s + 1)
            if s == 0:
                encoder = [radius(grad[0, t - 1 - k]) for k in range(steps)]  # context frame -k -> frame +1
        rate = lambda r: (r[-1] - r[0]) / (len(r) - 1)  # noqa: E731
        return {"decoder_px_per_step": rate(decoder), "encoder_px_per_step": rate(encoder),
                "decoder_radii": decoder, "encoder_radii": encoder, "canvas": canvas}

    def save_pretrained(self, folder, provenance: dict | None = None):
        """Write this model in the Hugging Face layout: config.json, model.safetensors, README.md (convlstm.hub)."""
        from .hub import save_pretrained  # convlstm.hub imports this module, so it is imported on use

        return save_pretrained(self, folder, provenance)

    @classmethod
    def from_pretrained(cls, name, device: str = "cpu", revision: str | None = None) -> "Seq2Seq":
        """A model from a shipped model's name, a folder in the Hugging Face layout, or a Hub repo id (convlstm.hub)."""
        from .hub import from_pretrained

        return from_pretrained(name, device, revision)

    def push_to_hub(self, repo_id: str, private: bool = False, token: str | None = None) -> str:
        """Upload this model in the Hugging Face layout to a Hub model repo (convlstm.hub)."""
        from .hub import push_to_hub

        return push_to_hub(self, repo_id, private, token)

    def num_parameters(self) -> int:
        """Trainable parameters."""
        return sum(p.numel() for p in self.parameters())

    @torch.no_grad()
    def macs_per_sequence(self, context: int = CONTEXT, horizon: int = FUTURE, side: int = CANVAS) -> int:
        """Multiply-accumulates of one context -> horizon prediction, counted on the real forward (convolutions only)."""
        total = 0

        def count(module, args, out):
            nonlocal total
            taps = math.prod(module.kernel_size)  # batch is 1, so numel() counts one sequence
            total += out.numel() * module.in_channels // module.groups * taps  # one channel a tap for a depthwise conv

        convs = [m for m in self.modules() if isinstance(m, (nn.Conv2d, nn.Conv3d))]
        handles = [m.register_forward_hook(count) for m in convs]
        try:
            p = next(self.parameters())
            self(torch.zeros(1, context, self.config.channels, side, side, device=p.device, dtype=p.dtype), horizon)
        finally:
            for h in handles:
                h.remove()
        return total

    @contextlib.contextmanager
    def trace(self):
        """Record every cell step of the next forward passes on this thread: yields a list that fills, in execution
        order, with {"part", "layer" (1-based), "step" (0-based within the part), "i", "f", "o", "h"}, tensors
        (hidden, h, w) of batch element 0 as float32 on the CPU. Forwards on other threads (other requests sharing
        the model) are not recorded, so several traces may run at once."""
        steps, counters, handles, owner = [], {}, [], threading.get_ident()
        for part, cells in (("encoder", self.encoder), ("decoder", self.decoder)):
            for n, cell in enumerate(cells, 1):
                def hook(module, args, out, part=part, layer=n):
                    if threading.get_ident() != owner:
                        return
                    step = counters.get((part, layer), 0)
                    counters[(part, layer)] = step + 1
                    steps.append({"part": part, "layer": layer, "step": step,
                                  **{k: v[0].detach().float().cpu() for k, v in out.items()}})
                handles.append(cell.tap.register_forward_hook(hook))
        try:
            yield steps
        finally:
            for h in handles:
                h.remove()
