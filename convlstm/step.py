"""One training step, the one train.py runs and convlstm.bench times: loss, backward, clipping, optimizer."""
import torch

from .data import CONTEXT, FUTURE
from .runtime import autocast


def train_step(model, batch: torch.Tensor, optimizer, scaler, device: torch.device, precision: str,
               grad_clip: float = 1.0) -> torch.Tensor:
    """One optimizer step on a (B, T, C, H, W) float batch: CONTEXT frames in, FUTURE out; returns the future's MSE
    as a device tensor (read it back only when needed: each read waits for the GPU)."""
    with autocast(device, precision):
        pred = model(batch[:, :CONTEXT], FUTURE)  # (B, FUTURE, C, H, W)
    loss = (pred.float() - batch[:, CONTEXT : CONTEXT + FUTURE]).square().mean()  # in fp32 whatever the autocast dtype
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(optimizer)
    scaler.update()
    return loss.detach()
