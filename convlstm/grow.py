"""Warm starts: a model takes a trained model's tensors wherever its own structure contains them.

Tensors of the same shape are copied. A model that is wider (`hidden`) or has larger cell kernels
(`kernel_size`) than the trained one is grown without changing what it computes, as Net2Net's wider nets: the old
weights keep their channels and sit at the centre of the larger kernels, the new hidden channels keep their fresh
incoming weights but start with zero outgoing ones. So the grown model first predicts exactly what the trained one
did, and the new channels and kernel taps learn from there instead of the restart costing what was learnt.
A model with a spread (`ModelConfig.spread`) grown from one without starts its depthwise spreads at zero, which
the cells add to their input: again the same predictions, and the reach's new paths learn from there.
"""
import torch

from .model import ModelConfig, Seq2Seq


def _growable(old: ModelConfig, new: ModelConfig) -> bool:
    """True where every cell and head of `old` embeds into `new` (same wiring, only wider and larger kernels)."""
    same = ("channels", "layers", "patch_size")
    return (all(getattr(old, f) == getattr(new, f) for f in same)
            and old.hidden <= new.hidden and old.kernel_size <= new.kernel_size and old.spread in (0, new.spread))


def _cell_input(config: ModelConfig, part: str, layer: int) -> tuple[int, bool]:
    """A cell's input channels before its own hidden state, and whether they are another cell's hidden channels."""
    from_stem = layer == 0 and part == "encoder"  # the decoder's first cell reads the encoder's top hidden state
    return (config.patch_channels, False) if from_stem else (config.hidden, True)


def _kept(old: ModelConfig, new: ModelConfig, part: str, layer: int) -> torch.Tensor:
    """Where the trained cell's [input, own h] channels sit among the grown cell's, as the cell concatenates them."""
    cin_old, _ = _cell_input(old, part, layer)
    cin_new, _ = _cell_input(new, part, layer)
    return torch.cat([torch.arange(cin_old), cin_new + torch.arange(old.hidden)])


def _grow_cell(mine: torch.Tensor, theirs: torch.Tensor, old: ModelConfig, new: ModelConfig, part: str, layer: int) -> torch.Tensor:
    """A cell's conv weight (4H, Cin + H, K, K) or bias (4H,) holding the trained (4h, cin + h, k, k) or (4h,)."""
    h, big = old.hidden, new.hidden
    rows = torch.cat([g * big + torch.arange(h) for g in range(4)])  # gate blocks i, f, o, g keep their order
    if theirs.dim() == 1:
        out = mine.clone()
        out[rows] = theirs
        return out
    cin_new, hidden_in = _cell_input(new, part, layer)
    cols = _kept(old, new, part, layer)
    silent = [cin_new + torch.arange(h, big)] + ([torch.arange(h, big)] if hidden_in else [])
    out = mine.clone()
    out[:, torch.cat(silent)] = 0  # new hidden channels start with no effect on anything downstream
    k, pad = old.kernel_size, (new.kernel_size - old.kernel_size) // 2
    block = torch.zeros(len(rows), len(cols), new.kernel_size, new.kernel_size, dtype=mine.dtype)
    block[:, :, pad:pad + k, pad:pad + k] = theirs  # (4h, cin + h, k, k) at the centre of each larger kernel
    out[rows[:, None], cols[None, :]] = block  # (4h, cin + h) channel pairs of (4H, Cin + H, K, K)
    return out


def _grow_spread(mine: torch.Tensor, theirs: torch.Tensor, old: ModelConfig, new: ModelConfig, part: str, layer: int) -> torch.Tensor:
    """A cell's depthwise spread (Cin + H, 1, 3, 3) holding the trained (cin + h, 1, 3, 3); new channels spread nothing."""
    out = torch.zeros_like(mine)
    out[_kept(old, new, part, layer)] = theirs
    return out


def _grow_head(mine: torch.Tensor, theirs: torch.Tensor, hidden: int) -> torch.Tensor:
    """The Conv3d head's weight (out, H, 1, 3, 3) holding the trained (out, h, 1, 3, 3); new channels read as zero."""
    out = torch.zeros_like(mine)
    out[:, :hidden] = theirs
    return out


def warm_start(model: Seq2Seq, theirs: dict[str, torch.Tensor], old: ModelConfig) -> tuple[list[str], list[str], list[str]]:
    """Load `theirs` (trained with config `old`) into `model`: names (copied, grown, left fresh)."""
    mine, new = model.state_dict(), model.config
    growable = _growable(old, new)
    copied, grown, loaded = [], [], {}
    for name, t in mine.items():
        src = theirs.get(name)
        if src is None:
            if growable and old.spread == 0 and name.endswith(".spread.weight"):
                loaded[name] = torch.zeros_like(t)  # no spread yet: the cell's input passes unchanged
                grown.append(name)
            continue
        if src.shape == t.shape:
            loaded[name] = src
            copied.append(name)
            continue
        if not growable:
            continue
        part, *rest = name.split(".")
        if part in ("encoder", "decoder") and rest[1] == "conv":  # encoder.<layer>.conv.<weight|bias>
            loaded[name] = _grow_cell(t, src, old, new, part, int(rest[0]))
        elif part in ("encoder", "decoder") and rest[1] == "spread":  # encoder.<layer>.spread.weight
            loaded[name] = _grow_spread(t, src, old, new, part, int(rest[0]))
        elif name == "stem.head.weight":
            loaded[name] = _grow_head(t, src, old.hidden)
        else:
            continue
        grown.append(name)
    model.load_state_dict(loaded, strict=False)
    return copied, grown, sorted(set(mine) - set(loaded))
