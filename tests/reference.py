"""Reference computations the tests compare the package against, written out once: equal state dicts, and the
model's own forward at the precision the API picks on this machine."""
import numpy as np
import torch

from convlstm.runtime import autocast, resolve_precision


def same_tensors(a: dict, b: dict) -> bool:
    """Two state dicts (or tensor files' contents) with the same names and equal tensors."""
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def forward(model, context: np.ndarray, horizon: int) -> np.ndarray:
    """The model's own forward on float frames (N, T, 64, 64), under the autocast the API picks here ('auto')."""
    cpu = torch.device("cpu")
    x = torch.from_numpy(np.ascontiguousarray(context))[:, :, None]  # (N, T, 64, 64) -> (N, T, 1, 64, 64)
    with torch.no_grad(), autocast(cpu, resolve_precision("auto", cpu)):
        return model(x, horizon).float()[:, :, 0].numpy()  # (N, horizon, 1, 64, 64) -> (N, horizon, 64, 64)
