"""Frame-prediction metrics in the literature's convention (OpenSTL, PredRNN).

Inputs are arrays (N, T, H, W) or (N, T, C, H, W) with pixels in [0, 1]. MSE and MAE are summed over the
pixels of a frame and averaged over frames and sequences, so they match published tables.
"""
import numpy as np
from skimage.metrics import structural_similarity

# OpenSTL's published SSIM came from scikit-image <= 0.19 on float images, whose default data_range was 2
OPENSTL_SSIM_RANGE = 2.0


def _frames(a) -> np.ndarray:
    """Any (N, T, H, W) or (N, T, C, H, W) array as float64 (N, T, C, H, W)."""
    a = np.asarray(a, dtype=np.float64)
    return a[:, :, None] if a.ndim == 4 else a


def mse_per_step(pred, true) -> np.ndarray:
    """Per-frame MSE (squared error summed over a frame's pixels) for each horizon step, averaged over N: (T,)."""
    err = (_frames(pred) - _frames(true)) ** 2
    return err.sum(axis=(2, 3, 4)).mean(axis=0)


def mae_per_step(pred, true) -> np.ndarray:
    """Per-frame MAE (absolute error summed over a frame's pixels) for each horizon step: (T,)."""
    err = np.abs(_frames(pred) - _frames(true))
    return err.sum(axis=(2, 3, 4)).mean(axis=0)


def psnr_per_step(pred, true) -> np.ndarray:
    """PSNR in dB per frame, -10 log10(per-pixel MSE), averaged over N for each step: (T,)."""
    mse = ((_frames(pred) - _frames(true)) ** 2).mean(axis=(2, 3, 4))
    return (-10.0 * np.log10(np.maximum(mse, 1e-10))).mean(axis=0)


def ssim_per_step(pred, true, data_range: float = 1.0) -> np.ndarray:
    """SSIM (scikit-image) per (sequence, frame), averaged over N for each step: (T,).

    data_range=1 is correct for [0, 1] pixels; OPENSTL_SSIM_RANGE reproduces OpenSTL's inflated numbers.
    """
    p, t = _frames(pred), _frames(true)
    n, steps, c = p.shape[:3]
    out = np.zeros(steps)
    for i in range(n):
        for s in range(steps):
            out[s] += structural_similarity(p[i, s], t[i, s], data_range=data_range, channel_axis=0)
    return out / n


def all_per_step(pred, true, openstl: bool = True) -> dict[str, np.ndarray]:
    """Every metric per horizon step: mse, mae, psnr, ssim (range 1) and, if asked, ssim_openstl (range 2)."""
    out = {
        "mse": mse_per_step(pred, true),
        "mae": mae_per_step(pred, true),
        "psnr": psnr_per_step(pred, true),
        "ssim": ssim_per_step(pred, true),
    }
    if openstl:  # doubles the SSIM time, so callers that do not compare with OpenSTL skip it
        out["ssim_openstl"] = ssim_per_step(pred, true, OPENSTL_SSIM_RANGE)
    return out


def cell_name(digits: int, speed: float) -> str:
    """A grid cell in words: '1 digit, speed 0.3'."""
    return f"{digits} digit{'s' * (digits > 1)}, speed {speed:g}"


def grid_headline(grid: dict) -> dict | None:
    """The whole-range headline of a stored generalisation grid (convlstm.evaluate): the mean and the worst MSE / zeros
    ratio of its digit cells, where the worst lies, and the worst of its shapes row; None without a grid."""
    cells = grid.get("cells") or []
    if not cells:
        return None
    worst = max(cells, key=lambda c: c["ratio"])
    shapes = grid.get("shapes") or []
    return {"mean": float(np.mean([c["ratio"] for c in cells])), "worst": worst["ratio"], "worst_digits": worst["digits"],
            "worst_speed": worst["speed"], "shapes_worst": max((c["ratio"] for c in shapes), default=None)}
