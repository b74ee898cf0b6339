"""ConvLSTM encoder-decoder (seq2seq) for frame prediction, after Shi et al. 2015 and the seed article.

Tensor layout everywhere: (B, T, C, H, W), pixels in [0, 1].
"""
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class ModelConfig:
    """Defaults are the shipped configuration, chosen by measurement (docs/results.md)."""

    channels: int = 1  # image channels of a frame (MovingMNIST is grey)
    hidden: int = 64  # nf: hidden channels of every ConvLSTM cell
    kernel_size: int = 3  # square kernel of the cell convolutions (odd, so padding keeps the size)
    patch_size: int = 4  # space-to-depth factor: 64x64x1 -> 16x16x16 at 4; 1 is the article's full resolution
    copy_states: bool = True  # decoder starts from the encoder's final (h, c), as in Shi et al.; False: zeros, as the article

    def __post_init__(self):
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd to keep the frame size, got {self.kernel_size}")
        if min(self.channels, self.hidden, self.kernel_size, self.patch_size) < 1:
            raise ValueError(f"every ModelConfig field must be >= 1, got {self}")

    def to_dict(self) -> dict:
        """The config as a plain dict (for JSON metadata)."""
        return asdict(self)


class ConvLSTMCell(nn.Module):
    """One ConvLSTM cell: a single convolution over [x_t, h_{t-1}] gives the four gates (no peepholes)."""

    def __init__(self, in_channels: int, hidden: int, kernel_size: int):
        super().__init__()
        self.hidden = hidden
        self.conv = nn.Conv2d(in_channels + hidden, 4 * hidden, kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, Cin, h, w), state (h, c) each (B, hidden, h, w) -> new (h, c)."""
        h, c = state
        gates = self.conv(torch.cat([x, h], dim=1))  # (B, 4*hidden, h, w)
        i, f, o, g = gates.chunk(4, dim=1)  # 4 x (B, hidden, h, w)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c

    def zero_state(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero (h, c) for an input like `like` (B, Cin, h, w)."""
        b, _, height, width = like.shape
        z = like.new_zeros(b, self.hidden, height, width)
        return z, z


class Seq2Seq(nn.Module):
    """The article's model: two encoder cells, two decoder cells fed their own top output, Conv3d head, sigmoid."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        c, nf, k, p = config.channels, config.hidden, config.kernel_size, config.patch_size
        self.encoder_1 = ConvLSTMCell(c * p * p, nf, k)
        self.encoder_2 = ConvLSTMCell(nf, nf, k)
        self.decoder_1 = ConvLSTMCell(nf, nf, k)
        self.decoder_2 = ConvLSTMCell(nf, nf, k)
        # maps each decoder output to the pixels of its frame; (1, 3, 3) mixes space but never time
        self.head = nn.Conv3d(nf, c * p * p, kernel_size=(1, 3, 3), padding=(0, 1, 1))

    def forward(self, x: torch.Tensor, horizon: int, with_context: bool = False) -> torch.Tensor:
        """x (B, T, C, H, W) in [0, 1], any T >= 1 -> predicted next `horizon` frames (B, horizon, C, H, W).

        with_context=True also returns the encoder's guess of each context frame from the ones before it,
        frames 2..T then the future: (B, T - 1 + horizon, C, H, W); training uses it as an extra loss.
        """
        b, t, c, height, width = x.shape
        p = self.config.patch_size
        if c != self.config.channels or height % p or width % p:
            raise ValueError(f"expected (B, T, {self.config.channels}, H, W) with H, W divisible by {p}, got {tuple(x.shape)}")
        if t < 1 or horizon < 1:
            raise ValueError(f"need at least one context frame and horizon >= 1, got T={t}, horizon={horizon}")
        x = F.pixel_unshuffle(x.flatten(0, 1), p)  # (B*T, C, H, W) -> (B*T, C*p*p, H/p, W/p)
        x = x.unflatten(0, (b, t))  # -> (B, T, C*p*p, H/p, W/p)

        s1 = self.encoder_1.zero_state(x[:, 0])
        s2 = self.encoder_2.zero_state(s1[0])
        outputs = []  # top hidden states, each (B, nf, H/p, W/p), that the head turns into frames
        for step in range(t):
            s1 = self.encoder_1(x[:, step], s1)
            s2 = self.encoder_2(s1[0], s2)
            if with_context and step < t - 1:  # the last one is the encoder vector, whose frame the decoder predicts
                outputs.append(s2[0])

        # the encoder vector is the decoder's first input, then its own top output
        inp = s2[0]  # encoder vector (B, nf, H/p, W/p)
        if self.config.copy_states:
            s3, s4 = s1, s2
        else:
            s3, s4 = self.decoder_1.zero_state(inp), self.decoder_2.zero_state(inp)
        for _ in range(horizon):
            s3 = self.decoder_1(inp, s3)
            s4 = self.decoder_2(s3[0], s4)
            inp = s4[0]
            outputs.append(inp)

        n = len(outputs)  # horizon, plus T - 1 with_context
        y = torch.stack(outputs, dim=2)  # (B, nf, n, H/p, W/p), Conv3d wants channels before time
        y = self.head(y)  # (B, C*p*p, n, H/p, W/p)
        y = y.transpose(1, 2).flatten(0, 1)  # (B*n, C*p*p, H/p, W/p)
        y = F.pixel_shuffle(y, p)  # (B*n, C, H, W)
        return torch.sigmoid(y.unflatten(0, (b, n)))  # (B, n, C, H, W)
