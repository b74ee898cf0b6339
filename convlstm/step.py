"""One training step, the one train.py runs and convlstm.bench times: loss, backward, clipping, optimizer."""
import torch

from .data import CONTEXT, FUTURE
from .runtime import autocast


def train_step(model, batch: torch.Tensor, optimizer, scaler, device: torch.device, precision: str, grad_clip: float = 1.0,
               context_loss: float = 0.0, mask: torch.Tensor | None = None) -> torch.Tensor:
    """One optimizer step on a (B, T, C, H, W) float batch: CONTEXT frames in, FUTURE out; returns the future's MSE
    as a device tensor (read it back only when needed: each read waits for the GPU).

    `context_loss` weighs the context head's guesses (a model with context_head); `mask` (B, FUTURE - 1) picks the
    true frame as the next decoder input (frame feedback's scheduled sampling; None: never)."""
    context = context_loss > 0
    with autocast(device, precision):
        pred = model(batch[:, :CONTEXT], FUTURE, teacher=batch[:, CONTEXT:] if mask is not None else None,
                     teacher_mask=mask, with_context=context)  # (B, [CONTEXT-1 +] FUTURE, C, H, W)
    target = batch[:, CONTEXT - pred.shape[1] + FUTURE : CONTEXT + FUTURE]  # frames 2..20 or 11..20, as pred
    errors = (pred.float() - target).square()  # in fp32 whatever the autocast dtype
    loss = future = errors[:, -FUTURE:].mean()
    if context:
        loss = future + context_loss * errors[:, :-FUTURE].mean()
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(optimizer)
    scaler.update()
    return future.detach()
